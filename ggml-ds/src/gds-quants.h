/*
 * gds-quants.h - quant block layouts and scalar minifloat conversions.
 *
 * Shared by the core and every backend, the CUDA kernels included (GDS_QFN:
 * host and device functions): plain C, static inline, bit manipulation and
 * <math.h>'s fabsf / roundf (exact operations).
 * Layouts match ggml (Q8_0, MXFP4) so GGUF files interoperate; the F8 block is
 * a ggml-ds extension (see gds.h, GDS_TYPE_F8_E4M3_B128).
 *
 * Conversions (spec 3.11): bf16 RNE with NaN kept NaN; e4m3fn RNE saturating
 * at 448 (NaN in -> 0x7F); e2m1 RNE ties-to-even-code; e8m0 2^(b-127), 0xFF NaN.
 */
#ifndef GDS_QUANTS_H
#define GDS_QUANTS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gds.h" /* GDS_KV_E4M3_B64_* block geometry */

/* The minifloat helpers below also compile as CUDA device code
 * (backends/cuda), so the GPU kernels round exactly as the CPU does. */
#ifdef __CUDACC__
#define GDS_QFN static inline __host__ __device__
#else
#define GDS_QFN static inline
#endif

#define QK8_0     32
#define QK_MXFP4  32
#define QK_F8     128

typedef uint16_t gds_fp16_t;
typedef uint16_t gds_bf16_t;

typedef struct {
    gds_fp16_t d;      /* scale */
    int8_t qs[QK8_0];  /* x = d * qs */
} block_q8_0;

typedef struct {
    uint8_t e;                 /* e8m0 scale; x = 2^(e-128) * kvalues_mxfp4[nibble] (ggml "half" scale) */
    uint8_t qs[QK_MXFP4 / 2];  /* element j < 16: low nibble of qs[j]; element j+16: high nibble */
} block_mxfp4;

typedef struct {
    uint8_t e;          /* e8m0 scale: x = 2^(e-127) * e4m3(qs) */
    uint8_t qs[QK_F8];  /* e4m3fn codes */
} block_f8;

#ifdef __cplusplus
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 size");
static_assert(sizeof(block_f8) == 129, "block_f8 size");
#else
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 size");
_Static_assert(sizeof(block_f8) == 129, "block_f8 size");
#endif

