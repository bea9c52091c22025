/*
 * quants-avx512.c - AVX-512 (F/BW/VL/DQ/VNNI/BF16) dot products for mul_mat.
 *
 * Same arithmetic as the scalar reference in quants.c (see its header for the
 * canonical definitions), so results are bit-identical to scalar and AVX2:
 *   - integer block partials (Q8_0, MXFP4 vec_dot/vec_dot4) are exact, any order;
 *   - float lanes follow the canonical 16-lane order and reduction tree;
 *   - the per-block scale steps are separate fp32 mul / add in block order.
 * Exception: the MXFP4 mul_mat fast path (gds_cpu_dot4/8_mxfp4b_avx512, on
 * bf16-prepared activations) uses vdpbf16ps; its numerics are described at
 * the kernel and in the quants.c header (deterministic, not bit-identical).
 * e4m3 decoding: the code c becomes the fp16 bit pattern
 * ((c & 0x7f) << 7) | ((c & 0x80) << 8), i.e. e4m3 * 2^-8 exactly (subnormals
 * included), converted by vcvtph2ps, which normalizes fp16 subnormals: no
 * fp32 denormal ever enters an F8 fma (Intel takes a microcode assist on each).
 * NaN codes decode as 480 (documented gap).
 *
 * vec_dot4 kernels handle 4 weight rows per activation pass; their per-block
 * partials are reduced across the 4 rows with transposing shuffles so the
 * horizontal work is shared.
 */
#include "cpu.h"
#include "mxfp4-avx512.h"

#include <immintrin.h>

/* ---- helpers ------------------------------------------------------------- */

/* 32 e4m3 codes -> fp16 bit patterns of e4m3 * 2^-8 (subnormals stay fp16
 * subnormals: exact) */
static inline __m512i e4m3x32_ph(const uint8_t *c) {
    const __m512i h = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)c));
    return _mm512_and_si512(_mm512_slli_epi16(h, 7), _mm512_set1_epi16((short)0xBFFF));
}

/* 32 e4m3 codes -> two vectors of e4m3 * 2^-8 (always normal fp32 or zero) */
static inline void e4m3x32_ps(const uint8_t *c, __m512 *lo, __m512 *hi) {
    const __m512i h = e4m3x32_ph(c);
    *lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    *hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

/* canonical 16-lane reduction of one vector */
static inline float reduce16_ps(__m512 v) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* canonical reduction of 4 vectors -> [a, b, c, d] */
static inline __m128 reduce16x4_ps(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 v = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(1, 0, 3, 2)));
    __m512 w = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), w));
}

/* integer transposition of 4 vectors: per 128-bit lane k, [sum4(a_k), sum4(b_k), sum4(c_k), sum4(d_k)] */
static inline __m512i tr4_epi32(__m512i a, __m512i b, __m512i c, __m512i d) {
    __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

/* acc[r] = acc[r] + t[4j + r] for j = 0..3, in order */
static inline __m128 acc4_in_order(__m128 acc, __m512 t) {
    acc = _mm_add_ps(acc, _mm512_castps512_ps128(t));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(t, 1));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(t, 2));
    acc = _mm_add_ps(acc, _mm512_extractf32x4_ps(t, 3));
    return acc;
}

/* ---- float types --------------------------------------------------------- */

static void dot_f32_avx512(int64_t n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a;
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k)));
    float sum = reduce16_ps(acc);
    for (; k < n; k++) { float p = x[k] * y[k]; sum = sum + p; }
    *s = sum;
}

static void dot_f16_avx512(int64_t n, float *s, const void *w, const void *a) {
    const gds_fp16_t *x = w, *y = a;
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + k))),
                              _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + k))), acc); /* exact products */
    float sum = reduce16_ps(acc);
    for (; k < n; k++) { float p = gds_fp16_to_fp32(x[k]) * gds_fp16_to_fp32(y[k]); sum = sum + p; }
    *s = sum;
}

static inline __m512 bf16x16_ps(const gds_bf16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

static void dot_bf16_avx512(int64_t n, float *s, const void *w, const void *a) {
    const gds_bf16_t *x = w, *y = a;
    __m512 acc = _mm512_setzero_ps();
    int64_t k = 0;
    /* bf16 products can under/overflow, so keep them rounded separately (as scalar) */
    for (; k + 16 <= n; k += 16) acc = _mm512_add_ps(acc, _mm512_mul_ps(bf16x16_ps(x + k), bf16x16_ps(y + k)));
    float sum = reduce16_ps(acc);
    for (; k < n; k++) { float p = gds_bf16_to_fp32(x[k]) * gds_bf16_to_fp32(y[k]); sum = sum + p; }
    *s = sum;
}

/* 4 rows (stride bw bytes) against one activation row: each row is exactly
 * dot_bf16_avx512 (own accumulator, same order); 4 streams in flight and the
 * next 4 rows prefetched (the head and BF16 wo_a mat-vecs) */
static void dot4_bf16_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const gds_bf16_t *y = a;
    const gds_bf16_t *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const gds_bf16_t *)((const char *)w + r * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m512 acc[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        if ((k & 31) == 0)
            for (int r = 0; r < 4; r++) _mm_prefetch(pf + r * bw + 2 * k, GDS_PF_HINT);
        const __m512 yv = bf16x16_ps(y + k);
        for (int r = 0; r < 4; r++) acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(bf16x16_ps(x[r] + k), yv));
    }
    for (int r = 0; r < 4; r++) {
        float sum = reduce16_ps(acc[r]);
        for (int64_t j = k; j < n; j++) { float p = gds_bf16_to_fp32(x[r][j]) * gds_bf16_to_fp32(y[j]); sum = sum + p; }
        s[r] = sum;
    }
}

/* ---- F8 x F8 ------------------------------------------------------------- */

