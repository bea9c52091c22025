/*
 * ops-hc.c - CPU kernels of the manifold hyper-connection ops (spec 4.2-4.4):
 * HC_COMB (mix mat-vec + pre/post/Sinkhorn), HC_PRE (weighted stream sum),
 * HC_POST (stream update).
 *
 * Invariants:
 * - Bit-identical for any nth: HC_COMB phase 1 computes each raw dot product
 *   fn_i . v_t in one unit (token block of 4, mix row i), units in contiguous
 *   chunks; a barrier; phase 2 finishes each token (rms factor, sigmoids,
 *   Sinkhorn) in one thread. HC_PRE / HC_POST split the output elements into
 *   contiguous chunks; each element's sum runs over streams in index order.
 * - The mat-vec is the only hot loop; its SIMD variants live in
 *   ops-attn-{avx2,avx512,neon}.c (gds_cpu_hc_dot_*), scalar here is the
 *   reference. Everything after the dot products is shared scalar code.
 * - fp32 math throughout; HC_PRE/HC_POST round once to bf16 at the end.
 */
#include "cpu.h"

#include <math.h>

/* y[t] = sum_s sum_i w[s*D + i] * x[t][s*xs + i] for t < nt (w contiguous [hc*D]) */
typedef void (*gds_hc_dot_fn)(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y);

#if defined(__x86_64__)
void gds_cpu_hc_dot_avx2(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y);
void gds_cpu_hc_dot_avx512(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y);
#endif
#if defined(__aarch64__)
void gds_cpu_hc_dot_neon(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs, float *y);
#endif

static void gds_cpu_hc_dot_scalar(int64_t D, int hc, const float *w, int nt, const float *const *x, int64_t xs,
                                  float *y) {
    for (int t = 0; t < nt; t++) {
        float acc = 0.0f;
        for (int s = 0; s < hc; s++) {
            const float *ws = w + s * D, *xv = x[t] + s * xs;
            for (int64_t i = 0; i < D; i++) acc += ws[i] * xv[i];
        }
        y[t] = acc;
    }
}

static gds_hc_dot_fn gds_hc_dot_get(enum gds_cpu_simd simd) {
#if defined(__x86_64__)
    if (simd == GDS_SIMD_AVX2) return gds_cpu_hc_dot_avx2;
    if (gds_cpu_simd_is_avx512(simd)) return gds_cpu_hc_dot_avx512;
#elif defined(__aarch64__)
    if (simd == GDS_SIMD_NEON) return gds_cpu_hc_dot_neon;
#endif
    (void)simd;
    return gds_cpu_hc_dot_scalar;
}

static inline float gds_hc_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

#define GDS_HC_TB 4   /* tokens per phase-1 unit */
#define GDS_HC_MAX 16 /* largest supported HC (C is HC x HC on the stack) */

size_t gds_cpu_work_hc_comb(const struct gds_tensor *dst, int nth) {
    (void)dst; (void)nth;
    return 0;
}

