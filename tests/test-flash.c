/*
 * test-flash.c - DeepSeek-V4 at the exact Flash attention widths: the compact
 * KV state (KV_E4M3_B64 kv rows, MXFP4 indexer keys, spec 5.2) against F32
 * state rows, thread counts and evaluation paths, all bit for bit.
 *
 *     test-flash FLASH.gguf [FLASH_TOPK_ALL.gguf]
 *
 * FLASH.gguf is a synthetic model made by tests/test-flash.sh with
 * gds-convert --synthetic flash:... : head_dim 512 (448 nope + 64 rope), 64
 * heads, 8 output groups, indexer 64 heads x 128 dims, window 128, layers
 * [SWA, SWA, CSA(4), HCA(128)], and small widths elsewhere (hidden 128, lora
 * ranks 128, 4 experts, vocab 512) with index_topk lowered to 16 so that the
 * indexer really chooses (the prompt makes 65 CSA entries). The tiny test
 * models keep F32 state rows (head_dim 256); this is the only test in which
 * the compact rows are written, copied into the window ring and read by the
 * ATTN and INDEXER kernels. FLASH_TOPK_ALL.gguf is the same model (same seed,
 * same weights) with index_topk 512, used to show that the top-k matters.
 *
 * Checks (N = 263 tokens: 2 HCA entries of 128 tokens, 65 CSA entries; every
 * logits comparison is a memcmp of all N x vocab logits):
 *   1. the hparams are Flash's widths (a preset change must not shrink them);
 *   2. state bytes: the compact sequence is smaller than the F32 one by
 *      exactly (2048 - 584) B per kv row and (512 - 68) B per indexer key;
 *      the state grows by gds_model_kv_bytes_per_token per token of context,
 *      and that equals the README's formula (584/r per compressed layer, +68/4
 *      per CSA layer);
 *   3. prefill logits are finite and not degenerate;
 *   4. compact state vs F32 state (prefill, one graph);
 *   5. 1 vs 16 threads (prefill; 16 threads oversubscribe 2 cores, which is
 *      fine for one graph but slow for hundreds of one-token graphs, so the
 *      paths below run on 1 thread);
 *   6. prefill vs decode (decode = true for the first half, one-token calls
 *      after it) vs chunks of 7 and of 64 tokens, on the compact state (the
 *      host copies of compact rows into the window ring happen only between
 *      graphs);
 *   7. (with the second file) index_topk 512 vs 16: identical rows while a
 *      position has at most 16 CSA entries, different rows after;
 *   8. state images: save, load into another n_ctx, continue; bad images refused;
 *   9. gds_model_eval_batch: three sequences at other positions in one graph
 *      (prefills, one-token steps, a 7-token part beside one-token parts, a
 *      sequence sitting out a step) equal each sequence's one-call prefill;
 *      a batch naming one sequence twice or holding a bad token is refused
 *      and advances nothing;
 *  10. the model on a non-host backend (ref with GDS_REF_FULL=1: the path
 *      of a GPU: uploaded weights, state and inputs on the backend) against
 *      the CPU at the scalar level (the same kernels): prefill, state images
 *      both ways, one-token calls; hybrid (cpu_moe, n_cpu_moe = 2): the
 *      routed-expert products on the CPU (9 and 5 splits per graph), the
 *      same bits; a third model on ref with n_batch 64 (one call split into
 *      3 graphs; layer ranges with hc_out, hc_in, router and indexer
 *      choices) against the scalar CPU, bit for bit.
 * Ends with "test-flash: N passed, M failed".
 */
#include "deepseek4.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int n_pass, n_fail;

#define CHECK(cond, ...) do { if (cond) n_pass++; else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

enum { N_TOK = 263, N_CTX = 512, TOPK = 16 };

/* README / spec 5.2 sizes of one stored row */
#define KV_ROW_COMPACT 584   /* 448 e4m3 + 7 e8m0 + 1 pad + 64 bf16 */
#define KV_ROW_F32     2048  /* 512 floats */
#define IK_ROW_COMPACT 68    /* 128 e2m1 + 4 e8m0 */
#define IK_ROW_F32     512   /* 128 floats */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct gds_model *load(const char *path, int n_threads, bool kv_f32) {
    struct gds_model *m = gds_model_load(path, &(struct gds_model_params){ .n_threads = n_threads, .kv_f32 = kv_f32 });
    if (!m) printf("FAIL: gds_model_load(%s, %d threads%s): %s\n", path, n_threads, kv_f32 ? ", kv_f32" : "", gds_last_error());
    return m;
}

static size_t seq_bytes(struct gds_model *m, int n_ctx) {
    struct gds_seq *s = gds_seq_new(m, n_ctx);
    if (!s) { printf("FAIL: gds_seq_new(%d): %s\n", n_ctx, gds_last_error()); return 0; }
    const size_t b = gds_seq_bytes(s);
    gds_seq_free(s);
    return b;
}

