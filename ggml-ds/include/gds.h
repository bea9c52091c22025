/*
 * gds.h - the ggml-ds tensor library: tensors, ops, graphs.
 *
 * A small graph library in the shape of ggml, trimmed to what DeepSeek-V4 needs.
 * Op constructors only validate shapes and record a node; nothing is computed
 * until a graph is run on a backend (gds-backend.h).
 *
 *     struct gds_init_params ip = { .mem_size = 16u << 20 };
 *     struct gds_context *ctx = gds_init(ip);
 *     struct gds_tensor *w = gds_new_tensor_2d(ctx, GDS_TYPE_Q8_0, 4096, 1024);
 *     struct gds_tensor *x = gds_new_tensor_1d(ctx, GDS_TYPE_F32, 4096);
 *     struct gds_tensor *y = gds_mul_mat(ctx, w, x);        // [1024]
 *     struct gds_graph  *g = gds_graph_new(ctx, 64);
 *     gds_graph_build_expand(g, y);
 *     struct gds_backend *cpu = gds_backend_init("cpu", 0);
 *     gds_backend_graph_compute(cpu, g);   // leafs must have data, see gds-backend.h
 *     gds_free(ctx);
 *
 * Conventions: ne[0] is the contiguous (fastest) axis; nb[i] are byte strides.
 * All op outputs are F32 unless stated. "bf16(x)" means round-to-nearest-even to
 * bfloat16 (the value stays stored as F32). Status codes: 0 is success, negatives
 * are error classes; gds_last_error() returns the message of the last failure.
 * Programmer errors (bad op arguments) trip GDS_ASSERT, which calls the abort hook.
 *
 * Not here: backends (gds-backend.h), GGUF, model code (models/).
 */
#ifndef GDS_H
#define GDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* version of the library and its programs (every program's --version prints it) */
#define GDS_VERSION       "0.2.0"

#define GDS_MAX_DIMS      4
#define GDS_MAX_SRC       6
#define GDS_MAX_OP_PARAMS 16 /* int32 slots */
#define GDS_MAX_NAME      64

/* ---------------------------------------------------------------------------
 * Status, errors, logging, assertions
 * ------------------------------------------------------------------------- */

enum gds_status {
    GDS_OK              = 0,
    GDS_ERR_INVALID     = -1, /* bad argument or input data */
    GDS_ERR_IO          = -2, /* file or device I/O */
    GDS_ERR_NOMEM       = -3, /* allocation failed */
    GDS_ERR_FORMAT      = -4, /* malformed file */
    GDS_ERR_UNSUPPORTED = -5, /* op/type not supported by a backend */
    GDS_ERR_BACKEND     = -6, /* backend API failure */
};

enum gds_log_level { GDS_LOG_DEBUG, GDS_LOG_INFO, GDS_LOG_WARN, GDS_LOG_ERROR };
typedef void (*gds_log_fn)(enum gds_log_level level, const char *msg, void *user);
typedef void (*gds_abort_fn)(const char *msg);

/* Replaces the log sink (default: stderr, INFO and above). NULL restores it. */
void gds_log_set(gds_log_fn fn, void *user);
void gds_log(enum gds_log_level level, const char *fmt, ...);

/* Records msg as the thread's last error, logs it at ERROR, returns st. */
enum gds_status gds_error(enum gds_status st, const char *fmt, ...);
const char *gds_last_error(void);
const char *gds_status_name(enum gds_status st);

/* Replaces the abort hook of GDS_ASSERT. If the hook returns, abort() follows. */
void gds_set_abort_callback(gds_abort_fn fn);
void gds_assert_fail(const char *file, int line, const char *expr);

