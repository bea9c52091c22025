/*
 * ops-matmul.cu - MUL_MAT and MUL_MAT_ID on CUDA.
 *
 * Both run in two phases on the stream, like the CPU (backends/cpu/ops-matmul.c):
 *   1. mm_quant: every row of the F32 activation x is converted once into
 *      the weight type's activation format, in the scratch buffer:
 *        F8_E4M3_B128, MXFP4 weights: act_quant (e4m3 codes, 2^e scale per
 *          128; the reference quantizer of types.c, bit for bit), stored as
 *          the f16 values of the codes (exact) + the decoded scale (float);
 *        Q8_0: q8_0 (ggml's reference quantizer), int8 codes + fp16 d as float;
 *        F16: f16 (RNE); BF16, and F8 weights with GDS_MM_ACT_BF16: bf16 (RNE).
 *      Rows are zero-padded to Kp (a multiple of the kernel's k stage).
 *      One warp per 128 values (amax by a warp max, which is order-free).
 *   2. mm_tc: tensor-core tiles (mma.sync, plain sm_80+ instructions, no
 *      sm_90a). A CTA computes BN weight rows x BMC columns; its warps are WM
 *      row groups x WKS k-splits (WKS = MM_G or 1, see "One order for every
 *      M" below), each warp 16*MT rows x 8*NT columns.
 *      Weights and activations are staged through shared memory with
 *      cp.async (16-byte, coalesced; a weight row slice is copied as its
 *      16-byte-aligned superset, the block data found at (address & 15) in the
 *      slot: Q8_0 / MXFP4 / F8 blocks have no alignment), S stages deep.
 *      Each lane decodes its weights from shared memory straight into mma A
 *      fragments. Inside each 32-k (or 16-k) group a lane's k's are permuted
 *      (the same permutation for A and B, which only depends on the lane's
 *      k-slot), so that a lane reads consecutive weight bytes.
 *   MUL_MAT_ID adds mm_route (one CTA): a stable counting sort of the
 *   (slot, token) pairs by expert (by (t, i) order inside an expert), the
 *   per-expert column tiles as a work list, zero rows for ids outside
 *   [0, E); mm_tc then takes its columns from the list, so each used
 *   expert's weight rows are streamed once per column tile.
 *   F32 weights take mm_f32 instead (a warp per weight row, up to 8 columns,
 *   fmaf in lanes over k = lane + 32 i, xor-shuffle reduction), on x directly.
 *   Other weights read x only in phase 1, which runs before any kernel that
 *   writes dst (MUL_MAT_ID: before mm_route's zero rows), so dst and
 *   dst_bf16 (a fused QUANT_SIM BF16's output, cuda-backend.c) may overlap x.
 *
 * Numerics (gds.h MUL_MAT contract; the CPU's per-block formulas, quants.c):
 *   F8 x F8: e4m3 codes decode exactly to f16 (cvt.rn.f16x2.e4m3x2); per
 *     128-block p = the mma sum of the 128 exact products (m16n8k16, fp32
 *     accumulator started at zero), then acc = acc + p * (sw * sa).
 *   MXFP4 x F8: nibbles decode exactly to f16 kv = 2*e2m1; per 32-block
 *     q = the mma sum of kv * e4m3 (two k16 steps), p = q * 512 (the CPU's
 *     integer p when q is exact), acc = acc + p * ((sa * 2^-9) * sw_half).
 *   Q8_0 x Q8_0: per 32-block the exact int32 sum (mma m16n8k32 s8, s32
 *     accumulator), acc = acc + (float)isum * (dw * da) (ggml's formula).
 *   F16 x F16, BF16 x BF16: per chunk of 128 k, part = the mma chain from
 *     zero (fp32 accumulator, 8 k16 steps in k order), acc = acc + part.
 *   F8 x BF16 (GDS_MM_ACT_BF16): w = e4m3 * 2^(e-127) rounded as the CPU does
 *     in fp32 (exact unless subnormal), then bf16 (exact), per 128-block the
 *     mma chain from zero, acc = acc + part, as BF16 x BF16.
 *   F32: fmaf (one rounding per product-add; the CPU rounds the product first).
 *   Products in the mma are exact (e4m3 x e4m3, kv x e4m3, int8 x int8,
 *   f16 x f16, bf16 x bf16); the tensor core's in-block fp32 sums follow its
 *   own order (and rounding, not IEEE step by step): the spec leaves the
 *   in-block order open. The per-block scale steps are separate fp32 roundings
 *   (__fmul_rn / __fadd_rn: no contraction). The float types sum each
 *   128-chunk from zero (not one mma chain over all of k: the tensor core's
 *   chained accumulator truncates the new products against the running sum),
 *   so that BF16 / F16 weights holding exactly the FP8 values, times act_quant
 *   activations, give the F8 x F8 bits (per block p * 2^e is exact scaling).
 *
 * One order for every M (decode, batches, prefill and chunked prefill give
 * the same bits, as on the CPU; test-ops checks it for every weight type):
 *   K is cut into chunks of KS (the weight kind's stage: 128, MXFP4 256);
 *   chunk ch belongs to k group ch % MM_G (MM_G = 4). An output element is
 *     acc_g = +0, then the chunks of group g in increasing k, each added by
 *             the kind's per-block / per-chunk steps above;
 *     out   = ((acc_0 + acc_1) + acc_2) + acc_3   (fp32, in group order;
 *             empty groups, K < 4 KS, add +0).
 *   Variants differ only in which warp runs a group, never in the order:
 *   WKS = MM_G (mat-vec and small batches: the k-split is what keeps many
 *   warps streaming weights when the grid has few row tiles): the warps of
 *   split ks run group ks, stage st holds chunks 4st .. 4st+3; split 0 adds
 *   the others in order through shared memory. WKS = 1 (larger tiles): one
 *   warp runs the groups in turn, its stages go through the chunks
 *   group-major (0, 4, 8, .., 1, 5, ..); at the end of each group the warp
 *   folds acc into the running total, which it keeps in the output elements
 *   themselves (3 read-modify-writes of the tile per call: the total in
 *   registers would not fit the 128 x 64 tile, in shared memory it would
 *   cost occupancy). The mma's output element (row, column) depends only on
 *   that row and that column's fragments and on its accumulator, so the
 *   position of a column in a tile does not matter either. mm_f32 is
 *   per column already (a warp per row, each column its own lanes' sums).
 *   No atomics on floats: repeated runs give the same bits.
 *
 * Launch geometry (mm_tc variants by columns per tile, BN x BMC, warps WMxWKS):
 *   M <= 8:  16 x 8   (1 x 4 warps, k split in 4), 4 stages  - decode mat-vec
 *   M <= 16: 16 x 16  (1 x 4, k split in 4), 3 stages
 *   M <= 32: 64 x 32  (4 x 1), 3 stages
 *   larger:  128 x 64 (4 x 1), 2 stages                    - prefill
 *   grid (ceil(N / BN), ceil(M / BMC) or the work-list bound, batches).
 *   One column (MUL_MAT M = 1, MUL_MAT_ID with one token) of Q8_0, MXFP4,
 *   BF16, F16 weights: mv_kernel instead (see its section: the same terms,
 *   chains and bits; MUL_MAT_ID without mm_route); GDS_CUDA_MV=0 turns it off.
 *   MUL_MAT_ID picks the variant from n_pairs / used experts.
 *   Shared memory per stage: weight slots [k split][row] (WSLOT bytes, odd
 *   multiples of 16 or 11 * 16, so the 8 rows a warp reads at once spread over
 *   the banks), activation slots [k split][column] (ASLOT = 64 or 32 mod 128
 *   bytes: conflict-free 16- / 8-byte fragment loads), scale slots of 16 bytes.
 *   Measured (H100 SXM, mat-vec K=7168 N=16384, weights GB/s at M=1 / M=8)
 *   with the earlier [row][k split] order, which had 4-8-way bank conflicts
 *   in the k-split variants: F8 1530 / 958, MXFP4 752 / 461, Q8_0 951 / 770,
 *   BF16 and F16 2000 / 1490, F32 1183 / 688. The present order is not
 *   measured yet.
 */
#include "common.cuh"

