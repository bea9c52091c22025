/*
 * ops-matmul.c - MUL_MAT and MUL_MAT_ID on the CPU.
 *
 * Both run in two phases:
 *   1. every row of the F32 activation x is quantized into the weight type's
 *      vec_dot_type (rows split across threads; with fewer rows than threads,
 *      ranges of 128-element chunks, see mm_quantize) into the scratch
 *      buffer, then gds_cpu_barrier();
 *   2. dot products. Work is cut into units of GDS_MM_NR consecutive weight
 *      rows (of one batch / one expert) times all activation columns; threads
 *      take contiguous ranges of units, so each thread streams its own slice
 *      of the weights once (mat-vec: the N rows are split across threads).
 *      Inside a unit, columns go in blocks of GDS_MM_NC so the unit's weight
 *      rows stay in cache while the columns run over them.
 * Every output element is one vec_dot, or one row of a vec_dot4 / fast-path
 * dot; which one depends only on N and the row index (8-row, then 4-row
 * kernels, then vec_dot for the rest of each unit), never on the thread
 * count, so results do not depend on it. (The kernels give the same bits
 * except the AVX-512 MXFP4 fast path, see quants.c.)
 * Fast path: where quants.c offers one (MXFP4, F8 on AVX2/AVX-512), phase 1
 * also expands each quantized row into a prepared layout stored after the
 * quantized rows, and phase 2 runs 8- or 4-row kernels on it (weight rows of
 * the next group are software-prefetched inside the kernels).
 *
 * Tiles: where gds_cpu_tile_get offers a kernel (tiles.c) and a unit has two
 * or more columns (prefill, experts with several tokens), mm_tiles computes
 * tile.rows weight rows x up to tile.cols columns per call, each decoded
 * weight block serving all of them; every output has the bits of the
 * mat-vec kernels above (cpu.h), the unit's leftover rows take mm_rows.
 * Tiles with column packs (AMX): MUL_MAT packs every (batch, column group)
 * once after phase 1 (another barrier) and runs blocks of ~1 MB of weight
 * rows group by group; MUL_MAT_ID keeps per-thread pack caches (an expert's
 * few column groups are packed once per thread).
 *
 * MUL_MAT flags (op_params[0], gds.h): GDS_MM_ACT_BF16 takes the traits of
 * gds_cpu_type_traits_mm (F8 weights x bf16 activation rows, no fast path).
 *
 * MUL_MAT_ID groups the (slot, token) pairs by expert (a counting sort done by
 * thread 0 in phase 1, stored after the quantized rows), so each used expert's
 * weights are read once per call; ids outside [0, E) give zero rows.
 */
#include "cpu.h"

#include <stdlib.h>

#define GDS_MM_NR 16 /* weight rows per work unit (multiple of 4) */
#define GDS_MM_NC 16 /* activation columns per inner block */
#define MM_ID_UNIT 4 /* MUL_MAT_ID work split: a unit's weight decode, in columns */

/* Fast path (quants.c, gds_cpu_mm_ext_get in cpu.h): some (type, SIMD) pairs
 * expand each quantized activation row once more into a kernel-specific layout
 * ("prepared" row, after the quantized rows in the scratch) and run 8- or
 * 4-row dots on it. */

static size_t mm_pad(size_t x) { return (x + 63) & ~(size_t)63; }

/* bytes of one prepared row for the largest fast path of type t (0: none) */
static size_t mm_prep_max(enum gds_type t, int64_t K, int32_t flags) {
    size_t m = 0;
    for (int s = 0; s < GDS_SIMD_COUNT; s++) {
        struct gds_cpu_mm_ext e;
        if (gds_cpu_mm_ext_get_mm(t, (enum gds_cpu_simd)s, flags, &e) && mm_pad(e.prep_size(K)) > m) m = mm_pad(e.prep_size(K));
    }
    return m;
}

