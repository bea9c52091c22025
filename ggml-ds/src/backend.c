/*
 * backend.c - backend registry and the thin dispatch layer over the vtable:
 * buffers, tensor placement, tensor set/get, supports_op, compute.
 *
 * The registry is a static table chosen at build time (no dlopen). Host-memory
 * helpers here serve every backend whose buffers are plain host memory (the
 * CPU backend, and wrapping an mmap'd file).
 */
#include "gds-impl.h"

#include <stdio.h>
#include <stdlib.h>

static const struct gds_backend_i *const registry[] = {
    &gds_backend_cpu_i,
    &gds_backend_ref_i,
#ifdef GDS_USE_CUDA
    &gds_backend_cuda_i,
#endif
#ifdef GDS_USE_VULKAN
    &gds_backend_vulkan_i,
#endif
};
#define N_REGISTRY ((int)(sizeof(registry) / sizeof(registry[0])))

int gds_backend_count(void) { return N_REGISTRY; }
const char *gds_backend_name_at(int i) { return i >= 0 && i < N_REGISTRY ? registry[i]->name : NULL; }

struct gds_backend *gds_backend_init(const char *name, int device) {
    for (int i = 0; i < N_REGISTRY; i++) {
        if (strcmp(registry[i]->name, name) != 0) continue;
        struct gds_backend *b = calloc(1, sizeof(*b));
        if (!b) { gds_error(GDS_ERR_NOMEM, "backend %s: out of memory", name); return NULL; }
        b->iface = registry[i];
        b->device = device;
        if (b->iface->init && b->iface->init(b, device) != GDS_OK) { free(b); return NULL; }
        return b;
    }
    gds_error(GDS_ERR_INVALID, "unknown backend '%s' (not built in)", name);
    return NULL;
}

void gds_backend_free(struct gds_backend *b) {
    if (!b) return;
    if (b->iface->free) b->iface->free(b);
    free(b);
}

const char *gds_backend_name(const struct gds_backend *b) { return b->iface->name; }
bool gds_backend_is_cpu(const struct gds_backend *b) { return b->iface->is_cpu; }
size_t gds_backend_alignment(const struct gds_backend *b) { return b->iface->alignment; }

/* ---- buffers --------------------------------------------------------------- */

struct gds_buffer *gds_backend_buffer_alloc(struct gds_backend *b, size_t size) {
    if (b->iface->max_size && size > b->iface->max_size) {
        gds_error(GDS_ERR_NOMEM, "backend %s: buffer of %zu bytes exceeds the maximum %zu", b->iface->name, size, b->iface->max_size);
        return NULL;
    }
    struct gds_buffer *buf = calloc(1, sizeof(*buf));
    if (!buf) { gds_error(GDS_ERR_NOMEM, "out of memory"); return NULL; }
    buf->backend = b;
    buf->owned = true;
    if (b->iface->buffer_alloc(b, size, buf) != GDS_OK) { free(buf); return NULL; }
    return buf;
}

struct gds_buffer *gds_backend_buffer_from_host_ptr(struct gds_backend *b, void *ptr, size_t size) {
    if (!b->iface->buffer_from_host_ptr) {
        gds_error(GDS_ERR_UNSUPPORTED, "backend %s cannot wrap host memory", b->iface->name);
        return NULL;
    }
    struct gds_buffer *buf = calloc(1, sizeof(*buf));
    if (!buf) { gds_error(GDS_ERR_NOMEM, "out of memory"); return NULL; }
    buf->backend = b;
    buf->owned = false;
    if (b->iface->buffer_from_host_ptr(b, ptr, size, buf) != GDS_OK) { free(buf); return NULL; }
    return buf;
}

void gds_buffer_free(struct gds_buffer *buf) {
    if (!buf) return;
    if (buf->backend->iface->buffer_free) buf->backend->iface->buffer_free(buf->backend, buf);
    free(buf);
}

enum gds_status gds_host_buffer_alloc(struct gds_backend *b, size_t size, struct gds_buffer *buf) {
    size_t align = b->iface->alignment ? b->iface->alignment : 64;
    void *p = aligned_alloc(align, GDS_PAD(size ? size : 1, align));
    if (!p) return gds_error(GDS_ERR_NOMEM, "backend %s: cannot allocate %zu bytes", b->iface->name, size);
    buf->base = p;
    buf->size = size;
    buf->is_host = true;
    return GDS_OK;
}

