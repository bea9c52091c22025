/*
 * ops-attn-avx2.c - AVX2/FMA variants of the hot loops of ops-attn.c and
 * ops-hc.c: attention q.k dots and PV accumulation, the indexer key block, the
 * HC_COMB mix mat-vec, and the compact kv row decode (KV_E4M3_B64, exact:
 * the same values as the type's to_float). Compiled only on x86-64 with the AVX2 flags of the
 * GNUmakefile; selected at run time by params->simd.
 *
 * Contract: as ops-attn-avx512.c (scalar results up to reassociation inside a
 * dot product and fused multiply-add; PV and indexer head-sum orders are the
 * scalar orders; outputs independent of how heads/keys/tokens are grouped).
 */
#include "cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GDS_ATTN_BLK 64
#define GDS_IDX_KB   32
#define GDS_AI static inline __attribute__((always_inline))

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- attention: s = scale * q.k ------------------------------------------ */

GDS_AI void qk_tile(int64_t n, int NH, int NK, const float *const *qh, const float *const *kj, float *out) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 2
        for (int j = 0; j < NK; j++) acc[h][j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 kv[2];
#pragma GCC unroll 2
        for (int j = 0; j < NK; j++) kv[j] = _mm256_loadu_ps(kj[j] + i);
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) {
            const __m256 qv = _mm256_loadu_ps(qh[h] + i);
#pragma GCC unroll 2
            for (int j = 0; j < NK; j++) acc[h][j] = _mm256_fmadd_ps(qv, kv[j], acc[h][j]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 2
        for (int j = 0; j < NK; j++) {
            float r = hsum8(acc[h][j]);
            for (int64_t ii = i; ii < n; ii++) r += qh[h][ii] * kj[j][ii];
            out[h * NK + j] = r;
        }
}

GDS_AI void qk_heads(int64_t n, int NH, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s) {
    const float *qh[4];
    for (int h = 0; h < NH; h++) qh[h] = q + h * qs;
    float o[8];
    int j = 0;
    for (; j + 2 <= nk; j += 2) {
        qk_tile(n, NH, 2, qh, k + j, o);
        for (int h = 0; h < NH; h++) {
            s[h * GDS_ATTN_BLK + j] = o[h * 2] * scale;
            s[h * GDS_ATTN_BLK + j + 1] = o[h * 2 + 1] * scale;
        }
    }
    if (j < nk) {
        qk_tile(n, NH, 1, qh, k + j, o);
        for (int h = 0; h < NH; h++) s[h * GDS_ATTN_BLK + j] = o[h] * scale;
    }
}

void gds_cpu_attn_qk_avx2(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s) {
    int h = 0;
    for (; h + 4 <= nh; h += 4) qk_heads(n, 4, q + h * qs, qs, nk, k, scale, s + h * GDS_ATTN_BLK);
    for (; h < nh; h++) qk_heads(n, 1, q + h * qs, qs, nk, k, scale, s + h * GDS_ATTN_BLK);
}

/* ---- attention: acc = acc*alpha + sum_j p_j k_j ---------------------------- */

GDS_AI void pv_heads(int64_t n, int NH, float *acc, const float *alpha, int nk, const float *const *k, const float *p) {
    __m256 al[4];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++) al[h] = _mm256_set1_ps(alpha[h]);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 2
            for (int c = 0; c < 2; c++) a[h][c] = _mm256_mul_ps(_mm256_loadu_ps(acc + h * n + i + 8 * c), al[h]);
        for (int j = 0; j < nk; j++) {
            const __m256 k0 = _mm256_loadu_ps(k[j] + i), k1 = _mm256_loadu_ps(k[j] + i + 8);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) {
                const __m256 pj = _mm256_broadcast_ss(p + h * GDS_ATTN_BLK + j);
                a[h][0] = _mm256_fmadd_ps(pj, k0, a[h][0]);
                a[h][1] = _mm256_fmadd_ps(pj, k1, a[h][1]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 2
            for (int c = 0; c < 2; c++) _mm256_storeu_ps(acc + h * n + i + 8 * c, a[h][c]);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a[4];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) a[h] = _mm256_mul_ps(_mm256_loadu_ps(acc + h * n + i), al[h]);
        for (int j = 0; j < nk; j++) {
            const __m256 kv = _mm256_loadu_ps(k[j] + i);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) a[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + h * GDS_ATTN_BLK + j), kv, a[h]);
        }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) _mm256_storeu_ps(acc + h * n + i, a[h]);
    }
    for (; i < n; i++) {
        for (int h = 0; h < NH; h++) {
            float a = acc[h * n + i] * alpha[h];
            for (int j = 0; j < nk; j++) a = __builtin_fmaf(p[h * GDS_ATTN_BLK + j], k[j][i], a);
            acc[h * n + i] = a;
        }
    }
}

