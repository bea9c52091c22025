/*
 * gds-convert.c - Hugging Face DeepSeek-V4 checkpoint (or a synthetic model)
 * to one GGUF file, streaming and lossless by default.
 *
 *     gds-convert HF_DIR -o OUT.gguf [--dense f8|q8_0|bf16|f16|f32]
 *                 [--experts mxfp4|q8_0|bf16|f16] [--max-layers N] [--no-mtp]
 *                 [--compat llama.cpp] [--tokenizer-dir DIR] [--dry-run] [--progress]
 *                 [--allow-nonfinite] [--version]
 *     gds-convert --synthetic SPEC -o OUT.gguf
 *
 * Flow: config.json -> hf_config (validated) -> safetensors set (every header
 * validated) -> plan (hf-model.c: names, types, shapes, sources, all checked
 * before a byte is written) -> GGUF writer: keys, tensor infos, then each
 * tensor streamed row by row in plan order. The writer writes OUT.tmp and
 * renames it at close; on any error, and on SIGINT/SIGTERM/SIGHUP, the .tmp
 * is removed, so no output file ever looks finished unless it is. OUT is
 * checked before the work starts (not a directory, writable folder) and
 * against every input file (never overwrite the checkpoint). Non-finite
 * weights are refused while streaming (--allow-nonfinite keeps them).
 * See convert/README.md for the layout.
 *
 * Conversions, per output row (memory: one output buffer of 4 MiB plus one
 * row of floats; source pages are dropped after each tensor / expert):
 *   FP8 -> F8_E4M3_B128   codes copied, the 128x128 block scale byte repeated
 *                          for each row of the block (lossless)
 *   FP4 -> MXFP4           scale byte copied, nibbles moved to ggml order (lossless)
 *   anything else          dequantize to f32 (exact), then the library's
 *                          from_float_ref for the target type
 * Exit status: 0 success, 1 any error (the message names file, tensor or field).
 */
#include "gds.h"
#include "gds-gguf.h"
#include "gds-quants.h"
#include "hf-model.h"
#include "hf-tokenizer.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define OBUF_SIZE (4u << 20)

/* ---- logging: library and converter messages share one format ------------ */

static void log_sink(enum gds_log_level level, const char *msg, void *user) {
    (void)user;
    if (level < GDS_LOG_WARN) return;
    if (strncmp(msg, "gds: ", 5) == 0) msg += 5;
    fprintf(stderr, "gds-convert: %s", msg);
    size_t n = strlen(msg);
    if (!n || msg[n - 1] != '\n') fputc('\n', stderr);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- strict numbers: the whole string, in range, or an error ---------------- */

static bool parse_long(const char *v, long lo, long hi, long *out) {
    if (!v || !*v || isspace((unsigned char)*v)) return false;
    char *e;
    errno = 0;
    long n = strtol(v, &e, 10);
    if (*e || errno == ERANGE || n < lo || n > hi) return false;
    *out = n;
    return true;
}

static bool parse_u64(const char *v, uint64_t *out) {
    if (!v || !isdigit((unsigned char)*v)) return false;   /* strtoull would take "-1" */
    char *e;
    errno = 0;
    unsigned long long n = strtoull(v, &e, 10);
    if (*e || errno == ERANGE) return false;
    *out = n;
    return true;
}

/* ---- progress ------------------------------------------------------------ */

struct progress {
    bool on;
    double t0, last;
    uint64_t total, done;
};

static void progress_update(struct progress *pr, const char *what, bool force) {
    if (!pr->on) return;
    double t = now_s();
    if (!force && t - pr->last < 0.5) return;
    pr->last = t;
    double el = t - pr->t0, mbs = el > 0 ? (double)pr->done / el / 1e6 : 0.0;
    double eta = mbs > 0 ? (double)(pr->total - pr->done) / 1e6 / mbs : 0.0;
    fprintf(stderr, "\r%5.1f%%  %.2f / %.2f GB  %6.1f MB/s  ETA %d:%02d:%02d  %-40.40s",
            pr->total ? 100.0 * (double)pr->done / (double)pr->total : 100.0, (double)pr->done / 1e9, (double)pr->total / 1e9,
            mbs, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60), what);
    if (!isatty(2)) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- synthetic values ---------------------------------------------------- */

static float g_gauss[256];      /* N(0,1) quantiles at (i + 0.5) / 256 */
static uint8_t g_e4m3[256];     /* e4m3 codes of 32 * g */
static uint8_t g_e2m1[256];     /* e2m1 codes of 1.5 * g */
static int8_t g_q8[256];        /* round(32 * g) */

static void synth_tables(void) {
    for (int i = 0; i < 256; i++) {
        /* invert Phi by bisection on erfc: deterministic and exact enough */
        double p = (i + 0.5) / 256.0, lo = -10, hi = 10;
        for (int it = 0; it < 80; it++) {
            double mid = 0.5 * (lo + hi);
            if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
        }
        g_gauss[i] = (float)(0.5 * (lo + hi));
        g_e4m3[i] = gds_fp32_to_e4m3(32.0f * g_gauss[i]);
        g_e2m1[i] = gds_fp32_to_e2m1(1.5f * g_gauss[i]);
        g_q8[i] = (int8_t)lrintf(32.0f * g_gauss[i]);
    }
}

static inline uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_bytes(uint64_t *s, uint8_t *b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { uint64_t r = rng_next(s); memcpy(b + i, &r, 8); }
    if (i < n) { uint64_t r = rng_next(s); memcpy(b + i, &r, n - i); }
}

/* scale byte 2^(e-127) nearest to x */
static uint8_t e8m0_near(float x) {
    int e = 127 + (int)lrint(log2((double)x));
    return (uint8_t)(e < 1 ? 1 : e > 254 ? 254 : e);
}

struct conv {
    const struct st_set *set;
    float *frow;          /* one row of floats (plus room for concatenation) */
    uint8_t *tmp;         /* random bytes for one row */
    bool allow_nonfinite; /* --allow-nonfinite: NaN/Inf weights are converted as they are */
};

static enum gds_status synth_row(struct conv *cv, const struct cv_tensor *t, uint64_t *rng, uint8_t *dst) {
    const int64_t n = t->ne[0];
    if (t->syn == CV_SYN_IDS) {
        int32_t *o = (int32_t *)dst;
        int64_t start = (int64_t)(rng_next(rng) % (uint64_t)t->id_range);
        for (int64_t j = 0; j < n; j++) o[j] = (int32_t)((start + j) % t->id_range);
        return GDS_OK;
    }
    if (t->syn == CV_SYN_GAUSS) {
        uint8_t *r = cv->tmp;
        rng_bytes(rng, r, (size_t)n);
        switch (t->type) {
        case GDS_TYPE_F8_E4M3_B128: {
            block_f8 *b = (block_f8 *)dst;
            const uint8_t e = e8m0_near(t->std / 32.0f);
            for (int64_t i = 0; i < n / QK_F8; i++) {
                b[i].e = e;
                for (int j = 0; j < QK_F8; j++) b[i].qs[j] = g_e4m3[r[i * QK_F8 + j]];
            }
            return GDS_OK;
        }
        case GDS_TYPE_MXFP4: {
            block_mxfp4 *b = (block_mxfp4 *)dst;
            const uint8_t e = e8m0_near(t->std / 1.5f);
            for (int64_t i = 0; i < n / QK_MXFP4; i++) {
                b[i].e = e;
                for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(g_e2m1[r[i * 32 + j]] | (g_e2m1[r[i * 32 + 16 + j]] << 4));
            }
            return GDS_OK;
        }
        case GDS_TYPE_Q8_0: {
            block_q8_0 *b = (block_q8_0 *)dst;
            const gds_fp16_t d = gds_fp32_to_fp16(t->std / 32.0f);
            for (int64_t i = 0; i < n / QK8_0; i++) {
                b[i].d = d;
                for (int j = 0; j < QK8_0; j++) b[i].qs[j] = g_q8[r[i * QK8_0 + j]];
            }
            return GDS_OK;
        }
        default:
            for (int64_t j = 0; j < n; j++) cv->frow[j] = t->std * g_gauss[r[j]];
            break;
        }
    } else {
        const float v = t->syn == CV_SYN_ONES ? 1.0f : 0.0f;
        for (int64_t j = 0; j < n; j++) cv->frow[j] = v;
    }
    gds_type_traits(t->type)->from_float_ref(cv->frow, dst, n);
    return GDS_OK;
}

/* ---- non-finite weights --------------------------------------------------
 * A NaN or Inf in one checkpoint weight makes every logit NaN at run time,
 * so the converter refuses it unless --allow-nonfinite is given, naming the
 * source tensor and its first bad element in checkpoint (PyTorch) order.
 * Each source row is checked while it is converted (its bytes are in cache
 * then; no extra pass over the file):
 *   BF16 / F16 / F32   exponent bits all ones (Inf or NaN)
 *   F8_E4M3 (e4m3fn)   codes 0x7F / 0xFF (NaN; the format has no Inf)
 *   F8_E8M0 scales     0xFF (NaN)
 *   packed e2m1 (FP4)  every code is finite: only its scale is checked
 *   I64 / I32 ids      range-checked instead (CV_SRC_TID2EID)
 * The scans test 8 bytes at a time (SWAR, below); only a hit walks the row
 * again element by element to find the first bad one. */

/* Does any lane of p[0..n) have all the bits of its lane mask m set? Lanes of
 * 1, 2 or 4 bytes; lo / hi: the lowest / highest bit of each lane. With
 * t = (x & m) ^ m a matching lane is zero, and (t - lo) & ~t & hi is nonzero
 * iff some lane of t is zero (the classic has-zero test: exact for "any"). */
static bool swar_any(const uint8_t *p, size_t n, uint64_t m, uint64_t lo, uint64_t hi) {
    uint64_t acc = 0, x, t;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, p + i, 8);
        t = (x & m) ^ m;
        acc |= (t - lo) & ~t & hi;
    }
    if (i < n) {   /* zero padding never matches: its t is m, nonzero in every lane */
        x = 0;
        memcpy(&x, p + i, n - i);
        t = (x & m) ^ m;
        acc |= (t - lo) & ~t & hi;
    }
    return acc != 0;
}
#define SWAR_E4M3_NAN 0x7f7f7f7f7f7f7f7full, 0x0101010101010101ull, 0x8080808080808080ull
#define SWAR_E8M0_NAN 0xffffffffffffffffull, 0x0101010101010101ull, 0x8080808080808080ull
#define SWAR_BF16_NF  0x7f807f807f807f80ull, 0x0001000100010001ull, 0x8000800080008000ull
#define SWAR_F16_NF   0x7c007c007c007c00ull, 0x0001000100010001ull, 0x8000800080008000ull
#define SWAR_F32_NF   0x7f8000007f800000ull, 0x0000000100000001ull, 0x8000000080000000ull

