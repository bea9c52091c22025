/*
 * ops-rows.cu - CPY, GET_ROWS, SET_ROWS, CONCAT on CUDA.
 *
 * Conversions follow backends/cpu/ops-elementwise.c exactly: float types
 * through gds-quants.h (RNE), quantized sources read value by value
 * (cu_row_value: the CPU's to_float), quantized destinations written block by
 * block by the reference quantizers of gds-quants.h that types.c uses too
 * (Q8_0, MXFP4, F8_E4M3_B128, KV_E4M3_B64): the same bytes as the CPU.
 *
 * Geometry: one thread per output element (plain types) or per output block
 * (Q8_0, MXFP4: 32 values read serially), one warp per output block for
 * F8_E4M3_B128 and KV_E4M3_B64 (a lane per value of each 64- or 128-group:
 * the decode KV row of 512 values was ~30 us as one thread's serial walk;
 * GDS_CUDA_WQ=0 brings that back, for A/B: the same bytes). SET_ROWS
 * with repeated ids: the V4 graph never repeats one; which write wins is then
 * unspecified here (the CPU takes the last).
 */
#include "common.cuh"

/* ---- quantized destinations: the reference quantizers of gds-quants.h ------ */

/* value j of a source row: plain float types (element stride s) */
struct cu_src_row {
    const char *p;
    int64_t s;
    int32_t type;
    __device__ float operator()(int64_t j) const { return cu_load_f(p + j * s, type); }
};

/* block kb of the row: values [kb * blck, (kb + 1) * blck) of x, gathered
 * (the source may be strided or F16/BF16), then the type's block quantizer */
static __device__ void cu_quant_block(int32_t type, const cu_src_row &x, int64_t kb, char *dst_row) {
    float v[GDS_KV_E4M3_B64_NE]; /* the largest block */
    const int n = cu_blck(type);
    for (int j = 0; j < n; j++) v[j] = x(kb * n + j);
    switch (type) {
    case GDS_TYPE_Q8_0: gds_quant_block_q8_0(v, (block_q8_0 *)dst_row + kb); break;
    case GDS_TYPE_MXFP4: gds_quant_block_mxfp4(v, (block_mxfp4 *)dst_row + kb); break;
    case GDS_TYPE_F8_E4M3_B128: {
        block_f8 *b = (block_f8 *)dst_row + kb;
        gds_act_quant_block(v, QK_F8, &b->e, b->qs);
        break;
    }
    case GDS_TYPE_KV_E4M3_B64: gds_quant_block_kv(v, (uint8_t *)dst_row + kb * GDS_KV_E4M3_B64_SIZE); break;
    default: break;
    }
}

static bool is_block(int32_t type) { return cu_blck(type) > 1; }

/* ---- warp quantizers: F8_E4M3_B128 and KV_E4M3_B64 blocks ------------------- */

/* gds_act_quant_block of the group whose value lane + 32 i a lane holds in
 * v[i] (n = 32 * NV values), by the 32 lanes of a warp: amax by a warp max (a
 * max of the non-NaN |x| and +0: the same in any order; NaN is ignored as by
 * the CPU's compare), then the reference's own steps (gds_act_quant_scale,
 * gds_act_quant_code) for each value by its lane: the same bytes. scale
 * written by lane 0. */
template <int NV>
static __device__ void cu_act_quant_warp(const float (&v)[NV], uint8_t *scale, uint8_t *qs, int lane) {
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < NV; i++) if (amax < fabsf(v[i])) amax = fabsf(v[i]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float a = __shfl_xor_sync(0xffffffffu, amax, o);
        if (amax < a) amax = a;
    }
    const uint8_t sb = gds_act_quant_scale(amax);
    const float s = gds_bits_f32((uint32_t)sb << 23);
    if (lane == 0) *scale = sb;
#pragma unroll
    for (int i = 0; i < NV; i++) qs[lane + 32 * i] = gds_act_quant_code(v[i], s);
}

