/*
 * hf-model.c - config.json parsing and validation, the official -> GGUF name
 * map, and the conversion plan (see hf-model.h).
 *
 * The name map is one table (hf_map) of per-layer entries plus the globals:
 * official suffix, GGUF suffix, kind (FP8 pair, norm, F32, BF16 matrix,
 * tid2eid, routed experts, eh_proj), the layer condition (all, hash layers,
 * compressed layers, CSA layers, MTP only) and the official (PyTorch) shape
 * as symbolic dimensions resolved from the config. The same table drives the
 * checkpoint validation, the plan, the synthetic generator and the dry run,
 * so names and shapes cannot drift apart. Every checkpoint tensor must be
 * consumed by the map (layers beyond --max-layers and a skipped MTP block
 * excepted): anything else is an error naming the tensor.
 */
#include "hf-model.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- config.json --------------------------------------------------------- */

static enum gds_status cfg_int(const cJSON *root, const char *label, const char *key, bool required, int64_t def,
                               int64_t lo, int64_t hi, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return gds_error(GDS_ERR_FORMAT, "%s: required field '%s' is missing", label, key);
        *out = def;
        return GDS_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9e15)
        return gds_error(GDS_ERR_FORMAT, "%s: field '%s' must be an integer", label, key);
    int64_t x = (int64_t)v->valuedouble;
    if (x < lo || x > hi)
        return gds_error(GDS_ERR_FORMAT, "%s: field '%s' = %lld is out of range (%lld..%lld)", label, key,
                         (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return GDS_OK;
}

static enum gds_status cfg_float(const cJSON *root, const char *label, const char *key, bool required, double def,
                                 double lo, double hi, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return gds_error(GDS_ERR_FORMAT, "%s: required field '%s' is missing", label, key);
        *out = (float)def;
        return GDS_OK;
    }
    if (!cJSON_IsNumber(v)) return gds_error(GDS_ERR_FORMAT, "%s: field '%s' must be a number", label, key);
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return gds_error(GDS_ERR_FORMAT, "%s: field '%s' = %g is out of range (%g..%g)", label, key, v->valuedouble, lo, hi);
    *out = (float)v->valuedouble;
    return GDS_OK;
}

#define CI(key, req, def, lo, hi, dst) do { int64_t v_; if ((st = cfg_int(root, label, key, req, def, lo, hi, &v_)) != GDS_OK) goto done; dst = (int)v_; } while (0)
#define CF(key, req, def, lo, hi, dst) do { if ((st = cfg_float(root, label, key, req, def, lo, hi, &(dst))) != GDS_OK) goto done; } while (0)

