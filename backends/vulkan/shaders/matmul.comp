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
 *   4 activations quantizes x into the scratch - per row of x, the K
 *   codes (Q8_0: int8 bytes, 4 a word; MXFP4: e4m3 bytes, 4 a word; F8:
 *   e4m3 values as floats, exact) in the first K words, then K/blk scales
 *   as floats (Q8_0: the fp16-rounded d; F8/MXFP4: 2^e); row stride u[1]
 *   words; u[0] = block size. Packed codes: lanes reading consecutive
 *   blocks touch 4x fewer cache lines per load. u[3] = 1 (MXFP4 weights, K
 *   % 128 == 0; the host's default, GDS_VK_MM4=0: codes): each code as its
 *   exact integer value * 2^9 (e4m3_x9), one word per activation, so the
 *   mat-vec decodes every activation once per call instead of once per
 *   weight row (its integer block sum is the same number).
 * VARIANT 3 (MUL_MAT) and 4 (MUL_MAT_ID): a workgroup per 16 weight rows
 *   and column set, 16 threads per row reading consecutive elements or
 *   blocks (coalesced), the in-order parts from shared memory (below,
 *   before mat_vec).
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 16, local_size_y = 16) in;

uint g_w; /* weight type */

/* e4m3 code (low byte of c) -> value * 2^9, an exact integer (NaN codes:
 * +-480 * 2^9, as the CPU's integer paths) */
int e4m3_x9(uint c) {
    const uint a = c & 0x7fu, e = a >> 3, m = a & 7u;
    const int v = e == 0u ? int(m) : int((8u + m) << (e - 1u));
    return (c & 0x80u) != 0u ? -v : v;
}

/* ---- VARIANT 0: activations -> scratch ------------------------------------- */
/* one invocation per 4 activations (one scratch word): each reads its whole
 * block for amax (a max, the same in any order), so all run in parallel */
void quantize_act() {
    const uint blk = P.u[0], stride = P.u[1], K = P.t[2].ne[0];
    const uint nw = K / 4u;
    const uint i = group_id() * 256u + gl_LocalInvocationID.y * 16u + gl_LocalInvocationID.x;
    if (i >= nw * nrows(2)) return;
    const uint r = i / nw, j0 = 4u * (i % nw), b = j0 / blk;
    const uvec4 c = unravel(2, r * K);
    const uint xo = t_off(2, 4u * b * blk, c.y, c.z, c.w), xj = xo + 4u * (j0 - b * blk);
    const uint so = r * stride;
    float amax = 0.0;
    for (uint j = 0u; j < blk; j++) { const float a = abs(s1_f32(xo + 4u * j)); amax = a > amax ? a : amax; }
    const bool first = j0 == b * blk; /* writes the block's scale */
    if (blk == 32u) { /* q8_0 (ggml's reference quantizer) */
        const float d = div_rn(amax, 127.0);
        const float id = d != 0.0 ? div_rn(1.0, d) : 0.0;
        uint wq = 0u;
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            float v = round_away(s1_f32(xj + 4u * k) * id);
            v = v > 127.0 ? 127.0 : v < -127.0 ? -127.0 : isnan(v) ? 0.0 : v;
            wq |= (uint(int(v)) & 0xffu) << (8u * k);
        }
        scr_u.d[so + j0 / 4u] = wq;
        if (first) scr_f.d[so + K + b] = fp16_to_f32(f32_to_fp16(d));
    } else { /* act_quant, 128 */
        const float s = uintBitsToFloat(act_quant_e8(amax) << 23);
        const bool pack = P.t[1].type == T_MXFP4;
        uint wq = 0u;
        [[unroll]] for (uint k = 0u; k < 4u; k++) {
            const uint code = act_quant_code(s1_f32(xj + 4u * k), s);
            if (P.u[3] != 0u) scr_u.d[so + j0 + k] = uint(e4m3_x9(code));
            else if (pack) wq |= code << (8u * k);
            else scr_f.d[so + j0 + k] = e4m3_to_f32(code);
        }
        if (pack && P.u[3] == 0u) scr_u.d[so + j0 / 4u] = wq;
        if (first) scr_f.d[so + K + b] = s;
    }
}

/* ---- weight and activation decoding ---------------------------------------- */

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