static void fmt_coords(const struct st_tensor *w, int64_t flat, char *buf, size_t n) {
    int64_t idx[ST_MAX_DIMS] = { 0 };
    int64_t f = flat;
    for (int d = w->n_dims - 1; d >= 0; d--) {
        if (w->shape[d] > 0) { idx[d] = f % w->shape[d]; f /= w->shape[d]; }
    }
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < w->n_dims && o < n; d++) o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* what: "NaN", "+Inf", ...; also: "" or a note about the weight a bad scale feeds */
static enum gds_status nonfinite_error(const struct conv *cv, const struct st_tensor *w, int64_t flat, const char *what, const char *also) {
    char c[200];
    fmt_coords(w, flat, c, sizeof(c));
    return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' element %s (flat index %lld) is %s%s: refusing to convert non-finite weights "
                     "(--allow-nonfinite converts them as they are)",
                     st_tensor_file(cv->set, w), w->name, c, (long long)flat, what, also);
}

static enum gds_status check_plain_row(const struct conv *cv, const struct st_tensor *w, int64_t r, int64_t n) {
    if (cv->allow_nonfinite) return GDS_OK;
    const int64_t base = r * n;
    if (w->dtype == ST_F32) {
        const uint8_t *p = w->data + (size_t)base * 4;
        const bool bad = swar_any(p, (size_t)n * 4, SWAR_F32_NF);
        for (int64_t j = 0; bad && j < n; j++) {
            uint32_t u;
            memcpy(&u, p + 4 * j, 4);
            if ((u & 0x7f800000u) == 0x7f800000u)
                return nonfinite_error(cv, w, base + j, (u & 0x7fffffu) ? "NaN" : (u >> 31) ? "-Inf" : "+Inf", "");
        }
        return GDS_OK;
    }
    if (w->dtype != ST_BF16 && w->dtype != ST_F16) return GDS_OK;
    const uint16_t e = w->dtype == ST_BF16 ? 0x7f80 : 0x7c00, m = w->dtype == ST_BF16 ? 0x007f : 0x03ff;
    const uint8_t *p = w->data + (size_t)base * 2;
    const bool bad = w->dtype == ST_BF16 ? swar_any(p, (size_t)n * 2, SWAR_BF16_NF) : swar_any(p, (size_t)n * 2, SWAR_F16_NF);
    for (int64_t j = 0; bad && j < n; j++) {
        uint16_t h;
        memcpy(&h, p + 2 * j, 2);
        if ((h & e) == e) return nonfinite_error(cv, w, base + j, (h & m) ? "NaN" : (h >> 15) ? "-Inf" : "+Inf", "");
    }
    return GDS_OK;
}

/* row n of an FP8 weight and the scale row of its 128-row block */
static enum gds_status check_fp8_row(const struct conv *cv, const struct st_tensor *w, const struct st_tensor *s, int64_t n) {
    if (cv->allow_nonfinite) return GDS_OK;
    const int64_t K = w->shape[1], sk = s->shape[1];
    const uint8_t *q = w->data + (size_t)(n * K), *sc = s->data + (size_t)((n / 128) * sk);
    const bool bad = swar_any(q, (size_t)K, SWAR_E4M3_NAN) || swar_any(sc, (size_t)sk, SWAR_E8M0_NAN);
    for (int64_t k = 0; bad && k < K; k++) {
        if (sc[k / 128] == 0xff) {
            char c[200], also[300];
            fmt_coords(w, n * K + k, c, sizeof(c));
            snprintf(also, sizeof(also), ", which makes '%s' element %s NaN", w->name, c);
            return nonfinite_error(cv, s, (n / 128) * sk + k / 128, "NaN (E8M0 scale byte 0xFF)", also);
        }
        if ((q[k] & 0x7f) == 0x7f) return nonfinite_error(cv, w, n * K + k, q[k] & 0x80 ? "NaN (e4m3 code 0xFF)" : "NaN (e4m3 code 0x7F)", "");
    }
    return GDS_OK;
}

/* ---- checkpoint rows ----------------------------------------------------- */

static void plain_row_f32(const struct st_tensor *w, int64_t r, int64_t n, float *y) {
    switch (w->dtype) {
    case ST_F32: memcpy(y, w->data + (size_t)(r * n) * 4, (size_t)n * 4); break;
    case ST_BF16: { const uint8_t *p = w->data + (size_t)(r * n) * 2;
        for (int64_t j = 0; j < n; j++) { uint16_t h; memcpy(&h, p + 2 * j, 2); y[j] = gds_bf16_to_fp32(h); } break; }
    case ST_F16: { const uint8_t *p = w->data + (size_t)(r * n) * 2;
        for (int64_t j = 0; j < n; j++) { uint16_t h; memcpy(&h, p + 2 * j, 2); y[j] = gds_fp16_to_fp32(h); } break; }
    default: GDS_ASSERT(!"plain_row_f32: dtype");
    }
}

/* FP8 row n of w (K columns) with its 128x128 scale: f32 values or F8 blocks */
static void fp8_row_f32(const struct st_tensor *w, const struct st_tensor *s, int64_t n, float *y) {
    const int64_t K = w->shape[1], sk = s->shape[1];
    const uint8_t *q = w->data + (size_t)(n * K), *sc = s->data + (size_t)((n / 128) * sk);
    for (int64_t k = 0; k < K; k++) y[k] = gds_e4m3_to_fp32(q[k]) * gds_e8m0_to_fp32(sc[k / 128]);
}

static void fp8_row_blocks(const struct st_tensor *w, const struct st_tensor *s, int64_t n, block_f8 *b) {
    const int64_t K = w->shape[1], sk = s->shape[1];
    const uint8_t *q = w->data + (size_t)(n * K), *sc = s->data + (size_t)((n / 128) * sk);
    for (int64_t i = 0; i < K / QK_F8; i++) {
        b[i].e = sc[i];
        memcpy(b[i].qs, q + i * QK_F8, QK_F8);
    }
}

