/*
 * test-tokenizer.c - byte-level BPE tokenizer (models/tokenizer.c) against
 * independent golden ids, from tokenizer.json and from converted GGUFs.
 *
 *   build/bin/test-tokenizer [--fixtures DIR] [--gguf V3TOK.gguf] [--corpus-share K]
 *
 * Checks:
 *   - every case of DIR/tokenizer/cases.jsonl (ids from @lenml/tokenizers, an
 *     independent port of HF tokenizers) encodes exactly, and decodes back to
 *     the text, with the DeepSeek-V3 tokenizer.json; the same with the word
 *     cache off and the priority-queue BPE forced (the two merge loops agree);
 *   - a large corpus (DIR/tokenizer-corpus.txt.gz, 2.4 MB of source code,
 *     prose in ~60 languages, numbers, whitespace, emoji, mixed scripts, plus
 *     a seeded section of vocabulary tokens) against the ids that
 *     @huggingface/tokenizers (DIR/../tok-encode.mjs, run here with node)
 *     computes from the same tokenizer.json, with each of our two merge loops;
 *     the reference also reproduces cases.jsonl; prints the distinct merges
 *     the corpus applies (>= 30,000 required, by the real text alone too;
 *     --corpus-share K checks every K-th chunk only). Without node or the npm
 *     package: SKIP (round trip and merge count only), or FAIL with CI=true;
 *   - the same from a GGUF that gds-convert wrote with that tokenizer
 *     (--synthetic tiny-a:vocab=129280,layers=1 --tokenizer-dir DIR/tokenizer;
 *     the converter is run here unless --gguf is given; $BUILD/bin/gds-convert);
 *   - a llama.cpp-written GGUF (tiny-a-llamacpp, tokenizer.ggml.pre = joyai-llm,
 *     no regex key) gives the same ids as its tokenizer.json, and the
 *     built-in DeepSeek-V3 rule list equals the tokenizer.json regexes;
 *   - special tokens (parse_special on/off, skip on decode), invalid UTF-8
 *     (error with the offset; lossless byte fallback with ALLOW_INVALID),
 *     streaming decode (never splits a character, equals the full decode),
 *     long words, load errors;
 *   - throughput (MB/s, one core) on mixed text: specs, C sources, cases.
 * Ends with "test-tokenizer: N passed, M failed".
 */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static int n_pass, n_fail;

#define CHECK(cond, ...) do { \
    if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

static void quiet_log(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; *len = (size_t)n; }
    return b;
}

struct tcase { char *text; size_t len; int32_t *ids; int64_t n; };

static int load_cases(const char *path, struct tcase **out) {
    size_t len;
    char *txt = read_all(path, &len);
    if (!txt) return -1;
    int n = 0, cap = 0;
    struct tcase *c = NULL;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text"), *ids = cJSON_GetObjectItemCaseSensitive(j, "ids");
        if (!cJSON_IsString(t) || !cJSON_IsArray(ids)) { cJSON_Delete(j); continue; }
        if (n == cap) { cap = cap ? cap * 2 : 256; c = realloc(c, (size_t)cap * sizeof(*c)); }
        c[n].text = strdup(t->valuestring);
        c[n].len = strlen(t->valuestring);
        c[n].n = cJSON_GetArraySize(ids);
        c[n].ids = malloc(sizeof(int32_t) * (size_t)(c[n].n + 1));
        int64_t k = 0;
        for (const cJSON *e = ids->child; e; e = e->next) c[n].ids[k++] = (int32_t)e->valuedouble;
        n++;
        cJSON_Delete(j);
    }
    free(txt);
    *out = c;
    return n;
}

static bool utf8_ok(const char *s, size_t n) { return gds_tok_utf8_check(s, n) == n; }

/* all cases: exact ids, decode == text, streaming decode == text in whole characters */
static void check_cases(const char *what, struct gds_tok *t, const struct tcase *c, int nc) {
    int bad_enc = 0, bad_dec = 0, bad_stream = 0;
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf b = {0}, all = {0};
    for (int i = 0; i < nc; i++) {
        ids.n = 0;
        enum gds_status st = gds_tok_encode(t, c[i].text, c[i].len, GDS_TOK_PARSE_SPECIAL, &ids);
        bool ok = st == GDS_OK && ids.n == c[i].n && memcmp(ids.ids, c[i].ids, sizeof(int32_t) * (size_t)c[i].n) == 0;
        if (!ok && bad_enc++ < 3) {
            printf("  %s case %d: text \"%s\"\n   got:", what, i, c[i].text);
            for (int64_t k = 0; k < ids.n && k < 40; k++) printf(" %d", ids.ids[k]);
            printf("\n  want:");
            for (int64_t k = 0; k < c[i].n && k < 40; k++) printf(" %d", c[i].ids[k]);
            printf("\n");
        }
        b.len = 0;
        st = gds_tok_decode(t, c[i].ids, c[i].n, 0, &b);
        if (st != GDS_OK || b.len != c[i].len || memcmp(b.data, c[i].text, b.len) != 0) bad_dec++;
        struct gds_tok_stream s = {0};
        all.len = 0;
        bool sok = true;
        for (int64_t k = 0; k < c[i].n; k++) {
            b.len = 0;
            if (gds_tok_stream_push(t, &s, c[i].ids[k], &b) != GDS_OK || !utf8_ok(b.data, b.len)) sok = false;
            if (b.len) { all.data = realloc(all.data, all.len + b.len + 1); memcpy(all.data + all.len, b.data, b.len); all.len += b.len; }
        }
        b.len = 0;
        gds_tok_stream_flush(&s, &b);
        if (b.len) sok = false;   /* valid text: nothing may be left over */
        if (!sok || all.len != c[i].len || memcmp(all.data, c[i].text, all.len) != 0) bad_stream++;
    }
    CHECK(bad_enc == 0, "%s: %d of %d cases encode differently", what, bad_enc, nc);
    CHECK(bad_dec == 0, "%s: %d of %d cases do not decode back to the text", what, bad_dec, nc);
    CHECK(bad_stream == 0, "%s: %d of %d cases: streaming decode differs or splits a character", what, bad_stream, nc);
    printf("  %s: %d cases: %d encode mismatches, %d decode mismatches, %d stream mismatches\n", what, nc, bad_enc, bad_dec, bad_stream);
    free(ids.ids); free(b.data); free(all.data);
}

/* ids of a with tokenizer t1 == ids with t2, for every case text */
static void check_same(const char *what, struct gds_tok *t1, struct gds_tok *t2, const struct tcase *c, int nc) {
    int bad = 0;
    struct gds_tok_ids a = {0}, b = {0};
    for (int i = 0; i < nc; i++) {
        a.n = b.n = 0;
        gds_tok_encode(t1, c[i].text, c[i].len, GDS_TOK_PARSE_SPECIAL, &a);
        gds_tok_encode(t2, c[i].text, c[i].len, GDS_TOK_PARSE_SPECIAL, &b);
        if (a.n != b.n || memcmp(a.ids, b.ids, sizeof(int32_t) * (size_t)a.n) != 0) bad++;
    }
    CHECK(bad == 0, "%s: %d of %d texts differ", what, bad, nc);
    free(a.ids); free(b.ids);
}

