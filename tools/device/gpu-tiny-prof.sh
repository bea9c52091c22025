#!/bin/bash
# device call: tiny-a end to end on CUDA and on Vulkan (all paths, bit identity), Vulkan per-op
# profile of f4q decode (GDS_VK_PROF=1), CUDA prefill at 2048 and 512
. tools/device/gpu-env.sh
P="build/bin/test-model build/bin/gds-convert build/bin/gds-run build/bin/gds-bench"
( make -j4 -k build/bin/gds-convert "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( make -j6 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator ${P//build/build\/vulkan} "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" ${P//build/build\/cuda} "$F" "$G" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
( [ -f /tmp/f4q.gguf ] || build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
for b in cuda vulkan; do GDS_TEST_BACKEND=$b BUILD=build/$b timeout 120 sh tests/test-model.sh > $OUT/test-model-$b.txt 2>&1; grep -E "FAIL|bit|vs logits|passed" $OUT/test-model-$b.txt | cut -c1-150 | head -24 | sed "s/^/$b: /"; el tiny-$b; done
wait; el convert
GDS_VK_PROF=1 timeout 60 build/vulkan/bin/gds-bench -m /tmp/f4q.gguf --backend vulkan -p 0 -n 8 -r 1 -t 16 --bw-mib 0 --no-split > $OUT/prof-vk.txt 2>&1; grep -iE -A30 "GDS_VK_PROF|ms .*calls" $OUT/prof-vk.txt | cut -c1-120 | head -40; el prof-vk
timeout 60 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 512,2048 -n 0 -r 3 -t 16 --bw-mib 0 2>/dev/null | grep -E "pp"; el cuda-pp
