/*
 * types.c - the type-traits table: block geometry, dequantizers (to_float)
 * and reference quantizers (from_float_ref) for every tensor type.
 *
 * One designated-initializer table indexed by the ggml type id; a NULL name
 * marks an id we do not implement. All minifloat arithmetic goes through
 * gds-quants.h so the CPU kernels, the converter and the GPU backends share a
 * single definition of every rounding rule.
 *
 * Invariants: n passed to to_float / from_float_ref is a multiple of the
 * type's blck_size; quantizers are deterministic and scalar, using only exact
 * math (fabsf, roundf, bit tricks; no log2f) so every platform makes the same bytes.
 *
 * Quantizers:
 *   Q8_0          ggml's quantize_row_q8_0_ref (d = amax/127 -> fp16, q = roundf(x/d)).
 *   MXFP4         ggml's quantize_row_mxfp4_ref (shared exponent from amax,
 *                 nearest kvalue, first-found wins on ties).
 *   F8_E4M3_B128  spec 3.3 act_quant with B = 128, bit for bit.
 *   KV_E4M3_B64   act_quant with B = 64 on the first 448 values of each 512,
 *                 bf16 RNE on the last 64 (spec 5.2 compact K=V rows).
 * Not here: SIMD paths and the per-type dot products (backends/cpu).
 */
#include "gds-impl.h"

#include <math.h>

/* ---- plain float types --------------------------------------------------- */

static void f32_to_float(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }
static void f32_from_float(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

static void f16_to_float(const void *x, float *y, int64_t n) {
    const gds_fp16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = gds_fp16_to_fp32(h[i]);
}
static void f16_from_float(const float *x, void *y, int64_t n) {
    gds_fp16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = gds_fp32_to_fp16(x[i]);
}

static void bf16_to_float(const void *x, float *y, int64_t n) {
    const gds_bf16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = gds_bf16_to_fp32(h[i]);
}
static void bf16_from_float(const float *x, void *y, int64_t n) {
    gds_bf16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = gds_fp32_to_bf16(x[i]);
}

/* I32 has no quantizer: indices are written by the caller, never rounded. */
static void i32_to_float(const void *x, float *y, int64_t n) {
    const int32_t *v = x;
    for (int64_t i = 0; i < n; i++) y[i] = (float)v[i];
}

/* ---- Q8_0 ---------------------------------------------------------------- */

static void q8_0_to_float(const void *x, float *y, int64_t n) {
    const block_q8_0 *b = x;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = gds_fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

/* ggml rounds x * (1/d) with the unrounded fp32 d although d is stored as
 * fp16; we copy that so our blocks are byte-identical to ggml's. */
static void q8_0_from_float(const float *x, void *y, int64_t n) {
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *xb = x + i * QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++) amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = gds_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) {
            float v = roundf(xb[j] * id);  /* ties away from zero, like ggml */
            /* only non-finite input can leave [-127, 127]; keep the cast defined */
            v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v == v ? v : 0.0f;
            b[i].qs[j] = (int8_t)v;
        }
    }
}

/* ---- MXFP4 (ggml layout) ------------------------------------------------- */

static void mxfp4_to_float(const void *x, float *y, int64_t n) {
    const block_mxfp4 *b = x;
    for (int64_t i = 0; i < n / QK_MXFP4; i++) {
        /* kvalues are 2*e2m1, so the "half" scale 2^(e-128) undoes the doubling */
        const float d = gds_e8m0_to_fp32_half(b[i].e);
        float *yb = y + i * QK_MXFP4;
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            yb[j]      = d * (float)gds_kvalues_mxfp4[b[i].qs[j] & 0x0f];
            yb[j + 16] = d * (float)gds_kvalues_mxfp4[b[i].qs[j] >> 4];
        }
    }
}

/* ggml's best_index_mxfp4: the strict '<' keeps the first of equal errors,
 * so ties go to the smaller magnitude and -0 is never produced. */
static uint8_t mxfp4_best_index(float x, float d) {
    uint8_t best = 0;
    float best_err = fabsf((float)gds_kvalues_mxfp4[0] * d - x);
    for (uint8_t k = 1; k < 16; k++) {
        const float err = fabsf((float)gds_kvalues_mxfp4[k] * d - x);
        if (err < best_err) { best = k; best_err = err; }
    }
    return best;
}

/* e = floor(log2(amax)) - 2 + 127 as in ggml, so 2*6 * 2^(e-128) = 1.5*2^floor(log2 amax):
 * values in [1.5, 2) * 2^floor saturate to the top code (ggml's choice).
 * ggml computes floorf(log2f(amax)), which can round up for amax a few ulps
 * below a power of two; we read the exponent from the bits (exact on every platform).
 * Both give valid blocks; e is clamped to [0, 254] so tiny/huge/inf amax stay defined. */