static void dot_f8_avx512(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        __m512 l = _mm512_setzero_ps();
        for (int h = 0; h < QK_F8; h += 32) {
            __m512 a0, a1, w0, w1;
            e4m3x32_ps(y[b].qs + h, &a0, &a1);
            e4m3x32_ps(x[b].qs + h, &w0, &w1);
            l = _mm512_fmadd_ps(w0, a0, l); /* products exact: fma == mul + add */
            l = _mm512_fmadd_ps(w1, a1, l);
        }
        const float p = reduce16_ps(l) * 65536.0f;
        const float sc = gds_e8m0_to_fp32(x[b].e) * gds_e8m0_to_fp32(y[b].e);
        const float t = p * sc;
        acc = acc + t;
    }
    *s = acc;
}

static void dot4_f8_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const block_f8 *y = a;
    const block_f8 *x0 = w, *x1 = (const block_f8 *)((const char *)w + bw), *x2 = (const block_f8 *)((const char *)w + 2 * bw),
                   *x3 = (const block_f8 *)((const char *)w + 3 * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_F8; b++) {
        for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_f8);
        __m512 av[8];
        for (int h = 0; h < 4; h++) e4m3x32_ps(y[b].qs + 32 * h, &av[2 * h], &av[2 * h + 1]);
        __m512 l0 = _mm512_setzero_ps(), l1 = l0, l2 = l0, l3 = l0;
        for (int h = 0; h < 4; h++) {
            __m512 u, v;
            e4m3x32_ps(x0[b].qs + 32 * h, &u, &v);
            l0 = _mm512_fmadd_ps(v, av[2 * h + 1], _mm512_fmadd_ps(u, av[2 * h], l0));
            e4m3x32_ps(x1[b].qs + 32 * h, &u, &v);
            l1 = _mm512_fmadd_ps(v, av[2 * h + 1], _mm512_fmadd_ps(u, av[2 * h], l1));
            e4m3x32_ps(x2[b].qs + 32 * h, &u, &v);
            l2 = _mm512_fmadd_ps(v, av[2 * h + 1], _mm512_fmadd_ps(u, av[2 * h], l2));
            e4m3x32_ps(x3[b].qs + 32 * h, &u, &v);
            l3 = _mm512_fmadd_ps(v, av[2 * h + 1], _mm512_fmadd_ps(u, av[2 * h], l3));
        }
        const __m128 p = _mm_mul_ps(reduce16x4_ps(l0, l1, l2, l3), _mm_set1_ps(65536.0f));
        const __m128 sw = _mm_setr_ps(gds_e8m0_to_fp32(x0[b].e), gds_e8m0_to_fp32(x1[b].e), gds_e8m0_to_fp32(x2[b].e),
                                      gds_e8m0_to_fp32(x3[b].e));
        const __m128 sc = _mm_mul_ps(sw, _mm_set1_ps(gds_e8m0_to_fp32(y[b].e)));
        acc = _mm_add_ps(acc, _mm_mul_ps(p, sc));
    }
    _mm_storeu_ps(s, acc);
}

/* ---- Q8_0 x Q8_0 --------------------------------------------------------- */

/* isum of one block pair: dpbusd on (w ^ 0x80) as u8, minus 128 * sum(a) */
static inline int32_t q8_isum(const block_q8_0 *x, const block_q8_0 *y) {
    const __m256i av = _mm256_loadu_si256((const __m256i *)y->qs);
    const __m256i wx = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x->qs), _mm256_set1_epi8((char)0x80));
    const __m256i neg = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), av);
    __m256i d = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), wx, av), neg);
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(t);
}

static void dot_q8_0_avx512(int64_t n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const int32_t isum = q8_isum(&x[b], &y[b]);
        const float d = gds_fp16_to_fp32(x[b].d) * gds_fp16_to_fp32(y[b].d);
        const float t = (float)isum * d;
        acc = acc + t;
    }
    *s = acc;
}

static inline __m512i load2x256(const void *p0, const void *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

static void dot4_q8_0_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const block_q8_0 *y = a;
    const int64_t nb = n / QK8_0;
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    /* gather index of block j of row r at lane 4j + r */
    const int b1 = (int)bw;
    const __m512i gidx = _mm512_setr_epi32(0, b1, 2 * b1, 3 * b1, 34, 34 + b1, 34 + 2 * b1, 34 + 3 * b1, 68, 68 + b1,
                                           68 + 2 * b1, 68 + 3 * b1, 102, 102 + b1, 102 + 2 * b1, 102 + 3 * b1);
    const __m512i bcast = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m128 acc = _mm_setzero_ps();
    int64_t b = 0;
    const char *pf = gds_pf_ahead(w, bw, 4);
    if (bw <= 0x7fffffff / 4)
        for (; b + 4 <= nb; b += 4) {
            for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
            pf += 4 * 4 * sizeof(block_q8_0);
            const __m512i a01 = load2x256(y[b].qs, y[b + 1].qs), a23 = load2x256(y[b + 2].qs, y[b + 3].qs);
            const __m512i n01 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), x80, a01));
            const __m512i n23 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), x80, a23));
            __m512i d01[4], d23[4];
            for (int r = 0; r < 4; r++) {
                const block_q8_0 *x = (const block_q8_0 *)((const char *)w + r * bw) + b;
                d01[r] = _mm512_dpbusd_epi32(n01, _mm512_xor_si512(load2x256(x[0].qs, x[1].qs), x80), a01);
                d23[r] = _mm512_dpbusd_epi32(n23, _mm512_xor_si512(load2x256(x[2].qs, x[3].qs), x80), a23);
            }
            const __m512i u01 = tr4_epi32(d01[0], d01[1], d01[2], d01[3]);
            const __m512i u23 = tr4_epi32(d23[0], d23[1], d23[2], d23[3]);
            const __m512i f = _mm512_add_epi32(_mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(2, 0, 2, 0)),
                                               _mm512_shuffle_i32x4(u01, u23, _MM_SHUFFLE(3, 1, 3, 1)));
            /* scales: dw at lane 4j + r, da_j broadcast over its 128-bit lane */
            const __m512i g = _mm512_i32gather_epi32(gidx, (const void *)((const block_q8_0 *)w + b), 1);
            const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
            const __m128i da16 = _mm_setr_epi16((short)y[b].d, (short)y[b + 1].d, (short)y[b + 2].d, (short)y[b + 3].d, 0, 0, 0, 0);
            const __m512 da = _mm512_permutexvar_ps(bcast, _mm512_castps128_ps512(_mm_cvtph_ps(da16)));
            const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(f), _mm512_mul_ps(dw, da));
            acc = acc4_in_order(acc, t);
        }
    float r4[4];
    _mm_storeu_ps(r4, acc);
    for (int r = 0; r < 4; r++) {
        const block_q8_0 *x = (const block_q8_0 *)((const char *)w + r * bw);
        float ar = r4[r];
        for (int64_t bb = b; bb < nb; bb++) {
            const int32_t isum = q8_isum(&x[bb], &y[bb]);
            const float d = gds_fp16_to_fp32(x[bb].d) * gds_fp16_to_fp32(y[bb].d);
            const float t = (float)isum * d;
            ar = ar + t;
        }
        s[r] = ar;
    }
}

