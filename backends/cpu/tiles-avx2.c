/*
 * tiles-avx2.c - mul_mat tile kernels for the AVX2 level (contract: cpu.h,
 * registry: tiles.c). Each output is bit-identical to the AVX2 mat-vec
 * kernel of its type (quants-avx2.c):
 *   - Q8_0 x Q8_0 (4 rows x up to 8 columns): exact isum per 32-block (sign
 *     trick + maddubs as dot4_q8_0_avx2, |w| and the weight loads shared by the
 *     columns), then (float)isum * (dw * da) added in block order.
 *   - F8_E4M3_B128 x prepared F8 (4 rows x up to 3 columns): the weight block
 *     is decoded once to fp16 bits (as gds_cpu_dot4_f8p_avx2) and serves all
 *     columns; per (row, column) the same two 8-lane fma chains (lanes 0-7,
 *     then lanes 8-15, computed one after the other - the chains are
 *     independent), the same reduce_to4 / (0+2)+(1+3) tree and scale steps.
 *   - BF16 x BF16 (8 rows x 1 column per pass; F8 x BF16: 4 rows x 2
 *     columns): canonical 16 lanes, product rounded then added. Elements are decoded in even/odd order (one shift or mask
 *     per 8 elements) and the two lane sets are un-interleaved before the
 *     canonical reduction, so each lane sees the same products in the same
 *     order as dot_bf16_avx2; the n % 16 tail is added in order afterwards.
 * Columns beyond nc (nc < cols) repeat the last column and are not stored.
 */
#include "cpu.h"

#include <immintrin.h>

/* MXFP4 tiles live in tiles-mxfp4-avx2.c (they share the prepared layout of quants.c) */
int gds_cpu_tiles_mxfp4_avx2(struct gds_cpu_tile *tab);

#define TILE_INLINE static inline __attribute__((always_inline))

/* canonical reduction (quants-avx2.c): lanes 0-7 in lo, 8-15 in hi -> s4 */
TILE_INLINE __m128 reduce_to4(__m256 lo, __m256 hi) {
    const __m256 s8 = _mm256_add_ps(lo, hi);
    return _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
}
/* four s4 vectors -> [a, b, c, d] with the canonical (0+2) + (1+3) tree */
TILE_INLINE __m128 reduce4x4(__m128 a, __m128 b, __m128 c, __m128 d) {
    const __m128 ab = _mm_add_ps(_mm_unpacklo_ps(a, b), _mm_unpackhi_ps(a, b));
    const __m128 cd = _mm_add_ps(_mm_unpacklo_ps(c, d), _mm_unpackhi_ps(c, d));
    return _mm_add_ps(_mm_movelh_ps(ab, cd), _mm_movehl_ps(cd, ab));
}

/* ---- Q8_0 x Q8_0 ----------------------------------------------------------- */

/* 8 int32 lanes summing to the block's isum (as q8_lanes in quants-avx2.c) */
TILE_INLINE __m256i q8t_lanes(__m256i wabs, __m256i wv, __m256i av) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, _mm256_sign_epi8(av, wv)), _mm256_set1_epi16(1));
}

/* 4 rows x 2*NP columns; column pair p accumulates [r0..r3 of col 2p, r0..r3 of col 2p+1] */
TILE_INLINE void q8_tile(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc, const int NP) {
    const block_q8_0 *x0 = w, *x1 = (const block_q8_0 *)((const char *)w + bw);
    const block_q8_0 *x2 = (const block_q8_0 *)((const char *)w + 2 * bw), *x3 = (const block_q8_0 *)((const char *)w + 3 * bw);
    const block_q8_0 *ac[8];
    for (int j = 0; j < 2 * NP; j++) ac[j] = a[j < nc ? j : nc - 1];
    __m256 acc[4];
    for (int p = 0; p < NP; p++) acc[p] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / QK8_0; b++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)x0[b].qs), w1 = _mm256_loadu_si256((const __m256i *)x1[b].qs);
        const __m256i w2 = _mm256_loadu_si256((const __m256i *)x2[b].qs), w3 = _mm256_loadu_si256((const __m256i *)x3[b].qs);
        const __m256i u0 = _mm256_sign_epi8(w0, w0), u1 = _mm256_sign_epi8(w1, w1);
        const __m256i u2 = _mm256_sign_epi8(w2, w2), u3 = _mm256_sign_epi8(w3, w3);
        const __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)x0[b].d, (short)x1[b].d, (short)x2[b].d, (short)x3[b].d, 0, 0, 0, 0));
        const __m256 dw2 = _mm256_set_m128(dw, dw);
