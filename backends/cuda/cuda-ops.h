/*
 * cuda-ops.h - the surface between the CUDA backend's host glue
 * (cuda-backend.c, C) and its kernels (ops-*.cu, C++ behind extern "C").
 *
 * The host glue turns each graph node into a struct gds_cu_node (device
 * pointers, shapes, byte strides, op params: everything a kernel needs, no
 * host pointers) and calls the op's launcher, which enqueues its kernels on
 * x->stream and returns 0 or a cudaError_t code (never synchronizes).
 *
 * Conventions (the op contracts are in ggml-ds/include/gds.h; the CPU
 * kernels in backends/cpu are the reference implementation, and a CUDA
 * kernel rounds where they round: minifloat helpers from gds-quants.h,
 * which compile as device code):
 * - dst is contiguous (nb[0] = type size, nb[1] = ne0 * nb[0], ...); sources
 *   may be strided in nb[1..3] (nb[0] = element or block size).
 * - In-place ops (CPY, SET_ROWS) write into dst, which aliases their
 *   destination source (src[1] for CPY, src[0] for SET_ROWS).
 * - A launcher that needs scratch declares its size through the op's
 *   gds_cu_work_* function (bytes for this node); x->scratch then holds at
 *   least that many bytes, aligned to 256, valid until the next node.
 * - Results do not depend on launch geometry: a reduction is computed in one
 *   fixed order per output element (no atomics on floats), so a graph gives
 *   the same bits on every run.
 */
#ifndef GDS_CUDA_OPS_H
#define GDS_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "gds.h" /* GDS_MAX_SRC, GDS_MAX_OP_PARAMS, enum gds_type, enum gds_op */

#ifdef __cplusplus
extern "C" {
#endif

struct gds_cu_t {
    char *data;       /* device address (NULL for an absent source) */
    int32_t type;     /* enum gds_type */
    int64_t ne[4];
    int64_t nb[4];    /* byte strides */
};

struct gds_cu_node {
    int32_t op;                          /* enum gds_op */
    int32_t n_src;
    char *dst_bf16;                      /* non-NULL: every output element y is also stored as
                                            bf16(y) here, at dst's offsets (a QUANT_SIM BF16 fused
                                            into this node by the glue: its output); only for the
                                            ops of gds_cu_fuses_bf16 */
    int32_t params[GDS_MAX_OP_PARAMS];   /* the tensor's op_params (floats by bit pattern) */
    struct gds_cu_t dst;
    struct gds_cu_t src[GDS_MAX_SRC];
};

struct gds_cu_exec {
    void *stream;        /* cudaStream_t */
    void *scratch;       /* device scratch, scratch_size bytes */
    size_t scratch_size;
    int n_sm;            /* multiprocessors of the device */
    int cc;              /* compute capability, major * 10 + minor */
};

/* Launchers: 0 or a cudaError_t code. */
#define GDS_CU_OPS(X) \
    X(cpy) X(get_rows) X(set_rows) X(concat) \
    X(add) X(mul) X(div) X(scale) X(sqrt) X(sigmoid) X(softplus) X(silu) X(swiglu) \
    X(rms_norm) X(sum_rows) X(soft_max) X(rope) X(hadamard) X(quant_sim) \
    X(top_k) X(mul_mat) X(mul_mat_id) \
    X(hc_comb) X(hc_pre) X(hc_post) \
    X(compress) X(indexer) X(attn)

#define GDS_CU_DECL_(name) int gds_cu_run_##name(const struct gds_cu_node *n, const struct gds_cu_exec *x);
GDS_CU_OPS(GDS_CU_DECL_)
#undef GDS_CU_DECL_

/* Scratch bytes of the ops that need it (0 otherwise). */
size_t gds_cu_work_mul_mat(const struct gds_cu_node *n);
size_t gds_cu_work_mul_mat_id(const struct gds_cu_node *n);
size_t gds_cu_work_top_k(const struct gds_cu_node *n);

/* ops whose launchers honour gds_cu_node.dst_bf16: besides y = f(x) they store
 * bf16(y), the bits of f followed by QUANT_SIM BF16 */
static inline int gds_cu_fuses_bf16(int32_t op) {
    switch (op) {
    case GDS_OP_ADD: case GDS_OP_MUL: case GDS_OP_DIV: case GDS_OP_SCALE: case GDS_OP_SQRT: case GDS_OP_SIGMOID:
    case GDS_OP_SOFTPLUS: case GDS_OP_SILU: case GDS_OP_SWIGLU: case GDS_OP_RMS_NORM: case GDS_OP_ROPE:
    case GDS_OP_HADAMARD: case GDS_OP_MUL_MAT: case GDS_OP_MUL_MAT_ID: case GDS_OP_CPY:
        return 1;
    default: return 0;
    }
}

/* float op params by bit pattern */
static inline float gds_cu_param_f32(const struct gds_cu_node *n, int i) {
    union { int32_t i; float f; } u;
    u.i = n->params[i];
    return u.f;
}

#ifdef __cplusplus
}
#endif
#endif /* GDS_CUDA_OPS_H */
