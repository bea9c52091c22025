/*
 * safetensors.c - shard mapping, header parsing (cJSON) and validation.
 *
 * Invariants after st_set_open() succeeds: every tensor lies inside its
 * shard's mapping with nbytes == numel * dtype size, tensors of one shard do
 * not overlap, names are unique over the whole set, and the index (when
 * present) agrees with the headers. Nothing here interprets tensor values.
 * See safetensors.h for the format and the error policy.
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *name; size_t size; } st_dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = { "BOOL", 1 },      [ST_U8] = { "U8", 1 },     [ST_I8] = { "I8", 1 },
    [ST_I16] = { "I16", 2 },        [ST_U16] = { "U16", 2 },   [ST_I32] = { "I32", 4 },
    [ST_U32] = { "U32", 4 },        [ST_I64] = { "I64", 8 },   [ST_U64] = { "U64", 8 },
    [ST_F16] = { "F16", 2 },        [ST_BF16] = { "BF16", 2 }, [ST_F32] = { "F32", 4 },
    [ST_F64] = { "F64", 8 },        [ST_F8_E4M3] = { "F8_E4M3", 1 },
    [ST_F8_E5M2] = { "F8_E5M2", 1 }, [ST_F8_E8M0] = { "F8_E8M0", 1 },
};

const char *st_dtype_name(enum st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? st_dtypes[t].name : "?"; }
size_t st_dtype_size(enum st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? st_dtypes[t].size : 0; }

static int st_dtype_parse(const char *s) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++) if (strcmp(s, st_dtypes[i].name) == 0) return i;
    return -1;
}

void st_tensors_free(struct st_tensor *t, int64_t n) {
    if (!t) return;
    for (int64_t i = 0; i < n; i++) free(t[i].name);
    free(t);
}

static int cmp_offset(const void *a, const void *b) {
    const struct st_tensor *x = *(const struct st_tensor *const *)a, *y = *(const struct st_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

/* An exact non-negative integer that fits a double without rounding. */
static bool json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

