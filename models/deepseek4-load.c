/*
 * deepseek4-load.c - DeepSeek-V4 model loading: (a) hparams from the
 * `deepseek4.*` GGUF keys, validated against V4's invariants with messages
 * naming the key; (b) one weight table (name, shape expression, kind, which
 * layers have it) bound to the mmap'd file in a single loop, with messages
 * naming the tensor.
 *
 * Accepted files: ggml-ds's own (gds-convert: F8_E4M3_B128 dense, MXFP4
 * experts, MTP as blk.L with nextn.* extension names) and llama.cpp-made
 * deepseek4 files (Q8_0/BF16/F16/F32 dense, MXFP4 experts, Q8_0 small
 * tensors). Weights stay in the mapping (no copy of experts); exceptions,
 * converted once into model-owned memory: wo_a -> BF16 unless it is
 * F8_E4M3_B128 or BF16 (spec T17: bf16 weights, bf16 input, no activation
 * quantization; F8 wo_a stays mapped and runs as mul_mat GDS_MM_ACT_BF16,
 * which multiplies the exact bf16 values from the FP8 bytes) and vectors/tables that
 * the fused ops need as F32 (hc_*, norms, sinks, ape, router bias) when a
 * file stores them in another type.
 *
 * Not here: the graph and state (deepseek4.c).
 */
#include "deepseek4-impl.h"
#include "gds-impl.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===========================================================================
 * (a) hyper-parameters
 * ========================================================================= */

#define KP "deepseek4."

struct kv_reader {
    struct gds_gguf *f;
    enum gds_status st;
};

static int64_t kv_find(struct kv_reader *r, const char *key, bool required) {
    int64_t i = gds_gguf_find_key(r->f, key);
    if (i < 0 && required && r->st == GDS_OK)
        r->st = gds_error(GDS_ERR_FORMAT, "%s: missing key '%s'", gds_gguf_path(r->f), key);
    return i;
}

static int kv_int(struct kv_reader *r, const char *key, bool required, int def) {
    int64_t i = kv_find(r, key, required), v;
    if (i < 0) return def;
    if (!gds_gguf_get_int(r->f, i, &v) || v < INT32_MIN || v > INT32_MAX) {
        if (r->st == GDS_OK) r->st = gds_error(GDS_ERR_FORMAT, "%s: key '%s' must be an integer", gds_gguf_path(r->f), key);
        return def;
    }
    return (int)v;
}

static float kv_f32(struct kv_reader *r, const char *key, bool required, float def) {
    int64_t i = kv_find(r, key, required), v;
    if (i < 0) return def;
    enum gds_gguf_type t = gds_gguf_kv_type(r->f, i);
    if (t == GDS_GGUF_FLOAT32) return gds_gguf_get_f32(r->f, i);
    if (gds_gguf_get_int(r->f, i, &v)) return (float)v;
    if (r->st == GDS_OK) r->st = gds_error(GDS_ERR_FORMAT, "%s: key '%s' must be a number", gds_gguf_path(r->f), key);
    return def;
}

/* per-block float array (or scalar) into out[0..n) */
static void kv_f32_arr(struct kv_reader *r, const char *key, bool required, float *out, int n, float def) {
    for (int i = 0; i < n; i++) out[i] = def;
    int64_t i = kv_find(r, key, required);
    if (i < 0) return;
    if (gds_gguf_kv_type(r->f, i) != GDS_GGUF_ARRAY) {
        float v = kv_f32(r, key, required, def);
        for (int j = 0; j < n; j++) out[j] = v;
        return;
    }
    if (gds_gguf_arr_type(r->f, i) != GDS_GGUF_FLOAT32 || gds_gguf_arr_n(r->f, i) < n) {
        if (r->st == GDS_OK)
            r->st = gds_error(GDS_ERR_FORMAT, "%s: key '%s' must be an f32 array of at least %d entries", gds_gguf_path(r->f), key, n);
        return;
    }
    const float *a = gds_gguf_arr_data(r->f, i);
    for (int j = 0; j < n; j++) out[j] = a[j];
}

