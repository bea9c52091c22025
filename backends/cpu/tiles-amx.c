/*
 * tiles-amx.c - mul_mat tile kernels of the AMX level (Intel AMX-INT8 and
 * AMX-BF16; contract: cpu.h, registry: tiles.c). The AMX level's mat-vecs
 * are the AVX512 kernels, but for MXFP4 the AVX2 fast path (quants.c); both
 * follow the canonical arithmetic of quants.c for Q8_0 and MXFP4, and these
 * tiles give, for every output, exactly those bits, so prefill (tiles) and
 * decode (mat-vec) agree bit for bit.
 *
 * Both kernels compute 16 weight rows x up to 16 columns: A = the weights of
 * one 32-block (16 rows), B = the columns of that block, packed once per
 * column group by the caller (cpu.h, pack), C = the block's partial sums of
 * the 256 (row, column) pairs, stored to L1 and added in block order to 16
 * accumulators (one zmm of 16 columns per row). Per block:
 *
 * Q8_0 x Q8_0: A = the rows' qs straight from the weights (stride bw), B =
 *   the columns' qs (8 rows of 4-byte groups), one TDPBSSD: C = isum, exact
 *   int32. Then, as canonical: d = dw * da, t = (float)isum * d, acc = acc + t.
 *
 * MXFP4 x F8: the canonical p = sum kv * X (X = e4m3 * 2^9) is an exact
 *   integer and t = (float)p * sc with sc = (sa * 2^-9) * sw a power of two.
 *   A = kv * sw as bf16 (exact: the nibble's value with the block exponent
 *   added), B = e4m3 * sa as bf16 (exact: 4 significant bits), so every
 *   product is exact and their sum is p * sc. The sum is exact in fp32
 *   whatever order TDPBF16PS adds in if the activations are split in two
 *   planes (spec 3.6 leaves the order open; we need exactness to match the
 *   mat-vec bit for bit). In units of X (e4m3 * 2^9, before the power-of-two
 *   scales): "big" values |e4m3| >= 2^-3 are multiples of 8, and any partial
 *   sum of 32 products with |kv| <= 12, |X| <= 480 * 2^9 is at most 94.4e6,
 *   i.e. 11.8e6 < 2^24 multiples of 8: exact in fp32; "small" values
 *   |e4m3| < 2^-3 are integers below 64, partial sums at most 24192: exact. C_big + C_small (one fp32 rounding) = fl(p) * sc = t
 *   exactly, then acc = acc + t. The small plane's TDPBF16PS runs only for
 *   blocks where some column has a small nonzero value. Exactness needs every
 *   operand, product and partial sum normal and finite (AMX flushes
 *   denormals): weight exponent byte ew in [2, 252], activation ea in
 *   [10, 246], ew + ea in [138, 363]. A block outside that range (never for
 *   real weights and act_quant scales) is computed by the scalar canonical
 *   formula instead, into the same accumulators.
 *
 * Only compiled with the AMX flags; used only after gds_cpu_simd_available
 * (GDS_SIMD_AMX) got the tile state from the kernel (cpu-backend.c).
 */
#include "cpu.h"

#if defined(GDS_AMX_EMU) /* tests/test-amx-emu.c: scalar emulation of the intrinsics */
#include "amx-emu.h"
#else
#include <immintrin.h>
#endif
#include <string.h>

#define AI static inline __attribute__((always_inline))

struct amx_cfg {
    uint8_t palette, start_row, rsv[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/* 16 accumulators (row m: 16 columns) -> y[j][m] for j < nc */
AI void amx_store(const __m512 *acc, float *const *y, int nc) {
    float out[16][16] __attribute__((aligned(64)));
    for (int m = 0; m < 16; m++) _mm512_store_ps(out[m], acc[m]);
    for (int j = 0; j < nc; j++)
        for (int m = 0; m < 16; m++) y[j][m] = out[m][j];
}

/* ---- Q8_0 ------------------------------------------------------------------ */

/* pack: 64-byte header, then per 32-block: B [8][16 columns][4] int8 (512 B)
 * and da[16] fp32 (64 B); absent columns are zero */
#define Q8PK_BLK 576

static size_t q8_pack_size(int64_t K) { return 64 + (size_t)(K / QK8_0) * Q8PK_BLK; }

static void q8_pack(int64_t K, const void *const *a, int nc, void *buf) {
    const int64_t nb = K / QK8_0;
    uint8_t *pk = (uint8_t *)buf + 64;
    memset(buf, 0, q8_pack_size(K));
    for (int j = 0; j < nc; j++) {
        const block_q8_0 *y = a[j];
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *blk = pk + b * Q8PK_BLK;
            for (int r = 0; r < 8; r++) memcpy(blk + 64 * r + 4 * j, y[b].qs + 4 * r, 4);
            const float d = gds_fp16_to_fp32(y[b].d);
            memcpy(blk + 512 + 4 * j, &d, 4);
        }
    }
}

/* C (int32 isum of 16 rows x 16 columns) of block b at c -> acc */
AI void q8_acc(__m512 *acc, const int32_t *c, const float *dw, const float *da) {
    const __m512 va = _mm512_load_ps(da);
    for (int m = 0; m < 16; m++) {
        const __m512 d = _mm512_mul_ps(_mm512_set1_ps(dw[m]), va);
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * m)), d);
        acc[m] = _mm512_add_ps(acc[m], t);
    }
}

