/*
 * ops-hc.cu - the manifold hyper-connection ops on CUDA (spec 4.2-4.4; the
 * CPU reference is backends/cpu/ops-hc.c): HC_COMB (mix mat-vec, rms factor,
 * pre/post sigmoids, Sinkhorn), HC_PRE (weighted stream sum), HC_POST
 * (stream update). One kernel launch per op.
 *
 * Numerics:
 * - HC_COMB: the dot products fn_m . v_t and the sum of squares of v_t in
 *   fp32 (fmaf), in one fixed order that depends on D and n_mix only (not on
 *   T, the device or the launch): v's dims i are cut into 8 slices
 *   [q*D/8, (q+1)*D/8) (the same i range of every stream); within a slice,
 *   thread tg of a mix group (GS = 32 * warps per group threads) adds the
 *   elements i = i0 + tg, i0 + tg + GS, ... of stream 0, then stream 1, ...;
 *   then a warp xor-shuffle tree, the group's warps in order; the slices are
 *   added in order ((p0 + p1) + p2) + ... + p7. Differs from the CPU's order;
 *   closer to float64 than the CPU's long per-lane sums (measured on H100 at
 *   D = 4096, 7168: NMSE vs float64 1e-14..7e-14, the CPU 1e-13..7e-13). The rest is the CPU's scalar code in its order: r = 1/sqrt(
 *   ss/(HC*D) + eps) (IEEE div/sqrt), mix = dot*r, pre = sigmoid(mix*sc0 +
 *   base) + hc_eps, post = 2*sigmoid(mix*sc1 + base), the row softmax + hc_eps,
 *   then (iters - 1) x (rows, columns) normalizations with IEEE divisions and
 *   the CPU's summation order (k, resp. j ascending, + hc_eps last). expf is
 *   CUDA's (within 2 ulp of glibc's).
 * - HC_PRE / HC_POST: the CPU's operations in its order, each product rounded
 *   (no fma): bit-identical to the CPU, one bf16 rounding at the end.
 *
 * Kernels and launch geometry:
 * - k_hc_comb<MG, TT>: 256 threads; one cluster of 8 blocks (sm_90+, block q
 *   computes slice q) or one block (older GPUs: the 8 slices in turn, same
 *   order, same bits) per tile of TT = 1, 2, 4 or 8 tokens (by T); grid
 *   (8 or 1, ceil(T/TT)). The 8 warps form 1, 2, 4 or 8 mix groups of MG
 *   mixes (MG = 4 for n_mix <= 8, else 12; more groups than 8 take passes);
 *   each thread accumulates MG x TT dot products in registers while it streams
 *   fn and X from global memory, NB = 4 / 2 positions (TT <= 2 / TT >= 4)
 *   a batch, loaded branch-free from clamped addresses and zeroed after, so
 *   that a batch's loads are in flight together (fn is 1.5 / 2.75 MB for
 *   Flash / Pro: a decode call spreads it over the 8 SMs of a cluster). The slice sums meet
 *   in shared memory; after a cluster barrier one warp per token reads the 8
 *   blocks' sums through distributed shared memory (in rank order) and
 *   finishes the token: one lane per mix for n_mix <= 32 (HC <= 4; HC = 4
 *   unrolled), the Sinkhorn rows / columns gathered by shuffles; larger HC
 *   (<= 16) runs the Sinkhorn part in lane 0 as the CPU does.
 * - k_hc_pre, k_hc_post: one thread per (i, t) (HC_POST writes its HC
 *   outputs), grid (T, ceil(D/256)) of 256 threads.
 */
#include "common.cuh"

#include <cooperative_groups.h>
#include <math.h>

namespace cg = cooperative_groups;

#define HC_MAX 16                          /* largest HC (as the CPU) */
#define HC_MAXNM ((2 + HC_MAX) * HC_MAX)   /* largest n_mix */
#define HC_NSLICE 8                        /* K slices = blocks of a cluster */
#define HC_THREADS 256
#define HC_NW (HC_THREADS / 32)
#define HC_FULL 0xffffffffu

#define HC_CHECK(cond) do { if (!(cond)) return (int)cudaErrorInvalidValue; } while (0)

struct hc_args {
    gds_cu_t X, scale, base;
    const float *fn;
    int fn_st;        /* floats between fn rows */
    float *dst;
    int D, hc, nm;
    int64_t T;
    float eps, hc_eps;
    int iters;
    int cl;           /* blocks per cluster: HC_NSLICE or 1 */
};

