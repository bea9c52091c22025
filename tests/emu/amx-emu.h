/* tests/emu/amx-emu.h - scalar emulation of the AVX-512 and AMX intrinsics used by
 * backends/cpu/tiles-amx.c, so that tests/test-amx-emu.c checks the AMX kernels on any
 * x86-64 machine (compiled with -DGDS_AMX_EMU). Test only: slow, and AMX-BF16's internal
 * summation order is a parameter (emu_order), not a model of the hardware. */
#ifndef GDS_AMX_EMU_H
#define GDS_AMX_EMU_H
#include <string.h>
#include <stdint.h>
#include <math.h>
typedef float __m512 __attribute__((vector_size(64)));
typedef long long __m512i __attribute__((vector_size(64)));
typedef short __m512bh __attribute__((vector_size(64)));
typedef long long __m256i __attribute__((vector_size(32)));
typedef float __m128 __attribute__((vector_size(16)));
typedef unsigned long long __mmask64;
#define _MM_HINT_T0 0
#define _mm_prefetch(p, h) ((void)(p), (void)(h))
#define _MM_SHUFFLE(a,b,c,d) (((a)<<6)|((b)<<4)|((c)<<2)|(d))
typedef union { __m512i v; int8_t b[64]; uint8_t ub[64]; int16_t w[32]; uint16_t uw[32]; int32_t d[16]; uint32_t ud[16]; int64_t q[8]; } U;
typedef union { __m512 v; float f[16]; uint32_t u[16]; } F;
typedef union { __m256i v; int8_t b[32]; uint16_t uw[16]; int16_t w[16]; } H;
static inline U u_(__m512i a) { U u; u.v = a; return u; }
static inline F f_(__m512 a) { F f; f.v = a; return f; }
static inline __m512 _mm512_setzero_ps(void) { F f; memset(&f, 0, 64); return f.v; }
static inline __m512 _mm512_set1_ps(float x) { F f; for (int i = 0; i < 16; i++) f.f[i] = x; return f.v; }
static inline __m512i _mm512_set1_epi32(int x) { U u; for (int i = 0; i < 16; i++) u.d[i] = x; return u.v; }
static inline __m512i _mm512_set1_epi16(short x) { U u; for (int i = 0; i < 32; i++) u.w[i] = x; return u.v; }
static inline __m512i _mm512_setr_epi32(int a0,int a1,int a2,int a3,int a4,int a5,int a6,int a7,int a8,int a9,int a10,int a11,int a12,int a13,int a14,int a15) {
    U u; int t[16] = {a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,a10,a11,a12,a13,a14,a15}; memcpy(u.d, t, 64); return u.v; }
