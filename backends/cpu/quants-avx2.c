/*
 * quants-avx2.c - AVX2/FMA/F16C dot products for mul_mat.
 *
 * Same arithmetic as the scalar reference in quants.c (see its header for the
 * canonical definitions), so results are bit-identical to scalar (and to
 * AVX-512 except its MXFP4 mul_mat fast path), including the MXFP4 / F8
 * mul_mat fast paths on prepared activations.
 * The canonical 16 float lanes are kept as two 8-lane registers (lanes 0-7 and
 * 8-15). e4m3 codes are decoded through fp16 bit patterns (e4m3 * 2^-8, exact;
 * NaN codes decode as 480), e2m1 nibbles through pshufb.
 */
#include "cpu.h"

#include <immintrin.h>

#include "mxfp4-avx2.h"

/* ---- helpers ------------------------------------------------------------- */

/* 16 e4m3 codes -> e4m3 * 2^-8, elements 0-7 and 8-15 */
static inline void e4m3x16_ps(const uint8_t *c, __m256 *lo, __m256 *hi) {
    __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)c));
    h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16((short)0xBFFF));
    *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
    *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

/* canonical reduction: lanes 0-7 in lo, 8-15 in hi -> s4 (4 lanes) */
static inline __m128 reduce_to4(__m256 lo, __m256 hi) {
    const __m256 s8 = _mm256_add_ps(lo, hi);
    return _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
}
static inline float reduce4_1(__m128 s4) {
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}
/* four s4 vectors -> [a, b, c, d] with the canonical (0+2) + (1+3) tree */
static inline __m128 reduce4x4(__m128 a, __m128 b, __m128 c, __m128 d) {
    const __m128 ab = _mm_add_ps(_mm_unpacklo_ps(a, b), _mm_unpackhi_ps(a, b)); /* a0+a2 b0+b2 a1+a3 b1+b3 */
    const __m128 cd = _mm_add_ps(_mm_unpacklo_ps(c, d), _mm_unpackhi_ps(c, d));
    return _mm_add_ps(_mm_movelh_ps(ab, cd), _mm_movehl_ps(cd, ab));
}

static inline int32_t hsum_epi32(__m256i v) {
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(t);
}

/* four 8-lane int32 vectors -> [sum a, sum b, sum c, sum d] (exact, any order) */
static inline __m128i hsum4_epi32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i u = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
}

/* ---- float types --------------------------------------------------------- */

static void dot_f32_avx2(int64_t n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m256 l0 = _mm256_setzero_ps(), l1 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        l0 = _mm256_add_ps(l0, _mm256_mul_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
        l1 = _mm256_add_ps(l1, _mm256_mul_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8)));
    }
    float sum = reduce4_1(reduce_to4(l0, l1));
    for (; k < n; k++) { float p = x[k] * y[k]; sum = sum + p; }
    *s = sum;
}

static inline __m256 f16x8_ps(const gds_fp16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void dot_f16_avx2(int64_t n, float *s, const void *w, const void *a) {
    const gds_fp16_t *x = w, *y = a;
    __m256 l0 = _mm256_setzero_ps(), l1 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) { /* exact products: fma == mul + add */
        l0 = _mm256_fmadd_ps(f16x8_ps(x + k), f16x8_ps(y + k), l0);
        l1 = _mm256_fmadd_ps(f16x8_ps(x + k + 8), f16x8_ps(y + k + 8), l1);
    }
    float sum = reduce4_1(reduce_to4(l0, l1));
    for (; k < n; k++) { float p = gds_fp16_to_fp32(x[k]) * gds_fp16_to_fp32(y[k]); sum = sum + p; }
    *s = sum;
}

