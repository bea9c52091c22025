#!/bin/sh
# tests/test-server.sh - gds-server over HTTP (curl) on a synthetic tiny model; run from the repo root.
#
#   sh tests/test-server.sh            (BUILD=dir for another build folder)
#
# Starts build/bin/gds-server on a free port (--port 0) and checks: /health,
# /v1/models, chat completions (non-stream and SSE: shape, usage, the streamed
# deltas adding up to the non-stream message), tool calls and thinking parsed
# out of a scripted answer (GDS_SERVER_SCRIPT: the answer's tokens are given,
# still evaluated by the model) and never sent as DSML text, stop strings (also
# across streamed pieces), /v1/completions with prefix reuse (cached_tokens),
# the Anthropic Messages API (blocks, events, tool_use / tool_result, errors),
# the disk KV cache (restore after a restart with identical answers, corrupted
# and foreign entries ignored, the size cap),
# the error objects and status codes (400, 401, 404, 405, 413, 429), a client
# that disconnects mid-stream (its slot is freed), and SIGTERM (clean exit).
# The official client libraries (npm openai and @anthropic-ai/sdk, pinned in
# tests/package.json) drive two scripted servers (tests/server-clients.mjs);
# 16 clients x 20 requests on --parallel 4 and 50 clients dropping their
# streams (tests/server-load.mjs), also under the ASan build; the chat page in
# headless Chromium with playwright-core (tests/server-browser.mjs), its
# screenshot kept as $BUILD/test-server-chat.png.
# JSON is checked with node (as the other tests do). The closing line is
# "test-server: N passed, M failed".
BUILD=${BUILD:-build}
SRV=$BUILD/bin/gds-server
fail0() { echo "test-server: $1"; echo "test-server: 0 passed, 1 failed"; exit 1; }
[ -x "$SRV" ] && [ -x "$BUILD/bin/gds-convert" ] || fail0 "$SRV or gds-convert not built"
command -v curl >/dev/null 2>&1 || fail0 "curl not installed (tools/deps.sh)"
command -v node >/dev/null 2>&1 || fail0 "node not installed (tools/deps.sh)"
W=$(mktemp -d "${TMPDIR:-/tmp}/test-server.XXXXXX") || fail0 "mktemp failed"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    if [ -n "${TEST_SERVER_KEEP:-}" ]; then echo "test-server: files kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

"$BUILD/bin/gds-convert" --synthetic tiny-a:tokenizer=bytes -o "$W/m.gguf" >"$W/convert.log" 2>&1 || fail0 "gds-convert --synthetic failed"

