/*
 * tiles-avx512.c - mul_mat tile kernels for the AVX512 level (contract: cpu.h,
 * registry: tiles.c). Each output is bit-identical to the AVX512 mat-vec
 * kernel of its type (quants-avx512.c). How each tile maps to it:
 *
 * MXFP4 x F8, prepped (MXFP4_R = 4 rows x up to 16 columns): the mat-vec uses the fast
 *   path gds_cpu_dot8/dot4_mxfp4b_avx512 (mxfp4b_rows) on bf16-prepared
 *   activations; its per-row arithmetic does not depend on R (4 or 8), so a
 *   4-row tile equals dot8 and dot4 row by row. ops-matmul.c gives a unit's
 *   rows to dot8, then dot4, then vec_dot (integer, other arithmetic) for the
 *   last n % 4; the tiles cover whole groups of 4 rows and the rest goes to
 *   mm_rows as before (so the tile's rows must be a multiple of 4). Per (row,
 *   column) the operations and their order are those of mxfp4b_rows (see
 *   mxfp4b_blk below).
 * Q8_0 x Q8_0 (16 rows x up to 16 columns): canonical rule (quants.c), which
 *   vec_dot, vec_dot4 and scalar all follow: per 32-block isum exact, then
 *   t = (float)isum * (dw * da), acc = acc + t in block order (mul, mul, add).
 *   Here the 16 rows are the 16 lanes: per block the rows' qs are transposed
 *   into 8 vectors (dword k of the block for the 16 rows) biased by +128
 *   (u8), the column's dword k is broadcast (s8) and 8 vpdpbusd give
 *   isum + 128 * sum(a), started from -128 * sum(a) (per column and block,
 *   computed once per column group into the pack with the column scales da
 *   as fp32), in two chains of 4 (integer adds: exact in any order): isum
 *   exact. The pack saved the per-tile column sums (2-core Zen 4, one
 *   thread, 16 columns x 2048 rows x K 4096: 213 -> 285 GFLOP/s).
 * F8_E4M3_B128 x F8, prepped (4 rows x 4 columns): gds_cpu_dot4_f8p_avx512
 *   (and dot4_f8 / vec_dot, all canonical): per block l = 8 fma in order
 *   h = 0..112 from zero (weights e4m3 * 2^-8 via fp16, activations e4m3 *
 *   2^8 from the prep: exact products), the canonical 16-lane tree (here 16
 *   (row, column) vectors at once: same pairings l[i]+l[i+8], s8[i]+s8[i+4],
 *   s4[i]+s4[i+2], s2[0]+s2[1]), sc = sw * sa, acc = acc + p * sc.
 * BF16 x BF16 (4 rows x 16 packed columns, in sub-blocks of 6): the lanes of
 *   dot_bf16_avx512, acc = acc + w * a per 16 elements (one fma where every
 *   product is provably exact, else mul then add: the same bits), canonical
 *   tree, then the n % 16 tail added in order (scalar). The columns are
 *   packed once per group as fp32 (cpu.h pack).
 */
#include "cpu.h"
#include "mxfp4-avx512.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

/* GDS_BF16_DP=0: the BF16 tile without vdpbf16ps (A/B; the same bits) */
static bool bf16_dp = true;

/* Canonical 16-lane reduction of 16 vectors v[i] at once (quants.c:
 * s8[i] = l[i] + l[i+8], s4[i] = s8[i] + s8[i+4], s2[i] = s4[i] + s4[i+2],
 * s2[0] + s2[1]). Element 4j + k of the result is the sum of v[4k + j].
 * HL: the first two steps take their operands as _mm512_reduce_add_ps does
 * (upper 256 + lower 256, upper 128 + lower 128: the MXFP4 mat-vec's
 * reduction), so that NaN operands meet as there too; the sums are the same. */
