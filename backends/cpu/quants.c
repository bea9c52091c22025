/*
 * quants.c - per-type dot products for mul_mat (scalar reference) and the
 * dispatcher gds_cpu_type_traits().
 *
 * Every SIMD variant (quants-avx2.c, quants-avx512.c, quants-neon.c) computes
 * exactly the same arithmetic as the scalar code below, so all levels give the
 * same bits, with two exceptions: e4m3 NaN codes (SIMD decodes them as 480,
 * see the end of this comment) and the AVX-512 MXFP4 mul_mat fast path
 * (vdpbf16ps, described below), which gives up bit-identity with the other
 * levels for speed but stays deterministic (same bits for any thread count).
 * The canonical definitions:
 *
 *   F32 / F16 / BF16 (activation of the weight's own type): 16 lanes; lane l
 *     accumulates w[k]*a[k] for k = l, l+16, ... in increasing k (product
 *     rounded, then added - for F16/BF16 the product is exact so fma is the
 *     same); then s8[i] = l[i] + l[i+8], s4[i] = s8[i] + s8[i+4],
 *     s2[i] = s4[i] + s4[i+2], sum = s2[0] + s2[1]; the n % 16 tail is added
 *     after that, in order.
 *   Q8_0 x Q8_0: per 32-block the integer sum isum (exact), then
 *     acc = acc + (float)isum * (dw * da), blocks in order (ggml's formula).
 *   F8_E4M3_B128 x F8 (spec 3.5): per 128-block, p = the 16-lane sum above over
 *     the 128 e4m3 products (products of e4m3 values are exact in fp32, and
 *     every partial sum is a multiple of 2^-18, so the block sum is a pure
 *     function of the lane order), then acc = acc + p * (sa * sw), in order.
 *   MXFP4 x F8 (spec 3.6): per 32-block, p = sum kv[nibble] * X[k] in int32,
 *     exact (X = e4m3 * 2^9 is an integer, kv = 2*e2m1 is an integer), then
 *     acc = acc + (float)p * ((sa * 2^-9) * sw) with sw = 2^(e-128), in order.
 *
 * All products-then-adds are written as separate operations: the library is
 * compiled with -std=c11, where GCC does not contract a*b+c into an fma.
 *
 * Denormals: in the F8 paths (every level, vec_dot, vec_dot4 and the prepared
 * fast path) no fp32 denormal is ever an operand or result of the inner-loop
 * fma/mul: e4m3 codes are decoded as e4m3 * 2^-8 through fp16 bit patterns and
 * vcvtph2ps (e4m3 subnormals become fp16 subnormals, which the conversion
 * normalizes exactly, without microcode assists), products are exact multiples
 * of 2^-34 (2^-18 in the fast path), p is a multiple of 2^-18, so the block
 * and scale steps (sa * sw, p * sc, acc + t) stay normal whenever the scale
 * bytes satisfy e_w + e_a >= 146 (both in [73, 178], say); only extreme bytes
 * reach the denormal range there (correct, not fast). Intel cores take a
 * ~100+ cycle assist per fma with a denormal operand, AMD Zen does not, so
 * this is checked with the MXCSR DE flag, not by timing.
 *
 *   F8_E4M3_B128 x BF16 (mul_mat GDS_MM_ACT_BF16, spec T17): the weight is
 *     decoded to w = e4m3 * 2^(e-127) in fp32 (exact, the value its BF16
 *     conversion holds), then exactly the BF16 x BF16 rule above (16 lanes,
 *     product rounded then added, canonical reduction), so the result is
 *     bit-identical to multiplying the BF16 conversion of the weight. SIMD
 *     levels decode via e4m3 * 2^-8 and exact rescaling (same value; NaN
 *     codes as 480 there, see below); x86 adds 4-row kernels (vec_dot4,
 *     each row in its own lanes, same order).
 *
 * Activation quantizers (from_float) are the reference quantizers of types.c,
 * so the F8 activation blocks are bit-identical to from_float_ref (spec 3.3).
 *
 * mul_mat fast path (gds_cpu_mm_ext_get): for MXFP4 and F8 weights on AVX2 /
 * AVX-512, ops-matmul.c expands each quantized activation row once into a
 * kernel layout (the *_prep functions below) and runs 4/8-row kernels on it:
 *   - F8 (AVX2, AVX-512) and MXFP4 (AVX2): the canonical arithmetic above,
 *     bit-identical to scalar (MXFP4 AVX2: p from exact int8 digit planes of
 *     X, the weight scale built from its exponent bits; a weight e = 255
 *     gives inf there where the scalar code uses 2^127).
 *   - MXFP4 (AVX-512 BF16): weights decode exactly to bf16 (kv = 2*e2m1),
 *     activations are prepared as bf16 e4m3 * sa/2 (exact); per sub-block of
 *     32, four vdpbf16ps give fp32 partial sums in 4 lanes of exact products
 *     (the sums round in the instruction's order - the spec leaves the
 *     in-block order open, 3.5/3.6), each multiplied by the exact scale
 *     2^(e-127) and accumulated (fma, one rounding) in its own lane; the 16
 *     lanes are reduced once at the end of the row. Rows with activation
 *     scales outside e in [11, 238] (never from act_quant of finite |x| <
 *     2^111) take an unfolded variant with vscalefps. Relative error is of
 *     the order of fp32 rounding (NMSE ~1e-15 in the op tests); e4m3 NaN
 *     activations give NaN there. Rows are assigned to the fast path or to
 *     vec_dot by their index only, so results do not depend on nth.
 * AMX level (AVX512 + AMX tiles, tiles-amx.c): the AVX512 kernels, except
 * that MXFP4 takes the canonical arithmetic (mat-vec: the AVX2 fast path,
 * which runs on these CPUs; tiles: AMX-BF16 on exactly split planes), so
 * its MXFP4 bits equal scalar and AVX2, not AVX512.
 * Known gap: e4m3 NaN codes (0x7F/0xFF) decode as +-480 in the SIMD weight
 * and integer MXFP4-activation paths instead of NaN; act_quant produces them
 * only from NaN input, so finite inputs are unaffected.
 */
