/*
 * deepseek4-numa.c - the model's side of issue 12: the NUMA plan of the
 * routed experts (gds-numa.h), page placement, expert prefetch, mlock of the
 * dense weights, the traffic report and the popularity file.
 *
 * Runs once at load, after the weights are bound to the mapping, and only
 * for the CPU backend (with another backend the routed experts are not the
 * CPU's reads, except under cpu_moe, which is left alone). Nothing here
 * changes a result: the plan changes which thread computes which MUL_MAT_ID
 * unit, prefetch and mlock only move pages.
 */
#include "deepseek4-impl.h"
#include "gds-numa.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

static bool is_expert(const struct gds_tensor *t) { return strstr(t->name, "_exps.") != NULL; }

/* page-rounded outwards range of a tensor, for mlock */
static int lock_range(const void *p, size_t n) {
#if defined(__linux__)
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)p & ~(pg - 1), b = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
    return mlock((void *)a, (size_t)(b - a));
#else
    (void)p; (void)n;
    errno = ENOSYS;
    return -1;
#endif
}

/* "layer expert count" lines into pop[n_layers * n_expert] */
static enum gds_status read_popularity(const char *path, int n_layers, int n_expert, double *pop) {
    FILE *f = fopen(path, "r");
    if (!f) return gds_error(GDS_ERR_IO, "numa popularity '%s': %s", path, strerror(errno));
    int il, e, line = 0;
    double c;
    char buf[256];
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (buf[0] == '#' || buf[0] == '\n') continue;
        if (sscanf(buf, "%d %d %lf", &il, &e, &c) != 3 || il < 0 || il >= n_layers || e < 0 || e >= n_expert || !(c >= 0)) {
            fclose(f);
            return gds_error(GDS_ERR_INVALID, "numa popularity '%s' line %d: not \"layer expert count\" of this model (%d layers, %d experts)",
                             path, line, n_layers, n_expert);
        }
        pop[(size_t)il * n_expert + e] += c;
    }
    fclose(f);
    /* experts never seen still weigh a little (a file from a short run) */
    for (size_t i = 0; i < (size_t)n_layers * n_expert; i++) pop[i] += 0.5;
    return GDS_OK;
}

