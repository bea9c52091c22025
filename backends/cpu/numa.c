/*
 * numa.c - NUMA topology (hwloc), the routed-expert placement plan, page
 * placement (libnuma: mbind, move_pages, memory policies), thread teams, a
 * per-node bandwidth probe and the traffic model. API and semantics in
 * gds-numa.h; the MUL_MAT_ID work split that follows the plan is in
 * ops-matmul.c, the pinning of the workers in cpu-backend.c.
 *
 * Invariants: teams are disjoint and cover the threads; every expert of every
 * layer has exactly one owner node (whole-expert placement), and only nodes
 * with a team own experts; the plan never changes what is computed, only which
 * thread computes it.
 *
 * Built without hwloc and libnuma (GDS_HAVE_NUMA undefined: the GNUmakefile
 * defines it where both are installed; the aarch64 cross build has neither),
 * the topology is one node of sysconf's CPUs and nothing is pinned or bound;
 * plans and the traffic model work the same.
 */
#include "gds-numa.h"
#include "gds-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#include <sys/mman.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef GDS_HAVE_NUMA
#include <hwloc.h>
#include <numa.h>
#include <numaif.h>
#endif

const char *gds_numa_mode_name(enum gds_numa_mode m) {
    static const char *const names[GDS_NUMA_MODE_COUNT] = { "off", "auto", "interleave", "experts" };
    return (unsigned)m < GDS_NUMA_MODE_COUNT ? names[m] : "?";
}

bool gds_numa_mode_parse(const char *s, enum gds_numa_mode *m) {
    for (int i = 0; i < GDS_NUMA_MODE_COUNT; i++)
        if (!strcmp(s, gds_numa_mode_name((enum gds_numa_mode)i))) { *m = (enum gds_numa_mode)i; return true; }
    return false;
}

/* ===========================================================================
 * Topology
 *
 * Nodes are the NUMA nodes that have cores (memory-only nodes, e.g. CXL or
 * HBM without CPUs, cannot run a team); cores are hwloc's CORE objects (one
 * thread per physical core by default), listed node by node; a core's PU for
 * pinning is its first PU.
 * ========================================================================= */

static struct gds_numa_topo *topo_alloc(int n_cores) {
    struct gds_numa_topo *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->core_node = calloc((size_t)(n_cores > 0 ? n_cores : 1), sizeof(int));
    t->core_pu = calloc((size_t)(n_cores > 0 ? n_cores : 1), sizeof(int));
    if (!t->core_node || !t->core_pu) { gds_numa_topo_free(t); return NULL; }
    return t;
}

static struct gds_numa_topo *topo_fallback(const char *why) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    struct gds_numa_topo *t = topo_alloc((int)n);
    if (!t) { gds_error(GDS_ERR_NOMEM, "numa: out of memory"); return NULL; }
    t->n_packages = t->n_nodes = 1;
    t->n_cores = t->n_pus = (int)n;
    t->node_cores[0] = (int)n;
    for (int i = 0; i < n; i++) { t->core_node[i] = 0; t->core_pu[i] = i; }
    t->this_system = true;
    snprintf(t->source, sizeof t->source, "sysconf (%s)", why);
    return t;
}

struct gds_numa_topo *gds_numa_topo_load(void) {
#ifndef GDS_HAVE_NUMA
    return topo_fallback("built without hwloc");
#else
    hwloc_topology_t h;
    if (hwloc_topology_init(&h) != 0) return topo_fallback("hwloc_topology_init failed");
    if (hwloc_topology_load(h) != 0) {
        hwloc_topology_destroy(h);
        gds_error(GDS_ERR_INVALID, "numa: hwloc could not load the topology (HWLOC_SYNTHETIC / HWLOC_XMLFILE valid?)");
        return NULL;
    }
    const int nn = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE), nc = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_CORE);
    if (nc < 1) { hwloc_topology_destroy(h); return topo_fallback("hwloc reports no cores"); }
    struct gds_numa_topo *t = topo_alloc(nc);
    if (!t) { hwloc_topology_destroy(h); gds_error(GDS_ERR_NOMEM, "numa: out of memory"); return NULL; }
    t->hwloc = true;
    t->this_system = hwloc_topology_is_thissystem(h) != 0;
    t->n_packages = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PACKAGE);
    if (t->n_packages < 1) t->n_packages = 1;
    t->n_pus = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU);
    const char *syn = getenv("HWLOC_SYNTHETIC"), *xml = getenv("HWLOC_XMLFILE");
    if (syn && *syn) snprintf(t->source, sizeof t->source, "HWLOC_SYNTHETIC=%s", syn);
    else if (xml && *xml) snprintf(t->source, sizeof t->source, "HWLOC_XMLFILE=%s", xml);
    else snprintf(t->source, sizeof t->source, "hwloc %s", t->this_system ? "(this machine)" : "(injected)");
    hwloc_obj_t l3 = hwloc_get_obj_by_type(h, HWLOC_OBJ_L3CACHE, 0);
    if (l3 && l3->attr) t->l3_bytes = l3->attr->cache.size;
    /* nodes with cores; a node's cores in hwloc's (logical) order */
    int n = 0;
    for (int i = 0; i < (nn > 0 ? nn : 1) && n < GDS_NUMA_MAX_NODES; i++) {
        hwloc_obj_t node = nn > 0 ? hwloc_get_obj_by_type(h, HWLOC_OBJ_NUMANODE, i) : NULL;
        int cores = 0;
        for (int c = 0; c < nc; c++) {
            hwloc_obj_t core = hwloc_get_obj_by_type(h, HWLOC_OBJ_CORE, c);
            if (node && !hwloc_bitmap_intersects(core->cpuset, node->cpuset)) continue;
            /* a core in two nodes' cpusets (not seen in practice) goes to the first */
            bool taken = false;
            for (int k = 0; k < t->n_cores && !taken; k++) taken = t->core_pu[k] == hwloc_bitmap_first(core->cpuset);
            if (taken) continue;
            t->core_node[t->n_cores] = n;
            t->core_pu[t->n_cores] = hwloc_bitmap_first(core->cpuset);
            t->n_cores++;
            cores++;
        }
        if (!cores) continue;
        t->node_cores[n] = cores;
        t->node_os[n] = node ? (int)node->os_index : 0;
        t->node_mem[n] = node ? node->attr->numanode.local_memory : 0;
        hwloc_obj_t pkg = node ? hwloc_get_ancestor_obj_by_type(h, HWLOC_OBJ_PACKAGE, node) : NULL;
        if (!pkg && node) { /* in hwloc 2 a NUMA node hangs off a normal object: go up from it */
            hwloc_obj_t o = node->parent;
            while (o && o->type != HWLOC_OBJ_PACKAGE) o = o->parent;
            pkg = o;
        }
        t->node_package[n] = pkg ? (int)pkg->logical_index : 0;
        n++;
    }
    t->n_nodes = n;
    hwloc_topology_destroy(h);
    if (n == 0) { gds_numa_topo_free(t); return topo_fallback("hwloc reports no node with cores"); }
    return t;
