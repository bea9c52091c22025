#!/bin/sh
# tests/test-convert.sh - gds-convert acceptance tests; run from the repo root.
#
#   sh tests/test-convert.sh            (BUILD=dir for another build folder)
#
# Converts tests/fixtures/tiny-a (and broken copies of it, made on the fly
# in a temporary folder) with build/bin/gds-convert and checks every result
# with build/bin/test-convert (tests/test-convert.c), which prints the closing
# line "test-convert: N passed, M failed". Then every GGUF it wrote goes to the
# independent parser (test-gguf --check); the final line says how many files it
# really read, or that it did not run and why (a failure with CI=true).
# TEST_CONVERT_KEEP=1 keeps the work folder.
BUILD=${BUILD:-build}
FIX=${FIXTURES:-tests/fixtures}
for f in "$BUILD/bin/gds-convert" "$BUILD/bin/test-convert"; do
    [ -x "$f" ] || { echo "test-convert: $f not built"; echo "test-convert: 0 passed, 1 failed"; exit 1; }
done
[ -d "$FIX/tiny-a" ] || { echo "test-convert: $FIX/tiny-a missing"; echo "test-convert: 0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/test-convert.XXXXXX") || exit 1
# (not a pipe into tee: the status must be test-convert's, not tee's; a crash or a
# missing result line counts as a failure)
"$BUILD/bin/test-convert" "$BUILD/bin/gds-convert" "$FIX" "$work" >"$work/log" 2>&1
rc=$?
cat "$work/log"
if ! grep -qE "^test-convert: [0-9]+ passed, [0-9]+ failed" "$work/log"; then
    echo "test-convert: exit status $rc without a result line (crash?)"
    echo "test-convert: 0 passed, 1 failed"
    rc=1
elif [ "$rc" -eq 0 ] && ! grep -qE "^test-convert: [0-9]+ passed, 0 failed" "$work/log"; then
    rc=1
fi
# every GGUF this test wrote, read by the independent parser (npm @huggingface/gguf,
# through test-gguf --check). The closing line says what really ran; with CI=true a
# missing parser (node, tests/node_modules/@huggingface/gguf, test-gguf) is a failure.
p1=$(sed -nE 's/^test-convert: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$work/log" | tail -1)
f1=$(sed -nE 's/^test-convert: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$work/log" | tail -1)
p1=${p1:-0}; f1=${f1:-1}
set -- $(find "$work" -name '*.gguf' | sort)
if [ $# -eq 0 ]; then
    note="no GGUF file written, so none checked by the independent parser"
elif [ ! -x "$BUILD/bin/test-gguf" ]; then
    note="independent parser NOT run: $BUILD/bin/test-gguf not built"
    if [ "${CI:-}" = true ]; then f1=$((f1 + 1)); note="$note (CI=true: a failure)"; fi
else
    "$BUILD/bin/test-gguf" --check "$@" >"$work/log2" 2>&1
    cat "$work/log2"
    p2=$(sed -nE 's/^test-gguf: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$work/log2" | tail -1)
    f2=$(sed -nE 's/^test-gguf: ([0-9]+) passed, ([0-9]+) failed.*/\2/p' "$work/log2" | tail -1)
    p1=$((p1 + ${p2:-0})); f1=$((f1 + ${f2:-1}))
    checked=$(sed -nE 's/^gguf-check: ([0-9]+) passed, ([0-9]+) failed.*/\1/p' "$work/log2" | tail -1)
    why=$(sed -nE 's/^(SKIP|FAIL) independent parser[^:]*: (.*)/\2/p' "$work/log2" | tail -1)
    if [ -n "$checked" ]; then
        note="$checked of $# GGUF files read identically by the independent parser"
    elif [ -n "$why" ]; then
        note="independent parser NOT run on the $# GGUF files: $why"
    else
        note="independent parser gave no result for the $# GGUF files"
        [ "${f2:-1}" -eq 0 ] && f1=$((f1 + 1))
    fi
fi
echo "test-convert: $p1 passed, $f1 failed ($note)"
[ "$f1" -eq 0 ] || rc=1
if [ -n "${TEST_CONVERT_KEEP:-}" ]; then echo "test-convert: files kept in $work"; else rm -rf "$work"; fi
exit $rc