enum gds_status ds4_numa_load(struct gds_model *m) {
    const struct gds_model_params *pr = &m->params;
    if (m->gpu) {
        if (pr->numa || pr->prefetch_experts || pr->mlock_dense)
            gds_log(GDS_LOG_WARN, "numa/prefetch/mlock options apply to the CPU backend only; ignored with backend '%s'\n", pr->backend);
        return GDS_OK;
    }
    if (pr->mlock_dense) {
        double locked = 0, failed = 0;
        int err = 0;
        for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t)) {
            /* the tables read by one row per token (token_embd, tid2eid) are not what a token streams */
            if (!t->data || t->view_src || is_expert(t) || !strcmp(t->name, "token_embd.weight") || strstr(t->name, "tid2eid")) continue;
            if (lock_range(t->data, gds_nbytes(t)) == 0) locked += (double)gds_nbytes(t);
            else { failed += (double)gds_nbytes(t); err = errno; }
        }
        if (failed > 0)
            gds_log(GDS_LOG_WARN, "mlock-dense: %.2f GiB locked, %.2f GiB not: %s (RLIMIT_MEMLOCK: ulimit -l, or CAP_IPC_LOCK)\n",
                    locked / 1073741824.0, failed / 1073741824.0, strerror(err));
        else if (pr->verbose) gds_log(GDS_LOG_INFO, "mlock-dense: %.2f GiB of dense weights locked in memory\n", locked / 1073741824.0);
    }
    if (pr->prefetch_experts && !gds_backend_cpu_set_prefetch(m->cpu, true))
        return gds_error(GDS_ERR_NOMEM, "prefetch-experts: cannot start the helper thread");
    if (pr->numa == GDS_NUMA_OFF && !pr->verbose && !pr->numa_count) return GDS_OK;

    const struct gds_ds4_hparams *hp = &m->hp;
    const int nl = hp->n_layer + hp->n_mtp, E = hp->n_expert;
    m->numa_topo = gds_numa_topo_load();
    if (!m->numa_topo) return GDS_ERR_INVALID;
    double *eb = calloc((size_t)nl + 1, sizeof(double)), *pop = NULL;
    if (!eb) return gds_error(GDS_ERR_NOMEM, "out of memory");
    for (int il = 0; il < nl; il++) {
        const struct ds4_layer *L = &m->layers[il];
        const struct gds_tensor *w3[3] = { L->gate_exps, L->up_exps, L->down_exps };
        for (int k = 0; k < 3; k++) if (w3[k]) eb[il] += (double)w3[k]->nb[2];
    }
    if (pr->numa_popularity) {
        pop = calloc((size_t)nl * E + 1, sizeof(double));
        if (!pop) { free(eb); return gds_error(GDS_ERR_NOMEM, "out of memory"); }
        const enum gds_status st = read_popularity(pr->numa_popularity, nl, E, pop);
        if (st != GDS_OK) { free(eb); free(pop); return st; }
    }
    m->numa = gds_numa_plan_new(m->numa_topo, (enum gds_numa_mode)pr->numa, gds_backend_cpu_n_threads(m->cpu), nl, E, eb, pop,
                                pr->numa_split);
    free(eb);
    free(pop);
    if (!m->numa) return GDS_ERR_NOMEM;
    for (int il = 0; il < nl; il++) {
        const struct ds4_layer *L = &m->layers[il];
        const struct gds_tensor *w3[3] = { L->gate_exps, L->up_exps, L->down_exps };
        for (int k = 0; k < 3; k++)
            if (w3[k] && w3[k]->data && !gds_numa_plan_add_tensor(m->numa, il, w3[k]->data, w3[k]->nb[1], w3[k]->ne[1], w3[k]->ne[2], w3[k]->nb[2]))
                return GDS_ERR_INVALID;
    }
    if (pr->numa_replicate_dense && m->numa->mode != GDS_NUMA_OFF && m->numa->n_nodes > 1) {
        m->numa->replicate_dense = true;
        double dense = 0;
        for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t)) {
            if (!t->data || t->view_src || is_expert(t) || !strcmp(t->name, "token_embd.weight") || strstr(t->name, "tid2eid")) continue;
            if (!gds_numa_plan_replicate(m->numa, t->data, gds_nbytes(t))) return GDS_ERR_NOMEM;
            dense += (double)gds_nbytes(t);
        }
        gds_log(GDS_LOG_INFO, "numa: dense weights (%.2f GiB) replicated on %d nodes: %.2f GiB more memory\n", dense / 1073741824.0,
                m->numa->n_nodes, m->numa->rep_bytes / 1073741824.0);
    }
    if (m->numa->mode != GDS_NUMA_OFF && !m->numa->replicate_dense && m->numa->n_nodes > 1 && m->numa_topo->this_system) {
        /* dense weights interleaved: every thread reads a slice of every dense product */
        long bad = 0;
        for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t))
            if (t->data && !t->view_src && !is_expert(t) && !gds_numa_interleave(m->numa, t->data, gds_nbytes(t))) bad++;
        if (bad) gds_log(GDS_LOG_WARN, "numa: %ld dense weights could not be interleaved (mbind): %s\n", bad, strerror(errno));
    }
    if (m->numa->mode != GDS_NUMA_OFF) {
        /* read the experts in at load only when the file fits in memory with room to spare */
        const double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
        m->numa->touch = (double)gds_gguf_size(m->gguf) < 0.7 * mem;
        gds_numa_plan_place(m->numa);
        static bool told; /* the injected-topology message once per process */
        if (pr->verbose || pr->numa_print || (!m->numa_topo->this_system && !told))
            gds_log(GDS_LOG_INFO, "numa: %s\n", m->numa->place_msg);
        told = told || !m->numa_topo->this_system;
    }
    if (pr->numa_print) gds_numa_plan_print(m->numa, stderr);
    gds_backend_cpu_set_numa(m->cpu, m->numa);
    return GDS_OK;
}

void ds4_numa_free(struct gds_model *m) {
    if (m->cpu) gds_backend_cpu_set_numa(m->cpu, NULL);
    gds_numa_plan_free(m->numa);
    gds_numa_topo_free(m->numa_topo);
    m->numa = NULL;
    m->numa_topo = NULL;
}

/* weights a decode token reads besides the routed experts (gds-bench counts
 * the same way): every tensor of the trunk layers and outside them, one row
 * of the tables gathered by token id, no MTP */
static double dense_bytes_per_token(const struct gds_model *m, double *layers) {
    double total = 0;
    *layers = 0;
    for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t)) {
        if (!t->data || t->view_src || is_expert(t)) continue;
        int il = -1;
        if (sscanf(t->name, "blk.%d.", &il) == 1 && il >= m->hp.n_layer) continue;
        if (strstr(t->name, "nextn")) continue;
        const double b = !strcmp(t->name, "token_embd.weight") || strstr(t->name, "tid2eid") ? (double)t->nb[1] : (double)gds_nbytes(t);
        total += b;
        if (il >= 0) *layers += b;
    }
    return total;
}