/* block kb of row x into dst_row by a warp (types with cu_warp_quant): the
 * bytes of cu_quant_block (gds_quant_block_kv: scales [0, 7), byte 7 zero,
 * 7 groups of 64 codes, 64 bf16 LE; F8: gds_act_quant_block of 128) */
static __device__ void cu_quant_block_warp(int32_t type, const cu_src_row &x, int64_t kb, char *dst_row, int lane) {
    if (type == GDS_TYPE_F8_E4M3_B128) {
        block_f8 *b = (block_f8 *)dst_row + kb;
        float v[4];
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = x(kb * QK_F8 + lane + 32 * i);
        cu_act_quant_warp<4>(v, &b->e, b->qs, lane);
        return;
    }
    /* KV_E4M3_B64 */
    uint8_t *b = (uint8_t *)dst_row + kb * GDS_KV_E4M3_B64_SIZE;
    const int64_t x0 = kb * GDS_KV_E4M3_B64_NE;
    constexpr int NG = GDS_KV_E4M3_B64_NOPE / GDS_KV_E4M3_B64_GROUP, NR = GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE;
    static_assert(GDS_KV_E4M3_B64_GROUP == 64 && NR == 64 && GDS_KV_E4M3_B64_OFF_QS == NG + 1, "KV block layout");
    float v[NG][2], r[2];
#pragma unroll
    for (int g = 0; g < NG; g++)
#pragma unroll
        for (int i = 0; i < 2; i++) v[g][i] = x(x0 + g * 64 + lane + 32 * i);
#pragma unroll
    for (int i = 0; i < 2; i++) r[i] = x(x0 + GDS_KV_E4M3_B64_NOPE + lane + 32 * i);
    if (lane == 0) b[NG] = 0;
#pragma unroll
    for (int g = 0; g < NG; g++) cu_act_quant_warp<2>(v[g], b + g, b + GDS_KV_E4M3_B64_OFF_QS + g * 64, lane);
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int j = lane + 32 * i;
        const gds_bf16_t h = gds_fp32_to_bf16(r[i]);
        b[GDS_KV_E4M3_B64_OFF_ROPE + 2 * j] = (uint8_t)(h & 0xff);
        b[GDS_KV_E4M3_B64_OFF_ROPE + 2 * j + 1] = (uint8_t)(h >> 8);
    }
}

/* block types quantized by a warp (one thread per block would run 128 or 512
 * values serially: ~30 us for a decode KV row). GDS_CUDA_WQ=0: the thread
 * per block of cu_quant_block (A/B, same bytes) */
static bool cu_warp_quant(int32_t type) {
    static int on = -1;
    return cu_switch("GDS_CUDA_WQ", &on) && (type == GDS_TYPE_F8_E4M3_B128 || type == GDS_TYPE_KV_E4M3_B64);
}

/* ---- CPY ------------------------------------------------------------------- */

/* same shape, plain destination: one thread per element; db (F32
 * destination only, gds_cu_node.dst_bf16): bf16 of the value there too */
