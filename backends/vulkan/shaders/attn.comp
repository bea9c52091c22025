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
 *   ATTN: a workgroup of 256 per (token, head) (see attn below). Per block of
 *     64 list entries: entry j's score (q.k in index order, times scale); the
 *     online softmax over the valid entries in list order (max, alpha, l, P
 *     rounded to bf16); then every dim d of the accumulator (acc*alpha, then
 *     + p_j * k_j[d] in order; hd <= 2048). o = bf16(acc / (l + exp(sink -
 *     m))). KV_E4M3_B64 rows are read as their exact f32 values.
 *   COMPRESS: 256 invocations a workgroup; INDEXER: 4 scores a workgroup.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mathf.glsl"

layout(local_size_x = 256) in;

#define OP_COMPRESS 27
#define OP_INDEXER  28
#define OP_ATTN     29
#define HD_MAX 2048

shared float sh_s[256], sh_p[256], sh_pf[64];
shared uint sh_row[256];  /* key row byte offset; 0xffffffff: invalid entry */
shared float sh_alpha, sh_m, sh_mb;
shared bool sh_any;
shared float sh_q[HD_MAX];

float neg_inf() { return uintBitsToFloat(0xff800000u); }

void compress() {
    const uint e = group_id() * 256u + gl_LocalInvocationID.x;
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

/* INDEXER: a workgroup per 4 scores (keys s of one token t), 64 threads a
 * score: the key row is decoded into shared memory once, thread h computes
 * head h's q.k in index order (heads h, h + 64, ... for more than 64), the
 * bf16(relu(bf16(dot)) * w) terms meet in shared memory and the score's
 * thread 0 adds them in head order. The same operations in the same order
 * as one invocation per (s, t) did, so the same bits. */
shared float sh_k[4][512];

void indexer() {
    const uint tid = gl_LocalInvocationID.x, sub = tid / 64u, lt = tid % 64u;
    const uint e = group_id() * 4u + sub;
    const uint S = P.t[0].ne[0], T = P.t[0].ne[1];
    const uint s = e % S, t = min(e / S, T - 1u);
    const uint dI = P.t[1].ne[0], nh = P.t[1].ne[1];
    const int ratio = P.op[0];
    const int pt = int(s3_u.d[t_off(4, t * P.t[4].nb[0], 0u, 0u, 0u) >> 2]);
    const int vis = ratio > 0 ? (pt + 1) / ratio : 0;
    const bool live = e < S * T && int(s) < vis; /* per score; barriers stay uniform */
    const uint ko = t_off(2, 0u, s, 0u, 0u), kt = P.t[2].type;
    if (dI <= 512u) { /* uniform (DSV4: 128); larger dI decodes in the dot loop */
        if (live) for (uint i = lt; i < dI; i += 64u) sh_k[sub][i] = s1_elem(kt, ko, 4u, i);
        barrier();
    }
    precise float tot = 0.0;
    for (uint h0 = 0u; h0 < nh; h0 += 64u) {
        const uint h = h0 + lt;
        float term = 0.0;
        if (live && h < nh) {
            const uint qo = t_off(1, 0u, h, t, 0u);
            precise float dd = 0.0;
            if (dI <= 512u) {
                uint i = 0u;
                for (; i + 8u <= dI; i += 8u) {
                    float q[8];
                    [[unroll]] for (uint u = 0u; u < 8u; u++) q[u] = s0_f32(qo + 4u * (i + u));
                    [[unroll]] for (uint u = 0u; u < 8u; u++) { precise float p = q[u] * sh_k[sub][i + u]; dd = dd + p; }
                }
                for (; i < dI; i++) { precise float p = s0_f32(qo + 4u * i) * sh_k[sub][i]; dd = dd + p; }
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
        if (lt == 0u && live) for (uint j = 0u; j < min(64u, nh - h0); j++) tot = tot + sh_s[sub * 64u + j];
        barrier();
    }
    if (lt == 0u && e < S * T) dst_f.d[(P.t[0].offs >> 2) + t * S + s] = live ? round_bf16(tot) : neg_inf();
}

/* ATTN: a workgroup of 256 per (token, head); q staged in shared memory. Per
 * 256 list entries: thread j scores entry j (q.k in index order, times
 * scale; KV_E4M3_B64 rows at word offsets (u[0] = 1) decoded a word at a
 * time); then per block of 64 entries in list order: thread 0 takes the
 * block max over the valid entries in order, threads j < 64 compute p_j =
 * exp(s_j - m) in parallel, thread 0 adds them in order (l) and computes
 * alpha; every thread updates its dims d = tid, tid + 256, ... of the
 * accumulator (registers): acc*alpha, then + bf16(p_j) * k_j[d] in order.
 * The operations and orders of the 64-thread form, so the same bits. */
float attn_score(uint row, uint hd, uint kt) {
    precise float acc = 0.0;
    if (P.u[0] == 1u) { /* KV_E4M3_B64, row at a word offset */
        for (uint kb = 0u; kb < hd / 512u; kb++) {
            const uint bw = (row + kb * 584u) >> 2, q0 = kb * 512u;
            for (uint g = 0u; g < 7u; g++) {
                const float sc = e8m0_to_f32((s1_u.d[bw + g / 4u] >> (8u * (g % 4u))) & 0xffu);
                for (uint w = 0u; w < 16u; w += 4u) {
                    uint wd[4];
                    [[unroll]] for (uint u = 0u; u < 4u; u++) wd[u] = s1_u.d[bw + 2u + 16u * g + w + u];
                    [[unroll]] for (uint u = 0u; u < 4u; u++)
                        [[unroll]] for (uint b = 0u; b < 4u; b++) {
                            const float v = e4m3_to_f32((wd[u] >> (8u * b)) & 0xffu) * sc;
                            precise float p = sh_q[q0 + 64u * g + 4u * (w + u) + b] * v;
                            acc = acc + p;
                        }
                }
            }
            for (uint w = 0u; w < 32u; w++) {
                const uint wd = s1_u.d[bw + 114u + w];
                precise float p0 = sh_q[q0 + 448u + 2u * w] * uintBitsToFloat(wd << 16);
                acc = acc + p0;
                precise float p1 = sh_q[q0 + 449u + 2u * w] * uintBitsToFloat(wd & 0xffff0000u);
                acc = acc + p1;
            }
        }
        return acc;
    }
    for (uint i = 0u; i < hd; i++) { precise float p = sh_q[i] * s1_elem(kt, row, 4u, i); acc = acc + p; }
    return acc;
}

void attn() {
    const uint tid = gl_LocalInvocationID.x;
    const uint hd = P.t[1].ne[0], H = P.t[1].ne[1], T = P.t[1].ne[2];
    const uint N = P.t[2].ne[1], L = P.t[3].ne[0], kt = P.t[2].type;
    const uint g = group_id();
    if (g >= H * T) return; /* uniform per workgroup */
    const uint h = g % H, t = g / H;
    const float scale = p_f32(0);
    const uint qo = t_off(1, 0u, h, t, 0u);
    for (uint d = tid; d < hd; d += 256u) sh_q[d] = s0_f32(qo + 4u * d);
    float acc[HD_MAX / 256u];
    [[unroll]] for (uint m = 0u; m < HD_MAX / 256u; m++) acc[m] = 0.0;
    float mrun = neg_inf(), lrun = 0.0; /* meaningful in thread 0 */
    barrier();
    for (uint b0 = 0u; b0 < L; b0 += 256u) {
        /* scores of 256 entries */
        uint row = 0xffffffffu;
        if (b0 + tid < L) {
            const int r = int(s2_u.d[t_off(3, (b0 + tid) * P.t[3].nb[0], t, 0u, 0u) >> 2]);
            if (r >= 0 && uint(r) < N) row = t_off(2, 0u, uint(r), 0u, 0u);
        }
        sh_row[tid] = row;
        if (row != 0xffffffffu) {
            precise float sc = attn_score(row, hd, kt) * scale;
            sh_s[tid] = sc;
        }
        barrier();
        for (uint j0 = 0u; j0 < 256u && b0 + j0 < L; j0 += 64u) { /* blocks of 64 in list order (uniform) */
            if (tid == 0u) {
                float mb = mrun;
                bool any = false;
                for (uint j = 0u; j < 64u; j++) if (sh_row[j0 + j] != 0xffffffffu) { mb = sh_s[j0 + j] > mb ? sh_s[j0 + j] : mb; any = true; }
                sh_mb = mb;
                sh_any = any;
            }
            barrier();
            const bool any = sh_any;
            if (any && tid < 64u && sh_row[j0 + tid] != 0xffffffffu) {
                const float pj = exp_f(sh_s[j0 + tid] - sh_mb);
                sh_pf[tid] = pj;
                sh_p[j0 + tid] = round_bf16(pj);
            }
            barrier();
            if (tid == 0u) {
                if (any) {
                    const float mb = sh_mb;
                    const float alpha = exp_f(mrun - mb);
                    precise float lsum = 0.0;
                    for (uint j = 0u; j < 64u; j++) if (sh_row[j0 + j] != 0xffffffffu) lsum = lsum + sh_pf[j];
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
                [[unroll]] for (uint m = 0u; m < HD_MAX / 256u; m++) {
                    const uint d = tid + 256u * m;
                    if (d < hd) {
                        precise float a = acc[m] * alpha;
                        for (uint j = 0u; j < 64u; j++) {
                            const uint rj = sh_row[j0 + j];
                            if (rj == 0xffffffffu) continue;
                            precise float p = sh_p[j0 + j] * s1_elem(kt, rj, 4u, d);
                            a = a + p;
                        }
                        acc[m] = a;
                    }
                }
            barrier();
        }
    }
    if (tid == 0u) {
        sh_m = mrun;
        precise float l = lrun + exp_f(s3_f32(P.t[4].offs + h * P.t[4].nb[0]) - mrun);
        sh_alpha = l;
    }
    barrier();
    const uint oo = t_off(0, 0u, h, t, 0u) >> 2;
    const bool none = sh_m == neg_inf();
    const float l = sh_alpha;
    [[unroll]] for (uint m = 0u; m < HD_MAX / 256u; m++) {
        const uint d = tid + 256u * m;
        if (d < hd) dst_f.d[oo + d] = none ? 0.0 : round_bf16(div_rn(acc[m], l));
    }
}

void main() {
    if (VARIANT == OP_COMPRESS) compress();
    else if (VARIANT == OP_INDEXER) indexer();
    else attn();
}
