/*
 * tokenizer.c - byte-level BPE tokenizer (see tokenizer.h for the contract).
 *
 * Layout of the work:
 *   - loaders (GGUF, tokenizer.json) fill one struct gds_tok through the same
 *     builders: tok_set (vocab), tok_add_merge (ranked merges), tok_add_regex
 *     (PCRE2, JIT) and tok_finish (string->id map, byte symbols, decoded
 *     pieces, added-token trie);
 *   - encoding: added tokens split the text (trie, leftmost-longest); each
 *     remaining segment is pre-tokenized by the Split regexes in sequence and
 *     every piece goes through BPE (word cache in front of it);
 *   - decoding: every token's bytes are precomputed at load time.
 *
 * Invariants: merges are keyed by the pair of token ids (left, right) and give
 * (rank, merged id); a merge whose parts or result are not in the vocabulary is
 * skipped, as it can never fire. BPE picks the lowest rank and, among equal
 * ranks, the leftmost pair; the quadratic rank-array loop (short words) and the
 * priority queue (long words) give identical results (tests check both). PCRE2
 * subjects are always valid UTF-8 (checked once up front), so matching runs
 * with PCRE2_NO_UTF_CHECK.
 *
 * Not here: normalizers other than an empty one, added-token lstrip/rstrip/
 * single_word, the ByteLevel add_prefix_space option, unigram/wordpiece.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_VOCAB   (1 << 22)   /* 4M ids: far above any real vocabulary, keeps a hostile file's tables < 64 MiB */
#define CACHE_BITS      16
#define CACHE_MAX_KEY   128
#define NO_RANK         UINT32_MAX

/* the DeepSeek-V3 pre-tokenizer (llama.cpp LLAMA_VOCAB_PRE_TYPE_DEEPSEEK3_LLM,
 * identical to the Split rules of DeepSeek-V3's and V4's tokenizer.json) */
static const char *const k_deepseek3_regex[] = {
    "\\p{N}{1,3}",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+", /* [一-龥぀-ゟ゠-ヿ]+ */
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};
static const char *const k_deepseek3_names[] = { "deepseek-v3", "joyai-llm", "hunyuan-dense", "deepseek4", "deepseek-v4" };
/* GPT-2's pattern (ByteLevel pre-tokenizer with use_regex = true) */
static const char *const k_gpt2_regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* ---------------------------------------------------------------------------
 * small containers
 * ------------------------------------------------------------------------- */

/* open-addressing map uint64 -> uint64; key UINT64_MAX marks an empty slot */
struct u64map { uint64_t *k, *v; size_t cap, n; };

static inline size_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return (size_t)x;
}

static bool u64map_grow(struct u64map *m) {
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    uint64_t *nk = malloc(ncap * sizeof(*nk)), *nv = malloc(ncap * sizeof(*nv));
    if (!nk || !nv) { free(nk); free(nv); return false; }
    memset(nk, 0xff, ncap * sizeof(*nk));
    for (size_t i = 0; i < m->cap; i++) {
        if (m->k[i] == UINT64_MAX) continue;
        size_t j = mix64(m->k[i]) & (ncap - 1);
        while (nk[j] != UINT64_MAX) j = (j + 1) & (ncap - 1);
        nk[j] = m->k[i]; nv[j] = m->v[i];
    }
    free(m->k); free(m->v);
    m->k = nk; m->v = nv; m->cap = ncap;
    return true;
}

/* inserts key -> val unless key exists; returns false on OOM */
static bool u64map_put(struct u64map *m, uint64_t key, uint64_t val, bool *existed) {
    if ((m->n + 1) * 2 > m->cap && !u64map_grow(m)) return false;
    size_t j = mix64(key) & (m->cap - 1);
    while (m->k[j] != UINT64_MAX) {
        if (m->k[j] == key) { if (existed) *existed = true; return true; }
        j = (j + 1) & (m->cap - 1);
    }
    m->k[j] = key; m->v[j] = val; m->n++;
    if (existed) *existed = false;
    return true;
}

static inline bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *val) {
    if (!m->cap) return false;
    size_t j = mix64(key) & (m->cap - 1);
    for (;;) {
        uint64_t k = m->k[j];
        if (k == key) { *val = m->v[j]; return true; }
        if (k == UINT64_MAX) return false;
        j = (j + 1) & (m->cap - 1);
    }
}

static void u64map_free(struct u64map *m) { free(m->k); free(m->v); memset(m, 0, sizeof(*m)); }

static inline uint64_t hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ULL; }
    return h;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return false;
    *p = np; *cap = nc;
    return true;
}

static enum gds_status ids_push(struct gds_tok_ids *o, int32_t id) {
    if (o->n >= o->cap) {
        size_t cap = (size_t)o->cap;
        if (!grow((void **)&o->ids, &cap, (size_t)o->n + 1, sizeof(int32_t))) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        o->cap = (int64_t)cap;
    }
    o->ids[o->n++] = id;
    return GDS_OK;
}

static enum gds_status buf_put(struct gds_tok_buf *b, const void *p, size_t n) {
    if (!grow((void **)&b->data, &b->cap, b->len + n + 1, 1)) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return GDS_OK;
}

/* ---------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------- */

/* length of the valid UTF-8 sequence at s[0..n), 0 if invalid or truncated */
static inline size_t utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;      /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0;      /* surrogates */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0;      /* overlong */
        if (c == 0xF4 && s[1] > 0x8F) return 0;      /* > U+10FFFF */
        return 4;
    }
    return 0;
}

size_t gds_tok_utf8_check(const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= len) break;
        size_t k = utf8_seq(s + i, len - i);
        if (!k) return i;
        i += k;
    }
    return len;
}

/* true if s[0..n) (n < full length) is a prefix of some valid sequence */
static bool utf8_valid_prefix(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (!need || c >= 0xF5 || n >= need) return false;
    for (size_t i = 1; i < n; i++) if ((s[i] & 0xC0) != 0x80) return false;
    if (n >= 2) {
        if (c == 0xE0 && s[1] < 0xA0) return false;
        if (c == 0xED && s[1] > 0x9F) return false;
        if (c == 0xF0 && s[1] < 0x90) return false;
        if (c == 0xF4 && s[1] > 0x8F) return false;
    }
    return true;
}

