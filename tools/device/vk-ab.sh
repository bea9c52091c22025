#!/bin/bash
# device call (issue 13): Vulkan one-token decode A/B on f4q beside CUDA in the same call.
# BF16/F16 mat-vec: mvs.comp (default; rows per workgroup GDS_VK_MV_R, slabs in flight
# GDS_VK_MV_PF) against matvec.comp (GDS_VK_MV_V=0, threads per row GDS_VK_MV_T), the params
# in device memory (default) or host memory (GDS_VK_PARAMS_HOST=1: as before), diagnostics
# GDS_VK_MV_DIAG=1 (loads only) / 2 (loads + staging, no chains): wrong logits, timing only.
# test-ops -b vulkan (full, default) and -o mul_mat for the other mappings; the profile
# of the fastest setting and the mat-vec nodes under DIAG=1. Carry .debs .gl .head. <= 5 min.
. tools/device/gpu-env.sh
( make -j8 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-convert "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; git log -1 --format=%h 2>/dev/null; nvidia-smi --query-gpu=name --format=csv,noheader
( build/vulkan/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 70 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; echo "test-ops default: $(tail -1 /tmp/to-vk.txt)"
for e in "GDS_VK_MV_R=16 GDS_VK_MV_PF=1" "GDS_VK_MV_R=4 GDS_VK_MV_PF=8" "GDS_VK_MV_V=0 GDS_VK_MV_T=16"; do
    echo "test-ops mul_mat $e: $(env $e timeout 25 build/vulkan/bin/test-ops -b vulkan -o mul_mat 2>&1 | tail -1)"
done
wait; el tests+convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
# "t/s (head ms)" of a gds-bench tg32 run: the median of the first table, the head column of the second
tg() { awk -F'|' '/tg32/ { n++; if (n == 1) ts = $6; if (n == 2) h = $7 } END { split(ts, a, " "); gsub(/ /, "", h); printf "%s (head %s ms)", a[1], h }'; }
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | tg)"
best=""; bestv=0
for e in "GDS_VK_MV_V=0 GDS_VK_MV_T=8 GDS_VK_PARAMS_HOST=1" "GDS_VK_MV_V=0 GDS_VK_MV_T=8" "GDS_VK_PARAMS_HOST=1" "GDS_VK_MV_X=default" \
         "GDS_VK_MV_V=0 GDS_VK_MV_T=16" "GDS_VK_MV_R=16 GDS_VK_MV_PF=1" "GDS_VK_MV_R=16 GDS_VK_MV_PF=4" "GDS_VK_MV_R=8" "GDS_VK_MV_R=4 GDS_VK_MV_PF=8" \
         "GDS_VK_MV_DIAG=1" "GDS_VK_MV_DIAG=2"; do
    o=$(env $e timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | tg); v=${o%% *}
    echo "vulkan tg32 $o  $e"
    case "$e" in *DIAG*) ;; *) if awk "BEGIN { exit !(${v:-0} > $bestv) }"; then best="$e"; bestv=$v; fi ;; esac
done; el gpu-tg
echo "== profile, best: $best ($bestv t/s)"
env $best GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 |
    awk '/^vulkan profile \(/ { print } /profile by node/ { n = 22 } n > 0 { print; n-- }' | cut -c1-150
echo "== profile DIAG=1 (loads only), mat-vec nodes"
env $best GDS_VK_MV_DIAG=1 GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 |
    grep -E "profile \(|bf16" | cut -c1-150 | head -14; el prof
true
