#!/bin/bash
# TTFT for a ~4000-token agent conversation on f4q, 2 threads: cold, in memory, from the disk cache after a restart
cd "$(dirname "$0")/.."
M=${1:?usage: tools/ttft-server.sh MODEL.gguf}; K=/tmp/ttft-kv; rm -rf $K
python3 - <<'PY'
import json, random
random.seed(1)
words = "the a of to and in that is was he for it with as his on be at by I this had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three".split()
def para(n): return " ".join(random.choice(words) for _ in range(n))
msgs = [{"role": "system", "content": "You are a coding agent. " + para(40)}]
for t in range(8):
    msgs.append({"role": "user", "content": para(90)})
    msgs.append({"role": "assistant", "content": para(90)})
msgs.append({"role": "user", "content": "Now summarise."})
conv2 = msgs + [{"role": "assistant", "content": "A summary."}, {"role": "user", "content": "Thanks, and one more question?"}]
for name, m in (("c1", msgs), ("c2", conv2)):
    json.dump({"messages": m, "max_tokens": 1, "temperature": 0}, open(f"/tmp/ttft-{name}.json", "w"))
PY
req() { curl -s -o /tmp/ttft-out.json -w "%{time_total}" -H "Content-Type: application/json" --data-binary @/tmp/ttft-$1.json http://127.0.0.1:18099/v1/chat/completions; }
usage() { python3 -c "import json; u=json.load(open('/tmp/ttft-out.json'))['usage']; print(u['prompt_tokens'], 'prompt,', u['prompt_tokens_details']['cached_tokens'], 'cached')"; }
srv() { build/bin/gds-server -m $M --port 18099 -c 8192 -t 2 "$@" > /tmp/ttft-srv.log 2>&1 & PID=$!; for i in $(seq 100); do grep -q listening /tmp/ttft-srv.log && break; sleep 0.2; done; }
srv
t=$(req c1); echo "cold, conversation 1: $t s ($(usage))"
t=$(req c2); echo "in memory, conversation 2 (= 1 + answer + a message): $t s ($(usage))"
kill $PID; wait $PID
srv --kv-cache-dir $K
t=$(req c1); echo "disk cache on, conversation 1 (writes the entry): $t s ($(usage))"
kill $PID; wait $PID
srv --kv-cache-dir $K
t=$(req c2); echo "after a restart, conversation 2 from the disk cache: $t s ($(usage))"
kill $PID; wait $PID
srv
t=$(req c2); echo "no cache, fresh server, conversation 2: $t s ($(usage))"
kill $PID; wait $PID
ls -la $K