/* dw of the 16 rows for block b (fp16 at byte m * bw + 34 * b) */
AI void q8_dw(const uint8_t *w, __m512i gidx, int64_t b, float *dw) {
    const __m512i g = _mm512_i32gather_epi32(gidx, (const void *)(w + 34 * b), 1);
    _mm512_store_ps(dw, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)));
}

static void tile_q8_0_amx(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const uint8_t *pk = (const uint8_t *)a[0] + 64, *wq = w;
    const int64_t nb = K / QK8_0;
    struct amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 2; t++) { /* tiles 3t: C, 3t+1: A, 3t+2: B (blocks b and b+1) */
        cfg.colsb[3 * t] = 64; cfg.rows[3 * t] = 16;
        cfg.colsb[3 * t + 1] = 32; cfg.rows[3 * t + 1] = 16;
        cfg.colsb[3 * t + 2] = 64; cfg.rows[3 * t + 2] = 8;
    }
    _tile_loadconfig(&cfg);
    const int b1 = (int)bw;
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(b1));
    int32_t c0[256] __attribute__((aligned(64))), c1[256] __attribute__((aligned(64)));
    float dw0[16] __attribute__((aligned(64))), dw1[16] __attribute__((aligned(64)));
    __m512 acc[16];
    for (int m = 0; m < 16; m++) acc[m] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        _tile_zero(0);
        _tile_loadd(1, wq + 34 * b + 2, bw);
        _tile_loadd(2, pk + b * Q8PK_BLK, 64);
        _tile_dpbssd(0, 1, 2);
        _tile_zero(3);
        _tile_loadd(4, wq + 34 * (b + 1) + 2, bw);
        _tile_loadd(5, pk + (b + 1) * Q8PK_BLK, 64);
        _tile_dpbssd(3, 4, 5);
        q8_dw(wq, gidx, b, dw0);
        q8_dw(wq, gidx, b + 1, dw1);
        _tile_stored(0, c0, 64);
        q8_acc(acc, c0, dw0, (const float *)(pk + b * Q8PK_BLK + 512));
        _tile_stored(3, c1, 64);
        q8_acc(acc, c1, dw1, (const float *)(pk + (b + 1) * Q8PK_BLK + 512));
    }
    if (b < nb) {
        _tile_zero(0);
        _tile_loadd(1, wq + 34 * b + 2, bw);
        _tile_loadd(2, pk + b * Q8PK_BLK, 64);
        _tile_dpbssd(0, 1, 2);
        q8_dw(wq, gidx, b, dw0);
        _tile_stored(0, c0, 64);
        q8_acc(acc, c0, dw0, (const float *)(pk + b * Q8PK_BLK + 512));
    }
    _tile_release();
    amx_store(acc, y, nc);
}

/* ---- MXFP4 x F8 ------------------------------------------------------------ */

/* pack: header (nc, the column pointers), per 32-block meta (small-plane flag,
 * min and max activation exponent byte over the columns), then per 32-block
 * B_big and B_small, each [16 k-pairs][16 columns][2] bf16 (1 KB) */
#define MXPK_HDR 192
struct mxpk_hdr {
    int32_t nc;
    const block_f8 *col[16];
};
static size_t mx_meta_size(int64_t nb) { return ((size_t)nb * 4 + 63) & ~(size_t)63; }
static size_t mx_pack_size(int64_t K) {
    const int64_t nb = K / QK_MXFP4;
    return MXPK_HDR + mx_meta_size(nb) + (size_t)nb * 2048;
}

/* e4m3 code -> fp32 bits of its value (NaN codes as +-480, like the canonical
 * integer paths), and whether it is a small-plane value */
static uint32_t mx_e4m3_bits(uint8_t c) {
    float v = (c & 0x7f) == 0x7f ? 480.0f : gds_e4m3_to_fp32((uint8_t)(c & 0x7f));
    uint32_t u;
    memcpy(&u, &v, 4);
    return u | ((uint32_t)(c & 0x80) << 24);
}

