/*
 * gds-bench.c - prefill and decode throughput of a DeepSeek-V4 GGUF at several
 * context depths, next to the read bandwidth of the machine (llama-bench's
 * role for this runtime).
 *
 *   gds-bench -m MODEL.gguf [-p 512] [-n 64] [-d 0,4096,16384] [-t N] [-r 3] [-o md|json]
 *
 * For every depth d of -d and every run of -r:
 *   pp<P> @ d: reset the sequence, prefill d tokens (timed apart), then time one
 *              prefill call of P tokens (the model splits it by n_batch);
 *   tg<N> @ d: reset the sequence, prefill d tokens (timed apart), then time N
 *              decode calls of one token each, every one with the head
 *              (logits), as generation does.
 * The d-token prefill is timed apart as well (the "context prefill" table,
 * JSON fill_runs_tps / fill_median_tps): the prefill rate of a d-token prompt,
 * so one run at a long depth gives both figures the long-context check needs.
 * So pp and tg are measured separately, each from depth d (llama-bench's
 * convention): the decode does not follow the P-token prefill. With --grow, one
 * sequence per run grows through the depths instead (ascending, far enough
 * apart for the tests between them): fill to d1, run d1's tests (each starts
 * where the one before ended, so its position is d1 plus the tokens of the
 * tests before it), fill on to d2, ...; the context prefill figure of d is d
 * over the fill time so far (the test tokens not counted): one 131,072-token
 * fill gives the figures at 16k, 64k and 131k. -p and -n take
 * comma-separated lists (0 skips that test). Token ids are a fixed
 * pseudo-random sequence in [0, n_vocab), the same for every run. Before the
 * first test one untimed warm-up (a prefill of up to 32 tokens and one decode
 * step) maps the weights in. Each figure is the median over the runs, with
 * the range (min..max); -o json gives every run's figure and the stddev.
 *
 * Concurrent decode (-s LIST): for each S, S sequences each filled to the
 * depth with their own stretch of tokens (independent conversations route to
 * other experts), then -n steps of one gds_model_eval_batch call with one
 * token and its logits per sequence: the aggregate tokens/s (S x n over the
 * steps' time), per stream, x of one stream, and the bound of reading the
 * weights once per step: S x bytes/token over the bytes one step of S reads
 * (all but the routed experts once, of the experts the expected distinct
 * fraction 1 - (1 - K/E)^S; gds-server batches its slots' decode this way).
 *
 * Read bandwidth: measured by this program before and again after the tests,
 * with the same thread count (OpenMP): sums of doubles over a buffer of
 * max(1 GiB, 4 x the last-level cache) (--bw-mib changes it, 0 skips), one
 * untimed first-touch pass, then 5 timed passes; the figure used is the
 * median of the 10 passes, in GB/s (1e9 bytes/s). Shared machines drift, so
 * JSON gives both medians and every pass.
 *
 * Bytes per decode token, from the GGUF's tensor directory: every tensor of
 * the trunk layers blk.0 .. blk.<n_layer-1> except the routed experts
 * (ffn_{gate,up,down}_exps), plus n_expert_used / n_expert of each routed
 * expert tensor, plus every tensor outside the layers (output head, output
 * norm, hc head). Tables gathered by token id count one row: token_embd and
 * the hash layers' ffn_gate_tid2eid (a decode token reads one row of each). The MTP block
 * (blk.<n_layer>, nextn.*) is not used in decode and not counted. The decode
 * % of bandwidth is t/s x bytes/token / bandwidth: the fraction of the
 * roofline a memory-bound decode reaches (KV reads are not counted; they are
 * small next to the weights at the depths this is run at).
 *
 * Default threads: the processor count OpenMP reports (the CPU backend's own
 * default), passed to the model explicitly so that the bandwidth and the
 * tests use the same count. Progress goes to stderr; stdout carries only the
 * table or the JSON. Options are parsed as gds-run parses them (getopt_long,
 * strict numbers, errors naming the option and value); a context whose state
 * would not fit the machine's memory is refused before it is allocated.
 */
#define _POSIX_C_SOURCE 200809L
#include "deepseek4.h"
#include "gds-args.h"
#include "gds-gguf.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_THREADS = 256, /* as gds-run */
    MAX_LIST = 32,     /* values in one -p/-n/-d list */
    MAX_STREAMS = 64,  /* -s: sequences decoding together (gds-server's --parallel limit) */
    MAX_RUNS = 1000,
    BW_PASSES = 5,
    WARMUP_TOKENS = 32,
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: gds-bench -m MODEL.gguf [options]\n"
            "  -m, --model FILE       the GGUF\n"
            "  -p, --n-prompt LIST    prefill lengths, comma-separated (default 512; 0 = no prefill test)\n"
            "  -n, --n-gen LIST       decode lengths (default 64; 0 = no decode test)\n"
            "  -d, --depth LIST       context depths each test starts from (default 0)\n"
            "  -t, --threads N        CPU threads, 1 .. %d (default: the processor count, %d here)\n"
            "  -b, --batch N          most tokens per prefill graph, 1 .. 65536 (default 512; a prefill longer than\n"
            "                         N runs in chunks of N; results do not depend on it)\n"
            "  -r, --repetitions R    runs of every test, 1 .. %d (default 3); median and range reported\n"
            "  -o, --output FORMAT    md (markdown table, default) or json\n"
            "  --bw-mib M             read-bandwidth buffer in MiB (default: max(1024, 4 x last-level cache); 0 = skip)\n"
            "  --no-split             decode: skip the runs without the output head (layers vs head split)\n"
            "  --grow                 one sequence per run grows through the depths (ascending): fill to the\n"
            "                         first depth, run its tests, fill on to the next, ...; a long context is\n"
            "                         filled once for all depths (each test starts where the one before ended)\n"
            "  --state-save FILE      with --grow and -r 1: after the fill to the last depth, write the sequence\n"
            "                         state image to FILE (written to FILE.tmp, then renamed)\n"
            "  --state-load FILE      with --grow and -r 1: start from the state image in FILE (its positions, at\n"
            "                         most the first depth); fill rates then count from there\n"
            "  -s, --streams LIST     concurrent decode: for each S of LIST (1 .. %d), S sequences each filled to\n"
            "                         the depth with their own tokens, then -n steps of one batched call with one\n"
            "                         token per sequence (the weights read once for all); aggregate t/s, x of one\n"
            "                         stream, and the bound of the weights read per step\n"
            "  --streams-only         with -s: only the concurrent decode tests (no pp/tg tests)\n"
            "  --backend NAME         where the model runs: cpu (default) or a backend built in (cuda with make CUDA=1,\n"
            "                         vulkan with make VULKAN=1); weights, state and graphs on it (read bandwidth\n"
            "                         is still the CPU's)\n"
            "  --cpu-moe              with --backend: the routed experts stay in host memory, their products on\n"
            "                         the CPU (hybrid); --n-cpu-moe N: only the first N layers' experts\n"
            "  -v, --verbose          model details at load; at the end the NUMA traffic report (bytes per decode\n"
            "                         token local/remote per node and projected t/s; --numa-bw defaults to the\n"
            "                         read bandwidth measured here)\n"
            "  -h, --help             this text\n"
            "  --version              the version\n"
            NUMA_USAGE
            "pp<P> @ d: prefill d tokens, time a prefill of P tokens. tg<N> @ d: prefill d tokens, time N\n"
            "decode steps of one token with logits. Each from a reset sequence. For d > 0 the d-token\n"
            "prefill is timed apart too (\"context prefill\" table, JSON fill_*): a long prompt's rate.\n"
            "%% BW = decode t/s x bytes per token (weights read per token, from the file) / measured read bandwidth.\n"
            "Decode split: every decode run is paired with one of the same steps without logits (the layers\n"
            "alone); head = the difference. Each part's %% BW uses its own bytes (layers: all but the head).\n",
            MAX_THREADS, omp_get_num_procs(), MAX_RUNS, MAX_STREAMS);
}