/* Runs the N tokens through a fresh sequence in calls of `chunk` tokens
 * (0: one call; -1: one call with decode = true for the first half, then
 * one-token calls: the same T = 1 graphs, reached both ways) and returns
 * logits_all [N, V] (NULL on error, reported). */
static float *run(struct gds_model *m, const int32_t *tok, int chunk, const char *what) {
    const int V = gds_model_hparams(m)->n_vocab;
    float *out = malloc(sizeof(float) * (size_t)N_TOK * V);
    struct gds_seq *s = gds_seq_new(m, N_CTX);
    if (!out || !s) { printf("FAIL %s: out of memory / gds_seq_new: %s\n", what, gds_last_error()); free(out); gds_seq_free(s); return NULL; }
    const double t0 = now_s();
    enum gds_status st = GDS_OK;
    for (int i = 0; i < N_TOK && st == GDS_OK;) {
        int n = chunk > 0 ? chunk : N_TOK;
        const bool decode = chunk == -1 && i == 0;
        if (chunk == -1) n = i == 0 ? N_TOK / 2 : 1;
        if (n > N_TOK - i) n = N_TOK - i;
        struct gds_eval e = { .tokens = tok + i, .n_tokens = n, .decode = decode, .logits_all = out + (size_t)i * V };
        st = gds_model_eval(m, s, &e);
        i += n;
    }
    if (st == GDS_OK && gds_seq_n_past(s) != N_TOK) { printf("FAIL %s: n_past %d after %d tokens\n", what, gds_seq_n_past(s), N_TOK); st = GDS_ERR_INVALID; }
    if (st != GDS_OK) { printf("FAIL %s: gds_model_eval: %s\n", what, gds_last_error()); free(out); out = NULL; }
    else printf("  %-44s %6.2f s\n", what, now_s() - t0);
    gds_seq_free(s);
    return out;
}