/* e2m1 values doubled (ggml's kvalues_mxfp4): code -> 2*value */
static const int8_t gds_kvalues_mxfp4[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

GDS_QFN uint32_t gds_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
GDS_QFN float gds_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- bf16 ---------------------------------------------------------------- */
GDS_QFN gds_bf16_t gds_fp32_to_bf16(float f) {
    uint32_t u = gds_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (gds_bf16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (gds_bf16_t)(u >> 16);
}
GDS_QFN float gds_bf16_to_fp32(gds_bf16_t h) { return gds_bits_f32((uint32_t)h << 16); }
GDS_QFN float gds_round_bf16(float f) { return gds_bf16_to_fp32(gds_fp32_to_bf16(f)); }

/* ---- fp16 (IEEE half, RNE) ----------------------------------------------- */
GDS_QFN float gds_fp16_to_fp32(gds_fp16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    if (e == 0) { /* zero / subnormal: m * 2^-24 */
        float v = (float)m * gds_bits_f32(0x33800000u);
        return s ? -v : v;
    }
    if (e == 31) return gds_bits_f32(s | 0x7f800000u | (m << 13));
    return gds_bits_f32(s | ((e + 112) << 23) | (m << 13));
}
GDS_QFN gds_fp16_t gds_fp32_to_fp16(float f) {
    uint32_t u = gds_f32_bits(f), s = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (gds_fp16_t)(s | 0x7e00u);           /* NaN */
    if (a >= 0x477ff000u) return (gds_fp16_t)(s | 0x7c00u);          /* overflow -> inf (RNE) */
    if (a < 0x38800000u) {                                           /* subnormal / zero */
        /* value / 2^-24, rounded to nearest even integer */
        float v = gds_bits_f32(a) * gds_bits_f32(0x4b800000u);       /* * 2^24 */
        uint32_t i = (uint32_t)v; float r = v - (float)i;
        if (r > 0.5f || (r == 0.5f && (i & 1u))) i++;
        return (gds_fp16_t)(s | i);
    }
    uint32_t m = a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u;        /* rebias 127 -> 15 */
    return (gds_fp16_t)(s | (m >> 13));
}

/* ---- e8m0 ---------------------------------------------------------------- */
GDS_QFN float gds_e8m0_to_fp32(uint8_t b) {
    if (b == 0xff) return gds_bits_f32(0x7fc00000u);
    if (b == 0) return gds_bits_f32(0x00400000u); /* 2^-127 (subnormal) */
    return gds_bits_f32((uint32_t)b << 23);
}
/* ggml MXFP4 scale: 2^(b-128) */
GDS_QFN float gds_e8m0_to_fp32_half(uint8_t b) {
    if (b < 2) return gds_bits_f32(0x00200000u << b);
    return gds_bits_f32((uint32_t)(b - 1) << 23);
}

/* ---- e4m3fn -------------------------------------------------------------- */
GDS_QFN float gds_e4m3_to_fp32(uint8_t c) {
    uint32_t s = (uint32_t)(c & 0x80) << 24, e = (c >> 3) & 0xf, m = c & 7;
    if (e == 0xf && m == 7) return gds_bits_f32(s | 0x7fc00000u);  /* NaN */
    if (e == 0) { float v = (float)m * (1.0f / 512.0f); return s ? -v : v; }
    return gds_bits_f32(s | ((e + 120) << 23) | (m << 20));
}
/* RNE, saturating to +-448; NaN -> 0x7F. */
GDS_QFN uint8_t gds_fp32_to_e4m3(float f) {
    uint32_t u = gds_f32_bits(f), s = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7f;
    if (a >= 0x43e00000u) return (uint8_t)(s | 0x7e);                 /* >= 448 */
    if (a < 0x3c800000u) {                                            /* < 2^-6: subnormal grid 2^-9 */
        float v = gds_bits_f32(a) * 512.0f;
        uint32_t i = (uint32_t)v; float r = v - (float)i;
        if (r > 0.5f || (r == 0.5f && (i & 1u))) i++;
        return (uint8_t)(s | i);                                      /* i == 8 is the smallest normal */
    }
    uint32_t m = a + 0x7ffffu + ((a >> 20) & 1u);                     /* RNE to 3 mantissa bits */
    uint32_t e = (m >> 23) - 120, mm = (m >> 20) & 7;
    if (e > 15 || (e == 15 && mm == 7)) return (uint8_t)(s | 0x7e);   /* 464 and up saturate */
    return (uint8_t)(s | (e << 3) | mm);
}

/* ---- e2m1 ---------------------------------------------------------------- */
/* gds_kvalues_mxfp4[c & 15] computed (device code cannot read the host table) */
GDS_QFN int gds_kvalue_mxfp4(uint8_t c) {
    const int m = c & 7, v = m < 4 ? m : (m & 1 ? 3 : 2) << ((m >> 1) - 1);
    return c & 8 ? -v : v;
}
GDS_QFN float gds_e2m1_to_fp32(uint8_t c) { return 0.5f * (float)gds_kvalue_mxfp4(c); }
/* RNE to {0, .5, 1, 1.5, 2, 3, 4, 6}, ties to the even code, clamps at 6; sign in bit 3. */
GDS_QFN uint8_t gds_fp32_to_e2m1(float f) {
    uint8_t s = (gds_f32_bits(f) >> 28) & 8;
    float a = f < 0 ? -f : f;
    uint8_t c;
    if (!(a == a)) return 0;                 /* NaN -> +0 (never produced by the clamps) */
    if (a <= 0.25f) c = 0;                   /* tie 0.25 -> code 0 */
    else if (a < 0.75f) c = 1;
    else if (a <= 1.25f) c = 2;              /* tie 0.75 -> 2 (1.0), tie 1.25 -> 2 */
    else if (a < 1.75f) c = 3;
    else if (a <= 2.5f) c = 4;               /* tie 1.75 -> 4 (2.0), 2.5 -> 4 */
    else if (a < 3.5f) c = 5;
    else if (a <= 5.0f) c = 6;               /* 3.5 -> 6 (4.0), 5 -> 6 (4.0) */
    else c = 7;
    return (uint8_t)(s | c);
}

/* ---- act_quant scale (spec 3.3/3.4): 2^ceil(log2(amax*inv)) as an exponent -- */
/* returns e such that s = 2^e; amax already floored by the caller */
GDS_QFN int gds_pow2_ceil_exp(float t) {
    uint32_t u = gds_f32_bits(t);
    int e = (int)((u >> 23) & 0xff) - 127;
    return e + ((u & 0x7fffffu) != 0);
}

/* 2^e as fp32 for e in [-149, 127] (exact; subnormal below -126) */
GDS_QFN float gds_exp2i(int e) { return e >= -126 ? gds_bits_f32((uint32_t)(e + 127) << 23) : gds_bits_f32(1u << (e + 149)); }

/* ---- reference quantizers of one block ------------------------------------
 * types.c's from_float_ref calls them block by block, and the CUDA backend's
 * CPY / SET_ROWS kernels call them per destination block: one definition of
 * the bytes every quantized row gets. x holds the block's values. */

/* Q8_0 as ggml's quantize_row_q8_0_ref: d = amax/127 (stored as fp16),
 * q = roundf(x * (1/d)) with the unrounded fp32 d (ties away from zero) */
GDS_QFN void gds_quant_block_q8_0(const float *x, block_q8_0 *b) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = gds_fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; j++) {
        float v = roundf(x[j] * id);
        /* only non-finite input can leave [-127, 127]; keep the cast defined */
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v == v ? v : 0.0f;
        b->qs[j] = (int8_t)v;
    }
}

