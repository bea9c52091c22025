/*
 * ops.c - op constructors. Each validates operand shapes and types (GDS_ASSERT:
 * a bad graph is a programmer error), creates the result tensor and records
 * the op, its sources and parameters. Nothing is computed here; semantics are
 * documented once, in gds.h.
 */
#include "gds-impl.h"

#include <math.h>

static struct gds_tensor *new_op(struct gds_context *ctx, enum gds_op op, enum gds_type type, int n_dims, const int64_t *ne) {
    struct gds_tensor *t = gds_new_tensor(ctx, type, n_dims, ne);
    t->op = op;
    return t;
}

static struct gds_tensor *new_op_like(struct gds_context *ctx, enum gds_op op, const struct gds_tensor *a) {
    return new_op(ctx, op, GDS_TYPE_F32, GDS_MAX_DIMS, a->ne);
}

static void assert_f32_rows(const struct gds_tensor *t) {
    GDS_ASSERT(t->type == GDS_TYPE_F32 && t->nb[0] == sizeof(float));
}

static bool is_float_type(enum gds_type t) {
    return t == GDS_TYPE_F32 || t == GDS_TYPE_F16 || t == GDS_TYPE_BF16;
}

/* --- copies, rows, concat ------------------------------------------------ */

struct gds_tensor *gds_cpy(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b) {
    GDS_ASSERT(gds_nelements(a) == gds_nelements(b));
    GDS_ASSERT(gds_are_same_shape(a, b) || (gds_is_contiguous(a) && gds_is_contiguous(b)));
    bool ok = (is_float_type(a->type) && is_float_type(b->type)) ||
              (a->type == GDS_TYPE_F32 && gds_type_traits(b->type)->is_quantized) ||
              (gds_type_traits(a->type)->is_quantized && b->type == GDS_TYPE_F32) ||
              (a->type == GDS_TYPE_I32 && b->type == GDS_TYPE_I32);
    GDS_ASSERT(ok);
    struct gds_tensor *t = gds_view_4d(ctx, b, b->ne[0], b->ne[1], b->ne[2], b->ne[3], b->nb[1], b->nb[2], b->nb[3], 0);
    t->op = GDS_OP_CPY;
    t->src[0] = a;
    t->src[1] = b;
    return t;
}

struct gds_tensor *gds_cont(struct gds_context *ctx, struct gds_tensor *a) {
    struct gds_tensor *b = gds_new_tensor(ctx, GDS_TYPE_F32, GDS_MAX_DIMS, a->ne);
    return gds_cpy(ctx, a, b);
}

struct gds_tensor *gds_get_rows(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *ids) {
    GDS_ASSERT(ids->type == GDS_TYPE_I32 && ids->nb[0] == 4);
    GDS_ASSERT(ids->ne[1] == a->ne[2] && ids->ne[2] == 1 && ids->ne[3] == 1 && a->ne[3] == 1);
    int64_t ne[3] = { a->ne[0], ids->ne[0], a->ne[2] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_GET_ROWS, GDS_TYPE_F32, 3, ne);
    t->src[0] = a;
    t->src[1] = ids;
    return t;
}

struct gds_tensor *gds_set_rows(struct gds_context *ctx, struct gds_tensor *dst, struct gds_tensor *src, struct gds_tensor *ids) {
    const struct gds_type_traits *dt = gds_type_traits(dst->type);
    GDS_ASSERT(dt != NULL && dst->nb[0] == dt->type_size);
    GDS_ASSERT(is_float_type(dst->type) || (dt->is_quantized && dt->from_float_ref != NULL));
    assert_f32_rows(src);
    GDS_ASSERT(ids->type == GDS_TYPE_I32 && ids->nb[0] == 4);
    GDS_ASSERT(src->ne[0] == dst->ne[0] && src->ne[1] == ids->ne[0]);
    GDS_ASSERT(src->ne[2] == dst->ne[2] && ids->ne[1] == dst->ne[2] && dst->ne[3] == 1 && src->ne[3] == 1);
    struct gds_tensor *t = gds_view_4d(ctx, dst, dst->ne[0], dst->ne[1], dst->ne[2], dst->ne[3], dst->nb[1], dst->nb[2], dst->nb[3], 0);
    t->op = GDS_OP_SET_ROWS;
    t->src[0] = dst;
    t->src[1] = src;
    t->src[2] = ids;
    return t;
}

