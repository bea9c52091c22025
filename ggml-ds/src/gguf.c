/*
 * gguf.c - GGUF v3 reader (mmap, validate everything before use) and a
 * streaming writer (path.tmp + fsync + rename). API and usage: gds-gguf.h.
 *
 * Format (shared/spec/gguf-deepseek4.md section 1, ggml docs/gguf.md): magic
 * "GGUF", u32 version 3, u64 n_tensors, u64 n_kv, key/values (gguf string key,
 * u32 type, value), tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type,
 * u64 offset relative to the data section), zero padding to the alignment
 * (general.alignment, u32 power of two, default 32), then the data section.
 * All integers little-endian; a big-endian host is refused at compile time.
 *
 * Reader invariants, established by gguf_parse before a handle is returned:
 *   - every read is bounds-checked against the image; counts (n_kv,
 *     n_tensors, array lengths, string lengths) are capped by the bytes that
 *     remain, so a hostile header can never make us allocate more than a
 *     small multiple of the file size;
 *   - keys and tensor names are non-empty, contain no NUL byte and are unique
 *     (names also shorter than GDS_MAX_NAME); bools are 0 or 1; arrays of
 *     arrays are rejected;
 *   - every tensor has a known type, 1..4 dims, ne0 a multiple of the block
 *     size, an element count and byte size without overflow, an aligned
 *     offset, and a byte range inside the file that overlaps no other tensor.
 * Values are copied out of the image (strings NUL-terminated, numeric arrays
 * into aligned storage), so only tensor data points into the mapping.
 * Accessors assert on a wrong index or type (programmer error).
 *
 * Writer invariants: the header is built in memory and written at
 * begin_data; tensor data is streamed in add order with zero padding after
 * every tensor (ggml's layout: offsets are the padded running sum). Any I/O
 * error (ENOSPC, EFBIG, short write) removes path.tmp at once and makes every
 * later call fail; argument errors (duplicate key, bad shape) are reported
 * and leave the writer usable. Only a complete, fsynced file is renamed to
 * the final path, so a file at the final path is always complete. A
 * directory at the final path is refused at open; a stale path.tmp is
 * unlinked and created afresh (O_EXCL), never written through a link.
 *
 * Not here: model-specific key/tensor checks (models/), split files.
 */
#include "gds-gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host (numeric arrays and tensor data are copied as is)"
#endif

#define GGUF_MAGIC   "GGUF"
#define GGUF_VERSION 3u
#define GGUF_N_TYPES 13

static const size_t gguf_type_size[GGUF_N_TYPES] = {
    [GDS_GGUF_UINT8] = 1, [GDS_GGUF_INT8] = 1, [GDS_GGUF_UINT16] = 2, [GDS_GGUF_INT16] = 2,
    [GDS_GGUF_UINT32] = 4, [GDS_GGUF_INT32] = 4, [GDS_GGUF_FLOAT32] = 4, [GDS_GGUF_BOOL] = 1,
    [GDS_GGUF_STRING] = 0, [GDS_GGUF_ARRAY] = 0, [GDS_GGUF_UINT64] = 8, [GDS_GGUF_INT64] = 8,
    [GDS_GGUF_FLOAT64] = 8,
};

