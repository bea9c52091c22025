/*
 * fuzz-tokenizer.c - libFuzzer target for the byte-level BPE tokenizer
 * (models/tokenizer.c): encode/decode of arbitrary bytes, and the
 * tokenizer.json loader.
 *
 * Build (from the repo root):
 *   mkdir -p build/fuzz && clang -std=c11 -g -O1 -D_GNU_SOURCE \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -Iggml-ds/include -Iggml-ds/src -Imodels tests/fuzz/fuzz-tokenizer.c models/tokenizer.c \
 *     ggml-ds/src/gguf.c ggml-ds/src/gds.c ggml-ds/src/types.c -lpcre2-8 -lcjson -lm -o build/fuzz/fuzz-tokenizer
 * Run from the repo root (a copy of the seeds, as the corpus folder grows):
 *   mkdir -p build/fuzz/run-tokenizer && cp -r tests/fuzz/corpus-tokenizer/. build/fuzz/run-tokenizer/
 *   build/fuzz/fuzz-tokenizer -max_total_time=60 -max_len=8192 -malloc_limit_mb=64 build/fuzz/run-tokenizer
 *
 * Tokenizer: $GDS_FUZZ_TOKENIZER, else tests/fixtures/tiny-a-llamacpp/tokenizer.json
 * (1024 tokens, the DeepSeek-V3 split regexes; run from the repo root). With
 * GDS_FUZZ_TOKENIZER=builtin: a built-in one (the 256 byte symbols, a few
 * merges, one added token, the same regexes). A tokenizer that fails to load
 * stops the run: the target never falls back silently.
 *
 * Input: byte 0 selects the mode, the rest is the payload.
 *   byte 0 == 0x7b ('{'): the whole input is a tokenizer.json; if it loads,
 *     a fixed text must encode and round-trip (loader robustness).
 *   otherwise bit 0: GDS_TOK_PARSE_SPECIAL, bit 1: priority-queue BPE for
 *     every word, bit 2: word cache off. Properties: valid UTF-8 encodes and
 *     decodes back exactly; invalid UTF-8 fails with GDS_ERR_INVALID (never
 *     more); with GDS_TOK_ALLOW_INVALID everything round-trips; the streaming
 *     decoder's pushes + flush equal the full decode, and for valid text every
 *     pushed chunk is valid UTF-8.
 */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

static void quiet(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

static struct gds_tok *g_tok;

/* fallback tokenizer.json, built with cJSON */
static char *builtin_json(void) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    int id = 0, n = 0;
    char s[8];
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        unsigned cp = keep ? (unsigned)b : 256u + (unsigned)n++;
        if (cp < 0x80) { s[0] = (char)cp; s[1] = 0; }
        else { s[0] = (char)(0xC0 | cp >> 6); s[1] = (char)(0x80 | (cp & 0x3F)); s[2] = 0; }
        cJSON_AddNumberToObject(vocab, s, id++);
    }
    static const char *const merges[][2] = { { "\xc4\xa0", "t" }, { "t", "h" }, { "\xc4\xa0t", "h" }, { "e", "r" }, { "i", "n" },
                                             { "\xc4\xa0th", "e" }, { "\xc4\xa0", "\xc4\xa0" }, { "a", "a" }, { "aa", "aa" } };
    cJSON *ml = cJSON_AddArrayToObject(model, "merges");
    for (size_t i = 0; i < sizeof(merges) / sizeof(*merges); i++) {
        char m[32];
        snprintf(m, sizeof(m), "%s%s", merges[i][0], merges[i][1]);
        if (!cJSON_GetObjectItemCaseSensitive(vocab, m)) cJSON_AddNumberToObject(vocab, m, id++);
        snprintf(m, sizeof(m), "%s %s", merges[i][0], merges[i][1]);
        cJSON_AddItemToArray(ml, cJSON_CreateString(m));
    }
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", id);
    cJSON_AddStringToObject(a, "content", "<\xef\xbd\x9cUser\xef\xbd\x9c>");
    cJSON_AddBoolToObject(a, "special", 0);
    cJSON_AddItemToArray(added, a);
    static const char *const re[] = {
        "\\p{N}{1,3}",
        "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
        "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
        " ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    };
    cJSON *pt = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pt, "type", "Sequence");
    cJSON *pl = cJSON_AddArrayToObject(pt, "pretokenizers");
    for (int i = 0; i < 3; i++) {
        cJSON *sp = cJSON_CreateObject();
        cJSON_AddStringToObject(sp, "type", "Split");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(sp, "pattern"), "Regex", re[i]);
        cJSON_AddStringToObject(sp, "behavior", "Isolated");
        cJSON_AddItemToArray(pl, sp);
    }
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    gds_log_set(quiet, NULL);
    const char *p = getenv("GDS_FUZZ_TOKENIZER");
    if (p && !strcmp(p, "builtin")) {
        char *j = builtin_json();
        g_tok = j ? gds_tok_load_hf_buf(j, strlen(j), "builtin") : NULL;
        free(j);
    } else {
        g_tok = gds_tok_load_file(p ? p : "tests/fixtures/tiny-a-llamacpp/tokenizer.json");
    }
    if (!g_tok) { fprintf(stderr, "fuzz-tokenizer: no tokenizer: %s\n", gds_last_error()); abort(); }
    return 0;
}