struct gds_tensor *gds_concat(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b, int dim) {
    GDS_ASSERT(dim >= 0 && dim < GDS_MAX_DIMS);
    assert_f32_rows(a);
    assert_f32_rows(b);
    int64_t ne[4];
    for (int i = 0; i < 4; i++) {
        GDS_ASSERT(i == dim || a->ne[i] == b->ne[i]);
        ne[i] = i == dim ? a->ne[i] + b->ne[i] : a->ne[i];
    }
    struct gds_tensor *t = new_op(ctx, GDS_OP_CONCAT, GDS_TYPE_F32, 4, ne);
    t->src[0] = a;
    t->src[1] = b;
    gds_set_op_param_i32(t, GDS_P_CONCAT_DIM, dim);
    return t;
}

/* --- elementwise ------------------------------------------------------------ */

static struct gds_tensor *binary(struct gds_context *ctx, enum gds_op op, struct gds_tensor *a, struct gds_tensor *b) {
    assert_f32_rows(a);
    assert_f32_rows(b);
    GDS_ASSERT(gds_can_repeat(b, a));
    struct gds_tensor *t = new_op_like(ctx, op, a);
    t->src[0] = a;
    t->src[1] = b;
    return t;
}
struct gds_tensor *gds_add(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b) { return binary(ctx, GDS_OP_ADD, a, b); }
struct gds_tensor *gds_mul(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b) { return binary(ctx, GDS_OP_MUL, a, b); }
struct gds_tensor *gds_div(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b) { return binary(ctx, GDS_OP_DIV, a, b); }

static struct gds_tensor *unary(struct gds_context *ctx, enum gds_op op, struct gds_tensor *a) {
    assert_f32_rows(a);
    struct gds_tensor *t = new_op_like(ctx, op, a);
    t->src[0] = a;
    return t;
}

struct gds_tensor *gds_scale(struct gds_context *ctx, struct gds_tensor *a, float s, float b) {
    struct gds_tensor *t = unary(ctx, GDS_OP_SCALE, a);
    gds_set_op_param_f32(t, GDS_P_SCALE_S, s);
    gds_set_op_param_f32(t, GDS_P_SCALE_B, b);
    return t;
}
struct gds_tensor *gds_sqrt(struct gds_context *ctx, struct gds_tensor *a) { return unary(ctx, GDS_OP_SQRT, a); }
struct gds_tensor *gds_sigmoid(struct gds_context *ctx, struct gds_tensor *a) { return unary(ctx, GDS_OP_SIGMOID, a); }
struct gds_tensor *gds_softplus(struct gds_context *ctx, struct gds_tensor *a) { return unary(ctx, GDS_OP_SOFTPLUS, a); }
struct gds_tensor *gds_silu(struct gds_context *ctx, struct gds_tensor *a) { return unary(ctx, GDS_OP_SILU, a); }

struct gds_tensor *gds_swiglu(struct gds_context *ctx, struct gds_tensor *g, struct gds_tensor *u, float limit) {
    assert_f32_rows(g);
    assert_f32_rows(u);
    GDS_ASSERT(gds_are_same_shape(g, u));
    struct gds_tensor *t = new_op_like(ctx, GDS_OP_SWIGLU, g);
    t->src[0] = g;
    t->src[1] = u;
    gds_set_op_param_f32(t, GDS_P_SWIGLU_LIMIT, limit);
    return t;
}

