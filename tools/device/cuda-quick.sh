#!/bin/bash
# short device call: CUDA build, test-ops -b cuda, f4q decode on cuda with graphs and hybrid split
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
( make -j4 -k build/bin/gds-convert CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 ) &
make -j12 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/gds-bench \
  CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf > /dev/null 2>&1 &
timeout 60 build/cuda/bin/test-ops -b cuda > $OUT/t.txt 2>&1; grep FAIL $OUT/t.txt | cut -c1-160 | head; tail -1 $OUT/t.txt; el test-ops
wait; el convert
timeout 40 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 512 -n 32 -r 2 --bw-mib 0 2>/dev/null | grep -E "pp512|tg32"; el graphs
GDS_PROF=1 timeout 40 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda --cpu-moe -p 0 -n 16 -r 1 -t 16 --bw-mib 0 --no-split 2>&1 | grep -E "tg16|GDS_PROF sched"; el hybrid