static __global__ void k_cpy_elem(gds_cu_t s, gds_cu_t d, int64_t n, char *db) {
    const int64_t ne0 = d.ne[0], ne1 = d.ne[1], ne2 = d.ne[2];
    const bool same_shape = s.ne[0] == d.ne[0] && s.ne[1] == d.ne[1] && s.ne[2] == d.ne[2] && s.ne[3] == d.ne[3];
    CU_GRID_STRIDE(e, n) {
        /* destination coordinates of linear element e */
        int64_t j0 = e % ne0, r = e / ne0, j1 = r % ne1, j2 = (r / ne1) % ne2, j3 = r / (ne1 * ne2);
        int64_t i0 = j0, i1 = j1, i2 = j2, i3 = j3;
        if (!same_shape) { /* logical element order */
            i0 = e % s.ne[0]; r = e / s.ne[0];
            i1 = r % s.ne[1]; i2 = (r / s.ne[1]) % s.ne[2]; i3 = r / (s.ne[1] * s.ne[2]);
        }
        char *dp = cu_at(d, j0, j1, j2, j3);
        if (cu_blck(s.type) > 1) {
            const char *row = s.data + i1 * s.nb[1] + i2 * s.nb[2] + i3 * s.nb[3];
            *(float *)dp = cu_row_value(row, s.type, i0); /* quantized -> F32 only */
            if (db) *(float *)(db + (dp - d.data)) = gds_round_bf16(*(const float *)dp);
            continue;
        }
        const char *sp = cu_at(s, i0, i1, i2, i3);
        if (s.type == d.type) { /* exact copy of the element bytes (I32 too) */
            const int es = cu_type_size(s.type);
            for (int k = 0; k < es; k++) dp[k] = sp[k];
        } else {
            cu_store_f(dp, d.type, cu_load_f(sp, s.type));
        }
        if (db) *(float *)(db + (dp - d.data)) = gds_round_bf16(*(const float *)dp);
    }
}

/* same shape, quantized destination from another type: one warp per
 * destination block (cu_warp_quant types) */
static __global__ void k_cpy_quant_warp(gds_cu_t s, gds_cu_t d, int64_t n_blocks) {
    const int64_t bpr = d.ne[0] / cu_blck(d.type); /* blocks per row */
    const int lane = threadIdx.x & 31;
    const int64_t nw = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t e = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; e < n_blocks; e += nw) {
        const int64_t kb = e % bpr, r = e / bpr;
        const int64_t i1 = r % d.ne[1], i2 = (r / d.ne[1]) % d.ne[2], i3 = r / (d.ne[1] * d.ne[2]);
        const cu_src_row x = { s.data + i1 * s.nb[1] + i2 * s.nb[2] + i3 * s.nb[3], s.nb[0], s.type };
        cu_quant_block_warp(d.type, x, kb, d.data + i1 * d.nb[1] + i2 * d.nb[2] + i3 * d.nb[3], lane);
    }
}

/* same shape, quantized destination: one thread per destination block */
static __global__ void k_cpy_quant(gds_cu_t s, gds_cu_t d, int64_t n_blocks) {
    const int64_t bpr = d.ne[0] / cu_blck(d.type); /* blocks per row */
    CU_GRID_STRIDE(e, n_blocks) {
        const int64_t kb = e % bpr, r = e / bpr;
        const int64_t i1 = r % d.ne[1], i2 = (r / d.ne[1]) % d.ne[2], i3 = r / (d.ne[1] * d.ne[2]);
        if (s.type == d.type) { /* raw block copy */
            const int bs = cu_type_size(d.type);
            const char *sp = s.data + i1 * s.nb[1] + i2 * s.nb[2] + i3 * s.nb[3] + kb * bs;
            char *dp = d.data + i1 * d.nb[1] + i2 * d.nb[2] + i3 * d.nb[3] + kb * bs;
            for (int k = 0; k < bs; k++) dp[k] = sp[k];
            continue;
        }
        const cu_src_row x = { s.data + i1 * s.nb[1] + i2 * s.nb[2] + i3 * s.nb[3], s.nb[0], s.type };
        cu_quant_block(d.type, x, kb, d.data + i1 * d.nb[1] + i2 * d.nb[2] + i3 * d.nb[3]);
    }
}

extern "C" int gds_cu_run_cpy(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &s = n->src[0], &d = n->dst;
    const int64_t ne = d.ne[0] * d.ne[1] * d.ne[2] * d.ne[3];
    if (ne == 0) return 0;
    if (is_block(d.type)) {
        const int64_t nb = ne / cu_blck(d.type);
        if (s.type != d.type && cu_warp_quant(d.type)) k_cpy_quant_warp<<<cu_blocks(nb, 4), 128, 0, cu_stream(x)>>>(s, d, nb);
        else k_cpy_quant<<<cu_blocks(nb, 128), 128, 0, cu_stream(x)>>>(s, d, nb);
    } else {
        k_cpy_elem<<<cu_blocks(ne, 256), 256, 0, cu_stream(x)>>>(s, d, ne, d.type == GDS_TYPE_F32 ? n->dst_bf16 : NULL);
    }
    GDS_CU_RETURN_LAST();
}