static void test_invalid_utf8(struct gds_tok *t) {
    static const struct { const char *s; size_t n, off; } bad[] = {
        { "\xff", 1, 0 }, { "ab\xc3", 3, 2 }, { "\xed\xa0\x80x", 4, 0 }, { "x\xc0\xaf", 3, 1 },
        { "\xf4\x90\x80\x80", 4, 0 }, { "\xe2\x82", 2, 0 }, { "ok\x80ok", 5, 2 }, { "\xf0\x9f\x98", 3, 0 },
        { "<\xef\xbd\x9cUser\xef\xbd\x9c>\xfe", 13, 12 },
    };
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf b = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        CHECK(gds_tok_utf8_check(bad[i].s, bad[i].n) == bad[i].off, "utf8_check case %zu", i);
        ids.n = 0;
        enum gds_status st = gds_tok_encode(t, bad[i].s, bad[i].n, 0, &ids);
        CHECK(st == GDS_ERR_INVALID && strstr(gds_last_error(), "invalid UTF-8"), "invalid UTF-8 case %zu accepted (status %d)", i, st);
        ids.n = 0;
        st = gds_tok_encode(t, bad[i].s, bad[i].n, GDS_TOK_ALLOW_INVALID | GDS_TOK_PARSE_SPECIAL, &ids);
        b.len = 0;
        gds_tok_decode(t, ids.ids, ids.n, 0, &b);
        CHECK(st == GDS_OK && b.len == bad[i].n && memcmp(b.data, bad[i].s, b.len) == 0, "byte fallback round trip, case %zu", i);
        /* streaming: pushes + flush == decode, even for invalid bytes */
        struct gds_tok_stream s = {0};
        size_t total = 0;
        char acc[64];
        bool ok = true;
        for (int64_t k = 0; k < ids.n; k++) {
            b.len = 0;
            ok &= gds_tok_stream_push(t, &s, ids.ids[k], &b) == GDS_OK;
            if (total + b.len <= sizeof(acc)) memcpy(acc + total, b.data, b.len);
            total += b.len;
        }
        b.len = 0;
        gds_tok_stream_flush(&s, &b);
        if (total + b.len <= sizeof(acc)) memcpy(acc + total, b.data, b.len);
        total += b.len;
        CHECK(ok && total == bad[i].n && memcmp(acc, bad[i].s, total) == 0, "stream of invalid bytes, case %zu", i);
    }
    /* an empty text gives no ids */
    ids.n = 0;
    CHECK(gds_tok_encode(t, "", 0, 0, &ids) == GDS_OK && ids.n == 0, "empty text");
    free(ids.ids); free(b.data);
}

static void test_stream_split(struct gds_tok *t) {
    /* every byte of a 4-byte emoji as its own token: nothing comes out until it is complete */
    const char *e = "\xf0\x9f\x98\x80";   /* 😀 */
    struct gds_tok_stream s = {0};
    struct gds_tok_buf b = {0};
    int32_t ids[4];
    bool have = true;
    for (int i = 0; i < 4; i++) {
        struct gds_tok_ids one = {0};
        gds_tok_encode(t, e + i, 1, GDS_TOK_ALLOW_INVALID, &one);
        have &= one.n == 1;
        ids[i] = one.n ? one.ids[0] : 0;
        free(one.ids);
    }
    CHECK(have, "single-byte tokens for the bytes of an emoji");
    size_t lens[4];
    for (int i = 0; i < 4; i++) { b.len = 0; gds_tok_stream_push(t, &s, ids[i], &b); lens[i] = b.len; }
    CHECK(lens[0] == 0 && lens[1] == 0 && lens[2] == 0 && lens[3] == 4 && memcmp(b.data, e, 4) == 0,
          "stream holds an incomplete character (%zu %zu %zu %zu)", lens[0], lens[1], lens[2], lens[3]);
    /* a held prefix followed by ASCII: the prefix is released as is */
    b.len = 0;
    gds_tok_stream_push(t, &s, ids[0], &b);
    int32_t a = gds_tok_find(t, "a");
    gds_tok_stream_push(t, &s, a, &b);
    CHECK(b.len == 2 && (uint8_t)b.data[0] == 0xf0 && b.data[1] == 'a' && s.n_pend == 0, "broken prefix released");
    free(b.data);
}

static void test_special(struct gds_tok *t) {
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf b = {0};
    const char *txt = "<｜end▁of▁sentence｜>hi<｜User｜>";
    gds_tok_encode(t, txt, strlen(txt), GDS_TOK_PARSE_SPECIAL, &ids);
    CHECK(ids.n >= 3 && ids.ids[0] == 1 && ids.ids[ids.n - 1] == 128803, "special tokens matched whole");
    ids.n = 0;
    gds_tok_encode(t, txt, strlen(txt), 0, &ids);
    bool has1 = false;
    for (int64_t i = 0; i < ids.n; i++) has1 |= ids.ids[i] == 1;
    CHECK(!has1 && ids.n > 3 && ids.ids[ids.n - 1] == 128803, "without parse_special: control token split, user-defined still whole");
    gds_tok_decode(t, ids.ids, ids.n, 0, &b);
    CHECK(b.len == strlen(txt) && memcmp(b.data, txt, b.len) == 0, "control token text round trip without parse_special");
    int32_t x[3] = { 1, gds_tok_find(t, "hi"), 1 };
    b.len = 0;
    gds_tok_decode(t, x, 3, GDS_TOK_SKIP_SPECIAL, &b);
    CHECK(x[1] >= 0 && b.len == 2 && memcmp(b.data, "hi", 2) == 0, "skip special on decode");
    CHECK(gds_tok_find(t, "<｜User｜>") == 128803 && gds_tok_token_type(t, 1) == GDS_TOK_TYPE_CONTROL &&
          gds_tok_token_type(t, 128803) == GDS_TOK_TYPE_USER_DEFINED, "find / token types");
    int32_t oob = gds_tok_n_vocab(t);
    CHECK(gds_tok_decode(t, &oob, 1, 0, &b) == GDS_ERR_INVALID, "decode rejects an out-of-range id");
    free(ids.ids); free(b.data);
}

