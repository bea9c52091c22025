/*
 * test-gguf.c - GGUF reader and writer (ggml-ds/src/gguf.c).
 *
 *   build/bin/test-gguf                  run every check (from the repo root)
 *   build/bin/test-gguf --corpus DIR     also write the fuzz seed corpus to DIR
 *
 * Covers: round trip of every kv type (scalars, numeric arrays, string arrays)
 * and of tensors of every gds type with odd shapes (bytes compared, data
 * streamed in random chunk sizes that cross tensor boundaries); alignments
 * 1, 8, 64 and 4096; the peer-made llama.cpp-style fixture
 * tests/fixtures/tiny-a-llamacpp (keys, types, shapes and offsets from its
 * README); every prefix of a valid file; one
 * hand-built malformed file per rejection rule (the message must name the
 * file and the key/tensor); writer misuse, a writer in a missing directory and
 * a disk-full stand-in (RLIMIT_FSIZE in a forked child: write() fails with
 * EFBIG), after which neither path.tmp nor a new file at the path may exist.
 * Last: an independent parser (tests/gguf-check.mjs, npm @huggingface/gguf)
 * must read our files and the fixture exactly as our reader does (SKIP when
 * node or tests/node_modules is missing; with CI=true in the environment
 * that is a FAIL).
 *
 * Prints "ok"/"FAIL" per group and "test-gguf: N passed, M failed[, K skipped]";
 * exit status 1 on any failure. Seeded RNG: failures reproduce.
 */
#include "gds-gguf.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- harness ---------------------------------------------------------------- */

static int g_fail;
static int n_pass, n_fail, n_skip;
static bool g_verbose = true;

#define CHECK(cond, ...) do { if (!(cond)) { if (g_fail++ < 8) { printf("    line %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); } } } while (0)

static void group_end(const char *name) {
    if (g_fail) { printf("FAIL %s (%d mismatches)\n", name, g_fail); n_fail++; }
    else        { printf("ok   %s\n", name); n_pass++; }
    g_fail = 0;
}
/* A missing tool: SKIP, or FAIL when CI=true (CI must run everything). */
static void group_skip(const char *name, const char *why) {
    const char *ci = getenv("CI");
    if (ci && !strcmp(ci, "true")) { printf("FAIL %s: %s (CI=true: a missing tool is a failure)\n", name, why); n_fail++; }
    else { printf("SKIP %s: %s\n", name, why); n_skip++; }
    g_fail = 0;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng_u64(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void quiet_log(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

static char g_dir[256];
static char *tpath(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}
static bool exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, fp);
    fclose(fp);
    return b;
}
static void write_all(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) { printf("    cannot write %s\n", path); return; }
    fwrite(p, 1, n, fp);
    fclose(fp);
}

/* ---- raw GGUF builder for malformed files ---------------------------------------- */

struct bb { uint8_t *p; size_t n, cap; };
static void bb_put(struct bb *b, const void *p, size_t n) {
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2 + 64; b->p = realloc(b->p, b->cap); }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void bb_u8(struct bb *b, uint8_t v) { bb_put(b, &v, 1); }
static void bb_u32(struct bb *b, uint32_t v) { uint8_t x[4]; for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> 8 * i); bb_put(b, x, 4); }
static void bb_u64(struct bb *b, uint64_t v) { uint8_t x[8]; for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> 8 * i); bb_put(b, x, 8); }
static void bb_str(struct bb *b, const char *s) { bb_u64(b, strlen(s)); bb_put(b, s, strlen(s)); }
static void bb_pad(struct bb *b, size_t a) { while (b->n % a) bb_u8(b, 0); }
static void bb_zeros(struct bb *b, size_t n) { for (size_t i = 0; i < n; i++) bb_u8(b, 0); }

struct rt { const char *name; uint32_t n_dims; uint64_t ne[5]; uint32_t type; uint64_t offset; };

/* header with n_kv/n_tensors as given; kv bytes are appended by the caller via kvfn */
static void bb_header(struct bb *b, const char *magic, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bb_put(b, magic, 4);
    bb_u32(b, version);
    bb_u64(b, n_tensors);
    bb_u64(b, n_kv);
}
static void bb_tinfo(struct bb *b, const struct rt *t) {
    bb_str(b, t->name);
    bb_u32(b, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims; d++) bb_u64(b, t->ne[d]);
    bb_u32(b, t->type);
    bb_u64(b, t->offset);
}
/* a complete file: the kv "general.name" then the given tensor infos, data of data_len bytes */
static struct bb make_file(const struct rt *ts, int nt, size_t align, size_t data_len) {
    struct bb b = { 0 };
    bb_header(&b, "GGUF", 3, (uint64_t)nt, align == 32 ? 1 : 2);
    bb_str(&b, "general.name"); bb_u32(&b, GDS_GGUF_STRING); bb_str(&b, "bad");
    if (align != 32) { bb_str(&b, "general.alignment"); bb_u32(&b, GDS_GGUF_UINT32); bb_u32(&b, (uint32_t)align); }
    for (int i = 0; i < nt; i++) bb_tinfo(&b, &ts[i]);
    bb_pad(&b, align);
    bb_zeros(&b, data_len);
    return b;
}

/* ---- reader-side description for the independent parser ------------------------ */