enum gds_status hf_config_parse(struct hf_config *c, const char *json, size_t len, const char *label) {
    memset(c, 0, sizeof(*c));
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *root = doc;
    if (!doc) {
        const char *ep = cJSON_GetErrorPtr();
        size_t at = (ep && ep >= json && ep <= json + len) ? (size_t)(ep - json) : 0;
        return gds_error(GDS_ERR_FORMAT, "%s: invalid JSON near byte %zu", label, at);
    }
    enum gds_status st = GDS_OK;
    if (!cJSON_IsObject(root)) { st = gds_error(GDS_ERR_FORMAT, "%s: not a JSON object", label); goto done; }

    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "deepseek_v4") != 0) {
        st = gds_error(GDS_ERR_FORMAT, "%s: field 'model_type' = \"%s\", expected \"deepseek_v4\"", label, mt->valuestring);
        goto done;
    }
    CI("num_hidden_layers", true, 0, 1, HF_MAX_LAYERS, c->n_layer);
    CI("num_nextn_predict_layers", false, 0, 0, 1, c->n_mtp);
    CI("hidden_size", true, 0, 128, 65536, c->hidden);
    CI("num_attention_heads", true, 0, 1, 1024, c->n_head);
    CI("num_key_value_heads", false, 1, 1, 1, c->n_head_kv);
    CI("head_dim", true, 0, 64, 4096, c->head_dim);
    CI("qk_rope_head_dim", true, 0, 2, 4096, c->rope_dim);
    CI("q_lora_rank", true, 0, 128, 65536, c->q_lora);
    CI("o_lora_rank", true, 0, 128, 65536, c->o_lora);
    CI("o_groups", true, 0, 1, 1024, c->o_groups);
    CI("sliding_window", true, 0, 1, 1 << 24, c->window);
    CF("compress_rope_theta", true, 0, 1.0, 1e12, c->compress_rope_theta);
    CF("rope_theta", false, 10000.0, 1.0, 1e12, c->rope_theta);
    {
        int64_t v;
        if ((st = cfg_int(root, label, "max_position_embeddings", true, 0, 1, (int64_t)1 << 40, &v)) != GDS_OK) goto done;
        c->max_pos = v;
    }
    CI("index_n_heads", true, 0, 1, 4096, c->idx_heads);
    CI("index_head_dim", true, 0, 2, 4096, c->idx_dim);
    CI("index_topk", true, 0, 1, 1 << 24, c->idx_topk);
    CI("n_routed_experts", true, 0, 1, 65536, c->n_expert);
    CI("n_shared_experts", true, 0, 1, 1, c->n_expert_shared);
    CI("num_experts_per_tok", true, 0, 1, c->n_expert, c->n_expert_used);
    CI("moe_intermediate_size", true, 0, 128, 1 << 20, c->moe_inter);
    CI("num_hash_layers", false, 0, 0, c->n_layer, c->n_hash);
    CF("routed_scaling_factor", true, 0, 0.0, 1e6, c->route_scale);
    CF("swiglu_limit", true, 0, 0.0, 1e6, c->swiglu_limit);
    CI("hc_mult", true, 0, 1, 64, c->hc_mult);
    CI("hc_sinkhorn_iters", true, 0, 1, 1000, c->hc_iters);
    CF("hc_eps", true, 0, 1e-30, 1.0, c->hc_eps);
    CF("rms_norm_eps", true, 0, 1e-30, 1.0, c->rms_eps);
    CI("vocab_size", true, 0, 1, 1 << 24, c->vocab);
    CI("bos_token_id", false, 0, 0, c->vocab - 1, c->bos_id);
    CI("eos_token_id", false, 1, 0, c->vocab - 1, c->eos_id);
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "norm_topk_prob");
        if (v && !cJSON_IsBool(v)) { st = gds_error(GDS_ERR_FORMAT, "%s: field 'norm_topk_prob' must be true or false", label); goto done; }
        c->norm_topk = v ? cJSON_IsTrue(v) : true;
        v = cJSON_GetObjectItemCaseSensitive(root, "scoring_func");
        if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "sqrtsoftplus") != 0)) {
            st = gds_error(GDS_ERR_FORMAT, "%s: field 'scoring_func' must be \"sqrtsoftplus\" (the only DeepSeek-V4 gating function)", label);
            goto done;
        }
        v = cJSON_GetObjectItemCaseSensitive(root, "expert_dtype");
        if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, "fp4") != 0)) {
            st = gds_error(GDS_ERR_UNSUPPORTED, "%s: field 'expert_dtype' = %s: only \"fp4\" expert checkpoints are supported (FP8-expert base checkpoints are not)",
                           label, cJSON_IsString(v) ? v->valuestring : "(not a string)");
            goto done;
        }
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
        if (q) {
            const cJSON *bs = cJSON_GetObjectItemCaseSensitive(q, "weight_block_size");
            if (bs && (!cJSON_IsArray(bs) || cJSON_GetArraySize(bs) != 2 || !cJSON_IsNumber(bs->child) || !cJSON_IsNumber(bs->child->next) ||
                       bs->child->valuedouble != 128 || bs->child->next->valuedouble != 128)) {
                st = gds_error(GDS_ERR_UNSUPPORTED, "%s: field 'quantization_config.weight_block_size' must be [128, 128]", label);
                goto done;
            }
            const cJSON *sf = cJSON_GetObjectItemCaseSensitive(q, "scale_fmt");
            if (sf && (!cJSON_IsString(sf) || strcmp(sf->valuestring, "ue8m0") != 0)) {
                st = gds_error(GDS_ERR_UNSUPPORTED, "%s: field 'quantization_config.scale_fmt' must be \"ue8m0\"", label);
                goto done;
            }
        }
        const cJSON *cr = cJSON_GetObjectItemCaseSensitive(root, "compress_ratios");
        if (!cJSON_IsArray(cr)) { st = gds_error(GDS_ERR_FORMAT, "%s: required field 'compress_ratios' (array) is missing", label); goto done; }
        int n = cJSON_GetArraySize(cr);
        if (n != c->n_layer + c->n_mtp) {
            st = gds_error(GDS_ERR_FORMAT, "%s: field 'compress_ratios' has %d entries, expected num_hidden_layers + num_nextn_predict_layers = %d",
                           label, n, c->n_layer + c->n_mtp);
            goto done;
        }
        int i = 0;
        for (const cJSON *e = cr->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || (e->valuedouble != 0 && e->valuedouble != 4 && e->valuedouble != 128)) {
                st = gds_error(GDS_ERR_FORMAT, "%s: field 'compress_ratios[%d]' must be 0, 4 or 128", label, i);
                goto done;
            }
            c->ratios[i] = (int)e->valuedouble;
        }
        c->n_ratios = n;
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
        if (rs && !cJSON_IsNull(rs)) {
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rs, "type");
            if (!ty) ty = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
            if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "yarn") != 0) {
                st = gds_error(GDS_ERR_UNSUPPORTED, "%s: field 'rope_scaling.type' must be \"yarn\"", label);
                goto done;
            }
            /* the rope_scaling fields, named "rope_scaling.X" in errors */
            char lab[512];
            snprintf(lab, sizeof(lab), "%s", label);
            const char *sv = label;
            snprintf(lab, sizeof(lab), "%s: rope_scaling", sv);
            label = lab;
            root = rs;
            CF("factor", true, 0, 1.0, 1e6, c->yarn_factor);
            CF("beta_fast", false, 32.0, 0.0, 1e6, c->yarn_beta_fast);
            CF("beta_slow", false, 1.0, 0.0, 1e6, c->yarn_beta_slow);
            CI("original_max_position_embeddings", true, 0, 1, 1 << 30, c->yarn_orig_ctx);
            label = sv;
            root = doc;
            c->has_yarn = true;
        }
    }
