#!/bin/bash
# device call (<= 8 min): issue 13, Vulkan decode speed on the H100 beside CUDA in the same call.
# Builds (Vulkan from the carried .gl/.debs, CUDA sm_90, the CPU converter), test-ops -b vulkan,
# tiny-a on vulkan (bit-identical to the scalar CPU), the f4q file (4 layers, Q8_0 dense, MXFP4
# experts, BF16 head): gds-bench tg32 x3 on cuda and on vulkan, vulkan with the old BF16 mat-vec
# (GDS_VK_MV_T=0: matmul.comp) for the head A/B, then a GDS_VK_PROF=1 decode profile without the
# warm-up (GDS_VK_PROF_SKIP=2; per op and per GDS_PROF key, us per call). Carry .debs, .gl and
# .head (git archive HEAD without tests/fixtures), as vulkan-numa-last.sh.
. tools/device/gpu-env.sh
( make -j6 -k build/bin/gds-convert build/bin/gds-run "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( make -j4 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench \
    build/vulkan/bin/gds-run "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > $OUT/build-cuda.log 2>&1 \
  || grep -E "error" $OUT/build-cuda.log | head
wait; el build
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 \
    -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 150 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep FAIL $OUT/test-ops-vk.txt | cut -c1-200 | head -8
tail -1 $OUT/test-ops-vk.txt; el test-ops-vk
BUILD=build/vulkan timeout 100 sh tests/test-vulkan-model.sh > $OUT/tiny-vk.txt 2>&1; tail -4 $OUT/tiny-vk.txt; el tiny-vk
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0 -p 0 -n 32 -r 3"
timeout 40 build/cuda/bin/gds-bench $B --backend cuda > $OUT/bench-cuda.txt 2>&1
grep -E "tg32" $OUT/bench-cuda.txt | cut -d'|' -f2-9 | sed "s/^/cuda /"; el cuda
timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan > $OUT/bench-vk.txt 2>&1
grep -E "tg32" $OUT/bench-vk.txt | cut -d'|' -f2-9 | sed "s/^/vulkan /"; tail -2 $OUT/bench-vk.txt | grep -iE "error|fail"; el vulkan
GDS_VK_MV_T=0 timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan > $OUT/bench-vk-mv0.txt 2>&1
grep -E "tg32" $OUT/bench-vk-mv0.txt | cut -d'|' -f2-9 | sed "s/^/vulkan-mv0 /"; el vulkan-mv0
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 60 build/vulkan/bin/gds-bench -m /tmp/f4q.gguf -t 16 --bw-mib 0 -p 0 -n 16 -r 1 \
  --backend vulkan --no-split > $OUT/prof-vk.txt 2>&1
grep -A 26 "^vulkan profile (" $OUT/prof-vk.txt | head -27; grep -A 40 "profile by node" $OUT/prof-vk.txt | head -41; el prof
timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan > $OUT/bench-vk2.txt 2>&1
grep -E "tg32" $OUT/bench-vk2.txt | cut -d'|' -f2-9 | sed "s/^/vulkan-again /"; el done
