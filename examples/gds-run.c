/*
 * gds-run.c - run a DeepSeek-V4 GGUF on token ids.
 *
 *   gds-run -m MODEL.gguf --tokens FILE --logits OUT.f32 [--decode-from P] [--chunk N]
 *   gds-run -m MODEL.gguf --tokens FILE -n 32 [--temp T] [--top-p P] [--top-k K] [--min-p M] [--seed S]
 *
 * Logits mode evaluates the ids of FILE (whitespace- or comma-separated) and
 * writes float32 logits, one row of n_vocab per position (row p predicts token
 * p+1): by default in one prefill, with --chunk N in prefill chunks of N
 * tokens, with --decode-from P by a prefill of tokens 0..P-1 and then one
 * decode step per token. Generation mode prefills the ids and samples -n
 * tokens (printed as ids: the model file may carry no vocabulary). Defaults:
 * temperature 1.0, top-p 1.0 (DeepSeek's recommendation); --temp 0 is greedy.
 * Common: -t THREADS, -c CONTEXT (default: prompt + n, at least 256),
 * --dump (per-node statistics of every graph on stderr, same as GDS_DUMP=1).
 */
#include "deepseek4.h"
#include "sampling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f, const char *argv0) {
    fprintf(f,
            "usage: %s -m MODEL.gguf (--tokens FILE | -p \"ID ID ...\") [options]\n"
            "  --logits OUT.f32     write float32 logits of every position (row p predicts token p+1)\n"
            "  --decode-from P      positions P.. go through the decode path one token at a time\n"
            "  --chunk N            prefill in chunks of N tokens\n"
            "  -n N                 generate N tokens (default 0 with --logits, else 16)\n"
            "  --temp T             temperature (default 1.0; 0 = greedy)\n"
            "  --top-p P            nucleus sampling (default 1.0 = off)\n"
            "  --top-k K            keep the K most likely (default 0 = off)\n"
            "  --min-p M            keep p >= M * p_max (default 0 = off)\n"
            "  --seed S             sampling seed (default 0)\n"
            "  -t THREADS           CPU threads (default: all cores)\n"
            "  -c CONTEXT           context length (default: tokens + n, at least 256)\n"
            "  --bench N            after the prompt, time N decode steps without and N with the head\n"
            "  --dump               per-node statistics of every graph (stderr)\n"
            "  -v                   verbose\n",
            argv0);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ids separated by whitespace or commas */
static int32_t *parse_ids(const char *text, int *n_out) {
    int cap = 64, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "gds-run: bad token id near \"%.16s\"\n", p);
            free(ids);
            return NULL;
        }
        if (n == cap) ids = realloc(ids, sizeof(int32_t) * (size_t)(cap *= 2));
        ids[n++] = (int32_t)v;
        p = end;
    }
    *n_out = n;
    return ids;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

/* evaluates ids[0..n) with logits of every row into out; chunk <= 0: one call */
static enum gds_status eval_logits(struct gds_model *m, struct gds_seq *s, const int32_t *ids, int n, int chunk, int decode_from,
                                   float *out) {
    const int V = gds_model_hparams(m)->n_vocab;
    const int n_pre = decode_from >= 0 && decode_from < n ? decode_from : n;
    const int step = chunk > 0 ? chunk : (n_pre > 0 ? n_pre : 1);
    for (int i = 0; i < n_pre; i += step) {
        const int T = n_pre - i < step ? n_pre - i : step;
        struct gds_eval e = { .tokens = ids + i, .n_tokens = T, .logits_all = out + (size_t)i * V };
        enum gds_status st = gds_model_eval(m, s, &e);
        if (st != GDS_OK) return st;
    }
    if (n_pre < n) {
        struct gds_eval e = { .tokens = ids + n_pre, .n_tokens = n - n_pre, .decode = true, .logits_all = out + (size_t)n_pre * V };
        return gds_model_eval(m, s, &e);
    }
    return GDS_OK;
}

struct gen_timing { double t_start, t_first, t_last; int n; };

static bool print_token(int32_t id, void *user) {
    struct gen_timing *tm = user;
    tm->t_last = now_s();
    if (tm->n++ == 0) tm->t_first = tm->t_last;
    printf("%d ", id);
    fflush(stdout);
    return true;
}

int main(int argc, char **argv) {
    const char *model = NULL, *tokens_path = NULL, *prompt = NULL, *logits_path = NULL;
    int decode_from = -1, chunk = 0, n_predict = -1, n_threads = 0, n_ctx = 0, n_bench = 0;
    bool verbose = false;
    struct gds_sampler_params sp = gds_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const bool has = i + 1 < argc;
#define ARG(s) (!strcmp(a, s) && has)
        if (ARG("-m") || ARG("--model")) model = argv[++i];
        else if (ARG("--tokens")) tokens_path = argv[++i];
        else if (ARG("-p") || ARG("--prompt-ids")) prompt = argv[++i];
        else if (ARG("--logits")) logits_path = argv[++i];
        else if (ARG("--decode-from")) decode_from = atoi(argv[++i]);
        else if (ARG("--chunk")) chunk = atoi(argv[++i]);
        else if (ARG("-n")) n_predict = atoi(argv[++i]);
        else if (ARG("--temp")) sp.temp = strtof(argv[++i], NULL);
        else if (ARG("--top-p")) sp.top_p = strtof(argv[++i], NULL);
        else if (ARG("--top-k")) sp.top_k = atoi(argv[++i]);
        else if (ARG("--min-p")) sp.min_p = strtof(argv[++i], NULL);
        else if (ARG("--seed")) sp.seed = strtoull(argv[++i], NULL, 10);
        else if (ARG("-t")) n_threads = atoi(argv[++i]);
        else if (ARG("-c")) n_ctx = atoi(argv[++i]);
        else if (ARG("--bench")) n_bench = atoi(argv[++i]);
        else if (!strcmp(a, "--dump")) setenv("GDS_DUMP", "1", 1);
        else if (!strcmp(a, "-v")) verbose = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout, argv[0]); return 0; }
        else { fprintf(stderr, "gds-run: unknown or incomplete option '%s'\n", a); usage(stderr, argv[0]); return 1; }
