#version 450
/*
 * mvs.comp - MUL_MAT with BF16 or F16 weights, one to four activation
 * columns (the decode mat-vecs and the BF16 output head), the weights staged
 * in shared memory, in matmul.comp's canonical order: 16 lanes per output,
 * lane l sums the rounded products w[k] * round(x[k]) of k = l mod 16 (k
 * below K16 = K - K % 16) in increasing k, the lanes reduce by the tree 8, 4,
 * 2, 1, the tail k >= K16 adds in order; so the bits are matvec.comp's,
 * matmul.comp's and the scalar CPU's.
 *
 * Mapping: a workgroup of 16 R threads (R rows; the host sets the size,
 * specialization constant 1) and one column set (up to 4 columns of one
 * (i2, i3), as matvec.comp); thread (r, l) = (tid / 16, tid % 16) runs lane
 * l of row r for every column, so every thread runs a chain (mvstage.comp,
 * reverted in cdc618c, had 256 threads for 1-4 rows: 16-64 of them ran the
 * chains while the rest waited). K runs in slabs of SK = 256 elements
 * (512 bytes of a row): each thread loads 2 uvec4 of a slab (a warp loads
 * 512 contiguous bytes of one row), PF slabs ahead in registers, and stores
 * them into one of two shared buffers; the slab's activations, rounded once,
 * go beside them (one slab ahead). One barrier a slab: slab t is stored into
 * buffer t & 1, whose previous readers (the chains of slab t - 2) passed the
 * barrier of slab t - 1. A chain step reads one weight word (2 lanes share
 * it; the two rows of a warp at a row pitch of 136 words: other banks) and
 * one activation per column.
 * VARIANT: PF (bits 0-3: slabs of loads in flight, 1..8), DIAG (bits 4-5,
 * diagnostics, wrong outputs: 1 = the loads only (XOR-consumed, no shared
 * memory), 2 = loads and staging without the chains), ONE (bit 6: one
 * activation column, M = 1: the column loops fold away), the workgroup size
 * 16 R in bits 16.. (constant 1). Weight and activation rows at multiples of
 * 16 bytes (the host checks). Workgroups: ceil(N / R) x column sets; u[2] =
 * their count.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 1) in;

layout(std430, binding = 1) readonly buffer S0V { uvec4 d[]; } s0_v;
layout(std430, binding = 2) readonly buffer S1V { vec4 d[]; } s1_v;

const uint WG = gl_WorkGroupSize.x;    /* 16 R: 32, 64, 128 or 256 */
const uint R = WG / 16u;               /* rows per workgroup */
const uint PF = uint(VARIANT) & 15u;   /* slabs of weight loads in flight */
const uint DIAG = (uint(VARIANT) >> 4) & 3u;
const bool ONE = (uint(VARIANT) & 64u) != 0u; /* one activation column (M = 1): the column loops fold away */
const uint SK = 256u;                  /* elements of a row per slab */
const uint PITCH = 34u;                /* shared row pitch in uvec4 (32 + 2) */
const uint XL = 256u / WG;             /* activation vec4 a thread stages (4 columns x 64) */

shared uvec4 wsh[2u * R * PITCH];
shared float xs[2u * 4u * SK];         /* [buffer][column][k]; at the end the lane sums */

bool g_bf16;

float wdec(uint h) { return g_bf16 ? uintBitsToFloat(h << 16) : fp16_to_f32(h); }
float around(float x) { return g_bf16 ? round_bf16(x) : fp16_to_f32(f32_to_fp16(x)); }

