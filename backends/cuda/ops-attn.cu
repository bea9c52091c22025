/*
 * ops-attn.cu - ATTN (sparse attention with sinks, spec 4.9), INDEXER
 * (lightning indexer scores, spec 4.8), COMPRESS (compressor pooling, spec
 * 4.7) and TOP_K on CUDA. Reference: backends/cpu/ops-attn.c, ops-topk.c.
 *
 * Numerics (each output element is computed in one fixed order that depends
 * only on the op's shapes, never on the launch geometry; no float atomics):
 * - exp: (float)exp((double)x), the correctly rounded expf; glibc's expf is
 *   within 0.502 ulp, so the two differ only in rare ties of rounding.
 * - ATTN: the order of ops of the CPU's AVX-512 level, bit for bit except exp:
 *   s = dot(q, kv) * scale where the dot is 16 partial sums (partial v takes
 *   i = v, v+16, ... by fma, zeros past hd) folded as _mm512_reduce_add_ps does
 *   (v + v^8, then ^4, then (0+2) + (1+3)); per block of 64 list entries
 *   (invalid ones: -1 or outside [0, N), skipped) the shared scalar softmax:
 *   mb = max(m, s_j), alpha = exp(m - mb), lsum = sum_j exp(s_j - mb) in list
 *   order, P = bf16(exp(s_j - mb)), l = l*alpha + lsum (no fma); acc = acc*alpha
 *   then acc = fma(P_j, kv_j, acc) in list order; o = bf16(acc / (l + exp(sink
 *   - m))); a token without any valid key gives 0. Compact KV_E4M3_B64 rows are
 *   decoded to their exact f32 values first (e4m3 * e8m0 in fp32, bf16 rope).
 * - INDEXER: the CPU's AVX2/AVX-512 order, bit for bit: d = q_h . k by fma,
 *   i = 0..dI-1 in order from 0; tot = sum over h in order of
 *   bf16(max(bf16(d), 0) * w_h) (fp32 adds); sc = bf16(tot); -inf where
 *   s >= (pos + 1) / ratio. MXFP4 keys read as d * kvalue (the CPU's table).
 * - COMPRESS: the CPU's three passes per output in slot order (lane A tokens,
 *   then lane B): max, sum of exp(z - max), sum of (exp(z - max) / sum) * k;
 *   fp32, no fma; -inf slots skipped; no slot: 0.
 * - TOP_K: a selection, equal to the CPU's: unique 64-bit keys
 *   ord(v) << 32 | (0xffffffff - i), -0 as +0, -inf and NaN invalid; the k
 *   largest keys descending; -1 for the slots past the number of valid values.
 *
 * Kernels and launch geometry:
 * - k_attn<HB, IPT>: one block of 256 threads per (token, group of G heads),
 *   G in {1, 2, 4, 8, 16}: 16, halved while T * ceil(H / G) < 2 * n_sm (decode
 *   gets one head per block). The group's q rows stay in shared memory; per
 *   block of 64 list entries the valid row ids are compacted in list order,
 *   the rows (KC of them at a time: 64 when shared memory allows, then QK and
 *   PV share one load) are copied by cp.async into shared memory (compact rows
 *   staged raw, then decoded), QK runs as tiles of HB heads x 4 keys per quad
 *   of threads (each thread 4 of the 16 AVX-512 partials, float4 loads; the fold
 *   by quad shuffles), softmax one warp per head, PV with a thread per
 *   (HB heads, 4 columns) item in registers (IPT items per thread).
 * - k_indexer<DI>: blocks of 128 keys x TC tokens (TC <= 8; fewer when the grid
 *   would be small), 128 threads, one key per thread held in registers (DI =
 *   64 or 128 floats, zero padded). Per token the token's q [nh][DI] and w
 *   [nh] are copied to shared memory (cp.async) and each thread runs 4 heads at
 *   a time against them (broadcast float4 loads). Tokens whose visible prefix
 *   ends before the block's first key (the causal triangle) cost one store.
 *   dI > 128 (not V4): k_indexer_any, a thread per score, same arithmetic.
 * - k_compress: one thread per output (w, j), grid stride.
 * - k_top_k: one block per row (256, 512 or 1024 threads). The row's ord values
 *   are cached in shared memory when they fit (n <= ~50k on H100). Radix select
 *   over the 64-bit key, 8 bits per pass, from the top: digits that all valid
 *   values share (an AND/OR of the ords; bf16 scores share their low 16 bits)
 *   and the constant high digits of the index part are skipped, and it stops
 *   as soon as the bin holding the k-th key is taken whole; histograms by
 *   warp-aggregated (match_any) shared atomics on ints. The keys >= the
 *   threshold (exactly min(k, valid)) are compacted, bitonic sorted descending
 *   in shared memory (in global scratch when k > 4096), written.
 */
#include "common.cuh"

#include <math.h>

#define CU_NEG_INF __int_as_float(0xff800000)

static __device__ __forceinline__ float cu_bf16r(float v) { return gds_round_bf16(v); }
static __device__ __forceinline__ float cu_exp_rn(float v) { return __double2float_rn(exp((double)v)); }

/* ---- cp.async (sm_80+; plain copies before) --------------------------------- */

static __device__ __forceinline__ void cu_cp16(void *s, const void *g) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((unsigned)__cvta_generic_to_shared(s)), "l"(g) : "memory");
#else
    *(float4 *)s = *(const float4 *)g;
#endif
}
static __device__ __forceinline__ void cu_cp8(void *s, const void *g) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"((unsigned)__cvta_generic_to_shared(s)), "l"(g) : "memory");
#else
    *(uint2 *)s = *(const uint2 *)g;
#endif
}
static __device__ __forceinline__ void cu_cp4(void *s, const void *g) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"((unsigned)__cvta_generic_to_shared(s)), "l"(g) : "memory");
#else
    *(float *)s = *(const float *)g;
#endif
}
static __device__ __forceinline__ void cu_cp_wait_all(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

/* largest dynamic shared memory a block may opt into on the current device
 * (asked once per device: the launchers run for every node of every token) */
static int cu_smem_optin(void) {
    static int cached[CU_MAX_DEVICES];
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return 48 * 1024;
    if (dev >= 0 && dev < CU_MAX_DEVICES && cached[dev]) return cached[dev];
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess || v < 48 * 1024) v = 48 * 1024;
    if (dev >= 0 && dev < CU_MAX_DEVICES) cached[dev] = v;
    return v;
}