# start NAME [env ...] -- [server options]: starts a server, sets PORT and PID (fails the test on no start)
start() {
    name=$1; shift
    log="$W/$name.log"
    : >"$log"
    env "$@" >"$log" 2>&1 &
    PID=$!
    PIDS="$PIDS $PID"
    i=0
    PORT=""
    while [ $i -lt 100 ]; do
        PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
        [ -n "$PORT" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$PORT" ]
}
# post PATH BODY [curl options]: body to $W/out, status in $W/code
post() {
    p=$1; b=$2; shift 2
    curl -s -o "$W/out" -w "%{http_code}" -H "Content-Type: application/json" --data-binary "$b" "$@" "http://127.0.0.1:$PORT$p" >"$W/code"
}
code() { cat "$W/code"; }
# part NAME FILE SCRIPT: shows a node script's output and adds its closing "NAME: N passed, M failed" to the counts
part() {
    cat "$2"
    np=$(sed -n "s/^$1: \([0-9]*\) passed, \([0-9]*\) failed\$/\1/p" "$2")
    nf=$(sed -n "s/^$1: \([0-9]*\) passed, \([0-9]*\) failed\$/\2/p" "$2")
    if [ -n "$np" ]; then passed=$((passed + np)); failed=$((failed + nf)); else bad "$3 did not finish"; fi
}
# js EXPR: evaluates EXPR (JavaScript, o = the parsed JSON of $W/out; s = the raw text) and prints its value
js() { node -e 'const fs = require("fs"); const s = fs.readFileSync(process.argv[1], "utf8"); let o = null; try { o = JSON.parse(s); } catch (e) {}
                const f = new Function("o", "s", "return (" + process.argv[2] + ");"); let v; try { v = f(o, s); } catch (e) { v = "error: " + e.message; }
                console.log(typeof v === "string" ? v : JSON.stringify(v));' "$W/out" "$1"; }
# the SSE stream of $W/out: the data lines' JSON objects, then the final [DONE]
SSE='s.split("\n\n").filter(x => x.startsWith("data: ")).map(x => x.slice(6))'

# ---- a plain server -------------------------------------------------------------
if start plain "$SRV" -m "$W/m.gguf" --port 0 -c 1024 --max-body 65536; then
    ok "gds-server starts on a free port ($PORT)"
    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/health" >"$W/code"
    check "GET /health: 200 {status: ok}" '[ "$(code)" = 200 ] && [ "$(js o.status)" = ok ]'
    curl -s -o "$W/page.html" -w "%{http_code}" -D "$W/page.hdr" "http://127.0.0.1:$PORT/" >"$W/code"
    check "GET /: the chat page (text/html, the file examples/gds-server.html byte for byte, its script compiles, no external resources)" \
        '[ "$(code)" = 200 ] && grep -qi "^content-type: text/html" "$W/page.hdr" && cmp -s "$W/page.html" examples/gds-server.html && ! grep -qiE "(src|href)=\"(https?:)?//" "$W/page.html" && node -e "const s = require(\"fs\").readFileSync(process.argv[1], \"utf8\"); new Function(s.split(\"<script>\")[1].split(\"</script>\")[0]);" "$W/page.html"'
    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/v1/models" >"$W/code"
    check "GET /v1/models: one model, id m.gguf" '[ "$(code)" = 200 ] && [ "$(js "o.object + \" \" + o.data.length + \" \" + o.data[0].id")" = "list 1 m.gguf" ]'

    CHAT='{"model":"m.gguf","messages":[{"role":"user","content":"Hello"}],"max_tokens":12,"seed":7,"temperature":0.8}'
    post /v1/chat/completions "$CHAT"
    check "chat completion: 200, chat.completion, assistant message, finish length, usage 12 completion tokens" \
        '[ "$(code)" = 200 ] && [ "$(js "[o.object, o.choices[0].message.role, o.choices[0].finish_reason, o.usage.completion_tokens, o.usage.total_tokens === o.usage.prompt_tokens + 12, typeof o.choices[0].message.content].join()")" = "chat.completion,assistant,length,12,true,string" ]'
    cp "$W/out" "$W/nonstream.json"
    post /v1/chat/completions "$(echo "$CHAT" | sed 's/}$/,"stream":true,"stream_options":{"include_usage":true}}/')"
    check "chat stream: role first, chunks of chat.completion.chunk, finish length, usage chunk, then [DONE]" \
        '[ "$(code)" = 200 ] && [ "$(js "(() => { const d = $SSE; const c = d.slice(0, -1).map(JSON.parse); return [c[0].choices[0].delta.role, c.every(x => x.object === \"chat.completion.chunk\"), c[c.length - 2].choices[0].finish_reason, c[c.length - 1].usage.completion_tokens, d[d.length - 1]].join(); })()")" = "assistant,true,length,12,[DONE]" ]'
    check "chat stream: the content deltas add up to the non-stream answer of the same seed" \
        '[ "$(js "(() => { const c = $SSE.slice(0, -1).map(JSON.parse); return c.map(x => (x.choices[0] && x.choices[0].delta.content) || \"\").join(\"\") === JSON.parse(require(\"fs\").readFileSync(\"$W/nonstream.json\", \"utf8\")).choices[0].message.content; })()")" = true ]'

    # completions and prefix reuse: the second prompt extends the first's evaluated tokens
    post /v1/completions '{"prompt":"The quick brown","max_tokens":1}'
    check "completion: 200, text_completion, 1 token" '[ "$(code)" = 200 ] && [ "$(js "o.object + \" \" + o.usage.completion_tokens")" = "text_completion 1" ]'
    p1=$(js o.usage.prompt_tokens)
    post /v1/completions '{"prompt":"The quick brown fox jumps","max_tokens":2}'
    check "completion: a prompt extending the last one reuses its $p1 evaluated tokens (cached_tokens)" \
        '[ "$(code)" = 200 ] && [ "$(js o.usage.prompt_tokens_details.cached_tokens)" = "$p1" ] && [ "$p1" -gt 1 ]'

    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/metrics" >"$W/code"
    mv_() { sed -n "s/^$1 //p" "$W/out"; }
    pc=$(cp "$W/out" "$W/metrics.txt"; cp "$W/nonstream.json" "$W/out"; js o.usage.prompt_tokens; cp "$W/metrics.txt" "$W/out")
    reused=$((pc - 1 + p1)) # the streamed repeat of the chat prompt from the slot's snapshot (all but its last token), then the completion
    check "GET /metrics: Prometheus text; generated_tokens_total 27 (12 + 12 + 1 + 2), prompt_tokens_reused_total $reused, 2 chat and 2 completion requests, decode tokens/s > 0" \
        '[ "$(code)" = 200 ] && grep -q "^# TYPE gds_generated_tokens_total counter$" "$W/out" && [ "$(mv_ gds_generated_tokens_total)" = 27 ] && [ "$(mv_ gds_prompt_tokens_reused_total)" = "$reused" ] && grep -q "^gds_requests_total{endpoint=\"/v1/completions\"} 2$" "$W/out" && grep -q "^gds_requests_total{endpoint=\"/v1/chat/completions\"} 2$" "$W/out" && awk "/^gds_decode_tokens_per_second / { exit !(\$2 > 0) }" "$W/out"'

    # errors
    post /v1/chat/completions '{"messages": [bad'
    check "invalid JSON: 400 invalid_request_error" '[ "$(code)" = 400 ] && [ "$(js o.error.type)" = invalid_request_error ]'
    post /v1/chat/completions '[1,2]'
    check "a body that is not an object: 400" '[ "$(code)" = 400 ]'
    post /v1/chat/completions '{"messages":"hi"}'
    check "messages not an array: 400, param messages" '[ "$(code)" = 400 ] && [ "$(js o.error.param)" = messages ]'
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}'
    check "temperature a string: 400, param temperature" '[ "$(code)" = 400 ] && [ "$(js o.error.param)" = temperature ]'
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"max_tokens":0}'
    check "max_tokens 0: 400, param max_tokens" '[ "$(code)" = 400 ] && [ "$(js o.error.param)" = max_tokens ]'
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"stop":[1]}'
    check "stop not strings: 400, param stop" '[ "$(code)" = 400 ] && [ "$(js o.error.param)" = stop ]'
    post /v1/chat/completions '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'
    check "unknown model: 404 model_not_found" '[ "$(code)" = 404 ] && [ "$(js o.error.code)" = model_not_found ]'
    post /v1/chat/completions '{"messages":[{"role":"wizard","content":"x"}]}'
    check "a message with an unknown role: 400" '[ "$(code)" = 400 ]'
    long=$(awk 'BEGIN { for (i = 0; i < 1500; i++) printf "word "; }')
    post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}"
    check "a prompt longer than the context: 400 context_length_exceeded" '[ "$(code)" = 400 ] && [ "$(js o.error.code)" = context_length_exceeded ]'
    head -c 70000 /dev/zero | tr '\0' a >"$W/big"
    curl -s -o "$W/out" -w "%{http_code}" --data-binary @"$W/big" "http://127.0.0.1:$PORT/v1/chat/completions" >"$W/code"
    check "a body over --max-body: 413" '[ "$(code)" = 413 ]'
    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/v1/nowhere" >"$W/code"
    check "unknown path: 404 with an error object" '[ "$(code)" = 404 ] && [ "$(js "typeof o.error.message")" = string ]'
    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/v1/chat/completions" >"$W/code"
    check "GET on a POST endpoint: 405" '[ "$(code)" = 405 ]'

    # a client gone mid-stream: the slot is freed, the next request is served
    curl -s -N -m 1 -H "Content-Type: application/json" --data-binary '{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":100000,"stream":true}' \
        "http://127.0.0.1:$PORT/v1/chat/completions" >/dev/null 2>&1
    post /v1/chat/completions "$CHAT" -m 30
    check "after a client disconnected mid-stream, the next request is answered (200)" '[ "$(code)" = 200 ]'

    kill -TERM "$PID"
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    wait "$PID" 2>/dev/null
    rc=$?
    check "SIGTERM: exits 0 and says stopped (rc $rc)" '[ "$rc" -eq 0 ] && grep -q "gds-server: stopped" "$W/plain.log"'
