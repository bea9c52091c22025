/*
 * mxfp4-avx2.h - shared inline pieces of the AVX2 MXFP4 x prepared-F8
 * kernels: the mat-vec (quants-avx2.c) and the tiles (tiles-mxfp4-avx2.c).
 * Prepared layout and exactness: gds_cpu_mxfp4_prep in quants.c. Included
 * only by files compiled with the AVX2 flags.
 *
 * Per 64 elements (sub-blocks 2h, 2h+1 of a 128-block) and weight row: the
 * nibbles decode to kv+12 (u8, via pshufb), pmaddubsw against the signed
 * digit planes d0, d1 (and r for flagged halves) gives int16 sums of 4
 * products (bounds: gds_cpu_mxfp4_prep), pmaddwd by 8 / 2048 / 1 gives
 * 8 int32 lanes (4 per sub-block); four rows are transposed and summed with
 * unpacks (cheaper than vphaddd on Zen 3) and the column's correction c is
 * added: p(row, sub-block) exactly, in lanes [rows 0-3 of 2h | rows 0-3 of
 * 2h+1]. Integer sums are exact in any order, so any grouping gives the same p.
 */
#ifndef GDS_MXFP4_AVX2_H
#define GDS_MXFP4_AVX2_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#define GDS_MXQ_LUT _mm256_broadcastsi128_si256(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0))

/* kv+12 of sub-blocks 2h (low 128 bits) and 2h+1 (high): low nibbles (elements 0-15) and high (16-31) */
static inline __attribute__((always_inline)) void gds_mxq_decode(const uint8_t *x, int h, __m256i lut, __m256i *kl, __m256i *kh) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i q = _mm256_loadu2_m128i((const __m128i *)(x + 1 + 34 * h + 17), (const __m128i *)(x + 1 + 34 * h));
    *kl = _mm256_shuffle_epi8(lut, _mm256_and_si256(q, m4));
    *kh = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
}

/* one row against the prepared half h of a block: 8 int32 lanes of 8*S0 + 2048*S1 (+ Sr when r) */
static inline __attribute__((always_inline)) __m256i gds_mxq_row(__m256i kl, __m256i kh, const uint8_t *pa, int h, bool r) {
    const __m256i m0 = _mm256_add_epi16(_mm256_maddubs_epi16(kl, _mm256_load_si256((const __m256i *)(pa + 32 * h))),
                                        _mm256_maddubs_epi16(kh, _mm256_load_si256((const __m256i *)(pa + 64 + 32 * h))));
    const __m256i m1 = _mm256_add_epi16(_mm256_maddubs_epi16(kl, _mm256_load_si256((const __m256i *)(pa + 128 + 32 * h))),
                                        _mm256_maddubs_epi16(kh, _mm256_load_si256((const __m256i *)(pa + 192 + 32 * h))));
    __m256i s = _mm256_add_epi32(_mm256_madd_epi16(m0, _mm256_set1_epi16(8)), _mm256_madd_epi16(m1, _mm256_set1_epi16(2048)));
    if (r) {
        const __m256i mr = _mm256_add_epi16(_mm256_maddubs_epi16(kl, _mm256_load_si256((const __m256i *)(pa + 256 + 32 * h))),
                                            _mm256_maddubs_epi16(kh, _mm256_load_si256((const __m256i *)(pa + 320 + 32 * h))));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(mr, _mm256_set1_epi16(1)));
    }
    return s;
}

/* per 128-bit lane: [sum s0, sum s1, sum s2, sum s3] */
static inline __attribute__((always_inline)) __m256i gds_mxq_sum4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(s0, s1), _mm256_unpackhi_epi32(s0, s1));
    const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(s2, s3), _mm256_unpackhi_epi32(s2, s3));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
}

/* p of 4 rows (decoded kl[4], kh[4]) x sub-blocks 2h, 2h+1 of one prepared column */
static inline __attribute__((always_inline)) __m256i gds_mxq_rows4(const __m256i *kl, const __m256i *kh, const uint8_t *pa, int h,
                                                                  bool r) {
    const __m256i s0 = gds_mxq_row(kl[0], kh[0], pa, h, r), s1 = gds_mxq_row(kl[1], kh[1], pa, h, r);
    const __m256i s2 = gds_mxq_row(kl[2], kh[2], pa, h, r), s3 = gds_mxq_row(kl[3], kh[3], pa, h, r);
    return _mm256_add_epi32(gds_mxq_sum4(s0, s1, s2, s3), _mm256_load_si256((const __m256i *)(pa + 384 + 32 * h))); /* + c */
}

/* one row decoded and multiplied at once (mat-vec: each decoded row is used
 * once, so only its sum stays live): planes d0 (a0l, a0h), d1 (a1l, a1h), r (arl, arh) */
static inline __attribute__((always_inline)) __m256i gds_mxq_row_dec(const uint8_t *x, int h, __m256i lut, __m256i a0l, __m256i a0h,
                                                                    __m256i a1l, __m256i a1h, __m256i arl, __m256i arh, bool r) {
    __m256i kl, kh;
    gds_mxq_decode(x, h, lut, &kl, &kh);
    const __m256i m0 = _mm256_add_epi16(_mm256_maddubs_epi16(kl, a0l), _mm256_maddubs_epi16(kh, a0h));
    const __m256i m1 = _mm256_add_epi16(_mm256_maddubs_epi16(kl, a1l), _mm256_maddubs_epi16(kh, a1h));
    __m256i s = _mm256_add_epi32(_mm256_madd_epi16(m0, _mm256_set1_epi16(8)), _mm256_madd_epi16(m1, _mm256_set1_epi16(2048)));
    if (r) s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(kl, arl), _mm256_maddubs_epi16(kh, arh)),
                                                     _mm256_set1_epi16(1)));
    return s;
}