static inline __m256 bf16x8_ps(const gds_bf16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static void dot_bf16_avx2(int64_t n, float *s, const void *w, const void *a) {
    const gds_bf16_t *x = w, *y = a;
    __m256 l0 = _mm256_setzero_ps(), l1 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        l0 = _mm256_add_ps(l0, _mm256_mul_ps(bf16x8_ps(x + k), bf16x8_ps(y + k)));
        l1 = _mm256_add_ps(l1, _mm256_mul_ps(bf16x8_ps(x + k + 8), bf16x8_ps(y + k + 8)));
    }
    float sum = reduce4_1(reduce_to4(l0, l1));
    for (; k < n; k++) { float p = gds_bf16_to_fp32(x[k]) * gds_bf16_to_fp32(y[k]); sum = sum + p; }
    *s = sum;
}

/* 4 rows (stride bw bytes): each row exactly dot_bf16_avx2 (own lanes, same
 * order), 4 streams in flight, the next 4 rows prefetched */
static void dot4_bf16_avx2(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const gds_bf16_t *y = a;
    const gds_bf16_t *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const gds_bf16_t *)((const char *)w + r * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m256 l0[4], l1[4];
    for (int r = 0; r < 4; r++) l0[r] = l1[r] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        if ((k & 31) == 0)
            for (int r = 0; r < 4; r++) _mm_prefetch(pf + r * bw + 2 * k, GDS_PF_HINT);
        const __m256 y0 = bf16x8_ps(y + k), y1 = bf16x8_ps(y + k + 8);
        for (int r = 0; r < 4; r++) {
            l0[r] = _mm256_add_ps(l0[r], _mm256_mul_ps(bf16x8_ps(x[r] + k), y0));
            l1[r] = _mm256_add_ps(l1[r], _mm256_mul_ps(bf16x8_ps(x[r] + k + 8), y1));
        }
    }
    for (int r = 0; r < 4; r++) {
        float sum = reduce4_1(reduce_to4(l0[r], l1[r]));
        for (int64_t j = k; j < n; j++) { float p = gds_bf16_to_fp32(x[r][j]) * gds_bf16_to_fp32(y[j]); sum = sum + p; }
        s[r] = sum;
    }
}

/* ---- F8 x F8 ------------------------------------------------------------- */

static void dot_f8_avx2(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        __m256 l0 = _mm256_setzero_ps(), l1 = l0;
        for (int h = 0; h < QK_F8; h += 16) {
            __m256 a0, a1, w0, w1;
            e4m3x16_ps(y[b].qs + h, &a0, &a1);
            e4m3x16_ps(x[b].qs + h, &w0, &w1);
            l0 = _mm256_fmadd_ps(w0, a0, l0);
            l1 = _mm256_fmadd_ps(w1, a1, l1);
        }
        const float p = reduce4_1(reduce_to4(l0, l1)) * 65536.0f;
        const float sc = gds_e8m0_to_fp32(x[b].e) * gds_e8m0_to_fp32(y[b].e);
        const float t = p * sc;
        acc = acc + t;
    }
    *s = acc;
}

static void dot4_f8_avx2(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const block_f8 *y = a;
    const block_f8 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_f8 *)((const char *)w + r * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_F8; b++) {
        for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_f8);
        __m256 av[16];
        for (int h = 0; h < 8; h++) e4m3x16_ps(y[b].qs + 16 * h, &av[2 * h], &av[2 * h + 1]);
        __m128 s4[4];
        for (int r = 0; r < 4; r++) {
            __m256 l0 = _mm256_setzero_ps(), l1 = l0;
            for (int h = 0; h < 8; h++) {
                __m256 u, v;
                e4m3x16_ps(x[r][b].qs + 16 * h, &u, &v);
                l0 = _mm256_fmadd_ps(u, av[2 * h], l0);
                l1 = _mm256_fmadd_ps(v, av[2 * h + 1], l1);
            }
            s4[r] = reduce_to4(l0, l1);
        }
        const __m128 p = _mm_mul_ps(reduce4x4(s4[0], s4[1], s4[2], s4[3]), _mm_set1_ps(65536.0f));
        const __m128 sw = _mm_setr_ps(gds_e8m0_to_fp32(x[0][b].e), gds_e8m0_to_fp32(x[1][b].e), gds_e8m0_to_fp32(x[2][b].e),
                                      gds_e8m0_to_fp32(x[3][b].e));
        const __m128 sc = _mm_mul_ps(sw, _mm_set1_ps(gds_e8m0_to_fp32(y[b].e)));
        acc = _mm_add_ps(acc, _mm_mul_ps(p, sc));
    }
    _mm_storeu_ps(s, acc);
}

