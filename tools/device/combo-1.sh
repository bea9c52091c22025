#!/bin/bash
# device call: CUDA (new kernels vs GDS_CUDA_MV/WQ/RN=0 fallbacks), Vulkan beside it, and the CPU's
# multi-column mat-vec for batched decode (GDS_MM_VN=8 vs 0, per op and 1/4 streams) in one call
. tools/device/gpu-env.sh
( make -j5 -k build/bin/gds-convert build/bin/gds-bench build/bin/test-ops "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( make -j5 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/gds-bench "$F" "$G" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 90 build/cuda/bin/test-ops -b cuda > $OUT/test-ops-cuda.txt 2>&1; grep FAIL $OUT/test-ops-cuda.txt | cut -c1-160 | head -6; tail -1 $OUT/test-ops-cuda.txt
timeout 60 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep FAIL $OUT/test-ops-vk.txt | cut -c1-160 | head -6; tail -1 $OUT/test-ops-vk.txt; el test-ops
for v in 8 0; do GDS_MM_VN=$v timeout 60 build/bin/test-ops perf -t 16 -p "x[4096,4]" | grep -E "^mul_mat " | cut -c1-110 | sed "s/^/vn=$v /"; done; el perf
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
cu() { env "${@:2}" timeout 60 build/cuda/bin/gds-bench $B -p 2048 -n 32 -r 3 --backend cuda > $OUT/bench-$1.txt 2>&1; grep -E "pp2048|tg32" $OUT/bench-$1.txt | cut -d'|' -f5-7 | sed "s/^/$1 /"; }
cu cuda-new GDS_X=1; cu cuda-old GDS_CUDA_MV=0 GDS_CUDA_WQ=0 GDS_CUDA_RN=0; cu cuda-mv0 GDS_CUDA_MV=0
timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-7 | sed "s/^/vulkan /"
cu cuda-new2 GDS_X=1; el gpu-bench
GDS_PROF=1 timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 --no-split > $OUT/prof-cuda.txt 2>&1
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split > $OUT/prof-vk.txt 2>&1; el gpu-prof
for i in 1 2; do for v in 8 0; do GDS_MM_VN=$v timeout 70 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/vn=$v /"; done; done; el streams
GDS_PROF=1 timeout 60 build/bin/gds-bench $B -n 32 -s 4 --streams-only -r 1 > $OUT/prof-s4.txt 2>&1; el prof-s4
timeout 70 build/cuda/bin/gds-bench $B --backend cuda --cpu-moe -p 0 -n 32 -r 3 2>/dev/null | grep -E "tg32" | cut -d'|' -f5-7 | sed "s/^/hybrid /"; el hybrid
