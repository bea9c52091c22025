/*
 * cuda-backend.c - the CUDA backend's host glue (C): device, buffers, copies,
 * supports_op, and graph_compute, which turns each node into a struct
 * gds_cu_node and calls its launcher (ops-*.cu, behind cuda-ops.h).
 *
 *     struct gds_backend *gpu = gds_backend_init("cuda", 0);   // device index
 *
 * Built with `make CUDA=1` (nvcc; the registry in ggml-ds/src/backend.c then
 * lists "cuda"). Without a device, init fails with a message and callers
 * (test-ops -b cuda, --backend cuda) report a skip or an error.
 *
 * Memory: buffers are cudaMalloc'd device memory (is_host false): the
 * scheduler copies activations across through tensor_set / tensor_get.
 * Every kernel runs on one stream of the backend; graph_compute waits for it
 * at the end (so errors surface with the graph that caused them), and a
 * failing launch names the node. Scratch for the ops that declare it
 * (gds_cu_work_*) is one device buffer, grown on demand.
 *
 * Fusion: a QUANT_SIM BF16 (y = bf16(x), the model's bf16() after most ops)
 * whose source is the node launched just before it runs inside that node
 * (gds_cu_fuses_bf16: elementwise ops, RMS_NORM, ROPE, HADAMARD, MUL_MAT,
 * MUL_MAT_ID, CPY to F32), which stores its output as before and bf16 of it into the
 * QUANT_SIM's output (gds_cu_node.dst_bf16): one launch less, the same bits
 * (the producer's fp32 value, then the same gds_round_bf16). The producer's
 * own output stays written, so readers the glue cannot see (the next split
 * of a scheduler, a state view) still find it. Only when both are contiguous
 * F32 of one shape and the QUANT_SIM's output overlaps neither the
 * producer's output nor its sources, except where the kernel is safe with
 * that (plan_fusions). GDS_CUDA_FUSE=0 turns it off.
 *
 * GDS_PROF=1: graphs run without capture, node by node, each node between
 * two cudaEvents (GPU time of its kernels); each node's launches are also
 * captured once into a throwaway cudaGraph to count them (kernels and
 * memsets, cudaGraphGetNodes), then launched for real. At exit a table goes
 * to stderr, as the CPU backend's: per op (MUL_MAT / MUL_MAT_ID per weight
 * name, type and vec/mat) ms, %, calls, us/call, launches/call, and the
 * launches per graph (by node count). Unset, it costs one branch per graph.
 */
#include "gds-impl.h"
#include "cuda-ops.h"

#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CUDA graphs: each graph's launches are captured and replayed as one
 * cudaGraph (a decode token is hundreds of small kernels: launched one by one
 * their launch cost exceeds their work). Executable graphs are cached by the
 * sequence of (op, output shape) of the nodes; a cached one is updated in
 * place with the new parameters (cudaGraphExecUpdate), else instantiated.
 * GDS_CUDA_GRAPH=0 launches directly. */
enum { N_EXEC = 8 };

struct cuda_ctx {
    int device;
    cudaStream_t stream;
    void *scratch;
    size_t scratch_size;
    int n_sm, cc;
    char name[256];
    bool graphs;                      /* capture and replay (GDS_CUDA_GRAPH != 0, capture works) */
    cudaGraphExec_t exec[N_EXEC];
    uint64_t key[N_EXEC];
    int next;                         /* slot to replace */
    cudaEvent_t *ev;                  /* GDS_PROF: two per node */
    int n_ev;
    bool fuse;                        /* GDS_CUDA_FUSE != 0 */
    int *plan;                        /* per node: index of the QUANT_SIM fused into it, -2: fused away, -1 */
    int plan_cap;
};