namespace {

/* ---- weight kinds and their stage geometry ------------------------------ */

/* k groups: every output is the sum of MM_G group sums in group order (see the top) */
constexpr int MM_G = 4;

enum mm_kind { MK_F16, MK_BF16, MK_Q8, MK_MXFP4, MK_F8, MK_F8B, MK_F32, MK_NONE };
enum mm_act { MA_F16, MA_BF16, MA_Q8, MA_F8 };

/* KS: k per warp stage; BLK/BB: elements/bytes per weight block (1/2 for the
 * float types); WSLOT: smem bytes of a row's stage slice (16-aligned superset
 * of KS/BLK*BB bytes); AES/ASLOT: activation element size and smem bytes per
 * column (padded against bank conflicts); NSC: activation scale floats per
 * column and stage (SBLK elements per scale). */
template <int T> struct mk;
template <> struct mk<MK_F16> { static constexpr int KS = 128, BLK = 1, BB = 2, WSLOT = 272, AES = 2, ASLOT = 320, NSC = 0, SBLK = 1; };
template <> struct mk<MK_BF16> { static constexpr int KS = 128, BLK = 1, BB = 2, WSLOT = 272, AES = 2, ASLOT = 320, NSC = 0, SBLK = 1; };
template <> struct mk<MK_Q8> { static constexpr int KS = 128, BLK = 32, BB = 34, WSLOT = 176, AES = 1, ASLOT = 160, NSC = 4, SBLK = 32; };
template <> struct mk<MK_MXFP4> { static constexpr int KS = 256, BLK = 32, BB = 17, WSLOT = 176, AES = 2, ASLOT = 544, NSC = 2, SBLK = 128; };
template <> struct mk<MK_F8> { static constexpr int KS = 128, BLK = 128, BB = 129, WSLOT = 144, AES = 2, ASLOT = 320, NSC = 1, SBLK = 128; };
template <> struct mk<MK_F8B> { static constexpr int KS = 128, BLK = 128, BB = 129, WSLOT = 144, AES = 2, ASLOT = 320, NSC = 0, SBLK = 1; };

struct mk_rt { int KS, AES, NSC, SBLK, act; };

static mk_rt mk_get(int kind) {
    switch (kind) {
    case MK_F16: return { 128, 2, 0, 1, MA_F16 };
    case MK_BF16: return { 128, 2, 0, 1, MA_BF16 };
    case MK_Q8: return { 128, 1, 4, 32, MA_Q8 };
    case MK_MXFP4: return { 256, 2, 2, 128, MA_F8 };
    case MK_F8: return { 128, 2, 1, 128, MA_F8 };
    case MK_F8B: return { 128, 2, 0, 1, MA_BF16 };
    default: return { 128, 0, 0, 1, MA_F16 };
    }
}

static int mm_kind_of(int32_t type, int32_t flags) {
    switch (type) {
    case GDS_TYPE_F32: return MK_F32;
    case GDS_TYPE_F16: return MK_F16;
    case GDS_TYPE_BF16: return MK_BF16;
    case GDS_TYPE_Q8_0: return MK_Q8;
    case GDS_TYPE_MXFP4: return MK_MXFP4;
    case GDS_TYPE_F8_E4M3_B128: return (flags & GDS_MM_ACT_BF16) ? MK_F8B : MK_F8;
    default: return MK_NONE;
    }
}

/* scratch layout of the activation rows (R rows of Kp values) and their scales */
struct mm_lay {
    int64_t Kp, ars, srs;
    size_t sc_off, end;
};

static size_t mm_al(size_t x, size_t a) { return (x + a - 1) / a * a; }

static mm_lay mm_layout(int kind, int64_t K, int64_t R) {
    mm_lay l = { 0, 0, 0, 0, 0 };
    if (kind == MK_F32 || kind == MK_NONE) return l;
    const mk_rt t = mk_get(kind);
    l.Kp = (K + t.KS - 1) / t.KS * t.KS;
    l.ars = (int64_t)mm_al((size_t)(l.Kp * t.AES), 16);
    l.srs = t.NSC ? (int64_t)mm_al((size_t)(l.Kp / t.SBLK) * 4, 16) : 0;
    l.sc_off = mm_al((size_t)(R * l.ars), 256);
    l.end = l.sc_off + mm_al((size_t)(R * l.srs), 256);
    return l;
}

/* kernel parameters (by value) */
struct mm_p {
    const char *w;
    int64_t wnb1, wnb2, wnb3, K, N;
    int64_t M, X2, r2, r3;                        /* MUL_MAT batches */
    const int32_t *items, *nitems, *pairs, *off, *cnt; /* MUL_MAT_ID work list (items NULL: MUL_MAT) */
    int32_t nu, nx;
    float *dst;
    const char *act, *sc;                         /* scratch activations, their scales */
    int64_t ars, srs;
    const char *x;                                /* F32 path: x itself */
    int64_t xnb1, xnb2, xnb3, xne1, xne2;
    int cc;                                       /* column capacity of the smem layout */
    float *dstb;                                  /* non-NULL: bf16(out) here too (gds_cu_node.dst_bf16) */
};

/* ---- device helpers ----------------------------------------------------- */

static __device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

static __device__ __forceinline__ void cp16(void *s, const void *g) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(s)), "l"(g) : "memory");
}
/* 16 bytes to shared memory, of which the first n (1..16) are read from g, the rest zero */
static __device__ __forceinline__ void cp16z(void *s, const void *g, uint32_t n) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(s)), "l"(g), "r"(n) : "memory");
}
template <int B> static __device__ __forceinline__ void cpn(void *s, const void *g) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(smem_u32(s)), "l"(g), "n"(B) : "memory");
}
static __device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

/* unaligned little-endian words from shared memory (aligned loads + funnel shifts;
 * may read up to 3 bytes past the last one asked for) */
static __device__ __forceinline__ uint32_t ld4(const uint8_t *p) {
    const uintptr_t a = (uintptr_t)p;
    const uint32_t *q = (const uint32_t *)(a & ~(uintptr_t)3);
    const uint32_t sh = (uint32_t)(a & 3) * 8;
    return __funnelshift_r(q[0], q[1], sh);
}
static __device__ __forceinline__ void ld8(const uint8_t *p, uint32_t &lo, uint32_t &hi) {
    const uintptr_t a = (uintptr_t)p;
    const uint32_t *q = (const uint32_t *)(a & ~(uintptr_t)3);
    const uint32_t sh = (uint32_t)(a & 3) * 8;
    const uint32_t w0 = q[0], w1 = q[1], w2 = q[2];
    lo = __funnelshift_r(w0, w1, sh);
    hi = __funnelshift_r(w1, w2, sh);
}
static __device__ __forceinline__ void ld16(const uint8_t *p, uint32_t (&w)[4]) {
    const uintptr_t a = (uintptr_t)p;
    const uint32_t *q = (const uint32_t *)(a & ~(uintptr_t)3);
    const uint32_t sh = (uint32_t)(a & 3) * 8;
    const uint32_t w0 = q[0], w1 = q[1], w2 = q[2], w3 = q[3], w4 = q[4];
    w[0] = __funnelshift_r(w0, w1, sh);
    w[1] = __funnelshift_r(w1, w2, sh);
    w[2] = __funnelshift_r(w2, w3, sh);
    w[3] = __funnelshift_r(w3, w4, sh);
}

static __device__ __forceinline__ uint32_t hmul2(uint32_t a, uint32_t b) {
    uint32_t r;
    asm("mul.rn.f16x2 %0, %1, %2;\n" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* the mma A fragment words of one MXFP4 qs word w (8 nibbles) for half h of
 * the lane's rows: nibble n -> the high byte of f16(e2m1(n) * 2^-14) (sign to
 * bit 7, magnitude bits to 3..1), then * 2^15 gives f16(kv) exactly; the low
 * nibbles go to a0[h], a0[2 + h], the high ones to a1[h], a1[2 + h] */
static __device__ __forceinline__ void mx_frag(uint32_t w, int h, uint32_t *a0, uint32_t *a1) {
    uint32_t lo = w & 0x0f0f0f0fu, hi = (w >> 4) & 0x0f0f0f0fu;
    lo = (lo & 0x08080808u) * 14u + (lo << 1);
    hi = (hi & 0x08080808u) * 14u + (hi << 1);
    a0[h] = hmul2(__byte_perm(lo, 0, 0x1404), 0x78007800u);
    a0[2 + h] = hmul2(__byte_perm(lo, 0, 0x3424), 0x78007800u);
    a1[h] = hmul2(__byte_perm(hi, 0, 0x1404), 0x78007800u);
    a1[2 + h] = hmul2(__byte_perm(hi, 0, 0x3424), 0x78007800u);
}

/* two e4m3 codes (low byte -> low half) to f16x2, exact. Before sm_89 (no
 * cvt.f16x2.e4m3x2): the code's bits placed as f16 bits give e4m3 * 2^-8
 * (subnormals included), times 2^8; NaN codes give +-480 there. */
static __device__ __forceinline__ uint32_t e4m3x2_f16x2(uint32_t v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    uint32_t r;
    const unsigned short h = (unsigned short)(v & 0xffffu);
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(r) : "h"(h));
    return r;
#else
    const uint32_t t = __byte_perm(v, 0, 0x4140);
    return hmul2(((t & 0x007f007fu) << 7) | ((t & 0x00800080u) << 8), 0x5c005c00u);
#endif
}
static __device__ __forceinline__ float f16_lo(uint32_t v) {
    float f;
    const unsigned short h = (unsigned short)(v & 0xffffu);
    asm("cvt.f32.f16 %0, %1;\n" : "=f"(f) : "h"(h));
    return f;
}
/* bf16x2 of (lo, hi), RNE */
static __device__ __forceinline__ uint32_t bf16x2(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
/* D = A * B + D, m16n8k16, fp32 accumulator */
static __device__ __forceinline__ void mma_f16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
static __device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
/* D = A * B (s8, m16n8k32, s32 accumulator from zero) */
static __device__ __forceinline__ void mma_s8(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};\n"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1), "r"(0));
}

/* acc + p * s, two roundings (as the CPU: t = p * s; acc = acc + t) */
static __device__ __forceinline__ float mm_blk(float acc, float p, float s) { return __fadd_rn(acc, __fmul_rn(p, s)); }

/* this CTA's weight matrix and columns: col_act = activation row (row space of
 * x: i1 + ne1*(i2 + ne2*i3)), col_dst = float offset of the output column */
template <int BMC>
static __device__ bool mm_cols(const mm_p &p, const char *&wb, int &ncols, int64_t *col_act, int64_t *col_dst) {
    const int tid = threadIdx.x;
    if (p.items) {
        const int y = (int)blockIdx.y;
        if (y >= *p.nitems) return false;
        const int e = p.items[2 * y], j0 = p.items[2 * y + 1];
        wb = p.w + (int64_t)e * p.wnb2;
        ncols = min(BMC, p.cnt[e] - j0);
        if (tid < ncols) {
            const int pr = p.pairs[p.off[e] + j0 + tid];
            const int i = pr % p.nu, t = pr / p.nu;
            col_act[tid] = (int64_t)(i % p.nx) + (int64_t)t * p.nx;
            col_dst[tid] = (int64_t)pr * p.N;
        }
    } else {
        const int64_t z = blockIdx.z, i2 = z % p.X2, i3 = z / p.X2;
        wb = p.w + (i2 / p.r2) * p.wnb2 + (i3 / p.r3) * p.wnb3;
        const int64_t j0 = (int64_t)blockIdx.y * BMC;
        ncols = (int)min((int64_t)BMC, p.M - j0);
        if (tid < ncols) {
            col_act[tid] = z * p.M + j0 + tid;
            col_dst[tid] = (z * p.M + j0 + tid) * p.N;
        }
    }
    return true;
}