static enum gds_status hp_error(struct gds_gguf *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum gds_status hp_error(struct gds_gguf *f, const char *key, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return gds_error(GDS_ERR_FORMAT, "%s: %s%s: %s", gds_gguf_path(f), key[0] ? "key " : "", key, msg);
}

static enum gds_status read_hparams(struct gds_gguf *f, struct gds_ds4_hparams *hp, float *clamp_exp, float *clamp_shexp) {
    struct kv_reader r = { f, GDS_OK };
    memset(hp, 0, sizeof(*hp));

    int64_t ka = gds_gguf_find_key(f, "general.architecture");
    if (ka < 0 || gds_gguf_kv_type(f, ka) != GDS_GGUF_STRING || strcmp(gds_gguf_get_str(f, ka), "deepseek4") != 0)
        return hp_error(f, "general.architecture", "must be \"deepseek4\"");

    const int n_block = kv_int(&r, KP "block_count", true, 0);
    hp->n_embd = kv_int(&r, KP "embedding_length", true, 0);
    hp->n_head = kv_int(&r, KP "attention.head_count", true, 0);
    const int n_head_kv = kv_int(&r, KP "attention.head_count_kv", true, 1);
    hp->head_dim = kv_int(&r, KP "attention.key_length", true, 0);
    const int v_len = kv_int(&r, KP "attention.value_length", false, hp->head_dim);
    hp->rms_eps = kv_f32(&r, KP "attention.layer_norm_rms_epsilon", true, 1e-6f);
    hp->q_lora_rank = kv_int(&r, KP "attention.q_lora_rank", true, 0);
    hp->sliding_window = kv_int(&r, KP "attention.sliding_window", true, 0);
    hp->o_groups = kv_int(&r, KP "attention.output_group_count", true, 0);
    hp->o_lora_rank = kv_int(&r, KP "attention.output_lora_rank", true, 0);
    hp->compress_rope_base = kv_f32(&r, KP "attention.compress_rope_freq_base", true, 160000.0f);
    hp->index_n_heads = kv_int(&r, KP "attention.indexer.head_count", true, 0);
    hp->index_head_dim = kv_int(&r, KP "attention.indexer.key_length", true, 0);
    hp->index_topk = kv_int(&r, KP "attention.indexer.top_k", true, 0);
    hp->n_rot = kv_int(&r, KP "rope.dimension_count", true, 64);
    hp->rope_base = kv_f32(&r, KP "rope.freq_base", false, 10000.0f);
    hp->yarn_factor = kv_f32(&r, KP "rope.scaling.factor", false, 1.0f);
    hp->yarn_orig_ctx = (float)kv_int(&r, KP "rope.scaling.original_context_length", false, 65536);
    hp->yarn_beta_fast = kv_f32(&r, KP "rope.scaling.yarn_beta_fast", false, 32.0f);
    hp->yarn_beta_slow = kv_f32(&r, KP "rope.scaling.yarn_beta_slow", false, 1.0f);
    int64_t kst = gds_gguf_find_key(f, KP "rope.scaling.type");
    if (kst >= 0 && gds_gguf_kv_type(f, kst) == GDS_GGUF_STRING && strcmp(gds_gguf_get_str(f, kst), "yarn") != 0)
        hp->yarn_factor = 1.0f;
    hp->n_expert = kv_int(&r, KP "expert_count", true, 0);
    hp->n_expert_used = kv_int(&r, KP "expert_used_count", true, 0);
    hp->n_expert_shared = kv_int(&r, KP "expert_shared_count", true, 1);
    hp->n_ff_exp = kv_int(&r, KP "expert_feed_forward_length", true, 0);
    hp->routed_scale = kv_f32(&r, KP "expert_weights_scale", true, 1.0f);
    const int gating = kv_int(&r, KP "expert_gating_func", false, 4);
    hp->n_hash_layers = kv_int(&r, KP "hash_layer_count", true, 0);
    hp->hc_mult = kv_int(&r, KP "hyper_connection.count", true, 0);
    hp->hc_sinkhorn_iters = kv_int(&r, KP "hyper_connection.sinkhorn_iterations", true, 0);
    hp->hc_eps = kv_f32(&r, KP "hyper_connection.epsilon", true, 1e-6f);
    int n_nextn = kv_int(&r, KP "nextn_predict_layers", false, 0);
    hp->bos_id = kv_int(&r, "tokenizer.ggml.bos_token_id", false, 0);
    hp->eos_id = kv_int(&r, "tokenizer.ggml.eos_token_id", false, 1);
    if (r.st != GDS_OK) return r.st;

    int64_t ke = gds_gguf_find_key(f, KP "expert_weights_norm");
    if (ke >= 0 && gds_gguf_kv_type(f, ke) == GDS_GGUF_BOOL && !gds_gguf_get_bool(f, ke))
        return hp_error(f, KP "expert_weights_norm", "must be true (V4 renormalizes the selected weights)");

    /* MTP: present when nextn_predict_layers > 0 and blk.<last>.nextn.eh_proj exists (llama.cpp's probe) */
    if (n_block < 1 || n_block > GDS_DS4_MAX_LAYERS + 1) return hp_error(f, KP "block_count", "%d outside [1, %d]", n_block, GDS_DS4_MAX_LAYERS + 1);
    hp->n_mtp = 0;
    if (n_nextn > 0 && n_nextn < n_block) {
        char name[GDS_MAX_NAME];
        snprintf(name, sizeof(name), "blk.%d.nextn.eh_proj.weight", n_block - n_nextn);
        if (gds_gguf_find_tensor(f, name) >= 0) hp->n_mtp = n_nextn;
    }
    if (hp->n_mtp > 1) return hp_error(f, KP "nextn_predict_layers", "%d MTP blocks; V4 has one", hp->n_mtp);
    hp->n_layer = n_block - hp->n_mtp;
    if (hp->n_layer > GDS_DS4_MAX_LAYERS) return hp_error(f, KP "block_count", "too many layers (%d)", hp->n_layer);

    /* compress ratios: one per trunk layer, then the MTP entry */
    int64_t kr = gds_gguf_find_key(f, KP "attention.compress_ratios");
    if (kr < 0) return hp_error(f, KP "attention.compress_ratios", "missing");
    if (gds_gguf_kv_type(f, kr) != GDS_GGUF_ARRAY ||
        (gds_gguf_arr_type(f, kr) != GDS_GGUF_INT32 && gds_gguf_arr_type(f, kr) != GDS_GGUF_UINT32))
        return hp_error(f, KP "attention.compress_ratios", "must be an i32/u32 array");
    const int64_t nr = gds_gguf_arr_n(f, kr);
    if (nr < hp->n_layer + hp->n_mtp)
        return hp_error(f, KP "attention.compress_ratios", "has %lld entries, need %d (layers + MTP)", (long long)nr, hp->n_layer + hp->n_mtp);
    const int32_t *ra = gds_gguf_arr_data(f, kr);
    for (int il = 0; il <= hp->n_layer; il++) {
        int v = il < nr ? ra[il] : 0;
        if (v != 0 && v != 4 && v != 128)
            return hp_error(f, KP "attention.compress_ratios", "entry %d is %d; V4 allows 0, 4, 128", il, v);
        hp->compress_ratio[il] = v;
    }
    if (hp->n_mtp && hp->compress_ratio[hp->n_layer] != 0)
        return hp_error(f, KP "attention.compress_ratios", "MTP entry %d must be 0 (the MTP block is SWA-only)", hp->n_layer);

    kv_f32_arr(&r, KP "swiglu_clamp_exp", true, clamp_exp, n_block, 10.0f);
    if (gds_gguf_find_key(f, KP "swiglu_clamp_shexp") >= 0) kv_f32_arr(&r, KP "swiglu_clamp_shexp", false, clamp_shexp, n_block, 10.0f);
    else memcpy(clamp_shexp, clamp_exp, sizeof(float) * (size_t)n_block);
    if (r.st != GDS_OK) return r.st;

    /* vocabulary: token_embd rows */
    int64_t te = gds_gguf_find_tensor(f, "token_embd.weight");
    if (te < 0) return gds_error(GDS_ERR_FORMAT, "%s: missing tensor 'token_embd.weight'", gds_gguf_path(f));
    int64_t ne[4];
    gds_gguf_tensor_ne(f, te, ne);
    hp->n_vocab = (int)ne[1];
    int vs = kv_int(&r, KP "vocab_size", false, hp->n_vocab);
    if (vs != hp->n_vocab) return hp_error(f, KP "vocab_size", "%d but token_embd.weight has %d rows", vs, hp->n_vocab);

    /* --- V4 invariants --- */
#define REQ(cond, key, ...) do { if (!(cond)) return hp_error(f, key, __VA_ARGS__); } while (0)
    REQ(hp->n_embd > 0 && hp->n_embd % 128 == 0, KP "embedding_length", "%d must be a positive multiple of 128", hp->n_embd);
    REQ(n_head_kv == 1, KP "attention.head_count_kv", "%d; V4 has one shared K=V head", n_head_kv);
    REQ(v_len == hp->head_dim, KP "attention.value_length", "%d must equal key_length %d (K = V)", v_len, hp->head_dim);
    REQ(hp->n_rot > 0 && hp->n_rot % 2 == 0 && hp->n_rot < hp->head_dim, KP "rope.dimension_count", "%d invalid for head dim %d", hp->n_rot, hp->head_dim);
    REQ((hp->head_dim - hp->n_rot) % 64 == 0 && hp->head_dim % 128 == 0, KP "attention.key_length",
        "%d: head_dim must be a multiple of 128 with head_dim - rope dims a multiple of 64 (FP8 KV blocks)", hp->head_dim);
    REQ(hp->n_head > 0, KP "attention.head_count", "%d", hp->n_head);
    REQ(hp->q_lora_rank > 0 && hp->q_lora_rank % 128 == 0, KP "attention.q_lora_rank", "%d must be a positive multiple of 128", hp->q_lora_rank);
    REQ(hp->o_groups > 0 && hp->n_head % hp->o_groups == 0, KP "attention.output_group_count", "%d must divide head_count %d", hp->o_groups, hp->n_head);
    REQ(hp->o_lora_rank > 0 && (hp->o_groups * hp->o_lora_rank) % 128 == 0, KP "attention.output_lora_rank", "%d invalid", hp->o_lora_rank);
    REQ(hp->sliding_window > 0, KP "attention.sliding_window", "%d must be positive", hp->sliding_window);
    REQ(hp->n_expert > 0, KP "expert_count", "%d", hp->n_expert);
    REQ(hp->n_expert_used > 0 && hp->n_expert_used <= hp->n_expert, KP "expert_used_count", "%d must be in [1, expert_count %d]", hp->n_expert_used, hp->n_expert);
    REQ(hp->n_expert_shared == 1, KP "expert_shared_count", "%d; V4 has exactly one shared expert", hp->n_expert_shared);
    REQ(hp->n_ff_exp > 0 && hp->n_ff_exp % 128 == 0, KP "expert_feed_forward_length", "%d must be a positive multiple of 128", hp->n_ff_exp);
    REQ(gating == 4, KP "expert_gating_func", "%d; V4 uses 4 (sqrtsoftplus)", gating);
    REQ(hp->n_hash_layers >= 0 && hp->n_hash_layers <= hp->n_layer, KP "hash_layer_count", "%d outside [0, %d]", hp->n_hash_layers, hp->n_layer);
    REQ(hp->hc_mult >= 1 && hp->hc_mult <= 16, KP "hyper_connection.count", "%d outside [1, 16]", hp->hc_mult);
    REQ(hp->hc_sinkhorn_iters >= 1, KP "hyper_connection.sinkhorn_iterations", "%d must be >= 1", hp->hc_sinkhorn_iters);
    bool has_csa = false;
    for (int il = 0; il < hp->n_layer; il++) has_csa |= hp->compress_ratio[il] == 4;
    if (has_csa) {
        REQ(hp->index_head_dim == 128, KP "attention.indexer.key_length", "%d; the indexer's Hadamard rotation needs 128", hp->index_head_dim);
        REQ(hp->index_n_heads > 0, KP "attention.indexer.head_count", "%d", hp->index_n_heads);
        REQ(hp->index_topk > 0, KP "attention.indexer.top_k", "%d", hp->index_topk);
        REQ(hp->n_rot <= hp->index_head_dim, KP "rope.dimension_count", "%d exceeds the indexer head dim", hp->n_rot);
    }
    REQ(hp->rope_base > 0, KP "rope.freq_base", "%g", hp->rope_base);
    REQ(hp->compress_rope_base > 0, KP "attention.compress_rope_freq_base", "%g", hp->compress_rope_base);
    REQ(hp->n_vocab > 0, "", "token_embd.weight has no rows");
#undef REQ
    hp->swiglu_limit = clamp_exp[0];
    return GDS_OK;
}

/* ===========================================================================
 * (b) the weight table
 * ========================================================================= */

/* shape symbols of the table */
enum ds4_sym {
    S_1, S_D, S_V, S_QL, S_HHD, S_HD, S_HCD, S_NMIX, S_HC, S_3, S_H, S_WOAK, S_GOL,
    S_E, S_K, S_F, S_CHD, S_R, S_IHID, S_IH, S_2ID, S_ID, S_2D,
};

enum ds4_kind {
    W_MAT,  /* any type MUL_MAT / GET_ROWS take; used in place */
    W_F32,  /* must be F32 for the fused ops; converted if stored otherwise */
    W_I32,  /* integer table (tid2eid) */
    W_WOA,  /* F8_E4M3_B128 / BF16: mapped; other types converted to BF16 once (spec T17) */
};

enum ds4_when { ON_ALL, ON_HASH, ON_NOHASH, ON_COMP, ON_CSA, ON_MTP };

struct ds4_wdesc {
    const char *name;   /* printf pattern with the layer index */
    size_t off;         /* offset in struct ds4_layer / struct gds_model */
    enum ds4_kind kind;
    enum ds4_when when;
    enum ds4_sym ne[3];
};

#define G_(f) offsetof(struct gds_model, f)
static const struct ds4_wdesc ds4_global_table[] = {
    { "token_embd.weight",      G_(tok_embd),     W_MAT, ON_ALL, { S_D, S_V, S_1 } },
    { "output_norm.weight",     G_(out_norm),     W_F32, ON_ALL, { S_D, S_1, S_1 } },
    { "output.weight",          G_(output),       W_MAT, ON_ALL, { S_D, S_V, S_1 } },
    { "output_hc_fn.weight",    G_(out_hc_fn),    W_F32, ON_ALL, { S_HCD, S_HC, S_1 } },
    { "output_hc_base.weight",  G_(out_hc_base),  W_F32, ON_ALL, { S_HC, S_1, S_1 } },
    { "output_hc_scale.weight", G_(out_hc_scale), W_F32, ON_ALL, { S_1, S_1, S_1 } },
};
#undef G_

#define L_(f) offsetof(struct ds4_layer, f)
static const struct ds4_wdesc ds4_layer_table[] = {
    { "blk.%d.attn_norm.weight",              L_(attn_norm),     W_F32, ON_ALL,    { S_D, S_1, S_1 } },
    { "blk.%d.attn_sinks.weight",             L_(attn_sinks),    W_F32, ON_ALL,    { S_H, S_1, S_1 } },
    { "blk.%d.attn_q_a.weight",               L_(q_a),           W_MAT, ON_ALL,    { S_D, S_QL, S_1 } },
    { "blk.%d.attn_q_a_norm.weight",          L_(q_a_norm),      W_F32, ON_ALL,    { S_QL, S_1, S_1 } },
    { "blk.%d.attn_q_b.weight",               L_(q_b),           W_MAT, ON_ALL,    { S_QL, S_HHD, S_1 } },
    { "blk.%d.attn_kv.weight",                L_(kv),            W_MAT, ON_ALL,    { S_D, S_HD, S_1 } },
    { "blk.%d.attn_kv_a_norm.weight",         L_(kv_norm),       W_F32, ON_ALL,    { S_HD, S_1, S_1 } },
    { "blk.%d.attn_output_a.weight",          L_(wo_a),          W_WOA, ON_ALL,    { S_WOAK, S_GOL, S_1 } },
    { "blk.%d.attn_output_b.weight",          L_(wo_b),          W_MAT, ON_ALL,    { S_GOL, S_D, S_1 } },
    { "blk.%d.hc_attn_fn.weight",             L_(hc_attn_fn),    W_F32, ON_ALL,    { S_HCD, S_NMIX, S_1 } },
    { "blk.%d.hc_attn_base.weight",           L_(hc_attn_base),  W_F32, ON_ALL,    { S_NMIX, S_1, S_1 } },
    { "blk.%d.hc_attn_scale.weight",          L_(hc_attn_scale), W_F32, ON_ALL,    { S_3, S_1, S_1 } },
    { "blk.%d.hc_ffn_fn.weight",              L_(hc_ffn_fn),     W_F32, ON_ALL,    { S_HCD, S_NMIX, S_1 } },
    { "blk.%d.hc_ffn_base.weight",            L_(hc_ffn_base),   W_F32, ON_ALL,    { S_NMIX, S_1, S_1 } },
    { "blk.%d.hc_ffn_scale.weight",           L_(hc_ffn_scale),  W_F32, ON_ALL,    { S_3, S_1, S_1 } },
    { "blk.%d.attn_compressor_kv.weight",     L_(comp_kv),       W_MAT, ON_COMP,   { S_D, S_CHD, S_1 } },
    { "blk.%d.attn_compressor_gate.weight",   L_(comp_gate),     W_MAT, ON_COMP,   { S_D, S_CHD, S_1 } },
    { "blk.%d.attn_compressor_ape.weight",    L_(comp_ape),      W_F32, ON_COMP,   { S_CHD, S_R, S_1 } },
    { "blk.%d.attn_compressor_norm.weight",   L_(comp_norm),     W_F32, ON_COMP,   { S_HD, S_1, S_1 } },
    { "blk.%d.indexer.attn_q_b.weight",       L_(idx_q_b),       W_MAT, ON_CSA,    { S_QL, S_IHID, S_1 } },
    { "blk.%d.indexer.proj.weight",           L_(idx_proj),      W_MAT, ON_CSA,    { S_D, S_IH, S_1 } },
    { "blk.%d.indexer_compressor_kv.weight",  L_(icomp_kv),      W_MAT, ON_CSA,    { S_D, S_2ID, S_1 } },
    { "blk.%d.indexer_compressor_gate.weight",L_(icomp_gate),    W_MAT, ON_CSA,    { S_D, S_2ID, S_1 } },
    { "blk.%d.indexer_compressor_ape.weight", L_(icomp_ape),     W_F32, ON_CSA,    { S_2ID, S_R, S_1 } },
    { "blk.%d.indexer_compressor_norm.weight",L_(icomp_norm),    W_F32, ON_CSA,    { S_ID, S_1, S_1 } },
    { "blk.%d.ffn_norm.weight",               L_(ffn_norm),      W_F32, ON_ALL,    { S_D, S_1, S_1 } },
    { "blk.%d.ffn_gate_inp.weight",           L_(gate_inp),      W_MAT, ON_ALL,    { S_D, S_E, S_1 } },
    { "blk.%d.ffn_gate_tid2eid.weight",       L_(tid2eid),       W_I32, ON_HASH,   { S_K, S_V, S_1 } },
    { "blk.%d.exp_probs_b.bias",              L_(probs_b),       W_F32, ON_NOHASH, { S_E, S_1, S_1 } },
    { "blk.%d.ffn_gate_exps.weight",          L_(gate_exps),     W_MAT, ON_ALL,    { S_D, S_F, S_E } },
    { "blk.%d.ffn_up_exps.weight",            L_(up_exps),       W_MAT, ON_ALL,    { S_D, S_F, S_E } },
    { "blk.%d.ffn_down_exps.weight",          L_(down_exps),     W_MAT, ON_ALL,    { S_F, S_D, S_E } },
    { "blk.%d.ffn_gate_shexp.weight",         L_(gate_sh),       W_MAT, ON_ALL,    { S_D, S_F, S_1 } },
    { "blk.%d.ffn_up_shexp.weight",           L_(up_sh),         W_MAT, ON_ALL,    { S_D, S_F, S_1 } },
    { "blk.%d.ffn_down_shexp.weight",         L_(down_sh),       W_MAT, ON_ALL,    { S_F, S_D, S_1 } },
    { "blk.%d.nextn.eh_proj.weight",          L_(eh_proj),       W_MAT, ON_MTP,    { S_2D, S_D, S_1 } },
    { "blk.%d.nextn.enorm.weight",            L_(enorm),         W_F32, ON_MTP,    { S_D, S_1, S_1 } },
    { "blk.%d.nextn.hnorm.weight",            L_(hnorm),         W_F32, ON_MTP,    { S_D, S_1, S_1 } },
    { "blk.%d.nextn.shared_head_norm.weight", L_(mtp_norm),      W_F32, ON_MTP,    { S_D, S_1, S_1 } },
    { "blk.%d.nextn.output_hc_fn.weight",     L_(mtp_hc_fn),     W_F32, ON_MTP,    { S_HCD, S_HC, S_1 } },
    { "blk.%d.nextn.output_hc_base.weight",   L_(mtp_hc_base),   W_F32, ON_MTP,    { S_HC, S_1, S_1 } },
    { "blk.%d.nextn.output_hc_scale.weight",  L_(mtp_hc_scale),  W_F32, ON_MTP,    { S_1, S_1, S_1 } },
};
#undef L_

static int64_t sym_value(const struct gds_ds4_hparams *hp, int ratio, enum ds4_sym s) {
    switch (s) {
    case S_1: return 1;
    case S_D: return hp->n_embd;
    case S_V: return hp->n_vocab;
    case S_QL: return hp->q_lora_rank;
    case S_HHD: return (int64_t)hp->n_head * hp->head_dim;
    case S_HD: return hp->head_dim;
    case S_HCD: return (int64_t)hp->hc_mult * hp->n_embd;
    case S_NMIX: return (int64_t)(2 + hp->hc_mult) * hp->hc_mult;
    case S_HC: return hp->hc_mult;
    case S_3: return 3;
    case S_H: return hp->n_head;
    case S_WOAK: return (int64_t)hp->n_head * hp->head_dim / hp->o_groups;
    case S_GOL: return (int64_t)hp->o_groups * hp->o_lora_rank;
    case S_E: return hp->n_expert;
    case S_K: return hp->n_expert_used;
    case S_F: return hp->n_ff_exp;
    case S_CHD: return (int64_t)(ratio == 4 ? 2 : 1) * hp->head_dim;
    case S_R: return ratio;
    case S_IHID: return (int64_t)hp->index_n_heads * hp->index_head_dim;
    case S_IH: return hp->index_n_heads;
    case S_2ID: return 2 * (int64_t)hp->index_head_dim;
    case S_ID: return hp->index_head_dim;
    case S_2D: return 2 * (int64_t)hp->n_embd;
    }
    return -1;
}

void ds4_model_own(struct gds_model *m, void *p) {
    if (m->n_owned == m->cap_owned) {
        m->cap_owned = m->cap_owned ? 2 * m->cap_owned : 64;
        m->owned = realloc(m->owned, sizeof(void *) * (size_t)m->cap_owned);
    }
    m->owned[m->n_owned++] = p;
}

/* dequantize a GGUF tensor to f32 (n elements) */
static enum gds_status tensor_to_f32(struct gds_gguf *f, int64_t ti, float *out, int64_t n) {
    enum gds_type t = gds_gguf_tensor_type(f, ti);
    const struct gds_type_traits *tt = gds_type_traits(t);
    if (!tt || !tt->to_float)
        return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': type %s cannot be converted to f32", gds_gguf_path(f),
                         gds_gguf_tensor_name(f, ti), gds_type_name(t));
    tt->to_float(gds_gguf_tensor_data(f, ti), out, n);
    return GDS_OK;
}