static size_t utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F)); return 3; }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3F)); o[2] = (char)(0x80 | (cp >> 6 & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* GPT-2 bytes_to_unicode: printable bytes map to themselves, the other 68 to 256.. */
static void byte_level_table(uint32_t b2u[256]) {
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        b2u[b] = keep ? (uint32_t)b : 256 + n++;
    }
}

/* ---------------------------------------------------------------------------
 * the tokenizer object
 * ------------------------------------------------------------------------- */

struct piece { uint32_t off, len; };

struct cache_ent { uint64_t h; uint32_t koff, klen, ioff, in; };

struct heap_ent { uint32_t rank, pos, rpos; };

struct sym { int32_t id, prev, next; };

struct gds_tok {
    int32_t n_vocab;
    char **tok;            /* [n_vocab] vocab strings, NUL-terminated; NULL for undefined ids */
    uint32_t *tok_len;     /* [n_vocab] */
    uint8_t *type;         /* [n_vocab] enum gds_tok_type */
    char *dec;             /* decoded bytes of every token, concatenated */
    uint32_t *dec_off;     /* [n_vocab + 1] */
    int32_t *vmap;         /* string -> id, open addressing, -1 empty */
    size_t vmap_cap;
    struct u64map merges;  /* (left << 32 | right) -> (rank << 32 | merged id) */
    int64_t n_merges;
    int32_t byte_id[256];  /* id of each byte's byte-level symbol, -1 if missing */
    uint32_t b2u[256];
    bool ignore_merges;
    int32_t bos, eos;

    /* added tokens: trie over bytes; node 0 is the root */
    struct u64map trie;    /* (node << 8 | byte) -> child */
    int32_t *term;         /* [n_nodes] token id ending at the node, -1 none */
    size_t n_nodes, nodes_cap;
    bool first[256];

    /* pre-tokenizer */
    int n_re;
    char **re_src;
    pcre2_code **re;
    pcre2_match_data **md;

    /* scratch */
    struct piece *pa, *pb;
    size_t pa_cap, pb_cap;
    int32_t *w_ids; uint32_t *w_rank; int32_t *w_new;
    size_t w_cap;
    struct sym *syms; size_t syms_cap;
    struct heap_ent *heap; size_t heap_cap;
    char *mapped; size_t mapped_cap;

    /* word cache: piece bytes -> ids */
    bool use_cache;
    int heap_min;
    struct cache_ent *cache;
    size_t cache_n;
    char *ck; size_t ck_len, ck_cap;
    int32_t *ci; size_t ci_len, ci_cap;
};

void gds_tok_free(struct gds_tok *t) {
    if (!t) return;
    for (int32_t i = 0; t->tok && i < t->n_vocab; i++) free(t->tok[i]);
    free(t->tok); free(t->tok_len); free(t->type); free(t->dec); free(t->dec_off); free(t->vmap);
    u64map_free(&t->merges); u64map_free(&t->trie); free(t->term);
    for (int i = 0; i < t->n_re; i++) {
        free(t->re_src[i]);
        if (t->re) pcre2_code_free(t->re[i]);
        if (t->md) pcre2_match_data_free(t->md[i]);
    }
    free(t->re_src); free(t->re); free(t->md);
    free(t->pa); free(t->pb); free(t->w_ids); free(t->w_rank); free(t->w_new); free(t->syms); free(t->heap); free(t->mapped);
    free(t->cache); free(t->ck); free(t->ci);
    free(t);
}

static struct gds_tok *tok_new(int32_t n_vocab) {
    struct gds_tok *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->n_vocab = n_vocab;
    t->bos = t->eos = -1;
    t->heap_min = 48;
    t->use_cache = true;
    t->tok = calloc((size_t)n_vocab ? (size_t)n_vocab : 1, sizeof(*t->tok));
    t->tok_len = calloc((size_t)n_vocab ? (size_t)n_vocab : 1, sizeof(*t->tok_len));
    t->type = calloc((size_t)n_vocab ? (size_t)n_vocab : 1, 1);
    if (!t->tok || !t->tok_len || !t->type) { gds_tok_free(t); return NULL; }
    return t;
}

static enum gds_status tok_set(struct gds_tok *t, int32_t id, const char *s, size_t len, int type, const char *label) {
    if (id < 0 || id >= t->n_vocab) return gds_error(GDS_ERR_FORMAT, "%s: token id %d out of range", label, id);
    if (t->tok[id]) {
        if (t->tok_len[id] != len || memcmp(t->tok[id], s, len) != 0)
            return gds_error(GDS_ERR_FORMAT, "%s: token id %d is defined twice ('%s' and '%.*s')", label, id, t->tok[id], (int)len, s);
        if (type != GDS_TOK_TYPE_NORMAL) t->type[id] = (uint8_t)type;
        return GDS_OK;
    }
    if (len > UINT32_MAX / 2) return gds_error(GDS_ERR_FORMAT, "%s: token id %d is too long", label, id);
    char *c = malloc(len + 1);
    if (!c) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(c, s, len);
    c[len] = 0;
    t->tok[id] = c;
    t->tok_len[id] = (uint32_t)len;
    t->type[id] = (uint8_t)type;
    return GDS_OK;
}

static int32_t vmap_find(const struct gds_tok *t, const char *s, size_t len) {
    if (!t->vmap_cap) return -1;
    size_t j = (size_t)hash_bytes(s, len) & (t->vmap_cap - 1);
    for (;;) {
        int32_t id = t->vmap[j];
        if (id < 0) return -1;
        if (t->tok_len[id] == len && memcmp(t->tok[id], s, len) == 0) return id;
        j = (j + 1) & (t->vmap_cap - 1);
    }
}

static enum gds_status tok_build_vmap(struct gds_tok *t) {
    size_t cap = 1024;
    while (cap < (size_t)t->n_vocab * 2) cap *= 2;
    t->vmap = malloc(cap * sizeof(*t->vmap));
    if (!t->vmap) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    memset(t->vmap, 0xff, cap * sizeof(*t->vmap));
    t->vmap_cap = cap;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->tok[id]) continue;
        size_t j = (size_t)hash_bytes(t->tok[id], t->tok_len[id]) & (cap - 1);
        bool dup = false;
        while (t->vmap[j] >= 0) {
            int32_t o = t->vmap[j];
            if (t->tok_len[o] == t->tok_len[id] && memcmp(t->tok[o], t->tok[id], t->tok_len[id]) == 0) { dup = true; break; }
            j = (j + 1) & (cap - 1);
        }
        if (!dup) t->vmap[j] = id;   /* the first id of a duplicated string wins */
    }
    return GDS_OK;
}