#define GDS_ASSERT(x) \
    do { if (!(x)) gds_assert_fail(__FILE__, __LINE__, #x); } while (0)

/* ---------------------------------------------------------------------------
 * Types (numeric ids are ggml's so GGUF files interoperate)
 * ------------------------------------------------------------------------- */

enum gds_type {
    GDS_TYPE_F32   = 0,
    GDS_TYPE_F16   = 1,
    GDS_TYPE_Q8_0  = 8,  /* 32 int8 + f16 scale */
    GDS_TYPE_I32   = 26,
    GDS_TYPE_BF16  = 30,
    GDS_TYPE_MXFP4 = 39, /* 32 e2m1 + e8m0 scale, ggml nibble order */
    /* ggml-ds extension (outside ggml's range): the official checkpoint's FP8
     * dense weights, lossless. 128 e4m3fn values + one e8m0 scale per 128
     * consecutive elements of a row. Also the activation format of spec 3.3. */
    GDS_TYPE_F8_E4M3_B128 = 128,
    /* ggml-ds extension: one compact DeepSeek-V4 K=V row (spec 5.2), lossless
     * for the values the V4 graph stores. A block is 512 values, 584 bytes:
     * values 0..447 (the "nope" dims) as 7 groups of 64 e4m3fn codes with one
     * e8m0 scale each (x = 2^(e-127) * e4m3), values 448..511 (the rope dims)
     * as bf16. Byte layout of a block, see GDS_KV_E4M3_B64_* below:
     *   [0, 7) e8m0 scales | 7: zero | [8, 456) e4m3 codes | [456, 584) bf16 LE
     * Reference quantizer: act_quant (spec 3.3) per group of 64, bf16 RNE for
     * the rope dims; it reproduces QUANT_SIM(FP8, 64, 448) + bf16 values exactly. */
    GDS_TYPE_KV_E4M3_B64 = 129,
    GDS_TYPE_COUNT = 130,
};

/* GDS_TYPE_KV_E4M3_B64 block geometry (bytes / values) */
#define GDS_KV_E4M3_B64_NE       512 /* values per block */
#define GDS_KV_E4M3_B64_NOPE     448 /* e4m3 values, 7 groups of 64 */
#define GDS_KV_E4M3_B64_GROUP    64
#define GDS_KV_E4M3_B64_OFF_QS   8   /* e4m3 codes start; scales at [0, 7) */
#define GDS_KV_E4M3_B64_OFF_ROPE 456 /* 64 bf16 values start */
#define GDS_KV_E4M3_B64_SIZE     584 /* bytes per block */

/* Type traits (one table, indexed by type id). */
typedef void (*gds_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*gds_from_float_fn)(const float *x, void *y, int64_t n);
struct gds_type_traits {
    const char *name;        /* NULL: id not implemented */
    int64_t blck_size;       /* elements per block */
    size_t type_size;        /* bytes per block */
    bool is_quantized;
    gds_to_float_fn to_float;        /* n multiple of blck_size */
    gds_from_float_fn from_float_ref; /* reference quantizer (RNE, spec 3.3 for F8) */
};
const struct gds_type_traits *gds_type_traits(enum gds_type t); /* NULL if unknown */
bool gds_type_valid(int t);
const char *gds_type_name(enum gds_type t);
size_t gds_row_size(enum gds_type t, int64_t ne0);

/* ---------------------------------------------------------------------------
 * Ops: one list generates the enum, the names and the source counts.
 * X(NAME, min_src, "printable")
 * ------------------------------------------------------------------------- */

#define GDS_OP_LIST(X)                      \
    X(NONE,        0, "none")               \
    X(VIEW,        1, "view")               \
    X(CPY,         1, "cpy")                \
    X(GET_ROWS,    2, "get_rows")           \
    X(SET_ROWS,    3, "set_rows")           \
    X(CONCAT,      2, "concat")             \
    X(ADD,         2, "add")                \
    X(MUL,         2, "mul")                \
    X(DIV,         2, "div")                \
    X(SCALE,       1, "scale")              \
    X(SQRT,        1, "sqrt")               \
    X(SIGMOID,     1, "sigmoid")            \
    X(SOFTPLUS,    1, "softplus")           \
    X(SILU,        1, "silu")               \
    X(SWIGLU,      2, "swiglu")             \
    X(RMS_NORM,    1, "rms_norm")           \
    X(SUM_ROWS,    1, "sum_rows")           \
    X(SOFT_MAX,    1, "soft_max")           \
    X(ROPE,        2, "rope")               \
    X(HADAMARD,    1, "hadamard")           \
    X(QUANT_SIM,   1, "quant_sim")          \
    X(TOP_K,       1, "top_k")              \
    X(MUL_MAT,     2, "mul_mat")            \
    X(MUL_MAT_ID,  3, "mul_mat_id")         \
    X(HC_COMB,     4, "hc_comb")            \
    X(HC_PRE,      2, "hc_pre")             \
    X(HC_POST,     3, "hc_post")            \
    X(COMPRESS,    2, "compress")           \
    X(INDEXER,     4, "indexer")            \
    X(ATTN,        4, "attn")

enum gds_op {
#define GDS_OP_ENUM_(name, nsrc, str) GDS_OP_##name,
    GDS_OP_LIST(GDS_OP_ENUM_)
#undef GDS_OP_ENUM_
    GDS_OP_COUNT
};

const char *gds_op_name(enum gds_op op);
int gds_op_min_src(enum gds_op op);

/* QUANT_SIM modes (spec 3.3, 3.4, 3.11) */
enum gds_sim_mode {
    GDS_SIM_BF16 = 0, /* y = bf16(x) */
    GDS_SIM_FP8  = 1, /* per block B: act_quant to e4m3 with 2^e scale, y = bf16(q*s) */
    GDS_SIM_FP4  = 2, /* per block B (32): e2m1 with 2^e scale, y = bf16(q*s) */
};

/* ---------------------------------------------------------------------------
 * Tensors, contexts, graphs
 * ------------------------------------------------------------------------- */

enum gds_tensor_flag {
    GDS_TENSOR_FLAG_INPUT  = 1, /* set by the user before compute */
    GDS_TENSOR_FLAG_OUTPUT = 2, /* read after compute: never reused by the allocator */
    GDS_TENSOR_FLAG_PARAM  = 4, /* a weight */
};

struct gds_buffer;

struct gds_tensor {
    enum gds_type type;
    int64_t ne[GDS_MAX_DIMS];  /* elements per dim */
    size_t  nb[GDS_MAX_DIMS];  /* byte strides: nb[0] = type_size, nb[1] = row bytes, ... */
    enum gds_op op;
    int32_t op_params[GDS_MAX_OP_PARAMS];
    int32_t flags;
    struct gds_tensor *src[GDS_MAX_SRC];
    struct gds_tensor *view_src; /* root tensor whose memory this one aliases */
    size_t view_offs;            /* byte offset into view_src */
    void *data;                  /* host address, or backend address for device buffers */
    struct gds_buffer *buffer;   /* owning buffer, NULL while unallocated */
    char name[GDS_MAX_NAME];
    void *extra;                 /* backend private */
};

struct gds_init_params {
    size_t mem_size;   /* arena bytes for tensor headers (and data unless no_alloc) */
    void  *mem_buffer; /* optional caller memory; else malloc'd */
    bool   no_alloc;   /* headers only: data is placed later by an allocator/backend */
};

struct gds_context;

struct gds_context *gds_init(struct gds_init_params params); /* NULL + error on failure */
void gds_free(struct gds_context *ctx);
size_t gds_used_mem(const struct gds_context *ctx);
size_t gds_tensor_overhead(void); /* arena bytes per tensor header */
bool gds_get_no_alloc(const struct gds_context *ctx);
void gds_set_no_alloc(struct gds_context *ctx, bool no_alloc);
/* Iterates the tensors of a context in creation order (NULL to start / at end). */
struct gds_tensor *gds_get_next_tensor(const struct gds_context *ctx, struct gds_tensor *prev);

struct gds_tensor *gds_new_tensor(struct gds_context *ctx, enum gds_type type, int n_dims, const int64_t *ne);
struct gds_tensor *gds_new_tensor_1d(struct gds_context *ctx, enum gds_type type, int64_t ne0);
struct gds_tensor *gds_new_tensor_2d(struct gds_context *ctx, enum gds_type type, int64_t ne0, int64_t ne1);
struct gds_tensor *gds_new_tensor_3d(struct gds_context *ctx, enum gds_type type, int64_t ne0, int64_t ne1, int64_t ne2);
struct gds_tensor *gds_new_tensor_4d(struct gds_context *ctx, enum gds_type type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);

struct gds_tensor *gds_set_name(struct gds_tensor *t, const char *name);
struct gds_tensor *gds_format_name(struct gds_tensor *t, const char *fmt, ...);
struct gds_tensor *gds_get_tensor(const struct gds_context *ctx, const char *name);

int64_t gds_nelements(const struct gds_tensor *t);
int64_t gds_nrows(const struct gds_tensor *t);     /* ne1*ne2*ne3 */
size_t  gds_nbytes(const struct gds_tensor *t);    /* bytes spanned by the strides */
int     gds_n_dims(const struct gds_tensor *t);
bool    gds_is_contiguous(const struct gds_tensor *t);
bool    gds_is_view(const struct gds_tensor *t);
bool    gds_are_same_shape(const struct gds_tensor *a, const struct gds_tensor *b);
bool    gds_can_repeat(const struct gds_tensor *b, const struct gds_tensor *a); /* a->ne[i] % b->ne[i] == 0 */

float   gds_get_op_param_f32(const struct gds_tensor *t, int i);
int32_t gds_get_op_param_i32(const struct gds_tensor *t, int i);

/* Host convenience for tensors whose data is host memory (contiguous F32/I32). */
void gds_tensor_fill_f32(struct gds_tensor *t, const float *src);

/* --- views (no compute; share the source's memory) ---------------------- */

struct gds_tensor *gds_view_1d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, size_t offset);
struct gds_tensor *gds_view_2d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, size_t nb1, size_t offset);
struct gds_tensor *gds_view_3d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, size_t nb1, size_t nb2, size_t offset);
struct gds_tensor *gds_view_4d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset);
/* a must be contiguous; element count must match */
struct gds_tensor *gds_reshape_1d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0);
struct gds_tensor *gds_reshape_2d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1);
struct gds_tensor *gds_reshape_3d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2);
struct gds_tensor *gds_reshape_4d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);
/* axis i of a becomes axis ax_i of the result (ggml semantics) */
struct gds_tensor *gds_permute(struct gds_context *ctx, struct gds_tensor *a, int ax0, int ax1, int ax2, int ax3);
struct gds_tensor *gds_transpose(struct gds_context *ctx, struct gds_tensor *a); /* swap dims 0, 1 */

