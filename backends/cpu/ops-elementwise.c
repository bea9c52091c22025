/*
 * ops-elementwise.c - CPU kernels for data movement and elementwise maps:
 * CPY, GET_ROWS, SET_ROWS, CONCAT, ADD/MUL/DIV, SCALE, SQRT, SIGMOID, SOFTPLUS,
 * SILU, SWIGLU, SUM_ROWS.
 *
 * Invariants:
 * - Semantics are the op comments of gds.h; every map is plain fp32 (no FMA
 *   contraction: the build uses -std=c11, i.e. -ffp-contract=off).
 * - Work is split over output rows with gds_cpu_split; each output element is
 *   written by one thread in an order independent of nth, so results are
 *   bit-identical for any thread count. SET_ROWS splits over destination rows
 *   (every thread scans all ids and writes only the rows it owns), so duplicate
 *   ids resolve deterministically: the last one in id order wins.
 * - Input rows may be strided (nb[1..3]); CPY also accepts any nb[0] for
 *   non-quantized types (transposed views). Outputs built by the op
 *   constructors are contiguous, but the kernels index them through nb anyway.
 * - No global mutable state; scratch lives on the stack.
 */
#include "cpu.h"

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- element / row conversions for the plain (non-block) types ---------- */

static inline float gds_load_elem(enum gds_type t, const char *p) {
    switch (t) {
    case GDS_TYPE_F32: { float v; memcpy(&v, p, 4); return v; }
    case GDS_TYPE_F16: { gds_fp16_t h; memcpy(&h, p, 2); return gds_fp16_to_fp32(h); }
    case GDS_TYPE_BF16: { gds_bf16_t h; memcpy(&h, p, 2); return gds_bf16_to_fp32(h); }
    case GDS_TYPE_I32: { int32_t v; memcpy(&v, p, 4); return (float)v; }
    default: GDS_ASSERT(!"unsupported element type"); return 0.0f;
    }
}

static inline void gds_store_elem(enum gds_type t, char *p, float v) {
    switch (t) {
    case GDS_TYPE_F32: memcpy(p, &v, 4); break;
    case GDS_TYPE_F16: { gds_fp16_t h = gds_fp32_to_fp16(v); memcpy(p, &h, 2); break; }
    case GDS_TYPE_BF16: { gds_bf16_t h = gds_fp32_to_bf16(v); memcpy(p, &h, 2); break; }
    case GDS_TYPE_I32: { int32_t i = (int32_t)v; memcpy(p, &i, 4); break; }
    default: GDS_ASSERT(!"unsupported element type");
    }
}

static bool gds_is_block_type(enum gds_type t) {
    const struct gds_type_traits *tr = gds_type_traits(t);
    GDS_ASSERT(tr != NULL);
    return tr->is_quantized || tr->blck_size != 1;
}

