#!/bin/bash
# device call: Vulkan after the decode-shader rewrite beside CUDA (test-ops, tg32, GDS_VK_PROF and
# CUDA GDS_PROF per-op tables), CPU batched decode A/B against .base (streams 1/4, GDS_PROF at 4)
. tools/device/gpu-env.sh
( make -j4 -k build/bin/gds-bench build/bin/gds-convert "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( cd .base && make -j2 -k build/bin/gds-bench "$F" "$G" > $OUT/build-base.log 2>&1 || grep error $OUT/build-base.log | head ) &
( make -j4 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 60 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep FAIL $OUT/test-ops-vk.txt | cut -c1-140 | head -5; tail -1 $OUT/test-ops-vk.txt; el test-ops-vk
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | sed "s/^/cuda /"
GDS_VK_PROF=1 timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 > $OUT/bench-vk.txt 2>&1; grep -E "tg32" $OUT/bench-vk.txt | sed "s/^/vulkan /"; el gpus
GDS_PROF=1 timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 --no-split > $OUT/prof-cuda.txt 2>&1; el prof-cuda
for i in 1 2; do timeout 70 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-7 | sed "s/^/new /"
  timeout 70 .base/build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-7 | sed "s/^/base /"; done; el streams
GDS_PROF=1 timeout 60 build/bin/gds-bench $B -n 32 -s 4 --streams-only -r 1 > $OUT/prof-s4.txt 2>&1
GDS_PROF=1 timeout 60 .base/build/bin/gds-bench $B -n 32 -s 4 --streams-only -r 1 > $OUT/prof-s4-base.txt 2>&1; el prof
