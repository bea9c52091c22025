#!/bin/bash
# device call (session 7, ~5 min, CPU only): build; f4q; CPU decode with the Q8_0 wo_a path on/off
# (GDS_WOA_Q8), two alternating rounds (layers and head split); test-ops -b cpu -o mul_mat -p f (AMX level:
# the vdpbf16ps BF16 tile and Q8_0 x bf16 on Intel); CPU pp512 GDS_BF16_DP A/B. Carry .debs .gl .head.
. tools/device/gpu-env.sh
make -j16 build/bin/gds-bench build/bin/gds-convert build/bin/test-ops "$F" "$G" > /tmp/build.log 2>&1 || { grep -E "error" /tmp/build.log | head; tail -5 /tmp/build.log; }
el build; lscpu | grep "Model name"
build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null
el convert
for e in GDS_WOA_Q8=1 GDS_WOA_Q8=0 GDS_WOA_Q8=1 GDS_WOA_Q8=0; do
    env $e timeout 45 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 0 -n 32 -r 3 --bw-mib 256 2>/dev/null | grep -E "tg32" | tr '\n' ' ' | sed "s/^/$e /"; echo
done
el cpu-woa
timeout 60 build/bin/test-ops -b cpu -o mul_mat -p f > /tmp/to-cpu.txt 2>&1; grep -E "FAIL" /tmp/to-cpu.txt | cut -c1-150 | head -5; tail -1 /tmp/to-cpu.txt | sed "s/^/cpu mul_mat -p f (amx level incl.) /"
el tests
for e in GDS_BF16_DP=1 GDS_BF16_DP=0 GDS_BF16_DP=1 GDS_BF16_DP=0; do
    env $e timeout 40 build/bin/gds-bench -m /tmp/f4q.gguf -t 16 -p 512 -n 0 -r 1 --bw-mib 0 2>/dev/null | awk -F'|' -v e="$e" '/pp512/ { print "cpu pp512", e, $6 }'
done
el cpu-pp