/* one-token graphs read a Q8_0 wo_a from its bytes where the CPU has the
 * fast kernel (AVX-512: vcvtne2ps2bf16 + vdpbf16ps; elsewhere the scalar
 * kernel would be slower than the BF16 copy's); GDS_WOA_Q8=0: never (A/B;
 * the same bits) */
static bool woa_q8_on(void) {
    const char *e = getenv("GDS_WOA_Q8");
    if (e && !strcmp(e, "0")) return false;
    const enum gds_cpu_simd s = gds_cpu_simd_best();
    return s == GDS_SIMD_AVX512 || s == GDS_SIMD_AMX;
}

/* binds one table entry; *slot receives the tensor */
static enum gds_status bind_weight(struct gds_model *m, const char *name, const struct ds4_wdesc *d, int ratio,
                                   struct gds_tensor **slot, bool *used) {
    struct gds_gguf *f = m->gguf;
    const struct gds_ds4_hparams *hp = &m->hp;
    int64_t ti = gds_gguf_find_tensor(f, name);
    if (ti < 0) return gds_error(GDS_ERR_FORMAT, "%s: missing tensor '%s'", gds_gguf_path(f), name);
    used[ti] = true;
    int64_t ne[4], want[4] = { 1, 1, 1, 1 };
    gds_gguf_tensor_ne(f, ti, ne);
    for (int i = 0; i < 3; i++) want[i] = sym_value(hp, ratio, d->ne[i]);
    if (ne[0] != want[0] || ne[1] != want[1] || ne[2] != want[2] || ne[3] != 1)
        return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' has shape {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld} from the hparams",
                         gds_gguf_path(f), name, (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3],
                         (long long)want[0], (long long)want[1], (long long)want[2]);
    enum gds_type type = gds_gguf_tensor_type(f, ti);
    const int64_t n = ne[0] * ne[1] * ne[2];
    struct gds_tensor *t = NULL;
    if (type == GDS_TYPE_I32 && d->kind != W_I32)
        return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' is I32, which is not a weight type", gds_gguf_path(f), name);

    switch (d->kind) {
    case W_I32:
        if (type != GDS_TYPE_I32) return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' must be I32, is %s", gds_gguf_path(f), name, gds_type_name(type));
        {
            const int32_t *v = gds_gguf_tensor_data(f, ti);
            for (int64_t i = 0; i < n; i++)
                if (v[i] < 0 || v[i] >= hp->n_expert)
                    return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': entry %lld (token %lld) is expert %d, outside [0, %d)", gds_gguf_path(f),
                                     name, (long long)i, (long long)(i / ne[0]), v[i], hp->n_expert);
        }
        /* fall through */
    case W_MAT:
        if ((type == GDS_TYPE_MXFP4 || type == GDS_TYPE_F8_E4M3_B128) && ne[0] % 128 != 0)
            return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': %s needs a row length multiple of 128", gds_gguf_path(f), name, gds_type_name(type));
        t = gds_new_tensor_3d(m->wctx, type, ne[0], ne[1], ne[2]);
        if (gds_tensor_alloc_at(t, m->wbuf, gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, ti)) != GDS_OK) return gds_error(GDS_ERR_INVALID, "%s: cannot bind '%s'", gds_gguf_path(f), name);
        break;
    case W_F32:
        t = gds_new_tensor_3d(m->wctx, GDS_TYPE_F32, ne[0], ne[1], ne[2]);
        if (type == GDS_TYPE_F32) {
            if (gds_tensor_alloc_at(t, m->wbuf, gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, ti)) != GDS_OK) return gds_error(GDS_ERR_INVALID, "%s: cannot bind '%s'", gds_gguf_path(f), name);
        } else {
            float *p = malloc(sizeof(float) * (size_t)n);
            if (!p) return gds_error(GDS_ERR_NOMEM, "out of memory converting '%s'", name);
            ds4_model_own(m, p);
            enum gds_status st = tensor_to_f32(f, ti, p, n);
            if (st != GDS_OK) return st;
            t->data = p;
        }
        break;
    case W_WOA: {
        /* bf16 weights (spec T17): F8_E4M3_B128 stays FP8 in the mapping (the
         * graph runs it with GDS_MM_ACT_BF16, exact bf16 weight values, half
         * the bytes of a BF16 copy); other types become BF16 (exact for BF16) */
        if (type == GDS_TYPE_F8_E4M3_B128) {
            if (ne[0] % 128 != 0)
                return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': %s needs a row length multiple of 128", gds_gguf_path(f), name, gds_type_name(type));
            t = gds_new_tensor_3d(m->wctx, type, ne[0], ne[1], ne[2]);
            if (gds_tensor_alloc_at(t, m->wbuf, gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, ti)) != GDS_OK) return gds_error(GDS_ERR_INVALID, "%s: cannot bind '%s'", gds_gguf_path(f), name);
            break;
        }
        t = gds_new_tensor_3d(m->wctx, GDS_TYPE_BF16, ne[0], ne[1], ne[2]);
        if (type == GDS_TYPE_BF16) {
            if (gds_tensor_alloc_at(t, m->wbuf, gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, ti)) != GDS_OK) return gds_error(GDS_ERR_INVALID, "%s: cannot bind '%s'", gds_gguf_path(f), name);
            break;
        }
        /* Q8_0 on the CPU: the mapped tensor too, for the one-token mat-vecs
         * (GDS_MM_ACT_BF16 reads bf16(q * d), the values of the copy below,
         * from 34 bytes a block instead of 64; the copy serves the tiles) */
        if (type == GDS_TYPE_Q8_0 && (!m->params.backend || !strcmp(m->params.backend, "cpu")) && woa_q8_on()) {
            struct gds_tensor *q = gds_new_tensor_3d(m->wctx, type, ne[0], ne[1], ne[2]);
            if (gds_tensor_alloc_at(q, m->wbuf, gds_gguf_data_offset(f) + gds_gguf_tensor_offset(f, ti)) != GDS_OK) return gds_error(GDS_ERR_INVALID, "%s: cannot bind '%s'", gds_gguf_path(f), name);
            gds_set_name(q, name);
            q->flags |= GDS_TENSOR_FLAG_PARAM;
            ((struct ds4_layer *)((char *)slot - d->off))->wo_a_q8 = q;
        }
        float *tmp = malloc(sizeof(float) * (size_t)ne[0]);
        gds_bf16_t *p = malloc(sizeof(gds_bf16_t) * (size_t)n);
        if (!tmp || !p) { free(tmp); free(p); return gds_error(GDS_ERR_NOMEM, "out of memory converting '%s'", name); }
        ds4_model_own(m, p);
        const struct gds_type_traits *tt = gds_type_traits(type);
        if (!tt || !tt->to_float) { free(tmp); return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': type %s cannot be converted", gds_gguf_path(f), name, gds_type_name(type)); }
        const size_t rs = gds_row_size(type, ne[0]);
        const char *src = gds_gguf_tensor_data(f, ti);
        for (int64_t r = 0; r < ne[1] * ne[2]; r++) {
            tt->to_float(src + (size_t)r * rs, tmp, ne[0]);
            for (int64_t i = 0; i < ne[0]; i++) p[r * ne[0] + i] = gds_fp32_to_bf16(tmp[i]);
        }
        free(tmp);
        t->data = p;
        break;
    }
    }
    gds_set_name(t, name);
    t->flags |= GDS_TENSOR_FLAG_PARAM;
    *slot = t;
    return GDS_OK;
}