/* merge "left right" of the given rank (requires the vmap) */
static enum gds_status tok_add_merge(struct gds_tok *t, const char *l, size_t ll, const char *r, size_t rl) {
    uint32_t rank = (uint32_t)t->n_merges++;
    int32_t a = vmap_find(t, l, ll), b = vmap_find(t, r, rl);
    if (a < 0 || b < 0) return GDS_OK;
    char stackbuf[256];
    char *cat = ll + rl <= sizeof(stackbuf) ? stackbuf : malloc(ll + rl);
    if (!cat) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    memcpy(cat, l, ll);
    memcpy(cat + ll, r, rl);
    int32_t m = vmap_find(t, cat, ll + rl);
    if (cat != stackbuf) free(cat);
    if (m < 0) return GDS_OK;
    /* the first (lowest-rank) occurrence of a pair wins */
    if (!u64map_put(&t->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, (uint64_t)rank << 32 | (uint32_t)m, NULL))
        return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    return GDS_OK;
}

static enum gds_status tok_add_regex(struct gds_tok *t, const char *pat, const char *label) {
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        return gds_error(GDS_ERR_FORMAT, "%s: pre-tokenizer regex %d does not compile at offset %zu: %s", label, t->n_re, (size_t)eoff, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    char **ns = realloc(t->re_src, (size_t)(t->n_re + 1) * sizeof(*ns));
    if (ns) t->re_src = ns;
    pcre2_code **nr = realloc(t->re, (size_t)(t->n_re + 1) * sizeof(*nr));
    if (nr) t->re = nr;
    pcre2_match_data **nm = realloc(t->md, (size_t)(t->n_re + 1) * sizeof(*nm));
    if (nm) t->md = nm;
    char *src = strdup(pat);
    if (!md || !ns || !nr || !nm || !src) {
        free(src); pcre2_match_data_free(md); pcre2_code_free(re);
        return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    }
    t->re_src[t->n_re] = src;
    t->re[t->n_re] = re;
    t->md[t->n_re] = md;
    t->n_re++;
    return GDS_OK;
}

static enum gds_status trie_add(struct gds_tok *t, const uint8_t *s, size_t n, int32_t id) {
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)node << 8 | s[i], v;
        if (u64map_get(&t->trie, key, &v)) { node = (uint32_t)v; continue; }
        if (!grow((void **)&t->term, &t->nodes_cap, t->n_nodes + 1, sizeof(*t->term))) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        t->term[t->n_nodes] = -1;
        if (!u64map_put(&t->trie, key, t->n_nodes, NULL)) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        node = (uint32_t)t->n_nodes++;
    }
    if (t->term[node] < 0) t->term[node] = id;
    return GDS_OK;
}

/* after tokens (and their types), merges and regexes: byte symbols, decoded
 * pieces and the added-token trie */
static enum gds_status tok_finish(struct gds_tok *t) {
    byte_level_table(t->b2u);
    int32_t u2b[324];
    for (int i = 0; i < 324; i++) u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        u2b[t->b2u[b]] = b;
        char s[4];
        size_t n = utf8_put(t->b2u[b], s);
        t->byte_id[b] = vmap_find(t, s, n);
    }
    /* decoded pieces */
    size_t total = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) total += t->tok_len[i];
    t->dec = malloc(total + 1);
    t->dec_off = malloc(((size_t)t->n_vocab + 1) * sizeof(*t->dec_off));
    if (!t->dec || !t->dec_off) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    size_t o = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->dec_off[i] = (uint32_t)o;
        const uint8_t *s = (const uint8_t *)t->tok[i];
        size_t n = t->tok_len[i], j = 0, o0 = o;
        bool mapped = true;
        while (j < n) {
            size_t k = utf8_seq(s + j, n - j);
            uint32_t cp;
            if (k == 1) cp = s[j];
            else if (k == 2) cp = (uint32_t)(s[j] & 0x1F) << 6 | (s[j + 1] & 0x3F);
            else { mapped = false; break; }  /* 3/4-byte chars are never byte-level symbols */
            if (cp >= 324 || u2b[cp] < 0) { mapped = false; break; }
            t->dec[o++] = (char)u2b[cp];
            j += k;
        }
        if (!mapped) { o = o0; memcpy(t->dec + o, s, n); o += n; }
    }
    t->dec_off[t->n_vocab] = (uint32_t)o;
    if (total >= UINT32_MAX) return gds_error(GDS_ERR_FORMAT, "tokenizer: vocabulary too large");
    /* added tokens */
    if (!grow((void **)&t->term, &t->nodes_cap, 1, sizeof(*t->term))) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    t->term[0] = -1;
    t->n_nodes = 1;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        if (!t->tok[i] || (t->type[i] != GDS_TOK_TYPE_CONTROL && t->type[i] != GDS_TOK_TYPE_USER_DEFINED)) continue;
        size_t n = t->tok_len[i];
        if (!n || gds_tok_utf8_check(t->tok[i], n) != n) continue;
        enum gds_status st = trie_add(t, (const uint8_t *)t->tok[i], n, i);
        if (st != GDS_OK) return st;
        t->first[(uint8_t)t->tok[i][0]] = true;
    }
    t->cache = calloc((size_t)1 << CACHE_BITS, sizeof(*t->cache));
    if (!t->cache) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    return GDS_OK;
}

/* ---------------------------------------------------------------------------
 * loading: GGUF
 * ------------------------------------------------------------------------- */

static enum gds_status regexes_for_pre(struct gds_tok *t, const char *pre, const char *label) {
    for (size_t i = 0; i < sizeof(k_deepseek3_names) / sizeof(*k_deepseek3_names); i++) {
        if (strcmp(pre, k_deepseek3_names[i]) != 0) continue;
        for (size_t j = 0; j < sizeof(k_deepseek3_regex) / sizeof(*k_deepseek3_regex); j++) {
            enum gds_status st = tok_add_regex(t, k_deepseek3_regex[j], label);
            if (st != GDS_OK) return st;
        }
        return GDS_OK;
    }
    if (!strcmp(pre, "gpt-2") || !strcmp(pre, "gpt2")) return tok_add_regex(t, k_gpt2_regex, label);
    return gds_error(GDS_ERR_UNSUPPORTED, "%s: unknown pre-tokenizer '%s' (tokenizer.ggml.pre) and no gds.tokenizer.pre_split_regex key; "
                     "known: deepseek-v3, joyai-llm, hunyuan-dense, deepseek4, gpt-2", label, pre);
}

