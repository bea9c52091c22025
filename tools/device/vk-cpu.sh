#!/bin/bash
# device call: tools/device/vulkan-speed.sh (Vulkan vs CUDA decode, profile), then the CPU's
# multi-column mat-vec for batched decode (GDS_MM_VN=8 vs 0): per op with 4 columns, 1/4 streams
bash tools/device/vulkan-speed.sh
cd .head 2>/dev/null; R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
lscpu | grep -E "Model name|^CPU\(s\)|Thread|Socket|NUMA node\(s\)|MHz"
make -j16 build/bin/gds-bench build/bin/test-ops "CFLAGS=-I$R/usr/include" "LDFLAGS=-L$L -Wl,-rpath,$L" > /tmp/build-cpu.log 2>&1 || grep error /tmp/build-cpu.log | head
for v in 8 0; do GDS_MM_VN=$v timeout 60 build/bin/test-ops perf -t 16 -p "x[4096,4]" | grep -E "^mul_mat .*(q8_0|bf16)" | cut -c1-110 | sed "s/^/vn=$v /"; done
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
for v in 8 0 8 0; do GDS_MM_VN=$v timeout 70 build/bin/gds-bench $B -n 32 -s 1,4 --streams-only -r 3 2>/dev/null | grep -E "^\| [0-9]" | cut -d'|' -f2-6 | sed "s/^/vn=$v /"; done