#include "cpu.h"

#include <pthread.h>
#include <string.h>

/* ---- small tables -------------------------------------------------------- */

static pthread_once_t traits_once = PTHREAD_ONCE_INIT;
static bool mxfp4_mv512; /* GDS_MXFP4_MV=512: the AMX level's MXFP4 mat-vec at 512 bits (traits_init) */
static void traits_init(void);

static float   e4m3_f32[256];   /* e4m3 code -> value (NaN codes: NaN) */
static int32_t e4m3_x9[256];    /* e4m3 code -> value * 2^9 (NaN codes: +-480 * 2^9, as the SIMD paths) */

static void tables_init(void) {
    for (int c = 0; c < 256; c++) {
        e4m3_f32[c] = gds_e4m3_to_fp32((uint8_t)c);
        int32_t v = (c & 0x7f) == 0x7f ? 480 * 512 : (int32_t)(gds_e4m3_to_fp32((uint8_t)(c & 0x7f)) * 512.0f);
        e4m3_x9[c] = (c & 0x80) ? -v : v;
    }
}

/* canonical 16-lane reduction (see the header) */
static inline float reduce16(const float *l) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++) s8[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

/* ---- float types --------------------------------------------------------- */

#define GDS_DOT_FLOAT(name, T, CVT)                                             \
    static void name(int64_t n, float *s, const void *w, const void *a) {      \
        const T *x = w, *y = a;                                                 \
        float l[16] = { 0 };                                                    \
        int64_t k = 0;                                                          \
        for (; k + 16 <= n; k += 16)                                            \
            for (int j = 0; j < 16; j++) {                                      \
                float p = CVT(x[k + j]) * CVT(y[k + j]);                        \
                l[j] = l[j] + p;                                                \
            }                                                                   \
        float sum = reduce16(l);                                                \
        for (; k < n; k++) {                                                    \
            float p = CVT(x[k]) * CVT(y[k]);                                    \
            sum = sum + p;                                                      \
        }                                                                       \
        *s = sum;                                                               \
    }

#define GDS_ID_(v) (v)
GDS_DOT_FLOAT(dot_f32_scalar, float, GDS_ID_)
GDS_DOT_FLOAT(dot_f16_scalar, gds_fp16_t, gds_fp16_to_fp32)
GDS_DOT_FLOAT(dot_bf16_scalar, gds_bf16_t, gds_bf16_to_fp32)

/* ---- F8 x BF16 (GDS_MM_ACT_BF16) ------------------------------------------ */

static void dot_f8bf16_scalar(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w;
    const gds_bf16_t *y = a;
    float l[16] = { 0 };
    for (int64_t b = 0; b < n / QK_F8; b++) {
        const float sc = gds_e8m0_to_fp32(x[b].e);
        for (int h = 0; h < QK_F8; h += 16)
            for (int j = 0; j < 16; j++) {
                const float wv = e4m3_f32[x[b].qs[h + j]] * sc;
                float p = wv * gds_bf16_to_fp32(y[b * QK_F8 + h + j]);
                l[j] = l[j] + p;
            }
    }
    *s = reduce16(l); /* n % 128 == 0: no tail */
}

/* ---- Q8_0 x BF16 (GDS_MM_ACT_BF16) ----------------------------------------
 * The weight is w = bf16(q * d) (q * d exact in fp32: 8 x 11 significant
 * bits), the value the loader's BF16 conversion of a Q8_0 wo_a holds (spec
 * T17), then exactly the BF16 x BF16 rule (16 lanes, product rounded then
 * added, canonical reduction; n % 32 == 0: no tail), so the result is
 * bit-identical to multiplying that BF16 conversion, from half its bytes. */
static void dot_q8bf16_scalar(int64_t n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w;
    const gds_bf16_t *y = a;
    float l[16] = { 0 };
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const float d = gds_fp16_to_fp32(x[b].d);
        for (int h = 0; h < QK8_0; h += 16)
            for (int j = 0; j < 16; j++) {
                const float wv = gds_round_bf16((float)x[b].qs[h + j] * d);
                float p = wv * gds_bf16_to_fp32(y[b * QK8_0 + h + j]);
                l[j] = l[j] + p;
            }
    }
    *s = reduce16(l);
}

