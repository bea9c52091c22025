/*
 * gds-run.c - run a DeepSeek-V4 GGUF: chat with it, or run it on token ids.
 *
 *   gds-run -m MODEL.gguf (-p "PROMPT" | -f FILE) [--think none|high|max] [-n N] [sampling]
 *   gds-run -m MODEL.gguf -i [-p "FIRST PROMPT"] [--system TEXT] [--think ...]
 *   gds-run -m MODEL.gguf --raw (-p TEXT | -f FILE) [-n N] [sampling]
 *   gds-run -m FILE.gguf --info
 *   gds-run -m MODEL.gguf --tokens FILE --logits OUT.f32 [--decode-from P] [--chunk N]
 *   gds-run -m MODEL.gguf (--tokens FILE | --prompt-ids "ID ...") -n 32 [sampling]
 *
 * Text modes (the model needs a vocabulary: tokenizer.ggml.* keys). -p is one
 * user turn: the message list goes through the DeepSeek-V4 chat encoder
 * (models/chat.h; --think none = chat mode, high/max = thinking mode with that
 * reasoning effort), the prompt string is tokenized with special tokens
 * parsed, and tokens are sampled until the end-of-sentence id of the GGUF (or
 * -n N tokens, or a full context). Text is streamed to stdout through the
 * tokenizer's streaming decoder (UTF-8 split across tokens is held back). The
 * text is parsed for <think> / </think> as it streams: the thinking part is
 * dim when stdout is a terminal (control characters are shown as U+FFFD
 * there), otherwise it is framed by the lines "[thinking] " and
 * "\n[/thinking]\n"; the tags themselves are not printed. After each answer
 * one line on stderr gives the prompt and generation speed in tokens/s
 * (-v adds the prompt and generated ids; --ignore-eos generates past EOS).
 *
 * -i is a multi-turn chat: one user turn per line of stdin (a "> " prompt when
 * stdin is a terminal; /exit, /quit or end of input quit, /reset forgets the
 * conversation). The conversation is a message list; every turn re-encodes it
 * in full and compares the token ids with those already evaluated into the
 * sequence: when they are a prefix, only the new ids are evaluated (prefix
 * KV reuse), otherwise the sequence is reset and the whole conversation is
 * prefilled again (e.g. in thinking mode, where the encoder drops the
 * reasoning of earlier turns unless --keep-thinking). Ctrl-C (SIGINT) during
 * an answer stops it; the partial answer becomes the assistant message and the
 * prompt returns. Ctrl-C at the prompt quits. With -p alone, Ctrl-C stops the
 * answer, prints the speed line and exits with status 130.
 *
 * Logits mode evaluates the ids of FILE (whitespace- or comma-separated) and
 * writes float32 logits, one row of n_vocab per position (row p predicts token
 * p+1): by default in one prefill, with --chunk N in prefill chunks of N
 * tokens, with --decode-from P by a prefill of tokens 0..P-1 and then one
 * decode step per token. Id generation mode prefills the ids and samples -n
 * tokens (printed as ids: the model file may carry no vocabulary). Defaults:
 * temperature 1.0, top-p 1.0 (DeepSeek's recommendation); --temp 0 is greedy.
 * Common: -t THREADS, -c CONTEXT (ids: prompt + n, at least 256; text: at
 * least 4096, or prompt + n), --dump (per-node statistics of every graph on
 * stderr, same as GDS_DUMP=1).
 *
 * --raw completes BOS + the text (special tokens in it parsed) without the
 * chat template or <think> parsing. --info prints the metadata and tensor
 * table of any GGUF (no model is loaded). In text modes a prefill of more than
 * PROGRESS_MIN new tokens prints its progress on stderr after each chunk.
 *
 * Input checks (issue 8): options go through getopt_long; every number must
 * be the whole option value and in range, and an error names the option and
 * the value (-t at most MAX_THREADS). Prompt text (-p, -f, --system, -i
 * lines) must be valid UTF-8 without NUL: anything else is refused with the
 * byte offset, as gds-tokenize does. The GGUF's general.architecture is
 * checked before anything else, and a context whose state would exceed the
 * machine's memory is refused before it is allocated. Library errors are
 * printed once (the default log sink is replaced). Non-finite logits never
 * reach the sampler: gds_model_eval fails naming the graph node.
 */
#define _POSIX_C_SOURCE 200809L
#include "deepseek4.h"
#include "gds-args.h"
#include "sampling.h"
#include "tokenizer.h"
#include "chat.h"

