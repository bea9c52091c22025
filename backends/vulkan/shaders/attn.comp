#version 450
/*
 * attn.comp - the attention family (spec 4.7-4.9), after ops-attn.c's scalar
 * reference (VARIANT = the gds_op number):
 *   COMPRESS: one invocation per output (channel, window); max, exp-sum and
 *     the weighted sum over the slots in the CPU's slot order (lane A tokens,
 *     then lane B tokens), -inf slots skipped.
 *   INDEXER: a workgroup of 64 per (key s, token t), a thread per head: per
 *     head the q.k dot in index order, bf16(relu(bf16(dot)) * w) summed over
 *     heads in order (thread 0), one more bf16. MXFP4 keys are read as their
 *     exact f32 values.
 *   ATTN: a workgroup of 64 per (token, head). Per block of 64 list entries:
 *     invocation j scores entry j (q.k in index order, times scale); invocation
 *     0 runs the online softmax over the valid entries in list order (max,
 *     alpha, l, P rounded to bf16); then every invocation updates its dims d =
 *     lx mod 64 of the accumulator (acc*alpha, then + p_j * k_j[d] in order),
 *     kept in shared memory (hd <= 2048). o = bf16(acc / (l + exp(sink - m))).
 *     KV_E4M3_B64 rows are read as their exact f32 values.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mathf.glsl"

layout(local_size_x = 64) in;

#define OP_COMPRESS 27
#define OP_INDEXER  28
#define OP_ATTN     29
#define HD_MAX 2048

shared float sh_s[64], sh_p[64];
shared uint sh_row[64];   /* key row byte offset; 0xffffffff: invalid entry */
shared float sh_alpha, sh_m;
shared float sh_acc[HD_MAX];

float neg_inf() { return uintBitsToFloat(0xff800000u); }

void compress() {
    const uint e = group_id() * 64u + gl_LocalInvocationID.x;
    const uint d = P.t[0].ne[0], nw = P.t[0].ne[1], m = P.t[1].ne[1];
    if (e >= d * nw) return;
    const uint j = e % d, w = e / d;
    const uint nlane = P.op[0] != 0 ? 2u : 1u;
    float mx = neg_inf();
    for (uint L = 0u; L < nlane; L++)
        for (uint t = 0u; t < m; t++) {
            const float zv = s1_f32(t_off(2, 4u * (L * d + j), t, w + L, 0u));
            if (zv == neg_inf()) continue;
            mx = zv > mx ? zv : mx;
        }
    precise float sum = 0.0;
    for (uint L = 0u; L < nlane; L++)
        for (uint t = 0u; t < m; t++) {
            const float zv = s1_f32(t_off(2, 4u * (L * d + j), t, w + L, 0u));
            if (zv == neg_inf()) continue;
            sum = sum + exp_f(zv - mx);
        }
    precise float acc = 0.0;
    for (uint L = 0u; L < nlane; L++)
        for (uint t = 0u; t < m; t++) {
            const float zv = s1_f32(t_off(2, 4u * (L * d + j), t, w + L, 0u));
            if (zv == neg_inf()) continue;
            precise float a = div_rn(exp_f(zv - mx), sum);
            precise float p = a * s0_f32(t_off(1, 4u * (L * d + j), t, w + L, 0u));
            acc = acc + p;
        }
    dst_f.d[(P.t[0].offs >> 2) + w * d + j] = acc;
}

/* INDEXER: a workgroup of 64 per (key s, token t); the key row is decoded into
 * shared memory once, thread h computes head h's q.k in index order (heads
 * h, h + 64, ... for more than 64), the bf16(relu(bf16(dot)) * w) terms meet
 * in shared memory and thread 0 adds them in head order. The same operations
 * in the same order as one invocation per (s, t) did, so the same bits. */
shared float sh_k[512];