/* --- ops ----------------------------------------------------------------
 * Unless stated: F32 inputs whose rows may be strided (nb[0] == 4, any nb[1..3]),
 * F32 contiguous output of the shape given. Shapes are [ne0, ne1, ne2, ne3].
 */

/* CPY: b <- a, converting types. a, b same element count and shape; any of
 * F32/F16/BF16 <-> F32/F16/BF16, F32 -> Q8_0/MXFP4/F8_E4M3_B128/KV_E4M3_B64
 * (reference quantizer), quantized -> F32. Returns a view of b (write happens at compute). */
struct gds_tensor *gds_cpy(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b);
/* CONT: contiguous F32 copy of a (any layout). */
struct gds_tensor *gds_cont(struct gds_context *ctx, struct gds_tensor *a);

/* GET_ROWS: a [ne0, n_rows, B] any type, ids I32 [n, B] -> [ne0, n, B] F32.
 * y[:, i, b] = to_f32(a[:, ids[i, b], b]); an id outside [0, n_rows) gives a row of zeros. */
struct gds_tensor *gds_get_rows(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *ids);

/* SET_ROWS: dst [ne0, n_rows, B] F32/F16/BF16 or a quantized type (each row
 * written by the type's reference quantizer, e.g. MXFP4, KV_E4M3_B64),
 * src [ne0, n, B] F32, ids I32 [n, B].
 * dst[:, ids[i, b], b] = src[:, i, b] (converted); ids outside [0, n_rows) are skipped.
 * In place: returns a view of dst. */
