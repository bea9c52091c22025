/*
 * test-model.c - DeepSeek-V4 model (models/deepseek4) against DeepSeek's own
 * reference outputs for the tiny-a fixture (tests/fixtures/README.md).
 *
 *     test-model TINY_A.gguf FIXTURE_DIR [WORK_DIR [OTHER_TYPE.gguf ...]]
 *
 * TINY_A.gguf is tests/fixtures/tiny-a converted by build/bin/gds-convert
 * (tests/test-model.sh does that); this program converts nothing itself.
 * WORK_DIR receives the broken GGUF files of part 5 and keeps them (default: a
 * mkdtemp folder under $TMPDIR, removed at the end). OTHER_TYPE.gguf: the same
 * checkpoint converted with other weight types (part 7). Parts (thresholds from issue 4; the
 * reference disagrees with itself by a few %, see the fixture README):
 *   1. per-layer teacher forcing: layer l alone (layer_begin = l, layer_end =
 *      l+1, decode path, fresh sequence) fed embed copies (l = 0) or
 *      hidden_prefill_all[l-1] at all N positions; hc_out vs hidden_prefill_all[l]
 *      per position rms(diff)/rms(ref): median 0 (bit-exact), a per-layer
 *      share of bit-exact positions near the measured one (tf_exact_min),
 *      >= 95% of positions < 2e-2; router and indexer choices vs the reference
 *      as sets, every difference explained by a tie or near-tie (relative gap
 *      < 1%) in the reference's score files (hash layers must match exactly).
 *   2. end to end: decode path (prefill tokens[0..p0], then one token per call)
 *      vs logits_decode, prefill path (one call, logits_all) vs
 *      logits_prefill_all: per position rms rel median <= 0.10, p90 <= 0.25,
 *      max <= 0.5, same argmax at >= 80%, rows p0..p0+7 each <= 0.15.
 *   3. teacher-forced greedy after the decode path vs logits_greedy (same
 *      median/p90/max bounds; same argmax at every step whose reference
 *      margin is > 0.5: 16 steps with margins down to 0.07 make a share of
 *      equal argmaxes a coin toss).
 *   4. our prefill, decode and chunked prefill (1, 7, 64 tokens per call, and
 *      one call split by the model into graphs of n_batch 7 and 64 tokens)
 *      against each other, and 1 vs 2 threads: bit-identical logits (memcmp;
 *      the runtime computes every token the same way whatever the batch).
 *   5. GGUF files that do not fit the hparams (copies of the good file with one
 *      thing altered, written with the gds-gguf writer) fail to load with a
 *      message naming the tensor or key.
 *   6. the gds-run program: --tokens/--logits on the decode path and with
 *      --chunk 64, against the reference under the bounds of 2.
 *   7. the same checkpoint stored with other weight types (extra GGUF
 *      arguments, tests/test-model.sh makes them with gds-convert --dense
 *      bf16|f16|f32 and --compat llama.cpp): prefill logits. Dense BF16/F16/
 *      F32 hold the FP8 values exactly and the graph quantizes their
 *      activations as the F8 kernels do, so their logits must equal the F8
 *      file's bit for bit; Q8_0 (llama.cpp's dense type) vs the reference
 *      under bounds near its measured error.
 * All figures are printed. Ends with "test-model: N passed, M failed".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "deepseek4.h"
#include "gds-backend.h"
#include "gds-gguf.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int n_pass, n_fail;

#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- fixture ------------------------------------------------------------- */

static void *read_file(const char *dir, const char *name, size_t expect) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) { printf("FAIL: cannot open %s\n", path); return NULL; }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (expect && (size_t)sz != expect) {
        printf("FAIL: %s has %ld bytes, expected %zu\n", path, sz, expect);
        fclose(f);
        return NULL;
    }
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    if (b) b[sz] = 0;
    fclose(f);
    return b;
}

struct fixture {
    int N, p0, L, hc, D, V, n_greedy;
    int n_csa, csa_layers[GDS_DS4_MAX_LAYERS];
    int n_rs, rs_layers[GDS_DS4_MAX_LAYERS];      /* layers of router_scores_prefill */
    int k_router, k_index, n_entries;              /* n_entries = N/4 (indexer score columns) */
    int E;                                         /* experts (router score columns) */
    double margins[64];
    int32_t *tokens, *greedy;
    float *logits_decode, *logits_prefill_all, *logits_greedy;
    uint16_t *hidden_all;                          /* [L, N, hc, D] bf16 bits */
    int32_t *idx_topk, *router_experts;
    float *idx_scores, *router_scores;
};

static int json_int(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static const cJSON *file_entry(const cJSON *man, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(man, "files"), name);
}

static int shape_dim(const cJSON *man, const char *file, int i) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(file_entry(man, file), "shape");
    const cJSON *v = cJSON_GetArrayItem(s, i);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static int int_list(const cJSON *arr, int *out, int max) {
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) if (cJSON_IsNumber(v) && n < max) out[n++] = v->valueint;
    return n;
}

static bool load_fixture(struct fixture *fx, const char *dir) {
    memset(fx, 0, sizeof(*fx));
    char *mtext = read_file(dir, "manifest.json", 0);
    if (!mtext) return false;
    cJSON *man = cJSON_Parse(mtext);
    free(mtext);
    if (!man) { printf("FAIL: %s/manifest.json: invalid JSON\n", dir); return false; }
    fx->N = json_int(man, "n_tokens", 0);
    fx->p0 = json_int(man, "p0", 0);
    fx->L = json_int(man, "num_hidden_layers", 0);
    fx->hc = json_int(man, "hc_mult", 0);
    fx->D = json_int(man, "hidden_size", 0);
    fx->V = json_int(man, "vocab_size", 0);
    fx->n_greedy = json_int(man, "n_greedy", 0);
    fx->n_csa = int_list(cJSON_GetObjectItemCaseSensitive(man, "csa_layers"), fx->csa_layers, GDS_DS4_MAX_LAYERS);
    fx->n_rs = int_list(cJSON_GetObjectItemCaseSensitive(file_entry(man, "router_scores_prefill.f32"), "layers"),
                        fx->rs_layers, GDS_DS4_MAX_LAYERS);
    fx->k_router = shape_dim(man, "router_experts_prefill.i32", 2);
    fx->k_index = shape_dim(man, "indexer_topk_prefill.i32", 2);
    fx->n_entries = shape_dim(man, "indexer_scores_prefill.f32", 2);
    fx->E = shape_dim(man, "router_scores_prefill.f32", 2);
    double *mg = fx->margins;
    const cJSON *v;
    int nm = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(man, "greedy_top1_minus_top2"))
        if (cJSON_IsNumber(v) && nm < 64) mg[nm++] = v->valuedouble;
    cJSON_Delete(man);
    if (fx->N <= 0 || fx->p0 <= 0 || fx->p0 >= fx->N || fx->L <= 0 || fx->hc <= 0 || fx->D <= 0 || fx->V <= 0 ||
        fx->n_greedy <= 0 || fx->n_greedy > 64 || nm < fx->n_greedy || fx->k_router <= 0 || fx->k_index <= 0 ||
        fx->n_entries <= 0 || fx->E <= 0 || fx->n_rs <= 0) {
        printf("FAIL: %s/manifest.json: missing or bad fields\n", dir);
        return false;
    }
    size_t N = (size_t)fx->N, V = (size_t)fx->V, HD = (size_t)fx->hc * (size_t)fx->D;
    fx->tokens = read_file(dir, "tokens.i32", N * 4);
    fx->greedy = read_file(dir, "greedy.i32", (size_t)fx->n_greedy * 4);
    fx->logits_decode = read_file(dir, "logits_decode.f32", (N - (size_t)fx->p0) * V * 4);
    fx->logits_prefill_all = read_file(dir, "logits_prefill_all.f32", N * V * 4);
    fx->logits_greedy = read_file(dir, "logits_greedy.f32", (size_t)fx->n_greedy * V * 4);
    fx->hidden_all = read_file(dir, "hidden_prefill_all.bf16", (size_t)fx->L * N * HD * 2);
    fx->idx_topk = read_file(dir, "indexer_topk_prefill.i32", (size_t)fx->n_csa * N * (size_t)fx->k_index * 4);
    fx->idx_scores = read_file(dir, "indexer_scores_prefill.f32", (size_t)fx->n_csa * N * (size_t)fx->n_entries * 4);
    fx->router_experts = read_file(dir, "router_experts_prefill.i32", (size_t)fx->L * N * (size_t)fx->k_router * 4);
    fx->router_scores = read_file(dir, "router_scores_prefill.f32", (size_t)fx->n_rs * N * (size_t)fx->E * 4);
    return fx->tokens && fx->greedy && fx->logits_decode && fx->logits_prefill_all && fx->logits_greedy &&
           fx->hidden_all && fx->idx_topk && fx->idx_scores && fx->router_experts && fx->router_scores;
}