void indexer() {
    const uint g = group_id(), tid = gl_LocalInvocationID.x;
    const uint S = P.t[0].ne[0], T = P.t[0].ne[1];
    if (g >= S * T) return; /* uniform per workgroup */
    const uint s = g % S, t = g / S;
    const uint dI = P.t[1].ne[0], nh = P.t[1].ne[1];
    const int ratio = P.op[0];
    const int pt = int(s3_u.d[t_off(4, t * P.t[4].nb[0], 0u, 0u, 0u) >> 2]);
    const int vis = ratio > 0 ? (pt + 1) / ratio : 0;
    if (int(s) >= vis) { /* uniform */
        if (tid == 0u) dst_f.d[(P.t[0].offs >> 2) + t * S + s] = neg_inf();
        return;
    }
    const uint ko = t_off(2, 0u, s, 0u, 0u), kt = P.t[2].type;
    precise float tot = 0.0;
    if (dI <= 512u) { /* uniform (DSV4: 128); larger dI decodes in the dot loop */
        for (uint i = tid; i < dI; i += 64u) sh_k[i] = s1_elem(kt, ko, 4u, i);
        barrier();
    }
    for (uint h0 = 0u; h0 < nh; h0 += 64u) {
        const uint h = h0 + tid;
        float term = 0.0;
        if (h < nh) {
            const uint qo = t_off(1, 0u, h, t, 0u);
            precise float dd = 0.0;
            if (dI <= 512u) {
                uint i = 0u;
                for (; i + 8u <= dI; i += 8u) {
                    float q[8];
                    [[unroll]] for (uint u = 0u; u < 8u; u++) q[u] = s0_f32(qo + 4u * (i + u));
                    [[unroll]] for (uint u = 0u; u < 8u; u++) { precise float p = q[u] * sh_k[i + u]; dd = dd + p; }
                }
                for (; i < dI; i++) { precise float p = s0_f32(qo + 4u * i) * sh_k[i]; dd = dd + p; }
            } else {
                for (uint i = 0u; i < dI; i++) { precise float p = s0_f32(qo + 4u * i) * s1_elem(kt, ko, 4u, i); dd = dd + p; }
            }
            float v = round_bf16(dd);
            v = v > 0.0 ? v : 0.0;
            precise float vw = v * s2_f32(t_off(3, h * P.t[3].nb[0], t, 0u, 0u));
            term = round_bf16(vw);
        }
        sh_s[tid] = term;
        barrier();
        if (tid == 0u) for (uint j = 0u; j < min(64u, nh - h0); j++) tot = tot + sh_s[j];
        barrier();
    }
    if (tid == 0u) dst_f.d[(P.t[0].offs >> 2) + t * S + s] = round_bf16(tot);
}

void attn() {
    const uint lx = gl_LocalInvocationID.x;
    const uint hd = P.t[1].ne[0], H = P.t[1].ne[1], T = P.t[1].ne[2];
    const uint N = P.t[2].ne[1], L = P.t[3].ne[0], kt = P.t[2].type;
    const uint g = group_id();
    if (g >= H * T) return; /* uniform per workgroup */
    const uint h = g % H, t = g / H;
    const float scale = p_f32(0);
    const uint qo = t_off(1, 0u, h, t, 0u);
    for (uint d = lx; d < hd; d += 64u) sh_acc[d] = 0.0;
    float mrun = neg_inf(), lrun = 0.0; /* meaningful in invocation 0 */
    for (uint b0 = 0u; b0 < L; b0 += 64u) {
        /* scores */
        uint row = 0xffffffffu;
        if (b0 + lx < L) {
            const int r = int(s2_u.d[t_off(3, (b0 + lx) * P.t[3].nb[0], t, 0u, 0u) >> 2]);
            if (r >= 0 && uint(r) < N) row = t_off(2, 0u, uint(r), 0u, 0u);
        }
        sh_row[lx] = row;
        if (row != 0xffffffffu) {
            precise float acc = 0.0;
            for (uint i = 0u; i < hd; i++) { precise float p = s0_f32(qo + 4u * i) * s1_elem(kt, row, 4u, i); acc = acc + p; }
            precise float sc = acc * scale;
            sh_s[lx] = sc;
        }
        barrier();
        /* online softmax (invocation 0, list order) */
        if (lx == 0u) {
            float mb = mrun;
            bool any = false;
            for (uint j = 0u; j < 64u; j++) if (sh_row[j] != 0xffffffffu) { mb = sh_s[j] > mb ? sh_s[j] : mb; any = true; }
            if (any) {
                const float alpha = exp_f(mrun - mb);
                precise float lsum = 0.0;
                for (uint j = 0u; j < 64u; j++) {
                    if (sh_row[j] == 0xffffffffu) continue;
                    const float pj = exp_f(sh_s[j] - mb);
                    lsum = lsum + pj;
                    sh_p[j] = round_bf16(pj);
                }
                precise float la = lrun * alpha;
                lrun = la + lsum;
                mrun = mb;
                sh_alpha = alpha;
            } else {
                sh_alpha = 2.0; /* marker: block without valid keys, nothing changes */
            }
        }
        barrier();
        const float alpha = sh_alpha;
        if (alpha != 2.0)
            for (uint d = lx; d < hd; d += 64u) {
                precise float a = sh_acc[d] * alpha;
                for (uint j = 0u; j < 64u; j++) {
                    const uint rj = sh_row[j];
                    if (rj == 0xffffffffu) continue;
                    precise float p = sh_p[j] * s1_elem(kt, rj, 4u, d);
                    a = a + p;
                }
                sh_acc[d] = a;
            }
        barrier();
    }
    if (lx == 0u) {
        sh_m = mrun;
        precise float l = lrun + exp_f(s3_f32(P.t[4].offs + h * P.t[4].nb[0]) - mrun);
        sh_alpha = l;
    }
    barrier();
    const uint oo = t_off(0, 0u, h, t, 0u) >> 2;
    const bool none = sh_m == neg_inf();
    const float l = sh_alpha;
    for (uint d = lx; d < hd; d += 64u) dst_f.d[oo + d] = none ? 0.0 : round_bf16(div_rn(sh_acc[d], l));
}

void main() {
    if (VARIANT == OP_COMPRESS) compress();
    else if (VARIANT == OP_INDEXER) indexer();
    else attn();
}