static int64_t gguf_str_arr(const struct gds_gguf *f, const char *key) {
    int64_t k = gds_gguf_find_key(f, key);
    if (k < 0) return -1;
    if (gds_gguf_kv_type(f, k) != GDS_GGUF_ARRAY || gds_gguf_arr_type(f, k) != GDS_GGUF_STRING) return -2;
    return k;
}

struct gds_tok *gds_tok_load_gguf(const struct gds_gguf *f) {
    const char *label = gds_gguf_path(f) ? gds_gguf_path(f) : "gguf";
    int64_t k = gds_gguf_find_key(f, "tokenizer.ggml.model");
    if (k < 0) { gds_error(GDS_ERR_FORMAT, "%s: the model has no vocabulary (no tokenizer.ggml.* keys; convert it with a tokenizer.json)", label); return NULL; }
    if (gds_gguf_kv_type(f, k) != GDS_GGUF_STRING || strcmp(gds_gguf_get_str(f, k), "gpt2") != 0) {
        gds_error(GDS_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model must be \"gpt2\" (byte-level BPE)", label); return NULL;
    }
    int64_t kt = gguf_str_arr(f, "tokenizer.ggml.tokens");
    if (kt < 0) { gds_error(GDS_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or not a string array", label); return NULL; }
    int64_t n = gds_gguf_arr_n(f, kt);
    if (n <= 0 || n > TOK_MAX_VOCAB) { gds_error(GDS_ERR_FORMAT, "%s: tokenizer.ggml.tokens has %lld entries", label, (long long)n); return NULL; }
    struct gds_tok *t = tok_new((int32_t)n);
    if (!t) { gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory"); return NULL; }
    enum gds_status st = GDS_OK;
    const int32_t *types = NULL;
    int64_t ky = gds_gguf_find_key(f, "tokenizer.ggml.token_type");
    if (ky >= 0) {
        if (gds_gguf_kv_type(f, ky) != GDS_GGUF_ARRAY || gds_gguf_arr_type(f, ky) != GDS_GGUF_INT32 || gds_gguf_arr_n(f, ky) != n) {
            st = gds_error(GDS_ERR_FORMAT, "%s: tokenizer.ggml.token_type must be an int32 array of %lld entries", label, (long long)n); goto fail;
        }
        types = gds_gguf_arr_data(f, ky);
    }
    for (int64_t i = 0; i < n && st == GDS_OK; i++) {
        const char *s = gds_gguf_arr_str(f, kt, i);
        int ty = types ? types[i] : GDS_TOK_TYPE_NORMAL;
        if (ty < 0 || ty > GDS_TOK_TYPE_BYTE) ty = GDS_TOK_TYPE_NORMAL;
        st = tok_set(t, (int32_t)i, s, strlen(s), ty, label);
    }
    if (st != GDS_OK || (st = tok_build_vmap(t)) != GDS_OK) goto fail;
    int64_t km = gguf_str_arr(f, "tokenizer.ggml.merges");
    if (km == -2) { st = gds_error(GDS_ERR_FORMAT, "%s: tokenizer.ggml.merges is not a string array", label); goto fail; }
    for (int64_t i = 0; km >= 0 && i < gds_gguf_arr_n(f, km); i++) {
        const char *s = gds_gguf_arr_str(f, km, i);
        const char *sp = s[0] ? strchr(s + 1, ' ') : NULL;
        if (!sp) { st = gds_error(GDS_ERR_FORMAT, "%s: tokenizer.ggml.merges[%lld] = '%s' is not \"left right\"", label, (long long)i, s); goto fail; }
        if ((st = tok_add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1))) != GDS_OK) goto fail;
    }
    int64_t kr = gguf_str_arr(f, "gds.tokenizer.pre_split_regex");
    if (kr == -2) { st = gds_error(GDS_ERR_FORMAT, "%s: gds.tokenizer.pre_split_regex is not a string array", label); goto fail; }
    if (kr >= 0) {
        for (int64_t i = 0; i < gds_gguf_arr_n(f, kr); i++)
            if ((st = tok_add_regex(t, gds_gguf_arr_str(f, kr, i), label)) != GDS_OK) goto fail;
    } else {
        int64_t kp = gds_gguf_find_key(f, "tokenizer.ggml.pre");
        const char *pre = kp >= 0 && gds_gguf_kv_type(f, kp) == GDS_GGUF_STRING ? gds_gguf_get_str(f, kp) : "default";
        if ((st = regexes_for_pre(t, pre, label)) != GDS_OK) goto fail;
    }
    int64_t v;
    int64_t kb = gds_gguf_find_key(f, "tokenizer.ggml.bos_token_id");
    if (kb >= 0 && gds_gguf_get_int(f, kb, &v) && v >= 0 && v < n) t->bos = (int32_t)v;
    int64_t ke = gds_gguf_find_key(f, "tokenizer.ggml.eos_token_id");
    if (ke >= 0 && gds_gguf_get_int(f, ke, &v) && v >= 0 && v < n) t->eos = (int32_t)v;
    if ((st = tok_finish(t)) != GDS_OK) goto fail;
    return t;
fail:
    gds_tok_free(t);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * loading: tokenizer.json
 * ------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (!grow((void **)&buf, &cap, n + 65536 + 1, 1)) { free(buf); fclose(fp); errno = ENOMEM; return NULL; }
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (r == 0) break;
    }
    bool err = ferror(fp);
    fclose(fp);
    if (err) { free(buf); errno = EIO; return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Sequence / Split / ByteLevel pre-tokenizers -> regex list */
static enum gds_status hf_pre(struct gds_tok *t, const cJSON *pt, const char *label, int depth) {
    if (!pt || cJSON_IsNull(pt)) return GDS_OK;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (!cJSON_IsObject(pt) || !cJSON_IsString(ty)) return gds_error(GDS_ERR_FORMAT, "%s: pre_tokenizer without a type", label);
    const char *type = ty->valuestring;
    if (!strcmp(type, "Sequence")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
        if (!cJSON_IsArray(l) || depth > 8) return gds_error(GDS_ERR_FORMAT, "%s: pre_tokenizer Sequence without a pretokenizers list", label);
        for (const cJSON *e = l->child; e; e = e->next) {
            enum gds_status st = hf_pre(t, e, label, depth + 1);
            if (st != GDS_OK) return st;
        }
        return GDS_OK;
    }
    if (!strcmp(type, "Split")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(pt, "behavior");
        const cJSON *inv = cJSON_GetObjectItemCaseSensitive(pt, "invert");
        if (cJSON_IsTrue(inv) || (beh && (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0)))
            return gds_error(GDS_ERR_UNSUPPORTED, "%s: pre_tokenizer Split supports only behavior \"Isolated\" without invert", label);
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(p, "Regex");
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(p, "String");
        if (cJSON_IsString(re)) return tok_add_regex(t, re->valuestring, label);
        if (cJSON_IsString(str)) {
            /* literal: escape every ASCII non-alphanumeric character */
            size_t n = strlen(str->valuestring);
            char *q = malloc(2 * n + 1), *o = q;
            if (!q) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
            for (const char *c = str->valuestring; *c; c++) {
                unsigned char u = (unsigned char)*c;
                if (u < 0x80 && !((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z'))) *o++ = '\\';
                *o++ = *c;
            }
            *o = 0;
            enum gds_status st = n ? tok_add_regex(t, q, label) : gds_error(GDS_ERR_FORMAT, "%s: empty Split pattern", label);
            free(q);
            return st;
        }
        return gds_error(GDS_ERR_FORMAT, "%s: pre_tokenizer Split without a Regex or String pattern", label);
    }
    if (!strcmp(type, "ByteLevel")) {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pt, "add_prefix_space")))
            return gds_error(GDS_ERR_UNSUPPORTED, "%s: ByteLevel pre_tokenizer with add_prefix_space = true is not supported", label);
        const cJSON *ur = cJSON_GetObjectItemCaseSensitive(pt, "use_regex");
        if (!ur || cJSON_IsTrue(ur)) return tok_add_regex(t, k_gpt2_regex, label);
        return GDS_OK;
    }
    return gds_error(GDS_ERR_UNSUPPORTED, "%s: pre_tokenizer type '%s' is not supported (Sequence, Split, ByteLevel)", label, type);
}

static bool json_id(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble >= TOK_MAX_VOCAB || v->valuedouble != (double)(int32_t)v->valuedouble) return false;
    *id = (int32_t)v->valuedouble;
    return true;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static const char *special_str(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : NULL;
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static struct gds_tok *load_hf(const char *json, size_t len, const char *label, const char *cfg_path) {
    cJSON *doc = cJSON_ParseWithLength(json, len);
    if (!doc) {
        const char *e = cJSON_GetErrorPtr();
        size_t at = e && e >= json && e <= json + len ? (size_t)(e - json) : 0;
        gds_error(GDS_ERR_FORMAT, "%s: invalid JSON near byte %zu", label, at);
        return NULL;
    }
    struct gds_tok *t = NULL;
    enum gds_status st = GDS_OK;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    const cJSON *mty = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(doc, "added_tokens");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(doc, "normalizer");
    if (!cJSON_IsObject(model) || (mty && (!cJSON_IsString(mty) || strcmp(mty->valuestring, "BPE") != 0))) {
        st = gds_error(GDS_ERR_UNSUPPORTED, "%s: field 'model.type' must be \"BPE\" (byte-level BPE)", label); goto done;
    }
    if (!cJSON_IsObject(vocab)) { st = gds_error(GDS_ERR_FORMAT, "%s: field 'model.vocab' must be an object", label); goto done; }
    if (added && !cJSON_IsArray(added)) { st = gds_error(GDS_ERR_FORMAT, "%s: field 'added_tokens' must be an array", label); goto done; }
    if (merges && !cJSON_IsArray(merges)) { st = gds_error(GDS_ERR_FORMAT, "%s: field 'model.merges' must be an array", label); goto done; }
    if (norm && !cJSON_IsNull(norm)) {
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(norm, "type"), *nl = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
        if (!cJSON_IsString(nt) || strcmp(nt->valuestring, "Sequence") != 0 || cJSON_GetArraySize(nl) != 0) {
            st = gds_error(GDS_ERR_UNSUPPORTED, "%s: normalizers are not supported (only none or an empty Sequence)", label); goto done;
        }
    }
    int32_t n = 0, id;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!json_id(e, &id)) { st = gds_error(GDS_ERR_FORMAT, "%s: model.vocab['%s'] is not a valid id", label, e->string ? e->string : ""); goto done; }
        if (id + 1 > n) n = id + 1;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !cJSON_IsString(ct)) {
            st = gds_error(GDS_ERR_FORMAT, "%s: added_tokens entry without a valid id and content", label); goto done;
        }
        if (id + 1 > n) n = id + 1;
    }
    if (n == 0) { st = gds_error(GDS_ERR_FORMAT, "%s: empty vocabulary", label); goto done; }
    if (!(t = tok_new(n))) { st = gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory"); goto done; }
    t->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));
    for (const cJSON *e = vocab->child; e && st == GDS_OK; e = e->next) {
        json_id(e, &id);
        const char *s = e->string ? e->string : "";
        st = tok_set(t, id, s, strlen(s), GDS_TOK_TYPE_NORMAL, label);
    }
    for (const cJSON *e = added ? added->child : NULL; e && st == GDS_OK; e = e->next) {
        json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        const char *s = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
        bool sp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        st = tok_set(t, id, s, strlen(s), sp ? GDS_TOK_TYPE_CONTROL : GDS_TOK_TYPE_USER_DEFINED, label);
    }
    if (st != GDS_OK || (st = tok_build_vmap(t)) != GDS_OK) goto done;
    int64_t mi = 0;
    for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next, mi++) {
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring;
            const char *sp = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!sp) { st = gds_error(GDS_ERR_FORMAT, "%s: model.merges[%lld] = '%s' is not \"left right\"", label, (long long)mi, s); goto done; }
            st = tok_add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1));
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
            const char *a = e->child->valuestring, *b = e->child->next->valuestring;
            st = tok_add_merge(t, a, strlen(a), b, strlen(b));
        } else {
            st = gds_error(GDS_ERR_FORMAT, "%s: model.merges[%lld] is neither \"a b\" nor [\"a\", \"b\"]", label, (long long)mi);
        }
        if (st != GDS_OK) goto done;
    }
    if ((st = hf_pre(t, cJSON_GetObjectItemCaseSensitive(doc, "pre_tokenizer"), label, 0)) != GDS_OK) goto done;
    if ((st = tok_finish(t)) != GDS_OK) goto done;
    if (cfg_path) {  /* optional tokenizer_config.json: bos/eos by token string */
        size_t cl;
        char *ctxt = read_file(cfg_path, &cl);
        cJSON *cfg = ctxt ? cJSON_ParseWithLength(ctxt, cl) : NULL;
        free(ctxt);
        const char *s;
        if (cfg && (s = special_str(cfg, "bos_token"))) t->bos = gds_tok_find(t, s);
        if (cfg && (s = special_str(cfg, "eos_token"))) t->eos = gds_tok_find(t, s);
        cJSON_Delete(cfg);
    }