done:
    cJSON_Delete(doc);
    return st == GDS_OK ? hf_config_validate(c, label) : st;
}
#undef CI
#undef CF

static bool is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

enum gds_status hf_config_validate(const struct hf_config *c, const char *label) {
    if (c->hidden % 128)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'hidden_size' = %d must be a multiple of 128 (FP8 block size)", label, c->hidden);
    if (c->head_dim % 64 || c->rope_dim >= c->head_dim || c->rope_dim % 2)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'head_dim' = %d / 'qk_rope_head_dim' = %d: head_dim must be a multiple of 64 and larger than the (even) rope dims",
                         label, c->head_dim, c->rope_dim);
    if (c->q_lora % 128)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'q_lora_rank' = %d must be a multiple of 128", label, c->q_lora);
    if (c->o_lora % 128)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'o_lora_rank' = %d must be a multiple of 128", label, c->o_lora);
    if (c->n_head % c->o_groups || ((int64_t)c->n_head * c->head_dim / c->o_groups) % 128)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'o_groups' = %d must divide num_attention_heads = %d into groups of a multiple of 128 columns",
                         label, c->o_groups, c->n_head);
    if (c->moe_inter % 128)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'moe_intermediate_size' = %d must be a multiple of 128", label, c->moe_inter);
    if (!is_pow2(c->idx_dim) || (c->idx_heads * c->idx_dim) % 128)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'index_head_dim' = %d must be a power of two with index_n_heads * index_head_dim a multiple of 128",
                         label, c->idx_dim);
    if (c->n_mtp && c->ratios[c->n_layer] != 0)
        return gds_error(GDS_ERR_FORMAT, "%s: field 'compress_ratios[%d]' (the MTP block) must be 0", label, c->n_layer);
    if ((int64_t)c->hc_mult * c->hidden > (1 << 22))
        return gds_error(GDS_ERR_FORMAT, "%s: field 'hc_mult' = %d too large for hidden_size %d", label, c->hc_mult, c->hidden);
    return GDS_OK;
}

enum gds_status hf_config_load(struct hf_config *c, const char *path) {
    size_t len;
    bool missing;
    char *txt = st_read_file(path, &len, &missing);
    if (!txt) return gds_error(GDS_ERR_IO, "%s: cannot read: %s", path, missing ? "no such file" : strerror(errno));
    enum gds_status st = hf_config_parse(c, txt, len, path);
    free(txt);
    return st;
}

/* ---- name map ------------------------------------------------------------ */

enum mk { MK_FP8, MK_NORM, MK_F32, MK_BF16, MK_TID, MK_EXP, MK_FP8CAT };
enum mc { MC_ALL, MC_HASH, MC_NOHASH, MC_COMP, MC_CSA, MC_MTP };
enum sd { SD_NONE, SD_1, SD_3, SD_D, SD_2D, SD_V, SD_H, SD_HD, SD_HHD, SD_QL, SD_GOL, SD_HHDG, SD_E, SD_K, SD_F,
          SD_FS, SD_HC, SD_HC24, SD_HCD, SD_CHD, SD_R, SD_IH, SD_IHID, SD_ID, SD_2ID };

