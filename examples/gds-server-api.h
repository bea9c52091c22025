/*
 * gds-server-api.h - the request side of gds-server that needs no model: the
 * OpenAI and Anthropic request fields (types and ranges checked, errors naming
 * the field), the Anthropic Messages request translated to the OpenAI-style
 * request the V4 encoder takes, and the prompt text (models/chat.c). Included
 * by examples/gds-server.c and by tests/fuzz/fuzz-server.c, which feeds it
 * arbitrary bodies. Static functions: each includer gets its own copy.
 */
#ifndef GDS_SERVER_API_H
#define GDS_SERVER_API_H

#include "chat.h"
#include "sampling.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STOP = 8 };

/* v is a number with an integer value in [lo, hi] (range first: a cast of an
 * out-of-range double to an integer is undefined) */
static bool json_int_in(const cJSON *v, double lo, double hi) {
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi && v->valuedouble == (double)(long long)v->valuedouble;
}
enum api { API_CHAT, API_COMPLETIONS, API_MESSAGES };

/* the server's defaults (its options) */
static struct {
    struct gds_sampler_params sp; /* set by the server from gds_sampler_default_params and its options */
    int n_predict;
    const char *model_id;
} api_def = { .n_predict = -1, .model_id = "model" };

struct buf {
    char *p;
    size_t n, cap;
};

static bool buf_add(struct buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

/* ---- request parameters ------------------------------------------------------- */

struct gen_params {
    bool chat, stream, include_usage;
    bool anthropic; /* /v1/messages: Anthropic request and response shapes */
    int max_tokens; /* -1: up to the context */
    struct gds_sampler_params sp;
    char *stop[MAX_STOP];
    int n_stop;
    bool thinking; /* the prompt ends in <think>: the text starts as reasoning */
};

static void gen_params_free(struct gen_params *p) {
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    p->n_stop = 0;
}

/* the fields both APIs share: stream, temperature (OpenAI [0, 2], Anthropic [0, 1]), top_p */
static bool read_sampling(const cJSON *req, struct gen_params *p, double temp_max, char *err, size_t n_err, const char **param) {
    const cJSON *v;
#define FIELD_ERR(name, ...) do { *param = name; snprintf(err, n_err, __VA_ARGS__); return false; } while (0)
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "stream")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) FIELD_ERR("stream", "'stream' must be a boolean");
        p->stream = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "temperature")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > temp_max)
            FIELD_ERR("temperature", "'temperature' must be a number in [0, %g]", temp_max);
        p->sp.temp = (float)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "top_p")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > 1) FIELD_ERR("top_p", "'top_p' must be a number in (0, 1]");
        p->sp.top_p = (float)v->valuedouble;
    }
#undef FIELD_ERR
    return true;
}

/* reads the common fields; on error writes the message and the field name */
static bool read_params(const cJSON *req, struct gen_params *p, char *err, size_t n_err, const char **param) {
    p->sp = api_def.sp;
    p->max_tokens = api_def.n_predict;
    const cJSON *v;
#define FIELD_ERR(name, ...) do { *param = name; snprintf(err, n_err, __VA_ARGS__); return false; } while (0)
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) FIELD_ERR("stream_options", "'stream_options' must be an object");
        v = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (v && !cJSON_IsBool(v)) FIELD_ERR("stream_options.include_usage", "'stream_options.include_usage' must be a boolean");
        p->include_usage = v && cJSON_IsTrue(v);
    }
    static const char *const mt[] = { "max_completion_tokens", "max_tokens" };
    for (int i = 0; i < 2; i++) {
        v = cJSON_GetObjectItemCaseSensitive(req, mt[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!json_int_in(v, 1, 1e9)) FIELD_ERR(mt[i], "'%s' must be a positive integer", mt[i]);
        p->max_tokens = (int)v->valuedouble;
        break;
    }
    if (!read_sampling(req, p, 2, err, n_err, param)) return false;
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "seed")) && !cJSON_IsNull(v)) {
        if (!json_int_in(v, 0, 9007199254740991.0)) FIELD_ERR("seed", "'seed' must be a non-negative integer");
        p->sp.seed = (uint64_t)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "stop")) && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v)) {
            if (*v->valuestring) p->stop[p->n_stop++] = strdup(v->valuestring);
        } else if (cJSON_IsArray(v)) {
            if (cJSON_GetArraySize(v) > 4) FIELD_ERR("stop", "'stop' has more than 4 strings");
            const cJSON *s;
            cJSON_ArrayForEach(s, v) {
                if (!cJSON_IsString(s)) FIELD_ERR("stop", "'stop' must be a string or an array of strings");
                if (*s->valuestring) p->stop[p->n_stop++] = strdup(s->valuestring);
            }
        } else FIELD_ERR("stop", "'stop' must be a string or an array of strings");
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "model")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) FIELD_ERR("model", "'model' must be a string");
        if (strcmp(v->valuestring, api_def.model_id) != 0) {
            *param = "model";
            snprintf(err, n_err, "The model '%s' does not exist; this server has '%s'", v->valuestring, api_def.model_id);
            return false;
        }
    }