static void free_fixture(struct fixture *fx) {
    free(fx->tokens); free(fx->greedy); free(fx->logits_decode); free(fx->logits_prefill_all);
    free(fx->logits_greedy); free(fx->hidden_all); free(fx->idx_topk); free(fx->idx_scores);
    free(fx->router_experts); free(fx->router_scores);
}

/* ---- statistics ------------------------------------------------------------ */

static double rel_rms(const float *a, const float *ref, size_t n) {
    double d2 = 0, r2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)ref[i];
        d2 += d * d;
        r2 += (double)ref[i] * (double)ref[i];
    }
    if (r2 == 0) return d2 == 0 ? 0 : INFINITY;
    return sqrt(d2 / r2);
}

static bool all_finite(const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) if (!isfinite(a[i])) return false;
    return true;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* percentile q in [0,1] of v[0..n), linear interpolation (numpy's default) */
static double percentile(const double *v, int n, double q) {
    if (n <= 0) return NAN;
    double *s = malloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_dbl);
    double x = q * (n - 1);
    int i = (int)floor(x);
    double r = i + 1 < n ? s[i] + (x - i) * (s[i + 1] - s[i]) : s[n - 1];
    free(s);
    return r;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

struct lstats { int n; double median, p90, max, argmax_frac, first_max, first[8]; int worst; };

/* rows [0, n) of ours vs ref (row stride V); first_max over rows [0, n_first) */
static struct lstats logit_stats(const float *ours, const float *ref, int n, int V, int n_first) {
    struct lstats st = { .n = n };
    double *r = calloc((size_t)n + 1, sizeof(double));
    int same = 0;
    for (int i = 0; i < n; i++) {
        const float *a = ours + (size_t)i * V, *b = ref + (size_t)i * V;
        r[i] = rel_rms(a, b, (size_t)V);
        if (!all_finite(a, (size_t)V)) r[i] = INFINITY;
        same += argmax(a, V) == argmax(b, V);
        if (i < n_first && i < 8) st.first[i] = r[i];
        if (i < n_first && r[i] > st.first_max) st.first_max = r[i];
        if (r[i] > st.max || i == 0) { st.max = r[i]; st.worst = i; }
    }
    st.median = percentile(r, n, 0.5);
    st.p90 = percentile(r, n, 0.9);
    st.argmax_frac = n ? (double)same / n : 0;
    free(r);
    return st;
}

static void print_lstats(const char *name, struct lstats st, int pos0) {
    printf("  %-34s n=%3d  median %.4f  p90 %.4f  max %.4f (pos %d)  argmax %5.1f%%",
           name, st.n, st.median, st.p90, st.max, pos0 + st.worst, 100 * st.argmax_frac);
    printf("\n");
    if (st.first_max > 0) {
        printf("  %-34s", "  (first 8 positions)");
        for (int i = 0; i < 8 && i < st.n; i++) printf(" %d:%.4f", pos0 + i, st.first[i]);
        printf("\n");
    }
}

/* issue 4 end-to-end bounds; the argmax share only over many positions (argmax) */
static void check_e2e(const char *name, struct lstats st, bool first8, bool argmax) {
    CHECK(st.median <= 0.10, "%s: median rms rel %.4f > 0.10", name, st.median);
    CHECK(st.p90 <= 0.25, "%s: p90 rms rel %.4f > 0.25", name, st.p90);
    CHECK(st.max <= 0.5, "%s: max rms rel %.4f > 0.5", name, st.max);
    if (argmax) CHECK(st.argmax_frac >= 0.80, "%s: same argmax at %.1f%% < 80%% of positions", name, 100 * st.argmax_frac);
    if (first8) CHECK(st.first_max <= 0.15, "%s: a row of the first 8 after p0 has rms rel %.4f > 0.15", name, st.first_max);
}

/* rows [0, n) of a and b (row stride V) bit for bit; prints the rms figures
 * too, so a difference shows its size. pos0 = position of row 0. */
static void check_same(const char *name, const float *a, const float *b, int n, int V, int pos0) {
    int first = -1, n_diff = 0;
    for (int i = 0; i < n; i++)
        if (memcmp(a + (size_t)i * V, b + (size_t)i * V, sizeof(float) * (size_t)V)) { n_diff++; if (first < 0) first = i; }
    struct lstats st = logit_stats(a, b, n, V, 0);
    printf("  %-34s n=%3d  %s", name, n, n_diff ? "DIFFER" : "bit-identical");
    if (n_diff) printf(" at %d positions, first %d; median rms rel %.4f, max %.4f (pos %d)", n_diff, pos0 + first, st.median, st.max, pos0 + st.worst);
    printf("\n");
    CHECK(n_diff == 0, "%s: logits differ at %d of %d positions (first %d, max rms rel %.3g); these paths must give the same bits",
          name, n_diff, n, pos0 + first, st.max);
}

/* ---- choice sets (router experts, indexer entries) ------------------------- */

static double rel_gap(double a, double b) {
    double m = fmax(fabs(a), fabs(b));
    return m == 0 ? 0 : fabs(a - b) / m;
}

static bool in_set(const int32_t *s, int n, int32_t x) {
    for (int i = 0; i < n; i++) if (s[i] == x) return true;
    return false;
}

/* valid (>= 0) ids of a row, in order */
static int valid_ids(const int32_t *row, int k, int32_t *out) {
    int n = 0;
    for (int i = 0; i < k; i++) if (row[i] >= 0) out[n++] = row[i];
    return n;
}

static bool same_set(const int32_t *a, int na, const int32_t *b, int nb) {
    if (na != nb) return false;
    for (int i = 0; i < na; i++) if (!in_set(b, nb, a[i])) return false;
    return true;
}

/*
 * The reference chose R (the top k of scores[0..n), -inf = not visible), we
 * chose S. The difference is explained when every id we took instead is
 * within 1% of the reference's k-th score and every id we left out is within
 * 1% of its (k+1)-th score (a tie or near-tie at the top-k boundary; chains of
 * swaps are covered since each side is measured against the boundary).
 * *gap gets the largest relative gap involved.
 */
static bool explained(const float *scores, int n, int k, const int32_t *R, int nr, const int32_t *S, int ns, double *gap) {
    *gap = INFINITY;
    if (nr != ns) return false;
    double *s = malloc(sizeof(double) * (size_t)n);
    int nf = 0;
    for (int i = 0; i < n; i++) if (isfinite(scores[i])) s[nf++] = scores[i];
    qsort(s, (size_t)nf, sizeof(double), cmp_dbl); /* ascending */
    if (nf <= k) { free(s); return false; }        /* all visible ids must be taken */
    double sk = s[nf - k], sk1 = s[nf - k - 1];
    free(s);
    double g = 0;
    for (int i = 0; i < ns; i++) {
        if (in_set(R, nr, S[i])) continue;
        if (S[i] < 0 || S[i] >= n || !isfinite(scores[S[i]])) return false;
        g = fmax(g, rel_gap(scores[S[i]], sk));
    }
    for (int i = 0; i < nr; i++) {
        if (in_set(S, ns, R[i])) continue;
        g = fmax(g, rel_gap(scores[R[i]], sk1));
    }
    *gap = g;
    return g < 0.01;
}

/* ---- model helpers ----------------------------------------------------------- */

static bool eval_ok(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e, const char *what) {
    enum gds_status st = gds_model_eval(m, s, e);
    if (st != GDS_OK) {
        printf("FAIL: %s: gds_model_eval: %s: %s\n", what, gds_status_name(st), gds_last_error());
        n_fail++;
        return false;
    }
    return true;
}

/* GDS_TEST_BACKEND=cuda (a build with that backend): the models run there */
static struct gds_model *load_model(const char *path, int n_threads) {
    const char *be = getenv("GDS_TEST_BACKEND");
    struct gds_model *m = gds_model_load(path, &(struct gds_model_params){ .n_threads = n_threads, .backend = be && *be ? be : NULL });
    if (!m) printf("FAIL: gds_model_load(%s, %d threads): %s\n", path, n_threads, gds_last_error());
    return m;
}

static int layer_ratio(const struct gds_ds4_hparams *hp, int l) { return hp->compress_ratio[l]; }

/* ---- 1. per-layer teacher forcing ---------------------------------------------- */

/* token_embd rows as floats, via the GGUF reader and the type traits */
static float *load_embeddings(const char *path, int D, int V) {
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) { printf("FAIL: gds_gguf_open: %s\n", gds_last_error()); return NULL; }
    float *emb = NULL;
    int64_t t = gds_gguf_find_tensor(f, "token_embd.weight");
    int64_t ne[4];
    if (t >= 0) gds_gguf_tensor_ne(f, t, ne);
    const struct gds_type_traits *tt = t >= 0 ? gds_type_traits(gds_gguf_tensor_type(f, t)) : NULL;
    if (t < 0 || ne[0] != D || ne[1] != V || !tt || !tt->to_float) {
        printf("FAIL: %s: token_embd.weight missing or not [%d, %d]\n", path, D, V);
    } else {
        emb = malloc(sizeof(float) * (size_t)D * (size_t)V);
        const uint8_t *data = gds_gguf_tensor_data(f, t);
        size_t rs = gds_row_size(gds_gguf_tensor_type(f, t), D);
        for (int v = 0; v < V; v++) tt->to_float(data + (size_t)v * rs, emb + (size_t)v * D, D);
    }
    gds_gguf_close(f);
    return emb;
}

