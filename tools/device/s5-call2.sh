#!/bin/bash
# device call 2 of session 5: tools/device/vk-ab.sh (Vulkan mat-vec variants beside CUDA), then the
# CPU build and tools/device/s5-streams.sh (issue 10: GDS_MM_AMX_MIN=8 vs 2, two rounds). Carry .debs .gl .head.
. tools/device/vk-ab.sh
make -j16 -k build/bin/gds-bench "$F" "$G" > /tmp/build.log 2>&1 || grep error /tmp/build.log | head; el cpu-build
ROUNDS="1 2" . tools/device/s5-streams.sh
