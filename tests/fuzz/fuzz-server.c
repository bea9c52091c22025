/*
 * fuzz-server.c - libFuzzer target for gds-server's JSON request handlers
 * (examples/gds-server-api.h): the first byte picks the endpoint
 * (chat completions, completions, Anthropic messages), the rest is the request
 * body: JSON parse, the fields' checks, the Anthropic translation and the V4
 * prompt encoding. Any input must give a prompt or an error, never a crash or
 * a leak. (HTTP itself is parsed by libmicrohttpd.)
 */
#include "gds-server-api.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const enum api api = (enum api)(data[0] % 3);
    char err[1024];
    cJSON *req = gds_chat_json_parse((const char *)data + 1, size - 1, err, sizeof err);
    if (!req) return 0;
    if (cJSON_IsObject(req)) {
        struct gen_params p;
        memset(&p, 0, sizeof p);
        size_t plen = 0;
        bool bos;
        const char *param, *code;
        unsigned status;
        char *t = api_request(&req, api, &p, &plen, &bos, err, sizeof err, &param, &code, &status);
        if (!t && (status < 400 || status > 599 || !err[0])) __builtin_trap(); /* an error must say what */
        free(t);
        gen_params_free(&p);
    }
    cJSON_Delete(req);
    return 0;
}