static enum gds_status fp4_row(struct conv *cv, const struct cv_tensor *t, int64_t r, uint8_t *dst) {
    const int64_t K = t->ne[0], N = t->ne[1], e = r / N, n = r % N;
    const struct st_tensor *w = t->ew[e], *s = t->es[e];
    const uint8_t *p = w->data + (size_t)(n * (K / 2)), *sc = s->data + (size_t)(n * (K / 32));
    if (!cv->allow_nonfinite) {
        const bool bad = swar_any(sc, (size_t)(K / 32), SWAR_E8M0_NAN);
        for (int64_t i = 0; bad && i < K / 32; i++)
            if (sc[i] == 0xff) {
                char also[300];
                snprintf(also, sizeof(also), ", which makes '%s' row %lld, columns %lld..%lld NaN", w->name, (long long)n, (long long)(32 * i), (long long)(32 * i + 31));
                return nonfinite_error(cv, s, n * (K / 32) + i, "NaN (E8M0 scale byte 0xFF)", also);
            }
    }
    if (t->type == GDS_TYPE_MXFP4) {
        block_mxfp4 *b = (block_mxfp4 *)dst;
        for (int64_t i = 0; i < K / 32; i++) {
            const uint8_t *pb = p + 16 * i;
            if (sc[i] == 0xff)
                return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' row %lld: scale byte 0xFF (NaN) cannot be represented in MXFP4; use --experts bf16",
                                 st_tensor_file(cv->set, s), s->name, (long long)n);
            b[i].e = sc[i];   /* 2^(S-127) * e2m1 == 2^(e-128) * (2 * e2m1) with e = S */
            for (int j = 0; j < 8; j++) {
                b[i].qs[2 * j]     = (uint8_t)((pb[j] & 0x0f) | ((pb[8 + j] & 0x0f) << 4));
                b[i].qs[2 * j + 1] = (uint8_t)((pb[j] >> 4) | (pb[8 + j] & 0xf0));
            }
        }
        return GDS_OK;
    }
    float *y = cv->frow;
    for (int64_t k = 0; k < K; k++) {
        const uint8_t c = (k & 1) ? (p[k / 2] >> 4) : (p[k / 2] & 0x0f);
        y[k] = gds_e2m1_to_fp32(c) * gds_e8m0_to_fp32(sc[k / 32]);
    }
    gds_type_traits(t->type)->from_float_ref(y, dst, K);
    return GDS_OK;
}

static enum gds_status emit_row(struct conv *cv, const struct cv_tensor *t, int64_t r, uint64_t *rng, uint8_t *dst) {
    const int64_t n = t->ne[0];
    const struct gds_type_traits *tt = gds_type_traits(t->type);
    switch (t->src) {
    case CV_SRC_SYNTH:
        return synth_row(cv, t, rng, dst);
    case CV_SRC_PLAIN: {
        const struct st_tensor *w = t->w[0];
        enum gds_status st = check_plain_row(cv, w, r, n);
        if (st != GDS_OK) return st;
        if ((w->dtype == ST_F32 && t->type == GDS_TYPE_F32) || (w->dtype == ST_BF16 && t->type == GDS_TYPE_BF16) ||
            (w->dtype == ST_F16 && t->type == GDS_TYPE_F16)) {
            memcpy(dst, w->data + (size_t)r * gds_row_size(t->type, n), gds_row_size(t->type, n));
            return GDS_OK;
        }
        plain_row_f32(w, r, n, cv->frow);
        tt->from_float_ref(cv->frow, dst, n);
        return GDS_OK;
    }
    case CV_SRC_FP8: {
        enum gds_status st = check_fp8_row(cv, t->w[0], t->s[0], r);
        if (st != GDS_OK) return st;
        if (t->type == GDS_TYPE_F8_E4M3_B128) { fp8_row_blocks(t->w[0], t->s[0], r, (block_f8 *)dst); return GDS_OK; }
        fp8_row_f32(t->w[0], t->s[0], r, cv->frow);
        tt->from_float_ref(cv->frow, dst, n);
        return GDS_OK;
    }
    case CV_SRC_FP8_CAT: {
        const int64_t k0 = t->w[0]->shape[1];
        enum gds_status st = check_fp8_row(cv, t->w[0], t->s[0], r);
        if (st == GDS_OK) st = check_fp8_row(cv, t->w[1], t->s[1], r);
        if (st != GDS_OK) return st;
        if (t->type == GDS_TYPE_F8_E4M3_B128) {
            fp8_row_blocks(t->w[0], t->s[0], r, (block_f8 *)dst);
            fp8_row_blocks(t->w[1], t->s[1], r, (block_f8 *)dst + k0 / QK_F8);
            return GDS_OK;
        }
        fp8_row_f32(t->w[0], t->s[0], r, cv->frow);
        fp8_row_f32(t->w[1], t->s[1], r, cv->frow + k0);
        tt->from_float_ref(cv->frow, dst, n);
        return GDS_OK;
    }
    case CV_SRC_FP4_EXPERTS:
        return fp4_row(cv, t, r, dst);
    case CV_SRC_TID2EID: {
        const struct st_tensor *w = t->w[0];
        int32_t *o = (int32_t *)dst;
        for (int64_t j = 0; j < n; j++) {
            int64_t v;
            if (w->dtype == ST_I64) memcpy(&v, w->data + (size_t)(r * n + j) * 8, 8);
            else { int32_t v32; memcpy(&v32, w->data + (size_t)(r * n + j) * 4, 4); v = v32; }
            if (v < 0 || v >= t->id_range)
                return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' row %lld: expert id %lld is out of range (0..%lld)",
                                 st_tensor_file(cv->set, w), w->name, (long long)r, (long long)v, (long long)t->id_range - 1);
            o[j] = (int32_t)v;
        }
        return GDS_OK;
    }
    }
    return GDS_ERR_INVALID;
}

static void release_sources(const struct st_set *set, const struct cv_tensor *t) {
    if (!set) return;
    for (int j = 0; j < 2; j++) {
        if (t->w[j]) st_release(set, t->w[j]);
        if (t->s[j]) st_release(set, t->s[j]);
    }
}

/* Drops the source pages of rows [0, r) of a row-contiguous source (one
 * weight, and its scale rows for FP8), so a large tensor (the embedding)
 * never becomes resident as a whole. */
static void release_rows(const struct st_set *set, const struct cv_tensor *t, int64_t r) {
    if (!set || r <= 0) return;
    if (t->src == CV_SRC_PLAIN || t->src == CV_SRC_TID2EID || t->src == CV_SRC_FP8) {
        const struct st_tensor *w = t->w[0];
        const int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        st_release_range(set, w, 0, (size_t)((double)w->nbytes * (double)r / (double)rows));
    }
}

static enum gds_status emit_tensor(struct conv *cv, struct gds_gguf_writer *w, const struct cv_tensor *t,
                                   uint8_t *obuf, struct progress *pr) {
    const size_t rb = gds_row_size(t->type, t->ne[0]);
    const int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    uint64_t rng = t->seed;
    size_t fill = 0;
    enum gds_status st = GDS_OK;
    for (int64_t r = 0; r < rows && st == GDS_OK; r++) {
        if (fill + rb > OBUF_SIZE) {
            if ((st = gds_gguf_writer_write(w, obuf, fill)) != GDS_OK) break;
            pr->done += fill;
            fill = 0;
            progress_update(pr, t->name, false);
            release_rows(cv->set, t, r);
        }
        st = emit_row(cv, t, r, &rng, obuf + fill);
        fill += rb;
        if (t->src == CV_SRC_FP4_EXPERTS && cv->set && (r + 1) % t->ne[1] == 0) {
            const int64_t e = r / t->ne[1];
            st_release(cv->set, t->ew[e]);
            st_release(cv->set, t->es[e]);
        }
    }
    if (st == GDS_OK && fill) {
        st = gds_gguf_writer_write(w, obuf, fill);
        pr->done += fill;
    }
    release_sources(cv->set, t);
    return st;
}

/* ---- metadata ------------------------------------------------------------ */

struct meta {
    const struct hf_config *c;
    const struct cv_plan *p;
    const struct cv_options *o;
    const struct hf_tokenizer *tok;   /* NULL: no vocabulary */
    const char *name, *source;
};