static bool when_applies(enum ds4_when w, const struct ds4_layer *L) {
    switch (w) {
    case ON_ALL: return true;
    case ON_HASH: return L->hash;
    case ON_NOHASH: return !L->hash;
    case ON_COMP: return L->ratio != 0;
    case ON_CSA: return L->ratio == 4;
    case ON_MTP: return L->is_mtp;
    }
    return false;
}

static enum gds_status bind_all(struct gds_model *m) {
    const struct gds_ds4_hparams *hp = &m->hp;
    const int64_t nt = gds_gguf_n_tensors(m->gguf);
    bool *used = calloc((size_t)nt + 1, 1);
    enum gds_status st = GDS_OK;
    for (size_t i = 0; i < sizeof(ds4_global_table) / sizeof(ds4_global_table[0]) && st == GDS_OK; i++) {
        const struct ds4_wdesc *d = &ds4_global_table[i];
        st = bind_weight(m, d->name, d, 0, (struct gds_tensor **)((char *)m + d->off), used);
    }
    for (int il = 0; il < hp->n_layer + hp->n_mtp && st == GDS_OK; il++) {
        struct ds4_layer *L = &m->layers[il];
        for (size_t i = 0; i < sizeof(ds4_layer_table) / sizeof(ds4_layer_table[0]) && st == GDS_OK; i++) {
            const struct ds4_wdesc *d = &ds4_layer_table[i];
            if (!when_applies(d->when, L)) continue;
            char name[GDS_MAX_NAME];
            snprintf(name, sizeof(name), d->name, il);
            st = bind_weight(m, name, d, L->ratio, (struct gds_tensor **)((char *)L + d->off), used);
        }
    }
    if (st == GDS_OK) {
        int n_extra = 0;
        for (int64_t i = 0; i < nt; i++)
            if (!used[i] && n_extra++ < 4)
                gds_log(GDS_LOG_WARN, "%s: tensor '%s' is not used by the model", gds_gguf_path(m->gguf), gds_gguf_tensor_name(m->gguf, i));
        if (n_extra > 4) gds_log(GDS_LOG_WARN, "%s: %d unused tensors in all", gds_gguf_path(m->gguf), n_extra);
    }
    free(used);
    return st;
}

