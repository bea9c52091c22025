/*
 * test-sampling.c - the sampler against distributions computed here in double.
 *
 * Greedy picks the argmax (lowest id on ties); with temperature T the empirical
 * frequencies over many draws match softmax(logits / T) (chi-square style bound);
 * top-k, top-p and min-p never emit a token outside the set computed here and
 * match the renormalized distribution on it; the same seed gives the same
 * sequence, another seed a different one. The candidate sort (a radix sort in
 * sampling.c) against a reference sampler written here with qsort, at V4's
 * vocabulary size with ties, -0/+0, -inf and NaN logits: the same ids draw
 * for draw.
 */
#include "sampling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail;
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (cond) n_pass++;                                                                  \
        else { n_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
    } while (0)

enum { V = 40, DRAWS = 200000 };

/* expected distribution in double: temperature, top-k, softmax, top-p, min-p, renormalize */
static void expected(const float *logits, const struct gds_sampler_params *p, double *q) {
    int idx[V];
    for (int i = 0; i < V; i++) idx[i] = i;
    for (int i = 0; i < V; i++) /* sort ids by logit descending, lower id first on ties */
        for (int j = i + 1; j < V; j++)
            if (logits[idx[j]] > logits[idx[i]] || (logits[idx[j]] == logits[idx[i]] && idx[j] < idx[i])) {
                int t = idx[i]; idx[i] = idx[j]; idx[j] = t;
            }
    int keep = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    double z = 0, w[V];
    for (int r = 0; r < keep; r++) z += w[r] = exp(((double)logits[idx[r]] - logits[idx[0]]) / p->temp);
    for (int r = 0; r < keep; r++) w[r] /= z;
    if (p->top_p < 1.0f) { /* smallest prefix whose mass reaches top_p */
        double c = 0;
        int k = 0;
        while (k < keep) { c += w[k++]; if (c >= p->top_p) break; }
        keep = k;
    }
    if (p->min_p > 0) {
        int k = 0;
        while (k < keep && w[k] >= p->min_p * w[0]) k++;
        keep = k;
    }
    z = 0;
    for (int r = 0; r < keep; r++) z += w[r];
    memset(q, 0, sizeof(double) * V);
    for (int r = 0; r < keep; r++) q[idx[r]] = w[r] / z;
}

static void check_dist(const char *name, const float *logits, struct gds_sampler_params p) {
    double q[V];
    expected(logits, &p, q);
    struct gds_sampler *s = gds_sampler_new(&p, V);
    long cnt[V] = { 0 };
    int outside = 0; /* an id out of [0, V) counts as drawn outside the set */
    for (int d = 0; d < DRAWS; d++) {
        int32_t id = gds_sampler_sample(s, logits);
        if (id >= 0 && id < V) cnt[id]++;
        else outside++;
    }
    gds_sampler_free(s);
    double worst = 0;
    for (int i = 0; i < V; i++) {
        if (q[i] == 0 && cnt[i]) outside++;
        double sd = sqrt(DRAWS * q[i] * (1 - q[i])) + 1, z = fabs(cnt[i] - DRAWS * q[i]) / sd;
        if (z > worst) worst = z;
    }
    CHECK(outside == 0, "%s: %d tokens drawn outside the allowed set", name, outside);
    CHECK(worst < 5.5, "%s: a token frequency is %.1f sigma off the expected distribution", name, worst);
    printf("%s %-34s worst deviation %.2f sigma over %d draws\n", outside == 0 && worst < 5.5 ? "ok  " : "FAIL", name, worst, DRAWS);
}

/* ---- reference sampler: the same filters and draws, candidates sorted by qsort ---- */

struct rcand { float logit; int32_t id; float p; };

