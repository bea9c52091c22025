#!/bin/bash
# device call 3: from the 64k state to 131072
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
ls -la /tmp/st64k.img || exit 1
timeout 585 build/bin/gds-bench -m /tmp/f8q.gguf -p 512 -n 16 -d 65536,131072 -r 1 --grow -t 16 --state-load /tmp/st64k.img 2> $OUT/lc3.err | tee $OUT/lc3.md
grep -E "filling|@|state" $OUT/lc3.err | tail -6; el end