static void json_str(FILE *fp, const char *s) {
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
        else if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
        else fputc(*p, fp);
    }
    fputc('"', fp);
}
static void json_float(FILE *fp, double v, bool f32) {
    if (isnan(v)) fputs("\"NaN\"", fp);
    else if (isinf(v)) fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", fp);
    else fprintf(fp, f32 ? "%.9g" : "%.17g", v);
}
static void json_elem(FILE *fp, enum gds_gguf_type t, const uint8_t *p) {
    switch (t) {
    case GDS_GGUF_UINT8:  fprintf(fp, "%u", p[0]); break;
    case GDS_GGUF_INT8:   fprintf(fp, "%d", (int8_t)p[0]); break;
    case GDS_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); fprintf(fp, "%u", v); break; }
    case GDS_GGUF_INT16:  { int16_t v; memcpy(&v, p, 2); fprintf(fp, "%d", v); break; }
    case GDS_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); fprintf(fp, "%u", v); break; }
    case GDS_GGUF_INT32:  { int32_t v; memcpy(&v, p, 4); fprintf(fp, "%d", v); break; }
    case GDS_GGUF_FLOAT32: { float v; memcpy(&v, p, 4); json_float(fp, v, true); break; }
    case GDS_GGUF_BOOL:   fputs(p[0] ? "true" : "false", fp); break;
    case GDS_GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); fprintf(fp, "\"%llu\"", (unsigned long long)v); break; }
    case GDS_GGUF_INT64:  { int64_t v; memcpy(&v, p, 8); fprintf(fp, "\"%lld\"", (long long)v); break; }
    case GDS_GGUF_FLOAT64: { double v; memcpy(&v, p, 8); json_float(fp, v, false); break; }
    default: fputs("null", fp);
    }
}
static const size_t esize[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

/* Scalars are re-encoded into bytes from the typed getters (and get_int). */
static void json_file(FILE *fp, const struct gds_gguf *f, bool first) {
    fprintf(fp, "%s  {\"path\": ", first ? "" : ",\n");
    json_str(fp, gds_gguf_path(f));
    fprintf(fp, ", \"version\": %u, \"alignment\": %zu, \"data_offset\": %zu,\n   \"kv\": [",
            gds_gguf_version(f), gds_gguf_alignment(f), gds_gguf_data_offset(f));
    for (int64_t i = 0; i < gds_gguf_n_kv(f); i++) {
        enum gds_gguf_type t = gds_gguf_kv_type(f, i);
        fprintf(fp, "%s\n    {\"key\": ", i ? "," : "");
        json_str(fp, gds_gguf_key(f, i));
        fprintf(fp, ", \"type\": %d", (int)t);
        if (t == GDS_GGUF_ARRAY) {
            enum gds_gguf_type et = gds_gguf_arr_type(f, i);
            fprintf(fp, ", \"subtype\": %d, \"value\": [", (int)et);
            for (int64_t j = 0; j < gds_gguf_arr_n(f, i); j++) {
                if (j) fputc(',', fp);
                if (et == GDS_GGUF_STRING) json_str(fp, gds_gguf_arr_str(f, i, j));
                else json_elem(fp, et, (const uint8_t *)gds_gguf_arr_data(f, i) + (size_t)j * esize[et]);
            }
            fputs("]}", fp);
            continue;
        }
        fputs(", \"value\": ", fp);
        if (t == GDS_GGUF_STRING) json_str(fp, gds_gguf_get_str(f, i));
        else if (t == GDS_GGUF_FLOAT32) json_float(fp, gds_gguf_get_f32(f, i), true);
        else if (t == GDS_GGUF_BOOL) fputs(gds_gguf_get_bool(f, i) ? "true" : "false", fp);
        else if (t == GDS_GGUF_UINT64) fprintf(fp, "\"%llu\"", (unsigned long long)gds_gguf_get_u64(f, i));
        else if (t == GDS_GGUF_FLOAT64) fputs("null", fp); /* no scalar f64 getter; not written by our tests */
        else {
            int64_t v = 0;
            gds_gguf_get_int(f, i, &v);
            if (t == GDS_GGUF_INT64) fprintf(fp, "\"%lld\"", (long long)v);
            else fprintf(fp, "%lld", (long long)v);
        }
        fputc('}', fp);
    }
    fputs("],\n   \"tensors\": [", fp);
    for (int64_t i = 0; i < gds_gguf_n_tensors(f); i++) {
        int64_t ne[4];
        gds_gguf_tensor_ne(f, i, ne);
        fprintf(fp, "%s\n    {\"name\": ", i ? "," : "");
        json_str(fp, gds_gguf_tensor_name(f, i));
        fprintf(fp, ", \"type\": %d, \"shape\": [", (int)gds_gguf_tensor_type(f, i));
        for (int d = 0; d < gds_gguf_tensor_n_dims(f, i); d++) fprintf(fp, "%s%lld", d ? "," : "", (long long)ne[d]);
        fprintf(fp, "], \"offset\": %zu}", gds_gguf_tensor_offset(f, i));
    }
    fputs("]}", fp);
}

/* files handed to the independent parser at the end */
static char g_check_files[64][512];
static int g_n_check;
static void add_check(const char *p) { if (g_n_check < 64) snprintf(g_check_files[g_n_check++], 512, "%s", p); }

/* ---- 1. kv round trip ------------------------------------------------------------ */

static const char *const g_strs[] = { "", "a", "tokenizer", "<｜begin▁of▁sentence｜>", "Ġ Ġ", "quote\" back\\slash\nnl\ttab", "\x01\x7f" };
#define N_STRS ((int64_t)(sizeof(g_strs) / sizeof(g_strs[0])))

static void write_kv_file(const char *path, uint32_t align) {
    struct gds_gguf_writer *w = gds_gguf_writer_open(path);
    CHECK(w, "writer_open: %s", gds_last_error());
    if (!w) return;
    if (align) gds_gguf_writer_set_alignment(w, align);
    CHECK(!gds_gguf_writer_set_str(w, "general.architecture", "deepseek4"), "set_str");
    CHECK(!gds_gguf_writer_set_str(w, "empty.string", ""), "set_str empty");
    CHECK(!gds_gguf_writer_set_str(w, "utf8.string", "<｜end▁of▁sentence｜> å¤§"), "set_str utf8");
    CHECK(!gds_gguf_writer_set_u8(w, "s.u8", 0xfe), "u8");
    CHECK(!gds_gguf_writer_set_i32(w, "s.i32", -123456789), "i32");
    CHECK(!gds_gguf_writer_set_u32(w, "s.u32", 0xfedcba98u), "u32");
    CHECK(!gds_gguf_writer_set_u64(w, "s.u64", 0xfedcba9876543210ull), "u64");
    CHECK(!gds_gguf_writer_set_f32(w, "s.f32", 1e-6f), "f32");
    CHECK(!gds_gguf_writer_set_f32(w, "s.f32neg0", -0.0f), "f32");
    CHECK(!gds_gguf_writer_set_bool(w, "s.true", true), "bool");
    CHECK(!gds_gguf_writer_set_bool(w, "s.false", false), "bool");
    uint8_t au8[5] = { 0, 1, 127, 128, 255 };
    int8_t ai8[4] = { -128, -1, 0, 127 };
    uint16_t au16[3] = { 0, 1, 65535 };
    int16_t ai16[3] = { -32768, 7, 32767 };
    uint32_t au32[3] = { 0, 16, 0xffffffffu };
    int32_t ai32[7] = { 0, 0, 4, 128, 4, 128, 0 };
    float af32[5] = { 10.0f, -0.0f, 1e-30f, 3.4e38f, 0.1f };
    uint8_t abool[3] = { 1, 0, 1 };
    uint64_t au64[2] = { 0, 0xffffffffffffffffull };
    int64_t ai64[3] = { INT64_MIN, -1, INT64_MAX };
    double af64[3] = { 0.1, -1e300, 5e-324 };
    CHECK(!gds_gguf_writer_set_arr(w, "a.u8", GDS_GGUF_UINT8, au8, 5), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.i8", GDS_GGUF_INT8, ai8, 4), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.u16", GDS_GGUF_UINT16, au16, 3), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.i16", GDS_GGUF_INT16, ai16, 3), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.u32", GDS_GGUF_UINT32, au32, 3), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "deepseek4.attention.compress_ratios", GDS_GGUF_INT32, ai32, 7), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.f32", GDS_GGUF_FLOAT32, af32, 5), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.bool", GDS_GGUF_BOOL, abool, 3), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.u64", GDS_GGUF_UINT64, au64, 2), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.i64", GDS_GGUF_INT64, ai64, 3), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.f64", GDS_GGUF_FLOAT64, af64, 3), "arr");
    CHECK(!gds_gguf_writer_set_arr(w, "a.empty", GDS_GGUF_INT32, NULL, 0), "arr empty");
    CHECK(!gds_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", g_strs, N_STRS), "arr_str");
    CHECK(!gds_gguf_writer_set_arr_str(w, "a.strempty", NULL, 0), "arr_str empty");
    enum gds_status st = gds_gguf_writer_close(w);
    CHECK(st == GDS_OK, "close: %s", gds_last_error());
}

static bool key_ok(const struct gds_gguf *f, const char *name, enum gds_gguf_type type, int64_t *k) {
    *k = gds_gguf_find_key(f, name);
    bool ok = *k >= 0 && gds_gguf_kv_type(f, *k) == type;
    CHECK(ok, "key %s missing or of the wrong type", name);
    return ok;
}