/* ---- Q8_0 x Q8_0 --------------------------------------------------------- */

static void dot_q8_0_scalar(int64_t n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += (int32_t)x[b].qs[j] * (int32_t)y[b].qs[j];
        const float d = gds_fp16_to_fp32(x[b].d) * gds_fp16_to_fp32(y[b].d);
        const float t = (float)isum * d;
        acc = acc + t;
    }
    *s = acc;
}

/* ---- F8 x F8 ------------------------------------------------------------- */

static void dot_f8_scalar(int64_t n, float *s, const void *w, const void *a) {
    const block_f8 *x = w, *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        float l[16] = { 0 };
        for (int k = 0; k < QK_F8; k += 16)
            for (int j = 0; j < 16; j++) {
                const float p = e4m3_f32[x[b].qs[k + j]] * e4m3_f32[y[b].qs[k + j]];
                l[j] = l[j] + p;
            }
        const float p = reduce16(l);
        const float sc = gds_e8m0_to_fp32(x[b].e) * gds_e8m0_to_fp32(y[b].e);
        const float t = p * sc;
        acc = acc + t;
    }
    *s = acc;
}

/* ---- MXFP4 x F8 ---------------------------------------------------------- */

/* canonical t of MXFP4 block xb against sub-block j of the F8 block y */
static inline float mxfp4_block_t(const block_mxfp4 *xb, const block_f8 *y, int j) {
    const uint8_t *q = y->qs + j * QK_MXFP4;
    int32_t p = 0;
    for (int i = 0; i < QK_MXFP4 / 2; i++) {
        p += gds_kvalues_mxfp4[xb->qs[i] & 15] * e4m3_x9[q[i]];
        p += gds_kvalues_mxfp4[xb->qs[i] >> 4] * e4m3_x9[q[i + 16]];
    }
    const float sa9 = gds_e8m0_to_fp32(y->e) * 0x1p-9f;
    const float sc = sa9 * gds_e8m0_to_fp32_half(xb->e);
    return (float)p * sc;
}