/* Share of bit-exact positions per layer of tiny-a under teacher forcing. The
 * runtime reproduces the reference's bits at most positions (the rest differ
 * by the reference's own GEMM order and its discrete flips), so a wrong
 * rounding or order anywhere in a layer takes its share near 0: the planted
 * bugs of issue 8 (routing weight after w2, routed clamp 9.5, q not rounded
 * to bf16 after RoPE) gave ~0 % in every layer they touch.
 * The SIMD levels sum some dot products in different orders, so each has its
 * own figures. Measured, layers 0..5 (%):
 *   AVX2 (AMD EPYC)   88.1  94.7  91.9  71.2  69.4  95.9
 *   scalar            87.2  90.0  58.4  77.5  67.8  95.0
 *   AVX-512 (Xeon, Sapphire Rapids, device machine)
 *                     88.8  95.6  92.2  70.6  70.0  96.9
 * Bounds: measured minus about 3 points; NEON (not measured: test-model does
 * not run under qemu) takes the lowest bound of each layer. Other fixtures: 50 %.
 * The row is that of the arithmetic that runs the layers (tf_arith): with
 * GDS_TEST_BACKEND the backend's kernels, not the CPU's best level. */
#define TF_LAYERS 6
static const double tf_exact_min[GDS_SIMD_COUNT][TF_LAYERS] = {
    [GDS_SIMD_SCALAR] = { 0.84, 0.87, 0.55, 0.74, 0.64, 0.92 },
    [GDS_SIMD_AVX2]   = { 0.85, 0.91, 0.88, 0.68, 0.66, 0.92 },
    [GDS_SIMD_AVX512] = { 0.85, 0.92, 0.89, 0.67, 0.67, 0.93 },
    [GDS_SIMD_NEON]   = { 0.84, 0.87, 0.55, 0.68, 0.64, 0.92 },
    [GDS_SIMD_AMX]    = { 0.85, 0.91, 0.88, 0.67, 0.66, 0.92 }, /* the lower of AVX2 and AVX512 (its MXFP4 arithmetic is AVX2's) */
};

/* Which row of tf_exact_min applies: the CPU backend's level (GDS_CPU_SIMD
 * honoured); "ref" with GDS_REF_FULL=1 runs every op with the CPU's scalar
 * kernels, so the scalar row (measured there: the scalar figures to the
 * 0.1 %); any other backend (cuda, vulkan, ref claiming only a few ops next
 * to the CPU) sums in orders of its own that were not measured: -1, the
 * lowest bound of each layer over all rows (as for NEON). The CPU's row
 * there mixed two arithmetics: the ref backend's scalar layer 2 (58.4 %)
 * failed the AVX-512 bound of 89 %. *name receives the label printed. */
static int tf_arith(const char **name) {
    const char *be = getenv("GDS_TEST_BACKEND"), *full = getenv("GDS_REF_FULL");
    if (!be || !*be || strcmp(be, "cpu") == 0) {
        const enum gds_cpu_simd simd = gds_cpu_simd_best();
        *name = gds_cpu_simd_name(simd);
        return (int)simd;
    }
    if (strcmp(be, "ref") == 0 && full && *full && strcmp(full, "0") != 0) {
        *name = "ref backend, every op: CPU scalar kernels";
        return GDS_SIMD_SCALAR;
    }
    *name = be;
    return -1;
}

static double tf_bound(int row, int l) {
    if (row >= 0) return tf_exact_min[row][l];
    double b = 1;
    for (int r = 0; r < GDS_SIMD_COUNT; r++) b = fmin(b, tf_exact_min[r][l]);
    return b;
}


