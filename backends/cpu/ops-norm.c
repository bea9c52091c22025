/*
 * ops-norm.c - CPU kernels RMS_NORM and SOFT_MAX (scalar reference + dispatch to
 * the SIMD hot loops in ops-norm-{avx2,avx512,neon}.c).
 *
 * Invariants:
 * - Row sums (sum of squares, softmax denominator) are fp32 accumulated in 16
 *   lanes: element i goes to lane i % 16, then the lanes are reduced by a fixed
 *   tree (lane j += lane j+8, then +4, +2, +1). The SIMD loops use exactly this
 *   order and plain mul+add (no FMA), so RMS_NORM is bit-identical for every
 *   SIMD level; SOFT_MAX differs between levels only by the vector exp
 *   (a few ulp). Nothing depends on the thread count: rows are split with
 *   gds_cpu_split and each row is computed by one thread.
 * - RMS_NORM: y = (x * (1/sqrt(sum/n + eps))) * w, fp32 (spec 3.2 without the
 *   final bf16 rounding, which the graph does).
 * - SOFT_MAX: v = x*scale + mask; m = max(max v, sink);
 *   y = exp(v - m) / (sum exp(v - m) + exp(sink - m)); m == -inf gives zeros.
 */
#include "cpu.h"

#include <math.h>
#include <string.h>

/* SIMD hot loops: each processes the first n - n % 16 elements (lanes as above)
 * and returns how many it did; the scalar code finishes the tail. */
#if defined(__x86_64__)
int64_t gds_cpu_sumsq16_avx2(const float *x, int64_t n, float acc[16]);
void gds_cpu_scale_row_avx2(float *y, const float *x, float r, const float *w, int64_t n);
float gds_cpu_softmax_prep_avx2(float *y, const float *x, float scale, const float *mask, int64_t n);
int64_t gds_cpu_softmax_exp16_avx2(float *y, int64_t n, float m, float acc[16]);
int64_t gds_cpu_sumsq16_avx512(const float *x, int64_t n, float acc[16]);
void gds_cpu_scale_row_avx512(float *y, const float *x, float r, const float *w, int64_t n);
float gds_cpu_softmax_prep_avx512(float *y, const float *x, float scale, const float *mask, int64_t n);
int64_t gds_cpu_softmax_exp16_avx512(float *y, int64_t n, float m, float acc[16]);
#endif
#if defined(__aarch64__)
int64_t gds_cpu_sumsq16_neon(const float *x, int64_t n, float acc[16]);
void gds_cpu_scale_row_neon(float *y, const float *x, float r, const float *w, int64_t n);
float gds_cpu_softmax_prep_neon(float *y, const float *x, float scale, const float *mask, int64_t n);
int64_t gds_cpu_softmax_exp16_neon(float *y, int64_t n, float m, float acc[16]);
#endif

static float gds_reduce16(float acc[16]) {
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

static float gds_sumsq(enum gds_cpu_simd simd, const float *x, int64_t n) {
    float acc[16] = { 0 };
    int64_t i = 0;
    switch (simd) {
#if defined(__x86_64__)
    case GDS_SIMD_AVX2: i = gds_cpu_sumsq16_avx2(x, n, acc); break;
    case GDS_SIMD_AVX512: case GDS_SIMD_AMX: i = gds_cpu_sumsq16_avx512(x, n, acc); break;
#endif
#if defined(__aarch64__)
    case GDS_SIMD_NEON: i = gds_cpu_sumsq16_neon(x, n, acc); break;
#endif
    default: break;
    }
    for (; i < n; i++) acc[i & 15] += x[i] * x[i];
    return gds_reduce16(acc);
}

/* y = (x*r)*w (w may be NULL) */
static void gds_scale_row(enum gds_cpu_simd simd, float *y, const float *x, float r, const float *w, int64_t n) {
    switch (simd) {
#if defined(__x86_64__)
    case GDS_SIMD_AVX2: gds_cpu_scale_row_avx2(y, x, r, w, n); return;
    case GDS_SIMD_AVX512: case GDS_SIMD_AMX: gds_cpu_scale_row_avx512(y, x, r, w, n); return;
#endif
#if defined(__aarch64__)
    case GDS_SIMD_NEON: gds_cpu_scale_row_neon(y, x, r, w, n); return;
#endif
    default: break;
    }
    if (w) for (int64_t i = 0; i < n; i++) y[i] = (x[i] * r) * w[i];
    else for (int64_t i = 0; i < n; i++) y[i] = x[i] * r;
}

void gds_cpu_op_rms_norm(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *x = dst->src[0], *w = dst->src[1];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->nb[0] == 4);
    const float eps = gds_get_op_param_f32(dst, GDS_P_NORM_EPS);
    const int64_t n = x->ne[0], nr = gds_nrows(x);
    const float *wd = NULL;
    if (w) {
        GDS_ASSERT(w->type == GDS_TYPE_F32 && w->ne[0] == n && w->nb[0] == 4);
        wd = (const float *)w->data;
    }
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        const float *xr = gds_f32_ptr(x, 0, i1, i2, i3);
        float *yr = gds_f32_ptr(dst, 0, i1, i2, i3);
        const float ss = gds_sumsq(p->simd, xr, n);
        const float rs = 1.0f / sqrtf(ss / (float)n + eps);
        gds_scale_row(p->simd, yr, xr, rs, wd, n);
    }
}

