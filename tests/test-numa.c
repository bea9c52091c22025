/*
 * test-numa.c - NUMA placement and scheduling of the routed experts (issue 12,
 * gds-numa.h): plans on synthetic topologies, bit identity of the logits in
 * every mode and topology, the page binding path on this machine's node.
 *
 *     test-numa MODEL.gguf [MODEL.gguf ...]
 *
 * tests/test-numa.sh gives it tiny-a (converted from tests/fixtures/tiny-a)
 * and the Flash-width synthetic models (test-flash's spec, and the same with
 * 32 experts, 6 used). Topologies are injected with hwloc's HWLOC_SYNTHETIC
 * (set before each load), so every part runs on a one-node machine.
 *
 * Checks:
 *   1. HWLOC_XMLFILE loads a topology that hwloc exported (4 nodes, 12 cores);
 *      plans for synthetic 1, 2, 3, 4 and 8-node topologies (2 PUs per core)
 *      with Flash's expert shapes (43 layers x 256 experts of 3 MXFP4
 *      4096x2048 projections), whole experts and split, and with a skewed
 *      popularity: hwloc sees the nodes and cores the description names; every
 *      weight row of every expert belongs to exactly one node (gds_numa_chunks
 *      summed over the nodes); each node's expert bytes (and, with popularity,
 *      each layer's expected reads) within 5 % of its team's share; teams
 *      disjoint, covering the threads, one thread per core (each PU of the
 *      topology's cores used once, on the thread's own node) when there are as
 *      many threads as cores, ranks 0..team-1;
 *   2. the traffic model against hand computations on a 2-node plan with
 *      counted calls (split: all local; interleave: half remote; off: node 0
 *      serves all; whole experts: the per-call maximum);
 *   3. logits (a prefill, then one-token decode calls: the per-call maximum
 *      paths of MUL_MAT_ID with 1 and several columns) memcmp-identical to
 *      --numa off for: interleave, experts, experts split, auto on 1, 2, 4 and
 *      8 synthetic nodes (one thread per synthetic core, 8 to 16 threads), with
 *      the dense weights replicated per node (MUL_MAT reads its node's copy), on
 *      this machine's topology (pinned, pages bound), with expert prefetch
 *      (which must have advised ranges), and with popularity from a counting
 *      run;
 *   4. the binding path on this machine: gds_numa_bind of a file mapping on
 *      node 0 binds and finds every mapped page on node 0, gds_numa_interleave
 *      over this machine's nodes succeeds; a node that does not
 *      exist is refused with a message; on an injected topology the plan says
 *      that nothing is bound. Built without libnuma, the refusal message is
 *      checked instead.
 * Ends with "test-numa: N passed, M failed".
 */
#include "deepseek4.h"
#include "gds-backend.h"
#include "gds-numa.h"
#ifdef GDS_HAVE_NUMA
#include <hwloc.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int n_pass, n_fail;

#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ---- 1. plans ------------------------------------------------------------- */

static struct gds_numa_topo *synthetic(const char *desc) {
    if (desc) setenv("HWLOC_SYNTHETIC", desc, 1);
    else unsetenv("HWLOC_SYNTHETIC");
    struct gds_numa_topo *t = gds_numa_topo_load();
    unsetenv("HWLOC_SYNTHETIC");
    return t;
}

enum { FL_LAYERS = 43, FL_EXPERTS = 256, FL_ROWS = 2048 };

