/*
 * ops-norm-avx2.c - AVX2 hot loops of RMS_NORM and SOFT_MAX (see ops-norm.c).
 *
 * Lane layout: two 8-wide accumulators hold lanes 0-7 and 8-15 of the 16-lane
 * scheme of ops-norm.c (element i -> lane i % 16), products use mul+add (no FMA),
 * so sums match the scalar kernel bit for bit. The exp is a Cephes-style
 * polynomial (about 1 ulp on (-inf, 0], exact 0 for -inf).
 * Compiled only on x86-64 with the AVX2 flags; chosen at run time.
 */
#include "cpu.h"

#include <immintrin.h>
#include <math.h>

int64_t gds_cpu_sumsq16_avx2(const float *x, int64_t n, float acc[16]);
void gds_cpu_scale_row_avx2(float *y, const float *x, float r, const float *w, int64_t n);
float gds_cpu_softmax_prep_avx2(float *y, const float *x, float scale, const float *mask, int64_t n);
int64_t gds_cpu_softmax_exp16_avx2(float *y, int64_t n, float m, float acc[16]);

int64_t gds_cpu_sumsq16_avx2(const float *x, int64_t n, float acc[16]) {
    __m256 a0 = _mm256_loadu_ps(acc), a1 = _mm256_loadu_ps(acc + 8);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(v0, v0));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(v1, v1));
    }
    _mm256_storeu_ps(acc, a0);
    _mm256_storeu_ps(acc + 8, a1);
    return i;
}

void gds_cpu_scale_row_avx2(float *y, const float *x, float r, const float *w, int64_t n) {
    const __m256 vr = _mm256_set1_ps(r);
    int64_t i = 0;
    if (w) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vr), _mm256_loadu_ps(w + i)));
        for (; i < n; i++) y[i] = (x[i] * r) * w[i];
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vr));
        for (; i < n; i++) y[i] = x[i] * r;
    }
}

float gds_cpu_softmax_prep_avx2(float *y, const float *x, float scale, const float *mask, int64_t n) {
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
        if (mask) v = _mm256_add_ps(v, _mm256_loadu_ps(mask + i));
        _mm256_storeu_ps(y + i, v);
        vm = _mm256_max_ps(vm, v);
    }
    float t[8], m = -INFINITY;
    _mm256_storeu_ps(t, vm);
    for (int j = 0; j < 8; j++) m = t[j] > m ? t[j] : m;
    for (; i < n; i++) {
        float v = x[i] * scale;
        if (mask) v += mask[i];
        y[i] = v;
        m = v > m ? v : m;
    }
    return m;
}

/* exp(x) for x <= 0 (clamped below at -104 where the result rounds to 0) */
static inline __m256 gds_exp_avx2(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x); /* NaN propagates */
    __m256 fn = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(fn, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(fn, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 q = _mm256_set1_ps(1.9875691500e-4f);
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(1.3981999507e-3f));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(8.3334519073e-3f));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(4.1665795894e-2f));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(1.6666665459e-1f));
    q = _mm256_add_ps(_mm256_mul_ps(q, r), _mm256_set1_ps(5.0000001201e-1f));
    q = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(q, r), r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n in two halves so n down to -150 stays exact until the last multiply */
    __m256i n = _mm256_cvtps_epi32(fn);
    __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
    __m256 p1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 p2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(q, p1), p2);
}

int64_t gds_cpu_softmax_exp16_avx2(float *y, int64_t n, float m, float acc[16]) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 a0 = _mm256_loadu_ps(acc), a1 = _mm256_loadu_ps(acc + 8);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = gds_exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(y + i), vm));
        __m256 e1 = gds_exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(y + i + 8), vm));
        _mm256_storeu_ps(y + i, e0);
        _mm256_storeu_ps(y + i + 8, e1);
        a0 = _mm256_add_ps(a0, e0);
        a1 = _mm256_add_ps(a1, e1);
    }
    _mm256_storeu_ps(acc, a0);
    _mm256_storeu_ps(acc + 8, a1);
    return i;
}
