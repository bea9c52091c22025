/*
 * gds.c - core: errors and logging, the arena context, tensors, views, graphs.
 *
 * Invariants: every tensor header lives in its context's arena; a view shares
 * its root source's memory (view_src is always a root, never a view); graphs are
 * arrays inside the arena. Nothing here computes or allocates device memory.
 * Library code never exits: input errors return a status and record a message,
 * programmer errors trip GDS_ASSERT.
 */
#include "gds-impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ===========================================================================
 * Errors, logging, assertions
 * ========================================================================= */

static void log_default(enum gds_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= GDS_LOG_INFO) fputs(msg, stderr);
}

static gds_log_fn g_log_fn = log_default;
static void *g_log_user;
static gds_abort_fn g_abort_fn;
static _Thread_local char g_last_error[512];

void gds_log_set(gds_log_fn fn, void *user) {
    g_log_fn = fn ? fn : log_default;
    g_log_user = fn ? user : NULL;
}

static void log_v(enum gds_log_level level, const char *fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    g_log_fn(level, buf, g_log_user);
}

void gds_log(enum gds_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}

enum gds_status gds_error(enum gds_status st, const char *fmt, ...) {
    /* formatted apart first: callers pass gds_last_error() as an argument to
     * wrap the previous message ("backend '%s': %s"), which vsnprintf into
     * g_last_error itself would overwrite while reading it */
    char msg[sizeof(g_last_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    memcpy(g_last_error, msg, sizeof(msg));
    gds_log(GDS_LOG_ERROR, "gds: error: %s\n", g_last_error);
    return st;
}

const char *gds_last_error(void) { return g_last_error; }

bool gds_prof_enabled(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("GDS_PROF");
        on = e && *e && strcmp(e, "0") != 0;
    }
    return on == 1;
}

void gds_prof_key(const struct gds_tensor *t, char *key, size_t n) {
    if ((t->op == GDS_OP_MUL_MAT || t->op == GDS_OP_MUL_MAT_ID) && t->src[0]) {
        const struct gds_tensor *w = t->src[0];
        while (!w->name[0] && w->view_src) w = w->view_src; /* a view of a weight: the weight's name */
        const char *nm = w->name;
        if (strncmp(nm, "blk.", 4) == 0) {
            const char *d = strchr(nm + 4, '.');
            if (d) nm = d + 1;
        }
        const int64_t cols = t->op == GDS_OP_MUL_MAT ? t->src[1]->ne[1] : t->src[1]->ne[2]; /* columns per weight matrix */
        snprintf(key, n, "%s %s %s %s", gds_op_name(t->op), nm[0] ? nm : "?", gds_type_name(t->src[0]->type), cols == 1 ? "vec" : "mat");
    } else {
        static const char *const sim[] = { " bf16", " fp8", " fp4" };
        const int32_t mode = t->op == GDS_OP_QUANT_SIM ? gds_get_op_param_i32(t, GDS_P_SIM_MODE) : -1;
        snprintf(key, n, "%s%s%s", gds_op_name(t->op), mode >= 0 && mode <= 2 ? sim[mode] : "",
                 t->ne[1] * t->ne[2] * t->ne[3] == 1 ? " (1 row)" : "");
    }
}

const char *gds_status_name(enum gds_status st) {
    switch (st) {
    case GDS_OK: return "ok";
    case GDS_ERR_INVALID: return "invalid argument";
    case GDS_ERR_IO: return "i/o error";
    case GDS_ERR_NOMEM: return "out of memory";
    case GDS_ERR_FORMAT: return "bad format";
    case GDS_ERR_UNSUPPORTED: return "unsupported";
    case GDS_ERR_BACKEND: return "backend error";
    }
    return "unknown status";
}

void gds_set_abort_callback(gds_abort_fn fn) { g_abort_fn = fn; }

void gds_assert_fail(const char *file, int line, const char *expr) {
    char msg[512];
    snprintf(msg, sizeof(msg), "%s:%d: GDS_ASSERT(%s) failed", file, line, expr);
    if (g_abort_fn) g_abort_fn(msg);
    fprintf(stderr, "%s\n", msg);
    abort();
}

/* ===========================================================================
 * Ops table (generated from GDS_OP_LIST)
 * ========================================================================= */

static const char *const op_names[GDS_OP_COUNT] = {
#define X(name, nsrc, str) str,
    GDS_OP_LIST(X)
#undef X
};
static const int op_nsrc[GDS_OP_COUNT] = {
#define X(name, nsrc, str) nsrc,
    GDS_OP_LIST(X)
#undef X
};

const char *gds_op_name(enum gds_op op) { return (unsigned)op < GDS_OP_COUNT ? op_names[op] : "?"; }
int gds_op_min_src(enum gds_op op) { return (unsigned)op < GDS_OP_COUNT ? op_nsrc[op] : 0; }

/* ===========================================================================
 * Context: a bump arena of objects (tensor headers, graphs, data)
 * ========================================================================= */

enum { OBJ_TENSOR, OBJ_GRAPH, OBJ_DATA };

struct gds_object {
    size_t offs, size;
    struct gds_object *next;
    int type;
};

struct gds_context {
    char *mem;
    size_t mem_size;
    bool own_mem;
    bool no_alloc;
    struct gds_object *first, *last;
    size_t used;
};

#define GDS_MEM_ALIGN 64

size_t gds_tensor_overhead(void) {
    return GDS_PAD(sizeof(struct gds_object), GDS_MEM_ALIGN) + GDS_PAD(sizeof(struct gds_tensor), GDS_MEM_ALIGN);
}

struct gds_context *gds_init(struct gds_init_params params) {
    struct gds_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) { gds_error(GDS_ERR_NOMEM, "gds_init: out of memory"); return NULL; }
    size_t size = params.mem_size ? params.mem_size : 1u << 20;
    if (params.mem_buffer) {
        ctx->mem = params.mem_buffer;
    } else {
        ctx->mem = aligned_alloc(GDS_MEM_ALIGN, GDS_PAD(size, GDS_MEM_ALIGN));
        if (!ctx->mem) { free(ctx); gds_error(GDS_ERR_NOMEM, "gds_init: cannot allocate %zu bytes", size); return NULL; }
        ctx->own_mem = true;
    }
    ctx->mem_size = size;
    ctx->no_alloc = params.no_alloc;
    return ctx;
}