static void test_teacher_forced(struct gds_model *m, const struct fixture *fx, const float *emb) {
    const struct gds_ds4_hparams *hp = gds_model_hparams(m);
    const int N = fx->N, HD = fx->hc * fx->D, KR = fx->k_router, KI = fx->k_index;
    float *hc_in = malloc(sizeof(float) * (size_t)N * HD);
    float *hc_out = malloc(sizeof(float) * (size_t)N * HD);
    float *ref = malloc(sizeof(float) * (size_t)N * HD);
    float *hc_out0 = NULL;
    int32_t *rexp = malloc(sizeof(int32_t) * (size_t)N * KR);
    int32_t *itop = malloc(sizeof(int32_t) * (size_t)N * KI);
    double *rel = malloc(sizeof(double) * (size_t)N);
    int32_t a[256], b[256];

    const char *arith = NULL;
    const int row = tf_arith(&arith); /* the arithmetic that runs the layers: a row of tf_exact_min, or -1 */
    printf("\n1. per-layer teacher forcing (decode path, N = %d positions each, %s%s%s)\n", N, row >= 0 ? "" : "backend ", arith,
           row >= 0 ? "" : ": not measured, lowest bound of each layer");
    printf("  layer type        median       p95       max   <2e-2  exact | router diff/expl (max gap) | indexer diff/expl (max gap) |   s\n");
    for (int l = 0; l < fx->L; l++) {
        double t0 = now_s();
        int ratio = layer_ratio(hp, l);
        bool hash = l < hp->n_hash_layers;
        int csa = -1;
        for (int c = 0; c < fx->n_csa; c++) if (fx->csa_layers[c] == l) csa = c;
        int rs = -1;
        for (int c = 0; c < fx->n_rs; c++) if (fx->rs_layers[c] == l) rs = c;

        /* inputs: embed copies for layer 0, else the reference's block l-1 outputs */
        for (int p = 0; p < N; p++) {
            for (int h = 0; h < fx->hc; h++) {
                float *dst = hc_in + (size_t)p * HD + (size_t)h * fx->D;
                if (l == 0) {
                    memcpy(dst, emb + (size_t)fx->tokens[p] * fx->D, sizeof(float) * (size_t)fx->D);
                } else {
                    const uint16_t *src = fx->hidden_all + (((size_t)(l - 1) * N + p) * HD + (size_t)h * fx->D);
                    for (int i = 0; i < fx->D; i++) { uint32_t u = (uint32_t)src[i] << 16; memcpy(dst + i, &u, 4); }
                }
            }
        }
        for (size_t i = 0; i < (size_t)N * HD; i++) {
            uint32_t u = (uint32_t)fx->hidden_all[(size_t)l * N * HD + i] << 16;
            memcpy(ref + i, &u, 4);
        }
        for (size_t i = 0; i < (size_t)N * KR; i++) rexp[i] = -2;
        for (size_t i = 0; i < (size_t)N * KI; i++) itop[i] = -2;
        for (size_t i = 0; i < (size_t)N * HD; i++) hc_out[i] = NAN;

        struct gds_seq *s = gds_seq_new(m, N + 16);
        if (!s) { printf("FAIL: gds_seq_new: %s\n", gds_last_error()); n_fail++; break; }
        struct gds_eval e = {
            .tokens = fx->tokens, .n_tokens = N, .decode = true,
            .layer_begin = l, .layer_end = l + 1, .hc_in = hc_in, .hc_out = hc_out,
            .router_experts = rexp, .indexer_topk = csa >= 0 ? itop : NULL,
        };
        bool ok = eval_ok(m, s, &e, "teacher-forced layer");
        gds_seq_free(s);
        if (!ok) continue;

        if (l == 0) { /* hc_in = NULL with layer_begin 0 must be the embedding: same bits */
            hc_out0 = malloc(sizeof(float) * (size_t)N * HD);
            struct gds_seq *s0 = gds_seq_new(m, N + 16);
            struct gds_eval e0 = { .tokens = fx->tokens, .n_tokens = N, .decode = true,
                                   .layer_begin = 0, .layer_end = 1, .hc_out = hc_out0 };
            if (s0 && eval_ok(m, s0, &e0, "layer 0 with hc_in NULL"))
                CHECK(memcmp(hc_out0, hc_out, sizeof(float) * (size_t)N * HD) == 0,
                      "layer 0: hc_in = NULL (embedding) differs from explicit embed copies");
            gds_seq_free(s0);
        }

        CHECK(all_finite(hc_out, (size_t)N * HD), "layer %d: hc_out not finite or not written", l);
        int below = 0, exact = 0;
        for (int p = 0; p < N; p++) {
            rel[p] = rel_rms(hc_out + (size_t)p * HD, ref + (size_t)p * HD, (size_t)HD);
            if (!isfinite(rel[p])) rel[p] = INFINITY;
            below += rel[p] < 2e-2;
            exact += rel[p] == 0;
        }
        double med = percentile(rel, N, 0.5), p95 = percentile(rel, N, 0.95), mx = percentile(rel, N, 1.0);

        /* router choices */
        int r_diff = 0, r_expl = 0, r_bad = 0;
        double r_gap = 0;
        for (int p = 0; p < N; p++) {
            const int32_t *ours = rexp + (size_t)p * KR, *theirs = fx->router_experts + ((size_t)l * N + p) * KR;
            for (int j = 0; j < KR; j++) if (ours[j] < 0 || ours[j] >= hp->n_expert) r_bad++;
            int na = valid_ids(ours, KR, a), nb = valid_ids(theirs, KR, b);
            if (same_set(a, na, b, nb)) continue;
            r_diff++;
            double g = INFINITY;
            bool ex = !hash && rs >= 0 &&
                      explained(fx->router_scores + ((size_t)rs * N + p) * fx->E, fx->E, KR, b, nb, a, na, &g);
            if (ex) { r_expl++; r_gap = fmax(r_gap, g); }
            else if (r_diff - r_expl <= 3)
                printf("    layer %d pos %d: router experts differ, not a near-tie (gap %.4g)\n", l, p, g);
        }
        CHECK(r_bad == 0, "layer %d: %d router expert ids not written or out of range", l, r_bad);
        CHECK(r_diff == r_expl, "layer %d: %d router choice differences, only %d explained by near-ties", l, r_diff, r_expl);

        /* indexer choices (CSA layers) */
        int i_diff = 0, i_expl = 0, i_bad = 0;
        double i_gap = 0;
        if (csa >= 0) {
            for (int p = 0; p < N; p++) {
                const int32_t *ours = itop + (size_t)p * KI, *theirs = fx->idx_topk + ((size_t)csa * N + p) * KI;
                int visible = (p + 1) / ratio;
                for (int j = 0; j < KI; j++) if (ours[j] < -1 || ours[j] >= visible) i_bad++;
                int na = valid_ids(ours, KI, a), nb = valid_ids(theirs, KI, b);
                if (same_set(a, na, b, nb)) continue;
                i_diff++;
                double g = INFINITY;
                bool ex = explained(fx->idx_scores + ((size_t)csa * N + p) * fx->n_entries, fx->n_entries, KI,
                                    b, nb, a, na, &g);
                if (ex) { i_expl++; i_gap = fmax(i_gap, g); }
                else if (i_diff - i_expl <= 3)
                    printf("    layer %d pos %d: indexer top-k differs, not a near-tie (gap %.4g)\n", l, p, g);
            }
            CHECK(i_bad == 0, "layer %d: %d indexer ids not written or not visible", l, i_bad);
            CHECK(i_diff == i_expl, "layer %d: %d indexer choice differences, only %d explained by near-ties", l, i_diff, i_expl);
        }

        char type[16];
        snprintf(type, sizeof(type), "%s%s", ratio == 0 ? "SWA" : ratio == 4 ? "CSA" : "HCA", hash ? "+hash" : "");
        char ibuf[48] = "            -";
        if (csa >= 0) snprintf(ibuf, sizeof(ibuf), "%4d/%-4d (%.4f)", i_diff, i_expl, i_gap);
        printf("  %5d %-9s %9.2e %9.2e %9.2e %6.1f%% %5.1f%% |     %4d/%-4d (%.4f)       |   %-24s | %4.1f\n",
               l, type, med, p95, mx, 100.0 * below / N, 100.0 * exact / N, r_diff, r_expl, r_gap, ibuf, now_s() - t0);
        /* measured median 0 in every layer (more than half the positions bit-exact) */
        CHECK(med == 0, "layer %d: median rms rel %.3e, measured 0 (bit-exact)", l, med);
        const double emin = fx->L == TF_LAYERS ? tf_bound(row, l) : 0.5;
        CHECK(exact >= emin * N, "layer %d: %.1f%% of positions bit-exact, bound %.0f%% (%s; see tf_exact_min)", l,
              100.0 * exact / N, 100 * emin, arith);
        CHECK(below >= 0.95 * N, "layer %d: only %d of %d positions under 2e-2", l, below, N);
    }
    free(hc_in); free(hc_out); free(ref); free(hc_out0); free(rexp); free(itop); free(rel);
}

/* ---- 2-4. end to end, greedy, self-consistency ----------------------------------- */

/* decode path: prefill tokens[0..p0] (p0+1 tokens), then one token per call;
 * out[(p - p0) * V] = logits at position p, for p in [p0, n_end) */
static bool run_decode_path(struct gds_model *m, struct gds_seq *s, const struct fixture *fx, int n_end, float *out) {
    const int V = fx->V;
    struct gds_eval e = { .tokens = fx->tokens, .n_tokens = fx->p0 + 1, .logits = out };
    if (!eval_ok(m, s, &e, "decode path prefill")) return false;
    for (int p = fx->p0 + 1; p < n_end; p++) {
        e = (struct gds_eval){ .tokens = fx->tokens + p, .n_tokens = 1, .decode = true,
                               .logits = out + (size_t)(p - fx->p0) * V };
        if (!eval_ok(m, s, &e, "decode step")) return false;
    }
    return true;
}

