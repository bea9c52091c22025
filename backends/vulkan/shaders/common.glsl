/*
 * common.glsl - what every shader of the Vulkan backend includes: the
 * descriptor layout (vulkan-impl.h), the parameter block, byte-addressed
 * loads and stores on 32-bit words, and element decoders for every type.
 *
 * Bindings: 0 dst, 1..6 src0..src5, 7 scratch, 8 params (struct Params).
 * Each buffer binding is declared twice, as float[] and uint[] (aliases of the
 * same memory), so shaders need neither 8- nor 16-bit storage: narrower
 * values are extracted from words. Addresses are byte offsets inside the
 * binding (Tensor.offs already added by the helpers below), 32-bit.
 *
 * Stores narrower than a word go through the streaming byte writer (wr_*):
 * bytes accumulate per word; a word the invocation wrote completely is
 * stored plainly, an edge word shared with another invocation's bytes with
 * atomicAnd + atomicOr on disjoint bits (order-independent: same bits).
 */
#extension GL_EXT_control_flow_attributes : enable

/* The "-fc" builds (GDS_FLOAT_CONTROLS, for devices that support both):
 * fp32 denormals preserved and signed zero / Inf / NaN preserved, as on the
 * CPU (without them a device may flush denormal products and scale factors
 * such as e8m0 byte 0 = 2^-127 to zero). */
#ifdef GDS_FLOAT_CONTROLS
#extension GL_EXT_spirv_intrinsics : require
spirv_execution_mode(capabilities = [4464], 4459, 32); /* DenormPreserve, fp32 */
spirv_execution_mode(capabilities = [4466], 4461, 32); /* SignedZeroInfNanPreserve, fp32 */
#endif

layout(constant_id = 0) const int VARIANT = 0;

#define T_F32   0u
#define T_F16   1u
#define T_Q8_0  8u
#define T_I32   26u
#define T_BF16  30u
#define T_MXFP4 39u
#define T_F8    128u
#define T_KV    129u

struct Tensor {
    uint ne[4];
    uint nb[4];
    uint offs;
    uint type;
    uint pad0, pad1;
};

layout(std430, binding = 8) readonly buffer Params {
    Tensor t[8];  /* 0 dst, 1..6 src0..src5 */
    int op[16];   /* op_params */
    uint u[16];   /* per-dispatch host values */
    float aux[];  /* per-dispatch host table (vk_dispatch_aux) */
} P;

layout(std430, binding = 0) buffer DstF { float d[]; } dst_f;
layout(std430, binding = 0) buffer DstU { uint d[]; } dst_u;
layout(std430, binding = 1) readonly buffer S0F { float d[]; } s0_f;
layout(std430, binding = 1) readonly buffer S0U { uint d[]; } s0_u;
layout(std430, binding = 2) readonly buffer S1F { float d[]; } s1_f;
layout(std430, binding = 2) readonly buffer S1U { uint d[]; } s1_u;
layout(std430, binding = 3) readonly buffer S2F { float d[]; } s2_f;
layout(std430, binding = 3) readonly buffer S2U { uint d[]; } s2_u;
layout(std430, binding = 4) readonly buffer S3F { float d[]; } s3_f;
layout(std430, binding = 4) readonly buffer S3U { uint d[]; } s3_u;
layout(std430, binding = 5) readonly buffer S4F { float d[]; } s4_f;
layout(std430, binding = 5) readonly buffer S4U { uint d[]; } s4_u;
layout(std430, binding = 6) readonly buffer S5F { float d[]; } s5_f;
layout(std430, binding = 6) readonly buffer S5U { uint d[]; } s5_u;
/* binding 6 written: the output of a QUANT_SIM BF16 fused into its producer (dst_store) */
layout(std430, binding = 6) buffer BfOut { float d[]; } bf_out;
layout(std430, binding = 7) buffer ScrF { float d[]; } scr_f;
layout(std430, binding = 7) buffer ScrU { uint d[]; } scr_u;

#include "quants.glsl"

float p_f32(int i) { return intBitsToFloat(P.op[i]); }

/* stores output word w of dst (F32); with a fused QUANT_SIM BF16 (the host binds
 * its output as binding 6 and describes it in P.t[6]: same shape, contiguous,
 * like dst) also bf16(v) at the same element there: the QUANT_SIM's value */
void dst_store(uint w, float v) {
    dst_f.d[w] = v;
    if (P.t[6].ne[0] != 0u) bf_out.d[(P.t[6].offs >> 2) + w - (P.t[0].offs >> 2)] = round_bf16(v);
}

/* linear workgroup id of a (x, y) grid (vk_groups_1d) */
uint group_id() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

/* byte offset of element (i0 given as a byte offset b0, i1, i2, i3) of tensor k */
uint t_off(uint k, uint b0, uint i1, uint i2, uint i3) {
    return P.t[k].offs + b0 + i1 * P.t[k].nb[1] + i2 * P.t[k].nb[2] + i3 * P.t[k].nb[3];
}