static void check_plan(const char *desc, int nodes, int cores_per_node, int n_threads, bool split, const double *pop) {
    struct gds_numa_topo *t = synthetic(desc);
    if (!t) { CHECK(false, "%s: topology: %s", desc, gds_last_error()); return; }
#ifdef GDS_HAVE_NUMA
    CHECK(t->n_nodes == nodes && t->n_cores == nodes * cores_per_node && !t->this_system, "%s: %d nodes %d cores this_system %d", desc,
          t->n_nodes, t->n_cores, t->this_system);
#else
    /* without hwloc the topology is this machine's single node */
    nodes = t->n_nodes;
    cores_per_node = t->n_cores;
#endif
    const int T = n_threads > 0 ? n_threads : t->n_cores;
    /* one expert = gate, up (4096 x 2048) and down (2048 x 4096) in MXFP4: 17 bytes per 32 */
    const size_t nb1_gu = 4096 / 32 * 17, nb2_gu = nb1_gu * 2048, nb1_d = 2048 / 32 * 17, nb2_d = nb1_d * 4096;
    double eb[FL_LAYERS];
    for (int l = 0; l < FL_LAYERS; l++) eb[l] = (double)(2 * nb2_gu + nb2_d);
    struct gds_numa_plan *p = gds_numa_plan_new(t, GDS_NUMA_EXPERTS, n_threads, FL_LAYERS, FL_EXPERTS, eb, pop, split);
    if (!p) { CHECK(false, "%s: plan: %s", desc, gds_last_error()); gds_numa_topo_free(t); return; }
    /* addresses of a pretend mapping: the plan only sorts and compares them */
    for (int l = 0; l < FL_LAYERS; l++) {
        const uintptr_t a = (uintptr_t)1 << 40 | (uintptr_t)l * 3 * FL_EXPERTS * nb2_gu;
        gds_numa_plan_add_tensor(p, l, (const void *)a, nb1_gu, FL_ROWS, FL_EXPERTS, nb2_gu);
        gds_numa_plan_add_tensor(p, l, (const void *)(a + FL_EXPERTS * nb2_gu), nb1_gu, FL_ROWS, FL_EXPERTS, nb2_gu);
        gds_numa_plan_add_tensor(p, l, (const void *)(a + 2 * FL_EXPERTS * nb2_gu), nb1_d, 4096, FL_EXPERTS, nb2_d);
    }
    CHECK(p->n_wt == 3 * FL_LAYERS, "%s: %d tensors registered", desc, p->n_wt);
    /* every chunk of every expert of every tensor on exactly one node; bytes per node from the chunks */
    double bytes[GDS_NUMA_MAX_NODES] = { 0 }, all = 0;
    long bad = 0, wrong_node = 0;
    for (int i = 0; i < p->n_wt; i++) {
        const struct gds_numa_wt *w = &p->wt[i];
        CHECK(gds_numa_plan_find(p, w->data) == w, "%s: find tensor %d", desc, i);
        const int64_t nchunk = (w->n_rows + GDS_NUMA_UNIT_ROWS - 1) / GDS_NUMA_UNIT_ROWS;
        for (int64_t e = 0; e < w->n_expert; e++) {
            int64_t covered = 0;
            unsigned char *seen = calloc((size_t)nchunk, 1);
            for (int n = 0; n < nodes; n++) {
                int64_t c0, c1;
                gds_numa_chunks(p, w, n, e, nchunk, &c0, &c1);
                if (c1 > c0 && p->team[n] == 0) wrong_node++;
                for (int64_t c = c0; c < c1; c++) { if (seen[c]++) bad++; covered++; }
                bytes[n] += (double)(c1 - c0) / (double)nchunk * (double)w->nb2;
            }
            if (covered != nchunk) bad++;
            all += (double)w->nb2;
            free(seen);
        }
    }
    CHECK(bad == 0 && wrong_node == 0, "%s%s: %ld experts not covered exactly once, %ld on a node without a team", desc, split ? " split" : "",
          bad, wrong_node);
    double worst = 0;
    for (int n = 0; n < nodes; n++) {
        const double want = all * p->team[n] / T;
        if (want > 0 && fabs(bytes[n] - want) / want > worst) worst = fabs(bytes[n] - want) / want;
        CHECK(fabs(bytes[n] - p->node_bytes[n]) <= 1e-6 * all, "%s: node %d: plan says %.0f bytes, chunks give %.0f", desc, n,
              p->node_bytes[n], bytes[n]);
    }
    CHECK(worst <= 0.05, "%s%s%s: expert bytes per node off their team's share by %.1f %% (bound 5 %%)", desc, split ? " split" : "",
          pop ? " popularity" : "", 100 * worst);
    if (pop && !split) {
        /* expected reads of each layer per node, against the team's share */
        double lw = 0;
        for (int l = 0; l < FL_LAYERS; l++) {
            double by[GDS_NUMA_MAX_NODES] = { 0 }, tot = 0;
            for (int e = 0; e < FL_EXPERTS; e++) {
                by[p->owner[(size_t)l * FL_EXPERTS + e]] += pop[(size_t)l * FL_EXPERTS + e];
                tot += pop[(size_t)l * FL_EXPERTS + e];
            }
            for (int n = 0; n < nodes; n++) {
                const double want = tot * p->team[n] / T;
                if (fabs(by[n] - want) / want > lw) lw = fabs(by[n] - want) / want;
            }
        }
        CHECK(lw <= 0.05, "%s popularity: a layer's expected reads per node off by %.1f %% (bound 5 %%)", desc, 100 * lw);
    }
    /* teams: disjoint, covering the threads, ranks 0..team-1 */
    int sum = 0;
    for (int n = 0; n < nodes; n++) sum += p->team[n];
    CHECK(sum == T && p->n_threads == T, "%s: teams sum to %d of %d threads", desc, sum, T);
    int rank_bad = 0, pu_bad = 0;
    for (int n = 0; n < nodes; n++) {
        unsigned char *r = calloc((size_t)p->team[n] + 1, 1);
        for (int i = 0; i < T; i++)
            if (p->thread_node[i] == n) {
                if (p->thread_rank[i] < 0 || p->thread_rank[i] >= p->team[n] || r[p->thread_rank[i]]++) rank_bad++;
            }
        free(r);
    }
    /* pinning targets: each thread's PU is a core of its own node; with one
     * thread per core every core's PU is used exactly once */
    for (int i = 0; i < T; i++) {
        int c = 0;
        while (c < t->n_cores && t->core_pu[c] != p->thread_pu[i]) c++;
        if (c == t->n_cores || t->core_node[c] != p->thread_node[i]) pu_bad++;
        if (T <= t->n_cores)
            for (int j = 0; j < i; j++) if (p->thread_pu[j] == p->thread_pu[i]) pu_bad++;
    }
    CHECK(rank_bad == 0 && pu_bad == 0, "%s: %d bad ranks, %d threads on a wrong or shared core", desc, rank_bad, pu_bad);
    if (T == t->n_cores)
        for (int n = 0; n < nodes; n++) CHECK(p->team[n] == t->node_cores[n], "%s: node %d team %d, cores %d", desc, n, p->team[n], t->node_cores[n]);
    gds_numa_plan_free(p);
    gds_numa_topo_free(t);
}

