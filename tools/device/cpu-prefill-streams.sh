#!/bin/bash
# device call: CPU only. pp512 at amx with GDS_PROF (AMX tiles prefetching the next rows, the
# pack table), MUL_MAT_ID tile threshold 8 vs 2, streams 1/4 with GDS_PROF per step
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
lscpu | grep -E "Model name|^CPU\(s\)|Thread|Core|Socket|MHz|L2|L3"
make -j16 -k build/bin/gds-bench build/bin/gds-convert build/bin/test-ops CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head
el build
[ -f /tmp/f4q.gguf ] || build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert
timeout 120 build/bin/test-ops -o mul_mat_id 2>&1 | tail -1; el test-ops
B="build/bin/gds-bench -m /tmp/f4q.gguf -t 16 --bw-mib 0"
for v in 8 2 8 2; do GDS_MM_ID_TILE_MIN=$v timeout 60 $B -p 512 -n 0 -r 3 2>/dev/null | grep pp512 | sed "s/^/id_tile_min=$v /"; done; el pp-ab
GDS_PROF=1 timeout 60 $B -p 512 -n 0 -r 2 > $OUT/prof-pp.txt 2>&1; grep -A14 "GDS_PROF:" $OUT/prof-pp.txt | cut -c1-100; el prof-pp
for s in 1 4; do GDS_PROF=1 timeout 60 $B -n 32 -s $s --streams-only -r 1 > $OUT/prof-s$s.txt 2>&1; grep -E "^\| [0-9]" $OUT/prof-s$s.txt | cut -d'|' -f2-6; grep -A14 "GDS_PROF:" $OUT/prof-s$s.txt | cut -c1-100; done; el prof-streams
for r in 1 2; do timeout 90 $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6; done; el streams
timeout 60 $B -p 512 -n 32 -r 3 --bw-mib 1024 2>/dev/null | grep -E "^\|"; el bench