#pragma GCC unroll 4
        for (int p = 0; p < NP; p++) {
            const block_q8_0 *a0 = ac[2 * p] + b, *a1 = ac[2 * p + 1] + b;
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)a0->qs);
            const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(q8t_lanes(u0, w0, v0), q8t_lanes(u1, w1, v0)),
                                                 _mm256_hadd_epi32(q8t_lanes(u2, w2, v0), q8t_lanes(u3, w3, v0)));
            const __m256i v1 = _mm256_loadu_si256((const __m256i *)a1->qs);
            const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(q8t_lanes(u0, w0, v1), q8t_lanes(u1, w1, v1)),
                                                 _mm256_hadd_epi32(q8t_lanes(u2, w2, v1), q8t_lanes(u3, w3, v1)));
            const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
            const short d0 = (short)a0->d, d1 = (short)a1->d; /* vcvtph2ps: the exact value, as gds_fp16_to_fp32 */
            const __m256 da = _mm256_cvtph_ps(_mm_setr_epi16(d0, d0, d0, d0, d1, d1, d1, d1));
            acc[p] = _mm256_add_ps(acc[p], _mm256_mul_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dw2, da)));
        }
    }
    for (int p = 0; p < NP; p++) {
        if (2 * p < nc) _mm_storeu_ps(y[2 * p], _mm256_castps256_ps128(acc[p]));
        if (2 * p + 1 < nc) _mm_storeu_ps(y[2 * p + 1], _mm256_extractf128_ps(acc[p], 1));
    }
}

static void tile_q8_0(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    if (nc <= 2) q8_tile(K, w, bw, a, y, nc, 1);
    else if (nc <= 4) q8_tile(K, w, bw, a, y, nc, 2);
    else if (nc <= 6) q8_tile(K, w, bw, a, y, nc, 3);
    else q8_tile(K, w, bw, a, y, nc, 4);
}

/* ---- F8_E4M3_B128 x prepared F8 -------------------------------------------- */

/* One block of 2 weight rows (decoded fp32 e4m3 * 2^-8 in wf) x NC (2 or 4)
 * prepared columns p0..p3 (block start; layout gds_cpu_f8_prep, sa at [128]).
 * Outputs are reduced in groups of 4: [(r0,c), (r1,c), (r0,c+1), (r1,c+1)]. */