/* ---- option values ---------------------------------------------------------- */

/* comma-separated integers in [lo, hi], at least one, at most MAX_LIST */
static int parse_list(const char *opt, const char *s, long lo, long hi, int *out) {
    int n = 0;
    const char *p = s;
    for (;;) {
        const size_t len = strcspn(p, ",");
        char item[32];
        if (len == 0 || len >= sizeof item) die_value(opt, s, "not a comma-separated list of integers");
        memcpy(item, p, len);
        item[len] = 0;
        char *end;
        errno = 0;
        const long v = strtol(item, &end, 10);
        if (isspace((unsigned char)item[0]) || *end) die_value(opt, s, "not a comma-separated list of integers");
        if (errno == ERANGE || v < lo || v > hi) {
            char msg[96];
            snprintf(msg, sizeof msg, "value %s out of range (%ld .. %ld)", item, lo, hi);
            die_value(opt, s, msg);
        }
        if (n == MAX_LIST) {
            char msg[64];
            snprintf(msg, sizeof msg, "more than %d values", MAX_LIST);
            die_value(opt, s, msg);
        }
        out[n++] = (int)v;
        p += len;
        if (!*p) break;
        p++;
    }
    return n;
}

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stats { double median, min, max, mean, stddev; };

static struct stats stats_of(const double *v, int n) {
    double s[MAX_RUNS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_dbl);
    struct stats r = { .median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]), .min = s[0], .max = s[n - 1] };
    for (int i = 0; i < n; i++) r.mean += s[i] / n;
    for (int i = 0; i < n; i++) r.stddev += (s[i] - r.mean) * (s[i] - r.mean);
    r.stddev = n > 1 ? sqrt(r.stddev / (n - 1)) : 0.0;
    return r;
}

/* ---- machine: CPU name, last-level cache, read bandwidth ----------------------- */

static void cpu_model(char *out, size_t size) {
    snprintf(out, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        /* x86: "model name"; arm64: no name, "CPU part" is the best there is */
        if (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5)) {
            const char *c = strchr(line, ':');
            if (!c) continue;
            c++;
            while (*c == ' ' || *c == '\t') c++;
            snprintf(out, size, "%.*s", (int)strcspn(c, "\n"), c);
            break;
        }
    }
    fclose(f);
}

static size_t llc_bytes(void) {
    long v = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    v = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (v <= 0) v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return v > 0 ? (size_t)v : 0;
}

/* one timed pass summing n doubles with nth threads, 8 accumulators each; GB/s */
static double bw_pass(const double *a, size_t n, int nth) {
    double sum = 0;
    const double t0 = now_s();
#pragma omp parallel num_threads(nth) reduction(+ : sum)
    {
        const size_t ith = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        const size_t per = (n / 8 + nt - 1) / nt * 8;
        const size_t i0 = per * ith, i1 = i0 + per < n ? i0 + per : n;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        size_t i = i0;
        for (; i + 8 <= i1; i += 8) {
            s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3];
            s4 += a[i + 4]; s5 += a[i + 5]; s6 += a[i + 6]; s7 += a[i + 7];
        }
        for (; i < i1; i++) s0 += a[i];
        sum += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    }
    const double t = now_s() - t0;
    if (sum == -1.0) fputc(' ', stderr); /* keeps the sum live */
    return (double)(n * sizeof(double)) / t / 1e9;
}

/* median of BW_PASSES passes after a first-touch pass; 0 if the buffer cannot be had */
static double measure_bw(size_t bytes, int nth, double samples[BW_PASSES]) {
    const size_t n = bytes / sizeof(double);
    double *a = aligned_alloc(64, n * sizeof(double));
    if (!a) return 0;
#pragma omp parallel for num_threads(nth) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = (double)(i & 7);
    bw_pass(a, n, nth);
    double s[BW_PASSES];
    for (int i = 0; i < BW_PASSES; i++) s[i] = samples[i] = bw_pass(a, n, nth);
    free(a);
    qsort(s, BW_PASSES, sizeof *s, cmp_dbl);
    return s[BW_PASSES / 2];
}

/* ---- bytes per decode token, from the tensor directory ------------------------ */

/* layer index of "blk.N.…", -1 for tensors outside the layers */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4)) return -1;
    char *end;
    const long l = strtol(name + 4, &end, 10);
    return end != name + 4 && *end == '.' && l >= 0 && l < INT_MAX ? (int)l : -1;
}

static bool is_routed_expert(const char *name) {
    return strstr(name, ".ffn_gate_exps.") || strstr(name, ".ffn_up_exps.") || strstr(name, ".ffn_down_exps.");
}