#undef FIELD_ERR
    return true;
}

/* ---- the Anthropic Messages API ------------------------------------------------- */

/* text of a string or an array of {"type": "text", "text"} blocks (NULL: neither) */
static char *anth_text(const cJSON *v, char *err, size_t n_err, const char *what) {
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (!cJSON_IsArray(v)) { snprintf(err, n_err, "'%s' must be a string or an array of text blocks", what); return NULL; }
    struct buf b = { 0 };
    buf_add(&b, "", 0);
    const cJSON *blk;
    cJSON_ArrayForEach(blk, v) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(blk, "text");
        if (!cJSON_IsObject(blk) || strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(blk, "type")) ? cJSON_GetStringValue(cJSON_GetObjectItem(blk, "type")) : "", "text") || !cJSON_IsString(t)) {
            snprintf(err, n_err, "'%s': only text blocks are supported here", what);
            free(b.p);
            return NULL;
        }
        if (b.n) buf_add(&b, "\n", 1);
        buf_add(&b, t->valuestring, strlen(t->valuestring));
    }
    return b.p;
}

/* an Anthropic request -> the OpenAI-style request the V4 encoder takes (messages, tools, thinking_mode) */
static cJSON *anth_to_openai(const cJSON *req, char *err, size_t n_err, const char **param) {
    cJSON *o = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(o, "messages");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(req, "system");
    if (sys && !cJSON_IsNull(sys)) {
        char *t = anth_text(sys, err, n_err, "system");
        if (!t) { *param = "system"; cJSON_Delete(o); return NULL; }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", t);
        free(t);
        cJSON_AddItemToArray(msgs, m);
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(req, "messages"), *m;
    *param = "messages";
    if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) == 0) { snprintf(err, n_err, "'messages' must be a non-empty array"); cJSON_Delete(o); return NULL; }
    int k = 0;
    cJSON_ArrayForEach(m, in) {
        const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "role"));
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant"))) {
            snprintf(err, n_err, "messages[%d].role must be \"user\" or \"assistant\"", k);
            cJSON_Delete(o);
            return NULL;
        }
        const bool user = !strcmp(role, "user");
        struct buf text = { 0 }, thinking = { 0 };
        buf_add(&text, "", 0);
        buf_add(&thinking, "", 0);
        cJSON *calls = NULL;
        bool ok = true;
        if (cJSON_IsString(content)) buf_add(&text, content->valuestring, strlen(content->valuestring));
        else if (cJSON_IsArray(content)) {
            const cJSON *blk;
            cJSON_ArrayForEach(blk, content) {
                const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "type"));
                if (!type) { snprintf(err, n_err, "messages[%d]: a content block without a type", k); ok = false; break; }
                if (!strcmp(type, "text")) {
                    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "text"));
                    if (!t) { snprintf(err, n_err, "messages[%d]: a text block without text", k); ok = false; break; }
                    if (text.n) buf_add(&text, "\n", 1);
                    buf_add(&text, t, strlen(t));
                } else if (!strcmp(type, "thinking") && !user) {
                    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "thinking"));
                    if (t) buf_add(&thinking, t, strlen(t));
                } else if (!strcmp(type, "redacted_thinking") && !user) {
                } else if (!strcmp(type, "tool_use") && !user) {
                    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "id"));
                    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "name"));
                    const cJSON *input = cJSON_GetObjectItemCaseSensitive(blk, "input");
                    if (!id || !name || !cJSON_IsObject(input)) { snprintf(err, n_err, "messages[%d]: tool_use needs id, name and an input object", k); ok = false; break; }
                    if (!calls) calls = cJSON_CreateArray();
                    cJSON *c = cJSON_CreateObject(), *f = cJSON_CreateObject();
                    cJSON_AddStringToObject(c, "id", id);
                    cJSON_AddStringToObject(c, "type", "function");
                    cJSON_AddStringToObject(f, "name", name);
                    char *args = cJSON_PrintUnformatted(input);
                    cJSON_AddStringToObject(f, "arguments", args ? args : "{}");
                    free(args);
                    cJSON_AddItemToObject(c, "function", f);
                    cJSON_AddItemToArray(calls, c);
                } else if (!strcmp(type, "tool_result") && user) {
                    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(blk, "tool_use_id"));
                    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(blk, "content");
                    char *t = rc ? anth_text(rc, err, n_err, "tool_result.content") : strdup("");
                    if (!id || !t) { if (!id) snprintf(err, n_err, "messages[%d]: tool_result needs tool_use_id", k); free(t); ok = false; break; }
                    cJSON *tm = cJSON_CreateObject();
                    cJSON_AddStringToObject(tm, "role", "tool");
                    cJSON_AddStringToObject(tm, "tool_call_id", id);
                    cJSON_AddStringToObject(tm, "content", t);
                    free(t);
                    cJSON_AddItemToArray(msgs, tm);
                } else {
                    snprintf(err, n_err, "messages[%d]: content blocks of type '%s' are not supported in a %s message", k, type, role);
                    ok = false;
                    break;
                }
            }
        } else {
            snprintf(err, n_err, "messages[%d].content must be a string or an array of content blocks", k);
            ok = false;
        }
        if (ok && (text.n || !user || !cJSON_IsArray(content))) {
            cJSON *om = cJSON_CreateObject();
            cJSON_AddStringToObject(om, "role", role);
            cJSON_AddStringToObject(om, "content", text.p);
            if (thinking.n) cJSON_AddStringToObject(om, "reasoning_content", thinking.p);
            if (calls) { cJSON_AddItemToObject(om, "tool_calls", calls); calls = NULL; }
            cJSON_AddItemToArray(msgs, om);
        }
        cJSON_Delete(calls);
        free(text.p);
        free(thinking.p);
        if (!ok) { cJSON_Delete(o); return NULL; }
        k++;
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools"), *t;
    if (tools && !cJSON_IsNull(tools)) {
        *param = "tools";
        if (!cJSON_IsArray(tools)) { snprintf(err, n_err, "'tools' must be an array"); cJSON_Delete(o); return NULL; }
        cJSON *ot = cJSON_AddArrayToObject(o, "tools");
        cJSON_ArrayForEach(t, tools) {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
            const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
            if (!name || (schema && !cJSON_IsObject(schema))) { snprintf(err, n_err, "a tool needs a name and an input_schema object"); cJSON_Delete(o); return NULL; }
            cJSON *x = cJSON_CreateObject(), *f = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "type", "function");
            cJSON_AddStringToObject(f, "name", name);
            const char *desc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "description"));
            if (desc) cJSON_AddStringToObject(f, "description", desc);
            cJSON_AddItemToObject(f, "parameters", schema ? cJSON_Duplicate(schema, true) : cJSON_CreateObject());
            cJSON_AddItemToObject(x, "function", f);
            cJSON_AddItemToArray(ot, x);
        }
    }
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(req, "thinking");
    if (th && !cJSON_IsNull(th)) {
        *param = "thinking";
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(th, "type"));
        if (!type || (strcmp(type, "enabled") && strcmp(type, "disabled"))) { snprintf(err, n_err, "'thinking.type' must be \"enabled\" or \"disabled\""); cJSON_Delete(o); return NULL; }
        cJSON_AddStringToObject(o, "thinking_mode", strcmp(type, "enabled") ? "chat" : "thinking");
    }
    *param = NULL;
    return o;
}