else
    bad "gds-server did not start: $(tail -3 "$W/plain.log")"
fi

# ---- scripted answers: thinking, tool calls, stop strings --------------------------
NL='
'
ANSWER="I should look it up.</think>Let me check.${NL}${NL}<｜DSML｜tool_calls>${NL}<｜DSML｜invoke name=\"get_weather\">${NL}<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>${NL}<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>${NL}</｜DSML｜invoke>${NL}</｜DSML｜tool_calls>"
if start script GDS_SERVER_SCRIPT="$ANSWER" "$SRV" -m "$W/m.gguf" --port 0 -c 2048; then
    TOOLS='"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}}]'
    REQ="{\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}],\"thinking_mode\":\"thinking\",$TOOLS"
    post /v1/chat/completions "$REQ}"
    check "tool call: finish tool_calls, reasoning and content apart, get_weather({city: Paris, days: 3}) with an id, no DSML in content" \
        '[ "$(code)" = 200 ] && [ "$(js "(() => { const m = o.choices[0].message, t = m.tool_calls[0]; return [o.choices[0].finish_reason, m.reasoning_content, m.content, t.type, t.function.name, JSON.stringify(JSON.parse(t.function.arguments)), /^call_/.test(t.id), /DSML/.test(m.content || \"\")].join(\"|\"); })()")" = "tool_calls|I should look it up.|Let me check.|function|get_weather|{\"city\":\"Paris\",\"days\":3}|true|false" ]'
    post /v1/chat/completions "$REQ,\"stream\":true}"
    check "tool call streamed: reasoning_content and content deltas add up, one tool_calls delta (index 0), no DSML in any delta, finish tool_calls" \
        '[ "$(code)" = 200 ] && [ "$(js "(() => { const c = $SSE.slice(0, -1).map(JSON.parse), d = c.map(x => x.choices[0] ? x.choices[0].delta : {}); const r = d.map(x => x.reasoning_content || \"\").join(\"\"), t = d.map(x => x.content || \"\").join(\"\"); const tc = d.filter(x => x.tool_calls); return [r, t, tc.length, tc[0].tool_calls[0].index, tc[0].tool_calls[0].function.name, d.some(x => /DSML/.test((x.content || \"\") + (x.reasoning_content || \"\"))), c[c.length - 1].choices[0].finish_reason].join(\"|\"); })()")" = "I should look it up.|Let me check.|1|0|get_weather|false|tool_calls" ]'
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"stop":"check."}'
    check "stop string: the answer cut before it, finish stop" '[ "$(code)" = 200 ] && [ "$(js "o.choices[0].message.content + \"|\" + o.choices[0].finish_reason")" = "I should look it up.</think>Let me |stop" ]'
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"stop":["heck."],"stream":true}'
    check "stop string streamed: the deltas add up to the cut answer (a streamed part of the stop string would show)" \
        '[ "$(code)" = 200 ] && [ "$(js "(() => { const d = $SSE.slice(0, -1).map(JSON.parse).map(x => x.choices[0] ? x.choices[0].delta.content || \"\" : \"\"); return d.join(\"\"); })()")" = "I should look it up.</think>Let me c" ]'
    # the Anthropic Messages API on the same scripted answer
    ATOOLS='"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}}}}]'
    AREQ="{\"model\":\"m.gguf\",\"max_tokens\":400,\"system\":\"Be brief.\",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":200},\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"}],$ATOOLS"
    post /v1/messages "$AREQ}"
    check "messages: thinking, text and tool_use blocks (input {city: Paris, days: 3}), stop_reason tool_use, usage" \
        '[ "$(code)" = 200 ] && [ "$(js "(() => { const b = o.content; return [o.type, o.role, b.map(x => x.type).join(), b[0].thinking, b[1].text, b[2].name, JSON.stringify(b[2].input), o.stop_reason, o.usage.output_tokens > 0, o.usage.input_tokens > 0].join(\"|\"); })()")" = "message|assistant|thinking,text,tool_use|I should look it up.|Let me check.|get_weather|{\"city\":\"Paris\",\"days\":3}|tool_use|true|true" ]'
    post /v1/messages "$AREQ,\"stream\":true}"
    AEV='s.split("\n\n").filter(x => x.startsWith("event: ")).map(x => { const l = x.split("\n"); return { e: l[0].slice(7), d: JSON.parse(l[1].slice(6)) }; })'
    check "messages streamed: message_start first, message_stop last, thinking and text deltas add up, tool_use block with its input as input_json_delta, stop_reason tool_use, every event's type = its name" \
        '[ "$(code)" = 200 ] && [ "$(js "(() => { const v = $AEV, d = v.filter(x => x.e === \"content_block_delta\").map(x => x.d.delta); const st = v.filter(x => x.e === \"content_block_start\").map(x => x.d.content_block.type).join(); return [v[0].e, v[v.length - 1].e, d.filter(x => x.type === \"thinking_delta\").map(x => x.thinking).join(\"\"), d.filter(x => x.type === \"text_delta\").map(x => x.text).join(\"\"), st, JSON.stringify(JSON.parse(d.filter(x => x.type === \"input_json_delta\").map(x => x.partial_json).join(\"\"))), v.find(x => x.e === \"message_delta\").d.delta.stop_reason, v.every(x => x.d.type === x.e), /DSML/.test(s.replace(/partial_json.*/g, \"\"))].join(\"|\"); })()")" = "message_start|message_stop|I should look it up.|Let me check.|thinking,text,tool_use|{\"city\":\"Paris\",\"days\":3}|tool_use|true|false" ]'
    post /v1/messages '{"max_tokens":50,"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"}]}],"stop_sequences":["check."],'"$ATOOLS"'}'
    check "messages: a tool_use / tool_result round trip is accepted; a stop sequence gives stop_reason stop_sequence" \
        '[ "$(code)" = 200 ] && [ "$(js "o.stop_reason + \"|\" + o.stop_sequence")" = "stop_sequence|check." ]'
    post /v1/messages '{"messages":[{"role":"user","content":"x"}]}'
    check "messages without max_tokens: 400 in the Anthropic error shape" '[ "$(code)" = 400 ] && [ "$(js "o.type + \"|\" + o.error.type")" = "error|invalid_request_error" ]'
    post /v1/messages '{"max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}'
    check "messages with an image block: 400 naming the block type" '[ "$(code)" = 400 ] && js o.error.message | grep -q image'
    kill -TERM "$PID"