/* ---- phase 1: activation quantization ----------------------------------- */

/* one warp per 128 values of a row (lane: 4 consecutive values) */
template <int AK>
__global__ void __launch_bounds__(256) mm_quant_kernel(const char *x, int64_t K, int64_t Kp, int64_t xne1, int64_t xne2,
                                                       int64_t nb1, int64_t nb2, int64_t nb3, int64_t nrows, char *act,
                                                       int64_t ars, char *sc, int64_t srs) {
    const int lane = threadIdx.x & 31;
    const int64_t nch = Kp / 128, total = nrows * nch;
    const int64_t step = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t wi = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; wi < total; wi += step) {
        const int64_t r = wi / nch, ch = wi % nch;
        const int64_t i1 = r % xne1, i2 = (r / xne1) % xne2, i3 = r / (xne1 * xne2);
        const float *xr = (const float *)(x + i1 * nb1 + i2 * nb2 + i3 * nb3);
        const int64_t k = ch * 128 + 4 * lane;
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) v[j] = k + j < K ? xr[k + j] : 0.0f;
        char *ar = act + r * ars;
        if constexpr (AK == MA_F8) {
            /* f8_from_float (types.c): amax floored at 1e-4, s = 2^ceil(log2(amax/448)) */
            float am = 0.0f;
#pragma unroll
            for (int j = 0; j < 4; j++) am = fmaxf(am, fabsf(v[j])); /* NaN ignored, as the CPU's compare */
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
            if (am < 1e-4f) am = 1e-4f;
            const float t = __fmul_rn(am, 1.0f / 448.0f);
            int e = gds_pow2_ceil_exp(t);
            if (e > 127) e = 127;
            const float s = gds_bits_f32((uint32_t)(e + 127) << 23);
            uint32_t h[4];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float q = __fdiv_rn(v[j], s);
                q = q > 448.0f ? 448.0f : q < -448.0f ? -448.0f : q;
                h[j] = gds_fp32_to_fp16(gds_e4m3_to_fp32(gds_fp32_to_e4m3(q)));
            }
            *(uint2 *)(ar + k * 2) = make_uint2(h[0] | h[1] << 16, h[2] | h[3] << 16);
            if (lane == 0) ((float *)(sc + r * srs))[ch] = gds_e8m0_to_fp32((uint8_t)(e + 127));
        } else if constexpr (AK == MA_Q8) {
            /* q8_0_from_float (ggml's reference): 8 lanes per 32-block */
            float am = 0.0f;
#pragma unroll
            for (int j = 0; j < 4; j++) am = fmaxf(am, fabsf(v[j]));
#pragma unroll
            for (int o = 4; o > 0; o >>= 1) am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
            const float d = __fdiv_rn(am, 127.0f);
            const float id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
            const uint16_t dh = gds_fp32_to_fp16(d);
            uint32_t qv = 0;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float q = roundf(__fmul_rn(v[j], id));
                q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q == q ? q : 0.0f;
                qv |= (uint32_t)(uint8_t)(int8_t)q << (8 * j);
            }
            *(uint32_t *)(ar + k) = qv;
            if ((lane & 7) == 0) ((float *)(sc + r * srs))[k / 32] = gds_fp16_to_fp32(dh);
        } else {
            uint32_t h[4];
#pragma unroll
            for (int j = 0; j < 4; j++) h[j] = AK == MA_F16 ? gds_fp32_to_fp16(v[j]) : gds_fp32_to_bf16(v[j]);
            *(uint2 *)(ar + k * 2) = make_uint2(h[0] | h[1] << 16, h[2] | h[3] << 16);
        }
    }
}

/* ---- phase 2: tensor-core tiles ------------------------------------------ */

template <int T, int MT, int NT, int WM, int WKS, int S>
static __host__ __device__ constexpr int mm_tc_stage(int cc) {
    return 16 * MT * WM * WKS * mk<T>::WSLOT + cc * WKS * mk<T>::ASLOT + (mk<T>::NSC > 0 ? cc * WKS * 16 : 0);
}
template <int T, int MT, int NT, int WM, int WKS, int S>
static __host__ __device__ constexpr int mm_tc_smem(int cc) {
    /* tables | S stages (reused for the k-split reduction) | tail pad for the funnel over-reads */
    return 8 * NT * 16 +
           (S * mm_tc_stage<T, MT, NT, WM, WKS, S>(cc) > WM * WKS * 32 * MT * NT * 16
                ? S * mm_tc_stage<T, MT, NT, WM, WKS, S>(cc)
                : WM * WKS * 32 * MT * NT * 16) +
           64;
}

/* WKS == 1: stage st -> chunk, the chunks in group-major order (group g:
 * chunks g, g + MM_G, g + 2 MM_G, ... in increasing order); *grp = its group */
static __device__ __forceinline__ int mm_gm_chunk(int st, int nch, int *grp) {
    int base = 0;
#pragma unroll
    for (int g = 0; g < MM_G - 1; g++) {
        const int n = (nch - g + MM_G - 1) / MM_G; /* chunks of group g */
        if (st < base + n) {
            *grp = g;
            return g + MM_G * (st - base);
        }
        base += n;
    }
    *grp = MM_G - 1;
    return MM_G - 1 + MM_G * (st - base);
}

/*
 * Fragments (PTX mma.m16n8k16, g = lane/4, c = lane%4): A regs 0/1 hold rows g
 * / g+8 at logical k (2c, 2c+1), regs 2/3 the same rows at (2c+8, 2c+9); B
 * regs 0/1 hold column g at (2c, 2c+1) / (2c+8, 2c+9); C holds rows g, g+8 x
 * columns 2c, 2c+1. A lane's logical k's map to physical k's of its own
 * choosing, the same for A and B: per 32 k, lane c takes k = 8c .. 8c+7
 * (mma step s: 8c+4s .. 8c+4s+3: reg 0 <- the first pair, reg 2 <- the second),
 * MXFP4 takes k = 4c..4c+3 (low nibbles, step 0) and 16+4c..19+4c (high
 * nibbles, step 1). For m16n8k32 s8 (Q8_0) A regs 0/1 hold rows g/g+8 at
 * logical k 4c..4c+3, regs 2/3 at 16+4c..19+4c, B regs 0/1 the same k's:
 * lane c takes physical k = 8c..8c+3 (reg 0) and 8c+4..8c+7 (reg 2).
 */