#include "gds-gguf.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_THREADS = 256,   /* more only waits at the per-node barriers (and overflows OpenMP's stacks near 100,000) */
    PROGRESS_MIN = 1024, /* prefills of more new tokens report their progress */
    PREFILL_CHUNK = 256, /* text modes: tokens per prefill call (Ctrl-C and progress between them) */
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: gds-run -m MODEL.gguf (-p PROMPT | -f FILE) [options]   one user turn, answer streamed\n"
            "       gds-run -m MODEL.gguf -i [-p PROMPT | -f FILE] [options] interactive chat\n"
            "       gds-run -m MODEL.gguf --raw (-p TEXT | -f FILE) [options] plain completion, no chat template\n"
            "       gds-run -m MODEL.gguf (--tokens FILE | --prompt-ids \"ID ID ...\") [options]   token ids\n"
            "       gds-run -m FILE.gguf --info                                metadata and tensors of any GGUF\n"
            "text (the model needs a vocabulary; text must be valid UTF-8 without NUL bytes:\n"
            "other bytes are refused with their byte offset, as gds-tokenize does):\n"
            "  -p, --prompt TEXT      user message (with -i: the first turn)\n"
            "  -f, --file FILE        the prompt from a file (instead of -p)\n"
            "  -i, --interactive      chat: one user turn per input line; /help lists the commands\n"
            "                         (/exit, /quit, /reset); Ctrl-C stops an answer, Ctrl-C at the prompt quits\n"
            "  --raw                  complete the text as it is: BOS + the text (special tokens written in it\n"
            "                         are matched), no chat template, no thinking tags\n"
            "  --think MODE           none (chat mode, default), high or max (thinking mode, reasoning effort)\n"
            "  --keep-thinking        keep the reasoning of earlier turns in the prompt\n"
            "  --system TEXT          system message\n"
            "  --color WHEN           auto (default: when stdout is a terminal), always, never\n"
            "  -n, --n-predict N      stop after N tokens (default -1: at end of sentence or a full context)\n"
            "  --ignore-eos           go on after the end-of-sentence token (its text is shown)\n"
            "token ids:\n"
            "  --tokens FILE          ids separated by whitespace or commas\n"
            "  --prompt-ids IDS       the ids on the command line\n"
            "  --logits OUT.f32       write float32 logits of every position (row p predicts token p+1)\n"
            "  --decode-from P        positions P.. go through the decode path one token at a time\n"
            "  --chunk N              prefill in chunks of N tokens\n"
            "  -n, --n-predict N      generate N tokens (default 0 with --logits, else 16), printed as ids\n"
            "  --bench N              after the prompt, time N decode steps without and N with the head\n"
            "sampling and common:\n"
            "  --temp T               temperature, finite and >= 0 (default 1.0; 0 = greedy)\n"
            "  --top-p P              nucleus sampling, in (0, 1] (default 1.0 = off)\n"
            "  --top-k K              keep the K most likely (default 0 = off)\n"
            "  --min-p M              keep p >= M * p_max, in [0, 1) (default 0 = off)\n"
            "  -s, --seed S           sampling seed, 0 .. 2^64-1 (default 0)\n"
            "  -t, --threads N        CPU threads, 1 .. %d (default: all cores)\n"
            "  --backend NAME         cpu (default) or a backend built in (cuda: make CUDA=1, vulkan:\n"
            "                         make VULKAN=1): weights, state and graphs there\n"
            "  --cpu-moe              with --backend: routed experts stay in host memory, computed by the CPU\n"
            "  --n-cpu-moe N          with --backend: only the first N layers' routed experts on the CPU\n"
            "  -c, --ctx-size N       context length (ids: tokens + n, at least 256; text: at least 4096);\n"
            "                         refused when its state needs more than the machine's memory\n"
            "  -m, --model FILE       the GGUF\n"
            "  --info                 print the metadata and tensor table of the GGUF and exit\n"
            "  --dump                 per-node statistics of every graph (stderr)\n"
            "  -v, --verbose          verbose (text modes: also the prompt and generated ids on stderr)\n"
            "  -h, --help             this text\n"
            "  --version              the version\n"
            NUMA_USAGE
            "Text modes: a long prompt (over %d new tokens) prints its prefill progress on stderr. Non-finite values in\n"
            "the model's output stop the run with an error naming the graph node that produced them.\n",
            MAX_THREADS, PROGRESS_MIN);
}

/* ---- option values: the whole string must be the number ------------------- */

static double parse_double(const char *opt, const char *s, double lo, double hi, bool lo_open) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (!*s || isspace((unsigned char)*s) || *end || end == s) die_value(opt, s, "not a number");
    if (!isfinite(v)) die_value(opt, s, "must be a finite number");
    if (v < lo || v > hi || (lo_open && v == lo)) {
        char msg[96];
        snprintf(msg, sizeof msg, "out of range %s%g, %g]", lo_open ? "(" : "[", lo, hi);
        die_value(opt, s, msg);
    }
    return v;
}

static uint64_t parse_u64(const char *opt, const char *s) {
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s)) die_value(opt, s, "not an unsigned integer");
    const unsigned long long v = strtoull(s, &end, 10);
    if (*end) die_value(opt, s, "not an unsigned integer");
    if (errno == ERANGE) die_value(opt, s, "out of range (0 .. 18446744073709551615)");
    return v;
}

/* first invalid UTF-8 byte or NUL of s[0..n), n if none */
static size_t text_check(const char *s, size_t n) {
    const size_t bad = gds_tok_utf8_check(s, n);
    const char *z = memchr(s, 0, bad);
    return z ? (size_t)(z - s) : bad;
}

/* true for valid UTF-8 without NUL; else a message naming what and the byte offset */
static bool text_ok(const char *what, const char *s, size_t n) {
    const size_t bad = text_check(s, n);
    if (bad == n) return true;
    if (s[bad] == 0) fprintf(stderr, "gds-run: %s: NUL byte in the text at byte %zu (text must be valid UTF-8 without NUL)\n", what, bad);
    else fprintf(stderr, "gds-run: %s: invalid UTF-8 in the text at byte %zu (0x%02x); text must be valid UTF-8\n", what, bad,
                 (unsigned)(unsigned char)s[bad]);
    return false;
}

/* context_fits naming -c when the user gave it, else the prompt + -n that set it */
static bool context_fits_c(const struct gds_model *m, int n_ctx, bool from_c) {
    char what[64];
    if (from_c) snprintf(what, sizeof what, "-c %d", n_ctx);
    else snprintf(what, sizeof what, "prompt + -n");
    return context_fits(m, n_ctx, what, "-c");
}

/* ---- token-id modes ------------------------------------------------------- */

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

/* the whole file, NUL-terminated, its size in *len; NULL with errno set */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) { fclose(f); errno = ENOMEM; return NULL; }
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *q = realloc(buf, cap *= 2);
        if (!q) free(buf);
        buf = q;
    }
    const bool err = ferror(f);
    fclose(f);
    if (err) { free(buf); errno = EIO; return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* the model's architecture (general.architecture) must be deepseek4; the
 * GGUF's own errors (missing file, not a GGUF) are reported here, once */
static bool check_architecture(const char *path) {
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); return false; }
    const int64_t k = gds_gguf_find_key(f, "general.architecture");
    const char *arch = k >= 0 && gds_gguf_kv_type(f, k) == GDS_GGUF_STRING ? gds_gguf_get_str(f, k) : NULL;
    const bool ok = arch && !strcmp(arch, "deepseek4");
    if (!ok && arch)
        fprintf(stderr, "gds-run: %s: the model's architecture is \"%s\" (general.architecture); gds-run runs only \"deepseek4\"\n", path, arch);
    else if (!ok)
        fprintf(stderr, "gds-run: %s: no general.architecture key: not a model file gds-run can run (it runs \"deepseek4\")\n", path);
    gds_gguf_close(f);
    return ok;
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

struct gen_timing { double t_start, t_first, t_last, off_first, off_last; long flt_first, flt_last; int n; };

/* major page faults of the process so far (reads from the file: a model larger than memory) */
static long major_faults(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_majflt : 0;
}

/* seconds this thread has been neither running nor runnable (asleep: waiting
 * for a page read, or for the other threads at a barrier) at wall time now:
 * now - CPU time - run-queue wait (/proc/thread-self/schedstat); with -t 1 the
 * time decode waits for the disk, whatever else loads the CPUs. -1: unknown */
static double off_cpu_s(double now) {
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    unsigned long long run = 0, wait = 0;
    const bool ok = f && fscanf(f, "%llu %llu", &run, &wait) == 2;
    if (f) fclose(f);
    return ok ? now - 1e-9 * (double)(run + wait) : -1;
}