#endif
}

void gds_numa_topo_free(struct gds_numa_topo *t) {
    if (!t) return;
    free(t->core_node);
    free(t->core_pu);
    free(t);
}

void gds_numa_topo_print(const struct gds_numa_topo *t, FILE *f) {
    fprintf(f, "numa: topology from %s: %d package%s, %d node%s, %d cores, %d PUs, L3 %.0f MiB%s\n", t->source, t->n_packages,
            t->n_packages == 1 ? "" : "s", t->n_nodes, t->n_nodes == 1 ? "" : "s", t->n_cores, t->n_pus, t->l3_bytes / 1048576.0,
            t->this_system ? "" : " (not this machine: no pinning, no page binding)");
    for (int n = 0; n < t->n_nodes; n++)
        fprintf(f, "numa:   node %d (os %d, package %d): %d cores, %.1f GiB\n", n, t->node_os[n], t->node_package[n], t->node_cores[n],
                t->node_mem[n] / 1073741824.0);
}

/* ===========================================================================
 * Plan
 * ========================================================================= */

struct gds_numa_plan *gds_numa_plan_new(const struct gds_numa_topo *t, enum gds_numa_mode mode, int n_threads, int n_layers,
                                        int n_expert, const double *expert_bytes, const double *popularity, bool split) {
    if (n_layers < 0 || n_expert < 0) { gds_error(GDS_ERR_INVALID, "numa: %d layers, %d experts", n_layers, n_expert); return NULL; }
    struct gds_numa_plan *p = calloc(1, sizeof(*p));
    if (!p) goto nomem;
    p->topo = t;
    p->n_nodes = t->n_nodes;
    p->mode = mode == GDS_NUMA_AUTO ? (t->n_nodes > 1 ? GDS_NUMA_EXPERTS : GDS_NUMA_OFF) : mode;
    p->split = split;
    p->pin = t->this_system && t->hwloc && p->mode != GDS_NUMA_OFF; /* off: a plan only counts (traffic report) */
    p->n_threads = n_threads > 0 ? n_threads : t->n_cores;
    p->n_layers = n_layers;
    p->n_expert = n_expert;
    p->thread_node = calloc((size_t)p->n_threads, sizeof(int));
    p->thread_rank = calloc((size_t)p->n_threads, sizeof(int));
    p->thread_pu = calloc((size_t)p->n_threads, sizeof(int));
    p->owner = calloc((size_t)n_layers * (size_t)n_expert + 1, 1);
    p->expert_bytes = calloc((size_t)n_layers + 1, sizeof(double));
    if (!p->thread_node || !p->thread_rank || !p->thread_pu || !p->owner || !p->expert_bytes) goto nomem;
    if (expert_bytes) memcpy(p->expert_bytes, expert_bytes, sizeof(double) * (size_t)n_layers);

    /* Teams: threads per node in proportion to its cores (largest remainder),
     * each thread on its own core while there are cores; more threads than
     * cores wrap around the node's cores. Threads are numbered node by node. */
    const int N = t->n_nodes, T = p->n_threads;
    double rem[GDS_NUMA_MAX_NODES];
    int given = 0;
    for (int n = 0; n < N; n++) {
        const double share = (double)T * t->node_cores[n] / t->n_cores;
        p->team[n] = (int)share;
        rem[n] = share - p->team[n];
        given += p->team[n];
    }
    while (given < T) {
        int best = 0;
        for (int n = 1; n < N; n++) if (rem[n] > rem[best]) best = n;
        p->team[best]++; rem[best] = -1; given++;
    }
    int th = 0;
    for (int n = 0, c0 = 0; n < N; c0 += t->node_cores[n], n++)
        for (int r = 0; r < p->team[n]; r++, th++) {
            p->thread_node[th] = n;
            p->thread_rank[th] = r;
            p->thread_pu[th] = t->core_pu[c0 + r % t->node_cores[n]];
        }

    /* Whole-expert owners. Without popularity: each layer's experts in
     * contiguous blocks, one per node, sized in proportion to the teams (so a
     * node's experts are one range per tensor, one mbind each); the blocks
     * start at a phase that moves by the golden ratio from layer to layer, so
     * the remainders of E / N (and the experts a rounding gives one node more)
     * spread over the nodes instead of piling onto the first.
     * With popularity: experts by decreasing expected reads, each to the node
     * (among those below their share of the experts, so that the bytes stay
     * balanced) whose load of this layer relative to its team is smallest (a token's
     * experts of one layer are read between two barriers: the layer's balance
     * is what its time depends on), ties by expert count, then by the totals
     * over the layers. */
    double total[GDS_NUMA_MAX_NODES] = { 0 };
    int *order = malloc(sizeof(int) * (size_t)(n_expert + 1));
    double *wgt = malloc(sizeof(double) * (size_t)(n_expert + 1));
    if (!order || !wgt) { free(order); free(wgt); goto nomem; }
    for (int il = 0; il < n_layers; il++) {
        uint8_t *own = p->owner + (size_t)il * n_expert;
        if (!popularity) {
            const double phase = fmod(0.6180339887498949 * il, 1.0);
            for (int e = 0; e < n_expert; e++) {
                const double x = fmod((e + 0.5) / n_expert + phase, 1.0) * T;
                int n = 0, before = 0;
                while (n < N - 1 && x >= before + p->team[n]) before += p->team[n++];
                own[e] = (uint8_t)n;
            }
            continue;
        }
        for (int e = 0; e < n_expert; e++) {
            order[e] = e;
            wgt[e] = popularity[(size_t)il * n_expert + e];
        }
        /* insertion sort by decreasing weight, stable (E is at most a few hundred) */
        for (int i = 1; i < n_expert; i++) {
            const int v = order[i];
            int j = i;
            while (j > 0 && wgt[order[j - 1]] < wgt[v]) { order[j] = order[j - 1]; j--; }
            order[j] = v;
        }
        double layer[GDS_NUMA_MAX_NODES] = { 0 };
        int count[GDS_NUMA_MAX_NODES] = { 0 }, cap[GDS_NUMA_MAX_NODES];
        /* bytes first: a node takes at most its team's share of the experts, rounded up */
        for (int n = 0; n < N; n++) cap[n] = (int)(((int64_t)n_expert * p->team[n] + T - 1) / T);
        for (int i = 0; i < n_expert; i++) {
            const int e = order[i];
            int best = -1;
            double bl = 0, bt = 0, bc = 0;
            for (int n = 0; n < N; n++) {
                if (!p->team[n] || count[n] >= cap[n]) continue;
                const double l = (layer[n] + wgt[e]) / p->team[n], c = (count[n] + 1.0) / p->team[n], tt = total[n] / p->team[n];
                if (best < 0 || l < bl - 1e-12 || (fabs(l - bl) <= 1e-12 && (c < bc - 1e-12 || (fabs(c - bc) <= 1e-12 && tt < bt - 1e-12)))) {
                    best = n; bl = l; bc = c; bt = tt;
                }
            }
            own[e] = (uint8_t)best;
            layer[best] += wgt[e];
            count[best]++;
            total[best] += p->expert_bytes[il];
        }
    }
    free(order);
    free(wgt);
    for (int il = 0; il < n_layers; il++)
        for (int e = 0; e < n_expert; e++) {
            if (p->mode == GDS_NUMA_EXPERTS && split) {
                for (int n = 0; n < N; n++) p->node_bytes[n] += p->expert_bytes[il] * p->team[n] / T;
            } else {
                p->node_bytes[p->mode == GDS_NUMA_EXPERTS ? p->owner[(size_t)il * n_expert + e] : 0] += p->expert_bytes[il];
            }
        }
    if (p->mode != GDS_NUMA_EXPERTS) { /* interleave: spread over the nodes */
        const double all = p->node_bytes[0];
        for (int n = 0; n < N; n++) p->node_bytes[n] = all / N;
    }
    snprintf(p->place_msg, sizeof p->place_msg, "pages not placed yet");
    return p;
nomem:
    gds_numa_plan_free(p);
    gds_error(GDS_ERR_NOMEM, "numa: out of memory");
    return NULL;
}