static enum gds_status cu_err(cudaError_t e, const char *what) {
    return gds_error(GDS_ERR_BACKEND, "cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

static enum gds_status cuda_init(struct gds_backend *b, int device) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return gds_error(GDS_ERR_UNSUPPORTED, "cuda: no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    if (device < 0 || device >= n) return gds_error(GDS_ERR_INVALID, "cuda: device %d of %d", device, n);
    struct cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return gds_error(GDS_ERR_NOMEM, "cuda: out of memory");
    c->device = device;
    if ((e = cudaSetDevice(device)) != cudaSuccess) { free(c); return cu_err(e, "cudaSetDevice"); }
    struct cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess) { free(c); return cu_err(e, "cudaGetDeviceProperties"); }
    c->n_sm = prop.multiProcessorCount;
    c->cc = prop.major * 10 + prop.minor;
    snprintf(c->name, sizeof c->name, "%s", prop.name);
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) { free(c); return cu_err(e, "cudaStreamCreate"); }
    const char *gr = getenv("GDS_CUDA_GRAPH");
    c->graphs = !(gr && !strcmp(gr, "0"));
    const char *fu = getenv("GDS_CUDA_FUSE");
    c->fuse = !(fu && !strcmp(fu, "0"));
    b->ctx = c;
    return GDS_OK;
}

static void cuda_free(struct gds_backend *b) {
    struct cuda_ctx *c = b->ctx;
    if (!c) return;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    for (int i = 0; i < N_EXEC; i++)
        if (c->exec[i]) cudaGraphExecDestroy(c->exec[i]);
    for (int i = 0; i < c->n_ev; i++) cudaEventDestroy(c->ev[i]);
    free(c->ev);
    free(c->plan);
    if (c->scratch) cudaFree(c->scratch);
    cudaStreamDestroy(c->stream);
    free(c);
}

static enum gds_status cuda_buffer_alloc(struct gds_backend *b, size_t size, struct gds_buffer *buf) {
    struct cuda_ctx *c = b->ctx;
    cudaSetDevice(c->device);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, size ? size : 1);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky-free error state of a failed allocation */
        return gds_error(GDS_ERR_NOMEM, "cuda: cannot allocate %zu bytes on %s: %s", size, c->name, cudaGetErrorString(e));
    }
    buf->base = p;
    buf->size = size;
    buf->is_host = false;
    return GDS_OK;
}

static void cuda_buffer_free(struct gds_backend *b, struct gds_buffer *buf) {
    struct cuda_ctx *c = b->ctx;
    if (!buf->base) return;
    cudaSetDevice(c->device);
    cudaStreamSynchronize(c->stream);
    cudaFree(buf->base);
    buf->base = NULL;
}

