/*
 * deepseek4.c - DeepSeek-V4 per-sequence state, forward graph and evaluation
 * (spec ../shared/spec/deepseek-v4.md sections 3-5, REF-C numerics).
 *
 * One graph evaluates T consecutive tokens at positions p0 .. p0+T-1 (T = 1 is
 * decode, T > 1 a prefill chunk). Every token sees exactly what token-by-token
 * decode would show it (spec 4.13), and every kernel computes each output
 * element independently of the batch, so prefill, decode and chunked prefill
 * give the same bits.
 *
 * State of a layer (struct ds4_lstate), host tensors written in place by the
 * graphs (SET_ROWS) and moved by the host between graphs:
 *   kv  [hd, cap + W + n_batch]: rows [0, cap) compressed entries (entry w at
 *       row w, cap = n_ctx / ratio), rows [cap, cap + W) the raw-KV window ring
 *       (position q at cap + q % W), rows [cap + W, ...) the current chunk's raw
 *       KV (token t at cap + W + t). After the graph the host copies the last W
 *       chunk rows into the ring.
 *   ck/cz [c*d, 2m + n_batch]: compressor projections (k, and z incl. ape) by
 *       position, row r = position base + r, base = (n_past/m - 1)*m: the window
 *       before the current one (the overlap's lane A), the current partial
 *       window, then the chunk. Window -1 is (0, -inf) after a reset, so entry 0
 *       pools lane B only. After the graph the host drops whole windows so that
 *       base follows n_past.
 *   ik [ID, cap] indexer keys (CSA), ick/icz its compressor buffers.
 * Attention index lists (spec 4.14 decode order): the window oldest -> newest
 * padded with -1 to W, then the compressed entries (CSA: indexer top-k in
 * score order; HCA: all visible, ascending, padded with -1).
 *
 * Storage is compact where that is lossless (spec 5.2): kv rows are
 * KV_E4M3_B64 (448 e4m3 + 7 e8m0 + 64 bf16 = 584 B per 512-vector) when
 * head_dim - n_rot == 448 and n_rot == 64 (V4 Flash and Pro; other shapes,
 * e.g. the tiny test models, keep F32 rows), indexer keys are MXFP4 (128 e2m1
 * + 4 e8m0 = 68 B). The graph rounds every stored value to exactly these
 * formats first (QUANT_SIM FP8 per 64 / bf16 / FP4 per 32), and the reference
 * quantizers of the types reproduce such values exactly, so the compact state
 * gives the same bits as F32 storage. Compressor buffers stay F32 (spec 5.1).
 *
 * Rounding points: every "bf16(...)" of spec 4 is a QUANT_SIM(BF16) node
 * (helper bf16()); the fused ops round where gds.h says they do.
 */
#include "deepseek4-impl.h"
#include "gds-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ===========================================================================
 * per-sequence state
 * ========================================================================= */

struct ds4_lstate {
    struct gds_tensor *kv;        /* [hd, cap + W + n_batch] */
    int cap;                      /* compressed entries capacity (0 for SWA) */
    struct gds_tensor *ck, *cz;   /* [c*hd, 2m + n_batch] */
    struct gds_tensor *ik;        /* [ID, cap] (CSA) */
    struct gds_tensor *ick, *icz; /* [2*ID, 2m + n_batch] (CSA) */
};

struct gds_seq {
    struct gds_model *m;
    int n_ctx, n_batch, n_past;
    int mtp_past;                 /* positions consumed by the MTP block */
    struct gds_context *ctx;
    struct gds_buffer *buf;       /* the state on the model's gpu backend (NULL: in ctx, host memory) */
    size_t bytes;
    struct ds4_lstate l[GDS_DS4_MAX_LAYERS + 1];
};

/* storage types of the kv rows and indexer keys (see the file comment);
 * params.kv_f32 forces F32 rows (tests compare both, bit for bit) */
static enum gds_type state_kv_type(const struct gds_model *m) {
    const struct gds_ds4_hparams *hp = &m->hp;
    const bool fits = hp->head_dim == GDS_KV_E4M3_B64_NE && hp->n_rot == GDS_KV_E4M3_B64_NE - GDS_KV_E4M3_B64_NOPE;
    return fits && !m->params.kv_f32 ? GDS_TYPE_KV_E4M3_B64 : GDS_TYPE_F32;
}
static enum gds_type state_ik_type(const struct gds_model *m) {
    return m->hp.index_head_dim % QK_MXFP4 == 0 && !m->params.kv_f32 ? GDS_TYPE_MXFP4 : GDS_TYPE_F32;
}

static size_t state_bytes_layer(const struct gds_model *m, int ratio, int n_ctx, int n_batch) {
    const struct gds_ds4_hparams *hp = &m->hp;
    const int W = hp->sliding_window, hd = hp->head_dim;
    size_t b = 0;
    const int cap = ratio ? n_ctx / ratio : 0;
    b += gds_row_size(state_kv_type(m), hd) * (size_t)(cap + W + n_batch);
    if (ratio) {
        const int c = ratio == 4 ? 2 : 1;
        b += 2 * (size_t)c * hd * (size_t)(2 * ratio + n_batch) * 4;
    }
    if (ratio == 4) {
        const int ID = hp->index_head_dim;
        b += gds_row_size(state_ik_type(m), ID) * (size_t)(cap > 0 ? cap : 1);
        b += 2 * (size_t)2 * ID * (size_t)(2 * ratio + n_batch) * 4;
    }
    return b;
}

static int seq_n_batch(const struct gds_model *m, int n_ctx) {
    const int nb = m->params.n_batch > 0 ? m->params.n_batch : 512;
    return n_ctx < nb ? n_ctx : nb;
}

size_t gds_model_seq_bytes(const struct gds_model *m, int n_ctx) {
    if (n_ctx < 1) return 0;
    const int nl = m->hp.n_layer + m->hp.n_mtp, nb = seq_n_batch(m, n_ctx);
    size_t data = 0;
    for (int il = 0; il < nl; il++) data += state_bytes_layer(m, m->layers[il].ratio, n_ctx, nb) + 6 * 64;
    return data;
}

struct gds_seq *gds_seq_new(struct gds_model *m, int n_ctx) {
    const struct gds_ds4_hparams *hp = &m->hp;
    if (n_ctx < 1) { gds_error(GDS_ERR_INVALID, "gds_seq_new: context length %d must be positive", n_ctx); return NULL; }
    struct gds_seq *s = calloc(1, sizeof(*s));
    if (!s) { gds_error(GDS_ERR_NOMEM, "out of memory"); return NULL; }
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = seq_n_batch(m, n_ctx);
    const int nl = hp->n_layer + hp->n_mtp;
    const size_t data = gds_model_seq_bytes(m, n_ctx);
    s->bytes = data;
    s->ctx = gds_init((struct gds_init_params){ .mem_size = (m->gpu ? 0 : data) + (size_t)(nl * 6 + 8) * gds_tensor_overhead() + 4096,
                                                .no_alloc = m->gpu != NULL });
    if (!s->ctx) { free(s); return NULL; }
    const int W = hp->sliding_window, hd = hp->head_dim, ID = hp->index_head_dim;
    for (int il = 0; il < nl; il++) {
        const int r = m->layers[il].ratio;
        struct ds4_lstate *ls = &s->l[il];
        ls->cap = r ? n_ctx / r : 0;
        ls->kv = gds_format_name(gds_new_tensor_2d(s->ctx, state_kv_type(m), hd, ls->cap + W + s->n_batch), "state_kv-%d", il);
        if (r) {
            const int c = r == 4 ? 2 : 1;
            ls->ck = gds_format_name(gds_new_tensor_2d(s->ctx, GDS_TYPE_F32, (int64_t)c * hd, 2 * r + s->n_batch), "state_ck-%d", il);
            ls->cz = gds_format_name(gds_new_tensor_2d(s->ctx, GDS_TYPE_F32, (int64_t)c * hd, 2 * r + s->n_batch), "state_cz-%d", il);
        }
        if (r == 4) {
            ls->ik = gds_format_name(gds_new_tensor_2d(s->ctx, state_ik_type(m), ID, ls->cap > 0 ? ls->cap : 1), "state_ik-%d", il);
            ls->ick = gds_format_name(gds_new_tensor_2d(s->ctx, GDS_TYPE_F32, 2 * ID, 2 * r + s->n_batch), "state_ick-%d", il);
            ls->icz = gds_format_name(gds_new_tensor_2d(s->ctx, GDS_TYPE_F32, 2 * ID, 2 * r + s->n_batch), "state_icz-%d", il);
        }
    }
    if (m->gpu && !(s->buf = gds_backend_alloc_ctx_tensors(m->gpu, s->ctx))) {
        gds_error(GDS_ERR_NOMEM, "gds_seq_new: %zu bytes of state on %s: %s", data, gds_backend_name(m->gpu), gds_last_error());
        gds_free(s->ctx);
        free(s);
        return NULL;
    }
    gds_seq_reset(s);
    return s;
}

void gds_seq_free(struct gds_seq *s) {
    if (!s) return;
    if (s->buf) gds_buffer_free(s->buf);
    gds_free(s->ctx);
    free(s);
}

static void fill_f32(struct gds_tensor *t, float v) {
    if (!t) return;
    GDS_ASSERT(t->type == GDS_TYPE_F32 || v == 0.0f); /* compact rows: all-zero bytes decode to 0 */
    if (t->buffer && !t->buffer->is_host) { /* on a device: through a host block of the pattern */
        const size_t n = gds_nbytes(t), ch = n < ((size_t)1 << 20) ? n : ((size_t)1 << 20);
        float *blk = malloc(ch);
        GDS_ASSERT(blk != NULL);
        for (size_t i = 0; i < ch / sizeof(float); i++) blk[i] = v;
        for (size_t o = 0; o < n; o += ch) gds_backend_tensor_set(t, blk, o, n - o < ch ? n - o : ch);
        free(blk);
        return;
    }
    if (t->type != GDS_TYPE_F32) {
        GDS_ASSERT(gds_is_contiguous(t));
        memset(t->data, 0, gds_nbytes(t));
        return;
    }
    float *p = t->data;
    for (int64_t i = 0; i < gds_nelements(t); i++) p[i] = v;
}

