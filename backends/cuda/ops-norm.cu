/*
 * ops-norm.cu - RMS_NORM, SUM_ROWS, SOFT_MAX, ROPE, HADAMARD and QUANT_SIM on
 * CUDA (the CPU references: backends/cpu/ops-norm.c, ops-rope.c and
 * ops-elementwise.c for SUM_ROWS). One kernel launch per op.
 *
 * Numerics (the CPU kernels' rounding points; explicit __f*_rn where the
 * CPU rounds a product before a sum, so that nothing depends on --fmad):
 * - Row reductions (RMS_NORM's sum of squares, SUM_ROWS, SOFT_MAX's max and
 *   denominator) run one block per row: thread j sums elements j, j + bs, ...
 *   in index order (fmaf for the squares), then a warp xor-shuffle tree and
 *   the warp sums added in warp order by every thread. bs is a function of
 *   ne0 only, so a row gives the same bits in every graph and for every
 *   number of rows. The order differs from the CPU's 16 lanes (a few ulp).
 * - RMS_NORM: y = (x * (1/sqrt(ss/n + eps))) * w, IEEE div/sqrt, fp32.
 * - SUM_ROWS: double accumulation (as the CPU), one rounding to fp32.
 * - SOFT_MAX: v = fp32(x*scale) + mask, m = max(max v, sink), e = expf(v - m)
 *   (CUDA expf, within 2 ulp of glibc's), y = e * (1/(sum e + exp(sink - m)));
 *   m = -inf gives a row of zeros.
 * - ROPE: the fp32 frequency table from gds_rope_freqs (ggml-ds/src/ops.c, the
 *   CPU kernel's own; powf, the YaRN blend, its correction range
 *   in double) is computed on the host and passed by
 *   value, so it has the CPU's bits. Angles fp32(fp32(pos) * freq_i);
 *   cos/sin in double of that fp32 angle, rounded to fp32 (correctly rounded
 *   but for double-rounding ties; glibc's cosf/sinf may differ by an ulp).
 *   Rotation a*c - b*s, a*s + b*c with each product rounded as the CPU.
 * - HADAMARD: the CPU's butterflies (h = 1, 2, ..., 64, a + c / a - c in
 *   natural order), then * fp32(128^-0.5): bit-identical to the CPU.
 * - QUANT_SIM: the CPU's act_quant: amax (NaN ignored), floor, power-of-two
 *   scale by gds_pow2_ceil_exp, x * 2^-e exact, clamp, e4m3 / e2m1 RNE codes
 *   (gds-quants.h), y = bf16(q * 2^e); bf16 mode y = bf16(x): bit-identical.
 *
 * Kernels and launch geometry:
 * - k_rms_norm, k_sum_rows, k_soft_max: one block per row (grid = rows),
 *   bs = 32..512 threads by ne0 (cu_row_threads). RMS_NORM rows of up to
 *   8192 (bs <= 256, 32 * bs values) take k_rms_norm_reg (the thread's values loaded up front, kept in
 *   registers for the scaling: the same order and bits; GDS_CUDA_RN=0: off).
 * - k_rope: grid = (head groups of hpb = max(1, 2048/ne0) heads) x T x B,
 *   256 threads; the block's position gets its cos/sin table in shared memory
 *   (n_rot/2 <= 512 pairs), then the heads' rows: the first ne0 - n_rot dims
 *   copied (skipped in place), the pairs rotated.
 * - k_hadamard: one warp per 128-element block (lane l holds l, l+32, l+64,
 *   l+96): stages h < 32 by shuffles, h = 32, 64 in registers; 8 warps a block.
 * - k_quant_sim: one warp per unit, 8 warps a block. Units of a row: its
 *   n_dims/block quant blocks (fp8/fp4: amax by a warp max, up to 4 values a
 *   lane in registers for block <= 128, re-read above), then 128-element
 *   copy units (bf16 mode: 128-element units over the whole row, rounding
 *   below n_dims). A decode row of 32768 is 256..1024 warps.
 * - In place (dst aliasing the source) is safe everywhere: every element is
 *   read before it is written by the same thread (HADAMARD: the same warp).
 */
#include "common.cuh"

#include <math.h>

#define CU_FULL 0xffffffffu

/* ---- reductions -------------------------------------------------------------- */