static void check_kv_file(const char *path, size_t align) {
    struct gds_gguf *f = gds_gguf_open(path);
    CHECK(f, "open: %s", gds_last_error());
    if (!f) return;
    CHECK(gds_gguf_version(f) == 3, "version");
    CHECK(gds_gguf_alignment(f) == align, "alignment %zu", gds_gguf_alignment(f));
    CHECK(gds_gguf_n_tensors(f) == 0, "n_tensors");
    CHECK(gds_gguf_n_kv(f) == 25 + (align != 32), "n_kv %lld", (long long)gds_gguf_n_kv(f));
    int64_t k;
#define KEY(name, type) key_ok(f, name, type, &k)
    if (KEY("general.architecture", GDS_GGUF_STRING)) CHECK(!strcmp(gds_gguf_get_str(f, k), "deepseek4"), "arch");
    if (KEY("empty.string", GDS_GGUF_STRING)) CHECK(!strcmp(gds_gguf_get_str(f, k), ""), "empty");
    if (KEY("utf8.string", GDS_GGUF_STRING)) CHECK(!strcmp(gds_gguf_get_str(f, k), "<｜end▁of▁sentence｜> å¤§"), "utf8");
    if (KEY("s.u8", GDS_GGUF_UINT8)) CHECK(gds_gguf_get_u8(f, k) == 0xfe, "u8");
    if (KEY("s.i32", GDS_GGUF_INT32)) CHECK(gds_gguf_get_i32(f, k) == -123456789, "i32");
    if (KEY("s.u32", GDS_GGUF_UINT32)) CHECK(gds_gguf_get_u32(f, k) == 0xfedcba98u, "u32");
    if (KEY("s.u64", GDS_GGUF_UINT64)) {
        int64_t v;
        CHECK(gds_gguf_get_u64(f, k) == 0xfedcba9876543210ull, "u64");
        CHECK(!gds_gguf_get_int(f, k, &v), "get_int of a u64 > INT64_MAX must refuse");
    }
    if (KEY("s.f32", GDS_GGUF_FLOAT32)) CHECK(gds_gguf_get_f32(f, k) == 1e-6f, "f32");
    if (KEY("s.f32neg0", GDS_GGUF_FLOAT32)) CHECK(signbit(gds_gguf_get_f32(f, k)), "-0");
    if (KEY("s.true", GDS_GGUF_BOOL)) CHECK(gds_gguf_get_bool(f, k), "true");
    if (KEY("s.false", GDS_GGUF_BOOL)) CHECK(!gds_gguf_get_bool(f, k), "false");
    int64_t v = 0;
    if (KEY("s.i32", GDS_GGUF_INT32)) CHECK(gds_gguf_get_int(f, k, &v) && v == -123456789, "get_int i32");
    if (KEY("s.u32", GDS_GGUF_UINT32)) CHECK(gds_gguf_get_int(f, k, &v) && v == 0xfedcba98ll, "get_int u32");
    if (KEY("s.u8", GDS_GGUF_UINT8)) CHECK(gds_gguf_get_int(f, k, &v) && v == 0xfe, "get_int u8");
    if (KEY("s.f32", GDS_GGUF_FLOAT32)) CHECK(!gds_gguf_get_int(f, k, &v), "get_int f32 refuses");
    struct { const char *key; enum gds_gguf_type t; int64_t n; const void *data; } arrs[] = {
        { "a.u8", GDS_GGUF_UINT8, 5, (uint8_t[]){ 0, 1, 127, 128, 255 } },
        { "a.i8", GDS_GGUF_INT8, 4, (int8_t[]){ -128, -1, 0, 127 } },
        { "a.u16", GDS_GGUF_UINT16, 3, (uint16_t[]){ 0, 1, 65535 } },
        { "a.i16", GDS_GGUF_INT16, 3, (int16_t[]){ -32768, 7, 32767 } },
        { "a.u32", GDS_GGUF_UINT32, 3, (uint32_t[]){ 0, 16, 0xffffffffu } },
        { "deepseek4.attention.compress_ratios", GDS_GGUF_INT32, 7, (int32_t[]){ 0, 0, 4, 128, 4, 128, 0 } },
        { "a.f32", GDS_GGUF_FLOAT32, 5, (float[]){ 10.0f, -0.0f, 1e-30f, 3.4e38f, 0.1f } },
        { "a.bool", GDS_GGUF_BOOL, 3, (uint8_t[]){ 1, 0, 1 } },
        { "a.u64", GDS_GGUF_UINT64, 2, (uint64_t[]){ 0, 0xffffffffffffffffull } },
        { "a.i64", GDS_GGUF_INT64, 3, (int64_t[]){ INT64_MIN, -1, INT64_MAX } },
        { "a.f64", GDS_GGUF_FLOAT64, 3, (double[]){ 0.1, -1e300, 5e-324 } },
        { "a.empty", GDS_GGUF_INT32, 0, NULL },
    };
    for (size_t a = 0; a < sizeof(arrs) / sizeof(arrs[0]); a++) {
        if (!KEY(arrs[a].key, GDS_GGUF_ARRAY)) continue;
        CHECK(gds_gguf_arr_type(f, k) == arrs[a].t, "%s: element type %d", arrs[a].key, gds_gguf_arr_type(f, k));
        CHECK(gds_gguf_arr_n(f, k) == arrs[a].n, "%s: n %lld", arrs[a].key, (long long)gds_gguf_arr_n(f, k));
        const void *d = gds_gguf_arr_data(f, k);
        CHECK(d && ((uintptr_t)d % 8) == 0, "%s: array data not 8-aligned", arrs[a].key);
        if (arrs[a].n && gds_gguf_arr_n(f, k) == arrs[a].n)
            CHECK(!memcmp(d, arrs[a].data, (size_t)arrs[a].n * esize[arrs[a].t]), "%s: bytes differ", arrs[a].key);
    }
    if (KEY("tokenizer.ggml.tokens", GDS_GGUF_ARRAY)) {
        CHECK(gds_gguf_arr_type(f, k) == GDS_GGUF_STRING && gds_gguf_arr_n(f, k) == N_STRS, "tokens");
        for (int64_t j = 0; j < N_STRS && gds_gguf_arr_n(f, k) == N_STRS; j++)
            CHECK(!strcmp(gds_gguf_arr_str(f, k, j), g_strs[j]), "token %lld", (long long)j);
    }
    if (KEY("a.strempty", GDS_GGUF_ARRAY)) CHECK(gds_gguf_arr_type(f, k) == GDS_GGUF_STRING && gds_gguf_arr_n(f, k) == 0, "strempty");
    if (align != 32 && KEY("general.alignment", GDS_GGUF_UINT32)) CHECK(gds_gguf_get_u32(f, k) == align, "general.alignment");
    CHECK(gds_gguf_find_key(f, "no.such.key") == -1, "absent key");
    CHECK(gds_gguf_find_tensor(f, "x") == -1, "absent tensor");
#undef KEY
    gds_gguf_close(f);
}

static void test_kv_roundtrip(void) {
    const char *p = tpath("kv.gguf");
    write_kv_file(p, 0);
    check_kv_file(p, 32);
    CHECK(!exists(tpath("kv.gguf.tmp")), "tmp left behind");
    add_check(p);
    group_end("kv round trip: every scalar setter, arrays of all 11 numeric types, string arrays, empty arrays");
}

/* ---- 2. tensor round trip -------------------------------------------------------- */

struct tdesc { char name[GDS_MAX_NAME]; enum gds_type type; int n_dims; int64_t ne[4]; size_t size; uint8_t *data; };

static size_t tsize(enum gds_type t, const int64_t ne[4]) {
    return gds_row_size(t, ne[0]) * (size_t)(ne[1] * ne[2] * ne[3]);
}

/* every valid type, two odd shapes each, plus a zero-size tensor */
static int make_tensors(struct tdesc *td, int cap) {
    int n = 0;
    for (int t = 0; t < GDS_TYPE_COUNT && n + 2 < cap; t++) {
        if (!gds_type_valid(t)) continue;
        const int64_t blck = gds_type_traits((enum gds_type)t)->blck_size;
        for (int v = 0; v < 2; v++) {
            struct tdesc *d = &td[n++];
            d->type = (enum gds_type)t;
            d->n_dims = v == 0 ? 2 : 4;
            int64_t ne0 = blck * (v == 0 ? 3 : 1) + (blck == 1 ? (v == 0 ? 4 : 10) : 0); /* 7, 11 for scalar types */
            int64_t shp[2][4] = { { ne0, 5, 1, 1 }, { ne0, 3, 1, 2 } };
            memcpy(d->ne, shp[v], sizeof(d->ne));
            snprintf(d->name, sizeof(d->name), "blk.%d.%s_%c.weight", v, gds_type_name(d->type), 'a' + v);
            d->size = tsize(d->type, d->ne);
            d->data = malloc(d->size);
            for (size_t i = 0; i < d->size; i++) d->data[i] = (uint8_t)rng_u64();
        }
    }
    struct tdesc *z = &td[n++]; /* zero-size: 0 rows */
    snprintf(z->name, sizeof(z->name), "empty.weight");
    z->type = GDS_TYPE_F32; z->n_dims = 2; z->ne[0] = 4; z->ne[1] = 0; z->ne[2] = z->ne[3] = 1;
    z->size = 0; z->data = NULL;
    /* a 1-d tensor last */
    struct tdesc *o = &td[n++];
    snprintf(o->name, sizeof(o->name), "output_hc_scale.weight");
    o->type = GDS_TYPE_F32; o->n_dims = 1; o->ne[0] = 1; o->ne[1] = o->ne[2] = o->ne[3] = 1;
    o->size = 4; o->data = malloc(4); memcpy(o->data, (float[]){ 0.5f }, 4);
    return n;
}

