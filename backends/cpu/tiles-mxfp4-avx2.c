/*
 * tiles-mxfp4-avx2.c - MXFP4 x F8 mul_mat tile kernels for the AVX2 level
 * (contract: cpu.h, registry: tiles.c via tiles-avx2.c). Each output is
 * bit-identical to gds_cpu_dot4_mxfp4p_avx2 (quants-avx2.c): the columns are
 * activation rows prepared by gds_cpu_mxfp4_prep (quants.c), every
 * per-32-block product sum p is computed exactly in int32 (mxfp4-avx2.h,
 * shared with the mat-vec), and the float steps are the same:
 * t = (float)p * (sw * sa*2^-10), acc = acc + t in block order, one acc per
 * output.
 *
 * Tile: 4 weight rows x up to 16 columns. Per 64 elements (two MXFP4 blocks)
 * the 4 rows' nibbles are decoded once and kept in registers while every
 * column runs over them (its digit planes as memory operands).
 */
#include "cpu.h"

#include <immintrin.h>

#include "mxfp4-avx2.h"

static void tile_mxfp4_4x16(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const __m256i lut = GDS_MXQ_LUT;
    const char *pf = (const char *)w + 4 * bw;
    const uint8_t *x0 = w, *x1 = x0 + bw, *x2 = x1 + bw, *x3 = x2 + bw;
    __m128 acc[16];
    for (int j = 0; j < nc; j++) acc[j] = _mm_setzero_ps();
    for (int64_t b = 0; b < K / QK_F8; b++, x0 += 68, x1 += 68, x2 += 68, x3 += 68) {
        for (int i = 0; i < 5; i++) _mm_prefetch(pf + 64 * i, GDS_PF_HINT);
        pf += 4 * 4 * sizeof(block_mxfp4);
        const __m128i ev = gds_mxq_ebytes4(x0, x1, x2, x3);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256 sw = gds_mxq_sw(ev, h);
            __m256i kl0, kh0, kl1, kh1, kl2, kh2, kl3, kh3;
            gds_mxq_decode(x0, h, lut, &kl0, &kh0);
            gds_mxq_decode(x1, h, lut, &kl1, &kh1);
            gds_mxq_decode(x2, h, lut, &kl2, &kh2);
            gds_mxq_decode(x3, h, lut, &kl3, &kh3);
            for (int j = 0; j < nc; j++) {
                const uint8_t *pa = (const uint8_t *)a[j] + b * 512;
                __m256i s0, s1, s2, s3;
                if (pa[452 + h]) {
                    s0 = gds_mxq_row(kl0, kh0, pa, h, true), s1 = gds_mxq_row(kl1, kh1, pa, h, true);
                    s2 = gds_mxq_row(kl2, kh2, pa, h, true), s3 = gds_mxq_row(kl3, kh3, pa, h, true);
                } else {
                    s0 = gds_mxq_row(kl0, kh0, pa, h, false), s1 = gds_mxq_row(kl1, kh1, pa, h, false);
                    s2 = gds_mxq_row(kl2, kh2, pa, h, false), s3 = gds_mxq_row(kl3, kh3, pa, h, false);
                }
                const __m256i f = _mm256_add_epi32(gds_mxq_sum4(s0, s1, s2, s3), _mm256_load_si256((const __m256i *)(pa + 384 + 32 * h)));
                const __m256 sa = _mm256_broadcast_ss((const float *)(pa + 448));
                const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(f), _mm256_mul_ps(sw, sa));
                acc[j] = _mm_add_ps(acc[j], _mm256_castps256_ps128(t));
                acc[j] = _mm_add_ps(acc[j], _mm256_extractf128_ps(t, 1));
            }
        }
    }
    for (int j = 0; j < nc; j++) _mm_storeu_ps(y[j], acc[j]);
}

int gds_cpu_tiles_mxfp4_avx2(struct gds_cpu_tile *tab);
int gds_cpu_tiles_mxfp4_avx2(struct gds_cpu_tile *tab) {
    tab[GDS_TYPE_MXFP4] = (struct gds_cpu_tile){ tile_mxfp4_4x16, 4, 16, true, NULL, NULL };
    return 1;
}
