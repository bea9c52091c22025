#!/bin/sh
# tests/test-numa.sh - NUMA placement and scheduling of the routed experts
# (issue 12, tests/test-numa.c); run from the repo root.
#
#   sh tests/test-numa.sh            (BUILD=dir for another build folder, FIXTURES=dir for the fixtures)
#
# Converts tiny-a (tests/fixtures/tiny-a) and writes the Flash-width synthetic
# model of test-flash (same spec) and the same widths with 32 experts, 6 used,
# into a temporary folder, runs build/bin/test-numa on them and removes the
# folder. The closing line "test-numa: N passed, M failed" is printed in every
# case: a missing binary, a failed conversion or a crash counts as one failure.
# TEST_NUMA_KEEP=1 keeps the folder.
BUILD=${BUILD:-build}
FIX=${FIXTURES:-tests/fixtures}
SPEC="flash:layers=4,mtp=0,hidden=128,q_lora_rank=128,o_lora_rank=128,experts=4,topk=2,moe_intermediate_size=128,vocab=512,seed=4,index_topk=16"
fail() { echo "test-numa: $1"; echo "test-numa: 0 passed, 1 failed"; exit 1; }
for f in "$BUILD/bin/gds-convert" "$BUILD/bin/test-numa"; do
    [ -x "$f" ] || fail "$f not built"
done
[ -d "$FIX/tiny-a" ] || fail "$FIX/tiny-a missing"
work=$(mktemp -d "${TMPDIR:-/tmp}/test-numa.XXXXXX") || fail "mktemp failed"
cleanup() { if [ -n "${TEST_NUMA_KEEP:-}" ]; then echo "test-numa: files kept in $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$BUILD/bin/gds-convert" "$FIX/tiny-a" -o "$work/tiny-a.gguf" >"$work/convert.log" 2>&1 || { cat "$work/convert.log"; fail "gds-convert failed on $FIX/tiny-a"; }
"$BUILD/bin/gds-convert" --synthetic "$SPEC" -o "$work/flash.gguf" >"$work/convert.log" 2>&1 || { cat "$work/convert.log"; fail "gds-convert --synthetic $SPEC failed"; }
SPEC32=$(echo "$SPEC" | sed 's/experts=4,topk=2/experts=32,topk=6/')
"$BUILD/bin/gds-convert" --synthetic "$SPEC32" -o "$work/flash-e32.gguf" >"$work/convert.log" 2>&1 || { cat "$work/convert.log"; fail "gds-convert --synthetic $SPEC32 failed"; }
"$BUILD/bin/test-numa" "$work/tiny-a.gguf" "$work/flash.gguf" "$work/flash-e32.gguf" >"$work/log" 2>&1
rc=$?
cat "$work/log"
if ! grep -qE "^test-numa: [0-9]+ passed, [0-9]+ failed" "$work/log"; then
    echo "test-numa: exit status $rc without a result line (crash?)"
    echo "test-numa: 0 passed, 1 failed"
    exit 1
fi
if [ "$rc" -ne 0 ] && grep -qE "^test-numa: [0-9]+ passed, 0 failed" "$work/log"; then
    echo "test-numa: exit status $rc"
    echo "test-numa: 0 passed, 1 failed"
    exit 1
fi
exit $rc
