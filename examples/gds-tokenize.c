/*
 * gds-tokenize - encode or decode JSON lines with a model's tokenizer.
 *
 *   gds-tokenize (-m MODEL.gguf | --hf-tokenizer tokenizer.json) --jsonl IN.jsonl [--decode]
 *
 * Encode: every input line {"text": "..."} gives one output line {"ids":[...]},
 * in order, with no special tokens added; added tokens written literally in the
 * text (e.g. "<｜User｜>") are matched as single tokens (--no-parse-special
 * turns that off for control tokens). --decode: every line {"ids":[...]} gives
 * {"text":"..."}. Empty lines are skipped. IN may be "-" for stdin.
 *
 * Exit status 0 on success, 1 on any error (bad JSON, missing field, invalid
 * UTF-8 in a text, token id out of range), with a message naming the line.
 * Nothing here is library code: this file may exit().
 */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: gds-tokenize (-m MODEL.gguf | --hf-tokenizer tokenizer.json) --jsonl IN.jsonl [options]\n"
        "\n"
        "Encodes each line {\"text\": ...} of IN.jsonl to one line {\"ids\": [...]} on stdout\n"
        "(no special tokens added; added tokens written in the text are matched whole).\n"
        "\n"
        "  -m, --model FILE        GGUF model whose tokenizer.ggml.* keys to use\n"
        "  --hf-tokenizer FILE     Hugging Face tokenizer.json instead of a model\n"
        "  --jsonl FILE            input, one JSON object per line ('-': stdin)\n"
        "  --decode                input lines are {\"ids\": [...]}; writes {\"text\": ...}\n"
        "  --no-parse-special      do not match control tokens (e.g. <｜end▁of▁sentence｜>) in texts\n"
        "  --allow-invalid         encode invalid UTF-8 bytes as byte tokens instead of failing\n"
        "  --skip-special          with --decode: leave control tokens out\n"
        "  -h, --help              this text\n");
}