struct cu_op_add { template <typename T> __device__ T operator()(T a, T b) const { return a + b; } };
struct cu_op_max { __device__ float operator()(float a, float b) const { return b > a ? b : a; } };

/* xor-tree over the 32 lanes (every lane gets the same bits) */
template <typename T, typename Op>
static __device__ inline T cu_warp_reduce(T v, Op op) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(CU_FULL, v, o));
    return v;
}

/* block-wide reduction (blockDim.x a multiple of 32, <= 1024); every thread
 * adds the warp results in warp order; sh: 32 entries of shared memory,
 * reusable after the call */
template <typename T, typename Op>
static __device__ inline T cu_block_reduce(T v, Op op, T *sh) {
    v = cu_warp_reduce(v, op);
    const int nw = blockDim.x >> 5;
    if (nw == 1) return v;
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    T r = sh[0];
    for (int w = 1; w < nw; w++) r = op(r, sh[w]);
    __syncthreads();
    return r;
}

/* threads per row of a row-reduction kernel: a function of ne0 only */
static int cu_row_threads(int64_t n) {
    return n <= 64 ? 32 : n <= 512 ? 64 : n <= 2048 ? 128 : n <= 8192 ? 256 : 512;
}

/* source row r (rows counted over ne[1..3]) */
static __device__ inline const float *cu_src_row(const gds_cu_t &t, int64_t r) {
    const int64_t ne1 = t.ne[1], ne2 = t.ne[2];
    const int64_t i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
    return (const float *)(t.data + i1 * t.nb[1] + i2 * t.nb[2] + i3 * t.nb[3]);
}

static int64_t cu_nrows(const gds_cu_t &t) { return t.ne[1] * t.ne[2] * t.ne[3]; }

static bool cu_f32_rows(const gds_cu_t &t) { return t.data && t.type == GDS_TYPE_F32 && t.nb[0] == 4; }

#define CU_CHECK(cond) do { if (!(cond)) return (int)cudaErrorInvalidValue; } while (0)

/* ---- RMS_NORM ---------------------------------------------------------------- */

static __global__ void k_rms_norm(gds_cu_t x, const float *w, float *dst, float eps, float *db) {
    __shared__ float sh[32];
    const int64_t n = x.ne[0], r = blockIdx.x;
    const float *xr = cu_src_row(x, r);
    float *yr = dst + r * n, *br = db ? db + r * n : NULL;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = cu_block_reduce(ss, cu_op_add(), sh);
    const float rs = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)n), eps)));
    if (w) {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            const float y = __fmul_rn(__fmul_rn(xr[i], rs), w[i]);
            yr[i] = y;
            if (br) br[i] = gds_round_bf16(y);
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            const float y = __fmul_rn(xr[i], rs);
            yr[i] = y;
            if (br) br[i] = gds_round_bf16(y);
        }
    }
}

/* k_rms_norm for rows of n <= 32 * blockDim.x, blockDim.x <= 256 (every V4 row): thread j's
 * elements j, j + bs, ... are loaded into registers first (all loads in
 * flight together instead of one L2 round trip per step), then the same
 * fmaf chain in index order, the same block reduction and the same scaling
 * from the registers: the same bits. */
static __global__ void __launch_bounds__(256) k_rms_norm_reg(gds_cu_t x, const float *w, float *dst, float eps, float *db) {
    __shared__ float sh[32];
    constexpr int NV = 32;
    const int64_t n = x.ne[0], r = blockIdx.x;
    const int bs = blockDim.x, tid = threadIdx.x;
    const float *xr = cu_src_row(x, r);
    float *yr = dst + r * n, *br = db ? db + r * n : NULL;
    float v[NV];
#pragma unroll
    for (int k = 0; k < NV; k++) {
        const int64_t i = tid + (int64_t)k * bs;
        v[k] = i < n ? xr[i] : 0.0f;
    }
    float ss = 0.0f;
#pragma unroll
    for (int k = 0; k < NV; k++)
        if (tid + (int64_t)k * bs < n) ss = fmaf(v[k], v[k], ss);
    ss = cu_block_reduce(ss, cu_op_add(), sh);
    const float rs = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)n), eps)));
#pragma unroll
    for (int k = 0; k < NV; k++) {
        const int64_t i = tid + (int64_t)k * bs;
        if (i < n) {
            const float y = w ? __fmul_rn(__fmul_rn(v[k], rs), w[i]) : __fmul_rn(v[k], rs);
            yr[i] = y;
            if (br) br[i] = gds_round_bf16(y);
        }
    }
}