/* long words: priority-queue BPE == rank-array BPE, and round trips */
static void test_long_words(struct gds_tok *t) {
    size_t n = 20000;
    char *s = malloc(n + 1);
    const char *pat[] = { "a", " ", "ab", "\n", "xyz", "é", "的", "0" };
    struct gds_tok_ids a = {0}, b = {0};
    struct gds_tok_buf d = {0};
    int bad = 0;
    for (size_t p = 0; p < sizeof(pat) / sizeof(*pat); p++) {
        size_t o = 0, pl = strlen(pat[p]);
        while (o + pl <= n) { memcpy(s + o, pat[p], pl); o += pl; }
        a.n = b.n = 0;
        gds_tok_set_debug(t, 0, false);
        gds_tok_encode(t, s, o, 0, &a);
        gds_tok_set_debug(t, 1 << 30, false);
        gds_tok_encode(t, s, o, 0, &b);
        gds_tok_set_debug(t, 48, true);
        d.len = 0;
        gds_tok_decode(t, a.ids, a.n, 0, &d);
        if (a.n != b.n || memcmp(a.ids, b.ids, sizeof(int32_t) * (size_t)a.n) != 0 || d.len != o || memcmp(d.data, s, o) != 0) {
            bad++;
            printf("  long word '%s': heap %lld ids, simple %lld ids\n", pat[p], (long long)a.n, (long long)b.n);
        }
    }
    /* pseudo-random mixed text through both loops */
    uint64_t r = 12345;
    const char *alpha[] = { "a", "b", "th", "e", " ", "  ", "\n", "1", "23", ".", ",", "é", "中", "😀", "\t", "-", "Ġ", "x" };
    size_t o = 0;
    while (o < n - 8) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *c = alpha[(r >> 33) % (sizeof(alpha) / sizeof(*alpha))];
        memcpy(s + o, c, strlen(c));
        o += strlen(c);
    }
    a.n = b.n = 0;
    gds_tok_set_debug(t, 0, false);
    gds_tok_encode(t, s, o, 0, &a);
    gds_tok_set_debug(t, 1 << 30, false);
    gds_tok_encode(t, s, o, 0, &b);
    gds_tok_set_debug(t, 48, true);
    d.len = 0;
    gds_tok_decode(t, a.ids, a.n, 0, &d);
    if (a.n != b.n || memcmp(a.ids, b.ids, sizeof(int32_t) * (size_t)a.n) != 0 || d.len != o || memcmp(d.data, s, o) != 0) bad++;
    CHECK(bad == 0, "long words: %d mismatches between heap and rank-array BPE or round trip", bad);
    free(s); free(a.ids); free(b.ids); free(d.data);
}

static void test_load_errors(const char *fix) {
    gds_log_set(quiet_log, NULL);
    CHECK(!gds_tok_load_file("/nonexistent/tokenizer.json") && strstr(gds_last_error(), "cannot read"), "missing file");
    CHECK(!gds_tok_load_hf_buf("{\"model\": ", 10, "x.json") && strstr(gds_last_error(), "invalid JSON"), "invalid JSON");
    const char *uni = "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}";
    CHECK(!gds_tok_load_hf_buf(uni, strlen(uni), "x.json") && strstr(gds_last_error(), "BPE"), "non-BPE model");
    const char *bre = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                      "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}";
    CHECK(!gds_tok_load_hf_buf(bre, strlen(bre), "x.json") && strstr(gds_last_error(), "regex"), "bad regex");
    const char *bid = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-4},\"merges\":[]}}";
    CHECK(!gds_tok_load_hf_buf(bid, strlen(bid), "x.json") && strstr(gds_last_error(), "valid id"), "negative id");
    const char *nrm = "{\"normalizer\":{\"type\":\"NFC\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    CHECK(!gds_tok_load_hf_buf(nrm, strlen(nrm), "x.json") && strstr(gds_last_error(), "normalizer"), "normalizer refused");
    /* the tiny-a sidecar without a tokenizer would need a conversion; a GGUF
     * that is no GGUF at all must fail cleanly */
    char p[4096];
    snprintf(p, sizeof(p), "%s/tokenizer/cases.jsonl", fix);
    CHECK(!gds_tok_load_file(p), "a non-GGUF file is refused");
    gds_log_set(NULL, NULL);
}

/* gds-convert a tokenizer-less checkpoint: the loader must say there is no vocabulary */
static void test_no_vocab(const char *conv, const char *fix, const char *dir) {
    char cmd[16384], out[4200];
    snprintf(out, sizeof(out), "%s/novocab.gguf", dir);
    snprintf(cmd, sizeof(cmd), "'%s' '%s/tiny-a' -o '%s' >/dev/null 2>&1", conv, fix, out);
    int rc = system(cmd); /* the converter exists (the caller checked): a failed conversion is a failure */
    CHECK(rc == 0, "no-vocabulary check: conversion failed: %s", cmd);
    if (rc != 0) return;
    gds_log_set(quiet_log, NULL);
    struct gds_tok *t = gds_tok_load_file(out);
    CHECK(!t && strstr(gds_last_error(), "no vocabulary"), "GGUF without tokenizer keys: clear error");
    gds_log_set(NULL, NULL);
    gds_tok_free(t);
    unlink(out);
}

/* gds-tokenize: output lines == the cases' ids; --decode gives the texts back; bad input exits 1 */
static void test_tool(const char *tool, const char *model_opt, const char *fix, const char *dir, const struct tcase *c, int nc) {
    char cmd[16384], enc[4200], dec[4200];
    snprintf(enc, sizeof(enc), "%s/enc.jsonl", dir);
    snprintf(dec, sizeof(dec), "%s/dec.jsonl", dir);
    snprintf(cmd, sizeof(cmd), "'%s' %s --jsonl '%s/tokenizer/cases.jsonl' > '%s' && '%s' %s --decode --jsonl '%s' > '%s'",
             tool, model_opt, fix, enc, tool, model_opt, enc, dec);
    CHECK(system(cmd) == 0, "gds-tokenize failed: %s", cmd);
    size_t len;
    char *txt = read_all(enc, &len);
    int bad = 0, k = 0;
    for (char *line = txt ? strtok(txt, "\n") : NULL; line; line = strtok(NULL, "\n"), k++) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "ids");
        bool ok = k < nc && cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == c[k].n;
        int64_t q = 0;
        for (const cJSON *x = ok ? ids->child : NULL; x; x = x->next, q++) ok &= (int32_t)x->valuedouble == c[k].ids[q];
        bad += !ok;
        cJSON_Delete(j);
    }
    free(txt);
    CHECK(k == nc && bad == 0, "gds-tokenize %s: %d lines, %d differ from cases.jsonl", model_opt, k, bad);
    txt = read_all(dec, &len);
    k = bad = 0;
    for (char *line = txt ? strtok(txt, "\n") : NULL; line; line = strtok(NULL, "\n"), k++) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
        bad += !(k < nc && cJSON_IsString(t) && strcmp(t->valuestring, c[k].text) == 0);
        cJSON_Delete(j);
    }
    free(txt);
    CHECK(k == nc && bad == 0, "gds-tokenize %s --decode: %d lines, %d differ from the texts", model_opt, k, bad);
    /* malformed input: exit status 1 and a message, never a crash */
    static const char *const bad_in[] = {
        "{\"text\": \"a\xff\"}", "{\"text\": 5}", "{\"text\": \"ab", "[1,2]", "{\"text\": \"a\\u0000b\"}",
    };
    char inp[4200];
    snprintf(inp, sizeof(inp), "%s/bad.jsonl", dir);
    for (size_t i = 0; i < sizeof(bad_in) / sizeof(*bad_in); i++) {
        FILE *f = fopen(inp, "wb");
        fprintf(f, "%s\n", bad_in[i]);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "'%s' %s --jsonl '%s' >/dev/null 2>&1", tool, model_opt, inp);
        int rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "gds-tokenize on bad input %zu: status %d", i, rc);
    }
    static const char *const bad_ids[] = { "{\"ids\": [1, 99999999]}", "{\"ids\": [-1]}", "{\"ids\": [1.5]}", "{\"ids\": \"x\"}" };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(*bad_ids); i++) {
        FILE *f = fopen(inp, "wb");
        fprintf(f, "%s\n", bad_ids[i]);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "'%s' %s --decode --jsonl '%s' >/dev/null 2>&1", tool, model_opt, inp);
        int rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "gds-tokenize --decode on bad ids %zu: status %d", i, rc);
    }
    unlink(enc); unlink(dec); unlink(inp);
}

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) { while (*len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 1 << 20; *buf = realloc(*buf, *cap); }
    memcpy(*buf + *len, s, n);
    *len += n;
}