AI __m512 reduce16x16(const __m512 *v, const bool HL) {
    __m512 x[8], y[4], z[2];
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) { /* s8 of v[2m] in lanes 0-7, of v[2m+1] in 8-15 */
        const __m512 lo = _mm512_shuffle_f32x4(v[2 * m], v[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 hi = _mm512_shuffle_f32x4(v[2 * m], v[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2));
        x[m] = HL ? _mm512_add_ps(hi, lo) : _mm512_add_ps(lo, hi);
    }
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) { /* 128-bit lane j: s4 of v[4m + j] */
        const __m512 lo = _mm512_shuffle_f32x4(x[2 * m], x[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512 hi = _mm512_shuffle_f32x4(x[2 * m], x[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1));
        y[m] = HL ? _mm512_add_ps(hi, lo) : _mm512_add_ps(lo, hi);
    }
#pragma GCC unroll 2
    for (int m = 0; m < 2; m++) /* lane j: s2[0], s2[1] of v[8m + j], then of v[8m + 4 + j] */
        z[m] = _mm512_add_ps(_mm512_shuffle_ps(y[2 * m], y[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(y[2 * m], y[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane j: sums of v[j], v[4 + j], v[8 + j], v[12 + j] */
    return _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* ---- MXFP4 x bf16-prepared F8 (equals mxfp4b_rows of quants-avx512.c) ------ */

/* MXFP4_R rows x up to 16 columns, blocks outer. Per 128-block the rows are
 * decoded ONCE (same loads / vpermt2w / vpermw / pshufb as mxfp4b_rows) into
 * an L1 buffer (bf16 weights and both scale forms), then every column runs
 * over it, two columns at a time (their 8 activation vectors in registers,
 * each decoded weight vector loaded once for both). Per (row, column) the
 * arithmetic is mxfp4b_rows': P = 4 vdpbf16ps from zero in the order a0..a3
 * (weights as the first operand), then fma(P, sw, acc) (folded column) or
 * acc + scalef(P, cvt(eb) + c) (unfolded), blocks in order; acc lives in an
 * L1 array acc[column][row] between blocks; one _mm512_reduce_add_ps at the
 * end (for 4 columns x 4 rows at once: reduce16x16 with HL, the same sums).
 * Columns are ordered folded first, then unfolded (per-column flag).
 * Rows: 16-core Sapphire Rapids, f4q.gguf pp512 -t 16, one run each: the
 * earlier 4-row tile that decoded the rows again per 4 columns 178 t/s, this
 * kernel with 4 / 8 / 16 rows 195 / 204 / 201 t/s (there the default level is
 * amx, whose MXFP4 tile is tiles-amx.c); 2-core Zen 4, test-ops perf
 * mul_mat_id 256 experts x 512 tokens, 3 alternating runs: 4 / 8 / 16 rows
 * 286 / 256-269 / 182-207 GFLOP/s, f4q pp512 -t 2: 4 rows 97.2 / 96.3 t/s,
 * 8 rows 93.6 / 95.1. */
#define MXFP4_R 4

/* CC (1 or 2) columns over the decoded block: pa[k] = prepared block of column k */
AI void mxblk_cols(const __m512i *wd, const __m512 *sw, const uint8_t *const *pa, __m512 *const *acc, const int R,
                   const int CC, const bool folded) {
    __m512bh av[2][4];
    __m512 cc[2];
#pragma GCC unroll 2
    for (int k = 0; k < CC; k++) {
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) av[k][h] = (__m512bh)_mm512_load_si512(pa[k] + 64 * h);
        if (!folded) {
            float cf;
            memcpy(&cf, pa[k] + 256, sizeof cf);
            cc[k] = _mm512_set1_ps(cf);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
        const __m512bh w0 = (__m512bh)_mm512_load_si512(wd + 4 * r), w1 = (__m512bh)_mm512_load_si512(wd + 4 * r + 1);
        const __m512bh w2 = (__m512bh)_mm512_load_si512(wd + 4 * r + 2), w3 = (__m512bh)_mm512_load_si512(wd + 4 * r + 3);
        const __m512 s = sw[r];
#pragma GCC unroll 2
        for (int k = 0; k < CC; k++) {
            __m512 P = _mm512_dpbf16_ps(_mm512_setzero_ps(), w0, av[k][0]);
            P = _mm512_dpbf16_ps(P, w1, av[k][1]);
            P = _mm512_dpbf16_ps(P, w2, av[k][2]);
            P = _mm512_dpbf16_ps(P, w3, av[k][3]);
            if (folded) acc[k][r] = _mm512_fmadd_ps(P, s, acc[k][r]);
            else acc[k][r] = _mm512_add_ps(acc[k][r], _mm512_scalef_ps(P, _mm512_add_ps(s, cc[k])));
        }
    }
}

/* m columns of one kind (prepared rows p[0..m), accumulators acc + k * R) */
AI void mxblk_set(const __m512i *wd, const __m512 *sw, const uint8_t *const *p, size_t ob, __m512 *acc, int m, const int R,
                  const bool folded) {
    int k = 0;
    for (; k + 2 <= m; k += 2) {
        const uint8_t *pa[2] = { p[k] + ob, p[k + 1] + ob };
        __m512 *ac[2] = { acc + k * R, acc + (k + 1) * R };
        mxblk_cols(wd, sw, pa, ac, R, 2, folded);
    }
    if (k < m) {
        const uint8_t *pa[2] = { p[k] + ob, p[k] + ob };
        __m512 *ac[2] = { acc + k * R, acc + k * R };
        mxblk_cols(wd, sw, pa, ac, R, 1, folded);
    }
}

AI void mxfp4b_blk(int64_t n, const uint8_t *w, size_t bw, const void *const *a, float *const *y, int nc, const int R) {
    const __m512i tab = _mm512_loadu_si512(gds_mxfp4b_tab16), gidx = _mm512_loadu_si512(gds_mxfp4b_gidx16);
    const __m512i eself = _mm512_setr_epi32(0x01ffffff, 0x01ffffff, 0x01ffffff, 0x01ffffff, 0x02ffffff, 0x02ffffff,
                                            0x02ffffff, 0x02ffffff, 0x03ffffff, 0x03ffffff, 0x03ffffff, 0x03ffffff,
                                            0x04ffffff, 0x04ffffff, 0x04ffffff, 0x04ffffff);
    const __m512i eselu = _mm512_setr_epi32(-255, -255, -255, -255, -254, -254, -254, -254, -253, -253, -253, -253,
                                            -252, -252, -252, -252);
    const __m512i emin = _mm512_set1_epi32(0x00400000);
    const uint8_t *pc[16];
    float *yc[16];
    int nf = 0, k = 0;
    for (int pass = 0; pass < 2; pass++) { /* folded columns first, then unfolded */
        for (int j = 0; j < nc; j++) {
            int32_t f;
            memcpy(&f, (const char *)a[j] + 260, sizeof f); /* folded flag of the prepared row (quants.c) */
            if ((f != 0) == (pass == 0)) { pc[k] = a[j]; yc[k++] = y[j]; }
        }
        if (pass == 0) nf = k;
    }
    const int nu = nc - nf;
    __m512 acc[16 * 16]; /* acc[k * R + r], k < nc <= 16, r < R <= 16 */
    for (int i = 0; i < nc * R; i++) acc[i] = _mm512_setzero_ps();
    __m512i wd[4 * 16];
    __m512 swf[16], swu[16];
    const char *pfp = (const char *)w + R * bw;
    const int npf = (R * 4 * (int)sizeof(block_mxfp4) + 63) / 64 + 1;
    const int64_t nb = n / QK_F8;
    for (int64_t b = 0; b < nb; b++) {
        for (int j = 0; j < npf; j++) _mm_prefetch(pfp + 64 * j, GDS_PF_HINT);
        pfp += R * 4 * sizeof(block_mxfp4);
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            const uint8_t *x = w + r * bw + b * 4 * sizeof(block_mxfp4);
            const __m512i A = b ? _mm512_loadu_si512(x - 1) : _mm512_maskz_loadu_epi8(~(__mmask64)1, x - 1);
            const __m512i B = _mm512_loadu_si512(x + 4);
            const __m512i q = _mm512_permutex2var_epi16(A, gidx, B);
            _mm512_store_si512(wd + 4 * r, _mm512_permutexvar_epi16(q, tab));
            _mm512_store_si512(wd + 4 * r + 1, _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 8), tab));
            _mm512_store_si512(wd + 4 * r + 2, _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 4), tab));
            _mm512_store_si512(wd + 4 * r + 3, _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 12), tab));
            if (nf) swf[r] = _mm512_castsi512_ps(_mm512_max_epu32(_mm512_srli_epi32(_mm512_shuffle_epi8(A, eself), 1), emin));
            if (nu) swu[r] = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(A, eselu));
        }
        const size_t ob = (size_t)b * 320;
        if (nf) mxblk_set(wd, swf, pc, ob, acc, nf, R, true);
        if (nu) mxblk_set(wd, swu, pc + nf, ob, acc + nf * R, nu, R, false);
    }
    int j = 0;
    if (R == 4) /* 4 columns x 4 rows: the 16 reductions at once (same tree and operands) */
        for (; j + 4 <= nc; j += 4) {
            __attribute__((aligned(64))) float o[16];
            _mm512_store_ps(o, reduce16x16(acc + j * R, true)); /* element 4r + c: column j + c, row r */
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 4; r++) yc[j + c][r] = o[4 * r + c];
        }
    for (; j < nc; j++)
        for (int r = 0; r < R; r++) yc[j][r] = _mm512_reduce_add_ps(acc[j * R + r]);
}