#define CK(x) do { if ((st = (x)) != GDS_OK) return st; } while (0)

static enum gds_status write_meta(struct gds_gguf_writer *w, const struct meta *m, int file) {
    const struct hf_config *c = m->c;
    enum gds_status st;
    const int nl = m->p->n_layer_out;
    const bool mtp_here = m->p->mtp && (file == 1 || !m->o->compat);
    const int blocks = nl + (mtp_here ? 1 : 0);
    const char *A = "deepseek4";
    char k[128];
#define KEY(s) (snprintf(k, sizeof(k), "%s.%s", A, s), k)
    CK(gds_gguf_writer_set_str(w, "general.architecture", A));
    CK(gds_gguf_writer_set_str(w, "general.type", "model"));
    CK(gds_gguf_writer_set_str(w, "general.name", m->name));
    uint32_t ft = m->o->experts == GDS_TYPE_MXFP4 ? 38 : m->o->experts == GDS_TYPE_Q8_0 ? 7 : m->o->experts == GDS_TYPE_BF16 ? 32 : 1;
    CK(gds_gguf_writer_set_u32(w, "general.file_type", ft));
    CK(gds_gguf_writer_set_u32(w, "general.quantization_version", 2));

    CK(gds_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)blocks));
    CK(gds_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)(c->max_pos > UINT32_MAX ? UINT32_MAX : c->max_pos)));
    CK(gds_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)c->hidden));
    CK(gds_gguf_writer_set_u32(w, KEY("embedding_length_out"), (uint32_t)(c->hidden * c->hc_mult)));
    CK(gds_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)c->vocab));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim));
    CK(gds_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->rms_eps));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.q_lora_rank"), (uint32_t)c->q_lora));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)c->window));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.output_group_count"), (uint32_t)c->o_groups));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.output_lora_rank"), (uint32_t)c->o_lora));
    {
        /* trunk entries, then the MTP entry (llama.cpp keeps it even in a main file without MTP) */
        int32_t r[HF_MAX_LAYERS + 1];
        int n = 0;
        for (int i = 0; i < nl; i++) r[n++] = c->ratios[i];
        if (c->n_mtp) r[n++] = c->ratios[c->n_layer];
        CK(gds_gguf_writer_set_arr(w, KEY("attention.compress_ratios"), GDS_GGUF_INT32, r, n));
    }
    CK(gds_gguf_writer_set_f32(w, KEY("attention.compress_rope_freq_base"), c->compress_rope_theta));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.indexer.head_count"), (uint32_t)c->idx_heads));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.indexer.key_length"), (uint32_t)c->idx_dim));
    CK(gds_gguf_writer_set_u32(w, KEY("attention.indexer.top_k"), (uint32_t)c->idx_topk));
    CK(gds_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->rope_dim));
    CK(gds_gguf_writer_set_f32(w, KEY("rope.freq_base"), c->rope_theta));
    if (c->has_yarn) {
        CK(gds_gguf_writer_set_str(w, KEY("rope.scaling.type"), "yarn"));
        CK(gds_gguf_writer_set_f32(w, KEY("rope.scaling.factor"), c->yarn_factor));
        CK(gds_gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)c->yarn_orig_ctx));
        CK(gds_gguf_writer_set_f32(w, KEY("rope.scaling.yarn_beta_fast"), c->yarn_beta_fast));
        CK(gds_gguf_writer_set_f32(w, KEY("rope.scaling.yarn_beta_slow"), c->yarn_beta_slow));
    }
    CK(gds_gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)c->n_expert));
    CK(gds_gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)c->n_expert_used));
    CK(gds_gguf_writer_set_u32(w, KEY("expert_shared_count"), (uint32_t)c->n_expert_shared));
    CK(gds_gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)c->moe_inter));
    CK(gds_gguf_writer_set_f32(w, KEY("expert_weights_scale"), c->route_scale));
    CK(gds_gguf_writer_set_bool(w, KEY("expert_weights_norm"), c->norm_topk));
    CK(gds_gguf_writer_set_u32(w, KEY("expert_gating_func"), 4));
    {
        float cl[HF_MAX_LAYERS + 1];
        for (int i = 0; i < blocks; i++) cl[i] = c->swiglu_limit;
        CK(gds_gguf_writer_set_arr(w, KEY("swiglu_clamp_exp"), GDS_GGUF_FLOAT32, cl, blocks));
        CK(gds_gguf_writer_set_arr(w, KEY("swiglu_clamp_shexp"), GDS_GGUF_FLOAT32, cl, blocks));
    }
    CK(gds_gguf_writer_set_u32(w, KEY("hash_layer_count"), (uint32_t)c->n_hash));
    CK(gds_gguf_writer_set_u32(w, KEY("hyper_connection.count"), (uint32_t)c->hc_mult));
    CK(gds_gguf_writer_set_u32(w, KEY("hyper_connection.sinkhorn_iterations"), (uint32_t)c->hc_iters));
    CK(gds_gguf_writer_set_f32(w, KEY("hyper_connection.epsilon"), c->hc_eps));
    if (mtp_here) CK(gds_gguf_writer_set_u32(w, KEY("nextn_predict_layers"), 1));
#undef KEY

    /* ggml-ds extensions (convert/README.md) */
    CK(gds_gguf_writer_set_u32(w, "gds.layout_version", 1));
    CK(gds_gguf_writer_set_str(w, "gds.source", m->source));
    if (m->o->synthetic) CK(gds_gguf_writer_set_u64(w, "gds.synthetic_seed", m->o->seed));

    const struct hf_tokenizer *t = m->tok;
    if (t) {
        CK(gds_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2"));
        CK(gds_gguf_writer_set_str(w, "tokenizer.ggml.pre", "joyai-llm"));
        CK(gds_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t->tokens, t->n_vocab));
        CK(gds_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GDS_GGUF_INT32, t->types, t->n_vocab));
        CK(gds_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)t->merges, t->n_merges));
        if (t->bos >= 0) CK(gds_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos));
        if (t->eos >= 0) CK(gds_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)t->eos));
        if (t->pad >= 0) CK(gds_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)t->pad));
        CK(gds_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos));
        CK(gds_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos));
        if (t->chat_template) CK(gds_gguf_writer_set_str(w, "tokenizer.chat_template", t->chat_template));
        if (t->n_regex) CK(gds_gguf_writer_set_arr_str(w, "gds.tokenizer.pre_split_regex", (const char *const *)t->regex, t->n_regex));
    }
    return GDS_OK;
}

/* ---- synthetic SPEC ------------------------------------------------------ */

struct preset {
    const char *name;
    int layers, mtp, hidden, heads, head_dim, rope_dim, q_lora, o_lora, o_groups, window, idx_heads, idx_dim, idx_topk;
    int experts, shared, used, moe_inter, hash, hc, hc_iters, vocab;
    long long max_pos;
    double route_scale;
    int pro_pattern;   /* compress_ratios: 0 = Flash ([0,0,4,128,...]), 1 = Pro ([128,128,4,128,...]) */
};

static const struct preset presets[] = {
    { "flash", 43, 1, 4096, 64, 512, 64, 1024, 1024, 8, 128, 64, 128, 512, 256, 1, 6, 2048, 3, 4, 20, 129280, 1048576, 1.5, 0 },
    { "pro",   61, 1, 7168, 128, 512, 64, 1536, 1024, 16, 128, 64, 128, 1024, 384, 1, 6, 3072, 3, 4, 20, 129280, 1048576, 2.5, 1 },
    { "tiny-a", 6, 1, 256, 4, 256, 64, 128, 128, 2, 16, 4, 128, 8, 16, 1, 6, 128, 2, 4, 20, 1024, 4096, 1.5, 0 },
};

/* SPEC = [preset][:key=value,...] or key=value,...; builds config.json text */
/* tokenizer=bytes: a small built-in byte-level BPE vocabulary, so that a
 * synthetic model takes text without any tokenizer.json. Ids: 0 BOS, 1 EOS,
 * 2..257 the 256 bytes (GPT-2 byte-level characters), 258..261 <｜User｜>,
 * <｜Assistant｜> (control), <think>, </think> (user-defined), then merges in
 * rank order (" a".." z", then the 676 lowercase letter pairs) while ids are
 * left, then "[PAD<id>]" fillers. The DeepSeek-V3 split rules apply
 * (tokenizer.ggml.pre joyai-llm). */
