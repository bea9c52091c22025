/*
 * cpu-backend.c - the CPU backend: vtable, OpenMP executor, kernel tables and
 * run-time SIMD selection.
 *
 * One OpenMP parallel region per graph; every thread walks all nodes, calls
 * the kernel with (ith, nth) and meets the others at a barrier after each node
 * (our own spin-then-sleep barrier, below, not libgomp's).
 * Kernels are written so that results do not depend on nth (cpu.h).
 * The default thread count is the number of physical cores in the affinity
 * mask (hyper-threads not counted); GDS_THREADS overrides it.
 * Thread counts are capped at CPU_MAX_THREADS (with a warning): more threads
 * only wait at the per-node barriers, and near 100,000 the OpenMP runtime
 * overflows its stack.
 * The SIMD level defaults to the best the CPU supports among those compiled
 * in; GDS_CPU_SIMD=scalar|avx2|avx512|neon overrides it (a diagnostics switch:
 * every level computes the same op semantics).
 */
#include "cpu.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__) && !defined(GDS_CPU_NO_FUTEX)
#define CPU_FUTEX 1
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#include <pthread.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#include <pthread.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
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

/* ===========================================================================
 * Barrier: spin briefly, then sleep
 *
 * Why not `#pragma omp barrier`: libgomp's barrier spins (GOMP_SPINCOUNT,
 * 300,000 polls by default) before it sleeps, and it lowers that only when it
 * itself oversubscribes the CPUs. With another CPU-bound process on every core,
 * a thread that arrives first spins through its whole time slice while the
 * thread it waits for is descheduled: on the 2-core EPYC box `gds-run -t 2`
 * decoded 1.0 t/s where `-t 1` gave 289 t/s (issue 9, point 5).
 *
 * This barrier is generation-based: a thread reads the generation, arrives
 * (fetch_add, acq_rel: releases its writes of the node), and the last to
 * arrive resets the count and bumps the generation (release). The others poll
 * the generation for CPU_BARRIER_SPIN iterations of a pause instruction
 * (~0.5 ms at 28 ns per pause on Zen 3), then sleep on it
 * (Linux futex on the generation word; a mutex and condition variable
 * elsewhere). Leaving is an acquire load of the new generation, so every write
 * before the barrier in any thread is visible after it in every thread: the
 * same ordering as an OpenMP barrier, so results stay bit-identical.
 * The sleeper count lets the last thread skip the wake syscall when nobody
 * sleeps; the seq_cst increment/load pairs (sleeper: count++, load gen; waker:
 * store gen, load count) guarantee that either the waker sees the sleeper or
 * the sleeper sees the new generation (and the futex rechecks it in the kernel).
 *
 * Why spin that long: sleeping is expensive on a busy machine. A woken thread
 * whose core runs another process waits up to a scheduler slice (Linux 6.18,
 * EEVDF) before it runs again, and that happens at every node. tiny-a, 64
 * tokens, -t 2, two busy loops on the 2 cores, median of 5: spinning 1024
 * polls before sleeping gave 13 t/s, 4096 gave 4.8, 16384 gave 234, 65536
 * 252, 262144 140 (libgomp's barrier: 39 and 105 in the same rounds).
 * Alone, 16384 is as fast as libgomp's barrier or faster. With more threads
 * than CPUs (-t above the core count) a waiting thread holds the CPU that the
 * awaited thread needs, so the barrier then sleeps at once (tiny-a -t 4
 * alone: 86 t/s; spinning 16384 polls: 1.8; libgomp: 81).
 *
 * Measured on the 2-core AMD EPYC (Zen 3) box, shared with other work (so
 * +-30 %), decode t/s, median of 3, alone / with two `while :; do :; done`:
 *
 *   file                                    threads  libgomp barrier  this barrier
 *   tiny-a, 64 tokens                       default  403 / 176        657 / 208
 *                                           -t 1     367 / 322        488 / 457
 *                                           -t 2     398 / 84 (*)     460 / 292
 *   flash:layers=2,experts=16,hidden=1024   default  29.2 / 10.5      32.3 / 17.1
 *   (775 MiB), 16 tokens                    -t 1     18.0 / 15.4      19.9 / 13.7
 *                                           -t 2     30.9 / 10.2      37.2 / 15.2
 *
 * (*) one of the three runs did not finish 64 tokens in 120 s. A second round
 * of tiny-a at the default (2 threads), median of 5: libgomp 323 / 99 (3.3x
 * slower when busy), this barrier 412 / 238 (1.7x). -t 1 never meets a
 * barrier: its spread shows the noise of the shared machine.
 * ========================================================================= */

