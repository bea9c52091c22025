/*
 * fuzz-safetensors.c - libFuzzer target for the converter's input parsers:
 * the safetensors shard header (st_parse_shard) and config.json
 * (hf_config_parse). Every input goes to both.
 *
 * Build (from the repo root):
 *   mkdir -p build/fuzz && clang -std=c11 -g -O1 -D_GNU_SOURCE \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -Iggml-ds/include -Iggml-ds/src -Iconvert tests/fuzz/fuzz-safetensors.c \
 *     convert/safetensors.c convert/hf-model.c ggml-ds/src/gds.c ggml-ds/src/types.c \
 *     -lcjson -lm -o build/fuzz/fuzz-safetensors
 * Run (on a copy of the seeds):
 *   mkdir -p build/fuzz/corpus-st && cp -r tests/fuzz/corpus-safetensors/. build/fuzz/corpus-st/
 *   build/fuzz/fuzz-safetensors -max_total_time=60 -max_len=4096 build/fuzz/corpus-st
 *
 * Properties beyond "no crash, no sanitizer report, no leak": a rejected
 * input's message names the label; an accepted shard's tensors lie inside
 * the input, have nbytes == numel * dtype size and do not overlap (every
 * byte is touched, so ASan checks the ranges); an accepted config passes
 * validation again.
 */
#include "hf-model.h"
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>

static void quiet(enum gds_log_level level, const char *msg, void *user) { (void)level; (void)msg; (void)user; }

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) { gds_log_set(quiet, NULL); init = 1; }

    struct st_tensor *t = NULL;
    int64_t n = 0;
    if (st_parse_shard(data, size, "fuzz.safetensors", &t, &n) != GDS_OK) {
        REQUIRE(strstr(gds_last_error(), "fuzz.safetensors") != NULL);
    } else {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < n; i++) {
            REQUIRE(t[i].offset >= 8 && t[i].offset <= size && t[i].nbytes <= size - t[i].offset);
            REQUIRE((uint64_t)t[i].numel * st_dtype_size(t[i].dtype) == t[i].nbytes);
            for (size_t j = 0; j < t[i].nbytes; j++) sink ^= t[i].data[j];
            for (int64_t k = 0; k < i; k++)
                REQUIRE(!t[i].nbytes || !t[k].nbytes || t[i].offset >= t[k].offset + t[k].nbytes || t[k].offset >= t[i].offset + t[i].nbytes);
        }
        (void)sink;
        st_tensors_free(t, n);
    }

    struct hf_config c;
    if (hf_config_parse(&c, (const char *)data, size, "fuzz/config.json") != GDS_OK) {
        REQUIRE(strstr(gds_last_error(), "fuzz/config.json") != NULL);
    } else {
        REQUIRE(hf_config_validate(&c, "again") == GDS_OK);
        REQUIRE(c.n_ratios == c.n_layer + c.n_mtp);
    }
    return 0;
}
