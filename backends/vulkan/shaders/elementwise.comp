#version 450
/*
 * elementwise.comp - fp32 maps, one invocation per output element (VARIANT =
 * the gds_op number): ADD, MUL, DIV (b broadcast by modulo), SCALE, SQRT,
 * SIGMOID, SOFTPLUS, SILU, SWIGLU. The formulas are written as the CPU kernels
 * write them (ops-elementwise.c); `precise` keeps the compiler from fusing
 * x*s + b into an fma. exp and log1p as the CPU's libm (mathf.glsl: in double,
 * one rounding); division and sqrt correctly rounded (div_rn, sqrt_rn).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "mathf.glsl"

layout(local_size_x = 256) in;

#define OP_ADD      6
#define OP_MUL      7
#define OP_DIV      8
#define OP_SCALE    9
#define OP_SQRT     10
#define OP_SIGMOID  11
#define OP_SOFTPLUS 12
#define OP_SILU     13
#define OP_SWIGLU   14

void main() {
    const uint i = group_id() * 256u + gl_LocalInvocationID.x;
    if (i >= nel(1)) return;
    const uvec4 c = unravel(1, i);
    const float x = s0_f32(t_off(1, c.x * 4u, c.y, c.z, c.w));
    precise float y;
    switch (VARIANT) {
    case OP_ADD: case OP_MUL: case OP_DIV: {
        const float w = s1_f32(t_off(2, (c.x % P.t[2].ne[0]) * 4u, c.y % P.t[2].ne[1], c.z % P.t[2].ne[2], c.w % P.t[2].ne[3]));
        y = VARIANT == OP_ADD ? x + w : VARIANT == OP_MUL ? x * w : div_rn(x, w);
        break;
    }
    case OP_SCALE: {
        const float s = p_f32(0), b = p_f32(1);
        precise float t = x * s;
        y = b == 0.0 ? t : t + b;
        break;
    }
    case OP_SQRT: y = sqrt_rn(x); break;
    case OP_SIGMOID: { precise float e = 1.0 + exp_f(-x); y = div_rn(1.0, e); break; }
    case OP_SOFTPLUS: y = x > 20.0 ? x : log1p_f(exp_f(x)); break;
    case OP_SILU: { precise float e = 1.0 + exp_f(-x); y = div_rn(x, e); break; }
    case OP_SWIGLU: {
        const float L = p_f32(0);
        float u = s1_f32(t_off(2, c.x * 4u, c.y, c.z, c.w));
        float g = x;
        if (L > 0.0) {
            g = g > L ? L : g;
            u = u > L ? L : (u < -L ? -L : u);
        }
        precise float e = 1.0 + exp_f(-g);
        precise float sg = div_rn(g, e);
        y = sg * u;
        break;
    }
    }
    dst_store(t_off(0, c.x * 4u, c.y, c.z, c.w) >> 2, y);
}
