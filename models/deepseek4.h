/*
 * deepseek4.h - DeepSeek-V4 (Flash/Pro) model: load from GGUF, per-sequence
 * state, evaluation (prefill, decode, chunked prefill).
 *
 *     struct gds_model *m = gds_model_load("v4.gguf", &(struct gds_model_params){ .n_threads = 8 });
 *     struct gds_seq *s = gds_seq_new(m, 4096);                 // context length
 *     float *logits = malloc(sizeof(float) * gds_model_hparams(m)->n_vocab);
 *     struct gds_eval e = { .tokens = ids, .n_tokens = n, .logits = logits };
 *     gds_model_eval(m, s, &e);          // prefill: appends n tokens, logits of the last
 *     e = (struct gds_eval){ .tokens = &next, .n_tokens = 1, .logits = logits };
 *     gds_model_eval(m, s, &e);          // decode one token
 *     gds_seq_free(s); gds_model_free(m);
 *
 * Numerics follow ../shared/spec/deepseek-v4.md sections 3-5 (REF-C). All
 * public symbols use the gds_ prefix; model internals stay in models/.
 *
 * Evaluation: one graph per chunk of up to min(n_ctx, 512) tokens (prefill),
 * or per token (decode). Every token sees what token-by-token decode shows it,
 * so prefill, decode and chunked prefill give identical bits (and so do any
 * thread counts). Diagnostics: GDS_DUMP=1 prints statistics of every named
 * node of every graph to stderr (GDS_DUMP=<text>: names containing <text>);
 * nodes are named "<what>-<layer>" (q-3, kv-3, idx_topk-2, attn_out-4,
 * router_ids-5, moe_out-0, block_out-5, logits, ...).
 */
#ifndef GDS_DEEPSEEK4_H
#define GDS_DEEPSEEK4_H

#include "gds.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GDS_DS4_MAX_LAYERS 128

struct gds_ds4_hparams {
    int n_vocab, n_embd, n_layer;   /* n_layer: main layers (MTP not counted) */
    int n_head, head_dim, n_rot;    /* n_rot = qk_rope_head_dim (64) */
    int q_lora_rank, o_lora_rank, o_groups;
    int n_expert, n_expert_used, n_expert_shared, n_ff_exp;
    int n_hash_layers;
    int sliding_window;
    int hc_mult, hc_sinkhorn_iters;
    int index_n_heads, index_head_dim, index_topk;
    int n_mtp;                      /* 0 or 1 */
    int compress_ratio[GDS_DS4_MAX_LAYERS + 1]; /* per layer, [n_layer] = MTP */
    float rope_base, compress_rope_base;
    float yarn_factor, yarn_orig_ctx, yarn_beta_fast, yarn_beta_slow;
    float rms_eps, hc_eps, routed_scale, swiglu_limit;
    int bos_id, eos_id;
};

struct gds_model_params {
    int n_threads;   /* 0: all cores */
    bool verbose;
    bool kv_f32;     /* keep kv rows and indexer keys of the sequence state in F32
                      * instead of the compact KV_E4M3_B64 / MXFP4 rows (same bits,
                      * 3.9x the memory; for tests). gds_model_kv_bytes_per_token
                      * still reports the compact layout. */
    int n_batch;     /* most tokens per graph when an eval call is split (prefill);
                      * 0: 512. Results do not depend on it (tests split one call
                      * at small sizes and compare bit for bit). */
    const char *backend; /* NULL or "cpu": the CPU backend. Another registered backend
                      * ("cuda" with make CUDA=1): the weights are uploaded to it at
                      * load, the sequence state lives there and every graph runs
                      * there (gds_backend_count / gds_backend_name_at list them). */
    int device;      /* device index of that backend */
    bool cpu_moe;    /* with backend: every layer's routed experts stay in host memory (the
                      * mmap'd file) and their products run on the CPU; the rest on the backend */
    int n_cpu_moe;   /* with backend: only the first N layers' routed experts stay on the CPU */
    /* NUMA and memory (issue 12, gds-numa.h; CPU backend). Results do not depend on them. */
    int numa;        /* enum gds_numa_mode: 0 off (default), auto, interleave, experts */
    bool numa_split; /* experts: every expert's rows divided over the nodes (else whole experts per node) */
    bool numa_replicate_dense; /* with more than one node: a copy of the dense weights (all but the routed experts and
                      * the token embedding) on every node, read by that node's threads (memory cost printed) */
    bool numa_print; /* print the plan at load (--print-placement) */
    const char *numa_popularity; /* expert popularity file ("layer expert count" lines, gds_model_numa_save_popularity)
                      * that the whole-expert placement balances; NULL: bytes only */
    bool prefetch_experts; /* read the router's experts ahead (madvise WILLNEED on a helper thread) */
    bool mlock_dense; /* mlock every weight but the routed experts and the tables read by row (models larger than memory) */
    bool numa_count; /* with numa off: a plan that only counts the router's choices
                      * (gds_model_numa_report, gds_model_numa_save_popularity; verbose does too) */
};

struct gds_model;
struct gds_seq;

struct gds_model *gds_model_load(const char *path, const struct gds_model_params *params); /* NULL + gds_last_error() */
void gds_model_free(struct gds_model *m);
const struct gds_ds4_hparams *gds_model_hparams(const struct gds_model *m);

/* Per-sequence state (spec 5): window ring, compressor states, compressed KV and
 * indexer keys for n_ctx positions. Fresh (reset) on creation. */
struct gds_seq *gds_seq_new(struct gds_model *m, int n_ctx);
void gds_seq_free(struct gds_seq *s);
void gds_seq_reset(struct gds_seq *s);
int  gds_seq_n_past(const struct gds_seq *s);
/* state bytes gds_seq_new(m, n_ctx) allocates, computed without allocating
 * (programs check a context against the machine's memory first) */