/* ---- Q8_0 x Q8_0 --------------------------------------------------------- */

/* 8 int32 lanes summing to the block's isum (maddubs on |w| and sign(a, w):
 * |pair| <= 2*128*127 fits int16 for activations in [-127, 127]) */
static inline __m256i q8_lanes(const block_q8_0 *x, __m256i av) {
    const __m256i wv = _mm256_loadu_si256((const __m256i *)x->qs);
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static void dot_q8_0_avx2(int64_t n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const int32_t isum = hsum_epi32(q8_lanes(&x[b], _mm256_loadu_si256((const __m256i *)y[b].qs)));
        const float d = gds_fp16_to_fp32(x[b].d) * gds_fp16_to_fp32(y[b].d);
        const float t = (float)isum * d;
        acc = acc + t;
    }
    *s = acc;
}

static inline __m128 fp16x4_ps(gds_fp16_t a, gds_fp16_t b, gds_fp16_t c, gds_fp16_t d) {
    return _mm_cvtph_ps(_mm_setr_epi16((short)a, (short)b, (short)c, (short)d, 0, 0, 0, 0));
}

static void dot4_q8_0_avx2(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const block_q8_0 *y = a;
    const block_q8_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_q8_0 *)((const char *)w + r * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        if ((b & 1) == 0) {
            for (int j = 0; j < 5; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
            pf += 4 * 2 * sizeof(block_q8_0);
        }
        const __m256i av = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const __m128i isum = hsum4_epi32(q8_lanes(&x[0][b], av), q8_lanes(&x[1][b], av), q8_lanes(&x[2][b], av),
                                         q8_lanes(&x[3][b], av));
        const __m128 dw = fp16x4_ps(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d);
        const __m128 d = _mm_mul_ps(dw, _mm_set1_ps(gds_fp16_to_fp32(y[b].d)));
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(isum), d));
    }
    _mm_storeu_ps(s, acc);
}

/* ---- MXFP4 x F8 ---------------------------------------------------------- */

/* 128 activation codes -> e4m3 * 2^9 (integer-valued floats), 8 per vector in element order */
static inline void act_x9(const uint8_t *qs, __m256 *av) {
    const __m256 k = _mm256_set1_ps(131072.0f);
    for (int h = 0; h < 8; h++) {
        __m256 lo, hi;
        e4m3x16_ps(qs + 16 * h, &lo, &hi);
        av[2 * h] = _mm256_mul_ps(lo, k);
        av[2 * h + 1] = _mm256_mul_ps(hi, k);
    }
}

/* one MXFP4 block (32) against activations av[0..3] (elements 0-7, 8-15, 16-23, 24-31):
 * 8 int32 lanes summing to p; each lane sums 4 integer products of |.| < 2^21.4,
 * exact in fp32 */
static inline __m256i mxfp4_lanes(const block_mxfp4 *x, const __m256 *av) {
    const __m128i kv = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
    const __m128i q = _mm_loadu_si128((const __m128i *)x->qs);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_shuffle_epi8(kv, _mm_and_si128(q, m4));
    const __m128i hi = _mm_shuffle_epi8(kv, _mm_and_si128(_mm_srli_epi16(q, 4), m4));
    const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)));
    const __m256 w2 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    const __m256 w3 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)));
    const __m256 v0 = _mm256_fmadd_ps(w2, av[2], _mm256_mul_ps(w0, av[0]));
    const __m256 v1 = _mm256_fmadd_ps(w3, av[3], _mm256_mul_ps(w1, av[1]));
    return _mm256_cvtps_epi32(_mm256_add_ps(v0, v1));
}

