#!/bin/bash
# device call: Vulkan after the coalesced mat-vec / HC_COMB shaders (test-ops, decode beside CUDA),
# and issue 14's single-node figures: lscpu, the hwloc topology as gds-run prints it, gds-bench
# with --numa off / interleave / experts on this one-node host
. tools/device/gpu-env.sh
( make -j5 -k NUMA=1 build/bin/gds-bench build/bin/gds-convert build/bin/gds-run "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( make -j5 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 60 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep FAIL $OUT/test-ops-vk.txt | cut -c1-140 | head -5; tail -1 $OUT/test-ops-vk.txt; el test-ops-vk
lscpu | grep -E "Model name|^CPU\(s\)|Thread|Core|Socket|NUMA"
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | sed "s/^/cuda /"
GDS_VK_PROF=1 timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 > $OUT/bench-vk.txt 2>&1; grep -E "tg32" $OUT/bench-vk.txt | sed "s/^/vulkan /"; grep -E "profile|mul_mat|hc_comb" $OUT/bench-vk.txt | head -4; el gpus
timeout 30 build/bin/gds-run -m /tmp/f4q.gguf --numa experts --print-placement -n 1 -p hi -t 16 2>&1 | grep -viE "^ *layer [0-9]+:" | head -14
for n in off interleave experts; do timeout 40 build/bin/gds-bench $B --numa $n -p 0 -n 32 -r 3 2>&1 | grep -E "tg32|numa|NUMA|bind" | head -3 | sed "s/^/numa=$n /"; done; el numa
GDS_PROF=1 timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 --no-split > $OUT/prof-cuda.txt 2>&1
timeout 90 build/bin/gds-bench $B -n 32 -s 1,2,4,8 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-7 | sed "s/^/streams /"
GDS_PROF=1 timeout 60 build/bin/gds-bench $B -n 32 -s 4 --streams-only -r 1 > $OUT/prof-s4.txt 2>&1; el prof