/* GDS_CUDA_RN=0: k_rms_norm for every row (A/B; the same bits) */
static bool cu_rn_reg() {
    static int on = -1;
    return cu_switch("GDS_CUDA_RN", &on);
}

extern "C" int gds_cu_run_rms_norm(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0];
    CU_CHECK(cu_f32_rows(s));
    const int64_t nr = cu_nrows(s);
    if (nr == 0 || s.ne[0] == 0) return 0;
    const float *w = NULL;
    if (n->n_src > 1 && n->src[1].data) {
        CU_CHECK(n->src[1].type == GDS_TYPE_F32 && n->src[1].ne[0] == s.ne[0]);
        w = (const float *)n->src[1].data;
    }
    const int bs = cu_row_threads(s.ne[0]);
    if (bs <= 256 && s.ne[0] <= 32LL * bs && cu_rn_reg())
        k_rms_norm_reg<<<(unsigned)nr, bs, 0, cu_stream(x)>>>(s, w, (float *)n->dst.data, gds_cu_param_f32(n, GDS_P_NORM_EPS),
                                                              (float *)n->dst_bf16);
    else
        k_rms_norm<<<(unsigned)nr, bs, 0, cu_stream(x)>>>(s, w, (float *)n->dst.data, gds_cu_param_f32(n, GDS_P_NORM_EPS),
                                                          (float *)n->dst_bf16);
    GDS_CU_RETURN_LAST();
}

/* ---- SUM_ROWS ---------------------------------------------------------------- */

static __global__ void k_sum_rows(gds_cu_t x, float *dst) {
    __shared__ double sh[32];
    const int64_t n = x.ne[0], r = blockIdx.x;
    const float *xr = cu_src_row(x, r);
    double acc = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += (double)xr[i];
    acc = cu_block_reduce(acc, cu_op_add(), sh);
    if (threadIdx.x == 0) dst[r] = (float)acc;
}

extern "C" int gds_cu_run_sum_rows(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0];
    CU_CHECK(cu_f32_rows(s));
    const int64_t nr = cu_nrows(s);
    if (nr == 0) return 0;
    k_sum_rows<<<(unsigned)nr, cu_row_threads(s.ne[0]), 0, cu_stream(x)>>>(s, (float *)n->dst.data);
    GDS_CU_RETURN_LAST();
}

/* ---- SOFT_MAX ---------------------------------------------------------------- */

static __global__ void k_soft_max(gds_cu_t x, gds_cu_t mask, gds_cu_t sinks, float *dst, float scale) {
    __shared__ float sh[32];
    const int64_t n = x.ne[0], r = blockIdx.x;
    const int64_t ne1 = x.ne[1], ne2 = x.ne[2];
    const int64_t i1 = r % ne1, i2 = (r / ne1) % ne2;
    const float *xr = cu_src_row(x, r);
    const float *mr = mask.data ? (const float *)(mask.data + (i1 % mask.ne[1]) * mask.nb[1]) : NULL;
    float *yr = dst + r * n;

    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = __fmul_rn(xr[i], scale);
        if (mr) v = __fadd_rn(v, mr[i]);
        yr[i] = v;
        m = v > m ? v : m;
    }
    m = cu_block_reduce(m, cu_op_max(), sh);
    float sink = -INFINITY;
    if (sinks.data) {
        sink = *(const float *)(sinks.data + i2 * sinks.nb[0]);
        m = sink > m ? sink : m;
    }
    if (m == -INFINITY) {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float e = expf(__fsub_rn(yr[i], m));
        yr[i] = e;
        sum = __fadd_rn(sum, e);
    }
    sum = cu_block_reduce(sum, cu_op_add(), sh);
    if (sinks.data) sum = __fadd_rn(sum, expf(__fsub_rn(sink, m)));
    const float inv = __fdiv_rn(1.0f, sum);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = __fmul_rn(yr[i], inv);
}