void gds_free(struct gds_context *ctx) {
    if (!ctx) return;
    if (ctx->own_mem) free(ctx->mem);
    free(ctx);
}

size_t gds_used_mem(const struct gds_context *ctx) { return ctx->used; }
bool gds_get_no_alloc(const struct gds_context *ctx) { return ctx->no_alloc; }
void gds_set_no_alloc(struct gds_context *ctx, bool no_alloc) { ctx->no_alloc = no_alloc; }

/* Running out of arena is a sizing bug of the caller: assert, with the numbers. */
static struct gds_object *new_object(struct gds_context *ctx, int type, size_t size) {
    size_t hdr = GDS_PAD(sizeof(struct gds_object), GDS_MEM_ALIGN);
    size_t need = hdr + GDS_PAD(size, GDS_MEM_ALIGN);
    if (ctx->used + need > ctx->mem_size) {
        gds_log(GDS_LOG_ERROR, "gds: context arena full: need %zu, used %zu of %zu bytes\n", need, ctx->used, ctx->mem_size);
        GDS_ASSERT(!"context arena too small");
    }
    struct gds_object *obj = (struct gds_object *)(ctx->mem + ctx->used);
    obj->offs = ctx->used + hdr;
    obj->size = size;
    obj->next = NULL;
    obj->type = type;
    if (ctx->last) ctx->last->next = obj; else ctx->first = obj;
    ctx->last = obj;
    ctx->used += need;
    return obj;
}

struct gds_tensor *gds_get_next_tensor(const struct gds_context *ctx, struct gds_tensor *prev) {
    struct gds_object *obj = ctx->first;
    if (prev) {
        obj = (struct gds_object *)((char *)prev - GDS_PAD(sizeof(struct gds_object), GDS_MEM_ALIGN));
        obj = obj->next;
    }
    for (; obj; obj = obj->next)
        if (obj->type == OBJ_TENSOR) return (struct gds_tensor *)(ctx->mem + obj->offs);
    return NULL;
}

/* ===========================================================================
 * Tensors
 * ========================================================================= */