static void tile_mxfp4b(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    mxfp4b_blk(K, w, bw, a, y, nc, MXFP4_R);
}

/* ---- Q8_0 x Q8_0 (canonical: exact isum, t = isum * (dw * da), acc + t) --- */

#define Q8_R 16 /* rows = lanes */

/* Pack (once per group of up to 16 columns, cpu.h pack): the column pointers
 * (padded with column 0, whose results are dropped) and per 32-block the
 * columns' -128 * sum of the 32 qs (int32, exact: |sum| <= 4096) and their
 * scales da as fp32 (_cvtsh_ss, exact); both depend on the columns only, so
 * the 16-row tiles read them instead of computing them per tile. */
#define Q8PK_HDR 192
struct q8pk_hdr {
    int32_t nc;
    const uint8_t *col[16];
};

static size_t q8_pack_size(int64_t K) { return Q8PK_HDR + (size_t)(K / QK8_0) * 128; }

static void q8_pack(int64_t K, const void *const *a, int nc, void *buf) {
    struct q8pk_hdr *h = buf;
    h->nc = nc;
    for (int j = 0; j < 16; j++) h->col[j] = a[j < nc ? j : 0];
    for (int64_t b = 0; b < K / QK8_0; b++) {
        int32_t *ncb = (int32_t *)((char *)buf + Q8PK_HDR + (size_t)b * 128);
        float *dab = (float *)(ncb + 16);
        for (int j = 0; j < nc; j++) {
            const block_q8_0 *x = (const block_q8_0 *)h->col[j] + b;
            int32_t sum = 0;
            for (int i = 0; i < QK8_0; i++) sum += x->qs[i];
            ncb[j] = -128 * sum;
            uint16_t dah;
            memcpy(&dah, &x->d, sizeof dah);
            dab[j] = _cvtsh_ss(dah);
        }
        for (int j = nc; j < 16; j++) { ncb[j] = ncb[0]; dab[j] = dab[0]; } /* the padding columns are column 0 */
    }
}