/* Column packs (tiles with a pack function, cpu.h): each thread keeps up to
 * MM_PACK_SLOTS packed column groups in its own part of the scratch, tagged by
 * their activation rows, so the packs of one expert (or of one batch of a
 * prompt) are made once and serve all of the thread's weight rows. The tags
 * are cleared at the start of every call. */
#define MM_PACK_SLOTS 8
#define MM_PACK_BYTES ((size_t)4 << 20) /* at most this much per thread */

struct mm_ptag {
    int64_t rows[GDS_MM_NC];
    int nc; /* 0: empty slot */
};

/* bytes per thread for packs of type t (0: no level packs), for ncol columns */
static size_t mm_pack_max(enum gds_type t, int64_t K, int32_t flags, int64_t ncol, size_t *slot) {
    size_t m = 0;
    for (int s = 0; s < GDS_SIMD_COUNT; s++) {
        struct gds_cpu_tile tl;
        if (gds_cpu_tile_get(t, (enum gds_cpu_simd)s, flags, &tl) && tl.pack && mm_pad(tl.pack_size(K)) > m) m = mm_pad(tl.pack_size(K));
    }
    if (slot) *slot = m;
    if (m == 0) return 0;
    int64_t n = (ncol + GDS_MM_NC - 1) / GDS_MM_NC;
    if (n > MM_PACK_SLOTS) n = MM_PACK_SLOTS;
    while (n > 1 && m * (size_t)n > MM_PACK_BYTES) n--;
    return mm_pad(sizeof(struct mm_ptag) * MM_PACK_SLOTS) + m * (size_t)n;
}

/* the per-call view of the kernels: quantized rows at q (stride rs), prepared rows at pq (stride ps) */
struct mm_k {
    const struct gds_cpu_type_traits *tt;
    struct gds_cpu_mm_ext ext;
    struct gds_cpu_tile tile;
    bool has_ext, has_tile;
    char *q, *pq;
    size_t rs, ps;
    /* this thread's packs: tags, slot area, slot size, slot count, next victim */
    struct mm_ptag *ptag;
    char *pk;
    size_t pks;
    int npk, pnext;
};

static int mm_amx_min(void);