struct hf_map {
    const char *hf, *gguf;
    enum mk kind;
    enum mc cond;
    enum sd d0, d1; /* official (PyTorch) shape */
};

static const struct hf_map map_global[] = {
    { "embed.weight",  "token_embd.weight",      MK_BF16, MC_ALL, SD_V,  SD_D },
    { "norm.weight",   "output_norm.weight",     MK_NORM, MC_ALL, SD_D,  SD_NONE },
    { "head.weight",   "output.weight",          MK_BF16, MC_ALL, SD_V,  SD_D },
    { "hc_head_fn",    "output_hc_fn.weight",    MK_F32,  MC_ALL, SD_HC, SD_HCD },
    { "hc_head_base",  "output_hc_base.weight",  MK_F32,  MC_ALL, SD_HC, SD_NONE },
    { "hc_head_scale", "output_hc_scale.weight", MK_F32,  MC_ALL, SD_1,  SD_NONE },
};

static const struct hf_map map_layer[] = {
    { "attn_norm.weight",        "attn_norm.weight",        MK_NORM, MC_ALL,    SD_D,    SD_NONE },
    { "attn.attn_sink",          "attn_sinks.weight",       MK_F32,  MC_ALL,    SD_H,    SD_NONE },
    { "attn.wq_a",               "attn_q_a.weight",         MK_FP8,  MC_ALL,    SD_QL,   SD_D },
    { "attn.q_norm.weight",      "attn_q_a_norm.weight",    MK_NORM, MC_ALL,    SD_QL,   SD_NONE },
    { "attn.wq_b",               "attn_q_b.weight",         MK_FP8,  MC_ALL,    SD_HHD,  SD_QL },
    { "attn.wkv",                "attn_kv.weight",          MK_FP8,  MC_ALL,    SD_HD,   SD_D },
    { "attn.kv_norm.weight",     "attn_kv_a_norm.weight",   MK_NORM, MC_ALL,    SD_HD,   SD_NONE },
    { "attn.wo_a",               "attn_output_a.weight",    MK_FP8,  MC_ALL,    SD_GOL,  SD_HHDG },
    { "attn.wo_b",               "attn_output_b.weight",    MK_FP8,  MC_ALL,    SD_D,    SD_GOL },
    { "hc_attn_fn",              "hc_attn_fn.weight",       MK_F32,  MC_ALL,    SD_HC24, SD_HCD },
    { "hc_attn_base",            "hc_attn_base.weight",     MK_F32,  MC_ALL,    SD_HC24, SD_NONE },
    { "hc_attn_scale",           "hc_attn_scale.weight",    MK_F32,  MC_ALL,    SD_3,    SD_NONE },
    { "hc_ffn_fn",               "hc_ffn_fn.weight",        MK_F32,  MC_ALL,    SD_HC24, SD_HCD },
    { "hc_ffn_base",             "hc_ffn_base.weight",      MK_F32,  MC_ALL,    SD_HC24, SD_NONE },
    { "hc_ffn_scale",            "hc_ffn_scale.weight",     MK_F32,  MC_ALL,    SD_3,    SD_NONE },
    { "ffn_norm.weight",         "ffn_norm.weight",         MK_NORM, MC_ALL,    SD_D,    SD_NONE },
    { "ffn.gate.weight",         "ffn_gate_inp.weight",     MK_BF16, MC_ALL,    SD_E,    SD_D },
    { "ffn.gate.tid2eid",        "ffn_gate_tid2eid.weight", MK_TID,  MC_HASH,   SD_V,    SD_K },
    { "ffn.gate.bias",           "exp_probs_b.bias",        MK_F32,  MC_NOHASH, SD_E,    SD_NONE },
    { "w1",                      "ffn_gate_exps.weight",    MK_EXP,  MC_ALL,    SD_F,    SD_D },
    { "w3",                      "ffn_up_exps.weight",      MK_EXP,  MC_ALL,    SD_F,    SD_D },
    { "w2",                      "ffn_down_exps.weight",    MK_EXP,  MC_ALL,    SD_D,    SD_F },
    { "ffn.shared_experts.w1",   "ffn_gate_shexp.weight",   MK_FP8,  MC_ALL,    SD_FS,   SD_D },
    { "ffn.shared_experts.w3",   "ffn_up_shexp.weight",     MK_FP8,  MC_ALL,    SD_FS,   SD_D },
    { "ffn.shared_experts.w2",   "ffn_down_shexp.weight",   MK_FP8,  MC_ALL,    SD_D,    SD_FS },
    { "attn.compressor.wkv.weight",   "attn_compressor_kv.weight",   MK_BF16, MC_COMP, SD_CHD, SD_D },
    { "attn.compressor.wgate.weight", "attn_compressor_gate.weight", MK_BF16, MC_COMP, SD_CHD, SD_D },
    { "attn.compressor.ape",          "attn_compressor_ape.weight",  MK_F32,  MC_COMP, SD_R,   SD_CHD },
    { "attn.compressor.norm.weight",  "attn_compressor_norm.weight", MK_NORM, MC_COMP, SD_HD,  SD_NONE },
    { "attn.indexer.wq_b",                   "indexer.attn_q_b.weight",        MK_FP8,  MC_CSA, SD_IHID, SD_QL },
    { "attn.indexer.weights_proj.weight",    "indexer.proj.weight",            MK_BF16, MC_CSA, SD_IH,   SD_D },
    { "attn.indexer.compressor.wkv.weight",  "indexer_compressor_kv.weight",   MK_BF16, MC_CSA, SD_2ID,  SD_D },
    { "attn.indexer.compressor.wgate.weight","indexer_compressor_gate.weight", MK_BF16, MC_CSA, SD_2ID,  SD_D },
    { "attn.indexer.compressor.ape",         "indexer_compressor_ape.weight",  MK_F32,  MC_CSA, SD_R,    SD_2ID },
    { "attn.indexer.compressor.norm.weight", "indexer_compressor_norm.weight", MK_NORM, MC_CSA, SD_ID,   SD_NONE },
    /* MTP block only */
    { "e_proj",        "nextn.eh_proj.weight",          MK_FP8CAT, MC_MTP, SD_D,  SD_2D },
    { "enorm.weight",  "nextn.enorm.weight",            MK_NORM,   MC_MTP, SD_D,  SD_NONE },
    { "hnorm.weight",  "nextn.hnorm.weight",            MK_NORM,   MC_MTP, SD_D,  SD_NONE },
    { "norm.weight",   "nextn.shared_head_norm.weight", MK_NORM,   MC_MTP, SD_D,  SD_NONE },
    /* the MTP head's own HC parameters: "output_hc_*" at the root of a llama.cpp
     * sidecar, "blk.L.nextn.output_hc_*" in the single ggml-ds file */
    { "hc_head_fn",    "nextn.output_hc_fn.weight",     MK_F32,    MC_MTP, SD_HC, SD_HCD },
    { "hc_head_base",  "nextn.output_hc_base.weight",   MK_F32,    MC_MTP, SD_HC, SD_NONE },
    { "hc_head_scale", "nextn.output_hc_scale.weight",  MK_F32,    MC_MTP, SD_1,  SD_NONE },
};

