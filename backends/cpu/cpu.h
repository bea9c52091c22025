/*
 * cpu.h - internals of the CPU backend: kernel signature, dispatch tables,
 * per-type dot-product traits and SIMD selection.
 *
 * Execution model: graph_compute opens one OpenMP parallel region; every thread
 * walks the node list and calls the op kernel with its (ith, nth); a barrier
 * follows each node. Kernels split work into units whose results do not depend
 * on nth (each output element is computed by exactly one thread, in a fixed
 * order), so outputs are bit-identical for any thread count. A kernel that needs
 * two phases (e.g. quantize activations, then dot products) calls
 * gds_cpu_barrier() between them (all nth threads must call it; it orders
 * memory like an OpenMP barrier: spin briefly, then sleep, cpu-backend.c).
 *
 * SIMD: scalar kernels are the reference; x86 AVX2/AVX-512 and NEON variants live
 * in separate files compiled with their own -m flags and are chosen at run time
 * (params->simd). A SIMD kernel must give results within the op test's bound of
 * the float64 reference, and the same result for any thread count.
 */
#ifndef GDS_CPU_H
#define GDS_CPU_H

#include "gds-impl.h"
#include "gds-numa.h"

struct gds_cpu_barrier;

struct gds_cpu_params {
    int ith, nth;           /* this thread, thread count */
    struct gds_cpu_barrier *barrier; /* shared by the nth threads; unused when nth == 1 */
    void *wdata;            /* shared scratch, work_size() bytes, 64-byte aligned */
    size_t wsize;
    enum gds_cpu_simd simd; /* selected instruction set */
    bool tiles;             /* mul_mat may use tile kernels (gds_cpu_tile_get) */
    /* NUMA (gds-numa.h; NULL with --numa off): MUL_MAT_ID gives each thread
     * only units whose weight rows live on its node, split over the node's team */
    const struct gds_numa_plan *numa;
    int node, rank, team;   /* with numa: this thread's node, rank in its team, the team's size */
};

/* the AVX-512 kernels serve both the AVX512 and the AMX level */
static inline bool gds_cpu_simd_is_avx512(enum gds_cpu_simd s) { return s == GDS_SIMD_AVX512 || s == GDS_SIMD_AMX; }

typedef void (*gds_cpu_kernel_fn)(const struct gds_cpu_params *p, struct gds_tensor *dst);
typedef size_t (*gds_cpu_work_fn)(const struct gds_tensor *dst, int nth);

/* one slot per op; NULL kernel = unsupported */
extern const gds_cpu_kernel_fn gds_cpu_kernels[GDS_OP_COUNT];
extern const gds_cpu_work_fn   gds_cpu_work_size[GDS_OP_COUNT];

void gds_cpu_barrier(const struct gds_cpu_params *p);

/* rows [*r0, *r1) of n for thread ith of nth (contiguous chunks) */
static inline void gds_cpu_split(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1) {
    int64_t dr = (n + nth - 1) / nth;
    *r0 = dr * ith < n ? dr * ith : n;
    *r1 = *r0 + dr < n ? *r0 + dr : n;
}

/* --- quantized dot products --------------------------------------------------
 * vec_dot(n, s, w, a): *s = dot of n elements of one weight row w (weight type)
 * and one activation row a (vec_dot_type), with the accumulation rules of
 * gds_mul_mat. from_float quantizes an F32 row into vec_dot_type.
 * vec_dot_4 (optional, NULL allowed) does 4 weight rows (stride bw bytes) at
 * once against one activation row, for register reuse in mat-vec. */
typedef void (*gds_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);
typedef void (*gds_vec_dot4_fn)(int64_t n, float *s, const void *w, size_t bw, const void *a);
typedef void (*gds_from_float_row_fn)(const float *x, void *y, int64_t n);

struct gds_cpu_type_traits {
    enum gds_type vec_dot_type;
    gds_from_float_row_fn from_float; /* into vec_dot_type */
    gds_vec_dot_fn vec_dot;
    gds_vec_dot4_fn vec_dot4;
};

/* Table for a SIMD level; entries fall back to scalar where a level has none.
 * Returns NULL for types the CPU cannot multiply. */
const struct gds_cpu_type_traits *gds_cpu_type_traits(enum gds_type t, enum gds_cpu_simd simd);
/* Same, for a MUL_MAT node's flags (GDS_MM_ACT_BF16: F8 weights with bf16 activations). */
const struct gds_cpu_type_traits *gds_cpu_type_traits_mm(enum gds_type t, enum gds_cpu_simd simd, int32_t flags);

/* mul_mat fast path for MXFP4 and F8 weights on x86: each activation row is
 * expanded once (prep) into a kernel-friendly layout, then dot4/dot8 compute
 * 4 or 8 weight rows (stride bw bytes) against it. See quants.c. */