static struct mm_k mm_kernels(const struct gds_tensor *w, const struct gds_cpu_params *p, int64_t nrows, size_t extra,
                              int32_t flags, int64_t ncol, int64_t nglobal /* > 0: shared packs (if the tile packs), < 0: per-thread, 0: none */) {
    struct mm_k k;
    k.tt = gds_cpu_type_traits_mm(w->type, p->simd, flags);
    GDS_ASSERT(k.tt != NULL);
    k.rs = gds_row_size(k.tt->vec_dot_type, w->ne[0]);
    k.q = p->wdata;
    k.has_ext = gds_cpu_mm_ext_get_mm(w->type, p->simd, flags, &k.ext);
    k.ps = k.has_ext ? mm_pad(k.ext.prep_size(w->ne[0])) : 0;
    /* MUL_MAT with fewer columns than GDS_MM_AMX_MIN on amx: the AVX-512 tiles where they give that level's
     * bits (an AMX tile multiplies 16 columns whatever the count; tiles.c keeps which: not MXFP4, whose
     * AVX512 tile reads bf16-prepared rows where amx prepares the canonical planes) */
    const bool few = nglobal >= 0 && ncol < mm_amx_min();
    k.has_tile = p->tiles && (few ? gds_cpu_tile_get_few : gds_cpu_tile_get)(w->type, p->simd, flags, &k.tile) &&
                 (!k.tile.prepped || k.has_ext);
    /* the AMX tiles gather per-row scales with 32-bit offsets (rows x row bytes) */
    if (k.has_tile && k.tile.pack && w->nb[1] > (size_t)INT32_MAX / 32) k.has_tile = false;
    GDS_ASSERT(!k.has_tile || (k.tile.cols >= 1 && k.tile.cols <= GDS_MM_NC && k.tile.rows >= 1 && GDS_MM_NR % k.tile.rows == 0));
    k.pq = k.q + mm_pad(k.rs * (size_t)nrows) + extra;
    const size_t used = mm_pad(k.rs * (size_t)nrows) + extra + mm_prep_max(w->type, w->ne[0], flags) * (size_t)nrows;
    GDS_ASSERT(p->wsize >= used);
    k.ptag = NULL; k.pk = NULL; k.pks = 0; k.npk = 0; k.pnext = 0;
    if (k.has_tile && k.tile.pack && nglobal > 0) { /* nglobal packs shared by all threads */
        size_t slot;
        mm_pack_max(w->type, w->ne[0], flags, 1, &slot);
        GDS_ASSERT(slot >= k.tile.pack_size(w->ne[0]) && p->wsize >= used + slot * (size_t)nglobal);
        k.pk = k.q + used;
        k.pks = slot;
        k.npk = (int)nglobal;
    } else if (k.has_tile && k.tile.pack && nglobal < 0) { /* per-thread caches (MUL_MAT_ID) */
        size_t slot;
        const size_t per = mm_pack_max(w->type, w->ne[0], flags, ncol, &slot);
        GDS_ASSERT(per > 0 && slot >= k.tile.pack_size(w->ne[0]) && p->wsize >= used + per * (size_t)p->nth);
        k.ptag = (struct mm_ptag *)(k.q + used + per * (size_t)p->ith);
        k.pk = (char *)k.ptag + mm_pad(sizeof(struct mm_ptag) * MM_PACK_SLOTS);
        k.pks = slot;
        k.npk = (int)((per - mm_pad(sizeof(struct mm_ptag) * MM_PACK_SLOTS)) / slot);
        for (int i = 0; i < MM_PACK_SLOTS; i++) k.ptag[i].nc = 0;
    }
    return k;
}

/* the pack of columns rows[0..nc) (made now unless this thread has it) */
static const void *mm_pack(struct mm_k *k, int64_t K, const int64_t *rows, int nc) {
    for (int i = 0; i < k->npk; i++) {
        const struct mm_ptag *t = &k->ptag[i];
        if (t->nc != nc) continue;
        int j = 0;
        while (j < nc && t->rows[j] == rows[j]) j++;
        if (j == nc) return k->pk + (size_t)i * k->pks;
    }
    const int i = k->pnext;
    k->pnext = (k->pnext + 1) % k->npk;
    const void *a[GDS_MM_NC];
    for (int j = 0; j < nc; j++) {
        a[j] = k->tile.prepped ? (const void *)(k->pq + (size_t)rows[j] * k->ps) : (const void *)(k->q + (size_t)rows[j] * k->rs);
        k->ptag[i].rows[j] = rows[j];
    }
    k->ptag[i].nc = nc;
    k->tile.pack(K, a, nc, k->pk + (size_t)i * k->pks);
    return k->pk + (size_t)i * k->pks;
}

/* quantize (and prepare) the nr rows of the 3-d row space of x (i1 fastest),
 * split over the threads: whole rows when there are at least as many rows as
 * threads, else (row, range of 128-element chunks) units, so that one-row
 * mat-vecs (decode) quantize on every thread. The quantizers and the
 * block-separable preps (mm_ext prep_block) work block by block, so a part
 * writes the same bytes as the whole row would. */