TILE_INLINE void f8_group(const float (*wf)[QK_F8], __m128 sw, const float *p0, const float *p1, const float *p2, const float *p3,
                          __m128 *acc0, __m128 *acc1, const int NC) {
    /* lanes 0-7 (elements h..h+7 of each 16), then lanes 8-15: one pass each
     * (a real loop, so only 8 accumulators are live), results in ls[half] */
    __attribute__((aligned(32))) float ls[2][8][8];
#pragma GCC unroll 1
    for (int half = 0; half < 2; half++) {
        __m256 l0 = _mm256_setzero_ps(), l1 = l0, l2 = l0, l3 = l0, l4 = l0, l5 = l0, l6 = l0, l7 = l0;
#pragma GCC unroll 8
        for (int h = 8 * half; h < QK_F8; h += 16) { /* exact products */
            __m256 u0 = _mm256_load_ps(wf[0] + h), u1 = _mm256_load_ps(wf[1] + h);
            __asm__("" : "+x"(u0), "+x"(u1)); /* registers, not memory operands */
            const __m256 v0 = _mm256_load_ps(p0 + h), v1 = _mm256_load_ps(p1 + h);
            l0 = _mm256_fmadd_ps(u0, v0, l0); l1 = _mm256_fmadd_ps(u1, v0, l1);
            l2 = _mm256_fmadd_ps(u0, v1, l2); l3 = _mm256_fmadd_ps(u1, v1, l3);
            if (NC > 2) {
                const __m256 v2 = _mm256_load_ps(p2 + h), v3 = _mm256_load_ps(p3 + h);
                l4 = _mm256_fmadd_ps(u0, v2, l4); l5 = _mm256_fmadd_ps(u1, v2, l5);
                l6 = _mm256_fmadd_ps(u0, v3, l6); l7 = _mm256_fmadd_ps(u1, v3, l7);
            }
        }
        _mm256_store_ps(ls[half][0], l0); _mm256_store_ps(ls[half][1], l1);
        _mm256_store_ps(ls[half][2], l2); _mm256_store_ps(ls[half][3], l3);
        if (NC > 2) {
            _mm256_store_ps(ls[half][4], l4); _mm256_store_ps(ls[half][5], l5);
            _mm256_store_ps(ls[half][6], l6); _mm256_store_ps(ls[half][7], l7);
        }
    }
#define F8T_S4(i) reduce_to4(_mm256_load_ps(ls[0][i]), _mm256_load_ps(ls[1][i]))
    {
        const __m128 pp = reduce4x4(F8T_S4(0), F8T_S4(1), F8T_S4(2), F8T_S4(3));
        const __m128 sc = _mm_mul_ps(sw, _mm_setr_ps(p0[QK_F8], p0[QK_F8], p1[QK_F8], p1[QK_F8]));
        *acc0 = _mm_add_ps(*acc0, _mm_mul_ps(pp, sc));
    }
    if (NC > 2) {
        const __m128 pp = reduce4x4(F8T_S4(4), F8T_S4(5), F8T_S4(6), F8T_S4(7));
        const __m128 sc = _mm_mul_ps(sw, _mm_setr_ps(p2[QK_F8], p2[QK_F8], p3[QK_F8], p3[QK_F8]));
        *acc1 = _mm_add_ps(*acc1, _mm_mul_ps(pp, sc));
    }
#undef F8T_S4
}

/* 16 rows x up to 16 prepared columns, block by block: for each 128-block,
 * the 8 row pairs take turns; a pair's block is decoded once (as
 * gds_cpu_dot4_f8p_avx2: e4m3 * 2^-8 via fp16 bits and vcvtph2ps) for all
 * columns, which go in groups of 4 (a last group of 1-2 columns as 2). The
 * columns' current block (16 x 576 bytes) stays in L1 across the row pairs
 * (prepared rows are 4.5 bytes per element: whole columns of a long K, e.g.
 * wo_b, do not fit L2). Each output still adds its blocks in order. */
static void tile_f8(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const int ng = (nc + 3) / 4, last2 = nc - 4 * (ng - 1) <= 2;
    const float *ac[16];
    for (int j = 0; j < 4 * ng; j++) ac[j] = a[j < nc ? j : nc - 1];
    __m128 acc[8][8]; /* [row pair][column pair] */
    for (int rp = 0; rp < 8; rp++)
        for (int g = 0; g < 2 * ng; g++) acc[rp][g] = _mm_setzero_ps();
    __attribute__((aligned(32))) float wf[2][QK_F8];
    for (int64_t b = 0; b < K / QK_F8; b++) {
        const int64_t o = b * 144; /* floats per prepared block */
        for (int rp = 0; rp < 8; rp++) {
            const block_f8 *x0 = (const block_f8 *)((const char *)w + (size_t)(2 * rp) * bw) + b;
            const block_f8 *x1 = (const block_f8 *)((const char *)x0 + bw);
#pragma GCC unroll 8
            for (int h = 0; h < QK_F8; h += 16) {
                const __m256i c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x0->qs + h)));
                const __m256i c1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x1->qs + h)));
                const __m256i f0 = _mm256_and_si256(_mm256_slli_epi16(c0, 7), _mm256_set1_epi16((short)0xBFFF));
                const __m256i f1 = _mm256_and_si256(_mm256_slli_epi16(c1, 7), _mm256_set1_epi16((short)0xBFFF));
                _mm256_store_ps(wf[0] + h, _mm256_cvtph_ps(_mm256_castsi256_si128(f0)));
                _mm256_store_ps(wf[0] + h + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(f0, 1)));
                _mm256_store_ps(wf[1] + h, _mm256_cvtph_ps(_mm256_castsi256_si128(f1)));
                _mm256_store_ps(wf[1] + h + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(f1, 1)));
            }
            const float s0 = gds_e8m0_to_fp32(x0->e), s1 = gds_e8m0_to_fp32(x1->e);
            const __m128 sw = _mm_setr_ps(s0, s1, s0, s1);
            for (int g = 0; g < ng; g++) {
                const float *const *q = ac + 4 * g;
                if (g == ng - 1 && last2)
                    f8_group((const float (*)[QK_F8])wf, sw, q[0] + o, q[1] + o, q[0] + o, q[1] + o, &acc[rp][2 * g], &acc[rp][2 * g + 1], 2);
                else f8_group((const float (*)[QK_F8])wf, sw, q[0] + o, q[1] + o, q[2] + o, q[3] + o, &acc[rp][2 * g], &acc[rp][2 * g + 1], 4);
            }
        }
    }
    for (int j = 0; j < nc; j++)
        for (int rp = 0; rp < 8; rp++) {
            if (j & 1) _mm_storeh_pi((__m64 *)(y[j] + 2 * rp), acc[rp][j / 2]);
            else _mm_storel_pi((__m64 *)(y[j] + 2 * rp), acc[rp][j / 2]);
        }
}

