#version 450
/*
 * hcc.comp - HC_COMB in one dispatch, a workgroup per token (the default;
 * GDS_VK_HC=0: hc.comp's two passes), in the scalar CPU's order (ops-hc.c),
 * so the bits are hc.comp's and GDS_CPU_SIMD=scalar's:
 *   dot i = sum over j < L = HC*D in increasing j of fn[i][j] * v[j] (each
 *     product rounded, v[j] = X[j % D][j / D][t]) from +0;
 *   the sum of squares in 8 parts, element j to part (j % D < D8 ? j % D % 8
 *     : 0), D8 = D - D % 8, each part in increasing j, combined as
 *     ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7));
 *   then r, the sigmoids and the Sinkhorn (hcfin.glsl, as hc.comp's second pass).
 * Why: the serial chain of L adds per output is what the time is made of
 * (hc.comp: one output per workgroup, one adding thread fed through a
 * double buffer, and a second dispatch for the rest). Here the n_mix dot
 * chains and the 8 sum-of-squares chains (R = n_mix + 8 <= 256) run side by
 * side, thread r < R running chain r, over chunks of CH = 4 C4 elements
 * (u[0] = C4, a multiple of 8): every thread stages the chunk's products
 * (fn row x v, and v^2 into the 8 part rows, -0.0 where an element is not the
 * part's: x + -0.0 == x for every x, so a chain adds every element without
 * changing its sum) into one of two shared buffers, with its loads issued PF
 * chunks ahead into registers; one barrier a chunk. Thread s stages vec4
 * column s % C4 of rows s / C4, s / C4 + 256 / C4, ... (KS of them: a
 * thread's rows share one v load); row n_mix is the squares. Then the
 * finish (hcfin.glsl).
 * u[1] = 1: X and fn rows at multiples of 16 bytes and D % 4 == 0 (vec4
 * loads), else scalar loads.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mathf.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 1) readonly buffer S0V { vec4 d[]; } s0_v;
layout(std430, binding = 2) readonly buffer S1V { vec4 d[]; } s1_v;

#define WG 256u
#define PF 4       /* chunks of loads in flight */
#define KS 4       /* rows a thread stages (slots (n_mix + 1) C4 <= KS WG) */
#define HS 2112u   /* shared vec4: 2 buffers x R rows x (C4 + 1) */

shared vec4 hs[HS];
shared float hy[WG];        /* the chains' sums */
#define HC_RAW(t, i) hy[(i)]
#include "hcfin.glsl"

uint g_D, g_L, g_t, g_nmix, g_c4, g_col;
bool g_vec;

/* the loads of chunk c: v at this thread's column, fn of its rows */
void issue(uint c, out vec4 f[KS], out vec4 x) {
    const uint j0 = c * 4u * g_c4 + 4u * g_col;
    x = vec4(0.0);
    [[unroll]] for (uint k = 0u; k < KS; k++) f[k] = vec4(0.0);
    if (j0 >= g_L) return;
    if (g_vec) { /* D % 4 == 0: the 4 elements sit in one stream */
        const uint s = j0 / g_D;
        x = s0_v.d[t_off(1, 4u * (j0 - s * g_D), s, g_t, 0u) >> 4];
    } else {
        [[unroll]] for (uint e = 0u; e < 4u; e++) x[e] = j0 + e < g_L ? hc_x(j0 + e, g_D, g_t) : 0.0;
    }
    [[unroll]] for (uint k = 0u; k < KS; k++) {
        const uint row = (gl_LocalInvocationID.x + k * WG) / g_c4;
        if (row < g_nmix) {
            const uint fo = t_off(2, 4u * j0, row, 0u, 0u);
            if (g_vec) f[k] = s1_v.d[fo >> 4];
            else [[unroll]] for (uint e = 0u; e < 4u; e++) f[k][e] = j0 + e < g_L ? s1_f32(fo + 4u * e) : 0.0;
        }
    }
}