static bool write_tensor_file(const char *path, uint32_t align, struct tdesc *td, int n) {
    struct gds_gguf_writer *w = gds_gguf_writer_open(path);
    CHECK(w, "writer_open: %s", gds_last_error());
    if (!w) return false;
    if (align) gds_gguf_writer_set_alignment(w, align);
    gds_gguf_writer_set_str(w, "general.architecture", "deepseek4");
    gds_gguf_writer_set_u32(w, "deepseek4.block_count", 2);
    for (int i = 0; i < n; i++) {
        enum gds_status st = gds_gguf_writer_add_tensor(w, td[i].name, td[i].type, td[i].n_dims, td[i].ne);
        CHECK(!st, "add_tensor %s: %s", td[i].name, gds_last_error());
    }
    CHECK(!gds_gguf_writer_begin_data(w), "begin_data: %s", gds_last_error());
    /* concatenate all data and stream it in random chunk sizes (crossing tensor boundaries) */
    size_t total = 0;
    for (int i = 0; i < n; i++) total += td[i].size;
    uint8_t *all = malloc(total + 1);
    size_t o = 0;
    for (int i = 0; i < n; i++) { if (td[i].size) memcpy(all + o, td[i].data, td[i].size); o += td[i].size; }
    for (o = 0; o < total;) {
        size_t k = 1 + (size_t)(rng_u64() % 200);
        if (k > total - o) k = total - o;
        enum gds_status st = gds_gguf_writer_write(w, all + o, k);
        CHECK(!st, "write: %s", gds_last_error());
        if (st) break;
        o += k;
    }
    free(all);
    enum gds_status st = gds_gguf_writer_close(w);
    CHECK(!st, "close: %s", gds_last_error());
    return !st;
}

static void check_tensor_file(const char *path, size_t align, const struct tdesc *td, int n) {
    struct gds_gguf *f = gds_gguf_open(path);
    CHECK(f, "open: %s", gds_last_error());
    if (!f) return;
    CHECK(gds_gguf_alignment(f) == align, "alignment %zu != %zu", gds_gguf_alignment(f), align);
    CHECK(gds_gguf_data_offset(f) % align == 0, "data offset %zu not aligned", gds_gguf_data_offset(f));
    CHECK(gds_gguf_n_tensors(f) == n, "n_tensors");
    size_t expect_off = 0;
    for (int i = 0; i < n && gds_gguf_n_tensors(f) == n; i++) {
        int64_t k = gds_gguf_find_tensor(f, td[i].name);
        CHECK(k == i, "find_tensor %s -> %lld", td[i].name, (long long)k);
        if (k < 0) continue;
        int64_t ne[4];
        gds_gguf_tensor_ne(f, k, ne);
        CHECK(!strcmp(gds_gguf_tensor_name(f, k), td[i].name), "name");
        CHECK(gds_gguf_tensor_type(f, k) == td[i].type, "%s: type", td[i].name);
        CHECK(gds_gguf_tensor_n_dims(f, k) == td[i].n_dims, "%s: n_dims", td[i].name);
        CHECK(!memcmp(ne, td[i].ne, sizeof(ne)), "%s: ne", td[i].name);
        CHECK(gds_gguf_tensor_size(f, k) == td[i].size, "%s: size %zu != %zu", td[i].name, gds_gguf_tensor_size(f, k), td[i].size);
        CHECK(gds_gguf_tensor_offset(f, k) == expect_off, "%s: offset %zu != %zu", td[i].name, gds_gguf_tensor_offset(f, k), expect_off);
        CHECK(gds_gguf_tensor_offset(f, k) % align == 0, "%s: offset not aligned", td[i].name);
        const uint8_t *d = gds_gguf_tensor_data(f, k);
        CHECK(d == (const uint8_t *)gds_gguf_base(f) + gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, k), "data pointer");
        if (td[i].size) CHECK(!memcmp(d, td[i].data, td[i].size), "%s: data bytes differ", td[i].name);
        expect_off += td[i].size + (align - td[i].size % align) % align;
    }
    CHECK(gds_gguf_size(f) == gds_gguf_data_offset(f) + expect_off, "file size %zu != %zu", gds_gguf_size(f), gds_gguf_data_offset(f) + expect_off);
    /* padding between tensors is zero */
    gds_gguf_close(f);
}

static struct tdesc g_td[32];
static int g_ntd;

static void test_tensor_roundtrip(void) {
    g_ntd = make_tensors(g_td, 32);
    const char *p = tpath("tensors.gguf");
    if (write_tensor_file(p, 0, g_td, g_ntd)) check_tensor_file(p, 32, g_td, g_ntd);
    add_check(p);
    char name[160];
    snprintf(name, sizeof(name), "tensor round trip: %d tensors, every gds type, odd shapes, 1-4 dims, zero-size, random write chunks", g_ntd);
    group_end(name);
}

static void test_alignments(void) {
    static const uint32_t al[] = { 1, 8, 64, 4096 };
    for (size_t a = 0; a < sizeof(al) / sizeof(al[0]); a++) {
        char fn[64];
        snprintf(fn, sizeof(fn), "align%u.gguf", al[a]);
        const char *p = tpath(fn);
        if (write_tensor_file(p, al[a], g_td, g_ntd)) check_tensor_file(p, al[a], g_td, g_ntd);
        if (al[a] == 64) add_check(p);
        snprintf(fn, sizeof(fn), "kv-align%u.gguf", al[a]);
        write_kv_file(tpath(fn), al[a]);
        check_kv_file(tpath(fn), al[a]);
    }
    group_end("alignment 1, 8, 64, 4096: data offsets, tensor offsets, file size, general.alignment key");
}

/* ---- 3. the peer-made llama.cpp-style fixture ------------------------------------- */

#define FIXTURE "tests/fixtures/tiny-a-llamacpp/mtp-tiny-a-F16.gguf"

