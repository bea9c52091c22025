/*
 * vulkan-impl.h - the Vulkan backend's internal surface, shared by the host
 * glue (vulkan-backend.c), the per-op host entries (vulkan-ops.c) and the
 * generated table of embedded SPIR-V (build/vulkan/shaders.c).
 *
 * Every dispatch sees the same descriptor set layout (shaders/common.glsl):
 *   binding 0     dst (the node's output; read-write)
 *   binding 1..6  src[0..5] (absent: a small dummy buffer)
 *   binding 7     scratch (one device buffer per backend, grown on demand)
 *   binding 8     the dispatch's struct vk_params (512 bytes of a host-visible
 *                 buffer holding every dispatch of the graph)
 * Each tensor binding covers the tensor's byte extent starting at an offset
 * rounded down to minStorageBufferOffsetAlignment; the rest (vk_tensor.offs)
 * is passed in the parameters, so shaders address bytes inside their binding
 * with 32-bit arithmetic (no shaderInt64) and a tensor of a buffer larger than
 * maxStorageBufferRange still binds (only the tensor must fit).
 */
#ifndef GDS_VULKAN_IMPL_H
#define GDS_VULKAN_IMPL_H

#include "gds-impl.h"

#include <stddef.h>
#include <stdint.h>

/* one embedded SPIR-V module (shaders/NAME.comp) */
struct vk_spv {
    const char *name;
    const uint32_t *words;
    size_t n_words;
};
extern const struct vk_spv gds_vk_spv[];
extern const int gds_vk_n_spv;

enum { VK_BIND_DST = 0, VK_BIND_SRC0 = 1, VK_BIND_SCRATCH = 7, VK_BIND_PARAMS = 8, VK_N_BIND = 9 };
enum { VK_PARAMS_SIZE = 512 };

/* a tensor as a shader sees it (std430, mirrors struct Tensor of common.glsl) */
struct vk_tensor {
    uint32_t ne[4];
    uint32_t nb[4];   /* byte strides */
    uint32_t offs;    /* byte offset of the tensor inside its binding */
    uint32_t type;    /* enum gds_type */
    uint32_t pad[2];
};

/* one dispatch's parameters (binding 8; mirrors struct Params of common.glsl) */
struct vk_params {
    struct vk_tensor t[8]; /* 0: dst, 1..6: src[0..5], 7: unused */
    int32_t op[GDS_MAX_OP_PARAMS]; /* the node's op_params (floats by bit pattern) */
    uint32_t u[16];        /* per-dispatch values chosen by the host entry */
    /* followed by the dispatch's aux data (Params.aux[] of common.glsl) */
};
_Static_assert(sizeof(struct vk_params) == VK_PARAMS_SIZE, "vk_params size");

struct vk_ctx;

/* Records one dispatch of shader `shader` (specialization constant 0 =
 * variant, constant 1 = variant >> 16: the workgroup size of a shader that
 * declares layout(local_size_x_id = 1)) for node t with groups[0..2] workgroups; u: n_u values for
 * vk_params.u (NULL: zeros). A global memory barrier follows every dispatch,
 * so consecutive dispatches see each other's writes. */
enum gds_status vk_dispatch(struct vk_ctx *c, const struct gds_tensor *t, const char *shader, int variant,
                            const uint32_t groups[3], const uint32_t *u, int n_u);
/* the same with aux_bytes of host data after the parameters (Params.aux: a
 * small per-dispatch table such as ROPE's frequencies; at most
 * VK_AUX_MAX bytes) */
enum { VK_AUX_MAX = 4 * VK_PARAMS_SIZE };
enum gds_status vk_dispatch_aux(struct vk_ctx *c, const struct gds_tensor *t, const char *shader, int variant,
                                const uint32_t groups[3], const uint32_t *u, int n_u, const void *aux, size_t aux_bytes);
/* the byte offset of tensor t inside its binding (Tensor.offs of the shaders;
 * 1 if t is not in a vulkan buffer): wide loads need it aligned */
uint32_t vk_tensor_offs(const struct vk_ctx *c, const struct gds_tensor *t);
/* device features the supports functions consult */
bool vk_has_f64(const struct vk_ctx *c);
/* the GDS_VK_* switches: environment variable name as an integer (def when
 * unset or empty; a value that is not a number counts as 1) */
int vk_env_int(const char *name, int def);
/* groups for n items at per_group items a group, as (x, y) with x <= the
 * device limit; shaders recover the linear group id with vk_group_id() */
void vk_groups_1d(const struct vk_ctx *c, uint64_t n, uint32_t per_group, uint32_t groups[3]);

/* whether node q (a QUANT_SIM BF16 of p's output, next after p) can run inside
 * p's dispatches (vulkan-ops.c; the shaders' dst_store writes binding 6) */
bool vk_fuses_bf16(const struct gds_tensor *p, const struct gds_tensor *q);

/* per-op host entries (vulkan-ops.c); NULL in vk_ops: not supported */
typedef enum gds_status (*vk_op_fn)(struct vk_ctx *c, const struct gds_tensor *t);
typedef bool (*vk_supports_fn)(const struct vk_ctx *c, const struct gds_tensor *t);
typedef size_t (*vk_work_fn)(const struct gds_tensor *t);
struct vk_op {
    vk_op_fn run;
    vk_supports_fn supports; /* NULL: every node of the op */
    vk_work_fn work;         /* scratch bytes (binding 7) the node needs; NULL: none */
};
extern const struct vk_op gds_vk_ops[GDS_OP_COUNT];

static inline float vk_param_f32(const struct gds_tensor *t, int i) {
    float f;
    memcpy(&f, &t->op_params[i], 4);
    return f;
}

#endif /* GDS_VULKAN_IMPL_H */