static struct gds_tensor *new_tensor_impl(struct gds_context *ctx, enum gds_type type, int n_dims,
                                          const int64_t *ne, struct gds_tensor *view_src, size_t view_offs) {
    const struct gds_type_traits *tt = gds_type_traits(type);
    GDS_ASSERT(tt && tt->name);
    GDS_ASSERT(n_dims >= 1 && n_dims <= GDS_MAX_DIMS);
    if (view_src && view_src->view_src) {
        view_offs += view_src->view_offs;
        view_src = view_src->view_src;
    }
    struct gds_object *obj = new_object(ctx, OBJ_TENSOR, sizeof(struct gds_tensor));
    struct gds_tensor *t = (struct gds_tensor *)(ctx->mem + obj->offs);
    memset(t, 0, sizeof(*t));
    t->type = type;
    for (int i = 0; i < GDS_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    GDS_ASSERT(t->ne[0] % tt->blck_size == 0);
    t->nb[0] = tt->type_size;
    t->nb[1] = tt->type_size * (size_t)(t->ne[0] / tt->blck_size);
    for (int i = 2; i < GDS_MAX_DIMS; i++) t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
    t->op = GDS_OP_NONE;
    t->view_src = view_src;
    t->view_offs = view_offs;
    if (view_src) {
        if (view_src->data) {
            t->data = (char *)view_src->data + view_offs;
            t->buffer = view_src->buffer;
        }
    } else if (!ctx->no_alloc) {
        struct gds_object *d = new_object(ctx, OBJ_DATA, gds_nbytes(t));
        t->data = ctx->mem + d->offs;
    }
    return t;
}

struct gds_tensor *gds_new_tensor(struct gds_context *ctx, enum gds_type type, int n_dims, const int64_t *ne) {
    return new_tensor_impl(ctx, type, n_dims, ne, NULL, 0);
}
struct gds_tensor *gds_new_tensor_1d(struct gds_context *ctx, enum gds_type type, int64_t ne0) {
    return gds_new_tensor(ctx, type, 1, &ne0);
}
struct gds_tensor *gds_new_tensor_2d(struct gds_context *ctx, enum gds_type type, int64_t ne0, int64_t ne1) {
    int64_t ne[2] = { ne0, ne1 };
    return gds_new_tensor(ctx, type, 2, ne);
}
struct gds_tensor *gds_new_tensor_3d(struct gds_context *ctx, enum gds_type type, int64_t ne0, int64_t ne1, int64_t ne2) {
    int64_t ne[3] = { ne0, ne1, ne2 };
    return gds_new_tensor(ctx, type, 3, ne);
}
struct gds_tensor *gds_new_tensor_4d(struct gds_context *ctx, enum gds_type type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    int64_t ne[4] = { ne0, ne1, ne2, ne3 };
    return gds_new_tensor(ctx, type, 4, ne);
}

struct gds_tensor *gds_set_name(struct gds_tensor *t, const char *name) {
    snprintf(t->name, sizeof(t->name), "%s", name);
    return t;
}

struct gds_tensor *gds_format_name(struct gds_tensor *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    return t;
}

struct gds_tensor *gds_get_tensor(const struct gds_context *ctx, const char *name) {
    for (struct gds_tensor *t = gds_get_next_tensor(ctx, NULL); t; t = gds_get_next_tensor(ctx, t))
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

int64_t gds_nelements(const struct gds_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }
int64_t gds_nrows(const struct gds_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t gds_nbytes(const struct gds_tensor *t) {
    for (int i = 0; i < GDS_MAX_DIMS; i++)
        if (t->ne[i] <= 0) return 0;
    const struct gds_type_traits *tt = gds_type_traits(t->type);
    size_t bytes = (size_t)(t->ne[0] / tt->blck_size) * t->nb[0];
    for (int i = 1; i < GDS_MAX_DIMS; i++) bytes += (size_t)(t->ne[i] - 1) * t->nb[i];
    return bytes;
}

int gds_n_dims(const struct gds_tensor *t) {
    for (int i = GDS_MAX_DIMS - 1; i >= 1; i--)
        if (t->ne[i] > 1) return i + 1;
    return 1;
}

bool gds_is_contiguous(const struct gds_tensor *t) {
    const struct gds_type_traits *tt = gds_type_traits(t->type);
    size_t next = tt->type_size;
    if (t->nb[0] != next) return false;
    next *= (size_t)(t->ne[0] / tt->blck_size);
    for (int i = 1; i < GDS_MAX_DIMS; i++) {
        if (t->ne[i] != 1 && t->nb[i] != next) return false;
        next *= (size_t)t->ne[i];
    }
    return true;
}

bool gds_is_view(const struct gds_tensor *t) { return t->view_src != NULL; }

bool gds_are_same_shape(const struct gds_tensor *a, const struct gds_tensor *b) {
    return a->ne[0] == b->ne[0] && a->ne[1] == b->ne[1] && a->ne[2] == b->ne[2] && a->ne[3] == b->ne[3];
}

bool gds_can_repeat(const struct gds_tensor *b, const struct gds_tensor *a) {
    for (int i = 0; i < GDS_MAX_DIMS; i++)
        if (b->ne[i] <= 0 || a->ne[i] % b->ne[i] != 0) return false;
    return true;
}

float gds_get_op_param_f32(const struct gds_tensor *t, int i) {
    float v;
    memcpy(&v, &t->op_params[i], 4);
    return v;
}
int32_t gds_get_op_param_i32(const struct gds_tensor *t, int i) { return t->op_params[i]; }

void gds_tensor_fill_f32(struct gds_tensor *t, const float *src) {
    GDS_ASSERT(t->data && t->type == GDS_TYPE_F32 && gds_is_contiguous(t));
    GDS_ASSERT(!t->buffer || t->buffer->is_host);
    memcpy(t->data, src, gds_nbytes(t));
}

/* ===========================================================================
 * Views
 * ========================================================================= */

static struct gds_tensor *view_impl(struct gds_context *ctx, struct gds_tensor *a, int n_dims, const int64_t *ne, size_t offset) {
    struct gds_tensor *t = new_tensor_impl(ctx, a->type, n_dims, ne, a, offset);
    t->op = GDS_OP_VIEW;
    t->src[0] = a;
    t->flags = 0;
    return t;
}

/* A view must stay inside its root's bytes. */
static struct gds_tensor *view_checked(struct gds_tensor *t) {
    GDS_ASSERT(gds_nbytes(t) == 0 || t->view_offs + gds_nbytes(t) <= gds_nbytes(t->view_src));
    return t;
}

struct gds_tensor *gds_view_1d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, size_t offset) {
    return view_checked(view_impl(ctx, a, 1, &ne0, offset));
}
struct gds_tensor *gds_view_2d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, size_t nb1, size_t offset) {
    int64_t ne[2] = { ne0, ne1 };
    struct gds_tensor *t = view_impl(ctx, a, 2, ne, offset);
    t->nb[1] = nb1; t->nb[2] = nb1 * (size_t)ne1; t->nb[3] = t->nb[2];
    return view_checked(t);
}
struct gds_tensor *gds_view_3d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, size_t nb1, size_t nb2, size_t offset) {
    int64_t ne[3] = { ne0, ne1, ne2 };
    struct gds_tensor *t = view_impl(ctx, a, 3, ne, offset);
    t->nb[1] = nb1; t->nb[2] = nb2; t->nb[3] = nb2 * (size_t)ne2;
    return view_checked(t);
}
struct gds_tensor *gds_view_4d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, size_t nb1, size_t nb2, size_t nb3, size_t offset) {
    int64_t ne[4] = { ne0, ne1, ne2, ne3 };
    struct gds_tensor *t = view_impl(ctx, a, 4, ne, offset);
    t->nb[1] = nb1; t->nb[2] = nb2; t->nb[3] = nb3;
    return view_checked(t);
}