struct gds_tensor *gds_set_rows(struct gds_context *ctx, struct gds_tensor *dst, struct gds_tensor *src, struct gds_tensor *ids);

/* CONCAT: a, b equal except along dim; result concatenates them along dim. */
struct gds_tensor *gds_concat(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b, int dim);

/* ADD/MUL/DIV: a [ne], b broadcastable to a (a->ne[i] % b->ne[i] == 0).
 * y = a op b[i0 % b.ne0, i1 % b.ne1, ...] in fp32. */
struct gds_tensor *gds_add(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b);
struct gds_tensor *gds_mul(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b);
struct gds_tensor *gds_div(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *b);

/* SCALE: y = x*s + b */
struct gds_tensor *gds_scale(struct gds_context *ctx, struct gds_tensor *a, float s, float b);

/* Unary fp32 maps, same shape: sqrt(x); 1/(1+exp(-x)); softplus = x if x > 20
 * else log1p(exp(x)) (torch); silu = x*sigmoid(x). */
struct gds_tensor *gds_sqrt(struct gds_context *ctx, struct gds_tensor *a);
struct gds_tensor *gds_sigmoid(struct gds_context *ctx, struct gds_tensor *a);
struct gds_tensor *gds_softplus(struct gds_context *ctx, struct gds_tensor *a);
struct gds_tensor *gds_silu(struct gds_context *ctx, struct gds_tensor *a);

