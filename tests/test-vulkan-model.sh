#!/bin/sh
# tests/test-vulkan-model.sh - tiny-a end to end on the Vulkan backend (issue 13; CI: lavapipe).
# The fixture converted three ways (default: F8 dense; --compat llama.cpp: Q8_0 dense and MXFP4
# experts; --dense bf16), 12 positions: 6 by prefill, 6 through the decode path one token at a time.
# The logits of every position must equal, bit for bit, those of the CPU's scalar kernels
# (GDS_CPU_SIMD=scalar), whose summation orders the shaders follow (backends/vulkan/vulkan-backend.c);
# tests/test-model.sh holds the CPU's logits to DeepSeek's reference (issue 4's bounds).
#   BUILD=build/vulkan sh tests/test-vulkan-model.sh
# Ends with "test-vulkan-model: N passed, M failed" (a missing Vulkan device: SKIP).
BUILD=${BUILD:-build/vulkan}
CPU=${CPU_BUILD:-build}
FIX=${FIXTURES:-tests/fixtures/tiny-a}
pass=0; fail=0
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
for b in "$BUILD/bin/gds-run" "$CPU/bin/gds-run" "$CPU/bin/gds-convert"; do
    [ -x "$b" ] || { echo "FAIL: $b not built"; echo "test-vulkan-model: 0 passed, 1 failed"; exit 1; }
done
IDS="1 5 9 200 17 33 64 2 8 100 7 3"
for conv in default compat bf16; do
    case $conv in
        default) opt="" ;;
        compat) opt="--compat llama.cpp" ;;
        bf16) opt="--dense bf16" ;;
    esac
    # shellcheck disable=SC2086
    if ! "$CPU/bin/gds-convert" "$FIX" $opt -o "$t/m.gguf" >"$t/log" 2>&1; then
        echo "FAIL: gds-convert $opt: $(tail -1 "$t/log")"; fail=$((fail + 1)); continue
    fi
    if ! "$BUILD/bin/gds-run" -m "$t/m.gguf" --backend vulkan --prompt-ids "$IDS" --decode-from 6 --logits "$t/vk.f32" -t 2 >"$t/log" 2>&1; then
        if grep -qiE "no (vulkan )?device|no Vulkan|vkCreateInstance|ERROR_INCOMPATIBLE_DRIVER" "$t/log"; then
            echo "SKIP: no Vulkan device ($(tail -1 "$t/log"))"; echo "test-vulkan-model: 0 passed, 0 failed, 1 skipped"; exit 0
        fi
        echo "FAIL: gds-run --backend vulkan ($conv): $(tail -2 "$t/log" | tr '\n' ' ')"; fail=$((fail + 1)); continue
    fi
    GDS_CPU_SIMD=scalar "$CPU/bin/gds-run" -m "$t/m.gguf" --prompt-ids "$IDS" --decode-from 6 --logits "$t/cpu.f32" -t 2 >"$t/log" 2>&1 ||
        { echo "FAIL: gds-run scalar CPU ($conv)"; fail=$((fail + 1)); continue; }
    n=$(wc -c <"$t/vk.f32")
    if [ "$n" -gt 0 ] && [ "$n" = "$(wc -c <"$t/cpu.f32")" ] && cmp -s "$t/vk.f32" "$t/cpu.f32"; then
        echo "  tiny-a ($conv): 12 positions of logits ($n bytes) bit-identical to the scalar CPU"; pass=$((pass + 1))
    else
        echo "FAIL: tiny-a ($conv): Vulkan logits differ from the scalar CPU's ($(cmp "$t/vk.f32" "$t/cpu.f32" 2>&1 | head -1))"; fail=$((fail + 1))
    fi
done
echo "test-vulkan-model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