static void dot_mxfp4_avx2(int64_t n, float *s, const void *w, const void *a) {
    const block_mxfp4 *x = w;
    const block_f8 *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        __m256 av[16];
        act_x9(y[b].qs, av);
        const float sa9 = gds_e8m0_to_fp32(y[b].e) * 0x1p-9f;
        for (int j = 0; j < 4; j++) {
            const block_mxfp4 *xb = &x[4 * b + j];
            const int32_t p = hsum_epi32(mxfp4_lanes(xb, av + 4 * j));
            const float sc = sa9 * gds_e8m0_to_fp32_half(xb->e);
            const float t = (float)p * sc;
            acc = acc + t;
        }
    }
    *s = acc;
}

static void dot4_mxfp4_avx2(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const block_f8 *y = a;
    const block_mxfp4 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_mxfp4 *)((const char *)w + r * bw);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_F8; b++) {
        __m256 av[16];
        act_x9(y[b].qs, av);
        const __m128 sa9 = _mm_set1_ps(gds_e8m0_to_fp32(y[b].e) * 0x1p-9f);
        for (int j = 0; j < 4; j++) {
            const int64_t bj = 4 * b + j;
            const __m128i p = hsum4_epi32(mxfp4_lanes(&x[0][bj], av + 4 * j), mxfp4_lanes(&x[1][bj], av + 4 * j),
                                          mxfp4_lanes(&x[2][bj], av + 4 * j), mxfp4_lanes(&x[3][bj], av + 4 * j));
            const __m128 sw = _mm_setr_ps(gds_e8m0_to_fp32_half(x[0][bj].e), gds_e8m0_to_fp32_half(x[1][bj].e),
                                          gds_e8m0_to_fp32_half(x[2][bj].e), gds_e8m0_to_fp32_half(x[3][bj].e));
            acc = _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(p), _mm_mul_ps(sa9, sw)));
        }
    }
    _mm_storeu_ps(s, acc);
}

/* MXFP4 x prepared activation (layout: gds_cpu_mxfp4_prep in quants.c; the
 * integer part is in mxfp4-avx2.h, shared with the tiles of
 * tiles-mxfp4-avx2.c). Per 64 elements: 4 rows decoded, p exact for 4 rows x
 * 2 sub-blocks, the r plane inline where the prep flagged the half; the weight
 * scales of 4 rows x 4 blocks come from the e bytes as float bits (e << 23 =
 * 2^(e-127)); t = (float)p * (sw * sa*2^-10), accumulated in block order. */
void gds_cpu_dot4_mxfp4p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_mxfp4p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    const uint8_t *pa = p;
    const __m256i lut = GDS_MXQ_LUT;
    const char *pf = gds_pf_ahead(w, bw, 4);
    const uint8_t *x0 = w, *x1 = x0 + bw, *x2 = x1 + bw, *x3 = x2 + bw;
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_F8; b++, pa += 512, x0 += 68, x1 += 68, x2 += 68, x3 += 68) {
        for (int j = 0; j < 5; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * 4 * sizeof(block_mxfp4);
        const __m128i ev = gds_mxq_ebytes4(x0, x1, x2, x3);
        const __m256 sa = _mm256_broadcast_ss((const float *)(pa + 448));
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i f = pa[452 + h] ? gds_mxq_rows4_dec(x0, x1, x2, x3, lut, pa, h, true)
                                          : gds_mxq_rows4_dec(x0, x1, x2, x3, lut, pa, h, false);
            const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(f), _mm256_mul_ps(gds_mxq_sw(ev, h), sa));
            acc = _mm_add_ps(acc, _mm256_castps256_ps128(t));
            acc = _mm_add_ps(acc, _mm256_extractf128_ps(t, 1));
        }
    }
    _mm_storeu_ps(s, acc);
}

/* F8 x prepared activation (layout: gds_cpu_f8_prep in quants.c, e4m3 * 2^8
 * as fp32); weights decode through fp16 (e4m3 * 2^-8 as fp16 bit patterns in
 * a stack buffer, then vcvtph2ps from memory), so no fp32 denormal is ever an
 * fma operand or result (see quants-avx512.c). */
