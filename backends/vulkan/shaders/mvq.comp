#version 450
/*
 * mvq.comp - one-column MUL_MAT (Q8_0 weights) and MUL_MAT_ID (Q8_0 or MXFP4
 * experts, any number of (slot, token) columns) in one dispatch: each
 * workgroup quantizes its activation row itself (matmul.comp VARIANT 0's
 * arithmetic, so the same codes and scales) into shared memory while its
 * R weight rows (whole rows) stream into shared memory with coalesced
 * 16-byte loads issued first; then all 256 threads compute the block terms
 * t (matmul.comp's mv_q8_0 / mv_mxfp4: the exact integer sum, then the one
 * rounded product), and thread r < R adds its row's terms in block order
 * (acc = acc + t). Same order and roundings as matmul.comp: the same bits.
 *
 * Activation quantization in parallel: a thread per 4 activations keeps
 * their amax (|x| compared as matmul.comp: a > amax ? a : amax from 0, a
 * max, exact in any grouping), one thread per activation block takes the
 * max of its parts and computes the scale (Q8_0: d = amax / 127, id = 1 /
 * d, the fp16-rounded d for the dot; MXFP4: act_quant's 2^e of 128-blocks),
 * then a thread per 4 activations writes their codes.
 *
 * VARIANT = R | Q8 << 4 | KB << 5: R rows a workgroup (1, 2, 4, 8), Q8 = 1
 * for Q8_0 weights (else MXFP4), K = 256 KB (Q8_0) or 512 KB (MXFP4): weight
 * rows of 272 KB bytes, multiples of 16. The host checks the alignment and that the shared
 * memory fits. Workgroups: ceil(N / R) x columns; u[2] = count; u[3] = 1:
 * MUL_MAT_ID.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 1) readonly buffer S0V { uvec4 d[]; } s0_v;
layout(std430, binding = 2) readonly buffer S1V { vec4 d[]; } s1_v;

const uint R = uint(VARIANT) & 15u;
const bool Q8 = ((uint(VARIANT) >> 4) & 1u) != 0u;
const uint KB = uint(VARIANT) >> 5;
const uint K = (Q8 ? 256u : 512u) * KB;
const uint NBW = K / 32u;              /* 32-blocks of a weight row */
const uint RW4 = 17u * KB;             /* uvec4 of a weight row (34 K / 32 or 17 K / 32 bytes) */
const uint NL = (R * RW4 + 255u) / 256u; /* weight loads a thread (<= 8) */

shared uvec4 wsh[R * RW4];
shared uint aq[K / 4u];     /* activation codes, 4 a word */
shared float asc[NBW];      /* activation scales for the dot (per 32 or 128 block) */
shared float aid[NBW];      /* Q8_0: 1 / d; MXFP4: the divisor 2^e */
shared float pam[K / 4u];   /* amax of 4 activations */
shared float tt[R * NBW];   /* block terms */

uint wsh_word(uint w) { return wsh[w >> 2][w & 3u]; }

/* e4m3 code (low byte of c) -> value * 2^9 (matmul.comp) */
int e4m3_x9(uint c) {
    const uint a = c & 0x7fu, e = a >> 3, m = a & 7u;
    const int v = e == 0u ? int(m) : int((8u + m) << (e - 1u));
    return (c & 0x80u) != 0u ? -v : v;
}

