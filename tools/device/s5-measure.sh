#!/bin/bash
# device call (session 5, first): the measurements the last session could not get: Vulkan BF16
# mat-vec threads per row (GDS_VK_MV_T) beside CUDA, the Vulkan profile by node key, CPU streams
# 1/2/4/8 and GDS_MM_AMX_MIN=8 vs default at 1/4 streams (issue 10), the CPU bench (issue 9).
# Carry .debs .gl .head. Everything to stdout.
. tools/device/gpu-env.sh
( make -j5 -k build/bin/gds-bench build/bin/gds-convert "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head ) &
( make -j5 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench build/cuda/bin/test-ops "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build
lscpu | grep -E "Model name|^CPU\(s\)"; nvidia-smi --query-gpu=name --format=csv,noheader
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 90 build/cuda/bin/test-ops -b cuda 2>&1 | tail -1; timeout 60 build/vulkan/bin/test-ops -b vulkan 2>&1 | tail -1; el tests
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-9 | sed "s/^/cuda /"
for t in 1 2 4 8; do GDS_VK_MV_T=$t timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-9 | sed "s/^/vulkan T=$t /"; done; el gpu
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 | grep -A 30 "by node" | head -31; el vk-prof
timeout 80 build/bin/gds-bench $B -n 32 -s 1,2,4,8 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-7 | sed "s/^/streams /"
for a in 8 2; do GDS_MM_AMX_MIN=$a timeout 40 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/amxmin=$a /"; done; el streams
timeout 90 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 32 -r 3 --bw-mib 1024 2>/dev/null | grep -E "^\| (f4q|tg|pp)"; el cpu