static struct gds_tensor *reshape_impl(struct gds_context *ctx, struct gds_tensor *a, int n_dims, const int64_t *ne) {
    GDS_ASSERT(gds_is_contiguous(a));
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= ne[i];
    GDS_ASSERT(n == gds_nelements(a));
    return view_impl(ctx, a, n_dims, ne, 0);
}
struct gds_tensor *gds_reshape_1d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0) {
    return reshape_impl(ctx, a, 1, &ne0);
}
struct gds_tensor *gds_reshape_2d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1) {
    int64_t ne[2] = { ne0, ne1 };
    return reshape_impl(ctx, a, 2, ne);
}
struct gds_tensor *gds_reshape_3d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2) {
    int64_t ne[3] = { ne0, ne1, ne2 };
    return reshape_impl(ctx, a, 3, ne);
}
struct gds_tensor *gds_reshape_4d(struct gds_context *ctx, struct gds_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    int64_t ne[4] = { ne0, ne1, ne2, ne3 };
    return reshape_impl(ctx, a, 4, ne);
}

struct gds_tensor *gds_permute(struct gds_context *ctx, struct gds_tensor *a, int ax0, int ax1, int ax2, int ax3) {
    int ax[4] = { ax0, ax1, ax2, ax3 };
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        GDS_ASSERT(ax[i] >= 0 && ax[i] < 4);
        seen |= 1 << ax[i];
    }
    GDS_ASSERT(seen == 15);
    struct gds_tensor *t = view_impl(ctx, a, GDS_MAX_DIMS, a->ne, 0);
    for (int i = 0; i < 4; i++) {
        t->ne[ax[i]] = a->ne[i];
        t->nb[ax[i]] = a->nb[i];
    }
    /* quantized rows cannot be permuted along dim 0 */
    GDS_ASSERT(!gds_type_traits(a->type)->is_quantized || ax[0] == 0);
    return t;
}