static enum gds_status cuda_tensor_set(struct gds_backend *b, struct gds_tensor *t, const void *src, size_t offset, size_t n) {
    struct cuda_ctx *c = b->ctx;
    cudaSetDevice(c->device);
    cudaError_t e = cudaMemcpyAsync((char *)t->data + offset, src, n, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? GDS_OK : cu_err(e, "tensor_set");
}

static enum gds_status cuda_tensor_get(struct gds_backend *b, const struct gds_tensor *t, void *dst, size_t offset, size_t n) {
    struct cuda_ctx *c = b->ctx;
    cudaSetDevice(c->device);
    cudaError_t e = cudaMemcpyAsync(dst, (const char *)t->data + offset, n, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? GDS_OK : cu_err(e, "tensor_get");
}

/* ---- what the kernels take (mirrors the CPU backend's contracts, gds.h) ---- */

static bool is_float(enum gds_type t) { return t == GDS_TYPE_F32 || t == GDS_TYPE_F16 || t == GDS_TYPE_BF16; }
static bool is_quant(enum gds_type t) { return gds_type_traits(t) && gds_type_traits(t)->is_quantized; }
static bool is_weight(enum gds_type t) {
    return t == GDS_TYPE_F32 || t == GDS_TYPE_F16 || t == GDS_TYPE_BF16 || t == GDS_TYPE_Q8_0 || t == GDS_TYPE_MXFP4 || t == GDS_TYPE_F8_E4M3_B128;
}
static bool f32_rows(const struct gds_tensor *t) { return t && t->type == GDS_TYPE_F32 && t->nb[0] == 4; }

static bool cuda_supports_op(struct gds_backend *b, const struct gds_tensor *t) {
    (void)b;
    const struct gds_tensor *s0 = t->src[0], *s1 = t->src[1];
    switch (t->op) {
    case GDS_OP_CPY:
        if (s0->type == GDS_TYPE_I32 || t->type == GDS_TYPE_I32) return s0->type == t->type;
        if (is_float(s0->type) && is_float(t->type)) return true;
        if (s0->type == GDS_TYPE_F32 && is_quant(t->type)) return true;
        return is_quant(s0->type) && t->type == GDS_TYPE_F32;
    case GDS_OP_GET_ROWS: return (is_float(s0->type) || is_quant(s0->type)) && s1->type == GDS_TYPE_I32;
    case GDS_OP_SET_ROWS: return (is_float(t->type) || is_quant(t->type)) && f32_rows(s1) && t->src[2]->type == GDS_TYPE_I32;
    case GDS_OP_CONCAT: return is_float(s0->type) && is_float(s1->type);
    case GDS_OP_MUL_MAT: case GDS_OP_MUL_MAT_ID:
        /* GDS_MM_ACT_BF16: F8 and BF16 weights only (Q8_0 x bf16 is a CPU kernel) */
        if (t->op == GDS_OP_MUL_MAT && (t->op_params[0] & GDS_MM_ACT_BF16) && s0->type != GDS_TYPE_F8_E4M3_B128 && s0->type != GDS_TYPE_BF16)
            return false;
        return is_weight(s0->type) && s1->type == GDS_TYPE_F32 && s1->nb[0] == 4;
    case GDS_OP_ADD: case GDS_OP_MUL: case GDS_OP_DIV: case GDS_OP_SCALE: case GDS_OP_SQRT: case GDS_OP_SIGMOID:
    case GDS_OP_SOFTPLUS: case GDS_OP_SILU: case GDS_OP_SWIGLU: case GDS_OP_RMS_NORM: case GDS_OP_SUM_ROWS:
    case GDS_OP_SOFT_MAX: case GDS_OP_ROPE: case GDS_OP_HADAMARD: case GDS_OP_QUANT_SIM: case GDS_OP_TOP_K:
    case GDS_OP_HC_COMB: case GDS_OP_HC_PRE: case GDS_OP_HC_POST: case GDS_OP_COMPRESS: case GDS_OP_INDEXER: case GDS_OP_ATTN:
        return f32_rows(s0);
    default: return false;
    }
}

/* ---- graph compute ---------------------------------------------------------- */

typedef int (*cu_run_fn)(const struct gds_cu_node *, const struct gds_cu_exec *);
typedef size_t (*cu_work_fn)(const struct gds_cu_node *);

static const struct { cu_run_fn run; cu_work_fn work; } cu_ops[GDS_OP_COUNT] = {
    [GDS_OP_CPY] = { gds_cu_run_cpy, NULL },
    [GDS_OP_GET_ROWS] = { gds_cu_run_get_rows, NULL },
    [GDS_OP_SET_ROWS] = { gds_cu_run_set_rows, NULL },
    [GDS_OP_CONCAT] = { gds_cu_run_concat, NULL },
    [GDS_OP_ADD] = { gds_cu_run_add, NULL },
    [GDS_OP_MUL] = { gds_cu_run_mul, NULL },
    [GDS_OP_DIV] = { gds_cu_run_div, NULL },
    [GDS_OP_SCALE] = { gds_cu_run_scale, NULL },
    [GDS_OP_SQRT] = { gds_cu_run_sqrt, NULL },
    [GDS_OP_SIGMOID] = { gds_cu_run_sigmoid, NULL },
    [GDS_OP_SOFTPLUS] = { gds_cu_run_softplus, NULL },
    [GDS_OP_SILU] = { gds_cu_run_silu, NULL },
    [GDS_OP_SWIGLU] = { gds_cu_run_swiglu, NULL },
    [GDS_OP_RMS_NORM] = { gds_cu_run_rms_norm, NULL },
    [GDS_OP_SUM_ROWS] = { gds_cu_run_sum_rows, NULL },
    [GDS_OP_SOFT_MAX] = { gds_cu_run_soft_max, NULL },
    [GDS_OP_ROPE] = { gds_cu_run_rope, NULL },
    [GDS_OP_HADAMARD] = { gds_cu_run_hadamard, NULL },
    [GDS_OP_QUANT_SIM] = { gds_cu_run_quant_sim, NULL },
    [GDS_OP_TOP_K] = { gds_cu_run_top_k, gds_cu_work_top_k },
    [GDS_OP_MUL_MAT] = { gds_cu_run_mul_mat, gds_cu_work_mul_mat },
    [GDS_OP_MUL_MAT_ID] = { gds_cu_run_mul_mat_id, gds_cu_work_mul_mat_id },
    [GDS_OP_HC_COMB] = { gds_cu_run_hc_comb, NULL },
    [GDS_OP_HC_PRE] = { gds_cu_run_hc_pre, NULL },
    [GDS_OP_HC_POST] = { gds_cu_run_hc_post, NULL },
    [GDS_OP_COMPRESS] = { gds_cu_run_compress, NULL },
    [GDS_OP_INDEXER] = { gds_cu_run_indexer, NULL },
    [GDS_OP_ATTN] = { gds_cu_run_attn, NULL },
};

static void cu_desc(struct gds_cu_t *d, const struct gds_tensor *t) {
    memset(d, 0, sizeof *d);
    if (!t) return;
    d->data = t->data;
    d->type = (int32_t)t->type;
    for (int i = 0; i < 4; i++) {
        d->ne[i] = t->ne[i];
        d->nb[i] = (int64_t)t->nb[i];
    }
}

/* the scratch holds at least need bytes (waits for queued work before replacing it) */
static enum gds_status ensure_scratch(struct cuda_ctx *c, size_t need, const char *what) {
    if (need <= c->scratch_size) return GDS_OK;
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return cu_err(e, "before growing the scratch");
    if (c->scratch) cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_size = 0;
    const size_t sz = GDS_PAD(need + need / 4, 256);
    if ((e = cudaMalloc(&c->scratch, sz)) != cudaSuccess) {
        cudaGetLastError();
        return gds_error(GDS_ERR_NOMEM, "cuda: cannot allocate %zu bytes of scratch for %s", sz, what);
    }
    c->scratch_size = sz;
    return GDS_OK;
}

/* memmove on the device: one copy when the regions are apart, else through the scratch */
static enum gds_status cuda_memmove(struct gds_backend *b, void *dst, const void *src, size_t n) {
    struct cuda_ctx *c = b->ctx;
    cudaSetDevice(c->device);
    cudaError_t e;
    if ((const char *)dst + n <= (const char *)src || (const char *)src + n <= (const char *)dst) {
        e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, c->stream);
    } else {
        enum gds_status st = ensure_scratch(c, n, "memmove");
        if (st != GDS_OK) return st;
        e = cudaMemcpyAsync(c->scratch, src, n, cudaMemcpyDeviceToDevice, c->stream);
        if (e == cudaSuccess) e = cudaMemcpyAsync(dst, c->scratch, n, cudaMemcpyDeviceToDevice, c->stream);
    }
    return e == cudaSuccess ? GDS_OK : cu_err(e, "memmove");
}

static void node_desc(struct gds_cu_node *n, const struct gds_tensor *t) {
    memset(n, 0, sizeof *n);
    n->op = (int32_t)t->op;
    memcpy(n->params, t->op_params, sizeof n->params);
    cu_desc(&n->dst, t);
    for (int k = 0; k < GDS_MAX_SRC; k++) { /* absent sources in between stay zero (SOFT_MAX: no mask, sinks) */
        if (!t->src[k]) continue;
        cu_desc(&n->src[k], t->src[k]);
        n->n_src = k + 1;
    }
}

/* ---- fusion of QUANT_SIM BF16 into its producer (see the top) ------------------ */

static bool plain_f32(const struct gds_tensor *t) {
    return t->type == GDS_TYPE_F32 && t->nb[0] == 4 && t->nb[1] == 4 * (size_t)t->ne[0] && t->nb[2] == t->nb[1] * (size_t)t->ne[1] &&
           t->nb[3] == t->nb[2] * (size_t)t->ne[2];
}

static bool overlaps(const struct gds_tensor *a, const struct gds_tensor *b) {
    if (!a->data || !b->data) return false;
    const char *a0 = a->data, *a1 = a0 + gds_nbytes(a), *b0 = b->data, *b1 = b0 + gds_nbytes(b);
    return a0 < b1 && b0 < a1;
}

/* c->plan for g: plan[i] = j when node j (a QUANT_SIM BF16) runs inside node
 * i, plan[j] = -2 (not launched), else -1 */
static enum gds_status plan_fusions(struct cuda_ctx *c, struct gds_graph *g) {
    const int n = g->n_nodes;
    if (c->plan_cap < n) {
        int *p = realloc(c->plan, sizeof *p * (size_t)n);
        if (!p) return gds_error(GDS_ERR_NOMEM, "cuda: out of memory (fusion plan)");
        c->plan = p;
        c->plan_cap = n;
    }
    int *plan = c->plan;
    for (int i = 0; i < n; i++) plan[i] = -1;
    if (!c->fuse) return GDS_OK;
    for (int i = 0; i < n; i++) {
        struct gds_tensor *p = g->nodes[i];
        if (!gds_cu_fuses_bf16(p->op) || !plain_f32(p)) continue;
        int j = i + 1;
        while (j < n && (g->nodes[j]->op == GDS_OP_VIEW || g->nodes[j]->op == GDS_OP_NONE)) j++;
        if (j == n) continue;
        const struct gds_tensor *q = g->nodes[j];
        if (q->op != GDS_OP_QUANT_SIM || q->src[0] != p || q->op_params[GDS_P_SIM_MODE] != GDS_SIM_BF16) continue;
        const int32_t nd = q->op_params[GDS_P_SIM_NDIMS];
        if ((nd > 0 && nd < p->ne[0]) || q->view_src || !plain_f32(q) || memcmp(q->ne, p->ne, sizeof p->ne) != 0) continue;
        bool ov = !q->data || !p->data || overlaps(q, p);
        for (int k = 0; k < GDS_MAX_SRC && !ov; k++) {
            const struct gds_tensor *s = p->src[k];
            if (!s || !overlaps(q, s)) continue;
            /* safe overlaps (the allocator may give the QUANT_SIM the memory of
             * a source that dies at the producer): MUL_MAT / MUL_MAT_ID read x
             * into the scratch before writing (not F32 weights: mm_f32 reads x);
             * the elementwise-like kernels read each element before writing it
             * from the same thread (warp: HADAMARD; block, after its row sum:
             * RMS_NORM), so exact aliasing of one shape is safe (not CPY) */
            const bool mm = (p->op == GDS_OP_MUL_MAT || p->op == GDS_OP_MUL_MAT_ID) && k == 1 && p->src[0]->type != GDS_TYPE_F32;
            const bool same = p->op != GDS_OP_CPY && p->op != GDS_OP_MUL_MAT && p->op != GDS_OP_MUL_MAT_ID && s->data == q->data &&
                              plain_f32(s) && memcmp(s->ne, q->ne, sizeof s->ne) == 0;
            ov = !mm && !same;
        }
        if (ov) continue;
        plan[i] = j;
        plan[j] = -2;
        i = j; /* the QUANT_SIM is no producer */
    }
    return GDS_OK;
}

/* the launch of node i under the plan: false if it is not launched (a view, a fused QUANT_SIM) */
static bool node_launch(const struct cuda_ctx *c, struct gds_graph *g, int i, struct gds_cu_node *n) {
    const struct gds_tensor *t = g->nodes[i];
    if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW || c->plan[i] == -2) return false;
    node_desc(n, t);
    if (c->plan[i] >= 0) n->dst_bf16 = g->nodes[c->plan[i]]->data; /* the QUANT_SIM's output */
    return true;
}