/* SWIGLU: g, u same shape. y = silu(min(g, L)) * clamp(u, -L, L) (spec 4.11:
 * the gate has no lower clamp). limit <= 0: no clamp, y = silu(g)*u. */
struct gds_tensor *gds_swiglu(struct gds_context *ctx, struct gds_tensor *g, struct gds_tensor *u, float limit);

/* RMS_NORM: per row of x [n, ...]: y = x * rsqrt(mean(x^2) + eps), then
 * y *= w[i] if w ([n], F32) is given. fp32 math (spec 3.2 without the bf16 rounding). */
struct gds_tensor *gds_rms_norm(struct gds_context *ctx, struct gds_tensor *x, struct gds_tensor *w, float eps);

/* SUM_ROWS: x [n, r1, r2, r3] -> [1, r1, r2, r3], y = sum_i x[i]. */
struct gds_tensor *gds_sum_rows(struct gds_context *ctx, struct gds_tensor *x);

/* SOFT_MAX: x [n, r1, r2, r3]; mask optional F32 [n, r1] (added, broadcast over
 * r2, r3; -inf masks); sinks optional F32 [r2] (one extra logit per ne2 index,
 * denominator only). With v_i = x_i*scale + mask_i and m = max(max_i v_i, sink):
 * y_i = exp(v_i - m) / (sum_j exp(v_j - m) + exp(sink - m)). A row with every
 * v_i = -inf and no sink gives zeros. */
struct gds_tensor *gds_soft_max(struct gds_context *ctx, struct gds_tensor *x, struct gds_tensor *mask, struct gds_tensor *sinks, float scale);

/* ROPE (spec 3.8): x [hd, n_head, T, B], pos I32 [T]. Rotates the LAST n_rot dims
 * of each head in interleaved pairs (2i, 2i+1) by angle fp32(pos)*freq_i with
 * freq_i = base^(-2i/n_rot); YaRN blend when yarn_factor > 1 (orig_ctx, beta_fast,
 * beta_slow as in the spec; no mscale). inverse: rotation by -angle.
 * Tables in fp32, rotation in fp32. */
struct gds_rope_params {
    int n_rot;
    float base;
    float yarn_factor;    /* <= 1: no YaRN */
    float yarn_orig_ctx;
    float yarn_beta_fast;
    float yarn_beta_slow;
    bool inverse;
};
struct gds_tensor *gds_rope(struct gds_context *ctx, struct gds_tensor *x, struct gds_tensor *pos, struct gds_rope_params p);

/* HADAMARD (spec 3.9): x [n*128, ...]; each consecutive 128 elements:
 * y = (x · H128) * fp32(128^-0.5), H128 Sylvester (natural order), fp32 butterflies. */