/* for kernels that take single blocks the scalar way (tiles-amx.c) */
float gds_cpu_mxfp4_block_t(const block_mxfp4 *xb, const block_f8 *y, int j) {
    pthread_once(&traits_once, traits_init);
    return mxfp4_block_t(xb, y, j);
}

static void dot_mxfp4_scalar(int64_t n, float *s, const void *w, const void *a) {
    const block_mxfp4 *x = w;
    const block_f8 *y = a;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_F8; b++)
        for (int j = 0; j < QK_F8 / QK_MXFP4; j++) {
            const float t = mxfp4_block_t(&x[b * (QK_F8 / QK_MXFP4) + j], &y[b], j);
            acc = acc + t;
        }
    *s = acc;
}

/* ---- prepared MXFP4 activations, integer digits (AVX2 fast path) --------
 * X = e4m3 * 2^9 is an integer (|X| <= 245760, NaN codes as +-480). Split
 * X = 8 * (d0 + 256 * d1) + r exactly: r = sign(X) * (|X| mod 8), nonzero
 * only for elements with |X| < 64 (|e4m3| < 1/8) that are not multiples of 8
 * (every |X| >= 64 is: X = m * 2^s with m <= 15 needs s >= 3 there);
 * m = (X - r) / 8 in [-30720, 30720], d1 = floor((m + 128) / 256) in
 * [-120, 120], d0 = m - 256 * d1 in [-128, 127]. pmaddubsw bounds (weights kv+12 in
 * [0, 24]): an int16 lane sums 2 products, |.| <= 2*24*128 = 6144, and the
 * kernels add two such results (4 products): <= 12288 for d0, 4*24*120 =
 * 11520 for d1, 4*24*7 for r, all below 32767 (no saturation).
 * Per 128-element block, 512 bytes (keep 64-byte alignment):
 *   [0,384)   signed digit planes d0, d1, r, 128 bytes each, as lo (64) and
 *             hi (64) halves: "lo" byte 16j+i is element 32j+i, "hi" is
 *             32j+16+i (the MXFP4 nibble order of sub-block j);
 *   [384,448) int32 c[16], c[4j+q] = -12 * sum of X over sub-block j (all
 *             32 elements; the same value for q = 0..3, so the 8 lanes at
 *             384 + 32h line up with a 4-row x 2-block transpose of sub-blocks
 *             2h, 2h+1; the weights enter as kv+12 >= 0 unsigned);
 *   [448,452) float sa * 2^-10 (the kernel builds the weight scale as
 *             2^(e-127) from the exponent bits); [452,454) one flag byte per
 *             64-element half: nonzero when its r plane is not all zero;
 *   rest zero.
 * The kernel computes p = sum kv * X exactly in int32: 8*S0 + 2048*S1 + c
 * (+ Sr, only for flagged halves), Sd = sum (kv+12) * d by pmaddubsw. */
size_t gds_cpu_mxfp4_prep_size(int64_t n) { return (size_t)(n / QK_F8) * 512; }