static inline bool cu_aligned(const void *p, int64_t a, int64_t b, int64_t al) {
    return ((uintptr_t)p % (uintptr_t)al) == 0 && a % al == 0 && b % al == 0;
}

static inline int64_t cu_pow2_ceil(int64_t v) {
    int64_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

/* ===========================================================================
 * ATTN
 * ========================================================================= */

#define ATT_NT  256 /* threads per block */
#define ATT_BLK 64  /* list entries per online-softmax block (spec 4.9) */

struct attn_args {
    gds_cu_t q, kv, idx, sinks, dst;
    float scale;
    int hd, HP;     /* head dim, padded to 16 */
    int H, G, ng;   /* heads, heads per block, groups per token */
    int KC;         /* key rows per shared-memory chunk (multiple of 4, <= 64) */
    int compact;    /* kv is KV_E4M3_B64 */
    int kvvec;      /* F32: rows 16B aligned and hd % 4 == 0; compact: rows 8B aligned */
    int rowbytes;   /* compact: bytes of a row */
    int rbs;        /* compact: staging stride (rowbytes padded to 16) */
    int64_t N, L;
};

/* shared memory of a block (k_attn carves it in this order) */
static size_t att_smem_bytes(int G, int HP, int KC, int rbs) {
    const size_t G4 = (size_t)((G + 3) & ~3);
    return sizeof(float) * ((size_t)G * HP + (size_t)KC * (HP + 4) + (size_t)G * ATT_BLK + ATT_BLK * G4 + 3 * G4)
         + sizeof(int) * (ATT_BLK + 4) + (size_t)KC * rbs;
}

/* 4 exact values i..i+3 (i % 4 == 0) of a compact row */
static __device__ __forceinline__ float4 att_kv4(const uint8_t *row, int i) {
    const uint8_t *b = row + (i / GDS_KV_E4M3_B64_NE) * GDS_KV_E4M3_B64_SIZE;
    const int k = i % GDS_KV_E4M3_B64_NE;
    float4 r;
    if (k < GDS_KV_E4M3_B64_NOPE) {
        const float sc = gds_e8m0_to_fp32(b[k / GDS_KV_E4M3_B64_GROUP]);
        const uint8_t *c = b + GDS_KV_E4M3_B64_OFF_QS + k;
        r.x = __fmul_rn(gds_e4m3_to_fp32(c[0]), sc);
        r.y = __fmul_rn(gds_e4m3_to_fp32(c[1]), sc);
        r.z = __fmul_rn(gds_e4m3_to_fp32(c[2]), sc);
        r.w = __fmul_rn(gds_e4m3_to_fp32(c[3]), sc);
    } else {
        const uint8_t *p = b + GDS_KV_E4M3_B64_OFF_ROPE + 2 * (k - GDS_KV_E4M3_B64_NOPE);
        r.x = gds_bf16_to_fp32((uint16_t)(p[0] | p[1] << 8));
        r.y = gds_bf16_to_fp32((uint16_t)(p[2] | p[3] << 8));
        r.z = gds_bf16_to_fp32((uint16_t)(p[4] | p[5] << 8));
        r.w = gds_bf16_to_fp32((uint16_t)(p[6] | p[7] << 8));
    }
    return r;
}

/* kc rows rid[0..kc) -> k_s [kc][HP + 4] (zero past hd); ends with a barrier */
static __device__ void att_load_rows(const attn_args &a, float *k_s, uint8_t *raw_s, const int *rid, int kc, int tid) {
    const int lane = tid & 31, warp = tid >> 5, HP = a.HP, KS = HP + 4;
    if (a.compact) {
        for (int j = warp; j < kc; j += ATT_NT / 32) {
            const char *row = a.kv.data + (int64_t)rid[j] * a.kv.nb[1];
            uint8_t *st = raw_s + (size_t)j * a.rbs;
            if (a.kvvec) {
                for (int c = lane; c < a.rowbytes / 8; c += 32) cu_cp8(st + 8 * c, row + 8 * c);
            } else {
                for (int c = lane; c < a.rowbytes; c += 32) st[c] = (uint8_t)row[c];
            }
        }
        cu_cp_wait_all();
        __syncthreads();
        for (int j = warp; j < kc; j += ATT_NT / 32)
            for (int f = lane; f < HP / 4; f += 32)
                *(float4 *)(k_s + (size_t)j * KS + 4 * f) = att_kv4(raw_s + (size_t)j * a.rbs, 4 * f);
    } else if (a.kvvec) {
        const int nf = a.hd / 4;
        for (int j = warp; j < kc; j += ATT_NT / 32) {
            const char *row = a.kv.data + (int64_t)rid[j] * a.kv.nb[1];
            float *kr = k_s + (size_t)j * KS;
            for (int f = lane; f < HP / 4; f += 32) {
                if (f < nf) cu_cp16(kr + 4 * f, row + 16 * f);
                else *(float4 *)(kr + 4 * f) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
        }
        cu_cp_wait_all();
    } else {
        for (int j = warp; j < kc; j += ATT_NT / 32) {
            const char *row = a.kv.data + (int64_t)rid[j] * a.kv.nb[1];
            float *kr = k_s + (size_t)j * KS;
            for (int i = lane; i < HP; i += 32) {
                if (i < a.hd) cu_cp4(kr + i, row + 4 * (int64_t)i);
                else kr[i] = 0.0f;
            }
        }
        cu_cp_wait_all();
    }
    __syncthreads();
}

/* s_s[h][c0 + j] = (q_h . k_j) * scale for h < G, j < kc, in the AVX-512 order:
 * a quad of threads per tile of HB heads x 4 keys; thread `sub` keeps partials
 * v = 4*sub + c (c < 4) of the 16, i.e. i = 16m + 4*sub + c. */
template <int HB>
static __device__ __forceinline__ void att_qk(const float *q_s, const float *k_s, float *s_s, int G, int HP, int kc, int c0,
                                              float scale, int tid) {
    const int KS = HP + 4, nkq = (kc + 3) >> 2, ntile = (G / HB) * nkq;
    const int quad = tid >> 2, sub = tid & 3, lane = tid & 31;
    const unsigned qmask = 0xfu << (lane & ~3);
    for (int tl = quad; tl < ntile; tl += ATT_NT / 4) {
        const int hb = tl / nkq, j0 = (tl - hb * nkq) * 4, hq0 = hb * HB;
        float acc[HB][4][4];
#pragma unroll
        for (int hh = 0; hh < HB; hh++)
#pragma unroll
            for (int jj = 0; jj < 4; jj++)
#pragma unroll
                for (int c = 0; c < 4; c++) acc[hh][jj][c] = 0.0f;
        const float *qp = q_s + (size_t)hq0 * HP + 4 * sub;
        const float *kp = k_s + (size_t)j0 * KS + 4 * sub;
#pragma unroll 2
        for (int i = 0; i < HP; i += 16) {
            float4 qv[HB], kv[4];
#pragma unroll
            for (int hh = 0; hh < HB; hh++) qv[hh] = *(const float4 *)(qp + hh * HP + i);
#pragma unroll
            for (int jj = 0; jj < 4; jj++) kv[jj] = *(const float4 *)(kp + jj * KS + i);
#pragma unroll
            for (int hh = 0; hh < HB; hh++)
#pragma unroll
                for (int jj = 0; jj < 4; jj++) {
                    acc[hh][jj][0] = __fmaf_rn(qv[hh].x, kv[jj].x, acc[hh][jj][0]);
                    acc[hh][jj][1] = __fmaf_rn(qv[hh].y, kv[jj].y, acc[hh][jj][1]);
                    acc[hh][jj][2] = __fmaf_rn(qv[hh].z, kv[jj].z, acc[hh][jj][2]);
                    acc[hh][jj][3] = __fmaf_rn(qv[hh].w, kv[jj].w, acc[hh][jj][3]);
                }
        }
        /* fold as _mm512_reduce_add_ps: T3[v] = A[v] + A[v+8] (partner sub^2),
         * T6[v] = T3[v] + T3[v+4] (partner sub^1), (T6[0]+T6[2]) + (T6[1]+T6[3]) */
#pragma unroll
        for (int hh = 0; hh < HB; hh++)
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                float v[4];
#pragma unroll
                for (int c = 0; c < 4; c++) v[c] = __fadd_rn(acc[hh][jj][c], __shfl_xor_sync(qmask, acc[hh][jj][c], 2));
#pragma unroll
                for (int c = 0; c < 4; c++) v[c] = __fadd_rn(v[c], __shfl_xor_sync(qmask, v[c], 1));
                const float d = __fadd_rn(__fadd_rn(v[0], v[2]), __fadd_rn(v[1], v[3]));
                if (sub == 0 && j0 + jj < kc) s_s[(hq0 + hh) * ATT_BLK + c0 + j0 + jj] = __fmul_rn(d, scale);
            }
    }
}

template <int HB, int IPT>
static __global__ void __launch_bounds__(ATT_NT, 1) k_attn(const attn_args a) {
    extern __shared__ float4 att_sm4[];
    const int HP = a.HP, KS = HP + 4, G = a.G, G4 = (G + 3) & ~3, KC = a.KC, hd = a.hd;
    float *q_s = (float *)att_sm4;            /* [G][HP] */
    float *k_s = q_s + (size_t)G * HP;        /* [KC][HP + 4] */
    float *s_s = k_s + (size_t)KC * KS;       /* [G][64]: scores, then unrounded P */
    float *p_s = s_s + G * ATT_BLK;           /* [64][G4]: bf16(P) */
    float *m_s = p_s + ATT_BLK * G4;          /* running max, sum, last alpha */
    float *l_s = m_s + G4;
    float *a_s = l_s + G4;
    int *rid_s = (int *)(a_s + G4);           /* valid rows of the block, in list order */
    int *cnt_s = rid_s + ATT_BLK;
    uint8_t *raw_s = (uint8_t *)(cnt_s + 4);  /* compact rows, raw [KC][rbs] */

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t t = (int64_t)blockIdx.x / a.ng;
    const int h0 = (int)((int64_t)blockIdx.x % a.ng) * G;
    const int nh = min(G, a.H - h0);
    const int NF = HP / 4, nitems = (G / HB) * NF;

    for (int h = warp; h < G; h += ATT_NT / 32)
        for (int i = lane; i < HP; i += 32)
            q_s[h * HP + i] = (h < nh && i < hd) ? *(const float *)cu_at(a.q, i, h0 + h, t, 0) : 0.0f;
    for (int h = tid; h < G4; h += ATT_NT) {
        m_s[h] = CU_NEG_INF;
        l_s[h] = 0.0f;
        a_s[h] = 0.0f;
    }

    float acc[IPT][HB][4];
#pragma unroll
    for (int r = 0; r < IPT; r++)
#pragma unroll
        for (int hh = 0; hh < HB; hh++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[r][hh][c] = 0.0f;

    for (int64_t b0 = 0; b0 < a.L; b0 += ATT_BLK) {
        /* valid row ids of entries b0..b0+63 in list order (warps 0 and 1) */
        int r = -1;
        bool ok = false;
        unsigned bal = 0;
        if (tid < ATT_BLK) {
            const int64_t l = b0 + tid;
            if (l < a.L) {
                r = *(const int32_t *)(a.idx.data + l * a.idx.nb[0] + t * a.idx.nb[1]);
                ok = r >= 0 && (int64_t)r < a.N;
            }
            bal = __ballot_sync(0xffffffffu, ok);
            if (lane == 0) cnt_s[warp] = __popc(bal);
        }
        __syncthreads();
        const int nk = cnt_s[0] + cnt_s[1];
        if (ok) rid_s[__popc(bal & ((1u << lane) - 1u)) + (warp ? cnt_s[0] : 0)] = r;
        __syncthreads();
        if (nk == 0) continue; /* all -inf: m, l, acc unchanged */

        const int nch = (nk + KC - 1) / KC;
        for (int c = 0; c < nch; c++) {
            const int c0 = c * KC, kc = min(KC, nk - c0);
            att_load_rows(a, k_s, raw_s, rid_s + c0, kc, tid);
            att_qk<HB>(q_s, k_s, s_s, G, HP, kc, c0, a.scale, tid);
            __syncthreads();
        }

        /* online softmax, one warp per head (the CPU's shared scalar code) */
        for (int h = warp; h < G; h += ATT_NT / 32) {
            float *sh = s_s + h * ATT_BLK;
            if (h >= nh) {
                for (int j = lane; j < ATT_BLK; j += 32) p_s[j * G4 + h] = 0.0f;
                if (lane == 0) a_s[h] = 0.0f;
                continue;
            }
            const float v0 = lane < nk ? sh[lane] : CU_NEG_INF;
            const float v1 = lane + 32 < nk ? sh[lane + 32] : CU_NEG_INF;
            float lm = CU_NEG_INF;
            lm = v0 > lm ? v0 : lm;
            lm = v1 > lm ? v1 : lm;
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
                const float o = __shfl_xor_sync(0xffffffffu, lm, off);
                lm = o > lm ? o : lm;
            }
            const float mold = m_s[h];
            const float mb = lm > mold ? lm : mold;
            const float alpha = cu_exp_rn(__fsub_rn(mold, mb)); /* m = -inf -> 0 */
            if (lane < nk) {
                const float p = cu_exp_rn(__fsub_rn(v0, mb));
                sh[lane] = p;
                p_s[lane * G4 + h] = cu_bf16r(p);
            }
            if (lane + 32 < nk) {
                const float p = cu_exp_rn(__fsub_rn(v1, mb));
                sh[lane + 32] = p;
                p_s[(lane + 32) * G4 + h] = cu_bf16r(p);
            }
            __syncwarp();
            if (lane == 0) {
                float ls = 0.0f;
                for (int j = 0; j < nk; j++) ls = __fadd_rn(ls, sh[j]);
                l_s[h] = __fadd_rn(__fmul_rn(l_s[h], alpha), ls);
                m_s[h] = mb;
                a_s[h] = alpha;
            }
        }
        __syncthreads();

        /* PV: acc = acc*alpha, then fma over the keys in list order */
        for (int c = 0; c < nch; c++) {
            const int c0 = c * KC, kc = min(KC, nk - c0);
            if (nch > 1) att_load_rows(a, k_s, raw_s, rid_s + c0, kc, tid);
#pragma unroll
            for (int rr = 0; rr < IPT; rr++) {
                const int it = tid + rr * ATT_NT;
                if (it >= nitems) continue;
                const int hq = it / NF, f = it - hq * NF;
                if (c == 0) {
#pragma unroll
                    for (int hh = 0; hh < HB; hh++) {
                        const float al = a_s[hq * HB + hh];
#pragma unroll
                        for (int cc = 0; cc < 4; cc++) acc[rr][hh][cc] = __fmul_rn(acc[rr][hh][cc], al);
                    }
                }
                const float *kp = k_s + 4 * f;
                const float *pp = p_s + c0 * G4 + hq * HB;
#pragma unroll 4
                for (int j = 0; j < kc; j++) {
                    const float4 kv = *(const float4 *)(kp + (size_t)j * KS);
                    float pv[HB];
                    if (HB == 4) {
                        const float4 p4 = *(const float4 *)(pp + j * G4);
                        pv[0] = p4.x; pv[1 % HB] = p4.y; pv[2 % HB] = p4.z; pv[3 % HB] = p4.w;
                    } else if (HB == 2) {
                        const float2 p2 = *(const float2 *)(pp + j * G4);
                        pv[0] = p2.x; pv[1 % HB] = p2.y;
                    } else {
                        pv[0] = pp[j * G4];
                    }
#pragma unroll
                    for (int hh = 0; hh < HB; hh++) {
                        acc[rr][hh][0] = __fmaf_rn(pv[hh], kv.x, acc[rr][hh][0]);
                        acc[rr][hh][1] = __fmaf_rn(pv[hh], kv.y, acc[rr][hh][1]);
                        acc[rr][hh][2] = __fmaf_rn(pv[hh], kv.z, acc[rr][hh][2]);
                        acc[rr][hh][3] = __fmaf_rn(pv[hh], kv.w, acc[rr][hh][3]);
                    }
                }
            }
            if (nch > 1) __syncthreads();
        }
    }

    /* o = bf16(acc / (l + exp(sink - m))); no valid key: 0 */
#pragma unroll
    for (int rr = 0; rr < IPT; rr++) {
        const int it = tid + rr * ATT_NT;
        if (it >= nitems) continue;
        const int hq = it / NF, f = it - hq * NF;
#pragma unroll
        for (int hh = 0; hh < HB; hh++) {
            const int h = hq * HB + hh;
            if (h >= nh) continue;
            const float m = m_s[h];
            float l = 1.0f;
            if (m != CU_NEG_INF) {
                const float sink = *(const float *)(a.sinks.data + (int64_t)(h0 + h) * a.sinks.nb[0]);
                l = __fadd_rn(l_s[h], cu_exp_rn(__fsub_rn(sink, m)));
            }
#pragma unroll
            for (int cc = 0; cc < 4; cc++) {
                const int i = 4 * f + cc;
                if (i >= hd) continue;
                const float o = m == CU_NEG_INF ? 0.0f : cu_bf16r(__fdiv_rn(acc[rr][hh][cc], l));
                *(float *)cu_at(a.dst, i, h0 + h, t, 0) = o;
            }
        }
    }
}

template <int HB, int IPT>
static int attn_launch(const attn_args &a, unsigned grid, size_t smem, cudaStream_t st) {
    static size_t granted[CU_MAX_DEVICES];
    const cudaError_t e = cu_allow_smem(k_attn<HB, IPT>, smem, granted);
    if (e != cudaSuccess) return (int)e;
    k_attn<HB, IPT><<<grid, ATT_NT, smem, st>>>(a);
    GDS_CU_RETURN_LAST();
}

extern "C" int gds_cu_run_attn(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    attn_args a;
    a.q = n->src[0];
    a.kv = n->src[1];
    a.idx = n->src[2];
    a.sinks = n->src[3];
    a.dst = n->dst;
    a.scale = gds_cu_param_f32(n, GDS_P_ATTN_SCALE);
    const int64_t hd = a.q.ne[0], H = a.q.ne[1], T = a.q.ne[2];
    if (hd <= 0 || H <= 0 || T <= 0) return 0;
    a.hd = (int)hd;
    a.HP = (int)((hd + 15) / 16 * 16);
    a.H = (int)H;
    a.N = a.kv.ne[1];
    a.L = a.idx.ne[0];
    a.compact = a.kv.type == GDS_TYPE_KV_E4M3_B64;
    if (!a.compact && a.kv.type != GDS_TYPE_F32) return (int)cudaErrorInvalidValue;
    if (a.compact) {
        if (hd % GDS_KV_E4M3_B64_NE) return (int)cudaErrorInvalidValue;
        a.rowbytes = (int)(hd / GDS_KV_E4M3_B64_NE) * GDS_KV_E4M3_B64_SIZE;
        a.rbs = (a.rowbytes + 15) / 16 * 16;
        a.kvvec = cu_aligned(a.kv.data, a.kv.nb[1], 0, 8);
    } else {
        a.rowbytes = 0;
        a.rbs = 0;
        a.kvvec = hd % 4 == 0 && cu_aligned(a.kv.data, a.kv.nb[1], 0, 16);
    }

    /* heads per block: 16, halved while the grid would be small (decode);
     * per-head results do not depend on G */
    const size_t cap = (size_t)cu_smem_optin();
    int G = 16;
    while (G > 1 && G / 2 >= H) G >>= 1;
    while (G > 1 && T * ((H + G - 1) / G) < 2 * (int64_t)(x->n_sm > 0 ? x->n_sm : 1)) G >>= 1;
    int KC = 0, HB = 0, ipt = 0;
    for (;; G >>= 1) {
        HB = G < 4 ? G : 4;
        const int64_t items = (int64_t)(G / HB) * (a.HP / 4);
        ipt = (int)((items + ATT_NT - 1) / ATT_NT);
        if (ipt == 3) ipt = 4;
        KC = 0;
        for (int kc = ATT_BLK; kc >= 4; kc >>= 1)
            if (att_smem_bytes(G, a.HP, kc, a.rbs) <= cap) { KC = kc; break; }
        if (KC && ipt <= 4) break;
        if (G == 1) return (int)cudaErrorInvalidValue; /* hd too large for this kernel */
    }
    a.G = G;
    a.KC = KC;
    a.ng = (int)((H + G - 1) / G);
    const int64_t nblk = T * a.ng;
    if (nblk > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    const size_t smem = att_smem_bytes(G, a.HP, KC, a.rbs);
    const unsigned grid = (unsigned)nblk;
    cudaStream_t st = cu_stream(x);
    switch (HB * 8 + ipt) {
    case 1 * 8 + 1: return attn_launch<1, 1>(a, grid, smem, st);
    case 1 * 8 + 2: return attn_launch<1, 2>(a, grid, smem, st);
    case 1 * 8 + 4: return attn_launch<1, 4>(a, grid, smem, st);
    case 2 * 8 + 1: return attn_launch<2, 1>(a, grid, smem, st);
    case 2 * 8 + 2: return attn_launch<2, 2>(a, grid, smem, st);
    case 2 * 8 + 4: return attn_launch<2, 4>(a, grid, smem, st);
    case 4 * 8 + 1: return attn_launch<4, 1>(a, grid, smem, st);
    case 4 * 8 + 2: return attn_launch<4, 2>(a, grid, smem, st);
    case 4 * 8 + 4: return attn_launch<4, 4>(a, grid, smem, st);
    default: return (int)cudaErrorInvalidValue;
    }
}

/* ===========================================================================
 * INDEXER
 * ========================================================================= */

#define IDX_NT 128 /* keys per block, one per thread */
#define IDX_TC 8   /* tokens per block at most */

struct idx_args {
    gds_cu_t q, kI, w, pos, dst;
    int ratio, dI, nh, TC;
    int mx;   /* kI is MXFP4 */
    int qvec; /* q rows 16B aligned, dI % 4 == 0 */
    int kvec; /* F32 kI rows 16B aligned, dI % 4 == 0 */
    int64_t S, T;
};

/* bf16(max(bf16(d), 0) * w): one head's term of the score */
static __device__ __forceinline__ float idx_term(float d, float w) {
    float v = cu_bf16r(d);
    v = v > 0.0f ? v : 0.0f;
    return cu_bf16r(__fmul_rn(v, w));
}

template <int DI>
static __global__ void __launch_bounds__(IDX_NT, 3) k_indexer(const idx_args a) {
    extern __shared__ float4 idx_sm4[];
    float *q_s = (float *)idx_sm4;     /* [nh][DI], zero past dI */
    float *w_s = q_s + (size_t)a.nh * DI; /* [nh] */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nh = a.nh, dI = a.dI;
    const int64_t s0 = (int64_t)blockIdx.x * IDX_NT, s = s0 + tid;
    const int64_t t0 = (int64_t)blockIdx.y * a.TC;
    const int64_t t1 = t0 + a.TC < a.T ? t0 + a.TC : a.T;

    /* this thread's key, exact f32 values, zero padded to DI */
    float kr[DI];
    if (s < a.S) {
        const char *row = a.kI.data + s * a.kI.nb[1];
        if (a.mx) {
            const block_mxfp4 *bl = (const block_mxfp4 *)row;
#pragma unroll
            for (int b = 0; b < DI / QK_MXFP4; b++) {
                if (b < dI / QK_MXFP4) {
                    const float d = gds_e8m0_to_fp32_half(bl[b].e);
#pragma unroll
                    for (int j = 0; j < QK_MXFP4 / 2; j++) {
                        const uint8_t c = bl[b].qs[j];
                        kr[b * QK_MXFP4 + j] = __fmul_rn(d, (float)gds_kvalue_mxfp4((uint8_t)(c & 0x0f)));
                        kr[b * QK_MXFP4 + j + QK_MXFP4 / 2] = __fmul_rn(d, (float)gds_kvalue_mxfp4((uint8_t)(c >> 4)));
                    }
                } else {
#pragma unroll
                    for (int j = 0; j < QK_MXFP4; j++) kr[b * QK_MXFP4 + j] = 0.0f;
                }
            }
        } else if (a.kvec) {
#pragma unroll
            for (int i = 0; i < DI; i += 4) {
                float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                if (i < dI) v = *(const float4 *)(row + 4 * i);
                kr[i] = v.x; kr[i + 1] = v.y; kr[i + 2] = v.z; kr[i + 3] = v.w;
            }
        } else {
#pragma unroll
            for (int i = 0; i < DI; i++) kr[i] = i < dI ? *(const float *)(row + 4 * i) : 0.0f;
        }
    } else {
#pragma unroll
        for (int i = 0; i < DI; i++) kr[i] = 0.0f;
    }

    for (int64_t t = t0; t < t1; t++) {
        const int32_t pt = *(const int32_t *)(a.pos.data + t * a.pos.nb[0]);
        const int64_t vis = ((int64_t)pt + 1) / a.ratio;
        float *yr = (float *)(a.dst.data + t * a.dst.nb[1]);
        if (vis <= s0) { /* the whole block is past the visible prefix */
            if (s < a.S) yr[s] = CU_NEG_INF;
            continue;
        }
        __syncthreads(); /* the previous token's q_s is no longer read */
        for (int h = warp; h < nh; h += IDX_NT / 32) {
            const char *qr = cu_at(a.q, 0, h, t, 0);
            float *qd = q_s + (size_t)h * DI;
            if (a.qvec) {
                for (int c = lane; c < DI / 4; c += 32) {
                    if (4 * c < dI) cu_cp16(qd + 4 * c, qr + 16 * c);
                    else *(float4 *)(qd + 4 * c) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                }
            } else {
                for (int i = lane; i < DI; i += 32) {
                    if (i < dI) cu_cp4(qd + i, qr + 4 * i);
                    else qd[i] = 0.0f;
                }
            }
        }
        for (int h = tid; h < nh; h += IDX_NT) w_s[h] = *(const float *)cu_at(a.w, h, t, 0, 0);
        cu_cp_wait_all();
        __syncthreads();
        if (s0 + 32 * warp >= vis) { /* this warp's keys are all masked */
            if (s < a.S) yr[s] = CU_NEG_INF;
            continue;
        }

        float tot = 0.0f;
        int h = 0;
        for (; h + 4 <= nh; h += 4) {
            const float *q0 = q_s + (size_t)h * DI;
            float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
#pragma unroll
            for (int i = 0; i < DI; i += 4) {
                const float4 a0 = *(const float4 *)(q0 + i);
                const float4 a1 = *(const float4 *)(q0 + DI + i);
                const float4 a2 = *(const float4 *)(q0 + 2 * DI + i);
                const float4 a3 = *(const float4 *)(q0 + 3 * DI + i);
                d0 = __fmaf_rn(a0.x, kr[i], d0); d0 = __fmaf_rn(a0.y, kr[i + 1], d0);
                d0 = __fmaf_rn(a0.z, kr[i + 2], d0); d0 = __fmaf_rn(a0.w, kr[i + 3], d0);
                d1 = __fmaf_rn(a1.x, kr[i], d1); d1 = __fmaf_rn(a1.y, kr[i + 1], d1);
                d1 = __fmaf_rn(a1.z, kr[i + 2], d1); d1 = __fmaf_rn(a1.w, kr[i + 3], d1);
                d2 = __fmaf_rn(a2.x, kr[i], d2); d2 = __fmaf_rn(a2.y, kr[i + 1], d2);
                d2 = __fmaf_rn(a2.z, kr[i + 2], d2); d2 = __fmaf_rn(a2.w, kr[i + 3], d2);
                d3 = __fmaf_rn(a3.x, kr[i], d3); d3 = __fmaf_rn(a3.y, kr[i + 1], d3);
                d3 = __fmaf_rn(a3.z, kr[i + 2], d3); d3 = __fmaf_rn(a3.w, kr[i + 3], d3);
            }
            tot = __fadd_rn(tot, idx_term(d0, w_s[h]));
            tot = __fadd_rn(tot, idx_term(d1, w_s[h + 1]));
            tot = __fadd_rn(tot, idx_term(d2, w_s[h + 2]));
            tot = __fadd_rn(tot, idx_term(d3, w_s[h + 3]));
        }
        for (; h < nh; h++) {
            const float *q0 = q_s + (size_t)h * DI;
            float d0 = 0.0f;
#pragma unroll
            for (int i = 0; i < DI; i += 4) {
                const float4 a0 = *(const float4 *)(q0 + i);
                d0 = __fmaf_rn(a0.x, kr[i], d0); d0 = __fmaf_rn(a0.y, kr[i + 1], d0);
                d0 = __fmaf_rn(a0.z, kr[i + 2], d0); d0 = __fmaf_rn(a0.w, kr[i + 3], d0);
            }
            tot = __fadd_rn(tot, idx_term(d0, w_s[h]));
        }
        if (s < a.S) yr[s] = s < vis ? cu_bf16r(tot) : CU_NEG_INF;
    }
}

/* any dI: a thread per score, the same arithmetic straight from global memory */
static __global__ void k_indexer_any(const idx_args a) {
    const int64_t S = a.S;
    CU_GRID_STRIDE(e, S * a.T) {
        const int64_t t = e / S, s = e % S;
        const int32_t pt = *(const int32_t *)(a.pos.data + t * a.pos.nb[0]);
        const int64_t vis = ((int64_t)pt + 1) / a.ratio;
        float out = CU_NEG_INF;
        if (s < vis) {
            const char *kr = a.kI.data + s * a.kI.nb[1];
            float tot = 0.0f;
            for (int h = 0; h < a.nh; h++) {
                const char *qr = cu_at(a.q, 0, h, t, 0);
                float d = 0.0f;
                for (int i = 0; i < a.dI; i++) d = __fmaf_rn(*(const float *)(qr + 4 * (int64_t)i), cu_row_value(kr, a.kI.type, i), d);
                tot = __fadd_rn(tot, idx_term(d, *(const float *)cu_at(a.w, h, t, 0, 0)));
            }
            out = cu_bf16r(tot);
        }
        *(float *)(a.dst.data + s * 4 + t * a.dst.nb[1]) = out;
    }
}

template <int DI>
static int idx_launch(const idx_args &a, dim3 grid, size_t smem, cudaStream_t st) {
    static size_t granted[CU_MAX_DEVICES];
    const cudaError_t e = cu_allow_smem(k_indexer<DI>, smem, granted);
    if (e != cudaSuccess) return (int)e;
    k_indexer<DI><<<grid, IDX_NT, smem, st>>>(a);
    GDS_CU_RETURN_LAST();
}

extern "C" int gds_cu_run_indexer(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    idx_args a;
    a.q = n->src[0];
    a.kI = n->src[1];
    a.w = n->src[2];
    a.pos = n->src[3];
    a.dst = n->dst;
    a.ratio = n->params[GDS_P_IDX_RATIO];
    a.dI = (int)a.q.ne[0];
    a.nh = (int)a.q.ne[1];
    a.T = a.q.ne[2];
    a.S = a.kI.ne[1];
    if (a.S <= 0 || a.T <= 0) return 0;
    if (a.ratio <= 0) return (int)cudaErrorInvalidValue;
    a.mx = a.kI.type == GDS_TYPE_MXFP4;
    if (!a.mx && a.kI.type != GDS_TYPE_F32) return (int)cudaErrorInvalidValue;
    a.qvec = a.dI % 4 == 0 && cu_aligned(a.q.data, a.q.nb[1], a.q.nb[2], 16);
    a.kvec = !a.mx && a.dI % 4 == 0 && cu_aligned(a.kI.data, a.kI.nb[1], 0, 16);
    cudaStream_t st = cu_stream(x);

    const int DI = a.dI <= 64 ? 64 : a.dI <= 128 ? 128 : 0;
    const size_t smem = sizeof(float) * ((size_t)a.nh * (DI ? DI : 1) + (size_t)((a.nh + 3) & ~3));
    if (DI && smem <= (size_t)cu_smem_optin()) {
        const int64_t nkb = (a.S + IDX_NT - 1) / IDX_NT;
        int64_t TC = IDX_TC < a.T ? IDX_TC : a.T;
        while (TC > 1 && nkb * ((a.T + TC - 1) / TC) < 2 * (int64_t)(x->n_sm > 0 ? x->n_sm : 1)) TC >>= 1;
        while ((a.T + TC - 1) / TC > 65535) TC <<= 1;
        if (nkb > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
        a.TC = (int)TC;
        const dim3 grid((unsigned)nkb, (unsigned)((a.T + TC - 1) / TC));
        return DI == 64 ? idx_launch<64>(a, grid, smem, st) : idx_launch<128>(a, grid, smem, st);
    }
    a.TC = 1;
    k_indexer_any<<<cu_blocks(a.S * a.T, 256), 256, 0, st>>>(a);
    GDS_CU_RETURN_LAST();
}

/* ===========================================================================
 * COMPRESS
 * ========================================================================= */

static __global__ void k_compress(const gds_cu_t k, const gds_cu_t z, const gds_cu_t y, int64_t d, int64_t nw, int64_t m,
                                  int nlane) {
    CU_GRID_STRIDE(e, d * nw) {
        const int64_t w = e / d, j = e % d;
        float mx = CU_NEG_INF, sum = 0.0f, acc = 0.0f;
        for (int L = 0; L < nlane; L++)
            for (int64_t t = 0; t < m; t++) {
                const float zv = *(const float *)cu_at(z, L * d + j, t, w + L, 0);
                if (zv == CU_NEG_INF) continue;
                mx = zv > mx ? zv : mx;
            }
        for (int L = 0; L < nlane; L++)
            for (int64_t t = 0; t < m; t++) {
                const float zv = *(const float *)cu_at(z, L * d + j, t, w + L, 0);
                if (zv == CU_NEG_INF) continue;
                sum = __fadd_rn(sum, cu_exp_rn(__fsub_rn(zv, mx)));
            }
        for (int L = 0; L < nlane; L++)
            for (int64_t t = 0; t < m; t++) {
                const float zv = *(const float *)cu_at(z, L * d + j, t, w + L, 0);
                if (zv == CU_NEG_INF) continue;
                const float kv = *(const float *)cu_at(k, L * d + j, t, w + L, 0);
                acc = __fadd_rn(acc, __fmul_rn(__fdiv_rn(cu_exp_rn(__fsub_rn(zv, mx)), sum), kv));
            }
        *(float *)cu_at(y, j, w, 0, 0) = acc;
    }
}

extern "C" int gds_cu_run_compress(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &k = n->src[0], &z = n->src[1], &y = n->dst;
    const int nlane = n->params[GDS_P_COMP_OVERLAP] != 0 ? 2 : 1;
    const int64_t d = y.ne[0], nw = y.ne[1], m = k.ne[1];
    if (d * nw == 0) return 0;
    k_compress<<<cu_blocks(d * nw, 256), 256, 0, cu_stream(x)>>>(k, z, y, d, nw, m, nlane);
    GDS_CU_RETURN_LAST();
}

/* ===========================================================================
 * TOP_K
 * ========================================================================= */

#define TK_SMEM_KPAD 4096 /* sort buffer in shared memory up to this many keys */

/* order-preserving bits of a valid value (> 0x007fffff), 0 for -inf and NaN */
static __device__ __forceinline__ uint32_t tk_ord(float v) {
    if (!(v > CU_NEG_INF)) return 0u;
    const uint32_t u = __float_as_uint(v == 0.0f ? 0.0f : v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static __device__ __forceinline__ unsigned long long tk_key(uint32_t o, int i) {
    return ((unsigned long long)o << 32) | (unsigned long long)(0xffffffffu - (uint32_t)i);
}

static __global__ void __launch_bounds__(1024) k_top_k(const gds_cu_t x, const gds_cu_t y, int k, int kpad, int cache,
                                                       unsigned long long *gbuf) {
    extern __shared__ unsigned long long tk_sm[];
    __shared__ int hist[256];
    __shared__ int st_nvalid, st_cnt, st_b, st_above, st_bc;
    __shared__ unsigned st_and, st_or;
    const int n = (int)x.ne[0], nt = (int)blockDim.x, tid = (int)threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t row = blockIdx.x;
    const int64_t i1 = row % x.ne[1], i2 = (row / x.ne[1]) % x.ne[2], i3 = row / (x.ne[1] * x.ne[2]);
    const char *xr = cu_at(x, 0, i1, i2, i3);
    int32_t *yr = (int32_t *)cu_at(y, 0, i1, i2, i3);
    unsigned long long *buf = gbuf ? gbuf + row * kpad : tk_sm;
    uint32_t *oc = (uint32_t *)(tk_sm + (gbuf ? 0 : kpad));
    const int64_t xs = x.nb[0];

    if (tid == 0) {
        st_nvalid = 0;
        st_cnt = 0;
        st_and = 0xffffffffu;
        st_or = 0u;
    }
    __syncthreads();

    /* ords (cached), count of valid values, AND / OR of their ords */
    {
        unsigned land = 0xffffffffu, lor = 0u;
        int lc = 0;
        for (int i = tid; i < n; i += nt) {
            const uint32_t o = tk_ord(*(const float *)(xr + (int64_t)i * xs));
            if (cache) oc[i] = o;
            if (o) {
                land &= o;
                lor |= o;
                lc++;
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            land &= __shfl_xor_sync(0xffffffffu, land, off);
            lor |= __shfl_xor_sync(0xffffffffu, lor, off);
            lc += __shfl_xor_sync(0xffffffffu, lc, off);
        }
        if (lane == 0) {
            atomicAdd(&st_nvalid, lc);
            atomicAnd(&st_and, land);
            atomicOr(&st_or, lor);
        }
    }
    __syncthreads();

    const int nvalid = st_nvalid;
    unsigned long long thr = 1ull; /* select keys >= thr (valid keys are > 2^55) */
    if (nvalid > k) {
        const unsigned oand = st_and, diff = st_and ^ st_or;
        const int ibits = n > 1 ? 32 - __clz(n - 1) : 0;
        const int itop = (ibits + 7) / 8 * 8; /* index digits at and above are all 0xff */
        unsigned long long prefix = 0ull;
        int kk = k;
        for (int shift = 56; shift >= 0; shift -= 8) {
            if (shift >= 32) {
                if (((diff >> (shift - 32)) & 0xffu) == 0u) { /* every valid value has this digit */
                    prefix |= (unsigned long long)((oand >> (shift - 32)) & 0xffu) << shift;
                    continue;
                }
            } else if (shift >= itop) {
                prefix |= 0xffull << shift;
                continue;
            }
            for (int b = tid; b < 256; b += nt) hist[b] = 0;
            __syncthreads();
            const unsigned long long hmask = shift >= 56 ? 0ull : (~0ull << (shift + 8));
            for (int i0 = warp * 32; i0 < n; i0 += nt) { /* warp-uniform trip count */
                const int i = i0 + lane;
                unsigned dg = 256u;
                if (i < n) {
                    const uint32_t o = cache ? oc[i] : tk_ord(*(const float *)(xr + (int64_t)i * xs));
                    if (o) {
                        const unsigned long long key = tk_key(o, i);
                        if ((key & hmask) == prefix) dg = (unsigned)(key >> shift) & 0xffu;
                    }
                }
                const unsigned peers = __match_any_sync(0xffffffffu, dg);
                if (dg < 256u && lane == __ffs(peers) - 1) atomicAdd(&hist[dg], __popc(peers));
            }
            __syncthreads();
            if (warp == 0) { /* the bin of the kk-th largest, from the top */
                const int top = 255 - 8 * lane;
                int c[8], sum = 0;
#pragma unroll
                for (int q = 0; q < 8; q++) {
                    c[q] = hist[top - q];
                    sum += c[q];
                }
                int inc = sum;
#pragma unroll
                for (int off = 1; off < 32; off <<= 1) {
                    const int v = __shfl_up_sync(0xffffffffu, inc, off);
                    if (lane >= off) inc += v;
                }
                int ex = inc - sum;
                if (ex < kk && kk <= inc) {
#pragma unroll
                    for (int q = 0; q < 8; q++) {
                        if (ex + c[q] >= kk) {
                            st_b = top - q;
                            st_above = ex;
                            st_bc = c[q];
                            break;
                        }
                        ex += c[q];
                    }
                }
            }
            __syncthreads();
            kk -= st_above;
            prefix |= (unsigned long long)st_b << shift;
            if (st_bc == kk) break; /* the whole bin is taken: keys >= prefix are exactly k */
        }
        thr = prefix;
    }

    /* compact the selected keys (any order; the sort makes it unique) */
    for (int i0 = warp * 32; i0 < n; i0 += nt) {
        const int i = i0 + lane;
        unsigned long long key = 0ull;
        if (i < n) {
            const uint32_t o = cache ? oc[i] : tk_ord(*(const float *)(xr + (int64_t)i * xs));
            if (o) key = tk_key(o, i);
        }
        const bool sel = key != 0ull && key >= thr;
        const unsigned bal = __ballot_sync(0xffffffffu, sel);
        if (bal) {
            const int leader = __ffs(bal) - 1;
            int base = 0;
            if (lane == leader) base = atomicAdd(&st_cnt, __popc(bal));
            base = __shfl_sync(0xffffffffu, base, leader);
            if (sel) buf[base + __popc(bal & ((1u << lane) - 1u))] = key;
        }
    }
    __syncthreads();
    const int cnt = st_cnt;
    for (int j = cnt + tid; j < kpad; j += nt) buf[j] = 0ull;
    __syncthreads();

    /* bitonic sort, descending */
    for (int size = 2; size <= kpad; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int p = tid; p < kpad / 2; p += nt) {
                const int lo = 2 * p - (p & (stride - 1)), hi = lo + stride;
                const unsigned long long va = buf[lo], vb = buf[hi];
                const bool desc = (lo & size) == 0;
                if (desc ? va < vb : va > vb) {
                    buf[lo] = vb;
                    buf[hi] = va;
                }
            }
            __syncthreads();
        }

    for (int j = tid; j < k; j += nt) yr[j] = j < cnt ? (int32_t)(0xffffffffu - (uint32_t)buf[j]) : -1;
}

extern "C" size_t gds_cu_work_top_k(const struct gds_cu_node *n) {
    const int64_t kpad = cu_pow2_ceil(n->dst.ne[0]);
    const int64_t rows = n->src[0].ne[1] * n->src[0].ne[2] * n->src[0].ne[3];
    return kpad > TK_SMEM_KPAD ? (size_t)(rows * kpad) * sizeof(unsigned long long) : 0;
}

extern "C" int gds_cu_run_top_k(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &xs = n->src[0], &d = n->dst;
    const int64_t nn = xs.ne[0], k = d.ne[0], rows = xs.ne[1] * xs.ne[2] * xs.ne[3];
    if (rows <= 0 || k <= 0) return 0;
    if (k > nn || nn >= 0x7fffffffLL || rows > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    const int64_t kpad = cu_pow2_ceil(k);
    unsigned long long *gbuf = NULL;
    if (kpad > TK_SMEM_KPAD) {
        if (!x->scratch || x->scratch_size < gds_cu_work_top_k(n)) return (int)cudaErrorInvalidValue;
        gbuf = (unsigned long long *)x->scratch;
    }
    const int nt = nn >= 8192 ? 1024 : nn >= 2048 ? 512 : 256;
    size_t smem = gbuf ? 0 : (size_t)kpad * sizeof(unsigned long long);
    const size_t cap = (size_t)cu_smem_optin() - 2048; /* static shared memory: hist and counters */
    const int cache = smem + (size_t)nn * 4 <= cap;
    if (cache) smem += (size_t)nn * 4;
    static size_t granted[CU_MAX_DEVICES];
    const cudaError_t e = cu_allow_smem(k_top_k, smem, granted);
    if (e != cudaSuccess) return (int)e;
    k_top_k<<<(unsigned)rows, nt, smem, cu_stream(x)>>>(xs, d, (int)k, (int)kpad, cache, gbuf);
    GDS_CU_RETURN_LAST();
}
