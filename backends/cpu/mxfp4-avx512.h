/*
 * mxfp4-avx512.h - the MXFP4 decode tables shared by the AVX-512 mat-vec
 * (mxfp4b_rows, quants-avx512.c) and tile (mxfp4b_blk, tiles-avx512.c)
 * kernels, which must decode identically (the tile's bits equal dot8's).
 */
#ifndef GDS_MXFP4_AVX512_H
#define GDS_MXFP4_AVX512_H

#include <stdint.h>

/* e2m1 code (and the same again for the high nibble lane) -> bf16 bits of 2 * e2m1 */
static const uint16_t gds_mxfp4b_tab16[32] = { 0, 0x3f80, 0x4000, 0x4040, 0x4080, 0x40c0, 0x4100, 0x4140,
                                               0x8000, 0xbf80, 0xc000, 0xc040, 0xc080, 0xc0c0, 0xc100, 0xc140,
                                               0, 0x3f80, 0x4000, 0x4040, 0x4080, 0x40c0, 0x4100, 0x4140,
                                               0x8000, 0xbf80, 0xc000, 0xc040, 0xc080, 0xc0c0, 0xc100, 0xc140 };
/* vpermt2w index: word i of lane j: lane0 A words 1..8, lane1 B words 7..14, lane2 A 18..25, lane3 B 24..31 (B = +32) */
static const uint16_t gds_mxfp4b_gidx16[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 39, 40, 41, 42, 43, 44, 45, 46,
                                                18, 19, 20, 21, 22, 23, 24, 25, 56, 57, 58, 59, 60, 61, 62, 63 };

#endif /* GDS_MXFP4_AVX512_H */
