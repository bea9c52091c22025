#!/bin/sh
# tests/run.sh - runs the test programs and prints the closing "N passed, N failed".
#
#   sh tests/run.sh            native tests, then ASan/UBSan build, then NEON
#                              under qemu-aarch64 (skipped with a note when the
#                              cross compiler or qemu is missing)
#   sh tests/run.sh native     native tests only
#
# Every test program ends with a line "<name>: N passed, M failed[, K skipped]";
# a program that crashes or prints no such line counts as one failure.
MAKE=${MAKE:-make}
passed=0
failed=0
log=$(mktemp)

run_one() { # label, command...
    label=$1; shift
    echo "== $label: $*"
    "$@" >"$log" 2>&1
    rc=$?
    grep -E "FAIL|SKIP|error" "$log" | grep -v "^gds: error" | head -40
    line=$(grep -E "^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
    if [ -z "$line" ]; then
        tail -20 "$log"
        echo "   $label: no result line (exit $rc): counted as 1 failure"
        failed=$((failed + 1))
        return
    fi
    echo "   $line"
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "   $label: exit status $rc: counted as 1 failure"
        failed=$((failed + 1))
    fi
}

run_suite() { # bin dir, label, runner...
    dir=$1; label=$2; shift 2
    for t in test-quants test-backend test-gguf test-ops; do
        [ -x "$dir/$t" ] || { echo "   $label $t: not built: counted as 1 failure"; failed=$((failed + 1)); continue; }
        run_one "$label $t" "$@" "$dir/$t"
    done
}

run_suite build/bin native
run_one "native test-convert" sh tests/test-convert.sh
run_one "native test-tokenizer" build/bin/test-tokenizer
run_one "native test-chat" build/bin/test-chat
run_one "native test-sampling" build/bin/test-sampling
run_one "native test-model" sh tests/test-model.sh
run_one "native test-run" sh tests/test-run.sh

if [ "$1" != native ]; then
    if $MAKE -s test-san >"$log" 2>&1; then
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_suite build/san/bin asan-ubsan
        ASAN_OPTIONS=detect_leaks=1 run_one "asan-ubsan test-convert" env BUILD=build/san sh tests/test-convert.sh
        ASAN_OPTIONS=detect_leaks=1 run_one "asan-ubsan test-tokenizer" env BUILD=build/san build/san/bin/test-tokenizer
        ASAN_OPTIONS=detect_leaks=1 run_one "asan-ubsan test-chat" build/san/bin/test-chat
        ASAN_OPTIONS=detect_leaks=1 run_one "asan-ubsan test-sampling" build/san/bin/test-sampling
        ASAN_OPTIONS=detect_leaks=1 run_one "asan-ubsan test-model" env BUILD=build/san sh tests/test-model.sh
        ASAN_OPTIONS=detect_leaks=1 run_one "asan-ubsan test-run" env BUILD=build/san sh tests/test-run.sh
    else
        tail -30 "$log"; echo "   sanitizer build failed: counted as 1 failure"; failed=$((failed + 1))
    fi
    if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
        if $MAKE -s test-neon >"$log" 2>&1; then
            run_suite build/aarch64/bin neon-qemu qemu-aarch64 -L /usr/aarch64-linux-gnu
        else
            tail -30 "$log"; echo "   aarch64 cross build failed: counted as 1 failure"; failed=$((failed + 1))
        fi
    else
        echo "== neon-qemu: SKIP (aarch64-linux-gnu-gcc or qemu-aarch64 not installed)"
    fi
    # libFuzzer targets: FUZZ_TIME seconds each from the seed corpora; a crash fails
    if command -v clang >/dev/null 2>&1; then
        for t in gguf safetensors tokenizer chat; do
            if $MAKE -s build/fuzz/fuzz-$t >"$log" 2>&1; then
                rm -rf build/fuzz/run-$t && mkdir -p build/fuzz/run-$t && cp -r tests/fuzz/corpus-$t/. build/fuzz/run-$t/
                echo "== fuzz-$t: ${FUZZ_TIME:-60} s"
                if build/fuzz/fuzz-$t -max_total_time=${FUZZ_TIME:-60} -max_len=8192 -malloc_limit_mb=64 -artifact_prefix=build/fuzz/ build/fuzz/run-$t >"$log" 2>&1; then
                    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$log" | tail -1; passed=$((passed + 1))
                else
                    tail -40 "$log"; echo "   fuzz-$t: crash or sanitizer report (see above)"; failed=$((failed + 1))
                fi
            else
                tail -20 "$log"; echo "   fuzz-$t: build failed"; failed=$((failed + 1))
            fi
        done
    else
        echo "== fuzz: SKIP (clang not installed)"
    fi
fi
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
