#!/bin/bash
# device call: CPU prefill profile (GDS_PROF per op, amx vs avx512), CUDA test-ops / tiny-a / f4q
# (graphs on), hybrid split, CPU streams with the tile threshold 8 vs 2
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep -E "Model name|^CPU\(s\)|NUMA node\(s\)"
( make -j6 -k build/bin/gds-bench build/bin/gds-convert CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 ) &
make -j10 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/test-model build/cuda/bin/gds-bench \
  build/cuda/bin/gds-convert build/cuda/bin/gds-run CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head -20
wait; el build
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 150 build/cuda/bin/test-ops -b cuda > $OUT/test-ops-cuda.txt 2>&1; echo "test-ops -b cuda rc $?"
grep -E "FAIL" $OUT/test-ops-cuda.txt | cut -c1-200 | head -20; tail -1 $OUT/test-ops-cuda.txt; el test-ops
GDS_TEST_BACKEND=cuda BUILD=build/cuda timeout 90 sh tests/test-model.sh > $OUT/test-model-cuda.txt 2>&1
grep -E "vs logits_|passed|bit" $OUT/test-model-cuda.txt | head -20; el test-model
wait; el convert
for s in amx avx512; do GDS_CPU_SIMD=$s GDS_PROF=1 timeout 100 build/bin/gds-bench -m /tmp/f4q.gguf -p 512 -n 0 -r 2 -t 16 --bw-mib 0 > $OUT/prof-$s.txt 2>&1; grep -E "pp512" $OUT/prof-$s.txt; grep -A16 "GDS_PROF:" $OUT/prof-$s.txt | cut -c1-110; el prof-$s; done
timeout 100 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 2048 -n 64 -r 3 -t 16 --bw-mib 0 2> $OUT/bench-cuda.err | tee $OUT/bench-cuda.md | grep -E "pp2048|tg64|^\| tg"; tail -2 $OUT/bench-cuda.err; el cuda
GDS_CUDA_GRAPH=0 timeout 60 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 0 -n 32 -r 2 -t 16 --bw-mib 0 --no-split 2>/dev/null | grep -E "tg32"; el cuda-direct
GDS_PROF=1 timeout 90 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda --cpu-moe -p 0 -n 32 -r 2 -t 16 --bw-mib 0 --no-split 2>&1 | grep -E "tg32|GDS_PROF sched|ms " | head -30; el hybrid
for v in 8 2; do GDS_MM_TILE_MIN=$v timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -n 32 -s 1,2,4,8 --streams-only -r 2 -t 16 --bw-mib 0 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/tile_min=$v /"; done; el streams