/* 16 rows x C columns (C even; the pack pk (columns p[c] = its col[c]), outputs y[c][0..15]) */
AI void q8_tile(int64_t n, const uint8_t *w, size_t bw, const void *pk, float *const *y, const int C) {
    const uint8_t *const *p = ((const struct q8pk_hdr *)pk)->col;
    const char *pkb = (const char *)pk + Q8PK_HDR;
    const int64_t nb = n / QK8_0;
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    const int b1 = (int)bw;
    const __m512i gidx = _mm512_setr_epi32(0, b1, 2 * b1, 3 * b1, 4 * b1, 5 * b1, 6 * b1, 7 * b1, 8 * b1, 9 * b1, 10 * b1,
                                           11 * b1, 12 * b1, 13 * b1, 14 * b1, 15 * b1);
    __m512 acc[16];
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
    const char *pfp = (const char *)w + Q8_R * bw;
    for (int64_t b = 0; b < nb; b++) {
        const size_t ob = (size_t)b * sizeof(block_q8_0);
#pragma GCC unroll 16
        for (int r = 0; r < Q8_R; r++) _mm_prefetch(pfp + r * bw + ob + 64, GDS_PF_HINT); /* next tile's rows, ahead */
        /* transpose: z pairs rows (r, r + 4), r in 0-3 and 8-11; wt[k] lane i = dword k of row i, + 128 per byte */
        __m512i z[8], a[8], t[8], wt[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            const int r = (i & 3) + (i & 4) * 2;
            const uint8_t *x0 = w + r * bw + ob + 2, *x1 = w + (r + 4) * bw + ob + 2;
            z[i] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x0)),
                                                       _mm256_loadu_si256((const __m256i *)x1), 1),
                                    x80);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i *zz = z + 4 * h, *aa = a + 4 * h, *tt = t + 4 * h;
            aa[0] = _mm512_unpacklo_epi32(zz[0], zz[1]); /* dwords 0,1 | 4,5 of rows r, r+1 */
            aa[1] = _mm512_unpackhi_epi32(zz[0], zz[1]); /* dwords 2,3 | 6,7 */
            aa[2] = _mm512_unpacklo_epi32(zz[2], zz[3]);
            aa[3] = _mm512_unpackhi_epi32(zz[2], zz[3]);
            tt[0] = _mm512_unpacklo_epi64(aa[0], aa[2]); /* lanes: dword 0 | 4 of rows 4 in a row */
            tt[1] = _mm512_unpackhi_epi64(aa[0], aa[2]); /* 1 | 5 */
            tt[2] = _mm512_unpacklo_epi64(aa[1], aa[3]); /* 2 | 6 */
            tt[3] = _mm512_unpackhi_epi64(aa[1], aa[3]); /* 3 | 7 */
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            wt[k] = _mm512_shuffle_i32x4(t[k], t[4 + k], _MM_SHUFFLE(2, 0, 2, 0));
            wt[4 + k] = _mm512_shuffle_i32x4(t[k], t[4 + k], _MM_SHUFFLE(3, 1, 3, 1));
        }
        /* dw of the 16 rows (the gather reads d and two qs bytes) */
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(gidx, (const void *)(w + ob), 1)));
        const int32_t *nc32 = (const int32_t *)(pkb + (size_t)b * 128);
        const float *da = (const float *)(nc32 + 16);
#pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            const uint8_t *qa = p[c] + ob;
            /* two chains (dwords 0, 2, 4, 6 and 1, 3, 5, 7): integer sums, exact in any order */
            __m512i s = _mm512_set1_epi32(nc32[c]), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int k = 0; k < 8; k += 2) {
                int32_t ak, ak1;
                memcpy(&ak, qa + 2 + 4 * k, sizeof ak);
                memcpy(&ak1, qa + 6 + 4 * k, sizeof ak1);
                s = _mm512_dpbusd_epi32(s, wt[k], _mm512_set1_epi32(ak));
                s1 = _mm512_dpbusd_epi32(s1, wt[k + 1], _mm512_set1_epi32(ak1));
            }
            s = _mm512_add_epi32(s, s1);
            const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(da[c]));
            acc[c] = _mm512_add_ps(acc[c], _mm512_mul_ps(_mm512_cvtepi32_ps(s), d));
        }
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; c++) _mm512_storeu_ps(y[c], acc[c]);
}

static void tile_q8_0(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    GDS_ASSERT(bw <= 0x7fffffff / 16); /* gather offsets (rows of < 128 MiB) */
    float yt[16][16];
    float *yy[16];
    const int C = nc <= 2 ? 2 : nc <= 4 ? 4 : nc <= 8 ? 8 : 16;
    for (int j = 0; j < C; j++) yy[j] = j < nc ? y[j] : yt[j]; /* the pack pads with column 0, results dropped */
    switch (C) {
    case 2: q8_tile(K, w, bw, a[0], yy, 2); break;
    case 4: q8_tile(K, w, bw, a[0], yy, 4); break;
    case 8: q8_tile(K, w, bw, a[0], yy, 8); break;
    default: q8_tile(K, w, bw, a[0], yy, 16); break;
    }
}

/* ---- F8 x prepared F8 (equals gds_cpu_dot4_f8p_avx512 per output) -------- */

/* 32 e4m3 codes -> fp16 bit patterns of e4m3 * 2^-8 (as quants-avx512.c) */
AI __m512i e4m3x32_ph(const uint8_t *c) {
    const __m512i h = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)c));
    return _mm512_and_si512(_mm512_slli_epi16(h, 7), _mm512_set1_epi16((short)0xBFFF));
}

/* 4 rows x 4 columns (prepared rows p[c]; outputs y[c][0..3]) */
static void tile_f8p(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const uint8_t *p[4];
    for (int j = 0; j < 4; j++) p[j] = a[j < nc ? j : 0]; /* pad with column 0, results dropped */
    const char *pfp = (const char *)w + 4 * bw;
    const __m512i bc = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps(); /* lane 4c + r */
    for (int64_t b = 0; b < K / QK_F8; b++) {
#pragma GCC unroll 9
        for (int j = 0; j < 9; j++) _mm_prefetch(pfp + 64 * j, GDS_PF_HINT);
        pfp += 4 * sizeof(block_f8);
        const size_t ob = (size_t)b * 576;
        __m512 l[16]; /* l[4r + c] */
        float swf[4];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const block_f8 *x = (const block_f8 *)((const char *)w + r * bw) + b;
            swf[r] = gds_e8m0_to_fp32(x->e);
            __m512 wv[8];
#pragma GCC unroll 4
            for (int h = 0; h < 4; h++) {
                const __m512i ph = e4m3x32_ph(x->qs + 32 * h);
                wv[2 * h] = _mm512_cvtph_ps(_mm512_castsi512_si256(ph));
                wv[2 * h + 1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(ph, 1));
            }
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const float *ap = (const float *)(p[c] + ob);
                __m512 s = _mm512_setzero_ps();
#pragma GCC unroll 8
                for (int h = 0; h < 8; h++) s = _mm512_fmadd_ps(wv[h], _mm512_load_ps(ap + 16 * h), s); /* exact products */
                l[4 * r + c] = s;
            }
        }
        const __m512 pp = reduce16x16(l, false); /* element 4j + k = sum of l[4k + j]: lane 4c + r */
        float saf[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) memcpy(&saf[c], p[c] + ob + 4 * QK_F8, sizeof(float));
        const __m512 sw = _mm512_broadcast_f32x4(_mm_loadu_ps(swf));
        const __m512 sa = _mm512_permutexvar_ps(bc, _mm512_castps128_ps512(_mm_loadu_ps(saf)));
        acc = _mm512_add_ps(acc, _mm512_mul_ps(pp, _mm512_mul_ps(sw, sa)));
    }
    __attribute__((aligned(64))) float o[16];
    _mm512_store_ps(o, acc);
    for (int c = 0; c < nc; c++) memcpy(y[c], o + 4 * c, 4 * sizeof(float));
}