/* chunked prefill: successive prefill calls of `chunk` tokens, logits of all N */
static bool run_chunked(struct gds_model *m, const struct fixture *fx, int chunk, float *out) {
    struct gds_seq *s = gds_seq_new(m, fx->N + 16);
    bool ok = s != NULL;
    for (int off = 0; ok && off < fx->N; off += chunk) {
        int n = fx->N - off < chunk ? fx->N - off : chunk;
        struct gds_eval e = { .tokens = fx->tokens + off, .n_tokens = n, .logits_all = out + (size_t)off * fx->V };
        ok = eval_ok(m, s, &e, "chunked prefill");
        if (ok && gds_seq_n_past(s) != off + n) {
            printf("FAIL: chunked prefill: n_past %d after %d tokens\n", gds_seq_n_past(s), off + n);
            n_fail++;
            ok = false;
        }
    }
    gds_seq_free(s);
    return ok;
}

/* *pre_out receives the prefill logits [N, V] (NULL if that run failed; the caller frees) */
static void test_end_to_end(const char *gguf, struct gds_model *m, const struct fixture *fx, float **pre_out) {
    const int N = fx->N, V = fx->V, P0 = fx->p0, ND = N - P0, NG = fx->n_greedy;
    float *dec = malloc(sizeof(float) * (size_t)ND * V);
    float *greedy = malloc(sizeof(float) * (size_t)NG * V);
    float *pre = malloc(sizeof(float) * (size_t)N * V);
    float *last = malloc(sizeof(float) * (size_t)V);
    float *chunked = malloc(sizeof(float) * (size_t)N * V);
    bool dec_ok = false, pre_ok = false;

    /* 2a. decode path, then 3. teacher-forced greedy on the same sequence */
    printf("\n2. end to end (per-position rms(diff)/rms(ref) of the logits)\n");
    double t0 = now_s();
    struct gds_seq *s = gds_seq_new(m, N + NG + 16);
    if (!s) { printf("FAIL: gds_seq_new: %s\n", gds_last_error()); n_fail++; goto done; }
    dec_ok = run_decode_path(m, s, fx, N, dec);
    double t_dec = now_s() - t0;
    if (dec_ok) {
        CHECK(gds_seq_n_past(s) == N, "decode path: n_past %d, expected %d", gds_seq_n_past(s), N);
        struct lstats st = logit_stats(dec, fx->logits_decode, ND, V, 8);
        print_lstats("decode path vs logits_decode", st, P0);
        check_e2e("decode path", st, true, true);
        printf("  decode path: %.2f s (%d decode steps, %.2f ms/token)\n", t_dec, ND - 1, 1e3 * t_dec / (ND - 1));

        printf("\n3. teacher-forced greedy (%d steps after position %d)\n", NG, N - 1);
        bool g_ok = true;
        for (int i = 0; i < NG && g_ok; i++) {
            struct gds_eval e = { .tokens = fx->greedy + i, .n_tokens = 1, .decode = true,
                                  .logits = greedy + (size_t)i * V };
            g_ok = eval_ok(m, s, &e, "greedy step");
        }
        if (g_ok) {
            struct lstats gs = logit_stats(greedy, fx->logits_greedy, NG, V, 0);
            print_lstats("greedy vs logits_greedy", gs, N);
            check_e2e("greedy", gs, false, false);
            int big = 0, big_same = 0;
            printf("  step: rms rel / argmax ours vs ref / ref margin\n ");
            for (int i = 0; i < NG; i++) {
                const float *a = greedy + (size_t)i * V, *b = fx->logits_greedy + (size_t)i * V;
                int am = argmax(a, V), bm = argmax(b, V);
                /* row i picks g_{i+1}; its reference margin is margins[i+1] (the last is not recorded) */
                printf(" %d:%.3f/%d%s%d", i, rel_rms(a, b, (size_t)V), am, am == bm ? "=" : "!=", bm);
                if (i + 1 < NG) printf("/%.2f", fx->margins[i + 1]);
                if (i + 1 < NG && fx->margins[i + 1] > 0.5) { big++; big_same += am == bm; }
            }
            printf("\n  argmax equal at %d of %d steps whose reference margin is > 0.5\n", big_same, big);
            CHECK(big_same == big, "greedy: argmax differs at %d steps with reference margin > 0.5", big - big_same);
        }
    }
    gds_seq_free(s);

    /* 2b. prefill path: one call over all N */
    t0 = now_s();
    s = gds_seq_new(m, N + 16);
    struct gds_eval e = { .tokens = fx->tokens, .n_tokens = N, .logits = last, .logits_all = pre };
    pre_ok = s && eval_ok(m, s, &e, "prefill");
    double t_pre = now_s() - t0;
    if (pre_ok) {
        printf("\n");
        struct lstats st = logit_stats(pre + (size_t)P0 * V, fx->logits_prefill_all + (size_t)P0 * V, ND, V, 8);
        print_lstats("prefill vs logits_prefill_all", st, P0);
        check_e2e("prefill path", st, true, true);
        struct lstats all = logit_stats(pre, fx->logits_prefill_all, N, V, 0);
        print_lstats("  (all positions 0..N-1)", all, 0);
        CHECK(all.max <= 0.5, "prefill path: max rms rel over all positions %.4f > 0.5", all.max);
        CHECK(memcmp(last, pre + (size_t)(N - 1) * V, sizeof(float) * (size_t)V) == 0,
              "prefill: logits (last) differ from the last row of logits_all");
        printf("  prefill: %.2f s for %d tokens (%.1f tokens/s); state %zu bytes for n_ctx %d, %.1f KV bytes/token\n",
               t_pre, N, N / t_pre, gds_seq_bytes(s), N + 16, gds_model_kv_bytes_per_token(m));
    }
    gds_seq_free(s);

    /* 4. our paths against each other */
    /* Measured: every comparison below bit-identical (AVX2), as the graph
     * computes each token the same way whatever the chunk, so any difference
     * is a bug (a chunk's position offset, a compressor state not carried
     * across a chunk boundary: comp_shift dropping one window per call
     * instead of all the windows a chunk completes differs from position 15
     * on with chunks of 7, 67 with 64, 43 on the decode path, whose first
     * call is a 41-token prefill). */
    printf("\n4. prefill vs decode vs chunked prefill, bit for bit\n");
    if (pre_ok && dec_ok) check_same("decode vs prefill", dec, pre + (size_t)P0 * V, ND, V, P0);
    static const int chunks[] = { 1, 7, 64 };
    for (int c = 0; c < 3; c++) {
        t0 = now_s();
        if (!run_chunked(m, fx, chunks[c], chunked)) continue;
        char name[64];
        if (pre_ok) {
            snprintf(name, sizeof(name), "chunk %d vs prefill (all positions)", chunks[c]);
            check_same(name, chunked, pre, N, V, 0);
        }
        if (dec_ok) {
            snprintf(name, sizeof(name), "chunk %d vs decode", chunks[c]);
            check_same(name, chunked + (size_t)P0 * V, dec, ND, V, P0);
        }
        printf("  (chunk %d: %.2f s)\n", chunks[c], now_s() - t0);
    }

    /* one eval call over all N tokens that the model splits into graphs of
     * n_batch tokens itself (n_batch 7 and 64; the default is 512 > N): the
     * split inside a call must not change a bit either. These models load on
     * the GDS_TEST_BACKEND backend like every other here (loaded on the CPU,
     * they compared its AVX-512 bits with the backend's prefill: 312 of 320
     * positions differed under ref, cuda and vulkan) */
    static const int batches[] = { 7, 64 };
    for (int c = 0; c < 2 && pre_ok; c++) {
        const char *be = getenv("GDS_TEST_BACKEND"); /* the backend the prefill above ran on */
        struct gds_model *mb = gds_model_load(gguf, &(struct gds_model_params){ .n_batch = batches[c], .backend = be && *be ? be : NULL });
        if (!mb) { printf("FAIL: gds_model_load(n_batch %d): %s\n", batches[c], gds_last_error()); n_fail++; continue; }
        struct gds_seq *sb = gds_seq_new(mb, N + 16);
        struct gds_eval eb = { .tokens = fx->tokens, .n_tokens = N, .logits_all = chunked };
        if (sb && eval_ok(mb, sb, &eb, "prefill split by n_batch")) {
            char name[64];
            snprintf(name, sizeof(name), "one call split by n_batch %d vs prefill", batches[c]);
            check_same(name, chunked, pre, N, V, 0);
        }
        gds_seq_free(sb);
        gds_model_free(mb);
    }

    /* 1 vs 2 threads: prefill logits_all and the first decode steps, bit for bit */
    {
        const int n_dec = 24 < ND ? 24 : ND;
        struct gds_model *m1 = load_model(gguf, 1), *m2 = load_model(gguf, 2);
        if (!m1 || !m2) { n_fail++; gds_model_free(m1); gds_model_free(m2); goto done; }
        float *bufs[2][2];
        bool ok = true;
        for (int t = 0; t < 2 && ok; t++) {
            struct gds_model *mt = t ? m2 : m1;
            bufs[t][0] = malloc(sizeof(float) * (size_t)N * V);
            bufs[t][1] = malloc(sizeof(float) * (size_t)ND * V);
            struct gds_seq *st = gds_seq_new(mt, N + 16);
            struct gds_eval ep = { .tokens = fx->tokens, .n_tokens = N, .logits_all = bufs[t][0] };
            ok = st && eval_ok(mt, st, &ep, "threads prefill");
            gds_seq_free(st);
            st = gds_seq_new(mt, N + 16);
            ok = ok && st && run_decode_path(mt, st, fx, P0 + n_dec, bufs[t][1]);
            gds_seq_free(st);
        }
        if (ok) {
            bool same_p = memcmp(bufs[0][0], bufs[1][0], sizeof(float) * (size_t)N * V) == 0;
            bool same_d = memcmp(bufs[0][1], bufs[1][1], sizeof(float) * (size_t)n_dec * V) == 0;
            printf("  1 vs 2 threads: prefill logits (%d positions) %s; decode path logits (%d positions) %s\n",
                   N, same_p ? "bit-identical" : "DIFFER", n_dec, same_d ? "bit-identical" : "DIFFER");
            CHECK(same_p, "1 vs 2 threads: prefill logits differ");
            CHECK(same_d, "1 vs 2 threads: decode logits differ");
            if (pre_ok) CHECK(memcmp(bufs[1][0], pre, sizeof(float) * (size_t)N * V) == 0,
                              "two loads of the same file give different prefill logits");
        }
        for (int t = 0; t < 2; t++) { free(bufs[t][0]); free(bufs[t][1]); }
        gds_model_free(m1);
        gds_model_free(m2);
    }
done:
    if (pre_ok) *pre_out = pre;
    else free(pre);
    free(dec); free(greedy); free(last); free(chunked);
}