static void mxfp4_from_float(const float *x, void *y, int64_t n) {
    block_mxfp4 *b = y;
    for (int64_t i = 0; i < n / QK_MXFP4; i++) {
        const float *xb = x + i * QK_MXFP4;
        float amax = 0.0f;
        for (int j = 0; j < QK_MXFP4; j++) if (amax < fabsf(xb[j])) amax = fabsf(xb[j]);
        int e = 0;
        if (amax > 0.0f) {
            /* any amax < 2^-125 (subnormals included) clamps to e = 0 anyway */
            e = (int)(gds_f32_bits(amax) >> 23) - 127 - 2 + 127;
            e = e < 0 ? 0 : e > 254 ? 254 : e;
        }
        const float d = gds_e8m0_to_fp32_half((uint8_t)e);
        b[i].e = (uint8_t)e;
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            b[i].qs[j] = (uint8_t)(mxfp4_best_index(xb[j], d) | (mxfp4_best_index(xb[j + 16], d) << 4));
        }
    }
}

/* ---- F8_E4M3_B128 (spec 3.3, B = 128) ------------------------------------ */

static void f8_to_float(const void *x, float *y, int64_t n) {
    const block_f8 *b = x;
    for (int64_t i = 0; i < n / QK_F8; i++) {
        const float s = gds_e8m0_to_fp32(b[i].e);
        for (int j = 0; j < QK_F8; j++) y[i * QK_F8 + j] = gds_e4m3_to_fp32(b[i].qs[j]) * s;
    }
}

/* The 1e-4 floor keeps e >= -22, and amax <= FLT_MAX keeps e <= 120, so
 * 2^e is always a normal float and x/2^e is exact (until e4m3 rounding).
 * The clamp is written with comparisons so NaN passes through to 0x7F
 * (torch.clamp propagates NaN; fminf would not). */
static void f8_from_float(const float *x, void *y, int64_t n) {
    block_f8 *b = y;
    for (int64_t i = 0; i < n / QK_F8; i++) {
        const float *xb = x + i * QK_F8;
        float amax = 0.0f;
        for (int j = 0; j < QK_F8; j++) if (amax < fabsf(xb[j])) amax = fabsf(xb[j]);
        if (amax < 1e-4f) amax = 1e-4f;
        const float t = amax * (1.0f / 448.0f);
        int e = gds_pow2_ceil_exp(t);
        if (e > 127) e = 127; /* only for inf input; keeps s finite and the scale byte != NaN */
        const float s = gds_bits_f32((uint32_t)(e + 127) << 23);
        b[i].e = (uint8_t)(e + 127);
        for (int j = 0; j < QK_F8; j++) {
            float v = xb[j] / s;
            v = v > 448.0f ? 448.0f : v < -448.0f ? -448.0f : v;
            b[i].qs[j] = gds_fp32_to_e4m3(v);
        }
    }
}

/* ---- KV_E4M3_B64 (spec 5.2: one compact V4 K=V row per block) ------------ */

/* Geometry from gds.h: 7 scales, a zero byte, 448 e4m3 codes, 64 bf16 (LE). */
#define KV_NG (GDS_KV_E4M3_B64_NOPE / GDS_KV_E4M3_B64_GROUP)
#define KV_NR (GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE)
_Static_assert(GDS_KV_E4M3_B64_OFF_QS >= KV_NG, "kv scales fit before the codes");
_Static_assert(GDS_KV_E4M3_B64_OFF_ROPE == GDS_KV_E4M3_B64_OFF_QS + GDS_KV_E4M3_B64_NOPE, "kv layout");
_Static_assert(GDS_KV_E4M3_B64_SIZE == GDS_KV_E4M3_B64_OFF_ROPE + 2 * KV_NR, "kv block size");

static void kv_e4m3_to_float(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / GDS_KV_E4M3_B64_NE; i++, b += GDS_KV_E4M3_B64_SIZE, y += GDS_KV_E4M3_B64_NE) {
        const uint8_t *qs = b + GDS_KV_E4M3_B64_OFF_QS;
        for (int g = 0; g < KV_NG; g++) {
            const float s = gds_e8m0_to_fp32(b[g]);
            for (int j = 0; j < GDS_KV_E4M3_B64_GROUP; j++) {
                const int k = g * GDS_KV_E4M3_B64_GROUP + j;
                y[k] = gds_e4m3_to_fp32(qs[k]) * s;
            }
        }
        const uint8_t *r = b + GDS_KV_E4M3_B64_OFF_ROPE;
        for (int j = 0; j < KV_NR; j++) y[GDS_KV_E4M3_B64_NOPE + j] = gds_bf16_to_fp32((gds_bf16_t)(r[2 * j] | r[2 * j + 1] << 8));
    }
}

