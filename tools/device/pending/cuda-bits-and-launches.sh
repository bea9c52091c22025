#!/bin/bash
# device call (one H100, .debs in carry): checks the CUDA changes of 2026-12-07 that were written
# without a GPU: one mul_mat accumulation order for every M (test-ops 'same bits' series, tiny-a
# bit identities on cuda), the GDS_PROF=1 per-node table with launch counts, the QUANT_SIM BF16
# fusion (test-ops '(fused?)' pairs; launches per decode token with GDS_CUDA_FUSE=0 vs default),
# the mat-vec shared-memory slot order (mat-vec GB/s in the f4q decode).
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
T0=$(date +%s); el() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
nvidia-smi --query-gpu=name --format=csv,noheader
( make -j6 -k build/bin/gds-convert CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 ) &
make -j10 -k CUDA=1 CUDA_ARCH="-gencode arch=compute_90,code=sm_90" build/cuda/bin/test-ops build/cuda/bin/test-model \
  build/cuda/bin/gds-bench build/cuda/bin/gds-convert build/cuda/bin/gds-run \
  CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build-cuda.log 2>&1 || grep -E "error" $OUT/build-cuda.log | head -20
wait; el build
( build/bin/gds-convert --synthetic flash:layers=4,experts=256,mtp=0,tokenizer=bytes --compat llama.cpp --dense q8_0 -o /tmp/f4q.gguf 2>&1 | tail -1
  build/bin/gds-convert tests/fixtures/tiny-a -o /tmp/tiny-a.gguf > /dev/null 2>&1 ) &
# 1. every case on cuda (the new ones: '... same bits per column/token', '... then bf16, twice (fused?)')
timeout 200 build/cuda/bin/test-ops -b cuda > $OUT/test-ops-cuda.txt 2>&1; echo "test-ops -b cuda rc $?"
grep -E "FAIL" $OUT/test-ops-cuda.txt | cut -c1-260 | head -30; tail -1 $OUT/test-ops-cuda.txt; el test-ops
# 2. tiny-a on cuda: decode vs prefill, chunks, n_batch, dense bf16 vs F8 must be bit-identical now
GDS_TEST_BACKEND=cuda BUILD=build/cuda timeout 120 sh tests/test-model.sh > $OUT/test-model-cuda.txt 2>&1
grep -E "DIFFER|bit-identical|passed" $OUT/test-model-cuda.txt | head -40; el test-model
wait; el convert
# 3. launches per decode token: profile table with and without the bf16 fusion (tiny-a, then f4q)
for f in 0 1; do
  GDS_CUDA_FUSE=$f GDS_PROF=1 timeout 60 build/cuda/bin/gds-bench -m /tmp/tiny-a.gguf --backend cuda -p 0 -n 16 -r 1 -t 16 --bw-mib 0 --no-split \
    > $OUT/prof-tiny-fuse$f.txt 2>&1
  echo "tiny-a GDS_CUDA_FUSE=$f:"; grep -E "GDS_PROF cuda|graphs of" $OUT/prof-tiny-fuse$f.txt
  GDS_CUDA_FUSE=$f GDS_PROF=1 timeout 90 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 0 -n 16 -r 1 -t 16 --bw-mib 0 --no-split \
    > $OUT/prof-f4q-fuse$f.txt 2>&1
  echo "f4q GDS_CUDA_FUSE=$f:"; grep -E "GDS_PROF cuda|graphs of" $OUT/prof-f4q-fuse$f.txt; grep -A25 "us/call" $OUT/prof-f4q-fuse$f.txt | cut -c1-120
  el prof-fuse$f
done
# 4. speed with CUDA graphs (fusion on and off)
for f in 1 0; do
  GDS_CUDA_FUSE=$f timeout 100 build/cuda/bin/gds-bench -m /tmp/f4q.gguf --backend cuda -p 2048 -n 64 -r 3 -t 16 --bw-mib 0 2>/dev/null \
    | grep -E "pp2048|tg64" | sed "s/^/fuse=$f /"
done; el bench