/* HWLOC_XMLFILE: a synthetic topology exported to XML by hwloc itself, then
 * loaded through the environment variable like a saved machine description */
static void check_xml(const char *dir) {
#ifdef GDS_HAVE_NUMA
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/topo.xml", dir);
    hwloc_topology_t h;
    bool ok = hwloc_topology_init(&h) == 0 && hwloc_topology_set_synthetic(h, "package:2 numanode:2 core:3 pu:2") == 0 &&
              hwloc_topology_load(h) == 0 && hwloc_topology_export_xml(h, path, 0) == 0;
    hwloc_topology_destroy(h);
    CHECK(ok, "exporting a synthetic topology to %s", path);
    if (!ok) return;
    setenv("HWLOC_XMLFILE", path, 1);
    struct gds_numa_topo *t = gds_numa_topo_load();
    unsetenv("HWLOC_XMLFILE");
    CHECK(t && t->n_nodes == 4 && t->n_cores == 12 && t->n_packages == 2 && !t->this_system && strstr(t->source, "HWLOC_XMLFILE"),
          "HWLOC_XMLFILE: %d nodes, %d cores, %d packages, this_system %d, source '%s'", t ? t->n_nodes : -1, t ? t->n_cores : -1,
          t ? t->n_packages : -1, t ? t->this_system : -1, t ? t->source : "");
    gds_numa_topo_free(t);
    remove(path);
#else
    (void)dir;
    printf("SKIP HWLOC_XMLFILE: built without hwloc\n");
#endif
}

