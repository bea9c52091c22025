/*
 * quants.glsl - GLSL port of the minifloat helpers of ggml-ds/src/gds-quants.h
 * (bf16, fp16, e8m0, e4m3fn, e2m1, the act_quant scale exponent). Integer bit
 * manipulation and exact float operations only, so a shader rounds exactly as
 * the CPU does (no packHalf2x16: its rounding is implementation-defined).
 * Keep in step with gds-quants.h; test-ops checks both against its reference.
 */

uint f32_to_bf16(float f) {
    uint u = floatBitsToUint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return ((u >> 16) | 0x40u) & 0xffffu; /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}
float bf16_to_f32(uint h) { return uintBitsToFloat(h << 16); }
float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

float fp16_to_f32(uint h) {
    uint s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0u) { float v = float(m) * uintBitsToFloat(0x33800000u); return s != 0u ? -v : v; }
    if (e == 31u) return uintBitsToFloat(s | 0x7f800000u | (m << 13));
    return uintBitsToFloat(s | ((e + 112u) << 23) | (m << 13));
}
uint f32_to_fp16(float f) {
    uint u = floatBitsToUint(f), s = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return s | 0x7e00u;
    if (a >= 0x477ff000u) return s | 0x7c00u;
    if (a < 0x38800000u) {
        float v = uintBitsToFloat(a) * uintBitsToFloat(0x4b800000u);
        uint i = uint(v); float r = v - float(i);
        if (r > 0.5 || (r == 0.5 && (i & 1u) != 0u)) i++;
        return s | i;
    }
    uint m = a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u;
    return s | (m >> 13);
}

float e8m0_to_f32(uint b) {
    if (b == 0xffu) return uintBitsToFloat(0x7fc00000u);
    if (b == 0u) return uintBitsToFloat(0x00400000u);
    return uintBitsToFloat(b << 23);
}
float e8m0_half_to_f32(uint b) {
    if (b < 2u) return uintBitsToFloat(0x00200000u << b);
    return uintBitsToFloat((b - 1u) << 23);
}

float e4m3_to_f32(uint c) {
    uint s = (c & 0x80u) << 24, e = (c >> 3) & 0xfu, m = c & 7u;
    if (e == 0xfu && m == 7u) return uintBitsToFloat(s | 0x7fc00000u);
    if (e == 0u) { float v = float(m) * (1.0 / 512.0); return s != 0u ? -v : v; }
    return uintBitsToFloat(s | ((e + 120u) << 23) | (m << 20));
}
uint f32_to_e4m3(float f) {
    uint u = floatBitsToUint(f), s = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7fu;
    if (a >= 0x43e00000u) return s | 0x7eu;
    if (a < 0x3c800000u) {
        float v = uintBitsToFloat(a) * 512.0;
        uint i = uint(v); float r = v - float(i);
        if (r > 0.5 || (r == 0.5 && (i & 1u) != 0u)) i++;
        return s | i;
    }
    uint m = a + 0x7ffffu + ((a >> 20) & 1u);
    uint e = (m >> 23) - 120u, mm = (m >> 20) & 7u;
    if (e > 15u || (e == 15u && mm == 7u)) return s | 0x7eu;
    return s | (e << 3) | mm;
}

int kvalue_mxfp4(uint c) {
    int m = int(c & 7u);
    int v = m < 4 ? m : ((m & 1) != 0 ? 3 : 2) << ((m >> 1) - 1);
    return (c & 8u) != 0u ? -v : v;
}
float e2m1_to_f32(uint c) { return 0.5 * float(kvalue_mxfp4(c)); }
uint f32_to_e2m1(float f) {
    uint s = (floatBitsToUint(f) >> 28) & 8u;
    float a = abs(f);
    uint c;
    if (isnan(a)) return 0u;
    if (a <= 0.25) c = 0u;
    else if (a < 0.75) c = 1u;
    else if (a <= 1.25) c = 2u;
    else if (a < 1.75) c = 3u;
    else if (a <= 2.5) c = 4u;
    else if (a < 3.5) c = 5u;
    else if (a <= 5.0) c = 6u;
    else c = 7u;
    return s | c;
}