template <int T, int MT, int NT, int WM, int WKS, int S>
__global__ void __launch_bounds__(WM * WKS * 32) mm_tc_kernel(const mm_p p) {
    typedef mk<T> TR;
    constexpr int NW = WM * WKS, NTH = NW * 32, BN = 16 * MT * WM, BMC = 8 * NT;
    constexpr int KS = TR::KS, QMAX = TR::WSLOT / 16, ACH = TR::KS * TR::AES / 16;
    static_assert(TR::SBLK >= 1 && KS % TR::BLK == 0 && TR::WSLOT % 16 == 0 && TR::ASLOT % 16 == 0, "stage geometry");
    static_assert(WKS == 1 || WKS == MM_G, "a warp runs all k groups in turn, or one group each");
    extern __shared__ __align__(16) uint8_t sm[];
    int64_t *col_act = (int64_t *)sm, *col_dst = col_act + BMC;
    uint8_t *stg = sm + BMC * 16;
    const int cc = p.cc;
    const int wst = BN * WKS * TR::WSLOT, ast = cc * WKS * TR::ASLOT;
    const int stage = mm_tc_stage<T, MT, NT, WM, WKS, S>(cc);

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, c = lane & 3;
    const char *wb;
    int ncols;
    if (!mm_cols<BMC>(p, wb, ncols, col_act, col_dst)) return;
    __syncthreads();

    const int64_t K = p.K, N = p.N, n0 = (int64_t)blockIdx.x * BN;
    /* chunks of KS k; chunk ch is in k group ch % MM_G. WKS == MM_G: stage
     * st holds chunk st * MM_G + ks of each split ks (warps of split ks run
     * group ks); WKS == 1: one chunk a stage, group-major (mm_gm_chunk) */
    const int nch = (int)((K + KS - 1) / KS);
    const int nst = WKS == 1 ? nch : (nch + MM_G - 1) / MM_G;

    auto load = [&](int st, int buf) {
        uint8_t *W = stg + buf * stage, *A = W + wst, *Sc = A + ast;
        int grp;
        const int64_t kb = WKS == 1 ? (int64_t)mm_gm_chunk(st, nch, &grp) * KS : (int64_t)st * KS * WKS;
        for (int i = tid; i < BN * WKS * QMAX; i += NTH) {
            const int q = i % QMAX, rk = i / QMAX, ks = rk % WKS, r = rk / WKS;
            const int64_t n = n0 + r, k0 = kb + (int64_t)ks * KS;
            if (n >= N || k0 >= K) continue;
            const int64_t k1 = k0 + KS < K ? k0 + KS : K;
            const char *row = wb + n * p.wnb1;
            const uintptr_t a0 = (uintptr_t)(row + k0 / TR::BLK * TR::BB), a1 = (uintptr_t)(row + k1 / TR::BLK * TR::BB);
            const uintptr_t src = (a0 & ~(uintptr_t)15) + 16 * (uintptr_t)q;
            if (src < a1) cp16z(W + (ks * BN + r) * TR::WSLOT + 16 * q, (const void *)src, a1 - src < 16 ? (uint32_t)(a1 - src) : 16u);
        }
        for (int i = tid; i < ncols * WKS * ACH; i += NTH) {
            const int q = i % ACH, jk = i / ACH, ks = jk % WKS, j = jk / WKS;
            const int64_t k0 = kb + (int64_t)ks * KS;
            if (k0 >= K) continue;
            cp16(A + (ks * cc + j) * TR::ASLOT + 16 * q, p.act + col_act[j] * p.ars + k0 * TR::AES + 16 * q);
        }
        if constexpr (TR::NSC > 0) {
            for (int i = tid; i < ncols * WKS; i += NTH) {
                const int ks = i % WKS, j = i / WKS;
                const int64_t k0 = kb + (int64_t)ks * KS;
                if (k0 >= K) continue;
                cpn<TR::NSC * 4>(Sc + (ks * cc + j) * 16, p.sc + col_act[j] * p.srs + k0 / TR::SBLK * 4);
            }
        } else {
            (void)Sc;
        }
    };

    const int wm = warp % WM, ks = warp / WM, rb = wm * 16 * MT;
    float acc[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mt][nt][i] = 0.0f;

    auto compute = [&](int st, int buf) {
        int grp;
        const int64_t k0 = WKS == 1 ? (int64_t)mm_gm_chunk(st, nch, &grp) * KS : (int64_t)st * KS * WKS + (int64_t)ks * KS;
        if (k0 >= K) return;
        const int kn = (int)(K - k0 < KS ? K - k0 : KS); /* valid k in this slice */
        const uint8_t *W = stg + buf * stage, *A = W + wst, *Sc = A + ast;
        const uint8_t *rp[MT][2];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int r = rb + 16 * mt + g + 8 * h;
                const uintptr_t a0 = (uintptr_t)(wb + (n0 + r) * p.wnb1 + k0 / TR::BLK * TR::BB);
                rp[mt][h] = W + (ks * BN + r) * TR::WSLOT + (a0 & 15);
            }
        /* column slots; columns past the capacity read column 0 (results unused) */
        const uint8_t *ap[NT];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            const int col = 8 * nt + g;
            ap[nt] = A + (ks * cc + (col < cc ? col : 0)) * TR::ASLOT;
        }
        auto scl = [&](int col, int i) -> float {
            return ((const float *)(Sc + (ks * cc + (col < cc ? col : 0)) * 16))[i];
        };
        (void)scl;

        /* the chunk's sum from zero (float types: mma chain over its k) */
        float part[MT][NT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) part[mt][nt][i] = 0.0f;
        /* acc = acc + part (float types: once per chunk) */
        auto add_part = [&]() {
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++) acc[mt][nt][i] = __fadd_rn(acc[mt][nt][i], part[mt][nt][i]);
        };
        (void)add_part;

        if constexpr (T == MK_F16 || T == MK_BF16) {
            const int nu = (kn + 31) / 32;
            for (int u = 0; u < nu; u++) {
                uint32_t a[MT][2][4];
                const bool tail = 32 * u + 32 > kn;
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        uint32_t w[4];
                        ld16(rp[mt][h] + 64 * u + 16 * c, w);
                        if (tail) { /* zero the weights past K (the activations are zero there) */
#pragma unroll
                            for (int i = 0; i < 4; i++) {
                                const int e = 32 * u + 8 * c + 2 * i;
                                if (e >= kn) w[i] = 0;
                                else if (e + 1 >= kn) w[i] &= 0xffffu;
                            }
                        }
                        a[mt][0][h] = w[0]; a[mt][0][2 + h] = w[1];
                        a[mt][1][h] = w[2]; a[mt][1][2 + h] = w[3];
                    }
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const uint4 b = *(const uint4 *)(ap[nt] + (32 * u + 8 * c) * 2);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        if constexpr (T == MK_F16) {
                            mma_f16(part[mt][nt], a[mt][0], b.x, b.y);
                            mma_f16(part[mt][nt], a[mt][1], b.z, b.w);
                        } else {
                            mma_bf16(part[mt][nt], a[mt][0], b.x, b.y);
                            mma_bf16(part[mt][nt], a[mt][1], b.z, b.w);
                        }
                    }
                }
            }
            add_part();
        } else if constexpr (T == MK_F8B) {
            /* one 128-block: w = e4m3 * 2^(e-127) in fp32, then bf16 (exact) */
            float sw[MT][2];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++) sw[mt][h] = gds_e8m0_to_fp32(*rp[mt][h]);
#pragma unroll 1
            for (int u = 0; u < 4; u++) {
                uint32_t a[MT][2][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        uint32_t lo, hi;
                        ld8(rp[mt][h] + 1 + 32 * u + 8 * c, lo, hi);
                        const uint32_t v[4] = { e4m3x2_f16x2(lo), e4m3x2_f16x2(lo >> 16), e4m3x2_f16x2(hi), e4m3x2_f16x2(hi >> 16) };
                        uint32_t o[4];
#pragma unroll
                        for (int i = 0; i < 4; i++)
                            o[i] = bf16x2(__fmul_rn(f16_lo(v[i]), sw[mt][h]), __fmul_rn(f16_lo(v[i] >> 16), sw[mt][h]));
                        a[mt][0][h] = o[0]; a[mt][0][2 + h] = o[1];
                        a[mt][1][h] = o[2]; a[mt][1][2 + h] = o[3];
                    }
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const uint4 b = *(const uint4 *)(ap[nt] + (32 * u + 8 * c) * 2);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_bf16(part[mt][nt], a[mt][0], b.x, b.y);
                        mma_bf16(part[mt][nt], a[mt][1], b.z, b.w);
                    }
                }
            }
            add_part();
        } else if constexpr (T == MK_F8) {
            /* one 128-block: p = sum of the 128 exact e4m3 products, acc += p * (sw * sa) */
#pragma unroll 1
            for (int u = 0; u < 4; u++) {
                uint32_t a[MT][2][4];
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        uint32_t lo, hi;
                        ld8(rp[mt][h] + 1 + 32 * u + 8 * c, lo, hi);
                        a[mt][0][h] = e4m3x2_f16x2(lo); a[mt][0][2 + h] = e4m3x2_f16x2(lo >> 16);
                        a[mt][1][h] = e4m3x2_f16x2(hi); a[mt][1][2 + h] = e4m3x2_f16x2(hi >> 16);
                    }
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const uint4 b = *(const uint4 *)(ap[nt] + (32 * u + 8 * c) * 2);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        mma_f16(part[mt][nt], a[mt][0], b.x, b.y);
                        mma_f16(part[mt][nt], a[mt][1], b.z, b.w);
                    }
                }
            }
            float sw[MT][2];
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int h = 0; h < 2; h++) sw[mt][h] = gds_e8m0_to_fp32(*rp[mt][h]);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                const float sa0 = scl(8 * nt + 2 * c, 0), sa1 = scl(8 * nt + 2 * c + 1, 0);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    acc[mt][nt][0] = mm_blk(acc[mt][nt][0], part[mt][nt][0], __fmul_rn(sw[mt][0], sa0));
                    acc[mt][nt][1] = mm_blk(acc[mt][nt][1], part[mt][nt][1], __fmul_rn(sw[mt][0], sa1));
                    acc[mt][nt][2] = mm_blk(acc[mt][nt][2], part[mt][nt][2], __fmul_rn(sw[mt][1], sa0));
                    acc[mt][nt][3] = mm_blk(acc[mt][nt][3], part[mt][nt][3], __fmul_rn(sw[mt][1], sa1));
                }
            }
        } else if constexpr (T == MK_MXFP4) {
            /* 32-blocks: q = sum kv * e4m3, p = q * 512, acc += p * ((sa * 2^-9) * sw) */
            const int nb = kn / 32;
            for (int j = 0; j < nb; j++) {
                uint32_t a[MT][2][4];
                float sw[MT][2];
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const uint8_t *bp = rp[mt][h] + 17 * j;
                        sw[mt][h] = gds_e8m0_to_fp32_half(bp[0]);
                        mx_frag(ld4(bp + 1 + 4 * c), h, a[mt][0], a[mt][1]);
                    }
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const uint8_t *bq = ap[nt] + (32 * j + 4 * c) * 2;
                    const uint2 b0 = *(const uint2 *)bq, b1 = *(const uint2 *)(bq + 32);
                    const float sa0 = __fmul_rn(scl(8 * nt + 2 * c, j >> 2), 0x1p-9f);
                    const float sa1 = __fmul_rn(scl(8 * nt + 2 * c + 1, j >> 2), 0x1p-9f);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        float q[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
                        mma_f16(q, a[mt][0], b0.x, b0.y);
                        mma_f16(q, a[mt][1], b1.x, b1.y);
                        acc[mt][nt][0] = mm_blk(acc[mt][nt][0], __fmul_rn(q[0], 512.0f), __fmul_rn(sa0, sw[mt][0]));
                        acc[mt][nt][1] = mm_blk(acc[mt][nt][1], __fmul_rn(q[1], 512.0f), __fmul_rn(sa1, sw[mt][0]));
                        acc[mt][nt][2] = mm_blk(acc[mt][nt][2], __fmul_rn(q[2], 512.0f), __fmul_rn(sa0, sw[mt][1]));
                        acc[mt][nt][3] = mm_blk(acc[mt][nt][3], __fmul_rn(q[3], 512.0f), __fmul_rn(sa1, sw[mt][1]));
                    }
                }
            }
        } else if constexpr (T == MK_Q8) {
            /* 32-blocks: exact int32 sums, acc += (float)isum * (dw * da) */
            const int nb = kn / 32;
            for (int j = 0; j < nb; j++) {
                uint32_t a[MT][4];
                float dw[MT][2];
#pragma unroll
                for (int mt = 0; mt < MT; mt++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const uint8_t *bp = rp[mt][h] + 34 * j;
                        dw[mt][h] = gds_fp16_to_fp32((uint16_t)(bp[0] | bp[1] << 8));
                        uint32_t lo, hi;
                        ld8(bp + 2 + 8 * c, lo, hi);
                        a[mt][h] = lo;
                        a[mt][2 + h] = hi;
                    }
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const uint2 b = *(const uint2 *)(ap[nt] + 32 * j + 8 * c);
                    const float da0 = scl(8 * nt + 2 * c, j), da1 = scl(8 * nt + 2 * c + 1, j);
#pragma unroll
                    for (int mt = 0; mt < MT; mt++) {
                        int q[4];
                        mma_s8(q, a[mt], b.x, b.y);
                        acc[mt][nt][0] = mm_blk(acc[mt][nt][0], __int2float_rn(q[0]), __fmul_rn(dw[mt][0], da0));
                        acc[mt][nt][1] = mm_blk(acc[mt][nt][1], __int2float_rn(q[1]), __fmul_rn(dw[mt][0], da1));
                        acc[mt][nt][2] = mm_blk(acc[mt][nt][2], __int2float_rn(q[2]), __fmul_rn(dw[mt][1], da0));
                        acc[mt][nt][3] = mm_blk(acc[mt][nt][3], __int2float_rn(q[3]), __fmul_rn(dw[mt][1], da1));
                    }
                }
            }
        }
    };

    /* S-stage cp.async pipeline: stage st lives in buffer st % S */
