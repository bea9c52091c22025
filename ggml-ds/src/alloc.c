/*
 * alloc.c - liveness-based placement of graph intermediates.
 *
 * Every tensor to place is an interval [first, last] of node indices during
 * which its bytes must be kept (first write .. last read, through any view).
 * Walking time forward, blocks of tensors whose interval ended are returned to
 * a free list (merged with neighbours) and new tensors take the best-fitting
 * free block, else grow the arena at the end. Two tensors therefore share
 * bytes only if their intervals do not overlap. The plan is deterministic.
 *
 * Not done: in-place reuse of an input by its consumer (ggml does this); the
 * V4 decode graph is small enough that it does not pay for the complexity.
 */
#include "gds-alloc.h"

#include <stdlib.h>

struct free_block { size_t offs, size; };

struct planner {
    struct free_block *blocks;
    int n, cap;
    size_t end; /* high-water mark */
};

static void planner_free(struct planner *p, size_t offs, size_t size) {
    /* insert sorted by offset, merging with neighbours */
    int i = 0;
    while (i < p->n && p->blocks[i].offs < offs) i++;
    if (i > 0 && p->blocks[i - 1].offs + p->blocks[i - 1].size == offs) {
        p->blocks[i - 1].size += size;
        if (i < p->n && offs + size == p->blocks[i].offs) {
            p->blocks[i - 1].size += p->blocks[i].size;
            memmove(&p->blocks[i], &p->blocks[i + 1], (size_t)(p->n - i - 1) * sizeof(*p->blocks));
            p->n--;
        }
        return;
    }
    if (i < p->n && offs + size == p->blocks[i].offs) {
        p->blocks[i].offs = offs;
        p->blocks[i].size += size;
        return;
    }
    GDS_ASSERT(p->n < p->cap);
    memmove(&p->blocks[i + 1], &p->blocks[i], (size_t)(p->n - i) * sizeof(*p->blocks));
    p->blocks[i].offs = offs;
    p->blocks[i].size = size;
    p->n++;
}

static size_t planner_take(struct planner *p, size_t size) {
    int best = -1;
    for (int i = 0; i < p->n; i++)
        if (p->blocks[i].size >= size && (best < 0 || p->blocks[i].size < p->blocks[best].size)) best = i;
    if (best >= 0) {
        size_t offs = p->blocks[best].offs;
        p->blocks[best].offs += size;
        p->blocks[best].size -= size;
        if (p->blocks[best].size == 0) {
            memmove(&p->blocks[best], &p->blocks[best + 1], (size_t)(p->n - best - 1) * sizeof(*p->blocks));
            p->n--;
        }
        return offs;
    }
    /* a free block touching the end can be extended */
    if (p->n > 0 && p->blocks[p->n - 1].offs + p->blocks[p->n - 1].size == p->end) {
        size_t offs = p->blocks[p->n - 1].offs;
        p->end = offs + size;
        p->n--;
        return offs;
    }
    size_t offs = p->end;
    p->end += size;
    return offs;
}

static int cmp_item_first(const void *a, const void *b) {
    const struct gds_alloc_item *x = *(const struct gds_alloc_item *const *)a, *y = *(const struct gds_alloc_item *const *)b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

size_t gds_alloc_plan(struct gds_alloc_item *items, int n, size_t alignment) {
    if (n == 0) return 0;
    struct gds_alloc_item **by_first = malloc((size_t)n * sizeof(*by_first));
    struct planner p = { .blocks = malloc((size_t)(n + 1) * sizeof(struct free_block)), .n = 0, .cap = n + 1, .end = 0 };
    GDS_ASSERT(by_first && p.blocks);
    for (int i = 0; i < n; i++) {
        by_first[i] = &items[i];
        items[i].order = i;
        GDS_ASSERT(items[i].first <= items[i].last);
    }
    qsort(by_first, (size_t)n, sizeof(*by_first), cmp_item_first);
    /* items ordered by last use (counting sort), released when time passes it:
     * an item with last < it->first has first <= last, so it is placed already.
     * The free list is the union of the released blocks (neighbours merged),
     * whatever the release order, so the plan does not depend on it. */
    int max_last = 0;
    for (int i = 0; i < n; i++) max_last = items[i].last > max_last ? items[i].last : max_last;
    int *start = calloc((size_t)max_last + 2, sizeof(int));
    struct gds_alloc_item **by_last = malloc((size_t)n * sizeof(*by_last));
    GDS_ASSERT(start && by_last);
    for (int i = 0; i < n; i++) start[items[i].last + 1]++;
    for (int t = 0; t <= max_last; t++) start[t + 1] += start[t];
    for (int i = 0; i < n; i++) by_last[start[items[i].last]++] = &items[i];
    int rel = 0;
    for (int k = 0; k < n; k++) {
        struct gds_alloc_item *it = by_first[k];
        for (; rel < n && by_last[rel]->last < it->first; rel++)
            planner_free(&p, by_last[rel]->offs, GDS_PAD(by_last[rel]->size ? by_last[rel]->size : 1, alignment));
        it->offs = planner_take(&p, GDS_PAD(it->size ? it->size : 1, alignment));
    }
    size_t total = p.end;
    free(start);
    free(by_last);
    free(p.blocks);
    free(by_first);
    return total;
}

/* ---- graph allocator ------------------------------------------------------------- */


void gds_ptr_map_init(struct gds_ptr_map *m, size_t n_max) {
    m->cap = 16;
    while (m->cap < 2 * n_max) m->cap *= 2;
    m->keys = calloc(m->cap, sizeof(*m->keys));
    m->vals = calloc(m->cap, sizeof(*m->vals));
    GDS_ASSERT(m->keys && m->vals);
}
void gds_ptr_map_free(struct gds_ptr_map *m) {
    free(m->keys);
    free(m->vals);
}
static size_t ptr_hash(const void *p, size_t cap) { return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1); }
int gds_ptr_map_get(const struct gds_ptr_map *m, const void *key) {
    for (size_t h = ptr_hash(key, m->cap); m->keys[h]; h = (h + 1) & (m->cap - 1))
        if (m->keys[h] == key) return m->vals[h];
    return -1;
}
void gds_ptr_map_set(struct gds_ptr_map *m, const void *key, int val) {
    size_t h = ptr_hash(key, m->cap);
    while (m->keys[h] && m->keys[h] != key) h = (h + 1) & (m->cap - 1);
    m->keys[h] = key;
    m->vals[h] = val;
}

