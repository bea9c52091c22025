/*
 * ops-attn.c - CPU kernels of the attention family: COMPRESS (compressor
 * pooling, spec 4.7), INDEXER (lightning indexer scores, spec 4.8) and ATTN
 * (sparse attention with sinks, spec 4.9).
 *
 * Invariants:
 * - Every output element is computed by exactly one thread, in an order that
 *   depends only on the op's shapes, never on nth: results are bit-identical for
 *   any thread count. Work units: COMPRESS (window, channel) elements in
 *   contiguous chunks; INDEXER (key block of 32, token chunk of 8) units dealt
 *   round robin, token-chunk major; ATTN (token, group of <= 4 heads, <= 16 for compact kv) units
 *   in contiguous chunks.
 *   The group size may depend on nth, but a head's arithmetic never depends on
 *   which heads share its unit (scalar and SIMD alike).
 * - The scalar code is the reference. SIMD variants of the hot loops (q.k dots,
 *   PV accumulation, the indexer key block) live in ops-attn-{avx2,avx512,neon}.c
 *   and are picked by p->simd; they differ from scalar only by float
 *   reassociation / fused multiply-add inside a dot product. The per-head,
 *   per-key structure (online softmax in blocks of 64 keys in list order, bf16
 *   rounding points) is shared code below, identical for every SIMD level.
 * - Inputs may be strided (nb[1..3]); outputs are contiguous F32.
 * - Compact sources (spec 5.2): ATTN's kv may be KV_E4M3_B64 and INDEXER's kI
 *   MXFP4. Their rows are decoded to their exact f32 values into the thread's
 *   scratch (ATTN: each 64-key block once per unit, units of up to 16 heads;
 *   INDEXER: straight into the transposed key block, by SIMD decoders on AVX2
 *   (also used at the AVX-512 level) and NEON), then the F32 code path runs on
 *   them unchanged, so results are bit-identical to F32 storage of the same values.
 */
#include "cpu.h"

#include <math.h>

/* ---------------------------------------------------------------------------
 * SIMD hooks. All take only valid (non-NULL) key rows, in list order.
 *   qk: s[h*64 + j] = scale * dot(q + h*qs, k[j], n)          h < nh, j < nk
 *   pv: acc_h = acc_h*alpha[h] + sum_j p[h*64 + j] * k[j]      (acc [nh][n])
 *   idx: indexer scores of one key block, see gds_cpu_idx_block_scalar
 *   hc:  y[t] = dot(w, v_t) for the HC_COMB mix (see ops-hc.c)
 * ------------------------------------------------------------------------- */

#define GDS_ATTN_BLK 64 /* keys per online-softmax block (spec 4.9) */
#define GDS_ATTN_G   4  /* heads per work unit (F32 kv) */
#define GDS_ATTN_GQ  16 /* heads per work unit (compact kv: each decoded key serves more heads) */
#define GDS_IDX_KB   32 /* keys per indexer block */
#define GDS_IDX_TC   8  /* tokens per indexer unit */

typedef void (*gds_attn_qk_fn)(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k,
                               float scale, float *s);
typedef void (*gds_attn_pv_fn)(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k,
                               const float *p);
/* indexer: kt [dI][32] (keys transposed), q [nh][dI] (head stride qs), w [nh];
 * sc[l] = bf16(sum_h bf16(relu(bf16(q_h . kt[:, l])) * w_h)) for l < 32 */
typedef void (*gds_idx_block_fn)(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws,
                                 const float *kt, float *sc);
/* kv: one KV_E4M3_B64 block (584 bytes) -> its 512 exact f32 values */
typedef void (*gds_kv_dec_fn)(const uint8_t *blk, float *y);

#if defined(__x86_64__)
void gds_cpu_attn_qk_avx2(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s);
void gds_cpu_attn_pv_avx2(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k, const float *p);
void gds_cpu_idx_block_avx2(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt, float *sc);
void gds_cpu_idx_kt_mxfp4_avx2(int64_t dI, const void *const *rows, float *kt);
void gds_cpu_kv_dec_avx2(const uint8_t *blk, float *y);
void gds_cpu_attn_qk_avx512(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s);
void gds_cpu_attn_pv_avx512(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k, const float *p);
void gds_cpu_idx_block_avx512(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt, float *sc);
void gds_cpu_kv_dec_avx512(const uint8_t *blk, float *y);
#endif
#if defined(__aarch64__)
void gds_cpu_attn_qk_neon(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k, float scale, float *s);
void gds_cpu_attn_pv_neon(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k, const float *p);
void gds_cpu_idx_block_neon(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws, const float *kt, float *sc);
void gds_cpu_idx_kt_mxfp4_neon(int64_t dI, const void *const *rows, float *kt);
void gds_cpu_kv_dec_neon(const uint8_t *blk, float *y);
#endif

