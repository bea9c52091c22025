/*
 * tiles-avx2.c - mul_mat tile kernels for the AVX2 level (contract: cpu.h,
 * registry: tiles.c). Each output is bit-identical to the AVX2 mat-vec
 * kernel of its type (quants-avx2.c).
 */
#include "cpu.h"

#include <immintrin.h>

/* MXFP4 tiles live in tiles-mxfp4-avx2.c (they share the prepared layout of quants.c) */
int gds_cpu_tiles_mxfp4_avx2(struct gds_cpu_tile *tab);

int gds_cpu_tiles_avx2(struct gds_cpu_tile *tab);
int gds_cpu_tiles_avx2(struct gds_cpu_tile *tab) {
    int n = gds_cpu_tiles_mxfp4_avx2(tab);
    return n;
}