/* ---- profile (GDS_PROF=1) ------------------------------------------------------ */

enum { PROF_MAX = 256, PROF_GMAX = 16 };
struct prof_ent { char key[96]; double ms; long calls, launches; };
static struct prof_ent prof_tab[PROF_MAX];
static int prof_n = -1; /* -1: not decided, -2: off */
struct prof_gent { int nodes; long launches, graphs; };
static struct prof_gent prof_g[PROF_GMAX]; /* graphs by (nodes, launches) */
static int prof_ng;
static long prof_graphs, prof_unknown; /* nodes whose launches could not be counted */

static int prof_cmp(const void *a, const void *b) {
    const double x = ((const struct prof_ent *)a)->ms, y = ((const struct prof_ent *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_report(void) {
    if (prof_n <= 0) return;
    qsort(prof_tab, (size_t)prof_n, sizeof prof_tab[0], prof_cmp);
    double tot = 0;
    long launches = 0;
    for (int i = 0; i < prof_n; i++) { tot += prof_tab[i].ms; launches += prof_tab[i].launches; }
    fprintf(stderr, "\nGDS_PROF cuda: %ld graphs, %.3f ms GPU time in nodes (cudaEvents), %ld kernel launches (%.1f per graph)%s\n",
            prof_graphs, tot, launches, prof_graphs ? (double)launches / (double)prof_graphs : 0.0,
            prof_unknown ? " (some nodes not counted)" : "");
    for (int i = 0; i < prof_ng; i++)
        fprintf(stderr, "  graphs of %d nodes: %ld launches each, %ld graphs\n", prof_g[i].nodes, prof_g[i].launches, prof_g[i].graphs);
    fprintf(stderr, "%8s %7s %9s %10s %8s  %s\n", "ms", "%", "calls", "us/call", "launches", "node");
    for (int i = 0; i < prof_n; i++)
        fprintf(stderr, "%8.1f %6.1f%% %9ld %10.1f %8.1f  %s\n", prof_tab[i].ms, tot > 0 ? 100 * prof_tab[i].ms / tot : 0,
                prof_tab[i].calls, 1e3 * prof_tab[i].ms / (double)prof_tab[i].calls,
                (double)prof_tab[i].launches / (double)prof_tab[i].calls, prof_tab[i].key);
}

static bool prof_on(void) {
    if (prof_n == -1) {
        prof_n = gds_prof_enabled() ? 0 : -2;
        if (prof_n == 0) atexit(prof_report);
    }
    return prof_n >= 0;
}

/* the CPU backend's keys (cpu-backend.c prof_add) */
static void prof_add(const struct gds_tensor *t, double ms, long launches) {
    char key[96];
    gds_prof_key(t, key, sizeof key);
    int i = 0;
    while (i < prof_n && strcmp(prof_tab[i].key, key) != 0) i++;
    if (i == prof_n) {
        if (prof_n == PROF_MAX) i = PROF_MAX - 1;
        else { prof_n++; snprintf(prof_tab[i].key, sizeof prof_tab[i].key, "%s", key); }
    }
    prof_tab[i].ms += ms;
    prof_tab[i].calls++;
    prof_tab[i].launches += launches;
}

static void prof_graph(int nodes, long launches) {
    prof_graphs++;
    int i = 0;
    while (i < prof_ng && !(prof_g[i].nodes == nodes && prof_g[i].launches == launches)) i++;
    if (i == prof_ng) {
        if (prof_ng == PROF_GMAX) return;
        prof_g[prof_ng++] = (struct prof_gent){ .nodes = nodes, .launches = launches, .graphs = 0 };
    }
    prof_g[i].graphs++;
}

/* launches (graph nodes) that one call of n's launcher makes: captured, not run; -1 if capture fails */
static long prof_count(struct cuda_ctx *c, const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) { cudaGetLastError(); return -1; }
    const int rc = cu_ops[n->op].run(n, x);
    cudaGraph_t graph = NULL;
    const cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    size_t cnt = 0;
    const bool ok = rc == 0 && e == cudaSuccess && graph && cudaGraphGetNodes(graph, NULL, &cnt) == cudaSuccess;
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    return ok ? (long)cnt : -1;
}

/* runs g node by node between events, then adds to the table (synchronizes) */
static enum gds_status prof_run(struct cuda_ctx *c, struct gds_graph *g) {
    if (c->n_ev < 2 * g->n_nodes) {
        cudaEvent_t *ev = realloc(c->ev, sizeof *ev * (size_t)(2 * g->n_nodes));
        if (!ev) return gds_error(GDS_ERR_NOMEM, "cuda: out of memory (profile events)");
        c->ev = ev;
        for (; c->n_ev < 2 * g->n_nodes; c->n_ev++) {
            const cudaError_t e = cudaEventCreate(&c->ev[c->n_ev]);
            if (e != cudaSuccess) return cu_err(e, "cudaEventCreate (profile)");
        }
    }
    long *cnt = malloc(sizeof *cnt * (size_t)(g->n_nodes > 0 ? g->n_nodes : 1));
    if (!cnt) return gds_error(GDS_ERR_NOMEM, "cuda: out of memory (profile)");
    struct gds_cu_exec x = { .stream = c->stream, .scratch = c->scratch, .scratch_size = c->scratch_size, .n_sm = c->n_sm, .cc = c->cc };
    struct gds_cu_node n;
    enum gds_status st = GDS_OK;
    for (int i = 0; i < g->n_nodes && st == GDS_OK; i++) {
        const struct gds_tensor *t = g->nodes[i];
        cnt[i] = 0;
        if (!node_launch(c, g, i, &n)) continue;
        cnt[i] = prof_count(c, &n, &x);
        cudaEventRecord(c->ev[2 * i], c->stream);
        const int rc = cu_ops[t->op].run(&n, &x);
        cudaEventRecord(c->ev[2 * i + 1], c->stream);
        if (rc != 0) {
            char what[256];
            snprintf(what, sizeof what, "launching %s (node '%s')", gds_op_name(t->op), t->name);
            st = cu_err((cudaError_t)rc, what);
        }
    }
    const cudaError_t e = cudaStreamSynchronize(c->stream);
    if (st == GDS_OK && e != cudaSuccess) st = cu_err(e, "running the graph");
    if (st == GDS_OK) {
        long total = 0;
        for (int i = 0; i < g->n_nodes; i++) {
            const struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW || c->plan[i] == -2) continue;
            float ms = 0;
            if (cudaEventElapsedTime(&ms, c->ev[2 * i], c->ev[2 * i + 1]) != cudaSuccess) { cudaGetLastError(); ms = 0; }
            if (cnt[i] < 0) prof_unknown++;
            prof_add(t, ms, cnt[i] > 0 ? cnt[i] : 0);
            total += cnt[i] > 0 ? cnt[i] : 0;
        }
        prof_graph(g->n_nodes, total);
    }
    free(cnt);
    return st;
}

/* enqueues every node's kernels (the scratch already holds what they need) */
static enum gds_status launch_nodes(struct cuda_ctx *c, struct gds_graph *g) {
    struct gds_cu_exec x = { .stream = c->stream, .scratch = c->scratch, .scratch_size = c->scratch_size, .n_sm = c->n_sm, .cc = c->cc };
    struct gds_cu_node n;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (!node_launch(c, g, i, &n)) continue;
        const int rc = cu_ops[t->op].run(&n, &x);
        if (rc != 0) {
            char what[256];
            snprintf(what, sizeof what, "launching %s (node '%s')", gds_op_name(t->op), t->name);
            return cu_err((cudaError_t)rc, what);
        }
    }
    return GDS_OK;
}

