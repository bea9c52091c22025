#version 450
/*
 * hc.comp - the manifold hyper-connection ops (spec 4.2-4.4), after ops-hc.c
 * (VARIANT = the gds_op number; HC_COMB runs two passes, u[0]):
 *   HC_COMB pass 0: the raw dots fn_i . v_t into dst, one workgroup per
 *     output summing in the scalar CPU's order (streams, then elements: with
 *     it tiny-a's logits on lavapipe equal the scalar CPU's bit for bit; a
 *     16-lane tree flipped a bf16 rounding at one position in 16); pass 1: one
 *     workgroup per token finishes it as the CPU does (rms with 8 partial
 *     sums, sigmoids, Sinkhorn), in fp32 in the CPU's order: when D % 8 == 0
 *     the elements are staged in shared memory and 8 threads run the 8
 *     partial sums, then thread 0 does the rest.
 *     The products are computed in parallel (coalesced) into shared memory;
 *     only the HC*D adds stay serial, one thread per output (a parallel
 *     order would give up the scalar CPU's bits).
 *   HC_PRE, HC_POST: one invocation per output element; the stream sum in
 *     index order, one bf16 rounding at the end (`precise`: no fma).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mathf.glsl"
#define HC_RAW(t, i) dst_f.d[(P.t[0].offs >> 2) + (t) * P.t[0].ne[0] + (i)]
#include "hcfin.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

#define OP_HC_COMB 24
#define OP_HC_PRE  25
#define OP_HC_POST 26

/* pass 0, workgroups [0, n_mix*T): one per output (i, t). Warps 1..7 compute
 * the rounded products of HC_ST consecutive elements (coalesced loads of the
 * fn row and of x) into one half of a double buffer while thread 0 adds the
 * other half in order (vec4 reads, the next 16 values loaded before the
 * current 16 adds), so the serial chain of HC*D adds runs at the add latency.
 * Workgroups [n_mix*T, n_mix*T + T): one per token, the sum of squares (the
 * CPU's 8 partial sums, element j to part[j % 8] in increasing j; threads
 * 0..7 of warp 0 run them over staged elements), its 8 parts combined as the
 * CPU does into scratch[t]. */
#define HC_ST 2048u
shared vec4 hc_sh4[2u * HC_ST / 4u];

void hc_stage(uint j0, uint L, uint D, uint t, uint buf, uint wo, bool prod) {
    const uint tid = gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    if (tid < 32u) return; /* warp 0 sums */
    for (uint q = tid - 32u; q < HC_ST; q += 224u) {
        const uint j = j0 + q;
        float v = 0.0;
        if (j < L) {
            v = hc_x(j, D, t);
            if (prod) { precise float p = s1_f32(wo + 4u * j) * v; v = p; }
        }
        hc_sh4[buf * (HC_ST / 4u) + q / 4u][q % 4u] = v;
    }
}