/* ---- GET_ROWS: dst [ne0, n, B, B3] F32; row ids[i1, i2, i3] of a (batch i2 % a.ne2, i3 % a.ne3) */

static __global__ void k_get_rows(gds_cu_t a, gds_cu_t ids, gds_cu_t d, int64_t n) {
    const int64_t ne0 = d.ne[0], ne1 = d.ne[1], ne2 = d.ne[2];
    CU_GRID_STRIDE(e, n) {
        const int64_t i0 = e % ne0, r = e / ne0, i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        const int32_t id = *(const int32_t *)(ids.data + i1 * ids.nb[0] + i2 * ids.nb[1] + i3 * ids.nb[2]);
        float v = 0.0f;
        if (id >= 0 && id < a.ne[1]) {
            const char *row = a.data + id * a.nb[1] + (i2 % a.ne[2]) * a.nb[2] + (i3 % a.ne[3]) * a.nb[3];
            v = cu_blck(a.type) > 1 ? cu_row_value(row, a.type, i0) : cu_load_f(row + i0 * a.nb[0], a.type);
        }
        *(float *)cu_at(d, i0, i1, i2, i3) = v;
    }
}

extern "C" int gds_cu_run_get_rows(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &d = n->dst;
    const int64_t ne = d.ne[0] * d.ne[1] * d.ne[2] * d.ne[3];
    if (ne == 0) return 0;
    k_get_rows<<<cu_blocks(ne, 256), 256, 0, cu_stream(x)>>>(n->src[0], n->src[1], d, ne);
    GDS_CU_RETURN_LAST();
}

/* ---- SET_ROWS: dst (aliases src[0]) row ids[i1, i2 % ids.ne1, i3 % ids.ne2] of batch
 * (i2 % dst.ne2, i3 % dst.ne3) <- src[1] row (i1, i2, i3); ids outside [0, rows) skipped */

static __device__ inline char *cu_set_rows_target(const gds_cu_t &d, const gds_cu_t &ids, int64_t i1, int64_t i2, int64_t i3) {
    const int32_t id = *(const int32_t *)(ids.data + i1 * ids.nb[0] + (i2 % ids.ne[1]) * ids.nb[1] + (i3 % ids.ne[2]) * ids.nb[2]);
    if (id < 0 || id >= d.ne[1]) return NULL;
    return d.data + id * d.nb[1] + (i2 % d.ne[2]) * d.nb[2] + (i3 % d.ne[3]) * d.nb[3];
}

/* plain destination: one thread per source element */
static __global__ void k_set_rows_elem(gds_cu_t s, gds_cu_t ids, gds_cu_t d, int64_t n) {
    const int64_t ne0 = s.ne[0], ne1 = s.ne[1], ne2 = s.ne[2];
    CU_GRID_STRIDE(e, n) {
        const int64_t i0 = e % ne0, r = e / ne0, i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        char *row = cu_set_rows_target(d, ids, i1, i2, i3);
        if (!row) continue;
        cu_store_f(row + i0 * d.nb[0], d.type, cu_load_f(cu_at(s, i0, i1, i2, i3), s.type));
    }
}