else
    bad "gds-server with GDS_SERVER_SCRIPT did not start: $(tail -3 "$W/script.log")"
fi

# ---- agent loop: the next request resends the conversation (thinking dropped) plus one message ----
if start agent GDS_SERVER_SCRIPT="Let me think.</think>Hello there." "$SRV" -m "$W/m.gguf" --port 0 -c 2048; then
    post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"thinking_mode":"thinking"}'
    a1=$(js o.usage.prompt_tokens)
    check "agent turn 1 (thinking): reasoning and content apart" '[ "$(js "o.choices[0].message.reasoning_content + \"|\" + o.choices[0].message.content")" = "Let me think.|Hello there." ]'
    post /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello there.","reasoning_content":"Let me think."},{"role":"user","content":"And then?"}],"thinking_mode":"thinking"}'
    check "agent turn 2 resends the conversation (its reasoning dropped by the encoding): all but the last of the $a1 tokens of turn 1's prompt come from the slot's prompt snapshot" \
        '[ "$(code)" = 200 ] && [ "$(js o.usage.prompt_tokens_details.cached_tokens)" = "$((a1 - 1))" ] && [ "$(js o.usage.prompt_tokens)" -gt "$a1" ]'
    kill -TERM "$PID"
else
    bad "gds-server (agent) did not start: $(tail -3 "$W/agent.log")"