struct gds_cpu_mm_ext {
    size_t (*prep_size)(int64_t n);
    void (*prep)(const void *a, void *p, int64_t n);
    void (*dot4)(int64_t n, float *s, const void *w, size_t bw, const void *p);
    void (*dot8)(int64_t n, float *s, const void *w, size_t bw, const void *p); /* optional */
    size_t prep_block; /* > 0: prep of 128-element blocks is independent, this many bytes each */
};
bool gds_cpu_mm_ext_get(enum gds_type t, enum gds_cpu_simd simd, struct gds_cpu_mm_ext *ext);
/* the same for a MUL_MAT's flags (GDS_MM_ACT_BF16: Q8_0 x bf16 rows on AVX-512) */
bool gds_cpu_mm_ext_get_mm(enum gds_type t, enum gds_cpu_simd simd, int32_t flags, struct gds_cpu_mm_ext *ext);
/* the canonical term t = (float)p * scale of MXFP4 block xb against sub-block j
 * (0..3) of the F8 activation block y (quants.c) */
float gds_cpu_mxfp4_block_t(const block_mxfp4 *xb, const block_f8 *y, int j);

/* mul_mat tiles (prefill): rows x cols outputs per call, for weight types with
 * several activation columns. fn computes y[j][i] = dot(weight row i, column j)
 * for i < rows, j < nc (1 <= nc <= cols): weight row i at w + i * bw; column j
 * at a[j], which is the quantized row (vec_dot_type) or, when prepped, the
 * row prepared by the fast path of gds_cpu_mm_ext_get for the same (type,
 * simd). Contract: every output is bit-identical to what the vec_dot / dot4 /
 * fast path of the same (type, simd) gives for it (so prefill, decode and
 * chunked runs give the same bits); ops-matmul.c uses tiles for units with
 * two or more columns. See tiles.c. */
typedef void (*gds_cpu_tile_fn)(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc);
struct gds_cpu_tile {
    gds_cpu_tile_fn fn;
    int rows, cols;   /* rows per call (divides GDS_MM_NR), most columns per call */
    bool prepped;     /* columns are prepared rows (else quantized rows) */
    /* Optional column packing (AMX): when pack is set, the caller packs each
     * group of up to `cols` columns once into pack_size(K) bytes (64-byte
     * aligned) and may reuse that pack for any weight rows; fn then gets
     * a[0] = the pack instead of the column pointers. The pack may keep the
     * column pointers, which stay valid while it is used. */
    size_t (*pack_size)(int64_t K);
    void (*pack)(int64_t K, const void *const *a, int nc, void *buf);
};
bool gds_cpu_tile_get(enum gds_type t, enum gds_cpu_simd simd, int32_t flags, struct gds_cpu_tile *tile);
/* the tile for a MUL_MAT with few columns (below GDS_MM_AMX_MIN, ops-matmul.c): on amx its
 * AVX512 tile where that one gives the amx level's bits (not MXFP4), none for MXFP4 (the
 * mat-vec then); elsewhere gds_cpu_tile_get */
bool gds_cpu_tile_get_few(enum gds_type t, enum gds_cpu_simd simd, int32_t flags, struct gds_cpu_tile *tile);

/* per-level tables filled by the SIMD files (only when compiled for x86/arm) */
void gds_cpu_traits_scalar(struct gds_cpu_type_traits *tab /* [GDS_TYPE_COUNT] */);
void gds_cpu_traits_avx2(struct gds_cpu_type_traits *tab);
void gds_cpu_traits_avx512(struct gds_cpu_type_traits *tab);
void gds_cpu_traits_neon(struct gds_cpu_type_traits *tab);

/* element helpers */
#if defined(__SSE2__) && !defined(GDS_AMX_EMU) /* test-amx-emu emulates the intrinsics itself */
#include <emmintrin.h>
/* gds_round_bf16 on 4 lanes with the same integer steps (RNE add on the bits,
 * NaN -> quiet NaN keeping the top 16 bits): equal bits for all 2^32 inputs
 * (exhaustive check). SSE2 is the x86-64 baseline. */
static inline __m128 gds_cpu_round_bf16_x4(__m128 v) {
    const __m128i u = _mm_castps_si128(v), hi = _mm_set1_epi32((int)0xffff0000u);
    const __m128i nan = _mm_cmpgt_epi32(_mm_and_si128(u, _mm_set1_epi32(0x7fffffff)), _mm_set1_epi32(0x7f800000));
    const __m128i lsb = _mm_and_si128(_mm_srli_epi32(u, 16), _mm_set1_epi32(1));
    const __m128i r = _mm_and_si128(_mm_add_epi32(u, _mm_add_epi32(lsb, _mm_set1_epi32(0x7fff))), hi);
    const __m128i q = _mm_or_si128(_mm_and_si128(u, hi), _mm_set1_epi32(0x00400000));
    return _mm_castsi128_ps(_mm_or_si128(_mm_and_si128(nan, q), _mm_andnot_si128(nan, r)));
}
#endif