/* weights read per decode token; *head gets the part of the output head
 * (the tensors outside the layers other than the token embedding row),
 * *experts the bytes of all routed experts of the layers */
static double decode_bytes_per_token(const char *path, const struct gds_ds4_hparams *hp, double *head, double *experts) {
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) return -1;
    double total = 0;
    *head = 0;
    *experts = 0;
    for (int64_t i = 0; i < gds_gguf_n_tensors(f); i++) {
        const char *name = gds_gguf_tensor_name(f, i);
        const double size = (double)gds_gguf_tensor_size(f, i);
        const int l = layer_of(name);
        if (l >= hp->n_layer || strstr(name, "nextn")) continue; /* MTP */
        if (!strcmp(name, "token_embd.weight") || strstr(name, ".ffn_gate_tid2eid.")) {
            int64_t ne[4];
            gds_gguf_tensor_ne(f, i, ne);
            total += size / (double)(ne[1] * ne[2] * ne[3]);
        } else if (l >= 0 && is_routed_expert(name)) {
            total += size * hp->n_expert_used / hp->n_expert;
            *experts += size; /* all of them */
        }
        else {
            total += size;
            if (l < 0) *head += size;
        }
    }
    gds_gguf_close(f);
    return total;
}

/* ---- the model --------------------------------------------------------------- */

static bool check_architecture(const char *path) {
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) { fprintf(stderr, "gds-bench: %s\n", gds_last_error()); return false; }
    const int64_t k = gds_gguf_find_key(f, "general.architecture");
    const char *arch = k >= 0 && gds_gguf_kv_type(f, k) == GDS_GGUF_STRING ? gds_gguf_get_str(f, k) : NULL;
    const bool ok = arch && !strcmp(arch, "deepseek4");
    if (!ok) fprintf(stderr, "gds-bench: %s: the model's architecture is %s%s%s (general.architecture); gds-bench runs only \"deepseek4\"\n",
                     path, arch ? "\"" : "", arch ? arch : "missing", arch ? "\"" : "");
    gds_gguf_close(f);
    return ok;
}

/* a fixed pseudo-random id sequence in [0, n_vocab) */
static void fill_tokens(int32_t *ids, size_t n, int n_vocab) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)n_vocab);
    }
}

struct bench {
    struct gds_model *m;
    struct gds_seq *s;
    const int32_t *ids;
    float *logits;
};

static bool eval(struct bench *b, const int32_t *ids, int n, bool decode, bool logits) {
    if (n <= 0) return true;
    const struct gds_eval e = { .tokens = ids, .n_tokens = n, .decode = decode, .logits = logits ? b->logits : NULL };
    if (gds_model_eval(b->m, b->s, &e) == GDS_OK) return true;
    fprintf(stderr, "gds-bench: %s\n", gds_last_error());
    return false;
}

/* the timed part from the sequence as it is (tokens from position pos; --grow, and run_once after its fill) */
static double run_from(struct bench *b, int pos, int n, bool tg, bool logits) {
    const int32_t *t = b->ids + pos;
    const double t0 = now_s();
    if (tg) {
        for (int i = 0; i < n; i++)
            if (!eval(b, t + i, 1, true, logits)) return -1;
    } else if (!eval(b, t, n, false, true)) return -1;
    return n / (now_s() - t0);
}

/* tokens/s of one run: reset, prefill of depth tokens (timed apart into *fill
 * when fill is given: the prefill rate of a depth-token prompt), then the
 * timed part (decode without logits: the layers alone, no output head); < 0
 * on error */
static double run_once(struct bench *b, int depth, int n, bool tg, bool logits, double *fill) {
    gds_seq_reset(b->s);
    const double tf = now_s();
    if (!eval(b, b->ids, depth, false, true)) return -1;
    if (fill) *fill = depth / (now_s() - tf);
    return run_from(b, depth, n, tg, logits);
}

/* --state-save: the state image to path (path.tmp, then renamed: never a half-written file) */
static bool save_state(struct bench *b, const char *path) {
    const size_t n = gds_seq_state_size(b->s);
    void *img = malloc(n);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = NULL;
    bool ok = img && gds_seq_state_save(b->s, img, n) == n && (f = fopen(tmp, "wb")) && fwrite(img, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) { fprintf(stderr, "gds-bench: --state-save '%s': cannot write the state image (%zu bytes)\n", path, n); remove(tmp); }
    else fprintf(stderr, "gds-bench: state of %d tokens written to %s (%zu bytes)\n", gds_seq_n_past(b->s), path, n);
    free(img);
    return ok;
}

/* --state-load: the state image in path, at most `limit` positions */
static bool load_state(struct bench *b, const char *path, int limit) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "gds-bench: --state-load '%s': cannot open\n", path); return false; }
    bool ok = fseek(f, 0, SEEK_END) == 0;
    const long n = ok ? ftell(f) : -1;
    ok = ok && n > 0 && fseek(f, 0, SEEK_SET) == 0;
    void *img = ok ? malloc((size_t)n) : NULL;
    ok = img && fread(img, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (!ok) { fprintf(stderr, "gds-bench: --state-load '%s': cannot read\n", path); free(img); return false; }
    ok = gds_seq_state_load(b->s, img, (size_t)n) == GDS_OK;
    free(img);
    if (!ok) { fprintf(stderr, "gds-bench: --state-load '%s': %s\n", path, gds_last_error()); return false; }
    if (gds_seq_n_past(b->s) > limit) {
        fprintf(stderr, "gds-bench: --state-load '%s': the state holds %d tokens, past the first depth %d\n", path, gds_seq_n_past(b->s), limit);
        return false;
    }
    fprintf(stderr, "gds-bench: started from the state of %d tokens in %s\n", gds_seq_n_past(b->s), path);
    return true;
}

/* weights read per step by S streams decoding together: all but the routed
 * experts once, and of each routed-expert tensor the expected fraction of
 * distinct experts among S tokens' picks (n_expert_used of n_expert each,
 * independent and uniform): 1 - (1 - K/E)^S */
static double step_bytes(double bpt, double experts, const struct gds_ds4_hparams *hp, int S) {
    const double p = (double)hp->n_expert_used / hp->n_expert;
    return bpt - experts * p + experts * (1.0 - pow(1.0 - p, S));
}