void gds_host_buffer_free(struct gds_backend *b, struct gds_buffer *buf) {
    (void)b;
    if (buf->owned) free(buf->base);
}

enum gds_status gds_host_buffer_from_ptr(struct gds_backend *b, void *ptr, size_t size, struct gds_buffer *buf) {
    (void)b;
    buf->base = ptr;
    buf->size = size;
    buf->is_host = true;
    return GDS_OK;
}

enum gds_status gds_host_tensor_set(struct gds_backend *b, struct gds_tensor *t, const void *src, size_t offset, size_t n) {
    (void)b;
    memcpy((char *)t->data + offset, src, n);
    return GDS_OK;
}

enum gds_status gds_host_tensor_get(struct gds_backend *b, const struct gds_tensor *t, void *dst, size_t offset, size_t n) {
    (void)b;
    memcpy(dst, (const char *)t->data + offset, n);
    return GDS_OK;
}

/* ---- placement --------------------------------------------------------------- */

void gds_tensor_init_view(struct gds_tensor *t) {
    GDS_ASSERT(t->view_src && t->view_src->data);
    t->data = (char *)t->view_src->data + t->view_offs;
    t->buffer = t->view_src->buffer;
}

enum gds_status gds_tensor_alloc_at(struct gds_tensor *t, struct gds_buffer *buf, size_t offset) {
    size_t n = gds_nbytes(t);
    if (offset > buf->size || n > buf->size - offset)
        return gds_error(GDS_ERR_INVALID, "tensor '%s': %zu bytes at offset %zu do not fit a buffer of %zu", t->name, n, offset, buf->size);
    GDS_ASSERT(!t->view_src);
    t->data = (char *)buf->base + offset;
    t->buffer = buf;
    return GDS_OK;
}

struct gds_buffer *gds_backend_alloc_ctx_tensors(struct gds_backend *b, struct gds_context *ctx) {
    size_t align = b->iface->alignment ? b->iface->alignment : 64, total = 0;
    for (struct gds_tensor *t = gds_get_next_tensor(ctx, NULL); t; t = gds_get_next_tensor(ctx, t))
        if (!t->data && !t->view_src) total += GDS_PAD(gds_nbytes(t), align);
    struct gds_buffer *buf = gds_backend_buffer_alloc(b, total);
    if (!buf) return NULL;
    size_t offs = 0;
    for (struct gds_tensor *t = gds_get_next_tensor(ctx, NULL); t; t = gds_get_next_tensor(ctx, t)) {
        if (t->data || t->view_src) continue;
        gds_tensor_alloc_at(t, buf, offs);
        offs += GDS_PAD(gds_nbytes(t), align);
    }
    for (struct gds_tensor *t = gds_get_next_tensor(ctx, NULL); t; t = gds_get_next_tensor(ctx, t))
        if (!t->data && t->view_src && t->view_src->data) gds_tensor_init_view(t);
    return buf;
}

/* ---- tensor data ----------------------------------------------------------------- */

static struct gds_buffer *tensor_buffer(const struct gds_tensor *t) {
    if (!t->buffer && t->view_src && t->view_src->buffer) gds_tensor_init_view((struct gds_tensor *)t);
    return t->buffer;
}

enum gds_status gds_backend_tensor_set(struct gds_tensor *t, const void *src, size_t offset, size_t n) {
    struct gds_buffer *buf = tensor_buffer(t);
    if (!buf && !t->data) return gds_error(GDS_ERR_INVALID, "tensor '%s' has no memory", t->name);
    if (offset > gds_nbytes(t) || n > gds_nbytes(t) - offset)
        return gds_error(GDS_ERR_INVALID, "tensor '%s': write of %zu bytes at %zu exceeds %zu", t->name, n, offset, gds_nbytes(t));
    if (n == 0) return GDS_OK;
    if (!buf) { /* host memory of a context arena */
        memcpy((char *)t->data + offset, src, n);
        return GDS_OK;
    }
    return buf->backend->iface->tensor_set(buf->backend, t, src, offset, n);
}

