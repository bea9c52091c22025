#!/bin/bash
# device call (session 6, first): s5-final.sh + test-ops -b cuda
# f4q decode CUDA vs Vulkan, Vulkan A/B runs without the head split
# with GDS_VK_CHUNK=0 / GDS_VK_MV_ONE=0 / GDS_VK_HC=0 / GDS_VK_MM4=0 / GDS_VK_MV_L=2|4 (and L=2 with the head on
# mvs.comp: GDS_VK_MV_R=16), the Vulkan profile with its host time; CPU batched
# decode 1/2/4/8 streams with the defaults (issue 10, -r 2), 1/4 again with AGAIN=1. Carry .debs .gl .head.
. tools/device/gpu-env.sh
( make -j5 -k build/bin/gds-bench build/bin/gds-run build/bin/gds-convert build/bin/test-ops "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head ) &
( make -j6 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-run "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench build/cuda/bin/test-ops "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep "Model name"
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 70 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; tail -1 /tmp/to-vk.txt
BUILD=build/vulkan timeout 60 sh tests/test-vulkan-model.sh 2>&1 | tail -1
timeout 100 build/bin/test-ops -b cpu -o mul_mat > /tmp/to-cpu.txt 2>&1; grep FAIL /tmp/to-cpu.txt | cut -c1-150 | head -5; tail -1 /tmp/to-cpu.txt | sed "s/^/cpu mul_mat (amx level incl.) /"
timeout 60 build/cuda/bin/test-ops -b cuda > /tmp/to-cu.txt 2>&1; grep FAIL /tmp/to-cu.txt | cut -c1-150 | head -5; tail -1 /tmp/to-cu.txt
wait; el tests+convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
tg() { awk -F'|' '/tg32/ { n++; if (n == 1) ts = $6; if (n == 2) h = $7 } END { split(ts, a, " "); gsub(/ /, "", h); printf "%s (head %s ms)", a[1], h }'; }
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 2>/dev/null | tg)"
echo "vulkan tg32 $(timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 2>/dev/null | tg)  default"
for e in "GDS_VK_CHUNK=0" "GDS_VK_MV_ONE=0" "GDS_VK_HC=0" "GDS_VK_MM4=0" "GDS_VK_X=default" "GDS_VK_MV_L=2" "GDS_VK_MV_L=4" "GDS_VK_MV_L=2 GDS_VK_MV_R=16"; do
    echo "vulkan tg32 $(env $e timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  $e"
done; el gpu-tg
GDS_VK_PROF=1 GDS_VK_PROF_SKIP=2 timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 16 -r 1 --no-split 2>&1 |
    awk '/^vulkan (profile \(|host)/ { print } /profile by node/ { n = 21 } n > 0 { print; n-- }' | cut -c1-150
el prof
# CPU (issue 9): per-core kernel rates (hot L2 and from DRAM, 1 thread; kb.c carried in .head/.head-extra if present),
# test-ops perf mat-vec rates at 16 threads (amx and avx512 levels), the decode profile by node at 16 threads
if [ -f .head-extra/kb.c ]; then
    cc -std=c11 -O2 -march=native -Iggml-ds/include -Iggml-ds/src -Ibackends/cpu -o /tmp/kb .head-extra/kb.c build/libgds.a -fopenmp -lm -L$L -Wl,-rpath,$L -lhwloc -lnuma 2>&1 | head -3
    /tmp/kb 256 400 | sed "s/^/kb /"; /tmp/kb 65536 2 | sed "s/^/kb /"
fi
for s in best avx512; do timeout 60 build/bin/test-ops perf -o mul_mat -t 16 $([ $s = best ] || echo -s $s) 2>&1 | grep -E "read bandwidth|x\[4096,1\]|x\[4096,4\]" | cut -c1-140 | sed "s/^/perf $s /"; done
timeout 40 build/bin/test-ops perf -o mul_mat_id -t 16 2>&1 | grep -E "ids\[6,1\]" | cut -c1-140 | sed "s/^/perf amx /"
C="-m /tmp/f4q.gguf -t 16 --bw-mib 256 -p 0 -n 32 -r 3"
for e in GDS_X=1 GDS_MXFP4_MV=512 GDS_X=1 GDS_MXFP4_MV=512; do
    env $e timeout 40 build/bin/gds-bench $C 2>/dev/null | awk -F'|' -v e="$e" '/tg32/ { n++; if (n == 1) printf "cpu tg32 %s: %s %s", e, $6, $8; if (n == 2) printf " layers %s head %s\n", $6, $9 }'
done
GDS_PROF=1 timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 1 2>&1 | grep -E "^ +[0-9.]+ +[0-9.]+% |tg32|read bandwidth [0-9]" | head -30
el cpu