#pragma unroll 1
    for (int st = 0; st < S - 1; st++) {
        if (st < nst) load(st, st);
        cp_commit();
    }
    /* WKS == 1: group gd is done: tot = acc (gd = 0) or tot + acc, acc = 0.
     * tot is kept in the output itself (each element is this lane's alone,
     * so it reads back what it wrote; outputs outside N x ncols are dropped):
     * registers would not fit the prefill tile, shared memory would cost
     * occupancy, and this is MM_G - 1 round trips of the tile per K */
    constexpr int NV = MT * NT * 4;
    int gcur = 0;
    auto out = [&](int mt, int nt, int i) -> float * {
        const int64_t n = n0 + rb + 16 * mt + g + 8 * (i >> 1);
        const int col = 8 * nt + 2 * c + (i & 1);
        return n < N && col < ncols ? p.dst + col_dst[col] + n : nullptr;
    };
    auto fold = [&](int gd) {
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float *q = out(mt, nt, i);
                    if (q) *q = gd == 0 ? acc[mt][nt][i] : __fadd_rn(*q, acc[mt][nt][i]);
                    acc[mt][nt][i] = 0.0f;
                }
    };
    (void)fold;
    (void)gcur;
    (void)out;

#pragma unroll 1
    for (int st = 0; st < nst; st++) {
        cp_wait<S - 2>();
        __syncthreads();
        if (st + S - 1 < nst) load(st + S - 1, (st + S - 1) % S);
        cp_commit();
        if constexpr (WKS == 1) {
            int grp;
            mm_gm_chunk(st, nch, &grp);
            while (gcur < grp) fold(gcur++);
        }
        compute(st, st % S);
    }
    cp_wait<0>();
    __syncthreads();

    if constexpr (WKS == 1) {
        /* the groups left (empty when nch < MM_G: + 0), then acc = tot + the last group */
        while (gcur < MM_G - 1) fold(gcur++);
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float *q = out(mt, nt, i);
                    if (q) acc[mt][nt][i] = __fadd_rn(*q, acc[mt][nt][i]);
                }
    }

    /* k splits (one group each): split 0 adds the others in order */
    if constexpr (WKS > 1) {
        float *red = (float *)stg;
        if (ks > 0) {
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++) red[(warp * NV + (mt * NT + nt) * 4 + i) * 32 + lane] = acc[mt][nt][i];
        }
        __syncthreads();
        if (ks > 0) return;
#pragma unroll 1
        for (int s2 = 1; s2 < WKS; s2++) {
            const int w2 = s2 * WM + wm;
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int i = 0; i < 4; i++)
                        acc[mt][nt][i] = __fadd_rn(acc[mt][nt][i], red[(w2 * NV + (mt * NT + nt) * 4 + i) * 32 + lane]);
        }
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int64_t n = n0 + rb + 16 * mt + g + 8 * (i >> 1);
                const int col = 8 * nt + 2 * c + (i & 1);
                if (n < N && col < ncols) {
                    p.dst[col_dst[col] + n] = acc[mt][nt][i];
                    if (p.dstb) p.dstb[col_dst[col] + n] = gds_round_bf16(acc[mt][nt][i]);
                }
            }
}

/* ---- F32 weights ---------------------------------------------------------- */

/* 4 warps = 4 weight rows x up to 8 columns; lane sums k = lane + 32 i with
 * fmaf, then a fixed xor-shuffle tree */
__global__ void __launch_bounds__(128) mm_f32_kernel(const mm_p p) {
    __shared__ int64_t col_act[8], col_dst[8];
    const char *wb;
    int ncols;
    if (!mm_cols<8>(p, wb, ncols, col_act, col_dst)) return;
    __syncthreads();
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * 4 + (threadIdx.x >> 5);
    if (n >= p.N) return;
    const float *wr = (const float *)(wb + n * p.wnb1);
    const float *xc[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int64_t r = col_act[j < ncols ? j : 0];
        xc[j] = (const float *)(p.x + (r % p.xne1) * p.xnb1 + ((r / p.xne1) % p.xne2) * p.xnb2 + (r / (p.xne1 * p.xne2)) * p.xnb3);
    }
    float acc[8];
#pragma unroll
    for (int j = 0; j < 8; j++) acc[j] = 0.0f;
    for (int64_t k = lane; k < p.K; k += 32) {
        const float wv = wr[k];
#pragma unroll
        for (int j = 0; j < 8; j++)
            if (j < ncols) acc[j] = fmaf(wv, xc[j][k], acc[j]);
    }
#pragma unroll
    for (int j = 0; j < 8; j++) {
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) acc[j] = __fadd_rn(acc[j], __shfl_xor_sync(0xffffffffu, acc[j], o));
        if (lane == j && j < ncols) {
            p.dst[col_dst[j] + n] = acc[j];
            if (p.dstb) p.dstb[col_dst[j] + n] = gds_round_bf16(acc[j]);
        }
    }
}

/* ---- MUL_MAT_ID routing ---------------------------------------------------- */

/* One CTA. Pairs p = i + t*nu. cnt/off per expert, pairs sorted by expert
 * (stable: a chunk of blockDim pairs at a time, ranks inside a warp from
 * __match_any_sync, warp bases from a per-expert scan over the warps), the
 * work list items = (expert, first column) per BMC columns, nitems; the
 * output rows of pairs with ids outside [0, E) are zeroed here (also in dstb
 * when it is set). */
__global__ void mm_route_kernel(const char *ids, int64_t inb0, int64_t inb1, int nu, int T, int E, int bmc, float *dst,
                                float *dstb, int64_t N, int32_t *cnt_g, int32_t *off_g, int32_t *pairs, int32_t *items, int32_t *nitems) {
    extern __shared__ int rsm[];
    int *cnt = rsm, *cur = rsm + E, *wc = rsm + 2 * E;
    const int nth = blockDim.x, nw = nth >> 5, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int n = nu * T;
    for (int e = tid; e < E; e += nth) cnt[e] = 0;
    __syncthreads();
    for (int q = tid; q < n; q += nth) {
        const int e = *(const int32_t *)(ids + (int64_t)(q % nu) * inb0 + (int64_t)(q / nu) * inb1);
        if (e >= 0 && e < E) atomicAdd(&cnt[e], 1); /* integer counts: order-free */
        else {
            float *o = dst + (int64_t)q * N;
            for (int64_t k = 0; k < N; k++) o[k] = 0.0f;
            if (dstb)
                for (int64_t k = 0; k < N; k++) dstb[(int64_t)q * N + k] = 0.0f;
        }
    }
    __syncthreads();
    if (tid == 0) {
        int run = 0, ni = 0;
        for (int e = 0; e < E; e++) {
            off_g[e] = run;
            cur[e] = run;
            cnt_g[e] = cnt[e];
            for (int j0 = 0; j0 < cnt[e]; j0 += bmc) {
                items[2 * ni] = e;
                items[2 * ni + 1] = j0;
                ni++;
            }
            run += cnt[e];
        }
        *nitems = ni;
    }
    __syncthreads();
    for (int base = 0; base < n; base += nth) {
        for (int i = tid; i < nw * E; i += nth) wc[i] = 0;
        __syncthreads();
        const int q = base + tid;
        int e = -1;
        if (q < n) {
            e = *(const int32_t *)(ids + (int64_t)(q % nu) * inb0 + (int64_t)(q / nu) * inb1);
            if (e < 0 || e >= E) e = -1;
        }
        const unsigned peers = __match_any_sync(0xffffffffu, e);
        const int rank = __popc(peers & ((1u << lane) - 1u));
        if (e >= 0 && rank == 0) wc[warp * E + e] = __popc(peers);
        __syncthreads();
        for (int ee = tid; ee < E; ee += nth) {
            int run = cur[ee];
            for (int w = 0; w < nw; w++) {
                const int t = wc[w * E + ee];
                wc[w * E + ee] = run;
                run += t;
            }
            cur[ee] = run;
        }
        __syncthreads();
        if (e >= 0) pairs[wc[warp * E + e] + rank] = q;
        __syncthreads();
    }
}