/* ---- BF16 activations: BF16 x BF16 and F8 x BF16 (GDS_MM_ACT_BF16) ---------
 * 4 rows x up to 16 columns. K is cut into chunks of BFC_KC elements; each
 * chunk of the 4 weight rows is decoded once into fp32 (wb, in even/odd
 * order: per 16 elements, 8 even then 8 odd), then every column pair runs
 * two passes over it (even lanes, odd lanes) with its 16 accumulators kept in
 * registers, saved in acc between chunks. Activations decode with one shift
 * (even: low halves of the 32-bit pairs) or one mask (odd). */

#define BFC_KC 256

struct bfc {
    __attribute__((aligned(32))) float wb[4][BFC_KC];      /* [row][16-group g: 8 even, 8 odd] */
    __attribute__((aligned(32))) float acc[16][4][2][8];   /* [col][row][even/odd][8] */
};

TILE_INLINE void bfc_pass(const float (*wb)[BFC_KC], const gds_bf16_t *a0, const gds_bf16_t *a1, int64_t n, float (*m0)[2][8],
                          float (*m1)[2][8], const int par, const char *pf0, const char *pf1) {
    const __m256i hi16 = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 s00 = _mm256_load_ps(m0[0][par]), s01 = _mm256_load_ps(m1[0][par]);
    __m256 s10 = _mm256_load_ps(m0[1][par]), s11 = _mm256_load_ps(m1[1][par]);
    __m256 s20 = _mm256_load_ps(m0[2][par]), s21 = _mm256_load_ps(m1[2][par]);
    __m256 s30 = _mm256_load_ps(m0[3][par]), s31 = _mm256_load_ps(m1[3][par]);
    for (int64_t k = 0; k < n; k += 16) {
        if (par && (k & 31) == 0) { /* the next column pair's chunk, one line each per 2 steps */
            _mm_prefetch(pf0 + 2 * k, GDS_PF_HINT);
            _mm_prefetch(pf1 + 2 * k, GDS_PF_HINT);
        }
#define BF_DEC(P) (par ? _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)(P)), hi16)) \
                       : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(P)), 16)))
        const __m256 v0 = BF_DEC(a0 + k), v1 = BF_DEC(a1 + k);