static bool print_token(int32_t id, void *user) {
    struct gen_timing *tm = user;
    tm->t_last = now_s();
    tm->flt_last = major_faults();
    tm->off_last = off_cpu_s(tm->t_last);
    if (tm->n++ == 0) { tm->t_first = tm->t_last; tm->flt_first = tm->flt_last; tm->off_first = tm->off_last; }
    printf("%d ", id);
    fflush(stdout);
    return true;
}

struct opts {
    const char *model, *tokens_path, *prompt_ids, *logits_path, *prompt, *system, *color, *backend;
    int decode_from, chunk, n_predict, n_threads, n_ctx, n_bench, think, n_cpu_moe;
    bool interactive, keep_thinking, verbose, ignore_eos, raw, cpu_moe;
    struct gds_sampler_params sp;
    struct numa_opts numa;
};

static struct gds_model *load_model(const struct opts *o) {
    struct gds_model_params mp = { .n_threads = o->n_threads, .verbose = o->verbose, .backend = o->backend, .cpu_moe = o->cpu_moe,
                                   .n_cpu_moe = o->n_cpu_moe };
    numa_params(&o->numa, &mp);
    return gds_model_load(o->model, &mp);
}

static int run_ids(const struct opts *o) {
    const char *tokens_path = o->tokens_path, *logits_path = o->logits_path;
    const int decode_from = o->decode_from, chunk = o->chunk, n_bench = o->n_bench;
    const bool verbose = o->verbose;
    int n_predict = o->n_predict, n_ctx = o->n_ctx;
    if (n_predict < 0) n_predict = logits_path || n_bench ? 0 : 16;

    size_t len = 0;
    char *text = o->prompt_ids ? strdup(o->prompt_ids) : read_file(tokens_path, &len);
    if (!text) { fprintf(stderr, "gds-run: --tokens %s: cannot read: %s\n", tokens_path, strerror(errno)); return 1; }
    int n_tok = 0;
    int32_t *ids = parse_ids(text, &n_tok);
    free(text);
    if (!ids) return 1;
    if (n_tok == 0) { fprintf(stderr, "gds-run: no token ids\n"); free(ids); return 1; }

    double t0 = now_s();
    struct gds_model *m = load_model(o);
    if (!m) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); free(ids); return 1; }
    const struct gds_ds4_hparams *hp = gds_model_hparams(m);
    if (verbose) fprintf(stderr, "gds-run: loaded in %.2f s\n", now_s() - t0);
    if (n_ctx <= 0) {
        const long long need = (long long)n_tok + n_predict + 2LL * n_bench;
        if (need > INT32_MAX) {
            fprintf(stderr, "gds-run: %d tokens + -n %d%s exceed the largest context (%d tokens)\n", n_tok, n_predict,
                    n_bench ? " + 2 x --bench" : "", INT32_MAX);
            gds_model_free(m); free(ids); return 1;
        }
        n_ctx = need < 256 ? 256 : (int)need;
    }
    if (!context_fits_c(m, n_ctx, o->n_ctx > 0)) { gds_model_free(m); free(ids); return 1; }
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
        struct gds_sampler *smp = gds_sampler_new(&o->sp, hp->n_vocab);
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
                fprintf(stderr, "gds-run: decode %d tokens: %.2f ms/token, %.2f ms/layer (%d layers, head included), %.1f major page "
                                "faults/token, main thread asleep %.2f ms/token\n", n - 1, ms, ms / hp->n_layer, hp->n_layer,
                        (double)(tm.flt_last - tm.flt_first) / (n - 1),
                        tm.off_first >= 0 ? 1e3 * (tm.off_last - tm.off_first) / (n - 1) : -1.0);
            }
        }
        gds_sampler_free(smp);
    }
    gds_seq_free(s);
    if (!numa_finish(m, &o->numa, verbose)) rc = 1;
    gds_model_free(m);
    free(ids);
    return rc;
}

/* ---- text modes: SIGINT ----------------------------------------------------- */

static volatile sig_atomic_t g_interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static void install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking read returns EINTR */
    sigaction(SIGINT, &sa, NULL);
}

/* ---- text modes: output with <think> parsing -------------------------------- */

static const char U_FFFD[] = "\xEF\xBF\xBD";

static void buf_add(struct gds_tok_buf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->data, cap);
        if (!q) { fprintf(stderr, "gds-run: out of memory\n"); abort(); }
        b->data = q;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* Streams an answer: raw decoded text in, display out. The thinking/answer
 * split is made on the raw text; a suffix that may be the start of the tag
 * being looked for is held back until it is decided. */
struct out {
    bool color;                   /* ANSI dim for thinking, control characters as U+FFFD */
    bool raw;                     /* no <think> parsing: the text as it comes */
    bool thinking;                /* current part */
    bool at_line_start;           /* last byte written was '\n' (or nothing written) */
    struct gds_tok_buf hold;      /* undecided bytes (a prefix of the tag) */
    struct gds_tok_buf reasoning; /* raw text of the thinking part(s) */
    struct gds_tok_buf content;   /* raw text of the answer part(s) */
};

static void out_write(struct out *o, const char *p, size_t n) {
    if (!n) return;
    if (!o->color) fwrite(p, 1, n, stdout);
    else {
        size_t i0 = 0;
        for (size_t i = 0; i < n; i++) {
            const unsigned char c = (unsigned char)p[i];
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
                fwrite(p + i0, 1, i - i0, stdout);
                fputs(U_FFFD, stdout);
                i0 = i + 1;
            }
        }
        fwrite(p + i0, 1, n - i0, stdout);
    }
    o->at_line_start = p[n - 1] == '\n';
}

static void out_marker(struct out *o, bool enter_thinking) {
    if (o->color) fputs(enter_thinking ? "\033[2m" : "\033[0m", stdout);
    else if (enter_thinking) { if (!o->at_line_start) fputs("\n", stdout); fputs("[thinking] ", stdout); o->at_line_start = false; }
    else { fputs("\n[/thinking]\n", stdout); o->at_line_start = true; }
}

static void out_begin(struct out *o, bool color, bool thinking, bool raw) {
    memset(o, 0, sizeof(*o));
    o->color = color;
    o->raw = raw;
    o->thinking = thinking;
    o->at_line_start = true;
    if (thinking) out_marker(o, true);
}

static void out_text(struct out *o, const char *p, size_t n) {
    out_write(o, p, n);
    buf_add(o->thinking ? &o->reasoning : &o->content, p, n);
}