extern "C" int gds_cu_run_soft_max(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0];
    CU_CHECK(cu_f32_rows(s));
    const int64_t nr = cu_nrows(s);
    if (nr == 0 || s.ne[0] == 0) return 0;
    gds_cu_t none;
    memset(&none, 0, sizeof none);
    const gds_cu_t &mask = n->n_src > 1 && n->src[1].data ? n->src[1] : none;
    const gds_cu_t &sinks = n->n_src > 2 && n->src[2].data ? n->src[2] : none;
    if (mask.data) CU_CHECK(cu_f32_rows(mask) && mask.ne[0] == s.ne[0] && mask.ne[1] > 0);
    if (sinks.data) CU_CHECK(sinks.type == GDS_TYPE_F32 && sinks.ne[0] >= s.ne[2]);
    k_soft_max<<<(unsigned)nr, cu_row_threads(s.ne[0]), 0, cu_stream(x)>>>(s, mask, sinks, (float *)n->dst.data,
                                                                             gds_cu_param_f32(n, GDS_P_SOFTMAX_SCALE));
    GDS_CU_RETURN_LAST();
}

/* ---- ROPE -------------------------------------------------------------------- */

#define CU_ROPE_MAX_PAIRS 512

struct cu_rope_tab { float freq[CU_ROPE_MAX_PAIRS]; };

static __global__ void __launch_bounds__(256) k_rope(gds_cu_t x, gds_cu_t pos, float *dst, cu_rope_tab tab, int np, int inv,
                                                     int hpb, int64_t nhb, float *db) {
    __shared__ float cs[CU_ROPE_MAX_PAIRS], sn[CU_ROPE_MAX_PAIRS];
    const int64_t nh = x.ne[1], T = x.ne[2], ne0 = x.ne[0];
    const int64_t b = blockIdx.x;
    const int64_t hb = b % nhb, i2 = (b / nhb) % T, i3 = b / (nhb * T);
    const float fp = (float)*(const int32_t *)(pos.data + i2 * pos.nb[0]);
    for (int i = threadIdx.x; i < np; i += blockDim.x) {
        const float ang = __fmul_rn(fp, tab.freq[i]);
        double s, c;
        sincos((double)ang, &s, &c);
        cs[i] = (float)c;
        sn[i] = inv ? -(float)s : (float)s;
    }
    __syncthreads();
    const int64_t h0 = hb * hpb, nhr = nh - h0 < hpb ? nh - h0 : hpb;
    const int nd = (int)(ne0 - 2 * np), W = nd + np; /* work items of a row: nd copies, np pairs */
    for (int e = threadIdx.x; e < nhr * W; e += blockDim.x) {
        const int hr = e / W, k = e - hr * W;
        const int64_t h = h0 + hr;
        const float *xr = (const float *)(x.data + h * x.nb[1] + i2 * x.nb[2] + i3 * x.nb[3]);
        float *yr = dst + ((i3 * T + i2) * nh + h) * ne0, *br = db ? db + ((i3 * T + i2) * nh + h) * ne0 : NULL;
        if (k < nd) {
            const float v = xr[k]; /* br may alias xr (fused bf16 output in place) */
            if (yr != xr) yr[k] = v;
            if (br) br[k] = gds_round_bf16(v);
        } else {
            const int i = k - nd;
            const float a = xr[nd + 2 * i], c = xr[nd + 2 * i + 1];
            const float y0 = __fsub_rn(__fmul_rn(a, cs[i]), __fmul_rn(c, sn[i]));
            const float y1 = __fadd_rn(__fmul_rn(a, sn[i]), __fmul_rn(c, cs[i]));
            yr[nd + 2 * i] = y0;
            yr[nd + 2 * i + 1] = y1;
            if (br) {
                br[nd + 2 * i] = gds_round_bf16(y0);
                br[nd + 2 * i + 1] = gds_round_bf16(y1);
            }
        }
    }
}