struct gds_tensor *gds_rms_norm(struct gds_context *ctx, struct gds_tensor *x, struct gds_tensor *w, float eps) {
    assert_f32_rows(x);
    if (w) {
        GDS_ASSERT(w->type == GDS_TYPE_F32 && gds_is_contiguous(w) && w->ne[0] == x->ne[0] && gds_nelements(w) == w->ne[0]);
    }
    struct gds_tensor *t = new_op_like(ctx, GDS_OP_RMS_NORM, x);
    t->src[0] = x;
    t->src[1] = w;
    gds_set_op_param_f32(t, GDS_P_NORM_EPS, eps);
    return t;
}

struct gds_tensor *gds_sum_rows(struct gds_context *ctx, struct gds_tensor *x) {
    assert_f32_rows(x);
    int64_t ne[4] = { 1, x->ne[1], x->ne[2], x->ne[3] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_SUM_ROWS, GDS_TYPE_F32, 4, ne);
    t->src[0] = x;
    return t;
}

struct gds_tensor *gds_soft_max(struct gds_context *ctx, struct gds_tensor *x, struct gds_tensor *mask, struct gds_tensor *sinks, float scale) {
    assert_f32_rows(x);
    if (mask) {
        assert_f32_rows(mask);
        GDS_ASSERT(mask->ne[0] == x->ne[0] && mask->ne[1] == x->ne[1] && mask->ne[2] == 1 && mask->ne[3] == 1);
    }
    if (sinks) {
        GDS_ASSERT(sinks->type == GDS_TYPE_F32 && gds_is_contiguous(sinks) && gds_nelements(sinks) == x->ne[2]);
    }
    struct gds_tensor *t = new_op_like(ctx, GDS_OP_SOFT_MAX, x);
    t->src[0] = x;
    t->src[1] = mask;
    t->src[2] = sinks;
    gds_set_op_param_f32(t, GDS_P_SOFTMAX_SCALE, scale);
    return t;
}

/* --- positional, rotations, rounding ---------------------------------------- */

/* ROPE's fp32 frequency table of n_rot/2 pairs (spec 3.8): one definition
 * for every backend's kernel (the CPU's, and the CUDA host code that hands
 * the table to its kernel) */
void gds_rope_freqs(float *freq, int n_rot, float base, float factor, float orig, float beta_fast, float beta_slow) {
    const int np = n_rot / 2;
    for (int i = 0; i < np; i++) freq[i] = 1.0f / powf(base, (float)(2 * i) / (float)n_rot);
    if (!(factor > 1.0f)) return;
    /* find_correction_dim / find_correction_range, in double (Python floats) */
    const double two_pi = 6.283185307179586;
    const double c_fast = (double)n_rot * log((double)orig / ((double)beta_fast * two_pi)) / (2.0 * log((double)base));
    const double c_slow = (double)n_rot * log((double)orig / ((double)beta_slow * two_pi)) / (2.0 * log((double)base));
    double low = floor(c_fast), high = ceil(c_slow);
    if (low < 0) low = 0;
    if (high > n_rot - 1) high = n_rot - 1;
    if (low == high) high += 0.001;
    const float flow = (float)low, range = (float)(high - low);
    for (int i = 0; i < np; i++) {
        float ramp = ((float)i - flow) / range;
        ramp = ramp < 0.0f ? 0.0f : (ramp > 1.0f ? 1.0f : ramp);
        const float s = 1.0f - ramp;
        const float a = (freq[i] / factor) * (1.0f - s);
        const float b = freq[i] * s;
        freq[i] = a + b;
    }
}

struct gds_tensor *gds_rope(struct gds_context *ctx, struct gds_tensor *x, struct gds_tensor *pos, struct gds_rope_params p) {
    assert_f32_rows(x);
    GDS_ASSERT(pos->type == GDS_TYPE_I32 && gds_is_contiguous(pos) && gds_nelements(pos) == x->ne[2]);
    GDS_ASSERT(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= x->ne[0]);
    GDS_ASSERT(p.base > 0);
    struct gds_tensor *t = new_op_like(ctx, GDS_OP_ROPE, x);
    t->src[0] = x;
    t->src[1] = pos;
    gds_set_op_param_i32(t, GDS_P_ROPE_NROT, p.n_rot);
    gds_set_op_param_f32(t, GDS_P_ROPE_BASE, p.base);
    gds_set_op_param_f32(t, GDS_P_ROPE_YFACTOR, p.yarn_factor);
    gds_set_op_param_f32(t, GDS_P_ROPE_YORIG, p.yarn_orig_ctx);
    gds_set_op_param_f32(t, GDS_P_ROPE_YFAST, p.yarn_beta_fast);
    gds_set_op_param_f32(t, GDS_P_ROPE_YSLOW, p.yarn_beta_slow);
    gds_set_op_param_i32(t, GDS_P_ROPE_INV, p.inverse ? 1 : 0);
    return t;
}