/* ---- cluster helpers (a cluster only on sm_90+, else one block) ------------ */

static __device__ inline int hc_rank(int cl) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (cl > 1) return (int)cg::this_cluster().block_rank();
#endif
    return 0;
}

static __device__ inline void hc_sync(int cl) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (cl > 1) {
        cg::this_cluster().sync();
        return;
    }
#endif
    __syncthreads();
}

/* p (shared memory) of the cluster's block r */
static __device__ inline const float *hc_remote(float *p, int cl, int r) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (cl > 1) return cg::this_cluster().map_shared_rank(p, r);
#endif
    (void)cl; (void)r;
    return p;
}

/* the cluster's slice sums of entry idx in rank order ((p0 + p1) + p2) + ...
 * (cl is 1 or HC_NSLICE) */
static __device__ inline float hc_gather(float *p, int idx, int cl) {
    if (cl == 1) return p[idx];
    float v[HC_NSLICE];
#pragma unroll
    for (int r = 0; r < HC_NSLICE; r++) v[r] = hc_remote(p, cl, r)[idx];
    float s = v[0];
#pragma unroll
    for (int r = 1; r < HC_NSLICE; r++) s += v[r];
    return s;
}

static __device__ inline float hc_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(HC_FULL, v, o);
    return v;
}

static __device__ inline float hc_sigmoid(float x) { return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x))); }

static __device__ inline float hc_f(const gds_cu_t &t, int i) { return *(const float *)(t.data + (int64_t)i * t.nb[0]); }

/* ---- HC_COMB: finishing one token -------------------------------------------- */

/* token tok (tile slot t): the slice sums of every block of the cluster in
 * rank order, then the CPU's phase 2; called by a whole warp */