/* ---- 5. bad GGUF files --------------------------------------------------------- */

struct mutation {
    const char *label;
    const char *drop_tensor;                     /* leave this tensor out */
    const char *reshape_tensor; int64_t ne[4];   /* new shape (dims = count of leading ne != 0) */
    const char *retype_tensor; enum gds_type type; /* same bytes, another type of the same size */
    const char *drop_key;
    const char *arr_key; int32_t arr[GDS_DS4_MAX_LAYERS]; int arr_n; /* replace an i32 array */
    const char *u32_key; uint32_t u32;           /* replace a u32 value */
    const char *expect[3];                       /* the message must contain one of these */
};

static bool copy_kv(struct gds_gguf_writer *w, const struct gds_gguf *f, int64_t i) {
    const char *k = gds_gguf_key(f, i);
    switch (gds_gguf_kv_type(f, i)) {
    case GDS_GGUF_UINT8:   return gds_gguf_writer_set_u8(w, k, gds_gguf_get_u8(f, i)) == GDS_OK;
    case GDS_GGUF_INT32:   return gds_gguf_writer_set_i32(w, k, gds_gguf_get_i32(f, i)) == GDS_OK;
    case GDS_GGUF_UINT32:  return gds_gguf_writer_set_u32(w, k, gds_gguf_get_u32(f, i)) == GDS_OK;
    case GDS_GGUF_UINT64:  return gds_gguf_writer_set_u64(w, k, gds_gguf_get_u64(f, i)) == GDS_OK;
    case GDS_GGUF_FLOAT32: return gds_gguf_writer_set_f32(w, k, gds_gguf_get_f32(f, i)) == GDS_OK;
    case GDS_GGUF_BOOL:    return gds_gguf_writer_set_bool(w, k, gds_gguf_get_bool(f, i)) == GDS_OK;
    case GDS_GGUF_STRING:  return gds_gguf_writer_set_str(w, k, gds_gguf_get_str(f, i)) == GDS_OK;
    case GDS_GGUF_ARRAY: {
        int64_t n = gds_gguf_arr_n(f, i);
        if (gds_gguf_arr_type(f, i) != GDS_GGUF_STRING)
            return gds_gguf_writer_set_arr(w, k, gds_gguf_arr_type(f, i), gds_gguf_arr_data(f, i), n) == GDS_OK;
        const char **v = malloc(sizeof(char *) * (size_t)(n ? n : 1));
        for (int64_t j = 0; j < n; j++) v[j] = gds_gguf_arr_str(f, i, j);
        bool ok = gds_gguf_writer_set_arr_str(w, k, v, n) == GDS_OK;
        free(v);
        return ok;
    }
    default:
        printf("  (copy: key %s has a type this test does not copy)\n", k);
        return false;
    }
}

/* a copy of src with one thing altered; false if the copy could not be written */
static bool write_mutant(const char *src, const char *dst, const struct mutation *mu) {
    struct gds_gguf *f = gds_gguf_open(src);
    if (!f) { printf("  open %s: %s\n", src, gds_last_error()); return false; }
    struct gds_gguf_writer *w = gds_gguf_writer_open(dst);
    bool ok = w != NULL;
    int64_t ka = gds_gguf_find_key(f, "general.alignment");
    if (ok && ka >= 0) gds_gguf_writer_set_alignment(w, gds_gguf_get_u32(f, ka));
    for (int64_t i = 0; ok && i < gds_gguf_n_kv(f); i++) {
        const char *k = gds_gguf_key(f, i);
        if (i == ka || (mu->drop_key && !strcmp(k, mu->drop_key))) continue;
        if (mu->arr_key && !strcmp(k, mu->arr_key))
            ok = gds_gguf_writer_set_arr(w, k, GDS_GGUF_INT32, mu->arr, mu->arr_n) == GDS_OK;
        else if (mu->u32_key && !strcmp(k, mu->u32_key))
            ok = gds_gguf_writer_set_u32(w, k, mu->u32) == GDS_OK;
        else
            ok = copy_kv(w, f, i);
    }
    int64_t nt = gds_gguf_n_tensors(f);
    size_t *sizes = calloc((size_t)nt, sizeof(size_t));
    for (int64_t t = 0; ok && t < nt; t++) {
        const char *name = gds_gguf_tensor_name(f, t);
        if (mu->drop_tensor && !strcmp(name, mu->drop_tensor)) continue;
        enum gds_type type = gds_gguf_tensor_type(f, t);
        int nd = gds_gguf_tensor_n_dims(f, t);
        int64_t ne[4];
        gds_gguf_tensor_ne(f, t, ne);
        if (mu->reshape_tensor && !strcmp(name, mu->reshape_tensor)) {
            for (nd = 0; nd < 4 && mu->ne[nd]; nd++) ne[nd] = mu->ne[nd];
            for (int d = nd; d < 4; d++) ne[d] = 1;
        }
        if (mu->retype_tensor && !strcmp(name, mu->retype_tensor)) type = mu->type;
        ok = gds_gguf_writer_add_tensor(w, name, type, nd, ne) == GDS_OK;
        sizes[t] = gds_row_size(type, ne[0]) * (size_t)(ne[1] * ne[2] * ne[3]);
    }
    ok = ok && gds_gguf_writer_begin_data(w) == GDS_OK;
    for (int64_t t = 0; ok && t < nt; t++) {
        if (mu->drop_tensor && !strcmp(gds_gguf_tensor_name(f, t), mu->drop_tensor)) continue;
        size_t have = gds_gguf_tensor_size(f, t), n = sizes[t];
        const uint8_t *data = gds_gguf_tensor_data(f, t);
        ok = gds_gguf_writer_write(w, data, n < have ? n : have) == GDS_OK;
        if (ok && n > have) {
            uint8_t *z = calloc(1, n - have);
            ok = gds_gguf_writer_write(w, z, n - have) == GDS_OK;
            free(z);
        }
    }
    free(sizes);
    if (w) {
        if (ok) ok = gds_gguf_writer_close(w) == GDS_OK;
        else gds_gguf_writer_abort(w);
    }
    if (!ok) printf("  writing %s failed: %s\n", dst, gds_last_error());
    gds_gguf_close(f);
    return ok;
}

