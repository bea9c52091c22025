#!/bin/bash
# device call prepared for the next session (not run): the measurements this session could not get
# because the device would not start. Vulkan BF16 mat-vec threads per row (GDS_VK_MV_T=2/4/8 forced,
# 1 = the automatic choice) beside CUDA;
# CPU streams 1/2/4/8 and GDS_MM_AMX_MIN=8 vs 1 at 1/4 streams (issue 10); --numa off/interleave/
# experts on the one-node host (issue 14); the CPU bench with the layers/head split (issue 9).
# Carry .debs .gl .head. Everything to stdout (the device returns at most ~8 files).
. tools/device/gpu-env.sh
( make -j5 -k NUMA=1 build/bin/gds-bench build/bin/gds-convert "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head ) &
( make -j5 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench build/cuda/bin/test-ops "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build
lscpu | grep -E "Model name|^CPU\(s\)|Socket|NUMA node"; nvidia-smi --query-gpu=name --format=csv,noheader
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 90 build/cuda/bin/test-ops -b cuda 2>&1 | tail -1; timeout 60 build/vulkan/bin/test-ops -b vulkan 2>&1 | tail -1; el tests
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-9 | sed "s/^/cuda /"
for t in 1 2 4 8; do GDS_VK_MV_T=$t timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-9 | sed "s/^/vulkan T=$t /"; done; el gpu
timeout 80 build/bin/gds-bench $B -n 32 -s 1,2,4,8 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-7 | sed "s/^/streams /"
for a in 8 1; do GDS_MM_AMX_MIN=$a timeout 40 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/amxmin=$a /"; done; el streams
for n in off interleave experts; do timeout 30 build/bin/gds-bench $B --numa $n -p 0 -n 32 -r 2 --no-split 2>&1 | grep -E "tg32 @" | cut -d'|' -f5-9 | sed "s/^/numa=$n /"; done; el numa
timeout 90 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 32 -r 3 --bw-mib 1024 2>/dev/null | grep -E "^\| (f4q|tg)"; el cpu