void gds_cpu_attn_pv_avx2(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k, const float *p) {
    int h = 0;
    for (; h + 4 <= nh; h += 4) pv_heads(n, 4, acc + h * n, alpha + h, nk, k, p + h * GDS_ATTN_BLK);
    for (; h < nh; h++) pv_heads(n, 1, acc + h * n, alpha + h, nk, k, p + h * GDS_ATTN_BLK);
}

/* ---- indexer key block ------------------------------------------------------ */

static inline __m256 bf16_round(__m256 x) {
    __m256i u = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    u = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
    u = _mm256_and_si256(u, _mm256_set1_epi32((int)0xffff0000u));
    return _mm256_castsi256_ps(u);
}

GDS_AI void idx_heads(int64_t dI, int NH, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt,
                      __m256 *tot) {
    __m256 d[2][4];
#pragma GCC unroll 2
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) d[h][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < dI; i++) {
        __m256 kr[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            kr[c] = _mm256_loadu_ps(kt + i * GDS_IDX_KB + 8 * c);
            __asm__("" : "+x"(kr[c])); /* keep the key rows in registers: one load each, not one per head */
        }
#pragma GCC unroll 2
        for (int h = 0; h < NH; h++) {
            const __m256 qb = _mm256_broadcast_ss(q + h * qs + i);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) d[h][c] = _mm256_fmadd_ps(qb, kr[c], d[h][c]);
        }
    }
    const __m256 z = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int h = 0; h < NH; h++) {
        const __m256 wh = _mm256_set1_ps(w[h * ws]);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256 v = _mm256_max_ps(bf16_round(d[h][c]), z);
            tot[c] = _mm256_add_ps(tot[c], bf16_round(_mm256_mul_ps(v, wh)));
        }
    }
}

void gds_cpu_idx_block_avx2(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt, float *sc) {
    __m256 tot[4];
    for (int c = 0; c < 4; c++) tot[c] = _mm256_setzero_ps();
    int h = 0;
    for (; h + 2 <= nh; h += 2) idx_heads(dI, 2, q + h * qs, qs, w + h * ws, ws, kt, tot);
    for (; h < nh; h++) idx_heads(dI, 1, q + h * qs, qs, w + h * ws, ws, kt, tot);
    for (int c = 0; c < 4; c++) _mm256_storeu_ps(sc + 8 * c, bf16_round(tot[c]));
}

/* ---- indexer: MXFP4 key block -> kt [dI][32] ---------------------------------
 * Values are exact: d * (float)kvalues[c] with d = e8m0_half(e), the same single
 * product as the type's to_float (and the scalar table path). Eight keys at a
 * time: decode their 32-value blocks, 8x8 register transposes, 8-float stores. */

static inline void tr8x8(__m256 *r) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