/* ===========================================================================
 * load / free
 * ========================================================================= */

/* routed-expert weights that params.cpu_moe / n_cpu_moe keep on the host */
static bool stays_on_cpu(const struct gds_model *m, const struct gds_tensor *t) {
    if (!strstr(t->name, "_exps.")) return false;
    if (m->params.cpu_moe) return true;
    int il = -1;
    return sscanf(t->name, "blk.%d.", &il) == 1 && il >= 0 && il < m->params.n_cpu_moe;
}

/* params.backend: every weight the graphs read goes to one buffer of that
 * backend (uploaded from the mapping or the converted copies); the hash
 * layers' tid2eid tables stay on the host (the graph builder reads them), and
 * so do the routed experts under cpu_moe / n_cpu_moe (then the graphs run
 * through a scheduler that sends their products to the CPU). */
static enum gds_status upload_weights(struct gds_model *m) {
    m->gpu = gds_backend_init(m->params.backend, m->params.device);
    if (!m->gpu) return gds_error(GDS_ERR_INVALID, "backend '%s': %s", m->params.backend, gds_last_error());
    if (gds_backend_is_cpu(m->gpu)) { gds_backend_free(m->gpu); m->gpu = NULL; return GDS_OK; }
    const size_t align = gds_backend_alignment(m->gpu) ? gds_backend_alignment(m->gpu) : 256;
    size_t total = 0;
    for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t))
        if (t->data && !t->view_src && !strstr(t->name, "tid2eid") && !stays_on_cpu(m, t)) total += GDS_PAD(gds_nbytes(t), align);
    m->gbuf = gds_backend_buffer_alloc(m->gpu, total);
    if (!m->gbuf) return gds_error(GDS_ERR_NOMEM, "backend '%s': cannot allocate %.2f GiB for the weights: %s", m->params.backend,
                                   total / 1073741824.0, gds_last_error());
    size_t off = 0, kept = 0;
    for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t)) {
        if (!t->data || t->view_src || strstr(t->name, "tid2eid")) continue;
        if (stays_on_cpu(m, t)) { kept += gds_nbytes(t); continue; }
        const void *host = t->data;
        if (gds_tensor_alloc_at(t, m->gbuf, off) != GDS_OK || gds_backend_tensor_set(t, host, 0, gds_nbytes(t)) != GDS_OK)
            return gds_error(GDS_ERR_BACKEND, "backend '%s': uploading '%s': %s", m->params.backend, t->name, gds_last_error());
        off += GDS_PAD(gds_nbytes(t), align);
    }
    for (struct gds_tensor *t = gds_get_next_tensor(m->wctx, NULL); t; t = gds_get_next_tensor(m->wctx, t))
        if (t->view_src) gds_tensor_init_view(t);
    if (kept) {
        m->gsched = gds_sched_new(m->gpu);
        if (!m->gsched) return GDS_ERR_NOMEM;
        if (m->params.n_threads > 0) gds_backend_cpu_set_n_threads(gds_sched_cpu(m->gsched), m->params.n_threads);
    }
    if (m->params.verbose)
        gds_log(GDS_LOG_INFO, "%s: %.2f GiB of weights uploaded, %.2f GiB of routed experts used from the mapping by the CPU\n",
                m->params.backend, total / 1073741824.0, kept / 1073741824.0);
    return GDS_OK;
}

