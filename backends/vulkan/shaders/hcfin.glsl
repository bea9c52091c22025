/*
 * hcfin.glsl - HC_COMB's finish for one token, shared by hc.comp (its second
 * pass) and hcc.comp, as the scalar CPU does it (ops-hc.c phase 2): r from
 * the sum of squares ss, the pre / post sigmoids (threads s < 2 hc) and the
 * Sinkhorn with thread j hc + k owning C[j][k]; every row / column sum is
 * computed by each of its threads in the CPU's order (same values, same
 * bits), the matrix double-buffered in shared memory (one barrier a step).
 * The including shader runs 256 threads (hc <= 16) and defines HC_RAW(t, i),
 * the raw dot i of token t, read before the same thread writes output i.
 */
shared float hc_m[512]; /* the Sinkhorn matrix, two buffers of 256 */

float sigm(float x) { precise float e = 1.0 + exp_f(-x); return div_rn(1.0, e); }

/* element j < hc D of token t: X[j % D][j / D][t] (src0) */
float hc_x(uint j, uint D, uint t) { const uint s = j / D; return s0_f32(t_off(1, 4u * (j - s * D), s, t, 0u)); }

/* one Sinkhorn normalization of the owner's c: c / (sum + hc_eps), the sum over the hc
 * entries base, base + stride, ... of buffer cur in order (a row: base j hc, stride 1;
 * a column: base k, stride hc) */
float hc_norm(uint cur, uint base, uint stride, uint hc, float hc_eps, float c) {
    precise float sum = 0.0;
    for (uint kk = 0u; kk < hc; kk++) sum = sum + hc_m[cur * 256u + base + kk * stride];
    sum = sum + hc_eps;
    return div_rn(c, sum);
}

void hc_finish_token(uint t, uint tid, float ss) {
    const uint D = P.t[1].ne[0], hc = P.t[1].ne[1], n_mix = P.t[0].ne[0];
    const float eps = p_f32(0), hc_eps = p_f32(1);
    const int iters = P.op[2];
    const uint yo = (P.t[0].offs >> 2) + t * n_mix;
    precise float r = div_rn(1.0, sqrt_rn(div_rn(ss, float(hc * D)) + eps));
    const uint sco = P.t[3].offs, bo = P.t[4].offs;
    const float sc0 = s2_f32(sco);
    const float sc1 = P.t[3].ne[0] > 1u ? s2_f32(sco + P.t[3].nb[0]) : 0.0;
    const float sc2 = P.t[3].ne[0] > 2u ? s2_f32(sco + 2u * P.t[3].nb[0]) : 0.0;
    if (tid < hc) {
        precise float m = HC_RAW(t, tid) * r;
        precise float z = m * sc0 + s3_f32(bo + tid * P.t[4].nb[0]);
        precise float y = sigm(z) + hc_eps;
        dst_f.d[yo + tid] = y;
    } else if (tid < 2u * hc && n_mix != hc) {
        precise float m = HC_RAW(t, tid) * r;
        precise float z = m * sc1 + s3_f32(bo + tid * P.t[4].nb[0]);
        precise float y = 2.0 * sigm(z);
        dst_f.d[yo + tid] = y;
    }
    if (n_mix == hc) return; /* uniform */
    const uint nC = hc * hc;
    const bool own = tid < nC;
    const uint j = own ? tid / hc : 0u, k = own ? tid % hc : 0u, i = 2u * hc + tid;
    float c = 0.0;
    if (own) {
        precise float m = HC_RAW(t, i) * r;
        precise float z = m * sc2 + s3_f32(bo + i * P.t[4].nb[0]);
        c = z;
        hc_m[tid] = c;
    }
    barrier();
    if (own) { /* row max, exp; buffer 1 */
        float mx = uintBitsToFloat(0xff800000u);
        for (uint kk = 0u; kk < hc; kk++) { const float v = hc_m[j * hc + kk]; mx = v > mx ? v : mx; }
        c = exp_f(c - mx);
        hc_m[256u + tid] = c;
    }
    barrier();
    if (own) { /* row softmax + hc_eps; buffer 0 */
        precise float sum = 0.0;
        for (uint kk = 0u; kk < hc; kk++) sum = sum + hc_m[256u + j * hc + kk];
        precise float q = div_rn(c, sum) + hc_eps;
        c = q;
        hc_m[tid] = c;
    }
    barrier();
    uint cur = 0u; /* the buffer holding C */
    for (int it = 0; it < iters; it++) {
        if (it > 0) { /* rows */
            if (own) {
                c = hc_norm(cur, j * hc, 1u, hc, hc_eps, c);
                hc_m[(cur ^ 1u) * 256u + tid] = c;
            }
            cur ^= 1u;
            barrier();
        }
        if (own) { /* columns */
            c = hc_norm(cur, k, hc, hc, hc_eps, c);
            hc_m[(cur ^ 1u) * 256u + tid] = c;
        }
        cur ^= 1u;
        barrier();
    }
    if (own) dst_f.d[yo + i] = c;
}