void gds_cpu_op_hc_comb(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *X = dst->src[0];
    const struct gds_tensor *fn = dst->src[1];
    const struct gds_tensor *scale = dst->src[2];
    const struct gds_tensor *base = dst->src[3];
    const float eps = gds_get_op_param_f32(dst, GDS_P_HC_EPS);
    const float hc_eps = gds_get_op_param_f32(dst, GDS_P_HC_HCEPS);
    const int iters = gds_get_op_param_i32(dst, GDS_P_HC_ITERS);
    const int64_t D = X->ne[0], T = X->ne[2];
    const int hc = (int)X->ne[1];
    const int64_t n_mix = dst->ne[0];
    const int64_t xs = (int64_t)(X->nb[1] / sizeof(float));
    GDS_ASSERT(hc <= GDS_HC_MAX);

    /* phase 1: raw dot products into dst */
    {
        const gds_hc_dot_fn dot = gds_hc_dot_get(p->simd);
        const int64_t ntb = (T + GDS_HC_TB - 1) / GDS_HC_TB;
        int64_t u0, u1;
        gds_cpu_split(ntb * n_mix, p->ith, p->nth, &u0, &u1);
        for (int64_t u = u0; u < u1; u++) {
            const int64_t tb = u / n_mix, i = u % n_mix;
            const int64_t t0 = tb * GDS_HC_TB;
            const int nt = (int)(T - t0 < GDS_HC_TB ? T - t0 : GDS_HC_TB);
            const float *xp[GDS_HC_TB];
            float y[GDS_HC_TB];
            for (int t = 0; t < nt; t++) xp[t] = (const float *)((const char *)X->data + (t0 + t) * X->nb[2]);
            const float *w = (const float *)((const char *)fn->data + i * fn->nb[1]);
            dot(D, hc, w, nt, xp, xs, y);
            for (int t = 0; t < nt; t++) ((float *)dst->data)[(t0 + t) * n_mix + i] = y[t];
        }
    }

    gds_cpu_barrier(p);

    /* phase 2: per token */
    const float sc0 = *(const float *)scale->data;
    const float sc1 = scale->ne[0] > 1 ? *(const float *)((const char *)scale->data + scale->nb[0]) : 0.0f;
    const float sc2 = scale->ne[0] > 2 ? *(const float *)((const char *)scale->data + 2 * scale->nb[0]) : 0.0f;
#define BASE(i) (*(const float *)((const char *)base->data + (i) * base->nb[0]))

    int64_t t0, t1;
    gds_cpu_split(T, p->ith, p->nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        float *y = (float *)dst->data + t * n_mix;

        /* r = rsqrt(mean(v^2) + eps), 8 fixed partial sums */
        float part[8] = { 0 };
        for (int s = 0; s < hc; s++) {
            const float *xv = (const float *)((const char *)X->data + s * X->nb[1] + t * X->nb[2]);
            int64_t i = 0;
            for (; i + 8 <= D; i += 8)
                for (int k = 0; k < 8; k++) part[k] += xv[i + k] * xv[i + k];
            for (; i < D; i++) part[0] += xv[i] * xv[i];
        }
        const float ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        const float r = 1.0f / sqrtf(ss / (float)(hc * D) + eps);

        float mix[(2 + GDS_HC_MAX) * GDS_HC_MAX];
        for (int64_t i = 0; i < n_mix; i++) mix[i] = y[i] * r;

        for (int s = 0; s < hc; s++) y[s] = gds_hc_sigmoid(mix[s] * sc0 + BASE(s)) + hc_eps;
        if (n_mix == hc) continue; /* hc head: pre only */

        for (int s = 0; s < hc; s++) y[hc + s] = 2.0f * gds_hc_sigmoid(mix[hc + s] * sc1 + BASE(hc + s));

        float C[GDS_HC_MAX][GDS_HC_MAX];
        for (int j = 0; j < hc; j++) {
            float mx = -INFINITY;
            for (int k = 0; k < hc; k++) {
                const int i = 2 * hc + j * hc + k;
                C[j][k] = mix[i] * sc2 + BASE(i);
                mx = C[j][k] > mx ? C[j][k] : mx;
            }
            float sum = 0.0f;
            for (int k = 0; k < hc; k++) { C[j][k] = expf(C[j][k] - mx); sum += C[j][k]; }
            for (int k = 0; k < hc; k++) C[j][k] = C[j][k] / sum + hc_eps;
        }
        for (int it = 0; it < iters; it++) {
            if (it > 0) { /* rows */
                for (int j = 0; j < hc; j++) {
                    float sum = 0.0f;
                    for (int k = 0; k < hc; k++) sum += C[j][k];
                    sum += hc_eps;
                    for (int k = 0; k < hc; k++) C[j][k] /= sum;
                }
            }
            for (int k = 0; k < hc; k++) { /* columns */
                float sum = 0.0f;
                for (int j = 0; j < hc; j++) sum += C[j][k];
                sum += hc_eps;
                for (int j = 0; j < hc; j++) C[j][k] /= sum;
            }
        }
        for (int j = 0; j < hc; j++)
            for (int k = 0; k < hc; k++) y[2 * hc + j * hc + k] = C[j][k];
    }
#undef BASE
}