static void quiet_log(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

static void die(const char *fmt, const char *a, long line) {
    fprintf(stderr, "gds-tokenize: ");
    fprintf(stderr, fmt, a, line);
    fprintf(stderr, "\n");
    exit(1);
}

/* JSON string body for s[0..n) (valid UTF-8 expected; invalid bytes -> U+FFFD) */
static void put_json_string(FILE *o, const char *s, size_t n, bool *replaced) {
    fputc('"', o);
    size_t i = 0;
    while (i < n) {
        size_t v = gds_tok_utf8_check(s + i, n - i);
        for (size_t k = i; k < i + v; k++) {
            unsigned char c = (unsigned char)s[k];
            switch (c) {
            case '"': fputs("\\\"", o); break;
            case '\\': fputs("\\\\", o); break;
            case '\n': fputs("\\n", o); break;
            case '\r': fputs("\\r", o); break;
            case '\t': fputs("\\t", o); break;
            case '\b': fputs("\\b", o); break;
            case '\f': fputs("\\f", o); break;
            default:
                if (c < 0x20 || c == 0x7f) fprintf(o, "\\u%04x", c);
                else fputc(c, o);
            }
        }
        i += v;
        if (i < n) { fputs("\xef\xbf\xbd", o); i++; *replaced = true; }
    }
    fputc('"', o);
}

int main(int argc, char **argv) {
    const char *model = NULL, *hf = NULL, *in = NULL;
    bool decode = false, skip_special = false;
    unsigned flags = GDS_TOK_PARSE_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define ARG() (i + 1 < argc ? argv[++i] : (die("option %s needs a value", a, 0), (char *)NULL))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = ARG();
        else if (!strcmp(a, "--hf-tokenizer")) hf = ARG();
        else if (!strcmp(a, "--jsonl")) in = ARG();
        else if (!strcmp(a, "--decode")) decode = true;
        else if (!strcmp(a, "--no-parse-special")) flags &= ~(unsigned)GDS_TOK_PARSE_SPECIAL;
        else if (!strcmp(a, "--allow-invalid")) flags |= GDS_TOK_ALLOW_INVALID;
        else if (!strcmp(a, "--skip-special")) skip_special = true;
        else { fprintf(stderr, "gds-tokenize: unknown option '%s'\n\n", a); usage(stderr); return 1; }
#undef ARG
    }
    if (!model == !hf) { fprintf(stderr, "gds-tokenize: give exactly one of -m MODEL.gguf or --hf-tokenizer tokenizer.json\n\n"); usage(stderr); return 1; }
    if (!in) { fprintf(stderr, "gds-tokenize: --jsonl IN.jsonl is required\n\n"); usage(stderr); return 1; }

    gds_log_set(quiet_log, NULL);   /* errors are reported below, once, with the line number */
    struct gds_tok *t = model ? gds_tok_load_file(model) : gds_tok_load_hf(hf);
    if (!t) { fprintf(stderr, "gds-tokenize: cannot load the tokenizer: %s\n", gds_last_error()); return 1; }
    FILE *f = strcmp(in, "-") ? fopen(in, "rb") : stdin;
    if (!f) { perror(in); gds_tok_free(t); return 1; }

    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    long lineno = 0;
    int rc = 0;
    struct gds_tok_ids ids = {0};
    struct gds_tok_buf buf = {0};
    int32_t *in_ids = NULL;
    size_t in_cap = 0;
    bool replaced = false;
    while ((ll = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)ll;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        size_t sp = 0;
        while (sp < n && (line[sp] == ' ' || line[sp] == '\t')) sp++;
        if (sp == n) continue;
        cJSON *j = cJSON_ParseWithLength(line, n);
        if (!cJSON_IsObject(j)) {
            fprintf(stderr, "gds-tokenize: %s:%ld: invalid JSON (expected an object per line)\n", in, lineno);
            cJSON_Delete(j); rc = 1; break;
        }
        if (!decode) {
            const cJSON *txt = cJSON_GetObjectItemCaseSensitive(j, "text");
            if (!cJSON_IsString(txt)) {
                fprintf(stderr, "gds-tokenize: %s:%ld: field \"text\" is missing or not a string\n", in, lineno);
                cJSON_Delete(j); rc = 1; break;
            }
            /* cJSON ends strings at NUL: a \u0000 escape would silently cut the text */
            if (memmem(line, n, "\\u0000", 6)) {
                fprintf(stderr, "gds-tokenize: %s:%ld: NUL characters (\\u0000) in \"text\" are not supported\n", in, lineno);
                cJSON_Delete(j); rc = 1; break;
            }
            ids.n = 0;
            if (gds_tok_encode(t, txt->valuestring, strlen(txt->valuestring), flags, &ids) != GDS_OK) {
                fprintf(stderr, "gds-tokenize: %s:%ld: %s\n", in, lineno, gds_last_error());
                cJSON_Delete(j); rc = 1; break;
            }
            fputs("{\"ids\":[", stdout);
            for (int64_t k = 0; k < ids.n; k++) printf(k ? ",%d" : "%d", ids.ids[k]);
            fputs("]}\n", stdout);
        } else {
            const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "ids");
            if (!cJSON_IsArray(arr)) {
                fprintf(stderr, "gds-tokenize: %s:%ld: field \"ids\" is missing or not an array\n", in, lineno);
                cJSON_Delete(j); rc = 1; break;
            }
            size_t k = 0, m = (size_t)cJSON_GetArraySize(arr);
            if (m > in_cap) { in_cap = m; in_ids = realloc(in_ids, in_cap * sizeof(*in_ids)); if (!in_ids) die("%s out of memory", "", lineno); }
            for (const cJSON *e = arr->child; e; e = e->next) {
                double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
                if (!(v >= 0 && v < gds_tok_n_vocab(t)) || v != (double)(int32_t)v) {
                    fprintf(stderr, "gds-tokenize: %s:%ld: ids[%zu] is not a token id of this vocabulary (0..%d)\n", in, lineno, k, gds_tok_n_vocab(t) - 1);
                    rc = 1; break;
                }
                in_ids[k++] = (int32_t)v;
            }
            if (rc) { cJSON_Delete(j); break; }
            buf.len = 0;
            if (gds_tok_decode(t, in_ids, (int64_t)k, skip_special ? GDS_TOK_SKIP_SPECIAL : 0, &buf) != GDS_OK) {
                fprintf(stderr, "gds-tokenize: %s:%ld: %s\n", in, lineno, gds_last_error());
                cJSON_Delete(j); rc = 1; break;
            }
            fputs("{\"text\":", stdout);
            put_json_string(stdout, buf.data, buf.len, &replaced);
            fputs("}\n", stdout);
        }
        cJSON_Delete(j);
    }
    if (!rc && ferror(f)) { fprintf(stderr, "gds-tokenize: %s: read error\n", in); rc = 1; }
    if (replaced) fprintf(stderr, "gds-tokenize: warning: some decoded texts are not valid UTF-8; the bad bytes were written as U+FFFD\n");
    if (fflush(stdout) != 0) { fprintf(stderr, "gds-tokenize: write error on stdout\n"); rc = 1; }
    if (f != stdin) fclose(f);
    free(line); free(ids.ids); free(buf.data); free(in_ids);
    gds_tok_free(t);
    return rc;
}
