#version 450
/*
 * matmul.comp - MUL_MAT and MUL_MAT_ID in the canonical arithmetic of the
 * CPU's scalar dot products (backends/cpu/quants.c header), so results repeat
 * the CPU's rounding points and order:
 *   F32 / F16 / BF16 weights (activation rounded to the weight's type) and F8
 *     weights with GDS_MM_ACT_BF16 (w = e4m3 * 2^(e-127), act bf16): 16 lanes,
 *     lane l sums the rounded products of k = l mod 16 (k below K - K % 16) in
 *     order, the lanes reduce by the tree 8, 4, 2, 1, the tail adds in order;
 *   Q8_0: per 32-block t = float(isum) * (dw * da), acc += t in block order;
 *   F8_E4M3_B128: per 128-block p = 16-lane sum of the exact e4m3 products,
 *     t = p * (sw * sa), acc += t in order;
 *   MXFP4: per 32-block p = sum kv * (e4m3 * 2^9) in int32 (exact),
 *     t = float(p) * ((sa * 2^-9) * sw), acc += t in order.
 * VARIANT 0: activation pass (Q8_0, F8, MXFP4 weights): one invocation per
 *   activation block quantizes x into the scratch as floats - per row of x,
 *   K code values (int8 or e4m3 value, exact) then K/blk scales (Q8_0: the
 *   fp16-rounded d; F8: 2^e); row stride u[1] floats; u[0] = block size.
 * VARIANT 1 (MUL_MAT): one invocation per weight row and 4 activation
 *   columns (each weight element decoded once for them), VARIANT 2
 *   (MUL_MAT_ID): one invocation per output element; the 16 lane sums held
 *   in registers, weight bytes read 4 at a time, consecutive invocations on
 *   consecutive weight rows.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

uint g_w; /* weight type */

/* ---- VARIANT 0: activations -> scratch ------------------------------------- */
void quantize_act() {
    const uint blk = P.u[0], stride = P.u[1], K = P.t[2].ne[0];
    const uint nb = K / blk;
    const uint i = group_id() * 256u + gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    if (i >= nb * nrows(2)) return;
    const uint r = i / nb, b = i % nb;
    const uvec4 c = unravel(2, r * K);
    const uint xo = t_off(2, 4u * b * blk, c.y, c.z, c.w);
    const uint so = r * stride;
    float amax = 0.0;
    for (uint j = 0u; j < blk; j++) { const float a = abs(s1_f32(xo + 4u * j)); amax = a > amax ? a : amax; }
    if (blk == 32u) { /* q8_0 (ggml's reference quantizer) */
        const float d = div_rn(amax, 127.0);
        const float id = d != 0.0 ? div_rn(1.0, d) : 0.0;
        for (uint j = 0u; j < 32u; j++) {
            float v = round_away(s1_f32(xo + 4u * j) * id);
            v = v > 127.0 ? 127.0 : v < -127.0 ? -127.0 : isnan(v) ? 0.0 : v;
            scr_f.d[so + b * 32u + j] = v;
        }
        scr_f.d[so + K + b] = fp16_to_f32(f32_to_fp16(d));
    } else { /* act_quant, 128 */
        amax = amax < uintBitsToFloat(0x38d1b717u) ? uintBitsToFloat(0x38d1b717u) : amax;
        int e = pow2_ceil_exp(amax * uintBitsToFloat(0x3b124925u));
        if (e > 127) e = 127;
        const float s = uintBitsToFloat(uint(e + 127) << 23);
        for (uint j = 0u; j < blk; j++) {
            float v = div_rn(s1_f32(xo + 4u * j), s);
            v = v > 448.0 ? 448.0 : v < -448.0 ? -448.0 : v;
            scr_f.d[so + b * blk + j] = e4m3_to_f32(f32_to_e4m3(v));
        }
        scr_f.d[so + K + b] = s;
    }
}

/* ---- dots: one invocation per output, the canonical order in registers ---- */