/* quantized destination: one thread per destination block */
static __global__ void k_set_rows_quant(gds_cu_t s, gds_cu_t ids, gds_cu_t d, int64_t n) {
    const int64_t bpr = d.ne[0] / cu_blck(d.type), ne1 = s.ne[1], ne2 = s.ne[2];
    CU_GRID_STRIDE(e, n) {
        const int64_t kb = e % bpr, r = e / bpr, i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        char *row = cu_set_rows_target(d, ids, i1, i2, i3);
        if (!row) continue;
        const cu_src_row xr = { s.data + i1 * s.nb[1] + i2 * s.nb[2] + i3 * s.nb[3], s.nb[0], s.type };
        cu_quant_block(d.type, xr, kb, row);
    }
}

/* quantized destination, cu_warp_quant types: one warp per destination block */
static __global__ void k_set_rows_quant_warp(gds_cu_t s, gds_cu_t ids, gds_cu_t d, int64_t n) {
    const int64_t bpr = d.ne[0] / cu_blck(d.type), ne1 = s.ne[1], ne2 = s.ne[2];
    const int lane = threadIdx.x & 31;
    const int64_t nw = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t e = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; e < n; e += nw) {
        const int64_t kb = e % bpr, r = e / bpr, i1 = r % ne1, i2 = (r / ne1) % ne2, i3 = r / (ne1 * ne2);
        char *row = cu_set_rows_target(d, ids, i1, i2, i3);
        if (!row) continue; /* the same for the whole warp */
        const cu_src_row xr = { s.data + i1 * s.nb[1] + i2 * s.nb[2] + i3 * s.nb[3], s.nb[0], s.type };
        cu_quant_block_warp(d.type, xr, kb, row, lane);
    }
}

extern "C" int gds_cu_run_set_rows(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &d = n->dst, &s = n->src[1], &ids = n->src[2];
    const int64_t nrows = s.ne[1] * s.ne[2] * s.ne[3];
    if (nrows == 0 || s.ne[0] == 0) return 0;
    if (is_block(d.type)) {
        const int64_t nb = nrows * (d.ne[0] / cu_blck(d.type));
        if (cu_warp_quant(d.type)) k_set_rows_quant_warp<<<cu_blocks(nb, 4), 128, 0, cu_stream(x)>>>(s, ids, d, nb);
        else k_set_rows_quant<<<cu_blocks(nb, 64), 64, 0, cu_stream(x)>>>(s, ids, d, nb);
    } else {
        const int64_t ne = nrows * s.ne[0];
        k_set_rows_elem<<<cu_blocks(ne, 256), 256, 0, cu_stream(x)>>>(s, ids, d, ne);
    }
    GDS_CU_RETURN_LAST();
}

/* ---- CONCAT (F32 output; sources float types) -------------------------------- */

static __global__ void k_concat(gds_cu_t a, gds_cu_t b, gds_cu_t d, int dim, int64_t n) {
    const int64_t ne0 = d.ne[0], ne1 = d.ne[1], ne2 = d.ne[2];
    CU_GRID_STRIDE(e, n) {
        int64_t i[4];
        i[0] = e % ne0;
        const int64_t r = e / ne0;
        i[1] = r % ne1; i[2] = (r / ne1) % ne2; i[3] = r / (ne1 * ne2);
        const int64_t j0 = i[0], j1 = i[1], j2 = i[2], j3 = i[3];
        const gds_cu_t *s = &a;
        if (i[dim] >= a.ne[dim]) { s = &b; i[dim] -= a.ne[dim]; }
        *(float *)cu_at(d, j0, j1, j2, j3) = cu_load_f(cu_at(*s, i[0], i[1], i[2], i[3]), s->type);
    }
}

extern "C" int gds_cu_run_concat(const struct gds_cu_node *n, const struct gds_cu_exec *x) {
    const gds_cu_t &d = n->dst;
    const int64_t ne = d.ne[0] * d.ne[1] * d.ne[2] * d.ne[3];
    if (ne == 0) return 0;
    k_concat<<<cu_blocks(ne, 256), 256, 0, cu_stream(x)>>>(n->src[0], n->src[1], d, n->params[GDS_P_CONCAT_DIM], ne);
    GDS_CU_RETURN_LAST();
}