static int64_t sd_value(enum sd d, const struct hf_config *c, int ratio) {
    const int c2 = ratio == 4 ? 2 : 1;
    switch (d) {
    case SD_NONE: return 0;
    case SD_1: return 1;
    case SD_3: return 3;
    case SD_D: return c->hidden;
    case SD_2D: return 2 * (int64_t)c->hidden;
    case SD_V: return c->vocab;
    case SD_H: return c->n_head;
    case SD_HD: return c->head_dim;
    case SD_HHD: return (int64_t)c->n_head * c->head_dim;
    case SD_QL: return c->q_lora;
    case SD_GOL: return (int64_t)c->o_groups * c->o_lora;
    case SD_HHDG: return (int64_t)c->n_head * c->head_dim / c->o_groups;
    case SD_E: return c->n_expert;
    case SD_K: return c->n_expert_used;
    case SD_F: return c->moe_inter;
    case SD_FS: return (int64_t)c->moe_inter * c->n_expert_shared;
    case SD_HC: return c->hc_mult;
    case SD_HC24: return (int64_t)(2 + c->hc_mult) * c->hc_mult;
    case SD_HCD: return (int64_t)c->hc_mult * c->hidden;
    case SD_CHD: return (int64_t)c2 * c->head_dim;
    case SD_R: return ratio;
    case SD_IH: return c->idx_heads;
    case SD_IHID: return (int64_t)c->idx_heads * c->idx_dim;
    case SD_ID: return c->idx_dim;
    case SD_2ID: return 2 * (int64_t)c->idx_dim;
    }
    return 0;
}