bool gds_numa_plan_replicate(struct gds_numa_plan *p, const void *data, size_t n) {
    if (p->n_rep == p->cap_rep) {
        const int cap = p->cap_rep ? 2 * p->cap_rep : 256;
        struct gds_numa_rep *r = realloc(p->rep, sizeof(*r) * (size_t)cap);
        if (!r) { gds_error(GDS_ERR_NOMEM, "numa: out of memory"); return false; }
        p->rep = r;
        p->cap_rep = cap;
    }
    struct gds_numa_rep r = { .data = data, .n = n };
    for (int node = 1; node < p->n_nodes; node++) {
        char *c = NULL;
#ifdef GDS_HAVE_NUMA
        if (p->topo->this_system && numa_available() >= 0) c = numa_alloc_onnode(n, p->topo->node_os[node]);
        else
#endif
        c = aligned_alloc(64, (n + 63) & ~(size_t)63);
        if (!c) {
            for (int k = 1; k < node; k++) {
#ifdef GDS_HAVE_NUMA
                if (p->topo->this_system && numa_available() >= 0) { numa_free(r.copy[k], n); continue; }
#endif
                free(r.copy[k]);
            }
            gds_error(GDS_ERR_NOMEM, "numa: cannot allocate %.1f MiB for a replica on node %d", n / 1048576.0, node);
            return false;
        }
        memcpy(c, data, n);
        r.copy[node] = c;
        p->rep_bytes += (double)n;
    }
    if (p->topo->this_system && p->n_nodes > 1) {
        char msg[200];
        gds_numa_bind((void *)data, n, p->topo->node_os[0], false, NULL, NULL, msg, sizeof msg);
    }
    int i = p->n_rep;
    while (i > 0 && p->rep[i - 1].data > (const char *)data) { p->rep[i] = p->rep[i - 1]; i--; }
    p->rep[i] = r;
    p->n_rep++;
    return true;
}

