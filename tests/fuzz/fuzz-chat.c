/*
 * fuzz-chat.c - libFuzzer target for the chat encoder and completion parser
 * (models/chat.c): the same bytes (after one option byte) go in as a JSON
 * request and as a model completion.
 *
 * Build (from the repo root; no GNUmakefile needed):
 *   mkdir -p build/fuzz && clang -std=c11 -g -O1 -D_GNU_SOURCE \
 *     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -Imodels tests/fuzz/fuzz-chat.c models/chat.c -lcjson -lm -o build/fuzz/fuzz-chat
 * Run (on a copy of the seeds):
 *   mkdir -p build/fuzz/run-chat && cp -r tests/fuzz/corpus-chat/. build/fuzz/run-chat/
 *   build/fuzz/fuzz-chat -max_total_time=60 -max_len=8192 -malloc_limit_mb=64 build/fuzz/run-chat
 *
 * Option byte: bit 0 thinking mode, bits 1-2 effort (none/high/max), bit 3
 * keep thinking. Properties beyond "no crash, no sanitizer report, no leak":
 * every rejection carries a message; an accepted JSON text dumps to JSON that
 * parses again and dumps to the same bytes (unless it holds Infinity, which
 * Python writes but JSON lacks); an accepted request encodes to a prompt that
 * starts with BOS and has no NUL inside; an accepted completion's message
 * dumps to JSON that parses again, and its content and reasoning are
 * substrings of the completion.
 */
#include "chat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x) do { if (!(x)) __builtin_trap(); } while (0)

static void check_roundtrip(const cJSON *j) {
    size_t l1 = 0, l2 = 0;
    char *s1 = gds_chat_json_dumps(j, &l1);
    REQUIRE(s1 && strlen(s1) == l1);
    char err[256] = "";
    cJSON *j2 = gds_chat_json_parse(s1, l1, err, sizeof err);
    if (!j2) {
        REQUIRE(strstr(s1, "Infinity") != NULL);
    } else {
        char *s2 = gds_chat_json_dumps(j2, &l2);
        REQUIRE(s2 && l1 == l2 && memcmp(s1, s2, l1) == 0);
        free(s2);
        cJSON_Delete(j2);
    }
    free(s1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned opt = data[0];
    const char *t = (const char *)data + 1;
    size_t n = size - 1;
    char err[256] = "";

    cJSON *req = gds_chat_json_parse(t, n, err, sizeof err);
    if (!req) REQUIRE(err[0]);
    else {
        check_roundtrip(req);
        struct gds_chat_params p;
        gds_chat_params_init(&p);
        p.mode = (opt & 1) ? GDS_CHAT_MODE_THINKING : GDS_CHAT_MODE_CHAT;
        p.effort = (int)((opt >> 1) & 3) % 3;
        p.drop_thinking = (opt & 8) ? 0 : 1;
        size_t len = 0;
        err[0] = 0;
        char *prompt = gds_chat_encode_request(req, &p, &len, err, sizeof err);
        if (!prompt) REQUIRE(err[0]);
        else {
            REQUIRE(strlen(prompt) == len);
            REQUIRE(strncmp(prompt, GDS_CHAT_BOS, strlen(GDS_CHAT_BOS)) == 0);
            free(prompt);
        }
        cJSON_Delete(req);
    }

    err[0] = 0;
    cJSON *msg = gds_chat_parse_completion(t, n, (opt & 1) ? GDS_CHAT_MODE_THINKING : GDS_CHAT_MODE_CHAT, err, sizeof err);
    if (!msg) REQUIRE(err[0]);
    else {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_content");
        REQUIRE(cJSON_IsString(c) && cJSON_IsString(r));
        REQUIRE(memmem(t, n, c->valuestring, strlen(c->valuestring)) != NULL);
        REQUIRE(memmem(t, n, r->valuestring, strlen(r->valuestring)) != NULL);
        check_roundtrip(msg);
        cJSON_Delete(msg);
    }
    return 0;
}