/* 4 bytes at any byte offset o of src0 (two word loads) */
uint w_u8x4(uint o) {
    const uint i = o >> 2, sh = (o & 3u) * 8u;
    const uint w0 = s0_u.d[i];
    return sh == 0u ? w0 : (w0 >> sh) | (s0_u.d[i + 1u] << (32u - sh));
}

/* e4m3fn code -> value, branch-free (selects): normal, subnormal, NaN */
float e4m3f(uint c) {
    const uint a = c & 0x7fu;
    float v = (a & 0x78u) != 0u ? uintBitsToFloat((a << 20) + (120u << 23)) : float(a & 7u) * (1.0 / 512.0);
    v = a == 0x7fu ? uintBitsToFloat(0x7fc00000u) : v;
    return (c & 0x80u) != 0u ? -v : v;
}

/* activation element k of the x row at byte xo, rounded for the weight type */
float act_float(uint xo, uint k, bool bf16_act) {
    const float x = s1_f32(xo + 4u * k);
    if (bf16_act || g_w == T_BF16) return round_bf16(x);
    if (g_w == T_F16) return fp16_to_f32(f32_to_fp16(x));
    return x;
}

/* weight element k of the row at byte wo (float family; F8 when bf16_act) */
float w_float(uint wo, uint k) {
    switch (g_w) {
    case T_F32: return s0_f32(wo + 4u * k);
    case T_F16: return fp16_to_f32(s0_u16(wo + 2u * k));
    case T_BF16: return uintBitsToFloat(s0_u16(wo + 2u * k) << 16);
    }
    const uint b = wo + (k >> 7) * 129u; /* F8 x bf16: e4m3 * 2^(e-127), exact */
    return e4m3f(s0_u8(b + 1u + (k & 127u))) * e8m0_to_f32(s0_u8(b));
}

float dot_float(uint wo, uint xo, uint K, bool bf16_act) {
    const uint K16 = K - K % 16u;
    precise float l[16];
    [[unroll]] for (uint j = 0u; j < 16u; j++) l[j] = 0.0;
    for (uint k = 0u; k < K16; k += 16u)
        [[unroll]] for (uint j = 0u; j < 16u; j++) {
            precise float p = w_float(wo, k + j) * act_float(xo, k + j, bf16_act);
            l[j] = l[j] + p;
        }
    [[unroll]] for (uint j = 0u; j < 8u; j++) l[j] = l[j] + l[j + 8u];
    [[unroll]] for (uint j = 0u; j < 4u; j++) l[j] = l[j] + l[j + 4u];
    [[unroll]] for (uint j = 0u; j < 2u; j++) l[j] = l[j] + l[j + 2u];
    precise float sum = l[0] + l[1];
    for (uint k = K16; k < K; k++) {
        precise float p = w_float(wo, k) * act_float(xo, k, bf16_act);
        sum = sum + p;
    }
    return sum;
}

float dot_q8_0(uint wo, uint so, uint K) {
    precise float acc = 0.0;
    for (uint b = 0u; b < K / 32u; b++) {
        const uint bo = wo + b * 34u, ao = so + b * 32u;
        int isum = 0;
        [[unroll]] for (uint j = 0u; j < 32u; j += 4u) {
            const uint q = w_u8x4(bo + 2u + j);
            [[unroll]] for (uint i = 0u; i < 4u; i++)
                isum += (int(q << (24u - 8u * i)) >> 24) * int(scr_f.d[ao + j + i]);
        }
        precise float d = fp16_to_f32(s0_u16(bo)) * scr_f.d[so + K + b];
        precise float t = float(isum) * d;
        acc = acc + t;
    }
    return acc;
}