/* flat index -> (i0, i1, i2, i3) over ne of tensor k */
uvec4 unravel(uint k, uint i) {
    uvec4 r;
    r.x = i % P.t[k].ne[0]; i /= P.t[k].ne[0];
    r.y = i % P.t[k].ne[1]; i /= P.t[k].ne[1];
    r.z = i % P.t[k].ne[2];
    r.w = i / P.t[k].ne[2];
    return r;
}
uint nel(uint k) { return P.t[k].ne[0] * P.t[k].ne[1] * P.t[k].ne[2] * P.t[k].ne[3]; }
uint nrows(uint k) { return P.t[k].ne[1] * P.t[k].ne[2] * P.t[k].ne[3]; }

/* element decoder for a binding B (src0..src5): element j of the row that starts
 * at byte o, of type ty (F32/F16/BF16/I32: nb0 is the element stride in bytes) */
#define DEF_LOADS(B)                                                                        \
uint B##_u8(uint o) { return (B##_u.d[o >> 2] >> ((o & 3u) * 8u)) & 0xffu; }                 \
uint B##_u16(uint o) { return (B##_u.d[o >> 2] >> ((o & 2u) * 8u)) & 0xffffu; }             \
float B##_f32(uint o) { return uintBitsToFloat(B##_u.d[o >> 2]); }                          \
float B##_elem(uint ty, uint o, uint nb0, uint j) {                                          \
    switch (ty) {                                                                           \
    case T_F32: return B##_f32(o + j * nb0);                                                 \
    case T_F16: return fp16_to_f32(B##_u16(o + j * nb0));                                   \
    case T_BF16: return uintBitsToFloat(B##_u16(o + j * nb0) << 16);                        \
    case T_I32: return float(int(B##_u.d[(o + j * nb0) >> 2]));                             \
    case T_Q8_0: {                                                                          \
        uint b = o + (j >> 5) * 34u;                                                        \
        int q = int(B##_u8(b + 2u + (j & 31u)) << 24) >> 24;                                 \
        return fp16_to_f32(B##_u16(b)) * float(q);                                          \
    }                                                                                       \
    case T_MXFP4: {                                                                         \
        uint b = o + (j >> 5) * 17u, k = j & 31u;                                           \
        uint c = B##_u8(b + 1u + (k & 15u));                                                \
        c = k < 16u ? c & 15u : c >> 4;                                                     \
        return float(kvalue_mxfp4(c)) * e8m0_half_to_f32(B##_u8(b));                        \
    }                                                                                       \
    case T_F8: {                                                                            \
        uint b = o + (j >> 7) * 129u;                                                       \
        return e4m3_to_f32(B##_u8(b + 1u + (j & 127u))) * e8m0_to_f32(B##_u8(b));           \
    }                                                                                       \
    case T_KV: {                                                                            \
        uint b = o + (j >> 9) * 584u, k = j & 511u;                                         \
        if (k < 448u) return e4m3_to_f32(B##_u8(b + 8u + k)) * e8m0_to_f32(B##_u8(b + (k >> 6))); \
        return uintBitsToFloat(B##_u16(b + 456u + 2u * (k - 448u)) << 16);                  \
    }                                                                                       \
    }                                                                                       \
    return 0.0;                                                                             \
}

DEF_LOADS(s0)
DEF_LOADS(s1)
DEF_LOADS(s2)
DEF_LOADS(s3)
DEF_LOADS(s4)
DEF_LOADS(s5)
DEF_LOADS(dst)

/* ---- streaming byte writer on dst ------------------------------------------ */
uint wr_word = 0xffffffffu, wr_bits = 0u, wr_mask = 0u;

void wr_flush() {
    if (wr_word != 0xffffffffu) {
        if (wr_mask == 0xffffffffu) {
            dst_u.d[wr_word] = wr_bits;
        } else {
            atomicAnd(dst_u.d[wr_word], ~wr_mask);
            atomicOr(dst_u.d[wr_word], wr_bits);
        }
    }
    wr_word = 0xffffffffu;
    wr_bits = 0u;
    wr_mask = 0u;
}
void wr_u8(uint o, uint v) {
    uint w = o >> 2, sh = (o & 3u) * 8u;
    if (w != wr_word) { wr_flush(); wr_word = w; }
    wr_bits |= (v & 0xffu) << sh;
    wr_mask |= 0xffu << sh;
}
void wr_u16(uint o, uint v) { wr_u8(o, v); wr_u8(o + 1u, v >> 8); }
void wr_u32(uint o, uint v) { wr_u8(o, v); wr_u8(o + 1u, v >> 8); wr_u8(o + 2u, v >> 16); wr_u8(o + 3u, v >> 24); }

/* one element of a plain type (F32/F16/BF16/I32 by value) at byte o of dst */
void wr_elem(uint ty, uint o, float v) {
    switch (ty) {
    case T_F32: wr_u32(o, floatBitsToUint(v)); break;
    case T_F16: wr_u16(o, f32_to_fp16(v)); break;
    case T_BF16: wr_u16(o, f32_to_bf16(v)); break;
    case T_I32: wr_u32(o, uint(int(v))); break;
    }
}
