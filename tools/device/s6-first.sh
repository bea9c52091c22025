#!/bin/bash
# device call (session 6, first; ~9 min at most): the committed tree. Priority order: builds; f4q decode CUDA vs
# Vulkan default and the Vulkan A/B switches (GDS_VK_CHUNK=0 / MV_ONE=0 / HC=0 / MM4=0 / MV_L=2 / DSCACHE=1, default again),
# the Vulkan profile with its host time; test-ops -b vulkan and tiny-a on Vulkan; test-ops -b cpu -o mul_mat -p mxfp4
# (the AMX level's MXFP4 MUL_MAT with 2-7 columns, the canonical kernels' bit check); CPU: per-core kernel rates
# (tools/device/kb.c), tg32 A/B: GDS_MXFP4_MV=512, a build with the software prefetch as before 2026-12-07 (GDS_X=pf1: -DGDS_PF_HINT=_MM_HINT_T0 -DGDS_PF_AHEAD=0), GDS_CPU_BARRIER_GROUP=4, the
# 16-thread decode profile. Carry .debs .gl .head. Output is also in $OUT/log.txt if run with tee.
. tools/device/gpu-env.sh
( make -j5 -k build/bin/gds-bench build/bin/gds-run build/bin/gds-convert build/bin/test-ops "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head ) &
( make -j6 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-run "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
( make -j3 -k BUILD=build/pf1 CFLAGS="-I$R/usr/include -DGDS_PF_HINT=_MM_HINT_T0 -DGDS_PF_AHEAD=0" "$G" build/pf1/bin/gds-bench > /tmp/build-pf1.log 2>&1 || grep error /tmp/build-pf1.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench build/cuda/bin/test-ops "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep "Model name"
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null
el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
tg() { awk -F'|' '/tg32/ { n++; if (n == 1) ts = $6; if (n == 2) h = $7 } END { split(ts, a, " "); gsub(/ /, "", h); printf "%s (head %s ms)", a[1], h }'; }
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | tg)"
echo "vulkan tg32 $(timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | tg)  default"
for e in "GDS_VK_CHUNK=0" "GDS_VK_MV_ONE=0" "GDS_VK_HC=0" "GDS_VK_MM4=0" "GDS_VK_MV_L=2" "GDS_VK_DSCACHE=1" "GDS_VK_X=default"; do
    echo "vulkan tg32 $(env $e timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  $e"
done
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  again"
el gpu-tg
GDS_PROF=1 timeout 30 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 --no-split 2>&1 | grep -A22 "GDS_PROF cuda" | cut -c1-150
el cuda-prof
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 |
    awk '/^vulkan (profile \(|host)/ { print } /profile by node/ { n = 16 } n > 0 { print; n-- }' | cut -c1-150
el prof
timeout 70 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; tail -1 /tmp/to-vk.txt
BUILD=build/vulkan timeout 60 sh tests/test-vulkan-model.sh 2>&1 | tail -1
timeout 40 build/bin/test-ops -b cpu -o mul_mat -p mxfp4 > /tmp/to-cpu.txt 2>&1; grep -E "FAIL|SKIP" /tmp/to-cpu.txt | cut -c1-150 | head -5; tail -1 /tmp/to-cpu.txt | sed "s/^/cpu mul_mat mxfp4 (amx level incl.) /"
el tests
if [ -f tools/device/kb.c ]; then
    cc -std=c11 -O2 -march=native -Iggml-ds/include -Iggml-ds/src -Ibackends/cpu -o /tmp/kb tools/device/kb.c build/libgds.a -fopenmp -lm -L$L -Wl,-rpath,$L -lhwloc -lnuma 2>&1 | grep -v GNU_SOURCE | head -3
    /tmp/kb 256 400 | sed "s/^/kb /"; /tmp/kb 65536 2 | sed "s/^/kb /"
fi
C="-m /tmp/f4q.gguf -t 16 --bw-mib 256 -p 0 -n 32 -r 3"
for e in GDS_X=1 GDS_MXFP4_MV=512 GDS_X=pf1 GDS_CPU_BARRIER_GROUP=4 GDS_X=1 GDS_MXFP4_MV=512 GDS_X=pf1 GDS_CPU_BARRIER_GROUP=4; do
    bin=build/bin/gds-bench; [ $e = GDS_X=pf1 ] && bin=build/pf1/bin/gds-bench
    env $e timeout 40 $bin $C 2>/dev/null | awk -F'|' -v e="$e" '/tg32/ { n++; if (n == 1) printf "cpu tg32 %s: %s %s", e, $6, $8; if (n == 2) printf " layers %s head %s\n", $6, $9 }'
done
el cpu-tg
GDS_PROF=1 timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 1 --bw-mib 256 2>&1 | grep -E "^ +[0-9.]+ +[0-9.]+% |tg32|^GDS_PROF: " | head -26
el cpu
GDS_PROF=1 timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 0 -r 2 --bw-mib 256 2>&1 | grep -E "^ +[0-9.]+ +[0-9.]+% |pp512" | head -16 | sed "s/^/pp /"
el cpu-pp