/* n elements of a row (element stride s bytes, ignored for block types) -> f32 */
static void gds_row_to_f32(enum gds_type t, const char *src, size_t s, float *y, int64_t n) {
    if (t == GDS_TYPE_F32 && s == 4) { memcpy(y, src, (size_t)n * 4); return; }
    if (gds_is_block_type(t)) {
        const struct gds_type_traits *tr = gds_type_traits(t);
        GDS_ASSERT(n % tr->blck_size == 0 && tr->to_float);
        tr->to_float(src, y, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) y[i] = gds_load_elem(t, src + i * s);
}

/* f32 -> n elements of a row (element stride s bytes, ignored for block types) */
static void gds_row_from_f32(enum gds_type t, const float *x, char *dst, size_t s, int64_t n) {
    if (t == GDS_TYPE_F32 && s == 4) { memcpy(dst, x, (size_t)n * 4); return; }
    if (gds_is_block_type(t)) {
        const struct gds_type_traits *tr = gds_type_traits(t);
        GDS_ASSERT(n % tr->blck_size == 0 && tr->from_float_ref);
        tr->from_float_ref(x, dst, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) gds_store_elem(t, dst + i * s, x[i]);
}

static inline const char *gds_row_ptr(const struct gds_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (const char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}
static inline char *gds_row_ptr_w(struct gds_tensor *t, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

/* flat row index -> (i1, i2, i3) */
static inline void gds_unravel_row(const struct gds_tensor *t, int64_t r, int64_t *i1, int64_t *i2, int64_t *i3) {
    *i1 = r % t->ne[1]; r /= t->ne[1];
    *i2 = r % t->ne[2];
    *i3 = r / t->ne[2];
}

/* chunk for block conversions: a multiple of every block size (32, 128, 512) */
#define GDS_CPY_CHUNK 2048

/* ---- CPY ------------------------------------------------------------------ */

void gds_cpu_op_cpy(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *src = dst->src[0];
    const enum gds_type ts = src->type, td = dst->type;
    const bool bs = gds_is_block_type(ts), bd = gds_is_block_type(td);
    bool same_shape = true;
    for (int d = 0; d < GDS_MAX_DIMS; d++) same_shape = same_shape && src->ne[d] == dst->ne[d];

    if (same_shape) {
        const int64_t ne0 = src->ne[0], nr = gds_nrows(src);
        int64_t r0, r1;
        gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
        const size_t ess = bs ? 0 : gds_type_traits(ts)->type_size;
        const size_t esd = bd ? 0 : gds_type_traits(td)->type_size;
        /* plain memcpy of whole rows when the layouts agree */
        const bool raw = ts == td && (bs || (src->nb[0] == ess && dst->nb[0] == esd));
        const size_t row_bytes = gds_row_size(ts, ne0);
        float buf[GDS_CPY_CHUNK];
        for (int64_t r = r0; r < r1; r++) {
            int64_t i1, i2, i3;
            gds_unravel_row(src, r, &i1, &i2, &i3);
            const char *sp = gds_row_ptr(src, i1, i2, i3);
            char *dp = gds_row_ptr_w(dst, i1, i2, i3);
            if (raw) { memmove(dp, sp, row_bytes); continue; }
            if (!bs && !bd) {
                const size_t s0 = src->nb[0], d0 = dst->nb[0];
                if (ts == GDS_TYPE_F32 && s0 == 4) { gds_row_from_f32(td, (const float *)sp, dp, d0, ne0); continue; }
                if (td == GDS_TYPE_F32 && d0 == 4) { gds_row_to_f32(ts, sp, s0, (float *)dp, ne0); continue; }
                if (ts == td) { /* same type, strided: copy the element bytes (exact for I32) */
                    for (int64_t i = 0; i < ne0; i++) memcpy(dp + i * d0, sp + i * s0, ess);
                    continue;
                }
                for (int64_t i = 0; i < ne0; i++) gds_store_elem(td, dp + i * d0, gds_load_elem(ts, sp + i * s0));
                continue;
            }
            /* through an f32 buffer, in chunks aligned to the block sizes */
            const struct gds_type_traits *trs = gds_type_traits(ts), *trd = gds_type_traits(td);
            if (bs) GDS_ASSERT(ne0 % trs->blck_size == 0);
            if (bd) GDS_ASSERT(ne0 % trd->blck_size == 0);
            for (int64_t c0 = 0; c0 < ne0; c0 += GDS_CPY_CHUNK) {
                const int64_t n = ne0 - c0 < GDS_CPY_CHUNK ? ne0 - c0 : GDS_CPY_CHUNK;
                const char *sc = bs ? sp + (size_t)(c0 / trs->blck_size) * trs->type_size : sp + c0 * src->nb[0];
                char *dc = bd ? dp + (size_t)(c0 / trd->blck_size) * trd->type_size : dp + c0 * dst->nb[0];
                gds_row_to_f32(ts, sc, bs ? 0 : src->nb[0], buf, n);
                gds_row_from_f32(td, buf, dc, bd ? 0 : dst->nb[0], n);
            }
        }
        return;
    }

    /* different shapes, same element count: logical (row-major) element order */
    GDS_ASSERT(!bs && !bd && gds_nelements(src) == gds_nelements(dst));
    const int64_t ne0 = src->ne[0], nr = gds_nrows(src);
    const size_t es = gds_type_traits(ts)->type_size;
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        gds_unravel_row(src, r, &i1, &i2, &i3);
        const char *sp = gds_row_ptr(src, i1, i2, i3);
        int64_t lin = r * ne0, j[4];
        j[0] = lin % dst->ne[0]; lin /= dst->ne[0];
        j[1] = lin % dst->ne[1]; lin /= dst->ne[1];
        j[2] = lin % dst->ne[2];
        j[3] = lin / dst->ne[2];
        for (int64_t i = 0; i < ne0; i++) {
            char *dp = (char *)dst->data + j[0] * dst->nb[0] + j[1] * dst->nb[1] + j[2] * dst->nb[2] + j[3] * dst->nb[3];
            if (ts == td) memcpy(dp, sp + i * src->nb[0], es);
            else gds_store_elem(td, dp, gds_load_elem(ts, sp + i * src->nb[0]));
            if (++j[0] == dst->ne[0]) {
                j[0] = 0;
                if (++j[1] == dst->ne[1]) { j[1] = 0; if (++j[2] == dst->ne[2]) { j[2] = 0; j[3]++; } }
            }
        }
    }
}

/* ---- GET_ROWS / SET_ROWS ------------------------------------------------------ */

void gds_cpu_op_get_rows(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *a = dst->src[0], *ids = dst->src[1];
    GDS_ASSERT(ids->type == GDS_TYPE_I32);
    const int64_t ne0 = a->ne[0], nr = gds_nrows(dst);
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        gds_unravel_row(dst, r, &i1, &i2, &i3);
        const int32_t id = *gds_i32_ptr(ids, i1, i2, i3, 0);
        float *y = (float *)gds_row_ptr_w(dst, i1, i2, i3);
        if (id < 0 || id >= a->ne[1]) { memset(y, 0, (size_t)ne0 * sizeof(float)); continue; }
        const char *sp = gds_row_ptr(a, id, i2 % a->ne[2], i3 % a->ne[3]);
        gds_row_to_f32(a->type, sp, a->nb[0], y, ne0);
    }
}

void gds_cpu_op_set_rows(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    /* dst: view of src[0] (same memory); src[1]: rows F32; src[2]: ids I32 */
    const struct gds_tensor *s = dst->src[1], *ids = dst->src[2];
    GDS_ASSERT(ids->type == GDS_TYPE_I32 && s->ne[0] == dst->ne[0]);
    const int64_t ne0 = dst->ne[0], nrows_dst = dst->ne[1];
    int64_t o0, o1; /* destination rows (flat over ne1, ne2, ne3) owned by this thread */
    gds_cpu_split(gds_nrows(dst), p->ith, p->nth, &o0, &o1);
    if (o0 >= o1) return;
    const bool block = gds_is_block_type(dst->type);
    const struct gds_type_traits *trd = gds_type_traits(dst->type);
    float buf[GDS_CPY_CHUNK];
    for (int64_t i3 = 0; i3 < s->ne[3]; i3++) {
        for (int64_t i2 = 0; i2 < s->ne[2]; i2++) {
            const int64_t j2 = i2 % dst->ne[2], j3 = i3 % dst->ne[3];
            const int64_t base = nrows_dst * (j2 + dst->ne[2] * j3);
            if (base + nrows_dst <= o0 || base >= o1) continue;
            for (int64_t i1 = 0; i1 < s->ne[1]; i1++) {
                const int32_t id = *gds_i32_ptr(ids, i1, i2 % ids->ne[1], i3 % ids->ne[2], 0);
                if (id < 0 || id >= nrows_dst) continue;
                const int64_t flat = base + id;
                if (flat < o0 || flat >= o1) continue;
                const char *sp = gds_row_ptr(s, i1, i2, i3);
                char *dp = gds_row_ptr_w(dst, id, j2, j3);
                if (s->type == GDS_TYPE_F32 && s->nb[0] == 4) {
                    gds_row_from_f32(dst->type, (const float *)sp, dp, dst->nb[0], ne0);
                } else {
                    for (int64_t c0 = 0; c0 < ne0; c0 += GDS_CPY_CHUNK) {
                        const int64_t n = ne0 - c0 < GDS_CPY_CHUNK ? ne0 - c0 : GDS_CPY_CHUNK;
                        gds_row_to_f32(s->type, sp + c0 * s->nb[0], s->nb[0], buf, n);
                        if (block) {
                            gds_row_from_f32(dst->type, buf, dp + (size_t)(c0 / trd->blck_size) * trd->type_size, 0, n);
                        } else {
                            gds_row_from_f32(dst->type, buf, dp + c0 * dst->nb[0], dst->nb[0], n);
                        }
                    }
                }
            }
        }
    }
}

/* ---- CONCAT ------------------------------------------------------------------- */

void gds_cpu_op_concat(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *a = dst->src[0], *b = dst->src[1];
    const int dim = gds_get_op_param_i32(dst, GDS_P_CONCAT_DIM);
    GDS_ASSERT(dim >= 0 && dim < GDS_MAX_DIMS);
    const int64_t nr = gds_nrows(dst);
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i[4];
        gds_unravel_row(dst, r, &i[1], &i[2], &i[3]);
        float *y = (float *)gds_row_ptr_w(dst, i[1], i[2], i[3]);
        if (dim == 0) {
            gds_row_to_f32(a->type, gds_row_ptr(a, i[1], i[2], i[3]), a->nb[0], y, a->ne[0]);
            gds_row_to_f32(b->type, gds_row_ptr(b, i[1], i[2], i[3]), b->nb[0], y + a->ne[0], b->ne[0]);
            continue;
        }
        const struct gds_tensor *s = a;
        if (i[dim] >= a->ne[dim]) { s = b; i[dim] -= a->ne[dim]; }
        gds_row_to_f32(s->type, gds_row_ptr(s, i[1], i[2], i[3]), s->nb[0], y, s->ne[0]);
    }
}

/* ---- ADD / MUL / DIV (b broadcast over a by modulo) ------------------------------ */

enum gds_binop { GDS_BIN_ADD, GDS_BIN_MUL, GDS_BIN_DIV };

static void gds_binary(const struct gds_cpu_params *p, struct gds_tensor *dst, enum gds_binop op) {
    const struct gds_tensor *a = dst->src[0], *b = dst->src[1];
    GDS_ASSERT(a->type == GDS_TYPE_F32 && b->type == GDS_TYPE_F32);
    GDS_ASSERT(a->nb[0] == 4 && b->nb[0] == 4);
    const int64_t ne0 = a->ne[0], nb0 = b->ne[0], nr = gds_nrows(a);
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        gds_unravel_row(a, r, &i1, &i2, &i3);
        const float *x = (const float *)gds_row_ptr(a, i1, i2, i3);
        const float *w = (const float *)gds_row_ptr(b, i1 % b->ne[1], i2 % b->ne[2], i3 % b->ne[3]);
        float *y = (float *)gds_row_ptr_w(dst, i1, i2, i3);
        if (nb0 == ne0 || nb0 == 1) {
            /* SSE2 (x86-64 baseline) lanes do the same IEEE operation per
             * element: same bits; the scalar loop takes the rest (GCC -O2 does
             * not vectorize these loops: y may alias x or w) */
            const int64_t ws = nb0 == 1 ? 0 : 1; /* w stride: broadcast or per element */
            int64_t i = 0;
#if defined(__SSE2__)
            const __m128 c4 = _mm_set1_ps(w[0]);
            for (; i + 4 <= ne0; i += 4) {
                const __m128 a4 = _mm_loadu_ps(x + i), b4 = ws ? _mm_loadu_ps(w + i) : c4;
                _mm_storeu_ps(y + i, op == GDS_BIN_ADD ? _mm_add_ps(a4, b4) : op == GDS_BIN_MUL ? _mm_mul_ps(a4, b4) : _mm_div_ps(a4, b4));
            }
#endif
            switch (op) {
            case GDS_BIN_ADD: for (; i < ne0; i++) y[i] = x[i] + w[i * ws]; break;
            case GDS_BIN_MUL: for (; i < ne0; i++) y[i] = x[i] * w[i * ws]; break;
            case GDS_BIN_DIV: for (; i < ne0; i++) y[i] = x[i] / w[i * ws]; break;
            }
        } else {
            for (int64_t i0 = 0; i0 < ne0; i0 += nb0) {
                for (int64_t i = 0; i < nb0; i++) {
                    switch (op) {
                    case GDS_BIN_ADD: y[i0 + i] = x[i0 + i] + w[i]; break;
                    case GDS_BIN_MUL: y[i0 + i] = x[i0 + i] * w[i]; break;
                    case GDS_BIN_DIV: y[i0 + i] = x[i0 + i] / w[i]; break;
                    }
                }
            }
        }
    }
}

