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

/* QUANT_SIM FP8 (ops-rope.c, gds_sim_block) over n elements in blocks of blk
 * (both multiples of 16), 16 lanes at a time with the scalar code's bits:
 * amax ignores NaN (max_ps returns its second operand, the running max, for a
 * NaN first operand), the 2^e scales are the scalar ones, the e4m3 rounding
 * is gds_sim_e4m3 on the fp32 bits (the +-448 clamp is part of it: |v| >= 448
 * and infinities give +-448, NaN the 0x7fc00000 pattern), then RNE to bf16
 * as gds_round_bf16 (NaN: quiet bit set, low half dropped). */
void gds_cpu_sim_fp8_avx512(const float *x, float *y, int64_t n, int64_t blk);
void gds_cpu_sim_fp8_avx512(const float *x, float *y, int64_t n, int64_t blk) {
    const __m512i absm = _mm512_set1_epi32(0x7fffffff), sgm = _mm512_set1_epi32((int)0x80000000u);
    const __m512i inf = _mm512_set1_epi32(0x7f800000), big = _mm512_set1_epi32(0x43e00000), sub = _mm512_set1_epi32(0x3c800000);
    const __m512i qnan = _mm512_set1_epi32(0x7fc00000), hi12 = _mm512_set1_epi32((int)0xfff00000u), r19 = _mm512_set1_epi32(0x7ffff);
    const __m512i one = _mm512_set1_epi32(1), hi16 = _mm512_set1_epi32((int)0xffff0000u), r15 = _mm512_set1_epi32(0x7fff);
    const __m512 k512 = _mm512_set1_ps(512.0f), ik512 = _mm512_set1_ps(1.0f / 512.0f), k23 = _mm512_set1_ps(8388608.0f);
    for (int64_t b0 = 0; b0 < n; b0 += blk) {
        __m512 am = _mm512_setzero_ps();
        for (int64_t i = 0; i < blk; i += 16)
            am = _mm512_max_ps(_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(x + b0 + i)), absm)), am);
        float amax = _mm512_reduce_max_ps(am);
        amax = amax > 1e-4f ? amax : 1e-4f;
        const int e = gds_pow2_ceil_exp(amax * (1.0f / 448.0f));
        const __m512 s = _mm512_set1_ps(gds_exp2i(e)), is = _mm512_set1_ps(gds_exp2i(-e));
        for (int64_t i = 0; i < blk; i += 16) {
            const __m512i u = _mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(x + b0 + i), is));
            const __m512i sg = _mm512_and_si512(u, sgm), a = _mm512_and_si512(u, absm);
            /* normal e4m3: RNE to 3 mantissa bits in the bits */
            __m512i r = _mm512_or_si512(sg, _mm512_and_si512(_mm512_add_epi32(a, _mm512_add_epi32(r19, _mm512_and_si512(_mm512_srli_epi32(a, 20), one))), hi12));
            const __mmask16 msub = _mm512_cmplt_epi32_mask(a, sub);
            if (msub) { /* subnormal e4m3: RNE to the 2^-9 grid */
                const __m512 t = _mm512_mul_ps(_mm512_castsi512_ps(a), k512);
                const __m512 q = _mm512_mul_ps(_mm512_sub_ps(_mm512_add_ps(t, k23), k23), ik512);
                r = _mm512_mask_or_epi32(r, msub, sg, _mm512_castps_si512(q));
            }
            r = _mm512_mask_or_epi32(r, _mm512_cmpge_epi32_mask(a, big), sg, big);
            r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epi32_mask(a, inf), qnan);
            /* times 2^e, then RNE to bf16 (NaN: quiet, truncated) */
            const __m512i v = _mm512_castps_si512(_mm512_mul_ps(_mm512_castsi512_ps(r), s));
            const __mmask16 mn = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, absm), inf);
            const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), one);
            __m512i o = _mm512_and_si512(_mm512_add_epi32(v, _mm512_add_epi32(lsb, r15)), hi16);
            o = _mm512_mask_mov_epi32(o, mn, _mm512_or_si512(_mm512_and_si512(v, hi16), _mm512_set1_epi32(0x00400000)));
            _mm512_storeu_ps(y + b0 + i, _mm512_castsi512_ps(o));
        }
    }
}

/* QUANT_SIM BF16 (ops-rope.c, gds_sim_bf16_row): y = gds_round_bf16(x), 16
 * lanes at a time with gds_cpu_round_bf16_x4's bits (RNE on the fp32 bits,
 * NaN: quiet bit set, low half dropped); the n % 16 tail masked */
void gds_cpu_sim_bf16_avx512(const float *x, float *y, int64_t n);
void gds_cpu_sim_bf16_avx512(const float *x, float *y, int64_t n) {
    const __m512i absm = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000), one = _mm512_set1_epi32(1);
    const __m512i hi16 = _mm512_set1_epi32((int)0xffff0000u), r15 = _mm512_set1_epi32(0x7fff), qb = _mm512_set1_epi32(0x00400000);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        const __mmask16 mn = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, absm), inf);
        const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), one);
        __m512i o = _mm512_and_si512(_mm512_add_epi32(v, _mm512_add_epi32(lsb, r15)), hi16);
        o = _mm512_mask_mov_epi32(o, mn, _mm512_or_si512(_mm512_and_si512(v, hi16), qb));
        _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(o));
    }
}