static void mm_quantize(const struct mm_k *k, const struct gds_tensor *x, int64_t nr, const struct gds_cpu_params *p) {
    const int64_t ne1 = x->ne[1], ne2 = x->ne[2], K = x->ne[0];
    int64_t per = 1; /* units per row */
    if (nr < p->nth && K % 128 == 0 && (!k->has_ext || k->ext.prep_block > 0)) {
        per = (p->nth + nr - 1) / nr;
        if (per > K / 128) per = K / 128;
    }
    int64_t u0, u1;
    gds_cpu_split(nr * per, p->ith, p->nth, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) {
        const int64_t r = u / per, part = u % per;
        const int64_t i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        const float *src = (const float *)((const char *)x->data + i1 * x->nb[1] + i2 * x->nb[2] + i3 * x->nb[3]);
        char *q = k->q + (size_t)r * k->rs;
        if (per == 1) {
            k->tt->from_float(src, q, K);
            if (k->has_ext) k->ext.prep(q, k->pq + (size_t)r * k->ps, K);
            continue;
        }
        const int64_t k0 = 128 * (K / 128 * part / per), k1 = 128 * (K / 128 * (part + 1) / per);
        if (k1 == k0) continue;
        char *qp = q + gds_row_size(k->tt->vec_dot_type, k0);
        k->tt->from_float(src + k0, qp, k1 - k0);
        if (k->has_ext) k->ext.prep(qp, k->pq + (size_t)r * k->ps + (size_t)(k0 / 128) * k->ext.prep_block, k1 - k0);
    }
}

/* y[n] for n in [n0, n1) of weight rows starting at w (stride bw) with activation row r */
static inline void mm_rows(const struct mm_k *k, int64_t K, const char *w, size_t bw, int64_t n0, int64_t n1,
                           int64_t r, float *y) {
    const void *a = k->q + (size_t)r * k->rs;
    int64_t n = n0;
    if (k->has_ext && k->ext.dot8)
        for (; n + 8 <= n1; n += 8) k->ext.dot8(K, y + n, w + (size_t)n * bw, bw, k->pq + (size_t)r * k->ps);
    if (k->has_ext)
        for (; n + 4 <= n1; n += 4) k->ext.dot4(K, y + n, w + (size_t)n * bw, bw, k->pq + (size_t)r * k->ps);
    else if (k->tt->vec_dot4)
        for (; n + 4 <= n1; n += 4) k->tt->vec_dot4(K, y + n, w + (size_t)n * bw, bw, a);
    for (; n < n1; n++) k->tt->vec_dot(K, y + n, w + (size_t)n * bw, a);
}

/* rows [n0, n1) of weights w (stride bw) times nc <= GDS_MM_NC columns: column
 * j is activation row rows[j], its outputs start at ys[j] (indexed by n).
 * Tiles of k->tile.rows rows x k->tile.cols columns; the rows left over (when
 * n1 - n0 is not a multiple of the tile's rows) take the mat-vec kernels. */
static void mm_tiles(struct mm_k *k, int64_t K, const char *w, size_t bw, int64_t n0, int64_t n1, const int64_t *rows,
                     float *const *ys, int nc, const void *packed) {
    const void *a[GDS_MM_NC];
    float *y[GDS_MM_NC];
    int64_t n = n0;
    for (; n + k->tile.rows <= n1; n += k->tile.rows)
        for (int j0 = 0; j0 < nc; j0 += k->tile.cols) {
            const int c = nc - j0 < k->tile.cols ? nc - j0 : k->tile.cols;
            for (int j = 0; j < c; j++) {
                a[j] = k->tile.prepped ? (const void *)(k->pq + (size_t)rows[j0 + j] * k->ps) : (const void *)(k->q + (size_t)rows[j0 + j] * k->rs);
                y[j] = ys[j0 + j] + n;
            }
            if (k->tile.pack) a[0] = packed ? packed : mm_pack(k, K, rows + j0, c);
            k->tile.fn(K, w + (size_t)n * bw, bw, a, y, c);
        }
    if (n < n1)
        for (int j = 0; j < nc; j++) mm_rows(k, K, w, bw, n, n1, rows[j], ys[j]);
}