/* ---- one column: mat-vec kernels (MUL_MAT with M = 1, MUL_MAT_ID with one token) ----
 *
 * The same bits as mm_tc (see "One order for every M" at the top), computed
 * in three phases per slab of SC chunks (KS k each) of R weight rows:
 *   stage: the slab's bytes of the R rows, 16-byte cp.async copies of each
 *     row slice's 16-aligned superset (as mm_tc's load), double-buffered:
 *     slab s + 1 is in flight while slab s is computed;
 *   terms: every term that mm_tc adds into an accumulator, each computed
 *     alone, in any order, by whichever thread or warp, into shared memory:
 *       Q8_0:  per 32-block (float)isum * (dw * da), isum the exact int32 dot
 *              (dp4a: an exact integer, so the mma's value) - a thread per block;
 *       MXFP4: per 32-block (q * 512) * ((sa * 2^-9) * sw), q from the same two
 *              mma.m16n8k16 steps, fed the same fragments (a lane holds the same
 *              k's of the same rows as in mm_tc, and the column's activations in
 *              every column) - a warp per 16 rows x block;
 *       BF16 / F16: per 128-chunk the 8-step mma chain from zero, as mm_tc;
 *   chains: thread (r, g) adds row r's terms of group g (chunks g, g + 4, ...
 *     in increasing k, blocks in order) into acc_g, fp32 __fadd_rn from +0,
 *     kept across slabs; at the end ((acc_0 + acc_1) + acc_2) + acc_3.
 * So every output element is the sum mm_tc forms, step for step, for any
 * grid (the mma's output element depends only on its row, its column and its
 * accumulator: mm_tc relies on that too). Why: at M = 1 mm_tc ran 16 rows per
 * 4-warp CTA with a k-split, a barrier per 128..256 k and ~40 instructions of
 * copy-loop per cp.async; these kernels keep 5..12 CTAs of 4 warps busy per SM
 * with 9..35 KB of weights in flight each, and MUL_MAT_ID skips mm_route (one
 * CTA whose thread 0 walked all E experts). GDS_CUDA_MV=0: mm_tc as before.
 */

/* kernel parameters: columns y of the grid (MUL_MAT: batch z = y, its
 * activation row y; MUL_MAT_ID: slot y of the one token) */
struct mv_p {
    const char *w;
    int64_t wnb1, wnb2, wnb3, K, N;
    int64_t X2, r2, r3;
    const char *ids;    /* MUL_MAT_ID: slot y's expert at ids + y * inb0; NULL: MUL_MAT */
    int64_t inb0;
    int32_t E, nx;
    float *dst, *dstb;
    const char *act, *sc;
    int64_t ars, srs;
    int R;              /* rows per CTA (Q8_0: 1..32; mma kinds: 16) */
};

/* per kind: KS k per chunk, CB bytes of a row's chunk, TPC terms per chunk,
 * SCH chunks per slab and row (at R rows: Q8_0 64 / R) */
template <int T> struct mv_t;
template <> struct mv_t<MK_Q8> { static constexpr int KS = 128, CB = 136, TPC = 4; };
template <> struct mv_t<MK_MXFP4> { static constexpr int KS = 256, CB = 136, TPC = 8, SCH = 8; };
template <> struct mv_t<MK_BF16> { static constexpr int KS = 128, CB = 256, TPC = 1, SCH = 4; };
template <> struct mv_t<MK_F16> { static constexpr int KS = 128, CB = 256, TPC = 1, SCH = 4; };

/* Q8_0: chunks per slab and row times rows = 64 (8.7 KB a slab) */
constexpr int MV_Q8_SLAB = 64;

/* slot bytes of a row's slab: SC chunks, the superset's leading 0..15
 * bytes, and 16 of tail pad for the funnel reads (ld4 / ld16 read past) */
static __host__ __device__ constexpr int mv_slot(int sc, int cb) { return (sc * cb + 15) / 16 * 16 + 32; }

template <int T>
static __host__ __device__ constexpr int mv_smem(int R, int SC) {
    return 2 * R * mv_slot(SC, mv_t<T>::CB) + R * SC * mv_t<T>::TPC * 4;
}