/* p of rows x0..x3 x sub-blocks 2h, 2h+1 of one prepared column, decoding row by row */
static inline __attribute__((always_inline)) __m256i gds_mxq_rows4_dec(const uint8_t *x0, const uint8_t *x1, const uint8_t *x2,
                                                                      const uint8_t *x3, __m256i lut, const uint8_t *pa, int h, bool r) {
    const __m256i a0l = _mm256_load_si256((const __m256i *)(pa + 32 * h)), a0h = _mm256_load_si256((const __m256i *)(pa + 64 + 32 * h));
    const __m256i a1l = _mm256_load_si256((const __m256i *)(pa + 128 + 32 * h)), a1h = _mm256_load_si256((const __m256i *)(pa + 192 + 32 * h));
    __m256i arl = _mm256_setzero_si256(), arh = _mm256_setzero_si256();
    if (r) {
        arl = _mm256_load_si256((const __m256i *)(pa + 256 + 32 * h));
        arh = _mm256_load_si256((const __m256i *)(pa + 320 + 32 * h));
    }
    const __m256i s0 = gds_mxq_row_dec(x0, h, lut, a0l, a0h, a1l, a1h, arl, arh, r);
    const __m256i s1 = gds_mxq_row_dec(x1, h, lut, a0l, a0h, a1l, a1h, arl, arh, r);
    const __m256i s2 = gds_mxq_row_dec(x2, h, lut, a0l, a0h, a1l, a1h, arl, arh, r);
    const __m256i s3 = gds_mxq_row_dec(x3, h, lut, a0l, a0h, a1l, a1h, arl, arh, r);
    return _mm256_add_epi32(gds_mxq_sum4(s0, s1, s2, s3), _mm256_load_si256((const __m256i *)(pa + 384 + 32 * h))); /* + c */
}

/* e bytes of rows x0..x3 x 4 sub-blocks (68 bytes a row): byte 4j + r = e(r, j),
 * inserted with vpinsrb straight into their lanes: the
 * mat-vec is issue-bound, and 16 byte inserts cost fewer dispatch slots than 16
 * scalar loads with 24 shifts/ors; same bytes, so same bits. f2q-shaped
 * microbench (6 experts 2048 x 4096, 1 thread, weights in L2): 3-9 % faster. */
static inline __attribute__((always_inline)) __m128i gds_mxq_ebytes4(const uint8_t *x0, const uint8_t *x1, const uint8_t *x2,
                                                                    const uint8_t *x3) {
    __m128i v = _mm_cvtsi32_si128(x0[0]);
    v = _mm_insert_epi8(v, x1[0], 1);
    v = _mm_insert_epi8(v, x2[0], 2);
    v = _mm_insert_epi8(v, x3[0], 3);
    v = _mm_insert_epi8(v, x0[17], 4);
    v = _mm_insert_epi8(v, x1[17], 5);
    v = _mm_insert_epi8(v, x2[17], 6);
    v = _mm_insert_epi8(v, x3[17], 7);
    v = _mm_insert_epi8(v, x0[34], 8);
    v = _mm_insert_epi8(v, x1[34], 9);
    v = _mm_insert_epi8(v, x2[34], 10);
    v = _mm_insert_epi8(v, x3[34], 11);
    v = _mm_insert_epi8(v, x0[51], 12);
    v = _mm_insert_epi8(v, x1[51], 13);
    v = _mm_insert_epi8(v, x2[51], 14);
    return _mm_insert_epi8(v, x3[51], 15);
}

/* e bytes of 4 rows x 4 sub-blocks (rows at x[r], 68 bytes each): byte 4j + r = e(r, j) */
static inline __m128i gds_mxq_ebytes(const uint8_t *const *x) {
    const __m128i esh = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    uint64_t e[4];
    for (int r = 0; r < 4; r++) e[r] = (uint64_t)x[r][0] | (uint64_t)x[r][17] << 8 | (uint64_t)x[r][34] << 16 | (uint64_t)x[r][51] << 24;
    /* built in registers (vmovq + vpinsrq): four 32-bit stores read back as one vector would stall store forwarding */
    const __m128i v = _mm_insert_epi64(_mm_cvtsi64_si128((long long)(e[0] | e[1] << 32)), (long long)(e[2] | e[3] << 32), 1);
    return _mm_shuffle_epi8(v, esh);
}

/* weight scales 2^(e-127) in the lanes of gds_mxq_rows4 for half h (e = 0 clamped
 * to 2^-127; e = 255 gives inf where the scalar code uses 2^127) */
static inline __m256 gds_mxq_sw(__m128i ev, int h) {
    const __m256i eh = _mm256_cvtepu8_epi32(h ? _mm_unpackhi_epi64(ev, ev) : ev);
    return _mm256_castsi256_ps(_mm256_max_epu32(_mm256_slli_epi32(eh, 23), _mm256_set1_epi32(0x00400000)));
}

#endif /* GDS_MXFP4_AVX2_H */
