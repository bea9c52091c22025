/*
 * vulkan-ops.c - the Vulkan backend's per-op host entries: for each op the
 * type rules (supports), the scratch it needs (work) and the dispatches it
 * records (run): which shader of shaders/, which variant (specialization
 * constant 0, the gds_op number unless stated), how many workgroups, and
 * the per-dispatch values vk_params.u.
 *
 * An op absent from gds_vk_ops is refused by supports_op, and the scheduler
 * runs it on the CPU. The list of done ops is in vulkan-backend.c's header.
 */
#include "vulkan-impl.h"

#include <stdlib.h>
#include <string.h>

/* the shaders select their op by the gds_op number (OP_* defines of the .comp files) */
_Static_assert(GDS_OP_CPY == 2 && GDS_OP_GET_ROWS == 3 && GDS_OP_SET_ROWS == 4 && GDS_OP_CONCAT == 5, "rows.comp OP_*");
_Static_assert(GDS_OP_ADD == 6 && GDS_OP_MUL == 7 && GDS_OP_DIV == 8 && GDS_OP_SCALE == 9 && GDS_OP_SQRT == 10 &&
               GDS_OP_SIGMOID == 11 && GDS_OP_SOFTPLUS == 12 && GDS_OP_SILU == 13 && GDS_OP_SWIGLU == 14, "elementwise.comp OP_*");
_Static_assert(GDS_OP_RMS_NORM == 15 && GDS_OP_SUM_ROWS == 16 && GDS_OP_SOFT_MAX == 17, "norm.comp OP_*");
_Static_assert(GDS_OP_HADAMARD == 19 && GDS_OP_QUANT_SIM == 20, "sim.comp OP_*");
_Static_assert(GDS_OP_HC_COMB == 24 && GDS_OP_HC_PRE == 25 && GDS_OP_HC_POST == 26, "hc.comp OP_*");
_Static_assert(GDS_OP_COMPRESS == 27 && GDS_OP_INDEXER == 28 && GDS_OP_ATTN == 29, "attn.comp OP_*");

/* the shaders with exp/log1p in double (mathf.glsl) have a "-nof64" build for
 * devices without shaderFloat64 (the device's fp32 exp: a few ulp from the CPU) */
#define SH(c, name) (vk_has_f64(c) ? name : name "-nof64")

static bool is_float(enum gds_type t) { return t == GDS_TYPE_F32 || t == GDS_TYPE_F16 || t == GDS_TYPE_BF16; }
static bool is_quant(enum gds_type t) { return gds_type_traits(t) && gds_type_traits(t)->is_quantized; }
static bool f32_rows(const struct gds_tensor *t) { return t && t->type == GDS_TYPE_F32 && t->nb[0] == 4; }
static uint64_t nel(const struct gds_tensor *t) { return (uint64_t)gds_nelements(t); }

/* one dispatch of `per`-invocation groups covering n items */
static enum gds_status run_1d(struct vk_ctx *c, const struct gds_tensor *t, const char *shader, uint64_t n, uint32_t per,
                              const uint32_t *u, int n_u) {
    uint32_t g[3];
    vk_groups_1d(c, n, per, g);
    return vk_dispatch(c, t, shader, (int)t->op, g, u, n_u);
}

/* ---- rows.comp: CPY, GET_ROWS, SET_ROWS, CONCAT ------------------------------ */

static bool sup_cpy(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    const enum gds_type ts = t->src[0]->type, td = t->type;
    if (ts == GDS_TYPE_I32 || td == GDS_TYPE_I32) return ts == td;
    if (is_float(ts) && is_float(td)) return true;
    const bool same_shape = gds_are_same_shape(t->src[0], t);
    if (ts == GDS_TYPE_F32 && is_quant(td)) return same_shape;
    return is_quant(ts) && td == GDS_TYPE_F32 && same_shape;
}