static void gds_cpu_attn_qk_scalar(int64_t n, int nh, const float *q, int64_t qs, int nk, const float *const *k,
                                   float scale, float *s) {
    for (int h = 0; h < nh; h++) {
        const float *qh = q + h * qs;
        for (int j = 0; j < nk; j++) {
            const float *kj = k[j];
            float acc = 0.0f;
            for (int64_t i = 0; i < n; i++) acc += qh[i] * kj[i];
            s[h * GDS_ATTN_BLK + j] = acc * scale;
        }
    }
}

static void gds_cpu_attn_pv_scalar(int64_t n, int nh, float *acc, const float *alpha, int nk, const float *const *k,
                                   const float *p) {
    for (int h = 0; h < nh; h++) {
        float *a = acc + h * n;
        const float al = alpha[h];
        for (int64_t i = 0; i < n; i++) a[i] *= al;
        for (int j = 0; j < nk; j++) {
            const float pj = p[h * GDS_ATTN_BLK + j];
            const float *kj = k[j];
            for (int64_t i = 0; i < n; i++) a[i] += pj * kj[i];
        }
    }
}

static void gds_cpu_idx_block_scalar(int64_t dI, int nh, const float *q, int64_t qs, const float *w, int64_t ws,
                                     const float *kt, float *sc) {
    float tot[GDS_IDX_KB];
    for (int l = 0; l < GDS_IDX_KB; l++) tot[l] = 0.0f;
    for (int h = 0; h < nh; h++) {
        const float *qh = q + h * qs;
        const float wh = w[h * ws];
        float d[GDS_IDX_KB];
        for (int l = 0; l < GDS_IDX_KB; l++) d[l] = 0.0f;
        for (int64_t i = 0; i < dI; i++) {
            const float qi = qh[i];
            const float *kr = kt + i * GDS_IDX_KB;
            for (int l = 0; l < GDS_IDX_KB; l++) d[l] += qi * kr[l];
        }
        for (int l = 0; l < GDS_IDX_KB; l++) {
            float v = gds_round_bf16(d[l]);
            v = v > 0.0f ? v : 0.0f;
            tot[l] += gds_round_bf16(v * wh);
        }
    }
    for (int l = 0; l < GDS_IDX_KB; l++) sc[l] = gds_round_bf16(tot[l]);
}

static void gds_cpu_kv_dec_scalar(const uint8_t *blk, float *y) {
    gds_type_traits(GDS_TYPE_KV_E4M3_B64)->to_float(blk, y, GDS_KV_E4M3_B64_NE);
}

struct gds_attn_simd {
    gds_attn_qk_fn qk;
    gds_attn_pv_fn pv;
    gds_idx_block_fn idx;
    gds_kv_dec_fn kv_dec;
};

static struct gds_attn_simd gds_attn_simd_get(enum gds_cpu_simd simd) {
    struct gds_attn_simd r = { gds_cpu_attn_qk_scalar, gds_cpu_attn_pv_scalar, gds_cpu_idx_block_scalar, gds_cpu_kv_dec_scalar };
#if defined(__x86_64__)
    if (simd == GDS_SIMD_AVX2) {
        r.qk = gds_cpu_attn_qk_avx2; r.pv = gds_cpu_attn_pv_avx2; r.idx = gds_cpu_idx_block_avx2; r.kv_dec = gds_cpu_kv_dec_avx2;
    } else if (gds_cpu_simd_is_avx512(simd)) {
        r.qk = gds_cpu_attn_qk_avx512; r.pv = gds_cpu_attn_pv_avx512; r.idx = gds_cpu_idx_block_avx512; r.kv_dec = gds_cpu_kv_dec_avx512;
    }
#elif defined(__aarch64__)
    if (simd == GDS_SIMD_NEON) {
        r.qk = gds_cpu_attn_qk_neon; r.pv = gds_cpu_attn_pv_neon; r.idx = gds_cpu_idx_block_neon; r.kv_dec = gds_cpu_kv_dec_neon;
    }
#endif
    return r;
}