/* fresh sequence: compressor states (0, -inf) (spec 4.7, trap T26) */
void gds_seq_reset(struct gds_seq *s) {
    const struct gds_ds4_hparams *hp = &s->m->hp;
    s->n_past = 0;
    s->mtp_past = 0;
    for (int il = 0; il < hp->n_layer + hp->n_mtp; il++) {
        struct ds4_lstate *ls = &s->l[il];
        fill_f32(ls->kv, 0.0f);
        fill_f32(ls->ck, 0.0f);
        fill_f32(ls->cz, -INFINITY);
        fill_f32(ls->ik, 0.0f);
        fill_f32(ls->ick, 0.0f);
        fill_f32(ls->icz, -INFINITY);
    }
}

int gds_seq_n_past(const struct gds_seq *s) { return s->n_past; }
size_t gds_seq_bytes(const struct gds_seq *s) { return s->bytes; }

/* ===========================================================================
 * state image (gds_seq_state_*): the used part of the state, loadable into a
 * sequence of any n_ctx >= n_past of the same model
 * ========================================================================= */

#define STATE_MAGIC "GDSSEQ01"

struct state_hdr {
    char magic[8];
    uint64_t fingerprint; /* the model (gds_model_fingerprint) */
    uint64_t size;        /* bytes of the image, trailer included */
    int32_t n_past, mtp_past, n_layers, kv_type, ik_type, head_dim, index_head_dim, window;
};

/* 64-bit hash, 8 bytes per step (not cryptographic: detects corruption and
 * tells models apart) */
static uint64_t hash64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h ^ (h >> 32);
}

uint64_t gds_model_fingerprint(struct gds_model *m) {
    if (m->fp_set) return m->fp;
    const struct gds_gguf *f = m->gguf;
    uint64_t h = 0xcbf29ce484222325ull;
    const size_t fsize = gds_gguf_size(f);
    h = hash64(h, &fsize, sizeof fsize);
    h = hash64(h, &m->hp, sizeof m->hp);
    const int32_t kt = state_kv_type(m), it = state_ik_type(m);
    h = hash64(h, &kt, sizeof kt);
    h = hash64(h, &it, sizeof it);
    for (int64_t i = 0; i < gds_gguf_n_tensors(f); i++) {
        const char *name = gds_gguf_tensor_name(f, i);
        int64_t ne[4];
        gds_gguf_tensor_ne(f, i, ne);
        const int32_t type = gds_gguf_tensor_type(f, i);
        const size_t sz = gds_gguf_tensor_size(f, i);
        h = hash64(h, name, strlen(name));
        h = hash64(h, ne, sizeof ne);
        h = hash64(h, &type, sizeof type);
        /* the first and last bytes of the data: files of one shape with other weights differ */
        const unsigned char *d = gds_gguf_tensor_data(f, i);
        const size_t k = sz < 256 ? sz : 256;
        h = hash64(h, d, k);
        h = hash64(h, d + sz - k, k);
    }
    m->fp = h;
    m->fp_set = true;
    return h;
}

/* the pieces of layer il's state in image order: (tensor, first row, rows);
 * returns the count. past: the positions the layer has seen. */
struct state_part { struct gds_tensor *t; int64_t row, rows; };
static int state_parts(const struct gds_seq *s, int il, int past, struct state_part *p) {
    const struct ds4_lstate *ls = &s->l[il];
    const int r = s->m->layers[il].ratio, W = s->m->hp.sliding_window;
    int n = 0;
    if (r) p[n++] = (struct state_part){ ls->kv, 0, past / r };          /* compressed entries */
    p[n++] = (struct state_part){ ls->kv, ls->cap, W };                   /* window ring */
    if (r) {
        p[n++] = (struct state_part){ ls->ck, 0, 2 * r };                 /* compressor windows */
        p[n++] = (struct state_part){ ls->cz, 0, 2 * r };
    }
    if (r == 4) {
        p[n++] = (struct state_part){ ls->ik, 0, past / r };              /* indexer keys */
        p[n++] = (struct state_part){ ls->ick, 0, 2 * r };
        p[n++] = (struct state_part){ ls->icz, 0, 2 * r };
    }
    return n;
}

static size_t state_image_size(const struct gds_seq *s, int n_past, int mtp_past) {
    const int nl = s->m->hp.n_layer + s->m->hp.n_mtp;
    size_t b = sizeof(struct state_hdr) + 8;
    for (int il = 0; il < nl; il++) {
        struct state_part p[8];
        const int n = state_parts(s, il, il < s->m->hp.n_layer ? n_past : mtp_past, p);
        for (int i = 0; i < n; i++) b += p[i].t->nb[1] * (size_t)p[i].rows;
    }
    return b;
}

size_t gds_seq_state_size(const struct gds_seq *s) { return state_image_size(s, s->n_past, s->mtp_past); }

size_t gds_seq_state_save(const struct gds_seq *s, void *buf, size_t size) {
    const size_t need = gds_seq_state_size(s);
    if (size < need) {
        gds_error(GDS_ERR_INVALID, "gds_seq_state_save: buffer of %zu bytes, the state needs %zu", size, need);
        return 0;
    }
    struct state_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, STATE_MAGIC, 8);
    h.fingerprint = gds_model_fingerprint(s->m);
    h.size = need;
    h.n_past = s->n_past;
    h.mtp_past = s->mtp_past;
    h.n_layers = s->m->hp.n_layer + s->m->hp.n_mtp;
    h.kv_type = state_kv_type(s->m);
    h.ik_type = state_ik_type(s->m);
    h.head_dim = s->m->hp.head_dim;
    h.index_head_dim = s->m->hp.index_head_dim;
    h.window = s->m->hp.sliding_window;
    char *o = buf;
    memcpy(o, &h, sizeof h);
    size_t at = sizeof h;
    for (int il = 0; il < h.n_layers; il++) {
        struct state_part p[8];
        const int n = state_parts(s, il, il < s->m->hp.n_layer ? s->n_past : s->mtp_past, p);
        for (int i = 0; i < n; i++) {
            const size_t nb = p[i].t->nb[1] * (size_t)p[i].rows;
            gds_backend_tensor_get(p[i].t, o + at, p[i].t->nb[1] * (size_t)p[i].row, nb);
            at += nb;
        }
    }
    const uint64_t sum = hash64(0x9e3779b97f4a7c15ull, o, at);
    memcpy(o + at, &sum, 8);
    return at + 8;
}

enum gds_status gds_seq_state_load(struct gds_seq *s, const void *buf, size_t size) {
    struct state_hdr h;
    if (size < sizeof h + 8) return gds_error(GDS_ERR_FORMAT, "sequence state: %zu bytes, too short for a state image", size);
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, STATE_MAGIC, 8) != 0) return gds_error(GDS_ERR_FORMAT, "sequence state: not a state image (magic)");
    if (h.size != size) return gds_error(GDS_ERR_FORMAT, "sequence state: %zu bytes, the header says %llu (truncated or padded)", size, (unsigned long long)h.size);
    uint64_t sum;
    memcpy(&sum, (const char *)buf + size - 8, 8);
    if (hash64(0x9e3779b97f4a7c15ull, buf, size - 8) != sum) return gds_error(GDS_ERR_FORMAT, "sequence state: checksum mismatch (corrupted)");
    if (h.fingerprint != gds_model_fingerprint(s->m)) return gds_error(GDS_ERR_INVALID, "sequence state: saved with another model");
    const struct gds_ds4_hparams *hp = &s->m->hp;
    if (h.n_layers != hp->n_layer + hp->n_mtp || h.kv_type != (int32_t)state_kv_type(s->m) || h.ik_type != (int32_t)state_ik_type(s->m) ||
        h.head_dim != hp->head_dim || h.index_head_dim != hp->index_head_dim || h.window != hp->sliding_window)
        return gds_error(GDS_ERR_INVALID, "sequence state: saved with other state types or widths (kv_f32 differs?)");
    if (h.n_past < 0 || h.mtp_past < 0 || h.n_past > s->n_ctx || h.mtp_past > s->n_ctx)
        return gds_error(GDS_ERR_INVALID, "sequence state: %d positions do not fit this sequence's context of %d", h.n_past > h.mtp_past ? h.n_past : h.mtp_past, s->n_ctx);
    if (state_image_size(s, h.n_past, h.mtp_past) != size) return gds_error(GDS_ERR_FORMAT, "sequence state: size does not match its positions");
    /* valid: apply (nothing below can fail) */
    gds_seq_reset(s);
    const char *in = buf;
    size_t at = sizeof h;
    for (int il = 0; il < h.n_layers; il++) {
        struct state_part p[8];
        const int n = state_parts(s, il, il < hp->n_layer ? h.n_past : h.mtp_past, p);
        for (int i = 0; i < n; i++) {
            const size_t nb = p[i].t->nb[1] * (size_t)p[i].rows;
            gds_backend_tensor_set(p[i].t, in + at, p[i].t->nb[1] * (size_t)p[i].row, nb);
            at += nb;
        }
    }
    s->n_past = h.n_past;
    s->mtp_past = h.mtp_past;
    return GDS_OK;
}

/* host part of the state update after a graph of T tokens at p0 */
static void comp_shift(struct gds_tensor *k, struct gds_tensor *z, int m, int p0, int T) {
    const int base0 = (p0 / m - 1) * m, base1 = ((p0 + T) / m - 1) * m;
    const int64_t delta = base1 - base0, R = k->ne[1];
    if (delta <= 0) return;
    const size_t rb = k->nb[1];
    gds_backend_tensor_move(k, 0, (size_t)delta * rb, (size_t)(R - delta) * rb);
    gds_backend_tensor_move(z, 0, (size_t)delta * rb, (size_t)(R - delta) * rb);
}

static void state_update(struct gds_seq *s, int il, int p0, int T) {
    const struct gds_ds4_hparams *hp = &s->m->hp;
    struct ds4_lstate *ls = &s->l[il];
    const int W = hp->sliding_window;
    const size_t rb = ls->kv->nb[1];
    for (int q = p0 + T - W > p0 ? p0 + T - W : p0; q < p0 + T; q++)
        gds_backend_tensor_move(ls->kv, (size_t)(ls->cap + q % W) * rb, (size_t)(ls->cap + W + q - p0) * rb, rb);
    const int r = s->m->layers[il].ratio;
    if (r) comp_shift(ls->ck, ls->cz, r, p0, T);
    if (r == 4) comp_shift(ls->ick, ls->icz, r, p0, T);
}

