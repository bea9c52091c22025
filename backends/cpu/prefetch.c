/*
 * prefetch.c - routed experts read ahead as soon as the router has chosen
 * them (issue 12, for models larger than memory).
 *
 * When a graph node produces the expert ids of MUL_MAT_ID nodes (the
 * router's TOP_K; for hash-routed layers the ids are an input, known when
 * the graph starts), thread 0 queues the weight ranges of the chosen experts
 * of the first two products that use them (gate and up), and the next ones
 * as the products run (down after gate: at most two products ahead, see
 * gds_cpu_prefetch_graph); a helper thread calls madvise(MADV_WILLNEED) on
 * them: the kernel starts reading the missing pages at once (a deep I/O
 * queue) while the threads go on with the nodes before the products (the
 * model puts the shared expert there when prefetching, deepseek4.c).
 * Without prefetch the threads fault the pages one readahead window at a
 * time, inside the products.
 *
 * It changes no result: madvise only reads pages into the page cache.
 * Off (the default), the CPU backend pays one pointer test per graph.
 */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

enum { PF_RING = 4096 };

struct gds_cpu_prefetch {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, started;
    struct { const char *p; size_t n; } ring[PF_RING];
    unsigned head, tail;               /* ring[tail % PF_RING] .. ring[head % PF_RING] */
    /* per graph: trig[PF_AHEAD * i + s] = the products whose experts are queued after node i (-1: none) */
    int *trig;
    int cap_trig;
    unsigned char *seen;               /* [cap_seen] experts queued for one product */
    int64_t cap_seen;
    /* statistics */
    uint64_t n_ranges, n_dropped;
    double bytes;
};

static void *pf_main(void *arg) {
    struct gds_cpu_prefetch *pf = arg;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->stop && pf->head == pf->tail) pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->stop) break;
        const char *p = pf->ring[pf->tail % PF_RING].p;
        const size_t n = pf->ring[pf->tail % PF_RING].n;
        pf->tail++;
        pthread_mutex_unlock(&pf->mu);
#if defined(__linux__)
        const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        const uintptr_t a = (uintptr_t)p & ~(pg - 1);
        madvise((void *)a, (size_t)((uintptr_t)p + n - a), MADV_WILLNEED);
#endif
        pthread_mutex_lock(&pf->mu);
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

struct gds_cpu_prefetch *gds_cpu_prefetch_new(void) {
    struct gds_cpu_prefetch *pf = calloc(1, sizeof(*pf));
    if (!pf) return NULL;
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    if (pthread_create(&pf->th, NULL, pf_main, pf) != 0) {
        pthread_mutex_destroy(&pf->mu);
        pthread_cond_destroy(&pf->cv);
        free(pf);
        return NULL;
    }
    pf->started = true;
    return pf;
}

void gds_cpu_prefetch_free(struct gds_cpu_prefetch *pf) {
    if (!pf) return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = true;
    pthread_cond_signal(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    if (pf->started) pthread_join(pf->th, NULL);
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    free(pf->trig);
    free(pf->seen);
    free(pf);
}

void gds_cpu_prefetch_stats(const struct gds_cpu_prefetch *pf, uint64_t *ranges, double *bytes) {
    *ranges = pf ? pf->n_ranges : 0;
    *bytes = pf ? pf->bytes : 0;
}

/* queues the chosen experts of product node j */
static void pf_queue(struct gds_cpu_prefetch *pf, const struct gds_tensor *t) {
    const struct gds_tensor *w = t->src[0], *ids = t->src[2];
    if (!w->data) return;
    const int64_t E = w->ne[2];
    if (E > pf->cap_seen) {
        unsigned char *s = realloc(pf->seen, (size_t)E);
        if (!s) return;
        pf->seen = s;
        pf->cap_seen = E;
    }
    memset(pf->seen, 0, (size_t)E);
    pthread_mutex_lock(&pf->mu);
    for (int64_t t1 = 0; t1 < ids->ne[1]; t1++)
        for (int64_t i = 0; i < ids->ne[0]; i++) {
            const int32_t e = *gds_i32_ptr(ids, i, t1, 0, 0);
            if (e < 0 || e >= E || pf->seen[e]) continue;
            pf->seen[e] = 1;
            if (pf->head - pf->tail >= PF_RING) { pf->n_dropped++; continue; }
            pf->ring[pf->head % PF_RING].p = (const char *)w->data + (size_t)e * w->nb[2];
            pf->ring[pf->head % PF_RING].n = w->nb[2];
            pf->head++;
            pf->n_ranges++;
            pf->bytes += (double)w->nb[2];
        }
    pthread_cond_signal(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* Before a graph runs: which node starts the prefetch of which product. The
 * reads run at most PF_AHEAD products ahead of the products that use one ids
 * tensor: the first PF_AHEAD users of an ids tensor are queued after the node
 * that produces the ids (at once for an input: hash routing), user u after
 * user u - PF_AHEAD has run (the down projection after the gate one). Queuing
 * all three at the router made the reads of the later products compete with
 * those of the first when memory is tight. */
enum { PF_AHEAD = 2 };
void gds_cpu_prefetch_graph(struct gds_cpu_prefetch *pf, const struct gds_graph *g) {
    if (g->n_nodes > pf->cap_trig) {
        int *t = realloc(pf->trig, sizeof(int) * PF_AHEAD * (size_t)g->n_nodes);
        if (!t) { pf->cap_trig = 0; free(pf->trig); pf->trig = NULL; return; }
        pf->trig = t;
        pf->cap_trig = g->n_nodes;
    }
    for (int i = 0; i < PF_AHEAD * g->n_nodes; i++) pf->trig[i] = -1;
    for (int j = 0; j < g->n_nodes; j++) {
        const struct gds_tensor *t = g->nodes[j];
        if (t->op != GDS_OP_MUL_MAT_ID) continue;
        const struct gds_tensor *ids = t->src[2];
        /* earlier users of the same ids, newest first, and the producer */
        int users[PF_AHEAD], nu = 0, k = -1;
        for (int i = j - 1; i >= 0 && k < 0; i--) {
            if (g->nodes[i] == ids) k = i;
            else if (g->nodes[i]->op == GDS_OP_MUL_MAT_ID && g->nodes[i]->src[2] == ids) {
                if (nu < PF_AHEAD) users[nu] = i;
                nu++;
            }
        }
        int at = nu >= PF_AHEAD ? users[PF_AHEAD - 1] : k; /* the node after which j is queued; -1: now */
        if (at < 0) {
            if (ids->data) pf_queue(pf, t);
            continue;
        }
        for (int s = 0; s < PF_AHEAD; s++)
            if (pf->trig[PF_AHEAD * at + s] < 0) { pf->trig[PF_AHEAD * at + s] = j; break; }
    }
}

/* thread 0, after node i (and its barrier) */
void gds_cpu_prefetch_node(struct gds_cpu_prefetch *pf, const struct gds_graph *g, int i) {
    if (!pf->trig || i >= pf->cap_trig) return;
    for (int s = 0; s < PF_AHEAD && pf->trig[PF_AHEAD * i + s] >= 0; s++) pf_queue(pf, g->nodes[pf->trig[PF_AHEAD * i + s]]);
}