/* ---------------------------------------------------------------------------
 * COMPRESS: k, z [c*d, m, W'] -> y [d, W'] (c = 1) or [d, W'-1] (c = 2).
 * Slot order of an overlapping entry w: lane A tokens 0..m-1 of window w, then
 * lane B tokens 0..m-1 of window w+1. alpha = exp(z - max) / sum, e = sum alpha*k
 * in slot order. Slots with z = -inf are skipped (absent); all absent: 0.
 * ------------------------------------------------------------------------- */

#define GDS_COMP_CB 64 /* channels per inner block */

void gds_cpu_op_compress(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *k = dst->src[0];
    const struct gds_tensor *z = dst->src[1];
    const bool overlap = gds_get_op_param_i32(dst, GDS_P_COMP_OVERLAP) != 0;
    const int64_t d = dst->ne[0];
    const int64_t nw = dst->ne[1];
    const int64_t m = k->ne[1];
    const int nlane = overlap ? 2 : 1;

    int64_t e0, e1;
    gds_cpu_split(d * nw, p->ith, p->nth, &e0, &e1);

    for (int64_t e = e0; e < e1;) {
        const int64_t w = e / d;
        const int64_t j0 = e % d;
        int64_t nj = d - j0;
        if (nj > e1 - e) nj = e1 - e;
        if (nj > GDS_COMP_CB) nj = GDS_COMP_CB;

        float mx[GDS_COMP_CB], sum[GDS_COMP_CB], acc[GDS_COMP_CB];
        for (int64_t c = 0; c < nj; c++) { mx[c] = -INFINITY; sum[c] = 0.0f; acc[c] = 0.0f; }

        /* lane L: window w + L, channel offset L*d */
        for (int pass = 0; pass < 3; pass++) {
            for (int L = 0; L < nlane; L++) {
                const int64_t win = w + L, coff = L * d + j0;
                for (int64_t t = 0; t < m; t++) {
                    const float *zr = (const float *)((const char *)z->data + t * z->nb[1] + win * z->nb[2]) + coff;
                    const float *kr = (const float *)((const char *)k->data + t * k->nb[1] + win * k->nb[2]) + coff;
                    for (int64_t c = 0; c < nj; c++) {
                        const float zv = zr[c];
                        if (zv == -INFINITY) continue;
                        if (pass == 0) {
                            mx[c] = zv > mx[c] ? zv : mx[c];
                        } else if (pass == 1) {
                            sum[c] += expf(zv - mx[c]);
                        } else {
                            acc[c] += (expf(zv - mx[c]) / sum[c]) * kr[c];
                        }
                    }
                }
            }
        }
        float *y = (float *)((char *)dst->data + w * dst->nb[1]) + j0;
        for (int64_t c = 0; c < nj; c++) y[c] = acc[c];
        e += nj;
    }
}

/* ---------------------------------------------------------------------------
 * INDEXER: q [dI, nh, T], kI [dI, S], w [nh, T], pos I32 [T] -> sc [S, T].
 * Units: (key block sb of 32, token chunk tc of 8), enumerated tc-major, dealt
 * round robin (u % nth == ith) so the causal triangle spreads evenly; a thread's
 * consecutive units share their token chunk, whose q rows (8 x nh x dI floats)
 * stay in L2 instead of being streamed again for every key block (prefill). Each unit
 * transposes its key block into the thread's scratch (kt [dI][32]).
 * ------------------------------------------------------------------------- */

/* MXFP4 key block -> kt [dI][32] (rows[l], 32 rows; a row of zero blocks pads a
 * short block) through a per-block table of d * value: the same product as the
 * type's to_float (bit-identical), without a multiply per value */
typedef void (*gds_idx_kt_fn)(int64_t dI, const void *const *rows, float *kt);

