#version 450
/*
 * norm.comp - row reductions (VARIANT = the gds_op number): RMS_NORM,
 * SUM_ROWS, SOFT_MAX. A workgroup is 16 rows x 16 lanes; lane l of a row
 * accumulates elements i = l mod 16 in order, then lanes combine by the fixed
 * tree 8, 4, 2, 1: the CPU kernels' order (ops-norm.c), so RMS_NORM repeats
 * the CPU's bits (`precise`: no fma contraction) and every op repeats its own.
 * SUM_ROWS: the CPU sums in double; here each lane keeps a float-float pair
 * (TwoSum, error-free) and the pairs combine by the same tree, one rounding
 * at the end: a few ulp from the double result, no float64 needed.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mathf.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

#define OP_RMS_NORM 15
#define OP_SUM_ROWS 16
#define OP_SOFT_MAX 17

shared float sh_a[16][16];
shared float sh_b[16][16];

/* tree over the 16 lanes of row slot ry (all lanes call it) */
float tree16(uint ry, uint lx, float v) {
    sh_a[ry][lx] = v;
    barrier();
    [[unroll]] for (uint w = 8u; w >= 1u; w /= 2u) {
        if (lx < w) { precise float s = sh_a[ry][lx] + sh_a[ry][lx + w]; sh_a[ry][lx] = s; }
        barrier();
    }
    float r = sh_a[ry][0];
    barrier();
    return r;
}

/* float-float addition (hi, lo) + (bh, bl), TwoSum on the high parts */
vec2 ff_add(vec2 a, vec2 b) {
    precise float s = a.x + b.x;
    precise float bb = s - a.x;
    precise float e = (a.x - (s - bb)) + (b.x - bb);
    precise float lo = e + a.y + b.y;
    precise float hi = s + lo;
    precise float lo2 = lo - (hi - s);
    return vec2(hi, lo2);
}

void main() {
    const uint lx = gl_LocalInvocationID.x, ry = gl_LocalInvocationID.y;
    const uint r = group_id() * 16u + ry;
    const bool live = r < nrows(1);
    const uint n = P.t[1].ne[0];
    uvec4 c = unravel(1, (live ? r : 0u) * n);
    const uint xo = t_off(1, 0u, c.y, c.z, c.w), yo = t_off(0, 0u, c.y, c.z, c.w);

    if (VARIANT == OP_SUM_ROWS) {
        vec2 acc = vec2(0.0);
        if (live) for (uint i = lx; i < n; i += 16u) acc = ff_add(acc, vec2(s0_f32(xo + 4u * i), 0.0));
        sh_a[ry][lx] = acc.x;
        sh_b[ry][lx] = acc.y;
        barrier();
        [[unroll]] for (uint w = 8u; w >= 1u; w /= 2u) {
            if (lx < w) {
                vec2 s = ff_add(vec2(sh_a[ry][lx], sh_b[ry][lx]), vec2(sh_a[ry][lx + w], sh_b[ry][lx + w]));
                sh_a[ry][lx] = s.x;
                sh_b[ry][lx] = s.y;
            }
            barrier();
        }
        if (live && lx == 0u) { precise float s = sh_a[ry][0] + sh_b[ry][0]; dst_f.d[yo >> 2] = s; }
        return;
    }

    if (VARIANT == OP_RMS_NORM) {
        precise float acc = 0.0;
        if (live) {
            uint i = lx;
            for (; i + 112u < n; i += 128u) { /* 8 loads in flight (a decode row is one workgroup), adds in order */
                float x[8];
                [[unroll]] for (uint u = 0u; u < 8u; u++) x[u] = s0_f32(xo + 4u * (i + 16u * u));
                [[unroll]] for (uint u = 0u; u < 8u; u++) { precise float x2 = x[u] * x[u]; acc = acc + x2; }
            }
            for (; i < n; i += 16u) { precise float x = s0_f32(xo + 4u * i); precise float x2 = x * x; acc = acc + x2; }
        }
        const float ss = tree16(ry, lx, acc);
        if (!live) return;
        const float eps = p_f32(0);
        precise float mean = div_rn(ss, float(n));
        precise float rs = div_rn(1.0, sqrt_rn(mean + eps));
        const bool has_w = P.t[2].ne[0] != 0u;
        for (uint i = lx; i < n; i += 16u) {
            precise float y = s0_f32(xo + 4u * i) * rs;
            if (has_w) y = y * s1_f32(P.t[2].offs + 4u * i);
            dst_f.d[(yo >> 2) + i] = y;
        }
        return;
    }

    /* SOFT_MAX: v = x*scale + mask; m = max(max v, sink) */
    const float scale = p_f32(0);
    const bool has_mask = P.t[2].ne[0] != 0u, has_sink = P.t[3].ne[0] != 0u;
    const uint mo = has_mask ? t_off(2, 0u, c.y % P.t[2].ne[1], 0u, 0u) : 0u;
    float m = uintBitsToFloat(0xff800000u);
    if (live) for (uint i = lx; i < n; i += 16u) {
        precise float v = s0_f32(xo + 4u * i) * scale;
        if (has_mask) v = v + s1_f32(mo + 4u * i);
        m = max(m, v);
    }
    sh_b[ry][lx] = m;
    barrier();
    float mx = sh_b[ry][0];
    for (uint k = 1u; k < 16u; k++) mx = max(mx, sh_b[ry][k]);
    barrier();
    float sink = uintBitsToFloat(0xff800000u);
    if (has_sink) { sink = s2_f32(P.t[3].offs + 4u * c.z); mx = max(mx, sink); }
    const bool zero = mx == uintBitsToFloat(0xff800000u);
    precise float acc = 0.0;
    if (live && !zero) for (uint i = lx; i < n; i += 16u) {
        precise float v = s0_f32(xo + 4u * i) * scale;
        if (has_mask) v = v + s1_f32(mo + 4u * i);
        acc = acc + exp_f(v - mx);
    }
    precise float sum = tree16(ry, lx, acc);
    if (!live) return;
    if (has_sink) sum = sum + exp_f(sink - mx);
    precise float inv = div_rn(1.0, sum);
    for (uint i = lx; i < n; i += 16u) {
        precise float y = 0.0;
        if (!zero) {
            precise float v = s0_f32(xo + 4u * i) * scale;
            if (has_mask) v = v + s1_f32(mo + 4u * i);
            y = exp_f(v - mx) * inv;
        }
        dst_f.d[(yo >> 2) + i] = y;
    }
}
