/*
 * hf-tokenizer.c - tokenizer.json / tokenizer_config.json reader (see
 * hf-tokenizer.h). Every id is range-checked against the config's
 * vocab_size; a token id defined twice with different strings is an error.
 */
#include "hf-tokenizer.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void hf_tokenizer_free(struct hf_tokenizer *t) {
    for (int i = 0; t->tokens && i < t->n_vocab; i++) free(t->tokens[i]);
    for (int64_t i = 0; i < t->n_merges; i++) free(t->merges[i]);
    for (int i = 0; i < t->n_regex; i++) free(t->regex[i]);
    free(t->tokens); free(t->types); free(t->merges); free(t->regex); free(t->chat_template);
    memset(t, 0, sizeof(*t));
}

static int find_token(const struct hf_tokenizer *t, const char *s) {
    for (int i = 0; i < t->n_vocab; i++) if (t->tokens[i] && strcmp(t->tokens[i], s) == 0) return i;
    return -1;
}

/* "bos_token": "<s>" or {"content": "<s>", ...} */
static const char *special_str(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static enum gds_status set_token(struct hf_tokenizer *t, const char *path, int64_t id, const char *s, int type) {
    if (id < 0 || id >= t->n_vocab)
        return gds_error(GDS_ERR_FORMAT, "%s: token '%s' has id %lld, outside the model's vocab_size %d", path, s, (long long)id, t->n_vocab);
    if (t->tokens[id]) {
        if (strcmp(t->tokens[id], s) != 0)
            return gds_error(GDS_ERR_FORMAT, "%s: token id %lld is defined twice ('%s' and '%s')", path, (long long)id, t->tokens[id], s);
        if (type != HF_TOK_NORMAL) t->types[id] = type;
        return GDS_OK;
    }
    t->tokens[id] = strdup(s);
    if (!t->tokens[id]) return gds_error(GDS_ERR_NOMEM, "out of memory");
    t->types[id] = type;
    t->n_defined++;
    return GDS_OK;
}

static enum gds_status add_regex(struct hf_tokenizer *t, const cJSON *pt) {
    if (!cJSON_IsObject(pt)) return GDS_OK;
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (!cJSON_IsString(ty)) return GDS_OK;
    if (strcmp(ty->valuestring, "Sequence") == 0) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
        for (const cJSON *e = cJSON_IsArray(l) ? l->child : NULL; e; e = e->next) {
            enum gds_status st = add_regex(t, e);
            if (st != GDS_OK) return st;
        }
    } else if (strcmp(ty->valuestring, "Split") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "Regex");
        if (cJSON_IsString(r)) {
            char **n = realloc(t->regex, (size_t)(t->n_regex + 1) * sizeof(*n));
            if (!n) return gds_error(GDS_ERR_NOMEM, "out of memory");
            t->regex = n;
            if (!(t->regex[t->n_regex++] = strdup(r->valuestring))) return gds_error(GDS_ERR_NOMEM, "out of memory");
        }
    }
    return GDS_OK;
}