static void test_fixture(void) {
    struct gds_gguf *f = gds_gguf_open(FIXTURE);
    CHECK(f, "open: %s", gds_last_error());
    if (!f) { group_end("fixture " FIXTURE); return; }
    CHECK(gds_gguf_size(f) == 3463040, "size");
    CHECK(gds_gguf_n_kv(f) == 52 && gds_gguf_n_tensors(f) == 34, "counts %lld %lld", (long long)gds_gguf_n_kv(f), (long long)gds_gguf_n_tensors(f));
    CHECK(gds_gguf_alignment(f) == 32 && gds_gguf_data_offset(f) == 30688, "alignment/data offset %zu", gds_gguf_data_offset(f));
    int64_t k;
    if ((k = gds_gguf_find_key(f, "general.architecture")) >= 0) CHECK(!strcmp(gds_gguf_get_str(f, k), "deepseek4"), "arch");
    else CHECK(0, "general.architecture missing");
    if ((k = gds_gguf_find_key(f, "general.name")) >= 0) CHECK(!strcmp(gds_gguf_get_str(f, k), "Tiny A"), "name");
    else CHECK(0, "general.name missing");
    if ((k = gds_gguf_find_key(f, "deepseek4.block_count")) >= 0) CHECK(gds_gguf_get_u32(f, k) == 7, "block_count");
    else CHECK(0, "block_count missing");
    if ((k = gds_gguf_find_key(f, "deepseek4.attention.layer_norm_rms_epsilon")) >= 0) CHECK(gds_gguf_get_f32(f, k) == 1e-6f, "eps");
    else CHECK(0, "eps missing");
    if ((k = gds_gguf_find_key(f, "deepseek4.expert_weights_norm")) >= 0) CHECK(gds_gguf_get_bool(f, k), "weights_norm");
    else CHECK(0, "expert_weights_norm missing");
    if ((k = gds_gguf_find_key(f, "deepseek4.attention.compress_ratios")) >= 0) {
        CHECK(gds_gguf_arr_type(f, k) == GDS_GGUF_INT32 && gds_gguf_arr_n(f, k) == 7, "compress_ratios type");
        static const int32_t cr[7] = { 0, 0, 4, 128, 4, 128, 0 };
        if (gds_gguf_arr_n(f, k) == 7) CHECK(!memcmp(gds_gguf_arr_data(f, k), cr, sizeof(cr)), "compress_ratios values");
    } else CHECK(0, "compress_ratios missing");
    if ((k = gds_gguf_find_key(f, "deepseek4.swiglu_clamp_exp")) >= 0)
        CHECK(gds_gguf_arr_type(f, k) == GDS_GGUF_FLOAT32 && gds_gguf_arr_n(f, k) == 7 &&
              ((const float *)gds_gguf_arr_data(f, k))[6] == 10.0f, "swiglu_clamp_exp");
    else CHECK(0, "swiglu_clamp_exp missing");
    if ((k = gds_gguf_find_key(f, "tokenizer.ggml.tokens")) >= 0) {
        CHECK(gds_gguf_arr_type(f, k) == GDS_GGUF_STRING && gds_gguf_arr_n(f, k) == 1024, "tokens");
        if (gds_gguf_arr_n(f, k) == 1024) {
            CHECK(!strcmp(gds_gguf_arr_str(f, k, 0), "<｜begin▁of▁sentence｜>"), "token 0 '%s'", gds_gguf_arr_str(f, k, 0));
            CHECK(!strcmp(gds_gguf_arr_str(f, k, 2), "Ā"), "token 2");
        }
    } else CHECK(0, "tokens missing");
    if ((k = gds_gguf_find_key(f, "tokenizer.ggml.merges")) >= 0) {
        CHECK(gds_gguf_arr_n(f, k) == 766 && !strcmp(gds_gguf_arr_str(f, k, 0), "Ġ Ġ"), "merges");
    } else CHECK(0, "merges missing");
    if ((k = gds_gguf_find_key(f, "tokenizer.ggml.token_type")) >= 0) {
        const int32_t *tt = gds_gguf_arr_data(f, k);
        int c3 = 0;
        for (int64_t j = 0; j < gds_gguf_arr_n(f, k); j++) c3 += tt[j] == 3;
        CHECK(gds_gguf_arr_n(f, k) == 1024 && c3 == 2 && tt[0] == 3 && tt[2] == 1, "token_type");
    } else CHECK(0, "token_type missing");
    struct { const char *name; enum gds_type t; int nd; int64_t ne[4]; size_t size, off; } ts[] = {
        { "token_embd.weight", GDS_TYPE_F16, 2, { 256, 1024, 1, 1 }, 524288, 0 },
        { "blk.6.attn_sinks.weight", GDS_TYPE_F32, 1, { 4, 1, 1, 1 }, 16, 1048576 },
        { "blk.6.attn_output_a.weight", GDS_TYPE_F16, 2, { 512, 256, 1, 1 }, 262144, 1181216 },
        { "blk.6.hc_attn_scale.weight", GDS_TYPE_F32, 1, { 3, 1, 1, 1 }, 12, 2478784 },
        { "output_hc_scale.weight", GDS_TYPE_F32, 1, { 1, 1, 1, 1 }, 4, 2593664 },
        { "blk.6.ffn_gate_exps.weight", GDS_TYPE_MXFP4, 3, { 256, 128, 16, 1 }, 278528, 2596768 },
        { "blk.6.ffn_up_exps.weight", GDS_TYPE_MXFP4, 3, { 256, 128, 16, 1 }, 278528, 3153824 },
    };
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        k = gds_gguf_find_tensor(f, ts[i].name);
        CHECK(k >= 0, "tensor %s missing", ts[i].name);
        if (k < 0) continue;
        int64_t ne[4];
        gds_gguf_tensor_ne(f, k, ne);
        CHECK(gds_gguf_tensor_type(f, k) == ts[i].t && gds_gguf_tensor_n_dims(f, k) == ts[i].nd &&
              !memcmp(ne, ts[i].ne, sizeof(ne)) && gds_gguf_tensor_size(f, k) == ts[i].size &&
              gds_gguf_tensor_offset(f, k) == ts[i].off, "tensor %s", ts[i].name);
    }
    CHECK(!strcmp(gds_gguf_tensor_name(f, 0), "token_embd.weight") && !strcmp(gds_gguf_tensor_name(f, 33), "blk.6.ffn_up_exps.weight"), "order");
    /* output_hc_scale is F32 1 x 1; its bytes lie in the mapping */
    k = gds_gguf_find_tensor(f, "output_hc_scale.weight");
    if (k >= 0) { float v; memcpy(&v, gds_gguf_tensor_data(f, k), 4); CHECK(isfinite(v), "output_hc_scale value"); }
    gds_gguf_close(f);
    add_check(FIXTURE);
    group_end("fixture " FIXTURE ": counts, 10 keys, 7 tensors (type, shape, size, offset) as its README lists");
}

/* ---- 4. malformed files ----------------------------------------------------------- */

static int g_corpus_n;
static const char *g_corpus_dir;
static void corpus_add(const char *tag, const void *p, size_t n) {
    if (!g_corpus_dir || n > 4096) return;
    char fn[512];
    snprintf(fn, sizeof(fn), "%s/%s.gguf", g_corpus_dir, tag);
    write_all(fn, p, n);
    g_corpus_n++;
}

/* Parses an exact-size heap copy (so ASan sees any over-read); expects failure
 * with a message that names the label and contains every given substring. */
static void expect_reject(const char *tag, const struct bb *b, const char *sub1, const char *sub2) {
    uint8_t *copy = malloc(b->n ? b->n : 1);
    if (b->n) memcpy(copy, b->p, b->n);
    char label[96];
    snprintf(label, sizeof(label), "bad-%s.gguf", tag);
    struct gds_gguf *f = gds_gguf_open_memory(copy, b->n, label);
    const char *msg = gds_last_error();
    CHECK(!f, "%s: accepted", tag);
    if (f) gds_gguf_close(f);
    else {
        CHECK(strstr(msg, label) != NULL, "%s: message does not name the file: %s", tag, msg);
        CHECK(!sub1 || strstr(msg, sub1), "%s: message lacks '%s': %s", tag, sub1, msg);
        CHECK(!sub2 || strstr(msg, sub2), "%s: message lacks '%s': %s", tag, sub2, msg);
        if (g_verbose) printf("    %-18s -> %s\n", tag, msg);
    }
    free(copy);
    corpus_add(tag, b->p, b->n);
}

static void test_malformed(void) {
    const struct rt good[2] = {
        { "a.weight", 2, { 32, 2 }, GDS_TYPE_Q8_0, 0 },     /* 68 bytes */
        { "b.weight", 1, { 3 }, GDS_TYPE_F32, 96 },          /* 12 bytes */
    };
    struct bb b = make_file(good, 2, 32, 108);
    {   /* the base file is valid */
        struct gds_gguf *f = gds_gguf_open_memory(b.p, b.n, "good.gguf");
        CHECK(f, "base file rejected: %s", gds_last_error());
        gds_gguf_close(f);
        corpus_add("valid-handmade", b.p, b.n);
    }
    free(b.p);

    struct bb x;
#define REJECT(tag, s1, s2) do { expect_reject(tag, &x, s1, s2); free(x.p); } while (0)
    x = make_file(good, 2, 32, 108); memcpy(x.p, "GGUG", 4); REJECT("magic", "bad magic", NULL);
    x = make_file(good, 2, 32, 108); x.p[4] = 1; REJECT("version1", "version 1", NULL);
    x = make_file(good, 2, 32, 108); x.p[4] = 2; REJECT("version2", "version 2", NULL);
    x = make_file(good, 2, 32, 108); x.p[4] = 4; REJECT("version4", "version 4", NULL);
    x = (struct bb){ 0 }; REJECT("empty", "truncated", NULL);
    x = (struct bb){ 0 }; bb_put(&x, "GGUF", 4); bb_u32(&x, 3); REJECT("header-only", "truncated", "n_tensors");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 1ull << 62, 0); bb_zeros(&x, 64); REJECT("huge-n-tensors", "n_tensors", "cannot fit");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, UINT64_MAX); bb_zeros(&x, 64); REJECT("huge-n-kv", "n_kv", "cannot fit");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_u64(&x, 1ull << 40); bb_put(&x, "abcdefghijklmnop", 16); REJECT("key-len", "key length", "exceeds");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "k.s"); bb_u32(&x, GDS_GGUF_STRING); bb_u64(&x, UINT64_MAX); bb_zeros(&x, 8);
    REJECT("str-len", "key 'k.s'", "string value length");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "k.arr"); bb_u32(&x, GDS_GGUF_ARRAY); bb_u32(&x, GDS_GGUF_STRING); bb_u64(&x, 2); bb_str(&x, "ok"); bb_u64(&x, 1000); bb_zeros(&x, 8);
    REJECT("arr-str-len", "key 'k.arr'", "array string length");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "k.arr"); bb_u32(&x, GDS_GGUF_ARRAY); bb_u32(&x, GDS_GGUF_UINT64); bb_u64(&x, 1ull << 61); bb_zeros(&x, 16);
    REJECT("arr-count", "key 'k.arr'", "array of");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "k.nest"); bb_u32(&x, GDS_GGUF_ARRAY); bb_u32(&x, GDS_GGUF_ARRAY); bb_u64(&x, 1); bb_u32(&x, GDS_GGUF_UINT8); bb_u64(&x, 0);
    REJECT("nested-array", "key 'k.nest'", "arrays of arrays");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "k.t"); bb_u32(&x, 13); bb_zeros(&x, 8); REJECT("kv-type", "key 'k.t'", "unknown value type 13");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "k.b"); bb_u32(&x, GDS_GGUF_BOOL); bb_u8(&x, 2); bb_zeros(&x, 8); REJECT("bool-2", "key 'k.b'", "not 0 or 1");
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, ""); bb_u32(&x, GDS_GGUF_UINT8); bb_u8(&x, 2); bb_zeros(&x, 8); REJECT("empty-key", "empty key", NULL);
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 2);
    bb_str(&x, "dup.key"); bb_u32(&x, GDS_GGUF_UINT8); bb_u8(&x, 1); bb_str(&x, "dup.key"); bb_u32(&x, GDS_GGUF_UINT32); bb_u32(&x, 2);
    REJECT("dup-key", "duplicate key 'dup.key'", NULL);
    static const uint32_t bad_al[] = { 0, 3, 48 };
    for (int i = 0; i < 3; i++) {
        char tag[32];
        snprintf(tag, sizeof(tag), "align-%u", bad_al[i]);
        x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "general.alignment"); bb_u32(&x, GDS_GGUF_UINT32); bb_u32(&x, bad_al[i]);
        expect_reject(tag, &x, "general.alignment", "power of two"); free(x.p);
    }
    x = (struct bb){ 0 }; bb_header(&x, "GGUF", 3, 0, 1); bb_str(&x, "general.alignment"); bb_u32(&x, GDS_GGUF_UINT64); bb_u64(&x, 64);
    REJECT("align-u64", "general.alignment", "must be u32");

    struct rt t[2];