void gds_cpu_dot4_f8p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_f8p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    const block_f8 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_f8 *)((const char *)w + r * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m128 acc = _mm_setzero_ps();
    __attribute__((aligned(32))) uint16_t hw[4][QK_F8];
    for (int64_t b = 0; b < n / QK_F8; b++) {
        for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_f8);
        const float *ap = (const float *)((const char *)p + b * 576);
        for (int r = 0; r < 4; r++)
            for (int h = 0; h < QK_F8; h += 16) {
                const __m256i c = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x[r][b].qs + h)));
                _mm256_store_si256((__m256i *)(hw[r] + h), _mm256_and_si256(_mm256_slli_epi16(c, 7), _mm256_set1_epi16((short)0xBFFF)));
            }
        __m128 s4[4];
        for (int r = 0; r < 4; r++) {
            __m256 l0 = _mm256_setzero_ps(), l1 = l0;
            for (int h = 0; h < QK_F8; h += 16) { /* exact products */
                l0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128((const __m128i *)(hw[r] + h))), _mm256_load_ps(ap + h), l0);
                l1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128((const __m128i *)(hw[r] + h + 8))), _mm256_load_ps(ap + h + 8), l1);
            }
            s4[r] = reduce_to4(l0, l1);
        }
        const __m128 pp = reduce4x4(s4[0], s4[1], s4[2], s4[3]);
        const __m128 sw = _mm_setr_ps(gds_e8m0_to_fp32(x[0][b].e), gds_e8m0_to_fp32(x[1][b].e), gds_e8m0_to_fp32(x[2][b].e),
                                      gds_e8m0_to_fp32(x[3][b].e));
        const __m128 sc = _mm_mul_ps(sw, _mm_set1_ps(ap[QK_F8]));
        acc = _mm_add_ps(acc, _mm_mul_ps(pp, sc));
    }
    _mm_storeu_ps(s, acc);
}

/* ---- F8 x BF16 (GDS_MM_ACT_BF16; canonical rule in quants.c) ---------------
 * w = e4m3 * 2^(e-127) as (e4m3 * 2^-8) * (256 * 2^(e-127)) (one rounding of
 * the exact value) for e <= 246, two multiplies above. The 4-row kernel keeps
 * each row's lane order. */

struct f8s { __m256 m1, m2; bool two; };
static inline struct f8s f8_scale(uint8_t e) {
    const float sc = gds_e8m0_to_fp32(e);
    struct f8s r;
    r.two = e > 246;
    r.m1 = _mm256_set1_ps(r.two ? 256.0f : sc * 256.0f);
    r.m2 = _mm256_set1_ps(sc);
    return r;
}
static inline __m256 f8_scaled(__m256 v, const struct f8s *f) {
    v = _mm256_mul_ps(v, f->m1);
    return f->two ? _mm256_mul_ps(v, f->m2) : v;
}

void gds_cpu_dot_f8bf16_avx2(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w;
    const gds_bf16_t *y = a;
    __m256 l0 = _mm256_setzero_ps(), l1 = l0;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        const struct f8s f = f8_scale(x[b].e);
        const gds_bf16_t *yb = y + b * QK_F8;
        for (int h = 0; h < QK_F8; h += 16) {
            __m256 w0, w1;
            e4m3x16_ps(x[b].qs + h, &w0, &w1);
            l0 = _mm256_add_ps(l0, _mm256_mul_ps(f8_scaled(w0, &f), bf16x8_ps(yb + h)));
            l1 = _mm256_add_ps(l1, _mm256_mul_ps(f8_scaled(w1, &f), bf16x8_ps(yb + h + 8)));
        }
    }
    *s = reduce4_1(reduce_to4(l0, l1));
}

