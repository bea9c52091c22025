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
 * VARIANT 1 (MUL_MAT) / 2 (MUL_MAT_ID): a workgroup is 16 outputs (weight
 *   rows n..n+15 of one activation column) x 16 lanes; block types: lane l
 *   computes the t of blocks l, l+16, ... and lane 0 adds them in order.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

shared float sh[16][16];

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
        const float d = amax / 127.0;
        const float id = d != 0.0 ? 1.0 / d : 0.0;
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
            float v = s1_f32(xo + 4u * j) / s;
            v = v > 448.0 ? 448.0 : v < -448.0 ? -448.0 : v;
            scr_f.d[so + b * blk + j] = e4m3_to_f32(f32_to_e4m3(v));
        }
        scr_f.d[so + K + b] = s;
    }
}

/* ---- dots ----------------------------------------------------------------------- */

/* activation element k of the x row at byte xo, rounded for the weight type */
float act_float(uint xo, uint k, bool bf16_act) {
    const float x = s1_f32(xo + 4u * k);
    if (bf16_act || g_w == T_BF16) return round_bf16(x);
    if (g_w == T_F16) return fp16_to_f32(f32_to_fp16(x));
    return x;
}

/* float family: 16 lanes (all 16 lanes of the row slot call it) */
float dot_float(uint ry, uint lx, bool live, uint wo, uint xo, uint K, bool bf16_act) {
    const uint K16 = K - K % 16u;
    precise float l = 0.0;
    if (live)
        for (uint k = lx; k < K16; k += 16u) {
            precise float p = s0_elem(g_w, wo, P.t[1].nb[0], k) * act_float(xo, k, bf16_act);
            l = l + p;
        }
    sh[ry][lx] = l;
    barrier();
    [[unroll]] for (uint w = 8u; w >= 1u; w /= 2u) {
        if (lx < w) { precise float s = sh[ry][lx] + sh[ry][lx + w]; sh[ry][lx] = s; }
        barrier();
    }
    precise float sum = sh[ry][0];
    barrier();
    if (live)
        for (uint k = K16; k < K; k++) {
            precise float p = s0_elem(g_w, wo, P.t[1].nb[0], k) * act_float(xo, k, bf16_act);
            sum = sum + p;
        }
    return sum;
}

/* t of weight block b (block types) against activation row `so` of the scratch */
float block_t(uint wo, uint so, uint K, uint b) {
    if (g_w == T_Q8_0) {
        const uint bo = wo + b * 34u;
        int isum = 0;
        for (uint j = 0u; j < 32u; j++) isum += (int(s0_u8(bo + 2u + j) << 24) >> 24) * int(scr_f.d[so + b * 32u + j]);
        precise float d = fp16_to_f32(s0_u16(bo)) * scr_f.d[so + K + b];
        precise float t = float(isum) * d;
        return t;
    }
    if (g_w == T_F8) {
        const uint bo = wo + b * 129u;
        precise float l[16];
        for (uint j = 0u; j < 16u; j++) l[j] = 0.0;
        for (uint k = 0u; k < 128u; k += 16u)
            for (uint j = 0u; j < 16u; j++) {
                precise float p = e4m3_to_f32(s0_u8(bo + 1u + k + j)) * scr_f.d[so + b * 128u + k + j];
                l[j] = l[j] + p;
            }
        for (uint j = 0u; j < 8u; j++) l[j] = l[j] + l[j + 8u];
        for (uint j = 0u; j < 4u; j++) l[j] = l[j] + l[j + 4u];
        for (uint j = 0u; j < 2u; j++) l[j] = l[j] + l[j + 2u];
        precise float p = l[0] + l[1];
        precise float sc = e8m0_to_f32(s0_u8(bo)) * scr_f.d[so + K + b / 1u];
        precise float t = p * sc;
        return t;
    }
    /* MXFP4: b is a 32-block; activation scale of its 128-block */
    const uint bo = wo + b * 17u, ab = so + b * 32u;
    int p = 0;
    for (uint i = 0u; i < 16u; i++) {
        const uint q = s0_u8(bo + 1u + i);
        p += kvalue_mxfp4(q & 15u) * int(scr_f.d[ab + i] * 512.0);
        p += kvalue_mxfp4(q >> 4) * int(scr_f.d[ab + i + 16u] * 512.0);
    }
    precise float sa9 = scr_f.d[so + K + b / 4u] * uintBitsToFloat(0x3b000000u); /* 2^-9 */
    precise float sc = sa9 * e8m0_half_to_f32(s0_u8(bo));
    precise float t = float(p) * sc;
    return t;
}

float dot_blocks(uint ry, uint lx, bool live, uint wo, uint so, uint K) {
    const uint nb = g_w == T_F8 ? K / 128u : K / 32u;
    precise float acc = 0.0;
    for (uint c0 = 0u; c0 < nb; c0 += 16u) {
        sh[ry][lx] = live && c0 + lx < nb ? block_t(wo, so, K, c0 + lx) : 0.0;
        barrier();
        if (lx == 0u) for (uint j = 0u; j < 16u && c0 + j < nb; j++) acc = acc + sh[ry][j];
        barrier();
    }
    return acc;
}

void main() {
    if (VARIANT == 0) { quantize_act(); return; }
    g_w = P.t[1].type;
    const bool bf16_act = (P.op[0] & 1) != 0 && g_w == T_F8;
    const bool blocks = !bf16_act && (g_w == T_Q8_0 || g_w == T_F8 || g_w == T_MXFP4);
    const uint lx = gl_LocalInvocationID.x, ry = gl_LocalInvocationID.y;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0], nn = (N + 15u) / 16u;
    const uint g = group_id();
    if (g >= nn * nrows(0)) return; /* uniform per workgroup */
    const uint n = (g % nn) * 16u + ry, col = g / nn; /* col: flat (i1, i2, i3) of dst */
    const uvec4 d = unravel(0, col * N);
    bool live = n < N;
    uint wo, xrow;  /* weight row byte offset, activation row (flat over x's rows) */
    uvec3 xc;       /* x coordinates (i1, i2, i3) */
    if (VARIANT == 1) {
        const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
        wo = t_off(1, 0u, live ? n : 0u, d.z / r2, d.w / r3);
        xc = uvec3(d.y, d.z, d.w);
    } else {
        const int e = int(s2_u.d[t_off(3, d.y * P.t[3].nb[0], d.z, 0u, 0u) >> 2]);
        const bool ok = e >= 0 && uint(e) < P.t[1].ne[2];
        if (!ok) live = false;
        wo = t_off(1, 0u, live ? n : 0u, ok ? uint(e) : 0u, 0u);
        xc = uvec3(d.y % P.t[2].ne[1], d.z, 0u);
    }
    xrow = xc.x + P.t[2].ne[1] * (xc.y + P.t[2].ne[2] * xc.z);
    float y;
    if (blocks) y = dot_blocks(ry, lx, live, wo, xrow * P.u[1], K);
    else y = dot_float(ry, lx, live, wo, t_off(2, 0u, xc.x, xc.y, xc.z), K, bf16_act);
    if (n < N && lx == 0u) dst_f.d[t_off(0, 4u * n, d.y, d.z, d.w) >> 2] = live ? y : 0.0;
}