float dot_f8(uint wo, uint so, uint K) {
    precise float acc = 0.0;
    for (uint b = 0u; b < K / 128u; b++) {
        const uint bo = wo + b * 129u, ao = so + b * 128u;
        precise float l[16];
        [[unroll]] for (uint j = 0u; j < 16u; j++) l[j] = 0.0;
        for (uint k = 0u; k < 128u; k += 16u)
            [[unroll]] for (uint j = 0u; j < 16u; j += 4u) {
                const uint q = w_u8x4(bo + 1u + k + j);
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    precise float p = e4m3f((q >> (8u * i)) & 0xffu) * scr_f.d[ao + k + j + i];
                    l[j + i] = l[j + i] + p;
                }
            }
        [[unroll]] for (uint j = 0u; j < 8u; j++) l[j] = l[j] + l[j + 8u];
        [[unroll]] for (uint j = 0u; j < 4u; j++) l[j] = l[j] + l[j + 4u];
        [[unroll]] for (uint j = 0u; j < 2u; j++) l[j] = l[j] + l[j + 2u];
        precise float p = l[0] + l[1];
        precise float sc = e8m0_to_f32(s0_u8(bo)) * scr_f.d[so + K + b];
        precise float t = p * sc;
        acc = acc + t;
    }
    return acc;
}

float dot_mxfp4(uint wo, uint so, uint K) {
    precise float acc = 0.0;
    for (uint b = 0u; b < K / 32u; b++) {
        const uint bo = wo + b * 17u, ab = so + b * 32u;
        int p = 0;
        [[unroll]] for (uint i = 0u; i < 16u; i += 4u) {
            const uint q = w_u8x4(bo + 1u + i);
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                const uint c = (q >> (8u * j)) & 0xffu;
                p += kvalue_mxfp4(c & 15u) * int(scr_f.d[ab + i + j] * 512.0);
                p += kvalue_mxfp4(c >> 4) * int(scr_f.d[ab + i + j + 16u] * 512.0);
            }
        }
        precise float sa9 = scr_f.d[so + K + b / 4u] * uintBitsToFloat(0x3b000000u); /* 2^-9 */
        precise float sc = sa9 * e8m0_half_to_f32(s0_u8(bo));
        precise float t = float(p) * sc;
        acc = acc + t;
    }
    return acc;
}

/* ---- the same dots for 4 activation columns of one weight row (MUL_MAT):
 * each weight element is read and decoded once for the 4 outputs; every
 * output keeps its own sums in the order above (same bits as one column) */

void dot_float4(uint wo, uint xo[4], uint K, bool bf16_act, out float y[4]) {
    const uint K16 = K - K % 16u;
    precise float l[4][16];
    [[unroll]] for (uint c = 0u; c < 4u; c++) [[unroll]] for (uint j = 0u; j < 16u; j++) l[c][j] = 0.0;
    for (uint k = 0u; k < K16; k += 16u)
        [[unroll]] for (uint j = 0u; j < 16u; j++) {
            const float w = w_float(wo, k + j);
            [[unroll]] for (uint c = 0u; c < 4u; c++) {
                precise float p = w * act_float(xo[c], k + j, bf16_act);
                l[c][j] = l[c][j] + p;
            }
        }
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        [[unroll]] for (uint j = 0u; j < 8u; j++) l[c][j] = l[c][j] + l[c][j + 8u];
        [[unroll]] for (uint j = 0u; j < 4u; j++) l[c][j] = l[c][j] + l[c][j + 4u];
        [[unroll]] for (uint j = 0u; j < 2u; j++) l[c][j] = l[c][j] + l[c][j + 2u];
        precise float sum = l[c][0] + l[c][1];
        for (uint k = K16; k < K; k++) {
            precise float p = w_float(wo, k) * act_float(xo[c], k, bf16_act);
            sum = sum + p;
        }
        y[c] = sum;
    }
}