done:
    cJSON_Delete(doc);
    if (st != GDS_OK) { gds_tok_free(t); return NULL; }
    return t;
}

struct gds_tok *gds_tok_load_hf_buf(const char *json, size_t len, const char *label) {
    return load_hf(json, len, label ? label : "tokenizer.json", NULL);
}

struct gds_tok *gds_tok_load_hf(const char *path) {
    size_t len;
    char *txt = read_file(path, &len);
    if (!txt) { gds_error(GDS_ERR_IO, "%s: cannot read: %s", path, strerror(errno)); return NULL; }
    /* tokenizer_config.json beside it */
    size_t pl = strlen(path);
    char *cfg = malloc(pl + 32);
    if (cfg) {
        memcpy(cfg, path, pl + 1);
        char *slash = strrchr(cfg, '/');
        strcpy(slash ? slash + 1 : cfg, "tokenizer_config.json");
    }
    struct gds_tok *t = load_hf(txt, len, path, cfg);
    free(cfg);
    free(txt);
    return t;
}

struct gds_tok *gds_tok_load_file(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return gds_tok_load_hf(path);
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) return NULL;
    struct gds_tok *t = gds_tok_load_gguf(f);
    gds_gguf_close(f);
    return t;
}

/* ---------------------------------------------------------------------------
 * accessors
 * ------------------------------------------------------------------------- */

