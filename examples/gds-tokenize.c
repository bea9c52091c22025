/*
 * gds-tokenize - encode or decode JSON lines with a model's tokenizer.
 *
 *   gds-tokenize (-m MODEL.gguf | --hf-tokenizer tokenizer.json) --jsonl IN.jsonl [--decode]
 *   gds-tokenize (-m MODEL.gguf | --hf-tokenizer tokenizer.json) -p TEXT [--decode]
 *
 * Encode: every input line {"text": "..."} gives one output line {"ids":[...]},
 * in order, with no special tokens added; added tokens written literally in the
 * text (e.g. "<｜User｜>") are matched as single tokens (--no-parse-special
 * turns that off for control tokens). --decode: every line {"ids":[...]} gives
 * {"text":"..."}. Empty lines are skipped. IN may be "-" for stdin.
 * -p TEXT encodes one text and prints its ids on one line, separated by
 * spaces (what gds-run --prompt-ids takes); with --decode, TEXT is such ids
 * and the decoded bytes are written as they are.
 *
 * Texts must be valid UTF-8 (as in gds-run): invalid bytes are refused with
 * their byte offset, unless --allow-invalid encodes them as byte tokens.
 *
 * Exit status 0 on success, 1 on any error (bad JSON, missing field, invalid
 * UTF-8 in a text, token id out of range), with a message naming the line.
 * Nothing here is library code: this file may exit().
 */
#include "gds-args.h"
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: gds-tokenize (-m MODEL.gguf | --hf-tokenizer tokenizer.json) --jsonl IN.jsonl [options]\n"
        "       gds-tokenize (-m MODEL.gguf | --hf-tokenizer tokenizer.json) -p TEXT [options]\n"
        "\n"
        "Encodes each line {\"text\": ...} of IN.jsonl to one line {\"ids\": [...]} on stdout, or\n"
        "the text of -p to one line of ids separated by spaces (no special tokens added; added\n"
        "tokens written in the text are matched whole). Texts must be valid UTF-8: other bytes\n"
        "are refused with their byte offset (as gds-run does), unless --allow-invalid.\n"
        "\n"
        "  -m, --model FILE        GGUF model whose tokenizer.ggml.* keys to use\n"
        "  --hf-tokenizer FILE     Hugging Face tokenizer.json instead of a model\n"
        "  --jsonl FILE            input, one JSON object per line ('-': stdin)\n"
        "  -p, --prompt TEXT       encode TEXT (with --decode: decode the ids in TEXT)\n"
        "  --decode                input lines are {\"ids\": [...]}; writes {\"text\": ...}\n"
        "  --no-parse-special      do not match control tokens (e.g. <｜end▁of▁sentence｜>) in texts\n"
        "  --allow-invalid         encode invalid UTF-8 bytes as byte tokens instead of failing\n"
        "  --skip-special          with --decode: leave control tokens out\n"
        "  -h, --help              this text\n"
        "  --version               the version\n");
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

/* -p TEXT: one text, ids on one line; with --decode TEXT holds the ids */
static int run_prompt(struct gds_tok *t, const char *text, bool decode, unsigned flags, bool skip_special) {
    int rc = 0;
    if (!decode) {
        struct gds_tok_ids ids = {0};
        if (gds_tok_encode(t, text, strlen(text), flags, &ids) != GDS_OK) {
            fprintf(stderr, "gds-tokenize: -p: %s\n", gds_last_error());
            rc = 1;
        } else {
            for (int64_t k = 0; k < ids.n; k++) printf(k ? " %d" : "%d", ids.ids[k]);
            printf("\n");
        }
        free(ids.ids);
        return rc;
    }
    int32_t *in = malloc(sizeof(int32_t) * (strlen(text) / 2 + 1));
    size_t n = 0;
    const char *p = text;
    while (in && *p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ',') p++;
        if (!*p) break;
        char *end;
        const long v = strtol(p, &end, 10);
        if (end == p || (*end && !strchr(" \t\n,", *end)) || v < 0 || v >= gds_tok_n_vocab(t)) {
            fprintf(stderr, "gds-tokenize: -p: '%.*s' is not a token id of this vocabulary (0..%d)\n", (int)strcspn(p, " \t\n,"), p,
                    gds_tok_n_vocab(t) - 1);
            free(in);
            return 1;
        }
        in[n++] = (int32_t)v;
        p = end;
    }
    struct gds_tok_buf buf = {0};
    if (!in || gds_tok_decode(t, in, (int64_t)n, skip_special ? GDS_TOK_SKIP_SPECIAL : 0, &buf) != GDS_OK) {
        fprintf(stderr, "gds-tokenize: -p: %s\n", in ? gds_last_error() : "out of memory");
        rc = 1;
    } else fwrite(buf.data ? buf.data : "", 1, buf.len, stdout);
    free(in);
    free(buf.data);
    return rc;
}

