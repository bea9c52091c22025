// tests/server-clients.mjs - the official client libraries (npm "openai" and "@anthropic-ai/sdk",
// pinned in tests/package.json) against two gds-server instances (tests/test-server.sh starts them):
//   node tests/server-clients.mjs TOOL_PORT TEXT_PORT
// TOOL_PORT answers every request with a scripted thinking + tool-call completion
// ("I should look it up.</think>Let me check." and get_weather(city: Paris, days: 3)),
// TEXT_PORT with the plain text "Paris is sunny. The end. Bye." (GDS_SERVER_SCRIPT).
// Prints "ok ..." / "FAIL ..." per check, then "clients: N passed, M failed".
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const [toolPort, textPort] = process.argv.slice(2);
let passed = 0, failed = 0;
const check = (name, cond, detail) => {
  if (cond) { passed++; console.log("ok   " + name); } else { failed++; console.log("FAIL " + name + (detail ? " (" + detail + ")" : "")); }
};
const attempt = async (name, fn) => { try { await fn(); } catch (e) { check(name, false, String(e && e.message || e)); } };

const oa = port => new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "unused", maxRetries: 0, timeout: 60000 });
const an = port => new Anthropic({ baseURL: `http://127.0.0.1:${port}`, apiKey: "unused", maxRetries: 0, timeout: 60000 });
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
                 parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } } } }];
const atools = [{ name: "get_weather", description: "Weather of a city",
                  input_schema: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } } }];
const user = { role: "user", content: "What is the weather in Paris?" };

// ---- OpenAI ------------------------------------------------------------------------------
let first = null;
await attempt("openai: chat.completions.create with tools, thinking on", async () => {
  const r = await oa(toolPort).chat.completions.create({ model: "m.gguf", messages: [user], tools, thinking_mode: "thinking" });
  const m = r.choices[0].message, c = m.tool_calls && m.tool_calls[0];
  first = r;
  check("openai: chat.completions.create with tools, thinking on: finish tool_calls, get_weather({city: Paris, days: 3}), reasoning apart, no DSML",
        r.choices[0].finish_reason === "tool_calls" && c && c.function.name === "get_weather" &&
        JSON.stringify(JSON.parse(c.function.arguments)) === '{"city":"Paris","days":3}' && m.reasoning_content === "I should look it up." &&
        m.content === "Let me check." && !/DSML/.test(JSON.stringify(r)), JSON.stringify(m));
});
await attempt("openai: streamed tool call", async () => {
  const s = await oa(toolPort).chat.completions.create({ model: "m.gguf", messages: [user], tools, thinking_mode: "thinking", stream: true });
  let content = "", reasoning = "", calls = [], finish = null;
  for await (const ch of s) {
    const d = ch.choices[0] && ch.choices[0].delta;
    if (!d) continue;
    content += d.content || "";
    reasoning += d.reasoning_content || "";
    if (d.tool_calls) calls.push(...d.tool_calls);
    if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
  }
  check("openai: streamed tool call: content and reasoning deltas add up, one tool_calls delta, finish tool_calls",
        content === "Let me check." && reasoning === "I should look it up." && calls.length === 1 && calls[0].function.name === "get_weather" &&
        finish === "tool_calls", JSON.stringify({ content, reasoning, calls, finish }));
});
await attempt("openai: tool call round trip", async () => {
  const m = first.choices[0].message;
  const r = await oa(toolPort).chat.completions.create({ model: "m.gguf", tools, thinking_mode: "thinking",
    messages: [user, { role: "assistant", content: m.content, reasoning_content: m.reasoning_content, tool_calls: m.tool_calls },
               { role: "tool", tool_call_id: m.tool_calls[0].id, content: "sunny, 21 C" }] });
  const cached = r.usage.prompt_tokens_details.cached_tokens;
  /* the call continues turn 1 (its reasoning kept), so turn 1's prompt and its evaluated answer are reused */
  check(`openai: tool call round trip (the tool's answer sent back) reuses turn 1's prompt and answer (${cached} cached: ${first.usage.prompt_tokens} + ${first.usage.completion_tokens} - 1)`,
        r.choices[0].finish_reason === "tool_calls" && cached === first.usage.prompt_tokens + first.usage.completion_tokens - 1 &&
        r.usage.prompt_tokens > cached, JSON.stringify(r.usage));
});
await attempt("openai: thinking off, stop", async () => {
  const r = await oa(textPort).chat.completions.create({ model: "m.gguf", messages: [{ role: "user", content: "Weather?" }], stop: ["The end"] });
  check("openai: thinking off, stop ['The end']: content cut before it, finish stop, no reasoning",
        r.choices[0].message.content === "Paris is sunny. " && r.choices[0].finish_reason === "stop" && !r.choices[0].message.reasoning_content,
        JSON.stringify(r.choices[0]));
  let text = "";
  const s = await oa(textPort).chat.completions.create({ model: "m.gguf", messages: [{ role: "user", content: "Weather?" }], stop: "Bye", stream: true,
                                                         stream_options: { include_usage: true } });
  let usage = null;
  for await (const ch of s) { if (ch.usage) usage = ch.usage; text += (ch.choices[0] && ch.choices[0].delta.content) || ""; }
  check("openai: streamed, stop 'Bye': the deltas add up to the cut text; usage chunk", text === "Paris is sunny. The end. " && usage && usage.completion_tokens > 0,
        JSON.stringify(text));
});
await attempt("openai: models.list", async () => {
  const l = await oa(textPort).models.list();
  check("openai: models.list gives m.gguf", l.data.length === 1 && l.data[0].id === "m.gguf");
});
await attempt("openai: completions.create", async () => {
  const r = await oa(textPort).completions.create({ model: "m.gguf", prompt: "Once upon a time", max_tokens: 4 });
  check("openai: completions.create: text_completion, 4 tokens", r.object === "text_completion" && r.usage.completion_tokens === 4);
});
await attempt("openai: an unknown model is a NotFoundError", async () => {
  try {
    await oa(textPort).chat.completions.create({ model: "gpt-9", messages: [user] });
    check("openai: an unknown model is a NotFoundError (404)", false, "no error");
  } catch (e) { check("openai: an unknown model is a NotFoundError (404)", e.status === 404, e.message); }
});

