/*
 * test-convert.c - acceptance tests of gds-convert (driven by tests/test-convert.sh).
 *
 *     test-convert GDS_CONVERT_BIN FIXTURES_DIR WORK_DIR
 *
 * Runs the converter as a child process and checks what it wrote with the
 * library's GGUF reader. Independent of the converter's code: this file has
 * its own safetensors header scanner, its own official -> GGUF name table and
 * its own decoders for the checkpoint formats (spec deepseek-v4.md 2.2):
 *   1. tiny-a converts; every GGUF tensor dequantized (type traits to_float)
 *      equals the dequantized checkpoint tensor (FP8 e4m3 * 2^(S-127) per
 *      128x128 block, FP4 e2m1 * 2^(S-127) per 32, BF16/F32 exact, I64 -> I32)
 *      bit for bit; the only allowance is the sign of zero (MXFP4 decodes code
 *      8, "-0", as +0, as ggml does); every checkpoint tensor is used once.
 *   2. the peer llama.cpp-style MTP sidecar (tiny-a-llamacpp) equals our
 *      tensors (F16 ones within F16 rounding) and keys; our --compat llama.cpp
 *      sidecar has exactly its tensor names, shapes and exact tensors.
 *   3. --tokenizer-dir embeds the 1024-token vocabulary (same as the peer's).
 *   4. every bad input fails with exit status 1, a message naming the file
 *      and tensor or field, and no output file (nor OUT.tmp).
 *   plus: --dense/--experts requantization, --max-layers, --dry-run,
 *   --synthetic (deterministic, complete), disk full (RLIMIT_FSIZE).
 * Ends with "test-convert: N passed, M failed".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "gds.h"
#include "gds-gguf.h"
#include "gds-quants.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int n_pass, n_fail;
static const char *g_bin, *g_fix, *g_work;

#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ---- files --------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[sz] = 0; *n = (size_t)sz; }
    return b;
}

static int write_all(const char *path, const void *a, size_t na, const void *b, size_t nb) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(a, 1, na, f) == na && (!nb || fwrite(b, 1, nb, f) == nb);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static bool exists(const char *p) { struct stat sb; return stat(p, &sb) == 0; }

static char *cat(const char *a, const char *b) {
    char *s = malloc(strlen(a) + strlen(b) + 2);
    sprintf(s, "%s/%s", a, b);
    return s;
}

/* ---- child process ------------------------------------------------------- */

struct run { int status; char err[16384]; char out[16384]; };

/* Starts the converter with stderr/stdout in WORK/stderr.txt, stdout.txt.
 * Signal dispositions are the defaults (as from an interactive shell, so the
 * converter's own SIGINT/SIGXFSZ handling is what is tested); fsize_limit > 0
 * sets RLIMIT_FSIZE like `ulimit -f`. */
static pid_t spawn_convert(long fsize_limit, const char *const *args) {
    char errpath[4096], outpath[4096];
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", g_work);
    snprintf(outpath, sizeof(outpath), "%s/stdout.txt", g_work);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int fo = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGXFSZ };
        for (int i = 0; i < 4; i++) signal(sigs[i], SIG_DFL);
        if (fsize_limit > 0) {
            struct rlimit rl = { (rlim_t)fsize_limit, (rlim_t)fsize_limit };
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        const char *argv[64];
        int n = 0;
        argv[n++] = g_bin;
        for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
        argv[n] = NULL;
        execv(g_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* status: the exit status, or 128 + the signal that ended it */
static void finish_convert(struct run *r, pid_t pid) {
    int ws = 0;
    waitpid(pid, &ws, 0);
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    char p[4096];
    size_t n = 0;
    snprintf(p, sizeof(p), "%s/stderr.txt", g_work);
    uint8_t *b = read_all(p, &n);
    snprintf(r->err, sizeof(r->err), "%s", b ? (char *)b : "");
    free(b);
    snprintf(p, sizeof(p), "%s/stdout.txt", g_work);
    b = read_all(p, &n);
    snprintf(r->out, sizeof(r->out), "%s", b ? (char *)b : "");
    free(b);
}

/* argv NULL-terminated after the binary; fsize_limit > 0 sets RLIMIT_FSIZE */
static void run_convert(struct run *r, long fsize_limit, const char *const *args) {
    finish_convert(r, spawn_convert(fsize_limit, args));
}

/* ---- an independent safetensors header scanner --------------------------- */

struct sten { char name[128]; char dtype[16]; int nd; int64_t shape[4]; uint64_t a, b; const uint8_t *data; };
struct sfile { uint8_t *buf; size_t size; uint64_t hlen; struct sten *t; int n; };

static const char *skip_ws(const char *p) { while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++; return p; }
static const char *jstr(const char *p, char *out, size_t n) { /* no escapes in these headers */
    p = skip_ws(p);
    if (*p != '"') return NULL;
    size_t i = 0;
    for (p++; *p && *p != '"'; p++) if (i + 1 < n) out[i++] = *p;
    out[i] = 0;
    return *p == '"' ? p + 1 : NULL;
}
static const char *jints(const char *p, int64_t *v, int *n) {
    p = skip_ws(p);
    if (*p++ != '[') return NULL;
    *n = 0;
    for (p = skip_ws(p); *p != ']'; p = skip_ws(p)) {
        char *e;
        v[(*n)++] = strtoll(p, &e, 10);
        p = skip_ws(e);
        if (*p == ',') p++;
        if (*n > 8) return NULL;
    }
    return p + 1;
}

static bool sfile_load(struct sfile *f, const char *path) {
    memset(f, 0, sizeof(*f));
    f->buf = read_all(path, &f->size);
    if (!f->buf || f->size < 8) return false;
    memcpy(&f->hlen, f->buf, 8);
    char *h = malloc(f->hlen + 1);
    memcpy(h, f->buf + 8, f->hlen);
    h[f->hlen] = 0;
    const char *p = skip_ws(h);
    if (*p++ != '{') { free(h); return false; }
    f->t = calloc(4096, sizeof(*f->t));
    while (1) {
        p = skip_ws(p);
        if (*p == '}') break;
        if (*p == ',') { p++; continue; }
        struct sten *t = &f->t[f->n];
        p = jstr(p, t->name, sizeof(t->name));
        p = skip_ws(p);
        if (!p || *p++ != ':') break;
        p = skip_ws(p);
        if (*p++ != '{') break;
        bool meta = strcmp(t->name, "__metadata__") == 0;
        while (p && *(p = skip_ws(p)) != '}') {
            char key[32];
            if (*p == ',') { p++; continue; }
            p = jstr(p, key, sizeof(key));
            p = skip_ws(p) + 1;
            if (!strcmp(key, "dtype")) p = jstr(p, t->dtype, sizeof(t->dtype));
            else if (!strcmp(key, "shape")) p = jints(p, t->shape, &t->nd);
            else if (!strcmp(key, "data_offsets")) { int64_t v[8]; int n; p = jints(p, v, &n); t->a = (uint64_t)v[0]; t->b = (uint64_t)v[1]; }
            else { char tmp[4096]; p = jstr(p, tmp, sizeof(tmp)); }
        }
        if (!p) break;
        p++;
        if (!meta) { t->data = f->buf + 8 + f->hlen + t->a; f->n++; }
    }
    free(h);
    return true;
}

struct ckpt { struct sfile f[4]; int nf; };

static const struct sten *ck_find(const struct ckpt *c, const char *name) {
    for (int i = 0; i < c->nf; i++)
        for (int j = 0; j < c->f[i].n; j++) if (!strcmp(c->f[i].t[j].name, name)) return &c->f[i].t[j];
    return NULL;
}

/* ---- independent decoders (spec deepseek-v4.md 2.2) ---------------------- */

static float dec_e4m3(uint8_t c) {
    int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
    return s ? -v : v;
}
static float dec_e8m0(uint8_t b) { return b == 255 ? NAN : ldexpf(1.0f, (int)b - 127); }
static const float E2M1[16] = { 0, .5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -.5f, -1, -1.5f, -2, -3, -4, -6 };
static float dec_bf16(const uint8_t *p) { uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16; float f; memcpy(&f, &u, 4); return f; }

/* Dequantizes an official tensor (with its scale when given) into out[]. */
static int64_t dequant_official(const struct sten *w, const struct sten *s, float *out) {
    if (!strcmp(w->dtype, "F8_E4M3")) {
        int64_t N = w->shape[0], K = w->shape[1], sk = s->shape[1];
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) out[n * K + k] = dec_e4m3(w->data[n * K + k]) * dec_e8m0(s->data[(n / 128) * sk + k / 128]);
        return N * K;
    }
    if (!strcmp(w->dtype, "I8")) { /* packed e2m1, low nibble = even k */
        int64_t N = w->shape[0], K = 2 * w->shape[1];
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                uint8_t byte = w->data[n * (K / 2) + k / 2];
                uint8_t nib = (k % 2 == 0) ? (byte & 15) : (byte >> 4);
                out[n * K + k] = E2M1[nib] * dec_e8m0(s->data[n * (K / 32) + k / 32]);
            }
        return N * K;
    }
    int64_t n = 1;
    for (int i = 0; i < w->nd; i++) n *= w->shape[i];
    for (int64_t i = 0; i < n; i++) {
        if (!strcmp(w->dtype, "BF16")) out[i] = dec_bf16(w->data + 2 * i);
        else if (!strcmp(w->dtype, "F32")) memcpy(&out[i], w->data + 4 * i, 4);
        else if (!strcmp(w->dtype, "I64")) { int64_t v; memcpy(&v, w->data + 8 * i, 8); out[i] = (float)v; }
        else return -1;
    }
    return n;
}

