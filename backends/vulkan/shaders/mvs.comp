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
 * Mapping: a workgroup of 16 R / L threads (R rows, L = 1, 2 or 4 lanes a
 * thread; the host sets the size, specialization constant 1) and one column
 * set (up to 4 columns of one (i2, i3), as matvec.comp); thread (r, j) =
 * (tid / (16 / L), tid % (16 / L)) runs lanes L j .. L j + L - 1 of row r for
 * every column, so every thread runs L chains (mvstage.comp, reverted in
 * cdc618c, had 256 threads for 1-4 rows: 16-64 of them ran the chains while
 * the rest waited). K runs in slabs of SK = 256 elements (512 bytes of a
 * row): each thread loads 2 L uvec4 of a slab (a warp loads 512 contiguous
 * bytes of one row), PF slabs ahead in registers, and stores them into one
 * of two shared buffers; the slab's activations, rounded once, go beside
 * them (one slab ahead). One barrier a slab: slab t is stored into buffer
 * t & 1, whose previous readers (the chains of slab t - 2) passed the
 * barrier of slab t - 1. A chain step of 16 elements reads, per thread:
 * L = 1: one weight word (2 lanes share it; the two rows of a warp at a row
 * pitch of 136 words: other banks) and one activation per column; L = 2: the
 * word of its two lanes (both halves used: one read per 2 products; the 4
 * rows of a warp in 4 bank groups) and their two activations (half of a vec4
 * read); L = 4: the 2 words of its 4 lanes (half of a uvec4 read; the
 * thread beside it reads the other half: 2 wavefronts a warp, as a uvec2
 * read) and their 4 activations (one vec4 read). Each lane's chain is the
 * same serial sum whatever L, so L changes no bit.
 * VARIANT: PF (bits 0-3: slabs of loads in flight, 1..8, PF L <= 8), DIAG
 * (bits 4-5, diagnostics, wrong outputs: 1 = the loads only (XOR-consumed,
 * no shared memory), 2 = loads and staging without the chains), ONE (bit 6:
 * one activation column, M = 1: the column loops fold away), log2 L (bits
 * 7-8), the workgroup size 16 R / L (32 .. 256; R <= 16) in bits 16..
 * (constant 1).
 * Weight and activation rows at multiples of 16 bytes (the host checks).
 * Workgroups: ceil(N / R) x column sets; u[2] = their count.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 1) in;

layout(std430, binding = 1) readonly buffer S0V { uvec4 d[]; } s0_v;
layout(std430, binding = 2) readonly buffer S1V { vec4 d[]; } s1_v;

const uint WG = gl_WorkGroupSize.x;    /* 16 R / L: 32, 64, 128 or 256 */
const uint L = 1u << ((uint(VARIANT) >> 7) & 3u); /* lanes a thread: 1, 2 or 4 */
const uint TR = 16u / L;               /* threads a row */
const uint R = WG / TR;                /* rows per workgroup */
const uint NU = 2u * L;                /* uvec4 weight loads a thread per slab (32 R / WG) */
const uint PF = uint(VARIANT) & 15u;   /* slabs of weight loads in flight */
const uint DIAG = (uint(VARIANT) >> 4) & 3u;
const bool ONE = (uint(VARIANT) & 64u) != 0u; /* one activation column (M = 1): the column loops fold away */
const uint SK = 256u;                  /* elements of a row per slab */
const uint PITCH = 34u;                /* shared row pitch in uvec4 (32 + 2) */
const uint XL = 256u / WG;             /* activation vec4 a thread stages (4 columns x 64) */

shared uvec4 wsh[2u * R * PITCH];      /* R <= 16: 17 KiB */
shared vec4 xs[2u * SK];               /* [buffer][column][k / 4]; at the end the lane sums [column][row][17], as floats */

#include "mvf.glsl"

/* the chains' constants: the word of a step's uvec4 (L <= 2) or its half (L = 4), the half word
 * (L = 1), the activation of a vec4 (L = 1) or its half (L = 2) */
uint g_wc, g_hs, g_xc;