size_t gds_model_seq_bytes(const struct gds_model *m, int n_ctx);
size_t gds_seq_bytes(const struct gds_seq *s);          /* state bytes allocated (compact KV rows where head_dim is 512, spec 5.2) */
/* Compressed-KV bytes per token of context in the lossless compact layout of
 * spec 5.2 (e4m3 nope + e8m0 per 64 + bf16 rope per entry, e2m1 indexer keys),
 * all trunk layers; the context-independent window rings are not counted.
 * Flash: 3514.25. */
double gds_model_kv_bytes_per_token(const struct gds_model *m);

/* State image: everything the sequence's next token needs (the compressed
 * entries and indexer keys up to n_past, the window ring, the compressor
 * windows; spec 5), as bytes - what a server keeps on disk for a prompt
 * prefix, or a long benchmark resumes from. It loads into a sequence of the
 * same model (checked by a fingerprint of the file: sizes, hparams, tensor
 * table and the first and last bytes of every tensor) with any n_ctx >=
 * n_past, and evaluation then continues with exactly the bits it would have
 * had. A checksum covers the image; gds_seq_state_load refuses a corrupted,
 * truncated or foreign image with an error and leaves the sequence as it was. */
size_t gds_seq_state_size(const struct gds_seq *s);
size_t gds_seq_state_save(const struct gds_seq *s, void *buf, size_t size); /* bytes written; 0 + gds_last_error() */
enum gds_status gds_seq_state_load(struct gds_seq *s, const void *buf, size_t size);
uint64_t gds_model_fingerprint(struct gds_model *m);

struct gds_eval {
    const int32_t *tokens;  /* [n_tokens] token ids (also used for hash routing) */
    int n_tokens;           /* appended at positions n_past .. n_past+n_tokens-1 */
    bool decode;            /* true: feed the tokens one at a time through the decode path */
    float *logits;          /* [n_vocab] logits of the last token, or NULL */
    float *logits_all;      /* [n_tokens, n_vocab] logits of every token, or NULL */

    /* diagnostics / teacher forcing: run only layers [layer_begin, layer_end)
     * (both 0: all layers). hc_in [n_tokens, hc, D] replaces the embedding as
     * input of layer_begin; hc_out [n_tokens, hc, D] receives the streams after
     * layer_end-1 (bf16 values as floats; with the full range: before the hc
     * head, the MTP block's input). With a partial range no logits, and only
     * the state of the layers run advances (use such a sequence only with the
     * same range). */
    int layer_begin, layer_end;
    const float *hc_in;
    float *hc_out;
    /* choices of the single layer run when layer_end == layer_begin + 1:
     * routed experts [n_tokens, n_expert_used], indexer top-k ids
     * [n_tokens, index_topk] (CSA layers; -1 = none) */
    int32_t *router_experts;
    int32_t *indexer_topk;
};

enum gds_status gds_model_eval(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e);

/* NUMA traffic report (issue 12; deepseek4-numa.c): per decode token, bytes
 * read local / remote per node under off, interleave and experts, from the
 * plan and the router choices counted since load (a plan exists with
 * params.numa or params.verbose), and the projected decode speed for
 * bw_node GB/s per node (<= 0: measured on node 0 here) and bw_link GB/s
 * per direction between two nodes (<= 0: measured between nodes 1 and 0 on a
 * machine with two, else GDS_NUMA_LINK_BW_DEFAULT); n_layers > 0 projects a model of that
 * many layers like the counted ones (the same head). Returns the projected
 * tokens/s of the plan's mode, 0 without a plan or a bandwidth. */
double gds_model_numa_report(struct gds_model *m, double bw_node, double bw_link, int n_layers, FILE *f);
/* expert ranges (and bytes) advised by the prefetch helper since load */
void gds_model_prefetch_stats(struct gds_model *m, uint64_t *ranges, double *bytes);
/* writes the counted expert popularity ("layer expert count" lines) */
enum gds_status gds_model_numa_save_popularity(const struct gds_model *m, const char *path);

/* Splits of the last graph between the backend and the CPU (hybrid:
 * cpu_moe / n_cpu_moe; 1 when a graph ran on one backend, 0 before any). */
int gds_model_last_splits(const struct gds_model *m);

/* Several sequences in one graph: e[i] on s[i] (distinct sequences of m),
 * each e[i] one chunk (1 <= n_tokens <= the sequence's batch size,
 * gds_model_params.n_batch; decode only with one token) with logits and/or
 * logits_all, no layer range, hc_in/hc_out or diagnostics. The
 * token-parallel work (every projection, the experts, norms, the head) runs
 * once over the tokens of all, so the weights are read once per call, not
 * once per sequence (batched decode of a server's slots); the state writes,
 * compressors, indexer and attention run per sequence. Gives the same bits as
 * separate gds_model_eval calls. On an error no sequence advances. */
enum gds_status gds_model_eval_batch(struct gds_model *m, struct gds_seq *const *s, const struct gds_eval *e, int n);

/* MTP block (spec 4.12; needs n_mtp == 1): e->tokens [n] are the tokens t+1,
 * e->hc_in [n, hc, D] the main model's final streams at t (hc_out of a full
 * gds_model_eval, before the hc head). The block runs at the sequence's own
 * MTP positions (0, 1, ... after a reset; its KV ring is separate) and writes
 * e->logits / e->logits_all (predictions of token t+2). decode as above. */
enum gds_status gds_model_eval_mtp(struct gds_model *m, struct gds_seq *s, const struct gds_eval *e);

#ifdef __cplusplus
}
#endif
#endif /* GDS_DEEPSEEK4_H */