#define TCASE(tag, nt, datalen, s1, s2, ...) do { memcpy(t, good, sizeof(good)); __VA_ARGS__; x = make_file(t, nt, 32, datalen); REJECT(tag, s1, s2); } while (0)
    TCASE("ndims-0", 2, 108, "tensor 'a.weight'", "n_dims 0", t[0].n_dims = 0);
    TCASE("ndims-5", 2, 108, "tensor 'b.weight'", "n_dims 5", t[1].n_dims = 5; t[1].ne[1] = t[1].ne[2] = t[1].ne[3] = t[1].ne[4] = 1);
    TCASE("type-unknown", 2, 108, "tensor 'b.weight'", "type id 999", t[1].type = 999);
    TCASE("type-q4_0", 2, 108, "tensor 'a.weight'", "type id 2", t[0].type = 2);
    TCASE("type-huge", 2, 108, "tensor 'a.weight'", "type id 4294967295", t[0].type = UINT32_MAX);
    TCASE("ne0-block", 2, 108, "tensor 'a.weight'", "not a multiple of the q8_0 block size 32", t[0].ne[0] = 33);
    TCASE("ne-overflow", 2, 108, "tensor 'a.weight'", "overflows", t[0].ne[0] = 1ull << 40; t[0].ne[1] = 1ull << 40);
    TCASE("ne-negative", 2, 108, "tensor 'b.weight'", "too large", t[1].ne[0] = UINT64_MAX);
    TCASE("offset-misaligned", 2, 108, "tensor 'b.weight'", "not a multiple of the alignment 32", t[1].offset = 100);
    TCASE("offset-outside", 2, 108, "tensor 'b.weight'", "outside the file", t[1].offset = 128);
    TCASE("offset-huge", 2, 108, "tensor 'b.weight'", "outside the file", t[1].offset = UINT64_MAX - 31);
    TCASE("size-outside", 2, 100, "tensor 'b.weight'", "outside the file", (void)0);
    TCASE("overlap", 2, 108, "tensor 'b.weight'", "overlaps tensor 'a.weight'", t[1].offset = 64);
    TCASE("overlap-same", 2, 108, "overlaps", NULL, t[1].offset = 0);
    TCASE("dup-tensor", 2, 108, "tensor 'a.weight'", "duplicate tensor name", t[1].name = "a.weight");
    TCASE("empty-name", 2, 108, "tensor info #1", "empty tensor name", t[1].name = "");
    TCASE("long-name", 2, 108, "tensor info #1", "limit is 63", t[1].name = "blk.0.a_very_long_tensor_name_that_does_not_fit_in_gds_max_name.weight");
    TCASE("no-data", 2, 0, "tensor 'a.weight'", "outside the file", (void)0); /* data section missing */
#undef TCASE
    x = make_file(good, 2, 32, 108);
    x.n = 24 + (8 + 12 + 4 + 8 + 3) + (8 + 8 + 4 + 16 + 4 + 8) + 8 + 3; /* cut inside tensor info #1's name */
    REJECT("cut-tinfo", "tensor info #1", "truncated");
#undef REJECT
    group_end("malformed files rejected with a message naming the file and the key/tensor (printed above)");
}

/* every prefix of a valid writer-made file must fail cleanly (or succeed once complete) */
static void test_prefixes(void) {
    const char *p = tpath("small.gguf");
    struct tdesc td[3] = {
        { "tok.weight", GDS_TYPE_Q8_0, 2, { 64, 2, 1, 1 }, 0, NULL },
        { "n.weight", GDS_TYPE_F32, 1, { 5, 1, 1, 1 }, 0, NULL },
        { "e.weight", GDS_TYPE_MXFP4, 2, { 32, 3, 1, 1 }, 0, NULL },
    };
    struct gds_gguf_writer *w = gds_gguf_writer_open(p);
    gds_gguf_writer_set_str(w, "general.architecture", "deepseek4");
    gds_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", g_strs, 4);
    gds_gguf_writer_set_arr(w, "a.i32", GDS_GGUF_INT32, (int32_t[]){ 1, -2, 3 }, 3);
    gds_gguf_writer_set_f32(w, "f", 1.5f);
    gds_gguf_writer_set_bool(w, "b", true);
    for (int i = 0; i < 3; i++) {
        td[i].size = tsize(td[i].type, td[i].ne);
        td[i].data = malloc(td[i].size);
        for (size_t j = 0; j < td[i].size; j++) td[i].data[j] = (uint8_t)rng_u64();
        gds_gguf_writer_add_tensor(w, td[i].name, td[i].type, td[i].n_dims, td[i].ne);
    }
    gds_gguf_writer_begin_data(w);
    for (int i = 0; i < 3; i++) gds_gguf_writer_write(w, td[i].data, td[i].size);
    CHECK(!gds_gguf_writer_close(w), "close: %s", gds_last_error());
    size_t n = 0;
    uint8_t *img = read_all(p, &n);
    CHECK(img && n > 0, "read back");
    corpus_add("valid-small", img, n);
    size_t need = 0, n_ok = 0, n_rej = 0;
    {
        struct gds_gguf *f = gds_gguf_open_memory(img, n, "small.gguf");
        CHECK(f, "full file: %s", gds_last_error());
        if (f) {
            int64_t k = gds_gguf_n_tensors(f) - 1;
            need = gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, k) + gds_gguf_tensor_size(f, k);
            gds_gguf_close(f);
        }
    }
    for (size_t len = 0; len < n; len++) {
        uint8_t *c = malloc(len ? len : 1);
        memcpy(c, img, len);
        struct gds_gguf *f = gds_gguf_open_memory(c, len, "prefix.gguf");
        if (f) {
            n_ok++;
            CHECK(len >= need, "prefix of %zu bytes accepted (need %zu)", len, need);
            gds_gguf_close(f);
        } else {
            n_rej++;
            CHECK(len < need, "prefix of %zu bytes rejected: %s", len, gds_last_error());
            CHECK(strstr(gds_last_error(), "prefix.gguf") && (strstr(gds_last_error(), "truncated") || strstr(gds_last_error(), "outside the file")),
                  "prefix %zu: unclear message: %s", len, gds_last_error());
        }
        free(c);
    }
    /* and every single-byte corruption must not crash (result either way) */
    size_t n_flip_rej = 0;
    for (size_t i = 0; i < n && i < 1024; i++) {
        uint8_t *c = malloc(n);
        memcpy(c, img, n);
        c[i] ^= (uint8_t)(1u << (i % 8)) | 0x80;
        struct gds_gguf *f = gds_gguf_open_memory(c, n, "flip.gguf");
        if (f) gds_gguf_close(f); else n_flip_rej++;
        free(c);
    }
    printf("    %zu-byte file: %zu prefixes rejected, %zu accepted (only the tail padding missing); %zu of %zu byte flips rejected\n",
           n, n_rej, n_ok, n_flip_rej, n < 1024 ? n : (size_t)1024);
    free(img);
    for (int i = 0; i < 3; i++) free(td[i].data);
    group_end("every prefix of a valid file fails cleanly with 'truncated'/'outside the file', or succeeds once all data is present");
}

