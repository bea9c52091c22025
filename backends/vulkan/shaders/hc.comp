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

layout(local_size_x = 16, local_size_y = 16) in;

#define OP_HC_COMB 24
#define OP_HC_PRE  25
#define OP_HC_POST 26
#define HC_MAX 16

float sigm(float x) { precise float e = 1.0 + exp_f(-x); return div_rn(1.0, e); }

/* pass 0: a workgroup per output (i, t). The 256 threads compute the rounded
 * products of HC_ST consecutive elements (coalesced loads of the fn row and
 * of x) into shared memory; thread 0 adds them in order, then the next HC_ST. */
#define HC_ST 4096u
shared float hc_sh[HC_ST];

void hc_dots() {
    const uint D = P.t[1].ne[0], hc = P.t[1].ne[1], T = P.t[1].ne[2], n_mix = P.t[0].ne[0];
    const uint o = group_id(); /* flat (i, t) */
    if (o >= n_mix * T) return;
    const uint tid = gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    const uint i = o % n_mix, t = o / n_mix, L = hc * D;
    const uint wo = t_off(2, 0u, i, 0u, 0u);
    precise float acc = 0.0;
    for (uint j0 = 0u; j0 < L; j0 += HC_ST) {
        [[unroll]] for (uint q = 0u; q < HC_ST; q += 256u) {
            const uint j = j0 + q + tid;
            if (j < L) {
                const uint s = j / D, k = j - s * D;
                precise float p = s1_f32(wo + 4u * j) * s0_f32(t_off(1, 4u * k, s, t, 0u));
                hc_sh[q + tid] = p;
            }
        }
        barrier();
        if (tid == 0u) {
            const uint cnt = min(HC_ST, L - j0);
            uint q = 0u;
            for (; q + 8u <= cnt; q += 8u) {
                float v[8];
                [[unroll]] for (uint u = 0u; u < 8u; u++) v[u] = hc_sh[q + u];
                [[unroll]] for (uint u = 0u; u < 8u; u++) acc = acc + v[u];
            }
            for (; q < cnt; q++) acc = acc + hc_sh[q];
        }
        barrier();
    }
    if (tid == 0u) dst_f.d[(P.t[0].offs >> 2) + o] = acc;
}

void hc_finish() {
    const uint t = group_id(); /* a workgroup per token: the sum of squares staged in shared memory */
    const uint tid = gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    const uint D = P.t[1].ne[0], hc = P.t[1].ne[1], T = P.t[1].ne[2], n_mix = P.t[0].ne[0];
    if (t >= T) return;
    precise float part[8];
    for (uint k = 0u; k < 8u; k++) part[k] = 0.0;
    if (D % 8u == 0u) {
        /* element j = s*D + i goes to part[j % 8] in increasing j: thread k < 8
         * runs part[k] over the staged elements, in order */
        const uint L = hc * D;
        precise float pk = 0.0;
        for (uint j0 = 0u; j0 < L; j0 += HC_ST) {
            [[unroll]] for (uint q = 0u; q < HC_ST; q += 256u) {
                const uint j = j0 + q + tid;
                if (j < L) { const uint s = j / D; hc_sh[q + tid] = s0_f32(t_off(1, 4u * (j - s * D), s, t, 0u)); }
            }
            barrier();
            if (tid < 8u) {
                const uint cnt = min(HC_ST, L - j0);
                for (uint q = tid; q < cnt; q += 8u) { precise float v = hc_sh[q]; precise float v2 = v * v; pk = pk + v2; }
            }
            barrier();
        }
        if (tid < 8u) hc_sh[tid] = pk;
        barrier();
        if (tid != 0u) return;
        for (uint k = 0u; k < 8u; k++) part[k] = hc_sh[k];
    } else {
        if (tid != 0u) return;
        for (uint s = 0u; s < hc; s++) {
            const uint xo = t_off(1, 0u, s, t, 0u);
            uint i = 0u;
            for (; i + 8u <= D; i += 8u)
                for (uint k = 0u; k < 8u; k++) { precise float v = s0_f32(xo + 4u * (i + k)); precise float v2 = v * v; part[k] = part[k] + v2; }
            for (; i < D; i++) { precise float v = s0_f32(xo + 4u * i); precise float v2 = v * v; part[0] = part[0] + v2; }
        }
    }
    const float eps = p_f32(0), hc_eps = p_f32(1);
    const int iters = P.op[2];
    const uint yo = (P.t[0].offs >> 2) + t * n_mix;
    precise float ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    precise float r = div_rn(1.0, sqrt_rn(div_rn(ss, float(hc * D)) + eps));
    const uint sco = P.t[3].offs, bo = P.t[4].offs;
    const float sc0 = s2_f32(sco);
    const float sc1 = P.t[3].ne[0] > 1u ? s2_f32(sco + P.t[3].nb[0]) : 0.0;
    const float sc2 = P.t[3].ne[0] > 2u ? s2_f32(sco + 2u * P.t[3].nb[0]) : 0.0;
    float mix[(2 + HC_MAX) * HC_MAX];
    for (uint i = 0u; i < n_mix; i++) { precise float m = dst_f.d[yo + i] * r; mix[i] = m; }
    for (uint s = 0u; s < hc; s++) { precise float z = mix[s] * sc0 + s3_f32(bo + s * P.t[4].nb[0]); precise float y = sigm(z) + hc_eps; dst_f.d[yo + s] = y; }
    if (n_mix == hc) return;
    for (uint s = 0u; s < hc; s++) { precise float z = mix[hc + s] * sc1 + s3_f32(bo + (hc + s) * P.t[4].nb[0]); precise float y = 2.0 * sigm(z); dst_f.d[yo + hc + s] = y; }
    float C[HC_MAX][HC_MAX];
    for (uint j = 0u; j < hc; j++) {
        float mx = uintBitsToFloat(0xff800000u);
        for (uint k = 0u; k < hc; k++) {
            const uint i = 2u * hc + j * hc + k;
            precise float z = mix[i] * sc2 + s3_f32(bo + i * P.t[4].nb[0]);
            C[j][k] = z;
            mx = C[j][k] > mx ? C[j][k] : mx;
        }
        precise float sum = 0.0;
        for (uint k = 0u; k < hc; k++) { C[j][k] = exp_f(C[j][k] - mx); sum = sum + C[j][k]; }
        for (uint k = 0u; k < hc; k++) { precise float q = div_rn(C[j][k], sum) + hc_eps; C[j][k] = q; }
    }
    for (int it = 0; it < iters; it++) {
        if (it > 0)
            for (uint j = 0u; j < hc; j++) {
                precise float sum = 0.0;
                for (uint k = 0u; k < hc; k++) sum = sum + C[j][k];
                sum = sum + hc_eps;
                for (uint k = 0u; k < hc; k++) C[j][k] = div_rn(C[j][k], sum);
            }
        for (uint k = 0u; k < hc; k++) {
            precise float sum = 0.0;
            for (uint j = 0u; j < hc; j++) sum = sum + C[j][k];
            sum = sum + hc_eps;
            for (uint j = 0u; j < hc; j++) C[j][k] = div_rn(C[j][k], sum);
        }
    }
    for (uint j = 0u; j < hc; j++)
        for (uint k = 0u; k < hc; k++) dst_f.d[yo + 2u * hc + j * hc + k] = C[j][k];
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