/* --streams: S sequences decoding together, one gds_model_eval_batch per step */
struct sresult {
    int streams, n, depth;
    double tps[MAX_RUNS]; /* aggregate: S x n tokens over the time of the n steps */
    struct stats st;
};

/* aggregate decode tokens/s of S sequences: each reset and prefilled with
 * depth tokens of its own stretch of the token sequence (other tokens route
 * to other experts, as independent conversations do), then n steps of one
 * batched call with one token and its logits per sequence; < 0 on error */
static double run_streams(struct gds_model *m, struct gds_seq **seqs, int S, const int32_t *ids, int stride, int depth, int n, float *logits,
                          int V) {
    struct gds_eval e[MAX_STREAMS];
    for (int i = 0; i < S; i++) {
        gds_seq_reset(seqs[i]);
        if (depth > 0 && gds_model_eval(m, seqs[i], &(struct gds_eval){ .tokens = ids + (size_t)i * stride, .n_tokens = depth }) != GDS_OK) {
            fprintf(stderr, "gds-bench: %s\n", gds_last_error());
            return -1;
        }
    }
    const double t0 = now_s();
    for (int step = 0; step < n; step++) {
        for (int i = 0; i < S; i++)
            e[i] = (struct gds_eval){ .tokens = ids + (size_t)i * stride + depth + step, .n_tokens = 1, .decode = true, .logits = logits + (size_t)i * V };
        if (gds_model_eval_batch(m, seqs, e, S) != GDS_OK) {
            fprintf(stderr, "gds-bench: %s\n", gds_last_error());
            return -1;
        }
    }
    return (double)S * n / (now_s() - t0);
}

struct result {
    bool tg;
    int n, depth;
    double tps[MAX_RUNS];
    double tps_layers[MAX_RUNS]; /* decode: the same steps without the output head (--split) */
    double fill[MAX_RUNS];       /* depth > 0: t/s of the depth-token prefill before each run */
    struct stats st, st_layers, st_fill;
};

/* every run's t/s and their statistics, as the JSON of a test */
static void json_runs(cJSON *e, const double *tps, int reps, const struct stats *st) {
    cJSON_AddItemToObject(e, "runs_tps", cJSON_CreateDoubleArray(tps, reps));
    cJSON_AddNumberToObject(e, "median_tps", st->median);
    cJSON_AddNumberToObject(e, "min_tps", st->min);
    cJSON_AddNumberToObject(e, "max_tps", st->max);
    cJSON_AddNumberToObject(e, "stddev_tps", st->stddev);
}

/* ---- main --------------------------------------------------------------------- */

enum { OPT_VERSION = 256, OPT_BW_MIB, OPT_NO_SPLIT, OPT_GROW, OPT_STATE_SAVE, OPT_STATE_LOAD, OPT_STREAMS_ONLY, OPT_BACKEND, OPT_CPU_MOE, OPT_N_CPU_MOE };

static const struct option long_opts[] = {
    { "model", required_argument, NULL, 'm' },   { "n-prompt", required_argument, NULL, 'p' },
    { "n-gen", required_argument, NULL, 'n' },   { "depth", required_argument, NULL, 'd' },
    { "threads", required_argument, NULL, 't' }, { "batch", required_argument, NULL, 'b' }, { "repetitions", required_argument, NULL, 'r' },
    { "output", required_argument, NULL, 'o' },  { "bw-mib", required_argument, NULL, OPT_BW_MIB },
    { "no-split", no_argument, NULL, OPT_NO_SPLIT }, { "grow", no_argument, NULL, OPT_GROW },
    { "state-save", required_argument, NULL, OPT_STATE_SAVE }, { "state-load", required_argument, NULL, OPT_STATE_LOAD },
    { "streams", required_argument, NULL, 's' }, { "streams-only", no_argument, NULL, OPT_STREAMS_ONLY },
    { "backend", required_argument, NULL, OPT_BACKEND }, { "cpu-moe", no_argument, NULL, OPT_CPU_MOE },
    { "n-cpu-moe", required_argument, NULL, OPT_N_CPU_MOE },
    { "help", no_argument, NULL, 'h' },          { "version", no_argument, NULL, OPT_VERSION },
    { "verbose", no_argument, NULL, 'v' },       NUMA_LONG_OPTS,
    { NULL, 0, NULL, 0 },
};

