/*
 * deepseek4-impl.h - internals of the DeepSeek-V4 model shared by
 * deepseek4-load.c (hparams, weight table, load/free) and deepseek4.c
 * (per-sequence state, graph, eval). Not a public header.
 *
 * Invariants:
 * - Weights are bound in place to the mmap'd GGUF (one host buffer over the
 *   whole mapping); only small vectors that must be F32 and a non-F8,
 *   non-BF16 wo_a (run as bf16, spec T17; F8 wo_a stays mapped and runs with
 *   GDS_MM_ACT_BF16) are converted, into malloc'd memory owned by the model.
 * - Per-sequence state lives in host tensors of one context (data in its
 *   arena); graphs write into it in place (SET_ROWS) and the host moves rows
 *   between graphs (window ring, compressor buffers), see deepseek4.c.
 */
#ifndef GDS_DEEPSEEK4_IMPL_H
#define GDS_DEEPSEEK4_IMPL_H

#include "deepseek4.h"
#include "gds-backend.h"
#include "gds-gguf.h"

/* one transformer block (also the MTP block at index n_layer) */
struct ds4_layer {
    int ratio;          /* compress ratio: 0 SWA, 4 CSA, 128 HCA */
    bool hash;          /* routes by tid2eid */
    bool is_mtp;
    float clamp_exp, clamp_shexp;

    /* attention */
    struct gds_tensor *attn_norm;     /* [D] F32 */
    struct gds_tensor *attn_sinks;    /* [H] F32 */
    struct gds_tensor *q_a;           /* [D, QL] */
    struct gds_tensor *q_a_norm;      /* [QL] F32 */
    struct gds_tensor *q_b;           /* [QL, H*hd] */
    struct gds_tensor *kv;            /* [D, hd] */
    struct gds_tensor *kv_norm;       /* [hd] F32 */
    struct gds_tensor *wo_a;          /* [H*hd/G, G*OL] F8_E4M3_B128 (mapped, run as bf16) or BF16 (converted at load) */
    struct gds_tensor *wo_a_q8;       /* a Q8_0 file's wo_a as mapped (CPU only; NULL otherwise): one-token graphs
                                       * run it with GDS_MM_ACT_BF16, the BF16 copy's bits from half its bytes */
    struct gds_tensor *wo_b;          /* [G*OL, D] */
    struct gds_tensor *hc_attn_fn, *hc_attn_base, *hc_attn_scale; /* [HC*D, mix] [mix] [3] F32 */
    struct gds_tensor *hc_ffn_fn, *hc_ffn_base, *hc_ffn_scale;
    /* compressor (ratio != 0) */
    struct gds_tensor *comp_kv, *comp_gate; /* [D, c*hd] */
    struct gds_tensor *comp_ape;            /* [c*hd, ratio] F32 */
    struct gds_tensor *comp_norm;           /* [hd] F32 */
    /* indexer (ratio == 4) */
    struct gds_tensor *idx_q_b;             /* [QL, IH*ID] */
    struct gds_tensor *idx_proj;            /* [D, IH] */
    struct gds_tensor *icomp_kv, *icomp_gate; /* [D, 2*ID] */
    struct gds_tensor *icomp_ape;           /* [2*ID, ratio] F32 */
    struct gds_tensor *icomp_norm;          /* [ID] F32 */
    /* MoE */
    struct gds_tensor *ffn_norm;      /* [D] F32 */
    struct gds_tensor *gate_inp;      /* [D, E] */
    struct gds_tensor *tid2eid;       /* [K, V] I32 (hash layers) */
    struct gds_tensor *probs_b;       /* [E] F32 (other layers) */
    struct gds_tensor *gate_exps, *up_exps; /* [D, F, E] */
    struct gds_tensor *down_exps;     /* [F, D, E] */
    struct gds_tensor *gate_sh, *up_sh; /* [D, F] */
    struct gds_tensor *down_sh;       /* [F, D] */
    /* MTP only */
    struct gds_tensor *eh_proj;       /* [2D, D] */
    struct gds_tensor *enorm, *hnorm, *mtp_norm; /* [D] F32 */
    struct gds_tensor *mtp_hc_fn, *mtp_hc_base, *mtp_hc_scale; /* [HC*D, HC] [HC] [1] */
};

struct gds_model {
    struct gds_ds4_hparams hp;
    struct gds_model_params params;
    struct gds_gguf *gguf;
    struct gds_backend *cpu;
    struct gds_backend *gpu;    /* params.backend other than the CPU: weights, state and graphs there (NULL: all on the CPU) */
    struct gds_buffer *gbuf;    /* the weights on gpu */
    int last_splits;            /* gds_model_last_splits */
    struct gds_sched *gsched;   /* hybrid (cpu_moe / n_cpu_moe): graphs split between gpu and the CPU by gds_sched */
    struct gds_buffer *ibuf;    /* gpu: device copy of the graph arena (the graph inputs), grown on demand */
    float *xhost;               /* gpu: host copy of a graph's output streams for the non-finite check */
    size_t xhost_n;
    struct gds_sched *sched;
    struct gds_context *wctx;   /* weight tensor headers */
    struct gds_buffer *wbuf;    /* wraps the whole mapping */
    struct gds_buffer *cbuf;    /* graph intermediates */
    void *arena;                /* graph headers and inputs, reused by every evaluation (grown on demand) */
    size_t arena_size;
    struct gds_tensor **side;   /* a graph's state writes that nothing reads (grown on demand) */
    int cap_side;
    struct ds4_seg *seg;        /* gds_model_eval_batch's parts (deepseek4.c; grown on demand) */
    int cap_seg;
    void **owned;               /* malloc'd converted weights */
    int n_owned, cap_owned;
    uint64_t fp;                /* gds_model_fingerprint, computed on first use */
    bool fp_set;
    struct gds_numa_topo *numa_topo; /* deepseek4-numa.c (issue 12): topology and plan, NULL without */
    struct gds_numa_plan *numa;
    bool dump;                  /* GDS_DUMP set: per-node stats after each graph */
    const char *dump_filter;    /* GDS_DUMP=<text> other than 1: only names containing it */

    struct gds_tensor *tok_embd;      /* [D, V] */
    struct gds_tensor *out_norm;      /* [D] F32 */
    struct gds_tensor *output;        /* [D, V] */
    struct gds_tensor *out_hc_fn, *out_hc_base, *out_hc_scale; /* [HC*D, HC] [HC] [1] */
    struct ds4_layer layers[GDS_DS4_MAX_LAYERS + 1];
};

/* deepseek4-numa.c: NUMA plan, page placement, prefetch, mlock (after the weights are bound) */
enum gds_status ds4_numa_load(struct gds_model *m);
void ds4_numa_free(struct gds_model *m);

/* deepseek4-load.c: remember a malloc'd block to free with the model */
void ds4_model_own(struct gds_model *m, void *p);

#endif /* GDS_DEEPSEEK4_IMPL_H */
