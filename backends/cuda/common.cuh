/*
 * common.cuh - device helpers shared by the CUDA kernels (ops-*.cu).
 *
 * Element access through byte strides, the typed loads of F32/F16/BF16 and of
 * one value of a quantized row (Q8_0, MXFP4, F8_E4M3_B128, KV_E4M3_B64),
 * launch-size helpers. All rounding goes through gds-quants.h (compiled as
 * device code), the same definitions the CPU kernels use.
 */
#ifndef GDS_CUDA_COMMON_CUH
#define GDS_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "gds-impl.h"   /* GDS_P_* op param slots, gds-quants.h */
#include "cuda-ops.h"
}

#define GDS_CU_RETURN_LAST() return (int)cudaGetLastError()


/* an A/B switch read once (host): on unless the variable is "0" */
static inline bool cu_switch(const char *name, int *cache) {
    if (*cache < 0) {
        const char *e = getenv(name);
        *cache = !(e && !strcmp(e, "0"));
    }
    return *cache != 0;
}

/* byte address of element (i0, i1, i2, i3) of t (i0 counts elements or blocks per nb[0]) */
static __device__ inline char *cu_at(const gds_cu_t &t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return t.data + i0 * t.nb[0] + i1 * t.nb[1] + i2 * t.nb[2] + i3 * t.nb[3];
}

/* value of a float-typed element (F32, F16, BF16; I32 as a float) at p */
static __device__ inline float cu_load_f(const char *p, int32_t type) {
    switch (type) {
    case GDS_TYPE_F32: return *(const float *)p;
    case GDS_TYPE_F16: return gds_fp16_to_fp32(*(const uint16_t *)p);
    case GDS_TYPE_BF16: return gds_bf16_to_fp32(*(const uint16_t *)p);
    case GDS_TYPE_I32: return (float)*(const int32_t *)p;
    default: return __int_as_float(0x7fc00000);
    }
}

/* stores v into a float-typed element (F32, F16, BF16: RNE as the CPU) */
static __device__ inline void cu_store_f(char *p, int32_t type, float v) {
    switch (type) {
    case GDS_TYPE_F32: *(float *)p = v; break;
    case GDS_TYPE_F16: *(uint16_t *)p = gds_fp32_to_fp16(v); break;
    case GDS_TYPE_BF16: *(uint16_t *)p = gds_fp32_to_bf16(v); break;
    default: break;
    }
}

/* elements per block and bytes per block of a type (1 and the size for plain types) */
static __host__ __device__ inline int cu_blck(int32_t type) {
    switch (type) {
    case GDS_TYPE_Q8_0: return QK8_0;
    case GDS_TYPE_MXFP4: return QK_MXFP4;
    case GDS_TYPE_F8_E4M3_B128: return QK_F8;
    case GDS_TYPE_KV_E4M3_B64: return GDS_KV_E4M3_B64_NE;
    default: return 1;
    }
}
static __host__ __device__ inline int cu_type_size(int32_t type) {
    switch (type) {
    case GDS_TYPE_F32: case GDS_TYPE_I32: return 4;
    case GDS_TYPE_F16: case GDS_TYPE_BF16: return 2;
    case GDS_TYPE_Q8_0: return (int)sizeof(block_q8_0);
    case GDS_TYPE_MXFP4: return (int)sizeof(block_mxfp4);
    case GDS_TYPE_F8_E4M3_B128: return (int)sizeof(block_f8);
    case GDS_TYPE_KV_E4M3_B64: return GDS_KV_E4M3_B64_SIZE;
    default: return 0;
    }
}

/* value i of a row of any supported type (row = start of the row's bytes):
 * the exact f32 value the CPU's to_float gives */
static __device__ inline float cu_row_value(const char *row, int32_t type, int64_t i) {
    switch (type) {
    case GDS_TYPE_Q8_0: {
        const block_q8_0 *b = (const block_q8_0 *)row + i / QK8_0;
        return gds_fp16_to_fp32(b->d) * (float)b->qs[i % QK8_0];
    }
    case GDS_TYPE_MXFP4: {
        const block_mxfp4 *b = (const block_mxfp4 *)row + i / QK_MXFP4;
        const int j = (int)(i % QK_MXFP4);
        const uint8_t q = j < 16 ? (b->qs[j] & 0x0f) : (b->qs[j - 16] >> 4);
        return gds_e8m0_to_fp32_half(b->e) * (float)gds_kvalue_mxfp4(q);
    }
    case GDS_TYPE_F8_E4M3_B128: {
        const block_f8 *b = (const block_f8 *)row + i / QK_F8;
        return gds_e4m3_to_fp32(b->qs[i % QK_F8]) * gds_e8m0_to_fp32(b->e);
    }
    case GDS_TYPE_KV_E4M3_B64: {
        const uint8_t *b = (const uint8_t *)row + (i / GDS_KV_E4M3_B64_NE) * GDS_KV_E4M3_B64_SIZE;
        const int k = (int)(i % GDS_KV_E4M3_B64_NE);
        if (k < GDS_KV_E4M3_B64_NOPE) return gds_e4m3_to_fp32(b[GDS_KV_E4M3_B64_OFF_QS + k]) * gds_e8m0_to_fp32(b[k / GDS_KV_E4M3_B64_GROUP]);
        const uint8_t *r = b + GDS_KV_E4M3_B64_OFF_ROPE + 2 * (k - GDS_KV_E4M3_B64_NOPE);
        return gds_bf16_to_fp32((uint16_t)(r[0] | r[1] << 8));
    }
    default: return cu_load_f(row + i * cu_type_size(type), type);
    }
}

/* blocks of `threads` covering n items, capped for grid-stride loops */
static inline unsigned cu_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535LL * 32) b = 65535LL * 32;
    return (unsigned)b;
}

#define CU_GRID_STRIDE(i, n) for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

static inline cudaStream_t cu_stream(const gds_cu_exec *x) { return (cudaStream_t)x->stream; }

enum { CU_MAX_DEVICES = 16 };

/* Lets `kernel` launch with smem bytes of dynamic shared memory (above the
 * 48 KB default needs an opt-in). cudaFuncSetAttribute costs microseconds
 * and the launchers run for every node of every token, so each call site
 * keeps what it granted per device in `granted` (a static of the site; in a
 * kernel template's launcher, one per instantiation) and asks again only for
 * more. Launches are serialized per backend (one thread runs a graph). */
template <typename K>
static inline cudaError_t cu_allow_smem(K kernel, size_t smem, size_t granted[CU_MAX_DEVICES]) {
    if (smem <= 48 * 1024) return cudaSuccess;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= CU_MAX_DEVICES) dev = 0;
    if (smem <= granted[dev]) return cudaSuccess;
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e == cudaSuccess) granted[dev] = smem;
    return e;
}

#endif /* GDS_CUDA_COMMON_CUH */
