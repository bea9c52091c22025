#!/bin/bash
# device call (session 5, last ~150 s): Vulkan vs CUDA decode on f4q with the Vulkan A/B switches, test-ops -b vulkan.
. tools/device/gpu-env.sh
( make -j8 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-convert "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; nvidia-smi --query-gpu=name --format=csv,noheader
( build/vulkan/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 40 build/vulkan/bin/test-ops -b vulkan 2>&1 | tail -1
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0 -p 0 -n 32 -r 3 --no-split"
t() { awk -F'|' '/tg32/ { split($6, a, " "); print a[1]; exit }'; }
echo "cuda $(timeout 20 build/cuda/bin/gds-bench $B --backend cuda 2>/dev/null | t)"
for e in "GDS_VK_X=default" "GDS_VK_CHUNK=0" "GDS_VK_MV_ONE=0" "GDS_VK_HC=0" "GDS_VK_MM4=0" "GDS_VK_X=default"; do
    echo "vulkan $(env $e timeout 20 build/vulkan/bin/gds-bench $B --backend vulkan 2>/dev/null | t)  $e"
done; el tg
echo "cuda $(timeout 20 build/cuda/bin/gds-bench $B --backend cuda 2>/dev/null | t)"