/* ---- VARIANTS 3 (MUL_MAT) and 4 (MUL_MAT_ID): a workgroup per 16 weight rows and
 * one column set (MUL_MAT: up to 4 activation columns of one (i2, i3);
 * MUL_MAT_ID: one (slot, token)); local id y = the row, x = the lane. Every
 * output keeps the canonical order:
 *   float family: thread (x, y) is lane x of row y (k = x, x+16, ... in order,
 *     consecutive lanes on consecutive elements: coalesced), the 16 lane sums
 *     go to shared memory and one thread per output runs the tree and the tail;
 *   Q8_0, MXFP4: thread (x, y) computes the block terms t (exact integer
 *     sums, then the one rounded product) of blocks x, x+16, ... of row y
 *     (consecutive lanes on consecutive blocks: coalesced), MV_CH blocks at
 *     a time into shared memory, and one thread per output adds them in
 *     block order (acc = acc + t);
 *   F8_E4M3_B128: thread (x, y) is lane x of each 128-block of row y (k = x,
 *     x+16, ..., x+112: coalesced bytes and activations), MV_CH/16 blocks at
 *     a time into shared memory; one thread per output runs each block's
 *     tree, p * sc and acc = acc + t in block order. */
#define MV_CH 48u  /* blocks per chunk (a multiple of 16) */
#define MV_LD 65u  /* shared row pitch: 64 outputs (16 rows x 4 columns) + 1 */
shared float mv_sh[MV_CH * MV_LD];

uint mv_nc;                 /* columns of the set (1..4) */
uint mv_xo[4], mv_so[4];    /* per column: x row byte offset, scratch float offset */
uint mv_yo[4];              /* per column: dst byte offset of row 0 */
uint mv_wb;                 /* weight byte offset of row 0 (+ n * nb1) */

/* the 9 words holding a Q8_0 block at byte bo (bo even) */
void q8_words(uint bo, out uint wd[9]) {
    const uint i = bo >> 2;
    [[unroll]] for (uint j = 0u; j < 9u; j++) wd[j] = s0_u.d[i + j];
}

void mv_q8_0(uint wo, uint b, uint K, out float t[4]) {
    const uint bo = wo + b * 34u;
    uint wd[9];
    q8_words(bo, wd);
    const bool odd = (bo & 2u) != 0u; /* block starts at the high half of wd[0] */
    const float dw = fp16_to_f32(odd ? wd[0] >> 16 : wd[0] & 0xffffu);
    int isum[4];
    [[unroll]] for (uint c = 0u; c < 4u; c++) isum[c] = 0;
    [[unroll]] for (uint i = 0u; i < 8u; i++) {
        const uint q = odd ? wd[i + 1u] : (wd[i] >> 16) | (wd[i + 1u] << 16);
        [[unroll]] for (uint c = 0u; c < 4u; c++)
            if (c < mv_nc) {
                const uint a = scr_u.d[mv_so[c] + b * 8u + i]; /* 4 int8 activations */
                [[unroll]] for (uint j = 0u; j < 4u; j++)
                    isum[c] += (int(q << (24u - 8u * j)) >> 24) * (int(a << (24u - 8u * j)) >> 24);
            }
    }
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        precise float d = dw * scr_f.d[mv_so[c] + K + b];
        precise float tt = float(isum[c]) * d;
        t[c] = tt;
    }
}


void mv_mxfp4(uint wo, uint b, uint K, out float t[4]) {
    const uint bo = wo + b * 17u, i0 = bo >> 2, sh = (bo & 3u) * 8u;
    uint wd[5];
    [[unroll]] for (uint j = 0u; j < 5u; j++) wd[j] = s0_u.d[i0 + j];
    const uint e = (wd[0] >> sh) & 0xffu;
    const uint s1 = sh + 8u; /* quant bytes start at bo + 1: 8..32 bits into wd[0] */
    int p[4];
    uint alo[4][4], ahi[4][4]; /* e4m3 activation codes of k = 0..15 and 16..31, 4 a word */
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        p[c] = 0;
        [[unroll]] for (uint i = 0u; i < 4u; i++) {
            alo[c][i] = c < mv_nc ? scr_u.d[mv_so[c] + b * 8u + i] : 0u;
            ahi[c][i] = c < mv_nc ? scr_u.d[mv_so[c] + b * 8u + 4u + i] : 0u;
        }
    }
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        const uint q = s1 == 32u ? wd[i + 1u] : (wd[i] >> s1) | (wd[i + 1u] << (32u - s1));
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            const uint cq = (q >> (8u * j)) & 0xffu;
            const int klo = kvalue_mxfp4(cq & 15u), khi = kvalue_mxfp4(cq >> 4);
            [[unroll]] for (uint c = 0u; c < 4u; c++)
                if (c < mv_nc) {
                    p[c] += klo * e4m3_x9(alo[c][i] >> (8u * j));
                    p[c] += khi * e4m3_x9(ahi[c][i] >> (8u * j));
                }
        }
    }
    const float sw = e8m0_half_to_f32(e);
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        precise float sa9 = scr_f.d[mv_so[c] + K + b / 4u] * uintBitsToFloat(0x3b000000u); /* 2^-9 */
        precise float sc = sa9 * sw;
        precise float tt = float(p[c]) * sc;
        t[c] = tt;
    }
}