static void out_feed(struct out *o, const char *p, size_t n) {
    if (o->raw) { out_text(o, p, n); fflush(stdout); return; }
    buf_add(&o->hold, p, n);
    for (;;) {
        const char *tag = o->thinking ? GDS_CHAT_THINK_END : GDS_CHAT_THINK;
        const size_t tl = strlen(tag);
        const char *h = o->hold.data;
        const size_t hn = o->hold.len;
        size_t pos = hn, keep = 0;
        for (size_t i = 0; i < hn; i++) {
            const size_t m = hn - i < tl ? hn - i : tl;
            if (memcmp(h + i, tag, m) == 0) {
                if (m == tl) pos = i; else keep = hn - i;
                break;
            }
        }
        if (pos < hn) { /* whole tag at pos */
            out_text(o, h, pos);
            o->thinking = !o->thinking;
            out_marker(o, o->thinking);
            memmove(o->hold.data, h + pos + tl, hn - pos - tl);
            o->hold.len = hn - pos - tl;
            continue;
        }
        out_text(o, h, hn - keep);
        memmove(o->hold.data, h + hn - keep, keep);
        o->hold.len = keep;
        break;
    }
    fflush(stdout);
}

static void out_end(struct out *o) {
    out_text(o, o->hold.data ? o->hold.data : "", o->hold.len);
    o->hold.len = 0;
    if (o->color && o->thinking) fputs("\033[0m", stdout);
    fputs("\n", stdout);
    fflush(stdout);
}

static void out_free(struct out *o) {
    free(o->hold.data);
    free(o->reasoning.data);
    free(o->content.data);
}

/* valid UTF-8 without NUL (what the chat encoder accepts): invalid bytes and NUL become U+FFFD */
static char *utf8_clean(const char *s, size_t n) {
    struct gds_tok_buf b = { 0 };
    buf_add(&b, "", 0);
    size_t i = 0;
    while (i < n) {
        size_t ok = i + gds_tok_utf8_check(s + i, n - i);
        const char *z = memchr(s + i, 0, ok - i);
        if (z) ok = (size_t)(z - s);
        buf_add(&b, s + i, ok - i);
        if (ok >= n) break;
        buf_add(&b, U_FFFD, 3);
        i = ok + 1;
    }
    return b.data;
}

/* ---- text modes: the conversation ------------------------------------------ */

struct chat {
    struct gds_model *m;
    const struct gds_ds4_hparams *hp;
    struct gds_seq *s;
    struct gds_tok *tok;
    struct gds_sampler *smp;
    float *logits;
    int n_ctx;
    int32_t eos;
    struct gds_chat_params cp;
    cJSON *messages;           /* the conversation (system, user, assistant, ...) */
    int32_t *seq_ids;          /* ids evaluated into s, in order */
    int n_seq, cap_seq;
    int n_predict;             /* < 0: until EOS / full context */
    bool color, verbose, ignore_eos, interactive;
    bool raw;                  /* --raw: BOS + the text, no messages, no <think> parsing */
};

static void add_message(cJSON *arr, const char *role, const char *content, const char *reasoning) {
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "role", role);
    cJSON_AddStringToObject(msg, "content", content);
    if (reasoning && *reasoning) cJSON_AddStringToObject(msg, "reasoning_content", reasoning);
    cJSON_AddItemToArray(arr, msg);
}

static void drop_last_message(cJSON *arr) {
    const int n = cJSON_GetArraySize(arr);
    if (n > 0) cJSON_DeleteItemFromArray(arr, n - 1);
}

/* the prompt ids of the conversation as it is now (with the generation prompt) */
static int encode_conversation(struct chat *c, struct gds_tok_ids *ids) {
    char err[256];
    size_t len = 0;
    char *prompt = gds_chat_encode(c->messages, &c->cp, &len, err, sizeof(err));
    if (!prompt) { fprintf(stderr, "gds-run: chat encoding: %s\n", err); return -1; }
    ids->n = 0;
    enum gds_status st = gds_tok_encode(c->tok, prompt, len, GDS_TOK_PARSE_SPECIAL, ids);
    free(prompt);
    if (st != GDS_OK) { fprintf(stderr, "gds-run: tokenizer: %s\n", gds_last_error()); return -1; }
    return 0;
}

static void seq_push(struct chat *c, const int32_t *ids, int n) {
    if (c->n_seq + n > c->cap_seq) {
        int cap = c->cap_seq ? c->cap_seq : 1024;
        while (cap < c->n_seq + n) cap *= 2;
        int32_t *q = realloc(c->seq_ids, sizeof(int32_t) * (size_t)cap);
        if (!q) { fprintf(stderr, "gds-run: out of memory\n"); abort(); }
        c->seq_ids = q;
        c->cap_seq = cap;
    }
    memcpy(c->seq_ids + c->n_seq, ids, sizeof(int32_t) * (size_t)n);
    c->n_seq += n;
}

static void chat_reset(struct chat *c) {
    gds_seq_reset(c->s);
    c->n_seq = 0;
}

enum { TURN_OK = 0, TURN_INTERRUPTED = 1, TURN_ERROR = -1, TURN_SKIPPED = -2 };

/* One turn: user text in, answer streamed, assistant message appended. On
 * TURN_SKIPPED (the conversation does not fit) the user message is dropped
 * again and the conversation is as before. */
/* The prompt ids of a turn: the conversation with the user message appended
 * (kept in c->messages on success), or with --raw BOS + the text. 0 or -1. */
static int turn_ids(struct chat *c, const char *user, struct gds_tok_ids *ids) {
    if (c->raw) {
        ids->n = 0;
        const int32_t bos = c->hp->bos_id >= 0 ? c->hp->bos_id : gds_tok_bos(c->tok);
        if (bos >= 0) {
            ids->ids = malloc(sizeof(int32_t) * 16);
            if (!ids->ids) { fprintf(stderr, "gds-run: out of memory\n"); return -1; }
            ids->cap = 16;
            ids->ids[ids->n++] = bos;
        }
        if (gds_tok_encode(c->tok, user, strlen(user), GDS_TOK_PARSE_SPECIAL, ids) != GDS_OK) {
            fprintf(stderr, "gds-run: tokenizer: %s\n", gds_last_error());
            return -1;
        }
        return 0;
    }
    add_message(c->messages, "user", user, NULL);
    if (encode_conversation(c, ids) != 0) { drop_last_message(c->messages); return -1; }
    return 0;
}