enum { CPU_BARRIER_SPIN = 16384 };

/* Two-level arrival (GDS_CPU_BARRIER_GROUP=G, G >= 2, with at least 2G
 * threads): threads arrive on their group's counter (ith / G), the last of a
 * group on the top counter, whose last bumps the generation; fewer threads
 * meet on each cache line than the nth of the flat counter (each fetch_add
 * moves the line between cores). The same release/acquire chain: a thread's
 * group arrival releases its writes, the group's last acquires them and
 * releases them with its top arrival, the last of all acquires those and
 * releases them with the generation. Default 0: the flat counter (not yet
 * measured against it on a many-core CPU). */
enum { CPU_BARRIER_GROUPS = 64 };

struct gds_cpu_barrier {
    _Alignas(64) atomic_int n_arrived;
    _Alignas(64) atomic_uint gen;   /* generation; the futex word */
    atomic_int n_sleepers;
    int spin;                       /* polls before sleeping */
    int group;                      /* threads per arrival group (0: flat) */
#ifndef CPU_FUTEX
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
    struct { _Alignas(64) atomic_int n; } grp[CPU_BARRIER_GROUPS];
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void barrier_init(struct gds_cpu_barrier *b, int spin, int group) {
    b->spin = spin;
    b->group = group;
    for (int i = 0; i < CPU_BARRIER_GROUPS; i++) atomic_init(&b->grp[i].n, 0);
    atomic_init(&b->n_arrived, 0);
    atomic_init(&b->gen, 0);
    atomic_init(&b->n_sleepers, 0);
#ifndef CPU_FUTEX
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
#endif
}

static void barrier_destroy(struct gds_cpu_barrier *b) {
#ifndef CPU_FUTEX
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
#else
    (void)b;
#endif
}

/* sleep while the generation is still g (may return early: callers loop) */
static void barrier_sleep(struct gds_cpu_barrier *b, unsigned g) {
#ifdef CPU_FUTEX
    syscall(SYS_futex, (unsigned *)&b->gen, FUTEX_WAIT_PRIVATE, g, NULL, NULL, 0);
#else
    pthread_mutex_lock(&b->mu);
    while (atomic_load_explicit(&b->gen, memory_order_seq_cst) == g) pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
#endif
}

static void barrier_wake(struct gds_cpu_barrier *b) {
#ifdef CPU_FUTEX
    syscall(SYS_futex, (unsigned *)&b->gen, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    pthread_mutex_lock(&b->mu);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
#endif
}

void gds_cpu_barrier(const struct gds_cpu_params *p) {
    if (p->nth <= 1) return;
    struct gds_cpu_barrier *b = p->barrier;
    /* the generation cannot move before this thread arrives */
    const unsigned g = atomic_load_explicit(&b->gen, memory_order_relaxed);
    int top = p->nth; /* arrivals the top counter waits for */
    bool arrive = true;
    if (b->group) {
        const int G = b->group, gi = p->ith / G, gs = p->nth - gi * G < G ? p->nth - gi * G : G;
        top = (p->nth + G - 1) / G;
        if (atomic_fetch_add_explicit(&b->grp[gi].n, 1, memory_order_acq_rel) == gs - 1)
            atomic_store_explicit(&b->grp[gi].n, 0, memory_order_relaxed); /* before the top arrival releases */
        else
            arrive = false;
    }
    if (arrive && atomic_fetch_add_explicit(&b->n_arrived, 1, memory_order_acq_rel) == top - 1) {
        atomic_store_explicit(&b->n_arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&b->gen, g + 1, memory_order_seq_cst);
        if (atomic_load_explicit(&b->n_sleepers, memory_order_seq_cst) > 0) barrier_wake(b);
        return;
    }
    for (int i = 0; i < b->spin; i++) {
        if (atomic_load_explicit(&b->gen, memory_order_acquire) != g) return;
        cpu_relax();
    }
    atomic_fetch_add_explicit(&b->n_sleepers, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&b->gen, memory_order_seq_cst) == g) barrier_sleep(b, g);
    atomic_fetch_sub_explicit(&b->n_sleepers, 1, memory_order_relaxed);
}

/* ===========================================================================
 * Profile (GDS_PROF=1): thread 0 times every node from the end of the
 * previous node's barrier to the end of its own (so a node's time includes
 * its threads' imbalance), summed per key (op, and for MUL_MAT/MUL_MAT_ID the
 * weight's name without its "blk.N." prefix, its type and whether it is a
 * mat-vec); a table sorted by time goes to stderr at exit. Off, it costs one
 * branch per node.
 * ========================================================================= */

enum { PROF_MAX = 256 };
struct prof_ent { char key[96]; double sec, bytes; long calls; };
static struct prof_ent prof_tab[PROF_MAX];
static int prof_n = -1; /* -1: not decided, 0: off or empty */
static double prof_graph_sec;
static long prof_graphs, prof_barriers, prof_graphs1, prof_barriers1; /* ...1: one-token graphs */

static double prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int prof_cmp(const void *a, const void *b) {
    const double x = ((const struct prof_ent *)a)->sec, y = ((const struct prof_ent *)b)->sec;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_report(void) {
    if (prof_n <= 0) return;
    qsort(prof_tab, (size_t)prof_n, sizeof prof_tab[0], prof_cmp);
    double tot = 0;
    for (int i = 0; i < prof_n; i++) tot += prof_tab[i].sec;
    fprintf(stderr, "\nGDS_PROF: %ld graphs, %.3f s in graph_compute, %.3f s in nodes; barriers %.1f per graph",
            prof_graphs, prof_graph_sec, tot, prof_graphs ? (double)prof_barriers / (double)prof_graphs : 0.0);
    if (prof_graphs1) fprintf(stderr, ", %.1f per one-token graph", (double)prof_barriers1 / (double)prof_graphs1);
    fprintf(stderr, "\n%8s %7s %9s %10s %7s  %s\n", "ms", "%", "calls", "us/call", "GB/s", "node");
    for (int i = 0; i < prof_n; i++) {
        char gbs[16] = "";
        if (prof_tab[i].bytes > 0 && prof_tab[i].sec > 0) snprintf(gbs, sizeof gbs, "%.1f", 1e-9 * prof_tab[i].bytes / prof_tab[i].sec);
        fprintf(stderr, "%8.1f %6.1f%% %9ld %10.1f %7s  %s\n", 1e3 * prof_tab[i].sec, tot > 0 ? 100 * prof_tab[i].sec / tot : 0,
                prof_tab[i].calls, 1e6 * prof_tab[i].sec / (double)prof_tab[i].calls, gbs, prof_tab[i].key);
    }
}

static bool prof_on(void) {
    if (prof_n < 0) {
        prof_n = gds_prof_enabled() ? 0 : -2;
        if (prof_n == 0) atexit(prof_report);
    }
    return prof_n >= 0;
}

/* weight bytes a MUL_MAT / MUL_MAT_ID reads (the GB/s column): the whole
 * matrix; of an expert tensor only the experts its ids name (counted exactly
 * for one token, whose ids are distinct; for more tokens at most all) */
static double prof_bytes(const struct gds_tensor *t) {
    if (t->op == GDS_OP_MUL_MAT) return (double)gds_nbytes(t->src[0]);
    if (t->op != GDS_OP_MUL_MAT_ID) return 0;
    const struct gds_tensor *w = t->src[0], *ids = t->src[2];
    const int64_t n_ids = ids ? ids->ne[0] * ids->ne[1] : w->ne[2];
    return (double)gds_nbytes(w) / (double)w->ne[2] * (double)(n_ids < w->ne[2] ? n_ids : w->ne[2]);
}

static void prof_add(const struct gds_tensor *t, double sec) {
    char key[96];
    gds_prof_key(t, key, sizeof key);
    int i = 0;
    while (i < prof_n && strcmp(prof_tab[i].key, key) != 0) i++;
    if (i == prof_n) {
        if (prof_n == PROF_MAX) i = PROF_MAX - 1;
        else { prof_n++; snprintf(prof_tab[i].key, sizeof prof_tab[i].key, "%s", key); }
    }
    prof_tab[i].sec += sec;
    prof_tab[i].bytes += prof_bytes(t);
    prof_tab[i].calls++;
}

/* ===========================================================================
 * SIMD detection
 * ========================================================================= */

#if defined(__x86_64__)
/* AMX tiles (AMX-TILE, -INT8, -BF16 in CPUID.(7,0):EDX bits 24, 25, 22) need the
 * kernel's permission for the XTILEDATA state (Linux >= 5.16), asked once per
 * process with arch_prctl(ARCH_REQ_XCOMP_PERM); it then holds for every thread. */
static int amx_state = -1; /* -1 unknown, 0 no, 1 yes */
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static void amx_probe(void) {
    unsigned a, b, c, d;
    amx_state = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    if (!((d >> 24) & 1) || !((d >> 25) & 1) || !((d >> 22) & 1)) return;
#if defined(__linux__)
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0) {
        gds_log(GDS_LOG_WARN, "gds: the CPU has AMX but the kernel refused the tile state (arch_prctl): AMX off\n");
        return;
    }
    amx_state = 1;
#endif
}
static bool amx_enable(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_state == 1;
}
#endif

const char *gds_cpu_simd_name(enum gds_cpu_simd s) {
    static const char *const names[GDS_SIMD_COUNT] = { "scalar", "avx2", "avx512", "neon", "amx" };
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
    case GDS_SIMD_AMX: return gds_cpu_simd_available(GDS_SIMD_AVX512) && amx_enable();
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
    static const enum gds_cpu_simd order[] = { GDS_SIMD_AMX, GDS_SIMD_AVX512, GDS_SIMD_AVX2, GDS_SIMD_NEON };
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
enum { CPU_SERIAL_BYTES = 32768 }; /* default node_serial limit (below) */

/* n within [1, CPU_MAX_THREADS]; what names the source for the warning */
/* Physical cores among the CPUs this process may run on: unique (package id,
 * core id) pairs of /sys/devices/system/cpu/cpuN/topology for N in the
 * affinity mask. Hyper-threads of one core share its execution units, so a
 * second thread per core mostly adds barrier waiting. 0 when unknown. */
static int cpu_physical_cores(void) {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    long long seen[CPU_SETSIZE]; /* 8 KiB */
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        long id[2];
        static const char *const what[2] = { "physical_package_id", "core_id" };
        for (int k = 0; k < 2; k++) {
            char path[96];
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, what[k]);
            FILE *f = fopen(path, "r");
            if (!f) return 0;
            const int ok = fscanf(f, "%ld", &id[k]) == 1;
            fclose(f);
            if (!ok) return 0;
        }
        const long long key = ((long long)id[0] << 32) ^ (long long)(id[1] & 0xffffffff);
        int j = 0;
        while (j < n && seen[j] != key) j++;
        if (j == n) seen[n++] = key;
    }
    return n;
#else
    return 0;
#endif
}