static void test_bad_gguf(const char *gguf, const char *work, bool keep, const struct gds_ds4_hparams *hp) {
    printf("\n5. GGUF files that do not fit the hparams\n");
    int nl = hp->n_layer + hp->n_mtp;
    struct mutation mus[12];
    int n = 0;
    memset(mus, 0, sizeof(mus));
    mus[n++] = (struct mutation){ .label = "missing tensor", .drop_tensor = "blk.3.attn_kv.weight",
                                  .expect = { "blk.3.attn_kv.weight" } };
    mus[n++] = (struct mutation){ .label = "missing indexer tensor (CSA layer)", .drop_tensor = "blk.2.indexer.proj.weight",
                                  .expect = { "blk.2.indexer.proj.weight" } };
    mus[n++] = (struct mutation){ .label = "wrong shape (matrix rows)", .reshape_tensor = "blk.2.attn_q_b.weight",
                                  .ne = { hp->q_lora_rank, (int64_t)hp->n_head * hp->head_dim - 256 },
                                  .expect = { "blk.2.attn_q_b.weight" } };
    mus[n++] = (struct mutation){ .label = "wrong shape (norm)", .reshape_tensor = "blk.4.ffn_norm.weight",
                                  .ne = { hp->n_embd / 2 }, .expect = { "blk.4.ffn_norm.weight" } };
    mus[n++] = (struct mutation){ .label = "wrong shape (expert count)", .reshape_tensor = "blk.5.ffn_down_exps.weight",
                                  .ne = { hp->n_ff_exp, hp->n_embd, hp->n_expert / 2 },
                                  .expect = { "blk.5.ffn_down_exps.weight" } };
    mus[n++] = (struct mutation){ .label = "wrong type (norm as I32)", .retype_tensor = "blk.1.attn_norm.weight",
                                  .type = GDS_TYPE_I32, .expect = { "blk.1.attn_norm.weight" } };
    mus[n++] = (struct mutation){ .label = "missing key", .drop_key = "deepseek4.expert_used_count",
                                  .expect = { "deepseek4.expert_used_count" } };
    mus[n++] = (struct mutation){ .label = "key contradicts tensors", .u32_key = "deepseek4.expert_count", .u32 = 8,
                                  .expect = { "deepseek4.expert_count", "_exps.weight", "ffn_gate_inp" } };
    /* compress ratio lists: a ratio that is not 0/4/128, a list of the wrong length,
     * and a valid-looking ratio the layer's tensors do not fit (HCA layer 3 -> 4) */
    struct mutation r1 = { .label = "compress ratio 3", .arr_key = "deepseek4.attention.compress_ratios", .arr_n = nl,
                           .expect = { "compress_ratios" } };
    for (int l = 0; l < nl; l++) r1.arr[l] = hp->compress_ratio[l];
    struct mutation r2 = r1, r3 = r1;
    r1.arr[2] = 3;
    r2.label = "compress ratio list too short";
    r2.arr_n = nl - 1;
    r3.label = "compress ratio 128 -> 4 (tensors of an HCA layer)";
    r3.arr[3] = 4;
    r3.expect[1] = "blk.3.";
    mus[n++] = r1;
    mus[n++] = r2;
    mus[n++] = r3;

    char path[4096];
    for (int i = 0; i < n; i++) {
        const struct mutation *mu = &mus[i];
        snprintf(path, sizeof(path), "%s/bad-%d.gguf", work, i);
        if (!write_mutant(gguf, path, mu)) { CHECK(false, "%s: could not write the broken file", mu->label); continue; }
        struct gds_model *m = gds_model_load(path, &(struct gds_model_params){ .n_threads = 1 });
        const char *msg = m ? "(loaded)" : gds_last_error();
        bool named = false;
        for (int j = 0; j < 3 && mu->expect[j]; j++) named |= msg && strstr(msg, mu->expect[j]) != NULL;
        printf("  %-48s -> %s\n", mu->label, msg ? msg : "(no message)");
        CHECK(m == NULL, "%s: the model loaded", mu->label);
        CHECK(m != NULL || named, "%s: message does not name '%s'", mu->label, mu->expect[0]);
        gds_model_free(m);
        if (!keep) unlink(path);
    }
}

/* ---- 7. other weight types ------------------------------------------------------ */

/* storage type of the dense FP8 linears (blk.0.attn_q_a.weight), GDS_TYPE_COUNT if unknown */
static enum gds_type dense_type(const char *path) {
    struct gds_gguf *f = gds_gguf_open(path);
    if (!f) return GDS_TYPE_COUNT;
    int64_t t = gds_gguf_find_tensor(f, "blk.0.attn_q_a.weight");
    enum gds_type type = t >= 0 ? gds_gguf_tensor_type(f, t) : GDS_TYPE_COUNT;
    gds_gguf_close(f);
    return type;
}

/*
 * The same checkpoint with the dense FP8 linears stored as BF16/F16/F32
 * (exactly the FP8 values) or Q8_0 (llama.cpp's dense type; gds-convert
 * --compat llama.cpp writes what llama.cpp's converter writes: Q8_0 dense,
 * MXFP4 experts). The graph applies act_quant to the input of every linear that
 * is FP8 in the checkpoint whatever its storage type (deepseek4.c fp8_in), so
 * exact types must give the F8 file's logits bit for bit (measured so on
 * AVX2 and scalar). Before that change, BF16 gave max 0.129 over the
 * first 8 rows after p0 (pos 45) and median 0.085 against the reference.
 * pre_f8: the F8 file's prefill logits [N, V] or NULL.
 */