static int chat_turn(struct chat *c, const char *user) {
    struct gds_tok_ids ids = { 0 };
    if (turn_ids(c, user, &ids) != 0) { free(ids.ids); return TURN_SKIPPED; }
    const int n_ids = (int)ids.n;
    if (n_ids + 1 > c->n_ctx) {
        fprintf(stderr, "gds-run: the conversation (%d tokens) does not fit the context of %d tokens (-c)%s\n", n_ids, c->n_ctx,
                c->interactive ? "; /reset starts over" : "");
        if (!c->raw) drop_last_message(c->messages);
        free(ids.ids);
        return TURN_SKIPPED;
    }
    /* prefix KV reuse: the ids already in the sequence must start the new encoding */
    int start = c->n_seq;
    if (start >= n_ids || (start > 0 && memcmp(ids.ids, c->seq_ids, sizeof(int32_t) * (size_t)start) != 0)) {
        if (c->verbose && start > 0)
            fprintf(stderr, "gds-run: the conversation's encoding does not extend the evaluated %d tokens: prefill again\n", start);
        chat_reset(c);
        start = 0;
    }
    if (c->verbose) {
        fprintf(stderr, "gds-run: prompt ids:");
        for (int i = 0; i < n_ids; i++) fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, "\n");
    }
    const bool thinking = c->cp.mode == GDS_CHAT_MODE_THINKING;
    struct out o;
    out_begin(&o, c->color, thinking, c->raw);
    int rc = TURN_OK;
    const double t0 = now_s();
    /* prefill the new ids in chunks (Ctrl-C is checked between them; a long
     * prompt reports its progress after each, on one line on a terminal) */
    const bool progress = n_ids - start > PROGRESS_MIN, tty_err = isatty(2);
    for (int i = start; i < n_ids && rc == TURN_OK; ) {
        const int T = n_ids - i < PREFILL_CHUNK ? n_ids - i : PREFILL_CHUNK;
        struct gds_eval e = { .tokens = ids.ids + i, .n_tokens = T, .logits = c->logits };
        if (gds_model_eval(c->m, c->s, &e) != GDS_OK) {
            fprintf(stderr, "%sgds-run: %s\n", progress && tty_err ? "\n" : "", gds_last_error());
            chat_reset(c);
            rc = TURN_ERROR;
            break;
        }
        seq_push(c, ids.ids + i, T);
        i += T;
        if (progress)
            fprintf(stderr, "%sgds-run: prefill %d of %d tokens (%.0f %%), %.1f s%s", tty_err ? "\r" : "", i - start, n_ids - start,
                    100.0 * (i - start) / (n_ids - start), now_s() - t0, tty_err && i < n_ids ? "" : "\n");
        if (g_interrupted && i < n_ids) {
            if (progress && tty_err) fputs("\n", stderr);
            rc = TURN_INTERRUPTED;
        }
    }
    const double t1 = now_s();
    /* generation */
    struct gds_tok_stream ts = { 0 };
    struct gds_tok_buf piece = { 0 };
    int n_gen = 0;
    bool full = false;
    int32_t *gen = NULL;
    while (rc == TURN_OK && (c->n_predict < 0 || n_gen < c->n_predict)) {
        if (g_interrupted) { rc = TURN_INTERRUPTED; break; }
        const int32_t id = gds_sampler_sample(c->smp, c->logits);
        if (c->verbose) { gen = realloc(gen, sizeof(int32_t) * (size_t)(n_gen + 1)); gen[n_gen] = id; }
        n_gen++;
        if (id == c->eos && !c->ignore_eos) break;
        piece.len = 0;
        if (gds_tok_stream_push(c->tok, &ts, id, &piece) == GDS_OK) out_feed(&o, piece.data, piece.len);
        if (c->n_predict >= 0 && n_gen >= c->n_predict) break;
        if (c->n_seq + 1 > c->n_ctx) { full = true; break; }
        struct gds_eval e = { .tokens = &id, .n_tokens = 1, .decode = true, .logits = c->logits };
        if (gds_model_eval(c->m, c->s, &e) != GDS_OK) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); chat_reset(c); rc = TURN_ERROR; break; }
        seq_push(c, &id, 1);
    }
    piece.len = 0;
    gds_tok_stream_flush(&ts, &piece);
    if (piece.len) out_feed(&o, piece.data, piece.len);
    out_end(&o);
    const double t2 = now_s();
    if (rc == TURN_INTERRUPTED) fprintf(stderr, "gds-run: [interrupted]\n");
    if (full) fprintf(stderr, "gds-run: [context full: %d tokens]\n", c->n_ctx);
    const int n_pre = n_ids - start;
    fprintf(stderr, "gds-run: prompt %d tokens (%d reused) in %.3f s, %.1f tokens/s; generated %d tokens in %.3f s, %.1f tokens/s\n",
            n_pre, start, t1 - t0, t1 > t0 ? n_pre / (t1 - t0) : 0.0, n_gen, t2 - t1, t2 > t1 ? n_gen / (t2 - t1) : 0.0);
    if (c->verbose) {
        fprintf(stderr, "gds-run: generated ids:");
        for (int i = 0; i < n_gen; i++) fprintf(stderr, " %d", gen[i]);
        fprintf(stderr, "\n");
    }
    if (c->raw) ;
    else if (rc == TURN_ERROR) drop_last_message(c->messages);
    else {
        char *content = utf8_clean(o.content.data ? o.content.data : "", o.content.len);
        char *reasoning = utf8_clean(o.reasoning.data ? o.reasoning.data : "", o.reasoning.len);
        add_message(c->messages, "assistant", content, reasoning);
        free(content);
        free(reasoning);
    }
    out_free(&o);
    free(piece.data);
    free(gen);
    free(ids.ids);
    return rc;
}

/* ---- text modes: line input ------------------------------------------------- */

/* Reads one line from fd 0 (without the newline) into *line. Returns 1 for a
 * line, 0 at end of input, -1 when SIGINT arrived while waiting. Polls so
 * that a SIGINT delivered to another thread is seen too. */
static int read_line(struct gds_tok_buf *line) {
    static char buf[4096];
    static size_t beg = 0, end = 0;
    static bool eof = false;
    line->len = 0;
    buf_add(line, "", 0);
    for (;;) {
        for (size_t i = beg; i < end; i++) {
            if (buf[i] == '\n') {
                buf_add(line, buf + beg, i - beg);
                beg = i + 1;
                if (line->len && line->data[line->len - 1] == '\r') line->data[--line->len] = 0;
                return 1;
            }
        }
        buf_add(line, buf + beg, end - beg);
        beg = end = 0;
        if (eof) return line->len ? 1 : 0;
        if (g_interrupted) return -1;
        struct pollfd p = { .fd = 0, .events = POLLIN };
        const int r = poll(&p, 1, 200);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) continue;
        const ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) eof = true;
        else end = (size_t)n;
    }
}