static void throughput(const char *tok_json, const char *fix, const struct tcase *c, int nc) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    const char *globs[] = { "*.md", "convert/*.md", "ggml-ds/src/*.c", "ggml-ds/include/*.h",
                            "backends/cpu/*.c", "convert/*.c", "tests/*.c", "models/*.c" };
    (void)fix;
    for (size_t g = 0; g < sizeof(globs) / sizeof(*globs); g++) {
        glob_t gl;
        if (glob(globs[g], 0, NULL, &gl) != 0) continue;
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            size_t n;
            char *s = read_all(gl.gl_pathv[i], &n);
            if (s && gds_tok_utf8_check(s, n) == n) append(&buf, &len, &cap, s, n);
            free(s);
        }
        globfree(&gl);
    }
    for (int i = 0; i < nc; i++) append(&buf, &len, &cap, c[i].text, c[i].len);
    if (len < (1u << 20)) { printf("SKIP throughput: only %zu bytes of text found\n", len); free(buf); return; }
    /* best of 3 fresh tokenizers (the machine may be shared): cold cache, warm, no cache */
    double cold = 1e9, warm = 1e9, nocache = 1e9, dect = 1e9;
    int64_t n_ids = 0;
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf d = {0};
    for (int rep = 0; rep < 3; rep++) {
        struct gds_tok *t = gds_tok_load_hf(tok_json);
        if (!t) { free(buf); return; }
        ids.n = 0;
        double t0 = now_s();
        gds_tok_encode(t, buf, len, GDS_TOK_PARSE_SPECIAL, &ids);
        double t1 = now_s();
        n_ids = ids.n;
        ids.n = 0;
        gds_tok_encode(t, buf, len, GDS_TOK_PARSE_SPECIAL, &ids);
        double t2 = now_s();
        gds_tok_set_debug(t, 48, false);
        ids.n = 0;
        gds_tok_encode(t, buf, len, GDS_TOK_PARSE_SPECIAL, &ids);
        double t3 = now_s();
        d.len = 0;
        gds_tok_decode(t, ids.ids, ids.n, 0, &d);
        double t4 = now_s();
        if (t1 - t0 < cold) cold = t1 - t0;
        if (t2 - t1 < warm) warm = t2 - t1;
        if (t3 - t2 < nocache) nocache = t3 - t2;
        if (t4 - t3 < dect) dect = t4 - t3;
        gds_tok_free(t);
    }
    double mb = (double)len / 1e6;
    printf("throughput (one core, %.2f MB of mixed text, %.2f bytes/token): encode %.1f MB/s cold cache, %.1f MB/s warm, "
           "%.1f MB/s without word cache; decode %.0f MB/s\n",
           mb, (double)len / (double)n_ids, mb / cold, mb / warm, mb / nocache, mb / dect);
    CHECK(d.len == len && memcmp(d.data, buf, len) == 0, "mixed corpus round trip");
    free(ids.ids); free(d.data); free(buf);
}

/* ---------------------------------------------------------------------------
 * Large corpus against an independent implementation
 *
 * fixtures/tokenizer-corpus.txt.gz (built once by tests/tok-corpus.mjs from
 * this repository's sources, /usr/share/common-licenses, translated gettext
 * catalogs and man pages, and seeded numbers / whitespace / emoji / mixed-
 * script text; documents separated by NUL, each starting "@@ CATEGORY NAME")
 * plus a seeded section made here from the vocabulary itself (every normal
 * token whose bytes are valid UTF-8, shuffled, in short runs), cut into
 * chunks of about 4 KB at line ends. tests/tok-encode.mjs encodes the chunks
 * with @huggingface/tokenizers (tests/package-lock.json) from the same
 * tokenizer.json; our ids must equal them chunk by chunk, and decode back.
 *
 * Distinct merges applied: every token of the output is replayed alone
 * through BPE with the ranks read here from tokenizer.json (inside a word,
 * the merges that build a final token involve only its own symbols, in rank
 * order, so replaying it alone gives the same merges).
 * ------------------------------------------------------------------------- */

struct chunk { const char *text; size_t len; int cat; const char *doc; };   /* doc: its document ("@@" line), NULL: generated */

/* CAT_CASES: the texts of cases.jsonl, one chunk each, so the reference is checked against @lenml's ids too */
enum { CAT_CODE, CAT_LICENSE, CAT_PROSE, CAT_MAN, CAT_NUMBERS, CAT_SPACES, CAT_EMOJI, CAT_MIXED, CAT_VOCAB, CAT_CASES, CAT_COUNT };
static const char *const cat_name[CAT_COUNT] = { "code", "license", "prose", "man", "numbers", "spaces", "emoji", "mixed", "vocab", "cases" };

static int cat_of(const char *doc, size_t n) {
    for (int c = 0; c < CAT_VOCAB; c++) {
        size_t l = strlen(cat_name[c]);
        if (n > 3 + l && !memcmp(doc, "@@ ", 3) && !memcmp(doc + 3, cat_name[c], l) && (doc[3 + l] == ' ' || doc[3 + l] == '-')) return c;
    }
    return -1;
}

/* cut text[0..n) into chunks of at least `target` bytes ending after a '\n' (the last may be shorter) */
static void add_chunks(struct chunk **ch, int *nch, int *cap, const char *text, size_t n, int cat, size_t target, const char *doc) {
    size_t o = 0;
    do {   /* an empty text is one empty chunk */
        size_t e = target < n - o ? o + target : n;
        while (e < n && text[e - 1] != '\n') e++;
        if (*nch == *cap) { *cap = *cap ? *cap * 2 : 1024; *ch = realloc(*ch, (size_t)*cap * sizeof(**ch)); }
        (*ch)[(*nch)++] = (struct chunk){ text + o, e - o, cat, doc };
        o = e;
    } while (o < n);
}