void gds_numa_plan_free(struct gds_numa_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->n_rep; i++)
        for (int node = 1; node < p->n_nodes; node++) {
            if (!p->rep[i].copy[node]) continue;
#ifdef GDS_HAVE_NUMA
            if (p->topo->this_system && numa_available() >= 0) { numa_free(p->rep[i].copy[node], p->rep[i].n); continue; }
#endif
            free(p->rep[i].copy[node]);
        }
    free(p->rep);
    for (int i = 0; i < p->n_wt; i++) free(p->wt[i].used);
    free(p->wt);
    free(p->thread_node);
    free(p->thread_rank);
    free(p->thread_pu);
    free(p->owner);
    free(p->expert_bytes);
    free(p);
}

bool gds_numa_plan_add_tensor(struct gds_numa_plan *p, int layer, const void *data, size_t nb1, int64_t n_rows, int64_t n_expert,
                              size_t nb2) {
    if (layer < 0 || layer >= p->n_layers || n_expert != p->n_expert) {
        gds_error(GDS_ERR_INVALID, "numa: tensor of layer %d with %lld experts does not fit the plan (%d layers, %d experts)", layer,
                  (long long)n_expert, p->n_layers, p->n_expert);
        return false;
    }
    if (p->n_wt == p->cap_wt) {
        const int cap = p->cap_wt ? 2 * p->cap_wt : 64;
        struct gds_numa_wt *w = realloc(p->wt, sizeof(*w) * (size_t)cap);
        if (!w) { gds_error(GDS_ERR_NOMEM, "numa: out of memory"); return false; }
        p->wt = w;
        p->cap_wt = cap;
    }
    uint64_t *used = calloc((size_t)n_expert + 1, sizeof(uint64_t));
    if (!used) { gds_error(GDS_ERR_NOMEM, "numa: out of memory"); return false; }
    /* node_bytes: from now on exactly the registered tensors' rows per node */
    if (p->n_wt == 0) memset(p->node_bytes, 0, sizeof p->node_bytes);
    const struct gds_numa_wt tmp = { .data = data, .nb1 = nb1, .nb2 = nb2, .n_rows = n_rows, .n_expert = n_expert, .layer = layer };
    const int64_t nchunk = (n_rows + GDS_NUMA_UNIT_ROWS - 1) / GDS_NUMA_UNIT_ROWS;
    for (int64_t e = 0; e < n_expert; e++)
        for (int n = 0; n < p->n_nodes; n++) {
            if (p->mode != GDS_NUMA_EXPERTS) { p->node_bytes[n] += (double)nb2 / p->n_nodes; continue; }
            int64_t c0, c1;
            gds_numa_chunks(p, &tmp, n, e, nchunk, &c0, &c1);
            p->node_bytes[n] += (double)(c1 - c0) / (double)nchunk * (double)nb2;
        }
    int i = p->n_wt;
    while (i > 0 && p->wt[i - 1].data > (const char *)data) { p->wt[i] = p->wt[i - 1]; i--; }
    p->wt[i] = (struct gds_numa_wt){ .data = data, .nb1 = nb1, .nb2 = nb2, .n_rows = n_rows, .n_expert = n_expert, .layer = layer,
                                     .used = used };
    p->n_wt++;
    return true;
}