static void gds_idx_kt_mxfp4_scalar(int64_t dI, const void *const *rows, float *kt) {
    for (int l = 0; l < GDS_IDX_KB; l++) {
        const block_mxfp4 *b = rows[l];
        for (int64_t i = 0; i < dI / QK_MXFP4; i++) {
            const float d = gds_e8m0_to_fp32_half(b[i].e);
            float lut[16];
            for (int k = 0; k < 16; k++) lut[k] = d * (float)gds_kvalues_mxfp4[k];
            float *y = kt + i * QK_MXFP4 * GDS_IDX_KB + l;
            for (int j = 0; j < QK_MXFP4 / 2; j++) {
                y[j * GDS_IDX_KB] = lut[b[i].qs[j] & 0x0f];
                y[(j + QK_MXFP4 / 2) * GDS_IDX_KB] = lut[b[i].qs[j] >> 4];
            }
        }
    }
}

static size_t gds_idx_scratch_per_thread(int64_t dI) {
    return GDS_PAD((size_t)dI * GDS_IDX_KB * sizeof(float), 64)
         + GDS_PAD((size_t)(dI / QK_MXFP4) * sizeof(block_mxfp4), 64); /* zero key row */
}

size_t gds_cpu_work_indexer(const struct gds_tensor *dst, int nth) {
    const struct gds_tensor *q = dst->src[0];
    return (size_t)nth * gds_idx_scratch_per_thread(q->ne[0]);
}

void gds_cpu_op_indexer(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *q = dst->src[0];
    const struct gds_tensor *kI = dst->src[1];
    const struct gds_tensor *w = dst->src[2];
    const struct gds_tensor *pos = dst->src[3];
    const int ratio = gds_get_op_param_i32(dst, GDS_P_IDX_RATIO);
    const int64_t dI = q->ne[0], nh = q->ne[1], T = q->ne[2];
    const int64_t S = kI->ne[1];
    const struct gds_attn_simd fn = gds_attn_simd_get(p->simd);

    GDS_ASSERT(p->wsize >= (size_t)p->nth * gds_idx_scratch_per_thread(dI));
    float *kt = (float *)((char *)p->wdata + (size_t)p->ith * gds_idx_scratch_per_thread(dI));
    GDS_ASSERT(kI->type == GDS_TYPE_F32 || kI->type == GDS_TYPE_MXFP4);
    const bool mx = kI->type == GDS_TYPE_MXFP4;
    void *zrow = (char *)kt + GDS_PAD((size_t)dI * GDS_IDX_KB * sizeof(float), 64);
    gds_idx_kt_fn ktf = gds_idx_kt_mxfp4_scalar;
#if defined(__x86_64__)
    /* exact decode: any level's values are the same; AVX-512 machines have AVX2 */
    if (p->simd == GDS_SIMD_AVX2 || gds_cpu_simd_is_avx512(p->simd)) ktf = gds_cpu_idx_kt_mxfp4_avx2;
#elif defined(__aarch64__)
    if (p->simd == GDS_SIMD_NEON) ktf = gds_cpu_idx_kt_mxfp4_neon;
#endif
    if (mx) memset(zrow, 0, (size_t)(dI / QK_MXFP4) * sizeof(block_mxfp4));

    const int64_t nsb = (S + GDS_IDX_KB - 1) / GDS_IDX_KB;
    const int64_t ntc = (T + GDS_IDX_TC - 1) / GDS_IDX_TC;
    const int64_t nu = nsb * ntc;

    for (int64_t u = p->ith; u < nu; u += p->nth) {
        const int64_t tc = u / nsb, sb = u % nsb; /* token-chunk major: a thread keeps its q chunk in cache */
        const int64_t s0 = sb * GDS_IDX_KB;
        const int64_t ns = S - s0 < GDS_IDX_KB ? S - s0 : GDS_IDX_KB;
        const int64_t t0 = tc * GDS_IDX_TC;
        const int64_t t1 = t0 + GDS_IDX_TC < T ? t0 + GDS_IDX_TC : T;
        bool have_kt = false;

        for (int64_t t = t0; t < t1; t++) {
            const int32_t pt = *(const int32_t *)((const char *)pos->data + t * pos->nb[0]);
            const int64_t vis = ratio > 0 ? ((int64_t)pt + 1) / ratio : 0;
            float *y = (float *)((char *)dst->data + t * dst->nb[1]) + s0;
            if (vis <= s0) {
                for (int64_t l = 0; l < ns; l++) y[l] = -INFINITY;
                continue;
            }
            if (!have_kt) {
                if (mx) {
                    const void *rows[GDS_IDX_KB];
                    for (int64_t l = 0; l < GDS_IDX_KB; l++)
                        rows[l] = l < ns ? (const void *)((const char *)kI->data + (s0 + l) * kI->nb[1]) : zrow;
                    ktf(dI, rows, kt);
                } else {
                    for (int64_t l = 0; l < GDS_IDX_KB; l++) {
                        if (l < ns) {
                            const float *kr = (const float *)((const char *)kI->data + (s0 + l) * kI->nb[1]);
                            for (int64_t i = 0; i < dI; i++) kt[i * GDS_IDX_KB + l] = kr[i];
                        } else {
                            for (int64_t i = 0; i < dI; i++) kt[i * GDS_IDX_KB + l] = 0.0f;
                        }
                    }
                }
                have_kt = true;
            }
            const float *qt = (const float *)((const char *)q->data + t * q->nb[2]);
            const float *wt = (const float *)((const char *)w->data + t * w->nb[1]);
            float sc[GDS_IDX_KB];
            fn.idx(dI, (int)nh, qt, (int64_t)(q->nb[1] / sizeof(float)), wt, (int64_t)(w->nb[0] / sizeof(float)), kt, sc);
            for (int64_t l = 0; l < ns; l++) y[l] = s0 + l < vis ? sc[l] : -INFINITY;
        }
    }
}

