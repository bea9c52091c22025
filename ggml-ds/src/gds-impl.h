/*
 * gds-impl.h - internal declarations: the backend vtable and small helpers.
 *
 * A backend port implements struct gds_backend_i (about ten functions) and
 * registers itself in backend.c's static table. See backends/README.md.
 */
#ifndef GDS_IMPL_H
#define GDS_IMPL_H

#include "gds.h"
#include "gds-backend.h"
#include "gds-quants.h"

#include <string.h>

struct gds_backend_i {
    const char *name;
    /* state: allocate backend->ctx; return GDS_OK or an error (with gds_error). */
    enum gds_status (*init)(struct gds_backend *b, int device);
    void (*free)(struct gds_backend *b);
    /* buffers: fill buf->base/size/is_host/ctx. */
    enum gds_status (*buffer_alloc)(struct gds_backend *b, size_t size, struct gds_buffer *buf);
    void (*buffer_free)(struct gds_backend *b, struct gds_buffer *buf);
    /* optional (NULL): wrap host memory without a copy. */
    enum gds_status (*buffer_from_host_ptr)(struct gds_backend *b, void *ptr, size_t size, struct gds_buffer *buf);
    /* bytes [offset, offset+n) of t's data. */
    enum gds_status (*tensor_set)(struct gds_backend *b, struct gds_tensor *t, const void *src, size_t offset, size_t n);
    enum gds_status (*tensor_get)(struct gds_backend *b, const struct gds_tensor *t, void *dst, size_t offset, size_t n);
    bool (*supports_op)(struct gds_backend *b, const struct gds_tensor *node);
    /* every node's tensors have data in this backend's buffers (or host buffers
     * if the backend reports can_read_host). */
    enum gds_status (*graph_compute)(struct gds_backend *b, struct gds_graph *g);
    enum gds_status (*synchronize)(struct gds_backend *b);
    /* optional (NULL: through the host): memmove of n bytes between two
     * addresses of this backend's buffers (regions may overlap). */
    enum gds_status (*memmove)(struct gds_backend *b, void *dst, const void *src, size_t n);
    size_t alignment;
    size_t max_size;
    bool is_cpu;
};

struct gds_backend {
    const struct gds_backend_i *iface;
    void *ctx;
    int device;
};

/* built-in backends */
extern const struct gds_backend_i gds_backend_cpu_i;
extern const struct gds_backend_i gds_backend_ref_i;
extern const struct gds_backend_i gds_backend_cuda_i; /* make CUDA=1 */
extern const struct gds_backend_i gds_backend_vulkan_i; /* make VULKAN=1 */

/* Host buffer helpers shared by backends whose memory is host memory. */
enum gds_status gds_host_buffer_alloc(struct gds_backend *b, size_t size, struct gds_buffer *buf);
void gds_host_buffer_free(struct gds_backend *b, struct gds_buffer *buf);
enum gds_status gds_host_buffer_from_ptr(struct gds_backend *b, void *ptr, size_t size, struct gds_buffer *buf);
enum gds_status gds_host_tensor_set(struct gds_backend *b, struct gds_tensor *t, const void *src, size_t offset, size_t n);
enum gds_status gds_host_tensor_get(struct gds_backend *b, const struct gds_tensor *t, void *dst, size_t offset, size_t n);

static inline void gds_set_op_params(struct gds_tensor *t, const void *p, size_t n) {
    GDS_ASSERT(n <= sizeof(t->op_params));
    memcpy(t->op_params, p, n);
}
static inline void gds_set_op_param_i32(struct gds_tensor *t, int i, int32_t v) { t->op_params[i] = v; }
static inline void gds_set_op_param_f32(struct gds_tensor *t, int i, float v) { memcpy(&t->op_params[i], &v, 4); }

/* op param slots used by constructors and kernels */
enum {
    /* SCALE */      GDS_P_SCALE_S = 0, GDS_P_SCALE_B = 1,
    /* SWIGLU */     GDS_P_SWIGLU_LIMIT = 0,
    /* RMS_NORM */   GDS_P_NORM_EPS = 0,
    /* SOFT_MAX */   GDS_P_SOFTMAX_SCALE = 0,
    /* CONCAT */     GDS_P_CONCAT_DIM = 0,
    /* ROPE */       GDS_P_ROPE_NROT = 0, GDS_P_ROPE_BASE = 1, GDS_P_ROPE_YFACTOR = 2, GDS_P_ROPE_YORIG = 3,
                     GDS_P_ROPE_YFAST = 4, GDS_P_ROPE_YSLOW = 5, GDS_P_ROPE_INV = 6,
    /* QUANT_SIM */  GDS_P_SIM_MODE = 0, GDS_P_SIM_BLOCK = 1, GDS_P_SIM_NDIMS = 2,
    /* TOP_K */      GDS_P_TOPK_K = 0,
    /* HC_COMB */    GDS_P_HC_EPS = 0, GDS_P_HC_HCEPS = 1, GDS_P_HC_ITERS = 2,
    /* COMPRESS */   GDS_P_COMP_OVERLAP = 0,
    /* INDEXER */    GDS_P_IDX_RATIO = 0,
    /* ATTN */       GDS_P_ATTN_SCALE = 0,
};

/* GDS_PROF set and not "0" (read once): the profiles of the CPU backend, the
 * scheduler and the model print at exit */
bool gds_prof_enabled(void);
/* the GDS_PROF table key of a node: its op, and for MUL_MAT / MUL_MAT_ID the
 * weight's name without "blk.N.", its type and "vec" / "mat" (one column or
 * more); other ops get " (1 row)" when they have a single row */
void gds_prof_key(const struct gds_tensor *t, char *key, size_t n);

/* ROPE's fp32 frequency table, freq[0 .. n_rot/2) (ops.c; shared by the backends' kernels) */
void gds_rope_freqs(float *freq, int n_rot, float base, float factor, float orig, float beta_fast, float beta_slow);

/* the tensor whose memory t aliases (t itself unless t is a view) */
static inline struct gds_tensor *gds_root_of(struct gds_tensor *t) { return t->view_src ? t->view_src : t; }

#define GDS_UNUSED(x) (void)(x)
#define GDS_PAD(x, n) (((x) + (n) - 1) / (n) * (n))

#endif /* GDS_IMPL_H */