/* MXFP4 kv = 2 e2m1 (kvalue_mxfp4) by a table in a word: magnitudes 0 1 2 3 4 6 8 12 as nibbles */
int kv4(uint c) {
    const int m = int((0xc8643210u >> ((c & 7u) << 2)) & 15u);
    return (c & 8u) != 0u ? -m : m;
}

layout(std430, binding = 7) readonly buffer ScrV { ivec4 d[]; } scr_v;

/* mv_mxfp4 on activations stored as e4m3_x9 integers (u[3] = 1): the
 * block's 32 kv decoded once, then per column the exact int32 sum (any
 * order: the same integer) and the same scale steps */
void mv_mxfp4_x9(uint wo, uint b, uint K, out float t[4]) {
    const uint bo = wo + b * 17u, i0 = bo >> 2, sh = (bo & 3u) * 8u;
    uint wd[5];
    [[unroll]] for (uint j = 0u; j < 5u; j++) wd[j] = s0_u.d[i0 + j];
    const uint e = (wd[0] >> sh) & 0xffu;
    const uint s1 = sh + 8u;
    int kv[32];
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        const uint q = s1 == 32u ? wd[i + 1u] : (wd[i] >> s1) | (wd[i + 1u] << (32u - s1));
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            kv[4u * i + j] = kv4(q >> (8u * j));
            kv[16u + 4u * i + j] = kv4(q >> (8u * j + 4u));
        }
    }
    const float sw = e8m0_half_to_f32(e);
    [[unroll]] for (uint c = 0u; c < 4u; c++) {
        t[c] = 0.0;
        if (c < mv_nc) {
            const uint ab = (mv_so[c] + b * 32u) >> 2;
            int p = 0;
            [[unroll]] for (uint i = 0u; i < 8u; i++) {
                const ivec4 a = scr_v.d[ab + i];
                p += kv[4u * i] * a.x + kv[4u * i + 1u] * a.y + kv[4u * i + 2u] * a.z + kv[4u * i + 3u] * a.w;
            }
            precise float sa9 = scr_f.d[mv_so[c] + K + b / 4u] * uintBitsToFloat(0x3b000000u); /* 2^-9 */
            precise float sc = sa9 * sw;
            precise float tt = float(p) * sc;
            t[c] = tt;
        }
    }
}

uint mv_col_xo(uint c) { return c == 0u ? mv_xo[0] : c == 1u ? mv_xo[1] : c == 2u ? mv_xo[2] : mv_xo[3]; }
uint mv_col_so(uint c) { return c == 0u ? mv_so[0] : c == 1u ? mv_so[1] : c == 2u ? mv_so[2] : mv_so[3]; }
uint mv_col_yo(uint c) { return c == 0u ? mv_yo[0] : c == 1u ? mv_yo[1] : c == 2u ? mv_yo[2] : mv_yo[3]; }