enum gds_status gds_backend_tensor_get(const struct gds_tensor *t, void *dst, size_t offset, size_t n) {
    struct gds_buffer *buf = tensor_buffer(t);
    if (!buf && !t->data) return gds_error(GDS_ERR_INVALID, "tensor '%s' has no memory", t->name);
    if (offset > gds_nbytes(t) || n > gds_nbytes(t) - offset)
        return gds_error(GDS_ERR_INVALID, "tensor '%s': read of %zu bytes at %zu exceeds %zu", t->name, n, offset, gds_nbytes(t));
    if (n == 0) return GDS_OK;
    if (!buf) {
        memcpy(dst, (const char *)t->data + offset, n);
        return GDS_OK;
    }
    return buf->backend->iface->tensor_get(buf->backend, t, dst, offset, n);
}

/* n bytes of host memory to buf at offset (one copy, whatever tensors live there) */
enum gds_status gds_buffer_write(struct gds_buffer *buf, size_t offset, const void *src, size_t n) {
    if (offset > buf->size || n > buf->size - offset)
        return gds_error(GDS_ERR_INVALID, "buffer write of %zu bytes at %zu exceeds %zu", n, offset, buf->size);
    if (n == 0) return GDS_OK;
    if (buf->is_host) {
        memcpy((char *)buf->base + offset, src, n);
        return GDS_OK;
    }
    struct gds_tensor t; /* a byte range of the buffer, as the backend's tensor_set expects it */
    memset(&t, 0, sizeof t);
    t.type = GDS_TYPE_F32;
    t.data = (char *)buf->base + offset;
    t.buffer = buf;
    snprintf(t.name, sizeof t.name, "buffer range");
    return buf->backend->iface->tensor_set(buf->backend, &t, src, 0, n);
}

/* bytes [src_off, src_off+n) of t to [dst_off, dst_off+n), overlapping allowed (memmove) */
enum gds_status gds_backend_tensor_move(struct gds_tensor *t, size_t dst_off, size_t src_off, size_t n) {
    struct gds_buffer *buf = tensor_buffer(t);
    if (!buf && !t->data) return gds_error(GDS_ERR_INVALID, "tensor '%s' has no memory", t->name);
    const size_t nb = gds_nbytes(t);
    if (dst_off > nb || src_off > nb || n > nb - dst_off || n > nb - src_off)
        return gds_error(GDS_ERR_INVALID, "tensor '%s': move of %zu bytes from %zu to %zu exceeds %zu", t->name, n, src_off, dst_off, nb);
    if (n == 0 || dst_off == src_off) return GDS_OK;
    if (!buf || buf->is_host) {
        memmove((char *)t->data + dst_off, (const char *)t->data + src_off, n);
        return GDS_OK;
    }
    struct gds_backend *b = buf->backend;
    if (b->iface->memmove) return b->iface->memmove(b, (char *)t->data + dst_off, (const char *)t->data + src_off, n);
    void *stage = malloc(n); /* through the host */
    if (!stage) return gds_error(GDS_ERR_NOMEM, "tensor '%s': staging %zu bytes", t->name, n);
    enum gds_status st = b->iface->tensor_get(b, t, stage, src_off, n);
    if (st == GDS_OK) st = b->iface->tensor_set(b, t, stage, dst_off, n);
    free(stage);
    return st;
}

/* ---- compute -------------------------------------------------------------------- */

bool gds_backend_supports_op(struct gds_backend *b, const struct gds_tensor *node) {
    if (node->op == GDS_OP_NONE || node->op == GDS_OP_VIEW) return true;
    return b->iface->supports_op && b->iface->supports_op(b, node);
}

enum gds_status gds_backend_graph_compute(struct gds_backend *b, struct gds_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) {
        struct gds_tensor *t = g->nodes[i];
        if (!t->data && t->view_src && t->view_src->data) gds_tensor_init_view(t);
        if (!t->data) return gds_error(GDS_ERR_INVALID, "graph node %d (%s '%s') has no memory", i, gds_op_name(t->op), t->name);
        if (!gds_backend_supports_op(b, t))
            return gds_error(GDS_ERR_UNSUPPORTED, "backend %s does not support %s (%s) for node '%s'", b->iface->name,
                             gds_op_name(t->op), gds_type_name(t->src[0] ? t->src[0]->type : t->type), t->name);
    }
    enum gds_status st = b->iface->graph_compute(b, g);
    if (st != GDS_OK) return st;
    return gds_backend_synchronize(b);
}

enum gds_status gds_backend_synchronize(struct gds_backend *b) {
    return b->iface->synchronize ? b->iface->synchronize(b) : GDS_OK;
}
