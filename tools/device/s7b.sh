#!/bin/bash
# device call (session 7, short budget, ~7 min): builds; f4q decode CUDA vs Vulkan (default switches), twice
# alternating; CPU decode with the Q8_0 wo_a path on/off (GDS_WOA_Q8), twice; test-ops -b vulkan; tiny-a on
# Vulkan; test-ops -b cpu -o mul_mat -p f (AMX level: the vdpbf16ps BF16 tile and Q8_0 x bf16 on Intel); CPU pp512
# GDS_BF16_DP A/B. Carry .debs .gl .head.
. tools/device/gpu-env.sh
( make -j5 -k build/bin/gds-bench build/bin/gds-convert build/bin/test-ops "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head ) &
( make -j6 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-run "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep "Model name"
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null
el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0 -p 0 -n 32 -r 3 --no-split"
tg() { awk -F'|' '/tg32/ { split($6, a, " "); print a[1] }'; }
for i in 1 2; do
    echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda 2>/dev/null | tg)"
    echo "vulkan tg32 $(timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan 2>/dev/null | tg)"
done
el gpu-tg
for e in GDS_WOA_Q8=1 GDS_WOA_Q8=0 GDS_WOA_Q8=1 GDS_WOA_Q8=0; do
    env $e timeout 45 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 3 --bw-mib 256 2>/dev/null | awk -F'|' -v e="$e" '/tg32/ { n++; if (n == 1) printf "cpu tg32 %s: %s %s", e, $6, $8; if (n == 2) printf " layers %s ms %s head %s\n", $3, $6, $9 }'
done
el cpu-woa
timeout 70 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; tail -1 /tmp/to-vk.txt
BUILD=build/vulkan timeout 60 sh tests/test-vulkan-model.sh 2>&1 | tail -1
timeout 60 build/bin/test-ops -b cpu -o mul_mat -p f > /tmp/to-cpu.txt 2>&1; grep -E "FAIL" /tmp/to-cpu.txt | cut -c1-150 | head -5; tail -1 /tmp/to-cpu.txt | sed "s/^/cpu mul_mat -p f (amx level incl.) /"
el tests
for e in GDS_BF16_DP=1 GDS_BF16_DP=0 GDS_BF16_DP=1 GDS_BF16_DP=0; do
    env $e timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 0 -r 1 --bw-mib 0 2>/dev/null | awk -F'|' -v e="$e" '/pp512/ { print "cpu pp512", e, $6 }'
done
el cpu-pp