#undef ARG
    }
    if (!model || (!tokens_path && !prompt)) { usage(stderr, argv[0]); return 1; }
    if (n_predict < 0) n_predict = logits_path || n_bench ? 0 : 16;

    char *text = prompt ? strdup(prompt) : read_file(tokens_path);
    if (!text) { fprintf(stderr, "gds-run: cannot read %s\n", tokens_path); return 1; }
    int n_tok = 0;
    int32_t *ids = parse_ids(text, &n_tok);
    free(text);
    if (!ids) return 1;
    if (n_tok == 0) { fprintf(stderr, "gds-run: no token ids\n"); free(ids); return 1; }

    double t0 = now_s();
    struct gds_model *m = gds_model_load(model, &(struct gds_model_params){ .n_threads = n_threads, .verbose = verbose });
    if (!m) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); free(ids); return 1; }
    const struct gds_ds4_hparams *hp = gds_model_hparams(m);
    if (verbose) fprintf(stderr, "gds-run: loaded in %.2f s\n", now_s() - t0);
    if (n_ctx <= 0) n_ctx = n_tok + n_predict + 2 * n_bench < 256 ? 256 : n_tok + n_predict + 2 * n_bench;
    struct gds_seq *s = gds_seq_new(m, n_ctx);
    if (!s) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); gds_model_free(m); free(ids); return 1; }
    if (verbose)
        fprintf(stderr, "gds-run: context %d, state %.1f MiB, KV %.1f B/token (compact layout)\n", n_ctx, gds_seq_bytes(s) / 1048576.0,
                gds_model_kv_bytes_per_token(m));

    int rc = 0;
    if (logits_path) {
        float *out = malloc(sizeof(float) * (size_t)n_tok * hp->n_vocab);
        t0 = now_s();
        enum gds_status st = eval_logits(m, s, ids, n_tok, chunk, decode_from, out);
        const double dt = now_s() - t0;
        if (st != GDS_OK) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); rc = 1; }
        else {
            FILE *f = fopen(logits_path, "wb");
            if (!f || fwrite(out, sizeof(float) * hp->n_vocab, (size_t)n_tok, f) != (size_t)n_tok) {
                fprintf(stderr, "gds-run: cannot write %s\n", logits_path);
                rc = 1;
            }
            if (f && fclose(f) != 0) rc = 1;
            fprintf(stderr, "gds-run: %d positions in %.3f s (%.2f ms/token)\n", n_tok, dt, 1e3 * dt / n_tok);
        }
        free(out);
    }
    if (rc == 0 && n_bench > 0) {
        /* prompt, then decode steps: layers only (no head), then with the head */
        float *lg = malloc(sizeof(float) * (size_t)hp->n_vocab);
        struct gds_eval e = { .tokens = ids, .n_tokens = n_tok };
        t0 = now_s();
        enum gds_status st = gds_model_eval(m, s, &e);
        const double t_pre = now_s() - t0;
        double t_layers = 0, t_head = 0;
        for (int i = 0; i < 2 * n_bench && st == GDS_OK; i++) {
            int32_t id = ids[i % n_tok];
            e = (struct gds_eval){ .tokens = &id, .n_tokens = 1, .decode = true, .logits = i < n_bench ? NULL : lg };
            const double t1 = now_s();
            st = gds_model_eval(m, s, &e);
            *(i < n_bench ? &t_layers : &t_head) += now_s() - t1;
        }
        if (st != GDS_OK) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); rc = 1; }
        else {
            const double ml = 1e3 * t_layers / n_bench, mh = 1e3 * t_head / n_bench;
            fprintf(stderr, "gds-run: bench: prefill %d tokens %.3f s (%.2f ms/token); decode %.2f ms/token without head = %.2f ms/layer; "
                            "with head %.2f ms/token (head %.2f ms)\n", n_tok, t_pre, 1e3 * t_pre / n_tok, ml, ml / hp->n_layer, mh, mh - ml);
        }
        free(lg);
        gds_seq_reset(s);
    }
    if (rc == 0 && n_predict > 0) {
        struct gds_sampler *smp = gds_sampler_new(&sp, hp->n_vocab);
        if (!smp) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); gds_seq_free(s); gds_model_free(m); free(ids); return 1; }
        if (logits_path) gds_seq_reset(s);
        struct gen_timing tm = { .t_start = now_s() };
        int n = gds_generate(m, s, ids, n_tok, false, n_predict, smp, hp->eos_id, print_token, &tm);
        printf("\n");
        if (n < 0) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); rc = 1; }
        else {
            fprintf(stderr, "gds-run: prompt %d tokens: %.3f s (%.2f ms/token)\n", n_tok, tm.t_first - tm.t_start,
                    1e3 * (tm.t_first - tm.t_start) / n_tok);
            if (n > 1) {
                const double ms = 1e3 * (tm.t_last - tm.t_first) / (n - 1);
                fprintf(stderr, "gds-run: decode %d tokens: %.2f ms/token, %.2f ms/layer (%d layers, head included)\n", n - 1, ms,
                        ms / hp->n_layer, hp->n_layer);
            }
        }
        gds_sampler_free(smp);
    }
    gds_seq_free(s);
    gds_model_free(m);
    free(ids);
    return rc;
}
