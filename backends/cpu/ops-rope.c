/*
 * ops-rope.c - CPU kernels ROPE (spec 3.8), HADAMARD (spec 3.9) and QUANT_SIM
 * (spec 3.3, 3.4, 3.11).
 *
 * Invariants:
 * - ROPE reproduces the reference's fp32 table: freq_i = 1/powf(base, 2i/n_rot),
 *   the YaRN blend (f/factor)*(1 - s) + f*s in fp32 in that order, with the
 *   correction range computed in double like Python's math module. Angles are
 *   fp32(fp32(pos) * freq_i); cos/sin are libm cosf/sinf of that fp32 angle
 *   (a GPU's cosf may differ by an ulp). Pairs are interleaved (2i, 2i+1) on the
 *   last n_rot dims of each head; the first ne0 - n_rot dims are copied.
 *   The table lives on the stack of each call (no global state); cos/sin are
 *   recomputed only when the position changes along a thread's rows.
 * - HADAMARD: in-place fp32 butterflies per 128 (natural-order Sylvester),
 *   then one multiply by fp32(128^-0.5).
 * - QUANT_SIM: exactly the reference's act_quant / fp4 simulation: power-of-two
 *   scale s = 2^ceil(log2(amax * fp32(1/qmax))), x/s exact, RNE minifloat,
 *   y = bf16(q * s).
 * - All three split over rows with gds_cpu_split: bit-identical for any nth.
 */
#include "cpu.h"

#include <math.h>
#include <string.h>

#define GDS_ROPE_MAX_PAIRS 512

void gds_cpu_op_rope(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *x = dst->src[0], *pos = dst->src[1];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->nb[0] == 4 && pos->type == GDS_TYPE_I32);
    const int n_rot = gds_get_op_param_i32(dst, GDS_P_ROPE_NROT);
    const float base = gds_get_op_param_f32(dst, GDS_P_ROPE_BASE);
    const float factor = gds_get_op_param_f32(dst, GDS_P_ROPE_YFACTOR);
    const float orig = gds_get_op_param_f32(dst, GDS_P_ROPE_YORIG);
    const float bfast = gds_get_op_param_f32(dst, GDS_P_ROPE_YFAST);
    const float bslow = gds_get_op_param_f32(dst, GDS_P_ROPE_YSLOW);
    const bool inv = gds_get_op_param_i32(dst, GDS_P_ROPE_INV) != 0;
    const int64_t ne0 = x->ne[0], nd = ne0 - n_rot;
    GDS_ASSERT(n_rot > 0 && n_rot % 2 == 0 && n_rot <= ne0 && n_rot / 2 <= GDS_ROPE_MAX_PAIRS);
    GDS_ASSERT(pos->ne[0] >= x->ne[2]);
    const int np = n_rot / 2;

    int64_t r0, r1;
    gds_cpu_split(gds_nrows(x), p->ith, p->nth, &r0, &r1);
    if (r0 >= r1) return;

    float freq[GDS_ROPE_MAX_PAIRS], cs[GDS_ROPE_MAX_PAIRS], sn[GDS_ROPE_MAX_PAIRS];
    gds_rope_freqs(freq, n_rot, base, factor, orig, bfast, bslow);
    int64_t cached = -1;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        if (i2 != cached) {
            const float fp = (float)*gds_i32_ptr(pos, i2, 0, 0, 0);
            for (int i = 0; i < np; i++) {
                const float ang = fp * freq[i];
                cs[i] = cosf(ang);
                sn[i] = inv ? -sinf(ang) : sinf(ang);
            }
            cached = i2;
        }
        const float *xr = gds_f32_ptr(x, 0, i1, i2, i3);
        float *yr = gds_f32_ptr(dst, 0, i1, i2, i3);
        if (yr != xr) memmove(yr, xr, (size_t)nd * sizeof(float));
        for (int i = 0; i < np; i++) {
            const float a = xr[nd + 2 * i], b = xr[nd + 2 * i + 1];
            yr[nd + 2 * i] = a * cs[i] - b * sn[i];
            yr[nd + 2 * i + 1] = a * sn[i] + b * cs[i];
        }
    }
}

/* ---- HADAMARD --------------------------------------------------------------- */

void gds_cpu_op_hadamard(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *x = dst->src[0];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->nb[0] == 4 && x->ne[0] % 128 == 0);
    const float scale = 0.08838834764831844055f; /* fp32(128^-0.5) = fp32(2^-3.5) */
    const int64_t ne0 = x->ne[0];
    int64_t r0, r1;
    gds_cpu_split(gds_nrows(x), p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        const float *xr = gds_f32_ptr(x, 0, i1, i2, i3);
        float *yr = gds_f32_ptr(dst, 0, i1, i2, i3);
        for (int64_t b0 = 0; b0 < ne0; b0 += 128) {
            float v[128];
            memcpy(v, xr + b0, sizeof(v));
            for (int h = 1; h < 128; h *= 2) {
                for (int i = 0; i < 128; i += 2 * h) {
                    for (int j = i; j < i + h; j++) {
                        const float a = v[j], c = v[j + h];
                        v[j] = a + c;
                        v[j + h] = a - c;
                    }
                }
            }
            for (int j = 0; j < 128; j++) yr[b0 + j] = v[j] * scale;
        }
    }
}

/* ---- QUANT_SIM -------------------------------------------------------------- */


/* gds_e4m3_to_fp32(gds_fp32_to_e4m3(v)) for v in [-448, 448] or NaN, without
 * the code in between: RNE to 3 mantissa bits in the fp32 bits (normal e4m3),
 * RNE to the 2^-9 grid by the 2^23 trick (subnormal e4m3, |v| < 2^-6), sign
 * kept (-0 stays -0), NaN -> 0x7fc00000 as the code 0x7f decodes. Equal bits
 * for all 2^32 inputs after the clamp (exhaustive check); ~3x faster. */
