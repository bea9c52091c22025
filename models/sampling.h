/*
 * sampling.h - token sampling and the generation loop for DeepSeek-V4.
 *
 *     struct gds_sampler *sm = gds_sampler_new(&(struct gds_sampler_params){
 *         .temp = 1.0f, .top_p = 1.0f, .seed = 42 }, n_vocab);
 *     int32_t id = gds_sampler_sample(sm, logits);
 *     gds_sampler_free(sm);
 *
 * Order: temperature <= 0 -> greedy (argmax, lowest id on ties); otherwise
 * logits / temperature, top-k (0: off), softmax, top-p (1: off), min-p (0:
 * off; keeps p >= min_p * p_max), renormalize, draw with a seeded
 * xoshiro256** generator. Defaults recommended by DeepSeek: temperature 1.0,
 * top-p 1.0 (gds_sampler_default_params). Deterministic for a given seed.
 */
#ifndef GDS_SAMPLING_H
#define GDS_SAMPLING_H

#include "deepseek4.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gds_sampler_params {
    float temp;      /* <= 0: greedy */
    float top_p;     /* (0, 1]; 1 = off */
    int top_k;       /* 0 = off */
    float min_p;     /* [0, 1); 0 = off */
    uint64_t seed;
};

struct gds_sampler_params gds_sampler_default_params(void); /* temp 1, top_p 1, seed 0 */

struct gds_sampler;
struct gds_sampler *gds_sampler_new(const struct gds_sampler_params *p, int n_vocab);
void gds_sampler_free(struct gds_sampler *s);
int32_t gds_sampler_sample(struct gds_sampler *s, const float *logits);

/* Generation: evaluates prompt[0..n_prompt) (prefill, or decode when
 * decode_prompt), then samples up to n_predict tokens, feeding each back
 * through the decode path. on_token(id, user) is called per sampled token; it
 * returns false to stop. Stops after eos_id unless eos_id < 0. Returns the
 * number of tokens generated, or a negative gds_status. */
typedef bool (*gds_token_cb)(int32_t id, void *user);
int gds_generate(struct gds_model *m, struct gds_seq *seq, const int32_t *prompt, int n_prompt, bool decode_prompt, int n_predict,
                 struct gds_sampler *smp, int32_t eos_id, gds_token_cb on_token, void *user);

#ifdef __cplusplus
}
#endif
#endif /* GDS_SAMPLING_H */