/* ===========================================================================
 * graph helpers (named after the paper / reference)
 * ========================================================================= */

/* per-graph inputs shared by the layers of one compress ratio (0, 4, 128 -> 0, 1, 2) */
struct ds4_rinputs {
    bool ready;
    struct gds_tensor *scratch_ids;  /* [T] kv rows of the chunk tokens */
    struct gds_tensor *idx;          /* SWA/HCA: full index list [L, T]; CSA: unused */
    /* compressor */
    struct gds_tensor *ape_ids;      /* [T] pos % m */
    struct gds_tensor *buf_ids;      /* [T] pos - base */
    struct gds_tensor *epos;         /* [nw] w*m */
    struct gds_tensor *eids;         /* [nw] w */
    int nw, n_comp;                  /* windows completed in this chunk; entries after it */
};

/* One sequence's part of a graph: its tokens are the columns [t0, t0 + T)
 * of the token-parallel tensors (gds_model_eval_batch puts several sequences
 * into one graph; a plain evaluation has one part). */
struct ds4_seg {
    struct gds_seq *s;
    const struct gds_eval *e;
    int i0;                          /* first token of e in this graph */
    int p0, t0, T;                   /* positions p0 .. p0+T-1 at columns t0 .. t0+T-1 */
    struct gds_tensor *pos;          /* [T] I32: its columns of ds4_build.pos */
    struct ds4_rinputs ri[3];
};

struct ds4_build {
    struct gds_model *m;
    struct gds_context *ctx;
    int T;                           /* columns: the tokens of all parts */
    const int32_t *tokens;           /* [T] */
    struct gds_tensor *pos;          /* [T] I32 */
    struct ds4_seg *seg;
    int n_seg;
    struct gds_tensor **side;        /* state writes nothing reads (model-owned array) */
    int n_side, cap_side;
    struct gds_tensor **early;       /* expanded into the graph first (hybrid: routing weights) */
    int n_early;
    /* single-layer diagnostics */
    struct gds_tensor *router_ids;   /* [K, T] */
    struct gds_tensor *topk;         /* [k, T] */
    const int32_t *hash_ids;         /* host ids of a hash layer [T, K] (last built) */
};

static void add_side(struct ds4_build *b, struct gds_tensor *t) {
    GDS_ASSERT(b->n_side < b->cap_side);
    b->side[b->n_side++] = t;
}

/* columns of part sg of a token-parallel tensor whose dim `dim` (1 or 2, the
 * last) is the token; the tensor itself when the graph has one part */
static struct gds_tensor *seg_cols(struct ds4_build *b, const struct ds4_seg *sg, struct gds_tensor *t, int dim) {
    if (b->n_seg == 1) return t;
    GDS_ASSERT(t->ne[dim] == b->T && t->ne[3] == 1 && (dim == 2 || t->ne[2] == 1));
    if (dim == 2) return gds_view_3d(b->ctx, t, t->ne[0], t->ne[1], sg->T, t->nb[1], t->nb[2], (size_t)sg->t0 * t->nb[2]);
    return gds_view_2d(b->ctx, t, t->ne[0], sg->T, t->nb[1], (size_t)sg->t0 * t->nb[1]);
}

static int rslot(int ratio) { return ratio == 0 ? 0 : ratio == 4 ? 1 : 2; }

static struct gds_tensor *new_input(struct ds4_build *b, enum gds_type type, int64_t ne0, int64_t ne1) {
    gds_set_no_alloc(b->ctx, false);
    struct gds_tensor *t = gds_new_tensor_2d(b->ctx, type, ne0, ne1);
    gds_set_no_alloc(b->ctx, true);
    GDS_ASSERT(t != NULL && t->data != NULL);
    t->flags |= GDS_TENSOR_FLAG_INPUT;
    return t;
}

static struct gds_tensor *nm(struct gds_tensor *t, const char *name, int il) {
    return il >= 0 ? gds_format_name(t, "%s-%d", name, il) : gds_set_name(t, name);
}

static struct gds_tensor *bf16(struct ds4_build *b, struct gds_tensor *t) { return gds_quant_sim(b->ctx, t, GDS_SIM_BF16, 0, 0); }

/* spec 3.2: y = bf16(w * (x * rsqrt(mean(x^2) + eps))) */
static struct gds_tensor *norm_w(struct ds4_build *b, struct gds_tensor *x, struct gds_tensor *w) {
    return bf16(b, gds_rms_norm(b->ctx, x, w, b->m->hp.rms_eps));
}

/* Linears that are FP8 in the official checkpoint (wq_a, wq_b, wkv, wo_b,
 * indexer wq_b, shared experts, MTP e_proj/h_proj) and the FP4 routed experts:
 * the reference quantizes their input with act_quant(x, 128) (spec 3.3, 3.5,
 * 3.6). F8_E4M3_B128 and MXFP4 weights do that inside MUL_MAT; any other
 * storage type (gds-convert --dense bf16|f16|f32|q8_0, llama.cpp's Q8_0) gets
 * the same activation values from a QUANT_SIM FP8 node first, so the storage
 * type changes the weights' values at most, never the activation rounding
 * (README "Weight types"). Not for wo_a (T17: bf16 input) nor the linears the
 * reference runs in bf16/fp32 (compressor, indexer weights_proj, router, head). */
static bool fp8_in_mul_mat(const struct gds_tensor *w) { return w->type == GDS_TYPE_F8_E4M3_B128 || w->type == GDS_TYPE_MXFP4; }
static struct gds_tensor *fp8_in(struct ds4_build *b, const struct gds_tensor *w, struct gds_tensor *x) {
    return fp8_in_mul_mat(w) ? x : gds_quant_sim(b->ctx, x, GDS_SIM_FP8, 128, 0);
}

/* y = w x for a linear of fp8_in's list */
static struct gds_tensor *mm_fp8(struct ds4_build *b, struct gds_tensor *w, struct gds_tensor *x) {
    return gds_mul_mat(b->ctx, w, fp8_in(b, w, x));
}

/* mm_fp8 for linears that read the same x (wq_a and wkv; wq_b and the
 * indexer's wq_b; the shared expert's gate and up): the first one that needs
 * the QUANT_SIM makes it in *xq (NULL at first), the others reuse it: one
 * node instead of two, same values (decode: ~20 us a 4096-element fp8 sim) */
static struct gds_tensor *mm_fp8_shared(struct ds4_build *b, struct gds_tensor *w, struct gds_tensor *x, struct gds_tensor **xq) {
    if (fp8_in_mul_mat(w)) return gds_mul_mat(b->ctx, w, x);
    if (!*xq) *xq = fp8_in(b, w, x);
    return gds_mul_mat(b->ctx, w, *xq);
}

static struct gds_rope_params rope_params(const struct gds_ds4_hparams *hp, int ratio, bool inverse) {
    struct gds_rope_params p = { .n_rot = hp->n_rot, .inverse = inverse };
    if (ratio) {
        p.base = hp->compress_rope_base;
        p.yarn_factor = hp->yarn_factor;
        p.yarn_orig_ctx = hp->yarn_orig_ctx;
        p.yarn_beta_fast = hp->yarn_beta_fast;
        p.yarn_beta_slow = hp->yarn_beta_slow;
    } else {
        p.base = hp->rope_base;
        p.yarn_factor = 1.0f;
    }
    return p;
}

/* Window part of the index list of the token at position p (chunk starts at
 * p0): kv rows of positions max(0, p-W+1) .. p, oldest first (ring rows
 * before the chunk, chunk rows after), padded with -1 to W. Returns W. */
static int window_row(int32_t *row, int W, int p, int p0, int cap) {
    int n = 0;
    for (int q = p - W + 1 > 0 ? p - W + 1 : 0; q <= p; q++) row[n++] = q >= p0 ? cap + W + (q - p0) : cap + q % W;
    while (n < W) row[n++] = -1;
    return n;
}

/* Builds the per-ratio inputs of part sg (window index lists, compressor row ids). */
static void rinputs(struct ds4_build *b, struct ds4_seg *sg, int ratio) {
    struct ds4_rinputs *ri = &sg->ri[rslot(ratio)];
    if (ri->ready) return;
    ri->ready = true;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const int W = hp->sliding_window, T = sg->T, p0 = sg->p0;
    const int cap = ratio ? sg->s->n_ctx / ratio : 0;

    ri->scratch_ids = new_input(b, GDS_TYPE_I32, T, 1);
    for (int t = 0; t < T; t++) ((int32_t *)ri->scratch_ids->data)[t] = cap + W + t;

    ri->n_comp = ratio ? (p0 + T) / ratio : 0;
    if (ratio != 4) {
        const int L = W + (ratio ? ri->n_comp : 0);
        ri->idx = new_input(b, GDS_TYPE_I32, L, T);
        for (int t = 0; t < T; t++) {
            int32_t *row = (int32_t *)ri->idx->data + (size_t)t * L;
            const int p = p0 + t;
            int n = window_row(row, W, p, p0, cap);
            if (ratio)
                for (int w = 0; w < ri->n_comp; w++) row[n++] = w < (p + 1) / ratio ? w : -1;
        }
    }
    if (!ratio) return;
    const int base = (p0 / ratio - 1) * ratio;
    ri->ape_ids = new_input(b, GDS_TYPE_I32, T, 1);
    ri->buf_ids = new_input(b, GDS_TYPE_I32, T, 1);
    for (int t = 0; t < T; t++) {
        ((int32_t *)ri->ape_ids->data)[t] = (p0 + t) % ratio;
        ((int32_t *)ri->buf_ids->data)[t] = p0 + t - base;
    }
    const int w_first = p0 / ratio, w_last = (p0 + T) / ratio - 1;
    ri->nw = w_last - w_first + 1;
    if (ri->nw > 0) {
        ri->epos = new_input(b, GDS_TYPE_I32, ri->nw, 1);
        ri->eids = new_input(b, GDS_TYPE_I32, ri->nw, 1);
        for (int i = 0; i < ri->nw; i++) {
            ((int32_t *)ri->epos->data)[i] = (w_first + i) * ratio;
            ((int32_t *)ri->eids->data)[i] = w_first + i;
        }
    }
}