static int run_text(const struct opts *o) {
    int rc = 0;
    struct chat c;
    memset(&c, 0, sizeof(c));
    c.verbose = o->verbose;
    c.ignore_eos = o->ignore_eos;
    c.interactive = o->interactive;
    c.n_predict = o->n_predict;
    gds_chat_params_init(&c.cp);
    c.cp.mode = o->think ? GDS_CHAT_MODE_THINKING : GDS_CHAT_MODE_CHAT;
    c.cp.effort = o->think == 2 ? GDS_CHAT_EFFORT_MAX : o->think == 1 ? GDS_CHAT_EFFORT_HIGH : GDS_CHAT_EFFORT_NONE;
    c.cp.drop_thinking = o->keep_thinking ? 0 : 1;
    c.color = !strcmp(o->color, "always") || (!strcmp(o->color, "auto") && isatty(1) && !getenv("NO_COLOR"));
    c.raw = o->raw;

    const double t0 = now_s();
    c.m = load_model(o);
    if (!c.m) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); return 1; }
    c.hp = gds_model_hparams(c.m);
    if (o->verbose) fprintf(stderr, "gds-run: loaded in %.2f s\n", now_s() - t0);
    c.tok = gds_tok_load_file(o->model);
    if (!c.tok) {
        fprintf(stderr, "gds-run: %s\n", gds_last_error());
        if (strstr(gds_last_error(), "no vocabulary"))
            fprintf(stderr, "gds-run: text needs a vocabulary: convert the model with a tokenizer (gds-convert --tokenizer-dir DIR), "
                            "or give token ids (--tokens FILE, --prompt-ids)\n");
        rc = 1;
        goto done;
    }
    if (gds_tok_n_vocab(c.tok) != c.hp->n_vocab)
        fprintf(stderr, "gds-run: warning: the vocabulary has %d tokens, the model %d\n", gds_tok_n_vocab(c.tok), c.hp->n_vocab);
    c.messages = cJSON_CreateArray();
    if (o->system) add_message(c.messages, "system", o->system, NULL);
    /* the first prompt's length sizes the default context */
    long long n_first = 0;
    if (o->prompt) {
        struct gds_tok_ids ids = { 0 };
        const int r = turn_ids(&c, o->prompt, &ids);
        if (r == 0 && !c.raw) drop_last_message(c.messages);
        n_first = (long long)ids.n;
        free(ids.ids);
        if (r != 0) { rc = 1; goto done; }
    }
    if (o->n_ctx > 0) c.n_ctx = o->n_ctx;
    else {
        const long long want = n_first + (o->n_predict >= 0 ? o->n_predict : 4096);
        if (want > INT32_MAX) {
            fprintf(stderr, "gds-run: the prompt (%lld tokens) + -n %d exceed the largest context (%d tokens)\n", n_first, o->n_predict, INT32_MAX);
            rc = 1;
            goto done;
        }
        c.n_ctx = want < 4096 ? 4096 : (int)want;
    }
    if (!context_fits_c(c.m, c.n_ctx, o->n_ctx > 0)) { rc = 1; goto done; }
    c.eos = c.hp->eos_id >= 0 ? c.hp->eos_id : gds_tok_eos(c.tok) >= 0 ? gds_tok_eos(c.tok) : 1;
    c.s = gds_seq_new(c.m, c.n_ctx);
    c.smp = c.s ? gds_sampler_new(&o->sp, c.hp->n_vocab) : NULL;
    c.logits = malloc(sizeof(float) * (size_t)c.hp->n_vocab);
    if (!c.s || !c.smp || !c.logits) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); rc = 1; goto done; }
    if (o->verbose)
        fprintf(stderr, "gds-run: context %d, state %.1f MiB, eos %d, %s mode\n", c.n_ctx, gds_seq_bytes(c.s) / 1048576.0, c.eos,
                c.raw ? "raw" : o->think ? "thinking" : "chat");

    install_sigint();
    if (o->prompt) {
        const int r = chat_turn(&c, o->prompt);
        if (!o->interactive) {
            rc = r == TURN_OK ? 0 : r == TURN_INTERRUPTED ? 130 : 1;
            goto done;
        }
    }
    if (o->interactive) {
        const bool tty_in = isatty(0);
        struct gds_tok_buf line = { 0 };
        if (tty_in) fprintf(stderr, "gds-run: chat with %s (%s mode). /help lists the commands; Ctrl-C stops an answer, Ctrl-C here quits.\n",
                            o->model, o->think ? "thinking" : "chat");
        for (;;) {
            g_interrupted = 0;
            if (tty_in) { fputs("> ", stdout); fflush(stdout); }
            const int r = read_line(&line);
            if (r <= 0) { if (tty_in) fputs("\n", stdout); break; }
            const char *p = line.data;
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) continue;
            if (!strcmp(p, "/exit") || !strcmp(p, "/quit")) break;
            if (!strcmp(p, "/help") || !strcmp(p, "/?")) {
                fprintf(stderr, "gds-run: commands (a line of its own):\n"
                                "  /help    this list\n"
                                "  /reset   forget the conversation (the system message stays)\n"
                                "  /exit    quit (also /quit, end of input, or Ctrl-C at the prompt)\n"
                                "Any other line is sent to the model as your next message. Ctrl-C stops an answer.\n");
                continue;
            }
            if (!text_ok("input line", line.data, line.len)) continue;
            if (!strcmp(p, "/reset")) {
                cJSON_Delete(c.messages);
                c.messages = cJSON_CreateArray();
                if (o->system) add_message(c.messages, "system", o->system, NULL);
                chat_reset(&c);
                fprintf(stderr, "gds-run: conversation reset\n");
                continue;
            }
            if (chat_turn(&c, line.data) == TURN_ERROR) rc = 1;
        }
        free(line.data);
    }
done:
    free(c.logits);
    free(c.seq_ids);
    if (c.smp) gds_sampler_free(c.smp);
    if (c.s) gds_seq_free(c.s);
    if (c.m && !numa_finish(c.m, &o->numa, o->verbose)) rc = 1;
    if (c.m) gds_model_free(c.m);
    cJSON_Delete(c.messages);
    gds_tok_free(c.tok);
    return rc;
}

/* ---- --info: metadata and tensor table of any GGUF --------------------------- */