static enum gds_status run_cpy(struct vk_ctx *c, const struct gds_tensor *t) {
    if (is_quant(t->type)) {
        const uint32_t u = 1;
        return run_1d(c, t, "rows", (uint64_t)gds_nrows(t) * (uint64_t)(t->ne[0] / gds_type_traits(t->type)->blck_size), 256, &u, 1);
    }
    return run_1d(c, t, "rows", nel(t->src[0]), 256, NULL, 0);
}

static bool sup_get_rows(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return (is_float(t->src[0]->type) || is_quant(t->src[0]->type)) && t->src[1]->type == GDS_TYPE_I32;
}

static enum gds_status run_get_rows(struct vk_ctx *c, const struct gds_tensor *t) { return run_1d(c, t, "rows", nel(t), 256, NULL, 0); }

static bool sup_set_rows(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return (is_float(t->type) || is_quant(t->type)) && f32_rows(t->src[1]) && t->src[2]->type == GDS_TYPE_I32;
}

static size_t work_set_rows(const struct gds_tensor *t) { return (size_t)gds_nrows(t->src[1]) * 4; }

static enum gds_status run_set_rows(struct vk_ctx *c, const struct gds_tensor *t) {
    const uint64_t nr = (uint64_t)gds_nrows(t->src[1]);
    uint32_t u[2] = { 0, nr == 1 }; /* one source row: no winners pass */
    enum gds_status st;
    if (nr > 1 && (st = run_1d(c, t, "rows", nr, 256, u, 1)) != GDS_OK) return st;
    /* KV_E4M3_B64 rows at word offsets: a word (4 bytes of the 584-byte block) an invocation */
    const bool kvw = t->type == GDS_TYPE_KV_E4M3_B64 && vk_tensor_offs(c, t) % 4 == 0 && t->nb[1] % 4 == 0 && t->nb[2] % 4 == 0 &&
                     t->nb[3] % 4 == 0;
    u[0] = kvw ? 2 : 1;
    const uint64_t per = kvw ? (uint64_t)(t->ne[0] / 512) * 146
                       : is_quant(t->type) ? (uint64_t)(t->ne[0] / gds_type_traits(t->type)->blck_size) : (uint64_t)t->ne[0];
    return run_1d(c, t, "rows", nr * per, 256, u, 2);
}

static bool sup_concat(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return is_float(t->src[0]->type) && is_float(t->src[1]->type);
}

static enum gds_status run_concat(struct vk_ctx *c, const struct gds_tensor *t) { return run_1d(c, t, "rows", nel(t), 256, NULL, 0); }

/* ---- elementwise.comp ---------------------------------------------------------- */

static bool sup_f32_src0(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return f32_rows(t->src[0]);
}

static bool sup_binary(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return f32_rows(t->src[0]) && f32_rows(t->src[1]);
}

static enum gds_status run_elementwise(struct vk_ctx *c, const struct gds_tensor *t) {
    return run_1d(c, t, SH(c, "elementwise"), nel(t->src[0]), 256, NULL, 0);
}

/* ---- norm.comp: RMS_NORM (a row a workgroup), SUM_ROWS, SOFT_MAX (16 rows a workgroup) ---- */

static bool sup_rms_norm(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return f32_rows(t->src[0]) && (!t->src[1] || (f32_rows(t->src[1]) && gds_is_contiguous(t->src[1])));
}

static bool sup_soft_max(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return f32_rows(t->src[0]) && (!t->src[1] || f32_rows(t->src[1])) && (!t->src[2] || f32_rows(t->src[2]));
}

static enum gds_status run_norm(struct vk_ctx *c, const struct gds_tensor *t) {
    if (t->op == GDS_OP_RMS_NORM) return run_1d(c, t, SH(c, "norm"), (uint64_t)gds_nrows(t->src[0]), 1, NULL, 0); /* a row each */
    return run_1d(c, t, SH(c, "norm"), (uint64_t)gds_nrows(t->src[0]), 16, NULL, 0);
}