template <int T>
__global__ void __launch_bounds__(128) mv_kernel(const mv_p p, const int SC) {
    typedef mv_t<T> TR;
    constexpr int KS = TR::KS, CB = TR::CB, TPC = TR::TPC;
    extern __shared__ __align__(16) uint8_t sm[];
    const int R = p.R, SLOT = mv_slot(SC, CB), TS = SC * TPC;
    float *tt = (float *)(sm + 2 * R * SLOT); /* terms [R][TS] */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t y = blockIdx.y, n0 = (int64_t)blockIdx.x * R, K = p.K, N = p.N;

    const char *wb;
    int64_t arow = 0;
    bool ok = true;
    if (p.ids) {
        const int e = *(const int32_t *)(p.ids + y * p.inb0);
        ok = e >= 0 && e < p.E;
        wb = p.w + (int64_t)(ok ? e : 0) * p.wnb2;
        arow = y % p.nx;
    } else {
        const int64_t i2 = y % p.X2, i3 = y / p.X2;
        wb = p.w + (i2 / p.r2) * p.wnb2 + (i3 / p.r3) * p.wnb3;
        arow = y;
    }
    if (!ok) { /* an id outside [0, E): a zero row (as mm_route) */
        for (int r = tid; r < R; r += 128)
            if (n0 + r < N) {
                p.dst[y * N + n0 + r] = 0.0f;
                if (p.dstb) p.dstb[y * N + n0 + r] = 0.0f;
            }
        return;
    }
    const char *act = p.act + arow * p.ars;
    const float *sca = (const float *)(p.sc + arow * p.srs);
    const int nch = (int)((K + KS - 1) / KS);
    const int nterm = TPC == 1 ? nch : (int)(K / 32); /* Q8_0 / MXFP4: 32-blocks */
    const int nslab = (nch + SC - 1) / SC;

    /* byte range of row r's slab s: [a0, a1) */
    auto range = [&](int r, int s, uintptr_t &a0, uintptr_t &a1) {
        const char *row = wb + (n0 + r) * p.wnb1;
        const int64_t k0 = (int64_t)s * SC * KS, k1 = min(k0 + (int64_t)SC * KS, K);
        if constexpr (T == MK_BF16 || T == MK_F16) {
            a0 = (uintptr_t)(row + k0 * 2);
            a1 = (uintptr_t)(row + k1 * 2);
        } else {
            a0 = (uintptr_t)(row + k0 / 32 * (CB / (KS / 32)));
            a1 = (uintptr_t)(row + k1 / 32 * (CB / (KS / 32)));
        }
    };
    auto load = [&](int s) {
        uint8_t *buf = sm + (s & 1) * R * SLOT;
        const int QP = SLOT / 16;
        for (int i = tid; i < R * QP; i += 128) {
            const int r = i / QP, q = i - r * QP;
            if (n0 + r >= N) continue;
            uintptr_t a0, a1;
            range(r, s, a0, a1);
            const uintptr_t src = (a0 & ~(uintptr_t)15) + 16 * (uintptr_t)q;
            if (src < a1) cp16z(buf + r * SLOT + 16 * q, (const void *)src, a1 - src < 16 ? (uint32_t)(a1 - src) : 16u);
        }
        cp_commit();
    };

    const int rr = tid >> 2, gg = tid & 3; /* chain thread (row rr, group gg) while tid < 4R */
    float acc = 0.0f;

    load(0);
#pragma unroll 1
    for (int s = 0; s < nslab; s++) {
        if (s + 1 < nslab) {
            load(s + 1);
            cp_wait<1>();
        } else {
            cp_wait<0>();
        }
        __syncthreads(); /* slab s is in, the chains of slab s - 1 are done with tt */
        const uint8_t *buf = sm + (s & 1) * R * SLOT;
        const int c0 = s * SC, c1 = min(c0 + SC, nch);

        if constexpr (T == MK_Q8) {
            /* a thread per (row, 32-block) */
            const int b0 = c0 * 4, nbs = min(c1 * 4, nterm) - b0;
            for (int i = tid; i < R * nbs; i += 128) {
                const int r = i / nbs, jb = i - r * nbs;
                if (n0 + r >= N) continue;
                uintptr_t a0, a1;
                range(r, s, a0, a1);
                const uint8_t *bp = buf + r * SLOT + (a0 & 15) + 34 * jb;
                const float dw = gds_fp16_to_fp32((uint16_t)(bp[0] | bp[1] << 8));
                uint32_t wq[4], wr[4];
                ld16(bp + 2, wq);
                ld16(bp + 18, wr);
                const uint4 xa = *(const uint4 *)(act + (int64_t)(b0 + jb) * 32);
                const uint4 xb = *(const uint4 *)(act + (int64_t)(b0 + jb) * 32 + 16);
                int is = 0;
                is = __dp4a((int)wq[0], (int)xa.x, is); is = __dp4a((int)wq[1], (int)xa.y, is);
                is = __dp4a((int)wq[2], (int)xa.z, is); is = __dp4a((int)wq[3], (int)xa.w, is);
                is = __dp4a((int)wr[0], (int)xb.x, is); is = __dp4a((int)wr[1], (int)xb.y, is);
                is = __dp4a((int)wr[2], (int)xb.z, is); is = __dp4a((int)wr[3], (int)xb.w, is);
                tt[r * TS + jb] = __fmul_rn(__int2float_rn(is), __fmul_rn(dw, sca[b0 + jb]));
            }
        } else {
            /* a warp per 16 rows x (block or chunk); lane (g, c) as in mm_tc */
            const int g = lane >> 2, c = lane & 3;
            const uint8_t *rp[2];
#pragma unroll
            for (int h = 0; h < 2; h++) {
                uintptr_t a0, a1;
                range(g + 8 * h, s, a0, a1);
                rp[h] = buf + (g + 8 * h) * SLOT + (a0 & 15);
            }
            if constexpr (T == MK_MXFP4) {
                const int b0 = c0 * 8, nbs = min(c1 * 8, nterm) - b0;
                for (int jb = warp; jb < nbs; jb += 4) {
                    uint32_t a[2][4];
                    float sw[2];
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const uint8_t *bp = rp[h] + 17 * jb;
                        sw[h] = gds_e8m0_to_fp32_half(bp[0]);
                        mx_frag(ld4(bp + 1 + 4 * c), h, a[0], a[1]);
                    }
                    const int64_t kb = (int64_t)(b0 + jb) * 32;
                    const uint8_t *bq = (const uint8_t *)act + (kb + 4 * c) * 2;
                    const uint2 x0 = *(const uint2 *)bq, x1 = *(const uint2 *)(bq + 32);
                    const float sa = __fmul_rn(sca[kb / 128], 0x1p-9f);
                    float q[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
                    mma_f16(q, a[0], x0.x, x0.y);
                    mma_f16(q, a[1], x1.x, x1.y);
                    if (c == 0) {
                        tt[g * TS + jb] = __fmul_rn(__fmul_rn(q[0], 512.0f), __fmul_rn(sa, sw[0]));
                        tt[(g + 8) * TS + jb] = __fmul_rn(__fmul_rn(q[2], 512.0f), __fmul_rn(sa, sw[1]));
                    }
                }
            } else { /* BF16 / F16: per 128-chunk the mma chain from zero */
                for (int lc = warp; lc < c1 - c0; lc += 4) {
                    const int64_t kc = (int64_t)(c0 + lc) * 128;
                    const int kn = (int)(K - kc < 128 ? K - kc : 128);
                    float part[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
                    const int nu = (kn + 31) / 32;
                    for (int u = 0; u < nu; u++) {
                        uint32_t a[2][4];
                        const bool tail = 32 * u + 32 > kn;
#pragma unroll
                        for (int h = 0; h < 2; h++) {
                            uint32_t w[4];
                            ld16(rp[h] + lc * 256 + 64 * u + 16 * c, w);
                            if (tail) {
#pragma unroll
                                for (int i = 0; i < 4; i++) {
                                    const int e = 32 * u + 8 * c + 2 * i;
                                    if (e >= kn) w[i] = 0;
                                    else if (e + 1 >= kn) w[i] &= 0xffffu;
                                }
                            }
                            a[0][h] = w[0]; a[0][2 + h] = w[1];
                            a[1][h] = w[2]; a[1][2 + h] = w[3];
                        }
                        const uint4 b = *(const uint4 *)(act + (kc + 32 * u + 8 * c) * 2);
                        if constexpr (T == MK_F16) {
                            mma_f16(part, a[0], b.x, b.y);
                            mma_f16(part, a[1], b.z, b.w);
                        } else {
                            mma_bf16(part, a[0], b.x, b.y);
                            mma_bf16(part, a[1], b.z, b.w);
                        }
                    }
                    if (c == 0) {
                        tt[g * TS + lc] = part[0];
                        tt[(g + 8) * TS + lc] = part[2];
                    }
                }
            }
        }
        __syncthreads(); /* terms in; buffer s & 1 free for slab s + 2 */

        /* chains: thread (rr, gg) adds its group's terms of this slab in order */
        if (tid < 4 * R) {
            const int cf = c0 + ((gg - c0 % MM_G) + MM_G) % MM_G; /* first chunk of group gg in the slab */
            for (int ch = cf; ch < c1; ch += MM_G)
#pragma unroll
                for (int j = 0; j < TPC; j++)
                    if (ch * TPC + j < nterm) acc = __fadd_rn(acc, tt[rr * TS + (ch - c0) * TPC + j]);
        }
    }

    /* ((acc_0 + acc_1) + acc_2) + acc_3: the group threads are 4 adjacent lanes */
    const float a1 = __shfl_down_sync(0xffffffffu, acc, 1);
    const float a2 = __shfl_down_sync(0xffffffffu, acc, 2);
    const float a3 = __shfl_down_sync(0xffffffffu, acc, 3);
    if (tid < 4 * R && gg == 0 && n0 + rr < N) {
        const float v = __fadd_rn(__fadd_rn(__fadd_rn(acc, a1), a2), a3);
        p.dst[y * N + n0 + rr] = v;
        if (p.dstb) p.dstb[y * N + n0 + rr] = gds_round_bf16(v);
    }
}

/* GDS_CUDA_MV=0: every product through mm_tc (A/B; the same bits) */
static bool mv_on() {
    static int on = -1;
    return cu_switch("GDS_CUDA_MV", &on);
}

static bool mv_kind(int kind) { return kind == MK_Q8 || kind == MK_MXFP4 || kind == MK_BF16 || kind == MK_F16; }

template <int T>
static int mv_go(mv_p p, int64_t ncols, cudaStream_t st) {
    int SC;
    if constexpr (T == MK_Q8) {
        const int64_t nch = (p.K + 127) / 128;
        int R = 32;
        while (R > 1 && (int64_t)R * nch > MV_Q8_SLAB) R >>= 1;
        p.R = R;
        SC = MV_Q8_SLAB / R;
    } else {
        p.R = 16;
        SC = mv_t<T>::SCH;
    }
    if (ncols > 65535) return (int)cudaErrorInvalidConfiguration;
    const int smem = mv_smem<T>(p.R, SC); /* <= 40 KB: no opt-in */
    const dim3 grid((unsigned)((p.N + p.R - 1) / p.R), (unsigned)ncols, 1);
    mv_kernel<T><<<grid, 128, smem, st>>>(p, SC);
    GDS_CU_RETURN_LAST();
}

static int mv_run(int kind, const mv_p &p, int64_t ncols, cudaStream_t st) {
    switch (kind) {
    case MK_Q8: return mv_go<MK_Q8>(p, ncols, st);
    case MK_MXFP4: return mv_go<MK_MXFP4>(p, ncols, st);
    case MK_BF16: return mv_go<MK_BF16>(p, ncols, st);
    case MK_F16: return mv_go<MK_F16>(p, ncols, st);
    default: return (int)cudaErrorNotSupported;
    }
}

static mv_p mv_params(const gds_cu_node *n, const char *scr, const mm_lay &l) {
    const gds_cu_t &w = n->src[0];
    mv_p p;
    memset(&p, 0, sizeof p);
    p.w = w.data;
    p.wnb1 = w.nb[1]; p.wnb2 = w.nb[2]; p.wnb3 = w.nb[3];
    p.K = w.ne[0]; p.N = w.ne[1];
    p.X2 = 1; p.r2 = 1; p.r3 = 1;
    p.dst = (float *)n->dst.data;
    p.dstb = (float *)n->dst_bf16;
    p.act = scr; p.sc = scr + l.sc_off; p.ars = l.ars; p.srs = l.srs;
    return p;
}

/* ---- host side ---------------------------------------------------------------- */

/* variants by columns per tile: 0: 8, 1: 16, 2: 32, 3: 64 */
static int mm_variant(int64_t cols) { return cols <= 8 ? 0 : cols <= 16 ? 1 : cols <= 32 ? 2 : 3; }
static int mm_variant_bmc(int v) { return 8 << v; }

template <int T, int MT, int NT, int WM, int WKS, int S>
static int mm_tc_go(mm_p p, int64_t ncap, int64_t ny, int64_t nz, cudaStream_t st) {
    constexpr int BN = 16 * MT * WM, BMC = 8 * NT;
    p.cc = (int)(ncap < BMC ? ncap : BMC);
    if (p.cc < 1) p.cc = 1;
    const int smem = mm_tc_smem<T, MT, NT, WM, WKS, S>(p.cc);
    static size_t granted[CU_MAX_DEVICES];
    const cudaError_t err = cu_allow_smem(mm_tc_kernel<T, MT, NT, WM, WKS, S>, (size_t)smem, granted);
    if (err != cudaSuccess) return (int)err;
    if (ny > 65535 || nz > 65535) return (int)cudaErrorInvalidConfiguration;
    const dim3 grid((unsigned)((p.N + BN - 1) / BN), (unsigned)ny, (unsigned)nz);
    mm_tc_kernel<T, MT, NT, WM, WKS, S><<<grid, WM * WKS * 32, smem, st>>>(p);
    GDS_CU_RETURN_LAST();
}

/* ny < 0: MUL_MAT (column tiles from M), else the work-list bound */
template <int T>
static int mm_tc_variant(const mm_p &p, int v, int64_t ncap, int64_t ny, int64_t nz, cudaStream_t st) {
    const int64_t bmc = mm_variant_bmc(v);
    const int64_t y = ny >= 0 ? ny : (p.M + bmc - 1) / bmc;
    switch (v) { /* <T, MT, NT, WM, WKS, S>: WKS is MM_G or 1 (same bits either way) */
    case 0: return mm_tc_go<T, 1, 1, 1, MM_G, 4>(p, ncap, y, nz, st);
    case 1: return mm_tc_go<T, 1, 2, 1, MM_G, 3>(p, ncap, y, nz, st);
    case 2: return mm_tc_go<T, 1, 4, 4, 1, 3>(p, ncap, y, nz, st);
    default: return mm_tc_go<T, 2, 8, 4, 1, 2>(p, ncap, y, nz, st);
    }
}

static int mm_tc(int kind, const mm_p &p, int v, int64_t ncap, int64_t ny, int64_t nz, cudaStream_t st) {
    switch (kind) {
    case MK_F16: return mm_tc_variant<MK_F16>(p, v, ncap, ny, nz, st);
    case MK_BF16: return mm_tc_variant<MK_BF16>(p, v, ncap, ny, nz, st);
    case MK_Q8: return mm_tc_variant<MK_Q8>(p, v, ncap, ny, nz, st);
    case MK_MXFP4: return mm_tc_variant<MK_MXFP4>(p, v, ncap, ny, nz, st);
    case MK_F8: return mm_tc_variant<MK_F8>(p, v, ncap, ny, nz, st);
    case MK_F8B: return mm_tc_variant<MK_F8B>(p, v, ncap, ny, nz, st);
    default: return (int)cudaErrorNotSupported;
    }
}

/* quantize the nrows rows of x (row space i1 + ne1*(i2 + ne2*i3)) into the scratch */
static int mm_quantize(int kind, const gds_cu_t &x, int64_t K, int64_t xne1, int64_t xne2, int64_t nrows, const mm_lay &l,
                       char *scr, cudaStream_t st) {
    const int64_t warps = nrows * (l.Kp / 128);
    if (warps == 0) return 0;
    int64_t blocks = (warps + 7) / 8;
    if (blocks > 65536) blocks = 65536;
    const mk_rt t = mk_get(kind);
#define MM_Q_(AK) mm_quant_kernel<AK><<<(unsigned)blocks, 256, 0, st>>>(x.data, K, l.Kp, xne1, xne2, x.nb[1], x.nb[2], x.nb[3], \
                                                                          nrows, scr, l.ars, scr + l.sc_off, l.srs)
    switch (t.act) {
    case MA_F8: MM_Q_(MA_F8); break;
    case MA_Q8: MM_Q_(MA_Q8); break;
    case MA_F16: MM_Q_(MA_F16); break;
    default: MM_Q_(MA_BF16); break;
    }
#undef MM_Q_
    GDS_CU_RETURN_LAST();
}