/* Window index list of one CSA layer for part sg: [W + k, T], the top-k part written in the graph. */
static struct gds_tensor *csa_idx_input(struct ds4_build *b, const struct ds4_seg *sg, int k) {
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const int W = hp->sliding_window, T = sg->T, p0 = sg->p0, cap = sg->s->n_ctx / 4, L = W + k;
    struct gds_tensor *idx = new_input(b, GDS_TYPE_I32, L, T);
    for (int t = 0; t < T; t++) {
        int32_t *row = (int32_t *)idx->data + (size_t)t * L;
        for (int n = window_row(row, W, p0 + t, p0, cap); n < L; n++) row[n] = -1;
    }
    return idx;
}

/* Compressor projections (spec 4.7) of x [D, T], all parts at once:
 * kp [c*d, T] and the score projection zm [c*d, T] (ape not yet added) */
static void compressor_proj(struct ds4_build *b, int il, struct gds_tensor *x, struct gds_tensor *wkv, struct gds_tensor *wgate,
                            struct gds_tensor **kp, struct gds_tensor **zm, bool indexer) {
    char name[48];
    *kp = gds_mul_mat(b->ctx, wkv, x);
    *zm = gds_mul_mat(b->ctx, wgate, x);
    snprintf(name, sizeof(name), "%s_kv", indexer ? "icomp" : "comp"); nm(*kp, name, il);
}

/* Compressor of part sg (spec 4.7): its columns of the projections go to
 * its state buffers; completed windows are pooled, normalized, roped and
 * quantized and written to rows w of dst. Returns dst after the write (or dst). */
static struct gds_tensor *compressor(struct ds4_build *b, struct ds4_seg *sg, int il, struct gds_tensor *kp_all, struct gds_tensor *zm_all,
                                     struct gds_tensor *ape, struct gds_tensor *normw, struct gds_tensor *bk, struct gds_tensor *bz,
                                     struct gds_tensor *dst, int d, int ratio, bool indexer) {
    struct gds_context *ctx = b->ctx;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    struct ds4_rinputs *ri = &sg->ri[rslot(ratio)];
    const bool overlap = ratio == 4;
    const int c = overlap ? 2 : 1;
    const char *pfx = indexer ? "icomp" : "comp";
    char name[48];
    GDS_ASSERT(kp_all->ne[0] == (int64_t)c * d && bk->ne[0] == (int64_t)c * d && dst->ne[0] == d);

    struct gds_tensor *kp = seg_cols(b, sg, kp_all, 1);                     /* [c*d, T] fp32 */
    struct gds_tensor *zp = gds_add(ctx, seg_cols(b, sg, zm_all, 1), gds_get_rows(ctx, ape, ri->ape_ids));
    snprintf(name, sizeof(name), "%s_score", pfx); nm(zp, name, il);
    struct gds_tensor *kb = gds_set_rows(ctx, bk, kp, ri->buf_ids);
    struct gds_tensor *zb = gds_set_rows(ctx, bz, zp, ri->buf_ids);
    if (ri->nw == 0) {
        add_side(b, kb);
        add_side(b, zb);
        return dst;
    }
    const size_t rb = bk->nb[1];
    const int64_t nwin = ri->nw + (overlap ? 1 : 0);
    const size_t off = overlap ? 0 : (size_t)ratio * rb;
    struct gds_tensor *kv = gds_view_3d(ctx, kb, (int64_t)c * d, ratio, nwin, rb, (size_t)ratio * rb, off);
    struct gds_tensor *zv = gds_view_3d(ctx, zb, (int64_t)c * d, ratio, nwin, rb, (size_t)ratio * rb, off);
    struct gds_tensor *e = gds_compress(ctx, kv, zv, overlap);           /* [d, nw] */
    snprintf(name, sizeof(name), "%s_pool", pfx); nm(e, name, il);
    e = norm_w(b, bf16(b, e), normw);
    e = gds_reshape_3d(ctx, e, d, 1, ri->nw);
    e = bf16(b, gds_rope(ctx, e, ri->epos, rope_params(hp, ratio, false)));
    if (indexer) {
        e = bf16(b, gds_hadamard(ctx, e));
        e = gds_quant_sim(ctx, e, GDS_SIM_FP4, 32, 0);
    } else {
        e = gds_quant_sim(ctx, e, GDS_SIM_FP8, 64, d - hp->n_rot);
    }
    snprintf(name, sizeof(name), "%s_entry", pfx); nm(e, name, il);
    return gds_set_rows(ctx, dst, gds_reshape_2d(ctx, e, d, ri->nw), ri->eids);
}

/* Attention of one layer (spec 4.5-4.10): x [D, T] bf16 -> [D, T] bf16.
 * The projections run over all columns; the state writes, compressors,
 * indexer and the attention itself per part (sequence). */
static struct gds_tensor *attention(struct ds4_build *b, int il, struct gds_tensor *x) {
    struct gds_context *ctx = b->ctx;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const struct ds4_layer *L = &b->m->layers[il];
    const int T = b->T, hd = hp->head_dim, H = hp->n_head, W = hp->sliding_window, ratio = L->ratio;
    const int nd = hd - hp->n_rot;
    const struct gds_rope_params rp = rope_params(hp, ratio, false);
    GDS_ASSERT(x->ne[0] == hp->n_embd && x->ne[1] == T);

    /* q: low rank, weighted norm, per-head unweighted norm in bf16 ops, rope */
    struct gds_tensor *xq = NULL, *qrq = NULL; /* mm_fp8_shared */
    struct gds_tensor *qr = nm(norm_w(b, bf16(b, mm_fp8_shared(b, L->q_a, x, &xq)), L->q_a_norm), "q_lora", il);
    struct gds_tensor *q = gds_reshape_3d(ctx, bf16(b, mm_fp8_shared(b, L->q_b, qr, &qrq)), hd, H, T);
    {
        struct gds_tensor *ms = bf16(b, gds_scale(ctx, gds_sum_rows(ctx, bf16(b, gds_mul(ctx, q, q))), 1.0f / (float)hd, 0.0f));
        struct gds_tensor *t = bf16(b, gds_scale(ctx, ms, 1.0f, hp->rms_eps));
        struct gds_tensor *f = bf16(b, gds_div(ctx, gds_scale(ctx, t, 0.0f, 1.0f), gds_sqrt(ctx, t)));
        q = bf16(b, gds_mul(ctx, q, f));
    }
    q = nm(bf16(b, gds_rope(ctx, q, b->pos, rp)), "q", il);

    /* the single K=V head */
    struct gds_tensor *kv = norm_w(b, bf16(b, mm_fp8_shared(b, L->kv, x, &xq)), L->kv_norm);
    kv = bf16(b, gds_rope(ctx, gds_reshape_3d(ctx, kv, hd, 1, T), b->pos, rp));
    kv = gds_reshape_2d(ctx, nm(gds_quant_sim(ctx, kv, GDS_SIM_FP8, 64, nd), "kv", il), hd, T);

    /* indexer (spec 4.8) and compressor projections */
    const int IH = hp->index_n_heads, ID = hp->index_head_dim;
    struct gds_tensor *qi = NULL, *wi = NULL, *ikp = NULL, *izm = NULL, *kp = NULL, *zm = NULL;
    if (ratio == 4) {
        qi = gds_reshape_3d(ctx, bf16(b, mm_fp8_shared(b, L->idx_q_b, qr, &qrq)), ID, IH, T);
        qi = bf16(b, gds_rope(ctx, qi, b->pos, rp));
        qi = bf16(b, gds_hadamard(ctx, qi));
        qi = nm(gds_quant_sim(ctx, qi, GDS_SIM_FP4, 32, 0), "idx_q", il);
        const float wscale = (float)(1.0 / sqrt((double)ID * (double)IH));
        wi = nm(bf16(b, gds_scale(ctx, bf16(b, gds_mul_mat(ctx, L->idx_proj, x)), wscale, 0.0f)), "idx_w", il);
        compressor_proj(b, il, x, L->icomp_kv, L->icomp_gate, &ikp, &izm, true);
    }
    if (ratio) compressor_proj(b, il, x, L->comp_kv, L->comp_gate, &kp, &zm, false);

    /* per part: state writes, compressors, indexer, attention */
    struct gds_tensor *o = NULL, *oall = NULL;
    if (b->n_seg > 1) oall = gds_reshape_3d(ctx, new_input(b, GDS_TYPE_F32, (int64_t)hd * H, T), hd, H, T);
    for (int j = 0; j < b->n_seg; j++) {
        struct ds4_seg *sg = &b->seg[j];
        struct ds4_lstate *ls = &sg->s->l[il];
        rinputs(b, sg, ratio);
        struct ds4_rinputs *ri = &sg->ri[rslot(ratio)];
        struct gds_tensor *kvs = gds_set_rows(ctx, ls->kv, seg_cols(b, sg, kv, 1), ri->scratch_ids);
        struct gds_tensor *idx = ri->idx;
        if (ratio == 4) {
            struct gds_tensor *iks = compressor(b, sg, il, ikp, izm, L->icomp_ape, L->icomp_norm, ls->ick, ls->icz, ls->ik, ID, 4, true);
            const int S = ri->n_comp;
            if (S > 0) {
                struct gds_tensor *kI = gds_view_2d(ctx, iks, ID, S, iks->nb[1], 0);
                struct gds_tensor *sc = nm(gds_indexer(ctx, seg_cols(b, sg, qi, 2), kI, seg_cols(b, sg, wi, 1), sg->pos, 4), "idx_scores", il);
                const int k = S < hp->index_topk ? S : hp->index_topk;
                struct gds_tensor *top = nm(gds_top_k(ctx, sc, k), "idx_topk", il);
                b->topk = top;
                struct gds_tensor *full = csa_idx_input(b, sg, k);
                const size_t nb1 = full->nb[1];
                struct gds_tensor *dstv = gds_view_2d(ctx, full, k, sg->T, nb1, (size_t)W * 4);
                struct gds_tensor *cp = gds_cpy(ctx, top, dstv);
                /* a view of the whole list that depends on the copy: offsets are
                 * relative to the copy's view (W*4 into `full`), and wrap back to 0 */
                idx = gds_view_2d(ctx, cp, W + k, sg->T, nb1, (size_t)0 - (size_t)W * 4);
            } else {
                add_side(b, iks);
                idx = csa_idx_input(b, sg, 0);
            }
        }
        if (ratio) kvs = compressor(b, sg, il, kp, zm, L->comp_ape, L->comp_norm, ls->ck, ls->cz, kvs, hd, ratio, false);
        struct gds_tensor *oj = nm(gds_attn(ctx, seg_cols(b, sg, q, 2), kvs, idx, L->attn_sinks, 1.0f / sqrtf((float)hd)), "attn", il);
        if (!oall) { o = oj; break; }
        /* into its columns of oall; the next part's copy goes into a view of
         * this copy (offsets relative to it, wrapping back to oall's start),
         * so that the whole depends on every copy */
        const size_t off = (size_t)sg->t0 * oall->nb[2];
        struct gds_tensor *cp = gds_cpy(ctx, oj, gds_view_3d(ctx, oall, hd, H, sg->T, oall->nb[1], oall->nb[2], off));
        oall = gds_view_3d(ctx, cp, hd, H, T, oall->nb[1], oall->nb[2], (size_t)0 - off);
    }
    if (oall) o = oall;
    o = bf16(b, gds_rope(ctx, o, b->pos, rope_params(hp, ratio, true)));