enum { OPT_HF = 256, OPT_JSONL, OPT_DECODE, OPT_NO_PARSE_SPECIAL, OPT_ALLOW_INVALID, OPT_SKIP_SPECIAL, OPT_VERSION };

static const struct option long_opts[] = {
    { "help", no_argument, NULL, 'h' },           { "model", required_argument, NULL, 'm' },
    { "prompt", required_argument, NULL, 'p' },   { "hf-tokenizer", required_argument, NULL, OPT_HF },
    { "jsonl", required_argument, NULL, OPT_JSONL }, { "decode", no_argument, NULL, OPT_DECODE },
    { "no-parse-special", no_argument, NULL, OPT_NO_PARSE_SPECIAL }, { "allow-invalid", no_argument, NULL, OPT_ALLOW_INVALID },
    { "skip-special", no_argument, NULL, OPT_SKIP_SPECIAL }, { "version", no_argument, NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 },
};

int main(int argc, char **argv) {
    gds_args_prog = "gds-tokenize";
    const char *model = NULL, *hf = NULL, *in = NULL, *prompt = NULL;
    bool decode = false, skip_special = false;
    unsigned flags = GDS_TOK_PARSE_SPECIAL;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hm:p:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("gds-tokenize (ggml-ds) %s\n", GDS_VERSION); return 0;
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case OPT_HF: hf = optarg; break;
        case OPT_JSONL: in = optarg; break;
        case OPT_DECODE: decode = true; break;
        case OPT_NO_PARSE_SPECIAL: flags &= ~(unsigned)GDS_TOK_PARSE_SPECIAL; break;
        case OPT_ALLOW_INVALID: flags |= GDS_TOK_ALLOW_INVALID; break;
        case OPT_SKIP_SPECIAL: skip_special = true; break;
        case ':':
        default:
            return opt_error(argv, c);
        }
    }
    if (optind < argc) { fprintf(stderr, "gds-tokenize: unexpected argument '%s'\ngds-tokenize: see 'gds-tokenize --help'\n", argv[optind]); return 1; }
    if (!model == !hf) { fprintf(stderr, "gds-tokenize: give exactly one of -m MODEL.gguf or --hf-tokenizer tokenizer.json\n"); return 1; }
    if (!in == !prompt) { fprintf(stderr, "gds-tokenize: give exactly one of --jsonl IN.jsonl or -p TEXT\n"); return 1; }

    gds_log_set(quiet_log, NULL);   /* errors are reported below, once, with the line number */
    struct gds_tok *t = model ? gds_tok_load_file(model) : gds_tok_load_hf(hf);
    if (!t) { fprintf(stderr, "gds-tokenize: cannot load the tokenizer: %s\n", gds_last_error()); return 1; }
    if (prompt) {
        const int r = run_prompt(t, prompt, decode, flags, skip_special);
        gds_tok_free(t);
        if (fflush(stdout) != 0) { fprintf(stderr, "gds-tokenize: write error on stdout\n"); return 1; }
        return r;
    }
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
