#!/bin/sh
# tests/test-model.sh - DeepSeek-V4 model vs the reference outputs of tiny-a; run from the repo root.
#
#   sh tests/test-model.sh            (BUILD=dir for another build folder, FIXTURES=dir for the fixtures)
#
# Converts tests/fixtures/tiny-a with build/bin/gds-convert into a temporary
# folder (the default F8 file, and for test-model's part 7 the same checkpoint
# with --dense bf16, f16, f32 and with --compat llama.cpp: Q8_0 dense, MXFP4
# experts), runs build/bin/test-model (tests/test-model.c) on the result and
# removes the folder. The closing line "test-model: N passed, M failed" is printed in
# every case: a missing binary, a failed conversion or a crash counts as one
# failure. TEST_MODEL_KEEP=1 keeps the folder (the GGUF and the broken copies).
BUILD=${BUILD:-build}
FIX=${FIXTURES:-tests/fixtures}
fail() { echo "test-model: $1"; echo "test-model: 0 passed, 1 failed"; exit 1; }
for f in "$BUILD/bin/gds-convert" "$BUILD/bin/test-model"; do
    [ -x "$f" ] || fail "$f not built"
done
[ -d "$FIX/tiny-a" ] || fail "$FIX/tiny-a missing"
work=$(mktemp -d "${TMPDIR:-/tmp}/test-model.XXXXXX") || fail "mktemp failed"
cleanup() { if [ -n "${TEST_MODEL_KEEP:-}" ]; then echo "test-model: files kept in $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! "$BUILD/bin/gds-convert" "$FIX/tiny-a" -o "$work/tiny-a.gguf" >"$work/convert.log" 2>&1; then
    cat "$work/convert.log"
    fail "gds-convert failed on $FIX/tiny-a"
fi
set --
for t in bf16 f16 f32 llama.cpp; do
    case $t in llama.cpp) opt="--compat llama.cpp" ;; *) opt="--dense $t" ;; esac
    # shellcheck disable=SC2086
    if ! "$BUILD/bin/gds-convert" "$FIX/tiny-a" -o "$work/tiny-a-$t.gguf" $opt >"$work/convert-$t.log" 2>&1; then
        cat "$work/convert-$t.log"
        fail "gds-convert $opt failed on $FIX/tiny-a"
    fi
    set -- "$@" "$work/tiny-a-$t.gguf"
done
GDS_RUN="$BUILD/bin/gds-run" "$BUILD/bin/test-model" "$work/tiny-a.gguf" "$FIX/tiny-a" "$work" "$@" >"$work/log" 2>&1
rc=$?
cat "$work/log"
if ! grep -qE "^test-model: [0-9]+ passed, [0-9]+ failed" "$work/log"; then
    echo "test-model: exit status $rc without a result line (crash?)"
    echo "test-model: 0 passed, 1 failed"
    exit 1
fi
if [ "$rc" -ne 0 ] && grep -qE "^test-model: [0-9]+ passed, 0 failed" "$work/log"; then
    echo "test-model: exit status $rc"
    echo "test-model: 0 passed, 1 failed"
    exit 1
fi
exit $rc
