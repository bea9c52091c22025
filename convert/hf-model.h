/*
 * hf-model.h - the DeepSeek-V4 side of the converter: config.json, the
 * official -> GGUF name map, and the per-tensor conversion plan.
 *
 *     struct hf_config c;
 *     hf_config_load(&c, "DIR/config.json");     // parses + validates (errors name the field)
 *     struct cv_plan p;
 *     cv_plan_build(&p, &c, &set, &opts);        // every output tensor, its type, ne, sources
 *
 * The plan is the single description of an output file: the writer adds the
 * tensor infos in plan order, then streams each tensor's data in the same
 * order (gds-convert.c). Sources are safetensors tensors (validated here:
 * dtype and shape against the config, FP8 scale shapes, expert stacks) or,
 * for --synthetic, a seeded generator. Shapes in the plan are ggml order
 * (ne0 contiguous = the PyTorch shape reversed); experts are stacked as ne2.
 */
#ifndef GDS_CONVERT_HF_MODEL_H
#define GDS_CONVERT_HF_MODEL_H

#include "gds.h"
#include "safetensors.h"

#include <stdbool.h>

#define HF_MAX_LAYERS 1024

struct hf_config {
    int n_layer;            /* num_hidden_layers */
    int n_mtp;              /* num_nextn_predict_layers (0 or 1) */
    int hidden;             /* hidden_size D */
    int n_head;             /* num_attention_heads H */
    int n_head_kv;          /* num_key_value_heads (1) */
    int head_dim;           /* head_dim hd */
    int rope_dim;           /* qk_rope_head_dim */
    int q_lora;             /* q_lora_rank */
    int o_lora;             /* o_lora_rank */
    int o_groups;           /* o_groups */
    int window;             /* sliding_window */
    int ratios[HF_MAX_LAYERS + 1];
    int n_ratios;           /* = n_layer + n_mtp */
    float compress_rope_theta, rope_theta;
    bool has_yarn;
    float yarn_factor, yarn_beta_fast, yarn_beta_slow;
    int yarn_orig_ctx;
    int64_t max_pos;        /* max_position_embeddings */
    int idx_heads, idx_dim, idx_topk;
    int n_expert, n_expert_shared, n_expert_used, moe_inter, n_hash;
    float route_scale, swiglu_limit;
    bool norm_topk;
    int hc_mult, hc_iters;
    float hc_eps, rms_eps;
    int vocab;
    int bos_id, eos_id;
    char name[128];         /* for general.name */
};

/* Parses config.json text; label names the file in errors. Validates every
 * field the converter and the runtime rely on (range, divisibility, the
 * DeepSeek-V4 invariants); each error names the field and the allowed range. */
enum gds_status hf_config_parse(struct hf_config *c, const char *json, size_t len, const char *label);
enum gds_status hf_config_load(struct hf_config *c, const char *path);
enum gds_status hf_config_validate(const struct hf_config *c, const char *label);

/* --- conversion plan ------------------------------------------------------ */

enum cv_src {
    CV_SRC_PLAIN,        /* BF16/F32/F16 tensor, converted per element (exact when widening) */
    CV_SRC_FP8,          /* F8_E4M3 weight + F8_E8M0 128x128 scale */
    CV_SRC_FP8_CAT,      /* two FP8 weights concatenated along ne0 (MTP eh_proj = e_proj | h_proj) */
    CV_SRC_FP4_EXPERTS,  /* n_exp x (I8 packed e2m1 + F8_E8M0 per-32 scale), stacked as ne2 */
    CV_SRC_TID2EID,      /* I64 (or I32) expert ids -> I32, range-checked */
    CV_SRC_SYNTH,        /* seeded random values (--synthetic) */
};

enum cv_synth {
    CV_SYN_GAUSS,        /* N(0, std^2)-like values */
    CV_SYN_ONES,
    CV_SYN_ZEROS,
    CV_SYN_IDS,          /* expert ids: distinct per row, < n_expert */
};

struct cv_tensor {
    char name[GDS_MAX_NAME];
    enum gds_type type;
    int n_dims;
    int64_t ne[4];
    int file;                          /* 0 main file, 1 MTP sidecar (--compat llama.cpp) */
    enum cv_src src;
    const struct st_tensor *w[2], *s[2];
    const struct st_tensor **ew, **es; /* experts: n_exp weights and scales */
    int n_exp;
    enum cv_synth syn;
    float std;
    uint64_t seed;
    int64_t id_range;                  /* TID2EID / IDS: values must be < id_range */
    size_t nbytes;
};

struct cv_plan {
    struct cv_tensor *t;
    int n, cap;
    int n_layer_out;      /* trunk layers written (after --max-layers) */
    bool mtp;             /* MTP block written */
};

struct cv_options {
    enum gds_type dense;      /* type of FP8 dense weights */
    enum gds_type experts;    /* type of routed experts */
    int max_layers;           /* 0: all */
    bool compat;              /* --compat llama.cpp: MTP in a sidecar, only llama.cpp types */
    bool no_mtp;
    bool synthetic;
    uint64_t seed;
};

/* Builds the plan. set == NULL with opts->synthetic: synthetic sources. */
enum gds_status cv_plan_build(struct cv_plan *p, const struct hf_config *c, const struct st_set *set,
                              const struct cv_options *opts);
void cv_plan_free(struct cv_plan *p);

#endif /* GDS_CONVERT_HF_MODEL_H */