static void print_kv_value(const struct gds_gguf *f, int64_t i) {
    const enum gds_gguf_type t = gds_gguf_kv_type(f, i);
    int64_t v;
    if (t == GDS_GGUF_STRING) {
        const char *str = gds_gguf_get_str(f, i);
        printf("\"%.200s%s\"", str, strlen(str) > 200 ? "..." : "");
    } else if (t == GDS_GGUF_FLOAT32) printf("%g", gds_gguf_get_f32(f, i));
    else if (t == GDS_GGUF_BOOL) printf("%s", gds_gguf_get_bool(f, i) ? "true" : "false");
    else if (t == GDS_GGUF_UINT64) printf("%llu", (unsigned long long)gds_gguf_get_u64(f, i));
    else if (t == GDS_GGUF_ARRAY) {
        const enum gds_gguf_type at = gds_gguf_arr_type(f, i);
        const int64_t n = gds_gguf_arr_n(f, i);
        printf("array of %lld", (long long)n);
        if (at == GDS_GGUF_STRING) {
            printf(" strings [");
            for (int64_t j = 0; j < n && j < 4; j++) printf("%s\"%.40s\"", j ? ", " : "", gds_gguf_arr_str(f, i, j));
            printf("%s]", n > 4 ? ", ..." : "");
        } else if (at == GDS_GGUF_INT32 || at == GDS_GGUF_UINT32 || at == GDS_GGUF_FLOAT32) {
            const void *d = gds_gguf_arr_data(f, i);
            printf(" %s [", at == GDS_GGUF_FLOAT32 ? "f32" : at == GDS_GGUF_INT32 ? "i32" : "u32");
            for (int64_t j = 0; j < n && j < 8; j++) {
                if (at == GDS_GGUF_FLOAT32) printf("%s%g", j ? ", " : "", ((const float *)d)[j]);
                else if (at == GDS_GGUF_INT32) printf("%s%d", j ? ", " : "", ((const int32_t *)d)[j]);
                else printf("%s%u", j ? ", " : "", ((const uint32_t *)d)[j]);
            }
            printf("%s]", n > 8 ? ", ..." : "");
        } else printf(" (element type %d)", (int)at);
    } else if (gds_gguf_get_int(f, i, &v)) printf("%lld", (long long)v);
    else if (t == GDS_GGUF_FLOAT64) printf("(f64)");
    else printf("(type %d)", (int)t);
}

static int run_info(const char *path) {
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) { fprintf(stderr, "gds-run: %s\n", gds_last_error()); return 1; }
    printf("%s: GGUF v%u, %zu bytes, alignment %zu, data at byte %zu\n", path, gds_gguf_version(f), gds_gguf_size(f),
           gds_gguf_alignment(f), gds_gguf_data_offset(f));
    printf("%lld metadata keys:\n", (long long)gds_gguf_n_kv(f));
    for (int64_t i = 0; i < gds_gguf_n_kv(f); i++) {
        printf("  %-40s ", gds_gguf_key(f, i));
        print_kv_value(f, i);
        printf("\n");
    }
    const int64_t nt = gds_gguf_n_tensors(f);
    size_t total = 0;
    printf("%lld tensors:\n  %5s %-40s %-10s %-28s %14s %14s\n", (long long)nt, "#", "name", "type", "shape", "bytes", "file offset");
    for (int64_t i = 0; i < nt; i++) {
        int64_t ne[4];
        gds_gguf_tensor_ne(f, i, ne);
        char shape[64];
        int k = snprintf(shape, sizeof shape, "[%lld", (long long)ne[0]);
        for (int d = 1; d < gds_gguf_tensor_n_dims(f, i) && k < (int)sizeof shape; d++) k += snprintf(shape + k, sizeof shape - (size_t)k, ", %lld", (long long)ne[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, "]");
        const size_t sz = gds_gguf_tensor_size(f, i);
        total += sz;
        printf("  %5lld %-40s %-10s %-28s %14zu %14zu\n", (long long)i, gds_gguf_tensor_name(f, i), gds_type_name(gds_gguf_tensor_type(f, i)),
               shape, sz, gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, i));
    }
    printf("%lld tensors, %zu bytes (%.2f GiB) of tensor data\n", (long long)nt, total, total / 1073741824.0);
    gds_gguf_close(f);
    return 0;
}

/* ---- main ------------------------------------------------------------------- */

enum {
    OPT_TOKENS = 256, OPT_PROMPT_IDS, OPT_THINK, OPT_KEEP_THINKING, OPT_IGNORE_EOS, OPT_SYSTEM, OPT_COLOR, OPT_LOGITS,
    OPT_DECODE_FROM, OPT_CHUNK, OPT_TEMP, OPT_TOP_P, OPT_TOP_K, OPT_MIN_P, OPT_BENCH, OPT_DUMP, OPT_RAW, OPT_INFO, OPT_VERSION, OPT_BACKEND, OPT_CPU_MOE, OPT_N_CPU_MOE,
};

static const struct option long_opts[] = {
    { "model", required_argument, NULL, 'm' },          { "prompt", required_argument, NULL, 'p' },
    { "file", required_argument, NULL, 'f' },           { "interactive", no_argument, NULL, 'i' },
    { "n-predict", required_argument, NULL, 'n' },      { "threads", required_argument, NULL, 't' },
    { "ctx-size", required_argument, NULL, 'c' },       { "seed", required_argument, NULL, 's' },
    { "verbose", no_argument, NULL, 'v' },              { "help", no_argument, NULL, 'h' },
    { "tokens", required_argument, NULL, OPT_TOKENS },  { "prompt-ids", required_argument, NULL, OPT_PROMPT_IDS },
    { "think", required_argument, NULL, OPT_THINK },    { "keep-thinking", no_argument, NULL, OPT_KEEP_THINKING },
    { "ignore-eos", no_argument, NULL, OPT_IGNORE_EOS }, { "system", required_argument, NULL, OPT_SYSTEM },
    { "color", required_argument, NULL, OPT_COLOR },    { "logits", required_argument, NULL, OPT_LOGITS },
    { "decode-from", required_argument, NULL, OPT_DECODE_FROM }, { "chunk", required_argument, NULL, OPT_CHUNK },
    { "temp", required_argument, NULL, OPT_TEMP },      { "top-p", required_argument, NULL, OPT_TOP_P },
    { "top-k", required_argument, NULL, OPT_TOP_K },    { "min-p", required_argument, NULL, OPT_MIN_P },
    { "bench", required_argument, NULL, OPT_BENCH },    { "dump", no_argument, NULL, OPT_DUMP },
    { "raw", no_argument, NULL, OPT_RAW },              { "info", no_argument, NULL, OPT_INFO },
    { "version", no_argument, NULL, OPT_VERSION },      { "backend", required_argument, NULL, OPT_BACKEND },
    { "cpu-moe", no_argument, NULL, OPT_CPU_MOE },      { "n-cpu-moe", required_argument, NULL, OPT_N_CPU_MOE },
    NUMA_LONG_OPTS,
    { NULL, 0, NULL, 0 },
};