/* ---- MXFP4 x F8 ---------------------------------------------------------- */

/* 128 activation codes -> e4m3 * 2^9 as integer-valued floats, element order */
static inline void act_x9(const uint8_t *qs, __m512 *av) {
    const __m512 k = _mm512_set1_ps(131072.0f); /* 2^17 undoes the 2^-8 of the decode, times 2^9 */
    for (int h = 0; h < 4; h++) {
        __m512 lo, hi;
        e4m3x32_ps(qs + 32 * h, &lo, &hi);
        av[2 * h] = _mm512_mul_ps(lo, k);
        av[2 * h + 1] = _mm512_mul_ps(hi, k);
    }
}

/* one MXFP4 block against its 32 activations: 16 int32 lanes whose sum is p (exact:
 * each lane is two products of |.| < 2^21.4, integers in fp32) */
static inline __m512i mxfp4_lanes(const block_mxfp4 *x, __m512 alo, __m512 ahi, __m512 kv) {
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)x->qs));
    const __m512 wl = _mm512_permutexvar_ps(q, kv); /* uses the low 4 bits of each index */
    const __m512 wh = _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), kv);
    return _mm512_cvtps_epi32(_mm512_fmadd_ps(wh, ahi, _mm512_mul_ps(wl, alo)));
}

static inline __m512 kv_table(void) {
    return _mm512_setr_ps(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
}

static void dot_mxfp4_avx512(int64_t n, float *s, const void *w, const void *a) {
    const block_mxfp4 *x = w;
    const block_f8 *y = a;
    const __m512 kv = kv_table();
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        __m512 av[8];
        act_x9(y[b].qs, av);
        const float sa9 = gds_e8m0_to_fp32(y[b].e) * 0x1p-9f;
        for (int j = 0; j < 4; j++) {
            const block_mxfp4 *xb = &x[4 * b + j];
            const int32_t p = _mm512_reduce_add_epi32(mxfp4_lanes(xb, av[2 * j], av[2 * j + 1], kv));
            const float sc = sa9 * gds_e8m0_to_fp32_half(xb->e);
            const float t = (float)p * sc;
            acc = acc + t;
        }
    }
    *s = acc;
}

/* e8m0 bytes (one per int32 lane) -> 2^(b-128) as gds_e8m0_to_fp32_half */
static inline __m512 e8m0_half_ps(__m512i b) {
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(b, _mm512_set1_epi32(1)), 23);
    const __m512i sub = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), b);
    const __mmask16 m = _mm512_cmplt_epi32_mask(b, _mm512_set1_epi32(2));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(m, normal, sub));
}

static void dot4_mxfp4_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    if (bw > 0x7fffffff / 4) {
        for (int r = 0; r < 4; r++) dot_mxfp4_avx512(n, s + r, (const char *)w + r * bw, a);
        return;
    }
    const block_f8 *y = a;
    const __m512 kv = kv_table();
    const int b1 = (int)bw;
    const __m512i gidx = _mm512_setr_epi32(0, b1, 2 * b1, 3 * b1, 17, 17 + b1, 17 + 2 * b1, 17 + 3 * b1, 34, 34 + b1,
                                           34 + 2 * b1, 34 + 3 * b1, 51, 51 + b1, 51 + 2 * b1, 51 + 3 * b1);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_F8; b++) {
        __m512 av[8];
        act_x9(y[b].qs, av);
        __m512i u[4];
        for (int j = 0; j < 4; j++) {
            __m512i l[4];
            for (int r = 0; r < 4; r++) {
                const block_mxfp4 *x = (const block_mxfp4 *)((const char *)w + r * bw) + 4 * b + j;
                l[r] = mxfp4_lanes(x, av[2 * j], av[2 * j + 1], kv);
            }
            u[j] = tr4_epi32(l[0], l[1], l[2], l[3]);
        }
        const __m512i w01 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                             _mm512_shuffle_i32x4(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)));
        const __m512i w23 = _mm512_add_epi32(_mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                             _mm512_shuffle_i32x4(u[2], u[3], _MM_SHUFFLE(3, 2, 3, 2)));
        const __m512i f = _mm512_add_epi32(_mm512_shuffle_i32x4(w01, w23, _MM_SHUFFLE(2, 0, 2, 0)),
                                           _mm512_shuffle_i32x4(w01, w23, _MM_SHUFFLE(3, 1, 3, 1)));
        const __m512i eb = _mm512_and_si512(_mm512_i32gather_epi32(gidx, (const void *)((const block_mxfp4 *)w + 4 * b), 1),
                                            _mm512_set1_epi32(0xff));
        const __m512 sc = _mm512_mul_ps(_mm512_set1_ps(gds_e8m0_to_fp32(y[b].e) * 0x1p-9f), e8m0_half_ps(eb));
        acc = acc4_in_order(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(f), sc));
    }
    _mm_storeu_ps(s, acc);
}