static inline __m512i _mm512_load_si512(const void *p) { if ((uintptr_t)p & 63) __builtin_trap(); U u; memcpy(&u, p, 64); return u.v; }
static inline __m512 _mm512_load_ps(const void *p) { if ((uintptr_t)p & 63) __builtin_trap(); F f; memcpy(&f, p, 64); return f.v; }
static inline void _mm512_store_si512(void *p, __m512i a) { if ((uintptr_t)p & 63) __builtin_trap(); memcpy(p, &a, 64); }
static inline void _mm512_store_ps(void *p, __m512 a) { if ((uintptr_t)p & 63) __builtin_trap(); memcpy(p, &a, 64); }
static inline __m512i _mm512_castsi256_si512(__m256i a) { U u; memset(&u, 0, 64); memcpy(&u, &a, 32); return u.v; }
static inline __m512i _mm512_inserti64x4(__m512i a, __m256i b, int i) { memcpy((char *)&a + 32 * (i & 1), &b, 32); return a; }
#define BIN_PS(name, op) static inline __m512 name(__m512 a, __m512 b) { F x = f_(a), y = f_(b), r; for (int i = 0; i < 16; i++) r.f[i] = x.f[i] op y.f[i]; return r.v; }
BIN_PS(_mm512_add_ps, +) BIN_PS(_mm512_mul_ps, *)
#define BIN_D(name, expr) static inline __m512i name(__m512i a_, __m512i b_) { U a = u_(a_), b = u_(b_), r; for (int i = 0; i < 16; i++) r.d[i] = expr; return r.v; }
BIN_D(_mm512_sub_epi32, a.d[i] - b.d[i]) BIN_D(_mm512_and_si512, a.d[i] & b.d[i])
static inline __m512i _mm512_slli_epi32(__m512i a_, int n) { U a = u_(a_); for (int i = 0; i < 16; i++) a.ud[i] <<= n; return a.v; }
static inline __m512 _mm512_cvtepi32_ps(__m512i a_) { U a = u_(a_); F r; for (int i = 0; i < 16; i++) r.f[i] = (float)a.d[i]; return r.v; }
static inline __m512i _mm512_permutexvar_epi16(__m512i i_, __m512i a_) { U i = u_(i_), a = u_(a_), r; for (int k = 0; k < 32; k++) r.w[k] = a.w[i.uw[k] & 31]; return r.v; }
static inline float emu_bf(uint16_t h) { uint32_t u = (uint32_t)h << 16; if (!(u & 0x7f800000u)) u &= 0x80000000u; float f; memcpy(&f, &u, 4); return f; }
static inline float emu_ftz(float f) { uint32_t u; memcpy(&u, &f, 4); if (!(u & 0x7f800000u)) u &= 0x80000000u; memcpy(&f, &u, 4); return f; }
static inline float emu_h2f(uint16_t h) { return gds_fp16_to_fp32(h); }
static inline __m512 _mm512_cvtph_ps(__m256i a_) { H a; a.v = a_; F r; for (int i = 0; i < 16; i++) r.f[i] = emu_h2f(a.uw[i]); return r.v; }
static inline __m256i _mm512_cvtepi32_epi16(__m512i a_) { U a = u_(a_); H r; for (int i = 0; i < 16; i++) r.uw[i] = (uint16_t)a.ud[i]; return r.v; }
static inline __m512i _mm512_i32gather_epi32(__m512i i_, const void *base, int sc) { U i = u_(i_), r;
    for (int k = 0; k < 16; k++) memcpy(&r.d[k], (const char *)base + (int64_t)i.d[k] * sc, 4);
    return r.v;
}
#include <stdlib.h>
typedef long long __m128i __attribute__((vector_size(16)));
static inline __m128i _mm_loadu_si128(const void *p) { __m128i r; memcpy(&r, p, 16); return r; }
static inline __m256i _mm256_cvtepu8_epi16(__m128i a_) { uint8_t a[16]; memcpy(a, &a_, 16); H r; for (int i = 0; i < 16; i++) r.uw[i] = a[i]; return r.v; }
static inline __m256i _mm256_srli_epi16(__m256i a_, int n) { H a; a.v = a_; for (int i = 0; i < 16; i++) a.uw[i] = (uint16_t)(a.uw[i] >> n); return a.v; }
static inline void _mm256_store_si256(void *p, __m256i a) { if ((uintptr_t)p & 31) __builtin_trap(); memcpy(p, &a, 32); }
static inline __m512i _mm512_mullo_epi32(__m512i a_, __m512i b_) { U a = u_(a_), b = u_(b_), r; for (int i = 0; i < 16; i++) r.ud[i] = a.ud[i] * b.ud[i]; return r.v; }
static inline unsigned _mm512_reduce_min_epu32(__m512i a_) { U a = u_(a_); unsigned m = a.ud[0]; for (int i = 1; i < 16; i++) if (a.ud[i] < m) m = a.ud[i]; return m; }
static inline unsigned _mm512_reduce_max_epu32(__m512i a_) { U a = u_(a_); unsigned m = a.ud[0]; for (int i = 1; i < 16; i++) if (a.ud[i] > m) m = a.ud[i]; return m; }
static inline unsigned long long _mm512_test_epi16_mask(__m512i a_, __m512i b_) { U a = u_(a_), b = u_(b_); unsigned long long m = 0; for (int i = 0; i < 32; i++) if (a.uw[i] & b.uw[i]) m |= 1ull << i; return m; }
static inline __m512i _mm512_mask_add_epi16(__m512i s_, unsigned long long k, __m512i a_, __m512i b_) { U s = u_(s_), a = u_(a_), b = u_(b_); for (int i = 0; i < 32; i++) if ((k >> i) & 1) s.uw[i] = (uint16_t)(a.uw[i] + b.uw[i]); return s.v; }
/* AMX */
static _Thread_local struct { uint8_t rows[16]; uint16_t colsb[16]; int cfg; } emu_cfg;
static _Thread_local uint8_t emu_t[8][16][64];
extern int gds_emu_order; /* defined by the test: 0 Intel pseudocode order, 1 reversed pairs, 2 tree */
static inline void _tile_loadconfig(const void *c) { const uint8_t *p = c; if (p[0] != 1) abort(); memcpy(emu_cfg.colsb, p + 16, 32); memcpy(emu_cfg.rows, p + 48, 16); emu_cfg.cfg = 1; memset(emu_t, 0xAB, sizeof emu_t); }
static inline void _tile_release(void) { emu_cfg.cfg = 0; }
#define _tile_zero(t) do { if (!emu_cfg.cfg) abort(); memset(emu_t[t], 0, sizeof emu_t[t]); } while (0)
#define _tile_loadd(t, p, s) emu_loadd(t, (const void *)(p), (size_t)(s))
#define _tile_stored(t, p, s) emu_stored(t, (void *)(p), (size_t)(s))
#define _tile_dpbssd(c, a, b) emu_dpbssd(c, a, b)
#define _tile_dpbf16ps(c, a, b) emu_dpbf16ps(c, a, b)
static inline void emu_loadd(int t, const void *p, size_t s) { if (!emu_cfg.cfg) abort(); memset(emu_t[t], 0, sizeof emu_t[t]);
    for (int r = 0; r < emu_cfg.rows[t]; r++) memcpy(emu_t[t][r], (const char *)p + r * s, emu_cfg.colsb[t]); }