static bool same_value(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b; /* bit equality except for the sign of zero */
}

/* ---- our own official <-> GGUF name table -------------------------------- */

struct nm { const char *gguf, *hf; int kind; }; /* kind 0 plain, 1 fp8 (hf has .weight/.scale), 2 experts, 3 eh_proj */
static const struct nm layer_names[] = {
    { "attn_norm.weight", "attn_norm.weight", 0 }, { "ffn_norm.weight", "ffn_norm.weight", 0 },
    { "attn_sinks.weight", "attn.attn_sink", 0 }, { "attn_q_a.weight", "attn.wq_a", 1 },
    { "attn_q_a_norm.weight", "attn.q_norm.weight", 0 }, { "attn_q_b.weight", "attn.wq_b", 1 },
    { "attn_kv.weight", "attn.wkv", 1 }, { "attn_kv_a_norm.weight", "attn.kv_norm.weight", 0 },
    { "attn_output_a.weight", "attn.wo_a", 1 }, { "attn_output_b.weight", "attn.wo_b", 1 },
    { "hc_attn_fn.weight", "hc_attn_fn", 0 }, { "hc_attn_base.weight", "hc_attn_base", 0 },
    { "hc_attn_scale.weight", "hc_attn_scale", 0 }, { "hc_ffn_fn.weight", "hc_ffn_fn", 0 },
    { "hc_ffn_base.weight", "hc_ffn_base", 0 }, { "hc_ffn_scale.weight", "hc_ffn_scale", 0 },
    { "ffn_gate_inp.weight", "ffn.gate.weight", 0 }, { "ffn_gate_tid2eid.weight", "ffn.gate.tid2eid", 0 },
    { "exp_probs_b.bias", "ffn.gate.bias", 0 }, { "ffn_gate_exps.weight", "w1", 2 }, { "ffn_up_exps.weight", "w3", 2 },
    { "ffn_down_exps.weight", "w2", 2 }, { "ffn_gate_shexp.weight", "ffn.shared_experts.w1", 1 },
    { "ffn_up_shexp.weight", "ffn.shared_experts.w3", 1 }, { "ffn_down_shexp.weight", "ffn.shared_experts.w2", 1 },
    { "attn_compressor_kv.weight", "attn.compressor.wkv.weight", 0 }, { "attn_compressor_gate.weight", "attn.compressor.wgate.weight", 0 },
    { "attn_compressor_ape.weight", "attn.compressor.ape", 0 }, { "attn_compressor_norm.weight", "attn.compressor.norm.weight", 0 },
    { "indexer.attn_q_b.weight", "attn.indexer.wq_b", 1 }, { "indexer.proj.weight", "attn.indexer.weights_proj.weight", 0 },
    { "indexer_compressor_kv.weight", "attn.indexer.compressor.wkv.weight", 0 },
    { "indexer_compressor_gate.weight", "attn.indexer.compressor.wgate.weight", 0 },
    { "indexer_compressor_ape.weight", "attn.indexer.compressor.ape", 0 },
    { "indexer_compressor_norm.weight", "attn.indexer.compressor.norm.weight", 0 },
    { "nextn.eh_proj.weight", "e_proj", 3 }, { "nextn.enorm.weight", "enorm.weight", 0 },
    { "nextn.hnorm.weight", "hnorm.weight", 0 }, { "nextn.shared_head_norm.weight", "norm.weight", 0 },
    { "nextn.output_hc_fn.weight", "hc_head_fn", 0 }, { "nextn.output_hc_base.weight", "hc_head_base", 0 },
    { "nextn.output_hc_scale.weight", "hc_head_scale", 0 },
};
static const struct nm global_names[] = {
    { "token_embd.weight", "embed.weight", 0 }, { "output.weight", "head.weight", 0 }, { "output_norm.weight", "norm.weight", 0 },
    { "output_hc_fn.weight", "hc_head_fn", 0 }, { "output_hc_base.weight", "hc_head_base", 0 }, { "output_hc_scale.weight", "hc_head_scale", 0 },
};

/* Official values of a GGUF tensor; marks the used checkpoint tensors. Returns element count or -1. */
static int64_t official_values(const struct ckpt *c, const char *gname, int n_layer, float *out, int *used_count) {
    char pre[32] = "";
    const char *suf = gname;
    int L;
    if (sscanf(gname, "blk.%d.", &L) == 1) {
        suf = strchr(gname + 4, '.') + 1;
        if (L < n_layer) snprintf(pre, sizeof(pre), "layers.%d.", L); else snprintf(pre, sizeof(pre), "mtp.0.");
    }
    const struct nm *tab = pre[0] ? layer_names : global_names;
    size_t nt = pre[0] ? sizeof(layer_names) / sizeof(layer_names[0]) : sizeof(global_names) / sizeof(global_names[0]);
    for (size_t i = 0; i < nt; i++) {
        if (strcmp(tab[i].gguf, suf)) continue;
        char a[256], b[256];
        if (tab[i].kind == 0) {
            snprintf(a, sizeof(a), "%s%s", pre, tab[i].hf);
            const struct sten *w = ck_find(c, a);
            if (!w) return -1;
            (*used_count)++;
            return dequant_official(w, NULL, out);
        }
        if (tab[i].kind == 1) {
            snprintf(a, sizeof(a), "%s%s.weight", pre, tab[i].hf);
            snprintf(b, sizeof(b), "%s%s.scale", pre, tab[i].hf);
            const struct sten *w = ck_find(c, a), *s = ck_find(c, b);
            if (!w || !s) return -1;
            *used_count += 2;
            return dequant_official(w, s, out);
        }
        if (tab[i].kind == 3) { /* eh_proj row n = [e_proj row n | h_proj row n] */
            snprintf(a, sizeof(a), "%se_proj.weight", pre); snprintf(b, sizeof(b), "%se_proj.scale", pre);
            const struct sten *ew = ck_find(c, a), *es = ck_find(c, b);
            snprintf(a, sizeof(a), "%sh_proj.weight", pre); snprintf(b, sizeof(b), "%sh_proj.scale", pre);
            const struct sten *hw = ck_find(c, a), *hs = ck_find(c, b);
            if (!ew || !es || !hw || !hs) return -1;
            *used_count += 4;
            int64_t N = ew->shape[0], K = ew->shape[1];
            float *t1 = malloc(sizeof(float) * N * K), *t2 = malloc(sizeof(float) * N * K);
            dequant_official(ew, es, t1);
            dequant_official(hw, hs, t2);
            for (int64_t n = 0; n < N; n++) {
                memcpy(out + n * 2 * K, t1 + n * K, K * sizeof(float));
                memcpy(out + n * 2 * K + K, t2 + n * K, K * sizeof(float));
            }
            free(t1); free(t2);
            return N * 2 * K;
        }
        /* experts, stacked by id */
        int64_t tot = 0;
        for (int e = 0;; e++) {
            snprintf(a, sizeof(a), "%sffn.experts.%d.%s.weight", pre, e, tab[i].hf);
            snprintf(b, sizeof(b), "%sffn.experts.%d.%s.scale", pre, e, tab[i].hf);
            const struct sten *w = ck_find(c, a), *s = ck_find(c, b);
            if (!w || !s) break;
            *used_count += 2;
            tot += dequant_official(w, s, out + tot);
        }
        return tot;
    }
    return -1;
}

static int64_t ggml_numel(const struct gds_gguf *f, int64_t i) {
    int64_t ne[4];
    gds_gguf_tensor_ne(f, i, ne);
    return ne[0] * ne[1] * ne[2] * ne[3];
}

static void gguf_values(const struct gds_gguf *f, int64_t i, float *out) {
    gds_type_traits(gds_gguf_tensor_type(f, i))->to_float(gds_gguf_tensor_data(f, i), out, ggml_numel(f, i));
}

static int64_t key_u(const struct gds_gguf *f, const char *k) {
    int64_t i = gds_gguf_find_key(f, k), v = -1;
    if (i >= 0 && !gds_gguf_get_int(f, i, &v)) v = -1;
    return v;
}

/* ---- 1. lossless conversion ---------------------------------------------- */

static const char *MAX_NAME = "x";