    /* grouped output projection (spec 4.10): group g = heads g*H/G ... */
    const int G = hp->o_groups, OL = hp->o_lora_rank;
    const int64_t Kg = (int64_t)hd * H / G;
    struct gds_tensor *og = gds_permute(ctx, gds_reshape_3d(ctx, o, Kg, G, T), 0, 2, 1, 3);    /* [Kg, T, G] */
    struct gds_tensor *wa = gds_view_3d(ctx, L->wo_a, Kg, OL, G, L->wo_a->nb[1], L->wo_a->nb[1] * OL, 0);
    /* spec T17: bf16 weights x bf16 input; F8 wo_a runs from its FP8 bytes with exact bf16 values */
    if (T == 1 && L->wo_a_q8) /* one token: the Q8_0 bytes with the copy's bf16 values (deepseek4-load.c) */
        wa = gds_view_3d(ctx, L->wo_a_q8, Kg, OL, G, L->wo_a_q8->nb[1], L->wo_a_q8->nb[1] * OL, 0);
    const int woa_flags = wa->type == GDS_TYPE_F8_E4M3_B128 || wa->type == GDS_TYPE_Q8_0 ? GDS_MM_ACT_BF16 : 0;
    struct gds_tensor *z = gds_mul_mat_ext(ctx, wa, og, woa_flags);                             /* [OL, T, G] */
    z = gds_reshape_2d(ctx, gds_cont(ctx, gds_permute(ctx, z, 0, 2, 1, 3)), (int64_t)OL * G, T); /* [G*OL, T] */
    z = nm(bf16(b, z), "attn_lora", il);
    return nm(bf16(b, mm_fp8(b, L->wo_b, z)), "attn_out", il);
}

static int cmp_i32(const void *a, const void *b) { return *(const int32_t *)a - *(const int32_t *)b; }

/* MoE (spec 4.11): x [D, T] bf16 -> [D, T] bf16 */
static struct gds_tensor *moe(struct ds4_build *b, int il, struct gds_tensor *x) {
    struct gds_context *ctx = b->ctx;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const struct ds4_layer *L = &b->m->layers[il];
    const int T = b->T, K = hp->n_expert_used, E = hp->n_expert, D = hp->n_embd;

    struct gds_tensor *sc = nm(gds_sqrt(ctx, gds_softplus(ctx, gds_mul_mat(ctx, L->gate_inp, x))), "router_scores", il); /* [E, T] */
    struct gds_tensor *ids;
    if (L->hash) {
        ids = new_input(b, GDS_TYPE_I32, K, T);
        const int32_t *tab = L->tid2eid->data;
        for (int t = 0; t < T; t++) {
            int32_t *r = (int32_t *)ids->data + (size_t)t * K;
            memcpy(r, tab + (size_t)b->tokens[t] * K, sizeof(int32_t) * K);
            qsort(r, (size_t)K, sizeof(int32_t), cmp_i32); /* the reference sums experts in id order */
        }
        b->hash_ids = ids->data;
    } else {
        ids = gds_top_k(ctx, gds_add(ctx, sc, L->probs_b), K);
        b->hash_ids = NULL;
    }
    nm(ids, "router_ids", il);
    b->router_ids = ids;
    struct gds_tensor *g = gds_reshape_2d(ctx, gds_get_rows(ctx, gds_reshape_3d(ctx, sc, 1, E, T), ids), K, T);
    struct gds_tensor *w = gds_scale(ctx, gds_div(ctx, g, gds_sum_rows(ctx, g)), hp->routed_scale, 0.0f);
    nm(w, "router_weights", il);
    /* hybrid: the routing weights enter the graph before the expert products
     * (depth-first order would put them after the CPU's gate/up chain, one
     * more trip between the backends per layer) */
    /* expert prefetch (issue 12) wants the same: the router's choice as early
     * as possible, then the shared expert (below) while the pages come in */
    const bool pf = b->m->params.prefetch_experts && !b->m->gpu;
    if (b->m->gsched || pf) {
        GDS_ASSERT(b->n_early < b->cap_side);
        b->early[b->n_early++] = w;
    }

    struct gds_tensor *x3 = gds_reshape_3d(ctx, x, D, 1, T);
    struct gds_tensor *eg = bf16(b, gds_mul_mat_id(ctx, L->gate_exps, fp8_in(b, L->gate_exps, x3), ids));   /* [F, K, T] */
    struct gds_tensor *eu = bf16(b, gds_mul_mat_id(ctx, L->up_exps, fp8_in(b, L->up_exps, x3), ids));
    struct gds_tensor *h = gds_swiglu(ctx, eg, eu, L->clamp_exp);
    h = nm(bf16(b, gds_mul(ctx, h, gds_reshape_3d(ctx, w, 1, K, T))), "moe_h", il);
    struct gds_tensor *ed = nm(bf16(b, gds_mul_mat_id(ctx, L->down_exps, fp8_in(b, L->down_exps, h), ids)), "moe_down", il); /* [D, K, T] */
    struct gds_tensor *y = NULL;
    for (int k = 0; k < K; k++) {
        struct gds_tensor *v = gds_view_2d(ctx, ed, D, T, ed->nb[2], (size_t)k * ed->nb[1]);
        y = y ? gds_add(ctx, y, v) : v;
    }
    /* shared expert, clamped (REF-C) */
    struct gds_tensor *xq = NULL; /* mm_fp8_shared */
    struct gds_tensor *sg = bf16(b, mm_fp8_shared(b, L->gate_sh, x, &xq));
    struct gds_tensor *su = bf16(b, mm_fp8_shared(b, L->up_sh, x, &xq));
    struct gds_tensor *sh = bf16(b, gds_swiglu(ctx, sg, su, L->clamp_shexp));
    struct gds_tensor *sd = nm(bf16(b, mm_fp8(b, L->down_sh, sh)), "shexp_out", il);
    if (K == 1) y = gds_cont(ctx, y);
    /* with prefetch the shared expert goes first in the graph (depth-first from
     * the add's first operand); a + b == b + a exactly, so the bits are the same */
    return nm(bf16(b, pf ? gds_add(ctx, sd, y) : gds_add(ctx, y, sd)), "moe_out", il);
}

/* One block: X [D, HC, T] -> [D, HC, T] */
static struct gds_tensor *block(struct ds4_build *b, int il, struct gds_tensor *X) {
    struct gds_context *ctx = b->ctx;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const struct ds4_layer *L = &b->m->layers[il];
    struct gds_tensor *comb = nm(gds_hc_comb(ctx, X, L->hc_attn_fn, L->hc_attn_scale, L->hc_attn_base, hp->rms_eps, hp->hc_eps,
                                             hp->hc_sinkhorn_iters), "hc_attn_comb", il);
    struct gds_tensor *x = nm(norm_w(b, gds_hc_pre(ctx, X, comb), L->attn_norm), "attn_in", il);
    X = nm(gds_hc_post(ctx, attention(b, il, x), X, comb), "hc_attn_post", il);
    comb = nm(gds_hc_comb(ctx, X, L->hc_ffn_fn, L->hc_ffn_scale, L->hc_ffn_base, hp->rms_eps, hp->hc_eps, hp->hc_sinkhorn_iters),
              "hc_ffn_comb", il);
    x = nm(norm_w(b, gds_hc_pre(ctx, X, comb), L->ffn_norm), "ffn_in", il);
    return nm(gds_hc_post(ctx, moe(b, il, x), X, comb), "block_out", il);
}

/* hc head + final norm + fp32 head (spec 4.4, 4.1): X [D, HC, n] -> [V, n] */
static struct gds_tensor *head(struct ds4_build *b, struct gds_tensor *X, bool mtp) {
    struct gds_context *ctx = b->ctx;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const struct gds_model *m = b->m;
    const struct ds4_layer *L = &m->layers[hp->n_layer];
    struct gds_tensor *pre = gds_hc_comb(ctx, X, mtp ? L->mtp_hc_fn : m->out_hc_fn, mtp ? L->mtp_hc_scale : m->out_hc_scale,
                                         mtp ? L->mtp_hc_base : m->out_hc_base, hp->rms_eps, hp->hc_eps, 1);
    nm(pre, "hc_head_pre", -1);
    struct gds_tensor *y = nm(norm_w(b, gds_hc_pre(ctx, X, pre), mtp ? L->mtp_norm : m->out_norm), "head_in", -1);
    return nm(gds_mul_mat(ctx, m->output, y), "logits", -1);
}