void main() {
    g_bf16 = P.t[1].type == T_BF16;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0];
    const uint tid = gl_LocalInvocationID.x, r = tid >> 4, l = tid & 15u;
    const uint gid = group_id();
    if (gid >= P.u[2]) return;
    const uint ngr = (N + R - 1u) / R, rg = gid % ngr, cs = gid / ngr;
    const uint n0 = rg * R;
    /* column set: (column group g, batch bb), as matvec.comp */
    const uint M = P.t[0].ne[1], mg = (M + 3u) / 4u;
    const uint g = cs % mg, bb = cs / mg;
    const uint i2 = bb % P.t[0].ne[2], i3 = bb / P.t[0].ne[2];
    const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
    const uint wb = t_off(1, 0u, 0u, i2 / r2, i3 / r3), nb1 = P.t[1].nb[1];
    const uint nc = ONE ? 1u : min(4u, M - 4u * g);
    uint xo[4]; /* vec4 index of each column's x[0] */
    [[unroll]] for (uint c = 0u; c < 4u; c++) xo[c] = t_off(2, 0u, 4u * g + min(c, nc - 1u), i2, i3) >> 4;
    const uint K16 = K - K % 16u, nslab = (K16 + SK - 1u) / SK;

    /* this thread's weight loads: uvec4 q = tid + WG u of a slab, row q / 32, column q % 32 */
    uint lb[2], lk[2], ls[2];
    [[unroll]] for (uint u = 0u; u < 2u; u++) {
        const uint q = tid + WG * u, lr = q >> 5, lc = q & 31u;
        lb[u] = ((wb + min(n0 + lr, N - 1u) * nb1) >> 4) + lc; /* rows past N: row N-1, not written */
        lk[u] = 8u * lc;
        ls[u] = lr * PITCH + lc;
    }
    uvec4 v[8][2];
    [[unroll]] for (uint p = 0u; p < 8u; p++)
        if (p < PF) [[unroll]] for (uint u = 0u; u < 2u; u++)
            v[p][u] = p < nslab && p * SK + lk[u] < K16 ? s0_v.d[lb[u] + 32u * p] : uvec4(0u);
    vec4 xv[8];
    [[unroll]] for (uint j = 0u; j < XL; j++) {
        const uint i = tid + WG * j, c = i >> 6, e = 4u * (i & 63u);
        xv[j] = c < nc && e < K16 ? s1_v.d[xo[c] + (i & 63u)] : vec4(0.0);
    }

    /* chain (row r, lane l): word l / 2 of each 16-element step, half l % 2 */
    const uint wrow = r * PITCH + (l >> 3), wc = (l >> 1) & 3u, hs = (l & 1u) * 16u;
    precise float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    uint dx = 0u;
    for (uint t0 = 0u; t0 < nslab; t0 += PF) {
        [[unroll]] for (uint p = 0u; p < 8u; p++) {
            const uint t = t0 + p;
            if (p >= PF || t >= nslab) break;
            const uint b = t & 1u;
            if (DIAG == 1u) {
                dx ^= v[p][0].x ^ v[p][0].y ^ v[p][0].z ^ v[p][0].w ^ v[p][1].x ^ v[p][1].y ^ v[p][1].z ^ v[p][1].w;
            } else {
                [[unroll]] for (uint u = 0u; u < 2u; u++) wsh[b * R * PITCH + ls[u]] = v[p][u];
                [[unroll]] for (uint j = 0u; j < XL; j++) {
                    const uint i = tid + WG * j, c = i >> 6;
                    if (c < nc) {
                        const uint o = (b * 4u + c) * SK + 4u * (i & 63u);
                        xs[o] = around(xv[j].x); xs[o + 1u] = around(xv[j].y);
                        xs[o + 2u] = around(xv[j].z); xs[o + 3u] = around(xv[j].w);
                    }
                }
                barrier();
            }
            /* the loads of slab t + PF (weights) and t + 1 (activations) in flight during slab t's chains */
            const uint tw = t + PF, k0 = t * SK;
            if (tw < nslab)
                [[unroll]] for (uint u = 0u; u < 2u; u++)
                    v[p][u] = tw * SK + lk[u] < K16 ? s0_v.d[lb[u] + 32u * tw] : uvec4(0u);
            if (t + 1u < nslab)
                [[unroll]] for (uint j = 0u; j < XL; j++) {
                    const uint i = tid + WG * j, c = i >> 6, e = k0 + SK + 4u * (i & 63u);
                    if (c < nc && e < K16) xv[j] = s1_v.d[xo[c] + (e >> 2)];
                }
            if (DIAG != 0u) continue;
            const uint w0 = b * R * PITCH + wrow, x0 = b * 4u * SK + l;
            const uint nst = min(SK, K16 - k0) / 16u;
            if (nst == SK / 16u) {
                [[unroll]] for (uint s = 0u; s < SK / 16u; s++) {
                    const float w = wdec((wsh[w0 + 2u * s][wc] >> hs) & 0xffffu);
                    [[unroll]] for (uint c = 0u; c < 4u; c++)
                        if (c < nc) {
                            precise float pr = w * xs[x0 + c * SK + 16u * s];
                            acc[c] = acc[c] + pr;
                        }
                }
            } else {
                for (uint s = 0u; s < nst; s++) {
                    const float w = wdec((wsh[w0 + 2u * s][wc] >> hs) & 0xffffu);
                    [[unroll]] for (uint c = 0u; c < 4u; c++)
                        if (c < nc) {
                            precise float pr = w * xs[x0 + c * SK + 16u * s];
                            acc[c] = acc[c] + pr;
                        }
                }
            }
        }
    }
    if (DIAG != 0u) acc[0] = uintBitsToFloat(dx & 0x3fffffffu); /* consumed: a finite value */
    barrier(); /* every chain is done with xs */
    [[unroll]] for (uint c = 0u; c < 4u; c++) xs[(c * R + r) * 17u + l] = acc[c];
    barrier();
    for (uint o = tid; o < R * nc; o += WG) {
        const uint orow = o % R, oc = o / R, n = n0 + orow;
        if (n >= N) continue;
        precise float s[16];
        [[unroll]] for (uint i = 0u; i < 16u; i++) s[i] = xs[(oc * R + orow) * 17u + i];
        [[unroll]] for (uint i = 0u; i < 8u; i++) s[i] = s[i] + s[i + 8u];
        [[unroll]] for (uint i = 0u; i < 4u; i++) s[i] = s[i] + s[i + 4u];
        [[unroll]] for (uint i = 0u; i < 2u; i++) s[i] = s[i] + s[i + 2u];
        precise float sum = s[0] + s[1];
        const uint m = 4u * g + oc;
        const uint fwo = wb + n * nb1, fxo = t_off(2, 0u, m, i2, i3);
        for (uint k = K16; k < K; k++) {
            precise float pr = wdec(s0_u16(fwo + 2u * k)) * around(s1_f32(fxo + 4u * k));
            sum = sum + pr;
        }
        dst_store((t_off(0, 0u, m, i2, i3) >> 2) + n, sum);
    }
}
