/*
 * sampling.c - samplers (greedy, temperature, top-k, top-p, min-p) and the
 * generation loop; see sampling.h for the order of the filters.
 *
 * Invariants: no global state; the RNG is per sampler (xoshiro256**, seeded
 * through splitmix64), so a seed reproduces a run. Candidates are sorted by
 * logit descending with ties broken by lower id (cand_order; tests/test-sampling.c holds the qsort
 * comparator it replaces): an LSD radix
 * sort (3 stable passes of 11 bits over an order-preserving key of the float,
 * the input in id order) where qsort took ~20 ms a token for V4's 129,280 ids;
 * tests/test-sampling.c checks it against qsort with cand_cmp.
 */
#include "sampling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gds_cand { float logit; int32_t id; float p; };

struct gds_sampler {
    struct gds_sampler_params p;
    int n_vocab;
    uint64_t rng[4];
    struct gds_cand *cand, *tmp;
    uint64_t *kv;
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t *s) {
    const uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

struct gds_sampler_params gds_sampler_default_params(void) {
    return (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .top_k = 0, .min_p = 0.0f, .seed = 0 };
}

struct gds_sampler *gds_sampler_new(const struct gds_sampler_params *p, int n_vocab) {
    if (n_vocab < 1) { gds_error(GDS_ERR_INVALID, "sampler: n_vocab %d", n_vocab); return NULL; }
    if (p->top_p <= 0.0f || p->top_p > 1.0f || p->min_p < 0.0f || p->min_p >= 1.0f || p->top_k < 0 || !(p->temp == p->temp)) {
        gds_error(GDS_ERR_INVALID, "sampler: invalid parameters (top_p %g must be in (0, 1], min_p %g in [0, 1), top_k %d >= 0)",
                  p->top_p, p->min_p, p->top_k);
        return NULL;
    }
    struct gds_sampler *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = malloc(sizeof(struct gds_cand) * (size_t)n_vocab);
    s->tmp = malloc(sizeof(struct gds_cand) * (size_t)n_vocab);
    s->kv = malloc(sizeof(uint64_t) * 2 * (size_t)n_vocab);
    if (!s->cand || !s->tmp || !s->kv) { free(s->cand); free(s->tmp); free(s->kv); free(s); return NULL; }
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    return s;
}

void gds_sampler_free(struct gds_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->tmp);
    free(s->kv);
    free(s);
}

/* ascending key = descending logit; -0 and +0 equal (as cand_cmp's !=); no NaN here */
static uint32_t desc_key(float x) {
    if (x == 0.0f) x = 0.0f;
    uint32_t u;
    memcpy(&u, &x, 4);
    u = u & 0x80000000u ? ~u : u | 0x80000000u; /* ascending with the float */
    return ~u;
}

/* sorts c[0..n) as qsort with cand_cmp would, given c in ascending id order:
 * (key, index) pairs through 3 stable passes of 11 bits (the histograms of
 * all three in one read), then the candidates gathered in that order.
 * kv: 2n pairs of scratch, tmp: n candidates of scratch. */
static void cand_order(struct gds_cand *c, struct gds_cand *tmp, uint64_t *kv, int n) {
    uint64_t *a = kv, *b = kv + n; /* key << 32 | index */
    size_t cnt[3][2049];
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < n; i++) {
        const uint32_t k = desc_key(c[i].logit);
        a[i] = (uint64_t)k << 32 | (uint32_t)i;
        cnt[0][(k & 2047) + 1]++;
        cnt[1][((k >> 11) & 2047) + 1]++;
        cnt[2][(k >> 22) + 1]++;
    }
    for (int p = 0; p < 3; p++) {
        const int shift = 32 + 11 * p;
        if (cnt[p][((a[0] >> shift) & 2047) + 1] == (size_t)n) continue; /* one bucket: nothing moves */
        for (int k = 0; k < 2048; k++) cnt[p][k + 1] += cnt[p][k];
        for (int i = 0; i < n; i++) b[cnt[p][(a[i] >> shift) & 2047]++] = a[i];
        uint64_t *t = a; a = b; b = t;
    }
    for (int i = 0; i < n; i++) tmp[i] = c[(uint32_t)a[i]];
    memcpy(c, tmp, sizeof(*c) * (size_t)n);
}

int32_t gds_sampler_sample(struct gds_sampler *s, const float *logits) {
    const int n = s->n_vocab;
    if (s->p.temp <= 0.0f) {
        int32_t best = 0;
        for (int i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    struct gds_cand *c = s->cand;
    int nc = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(logits[i])) c[nc++] = (struct gds_cand){ logits[i] / s->p.temp, i, 0 };
    if (nc == 0) return 0;
    cand_order(c, s->tmp, s->kv, nc);
    if (s->p.top_k > 0 && s->p.top_k < nc) nc = s->p.top_k;
    double sum = 0;
    for (int i = 0; i < nc; i++) { c[i].p = (float)exp((double)c[i].logit - c[0].logit); sum += c[i].p; }
    for (int i = 0; i < nc; i++) c[i].p = (float)(c[i].p / sum);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        int keep = nc;
        for (int i = 0; i < nc; i++) {
            cum += c[i].p;
            if (cum >= s->p.top_p) { keep = i + 1; break; }
        }
        nc = keep;
    }
    if (s->p.min_p > 0.0f) {
        const float lim = s->p.min_p * c[0].p;
        int keep = 1;
        while (keep < nc && c[keep].p >= lim) keep++;
        nc = keep;
    }
    sum = 0;
    for (int i = 0; i < nc; i++) sum += c[i].p;
    const double u = (double)(xoshiro_next(s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
    double cum = 0;
    for (int i = 0; i < nc; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    return c[nc - 1].id;
}

int gds_generate(struct gds_model *m, struct gds_seq *seq, const int32_t *prompt, int n_prompt, bool decode_prompt, int n_predict,
                 struct gds_sampler *smp, int32_t eos_id, gds_token_cb on_token, void *user) {
    const int V = gds_model_hparams(m)->n_vocab;
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!logits) return GDS_ERR_NOMEM;
    struct gds_eval e = { .tokens = prompt, .n_tokens = n_prompt, .decode = decode_prompt, .logits = logits };
    enum gds_status st = gds_model_eval(m, seq, &e);
    int n = 0;
    while (st == GDS_OK && n < n_predict) {
        int32_t id = gds_sampler_sample(smp, logits);
        n++;
        if (on_token && !on_token(id, user)) break;
        if (id == eos_id && eos_id >= 0) break;
        if (n == n_predict) break;
        e = (struct gds_eval){ .tokens = &id, .n_tokens = 1, .decode = true, .logits = logits };
        st = gds_model_eval(m, seq, &e);
    }
    free(logits);
    return st == GDS_OK ? n : st;
}