/* ---- rope.comp (float64), sim.comp: ROPE, HADAMARD, QUANT_SIM -------------------- */

static bool sup_rope(const struct vk_ctx *c, const struct gds_tensor *t) {
    const int n_rot = t->op_params[GDS_P_ROPE_NROT];
    return vk_has_f64(c) && f32_rows(t->src[0]) && t->src[1]->type == GDS_TYPE_I32 && n_rot > 0 &&
           n_rot / 2 * 4 <= VK_AUX_MAX;
}

static enum gds_status run_rope(struct vk_ctx *c, const struct gds_tensor *t) {
    float freq[VK_AUX_MAX / 4];
    const int n_rot = t->op_params[GDS_P_ROPE_NROT];
    gds_rope_freqs(freq, n_rot, vk_param_f32(t, GDS_P_ROPE_BASE), vk_param_f32(t, GDS_P_ROPE_YFACTOR), vk_param_f32(t, GDS_P_ROPE_YORIG),
                   vk_param_f32(t, GDS_P_ROPE_YFAST), vk_param_f32(t, GDS_P_ROPE_YSLOW));
    uint32_t g[3];
    vk_groups_1d(c, nel(t->src[0]), 256, g);
    return vk_dispatch_aux(c, t, "rope", 0, g, NULL, 0, freq, (size_t)(n_rot / 2) * sizeof(float));
}

static enum gds_status run_hadamard(struct vk_ctx *c, const struct gds_tensor *t) {
    return run_1d(c, t, "sim", (uint64_t)gds_nrows(t->src[0]) * (uint64_t)(t->src[0]->ne[0] / 128), 1, NULL, 0);
}

static enum gds_status run_quant_sim(struct vk_ctx *c, const struct gds_tensor *t) {
    return run_1d(c, t, "sim", (uint64_t)gds_nrows(t->src[0]) * (uint64_t)t->src[0]->ne[0], 64, NULL, 0); /* per element */
}

/* ---- topk.comp ---------------------------------------------------------------------- */

static enum gds_status run_top_k(struct vk_ctx *c, const struct gds_tensor *t) {
    uint32_t u = 0;
    enum gds_status st = run_1d(c, t, "topk", nel(t), 256, &u, 1);
    if (st != GDS_OK) return st;
    u = 1;
    const uint64_t n = (uint64_t)t->src[0]->ne[0];
    return run_1d(c, t, "topk", (uint64_t)gds_nrows(t->src[0]) * ((n + 255) / 256), 1, &u, 1);
}

/* ---- matmul.comp: MUL_MAT, MUL_MAT_ID ------------------------------------------------ */

static bool is_weight(enum gds_type t) {
    return t == GDS_TYPE_F32 || t == GDS_TYPE_F16 || t == GDS_TYPE_BF16 || t == GDS_TYPE_Q8_0 || t == GDS_TYPE_MXFP4 ||
           t == GDS_TYPE_F8_E4M3_B128;
}

/* weights whose activations are quantized into the scratch first (block arithmetic) */
static bool mm_blocks(const struct gds_tensor *t) {
    const enum gds_type w = t->src[0]->type;
    if (t->op == GDS_OP_MUL_MAT && (t->op_params[0] & GDS_MM_ACT_BF16)) return false;
    return w == GDS_TYPE_Q8_0 || w == GDS_TYPE_MXFP4 || w == GDS_TYPE_F8_E4M3_B128;
}

static bool sup_mul_mat(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    const struct gds_tensor *w = t->src[0], *x = t->src[1];
    if (!is_weight(w->type) || !f32_rows(x)) return false;
    if (t->op == GDS_OP_MUL_MAT_ID) return t->src[2]->type == GDS_TYPE_I32;
    return !(t->op_params[0] & GDS_MM_ACT_BF16) || w->type == GDS_TYPE_F8_E4M3_B128 || w->type == GDS_TYPE_BF16;
}

