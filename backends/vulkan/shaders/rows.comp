#version 450
/*
 * rows.comp - data movement: CPY, GET_ROWS, SET_ROWS, CONCAT (VARIANT = the
 * gds_op number, plus the sub-modes below). Exact: values are decoded and
 * re-encoded with the helpers of quants.glsl (the reference quantizers).
 *
 *   CPY, plain types (F32/F16/BF16/I32, any shapes of equal count): one
 *     invocation per element in the source's logical order; same type: the
 *     bytes are copied (I32 and NaN payloads stay exact).
 *   CPY, quantized source -> F32: one invocation per element.
 *   CPY, F32 -> quantized: one invocation per destination block (u[0] = 1).
 *   GET_ROWS: one invocation per output element.
 *   SET_ROWS: pass u[0] = 0 marks in the scratch which source rows are the
 *     last in (i3, i2, i1) order to hit their destination row (the CPU's
 *     "last id wins"; skipped for one source row, u[1] = 1); pass 1 writes
 *     those rows, one invocation per element (plain types), per block
 *     (quantized destinations) or per word (u[0] = 2: KV_E4M3_B64, word-
 *     aligned rows).
 *   CONCAT: one invocation per output element.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

#define OP_CPY      2
#define OP_GET_ROWS 3
#define OP_SET_ROWS 4
#define OP_CONCAT   5

uint blck(uint ty) { return ty == T_Q8_0 || ty == T_MXFP4 ? 32u : ty == T_F8 ? 128u : ty == T_KV ? 512u : 1u; }
uint bsize(uint ty) { return ty == T_Q8_0 ? 34u : ty == T_MXFP4 ? 17u : ty == T_F8 ? 129u : ty == T_KV ? 584u : 0u; }
uint esize(uint ty) { return ty == T_F16 || ty == T_BF16 ? 2u : 4u; }

/* the source row of the current block writer (set before the quantizer macros) */
uint g_row, g_nb0;
float XS0(uint j) { return s0_elem(P.t[1].type, g_row, g_nb0, j); }
float XS1(uint j) { return s1_elem(P.t[2].type, g_row, g_nb0, j); }

void quant_block(uint ty, uint o, uint j0, bool from_s1) {
    if (from_s1) {
        if (ty == T_Q8_0) Q8_0_BLOCK(XS1, j0, o)
        else if (ty == T_MXFP4) MXFP4_BLOCK(XS1, j0, o)
        else if (ty == T_F8) ACT_QUANT_BLOCK(XS1, j0, 128u, o, o + 1u)
        else if (ty == T_KV) KV_BLOCK(XS1, j0, o)
    } else {
        if (ty == T_Q8_0) Q8_0_BLOCK(XS0, j0, o)
        else if (ty == T_MXFP4) MXFP4_BLOCK(XS0, j0, o)
        else if (ty == T_F8) ACT_QUANT_BLOCK(XS0, j0, 128u, o, o + 1u)
        else if (ty == T_KV) KV_BLOCK(XS0, j0, o)
    }
    wr_flush();
}

void op_cpy(uint i) {
    const uint ts = P.t[1].type, td = P.t[0].type;
    if (P.u[0] == 1u) { /* F32 (or plain) -> quantized, one block */
        const uint nbk = P.t[0].ne[0] / blck(td);
        if (i >= nbk * nrows(0)) return;
        const uint r = i / nbk, bi = i % nbk;
        const uvec4 c = unravel(1, r * P.t[1].ne[0]); /* same shape */
        g_row = t_off(1, 0u, c.y, c.z, c.w);
        g_nb0 = P.t[1].nb[0];
        quant_block(td, t_off(0, bi * bsize(td), c.y, c.z, c.w), bi * blck(td), false);
        return;
    }
    if (i >= nel(1)) return;
    const uvec4 s = unravel(1, i), d = unravel(0, i);
    if (bsize(ts) != 0u) { /* quantized -> F32 (same shape) */
        const float v = s0_elem(ts, t_off(1, 0u, s.y, s.z, s.w), 0u, s.x);
        dst_f.d[t_off(0, d.x * P.t[0].nb[0], d.y, d.z, d.w) >> 2] = v;
        return;
    }
    const uint so = t_off(1, s.x * P.t[1].nb[0], s.y, s.z, s.w);
    const uint o = t_off(0, d.x * P.t[0].nb[0], d.y, d.z, d.w);
    if (ts == td) {
        if (esize(ts) == 2u) wr_u16(o, s0_u16(so));
        else wr_u32(o, s0_u.d[so >> 2]);
    } else {
        wr_elem(td, o, s0_elem(ts, so, 0u, 0u));
    }
    wr_flush();
}

void op_get_rows(uint i) {
    if (i >= nel(0)) return;
    const uvec4 d = unravel(0, i);
    const int id = int(s1_u.d[t_off(2, d.y * P.t[2].nb[0], d.z, d.w, 0u) >> 2]);
    float v = 0.0;
    if (id >= 0 && uint(id) < P.t[1].ne[1]) {
        const uint ro = t_off(1, 0u, uint(id), d.z % P.t[1].ne[2], d.w % P.t[1].ne[3]);
        v = s0_elem(P.t[1].type, ro, P.t[1].nb[0], d.x);
    }
    dst_f.d[t_off(0, d.x * 4u, d.y, d.z, d.w) >> 2] = v;
}