int main(int argc, char **argv) {
    gds_args_prog = "gds-bench";
    const char *model = NULL, *format = "md";
    int pp[MAX_LIST] = { 512 }, tg[MAX_LIST] = { 64 }, depth[MAX_LIST] = { 0 };
    int n_pp = 1, n_tg = 1, n_depth = 1, n_threads = 0, reps = 3, n_batch = 0;
    int streams[MAX_LIST], n_streams = 0;
    bool streams_only = false;
    const char *backend = "cpu";
    bool cpu_moe = false;
    int n_cpu_moe = 0;
    long bw_mib = -1;
    bool split = true, grow = false;
    const char *state_save = NULL, *state_load = NULL;
    int fill_from = 0; /* --state-load: the fills start from this many tokens */
    struct numa_opts numa = { 0 };
    bool verbose = false;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:p:n:d:t:b:r:o:s:vh", long_opts, NULL)) != -1) {
        const char *opt = c == '?' || c == ':' ? NULL : opt_label(argv, optarg);
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': n_pp = parse_list(opt, optarg, 0, 1 << 24, pp); break;
        case 'n': n_tg = parse_list(opt, optarg, 0, 1 << 20, tg); break;
        case 'd': n_depth = parse_list(opt, optarg, 0, INT32_MAX, depth); break;
        case 't': n_threads = (int)parse_long(opt, optarg, 1, MAX_THREADS); break;
        case 'b': n_batch = (int)parse_long(opt, optarg, 1, 65536); break;
        case 'r': reps = (int)parse_long(opt, optarg, 1, MAX_RUNS); break;
        case 'o':
            if (strcmp(optarg, "md") && strcmp(optarg, "json")) die_value(opt, optarg, "expected md or json");
            format = optarg;
            break;
        case OPT_BW_MIB: bw_mib = parse_long(opt, optarg, 0, 1 << 20); break;
        case OPT_NO_SPLIT: split = false; break;
        case OPT_GROW: grow = true; break;
        case OPT_STATE_SAVE: state_save = optarg; break;
        case OPT_STATE_LOAD: state_load = optarg; break;
        case 's': n_streams = parse_list(opt, optarg, 1, MAX_STREAMS, streams); break;
        case OPT_STREAMS_ONLY: streams_only = true; break;
        case OPT_BACKEND: backend = parse_backend(opt, optarg); break;
        case OPT_CPU_MOE: cpu_moe = true; break;
        case OPT_N_CPU_MOE: n_cpu_moe = (int)parse_long(opt, optarg, 0, GDS_DS4_MAX_LAYERS); break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("gds-bench (ggml-ds) %s\n", GDS_VERSION); return 0;
        case 'v': verbose = true; break;
        case ':':
        default:
            if (c != ':' && c != '?' && numa_opt(c, opt, optarg, &numa)) break;
            return opt_error(argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gds-bench: unexpected argument '%s'\ngds-bench: see 'gds-bench --help'\n", argv[optind]);
        return 1;
    }
    if (!model) { fprintf(stderr, "gds-bench: -m MODEL.gguf is required\ngds-bench: see 'gds-bench --help'\n"); return 1; }
    int max_pp = 0, max_tg = 0, max_depth = 0;
    for (int i = 0; i < n_pp; i++) max_pp = pp[i] > max_pp ? pp[i] : max_pp;
    for (int i = 0; i < n_tg; i++) max_tg = tg[i] > max_tg ? tg[i] : max_tg;
    for (int i = 0; i < n_depth; i++) max_depth = depth[i] > max_depth ? depth[i] : max_depth;
    if (max_pp == 0 && max_tg == 0) { fprintf(stderr, "gds-bench: -p and -n are both 0: nothing to measure\n"); return 1; }
    if (streams_only && !n_streams) { fprintf(stderr, "gds-bench: --streams-only needs -s LIST\n"); return 1; }
    if (n_streams && max_tg == 0) { fprintf(stderr, "gds-bench: -s needs decode steps (-n > 0)\n"); return 1; }
    if (n_streams && grow) { fprintf(stderr, "gds-bench: -s does not combine with --grow\n"); return 1; }
    int max_streams = 0;
    for (int i = 0; i < n_streams; i++) max_streams = streams[i] > max_streams ? streams[i] : max_streams;

    if ((state_save || state_load) && (!grow || reps != 1)) {
        fprintf(stderr, "gds-bench: --state-save / --state-load need --grow and -r 1\n");
        return 1;
    }
    /* --grow: the tests of a depth append their tokens (pp, tg, and tg again without the head) */
    long long per_depth = 0;
    for (int i = 0; i < n_pp; i++) per_depth += pp[i];
    for (int i = 0; i < n_tg; i++) per_depth += (long long)tg[i] * (split ? 2 : 1);
    if (grow)
        for (int i = 1; i < n_depth; i++)
            if ((long long)depth[i] < (long long)depth[i - 1] + per_depth) {
                fprintf(stderr, "gds-bench: --grow: depth %d follows %d, but the tests at %d append %lld tokens (-d must ascend by at least that)\n",
                        depth[i], depth[i - 1], depth[i - 1], per_depth);
                return 1;
            }
    const long long need = (long long)max_depth + (grow ? per_depth : (max_pp > max_tg ? max_pp : max_tg)) + 16;
    if (need > INT32_MAX) { fprintf(stderr, "gds-bench: -d %d + the longest test exceed the largest context\n", max_depth); return 1; }
    const int n_ctx = need < 256 ? 256 : (int)need;
    if (n_threads == 0) n_threads = omp_get_num_procs() < MAX_THREADS ? omp_get_num_procs() : MAX_THREADS;

    gds_log_set(quiet_errors, NULL);
    if (!check_architecture(model)) return 1;
    struct stat sb;
    const double file_bytes = stat(model, &sb) == 0 ? (double)sb.st_size : 0;

    struct gds_model_params mp = { .n_threads = n_threads, .n_batch = n_batch, .backend = backend, .cpu_moe = cpu_moe,
                                   .n_cpu_moe = n_cpu_moe, .verbose = verbose };
    numa_params(&numa, &mp);
    struct gds_model *m = gds_model_load(model, &mp);
    if (!m) { fprintf(stderr, "gds-bench: %s\n", gds_last_error()); return 1; }
    const struct gds_ds4_hparams *hp = gds_model_hparams(m);
    double head_bytes = 0;
    double expert_bytes = 0;
    const double bpt = decode_bytes_per_token(model, hp, &head_bytes, &expert_bytes);
    if (bpt < 0) { fprintf(stderr, "gds-bench: %s\n", gds_last_error()); gds_model_free(m); return 1; }
    fprintf(stderr, "gds-bench: %s: %d layers, %d of %d experts per token: %.4f GB read per decode token\n", model, hp->n_layer,
            hp->n_expert_used, hp->n_expert, bpt / 1e9);
    if (!context_fits(m, n_ctx, "-d/-p/-n", "-d")) { gds_model_free(m); return 1; }
    /* bandwidth before the tests, with the tests' thread count (after the cheap checks, so a refused run is quick) */
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    const size_t llc = llc_bytes();
    size_t bw_bytes = bw_mib >= 0 ? (size_t)bw_mib << 20 : (size_t)1 << 30;
    if (bw_mib < 0 && 4 * llc > bw_bytes) bw_bytes = 4 * llc;
    const double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (mem > 0 && (double)bw_bytes > 0.5 * mem) {
        if (bw_mib >= 0) {
            fprintf(stderr, "gds-bench: --bw-mib '%ld': more than half of the %.0f MiB of memory of this machine\n", bw_mib, mem / 1048576.0);
            gds_model_free(m);
            return 1;
        }
        bw_bytes = (size_t)(0.25 * mem) & ~(size_t)4095; /* small machine: a quarter of memory is still far past the cache */
    }
    bw_bytes &= ~(size_t)63; /* aligned_alloc wants a multiple of the alignment */
    double bw_samples[2 * BW_PASSES] = { 0 }, bw = 0, bw_before = 0, bw_after = 0;
    if (bw_bytes) {
        fprintf(stderr, "gds-bench: read bandwidth, %d threads, %.0f MiB buffer ...\n", n_threads, bw_bytes / 1048576.0);
        bw = bw_before = measure_bw(bw_bytes, n_threads, bw_samples);
        if (bw <= 0) { fprintf(stderr, "gds-bench: --bw-mib: cannot allocate %.0f MiB for the bandwidth buffer\n", bw_bytes / 1048576.0); gds_model_free(m); return 1; }
        fprintf(stderr, "gds-bench: read bandwidth %.2f GB/s (median of %d passes; measured again after the tests)\n", bw, BW_PASSES);
    }

    struct bench b = { .m = m, .s = gds_seq_new(m, n_ctx) };
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_ctx);
    b.logits = malloc(sizeof(float) * (size_t)hp->n_vocab);
    const int n_res = n_depth * (n_pp + n_tg);
    struct result *res = calloc((size_t)n_res, sizeof *res);
    if (!b.s || !ids || !b.logits || !res) {
        fprintf(stderr, "gds-bench: %s\n", b.s ? "out of memory" : gds_last_error());
        return 1;
    }
    fill_tokens(ids, (size_t)n_ctx, hp->n_vocab);
    b.ids = ids;

    int rc = 0;
    fprintf(stderr, "gds-bench: warm-up (context %d, %d threads)\n", n_ctx, n_threads);
    gds_seq_reset(b.s);
    if (!eval(&b, ids, WARMUP_TOKENS, false, true) || !eval(&b, ids + WARMUP_TOKENS, 1, true, true)) rc = 1;
    int k = 0;
    if (grow) { /* results in the same order as below: depth-major, then pp, then tg */
        for (int di = 0; di < n_depth; di++)
            for (int ti = 0; ti < n_pp + n_tg; ti++) {
                struct result *r = &res[k];
                r->tg = ti >= n_pp;
                r->n = r->tg ? tg[ti - n_pp] : pp[ti];
                r->depth = depth[di];
                if (r->n > 0) k++;
            }
        for (int rep = 0; rep < reps && !rc; rep++) {
            gds_seq_reset(b.s);
            int pos = 0, kk = 0, start = 0;
            double tfill = 0;
            if (state_load) {
                if (!load_state(&b, state_load, depth[0])) { rc = 1; break; }
                pos = start = fill_from = gds_seq_n_past(b.s);
            }
            for (int di = 0; di < n_depth && !rc; di++) {
                fprintf(stderr, "gds-bench: run %d of %d: filling %d -> %d\n", rep + 1, reps, pos, depth[di]);
                const double tf = now_s();
                if (!eval(&b, ids + pos, depth[di] - pos, false, true)) { rc = 1; break; }
                tfill += now_s() - tf;
                pos = depth[di];
                if (state_save && di == n_depth - 1 && !save_state(&b, state_save)) { rc = 1; break; }
                for (; kk < k && res[kk].depth == depth[di] && !rc; kk++) {
                    struct result *r = &res[kk];
                    if (r->depth > start) r->fill[rep] = (r->depth - start) / tfill; /* the d-token prompt's rate, filled in segments */
                    fprintf(stderr, "gds-bench: %s%d @ d%d (from position %d), run %d of %d\n", r->tg ? "tg" : "pp", r->n, r->depth, pos,
                            rep + 1, reps);
                    r->tps[rep] = run_from(&b, pos, r->n, r->tg, true);
                    pos += r->n;
                    if (r->tps[rep] < 0) rc = 1;
                    if (!rc && r->tg && split) {
                        r->tps_layers[rep] = run_from(&b, pos, r->n, true, false);
                        pos += r->n;
                        if (r->tps_layers[rep] < 0) rc = 1;
                    }
                }
            }
        }
        for (int i = 0; i < k && !rc; i++) {
            struct result *r = &res[i];
            r->st = stats_of(r->tps, reps);
            if (r->depth > fill_from) r->st_fill = stats_of(r->fill, reps);
            if (r->tg && split) r->st_layers = stats_of(r->tps_layers, reps);
        }
    }
    for (int di = 0; di < n_depth && !rc && !grow && !streams_only; di++) {
        for (int ti = 0; ti < n_pp + n_tg && !rc; ti++) {
            struct result *r = &res[k];
            r->tg = ti >= n_pp;
            r->n = r->tg ? tg[ti - n_pp] : pp[ti];
            r->depth = depth[di];
            if (r->n == 0) continue;
            for (int rep = 0; rep < reps && !rc; rep++) {
                fprintf(stderr, "gds-bench: %s%d @ d%d, run %d of %d\n", r->tg ? "tg" : "pp", r->n, r->depth, rep + 1, reps);
                r->tps[rep] = run_once(&b, r->depth, r->n, r->tg, true, r->depth > 0 ? &r->fill[rep] : NULL);
                if (r->tps[rep] < 0) rc = 1;
                if (!rc && r->tg && split) {
                    r->tps_layers[rep] = run_once(&b, r->depth, r->n, true, false, NULL);
                    if (r->tps_layers[rep] < 0) rc = 1;
                }
            }
            if (!rc) r->st = stats_of(r->tps, reps);
            if (!rc && r->depth > 0) r->st_fill = stats_of(r->fill, reps);
            if (!rc && r->tg && split) r->st_layers = stats_of(r->tps_layers, reps);
            k++;
        }
    }

    /* concurrent decode (-s) */
    struct sresult *sres = NULL;
    int ks = 0;
    struct gds_seq *sseq[MAX_STREAMS] = { 0 };
    if (n_streams && !rc) {
        const int stride = max_depth + max_tg + 16, sctx = stride < 256 ? 256 : stride;
        const double need_s = (double)gds_model_seq_bytes(m, sctx) * max_streams;
        if (mem > 0 && need_s > 0.9 * mem) {
            fprintf(stderr, "gds-bench: -s %d with -d %d: %d sequences of %d tokens need %.1f GiB of state, more than this machine's %.1f GiB\n",
                    max_streams, max_depth, max_streams, sctx, need_s / 1073741824.0, mem / 1073741824.0);
            rc = 1;
        }
        int32_t *sids = rc ? NULL : malloc(sizeof(int32_t) * (size_t)stride * max_streams);
        float *slog = rc ? NULL : malloc(sizeof(float) * (size_t)hp->n_vocab * max_streams);
        sres = rc ? NULL : calloc((size_t)n_depth * n_tg * n_streams, sizeof *sres);
        for (int i = 0; i < max_streams && !rc; i++)
            if (!(sseq[i] = gds_seq_new(m, sctx))) { fprintf(stderr, "gds-bench: %s\n", gds_last_error()); rc = 1; }
        if (!rc && (!sids || !slog || !sres)) { fprintf(stderr, "gds-bench: out of memory\n"); rc = 1; }
        if (!rc) fill_tokens(sids, (size_t)stride * max_streams, hp->n_vocab);
        for (int di = 0; di < n_depth && !rc; di++)
            for (int ti = 0; ti < n_tg && !rc; ti++) {
                if (tg[ti] == 0) continue;
                for (int si = 0; si < n_streams && !rc; si++) {
                    struct sresult *r = &sres[ks];
                    *r = (struct sresult){ .streams = streams[si], .n = tg[ti], .depth = depth[di] };
                    for (int rep = 0; rep < reps && !rc; rep++) {
                        fprintf(stderr, "gds-bench: %d streams x tg%d @ d%d, run %d of %d\n", r->streams, r->n, r->depth, rep + 1, reps);
                        r->tps[rep] = run_streams(m, sseq, r->streams, sids, stride, r->depth, r->n, slog, hp->n_vocab);
                        if (r->tps[rep] < 0) rc = 1;
                    }
                    if (!rc) r->st = stats_of(r->tps, reps);
                    ks++;
                }
            }
        free(sids);
        free(slog);
    }

    /* shared machines drift: a second sample after the tests, the figure used is the median of both */
    if (!rc && bw_bytes) {
        fprintf(stderr, "gds-bench: read bandwidth again ...\n");
        bw_after = measure_bw(bw_bytes, n_threads, bw_samples + BW_PASSES);
        if (bw_after > 0) bw = stats_of(bw_samples, 2 * BW_PASSES).median;
        fprintf(stderr, "gds-bench: read bandwidth %.2f GB/s before the tests, %.2f after; using %.2f (median of all %d passes)\n",
                bw_before, bw_after, bw, bw_after > 0 ? 2 * BW_PASSES : BW_PASSES);
    }

    if (!rc && !strcmp(format, "md")) {
        const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
        char bw_text[32] = "not measured";
        if (bw > 0) snprintf(bw_text, sizeof bw_text, "%.1f GB/s", bw);
        if (k > 0) {
            printf("| model | size | threads | test | t/s (median, min..max of %d) | decode GB/s (x %.4g GB/token) | %% of read BW (%s) |\n",
                   reps, bpt / 1e9, bw_text);
            printf("|---|---:|---:|---|---:|---:|---:|\n");
        }
        for (int i = 0; i < k; i++) {
            const struct result *r = &res[i];
            printf("| %s | %.2f GiB | %d | %s%d @ d%d | %.2f (%.2f..%.2f) |", base, file_bytes / 1073741824.0, n_threads, r->tg ? "tg" : "pp",
                   r->n, r->depth, r->st.median, r->st.min, r->st.max);
            if (r->tg && bw > 0) printf(" %.2f | %.1f %% |\n", r->st.median * bpt / 1e9, 100.0 * r->st.median * bpt / 1e9 / bw);
            else if (r->tg) printf(" %.2f | n/a |\n", r->st.median * bpt / 1e9);
            else printf("  |  |\n");
        }
        if (split && n_tg > 0 && !streams_only) {
            const double lb = bpt - head_bytes;
            printf("\n| test | layers ms/token | per layer ms | layers GB/s (x %.4g GB) | layers %% BW | head ms | head GB/s (x %.4g GB) | head %% BW |\n",
                   lb / 1e9, head_bytes / 1e9);
            printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (int i = 0; i < k; i++) {
                const struct result *r = &res[i];
                if (!r->tg) continue;
                const double tl = 1.0 / r->st_layers.median, th = 1.0 / r->st.median - tl;
                printf("| tg%d @ d%d | %.3f | %.3f | %.2f |", r->n, r->depth, 1e3 * tl, 1e3 * tl / hp->n_layer, lb / tl / 1e9);
                if (bw > 0) printf(" %.1f %% |", 100.0 * lb / tl / 1e9 / bw);
                else printf(" n/a |");
                printf(" %.3f | %.2f |", 1e3 * th, th > 0 ? head_bytes / th / 1e9 : 0.0);
                if (bw > 0 && th > 0) printf(" %.1f %% |\n", 100.0 * head_bytes / th / 1e9 / bw);
                else printf(" n/a |\n");
            }
        }
        bool any_fill = false;
        for (int i = 0; i < k; i++) any_fill |= res[i].depth > fill_from;
        if (any_fill) {
            char from[64] = "";
            if (fill_from) snprintf(from, sizeof from, ", from a loaded state of %d tokens", fill_from);
            printf("\n| test | context prefill%s%s: tokens | t/s (median, min..max of %d) |\n", grow ? " (--grow: one fill per run, in segments)" : "", from, reps);
            printf("|---|---:|---:|\n");
            for (int i = 0; i < k; i++) {
                const struct result *r = &res[i];
                if (r->depth > fill_from)
                    printf("| %s%d @ d%d | %d | %.2f (%.2f..%.2f) |\n", r->tg ? "tg" : "pp", r->n, r->depth, r->depth - fill_from, r->st_fill.median,
                           r->st_fill.min, r->st_fill.max);
            }
        }
        if (ks > 0) {
            printf("%s| streams | test | aggregate t/s (median, min..max of %d) | per stream t/s | x one stream | bound x (weights read once per step) | "
                   "GB/s read | %% of read BW (%s) |\n", k > 0 ? "\n" : "", reps, bw_text);
            printf("|---:|---|---:|---:|---:|---:|---:|---:|\n");
            for (int i = 0; i < ks; i++) {
                const struct sresult *r = &sres[i];
                double one = 0;
                for (int j = 0; j < ks; j++)
                    if (sres[j].streams == 1 && sres[j].n == r->n && sres[j].depth == r->depth) one = sres[j].st.median;
                const double sbytes = step_bytes(bpt, expert_bytes, hp, r->streams), gbs = sbytes * r->st.median / r->streams / 1e9;
                printf("| %d | tg%d @ d%d | %.2f (%.2f..%.2f) | %.2f |", r->streams, r->n, r->depth, r->st.median, r->st.min, r->st.max,
                       r->st.median / r->streams);
                if (one > 0) printf(" %.2f |", r->st.median / one);
                else printf(" n/a |");
                printf(" %.2f | %.2f |", r->streams * bpt / sbytes, gbs);
                if (bw > 0) printf(" %.1f %% |\n", 100.0 * gbs / bw);
                else printf(" n/a |\n");
            }
        }
    } else if (!rc) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "program", "gds-bench");
        cJSON_AddStringToObject(o, "version", GDS_VERSION);
        cJSON *cmd = cJSON_AddArrayToObject(o, "argv");
        for (int i = 0; i < argc; i++) cJSON_AddItemToArray(cmd, cJSON_CreateString(argv[i]));
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddNumberToObject(o, "model_bytes", file_bytes);
        cJSON_AddStringToObject(o, "cpu", cpu);
        cJSON_AddNumberToObject(o, "threads", n_threads);
        cJSON_AddStringToObject(o, "backend", backend);
        cJSON_AddBoolToObject(o, "cpu_moe", cpu_moe);
        cJSON_AddNumberToObject(o, "n_cpu_moe", n_cpu_moe);
        cJSON_AddNumberToObject(o, "repetitions", reps);
        cJSON_AddNumberToObject(o, "n_batch", n_batch ? n_batch : 512);
        cJSON_AddBoolToObject(o, "grow", grow);
        cJSON_AddNumberToObject(o, "fill_from", fill_from);
        cJSON_AddNumberToObject(o, "n_ctx", n_ctx);
        cJSON_AddNumberToObject(o, "llc_bytes", (double)llc);
        cJSON_AddNumberToObject(o, "bandwidth_buffer_bytes", (double)bw_bytes);
        cJSON_AddNumberToObject(o, "read_bandwidth_gbs", bw);
        cJSON_AddNumberToObject(o, "read_bandwidth_before_gbs", bw_before);
        cJSON_AddNumberToObject(o, "read_bandwidth_after_gbs", bw_after);
        cJSON_AddItemToObject(o, "read_bandwidth_samples_gbs", cJSON_CreateDoubleArray(bw_samples, bw_bytes ? 2 * BW_PASSES : 0));
        cJSON_AddNumberToObject(o, "bytes_per_token", bpt);
        cJSON_AddNumberToObject(o, "routed_expert_bytes", expert_bytes);
        cJSON_AddNumberToObject(o, "n_layer", hp->n_layer);
        cJSON_AddNumberToObject(o, "n_expert", hp->n_expert);
        cJSON_AddNumberToObject(o, "n_expert_used", hp->n_expert_used);
        cJSON *arr = cJSON_AddArrayToObject(o, "results");
        for (int i = 0; i < k; i++) {
            const struct result *r = &res[i];
            cJSON *e = cJSON_CreateObject();
            char name[64];
            snprintf(name, sizeof name, "%s%d", r->tg ? "tg" : "pp", r->n);
            cJSON_AddStringToObject(e, "test", name);
            cJSON_AddStringToObject(e, "kind", r->tg ? "decode" : "prefill");
            cJSON_AddNumberToObject(e, "n_tokens", r->n);
            cJSON_AddNumberToObject(e, "depth", r->depth);
            json_runs(e, r->tps, reps, &r->st);
            if (r->depth > fill_from) {
                cJSON_AddItemToObject(e, "fill_runs_tps", cJSON_CreateDoubleArray(r->fill, reps));
                cJSON_AddNumberToObject(e, "fill_median_tps", r->st_fill.median);
            }
            if (r->tg) {
                cJSON_AddNumberToObject(e, "gbs", r->st.median * bpt / 1e9);
                if (bw > 0) cJSON_AddNumberToObject(e, "pct_bandwidth", 100.0 * r->st.median * bpt / 1e9 / bw);
            }
            if (r->tg && split) {
                const double lb = bpt - head_bytes, tl = 1.0 / r->st_layers.median, th = 1.0 / r->st.median - tl;
                cJSON_AddItemToObject(e, "runs_tps_without_head", cJSON_CreateDoubleArray(r->tps_layers, reps));
                cJSON_AddNumberToObject(e, "layers_bytes_per_token", lb);
                cJSON_AddNumberToObject(e, "head_bytes_per_token", head_bytes);
                cJSON_AddNumberToObject(e, "layers_ms", 1e3 * tl);
                cJSON_AddNumberToObject(e, "per_layer_ms", 1e3 * tl / hp->n_layer);
                cJSON_AddNumberToObject(e, "head_ms", 1e3 * th);
                if (bw > 0) {
                    cJSON_AddNumberToObject(e, "layers_pct_bandwidth", 100.0 * lb / tl / 1e9 / bw);
                    if (th > 0) cJSON_AddNumberToObject(e, "head_pct_bandwidth", 100.0 * head_bytes / th / 1e9 / bw);
                }
            }
            cJSON_AddItemToArray(arr, e);
        }
        if (ks > 0) {
            cJSON *sa = cJSON_AddArrayToObject(o, "streams");
            for (int i = 0; i < ks; i++) {
                const struct sresult *r = &sres[i];
                cJSON *e = cJSON_CreateObject();
                const double sbytes = step_bytes(bpt, expert_bytes, hp, r->streams);
                cJSON_AddNumberToObject(e, "streams", r->streams);
                cJSON_AddNumberToObject(e, "n_tokens", r->n);
                cJSON_AddNumberToObject(e, "depth", r->depth);
                json_runs(e, r->tps, reps, &r->st);
                cJSON_AddNumberToObject(e, "bytes_per_step", sbytes);
                cJSON_AddNumberToObject(e, "bound_x", r->streams * bpt / sbytes);
                cJSON_AddNumberToObject(e, "gbs", sbytes * r->st.median / r->streams / 1e9);
                cJSON_AddItemToArray(sa, e);
            }
        }
        char *text = cJSON_Print(o);
        if (text) puts(text);
        else rc = 1;
        free(text);
        cJSON_Delete(o);
    }
    free(res);
    free(sres);
    for (int i = 0; i < MAX_STREAMS; i++) gds_seq_free(sseq[i]);
    free(ids);
    free(b.logits);
    gds_seq_free(b.s);
    if (numa.bw_node <= 0) numa.bw_node = bw; /* the read bandwidth measured here, same threads */
    if (!numa_finish(m, &numa, verbose)) rc = 1;
    gds_model_free(m);
    return rc;
}