int main(int argc, char **argv) {
    gds_args_prog = "gds-run";
    struct opts o = { .decode_from = -1, .n_predict = -1, .color = "auto", .sp = gds_sampler_default_params() };
    const char *think = "none", *file = NULL;
    bool info = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:p:f:in:t:c:s:vh", long_opts, NULL)) != -1) {
        const char *opt = c == '?' || c == ':' ? NULL : opt_label(argv, optarg);
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'p': o.prompt = optarg; break;
        case 'f': file = optarg; break;
        case 'i': o.interactive = true; break;
        case 'n': o.n_predict = (int)parse_long(opt, optarg, -1, INT32_MAX); break;
        case 't': o.n_threads = (int)parse_long(opt, optarg, 1, MAX_THREADS); break;
        case 'c': o.n_ctx = (int)parse_long(opt, optarg, 1, INT32_MAX); break;
        case 's': o.sp.seed = parse_u64(opt, optarg); break;
        case 'v': o.verbose = true; break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("gds-run (ggml-ds) %s\n", GDS_VERSION); return 0;
        case OPT_TOKENS: o.tokens_path = optarg; break;
        case OPT_PROMPT_IDS: o.prompt_ids = optarg; break;
        case OPT_THINK: think = optarg; break;
        case OPT_KEEP_THINKING: o.keep_thinking = true; break;
        case OPT_IGNORE_EOS: o.ignore_eos = true; break;
        case OPT_SYSTEM: o.system = optarg; break;
        case OPT_COLOR: o.color = optarg; break;
        case OPT_LOGITS: o.logits_path = optarg; break;
        case OPT_DECODE_FROM: o.decode_from = (int)parse_long(opt, optarg, 0, INT32_MAX); break;
        case OPT_CHUNK: o.chunk = (int)parse_long(opt, optarg, 1, INT32_MAX); break;
        case OPT_TEMP: o.sp.temp = (float)parse_double(opt, optarg, 0.0, 1e6, false); break;
        case OPT_TOP_P: o.sp.top_p = (float)parse_double(opt, optarg, 0.0, 1.0, true); break;
        case OPT_TOP_K: o.sp.top_k = (int)parse_long(opt, optarg, 0, INT32_MAX); break;
        case OPT_MIN_P:
            o.sp.min_p = (float)parse_double(opt, optarg, 0.0, 1.0, false);
            if (o.sp.min_p >= 1.0f) die_value(opt, optarg, "out of range [0, 1)");
            break;
        case OPT_BENCH: o.n_bench = (int)parse_long(opt, optarg, 0, 1000000); break;
        case OPT_DUMP: setenv("GDS_DUMP", "1", 1); break;
        case OPT_RAW: o.raw = true; break;
        case OPT_INFO: info = true; break;
        case OPT_BACKEND: o.backend = parse_backend(opt, optarg); break;
        case OPT_CPU_MOE: o.cpu_moe = true; break;
        case OPT_N_CPU_MOE: o.n_cpu_moe = (int)parse_long(opt, optarg, 0, GDS_DS4_MAX_LAYERS); break;
        case ':':
        default:
            if (c != ':' && c != '?' && numa_opt(c, opt, optarg, &o.numa)) break;
            return opt_error(argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gds-run: unexpected argument '%s' (a prompt goes after -p)\ngds-run: see 'gds-run --help'\n", argv[optind]);
        return 1;
    }
    if (!o.model) { fprintf(stderr, "gds-run: -m MODEL.gguf is required\ngds-run: see 'gds-run --help'\n"); return 1; }
    if (info) return run_info(o.model);
    if (!strcmp(think, "none")) o.think = 0;
    else if (!strcmp(think, "high")) o.think = 1;
    else if (!strcmp(think, "max")) o.think = 2;
    else { fprintf(stderr, "gds-run: --think '%s': expected none, high or max\n", think); return 1; }
    if (strcmp(o.color, "auto") && strcmp(o.color, "always") && strcmp(o.color, "never")) {
        fprintf(stderr, "gds-run: --color '%s': expected auto, always or never\n", o.color);
        return 1;
    }
    if (file && o.prompt) { fprintf(stderr, "gds-run: -p and -f both give the prompt: use one\n"); return 1; }
    char *file_text = NULL;
    if (file) {
        size_t n = 0;
        file_text = read_file(file, &n);
        if (!file_text) { fprintf(stderr, "gds-run: -f %s: cannot read: %s\n", file, strerror(errno)); return 1; }
        char what[64 + PATH_MAX];
        snprintf(what, sizeof what, "-f %s", file);
        if (!text_ok(what, file_text, n)) { free(file_text); return 1; }
        o.prompt = file_text;
    } else if (o.prompt && !text_ok("-p", o.prompt, strlen(o.prompt))) return 1;
    if (o.system && !text_ok("--system", o.system, strlen(o.system))) return 1;
    const bool ids_mode = o.tokens_path || o.prompt_ids;
    int rc = 1;
    if (!ids_mode && !o.prompt && !o.interactive)
        fprintf(stderr, "gds-run: nothing to do: give -p PROMPT, -f FILE, -i, --tokens, --prompt-ids or --info\ngds-run: see 'gds-run --help'\n");
    else if (ids_mode && (o.prompt || o.interactive || o.raw))
        fprintf(stderr, "gds-run: --tokens/--prompt-ids (token ids) and -p/-f/-i/--raw (text) do not mix\n");
    else if (!ids_mode && (o.logits_path || o.n_bench || o.decode_from >= 0 || o.chunk))
        fprintf(stderr, "gds-run: --logits, --bench, --decode-from and --chunk need token ids (--tokens or --prompt-ids)\n");
    else if (o.raw && o.interactive)
        fprintf(stderr, "gds-run: --raw completes one text; it does not combine with -i\n");
    else if (o.raw && (o.system || o.think))
        fprintf(stderr, "gds-run: --raw uses no chat template: --system and --think do not apply\n");
    else {
        /* errors are printed once, by this program; the rest as the default sink does */
        gds_log_set(quiet_errors, NULL);
        rc = check_architecture(o.model) ? (ids_mode ? run_ids(&o) : run_text(&o)) : 1;
    }
    free(file_text);
    return rc;
}