struct gds_tensor *gds_hadamard(struct gds_context *ctx, struct gds_tensor *x) {
    assert_f32_rows(x);
    GDS_ASSERT(x->ne[0] % 128 == 0);
    struct gds_tensor *t = new_op_like(ctx, GDS_OP_HADAMARD, x);
    t->src[0] = x;
    return t;
}

struct gds_tensor *gds_quant_sim(struct gds_context *ctx, struct gds_tensor *x, enum gds_sim_mode mode, int block, int n_dims) {
    assert_f32_rows(x);
    if (n_dims == 0) n_dims = (int)x->ne[0];
    GDS_ASSERT(n_dims > 0 && n_dims <= x->ne[0]);
    GDS_ASSERT(mode == GDS_SIM_BF16 || mode == GDS_SIM_FP8 || mode == GDS_SIM_FP4);
    if (mode != GDS_SIM_BF16) GDS_ASSERT(block > 0 && n_dims % block == 0);
    struct gds_tensor *t = new_op_like(ctx, GDS_OP_QUANT_SIM, x);
    t->src[0] = x;
    gds_set_op_param_i32(t, GDS_P_SIM_MODE, mode);
    gds_set_op_param_i32(t, GDS_P_SIM_BLOCK, block);
    gds_set_op_param_i32(t, GDS_P_SIM_NDIMS, n_dims);
    return t;
}

struct gds_tensor *gds_top_k(struct gds_context *ctx, struct gds_tensor *x, int k) {
    assert_f32_rows(x);
    GDS_ASSERT(k > 0 && k <= x->ne[0]);
    int64_t ne[4] = { k, x->ne[1], x->ne[2], x->ne[3] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_TOP_K, GDS_TYPE_I32, 4, ne);
    t->src[0] = x;
    gds_set_op_param_i32(t, GDS_P_TOPK_K, k);
    return t;
}

/* --- matrix products ---------------------------------------------------------- */

static void assert_weight(const struct gds_tensor *w) {
    const struct gds_type_traits *tt = gds_type_traits(w->type);
    GDS_ASSERT(tt && tt->name && w->type != GDS_TYPE_I32);
    GDS_ASSERT(w->nb[0] == tt->type_size && w->ne[0] % tt->blck_size == 0);
    if (w->type == GDS_TYPE_MXFP4 || w->type == GDS_TYPE_F8_E4M3_B128) GDS_ASSERT(w->ne[0] % 128 == 0);
}

struct gds_tensor *gds_mul_mat(struct gds_context *ctx, struct gds_tensor *w, struct gds_tensor *x) {
    return gds_mul_mat_ext(ctx, w, x, 0);
}

/* op_params[0] = flags (enum gds_mm_flags), read by the backends */
struct gds_tensor *gds_mul_mat_ext(struct gds_context *ctx, struct gds_tensor *w, struct gds_tensor *x, int flags) {
    GDS_ASSERT((flags & ~GDS_MM_ACT_BF16) == 0);
    if (flags & GDS_MM_ACT_BF16) GDS_ASSERT(w->type == GDS_TYPE_F8_E4M3_B128 || w->type == GDS_TYPE_Q8_0 || w->type == GDS_TYPE_BF16);
    assert_weight(w);
    assert_f32_rows(x);
    GDS_ASSERT(w->ne[0] == x->ne[0]);
    GDS_ASSERT(x->ne[2] % w->ne[2] == 0 && x->ne[3] % w->ne[3] == 0);
    int64_t ne[4] = { w->ne[1], x->ne[1], x->ne[2], x->ne[3] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_MUL_MAT, GDS_TYPE_F32, 4, ne);
    t->src[0] = w;
    t->src[1] = x;
    gds_set_op_param_i32(t, 0, flags);
    return t;
}