/* MXFP4 x bf16-prepared activation (layout: gds_cpu_mxfp4_prep_bf16 in
 * quants.c). Per row and group of 4 blocks (68 bytes at x):
 *   - two loads (x-1, x+4) and one vpermt2w put sub-block j's 16 qs bytes in
 *     128-bit lane j (word-aligned: the blocks sit at odd/even offsets);
 *   - vpermw with the word itself (or shifted by 8, 4, 12) as index looks up
 *     the bf16 of kv[nibble] (vpermw reads index bits 0-4; the 16-entry table
 *     is stored twice), giving 4 vectors of bf16 weights in the activation
 *     order of the prep;
 *   - 4 vdpbf16ps: the 4 fp32 lanes of 128-bit lane j hold partial sums of
 *     sub-block j; products kv * e4m3 are exact, the fp32 sums round in the
 *     instruction's order (the spec leaves the in-block order open, 3.5/3.6);
 *   - folded rows: acc = fma(P, 2^(e-127), acc), the scale built from the
 *     block byte e by pshufb into the top byte, >> 1 (max with 2^-127 for
 *     e = 0; e = 255 gives inf where the scalar code uses 2^127); the
 *     activation scale is already in the bf16 values. Other rows:
 *     acc += scalef(P, e + c), exact for every e.
 * acc keeps 16 lanes per row (4 per sub-block position) to the end, then one
 * fixed reduction, so the result does not depend on anything but the data.
 * The first load starts one byte before the group; on the first group it is
 * masked so nothing before the row is touched. Rows of the next group are
 * prefetched (assuming contiguous rows, as the other fast paths). */
static inline __attribute__((always_inline)) void mxfp4b_rows(int64_t n, float *s, const void *w, size_t bw,
                                                               const void *p, const int R /* 4 or 8 rows */,
                                                               const bool folded) {
    const uint8_t *pa = p;
    const __m512i tab = _mm512_loadu_si512(gds_mxfp4b_tab16), gidx = _mm512_loadu_si512(gds_mxfp4b_gidx16);
    /* e_j = byte 1 + 17j of A = byte 1 + j of lane j, to every dword of lane j: into the top byte
     * (folded: then >> 1 gives the float 2^(e-127)) or the low byte (as an integer) */
    const __m512i esel = folded ? _mm512_setr_epi32(0x01ffffff, 0x01ffffff, 0x01ffffff, 0x01ffffff, 0x02ffffff, 0x02ffffff,
                                                    0x02ffffff, 0x02ffffff, 0x03ffffff, 0x03ffffff, 0x03ffffff, 0x03ffffff,
                                                    0x04ffffff, 0x04ffffff, 0x04ffffff, 0x04ffffff)
                                : _mm512_setr_epi32(-255, -255, -255, -255, -254, -254, -254, -254, -253, -253, -253, -253,
                                                    -252, -252, -252, -252); /* 0xffffff01 .. 0xffffff04 */
    const __m512i emin = _mm512_set1_epi32(0x00400000); /* 2^-127 */
    const char *pf = gds_pf_ahead(w, bw, R);
    const int npf = (R * 4 * (int)sizeof(block_mxfp4) + 63) / 64 + 1;
    __m512 acc[8];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    const int64_t nb = n / QK_F8;
    for (int64_t b = 0; b < nb; b++, pa += 320) {
        for (int j = 0; j < npf; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += R * 4 * sizeof(block_mxfp4);
        const __m512bh a0 = (__m512bh)_mm512_load_si512(pa), a1 = (__m512bh)_mm512_load_si512(pa + 64);
        const __m512bh a2 = (__m512bh)_mm512_load_si512(pa + 128), a3 = (__m512bh)_mm512_load_si512(pa + 192);
        float cf;
        memcpy(&cf, pa + 256, sizeof cf);
        const __m512 c = _mm512_set1_ps(cf);
        for (int r = 0; r < R; r++) {
            const uint8_t *x = (const uint8_t *)w + r * bw + b * 4 * sizeof(block_mxfp4);
            const __m512i A = b ? _mm512_loadu_si512(x - 1) : _mm512_maskz_loadu_epi8(~(__mmask64)1, x - 1);
            const __m512i B = _mm512_loadu_si512(x + 4);
            const __m512i q = _mm512_permutex2var_epi16(A, gidx, B);
            const __m512bh w0 = (__m512bh)_mm512_permutexvar_epi16(q, tab);
            const __m512bh w1 = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(q, 8), tab);
            const __m512bh w2 = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(q, 4), tab);
            const __m512bh w3 = (__m512bh)_mm512_permutexvar_epi16(_mm512_srli_epi16(q, 12), tab);
            __m512 P = _mm512_dpbf16_ps(_mm512_setzero_ps(), w0, a0);
            P = _mm512_dpbf16_ps(P, w1, a1);
            P = _mm512_dpbf16_ps(P, w2, a2);
            P = _mm512_dpbf16_ps(P, w3, a3);
            const __m512i eb = _mm512_shuffle_epi8(A, esel);
            if (folded) {
                const __m512 sw = _mm512_castsi512_ps(_mm512_max_epu32(_mm512_srli_epi32(eb, 1), emin));
                acc[r] = _mm512_fmadd_ps(P, sw, acc[r]);
            } else {
                acc[r] = _mm512_add_ps(acc[r], _mm512_scalef_ps(P, _mm512_add_ps(_mm512_cvtepi32_ps(eb), c)));
            }
        }
    }
    for (int r = 0; r < R; r++) s[r] = _mm512_reduce_add_ps(acc[r]);
}