static void part_plans(void) {
    static const struct { const char *desc; int nodes, cores; } topo[] = {
        { "package:1 numanode:1 core:16 pu:2", 1, 16 },
        { "package:2 numanode:1 core:8 pu:2", 2, 8 },
        { "package:1 numanode:3 core:5 pu:2", 3, 5 },
        { "package:2 numanode:2 core:6 pu:2", 4, 6 },
        { "package:8 numanode:1 core:4 pu:2", 8, 4 },
    };
    /* a skewed popularity: reads per expert from 0.5 to 3.5 x the least, a
     * different order in every layer (each node's share stays above the most
     * popular expert, so a 5 % balance is possible on 8 nodes) */
    double *pop = malloc(sizeof(double) * FL_LAYERS * FL_EXPERTS);
    uint32_t x = 12345;
    for (int l = 0; l < FL_LAYERS; l++)
        for (int e = 0; e < FL_EXPERTS; e++) {
            x = x * 1664525u + 1013904223u;
            pop[(size_t)l * FL_EXPERTS + e] = 0.5 + 3.0 * (double)(x >> 8) / (double)(1u << 24);
        }
    for (size_t i = 0; i < sizeof topo / sizeof topo[0]; i++) {
        check_plan(topo[i].desc, topo[i].nodes, topo[i].cores, 0, false, NULL);
        check_plan(topo[i].desc, topo[i].nodes, topo[i].cores, 0, true, NULL);
        check_plan(topo[i].desc, topo[i].nodes, topo[i].cores, 0, false, pop);
        check_plan(topo[i].desc, topo[i].nodes, topo[i].cores, topo[i].nodes * topo[i].cores + 3, false, NULL); /* more threads than cores */
    }
    /* fewer threads than nodes: experts only on nodes with a team */
    check_plan("package:8 numanode:1 core:4 pu:2", 8, 4, 3, false, NULL);
    check_plan("package:8 numanode:1 core:4 pu:2", 8, 4, 3, true, NULL);
    free(pop);
}

/* ---- 2. traffic model ------------------------------------------------------ */

static void part_traffic(void) {
    struct gds_numa_topo *t = synthetic("package:2 numanode:1 core:4 pu:1");
    if (!t || t->n_nodes != 2) { printf("SKIP traffic model: no 2-node synthetic topology (built without hwloc)\n"); gds_numa_topo_free(t); return; }
    double eb[1] = { 4096 };
    struct gds_numa_plan *p = gds_numa_plan_new(t, GDS_NUMA_EXPERTS, 0, 1, 4, eb, NULL, false);
    static char base[4];
    gds_numa_plan_add_tensor(p, 0, base, 16, 64, 4, 1024); /* 4 experts of 1 KiB, one tensor */
    CHECK(p->owner[0] == p->owner[1] && p->owner[2] == p->owner[3] && p->owner[0] != p->owner[2], "owners %d %d %d %d", p->owner[0],
          p->owner[1], p->owner[2], p->owner[3]);
    /* 4 decode calls: experts {0,1}, {0,2}, {2,3}, {0,3}: per-call maximum bytes 2048, 1024, 2048, 1024 */
    const int32_t calls[4][4] = { { 1, 1, 0, 0 }, { 1, 0, 1, 0 }, { 0, 0, 1, 1 }, { 1, 0, 0, 1 } };
    for (int c = 0; c < 4; c++) gds_numa_count(p, &p->wt[0], calls[c]);
    const double B = 2 * 1024; /* bytes per token */
    const double dense = 1e6, bw = 1.0, bl = 0.25; /* GB/s: times come out in us per byte / 1e3 */
    struct gds_numa_traffic tr;
    gds_numa_traffic(p, GDS_NUMA_EXPERTS, true, false, dense, NULL, bw, bl, &tr);
    /* dense interleaved: each node reads half of it, half of that remote; the link carries dense/4 */
    const double t_dense = fmax(dense / 2 / 1e9, dense / 4 / 0.25e9);
    CHECK(fabs(tr.local[0] - (dense / 4 + B / 2)) < 1e-6 && fabs(tr.remote[0] - dense / 4) < 1e-6, "split: node 0 local %.1f remote %.1f",
          tr.local[0], tr.remote[0]);
    CHECK(fabs(tr.ms - 1e3 * (t_dense + B / 2 / 1e9)) < 1e-9, "split: %.9f ms, expected %.9f", tr.ms, 1e3 * (t_dense + B / 2 / 1e9));
    gds_numa_traffic(p, GDS_NUMA_EXPERTS, false, false, dense, NULL, bw, bl, &tr);
    CHECK(fabs(tr.ms - 1e3 * (t_dense + 1536 / 1e9)) < 1e-9, "whole experts: %.9f ms, expected %.9f (mean per-call maximum 1536 B)", tr.ms,
          1e3 * (t_dense + 1536 / 1e9));
    gds_numa_traffic(p, GDS_NUMA_INTERLEAVE, false, false, dense, NULL, bw, bl, &tr);
    CHECK(fabs(tr.remote[1] - (dense + B) / 4) < 1e-6, "interleave: node 1 remote %.1f", tr.remote[1]);
    CHECK(fabs(tr.ms - 1e3 * (t_dense + fmax(B / 2 / 1e9, B / 4 / 0.25e9))) < 1e-9, "interleave: %.9f ms", tr.ms);
    gds_numa_traffic(p, GDS_NUMA_OFF, false, false, dense, NULL, bw, bl, &tr);
    /* off: node 0 serves everything, node 1's half crosses the link */
    CHECK(fabs(tr.ms - 1e3 * (fmax(dense / 1e9, dense / 2 / 0.25e9) + fmax(B / 1e9, B / 2 / 0.25e9))) < 1e-9, "off: %.9f ms", tr.ms);
    CHECK(tr.local[1] == 0 && fabs(tr.remote[1] - (dense + B) / 2) < 1e-6, "off: node 1 local %.1f remote %.1f", tr.local[1], tr.remote[1]);
    gds_numa_traffic(p, GDS_NUMA_EXPERTS, true, true, dense, NULL, bw, bl, &tr);
    CHECK(fabs(tr.ms - 1e3 * (dense / 2 / 1e9 + B / 2 / 1e9)) < 1e-9 && tr.remote[0] == 0, "split + replicated dense: %.9f ms", tr.ms);
    gds_numa_plan_free(p);
    gds_numa_topo_free(t);
}