/* act_quant per group of 64 exactly as f8_from_float (and QUANT_SIM FP8), so a
 * value that QUANT_SIM produced is stored exactly: its group's scale can only
 * shrink (amax rounds down at most to 224*s) and doubling an e4m3 code <= 224
 * stays an e4m3 code. Rope dims: bf16 RNE (exact for bf16-valued input). */
static void kv_e4m3_from_float(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    for (int64_t i = 0; i < n / GDS_KV_E4M3_B64_NE; i++, b += GDS_KV_E4M3_B64_SIZE, x += GDS_KV_E4M3_B64_NE) {
        uint8_t *qs = b + GDS_KV_E4M3_B64_OFF_QS;
        memset(b, 0, GDS_KV_E4M3_B64_OFF_QS);
        for (int g = 0; g < KV_NG; g++) {
            const float *xb = x + g * GDS_KV_E4M3_B64_GROUP;
            float amax = 0.0f;
            for (int j = 0; j < GDS_KV_E4M3_B64_GROUP; j++) if (amax < fabsf(xb[j])) amax = fabsf(xb[j]);
            if (amax < 1e-4f) amax = 1e-4f;
            int e = gds_pow2_ceil_exp(amax * (1.0f / 448.0f));
            if (e > 127) e = 127;
            const float s = gds_bits_f32((uint32_t)(e + 127) << 23);
            b[g] = (uint8_t)(e + 127);
            for (int j = 0; j < GDS_KV_E4M3_B64_GROUP; j++) {
                float v = xb[j] / s;
                v = v > 448.0f ? 448.0f : v < -448.0f ? -448.0f : v;
                qs[g * GDS_KV_E4M3_B64_GROUP + j] = gds_fp32_to_e4m3(v);
            }
        }
        uint8_t *r = b + GDS_KV_E4M3_B64_OFF_ROPE;
        for (int j = 0; j < KV_NR; j++) {
            const gds_bf16_t h = gds_fp32_to_bf16(x[GDS_KV_E4M3_B64_NOPE + j]);
            r[2 * j] = (uint8_t)(h & 0xff);
            r[2 * j + 1] = (uint8_t)(h >> 8);
        }
    }
}

/* ---- the table ----------------------------------------------------------- */

static const struct gds_type_traits type_traits[GDS_TYPE_COUNT] = {
    [GDS_TYPE_F32]   = { "f32",   1, 4, false, f32_to_float,  f32_from_float },
    [GDS_TYPE_F16]   = { "f16",   1, 2, false, f16_to_float,  f16_from_float },
    [GDS_TYPE_Q8_0]  = { "q8_0",  QK8_0, sizeof(block_q8_0), true, q8_0_to_float, q8_0_from_float },
    [GDS_TYPE_I32]   = { "i32",   1, 4, false, i32_to_float,  NULL },
    [GDS_TYPE_BF16]  = { "bf16",  1, 2, false, bf16_to_float, bf16_from_float },
    [GDS_TYPE_MXFP4] = { "mxfp4", QK_MXFP4, sizeof(block_mxfp4), true, mxfp4_to_float, mxfp4_from_float },
    [GDS_TYPE_F8_E4M3_B128] = { "f8_e4m3_b128", QK_F8, sizeof(block_f8), true, f8_to_float, f8_from_float },
    [GDS_TYPE_KV_E4M3_B64] = { "kv_e4m3_b64", GDS_KV_E4M3_B64_NE, GDS_KV_E4M3_B64_SIZE, true, kv_e4m3_to_float, kv_e4m3_from_float },
};

const struct gds_type_traits *gds_type_traits(enum gds_type t) {
    return gds_type_valid((int)t) ? &type_traits[t] : NULL;
}

bool gds_type_valid(int t) {
    return t >= 0 && t < GDS_TYPE_COUNT && type_traits[t].name != NULL;
}

const char *gds_type_name(enum gds_type t) {
    return gds_type_valid((int)t) ? type_traits[t].name : "unknown";
}

size_t gds_row_size(enum gds_type t, int64_t ne0) {
    GDS_ASSERT(gds_type_valid((int)t));
    const struct gds_type_traits *tt = &type_traits[t];
    GDS_ASSERT(ne0 >= 0 && ne0 % tt->blck_size == 0);
    return tt->type_size * (size_t)(ne0 / tt->blck_size);
}