/* one 16-element step of this thread's L chains: the step's weight uvec4 wi (a
 * row's step is 2 uvec4) and activation vec4 xi of column 0 (a column's slab
 * is SK / 4 vec4); each product rounded, then added in the lane's order to
 * acc [column][lane of the thread] (precise here: glslang 12 emits invalid
 * SPIR-V for a precise global) */
void chain_step(uint wi, uint xi, uint nc, inout precise float acc[16]) {
    if (L == 1u) {
        const float w = wdec((wsh[wi][g_wc] >> g_hs) & 0xffffu);
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            if (c < nc) {
                precise float pr = w * xs[xi + c * (SK / 4u)][g_xc];
                acc[4u * c] = acc[4u * c] + pr;
            }
    } else if (L == 2u) {
        const uint d = wsh[wi][g_wc];
        const float w0 = wdec(d & 0xffffu), w1 = wdec(d >> 16);
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            if (c < nc) {
                const vec4 q = xs[xi + c * (SK / 4u)];
                const vec2 x = g_xc != 0u ? q.zw : q.xy;
                precise float p0 = w0 * x.x, p1 = w1 * x.y;
                acc[4u * c] = acc[4u * c] + p0;
                acc[4u * c + 1u] = acc[4u * c + 1u] + p1;
            }
    } else {
        const uvec4 dq = wsh[wi];
        const uvec2 d = g_wc != 0u ? dq.zw : dq.xy;
        const float w0 = wdec(d.x & 0xffffu), w1 = wdec(d.x >> 16), w2 = wdec(d.y & 0xffffu), w3 = wdec(d.y >> 16);
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            if (c < nc) {
                const vec4 x = xs[xi + c * (SK / 4u)];
                precise float p0 = w0 * x.x, p1 = w1 * x.y, p2 = w2 * x.z, p3 = w3 * x.w;
                acc[4u * c] = acc[4u * c] + p0;
                acc[4u * c + 1u] = acc[4u * c + 1u] + p1;
                acc[4u * c + 2u] = acc[4u * c + 2u] + p2;
                acc[4u * c + 3u] = acc[4u * c + 3u] + p3;
            }
    }
}