static inline float gds_sim_e4m3(float v) {
    const uint32_t u = gds_f32_bits(v), sg = u & 0x80000000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return gds_bits_f32(0x7fc00000u);
    if (a >= 0x43e00000u) return gds_bits_f32(sg | 0x43e00000u); /* 448 */
    if (a < 0x3c800000u) {
        const float t = gds_bits_f32(a) * 512.0f;            /* exact, < 8 */
        const float r = (t + 8388608.0f) - 8388608.0f;        /* RNE to an integer */
        return gds_bits_f32(sg | gds_f32_bits(r * (1.0f / 512.0f)));
    }
    return gds_bits_f32(sg | ((a + 0x7ffffu + ((a >> 20) & 1u)) & 0xfff00000u));
}

/* y = gds_round_bf16(x) for n elements (y may be x); 4 lanes at a time with
 * gds_cpu_round_bf16_x4 (cpu.h, same bits), ~4x faster than the scalar loop */
static void gds_sim_bf16_row(const float *x, float *y, int64_t n) {
    int64_t i = 0;
#if defined(__SSE2__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, gds_cpu_round_bf16_x4(_mm_loadu_ps(x + i)));
#endif
    for (; i < n; i++) y[i] = gds_round_bf16(x[i]);
}

static void gds_sim_block(int mode, const float *x, float *y, int64_t n) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        amax = a > amax ? a : amax;  /* NaN ignored, as torch's amax would not be */
    }
    if (mode == GDS_SIM_FP8) {
        amax = amax > 1e-4f ? amax : 1e-4f;
        const int e = gds_pow2_ceil_exp(amax * (1.0f / 448.0f));
        const float s = gds_exp2i(e), is = gds_exp2i(-e);
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] * is; /* exact: x / 2^e */
            v = v > 448.0f ? 448.0f : (v < -448.0f ? -448.0f : v);
            y[i] = gds_round_bf16(gds_sim_e4m3(v) * s);
        }
    } else {
        const float floor_ = 0x1.8p-124f; /* 6 * 2^-126 */
        amax = amax > floor_ ? amax : floor_;
        const int e = gds_pow2_ceil_exp(amax * (1.0f / 6.0f));
        const float s = gds_exp2i(e), is = gds_exp2i(-e);
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] * is;
            v = v > 6.0f ? 6.0f : (v < -6.0f ? -6.0f : v);
            y[i] = gds_round_bf16(gds_e2m1_to_fp32(gds_fp32_to_e2m1(v)) * s);
        }
    }
}

#if defined(__x86_64__)
void gds_cpu_sim_fp8_avx512(const float *x, float *y, int64_t n, int64_t blk); /* ops-norm-avx512.c: same bits */
void gds_cpu_sim_bf16_avx512(const float *x, float *y, int64_t n);
#endif

void gds_cpu_op_quant_sim(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *x = dst->src[0];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->nb[0] == 4);
    const int mode = gds_get_op_param_i32(dst, GDS_P_SIM_MODE);
    const int64_t ne0 = x->ne[0];
    int64_t nd = gds_get_op_param_i32(dst, GDS_P_SIM_NDIMS);
    int64_t blk = gds_get_op_param_i32(dst, GDS_P_SIM_BLOCK);
    if (nd <= 0 || nd > ne0) nd = ne0;
    GDS_ASSERT(mode == GDS_SIM_BF16 || mode == GDS_SIM_FP8 || mode == GDS_SIM_FP4);
    if (mode != GDS_SIM_BF16) GDS_ASSERT(blk > 0 && nd % blk == 0);
    /* units: (row, chunk of 4096 elements for bf16, of whole blocks of ~512
     * elements for fp8/fp4: their scalar conversion costs ~5 ns an element),
     * so that one long row (decode: a single token) is spread over the
     * threads; every element depends only on its block: no bits change */
    const int64_t step = mode == GDS_SIM_BF16 ? 4096 : (512 + blk - 1) / blk * blk;
    const int64_t nch = nd > 0 ? (nd + step - 1) / step : 1;
    int64_t u0, u1;
    gds_cpu_split(gds_nrows(x) * nch, p->ith, p->nth, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) {
        const int64_t r = u / nch, c0 = (u % nch) * step, c1 = c0 + step < nd ? c0 + step : nd;
        const int64_t i1 = r % x->ne[1], i2 = (r / x->ne[1]) % x->ne[2], i3 = r / (x->ne[1] * x->ne[2]);
        const float *xr = gds_f32_ptr(x, 0, i1, i2, i3);
        float *yr = gds_f32_ptr(dst, 0, i1, i2, i3);
        if (mode == GDS_SIM_BF16) {
#if defined(__x86_64__)
            if (gds_cpu_simd_is_avx512(p->simd)) gds_cpu_sim_bf16_avx512(xr + c0, yr + c0, c1 - c0);
            else
#endif
            gds_sim_bf16_row(xr + c0, yr + c0, c1 - c0);
#if defined(__x86_64__)
        } else if (mode == GDS_SIM_FP8 && blk % 16 == 0 && gds_cpu_simd_is_avx512(p->simd)) {
            gds_cpu_sim_fp8_avx512(xr + c0, yr + c0, c1 - c0, blk);
#endif
        } else {
            for (int64_t b0 = c0; b0 < c1; b0 += blk) gds_sim_block(mode, xr + b0, yr + b0, blk);
        }
        if (u % nch == nch - 1 && nd < ne0 && yr != xr) memmove(yr + nd, xr + nd, (size_t)(ne0 - nd) * sizeof(float));
    }
}
