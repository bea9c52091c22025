#!/bin/bash
# device call (issue 13): Vulkan one-token decode on f4q beside CUDA in the same call, A/B of
# HC_COMB in one dispatch (hcc.comp, default; GDS_VK_HC=0: hc.comp's two passes) and MXFP4
# activations as e4m3_x9 integers for the mat-vec (default; GDS_VK_MM4=0: packed e4m3 codes
# decoded per weight row). test-ops -b vulkan (full, default) and -o hc_comb / mul_mat_id with
# the switches off; the profile of the default and the hc_comb / mxfp4 nodes with both off.
# Measures COMMITTED code (gpu-env.sh: .head). Carry .debs .gl .head. <= 4 min.
. tools/device/gpu-env.sh
( make -j8 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-convert "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; git log -1 --format=%h 2>/dev/null; nvidia-smi --query-gpu=name --format=csv,noheader
( build/vulkan/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 70 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; echo "test-ops default: $(tail -1 /tmp/to-vk.txt)"
echo "test-ops hc_comb GDS_VK_HC=0: $(GDS_VK_HC=0 timeout 20 build/vulkan/bin/test-ops -b vulkan -o hc_comb 2>&1 | tail -1)"
echo "test-ops mul_mat_id GDS_VK_MM4=0: $(GDS_VK_MM4=0 timeout 25 build/vulkan/bin/test-ops -b vulkan -o mul_mat_id 2>&1 | tail -1)"
wait; el tests+convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
# "t/s (head ms)" of a gds-bench tg32 run: the median of the first table, the head column of the second
tg() { awk -F'|' '/tg32/ { n++; if (n == 1) ts = $6; if (n == 2) h = $7 } END { split(ts, a, " "); gsub(/ /, "", h); printf "%s (head %s ms)", a[1], h }'; }
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | tg)"
for e in "GDS_VK_X=default" "GDS_VK_HC=0" "GDS_VK_MM4=0" "GDS_VK_HC=0 GDS_VK_MM4=0" "GDS_VK_X=default-again"; do
    echo "vulkan tg32 $(env $e timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | tg)  $e"
done; el gpu-tg
echo "== profile, default"
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 |
    awk '/^vulkan profile \(/ { print } /profile by node/ { n = 23 } n > 0 { print; n-- }' | cut -c1-150
echo "== profile GDS_VK_HC=0 GDS_VK_MM4=0: hc_comb, mxfp4 and q8_0 nodes"
GDS_VK_HC=0 GDS_VK_MM4=0 GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 |
    grep -E "profile \(|hc_comb|mxfp4|q8_0" | cut -c1-150 | head -16; el prof
true