void gds_cpu_mxfp4_prep(const void *a, void *p, int64_t n) {
    const block_f8 *y = a;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        uint8_t *o = (uint8_t *)p + b * 512;
        int32_t c[16] = { 0 };
        uint8_t flag[2] = { 0, 0 };
        for (int k = 0; k < QK_F8; k++) {
            const int j = k / 32, i = k % 32, hi = i >= 16, pos = 16 * j + (i & 15);
            const int32_t x = e4m3_x9[y[b].qs[k]], ax = x < 0 ? -x : x;
            const int32_t r = x < 0 ? -(ax & 7) : ax & 7, m = (x - r) / 8; /* exact */
            const int32_t d1 = (m + 128) >> 8, d0 = m - d1 * 256; /* floor (arithmetic shift) */
            o[0 * 128 + hi * 64 + pos] = (uint8_t)(int8_t)d0;
            o[1 * 128 + hi * 64 + pos] = (uint8_t)(int8_t)d1;
            o[2 * 128 + hi * 64 + pos] = (uint8_t)(int8_t)r;
            if (r) flag[j / 2] = 1;
            c[4 * j] -= 12 * x;
        }
        for (int j = 0; j < 4; j++) c[4 * j + 1] = c[4 * j + 2] = c[4 * j + 3] = c[4 * j];
        memcpy(o + 384, c, sizeof c);
        const float sa10 = gds_e8m0_to_fp32(y[b].e) * 0x1p-10f;
        memset(o + 448, 0, 64);
        memcpy(o + 448, &sa10, sizeof sa10);
        o[452] = flag[0];
        o[453] = flag[1];
    }
}

/* ---- prepared MXFP4 activations, bf16 (AVX-512 BF16 fast path) ----------
 * Per 128-element block, 320 bytes (64-byte aligned):
 *   [0,256)   bf16 of e4m3 * 2^f, as 4 vectors of 32: vector k, 16-byte lane
 *             j (sub-block j), word i (0..7) holds element 32j + o_k(i),
 *             o_0 = 2i, o_1 = 2i+1, o_2 = 16+2i, o_3 = 17+2i (the order in
 *             which the kernel decodes the nibbles: low/high nibble of the
 *             low/high byte of each 16-bit qs word);
 *   [256,260) float c (see below); [260,264) int32 "folded" flag (block 0's
 *             counts for the row); rest zero.
 * Folded rows (the normal case): f = log2(sa) - 1, so that with the weight
 * scale taken as 2^(e-127) (= 2 * 2^(e-128), built from the exponent bits)
 * the product scale is exact; the values stay normal bf16 and every product
 * and partial sum stays a normal fp32 for e_a in [11, 238], which act_quant
 * always gives for finite |x| < 2^111. Otherwise (or for a NaN scale) f = 0
 * and c = log2(sa) - 128 (NaN for a NaN scale) is applied by vscalefps. */
size_t gds_cpu_mxfp4_prep_bf16_size(int64_t n) { return (size_t)(n / QK_F8) * 320; }

void gds_cpu_mxfp4_prep_bf16(const void *a, void *p, int64_t n) {
    const block_f8 *y = a;
    int32_t folded = 1;
    for (int64_t b = 0; b < n / QK_F8; b++) folded &= y[b].e >= 11 && y[b].e <= 238;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        uint8_t *o = (uint8_t *)p + b * 320;
        uint16_t *v = (uint16_t *)o;
        const float f = folded ? gds_e8m0_to_fp32(y[b].e) * 0.5f : 1.0f; /* exact powers of two */
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < 8; i++) {
                    const int e = 32 * j + (k >= 2 ? 16 : 0) + 2 * i + (k & 1);
                    v[32 * k + 8 * j + i] = (uint16_t)(gds_f32_bits(e4m3_f32[y[b].qs[e]] * f) >> 16);
                }
        const float c = y[b].e == 0xff ? gds_bits_f32(0x7fc00000u) : (float)((int)y[b].e - 127 - 128);
        memset(o + 256, 0, 64);
        memcpy(o + 256, &c, sizeof c);
        memcpy(o + 260, &folded, sizeof folded);
    }
}

/* ---- prepared F8 activations (mul_mat fast path) -------------------------
 * Per 128-element block, 576 bytes: float a[128] = e4m3 * 2^8 (exact, normal
 * or zero; the SIMD weights decode through fp16 as e4m3 * 2^-8, also normal,
 * so each product is the exact e4m3 product, a multiple of 2^-18: no fp32
 * denormal is ever an fma operand or result), float sa, zero padding. */
