/*
 * quants-neon.c - NEON (armv8.2-a + dotprod + fp16) dot products for mul_mat.
 *
 * Same arithmetic as the scalar reference in quants.c (see its header for the
 * canonical definitions), so results are bit-identical to the other levels:
 * the 16 canonical float lanes are four float32x4 registers (lanes 0-3, 4-7,
 * 8-11, 12-15); integer block partials are exact. e4m3 codes decode through
 * fp16 bit patterns (e4m3 * 2^-8, exact; NaN codes as 480, like the x86 paths).
 * Only single-row vec_dot here (vec_dot4 NULL): correctness first on ARM.
 */
#include "cpu.h"

#if defined(__aarch64__)

#include <arm_neon.h>

/* canonical reduction of the 16 lanes */
static inline float reduce16_f32(float32x4_t l0, float32x4_t l1, float32x4_t l2, float32x4_t l3) {
    const float32x4_t s4 = vaddq_f32(vaddq_f32(l0, l2), vaddq_f32(l1, l3));
    const float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));
    return vget_lane_f32(s2, 0) + vget_lane_f32(s2, 1);
}

/* ---- float types --------------------------------------------------------- */

static void dot_f32_neon(int64_t n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a;
    float32x4_t l0 = vdupq_n_f32(0.0f), l1 = l0, l2 = l0, l3 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        l0 = vaddq_f32(l0, vmulq_f32(vld1q_f32(x + k), vld1q_f32(y + k)));
        l1 = vaddq_f32(l1, vmulq_f32(vld1q_f32(x + k + 4), vld1q_f32(y + k + 4)));
        l2 = vaddq_f32(l2, vmulq_f32(vld1q_f32(x + k + 8), vld1q_f32(y + k + 8)));
        l3 = vaddq_f32(l3, vmulq_f32(vld1q_f32(x + k + 12), vld1q_f32(y + k + 12)));
    }
    float sum = reduce16_f32(l0, l1, l2, l3);
    for (; k < n; k++) { float p = x[k] * y[k]; sum = sum + p; }
    *s = sum;
}

static inline float32x4_t f16x4(const gds_fp16_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

static void dot_f16_neon(int64_t n, float *s, const void *w, const void *a) {
    const gds_fp16_t *x = w, *y = a;
    float32x4_t l0 = vdupq_n_f32(0.0f), l1 = l0, l2 = l0, l3 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) { /* exact products: fma == mul + add */
        l0 = vfmaq_f32(l0, f16x4(x + k), f16x4(y + k));
        l1 = vfmaq_f32(l1, f16x4(x + k + 4), f16x4(y + k + 4));
        l2 = vfmaq_f32(l2, f16x4(x + k + 8), f16x4(y + k + 8));
        l3 = vfmaq_f32(l3, f16x4(x + k + 12), f16x4(y + k + 12));
    }
    float sum = reduce16_f32(l0, l1, l2, l3);
    for (; k < n; k++) { float p = gds_fp16_to_fp32(x[k]) * gds_fp16_to_fp32(y[k]); sum = sum + p; }
    *s = sum;
}

static inline float32x4_t bf16x4(const gds_bf16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

static void dot_bf16_neon(int64_t n, float *s, const void *w, const void *a) {
    const gds_bf16_t *x = w, *y = a;
    float32x4_t l0 = vdupq_n_f32(0.0f), l1 = l0, l2 = l0, l3 = l0;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        l0 = vaddq_f32(l0, vmulq_f32(bf16x4(x + k), bf16x4(y + k)));
        l1 = vaddq_f32(l1, vmulq_f32(bf16x4(x + k + 4), bf16x4(y + k + 4)));
        l2 = vaddq_f32(l2, vmulq_f32(bf16x4(x + k + 8), bf16x4(y + k + 8)));
        l3 = vaddq_f32(l3, vmulq_f32(bf16x4(x + k + 12), bf16x4(y + k + 12)));
    }
    float sum = reduce16_f32(l0, l1, l2, l3);
    for (; k < n; k++) { float p = gds_bf16_to_fp32(x[k]) * gds_bf16_to_fp32(y[k]); sum = sum + p; }
    *s = sum;
}

/* ---- e4m3 decode: 16 codes -> 4 x 4 floats (e4m3 * 2^-8) ----------------- */

static inline void e4m3x16(const uint8_t *c, float32x4_t *v) {
    const int8x16_t q = vreinterpretq_s8_u8(vld1q_u8(c));
    const uint16x8_t m = vdupq_n_u16(0xBFFF);
    const uint16x8_t lo = vandq_u16(vreinterpretq_u16_s16(vshlq_n_s16(vmovl_s8(vget_low_s8(q)), 7)), m);
    const uint16x8_t hi = vandq_u16(vreinterpretq_u16_s16(vshlq_n_s16(vmovl_s8(vget_high_s8(q)), 7)), m);
    v[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(lo)));
    v[1] = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(lo)));
    v[2] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(hi)));
    v[3] = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(hi)));
}

/* ---- F8 x F8 ------------------------------------------------------------- */

static void dot_f8_neon(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        float32x4_t l[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
        for (int h = 0; h < QK_F8; h += 16) {
            float32x4_t wv[4], av[4];
            e4m3x16(x[b].qs + h, wv);
            e4m3x16(y[b].qs + h, av);
            for (int i = 0; i < 4; i++) l[i] = vfmaq_f32(l[i], wv[i], av[i]); /* exact products */
        }
        const float p = reduce16_f32(l[0], l[1], l[2], l[3]) * 65536.0f;
        const float sc = gds_e8m0_to_fp32(x[b].e) * gds_e8m0_to_fp32(y[b].e);
        const float t = p * sc;
        acc = acc + t;
    }
    *s = acc;
}