/* ---- BF16 x BF16 (equals dot_bf16_avx512 per output) --------------------- */

AI __m512 bf16x16_ps(const gds_bf16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* Pack (once per group of up to 16 columns): the columns as fp32, [K/16][16
 * columns][16], absent columns zero, and the range of their nonzero
 * magnitudes (bits & 0x7fff: exponent field in bits 7-14) for the exactness
 * test below; the header keeps the column pointers for the K % 16 tail. */
#define BFPK_HDR 192
struct bfpk_hdr {
    int32_t nc;
    uint32_t amin, amax; /* min / max |bits| over the nonzero packed values (amin 0x10000: none) */
    const gds_bf16_t *col[16];
};

static size_t bf16_pack_size(int64_t K) { return BFPK_HDR + (size_t)(K / 16) * 1024; }

/* BF16 weights: the pack also holds the columns as bf16 pairs for
 * vdpbf16ps, after the fp32 part: [K/32][16 columns][32 bf16], where
 * element 2l+1 of a 32-block is a[32m+l] and element 2l is a[32m+16+l].
 * vdpbf16ps lane l computes acc = (acc + x[2l+1] * y[2l+1]) + x[2l] * y[2l],
 * two additions rounded to nearest in that order (the odd pair first: the
 * Intel SDM's definition; measured on Zen 4: 3.2M random lanes, all equal to
 * odd-first, 9 % differ from even-first), so with the weights permuted the
 * same way (bf16_pair) lane l adds w*a for elements 32m+l, then 32m+16+l:
 * the 16-lane fma chain of dot_bf16_avx512 (element 16kb+l in kb order), if
 * every product is exact and no operand, product or sum is subnormal
 * (vdpbf16ps treats those as zero): dp_exact below. */
static size_t bf16_pack2_size(int64_t K) { return bf16_pack_size(K) + (size_t)(K / 32) * 1024; }

AI __m512i bf16_pair_idx(void) { return _mm512_loadu_si512(gds_bf16_pair16); }

/* min over the nonzero magnitudes (mn holds |bits| - 1, zero -> 0xffff) and max, as u32 */
static void bf16_range(__m256i mn, __m256i mx, uint32_t *lo, uint32_t *hi) {
    uint16_t a[16], b[16];
    _mm256_storeu_si256((__m256i *)a, mn);
    _mm256_storeu_si256((__m256i *)b, mx);
    uint32_t l = 0xffff, h = 0;
    for (int i = 0; i < 16; i++) { l = a[i] < l ? a[i] : l; h = b[i] > h ? b[i] : h; }
    *lo = l + 1; /* 0x10000: no nonzero value */
    *hi = h;
}

/* magnitude range step: mn = minu(mn, |v| - 1), mx = maxu(mx, |v|) */
AI void bf16_range_step(__m256i v, __m256i *mn, __m256i *mx) {
    const __m256i m = _mm256_and_si256(v, _mm256_set1_epi16(0x7fff));
    *mn = _mm256_min_epu16(*mn, _mm256_sub_epi16(m, _mm256_set1_epi16(1)));
    *mx = _mm256_max_epu16(*mx, m);
}

static void bf16_pack(int64_t K, const void *const *a, int nc, void *buf) {
    struct bfpk_hdr *h = buf;
    float *pk = (float *)((char *)buf + BFPK_HDR);
    const int64_t nkb = K / 16;
    h->nc = nc;
    for (int j = 0; j < 16; j++) h->col[j] = j < nc ? (const gds_bf16_t *)a[j] : NULL;
    __m256i mn = _mm256_set1_epi16(-1), mx = _mm256_setzero_si256();
    for (int j = 0; j < 16; j++) {
        const gds_bf16_t *x = h->col[j];
        for (int64_t kb = 0; kb < nkb; kb++) {
            float *d = pk + (kb * 16 + j) * 16;
            if (!x) { _mm512_store_ps(d, _mm512_setzero_ps()); continue; }
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + 16 * kb));
            bf16_range_step(v, &mn, &mx);
            _mm512_store_ps(d, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16)));
        }
    }
    bf16_range(mn, mx, &h->amin, &h->amax);
}

static void bf16_pack2(int64_t K, const void *const *a, int nc, void *buf) {
    bf16_pack(K, a, nc, buf);
    const struct bfpk_hdr *h = buf;
    uint16_t *pk2 = (uint16_t *)((char *)buf + bf16_pack_size(K));
    const __m512i idx = bf16_pair_idx();
    for (int j = 0; j < 16; j++)
        for (int64_t m = 0; m < K / 32; m++) {
            const __m512i v = h->col[j] ? _mm512_permutexvar_epi16(idx, _mm512_loadu_si512(h->col[j] + 32 * m)) : _mm512_setzero_si512();
            _mm512_store_si512(pk2 + (m * 16 + j) * 32, v);
        }
}