void dot_q8_0_4(uint wo, uint so[4], uint K, out float y[4]) {
    precise float acc[4];
    [[unroll]] for (uint c = 0u; c < 4u; c++) acc[c] = 0.0;
    for (uint b = 0u; b < K / 32u; b++) {
        const uint bo = wo + b * 34u;
        int isum[4];
        [[unroll]] for (uint c = 0u; c < 4u; c++) isum[c] = 0;
        [[unroll]] for (uint j = 0u; j < 32u; j += 4u) {
            const uint q = w_u8x4(bo + 2u + j);
            [[unroll]] for (uint i = 0u; i < 4u; i++) {
                const int wq = int(q << (24u - 8u * i)) >> 24;
                [[unroll]] for (uint c = 0u; c < 4u; c++) isum[c] += wq * int(scr_f.d[so[c] + b * 32u + j + i]);
            }
        }
        const float dw = fp16_to_f32(s0_u16(bo));
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            precise float d = dw * scr_f.d[so[c] + K + b];
            precise float t = float(isum[c]) * d;
            acc[c] = acc[c] + t;
        }
    }
    [[unroll]] for (uint c = 0u; c < 4u; c++) y[c] = acc[c];
}

void dot_f8_4(uint wo, uint so[4], uint K, out float y[4]) {
    precise float acc[4];
    [[unroll]] for (uint c = 0u; c < 4u; c++) acc[c] = 0.0;
    for (uint b = 0u; b < K / 128u; b++) {
        const uint bo = wo + b * 129u;
        precise float l[4][16];
        [[unroll]] for (uint c = 0u; c < 4u; c++) [[unroll]] for (uint j = 0u; j < 16u; j++) l[c][j] = 0.0;
        for (uint k = 0u; k < 128u; k += 16u)
            [[unroll]] for (uint j = 0u; j < 16u; j += 4u) {
                const uint q = w_u8x4(bo + 1u + k + j);
                [[unroll]] for (uint i = 0u; i < 4u; i++) {
                    const float w = e4m3f((q >> (8u * i)) & 0xffu);
                    [[unroll]] for (uint c = 0u; c < 4u; c++) {
                        precise float p = w * scr_f.d[so[c] + b * 128u + k + j + i];
                        l[c][j + i] = l[c][j + i] + p;
                    }
                }
            }
        const float sw = e8m0_to_f32(s0_u8(bo));
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            [[unroll]] for (uint j = 0u; j < 8u; j++) l[c][j] = l[c][j] + l[c][j + 8u];
            [[unroll]] for (uint j = 0u; j < 4u; j++) l[c][j] = l[c][j] + l[c][j + 4u];
            [[unroll]] for (uint j = 0u; j < 2u; j++) l[c][j] = l[c][j] + l[c][j + 2u];
            precise float p = l[c][0] + l[c][1];
            precise float sc = sw * scr_f.d[so[c] + K + b];
            precise float t = p * sc;
            acc[c] = acc[c] + t;
        }
    }
    [[unroll]] for (uint c = 0u; c < 4u; c++) y[c] = acc[c];
}

void dot_mxfp4_4(uint wo, uint so[4], uint K, out float y[4]) {
    precise float acc[4];
    [[unroll]] for (uint c = 0u; c < 4u; c++) acc[c] = 0.0;
    for (uint b = 0u; b < K / 32u; b++) {
        const uint bo = wo + b * 17u;
        int p[4];
        [[unroll]] for (uint c = 0u; c < 4u; c++) p[c] = 0;
        [[unroll]] for (uint i = 0u; i < 16u; i += 4u) {
            const uint q = w_u8x4(bo + 1u + i);
            [[unroll]] for (uint j = 0u; j < 4u; j++) {
                const uint cq = (q >> (8u * j)) & 0xffu;
                const int klo = kvalue_mxfp4(cq & 15u), khi = kvalue_mxfp4(cq >> 4);
                [[unroll]] for (uint c = 0u; c < 4u; c++) {
                    p[c] += klo * int(scr_f.d[so[c] + b * 32u + i + j] * 512.0);
                    p[c] += khi * int(scr_f.d[so[c] + b * 32u + i + j + 16u] * 512.0);
                }
            }
        }
        const float sw = e8m0_half_to_f32(s0_u8(bo));
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            precise float sa9 = scr_f.d[so[c] + K + b / 4u] * uintBitsToFloat(0x3b000000u); /* 2^-9 */
            precise float sc = sa9 * sw;
            precise float t = float(p[c]) * sc;
            acc[c] = acc[c] + t;
        }
    }
    [[unroll]] for (uint c = 0u; c < 4u; c++) y[c] = acc[c];
}