extern "C" int gds_cu_run_rope(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0], &pos = n->src[1];
    CU_CHECK(cu_f32_rows(s) && pos.data && pos.type == GDS_TYPE_I32 && pos.ne[0] >= s.ne[2]);
    const int n_rot = n->params[GDS_P_ROPE_NROT];
    CU_CHECK(n_rot > 0 && n_rot % 2 == 0 && n_rot <= s.ne[0] && n_rot / 2 <= CU_ROPE_MAX_PAIRS);
    if (cu_nrows(s) == 0) return 0;
    cu_rope_tab tab;
    gds_rope_freqs(tab.freq, n_rot, gds_cu_param_f32(n, GDS_P_ROPE_BASE), gds_cu_param_f32(n, GDS_P_ROPE_YFACTOR),
                  gds_cu_param_f32(n, GDS_P_ROPE_YORIG), gds_cu_param_f32(n, GDS_P_ROPE_YFAST),
                  gds_cu_param_f32(n, GDS_P_ROPE_YSLOW));
    const int64_t ne0 = s.ne[0], nh = s.ne[1];
    int64_t hpb = 2048 / ne0;
    hpb = hpb < 1 ? 1 : (hpb > nh ? nh : hpb);
    const int64_t nhb = (nh + hpb - 1) / hpb;
    k_rope<<<(unsigned)(nhb * s.ne[2] * s.ne[3]), 256, 0, cu_stream(x)>>>(s, pos, (float *)n->dst.data, tab, n_rot / 2,
                                                                           n->params[GDS_P_ROPE_INV] != 0, (int)hpb, nhb,
                                                                           (float *)n->dst_bf16);
    GDS_CU_RETURN_LAST();
}

/* ---- HADAMARD ---------------------------------------------------------------- */

static __global__ void __launch_bounds__(256) k_hadamard(gds_cu_t x, float *dst, int64_t nbr, int64_t nunits, float *db) {
    const int64_t u = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (u >= nunits) return;
    const int lane = threadIdx.x & 31;
    const int64_t r = u / nbr, b = u - r * nbr;
    const float *xr = cu_src_row(x, r) + b * 128;
    float *yr = dst + r * x.ne[0] + b * 128;
    float v[4];
#pragma unroll
    for (int k = 0; k < 4; k++) v[k] = xr[lane + 32 * k];
    /* element j = lane + 32k; stage h pairs j and j^h: the lower one gets
     * a + c, the upper one a - c (a the lower's value) */
#pragma unroll
    for (int h = 1; h < 32; h <<= 1) {
        const bool up = (lane & h) != 0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const float p = __shfl_xor_sync(CU_FULL, v[k], h);
            v[k] = up ? __fsub_rn(p, v[k]) : __fadd_rn(v[k], p);
        }
    }
    float t0 = __fadd_rn(v[0], v[1]), t1 = __fsub_rn(v[0], v[1]); /* h = 32 */
    float t2 = __fadd_rn(v[2], v[3]), t3 = __fsub_rn(v[2], v[3]);
    v[0] = __fadd_rn(t0, t2); v[2] = __fsub_rn(t0, t2);           /* h = 64 */
    v[1] = __fadd_rn(t1, t3); v[3] = __fsub_rn(t1, t3);
    const float scale = 0.08838834764831844055f; /* fp32(128^-0.5) */
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const float y = __fmul_rn(v[k], scale);
        yr[lane + 32 * k] = y;
        if (db) db[r * x.ne[0] + b * 128 + lane + 32 * k] = gds_round_bf16(y);
    }
}

extern "C" int gds_cu_run_hadamard(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0];
    CU_CHECK(cu_f32_rows(s) && s.ne[0] % 128 == 0);
    const int64_t nbr = s.ne[0] / 128, nunits = cu_nrows(s) * nbr;
    if (nunits == 0) return 0;
    k_hadamard<<<(unsigned)((nunits + 7) / 8), 256, 0, cu_stream(x)>>>(s, (float *)n->dst.data, nbr, nunits,
                                                                        (float *)n->dst_bf16);
    GDS_CU_RETURN_LAST();
}

/* ---- QUANT_SIM --------------------------------------------------------------- */

#define CU_QS_UNIT 128 /* elements of a bf16 / copy unit (4 a lane) */


/* scale exponent of a block with max |x| amax (fp8: qmax 448, floor 1e-4;
 * fp4: qmax 6, floor 6 * 2^-126), as the CPU's gds_sim_block */
static __device__ inline int cu_sim_exp(int mode, float amax) {
    if (mode == GDS_SIM_FP8) {
        amax = amax > 1e-4f ? amax : 1e-4f;
        return gds_pow2_ceil_exp(__fmul_rn(amax, 1.0f / 448.0f));
    }
    const float floor_ = 0x1.8p-124f;
    amax = amax > floor_ ? amax : floor_;
    return gds_pow2_ceil_exp(__fmul_rn(amax, 1.0f / 6.0f));
}