// ---- Anthropic ------------------------------------------------------------------------------
let afirst = null;
await attempt("anthropic: messages.create with tools, thinking on", async () => {
  const r = await an(toolPort).messages.create({ model: "m.gguf", max_tokens: 500, tools: atools, thinking: { type: "enabled", budget_tokens: 256 },
                                                  messages: [{ role: "user", content: "What is the weather in Paris?" }] });
  afirst = r;
  const t = r.content.find(b => b.type === "tool_use");
  check("anthropic: messages.create with tools, thinking on: thinking, text and tool_use blocks, stop_reason tool_use",
        r.content.map(b => b.type).join() === "thinking,text,tool_use" && r.content[0].thinking === "I should look it up." &&
        r.content[1].text === "Let me check." && t.name === "get_weather" && t.input.city === "Paris" && t.input.days === 3 && r.stop_reason === "tool_use",
        JSON.stringify(r));
});
await attempt("anthropic: messages.stream", async () => {
  const s = an(toolPort).messages.stream({ model: "m.gguf", max_tokens: 500, tools: atools, thinking: { type: "enabled", budget_tokens: 256 },
                                           messages: [{ role: "user", content: "What is the weather in Paris?" }] });
  let text = "";
  s.on("text", t => { text += t; });
  const m = await s.finalMessage();
  const t = m.content.find(b => b.type === "tool_use");
  check("anthropic: messages.stream: the SDK assembles the same blocks (text events add up, tool_use input parsed), stop_reason tool_use",
        text === "Let me check." && m.content.map(b => b.type).join() === "thinking,text,tool_use" && m.content[0].thinking === "I should look it up." &&
        t && t.input.city === "Paris" && m.stop_reason === "tool_use", JSON.stringify(m));
});
await attempt("anthropic: tool_result round trip", async () => {
  const t = afirst.content.find(b => b.type === "tool_use");
  const r = await an(toolPort).messages.create({ model: "m.gguf", max_tokens: 500, tools: atools, thinking: { type: "enabled", budget_tokens: 256 },
    messages: [{ role: "user", content: "What is the weather in Paris?" }, { role: "assistant", content: afirst.content },
               { role: "user", content: [{ type: "tool_result", tool_use_id: t.id, content: "sunny, 21 C" }] }] });
  check(`anthropic: tool_result round trip reuses turn 1's prompt and answer (${r.usage.cache_read_input_tokens} cached: ${afirst.usage.input_tokens} + ${afirst.usage.output_tokens} - 1)`,
        r.stop_reason === "tool_use" && r.usage.cache_read_input_tokens === afirst.usage.input_tokens + afirst.usage.output_tokens - 1, JSON.stringify(r.usage));
});
await attempt("anthropic: thinking off, stop_sequences", async () => {
  const r = await an(textPort).messages.create({ model: "m.gguf", max_tokens: 100, stop_sequences: ["The end"], messages: [{ role: "user", content: "Weather?" }] });
  check("anthropic: thinking off, stop_sequences: one text block cut before it, stop_reason stop_sequence",
        r.content.length === 1 && r.content[0].type === "text" && r.content[0].text === "Paris is sunny. " && r.stop_reason === "stop_sequence" &&
        r.stop_sequence === "The end", JSON.stringify(r));
});
await attempt("anthropic: max_tokens", async () => {
  const r = await an(textPort).messages.create({ model: "m.gguf", max_tokens: 3, messages: [{ role: "user", content: "Weather?" }] });
  check("anthropic: max_tokens 3: stop_reason max_tokens, 3 output tokens", r.stop_reason === "max_tokens" && r.usage.output_tokens === 3, JSON.stringify(r));
});
await attempt("anthropic: bad request", async () => {
  try {
    await an(textPort).messages.create({ model: "m.gguf", max_tokens: 0, messages: [{ role: "user", content: "x" }] });
    check("anthropic: max_tokens 0 is a BadRequestError (400)", false, "no error");
  } catch (e) { check("anthropic: max_tokens 0 is a BadRequestError (400)", e.status === 400 && e.error && e.error.type === "error", e.message); }
});
console.log(`clients: ${passed} passed, ${failed} failed`);