#undef BF_DEC
        __m256 w0 = _mm256_load_ps(wb[0] + k + 8 * par), w1 = _mm256_load_ps(wb[1] + k + 8 * par);
        __asm__("" : "+x"(w0), "+x"(w1)); /* keep in registers: 4 weight loads per 8 products, not 8 memory operands */
        s00 = _mm256_add_ps(s00, _mm256_mul_ps(w0, v0));
        s01 = _mm256_add_ps(s01, _mm256_mul_ps(w0, v1));
        s10 = _mm256_add_ps(s10, _mm256_mul_ps(w1, v0));
        s11 = _mm256_add_ps(s11, _mm256_mul_ps(w1, v1));
        __m256 w2 = _mm256_load_ps(wb[2] + k + 8 * par), w3 = _mm256_load_ps(wb[3] + k + 8 * par);
        __asm__("" : "+x"(w2), "+x"(w3));
        s20 = _mm256_add_ps(s20, _mm256_mul_ps(w2, v0));
        s21 = _mm256_add_ps(s21, _mm256_mul_ps(w2, v1));
        s30 = _mm256_add_ps(s30, _mm256_mul_ps(w3, v0));
        s31 = _mm256_add_ps(s31, _mm256_mul_ps(w3, v1));
    }
    _mm256_store_ps(m0[0][par], s00); _mm256_store_ps(m1[0][par], s01);
    _mm256_store_ps(m0[1][par], s10); _mm256_store_ps(m1[1][par], s11);
    _mm256_store_ps(m0[2][par], s20); _mm256_store_ps(m1[2][par], s21);
    _mm256_store_ps(m0[3][par], s30); _mm256_store_ps(m1[3][par], s31);
}

/* all column pairs over one decoded chunk of n elements starting at k0 */
static void bfc_chunk(struct bfc *t, const void *const *a, int nc, int64_t k0, int64_t n) {
    for (int j = 0; j < nc; j += 2) {
        const gds_bf16_t *a0 = (const gds_bf16_t *)a[j] + k0, *a1 = (const gds_bf16_t *)a[j + 1 < nc ? j + 1 : j] + k0;
        const int j2 = j + 2 < nc ? j + 2 : 0, j3 = j + 3 < nc ? j + 3 : j2; /* next pair (or the first, for the next chunk) */
        const int64_t kp = j + 2 < nc ? k0 : k0 + n;
        const char *pf0 = (const char *)((const gds_bf16_t *)a[j2] + kp), *pf1 = (const char *)((const gds_bf16_t *)a[j3] + kp);
        bfc_pass((const float (*)[BFC_KC])t->wb, a0, a1, n, t->acc[j], t->acc[j + 1], 0, pf0, pf1);
        bfc_pass((const float (*)[BFC_KC])t->wb, a0, a1, n, t->acc[j], t->acc[j + 1], 1, pf0, pf1);
    }
}

/* canonical lanes from the even/odd accumulators, reduced for the 4 rows of column j */
static __m128 bfc_sums(const struct bfc *t, int j) {
    __m128 s4[4];
    for (int r = 0; r < 4; r++) {
        const __m256 ev = _mm256_load_ps(t->acc[j][r][0]), od = _mm256_load_ps(t->acc[j][r][1]);
        const __m256 u = _mm256_unpacklo_ps(ev, od), v = _mm256_unpackhi_ps(ev, od); /* [0 1 2 3 | 8 9 10 11], [4 5 6 7 | 12 13 14 15] */
        s4[r] = reduce_to4(_mm256_permute2f128_ps(u, v, 0x20), _mm256_permute2f128_ps(u, v, 0x31));
    }
    return reduce4x4(s4[0], s4[1], s4[2], s4[3]);
}

/* 8 even, then 8 odd elements of lo (elements 0-7), hi (8-15) */
TILE_INLINE void bfc_store_eo(float *d, __m256 lo, __m256 hi) {
    const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)); /* [0 2 8 10 | 4 6 12 14] */
    const __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    _mm256_store_ps(d, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0))));
    _mm256_store_ps(d + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0))));
}

/* BF16 x BF16 tile: 8 rows x up to 16 columns, one column per pass (8
 * accumulators; each activation load serves 8 rows, so a chunk of the
 * columns, read from L2, feeds twice the products of the 4-row passes) */
struct bfc8 {
    __attribute__((aligned(32))) float wb[8][BFC_KC];
    __attribute__((aligned(32))) float acc[16][8][2][8]; /* [col][row][even/odd][8] */
};