static void mx_pack(int64_t K, const void *const *a, int nc, void *buf) {
    const int64_t nb = K / QK_MXFP4;
    uint32_t vbits[128]; /* mx_e4m3_bits of the 128 magnitudes, once per pack (not per value) */
    for (int c = 0; c < 128; c++) vbits[c] = mx_e4m3_bits((uint8_t)c);
    uint8_t *meta = (uint8_t *)buf + MXPK_HDR;
    uint16_t *planes = (uint16_t *)(meta + mx_meta_size(nb));
    struct mxpk_hdr *h = buf;
    h->nc = nc;
    for (int j = 0; j < 16; j++) h->col[j] = j < nc ? a[j] : NULL;
    memset(planes, 0, (size_t)nb * 2048);
    for (int64_t b = 0; b < nb; b++) { meta[4 * b] = 0; meta[4 * b + 1] = 255; meta[4 * b + 2] = 0; }
    for (int j = 0; j < nc; j++) {
        const block_f8 *y = a[j];
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t ea = y[b / 4].e;
            const uint8_t *q = y[b / 4].qs + 32 * (b % 4);
            uint8_t *mb = meta + 4 * b;
            if (ea < mb[1]) mb[1] = ea;
            if (ea > mb[2]) mb[2] = ea;
            const bool ok = ea >= 10 && ea <= 246;
            uint16_t *big = planes + (size_t)b * 1024, *small = big + 512;
            for (int k = 0; k < 32; k++) {
                if ((q[k] & 0x7f) == 0) continue;
                const uint32_t u = vbits[q[k] & 0x7f] | ((uint32_t)(q[k] & 0x80) << 24);
                const bool is_small = (u & 0x7fffffffu) < 0x3e000000u; /* |v| < 2^-3 */
                if (is_small) mb[0] = 1;
                if (!ok) continue; /* the block takes the scalar path */
                const uint16_t v = (uint16_t)((u + ((uint32_t)(ea - 127) << 23)) >> 16);
                (is_small ? small : big)[(k / 2) * 32 + 2 * j + (k & 1)] = v;
            }
        }
    }
}

/* bf16 bits of kv = 2 * e2m1 for the 16 nibbles, twice (vpermw uses 5 index bits) */
static const uint16_t mx_kv_bf16[32] __attribute__((aligned(64))) = {
    0x0000, 0x3f80, 0x4000, 0x4040, 0x4080, 0x40c0, 0x4100, 0x4140, 0x0000, 0xbf80, 0xc000, 0xc040, 0xc080, 0xc0c0, 0xc100, 0xc140,
    0x0000, 0x3f80, 0x4000, 0x4040, 0x4080, 0x40c0, 0x4100, 0x4140, 0x0000, 0xbf80, 0xc000, 0xc040, 0xc080, 0xc0c0, 0xc100, 0xc140,
};

/* A of block b (16 rows: kv * 2^(ew - 128) as bf16) into abuf; false when a
 * row or column exponent leaves the exact range (the caller then takes the
 * scalar formula). The range test is ew in [max(2, 138 - ea_min), min(252,
 * 363 - ea_max)] for all rows, and ea in [10, 246]. */
AI bool mx_decode(const uint8_t *wq, size_t bw, int64_t b, const uint8_t *mb, __m512i gidx, __m512i tab, uint16_t *abuf) {
    if (mb[1] < 10 || mb[2] > 246) return false;
    const int lo = 138 - mb[1] > 2 ? 138 - mb[1] : 2, hi = 363 - mb[2] < 252 ? 363 - mb[2] : 252;
    const __m512i ew = _mm512_and_si512(_mm512_i32gather_epi32(gidx, (const void *)(wq + 17 * b), 1), _mm512_set1_epi32(0xff));
    if (_mm512_cmplt_epi32_mask(ew, _mm512_set1_epi32(lo)) | _mm512_cmpgt_epi32_mask(ew, _mm512_set1_epi32(hi))) return false;
    int16_t dm[16] __attribute__((aligned(64)));
    _mm256_store_si256((__m256i *)dm, _mm512_cvtepi32_epi16(_mm512_slli_epi32(_mm512_sub_epi32(ew, _mm512_set1_epi32(128)), 7)));
    const __m512i m4 = _mm512_set1_epi16(0x0f);
    for (int m = 0; m < 16; m++) {
        /* the row's table: exponent field + ew - 128 on the nonzero entries (all but 0, 8, 16, 24) */
        const __m512i tm = _mm512_mask_add_epi16(tab, 0xfefefefeu, tab, _mm512_set1_epi16(dm[m]));
        const __m256i q = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(wq + (size_t)m * bw + 17 * b + 1)));
        const __m512i ix = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1), m4);
        _mm512_store_si512(abuf + 32 * m, _mm512_permutexvar_epi16(ix, tm));
    }
    return true;
}