static void fmt_shape(char *buf, size_t n, int nd, const int64_t *sh) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)sh[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Checks dtype (one of two allowed) and shape of a checkpoint tensor. */
static enum gds_status check_st(const struct st_set *set, const struct st_tensor *t, enum st_dtype dt, enum st_dtype dt2,
                                int nd, const int64_t *sh) {
    const char *file = st_tensor_file(set, t);
    if (t->dtype != dt && t->dtype != dt2) {
        if (dt2 != dt)
            return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s or %s", file, t->name,
                             st_dtype_name(t->dtype), st_dtype_name(dt), st_dtype_name(dt2));
        return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", file, t->name, st_dtype_name(t->dtype), st_dtype_name(dt));
    }
    bool ok = t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++) ok = t->shape[i] == sh[i];
    if (!ok) {
        char a[128], b[128];
        fmt_shape(a, sizeof(a), t->n_dims, t->shape);
        fmt_shape(b, sizeof(b), nd, sh);
        return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s for this config", file, t->name, a, b);
    }
    return GDS_OK;
}

struct pb { /* plan builder state */
    struct cv_plan *p;
    const struct hf_config *c;
    const struct st_set *set;
    const struct cv_options *o;
    uint8_t *used;
};

static uint64_t name_seed(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull ^ (seed * 0x9E3779B97F4A7C15ull);
    while (*name) { h ^= (uint8_t)*name++; h *= 1099511628211ull; }
    return h;
}

static const struct st_tensor *need(struct pb *b, const char *name, enum gds_status *st) {
    const struct st_tensor *t = st_set_find(b->set, name);
    if (!t) { *st = gds_error(GDS_ERR_FORMAT, "%s: missing tensor '%s' (required by config.json)", b->set->dir, name); return NULL; }
    b->used[t - b->set->tensors] = 1;
    return t;
}