struct gds_tensor *gds_mul_mat_id(struct gds_context *ctx, struct gds_tensor *w, struct gds_tensor *x, struct gds_tensor *ids) {
    assert_weight(w);
    assert_f32_rows(x);
    GDS_ASSERT(ids->type == GDS_TYPE_I32 && ids->nb[0] == 4);
    GDS_ASSERT(w->ne[0] == x->ne[0] && w->ne[3] == 1);
    GDS_ASSERT(x->ne[1] == 1 || x->ne[1] == ids->ne[0]);
    GDS_ASSERT(x->ne[2] == ids->ne[1] && x->ne[3] == 1 && ids->ne[2] == 1 && ids->ne[3] == 1);
    int64_t ne[3] = { w->ne[1], ids->ne[0], ids->ne[1] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_MUL_MAT_ID, GDS_TYPE_F32, 3, ne);
    t->src[0] = w;
    t->src[1] = x;
    t->src[2] = ids;
    return t;
}

/* --- DeepSeek-V4 fused ops ------------------------------------------------------ */

struct gds_tensor *gds_hc_comb(struct gds_context *ctx, struct gds_tensor *X, struct gds_tensor *fn, struct gds_tensor *scale,
                               struct gds_tensor *base, float eps, float hc_eps, int iters) {
    assert_f32_rows(X);
    GDS_ASSERT(X->ne[3] == 1);
    const int64_t D = X->ne[0], HC = X->ne[1], n_mix = fn->ne[1];
    GDS_ASSERT(fn->type == GDS_TYPE_F32 && gds_is_contiguous(fn) && fn->ne[0] == HC * D && fn->ne[2] == 1);
    GDS_ASSERT(n_mix == (2 + HC) * HC || n_mix == HC);
    GDS_ASSERT(scale->type == GDS_TYPE_F32 && gds_is_contiguous(scale) && gds_nelements(scale) == (n_mix == HC ? 1 : 3));
    GDS_ASSERT(base->type == GDS_TYPE_F32 && gds_is_contiguous(base) && gds_nelements(base) == n_mix);
    GDS_ASSERT(iters >= 1);
    int64_t ne[2] = { n_mix, X->ne[2] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_HC_COMB, GDS_TYPE_F32, 2, ne);
    t->src[0] = X;
    t->src[1] = fn;
    t->src[2] = scale;
    t->src[3] = base;
    gds_set_op_param_f32(t, GDS_P_HC_EPS, eps);
    gds_set_op_param_f32(t, GDS_P_HC_HCEPS, hc_eps);
    gds_set_op_param_i32(t, GDS_P_HC_ITERS, iters);
    return t;
}

struct gds_tensor *gds_hc_pre(struct gds_context *ctx, struct gds_tensor *X, struct gds_tensor *comb) {
    assert_f32_rows(X);
    assert_f32_rows(comb);
    GDS_ASSERT(X->ne[3] == 1 && comb->ne[0] >= X->ne[1] && comb->ne[1] == X->ne[2] && comb->ne[2] == 1);
    int64_t ne[2] = { X->ne[0], X->ne[2] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_HC_PRE, GDS_TYPE_F32, 2, ne);
    t->src[0] = X;
    t->src[1] = comb;
    return t;
}

struct gds_tensor *gds_hc_post(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *R, struct gds_tensor *comb) {
    assert_f32_rows(a);
    assert_f32_rows(R);
    assert_f32_rows(comb);
    const int64_t HC = R->ne[1];
    GDS_ASSERT(a->ne[0] == R->ne[0] && a->ne[1] == R->ne[2] && a->ne[2] == 1 && R->ne[3] == 1);
    GDS_ASSERT(comb->ne[0] == (2 + HC) * HC && comb->ne[1] == R->ne[2]);
    struct gds_tensor *t = new_op(ctx, GDS_OP_HC_POST, GDS_TYPE_F32, 3, R->ne);
    t->src[0] = a;
    t->src[1] = R;
    t->src[2] = comb;
    return t;
}