int32_t gds_tok_n_vocab(const struct gds_tok *t) { return t->n_vocab; }
int32_t gds_tok_bos(const struct gds_tok *t) { return t->bos; }
int32_t gds_tok_eos(const struct gds_tok *t) { return t->eos; }
int gds_tok_n_regex(const struct gds_tok *t) { return t->n_re; }
const char *gds_tok_regex(const struct gds_tok *t, int i) { return i >= 0 && i < t->n_re ? t->re_src[i] : NULL; }
int32_t gds_tok_find(const struct gds_tok *t, const char *s) { return vmap_find(t, s, strlen(s)); }
const char *gds_tok_token_str(const struct gds_tok *t, int32_t id) { return id >= 0 && id < t->n_vocab ? t->tok[id] : NULL; }
enum gds_tok_type gds_tok_token_type(const struct gds_tok *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? (enum gds_tok_type)t->type[id] : GDS_TOK_TYPE_UNDEFINED;
}
const char *gds_tok_piece(const struct gds_tok *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    *len = t->dec_off[id + 1] - t->dec_off[id];
    return t->dec + t->dec_off[id];
}
void gds_tok_set_debug(struct gds_tok *t, int heap_min, bool use_cache) {
    t->heap_min = heap_min;
    t->use_cache = use_cache;
}

/* ---------------------------------------------------------------------------
 * BPE
 * ------------------------------------------------------------------------- */

static inline uint32_t pair_rank(const struct gds_tok *t, int32_t a, int32_t b, int32_t *merged) {
    uint64_t v;
    if (!u64map_get(&t->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &v)) return NO_RANK;
    *merged = (int32_t)(uint32_t)v;
    return (uint32_t)(v >> 32);
}