static inline bool mxfp4b_folded(const void *p) {
    int32_t f;
    memcpy(&f, (const char *)p + 260, sizeof f);
    return f != 0;
}

void gds_cpu_dot4_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    if (mxfp4b_folded(p)) mxfp4b_rows(n, s, w, bw, p, 4, true);
    else mxfp4b_rows(n, s, w, bw, p, 4, false);
}
void gds_cpu_dot8_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot8_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    if (mxfp4b_folded(p)) mxfp4b_rows(n, s, w, bw, p, 8, true);
    else mxfp4b_rows(n, s, w, bw, p, 8, false);
}

/* MXFP4 x canonically prepared activation (layout: gds_cpu_mxfp4_prep in
 * quants.c; the AMX level's mat-vec, whose bits must equal its AMX tiles and
 * the scalar code): gds_cpu_dot4_mxfp4p_avx2 at twice the width. Per row and
 * 128-block the four sub-blocks' qs go to the four 128-bit lanes (the loads
 * and vpermt2w of mxfp4b_rows), pshufb decodes kv+12 for all 128 elements at
 * once and pmaddubsw / pmaddwd against the digit planes d0, d1 (and r where a
 * half is flagged) give int32 lanes whose sum per lane j is sub-block j's
 * 8*S0 + 2048*S1 (+ Sr); four rows are transposed and summed (tr4_epi32) and
 * c added: p(row, sub-block) exactly (integer sums: any order, same p). Then,
 * as the AVX2 kernel, t = (float)p * (2^(e-127) * sa*2^-10) and acc = acc + t
 * for the sub-blocks in order (acc4_in_order): the same bits. The scale bytes
 * come out of the first load (byte 1 + j of lane j, as mxfp4b_rows) by one
 * pshufb per row into dword r of lane j. */
void gds_cpu_dot4_mxfp4p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_mxfp4p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    const uint8_t *pa = p;
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    const __m512i gidx = _mm512_loadu_si512(gds_mxfp4b_gidx16), m4 = _mm512_set1_epi8(0x0f);
    const __m512i k8 = _mm512_set1_epi16(8), k2048 = _mm512_set1_epi16(2048), k1 = _mm512_set1_epi16(1);
    const __m512i emin = _mm512_set1_epi32(0x00400000); /* 2^-127 */
    /* e of row r, sub-block j (byte 1 + j of lane j of A) into the low byte of dword r of lane j, zeros elsewhere */
#define MXQ_E(q, r, j) ((q) == (r) ? (int)(0x80808000u | (1u + (j))) : (int)0x80808080u) /* dword q of lane j */
#define MXQ_ESEL(r) _mm512_setr_epi32(MXQ_E(0, r, 0), MXQ_E(1, r, 0), MXQ_E(2, r, 0), MXQ_E(3, r, 0), MXQ_E(0, r, 1), MXQ_E(1, r, 1), \
                                      MXQ_E(2, r, 1), MXQ_E(3, r, 1), MXQ_E(0, r, 2), MXQ_E(1, r, 2), MXQ_E(2, r, 2), MXQ_E(3, r, 2), \
                                      MXQ_E(0, r, 3), MXQ_E(1, r, 3), MXQ_E(2, r, 3), MXQ_E(3, r, 3))
    const __m512i esel[4] = { MXQ_ESEL(0), MXQ_ESEL(1), MXQ_ESEL(2), MXQ_ESEL(3) };
#undef MXQ_ESEL
#undef MXQ_E
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m128 acc = _mm_setzero_ps();
    const int64_t nb = n / QK_F8;
    for (int64_t b = 0; b < nb; b++, pa += 512) {
        for (int j = 0; j < 5; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * 4 * sizeof(block_mxfp4);
        const __m512i d0l = _mm512_load_si512(pa), d0h = _mm512_load_si512(pa + 64);
        const __m512i d1l = _mm512_load_si512(pa + 128), d1h = _mm512_load_si512(pa + 192);
        const bool rr = pa[452] | pa[453];
        __m512i sr[4], eb = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = (const uint8_t *)w + r * bw + b * 4 * sizeof(block_mxfp4);
            const __m512i A = b ? _mm512_loadu_si512(x - 1) : _mm512_maskz_loadu_epi8(~(__mmask64)1, x - 1);
            const __m512i B = _mm512_loadu_si512(x + 4);
            const __m512i q = _mm512_permutex2var_epi16(A, gidx, B);
            const __m512i kl = _mm512_shuffle_epi8(lut, _mm512_and_si512(q, m4));
            const __m512i kh = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
            const __m512i m0 = _mm512_add_epi16(_mm512_maddubs_epi16(kl, d0l), _mm512_maddubs_epi16(kh, d0h));
            const __m512i m1 = _mm512_add_epi16(_mm512_maddubs_epi16(kl, d1l), _mm512_maddubs_epi16(kh, d1h));
            sr[r] = _mm512_add_epi32(_mm512_madd_epi16(m0, k8), _mm512_madd_epi16(m1, k2048));
            if (rr) {
                const __m512i mr = _mm512_add_epi16(_mm512_maddubs_epi16(kl, _mm512_load_si512(pa + 256)),
                                                    _mm512_maddubs_epi16(kh, _mm512_load_si512(pa + 320)));
                sr[r] = _mm512_add_epi32(sr[r], _mm512_madd_epi16(mr, k1));
            }
            eb = _mm512_or_si512(eb, _mm512_shuffle_epi8(A, esel[r]));
        }
        const __m512i f = _mm512_add_epi32(tr4_epi32(sr[0], sr[1], sr[2], sr[3]), _mm512_load_si512(pa + 384)); /* + c */
        const __m512 sw = _mm512_castsi512_ps(_mm512_max_epu32(_mm512_slli_epi32(eb, 23), emin));
        float sa;
        memcpy(&sa, pa + 448, sizeof sa);
        acc = acc4_in_order(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(f), _mm512_mul_ps(sw, _mm512_set1_ps(sa))));
    }
    _mm_storeu_ps(s, acc);
}