void gds_cpu_op_add(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_binary(p, dst, GDS_BIN_ADD); }
void gds_cpu_op_mul(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_binary(p, dst, GDS_BIN_MUL); }
void gds_cpu_op_div(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_binary(p, dst, GDS_BIN_DIV); }

/* ---- unary maps ------------------------------------------------------------------- */

enum gds_unop { GDS_UN_SCALE, GDS_UN_SQRT, GDS_UN_SIGMOID, GDS_UN_SOFTPLUS, GDS_UN_SILU };

static void gds_unary(const struct gds_cpu_params *p, struct gds_tensor *dst, enum gds_unop op) {
    const struct gds_tensor *a = dst->src[0];
    GDS_ASSERT(a->type == GDS_TYPE_F32 && a->nb[0] == 4);
    const int64_t ne0 = a->ne[0], nr = gds_nrows(a);
    float s = 1.0f, c = 0.0f;
    if (op == GDS_UN_SCALE) {
        s = gds_get_op_param_f32(dst, GDS_P_SCALE_S);
        c = gds_get_op_param_f32(dst, GDS_P_SCALE_B);
    }
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        gds_unravel_row(a, r, &i1, &i2, &i3);
        const float *x = (const float *)gds_row_ptr(a, i1, i2, i3);
        float *y = (float *)gds_row_ptr_w(dst, i1, i2, i3);
        switch (op) {
        case GDS_UN_SCALE:
            if (c == 0.0f) for (int64_t i = 0; i < ne0; i++) y[i] = x[i] * s;
            else for (int64_t i = 0; i < ne0; i++) y[i] = x[i] * s + c;
            break;
        case GDS_UN_SQRT:
            for (int64_t i = 0; i < ne0; i++) y[i] = sqrtf(x[i]);
            break;
        case GDS_UN_SIGMOID:
            for (int64_t i = 0; i < ne0; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
            break;
        case GDS_UN_SOFTPLUS:
            for (int64_t i = 0; i < ne0; i++) y[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
            break;
        case GDS_UN_SILU:
            for (int64_t i = 0; i < ne0; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
            break;
        }
    }
}

void gds_cpu_op_scale(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_unary(p, dst, GDS_UN_SCALE); }
void gds_cpu_op_sqrt(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_unary(p, dst, GDS_UN_SQRT); }
void gds_cpu_op_sigmoid(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_unary(p, dst, GDS_UN_SIGMOID); }
void gds_cpu_op_softplus(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_unary(p, dst, GDS_UN_SOFTPLUS); }
void gds_cpu_op_silu(const struct gds_cpu_params *p, struct gds_tensor *dst) { gds_unary(p, dst, GDS_UN_SILU); }

/* ---- SWIGLU: silu(min(g, L)) * clamp(u, -L, L); NaN propagates ------------------- */

void gds_cpu_op_swiglu(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *g = dst->src[0], *u = dst->src[1];
    GDS_ASSERT(g->type == GDS_TYPE_F32 && u->type == GDS_TYPE_F32 && g->nb[0] == 4 && u->nb[0] == 4);
    const float L = gds_get_op_param_f32(dst, GDS_P_SWIGLU_LIMIT);
    const int64_t ne0 = g->ne[0], nr = gds_nrows(g);
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        gds_unravel_row(g, r, &i1, &i2, &i3);
        const float *xg = (const float *)gds_row_ptr(g, i1, i2, i3);
        const float *xu = (const float *)gds_row_ptr(u, i1, i2, i3);
        float *y = (float *)gds_row_ptr_w(dst, i1, i2, i3);
        if (L > 0.0f) {
            for (int64_t i = 0; i < ne0; i++) {
                float a = xg[i] > L ? L : xg[i];
                float b = xu[i] > L ? L : (xu[i] < -L ? -L : xu[i]);
                y[i] = (a / (1.0f + expf(-a))) * b;
            }
        } else {
            for (int64_t i = 0; i < ne0; i++) y[i] = (xg[i] / (1.0f + expf(-xg[i]))) * xu[i];
        }
    }
}

/* ---- SUM_ROWS: sequential double accumulation (fixed order), one rounding -------- */

void gds_cpu_op_sum_rows(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *a = dst->src[0];
    GDS_ASSERT(a->type == GDS_TYPE_F32 && a->nb[0] == 4);
    const int64_t ne0 = a->ne[0], nr = gds_nrows(a);
    int64_t r0, r1;
    gds_cpu_split(nr, p->ith, p->nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int64_t i1, i2, i3;
        gds_unravel_row(a, r, &i1, &i2, &i3);
        const float *x = (const float *)gds_row_ptr(a, i1, i2, i3);
        double acc[4] = { 0, 0, 0, 0 };
        int64_t i = 0;
        for (; i + 4 <= ne0; i += 4) {
            acc[0] += x[i]; acc[1] += x[i + 1]; acc[2] += x[i + 2]; acc[3] += x[i + 3];
        }
        for (; i < ne0; i++) acc[0] += x[i];
        *(float *)gds_row_ptr_w(dst, i1, i2, i3) = (float)((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}