/* canonical 16-lane reduction of one vector (quants.c reduce16) */
AI float bf16_red16(__m512 v) {
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* weights of the 4 rows: BF16 rows, or F8_E4M3_B128 rows decoded as
 * gds_cpu_dot4_f8bf16_avx512 does (e4m3 * 2^-8 via fp16, times sc * 256 for
 * scale bytes e <= 246, else times 256 then sc) */
struct wrows {
    const void *x[4];
    bool f8;
};

AI __m512 f8x16_ps(const uint8_t *c) {
    const __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)c));
    return _mm512_cvtph_ps(_mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16((short)0xBFFF)));
}

/* 4 rows x C packed columns c0.. over the K16 part: per lane acc = acc + w * a
 * in element order (the mat-vec's lanes); F: as one fma, which rounds once
 * where mul-then-add rounds twice - the same bits when every product is exact
 * in fp32 (the caller's test) */
AI void wt_sub(const struct wrows *wr, const float *pk, int64_t nkb, int c0, float (*out)[6], const int C, const bool F, const bool F8,
            const char *pf, size_t pbw) {
    __m512 l[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 6
        for (int c = 0; c < C; c++) l[r][c] = _mm512_setzero_ps();
    __m512 m1[4], m2[4];
    bool two[4] = { false, false, false, false };
    for (int r = 0; r < 4; r++) m1[r] = m2[r] = _mm512_setzero_ps();
    for (int64_t kb = 0; kb < nkb; kb++) {
        if (F8 && kb % (QK_F8 / 16) == 0)
            for (int r = 0; r < 4; r++) {
                const uint8_t e = ((const block_f8 *)wr->x[r])[kb / (QK_F8 / 16)].e;
                const float sc = gds_e8m0_to_fp32(e);
                two[r] = e > 246;
                m1[r] = _mm512_set1_ps(two[r] ? 256.0f : sc * 256.0f);
                m2[r] = _mm512_set1_ps(sc);
            }
        if (pf && !(kb & 1))
            for (int r = 0; r < 4; r++) _mm_prefetch(pf + r * pbw + 32 * kb, GDS_PF_HINT);
        const float *p = pk + (kb * 16 + c0) * 16;
        __m512 av[6];
#pragma GCC unroll 6
        for (int c = 0; c < C; c++) av[c] = _mm512_load_ps(p + 16 * c);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 wv;
            if (F8) {
                wv = _mm512_mul_ps(f8x16_ps(((const block_f8 *)wr->x[r])[kb / (QK_F8 / 16)].qs + 16 * (kb % (QK_F8 / 16))), m1[r]);
                if (two[r]) wv = _mm512_mul_ps(wv, m2[r]);
            } else {
                wv = bf16x16_ps((const gds_bf16_t *)wr->x[r] + 16 * kb);
            }
#pragma GCC unroll 6
            for (int c = 0; c < C; c++)
                l[r][c] = F ? _mm512_fmadd_ps(wv, av[c], l[r][c]) : _mm512_add_ps(l[r][c], _mm512_mul_ps(wv, av[c]));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 6
        for (int c = 0; c < C; c++) out[r][c] = bf16_red16(l[r][c]);
}

#define WT_COLS(NAME, F8)                                                                                             \
    static void NAME(const struct wrows *wr, const float *pk, int64_t nkb, int c0, float (*out)[6], int C, bool F,   \
                     const char *pf, size_t pbw) {                                                                    \
        if (F) {                                                                                                      \
            if (C == 6) wt_sub(wr, pk, nkb, c0, out, 6, true, F8, pf, pbw);                                           \
            else if (C == 4) wt_sub(wr, pk, nkb, c0, out, 4, true, F8, pf, pbw);                                      \
            else wt_sub(wr, pk, nkb, c0, out, 2, true, F8, pf, pbw);                                                  \
        } else {                                                                                                      \
            if (C == 6) wt_sub(wr, pk, nkb, c0, out, 6, false, F8, pf, pbw);                                          \
            else if (C == 4) wt_sub(wr, pk, nkb, c0, out, 4, false, F8, pf, pbw);                                     \
            else wt_sub(wr, pk, nkb, c0, out, 2, false, F8, pf, pbw);                                                 \
        }                                                                                                             \
    }
WT_COLS(bf16_cols, false)
WT_COLS(f8bf_cols, true)
#undef WT_COLS

/* 4 BF16 rows x C columns by vdpbf16ps over the 32-blocks (pack2), the last
 * 16-block of an odd K/16 by fma (the fp32 pack); the same lanes as wt_sub's
 * fma form when dp_exact holds */
AI void dp_sub(const gds_bf16_t *const *x, const uint16_t *pk2, const float *pk, int64_t nkb, int c0, float (*out)[6], const int C,
            const char *pf, size_t pbw) {
    __m512 l[4][6];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 6
        for (int c = 0; c < C; c++) l[r][c] = _mm512_setzero_ps();
    const __m512i idx = bf16_pair_idx();
    for (int64_t m = 0; m < nkb / 2; m++) {
        if (pf)
            for (int r = 0; r < 4; r++) _mm_prefetch(pf + r * pbw + 64 * m, GDS_PF_HINT);
        const uint16_t *p = pk2 + (m * 16 + c0) * 32;
        __m512bh av[6];
#pragma GCC unroll 6
        for (int c = 0; c < C; c++) av[c] = (__m512bh)_mm512_load_si512(p + 32 * c);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512bh wv = (__m512bh)_mm512_permutexvar_epi16(idx, _mm512_loadu_si512(x[r] + 32 * m));
#pragma GCC unroll 6
            for (int c = 0; c < C; c++) l[r][c] = _mm512_dpbf16_ps(l[r][c], wv, av[c]);
        }
    }
    if (nkb & 1) {
        const int64_t kb = nkb - 1;
        const float *p = pk + (kb * 16 + c0) * 16;
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const __m512 wv = bf16x16_ps(x[r] + 16 * kb);
#pragma GCC unroll 6
            for (int c = 0; c < C; c++) l[r][c] = _mm512_fmadd_ps(wv, _mm512_load_ps(p + 16 * c), l[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 6
        for (int c = 0; c < C; c++) out[r][c] = bf16_red16(l[r][c]);
}

static void dp_cols(const gds_bf16_t *const *x, const uint16_t *pk2, const float *pk, int64_t nkb, int c0, float (*out)[6], int C,
                    const char *pf, size_t pbw) {
    if (C == 6) dp_sub(x, pk2, pk, nkb, c0, out, 6, pf, pbw);
    else if (C == 4) dp_sub(x, pk2, pk, nkb, c0, out, 4, pf, pbw);
    else dp_sub(x, pk2, pk, nkb, c0, out, 2, pf, pbw);
}

/* vdpbf16ps gives the fma chain's bits (see bf16_pack2) when no operand is
 * zero-exponent (subnormal: read as zero), infinite or NaN (exponent fields
 * in [1, 254] for the nonzero magnitudes of the rows and the columns) and
 * every nonzero product and partial sum is at least 2^-126 in magnitude: a
 * bf16 with exponent field E is a multiple of 2^(E-134), so every product,
 * and then every sum, is a multiple of 2^(Ew+Ea-268), which is >= 2^-126
 * when Ew + Ea >= 142; and no product overflows (Ew + Ea <= 380, as the fma
 * test). Both zero ranges (no nonzero weight or column value): all products
 * zero, the fma form. */
static bool dp_exact(uint32_t wmin, uint32_t wmax, const struct bfpk_hdr *h) {
    if (wmin > 0xffff || h->amin > 0xffff) return false;
    const int ewmin = (int)(wmin >> 7), ewmax = (int)(wmax >> 7), eamin = (int)(h->amin >> 7), eamax = (int)(h->amax >> 7);
    return ewmin >= 1 && eamin >= 1 && ewmax <= 254 && eamax <= 254 && ewmin + eamin >= 142 && ewmax + eamax <= 380;
}

/* the fma test (see tile_bf16) from the weights' exponent-field range [ewmin, ewmax] and the pack's */
static bool wt_fma_exact(int ewmin, int ewmax, const struct bfpk_hdr *h) {
    const int eamax = (int)(h->amax >> 7), eamin = (int)(h->amin >> 7) > 1 ? (int)(h->amin >> 7) : 1;
    return ewmin >= 1 && ewmin + eamin >= 119 && ewmax + eamax <= 380;
}

/* 4 rows x up to 16 packed columns (sub-blocks of 6, 4 or 2, padded with the
 * pack's zero columns; results of padding dropped). Exactness test for the
 * fma form: a bf16 product w * a (8-bit significands) is exact in fp32 unless
 * it under- or overflows. With E the exponent field (a's subnormals as 1, which
 * has the same ulp), it is exact if Ew + Ea >= 119 (ulp of the product >=
 * 2^-149) and Ew + Ea <= 380 (|w * a| < 2^128). Tested on the extreme nonzero
 * magnitudes of these 4 weight rows and of the packed columns; zero, infinite
 * or NaN operands give the same result either way; a subnormal weight takes
 * mul-then-add. A 16-row tile with K in L1-sized chunks (the pack read from
 * L2 once per 16 rows instead of per 4) and a variant converting the rows to
 * fp32 once per call were tried (c94f718, a984ebb): on the device CPU,
 * test-ops perf bf16 x[4096,512] 16 threads, 820 / 1040 GFLOP/s against 1043
 * for this tile in the same call: no gain, reverted. */
static void tile_bf16(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const struct bfpk_hdr *h = a[0];
    const float *pk = (const float *)((const char *)a[0] + BFPK_HDR);
    const int64_t K16 = K & ~(int64_t)15, nkb = K / 16;
    const gds_bf16_t *x[4];
    struct wrows wr = { .f8 = false };
    for (int r = 0; r < 4; r++) wr.x[r] = x[r] = (const gds_bf16_t *)((const char *)w + r * bw);
    __m256i mn = _mm256_set1_epi16(-1), mx = _mm256_setzero_si256();
    /* the next 4 rows (the caller's next tile, contiguous rows) are
     * prefetched along the first column block's pass, a line per 2 blocks of
     * 16 (the mat-vec kernels prefetch the same way), so that memory stays
     * busy while the tile computes (prefetched in this range pass instead,
     * they came in a burst and nothing was in flight during the compute) */
    const char *pf = (const char *)w + 4 * bw;
    /* the range: 32 values per step */
    {
        __m512i mn2 = _mm512_set1_epi16(-1), mx2 = _mm512_setzero_si512();
        const __m512i m7f = _mm512_set1_epi16(0x7fff), one = _mm512_set1_epi16(1);
        for (int r = 0; r < 4; r++) {
            int64_t kb = 0;
            for (; kb + 2 <= nkb; kb += 2) {
                const __m512i m = _mm512_and_si512(_mm512_loadu_si512(x[r] + 16 * kb), m7f);
                mn2 = _mm512_min_epu16(mn2, _mm512_sub_epi16(m, one));
                mx2 = _mm512_max_epu16(mx2, m);
            }
            for (; kb < nkb; kb++) bf16_range_step(_mm256_loadu_si256((const __m256i *)(x[r] + 16 * kb)), &mn, &mx);
        }
        mn = _mm256_min_epu16(mn, _mm256_min_epu16(_mm512_castsi512_si256(mn2), _mm512_extracti64x4_epi64(mn2, 1)));
        mx = _mm256_max_epu16(mx, _mm256_max_epu16(_mm512_castsi512_si256(mx2), _mm512_extracti64x4_epi64(mx2, 1)));
    }
    uint32_t wmin, wmax;
    bf16_range(mn, mx, &wmin, &wmax);
    const bool fma = wmin > 0xffff || h->amin > 0xffff /* all products zero */ || wt_fma_exact((int)(wmin >> 7), (int)(wmax >> 7), h);
    const bool dp = bf16_dp && dp_exact(wmin, wmax, h);
    const uint16_t *pk2 = (const uint16_t *)((const char *)a[0] + bf16_pack_size(K));
    for (int c0 = 0; c0 < nc;) {
        const int C = nc - c0 > 4 ? 6 : nc - c0 > 2 ? 4 : 2;
        float out[4][6];
        if (dp) dp_cols(x, pk2, pk, nkb, c0, out, C, c0 ? NULL : pf, bw);
        else bf16_cols(&wr, pk, nkb, c0, out, C, fma, c0 ? NULL : pf, bw);
        for (int c = c0; c < c0 + C && c < nc; c++)
            for (int r = 0; r < 4; r++) {
                float sum = out[r][c - c0];
                for (int64_t kk = K16; kk < K; kk++) {
                    float pr = gds_bf16_to_fp32(x[r][kk]) * gds_bf16_to_fp32(h->col[c][kk]);
                    sum = sum + pr;
                }
                y[c][r] = sum;
            }
        c0 += C;
    }
}

/* F8_E4M3_B128 x bf16 rows (GDS_MM_ACT_BF16; equals gds_cpu_dot4_f8bf16_avx512
 * per output): the BF16 tile's lanes and packs with weights decoded as the
 * mat-vec decodes them. A nonzero weight is |e4m3| * 2^(e-127) with |e4m3| in
 * [2^-9, 448], so its exponent field lies in [e - 9, e + 8]: the fma test
 * takes that range over the 4 rows' scale bytes (4 significant bits, so the
 * 8-bit bound of the test is conservative). K is a multiple of 128. */
static void tile_f8bf16(int64_t K, const void *w, size_t bw, const void *const *a, float *const *y, int nc) {
    const struct bfpk_hdr *h = a[0];
    const float *pk = (const float *)((const char *)a[0] + BFPK_HDR);
    const int64_t nkb = K / 16, nb = K / QK_F8;
    struct wrows wr = { .f8 = true };
    int emin = 255, emax = 0;
    for (int r = 0; r < 4; r++) {
        const block_f8 *x = (const block_f8 *)((const char *)w + r * bw);
        wr.x[r] = x;
        for (int64_t b = 0; b < nb; b++) {
            emin = x[b].e < emin ? x[b].e : emin;
            emax = x[b].e > emax ? x[b].e : emax;
        }
    }
    const bool fma = h->amin > 0xffff || wt_fma_exact(emin - 9, emax + 8, h);
    for (int c0 = 0; c0 < nc;) {
        const int C = nc - c0 > 4 ? 6 : nc - c0 > 2 ? 4 : 2;
        float out[4][6];
        f8bf_cols(&wr, pk, nkb, c0, out, C, fma, NULL, 0);
        for (int c = c0; c < c0 + C && c < nc; c++)
            for (int r = 0; r < 4; r++) y[c][r] = out[r][c - c0];
        c0 += C;
    }
}

/* ---- table --------------------------------------------------------------- */

int gds_cpu_tiles_avx512(struct gds_cpu_tile *tab);
int gds_cpu_tiles_avx512(struct gds_cpu_tile *tab) {
    int n = 0;
    tab[GDS_TYPE_MXFP4] = (struct gds_cpu_tile){ tile_mxfp4b, MXFP4_R, 16, true, NULL, NULL }; n++;
    tab[GDS_TYPE_Q8_0] = (struct gds_cpu_tile){ tile_q8_0, Q8_R, 16, false, q8_pack_size, q8_pack }; n++;
    tab[GDS_TYPE_F8_E4M3_B128] = (struct gds_cpu_tile){ tile_f8p, 4, 4, true, NULL, NULL }; n++;
    const char *e = getenv("GDS_BF16_DP");
    bf16_dp = !(e && !strcmp(e, "0"));
    tab[GDS_TYPE_BF16] = (struct gds_cpu_tile){ tile_bf16, 4, 16, false, bf16_pack2_size, bf16_pack2 }; n++;
    return n;
}

/* GDS_MM_ACT_BF16 tiles (tiles.c: F8 weights with bf16 activation rows) */
int gds_cpu_tiles_act_bf16_avx512(struct gds_cpu_tile *tab);
int gds_cpu_tiles_act_bf16_avx512(struct gds_cpu_tile *tab) {
    tab[GDS_TYPE_F8_E4M3_B128] = (struct gds_cpu_tile){ tile_f8bf16, 4, 16, false, bf16_pack_size, bf16_pack };
    return 1;
}
