/*
 * gds-numa.h - NUMA topology, routed-expert placement and the traffic model
 * (issue 12). Implemented in backends/cpu/numa.c.
 *
 *     struct gds_numa_topo *t = gds_numa_topo_load();       // hwloc; HWLOC_SYNTHETIC / HWLOC_XMLFILE inject one
 *     struct gds_numa_plan *p = gds_numa_plan_new(t, GDS_NUMA_AUTO, n_threads,
 *                                                 n_layers, n_expert, expert_bytes, NULL, false);
 *     gds_numa_plan_add_tensor(p, layer, w->data, w->nb[1], w->ne[1], w->nb[2]); // each routed-expert tensor
 *     gds_numa_plan_print(p, stderr);                        // --print-placement
 *     gds_numa_plan_place(p);                                // pages of each node's experts onto that node
 *     gds_backend_cpu_set_numa(cpu, p);                      // teams pinned to their nodes
 *     ... run ...
 *     gds_numa_report(p, dense_bytes_per_token, NULL, bw_node, bw_link, stderr);
 *
 * Modes: off (nothing changes: no plan, no pinning), interleave (every thread
 * takes a share of every product; the pages are spread over the nodes),
 * experts (each layer's routed experts are partitioned over the nodes; a
 * thread computes only the units of MUL_MAT_ID whose weight rows live on its
 * node). The work split changes, the arithmetic does not: each output element
 * is still one dot product of the same kernel (ops-matmul.c), so logits are
 * bit-identical to --numa off in every mode and on every topology.
 *
 * Placement unit: a "slice" of a routed expert, GDS_NUMA unit-aligned rows of
 * all its projections. Whole-expert placement (the default) gives every
 * expert one node; with split set, each expert's rows are divided over the
 * nodes in proportion to their teams, so every token reads every chosen
 * expert half from each node of a 2-socket machine (no per-token imbalance).
 *
 * An injected topology (hwloc_topology_is_thissystem() false) is planned and
 * scheduled exactly like a real one, but nothing is pinned and no page is
 * bound (its nodes and CPUs are not this machine's): that is how every part
 * is tested on a one-node machine. Without hwloc/libnuma at build time
 * (GDS_HAVE_NUMA undefined, e.g. the aarch64 cross build) the topology is one
 * node of sysconf's CPUs and placement only reports that it is unavailable.
 */
#ifndef GDS_NUMA_H
#define GDS_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum gds_numa_mode { GDS_NUMA_OFF = 0, GDS_NUMA_AUTO, GDS_NUMA_INTERLEAVE, GDS_NUMA_EXPERTS, GDS_NUMA_MODE_COUNT };
const char *gds_numa_mode_name(enum gds_numa_mode m);
bool gds_numa_mode_parse(const char *s, enum gds_numa_mode *m); /* "off", "auto", "interleave", "experts" */

#define GDS_NUMA_MAX_NODES 64
#define GDS_NUMA_UNIT_ROWS 16 /* = GDS_MM_NR of ops-matmul.c: the MUL_MAT_ID work unit */
/* traffic model: GB/s per direction between two nodes when it is neither given
 * nor measurable: 3 UPI 2.0 links x 16 GT/s x 2 B = 96 GB/s raw per direction,
 * about 60 % of it for reads (an assumption; README "NUMA") */
#define GDS_NUMA_LINK_BW_DEFAULT 60.0

struct gds_numa_topo {
    int n_packages, n_nodes, n_cores, n_pus;
    int node_os[GDS_NUMA_MAX_NODES];      /* OS index of node i (what mbind / move_pages take) */
    int node_cores[GDS_NUMA_MAX_NODES];   /* physical cores of node i */
    int node_package[GDS_NUMA_MAX_NODES]; /* logical index of its package */
    uint64_t node_mem[GDS_NUMA_MAX_NODES];/* bytes of local memory (0: unknown) */
    uint64_t l3_bytes;                    /* one L3 (0: none reported) */
    int *core_node;                       /* [n_cores] node (logical index) of each core; cores in node order */
    int *core_pu;                         /* [n_cores] OS index of the core's first PU (what sched_setaffinity takes) */
    bool this_system;                     /* false: injected (HWLOC_SYNTHETIC / HWLOC_XMLFILE): no pinning, no binding */
    bool hwloc;                           /* false: built without hwloc (one node, sysconf CPUs) */
    char source[96];                      /* "hwloc", "HWLOC_SYNTHETIC=...", ... */
};

struct gds_numa_topo *gds_numa_topo_load(void); /* NULL + gds_last_error() */
void gds_numa_topo_free(struct gds_numa_topo *t);
void gds_numa_topo_print(const struct gds_numa_topo *t, FILE *f);

/* one routed-expert tensor of the plan: [K, N, E] rows of nb1 bytes, experts nb2 apart */
struct gds_numa_wt {
    const char *data;
    size_t nb1, nb2;
    int64_t n_rows, n_expert;
    int layer;
    /* counted by MUL_MAT_ID (thread 0) for decode calls (one token) */
    uint64_t calls;
    uint64_t *used;          /* [n_expert] calls that read expert e */
    double sum_max_bytes;    /* sum over calls of the most bytes one node holds of the call's experts (whole-expert owners) */
};

