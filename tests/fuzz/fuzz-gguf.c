/*
 * fuzz-gguf.c - libFuzzer target for the GGUF reader (gds_gguf_open_memory).
 *
 * Build (from the repo root; no GNUmakefile needed):
 *   mkdir -p build/fuzz && clang -std=c11 -g -O1 -D_GNU_SOURCE \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -Iggml-ds/include -Iggml-ds/src tests/fuzz/fuzz-gguf.c \
 *     ggml-ds/src/gguf.c ggml-ds/src/gds.c ggml-ds/src/types.c -lm -o build/fuzz/fuzz-gguf
 * Run (the corpus folder gets new inputs: use a copy to keep the seeds clean):
 *   mkdir -p build/fuzz/corpus && cp -r tests/fuzz/corpus-gguf/. build/fuzz/corpus/
 *   build/fuzz/fuzz-gguf -max_total_time=60 -max_len=8192 build/fuzz/corpus
 *
 * Property checked beyond "no crash, no sanitizer report, no leak": when a
 * file is accepted, every accessor works on every key and tensor, lookups
 * by name find the same index, and each tensor's bytes lie inside the input
 * after the data offset (touched, so ASan checks the range). Seeds:
 * tests/fuzz/corpus-gguf/ (written by build/bin/test-gguf --corpus DIR).
 */
#include "gds-gguf.h"

#include <stdlib.h>
#include <string.h>

static void quiet(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) { gds_log_set(quiet, NULL); init = 1; }
    struct gds_gguf *f = gds_gguf_open_memory(data, size, "fuzz.gguf");
    if (!f) {
        REQUIRE(strstr(gds_last_error(), "fuzz.gguf") != NULL);
        return 0;
    }
    volatile uint64_t sink = 0;
    REQUIRE(gds_gguf_version(f) == 3);
    size_t al = gds_gguf_alignment(f);
    REQUIRE(al && (al & (al - 1)) == 0 && gds_gguf_data_offset(f) % al == 0);
    for (int64_t i = 0; i < gds_gguf_n_kv(f); i++) {
        const char *k = gds_gguf_key(f, i);
        REQUIRE(gds_gguf_find_key(f, k) == i);
        int64_t v;
        switch (gds_gguf_kv_type(f, i)) {
        case GDS_GGUF_UINT8: sink += gds_gguf_get_u8(f, i); break;
        case GDS_GGUF_INT32: sink += (uint64_t)gds_gguf_get_i32(f, i); break;
        case GDS_GGUF_UINT32: sink += gds_gguf_get_u32(f, i); break;
        case GDS_GGUF_UINT64: sink += gds_gguf_get_u64(f, i); break;
        case GDS_GGUF_FLOAT32: sink += (uint64_t)(gds_gguf_get_f32(f, i) == 0.0f); break;
        case GDS_GGUF_BOOL: sink += gds_gguf_get_bool(f, i); break;
        case GDS_GGUF_STRING: sink += strlen(gds_gguf_get_str(f, i)); break;
        case GDS_GGUF_ARRAY: {
            int64_t n = gds_gguf_arr_n(f, i);
            REQUIRE(n >= 0 && (uint64_t)n <= size);
            if (gds_gguf_arr_type(f, i) == GDS_GGUF_STRING) {
                for (int64_t j = 0; j < n; j++) sink += strlen(gds_gguf_arr_str(f, i, j));
            } else if (n > 0) {
                const uint8_t *a = gds_gguf_arr_data(f, i);
                sink += a[0];
            }
            break;
        }
        default: break;
        }
        if (gds_gguf_get_int(f, i, &v)) sink += (uint64_t)v;
    }
    const uint8_t *base = gds_gguf_base(f);
    for (int64_t i = 0; i < gds_gguf_n_tensors(f); i++) {
        REQUIRE(gds_gguf_find_tensor(f, gds_gguf_tensor_name(f, i)) == i);
        int64_t ne[4];
        gds_gguf_tensor_ne(f, i, ne);
        int nd = gds_gguf_tensor_n_dims(f, i);
        REQUIRE(nd >= 1 && nd <= 4);
        REQUIRE(gds_gguf_tensor_size(f, i) == gds_row_size(gds_gguf_tensor_type(f, i), ne[0]) * (size_t)(ne[1] * ne[2] * ne[3]));
        const uint8_t *d = gds_gguf_tensor_data(f, i);
        size_t n = gds_gguf_tensor_size(f, i);
        REQUIRE(d >= base + gds_gguf_data_offset(f) && gds_gguf_tensor_offset(f, i) % al == 0);
        if (n) { REQUIRE(d + n <= base + size); sink += d[0] + d[n - 1]; }
    }
    (void)sink;
    gds_gguf_close(f);
    return 0;
}