static void test_open_errors(void) {
    struct gds_gguf *f = gds_gguf_open(tpath("does-not-exist.gguf"));
    CHECK(!f && strstr(gds_last_error(), "does-not-exist.gguf") && strstr(gds_last_error(), "No such file"), "missing: %s", gds_last_error());
    f = gds_gguf_open(g_dir);
    CHECK(!f && strstr(gds_last_error(), "not a regular file"), "directory: %s", gds_last_error());
    write_all(tpath("empty.gguf"), "", 0);
    f = gds_gguf_open(tpath("empty.gguf"));
    CHECK(!f && strstr(gds_last_error(), "empty.gguf") && strstr(gds_last_error(), "empty"), "empty: %s", gds_last_error());
    write_all(tpath("junk.gguf"), "GGUF\x03\0\0\0junk", 12);
    f = gds_gguf_open(tpath("junk.gguf"));
    CHECK(!f && strstr(gds_last_error(), "junk.gguf") && strstr(gds_last_error(), "truncated"), "junk: %s", gds_last_error());
    group_end("gds_gguf_open: missing file, directory, empty file, truncated file");
}

/* ---- 5. writer errors ---------------------------------------------------------------- */

static void test_writer_errors(void) {
    const char *p = tpath("w.gguf"), *tmp = tpath("w.gguf.tmp");
    struct gds_gguf_writer *w = gds_gguf_writer_open(tpath("no/such/dir/x.gguf"));
    CHECK(!w && strstr(gds_last_error(), "no/such/dir/x.gguf") && strstr(gds_last_error(), "No such file or directory"),
          "missing dir: %s", gds_last_error());
    if (w) gds_gguf_writer_abort(w);

    w = gds_gguf_writer_open(p);
    CHECK(w && exists(tmp) && !exists(p), "tmp created, final absent");
    int64_t ne[4] = { 32, 2, 1, 1 };
    CHECK(!gds_gguf_writer_set_u32(w, "k", 1), "set");
    CHECK(gds_gguf_writer_set_u32(w, "k", 2) == GDS_ERR_INVALID && strstr(gds_last_error(), "duplicate key 'k'"), "dup key: %s", gds_last_error());
    CHECK(gds_gguf_writer_set_str(w, "general.alignment", "x") == GDS_ERR_INVALID, "alignment as string");
    CHECK(gds_gguf_writer_set_arr(w, "nested", GDS_GGUF_ARRAY, ne, 1) == GDS_ERR_INVALID, "nested array");
    CHECK(gds_gguf_writer_set_arr(w, "bools", GDS_GGUF_BOOL, (uint8_t[]){ 0, 2 }, 2) == GDS_ERR_INVALID, "bool 2");
    CHECK(!gds_gguf_writer_add_tensor(w, "t", GDS_TYPE_Q8_0, 2, ne), "add");
    CHECK(gds_gguf_writer_add_tensor(w, "t", GDS_TYPE_F32, 1, ne) == GDS_ERR_INVALID && strstr(gds_last_error(), "tensor 't'") &&
          strstr(gds_last_error(), "duplicate"), "dup tensor: %s", gds_last_error());
    CHECK(gds_gguf_writer_add_tensor(w, "u", (enum gds_type)2, 1, ne) == GDS_ERR_INVALID && strstr(gds_last_error(), "type id 2"), "bad type: %s", gds_last_error());
    CHECK(gds_gguf_writer_add_tensor(w, "u", GDS_TYPE_F32, 0, ne) == GDS_ERR_INVALID, "n_dims 0");
    CHECK(gds_gguf_writer_add_tensor(w, "u", GDS_TYPE_F32, 5, ne) == GDS_ERR_INVALID, "n_dims 5");
    CHECK(gds_gguf_writer_add_tensor(w, "u", GDS_TYPE_Q8_0, 1, (int64_t[]){ 33 }) == GDS_ERR_INVALID && strstr(gds_last_error(), "block size"), "ne0 block");
    CHECK(gds_gguf_writer_add_tensor(w, "u", GDS_TYPE_F32, 1, (int64_t[]){ -1 }) == GDS_ERR_INVALID, "negative ne");
    CHECK(gds_gguf_writer_add_tensor(w, "blk.0.a_very_long_tensor_name_that_does_not_fit_in_gds_max_name.weight", GDS_TYPE_F32, 1, ne) == GDS_ERR_INVALID, "long name");
    CHECK(gds_gguf_writer_write(w, "x", 1) == GDS_ERR_INVALID, "write before begin_data");
    CHECK(!gds_gguf_writer_begin_data(w), "begin_data");
    CHECK(gds_gguf_writer_set_u32(w, "late", 1) == GDS_ERR_INVALID && strstr(gds_last_error(), "after begin_data"), "kv after begin_data");
    CHECK(gds_gguf_writer_add_tensor(w, "late", GDS_TYPE_F32, 1, ne) == GDS_ERR_INVALID, "tensor after begin_data");
    uint8_t buf[100] = { 0 };
    CHECK(!gds_gguf_writer_write(w, buf, 30), "partial write");
    CHECK(gds_gguf_writer_write(w, buf, 100) == GDS_ERR_INVALID && strstr(gds_last_error(), "exceeds"), "write past the end: %s", gds_last_error());
    CHECK(gds_gguf_writer_close(w) == GDS_ERR_INVALID && strstr(gds_last_error(), "tensor 't'") && strstr(gds_last_error(), "30 of 68"),
          "incomplete close: %s", gds_last_error());
    CHECK(!exists(tmp) && !exists(p), "incomplete close left a file");

    /* abort removes the tmp; an existing file at the path is left alone */
    write_all(p, "old", 3);
    w = gds_gguf_writer_open(p);
    gds_gguf_writer_set_u32(w, "k", 1);
    gds_gguf_writer_abort(w);
    size_t n = 0;
    uint8_t *old = read_all(p, &n);
    CHECK(!exists(tmp) && old && n == 3 && !memcmp(old, "old", 3), "abort");
    free(old);

    /* bad alignment poisons the writer */
    w = gds_gguf_writer_open(p);
    gds_gguf_writer_set_alignment(w, 48);
    CHECK(strstr(gds_last_error(), "alignment 48"), "bad alignment: %s", gds_last_error());
    CHECK(gds_gguf_writer_begin_data(w) != GDS_OK, "begin_data after bad alignment");
    CHECK(gds_gguf_writer_close(w) != GDS_OK, "close after bad alignment");
    old = read_all(p, &n);
    CHECK(!exists(tmp) && old && n == 3, "bad alignment left files");
    free(old);

    /* metadata-only file: close without begin_data */
    w = gds_gguf_writer_open(p);
    gds_gguf_writer_set_u32(w, "split.count", 2);
    CHECK(!gds_gguf_writer_close(w), "metadata-only close: %s", gds_last_error());
    struct gds_gguf *f = gds_gguf_open(p);
    CHECK(f && gds_gguf_n_tensors(f) == 0 && gds_gguf_n_kv(f) == 1, "metadata-only file");
    gds_gguf_close(f);
    unlink(p);
    group_end("writer misuse: duplicates, bad types/shapes, order, over/under-long data, abort, bad alignment, missing directory");

    /* a directory at the final path: refused at open, before any data (the rename would fail at the end) */
    const char *d = tpath("a-dir"), *dtmp = tpath("a-dir.tmp");
    mkdir(d, 0755);
    w = gds_gguf_writer_open(d);
    CHECK(!w && strstr(gds_last_error(), "a-dir") && strstr(gds_last_error(), "is a directory"), "directory: %s", gds_last_error());
    CHECK(!exists(dtmp), "directory: %s created", dtmp);
    if (w) gds_gguf_writer_abort(w);
    rmdir(d);
    /* a stale path.tmp that is a symlink (or a hard link) to another file: replaced, never written through */
    const char *victim = tpath("victim"), *hl = tpath("hl.gguf"), *hltmp = tpath("hl.gguf.tmp");
    write_all(victim, "precious", 8);
    CHECK(symlink(victim, tmp) == 0, "symlink %s -> %s", tmp, victim);
    w = gds_gguf_writer_open(p);
    CHECK(w && !gds_gguf_writer_close(w), "open over a stale symlinked .tmp: %s", gds_last_error());
    old = read_all(victim, &n);
    CHECK(old && n == 8 && !memcmp(old, "precious", 8), "the symlinked .tmp's target was written through");
    free(old);
    struct stat sb;
    CHECK(lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && !exists(tmp), "a regular file at the path, no .tmp");
    unlink(p);
    CHECK(link(victim, hltmp) == 0, "link %s -> %s", hltmp, victim);
    w = gds_gguf_writer_open(hl);
    CHECK(w && !gds_gguf_writer_close(w), "open over a stale hard-linked .tmp: %s", gds_last_error());
    old = read_all(victim, &n);
    CHECK(old && n == 8 && !memcmp(old, "precious", 8), "the hard-linked .tmp's other name was truncated");
    free(old);
    unlink(hl);
    unlink(victim);
    group_end("writer open: a directory at the path refused at once; a stale .tmp link replaced, not written through");
}