static void load_ckpt(struct ckpt *c, const char *dir) {
    memset(c, 0, sizeof(*c));
    const char *shards[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    for (int i = 0; i < 2; i++) {
        char *p = cat(dir, shards[i]);
        if (sfile_load(&c->f[c->nf], p)) c->nf++;
        free(p);
    }
}

static void free_ckpt(struct ckpt *c) { for (int i = 0; i < c->nf; i++) { free(c->f[i].buf); free(c->f[i].t); } }

/* Compares every tensor of the GGUF file against the checkpoint. expect_all_used: a complete
 * lossless file (every checkpoint tensor used); otherwise Q8_0 tensors are skipped. */
static void check_lossless(const char *path, const struct ckpt *c, int n_layer, const char *what, bool expect_all_used) {
    struct gds_gguf *f = gds_gguf_open(path);
    CHECK(f != NULL, "%s: gds_gguf_open(%s): %s", what, path, gds_last_error());
    if (!f) return;
    float *a = malloc(sizeof(float) * 4 << 20), *b = malloc(sizeof(float) * 4 << 20);
    int used = 0, bad = 0, checked = 0;
    for (int64_t i = 0; i < gds_gguf_n_tensors(f); i++) {
        const char *nm = gds_gguf_tensor_name(f, i);
        if (!expect_all_used && gds_gguf_tensor_type(f, i) == GDS_TYPE_Q8_0) continue; /* lossy by request */
        int64_t n = official_values(c, nm, n_layer, a, &used);
        if (n < 0 || n != ggml_numel(f, i)) { bad++; printf("  %s: %s: no official source or size mismatch (%lld vs %lld)\n", what, nm, (long long)n, (long long)ggml_numel(f, i)); continue; }
        gguf_values(f, i, b);
        int64_t diff = 0, first = -1;
        for (int64_t j = 0; j < n; j++) if (!same_value(a[j], b[j])) { if (first < 0) first = j; diff++; }
        if (diff) { bad++; printf("  %s: %s (%s): %lld values differ, first at %lld: official %g, gguf %g\n", what, nm,
                                 gds_type_name(gds_gguf_tensor_type(f, i)), (long long)diff, (long long)first, a[first], b[first]); }
        checked++;
    }
    int total = 0;
    for (int i = 0; i < c->nf; i++) total += c->f[i].n;
    CHECK(bad == 0, "%s: %d of %d tensors differ from the checkpoint", what, bad, checked);
    if (expect_all_used) CHECK(used == total, "%s: %d of %d checkpoint tensors used", what, used, total);
    free(a); free(b);
    gds_gguf_close(f);
}

/* ---- 2. the peer file ---------------------------------------------------- */

static void check_peer(const char *ours_path, const char *peer_path, bool sidecar_names) {
    struct gds_gguf *o = gds_gguf_open(ours_path), *p = gds_gguf_open(peer_path);
    CHECK(o && p, "open %s / %s: %s", ours_path, peer_path, gds_last_error());
    if (!o || !p) { gds_gguf_close(o); gds_gguf_close(p); return; }
    float *a = malloc(sizeof(float) * 4 << 20), *b = malloc(sizeof(float) * 4 << 20);
    int bad = 0, n = 0, exact = 0, f16 = 0;
    for (int64_t i = 0; i < gds_gguf_n_tensors(p); i++) {
        const char *pn = gds_gguf_tensor_name(p, i);
        char on[96];
        if (!sidecar_names && !strncmp(pn, "output_hc_", 10)) snprintf(on, sizeof(on), "blk.6.nextn.%s", pn);
        else snprintf(on, sizeof(on), "%s", pn);
        int64_t j = gds_gguf_find_tensor(o, on);
        if (j < 0) { bad++; printf("  peer tensor %s: %s missing in %s\n", pn, on, ours_path); continue; }
        int64_t pe[4], oe[4];
        gds_gguf_tensor_ne(p, i, pe);
        gds_gguf_tensor_ne(o, j, oe);
        if (memcmp(pe, oe, sizeof(pe))) { bad++; printf("  %s: shape differs\n", pn); continue; }
        enum gds_type pt = gds_gguf_tensor_type(p, i), ot = gds_gguf_tensor_type(o, j);
        if (ot == GDS_TYPE_Q8_0 && pt != GDS_TYPE_Q8_0) { n++; continue; } /* lossy on our side: names/shapes only */
        gguf_values(p, i, a);
        gguf_values(o, j, b);
        int64_t m = ggml_numel(p, i), diff = 0;
        for (int64_t k = 0; k < m; k++) {
            float ref = pt == GDS_TYPE_F16 ? gds_fp16_to_fp32(gds_fp32_to_fp16(b[k])) : b[k];
            if (!same_value(a[k], ref)) diff++;
        }
        if (diff) { bad++; printf("  peer %s (%s) vs ours %s (%s): %lld values differ\n", pn, gds_type_name(pt), on, gds_type_name(ot), (long long)diff); }
        if (pt == GDS_TYPE_F16) f16++; else exact++;
        n++;
    }
    CHECK(bad == 0 && n == 34, "peer %s vs %s: %d of %d tensors differ (%d exact, %d within f16)", peer_path, ours_path, bad, n, exact, f16);
    if (sidecar_names) CHECK(gds_gguf_n_tensors(o) == gds_gguf_n_tensors(p), "sidecar has %lld tensors, peer %lld",
                             (long long)gds_gguf_n_tensors(o), (long long)gds_gguf_n_tensors(p));
    /* hyper-parameters: every deepseek4.* key of the peer (except ik_llama.cpp's extra
     * leading_dense_block_count) exists in ours with the same value */
    int kbad = 0;
    for (int64_t i = 0; i < gds_gguf_n_kv(p); i++) {
        const char *k = gds_gguf_key(p, i);
        if (strncmp(k, "deepseek4.", 10) || !strcmp(k, "deepseek4.leading_dense_block_count")) continue;
        int64_t j = gds_gguf_find_key(o, k);
        if (j < 0) { kbad++; printf("  key %s missing\n", k); continue; }
        enum gds_gguf_type t = gds_gguf_kv_type(p, i);
        bool ok = t == gds_gguf_kv_type(o, j);
        if (ok && t == GDS_GGUF_ARRAY) {
            ok = gds_gguf_arr_n(p, i) == gds_gguf_arr_n(o, j) && gds_gguf_arr_type(p, i) == gds_gguf_arr_type(o, j) &&
                 !memcmp(gds_gguf_arr_data(p, i), gds_gguf_arr_data(o, j), (size_t)gds_gguf_arr_n(p, i) * 4);
        } else if (ok && t == GDS_GGUF_FLOAT32) ok = gds_gguf_get_f32(p, i) == gds_gguf_get_f32(o, j);
        else if (ok && t == GDS_GGUF_BOOL) ok = gds_gguf_get_bool(p, i) == gds_gguf_get_bool(o, j);
        else if (ok) { int64_t x, y; ok = gds_gguf_get_int(p, i, &x) && gds_gguf_get_int(o, j, &y) && x == y; }
        if (!ok) { kbad++; printf("  key %s differs\n", k); }
    }
    CHECK(kbad == 0, "%s: %d deepseek4.* keys differ from the peer file", ours_path, kbad);
    free(a); free(b);
    gds_gguf_close(o);
    gds_gguf_close(p);
}

/* ---- bad inputs ---------------------------------------------------------- */

static char *g_tiny;      /* fixtures/tiny-a */
static int g_case;

/* A fresh copy of tiny-a (symlinks) in WORK/bad-N; returns its path. */
static char *bad_dir(void) {
    char *d = malloc(4096);
    snprintf(d, 4096, "%s/bad-%d", g_work, ++g_case);
    mkdir(d, 0755);
    const char *files[] = { "config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    for (int i = 0; i < 4; i++) {
        char *src = cat(g_tiny, files[i]), *dst = cat(d, files[i]);
        char abs[4096];
        if (!realpath(src, abs)) snprintf(abs, sizeof(abs), "%s", src);
        unlink(dst);
        if (symlink(abs, dst) != 0) printf("symlink %s: %s\n", dst, strerror(errno));
        free(src); free(dst);
    }
    return d;
}

/* Text of a shard header and its data section. */
struct shard { uint8_t *buf; size_t size; char *hdr; uint64_t hlen; };
static void shard_read(struct shard *s, const char *dir, int k) {
    char name[64];
    snprintf(name, sizeof(name), "model-0000%d-of-00002.safetensors", k);
    char *p = cat(dir, name);
    s->buf = read_all(p, &s->size);
    memcpy(&s->hlen, s->buf, 8);
    s->hdr = malloc(s->hlen + 1);
    memcpy(s->hdr, s->buf + 8, s->hlen);
    s->hdr[s->hlen] = 0;
    free(p);
}
/* Writes dir's shard k with header h (any length) + the original data + extra bytes. */
static void shard_write(const struct shard *s, const char *dir, int k, const char *h, size_t extra) {
    char name[64];
    snprintf(name, sizeof(name), "model-0000%d-of-00002.safetensors", k);
    char *p = cat(dir, name);
    unlink(p);
    size_t hl = strlen(h), dl = s->size - 8 - s->hlen;
    uint8_t *o = calloc(8 + hl + dl + extra, 1);
    uint64_t L = hl;
    memcpy(o, &L, 8);
    memcpy(o + 8, h, hl);
    memcpy(o + 8 + hl, s->buf + 8 + s->hlen, dl);
    write_all(p, o, 8 + hl + dl + extra, NULL, 0);
    free(o); free(p);
}
static void shard_free(struct shard *s) { free(s->buf); free(s->hdr); }

static char *str_replace(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    if (!at) return strdup(s);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return o;
}

/* removes the entry "name":{...}, from a compact header */
static char *remove_entry(const char *h, const char *name) {
    char key[256];
    snprintf(key, sizeof(key), "\"%s\":{", name);
    const char *a = strstr(h, key);
    if (!a) return strdup(h);
    const char *b = strchr(a, '}') + 1;
    if (*b == ',') b++;
    else if (a > h && a[-1] == ',') a--;
    char *o = malloc(strlen(h) + 1);
    snprintf(o, strlen(h) + 1, "%.*s%s", (int)(a - h), h, b);
    return o;
}

static void expect_fail(const char *what, const char *dir, const char *const *extra, const char *sub1, const char *sub2, long fsize) {
    char out[4096], tmp[4200];
    snprintf(out, sizeof(out), "%s/bad-out-%d.gguf", g_work, g_case);
    snprintf(tmp, sizeof(tmp), "%s.tmp", out);
    unlink(out);
    const char *args[32];
    int n = 0;
    if (dir) args[n++] = dir;
    args[n++] = "-o";
    args[n++] = out;
    for (int i = 0; extra && extra[i]; i++) args[n++] = extra[i];
    args[n] = NULL;
    struct run r;
    run_convert(&r, fsize, args);
    bool has1 = !sub1 || strstr(r.err, sub1), has2 = !sub2 || strstr(r.err, sub2);
    if (getenv("TEST_CONVERT_VERBOSE")) printf("  [%s] exit %d: %s", what, r.status, r.err);
    CHECK(r.status == 1 && has1 && has2 && !exists(out) && !exists(tmp),
          "%s: status %d (want 1), message '%s' (want '%s' and '%s'), output %s, tmp %s", what, r.status, r.err,
          sub1 ? sub1 : "", sub2 ? sub2 : "", exists(out) ? "EXISTS" : "absent", exists(tmp) ? "EXISTS" : "absent");
}

/* A bad_dir() whose shard k has header s->hdr with `from` replaced by `to`
 * (the edit must apply) must make gds-convert fail with sub1 and sub2. */
static void expect_fail_header(const char *what, const struct shard *s, int k, const char *from, const char *to,
                               const char *sub1, const char *sub2) {
    char *d = bad_dir();
    char *h = str_replace(s->hdr, from, to);
    CHECK(strcmp(h, s->hdr) != 0, "%s: header edit not applied ('%s' not found)", what, from);
    shard_write(s, d, k, h, 0);
    free(h);
    expect_fail(what, d, NULL, sub1, sub2, 0);
    free(d);
}

static void test_bad_inputs(void) {
    struct shard s1, s2;
    char *d;
    char *h;

    /* truncated shard */
    d = bad_dir();
    shard_read(&s2, d, 2);
    {
        char *p = cat(d, "model-00002-of-00002.safetensors");
        unlink(p);
        write_all(p, s2.buf, s2.size - 1000, NULL, 0);
        free(p);
    }
    expect_fail("truncated shard", d, NULL, "model-00002-of-00002.safetensors", "truncated", 0);
    free(d);

    /* header length beyond the file */
    d = bad_dir();
    {
        char *p = cat(d, "model-00002-of-00002.safetensors");
        unlink(p);
        uint64_t big = (uint64_t)s2.size * 4;
        write_all(p, &big, 8, s2.buf + 8, s2.size - 8);
        free(p);
    }
    expect_fail("header length beyond the file", d, NULL, "model-00002-of-00002.safetensors", "header length", 0);
    free(d);

    /* invalid JSON in a header */
    d = bad_dir();
    h = str_replace(s2.hdr, "\"data_offsets\":", "\"data_offsets\"!");
    shard_write(&s2, d, 2, h, 0);
    free(h);
    expect_fail("invalid JSON header", d, NULL, "model-00002-of-00002.safetensors", "invalid JSON", 0);
    free(d);

    /* invalid config.json */
    d = bad_dir();
    {
        char *p = cat(d, "config.json");
        unlink(p);
        write_all(p, "{ \"hidden_size\": 256, oops }", 28, NULL, 0);
        free(p);
    }
    expect_fail("invalid config.json", d, NULL, "config.json", "invalid JSON", 0);
    free(d);

    /* missing tensor (index still lists it) */
    shard_read(&s1, g_tiny, 1);
    d = bad_dir();
    h = remove_entry(s1.hdr, "layers.1.attn_norm.weight");
    shard_write(&s1, d, 1, h, 0);
    free(h);
    expect_fail("missing tensor", d, NULL, "missing tensor", "layers.1.attn_norm.weight", 0);
    free(d);

    /* missing tensor (and not in the index either) */
    d = bad_dir();
    h = remove_entry(s1.hdr, "layers.1.attn_norm.weight");
    shard_write(&s1, d, 1, h, 0);
    free(h);
    {
        size_t n;
        char *ip = cat(g_tiny, "model.safetensors.index.json");
        char *txt = (char *)read_all(ip, &n);
        char *t2 = str_replace(txt, "\"layers.1.attn_norm.weight\": \"model-00001-of-00002.safetensors\",", "");
        char *dp = cat(d, "model.safetensors.index.json");
        unlink(dp);
        write_all(dp, t2, strlen(t2), NULL, 0);
        CHECK(strlen(t2) < n, "index edit applied");
        free(ip); free(txt); free(t2); free(dp);
    }
    expect_fail("missing tensor (index too)", d, NULL, "missing tensor 'layers.1.attn_norm.weight'", "required", 0);
    free(d);

    /* duplicated tensor: shard 1 also claims head.weight (stored in shard 2) */
    d = bad_dir();
    {
        char ent[256];
        uint64_t dl = s1.size - 8 - s1.hlen;
        snprintf(ent, sizeof(ent), "{\"head.weight\":{\"dtype\":\"BF16\",\"shape\":[1024,256],\"data_offsets\":[%llu,%llu]},",
                 (unsigned long long)dl, (unsigned long long)dl + 524288);
        h = str_replace(s1.hdr, "{", ent);
        shard_write(&s1, d, 1, h, 524288);
        free(h);
    }
    expect_fail("duplicated tensor", d, NULL, "duplicated tensor 'head.weight'", "model-00001-of-00002.safetensors", 0);
    free(d);

    /* a wrong dtype / shape for a name (consistent size), scale tensors of the wrong shape */
    expect_fail_header("wrong dtype", &s1, 1, "\"layers.0.attn_norm.weight\":{\"dtype\":\"BF16\"",
                       "\"layers.0.attn_norm.weight\":{\"dtype\":\"F16\"",
                       "'layers.0.attn_norm.weight' has dtype F16", "model-00001-of-00002.safetensors");
    expect_fail_header("wrong shape", &s1, 1, "\"layers.0.attn.wkv.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[256,256]",
                       "\"layers.0.attn.wkv.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[128,512]",
                       "'layers.0.attn.wkv.weight' has shape [128, 512]", "expected [256, 256]");
    expect_fail_header("scale of the wrong shape", &s1, 1, "\"layers.0.attn.wkv.scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[2,2]",
                       "\"layers.0.attn.wkv.scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[4,1]",
                       "'layers.0.attn.wkv.scale' has shape [4, 1]", "expected [2, 2]");
    expect_fail_header("expert scale of the wrong shape", &s1, 1,
                       "\"layers.0.ffn.experts.3.w2.scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[256,4]",
                       "\"layers.0.ffn.experts.3.w2.scale\":{\"dtype\":\"F8_E8M0\",\"shape\":[128,8]",
                       "'layers.0.ffn.experts.3.w2.scale' has shape [128, 8]", "expected [256, 4]");

    /* an unexpected tensor */
    d = bad_dir();
    h = str_replace(s1.hdr, "\"layers.0.attn_norm.weight\"", "\"layers.0.attn_nrom.weight\"");
    shard_write(&s1, d, 1, h, 0);
    free(h);
    {
        size_t n;
        char *ip = cat(g_tiny, "model.safetensors.index.json");
        char *txt = (char *)read_all(ip, &n);
        char *t2 = str_replace(txt, "\"layers.0.attn_norm.weight\"", "\"layers.0.attn_nrom.weight\"");
        char *dp = cat(d, "model.safetensors.index.json");
        unlink(dp);
        write_all(dp, t2, strlen(t2), NULL, 0);
        free(ip); free(txt); free(t2); free(dp);
    }
    expect_fail("renamed tensor", d, NULL, "layers.0.attn_norm.weight", NULL, 0);
    free(d);

    /* tid2eid value out of range */
    d = bad_dir();
    {
        struct sfile sf;
        char *p = cat(g_tiny, "model-00001-of-00002.safetensors");
        sfile_load(&sf, p);
        for (int i = 0; i < sf.n; i++)
            if (!strcmp(sf.t[i].name, "layers.1.ffn.gate.tid2eid")) {
                int64_t v = 99;
                memcpy(sf.buf + 8 + sf.hlen + sf.t[i].a + 8 * 13, &v, 8);
            }
        char *dp = cat(d, "model-00001-of-00002.safetensors");
        unlink(dp);
        write_all(dp, sf.buf, sf.size, NULL, 0);
        free(p); free(dp); free(sf.buf); free(sf.t);
    }
    expect_fail("tid2eid out of range", d, NULL, "'layers.1.ffn.gate.tid2eid' row 2: expert id 99 is out of range", NULL, 0);
    free(d);

    /* config fields out of range */
    static const struct { const char *from, *to, *msg; } cfg_cases[] = {
        { "\"num_experts_per_tok\": 6", "\"num_experts_per_tok\": 99", "field 'num_experts_per_tok' = 99 is out of range" },
        { "\"hidden_size\": 256", "\"hidden_size\": 200", "field 'hidden_size' = 200" },
        { "\"num_hash_layers\": 2", "\"num_hash_layers\": -1", "field 'num_hash_layers' = -1 is out of range" },
        { "    4,\n    128,\n    0\n", "    4,\n    128,\n    5\n", "compress_ratios[6]" },
        { "\"hc_mult\": 4", "\"hc_mult\": 0", "field 'hc_mult' = 0 is out of range" },
        { "\"num_hidden_layers\": 6", "\"num_hidden_layers\": 7", "'compress_ratios' has 7 entries" },
        { "\"scoring_func\": \"sqrtsoftplus\"", "\"scoring_func\": \"softmax\"", "field 'scoring_func'" },
    };
    for (size_t i = 0; i < sizeof(cfg_cases) / sizeof(cfg_cases[0]); i++) {
        d = bad_dir();
        size_t n;
        char *cp = cat(g_tiny, "config.json");
        char *txt = (char *)read_all(cp, &n);
        char *t2 = str_replace(txt, cfg_cases[i].from, cfg_cases[i].to);
        CHECK(strcmp(txt, t2) != 0, "config edit %zu applied", i);
        char *dp = cat(d, "config.json");
        unlink(dp);
        write_all(dp, t2, strlen(t2), NULL, 0);
        expect_fail("config out of range", d, NULL, "config.json", cfg_cases[i].msg, 0);
        free(cp); free(txt); free(t2); free(dp); free(d);
    }

    /* unreadable directory: missing, a file, no config.json, no permission */
    {
        char *nd = cat(g_work, "no-such-dir");
        expect_fail("missing directory", nd, NULL, "no-such-dir", "cannot open the checkpoint directory", 0);
        free(nd);
        char *fp = cat(g_tiny, "config.json");
        expect_fail("file instead of directory", fp, NULL, "cannot open the checkpoint directory", "not a directory", 0);
        free(fp);
        char *ed = cat(g_work, "empty-dir");
        mkdir(ed, 0755);
        expect_fail("directory without config.json", ed, NULL, "config.json", "cannot read", 0);
        if (geteuid() != 0) {
            d = bad_dir();
            chmod(d, 0);
            expect_fail("directory without permission", d, NULL, "config.json", "ermission denied", 0);
            chmod(d, 0755);
            free(d);
        }
        free(ed);
    }

    /* disk full on the output: RLIMIT_FSIZE in the child (EFBIG on write) */
    {
        const char *ex[] = { NULL };
        g_case++;
        /* SIGXFSZ at its default (as under `ulimit -f`): the converter ignores it, so
         * write() fails with EFBIG and the error path removes the .tmp and names it */
        expect_fail("disk full (ulimit -f, SIGXFSZ default)", g_tiny, ex, "bad-out", "File too large", 1 << 20);
    }

    /* bad options */
    {
        const char *ex[] = { "--dense", "q4_k", NULL };
        expect_fail("bad --dense", g_tiny, ex, "--dense q4_k", NULL, 0);
        const char *ex2[] = { "--compat", "llama.cpp", "--dense", "f8", NULL };
        expect_fail("f8 in compat mode", g_tiny, ex2, "cannot store f8", NULL, 0);
        const char *ex3[] = { "--synthetic", "flash:experts=x", NULL };
        expect_fail("bad synthetic spec", NULL, ex3, "'experts' is not a number", NULL, 0);
        const char *ex4[] = { "--synthetic", "flash:bogus=3", NULL };
        expect_fail("unknown synthetic key", NULL, ex4, "unknown key 'bogus'", NULL, 0);
    }
    shard_free(&s1);
    shard_free(&s2);
}

/* ---- inputs never change: checksums of every fixture file ----------------- */

static uint64_t fnv_file(const char *path) {
    size_t n = 0;
    uint8_t *b = read_all(path, &n);
    if (!b) return 0;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    free(b);
    return h ^ n;
}

#define MAX_SUMS 64
struct sums { int n; char name[MAX_SUMS][512]; uint64_t h[MAX_SUMS]; };

static void sums_of_dir(struct sums *s, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d)) && s->n < MAX_SUMS;) {
        if (e->d_name[0] == '.') continue;
        snprintf(s->name[s->n], sizeof(s->name[0]), "%s/%s", dir, e->d_name);
        s->h[s->n] = fnv_file(s->name[s->n]);
        s->n++;
    }
    closedir(d);
}