template <int TT, int HCC>
static __device__ void hc_finish(const hc_args &a, float *part, float *part_ss, int t, int64_t tok, int lane) {
    const int hc = HCC > 0 ? HCC : a.hc, nm = a.nm;
    const float ss = hc_gather(part_ss, t, a.cl);
    const float rr = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)(hc * a.D)), a.eps)));
    const float sc0 = hc_f(a.scale, 0);
    const float sc1 = a.scale.ne[0] > 1 ? hc_f(a.scale, 1) : 0.0f;
    const float sc2 = a.scale.ne[0] > 2 ? hc_f(a.scale, 2) : 0.0f;
    const float hc_eps = a.hc_eps;
    float *y = a.dst + tok * nm;

    if (nm <= 32) { /* lane L holds mix L */
        const int L = lane;
        float mix = 0.0f;
        if (L < nm) {
            mix = __fmul_rn(hc_gather(part, L * TT + t, a.cl), rr);
        }
        if (L < hc) y[L] = __fadd_rn(hc_sigmoid(__fadd_rn(__fmul_rn(mix, sc0), hc_f(a.base, L))), hc_eps);
        if (nm == hc) return; /* hc head: pre only */
        if (L >= hc && L < 2 * hc) y[L] = __fmul_rn(2.0f, hc_sigmoid(__fadd_rn(__fmul_rn(mix, sc1), hc_f(a.base, L))));
        /* C[j][k] in lane 2hc + j*hc + k; row mates 2hc + j*hc + kk, column mates 2hc + jj*hc + k */
        const bool isc = L >= 2 * hc && L < nm;
        const int l = isc ? L - 2 * hc : 0, j = l / hc, k = l - j * hc;
        const int rowb = 2 * hc + j * hc, colb = 2 * hc + k;
        float c = isc ? __fadd_rn(__fmul_rn(mix, sc2), hc_f(a.base, L)) : 0.0f;
        float mx = -INFINITY;
#pragma unroll
        for (int kk = 0; kk < hc; kk++) {
            const float v = __shfl_sync(HC_FULL, c, rowb + kk);
            mx = v > mx ? v : mx;
        }
        const float ex = expf(__fsub_rn(c, mx));
        float sum = 0.0f;
#pragma unroll
        for (int kk = 0; kk < hc; kk++) sum = __fadd_rn(sum, __shfl_sync(HC_FULL, ex, rowb + kk));
        c = __fadd_rn(__fdiv_rn(ex, sum), hc_eps);
        for (int it = 0; it < a.iters; it++) {
            if (it > 0) { /* rows */
                sum = 0.0f;
#pragma unroll
                for (int kk = 0; kk < hc; kk++) sum = __fadd_rn(sum, __shfl_sync(HC_FULL, c, rowb + kk));
                c = __fdiv_rn(c, __fadd_rn(sum, hc_eps));
            }
            sum = 0.0f; /* columns */
#pragma unroll
            for (int jj = 0; jj < hc; jj++) sum = __fadd_rn(sum, __shfl_sync(HC_FULL, c, colb + jj * hc));
            c = __fdiv_rn(c, __fadd_rn(sum, hc_eps));
        }
        if (isc) y[L] = c;
        return;
    }

    /* HC 5..16: the mixes by lanes, the Sinkhorn part by lane 0 in dst */
    for (int m = lane; m < nm; m += 32) {
        const float mix = __fmul_rn(hc_gather(part, m * TT + t, a.cl), rr);
        if (m < hc) y[m] = __fadd_rn(hc_sigmoid(__fadd_rn(__fmul_rn(mix, sc0), hc_f(a.base, m))), hc_eps);
        else if (m < 2 * hc) y[m] = __fmul_rn(2.0f, hc_sigmoid(__fadd_rn(__fmul_rn(mix, sc1), hc_f(a.base, m))));
        else y[m] = __fadd_rn(__fmul_rn(mix, sc2), hc_f(a.base, m));
    }
    __syncwarp();
    if (lane != 0 || nm == hc) return;
    float *C = y + 2 * hc; /* C[j][k] at j*hc + k */
    for (int j = 0; j < hc; j++) {
        float mx = -INFINITY;
        for (int k = 0; k < hc; k++) mx = C[j * hc + k] > mx ? C[j * hc + k] : mx;
        float sum = 0.0f;
        for (int k = 0; k < hc; k++) {
            const float e = expf(__fsub_rn(C[j * hc + k], mx));
            C[j * hc + k] = e;
            sum = __fadd_rn(sum, e);
        }
        for (int k = 0; k < hc; k++) C[j * hc + k] = __fadd_rn(__fdiv_rn(C[j * hc + k], sum), hc_eps);
    }
    for (int it = 0; it < a.iters; it++) {
        if (it > 0) {
            for (int j = 0; j < hc; j++) {
                float sum = 0.0f;
                for (int k = 0; k < hc; k++) sum = __fadd_rn(sum, C[j * hc + k]);
                sum = __fadd_rn(sum, hc_eps);
                for (int k = 0; k < hc; k++) C[j * hc + k] = __fdiv_rn(C[j * hc + k], sum);
            }
        }
        for (int k = 0; k < hc; k++) {
            float sum = 0.0f;
            for (int j = 0; j < hc; j++) sum = __fadd_rn(sum, C[j * hc + k]);
            sum = __fadd_rn(sum, hc_eps);
            for (int j = 0; j < hc; j++) C[j * hc + k] = __fdiv_rn(C[j * hc + k], sum);
        }
    }
}

/* ---- HC_COMB kernel ----------------------------------------------------------- */

