#version 450
/*
 * topk.comp - TOP_K by rank: every valid element (v > -inf, not NaN) gets
 * the key (value order, then lower index), and its rank is the number of
 * valid keys of the row that beat it; rank < k writes the index to slot rank.
 * Keys are unique, so the result is the CPU's (ops-topk.c) exactly and does
 * not depend on scheduling. Pass u[0] = 0 fills every slot with -1 (slots
 * beyond the row's valid count keep it); pass 1 ranks: a workgroup of 256
 * elements of one row compares them with tiles of 1024 keys in shared memory.
 * O(n^2) per row: fine for the router (n = experts) and moderate rows; a
 * selection for very long rows is future work.
 */
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;

shared uint tile[1024];

/* order-preserving bits (-0 as +0); 0 marks an invalid value */
uint ord_key(float v) {
    if (!(v > uintBitsToFloat(0xff800000u))) return 0u;
    const uint u = floatBitsToUint(v == 0.0 ? 0.0 : v);
    return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

void main() {
    const uint n = P.t[1].ne[0], k = P.t[0].ne[0], lx = gl_LocalInvocationID.x;
    if (P.u[0] == 0u) {
        const uint i = group_id() * 256u + lx;
        if (i >= nel(0)) return;
        const uvec4 d = unravel(0, i);
        dst_u.d[t_off(0, 4u * d.x, d.y, d.z, d.w) >> 2] = 0xffffffffu;
        return;
    }
    const uint nch = (n + 255u) / 256u, g = group_id();
    if (g >= nch * nrows(1)) return; /* uniform per workgroup */
    const uint r = g / nch, i = (g % nch) * 256u + lx;
    const uvec4 c = unravel(1, r * n);
    const uint xo = t_off(1, 0u, c.y, c.z, c.w);
    const uint key = i < n ? ord_key(s0_f32(xo + 4u * i)) : 0u;
    uint rank = 0u;
    for (uint t0 = 0u; t0 < n; t0 += 1024u) {
        for (uint j = lx; j < 1024u; j += 256u) tile[j] = t0 + j < n ? ord_key(s0_f32(xo + 4u * (t0 + j))) : 0u;
        barrier();
        const uint m = min(1024u, n - t0);
        if (key != 0u)
            for (uint j = 0u; j < m; j++) {
                const uint kj = tile[j];
                rank += (kj > key || (kj == key && t0 + j < i)) ? 1u : 0u;
            }
        barrier();
    }
    if (key != 0u && rank < k) dst_u.d[t_off(0, 4u * rank, c.y, c.z, c.w) >> 2] = i;
}