/* disk-full stand-in: RLIMIT_FSIZE in a child; write() fails with EFBIG */
static void test_writer_disk_full(void) {
    const char *p = tpath("full.gguf"), *tmp = tpath("full.gguf.tmp");
    write_all(p, "previous", 8);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 100000, 100000 };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        int rc = 0;
        struct gds_gguf_writer *w = gds_gguf_writer_open(p);
        if (!w) _exit(4);
        int64_t ne[2] = { 1024, 256 }; /* 1 MiB of f32 */
        gds_gguf_writer_set_str(w, "general.architecture", "deepseek4");
        gds_gguf_writer_add_tensor(w, "big.weight", GDS_TYPE_F32, 2, ne);
        enum gds_status st = gds_gguf_writer_begin_data(w);
        float *row = calloc(1024, sizeof(float));
        int fails = 0;
        for (int r = 0; r < 256 && !st; r++) st = gds_gguf_writer_write(w, row, 4096);
        if (st) fails++;
        const char *m1 = gds_last_error();
        if (st && !(strstr(m1, "full.gguf") && strstr(m1, "File too large"))) { printf("    bad write message: %s\n", m1); rc = 5; }
        if (st && access(tmp, F_OK) == 0) { printf("    tmp still present after the failed write\n"); rc = 6; }
        if (st && gds_gguf_writer_write(w, row, 4) == GDS_OK) { printf("    write after failure succeeded\n"); rc = 7; }
        enum gds_status cs = gds_gguf_writer_close(w);
        if (cs == GDS_OK) { printf("    close succeeded although the data did not fit\n"); rc = 8; }
        if (!st && cs) { /* failed only at flush time */
            const char *m2 = gds_last_error();
            if (!(strstr(m2, "full.gguf") && strstr(m2, "File too large"))) { printf("    bad close message: %s\n", m2); rc = 9; }
        }
        printf("    child: %s\n", gds_last_error());
        free(row);
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    size_t n = 0;
    uint8_t *b = read_all(p, &n);
    CHECK(b && n == 8 && !memcmp(b, "previous", 8), "the previous file at the final path was touched");
    CHECK(!exists(tmp), "tmp left behind");
    free(b);
    unlink(p);
    group_end("writer disk full (RLIMIT_FSIZE -> EFBIG): error names path + errno text, .tmp removed, final path untouched");
}

/* ---- 6. independent parser ------------------------------------------------------------ */

static void test_independent_parser(void) {
    if (system("node --version >/dev/null 2>&1") != 0) { group_skip("independent parser (@huggingface/gguf)", "node not installed"); return; }
    if (!exists("tests/node_modules/@huggingface/gguf") || !exists("tests/gguf-check.mjs")) {
        group_skip("independent parser (@huggingface/gguf)", "tests/node_modules/@huggingface/gguf missing: run from the repo root after: cd tests && npm ci");
        return;
    }
    const char *desc = tpath("desc.json");
    FILE *fp = fopen(desc, "w");
    fputs("{\"files\": [\n", fp);
    int nf = 0;
    for (int i = 0; i < g_n_check; i++) {
        struct gds_gguf *f = gds_gguf_open(g_check_files[i]);
        CHECK(f, "%s: %s", g_check_files[i], gds_last_error());
        if (!f) continue;
        json_file(fp, f, nf++ == 0);
        gds_gguf_close(f);
    }
    fputs("\n]}\n", fp);
    fclose(fp);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "node tests/gguf-check.mjs %s", desc);
    fflush(stdout);
    int rc = system(cmd);
    CHECK(rc == 0, "gguf-check.mjs exit status %d", rc);
    char name[128];
    snprintf(name, sizeof(name), "independent parser (@huggingface/gguf) reads %d files exactly as we do", nf);
    group_end(name);
}

/* ---- main -------------------------------------------------------------------------------- */

static void rm_dir(const char *d) {
    DIR *dir = opendir(d);
    if (!dir) return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[768];
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        unlink(p);
    }
    closedir(dir);
    rmdir(d);
}

int main(int argc, char **argv) {
    bool check_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--corpus") && i + 1 < argc) g_corpus_dir = argv[++i];
        else if (!strcmp(argv[i], "-q")) g_verbose = false;
        else if (!strcmp(argv[i], "--check")) {
            /* test-gguf --check F.gguf...: only compare these files with the independent parser */
            check_only = true;
            for (i++; i < argc; i++) add_check(argv[i]);
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: test-gguf [-q] [--corpus DIR] | --check F.gguf...\n"
                   "  (run from the repo root; --check compares the files with the npm @huggingface/gguf parser)\n");
            return 0;
        }
    }
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/test-gguf-XXXXXX", tmpdir);
    if (!mkdtemp(g_dir)) { printf("cannot create a temp dir: %s\ntest-gguf: 0 passed, 1 failed\n", strerror(errno)); return 1; }
    gds_log_set(quiet_log, NULL); /* expected errors are checked through gds_last_error() */
    if (check_only) {
        test_independent_parser();
        rm_dir(g_dir);
        printf("test-gguf: %d passed, %d failed%s\n", n_pass, n_fail, n_skip ? ", 1 skipped" : "");
        return n_fail ? 1 : 0;
    }

    test_kv_roundtrip();
    test_tensor_roundtrip();
    test_alignments();
    test_fixture();
    test_malformed();
    test_prefixes();
    test_open_errors();
    test_writer_errors();
    test_writer_disk_full();
    if (g_corpus_dir) {
        /* the writer-made files as seeds too (all < 4 KiB) */
        const char *seeds[] = { "kv.gguf", "kv-align8.gguf" };
        for (size_t i = 0; i < 2; i++) {
            size_t n = 0;
            uint8_t *b = read_all(tpath(seeds[i]), &n);
            if (b) { char tag[64]; snprintf(tag, sizeof(tag), "valid-%.*s", (int)(strlen(seeds[i]) - 5), seeds[i]); corpus_add(tag, b, n); }
            free(b);
        }
        printf("    wrote %d seed files to %s\n", g_corpus_n, g_corpus_dir);
    }
    test_independent_parser();

    for (int i = 0; i < g_ntd; i++) free(g_td[i].data);
    rm_dir(g_dir);
    printf("test-gguf: %d passed, %d failed", n_pass, n_fail);
    if (n_skip) printf(", %d skipped", n_skip);
    printf("\n");
    return n_fail ? 1 : 0;
}
