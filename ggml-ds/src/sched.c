/*
 * sched.c - the graph splitter: runs each node on the primary backend when it
 * supports the op and on the CPU backend otherwise.
 *
 * Steps per graph: (1) assign every compute node a backend (in-place nodes -
 * CPY, SET_ROWS - run where their destination lives), (2) cut the node list into
 * splits of consecutive nodes on one backend, (3) for each split, every source
 * whose memory lives on the other backend gets a copy in the split's backend
 * (views are re-created on the copy), (4) place intermediates and copies per
 * backend with the liveness allocator, (5) run the splits in order: copy in,
 * compute, synchronize.
 *
 * Invariants: node sources are rewired to copies only while their split runs and
 * restored afterwards, so the caller's graph is unchanged. Copies go through
 * tensor_get/tensor_set with a host staging buffer: simple, and correct for any
 * pair of backends; a device-to-device path is a later optimization.
 */
#include "gds-alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* GDS_PROF=1: wall time of the splits per backend and of the copies between
 * them, summed over every scheduled graph and printed at exit (hybrid runs:
 * the GPU part, the CPU experts, and the transfers with their synchronisation) */
static int sprof = -1;
static double sprof_compute[2], sprof_copy;
static long sprof_graphs, sprof_splits[2], sprof_copies;
static size_t sprof_bytes;
static char sprof_name[2][32];

static double sprof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sprof_report(void) {
    if (!sprof_graphs) return;
    fprintf(stderr, "GDS_PROF sched: %ld graphs; %s %.3f s in %ld splits; %s %.3f s in %ld splits; copies %.3f s (%ld, %.1f MB); per graph %.3f / %.3f / %.3f ms\n",
            sprof_graphs, sprof_name[0], sprof_compute[0], sprof_splits[0], sprof_name[1], sprof_compute[1], sprof_splits[1], sprof_copy,
            sprof_copies, sprof_bytes / 1e6, 1e3 * sprof_compute[0] / sprof_graphs, 1e3 * sprof_compute[1] / sprof_graphs,
            1e3 * sprof_copy / sprof_graphs);
}

static bool sprof_on(void) {
    if (sprof < 0) {
        sprof = gds_prof_enabled();
        if (sprof) atexit(sprof_report);
    }
    return sprof == 1;
}

#define MAX_BACKENDS 2

struct copy_item {
    struct gds_tensor *src; /* root on the other backend */
    struct gds_tensor *dst; /* copy header in this split's backend */
};

struct split {
    int backend;
    int i0, i1;           /* node range [i0, i1) of the graph */
    int c0, c1;           /* copies [c0, c1) */
};

struct gds_sched {
    struct gds_backend *backends[MAX_BACKENDS]; /* [0] primary, [1] CPU fallback (if primary is not CPU) */
    int n_backends;
    bool own_cpu;
    struct gds_buffer *bufs[MAX_BACKENDS];
    int *node_backend;
    int node_cap;
    int n_splits;
    struct gds_context *tmp;
};

struct gds_sched *gds_sched_new(struct gds_backend *primary) {
    struct gds_sched *s = calloc(1, sizeof(*s));
    if (!s) { gds_error(GDS_ERR_NOMEM, "sched: out of memory"); return NULL; }
    s->backends[0] = primary;
    s->n_backends = 1;
    if (!gds_backend_is_cpu(primary)) {
        s->backends[1] = gds_backend_init("cpu", 0);
        if (!s->backends[1]) { free(s); return NULL; }
        s->own_cpu = true;
        s->n_backends = 2;
    }
    return s;
}

void gds_sched_free(struct gds_sched *s) {
    if (!s) return;
    for (int i = 0; i < s->n_backends; i++) gds_buffer_free(s->bufs[i]);
    if (s->own_cpu) gds_backend_free(s->backends[1]);
    gds_free(s->tmp);
    free(s->node_backend);
    free(s);
}

int gds_sched_n_splits(const struct gds_sched *s) { return s->n_splits; }
struct gds_backend *gds_sched_cpu(const struct gds_sched *s) { return s->backends[s->n_backends - 1]; }
struct gds_backend *gds_sched_node_backend(const struct gds_sched *s, int i) {
    return i >= 0 && i < s->node_cap && s->node_backend[i] >= 0 ? s->backends[s->node_backend[i]] : NULL;
}