size_t gds_cpu_f8_prep_size(int64_t n) { return (size_t)(n / QK_F8) * 576; }

void gds_cpu_f8_prep(const void *a, void *p, int64_t n) {
    const block_f8 *y = a;
    for (int64_t b = 0; b < n / QK_F8; b++) {
        float *o = (float *)((char *)p + b * 576);
        for (int k = 0; k < QK_F8; k++) o[k] = e4m3_f32[y[b].qs[k]] * 256.0f;
        for (int k = QK_F8; k < 144; k++) o[k] = 0.0f;
        o[QK_F8] = gds_e8m0_to_fp32(y[b].e);
    }
}

/* fast-path table (declared again in ops-matmul.c; cpu.h is shared) */
void gds_cpu_dot4_mxfp4p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_mxfp4p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot8_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_f8p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_f8p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);

size_t gds_cpu_q8bf16_prep_size(int64_t n);
void gds_cpu_q8bf16_prep(const void *a, void *p, int64_t n);
void gds_cpu_dot4_q8bf16p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);

/* the fast path for a MUL_MAT's flags: GDS_MM_ACT_BF16 with Q8_0 weights on
 * AVX-512 / AMX: bf16 rows prepared in vdpbf16ps pairs (quants-avx512.c;
 * GDS_Q8BF_DP=0: without), none for the other ACT_BF16 types */
bool gds_cpu_mm_ext_get_mm(enum gds_type t, enum gds_cpu_simd simd, int32_t flags, struct gds_cpu_mm_ext *ext) {
    if (!(flags & GDS_MM_ACT_BF16)) return gds_cpu_mm_ext_get(t, simd, ext);
#if defined(__x86_64__)
    static int dp = -1;
    if (dp < 0) dp = !(getenv("GDS_Q8BF_DP") && !strcmp(getenv("GDS_Q8BF_DP"), "0"));
    if (t == GDS_TYPE_Q8_0 && gds_cpu_simd_is_avx512(simd) && dp) {
        ext->prep_size = gds_cpu_q8bf16_prep_size;
        ext->prep = gds_cpu_q8bf16_prep;
        ext->prep_block = 0; /* the row's flag depends on every element */
        ext->dot4 = gds_cpu_dot4_q8bf16p_avx512;
        ext->dot8 = NULL;
        return true;
    }
#endif
    (void)t; (void)simd; (void)ext;
    return false;
}

bool gds_cpu_mm_ext_get(enum gds_type t, enum gds_cpu_simd simd, struct gds_cpu_mm_ext *ext) {
    pthread_once(&traits_once, traits_init);
#if defined(__x86_64__)
    if (t == GDS_TYPE_MXFP4 && simd == GDS_SIMD_AVX512) {
        ext->prep_size = gds_cpu_mxfp4_prep_bf16_size;
        ext->prep = gds_cpu_mxfp4_prep_bf16;
        ext->prep_block = 0; /* the row's "folded" flag depends on every block */
        ext->dot4 = gds_cpu_dot4_mxfp4b_avx512;
        ext->dot8 = gds_cpu_dot8_mxfp4b_avx512;
        return true;
    }
    /* AMX: the canonical AVX2 kernel (on the device's Sapphire Rapids, f4q.gguf
     * tg64 -t 16, two runs each: 55.7 / 52.0 t/s against 49.8 / 49.5 with the
     * AVX512 integer vec_dot4 and 53.3 / 55.2 at the AVX512 level), or with
     * GDS_MXFP4_MV=512 the same arithmetic at 512 bits (gds_cpu_dot4_mxfp4p_avx512,
     * same bits; 2-core Zen 4, 1 thread, weights in L2: 17.4 GB/s against 14.8) */
    if (t == GDS_TYPE_MXFP4 && (simd == GDS_SIMD_AVX2 || simd == GDS_SIMD_AMX)) {
        ext->prep_size = gds_cpu_mxfp4_prep_size;
        ext->prep = gds_cpu_mxfp4_prep;
        ext->prep_block = 512;
        ext->dot4 = simd == GDS_SIMD_AMX && mxfp4_mv512 ? gds_cpu_dot4_mxfp4p_avx512 : gds_cpu_dot4_mxfp4p_avx2;
        ext->dot8 = NULL;
        return true;
    }
    if (t == GDS_TYPE_F8_E4M3_B128 && (simd == GDS_SIMD_AVX2 || gds_cpu_simd_is_avx512(simd))) {
        ext->prep_size = gds_cpu_f8_prep_size;
        ext->prep = gds_cpu_f8_prep;
        ext->prep_block = 576;
        ext->dot4 = gds_cpu_simd_is_avx512(simd) ? gds_cpu_dot4_f8p_avx512 : gds_cpu_dot4_f8p_avx2;
        ext->dot8 = NULL;
        return true;
    }
#endif
    GDS_UNUSED(t); GDS_UNUSED(simd); GDS_UNUSED(ext);
    return false;
}