const struct gds_numa_wt *gds_numa_plan_find(const struct gds_numa_plan *p, const void *data) {
    int lo = 0, hi = p->n_wt - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        if (p->wt[mid].data == (const char *)data) return &p->wt[mid];
        if (p->wt[mid].data < (const char *)data) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

void gds_numa_plan_print(const struct gds_numa_plan *p, FILE *f) {
    const struct gds_numa_topo *t = p->topo;
    gds_numa_topo_print(t, f);
    fprintf(f, "numa: mode %s%s, %d threads%s\n", gds_numa_mode_name(p->mode),
            p->mode == GDS_NUMA_EXPERTS ? (p->split ? " (every expert's rows split over the nodes)" : " (whole experts)") : "",
            p->n_threads, p->pin ? ", pinned one per core" : ", not pinned");
    for (int n = 0; n < p->n_nodes; n++) {
        fprintf(f, "numa:   node %d: team of %d thread%s (", n, p->team[n], p->team[n] == 1 ? "" : "s");
        int first = -1, last = -1;
        for (int i = 0; i < p->n_threads; i++)
            if (p->thread_node[i] == n) { if (first < 0) first = i; last = i; }
        if (first >= 0) fprintf(f, "threads %d-%d", first, last);
        fprintf(f, "), routed experts %.3f GiB\n", p->node_bytes[n] / 1073741824.0);
    }
    if (p->mode != GDS_NUMA_EXPERTS) {
        fprintf(f, "numa: every thread takes a share of every expert; pages interleaved over the %d node%s\n", p->n_nodes,
                p->n_nodes == 1 ? "" : "s");
        return;
    }
    if (p->split) {
        fprintf(f, "numa: every expert of every layer: rows divided over the nodes in proportion to their teams\n");
        return;
    }
    /* one line per layer: runs of experts with their node, "0-63:0 64-127:1" */
    for (int il = 0; il < p->n_layers; il++) {
        fprintf(f, "numa:   layer %2d:", il);
        const uint8_t *o = p->owner + (size_t)il * p->n_expert;
        int col = 0;
        for (int e = 0; e < p->n_expert;) {
            int e1 = e + 1;
            while (e1 < p->n_expert && o[e1] == o[e]) e1++;
            if (col++ == 16) { fprintf(f, " ..."); break; } /* long alternations: the first 16 runs */
            if (e1 - e == 1) fprintf(f, " %d:%d", e, o[e]);
            else fprintf(f, " %d-%d:%d", e, e1 - 1, o[e]);
            e = e1;
        }
        int cnt[GDS_NUMA_MAX_NODES] = { 0 };
        for (int e = 0; e < p->n_expert; e++) cnt[o[e]]++;
        fprintf(f, "  (experts per node:");
        for (int n = 0; n < p->n_nodes; n++) fprintf(f, " %d", cnt[n]);
        fprintf(f, ")\n");
    }
}

void gds_numa_count(const struct gds_numa_plan *p, const struct gds_numa_wt *cw, const int32_t *cnt) {
    if (!cw) return;
    struct gds_numa_wt *w = (struct gds_numa_wt *)cw; /* the counters: thread 0 of the one running MUL_MAT_ID */
    double byn[GDS_NUMA_MAX_NODES] = { 0 }, mx = 0;
    const uint8_t *own = p->owner + (size_t)w->layer * (size_t)p->n_expert;
    for (int64_t e = 0; e < w->n_expert; e++)
        if (cnt[e] > 0) {
            w->used[e]++;
            byn[own[e]] += (double)w->nb2;
        }
    for (int n = 0; n < p->n_nodes; n++) if (byn[n] > mx) mx = byn[n];
    w->sum_max_bytes += mx;
    w->calls++;
}

/* ===========================================================================
 * Page placement
 * ========================================================================= */

bool gds_numa_bind(void *addr, size_t len, int node_os, bool touch, double *on_node, double *checked, char *msg, size_t n) {
#ifndef GDS_HAVE_NUMA
    (void)addr; (void)len; (void)node_os; (void)touch; (void)on_node; (void)checked;
    snprintf(msg, n, "built without libnuma: pages stay where the kernel puts them");
    return false;
#else
    if (numa_available() < 0) { snprintf(msg, n, "the kernel has no NUMA support (numa_available): pages not bound"); return false; }
    if (node_os < 0 || node_os > numa_max_node() || !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node_os)) {
        snprintf(msg, n, "node %d is not a memory node of this machine (nodes 0-%d): pages not bound", node_os, numa_max_node());
        return false;
    }
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)addr + pg - 1) & ~(uintptr_t)(pg - 1), b = ((uintptr_t)addr + len) & ~(uintptr_t)(pg - 1);
    if (b <= a) return true; /* less than a page: nothing of its own */
    unsigned long mask[GDS_NUMA_MAX_NODES / (8 * sizeof(unsigned long)) + 1] = { 0 };
    if ((size_t)node_os >= 8 * sizeof mask) { snprintf(msg, n, "node %d: beyond %zu nodes", node_os, 8 * sizeof mask); return false; }
    mask[node_os / (8 * sizeof(unsigned long))] |= 1ul << (node_os % (8 * sizeof(unsigned long)));
    if (touch) {
        /* first touch under the node's policy: a page not yet in the page
         * cache is read into the node's memory (the task policy decides for
         * page-cache pages); a cached page is only mapped, and moved below */
        int old_mode = MPOL_DEFAULT;
        unsigned long old_mask[sizeof mask / sizeof mask[0]] = { 0 };
        const bool saved = get_mempolicy(&old_mode, old_mask, 8 * sizeof old_mask, NULL, 0) == 0;
        set_mempolicy(MPOL_BIND, mask, 8 * sizeof mask);
        unsigned char acc = 0;
        for (uintptr_t p = a; p < b; p += pg) acc ^= *(const volatile unsigned char *)p;
        if (saved) set_mempolicy(old_mode, old_mode == MPOL_DEFAULT ? NULL : old_mask, 8 * sizeof old_mask);
        else set_mempolicy(MPOL_DEFAULT, NULL, 0);
        (void)acc;
    }
    if (mbind((void *)a, b - a, MPOL_BIND, mask, 8 * sizeof mask, MPOL_MF_MOVE) != 0) {
        snprintf(msg, n, "mbind(MPOL_BIND, node %d) of %.1f MiB failed: %s: pages not bound", node_os, (double)(b - a) / 1048576.0,
                 strerror(errno));
        return false;
    }
    /* where the resident pages are (move_pages with nodes NULL only queries) */
    enum { Q = 1024 };
    void *pages[Q];
    int status[Q];
    for (uintptr_t p = a; p < b;) {
        int k = 0;
        for (; k < Q && p < b; k++, p += pg) pages[k] = (void *)p;
        if (move_pages(0, (unsigned long)k, pages, NULL, status, 0) != 0) continue;
        for (int i = 0; i < k; i++) {
            if (status[i] < 0) continue; /* not resident (-ENOENT): the first touch places it */
            if (checked) *checked += (double)pg;
            if (status[i] == node_os && on_node) *on_node += (double)pg;
        }
    }
    return true;
#endif
}

bool gds_numa_interleave(const struct gds_numa_plan *p, const void *addr, size_t len) {
#ifndef GDS_HAVE_NUMA
    (void)p; (void)addr; (void)len;
    return false;
#else
    if (!p->topo->this_system || numa_available() < 0) return false;
    unsigned long mask[GDS_NUMA_MAX_NODES / (8 * sizeof(unsigned long)) + 1] = { 0 };
    for (int n = 0; n < p->n_nodes; n++) {
        const int o = p->topo->node_os[n];
        if (o < 0 || (size_t)o >= 8 * sizeof mask) return false;
        mask[o / (8 * sizeof(unsigned long))] |= 1ul << (o % (8 * sizeof(unsigned long)));
    }
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t)addr + pg - 1) & ~(uintptr_t)(pg - 1), b = ((uintptr_t)addr + len) & ~(uintptr_t)(pg - 1);
    return b <= a || mbind((void *)a, b - a, MPOL_INTERLEAVE, mask, 8 * sizeof mask, MPOL_MF_MOVE) == 0;
