/*
 * ops-attn-avx512.c - AVX-512 variants of the hot loops of ops-attn.c and
 * ops-hc.c: attention q.k dots and PV accumulation, the indexer key block, the
 * HC_COMB mix mat-vec, and the compact kv row decode (KV_E4M3_B64, exact:
 * the same values as the type's to_float). Compiled only on x86-64 with the AVX-512 flags of the
 * GNUmakefile; selected at run time by params->simd.
 *
 * Contract (see the scalar versions in ops-attn.c / ops-hc.c): same results up
 * to float reassociation inside a dot product and fused multiply-add. The
 * per-element order of the PV accumulation (acc*alpha, then keys in list
 * order) and of the indexer head sum (heads in order) is the scalar order.
 * Each output depends only on its own inputs (never on nk, nh or nt padding),
 * so grouping does not change results.
 */
#include "cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define GDS_ATTN_BLK 64
#define GDS_IDX_KB   32
#define GDS_AI static inline __attribute__((always_inline))

/* ---- attention: s = scale * q.k ------------------------------------------ */

GDS_AI void qk_tile(int64_t n, int NH, int NK, const float *const *qh, const float *const *kj, float *out /* [NH][NK] */) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
        for (int j = 0; j < NK; j++) acc[h][j] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 kv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NK; j++) kv[j] = _mm512_loadu_ps(kj[j] + i);
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) {
            const __m512 qv = _mm512_loadu_ps(qh[h] + i);
#pragma GCC unroll 4
            for (int j = 0; j < NK; j++) acc[h][j] = _mm512_fmadd_ps(qv, kv[j], acc[h][j]);
        }
    }
    if (i < n) {
        const __mmask16 mk = (__mmask16)((1u << (n - i)) - 1);
        __m512 kv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NK; j++) kv[j] = _mm512_maskz_loadu_ps(mk, kj[j] + i);
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) {
            const __m512 qv = _mm512_maskz_loadu_ps(mk, qh[h] + i);
#pragma GCC unroll 4
            for (int j = 0; j < NK; j++) acc[h][j] = _mm512_fmadd_ps(qv, kv[j], acc[h][j]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
        for (int j = 0; j < NK; j++) out[h * NK + j] = _mm512_reduce_add_ps(acc[h][j]);
}

GDS_AI void qk_heads(int64_t n, int NH, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s) {
    const float *qh[4];
    for (int h = 0; h < NH; h++) qh[h] = q + h * qs;
    float o[16];
    int j = 0;
    for (; j + 4 <= nk; j += 4) {
        qk_tile(n, NH, 4, qh, k + j, o);
        for (int h = 0; h < NH; h++)
            for (int jj = 0; jj < 4; jj++) s[h * GDS_ATTN_BLK + j + jj] = o[h * 4 + jj] * scale;
    }
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

void gds_cpu_attn_qk_avx512(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s) {
    int h = 0;
    for (; h + 4 <= nh; h += 4) qk_heads(n, 4, q + h * qs, qs, nk, k, scale, s + h * GDS_ATTN_BLK);
    for (; h < nh; h++) qk_heads(n, 1, q + h * qs, qs, nk, k, scale, s + h * GDS_ATTN_BLK);
}

/* ---- attention: acc = acc*alpha + sum_j p_j k_j ---------------------------- */

GDS_AI void pv_heads(int64_t n, int NH, float *acc, const float *alpha, int nk, const float *const *k, const float *p) {
    __m512 al[4];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++) al[h] = _mm512_set1_ps(alpha[h]);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a[4][4];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) a[h][c] = _mm512_mul_ps(_mm512_loadu_ps(acc + h * n + i + 16 * c), al[h]);
        for (int j = 0; j < nk; j++) {
            __m512 kv[4];
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) kv[c] = _mm512_loadu_ps(k[j] + i + 16 * c);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) {
                const __m512 pj = _mm512_set1_ps(p[h * GDS_ATTN_BLK + j]);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) a[h][c] = _mm512_fmadd_ps(pj, kv[c], a[h][c]);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) _mm512_storeu_ps(acc + h * n + i + 16 * c, a[h][c]);
    }
    for (; i < n; i += 16) {
        const __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 a[4];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) a[h] = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, acc + h * n + i), al[h]);
        for (int j = 0; j < nk; j++) {
            const __m512 kv = _mm512_maskz_loadu_ps(mk, k[j] + i);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) a[h] = _mm512_fmadd_ps(_mm512_set1_ps(p[h * GDS_ATTN_BLK + j]), kv, a[h]);
        }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) _mm512_mask_storeu_ps(acc + h * n + i, mk, a[h]);
    }
}

void gds_cpu_attn_pv_avx512(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k, const float *p) {
    int h = 0;
    for (; h + 4 <= nh; h += 4) pv_heads(n, 4, acc + h * n, alpha + h, nk, k, p + h * GDS_ATTN_BLK);
    for (; h < nh; h++) pv_heads(n, 1, acc + h * n, alpha + h, nk, k, p + h * GDS_ATTN_BLK);
}

/* ---- indexer key block ------------------------------------------------------ */

static inline __m512 bf16_round(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    u = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    u = _mm512_and_si512(u, _mm512_set1_epi32((int)0xffff0000u));
    return _mm512_castsi512_ps(u);
}

