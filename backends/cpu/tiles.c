/*
 * tiles.c - registry of the mul_mat tile kernels (cpu.h: gds_cpu_tile_get).
 *
 * A tile kernel multiplies `rows` weight rows by up to `cols` activation
 * columns at once, so each decoded weight register serves several columns
 * (prefill and batched decode). The kernels live in the SIMD files
 * (tiles-<isa>.c) and must give, for every output, exactly the bits of the
 * mat-vec kernels of the same level (cpu.h); test-ops checks this with
 * memcmp against column-by-column products.
 */
#include "cpu.h"

/* filled by the tiles-<isa>.c files; each returns its entries' count */
int gds_cpu_tiles_avx2(struct gds_cpu_tile *tab /* [GDS_TYPE_COUNT] */);
int gds_cpu_tiles_avx512(struct gds_cpu_tile *tab);
int gds_cpu_tiles_act_bf16_avx2(struct gds_cpu_tile *tab); /* mul_mat GDS_MM_ACT_BF16 (F8 weights x bf16 rows) */
int gds_cpu_tiles_act_bf16_avx512(struct gds_cpu_tile *tab);
int gds_cpu_tiles_amx(struct gds_cpu_tile *tab);

#include <pthread.h>
#include <string.h>
static struct gds_cpu_tile tiles[GDS_SIMD_COUNT][GDS_TYPE_COUNT];
static struct gds_cpu_tile tiles_act_bf16[GDS_SIMD_COUNT][GDS_TYPE_COUNT];
static struct gds_cpu_tile tiles_amx_few[GDS_TYPE_COUNT]; /* the AVX512 tiles valid on amx */
static pthread_once_t tiles_once = PTHREAD_ONCE_INIT;

static void tiles_init(void) {
#if defined(__x86_64__)
    gds_cpu_tiles_avx2(tiles[GDS_SIMD_AVX2]);
    gds_cpu_tiles_avx512(tiles[GDS_SIMD_AVX512]);
    /* AMX: the AVX512 tiles but where tiles-amx.c has one (and no fast-path tile
     * for MXFP4: the AMX level's MXFP4 mat-vec is the canonical vec_dot4) */
    memcpy(tiles[GDS_SIMD_AMX], tiles[GDS_SIMD_AVX512], sizeof(tiles[GDS_SIMD_AMX]));
    tiles[GDS_SIMD_AMX][GDS_TYPE_MXFP4] = (struct gds_cpu_tile){ 0 };
    memcpy(tiles_amx_few, tiles[GDS_SIMD_AMX], sizeof tiles_amx_few);
    gds_cpu_tiles_amx(tiles[GDS_SIMD_AMX]);
    gds_cpu_tiles_act_bf16_avx2(tiles_act_bf16[GDS_SIMD_AVX2]);
    gds_cpu_tiles_act_bf16_avx512(tiles_act_bf16[GDS_SIMD_AVX512]);
    gds_cpu_tiles_act_bf16_avx512(tiles_act_bf16[GDS_SIMD_AMX]);
#endif
}

bool gds_cpu_tile_get(enum gds_type t, enum gds_cpu_simd simd, int32_t flags, struct gds_cpu_tile *tile) {
    if ((unsigned)t >= GDS_TYPE_COUNT || (unsigned)simd >= GDS_SIMD_COUNT) return false;
    pthread_once(&tiles_once, tiles_init);
    /* GDS_MM_ACT_BF16 has its own table, except for BF16 weights (same kernels as flags 0, quants.c) */
    const struct gds_cpu_tile *e = (flags & GDS_MM_ACT_BF16) && t != GDS_TYPE_BF16 ? &tiles_act_bf16[simd][t] : &tiles[simd][t];
    if (!e->fn) return false;
    *tile = *e;
    return true;
}

bool gds_cpu_tile_get_few(enum gds_type t, enum gds_cpu_simd simd, int32_t flags, struct gds_cpu_tile *tile) {
    if (simd != GDS_SIMD_AMX || ((flags & GDS_MM_ACT_BF16) && t != GDS_TYPE_BF16)) return gds_cpu_tile_get(t, simd, flags, tile);
    if ((unsigned)t >= GDS_TYPE_COUNT) return false;
    pthread_once(&tiles_once, tiles_init);
    if (!tiles_amx_few[t].fn) return false;
    *tile = tiles_amx_few[t];
    return true;
}