/* ---- Q8_0 x Q8_0 --------------------------------------------------------- */

static void dot_q8_0_neon(int64_t n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int32x4_t d = vdotq_s32(vdupq_n_s32(0), vld1q_s8(x[b].qs), vld1q_s8(y[b].qs));
        d = vdotq_s32(d, vld1q_s8(x[b].qs + 16), vld1q_s8(y[b].qs + 16));
        const int32_t isum = vaddvq_s32(d);
        const float dd = gds_fp16_to_fp32(x[b].d) * gds_fp16_to_fp32(y[b].d);
        const float t = (float)isum * dd;
        acc = acc + t;
    }
    *s = acc;
}

/* ---- MXFP4 x F8 ---------------------------------------------------------- */

static void dot_mxfp4_neon(int64_t n, float *s, const void *w, const void *a) {
    const block_mxfp4 *x = w;
    const block_f8 *y = a;
    const int8x16_t kv = vld1q_s8(gds_kvalues_mxfp4);
    const float32x4_t k17 = vdupq_n_f32(131072.0f);
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        int32x4_t X[32]; /* e4m3 * 2^9 as integers, 4 per vector, element order */
        for (int h = 0; h < QK_F8; h += 16) {
            float32x4_t v[4];
            e4m3x16(y[b].qs + h, v);
            for (int i = 0; i < 4; i++) X[h / 4 + i] = vcvtq_s32_f32(vmulq_f32(v[i], k17));
        }
        const float sa9 = gds_e8m0_to_fp32(y[b].e) * 0x1p-9f;
        for (int j = 0; j < 4; j++) {
            const block_mxfp4 *xb = &x[4 * b + j];
            const uint8x16_t q = vld1q_u8(xb->qs);
            const int8x16_t lo = vqtbl1q_s8(kv, vandq_u8(q, vdupq_n_u8(15)));
            const int8x16_t hi = vqtbl1q_s8(kv, vshrq_n_u8(q, 4));
            const int16x8_t l0 = vmovl_s8(vget_low_s8(lo)), l1 = vmovl_s8(vget_high_s8(lo));
            const int16x8_t h0 = vmovl_s8(vget_low_s8(hi)), h1 = vmovl_s8(vget_high_s8(hi));
            const int32x4_t *xa = X + 8 * j;
            int32x4_t d = vmulq_s32(vmovl_s16(vget_low_s16(l0)), xa[0]);
            d = vmlaq_s32(d, vmovl_s16(vget_high_s16(l0)), xa[1]);
            d = vmlaq_s32(d, vmovl_s16(vget_low_s16(l1)), xa[2]);
            d = vmlaq_s32(d, vmovl_s16(vget_high_s16(l1)), xa[3]);
            d = vmlaq_s32(d, vmovl_s16(vget_low_s16(h0)), xa[4]);
            d = vmlaq_s32(d, vmovl_s16(vget_high_s16(h0)), xa[5]);
            d = vmlaq_s32(d, vmovl_s16(vget_low_s16(h1)), xa[6]);
            d = vmlaq_s32(d, vmovl_s16(vget_high_s16(h1)), xa[7]);
            const int32_t p = vaddvq_s32(d);
            const float sc = sa9 * gds_e8m0_to_fp32_half(xb->e);
            const float t = (float)p * sc;
            acc = acc + t;
        }
    }
    *s = acc;
}

/* ---- F8 x BF16 (GDS_MM_ACT_BF16; canonical rule in quants.c) --------------- */

void gds_cpu_dot_f8bf16_neon(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w;
    const gds_bf16_t *y = a;
    float32x4_t l[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
    for (int64_t b = 0; b < n / QK_F8; b++) {
        const float32x4_t sc = vdupq_n_f32(gds_e8m0_to_fp32(x[b].e));
        const gds_bf16_t *yb = y + b * QK_F8;
        for (int h = 0; h < QK_F8; h += 16) {
            float32x4_t wv[4];
            e4m3x16(x[b].qs + h, wv);
            for (int i = 0; i < 4; i++) {
                const float32x4_t wd = vmulq_f32(vmulq_n_f32(wv[i], 256.0f), sc); /* exact: e4m3 * 2^(e-127) */
                l[i] = vaddq_f32(l[i], vmulq_f32(wd, bf16x4(yb + h + 4 * i)));
            }
        }
    }
    *s = reduce16_f32(l[0], l[1], l[2], l[3]);
}

/* ---- table --------------------------------------------------------------- */

void gds_cpu_traits_neon(struct gds_cpu_type_traits *tab) {
    tab[GDS_TYPE_F32].vec_dot = dot_f32_neon;
    tab[GDS_TYPE_F16].vec_dot = dot_f16_neon;
    tab[GDS_TYPE_BF16].vec_dot = dot_bf16_neon;
    tab[GDS_TYPE_Q8_0].vec_dot = dot_q8_0_neon;
    tab[GDS_TYPE_MXFP4].vec_dot = dot_mxfp4_neon;
    tab[GDS_TYPE_F8_E4M3_B128].vec_dot = dot_f8_neon;
}

#endif /* __aarch64__ */