double gds_model_numa_report(struct gds_model *m, double bw_node, double bw_link, int n_layers, FILE *f) {
    if (!m->numa) { fprintf(f, "numa: no plan (CPU backend with --numa or -v)\n"); return 0; }
    if (bw_node <= 0) {
        bw_node = gds_numa_probe_bw(m->numa_topo, 0, 0, 0, 512);
        if (bw_node > 0) fprintf(f, "numa: node 0 read bandwidth measured here: %.1f GB/s (%d threads pinned to its cores)\n", bw_node,
                                 m->numa_topo->node_cores[0]);
    }
    if (bw_node <= 0) { fprintf(f, "numa: no bandwidth for the model (give --numa-bw; it cannot be measured on this topology)\n"); return 0; }
    if (bw_link <= 0 && m->numa_topo->this_system && m->numa_topo->n_nodes > 1) {
        /* node 1's cores reading node 0's memory: what one direction of the link delivers */
        bw_link = gds_numa_probe_bw(m->numa_topo, 1, 0, 0, 512);
        if (bw_link > 0) fprintf(f, "numa: node 1 reading node 0's memory, measured here: %.1f GB/s\n", bw_link);
    }
    if (bw_link <= 0) bw_link = GDS_NUMA_LINK_BW_DEFAULT;
    uint64_t ranges;
    double pf_bytes;
    gds_backend_cpu_prefetch_stats(m->cpu, &ranges, &pf_bytes);
    if (ranges) fprintf(f, "numa: prefetch: %llu expert ranges, %.2f GB advised\n", (unsigned long long)ranges, pf_bytes / 1e9);
    double layers;
    const double dense = dense_bytes_per_token(m, &layers);
    const int nl = m->hp.n_layer, nh = m->hp.n_hash_layers < nl ? m->hp.n_hash_layers : nl;
    if (n_layers <= 0 || n_layers == nl) return gds_numa_report(m->numa, dense, NULL, bw_node, bw_link, f);
    /* L layers: the same hash-routed layers, the top-k layers scaled to the rest
     * (DeepSeek-V4 keeps its hash layers first, 3 of Flash's 43) */
    double *scale = calloc((size_t)m->numa->n_layers + 1, sizeof(double));
    if (!scale) return 0;
    const double sk = nl > nh && n_layers > nh ? (double)(n_layers - nh) / (nl - nh) : (double)n_layers / nl;
    for (int il = 0; il < nl; il++) scale[il] = nl > nh && n_layers > nh ? (il < nh ? 1.0 : sk) : sk;
    fprintf(f, "numa: projected to %d layers like the %d counted ones (%d hash-routed kept, top-k layers x %.2f; dense %.3f GB per "
               "layer, the rest %.3f GB)\n", n_layers, nl, nh, sk, layers / nl / 1e9, (dense - layers) / 1e9);
    const double r = gds_numa_report(m->numa, dense - layers + layers * n_layers / nl, scale, bw_node, bw_link, f);
    free(scale);
    return r;
}

void gds_model_prefetch_stats(struct gds_model *m, uint64_t *ranges, double *bytes) {
    gds_backend_cpu_prefetch_stats(m->cpu, ranges, bytes);
}

enum gds_status gds_model_numa_save_popularity(const struct gds_model *m, const char *path) {
    if (!m->numa) return gds_error(GDS_ERR_INVALID, "numa popularity: no plan (--numa or -v), nothing counted");
    FILE *f = fopen(path, "w");
    if (!f) return gds_error(GDS_ERR_IO, "numa popularity '%s': %s", path, strerror(errno));
    fprintf(f, "# layer expert count: decode calls that read the expert (gate projection), from %s\n", gds_gguf_path(m->gguf));
    const struct gds_numa_plan *p = m->numa;
    for (int i = 0; i < p->n_wt; i++) {
        const struct gds_numa_wt *w = &p->wt[i];
        if (w->data != (const char *)m->layers[w->layer].gate_exps->data) continue;
        for (int64_t e = 0; e < w->n_expert; e++) fprintf(f, "%d %lld %llu\n", w->layer, (long long)e, (unsigned long long)w->used[e]);
    }
    const bool ok = fclose(f) == 0;
    return ok ? GDS_OK : gds_error(GDS_ERR_IO, "numa popularity '%s': write failed", path);
}