struct gds_tensor *gds_transpose(struct gds_context *ctx, struct gds_tensor *a) {
    return gds_permute(ctx, a, 1, 0, 2, 3);
}

/* ===========================================================================
 * Graphs
 * ========================================================================= */

struct gds_graph *gds_graph_new(struct gds_context *ctx, int size) {
    GDS_ASSERT(size > 0);
    /* nodes, leafs, then an open-addressing set of visited tensors (4*size slots) */
    size_t bytes = sizeof(struct gds_graph) + 6 * (size_t)size * sizeof(struct gds_tensor *);
    struct gds_object *obj = new_object(ctx, OBJ_GRAPH, bytes);
    struct gds_graph *g = (struct gds_graph *)(ctx->mem + obj->offs);
    g->size = size;
    g->n_nodes = 0;
    g->n_leafs = 0;
    g->nodes = (struct gds_tensor **)(g + 1);
    g->leafs = g->nodes + size;
    memset(g->leafs + size, 0, 4 * (size_t)size * sizeof(struct gds_tensor *));
    return g;
}

/* Visited set: inserts t, returns true if it was present. */
static bool graph_visited(struct gds_graph *g, struct gds_tensor *t) {
    struct gds_tensor **set = g->leafs + g->size;
    size_t n = 4 * (size_t)g->size, h = ((uintptr_t)t >> 6) * 0x9E3779B97F4A7C15ull % n;
    while (set[h]) {
        if (set[h] == t) return true;
        h = (h + 1) % n;
    }
    set[h] = t;
    return false;
}

/* Depth-first, iterative-free recursion depth is bounded by graph depth; the V4
 * graph is a chain of a few thousand nodes, well within the stack. */
static void graph_visit(struct gds_graph *g, struct gds_tensor *t) {
    if (graph_visited(g, t)) return;
    for (int i = 0; i < GDS_MAX_SRC; i++)
        if (t->src[i]) graph_visit(g, t->src[i]);
    if (t->op == GDS_OP_NONE) {
        GDS_ASSERT(g->n_leafs < g->size);
        g->leafs[g->n_leafs++] = t;
    } else {
        GDS_ASSERT(g->n_nodes < g->size);
        g->nodes[g->n_nodes++] = t;
    }
}

void gds_graph_build_expand(struct gds_graph *g, struct gds_tensor *t) { graph_visit(g, t); }

struct gds_tensor *gds_graph_node(struct gds_graph *g, int i) {
    if (i < 0) i += g->n_nodes;
    GDS_ASSERT(i >= 0 && i < g->n_nodes);
    return g->nodes[i];
}

void gds_graph_print(const struct gds_graph *g) {
    gds_log(GDS_LOG_INFO, "graph: %d nodes, %d leafs\n", g->n_nodes, g->n_leafs);
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        gds_log(GDS_LOG_INFO, "  %4d %-12s %-6s [%lld, %lld, %lld, %lld] %s\n", i, gds_op_name(t->op), gds_type_name(t->type),
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], t->name);
    }
}