TILE_INLINE void bfc8_pass(const float (*wb)[BFC_KC], const gds_bf16_t *a0, int64_t n, float (*m)[2][8], const int par) {
    const __m256i hi16 = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 s0 = _mm256_load_ps(m[0][par]), s1 = _mm256_load_ps(m[1][par]), s2 = _mm256_load_ps(m[2][par]), s3 = _mm256_load_ps(m[3][par]);
    __m256 s4 = _mm256_load_ps(m[4][par]), s5 = _mm256_load_ps(m[5][par]), s6 = _mm256_load_ps(m[6][par]), s7 = _mm256_load_ps(m[7][par]);
    for (int64_t k = 0; k < n; k += 16) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(a0 + k));
        const __m256 v = _mm256_castsi256_ps(par ? _mm256_and_si256(raw, hi16) : _mm256_slli_epi32(raw, 16));
        const int64_t o = k + 8 * par;
        s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_load_ps(wb[0] + o), v));
        s1 = _mm256_add_ps(s1, _mm256_mul_ps(_mm256_load_ps(wb[1] + o), v));
        s2 = _mm256_add_ps(s2, _mm256_mul_ps(_mm256_load_ps(wb[2] + o), v));
        s3 = _mm256_add_ps(s3, _mm256_mul_ps(_mm256_load_ps(wb[3] + o), v));
        s4 = _mm256_add_ps(s4, _mm256_mul_ps(_mm256_load_ps(wb[4] + o), v));
        s5 = _mm256_add_ps(s5, _mm256_mul_ps(_mm256_load_ps(wb[5] + o), v));
        s6 = _mm256_add_ps(s6, _mm256_mul_ps(_mm256_load_ps(wb[6] + o), v));
        s7 = _mm256_add_ps(s7, _mm256_mul_ps(_mm256_load_ps(wb[7] + o), v));
    }
    _mm256_store_ps(m[0][par], s0); _mm256_store_ps(m[1][par], s1); _mm256_store_ps(m[2][par], s2); _mm256_store_ps(m[3][par], s3);
    _mm256_store_ps(m[4][par], s4); _mm256_store_ps(m[5][par], s5); _mm256_store_ps(m[6][par], s6); _mm256_store_ps(m[7][par], s7);
}

/* canonical lanes of row r, column j, from the even/odd accumulators -> s4 */
TILE_INLINE __m128 bfc8_s4(const struct bfc8 *t, int j, int r) {
    const __m256 ev = _mm256_load_ps(t->acc[j][r][0]), od = _mm256_load_ps(t->acc[j][r][1]);
    const __m256 u = _mm256_unpacklo_ps(ev, od), v = _mm256_unpackhi_ps(ev, od); /* [0 1 2 3 | 8 9 10 11], [4 5 6 7 | 12 13 14 15] */
    return reduce_to4(_mm256_permute2f128_ps(u, v, 0x20), _mm256_permute2f128_ps(u, v, 0x31));
}

/* BF16 x BF16: each output bit-identical to dot_bf16_avx2 */
static void tile_bf16(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const gds_bf16_t *x[8];
    for (int r = 0; r < 8; r++) x[r] = (const gds_bf16_t *)((const char *)w + r * bw);
    struct bfc8 t;
    memset(t.acc, 0, sizeof(t.acc[0]) * (size_t)nc);
    const int64_t K16 = K & ~(int64_t)15;
    const __m256i hi16 = _mm256_set1_epi32((int)0xFFFF0000u);
    for (int64_t k0 = 0; k0 < K16; k0 += BFC_KC) {
        const int64_t n = k0 + BFC_KC < K16 ? BFC_KC : K16 - k0;
        for (int r = 0; r < 8; r++)
            for (int64_t k = 0; k < n; k += 16) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(x[r] + k0 + k));
                _mm256_store_ps(t.wb[r] + k, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
                _mm256_store_ps(t.wb[r] + k + 8, _mm256_castsi256_ps(_mm256_and_si256(v, hi16)));
            }
        for (int j = 0; j < nc; j++) {
            const gds_bf16_t *aj = (const gds_bf16_t *)a[j] + k0;
            bfc8_pass((const float (*)[BFC_KC])t.wb, aj, n, t.acc[j], 0);
            bfc8_pass((const float (*)[BFC_KC])t.wb, aj, n, t.acc[j], 1);
        }
    }
    for (int j = 0; j < nc; j++) {
        __attribute__((aligned(16))) float s[8];
        _mm_store_ps(s, reduce4x4(bfc8_s4(&t, j, 0), bfc8_s4(&t, j, 1), bfc8_s4(&t, j, 2), bfc8_s4(&t, j, 3)));
        _mm_store_ps(s + 4, reduce4x4(bfc8_s4(&t, j, 4), bfc8_s4(&t, j, 5), bfc8_s4(&t, j, 6), bfc8_s4(&t, j, 7)));
        const gds_bf16_t *aj = a[j];
        for (int r = 0; r < 8; r++) {
            float sum = s[r];
            for (int64_t k = K16; k < K; k++) {
                float p = gds_bf16_to_fp32(x[r][k]) * gds_bf16_to_fp32(aj[k]);
                sum = sum + p;
            }
            y[j][r] = sum;
        }
    }
}

