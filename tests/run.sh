#!/bin/sh
# tests/run.sh - runs the test programs and prints the closing "N passed, N failed".
#
#   sh tests/run.sh            native tests, then the ASan/UBSan build, then NEON
#                              under qemu-aarch64, then the libFuzzer targets
#   sh tests/run.sh native     native tests only
#
# Every test program ends with a line "<name>: N passed, M failed[, K skipped]";
# a program that crashes or prints no such line counts as one failure. For every
# failure the reason is shown: the FAIL lines and the end of the program's output.
# With CI=true a missing tool (cross compiler, qemu, clang) is a failure, not a SKIP.
MAKE=${MAKE:-make}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail_n() { # count, reason
    failed=$((failed + $1)); shift
    echo "   FAILED: $*"
}

missing_tool() { # what
    if [ "${CI:-}" = true ]; then fail_n 1 "$1 (CI=true: a missing tool is a failure; make deps installs it)"
    else echo "   SKIP: $1 (make deps installs it)"; fi
}

run_one() { # label, command...
    rl=$1; shift
    echo "== $rl: $*"
    "$@" >"$log" 2>&1
    rc=$?
    grep -E "FAIL|SKIP" "$log" | head -40
    line=$(grep -E "^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
    if [ -z "$line" ]; then
        echo "   --- last lines of the output:"; tail -25 "$log" | sed 's/^/   | /'
        fail_n 1 "$rl: no result line (exit status $rc)"
        return
    fi
    echo "   $line"
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
        echo "   --- last lines of the output:"; tail -15 "$log" | sed 's/^/   | /'
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail_n 1 "$rl: exit status $rc"; fi
}

run_suite() { # bin dir, label, runner...
    sdir=$1; slabel=$2; shift 2
    for t in test-quants test-backend test-gguf test-ops; do
        if [ -x "$sdir/$t" ]; then run_one "$slabel $t" "$@" "$sdir/$t"
        else fail_n 1 "$slabel $t: $sdir/$t not built"; fi
    done
}

run_model_tests() { # build dir, label
    mb=$1; ml=$2
    run_one "$ml test-convert" env BUILD="$mb" sh tests/test-convert.sh
    run_one "$ml test-tokenizer" env BUILD="$mb" "$mb/bin/test-tokenizer"
    run_one "$ml test-chat" "$mb/bin/test-chat"
    run_one "$ml test-sampling" "$mb/bin/test-sampling"
    run_one "$ml test-model" env BUILD="$mb" sh tests/test-model.sh
    # the same on a backend whose memory is not host memory (ref claiming every op with the
    # CPU's scalar kernels: weights, state and inputs where a GPU keeps them), native only
    if [ "$ml" = native ]; then
        run_one "$ml test-model (ref backend)" env BUILD="$mb" GDS_REF_FULL=1 GDS_TEST_BACKEND=ref sh tests/test-model.sh
    fi
    run_one "$ml test-flash" env BUILD="$mb" sh tests/test-flash.sh
    run_one "$ml test-numa" env BUILD="$mb" sh tests/test-numa.sh
    run_one "$ml test-run" env BUILD="$mb" sh tests/test-run.sh
    run_one "$ml test-server" env BUILD="$mb" sh tests/test-server.sh
}

run_suite build/bin native
if [ "$(uname -m)" = x86_64 ]; then run_one "native test-amx-emu" build/bin/test-amx-emu; fi
run_model_tests build native

if [ "$1" != native ]; then
    echo "== building the ASan/UBSan tests (build/san)"
    if $MAKE -s test-san >"$log" 2>&1; then
        export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
        run_suite build/san/bin asan-ubsan
        run_model_tests build/san asan-ubsan
        unset ASAN_OPTIONS UBSAN_OPTIONS
    else
        tail -30 "$log"; fail_n 1 "sanitizer build failed"
    fi
    # CUDA backend: compiled wherever nvcc is (CI too); its tests skip cleanly without a GPU
    if command -v nvcc >/dev/null 2>&1 || [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
        echo "== building the CUDA backend (build/cuda: make CUDA=1)"
        if $MAKE -s CUDA=1 build/cuda/bin/test-ops >"$log" 2>&1; then
            run_one "cuda test-ops" build/cuda/bin/test-ops -b cuda
        else
            tail -30 "$log"; fail_n 1 "CUDA build failed"
        fi
    else
        echo "== cuda"; missing_tool "nvcc not installed (CUDA backend)"
    fi
    # Vulkan backend: built where glslangValidator and the Vulkan loader are; runs on any
    # Vulkan device (CI: lavapipe, mesa-vulkan-drivers), every op on the device
    if command -v glslangValidator >/dev/null 2>&1 && [ -e /usr/include/vulkan/vulkan.h ]; then
        echo "== building the Vulkan backend (build/vulkan: make VULKAN=1)"
        if $MAKE -s VULKAN=1 build/vulkan/bin/test-ops build/vulkan/bin/gds-run >"$log" 2>&1; then
            run_one "vulkan test-ops" build/vulkan/bin/test-ops -b vulkan
            if [ "${CI:-}" = true ] && grep -q "backend vulkan: SKIP" "$log"; then
                fail_n 1 "vulkan test-ops: no Vulkan device (CI=true: mesa-vulkan-drivers provides lavapipe)"
            fi
            # tiny-a end to end on the device: logits bit-identical to the scalar CPU's
            run_one "vulkan tiny-a" env BUILD=build/vulkan sh tests/test-vulkan-model.sh
            if [ "${CI:-}" = true ] && grep -q "^SKIP" "$log"; then
                fail_n 1 "vulkan tiny-a: no Vulkan device (CI=true: mesa-vulkan-drivers provides lavapipe)"
            fi
            # the kernels the A/B switches select (backends/README.md), so none of them rots while
            # the defaults run: bit-identical too (mvs.comp 2 and 4 lanes a thread, hc.comp's two
            # passes, packed MXFP4 codes, the general column builds, one submission; matvec.comp
            # for every BF16 product, a submission per dispatch, the descriptor-set cache; test-ops
            # with the cache frees and makes buffers between cases: a set kept past its buffer fails there)
            run_one "vulkan tiny-a, switched kernels (1)" env GDS_VK_MV_L=2 GDS_VK_HC=0 GDS_VK_MM4=0 GDS_VK_MV_ONE=0 GDS_VK_CHUNK=0 \
                BUILD=build/vulkan sh tests/test-vulkan-model.sh
            run_one "vulkan tiny-a, switched kernels (2)" env GDS_VK_MV_V=0 GDS_VK_CHUNK=1 GDS_VK_DSCACHE=1 BUILD=build/vulkan sh tests/test-vulkan-model.sh
            run_one "vulkan test-ops mul_mat, 4 lanes a thread" env GDS_VK_MV_L=4 build/vulkan/bin/test-ops -b vulkan -o mul_mat
            run_one "vulkan test-ops mul_mat, descriptor-set cache" env GDS_VK_DSCACHE=1 build/vulkan/bin/test-ops -b vulkan -o mul_mat
        else
            tail -30 "$log"; fail_n 1 "Vulkan build failed"
        fi
    else
        echo "== vulkan"; missing_tool "glslangValidator or the Vulkan headers/loader not installed (glslang-tools, libvulkan-dev)"
    fi
    if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
        echo "== cross-building the aarch64 tests (build/aarch64)"
        if $MAKE -s test-neon >"$log" 2>&1; then
            run_suite build/aarch64/bin neon-qemu qemu-aarch64 -L /usr/aarch64-linux-gnu
        else
            tail -30 "$log"; fail_n 1 "aarch64 cross build failed"
        fi
    else
        echo "== neon-qemu"; missing_tool "aarch64-linux-gnu-gcc or qemu-aarch64 not installed"
    fi
    # libFuzzer targets: FUZZ_TIME seconds each from the seed corpora; a crash fails
    if command -v clang >/dev/null 2>&1; then
        for t in gguf safetensors tokenizer chat server; do
            echo "== fuzz-$t: ${FUZZ_TIME:-60} s"
            if $MAKE -s build/fuzz/fuzz-$t >"$log" 2>&1; then
                rm -rf build/fuzz/run-$t && mkdir -p build/fuzz/run-$t && cp -r tests/fuzz/corpus-$t/. build/fuzz/run-$t/
                if build/fuzz/fuzz-$t -max_total_time=${FUZZ_TIME:-60} -max_len=8192 -malloc_limit_mb=64 -artifact_prefix=build/fuzz/ build/fuzz/run-$t >"$log" 2>&1; then
                    echo "   $(grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$log" | tail -1)"; passed=$((passed + 1))
                else
                    tail -40 "$log"; fail_n 1 "fuzz-$t: crash or sanitizer report (input saved under build/fuzz/)"
                fi
            else
                tail -20 "$log"; fail_n 1 "fuzz-$t: build failed"
            fi
        done
    else
        echo "== fuzz"; missing_tool "clang not installed (libFuzzer targets)"
    fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