/* Anthropic sampling fields: max_tokens (required), stop_sequences, temperature, top_p, stream, model */
static bool read_params_anth(const cJSON *req, struct gen_params *p, char *err, size_t n_err, const char **param) {
    p->sp = api_def.sp;
    const cJSON *v;
#define FIELD_ERR(name, ...) do { *param = name; snprintf(err, n_err, __VA_ARGS__); return false; } while (0)
    v = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    if (!json_int_in(v, 1, 1e9)) FIELD_ERR("max_tokens", "'max_tokens' is required and must be a positive integer");
    p->max_tokens = (int)v->valuedouble;
    if (!read_sampling(req, p, 1, err, n_err, param)) return false;
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "top_k")) && !cJSON_IsNull(v) && !cJSON_IsNumber(v)) FIELD_ERR("top_k", "'top_k' must be a number");
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "stop_sequences")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > MAX_STOP) FIELD_ERR("stop_sequences", "'stop_sequences' must be an array of at most %d strings", MAX_STOP);
        const cJSON *s;
        cJSON_ArrayForEach(s, v) {
            if (!cJSON_IsString(s)) FIELD_ERR("stop_sequences", "'stop_sequences' must be an array of strings");
            if (*s->valuestring) p->stop[p->n_stop++] = strdup(s->valuestring);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(req, "model")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v)) FIELD_ERR("model", "'model' must be a string");
        if (strcmp(v->valuestring, api_def.model_id) != 0) FIELD_ERR("model", "model: %s (this server has '%s') does not exist", v->valuestring, api_def.model_id);
    }