static struct cv_tensor *plan_add(struct cv_plan *p) {
    if (p->n == p->cap) {
        int nc = p->cap ? 2 * p->cap : 256;
        struct cv_tensor *t = realloc(p->t, (size_t)nc * sizeof(*t));
        if (!t) return NULL;
        p->t = t;
        p->cap = nc;
    }
    struct cv_tensor *t = &p->t[p->n++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* One map entry for one block. hf_prefix "layers.3." / "mtp.0." / "";
 * gguf_prefix "blk.3." / "". */
static enum gds_status add_entry(struct pb *b, const struct hf_map *m, const char *hf_prefix, const char *gguf_prefix,
                                 const char *gguf_name_override, int ratio, int file) {
    const struct hf_config *c = b->c;
    enum gds_status st = GDS_OK;
    struct cv_tensor *t = plan_add(b->p);
    if (!t) return gds_error(GDS_ERR_NOMEM, "out of memory");
    snprintf(t->name, sizeof(t->name), "%s%s", gguf_prefix, gguf_name_override ? gguf_name_override : m->gguf);
    t->file = file;
    int64_t d0 = sd_value(m->d0, c, ratio), d1 = sd_value(m->d1, c, ratio);
    int nd = m->d1 == SD_NONE ? 1 : 2;
    int64_t sh[2] = { d0, d1 };
    t->n_dims = nd;
    t->ne[0] = nd == 1 ? d0 : d1;
    t->ne[1] = nd == 1 ? 1 : d0;
    t->ne[2] = t->ne[3] = 1;
    t->seed = name_seed(b->o->seed, t->name);
    t->std = 1.0f / sqrtf((float)t->ne[0]);
    char hn[256], hs[256];

    switch (m->kind) {
    case MK_NORM: t->type = GDS_TYPE_F32; t->src = CV_SRC_PLAIN; t->syn = CV_SYN_ONES; break;
    case MK_F32:  t->type = GDS_TYPE_F32; t->src = CV_SRC_PLAIN; break;
    case MK_BF16: t->type = GDS_TYPE_BF16; t->src = CV_SRC_PLAIN; break;
    case MK_TID:  t->type = GDS_TYPE_I32; t->src = CV_SRC_TID2EID; t->syn = CV_SYN_IDS; t->id_range = c->n_expert; break;
    case MK_FP8:  t->type = b->o->dense; t->src = CV_SRC_FP8; break;
    case MK_FP8CAT: t->type = b->o->dense; t->src = CV_SRC_FP8_CAT; break;
    case MK_EXP:
        t->type = b->o->experts; t->src = CV_SRC_FP4_EXPERTS; t->n_dims = 3; t->ne[2] = c->n_expert; t->n_exp = c->n_expert;
        break;
    }
    /* synthetic value shapes for the special small tensors */
    if (m->kind == MK_F32) {
        if (strstr(m->hf, "_base") || strstr(m->hf, "attn_sink") || strstr(m->hf, "gate.bias")) t->syn = CV_SYN_ZEROS;
        else if (strstr(m->hf, "_scale")) { t->syn = CV_SYN_GAUSS; t->std = 0.1f; }
        else if (strstr(m->hf, "ape")) { t->syn = CV_SYN_GAUSS; t->std = 0.02f; }
    }
    if (strcmp(m->hf, "embed.weight") == 0) t->std = 1.0f;

    const struct gds_type_traits *tt = gds_type_traits(t->type);
    if (t->ne[0] % tt->blck_size)
        return gds_error(GDS_ERR_INVALID, "%s: row length %lld is not a multiple of the %s block size %lld",
                         t->name, (long long)t->ne[0], tt->name, (long long)tt->blck_size);
    t->nbytes = gds_row_size(t->type, t->ne[0]) * (size_t)(t->ne[1] * t->ne[2] * t->ne[3]);

    if (!b->set) { t->src = CV_SRC_SYNTH; return GDS_OK; }

    switch (m->kind) {
    case MK_NORM: case MK_F32: case MK_BF16: case MK_TID: {
        snprintf(hn, sizeof(hn), "%s%s", hf_prefix, m->hf);
        const struct st_tensor *w = need(b, hn, &st);
        if (!w) return st;
        enum st_dtype a = m->kind == MK_NORM ? ST_BF16 : m->kind == MK_F32 ? ST_F32 : m->kind == MK_BF16 ? ST_BF16 : ST_I64;
        enum st_dtype a2 = m->kind == MK_NORM ? ST_F32 : m->kind == MK_TID ? ST_I32 : a;
        if ((st = check_st(b->set, w, a, a2, nd, sh)) != GDS_OK) return st;
        t->w[0] = w;
        break;
    }
    case MK_FP8: case MK_FP8CAT: {
        const int nsrc = m->kind == MK_FP8CAT ? 2 : 1;
        int64_t k1 = m->kind == MK_FP8CAT ? d1 / 2 : d1;
        for (int j = 0; j < nsrc; j++) {
            const char *base = j == 0 ? m->hf : "h_proj";
            snprintf(hn, sizeof(hn), "%s%s.weight", hf_prefix, base);
            snprintf(hs, sizeof(hs), "%s%s.scale", hf_prefix, base);
            const struct st_tensor *w = need(b, hn, &st);
            if (!w) return st;
            const struct st_tensor *s = need(b, hs, &st);
            if (!s) return st;
            int64_t wsh[2] = { d0, k1 }, ssh[2] = { (d0 + 127) / 128, (k1 + 127) / 128 };
            if ((st = check_st(b->set, w, ST_F8_E4M3, ST_F8_E4M3, 2, wsh)) != GDS_OK) return st;
            if (s->dtype == ST_F32)
                return gds_error(GDS_ERR_UNSUPPORTED, "%s: scale tensor '%s' is F32 (an FP8-expert base checkpoint); only E8M0 scales are supported",
                                 st_tensor_file(b->set, s), s->name);
            if ((st = check_st(b->set, s, ST_F8_E8M0, ST_F8_E8M0, 2, ssh)) != GDS_OK) return st;
            if (k1 % 128)
                return gds_error(GDS_ERR_FORMAT, "%s: tensor '%s': input width %lld is not a multiple of 128", st_tensor_file(b->set, w), w->name, (long long)k1);
            t->w[j] = w;
            t->s[j] = s;
        }
        break;
    }
    case MK_EXP: {
        t->ew = calloc((size_t)c->n_expert, sizeof(*t->ew));
        t->es = calloc((size_t)c->n_expert, sizeof(*t->es));
        if (!t->ew || !t->es) return gds_error(GDS_ERR_NOMEM, "out of memory");
        int64_t wsh[2] = { d0, d1 / 2 }, ssh[2] = { d0, d1 / 32 };
        if (d1 % 32) return gds_error(GDS_ERR_FORMAT, "%s: expert input width %lld is not a multiple of 32", t->name, (long long)d1);
        for (int e = 0; e < c->n_expert; e++) {
            snprintf(hn, sizeof(hn), "%sffn.experts.%d.%s.weight", hf_prefix, e, m->hf);
            snprintf(hs, sizeof(hs), "%sffn.experts.%d.%s.scale", hf_prefix, e, m->hf);
            const struct st_tensor *w = need(b, hn, &st);
            if (!w) return st;
            const struct st_tensor *s = need(b, hs, &st);
            if (!s) return st;
            if ((st = check_st(b->set, w, ST_I8, ST_U8, 2, wsh)) != GDS_OK) return st;
            if ((st = check_st(b->set, s, ST_F8_E8M0, ST_U8, 2, ssh)) != GDS_OK) return st;
            t->ew[e] = w;
            t->es[e] = s;
        }
        break;
    }
    }
    return GDS_OK;
}

static bool cond_ok(enum mc cond, int layer, bool mtp, int ratio, const struct hf_config *c) {
    switch (cond) {
    case MC_ALL: return true;
    case MC_HASH: return !mtp && layer < c->n_hash;
    case MC_NOHASH: return mtp || layer >= c->n_hash;
    case MC_COMP: return ratio != 0;
    case MC_CSA: return ratio == 4;
    case MC_MTP: return mtp;
    }
    return false;
}

static enum gds_status add_block(struct pb *b, int layer, bool mtp, int out_index, int file) {
    char hp[32], gp[32];
    if (mtp) snprintf(hp, sizeof(hp), "mtp.0."); else snprintf(hp, sizeof(hp), "layers.%d.", layer);
    snprintf(gp, sizeof(gp), "blk.%d.", out_index);
    const int ratio = b->c->ratios[mtp ? b->c->n_layer : layer];
    for (size_t i = 0; i < sizeof(map_layer) / sizeof(map_layer[0]); i++) {
        const struct hf_map *m = &map_layer[i];
        if (!cond_ok(m->cond, layer, mtp, ratio, b->c)) continue;
        const char *ovr = NULL;
        const char *pre = gp;
        /* llama.cpp's sidecar keeps the MTP head's HC parameters at the root */
        if (file == 1 && m->cond == MC_MTP && strncmp(m->hf, "hc_head_", 8) == 0) { ovr = m->gguf + 6; pre = ""; }
        enum gds_status st = add_entry(b, m, hp, pre, ovr, ratio, file);
        if (st != GDS_OK) return st;
    }
    return GDS_OK;
}

void cv_plan_free(struct cv_plan *p) {
    for (int i = 0; i < p->n; i++) { free(p->t[i].ew); free(p->t[i].es); }
    free(p->t);
    memset(p, 0, sizeof(*p));
}

enum gds_status cv_plan_build(struct cv_plan *p, const struct hf_config *c, const struct st_set *set,
                              const struct cv_options *o) {
    memset(p, 0, sizeof(*p));
    struct pb b = { p, c, set, o, NULL };
    if (set) {
        b.used = calloc((size_t)set->n_tensors + 1, 1);
        if (!b.used) return gds_error(GDS_ERR_NOMEM, "out of memory");
    }
    const int nl = o->max_layers > 0 && o->max_layers < c->n_layer ? o->max_layers : c->n_layer;
    const bool mtp = c->n_mtp > 0 && !o->no_mtp;
    p->n_layer_out = nl;
    p->mtp = mtp;
    enum gds_status st = GDS_OK;

    for (size_t i = 0; st == GDS_OK && i < sizeof(map_global) / sizeof(map_global[0]); i++)
        st = add_entry(&b, &map_global[i], "", "", NULL, 0, 0);
    for (int l = 0; st == GDS_OK && l < nl; l++) st = add_block(&b, l, false, l, 0);
    if (st == GDS_OK && mtp) {
        const int file = o->compat ? 1 : 0;
        if (o->compat) {
            /* sidecar: duplicates of embed, head and the final norm first (llama.cpp's layout) */
            for (size_t i = 0; st == GDS_OK && i < 3; i++) st = add_entry(&b, &map_global[i], "", "", NULL, 0, 1);
        }
        if (st == GDS_OK) st = add_block(&b, c->n_layer, true, nl, file);
    }
    /* every checkpoint tensor must have been consumed */
    for (int64_t i = 0; st == GDS_OK && set && i < set->n_tensors; i++) {
        if (b.used[i]) continue;
        const char *nm = set->tensors[i].name;
        int l;
        if (sscanf(nm, "layers.%d.", &l) == 1 && l >= nl && l < c->n_layer) continue;   /* --max-layers */
        if (strncmp(nm, "mtp.", 4) == 0 && c->n_mtp > 0 && !mtp) continue;              /* --no-mtp */
        st = gds_error(GDS_ERR_FORMAT, "%s: unexpected tensor '%s' (not part of a DeepSeek-V4 checkpoint with this config.json)",
                       set->shards[set->tensors[i].shard].path, nm);
    }
    free(b.used);
    if (st != GDS_OK) cv_plan_free(p);
    return st;
}