/* MUL_MAT: invocation o = (weight row n, group of 4 columns i1 of one (i2, i3)) */
void mul_mat4() {
    const bool bf16_act = (P.op[0] & 1) != 0 && g_w == T_F8;
    const uint N = P.t[0].ne[0], M = P.t[0].ne[1], K = P.t[1].ne[0];
    const uint mg = (M + 3u) / 4u;
    const uint o = group_id() * 256u + gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    if (o >= N * mg * P.t[0].ne[2] * P.t[0].ne[3]) return;
    const uint n = o % N, r = o / N, g = r % mg, bb = r / mg;
    const uint i2 = bb % P.t[0].ne[2], i3 = bb / P.t[0].ne[2];
    const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
    const uint wo = t_off(1, 0u, n, i2 / r2, i3 / r3);
    const uint nc = min(4u, M - 4u * g);
    uint xo[4], so[4];
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        const uint m = 4u * g + min(c, nc - 1u); /* past the last column: a copy of it, not written */
        xo[c] = t_off(2, 0u, m, i2, i3);
        so[c] = (m + P.t[2].ne[1] * (i2 + P.t[2].ne[2] * i3)) * P.u[1];
    }
    float y[4];
    if (bf16_act || g_w == T_F32 || g_w == T_F16 || g_w == T_BF16) dot_float4(wo, xo, K, bf16_act, y);
    else if (g_w == T_Q8_0) dot_q8_0_4(wo, so, K, y);
    else if (g_w == T_F8) dot_f8_4(wo, so, K, y);
    else dot_mxfp4_4(wo, so, K, y);
    for (uint c = 0u; c < nc; c++) dst_f.d[t_off(0, 4u * n, 4u * g + c, i2, i3) >> 2] = y[c];
}

void main() {
    if (VARIANT == 0) { quantize_act(); return; }
    g_w = P.t[1].type;
    if (VARIANT == 1) { mul_mat4(); return; }
    const bool bf16_act = (P.op[0] & 1) != 0 && g_w == T_F8;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0];
    const uint o = group_id() * 256u + gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    if (o >= nel(0)) return;
    const uvec4 d = unravel(0, o);
    const uint n = d.x;
    uint wo;     /* weight row byte offset */
    uvec3 xc;    /* x coordinates (i1, i2, i3) */
    if (VARIANT == 1) {
        const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
        wo = t_off(1, 0u, n, d.z / r2, d.w / r3);
        xc = uvec3(d.y, d.z, d.w);
    } else {
        const int e = int(s2_u.d[t_off(3, d.y * P.t[3].nb[0], d.z, 0u, 0u) >> 2]);
        if (e < 0 || uint(e) >= P.t[1].ne[2]) { dst_f.d[t_off(0, 4u * n, d.y, d.z, d.w) >> 2] = 0.0; return; }
        wo = t_off(1, 0u, n, uint(e), 0u);
        xc = uvec3(d.y % P.t[2].ne[1], d.z, 0u);
    }
    const uint so = (xc.x + P.t[2].ne[1] * (xc.y + P.t[2].ne[2] * xc.z)) * P.u[1];
    float y;
    if (bf16_act || g_w == T_F32 || g_w == T_F16 || g_w == T_BF16) y = dot_float(wo, t_off(2, 0u, xc.x, xc.y, xc.z), K, bf16_act);
    else if (g_w == T_Q8_0) y = dot_q8_0(wo, so, K);
    else if (g_w == T_F8) y = dot_f8(wo, so, K);
    else y = dot_mxfp4(wo, so, K);
    dst_f.d[t_off(0, 4u * n, d.y, d.z, d.w) >> 2] = y;
}