static char *byte_char(int b) { /* GPT-2 bytes_to_unicode, as UTF-8 */
    int cp = b, n = 0;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        for (int i = 0; i < b; i++) n += !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255));
        cp = 256 + n;
    }
    char *s = malloc(4);
    if (!s) return NULL;
    if (cp < 0x80) { s[0] = (char)cp; s[1] = 0; }
    else { s[0] = (char)(0xC0 | (cp >> 6)); s[1] = (char)(0x80 | (cp & 0x3F)); s[2] = 0; }
    return s;
}

static enum gds_status byte_tokenizer(struct hf_tokenizer *t, int n_vocab) {
    static const char *const specials[] = { "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>" };
    memset(t, 0, sizeof(*t));
    if (n_vocab < 262) return gds_error(GDS_ERR_INVALID, "tokenizer=bytes needs a vocabulary of at least 262 tokens (vocab=%d)", n_vocab);
    t->n_vocab = n_vocab;
    t->tokens = calloc((size_t)n_vocab, sizeof(char *));
    t->types = calloc((size_t)n_vocab, sizeof(int32_t));
    t->merges = calloc((size_t)n_vocab, sizeof(char *));
    if (!t->tokens || !t->types || !t->merges) return gds_error(GDS_ERR_NOMEM, "out of memory");
    t->bos = 0; t->eos = 1; t->pad = -1;
    int id = 0;
    t->tokens[id] = strdup("<｜begin▁of▁sentence｜>"); t->types[id++] = HF_TOK_CONTROL;
    t->tokens[id] = strdup("<｜end▁of▁sentence｜>"); t->types[id++] = HF_TOK_CONTROL;
    for (int b = 0; b < 256; b++) { t->tokens[id] = byte_char(b); t->types[id++] = HF_TOK_NORMAL; }
    for (int i = 0; i < 4; i++) { t->tokens[id] = strdup(specials[i]); t->types[id++] = i < 2 ? HF_TOK_CONTROL : HF_TOK_USER_DEFINED; }
    for (int k = 0; k < 26 + 26 * 26 && id < n_vocab; k++, id++) {
        char l[8], r[8];
        if (k < 26) { snprintf(l, sizeof(l), "\xC4\xA0"); snprintf(r, sizeof(r), "%c", 'a' + k); }
        else { snprintf(l, sizeof(l), "%c", 'a' + (k - 26) / 26); snprintf(r, sizeof(r), "%c", 'a' + (k - 26) % 26); }
        char m[24], tk[24];
        snprintf(m, sizeof(m), "%s %s", l, r);
        snprintf(tk, sizeof(tk), "%s%s", l, r);
        t->merges[t->n_merges++] = strdup(m);
        t->tokens[id] = strdup(tk);
        t->types[id] = HF_TOK_NORMAL;
    }
    t->n_defined = id;
    for (; id < n_vocab; id++) {
        char f[32];
        snprintf(f, sizeof(f), "[PAD%d]", id);
        t->tokens[id] = strdup(f);
        t->types[id] = HF_TOK_UNUSED;
    }
    for (int i = 0; i < n_vocab; i++) if (!t->tokens[i]) return gds_error(GDS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->n_merges; i++) if (!t->merges[i]) return gds_error(GDS_ERR_NOMEM, "out of memory");
    return GDS_OK;
}

static enum gds_status synthetic_config(const char *spec, struct hf_config *c, uint64_t *seed, bool *byte_tok) {
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", spec);
    const struct preset *p = &presets[0];
    char *kv = buf;
    char *colon = strchr(buf, ':');
    if (!strchr(buf, '=') || colon) {
        if (colon) { *colon = 0; kv = colon + 1; } else kv = buf + strlen(buf);
        p = NULL;
        for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
            if (strcmp(buf, presets[i].name) == 0 || (strcmp(buf, "tiny") == 0 && i == 2)) p = &presets[i];
        if (!p) return gds_error(GDS_ERR_INVALID, "--synthetic '%s': unknown model '%s' (flash, pro or tiny-a)", spec, buf);
    }
    cJSON *o = cJSON_CreateObject();
#define SETN(k, v) cJSON_AddNumberToObject(o, k, (double)(v))
    SETN("num_hidden_layers", p->layers); SETN("num_nextn_predict_layers", p->mtp); SETN("hidden_size", p->hidden);
    SETN("num_attention_heads", p->heads); SETN("num_key_value_heads", 1); SETN("head_dim", p->head_dim);
    SETN("qk_rope_head_dim", p->rope_dim); SETN("q_lora_rank", p->q_lora); SETN("o_lora_rank", p->o_lora);
    SETN("o_groups", p->o_groups); SETN("sliding_window", p->window); SETN("compress_rope_theta", 160000);
    SETN("rope_theta", 10000); SETN("max_position_embeddings", p->max_pos); SETN("index_n_heads", p->idx_heads);
    SETN("index_head_dim", p->idx_dim); SETN("index_topk", p->idx_topk); SETN("n_routed_experts", p->experts);
    SETN("n_shared_experts", p->shared); SETN("num_experts_per_tok", p->used); SETN("moe_intermediate_size", p->moe_inter);
    SETN("num_hash_layers", p->hash); SETN("routed_scaling_factor", p->route_scale); SETN("swiglu_limit", 10.0);
    SETN("hc_mult", p->hc); SETN("hc_sinkhorn_iters", p->hc_iters); SETN("hc_eps", 1e-6); SETN("rms_norm_eps", 1e-6);
    SETN("vocab_size", p->vocab); SETN("bos_token_id", 0); SETN("eos_token_id", 1);
    cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
    cJSON_AddStringToObject(rs, "type", "yarn");
    cJSON_AddNumberToObject(rs, "factor", 16); cJSON_AddNumberToObject(rs, "original_max_position_embeddings", 65536);
    cJSON_AddNumberToObject(rs, "beta_fast", 32); cJSON_AddNumberToObject(rs, "beta_slow", 1);
    bool set_used = false, set_hash = false;
    enum gds_status st = GDS_OK;
    static const struct { const char *alias, *key; } aliases[] = {
        { "layers", "num_hidden_layers" }, { "experts", "n_routed_experts" }, { "vocab", "vocab_size" },
        { "mtp", "num_nextn_predict_layers" }, { "hidden", "hidden_size" }, { "heads", "num_attention_heads" },
        { "topk", "num_experts_per_tok" }, { "hash", "num_hash_layers" }, { "window", "sliding_window" },
    };
    for (char *tok = strtok(kv, ","); tok && st == GDS_OK; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) { st = gds_error(GDS_ERR_INVALID, "--synthetic '%s': '%s' is not key=value", spec, tok); break; }
        *eq = 0;
        const char *key = tok, *val = eq + 1;
        if (strcmp(key, "tokenizer") == 0) {
            if (strcmp(val, "bytes") != 0) { st = gds_error(GDS_ERR_INVALID, "--synthetic '%s': tokenizer=%s: only 'bytes' is built in", spec, val); break; }
            *byte_tok = true;
            continue;
        }
        if (strcmp(key, "seed") == 0) {
            if (!parse_u64(val, seed)) { st = gds_error(GDS_ERR_INVALID, "--synthetic '%s': seed=%s is not an integer in 0..%llu", spec, val, (unsigned long long)UINT64_MAX); break; }
            continue;
        }
        char *end;
        double v = strtod(val, &end);
        if (!*val || *end || isspace((unsigned char)*val)) { st = gds_error(GDS_ERR_INVALID, "--synthetic '%s': value of '%s' is not a number", spec, key); break; }
        if (!isfinite(v)) { st = gds_error(GDS_ERR_INVALID, "--synthetic '%s': value of '%s' is not a finite number", spec, key); break; }
        for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) if (strcmp(key, aliases[i].alias) == 0) key = aliases[i].key;
        if (!cJSON_GetObjectItemCaseSensitive(o, key)) {
            st = gds_error(GDS_ERR_INVALID, "--synthetic '%s': unknown key '%s' (see convert/README.md)", spec, key); break;
        }
        if (strcmp(key, "num_experts_per_tok") == 0) set_used = true;
        if (strcmp(key, "num_hash_layers") == 0) set_hash = true;
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, cJSON_CreateNumber(v));
    }
    if (st == GDS_OK) {
        int nl = (int)cJSON_GetObjectItem(o, "num_hidden_layers")->valuedouble;
        int ne = (int)cJSON_GetObjectItem(o, "n_routed_experts")->valuedouble;
        int mtp = (int)cJSON_GetObjectItem(o, "num_nextn_predict_layers")->valuedouble;
        if (!set_used && ne < p->used) cJSON_ReplaceItemInObject(o, "num_experts_per_tok", cJSON_CreateNumber(ne));
        if (!set_hash && nl < p->hash) cJSON_ReplaceItemInObject(o, "num_hash_layers", cJSON_CreateNumber(nl));
        if (nl >= 1 && nl <= HF_MAX_LAYERS && mtp >= 0 && mtp <= 1) {
            cJSON *cr = cJSON_AddArrayToObject(o, "compress_ratios");
            for (int i = 0; i < nl; i++) {
                int r = i < 2 ? (p->pro_pattern ? 128 : 0) : (i % 2 == 0 ? 4 : 128);
                cJSON_AddItemToArray(cr, cJSON_CreateNumber(r));
            }
            if (mtp) cJSON_AddItemToArray(cr, cJSON_CreateNumber(0));
        }
        char *txt = cJSON_PrintUnformatted(o);
        char label[1100];
        snprintf(label, sizeof(label), "--synthetic '%s'", spec);
        st = txt ? hf_config_parse(c, txt, strlen(txt), label) : gds_error(GDS_ERR_NOMEM, "out of memory");
        free(txt);
    }
    cJSON_Delete(o);
    return st;
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
        "usage: gds-convert HF_DIR -o OUT.gguf [options]\n"
        "       gds-convert --synthetic SPEC -o OUT.gguf [options]\n"
        "\n"
        "Converts an official DeepSeek-V4 Hugging Face checkpoint (config.json, safetensors\n"
        "shards, optional tokenizer.json) into one GGUF file, streaming. Lossless by default.\n"
        "\n"
        "options:\n"
        "  -o, --output OUT      output file (written as OUT.tmp, renamed when complete)\n"
        "  --dense TYPE          FP8 dense weights: f8 (default, lossless F8_E4M3_B128),\n"
        "                        q8_0, bf16, f16, f32\n"
        "  --experts TYPE        routed experts: mxfp4 (default, lossless), q8_0, bf16, f16\n"
        "  --max-layers N        convert only the first N layers (a runnable slice)\n"
        "  --no-mtp              leave out the MTP block\n"
        "  --compat llama.cpp    only types llama.cpp reads (FP8 -> q8_0 unless --dense says\n"
        "                        otherwise); MTP block in a sidecar mtp-<OUT name> beside OUT\n"
        "  --tokenizer-dir DIR   take tokenizer.json / tokenizer_config.json from DIR\n"
        "  --name NAME           general.name (default: the checkpoint folder name)\n"
        "  --synthetic SPEC      seeded random weights, no checkpoint: SPEC is\n"
        "                        [flash|pro|tiny-a][:key=value,...], e.g. \"flash:layers=4\",\n"
        "                        \"flash:experts=16\", \"tiny-a:seed=7\" (keys: convert/README.md)\n"
        "                        tokenizer=bytes in SPEC adds a small built-in byte-level\n"
        "                        vocabulary, e.g. \"tiny-a:tokenizer=bytes\"\n"
        "  --seed N              seed for --synthetic (default 1)\n"
        "  --dry-run             validate everything and print the plan (per-type sizes,\n"
        "                        total); no file is written\n"
        "  -v, --verbose         with --dry-run: one line per tensor\n"
        "  --allow-nonfinite     convert NaN/Inf weights as they are (default: refuse them,\n"
        "                        naming the tensor and its first bad element)\n"
        "  --progress            progress line even when stderr is not a terminal\n"
        "  -h, --help            this text\n"
        "  --version             print the version\n"
        "\n"
        "OUT may not be (or link to) a file the conversion reads. Ctrl-C, SIGTERM, SIGHUP,\n"
        "a full disk or 'ulimit -f' remove the partial OUT.tmp. Exit status: 0 success,\n"
        "1 any error (the message names the option, file, tensor or field).\n");
}