static bool sums_same(const struct sums *s, const char *what) {
    for (int i = 0; i < s->n; i++)
        if (fnv_file(s->name[i]) != s->h[i]) { printf("  %s: %s changed\n", what, s->name[i]); return false; }
    return true;
}

/* ---- a failing run: exit 1, the message, no OUT (unless it existed) and no OUT.tmp ---- */

static void expect_fail_args(const char *what, const char *const *args, const char *out, bool out_existed,
                             const char *sub1, const char *sub2) {
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", out ? out : "");
    struct run r;
    run_convert(&r, 0, args);
    bool has1 = !sub1 || strstr(r.err, sub1), has2 = !sub2 || strstr(r.err, sub2);
    bool out_ok = !out || out_existed || !exists(out);
    bool tmp_ok = !out || !exists(tmp);
    if (getenv("TEST_CONVERT_VERBOSE")) printf("  [%s] exit %d: %s", what, r.status, r.err);
    CHECK(r.status == 1 && has1 && has2 && out_ok && tmp_ok,
          "%s: status %d (want 1), message '%s' (want '%s' and '%s'), output %s, tmp %s", what, r.status, r.err,
          sub1 ? sub1 : "", sub2 ? sub2 : "", out_ok ? "ok" : "LEFT", tmp_ok ? "absent" : "LEFT");
}