static int rcand_cmp(const void *a, const void *b) {
    const struct rcand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static uint64_t ref_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t ref_next(uint64_t *s) { /* xoshiro256** */
    const uint64_t r = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return r;
}

static int32_t ref_sample(const struct gds_sampler_params *p, uint64_t *rng, const float *logits, int n, struct rcand *c) {
    int nc = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(logits[i])) c[nc++] = (struct rcand){ logits[i] / p->temp, i, 0 };
    qsort(c, (size_t)nc, sizeof(*c), rcand_cmp);
    if (p->top_k > 0 && p->top_k < nc) nc = p->top_k;
    double sum = 0;
    for (int i = 0; i < nc; i++) { c[i].p = (float)exp((double)c[i].logit - c[0].logit); sum += c[i].p; }
    for (int i = 0; i < nc; i++) c[i].p = (float)(c[i].p / sum);
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < nc; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) { nc = i + 1; break; }
        }
    }
    if (p->min_p > 0.0f) {
        int keep = 1;
        while (keep < nc && c[keep].p >= p->min_p * c[0].p) keep++;
        nc = keep;
    }
    sum = 0;
    for (int i = 0; i < nc; i++) sum += c[i].p;
    const double u = (double)(ref_next(rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
    double cum = 0;
    for (int i = 0; i < nc; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    return c[nc - 1].id;
}

/* the sampler against the reference, draw for draw, at n ids */
static void check_sort(const char *name, const float *logits, int n, struct gds_sampler_params p, int draws) {
    struct gds_sampler *s = gds_sampler_new(&p, n);
    struct rcand *c = malloc(sizeof(*c) * (size_t)n);
    uint64_t rng[4], x = p.seed;
    for (int i = 0; i < 4; i++) rng[i] = ref_splitmix64(&x);
    int first_bad = -1, distinct = 0;
    int32_t prev = -1;
    for (int d = 0; s && c && d < draws; d++) {
        const int32_t a = gds_sampler_sample(s, logits), b = ref_sample(&p, rng, logits, n, c);
        if (a != b && first_bad < 0) first_bad = d;
        distinct += a != prev;
        prev = a;
    }
    CHECK(s && c && first_bad < 0, "%s: draw %d differs from the qsort reference", name, first_bad);
    printf("%s %-34s %d draws equal to the qsort reference (%d changes of id)\n", s && c && first_bad < 0 ? "ok  " : "FAIL", name, draws, distinct);
    gds_sampler_free(s);
    free(c);
}

int main(void) {
    float logits[V];
    unsigned st = 7;
    for (int i = 0; i < V; i++) { st = st * 1664525u + 1013904223u; logits[i] = (float)((st >> 8) % 1000) / 250.0f; }
    logits[5] = logits[9] = 5.0f; /* a tie at the top: greedy must take id 5 */

    struct gds_sampler_params g = { .temp = 0, .top_p = 1, .seed = 1 };
    struct gds_sampler *s = gds_sampler_new(&g, V);
    CHECK(gds_sampler_sample(s, logits) == 5, "greedy: expected id 5 (lowest id of the tied maximum)");
    gds_sampler_free(s);

    check_dist("temperature 1", logits, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .seed = 3 });
    check_dist("temperature 0.5", logits, (struct gds_sampler_params){ .temp = 0.5f, .top_p = 1.0f, .seed = 4 });
    check_dist("top-k 5", logits, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .top_k = 5, .seed = 5 });
    check_dist("top-p 0.6", logits, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 0.6f, .seed = 6 });
    check_dist("min-p 0.3", logits, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .min_p = 0.3f, .seed = 7 });
    check_dist("top-k 8 + top-p 0.9 + T 0.8", logits, (struct gds_sampler_params){ .temp = 0.8f, .top_p = 0.9f, .top_k = 8, .seed = 8 });

    struct gds_sampler_params d = gds_sampler_default_params();
    CHECK(d.temp == 1.0f && d.top_p == 1.0f && d.top_k == 0 && d.min_p == 0.0f, "defaults are not temperature 1 / top-p 1");

    int32_t a[64], b[64], c[64];
    struct gds_sampler *s1 = gds_sampler_new(&(struct gds_sampler_params){ .temp = 1, .top_p = 1, .seed = 42 }, V);
    struct gds_sampler *s2 = gds_sampler_new(&(struct gds_sampler_params){ .temp = 1, .top_p = 1, .seed = 42 }, V);
    struct gds_sampler *s3 = gds_sampler_new(&(struct gds_sampler_params){ .temp = 1, .top_p = 1, .seed = 43 }, V);
    for (int i = 0; i < 64; i++) { a[i] = gds_sampler_sample(s1, logits); b[i] = gds_sampler_sample(s2, logits); c[i] = gds_sampler_sample(s3, logits); }
    CHECK(!memcmp(a, b, sizeof(a)), "same seed gave different sequences");
    CHECK(memcmp(a, c, sizeof(a)) != 0, "seeds 42 and 43 gave the same 64 tokens");
    gds_sampler_free(s1); gds_sampler_free(s2); gds_sampler_free(s3);

    /* V4's vocabulary: logits on a coarse grid (many ties), -0 and +0, -inf (masked) and NaN ids */
    enum { NV = 129280 };
    float *big = malloc(sizeof(float) * NV);
    unsigned r = 11;
    for (int i = 0; i < NV; i++) {
        r = r * 1664525u + 1013904223u;
        big[i] = (float)((int)((r >> 8) % 4001) - 2000) / 64.0f;
        if (i % 97 == 0) big[i] = (r >> 3) & 1 ? -0.0f : 0.0f;
        if (i % 1009 == 0) big[i] = -INFINITY;
        if (i % 4999 == 0) big[i] = NAN;
    }
    big[1234] = big[99999] = 40.0f; /* a tied top pair */
    check_sort("V=129280, T 1", big, NV, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .seed = 9 }, 60);
    check_sort("V=129280, T 8 (flat), top-p 0.95", big, NV, (struct gds_sampler_params){ .temp = 8.0f, .top_p = 0.95f, .seed = 10 }, 60);
    check_sort("V=129280, T 0.7, top-k 40, min-p 0.05", big, NV, (struct gds_sampler_params){ .temp = 0.7f, .top_p = 1.0f, .top_k = 40, .min_p = 0.05f, .seed = 11 }, 60);
    /* five values only (-0 and +0 mixed in the zero group): nearly every draw lands in a tie, so the order within ties decides the id */
    for (int i = 0; i < NV; i++) {
        r = r * 1664525u + 1013904223u;
        const int v = (int)((r >> 8) % 5) - 2;
        big[i] = v == 0 ? ((r >> 3) & 1 ? -0.0f : 0.0f) : (float)v * 0.25f;
    }
    check_sort("V=129280, 5 values (ties)", big, NV, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .seed = 13 }, 60);
    check_sort("V=40, T 1", logits, V, (struct gds_sampler_params){ .temp = 1.0f, .top_p = 1.0f, .seed = 12 }, 2000);
    free(big);

    printf("test-sampling: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
