/*
 * ops-attn-neon.c - NEON (aarch64) variants of the hot loops of ops-attn.c and
 * ops-hc.c: attention q.k dots and PV accumulation, the indexer key block, the
 * HC_COMB mix mat-vec, and the compact kv row decode (KV_E4M3_B64, exact:
 * the same values as the type's to_float). Compiled only on aarch64; selected by params->simd.
 *
 * Contract: as ops-attn-avx512.c (scalar results up to reassociation inside a
 * dot product and fused multiply-add; PV and indexer head-sum orders are the
 * scalar orders; outputs independent of how heads/keys/tokens are grouped).
 */
#include "cpu.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define GDS_ATTN_BLK 64
#define GDS_IDX_KB   32
#define GDS_AI static inline __attribute__((always_inline))

/* ---- attention: s = scale * q.k ------------------------------------------ */

GDS_AI void qk_tile(int64_t n, int NH, int NK, const float *const *qh, const float *const *kj, float *out) {
    float32x4_t acc[4][2][2];
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 2
        for (int j = 0; j < NK; j++) { acc[h][j][0] = vdupq_n_f32(0.0f); acc[h][j][1] = vdupq_n_f32(0.0f); }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t kv[2][2];
#pragma GCC unroll 2
        for (int j = 0; j < NK; j++) { kv[j][0] = vld1q_f32(kj[j] + i); kv[j][1] = vld1q_f32(kj[j] + i + 4); }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) {
            const float32x4_t q0 = vld1q_f32(qh[h] + i), q1 = vld1q_f32(qh[h] + i + 4);
#pragma GCC unroll 2
            for (int j = 0; j < NK; j++) {
                acc[h][j][0] = vfmaq_f32(acc[h][j][0], q0, kv[j][0]);
                acc[h][j][1] = vfmaq_f32(acc[h][j][1], q1, kv[j][1]);
            }
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 2
        for (int j = 0; j < NK; j++) {
            float r = vaddvq_f32(vaddq_f32(acc[h][j][0], acc[h][j][1]));
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

void gds_cpu_attn_qk_neon(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s) {
    int h = 0;
    for (; h + 4 <= nh; h += 4) qk_heads(n, 4, q + h * qs, qs, nk, k, scale, s + h * GDS_ATTN_BLK);
    for (; h < nh; h++) qk_heads(n, 1, q + h * qs, qs, nk, k, scale, s + h * GDS_ATTN_BLK);
}

/* ---- attention: acc = acc*alpha + sum_j p_j k_j ---------------------------- */

GDS_AI void pv_heads(int64_t n, int NH, float *acc, const float *alpha, int nk, const float *const *k, const float *p) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a[4][4];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) a[h][c] = vmulq_n_f32(vld1q_f32(acc + h * n + i + 4 * c), alpha[h]);
        for (int j = 0; j < nk; j++) {
            float32x4_t kv[4];
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) kv[c] = vld1q_f32(k[j] + i + 4 * c);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) {
                const float pj = p[h * GDS_ATTN_BLK + j];
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) a[h][c] = vfmaq_n_f32(a[h][c], kv[c], pj);
            }
        }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++)
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) vst1q_f32(acc + h * n + i + 4 * c, a[h][c]);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t a[4];
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) a[h] = vmulq_n_f32(vld1q_f32(acc + h * n + i), alpha[h]);
        for (int j = 0; j < nk; j++) {
            const float32x4_t kv = vld1q_f32(k[j] + i);
#pragma GCC unroll 4
            for (int h = 0; h < NH; h++) a[h] = vfmaq_n_f32(a[h], kv, p[h * GDS_ATTN_BLK + j]);
        }
#pragma GCC unroll 4
        for (int h = 0; h < NH; h++) vst1q_f32(acc + h * n + i, a[h]);
    }
    for (; i < n; i++) {
        for (int h = 0; h < NH; h++) {
            float a = acc[h * n + i] * alpha[h];
            for (int j = 0; j < nk; j++) a = __builtin_fmaf(p[h * GDS_ATTN_BLK + j], k[j][i], a);
            acc[h * n + i] = a;
        }
    }
}