void main() {
    const uint N = P.t[0].ne[0];
    const uint tid = gl_LocalInvocationID.x;
    const uint gid = group_id();
    if (gid >= P.u[2]) return;
    const uint ngr = (N + R - 1u) / R, rg = gid % ngr, cs = gid / ngr;
    const uint n0 = rg * R;
    uint wb, xo, yo;
    if (P.u[3] == 0u) { /* MUL_MAT: column cs = (m, i2, i3) */
        const uint m = cs % P.t[0].ne[1], bb = cs / P.t[0].ne[1];
        const uint i2 = bb % P.t[0].ne[2], i3 = bb / P.t[0].ne[2];
        const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
        wb = t_off(1, 0u, 0u, i2 / r2, i3 / r3);
        xo = t_off(2, 0u, m, i2, i3);
        yo = t_off(0, 0u, m, i2, i3);
    } else { /* MUL_MAT_ID: cs = (slot y, token z, w) */
        const uint y = cs % P.t[0].ne[1], z = (cs / P.t[0].ne[1]) % P.t[0].ne[2], w = cs / (P.t[0].ne[1] * P.t[0].ne[2]);
        yo = t_off(0, 0u, y, z, w);
        const int e = int(s2_u.d[t_off(3, y * P.t[3].nb[0], z, 0u, 0u) >> 2]);
        if (e < 0 || uint(e) >= P.t[1].ne[2]) { /* uniform in the workgroup */
            if (tid < R && n0 + tid < N) dst_store((yo >> 2) + n0 + tid, 0.0);
            return;
        }
        wb = t_off(1, 0u, 0u, uint(e), 0u);
        xo = t_off(2, 0u, y % P.t[2].ne[1], z, 0u);
    }
    const uint nb1 = P.t[1].nb[1];

    /* the weight rows: all loads issued first (rows past N: row N-1, not written) */
    uvec4 v[8];
    [[unroll]] for (uint u = 0u; u < 8u; u++) {
        const uint q = tid + 256u * u, r = min(q / RW4, R - 1u);
        v[u] = uvec4(0u);
        if (u < NL && q < R * RW4) v[u] = s0_v.d[((wb + min(n0 + r, N - 1u) * nb1) >> 4) + q % RW4];
    }

    /* activations: amax of 4, a block's scale, the codes */
    const uint blk = Q8 ? 32u : 128u;
    for (uint i = tid; i < K / 4u; i += 256u) {
        const vec4 x = s1_v.d[(xo >> 4) + i];
        float amax = 0.0;
        [[unroll]] for (uint k = 0u; k < 4u; k++) { const float a = abs(x[k]); amax = a > amax ? a : amax; }
        pam[i] = amax;
    }
    barrier();
    for (uint b = tid; b < K / blk; b += 256u) {
        float amax = 0.0;
        for (uint i = 0u; i < blk / 4u; i++) { const float a = pam[b * (blk / 4u) + i]; amax = a > amax ? a : amax; }
        if (Q8) {
            const float d = div_rn(amax, 127.0);
            aid[b] = d != 0.0 ? div_rn(1.0, d) : 0.0;
            asc[b] = fp16_to_f32(f32_to_fp16(d));
        } else {
            amax = amax < uintBitsToFloat(0x38d1b717u) ? uintBitsToFloat(0x38d1b717u) : amax;
            int e = pow2_ceil_exp(amax * uintBitsToFloat(0x3b124925u));
            if (e > 127) e = 127;
            const float s = uintBitsToFloat(uint(e + 127) << 23);
            aid[b] = s;
            asc[b] = s;
        }
    }
    barrier();
    for (uint i = tid; i < K / 4u; i += 256u) {
        const vec4 x = s1_v.d[(xo >> 4) + i];
        const float id = aid[(4u * i) / blk];
        uint wq = 0u;
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            if (Q8) {
                float c = round_away(x[k] * id);
                c = c > 127.0 ? 127.0 : c < -127.0 ? -127.0 : isnan(c) ? 0.0 : c;
                wq |= (uint(int(c)) & 0xffu) << (8u * k);
            } else {
                float c = div_rn(x[k], id);
                c = c > 448.0 ? 448.0 : c < -448.0 ? -448.0 : c;
                wq |= f32_to_e4m3(c) << (8u * k);
            }
        }
        aq[i] = wq;
    }
    [[unroll]] for (uint u = 0u; u < 8u; u++) {
        const uint q = tid + 256u * u;
        if (u < NL && q < R * RW4) wsh[q] = v[u];
    }
    barrier();

    /* block terms: (row, block) = (bi / NBW, bi % NBW) */
    for (uint bi = tid; bi < R * NBW; bi += 256u) {
        const uint r = bi / NBW, b = bi % NBW;
        precise float t;
        if (Q8) {
            const uint bo = r * RW4 * 16u + b * 34u, i0 = bo >> 2; /* bo even */
            uint wd[9];
            [[unroll]] for (uint j = 0u; j < 9u; j++) wd[j] = wsh_word(i0 + j);
            const bool odd = (bo & 2u) != 0u;
            const float dw = fp16_to_f32(odd ? wd[0] >> 16 : wd[0] & 0xffffu);
            int isum = 0;
            [[unroll]] for (uint i = 0u; i < 8u; i++) {
                const uint q = odd ? wd[i + 1u] : (wd[i] >> 16) | (wd[i + 1u] << 16);
                const uint a = aq[b * 8u + i];
                [[unroll]] for (uint j = 0u; j < 4u; j++)
                    isum += (int(q << (24u - 8u * j)) >> 24) * (int(a << (24u - 8u * j)) >> 24);
            }
            precise float d = dw * asc[b];
            t = float(isum) * d;
        } else {
            const uint bo = r * RW4 * 16u + b * 17u, i0 = bo >> 2, sh = (bo & 3u) * 8u;
            uint wd[5];
            [[unroll]] for (uint j = 0u; j < 5u; j++) wd[j] = wsh_word(i0 + j);
            const uint e = (wd[0] >> sh) & 0xffu;
            const uint s1 = sh + 8u;
            int p = 0;
            [[unroll]] for (uint i = 0u; i < 4u; i++) {
                const uint q = s1 == 32u ? wd[i + 1u] : (wd[i] >> s1) | (wd[i + 1u] << (32u - s1));
                const uint alo = aq[b * 8u + i], ahi = aq[b * 8u + 4u + i];
                [[unroll]] for (uint j = 0u; j < 4u; j++) {
                    const uint cq = (q >> (8u * j)) & 0xffu;
                    p += kvalue_mxfp4(cq & 15u) * e4m3_x9(alo >> (8u * j));
                    p += kvalue_mxfp4(cq >> 4) * e4m3_x9(ahi >> (8u * j));
                }
            }
            const float sw = e8m0_half_to_f32(e);
            precise float sa9 = asc[b / 4u] * uintBitsToFloat(0x3b000000u); /* 2^-9 */
            precise float sc = sa9 * sw;
            t = float(p) * sc;
        }
        tt[bi] = t;
    }
    barrier();
    if (tid < R && n0 + tid < N) {
        precise float acc = 0.0;
        for (uint b = 0u; b < NBW; b++) acc = acc + tt[tid * NBW + b];
        dst_store((yo >> 2) + n0 + tid, acc);
    }
}