void gds_cpu_dot4_f8bf16_avx2(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const gds_bf16_t *y = a;
    const block_f8 *x0 = w, *x1 = (const block_f8 *)((const char *)w + bw);
    const block_f8 *x2 = (const block_f8 *)((const char *)w + 2 * bw), *x3 = (const block_f8 *)((const char *)w + 3 * bw);
    __m256 p0 = _mm256_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, q0 = p0, q1 = p0, q2 = p0, q3 = p0; /* lanes 0-7, 8-15 */
    const char *pf = gds_pf_ahead(w, bw, 4); /* next 4 rows (contiguous rows assumed, as the other 4-row kernels) */
    for (int64_t b = 0; b < n / QK_F8; b++) {
        for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_f8);
        const gds_bf16_t *yb = y + b * QK_F8;
        const struct f8s f0 = f8_scale(x0[b].e), f1 = f8_scale(x1[b].e), f2 = f8_scale(x2[b].e), f3 = f8_scale(x3[b].e);
        __m256 w0, w1;
        if (f0.two || f1.two || f2.two || f3.two) { /* rare: two-multiply decode */
            for (int h = 0; h < QK_F8; h += 16) {
                const __m256 a0 = bf16x8_ps(yb + h), a1 = bf16x8_ps(yb + h + 8);
#define F8BF_ROW(X, F, P, Q)                                                     \
                e4m3x16_ps(X[b].qs + h, &w0, &w1);                              \
                P = _mm256_add_ps(P, _mm256_mul_ps(f8_scaled(w0, &F), a0));     \
                Q = _mm256_add_ps(Q, _mm256_mul_ps(f8_scaled(w1, &F), a1));
                F8BF_ROW(x0, f0, p0, q0) F8BF_ROW(x1, f1, p1, q1) F8BF_ROW(x2, f2, p2, q2) F8BF_ROW(x3, f3, p3, q3)
#undef F8BF_ROW
            }
            continue;
        }
        for (int h = 0; h < QK_F8; h += 16) {
            const __m256 a0 = bf16x8_ps(yb + h), a1 = bf16x8_ps(yb + h + 8);
#define F8BF_ROW(X, F, P, Q)                                                      \
            e4m3x16_ps(X[b].qs + h, &w0, &w1);                                   \
            P = _mm256_add_ps(P, _mm256_mul_ps(_mm256_mul_ps(w0, F.m1), a0));     \
            Q = _mm256_add_ps(Q, _mm256_mul_ps(_mm256_mul_ps(w1, F.m1), a1));
            F8BF_ROW(x0, f0, p0, q0) F8BF_ROW(x1, f1, p1, q1) F8BF_ROW(x2, f2, p2, q2) F8BF_ROW(x3, f3, p3, q3)
#undef F8BF_ROW
        }
    }
    _mm_storeu_ps(s, reduce4x4(reduce_to4(p0, q0), reduce_to4(p1, q1), reduce_to4(p2, q2), reduce_to4(p3, q3)));
}

/* ---- table --------------------------------------------------------------- */

void gds_cpu_traits_avx2(struct gds_cpu_type_traits *tab) {
    tab[GDS_TYPE_F32].vec_dot = dot_f32_avx2;
    tab[GDS_TYPE_F16].vec_dot = dot_f16_avx2;
    tab[GDS_TYPE_BF16].vec_dot = dot_bf16_avx2;
    tab[GDS_TYPE_BF16].vec_dot4 = dot4_bf16_avx2;
    tab[GDS_TYPE_Q8_0].vec_dot = dot_q8_0_avx2;
    tab[GDS_TYPE_Q8_0].vec_dot4 = dot4_q8_0_avx2;
    tab[GDS_TYPE_MXFP4].vec_dot = dot_mxfp4_avx2;
    tab[GDS_TYPE_MXFP4].vec_dot4 = dot4_mxfp4_avx2;
    tab[GDS_TYPE_F8_E4M3_B128].vec_dot = dot_f8_avx2;
    tab[GDS_TYPE_F8_E4M3_B128].vec_dot4 = dot4_f8_avx2;
}