/* Fewest columns a unit needs to take the tile kernels. Below it the
 * mat-vec kernels run column by column over groups of 8 weight rows, which
 * stay in cache, so the weights are still read once, but every column decodes
 * them again. MUL_MAT (dense weights, the head; batched decode of S
 * sequences has S columns): 2. On the 2-core Zen 4, 4 streams x tg16 of
 * f4q.gguf -t 2, GDS_PROF: the BF16 head with 4 columns took 110.9 ms per
 * step by mat-vec and 48.8 ms in tiles (one column: 38.2 ms), wo_a 8.0 vs
 * 4.2 ms; aggregate 17-18 t/s (threshold 8) against 25-28 t/s (2).
 * MUL_MAT_ID (experts with a few of the prompt's tokens): 8 on amx (an AMX
 * tile multiplies 16 columns whatever the count), else 2 (2-core Zen 4,
 * test-ops perf -o mul_mat_id -t 1, 256 experts x 512 tokens, best of 5
 * alternating: 8 -> 2 took w[4096,2048] from 138.3 to 142.6 GFLOP/s and
 * w[2048,4096] from 132.2 to 138.0). Same bits either way (tiles and
 * mat-vec agree by contract, test-ops). GDS_MM_TILE_MIN / GDS_MM_ID_TILE_MIN
 * override. */
static int mm_env_min(const char *name, int def) {
    const char *e = getenv(name);
    const int v = e && *e ? atoi(e) : def;
    return v < 2 ? 2 : v;
}
/* MUL_MAT with fewer columns than GDS_MM_AMX_MIN on amx takes the AVX-512 tiles (default 8; 2: never,
 * one column takes the mat-vec). Batched decode of 4 sequences, f4q, -t 16, H100 hosts' Sapphire
 * Rapids, 2026-12-07 (tools/device/s5-measure.sh, s5-call2.sh; -n 32 -s 1,4 -r 3, alternating):
 * 4 streams against one 2.21x / 2.45x / 2.25x with 8, 2.09x / 1.56x / 1.93x with 2 (the AMX Q8_0
 * tile ran attn_q_b with 4 columns at 2x its one-column time). Same bits (tiles equal the mat-vec). */
static int mm_amx_min(void) {
    static int v = -1;
    if (v < 0) v = mm_env_min("GDS_MM_AMX_MIN", 8);
    return v;
}
static int mm_tile_min(void) {
    static int v = -1;
    if (v < 0) v = mm_env_min("GDS_MM_TILE_MIN", 2);
    return v;
}
static int mm_id_tile_min(enum gds_cpu_simd simd) {
    static int v = -1; /* 0: no override */
    if (v < 0) v = getenv("GDS_MM_ID_TILE_MIN") && *getenv("GDS_MM_ID_TILE_MIN") ? mm_env_min("GDS_MM_ID_TILE_MIN", 2) : 0;
    return v ? v : simd == GDS_SIMD_AMX ? 8 : 2;
}

/* ---- MUL_MAT ------------------------------------------------------------- */

size_t gds_cpu_work_mul_mat(const struct gds_tensor *dst, int nth) {
    const struct gds_tensor *w = dst->src[0], *x = dst->src[1];
    const int32_t flags = dst->op_params[0];
    const struct gds_cpu_type_traits *tt = gds_cpu_type_traits_mm(w->type, GDS_SIMD_SCALAR, flags);
    if (!tt) return 0;
    const size_t nr = (size_t)(x->ne[1] * x->ne[2] * x->ne[3]);
    size_t slot; /* packs of every (batch, column group), shared by the threads */
    mm_pack_max(w->type, x->ne[0], flags, 1, &slot);
    const size_t ngroups = (size_t)((x->ne[1] + GDS_MM_NC - 1) / GDS_MM_NC) * (size_t)(x->ne[2] * x->ne[3]);
    GDS_UNUSED(nth);
    return mm_pad(gds_row_size(tt->vec_dot_type, x->ne[0]) * nr) + mm_prep_max(w->type, x->ne[0], flags) * nr + slot * ngroups;
}