/* HC_PRE: X [D, HC, T], comb [n_mix >= HC, T] -> [D, T] = bf16(sum_s comb[s]*X[:, s]) */
void gds_cpu_op_hc_pre(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *X = dst->src[0];
    const struct gds_tensor *comb = dst->src[1];
    const int64_t D = X->ne[0], T = X->ne[2];
    const int hc = (int)X->ne[1];
    GDS_ASSERT(hc <= GDS_HC_MAX);

    int64_t e0, e1;
    gds_cpu_split(D * T, p->ith, p->nth, &e0, &e1);
    for (int64_t e = e0; e < e1;) {
        const int64_t t = e / D, i0 = e % D;
        const int64_t i1 = D < i0 + (e1 - e) ? D : i0 + (e1 - e);
        float c[GDS_HC_MAX];
        const float *xs[GDS_HC_MAX];
        for (int s = 0; s < hc; s++) {
            c[s] = *(const float *)((const char *)comb->data + s * comb->nb[0] + t * comb->nb[1]);
            xs[s] = (const float *)((const char *)X->data + s * X->nb[1] + t * X->nb[2]);
        }
        float *y = (float *)dst->data + t * D;
        int64_t i = i0;
#if defined(__SSE2__)
        /* 4 elements at a time, each with the scalar loop's operations in its order (no FMA) */
        for (; i + 4 <= i1; i += 4) {
            __m128 acc = _mm_mul_ps(_mm_set1_ps(c[0]), _mm_loadu_ps(xs[0] + i));
            for (int s = 1; s < hc; s++) acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(c[s]), _mm_loadu_ps(xs[s] + i)));
            _mm_storeu_ps(y + i, gds_cpu_round_bf16_x4(acc));
        }
#endif
        for (; i < i1; i++) {
            float acc = c[0] * xs[0][i];
            for (int s = 1; s < hc; s++) acc += c[s] * xs[s][i];
            y[i] = gds_round_bf16(acc);
        }
        e += i1 - i0;
    }
}

/* HC_POST: a [D, T], R [D, HC, T], comb [(2+HC)*HC, T] -> [D, HC, T]:
 * y[:, k] = bf16(post_k*a + sum_j C[j][k]*R[:, j]) (the j-sum first, as REF) */
void gds_cpu_op_hc_post(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *a = dst->src[0];
    const struct gds_tensor *R = dst->src[1];
    const struct gds_tensor *comb = dst->src[2];
    const int64_t D = R->ne[0], T = R->ne[2];
    const int hc = (int)R->ne[1];
    GDS_ASSERT(hc <= GDS_HC_MAX);

    const int64_t nrow = (int64_t)hc * T; /* output rows (k, t) */
    int64_t e0, e1;
    gds_cpu_split(D * nrow, p->ith, p->nth, &e0, &e1);
    for (int64_t e = e0; e < e1;) {
        const int64_t row = e / D, i0 = e % D;
        const int64_t i1 = D < i0 + (e1 - e) ? D : i0 + (e1 - e);
        const int64_t k = row % hc, t = row / hc;
        const char *cb = (const char *)comb->data + t * comb->nb[1];
        const float post = *(const float *)(cb + (hc + k) * comb->nb[0]);
        float c[GDS_HC_MAX];
        const float *rs[GDS_HC_MAX];
        for (int j = 0; j < hc; j++) {
            c[j] = *(const float *)(cb + (2 * hc + j * hc + k) * comb->nb[0]);
            rs[j] = (const float *)((const char *)R->data + j * R->nb[1] + t * R->nb[2]);
        }
        const float *av = (const float *)((const char *)a->data + t * a->nb[1]);
        float *y = (float *)dst->data + row * D;
        int64_t i = i0;
#if defined(__SSE2__)
        for (; i + 4 <= i1; i += 4) { /* as HC_PRE: the scalar operations, 4 lanes */
            __m128 acc = _mm_mul_ps(_mm_set1_ps(c[0]), _mm_loadu_ps(rs[0] + i));
            for (int j = 1; j < hc; j++) acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(c[j]), _mm_loadu_ps(rs[j] + i)));
            _mm_storeu_ps(y + i, gds_cpu_round_bf16_x4(_mm_add_ps(_mm_mul_ps(_mm_set1_ps(post), _mm_loadu_ps(av + i)), acc)));
        }
#endif
        for (; i < i1; i++) {
            float acc = c[0] * rs[0][i];
            for (int j = 1; j < hc; j++) acc += c[j] * rs[j][i];
            y[i] = gds_round_bf16(post * av[i] + acc);
        }
        e += i1 - i0;
    }
}