static bool copy_file(const char *from, const char *to) {
    size_t n = 0;
    uint8_t *b = read_all(from, &n);
    unlink(to);
    bool ok = b && write_all(to, b, n, NULL, 0) == 0;
    free(b);
    return ok;
}

static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    uint8_t *x = read_all(a, &na), *y = read_all(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x); free(y);
    return same;
}

/* ---- 5. the output is never one of the inputs; -o checked first ---------------- */

static void test_output_safety(const char *peer_dir) {
    static const char *const files[] = { "config.json", "model.safetensors.index.json",
                                         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    char *ck = cat(g_work, "ck-copy");
    mkdir(ck, 0755);
    for (int i = 0; i < 4; i++) {
        char *a = cat(g_tiny, files[i]), *b = cat(ck, files[i]);
        CHECK(copy_file(a, b), "copy %s", b);
        free(a); free(b);
    }
    /* each input file named as the output, directly */
    for (int i = 0; i < 4; i++) {
        char *o = cat(ck, files[i]), *orig = cat(g_tiny, files[i]);
        const char *args[] = { ck, "-o", o, NULL };
        char what[128];
        snprintf(what, sizeof(what), "-o the input %s", files[i]);
        expect_fail_args(what, args, o, true, "is the input file", files[i]);
        CHECK(same_file(o, orig), "%s: input unchanged", what);
        free(o); free(orig);
    }
    char *shard1 = cat(ck, files[2]), *shard2 = cat(ck, files[3]), *cfg = cat(ck, "config.json");
    char *orig1 = cat(g_tiny, files[2]), *orig2 = cat(g_tiny, files[3]), *origc = cat(g_tiny, "config.json");
    /* through a path with .. */
    {
        char o[4096];
        snprintf(o, sizeof(o), "%s/../ck-copy/%s", ck, files[3]);
        const char *args[] = { ck, "-o", o, NULL };
        expect_fail_args("-o the input through ..", args, o, true, "is the input file", files[3]);
        CHECK(same_file(shard2, orig2), "-o through ..: shard unchanged");
    }
    /* a symlink to a shard */
    {
        char *o = cat(g_work, "link-to-shard.gguf");
        unlink(o);
        CHECK(symlink(shard1, o) == 0, "symlink %s", o);
        const char *args[] = { ck, "-o", o, NULL };
        expect_fail_args("-o a symlink to a shard", args, o, true, "is the input file", files[2]);
        struct stat sb;
        CHECK(lstat(o, &sb) == 0 && S_ISLNK(sb.st_mode) && same_file(shard1, orig1), "symlink and shard unchanged");
        unlink(o);
        free(o);
    }
    /* a hard link to a shard */
    {
        char *o = cat(g_work, "hardlink-to-shard.gguf");
        unlink(o);
        CHECK(link(shard2, o) == 0, "link %s", o);
        const char *args[] = { ck, "-o", o, NULL };
        expect_fail_args("-o a hard link to a shard", args, o, true, "is the input file", files[3]);
        CHECK(same_file(shard2, orig2), "hard-linked shard unchanged");
        unlink(o);
        free(o);
    }
    /* OUT.tmp is an input (hard link to config.json): it would be unlinked and rewritten */
    {
        char *o = cat(g_work, "tmp-clash.gguf");
        char t[4200];
        snprintf(t, sizeof(t), "%s.tmp", o);
        unlink(t);
        CHECK(link(cfg, t) == 0, "link %s", t);
        const char *args[] = { ck, "-o", o, NULL };
        struct run r;
        run_convert(&r, 0, args);
        CHECK(r.status == 1 && strstr(r.err, "tmp-clash.gguf.tmp") && strstr(r.err, "is the input file") && !exists(o),
              "OUT.tmp = an input: status %d, message '%s'", r.status, r.err);
        CHECK(exists(t) && same_file(cfg, origc), "OUT.tmp = an input: the input is still there, unchanged");
        unlink(t);
        free(o);
    }
    /* the tokenizer files are inputs too (--tokenizer-dir) */
    {
        char *td = cat(g_work, "tok-copy");
        mkdir(td, 0755);
        char *a = cat(peer_dir, "tokenizer.json"), *b = cat(td, "tokenizer.json");
        char *a2 = cat(peer_dir, "tokenizer_config.json"), *b2 = cat(td, "tokenizer_config.json");
        CHECK(copy_file(a, b) && copy_file(a2, b2), "copy the tokenizer files");
        const char *args[] = { ck, "--tokenizer-dir", td, "-o", b, NULL };
        expect_fail_args("-o the tokenizer.json", args, b, true, "is the input file", "tokenizer.json");
        CHECK(same_file(a, b), "tokenizer.json unchanged");
        const char *args2[] = { ck, "--tokenizer-dir", td, "-o", b2, NULL };
        expect_fail_args("-o the tokenizer_config.json", args2, b2, true, "is the input file", "tokenizer_config.json");
        CHECK(same_file(a2, b2), "tokenizer_config.json unchanged");
        free(a); free(b); free(a2); free(b2); free(td);
    }
    /* --compat llama.cpp: the sidecar mtp-OUT may not be an input either */
    {
        char *o = cat(g_work, "side.gguf"), *sd = cat(g_work, "mtp-side.gguf");
        unlink(sd);
        CHECK(link(shard1, sd) == 0, "link %s", sd);
        const char *args[] = { ck, "--compat", "llama.cpp", "-o", o, NULL };
        expect_fail_args("sidecar = an input", args, o, false, "mtp-side.gguf", "is the input file");
        CHECK(same_file(shard1, orig1), "sidecar = an input: shard unchanged");
        unlink(sd);
        free(o); free(sd);
    }
    /* -o a directory, a missing folder, an unwritable folder: refused before any work */
    {
        char *dd = cat(g_work, "out-dir");
        mkdir(dd, 0755);
        char t[4200];
        snprintf(t, sizeof(t), "%s.tmp", dd);
        const char *args[] = { ck, "-o", dd, NULL };
        expect_fail_args("-o a directory", args, NULL, false, "is a directory", "out-dir");
        struct stat sb;
        CHECK(stat(dd, &sb) == 0 && S_ISDIR(sb.st_mode) && !exists(t), "-o a directory: the directory stays, no %s", t);
        const char *args2[] = { "--synthetic", "tiny-a", "-o", dd, NULL };
        expect_fail_args("--synthetic -o a directory", args2, NULL, false, "is a directory", NULL);
        CHECK(!exists(t), "--synthetic -o a directory: no .tmp");
        char *md = cat(g_work, "no-such-folder/x.gguf");
        const char *args3[] = { ck, "-o", md, NULL };
        expect_fail_args("-o in a missing folder", args3, md, false, "no-such-folder", "No such file or directory");
        free(md);
        if (geteuid() != 0) {
            char *ro = cat(g_work, "read-only"), *rf = cat(g_work, "read-only/x.gguf");
            mkdir(ro, 0555);
            chmod(ro, 0555);
            const char *args4[] = { ck, "-o", rf, NULL };
            expect_fail_args("-o in a read-only folder", args4, rf, false, "cannot write in directory", "read-only");
            chmod(ro, 0755);
            free(ro); free(rf);
        } else {
            printf("    (running as root: the read-only folder case is not meaningful and was not run)\n");
        }
        /* the writer refuses a directory at open too (library users) */
        struct gds_gguf_writer *w = gds_gguf_writer_open(dd);
        CHECK(!w && strstr(gds_last_error(), "is a directory") && !exists(t), "gds_gguf_writer_open(dir): NULL at once, no .tmp");
        if (w) gds_gguf_writer_abort(w);
        free(dd);
    }
    /* the copy still converts (the refusals are not false alarms), and its inputs are intact */
    {
        char *o = cat(g_work, "ck-copy.gguf");
        const char *args[] = { ck, "-o", o, NULL };
        struct run r;
        run_convert(&r, 0, args);
        CHECK(r.status == 0 && exists(o), "the copied checkpoint converts: status %d %s", r.status, r.err);
        CHECK(same_file(shard1, orig1) && same_file(shard2, orig2) && same_file(cfg, origc), "copied checkpoint unchanged after all the cases");
        unlink(o);
        free(o);
    }
    free(shard1); free(shard2); free(cfg); free(orig1); free(orig2); free(origc); free(ck);
}

/* ---- 6. non-finite weights --------------------------------------------------- */

/* bad_dir() whose shard holding `name` is a real copy with nb bytes at byte
 * offset off of that tensor replaced; returns the folder */
static char *nonfinite_dir(const char *name, size_t off, const void *bytes, size_t nb) {
    char *d = bad_dir();
    for (int k = 1; k <= 2; k++) {
        char fn[64];
        snprintf(fn, sizeof(fn), "model-0000%d-of-00002.safetensors", k);
        char *p = cat(g_tiny, fn);
        struct sfile sf;
        sfile_load(&sf, p);
        for (int i = 0; i < sf.n; i++)
            if (!strcmp(sf.t[i].name, name)) {
                memcpy(sf.buf + 8 + sf.hlen + sf.t[i].a + off, bytes, nb);
                char *dp = cat(d, fn);
                unlink(dp);
                write_all(dp, sf.buf, sf.size, NULL, 0);
                free(dp);
            }
        free(p); free(sf.buf); free(sf.t);
    }
    return d;
}

static void test_nonfinite(void) {
    static const struct {
        const char *what, *tensor;
        size_t off;
        uint8_t b[4];
        size_t nb;
        const char *sub1, *sub2;
        const char *extra;     /* one more option, or NULL */
    } cases[] = {
        { "BF16 NaN", "embed.weight", 2 * (3 * 256 + 17), { 0xc0, 0x7f }, 2,
          "tensor 'embed.weight' element [3, 17] (flat index 785) is NaN", "--allow-nonfinite", NULL },
        { "BF16 -Inf", "layers.0.attn_norm.weight", 2 * 200, { 0x80, 0xff }, 2,
          "'layers.0.attn_norm.weight' element [200] (flat index 200) is -Inf", NULL, NULL },
        { "F32 +Inf", "layers.0.attn.attn_sink", 4 * 2, { 0, 0, 0x80, 0x7f }, 4,
          "'layers.0.attn.attn_sink' element [2] (flat index 2) is +Inf", NULL, NULL },
        { "FP8 code 0x7F", "layers.0.attn.wkv.weight", 130 * 256 + 5, { 0x7f }, 1,
          "'layers.0.attn.wkv.weight' element [130, 5] (flat index 33285) is NaN (e4m3 code 0x7F)", "model-00001-of-00002.safetensors", NULL },
        { "FP8 code 0xFF, --dense bf16", "layers.0.attn.wkv.weight", 7 * 256 + 250, { 0xff }, 1,
          "'layers.0.attn.wkv.weight' element [7, 250] (flat index 2042) is NaN (e4m3 code 0xFF)", NULL, "bf16" },
        { "E8M0 scale 0xFF of an FP8 weight", "layers.0.attn.wkv.scale", 3, { 0xff }, 1,
          "'layers.0.attn.wkv.scale' element [1, 1] (flat index 3) is NaN (E8M0 scale byte 0xFF)",
          "makes 'layers.0.attn.wkv.weight' element [128, 128] NaN", NULL },
        { "E8M0 scale 0xFF of an FP4 expert", "layers.0.ffn.experts.3.w2.scale", 7 * 4 + 2, { 0xff }, 1,
          "'layers.0.ffn.experts.3.w2.scale' element [7, 2] (flat index 30) is NaN (E8M0 scale byte 0xFF)",
          "'layers.0.ffn.experts.3.w2.weight' row 7, columns 64..95", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *d = nonfinite_dir(cases[i].tensor, cases[i].off, cases[i].b, cases[i].nb);
        const char *ex[] = { "--dense", cases[i].extra, NULL };
        expect_fail(cases[i].what, d, cases[i].extra ? ex : NULL, cases[i].sub1, cases[i].sub2, 0);
        free(d);
    }
    /* --allow-nonfinite: the NaN is converted as it is (BF16 copy keeps the bits) */
    {
        const uint8_t nan_bf16[2] = { 0xc0, 0x7f };
        char *d = nonfinite_dir("embed.weight", 2 * (3 * 256 + 17), nan_bf16, 2);
        char *o = cat(g_work, "allow-nonfinite.gguf");
        const char *args[] = { d, "-o", o, "--allow-nonfinite", NULL };
        struct run r;
        run_convert(&r, 0, args);
        CHECK(r.status == 0, "--allow-nonfinite: status %d %s", r.status, r.err);
        struct gds_gguf *f = gds_gguf_open(o);
        if (f) {
            int64_t t = gds_gguf_find_tensor(f, "token_embd.weight");
            const uint8_t *p = t >= 0 ? (const uint8_t *)gds_gguf_tensor_data(f, t) + 2 * (3 * 256 + 17) : NULL;
            CHECK(p && p[0] == 0xc0 && p[1] == 0x7f, "--allow-nonfinite: token_embd.weight[3][17] is the NaN");
            gds_gguf_close(f);
        } else CHECK(0, "--allow-nonfinite: output unreadable: %s", gds_last_error());
        unlink(o);
        free(o); free(d);
        /* an FP4 scale NaN has no MXFP4 encoding even when allowed; as bf16 it converts */
        const uint8_t ff = 0xff;
        d = nonfinite_dir("layers.0.ffn.experts.3.w2.scale", 30, &ff, 1);
        const char *ex[] = { "--allow-nonfinite", NULL };
        expect_fail("--allow-nonfinite, FP4 scale NaN to MXFP4", d, ex, "cannot be represented in MXFP4", "w2.scale", 0);
        o = cat(g_work, "allow-nonfinite-bf16.gguf");
        const char *args2[] = { d, "-o", o, "--allow-nonfinite", "--experts", "bf16", NULL };
        run_convert(&r, 0, args2);
        CHECK(r.status == 0, "--allow-nonfinite --experts bf16: status %d %s", r.status, r.err);
        unlink(o);
        free(o); free(d);
    }
}

/* ---- 7. signals: no .tmp, no OUT, ended by the signal --------------------------- */

static void test_signals(void) {
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    static const char *const names[] = { "SIGINT", "SIGTERM", "SIGHUP" };
    for (int i = 0; i < 3; i++) {
        char *o = cat(g_work, "signal.gguf");
        char t[4200];
        snprintf(t, sizeof(t), "%s.tmp", o);
        /* about 3 GB of synthetic Flash-width experts: minutes of work; the signal
         * comes once 8 MiB of the .tmp are written (in the tensor data) */
        const char *args[] = { "--synthetic", "flash:layers=2,experts=16", "-o", o, NULL };
        pid_t pid = spawn_convert(0, args);
        struct stat sb;
        bool seen = false;
        for (int k = 0; k < 1200 && !seen; k++) { /* up to 60 s */
            seen = stat(t, &sb) == 0 && sb.st_size >= (8 << 20);
            if (!seen) { struct timespec ts = { 0, 50 * 1000 * 1000 }; nanosleep(&ts, NULL); }
            if (waitpid(pid, NULL, WNOHANG) == pid) { pid = -1; break; }
        }
        if (pid > 0) kill(pid, sigs[i]);
        struct run r;
        if (pid > 0) finish_convert(&r, pid); else r.status = -1;
        CHECK(seen && r.status == 128 + sigs[i] && !exists(t) && !exists(o),
              "%s during a conversion: .tmp seen %d, status %d (want %d, ended by the signal), tmp %s, output %s", names[i], seen,
              r.status, 128 + sigs[i], exists(t) ? "LEFT" : "removed", exists(o) ? "LEFT" : "absent");
        unlink(t); unlink(o);
        free(o);
    }
    /* ulimit -f on the large one: exit 1 with the file named, not killed by SIGXFSZ */
    {
        char *o = cat(g_work, "xfsz.gguf");
        char t[4200];
        snprintf(t, sizeof(t), "%s.tmp", o);
        const char *args[] = { "--synthetic", "flash:layers=2,experts=16", "-o", o, NULL };
        struct run r;
        run_convert(&r, 16 << 20, args);
        CHECK(r.status == 1 && strstr(r.err, "xfsz.gguf.tmp") && strstr(r.err, "File too large") && !exists(t) && !exists(o),
              "ulimit -f 16 MiB: status %d (want 1, not %d = SIGXFSZ), message '%s', tmp %s", r.status, 128 + SIGXFSZ, r.err,
              exists(t) ? "LEFT" : "removed");
        free(o);
    }
}

/* ---- 8. options ------------------------------------------------------------------ */

static int count_lines(const char *s) { int n = 0; for (; *s; s++) n += *s == '\n'; return n; }

static void test_options(void) {
    char *o = cat(g_work, "opt.gguf");
    static const struct { const char *a[4]; const char *sub1, *sub2; bool help_line; } cases[] = {
        { { "--frob" }, "unknown option --frob", NULL, true },
        { { "-x" }, "unknown option -x", NULL, true },
        { { "--dense" }, "option --dense needs a value", NULL, true },
        { { "--dry-run=1" }, "option --dry-run=1 takes no value", NULL, true },
        { { "--max-layers", "4k" }, "--max-layers '4k'", "expected an integer in 1..1024", false },
        { { "--max-layers", "-5" }, "--max-layers '-5'", "1..1024", false },
        { { "--max-layers", "0" }, "--max-layers '0'", "1..1024", false },
        { { "--max-layers", "" }, "--max-layers ''", "1..1024", false },
        { { "--max-layers", " 2" }, "--max-layers ' 2'", "1..1024", false },
        { { "--max-layers", "99999999999999999999" }, "--max-layers '99999999999999999999'", "1..1024", false },
        { { "--seed", "abc" }, "--seed 'abc'", "expected an integer", false },
        { { "--seed", "-1" }, "--seed '-1'", "expected an integer", false },
        { { "--seed", "99999999999999999999999" }, "--seed '99999999999999999999999'", "expected an integer", false },
        { { "--experts", "f8" }, "--experts f8", "expected mxfp4", false },
        { { "--compat", "ollama" }, "--compat ollama", NULL, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[8];
        int n = 0;
        args[n++] = g_tiny;
        args[n++] = "-o";
        args[n++] = o;
        for (int k = 0; k < 4 && cases[i].a[k]; k++) args[n++] = cases[i].a[k];
        args[n] = NULL;
        struct run r;
        run_convert(&r, 0, args);
        const char *first_nl = strchr(r.err, '\n');
        bool first = first_nl && strstr(r.err, cases[i].sub1) && strstr(r.err, cases[i].sub1) < first_nl;
        bool help = !cases[i].help_line || (count_lines(r.err) == 2 && strstr(first_nl, "--help"));
        CHECK(r.status == 1 && first && (!cases[i].sub2 || strstr(r.err, cases[i].sub2)) && help && !exists(o),
              "option case %zu: status %d, stderr '%s' (want first line '%s'%s)", i, r.status, r.err, cases[i].sub1,
              cases[i].help_line ? ", then one line pointing at --help" : "");
    }
    /* strict numbers inside --synthetic specs too */
    const char *s1[] = { "--synthetic", "tiny-a:seed=-1", "-o", o, NULL };
    expect_fail_args("synthetic seed=-1", s1, o, false, "seed=-1 is not an integer", NULL);
    const char *s2[] = { "--synthetic", "tiny-a:layers=nan", "-o", o, NULL };
    expect_fail_args("synthetic layers=nan", s2, o, false, "value of 'layers' is not a finite number", NULL);
    /* --version, --help */
    struct run r;
    const char *v[] = { "--version", NULL };
    run_convert(&r, 0, v);
    char want[64];
    snprintf(want, sizeof(want), "gds-convert %s\n", GDS_VERSION);
    CHECK(r.status == 0 && !strcmp(r.out, want), "--version: status %d, stdout '%s' (want '%s')", r.status, r.out, want);
    const char *h[] = { "--help", NULL };
    run_convert(&r, 0, h);
    CHECK(r.status == 0 && strstr(r.out, "--allow-nonfinite") && strstr(r.out, "--version"), "--help lists --allow-nonfinite and --version");
    free(o);
}

/* ---- main ---------------------------------------------------------------- */

static void quiet_log(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

static bool convert_ok(const char *what, const char *const *args) {
    struct run r;
    run_convert(&r, 0, args);
    CHECK(r.status == 0, "%s: exit status %d: %s", what, r.status, r.err);
    return r.status == 0;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: test-convert GDS_CONVERT FIXTURES_DIR WORK_DIR\n"); return 2; }
    g_bin = argv[1]; g_fix = argv[2]; g_work = argv[3];
    (void)MAX_NAME;
    gds_log_set(quiet_log, NULL); /* expected library errors are checked through gds_last_error() */
    g_tiny = cat(g_fix, "tiny-a");
    char *peer_dir = cat(g_fix, "tiny-a-llamacpp");
    char *peer = cat(peer_dir, "mtp-tiny-a-F16.gguf");
    char *out = cat(g_work, "tiny-a.gguf");
    /* every fixture file is checksummed first and compared at the end: no case may change an input */
    struct sums fx = { 0 };
    sums_of_dir(&fx, g_tiny);
    sums_of_dir(&fx, peer_dir);
    struct ckpt ck;
    load_ckpt(&ck, g_tiny);
    CHECK(ck.nf == 2 && ck.f[0].n + ck.f[1].n == 921, "test's own safetensors scan: %d shards, %d tensors", ck.nf, ck.f[0].n + ck.f[1].n);

    /* 1. default conversion, lossless */
    const char *a1[] = { g_tiny, "-o", out, NULL };
    if (convert_ok("convert tiny-a", a1)) {
        check_lossless(out, &ck, 6, "default", true);
        struct gds_gguf *f = gds_gguf_open(out);
        if (f) {
            CHECK(gds_gguf_n_tensors(f) == 209, "tensor count %lld (want 209)", (long long)gds_gguf_n_tensors(f));
            CHECK(key_u(f, "deepseek4.block_count") == 7 && key_u(f, "deepseek4.nextn_predict_layers") == 1, "block_count 7 + nextn 1");
            CHECK(gds_gguf_tensor_type(f, gds_gguf_find_tensor(f, "blk.0.attn_q_a.weight")) == GDS_TYPE_F8_E4M3_B128, "FP8 -> F8_E4M3_B128");
            CHECK(gds_gguf_tensor_type(f, gds_gguf_find_tensor(f, "blk.3.ffn_up_exps.weight")) == GDS_TYPE_MXFP4, "FP4 -> MXFP4");
            CHECK(gds_gguf_tensor_type(f, gds_gguf_find_tensor(f, "blk.0.ffn_gate_tid2eid.weight")) == GDS_TYPE_I32, "tid2eid I32");
            CHECK(gds_gguf_find_key(f, "tokenizer.ggml.tokens") < 0, "no vocabulary without tokenizer.json");
            const char *ks = gds_gguf_get_str(f, gds_gguf_find_key(f, "general.architecture"));
            CHECK(ks && !strcmp(ks, "deepseek4"), "architecture");
            /* MXFP4 bytes against the spec 4.3 repack, on one block */
            int64_t t = gds_gguf_find_tensor(f, "blk.4.ffn_down_exps.weight");
            const struct sten *w = ck_find(&ck, "layers.4.ffn.experts.5.w2.weight"), *s = ck_find(&ck, "layers.4.ffn.experts.5.w2.scale");
            const uint8_t *blk = (const uint8_t *)gds_gguf_tensor_data(f, t) + ((5 * 256 + 7) * 4 + 2) * 17;
            const uint8_t *p = w->data + 7 * 64 + 2 * 16;
            bool ok = blk[0] == s->data[7 * 4 + 2];
            for (int i = 0; i < 8; i++) {
                ok = ok && blk[1 + 2 * i] == (uint8_t)((p[i] & 15) | ((p[8 + i] & 15) << 4));
                ok = ok && blk[2 + 2 * i] == (uint8_t)((p[i] >> 4) | (p[8 + i] & 0xf0));
            }
            CHECK(ok, "MXFP4 block bytes equal the spec 4.3 repack");
            gds_gguf_close(f);
        }
    }

    /* 2. the peer's sidecar against our single file and our --compat sidecar */
    if (exists(out)) check_peer(out, peer, false);
    char *cout = cat(g_work, "tiny-a-Q8_0.gguf"), *cside = cat(g_work, "mtp-tiny-a-Q8_0.gguf");
    const char *a2[] = { g_tiny, "-o", cout, "--compat", "llama.cpp", NULL };
    if (convert_ok("convert --compat llama.cpp", a2)) {
        CHECK(exists(cside), "sidecar %s written", cside);
        check_peer(cside, peer, true);
        struct gds_gguf *f = gds_gguf_open(cout);
        if (f) {
            bool ok = true;
            for (int64_t i = 0; i < gds_gguf_n_tensors(f); i++) {
                enum gds_type t = gds_gguf_tensor_type(f, i);
                ok = ok && (t == GDS_TYPE_F32 || t == GDS_TYPE_BF16 || t == GDS_TYPE_Q8_0 || t == GDS_TYPE_MXFP4 || t == GDS_TYPE_I32);
                ok = ok && strncmp(gds_gguf_tensor_name(f, i), "blk.6.", 6) != 0;
            }
            CHECK(ok && gds_gguf_n_tensors(f) == 178, "compat main file: llama.cpp types only, no MTP, %lld tensors (want 178)", (long long)gds_gguf_n_tensors(f));
            CHECK(key_u(f, "deepseek4.block_count") == 6 && gds_gguf_find_key(f, "deepseek4.nextn_predict_layers") < 0, "compat: block_count 6, no nextn key");
            /* Q8_0 tensors equal the library's reference quantization of the official values */
            int64_t t = gds_gguf_find_tensor(f, "blk.2.attn_q_b.weight");
            float *v = malloc(sizeof(float) * 1 << 20);
            int used = 0;
            int64_t n = official_values(&ck, "blk.2.attn_q_b.weight", 6, v, &used);
            void *q = malloc(gds_gguf_tensor_size(f, t));
            gds_type_traits(GDS_TYPE_Q8_0)->from_float_ref(v, q, n);
            CHECK(n == ggml_numel(f, t) && !memcmp(q, gds_gguf_tensor_data(f, t), gds_gguf_tensor_size(f, t)), "compat Q8_0 = from_float_ref(official)");
            free(q); free(v);
            gds_gguf_close(f);
        }
        check_lossless(cout, &ck, 6, "compat-exact-part", false);
    }

    /* requantization: bf16 everywhere is still exact (e4m3 * 2^k and e2m1 * 2^k fit bf16) */
    char *bout = cat(g_work, "tiny-a-bf16.gguf");
    const char *a3[] = { g_tiny, "-o", bout, "--dense", "bf16", "--experts", "bf16", NULL };
    if (convert_ok("convert --dense bf16 --experts bf16", a3)) check_lossless(bout, &ck, 6, "bf16", true);

    /* --max-layers */
    char *mout = cat(g_work, "tiny-a-2l.gguf");
    const char *a4[] = { g_tiny, "-o", mout, "--max-layers", "2", NULL };
    if (convert_ok("convert --max-layers 2", a4)) {
        struct gds_gguf *f = gds_gguf_open(mout);
        CHECK(f && key_u(f, "deepseek4.block_count") == 3 && gds_gguf_find_tensor(f, "blk.2.nextn.eh_proj.weight") >= 0 &&
              gds_gguf_find_tensor(f, "blk.2.attn_compressor_kv.weight") < 0 && gds_gguf_find_tensor(f, "blk.1.attn_norm.weight") >= 0,
              "--max-layers 2: 2 trunk layers + MTP as blk.2");
        if (f) {
            int64_t k = gds_gguf_find_key(f, "deepseek4.attention.compress_ratios");
            CHECK(k >= 0 && gds_gguf_arr_n(f, k) == 3, "--max-layers 2: compress_ratios has 3 entries");
        }
        gds_gguf_close(f);
    }

    /* 3. tokenizer */
    char *tout = cat(g_work, "tiny-a-tok.gguf");
    const char *a5[] = { g_tiny, "-o", tout, "--tokenizer-dir", peer_dir, NULL };
    if (convert_ok("convert --tokenizer-dir", a5)) {
        struct gds_gguf *f = gds_gguf_open(tout), *p = gds_gguf_open(peer);
        if (f && p) {
            int64_t k = gds_gguf_find_key(f, "tokenizer.ggml.tokens"), kp = gds_gguf_find_key(p, "tokenizer.ggml.tokens");
            CHECK(k >= 0 && gds_gguf_arr_n(f, k) == 1024, "vocabulary of 1024 tokens");
            bool same = k >= 0 && kp >= 0 && gds_gguf_arr_n(f, k) == gds_gguf_arr_n(p, kp);
            for (int64_t i = 0; same && i < gds_gguf_arr_n(f, k); i++) same = !strcmp(gds_gguf_arr_str(f, k, i), gds_gguf_arr_str(p, kp, i));
            CHECK(same, "tokens equal the peer's");
            k = gds_gguf_find_key(f, "tokenizer.ggml.merges"); kp = gds_gguf_find_key(p, "tokenizer.ggml.merges");
            same = k >= 0 && kp >= 0 && gds_gguf_arr_n(f, k) == gds_gguf_arr_n(p, kp) && gds_gguf_arr_n(f, k) == 766;
            for (int64_t i = 0; same && i < gds_gguf_arr_n(f, k); i++) same = !strcmp(gds_gguf_arr_str(f, k, i), gds_gguf_arr_str(p, kp, i));
            CHECK(same, "766 merges equal the peer's");
            k = gds_gguf_find_key(f, "tokenizer.ggml.token_type"); kp = gds_gguf_find_key(p, "tokenizer.ggml.token_type");
            CHECK(k >= 0 && kp >= 0 && gds_gguf_arr_n(f, k) == 1024 && !memcmp(gds_gguf_arr_data(f, k), gds_gguf_arr_data(p, kp), 4096), "token types equal the peer's");
            CHECK(key_u(f, "tokenizer.ggml.bos_token_id") == 0 && key_u(f, "tokenizer.ggml.eos_token_id") == 1 &&
                  key_u(f, "tokenizer.ggml.padding_token_id") == 1, "bos 0, eos 1, pad 1");
            const char *m = gds_gguf_get_str(f, gds_gguf_find_key(f, "tokenizer.ggml.model"));
            const char *pre = gds_gguf_get_str(f, gds_gguf_find_key(f, "tokenizer.ggml.pre"));
            CHECK(m && pre && !strcmp(m, "gpt2") && !strcmp(pre, "joyai-llm"), "model gpt2, pre joyai-llm");
            k = gds_gguf_find_key(f, "gds.tokenizer.pre_split_regex");
            CHECK(k >= 0 && gds_gguf_arr_n(f, k) == 3 && !strcmp(gds_gguf_arr_str(f, k, 0), "\\p{N}{1,3}"), "3 pre-tokenizer regexes");
            k = gds_gguf_find_key(f, "tokenizer.ggml.add_bos_token");
            CHECK(k >= 0 && !gds_gguf_get_bool(f, k), "add_bos_token false");
        }
        gds_gguf_close(f);
        gds_gguf_close(p);
    }

    /* --dry-run writes nothing */
    {
        char *dout = cat(g_work, "dry.gguf");
        const char *a6[] = { g_tiny, "-o", dout, "--dry-run", NULL };
        convert_ok("--dry-run", a6);
        CHECK(!exists(dout), "--dry-run wrote no file");
        const char *a7[] = { "--synthetic", "flash:layers=4", "--dry-run", NULL };
        convert_ok("--synthetic flash:layers=4 --dry-run", a7);
        free(dout);
    }

    /* synthetic: complete, deterministic */
    {
        char *s1 = cat(g_work, "syn1.gguf"), *s2 = cat(g_work, "syn2.gguf");
        const char *a8[] = { "--synthetic", "tiny-a:seed=5", "-o", s1, NULL };
        const char *a9[] = { "--synthetic", "tiny-a:seed=5", "-o", s2, NULL };
        if (convert_ok("--synthetic tiny-a", a8) && convert_ok("--synthetic tiny-a again", a9)) {
            size_t n1, n2;
            uint8_t *b1 = read_all(s1, &n1), *b2 = read_all(s2, &n2);
            CHECK(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "synthetic output is deterministic");
            free(b1); free(b2);
            struct gds_gguf *f = gds_gguf_open(s1), *r = gds_gguf_open(out);
            bool ok = f && r && gds_gguf_n_tensors(f) == gds_gguf_n_tensors(r);
            float *v = malloc(sizeof(float) * 4 << 20);
            for (int64_t i = 0; ok && i < gds_gguf_n_tensors(r); i++) {
                int64_t j = gds_gguf_find_tensor(f, gds_gguf_tensor_name(r, i));
                int64_t e1[4], e2[4];
                ok = j >= 0 && gds_gguf_tensor_type(f, j) == gds_gguf_tensor_type(r, i);
                if (!ok) { printf("  synthetic: %s missing or other type\n", gds_gguf_tensor_name(r, i)); break; }
                gds_gguf_tensor_ne(f, j, e1); gds_gguf_tensor_ne(r, i, e2);
                ok = !memcmp(e1, e2, sizeof(e1));
                gguf_values(f, j, v);
                for (int64_t k = 0; ok && k < ggml_numel(f, j); k++) ok = isfinite(v[k]) && fabsf(v[k]) < 100.0f;
                if (!ok) printf("  synthetic: %s bad shape or values\n", gds_gguf_tensor_name(r, i));
            }
            CHECK(ok, "synthetic tiny-a has tiny-a's tensors, types and shapes, finite values");
            free(v);
            gds_gguf_close(f); gds_gguf_close(r);
        }
        free(s1); free(s2);
    }

    /* 4. bad inputs */
    test_bad_inputs();
    test_output_safety(peer_dir);
    test_nonfinite();
    test_options();
    test_signals();
    CHECK(fx.n >= 10 && sums_same(&fx, "fixtures"), "every fixture file unchanged by all the cases (%d files checksummed)", fx.n);

    free_ckpt(&ck);
    free(g_tiny); free(peer_dir); free(peer); free(out); free(cout); free(cside); free(bout); free(mout); free(tout);
    printf("test-convert: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