void gds_cpu_op_mul_mat(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *w = dst->src[0], *x = dst->src[1];
    const int64_t K = w->ne[0], N = w->ne[1], M = x->ne[1];
    const int64_t ne12 = x->ne[2], ne13 = x->ne[3];
    const int64_t r2 = ne12 / w->ne[2], r3 = ne13 / w->ne[3];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->ne[0] == K);
    /* NUMA --numa-replicate-dense: the copy of the weights on this thread's node (same bytes) */
    const char *w0 = p->numa && p->numa->n_rep ? gds_numa_replica(p->numa, w->data, p->node) : (const char *)w->data;
    /* tiles with packs: every (batch, group of GDS_MM_NC columns) packed once, shared */
    const int64_t ngb = (M + GDS_MM_NC - 1) / GDS_MM_NC;
    const bool tiles = M >= mm_tile_min();
    struct mm_k k = mm_kernels(w, p, M * ne12 * ne13, 0, dst->op_params[0], M, tiles ? ngb * ne12 * ne13 : 0);
    const bool packs = k.has_tile && k.tile.pack && tiles;
    GDS_ASSERT(!packs || k.tile.cols == GDS_MM_NC);

    mm_quantize(&k, x, M * ne12 * ne13, p);
    gds_cpu_barrier(p);
    if (packs) {
        int64_t g0, g1;
        gds_cpu_split(ngb * ne12 * ne13, p->ith, p->nth, &g0, &g1);
        for (int64_t g = g0; g < g1; g++) {
            const int64_t b = g / ngb, m0 = (g % ngb) * GDS_MM_NC, m1 = m0 + GDS_MM_NC < M ? m0 + GDS_MM_NC : M;
            const void *a[GDS_MM_NC];
            for (int64_t m = m0; m < m1; m++) {
                const int64_t r = b * M + m;
                a[m - m0] = k.tile.prepped ? (const void *)(k.pq + (size_t)r * k.ps) : (const void *)(k.q + (size_t)r * k.rs);
            }
            k.tile.pack(K, a, (int)(m1 - m0), k.pk + (size_t)g * k.pks);
        }
        gds_cpu_barrier(p);
    }

    /* with packs, blocks of UB units (about 1 MB of weights, kept in cache) run
     * column group by column group; otherwise unit by unit (UB = 1) */
    const int64_t nchunk = (N + GDS_MM_NR - 1) / GDS_MM_NR;
    int64_t UB = packs ? (int64_t)(((size_t)1 << 20) / ((size_t)GDS_MM_NR * w->nb[1])) : 1;
    if (UB < 1) UB = 1;
    int64_t u0, u1;
    gds_cpu_split(nchunk * ne12 * ne13, p->ith, p->nth, &u0, &u1);
    for (int64_t ub = u0; ub < u1; ub += UB)
    for (int64_t m0 = 0; m0 < M; m0 += GDS_MM_NC)
    for (int64_t u = ub; u < u1 && u < ub + UB; u++) {
        const int64_t b = u / nchunk, c = u % nchunk;
        const int64_t i2 = b % ne12, i3 = b / ne12;
        const int64_t n0 = c * GDS_MM_NR, n1 = n0 + GDS_MM_NR < N ? n0 + GDS_MM_NR : N;
        const char *wb = w0 + (i2 / r2) * w->nb[2] + (i3 / r3) * w->nb[3];
        const int64_t rb = (i3 * ne12 + i2) * M;
        {
            const int64_t m1 = m0 + GDS_MM_NC < M ? m0 + GDS_MM_NC : M;
            if (k.has_tile && tiles) {
                int64_t rows[GDS_MM_NC];
                float *ys[GDS_MM_NC];
                for (int64_t m = m0; m < m1; m++) {
                    rows[m - m0] = rb + m;
                    ys[m - m0] = (float *)((char *)dst->data + m * dst->nb[1] + i2 * dst->nb[2] + i3 * dst->nb[3]);
                }
                mm_tiles(&k, K, wb, w->nb[1], n0, n1, rows, ys, (int)(m1 - m0),
                         packs ? (const void *)(k.pk + (size_t)(b * ngb + m0 / GDS_MM_NC) * k.pks) : NULL);
                continue;
            }
            for (int64_t n = n0; n < n1; n += 8) {
                const int64_t ne = n + 8 < n1 ? n + 8 : n1;
                for (int64_t m = m0; m < m1; m++) {
                    float *y = (float *)((char *)dst->data + m * dst->nb[1] + i2 * dst->nb[2] + i3 * dst->nb[3]);
                    mm_rows(&k, K, wb, w->nb[1], n, ne, rb + m, y);
                }
            }
        }
    }
}