static const char *const gguf_type_names[GGUF_N_TYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

static const char *gguf_type_name(uint32_t t) { return t < GGUF_N_TYPES ? gguf_type_names[t] : "unknown"; }

static bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* ============================================================================
 * Reader
 * ========================================================================== */

struct gguf_kv {
    char *key;
    enum gds_gguf_type type;
    enum gds_gguf_type arr_type;
    int64_t n;          /* array length */
    uint64_t raw;       /* scalar bytes, zero-extended */
    char *str;          /* STRING value */
    void *arr;          /* numeric array, packed, aligned copy */
    char **strs;        /* string array: n pointers into blob */
    char *blob;
};

struct gguf_tensor {
    char name[GDS_MAX_NAME];
    enum gds_type type;
    int n_dims;
    int64_t ne[GDS_MAX_DIMS];
    size_t offset, size;
};

struct name_idx { const char *name; int64_t idx; };

struct gds_gguf {
    char *path;
    const uint8_t *base;
    size_t size;
    bool mapped;
    uint32_t version;
    size_t alignment, data_offset;
    int64_t n_kv;
    struct gguf_kv *kv;
    struct name_idx *kv_sorted;
    int64_t n_tensors;
    struct gguf_tensor *t;
    struct name_idx *t_sorted;
};

/* parse cursor + the item being read, for error messages */
struct rd {
    const uint8_t *p;
    size_t size, pos;
    const char *label;
    char what[160];
};

static void *rd_fail(struct rd *r, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gds_error(GDS_ERR_FORMAT, "%s: %s%s%s", r->label, r->what, r->what[0] ? ": " : "", msg);
    return NULL;
}

static size_t rd_left(const struct rd *r) { return r->size - r->pos; }

static bool rd_bytes(struct rd *r, size_t n, const uint8_t **out, const char *field) {
    if (n > rd_left(r)) {
        rd_fail(r, "file truncated: %s needs %zu bytes at offset %zu, only %zu left",
                field, n, r->pos, rd_left(r));
        return false;
    }
    *out = r->p + r->pos;
    r->pos += n;
    return true;
}

static uint64_t le_get(const uint8_t *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static bool rd_u32(struct rd *r, uint32_t *v, const char *field) {
    const uint8_t *b;
    if (!rd_bytes(r, 4, &b, field)) return false;
    *v = (uint32_t)le_get(b, 4);
    return true;
}

static bool rd_u64(struct rd *r, uint64_t *v, const char *field) {
    const uint8_t *b;
    if (!rd_bytes(r, 8, &b, field)) return false;
    *v = le_get(b, 8);
    return true;
}

/* gguf string: u64 length + bytes; the length is checked against the file */
static bool rd_str(struct rd *r, const uint8_t **s, size_t *len, const char *field) {
    uint64_t n;
    if (!rd_u64(r, &n, field)) return false;
    if (n > rd_left(r)) {
        rd_fail(r, "file truncated or corrupt: %s length %llu exceeds the %zu bytes left",
                field, (unsigned long long)n, rd_left(r));
        return false;
    }
    *len = (size_t)n;
    return rd_bytes(r, (size_t)n, s, field);
}

static char *dup_n(const uint8_t *s, size_t n) {
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

static void print_str(char *dst, size_t cap, const uint8_t *s, size_t n) {
    /* printable excerpt of a name for messages */
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++) dst[j++] = (s[i] >= 32 && s[i] < 127) ? (char)s[i] : '?';
    if (n > 0 && j + 4 >= cap) { dst[j++] = '.'; dst[j++] = '.'; dst[j++] = '.'; }
    dst[j] = 0;
}

static int cmp_name_idx(const void *a, const void *b) {
    return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

struct off_idx { size_t off, size; int64_t idx; };
static int cmp_off_idx(const void *a, const void *b) {
    const struct off_idx *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    if (x->size != y->size) return x->size < y->size ? -1 : 1;
    return 0;
}

static void *oom(struct rd *r) {
    gds_error(GDS_ERR_NOMEM, "%s: out of memory while reading %s", r->label, r->what[0] ? r->what : "the header");
    return NULL;
}

/* Reads one value of type t (t != ARRAY) into kv scalar/str fields. */
static bool rd_scalar(struct rd *r, uint32_t t, struct gguf_kv *kv) {
    if (t == GDS_GGUF_STRING) {
        const uint8_t *s; size_t n;
        if (!rd_str(r, &s, &n, "string value")) return false;
        kv->str = dup_n(s, n);
        if (!kv->str) { oom(r); return false; }
        return true;
    }
    const uint8_t *b;
    if (!rd_bytes(r, gguf_type_size[t], &b, "value")) return false;
    kv->raw = le_get(b, (int)gguf_type_size[t]);
    if (t == GDS_GGUF_BOOL && kv->raw > 1) {
        rd_fail(r, "bool value %llu is not 0 or 1", (unsigned long long)kv->raw);
        return false;
    }
    return true;
}

static bool rd_array(struct rd *r, struct gguf_kv *kv) {
    uint32_t et;
    uint64_t n;
    if (!rd_u32(r, &et, "array element type")) return false;
    if (et == GDS_GGUF_ARRAY) { rd_fail(r, "arrays of arrays are not supported"); return false; }
    if (et >= GGUF_N_TYPES) { rd_fail(r, "unknown array element type %u", et); return false; }
    if (!rd_u64(r, &n, "array length")) return false;
    kv->arr_type = (enum gds_gguf_type)et;
    size_t esz = et == GDS_GGUF_STRING ? 8 : gguf_type_size[et]; /* minimum bytes per element */
    if (n > rd_left(r) / esz) {
        rd_fail(r, "file truncated or corrupt: array of %llu %s elements needs at least %llu bytes, only %zu left",
                (unsigned long long)n, gguf_type_name(et),
                n > UINT64_MAX / esz ? (unsigned long long)UINT64_MAX : (unsigned long long)(n * esz), rd_left(r));
        return false;
    }
    kv->n = (int64_t)n;
    if (et != GDS_GGUF_STRING) {
        const uint8_t *b;
        if (!rd_bytes(r, (size_t)n * esz, &b, "array data")) return false;
        if (et == GDS_GGUF_BOOL)
            for (uint64_t j = 0; j < n; j++)
                if (b[j] > 1) { rd_fail(r, "bool element %llu is %u, not 0 or 1", (unsigned long long)j, b[j]); return false; }
        kv->arr = malloc((size_t)n * esz + 8);
        if (!kv->arr) { oom(r); return false; }
        memcpy(kv->arr, b, (size_t)n * esz);
        return true;
    }
    /* strings: pass 1 validates and sizes, pass 2 copies */
    size_t start = r->pos, total = 0;
    for (uint64_t j = 0; j < n; j++) {
        const uint8_t *s; size_t len;
        if (!rd_str(r, &s, &len, "array string")) return false;
        total += len;  /* <= file size: no overflow */
    }
    kv->strs = malloc((size_t)(n ? n : 1) * sizeof(char *));
    kv->blob = malloc(total + (size_t)n + 1);
    if (!kv->strs || !kv->blob) { oom(r); return false; }
    r->pos = start;
    char *dst = kv->blob;
    for (uint64_t j = 0; j < n; j++) {
        const uint8_t *s; size_t len;
        rd_str(r, &s, &len, "array string"); /* cannot fail: validated above */
        memcpy(dst, s, len);
        dst[len] = 0;
        kv->strs[j] = dst;
        dst += len + 1;
    }
    return true;
}

static void kv_free(struct gguf_kv *kv) {
    free(kv->key); free(kv->str); free(kv->arr); free(kv->strs); free(kv->blob);
}

void gds_gguf_close(struct gds_gguf *f) {
    if (!f) return;
    if (f->kv)
        for (int64_t i = 0; i < f->n_kv; i++) kv_free(&f->kv[i]);
    free(f->kv);
    free(f->kv_sorted);
    free(f->t);
    free(f->t_sorted);
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

static bool checked_mul(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }

static bool rd_tensor_info(struct rd *r, struct gds_gguf *f, int64_t i, struct gguf_tensor *t, uint64_t *offset) {
    const uint8_t *s; size_t len;
    snprintf(r->what, sizeof(r->what), "tensor info #%lld", (long long)i);
    if (!rd_str(r, &s, &len, "tensor name")) return false;
    if (len == 0) { rd_fail(r, "empty tensor name"); return false; }
    if (memchr(s, 0, len)) { rd_fail(r, "tensor name contains a NUL byte"); return false; }
    char pname[96];
    print_str(pname, sizeof(pname), s, len);
    if (len >= GDS_MAX_NAME) {
        rd_fail(r, "tensor name '%s' is %zu bytes, the limit is %d", pname, len, GDS_MAX_NAME - 1);
        return false;
    }
    memcpy(t->name, s, len);
    t->name[len] = 0;
    snprintf(r->what, sizeof(r->what), "tensor '%s'", t->name);

    uint32_t nd;
    if (!rd_u32(r, &nd, "n_dims")) return false;
    if (nd < 1 || nd > GDS_MAX_DIMS) { rd_fail(r, "n_dims %u is not in 1..%d", nd, GDS_MAX_DIMS); return false; }
    t->n_dims = (int)nd;
    for (int d = 0; d < GDS_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        if (!rd_u64(r, &ne, "ne")) return false;
        if (ne > (uint64_t)INT64_MAX) { rd_fail(r, "ne[%u] = %llu is too large", d, (unsigned long long)ne); return false; }
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    if (!rd_u32(r, &type, "type")) return false;
    if (type > INT_MAX || !gds_type_valid((int)type)) {
        rd_fail(r, "unknown or unsupported tensor type id %u", type);
        return false;
    }
    t->type = (enum gds_type)type;
    if (!rd_u64(r, offset, "offset")) return false;

    const struct gds_type_traits *tt = gds_type_traits(t->type);
    if (t->ne[0] % tt->blck_size != 0) {
        rd_fail(r, "ne0 = %lld is not a multiple of the %s block size %lld",
                (long long)t->ne[0], tt->name, (long long)tt->blck_size);
        return false;
    }
    /* Every partial product of the dims must fit, even when another dim is 0
     * (code downstream multiplies ne1*ne2*ne3 without knowing about the zero). */
    uint64_t nel = 1, bound = 1, bytes = (uint64_t)(t->ne[0] / tt->blck_size);
    bool ok = checked_mul(bytes, tt->type_size, &bytes);
    for (int d = 0; d < GDS_MAX_DIMS && ok; d++) {
        ok = checked_mul(bound, t->ne[d] ? (uint64_t)t->ne[d] : 1, &bound) && bound <= (uint64_t)INT64_MAX;
        ok = ok && checked_mul(nel, (uint64_t)t->ne[d], &nel);
        if (d > 0) ok = ok && checked_mul(bytes, (uint64_t)t->ne[d], &bytes);
    }
    if (!ok || bytes > SIZE_MAX) {
        rd_fail(r, "shape [%lld, %lld, %lld, %lld] overflows the element count or byte size",
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        return false;
    }
    t->size = (size_t)bytes;
    (void)f;
    return true;
}

static struct gds_gguf *gguf_parse(const uint8_t *base, size_t size, const char *label) {
    struct rd r = { .p = base, .size = size, .pos = 0, .label = label ? label : "(memory)" };
    strcpy(r.what, "header");
    struct gds_gguf *f = calloc(1, sizeof(*f));
    if (!f) return oom(&r);
    f->base = base;
    f->size = size;
    f->alignment = GDS_GGUF_DEFAULT_ALIGNMENT;
    f->path = strdup(r.label);
    if (!f->path) { gds_gguf_close(f); return oom(&r); }

    const uint8_t *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if (!rd_bytes(&r, 4, &magic, "magic")) goto fail;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0) {
        rd_fail(&r, "bad magic %02x %02x %02x %02x (expected \"GGUF\")", magic[0], magic[1], magic[2], magic[3]);
        goto fail;
    }
    if (!rd_u32(&r, &version, "version")) goto fail;
    if (version != GGUF_VERSION) {
        rd_fail(&r, "unsupported GGUF version %u (only %u is supported)", version, GGUF_VERSION);
        goto fail;
    }
    f->version = version;
    if (!rd_u64(&r, &n_tensors, "n_tensors") || !rd_u64(&r, &n_kv, "n_kv")) goto fail;
    /* smallest kv: 8 (key length) + 1 (key) + 4 (type) + 1 (u8); smallest tensor
     * info: 8 + 1 + 4 + 8 + 4 + 8 */
    if (n_kv > rd_left(&r) / 14 || n_tensors > rd_left(&r) / 33 ||
        n_kv * 14 + n_tensors * 33 > rd_left(&r)) {
        rd_fail(&r, "file truncated or corrupt: n_kv = %llu and n_tensors = %llu cannot fit in the %zu bytes left",
                (unsigned long long)n_kv, (unsigned long long)n_tensors, rd_left(&r));
        goto fail;
    }
    f->n_kv = (int64_t)n_kv;
    f->n_tensors = (int64_t)n_tensors;
    f->kv = calloc((size_t)n_kv + 1, sizeof(*f->kv));
    f->kv_sorted = calloc((size_t)n_kv + 1, sizeof(*f->kv_sorted));
    f->t = calloc((size_t)n_tensors + 1, sizeof(*f->t));
    f->t_sorted = calloc((size_t)n_tensors + 1, sizeof(*f->t_sorted));
    if (!f->kv || !f->kv_sorted || !f->t || !f->t_sorted) { oom(&r); goto fail; }

    /* ---- key/values ---- */
    for (int64_t i = 0; i < f->n_kv; i++) {
        struct gguf_kv *kv = &f->kv[i];
        const uint8_t *s; size_t len;
        snprintf(r.what, sizeof(r.what), "kv #%lld", (long long)i);
        if (!rd_str(&r, &s, &len, "key")) goto fail;
        if (len == 0) { rd_fail(&r, "empty key"); goto fail; }
        if (memchr(s, 0, len)) { rd_fail(&r, "key contains a NUL byte"); goto fail; }
        kv->key = dup_n(s, len);
        if (!kv->key) { oom(&r); goto fail; }
        char pkey[128];
        print_str(pkey, sizeof(pkey), s, len);
        snprintf(r.what, sizeof(r.what), "key '%s'", pkey);
        uint32_t type;
        if (!rd_u32(&r, &type, "value type")) goto fail;
        if (type >= GGUF_N_TYPES) { rd_fail(&r, "unknown value type %u", type); goto fail; }
        kv->type = (enum gds_gguf_type)type;
        if (type == GDS_GGUF_ARRAY ? !rd_array(&r, kv) : !rd_scalar(&r, type, kv)) goto fail;
        if (strcmp(kv->key, "general.alignment") == 0) {
            if (type != GDS_GGUF_UINT32) { rd_fail(&r, "must be u32, not %s", gguf_type_name(type)); goto fail; }
            if (!is_pow2(kv->raw) || kv->raw > (1u << 30)) {
                rd_fail(&r, "alignment %llu is not a power of two in 1..2^30", (unsigned long long)kv->raw);
                goto fail;
            }
            f->alignment = (size_t)kv->raw;
        }
        f->kv_sorted[i] = (struct name_idx){ kv->key, i };
    }
    r.what[0] = 0;
    qsort(f->kv_sorted, (size_t)f->n_kv, sizeof(*f->kv_sorted), cmp_name_idx);
    for (int64_t i = 1; i < f->n_kv; i++)
        if (strcmp(f->kv_sorted[i - 1].name, f->kv_sorted[i].name) == 0) {
            rd_fail(&r, "duplicate key '%s' (kv #%lld and #%lld)", f->kv_sorted[i].name,
                    (long long)f->kv_sorted[i - 1].idx, (long long)f->kv_sorted[i].idx);
            goto fail;
        }

    /* ---- tensor infos ---- */
    uint64_t *offs = calloc((size_t)n_tensors + 1, sizeof(uint64_t));
    if (!offs) { oom(&r); goto fail; }
    for (int64_t i = 0; i < f->n_tensors; i++) {
        if (!rd_tensor_info(&r, f, i, &f->t[i], &offs[i])) { free(offs); goto fail; }
        f->t_sorted[i] = (struct name_idx){ f->t[i].name, i };
    }
    r.what[0] = 0;
    /* data section: aligned end of the header */
    size_t hdr_end = r.pos;
    f->data_offset = hdr_end + (f->alignment - hdr_end % f->alignment) % f->alignment; /* <= size + 2^30 */
    for (int64_t i = 0; i < f->n_tensors; i++) {
        struct gguf_tensor *t = &f->t[i];
        snprintf(r.what, sizeof(r.what), "tensor '%s'", t->name);
        if (offs[i] % f->alignment != 0) {
            rd_fail(&r, "offset %llu is not a multiple of the alignment %zu", (unsigned long long)offs[i], f->alignment);
            free(offs); goto fail;
        }
        if (f->data_offset > size || offs[i] > size - f->data_offset || t->size > size - f->data_offset - offs[i]) {
            rd_fail(&r, "data [%llu, +%zu) at file offset %zu + %llu lies outside the file (%zu bytes)",
                    (unsigned long long)offs[i], t->size, f->data_offset, (unsigned long long)offs[i], size);
            free(offs); goto fail;
        }
        t->offset = (size_t)offs[i];
    }
    free(offs);
    r.what[0] = 0;
    qsort(f->t_sorted, (size_t)f->n_tensors, sizeof(*f->t_sorted), cmp_name_idx);
    for (int64_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->t_sorted[i - 1].name, f->t_sorted[i].name) == 0) {
            rd_fail(&r, "tensor '%s': duplicate tensor name (tensor infos #%lld and #%lld)", f->t_sorted[i].name,
                    (long long)f->t_sorted[i - 1].idx, (long long)f->t_sorted[i].idx);
            goto fail;
        }
    if (f->n_tensors > 1) {
        struct off_idx *o = malloc((size_t)f->n_tensors * sizeof(*o));
        if (!o) { oom(&r); goto fail; }
        for (int64_t i = 0; i < f->n_tensors; i++) o[i] = (struct off_idx){ f->t[i].offset, f->t[i].size, i };
        qsort(o, (size_t)f->n_tensors, sizeof(*o), cmp_off_idx);
        for (int64_t i = 1; i < f->n_tensors; i++)
            if (o[i - 1].off + o[i - 1].size > o[i].off) {
                const struct gguf_tensor *a = &f->t[o[i - 1].idx], *b = &f->t[o[i].idx];
                rd_fail(&r, "tensor '%s': data [%zu, %zu) overlaps tensor '%s' [%zu, %zu)",
                        b->name, b->offset, b->offset + b->size, a->name, a->offset, a->offset + a->size);
                free(o);
                goto fail;
            }
        free(o);
    }
    return f;
fail:
    f->mapped = false;  /* the caller owns the image on failure */
    gds_gguf_close(f);
    return NULL;
}

struct gds_gguf *gds_gguf_open_memory(const void *buf, size_t size, const char *label) {
    if (!buf && size) { gds_error(GDS_ERR_INVALID, "gds_gguf_open_memory: NULL buffer"); return NULL; }
    static const uint8_t empty[1];
    return gguf_parse(buf ? buf : empty, size, label ? label : "(memory)");
}

struct gds_gguf *gds_gguf_open(const char *path) {
    if (!path) { gds_error(GDS_ERR_INVALID, "gds_gguf_open: NULL path"); return NULL; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { gds_error(GDS_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        gds_error(GDS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        gds_error(GDS_ERR_IO, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        gds_error(GDS_ERR_FORMAT, "%s: header: file is empty", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        gds_error(GDS_ERR_IO, "%s: file too large to map", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int merr = errno;
    close(fd);
    if (m == MAP_FAILED) { gds_error(GDS_ERR_IO, "%s: mmap of %zu bytes failed: %s", path, size, strerror(merr)); return NULL; }
    struct gds_gguf *f = gguf_parse(m, size, path);
    if (!f) { munmap(m, size); return NULL; }
    f->mapped = true;
    return f;
}

/* ---- reader accessors ---- */

const char *gds_gguf_path(const struct gds_gguf *f) { return f->path; }
uint32_t gds_gguf_version(const struct gds_gguf *f) { return f->version; }
size_t gds_gguf_alignment(const struct gds_gguf *f) { return f->alignment; }
const void *gds_gguf_base(const struct gds_gguf *f) { return f->base; }
size_t gds_gguf_size(const struct gds_gguf *f) { return f->size; }
size_t gds_gguf_data_offset(const struct gds_gguf *f) { return f->data_offset; }

static int64_t find_sorted(const struct name_idx *v, int64_t n, const char *name) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].name, name);
        if (c == 0) return v[mid].idx;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

int64_t gds_gguf_n_kv(const struct gds_gguf *f) { return f->n_kv; }
int64_t gds_gguf_find_key(const struct gds_gguf *f, const char *key) { return find_sorted(f->kv_sorted, f->n_kv, key); }

static const struct gguf_kv *kv_at(const struct gds_gguf *f, int64_t i) {
    GDS_ASSERT(i >= 0 && i < f->n_kv);
    return &f->kv[i];
}
static const struct gguf_kv *kv_typed(const struct gds_gguf *f, int64_t i, enum gds_gguf_type t) {
    const struct gguf_kv *kv = kv_at(f, i);
    GDS_ASSERT(kv->type == t);
    return kv;
}

const char *gds_gguf_key(const struct gds_gguf *f, int64_t i) { return kv_at(f, i)->key; }
enum gds_gguf_type gds_gguf_kv_type(const struct gds_gguf *f, int64_t i) { return kv_at(f, i)->type; }
uint8_t gds_gguf_get_u8(const struct gds_gguf *f, int64_t i) { return (uint8_t)kv_typed(f, i, GDS_GGUF_UINT8)->raw; }
int32_t gds_gguf_get_i32(const struct gds_gguf *f, int64_t i) { return (int32_t)(uint32_t)kv_typed(f, i, GDS_GGUF_INT32)->raw; }
uint32_t gds_gguf_get_u32(const struct gds_gguf *f, int64_t i) { return (uint32_t)kv_typed(f, i, GDS_GGUF_UINT32)->raw; }
uint64_t gds_gguf_get_u64(const struct gds_gguf *f, int64_t i) { return kv_typed(f, i, GDS_GGUF_UINT64)->raw; }
float gds_gguf_get_f32(const struct gds_gguf *f, int64_t i) {
    uint32_t b = (uint32_t)kv_typed(f, i, GDS_GGUF_FLOAT32)->raw;
    float v;
    memcpy(&v, &b, 4);
    return v;
}
bool gds_gguf_get_bool(const struct gds_gguf *f, int64_t i) { return kv_typed(f, i, GDS_GGUF_BOOL)->raw != 0; }
const char *gds_gguf_get_str(const struct gds_gguf *f, int64_t i) { return kv_typed(f, i, GDS_GGUF_STRING)->str; }

bool gds_gguf_get_int(const struct gds_gguf *f, int64_t i, int64_t *out) {
    const struct gguf_kv *kv = kv_at(f, i);
    uint64_t r = kv->raw;
    switch (kv->type) {
    case GDS_GGUF_UINT8: case GDS_GGUF_UINT16: case GDS_GGUF_UINT32: *out = (int64_t)r; return true;
    case GDS_GGUF_INT8:  *out = (int8_t)(uint8_t)r; return true;
    case GDS_GGUF_INT16: *out = (int16_t)(uint16_t)r; return true;
    case GDS_GGUF_INT32: *out = (int32_t)(uint32_t)r; return true;
    case GDS_GGUF_INT64: { int64_t v; memcpy(&v, &r, 8); *out = v; return true; }
    case GDS_GGUF_UINT64: if (r > (uint64_t)INT64_MAX) return false; *out = (int64_t)r; return true;
    default: return false;
    }
}

enum gds_gguf_type gds_gguf_arr_type(const struct gds_gguf *f, int64_t i) { return kv_typed(f, i, GDS_GGUF_ARRAY)->arr_type; }
int64_t gds_gguf_arr_n(const struct gds_gguf *f, int64_t i) { return kv_typed(f, i, GDS_GGUF_ARRAY)->n; }
const void *gds_gguf_arr_data(const struct gds_gguf *f, int64_t i) {
    const struct gguf_kv *kv = kv_typed(f, i, GDS_GGUF_ARRAY);
    GDS_ASSERT(kv->arr_type != GDS_GGUF_STRING);
    return kv->arr;
}
const char *gds_gguf_arr_str(const struct gds_gguf *f, int64_t i, int64_t j) {
    const struct gguf_kv *kv = kv_typed(f, i, GDS_GGUF_ARRAY);
    GDS_ASSERT(kv->arr_type == GDS_GGUF_STRING && j >= 0 && j < kv->n);
    return kv->strs[j];
}

int64_t gds_gguf_n_tensors(const struct gds_gguf *f) { return f->n_tensors; }
int64_t gds_gguf_find_tensor(const struct gds_gguf *f, const char *name) { return find_sorted(f->t_sorted, f->n_tensors, name); }
static const struct gguf_tensor *t_at(const struct gds_gguf *f, int64_t i) {
    GDS_ASSERT(i >= 0 && i < f->n_tensors);
    return &f->t[i];
}
const char *gds_gguf_tensor_name(const struct gds_gguf *f, int64_t i) { return t_at(f, i)->name; }
enum gds_type gds_gguf_tensor_type(const struct gds_gguf *f, int64_t i) { return t_at(f, i)->type; }
int gds_gguf_tensor_n_dims(const struct gds_gguf *f, int64_t i) { return t_at(f, i)->n_dims; }
void gds_gguf_tensor_ne(const struct gds_gguf *f, int64_t i, int64_t ne[4]) {
    const struct gguf_tensor *t = t_at(f, i);
    for (int d = 0; d < GDS_MAX_DIMS; d++) ne[d] = t->ne[d];
}
size_t gds_gguf_tensor_offset(const struct gds_gguf *f, int64_t i) { return t_at(f, i)->offset; }
size_t gds_gguf_tensor_size(const struct gds_gguf *f, int64_t i) { return t_at(f, i)->size; }
const void *gds_gguf_tensor_data(const struct gds_gguf *f, int64_t i) {
    const struct gguf_tensor *t = t_at(f, i);
    return f->base + f->data_offset + t->offset;
}

/* ============================================================================
 * Writer
 * ========================================================================== */

#define WBUF_CAP (1u << 20)

struct wkv {
    char *key;
    uint32_t type;
    uint8_t *val;    /* serialized value (after the type field) */
    size_t val_len;
};

struct wtensor {
    char name[GDS_MAX_NAME];
    enum gds_type type;
    int n_dims;
    int64_t ne[GDS_MAX_DIMS];
    size_t size, offset;
};

enum { W_META, W_DATA, W_FAILED };

struct gds_gguf_writer {
    char *path, *tmp;
    int fd;
    int state;
    enum gds_status err;     /* sticky status once W_FAILED */
    uint32_t alignment;
    struct wkv *kv;
    int64_t n_kv, cap_kv;
    struct wtensor *t;
    int64_t n_t, cap_t;
    int64_t cur;             /* tensor being written */
    size_t cur_done;         /* bytes of it written */
    uint64_t data_left;      /* unpadded bytes still expected */
    uint64_t pos;            /* bytes handed to write() or buffered */
    uint8_t *buf;
    size_t buf_n;
};

/* I/O failure: remove the .tmp now, remember the error, fail every later call. */
static enum gds_status w_io_fail(struct gds_gguf_writer *w, const char *what, int err) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    unlink(w->tmp);
    w->state = W_FAILED;
    w->err = gds_error(GDS_ERR_IO, "%s: %s %s failed: %s (partial file removed)", w->path, what, w->tmp, strerror(err));
    return w->err;
}

static bool w_raw(struct gds_gguf_writer *w, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t r = write(w->fd, p, n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (r == 0) { errno = EIO; return false; }
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static enum gds_status w_flush(struct gds_gguf_writer *w) {
    if (w->buf_n && !w_raw(w, w->buf, w->buf_n)) return w_io_fail(w, "write to", errno);
    w->buf_n = 0;
    return GDS_OK;
}

static enum gds_status w_put(struct gds_gguf_writer *w, const void *p, size_t n) {
    w->pos += n;
    if (w->buf_n + n > WBUF_CAP) {
        enum gds_status st = w_flush(w);
        if (st) return st;
    }
    if (n >= WBUF_CAP) return w_raw(w, p, n) ? GDS_OK : w_io_fail(w, "write to", errno);
    memcpy(w->buf + w->buf_n, p, n);
    w->buf_n += n;
    return GDS_OK;
}

static enum gds_status w_zeros(struct gds_gguf_writer *w, size_t n) {
    static const uint8_t z[4096];
    while (n) {
        size_t k = n < sizeof(z) ? n : sizeof(z);
        enum gds_status st = w_put(w, z, k);
        if (st) return st;
        n -= k;
    }
    return GDS_OK;
}

static void le_put(uint8_t *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
}
static enum gds_status w_u32(struct gds_gguf_writer *w, uint32_t v) { uint8_t b[4]; le_put(b, v, 4); return w_put(w, b, 4); }
static enum gds_status w_u64(struct gds_gguf_writer *w, uint64_t v) { uint8_t b[8]; le_put(b, v, 8); return w_put(w, b, 8); }
static enum gds_status w_str(struct gds_gguf_writer *w, const char *s) {
    size_t n = strlen(s);
    enum gds_status st = w_u64(w, n);
    return st ? st : w_put(w, s, n);
}

static void writer_free(struct gds_gguf_writer *w) {
    for (int64_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    free(w->kv);
    free(w->t);
    free(w->buf);
    free(w->path);
    free(w->tmp);
    free(w);
}

struct gds_gguf_writer *gds_gguf_writer_open(const char *path) {
    if (!path || !*path) { gds_error(GDS_ERR_INVALID, "gds_gguf_writer_open: empty path"); return NULL; }
    struct gds_gguf_writer *w = calloc(1, sizeof(*w));
    if (!w) { gds_error(GDS_ERR_NOMEM, "%s: out of memory", path); return NULL; }
    w->fd = -1;
    w->alignment = GDS_GGUF_DEFAULT_ALIGNMENT;
    size_t n = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(n + 5);
    w->buf = malloc(WBUF_CAP);
    if (!w->path || !w->tmp || !w->buf) {
        writer_free(w);
        gds_error(GDS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    /* A directory at the final path would fail the rename after all the
     * data is written: refuse it now. */
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        gds_error(GDS_ERR_IO, "%s: is a directory (the output must be a file)", path);
        writer_free(w);
        return NULL;
    }
    /* A stale path.tmp (an earlier run killed by SIGKILL) is replaced, never
     * written through: O_EXCL does not follow a symlink, and a hard-linked
     * stale .tmp is unlinked rather than truncated under its other name. */
    if (lstat(w->tmp, &sb) == 0 && !S_ISDIR(sb.st_mode)) unlink(w->tmp);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        gds_error(GDS_ERR_IO, "%s: cannot create %s: %s", path, w->tmp, strerror(errno));
        writer_free(w);
        return NULL;
    }
    return w;
}

static enum gds_status w_check_meta(struct gds_gguf_writer *w, const char *what, const char *name) {
    if (w->state == W_FAILED) return w->err;
    if (w->state != W_META)
        return gds_error(GDS_ERR_INVALID, "%s: %s '%s' added after begin_data", w->path, what, name ? name : "(null)");
    return GDS_OK;
}

static int64_t w_find_key(const struct gds_gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return i;
    return -1;
}

/* Adds key with serialized value (takes ownership of val). */
static enum gds_status w_add_kv(struct gds_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t len) {
    enum gds_status st = w_check_meta(w, "key", key);
    if (!st && (!key || !*key)) st = gds_error(GDS_ERR_INVALID, "%s: empty key", w->path);
    if (!st && w_find_key(w, key) >= 0) st = gds_error(GDS_ERR_INVALID, "%s: duplicate key '%s'", w->path, key);
    if (!st && w->n_kv == w->cap_kv) {
        int64_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
        struct wkv *nk = realloc(w->kv, (size_t)cap * sizeof(*nk));
        if (!nk) st = gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
        else { w->kv = nk; w->cap_kv = cap; }
    }
    char *k = st ? NULL : strdup(key);
    if (!st && !k) st = gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
    if (st) { free(val); return st; }
    w->kv[w->n_kv++] = (struct wkv){ k, type, val, len };
    return GDS_OK;
}

static enum gds_status w_scalar(struct gds_gguf_writer *w, const char *key, uint32_t type, uint64_t v) {
    size_t n = gguf_type_size[type];
    uint8_t *b = malloc(8);
    if (!b) return gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
    le_put(b, v, (int)n);
    return w_add_kv(w, key, type, b, n);
}

void gds_gguf_writer_set_alignment(struct gds_gguf_writer *w, uint32_t alignment) {
    if (w_check_meta(w, "key", "general.alignment")) return;
    if (!is_pow2(alignment) || alignment > (1u << 30)) {
        /* cannot be returned: poison the writer so begin_data/close report it */
        unlink(w->tmp);
        if (w->fd >= 0) close(w->fd);
        w->fd = -1;
        w->state = W_FAILED;
        w->err = gds_error(GDS_ERR_INVALID, "%s: alignment %u is not a power of two in 1..2^30 (writer aborted)", w->path, alignment);
        return;
    }
    w->alignment = alignment;
    int64_t i = w_find_key(w, "general.alignment");
    if (i >= 0) { le_put(w->kv[i].val, alignment, 4); return; }
    w_scalar(w, "general.alignment", GDS_GGUF_UINT32, alignment);
}

enum gds_status gds_gguf_writer_set_u8(struct gds_gguf_writer *w, const char *key, uint8_t v) { return w_scalar(w, key, GDS_GGUF_UINT8, v); }
enum gds_status gds_gguf_writer_set_i32(struct gds_gguf_writer *w, const char *key, int32_t v) { return w_scalar(w, key, GDS_GGUF_INT32, (uint32_t)v); }
enum gds_status gds_gguf_writer_set_u32(struct gds_gguf_writer *w, const char *key, uint32_t v) {
    if (key && strcmp(key, "general.alignment") == 0) {
        enum gds_status st = w_check_meta(w, "key", key);
        if (st) return st;
        if (w_find_key(w, key) >= 0) return gds_error(GDS_ERR_INVALID, "%s: duplicate key '%s'", w->path, key);
        gds_gguf_writer_set_alignment(w, v);
        return w->state == W_FAILED ? w->err : GDS_OK;
    }
    return w_scalar(w, key, GDS_GGUF_UINT32, v);
}
enum gds_status gds_gguf_writer_set_u64(struct gds_gguf_writer *w, const char *key, uint64_t v) { return w_scalar(w, key, GDS_GGUF_UINT64, v); }
enum gds_status gds_gguf_writer_set_f32(struct gds_gguf_writer *w, const char *key, float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    return w_scalar(w, key, GDS_GGUF_FLOAT32, b);
}
enum gds_status gds_gguf_writer_set_bool(struct gds_gguf_writer *w, const char *key, bool v) { return w_scalar(w, key, GDS_GGUF_BOOL, v ? 1 : 0); }

static bool reserved_key(const char *key) { return key && strcmp(key, "general.alignment") == 0; }

enum gds_status gds_gguf_writer_set_str(struct gds_gguf_writer *w, const char *key, const char *v) {
    if (!v) return gds_error(GDS_ERR_INVALID, "%s: key '%s': NULL string", w->path, key ? key : "(null)");
    if (reserved_key(key)) return gds_error(GDS_ERR_INVALID, "%s: key '%s' must be a u32", w->path, key);
    size_t n = strlen(v);
    uint8_t *b = malloc(8 + n);
    if (!b) return gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
    le_put(b, n, 8);
    memcpy(b + 8, v, n);
    return w_add_kv(w, key, GDS_GGUF_STRING, b, 8 + n);
}

enum gds_status gds_gguf_writer_set_arr(struct gds_gguf_writer *w, const char *key, enum gds_gguf_type t, const void *data, int64_t n) {
    const char *k = key ? key : "(null)";
    if ((unsigned)t >= GGUF_N_TYPES || t == GDS_GGUF_STRING || t == GDS_GGUF_ARRAY)
        return gds_error(GDS_ERR_INVALID, "%s: key '%s': bad numeric array element type %d", w->path, k, (int)t);
    if (n < 0 || (n > 0 && !data)) return gds_error(GDS_ERR_INVALID, "%s: key '%s': bad array (n = %lld)", w->path, k, (long long)n);
    if (reserved_key(key)) return gds_error(GDS_ERR_INVALID, "%s: key '%s' must be a u32", w->path, key);
    size_t esz = gguf_type_size[t];
    if ((uint64_t)n > (SIZE_MAX - 12) / esz) return gds_error(GDS_ERR_INVALID, "%s: key '%s': array too large", w->path, k);
    if (t == GDS_GGUF_BOOL)
        for (int64_t j = 0; j < n; j++)
            if (((const uint8_t *)data)[j] > 1)
                return gds_error(GDS_ERR_INVALID, "%s: key '%s': bool element %lld is not 0 or 1", w->path, k, (long long)j);
    size_t len = 12 + (size_t)n * esz;
    uint8_t *b = malloc(len);
    if (!b) return gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
    le_put(b, (uint32_t)t, 4);
    le_put(b + 4, (uint64_t)n, 8);
    if (n) memcpy(b + 12, data, (size_t)n * esz);
    return w_add_kv(w, key, GDS_GGUF_ARRAY, b, len);
}

enum gds_status gds_gguf_writer_set_arr_str(struct gds_gguf_writer *w, const char *key, const char *const *v, int64_t n) {
    const char *k = key ? key : "(null)";
    if (n < 0 || (n > 0 && !v)) return gds_error(GDS_ERR_INVALID, "%s: key '%s': bad array (n = %lld)", w->path, k, (long long)n);
    if (reserved_key(key)) return gds_error(GDS_ERR_INVALID, "%s: key '%s' must be a u32", w->path, key);
    size_t len = 12;
    for (int64_t j = 0; j < n; j++) {
        if (!v[j]) return gds_error(GDS_ERR_INVALID, "%s: key '%s': string %lld is NULL", w->path, k, (long long)j);
        len += 8 + strlen(v[j]);
    }
    uint8_t *b = malloc(len), *p = b;
    if (!b) return gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
    le_put(p, GDS_GGUF_STRING, 4);
    le_put(p + 4, (uint64_t)n, 8);
    p += 12;
    for (int64_t j = 0; j < n; j++) {
        size_t sl = strlen(v[j]);
        le_put(p, sl, 8);
        memcpy(p + 8, v[j], sl);
        p += 8 + sl;
    }
    return w_add_kv(w, key, GDS_GGUF_ARRAY, b, len);
}

enum gds_status gds_gguf_writer_add_tensor(struct gds_gguf_writer *w, const char *name, enum gds_type type, int n_dims, const int64_t *ne) {
    enum gds_status st = w_check_meta(w, "tensor", name);
    if (st) return st;
    if (!name || !*name || strlen(name) >= GDS_MAX_NAME)
        return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': name empty or longer than %d bytes", w->path, name ? name : "(null)", GDS_MAX_NAME - 1);
    if (!gds_type_valid((int)type))
        return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': unknown type id %d", w->path, name, (int)type);
    if (n_dims < 1 || n_dims > GDS_MAX_DIMS || !ne)
        return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': n_dims %d is not in 1..%d", w->path, name, n_dims, GDS_MAX_DIMS);
    const struct gds_type_traits *tt = gds_type_traits(type);
    struct wtensor t = { .type = type, .n_dims = n_dims, .ne = { 1, 1, 1, 1 } };
    strcpy(t.name, name);
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0) return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': ne[%d] = %lld is negative", w->path, name, d, (long long)ne[d]);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % tt->blck_size)
        return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': ne0 = %lld is not a multiple of the %s block size %lld",
                         w->path, name, (long long)t.ne[0], tt->name, (long long)tt->blck_size);
    uint64_t nel = 1, bytes = (uint64_t)(t.ne[0] / tt->blck_size);
    bool ok = checked_mul(bytes, tt->type_size, &bytes);
    for (int d = 0; d < GDS_MAX_DIMS && ok; d++) {
        ok = checked_mul(nel, (uint64_t)t.ne[d], &nel) && nel <= (uint64_t)INT64_MAX;
        if (d > 0) ok = ok && checked_mul(bytes, (uint64_t)t.ne[d], &bytes);
    }
    if (!ok || bytes > SIZE_MAX / 2) return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': size overflows", w->path, name);
    t.size = (size_t)bytes;
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return gds_error(GDS_ERR_INVALID, "%s: tensor '%s': duplicate tensor name", w->path, name);
    if (w->n_t == w->cap_t) {
        int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        struct wtensor *nt = realloc(w->t, (size_t)cap * sizeof(*nt));
        if (!nt) return gds_error(GDS_ERR_NOMEM, "%s: out of memory", w->path);
        w->t = nt;
        w->cap_t = cap;
    }
    w->t[w->n_t++] = t;
    return GDS_OK;
}

static size_t pad_to(size_t x, size_t a) { return (a - x % a) % a; }

/* Skips zero-size tensors so cur always names one that still wants bytes. */
static void w_skip_empty(struct gds_gguf_writer *w) {
    while (w->cur < w->n_t && w->t[w->cur].size == 0) w->cur++;
}

enum gds_status gds_gguf_writer_begin_data(struct gds_gguf_writer *w) {
    enum gds_status st = w_check_meta(w, "data", "(begin_data)");
    if (st) return st;
    size_t off = 0;
    w->data_left = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        off += w->t[i].size + pad_to(w->t[i].size, w->alignment);
        w->data_left += w->t[i].size;
    }
    if ((st = w_put(w, GGUF_MAGIC, 4)) || (st = w_u32(w, GGUF_VERSION)) ||
        (st = w_u64(w, (uint64_t)w->n_t)) || (st = w_u64(w, (uint64_t)w->n_kv)))
        return st;
    for (int64_t i = 0; i < w->n_kv; i++) {
        if ((st = w_str(w, w->kv[i].key)) || (st = w_u32(w, w->kv[i].type)) || (st = w_put(w, w->kv[i].val, w->kv[i].val_len)))
            return st;
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        if ((st = w_str(w, t->name)) || (st = w_u32(w, (uint32_t)t->n_dims))) return st;
        for (int d = 0; d < t->n_dims; d++)
            if ((st = w_u64(w, (uint64_t)t->ne[d]))) return st;
        if ((st = w_u32(w, (uint32_t)t->type)) || (st = w_u64(w, t->offset))) return st;
    }
    if ((st = w_zeros(w, pad_to((size_t)w->pos, w->alignment)))) return st;
    w->state = W_DATA;
    w->cur = 0;
    w->cur_done = 0;
    w_skip_empty(w);
    return GDS_OK;
}

enum gds_status gds_gguf_writer_write(struct gds_gguf_writer *w, const void *data, size_t n) {
    if (w->state == W_FAILED) return w->err;
    if (w->state != W_DATA) return gds_error(GDS_ERR_INVALID, "%s: write before begin_data", w->path);
    if (n > w->data_left)
        return gds_error(GDS_ERR_INVALID, "%s: write of %zu bytes exceeds the %llu bytes of tensor data still expected",
                         w->path, n, (unsigned long long)w->data_left);
    if (n && !data) return gds_error(GDS_ERR_INVALID, "%s: NULL data", w->path);
    const uint8_t *p = data;
    while (n) {
        struct wtensor *t = &w->t[w->cur];
        size_t k = t->size - w->cur_done;
        if (k > n) k = n;
        enum gds_status st = w_put(w, p, k);
        if (st) return st;
        p += k;
        n -= k;
        w->cur_done += k;
        w->data_left -= k;
        if (w->cur_done == t->size) {
            if ((st = w_zeros(w, pad_to(t->size, w->alignment)))) return st;
            w->cur++;
            w->cur_done = 0;
            w_skip_empty(w);
        }
    }
    return GDS_OK;
}

void gds_gguf_writer_abort(struct gds_gguf_writer *w) {
    if (!w) return;
    if (w->fd >= 0) { close(w->fd); unlink(w->tmp); }
    writer_free(w);
}

enum gds_status gds_gguf_writer_close(struct gds_gguf_writer *w) {
    if (!w) return gds_error(GDS_ERR_INVALID, "gds_gguf_writer_close: NULL writer");
    enum gds_status st = GDS_OK;
    if (w->state == W_META) st = gds_gguf_writer_begin_data(w);
    if (!st && w->state == W_FAILED) st = w->err;
    if (!st && w->cur < w->n_t) {
        const struct wtensor *t = &w->t[w->cur];
        st = gds_error(GDS_ERR_INVALID, "%s: tensor '%s': only %zu of %zu bytes written (%lld of %lld tensors complete); %s removed",
                       w->path, t->name, w->cur_done, t->size, (long long)w->cur, (long long)w->n_t, w->tmp);
    }
    if (!st) st = w_flush(w);
    if (!st && fsync(w->fd) != 0) st = w_io_fail(w, "fsync of", errno);
    if (!st) {
        int fd = w->fd;
        w->fd = -1;
        if (close(fd) != 0) { st = w_io_fail(w, "close of", errno); }
    }
    if (!st && rename(w->tmp, w->path) != 0) {
        int e = errno;
        unlink(w->tmp);
        st = gds_error(GDS_ERR_IO, "%s: rename from %s failed: %s (partial file removed)", w->path, w->tmp, strerror(e));
    }
    if (!st) {
        /* make the rename durable: fsync the directory (best effort) */
        char *dir = strdup(w->path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
            int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) { fsync(dfd); close(dfd); }
            free(dir);
        }
    }
    if (st && w->state != W_FAILED) {
        if (w->fd >= 0) close(w->fd);
        w->fd = -1;
        unlink(w->tmp);
    }
    writer_free(w);
    return st;
}
