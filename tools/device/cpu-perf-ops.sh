#!/bin/bash
# device call: per-op CPU bandwidth (test-ops perf) of the mat-vecs, the batched-decode shapes and
# the expert products, at amx and avx512
R=$PWD/.debs/root; L=$R/usr/lib/x86_64-linux-gnu
make -j16 -k build/bin/test-ops CFLAGS="-I$R/usr/include" LDFLAGS="-L$L -Wl,-rpath,$L" > $OUT/build.log 2>&1 || grep error $OUT/build.log | head
for s in amx avx512; do for o in mul_mat mul_mat_id; do timeout 120 build/bin/test-ops perf -o $o -s $s -t 16 2>&1 | grep -E "^mul_mat|read bandwidth" | cut -c1-120 | sed "s/^/$s /"; done; done