#endif
}

bool gds_numa_plan_place(struct gds_numa_plan *p) {
    p->placed_bytes = p->placed_on_node_bytes = 0;
    if (!p->topo->this_system) {
        snprintf(p->place_msg, sizeof p->place_msg,
                 "the topology is injected (%s): its nodes are not this machine's, so no page is bound and no thread pinned "
                 "(the work split follows the plan)", p->topo->source);
        return false;
    }
#ifndef GDS_HAVE_NUMA
    snprintf(p->place_msg, sizeof p->place_msg, "built without hwloc/libnuma: no page binding, no pinning (the work split follows the plan)");
    return false;
#else
    if (p->mode != GDS_NUMA_EXPERTS) {
        /* interleave: resident pages of the expert tensors spread page by page;
         * later faults follow the workers' interleave policy */
        if (numa_available() < 0) { snprintf(p->place_msg, sizeof p->place_msg, "no NUMA support in the kernel: pages not interleaved"); return false; }
        for (int i = 0; i < p->n_wt; i++) {
            const struct gds_numa_wt *w = &p->wt[i];
            if (!gds_numa_interleave(p, w->data, w->nb2 * (size_t)w->n_expert)) {
                snprintf(p->place_msg, sizeof p->place_msg, "mbind(MPOL_INTERLEAVE) failed: %s", strerror(errno));
                return false;
            }
        }
        snprintf(p->place_msg, sizeof p->place_msg, "routed-expert pages interleaved over %d node%s", p->n_nodes, p->n_nodes == 1 ? "" : "s");
        return true;
    }
    /* experts: every run of consecutive units with one owner node is one range */
    long ranges = 0;
    for (int i = 0; i < p->n_wt; i++) {
        const struct gds_numa_wt *w = &p->wt[i];
        const int64_t nchunk = (w->n_rows + GDS_NUMA_UNIT_ROWS - 1) / GDS_NUMA_UNIT_ROWS;
        for (int n = 0; n < p->n_nodes; n++) {
            const char *run = NULL;
            size_t run_len = 0;
            for (int64_t e = 0; e <= w->n_expert; e++) {
                int64_t c0 = 0, c1 = 0;
                if (e < w->n_expert) gds_numa_chunks(p, w, n, e, nchunk, &c0, &c1);
                const char *s = e < w->n_expert ? w->data + (size_t)e * w->nb2 + (size_t)(c0 * GDS_NUMA_UNIT_ROWS) * w->nb1 : NULL;
                const int64_t r1 = c1 * GDS_NUMA_UNIT_ROWS < w->n_rows ? c1 * GDS_NUMA_UNIT_ROWS : w->n_rows;
                /* the rest of an expert past its last row (none for dense 3-d tensors) belongs with it */
                const size_t len = c1 > c0 ? (c1 == nchunk ? w->nb2 - (size_t)(c0 * GDS_NUMA_UNIT_ROWS) * w->nb1
                                                           : (size_t)(r1 - c0 * GDS_NUMA_UNIT_ROWS) * w->nb1) : 0;
                if (len && run && run + run_len == s) { run_len += len; continue; }
                if (run) {
                    char msg[200];
                    if (!gds_numa_bind((void *)run, run_len, p->topo->node_os[n], p->touch, &p->placed_on_node_bytes, &p->placed_bytes, msg, sizeof msg)) {
                        snprintf(p->place_msg, sizeof p->place_msg, "%s", msg);
                        return false;
                    }
                    ranges++;
                }
                run = len ? s : NULL;
                run_len = len;
            }
        }
    }
    snprintf(p->place_msg, sizeof p->place_msg,
             "routed experts bound to their nodes (mbind, %ld ranges%s): %.2f of %.2f GiB of mapped pages on their node, the rest "
             "placed at first touch by the owning team", ranges, p->touch ? ", touched" : "", p->placed_on_node_bytes / 1073741824.0, p->placed_bytes / 1073741824.0);
    return true;
#endif
}

/* ===========================================================================
 * Workers
 * ========================================================================= */

#if defined(GDS_HAVE_NUMA) && defined(__linux__)
static _Thread_local int numa_thread_pu = -1;    /* CPU this thread is pinned to (-1: none) */
static _Thread_local int numa_thread_pol = -1;   /* memory policy set: node*4 + mode, -1: none */
#endif

void gds_numa_thread_enter(const struct gds_numa_plan *p, int ith) {
    if (!p->pin || ith >= p->n_threads) return;
#if defined(GDS_HAVE_NUMA) && defined(__linux__)
    const int pu = p->thread_pu[ith];
    if (pu != numa_thread_pu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(pu, &set);
        if (sched_setaffinity(0, sizeof set, &set) == 0) numa_thread_pu = pu;
    }
    const int node = p->thread_node[ith];
    const int pol = p->mode == GDS_NUMA_EXPERTS ? node * 4 + 1 : 2;
    if (pol != numa_thread_pol && numa_available() >= 0) {
        if (p->mode == GDS_NUMA_EXPERTS) numa_set_preferred(p->topo->node_os[node]);
        else numa_set_interleave_mask(numa_all_nodes_ptr);
        numa_thread_pol = pol;
    }
#endif
}

/* ===========================================================================
 * Bandwidth probe: threads of node `reader` sum doubles of a buffer bound to
 * node `holder` (one untimed touch pass, then 5 timed passes, the median).
 * ========================================================================= */