struct gds_numa_plan {
    enum gds_numa_mode mode;   /* resolved: OFF (the plan only counts, for the traffic report), INTERLEAVE or
                                * EXPERTS (AUTO: EXPERTS with more than one node, else OFF) */
    bool split;                /* experts: each expert's rows divided over the nodes (else whole experts) */
    bool replicate_dense;      /* dense weights replicated per node (modelled; see gds_numa_report) */
    bool pin;                  /* threads pinned to their cores (this system only) */
    bool touch;                /* gds_numa_plan_place reads the expert pages in (set it when they fit in memory) */
    const struct gds_numa_topo *topo;
    int n_nodes;               /* = topo->n_nodes */
    int n_threads;
    int team[GDS_NUMA_MAX_NODES];  /* threads per node; teams are disjoint and cover the threads */
    int *thread_node, *thread_rank, *thread_pu; /* [n_threads]; pu: OS CPU to pin to */
    int n_layers, n_expert;
    uint8_t *owner;            /* [n_layers * n_expert] node of each expert (whole-expert placement) */
    double *expert_bytes;      /* [n_layers] bytes of one expert, all projections */
    double node_bytes[GDS_NUMA_MAX_NODES]; /* routed-expert bytes held per node */
    int n_wt, cap_wt;
    struct gds_numa_wt *wt;    /* sorted by data */
    /* dense replicas (gds_numa_plan_replicate): sorted by data; copy[0] is the
     * original (the mapping, bound to node 0), copy[n] node n's copy */
    int n_rep, cap_rep;
    struct gds_numa_rep { const char *data; size_t n; char *copy[GDS_NUMA_MAX_NODES]; } *rep;
    double rep_bytes;          /* memory the copies take */
    /* placement result (gds_numa_plan_place) */
    double placed_bytes, placed_on_node_bytes; /* pages checked, pages found on their node */
    char place_msg[256];
};

/* Plan for n_threads threads (0: one per core). expert_bytes[n_layers]: bytes
 * of one expert of each layer (all projections); popularity (optional,
 * [n_layers * n_expert], any scale): expected reads of each expert; whole
 * experts are then placed so that each node's expected reads, not only its
 * bytes, are balanced. Each node gets expert bytes in proportion to its team. */
struct gds_numa_plan *gds_numa_plan_new(const struct gds_numa_topo *t, enum gds_numa_mode mode, int n_threads, int n_layers,
                                        int n_expert, const double *expert_bytes, const double *popularity, bool split);
void gds_numa_plan_free(struct gds_numa_plan *p);
/* registers a routed-expert tensor of layer (its experts follow the layer's owners) */
bool gds_numa_plan_add_tensor(struct gds_numa_plan *p, int layer, const void *data, size_t nb1, int64_t n_rows, int64_t n_expert,
                              size_t nb2);
const struct gds_numa_wt *gds_numa_plan_find(const struct gds_numa_plan *p, const void *data);
/* --print-placement: nodes and teams, the node of every layer's experts, bytes per node */
void gds_numa_plan_print(const struct gds_numa_plan *p, FILE *f);

/* Chunks (units of GDS_NUMA_UNIT_ROWS rows) [*c0, *c1) of expert e of w that
 * node computes (and whose pages it holds) under the plan; the whole range for
 * interleave. Used by MUL_MAT_ID and by the page placement alike. */
static inline void gds_numa_chunks(const struct gds_numa_plan *p, const struct gds_numa_wt *w, int node, int64_t e,
                                   int64_t nchunk, int64_t *c0, int64_t *c1) {
    if (p->mode != GDS_NUMA_EXPERTS) { *c0 = 0; *c1 = nchunk; return; }
    if (!p->split) {
        const bool mine = p->owner[(size_t)w->layer * (size_t)p->n_expert + (size_t)e] == node;
        *c0 = 0; *c1 = mine ? nchunk : 0;
        return;
    }
    int before = 0;
    for (int n = 0; n < node; n++) before += p->team[n];
    *c0 = nchunk * before / p->n_threads;
    *c1 = nchunk * (before + p->team[node]) / p->n_threads;
}

/* MUL_MAT_ID (thread 0) after sorting a decode call's pairs by expert: cnt[e]
 * pairs of expert e; counts the experts read into w (NULL: not a tensor of
 * the plan). The counters are written by one thread at a time. */
void gds_numa_count(const struct gds_numa_plan *p, const struct gds_numa_wt *w, const int32_t *cnt);

/* --numa-replicate-dense: a copy of [data, data+n) on every node but node 0
 * (numa_alloc_onnode on this machine; plain memory on an injected topology,
 * so the path is tested anywhere); node 0 keeps the original, bound to it.
 * MUL_MAT reads the copy of its thread's node (gds_numa_replica). */
