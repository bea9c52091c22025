#version 450
/*
 * mvstage.comp - one-column MUL_MAT with BF16 or F16 weights (the decode
 * mat-vecs of any N, the BF16 output head) with the weights staged in shared
 * memory, in matmul.comp's canonical order: 16 lanes per output, lane l sums
 * the rounded products w[k] * round(x[k]) of k = l mod 16 (k below K16 =
 * K - K % 16) in increasing k, the lanes reduce by the tree 8, 4, 2, 1, the
 * tail k >= K16 adds in order; so the bits are matmul.comp's and
 * matvec.comp's (and the scalar CPU's).
 *
 * Why: a lane chain is sequential, so at most 16 threads can work on a row;
 * when those threads also load the row, a small N (256 rows: 4096 threads)
 * has too few bytes in flight to cover the DRAM latency. Here the loads and
 * the chains are separate: a workgroup of 256 threads owns R rows (VARIANT
 * & 15) and walks K in slabs of KS = 8 * KS8 elements a row (KS8 = VARIANT
 * >> 4, a power of 2). All 256 threads load a slab with fully coalesced
 * 16-byte loads (R * KS8 / 256 <= 8 a thread, all issued before any is
 * used) into shared memory, the next slab's loads are issued before the
 * current slab's chains run, and thread (r, l) < 16 R runs lane l of row r
 * from shared memory (activations from the x row, L1/L2 resident). The host
 * picks R by the rows to cover (N = 256: R = 1, 256 workgroups of 8 KB in
 * flight at once) and KS8 by K and the device's shared memory.
 * Shared row pitch KS8 + 2 uvec4: the two rows of a warp's chains read
 * different banks. Weight rows at multiples of 16 bytes (the host checks).
 * Workgroups: ceil(N / R) x (columns of dst: ne1 * ne2 * ne3); u[2] = count.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 1) readonly buffer S0V { uvec4 d[]; } s0_v;

const uint R = uint(VARIANT) & 15u;  /* rows per workgroup (1, 2, 4, 8) */
const uint KS8 = uint(VARIANT) >> 4; /* uvec4 (8 elements) per row per slab */
const uint PITCH = KS8 + 2u;         /* shared row pitch in uvec4 */
const uint NL = (R * KS8 + 255u) / 256u; /* loads per thread per slab (<= 8) */

shared uvec4 wsh[R * PITCH];
shared float lsum[16u * R];

bool g_bf16;

float wdec(uint h) { return g_bf16 ? uintBitsToFloat(h << 16) : fp16_to_f32(h); }
float around(float x) { return g_bf16 ? round_bf16(x) : fp16_to_f32(f32_to_fp16(x)); }

void main() {
    g_bf16 = P.t[1].type == T_BF16;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0];
    const uint tid = gl_LocalInvocationID.x;
    const uint gid = group_id();
    if (gid >= P.u[2]) return;
    const uint ngr = (N + R - 1u) / R, rg = gid % ngr, cs = gid / ngr;
    const uint n0 = rg * R;
    /* column cs = (m, i2, i3) of dst */
    const uint m = cs % P.t[0].ne[1], bb = cs / P.t[0].ne[1];
    const uint i2 = bb % P.t[0].ne[2], i3 = bb / P.t[0].ne[2];
    const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
    const uint wb = t_off(1, 0u, 0u, i2 / r2, i3 / r3), nb1 = P.t[1].nb[1];
    const uint xf = t_off(2, 0u, m, i2, i3) >> 2; /* float index of x[0] */
    const uint K16 = K - K % 16u, KS = 8u * KS8;
    const uint nslab = (K16 + KS - 1u) / KS;

    /* this thread's loads: uvec4 q = tid + 256 u of the slab, row q / KS8, column q % KS8 */
    uint lw[8];      /* uvec4 index of the load in slab 0 (+ slab * KS8 later) */
    uint lc[8];      /* element offset in the row of slab 0 */
    [[unroll]] for (uint u = 0u; u < 8u; u++) {
        const uint q = tid + 256u * u, r = min(q / KS8, R - 1u), c = q % KS8;
        lw[u] = ((wb + min(n0 + r, N - 1u) * nb1) >> 4) + c; /* rows past N: row N-1, not written */
        lc[u] = 8u * c;
    }
    uvec4 v[8];
    [[unroll]] for (uint u = 0u; u < 8u; u++) v[u] = uvec4(0u);
    [[unroll]] for (uint u = 0u; u < 8u; u++)
        if (u < NL && tid + 256u * u < R * KS8 && lc[u] < K16) v[u] = s0_v.d[lw[u]];

    /* chain (row cr, lane cl) for tid < 16 R */
    const bool chain = tid < 16u * R;
    const uint cr = min(tid >> 4, R - 1u), cl = tid & 15u;
    const uint cw = cr * PITCH * 4u + (cl >> 1), csh = (cl & 1u) * 16u; /* word of step 0, half */
    precise float acc = 0.0;
    for (uint s = 0u; s < nslab; s++) {
        barrier(); /* the previous slab's chains are done with wsh */
        [[unroll]] for (uint u = 0u; u < 8u; u++) {
            const uint q = tid + 256u * u;
            if (u < NL && q < R * KS8) wsh[(q / KS8) * PITCH + q % KS8] = v[u];
        }
        barrier();
        const uint k0 = s * KS;
        if (s + 1u < nslab) /* the next slab's loads in flight during this slab's chains */
            [[unroll]] for (uint u = 0u; u < 8u; u++)
                if (u < NL && tid + 256u * u < R * KS8 && k0 + KS + lc[u] < K16) v[u] = s0_v.d[lw[u] + (s + 1u) * KS8];
        if (chain) {
            const uint nst = min(KS, K16 - k0) / 16u;
            const uint xk = xf + k0 + cl;
            uint i = 0u;
            for (; i + 8u <= nst; i += 8u) {
                uint wv[8];
                float xv[8];
                [[unroll]] for (uint e = 0u; e < 8u; e++) {
                    const uint w = cw + 8u * (i + e);
                    wv[e] = wsh[w >> 2][w & 3u];
                    xv[e] = s1_f.d[xk + 16u * (i + e)];
                }
                [[unroll]] for (uint e = 0u; e < 8u; e++) {
                    precise float p = wdec((wv[e] >> csh) & 0xffffu) * around(xv[e]);
                    acc = acc + p;
                }
            }
            for (; i < nst; i++) {
                const uint w = cw + 8u * i;
                precise float p = wdec((wsh[w >> 2][w & 3u] >> csh) & 0xffffu) * around(s1_f.d[xk + 16u * i]);
                acc = acc + p;
            }
        }
    }
    if (chain) lsum[tid] = acc;
    barrier();
    if (tid < R && n0 + tid < N) {
        const uint n = n0 + tid;
        precise float s[16];
        [[unroll]] for (uint l = 0u; l < 16u; l++) s[l] = lsum[tid * 16u + l];
        [[unroll]] for (uint l = 0u; l < 8u; l++) s[l] = s[l] + s[l + 8u];
        [[unroll]] for (uint l = 0u; l < 4u; l++) s[l] = s[l] + s[l + 4u];
        [[unroll]] for (uint l = 0u; l < 2u; l++) s[l] = s[l] + s[l + 2u];
        precise float sum = s[0] + s[1];
        const uint fwo = wb + n * nb1;
        for (uint k = K16; k < K; k++) {
            precise float p = wdec(s0_u16(fwo + 2u * k)) * around(s1_f.d[xf + k]);
            sum = sum + p;
        }
        dst_store((t_off(0, 0u, m, i2, i3) >> 2) + n, sum);
    }
}