struct gds_model *gds_model_load(const char *path, const struct gds_model_params *params) {
    struct gds_model *m = calloc(1, sizeof(*m));
    if (!m) { gds_error(GDS_ERR_NOMEM, "out of memory"); return NULL; }
    if (params) m->params = *params;
    const bool on_cpu = !m->params.backend || !strcmp(m->params.backend, "cpu");
    if ((m->params.cpu_moe || m->params.n_cpu_moe) && on_cpu) {
        gds_error(GDS_ERR_INVALID, "cpu_moe / n_cpu_moe (--cpu-moe, --n-cpu-moe) keep routed experts on the CPU while the rest runs on another backend: "
                  "give one (--backend cuda)");
        free(m);
        return NULL;
    }
    if (m->params.n_cpu_moe < 0) {
        gds_error(GDS_ERR_INVALID, "n_cpu_moe %d: must be >= 0", m->params.n_cpu_moe);
        free(m);
        return NULL;
    }
    const char *dump = getenv("GDS_DUMP");
    m->dump = dump && dump[0] && strcmp(dump, "0") != 0;
    m->dump_filter = m->dump && strcmp(dump, "1") != 0 ? dump : NULL;

    m->gguf = gds_gguf_open(path);
    if (!m->gguf) goto fail;
    float clamp_exp[GDS_DS4_MAX_LAYERS + 1], clamp_shexp[GDS_DS4_MAX_LAYERS + 1];
    if (read_hparams(m->gguf, &m->hp, clamp_exp, clamp_shexp) != GDS_OK) goto fail;
    struct gds_ds4_hparams *hp = &m->hp;
    for (int il = 0; il < hp->n_layer + hp->n_mtp; il++) {
        struct ds4_layer *L = &m->layers[il];
        L->ratio = hp->compress_ratio[il];
        L->is_mtp = il >= hp->n_layer;
        L->hash = !L->is_mtp && il < hp->n_hash_layers;
        L->clamp_exp = clamp_exp[il];
        L->clamp_shexp = clamp_shexp[il];
    }