static void roundtrip(struct gds_tok *t, const char *s, size_t n, unsigned flags, bool valid) {
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf d = {0}, c = {0};
    enum gds_status st = gds_tok_encode(t, s, n, flags, &ids);
    if (!valid && !(flags & GDS_TOK_ALLOW_INVALID)) {
        REQUIRE(st == GDS_ERR_INVALID);
        free(ids.ids);
        return;
    }
    REQUIRE(st == GDS_OK);
    for (int64_t i = 0; i < ids.n; i++) REQUIRE(ids.ids[i] >= 0 && ids.ids[i] < gds_tok_n_vocab(t));
    REQUIRE(gds_tok_decode(t, ids.ids, ids.n, 0, &d) == GDS_OK);
    REQUIRE(d.len == n && (n == 0 || memcmp(d.data, s, n) == 0));
    /* streaming */
    struct gds_tok_stream ss = {0};
    size_t total = 0;
    for (int64_t i = 0; i < ids.n; i++) {
        c.len = 0;
        REQUIRE(gds_tok_stream_push(t, &ss, ids.ids[i], &c) == GDS_OK);
        if (valid) REQUIRE(gds_tok_utf8_check(c.data, c.len) == c.len);
        REQUIRE(total + c.len <= n && (c.len == 0 || memcmp(c.data, s + total, c.len) == 0));
        total += c.len;
    }
    c.len = 0;
    REQUIRE(gds_tok_stream_flush(&ss, &c) == GDS_OK);
    if (valid) REQUIRE(c.len == 0);
    REQUIRE(total + c.len == n && (c.len == 0 || memcmp(c.data, s + total, c.len) == 0));
    free(ids.ids); free(d.data); free(c.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (data[0] == '{') {   /* tokenizer.json loader */
        struct gds_tok *t = gds_tok_load_hf_buf((const char *)data, size, "fuzz.json");
        if (!t) { REQUIRE(gds_last_error()[0] != 0); return 0; }
        static const char txt[] = "Hello, world! 123 \xe4\xbd\xa0\xe5\xa5\xbd <\xef\xbd\x9cUser\xef\xbd\x9c>\n\n  x";
        struct gds_tok_ids ids = {0};
        if (gds_tok_encode(t, txt, sizeof(txt) - 1, GDS_TOK_PARSE_SPECIAL, &ids) == GDS_OK) {
            struct gds_tok_buf d = {0};
            REQUIRE(gds_tok_decode(t, ids.ids, ids.n, 0, &d) == GDS_OK);
            /* no round-trip property here: a hostile vocabulary may lack byte symbols (they are dropped) */
            free(d.data);
        }
        free(ids.ids);
        gds_tok_free(t);
        return 0;
    }
    unsigned sel = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    bool valid = gds_tok_utf8_check(s, n) == n;
    gds_tok_set_debug(g_tok, (sel & 2) ? 0 : 48, !(sel & 4));
    unsigned flags = (sel & 1) ? GDS_TOK_PARSE_SPECIAL : 0;
    roundtrip(g_tok, s, n, flags, valid);
    roundtrip(g_tok, s, n, flags | GDS_TOK_ALLOW_INVALID, valid);
    gds_tok_set_debug(g_tok, 48, true);
    return 0;
}