static int cap_threads(long n, const char *what) {
    if (n > CPU_MAX_THREADS) {
        gds_log(GDS_LOG_WARN, "cpu backend: %s asks for %ld threads; using %d (the most it runs)\n", what, n, CPU_MAX_THREADS);
        return CPU_MAX_THREADS;
    }
    return n < 1 ? 1 : (int)n;
}

struct cpu_ctx {
    int n_threads;
    int n_cpus;    /* CPUs this process may run on (the affinity mask) */
    enum gds_cpu_simd simd;
    bool tiles;
    size_t serial_bytes; /* node_serial limit */
    int barrier_group;   /* GDS_CPU_BARRIER_GROUP (0: flat arrival) */
    unsigned char *serial; /* per node of the last graph: 1 = runs on thread 0 alone */
    int serial_cap;
    void *work;
    size_t work_size;
    const struct gds_numa_plan *numa; /* NULL: --numa off (gds_backend_cpu_set_numa) */
    struct gds_cpu_prefetch *pf;      /* NULL: no expert prefetch (gds_backend_cpu_set_prefetch) */
};

/* a numeric environment setting in [lo, hi]: true with *v when set and valid; a set but
 * invalid value is ignored with a warning naming it */
static bool env_num(const char *name, long long lo, long long hi, const char *what, long long *v) {
    const char *e = getenv(name);
    if (!e || !*e) return false;
    char *end;
    errno = 0;
    const long long n = strtoll(e, &end, 10);
    if (*end || errno || n < lo || n > hi) {
        gds_log(GDS_LOG_WARN, "cpu backend: %s='%s' is not %s; ignored\n", name, e, what);
        return false;
    }
    *v = n;
    return true;
}