GDS_AI void idx_heads(int64_t dI, int NH, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt,
                      __m512 *tot) {
    __m512 d[8][2]; /* 8 heads: 16 independent FMA chains, slack over the 4-cycle latency x 2 ports */
#pragma GCC unroll 8
    for (int h = 0; h < NH; h++) { d[h][0] = _mm512_setzero_ps(); d[h][1] = _mm512_setzero_ps(); }
    for (int64_t i = 0; i < dI; i++) {
        const __m512 k0 = _mm512_loadu_ps(kt + i * GDS_IDX_KB), k1 = _mm512_loadu_ps(kt + i * GDS_IDX_KB + 16);
#pragma GCC unroll 8
        for (int h = 0; h < NH; h++) {
            const __m512 qb = _mm512_set1_ps(q[h * qs + i]);
            d[h][0] = _mm512_fmadd_ps(qb, k0, d[h][0]);
            d[h][1] = _mm512_fmadd_ps(qb, k1, d[h][1]);
        }
    }
    const __m512 z = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int h = 0; h < NH; h++) {
        const __m512 wh = _mm512_set1_ps(w[h * ws]);
        for (int c = 0; c < 2; c++) {
            const __m512 v = _mm512_max_ps(bf16_round(d[h][c]), z);
            tot[c] = _mm512_add_ps(tot[c], bf16_round(_mm512_mul_ps(v, wh)));
        }
    }
}

void gds_cpu_idx_block_avx512(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt, float *sc) {
    __m512 tot[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
    int h = 0;
    for (; h + 8 <= nh; h += 8) idx_heads(dI, 8, q + h * qs, qs, w + h * ws, ws, kt, tot);
    for (; h + 4 <= nh; h += 4) idx_heads(dI, 4, q + h * qs, qs, w + h * ws, ws, kt, tot);
    for (; h < nh; h++) idx_heads(dI, 1, q + h * qs, qs, w + h * ws, ws, kt, tot);
    _mm512_storeu_ps(sc, bf16_round(tot[0]));
    _mm512_storeu_ps(sc + 16, bf16_round(tot[1]));
}

/* ---- HC_COMB mat-vec --------------------------------------------------------- */

GDS_AI void hc_dot_nt(int64_t D, int hc, const float *w, int NT, const float *const *x, int64_t xs, float *y) {
    __m512 a0[4], a1[4];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) { a0[t] = _mm512_setzero_ps(); a1[t] = _mm512_setzero_ps(); }
    for (int s = 0; s < hc; s++) {
        const float *ws = w + s * D;
        int64_t i = 0;
        for (; i + 32 <= D; i += 32) {
            const __m512 w0 = _mm512_loadu_ps(ws + i), w1 = _mm512_loadu_ps(ws + i + 16);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const float *xv = x[t] + s * xs + i;
                a0[t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xv), a0[t]);
                a1[t] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xv + 16), a1[t]);
            }
        }
        for (; i < D; i += 16) {
            const __mmask16 mk = D - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (D - i)) - 1);
            const __m512 w0 = _mm512_maskz_loadu_ps(mk, ws + i);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                a0[t] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(mk, x[t] + s * xs + i), a0[t]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) y[t] = _mm512_reduce_add_ps(_mm512_add_ps(a0[t], a1[t]));
}

void gds_cpu_hc_dot_avx512(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y) {
    int t = 0;
    for (; t + 4 <= nt; t += 4) hc_dot_nt(D, hc, w, 4, x + t, xs, y + t);
    for (; t < nt; t++) hc_dot_nt(D, hc, w, 1, x + t, xs, y + t);
}

/* ---- compact kv decode (KV_E4M3_B64, spec 5.2) ----------------------------
 * e4m3 codes become the fp16 bit patterns of e4m3 * 2^-8 (exact, subnormals
 * stay fp16 subnormals, converted by vcvtph2ps without fp32 denormals), then
 * (x * 256) * scale: the same single rounding as the scalar e4m3 * scale. */

void gds_cpu_kv_dec_avx512(const uint8_t *blk, float *y) {
    const uint8_t *qs = blk + GDS_KV_E4M3_B64_OFF_QS;
    const __m512 k256 = _mm512_set1_ps(256.0f);
    for (int g = 0; g < GDS_KV_E4M3_B64_NOPE / GDS_KV_E4M3_B64_GROUP; g++) {
        const __m512 sc = _mm512_set1_ps(gds_e8m0_to_fp32(blk[g]));
        for (int c = 0; c < GDS_KV_E4M3_B64_GROUP; c += 32) {
            const int k = g * GDS_KV_E4M3_B64_GROUP + c;
            const __m512i h = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(qs + k))), 7),
                                               _mm512_set1_epi16((short)0xBFFF));
            const __m512 lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
            const __m512 hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
            _mm512_storeu_ps(y + k, _mm512_mul_ps(_mm512_mul_ps(lo, k256), sc));
            _mm512_storeu_ps(y + k + 16, _mm512_mul_ps(_mm512_mul_ps(hi, k256), sc));
        }
    }
    const uint8_t *r = blk + GDS_KV_E4M3_B64_OFF_ROPE;
    for (int j = 0; j < GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE; j += 16) {
        const __m512i v = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(r + 2 * j))), 16);
        _mm512_storeu_ps(y + GDS_KV_E4M3_B64_NOPE + j, _mm512_castsi512_ps(v));
    }
}

#endif /* __x86_64__ */