#if defined(GDS_HAVE_NUMA) && defined(_OPENMP)
static double probe_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif

double gds_numa_probe_bw(const struct gds_numa_topo *t, int reader, int holder, int n_threads, size_t mib) {
#if !defined(GDS_HAVE_NUMA) || !defined(_OPENMP)
    (void)t; (void)reader; (void)holder; (void)n_threads; (void)mib;
    return 0;
#else
    if (!t->this_system || numa_available() < 0 || reader < 0 || holder < 0 || reader >= t->n_nodes || holder >= t->n_nodes) return 0;
    const size_t bytes = mib << 20, n = bytes / sizeof(double);
    double *buf = numa_alloc_onnode(bytes, t->node_os[holder]);
    if (!buf) return 0;
    int c0 = 0;
    for (int i = 0; i < reader; i++) c0 += t->node_cores[i];
    const int nth = n_threads > 0 && n_threads < t->node_cores[reader] ? n_threads : t->node_cores[reader];
    double sec[5], sink = 0;
#pragma omp parallel num_threads(nth) reduction(+ : sink)
    {
        const int ith = omp_get_thread_num(), nt = omp_get_num_threads();
        cpu_set_t set, old;
        sched_getaffinity(0, sizeof old, &old);
        CPU_ZERO(&set);
        CPU_SET(t->core_pu[c0 + ith % t->node_cores[reader]], &set);
        sched_setaffinity(0, sizeof set, &set);
        const size_t i0 = n * (size_t)ith / (size_t)nt, i1 = n * (size_t)(ith + 1) / (size_t)nt;
        for (size_t i = i0; i < i1; i++) buf[i] = (double)(i & 7); /* first touch (the pages are bound to holder) */
        for (int pass = 0; pass < 5; pass++) {
#pragma omp barrier
            double t0 = 0;
#pragma omp master
            t0 = probe_now();
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (size_t i = i0; i + 4 <= i1; i += 4) { s0 += buf[i]; s1 += buf[i + 1]; s2 += buf[i + 2]; s3 += buf[i + 3]; }
            sink += s0 + s1 + s2 + s3;
#pragma omp barrier
#pragma omp master
            sec[pass] = probe_now() - t0;
        }
        sched_setaffinity(0, sizeof old, &old);
        numa_thread_pu = -1; /* a worker pinned before must pin itself again (gds_numa_thread_enter) */
    }
    numa_free(buf, bytes);
    if (sink < 0) return 0; /* keeps the sums */
    qsort(sec, 5, sizeof sec[0], cmp_dbl);
    return sec[2] > 0 ? (double)bytes / sec[2] / 1e9 : 0;
#endif
}

/* ===========================================================================
 * Traffic model
 * ========================================================================= */

/* one phase: served[j] bytes from node j's memory, read[i] by node i's
 * threads, link[j][i] over j->i (j != i); its time in seconds */
static double phase_time(int N, const double *served, const double *read, double link[][GDS_NUMA_MAX_NODES], double bw_node,
                         double bw_link) {
    double t = 0;
    for (int j = 0; j < N; j++) {
        if (served[j] / bw_node > t) t = served[j] / bw_node;
        if (read[j] / bw_node > t) t = read[j] / bw_node;
        for (int i = 0; i < N; i++)
            if (i != j && bw_link > 0 && link[j][i] / bw_link > t) t = link[j][i] / bw_link;
    }
    return t;
}

/* bytes B read by the threads (shares r[i]) from pages spread as h[j] */
static void spread(int N, double B, const double *h, const double *r, double *served, double *read, double link[][GDS_NUMA_MAX_NODES],
                   double *local, double *remote) {
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            const double x = B * h[j] * r[i];
            served[j] += x;
            read[i] += x;
            if (i == j) local[i] += x;
            else { link[j][i] += x; remote[i] += x; }
        }
}