enum gds_status hf_tokenizer_load(struct hf_tokenizer *t, const char *dir, int vocab_size,
                                  int cfg_bos, int cfg_eos, bool *found) {
    memset(t, 0, sizeof(*t));
    *found = false;
    char path[4096], cpath[4096];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    snprintf(cpath, sizeof(cpath), "%s/tokenizer_config.json", dir);
    size_t len;
    bool missing;
    char *txt = st_read_file(path, &len, &missing);
    if (!txt) {
        if (missing) return GDS_OK;
        return gds_error(GDS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    *found = true;
    cJSON *doc = cJSON_ParseWithLength(txt, len);
    free(txt);
    if (!doc) return gds_error(GDS_ERR_FORMAT, "%s: invalid JSON", path);
    cJSON *cfg = NULL;
    enum gds_status st = GDS_OK;
    t->n_vocab = vocab_size;
    t->tokens = calloc((size_t)vocab_size, sizeof(*t->tokens));
    t->types = calloc((size_t)vocab_size, sizeof(*t->types));
    t->bos = t->eos = t->pad = -1;
    if (!t->tokens || !t->types) { st = gds_error(GDS_ERR_NOMEM, "out of memory"); goto done; }

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    const cJSON *mty = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (mty && (!cJSON_IsString(mty) || strcmp(mty->valuestring, "BPE") != 0))) {
        st = gds_error(GDS_ERR_UNSUPPORTED, "%s: field 'model.type' must be \"BPE\" (byte-level BPE)", path); goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) { st = gds_error(GDS_ERR_FORMAT, "%s: field 'model.vocab' must be an object", path); goto done; }
    for (const cJSON *e = vocab->child; e && st == GDS_OK; e = e->next) {
        if (!cJSON_IsNumber(e)) { st = gds_error(GDS_ERR_FORMAT, "%s: model.vocab['%s'] is not an id", path, e->string); break; }
        st = set_token(t, path, (int64_t)e->valuedouble, e->string, HF_TOK_NORMAL);
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(doc, "added_tokens");
    for (const cJSON *e = cJSON_IsArray(added) ? added->child : NULL; e && st == GDS_OK; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id"), *ct = cJSON_GetObjectItemCaseSensitive(e, "content");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "special");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(ct)) { st = gds_error(GDS_ERR_FORMAT, "%s: added_tokens entry without id/content", path); break; }
        st = set_token(t, path, (int64_t)id->valuedouble, ct->valuestring, cJSON_IsTrue(sp) ? HF_TOK_CONTROL : HF_TOK_USER_DEFINED);
    }
    if (st != GDS_OK) goto done;
    for (int i = 0; i < vocab_size; i++) {
        if (t->tokens[i]) continue;
        char b[32];
        snprintf(b, sizeof(b), "[PAD%d]", i);
        if (!(t->tokens[i] = strdup(b))) { st = gds_error(GDS_ERR_NOMEM, "out of memory"); goto done; }
        t->types[i] = HF_TOK_UNUSED;
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (merges && !cJSON_IsArray(merges)) { st = gds_error(GDS_ERR_FORMAT, "%s: field 'model.merges' must be an array", path); goto done; }
    int64_t nm = merges ? cJSON_GetArraySize(merges) : 0;
    t->merges = calloc((size_t)(nm ? nm : 1), sizeof(*t->merges));
    if (!t->merges) { st = gds_error(GDS_ERR_NOMEM, "out of memory"); goto done; }
    for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next) {
        char *m = NULL;
        if (cJSON_IsString(e)) m = strdup(e->valuestring);
        else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
            size_t l = strlen(e->child->valuestring) + strlen(e->child->next->valuestring) + 2;
            if ((m = malloc(l))) snprintf(m, l, "%s %s", e->child->valuestring, e->child->next->valuestring);
        } else {
            st = gds_error(GDS_ERR_FORMAT, "%s: model.merges[%lld] is neither \"a b\" nor [\"a\", \"b\"]", path, (long long)t->n_merges);
            goto done;
        }
        if (!m) { st = gds_error(GDS_ERR_NOMEM, "out of memory"); goto done; }
        t->merges[t->n_merges++] = m;
    }
    if ((st = add_regex(t, cJSON_GetObjectItemCaseSensitive(doc, "pre_tokenizer"))) != GDS_OK) goto done;

    /* tokenizer_config.json: special tokens, add_bos/eos, chat template */
    txt = st_read_file(cpath, &len, &missing);
    if (!txt && !missing) { st = gds_error(GDS_ERR_IO, "%s: cannot read: %s", cpath, strerror(errno)); goto done; }
    if (txt) {
        cfg = cJSON_ParseWithLength(txt, len);
        free(txt);
        if (!cfg) { st = gds_error(GDS_ERR_FORMAT, "%s: invalid JSON", cpath); goto done; }
        const char *s;
        if ((s = special_str(cfg, "bos_token"))) t->bos = find_token(t, s);
        if ((s = special_str(cfg, "eos_token"))) t->eos = find_token(t, s);
        if ((s = special_str(cfg, "pad_token"))) t->pad = find_token(t, s);
        t->add_bos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token"));
        t->add_eos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token"));
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        if (cJSON_IsString(ct) && !(t->chat_template = strdup(ct->valuestring))) { st = gds_error(GDS_ERR_NOMEM, "out of memory"); goto done; }
    }
    if (t->bos < 0) t->bos = cfg_bos;
    if (t->eos < 0) t->eos = cfg_eos;
done:
    cJSON_Delete(cfg);
    cJSON_Delete(doc);
    if (st != GDS_OK) hf_tokenizer_free(t);
    return st;
}
