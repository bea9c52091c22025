#!/bin/bash
# one device call (issue 11, then 9 and 10): CUDA build, test-ops -b cuda, tiny-a end to end
# on cuda, the f4q file on cuda and hybrid; then the CPU f4q bench, streams, busy loops
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
lscpu | grep -E "Model name|^CPU\(s\)"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
( make -j6 -k all CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 ) &
make -j10 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/test-model build/cuda/bin/gds-bench \
  build/cuda/bin/gds-convert build/cuda/bin/gds-run CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head -20
wait; el build
ls build/cuda/bin/ build/bin/ | tr '\n' ' '; echo
timeout 200 build/cuda/bin/test-ops -b cuda > $OUT/test-ops-cuda.txt 2>&1; echo "test-ops -b cuda rc $?"
grep -E "FAIL" $OUT/test-ops-cuda.txt | cut -c1-220 | head -40; tail -2 $OUT/test-ops-cuda.txt; el test-ops
GDS_TEST_BACKEND=cuda BUILD=build/cuda timeout 120 sh tests/test-model.sh > $OUT/test-model-cuda.txt 2>&1; echo "test-model cuda rc $?"
grep -E "FAIL|e2e|end to end|passed" $OUT/test-model-cuda.txt | cut -c1-220 | head -30; el test-model
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
cat /tmp/f4q.gguf > /dev/null; el convert
timeout 150 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 2048 -n 64 -r 3 -t 16 2> $OUT/bench-cuda.err | tee $OUT/bench-cuda.md; tail -3 $OUT/bench-cuda.err; el cuda-bench
timeout 120 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda --cpu-moe -p 512 -n 32 -r 2 -t 16 --bw-mib 0 2> $OUT/bench-hybrid.err | tee $OUT/bench-hybrid.md; tail -2 $OUT/bench-hybrid.err; el hybrid
timeout 100 build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 64 -r 3 -t 16 2>/dev/null | tee $OUT/f4q-amx.md; el cpu-bench
timeout 80 build/bin/gds-bench -m /tmp/f4q.gguf -n 32 -s 1,2,4,8 --streams-only -r 3 -t 16 2>/dev/null | tee $OUT/streams.md; el streams
timeout 30 build/bin/gds-bench -m /tmp/f4q.gguf -p 0 -n 32 -r 3 --no-split --bw-mib 0 2>/dev/null | grep -E "^\| f4q" | sed 's/^/alone: /'
for i in $(seq 16); do ( while :; do :; done ) & done
timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -p 0 -n 32 -r 3 --no-split --bw-mib 0 2>/dev/null | grep -E "^\| f4q" | sed 's/^/busy: /'
kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; el busy
