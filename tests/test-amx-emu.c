/*
 * test-amx-emu.c - the AMX tile kernels (backends/cpu/tiles-amx.c) run on any
 * x86-64 machine: the kernel file is compiled with -DGDS_AMX_EMU against
 * tests/emu/amx-emu.h, a scalar emulation of the AVX-512 and AMX intrinsics it
 * uses. Every output of the Q8_0 and MXFP4 x F8 tiles must equal, bit for bit,
 * the scalar canonical vec_dot of libgds (which the AMX level's mat-vecs
 * follow), for three summation orders of the emulated TDPBF16PS (the kernels
 * must not depend on it: the MXFP4 block sums are exact by construction).
 * Inputs: random rows at several K, column counts 1..16, strided rows, and for
 * MXFP4 activations with many small-plane values and e4m3 NaN codes, extreme
 * weight/activation scales (the scalar fallback), zeros, huge/tiny rows, and
 * adversarial blocks whose sums exceed 2^24 units (where a merged plane rounds).
 * On AMX hardware test-ops checks the real instructions (level "amx").
 */
#include "cpu.h"
#include "gds-quants.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
int gds_emu_tiles_amx(struct gds_cpu_tile *tab);
int gds_emu_order;
static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }
static double urand(void) { return (rnd() >> 11) * (1.0 / 9007199254740992.0); }
static float gauss(void) { double u = urand() + 1e-12, v = urand(); return (float)(sqrt(-2 * log(u)) * cos(6.283185307 * v)); }
static int fails, checks, cases_ok, cases_bad;
static void check(enum gds_type t, int64_t K, const uint8_t *w, size_t bw, void **cols, int nc, const char *what) {
    struct gds_cpu_tile tab[GDS_TYPE_COUNT]; memset(tab, 0, sizeof tab); gds_emu_tiles_amx(tab);
    const struct gds_cpu_tile *tl = &tab[t];
    const struct gds_cpu_type_traits *tt = gds_cpu_type_traits(t, GDS_SIMD_SCALAR);
    void *pk = aligned_alloc(64, (tl->pack_size(K) + 63) & ~63ul);
    tl->pack(K, (const void *const *)cols, nc, pk);
    float out[16][16]; float *y[16]; for (int j = 0; j < 16; j++) y[j] = out[j];
    for (int o = 0; o < 3; o++) {
        gds_emu_order = o;
        memset(out, 0x55, sizeof out);
        const void *a[16] = { pk };
        tl->fn(K, w, bw, a, y, nc);
        for (int j = 0; j < nc; j++) for (int m = 0; m < 16; m++) {
            float s; tt->vec_dot(K, &s, w + m * bw, cols[j]);
            checks++;
            if (memcmp(&s, &out[j][m], 4) != 0) { if (fails++ < 10) printf("FAIL %s %s K=%lld nc=%d j=%d m=%d order=%d: tile %a ref %a\n", t == GDS_TYPE_Q8_0 ? "q8_0" : "mxfp4", what, (long long)K, nc, j, m, o, out[j][m], s); }
        }
    }
    free(pk);
}
static void case_done(int f0) { if (fails == f0) cases_ok++; else cases_bad++; }
int main(void) {
    const struct gds_type_traits *q8 = gds_type_traits(GDS_TYPE_Q8_0), *f8 = gds_type_traits(GDS_TYPE_F8_E4M3_B128);
    /* Q8_0 */
    int64_t Ks[] = { 32, 64, 96, 128, 1024, 4096 };
    for (int ki = 0; ki < 6; ki++) for (int nc = 1; nc <= 16; nc += (nc < 4 ? 1 : 5)) for (int st = 0; st < 2; st++) {
        const int64_t K = Ks[ki]; size_t bw = (size_t)(K / 32) * 34 + (st ? 62 : 0);
        uint8_t *w = malloc(16 * bw + 64);
        float *row = malloc(sizeof(float) * K);
        for (int m = 0; m < 16; m++) { for (int64_t k = 0; k < K; k++) row[k] = gauss() * (m % 3 == 0 ? 100.f : 0.01f); q8->from_float_ref(row, w + m * bw, K); }
        void *cols[16];
        for (int j = 0; j < nc; j++) { cols[j] = malloc(K / 32 * 34); for (int64_t k = 0; k < K; k++) row[k] = gauss() * (j % 2 ? 1e3f : 1e-3f); q8->from_float_ref(row, cols[j], K); }
        const int f0 = fails;
        check(GDS_TYPE_Q8_0, K, w, bw, cols, nc, st ? "strided" : "packed");
        case_done(f0);
        for (int j = 0; j < nc; j++) free(cols[j]);
        free(w); free(row);
    }
    printf("q8_0: %d outputs checked, %d differ\n", checks, fails);
    /* MXFP4 x F8 */
    int64_t Km[] = { 128, 256, 512, 4096 };
    for (int ki = 0; ki < 4; ki++) for (int nc = 1; nc <= 16; nc += (nc < 4 ? 1 : 3)) for (int mode = 0; mode < 8; mode++) {
        const int64_t K = Km[ki]; const int64_t nb = K / 32; size_t bw = (size_t)nb * 17 + (mode == 1 ? 5 : 0);
        uint8_t *w = malloc(16 * bw + 64);
        for (int m = 0; m < 16; m++) for (int64_t b = 0; b < nb; b++) {
            uint8_t *x = w + m * bw + 17 * b;
            x[0] = (uint8_t)(115 + rnd() % 16);
            if (mode == 3 && rnd() % 7 == 0) x[0] = (uint8_t)(rnd() % 2 ? rnd() % 3 : 250 + rnd() % 6); /* extreme weight scales */
            if (mode == 7) x[0] = (uint8_t)(nc % 2 ? 140 + rnd() % 60 : 20 + rnd() % 60); /* far from 127, paired with extreme activations */
            for (int i = 1; i < 17; i++) x[i] = (uint8_t)rnd();
            if (mode == 6) for (int i = 1; i < 17; i++) x[i] = (uint8_t)(rnd() % 4 ? 0x77 : rnd()); /* mostly kv = 12: large same-sign sums */
        }
        float *row = malloc(sizeof(float) * K);
        void *cols[16];
        for (int j = 0; j < nc; j++) {
            cols[j] = malloc(K / 128 * 129);
            for (int64_t k = 0; k < K; k++) {
                float v = gauss();
                if (mode == 2 && rnd() % 4 == 0) v *= 1e-4f;   /* many small-plane values */
                if (mode == 4 && rnd() % 3 == 0) v = 0;
                if (mode == 5) v *= (rnd() % 2) ? 1e30f : 1e-30f;
                if (mode == 6) v = rnd() % 5 ? 400.f + 40.f * (float)urand() : 0.01f * (float)urand(); /* big sums + tiny values */
                row[k] = v * (j % 3 == 0 ? 50.f : 1.f);
            }
            f8->from_float_ref(row, cols[j], K);
            block_f8 *y = cols[j];
            if (mode == 2) for (int64_t b = 0; b < K / 128; b++) if (rnd() % 5 == 0) y[b].qs[rnd() % 128] = (rnd() % 2) ? 0x7f : 0xff; /* NaN codes */
            if (mode == 3) for (int64_t b = 0; b < K / 128; b++) if (rnd() % 6 == 0) y[b].e = (uint8_t)(rnd() % 2 ? 3 + rnd() % 8 : 247 + rnd() % 8);
            if (mode == 7) for (int64_t b = 0; b < K / 128; b++) y[b].e = (uint8_t)(rnd() % 2 ? 1 + rnd() % 12 : 244 + rnd() % 10);
        }
        const int f0 = fails;
        check(GDS_TYPE_MXFP4, K, w, bw, cols, nc, mode == 0 ? "gauss" : mode == 1 ? "strided" : mode == 2 ? "small+nan" : mode == 3 ? "extreme" : mode == 4 ? "zeros" : mode == 5 ? "huge-tiny" : mode == 6 ? "adversarial" : "scale-edges");
        case_done(f0);
        for (int j = 0; j < nc; j++) free(cols[j]);
        free(w); free(row);
    }
    printf("outputs: %d checked, %d differ\n", checks, fails);
    printf("test-amx-emu: %d passed, %d failed\n", cases_ok, cases_bad);
    return cases_bad != 0;
}
