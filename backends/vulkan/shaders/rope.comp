#version 450
/*
 * rope.comp - ROPE (spec 3.8), one invocation per output element. Needs
 * shaderFloat64 (supports_op refuses ROPE without it): the angle is the
 * CPU's fp32(fp32(pos) * freq_i) with freq_i from the host's fp32 table
 * (gds_rope_freqs, Params.aux), and cos/sin of that fp32 angle are computed
 * in double - fdlibm's two-part pi/2 reduction (exact for |angle| < 2^20 * pi/2)
 * and kernel polynomials - then rounded to fp32: the correctly rounded
 * cosf/sinf in all but rare ties (a device's own fp32 sin/cos may be off by
 * far more for the large angles of long contexts). The rotation is fp32:
 * y0 = a*c - b*s, y1 = a*s + b*c (`precise`: no fma).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

/* (cos, sin) of the fp32 angle a, rounded to fp32 */
vec2 sincos_f(float a) {
    const double pio2_1 = 1.57079632673412561417e+00LF;  /* first 33 bits of pi/2 */
    const double pio2_1t = 6.07710050650619224932e-11LF; /* pi/2 - pio2_1 */
    const double inv_pio2 = 6.36619772367581382433e-01LF;
    double d = double(a);
    double k = roundEven(d * inv_pio2);
    precise double r1 = d - k * pio2_1;
    precise double r = r1 - k * pio2_1t;
    precise double z = r * r;
    precise double s = r + r * z * (-1.66666666666666324348e-01LF + z * (8.33333333332248946124e-03LF + z * (-1.98412698298579493134e-04LF
                     + z * (2.75573137070700676789e-06LF + z * (-2.50507602534068634195e-08LF + z * 1.58969099521155010221e-10LF)))));
    precise double c = 1.0LF - 0.5LF * z + z * z * (4.16666666666666019037e-02LF + z * (-1.38888888888741095749e-03LF
                     + z * (2.48015872894767294178e-05LF + z * (-2.75573143513906633035e-07LF + z * (2.08757232129817482790e-09LF
                     + z * -1.13596475577881948265e-11LF)))));
    int q = int(mod(k, 4.0LF));
    double cs = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
    double sn = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
    return vec2(float(cs), float(sn));
}

void main() {
    const uint i = group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= nel(1)) return;
    const uvec4 c = unravel(1, i);
    const uint n_rot = uint(P.op[0]), nd = P.t[1].ne[0] - n_rot;
    const uint xo = t_off(1, 0u, c.y, c.z, c.w), yo = t_off(0, 0u, c.y, c.z, c.w) >> 2;
    if (c.x < nd) { dst_store(yo + c.x, s0_f32(xo + 4u * c.x)); return; }
    const uint pi = (c.x - nd) >> 1, j0 = nd + 2u * pi;
    const float fp = float(int(s1_u.d[t_off(2, c.z * P.t[2].nb[0], 0u, 0u, 0u) >> 2]));
    precise float ang = fp * P.aux[pi];
    vec2 cssn = sincos_f(ang);
    const float cs = cssn.x, sn = P.op[6] != 0 ? -cssn.y : cssn.y;
    const float a = s0_f32(xo + 4u * j0), b = s0_f32(xo + 4u * j0 + 4u);
    precise float y;
    if (c.x == j0) { precise float t0 = a * cs; precise float t1 = b * sn; y = t0 - t1; }
    else { precise float t0 = a * sn; precise float t1 = b * cs; y = t0 + t1; }
    dst_store(yo + c.x, y);
}
