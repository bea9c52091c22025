#!/bin/bash
# device call: CUDA build + test-ops -b cuda (issue 11), then the CPU f4q bench,
# busy-loop decode and 1/2/4/8 streams (issues 9, 10); long context if time is left
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
lscpu | grep -E "Model name|^CPU\(s\)"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; free -g | head -2
( make -j8 -k all CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 ) &
make -j8 CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-cuda.log 2>&1 || { grep -E "error" $OUT/build-cuda.log | head -20; }
wait; el build
for b in gds-bench gds-convert test-ops; do [ -x build/bin/$b ] || { tail -20 $OUT/build.log; exit 1; }; done
if [ -x build/cuda/bin/test-ops ]; then
  timeout 240 build/cuda/bin/test-ops -b cuda > $OUT/test-ops-cuda.txt 2>&1; echo "test-ops -b cuda rc $?"
  grep -E "FAIL|passed|SKIP|backend" $OUT/test-ops-cuda.txt | head -60
  tail -3 $OUT/test-ops-cuda.txt
fi
el cuda
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert4
build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 64 -r 3 -t 16 2>/dev/null | tee $OUT/f4q-amx.md; el bench-amx
build/bin/gds-bench -m /tmp/f4q.gguf -n 32 -s 1,2,4,8 --streams-only -r 3 -t 16 2>/dev/null | tee $OUT/streams.md; el streams
build/bin/gds-bench -m /tmp/f4q.gguf -p 0 -n 32 -r 3 --no-split --bw-mib 0 2>/dev/null | grep -E "^\| f4q" | sed 's/^/alone: /'
for i in $(seq 16); do ( while :; do :; done ) & done
build/bin/gds-bench -m /tmp/f4q.gguf -p 0 -n 32 -r 3 --no-split --bw-mib 0 2>/dev/null | grep -E "^\| f4q" | sed 's/^/busy: /'
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; el busy
GDS_PROF=1 build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 32 -r 1 -t 16 --no-split --bw-mib 0 2>&1 | grep -E "^ +[0-9]" | head -40 > $OUT/prof.txt; el prof