bool gds_numa_plan_replicate(struct gds_numa_plan *p, const void *data, size_t n);
static inline const char *gds_numa_replica(const struct gds_numa_plan *p, const void *data, int node) {
    const char *a = (const char *)data;
    int lo = 0, hi = p->n_rep - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        const struct gds_numa_rep *r = &p->rep[mid];
        if (a < r->data) hi = mid - 1;
        else if (a >= r->data + r->n) lo = mid + 1;
        else return r->copy[node] ? r->copy[node] + (a - r->data) : a;
    }
    return a;
}

/* Pages of every node's experts onto that node (experts; interleave: the whole
 * mappings of the registered tensors interleaved): mbind(MPOL_BIND |
 * MPOL_MF_MOVE) per range, and the workers' own memory policy makes the pages
 * they fault later local (first touch). On an injected topology or without
 * libnuma nothing is bound and p->place_msg says why. Returns true when
 * pages were bound. */
bool gds_numa_plan_place(struct gds_numa_plan *p);

/* The dense weights in interleave and experts mode (without replicas): the
 * pages of [addr, addr+len) interleaved over the plan's nodes
 * (mbind(MPOL_INTERLEAVE | MPOL_MF_MOVE); later faults follow the workers'
 * policies). false where nothing can be bound (injected topology, no libnuma). */
bool gds_numa_interleave(const struct gds_numa_plan *p, const void *addr, size_t len);

/* Binds [addr, addr+len) (page-rounded inwards) to OS node node_os: with
 * touch, first reads every page under the node's memory policy (pages not
 * yet cached come from the node's memory), then mbind(MPOL_BIND |
 * MPOL_MF_MOVE) moves the mapped pages that are elsewhere; then counts the pages of the range on that node
 * (move_pages query) into *on_node / *checked (bytes). false + a message
 * (msg, n bytes) when binding is not possible (no libnuma, node not present,
 * the kernel refused). */
bool gds_numa_bind(void *addr, size_t len, int node_os, bool touch, double *on_node, double *checked, char *msg, size_t n);

/* Makes the calling thread a worker of the plan: pinned to its core (when
 * p->pin) and with the node's memory policy (preferred local node for
 * experts, interleave for interleave). Cheap when nothing changes. */
void gds_numa_thread_enter(const struct gds_numa_plan *p, int ith);

/* Read bandwidth (GB/s, 1e9 bytes/s) of threads pinned to node `reader`
 * reading a buffer bound to node `holder` (a STREAM-like sum, mib MiB, median
 * of passes); 0 when it cannot be measured here (injected topology, no
 * libnuma, nodes absent). */
double gds_numa_probe_bw(const struct gds_numa_topo *t, int reader, int holder, int n_threads, size_t mib);

/* Traffic model: per decode token, bytes each node reads locally and from the
 * other nodes under off, interleave and experts (whole and split), from the
 * plan and the router choices counted so far, and the decode speed they
 * allow: a token is a dense phase (dense_bytes: attention, shared experts,
 * head, all threads) then the routed phase of each layer; each phase takes the
 * longest of (bytes a node's memory serves / bw_node, bytes a node's cores
 * read / bw_node, bytes over one directed link / bw_link). One socket = all
 * bytes local to one node. off: pages on one node (the file read by one
 * thread), every thread reads everything. layer_scale[n_layers] (NULL: all
 * 1) multiplies each layer's counted routed phases (a model with more layers
 * like the counted ones). Returns the projected tokens/s of the plan's own
 * mode. */
struct gds_numa_traffic {
    double tokens;                        /* decode calls counted (per layer) */
    double local[GDS_NUMA_MAX_NODES], remote[GDS_NUMA_MAX_NODES]; /* bytes per token read by node i's threads */
    double ms, tps;                       /* projected time and tokens/s */
};
void gds_numa_traffic(const struct gds_numa_plan *p, enum gds_numa_mode mode, bool split, bool replicate_dense, double dense_bytes,
                      const double *layer_scale, double bw_node, double bw_link, struct gds_numa_traffic *out);
double gds_numa_report(const struct gds_numa_plan *p, double dense_bytes, const double *layer_scale, double bw_node, double bw_link, FILE *f);

/* The CPU backend runs graphs with the plan's threads and split (NULL: none;
 * the plan must outlive its use). In cpu-backend.c. */
struct gds_backend;
void gds_backend_cpu_set_numa(struct gds_backend *b, const struct gds_numa_plan *plan);
int gds_backend_cpu_n_threads(struct gds_backend *b);
/* Expert prefetch (backends/cpu/prefetch.c): as soon as a node has produced
 * the expert ids of MUL_MAT_ID nodes, a helper thread madvises
 * (MADV_WILLNEED) the chosen experts' weights. false: no helper thread. */
bool gds_backend_cpu_set_prefetch(struct gds_backend *b, bool on);
void gds_backend_cpu_prefetch_stats(struct gds_backend *b, uint64_t *ranges, double *bytes);

#ifdef __cplusplus
}
#endif

#endif /* GDS_NUMA_H */