/* (left id, right id) -> rank, merged id: from tokenizer.json, open addressing */
struct merge_tab { uint64_t *key; int32_t *rank, *res; size_t mask; int32_t n; };

static size_t mt_slot(const struct merge_tab *m, uint64_t k) {
    size_t h = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 20) & m->mask;
    while (m->key[h] != UINT64_MAX && m->key[h] != k) h = (h + 1) & m->mask;
    return h;
}

static int32_t find_n(struct gds_tok *t, const char *s, size_t n) {
    char buf[1024];
    if (n >= sizeof(buf)) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return gds_tok_find(t, buf);
}

static bool merge_tab_load(struct merge_tab *m, struct gds_tok *t, const char *tok_json) {
    size_t len;
    char *txt = read_all(tok_json, &len);
    cJSON *j = txt ? cJSON_ParseWithLength(txt, len) : NULL;
    free(txt);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) { cJSON_Delete(j); return false; }
    int n = cJSON_GetArraySize(merges);
    size_t cap = 1;
    while (cap < 2 * (size_t)n) cap <<= 1;
    m->key = malloc(cap * sizeof(uint64_t));
    m->rank = malloc(cap * sizeof(int32_t));
    m->res = malloc(cap * sizeof(int32_t));
    memset(m->key, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    m->n = n;
    int32_t r = 0;
    bool ok = true;
    for (const cJSON *e = merges->child; e; e = e->next, r++) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp) { ok = false; break; }
            a = e->valuestring; al = (size_t)(sp - a); b = sp + 1; bl = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2) {
            a = cJSON_GetArrayItem(e, 0)->valuestring; b = cJSON_GetArrayItem(e, 1)->valuestring;
            if (!a || !b) { ok = false; break; }
            al = strlen(a); bl = strlen(b);
        } else { ok = false; break; }
        char ab[1024];
        if (al + bl >= sizeof(ab)) { ok = false; break; }
        memcpy(ab, a, al); memcpy(ab + al, b, bl);
        int32_t ia = find_n(t, a, al), ib = find_n(t, b, bl), im = find_n(t, ab, al + bl);
        if (ia < 0 || ib < 0 || im < 0) continue;   /* not in the vocabulary: never applies */
        size_t h = mt_slot(m, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib);
        if (m->key[h] != UINT64_MAX) continue;        /* a duplicate pair keeps its first rank */
        m->key[h] = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
        m->rank[h] = r;
        m->res[h] = im;
    }
    cJSON_Delete(j);
    return ok;
}

static void merge_tab_free(struct merge_tab *m) { free(m->key); free(m->rank); free(m->res); }

/* replays BPE on token id's own characters, marking the ranks used; false if
 * it does not end as that single token */
static bool replay_token(const struct merge_tab *m, struct gds_tok *t, int32_t id, uint8_t *used) {
    const char *s = gds_tok_token_str(t, id);
    int32_t sym[512];
    int n = 0;
    for (size_t o = 0, l = strlen(s); o < l && n < 512; n++) {
        size_t cl = 1;
        while (o + cl < l && ((uint8_t)s[o + cl] & 0xc0) == 0x80) cl++;
        sym[n] = find_n(t, s + o, cl);
        if (sym[n] < 0) return false;
        o += cl;
    }
    for (;;) {
        int best = -1;
        int32_t br = INT32_MAX, bm = -1;
        for (int i = 0; i + 1 < n; i++) {
            size_t h = mt_slot(m, (uint64_t)(uint32_t)sym[i] << 32 | (uint32_t)sym[i + 1]);
            if (m->key[h] != UINT64_MAX && m->rank[h] < br) { br = m->rank[h]; bm = m->res[h]; best = i; }
        }
        if (best < 0) break;
        used[br] = 1;
        sym[best] = bm;
        memmove(sym + best + 1, sym + best + 2, sizeof(int32_t) * (size_t)(n - best - 2));
        n--;
    }
    return n == 1 && sym[0] == id;
}

/* control characters and bytes outside valid UTF-8 as escapes (the log stays text for grep) */
static void print_escaped(const char *s, size_t n) {
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= valid && (valid = i + gds_tok_utf8_check(s + i, n - i)) == i) { printf("\\x%02x", c); valid = 0; continue; }
        if (c == '\n') printf("\\n"); else if (c == '\r') printf("\\r"); else if (c == '\t') printf("\\t");
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c); else putchar(c);
    }
}

/* the first differing id of a chunk, with the text around it; a one-line
 * summary in where[] for the FAIL message */
static void report_mismatch(struct gds_tok *t, const struct chunk *c, int ci, const int32_t *got, int64_t ng, const int32_t *want, int64_t nw,
                            char *where, size_t where_size) {
    int64_t k = 0;
    while (k < ng && k < nw && got[k] == want[k]) k++;
    size_t off = 0, pl;
    for (int64_t i = 0; i < k; i++) { gds_tok_piece(t, got[i], &pl); off += pl; }
    const char *nl = c->doc ? strchr(c->doc, '\n') : NULL;
    int dl = c->doc && nl ? (int)(nl - c->doc) : 0;
    if (where[0] == 0)
        snprintf(where, where_size, "first: chunk %d (%.*s%s), byte %zu of the chunk, our id %d, reference id %d",
                 ci, dl > 200 ? 200 : dl, c->doc ? c->doc : "", c->doc ? "" : "vocabulary section", off,
                 k < ng ? got[k] : -1, k < nw ? want[k] : -1);
    printf("  corpus chunk %d (%s, document \"", ci, cat_name[c->cat]);
    if (c->doc) print_escaped(c->doc, nl ? (size_t)(nl - c->doc) : 0);
    else printf("generated vocabulary section");
    printf("\" from its byte %zu): first difference at id %lld of %lld/%lld, chunk byte %zu\n   text: \"",
           c->doc ? (size_t)(c->text - c->doc) : 0, (long long)k, (long long)ng, (long long)nw, off);
    size_t a = off > 40 ? off - 40 : 0;
    while (a > 0 && ((uint8_t)c->text[a] & 0xc0) == 0x80) a--;
    size_t b = off + 40 < c->len ? off + 40 : c->len;
    while (b < c->len && ((uint8_t)c->text[b] & 0xc0) == 0x80) b++;
    print_escaped(c->text + a, off - a); printf("⟦"); print_escaped(c->text + off, b - off); printf("\"\n");
    const char *who[2] = { "   ours:", "   want:" };
    const int32_t *v[2] = { got, want };
    int64_t nv[2] = { ng, nw };
    for (int w = 0; w < 2; w++) {
        printf("%s", who[w]);
        for (int64_t i = k > 2 ? k - 2 : 0; i < nv[w] && i < k + 6; i++) {
            const char *p = gds_tok_piece(t, v[w][i], &pl);
            printf(" %d\"", v[w][i]);
            if (p) print_escaped(p, pl);
            printf("\"");
        }
        printf("\n");
    }
}

/* seeded runs of vocabulary tokens: each token's text, separated so that most
 * become pieces of their own */