/* MTP input (spec 4.12): X' = e_proj(enorm(embed(tok))) + h_proj(hnorm(X_s)) per stream */
static struct gds_tensor *mtp_input(struct ds4_build *b, struct gds_tensor *X) {
    struct gds_context *ctx = b->ctx;
    const struct gds_ds4_hparams *hp = &b->m->hp;
    const struct ds4_layer *L = &b->m->layers[hp->n_layer];
    const int D = hp->n_embd, HC = hp->hc_mult, T = b->T;
    struct gds_tensor *ids = new_input(b, GDS_TYPE_I32, T, 1);
    memcpy(ids->data, b->tokens, sizeof(int32_t) * (size_t)T);
    struct gds_tensor *e = norm_w(b, gds_get_rows(ctx, b->m->tok_embd, ids), L->enorm);              /* [D, T] */
    struct gds_tensor *h = norm_w(b, X, L->hnorm);                                                   /* [D, HC, T] */
    /* eh_proj [2D, D] = [e_proj | h_proj] along the input axis */
    struct gds_tensor *we = gds_view_2d(ctx, L->eh_proj, D, D, L->eh_proj->nb[1], 0);
    struct gds_tensor *wh = gds_view_2d(ctx, L->eh_proj, D, D, L->eh_proj->nb[1], gds_row_size(L->eh_proj->type, D));
    struct gds_tensor *pe = bf16(b, mm_fp8(b, we, e));
    struct gds_tensor *ph = bf16(b, mm_fp8(b, wh, gds_reshape_2d(ctx, h, D, (int64_t)HC * T)));
    return nm(bf16(b, gds_add(ctx, gds_reshape_3d(ctx, ph, D, HC, T), gds_reshape_3d(ctx, pe, D, 1, T))), "mtp_in", -1);
}

/* ===========================================================================
 * evaluation
 * ========================================================================= */

static void dump_graph(const struct gds_graph *g, int p0, int T, const char *filter) {
    fprintf(stderr, "--- graph p0 %d T %d: %d nodes\n", p0, T, g->n_nodes);
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (!t->name[0] || t->type != GDS_TYPE_F32 || !gds_is_contiguous(t) || t->view_src) continue;
        if (filter && !strstr(t->name, filter)) continue;
        const float *d = t->data;
        const int64_t n = gds_nelements(t);
        double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;
        int64_t nonfinite = 0;
        for (int64_t j = 0; j < n; j++) {
            if (!isfinite(d[j])) { nonfinite++; continue; }
            s += d[j]; s2 += (double)d[j] * d[j];
            if (d[j] < mn) mn = d[j];
            if (d[j] > mx) mx = d[j];
        }
        fprintf(stderr, "%-20s %-10s [%lld %lld %lld] mean %+.5e rms %.5e min %+.4e max %+.4e%s\n", t->name, gds_op_name(t->op),
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], s / (double)n, sqrt(s2 / (double)n), mn, mx,
                nonfinite ? " NONFINITE" : "");
    }
}

/* ---- non-finite values ------------------------------------------------------
 * After every graph the output streams and logits are scanned (a few MB at
 * most: cheap next to the graph). When they hold a NaN or an infinity the
 * chunk is run again with every node kept (no buffer reuse) and before the
 * host state update, so it computes the same values, and the first node that
 * produced a non-finite value is named in the error; the state is not
 * advanced. Masked scores (indexer) hold -inf by design and are not counted
 * as non-finite for -inf. */

static int64_t first_nonfinite(const float *d, int64_t n, bool minus_inf_ok) {
    for (int64_t j = 0; j < n; j++)
        if (!isfinite(d[j]) && !(minus_inf_ok && d[j] < 0)) return j;
    return -1;
}

static int64_t tensor_first_nonfinite(const struct gds_tensor *t) {
    if (!t || t->type != GDS_TYPE_F32 || !gds_is_contiguous(t) || !t->data) return -1;
    return first_nonfinite(t->data, gds_nelements(t), t->op == GDS_OP_INDEXER);
}

static enum gds_status nonfinite_error(const struct gds_graph *g, int p0, int T) {
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (t->op == GDS_OP_NONE || t->view_src) continue;
        const int64_t j = tensor_first_nonfinite(t);
        if (j < 0) continue;
        const float v = ((const float *)t->data)[j];
        char srcs[256] = "";
        for (int k = 0, n = 0; k < GDS_MAX_SRC && t->src[k] && n < (int)sizeof(srcs); k++)
            n += snprintf(srcs + n, sizeof(srcs) - (size_t)n, "%s'%s'", k ? ", " : "", t->src[k]->name);
        return gds_error(GDS_ERR_INVALID, "deepseek4: non-finite value (%s) at positions %d..%d: first produced by graph node '%s' (%s of %s; "
                         "element %lld of [%lld %lld %lld]); the model's weights or inputs hold NaN/Inf",
                         isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", p0, p0 + T - 1, t->name, gds_op_name(t->op), srcs, (long long)j,
                         (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2]);
    }
    return gds_error(GDS_ERR_INVALID, "deepseek4: non-finite value in the output at positions %d..%d (no single node found)", p0, p0 + T - 1);
}

/* Gives every unnamed tensor created after `from` the name "<op>-<layer>"
 * (the dump and graph prints then show where each node belongs); returns the
 * last tensor of the context. */
static struct gds_tensor *name_rest(struct gds_context *ctx, struct gds_tensor *from, int il, bool on) {
    if (!on) return from; /* names only serve dumps and the non-finite trace (~4,000 snprintf per 43-layer graph) */
    struct gds_tensor *t = from, *last = from;
    while ((t = gds_get_next_tensor(ctx, t)) != NULL) {
        if (!t->name[0]) nm(t, t->op == GDS_OP_NONE ? "input" : gds_op_name(t->op), il);
        last = t;
    }
    return last;
}

/* Places the intermediates in the model's compute buffer (grown on demand)
 * and runs the graph on the CPU backend. (Used instead of gds_sched: every
 * node runs on the CPU, and the scheduler's temporary context is too small
 * for graphs of more than about 140 nodes.) */
/* GDS_PROF=1: CPU time of the calling thread per eval_chunk outside
 * gds_backend_graph_compute (graph build, allocation, state update), printed
 * at exit (thread CPU time, so that a loaded machine does not inflate it) */
static double prof_eval_sec[2], prof_compute_sec[2]; /* [0] decode graphs (1 token), [1] the others */
static double prof_eval_wall[2], prof_compute_wall[2]; /* the same in wall-clock seconds */
static long prof_evals[2];
static int prof_state = -1; /* -1 undecided, 0 off, 1 on */

static double prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double prof_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void prof_report(void) {
    for (int k = 0; k < 2; k++) {
        if (prof_evals[k] == 0) continue;
        const double out = prof_eval_sec[k] - prof_compute_sec[k], n = (double)prof_evals[k];
        fprintf(stderr, "GDS_PROF model: %ld %s graphs, %.3f ms CPU each outside graph_compute (build, allocation, state update) = %.2f %% of this thread's %.3f ms\n",
                prof_evals[k], k ? "multi-token" : "1-token", 1e3 * out / n, 100 * out / prof_eval_sec[k], 1e3 * prof_eval_sec[k] / n);
        fprintf(stderr, "GDS_PROF model: wall clock per %s eval %.3f ms, of which graph_compute %.3f ms\n", k ? "multi-token" : "1-token",
                1e3 * prof_eval_wall[k] / n, 1e3 * prof_compute_wall[k] / n);
    }
}

static bool prof_on(void) {
    if (prof_state < 0) {
        prof_state = gds_prof_enabled();
        if (prof_state) atexit(prof_report);
    }
    return prof_state == 1;
}

/* params.backend: the graph's inputs (host tensors in the model's arena,
 * ctx's first `used` bytes) go to the device in one copy, into a device
 * mirror of the arena at the same offsets, and are rebound there */
static enum gds_status mirror_inputs(struct gds_model *m, struct gds_context *ctx) {
    const size_t used = gds_used_mem(ctx);
    if (!m->ibuf || m->ibuf->size < used) {
        if (m->ibuf) gds_buffer_free(m->ibuf);
        m->ibuf = gds_backend_buffer_alloc(m->gpu, m->arena_size);
        if (!m->ibuf) return gds_error(GDS_ERR_NOMEM, "deepseek4: %zu bytes of graph inputs on %s: %s", m->arena_size, gds_backend_name(m->gpu),
                                       gds_last_error());
    }
    enum gds_status st = gds_buffer_write(m->ibuf, 0, m->arena, used);
    if (st != GDS_OK) return st;
    const char *a0 = m->arena, *a1 = a0 + used;
    for (struct gds_tensor *t = gds_get_next_tensor(ctx, NULL); t; t = gds_get_next_tensor(ctx, t)) {
        if (!(t->flags & GDS_TENSOR_FLAG_INPUT) || t->view_src || (const char *)t->data < a0 || (const char *)t->data >= a1) continue;
        t->data = (char *)m->ibuf->base + ((const char *)t->data - a0);
        t->buffer = m->ibuf;
    }
    return GDS_OK;
}

static enum gds_status run_graph(struct gds_model *m, struct gds_graph *g, int T) {
    struct gds_backend *be = m->gpu ? m->gpu : m->cpu;
    size_t need = 0;
    enum gds_status st = m->cbuf ? gds_gallocr_alloc_fit(g, m->cbuf, &need) : GDS_ERR_NOMEM;
    if (st == GDS_ERR_NOMEM) { /* no buffer yet, or too small: grow it (the plan is computed once otherwise) */
        if (!need) need = gds_gallocr_measure(g, gds_backend_alignment(be));
        if (m->cbuf) gds_buffer_free(m->cbuf);
        m->cbuf = gds_backend_buffer_alloc(be, need + need / 4 + 4096);
        if (!m->cbuf) return gds_error(GDS_ERR_NOMEM, "deepseek4: cannot allocate %zu bytes of compute buffer", need);
        st = gds_gallocr_alloc(g, m->cbuf);
    }
    if (st != GDS_OK) return st;
    if (!prof_on()) return gds_backend_graph_compute(be, g);
    const double t0 = prof_now(), w0 = prof_wall();
    st = gds_backend_graph_compute(be, g);
    prof_compute_sec[T > 1] += prof_now() - t0;
    prof_compute_wall[T > 1] += prof_wall() - w0;
    return st;
}