/* ---------------------------------------------------------------------------
 * ATTN: q [hd, H, T], kv [hd, N], idx I32 [L, T], sinks [H] -> o [hd, H, T].
 * Unit = (token t, group of up to 4 heads, 16 for compact kv); per head the spec 4.9 online
 * softmax over the index list in blocks of 64 (invalid entries: -1 or outside
 * [0, N), skipped; they would contribute p = 0).
 * ------------------------------------------------------------------------- */

static size_t gds_attn_scratch_per_thread(int64_t hd, bool compact) {
    const size_t G = compact ? GDS_ATTN_GQ : GDS_ATTN_G;
    return GDS_PAD(G * hd * sizeof(float), 64)                       /* acc */
         + GDS_PAD(G * GDS_ATTN_BLK * sizeof(float), 64) * 2         /* s, p */
         + GDS_PAD((size_t)GDS_ATTN_BLK * sizeof(float *), 64)       /* key rows */
         + (compact ? (size_t)GDS_ATTN_BLK * hd * sizeof(float) : 0); /* decoded keys */
}

size_t gds_cpu_work_attn(const struct gds_tensor *dst, int nth) {
    return (size_t)nth * gds_attn_scratch_per_thread(dst->ne[0], dst->src[1]->type != GDS_TYPE_F32);
}