/* F8 x prepared activation (layout: gds_cpu_f8_prep in quants.c, e4m3 * 2^8
 * as fp32). Weights decode through fp16: the 4 rows' codes of a block become
 * fp16 bit patterns of e4m3 * 2^-8 in a stack buffer, which vcvtph2ps then
 * converts from memory (no vextracti64x4 per 32 codes; ~10% faster than the
 * register form on Sapphire Rapids). e4m3 subnormals are fp16 subnormals,
 * which vcvtph2ps normalizes exactly in hardware (no assist, no MXCSR.DE), so
 * every fma operand, product (the exact e4m3 product) and lane sum (a multiple
 * of 2^-18) is a normal fp32 or zero: no denormal ever enters the loop (Intel
 * FMA units take a ~100+ cycle assist per denormal operand; an earlier
 * e4m3 * 2^-120 bit-trick decode made e4m3 subnormals fp32 denormals and ran
 * 15x slower there). Lanes in the canonical order, so p equals the scalar p
 * bit for bit. */
void gds_cpu_dot4_f8p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_f8p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    const block_f8 *x0 = w, *x1 = (const block_f8 *)((const char *)w + bw), *x2 = (const block_f8 *)((const char *)w + 2 * bw),
                   *x3 = (const block_f8 *)((const char *)w + 3 * bw);
    const char *pf = gds_pf_ahead(w, bw, 4);
    __m128 acc = _mm_setzero_ps();
    __attribute__((aligned(64))) uint16_t hw[4][QK_F8];
    for (int64_t b = 0; b < n / QK_F8; b++) {
        for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_f8);
        const float *ap = (const float *)((const char *)p + b * 576);
        for (int h = 0; h < QK_F8; h += 32) {
            _mm512_store_si512(hw[0] + h, e4m3x32_ph(x0[b].qs + h));
            _mm512_store_si512(hw[1] + h, e4m3x32_ph(x1[b].qs + h));
            _mm512_store_si512(hw[2] + h, e4m3x32_ph(x2[b].qs + h));
            _mm512_store_si512(hw[3] + h, e4m3x32_ph(x3[b].qs + h));
        }
        __m512 l0 = _mm512_setzero_ps(), l1 = l0, l2 = l0, l3 = l0;
        for (int h = 0; h < QK_F8; h += 16) { /* exact products: fma == mul + add */
            const __m512 av = _mm512_load_ps(ap + h);
            l0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(hw[0] + h))), av, l0);
            l1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(hw[1] + h))), av, l1);
            l2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(hw[2] + h))), av, l2);
            l3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(hw[3] + h))), av, l3);
        }
        const __m128 pp = reduce16x4_ps(l0, l1, l2, l3);
        const __m128 sw = _mm_setr_ps(gds_e8m0_to_fp32(x0[b].e), gds_e8m0_to_fp32(x1[b].e), gds_e8m0_to_fp32(x2[b].e),
                                      gds_e8m0_to_fp32(x3[b].e));
        const __m128 sc = _mm_mul_ps(sw, _mm_set1_ps(ap[QK_F8]));
        acc = _mm_add_ps(acc, _mm_mul_ps(pp, sc));
    }
    _mm_storeu_ps(s, acc);
}

/* ---- F8 x BF16 (GDS_MM_ACT_BF16; canonical rule in quants.c) ---------------
 * w = e4m3 * 2^(e-127) as (e4m3 * 2^-8) * (256 * 2^(e-127)) (one rounding of
 * the exact value, as (e4m3 * 256) * 2^(e-127)) for e <= 246, where 256 *
 * 2^(e-127) is exact; larger e take the two multiplies. The 4-row kernel keeps
 * each row's lane order (4 independent accumulator chains). */

static inline __m512 f8_scaled(__m512 v, uint8_t e) {
    const float sc = gds_e8m0_to_fp32(e);
    if (e <= 246) return _mm512_mul_ps(v, _mm512_set1_ps(sc * 256.0f));
    return _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(256.0f)), _mm512_set1_ps(sc));
}

void gds_cpu_dot_f8bf16_avx512(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w;
    const gds_bf16_t *y = a;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_F8; b++) {
        const gds_bf16_t *yb = y + b * QK_F8;
        for (int h = 0; h < QK_F8; h += 32) {
            __m512 w0, w1;
            e4m3x32_ps(x[b].qs + h, &w0, &w1);
            w0 = f8_scaled(w0, x[b].e);
            w1 = f8_scaled(w1, x[b].e);
            acc = _mm512_add_ps(acc, _mm512_mul_ps(w0, bf16x16_ps(yb + h)));
            acc = _mm512_add_ps(acc, _mm512_mul_ps(w1, bf16x16_ps(yb + h + 16)));
        }
    }
    *s = reduce16_ps(acc);
}

