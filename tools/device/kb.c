/*
 * tools/device/kb.c - per-core rates of the CPU's F8 and MXFP4 mat-vec kernels (one thread, 4096-wide
 * rows): weights in L2 (`kb 256 400`) and from DRAM (`kb 65536 2`), GB/s of weight bytes. Also checks
 * that the canonical MXFP4 kernels at 256 and 512 bits give the same bits. Built against libgds.a by
 * tools/device/s6-first.sh (internal symbols of backends/cpu):
 *   cc -std=c11 -O2 -march=native -Iggml-ds/include -Iggml-ds/src -Ibackends/cpu -o kb tools/device/kb.c \
 *      build/libgds.a -fopenmp -lm -lhwloc -lnuma
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "cpu.h"
void gds_cpu_f8_prep(const void *a, void *p, int64_t n);
size_t gds_cpu_f8_prep_size(int64_t n);
void gds_cpu_dot4_f8p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_f8p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_mxfp4_prep(const void *a, void *p, int64_t n);
void gds_cpu_mxfp4_prep_bf16(const void *a, void *p, int64_t n);
void gds_cpu_dot4_mxfp4p_avx2(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot8_mxfp4b_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
void gds_cpu_dot4_mxfp4p_avx512(int64_t n, float *s, const void *w, size_t bw, const void *p);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    const int64_t K = 4096; const int64_t N = argc > 1 ? atoll(argv[1]) : 256; const int reps = argc > 2 ? atoi(argv[2]) : 200;
    const size_t f8row = K / 128 * sizeof(block_f8), mxrow = K / 32 * sizeof(block_mxfp4);
    uint8_t *wf8 = aligned_alloc(64, f8row * N), *wmx = aligned_alloc(64, mxrow * N);
    for (size_t i = 0; i < f8row * N; i++) wf8[i] = (uint8_t)(rand() & 0x77) | 0x08;
    for (int64_t r = 0; r < N; r++) for (int64_t b = 0; b < K/128; b++) ((block_f8 *)(wf8 + r * f8row))[b].e = 120 + rand() % 8;
    for (size_t i = 0; i < mxrow * N; i++) wmx[i] = (uint8_t)rand();
    for (int64_t r = 0; r < N; r++) for (int64_t b = 0; b < K/32; b++) ((block_mxfp4 *)(wmx + r * mxrow))[b].e = 120 + rand() % 8;
    float *x = malloc(K * 4); for (int i = 0; i < K; i++) x[i] = (rand() / (float)RAND_MAX - 0.5f);
    block_f8 *q = aligned_alloc(64, K / 128 * sizeof(block_f8));
    gds_type_traits(GDS_TYPE_F8_E4M3_B128)->from_float_ref(x, q, K);
    void *p8 = aligned_alloc(64, 1 << 20), *pm = aligned_alloc(64, 1 << 20), *pb = aligned_alloc(64, 1 << 20);
    gds_cpu_f8_prep(q, p8, K); gds_cpu_mxfp4_prep(q, pm, K); gds_cpu_mxfp4_prep_bf16(q, pb, K);
    float *y = malloc(N * 4);
    struct { const char *name; int kind; } ks[] = { {"f8 avx512 dot4", 0}, {"f8 avx2 dot4", 1}, {"mxfp4 avx2 dot4 (canonical)", 2}, {"mxfp4 avx512 dot8 (bf16)", 3}, {"mxfp4 avx512 dot4 (canonical)", 4} };
    float *y2 = malloc(N * 4);
    for (int64_t n = 0; n < N; n += 4) { gds_cpu_dot4_mxfp4p_avx2(K, y + n, wmx + n * mxrow, mxrow, pm); gds_cpu_dot4_mxfp4p_avx512(K, y2 + n, wmx + n * mxrow, mxrow, pm); }
    printf("canonical avx512 vs avx2: %s\n", memcmp(y, y2, N * 4) ? "DIFFER" : "same bits");
    for (int k = 0; k < 5; k++) {
        double best = 1e9;
        for (int t = 0; t < 5; t++) {
            double t0 = now();
            for (int r = 0; r < reps; r++)
                for (int64_t n = 0; n < N; n += (k == 3 ? 8 : 4)) {
                    if (k == 0) gds_cpu_dot4_f8p_avx512(K, y + n, wf8 + n * f8row, f8row, p8);
                    else if (k == 1) gds_cpu_dot4_f8p_avx2(K, y + n, wf8 + n * f8row, f8row, p8);
                    else if (k == 2) gds_cpu_dot4_mxfp4p_avx2(K, y + n, wmx + n * mxrow, mxrow, pm);
                    else if (k == 3) gds_cpu_dot8_mxfp4b_avx512(K, y + n, wmx + n * mxrow, mxrow, pb);
                    else gds_cpu_dot4_mxfp4p_avx512(K, y + n, wmx + n * mxrow, mxrow, pm);
                }
            double dt = (now() - t0) / reps; if (dt < best) best = dt;
        }
        const double bytes = (double)N * (k < 2 ? f8row : mxrow);
        printf("%-30s N=%lld: %.1f us, %.2f GB/s, %.2f Gweights/s\n", ks[k].name, (long long)N, best * 1e6, bytes / best * 1e-9, (double)N * K / best * 1e-9);
    }
    return 0;
}
