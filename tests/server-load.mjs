// tests/server-load.mjs - load and faults on a gds-server (tests/test-server.sh starts it with
// --parallel 4, loopback only; bounded in count and time):
//   node tests/server-load.mjs PORT
// 4 greedy answers alone and at once (batched decode: the same texts, batches of more than one
// step); 16 clients x 20 requests (chat, alternately streamed), every response complete; then 50
// clients that drop their stream after the first chunk; then the server still answers and its
// slots are all free again. Prints "ok ..." / "FAIL ..." and "load: N passed, M failed".
const port = process.argv[2], base = `http://127.0.0.1:${port}`;
let passed = 0, failed = 0;
const check = (name, cond, detail) => {
  if (cond) { passed++; console.log("ok   " + name); } else { failed++; console.log("FAIL " + name + (detail ? " (" + detail + ")" : "")); }
};
const post = (body, signal) => fetch(base + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
                                                                       body: JSON.stringify(body), signal });

async function one(client, i) {
  const stream = (client + i) % 2 === 1;
  const body = { messages: [{ role: "user", content: `client ${client} request ${i}: say something` }], max_tokens: 8, seed: client * 100 + i, stream };
  const r = await post(body);
  const text = await r.text();
  if (r.status !== 200) return `status ${r.status}: ${text.slice(0, 200)}`;
  if (stream) {
    if (!text.endsWith("data: [DONE]\n\n")) return "stream without [DONE]";
    const chunks = text.split("\n\n").filter(x => x.startsWith("data: {")).map(x => JSON.parse(x.slice(6)));
    if (!chunks.length || chunks[0].choices[0].delta.role !== "assistant") return "stream without the role chunk";
    if (!chunks.some(c => c.choices[0] && c.choices[0].finish_reason)) return "stream without finish_reason";
    return null;
  }
  const o = JSON.parse(text);
  if (!o.choices || o.choices[0].message.role !== "assistant" || !o.usage || o.usage.completion_tokens < 1) return "incomplete: " + text.slice(0, 200);
  return null;
}

// batched decode: 4 greedy answers alone, then the 4 at once (their decode steps share graphs):
// the same texts, and the steps went through batches of more than one
const metric = async name => Number(((await (await fetch(base + "/metrics")).text()).match(new RegExp("^gds_" + name + " (\\S+)$", "m")) || [])[1]);
const greedy = k => ({ messages: [{ role: "user", content: `batch ${k}: ` + "tell me more ".repeat(k + 1) }], max_tokens: 40, temperature: 0 });
const answer = async k => { const r = await post(greedy(k)); const o = await r.json(); return o.choices ? o.choices[0].message.content + "|" + o.usage.completion_tokens : "status " + r.status; };
const alone = [];
for (let k = 0; k < 4; k++) alone.push(await answer(k));
const b0 = await metric("decode_batches_total"), s0 = await metric("decode_steps_total");
const together = await Promise.all([0, 1, 2, 3].map(answer));
const b1 = await metric("decode_batches_total"), s1 = await metric("decode_steps_total");
const mean = (s1 - s0) / (b1 - b0);
check(`4 greedy answers at once equal the same answers alone (${alone.map(a => a.split("|")[1]).join(", ")} tokens)`,
      alone.every((a, k) => a === together[k]) && alone.every(a => !a.startsWith("status")), JSON.stringify({ alone, together }).slice(0, 400));
check(`their decode steps ran batched: ${s1 - s0} steps in ${b1 - b0} calls, ${mean.toFixed(2)} per call (> 1.5)`, mean > 1.5);

const t0 = Date.now();
const errors = [];
await Promise.all(Array.from({ length: 16 }, async (_, client) => {
  for (let i = 0; i < 20; i++) {
    try { const e = await one(client, i); if (e) errors.push(`client ${client} #${i}: ${e}`); } catch (e) { errors.push(`client ${client} #${i}: ${e.message}`); }
  }
}));
check(`16 clients x 20 requests (--parallel 4): every response complete (${((Date.now() - t0) / 1000).toFixed(1)} s)`, errors.length === 0, errors.slice(0, 3).join("; "));

// 50 clients that go away mid-stream
const dropped = await Promise.all(Array.from({ length: 50 }, async (_, k) => {
  const ac = new AbortController();
  try {
    const r = await post({ messages: [{ role: "user", content: `dropper ${k}` }], max_tokens: 2000, stream: true }, ac.signal);
    const reader = r.body.getReader();
    await reader.read();
    ac.abort();
    return true;
  } catch (e) { return e.name === "AbortError"; }
}));
check("50 clients dropping their stream after the first chunk", dropped.every(x => x));

// the server recovers: slots freed, a request answered
let free = false;
for (let t = 0; t < 200 && !free; t++) {
  const m = await (await fetch(base + "/metrics")).text();
  free = /^gds_slots_busy 0$/m.test(m) && /^gds_requests_waiting 0$/m.test(m);
  if (!free) await new Promise(r => setTimeout(r, 100));
}
check("after the drops: all slots free and nothing waiting (/metrics)", free);
const e = await one(99, 0).catch(x => x.message);
check("after the drops: a new request is answered completely", e === null, e);
console.log(`load: ${passed} passed, ${failed} failed`);