/* ggml's best_index_mxfp4: the strict '<' keeps the first of equal errors,
 * so ties go to the smaller magnitude and -0 is never produced */
GDS_QFN uint8_t gds_mxfp4_best_index(float x, float d) {
    uint8_t best = 0;
    float best_err = fabsf((float)gds_kvalue_mxfp4(0) * d - x);
    for (uint8_t k = 1; k < 16; k++) {
        const float err = fabsf((float)gds_kvalue_mxfp4(k) * d - x);
        if (err < best_err) { best = k; best_err = err; }
    }
    return best;
}

/* MXFP4 as ggml: e = floor(log2(amax)) - 2 + 127 read from the bits (ggml's
 * floorf(log2f()) can round up a few ulps below a power of two), clamped to
 * [0, 254]; values in [1.5, 2) * 2^floor saturate to the top code */
GDS_QFN void gds_quant_block_mxfp4(const float *x, block_mxfp4 *b) {
    float amax = 0.0f;
    for (int j = 0; j < QK_MXFP4; j++) if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    int e = 0;
    if (amax > 0.0f) { /* any amax < 2^-125 (subnormals included) clamps to e = 0 anyway */
        e = (int)(gds_f32_bits(amax) >> 23) - 127 - 2 + 127;
        e = e < 0 ? 0 : e > 254 ? 254 : e;
    }
    const float d = gds_e8m0_to_fp32_half((uint8_t)e);
    b->e = (uint8_t)e;
    for (int j = 0; j < QK_MXFP4 / 2; j++)
        b->qs[j] = (uint8_t)(gds_mxfp4_best_index(x[j], d) | (gds_mxfp4_best_index(x[j + 16], d) << 4));
}

/* act_quant of n values (spec 3.3): amax floored at 1e-4 (so 2^e is a normal
 * float and x/2^e exact), s = 2^ceil(log2(amax/448)) as the e8m0 byte e+127,
 * codes e4m3(clamp(x/s, +-448)); the clamp is written with comparisons so
 * NaN passes through to 0x7F (torch.clamp propagates NaN). e is capped at 127
 * (only for inf input). F8_E4M3_B128 blocks (n = 128), KV groups (n = 64). */
/* act_quant's two steps, for kernels that split a group over threads (the
 * CUDA warp quantizer): the scale byte (exponent field e + 127) of a group
 * whose max |x| is amax, and the code of one value x at that scale s = 2^e */
GDS_QFN uint8_t gds_act_quant_scale(float amax) {
    if (amax < 1e-4f) amax = 1e-4f;
    int e = gds_pow2_ceil_exp(amax * (1.0f / 448.0f));
    if (e > 127) e = 127;
    return (uint8_t)(e + 127);
}
GDS_QFN uint8_t gds_act_quant_code(float x, float s) {
    float v = x / s;
    v = v > 448.0f ? 448.0f : v < -448.0f ? -448.0f : v;
    return gds_fp32_to_e4m3(v);
}

GDS_QFN void gds_act_quant_block(const float *x, int n, uint8_t *scale, uint8_t *qs) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    *scale = gds_act_quant_scale(amax);
    const float s = gds_bits_f32((uint32_t)*scale << 23);
    for (int j = 0; j < n; j++) qs[j] = gds_act_quant_code(x[j], s);
}

/* KV_E4M3_B64 (spec 5.2): act_quant per group of 64 on the first 448 values
 * (a QUANT_SIM FP8 value is stored exactly: its group's scale can only
 * shrink and doubling an e4m3 code <= 224 stays a code), bf16 RNE on the
 * last 64; b: GDS_KV_E4M3_B64_SIZE bytes */
GDS_QFN void gds_quant_block_kv(const float *x, uint8_t *b) {
    for (int k = 0; k < GDS_KV_E4M3_B64_OFF_QS; k++) b[k] = 0;
    for (int g = 0; g < GDS_KV_E4M3_B64_NOPE / GDS_KV_E4M3_B64_GROUP; g++)
        gds_act_quant_block(x + g * GDS_KV_E4M3_B64_GROUP, GDS_KV_E4M3_B64_GROUP, b + g,
                            b + GDS_KV_E4M3_B64_OFF_QS + g * GDS_KV_E4M3_B64_GROUP);
    uint8_t *r = b + GDS_KV_E4M3_B64_OFF_ROPE;
    for (int j = 0; j < GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE; j++) {
        const gds_bf16_t h = gds_fp32_to_bf16(x[GDS_KV_E4M3_B64_NOPE + j]);
        r[2 * j] = (uint8_t)(h & 0xff);
        r[2 * j + 1] = (uint8_t)(h >> 8);
    }
}

#endif /* GDS_QUANTS_H */