/* One graph over the parts seg[0..n_seg): part j evaluates tokens
 * [i0, i0+T) of its e on its sequence, at positions n_past .. (mtp: the MTP
 * positions; one part only). Layer ranges, hc_in / hc_out and the
 * single-layer diagnostics need one part. */
static enum gds_status eval_graph(struct gds_model *m, struct ds4_seg *seg, int n_seg, int lb, int le, bool mtp, bool trace) {
    const struct gds_ds4_hparams *hp = &m->hp;
    const int D = hp->n_embd, HC = hp->hc_mult, V = hp->n_vocab;
    const bool full = mtp || (lb == 0 && le == hp->n_layer);
    const struct gds_eval *e0 = seg[0].e;
    GDS_ASSERT(n_seg >= 1 && (n_seg == 1 || (full && !mtp && !e0->hc_in && !e0->hc_out)));

    const double tprof = prof_on() ? prof_now() : 0, wprof = prof_on() ? prof_wall() : 0;
    struct ds4_build b = { .m = m, .seg = seg, .n_seg = n_seg };
    int T = 0, max_ctx = 0;
    for (int j = 0; j < n_seg; j++) {
        struct ds4_seg *sg = &seg[j];
        memset(sg->ri, 0, sizeof sg->ri);
        sg->p0 = mtp ? sg->s->mtp_past : sg->s->n_past;
        sg->t0 = T;
        T += sg->T;
        if (sg->s->n_ctx > max_ctx) max_ctx = sg->s->n_ctx;
    }
    b.T = T;
    const int nl = le - lb;
    const size_t n_hdr = (size_t)(nl * 200 + 256) + (n_seg > 1 ? (size_t)n_seg * (size_t)(nl * 100 + 16) : 0);
    size_t in_bytes = (size_t)T * 4 * (size_t)(4 * hp->sliding_window + 2 * hp->index_topk + max_ctx / 128 + 64 + 2 * HC);
    in_bytes += (size_t)nl * ((size_t)T * 4 * (size_t)(hp->sliding_window + hp->index_topk + hp->n_expert_used + 8) + 512 * (size_t)n_seg);
    if (n_seg > 1) in_bytes += (size_t)nl * T * hp->head_dim * hp->n_head * 4 + (size_t)n_seg * HC * 4 + (size_t)T * 8; /* attention outputs, last-column ids, tokens */
    if (e0->hc_in) in_bytes += (size_t)T * HC * D * 4;
    const size_t mem_size = n_hdr * (gds_tensor_overhead() + 64) + in_bytes + (1u << 16);
    /* the arena is the model's, kept across evaluations: a fresh multi-MB
     * allocation per decode token costs its page faults every token */
    if (m->arena_size < mem_size) {
        free(m->arena);
        m->arena_size = 0;
        m->arena = aligned_alloc(64, GDS_PAD(mem_size, 64));
        if (!m->arena) return gds_error(GDS_ERR_NOMEM, "deepseek4: cannot allocate %zu bytes of graph arena", mem_size);
        m->arena_size = GDS_PAD(mem_size, 64);
    }
    const int need_side = (nl + 1) * 3 * n_seg + 8;
    if (m->cap_side < need_side) {
        void *p = realloc(m->side, 2 * sizeof(struct gds_tensor *) * (size_t)need_side);
        if (!p) return gds_error(GDS_ERR_NOMEM, "deepseek4: out of memory");
        m->side = p;
        m->cap_side = need_side;
    }
    b.side = m->side;
    b.cap_side = m->cap_side;
    b.early = m->side + m->cap_side;
    b.ctx = gds_init((struct gds_init_params){ .mem_size = m->arena_size, .mem_buffer = m->arena, .no_alloc = true });
    if (!b.ctx) return GDS_ERR_NOMEM;
    struct gds_context *ctx = b.ctx;

    b.pos = new_input(&b, GDS_TYPE_I32, T, 1);
    if (n_seg == 1) b.tokens = e0->tokens + seg[0].i0;
    else {
        int32_t *tk = new_input(&b, GDS_TYPE_I32, T, 1)->data;
        for (int j = 0; j < n_seg; j++) memcpy(tk + seg[j].t0, seg[j].e->tokens + seg[j].i0, sizeof(int32_t) * (size_t)seg[j].T);
        b.tokens = tk;
    }
    for (int j = 0; j < n_seg; j++) {
        struct ds4_seg *sg = &seg[j];
        for (int t = 0; t < sg->T; t++) ((int32_t *)b.pos->data)[sg->t0 + t] = sg->p0 + t;
        sg->pos = n_seg == 1 ? b.pos : gds_view_1d(ctx, b.pos, sg->T, (size_t)sg->t0 * 4);
    }

    struct gds_tensor *X;
    if (e0->hc_in) {
        X = new_input(&b, GDS_TYPE_F32, (int64_t)D * HC, T);
        memcpy(X->data, e0->hc_in + (size_t)seg[0].i0 * HC * D, (size_t)T * HC * D * 4);
        X = gds_reshape_3d(ctx, X, D, HC, T);
    } else {
        struct gds_tensor *ids = new_input(&b, GDS_TYPE_I32, (int64_t)HC * T, 1);
        for (int t = 0; t < T; t++)
            for (int k = 0; k < HC; k++) ((int32_t *)ids->data)[t * HC + k] = b.tokens[t];
        X = gds_reshape_3d(ctx, gds_get_rows(ctx, m->tok_embd, gds_reshape_1d(ctx, ids, (int64_t)HC * T)), D, HC, T);
    }
    nm(X, "embd", -1);
    const bool names = m->dump || trace;
    struct gds_tensor *named_upto = name_rest(ctx, NULL, -1, names);
    if (mtp) {
        X = block(&b, hp->n_layer, mtp_input(&b, X));
        named_upto = name_rest(ctx, named_upto, hp->n_layer, names);
    } else {
        for (int il = lb; il < le; il++) {
            X = block(&b, il, X);
            named_upto = name_rest(ctx, named_upto, il, names);
        }
    }

    /* the head over the columns whose logits are asked for: every column of
     * a part with logits_all, the last column of a part with logits only */
    int n_out = 0;
    bool every = true;
    for (int j = 0; j < n_seg; j++) {
        const struct ds4_seg *sg = &seg[j];
        const bool all = full && sg->e->logits_all, lst = full && sg->e->logits && sg->i0 + sg->T == sg->e->n_tokens;
        n_out += all ? sg->T : lst ? 1 : 0;
        every = every && all;
    }
    struct gds_tensor *logits = NULL;
    if (every) logits = head(&b, X, mtp);
    else if (n_seg == 1 && n_out == 1) logits = head(&b, gds_view_3d(ctx, X, D, HC, 1, X->nb[1], X->nb[2], (size_t)(T - 1) * X->nb[2]), mtp);
    else if (n_out > 0) {
        struct gds_tensor *cols = new_input(&b, GDS_TYPE_I32, n_out, 1);
        int n = 0;
        for (int j = 0; j < n_seg; j++) {
            const struct ds4_seg *sg = &seg[j];
            if (sg->e->logits_all)
                for (int t = 0; t < sg->T; t++) ((int32_t *)cols->data)[n++] = sg->t0 + t;
            else if (sg->e->logits && sg->i0 + sg->T == sg->e->n_tokens) ((int32_t *)cols->data)[n++] = sg->t0 + sg->T - 1;
        }
        struct gds_tensor *Xs = gds_get_rows(ctx, gds_reshape_2d(ctx, X, (int64_t)D * HC, T), cols);
        logits = head(&b, gds_reshape_3d(ctx, Xs, D, HC, n_out), mtp);
    }

    struct gds_graph *g = gds_graph_new(ctx, (int)n_hdr * 2);
    for (int i = 0; i < b.n_early; i++) gds_graph_build_expand(g, b.early[i]);
    if (logits) { logits->flags |= GDS_TENSOR_FLAG_OUTPUT; gds_graph_build_expand(g, logits); }
    X->flags |= GDS_TENSOR_FLAG_OUTPUT;
    gds_graph_build_expand(g, X);
    const struct gds_eval *e = e0;
    const bool single = le == lb + 1;
    if (single && e->router_experts && b.router_ids && !b.hash_ids) { b.router_ids->flags |= GDS_TENSOR_FLAG_OUTPUT; gds_graph_build_expand(g, b.router_ids); }
    if (single && e->indexer_topk && b.topk) { b.topk->flags |= GDS_TENSOR_FLAG_OUTPUT; gds_graph_build_expand(g, b.topk); }
    for (int i = 0; i < b.n_side; i++) gds_graph_build_expand(g, b.side[i]);
    if (m->dump || trace)
        for (int i = 0; i < g->n_nodes; i++) g->nodes[i]->flags |= GDS_TENSOR_FLAG_OUTPUT;

    enum gds_status st = m->gpu ? mirror_inputs(m, ctx) : GDS_OK;
    if (st == GDS_OK) st = m->gsched ? gds_sched_graph_compute(m->gsched, g) : run_graph(m, g, T);
    if (st == GDS_OK) m->last_splits = m->gsched ? gds_sched_n_splits(m->gsched) : 1;
    if (st != GDS_OK) { gds_free(ctx); return st; }
    if (m->gpu) { /* the streams and logits are on the device: look at host copies (no node trace there) */
        const size_t nx = (size_t)gds_nelements(X), nlg = logits ? (size_t)gds_nelements(logits) : 0;
        if (m->xhost_n < nx + nlg) {
            float *p = realloc(m->xhost, sizeof(float) * (nx + nlg));
            if (!p) { gds_free(ctx); return gds_error(GDS_ERR_NOMEM, "deepseek4: out of memory"); }
            m->xhost = p;
            m->xhost_n = nx + nlg;
        }
        st = gds_backend_tensor_get(X, m->xhost, 0, nx * 4);
        if (st == GDS_OK && nlg) st = gds_backend_tensor_get(logits, m->xhost + nx, 0, nlg * 4);
        if (st == GDS_OK && first_nonfinite(m->xhost, (int64_t)(nx + nlg), false) >= 0)
            st = gds_error(GDS_ERR_INVALID, "deepseek4: non-finite value at positions %d..%d on %s (run on the CPU backend to find the node "
                           "that produced it); the model's weights or inputs hold NaN/Inf", seg[0].p0, seg[0].p0 + seg[0].T - 1, gds_backend_name(m->gpu));
        if (st != GDS_OK) { gds_free(ctx); return st; }
    } else if (trace || tensor_first_nonfinite(X) >= 0 || tensor_first_nonfinite(logits) >= 0) {
        if (trace) st = nonfinite_error(g, seg[0].p0, n_seg == 1 ? T : seg[0].T);
        gds_free(ctx);
        return trace ? st : eval_graph(m, seg, n_seg, lb, le, mtp, true);
    }
    if (m->dump && !m->gpu) {
        int n_t = 0;
        for (struct gds_tensor *t = NULL; (t = gds_get_next_tensor(ctx, t)) != NULL;) n_t++;
        fprintf(stderr, "--- %d tensors for %d layers (room for %zu), arena %zu of %zu bytes\n", n_t, nl, n_hdr, gds_used_mem(ctx), mem_size);
        dump_graph(g, seg[0].p0, T, m->dump_filter);
    }