    m->cpu = gds_backend_init("cpu", 0);
    if (!m->cpu) goto fail;
    if (m->params.n_threads > 0) gds_backend_cpu_set_n_threads(m->cpu, m->params.n_threads);
    m->wbuf = gds_backend_buffer_from_host_ptr(m->cpu, (void *)gds_gguf_base(m->gguf), gds_gguf_size(m->gguf));
    if (!m->wbuf) goto fail;
    const size_t n_hdr = (size_t)gds_gguf_n_tensors(m->gguf) + 64 + (size_t)(hp->n_layer + hp->n_mtp); /* + wo_a_q8 */
    m->wctx = gds_init((struct gds_init_params){ .mem_size = n_hdr * gds_tensor_overhead(), .no_alloc = true });
    if (!m->wctx) goto fail;
    if (bind_all(m) != GDS_OK) goto fail;
    if (m->params.backend && strcmp(m->params.backend, "cpu") != 0 && upload_weights(m) != GDS_OK) goto fail;
    m->sched = gds_sched_new(m->cpu);
    if (!m->sched) goto fail;
    if (ds4_numa_load(m) != GDS_OK) goto fail; /* deepseek4-numa.c: NUMA plan, prefetch, mlock */
    if (m->params.verbose)
        gds_log(GDS_LOG_INFO, "%s: %d layers%s, D %d, heads %d x %d, experts %d/%d, window %d, vocab %d\n", path, hp->n_layer,
                hp->n_mtp ? " + MTP" : "", hp->n_embd, hp->n_head, hp->head_dim, hp->n_expert_used, hp->n_expert, hp->sliding_window,
                hp->n_vocab);
    return m;
fail:
    gds_model_free(m);
    return NULL;
}