/* the products of chunk c into buffer b */
void stage(uint c, uint b, vec4 f[KS], vec4 x) {
    const uint j0 = c * 4u * g_c4 + 4u * g_col, P4 = g_c4 + 1u, R = g_nmix + 8u, D8 = g_D - g_D % 8u;
    const uint hb = b * R * P4;
    [[unroll]] for (uint k = 0u; k < KS; k++) {
        const uint row = (gl_LocalInvocationID.x + k * WG) / g_c4;
        if (row < g_nmix) {
            vec4 p;
            [[unroll]] for (uint e = 0u; e < 4u; e++) {
                precise float q = f[k][e] * x[e];
                p[e] = j0 + e < g_L ? q : -0.0;
            }
            hs[hb + row * P4 + g_col] = p;
        } else if (row == g_nmix) { /* the squares into the 8 part rows */
            vec4 sq;
            uvec4 pk;
            [[unroll]] for (uint e = 0u; e < 4u; e++) {
                precise float q = x[e] * x[e];
                sq[e] = q;
                const uint j = j0 + e, i = j % g_D;
                pk[e] = j >= g_L ? 8u : i < D8 ? i % 8u : 0u;
            }
            [[unroll]] for (uint m = 0u; m < 8u; m++) {
                vec4 v;
                [[unroll]] for (uint e = 0u; e < 4u; e++) v[e] = pk[e] == m ? sq[e] : -0.0;
                hs[hb + (g_nmix + m) * P4 + g_col] = v;
            }
        }
    }
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    g_D = P.t[1].ne[0];
    const uint hc = P.t[1].ne[1];
    g_t = group_id();
    if (g_t >= P.t[1].ne[2]) return; /* uniform */
    g_nmix = P.t[0].ne[0];
    g_L = hc * g_D;
    g_c4 = P.u[0];
    g_vec = P.u[1] != 0u;
    g_col = tid % g_c4;
    const uint R = g_nmix + 8u, P4 = g_c4 + 1u, CH = 4u * g_c4;
    const uint nch = (g_L + CH - 1u) / CH;

    vec4 rf[PF][KS], rx[PF];
    [[unroll]] for (uint u = 0u; u < PF; u++) issue(u, rf[u], rx[u]);
    precise float acc = 0.0;
    /* step c: stage chunk c (buffer c & 1) and issue chunk c + PF's loads in
     * its registers; chain chunk c - 1 (buffer (c - 1) & 1) */
    for (uint c0 = 0u; c0 <= nch; c0 += PF) {
        [[unroll]] for (uint u = 0u; u < PF; u++) {
            const uint c = c0 + u;
            if (c <= nch) { /* uniform */
                if (c < nch) {
                    stage(c, c & 1u, rf[u], rx[u]);
                    issue(c + PF, rf[u], rx[u]);
                }
                if (c > 0u && tid < R) {
                    const uint base = ((c - 1u) & 1u) * R * P4 + tid * P4, ng = g_c4 / 8u;
                    vec4 cur[8];
                    [[unroll]] for (uint q = 0u; q < 8u; q++) cur[q] = hs[base + q];
                    for (uint g = 1u; g <= ng; g++) {
                        vec4 nxt[8];
                        const uint nb = base + (g < ng ? 8u * g : 0u);
                        [[unroll]] for (uint q = 0u; q < 8u; q++) nxt[q] = hs[nb + q];
                        [[unroll]] for (uint q = 0u; q < 8u; q++) {
                            acc = acc + cur[q].x;
                            acc = acc + cur[q].y;
                            acc = acc + cur[q].z;
                            acc = acc + cur[q].w;
                        }
                        [[unroll]] for (uint q = 0u; q < 8u; q++) cur[q] = nxt[q];
                    }
                }
                barrier();
            }
        }
    }
    if (tid < R) hy[tid] = acc;
    barrier();

    /* the finish (hcfin.glsl, the raw dots from hy) */
    const uint n_mix = g_nmix;
    precise float ss = ((hy[n_mix] + hy[n_mix + 1u]) + (hy[n_mix + 2u] + hy[n_mix + 3u])) +
                       ((hy[n_mix + 4u] + hy[n_mix + 5u]) + (hy[n_mix + 6u] + hy[n_mix + 7u]));
    hc_finish_token(g_t, tid, ss);
}