/* one element: bf16(minifloat(x / s) * s) */
static __device__ inline float cu_sim_val(int mode, float x, float s, float is) {
    float v = __fmul_rn(x, is); /* exact: x / 2^e */
    if (mode == GDS_SIM_FP8) {
        v = v > 448.0f ? 448.0f : (v < -448.0f ? -448.0f : v);
        return gds_round_bf16(__fmul_rn(gds_e4m3_to_fp32(gds_fp32_to_e4m3(v)), s));
    }
    v = v > 6.0f ? 6.0f : (v < -6.0f ? -6.0f : v);
    return gds_round_bf16(__fmul_rn(gds_e2m1_to_fp32(gds_fp32_to_e2m1(v)), s));
}

/* units of a row: nq quant blocks (fp8/fp4; 0 for bf16), then copy units of
 * 128 from c0 (n_dims for fp8/fp4, 0 for bf16, which rounds below n_dims) */
static __global__ void __launch_bounds__(256) k_quant_sim(gds_cu_t x, float *dst, int mode, int blk, int64_t nd, int64_t nq,
                                                          int64_t c0, int64_t U, int64_t nunits) {
    const int64_t u = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (u >= nunits) return;
    const int lane = threadIdx.x & 31;
    const int64_t ne0 = x.ne[0], r = u / U, k = u - r * U;
    const float *xr = cu_src_row(x, r);
    float *yr = dst + r * ne0;
    if (k >= nq) { /* bf16 / copy unit */
        const int64_t e0 = c0 + (k - nq) * CU_QS_UNIT;
#pragma unroll
        for (int j = 0; j < CU_QS_UNIT / 32; j++) {
            const int64_t i = e0 + lane + 32 * j;
            if (i < ne0) {
                const float v = xr[i];
                yr[i] = i < nd && mode == GDS_SIM_BF16 ? gds_round_bf16(v) : v;
            }
        }
        return;
    }
    const float *xb = xr + k * blk;
    float *yb = yr + k * blk;
    float amax = 0.0f;
    if (blk <= 128) { /* the block in registers */
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = lane + 32 * j;
            v[j] = i < blk ? xb[i] : 0.0f;
            const float a = fabsf(v[j]);
            amax = a > amax ? a : amax; /* NaN ignored, as the CPU */
        }
        amax = cu_warp_reduce(amax, cu_op_max());
        const int e = cu_sim_exp(mode, amax);
        const float s = gds_exp2i(e), is = gds_exp2i(-e);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = lane + 32 * j;
            if (i < blk) yb[i] = cu_sim_val(mode, v[j], s, is);
        }
    } else {
        for (int i = lane; i < blk; i += 32) {
            const float a = fabsf(xb[i]);
            amax = a > amax ? a : amax;
        }
        amax = cu_warp_reduce(amax, cu_op_max());
        const int e = cu_sim_exp(mode, amax);
        const float s = gds_exp2i(e), is = gds_exp2i(-e);
        for (int i = lane; i < blk; i += 32) yb[i] = cu_sim_val(mode, xb[i], s, is);
    }
}

extern "C" int gds_cu_run_quant_sim(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0];
    CU_CHECK(cu_f32_rows(s));
    const int mode = n->params[GDS_P_SIM_MODE];
    const int64_t ne0 = s.ne[0];
    int64_t nd = n->params[GDS_P_SIM_NDIMS];
    const int blk = n->params[GDS_P_SIM_BLOCK];
    if (nd <= 0 || nd > ne0) nd = ne0;
    CU_CHECK(mode == GDS_SIM_BF16 || mode == GDS_SIM_FP8 || mode == GDS_SIM_FP4);
    if (mode != GDS_SIM_BF16) CU_CHECK(blk > 0 && nd % blk == 0);
    const int64_t nq = mode == GDS_SIM_BF16 ? 0 : nd / blk;
    const int64_t c0 = mode == GDS_SIM_BF16 ? 0 : nd;
    const int64_t U = nq + (ne0 - c0 + CU_QS_UNIT - 1) / CU_QS_UNIT;
    const int64_t nunits = cu_nrows(s) * U;
    if (nunits == 0) return 0;
    k_quant_sim<<<(unsigned)((nunits + 7) / 8), 256, 0, cu_stream(x)>>>(s, (float *)n->dst.data, mode, blk, nd, nq, c0, U, nunits);
    GDS_CU_RETURN_LAST();
}