/* replays g's launches as a cached executable graph; false when capture is
 * not possible here (then c->graphs goes off and the caller launches directly) */
static bool run_as_graph(struct cuda_ctx *c, struct gds_graph *g, uint64_t key, enum gds_status *st) {
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) { cudaGetLastError(); return false; }
    *st = launch_nodes(c, g);
    cudaGraph_t graph = NULL;
    e = cudaStreamEndCapture(c->stream, &graph);
    if (*st != GDS_OK) { if (graph) cudaGraphDestroy(graph); cudaGetLastError(); return true; }
    if (e != cudaSuccess || !graph) { cudaGetLastError(); return false; }
    int slot = -1;
    for (int i = 0; i < N_EXEC; i++)
        if (c->exec[i] && c->key[i] == key) slot = i;
    if (slot >= 0) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(c->exec[slot], graph, &info) != cudaSuccess) {
            cudaGetLastError();
            cudaGraphExecDestroy(c->exec[slot]);
            c->exec[slot] = NULL;
        }
    } else {
        slot = c->next;
        c->next = (c->next + 1) % N_EXEC;
        if (c->exec[slot]) cudaGraphExecDestroy(c->exec[slot]);
        c->exec[slot] = NULL;
    }
    if (!c->exec[slot]) {
        if ((e = cudaGraphInstantiate(&c->exec[slot], graph, 0)) != cudaSuccess) {
            cudaGetLastError();
            c->exec[slot] = NULL;
            cudaGraphDestroy(graph);
            return false;
        }
        c->key[slot] = key;
    }
    e = cudaGraphLaunch(c->exec[slot], c->stream);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) *st = cu_err(e, "cudaGraphLaunch");
    return true;
}

