/*
 * ops-norm-avx512.c - AVX-512 hot loops of RMS_NORM and SOFT_MAX (see ops-norm.c).
 *
 * One 16-wide accumulator holds the 16 lanes of ops-norm.c's scheme (element
 * i -> lane i % 16), products use mul+add (no FMA), so sums match the scalar
 * kernel bit for bit. The exp is the same Cephes-style polynomial as the AVX2
 * file (identical results). Compiled only on x86-64 with the AVX-512 flags.
 */
#include "cpu.h"

#include <immintrin.h>
#include <math.h>

int64_t gds_cpu_sumsq16_avx512(const float *x, int64_t n, float acc[16]);
void gds_cpu_scale_row_avx512(float *y, const float *x, float r, const float *w, int64_t n);
float gds_cpu_softmax_prep_avx512(float *y, const float *x, float scale, const float *mask, int64_t n);
int64_t gds_cpu_softmax_exp16_avx512(float *y, int64_t n, float m, float acc[16]);

int64_t gds_cpu_sumsq16_avx512(const float *x, int64_t n, float acc[16]) {
    __m512 a = _mm512_loadu_ps(acc);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) { /* two loads in flight, same lane order */
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        a = _mm512_add_ps(a, _mm512_mul_ps(v0, v0));
        a = _mm512_add_ps(a, _mm512_mul_ps(v1, v1));
    }
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        a = _mm512_add_ps(a, _mm512_mul_ps(v, v));
    }
    _mm512_storeu_ps(acc, a);
    return i;
}

void gds_cpu_scale_row_avx512(float *y, const float *x, float r, const float *w, int64_t n) {
    const __m512 vr = _mm512_set1_ps(r);
    int64_t i = 0;
    if (w) {
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vr), _mm512_loadu_ps(w + i)));
        if (i < n) {
            __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
            __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vr), _mm512_maskz_loadu_ps(k, w + i));
            _mm512_mask_storeu_ps(y + i, k, v);
        }
    } else {
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), vr));
        if (i < n) {
            __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
            _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vr));
        }
    }
}

float gds_cpu_softmax_prep_avx512(float *y, const float *x, float scale, const float *mask, int64_t n) {
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 vm = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), vs);
        if (mask) v = _mm512_add_ps(v, _mm512_loadu_ps(mask + i));
        _mm512_storeu_ps(y + i, v);
        vm = _mm512_max_ps(vm, v);
    }
    float m = _mm512_reduce_max_ps(vm);
    for (; i < n; i++) {
        float v = x[i] * scale;
        if (mask) v += mask[i];
        y[i] = v;
        m = v > m ? v : m;
    }
    return m;
}

static inline __m512 gds_exp_avx512(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x); /* NaN propagates */
    __m512 fn = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(fn, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(fn, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 q = _mm512_set1_ps(1.9875691500e-4f);
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(1.3981999507e-3f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(8.3334519073e-3f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(4.1665795894e-2f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(1.6666665459e-1f));
    q = _mm512_add_ps(_mm512_mul_ps(q, r), _mm512_set1_ps(5.0000001201e-1f));
    q = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(q, r), r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i n = _mm512_cvtps_epi32(fn);
    __m512i n1 = _mm512_srai_epi32(n, 1), n2 = _mm512_sub_epi32(n, n1);
    __m512 p1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
    __m512 p2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(_mm512_mul_ps(q, p1), p2);
}

int64_t gds_cpu_softmax_exp16_avx512(float *y, int64_t n, float m, float acc[16]) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 a = _mm512_loadu_ps(acc);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = gds_exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(y + i), vm));
        _mm512_storeu_ps(y + i, e);
        a = _mm512_add_ps(a, e);
    }
    _mm512_storeu_ps(acc, a);
    return i;
}