enum gds_status st_parse_shard(const uint8_t *buf, size_t size, const char *label,
                               struct st_tensor **out, int64_t *n_out) {
    *out = NULL; *n_out = 0;
    if (size < 8)
        return gds_error(GDS_ERR_FORMAT, "%s: truncated: %zu bytes, too short for the 8-byte header length", label, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > size - 8)
        return gds_error(GDS_ERR_FORMAT, "%s: header length %llu goes beyond the end of the file (%zu bytes): truncated or not a safetensors file",
                         label, (unsigned long long)hlen, size);
    if (hlen < 2)
        return gds_error(GDS_ERR_FORMAT, "%s: header length %llu is too small for a JSON object", label, (unsigned long long)hlen);
    const char *js = (const char *)buf + 8;
    const size_t data0 = 8 + (size_t)hlen, data_size = size - data0;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(js, (size_t)hlen, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t at = (ep && ep >= js && ep <= js + hlen) ? (size_t)(ep - js) : 0;
        return gds_error(GDS_ERR_FORMAT, "%s: invalid JSON in the safetensors header (%llu bytes) near byte %zu",
                         label, (unsigned long long)hlen, at);
    }
    /* the format allows trailing spaces as padding; nothing else */
    for (const char *p = end; p && p < js + hlen; p++) {
        if (*p != ' ' && *p != '\0' && *p != '\n' && *p != '\t' && *p != '\r') {
            cJSON_Delete(root);
            return gds_error(GDS_ERR_FORMAT, "%s: invalid JSON in the safetensors header: trailing data at byte %zu", label, (size_t)(p - js));
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return gds_error(GDS_ERR_FORMAT, "%s: invalid safetensors header: the JSON is not an object", label);
    }

    int64_t n = 0;
    for (cJSON *e = root->child; e; e = e->next) n++;
    struct st_tensor *t = calloc((size_t)(n ? n : 1), sizeof(*t));
    if (!t) { cJSON_Delete(root); return gds_error(GDS_ERR_NOMEM, "%s: out of memory", label); }

    enum gds_status st = GDS_OK;
    int64_t k = 0;
    for (cJSON *e = root->child; e; e = e->next) {
        const char *name = e->string ? e->string : "";
        if (strcmp(name, "__metadata__") == 0) continue;
        if (!cJSON_IsObject(e)) {
            st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': header entry is not an object", label, name); break;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off)) {
            st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': header entry needs string 'dtype', array 'shape' and array 'data_offsets'", label, name); break;
        }
        int d = st_dtype_parse(dt->valuestring);
        if (d < 0) { st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", label, name, dt->valuestring); break; }
        struct st_tensor *x = &t[k];
        x->dtype = (enum st_dtype)d;
        int nd = cJSON_GetArraySize(sh);
        if (nd > ST_MAX_DIMS) { st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", label, name, nd, ST_MAX_DIMS); break; }
        x->n_dims = nd;
        uint64_t numel = 1;
        bool bad = false, ovf = false;
        int i = 0;
        for (const cJSON *v = sh->child; v; v = v->next, i++) {
            uint64_t u;
            if (!json_uint(v, &u)) { bad = true; break; }
            x->shape[i] = (int64_t)u;
            if (u && numel > UINT64_MAX / u) ovf = true; else numel *= u;
        }
        if (bad) { st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': shape entries must be non-negative integers", label, name); break; }
        uint64_t a, b;
        if (cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &a) || !json_uint(off->child->next, &b) || b < a) {
            st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': data_offsets must be two integers [begin, end] with begin <= end", label, name); break;
        }
        uint64_t es = st_dtype_size(x->dtype);
        if (ovf || numel > UINT64_MAX / es || numel * es != b - a) {
            st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s shape needs %llu",
                           label, name, (unsigned long long)a, (unsigned long long)b, (unsigned long long)(b - a),
                           st_dtype_name(x->dtype), ovf ? 0ull : (unsigned long long)(numel * es)); break;
        }
        if (b > data_size) {
            st = gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': data ends at byte %llu of the data section but the file holds only %zu data bytes (truncated shard?)",
                           label, name, (unsigned long long)b, data_size); break;
        }
        x->numel = (int64_t)numel;
        x->offset = data0 + (size_t)a;
        x->nbytes = (size_t)(b - a);
        x->data = buf ? buf + x->offset : NULL;
        x->name = strdup(name);
        if (!x->name) { st = gds_error(GDS_ERR_NOMEM, "%s: out of memory", label); break; }
        k++;
    }
    cJSON_Delete(root);
    if (st == GDS_OK && k > 1) {
        struct st_tensor **p = malloc((size_t)k * sizeof(*p));
        if (!p) st = gds_error(GDS_ERR_NOMEM, "%s: out of memory", label);
        else {
            for (int64_t i = 0; i < k; i++) p[i] = &t[i];
            qsort(p, (size_t)k, sizeof(*p), cmp_offset);
            for (int64_t i = 1; i < k && st == GDS_OK; i++) {
                if (p[i]->nbytes && p[i - 1]->offset + p[i - 1]->nbytes > p[i]->offset)
                    st = gds_error(GDS_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data section", label, p[i - 1]->name, p[i]->name);
            }
            /* the same name twice inside one header: cJSON keeps both entries */
            free(p);
        }
    }
    if (st != GDS_OK) { st_tensors_free(t, k); return st; }
    *out = t; *n_out = k;
    return GDS_OK;
}

/* ---- the set ------------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) { h ^= (uint8_t)*s++; h *= 1099511628211ull; }
    return h;
}

static int64_t *hash_slot(const struct st_set *s, const char *name) {
    uint64_t m = (uint64_t)s->hash_cap - 1;
    for (uint64_t i = hash_str(name) & m;; i = (i + 1) & m) {
        if (s->hash[i] < 0 || strcmp(s->tensors[s->hash[i]].name, name) == 0) return &s->hash[i];
    }
}

const struct st_tensor *st_set_find(const struct st_set *s, const char *name) {
    if (!s->hash) return NULL;
    int64_t i = *hash_slot(s, name);
    return i < 0 ? NULL : &s->tensors[i];
}

const char *st_tensor_file(const struct st_set *s, const struct st_tensor *t) { return s->shards[t->shard].path; }

void st_release(const struct st_set *s, const struct st_tensor *t) { st_release_range(s, t, 0, t->nbytes); }

void st_release_range(const struct st_set *s, const struct st_tensor *t, size_t begin, size_t end) {
    const struct st_shard *sh = &s->shards[t->shard];
    if (!sh->map || !t->nbytes || end > t->nbytes || begin >= end) return;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)t->data + begin, b = (uintptr_t)t->data + end;
    a = (a + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);   /* whole pages inside the tensor only */
    b &= ~((uintptr_t)pg - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

void st_set_close(struct st_set *s) {
    for (int i = 0; i < s->n_shards; i++) {
        if (s->shards[i].map) munmap(s->shards[i].map, s->shards[i].size);
        free(s->shards[i].path);
    }
    free(s->shards);
    st_tensors_free(s->tensors, s->n_tensors);
    free(s->hash);
    free(s->dir);
    memset(s, 0, sizeof(*s));
}

static char *path_join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int add_shard(struct st_set *s, const char *file) {
    for (int i = 0; i < s->n_shards; i++) if (strcmp(s->shards[i].file, file) == 0) return i;
    struct st_shard *n = realloc(s->shards, (size_t)(s->n_shards + 1) * sizeof(*n));
    if (!n) return -1;
    s->shards = n;
    struct st_shard *sh = &s->shards[s->n_shards];
    memset(sh, 0, sizeof(*sh));
    sh->path = path_join(s->dir, file);
    if (!sh->path) return -1;
    sh->file = strrchr(sh->path, '/') + 1;
    return s->n_shards++;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Reads a whole small file (JSON); NUL-terminated. */
char *st_read_file(const char *path, size_t *len_out, bool *missing) {
    if (missing) *missing = false;
    int fd = open(path, O_RDONLY);
    if (fd < 0) { if (missing) *missing = errno == ENOENT; return NULL; }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (1 << 30)) { close(fd); errno = EINVAL; return NULL; }
    char *b = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (b && got < (size_t)sb.st_size) {
        ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
        if (r <= 0) { free(b); b = NULL; break; }
        got += (size_t)r;
    }
    close(fd);
    if (!b) return NULL;
    b[got] = 0;
    if (len_out) *len_out = got;
    return b;
}

/* Shard list from the index (weight_map values), kept for the cross-check. */
static enum gds_status read_index(struct st_set *s, const char *ipath, cJSON **index_out) {
    size_t len;
    bool missing;
    char *txt = st_read_file(ipath, &len, &missing);
    *index_out = NULL;
    if (!txt) {
        if (missing) return GDS_OK;
        return gds_error(GDS_ERR_IO, "%s: cannot read: %s", ipath, strerror(errno));
    }
    cJSON *idx = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!idx) return gds_error(GDS_ERR_FORMAT, "%s: invalid JSON", ipath);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (!cJSON_IsObject(wm)) { cJSON_Delete(idx); return gds_error(GDS_ERR_FORMAT, "%s: no 'weight_map' object", ipath); }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !e->valuestring[0]) {
            cJSON_Delete(idx);
            return gds_error(GDS_ERR_FORMAT, "%s: weight_map entry for '%s' is not a shard file name", ipath, e->string);
        }
        if (add_shard(s, e->valuestring) < 0) { cJSON_Delete(idx); return gds_error(GDS_ERR_NOMEM, "out of memory"); }
    }
    if (s->n_shards == 0) { cJSON_Delete(idx); return gds_error(GDS_ERR_FORMAT, "%s: weight_map is empty", ipath); }
    *index_out = idx;
    return GDS_OK;
}

