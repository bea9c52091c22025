/*
 * ops-norm-neon.c - NEON hot loops of RMS_NORM and SOFT_MAX (see ops-norm.c).
 *
 * Four 4-wide accumulators hold lanes 0-3, 4-7, 8-11, 12-15 of the 16-lane
 * scheme of ops-norm.c (element i -> lane i % 16); products use separate
 * vmulq/vaddq (no fused multiply-add), so sums match the scalar kernel bit for
 * bit. The exp is the Cephes-style polynomial of the x86 files (same results).
 * Compiled only on aarch64.
 */
#include "cpu.h"

#include <arm_neon.h>
#include <math.h>

int64_t gds_cpu_sumsq16_neon(const float *x, int64_t n, float acc[16]);
void gds_cpu_scale_row_neon(float *y, const float *x, float r, const float *w, int64_t n);
float gds_cpu_softmax_prep_neon(float *y, const float *x, float scale, const float *mask, int64_t n);
int64_t gds_cpu_softmax_exp16_neon(float *y, int64_t n, float m, float acc[16]);

int64_t gds_cpu_sumsq16_neon(const float *x, int64_t n, float acc[16]) {
    float32x4_t a0 = vld1q_f32(acc), a1 = vld1q_f32(acc + 4), a2 = vld1q_f32(acc + 8), a3 = vld1q_f32(acc + 12);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t v0 = vld1q_f32(x + i), v1 = vld1q_f32(x + i + 4);
        float32x4_t v2 = vld1q_f32(x + i + 8), v3 = vld1q_f32(x + i + 12);
        a0 = vaddq_f32(a0, vmulq_f32(v0, v0));
        a1 = vaddq_f32(a1, vmulq_f32(v1, v1));
        a2 = vaddq_f32(a2, vmulq_f32(v2, v2));
        a3 = vaddq_f32(a3, vmulq_f32(v3, v3));
    }
    vst1q_f32(acc, a0); vst1q_f32(acc + 4, a1); vst1q_f32(acc + 8, a2); vst1q_f32(acc + 12, a3);
    return i;
}

void gds_cpu_scale_row_neon(float *y, const float *x, float r, const float *w, int64_t n) {
    const float32x4_t vr = vdupq_n_f32(r);
    int64_t i = 0;
    if (w) {
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vmulq_f32(vld1q_f32(x + i), vr), vld1q_f32(w + i)));
        for (; i < n; i++) y[i] = (x[i] * r) * w[i];
    } else {
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(x + i), vr));
        for (; i < n; i++) y[i] = x[i] * r;
    }
}

float gds_cpu_softmax_prep_neon(float *y, const float *x, float scale, const float *mask, int64_t n) {
    const float32x4_t vs = vdupq_n_f32(scale);
    float32x4_t vm = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_f32(vld1q_f32(x + i), vs);
        if (mask) v = vaddq_f32(v, vld1q_f32(mask + i));
        vst1q_f32(y + i, v);
        vm = vmaxnmq_f32(vm, v);
    }
    float m = vmaxnmvq_f32(vm);
    for (; i < n; i++) {
        float v = x[i] * scale;
        if (mask) v += mask[i];
        y[i] = v;
        m = v > m ? v : m;
    }
    return m;
}

static inline float32x4_t gds_exp_neon(float32x4_t x) {
    x = vmaxq_f32(x, vdupq_n_f32(-104.0f)); /* vmaxq propagates NaN */
    float32x4_t fn = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vsubq_f32(x, vmulq_f32(fn, vdupq_n_f32(0.693359375f)));
    r = vsubq_f32(r, vmulq_f32(fn, vdupq_n_f32(-2.12194440e-4f)));
    float32x4_t q = vdupq_n_f32(1.9875691500e-4f);
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(1.3981999507e-3f));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(8.3334519073e-3f));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(4.1665795894e-2f));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(1.6666665459e-1f));
    q = vaddq_f32(vmulq_f32(q, r), vdupq_n_f32(5.0000001201e-1f));
    q = vaddq_f32(vmulq_f32(vmulq_f32(q, r), r), vaddq_f32(r, vdupq_n_f32(1.0f)));
    int32x4_t n = vcvtq_s32_f32(fn);
    int32x4_t n1 = vshrq_n_s32(n, 1), n2 = vsubq_s32(n, n1);
    float32x4_t p1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    float32x4_t p2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(q, p1), p2);
}

int64_t gds_cpu_softmax_exp16_neon(float *y, int64_t n, float m, float acc[16]) {
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t a[4] = { vld1q_f32(acc), vld1q_f32(acc + 4), vld1q_f32(acc + 8), vld1q_f32(acc + 12) };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 4; j++) {
            float32x4_t e = gds_exp_neon(vsubq_f32(vld1q_f32(y + i + 4 * j), vm));
            vst1q_f32(y + i + 4 * j, e);
            a[j] = vaddq_f32(a[j], e);
        }
    }
    for (int j = 0; j < 4; j++) vst1q_f32(acc + 4 * j, a[j]);
    return i;
}