static void test_weight_types(char *const *files, int n_files, const float *pre_f8, const struct fixture *fx) {
    const int N = fx->N, V = fx->V, P0 = fx->p0;
    printf("\n7. the checkpoint with other weight types (prefill logits)\n");
    float *lg = malloc(sizeof(float) * (size_t)N * V);
    for (int i = 0; i < n_files; i++) {
        const enum gds_type t = dense_type(files[i]);
        struct gds_model *m = load_model(files[i], 2);
        CHECK(m != NULL && t != GDS_TYPE_COUNT, "%s did not load or has no blk.0.attn_q_a.weight", files[i]);
        if (!m) continue;
        struct gds_seq *s = gds_seq_new(m, N + 16);
        struct gds_eval e = { .tokens = fx->tokens, .n_tokens = N, .logits_all = lg };
        const double t0 = now_s();
        const bool ok = s && eval_ok(m, s, &e, "prefill (other weight type)");
        gds_seq_free(s);
        if (ok && t == GDS_TYPE_Q8_0) {
            /* one token at a time: wo_a from the Q8_0 bytes (GDS_MM_ACT_BF16 mat-vec,
             * bf16(q * d)), prefill from the BF16 copy (tiles): the same bits */
            float *one = malloc(sizeof(float) * (size_t)N * V);
            if (one && run_chunked(m, fx, 1, one)) check_same("dense Q8_0: one token at a time vs prefill", one, lg, N, V, 0);
            free(one);
        }
        gds_model_free(m);
        if (!ok) continue;
        char name[64];
        snprintf(name, sizeof(name), "dense %s vs logits_prefill_all", gds_type_name(t));
        struct lstats st = logit_stats(lg + (size_t)P0 * V, fx->logits_prefill_all + (size_t)P0 * V, N - P0, V, 8);
        print_lstats(name, st, P0);
        printf("  (%s: %.2f s)\n", files[i], now_s() - t0);
        if (t == GDS_TYPE_BF16 || t == GDS_TYPE_F16 || t == GDS_TYPE_F32) {
            snprintf(name, sizeof(name), "dense %s vs dense F8_E4M3_B128", gds_type_name(t));
            if (pre_f8) check_same(name, lg, pre_f8, N, V, 0);
            else CHECK(false, "%s: no F8 logits to compare with", name);
        } else if (t == GDS_TYPE_Q8_0) {
            /* Q8_0 weights are not the FP8 values, and mul_mat quantizes the
             * act_quant'ed input again to q8_0. Measured (AVX2): median 0.087,
             * p90 0.152, max 0.256, first 8 rows max 0.120, argmax 85.4 %
             * (without act_quant: median 0.082, first 8 rows 0.160). */
            CHECK(st.median <= 0.10, "%s: median rms rel %.4f > 0.10 (measured 0.087)", name, st.median);
            CHECK(st.p90 <= 0.17, "%s: p90 rms rel %.4f > 0.17 (measured 0.152)", name, st.p90);
            CHECK(st.max <= 0.30, "%s: max rms rel %.4f > 0.30 (measured 0.256)", name, st.max);
            CHECK(st.first_max <= 0.14, "%s: a row of the first 8 after p0 has rms rel %.4f > 0.14 (measured 0.120)", name, st.first_max);
            CHECK(st.argmax_frac >= 0.82, "%s: same argmax at %.1f%% < 82%% of positions (measured 85.4%%)", name, 100 * st.argmax_frac);
        } else {
            check_e2e(name, st, true, true);
        }
    }
    free(lg);
}

/* ---- main ------------------------------------------------------------------ */

/* 6. the gds-run program (issue 4 item 5): --tokens/--logits on the decode path
 * (--decode-from p0) and chunked prefill (--chunk 64), rows p0.. vs the reference */
static void test_gds_run(const char *gguf, const struct fixture *fx, const char *work) {
    const char *bin = getenv("GDS_RUN");
    if (!bin || !*bin) { printf("SKIP gds-run checks (GDS_RUN not set)\n"); return; }
    /* GDS_RUN names the program to test (tests/test-model.sh sets it): missing = a failure, not a skip */
    CHECK(access(bin, X_OK) == 0, "GDS_RUN=%s is not an executable (gds-run not built?)", bin);
    if (access(bin, X_OK) != 0) return;
    char tok[4096], out[4096], cmd[16384];
    snprintf(tok, sizeof(tok), "%s/tokens.txt", work);
    FILE *f = fopen(tok, "w");
    CHECK(f != NULL, "cannot write %s", tok);
    if (!f) return;
    for (int i = 0; i < fx->N; i++) fprintf(f, "%d%s", fx->tokens[i], i % 16 == 15 ? "\n" : (i % 2 ? ", " : " "));
    fclose(f);
    const char *modes[2] = { "--decode-from", "--chunk" };
    const int args[2] = { fx->p0, 64 };
    for (int k = 0; k < 2; k++) {
        snprintf(out, sizeof(out), "%s/logits-%d.f32", work, k);
        snprintf(cmd, sizeof(cmd), "'%s' -m '%s' --tokens '%s' --logits '%s' %s %d -t 2 2>'%s.log'", bin, gguf, tok, out, modes[k], args[k], out);
        int rc = system(cmd);
        CHECK(rc == 0, "gds-run %s %d: exit status %d (see %s.log)", modes[k], args[k], rc, out);
        size_t n = (size_t)fx->N * fx->V;
        float *lg = malloc((n + 1) * sizeof(float)); /* + 1: a longer file is detected, not written past the end */
        FILE *fl = fopen(out, "rb");
        size_t got = fl ? fread(lg, sizeof(float), n + 1, fl) : 0;
        if (fl) fclose(fl);
        CHECK(got == n, "gds-run %s: %s holds %zu floats, expected N*V = %zu", modes[k], out, got, n);
        if (got == n) {
            const float *ref = k == 0 ? fx->logits_decode : fx->logits_prefill_all + (size_t)fx->p0 * fx->V;
            struct lstats st = logit_stats(lg + (size_t)fx->p0 * fx->V, ref, fx->N - fx->p0, fx->V, 8);
            char name[64];
            snprintf(name, sizeof(name), "gds-run %s %d", modes[k], args[k]);
            print_lstats(name, st, fx->p0);
            check_e2e(name, st, true, true);
        }
        free(lg);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TINY_A.gguf FIXTURE_DIR [WORK_DIR]\n", argv[0]);
        printf("test-model: 0 passed, 1 failed\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep our lines in order with the library's stderr */
    const char *gguf = argv[1], *fixdir = argv[2];
    double t_start = now_s();
    struct fixture fx;
    bool fx_ok = load_fixture(&fx, fixdir);
    CHECK(fx_ok, "fixture %s could not be read", fixdir);
    struct gds_model *m = fx_ok ? load_model(gguf, 2) : NULL;
    float *pre_f8 = NULL; /* prefill logits of part 2, for part 7 */
    CHECK(m != NULL, "the tiny-a GGUF did not load");
    if (m) {
        const struct gds_ds4_hparams *hp = gds_model_hparams(m);
        printf("tiny-a: n_layer %d (+%d MTP), n_embd %d, n_vocab %d, hc %d, n_hash_layers %d, ratios",
               hp->n_layer, hp->n_mtp, hp->n_embd, hp->n_vocab, hp->hc_mult, hp->n_hash_layers);
        for (int l = 0; l < hp->n_layer + hp->n_mtp; l++) printf(" %d", hp->compress_ratio[l]);
        printf("; KV %.1f bytes/token; N %d, p0 %d\n", gds_model_kv_bytes_per_token(m), fx.N, fx.p0);
        bool shapes = hp->n_layer == fx.L && hp->n_embd == fx.D && hp->n_vocab == fx.V && hp->hc_mult == fx.hc &&
                      hp->n_expert_used == fx.k_router && hp->index_topk == fx.k_index && hp->n_expert == fx.E &&
                      hp->n_layer - hp->n_hash_layers == fx.n_rs;
        for (int c = 0; c < fx.n_csa; c++) shapes &= fx.csa_layers[c] < hp->n_layer && hp->compress_ratio[fx.csa_layers[c]] == 4;
        CHECK(shapes, "hparams do not match the fixture manifest");
        if (shapes) {
            float *emb = load_embeddings(gguf, fx.D, fx.V);
            CHECK(emb != NULL, "token_embd could not be read");
            if (emb) test_teacher_forced(m, &fx, emb);
            free(emb);
            test_end_to_end(gguf, m, &fx, &pre_f8);
        }

        char tmpl[4096], *work = argc > 3 ? argv[3] : NULL;
        if (!work) {
            const char *td = getenv("TMPDIR");
            snprintf(tmpl, sizeof(tmpl), "%s/test-model.XXXXXX", td && *td ? td : "/tmp");
            work = mkdtemp(tmpl);
        }
        CHECK(work != NULL, "no work folder for the broken GGUF files");
        if (work && shapes) test_gds_run(gguf, &fx, work);
        if (work) test_bad_gguf(gguf, work, argc > 3, hp);
        if (shapes && argc > 4) test_weight_types(argv + 4, argc - 4, pre_f8, &fx);
        if (work && argc <= 3) rmdir(work);
        gds_model_free(m);
    }
    free(pre_f8);
    free_fixture(&fx);
    printf("\ntest-model: total %.1f s\n", now_s() - t_start);
    printf("test-model: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