struct gds_tensor *gds_compress(struct gds_context *ctx, struct gds_tensor *k, struct gds_tensor *z, bool overlap) {
    assert_f32_rows(k);
    assert_f32_rows(z);
    GDS_ASSERT(gds_are_same_shape(k, z) && k->ne[3] == 1);
    const int64_t c = overlap ? 2 : 1;
    GDS_ASSERT(k->ne[0] % c == 0);
    GDS_ASSERT(!overlap || k->ne[2] >= 2);
    int64_t ne[2] = { k->ne[0] / c, k->ne[2] - (overlap ? 1 : 0) };
    struct gds_tensor *t = new_op(ctx, GDS_OP_COMPRESS, GDS_TYPE_F32, 2, ne);
    t->src[0] = k;
    t->src[1] = z;
    gds_set_op_param_i32(t, GDS_P_COMP_OVERLAP, overlap ? 1 : 0);
    return t;
}

struct gds_tensor *gds_indexer(struct gds_context *ctx, struct gds_tensor *q, struct gds_tensor *kI, struct gds_tensor *w,
                               struct gds_tensor *pos, int ratio) {
    assert_f32_rows(q);
    if (kI->type == GDS_TYPE_MXFP4) GDS_ASSERT(kI->nb[0] == sizeof(block_mxfp4) && kI->ne[0] % QK_MXFP4 == 0);
    else assert_f32_rows(kI);
    assert_f32_rows(w);
    GDS_ASSERT(q->ne[0] == kI->ne[0] && kI->ne[2] == 1 && kI->ne[3] == 1 && q->ne[3] == 1);
    GDS_ASSERT(w->ne[0] == q->ne[1] && w->ne[1] == q->ne[2]);
    GDS_ASSERT(pos->type == GDS_TYPE_I32 && gds_is_contiguous(pos) && gds_nelements(pos) == q->ne[2]);
    GDS_ASSERT(ratio > 0);
    int64_t ne[2] = { kI->ne[1], q->ne[2] };
    struct gds_tensor *t = new_op(ctx, GDS_OP_INDEXER, GDS_TYPE_F32, 2, ne);
    t->src[0] = q;
    t->src[1] = kI;
    t->src[2] = w;
    t->src[3] = pos;
    gds_set_op_param_i32(t, GDS_P_IDX_RATIO, ratio);
    return t;
}

struct gds_tensor *gds_attn(struct gds_context *ctx, struct gds_tensor *q, struct gds_tensor *kv, struct gds_tensor *idx,
                            struct gds_tensor *sinks, float scale) {
    assert_f32_rows(q);
    if (kv->type == GDS_TYPE_KV_E4M3_B64) GDS_ASSERT(kv->nb[0] == GDS_KV_E4M3_B64_SIZE && kv->ne[0] % GDS_KV_E4M3_B64_NE == 0);
    else assert_f32_rows(kv);
    GDS_ASSERT(q->ne[0] == kv->ne[0] && kv->ne[2] == 1 && kv->ne[3] == 1 && q->ne[3] == 1);
    GDS_ASSERT(idx->type == GDS_TYPE_I32 && idx->nb[0] == 4 && idx->ne[1] == q->ne[2] && idx->ne[2] == 1);
    GDS_ASSERT(sinks->type == GDS_TYPE_F32 && gds_is_contiguous(sinks) && gds_nelements(sinks) == q->ne[1]);
    struct gds_tensor *t = new_op(ctx, GDS_OP_ATTN, GDS_TYPE_F32, 3, q->ne);
    t->src[0] = q;
    t->src[1] = kv;
    t->src[2] = idx;
    t->src[3] = sinks;
    gds_set_op_param_f32(t, GDS_P_ATTN_SCALE, scale);
    return t;
}