int pow2_ceil_exp(float t) {
    uint u = floatBitsToUint(t);
    int e = int((u >> 23) & 0xffu) - 127;
    return e + ((u & 0x7fffffu) != 0u ? 1 : 0);
}

/* ggml's best_index_mxfp4 (first of equal errors) */
uint mxfp4_best_index(float x, float d) {
    uint best = 0u;
    float best_err = abs(float(kvalue_mxfp4(0u)) * d - x);
    for (uint k = 1u; k < 16u; k++) {
        float err = abs(float(kvalue_mxfp4(k)) * d - x);
        if (err < best_err) { best = k; best_err = err; }
    }
    return best;
}

/* ---- correctly rounded division and square root --------------------------
 * Vulkan lets a device's fp32 division and sqrt be off by ~2.5 ulp (some GPUs
 * divide by a reciprocal); the CPU rounds both correctly, and the quantizers'
 * bytes (Q8_0: d = amax/127, 1/d) depend on it. div_rn / sqrt_rn take the
 * device's result and pick, among it and its two neighbours, the one with the
 * smallest exact residual (Dekker's product: no fma, no float64), ties to
 * even: the correctly rounded value wherever the device's is within one ulp.
 * Operands outside [2^-80, 2^80] (never met by these callers) keep the
 * device's result. */

/* a*b = p + e exactly (Veltkamp split, |a|, |b| inside the guarded range) */
void two_prod(float a, float b, out float p, out float e) {
    precise float pp = a * b;
    precise float ta = 4097.0 * a;
    precise float ah = ta - (ta - a);
    precise float al = a - ah;
    precise float tb = 4097.0 * b;
    precise float bh = tb - (tb - b);
    precise float bl = b - bh;
    precise float ee = ((ah * bh - pp) + ah * bl + al * bh) + al * bl;
    p = pp;
    e = ee;
}

bool rn_range(float x) { const float a = abs(x); return a > uintBitsToFloat(0x17800000u) && a < uintBitsToFloat(0x67800000u); } /* 2^-80, 2^80 */

float rn_pick(float q, float rq, float c, float rc) {
    return rc < rq || (rc == rq && (floatBitsToUint(c) & 1u) == 0u) ? c : q;
}

/* |a - c*b| */
float div_res(float a, float b, float c) {
    float p, e;
    two_prod(c, b, p, e);
    precise float r = (a - p) - e;
    return abs(r);
}

float div_rn(float a, float b) {
    precise float q = a / b;
    if (!rn_range(a) || !rn_range(b) || !rn_range(q)) return q;
    const uint u = floatBitsToUint(q);
    const float q0 = uintBitsToFloat(u - 1u), q1 = uintBitsToFloat(u + 1u);
    const float r = div_res(a, b, q), r0 = div_res(a, b, q0), r1 = div_res(a, b, q1);
    float best = rn_pick(q, r, q0, r0);
    const float rb = best == q ? r : r0;
    return rn_pick(best, rb, q1, r1);
}

/* |x - c*c| */
float sqrt_res(float x, float c) {
    float p, e;
    two_prod(c, c, p, e);
    precise float r = (x - p) - e;
    return abs(r);
}

float sqrt_rn(float x) {
    precise float s = sqrt(x);
    if (!rn_range(x)) return s;
    const uint u = floatBitsToUint(s);
    const float s0 = uintBitsToFloat(u - 1u), s1 = uintBitsToFloat(u + 1u);
    const float r = sqrt_res(x, s), r0 = sqrt_res(x, s0), r1 = sqrt_res(x, s1);
    float best = rn_pick(s, r, s0, r0);
    const float rb = best == s ? r : r0;
    return rn_pick(best, rb, s1, r1);
}

/* C roundf: to nearest, ties away from zero */
float round_away(float v) {
    float a = abs(v), t = trunc(a);
    if (a - t >= 0.5) t += 1.0;
    return v < 0.0 ? -t : t;
}

/* act_quant's two steps (gds-quants.h gds_act_quant_scale / _code): the scale
 * byte (exponent field) of a group whose max |x| is amax, and the e4m3 code
 * of one value x at that scale s */