/* memcmp of two logits_all; on a difference prints the first position that differs */
static bool same(const float *a, const float *b, int V, const char *what) {
    if (!a || !b) { CHECK(false, "%s: a run failed", what); return false; }
    const bool eq = memcmp(a, b, sizeof(float) * (size_t)N_TOK * V) == 0;
    if (!eq) {
        int p = 0;
        while (p < N_TOK && memcmp(a + (size_t)p * V, b + (size_t)p * V, sizeof(float) * V) == 0) p++;
        int nd = 0;
        for (int q = p; q < N_TOK; q++) nd += memcmp(a + (size_t)q * V, b + (size_t)q * V, sizeof(float) * V) != 0;
        CHECK(false, "%s: logits differ, first at position %d (%d of %d positions differ)", what, p, nd, N_TOK);
    } else {
        n_pass++;
        printf("  %s: bit-identical (%d x %d logits)\n", what, N_TOK, V);
    }
    return eq;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FLASH.gguf [FLASH_TOPK_ALL.gguf]\n", argv[0]); return 2; }
    const double t_start = now_s();

    struct gds_model *mc = load(argv[1], 1, false);  /* compact state, 1 thread */
    struct gds_model *mf = load(argv[1], 1, true);   /* F32 state */
    struct gds_model *mt = load(argv[1], 16, false); /* compact, 16 threads */
    if (!mc || !mf || !mt) { n_fail++; goto done; }
    const struct gds_ds4_hparams *hp = gds_model_hparams(mc);
    const int V = hp->n_vocab;

    /* 1. Flash widths */
    CHECK(hp->head_dim == 512 && hp->n_rot == 64 && hp->n_head == 64 && hp->o_groups == 8,
          "attention widths head_dim %d rope %d heads %d o_groups %d, expected Flash's 512 64 64 8", hp->head_dim, hp->n_rot, hp->n_head, hp->o_groups);
    CHECK(hp->index_n_heads == 64 && hp->index_head_dim == 128 && hp->sliding_window == 128,
          "indexer %d x %d, window %d, expected Flash's 64 x 128, 128", hp->index_n_heads, hp->index_head_dim, hp->sliding_window);
    int n_csa = 0, n_hca = 0, n_swa = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const int r = hp->compress_ratio[il];
        n_swa += r == 0; n_csa += r == 4; n_hca += r == 128;
    }
    CHECK(n_swa >= 1 && n_csa >= 1 && n_hca >= 1, "layers: %d SWA, %d CSA, %d HCA; need each kind", n_swa, n_csa, n_hca);
    CHECK(hp->index_topk == TOPK, "index_topk %d, expected %d (the SPEC in test-flash.sh)", hp->index_topk, TOPK);
    const int csa_entries = N_TOK / 4, hca_entries = N_TOK / 128;
    CHECK(csa_entries > hp->index_topk && hca_entries >= 2, "prompt too short: %d CSA entries (top-k %d), %d HCA entries", csa_entries, hp->index_topk, hca_entries);
    printf("  model: %d layers (%d SWA, %d CSA, %d HCA), hidden %d, %d experts (%d used), vocab %d; prompt %d tokens: "
           "%d CSA entries vs index_topk %d, %d HCA entries\n",
           hp->n_layer, n_swa, n_csa, n_hca, hp->n_embd, hp->n_expert, hp->n_expert_used, V, N_TOK, csa_entries, hp->index_topk, hca_entries);

    /* 2. state bytes */
    {
        double per_tok = 0, per_tok_f32 = 0;
        size_t diff = 0;
        const int W = hp->sliding_window, n_batch = N_CTX < 512 ? N_CTX : 512;
        for (int il = 0; il < hp->n_layer + hp->n_mtp; il++) {
            const int r = hp->compress_ratio[il], cap = r ? N_CTX / r : 0;
            diff += (size_t)(cap + W + n_batch) * (KV_ROW_F32 - KV_ROW_COMPACT);
            if (r == 4) diff += (size_t)cap * (IK_ROW_F32 - IK_ROW_COMPACT);
            if (il >= hp->n_layer) continue; /* MTP: not counted per token */
            if (r) { per_tok += (double)KV_ROW_COMPACT / r; per_tok_f32 += (double)KV_ROW_F32 / r; }
            if (r == 4) { per_tok += IK_ROW_COMPACT / 4.0; per_tok_f32 += IK_ROW_F32 / 4.0; }
        }
        const size_t bc = seq_bytes(mc, N_CTX), bf = seq_bytes(mf, N_CTX);
        const size_t bc3 = seq_bytes(mc, 3 * N_CTX), bf3 = seq_bytes(mf, 3 * N_CTX);
        printf("  state: %zu B compact, %zu B F32 at n_ctx %d; %.4f B/token compact (gds_model_kv_bytes_per_token %.4f), %.4f F32\n",
               bc, bf, N_CTX, (double)(bc3 - bc) / (2 * N_CTX), gds_model_kv_bytes_per_token(mc), (double)(bf3 - bf) / (2 * N_CTX));
        CHECK(bc > 0 && bf > bc && bf - bc == diff, "F32 state %zu B - compact %zu B = %zu, expected %zu (rows of %d/%d B vs %d/%d B)",
              bf, bc, bf - bc, diff, KV_ROW_COMPACT, IK_ROW_COMPACT, KV_ROW_F32, IK_ROW_F32);
        CHECK(gds_model_kv_bytes_per_token(mc) == per_tok, "gds_model_kv_bytes_per_token %.4f, README formula %.4f", gds_model_kv_bytes_per_token(mc), per_tok);
        CHECK((double)(bc3 - bc) == per_tok * 2 * N_CTX, "compact state grows by %zu B for %d tokens, expected %.1f", bc3 - bc, 2 * N_CTX, per_tok * 2 * N_CTX);
        CHECK((double)(bf3 - bf) == per_tok_f32 * 2 * N_CTX, "F32 state grows by %zu B for %d tokens, expected %.1f", bf3 - bf, 2 * N_CTX, per_tok_f32 * 2 * N_CTX);
    }

    /* the prompt: fixed pseudo-random ids, BOS first */
    int32_t tok[N_TOK];
    uint32_t x = 12345;
    tok[0] = hp->bos_id;
    for (int i = 1; i < N_TOK; i++) { x = x * 1664525u + 1013904223u; tok[i] = (int32_t)((x >> 8) % (uint32_t)V); }

    /* 3-6. logits */
    float *ref = run(mc, tok, 0, "prefill, compact state, 1 thread");
    if (ref) {
        int64_t bad = -1;
        double s1 = 0, s2 = 0;
        for (size_t i = 0; i < (size_t)N_TOK * V; i++) {
            if (!isfinite(ref[i]) && bad < 0) bad = (int64_t)i;
            s1 += ref[i]; s2 += (double)ref[i] * ref[i];
        }
        const double n = (double)N_TOK * V, sd = sqrt(s2 / n - (s1 / n) * (s1 / n));
        CHECK(bad < 0, "non-finite logit at position %lld, id %lld", (long long)(bad / V), (long long)(bad % V));
        int n_same_row = 0;
        for (int p = 1; p < N_TOK; p++) n_same_row += memcmp(ref + (size_t)p * V, ref + (size_t)(p - 1) * V, sizeof(float) * V) == 0;
        CHECK(sd > 0.1 && n_same_row == 0, "degenerate logits: std %.3g, %d rows equal to the previous one", sd, n_same_row);
        printf("  logits: std %.3f\n", sd);
    } else n_fail++;

    float *r;
    r = run(mf, tok, 0, "prefill, F32 state, 1 thread");
    same(ref, r, V, "compact state vs F32 state");
    free(r);
    r = run(mt, tok, 0, "prefill, compact state, 16 threads");
    same(ref, r, V, "1 vs 16 threads");
    free(r);
    r = run(mc, tok, -1, "decode = true, then 1-token calls");
    same(ref, r, V, "prefill vs decode and chunks of 1");
    free(r);
    r = run(mc, tok, 7, "chunks of 7");
    same(ref, r, V, "prefill vs chunks of 7");
    free(r);
    r = run(mc, tok, 64, "chunks of 64");
    same(ref, r, V, "prefill vs chunks of 64");
    free(r);

    /* 8. state image: save after P tokens, load into a fresh sequence of another
     * n_ctx, continue: the logits of the rest equal the one-call prefill's */
    if (ref) {
        static const int splits[] = { 1, 130, 201 };
        for (int k = 0; k < 3; k++) {
            const int P = splits[k];
            struct gds_model *mm = k == 1 ? mf : mc; /* one split with the F32 state */
            struct gds_seq *a = gds_seq_new(mm, N_CTX), *b = gds_seq_new(mm, N_TOK + 5);
            float *rest = malloc(sizeof(float) * (size_t)(N_TOK - P) * V);
            void *img = NULL;
            size_t n = 0;
            bool ok = a && b && rest;
            if (ok) ok = gds_model_eval(mm, a, &(struct gds_eval){ .tokens = tok, .n_tokens = P }) == GDS_OK;
            if (ok) { n = gds_seq_state_size(a); img = malloc(n); ok = img && gds_seq_state_save(a, img, n) == n; }
            if (ok) ok = gds_seq_state_load(b, img, n) == GDS_OK && gds_seq_n_past(b) == P;
            if (ok) ok = gds_model_eval(mm, b, &(struct gds_eval){ .tokens = tok + P, .n_tokens = N_TOK - P, .logits_all = rest }) == GDS_OK;
            CHECK(ok, "state image after %d tokens: save / load / continue failed: %s", P, gds_last_error());
            if (ok) {
                const bool eq = memcmp(rest, ref + (size_t)P * V, sizeof(float) * (size_t)(N_TOK - P) * V) == 0;
                CHECK(eq, "state image after %d tokens (%s): the continued logits differ from the one-call prefill", P, k == 1 ? "F32" : "compact");
                if (eq) printf("  state image after %d tokens (%zu B, %s state), loaded into n_ctx %d: positions %d..%d bit-identical\n", P, n,
                               k == 1 ? "F32" : "compact", N_TOK + 5, P, N_TOK - 1);
            }
            if (ok && k == 2) { /* bad images: refused, the sequence keeps its state */
                struct { const char *what, *msg; size_t size; int flip; } bad[] = {
                    { "one byte flipped", "checksum", n, (int)(n / 2) },
                    { "truncated", "bytes", n - 1, -1 },
                    { "magic", "magic", n, 0 },
                };
                unsigned char *c = malloc(n);
                for (int j = 0; c && j < 3; j++) {
                    memcpy(c, img, n);
                    if (bad[j].flip >= 0) c[bad[j].flip] ^= 0x20;
                    const enum gds_status st = gds_seq_state_load(b, c, bad[j].size);
                    CHECK(st != GDS_OK && strstr(gds_last_error(), bad[j].msg) && gds_seq_n_past(b) == N_TOK,
                          "state image, %s: status %d, error '%s', n_past %d (expected a refusal naming '%s', n_past %d)", bad[j].what, st,
                          gds_last_error(), gds_seq_n_past(b), bad[j].msg, N_TOK);
                }
                free(c);
                struct gds_seq *f = gds_seq_new(mf, N_CTX), *small = gds_seq_new(mc, P - 1);
                CHECK(f && gds_seq_state_load(f, img, n) != GDS_OK && strstr(gds_last_error(), "another model"),
                      "a compact-state image loaded into an F32-state model: %s", gds_last_error());
                CHECK(small && gds_seq_state_load(small, img, n) != GDS_OK && strstr(gds_last_error(), "do not fit"),
                      "an image of %d positions loaded into n_ctx %d: %s", P, P - 1, gds_last_error());
                gds_seq_free(f);
                gds_seq_free(small);
                if (argc > 2) {
                    struct gds_model *ma = load(argv[2], 1, false);
                    struct gds_seq *o = ma ? gds_seq_new(ma, N_CTX) : NULL;
                    CHECK(o && gds_seq_state_load(o, img, n) != GDS_OK && strstr(gds_last_error(), "another model"),
                          "an image of %s loaded into %s: %s", argv[1], argv[2], gds_last_error());
                    gds_seq_free(o);
                    gds_model_free(ma);
                }
            }
            free(img);
            free(rest);
            gds_seq_free(a);
            gds_seq_free(b);
        }
    }

    /* 9. batched evaluation (gds_model_eval_batch): three sequences at other
     * positions in one graph (prompts of 120, 250 and 3 tokens, one call with
     * all three prefills, then 24 steps of one token each, crossing the HCA
     * window ends at 128 and 256; at step 5 the third takes 7 tokens while
     * the others take one; at step 9 the second sits out): every logit equals
     * the one-call prefill of that sequence's tokens, bit for bit */
    {
        enum { NS = 3, STEPS = 24 };
        static const int plen[NS] = { 120, 250, 3 };
        int32_t *seqtok[NS];
        float *sref[NS];
        struct gds_seq *sq[NS];
        int total[NS];
        bool ok = true;
        for (int i = 0; i < NS; i++) {
            total[i] = plen[i] + STEPS + (i == 2 ? 6 : 0) - (i == 1 ? 1 : 0);
            seqtok[i] = malloc(sizeof(int32_t) * (size_t)total[i]);
            sref[i] = malloc(sizeof(float) * (size_t)total[i] * V);
            sq[i] = gds_seq_new(mc, N_CTX);
            ok = ok && seqtok[i] && sref[i] && sq[i];
            uint32_t y = 77u + 1000u * (uint32_t)i;
            for (int t = 0; ok && t < total[i]; t++) { y = y * 1664525u + 1013904223u; seqtok[i][t] = t == 0 ? hp->bos_id : (int32_t)((y >> 8) % (uint32_t)V); }
            struct gds_seq *r1 = ok ? gds_seq_new(mc, N_CTX) : NULL;
            ok = ok && r1 && gds_model_eval(mc, r1, &(struct gds_eval){ .tokens = seqtok[i], .n_tokens = total[i], .logits_all = sref[i] }) == GDS_OK;
            gds_seq_free(r1);
        }
        CHECK(ok, "batched evaluation: setup failed: %s", gds_last_error());
        /* outputs of one call: part j's logits at lg + j * 250 * V (the longest part) */
        float *lg = ok ? malloc(sizeof(float) * (size_t)NS * 250 * V) : NULL;
        int at[NS] = { 0, 0, 0 }, n_cmp = 0, n_bad = 0, first_bad_step = -1;
        const double t0 = now_s();
        for (int step = -1; ok && lg && step < STEPS; step++) {
            struct gds_eval e[NS];
            struct gds_seq *ss[NS];
            int n = 0, which[NS];
            for (int i = 0; i < NS; i++) {
                if (step == 9 && i == 1) continue;
                const int k = step < 0 ? plen[i] : step == 5 && i == 2 ? 7 : 1;
                float *out = lg + (size_t)n * 250 * V;
                e[n] = (struct gds_eval){ .tokens = seqtok[i] + at[i], .n_tokens = k, .decode = k == 1 };
                if (k == 1) e[n].logits = out;
                else e[n].logits_all = out;
                ss[n] = sq[i];
                which[n++] = i;
            }
            if (gds_model_eval_batch(mc, ss, e, n) != GDS_OK) { CHECK(false, "batched evaluation, step %d: %s", step, gds_last_error()); ok = false; }
            for (int j = 0; ok && j < n; j++) {
                const int i = which[j], k = e[j].n_tokens;
                n_cmp += k;
                if (memcmp(lg + (size_t)j * 250 * V, sref[i] + (size_t)at[i] * V, sizeof(float) * (size_t)k * V) != 0) {
                    n_bad++;
                    if (first_bad_step < 0) first_bad_step = step;
                }
                at[i] += k;
            }
        }
        for (int i = 0; ok && i < NS; i++) ok = at[i] == total[i] && gds_seq_n_past(sq[i]) == total[i];
        CHECK(ok && n_bad == 0, "batched evaluation: %d of the compared calls differ from the one-call prefill (first at step %d; -1 = the batched prefill)",
              n_bad, first_bad_step);
        if (ok && n_bad == 0) printf("  batched evaluation of 3 sequences (%d positions, prefills, one-token steps, a 7-token part, one sitting out): bit-identical, %.2f s\n", n_cmp, now_s() - t0);
        /* refusals leave every sequence where it was */
        if (ok) {
            struct gds_seq *two[2] = { sq[0], sq[0] };
            struct gds_eval e2[2] = { { .tokens = seqtok[0], .n_tokens = 1 }, { .tokens = seqtok[0], .n_tokens = 1 } };
            CHECK(gds_model_eval_batch(mc, two, e2, 2) != GDS_OK && strstr(gds_last_error(), "same") && gds_seq_n_past(sq[0]) == total[0],
                  "a batch naming one sequence twice: '%s', n_past %d", gds_last_error(), gds_seq_n_past(sq[0]));
            struct gds_seq *pair[2] = { sq[1], sq[2] };
            int32_t badtok[2] = { 1, V };
            struct gds_eval e3[2] = { { .tokens = badtok, .n_tokens = 1 }, { .tokens = badtok + 1, .n_tokens = 1 } };
            CHECK(gds_model_eval_batch(mc, pair, e3, 2) != GDS_OK && strstr(gds_last_error(), "outside") && gds_seq_n_past(sq[1]) == total[1] &&
                  gds_seq_n_past(sq[2]) == total[2], "a batch with a token outside the vocabulary: '%s', n_past %d %d", gds_last_error(),
                  gds_seq_n_past(sq[1]), gds_seq_n_past(sq[2]));
        }
        free(lg);
        for (int i = 0; i < NS; i++) { free(seqtok[i]); free(sref[i]); gds_seq_free(sq[i]); }
    }

    /* 10. the model on a backend whose memory is not host memory: the "ref"
     * backend with GDS_REF_FULL=1 runs every op with the CPU's scalar kernels
     * on buffers reached only through tensor_set / tensor_get (the path of a
     * GPU: weights uploaded at load, the state on the backend, graph inputs
     * copied over, state moves between graphs through the host), against the
     * CPU backend at the scalar level (GDS_CPU_SIMD=scalar: the same kernels,
     * so the same bits), over the first NR tokens (2 CSA top-k selections past
     * 16 entries, one HCA entry): a prefill; 100 tokens on ref, its state
     * image continued on the CPU; 100 tokens on the CPU, continued on ref by
     * one-token decode calls */
    if (ref) {
        enum { NR = 140, NS = 100 };
        setenv("GDS_REF_FULL", "1", 1);
        setenv("GDS_CPU_SIMD", "scalar", 1);
        struct gds_model *mr = gds_model_load(argv[1], &(struct gds_model_params){ .n_threads = 1, .backend = "ref" });
        struct gds_model *ms = gds_model_load(argv[1], &(struct gds_model_params){ .n_threads = 1 });
        unsetenv("GDS_CPU_SIMD");
        CHECK(mr && ms, "gds_model_load with backend ref / scalar CPU: %s", gds_last_error());
        float *want = malloc(sizeof(float) * (size_t)NR * V), *got = malloc(sizeof(float) * (size_t)NR * V);
        struct gds_seq *a = mr && ms ? gds_seq_new(ms, N_CTX) : NULL, *b = mr && ms ? gds_seq_new(mr, N_CTX) : NULL;
        bool ok = a && b && want && got;
        const double t0 = now_s();
        ok = ok && gds_model_eval(ms, a, &(struct gds_eval){ .tokens = tok, .n_tokens = NR, .logits_all = want }) == GDS_OK;
        ok = ok && gds_model_eval(mr, b, &(struct gds_eval){ .tokens = tok, .n_tokens = NR, .logits_all = got }) == GDS_OK;
        CHECK(ok && memcmp(want, got, sizeof(float) * (size_t)NR * V) == 0, "ref backend vs scalar CPU, prefill of %d tokens: %s", NR,
              ok ? "logits differ" : gds_last_error());
        /* state images across: ref -> CPU (prefill), CPU -> ref (one-token decode) */
        for (int k = 0; ok && k < 2; k++) {
            struct gds_model *ma = k ? ms : mr, *mb = k ? mr : ms;
            gds_seq_reset(a);
            gds_seq_reset(b);
            struct gds_seq *sa = k ? a : b, *sb = k ? b : a;
            bool ok2 = gds_model_eval(ma, sa, &(struct gds_eval){ .tokens = tok, .n_tokens = NS }) == GDS_OK;
            const size_t n = ok2 ? gds_seq_state_size(sa) : 0;
            void *img = ok2 ? malloc(n) : NULL;
            ok2 = ok2 && img && gds_seq_state_save(sa, img, n) == n && gds_seq_state_load(sb, img, n) == GDS_OK;
            for (int i = NS; ok2 && i < NR; i++)
                ok2 = gds_model_eval(mb, sb, &(struct gds_eval){ .tokens = tok + i, .n_tokens = 1, .decode = k == 1, .logits = got + (size_t)i * V }) == GDS_OK;
            CHECK(ok2 && memcmp(want + (size_t)NS * V, got + (size_t)NS * V, sizeof(float) * (size_t)(NR - NS) * V) == 0,
                  "state image %s -> %s after %d tokens, then one-token calls: %s", k ? "CPU" : "ref", k ? "ref" : "CPU", NS,
                  ok2 ? "logits differ" : gds_last_error());
            free(img);
        }
        if (ok) printf("  ref backend (not host memory) vs scalar CPU: prefill of %d tokens, state images both ways + %d one-token calls: checked, %.1f s\n",
                       NR, NR - NS, now_s() - t0);
        /* a third model on ref (two alive there at once) with n_batch 64: one call
         * the model splits into graphs of 64, 64 and 12 tokens (every graph's
         * inputs copied over again, state rows moved between the graphs); then
         * layer ranges on it: layers 0-1 from the tokens with hc_out, and the
         * CSA layer alone fed those streams through hc_in (a slice per graph)
         * with its router and indexer choices; all against the scalar CPU's
         * single graphs */
        const double t1 = now_s();
        struct gds_model *mb = ok ? gds_model_load(argv[1], &(struct gds_model_params){ .n_threads = 1, .backend = "ref", .n_batch = 64 }) : NULL;
        CHECK(!ok || mb, "gds_model_load with backend ref, n_batch 64: %s", gds_last_error());
        if (mb) {
            const int HD = hp->hc_mult * hp->n_embd, KR = hp->n_expert_used, KI = hp->index_topk;
            int lc = -1;
            for (int il = 0; il < hp->n_layer && lc < 0; il++) if (hp->compress_ratio[il] == 4) lc = il;
            float *h[2][2]; /* [CPU, ref][layers 0..lc-1, layer lc] */
            int32_t *ids[2][2]; /* [CPU, ref][router, indexer] */
            bool okb = lc > 0;
            for (int k = 0; k < 2; k++) {
                for (int j = 0; j < 2; j++) h[k][j] = malloc(sizeof(float) * (size_t)NR * HD);
                ids[k][0] = malloc(sizeof(int32_t) * (size_t)NR * KR);
                ids[k][1] = malloc(sizeof(int32_t) * (size_t)NR * KI);
                okb = okb && h[k][0] && h[k][1] && ids[k][0] && ids[k][1];
            }
            struct gds_seq *sb = gds_seq_new(mb, N_CTX);
            okb = okb && sb && gds_model_eval(mb, sb, &(struct gds_eval){ .tokens = tok, .n_tokens = NR, .logits_all = got }) == GDS_OK;
            CHECK(okb && memcmp(want, got, sizeof(float) * (size_t)NR * V) == 0, "ref, one call of %d tokens split by n_batch 64 vs scalar CPU: %s", NR,
                  okb ? "logits differ" : gds_last_error());
            for (int k = 0; okb && k < 2; k++) {
                struct gds_model *mk = k ? mb : ms;
                for (int j = 0; j < NR * HD; j++) h[k][0][j] = h[k][1][j] = NAN;
                for (int j = 0; j < NR * KR; j++) ids[k][0][j] = -2;
                for (int j = 0; j < NR * KI; j++) ids[k][1][j] = -2;
                struct gds_seq *s0 = gds_seq_new(mk, N_CTX), *s1 = gds_seq_new(mk, N_CTX);
                okb = s0 && s1 &&
                      gds_model_eval(mk, s0, &(struct gds_eval){ .tokens = tok, .n_tokens = NR, .layer_begin = 0, .layer_end = lc, .hc_out = h[k][0] }) == GDS_OK &&
                      gds_model_eval(mk, s1, &(struct gds_eval){ .tokens = tok, .n_tokens = NR, .layer_begin = lc, .layer_end = lc + 1, .hc_in = h[0][0],
                                                                 .hc_out = h[k][1], .router_experts = ids[k][0], .indexer_topk = ids[k][1] }) == GDS_OK;
                CHECK(okb, "layer ranges on %s: %s", k ? "ref" : "the CPU", gds_last_error());
                gds_seq_free(s0);
                gds_seq_free(s1);
            }
            if (okb) {
                bool fin = true;
                for (int j = 0; j < NR * HD; j++) fin = fin && isfinite(h[0][0][j]) && isfinite(h[0][1][j]);
                const int f0 = n_fail;
                CHECK(fin, "layer ranges on the CPU: hc_out not finite or not written");
                CHECK(memcmp(h[0][0], h[1][0], sizeof(float) * (size_t)NR * HD) == 0, "ref (n_batch 64) vs scalar CPU: hc_out of layers 0-%d differs", lc - 1);
                CHECK(memcmp(h[0][1], h[1][1], sizeof(float) * (size_t)NR * HD) == 0, "ref (n_batch 64) vs scalar CPU: hc_out of layer %d (hc_in) differs", lc);
                CHECK(memcmp(ids[0][0], ids[1][0], sizeof(int32_t) * (size_t)NR * KR) == 0, "ref vs scalar CPU: layer %d router experts differ", lc);
                CHECK(memcmp(ids[0][1], ids[1][1], sizeof(int32_t) * (size_t)NR * KI) == 0, "ref vs scalar CPU: layer %d indexer top-k differs", lc);
                if (n_fail == f0) printf("  ref, n_batch 64 (3 graphs per call, a second model on ref alive): prefill of %d tokens, layers 0-%d (hc_out) and layer %d "
                       "(hc_in, router, indexer top-k) bit-identical to the scalar CPU, %.1f s\n", NR, lc - 1, lc, now_s() - t1);
            }
            for (int k = 0; k < 2; k++) { free(h[k][0]); free(h[k][1]); free(ids[k][0]); free(ids[k][1]); }
            gds_seq_free(sb);
            gds_model_free(mb);
        }
        /* hybrid: the routed experts stay in host memory and their products run on the CPU (the
         * scheduler splits each layer), everything else on ref; then the first 2 layers' experts only */
        for (int k = 0; ok && k < 2; k++) {
            setenv("GDS_CPU_SIMD", "scalar", 1);
            struct gds_model *mh = gds_model_load(argv[1], &(struct gds_model_params){ .n_threads = 1, .backend = "ref", .cpu_moe = k == 0, .n_cpu_moe = 2 });
            unsetenv("GDS_CPU_SIMD");
            struct gds_seq *h = mh ? gds_seq_new(mh, N_CTX) : NULL;
            bool okh = h && gds_model_eval(mh, h, &(struct gds_eval){ .tokens = tok, .n_tokens = NS, .logits_all = got }) == GDS_OK;
            for (int i = NS; okh && i < NS + 8; i++)
                okh = gds_model_eval(mh, h, &(struct gds_eval){ .tokens = tok + i, .n_tokens = 1, .decode = true, .logits = got + (size_t)i * V }) == GDS_OK;
            CHECK(okh && memcmp(want, got, sizeof(float) * (size_t)(NS + 8) * V) == 0, "hybrid (%s on the CPU) vs scalar CPU, prefill %d + 8 one-token calls: %s",
                  k ? "layers 0-1 experts" : "all routed experts", NS, okh ? "logits differ" : gds_last_error());
            /* the expert products did run on the CPU: per layer with CPU experts one CPU split and the
             * ref split after it (4 layers: 1 + 2 x 4 = 9; 2 layers: 5) */
            const int want_splits = k ? 5 : 9;
            CHECK(okh && gds_model_last_splits(mh) == want_splits, "hybrid (%s): %d splits in the last graph, expected %d", k ? "layers 0-1" : "all",
                  gds_model_last_splits(mh), want_splits);
            if (okh) printf("  hybrid, %s on the CPU, the rest on ref: %d + 8 positions bit-identical to the scalar CPU\n", k ? "layers 0-1 routed experts" : "every routed expert", NS);
            gds_seq_free(h);
            gds_model_free(mh);
        }
        gds_seq_free(a);
        gds_seq_free(b);
        free(want);
        free(got);
        gds_model_free(mr);
        gds_model_free(ms);
        unsetenv("GDS_REF_FULL");
    }

    /* 7. the indexer's top-k really selects */
    if (argc > 2 && ref) {
        struct gds_model *ma = load(argv[2], 1, false);
        if (!ma) n_fail++;
        else {
            CHECK(gds_model_hparams(ma)->index_topk >= csa_entries, "%s: index_topk %d does not cover the %d entries", argv[2], gds_model_hparams(ma)->index_topk, csa_entries);
            r = run(ma, tok, 0, "prefill, index_topk covering all entries");
            if (r) {
                /* position p sees (p + 1) / 4 CSA entries */
                int first_diff = -1, n_diff = 0;
                for (int p = 0; p < N_TOK; p++) {
                    const bool d = memcmp(ref + (size_t)p * V, r + (size_t)p * V, sizeof(float) * V) != 0;
                    if (d && first_diff < 0) first_diff = p;
                    n_diff += d;
                }
                const int last_full = 4 * (TOPK + 1) - 2; /* last position with <= TOPK entries */
                printf("  top-k %d vs all: first differing position %d (last with <= %d entries: %d), %d of %d positions differ\n",
                       TOPK, first_diff, TOPK, last_full, n_diff, N_TOK);
                CHECK(first_diff > last_full, "top-k %d vs all entries differ at position %d, which has only %d entries", TOPK, first_diff, (first_diff + 1) / 4);
                CHECK(n_diff >= (N_TOK - last_full - 1) / 2, "top-k %d vs all entries: only %d positions differ: does the indexer select?", TOPK, n_diff);
                free(r);
            } else n_fail++;
            gds_model_free(ma);
        }
    }
    free(ref);

done:
    gds_model_free(mc);
    gds_model_free(mf);
    gds_model_free(mt);
    printf("  total %.1f s\n", now_s() - t_start);
    printf("test-flash: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
