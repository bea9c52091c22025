/*
 * cpu-backend.c - the CPU backend: vtable, OpenMP executor, kernel tables and
 * run-time SIMD selection.
 *
 * One OpenMP parallel region per graph; every thread walks all nodes, calls
 * the kernel with (ith, nth) and meets the others at a barrier after each node.
 * Kernels are written so that results do not depend on nth (cpu.h).
 * Thread counts are capped at CPU_MAX_THREADS (with a warning): more threads
 * only wait at the per-node barriers, and near 100,000 the OpenMP runtime
 * overflows its stack.
 * The SIMD level defaults to the best the CPU supports among those compiled
 * in; GDS_CPU_SIMD=scalar|avx2|avx512|neon overrides it (a diagnostics switch:
 * every level computes the same op semantics).
 */
#include "cpu.h"

#include <stdlib.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

const gds_cpu_kernel_fn gds_cpu_kernels[GDS_OP_COUNT] = {
    [GDS_OP_CPY] = gds_cpu_op_cpy,
    [GDS_OP_GET_ROWS] = gds_cpu_op_get_rows,
    [GDS_OP_SET_ROWS] = gds_cpu_op_set_rows,
    [GDS_OP_CONCAT] = gds_cpu_op_concat,
    [GDS_OP_ADD] = gds_cpu_op_add,
    [GDS_OP_MUL] = gds_cpu_op_mul,
    [GDS_OP_DIV] = gds_cpu_op_div,
    [GDS_OP_SCALE] = gds_cpu_op_scale,
    [GDS_OP_SQRT] = gds_cpu_op_sqrt,
    [GDS_OP_SIGMOID] = gds_cpu_op_sigmoid,
    [GDS_OP_SOFTPLUS] = gds_cpu_op_softplus,
    [GDS_OP_SILU] = gds_cpu_op_silu,
    [GDS_OP_SWIGLU] = gds_cpu_op_swiglu,
    [GDS_OP_RMS_NORM] = gds_cpu_op_rms_norm,
    [GDS_OP_SUM_ROWS] = gds_cpu_op_sum_rows,
    [GDS_OP_SOFT_MAX] = gds_cpu_op_soft_max,
    [GDS_OP_ROPE] = gds_cpu_op_rope,
    [GDS_OP_HADAMARD] = gds_cpu_op_hadamard,
    [GDS_OP_QUANT_SIM] = gds_cpu_op_quant_sim,
    [GDS_OP_TOP_K] = gds_cpu_op_top_k,
    [GDS_OP_MUL_MAT] = gds_cpu_op_mul_mat,
    [GDS_OP_MUL_MAT_ID] = gds_cpu_op_mul_mat_id,
    [GDS_OP_HC_COMB] = gds_cpu_op_hc_comb,
    [GDS_OP_HC_PRE] = gds_cpu_op_hc_pre,
    [GDS_OP_HC_POST] = gds_cpu_op_hc_post,
    [GDS_OP_COMPRESS] = gds_cpu_op_compress,
    [GDS_OP_INDEXER] = gds_cpu_op_indexer,
    [GDS_OP_ATTN] = gds_cpu_op_attn,
};

const gds_cpu_work_fn gds_cpu_work_size[GDS_OP_COUNT] = {
    [GDS_OP_MUL_MAT] = gds_cpu_work_mul_mat,
    [GDS_OP_MUL_MAT_ID] = gds_cpu_work_mul_mat_id,
    [GDS_OP_TOP_K] = gds_cpu_work_top_k,
    [GDS_OP_ATTN] = gds_cpu_work_attn,
    [GDS_OP_INDEXER] = gds_cpu_work_indexer,
    [GDS_OP_HC_COMB] = gds_cpu_work_hc_comb,
};

void gds_cpu_barrier(const struct gds_cpu_params *p) {
    if (p->nth > 1) {
#ifdef _OPENMP
#pragma omp barrier
#endif
    }
}

/* ===========================================================================
 * SIMD detection
 * ========================================================================= */

const char *gds_cpu_simd_name(enum gds_cpu_simd s) {
    static const char *const names[GDS_SIMD_COUNT] = { "scalar", "avx2", "avx512", "neon" };
    return (unsigned)s < GDS_SIMD_COUNT ? names[s] : "?";
}

bool gds_cpu_simd_available(enum gds_cpu_simd s) {
    switch (s) {
    case GDS_SIMD_SCALAR: return true;
#if defined(__x86_64__)
    case GDS_SIMD_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
               __builtin_cpu_supports("bmi2");
    case GDS_SIMD_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
#endif
#if defined(__aarch64__)
    case GDS_SIMD_NEON:
#if defined(__linux__)
        /* dotprod (ASIMDDP, bit 20) and half-precision arithmetic (ASIMDHP, bit 10) */
        return (getauxval(AT_HWCAP) & (1ul << 20)) && (getauxval(AT_HWCAP) & (1ul << 10));
#else
        return true;
#endif
#endif
    default: return false;
    }
}