fi

# ---- the official client libraries (npm openai, @anthropic-ai/sdk; tests/server-clients.mjs) ----
if [ -d tests/node_modules/openai ] && [ -d tests/node_modules/@anthropic-ai/sdk ]; then
    if start cl1 GDS_SERVER_SCRIPT="$ANSWER" "$SRV" -m "$W/m.gguf" --port 0 -c 4096; then
        P_TOOL=$PORT; PID_TOOL=$PID
        if start cl2 GDS_SERVER_SCRIPT="Paris is sunny. The end. Bye." "$SRV" -m "$W/m.gguf" --port 0 -c 4096; then
            (cd tests && timeout 300 node server-clients.mjs "$P_TOOL" "$PORT") >"$W/clients.out" 2>&1
            part clients "$W/clients.out" server-clients.mjs
            kill -TERM "$PID"
        fi
        kill -TERM "$PID_TOOL"
    fi
elif [ "${CI:-}" = true ]; then bad "the npm openai / @anthropic-ai/sdk packages are not installed (tools/deps.sh: npm ci in tests/)"
else echo "SKIP the client-library checks: npm ci in tests/ first"; fi

# ---- load and faults (tests/server-load.mjs; under the ASan build as well: make test runs both) ----
if start load "$SRV" -m "$W/m.gguf" --port 0 -c 1024 --parallel 4; then
    timeout 600 node tests/server-load.mjs "$PORT" >"$W/load.out" 2>&1
    part load "$W/load.out" server-load.mjs
    kill -TERM "$PID"
    wait "$PID" 2>/dev/null
    rc=$?
    check "after the load: SIGTERM exits 0, no sanitizer or leak report (rc $rc)" '[ "$rc" -eq 0 ] && ! grep -q "Sanitizer" "$W/load.log"'