/* Memory placed by the caller (not by a previous run of this scheduler). */
#define FLAG_SCHED_PLACED (1 << 16)
static bool has_own_data(const struct gds_sched *s, const struct gds_tensor *r) {
    (void)s;
    return r->data && !(r->flags & FLAG_SCHED_PLACED);
}

/* Backend index owning memory that already exists. */
static int owner_of_buffer(const struct gds_sched *s, const struct gds_buffer *buf) {
    for (int i = 0; i < s->n_backends; i++)
        if (buf->backend == s->backends[i]) return i;
    /* a buffer of another backend instance: host memory belongs to the CPU */
    if (buf->is_host || gds_backend_is_cpu(buf->backend)) return s->n_backends - 1;
    return -1;
}

/* Whole-tensor copy between any two backends through host staging. */
static enum gds_status copy_tensor(struct gds_tensor *src, struct gds_tensor *dst) {
    size_t nb = gds_nbytes(src);
    void *stage = malloc(nb ? nb : 1);
    if (!stage) return gds_error(GDS_ERR_NOMEM, "sched: staging %zu bytes", nb);
    enum gds_status st = gds_backend_tensor_get(src, stage, 0, nb);
    if (st == GDS_OK) st = gds_backend_tensor_set(dst, stage, 0, nb);
    free(stage);
    return st;
}

/* Where a node the primary supports runs when the CPU holds its data:
 * - a product whose weights (src[0] of MUL_MAT / MUL_MAT_ID) live in host
 *   memory runs on the CPU (hybrid: routed experts used from the mmap'd file,
 *   never copied to the device; only the activations cross);
 * - a light op (not a product or attention) whose sources the CPU already
 *   holds more bytes of than the primary stays on the CPU, so the chain after
 *   a CPU product (rounding, swiglu, routing weights, the expert sum) does not
 *   bounce between the backends.
 * The owner map has every source produced before t (graph order). */
static int affinity(const struct gds_ptr_map *owner, struct gds_ptr_map *affine, const struct gds_tensor *t, int cpu) {
    if ((t->op == GDS_OP_MUL_MAT || t->op == GDS_OP_MUL_MAT_ID) && t->src[0]) {
        const struct gds_tensor *w = gds_root_of(t->src[0]);
        if (gds_ptr_map_get(owner, w) != cpu || !w->buffer || !(w->flags & GDS_TENSOR_FLAG_PARAM)) return 0;
        gds_ptr_map_set(affine, t, 1);
        return cpu;
    }
    if (t->op == GDS_OP_MUL_MAT || t->op == GDS_OP_MUL_MAT_ID || t->op == GDS_OP_ATTN || t->op == GDS_OP_INDEXER) return 0;
    /* only after such a product: the CPU nodes the primary could not run keep the plain policy */
    size_t on_cpu = 0, on_primary = 0;
    bool after = false;
    for (int k = 0; k < GDS_MAX_SRC && t->src[k]; k++) {
        const struct gds_tensor *r = gds_root_of(t->src[k]);
        const int o = gds_ptr_map_get(owner, r);
        if (o == cpu) on_cpu += gds_nbytes(t->src[k]);
        else if (o == 0) on_primary += gds_nbytes(t->src[k]);
        after = after || gds_ptr_map_get(affine, r) == 1; /* views of an affine node share its root */
    }
    if (!after || on_cpu <= on_primary) return 0;
    gds_ptr_map_set(affine, t, 1);
    return cpu;
}

enum gds_status gds_sched_graph_compute(struct gds_sched *s, struct gds_graph *g) {
    const int n = g->n_nodes, cpu = s->n_backends - 1;
    enum gds_status st = GDS_OK;
    if (n == 0) return GDS_OK;
    if (s->node_cap < n) {
        free(s->node_backend);
        s->node_backend = malloc((size_t)n * sizeof(int));
        if (!s->node_backend) return gds_error(GDS_ERR_NOMEM, "sched: out of memory");
        s->node_cap = n;
    }

