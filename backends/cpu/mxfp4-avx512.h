/*
 * mxfp4-avx512.h - the MXFP4 decode tables (and the bf16 pair order) shared by the AVX-512 mat-vec
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

/* vdpbf16ps pair order of a 32-element block (vpermw index): element 2l+1 <- l,
 * 2l <- 16 + l, so that lane l adds l, then 16 + l (the odd element first):
 * the BF16 tile's packs (tiles-avx512.c) and the Q8_0 x bf16 prepared rows
 * (quants-avx512.c) must permute identically */
static const uint16_t gds_bf16_pair16[32] = { 16, 0, 17, 1, 18, 2, 19, 3, 20, 4, 21, 5, 22, 6, 23, 7,
                                              24, 8, 25, 9, 26, 10, 27, 11, 28, 12, 29, 13, 30, 14, 31, 15 };

#endif /* GDS_MXFP4_AVX512_H */