void gds_cpu_attn_pv_neon(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k, const float *p) {
    int h = 0;
    for (; h + 4 <= nh; h += 4) pv_heads(n, 4, acc + h * n, alpha + h, nk, k, p + h * GDS_ATTN_BLK);
    for (; h < nh; h++) pv_heads(n, 1, acc + h * n, alpha + h, nk, k, p + h * GDS_ATTN_BLK);
}

/* ---- indexer key block ------------------------------------------------------ */

static inline float32x4_t bf16_round(float32x4_t x) {
    uint32x4_t u = vreinterpretq_u32_f32(x);
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    u = vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fff), lsb));
    u = vandq_u32(u, vdupq_n_u32(0xffff0000u));
    return vreinterpretq_f32_u32(u);
}

GDS_AI void idx_heads(int64_t dI, int NH, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt,
                      float32x4_t *tot) {
    float32x4_t d[2][8];
#pragma GCC unroll 2
    for (int h = 0; h < NH; h++)
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) d[h][c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < dI; i++) {
        float32x4_t kr[8];
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) kr[c] = vld1q_f32(kt + i * GDS_IDX_KB + 4 * c);
#pragma GCC unroll 2
        for (int h = 0; h < NH; h++) {
            const float qb = q[h * qs + i];
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) d[h][c] = vfmaq_n_f32(d[h][c], kr[c], qb);
        }
    }
    const float32x4_t z = vdupq_n_f32(0.0f);
#pragma GCC unroll 2
    for (int h = 0; h < NH; h++) {
        const float wh = w[h * ws];
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            const float32x4_t v = vmaxq_f32(bf16_round(d[h][c]), z);
            tot[c] = vaddq_f32(tot[c], bf16_round(vmulq_n_f32(v, wh)));
        }
    }
}

void gds_cpu_idx_block_neon(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt, float *sc) {
    float32x4_t tot[8];
    for (int c = 0; c < 8; c++) tot[c] = vdupq_n_f32(0.0f);
    int h = 0;
    for (; h + 2 <= nh; h += 2) idx_heads(dI, 2, q + h * qs, qs, w + h * ws, ws, kt, tot);
    for (; h < nh; h++) idx_heads(dI, 1, q + h * qs, qs, w + h * ws, ws, kt, tot);
    for (int c = 0; c < 8; c++) vst1q_f32(sc + 4 * c, bf16_round(tot[c]));
}

/* ---- indexer: MXFP4 key block -> kt [dI][32] ---------------------------------
 * Exact values d * (float)kvalues[c] (d = e8m0_half(e)), the same single product
 * as the type's to_float. Four keys at a time: table lookup of the codes, widen,
 * convert, scale, 4x4 transposes, 4-float stores. */

void gds_cpu_idx_kt_mxfp4_neon(int64_t dI, const void *const *rows, float *kt) {
    const int8x16_t tab = vld1q_s8(gds_kvalues_mxfp4);
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    for (int l0 = 0; l0 < GDS_IDX_KB; l0 += 4) {
        for (int64_t b = 0; b < dI / QK_MXFP4; b++) {
            float32x4_t v[8][4]; /* [dim chunk of 4][key] */
            for (int j = 0; j < 4; j++) {
                const block_mxfp4 *x = (const block_mxfp4 *)rows[l0 + j] + b;
                const float d = gds_e8m0_to_fp32_half(x->e);
                const uint8x16_t q = vld1q_u8(x->qs);
                const int8x16_t lo = vqtbl1q_s8(tab, vandq_u8(q, m4));
                const int8x16_t hi = vqtbl1q_s8(tab, vshrq_n_u8(q, 4));
                const int16x8_t w[4] = { vmovl_s8(vget_low_s8(lo)), vmovl_s8(vget_high_s8(lo)),
                                         vmovl_s8(vget_low_s8(hi)), vmovl_s8(vget_high_s8(hi)) };
                for (int c = 0; c < 4; c++) {
                    v[2 * c][j] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(w[c]))), d);
                    v[2 * c + 1][j] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(w[c]))), d);
                }
            }
            for (int c = 0; c < 8; c++) {
                const float32x4x2_t t0 = vtrnq_f32(v[c][0], v[c][1]), t1 = vtrnq_f32(v[c][2], v[c][3]);
                float *o = kt + (b * QK_MXFP4 + 4 * c) * GDS_IDX_KB + l0;
                vst1q_f32(o, vcombine_f32(vget_low_f32(t0.val[0]), vget_low_f32(t1.val[0])));
                vst1q_f32(o + GDS_IDX_KB, vcombine_f32(vget_low_f32(t0.val[1]), vget_low_f32(t1.val[1])));
                vst1q_f32(o + 2 * GDS_IDX_KB, vcombine_f32(vget_high_f32(t0.val[0]), vget_high_f32(t1.val[0])));
                vst1q_f32(o + 3 * GDS_IDX_KB, vcombine_f32(vget_high_f32(t0.val[1]), vget_high_f32(t1.val[1])));
            }
        }
    }
}