    if (logits) { /* gpu: from the host copy the non-finite check fetched (one transfer) */
        const float *lh = m->gpu ? m->xhost + gds_nelements(X) : NULL;
        size_t col = 0;
        for (int j = 0; j < n_seg; j++) {
            const struct ds4_seg *sg = &seg[j];
            const struct gds_eval *ej = sg->e;
            const bool lst = ej->logits && sg->i0 + sg->T == ej->n_tokens;
            if (ej->logits_all) {
                float *dst = ej->logits_all + (size_t)sg->i0 * V;
                if (lh) memcpy(dst, lh + col * V, (size_t)V * sg->T * 4);
                else gds_backend_tensor_get(logits, dst, col * logits->nb[1], (size_t)V * sg->T * 4);
                if (lst) memcpy(ej->logits, dst + (size_t)(sg->T - 1) * V, (size_t)V * 4);
                col += (size_t)sg->T;
            } else if (lst) {
                if (lh) memcpy(ej->logits, lh + col * V, (size_t)V * 4);
                else gds_backend_tensor_get(logits, ej->logits, col * logits->nb[1], (size_t)V * 4);
                col++;
            }
        }
    }
    const int i0 = seg[0].i0;
    if (e->hc_out) gds_backend_tensor_get(X, e->hc_out + (size_t)i0 * HC * D, 0, (size_t)T * HC * D * 4);
    if (single && e->router_experts && b.router_ids) {
        const int K = hp->n_expert_used;
        if (b.hash_ids) memcpy(e->router_experts + (size_t)i0 * K, b.hash_ids, (size_t)T * K * 4);
        else gds_backend_tensor_get(b.router_ids, e->router_experts + (size_t)i0 * K, 0, (size_t)T * K * 4);
    }
    if (single && e->indexer_topk) {
        const int KI = hp->index_topk;
        for (int t = 0; t < T; t++) {
            int32_t *row = e->indexer_topk + (size_t)(i0 + t) * KI;
            int k = 0;
            if (b.topk) {
                k = (int)b.topk->ne[0];
                gds_backend_tensor_get(b.topk, row, (size_t)t * b.topk->nb[1], (size_t)k * 4);
            }
            for (; k < KI; k++) row[k] = -1;
        }
    }
    for (int j = 0; j < n_seg; j++) {
        struct ds4_seg *sg = &seg[j];
        if (mtp) {
            state_update(sg->s, hp->n_layer, sg->p0, sg->T);
            sg->s->mtp_past += sg->T;
        } else {
            for (int il = lb; il < le; il++) state_update(sg->s, il, sg->p0, sg->T);
            sg->s->n_past += sg->T;
        }
    }
    gds_free(ctx);
    if (prof_on()) {
        prof_eval_sec[T > 1] += prof_now() - tprof;
        prof_eval_wall[T > 1] += prof_wall() - wprof;
        prof_evals[T > 1]++;
    }
    return GDS_OK;
}

/* tokens [i0, i0+T) of e on s */
static enum gds_status eval_chunk(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e, int i0, int T, int lb, int le, bool mtp) {
    struct ds4_seg sg = { .s = s, .e = e, .i0 = i0, .T = T };
    return eval_graph(m, &sg, 1, lb, le, mtp, false);
}

/* token ids in [0, n_vocab) (fn names the caller in the message) */
static enum gds_status check_tokens(const char *fn, const struct gds_ds4_hparams *hp, const struct gds_eval *e) {
    for (int i = 0; i < e->n_tokens; i++)
        if (e->tokens[i] < 0 || e->tokens[i] >= hp->n_vocab)
            return gds_error(GDS_ERR_INVALID, "%s: token %d at index %d outside [0, %d)", fn, e->tokens[i], i, hp->n_vocab);
    return GDS_OK;
}

/* splits e into graphs of s->n_batch tokens (1 with e->decode) */
static enum gds_status eval_chunks(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e, int lb, int le, bool mtp) {
    const int chunk = e->decode ? 1 : s->n_batch;
    for (int i = 0; i < e->n_tokens; i += chunk) {
        const int T = e->n_tokens - i < chunk ? e->n_tokens - i : chunk;
        enum gds_status st = eval_chunk(m, s, e, i, T, lb, le, mtp);
        if (st != GDS_OK) return st;
    }
    return GDS_OK;
}

enum gds_status gds_model_eval(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e) {
    const struct gds_ds4_hparams *hp = &m->hp;
    if (!e || e->n_tokens < 1 || !e->tokens) return gds_error(GDS_ERR_INVALID, "gds_model_eval: no tokens");
    if (s->m != m) return gds_error(GDS_ERR_INVALID, "gds_model_eval: the sequence belongs to another model");
    if (s->n_past + e->n_tokens > s->n_ctx)
        return gds_error(GDS_ERR_INVALID, "gds_model_eval: %d + %d tokens exceed the context length %d", s->n_past, e->n_tokens, s->n_ctx);
    enum gds_status st = check_tokens("gds_model_eval", hp, e);
    if (st != GDS_OK) return st;
    int lb = e->layer_begin, le = e->layer_end;
    if (lb == 0 && le == 0) le = hp->n_layer;
    if (lb < 0 || le > hp->n_layer || lb >= le)
        return gds_error(GDS_ERR_INVALID, "gds_model_eval: layer range [%d, %d) outside [0, %d)", lb, le, hp->n_layer);
    if (lb > 0 && !e->hc_in) return gds_error(GDS_ERR_INVALID, "gds_model_eval: layer_begin %d needs hc_in", lb);
    return eval_chunks(m, s, e, lb, le, false);
}

int gds_model_last_splits(const struct gds_model *m) { return m->last_splits; }

enum gds_status gds_model_eval_batch(struct gds_model *m, struct gds_seq *const *s, const struct gds_eval *e, int n) {
    const struct gds_ds4_hparams *hp = &m->hp;
    if (n < 1 || !s || !e) return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: no sequences");
    for (int i = 0; i < n; i++) {
        const struct gds_eval *ei = &e[i];
        if (!s[i] || s[i]->m != m) return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequence %d belongs to another model", i);
        for (int j = 0; j < i; j++)
            if (s[j] == s[i]) return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequences %d and %d are the same", j, i);
        if (ei->n_tokens < 1 || !ei->tokens) return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequence %d has no tokens", i);
        if (ei->n_tokens > s[i]->n_batch)
            return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequence %d: %d tokens, more than its batch size %d", i, ei->n_tokens, s[i]->n_batch);
        if (ei->decode && ei->n_tokens > 1)
            return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequence %d: decode with %d tokens (one token each)", i, ei->n_tokens);
        if (s[i]->n_past + ei->n_tokens > s[i]->n_ctx)
            return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequence %d: %d + %d tokens exceed the context length %d", i, s[i]->n_past,
                             ei->n_tokens, s[i]->n_ctx);
        if (ei->layer_begin || ei->layer_end || ei->hc_in || ei->hc_out || ei->router_experts || ei->indexer_topk)
            return gds_error(GDS_ERR_INVALID, "gds_model_eval_batch: sequence %d: layer ranges, hc_in/hc_out and diagnostics need gds_model_eval", i);
        enum gds_status st = check_tokens("gds_model_eval_batch", hp, ei);
        if (st != GDS_OK) return st;
    }
    if (n == 1) return eval_chunk(m, s[0], e, 0, e->n_tokens, 0, hp->n_layer, false);
    if (m->cap_seg < n) { /* kept by the model: no allocation per decode step */
        void *p = realloc(m->seg, sizeof(struct ds4_seg) * (size_t)n);
        if (!p) return gds_error(GDS_ERR_NOMEM, "gds_model_eval_batch: out of memory");
        m->seg = p;
        m->cap_seg = n;
    }
    struct ds4_seg *seg = m->seg;
    for (int i = 0; i < n; i++) seg[i] = (struct ds4_seg){ .s = s[i], .e = &e[i], .i0 = 0, .T = e[i].n_tokens };
    return eval_graph(m, seg, n, 0, hp->n_layer, false, false);
}

enum gds_status gds_model_eval_mtp(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e) {
    const struct gds_ds4_hparams *hp = &m->hp;
    if (!hp->n_mtp) return gds_error(GDS_ERR_INVALID, "gds_model_eval_mtp: the model file has no MTP block");
    if (!e || e->n_tokens < 1 || !e->tokens || !e->hc_in) return gds_error(GDS_ERR_INVALID, "gds_model_eval_mtp: needs tokens and hc_in");
    if (s->m != m) return gds_error(GDS_ERR_INVALID, "gds_model_eval_mtp: the sequence belongs to another model");
    if (s->mtp_past + e->n_tokens > s->n_ctx)
        return gds_error(GDS_ERR_INVALID, "gds_model_eval_mtp: %d + %d tokens exceed the context length %d", s->mtp_past, e->n_tokens, s->n_ctx);
    enum gds_status st = check_tokens("gds_model_eval_mtp", hp, e);
    if (st != GDS_OK) return st;
    return eval_chunks(m, s, e, 0, 0, true);
}