else
    bad "gds-server --parallel 4 did not start: $(tail -3 "$W/load.log")"
fi

# ---- the chat page in headless Chromium (tests/server-browser.mjs; screenshot under $BUILD) ----
if [ -x /usr/bin/chromium ] && [ -d tests/node_modules/playwright-core ]; then
    if start browser GDS_SERVER_SCRIPT="Let me think.</think>Hello there." "$SRV" -m "$W/m.gguf" --port 0 -c 4096; then
        (cd tests && timeout 300 node server-browser.mjs "$PORT" "$(cd .. && pwd)/$BUILD/test-server-chat.png") >"$W/browser.out" 2>&1
        part browser "$W/browser.out" server-browser.mjs
        kill -TERM "$PID"
    fi
elif [ "${CI:-}" = true ]; then bad "chromium or the npm playwright-core package is missing (tools/deps.sh)"
else echo "SKIP the browser check: chromium (apt) and playwright-core (npm ci in tests/) needed"; fi

# ---- --api-key and the queue ---------------------------------------------------------
# a long scripted answer (about 3000 tokens) keeps the one slot busy for the 429 check
LONGANS=$(awk 'BEGIN { for (i = 0; i < 2000; i++) printf "word "; }')
if start auth GDS_SERVER_SCRIPT="$LONGANS" "$SRV" -m "$W/m.gguf" --port 0 -c 8192 --api-key sekrit --queue 0; then
    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/health" >"$W/code"
    check "--api-key: /health stays open (200)" '[ "$(code)" = 200 ]'
    curl -s -o "$W/out" -w "%{http_code}" "http://127.0.0.1:$PORT/v1/models" >"$W/code"
    check "--api-key: no key, 401 authentication_error" '[ "$(code)" = 401 ] && [ "$(js o.error.type)" = authentication_error ]'
    curl -s -o "$W/out" -w "%{http_code}" -H "Authorization: Bearer wrong" "http://127.0.0.1:$PORT/v1/models" >"$W/code"
    check "--api-key: a wrong key, 401" '[ "$(code)" = 401 ]'
    curl -s -o "$W/out" -w "%{http_code}" -H "Authorization: Bearer sekrit" "http://127.0.0.1:$PORT/v1/models" >"$W/code"
    check "--api-key: the key as a Bearer token, 200" '[ "$(code)" = 200 ]'
    post /v1/messages '{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
    check "--api-key on /v1/messages without x-api-key: 401 authentication_error, Anthropic shape" '[ "$(code)" = 401 ] && [ "$(js "o.type + \"|\" + o.error.type")" = "error|authentication_error" ]'
    gm() { curl -s -H "Authorization: Bearer sekrit" "http://127.0.0.1:$PORT/metrics" | sed -n "s/^$1 //p"; }
    gf0=$(gm gds_generated_tokens_total)
    curl -s -N -H "Authorization: Bearer sekrit" -H "Content-Type: application/json" \
        --data-binary '{"messages":[{"role":"user","content":"go on"}],"stream":true}' "http://127.0.0.1:$PORT/v1/chat/completions" >"$W/long.sse" 2>&1 &
    LONG=$!
    sleep 0.5
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"max_tokens":2}' -H "Authorization: Bearer sekrit"
    check "--queue 0 with the one slot busy: 429 rate_limit_error" '[ "$(code)" = 429 ] && [ "$(js o.error.type)" = rate_limit_error ]'
    wait $LONG
    check "the stream that held the slot ended with [DONE]" 'tail -c 20 "$W/long.sse" | grep -q "data: \[DONE\]"'
    full=$(( $(gm gds_generated_tokens_total) - gf0 )) # the whole scripted answer, in tokens
    post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}],"max_tokens":2}' -H "x-api-key: sekrit"
    check "--api-key as x-api-key, the slot free again: 200" '[ "$(code)" = 200 ]' 
    # a client gone during a long non-streamed answer (the scripted answer, $full tokens): generation
    # stops before the answer's end and the slot is freed. The server looks at the socket every 16
    # tokens, so on a loaded machine (ASan, other jobs) the stop can come late: wait for the count to
    # settle (two samples 0.5 s apart equal, at most 15 s), then require fewer tokens than the whole answer
    gb=$(gm gds_generated_tokens_total)
    curl -s -m 1 -H "Authorization: Bearer sekrit" -H "Content-Type: application/json" --data-binary '{"messages":[{"role":"user","content":"go on"}]}' \
        "http://127.0.0.1:$PORT/v1/chat/completions" >/dev/null 2>&1
    g1=$(gm gds_generated_tokens_total); n=0
    while sleep 0.5; g2=$(gm gds_generated_tokens_total); [ "$g1" != "$g2" ] && [ $n -lt 30 ]; do g1=$g2; n=$((n + 1)); done
    busy=$(gm gds_slots_busy)
    check "a client gone 1 s into a long non-streamed answer: generation stopped after $((g2 - gb)) of $full tokens (settled $((n / 2)) s after), slot free" '[ -n "$g1" ] && [ "$g1" = "$g2" ] && [ $((g2 - gb)) -lt "$full" ] && [ "$busy" = 0 ]' 
    kill -TERM "$PID"