#undef FIELD_ERR
    return true;
}

/* The prompt text of a request (malloc'd; *plen bytes; *bos: add the BOS
 * token before it), with p filled from the request's fields; NULL with err,
 * the field (*param), an error code and the HTTP status otherwise. For
 * /v1/messages *req is replaced by the OpenAI request it translates to. */
static char *api_request(cJSON **req, enum api api, struct gen_params *p, size_t *plen, bool *bos, char *err, size_t n_err, const char **param,
                         const char **code, unsigned *status) {
    *param = NULL;
    *code = "invalid_value";
    *status = 400;
    *bos = false;
    p->chat = api != API_COMPLETIONS;
    p->anthropic = api == API_MESSAGES;
    if (!(api == API_MESSAGES ? read_params_anth : read_params)(*req, p, err, n_err, param)) {
        if (*param && !strcmp(*param, "model") && strstr(err, "does not exist")) { *status = 404; *code = "model_not_found"; }
        return NULL;
    }
    if (api == API_MESSAGES) { /* the rest goes as the OpenAI request it translates to */
        cJSON *oa = anth_to_openai(*req, err, n_err, param);
        if (!oa) return NULL;
        cJSON_Delete(*req);
        *req = oa;
    }
    if (api == API_COMPLETIONS) {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(*req, "prompt");
        if (!cJSON_IsString(pr)) { *param = "prompt"; snprintf(err, n_err, "'prompt' must be a string"); return NULL; }
        char *t = strdup(pr->valuestring);
        if (!t) { *status = 500; *code = NULL; snprintf(err, n_err, "out of memory"); return NULL; }
        *plen = strlen(t);
        *bos = true;
        return t;
    }
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(*req, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) { *param = "messages"; snprintf(err, n_err, "'messages' must be a non-empty array"); return NULL; }
    struct gds_chat_params cp;
    gds_chat_params_init(&cp);
    char *t = gds_chat_encode_request(*req, &cp, plen, err, n_err);
    if (!t) { *param = "messages"; return NULL; }
    const size_t tl = strlen(GDS_CHAT_THINK);
    p->thinking = *plen >= tl && memcmp(t + *plen - tl, GDS_CHAT_THINK, tl) == 0;
    return t;
}

#endif /* GDS_SERVER_API_H */
