#!/bin/bash
# device call: CPU A/B against the tree in .base (git archive of an earlier commit, carried):
# pp512 and tg32, alternating base/new, then the concurrent streams 1/2/4/8 (new), GDS_PROF of
# a prefill (new). Same machine, same call: compare the medians.
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
MK="CFLAGS=-I$R/usr/include LDFLAGS=-L$L\ -Wl,-rpath,$L"
( make -j8 -k build/bin/gds-bench build/bin/gds-convert build/bin/test-ops CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( cd .base && make -j8 -k build/bin/gds-bench CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-base.log 2>&1 || grep error $OUT/build-base.log | head ) &
wait; el build
[ -f /tmp/f4q.gguf ] || build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert
timeout 150 build/bin/test-ops -o mul_mat 2>&1 | tail -1; timeout 60 build/bin/test-ops -o quant_sim 2>&1 | tail -1; el test-ops
for i in 1 2; do for v in base new; do
  B=build/bin/gds-bench; [ $v = base ] && B=.base/build/bin/gds-bench
  timeout 80 $B -m /tmp/f4q.gguf -t 16 -p 512 -n 32 -r 3 --bw-mib 0 --no-split 2>/dev/null | grep -E "pp512|tg32" | cut -d'|' -f5,6 | sed "s/^/$v /"
done; done; el ab
for i in 1 2; do timeout 100 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -n 32 -s 1,2,4,8 --streams-only -r 3 --bw-mib 0 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6; done; el streams
timeout 80 .base/build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -n 32 -s 1,4 --streams-only -r 3 --bw-mib 0 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/base /"; el streams-base
GDS_PROF=1 timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 0 -r 2 --bw-mib 0 > $OUT/prof-pp.txt 2>&1; grep -A12 "GDS_PROF:" $OUT/prof-pp.txt | cut -c1-100; el prof
timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 32 -r 3 --bw-mib 1024 2>/dev/null | grep -E "^\|"; el bench