uint act_quant_e8(float amax) {
    if (amax < uintBitsToFloat(0x38d1b717u)) amax = uintBitsToFloat(0x38d1b717u); /* 1e-4f */
    int e = pow2_ceil_exp(amax * uintBitsToFloat(0x3b124925u));                   /* 1.0f / 448.0f */
    if (e > 127) e = 127;
    return uint(e + 127);
}
uint act_quant_code(float x, float s) {
    float v = div_rn(x, s);
    v = v > 448.0 ? 448.0 : v < -448.0 ? -448.0 : v;
    return f32_to_e4m3(v);
}

/* ---- block quantizers (gds-quants.h), reading values through a function
 * X(j) of the including shader, writing bytes with wr_u8 at byte o of dst --- */

/* act_quant of n values X(j0 .. j0+n): scale byte and n e4m3 codes at qo.. */
#define ACT_QUANT_BLOCK(X, j0, n, so, qo)                                        \
    {                                                                            \
        float amax_ = 0.0;                                                       \
        for (uint j_ = 0u; j_ < (n); j_++) { float a_ = abs(X((j0) + j_)); if (amax_ < a_) amax_ = a_; } \
        const uint e8_ = act_quant_e8(amax_);                                    \
        const float s_ = uintBitsToFloat(e8_ << 23);                             \
        wr_u8((so), e8_);                                                        \
        for (uint j_ = 0u; j_ < (n); j_++) wr_u8((qo) + j_, act_quant_code(X((j0) + j_), s_)); \
    }

/* Q8_0 block of 32 values X(j0 ..) at byte o */
#define Q8_0_BLOCK(X, j0, o)                                                     \
    {                                                                            \
        float amax_ = 0.0;                                                       \
        for (uint j_ = 0u; j_ < 32u; j_++) { float a_ = abs(X((j0) + j_)); amax_ = a_ > amax_ ? a_ : amax_; } \
        float d_ = div_rn(amax_, 127.0);                                         \
        float id_ = d_ != 0.0 ? div_rn(1.0, d_) : 0.0;                           \
        wr_u16((o), f32_to_fp16(d_));                                            \
        for (uint j_ = 0u; j_ < 32u; j_++) {                                     \
            float v_ = round_away(X((j0) + j_) * id_);                           \
            v_ = v_ > 127.0 ? 127.0 : v_ < -127.0 ? -127.0 : isnan(v_) ? 0.0 : v_; \
            wr_u8((o) + 2u + j_, uint(int(v_)) & 0xffu);                         \
        }                                                                        \
    }

/* MXFP4 block of 32 values at byte o */
#define MXFP4_BLOCK(X, j0, o)                                                    \
    {                                                                            \
        float amax_ = 0.0;                                                       \
        for (uint j_ = 0u; j_ < 32u; j_++) { float a_ = abs(X((j0) + j_)); if (amax_ < a_) amax_ = a_; } \
        int e_ = 0;                                                              \
        if (amax_ > 0.0) { e_ = int(floatBitsToUint(amax_) >> 23) - 2; e_ = clamp(e_, 0, 254); } \
        float d_ = e8m0_half_to_f32(uint(e_));                                   \
        wr_u8((o), uint(e_));                                                    \
        for (uint j_ = 0u; j_ < 16u; j_++)                                       \
            wr_u8((o) + 1u + j_, mxfp4_best_index(X((j0) + j_), d_) | (mxfp4_best_index(X((j0) + j_ + 16u), d_) << 4)); \
    }

/* KV_E4M3_B64 block of 512 values at byte o */
#define KV_BLOCK(X, j0, o)                                                       \
    {                                                                            \
        for (uint g_ = 0u; g_ < 7u; g_++) ACT_QUANT_BLOCK(X, (j0) + 64u * g_, 64u, (o) + g_, (o) + 8u + 64u * g_) \
        wr_u8((o) + 7u, 0u);                                                     \
        for (uint j_ = 0u; j_ < 64u; j_++) wr_u16((o) + 456u + 2u * j_, f32_to_bf16(X((j0) + 448u + j_))); \
    }
