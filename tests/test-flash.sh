#!/bin/sh
# tests/test-flash.sh - the Flash-width synthetic model: compact vs F32 KV state,
# threads and evaluation paths bit for bit (tests/test-flash.c); run from the repo root.
#
#   sh tests/test-flash.sh            (BUILD=dir for another build folder)
#
# Writes two synthetic models with build/bin/gds-convert into a temporary
# folder: Flash attention widths (head_dim 512, 64 heads, o_groups 8, rope 64,
# indexer 64 x 128, window 128; layers SWA, SWA, CSA, HCA) with small other
# widths, index_topk 16, and the same model with index_topk 512. Runs
# build/bin/test-flash on them and removes the folder. The closing line
# "test-flash: N passed, M failed" is printed in every case: a missing binary,
# a failed conversion or a crash counts as one failure. TEST_FLASH_KEEP=1
# keeps the folder.
BUILD=${BUILD:-build}
SPEC="flash:layers=4,mtp=0,hidden=128,q_lora_rank=128,o_lora_rank=128,experts=4,topk=2,moe_intermediate_size=128,vocab=512,seed=4"
fail() { echo "test-flash: $1"; echo "test-flash: 0 passed, 1 failed"; exit 1; }
for f in "$BUILD/bin/gds-convert" "$BUILD/bin/test-flash"; do
    [ -x "$f" ] || fail "$f not built"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/test-flash.XXXXXX") || fail "mktemp failed"
cleanup() { if [ -n "${TEST_FLASH_KEEP:-}" ]; then echo "test-flash: files kept in $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for v in "16 flash" "512 flash-topk-all"; do
    set -- $v
    if ! "$BUILD/bin/gds-convert" --synthetic "$SPEC,index_topk=$1" -o "$work/$2.gguf" >"$work/convert.log" 2>&1; then
        cat "$work/convert.log"
        fail "gds-convert --synthetic $SPEC,index_topk=$1 failed"
    fi
done
"$BUILD/bin/test-flash" "$work/flash.gguf" "$work/flash-topk-all.gguf" >"$work/log" 2>&1
rc=$?
cat "$work/log"
if ! grep -qE "^test-flash: [0-9]+ passed, [0-9]+ failed" "$work/log"; then
    echo "test-flash: exit status $rc without a result line (crash?)"
    echo "test-flash: 0 passed, 1 failed"
    exit 1
fi
if [ "$rc" -ne 0 ] && grep -qE "^test-flash: [0-9]+ passed, 0 failed" "$work/log"; then
    echo "test-flash: exit status $rc"
    echo "test-flash: 0 passed, 1 failed"
    exit 1
fi
exit $rc
