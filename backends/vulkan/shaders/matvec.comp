#version 450
/*
 * matvec.comp - MUL_MAT with BF16 or F16 weights and wide loads (the decode
 * mat-vecs and the BF16 output head), in matmul.comp's canonical order:
 * 16 lanes per output, lane l sums the rounded products w[k] * round(x[k])
 * of k = l mod 16 (k below K16 = K - K % 16) in increasing k, the lanes
 * reduce by the tree 8, 4, 2, 1, the tail k >= K16 adds in order; so the
 * bits are matmul.comp's (and the scalar CPU's) for any thread mapping.
 *
 * Mapping: VARIANT = T, the threads per weight row (2, 4, 8 or 16), + 256
 * for one activation column (M = 1: the column loops fold away); a
 * thread owns LPT = 16 / T consecutive lanes, so each 16-element step of a
 * row is one load of 2 * LPT contiguous bytes per thread (T = 2: a 16-byte
 * uvec4; 4: 8 bytes; 8: a word; 16: the word holding its element) and the T
 * threads of a row read 32 contiguous bytes. 64 threads a workgroup = 64 / T rows, and one column set (up to 4
 * activation columns of one (i2, i3), as matmul.comp VARIANT 3). Each thread
 * issues UNR = 32 / LPT steps of loads before their in-order adds (64 bytes
 * of weights in flight per thread). The host picks T by N (more threads per
 * row for fewer rows) and checks the alignment: weight rows at multiples of
 * 2 * LPT bytes, activation rows at multiples of 4 * LPT bytes.
 * The lane sums meet in shared memory; thread (row, column) runs the tree
 * and the tail and writes the output.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 1) readonly buffer S0V { uvec4 d[]; } s0_v;
layout(std430, binding = 1) readonly buffer S0V2 { uvec2 d[]; } s0_v2;
layout(std430, binding = 2) readonly buffer S1V { vec4 d[]; } s1_v;
layout(std430, binding = 2) readonly buffer S1V2 { vec2 d[]; } s1_v2;

const uint T = uint(VARIANT) & 255u; /* threads per row */
const bool ONE = (uint(VARIANT) & 256u) != 0u; /* one activation column (M = 1): the column loops fold away */
const uint LPT = 16u / T;       /* lanes (consecutive elements of a step) per thread */
const uint R = 64u / T;         /* rows per workgroup */
const uint UNR = 32u / LPT;     /* steps of loads in flight */

shared float sh[4u * R * 17u];  /* [column][row][lane], row pitch 17 */

#include "mvf.glsl"

/* the LPT weights of one step at byte o, packed 2 a word (LPT = 1: in the low half) */
uvec4 wload(uint o) {
    if (LPT == 8u) return s0_v.d[o >> 4];
    if (LPT == 4u) return uvec4(s0_v2.d[o >> 3], 0u, 0u);
    if (LPT == 2u) return uvec4(s0_u.d[o >> 2], 0u, 0u, 0u);
    return uvec4(s0_u.d[o >> 2] >> ((o & 2u) * 8u), 0u, 0u, 0u);
}

/* activation e (< LPT) of the step at byte o of x */
void xload(uint o, out float x[8]) {
    if (LPT == 8u) {
        const vec4 a = s1_v.d[o >> 4], b = s1_v.d[(o >> 4) + 1u];
        x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w; x[4] = b.x; x[5] = b.y; x[6] = b.z; x[7] = b.w;
    } else if (LPT == 4u) {
        const vec4 a = s1_v.d[o >> 4];
        x[0] = a.x; x[1] = a.y; x[2] = a.z; x[3] = a.w;
        x[4] = 0.0; x[5] = 0.0; x[6] = 0.0; x[7] = 0.0;
    } else if (LPT == 2u) {
        const vec2 a = s1_v2.d[o >> 3];
        x[0] = a.x; x[1] = a.y;
        x[2] = 0.0; x[3] = 0.0; x[4] = 0.0; x[5] = 0.0; x[6] = 0.0; x[7] = 0.0;
    } else {
        x[0] = s1_f.d[o >> 2];
        x[1] = 0.0; x[2] = 0.0; x[3] = 0.0; x[4] = 0.0; x[5] = 0.0; x[6] = 0.0; x[7] = 0.0;
    }
}

uint wword(uvec4 w, uint i) { return i == 0u ? w.x : i == 1u ? w.y : i == 2u ? w.z : w.w; }

void main() {
    g_bf16 = P.t[1].type == T_BF16;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0];
    const uint tid = gl_LocalInvocationID.x, rl = tid / T, h = tid % T;
    const uint gid = group_id();
    if (gid >= P.u[2]) return;
    const uint ngr = (N + R - 1u) / R, rg = gid % ngr, cs = gid / ngr;
    const uint n0 = rg * R;
    uint g, nc, i2, i3, wb;
    mv_colset(cs, ONE, g, nc, i2, i3, wb);
    const uint nb1 = P.t[1].nb[1];
    uint xo[4];
    [[unroll]] for (uint c = 0u; c < 4u; c++) xo[c] = t_off(2, 0u, 4u * g + min(c, nc - 1u), i2, i3);
    const uint wo = wb + min(n0 + rl, N - 1u) * nb1 + 2u * LPT * h; /* rows past N: row N-1, not written */
    const uint xh = 4u * LPT * h;
    const uint K16 = K - K % 16u, nst = K16 / 16u;

    precise float acc[4][8];
    [[unroll]] for (uint c = 0u; c < 4u; c++) [[unroll]] for (uint e = 0u; e < 8u; e++) acc[c][e] = 0.0;
    uint j = 0u;
    for (; j + UNR <= nst; j += UNR) {
        uvec4 w[UNR];
        [[unroll]] for (uint u = 0u; u < UNR; u++) w[u] = wload(wo + 32u * (j + u));
        [[unroll]] for (uint u = 0u; u < UNR; u++)
            [[unroll]] for (uint c = 0u; c < 4u; c++)
                if (c < nc) {
                    float x[8];
                    xload(xo[c] + 64u * (j + u) + xh, x);
                    [[unroll]] for (uint e = 0u; e < LPT; e++) {
                        const uint wv = wword(w[u], e / 2u);
                        precise float p = wdec((e & 1u) != 0u ? wv >> 16 : wv & 0xffffu) * around(x[e]);
                        acc[c][e] = acc[c][e] + p;
                    }
                }
    }
    for (; j < nst; j++) {
        const uvec4 w = wload(wo + 32u * j);
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            if (c < nc) {
                float x[8];
                xload(xo[c] + 64u * j + xh, x);
                [[unroll]] for (uint e = 0u; e < LPT; e++) {
                    const uint wv = wword(w, e / 2u);
                    precise float p = wdec((e & 1u) != 0u ? wv >> 16 : wv & 0xffffu) * around(x[e]);
                    acc[c][e] = acc[c][e] + p;
                }
            }
    }
    [[unroll]] for (uint c = 0u; c < 4u; c++)
        [[unroll]] for (uint e = 0u; e < LPT; e++) sh[(c * R + rl) * 17u + h * LPT + e] = acc[c][e];
    barrier();
    for (uint o = tid; o < R * nc; o += 64u) { /* R * nc outputs: up to 2 a thread (T = 2) */
        const uint orow = o % R, oc = o / R, n = n0 + orow;
        if (n >= N) continue;
        float l[16];
        [[unroll]] for (uint i = 0u; i < 16u; i++) l[i] = sh[(oc * R + orow) * 17u + i];
        mv_out(l, n, 4u * g + oc, i2, i3, wb);
    }
}