enum gds_status st_set_open(struct st_set *s, const char *dir) {
    memset(s, 0, sizeof(*s));
    s->dir = strdup(dir);
    if (!s->dir) return gds_error(GDS_ERR_NOMEM, "out of memory");
    enum gds_status st = GDS_OK;
    DIR *d = opendir(dir);
    if (!d) return gds_error(GDS_ERR_IO, "%s: cannot open the checkpoint directory: %s", dir, strerror(errno));

    char *ipath = path_join(dir, "model.safetensors.index.json");
    cJSON *index = NULL;
    st = ipath ? read_index(s, ipath, &index) : gds_error(GDS_ERR_NOMEM, "out of memory");
    if (st == GDS_OK && !index) {
        /* no index: every *.safetensors file, sorted by name */
        char **names = NULL;
        int nn = 0;
        for (struct dirent *de; (de = readdir(d));) {
            size_t l = strlen(de->d_name);
            if (l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0) {
                char **nm = realloc(names, (size_t)(nn + 1) * sizeof(*nm));
                if (!nm) break;
                names = nm;
                names[nn++] = strdup(de->d_name);
            }
        }
        qsort(names, (size_t)nn, sizeof(*names), cmp_str);
        for (int i = 0; i < nn; i++) { add_shard(s, names[i]); free(names[i]); }
        free(names);
        if (s->n_shards == 0) st = gds_error(GDS_ERR_FORMAT, "%s: no model.safetensors.index.json and no *.safetensors files", dir);
    }
    closedir(d);