template <int MG, int TT>
static __global__ void __launch_bounds__(HC_THREADS) k_hc_comb(hc_args a) {
    __shared__ float part[HC_MAXNM * TT]; /* this block's slice sums [m][t] (running sum over slices) */
    __shared__ float part_ss[TT];
    __shared__ float red[HC_NW][MG * TT + TT]; /* per warp: MG x TT dots, TT sums of squares */

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int rank = hc_rank(a.cl);
    const int64_t t0 = (int64_t)blockIdx.y * TT;
    const int nm = a.nm, hc = a.hc, D = a.D;
    const int NG = (nm + MG - 1) / MG;                                    /* mix groups */
    const int NGW = NG >= 8 ? 8 : NG >= 4 ? 4 : NG >= 2 ? 2 : 1;          /* groups at a time */
    const int WPG = HC_NW / NGW, GS = 32 * WPG;                           /* warps, threads per group */
    const int gw = warp / WPG, tg = (warp - gw * WPG) * 32 + lane;
    const int npass = (NG + NGW - 1) / NGW;
    const int64_t nb1 = a.X.nb[1], nb2 = a.X.nb[2];

    const int q0 = a.cl > 1 ? rank : 0, q1 = a.cl > 1 ? rank + 1 : HC_NSLICE;
    for (int q = q0; q < q1; q++) {
        const int i0 = (int)((int64_t)q * D / HC_NSLICE), i1 = (int)((int64_t)(q + 1) * D / HC_NSLICE);
        const bool first = q == q0;
        for (int p = 0; p < npass; p++) {
            const int g = p * NGW + gw, m0 = g * MG;
            float acc[MG][TT], ss[TT];
#pragma unroll
            for (int t = 0; t < TT; t++) {
                ss[t] = 0.0f;
#pragma unroll
                for (int m = 0; m < MG; m++) acc[m][t] = 0.0f;
            }
            if (g < NG) {
                /* NB positions a batch, loaded from clamped positions / rows /
                 * tokens and zeroed after (+0 terms): no branch between the
                 * loads, so that they are in flight together */
                constexpr int NB = TT <= 2 ? 4 : 2;
                const float *xt = (const float *)(a.X.data + t0 * nb2);
                int xo[TT], wo[MG];
                bool tok[TT], mok[MG];
#pragma unroll
                for (int t = 0; t < TT; t++) {
                    tok[t] = t0 + t < a.T;
                    xo[t] = (int)(((tok[t] ? t0 + t : a.T - 1) - t0) * nb2 / 4);
                }
#pragma unroll
                for (int m = 0; m < MG; m++) {
                    mok[m] = m0 + m < nm;
                    wo[m] = (mok[m] ? m0 + m : nm - 1) * a.fn_st;
                }
                for (int s = 0; s < hc; s++) {
                    const float *xs = xt + s * nb1 / 4;
                    const float *ws = a.fn + s * D;
                    for (int ib = i0 + tg; ib < i1; ib += NB * GS) {
                        float xv[NB][TT], w[NB][MG];
#pragma unroll
                        for (int b = 0; b < NB; b++) {
                            const int i = ib + b * GS < i1 ? ib + b * GS : ib;
#pragma unroll
                            for (int t = 0; t < TT; t++) xv[b][t] = xs[xo[t] + i];
#pragma unroll
                            for (int m = 0; m < MG; m++) w[b][m] = ws[wo[m] + i];
                        }
#pragma unroll
                        for (int b = 0; b < NB; b++) {
                            const bool ok = ib + b * GS < i1;
#pragma unroll
                            for (int t = 0; t < TT; t++) {
                                xv[b][t] = ok && tok[t] ? xv[b][t] : 0.0f;
                                ss[t] = fmaf(xv[b][t], xv[b][t], ss[t]); /* used from group 0 of pass 0 only */
                            }
#pragma unroll
                            for (int m = 0; m < MG; m++) {
                                const float wm = ok && mok[m] ? w[b][m] : 0.0f;
#pragma unroll
                                for (int t = 0; t < TT; t++) acc[m][t] = fmaf(wm, xv[b][t], acc[m][t]);
                            }
                        }
                    }
                }
            }
#pragma unroll
            for (int t = 0; t < TT; t++) {
                ss[t] = hc_warp_sum(ss[t]);
#pragma unroll
                for (int m = 0; m < MG; m++) acc[m][t] = hc_warp_sum(acc[m][t]);
            }
            if (lane == 0) {
#pragma unroll
                for (int t = 0; t < TT; t++) {
                    red[warp][MG * TT + t] = ss[t];
#pragma unroll
                    for (int m = 0; m < MG; m++) red[warp][m * TT + t] = acc[m][t];
                }
            }
            __syncthreads();
            /* the groups' sums: their warps in order */
            for (int e = tid; e < NGW * MG * TT; e += HC_THREADS) {
                const int gg = e / (MG * TT), el = e - gg * (MG * TT);
                float v = red[gg * WPG][el];
                for (int w = 1; w < WPG; w++) v += red[gg * WPG + w][el];
                const int m = (p * NGW + gg) * MG + el / TT, t = el % TT;
                if (m < nm) part[m * TT + t] = first ? v : part[m * TT + t] + v;
            }
            if (p == 0 && tid < TT) { /* group 0 summed the squares */
                float v = red[0][MG * TT + tid];
                for (int w = 1; w < WPG; w++) v += red[w][MG * TT + tid];
                part_ss[tid] = first ? v : part_ss[tid] + v;
            }
            __syncthreads();
        }
    }

    hc_sync(a.cl); /* every block's slice sums are in its shared memory */
    const int t = rank + a.cl * warp; /* token slot finished by this warp */
    if (t < TT && t0 + t < a.T) {
        if (hc == 4) hc_finish<TT, 4>(a, part, part_ss, t, t0 + t, lane);
        else hc_finish<TT, 0>(a, part, part_ss, t, t0 + t, lane);
    }
    if (a.cl > 1) hc_sync(a.cl); /* keep the shared memory until every block has read it */
}