void gds_numa_traffic(const struct gds_numa_plan *p, enum gds_numa_mode mode, bool split, bool replicate_dense, double dense_bytes,
                      const double *layer_scale, double bw_node, double bw_link, struct gds_numa_traffic *out) {
    const int N = p->n_nodes;
    memset(out, 0, sizeof(*out));
    double r[GDS_NUMA_MAX_NODES], h_one[GDS_NUMA_MAX_NODES] = { 0 }, h_all[GDS_NUMA_MAX_NODES];
    for (int n = 0; n < N; n++) { r[n] = (double)p->team[n] / p->n_threads; h_all[n] = 1.0 / N; }
    h_one[0] = 1;
    const double bw = bw_node * 1e9, bl = bw_link * 1e9;
    /* tokens: decode calls of the tensor counted most (one per layer-token) */
    double tokens = 0;
    for (int i = 0; i < p->n_wt; i++) if (p->wt[i].calls > tokens) tokens = (double)p->wt[i].calls;
    out->tokens = tokens;
    double sec = 0;
    /* dense phase */
    {
        double served[GDS_NUMA_MAX_NODES] = { 0 }, read[GDS_NUMA_MAX_NODES] = { 0 }, link[GDS_NUMA_MAX_NODES][GDS_NUMA_MAX_NODES] = { { 0 } };
        if (mode == GDS_NUMA_OFF) spread(N, dense_bytes, h_one, r, served, read, link, out->local, out->remote);
        else if (replicate_dense)
            for (int n = 0; n < N; n++) { served[n] += dense_bytes * r[n]; read[n] += dense_bytes * r[n]; out->local[n] += dense_bytes * r[n]; }
        else spread(N, dense_bytes, h_all, r, served, read, link, out->local, out->remote);
        sec += phase_time(N, served, read, link, bw, bl);
    }
    /* routed phases: per tensor (one MUL_MAT_ID each, between barriers), per token */
    if (tokens > 0)
        for (int i = 0; i < p->n_wt; i++) {
            const struct gds_numa_wt *w = &p->wt[i];
            if (!w->calls) continue;
            const double routed_scale = layer_scale ? layer_scale[w->layer] : 1.0;
            double B = 0; /* bytes per token of this tensor */
            double byn[GDS_NUMA_MAX_NODES] = { 0 };
            for (int64_t e = 0; e < w->n_expert; e++) {
                const double b = routed_scale * (double)w->used[e] * (double)w->nb2 / (double)w->calls;
                B += b;
                byn[p->owner[(size_t)w->layer * p->n_expert + e]] += b;
            }
            double served[GDS_NUMA_MAX_NODES] = { 0 }, read[GDS_NUMA_MAX_NODES] = { 0 }, link[GDS_NUMA_MAX_NODES][GDS_NUMA_MAX_NODES] = { { 0 } };
            if (mode == GDS_NUMA_OFF) spread(N, B, h_one, r, served, read, link, out->local, out->remote);
            else if (mode == GDS_NUMA_INTERLEAVE) spread(N, B, h_all, r, served, read, link, out->local, out->remote);
            else if (split) {
                for (int n = 0; n < N; n++) { served[n] = read[n] = B * r[n]; out->local[n] += B * r[n]; }
            } else {
                for (int n = 0; n < N; n++) out->local[n] += byn[n];
                /* the call waits for its busiest node: the sum over calls of the per-call maximum */
                const double mx = routed_scale * w->sum_max_bytes / (double)w->calls;
                served[0] = read[0] = mx;
            }
            sec += phase_time(N, served, read, link, bw, bl);
        }
    out->ms = 1e3 * sec;
    out->tps = sec > 0 ? 1.0 / sec : 0;
}

double gds_numa_report(const struct gds_numa_plan *p, double dense_bytes, const double *layer_scale, double bw_node, double bw_link, FILE *f) {
    struct gds_numa_traffic one, tr;
    /* one socket: everything local to one node, its bandwidth */
    double routed = 0;
    for (int i = 0; i < p->n_wt; i++) {
        const struct gds_numa_wt *w = &p->wt[i];
        if (!w->calls) continue;
        const double routed_scale = layer_scale ? layer_scale[w->layer] : 1.0;
        for (int64_t e = 0; e < w->n_expert; e++) routed += routed_scale * (double)w->used[e] * (double)w->nb2 / (double)w->calls;
    }
    gds_numa_traffic(p, GDS_NUMA_OFF, false, false, dense_bytes, layer_scale, bw_node, bw_link, &tr);
    memset(&one, 0, sizeof one);
    one.ms = 1e3 * (dense_bytes + routed) / (bw_node * 1e9);
    one.tps = one.ms > 0 ? 1e3 / one.ms : 0;
    fprintf(f, "numa: traffic per decode token (%.0f tokens counted): dense %.3f GB, routed experts %.3f GB; model: %.1f GB/s per node, "
               "%.1f GB/s per direction between two nodes, %d node%s\n",
            tr.tokens, dense_bytes / 1e9, routed / 1e9, bw_node, bw_link, p->n_nodes, p->n_nodes == 1 ? "" : "s");
    fprintf(f, "numa:   %-22s %8.2f ms  %7.2f t/s  (all bytes local to one node)\n", "one socket", one.ms, one.tps);
    static const struct { enum gds_numa_mode m; bool split, rep; const char *name; } rows[] = {
        { GDS_NUMA_OFF, false, false, "off" },
        { GDS_NUMA_INTERLEAVE, false, false, "interleave" },
        { GDS_NUMA_EXPERTS, false, false, "experts" },
        { GDS_NUMA_EXPERTS, true, false, "experts, split" },
        { GDS_NUMA_EXPERTS, false, true, "experts, dense repl." },
        { GDS_NUMA_EXPERTS, true, true, "experts, split, repl." },
    };
    double mine = 0;
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        gds_numa_traffic(p, rows[k].m, rows[k].split, rows[k].rep, dense_bytes, layer_scale, bw_node, bw_link, &tr);
        fprintf(f, "numa:   %-22s %8.2f ms  %7.2f t/s  %.2fx one socket; GB local/remote per node:", rows[k].name, tr.ms, tr.tps,
                one.tps > 0 ? tr.tps / one.tps : 0);
        for (int n = 0; n < p->n_nodes; n++) fprintf(f, " %.3f/%.3f", tr.local[n] / 1e9, tr.remote[n] / 1e9);
        fprintf(f, "\n");
        if (rows[k].m == p->mode && rows[k].split == p->split && rows[k].rep == p->replicate_dense) mine = tr.tps;
    }
    if (p->n_nodes > 1) { /* the link bandwidth is the least known parameter: the speedups at 2/3 and 3/2 of it */
        for (int k = 0; k < 2; k++) {
            const double bl = k ? 1.5 * bw_link : bw_link / 1.5;
            fprintf(f, "numa:   at %.0f GB/s between nodes: x one socket:", bl);
            for (size_t r = 1; r < sizeof rows / sizeof rows[0]; r++) {
                gds_numa_traffic(p, rows[r].m, rows[r].split, rows[r].rep, dense_bytes, layer_scale, bw_node, bl, &tr);
                fprintf(f, " %s %.2f%s", rows[r].name, one.tps > 0 ? tr.tps / one.tps : 0, r + 1 < sizeof rows / sizeof rows[0] ? "," : "\n");
            }
        }
    }
    return mine;
}