static char *vocab_section(struct gds_tok *t, size_t *len) {
    int32_t nv = gds_tok_n_vocab(t), n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)nv);
    for (int32_t i = 0; i < nv; i++) {
        size_t pl;
        const char *p = gds_tok_piece(t, i, &pl);
        if (gds_tok_token_type(t, i) == GDS_TOK_TYPE_NORMAL && p && pl > 1 && utf8_ok(p, pl) && !memchr(p, 0, pl)) ids[n++] = i;
    }
    uint64_t r = 0x5eed70c;
    for (int32_t i = n - 1; i > 0; i--) {   /* Fisher-Yates */
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        int32_t j = (int32_t)((r >> 33) % (uint64_t)(i + 1)), x = ids[i];
        ids[i] = ids[j]; ids[j] = x;
    }
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = gds_tok_piece(t, ids[i], &pl);
        append(&buf, len, &cap, p, pl);
        append(&buf, len, &cap, "\n", 1);
    }
    free(ids);
    return buf;
}

/* share: every k-th chunk (1 = all) */
static void test_corpus(struct gds_tok *t, const char *fix, const char *tok_json, int share, const struct tcase *cases, int ncases) {
    bool ci = getenv("CI") && !strcmp(getenv("CI"), "true");
    char tmpdir[] = "/tmp/test-tokenizer-corpus-XXXXXX", cmd[16384], raw[4200], in[4200], out[4200];
    if (!mkdtemp(tmpdir)) { CHECK(0, "corpus: mkdtemp failed"); return; }
    snprintf(raw, sizeof(raw), "%s/corpus.txt", tmpdir);
    snprintf(in, sizeof(in), "%s/chunks.txt", tmpdir);
    snprintf(out, sizeof(out), "%s/ids.bin", tmpdir);
    snprintf(cmd, sizeof(cmd), "gzip -dc '%s/tokenizer-corpus.txt.gz' > '%s'", fix, raw);
    size_t rlen = 0, vlen = 0;
    char *corp = system(cmd) == 0 ? read_all(raw, &rlen) : NULL;
    CHECK(corp && rlen > 1000000 && utf8_ok(corp, rlen), "corpus: cannot read %s/tokenizer-corpus.txt.gz (%zu bytes)", fix, rlen);
    if (!corp) goto done;
    char *voc = vocab_section(t, &vlen);

    /* chunks: documents of the file, then the vocabulary section */
    struct chunk *ch = NULL;
    int nch = 0, cap = 0, n_docs = 0;
    for (size_t o = 0; o < rlen; ) {
        const char *z = memchr(corp + o, 0, rlen - o);
        size_t e = z ? (size_t)(z - corp) : rlen;
        int c = cat_of(corp + o, e - o);
        CHECK(c >= 0, "corpus: document at byte %zu has no known \"@@ CATEGORY\" line", o);
        if (c >= 0) add_chunks(&ch, &nch, &cap, corp + o, e - o, c, 4096, corp + o);
        n_docs++;
        o = e + 1;
    }
    add_chunks(&ch, &nch, &cap, voc, vlen, CAT_VOCAB, 4096, NULL);
    if (share > 1) {
        int k = 0;
        for (int i = 0; i < nch; i += share) ch[k++] = ch[i];
        nch = k;
    }
    int first_case = nch;
    for (int i = 0; i < ncases; i++) add_chunks(&ch, &nch, &cap, cases[i].text, cases[i].len, CAT_CASES, SIZE_MAX, NULL);
    FILE *f = fopen(in, "wb");
    for (int i = 0; f && i < nch; i++) { if (i) fputc(0, f); fwrite(ch[i].text, 1, ch[i].len, f); }
    if (f) fclose(f);

    /* the reference ids; without them, the round trip and the merge count still run */
    bool have_ref = false;
    double t_js = 0;
    size_t blen = 0;
    char *bin = NULL;
    if (system("node --version >/dev/null 2>&1") != 0) {
        if (ci) CHECK(0, "corpus: node is not installed (CI=true: a missing tool is a failure)");
        else printf("SKIP corpus vs @huggingface/tokenizers: node is not installed (round trip and merge count only)\n");
    } else {
        snprintf(cmd, sizeof(cmd), "node '%s/../tok-encode.mjs' '%s' '%s' '%s'", fix, tok_json, in, out);
        double t0 = now_s();
        int rc = system(cmd);
        t_js = now_s() - t0;
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) {
            if (ci) CHECK(0, "corpus: @huggingface/tokenizers is not installed (npm ci in tests/; CI=true: a failure)");
            else printf("SKIP corpus vs @huggingface/tokenizers: the npm package is not installed (npm ci in tests/; "
                        "round trip and merge count only)\n");
        } else {
            CHECK(rc == 0, "corpus: %s failed (status %d)", cmd, rc);
            bin = rc == 0 ? read_all(out, &blen) : NULL;
            have_ref = bin != NULL;
        }
    }

    /* the reference ids: per chunk, n then n ids */
    int32_t *ref = malloc(blen + 4), **want = calloc((size_t)nch, sizeof(int32_t *)), *nwant = calloc((size_t)nch, sizeof(int32_t));
    if (have_ref) {
        memcpy(ref, bin, blen);
        size_t bo = 0, nref = blen / 4;
        bool short_bin = false;
        for (int i = 0; i < nch; i++) {
            if (bo >= nref || ref[bo] < 0 || bo + 1 + (size_t)ref[bo] > nref) { short_bin = true; break; }
            nwant[i] = ref[bo];
            want[i] = ref + bo + 1;
            bo += 1 + (size_t)ref[bo];
        }
        CHECK(!short_bin && bo * 4 == blen, "corpus: the reference output (%zu bytes) does not match the %d chunks", blen, nch);
        have_ref = !short_bin;
    }

    /* ours vs the reference, chunk by chunk, with the default merge loops and
     * word cache, then with each merge loop alone and no cache; decode back */
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf d = {0};
    uint8_t *seen = calloc((size_t)gds_tok_n_vocab(t), 1);
    size_t bytes[CAT_COUNT] = {0};
    int64_t n_tok = 0;
    int bad = 0, bad_dec = 0, bad_loop[2] = {0};
    char where[400] = "";
    double t_enc = 0;
    for (int i = 0; i < nch; i++) {
        ids.n = 0;
        double t0 = now_s();
        enum gds_status st = gds_tok_encode(t, ch[i].text, ch[i].len, GDS_TOK_PARSE_SPECIAL, &ids);
        t_enc += now_s() - t0;
        if (st != GDS_OK || (have_ref && (ids.n != nwant[i] || memcmp(ids.ids, want[i], 4 * (size_t)nwant[i]) != 0)))
            if (bad++ < 3) report_mismatch(t, &ch[i], i, ids.ids, ids.n, want[i], nwant[i], where, sizeof(where));
        d.len = 0;
        if (gds_tok_decode(t, ids.ids, ids.n, 0, &d) != GDS_OK || d.len != ch[i].len || memcmp(d.data, ch[i].text, d.len) != 0) bad_dec++;
        for (int64_t k = 0; k < ids.n; k++) seen[ids.ids[k]] |= (uint8_t)(ch[i].cat < CAT_VOCAB ? 1 : 2);
        bytes[ch[i].cat] += ch[i].len;
        n_tok += ids.n;
    }
    for (int loop = 0; loop < 2 && have_ref; loop++) {
        gds_tok_set_debug(t, loop == 0 ? 0 : 1 << 30, false);   /* heap BPE for every word / rank-array BPE for every word */
        for (int i = 0; i < nch; i++) {
            ids.n = 0;
            enum gds_status st = gds_tok_encode(t, ch[i].text, ch[i].len, GDS_TOK_PARSE_SPECIAL, &ids);
            if (st != GDS_OK || ids.n != nwant[i] || memcmp(ids.ids, want[i], 4 * (size_t)nwant[i]) != 0)
                if (bad_loop[loop]++ < 1 && bad == 0) report_mismatch(t, &ch[i], i, ids.ids, ids.n, want[i], nwant[i], where, sizeof(where));
        }
    }
    gds_tok_set_debug(t, 48, true);
    /* the reference against the third implementation (cases.jsonl, @lenml/tokenizers) */
    int bad_cases = 0;
    for (int i = first_case; i < nch && have_ref; i++) {
        const struct tcase *c = &cases[i - first_case];
        bad_cases += !(nwant[i] == c->n && memcmp(want[i], c->ids, 4 * (size_t)c->n) == 0);
    }
    if (have_ref) {
        CHECK(bad_cases == 0, "corpus: @huggingface/tokenizers differs from cases.jsonl (@lenml/tokenizers) on %d of %d cases", bad_cases, ncases);
        printf("  @huggingface/tokenizers vs cases.jsonl (@lenml/tokenizers): %d of %d cases differ\n", bad_cases, ncases);
    }
    CHECK(bad == 0, "corpus: %d of %d chunks encode differently from @huggingface/tokenizers; %s", bad, nch, where);
    CHECK(bad_loop[0] == 0, "corpus, heap BPE for every word, no cache: %d of %d chunks differ; %s", bad_loop[0], nch, where);
    CHECK(bad_loop[1] == 0, "corpus, rank-array BPE for every word, no cache: %d of %d chunks differ; %s", bad_loop[1], nch, where);
    CHECK(bad_dec == 0, "corpus: %d of %d chunks do not decode back to the text", bad_dec, nch);
    size_t total = 0, text_bytes = 0;
    for (int c = 0; c < CAT_COUNT; c++) total += bytes[c];
    text_bytes = total - bytes[CAT_VOCAB] - bytes[CAT_CASES];
    printf("  corpus %s: %d chunks (%d documents of tokenizer-corpus.txt.gz%s, the vocabulary section, %d cases), %zu bytes, %lld tokens, ",
           have_ref ? "vs @huggingface/tokenizers" : "(no reference ids)", nch, n_docs, share > 1 ? " (every k-th chunk)" : "", ncases,
           total, (long long)n_tok);
    if (have_ref) printf("%d chunks differ (%d, %d with heap / rank-array BPE alone), node %.1f s, ", bad, bad_loop[0], bad_loop[1], t_js);
    printf("%d do not decode back; ours %.2f s (%.1f MB/s)\n", bad_dec, t_enc, (double)total / 1e6 / (t_enc > 0 ? t_enc : 1e-9));
    printf("  corpus bytes by source:");
    for (int c = 0; c < CAT_COUNT; c++) printf(" %s %zu (%.1f%%)", cat_name[c], bytes[c], 100.0 * (double)bytes[c] / (double)(total ? total : 1));
    printf("\n");
    if (share == 1) CHECK(text_bytes >= 1000000, "corpus: only %zu bytes of real text", text_bytes);

    /* distinct merges applied */
    struct merge_tab m = {0};
    if (merge_tab_load(&m, t, tok_json)) {
        uint8_t *used_text = calloc((size_t)m.n, 1), *used_all = calloc((size_t)m.n, 1);
        int not_standalone = 0;
        for (int32_t id = 0; id < gds_tok_n_vocab(t); id++) {
            if (!seen[id] || gds_tok_token_type(t, id) != GDS_TOK_TYPE_NORMAL) continue;
            not_standalone += !replay_token(&m, t, id, used_all);
            if (seen[id] & 1) replay_token(&m, t, id, used_text);
        }
        int n_text = 0, n_all = 0, n_first = 0;
        for (int32_t r = 0; r < m.n; r++) { n_text += used_text[r]; n_all += used_all[r]; n_first += r < 10000 && used_all[r]; }
        printf("  distinct merges applied: %d of %d (%.1f%%); by the real text alone %d; of the first 10,000 ranks %d; rank 1000 %s\n",
               n_all, m.n, 100.0 * n_all / m.n, n_text, n_first, m.n > 1000 && used_all[1000] ? "applied" : "never applied");
        CHECK(not_standalone == 0, "corpus: %d output tokens are not rebuilt by BPE on their own characters", not_standalone);
        if (share == 1) CHECK(n_all >= 30000 && n_text >= 30000, "corpus: only %d distinct merges applied, %d by the real text (want >= 30,000)", n_all, n_text);
        free(used_text); free(used_all);
    } else {
        CHECK(0, "corpus: cannot read the merges of %s", tok_json);
    }
    merge_tab_free(&m);
    free(seen); free(ids.ids); free(d.data); free(bin); free(ref); free(want); free(nwant);
    free(ch); free(voc); free(corp);