/* ---- 3. logits ------------------------------------------------------------- */

enum { N_PRE = 9, N_DEC = 4 };
static const int32_t toks[N_PRE + N_DEC] = { 1, 5, 9, 2, 77, 31, 4, 100, 8, 3, 60, 12, 44 };

/* prefill logits of every position, then N_DEC one-token calls; NULL on error */
static float *run(const char *path, const struct gds_model_params *mp, const char *topo, int *nv) {
    if (topo) setenv("HWLOC_SYNTHETIC", topo, 1);
    struct gds_model *m = gds_model_load(path, mp);
    unsetenv("HWLOC_SYNTHETIC");
    if (!m) { printf("load %s (numa %d, %s): %s\n", path, mp->numa, topo ? topo : "this machine", gds_last_error()); return NULL; }
    const int V = gds_model_hparams(m)->n_vocab;
    *nv = V;
    float *out = calloc((size_t)(N_PRE + N_DEC) * V, sizeof(float));
    struct gds_seq *s = gds_seq_new(m, 64);
    struct gds_eval e = { .tokens = toks, .n_tokens = N_PRE, .logits_all = out };
    enum gds_status st = s ? gds_model_eval(m, s, &e) : GDS_ERR_NOMEM;
    for (int i = 0; i < N_DEC && st == GDS_OK; i++) {
        e = (struct gds_eval){ .tokens = &toks[N_PRE + i], .n_tokens = 1, .logits = out + (size_t)(N_PRE + i) * V };
        st = gds_model_eval(m, s, &e);
    }
    if (st != GDS_OK) { printf("eval: %s\n", gds_last_error()); free(out); out = NULL; }
    if (out && mp->numa_count) {
        char pop[4096];
        snprintf(pop, sizeof pop, "%s.pop", path);
        if (gds_model_numa_save_popularity(m, pop) != GDS_OK) { printf("popularity: %s\n", gds_last_error()); free(out); out = NULL; }
    }
    gds_seq_free(s);
    gds_model_free(m);
    return out;
}

