#!/bin/bash
# device call (fallback when little device time is left): Vulkan vs CUDA decode in the same call,
# test-ops -b vulkan, the Vulkan profile; then 1/4 streams if time remains
. tools/device/gpu-env.sh
( make -j8 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-convert "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build
( build/vulkan/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 60 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; tail -1 /tmp/to-vk.txt; nvidia-smi --query-gpu=name --format=csv,noheader
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
for b in cuda vulkan; do timeout 40 build/$b/bin/gds-bench $B --backend $b -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-9 | sed "s/^/$b /"; done; el gpu-tg
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 | grep -A 12 "profile by node" | head -13; el vk-prof
true