void hc_dots() {
    const uint D = P.t[1].ne[0], hc = P.t[1].ne[1], T = P.t[1].ne[2], n_mix = P.t[0].ne[0];
    const uint o = group_id(); /* flat (i, t); then the sum-of-squares workgroups */
    if (o >= n_mix * T + T) return;
    const uint tid = gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    const uint L = hc * D, nch = (L + HC_ST - 1u) / HC_ST;
    const bool dot = o < n_mix * T;
    const uint i = dot ? o % n_mix : 0u, t = dot ? o / n_mix : o - n_mix * T;
    const uint wo = t_off(2, 0u, i, 0u, 0u);
    if (!dot && D % 8u != 0u) { /* the CPU's per-stream walk, one thread */
        if (tid != 0u) return;
        precise float part[8];
        for (uint k = 0u; k < 8u; k++) part[k] = 0.0;
        for (uint s = 0u; s < hc; s++) {
            const uint xo = t_off(1, 0u, s, t, 0u);
            uint e = 0u;
            for (; e + 8u <= D; e += 8u)
                for (uint k = 0u; k < 8u; k++) { precise float v = s0_f32(xo + 4u * (e + k)); precise float v2 = v * v; part[k] = part[k] + v2; }
            for (; e < D; e++) { precise float v = s0_f32(xo + 4u * e); precise float v2 = v * v; part[0] = part[0] + v2; }
        }
        precise float ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        scr_f.d[t] = ss;
        return;
    }
    hc_stage(0u, L, D, t, 0u, wo, dot);
    barrier();
    precise float acc = 0.0;
    for (uint c = 0u; c < nch; c++) {
        const uint buf = c & 1u;
        if (c + 1u < nch) hc_stage((c + 1u) * HC_ST, L, D, t, buf ^ 1u, wo, dot);
        const uint cnt = min(HC_ST, L - c * HC_ST), b4 = buf * (HC_ST / 4u);
        if (dot && tid == 0u) {
            const uint n16 = cnt / 16u;
            vec4 cur[4];
            [[unroll]] for (uint u = 0u; u < 4u; u++) cur[u] = hc_sh4[b4 + u];
            for (uint q = 1u; q <= n16; q++) {
                vec4 nxt[4];
                [[unroll]] for (uint u = 0u; u < 4u; u++) nxt[u] = hc_sh4[b4 + (q < n16 ? 4u * q + u : u)];
                [[unroll]] for (uint u = 0u; u < 4u; u++) {
                    acc = acc + cur[u].x;
                    acc = acc + cur[u].y;
                    acc = acc + cur[u].z;
                    acc = acc + cur[u].w;
                }
                [[unroll]] for (uint u = 0u; u < 4u; u++) cur[u] = nxt[u];
            }
            for (uint q = 16u * n16; q < cnt; q++) acc = acc + hc_sh4[b4 + q / 4u][q % 4u];
        } else if (!dot && tid < 8u) { /* part[tid]: elements tid, tid + 8, ... of the chunk (HC_ST % 8 == 0) */
            uint q = tid;
            for (; q + 120u < cnt; q += 128u) {
                float v[16];
                [[unroll]] for (uint u = 0u; u < 16u; u++) { const uint e = q + 8u * u; v[u] = hc_sh4[b4 + e / 4u][e % 4u]; }
                [[unroll]] for (uint u = 0u; u < 16u; u++) { precise float v2 = v[u] * v[u]; acc = acc + v2; }
            }
            for (; q < cnt; q += 8u) { const float v = hc_sh4[b4 + q / 4u][q % 4u]; precise float v2 = v * v; acc = acc + v2; }
        }
        barrier();
    }
    if (dot) {
        if (tid == 0u) dst_f.d[(P.t[0].offs >> 2) + o] = acc;
        return;
    }
    /* the 8 parts through shared memory (the buffer is free after the last barrier) */
    if (tid < 8u) hc_sh4[tid / 4u][tid % 4u] = acc;
    barrier();
    if (tid == 0u) {
        precise float part[8];
        for (uint k = 0u; k < 8u; k++) part[k] = hc_sh4[k / 4u][k % 4u];
        precise float ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        scr_f.d[t] = ss;
    }
}

/* pass 1: a workgroup per token, the finish (hcfin.glsl) from the raw dots in
 * dst and the sum of squares in scratch[t] */
void hc_finish() {
    const uint t = group_id();
    if (t >= P.t[1].ne[2]) return; /* uniform per workgroup */
    hc_finish_token(t, gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x, scr_f.d[t]);
}

void hc_pre() {
    const uint e = group_id() * 256u + gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    const uint D = P.t[1].ne[0], hc = P.t[1].ne[1], T = P.t[1].ne[2];
    if (e >= D * T) return;
    const uint i = e % D, t = e / D;
    precise float acc = s1_f32(t_off(2, 0u, t, 0u, 0u)) * s0_f32(t_off(1, 4u * i, 0u, t, 0u));
    for (uint s = 1u; s < hc; s++) {
        precise float p = s1_f32(t_off(2, s * P.t[2].nb[0], t, 0u, 0u)) * s0_f32(t_off(1, 4u * i, s, t, 0u));
        acc = acc + p;
    }
    dst_f.d[(P.t[0].offs >> 2) + e] = round_bf16(acc);
}

void hc_post() {
    const uint e = group_id() * 256u + gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    const uint D = P.t[2].ne[0], hc = P.t[2].ne[1], T = P.t[2].ne[2];
    if (e >= D * hc * T) return;
    const uint i = e % D, row = e / D, k = row % hc, t = row / hc;
    const uint cb = t_off(3, 0u, t, 0u, 0u), cn = P.t[3].nb[0];
    const float post = s2_f32(cb + (hc + k) * cn);
    precise float acc = s2_f32(cb + (2u * hc + k) * cn) * s1_f32(t_off(2, 4u * i, 0u, t, 0u));
    for (uint j = 1u; j < hc; j++) {
        precise float p = s2_f32(cb + (2u * hc + j * hc + k) * cn) * s1_f32(t_off(2, 4u * i, j, t, 0u));
        acc = acc + p;
    }
    precise float pa = post * s0_f32(t_off(1, 4u * i, t, 0u, 0u));
    precise float y = pa + acc;
    dst_f.d[(P.t[0].offs >> 2) + e] = round_bf16(y);
}

void main() {
    if (VARIANT == OP_HC_COMB) { if (P.u[0] == 0u) hc_dots(); else hc_finish(); }
    else if (VARIANT == OP_HC_PRE) hc_pre();
    else hc_post();
}
