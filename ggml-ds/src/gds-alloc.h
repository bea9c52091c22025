/*
 * gds-alloc.h - internal: interval placement used by the graph allocator and
 * the scheduler (alloc.c).
 */
#ifndef GDS_ALLOC_H
#define GDS_ALLOC_H

#include "gds-impl.h"

struct gds_alloc_item {
    struct gds_tensor *t; /* root tensor to place */
    int first, last;      /* node indices of first write and last read (inclusive) */
    size_t size;          /* bytes */
    size_t offs;          /* out: offset in the buffer */
    int order;            /* internal */
};

/* Places items so that overlapping intervals never share bytes; returns the
 * arena size needed. Deterministic for a given input. */
size_t gds_alloc_plan(struct gds_alloc_item *items, int n, size_t alignment);

/* Collects the roots without data that g's nodes use; *out is malloc'd. */
int gds_alloc_graph_items(struct gds_graph *g, struct gds_alloc_item **out);

/* Pointer -> int map (open addressing), for tensor lookups on big graphs. */
struct gds_ptr_map {
    const void **keys;
    int *vals;
    size_t cap;
};
void gds_ptr_map_init(struct gds_ptr_map *m, size_t n_max);
void gds_ptr_map_free(struct gds_ptr_map *m);
int  gds_ptr_map_get(const struct gds_ptr_map *m, const void *key); /* -1 if absent */
void gds_ptr_map_set(struct gds_ptr_map *m, const void *key, int val);

#endif