static inline bool heap_less(const struct heap_ent *a, const struct heap_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct heap_ent *h, size_t *n, struct heap_ent e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static struct heap_ent heap_pop(struct heap_ent *h, size_t *n) {
    struct heap_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* merges ids[0..m) in place; returns the new count */
static int64_t bpe_heap(struct gds_tok *t, int32_t *ids, int64_t m) {
    if (!grow((void **)&t->syms, &t->syms_cap, (size_t)m, sizeof(*t->syms)) ||
        !grow((void **)&t->heap, &t->heap_cap, (size_t)m * 2 + 2, sizeof(*t->heap))) return -1;
    struct sym *s = t->syms;
    struct heap_ent *h = t->heap;
    size_t hn = 0;
    int32_t dummy;
    for (int64_t i = 0; i < m; i++) s[i] = (struct sym){ ids[i], (int32_t)i - 1, i + 1 < m ? (int32_t)i + 1 : -1 };
    for (int64_t i = 0; i + 1 < m; i++) {
        uint32_t r = pair_rank(t, ids[i], ids[i + 1], &dummy);
        if (r != NO_RANK) heap_push(h, &hn, (struct heap_ent){ r, (uint32_t)i, (uint32_t)i + 1 });
    }
    while (hn) {
        struct heap_ent e = heap_pop(h, &hn);
        struct sym *l = &s[e.pos];
        if (l->id < 0 || l->next != (int32_t)e.rpos) continue;          /* stale */
        int32_t merged = -1;
        if (pair_rank(t, l->id, s[e.rpos].id, &merged) != e.rank) continue; /* stale */
        struct sym *r = &s[e.rpos];
        l->id = merged;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = (int32_t)e.pos;
        r->id = -1;
        /* the heap never holds more than one entry per live adjacent pair plus
         * stale ones; each merge adds at most two, so 2m + 2 slots suffice */
        if (hn + 2 > t->heap_cap) {
            if (!grow((void **)&t->heap, &t->heap_cap, hn + 2, sizeof(*t->heap))) return -1;
            h = t->heap;
        }
        uint32_t rr;
        if (l->prev >= 0 && (rr = pair_rank(t, s[l->prev].id, l->id, &dummy)) != NO_RANK)
            heap_push(h, &hn, (struct heap_ent){ rr, (uint32_t)l->prev, e.pos });
        if (l->next >= 0 && (rr = pair_rank(t, l->id, s[l->next].id, &dummy)) != NO_RANK)
            heap_push(h, &hn, (struct heap_ent){ rr, e.pos, (uint32_t)l->next });
    }
    int64_t o = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next) ids[o++] = s[i].id;
    return o;
}

static int64_t bpe_simple(struct gds_tok *t, int32_t *ids, int64_t m) {
    uint32_t *rk = t->w_rank;
    int32_t *nw = t->w_new;
    for (int64_t i = 0; i + 1 < m; i++) rk[i] = pair_rank(t, ids[i], ids[i + 1], &nw[i]);
    while (m > 1) {
        uint32_t best = NO_RANK;
        int64_t bi = -1;
        for (int64_t i = 0; i + 1 < m; i++) if (rk[i] < best) { best = rk[i]; bi = i; }
        if (bi < 0) break;
        ids[bi] = nw[bi];
        memmove(ids + bi + 1, ids + bi + 2, (size_t)(m - bi - 2) * sizeof(*ids));
        memmove(rk + bi + 1, rk + bi + 2, (size_t)(m > bi + 2 ? m - bi - 3 : 0) * sizeof(*rk));
        memmove(nw + bi + 1, nw + bi + 2, (size_t)(m > bi + 2 ? m - bi - 3 : 0) * sizeof(*nw));
        m--;
        if (bi > 0) rk[bi - 1] = pair_rank(t, ids[bi - 1], ids[bi], &nw[bi - 1]);
        if (bi + 1 < m) rk[bi] = pair_rank(t, ids[bi], ids[bi + 1], &nw[bi]);
    }
    return m;
}

static void cache_clear(struct gds_tok *t) {
    memset(t->cache, 0, ((size_t)1 << CACHE_BITS) * sizeof(*t->cache));
    t->cache_n = 0;
    t->ck_len = t->ci_len = 0;
}

/* BPE of one pre-tokenized piece (raw bytes); appends to out */
static enum gds_status bpe_word(struct gds_tok *t, const uint8_t *p, size_t n, struct gds_tok_ids *out) {
    uint64_t h = 0;
    size_t slot = 0;
    bool cacheable = t->use_cache && n <= CACHE_MAX_KEY;
    if (cacheable) {
        h = hash_bytes(p, n) | 1;
        size_t mask = ((size_t)1 << CACHE_BITS) - 1;
        slot = (size_t)(h ^ h >> 29) & mask;
        for (;;) {
            struct cache_ent *c = &t->cache[slot];
            if (!c->h) break;
            if (c->h == h && c->klen == n && memcmp(t->ck + c->koff, p, n) == 0) {
                for (uint32_t i = 0; i < c->in; i++) {
                    enum gds_status st = ids_push(out, t->ci[c->ioff + i]);
                    if (st != GDS_OK) return st;
                }
                return GDS_OK;
            }
            slot = (slot + 1) & mask;
        }
    }
    if (n + 1 > t->w_cap) {  /* w_ids, w_rank and w_new share one capacity */
        size_t cap = t->w_cap;
        if (!grow((void **)&t->w_ids, &cap, n + 1, sizeof(*t->w_ids))) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        uint32_t *nr = realloc(t->w_rank, cap * sizeof(*nr));
        if (nr) t->w_rank = nr;
        int32_t *nn = realloc(t->w_new, cap * sizeof(*nn));
        if (nn) t->w_new = nn;
        if (!nr || !nn) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        t->w_cap = cap;
    }
    int32_t *ids = t->w_ids;
    int64_t m = 0;
    if (t->ignore_merges) {  /* whole word in the vocabulary: take it as is */
        if (!grow((void **)&t->mapped, &t->mapped_cap, 2 * n + 1, 1)) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        size_t o = 0;
        for (size_t i = 0; i < n; i++) o += utf8_put(t->b2u[p[i]], t->mapped + o);
        int32_t id = vmap_find(t, t->mapped, o);
        if (id >= 0) { ids[0] = id; m = 1; goto emit; }
    }
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id >= 0) ids[m++] = id;   /* a symbol missing from the vocabulary is dropped (no unk token) */
    }
    m = m > t->heap_min ? bpe_heap(t, ids, m) : bpe_simple(t, ids, m);
    if (m < 0) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
emit:
    for (int64_t i = 0; i < m; i++) {
        enum gds_status st = ids_push(out, ids[i]);
        if (st != GDS_OK) return st;
    }
    if (cacheable) {
        if (t->cache_n * 2 >= ((size_t)1 << CACHE_BITS)) {
            cache_clear(t);
            size_t mask = ((size_t)1 << CACHE_BITS) - 1;
            slot = (size_t)(h ^ h >> 29) & mask;
        }
        if (grow((void **)&t->ck, &t->ck_cap, t->ck_len + n + 1, 1) &&
            grow((void **)&t->ci, &t->ci_cap, t->ci_len + (size_t)m + 1, sizeof(*t->ci))) {
            struct cache_ent *c = &t->cache[slot];
            *c = (struct cache_ent){ h, (uint32_t)t->ck_len, (uint32_t)n, (uint32_t)t->ci_len, (uint32_t)m };
            memcpy(t->ck + t->ck_len, p, n);
            memcpy(t->ci + t->ci_len, ids, (size_t)m * sizeof(*ids));
            t->ck_len += n;
            t->ci_len += (size_t)m;
            t->cache_n++;
        }
    }
    return GDS_OK;
}

/* ---------------------------------------------------------------------------
 * pre-tokenization and encoding
 * ------------------------------------------------------------------------- */

static bool piece_push(struct piece **v, size_t *n, size_t *cap, size_t off, size_t len) {
    if (!len) return true;
    if (!grow((void **)v, cap, *n + 1, sizeof(**v))) return false;
    (*v)[(*n)++] = (struct piece){ (uint32_t)off, (uint32_t)len };
    return true;
}

