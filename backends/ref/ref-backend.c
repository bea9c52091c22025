/*
 * ref-backend.c - "ref", a deliberately small second backend.
 *
 * It exists to prove the backend interface and to exercise the splitter:
 * it claims only a handful of ops, runs them single-threaded through the CPU
 * backend's scalar kernels, and keeps its tensors in memory that it reports as
 * NOT host-accessible (is_host = false), so the scheduler must copy data in and
 * out through tensor_set/tensor_get exactly as it would for a GPU. A port to a
 * new accelerator starts from this file (backends/README.md).
 */
#include "cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* New buffers hold garbage, as a GPU's fresh allocations do (cudaMalloc and
 * vkAllocateMemory do not clear), where large host allocations come from
 * fresh zero pages: every 4 bytes 0x7FC0FFFF, a quiet NaN as f32 and as
 * both bf16/f16 halves (0x7FC0, 0xFFFF), and as i32 an index far out of any
 * range. A read before the first write then shows up as a non-finite value
 * or a bad index instead of a lucky 0. GDS_REF_FILL=0 turns it off. */
static void ref_fill_garbage(void *p, size_t size) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("GDS_REF_FILL");
        on = !(e && strcmp(e, "0") == 0);
    }
    if (!on) return;
    static const uint8_t pat[4] = { 0xFF, 0xFF, 0xC0, 0x7F }; /* 0x7FC0FFFF little-endian */
    uint8_t *q = p;
    for (size_t i = 0; i < size; i++) q[i] = pat[i & 3];
}

static enum gds_status ref_buffer_alloc(struct gds_backend *b, size_t size, struct gds_buffer *buf) {
    enum gds_status st = gds_host_buffer_alloc(b, size, buf);
    buf->is_host = false; /* pretend to be device memory: only reachable via tensor_set/get */
    if (st == GDS_OK) ref_fill_garbage(buf->base, size);
    return st;
}

static bool ref_supports_op(struct gds_backend *b, const struct gds_tensor *t) {
    (void)b;
    /* GDS_REF_FULL=1 (tests): claim every op the CPU kernels cover, so that a
     * whole model runs on a backend whose memory is not host memory (uploads,
     * device state, input copies: the path a GPU takes, without a GPU) */
    static int full = -1;
    if (full < 0) {
        const char *e = getenv("GDS_REF_FULL");
        full = e && *e && strcmp(e, "0") != 0;
    }
    if (full) return t->op < GDS_OP_COUNT && gds_cpu_kernels[t->op] != NULL;
    switch (t->op) {
    case GDS_OP_ADD:
    case GDS_OP_MUL:
    case GDS_OP_SCALE:
    case GDS_OP_RMS_NORM:
    case GDS_OP_SOFT_MAX:
    case GDS_OP_SILU:
        return true;
    case GDS_OP_MUL_MAT:
        return t->src[0]->type == GDS_TYPE_F32 || t->src[0]->type == GDS_TYPE_F16;
    default:
        return false;
    }
}

static enum gds_status ref_graph_compute(struct gds_backend *b, struct gds_graph *g) {
    (void)b;
    for (int i = 0; i < g->n_nodes; i++) {
        struct gds_tensor *t = g->nodes[i];
        if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW) continue;
        size_t w = gds_cpu_work_size[t->op] ? gds_cpu_work_size[t->op](t, 1) : 0;
        void *work = w ? aligned_alloc(64, GDS_PAD(w, 64)) : NULL;
        if (w && !work) return gds_error(GDS_ERR_NOMEM, "ref backend: scratch of %zu bytes", w);
        struct gds_cpu_params p = { .ith = 0, .nth = 1, .wdata = work, .wsize = w, .simd = GDS_SIMD_SCALAR };
        gds_cpu_kernels[t->op](&p, t);
        free(work);
    }
    return GDS_OK;
}

const struct gds_backend_i gds_backend_ref_i = {
    .name = "ref",
    .init = NULL,
    .free = NULL,
    .buffer_alloc = ref_buffer_alloc,
    .buffer_free = gds_host_buffer_free,
    .buffer_from_host_ptr = NULL,
    .tensor_set = gds_host_tensor_set,
    .tensor_get = gds_host_tensor_get,
    .supports_op = ref_supports_op,
    .graph_compute = ref_graph_compute,
    .synchronize = NULL,
    .alignment = 64,
    .max_size = 0,
    .is_cpu = false,
};