/* v = x*scale (+ mask) into y; returns max v */
static float gds_softmax_prep(enum gds_cpu_simd simd, float *y, const float *x, float scale, const float *mask, int64_t n) {
    switch (simd) {
#if defined(__x86_64__)
    case GDS_SIMD_AVX2: return gds_cpu_softmax_prep_avx2(y, x, scale, mask, n);
    case GDS_SIMD_AVX512: case GDS_SIMD_AMX: return gds_cpu_softmax_prep_avx512(y, x, scale, mask, n);
#endif
#if defined(__aarch64__)
    case GDS_SIMD_NEON: return gds_cpu_softmax_prep_neon(y, x, scale, mask, n);
#endif
    default: break;
    }
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        if (mask) v += mask[i];
        y[i] = v;
        m = v > m ? v : m;
    }
    return m;
}

/* y = exp(y - m) in place; returns the 16-lane sum */
static float gds_softmax_exp(enum gds_cpu_simd simd, float *y, int64_t n, float m) {
    float acc[16] = { 0 };
    int64_t i = 0;
    switch (simd) {
#if defined(__x86_64__)
    case GDS_SIMD_AVX2: i = gds_cpu_softmax_exp16_avx2(y, n, m, acc); break;
    case GDS_SIMD_AVX512: case GDS_SIMD_AMX: i = gds_cpu_softmax_exp16_avx512(y, n, m, acc); break;
#endif
#if defined(__aarch64__)
    case GDS_SIMD_NEON: i = gds_cpu_softmax_exp16_neon(y, n, m, acc); break;
#endif
    default: break;
    }
    for (; i < n; i++) {
        const float e = expf(y[i] - m);
        y[i] = e;
        acc[i & 15] += e;
    }
    return gds_reduce16(acc);
}

void gds_cpu_op_soft_max(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *x = dst->src[0], *mask = dst->src[1], *sinks = dst->src[2];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->nb[0] == 4);
    const float scale = gds_get_op_param_f32(dst, GDS_P_SOFTMAX_SCALE);
    const int64_t n = x->ne[0], nr = gds_nrows(x);
    if (mask) GDS_ASSERT(mask->type == GDS_TYPE_F32 && mask->ne[0] == n && mask->nb[0] == 4);
    if (sinks) GDS_ASSERT(sinks->type == GDS_TYPE_F32 && sinks->ne[0] >= x->ne[2]);
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        const float *xr = gds_f32_ptr(x, 0, i1, i2, i3);
        float *yr = gds_f32_ptr(dst, 0, i1, i2, i3);
        const float *mr = mask ? gds_f32_ptr(mask, 0, i1 % mask->ne[1], 0, 0) : NULL;
        float m = gds_softmax_prep(p->simd, yr, xr, scale, mr, n);
        float sink = -INFINITY;
        if (sinks) {
            sink = *gds_f32_ptr(sinks, i2, 0, 0, 0);
            m = sink > m ? sink : m;
        }
        if (m == -INFINITY) { memset(yr, 0, (size_t)n * sizeof(float)); continue; }
        float sum = gds_softmax_exp(p->simd, yr, n, m);
        if (sinks) sum += expf(sink - m);
        const float inv = 1.0f / sum;
        gds_scale_row(p->simd, yr, yr, inv, NULL, n);
    }
}