/* ---- tables and dispatch ------------------------------------------------- */

static gds_from_float_row_fn ref_quantizer(enum gds_type t) {
    const struct gds_type_traits *tt = gds_type_traits(t);
    return tt ? tt->from_float_ref : NULL;
}

void gds_cpu_traits_scalar(struct gds_cpu_type_traits *tab) {
    tab[GDS_TYPE_F32] = (struct gds_cpu_type_traits){ GDS_TYPE_F32, ref_quantizer(GDS_TYPE_F32), dot_f32_scalar, NULL };
    tab[GDS_TYPE_F16] = (struct gds_cpu_type_traits){ GDS_TYPE_F16, ref_quantizer(GDS_TYPE_F16), dot_f16_scalar, NULL };
    tab[GDS_TYPE_BF16] = (struct gds_cpu_type_traits){ GDS_TYPE_BF16, ref_quantizer(GDS_TYPE_BF16), dot_bf16_scalar, NULL };
    tab[GDS_TYPE_Q8_0] = (struct gds_cpu_type_traits){ GDS_TYPE_Q8_0, ref_quantizer(GDS_TYPE_Q8_0), dot_q8_0_scalar, NULL };
    tab[GDS_TYPE_MXFP4] = (struct gds_cpu_type_traits){ GDS_TYPE_F8_E4M3_B128, ref_quantizer(GDS_TYPE_F8_E4M3_B128),
                                                        dot_mxfp4_scalar, NULL };
    tab[GDS_TYPE_F8_E4M3_B128] = (struct gds_cpu_type_traits){ GDS_TYPE_F8_E4M3_B128,
                                                               ref_quantizer(GDS_TYPE_F8_E4M3_B128), dot_f8_scalar, NULL };
}

static struct gds_cpu_type_traits traits[GDS_SIMD_COUNT][GDS_TYPE_COUNT];
static struct gds_cpu_type_traits traits_act_bf16[GDS_SIMD_COUNT][GDS_TYPE_COUNT];

/* F8 x BF16 kernels of the SIMD files (declared here because cpu.h is shared) */
void gds_cpu_dot_f8bf16_avx2(int64_t n, float *s, const void *w, const void *a);
void gds_cpu_dot_f8bf16_avx512(int64_t n, float *s, const void *w, const void *a);
void gds_cpu_dot_f8bf16_neon(int64_t n, float *s, const void *w, const void *a);
void gds_cpu_dot4_f8bf16_avx2(int64_t n, float *s, const void *w, size_t bw, const void *a);
void gds_cpu_dot4_f8bf16_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a);
void gds_cpu_dot_q8bf16_avx512(int64_t n, float *s, const void *w, const void *a);
void gds_cpu_dot4_q8bf16_avx512(int64_t n, float *s, const void *w, size_t bw, const void *a);

