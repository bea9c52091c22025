#!/bin/bash
# device call (session 7; ~8 min at most): the committed tree (.head). Priority order: builds; f4q decode CUDA vs
# Vulkan default and a few Vulkan A/B switches, CUDA again; the CUDA decode profile; test-ops -b vulkan and tiny-a on
# Vulkan; test-ops -b cpu -o mul_mat (AMX level, the vdpbf16ps BF16 tile on Sapphire Rapids); CPU pp512 with the BF16
# tile's vdpbf16ps path on/off (GDS_BF16_DP=0), tg32, the decode profile with barriers. Carry .debs .gl .head.
. tools/device/gpu-env.sh
( make -j5 -k build/bin/gds-bench build/bin/gds-run build/bin/gds-convert build/bin/test-ops "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head ) &
( make -j6 -k VULKAN=1 GLSLANG=$R/usr/bin/glslangValidator build/vulkan/bin/test-ops build/vulkan/bin/gds-bench build/vulkan/bin/gds-run "$F" "$G" > /tmp/build-vk.log 2>&1 || grep -E "error" /tmp/build-vk.log | head ) &
make -j6 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/gds-bench "$F" "$G" > /tmp/build-cuda.log 2>&1 || grep -E "error" /tmp/build-cuda.log | head
wait; el build; nvidia-smi --query-gpu=name --format=csv,noheader; lscpu | grep "Model name"
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null
el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
tg() { awk -F'|' '/tg32/ { n++; if (n == 1) ts = $6; if (n == 2) h = $7 } END { split(ts, a, " "); gsub(/ /, "", h); printf "%s (head %s ms)", a[1], h }'; }
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)"
echo "vulkan tg32 $(timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  default"
for e in "GDS_VK_CHUNK=0" "GDS_VK_HC=0" "GDS_VK_MM4=0"; do
    echo "vulkan tg32 $(env $e timeout 30 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  $e"
done
echo "cuda tg32 $(timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  again"
echo "vulkan tg32 $(timeout 40 build/vulkan/bin/gds-bench $B --backend vulkan -p 0 -n 32 -r 3 --no-split 2>/dev/null | tg)  default again"
el gpu-tg
for e in GDS_WOA_Q8=1 GDS_WOA_Q8=0 GDS_WOA_Q8=1 GDS_WOA_Q8=0; do
    env $e timeout 45 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 3 --bw-mib 256 2>/dev/null | awk -F'|' -v e="$e" '/tg32/ { n++; if (n == 1) printf "cpu tg32 %s: %s %s", e, $6, $8; if (n == 2) printf " layers %s ms %s head %s\n", $3, $6, $9 }'
done
el cpu-woa
timeout 70 build/vulkan/bin/test-ops -b vulkan > /tmp/to-vk.txt 2>&1; grep FAIL /tmp/to-vk.txt | cut -c1-150 | head -5; tail -1 /tmp/to-vk.txt
BUILD=build/vulkan timeout 60 sh tests/test-vulkan-model.sh 2>&1 | tail -1
timeout 60 build/bin/test-ops -b cpu -o mul_mat -p f > /tmp/to-cpu.txt 2>&1; grep -E "FAIL" /tmp/to-cpu.txt | cut -c1-150 | head -5; tail -1 /tmp/to-cpu.txt | sed "s/^/cpu mul_mat (amx level incl.) /"
el tests
for e in GDS_BF16_DP=1 GDS_BF16_DP=0 GDS_BF16_DP=1 GDS_BF16_DP=0; do
    env $e timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 0 -r 1 --bw-mib 0 2>/dev/null | awk -F'|' -v e="$e" '/pp512/ { print "cpu pp512", e, $6 }'
done
el cpu-pp
GDS_PROF=1 timeout 30 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 --no-split 2>&1 | grep -A24 "GDS_PROF cuda" | cut -c1-150
el cuda-prof
timeout 60 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 3 --bw-mib 256 2>/dev/null | grep "^|"
for e in GDS_CPU_SERIAL_BYTES=32768 GDS_CPU_SERIAL_BYTES=65536 GDS_CPU_SERIAL_BYTES=131072 GDS_CPU_SERIAL_BYTES=32768 GDS_CPU_SERIAL_BYTES=65536 GDS_CPU_SERIAL_BYTES=131072; do
    env $e timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 3 --bw-mib 256 2>/dev/null | awk -F'|' -v e="$e" '/tg32/ { n++; if (n == 1) printf "cpu tg32 %s: %s %s", e, $6, $8; if (n == 2) printf " layers %s head %s\n", $6, $9 }'
done
el cpu-tg
GDS_PROF=1 timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 1 --bw-mib 256 --no-split 2>&1 | grep -E "^ +[0-9.]+ +[0-9.]+% |^GDS_PROF: " | head -22
el cpu-prof