static enum gds_status cpu_init(struct gds_backend *b, int device) {
    (void)device;
    struct cpu_ctx *c = calloc(1, sizeof(*c));
    if (!c) return gds_error(GDS_ERR_NOMEM, "cpu backend: out of memory");
#ifdef _OPENMP
    c->n_cpus = omp_get_num_procs();
    const int phys = cpu_physical_cores();
    c->n_threads = cap_threads(phys > 0 ? phys : omp_get_num_procs(), "the core count");
#else
    c->n_threads = c->n_cpus = 1;
#endif
    long long v;
    if (env_num("GDS_THREADS", 1, LLONG_MAX, "a positive integer", &v)) c->n_threads = cap_threads((long)v, "GDS_THREADS");
    c->simd = gds_cpu_simd_best();
    c->tiles = getenv("GDS_NO_TILES") == NULL;
    c->serial_bytes = CPU_SERIAL_BYTES;
    if (env_num("GDS_CPU_SERIAL_BYTES", 0, LLONG_MAX, "a byte count", &v)) c->serial_bytes = (size_t)v;
    if (env_num("GDS_CPU_BARRIER_GROUP", 0, 256, "0..256", &v)) c->barrier_group = (int)v;
    b->ctx = c;
    return GDS_OK;
}

static void cpu_free(struct gds_backend *b) {
    struct cpu_ctx *c = b->ctx;
    gds_cpu_prefetch_free(c->pf);
    free(c->work);
    free(c->serial);
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

void gds_backend_cpu_set_tiles(struct gds_backend *b, bool on) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i);
    ((struct cpu_ctx *)b->ctx)->tiles = on;
}