template <int MG, int TT>
static cudaError_t hc_comb_launch(const hc_args &a, cudaStream_t st) {
    const unsigned ntile = (unsigned)((a.T + TT - 1) / TT);
    if (a.cl > 1) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3((unsigned)a.cl, ntile, 1);
        cfg.blockDim = dim3(HC_THREADS, 1, 1);
        cfg.dynamicSmemBytes = 0;
        cfg.stream = st;
        cudaLaunchAttribute at[1] = {};
        at[0].id = cudaLaunchAttributeClusterDimension;
        at[0].val.clusterDim.x = (unsigned)a.cl;
        at[0].val.clusterDim.y = 1;
        at[0].val.clusterDim.z = 1;
        cfg.attrs = at;
        cfg.numAttrs = 1;
        const cudaError_t e = cudaLaunchKernelEx(&cfg, k_hc_comb<MG, TT>, a);
        return e != cudaSuccess ? e : cudaGetLastError();
    }
    k_hc_comb<MG, TT><<<dim3(1, ntile, 1), HC_THREADS, 0, st>>>(a);
    return cudaGetLastError();
}

template <int MG>
static cudaError_t hc_comb_launch_tt(const hc_args &a, cudaStream_t st) {
    if (a.T == 1) return hc_comb_launch<MG, 1>(a, st);
    if (a.T == 2) return hc_comb_launch<MG, 2>(a, st);
    if (a.T <= 4) return hc_comb_launch<MG, 4>(a, st);
    return hc_comb_launch<MG, 8>(a, st);
}

extern "C" int gds_cu_run_hc_comb(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &X = n->src[0], &fn = n->src[1], &scale = n->src[2], &base = n->src[3];
    HC_CHECK(n->n_src >= 4 && X.data && fn.data && scale.data && base.data);
    HC_CHECK(X.type == GDS_TYPE_F32 && X.nb[0] == 4 && fn.type == GDS_TYPE_F32 && fn.nb[0] == 4);
    const int64_t D = X.ne[0], hc = X.ne[1], T = X.ne[2], nm = n->dst.ne[0];
    HC_CHECK(hc >= 1 && hc <= HC_MAX && nm >= hc && nm <= HC_MAXNM && (nm == hc || nm == (2 + hc) * hc));
    HC_CHECK(fn.ne[0] == hc * D && fn.ne[1] >= nm && hc * D * nm < ((int64_t)1 << 31) && fn.nb[1] % 4 == 0);
    if (T == 0) return 0;
    HC_CHECK(D > 0 && (T + 7) / 8 <= 65535 && X.nb[1] % 4 == 0);
    hc_args a;
    memset(&a, 0, sizeof a);
    a.X = X; a.scale = scale; a.base = base;
    a.fn = (const float *)fn.data;
    a.fn_st = (int)(fn.nb[1] / 4);
    a.dst = (float *)n->dst.data;
    a.D = (int)D; a.hc = (int)hc; a.nm = (int)nm; a.T = T;
    a.eps = gds_cu_param_f32(n, GDS_P_HC_EPS);
    a.hc_eps = gds_cu_param_f32(n, GDS_P_HC_HCEPS);
    a.iters = n->params[GDS_P_HC_ITERS];
    a.cl = x->cc >= 90 ? HC_NSLICE : 1;
    const cudaError_t e = nm <= 8 ? hc_comb_launch_tt<4>(a, cu_stream(x)) : hc_comb_launch_tt<12>(a, cu_stream(x));
    return (int)e;
}

/* ---- HC_PRE -------------------------------------------------------------------- */

/* HCT: HC known at compile time (4, V4's), 0 for any HC <= 16 */
template <int HCT>
static __global__ void __launch_bounds__(256) k_hc_pre(gds_cu_t X, gds_cu_t comb, float *dst, int hc_rt) {
    constexpr int NS = HCT > 0 ? HCT : HC_MAX;
    const int hc = HCT > 0 ? HCT : hc_rt;
    const int64_t t = blockIdx.x, D = X.ne[0];
    const int64_t i = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= D) return;
    const char *cb = comb.data + t * comb.nb[1];
    const char *xb = X.data + t * X.nb[2] + i * 4;
    float c[NS], xv[NS];