/* ---- MUL_MAT_ID ---------------------------------------------------------- */

/* scratch: quantized rows | cnt[E] | off[E+1] | pairs[n_used*T] (pair = i + t*n_used) */
size_t gds_cpu_work_mul_mat_id(const struct gds_tensor *dst, int nth) {
    const struct gds_tensor *w = dst->src[0], *x = dst->src[1], *ids = dst->src[2];
    const struct gds_cpu_type_traits *tt = gds_cpu_type_traits(w->type, GDS_SIMD_SCALAR);
    if (!tt) return 0;
    const size_t nr = (size_t)(x->ne[1] * x->ne[2]);
    return mm_pad(gds_row_size(tt->vec_dot_type, x->ne[0]) * nr) +
           mm_pad(sizeof(int32_t) * (size_t)(2 * w->ne[2] + 1 + ids->ne[0] * ids->ne[1])) + mm_prep_max(w->type, x->ne[0], 0) * nr +
           mm_pack_max(w->type, x->ne[0], 0, ids->ne[0] * ids->ne[1], NULL) * (size_t)nth;
}

void gds_cpu_op_mul_mat_id(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *w = dst->src[0], *x = dst->src[1], *ids = dst->src[2];
    const int64_t K = w->ne[0], N = w->ne[1], E = w->ne[2];
    const int64_t nx = x->ne[1], T = x->ne[2], nu = ids->ne[0];
    GDS_ASSERT(x->type == GDS_TYPE_F32 && x->ne[0] == K && ids->type == GDS_TYPE_I32 && ids->ne[1] == T);
    const size_t lists = mm_pad(sizeof(int32_t) * (size_t)(2 * E + 1 + nu * T));
    struct mm_k k = mm_kernels(w, p, nx * T, lists, 0, nu * T, -1);
    int32_t *cnt = (int32_t *)(k.q + mm_pad(k.rs * (size_t)(nx * T))), *off = cnt + E, *pairs = off + E + 1;

    mm_quantize(&k, x, nx * T, p);
    if (p->ith == 0) {
        /* counting sort of (slot, token) pairs by expert, stable in (t, i) order */
        for (int64_t e = 0; e < E; e++) cnt[e] = 0;
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < nu; i++) {
                const int32_t e = *gds_i32_ptr(ids, i, t, 0, 0);
                if (e >= 0 && e < E) cnt[e]++;
                else memset((char *)dst->data + i * dst->nb[1] + t * dst->nb[2], 0, (size_t)N * sizeof(float));
            }
        off[0] = 0;
        for (int64_t e = 0; e < E; e++) off[e + 1] = off[e] + cnt[e];
        for (int64_t e = 0; e < E; e++) cnt[e] = 0;
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < nu; i++) {
                const int32_t e = *gds_i32_ptr(ids, i, t, 0, 0);
                if (e >= 0 && e < E) pairs[off[e] + cnt[e]++] = (int32_t)(i + t * nu);
            }
        if (p->numa && T == 1) gds_numa_count(p->numa, gds_numa_plan_find(p->numa, w->data), cnt); /* traffic model (decode) */
    }
    gds_cpu_barrier(p);

    /* units: (used expert, chunk of GDS_MM_NR rows), experts in increasing id,
     * split by work: a unit of expert e costs cnt[e] + MM_ID_UNIT (columns,
     * plus the weight decode), so threads get equal shares of the tokens when
     * the router favours some experts (a split by unit count left them waiting).
     * NUMA experts mode (gds-numa.h): a thread sees only the chunks [lo, hi)
     * of each expert that live on its node and shares them with its team;
     * every unit is still computed once, by the same kernels: same bits. */
    const int64_t nchunk = (N + GDS_MM_NR - 1) / GDS_MM_NR;
    const struct gds_numa_wt *nw = p->numa && p->numa->mode == GDS_NUMA_EXPERTS && p->nth == p->numa->n_threads
                                       ? gds_numa_plan_find(p->numa, w->data) : NULL;
    const int64_t part = nw ? p->rank : p->ith, parts = nw ? p->team : p->nth;
    int64_t W = 0;
    for (int64_t e = 0; e < E; e++) {
        if (cnt[e] == 0) continue;
        int64_t lo = 0, hi = nchunk;
        if (nw) gds_numa_chunks(p->numa, nw, p->node, e, nchunk, &lo, &hi);
        W += (hi - lo) * (cnt[e] + MM_ID_UNIT);
    }
    const int64_t A = W * part / parts, B = W * (part + 1) / parts; /* this thread: units starting in [A, B) */
    int64_t S = 0;
    for (int64_t e = 0; e < E && S < B; e++) {
        if (cnt[e] == 0) continue;
        int64_t lo = 0, hi = nchunk;
        if (nw) gds_numa_chunks(p->numa, nw, p->node, e, nchunk, &lo, &hi);
        const int64_t ce = cnt[e] + MM_ID_UNIT, Se = S;
        S += (hi - lo) * ce;
        if (S <= A) continue;
        int64_t c0 = lo + (A > Se ? (A - Se + ce - 1) / ce : 0), c1 = lo + (B - Se + ce - 1) / ce;
        if (c1 > hi) c1 = hi;
        for (int64_t c = c0; c < c1; c++) {
            const int64_t n0 = c * GDS_MM_NR, n1 = n0 + GDS_MM_NR < N ? n0 + GDS_MM_NR : N;
            const char *wb = (const char *)w->data + e * w->nb[2];
            const int32_t *pe = pairs + off[e];
            for (int64_t j0 = 0; j0 < cnt[e]; j0 += GDS_MM_NC) {
                const int64_t j1 = j0 + GDS_MM_NC < cnt[e] ? j0 + GDS_MM_NC : cnt[e];
                if (k.has_tile && cnt[e] >= mm_id_tile_min(p->simd)) {
                    int64_t rows[GDS_MM_NC];
                    float *ys[GDS_MM_NC];
                    for (int64_t j = j0; j < j1; j++) {
                        const int64_t i = pe[j] % nu, t = pe[j] / nu;
                        rows[j - j0] = (i % nx) + t * nx;
                        ys[j - j0] = (float *)((char *)dst->data + i * dst->nb[1] + t * dst->nb[2]);
                    }
                    mm_tiles(&k, K, wb, w->nb[1], n0, n1, rows, ys, (int)(j1 - j0), NULL);
                    continue;
                }
                for (int64_t n = n0; n < n1; n += 8) {
                    const int64_t ne = n + 8 < n1 ? n + 8 : n1;
                    for (int64_t j = j0; j < j1; j++) {
                        const int64_t i = pe[j] % nu, t = pe[j] / nu;
                        float *y = (float *)((char *)dst->data + i * dst->nb[1] + t * dst->nb[2]);
                        mm_rows(&k, K, wb, w->nb[1], n, ne, (i % nx) + t * nx, y);
                    }
                }
            }
        }
    }
}
