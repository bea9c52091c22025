#!/bin/sh
# tests/test-convert.sh - gds-convert acceptance tests; run from the repo root.
#
#   sh tests/test-convert.sh            (BUILD=dir for another build folder)
#
# Converts ../shared/fixtures/tiny-a (and broken copies of it, made on the fly
# in a temporary folder) with build/bin/gds-convert and checks every result
# with build/bin/test-convert (tests/test-convert.c), which prints the closing
# line "test-convert: N passed, M failed". TEST_CONVERT_KEEP=1 keeps the work
# folder (every GGUF the test wrote, e.g. for an independent GGUF parser).
BUILD=${BUILD:-build}
FIX=${FIXTURES:-../shared/fixtures}
for f in "$BUILD/bin/gds-convert" "$BUILD/bin/test-convert"; do
    [ -x "$f" ] || { echo "test-convert: $f not built"; echo "test-convert: 0 passed, 1 failed"; exit 1; }
done
[ -d "$FIX/tiny-a" ] || { echo "test-convert: $FIX/tiny-a missing"; echo "test-convert: 0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/test-convert.XXXXXX") || exit 1
"$BUILD/bin/test-convert" "$BUILD/bin/gds-convert" "$FIX" "$work"
rc=$?
if [ -n "${TEST_CONVERT_KEEP:-}" ]; then echo "test-convert: files kept in $work"; else rm -rf "$work"; fi
exit $rc