static uint32_t mm_stride(const struct gds_tensor *t) { return (uint32_t)(t->src[1]->ne[0] + t->src[1]->ne[0] / 32); }

static size_t work_mul_mat(const struct gds_tensor *t) {
    return mm_blocks(t) ? (size_t)gds_nrows(t->src[1]) * mm_stride(t) * 4 : 0;
}

/* a GDS_VK_* switch read once (vk_env_int) into *cache (INT32_MIN: not read yet) */
static int env_once(const char *name, int *cache, int def) {
    if (*cache == INT32_MIN) *cache = vk_env_int(name, def);
    return *cache;
}

/* whether tensors w and x (rows and batches) sit at multiples of aw and ax bytes in their bindings */
static bool pair_aligned(const struct vk_ctx *c, const struct gds_tensor *w, const struct gds_tensor *x, uint32_t aw, uint32_t ax) {
    bool ok = vk_tensor_offs(c, w) % aw == 0 && vk_tensor_offs(c, x) % ax == 0;
    for (int d = 1; d < 4; d++) ok = ok && w->nb[d] % aw == 0 && x->nb[d] % ax == 0;
    return ok;
}

static bool mv_float(const struct gds_tensor *t) {
    const struct gds_tensor *w = t->src[0];
    return t->op == GDS_OP_MUL_MAT && (w->type == GDS_TYPE_BF16 || w->type == GDS_TYPE_F16) && w->nb[0] == 2;
}

/* the one-column builds of mvs.comp / matvec.comp for M = 1 (GDS_VK_MV_ONE=0: the general ones):
 * the column loops fold away at pipeline creation (fewer registers a thread) */
static bool mv_one(void) {
    static int v = INT32_MIN;
    return env_once("GDS_VK_MV_ONE", &v, 1) != 0;
}

/* mvs.comp's variant for a BF16 / F16 MUL_MAT (0: not mvs.comp): the workgroup
 * size 16 R / L (bits 16..) with R = 8 rows, L = 1 lane a thread, PF slabs of
 * loads in flight and the diagnostic bits; N >= 65536 (the output head) takes
 * matvec.comp with T = 8.
 * Measured on an H100 (tools/device/vk-ab.sh, f4q tg32 -r 3, one call): R = 8
 * for every N 118.3 t/s, R by N (16 from 8192 rows .. 2 below 2048) 109.0,
 * R = 16 106.5, R = 4 98.0; the head 1.97 ms a token in mvs.comp R = 8 and
 * 1.60 ms in matvec.comp T = 8 (matvec.comp everywhere: 101.9 t/s).
 * GDS_VK_MV_L=2|4 (not measured yet): L lanes a thread (one shared weight read
 * per 2 or 4 products), R = 16 rows (128 or 64 threads: 32 rows would take
 * 43.5 KiB of shared memory, past Vulkan's guaranteed 32), PF = 2; same bits.
 * GDS_VK_MV_V=0 turns it off (matvec.comp), GDS_VK_MV_R=2|4|8|16 (at least
 * 2 L: 32 threads) and GDS_VK_MV_PF=1..8 / L force R and PF (a forced R takes
 * the head too), GDS_VK_MV_DIAG=1|2 runs a diagnostic (wrong outputs: never
 * for results) */
