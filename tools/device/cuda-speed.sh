#!/bin/bash
# device call (<= 8 min): issue 11, CUDA decode kernels. Build (sm_90), test-ops -b cuda, tiny-a on
# cuda, then the f4q file: gds-bench pp2048 / tg32 with the new kernels and with their fallbacks
# (GDS_CUDA_MV=0: mat-vecs through mm_tc; GDS_CUDA_WQ=0: SET_ROWS KV / F8 blocks by one thread;
# GDS_CUDA_RN=0: RMS_NORM's old loop) in the same call, a GDS_PROF decode profile (new, and
# all fallbacks), and the hybrid (--cpu-moe). Carry .debs (and .head = git archive HEAD if wanted).
. tools/device/gpu-env.sh
( make -j6 -k build/bin/gds-convert "$F" "$G" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head ) &
make -j12 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/gds-bench \
  build/cuda/bin/test-model build/cuda/bin/gds-run build/cuda/bin/gds-convert "$F" "$G" > $OUT/build-cuda.log 2>&1 \
  || grep -E "error" $OUT/build-cuda.log | head
wait; el build
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 \
    -o /tmp/f4q.gguf 2>&1 | tail -1; cat /tmp/f4q.gguf > /dev/null ) &
timeout 90 build/cuda/bin/test-ops -b cuda > $OUT/test-ops.txt 2>&1; grep FAIL $OUT/test-ops.txt | cut -c1-200 | head -8
tail -1 $OUT/test-ops.txt; el test-ops
GDS_CUDA_MV=0 timeout 60 build/cuda/bin/test-ops -b cuda -o mul_mat > $OUT/test-ops-mv0.txt 2>&1; tail -1 $OUT/test-ops-mv0.txt; el test-ops-mv0
GDS_TEST_BACKEND=cuda BUILD=build/cuda timeout 120 sh tests/test-model.sh > $OUT/test-model.txt 2>&1
grep -iE "fail" $OUT/test-model.txt | head -5; tail -1 $OUT/test-model.txt; el test-model
wait; el convert
B="-m /tmp/f4q.gguf -t 16 --bw-mib 0"
run() { # run LABEL ENV...: pp2048 + tg32, 3 runs
    env "${@:2}" timeout 75 build/cuda/bin/gds-bench $B -p 2048 -n 32 -r 3 --backend cuda > $OUT/bench-$1.txt 2>&1
    grep -E "pp2048|tg32" $OUT/bench-$1.txt | cut -d'|' -f5-7 | sed "s/^/$1 /"
}
run new GDS_X=1
run mv0 GDS_CUDA_MV=0
run wq0 GDS_CUDA_WQ=0
run rn0 GDS_CUDA_RN=0
run old GDS_CUDA_MV=0 GDS_CUDA_WQ=0 GDS_CUDA_RN=0
run new2 GDS_X=1
el bench
GDS_PROF=1 timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 --no-split > $OUT/prof-new.txt 2>&1
GDS_PROF=1 GDS_CUDA_MV=0 GDS_CUDA_WQ=0 GDS_CUDA_RN=0 timeout 40 build/cuda/bin/gds-bench $B --backend cuda -p 0 -n 16 -r 1 \
  --no-split > $OUT/prof-old.txt 2>&1
grep -E "GDS_PROF cuda|^ +[0-9.]+ +[0-9.]+% " $OUT/prof-new.txt | head -24; el prof
timeout 70 build/cuda/bin/gds-bench $B --backend cuda --cpu-moe -p 0 -n 32 -r 3 > $OUT/hybrid.txt 2>&1
grep -E "tg32" $OUT/hybrid.txt | cut -d'|' -f5-7 | sed "s/^/hybrid /"; el hybrid