void gds_model_free(struct gds_model *m) {
    if (!m) return;
    ds4_numa_free(m);
    if (m->gsched) gds_sched_free(m->gsched);
    if (m->ibuf) gds_buffer_free(m->ibuf);
    if (m->gbuf) gds_buffer_free(m->gbuf);
    free(m->xhost);
    if (m->sched) gds_sched_free(m->sched);
    if (m->cbuf) gds_buffer_free(m->cbuf);
    free(m->arena);
    free(m->side);
    free(m->seg);
    if (m->wctx) gds_free(m->wctx);
    if (m->wbuf) gds_buffer_free(m->wbuf);
    if (m->cpu) gds_backend_free(m->cpu);
    if (m->gpu) gds_backend_free(m->gpu);
    if (m->gguf) gds_gguf_close(m->gguf);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m);
}

const struct gds_ds4_hparams *gds_model_hparams(const struct gds_model *m) { return &m->hp; }

/* Spec 5.2/5.3 compact layout: main KV entry = (hd-rd) e4m3 + (hd-rd)/64 E8M0 +
 * rd bf16, padded to 8 bytes (584 B for V4); indexer key = ID/2 e2m1 + ID/32 E8M0
 * (68 B). Raw-window rings are context independent and not counted. */
double gds_model_kv_bytes_per_token(const struct gds_model *m) {
    const struct gds_ds4_hparams *hp = &m->hp;
    const int nd = hp->head_dim - hp->n_rot;
    const double kv_entry = (double)GDS_PAD(nd + nd / 64 + 2 * hp->n_rot, 8);
    const double idx_entry = hp->index_head_dim / 2 + hp->index_head_dim / 32;
    double b = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const int r = hp->compress_ratio[il];
        if (r) b += kv_entry / r;
        if (r == 4) b += idx_entry / r;
    }
    return b;
}