static void part_logits(const char *path) {
    int V = 0;
    const struct gds_model_params off = { .n_threads = 2 };
    float *ref = run(path, &off, NULL, &V);
    CHECK(ref != NULL, "%s: reference run", path);
    if (!ref) return;
    const size_t n = (size_t)(N_PRE + N_DEC) * V;
    bool finite = true;
    for (size_t i = 0; i < n; i++) finite = finite && isfinite(ref[i]);
    CHECK(finite, "%s: reference logits not finite", path);
    static const struct { const char *topo; int threads; } tops[] = {
        { "package:1 numanode:1 core:8 pu:2", 8 },
        { "package:2 numanode:1 core:8 pu:1", 16 },
        { "package:4 numanode:1 core:3 pu:1", 12 },
        { "package:8 numanode:1 core:2 pu:1", 16 },
        { "package:2 numanode:2 core:2 pu:1", 5 },  /* a thread count that is not a multiple of the nodes */
        { NULL, 0 },                               /* this machine: pinned, pages bound */
    };
    static const struct { int mode; bool split, rep; const char *name; } modes[] = {
        { GDS_NUMA_INTERLEAVE, false, false, "interleave" }, { GDS_NUMA_EXPERTS, false, false, "experts" },
        { GDS_NUMA_EXPERTS, true, false, "experts split" }, { GDS_NUMA_AUTO, false, false, "auto" },
        { GDS_NUMA_EXPERTS, true, true, "experts split, dense replicated" },
    };
    for (size_t ti = 0; ti < sizeof tops / sizeof tops[0]; ti++)
        for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
            const struct gds_model_params mp = { .n_threads = tops[ti].threads, .numa = modes[mi].mode, .numa_split = modes[mi].split,
                                                 .numa_replicate_dense = modes[mi].rep };
            float *got = run(path, &mp, tops[ti].topo, &V);
            CHECK(got && !memcmp(got, ref, n * sizeof(float)), "%s: %s on %s, %d threads: logits differ from --numa off", path, modes[mi].name,
                  tops[ti].topo ? tops[ti].topo : "this machine", tops[ti].threads);
            free(got);
        }
    /* prefetch (helper thread, graph order with the shared expert first) and counting */
    {
        const struct gds_model_params mp = { .n_threads = 2, .prefetch_experts = true, .numa_count = true };
        setenv("HWLOC_SYNTHETIC", "package:2 numanode:1 core:4 pu:1", 1); /* counting only: the topology does not matter */
        float *got = run(path, &mp, NULL, &V);
        unsetenv("HWLOC_SYNTHETIC");
        CHECK(got && !memcmp(got, ref, n * sizeof(float)), "%s: --prefetch-experts: logits differ from --numa off", path);
        free(got);
    }
    /* whole experts placed by the popularity just counted */
    {
        char pop[4096];
        snprintf(pop, sizeof pop, "%s.pop", path);
        const struct gds_model_params mp = { .n_threads = 16, .numa = GDS_NUMA_EXPERTS, .numa_popularity = pop };
        float *got = run(path, &mp, "package:2 numanode:1 core:8 pu:1", &V);
        CHECK(got && !memcmp(got, ref, n * sizeof(float)), "%s: experts by popularity: logits differ from --numa off", path);
        free(got);
        remove(pop);
    }
    free(ref);
}

/* the prefetch helper really advises: a decode step queues the K chosen
 * experts of the 3 projections of every layer, each once */
static void part_prefetch(const char *path) {
    struct gds_model *m = gds_model_load(path, &(struct gds_model_params){ .n_threads = 2, .prefetch_experts = true });
    if (!m) { CHECK(false, "load with prefetch: %s", gds_last_error()); return; }
    const struct gds_ds4_hparams *hp = gds_model_hparams(m);
    struct gds_seq *s = gds_seq_new(m, 64);
    struct gds_eval e = { .tokens = toks, .n_tokens = 4 };
    CHECK(s && gds_model_eval(m, s, &e) == GDS_OK, "prefetch eval");
    uint64_t r0, r1;
    double b0, b1;
    gds_model_prefetch_stats(m, &r0, &b0);
    e = (struct gds_eval){ .tokens = toks + 4, .n_tokens = 1 };
    CHECK(s && gds_model_eval(m, s, &e) == GDS_OK, "prefetch decode");
    gds_model_prefetch_stats(m, &r1, &b1);
    CHECK(r0 >= 3ull * hp->n_layer * hp->n_expert_used, "prefill advised %llu ranges, at least %d expected", (unsigned long long)r0,
          3 * hp->n_layer * hp->n_expert_used);
    CHECK(r1 - r0 == 3ull * hp->n_layer * hp->n_expert_used, "a decode step advised %llu ranges, %d expected", (unsigned long long)(r1 - r0),
          3 * hp->n_layer * hp->n_expert_used);
    gds_seq_free(s);
    gds_model_free(m);
}