void gds_cpu_op_attn(const struct gds_cpu_params *p, struct gds_tensor *dst) {
    const struct gds_tensor *q = dst->src[0];
    const struct gds_tensor *kv = dst->src[1];
    const struct gds_tensor *idx = dst->src[2];
    const struct gds_tensor *sinks = dst->src[3];
    const float scale = gds_get_op_param_f32(dst, GDS_P_ATTN_SCALE);
    const int64_t hd = q->ne[0], H = q->ne[1], T = q->ne[2];
    const int64_t N = kv->ne[1], L = idx->ne[0];
    const struct gds_attn_simd fn = gds_attn_simd_get(p->simd);

    const bool compact = kv->type == GDS_TYPE_KV_E4M3_B64;
    GDS_ASSERT(compact || kv->type == GDS_TYPE_F32);
    const int64_t GM = compact ? GDS_ATTN_GQ : GDS_ATTN_G;
    const size_t per = gds_attn_scratch_per_thread(hd, compact);
    GDS_ASSERT(p->wsize >= (size_t)p->nth * per);
    char *ws = (char *)p->wdata + (size_t)p->ith * per;
    float *acc = (float *)ws;
    ws += GDS_PAD((size_t)GM * hd * sizeof(float), 64);
    float *s = (float *)ws;
    ws += GDS_PAD((size_t)GM * GDS_ATTN_BLK * sizeof(float), 64);
    float *pb = (float *)ws;
    ws += GDS_PAD((size_t)GM * GDS_ATTN_BLK * sizeof(float), 64);
    const float **krow = (const float **)(void *)ws;
    ws += GDS_PAD((size_t)GDS_ATTN_BLK * sizeof(float *), 64);
    float *kdec = compact ? (float *)ws : NULL; /* [64][hd] decoded key rows */

    /* Heads per unit: GM (each key row loaded, or decoded, once for GM heads),
     * fewer when that leaves too few units for the threads (decode). Per-head
     * results do not depend on the grouping (each head's arithmetic is its own). */
    /* compact kv: decoding dominates small groups, so only ask for one unit per thread */
    int64_t G = GM;
    const int64_t want_units = compact ? (int64_t)p->nth : 4 * (int64_t)p->nth;
    while (G > 1 && T * ((H + G - 1) / G) < want_units) G /= 2;
    const int64_t ng = (H + G - 1) / G;
    int64_t u0, u1;
    gds_cpu_split(T * ng, p->ith, p->nth, &u0, &u1);

    for (int64_t u = u0; u < u1; u++) {
        const int64_t t = u / ng, h0 = (u % ng) * G;
        const int nh = (int)(H - h0 < G ? H - h0 : G);
        const float *qt = (const float *)((const char *)q->data + h0 * q->nb[1] + t * q->nb[2]);
        const int64_t qs = (int64_t)(q->nb[1] / sizeof(float));
        float mrun[GDS_ATTN_GQ], lrun[GDS_ATTN_GQ], alpha[GDS_ATTN_GQ];

        for (int h = 0; h < nh; h++) { mrun[h] = -INFINITY; lrun[h] = 0.0f; }
        for (int64_t i = 0; i < (int64_t)nh * hd; i++) acc[i] = 0.0f;

        for (int64_t b0 = 0; b0 < L; b0 += GDS_ATTN_BLK) {
            const int64_t b1 = b0 + GDS_ATTN_BLK < L ? b0 + GDS_ATTN_BLK : L;
            int nk = 0;
            for (int64_t l = b0; l < b1; l++) {
                const int32_t r = *(const int32_t *)((const char *)idx->data + l * idx->nb[0] + t * idx->nb[1]);
                if (r < 0 || r >= N) continue;
                const char *row = (const char *)kv->data + (int64_t)r * kv->nb[1];
                if (compact) {
                    float *y = kdec + (int64_t)nk * hd;
                    for (int64_t c = 0; c < hd / GDS_KV_E4M3_B64_NE; c++)
                        fn.kv_dec((const uint8_t *)row + c * GDS_KV_E4M3_B64_SIZE, y + c * GDS_KV_E4M3_B64_NE);
                    krow[nk++] = y;
                } else {
                    krow[nk++] = (const float *)row;
                }
            }
            if (nk == 0) continue; /* all -inf: m, l, acc unchanged */

            fn.qk(hd, nh, qt, qs, nk, krow, scale, s);

            for (int h = 0; h < nh; h++) {
                const float *sh = s + h * GDS_ATTN_BLK;
                float *ph = pb + h * GDS_ATTN_BLK;
                float mb = mrun[h];
                for (int j = 0; j < nk; j++) mb = sh[j] > mb ? sh[j] : mb;
                alpha[h] = expf(mrun[h] - mb); /* m = -inf -> 0 */
                float lsum = 0.0f;
                for (int j = 0; j < nk; j++) {
                    const float pj = expf(sh[j] - mb);
                    lsum += pj;
                    ph[j] = gds_round_bf16(pj);
                }
                lrun[h] = lrun[h] * alpha[h] + lsum;
                mrun[h] = mb;
            }

            fn.pv(hd, nh, acc, alpha, nk, krow, pb);
        }

        for (int h = 0; h < nh; h++) {
            float *o = (float *)((char *)dst->data + (h0 + h) * dst->nb[1] + t * dst->nb[2]);
            const float *a = acc + h * hd;
            if (mrun[h] == -INFINITY) {
                for (int64_t i = 0; i < hd; i++) o[i] = 0.0f;
                continue;
            }
            const float sink = *(const float *)((const char *)sinks->data + (h0 + h) * sinks->nb[0]);
            const float l = lrun[h] + expf(sink - mrun[h]);
            for (int64_t i = 0; i < hd; i++) o[i] = gds_round_bf16(a[i] / l);
        }
    }
}