static inline float *gds_f32_ptr(const struct gds_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (float *)((char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
}
static inline int32_t *gds_i32_ptr(const struct gds_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (int32_t *)((char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
}


/* --- op kernels (one file per op family, see backends/cpu/ops-*.c) --- */
void gds_cpu_op_cpy(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_get_rows(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_set_rows(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_concat(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_add(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_mul(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_div(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_scale(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_sqrt(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_sigmoid(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_softplus(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_silu(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_swiglu(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_rms_norm(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_sum_rows(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_soft_max(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_rope(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_hadamard(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_quant_sim(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_top_k(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_mul_mat(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_mul_mat_id(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_hc_comb(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_hc_pre(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_hc_post(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_compress(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_indexer(const struct gds_cpu_params *p, struct gds_tensor *dst);
void gds_cpu_op_attn(const struct gds_cpu_params *p, struct gds_tensor *dst);

/* Software prefetch hint of the mat-vec and tile kernels (the weight rows of
 * the next group, _mm_prefetch in the x86 SIMD files): _MM_HINT_T1 (into L2;
 * the hardware brings the lines on into L1 as the kernel reaches them).
 * 2-core Zen 4, f4q.gguf tg16 -t 2 -r 3, three alternating rounds against a
 * _MM_HINT_T0 build (into L1, before 2026-12-07): 13.59 / 13.59 / 13.13 t/s
 * against 11.95 / 10.70 / 12.13, the layers 37.0-39.9 ms a token against
 * 43.3-43.9 (a make test ran beside it); idle, four rounds of tg64: 14.16 / 12.62 /
 * 14.18 / 17.46 vs 12.97 / 14.22 / 16.91 / 14.40, inside the box's noise; pp256
 * about the same (95.8, 86.1 vs 52.0, 84.9: noisy). Not yet
 * measured on Sapphire Rapids (tools/device/s6-first.sh compares a
 * -DGDS_PF_HINT=_MM_HINT_T0 build). */
#ifndef GDS_PF_HINT
#define GDS_PF_HINT _MM_HINT_T1
#endif

/* Where the kernels' software prefetch starts: GDS_PF_AHEAD bytes past the
 * call's `rows` rows of bw bytes, or the next group where that is farther
 * (each call prefetches as many bytes as it reads, so consecutive calls cover
 * the rows without a gap). With short rows the next group alone is too close
 * to hide the memory latency (Q8_0 K = 1024: 4 rows are 4.3 KB). No division:
 * this runs once per 4 or 8 rows. -DGDS_PF_AHEAD=0: always the next group (as
 * before 2026-12-07). */
#ifndef GDS_PF_AHEAD
#define GDS_PF_AHEAD 16384
#endif
static inline const char *gds_pf_ahead(const void *w, size_t bw, int rows) {
    const size_t g = (size_t)rows * bw, ahead = GDS_PF_AHEAD;
    return (const char *)w + (g >= ahead ? g : ahead);
}

/* expert prefetch (prefetch.c, issue 12): a helper thread that madvises the
 * experts the router chose; graph() before a graph runs, node() by thread 0
 * after node i */
struct gds_cpu_prefetch;
struct gds_cpu_prefetch *gds_cpu_prefetch_new(void);
void gds_cpu_prefetch_free(struct gds_cpu_prefetch *pf);
void gds_cpu_prefetch_graph(struct gds_cpu_prefetch *pf, const struct gds_graph *g);
void gds_cpu_prefetch_node(struct gds_cpu_prefetch *pf, const struct gds_graph *g, int i);
void gds_cpu_prefetch_stats(const struct gds_cpu_prefetch *pf, uint64_t *ranges, double *bytes);

/* scratch sizes (ops not listed need none) */
size_t gds_cpu_work_mul_mat(const struct gds_tensor *dst, int nth);
size_t gds_cpu_work_mul_mat_id(const struct gds_tensor *dst, int nth);
size_t gds_cpu_work_top_k(const struct gds_tensor *dst, int nth);
size_t gds_cpu_work_attn(const struct gds_tensor *dst, int nth);
size_t gds_cpu_work_indexer(const struct gds_tensor *dst, int nth);
size_t gds_cpu_work_hc_comb(const struct gds_tensor *dst, int nth);

#endif /* GDS_CPU_H */
