#!/bin/bash
# device call: CPU, the page-table populate at load (GDS_MMAP_POPULATE=0 vs default), streams,
# decode split, S=4 profile; .base (51aab9f) as the baseline build
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
( make -j8 -k build/bin/gds-bench build/bin/gds-convert CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( cd .base && make -j8 -k build/bin/gds-bench CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-base.log 2>&1 || grep error $OUT/build-base.log | head ) &
wait; el build
[ -f /tmp/f4q.gguf ] || build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert
B="build/bin/gds-bench -m /tmp/f4q.gguf -t 16 --bw-mib 0"
for i in 1 2; do
  for pop in 0 1; do GDS_MMAP_POPULATE=$pop timeout 90 $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/populate=$pop /"; done
  timeout 90 .base/$B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/base /"
done; el streams
timeout 120 $B -n 32 -s 1,2,4,8 --streams-only -r 5 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-7; el streams-1248
GDS_PROF=1 timeout 60 $B -n 32 -s 4 --streams-only -r 1 > $OUT/prof-s4.txt 2>&1; grep -A14 "GDS_PROF:" $OUT/prof-s4.txt | cut -c1-100; el prof-s4
for pop in 0 1; do GDS_MMAP_POPULATE=$pop timeout 90 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 32 -r 3 --bw-mib 1024 2>/dev/null | grep -E "^\| (f4q|tg)" | sed "s/^/populate=$pop /"; done; el bench