/* KV_E4M3_B64 in parallel: word w (< 146) of the block of values XS1(j0 ..
 * j0 + 511), the bytes of KV_BLOCK (quants.glsl): 7 e8m0 scales and a zero
 * byte, 448 e4m3 codes (group g of 64: act_quant, its amax read by every
 * word of the group: a max, any order), 64 bf16. Same bytes. */
float kv_scale(uint j0, uint g, out uint e8) {
    float amax = 0.0;
    for (uint j = 0u; j < 64u; j++) { const float a = abs(XS1(j0 + 64u * g + j)); if (amax < a) amax = a; }
    e8 = act_quant_e8(amax);
    return uintBitsToFloat(e8 << 23);
}

uint kv_word(uint j0, uint w) {
    uint e8;
    if (w < 2u) { /* scales */
        uint v = 0u;
        for (uint b = 0u; b < 4u; b++) {
            const uint g = 4u * w + b;
            if (g < 7u) { kv_scale(j0, g, e8); v |= e8 << (8u * b); }
        }
        return v;
    }
    if (w < 114u) { /* codes: bytes 8 + 4 (w - 2) .. , one group */
        const uint q0 = 4u * (w - 2u), g = q0 / 64u;
        const float s = kv_scale(j0, g, e8);
        uint v = 0u;
        for (uint b = 0u; b < 4u; b++) v |= act_quant_code(XS1(j0 + q0 + b), s) << (8u * b);
        return v;
    }
    const uint e0 = 448u + 2u * (w - 114u); /* two bf16 */
    return f32_to_bf16(XS1(j0 + e0)) | (f32_to_bf16(XS1(j0 + e0 + 1u)) << 16);
}

/* destination row of source row r (flat over src1's rows); -1: skipped */
int set_rows_target(uint r, out uvec4 c) {
    c = unravel(2, r * P.t[2].ne[0]);
    const int id = int(s2_u.d[t_off(3, c.y * P.t[3].nb[0], c.z % P.t[3].ne[1], c.w % P.t[3].ne[2], 0u) >> 2]);
    if (id < 0 || uint(id) >= P.t[0].ne[1]) return -1;
    return int(uint(id) + P.t[0].ne[1] * ((c.z % P.t[0].ne[2]) + P.t[0].ne[2] * (c.w % P.t[0].ne[3])));
}

void op_set_rows(uint i) {
    const uint nr = nrows(2);
    if (P.u[0] == 0u) { /* winners: the last source row for each destination row */
        if (i >= nr) return;
        uvec4 c;
        const int f = set_rows_target(i, c);
        uint win = f >= 0 ? 1u : 0u;
        for (uint r = i + 1u; win == 1u && r < nr; r++) {
            uvec4 c2;
            if (set_rows_target(r, c2) == f) win = 0u;
        }
        scr_u.d[i] = win;
        return;
    }
    const uint td = P.t[0].type;
    const bool kvw = P.u[0] == 2u; /* KV_E4M3_B64 a word each */
    const uint per = kvw ? P.t[0].ne[0] / 512u * 146u : bsize(td) != 0u ? P.t[0].ne[0] / blck(td) : P.t[0].ne[0];
    if (i >= per * nr) return;
    const uint r = i / per, k = i % per;
    if (P.u[1] == 0u && scr_u.d[r] == 0u) return; /* u[1] = 1: one source row, no winners pass */
    uvec4 c;
    const int f = set_rows_target(r, c);
    if (f < 0) return;
    const uint id = uint(f) % P.t[0].ne[1];
    const uint j2 = c.z % P.t[0].ne[2], j3 = c.w % P.t[0].ne[3];
    g_row = t_off(2, 0u, c.y, c.z, c.w);
    g_nb0 = P.t[2].nb[0];
    if (kvw) {
        const uint kb = k / 146u, w = k % 146u;
        dst_u.d[t_off(0, kb * 584u + 4u * w, id, j2, j3) >> 2] = kv_word(kb * 512u, w);
        return;
    }
    if (bsize(td) != 0u) {
        quant_block(td, t_off(0, k * bsize(td), id, j2, j3), k * blck(td), true);
    } else {
        wr_elem(td, t_off(0, k * P.t[0].nb[0], id, j2, j3), XS1(k));
        wr_flush();
    }
}

void op_concat(uint i) {
    if (i >= nel(0)) return;
    const uvec4 d = unravel(0, i);
    const int dim = P.op[0];
    uint c[4] = uint[4](d.x, d.y, d.z, d.w);
    float v;
    if (c[dim] < P.t[1].ne[dim]) {
        v = s0_elem(P.t[1].type, t_off(1, 0u, c[1], c[2], c[3]), P.t[1].nb[0], c[0]);
    } else {
        c[dim] -= P.t[1].ne[dim];
        v = s1_elem(P.t[2].type, t_off(2, 0u, c[1], c[2], c[3]), P.t[2].nb[0], c[0]);
    }
    dst_f.d[t_off(0, d.x * 4u, d.y, d.z, d.w) >> 2] = v;
}

void main() {
    const uint i = group_id() * 256u + gl_LocalInvocationID.x;
    switch (VARIANT) {
    case OP_CPY: op_cpy(i); break;
    case OP_GET_ROWS: op_get_rows(i); break;
    case OP_SET_ROWS: op_set_rows(i); break;
    case OP_CONCAT: op_concat(i); break;
    }
}
