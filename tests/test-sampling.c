/*
 * test-sampling.c - the sampler against distributions computed here in double.
 *
 * Greedy picks the argmax (lowest id on ties); with temperature T the empirical
 * frequencies over many draws match softmax(logits / T) (chi-square style bound);
 * top-k, top-p and min-p never emit a token outside the set computed here and
 * match the renormalized distribution on it; the same seed gives the same
 * sequence, another seed a different one.
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

    printf("test-sampling: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