void gds_cpu_dot4_f8bf16_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const gds_bf16_t *y = a;
    const block_f8 *x0 = w, *x1 = (const block_f8 *)((const char *)w + bw);
    const block_f8 *x2 = (const block_f8 *)((const char *)w + 2 * bw), *x3 = (const block_f8 *)((const char *)w + 3 * bw);
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    const char *pf = gds_pf_ahead(w, bw, 4); /* next 4 rows (contiguous rows assumed, as the other 4-row kernels) */
    for (int64_t b = 0; b < n / QK_F8; b++) {
        for (int j = 0; j < 9; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_f8);
        const gds_bf16_t *yb = y + b * QK_F8;
        if (x0[b].e > 246 || x1[b].e > 246 || x2[b].e > 246 || x3[b].e > 246) { /* rare: two-multiply decode */
            for (int h = 0; h < QK_F8; h += 32) {
                const __m512 a0 = bf16x16_ps(yb + h), a1 = bf16x16_ps(yb + h + 16);
                __m512 w0, w1;
#define F8BF_ROW(X, C)                                                           \
                e4m3x32_ps(X[b].qs + h, &w0, &w1);                              \
                C = _mm512_add_ps(C, _mm512_mul_ps(f8_scaled(w0, X[b].e), a0)); \
                C = _mm512_add_ps(C, _mm512_mul_ps(f8_scaled(w1, X[b].e), a1));
                F8BF_ROW(x0, c0) F8BF_ROW(x1, c1) F8BF_ROW(x2, c2) F8BF_ROW(x3, c3)
#undef F8BF_ROW
            }
            continue;
        }
        const __m512 m0 = _mm512_set1_ps(gds_e8m0_to_fp32(x0[b].e) * 256.0f), m1 = _mm512_set1_ps(gds_e8m0_to_fp32(x1[b].e) * 256.0f);
        const __m512 m2 = _mm512_set1_ps(gds_e8m0_to_fp32(x2[b].e) * 256.0f), m3 = _mm512_set1_ps(gds_e8m0_to_fp32(x3[b].e) * 256.0f);
        for (int h = 0; h < QK_F8; h += 32) {
            const __m512 a0 = bf16x16_ps(yb + h), a1 = bf16x16_ps(yb + h + 16);
            __m512 w0, w1;
#define F8BF_ROW(X, M, C)                                                  \
            e4m3x32_ps(X[b].qs + h, &w0, &w1);                            \
            C = _mm512_add_ps(C, _mm512_mul_ps(_mm512_mul_ps(w0, M), a0)); \
            C = _mm512_add_ps(C, _mm512_mul_ps(_mm512_mul_ps(w1, M), a1));
            F8BF_ROW(x0, m0, c0) F8BF_ROW(x1, m1, c1) F8BF_ROW(x2, m2, c2) F8BF_ROW(x3, m3, c3)
#undef F8BF_ROW
        }
    }
    s[0] = reduce16_ps(c0); s[1] = reduce16_ps(c1); s[2] = reduce16_ps(c2); s[3] = reduce16_ps(c3);
}

/* ---- Q8_0 x BF16 (GDS_MM_ACT_BF16; canonical rule in quants.c) -------------
 * w = bf16(q * d): q * d exact in fp32, RNE to bf16 on the bits (a NaN d
 * or inf * 0: the quiet NaN of gds_fp32_to_bf16, only in blocks whose d is
 * not finite), product rounded then added, each row in its own lanes. */

static inline __m512 q8bf_w(const int8_t *q, __m512 d, bool nan) {
    const __m512i u = _mm512_castps_si512(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q))), d));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_and_si512(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), _mm512_set1_epi32((int)0xffff0000u));
    if (nan) {
        const __mmask16 m = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
        r = _mm512_mask_mov_epi32(r, m, _mm512_or_si512(_mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u)), _mm512_set1_epi32(0x00400000)));
    }
    return _mm512_castsi512_ps(r);
}

static inline bool q8_d_finite(const block_q8_0 *x) { return (x->d & 0x7c00) != 0x7c00; }

void gds_cpu_dot_q8bf16_avx512(int64_t n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w;
    const gds_bf16_t *y = a;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m512 d = _mm512_set1_ps(gds_fp16_to_fp32(x[b].d));
        const bool nan = !q8_d_finite(&x[b]);
        acc = _mm512_add_ps(acc, _mm512_mul_ps(q8bf_w(x[b].qs, d, nan), bf16x16_ps(y + b * QK8_0)));
        acc = _mm512_add_ps(acc, _mm512_mul_ps(q8bf_w(x[b].qs + 16, d, nan), bf16x16_ps(y + b * QK8_0 + 16)));
    }
    *s = reduce16_ps(acc);
}

void gds_cpu_dot4_q8bf16_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a) {
    const gds_bf16_t *y = a;
    const block_q8_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_q8_0 *)((const char *)w + r * bw);
    __m512 c[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    const char *pf = gds_pf_ahead(w, bw, 4); /* next 4 rows (contiguous rows assumed, as the other 4-row kernels) */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        for (int j = 0; j < 3; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_q8_0);
        const __m512 a0 = bf16x16_ps(y + b * QK8_0), a1 = bf16x16_ps(y + b * QK8_0 + 16);
        const bool nan = !(q8_d_finite(&x[0][b]) && q8_d_finite(&x[1][b]) && q8_d_finite(&x[2][b]) && q8_d_finite(&x[3][b]));
        if (nan) {
            for (int r = 0; r < 4; r++) {
                const __m512 d = _mm512_set1_ps(gds_fp16_to_fp32(x[r][b].d));
                c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(q8bf_w(x[r][b].qs, d, true), a0));
                c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(q8bf_w(x[r][b].qs + 16, d, true), a1));
            }
            continue;
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 d = _mm512_set1_ps(gds_fp16_to_fp32(x[r][b].d));
            c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(q8bf_w(x[r][b].qs, d, false), a0));
            c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(q8bf_w(x[r][b].qs + 16, d, false), a1));
        }
    }
    for (int r = 0; r < 4; r++) s[r] = reduce16_ps(c[r]);
}

