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
 * Each is a loop over blocks of gds-quants.h's gds_quant_block_* /
 * gds_act_quant_block, which the CUDA kernels call too.
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

/* ggml's quantize_row_q8_0_ref, block by block (gds-quants.h), so our blocks
 * are byte-identical to ggml's */
static void q8_0_from_float(const float *x, void *y, int64_t n) {
    block_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK8_0; i++) gds_quant_block_q8_0(x + i * QK8_0, &b[i]);
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

/* ggml's quantize_row_mxfp4_ref, block by block (gds-quants.h) */
static void mxfp4_from_float(const float *x, void *y, int64_t n) {
    block_mxfp4 *b = y;
    for (int64_t i = 0; i < n / QK_MXFP4; i++) gds_quant_block_mxfp4(x + i * QK_MXFP4, &b[i]);
}

/* ---- F8_E4M3_B128 (spec 3.3, B = 128) ------------------------------------ */

static void f8_to_float(const void *x, float *y, int64_t n) {
    const block_f8 *b = x;
    for (int64_t i = 0; i < n / QK_F8; i++) {
        const float s = gds_e8m0_to_fp32(b[i].e);
        for (int j = 0; j < QK_F8; j++) y[i * QK_F8 + j] = gds_e4m3_to_fp32(b[i].qs[j]) * s;
    }
}

/* spec 3.3 act_quant per 128, block by block (gds-quants.h) */
static void f8_from_float(const float *x, void *y, int64_t n) {
    block_f8 *b = y;
    for (int64_t i = 0; i < n / QK_F8; i++) gds_act_quant_block(x + i * QK_F8, QK_F8, &b[i].e, b[i].qs);
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

/* one compact row per 512 values, block by block (gds-quants.h) */
static void kv_e4m3_from_float(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    for (int64_t i = 0; i < n / GDS_KV_E4M3_B64_NE; i++) gds_quant_block_kv(x + i * GDS_KV_E4M3_B64_NE, b + i * GDS_KV_E4M3_B64_SIZE);
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