enum gds_cpu_simd gds_cpu_simd_best(void) {
    static const enum gds_cpu_simd order[] = { GDS_SIMD_AVX512, GDS_SIMD_AVX2, GDS_SIMD_NEON };
    const char *env = getenv("GDS_CPU_SIMD");
    if (env) {
        for (int s = 0; s < GDS_SIMD_COUNT; s++)
            if (strcmp(env, gds_cpu_simd_name((enum gds_cpu_simd)s)) == 0 && gds_cpu_simd_available((enum gds_cpu_simd)s))
                return (enum gds_cpu_simd)s;
        gds_log(GDS_LOG_WARN, "gds: GDS_CPU_SIMD=%s is not available here, using the best level\n", env);
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (gds_cpu_simd_available(order[i])) return order[i];
    return GDS_SIMD_SCALAR;
}

/* ===========================================================================
 * Backend
 * ========================================================================= */

enum { CPU_MAX_THREADS = 256 };

/* n within [1, CPU_MAX_THREADS]; what names the source for the warning */
static int cap_threads(long n, const char *what) {
    if (n > CPU_MAX_THREADS) {
        gds_log(GDS_LOG_WARN, "cpu backend: %s asks for %ld threads; using %d (the most it runs)\n", what, n, CPU_MAX_THREADS);
        return CPU_MAX_THREADS;
    }
    return n < 1 ? 1 : (int)n;
}

struct cpu_ctx {
    int n_threads;
    enum gds_cpu_simd simd;
    void *work;
    size_t work_size;
};

static enum gds_status cpu_init(struct gds_backend *b, int device) {
    (void)device;
    struct cpu_ctx *c = calloc(1, sizeof(*c));
    if (!c) return gds_error(GDS_ERR_NOMEM, "cpu backend: out of memory");
#ifdef _OPENMP
    c->n_threads = cap_threads(omp_get_num_procs(), "the core count");
#else
    c->n_threads = 1;
#endif
    const char *env = getenv("GDS_THREADS");
    if (env && *env) {
        char *end;
        const long n = strtol(env, &end, 10);
        if (*end || n < 1) gds_log(GDS_LOG_WARN, "cpu backend: GDS_THREADS='%s' is not a positive integer; ignored\n", env);
        else c->n_threads = cap_threads(n, "GDS_THREADS");
    }
    c->simd = gds_cpu_simd_best();
    b->ctx = c;
    return GDS_OK;
}

static void cpu_free(struct gds_backend *b) {
    struct cpu_ctx *c = b->ctx;
    free(c->work);
    free(c);
}

void gds_backend_cpu_set_n_threads(struct gds_backend *b, int n) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i && n > 0);
    ((struct cpu_ctx *)b->ctx)->n_threads = cap_threads(n, "gds_backend_cpu_set_n_threads");
}

void gds_backend_cpu_set_simd(struct gds_backend *b, enum gds_cpu_simd s) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i && gds_cpu_simd_available(s));
    ((struct cpu_ctx *)b->ctx)->simd = s;
}

static bool cpu_supports_op(struct gds_backend *b, const struct gds_tensor *t) {
    struct cpu_ctx *c = b->ctx;
    if (!gds_cpu_kernels[t->op]) return false;
    if (t->op == GDS_OP_MUL_MAT) return gds_cpu_type_traits_mm(t->src[0]->type, c->simd, t->op_params[0]) != NULL;
    if (t->op == GDS_OP_MUL_MAT_ID) return gds_cpu_type_traits(t->src[0]->type, c->simd) != NULL;
    return true;
}

static enum gds_status cpu_graph_compute(struct gds_backend *b, struct gds_graph *g) {
    struct cpu_ctx *c = b->ctx;
    int nth = c->n_threads;
    size_t wsize = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (gds_cpu_work_size[t->op]) {
            size_t w = gds_cpu_work_size[t->op](t, nth);
            if (w > wsize) wsize = w;
        }
    }
    if (wsize > c->work_size) {
        free(c->work);
        c->work = aligned_alloc(64, GDS_PAD(wsize, 64));
        if (!c->work) {
            c->work_size = 0;
            return gds_error(GDS_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes of scratch", wsize);
        }
        c->work_size = wsize;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (t->op != GDS_OP_NONE && t->op != GDS_OP_VIEW && !gds_cpu_kernels[t->op])
            return gds_error(GDS_ERR_UNSUPPORTED, "cpu backend: no kernel for %s", gds_op_name(t->op));
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
    {
        struct gds_cpu_params p = { .ith = 0, .nth = 1, .wdata = c->work, .wsize = c->work_size, .simd = c->simd };
#ifdef _OPENMP
        p.ith = omp_get_thread_num();
        p.nth = omp_get_num_threads();
#endif
        for (int i = 0; i < g->n_nodes; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW) continue;
            gds_cpu_kernels[t->op](&p, t);
            gds_cpu_barrier(&p);
        }
    }
    return GDS_OK;
}

const struct gds_backend_i gds_backend_cpu_i = {
    .name = "cpu",
    .init = cpu_init,
    .free = cpu_free,
    .buffer_alloc = gds_host_buffer_alloc,
    .buffer_free = gds_host_buffer_free,
    .buffer_from_host_ptr = gds_host_buffer_from_ptr,
    .tensor_set = gds_host_tensor_set,
    .tensor_get = gds_host_tensor_get,
    .supports_op = cpu_supports_op,
    .graph_compute = cpu_graph_compute,
    .synchronize = NULL,
    .alignment = 64,
    .max_size = 0,
    .is_cpu = true,
};