/* ---- HC_COMB mat-vec --------------------------------------------------------- */

GDS_AI void hc_dot_nt(int64_t D, int hc, const float *w, int NT, const float *const *x, int64_t xs, float *y) {
    float32x4_t a0[4], a1[4];
    float tail[4];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) { a0[t] = vdupq_n_f32(0.0f); a1[t] = vdupq_n_f32(0.0f); tail[t] = 0.0f; }
    for (int s = 0; s < hc; s++) {
        const float *ws = w + s * D;
        int64_t i = 0;
        for (; i + 8 <= D; i += 8) {
            const float32x4_t w0 = vld1q_f32(ws + i), w1 = vld1q_f32(ws + i + 4);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const float *xv = x[t] + s * xs + i;
                a0[t] = vfmaq_f32(a0[t], w0, vld1q_f32(xv));
                a1[t] = vfmaq_f32(a1[t], w1, vld1q_f32(xv + 4));
            }
        }
        for (; i < D; i++)
            for (int t = 0; t < NT; t++) tail[t] += ws[i] * x[t][s * xs + i];
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) y[t] = vaddvq_f32(vaddq_f32(a0[t], a1[t])) + tail[t];
}

void gds_cpu_hc_dot_neon(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y) {
    int t = 0;
    for (; t + 4 <= nt; t += 4) hc_dot_nt(D, hc, w, 4, x + t, xs, y + t);
    for (; t < nt; t++) hc_dot_nt(D, hc, w, 1, x + t, xs, y + t);
}

/* ---- compact kv decode (KV_E4M3_B64, spec 5.2) ----------------------------
 * e4m3 codes become the fp16 bit patterns of e4m3 * 2^-8 (exact), converted by
 * vcvt_f32_f16, then (x * 256) * scale: the scalar's single rounding. */

void gds_cpu_kv_dec_neon(const uint8_t *blk, float *y) {
    const uint8_t *qs = blk + GDS_KV_E4M3_B64_OFF_QS;
    const uint16x8_t m = vdupq_n_u16(0xBFFF);
    for (int g = 0; g < GDS_KV_E4M3_B64_NOPE / GDS_KV_E4M3_B64_GROUP; g++) {
        const float sc = gds_e8m0_to_fp32(blk[g]);
        for (int c = 0; c < GDS_KV_E4M3_B64_GROUP; c += 16) {
            const int k = g * GDS_KV_E4M3_B64_GROUP + c;
            const int8x16_t q = vreinterpretq_s8_u8(vld1q_u8(qs + k));
            const uint16x8_t lo = vandq_u16(vreinterpretq_u16_s16(vshlq_n_s16(vmovl_s8(vget_low_s8(q)), 7)), m);
            const uint16x8_t hi = vandq_u16(vreinterpretq_u16_s16(vshlq_n_s16(vmovl_s8(vget_high_s8(q)), 7)), m);
            float32x4_t v[4];
            v[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(lo)));
            v[1] = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(lo)));
            v[2] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(hi)));
            v[3] = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(hi)));
            for (int i = 0; i < 4; i++) vst1q_f32(y + k + 4 * i, vmulq_n_f32(vmulq_n_f32(v[i], 256.0f), sc));
        }
    }
    const uint8_t *r = blk + GDS_KV_E4M3_B64_OFF_ROPE;
    for (int j = 0; j < GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE; j += 4) {
        const uint32x4_t v = vshlq_n_u32(vmovl_u16(vreinterpret_u16_u8(vld1_u8(r + 2 * j))), 16);
        vst1q_f32(y + GDS_KV_E4M3_B64_NOPE + j, vreinterpretq_f32_u32(v));
    }
}

#endif /* __aarch64__ */
