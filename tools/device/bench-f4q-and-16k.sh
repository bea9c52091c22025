#!/bin/bash
# device call: build, checks, f4q bench at amx, decode profile, 8-layer file at 16k (--grow)
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
lscpu | grep -E "Model name|^CPU\(s\)|NUMA node\(s\)"; df -h /tmp | tail -1; free -g | head -2
make -j16 -k all CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 || grep -E "error|cannot find" $OUT/build.log | head -5
for b in gds-bench gds-convert test-ops test-model; do [ -x build/bin/$b ] || { tail -30 $OUT/build.log; exit 1; }; done
el build
build/bin/test-ops -o mul_mat 2>&1 | grep -E "FAIL|cpu/|passed" | cut -c1-200
build/bin/test-ops -o mul_mat_id 2>&1 | tail -1
GDS_CPU_SIMD=amx sh tests/test-model.sh 2>&1 | tail -1
el tests
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert4
build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 64 -r 3 -t 16 2>/dev/null | grep -E "^\| (f4q|tg)"; el bench-amx
GDS_PROF=1 build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 32 -r 1 -t 16 --no-split --bw-mib 0 2>&1 | grep -E "^ +[0-9]" | head -40 > $OUT/prof.txt; head -24 $OUT/prof.txt; el prof
# point 5: default threads, decode alone vs 16 busy loops on the 16 cores
build/bin/gds-bench -m /tmp/f4q.gguf -p 0 -n 32 -r 3 --no-split --bw-mib 0 2>/dev/null | grep -E "^\| f4q" | sed 's/^/alone: /'
for i in $(seq 16); do ( while :; do :; done ) & done
build/bin/gds-bench -m /tmp/f4q.gguf -p 0 -n 32 -r 3 --no-split --bw-mib 0 2>/dev/null | grep -E "^\| f4q" | sed 's/^/busy: /'
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; el busy
# issue 10: concurrent decode, 1/2/4/8 streams in one batched graph per step
build/bin/gds-bench -m /tmp/f4q.gguf -n 32 -s 1,2,4,8 --streams-only -r 3 -t 16 2>/dev/null | tee $OUT/streams.md; el streams
rm -f /tmp/f4q.gguf
[ $(( $(date +%s) - T0 )) -gt 380 ] && { el "no time for the long-context run"; exit 0; }
build/bin/gds-convert --synthetic flash:layers=8,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f8q.gguf 2>&1 | tail -1
cat /tmp/f8q.gguf > /dev/null; el convert8
timeout $(( 590 - ($(date +%s) - T0) )) build/bin/gds-bench -m /tmp/f8q.gguf -p 512 -n 16 -d 0,16384 -r 1 --grow -t 16 --state-save /tmp/st16k.img 2> $OUT/lc.err | tee $OUT/lc.md
grep -E "filling|@" $OUT/lc.err | tail -4; el end
