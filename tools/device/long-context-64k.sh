#!/bin/bash
# device call 2 (same warm machine): continue the 8-layer fill from the 16k state to 64k (and save it)
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
ls -la /tmp/st16k.img /tmp/f8q.gguf || exit 1
timeout 585 build/bin/gds-bench -m /tmp/f8q.gguf -p 512 -n 16 -d 16384,65536 -r 1 --grow -t 16 --state-load /tmp/st16k.img --state-save /tmp/st64k.img 2> $OUT/lc2.err | tee $OUT/lc2.md
grep -E "filling|@|state" $OUT/lc2.err | tail -6; el end
