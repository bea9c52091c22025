/*
 * mvf.glsl - what matvec.comp and mvs.comp (the BF16 / F16 mat-vecs in
 * matmul.comp's canonical order) share: the weight decode and activation
 * rounding, a workgroup's column set, and an output's lane tree, tail and
 * store.
 */
bool g_bf16; /* BF16 weights (else F16): set by main */

float wdec(uint h) { return g_bf16 ? uintBitsToFloat(h << 16) : fp16_to_f32(h); }
float around(float x) { return g_bf16 ? round_bf16(x) : fp16_to_f32(f32_to_fp16(x)); }

/* column set cs = (column group g: columns 4 g .. 4 g + nc, batch (i2, i3)),
 * as matmul.comp VARIANT 3; wb: byte offset of the weight matrix of the batch;
 * one: a single column (M = 1) */
void mv_colset(uint cs, bool one, out uint g, out uint nc, out uint i2, out uint i3, out uint wb) {
    const uint M = P.t[0].ne[1], mg = (M + 3u) / 4u;
    g = cs % mg;
    const uint bb = cs / mg;
    i2 = bb % P.t[0].ne[2];
    i3 = bb / P.t[0].ne[2];
    const uint r2 = P.t[2].ne[2] / P.t[1].ne[2], r3 = P.t[2].ne[3] / P.t[1].ne[3];
    wb = t_off(1, 0u, 0u, i2 / r2, i3 / r3);
    nc = one ? 1u : min(4u, M - 4u * g);
}

/* output (row n, column m): the 16 lane sums l[] by the tree 8, 4, 2, 1, then
 * the tail k >= K16 in order, stored (with a fused QUANT_SIM: dst_store) */
void mv_out(float l[16], uint n, uint m, uint i2, uint i3, uint wb) {
    const uint K = P.t[1].ne[0], K16 = K - K % 16u;
    precise float s[16];
    [[unroll]] for (uint i = 0u; i < 16u; i++) s[i] = l[i];
    [[unroll]] for (uint i = 0u; i < 8u; i++) s[i] = s[i] + s[i + 8u];
    [[unroll]] for (uint i = 0u; i < 4u; i++) s[i] = s[i] + s[i + 4u];
    [[unroll]] for (uint i = 0u; i < 2u; i++) s[i] = s[i] + s[i + 2u];
    precise float sum = s[0] + s[1];
    const uint fwo = wb + n * P.t[1].nb[1], fxo = t_off(2, 0u, m, i2, i3);
    for (uint k = K16; k < K; k++) {
        precise float p = wdec(s0_u16(fwo + 2u * k)) * around(s1_f32(fxo + 4u * k));
        sum = sum + p;
    }
    dst_store((t_off(0, 0u, m, i2, i3) >> 2) + n, sum);
}