struct gds_tensor *gds_hadamard(struct gds_context *ctx, struct gds_tensor *x);

/* QUANT_SIM (spec 3.3, 3.4): rounds the first n_dims of each row (0: all) and
 * copies the rest. BF16: y = bf16(x). FP8: blocks of `block` (must divide n_dims)
 * act_quant -> y = bf16(e4m3(x/s)*s). FP4: blocks of `block`, y = bf16(e2m1(x/s)*s). */
struct gds_tensor *gds_quant_sim(struct gds_context *ctx, struct gds_tensor *x, enum gds_sim_mode mode, int block, int n_dims);

/* TOP_K: x [n, rows...] -> I32 [k, rows...]: indices of the k largest values,
 * by value descending, ties to the lower index. An index whose value is -inf
 * (or NaN) is written as -1 (the spec's "invalid selection"). k <= n. */
struct gds_tensor *gds_top_k(struct gds_context *ctx, struct gds_tensor *x, int k);

/* MUL_MAT: w [K, N, B2, B3] (any weight type; K % blck == 0, K % 128 == 0 for
 * MXFP4 and F8_E4M3_B128), x F32 [K, M, B2*r2, B3*r3] -> y [N, M, B2*r2, B3*r3].
 * y[n, m] = sum_k w[k, n] * act(x)[k, m] where act quantizes the activation for
 * the weight type: F8_E4M3_B128 and MXFP4 use act_quant (spec 3.3: e4m3, 2^e
 * scale per 128) with exact products and fp32 accumulation (per-128 partials for
 * F8, per-32 partials for MXFP4, spec 3.5/3.6); Q8_0 uses q8_0; F16 uses f16; BF16
 * uses bf16 (the V4 graph feeds BF16 weights bf16-valued inputs); F32 none.
 * gds_mul_mat_ext(ctx, w, x, flags) is gds_mul_mat with flags (op_params[0];
 * gds_mul_mat is flags 0). GDS_MM_ACT_BF16 (w F8_E4M3_B128, Q8_0 or BF16 only):
 * act = bf16(x), no activation quantization, y[n, m] = sum_k dec(w[k, n]) *
 * bf16(x[k, m]) with dec = e4m3 * 2^(e-127) (exact in bf16 / fp32) for F8 and
 * bf16(q * d) for Q8_0, exact products, fp32 accumulation in the BF16 weight
 * order - the same result as multiplying the BF16 conversion of w (spec T17,
 * 4.10: wo_a), read from the F8 / Q8_0 bytes (about half the weight traffic).
 * For BF16 w it equals flags 0. Q8_0: CPU backend only (supports_op). */
enum gds_mm_flags { GDS_MM_ACT_BF16 = 1 };
struct gds_tensor *gds_mul_mat(struct gds_context *ctx, struct gds_tensor *w, struct gds_tensor *x);
struct gds_tensor *gds_mul_mat_ext(struct gds_context *ctx, struct gds_tensor *w, struct gds_tensor *x, int flags);

/* MUL_MAT_ID (routed experts): w [K, N, E], x [K, nx, T] with nx = 1 or n_used,
 * ids I32 [n_used, T] -> y [N, n_used, T]:
 * y[:, i, t] = W[ids[i, t]] · act(x[:, i % nx, t]); ids outside [0, E) give zeros.
 * Computed grouped by expert (each expert's weights streamed once per call). */
struct gds_tensor *gds_mul_mat_id(struct gds_context *ctx, struct gds_tensor *w, struct gds_tensor *x, struct gds_tensor *ids);

/* HC_COMB (mHC mix + Sinkhorn, spec 4.2/4.4): X [D, HC, T] (v = X[:, :, t] flat,
 * stream-major), fn F32 [HC*D, n_mix], scale F32 [3] (or [1] for the head), base
 * F32 [n_mix] -> y [n_mix, T]. r = rsqrt(mean(v^2) + eps); mix = (fn·v)*r.
 * n_mix == (2+HC)*HC: y = [pre(HC) | post(HC) | C(HC*HC, C[j][k] at j*HC+k)] with
 *   pre = sigmoid(mix*scale0 + base) + hc_eps, post = 2*sigmoid(mix*scale1 + base),
 *   C = Sinkhorn(mix*scale2 + base): row softmax + hc_eps, column normalize,
 *   then (iters-1) x (row, column) normalizations, hc_eps in every denominator.
 * n_mix == HC (hc head): y = pre only. */