void mat_vec() {
    const bool bf16_act = (P.op[0] & 1) != 0 && g_w == T_F8;
    const uint N = P.t[0].ne[0], K = P.t[1].ne[0];
    const uint lane = gl_LocalInvocationID.x, ry = gl_LocalInvocationID.y, tid = ry * 16u + lane;
    const uint gid = group_id();
    if (gid >= P.u[2]) return;
    const uint ngr = (N + 15u) / 16u, rg = gid % ngr, cs = gid / ngr;
    const uint n0 = rg * 16u;
    if (VARIANT == 3) { /* MUL_MAT: cs = (column group g, batch bb) */
        const uint M = P.t[0].ne[1], mg = (M + 3u) / 4u;
        const uint g = cs % mg, bb = cs / mg;
        const uint i2 = bb % P.t[0].ne[2], i3 = bb / P.t[0].ne[2];
        const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
        mv_wb = t_off(1, 0u, 0u, i2 / r2, i3 / r3);
        mv_nc = min(4u, M - 4u * g);
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            const uint m = 4u * g + min(c, mv_nc - 1u);
            mv_xo[c] = t_off(2, 0u, m, i2, i3);
            mv_so[c] = (m + P.t[2].ne[1] * (i2 + P.t[2].ne[2] * i3)) * P.u[1];
            mv_yo[c] = t_off(0, 0u, m, i2, i3);
        }
    } else { /* MUL_MAT_ID: cs = (slot y, token z, w) */
        const uint y = cs % P.t[0].ne[1], z = (cs / P.t[0].ne[1]) % P.t[0].ne[2], w = cs / (P.t[0].ne[1] * P.t[0].ne[2]);
        mv_nc = 1u;
        mv_yo[0] = t_off(0, 0u, y, z, w);
        const int e = int(s2_u.d[t_off(3, y * P.t[3].nb[0], z, 0u, 0u) >> 2]);
        if (e < 0 || uint(e) >= P.t[1].ne[2]) { /* uniform in the workgroup */
            if (lane == 0u && n0 + ry < N) dst_store((mv_yo[0] >> 2) + n0 + ry, 0.0);
            return;
        }
        mv_wb = t_off(1, 0u, 0u, uint(e), 0u);
        const uint xr = y % P.t[2].ne[1];
        mv_xo[0] = t_off(2, 0u, xr, z, 0u);
        mv_so[0] = (xr + P.t[2].ne[1] * z) * P.u[1];
        [[unroll]] for (uint c = 1u; c < 4u; c++) { mv_xo[c] = mv_xo[0]; mv_so[c] = mv_so[0]; mv_yo[c] = mv_yo[0]; }
    }
    const uint nb1 = P.t[1].nb[1];
    const uint wo = mv_wb + min(n0 + ry, N - 1u) * nb1; /* rows past N: computed on row N-1, not written */
    /* the output this thread finishes (tid < 16 * nc): row n0 + orow, column oc */
    const uint orow = tid & 15u, oc = tid >> 4;
    const bool fin = tid < 16u * mv_nc, fin_w = fin && n0 + orow < N;
    if (bf16_act || g_w == T_F32 || g_w == T_F16 || g_w == T_BF16) {
        const uint K16 = K - K % 16u;
        precise float l[4];
        [[unroll]] for (uint c = 0u; c < 4u; c++) l[c] = 0.0;
        uint k = lane;
        for (; k + 112u < K16; k += 128u) { /* 8 weight loads in flight, then the adds in k order */
            float w[8];
            [[unroll]] for (uint u = 0u; u < 8u; u++) w[u] = w_float(wo, k + 16u * u);
            [[unroll]] for (uint u = 0u; u < 8u; u++)
                [[unroll]] for (uint c = 0u; c < 4u; c++)
                    if (c < mv_nc) {
                        precise float p = w[u] * act_float(mv_xo[c], k + 16u * u, bf16_act);
                        l[c] = l[c] + p;
                    }
        }
        for (; k < K16; k += 16u) {
            const float w = w_float(wo, k);
            [[unroll]] for (uint c = 0u; c < 4u; c++)
                if (c < mv_nc) {
                    precise float p = w * act_float(mv_xo[c], k, bf16_act);
                    l[c] = l[c] + p;
                }
        }
        [[unroll]] for (uint c = 0u; c < 4u; c++) mv_sh[lane * MV_LD + c * 16u + ry] = l[c];
        barrier();
        if (fin_w) {
            precise float s[16];
            [[unroll]] for (uint j = 0u; j < 16u; j++) s[j] = mv_sh[j * MV_LD + tid];
            [[unroll]] for (uint j = 0u; j < 8u; j++) s[j] = s[j] + s[j + 8u];
            [[unroll]] for (uint j = 0u; j < 4u; j++) s[j] = s[j] + s[j + 4u];
            [[unroll]] for (uint j = 0u; j < 2u; j++) s[j] = s[j] + s[j + 2u];
            precise float sum = s[0] + s[1];
            const uint fwo = mv_wb + (n0 + orow) * nb1, fxo = mv_col_xo(oc);
            for (uint k = K16; k < K; k++) {
                precise float p = w_float(fwo, k) * act_float(fxo, k, bf16_act);
                sum = sum + p;
            }
            dst_store((mv_col_yo(oc) >> 2) + n0 + orow, sum);
        }
        return;
    }
    if (g_w == T_F8) { /* 128-blocks: lane x sums k = x, x+16, ..., x+112 of each block */
        const uint nb = K / 128u;
        precise float acc = 0.0;
        for (uint b0 = 0u; b0 < nb; b0 += MV_CH / 16u) {
            [[unroll]] for (uint jb = 0u; jb < MV_CH / 16u; jb++) {
                const uint b = b0 + jb;
                if (b < nb) {
                    const uint bo = wo + b * 129u;
                    precise float l[4];
                    [[unroll]] for (uint c = 0u; c < 4u; c++) l[c] = 0.0;
                    float w[8];
                    [[unroll]] for (uint i = 0u; i < 8u; i++) w[i] = e4m3f(s0_u8(bo + 1u + 16u * i + lane));
                    [[unroll]] for (uint i = 0u; i < 8u; i++)
                        [[unroll]] for (uint c = 0u; c < 4u; c++)
                            if (c < mv_nc) {
                                precise float p = w[i] * scr_f.d[mv_so[c] + b * 128u + 16u * i + lane];
                                l[c] = l[c] + p;
                            }
                    [[unroll]] for (uint c = 0u; c < 4u; c++) mv_sh[(jb * 16u + lane) * MV_LD + c * 16u + ry] = l[c];
                }
            }
            barrier();
            if (fin) {
                const uint fwo = mv_wb + min(n0 + orow, N - 1u) * nb1, fso = mv_col_so(oc);
                const uint cnt = min(MV_CH / 16u, nb - b0);
                for (uint jb = 0u; jb < cnt; jb++) {
                    const uint b = b0 + jb;
                    precise float s[16];
                    [[unroll]] for (uint j = 0u; j < 16u; j++) s[j] = mv_sh[(jb * 16u + j) * MV_LD + tid];
                    [[unroll]] for (uint j = 0u; j < 8u; j++) s[j] = s[j] + s[j + 8u];
                    [[unroll]] for (uint j = 0u; j < 4u; j++) s[j] = s[j] + s[j + 4u];
                    [[unroll]] for (uint j = 0u; j < 2u; j++) s[j] = s[j] + s[j + 2u];
                    precise float p = s[0] + s[1];
                    precise float sc = e8m0_to_f32(s0_u8(fwo + b * 129u)) * scr_f.d[fso + K + b];
                    precise float t = p * sc;
                    acc = acc + t;
                }
            }
            barrier();
        }
        if (fin_w) dst_store((mv_col_yo(oc) >> 2) + n0 + orow, acc);
        return;
    }
    const uint nb = K / 32u;
    precise float acc = 0.0;
    for (uint b0 = 0u; b0 < nb; b0 += MV_CH) {
        [[unroll]] for (uint j = 0u; j < MV_CH; j += 16u) {
            const uint b = b0 + j + lane;
            if (b < nb) {
                float t[4];
                if (g_w == T_Q8_0) mv_q8_0(wo, b, K, t);
                else if (P.u[3] != 0u) mv_mxfp4_x9(wo, b, K, t);
                else mv_mxfp4(wo, b, K, t);
                [[unroll]] for (uint c = 0u; c < 4u; c++) mv_sh[(j + lane) * MV_LD + c * 16u + ry] = t[c];
            }
        }
        barrier();
        if (fin) {
            const uint cnt = min(MV_CH, nb - b0);
            for (uint i = 0u; i < cnt; i++) acc = acc + mv_sh[i * MV_LD + tid];
        }
        barrier();
    }
    if (fin_w) dst_store((mv_col_yo(oc) >> 2) + n0 + orow, acc);
}

void main() {
    if (VARIANT == 0) { quantize_act(); return; }
    g_w = P.t[1].type;
    mat_vec();
}
