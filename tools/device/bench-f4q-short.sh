#!/bin/bash
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
lscpu | grep -E "Model name|^CPU\(s\)"
make -j16 lib model-tests tools examples CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 || make -j16 build/bin/gds-bench build/bin/gds-convert build/bin/test-ops CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" >> $OUT/build.log 2>&1
el build
build/bin/test-ops -o mul_mat 2>&1 | grep -E "FAIL|cpu/|passed" | cut -c1-200
build/bin/test-ops -o mul_mat_id 2>&1 | tail -1
el tests
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert4
build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 64 -r 3 -t 16 2>/dev/null | grep -E "^\| (f4q|tg)"; el bench-amx
GDS_CPU_SIMD=avx512 build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 0 -r 3 -t 16 --bw-mib 0 2>/dev/null | grep -E "^\| f4q"; el bench-avx512
GDS_PROF=1 build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 0 -r 1 -t 16 --bw-mib 0 2>&1 | grep -E "^ +[0-9]" | head -12; el prof