struct gds_tensor *gds_hc_comb(struct gds_context *ctx, struct gds_tensor *X, struct gds_tensor *fn, struct gds_tensor *scale, struct gds_tensor *base, float eps, float hc_eps, int iters);

/* HC_PRE: X [D, HC, T], comb [n_mix >= HC, T] -> x [D, T] = bf16(sum_s comb[s]*X[:, s]). */
struct gds_tensor *gds_hc_pre(struct gds_context *ctx, struct gds_tensor *X, struct gds_tensor *comb);

/* HC_POST: a [D, T], R [D, HC, T], comb [(2+HC)*HC, T] -> [D, HC, T]:
 * y[:, k] = bf16(post_k*a + sum_j C[j][k]*R[:, j]) (fp32 math, one rounding). */
struct gds_tensor *gds_hc_post(struct gds_context *ctx, struct gds_tensor *a, struct gds_tensor *R, struct gds_tensor *comb);

/* COMPRESS (compressor pooling, spec 4.7): k, z [c*d, m, W'] (per token of each
 * window: projections; z includes ape; -inf marks an absent slot).
 * overlap false (c = 1): y [d, W'], y[j, w] = sum_t softmax_t(z[j, t, w]) * k[j, t, w].
 * overlap true (c = 2): y [d, W'-1]; entry w pools 2m slots per channel j:
 * lane A (channel j) of window w and lane B (channel d+j) of window w+1.
 * fp32, no rounding. */
struct gds_tensor *gds_compress(struct gds_context *ctx, struct gds_tensor *k, struct gds_tensor *z, bool overlap);

/* INDEXER (lightning indexer scores, spec 4.8): q [dI, nh, T], kI [dI, S]
 * (F32, or MXFP4: read as its exact f32 values), w [nh, T], pos I32 [T] -> scores [S, T]:
 * sc[s, t] = bf16(sum_h bf16(relu(bf16(q[:, h, t]·kI[:, s])) * w[h, t]))
 * if s < (pos[t] + 1) / ratio (integer division), else -inf. */
struct gds_tensor *gds_indexer(struct gds_context *ctx, struct gds_tensor *q, struct gds_tensor *kI, struct gds_tensor *w, struct gds_tensor *pos, int ratio);

/* ATTN (sparse attention with sinks, spec 4.9): q [hd, H, T], kv [hd, N] (K = V;
 * F32, or KV_E4M3_B64 with hd a multiple of 512: read as its exact f32 values),
 * idx I32 [L, T] (key rows per query; -1 = empty), sinks F32 [H] -> o [hd, H, T].
 * Per query t and head h, keys in list order in blocks of 64: s_j = (q·kv_j)*scale,
 * online softmax in fp32, P rounded to bf16 before the PV product, sink in the
 * denominator only, o = bf16(acc / l). No valid key: o = 0. */
struct gds_tensor *gds_attn(struct gds_context *ctx, struct gds_tensor *q, struct gds_tensor *kv, struct gds_tensor *idx, struct gds_tensor *sinks, float scale);

/* --- graphs -------------------------------------------------------------- */

struct gds_graph {
    int size;
    int n_nodes;                /* ops to run, in dependency order */
    int n_leafs;                /* inputs and weights (op NONE) */
    struct gds_tensor **nodes;
    struct gds_tensor **leafs;
};

struct gds_graph *gds_graph_new(struct gds_context *ctx, int size);
/* Adds t and everything it depends on (depth first, sources in order). */
void gds_graph_build_expand(struct gds_graph *g, struct gds_tensor *t);
struct gds_tensor *gds_graph_node(struct gds_graph *g, int i); /* i < 0: from the end */
void gds_graph_print(const struct gds_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* GDS_H */