    /* (1) owners of roots and backends of nodes */
    size_t n_max = (size_t)n * (GDS_MAX_SRC + 1) + 1;
    struct gds_ptr_map owner;
    gds_ptr_map_init(&owner, n_max);
    for (int i = 0; i < n; i++) {
        struct gds_tensor *t = g->nodes[i];
        for (int k = -1; k < GDS_MAX_SRC; k++) {
            struct gds_tensor *x = k < 0 ? t : t->src[k];
            if (!x) continue;
            struct gds_tensor *r = gds_root_of(x);
            if (has_own_data(s, r) && gds_ptr_map_get(&owner, r) < 0) {
                /* data without a buffer: host memory of a context arena */
                int o = r->buffer ? owner_of_buffer(s, r->buffer) : cpu;
                if (o < 0) {
                    gds_ptr_map_free(&owner);
                    return gds_error(GDS_ERR_INVALID, "sched: tensor '%s' lives in a buffer of backend %s, which this scheduler does not use",
                                     r->name, gds_backend_name(r->buffer->backend));
                }
                gds_ptr_map_set(&owner, r, o);
            }
        }
    }
    struct gds_ptr_map affine; /* nodes on the CPU by affinity (see affinity) */
    gds_ptr_map_init(&affine, n_max);
    for (int i = 0; i < n; i++) {
        struct gds_tensor *t = g->nodes[i];
        int b;
        if (t->view_src) {
            struct gds_tensor *r = t->view_src;
            b = gds_ptr_map_get(&owner, r);
            if (b < 0) { /* first touch of a data-less destination decides its home */
                b = (t->op != GDS_OP_VIEW && gds_backend_supports_op(s->backends[0], t)) ? 0 : cpu;
                gds_ptr_map_set(&owner, r, b);
            }
            if (t->op != GDS_OP_VIEW && !gds_backend_supports_op(s->backends[b], t)) {
                /* the destination's home cannot run it: run on the other backend on a
                 * copy of the destination, copied back after the split (step 5) */
                int other = b == cpu ? 0 : cpu;
                if (other == b || !gds_backend_supports_op(s->backends[other], t)) {
                    gds_ptr_map_free(&owner);
                    gds_ptr_map_free(&affine);
                    return gds_error(GDS_ERR_UNSUPPORTED, "sched: no backend supports in-place %s '%s'", gds_op_name(t->op), t->name);
                }
                b = other;
            }
        } else {
            b = gds_backend_supports_op(s->backends[0], t) ? 0 : cpu;
            if (b == 0 && cpu != 0) b = affinity(&owner, &affine, t, cpu);
            if (b == cpu && !gds_backend_supports_op(s->backends[cpu], t)) {
                gds_ptr_map_free(&owner);
                gds_ptr_map_free(&affine);
                return gds_error(GDS_ERR_UNSUPPORTED, "sched: no backend supports %s '%s'", gds_op_name(t->op), t->name);
            }
            if (!has_own_data(s, t)) gds_ptr_map_set(&owner, t, b);
        }
        s->node_backend[i] = b;
    }
    gds_ptr_map_free(&affine);
    /* data-less leaf roots read before anything writes them: CPU */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < GDS_MAX_SRC; k++) {
            struct gds_tensor *x = g->nodes[i]->src[k];
            if (x && gds_ptr_map_get(&owner, gds_root_of(x)) < 0) gds_ptr_map_set(&owner, gds_root_of(x), cpu);
        }

    /* (2) splits over compute nodes (views run nowhere and join any split) */
    struct split *splits = malloc((size_t)(n + 1) * sizeof(*splits));
    struct copy_item *copies = malloc(n_max * sizeof(*copies));
    struct gds_tensor **saved = malloc((size_t)n * GDS_MAX_SRC * sizeof(*saved));
    struct gds_alloc_item *items = calloc(n_max * 2, sizeof(*items));
    int *item_backend = malloc(n_max * 2 * sizeof(int));
    if (!splits || !copies || !saved || !items || !item_backend) {
        st = gds_error(GDS_ERR_NOMEM, "sched: out of memory");
        goto done;
    }
    int n_splits = 0;
    for (int i = 0; i < n; i++) {
        if (g->nodes[i]->op == GDS_OP_VIEW) continue;
        int b = s->node_backend[i];
        if (n_splits == 0 || splits[n_splits - 1].backend != b) {
            if (n_splits > 0) splits[n_splits - 1].i1 = i;
            splits[n_splits++] = (struct split){ .backend = b, .i0 = i, .i1 = n };
        }
    }
    if (n_splits > 0) splits[n_splits - 1].i1 = n;
    s->n_splits = n_splits;

    /* (3) copies needed per split; count first to size the header arena */
    int n_copies = 0;
    struct gds_ptr_map copy_of; /* root -> copy index, reset per split */
    gds_ptr_map_init(&copy_of, n_max);
    for (int sp = 0; sp < n_splits; sp++) {
        splits[sp].c0 = n_copies;
        memset(copy_of.keys, 0, copy_of.cap * sizeof(*copy_of.keys));
        for (int i = splits[sp].i0; i < splits[sp].i1; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_VIEW) continue;
            for (int k = 0; k < GDS_MAX_SRC; k++) {
                struct gds_tensor *x = t->src[k];
                if (!x) continue;
                struct gds_tensor *r = gds_root_of(x);
                if (gds_ptr_map_get(&owner, r) == splits[sp].backend) continue;
                if (gds_ptr_map_get(&copy_of, r) >= 0) continue;
                gds_ptr_map_set(&copy_of, r, n_copies);
                copies[n_copies++] = (struct copy_item){ .src = r, .dst = NULL };
            }
        }
        splits[sp].c1 = n_copies;
    }
    /* header arena: copies, views re-created on copies, and one graph per split */
    size_t n_views = 0, graph_bytes = 0;
    for (int sp = 0; sp < n_splits; sp++) {
        graph_bytes += 256 + 6 * sizeof(struct gds_tensor *) * (size_t)(splits[sp].i1 - splits[sp].i0 + 1);
        for (int i = splits[sp].i0; i < splits[sp].i1; i++)
            for (int k = 0; k < GDS_MAX_SRC; k++) {
                struct gds_tensor *x = g->nodes[i]->src[k];
                if (x && x->view_src) n_views++;
            }
    }
    gds_free(s->tmp);
    s->tmp = gds_init((struct gds_init_params){ .mem_size = gds_tensor_overhead() * (size_t)(n_copies + n_views + 8) + graph_bytes + 4096,
                                                .no_alloc = true });
    if (!s->tmp) { st = GDS_ERR_NOMEM; gds_ptr_map_free(&copy_of); goto done; }
    for (int c = 0; c < n_copies; c++) {
        struct gds_tensor *r = copies[c].src, *d = gds_new_tensor(s->tmp, r->type, GDS_MAX_DIMS, r->ne);
        memcpy(d->nb, r->nb, sizeof(d->nb));
        gds_format_name(d, "%.50s#copy", r->name);
        copies[c].dst = d;
    }

    /* (4) placement per backend */
    int n_items = 0;
    struct gds_ptr_map item_of;
    gds_ptr_map_init(&item_of, n_max * 2);
    for (int i = 0; i < n; i++) {
        struct gds_tensor *t = g->nodes[i];
        for (int k = -1; k < GDS_MAX_SRC; k++) {
            struct gds_tensor *x = k < 0 ? t : t->src[k];
            if (!x) continue;
            struct gds_tensor *r = gds_root_of(x);
            if (has_own_data(s, r)) continue;
            int it = gds_ptr_map_get(&item_of, r);
            if (it < 0) {
                it = n_items++;
                gds_ptr_map_set(&item_of, r, it);
                items[it] = (struct gds_alloc_item){ .t = r, .first = i, .last = i, .size = gds_nbytes(r) };
                item_backend[it] = gds_ptr_map_get(&owner, r);
            }
            items[it].last = i;
        }
    }
    for (int it = 0; it < n_items; it++)
        if ((items[it].t->flags & GDS_TENSOR_FLAG_OUTPUT) || items[it].t == gds_root_of(g->nodes[n - 1])) items[it].last = n;
    for (int sp = 0; sp < n_splits; sp++)
        for (int c = splits[sp].c0; c < splits[sp].c1; c++) {
            int it = n_items++;
            items[it] = (struct gds_alloc_item){ .t = copies[c].dst, .first = splits[sp].i0, .last = splits[sp].i1 - 1,
                                                 .size = gds_nbytes(copies[c].dst) };
            item_backend[it] = splits[sp].backend;
        }
    gds_ptr_map_free(&item_of);
    gds_ptr_map_free(&copy_of);

    for (int b = 0; b < s->n_backends && st == GDS_OK; b++) {
        struct gds_alloc_item *mine = malloc(((size_t)n_items + 1) * sizeof(*mine));
        int *idx = malloc(((size_t)n_items + 1) * sizeof(int));
        int m = 0;
        for (int it = 0; it < n_items; it++)
            if (item_backend[it] == b) { idx[m] = it; mine[m++] = items[it]; }
        size_t align = gds_backend_alignment(s->backends[b]);
        size_t need = gds_alloc_plan(mine, m, align ? align : 64);
        if (m > 0 && (!s->bufs[b] || s->bufs[b]->size < need)) {
            gds_buffer_free(s->bufs[b]);
            s->bufs[b] = gds_backend_buffer_alloc(s->backends[b], need);
            if (!s->bufs[b]) st = GDS_ERR_NOMEM;
        }
        for (int j = 0; j < m && st == GDS_OK; j++) {
            st = gds_tensor_alloc_at(mine[j].t, s->bufs[b], mine[j].offs);
            mine[j].t->flags |= FLAG_SCHED_PLACED;
        }
        free(mine);
        free(idx);
    }
    if (st != GDS_OK) goto done;
    for (int i = 0; i < n; i++) {
        struct gds_tensor *t = g->nodes[i];
        for (int k = -1; k < GDS_MAX_SRC; k++) {
            struct gds_tensor *x = k < 0 ? t : t->src[k];
            if (x && x->view_src) gds_tensor_init_view(x);
        }
    }

    /* (5) run */
    if (sprof_on()) sprof_graphs++;
    for (int sp = 0; sp < n_splits && st == GDS_OK; sp++) {
        struct gds_backend *be = s->backends[splits[sp].backend];
        const bool prof = sprof_on();
        double tp = prof ? sprof_now() : 0;
        for (int c = splits[sp].c0; c < splits[sp].c1 && st == GDS_OK; c++) {
            st = copy_tensor(copies[c].src, copies[c].dst);
            if (prof) { sprof_copies++; sprof_bytes += gds_nbytes(copies[c].src); }
        }
        if (prof) {
            const double t1 = sprof_now();
            sprof_copy += t1 - tp;
            tp = t1;
        }
        if (st != GDS_OK) break;
        /* rewire sources to copies (re-creating views on them) */
        struct gds_graph *sg = gds_graph_new(s->tmp, splits[sp].i1 - splits[sp].i0 + 1);
        int n_saved = 0;
        for (int i = splits[sp].i0; i < splits[sp].i1; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_VIEW) continue;
            for (int k = 0; k < GDS_MAX_SRC; k++) {
                struct gds_tensor *x = t->src[k];
                saved[n_saved++] = x;
                if (!x) continue;
                struct gds_tensor *r = gds_root_of(x);
                for (int c = splits[sp].c0; c < splits[sp].c1; c++) {
                    if (copies[c].src != r) continue;
                    struct gds_tensor *d = copies[c].dst;
                    if (x != r) {
                        d = gds_view_4d(s->tmp, d, x->ne[0], x->ne[1], x->ne[2], x->ne[3], x->nb[1], x->nb[2], x->nb[3], x->view_offs);
                        d->op = GDS_OP_VIEW;
                    }
                    t->src[k] = d;
                    break;
                }
            }
            sg->nodes[sg->n_nodes++] = t;
        }
        /* in-place nodes whose destination lives elsewhere write into the copy */
        for (int i = splits[sp].i0; i < splits[sp].i1; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_VIEW || !t->view_src) continue;
            for (int c = splits[sp].c0; c < splits[sp].c1; c++)
                if (copies[c].src == t->view_src) {
                    t->data = (char *)copies[c].dst->data + t->view_offs;
                    t->buffer = copies[c].dst->buffer;
                }
        }
        st = be->iface->graph_compute(be, sg);
        if (st == GDS_OK) st = gds_backend_synchronize(be);
        if (prof) {
            const int k = splits[sp].backend == 0 ? 0 : 1;
            const double t1 = sprof_now();
            sprof_compute[k] += t1 - tp;
            sprof_splits[k]++;
            snprintf(sprof_name[k], sizeof sprof_name[k], "%s", gds_backend_name(be));
            tp = t1;
        }
        for (int i = splits[sp].i0; i < splits[sp].i1 && st == GDS_OK; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_VIEW || !t->view_src || t->buffer == t->view_src->buffer) continue;
            for (int c = splits[sp].c0; c < splits[sp].c1 && st == GDS_OK; c++)
                if (copies[c].src == t->view_src) {
                    st = copy_tensor(copies[c].dst, copies[c].src);
                    if (prof) { sprof_copies++; sprof_bytes += gds_nbytes(copies[c].src); }
                }
            gds_tensor_init_view(t);
        }
        if (prof) sprof_copy += sprof_now() - tp;
        n_saved = 0;
        for (int i = splits[sp].i0; i < splits[sp].i1; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_VIEW) continue;
            for (int k = 0; k < GDS_MAX_SRC; k++) t->src[k] = saved[n_saved++];
        }
    }

done:
    gds_ptr_map_free(&owner);
    free(splits);
    free(copies);
    free(saved);
    free(items);
    free(item_backend);
    return st;
}
