#version 450
/*
 * norm.comp - row reductions (VARIANT = the gds_op number): RMS_NORM,
 * SUM_ROWS, SOFT_MAX. A workgroup is 16 rows x 16 lanes (RMS_NORM: one row
 * with all 256 threads loading and storing, see rms_row); lane l of a row
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

/* RMS_NORM, a workgroup per row: the row is staged in shared memory by all
 * 256 threads, NS floats at a time (coalesced, 16 loads a thread in
 * flight); threads 0..15 (lane l: elements l mod 16, in order) add their
 * squares from it, then tree16 as above; all 256 threads write the outputs
 * (from the staged values when the row fits one chunk). Same order as the
 * 16-rows form, so the same bits. */
#define NS 4096u
shared float sh_x[NS];

void rms_row() {
    const uint tid = gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    const uint r = group_id();
    if (r >= nrows(1)) return; /* uniform per workgroup */
    const uint n = P.t[1].ne[0];
    const uvec4 c = unravel(1, r * n);
    const uint xo = t_off(1, 0u, c.y, c.z, c.w), yo = t_off(0, 0u, c.y, c.z, c.w) >> 2;
    precise float acc = 0.0;
    for (uint j0 = 0u; j0 < n; j0 += NS) {
        const uint cnt = min(NS, n - j0);
        [[unroll]] for (uint u = 0u; u < NS / 256u; u++) {
            const uint q = tid + 256u * u;
            if (q < cnt) sh_x[q] = s0_f32(xo + 4u * (j0 + q));
        }
        barrier();
        if (tid < 16u) { /* NS % 16 == 0: lane tid continues its chain */
            uint q = tid;
            for (; q + 112u < cnt; q += 128u) {
                float x[8];
                [[unroll]] for (uint u = 0u; u < 8u; u++) x[u] = sh_x[q + 16u * u];
                [[unroll]] for (uint u = 0u; u < 8u; u++) { precise float x2 = x[u] * x[u]; acc = acc + x2; }
            }
            for (; q < cnt; q += 16u) { const float x = sh_x[q]; precise float x2 = x * x; acc = acc + x2; }
        }
        barrier();
    }
    /* tree16 on the lanes (row 0 of sh_a); every thread reads the result */
    if (tid < 16u) sh_a[0][tid] = acc;
    barrier();
    [[unroll]] for (uint w = 8u; w >= 1u; w /= 2u) {
        if (tid < w) { precise float s = sh_a[0][tid] + sh_a[0][tid + w]; sh_a[0][tid] = s; }
        barrier();
    }
    const float ss = sh_a[0][0];
    const float eps = p_f32(0);
    precise float mean = div_rn(ss, float(n));
    precise float rs = div_rn(1.0, sqrt_rn(mean + eps));
    const bool has_w = P.t[2].ne[0] != 0u, staged = n <= NS;
    for (uint i0 = 0u; i0 < n; i0 += 2048u) {
        float x[8], w[8];
        [[unroll]] for (uint u = 0u; u < 8u; u++) {
            const uint i = i0 + tid + 256u * u;
            x[u] = i < n ? (staged ? sh_x[i] : s0_f32(xo + 4u * i)) : 0.0;
            w[u] = i < n && has_w ? s1_f32(P.t[2].offs + 4u * i) : 1.0;
        }
        [[unroll]] for (uint u = 0u; u < 8u; u++) {
            const uint i = i0 + tid + 256u * u;
            precise float y = x[u] * rs;
            if (has_w) y = y * w[u];
            if (i < n) dst_store(yo + i, y);
        }
    }
}

void main() {
    if (VARIANT == OP_RMS_NORM) { rms_row(); return; }
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