/* 16 e4m3 codes -> e4m3 * 2^-8, elements 0-7 and 8-15 (as quants-avx2.c) */
TILE_INLINE void e4m3x16_ps(const uint8_t *c, __m256 *lo, __m256 *hi) {
    __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)c));
    h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16((short)0xBFFF));
    *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
    *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

/* F8 x BF16 (GDS_MM_ACT_BF16): each output bit-identical to
 * gds_cpu_dot_f8bf16_avx2 / gds_cpu_dot4_f8bf16_avx2: w = (e4m3 * 2^-8) *
 * (256 * 2^(e-127)) for e <= 246, else ((e4m3 * 2^-8) * 256) * 2^(e-127) */
static void tile_f8bf16(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const block_f8 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_f8 *)((const char *)w + r * bw);
    struct bfc t;
    memset(t.acc, 0, sizeof(t.acc[0]) * (size_t)((nc + 1) & ~1));
    for (int64_t k0 = 0; k0 < K; k0 += BFC_KC) { /* K % 128 == 0 */
        const int64_t n = k0 + BFC_KC < K ? BFC_KC : K - k0;
        for (int r = 0; r < 4; r++)
            for (int64_t k = 0; k < n; k += QK_F8) {
                const block_f8 *xb = &x[r][(k0 + k) / QK_F8];
                const float sc = gds_e8m0_to_fp32(xb->e);
                const bool two = xb->e > 246;
                const __m256 m1 = _mm256_set1_ps(two ? 256.0f : sc * 256.0f), m2 = _mm256_set1_ps(sc);
                for (int h = 0; h < QK_F8; h += 16) {
                    __m256 lo, hi;
                    e4m3x16_ps(xb->qs + h, &lo, &hi);
                    lo = _mm256_mul_ps(lo, m1);
                    hi = _mm256_mul_ps(hi, m1);
                    if (two) { lo = _mm256_mul_ps(lo, m2); hi = _mm256_mul_ps(hi, m2); }
                    bfc_store_eo(t.wb[r] + k + h, lo, hi);
                }
            }
        bfc_chunk(&t, a, nc, k0, n);
    }
    for (int j = 0; j < nc; j++) {
        __attribute__((aligned(16))) float s[4];
        _mm_store_ps(s, bfc_sums(&t, j));
        for (int r = 0; r < 4; r++) y[j][r] = s[r];
    }
}

/* ---- table ------------------------------------------------------------------ */

int gds_cpu_tiles_avx2(struct gds_cpu_tile *tab);
int gds_cpu_tiles_avx2(struct gds_cpu_tile *tab) {
    int n = gds_cpu_tiles_mxfp4_avx2(tab);
    tab[GDS_TYPE_Q8_0] = (struct gds_cpu_tile){ tile_q8_0, 4, 8, false, NULL, NULL };
    tab[GDS_TYPE_F8_E4M3_B128] = (struct gds_cpu_tile){ tile_f8, 16, 16, true, NULL, NULL };
    tab[GDS_TYPE_BF16] = (struct gds_cpu_tile){ tile_bf16, 8, 16, false, NULL, NULL };
    return n + 3;
}

/* GDS_MM_ACT_BF16 tiles (tiles.c: F8 weights with bf16 activation rows) */
int gds_cpu_tiles_act_bf16_avx2(struct gds_cpu_tile *tab);
int gds_cpu_tiles_act_bf16_avx2(struct gds_cpu_tile *tab) {
    tab[GDS_TYPE_F8_E4M3_B128] = (struct gds_cpu_tile){ tile_f8bf16, 4, 16, false, NULL, NULL };
    return 1;
}