/* block products on tile set (A, C_big, C_small); B_big = tile 3, B_small = tile 4 */
#define MX_ISSUE(TA, TCB, TCS, ABUF, PB, SMALL)          \
    do {                                                  \
        _tile_loadd(TA, ABUF, 64);                        \
        _tile_loadd(3, PB, 64);                           \
        _tile_zero(TCB);                                  \
        _tile_dpbf16ps(TCB, TA, 3);                       \
        if (SMALL) {                                      \
            _tile_loadd(4, (PB) + 1024, 64);              \
            _tile_zero(TCS);                              \
            _tile_dpbf16ps(TCS, TA, 4);                   \
        }                                                 \
    } while (0)
#define MX_STORE(TCB, TCS, SMALL)                         \
    do {                                                  \
        _tile_stored(TCB, cb, 64);                        \
        if (SMALL) _tile_stored(TCS, cs, 64);             \
    } while (0)

/* Software-pipelined: block b is decoded and its products issued before block
 * b - 1's results are read back and added, so the AVX-512 work of one block
 * overlaps the tile multiplies of the other (two tile sets, two A buffers);
 * the accumulators still take the blocks in order. */
static void tile_mxfp4_amx(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const struct mxpk_hdr *h = a[0];
    const int64_t nb = K / QK_MXFP4;
    const uint8_t *meta = (const uint8_t *)a[0] + MXPK_HDR;
    const uint8_t *planes = meta + mx_meta_size(nb);
    const uint8_t *wq = w;
    struct amx_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    /* set 0: C_big 0, C_small 1, A 2; B_big 3, B_small 4; set 1: C_big 5, C_small 6, A 7 */
    for (int t = 0; t < 8; t++) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
    _tile_loadconfig(&cfg);
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32((int)bw));
    const __m512i tab = _mm512_load_si512(mx_kv_bf16);
    uint16_t abuf[2][16 * 32] __attribute__((aligned(64)));
    float cb[256] __attribute__((aligned(64))), cs[256] __attribute__((aligned(64)));
    __m512 acc[16];
    for (int m = 0; m < 16; m++) acc[m] = _mm512_setzero_ps();
    bool ex_prev = false;
    for (int64_t b = 0; b <= nb; b++) {
        bool ex = false;
        if (b < nb) {
            const uint8_t *mb = meta + 4 * b, *pb = planes + (size_t)b * 2048;
            ex = mx_decode(wq, bw, b, mb, gidx, tab, abuf[b & 1]);
            if (ex) {
                if (b & 1) MX_ISSUE(7, 5, 6, abuf[1], pb, mb[0]);
                else MX_ISSUE(2, 0, 1, abuf[0], pb, mb[0]);
            }
        }
        if (b == 0) { ex_prev = ex; continue; }
        /* block b - 1: results into the accumulators */
        const int64_t bp = b - 1;
        const bool small = meta[4 * bp] != 0;
        if (ex_prev) {
            if (bp & 1) MX_STORE(5, 6, small);
            else MX_STORE(0, 1, small);
            if (small)
                for (int m = 0; m < 16; m++)
                    acc[m] = _mm512_add_ps(acc[m], _mm512_add_ps(_mm512_load_ps(cb + 16 * m), _mm512_load_ps(cs + 16 * m)));
            else
                for (int m = 0; m < 16; m++) acc[m] = _mm512_add_ps(acc[m], _mm512_load_ps(cb + 16 * m));
        } else {
            for (int m = 0; m < 16; m++) {
                float t[16] __attribute__((aligned(64)));
                for (int j = 0; j < 16; j++)
                    t[j] = j < h->nc ? gds_cpu_mxfp4_block_t((const block_mxfp4 *)(wq + (size_t)m * bw) + bp, &h->col[j][bp / 4], (int)(bp % 4)) : 0.0f;
                acc[m] = _mm512_add_ps(acc[m], _mm512_load_ps(t));
            }
        }
        ex_prev = ex;
    }
    _tile_release();
    amx_store(acc, y, nc);
}

int gds_cpu_tiles_amx(struct gds_cpu_tile *tab);
int gds_cpu_tiles_amx(struct gds_cpu_tile *tab) {
    tab[GDS_TYPE_Q8_0] = (struct gds_cpu_tile){ tile_q8_0_amx, 16, 16, false, q8_pack_size, q8_pack };
    tab[GDS_TYPE_MXFP4] = (struct gds_cpu_tile){ tile_mxfp4_amx, 16, 16, false, mx_pack_size, mx_pack };
    return 2;
}