    /* map and parse every shard */
    for (int i = 0; st == GDS_OK && i < s->n_shards; i++) {
        struct st_shard *sh = &s->shards[i];
        int fd = open(sh->path, O_RDONLY);
        if (fd < 0) { st = gds_error(GDS_ERR_IO, "%s: cannot open shard: %s", sh->path, strerror(errno)); break; }
        struct stat sb;
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            close(fd); st = gds_error(GDS_ERR_IO, "%s: not a regular file", sh->path); break;
        }
        sh->size = (size_t)sb.st_size;
        if (sh->size) {
            void *m = mmap(NULL, sh->size, PROT_READ, MAP_SHARED, fd, 0);
            if (m == MAP_FAILED) { close(fd); st = gds_error(GDS_ERR_IO, "%s: mmap failed: %s", sh->path, strerror(errno)); break; }
            sh->map = m;
            madvise(m, sh->size, MADV_SEQUENTIAL);
        }
        close(fd);
        struct st_tensor *t;
        int64_t n;
        st = st_parse_shard(sh->map, sh->size, sh->path, &t, &n);
        if (st != GDS_OK) break;
        struct st_tensor *all = realloc(s->tensors, (size_t)(s->n_tensors + n + 1) * sizeof(*all));
        if (!all) { st_tensors_free(t, n); st = gds_error(GDS_ERR_NOMEM, "out of memory"); break; }
        s->tensors = all;
        for (int64_t j = 0; j < n; j++) { t[j].shard = i; s->tensors[s->n_tensors++] = t[j]; }
        free(t);
    }

    /* name table; a name in two shards is an error */
    if (st == GDS_OK) {
        s->hash_cap = 16;
        while (s->hash_cap < 2 * s->n_tensors + 2) s->hash_cap *= 2;
        s->hash = malloc((size_t)s->hash_cap * sizeof(int64_t));
        if (!s->hash) st = gds_error(GDS_ERR_NOMEM, "out of memory");
        else for (int64_t i = 0; i < s->hash_cap; i++) s->hash[i] = -1;
        for (int64_t i = 0; st == GDS_OK && i < s->n_tensors; i++) {
            /* strip an optional "model." prefix, as the official convert.py does */
            struct st_tensor *t = &s->tensors[i];
            if (strncmp(t->name, "model.", 6) == 0) memmove(t->name, t->name + 6, strlen(t->name + 6) + 1);
            int64_t *slot = hash_slot(s, t->name);
            if (*slot >= 0) {
                const struct st_tensor *o = &s->tensors[*slot];
                if (o->shard == t->shard)
                    st = gds_error(GDS_ERR_FORMAT, "%s: duplicated tensor '%s' (listed twice in the header)", s->shards[t->shard].path, t->name);
                else
                    st = gds_error(GDS_ERR_FORMAT, "duplicated tensor '%s': claimed by both %s and %s", t->name,
                                   s->shards[o->shard].path, s->shards[t->shard].path);
                break;
            }
            *slot = i;
        }
    }

    /* the index must agree with the headers */
    if (st == GDS_OK && index) {
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
        for (const cJSON *e = wm->child; e; e = e->next) {
            const char *nm = strncmp(e->string, "model.", 6) == 0 ? e->string + 6 : e->string;
            const struct st_tensor *t = st_set_find(s, nm);
            if (!t) {
                st = gds_error(GDS_ERR_FORMAT, "missing tensor '%s': %s lists it in %s, but that shard's header does not contain it",
                               nm, ipath, e->valuestring);
                break;
            }
            if (strcmp(s->shards[t->shard].file, e->valuestring) != 0) {
                st = gds_error(GDS_ERR_FORMAT, "tensor '%s': %s places it in %s, but it is stored in %s", nm, ipath,
                               e->valuestring, s->shards[t->shard].path);
                break;
            }
        }
    }
    cJSON_Delete(index);
    free(ipath);
    if (st != GDS_OK) st_set_close(s);
    return st;
}