static inline void emu_stored(int t, void *p, size_t s) { for (int r = 0; r < emu_cfg.rows[t]; r++) memcpy((char *)p + r * s, emu_t[t][r], emu_cfg.colsb[t]); }
static inline void emu_dpbssd(int c, int a, int b) {
    if (emu_cfg.colsb[a] / 4 != emu_cfg.rows[b] || emu_cfg.rows[c] != emu_cfg.rows[a] || emu_cfg.colsb[c] != emu_cfg.colsb[b]) abort();
    for (int m = 0; m < emu_cfg.rows[c]; m++) for (int n = 0; n < emu_cfg.colsb[c] / 4; n++) {
        int32_t acc; memcpy(&acc, &emu_t[c][m][4 * n], 4);
        for (int k = 0; k < emu_cfg.colsb[a] / 4; k++) for (int i = 0; i < 4; i++) acc += (int32_t)(int8_t)emu_t[a][m][4 * k + i] * (int32_t)(int8_t)emu_t[b][k][4 * n + i];
        memcpy(&emu_t[c][m][4 * n], &acc, 4); } }
static inline void emu_dpbf16ps(int c, int a, int b) {
    if (emu_cfg.colsb[a] / 4 != emu_cfg.rows[b] || emu_cfg.rows[c] != emu_cfg.rows[a] || emu_cfg.colsb[c] != emu_cfg.colsb[b]) abort();
    const int K = emu_cfg.colsb[a] / 4;
    for (int m = 0; m < emu_cfg.rows[c]; m++) for (int n = 0; n < emu_cfg.colsb[c] / 4; n++) {
        float acc; memcpy(&acc, &emu_t[c][m][4 * n], 4); acc = emu_ftz(acc);
        float pr[64]; int np = 0;
        for (int k = 0; k < K; k++) for (int i = 0; i < 2; i++) { uint16_t x, y; memcpy(&x, &emu_t[a][m][4 * k + 2 * i], 2); memcpy(&y, &emu_t[b][k][4 * n + 2 * i], 2); pr[np++] = emu_bf(x) * emu_bf(y); }
        if (gds_emu_order == 0) for (int i = 0; i < np; i++) acc = emu_ftz(acc + pr[i]);
        else if (gds_emu_order == 1) for (int i = np - 1; i >= 0; i--) acc = emu_ftz(acc + pr[i]);
        else { for (int w = 1; w < np; w *= 2) for (int i = 0; i + w < np; i += 2 * w) pr[i] = emu_ftz(pr[i] + pr[i + w]); acc = emu_ftz(acc + pr[0]); }
        memcpy(&emu_t[c][m][4 * n], &acc, 4); } }
static inline unsigned short _mm512_cmplt_epi32_mask(__m512i a_, __m512i b_) { U a = u_(a_), b = u_(b_); unsigned short m = 0; for (int i = 0; i < 16; i++) if (a.d[i] < b.d[i]) m |= (unsigned short)(1u << i); return m; }
static inline unsigned short _mm512_cmpgt_epi32_mask(__m512i a_, __m512i b_) { U a = u_(a_), b = u_(b_); unsigned short m = 0; for (int i = 0; i < 16; i++) if (a.d[i] > b.d[i]) m |= (unsigned short)(1u << i); return m; }
#endif