static void traits_init(void) {
    const char *mv = getenv("GDS_MXFP4_MV");
    mxfp4_mv512 = mv && !strcmp(mv, "512");
    tables_init();
    for (int s = 0; s < GDS_SIMD_COUNT; s++) {
        gds_cpu_traits_scalar(traits[s]);
        traits_act_bf16[s][GDS_TYPE_F8_E4M3_B128] =
            (struct gds_cpu_type_traits){ GDS_TYPE_BF16, ref_quantizer(GDS_TYPE_BF16), dot_f8bf16_scalar, NULL };
        traits_act_bf16[s][GDS_TYPE_Q8_0] =
            (struct gds_cpu_type_traits){ GDS_TYPE_BF16, ref_quantizer(GDS_TYPE_BF16), dot_q8bf16_scalar, NULL };
    }
#if defined(__x86_64__)
    traits_act_bf16[GDS_SIMD_AVX2][GDS_TYPE_F8_E4M3_B128].vec_dot = gds_cpu_dot_f8bf16_avx2;
    traits_act_bf16[GDS_SIMD_AVX512][GDS_TYPE_F8_E4M3_B128].vec_dot = gds_cpu_dot_f8bf16_avx512;
    traits_act_bf16[GDS_SIMD_AVX2][GDS_TYPE_F8_E4M3_B128].vec_dot4 = gds_cpu_dot4_f8bf16_avx2;
    traits_act_bf16[GDS_SIMD_AVX512][GDS_TYPE_F8_E4M3_B128].vec_dot4 = gds_cpu_dot4_f8bf16_avx512;
    traits_act_bf16[GDS_SIMD_AVX512][GDS_TYPE_Q8_0].vec_dot = gds_cpu_dot_q8bf16_avx512;
    traits_act_bf16[GDS_SIMD_AVX512][GDS_TYPE_Q8_0].vec_dot4 = gds_cpu_dot4_q8bf16_avx512;
#endif
#if defined(__aarch64__)
    traits_act_bf16[GDS_SIMD_NEON][GDS_TYPE_F8_E4M3_B128].vec_dot = gds_cpu_dot_f8bf16_neon;
#endif
#if defined(__x86_64__)
    gds_cpu_traits_avx2(traits[GDS_SIMD_AVX2]);
    gds_cpu_traits_avx512(traits[GDS_SIMD_AVX512]);
    /* AMX: the AVX512 mat-vec kernels (prefill tiles differ, tiles.c) */
    memcpy(traits[GDS_SIMD_AMX], traits[GDS_SIMD_AVX512], sizeof(traits[GDS_SIMD_AMX]));
    memcpy(traits_act_bf16[GDS_SIMD_AMX], traits_act_bf16[GDS_SIMD_AVX512], sizeof(traits_act_bf16[GDS_SIMD_AMX]));
#endif
#if defined(__aarch64__)
    gds_cpu_traits_neon(traits[GDS_SIMD_NEON]);
#endif
}

const struct gds_cpu_type_traits *gds_cpu_type_traits(enum gds_type t, enum gds_cpu_simd simd) {
    pthread_once(&traits_once, traits_init);
    if ((unsigned)t >= GDS_TYPE_COUNT || (unsigned)simd >= GDS_SIMD_COUNT) return NULL;
    const struct gds_cpu_type_traits *tt = &traits[simd][t];
    return tt->vec_dot ? tt : NULL;
}

/* traits for mul_mat flags (op_params[0], gds.h): GDS_MM_ACT_BF16 gives the
 * F8 x BF16 kernels for F8_E4M3_B128 weights and the plain BF16 traits for
 * BF16 weights. Declared in cpu.h. */
const struct gds_cpu_type_traits *gds_cpu_type_traits_mm(enum gds_type t, enum gds_cpu_simd simd, int32_t flags) {
    if (!(flags & GDS_MM_ACT_BF16) || t == GDS_TYPE_BF16) return gds_cpu_type_traits(t, simd);
    pthread_once(&traits_once, traits_init);
    if ((unsigned)t >= GDS_TYPE_COUNT || (unsigned)simd >= GDS_SIMD_COUNT) return NULL;
    const struct gds_cpu_type_traits *tt = &traits_act_bf16[simd][t];
    return tt->vec_dot ? tt : NULL;
}
