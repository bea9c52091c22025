#version 450
/*
 * sim.comp - the activation transforms of spec 3.9 and 3.3/3.4 (VARIANT = the
 * gds_op number), exact ports of ops-rope.c:
 *   HADAMARD: a workgroup of 64 per 128-block of a row; 7 butterfly stages in
 *     shared memory (a+c, a-c as the CPU's natural-order loops), then one
 *     multiply by fp32(128^-0.5): the CPU's bits.
 *   QUANT_SIM: one invocation per element; an element of a block of the
 *     first n_dims reads its whole block for the scale (amax: any order),
 *     elements past the last whole block are copied.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

#define OP_HADAMARD  19
#define OP_QUANT_SIM 20

shared float v[128];

void hadamard() {
    const uint nblk = P.t[1].ne[0] / 128u, g = group_id();
    if (g >= nblk * nrows(1)) return; /* uniform per workgroup */
    const uint r = g / nblk, b0 = (g % nblk) * 128u, t = gl_LocalInvocationID.x;
    const uvec4 c = unravel(1, r * P.t[1].ne[0]);
    const uint xo = t_off(1, 4u * b0, c.y, c.z, c.w), yo = t_off(0, 4u * b0, c.y, c.z, c.w) >> 2;
    v[t] = s0_f32(xo + 4u * t);
    v[t + 64u] = s0_f32(xo + 4u * (t + 64u));
    barrier();
    for (uint h = 1u; h < 128u; h *= 2u) {
        const uint j = (t / h) * 2u * h + (t % h);
        const float a = v[j], cc = v[j + h];
        precise float s = a + cc;
        precise float d = a - cc;
        v[j] = s;
        v[j + h] = d;
        barrier();
    }
    const float scale = uintBitsToFloat(0x3db504f3u); /* fp32(128^-0.5) */
    precise float y0 = v[t] * scale;
    precise float y1 = v[t + 64u] * scale;
    dst_store(yo + t, y0);
    dst_store(yo + t + 64u, y1);
}

float exp2i(int e) { return e >= -126 ? uintBitsToFloat(uint(e + 127) << 23) : uintBitsToFloat(1u << uint(e + 149)); }

void quant_sim() {
    const uint ne0 = P.t[1].ne[0];
    const int mode = P.op[0];
    uint nd = uint(P.op[2]);
    if (P.op[2] <= 0 || nd > ne0) nd = ne0;
    const uint blk = mode == 0 ? 1u : uint(P.op[1]);
    const uint i = group_id() * 64u + gl_LocalInvocationID.x;
    if (i >= ne0 * nrows(1)) return;
    const uint r = i / ne0, jj = i % ne0;
    const uvec4 c = unravel(1, r * ne0);
    const uint xo = t_off(1, 0u, c.y, c.z, c.w), yo = t_off(0, 0u, c.y, c.z, c.w) >> 2;
    if (jj >= nd - nd % blk) { /* copied tail */
        dst_f.d[yo + jj] = s0_f32(xo + 4u * jj);
        return;
    }
    if (mode == 0) { dst_f.d[yo + jj] = round_bf16(s0_f32(xo + 4u * jj)); return; }
    const uint j0 = jj - jj % blk;
    float amax = 0.0; /* a max: the same in any order */
    for (uint j = 0u; j < blk; j++) { const float a = abs(s0_f32(xo + 4u * (j0 + j))); amax = a > amax ? a : amax; }
    if (mode == 1) {
        amax = amax > uintBitsToFloat(0x38d1b717u) ? amax : uintBitsToFloat(0x38d1b717u); /* 1e-4f */
        const int e = pow2_ceil_exp(amax * uintBitsToFloat(0x3b124925u));                  /* 1/448 */
        const float s = exp2i(e), is = exp2i(-e);
        precise float x = s0_f32(xo + 4u * jj) * is;
        x = x > 448.0 ? 448.0 : (x < -448.0 ? -448.0 : x);
        precise float q = e4m3_to_f32(f32_to_e4m3(x)) * s;
        dst_f.d[yo + jj] = round_bf16(q);
    } else {
        amax = amax > uintBitsToFloat(0x01c00000u) ? amax : uintBitsToFloat(0x01c00000u); /* 6 * 2^-126 */
        const int e = pow2_ceil_exp(amax * uintBitsToFloat(0x3e2aaaabu));                  /* 1/6 */
        const float s = exp2i(e), is = exp2i(-e);
        precise float x = s0_f32(xo + 4u * jj) * is;
        x = x > 6.0 ? 6.0 : (x < -6.0 ? -6.0 : x);
        precise float q = e2m1_to_f32(f32_to_e2m1(x)) * s;
        dst_f.d[yo + jj] = round_bf16(q);
    }
}

void main() {
    if (VARIANT == OP_HADAMARD) hadamard();
    else quant_sim();
}