/* s[0..n) is valid UTF-8 without added tokens */
static enum gds_status encode_valid(struct gds_tok *t, const char *s, size_t n, struct gds_tok_ids *out) {
    if (!n) return GDS_OK;
    if (n > UINT32_MAX / 2) return gds_error(GDS_ERR_INVALID, "tokenizer: text segment too long (%zu bytes)", n);
    size_t na = 0, nb;
    if (!piece_push(&t->pa, &na, &t->pa_cap, 0, n)) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
    for (int r = 0; r < t->n_re; r++) {
        nb = 0;
        pcre2_code *re = t->re[r];
        pcre2_match_data *md = t->md[r];
        for (size_t i = 0; i < na; i++) {
            const char *sub = s + t->pa[i].off;
            size_t len = t->pa[i].len, off = 0, prev = 0, base = t->pa[i].off;
            while (off < len) {
                int rc = pcre2_match(re, (PCRE2_SPTR)sub, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof(msg));
                    return gds_error(GDS_ERR_INVALID, "tokenizer: pre-tokenizer regex %d failed: %s", r, (char *)msg);
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me <= ms) {  /* empty match: no piece; step over one character */
                    off = ms + 1;
                    while (off < len && ((uint8_t)sub[off] & 0xC0) == 0x80) off++;
                    continue;
                }
                if (!piece_push(&t->pb, &nb, &t->pb_cap, base + prev, ms - prev) ||
                    !piece_push(&t->pb, &nb, &t->pb_cap, base + ms, me - ms)) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
                prev = off = me;
            }
            if (!piece_push(&t->pb, &nb, &t->pb_cap, base + prev, len - prev)) return gds_error(GDS_ERR_NOMEM, "tokenizer: out of memory");
        }
        struct piece *tp = t->pa; t->pa = t->pb; t->pb = tp;
        size_t tc = t->pa_cap; t->pa_cap = t->pb_cap; t->pb_cap = tc;
        na = nb;
    }
    for (size_t i = 0; i < na; i++) {
        enum gds_status st = bpe_word(t, (const uint8_t *)s + t->pa[i].off, t->pa[i].len, out);
        if (st != GDS_OK) return st;
    }
    return GDS_OK;
}

/* a segment between added tokens; invalid bytes (only with ALLOW_INVALID) become byte tokens */
static enum gds_status encode_text(struct gds_tok *t, const char *s, size_t n, struct gds_tok_ids *out) {
    size_t p = 0;
    while (p < n) {
        size_t v = gds_tok_utf8_check(s + p, n - p);
        enum gds_status st = encode_valid(t, s + p, v, out);
        if (st != GDS_OK) return st;
        p += v;
        if (p < n) {
            int32_t id = t->byte_id[(uint8_t)s[p]];
            if (id >= 0 && (st = ids_push(out, id)) != GDS_OK) return st;
            p++;
        }
    }
    return GDS_OK;
}

enum gds_status gds_tok_encode(struct gds_tok *t, const char *text, size_t len, unsigned flags, struct gds_tok_ids *out) {
    if (!(flags & GDS_TOK_ALLOW_INVALID)) {
        size_t bad = gds_tok_utf8_check(text, len);
        if (bad != len) return gds_error(GDS_ERR_INVALID, "invalid UTF-8 in the text at byte %zu (0x%02x)", bad, (unsigned)(uint8_t)text[bad]);
    }
    bool special = flags & GDS_TOK_PARSE_SPECIAL;
    size_t seg = 0, p = 0;
    while (p < len) {
        if (!t->first[(uint8_t)text[p]]) { p++; continue; }
        /* longest added token starting at p */
        uint32_t node = 0;
        int32_t best = -1;
        size_t best_len = 0;
        for (size_t q = p; q < len; q++) {
            uint64_t v;
            if (!u64map_get(&t->trie, (uint64_t)node << 8 | (uint8_t)text[q], &v)) break;
            node = (uint32_t)v;
            int32_t id = t->term[node];
            if (id >= 0 && (special || t->type[id] != GDS_TOK_TYPE_CONTROL)) { best = id; best_len = q + 1 - p; }
        }
        if (best < 0) { p++; continue; }
        enum gds_status st = encode_text(t, text + seg, p - seg, out);
        if (st != GDS_OK || (st = ids_push(out, best)) != GDS_OK) return st;
        p += best_len;
        seg = p;
    }
    return encode_text(t, text + seg, len - seg, out);
}

/* ---------------------------------------------------------------------------
 * decoding
 * ------------------------------------------------------------------------- */

enum gds_status gds_tok_decode(const struct gds_tok *t, const int32_t *ids, int64_t n, unsigned flags, struct gds_tok_buf *out) {
    enum gds_status st = buf_put(out, "", 0);
    for (int64_t i = 0; i < n && st == GDS_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab) return gds_error(GDS_ERR_INVALID, "token id %d is out of range (vocabulary of %d)", id, t->n_vocab);
        if ((flags & GDS_TOK_SKIP_SPECIAL) && t->type[id] == GDS_TOK_TYPE_CONTROL) continue;
        st = buf_put(out, t->dec + t->dec_off[id], t->dec_off[id + 1] - t->dec_off[id]);
    }
    return st;
}

enum gds_status gds_tok_stream_push(const struct gds_tok *t, struct gds_tok_stream *s, int32_t id, struct gds_tok_buf *out) {
    if (id < 0 || id >= t->n_vocab) return gds_error(GDS_ERR_INVALID, "token id %d is out of range (vocabulary of %d)", id, t->n_vocab);
    const uint8_t *p = (const uint8_t *)t->dec + t->dec_off[id];
    size_t n = t->dec_off[id + 1] - t->dec_off[id];
    /* pending bytes + this piece; hold back a trailing incomplete sequence */
    uint8_t tmp[4];
    size_t nt = 0;
    for (int i = 0; i < s->n_pend && i < 4; i++) tmp[nt++] = s->pend[i];
    size_t all = nt + n;
    /* find the start of the last (possibly incomplete) sequence in the last 3 bytes */
    size_t hold = 0;
    for (size_t back = 1; back <= 3 && back <= all; back++) {
        size_t pos = all - back;
        uint8_t c = pos < nt ? tmp[pos] : p[pos - nt];
        if ((c & 0xC0) == 0x80) continue;   /* continuation byte: keep looking */
        if (c >= 0xC2) {
            uint8_t seq[4];
            for (size_t k = 0; k < back; k++) seq[k] = pos + k < nt ? tmp[pos + k] : p[pos + k - nt];
            if (utf8_valid_prefix(seq, back)) hold = back;
        }
        break;
    }
    size_t emit = all - hold;
    enum gds_status st = GDS_OK;
    if (emit <= nt) st = buf_put(out, tmp, emit);
    else if ((st = buf_put(out, tmp, nt)) == GDS_OK) st = buf_put(out, p, emit - nt);
    if (st != GDS_OK) return st;
    uint8_t np[4];
    for (size_t k = 0; k < hold; k++) { size_t pos = emit + k; np[k] = pos < nt ? tmp[pos] : p[pos - nt]; }
    memcpy(s->pend, np, hold);
    s->n_pend = (int)hold;
    return GDS_OK;
}

enum gds_status gds_tok_stream_flush(struct gds_tok_stream *s, struct gds_tok_buf *out) {
    enum gds_status st = buf_put(out, s->pend, (size_t)s->n_pend);
    s->n_pend = 0;
    return st;
}