static enum gds_status cuda_graph_compute(struct gds_backend *b, struct gds_graph *g) {
    struct cuda_ctx *c = b->ctx;
    cudaSetDevice(c->device);
    /* scratch for the largest need first (no allocation while capturing) and the graph's key */
    size_t need = 0;
    uint64_t key = 0xcbf29ce484222325ull;
    struct gds_cu_node n;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW) continue;
        if (!cu_ops[t->op].run) return gds_error(GDS_ERR_UNSUPPORTED, "cuda: no kernel for %s (node '%s')", gds_op_name(t->op), t->name);
        if (cu_ops[t->op].work) {
            node_desc(&n, t);
            const size_t w = cu_ops[t->op].work(&n);
            need = w > need ? w : need;
        }
        key = (key ^ (uint64_t)t->op) * 0x100000001b3ull;
        for (int d = 0; d < 4; d++) key = (key ^ (uint64_t)t->ne[d]) * 0x100000001b3ull;
    }
    enum gds_status st = ensure_scratch(c, need, "the graph");
    if (st == GDS_OK) st = plan_fusions(c, g);
    if (st != GDS_OK) return st;
    for (int i = 0; i < g->n_nodes; i++) /* the same shapes can fuse differently (aliasing) */
        if (c->plan[i] != -1) key = (key ^ (uint64_t)(i + 1) * (c->plan[i] >= 0 ? 3u : 5u)) * 0x100000001b3ull;
    if (prof_on()) return prof_run(c, g);
    if (!(c->graphs && run_as_graph(c, g, key, &st))) {
        if (c->graphs) {
            gds_log(GDS_LOG_WARN, "cuda: graph capture failed, launching kernels directly from now on\n");
            c->graphs = false;
        }
        st = launch_nodes(c, g);
    }
    if (st != GDS_OK) return st;
    const cudaError_t e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? GDS_OK : cu_err(e, "running the graph");
}

static enum gds_status cuda_synchronize(struct gds_backend *b) {
    struct cuda_ctx *c = b->ctx;
    const cudaError_t e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? GDS_OK : cu_err(e, "synchronize");
}

const struct gds_backend_i gds_backend_cuda_i = {
    .name = "cuda",
    .init = cuda_init,
    .free = cuda_free,
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .buffer_from_host_ptr = NULL,
    .tensor_set = cuda_tensor_set,
    .tensor_get = cuda_tensor_get,
    .supports_op = cuda_supports_op,
    .graph_compute = cuda_graph_compute,
    .synchronize = cuda_synchronize,
    .memmove = cuda_memmove,
    .alignment = 256,
    .max_size = 0,
    .is_cpu = false,
};