/* NUMA plan (gds-numa.h): its thread count replaces n_threads while it is set;
 * NULL takes it away. The plan must outlive its use by this backend. */
void gds_backend_cpu_set_numa(struct gds_backend *b, const struct gds_numa_plan *plan) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i);
    ((struct cpu_ctx *)b->ctx)->numa = plan;
}

bool gds_backend_cpu_set_prefetch(struct gds_backend *b, bool on) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i);
    struct cpu_ctx *c = b->ctx;
    if (on && !c->pf) c->pf = gds_cpu_prefetch_new();
    if (!on) { gds_cpu_prefetch_free(c->pf); c->pf = NULL; }
    return !on || c->pf;
}

void gds_backend_cpu_prefetch_stats(struct gds_backend *b, uint64_t *ranges, double *bytes) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i);
    gds_cpu_prefetch_stats(((struct cpu_ctx *)b->ctx)->pf, ranges, bytes);
}

int gds_backend_cpu_n_threads(struct gds_backend *b) {
    GDS_ASSERT(b->iface == &gds_backend_cpu_i);
    return ((struct cpu_ctx *)b->ctx)->n_threads;
}

static bool cpu_supports_op(struct gds_backend *b, const struct gds_tensor *t) {
    struct cpu_ctx *c = b->ctx;
    if (!gds_cpu_kernels[t->op]) return false;
    if (t->op == GDS_OP_MUL_MAT) return gds_cpu_type_traits_mm(t->src[0]->type, c->simd, t->op_params[0]) != NULL;
    if (t->op == GDS_OP_MUL_MAT_ID) return gds_cpu_type_traits(t->src[0]->type, c->simd) != NULL;
    return true;
}