/* Intervals of every root without data that g's nodes write or read. */
int gds_alloc_graph_items(struct gds_graph *g, struct gds_alloc_item **out) {
    size_t n_max = (size_t)g->n_nodes * (GDS_MAX_SRC + 1) + 1;
    struct gds_alloc_item *items = calloc(n_max, sizeof(*items));
    GDS_ASSERT(items);
    struct gds_ptr_map map;
    gds_ptr_map_init(&map, n_max);
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        struct gds_tensor *node = g->nodes[i];
        for (int s = -1; s < GDS_MAX_SRC; s++) {
            struct gds_tensor *t = s < 0 ? node : node->src[s];
            if (!t) continue;
            struct gds_tensor *r = gds_root_of(t);
            if (r->data) continue;
            int k = gds_ptr_map_get(&map, r);
            if (k < 0) {
                k = n++;
                gds_ptr_map_set(&map, r, k);
                items[k].t = r;
                items[k].first = i;
                items[k].size = gds_nbytes(r);
            }
            items[k].last = i;
        }
    }
    gds_ptr_map_free(&map);
    for (int k = 0; k < n; k++)
        if ((items[k].t->flags & GDS_TENSOR_FLAG_OUTPUT) || items[k].t == g->nodes[g->n_nodes - 1]) items[k].last = g->n_nodes;
    *out = items;
    return n;
}

size_t gds_gallocr_measure(struct gds_graph *g, size_t alignment) {
    struct gds_alloc_item *items;
    int n = gds_alloc_graph_items(g, &items);
    size_t total = gds_alloc_plan(items, n, alignment ? alignment : 64);
    free(items);
    return total;
}

enum gds_status gds_gallocr_alloc(struct gds_graph *g, struct gds_buffer *buf) { return gds_gallocr_alloc_fit(g, buf, NULL); }

enum gds_status gds_gallocr_alloc_fit(struct gds_graph *g, struct gds_buffer *buf, size_t *need) {
    size_t align = gds_backend_alignment(buf->backend);
    struct gds_alloc_item *items;
    int n = gds_alloc_graph_items(g, &items);
    size_t total = gds_alloc_plan(items, n, align ? align : 64);
    if (need) *need = total;
    if (total > buf->size) {
        free(items);
        if (need) return GDS_ERR_NOMEM; /* the caller grows the buffer: not an error to report */
        return gds_error(GDS_ERR_NOMEM, "graph needs %zu bytes of intermediates, buffer has %zu", total, buf->size);
    }
    for (int k = 0; k < n; k++) {
        enum gds_status st = gds_tensor_alloc_at(items[k].t, buf, items[k].offs);
        if (st != GDS_OK) { free(items); return st; }
    }
    free(items);
    for (int i = 0; i < g->n_nodes; i++) {
        struct gds_tensor *t = g->nodes[i];
        for (int s = -1; s < GDS_MAX_SRC; s++) {
            struct gds_tensor *x = s < 0 ? t : t->src[s];
            if (x && x->view_src && x->view_src->data && x->data != (char *)x->view_src->data + x->view_offs) gds_tensor_init_view(x);
        }
    }
    return GDS_OK;
}