static bool parse_type(const char *s, bool experts, enum gds_type *out) {
    static const struct { const char *n; enum gds_type t; bool dense, exp; } tab[] = {
        { "f8", GDS_TYPE_F8_E4M3_B128, true, false }, { "f8_e4m3_b128", GDS_TYPE_F8_E4M3_B128, true, false },
        { "mxfp4", GDS_TYPE_MXFP4, false, true },     { "q8_0", GDS_TYPE_Q8_0, true, true },
        { "bf16", GDS_TYPE_BF16, true, true },        { "f16", GDS_TYPE_F16, true, true },
        { "f32", GDS_TYPE_F32, true, false },
    };
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcasecmp(s, tab[i].n) == 0 && (experts ? tab[i].exp : tab[i].dense)) { *out = tab[i].t; return true; }
    return false;
}

static char *sidecar_path(const char *out) {
    const char *slash = strrchr(out, '/');
    size_t dl = slash ? (size_t)(slash - out + 1) : 0;
    size_t n = strlen(out) + 8;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%.*smtp-%s", (int)dl, out, out + dl);
    return p;
}

static const char *base_name(const char *dir) {
    static char b[256];
    snprintf(b, sizeof(b), "%s", dir);
    size_t l = strlen(b);
    while (l > 1 && b[l - 1] == '/') b[--l] = 0;
    const char *s = strrchr(b, '/');
    return s ? s + 1 : b;
}

static void fmt_bytes(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (1ull << 30));
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", (double)b / (1ull << 20));
    else snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
}

static void print_plan(const struct cv_plan *p, bool verbose, const char *out, const char *side) {
    uint64_t by_type[GDS_TYPE_COUNT][2] = { { 0 } };
    int cnt[GDS_TYPE_COUNT][2] = { { 0 } };
    uint64_t total[2] = { 0, 0 };
    int ntot[2] = { 0, 0 };
    for (int i = 0; i < p->n; i++) {
        const struct cv_tensor *t = &p->t[i];
        by_type[t->type][t->file] += t->nbytes;
        cnt[t->type][t->file]++;
        total[t->file] += t->nbytes;
        ntot[t->file]++;
        if (verbose)
            printf("%s%-44s %-13s [%lld, %lld, %lld] %zu\n", t->file ? "(mtp) " : "", t->name, gds_type_name(t->type),
                   (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], t->nbytes);
    }
    for (int f = 0; f < 2; f++) {
        if (!ntot[f]) continue;
        printf("%s: %d tensors\n", f == 0 ? (out ? out : "(main file)") : (side ? side : "(MTP sidecar)"), ntot[f]);
        for (int ty = 0; ty < GDS_TYPE_COUNT; ty++) {
            if (!cnt[ty][f]) continue;
            char b[32];
            fmt_bytes(b, sizeof(b), by_type[ty][f]);
            printf("  %-13s %5d tensors %16llu bytes (%s)\n", gds_type_name((enum gds_type)ty), cnt[ty][f], (unsigned long long)by_type[ty][f], b);
        }
        char b[32];
        fmt_bytes(b, sizeof(b), total[f]);
        printf("  total         %5d tensors %16llu bytes (%s) of tensor data\n", ntot[f], (unsigned long long)total[f], b);
    }
}

/* ---- output safety ----------------------------------------------------------
 * Checked before any input is read: -o is not a directory nor another
 * non-regular file, and its directory exists and is writable (otherwise the
 * rename would fail only after the whole conversion). Checked once every
 * input is known: neither OUT, OUT.tmp nor the sidecar pair is one of the
 * files the converter reads (shards, index, config.json, tokenizer files),
 * compared by device and inode (symlinks and hard links included) and by
 * resolved path; the rename at close would otherwise replace the user's
 * checkpoint. */

static int out_error(const char *out, const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "gds-convert: error: -o %s: ", out);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return 1;
}