static mm_p mm_params(const gds_cu_node *n, char *scr, const mm_lay &l) {
    const gds_cu_t &w = n->src[0], &x = n->src[1];
    mm_p p;
    memset(&p, 0, sizeof p);
    p.w = w.data;
    p.wnb1 = w.nb[1]; p.wnb2 = w.nb[2]; p.wnb3 = w.nb[3];
    p.K = w.ne[0]; p.N = w.ne[1];
    p.dst = (float *)n->dst.data;
    p.act = scr; p.sc = scr + l.sc_off; p.ars = l.ars; p.srs = l.srs;
    p.x = x.data;
    p.xnb1 = x.nb[1]; p.xnb2 = x.nb[2]; p.xnb3 = x.nb[3];
    p.xne1 = x.ne[1] > 0 ? x.ne[1] : 1; p.xne2 = x.ne[2] > 0 ? x.ne[2] : 1;
    p.X2 = 1; p.r2 = 1; p.r3 = 1;
    p.dstb = (float *)n->dst_bf16;
    return p;
}

/* MUL_MAT_ID scratch: activation layout, then cnt[E] | off[E] | pairs[n] | items[2*maxitems] | nitems */
struct mm_id_lay {
    mm_lay a;
    size_t cnt, off, pairs, items, nitems, end;
    int64_t maxitems;
};

static mm_id_lay mm_id_layout(const gds_cu_node *n) {
    const gds_cu_t &w = n->src[0], &x = n->src[1], &ids = n->src[2];
    mm_id_lay l;
    const int64_t E = w.ne[2], np = ids.ne[0] * ids.ne[1];
    l.a = mm_layout(mm_kind_of(w.type, 0), w.ne[0], x.ne[1] * x.ne[2]);
    l.maxitems = (np + 7) / 8 + (E < np ? E : np); /* tiles of >= 8 columns: sum ceil(cnt/8) */
    l.cnt = l.a.end;
    l.off = l.cnt + mm_al((size_t)E * 4, 256);
    l.pairs = l.off + mm_al((size_t)E * 4, 256);
    l.items = l.pairs + mm_al((size_t)np * 4, 256);
    l.nitems = l.items + mm_al((size_t)(2 * l.maxitems) * 4, 256);
    l.end = l.nitems + 256;
    return l;
}

} /* namespace */

/* ---- entry points ------------------------------------------------------------- */

extern "C" size_t gds_cu_work_mul_mat(const struct gds_cu_node *n) {
    const gds_cu_t &w = n->src[0], &x = n->src[1];
    const int kind = mm_kind_of(w.type, n->params[0]);
    return mm_layout(kind, w.ne[0], x.ne[1] * x.ne[2] * x.ne[3]).end;
}

extern "C" size_t gds_cu_work_mul_mat_id(const struct gds_cu_node *n) { return mm_id_layout(n).end; }

extern "C" int gds_cu_run_mul_mat(const struct gds_cu_node *n, const struct gds_cu_exec *x_) {
    const gds_cu_t &w = n->src[0], &x = n->src[1];
    cudaStream_t st = cu_stream(x_);
    const int kind = mm_kind_of(w.type, n->params[0]);
    if (kind == MK_NONE || x.type != GDS_TYPE_F32) return (int)cudaErrorNotSupported;
    const int64_t K = w.ne[0], N = w.ne[1], M = x.ne[1], X2 = x.ne[2], X3 = x.ne[3];
    if (N <= 0 || M <= 0 || X2 <= 0 || X3 <= 0) return 0;
    const mm_lay l = mm_layout(kind, K, M * X2 * X3);
    char *scr = (char *)x_->scratch;
    mm_p p = mm_params(n, scr, l);
    p.M = M; p.X2 = X2;
    p.r2 = X2 / (w.ne[2] > 0 ? w.ne[2] : 1); p.r3 = X3 / (w.ne[3] > 0 ? w.ne[3] : 1);
    if (p.r2 < 1) p.r2 = 1;
    if (p.r3 < 1) p.r3 = 1;
    if (X2 * X3 > 65535) return (int)cudaErrorInvalidConfiguration;
    if (kind == MK_F32) {
        const dim3 grid((unsigned)((N + 3) / 4), (unsigned)((M + 7) / 8), (unsigned)(X2 * X3));
        if (grid.y > 65535) return (int)cudaErrorInvalidConfiguration;
        mm_f32_kernel<<<grid, 128, 0, st>>>(p);
        GDS_CU_RETURN_LAST();
    }
    int rc = mm_quantize(kind, x, K, M, X2, M * X2 * X3, l, scr, st);
    if (rc) return rc;
    if (M == 1 && mv_kind(kind) && mv_on()) {
        mv_p q = mv_params(n, scr, l);
        q.X2 = X2; q.r2 = p.r2; q.r3 = p.r3;
        return mv_run(kind, q, X2 * X3, st);
    }
    return mm_tc(kind, p, mm_variant(M), M, -1, X2 * X3, st);
}

extern "C" int gds_cu_run_mul_mat_id(const struct gds_cu_node *n, const struct gds_cu_exec *x_) {
    const gds_cu_t &w = n->src[0], &x = n->src[1], &ids = n->src[2];
    cudaStream_t st = cu_stream(x_);
    const int kind = mm_kind_of(w.type, 0);
    if (kind == MK_NONE || x.type != GDS_TYPE_F32 || ids.type != GDS_TYPE_I32) return (int)cudaErrorNotSupported;
    const int64_t K = w.ne[0], N = w.ne[1], E = w.ne[2], nx = x.ne[1], T = x.ne[2], nu = ids.ne[0];
    const int64_t np = nu * T;
    if (N <= 0 || np <= 0) return 0;
    const mm_id_lay l = mm_id_layout(n);
    char *scr = (char *)x_->scratch;
    mm_p p = mm_params(n, scr, l.a);
    p.nu = (int32_t)nu; p.nx = (int32_t)nx;
    p.cnt = (const int32_t *)(scr + l.cnt);
    p.off = (const int32_t *)(scr + l.off);
    p.pairs = (const int32_t *)(scr + l.pairs);
    p.items = (const int32_t *)(scr + l.items);
    p.nitems = (const int32_t *)(scr + l.nitems);

    if (T == 1 && nu <= 65535 && mv_kind(kind) && mv_on()) { /* one token: mat-vecs, no routing */
        const int rq = mm_quantize(kind, x, K, nx, T, nx * T, l.a, scr, st);
        if (rq) return rq;
        mv_p q = mv_params(n, scr, l.a);
        q.ids = ids.data; q.inb0 = ids.nb[0];
        q.E = (int32_t)E; q.nx = (int32_t)nx;
        return mv_run(kind, q, nu, st);
    }

    /* tile width from the mean columns per used expert */
    const int64_t used = E < np ? E : np;
    const int v = kind == MK_F32 ? 0 : mm_variant(used > 0 ? (np + used - 1) / used : 1);
    const int bmc = mm_variant_bmc(v);
    const int64_t ny = (np + bmc - 1) / bmc + used;

    /* routing: one CTA, blockDim pairs per chunk, smem (2 + warps) * E ints */
    int nth = (int)(np < 1024 ? (np + 31) / 32 * 32 : 1024);
    while (nth > 32 && (size_t)(2 + nth / 32) * (size_t)E * 4 > 48 * 1024) nth -= 32;
    const size_t rsm = (size_t)(2 + nth / 32) * (size_t)(E > 0 ? E : 1) * 4;
    static size_t granted[CU_MAX_DEVICES];
    const cudaError_t err = cu_allow_smem(mm_route_kernel, rsm, granted);
    if (err != cudaSuccess) return (int)err;
    if (kind != MK_F32) { /* x into the scratch before anything writes dst (dst may overlap x: see the top) */
        const int rq = mm_quantize(kind, x, K, nx, T, nx * T, l.a, scr, st);
        if (rq) return rq;
    }
    mm_route_kernel<<<1, nth, rsm, st>>>(ids.data, ids.nb[0], ids.nb[1], (int)nu, (int)T, (int)E, bmc, p.dst, p.dstb, N,
                                         (int32_t *)(scr + l.cnt), (int32_t *)(scr + l.off), (int32_t *)(scr + l.pairs),
                                         (int32_t *)(scr + l.items), (int32_t *)(scr + l.nitems));
    int rc = (int)cudaGetLastError();
    if (rc) return rc;
    if (ny > 65535) return (int)cudaErrorInvalidConfiguration;
    if (kind == MK_F32) {
        const dim3 grid((unsigned)((N + 3) / 4), (unsigned)ny, 1);
        mm_f32_kernel<<<grid, 128, 0, st>>>(p);
        GDS_CU_RETURN_LAST();
    }
    return mm_tc(kind, p, v, np, ny, 1, st);
}