/* ===========================================================================
 * Serial runs of small nodes
 *
 * A node costs at least one barrier (~1-3 us with 16 threads), more than the
 * work of a small element-wise op on one token. Nodes of the light ops below
 * whose bytes touched are at most c->serial_bytes run on thread 0 alone (with
 * nth = 1: kernels give the same bits for any nth, cpu.h), and a run of such
 * consecutive nodes ends with one barrier instead of one per node (thread 0
 * executes them in graph order, so their dependencies hold). GDS_CPU_SERIAL_BYTES
 * sets the limit (0: off).
 * ========================================================================= */

static size_t node_bytes(const struct gds_tensor *t) {
    switch (t->op) {
    case GDS_OP_GET_ROWS: return 2 * gds_nbytes(t);                              /* reads only the rows it copies */
    case GDS_OP_SET_ROWS: return 2 * gds_nbytes(t->src[1]);                       /* writes only the given rows */
    default: break;
    }
    size_t n = gds_nbytes(t);
    for (int k = 0; k < GDS_MAX_SRC && t->src[k]; k++) n += gds_nbytes(t->src[k]);
    return n;
}

static bool node_serial(const struct gds_tensor *t, size_t limit, enum gds_cpu_simd simd) {
    switch (t->op) {
    case GDS_OP_CPY: case GDS_OP_GET_ROWS: case GDS_OP_SET_ROWS: case GDS_OP_CONCAT:
    case GDS_OP_ADD: case GDS_OP_MUL: case GDS_OP_DIV: case GDS_OP_SCALE: case GDS_OP_SQRT:
    case GDS_OP_SIGMOID: case GDS_OP_SOFTPLUS: case GDS_OP_SILU: case GDS_OP_SWIGLU:
    case GDS_OP_RMS_NORM: case GDS_OP_SUM_ROWS: case GDS_OP_SOFT_MAX: case GDS_OP_ROPE:
    case GDS_OP_HADAMARD: case GDS_OP_HC_PRE: case GDS_OP_HC_POST:
        return node_bytes(t) <= limit;
    case GDS_OP_QUANT_SIM: { /* fp8/fp4 simulation costs ~5 ns an element (scalar conversion): 1/16 of the limit;
                              * fp8 in blocks of 16s on AVX-512 is vectorized (gds_cpu_sim_fp8_avx512, ~0.4 ns) */
        const int32_t mode = gds_get_op_param_i32(t, GDS_P_SIM_MODE);
        const bool fast = mode == GDS_SIM_BF16 ||
                          (mode == GDS_SIM_FP8 && gds_get_op_param_i32(t, GDS_P_SIM_BLOCK) % 16 == 0 && gds_cpu_simd_is_avx512(simd));
        return node_bytes(t) <= (fast ? limit : limit / 16);
    }
    default: return false;
    }
}