else
    bad "gds-server --api-key did not start: $(tail -3 "$W/auth.log")"
fi

# ---- the disk KV cache ----------------------------------------------------------------
K="$W/kvc"
P1='{"messages":[{"role":"user","content":"Tell me about the sea and the mountains"}],"max_tokens":5,"temperature":0}'
P2='{"messages":[{"role":"user","content":"Tell me about the sea and the mountains"},{"role":"assistant","content":"Sure."},{"role":"user","content":"More, please"}],"max_tokens":12,"temperature":0}'
stop_srv() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
if start nocache "$SRV" -m "$W/m.gguf" --port 0 -c 2048; then
    post /v1/chat/completions "$P2"
    cp "$W/out" "$W/p2-nocache.json"
    stop_srv
fi
ANS='o.choices[0].message.content + "|" + o.usage.prompt_tokens_details.cached_tokens'
if start kv1 "$SRV" -m "$W/m.gguf" --port 0 -c 2048 --kv-cache-dir "$K" --kv-cache-min 8; then
    post /v1/chat/completions "$P1"
    n1=$(js o.usage.prompt_tokens)
    stop_srv
    check "kv cache: the first prompt's state written ($n1 tokens), one .gkv entry, no temporary file left" \
        '[ "$(ls "$K"/*.gkv 2>/dev/null | wc -l)" -eq 1 ] && [ "$(ls -A "$K" | grep -c "^\.tmp")" -eq 0 ]'
    start kv2 "$SRV" -m "$W/m.gguf" --port 0 -c 2048 --kv-cache-dir "$K" --kv-cache-min 8
    post /v1/chat/completions "$P2"
    check "kv cache after a restart: the extending prompt restores the $((n1 - 1)) cached tokens (the first prompt but its last token), and the greedy answer equals the server without a cache" \
        '[ "$(code)" = 200 ] && [ "$(js "$ANS")" = "$(cd "$W" && cp out out.keep && cp p2-nocache.json out && js "o.choices[0].message.content" && cp out.keep out)|$((n1 - 1))" ]'
    stop_srv
    for f in "$K"/*.gkv; do # every entry (P1's, and P2's from the last run): one byte changed
        size=$(wc -c <"$f")
        printf 'X' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
    done
    start kv3 "$SRV" -m "$W/m.gguf" --port 0 -c 2048 --kv-cache-dir "$K" --kv-cache-min 8
    post /v1/chat/completions "$P2"
    check "kv cache: a corrupted entry is detected, ignored and removed; the answer is still the same, 0 tokens from the cache" \
        '[ "$(code)" = 200 ] && [ "$(js "o.usage.prompt_tokens_details.cached_tokens")" = 0 ] && grep -q "corrupted, foreign or stale" "$W/kv3.log" && [ "$(ls "$K"/*.gkv 2>/dev/null | wc -l)" -le 1 ] && [ "$(js "o.choices[0].message.content")" = "$(cp out out.keep; cp p2-nocache.json out; js "o.choices[0].message.content"; cp out.keep out)" ]'
    stop_srv
    "$BUILD/bin/gds-convert" --synthetic tiny-a:tokenizer=bytes,seed=5 -o "$W/m2.gguf" >>"$W/convert.log" 2>&1
    start kv4 "$SRV" -m "$W/m.gguf" --port 0 -c 2048 --kv-cache-dir "$K" --kv-cache-min 8
    post /v1/chat/completions "$P1"
    stop_srv
    start kv5 "$SRV" -m "$W/m2.gguf" --port 0 -c 2048 --kv-cache-dir "$K" --kv-cache-min 8
    post /v1/chat/completions "$P2"
    check "kv cache: entries of another model file are not used (0 cached tokens)" '[ "$(code)" = 200 ] && [ "$(js "o.usage.prompt_tokens_details.cached_tokens")" = 0 ]'
    stop_srv
    rm -rf "$K"
    start kv6 "$SRV" -m "$W/m.gguf" --port 0 -c 2048 --kv-cache-dir "$K" --kv-cache-min 8 --kv-cache-max 0.003
    for q in one two three; do post /v1/completions "{\"prompt\":\"a prompt about $q, long enough to be cached\",\"max_tokens\":1}"; done
    check "kv cache: --kv-cache-max 0.003 (3 MB) keeps at most 2 entries of ~1.3 MB, the least recently used evicted" \
        '[ "$(ls "$K"/*.gkv | wc -l)" -eq 2 ] && [ "$(du -cb "$K"/*.gkv | tail -1 | cut -f1)" -le 3000000 ] && grep -q "evicted an entry" "$W/kv6.log"'
    stop_srv
else
    bad "gds-server --kv-cache-dir did not start: $(tail -3 "$W/kv1.log")"
fi

# ---- bad options ----------------------------------------------------------------------
"$SRV" -m "$W/m.gguf" --port 99999 >"$W/opt.out" 2>&1
check "--port 99999 refused with a message" 'grep -q "^gds-server: --port .99999.: " "$W/opt.out"'
"$SRV" -m "$W/m.gguf" --host not.an.ip >"$W/opt.out" 2>&1
check "--host not.an.ip refused" 'grep -q "not an IPv4 address" "$W/opt.out"'
"$SRV" >"$W/opt.out" 2>&1
check "no -m refused" 'grep -q "^gds-server: -m MODEL.gguf is required" "$W/opt.out"'
v=$("$SRV" --version)
check "--version ($v)" 'echo "$v" | grep -qE "^gds-server \(ggml-ds\) [0-9]+\.[0-9]+\.[0-9]+$"'
check "--help lists the endpoints" '"$SRV" --help | grep -q "POST /v1/chat/completions"'

echo "test-server: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