#pragma unroll
    for (int s = 0; s < NS; s++) {
        c[s] = s < hc ? *(const float *)(cb + s * comb.nb[0]) : 0.0f;
        xv[s] = s < hc ? *(const float *)(xb + s * X.nb[1]) : 0.0f;
    }
    float acc = __fmul_rn(c[0], xv[0]);
#pragma unroll
    for (int s = 1; s < NS; s++)
        if (s < hc) acc = __fadd_rn(acc, __fmul_rn(c[s], xv[s]));
    dst[t * D + i] = gds_round_bf16(acc);
}

extern "C" int gds_cu_run_hc_pre(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &X = n->src[0], &comb = n->src[1];
    HC_CHECK(n->n_src >= 2 && X.data && comb.data && X.type == GDS_TYPE_F32 && X.nb[0] == 4 && comb.type == GDS_TYPE_F32);
    const int64_t D = X.ne[0], hc = X.ne[1], T = X.ne[2];
    HC_CHECK(hc >= 1 && hc <= HC_MAX && comb.ne[0] >= hc && comb.ne[1] >= T);
    if (D == 0 || T == 0) return 0;
    HC_CHECK((D + 255) / 256 <= 65535);
    const dim3 grid((unsigned)T, (unsigned)((D + 255) / 256), 1);
    if (hc == 4) k_hc_pre<4><<<grid, 256, 0, cu_stream(x)>>>(X, comb, (float *)n->dst.data, 4);
    else k_hc_pre<0><<<grid, 256, 0, cu_stream(x)>>>(X, comb, (float *)n->dst.data, (int)hc);
    GDS_CU_RETURN_LAST();
}

/* ---- HC_POST ------------------------------------------------------------------- */

template <int HCT>
static __global__ void __launch_bounds__(256) k_hc_post(gds_cu_t A, gds_cu_t R, gds_cu_t comb, float *dst, int hc_rt) {
    constexpr int NJ = HCT > 0 ? HCT : HC_MAX;
    const int hc = HCT > 0 ? HCT : hc_rt;
    const int64_t t = blockIdx.x, D = R.ne[0];
    const int64_t i = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= D) return;
    const char *cb = comb.data + t * comb.nb[1];
    const char *rb = R.data + t * R.nb[2] + i * 4;
    float r[NJ];
#pragma unroll
    for (int j = 0; j < NJ; j++) r[j] = j < hc ? *(const float *)(rb + j * R.nb[1]) : 0.0f;
    const float av = *(const float *)(A.data + t * A.nb[1] + i * 4);
#pragma unroll
    for (int k = 0; k < NJ; k++) {
        if (k >= hc) break;
        float cf[NJ];
#pragma unroll
        for (int j = 0; j < NJ; j++) cf[j] = j < hc ? *(const float *)(cb + (2 * hc + j * hc + k) * comb.nb[0]) : 0.0f;
        const float post = *(const float *)(cb + (hc + k) * comb.nb[0]);
        float acc = __fmul_rn(cf[0], r[0]);
#pragma unroll
        for (int j = 1; j < NJ; j++)
            if (j < hc) acc = __fadd_rn(acc, __fmul_rn(cf[j], r[j]));
        dst[(t * hc + k) * D + i] = gds_round_bf16(__fadd_rn(__fmul_rn(post, av), acc));
    }
}

extern "C" int gds_cu_run_hc_post(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &A = n->src[0], &R = n->src[1], &comb = n->src[2];
    HC_CHECK(n->n_src >= 3 && A.data && R.data && comb.data);
    HC_CHECK(A.type == GDS_TYPE_F32 && A.nb[0] == 4 && R.type == GDS_TYPE_F32 && R.nb[0] == 4 && comb.type == GDS_TYPE_F32);
    const int64_t D = R.ne[0], hc = R.ne[1], T = R.ne[2];
    HC_CHECK(hc >= 1 && hc <= HC_MAX && comb.ne[0] >= (2 + hc) * hc && comb.ne[1] >= T && A.ne[0] == D && A.ne[1] >= T);
    if (D == 0 || T == 0) return 0;
    HC_CHECK((D + 255) / 256 <= 65535);
    const dim3 grid((unsigned)T, (unsigned)((D + 255) / 256), 1);
    if (hc == 4) k_hc_post<4><<<grid, 256, 0, cu_stream(x)>>>(A, R, comb, (float *)n->dst.data, 4);
    else k_hc_post<0><<<grid, 256, 0, cu_stream(x)>>>(A, R, comb, (float *)n->dst.data, (int)hc);
    GDS_CU_RETURN_LAST();
}
