/*
 * simple.c - build a tiny graph and run it on every built-in backend.
 *
 * The graph is a miniature DeepSeek-V4 FFN step on one token:
 *   x -> rms_norm -> (FP8 W1, FP8 W3) -> swiglu(limit 10) -> FP8 W2
 * with weights quantized to the lossless FP8 row type (E4M3 + E8M0 per 128).
 * Each backend runs through the scheduler, so ops a backend lacks fall back to
 * the CPU; the program prints the output head and the largest difference
 * between backends.
 *
 *   build/bin/simple [-t|--threads N] [--help] [--version]
 */
#include "gds-backend.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 512, F = 1024 };

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f * 2.0f - 1.0f;
}

int main(int argc, char **argv) {
    int n_threads = 0;
    static const struct option long_opts[] = {
        { "threads", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },       { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":t:h", long_opts, NULL)) != -1) {
        if (c == 't') {
            char *end;
            errno = 0;
            const long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno || v < 1 || v > 256) {
                fprintf(stderr, "simple: -t '%s': expected an integer from 1 to 256\n", optarg);
                return 1;
            }
            n_threads = (int)v;
        } else if (c == 'h') {
            printf("usage: simple [-t|--threads N] [--version]\n"
                   "Runs a tiny FFN graph (FP8 weights, SwiGLU) on every built-in backend and compares them.\n");
            return 0;
        } else if (c == 'V') {
            printf("simple (ggml-ds) %s\n", GDS_VERSION);
            return 0;
        } else {
            if (c == ':') fprintf(stderr, "simple: option '%s' needs a value\n", argv[optind - 1]);
            else if (optopt) fprintf(stderr, "simple: unknown option '-%c'\n", optopt);
            else fprintf(stderr, "simple: unknown option '%s'\n", argv[optind - 1]);
            fprintf(stderr, "simple: see 'simple --help'\n");
            return 1;
        }
    }
    if (optind < argc) { fprintf(stderr, "simple: unexpected argument '%s'\nsimple: see 'simple --help'\n", argv[optind]); return 1; }

    float *out[8] = { 0 };
    int n_out = 0;
    for (int bi = 0; bi < gds_backend_count() && n_out < 8; bi++) {
        const char *name = gds_backend_name_at(bi);
        struct gds_backend *be = gds_backend_init(name, 0);
        if (!be) { printf("%-6s unavailable: %s\n", name, gds_last_error()); continue; }
        if (n_threads > 0 && gds_backend_is_cpu(be)) gds_backend_cpu_set_n_threads(be, n_threads);

        /* weights and input in one buffer of this backend */
        struct gds_context *ctx = gds_init((struct gds_init_params){ .mem_size = 1 << 20, .no_alloc = true });
        struct gds_tensor *w1 = gds_new_tensor_2d(ctx, GDS_TYPE_F8_E4M3_B128, D, F);
        struct gds_tensor *w3 = gds_new_tensor_2d(ctx, GDS_TYPE_F8_E4M3_B128, D, F);
        struct gds_tensor *w2 = gds_new_tensor_2d(ctx, GDS_TYPE_F8_E4M3_B128, F, D);
        struct gds_tensor *nw = gds_new_tensor_1d(ctx, GDS_TYPE_F32, D);
        struct gds_tensor *x = gds_new_tensor_1d(ctx, GDS_TYPE_F32, D);
        struct gds_buffer *buf = gds_backend_alloc_ctx_tensors(be, ctx);
        if (!buf) { printf("%-6s: %s\n", name, gds_last_error()); return 1; }

        unsigned seed = 42;
        struct gds_tensor *ws[3] = { w1, w3, w2 };
        for (int k = 0; k < 3; k++) {
            int64_t n = gds_nelements(ws[k]);
            float *f = malloc(sizeof(float) * n);
            void *q = malloc(gds_nbytes(ws[k]));
            for (int64_t i = 0; i < n; i++) f[i] = frand(&seed) * 0.05f;
            gds_type_traits(ws[k]->type)->from_float_ref(f, q, n);
            gds_backend_tensor_set(ws[k], q, 0, gds_nbytes(ws[k]));
            free(f);
            free(q);
        }
        float v[D];
        for (int i = 0; i < D; i++) v[i] = 1.0f + 0.1f * frand(&seed);
        gds_backend_tensor_set(nw, v, 0, sizeof(v));
        for (int i = 0; i < D; i++) v[i] = frand(&seed) * 3.0f;
        gds_backend_tensor_set(x, v, 0, sizeof(v));

        struct gds_tensor *h = gds_rms_norm(ctx, x, nw, 1e-6f);
        struct gds_tensor *a = gds_swiglu(ctx, gds_mul_mat(ctx, w1, h), gds_mul_mat(ctx, w3, h), 10.0f);
        struct gds_tensor *y = gds_mul_mat(ctx, w2, a);
        gds_set_name(y, "ffn_out");
        struct gds_graph *g = gds_graph_new(ctx, 64);
        gds_graph_build_expand(g, y);

        struct gds_sched *s = gds_sched_new(be);
        if (gds_sched_graph_compute(s, g) != GDS_OK) { printf("%-6s: %s\n", name, gds_last_error()); return 1; }
        out[n_out] = malloc(sizeof(float) * D);
        gds_backend_tensor_get(y, out[n_out], 0, sizeof(float) * D);
        printf("%-6s %d split(s)  y[0..3] = %.6f %.6f %.6f %.6f\n", name, gds_sched_n_splits(s), out[n_out][0], out[n_out][1],
               out[n_out][2], out[n_out][3]);
        n_out++;
        gds_sched_free(s);
        gds_buffer_free(buf);
        gds_free(ctx);
        gds_backend_free(be);
    }
    for (int k = 1; k < n_out; k++) {
        double md = 0;
        for (int i = 0; i < D; i++) md = fmax(md, fabs(out[k][i] - out[0][i]));
        printf("max |backend %d - backend 0| = %.3g\n", k, md);
    }
    for (int k = 0; k < n_out; k++) free(out[k]);
    return 0;
}