static enum gds_status cpu_graph_compute(struct gds_backend *b, struct gds_graph *g) {
    struct cpu_ctx *c = b->ctx;
    const struct gds_numa_plan *numa = c->numa;
    int nth = numa ? numa->n_threads : c->n_threads;
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
    if (g->n_nodes > c->serial_cap) {
        unsigned char *sr = realloc(c->serial, (size_t)g->n_nodes);
        if (!sr) return gds_error(GDS_ERR_NOMEM, "cpu backend: out of memory");
        c->serial = sr;
        c->serial_cap = g->n_nodes;
    }
    for (int i = 0; i < g->n_nodes; i++) c->serial[i] = nth > 1 && node_serial(g->nodes[i], c->serial_bytes, c->simd);
    const unsigned char *serial = c->serial;
    /* more threads than CPUs (-t above the core count): a waiting thread
     * holds the CPU that the thread it waits for needs, so sleep at once */
    struct gds_cpu_barrier barrier;
    barrier_init(&barrier, nth > c->n_cpus ? 0 : CPU_BARRIER_SPIN,
                 c->barrier_group >= 2 && nth >= 2 * c->barrier_group && (nth + c->barrier_group - 1) / c->barrier_group <= CPU_BARRIER_GROUPS
                     ? c->barrier_group : 0);
    const bool prof = prof_on();
    const double tg0 = prof ? prof_now() : 0;
    struct gds_cpu_prefetch *pf = c->pf;
    if (pf) gds_cpu_prefetch_graph(pf, g);
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
    {
        struct gds_cpu_params p = { .ith = 0, .nth = 1, .barrier = &barrier,
                                    .wdata = c->work, .wsize = c->work_size, .simd = c->simd,
                                    .tiles = c->tiles };
#ifdef _OPENMP
        p.ith = omp_get_thread_num();
        p.nth = omp_get_num_threads();
#endif
        /* NUMA: pinned to its core, its node's memory policy, its team; only
         * when the runtime gave every thread of the plan (else the plain split) */
        if (numa && p.nth == numa->n_threads) {
            gds_numa_thread_enter(numa, p.ith);
            p.numa = numa;
            p.node = numa->thread_node[p.ith];
            p.rank = numa->thread_rank[p.ith];
            p.team = numa->team[p.node];
        }
        double t0 = prof && p.ith == 0 ? prof_now() : 0;
        struct gds_cpu_params p1 = p;
        p1.nth = 1;
        bool pending = false; /* thread 0 ran serial nodes since the last barrier */
        for (int i = 0; i < g->n_nodes; i++) {
            struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW) continue;
            if (serial[i]) {
                if (p.ith == 0) gds_cpu_kernels[t->op](&p1, t);
                pending = true;
                if (prof && p.ith == 0) {
                    const double t1 = prof_now();
                    prof_add(t, t1 - t0);
                    t0 = t1;
                }
                continue;
            }
            if (pending) { gds_cpu_barrier(&p); pending = false; }
            gds_cpu_kernels[t->op](&p, t);
            gds_cpu_barrier(&p);
            if (pf && p.ith == 0) gds_cpu_prefetch_node(pf, g, i);
            if (prof && p.ith == 0) {
                const double t1 = prof_now();
                prof_add(t, t1 - t0);
                t0 = t1;
            }
        }
        if (pending) gds_cpu_barrier(&p);
    }
    barrier_destroy(&barrier);
    if (prof) {
        prof_graph_sec += prof_now() - tg0;
        prof_graphs++;
        const long nb = (long)atomic_load(&barrier.gen); /* one generation per barrier passed */
        prof_barriers += nb;
        bool one = true; /* every product has one column: a decode token's graph */
        for (int i = 0; i < g->n_nodes && one; i++) {
            const struct gds_tensor *t = g->nodes[i];
            if (t->op == GDS_OP_MUL_MAT) one = t->src[1]->ne[1] == 1;
            if (t->op == GDS_OP_MUL_MAT_ID) one = t->src[1]->ne[2] == 1;
        }
        if (one) { prof_graphs1++; prof_barriers1 += nb; }
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