done:
    unlink(raw); unlink(in); unlink(out);
    rmdir(tmpdir);
}

int main(int argc, char **argv) {
    const char *fix = getenv("GDS_FIXTURES") ? getenv("GDS_FIXTURES") : "tests/fixtures";
    const char *gguf = NULL;
    int corpus_share = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--fixtures") && i + 1 < argc) fix = argv[++i];
        else if (!strcmp(argv[i], "--gguf") && i + 1 < argc) gguf = argv[++i];
        else if (!strcmp(argv[i], "--corpus-share") && i + 1 < argc && atoi(argv[i + 1]) >= 1) corpus_share = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--fixtures DIR] [--gguf V3TOK.gguf] [--corpus-share K]\n", argv[0]); return 2; }
    }
    char path[4096], tok_json[4096];
    snprintf(path, sizeof(path), "%s/tokenizer/cases.jsonl", fix);
    snprintf(tok_json, sizeof(tok_json), "%s/tokenizer/tokenizer.json", fix);
    struct tcase *cases = NULL;
    int nc = load_cases(path, &cases);
    CHECK(nc > 0, "cannot read %s", path);
    if (nc <= 0) { printf("test-tokenizer: %d passed, %d failed\n", n_pass, n_fail); return 1; }

    /* 1. tokenizer.json */
    double t0 = now_s();
    struct gds_tok *hf = gds_tok_load_hf(tok_json);
    printf("  loaded %s in %.2f s\n", tok_json, now_s() - t0);
    CHECK(hf != NULL, "load %s: %s", tok_json, gds_last_error());
    if (!hf) { printf("test-tokenizer: %d passed, %d failed\n", n_pass, n_fail); return 1; }
    CHECK(gds_tok_n_vocab(hf) == 128815 && gds_tok_n_regex(hf) == 3 && gds_tok_bos(hf) == 0 && gds_tok_eos(hf) == 1,
          "V3 tokenizer.json: n_vocab %d, %d regexes, bos %d, eos %d", gds_tok_n_vocab(hf), gds_tok_n_regex(hf), gds_tok_bos(hf), gds_tok_eos(hf));
    check_cases("tokenizer.json", hf, cases, nc);
    gds_tok_set_debug(hf, 0, false);
    check_cases("tokenizer.json, heap BPE, no cache", hf, cases, nc);
    gds_tok_set_debug(hf, 1 << 30, false);
    check_cases("tokenizer.json, rank-array BPE, no cache", hf, cases, nc);
    gds_tok_set_debug(hf, 48, true);
    gds_log_set(quiet_log, NULL);   /* the expected errors below would log */
    test_special(hf);
    test_invalid_utf8(hf);
    test_stream_split(hf);
    test_long_words(hf);
    gds_log_set(NULL, NULL);
    test_corpus(hf, fix, tok_json, corpus_share, cases, nc);

    /* 2. a GGUF written by gds-convert with this tokenizer; gds-tokenize */
    const char *bdir = getenv("BUILD") ? getenv("BUILD") : "build";
    char conv[4096], tool[4096], tmpdir[] = "/tmp/test-tokenizer-XXXXXX", gpath[4200];
    snprintf(conv, sizeof(conv), "%s/bin/gds-convert", bdir);
    snprintf(tool, sizeof(tool), "%s/bin/gds-tokenize", bdir);
    bool have_tmp = mkdtemp(tmpdir) != NULL;
    if (have_tmp && access(tool, X_OK) == 0) {
        char opt[4300];
        snprintf(opt, sizeof(opt), "--hf-tokenizer '%s'", tok_json);
        test_tool(tool, opt, fix, tmpdir, cases, nc);
    } else {
        printf("SKIP gds-tokenize checks: %s not built\n", tool);
    }
    if (!gguf && have_tmp && access(conv, X_OK) == 0) {
        snprintf(gpath, sizeof(gpath), "%s/v3tok.gguf", tmpdir);
        char cmd[16384];
        snprintf(cmd, sizeof(cmd), "'%s' --synthetic tiny-a:vocab=129280,layers=1 --tokenizer-dir '%s/tokenizer' -o '%s' >/dev/null 2>&1",
                 conv, fix, gpath);
        int rc = system(cmd);
        CHECK(rc == 0, "gds-convert with the V3 tokenizer failed: %s", cmd);
        if (rc == 0) gguf = gpath;
    }
    if (gguf) {
        t0 = now_s();
        struct gds_tok *g = gds_tok_load_file(gguf);
        printf("  loaded %s in %.2f s\n", gguf, now_s() - t0);
        CHECK(g != NULL, "load %s: %s", gguf, gds_last_error());
        if (g) {
            CHECK(gds_tok_n_vocab(g) == 129280 && gds_tok_n_regex(g) == 3 && gds_tok_bos(g) == 0 && gds_tok_eos(g) == 1,
                  "GGUF: n_vocab %d, %d regexes, bos %d, eos %d", gds_tok_n_vocab(g), gds_tok_n_regex(g), gds_tok_bos(g), gds_tok_eos(g));
            for (int i = 0; i < 3; i++)
                CHECK(gds_tok_regex(g, i) && !strcmp(gds_tok_regex(g, i), gds_tok_regex(hf, i)), "GGUF regex %d differs", i);
            check_cases("GGUF (gds-convert)", g, cases, nc);
            snprintf(tool, sizeof(tool), "%s/bin/gds-tokenize", bdir);
            if (have_tmp && access(tool, X_OK) == 0) {
                char opt[4300];
                snprintf(opt, sizeof(opt), "-m '%s'", gguf);
                test_tool(tool, opt, fix, tmpdir, cases, nc);
            }
            gds_log_set(quiet_log, NULL);
            test_special(g);
            gds_log_set(NULL, NULL);
            gds_tok_free(g);
        }
    } else {
        printf("SKIP GGUF cases: %s not built (pass --gguf FILE)\n", conv);
    }
    if (have_tmp && access(conv, X_OK) == 0) test_no_vocab(conv, fix, tmpdir);
    if (gguf == gpath) unlink(gpath);
    if (have_tmp) rmdir(tmpdir);

    /* 3. llama.cpp's GGUF (pre = joyai-llm, regexes by name) vs its tokenizer.json */
    char lj[4096], lg[4096];
    snprintf(lj, sizeof(lj), "%s/tiny-a-llamacpp/tokenizer.json", fix);
    snprintf(lg, sizeof(lg), "%s/tiny-a-llamacpp/mtp-tiny-a-F16.gguf", fix);
    struct gds_tok *sj = gds_tok_load_file(lj), *sg = gds_tok_load_file(lg);
    CHECK(sj && sg, "load the tiny-a-llamacpp tokenizer (json %p, gguf %p): %s", (void *)sj, (void *)sg, gds_last_error());
    if (sj && sg) {
        CHECK(gds_tok_n_vocab(sj) == 1024 && gds_tok_n_vocab(sg) == 1024, "tiny vocab sizes");
        for (int i = 0; i < 3; i++)
            CHECK(gds_tok_regex(sg, i) && !strcmp(gds_tok_regex(sg, i), gds_tok_regex(hf, i)),
                  "built-in deepseek-v3 regex %d differs from tokenizer.json's", i);
        check_same("tiny: llama.cpp GGUF (joyai-llm) vs tokenizer.json", sj, sg, cases, nc);
        struct gds_tok_ids ids = {0};
        struct gds_tok_buf b = {0};
        int bad = 0;
        for (int i = 0; i < nc; i++) {
            ids.n = 0; b.len = 0;
            gds_tok_encode(sg, cases[i].text, cases[i].len, GDS_TOK_PARSE_SPECIAL, &ids);
            gds_tok_decode(sg, ids.ids, ids.n, 0, &b);
            if (b.len != cases[i].len || memcmp(b.data, cases[i].text, b.len) != 0) bad++;
        }
        CHECK(bad == 0, "tiny tokenizer: %d round-trip failures", bad);
        free(ids.ids); free(b.data);
    }
    gds_tok_free(sj);
    gds_tok_free(sg);

    test_load_errors(fix);
    gds_tok_free(hf);

    throughput(tok_json, fix, cases, nc);

    for (int i = 0; i < nc; i++) { free(cases[i].text); free(cases[i].ids); }
    free(cases);
    printf("test-tokenizer: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
