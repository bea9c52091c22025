#!/bin/bash
# device call: the session's closing checks. CPU (new vs .base = 51aab9f): test-ops perf of the dense
# and expert products incl. 4 columns (tile threshold 2 vs 8), streams 1/4, bench; CUDA and Vulkan:
# test-ops, tiny-a, f4q decode side by side. Runs from .head (git archive HEAD) when carried.
. tools/device/gpu-env.sh
P="build/bin/test-model build/bin/gds-convert build/bin/gds-bench build/bin/test-ops"
( make -j3 -k build/bin/gds-bench build/bin/gds-convert build/bin/test-ops "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( cd .base && make -j2 -k build/bin/gds-bench build/bin/test-ops "$F" "$G" > $OUT/build-base.log 2>&1 || grep error $OUT/build-base.log | head ) &
( make -j4 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator ${P//build/build\/vulkan} "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j7 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" ${P//build/build\/cuda} "$F" "$G" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
( [ -f /tmp/f4q.gguf ] || build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 60 build/cuda/bin/test-ops -b cuda 2>&1 | tail -1; timeout 60 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep FAIL $OUT/test-ops-vk.txt | cut -c1-140 | head -5; tail -1 $OUT/test-ops-vk.txt; el test-ops
for b in cuda vulkan; do GDS_TEST_BACKEND=$b BUILD=build/$b timeout 100 sh tests/test-model.sh > $OUT/tm-$b.txt 2>&1; grep -E "FAIL|passed" $OUT/tm-$b.txt | cut -c1-140 | head -6 | sed "s/^/$b: /"; done; el tiny
for t in 2 8; do GDS_MM_TILE_MIN=$t timeout 60 build/bin/test-ops perf -o mul_mat -t 16 2>&1 | grep -E "x\[4096,4\]|x\[4096,512\]|read bandwidth" | cut -c1-110 | sed "s/^/new tmin=$t /"; done
timeout 60 .base/build/bin/test-ops perf -o mul_mat -t 16 2>&1 | grep -E "x\[4096,512\]|read bandwidth" | cut -c1-110 | sed "s/^/base /"; el perf
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
for i in 1; do timeout 70 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/new /"
  timeout 70 .base/build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/base /"; done; el streams
timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 32 -r 3 --bw-mib 1024 2>/dev/null | grep -E "^\| (f4q|tg)"; el bench
timeout 50 build/cuda/bin/gds-bench $B --backend cuda -p 2048 -n 32 -r 3 2>/dev/null | grep -E "pp2048|tg32" | sed "s/^/cuda /"
timeout 60 build/vulkan/bin/gds-bench $B --backend vulkan -p 512 -n 32 -r 3 2>/dev/null | grep -E "pp512|tg32" | sed "s/^/vulkan /"; el gpus
