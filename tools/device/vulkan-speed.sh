#!/bin/bash
# device call (<= 5 min): issue 13, Vulkan decode speed on the H100 beside CUDA in the same call.
# Builds (Vulkan from the carried .gl/.debs, CUDA sm_90, the CPU converter), test-ops -b vulkan,
# tiny-a on vulkan (bit-identical to the scalar CPU), the f4q file (4 layers, Q8_0 dense, MXFP4
# experts, BF16 head): gds-bench tg32 x3 on cuda and on vulkan, vulkan with the previous BF16/F16
# mat-vec (GDS_VK_MV_R=0: matvec.comp instead of the staged mvstage.comp) for the A/B, then a
# GDS_VK_PROF=1 decode profile without the warm-up (GDS_VK_PROF_SKIP=2; per op and per GDS_PROF
# key, us per call). Writes 5 files under $OUT (build.log, test-ops-vk.txt, tiny-vk.txt, bench.txt,
# prof-vk.txt). Carry .debs, .gl and .head (git archive HEAD without tests/fixtures), as
# vulkan-numa-last.sh.
. tools/device/gpu-env.sh
( make -j6 -k build/bin/gds-convert build/bin/gds-run "$F" "$G" > /tmp/build-cpu.log 2>&1 || grep error /tmp/build-cpu.log | head ) &
( make -j4 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench \
    build/vulkan/bin/gds-run "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j8 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 \
  || grep -E "error" /tmp/build-cuda.log | head
wait; cat /tmp/build-cpu.log /tmp/build-vk.log /tmp/build-cuda.log > $OUT/build.log; el build
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 \
    -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 100 build/vulkan/bin/test-ops -b vulkan > $OUT/test-ops-vk.txt 2>&1; grep FAIL $OUT/test-ops-vk.txt | cut -c1-200 | head -8
tail -1 $OUT/test-ops-vk.txt; el test-ops-vk
BUILD=build/vulkan timeout 60 sh tests/test-vulkan-model.sh > $OUT/tiny-vk.txt 2>&1; tail -4 $OUT/tiny-vk.txt; el tiny-vk
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0 -p 0 -n 32 -r 3"
bench() { # bench NAME BACKEND [ENV=VALUE ...]: tg32 x3, the table row on stdout, the output appended to bench.txt
    n=$1; b=$2; shift 2; echo "=== $n: $* $b" >> $OUT/bench.txt
    env "$@" timeout 35 build/$b/bin/gds-bench $B --backend $b > /tmp/bench.txt 2>&1; cat /tmp/bench.txt >> $OUT/bench.txt
    grep -E "tg32" /tmp/bench.txt | cut -d'|' -f2-9 | sed "s/^/$n /"; grep -iE "error|fail" /tmp/bench.txt | head -2; el $n
}
bench cuda cuda
bench vulkan vulkan GDS_VK_MV_R=16
bench vulkan-mvr0 vulkan GDS_VK_MV_R=0
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 40 build/vulkan/bin/gds-bench -m /tmp/f4q.gguf -t 16 --bw-mib 0 -p 0 -n 16 -r 1 \
  --backend vulkan --no-split > $OUT/prof-vk.txt 2>&1
grep -A 26 "^vulkan profile (" $OUT/prof-vk.txt | head -27; grep -A 40 "profile by node" $OUT/prof-vk.txt | head -41; el prof