static int mvs_variant(const struct vk_ctx *c, const struct gds_tensor *t, uint32_t *rows) {
    static int v = INT32_MIN, fl = INT32_MIN, fr = INT32_MIN, fpf = INT32_MIN, diag = INT32_MIN;
    if (!mv_float(t) || env_once("GDS_VK_MV_V", &v, 1) != 1 || !pair_aligned(c, t->src[0], t->src[1], 16, 16)) return 0;
    const int64_t N = t->ne[0];
    const int L = env_once("GDS_VK_MV_L", &fl, 1) == 4 ? 4 : fl == 2 ? 2 : 1;
    int R = env_once("GDS_VK_MV_R", &fr, 0);
    const bool forced = R == 2 || R == 4 || R == 8 || R == 16;
    if (!forced && N >= 65536) return 0; /* the head: matvec.comp T = 8 */
    if (!forced) R = L == 1 ? 8 : 16;
    if (R < 2 * L) R = 2 * L;
    int pf = env_once("GDS_VK_MV_PF", &fpf, 0);
    if (pf < 1 || pf > 8 / L) pf = L > 1 ? 2 : R == 16 ? 2 : 4;
    *rows = (uint32_t)R;
    return (16 * R / L) << 16 | (L / 2) << 7 | (t->ne[1] == 1 && mv_one() ? 64 : 0) |
           (env_once("GDS_VK_MV_DIAG", &diag, 0) & 3) << 4 | pf;
}

/* matvec.comp's threads per weight row for a BF16 / F16 MUL_MAT (0: matmul.comp):
 * T = 8 (or more where the weight rows do not sit at multiples of 32 / T bytes
 * and the activation rows at multiples of 64 / T) */
static uint32_t mv_threads(const struct vk_ctx *c, const struct gds_tensor *t) {
    if (!mv_float(t)) return 0;
    /* GDS_VK_MV_T=2|4|8|16 forces T (where aligned), 0 turns matvec.comp off: for testing every mapping */
    static int force = INT32_MIN;
    if (env_once("GDS_VK_MV_T", &force, 1) == 0) return 0;
    /* default T = 8: the head 1.66 ms a token against 1.93 (T = 4) and 3.0 (T = 2), H100, vk-ab.sh's host */
    for (uint32_t T = force > 1 ? (uint32_t)force : 8; T <= 16; T *= 2)
        if (pair_aligned(c, t->src[0], t->src[1], 32 / T, 64 / T)) return T;
    return 0;
}