static int check_output_early(const char *out) {
    struct stat sb;
    if (stat(out, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return out_error(out, "is a directory; give a file name (e.g. %s/model.gguf)%s", out, "");
        if (!S_ISREG(sb.st_mode)) return out_error(out, "exists and is not a regular file%s%s", "", "");
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(out, '/');
    if (!slash) snprintf(dir, sizeof(dir), ".");
    else if (slash == out) snprintf(dir, sizeof(dir), "/");
    else snprintf(dir, sizeof(dir), "%.*s", (int)(slash - out), out);
    if (stat(dir, &sb) != 0) return out_error(out, "cannot use directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return out_error(out, "%s is not a directory%s", dir, "");
    if (access(dir, W_OK | X_OK) != 0) return out_error(out, "cannot write in directory %s: %s", dir, strerror(errno));
    return 0;
}

struct inputs {
    char (*path)[PATH_MAX];
    int n, cap;
};

/* records path when it exists (a file the converter read) */
static void inputs_add(struct inputs *in, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    if (in->n == in->cap) {
        int cap = in->cap ? 2 * in->cap : 16;
        void *p = realloc(in->path, (size_t)cap * sizeof(*in->path));
        if (!p) return;
        in->path = p;
        in->cap = cap;
    }
    snprintf(in->path[in->n++], PATH_MAX, "%s", path);
}

/* resolved path of p, also when p does not exist yet (its directory resolved) */
static bool resolve(const char *p, char *buf) {
    if (realpath(p, buf)) return true;
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *slash = strrchr(p, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - p) + (slash == p) : 1, slash ? p : ".");
    if (!realpath(dir, rdir)) return false;
    return snprintf(buf, PATH_MAX, "%s/%s", strcmp(rdir, "/") ? rdir : "", slash ? slash + 1 : p) < PATH_MAX;
}

/* 0 when out (an output or temporary path) is none of the inputs */
static int check_not_input(const char *opt_out, const char *out, const struct inputs *in) {
    struct stat so, si;
    char ro[PATH_MAX], ri[PATH_MAX];
    const bool have_so = stat(out, &so) == 0, have_ro = resolve(out, ro);
    for (int i = 0; i < in->n; i++) {
        const bool same_ino = have_so && stat(in->path[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino;
        const bool same_path = have_ro && realpath(in->path[i], ri) && strcmp(ro, ri) == 0;
        if (!same_ino && !same_path) continue;
        if (strcmp(opt_out, out) == 0)
            return out_error(opt_out, "is the input file %s: the conversion would overwrite the checkpoint%s; choose another output file",
                             in->path[i], "");
        fprintf(stderr, "gds-convert: error: -o %s: the file %s that the conversion writes is the input file %s; choose another output file\n",
                opt_out, out, in->path[i]);
        return 1;
    }
    return 0;
}

/* ---- signals -----------------------------------------------------------------
 * SIGINT, SIGTERM and SIGHUP remove the partial OUT.tmp (and the sidecar's)
 * and then end the process by the same signal, so the caller sees how it
 * ended. Only async-signal-safe calls (unlink, signal, raise) in the handler;
 * the paths are fixed before the first file is created. The final renames
 * run with these signals blocked, so a pair is never left half-renamed.
 * SIGXFSZ (ulimit -f) is ignored: write() then fails with EFBIG and the
 * writer's error path removes the .tmp and names the file. */

static char g_tmp_path[2][PATH_MAX + 8];
static volatile sig_atomic_t g_n_tmp;

static void on_signal(int sig) {
    for (int i = 0; i < g_n_tmp; i++) unlink(g_tmp_path[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void signals_install(void) {
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* e.g. nohup: keep ignoring */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
    signal(SIGXFSZ, SIG_IGN);
}

static void signals_block(bool block) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
    gds_log_set(log_sink, NULL);
    const char *in = NULL, *out = NULL, *spec = NULL, *tokdir = NULL, *name = NULL, *compat = NULL;
    bool dry = false, verbose = false, force_progress = false, seed_set = false, dense_set = false, allow_nonfinite = false;
    struct cv_options o = { .dense = GDS_TYPE_F8_E4M3_B128, .experts = GDS_TYPE_MXFP4, .seed = 1 };

    enum { O_DENSE = 256, O_EXPERTS, O_MAX_LAYERS, O_SEED, O_NO_MTP, O_COMPAT, O_SYNTHETIC, O_TOKDIR, O_NAME,
           O_DRY_RUN, O_PROGRESS, O_VERSION, O_ALLOW_NONFINITE };
    static const struct option longopts[] = {
        { "output", required_argument, NULL, 'o' },       { "dense", required_argument, NULL, O_DENSE },
        { "experts", required_argument, NULL, O_EXPERTS }, { "max-layers", required_argument, NULL, O_MAX_LAYERS },
        { "seed", required_argument, NULL, O_SEED },       { "no-mtp", no_argument, NULL, O_NO_MTP },
        { "compat", required_argument, NULL, O_COMPAT },   { "synthetic", required_argument, NULL, O_SYNTHETIC },
        { "tokenizer-dir", required_argument, NULL, O_TOKDIR }, { "name", required_argument, NULL, O_NAME },
        { "dry-run", no_argument, NULL, O_DRY_RUN },       { "verbose", no_argument, NULL, 'v' },
        { "progress", no_argument, NULL, O_PROGRESS },     { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, O_VERSION },       { "allow-nonfinite", no_argument, NULL, O_ALLOW_NONFINITE },
        { NULL, 0, NULL, 0 },
    };
    static const char *const see_help = "gds-convert: run 'gds-convert --help' for the options\n";
    opterr = 0; /* our messages: the error, then one line pointing at --help */
    for (int c; (c = getopt_long(argc, argv, ":o:vh", longopts, NULL)) != -1;) {
        long n;
        switch (c) {
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("gds-convert %s\n", GDS_VERSION); return 0;
        case 'o': out = optarg; break;
        case O_DENSE:
            if (!parse_type(optarg, false, &o.dense)) { fprintf(stderr, "gds-convert: error: --dense %s: expected f8, q8_0, bf16, f16 or f32\n", optarg); return 1; }
            dense_set = true;
            break;
        case O_EXPERTS:
            if (!parse_type(optarg, true, &o.experts)) { fprintf(stderr, "gds-convert: error: --experts %s: expected mxfp4, q8_0, bf16 or f16\n", optarg); return 1; }
            break;
        case O_MAX_LAYERS:
            if (!parse_long(optarg, 1, HF_MAX_LAYERS, &n)) {
                fprintf(stderr, "gds-convert: error: --max-layers '%s': expected an integer in 1..%d\n", optarg, HF_MAX_LAYERS);
                return 1;
            }
            o.max_layers = (int)n;
            break;
        case O_SEED:
            if (!parse_u64(optarg, &o.seed)) {
                fprintf(stderr, "gds-convert: error: --seed '%s': expected an integer in 0..%llu\n", optarg, (unsigned long long)UINT64_MAX);
                return 1;
            }
            seed_set = true;
            break;
        case O_NO_MTP: o.no_mtp = true; break;
        case O_COMPAT: compat = optarg; break;
        case O_SYNTHETIC: spec = optarg; break;
        case O_TOKDIR: tokdir = optarg; break;
        case O_NAME: name = optarg; break;
        case O_DRY_RUN: dry = true; break;
        case 'v': verbose = true; break;
        case O_PROGRESS: force_progress = true; break;
        case O_ALLOW_NONFINITE: allow_nonfinite = true; break;
        case ':': /* optopt: the short option, or a long option's value */
            if (optopt > 0 && optopt < 256) fprintf(stderr, "gds-convert: error: option -%c needs a value\n", optopt);
            else fprintf(stderr, "gds-convert: error: option %s needs a value\n", argv[optind - 1]);
            fputs(see_help, stderr);
            return 1;
        default:
            if (optopt >= 256) fprintf(stderr, "gds-convert: error: option %s takes no value\n", argv[optind - 1]);
            else if (optopt > 0) fprintf(stderr, "gds-convert: error: unknown option -%c\n", optopt);
            else fprintf(stderr, "gds-convert: error: unknown option %s\n", argv[optind - 1]);
            fputs(see_help, stderr);
            return 1;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (!in) in = argv[i];
        else { fprintf(stderr, "gds-convert: error: more than one input folder (%s, %s)\n", in, argv[i]); fputs(see_help, stderr); return 1; }
    }
    if (compat) {
        if (strcmp(compat, "llama.cpp") != 0) { fprintf(stderr, "gds-convert: error: --compat %s: only 'llama.cpp' is known\n", compat); return 1; }
        o.compat = true;
        if (!dense_set) o.dense = GDS_TYPE_Q8_0;
        if (o.dense == GDS_TYPE_F8_E4M3_B128) { fprintf(stderr, "gds-convert: error: --compat llama.cpp cannot store f8 (a ggml-ds type); use q8_0, bf16, f16 or f32\n"); return 1; }
    }
    if (!spec == !in) { fprintf(stderr, "gds-convert: error: give either a checkpoint folder or --synthetic SPEC (see --help)\n"); return 1; }
    if (!out && !dry) { fprintf(stderr, "gds-convert: error: no output file: use -o OUT.gguf (or --dry-run)\n"); return 1; }
    if (out && !dry && check_output_early(out) != 0) return 1;
    signals_install();

    struct hf_config cfg;
    struct st_set set;
    memset(&set, 0, sizeof(set));
    bool have_set = false;
    enum gds_status st;
    char source[1200];
    bool byte_tok = false;
    if (spec) {
        uint64_t sd = o.seed;
        st = synthetic_config(spec, &cfg, &sd, &byte_tok);
        if (!seed_set) o.seed = sd;
        o.synthetic = true;
        snprintf(source, sizeof(source), "synthetic:%s", spec);
        if (!name) name = "synthetic DeepSeek-V4";
        synth_tables();
    } else {
        struct stat sb;
        if (stat(in, &sb) != 0) { fprintf(stderr, "gds-convert: error: %s: cannot open the checkpoint directory: %s\n", in, strerror(errno)); return 1; }
        if (!S_ISDIR(sb.st_mode)) { fprintf(stderr, "gds-convert: error: %s: cannot open the checkpoint directory: not a directory\n", in); return 1; }
        char cp[4096];
        snprintf(cp, sizeof(cp), "%s/config.json", in);
        st = hf_config_load(&cfg, cp);
        if (st == GDS_OK) { st = st_set_open(&set, in); have_set = st == GDS_OK; }
        snprintf(source, sizeof(source), "hf:%s", base_name(in));
        if (!name) name = base_name(in);
    }
    struct cv_plan plan;
    memset(&plan, 0, sizeof(plan));
    if (st == GDS_OK) st = cv_plan_build(&plan, &cfg, have_set ? &set : NULL, &o);

    struct hf_tokenizer tok;
    memset(&tok, 0, sizeof(tok));
    bool tok_found = false;
    if (st == GDS_OK && byte_tok && !tokdir) {
        st = byte_tokenizer(&tok, cfg.vocab);
        tok_found = st == GDS_OK;
    } else if (st == GDS_OK && (tokdir || in)) {
        st = hf_tokenizer_load(&tok, tokdir ? tokdir : in, cfg.vocab, cfg.bos_id, cfg.eos_id, &tok_found);
        if (st == GDS_OK && !tok_found)
            gds_log(GDS_LOG_WARN, "warning: %s has no tokenizer.json: the GGUF gets no vocabulary (tools that need text will say so)\n",
                    tokdir ? tokdir : in);
    }
    char *side = (st == GDS_OK && o.compat && plan.mtp && out) ? sidecar_path(out) : NULL;
    if (st == GDS_OK && !dry) {
        /* every file read above; none of them may be an output or a .tmp */
        struct inputs ins = { NULL, 0, 0 };
        char p[PATH_MAX + 64];
        if (in) {
            snprintf(p, sizeof(p), "%s/config.json", in); inputs_add(&ins, p);
            snprintf(p, sizeof(p), "%s/model.safetensors.index.json", in); inputs_add(&ins, p);
        }
        for (int i = 0; have_set && i < set.n_shards; i++) inputs_add(&ins, set.shards[i].path);
        if (tok_found && (tokdir || in)) {
            snprintf(p, sizeof(p), "%s/tokenizer.json", tokdir ? tokdir : in); inputs_add(&ins, p);
            snprintf(p, sizeof(p), "%s/tokenizer_config.json", tokdir ? tokdir : in); inputs_add(&ins, p);
        }
        const char *outs[2] = { out, side };
        for (int f = 0; f < 2 && st == GDS_OK; f++) {
            if (!outs[f]) continue;
            snprintf(p, sizeof(p), "%s.tmp", outs[f]);
            if (check_not_input(out, outs[f], &ins) != 0 || check_not_input(out, p, &ins) != 0) st = GDS_ERR_INVALID;
        }
        free(ins.path);
    }

    if (st == GDS_OK && dry) {
        print_plan(&plan, verbose, out, side);
        if (tok_found) printf("vocabulary: %d tokens (%d defined), %lld merges\n", tok.n_vocab, tok.n_defined, (long long)tok.n_merges);
    } else if (st == GDS_OK) {
        const int nfiles = side ? 2 : 1;
        struct gds_gguf_writer *w[2] = { NULL, NULL };
        struct meta m = { &cfg, &plan, &o, tok_found ? &tok : NULL, name, source };
        uint64_t bytes[2] = { 0, 0 };
        for (int f = 0; f < nfiles; f++) snprintf(g_tmp_path[f], sizeof(g_tmp_path[f]), "%s.tmp", f ? side : out);
        g_n_tmp = nfiles;   /* from here on a signal removes the .tmp files */
        for (int f = 0; f < nfiles && st == GDS_OK; f++) {
            w[f] = gds_gguf_writer_open(f ? side : out);
            if (!w[f]) { st = GDS_ERR_IO; break; }
            st = write_meta(w[f], &m, f);
            for (int i = 0; i < plan.n && st == GDS_OK; i++) {
                if (plan.t[i].file != f) continue;
                st = gds_gguf_writer_add_tensor(w[f], plan.t[i].name, plan.t[i].type, plan.t[i].n_dims, plan.t[i].ne);
                bytes[f] += plan.t[i].nbytes;
            }
            if (st == GDS_OK) st = gds_gguf_writer_begin_data(w[f]);
        }
        struct conv cv = { have_set ? &set : NULL, NULL, NULL, allow_nonfinite };
        int64_t maxk = 1;
        for (int i = 0; i < plan.n; i++) if (plan.t[i].ne[0] > maxk) maxk = plan.t[i].ne[0];
        cv.frow = malloc((size_t)maxk * sizeof(float));
        cv.tmp = malloc((size_t)maxk);
        size_t maxrow = OBUF_SIZE;
        for (int i = 0; i < plan.n; i++) { size_t rb = gds_row_size(plan.t[i].type, plan.t[i].ne[0]); if (rb > maxrow) maxrow = rb; }
        uint8_t *obuf = malloc(maxrow);
        if (st == GDS_OK && (!cv.frow || !cv.tmp || !obuf)) st = gds_error(GDS_ERR_NOMEM, "out of memory");
        struct progress pr = { force_progress || isatty(2), now_s(), 0, bytes[0] + bytes[1], 0 };
        for (int f = 0; f < nfiles && st == GDS_OK; f++)
            for (int i = 0; i < plan.n && st == GDS_OK; i++)
                if (plan.t[i].file == f) st = emit_tensor(&cv, w[f], &plan.t[i], obuf, &pr);
        if (pr.on && st == GDS_OK) { progress_update(&pr, "done", true); if (isatty(2)) fputc('\n', stderr); }
        free(cv.frow); free(cv.tmp); free(obuf);
        signals_block(true);   /* both renames, or neither */
        if (st == GDS_OK && nfiles == 2) { st = gds_gguf_writer_close(w[1]); w[1] = NULL; }
        if (st == GDS_OK) {
            st = gds_gguf_writer_close(w[0]);
            w[0] = NULL;
            if (st != GDS_OK && side) unlink(side);  /* never leave half a pair */
        }
        for (int f = 0; f < 2; f++) if (w[f]) gds_gguf_writer_abort(w[f]);
        g_n_tmp = 0;
        signals_block(false);
        if (st == GDS_OK) {
            double el = now_s() - pr.t0;
            char b[32];
            fmt_bytes(b, sizeof(b), bytes[0] + bytes[1]);
            fprintf(stderr, "gds-convert: wrote %s%s%s: %d tensors, %s in %.1f s (%.1f MB/s)\n", out, side ? " + " : "", side ? side : "",
                    plan.n, b, el, el > 0 ? (double)(bytes[0] + bytes[1]) / el / 1e6 : 0.0);
        }
    }
    free(side);
    hf_tokenizer_free(&tok);
    cv_plan_free(&plan);
    if (have_set) st_set_close(&set);
    return st == GDS_OK ? 0 : 1;
}