void gds_cpu_idx_kt_mxfp4_avx2(int64_t dI, const void *const *rows, float *kt) {
    const __m128i tab = _mm_loadu_si128((const __m128i *)gds_kvalues_mxfp4);
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int l0 = 0; l0 < GDS_IDX_KB; l0 += 8) {
        for (int64_t b = 0; b < dI / QK_MXFP4; b++) {
            __m256 v[4][8]; /* [dim chunk][key] */
            for (int j = 0; j < 8; j++) {
                const block_mxfp4 *x = (const block_mxfp4 *)rows[l0 + j] + b;
                const __m256 d = _mm256_set1_ps(gds_e8m0_to_fp32_half(x->e));
                const __m128i q = _mm_loadu_si128((const __m128i *)x->qs);
                const __m128i lo = _mm_shuffle_epi8(tab, _mm_and_si128(q, m4));
                const __m128i hi = _mm_shuffle_epi8(tab, _mm_and_si128(_mm_srli_epi16(q, 4), m4));
                v[0][j] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)));
                v[1][j] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))));
                v[2][j] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)));
                v[3][j] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))));
            }
            for (int c = 0; c < 4; c++) {
                tr8x8(v[c]);
                float *o = kt + (b * QK_MXFP4 + 8 * c) * GDS_IDX_KB + l0;
                for (int i = 0; i < 8; i++) _mm256_storeu_ps(o + i * GDS_IDX_KB, v[c][i]);
            }
        }
    }
}

/* ---- HC_COMB mat-vec --------------------------------------------------------- */

GDS_AI void hc_dot_nt(int64_t D, int hc, const float *w, int NT, const float *const *x, int64_t xs, float *y) {
    __m256 a0[4], a1[4];
    float tail[4];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) { a0[t] = _mm256_setzero_ps(); a1[t] = _mm256_setzero_ps(); tail[t] = 0.0f; }
    for (int s = 0; s < hc; s++) {
        const float *ws = w + s * D;
        int64_t i = 0;
        for (; i + 16 <= D; i += 16) {
            const __m256 w0 = _mm256_loadu_ps(ws + i), w1 = _mm256_loadu_ps(ws + i + 8);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const float *xv = x[t] + s * xs + i;
                a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xv), a0[t]);
                a1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xv + 8), a1[t]);
            }
        }
        for (; i < D; i++)
            for (int t = 0; t < NT; t++) tail[t] += ws[i] * x[t][s * xs + i];
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) y[t] = hsum8(_mm256_add_ps(a0[t], a1[t])) + tail[t];
}

void gds_cpu_hc_dot_avx2(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y) {
    int t = 0;
    for (; t + 4 <= nt; t += 4) hc_dot_nt(D, hc, w, 4, x + t, xs, y + t);
    for (; t < nt; t++) hc_dot_nt(D, hc, w, 1, x + t, xs, y + t);
}

/* ---- compact kv decode (KV_E4M3_B64, spec 5.2) ----------------------------
 * e4m3 codes become the fp16 bit patterns of e4m3 * 2^-8 (exact), converted by
 * F16C, then (x * 256) * scale: the scalar's single rounding of e4m3 * scale. */

void gds_cpu_kv_dec_avx2(const uint8_t *blk, float *y) {
    const uint8_t *qs = blk + GDS_KV_E4M3_B64_OFF_QS;
    const __m256 k256 = _mm256_set1_ps(256.0f);
    for (int g = 0; g < GDS_KV_E4M3_B64_NOPE / GDS_KV_E4M3_B64_GROUP; g++) {
        const __m256 sc = _mm256_set1_ps(gds_e8m0_to_fp32(blk[g]));
        for (int c = 0; c < GDS_KV_E4M3_B64_GROUP; c += 16) {
            const int k = g * GDS_KV_E4M3_B64_GROUP + c;
            __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qs + k)));
            h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16((short)0xBFFF));
            const __m256 lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
            const __m256 hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
            _mm256_storeu_ps(y + k, _mm256_mul_ps(_mm256_mul_ps(lo, k256), sc));
            _mm256_storeu_ps(y + k + 8, _mm256_mul_ps(_mm256_mul_ps(hi, k256), sc));
        }
    }
    const uint8_t *r = blk + GDS_KV_E4M3_B64_OFF_ROPE;
    for (int j = 0; j < GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE; j += 8) {
        const __m256i v = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(r + 2 * j))), 16);
        _mm256_storeu_ps(y + GDS_KV_E4M3_B64_NOPE + j, _mm256_castsi256_ps(v));
    }
}

#endif /* __x86_64__ */
