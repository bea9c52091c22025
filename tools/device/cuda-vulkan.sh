#!/bin/bash
# device call: CUDA (test-ops incl. the per-M bit identity, tiny-a paths, f4q decode/prefill,
# per-node profile, hybrid split) and Vulkan on the H100 (NVIDIA's driver through the loader in
# .gl: test-ops -b vulkan, tiny-a, f4q decode beside CUDA); CPU amx vs avx512 expert mat-vecs.
. tools/device/gpu-env.sh
( make -j4 -k build/bin/gds-bench build/bin/gds-convert "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
( make -j6 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/test-model build/vulkan/bin/gds-bench "$F" "$G" > $OUT/build-vk.log 2>&1 || grep -E "error" $OUT/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/test-model build/cuda/bin/gds-bench "$F" "$G" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head
wait; el build
( [ -f /tmp/f4q.gguf ] || build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 150 build/cuda/bin/test-ops -b cuda > $OUT/test-ops-cuda.txt 2>&1; grep -E "FAIL" $OUT/test-ops-cuda.txt | cut -c1-160 | head -8; tail -1 $OUT/test-ops-cuda.txt; el test-ops-cuda
GDS_TEST_BACKEND=cuda BUILD=build/cuda timeout 100 sh tests/test-model.sh > $OUT/test-model-cuda.txt 2>&1; grep -E "FAIL|bit|passed" $OUT/test-model-cuda.txt | cut -c1-160 | head -14; el tiny-cuda
timeout 150 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep -E "FAIL|device|vulkan:" $OUT/test-ops-vk.txt | cut -c1-160 | head -8; tail -1 $OUT/test-ops-vk.txt; el test-ops-vk
GDS_TEST_BACKEND=vulkan BUILD=build/vulkan timeout 100 sh tests/test-model.sh > $OUT/test-model-vk.txt 2>&1; grep -E "FAIL|passed" $OUT/test-model-vk.txt | cut -c1-160 | head -8; el tiny-vk
wait; el convert
timeout 90 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 2048 -n 64 -r 3 -t 16 --bw-mib 0 2>/dev/null | grep -E "pp2048|tg64"; el cuda
timeout 90 build/vulkan/bin/gds-bench -m /tmp/f4q.gguf --backend vulkan -p 512 -n 32 -r 3 -t 16 --bw-mib 0 2>$OUT/bench-vk.err | grep -E "pp512|tg32"; tail -2 $OUT/bench-vk.err; el vulkan
GDS_PROF=1 timeout 60 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 0 -n 16 -r 1 -t 16 --bw-mib 0 --no-split > $OUT/prof-cuda.txt 2>&1; grep -B2 -A24 "ms .*calls" $OUT/prof-cuda.txt | cut -c1-110 | head -30; el prof-cuda
GDS_PROF=1 timeout 90 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda --cpu-moe -p 0 -n 32 -r 2 -t 16 --bw-mib 0 --no-split 2>&1 | grep -E "tg32|GDS_PROF sched"; el hybrid
for s in amx avx512; do GDS_CPU_SIMD=$s GDS_PROF=1 timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -n 32 -s 4 --streams-only -r 1 --bw-mib 0 2>&1 | grep -E "^\| [0-9]|exps|output.weight" | cut -c1-100 | sed "s/^/$s /"; done; el simd