static enum gds_status run_mul_mat(struct vk_ctx *c, const struct gds_tensor *t) {
    uint32_t R = 0;
    const int mv = mvs_variant(c, t, &R);
    const uint32_t T = mv ? 0 : mv_threads(c, t);
    if (mv || T) { /* mvs.comp / matvec.comp: a workgroup per R rows and column set (4 columns of one (i2, i3)) */
        if (!mv) R = 64 / T;
        const uint64_t n_wg = (uint64_t)((t->ne[0] + R - 1) / R) * (uint64_t)((t->ne[1] + 3) / 4) * (uint64_t)(t->ne[2] * t->ne[3]);
        if (n_wg > UINT32_MAX) return gds_error(GDS_ERR_BACKEND, "vulkan mul_mat: %llu workgroups", (unsigned long long)n_wg);
        uint32_t g[3];
        const uint32_t u3[3] = { 0, 0, (uint32_t)n_wg };
        vk_groups_1d(c, n_wg, 1, g);
        return mv ? vk_dispatch(c, t, "mvs", mv, g, u3, 3) : vk_dispatch(c, t, "matvec", (int)T | (t->ne[1] == 1 && mv_one() ? 256 : 0), g, u3, 3);
    }
    /* MXFP4: activations as e4m3_x9 integers (u[3] = 1; GDS_VK_MM4=0: packed codes, as before) */
    static int x9 = INT32_MIN;
    const uint32_t ax9 = t->src[0]->type == GDS_TYPE_MXFP4 && t->src[1]->ne[0] % 128 == 0 && env_once("GDS_VK_MM4", &x9, 1) != 0;
    uint32_t g[3], u[4] = { t->src[0]->type == GDS_TYPE_Q8_0 ? 32u : 128u, mm_stride(t), 0, ax9 };
    enum gds_status st;
    if (mm_blocks(t)) {
        vk_groups_1d(c, (uint64_t)gds_nrows(t->src[1]) * (uint64_t)(t->src[1]->ne[0] / 4), 256, g); /* a word each */
        if ((st = vk_dispatch(c, t, "matmul", 0, g, u, 4)) != GDS_OK) return st;
    }
    /* a workgroup per 16 weight rows and column set (MUL_MAT: 4 columns of one (i2, i3);
     * MUL_MAT_ID: one (slot, token)), matmul.comp VARIANT 3 / 4 */
    const uint64_t n_cs = t->op == GDS_OP_MUL_MAT ? (uint64_t)((t->ne[1] + 3) / 4) * (uint64_t)(t->ne[2] * t->ne[3])
                                                  : (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
    const uint64_t n_wg = (uint64_t)((t->ne[0] + 15) / 16) * n_cs;
    if (n_wg > UINT32_MAX) return gds_error(GDS_ERR_BACKEND, "vulkan mul_mat: %llu workgroups", (unsigned long long)n_wg);
    const uint32_t u4[4] = { u[0], u[1], (uint32_t)n_wg, ax9 };
    vk_groups_1d(c, n_wg, 1, g);
    return vk_dispatch(c, t, "matmul", t->op == GDS_OP_MUL_MAT ? 3 : 4, g, u4, 4);
}

/* ---- hc.comp: HC_COMB, HC_PRE, HC_POST ------------------------------------------------ */

static bool sup_hc(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    for (int k = 0; k < GDS_MAX_SRC; k++)
        if (t->src[k] && !f32_rows(t->src[k])) return false;
    const struct gds_tensor *X = t->op == GDS_OP_HC_POST ? t->src[1] : t->src[0];
    return X->ne[1] <= 16;
}

/* hcc.comp's chunk of 4 C4 elements for n_mix outputs (0: hc.comp): the
 * widest C4 (a multiple of 8) whose two buffers of n_mix + 8 rows fit the
 * shader's 2112 vec4 and whose (n_mix + 1) C4 staging slots fit 4 a thread */
static uint32_t hcc_c4(int64_t n_mix) {
    for (uint32_t c4 = 64; c4 >= 8; c4 /= 2)
        if (2 * (n_mix + 8) * (c4 + 1) <= 2112 && (n_mix + 1) * c4 <= 4 * 256) return c4;
    return 0;
}

static enum gds_status run_hc_comb(struct vk_ctx *c, const struct gds_tensor *t) {
    /* GDS_VK_HC=0: hc.comp's two passes (A/B); else hcc.comp, one dispatch, a workgroup per token */
    static int on = INT32_MIN;
    const uint32_t c4 = env_once("GDS_VK_HC", &on, 1) ? hcc_c4(t->ne[0]) : 0;
    if (c4) {
        const struct gds_tensor *X = t->src[0], *fn = t->src[1];
        const uint32_t u[2] = { c4, X->ne[0] % 4 == 0 && pair_aligned(c, X, fn, 16, 16) };
        return run_1d(c, t, SH(c, "hcc"), (uint64_t)X->ne[2], 1, u, 2);
    }
    uint32_t u = 0;
    /* pass 0: a workgroup (256 invocations) per output, then one per token (sum of squares into the scratch) */
    enum gds_status st = run_1d(c, t, SH(c, "hc"), (uint64_t)(t->ne[0] + 1) * (uint64_t)t->src[0]->ne[2] * 256, 256, &u, 1);
    if (st != GDS_OK) return st;
    u = 1;
    return run_1d(c, t, SH(c, "hc"), (uint64_t)t->src[0]->ne[2] * 256, 256, &u, 1); /* pass 1: a workgroup per token */
}

static size_t work_hc_comb(const struct gds_tensor *t) { return (size_t)t->src[0]->ne[2] * 4; }

static enum gds_status run_hc(struct vk_ctx *c, const struct gds_tensor *t) { return run_1d(c, t, SH(c, "hc"), nel(t), 256, NULL, 0); }

/* ---- attn.comp: COMPRESS, INDEXER, ATTN ------------------------------------------------ */

static bool sup_compress(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    return f32_rows(t->src[0]) && f32_rows(t->src[1]);
}

static bool sup_indexer(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    const enum gds_type kt = t->src[1]->type;
    return f32_rows(t->src[0]) && (f32_rows(t->src[1]) || kt == GDS_TYPE_MXFP4) && f32_rows(t->src[2]) &&
           t->src[3]->type == GDS_TYPE_I32;
}

static bool sup_attn(const struct vk_ctx *c, const struct gds_tensor *t) {
    (void)c;
    const enum gds_type kt = t->src[1]->type;
    return f32_rows(t->src[0]) && t->src[0]->ne[0] <= 2048 && (f32_rows(t->src[1]) || kt == GDS_TYPE_KV_E4M3_B64) &&
           t->src[2]->type == GDS_TYPE_I32 && f32_rows(t->src[3]);
}

static enum gds_status run_attn_family(struct vk_ctx *c, const struct gds_tensor *t) {
    if (t->op == GDS_OP_ATTN) { /* a workgroup per (token, head); u[0] = 1: KV_E4M3_B64 rows at word offsets */
        const struct gds_tensor *kv = t->src[1];
        const uint32_t u = kv->type == GDS_TYPE_KV_E4M3_B64 && vk_tensor_offs(c, kv) % 4 == 0 && kv->nb[1] % 4 == 0;
        return run_1d(c, t, SH(c, "attn"), (uint64_t)t->ne[1] * (uint64_t)t->ne[2], 1, &u, 1);
    }
    if (t->op == GDS_OP_INDEXER) return run_1d(c, t, SH(c, "attn"), nel(t), 4, NULL, 0); /* 4 scores a workgroup */
    return run_1d(c, t, SH(c, "attn"), nel(t), 256, NULL, 0);
}

/* ---- QUANT_SIM BF16 fused into its producer -------------------------------------------
 * The producer's shader stores its F32 output and bf16 of it into the QUANT_SIM's
 * output (dst_store of common.glsl, binding 6): one dispatch less, the same bits. */

static bool plain_f32(const struct gds_tensor *t) {
    return t->type == GDS_TYPE_F32 && t->nb[0] == 4 && t->nb[1] == 4 * (size_t)t->ne[0] && t->nb[2] == t->nb[1] * (size_t)t->ne[1] &&
           t->nb[3] == t->nb[2] * (size_t)t->ne[2];
}

static bool overlaps(const struct gds_tensor *a, const struct gds_tensor *b) {
    const char *a0 = a->data, *a1 = a0 + gds_nbytes(a), *b0 = b->data, *b1 = b0 + gds_nbytes(b);
    return a0 < b1 && b0 < a1;
}

bool vk_fuses_bf16(const struct gds_tensor *p, const struct gds_tensor *q) {
    switch (p->op) {
    case GDS_OP_ADD: case GDS_OP_MUL: case GDS_OP_DIV: case GDS_OP_SCALE: case GDS_OP_SQRT: case GDS_OP_SIGMOID:
    case GDS_OP_SOFTPLUS: case GDS_OP_SILU: case GDS_OP_SWIGLU: case GDS_OP_RMS_NORM: case GDS_OP_ROPE: case GDS_OP_HADAMARD:
    case GDS_OP_MUL_MAT: case GDS_OP_MUL_MAT_ID: break;
    default: return false;
    }
    if (q->op != GDS_OP_QUANT_SIM || q->src[0] != p || q->op_params[GDS_P_SIM_MODE] != GDS_SIM_BF16 || p->src[GDS_MAX_SRC - 1]) return false;
    const int32_t nd = q->op_params[GDS_P_SIM_NDIMS];
    if ((nd > 0 && nd < p->ne[0]) || q->view_src || !plain_f32(p) || !plain_f32(q) || memcmp(q->ne, p->ne, sizeof p->ne) != 0) return false;
    if (!p->data || !q->data || overlaps(q, p)) return false;
    for (int k = 0; k < GDS_MAX_SRC; k++) {
        const struct gds_tensor *s = p->src[k];
        if (!s || !s->data || !overlaps(q, s)) continue;
        /* safe overlaps: a MUL_MAT / MUL_MAT_ID that quantized x into the scratch in
         * an earlier dispatch; exact aliasing of one shape where each element is
         * read before the same invocation writes it, or the whole row/block was
         * read before a barrier (elementwise.comp, rms_row, HADAMARD) */
        const bool mm = (p->op == GDS_OP_MUL_MAT || p->op == GDS_OP_MUL_MAT_ID) && k == 1 && mm_blocks(p);
        const bool same = p->op != GDS_OP_MUL_MAT && p->op != GDS_OP_MUL_MAT_ID && p->op != GDS_OP_ROPE && s->data == q->data &&
                          plain_f32(s) && memcmp(s->ne, q->ne, sizeof s->ne) == 0;
        if (!mm && !same) return false;
    }
    return true;
}

/* ---- the table -------------------------------------------------------------------- */

const struct vk_op gds_vk_ops[GDS_OP_COUNT] = {
    [GDS_OP_CPY] = { run_cpy, sup_cpy, NULL },
    [GDS_OP_GET_ROWS] = { run_get_rows, sup_get_rows, NULL },
    [GDS_OP_SET_ROWS] = { run_set_rows, sup_set_rows, work_set_rows },
    [GDS_OP_CONCAT] = { run_concat, sup_concat, NULL },
    [GDS_OP_ADD] = { run_elementwise, sup_binary, NULL },
    [GDS_OP_MUL] = { run_elementwise, sup_binary, NULL },
    [GDS_OP_DIV] = { run_elementwise, sup_binary, NULL },
    [GDS_OP_SCALE] = { run_elementwise, sup_f32_src0, NULL },
    [GDS_OP_SQRT] = { run_elementwise, sup_f32_src0, NULL },
    [GDS_OP_SIGMOID] = { run_elementwise, sup_f32_src0, NULL },
    [GDS_OP_SOFTPLUS] = { run_elementwise, sup_f32_src0, NULL },
    [GDS_OP_SILU] = { run_elementwise, sup_f32_src0, NULL },
    [GDS_OP_SWIGLU] = { run_elementwise, sup_binary, NULL },
    [GDS_OP_RMS_NORM] = { run_norm, sup_rms_norm, NULL },
    [GDS_OP_SUM_ROWS] = { run_norm, sup_f32_src0, NULL },
    [GDS_OP_SOFT_MAX] = { run_norm, sup_soft_max, NULL },
    [GDS_OP_ROPE] = { run_rope, sup_rope, NULL },
    [GDS_OP_HADAMARD] = { run_hadamard, sup_f32_src0, NULL },
    [GDS_OP_QUANT_SIM] = { run_quant_sim, sup_f32_src0, NULL },
    [GDS_OP_TOP_K] = { run_top_k, sup_f32_src0, NULL },
    [GDS_OP_MUL_MAT] = { run_mul_mat, sup_mul_mat, work_mul_mat },
    [GDS_OP_MUL_MAT_ID] = { run_mul_mat, sup_mul_mat, work_mul_mat },
    [GDS_OP_HC_COMB] = { run_hc_comb, sup_hc, work_hc_comb },
    [GDS_OP_HC_PRE] = { run_hc, sup_hc, NULL },
    [GDS_OP_HC_POST] = { run_hc, sup_hc, NULL },
    [GDS_OP_COMPRESS] = { run_attn_family, sup_compress, NULL },
    [GDS_OP_INDEXER] = { run_attn_family, sup_indexer, NULL },
    [GDS_OP_ATTN] = { run_attn_family, sup_attn, NULL },
};