/* Prepared bf16 rows for the Q8_0 x BF16 4-row kernel (mul_mat fast path,
 * quants.c gds_cpu_mm_ext_get_mm): [64-byte header: int32 flag][K bf16 in
 * pairs: element p of each 32 is a[32m + E(p)], E(2l+1) = l, E(2l) = 16 + l]
 * [K bf16 as given]. vdpbf16ps lane l then adds w*a for elements 32m+l,
 * then 32m+16+l (odd element first, each rounded: tiles-avx512.c
 * bf16_pack2), the canonical 16-lane chain, when no operand, product or sum
 * is subnormal and none overflows: w = bf16(q * d) has exponent field in
 * [103, 150] (|d| >= 2^-24 for a finite fp16 d, |q * d| < 2^23), so every
 * nonzero |a| with exponent field in [39, 230] (the flag) makes every
 * product a multiple of 2^-126 and below 2^128. Blocks with a non-finite d
 * and rows without the flag take the plain arithmetic on the second copy. */
size_t gds_cpu_q8bf16_prep_size(int64_t n) { return 64 + (size_t)n * 4; }

void gds_cpu_q8bf16_prep(const void *a, void *p, int64_t n) {
    const uint16_t *y = a;
    uint16_t *pp = (uint16_t *)((char *)p + 64), *nat = pp + n;
    const __m512i idx = _mm512_loadu_si512(gds_bf16_pair16);
    __m512i mn = _mm512_set1_epi16(-1), mx = _mm512_setzero_si512();
    const __m512i m7f = _mm512_set1_epi16(0x7fff), one = _mm512_set1_epi16(1);
    for (int64_t i = 0; i < n; i += 32) {
        const __m512i v = _mm512_loadu_si512(y + i);
        _mm512_storeu_si512(nat + i, v);
        _mm512_storeu_si512(pp + i, _mm512_permutexvar_epi16(idx, v));
        const __m512i m = _mm512_and_si512(v, m7f);
        mn = _mm512_min_epu16(mn, _mm512_sub_epi16(m, one)); /* zero -> 0xffff */
        mx = _mm512_max_epu16(mx, m);
    }
    uint16_t a0[32], a1[32];
    _mm512_storeu_si512(a0, mn);
    _mm512_storeu_si512(a1, mx);
    uint32_t lo = 0xffff, hi = 0;
    for (int i = 0; i < 32; i++) { lo = a0[i] < lo ? a0[i] : lo; hi = a1[i] > hi ? a1[i] : hi; }
    lo += 1; /* min nonzero |bits| (0x10000: none) */
    const int32_t flag = lo > 0xffff || ((int)(lo >> 7) >= 39 && (int)(hi >> 7) <= 230);
    memset(p, 0, 64);
    memcpy(p, &flag, sizeof flag);
}

void gds_cpu_dot4_q8bf16p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p) {
    int32_t flag;
    memcpy(&flag, p, sizeof flag);
    const gds_bf16_t *yp = (const gds_bf16_t *)((const char *)p + 64), *y = yp + n;
    if (!flag) { gds_cpu_dot4_q8bf16_avx512(n, s, w, bw, y); return; }
    const block_q8_0 *x[4];
    for (int r = 0; r < 4; r++) x[r] = (const block_q8_0 *)((const char *)w + r * bw);
    __m512 c[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    const __m512i idx = _mm512_loadu_si512(gds_bf16_pair16);
    const char *pf = gds_pf_ahead(w, bw, 4);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        for (int j = 0; j < 3; j++) _mm_prefetch(pf + 64 * j, GDS_PF_HINT);
        pf += 4 * sizeof(block_q8_0);
        if (!(q8_d_finite(&x[0][b]) && q8_d_finite(&x[1][b]) && q8_d_finite(&x[2][b]) && q8_d_finite(&x[3][b]))) {
            const __m512 a0 = bf16x16_ps(y + b * QK8_0), a1 = bf16x16_ps(y + b * QK8_0 + 16);
            for (int r = 0; r < 4; r++) {
                const __m512 d = _mm512_set1_ps(gds_fp16_to_fp32(x[r][b].d));
                c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(q8bf_w(x[r][b].qs, d, true), a0));
                c[r] = _mm512_add_ps(c[r], _mm512_mul_ps(q8bf_w(x[r][b].qs + 16, d, true), a1));
            }
            continue;
        }
        const __m512bh a = (__m512bh)_mm512_loadu_si512(yp + b * QK8_0);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 d = _mm512_set1_ps(_cvtsh_ss(x[r][b].d));
            const __m256i q = _mm256_loadu_si256((const __m256i *)x[r][b].qs);
            const __m512 lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))), d);
            const __m512 hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))), d);
            /* q * d is exact and never subnormal: the conversion's RNE is gds_fp32_to_bf16's */
            const __m512i wv = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            c[r] = _mm512_dpbf16_ps(c[r], (__m512bh)wv, a);
        }
    }
    for (int r = 0; r < 4; r++) s[r] = reduce16_ps(c[r]);
}

/* ---- table --------------------------------------------------------------- */

void gds_cpu_traits_avx512(struct gds_cpu_type_traits *tab) {
    tab[GDS_TYPE_F32].vec_dot = dot_f32_avx512;
    tab[GDS_TYPE_F16].vec_dot = dot_f16_avx512;
    tab[GDS_TYPE_BF16].vec_dot = dot_bf16_avx512;
    tab[GDS_TYPE_BF16].vec_dot4 = dot4_bf16_avx512;
    tab[GDS_TYPE_Q8_0].vec_dot = dot_q8_0_avx512;
    tab[GDS_TYPE_Q8_0].vec_dot4 = dot4_q8_0_avx512;
    tab[GDS_TYPE_MXFP4].vec_dot = dot_mxfp4_avx512;
    tab[GDS_TYPE_MXFP4].vec_dot4 = dot4_mxfp4_avx512;
    tab[GDS_TYPE_F8_E4M3_B128].vec_dot = dot_f8_avx512;
    tab[GDS_TYPE_F8_E4M3_B128].vec_dot4 = dot4_f8_avx512;
}