/* ---- 4. binding ------------------------------------------------------------- */

static void part_bind(const char *path) {
    char msg[256] = "";
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) { CHECK(false, "open %s", path); if (fd >= 0) close(fd); return; }
    const size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { CHECK(false, "mmap %s", path); return; }
    struct gds_numa_topo *t = synthetic(NULL);
    CHECK(t && t->this_system, "this machine's topology");
#ifdef GDS_HAVE_NUMA
    double on = 0, checked = 0;
    const bool ok = gds_numa_bind(map, len, t ? t->node_os[0] : 0, true, &on, &checked, msg, sizeof msg);
    printf("bind %.1f MiB of %s to node %d: %s; %.1f of %.1f MiB of mapped pages on the node\n", len / 1048576.0, path,
           t ? t->node_os[0] : 0, ok ? "bound" : msg, on / 1048576.0, checked / 1048576.0);
    CHECK(ok, "gds_numa_bind on this machine's node: %s", msg);
    const double pg = (double)sysconf(_SC_PAGESIZE);
    CHECK(ok && checked >= (double)len - 2 * pg && on == checked, "after binding with touch: %.0f of %.0f bytes (of %zu) on node", on, checked, len);
    msg[0] = 0;
    CHECK(!gds_numa_bind(map, len, 4095, false, NULL, NULL, msg, sizeof msg) && strstr(msg, "not a memory node"),
          "binding to a node this machine lacks must fail with a message, got '%s'", msg);
    printf("fallback message: %s\n", msg);
    /* the interleave path (dense weights, interleave mode) on this machine's nodes */
    double eb1[1] = { 1 };
    struct gds_numa_plan *ip = t ? gds_numa_plan_new(t, GDS_NUMA_INTERLEAVE, 0, 1, 2, eb1, NULL, false) : NULL;
    CHECK(ip && gds_numa_interleave(ip, map, len), "gds_numa_interleave on this machine: %s", strerror(errno));
    gds_numa_plan_free(ip);
#else
    CHECK(!gds_numa_bind(map, len, 0, true, NULL, NULL, msg, sizeof msg) && strstr(msg, "without libnuma"), "no libnuma: '%s'", msg);
    printf("fallback message: %s\n", msg);
#endif
    munmap(map, len);
    gds_numa_topo_free(t);
    /* an injected topology: the plan binds nothing and says why */
    struct gds_numa_topo *s = synthetic("package:2 numanode:1 core:2 pu:1");
    double eb[1] = { 1 };
    struct gds_numa_plan *p = s ? gds_numa_plan_new(s, GDS_NUMA_EXPERTS, 0, 1, 2, eb, NULL, false) : NULL;
    CHECK(p && !gds_numa_plan_place(p) && (strstr(p->place_msg, "injected") || strstr(p->place_msg, "without hwloc")),
          "injected topology: '%s'", p ? p->place_msg : "no plan");
    if (p) printf("injected topology: %s\n", p->place_msg);
    gds_numa_plan_free(p);
    gds_numa_topo_free(s);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: test-numa MODEL.gguf [MODEL.gguf ...]\n"); return 2; }
    part_plans();
    {
        /* the folder of the first model (test-numa.sh's temporary folder) */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", argv[1]);
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0; else snprintf(dir, sizeof dir, ".");
        check_xml(dir);
    }
    part_traffic();
    part_bind(argv[1]);
    for (int i = 1; i < argc; i++) {
        part_logits(argv[i]);
        part_prefetch(argv[i]);
    }
    printf("test-numa: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