void main() {
    g_bf16 = P.t[1].type == T_BF16;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0];
    const uint tid = gl_LocalInvocationID.x, r = tid / TR, j = tid % TR;
    const uint gid = group_id();
    if (gid >= P.u[2]) return;
    const uint ngr = (N + R - 1u) / R, rg = gid % ngr, cs = gid / ngr;
    const uint n0 = rg * R;
    uint g, nc, i2, i3, wb;
    mv_colset(cs, ONE, g, nc, i2, i3, wb);
    const uint nb1 = P.t[1].nb[1];
    uint xo[4]; /* vec4 index of each column's x[0] */
    [[unroll]] for (uint c = 0u; c < 4u; c++) xo[c] = t_off(2, 0u, 4u * g + min(c, nc - 1u), i2, i3) >> 4;
    const uint K16 = K - K % 16u, nslab = (K16 + SK - 1u) / SK;

    /* this thread's weight loads: uvec4 q = tid + WG u of a slab, row q / 32, column q % 32 = tid % 32 */
    const uint lc = tid & 31u, lk = 8u * lc;
    uint lb[8], ls[8];
    [[unroll]] for (uint u = 0u; u < 8u; u++) {
        const uint lr = (tid + WG * u) >> 5;
        lb[u] = ((wb + min(n0 + lr, N - 1u) * nb1) >> 4) + lc; /* rows past N: row N-1, not written */
        ls[u] = lr * PITCH + lc;
    }
    uvec4 v[8][8];
    [[unroll]] for (uint p = 0u; p < 8u; p++)
        if (p < PF) [[unroll]] for (uint u = 0u; u < 8u; u++)
            if (u < NU) v[p][u] = p < nslab && p * SK + lk < K16 ? s0_v.d[lb[u] + 32u * p] : uvec4(0u);
    vec4 xv[8];
    [[unroll]] for (uint q = 0u; q < XL; q++) {
        const uint i = tid + WG * q, c = i >> 6, e = 4u * (i & 63u);
        xv[q] = c < nc && e < K16 ? s1_v.d[xo[c] + (i & 63u)] : vec4(0.0);
    }

    /* the chains (row r, lanes L j ..): word L j / 2 of each 16-element step (uvec4 L j / 8, component
     * (L j / 2) % 4; L = 4: the half (j % 2) of uvec4 j / 2), half l % 2 (L = 1); activation L j */
    const uint wrow = r * PITCH + (L * j >> 3), xrow = L * j >> 2;
    g_wc = L == 4u ? j & 1u : (L * j >> 1) & 3u;
    g_hs = L == 1u ? (j & 1u) * 16u : 0u;
    g_xc = L == 1u ? j & 3u : (j & 1u);
    precise float acc[16];
    [[unroll]] for (uint i = 0u; i < 16u; i++) acc[i] = 0.0;
    uint dx = 0u;
    for (uint t0 = 0u; t0 < nslab; t0 += PF) {
        [[unroll]] for (uint p = 0u; p < 8u; p++) {
            const uint t = t0 + p;
            if (p >= PF || t >= nslab) break;
            const uint b = t & 1u;
            if (DIAG == 1u) {
                [[unroll]] for (uint u = 0u; u < 8u; u++)
                    if (u < NU) dx ^= v[p][u].x ^ v[p][u].y ^ v[p][u].z ^ v[p][u].w;
            } else {
                [[unroll]] for (uint u = 0u; u < 8u; u++)
                    if (u < NU) wsh[b * R * PITCH + ls[u]] = v[p][u];
                [[unroll]] for (uint q = 0u; q < XL; q++) {
                    const uint i = tid + WG * q, c = i >> 6;
                    if (c < nc)
                        xs[(b * 4u + c) * (SK / 4u) + (i & 63u)] = vec4(around(xv[q].x), around(xv[q].y), around(xv[q].z), around(xv[q].w));
                }
                barrier();
            }
            /* the loads of slab t + PF (weights) and t + 1 (activations) in flight during slab t's chains */
            const uint tw = t + PF, k0 = t * SK;
            if (tw < nslab)
                [[unroll]] for (uint u = 0u; u < 8u; u++)
                    if (u < NU) v[p][u] = tw * SK + lk < K16 ? s0_v.d[lb[u] + 32u * tw] : uvec4(0u);
            if (t + 1u < nslab)
                [[unroll]] for (uint q = 0u; q < XL; q++) {
                    const uint i = tid + WG * q, c = i >> 6, e = k0 + SK + 4u * (i & 63u);
                    if (c < nc && e < K16) xv[q] = s1_v.d[xo[c] + (e >> 2)];
                }
            if (DIAG != 0u) continue;
            const uint w0 = b * R * PITCH + wrow, x0 = b * SK + xrow; /* xs: a buffer is 4 SK / 4 vec4 */
            const uint nst = min(SK, K16 - k0) / 16u;
            if (nst == SK / 16u) {
                [[unroll]] for (uint s = 0u; s < SK / 16u; s++) chain_step(w0 + 2u * s, x0 + 4u * s, nc, acc);
            } else {
                for (uint s = 0u; s < nst; s++) chain_step(w0 + 2u * s, x0 + 4u * s, nc, acc);
            }
        }
    }
    if (DIAG != 0u) acc[0] = uintBitsToFloat(dx & 0x3fffffffu); /* consumed: a finite value */
    barrier(); /* every chain is done with xs */
    /* the lane sums as floats f = (c R + r) 17 + lane of xs (written one float at a time) */
    [[unroll]] for (uint c = 0u; c < 4u; c++)
        if (c < nc) [[unroll]] for (uint i = 0u; i < 4u; i++)
            if (i < L) {
                const uint f = (c * R + r) * 17u + L * j + i;
                xs[f >> 2][f & 3u] = acc[4u * c + i];
            }
    barrier();
    for (uint o = tid; o < R * nc; o += WG) {
        const uint orow = o % R, oc = o / R, n = n0 + orow;
        if (n >= N) continue;
        float l[16];
        [[unroll]] for (uint i = 0u; i < 16u; i++) {
            const uint f = (oc * R + orow) * 17u + i;
            l[i] = xs[f >> 2][f & 3u];
        }
        mv_out(l, n, 4u * g + oc, i2, i3, wb);
    }
}
