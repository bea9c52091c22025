/*
 * chat.c - DeepSeek-V4 prompt encoding and completion parsing (see chat.h).
 *
 * A port of the official encoding_dsv4.py, organised as the reference is:
 *   1. strict JSON in (cJSON does the tree; a scanner in front enforces the
 *      RFC grammar and UTF-8 and keeps each number's literal) and Python's
 *      json.dumps(ensure_ascii=False) out;
 *   2. messages -> internal structs (validated once), merge_tool_messages,
 *      sort_tool_results_by_call_order, _drop_thinking_messages, then
 *      render_message per message, concatenated after BOS;
 *   3. parse_message_from_completion_text with the reference's exact
 *      stop-string scanning and its two regexes reimplemented by hand.
 * Invariants: all text is byte strings of valid UTF-8 (every stop string and
 * regex literal is ASCII or a whole UTF-8 sequence, so byte search equals the
 * reference's code-point search); nothing here aborts on bad input: errors
 * travel back as NULL plus a message.
 */
#include "chat.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GDS_CHAT_MAX_DEPTH 512

/* ------------------------------------------------------------------------ */
/* errors and a growing string buffer                                        */

struct gds_chat_err {
    char *buf;
    size_t size;
    int set;
};

static void chat_err(struct gds_chat_err *e, const char *fmt, ...) {
    if (e->set) return;
    e->set = 1;
    if (!e->buf || e->size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->size, fmt, ap);
    va_end(ap);
}

struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX / 2 - b->n) { b->oom = 1; return; }
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* hands the string over (never NULL unless out of memory) */
static char *sb_take(struct sbuf *b, size_t *len) {
    if (!b->oom && !b->p) sb_put(b, "", 0);
    if (b->oom) { free(b->p); b->p = NULL; return NULL; }
    char *r = b->p;
    if (len) *len = b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    return r;
}

static int mem_eq(const char *a, size_t an, const char *b) {
    size_t bn = strlen(b);
    return an == bn && memcmp(a, b, bn) == 0;
}

static int ends_with(const char *s, size_t n, const char *suf) {
    size_t m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                     */

/* length of the valid UTF-8 sequence at s (1..4), 0 if invalid */
static int utf8_len(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* 1 if text is valid UTF-8 without NUL; else 0 and the bad offset */
static int utf8_check(const char *text, size_t n, size_t *bad) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l = utf8_len(s + i, n - i, &cp);
        if (l == 0 || cp == 0) { *bad = i; return 0; }
        i += (size_t)l;
    }
    return 1;
}

/* Python's str.isspace() (what \s matches in a str regex) */
static int py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ------------------------------------------------------------------------ */
/* strict JSON scanner: grammar check + number literals in document order    */

struct jscan {
    const char *s;
    size_t n, i;
    size_t *lex; /* (offset, length) pairs */
    size_t nlex, caplex;
    struct gds_chat_err *e;
};

static int js_fail(struct jscan *j, const char *what) {
    chat_err(j->e, "invalid JSON at byte %zu: %s", j->i, what);
    return 0;
}

static void js_ws(struct jscan *j) {
    while (j->i < j->n) {
        char c = j->s[j->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        j->i++;
    }
}

static int js_hex4(struct jscan *j, unsigned *v) {
    if (j->n - j->i < 4) return 0;
    unsigned r = 0;
    for (int k = 0; k < 4; k++) {
        char c = j->s[j->i + (size_t)k];
        r <<= 4;
        if (c >= '0' && c <= '9') r |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') r |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') r |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    j->i += 4;
    *v = r;
    return 1;
}

static int js_string(struct jscan *j) {
    j->i++; /* opening quote */
    for (;;) {
        if (j->i >= j->n) return js_fail(j, "unterminated string");
        unsigned char c = (unsigned char)j->s[j->i];
        if (c == '"') { j->i++; return 1; }
        if (c < 0x20) return js_fail(j, "control character in string");
        if (c != '\\') { j->i++; continue; }
        j->i++;
        if (j->i >= j->n) return js_fail(j, "unterminated string");
        c = (unsigned char)j->s[j->i++];
        if (strchr("\"\\/bfnrt", c) && c) continue;
        if (c != 'u') { j->i--; return js_fail(j, "invalid escape"); }
        unsigned v;
        if (!js_hex4(j, &v)) return js_fail(j, "invalid \\u escape");
        if (v == 0) return js_fail(j, "\\u0000 in strings is not supported");
        if (v >= 0xDC00 && v <= 0xDFFF) return js_fail(j, "lone surrogate in \\u escape");
        if (v >= 0xD800 && v <= 0xDBFF) {
            unsigned w;
            if (j->n - j->i < 2 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') return js_fail(j, "lone surrogate in \\u escape");
            j->i += 2;
            if (!js_hex4(j, &w) || w < 0xDC00 || w > 0xDFFF) return js_fail(j, "lone surrogate in \\u escape");
        }
    }
}

static int js_digits(struct jscan *j) {
    size_t s = j->i;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') j->i++;
    return j->i > s;
}

static int js_number(struct jscan *j) {
    size_t start = j->i;
    if (j->s[j->i] == '-') j->i++;
    if (j->i >= j->n) return js_fail(j, "invalid number");
    if (j->s[j->i] == '0') j->i++;
    else if (!js_digits(j)) return js_fail(j, "invalid number");
    if (j->i < j->n && j->s[j->i] == '.') {
        j->i++;
        if (!js_digits(j)) return js_fail(j, "invalid number");
    }
    if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-')) j->i++;
        if (!js_digits(j)) return js_fail(j, "invalid number");
    }
    if (j->nlex == j->caplex) {
        size_t c = j->caplex ? j->caplex * 2 : 16;
        size_t *q = realloc(j->lex, c * 2 * sizeof(size_t));
        if (!q) { chat_err(j->e, "out of memory"); return 0; }
        j->lex = q;
        j->caplex = c;
    }
    j->lex[2 * j->nlex] = start;
    j->lex[2 * j->nlex + 1] = j->i - start;
    j->nlex++;
    return 1;
}

static int js_value(struct jscan *j, int depth) {
    js_ws(j);
    if (j->i >= j->n) return js_fail(j, "unexpected end of input");
    char c = j->s[j->i];
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        if (depth >= GDS_CHAT_MAX_DEPTH) return js_fail(j, "nesting too deep");
        j->i++;
        js_ws(j);
        if (j->i < j->n && j->s[j->i] == close) { j->i++; return 1; }
        for (;;) {
            if (c == '{') {
                js_ws(j);
                if (j->i >= j->n || j->s[j->i] != '"') return js_fail(j, "expected a string key");
                if (!js_string(j)) return 0;
                js_ws(j);
                if (j->i >= j->n || j->s[j->i] != ':') return js_fail(j, "expected ':'");
                j->i++;
            }
            if (!js_value(j, depth + 1)) return 0;
            js_ws(j);
            if (j->i < j->n && j->s[j->i] == ',') { j->i++; continue; }
            if (j->i < j->n && j->s[j->i] == close) { j->i++; return 1; }
            return js_fail(j, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') return js_string(j);
    if (c == '-' || (c >= '0' && c <= '9')) return js_number(j);
    static const char *const lits[] = { "true", "false", "null" };
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (j->n - j->i >= l && memcmp(j->s + j->i, lits[k], l) == 0) { j->i += l; return 1; }
    }
    return js_fail(j, "unexpected character");
}

/* gives every number node (document order) its literal */
static int attach_lexemes(cJSON *it, const struct jscan *j, size_t *k) {
    for (; it; it = it->next) {
        if (cJSON_IsNumber(it)) {
            if (*k >= j->nlex) return 0;
            size_t off = j->lex[2 * *k], len = j->lex[2 * *k + 1];
            char *s = malloc(len + 1);
            if (!s) return 0;
            memcpy(s, j->s + off, len);
            s[len] = 0;
            it->valuestring = s;
            (*k)++;
        }
        if (it->child && !attach_lexemes(it->child, j, k)) return 0;
    }
    return 1;
}

struct keyref {
    cJSON *item;
    size_t pos;
};

static int keyref_cmp(const void *a, const void *b) {
    const struct keyref *x = a, *y = b;
    int c = strcmp(x->item->string, y->item->string);
    if (c) return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Python dict semantics for repeated keys: first position, last value */
static int dedupe_keys(cJSON *node) {
    for (cJSON *it = node; it; it = it->next) {
        if (cJSON_IsObject(it) && it->child && it->child->next) {
            size_t n = 0;
            for (cJSON *c = it->child; c; c = c->next) n++;
            struct keyref *r = malloc(n * sizeof *r);
            if (!r) return 0;
            size_t k = 0;
            for (cJSON *c = it->child; c; c = c->next, k++) r[k] = (struct keyref){ c, k };
            qsort(r, n, sizeof *r, keyref_cmp);
            for (size_t a = 0; a < n;) {
                size_t b = a + 1;
                while (b < n && strcmp(r[a].item->string, r[b].item->string) == 0) b++;
                if (b - a > 1) {
                    cJSON *last = cJSON_DetachItemViaPointer(it, r[b - 1].item);
                    for (size_t m = a + 1; m < b - 1; m++) cJSON_Delete(cJSON_DetachItemViaPointer(it, r[m].item));
                    cJSON_ReplaceItemViaPointer(it, r[a].item, last);
                }
                a = b;
            }
            free(r);
        }
        if (it->child && !dedupe_keys(it->child)) return 0;
    }
    return 1;
}

static cJSON *json_parse(const char *text, size_t len, struct gds_chat_err *e) {
    size_t bad;
    if (!text) { chat_err(e, "no input"); return NULL; }
    if (!utf8_check(text, len, &bad)) {
        if (text[bad] == 0) chat_err(e, "NUL byte at offset %zu", bad);
        else chat_err(e, "invalid UTF-8 at byte offset %zu", bad);
        return NULL;
    }
    struct jscan j = { .s = text, .n = len, .e = e };
    if (!js_value(&j, 0)) { free(j.lex); return NULL; }
    js_ws(&j);
    if (j.i != j.n) { js_fail(&j, "extra data after the JSON value"); free(j.lex); return NULL; }
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, NULL, 0);
    size_t k = 0;
    if (!root || !attach_lexemes(root, &j, &k) || k != j.nlex || !dedupe_keys(root)) {
        chat_err(e, root ? "out of memory" : "cJSON rejected the input (out of memory?)");
        cJSON_Delete(root);
        free(j.lex);
        return NULL;
    }
    free(j.lex);
    return root;
}

cJSON *gds_chat_json_parse(const char *text, size_t len, char *err, size_t err_size) {
    struct gds_chat_err e = { err, err_size, 0 };
    return json_parse(text, len, &e);
}

/* ------------------------------------------------------------------------ */
/* json.dumps(ensure_ascii=False)                                            */

static void dump_str(struct sbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) { snprintf(tmp, sizeof tmp, "\\u%04x", c); esc = tmp; }
        }
        if (esc) {
            sb_put(b, s + run, i - run);
            sb_puts(b, esc);
            run = i + 1;
        }
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

/* Python repr(float): shortest round-trip digits; fixed notation for
 * -4 < exponent10 < 16, else d.ddde+XX */
static void dump_float(struct sbuf *b, double v) {
    if (isnan(v)) { sb_puts(b, "NaN"); return; }
    if (isinf(v)) { sb_puts(b, v < 0 ? "-Infinity" : "Infinity"); return; }
    if (v == 0) { sb_puts(b, signbit(v) ? "-0.0" : "0.0"); return; }
    char tmp[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp: [-]d[.ddd]e[+-]xx */
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    char dig[32];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < 31) dig[nd++] = *p;
    int e10 = atoi(p + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = 0;
    int decpt = e10 + 1; /* value = 0.dig * 10^decpt */
    if (neg) sb_put(b, "-", 1);
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            sb_put(b, "0.", 2);
            for (int k = 0; k < -decpt; k++) sb_put(b, "0", 1);
            sb_put(b, dig, (size_t)nd);
        } else if (decpt >= nd) {
            sb_put(b, dig, (size_t)nd);
            for (int k = nd; k < decpt; k++) sb_put(b, "0", 1);
            sb_put(b, ".0", 2);
        } else {
            sb_put(b, dig, (size_t)decpt);
            sb_put(b, ".", 1);
            sb_put(b, dig + decpt, (size_t)(nd - decpt));
        }
    } else {
        sb_put(b, dig, 1);
        if (nd > 1) {
            sb_put(b, ".", 1);
            sb_put(b, dig + 1, (size_t)(nd - 1));
        }
        snprintf(tmp, sizeof tmp, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
        sb_puts(b, tmp);
    }
}

static void dump_number(struct sbuf *b, const cJSON *it) {
    const char *lex = it->valuestring;
    if (lex && *lex) {
        if (!strpbrk(lex, ".eE")) { /* int: as written ("-0" is 0) */
            sb_puts(b, strcmp(lex, "-0") == 0 ? "0" : lex);
            return;
        }
        dump_float(b, strtod(lex, NULL));
        return;
    }
    /* built in C (no literal): integral values print as ints */
    double v = it->valuedouble;
    if (isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.0f", v);
        sb_puts(b, strcmp(tmp, "-0") == 0 ? "0" : tmp);
        return;
    }
    dump_float(b, v);
}

static void dump_value(struct sbuf *b, const cJSON *it) {
    if (cJSON_IsFalse(it)) sb_puts(b, "false");
    else if (cJSON_IsTrue(it)) sb_puts(b, "true");
    else if (cJSON_IsNull(it)) sb_puts(b, "null");
    else if (cJSON_IsNumber(it)) dump_number(b, it);
    else if (cJSON_IsString(it)) dump_str(b, it->valuestring ? it->valuestring : "", it->valuestring ? strlen(it->valuestring) : 0);
    else if (cJSON_IsRaw(it)) sb_puts(b, it->valuestring ? it->valuestring : "");
    else if (cJSON_IsArray(it) || cJSON_IsObject(it)) {
        int obj = cJSON_IsObject(it);
        sb_put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = it->child; c; c = c->next) {
            if (c != it->child) sb_put(b, ", ", 2);
            if (obj) {
                const char *k = c->string ? c->string : "";
                dump_str(b, k, strlen(k));
                sb_put(b, ": ", 2);
            }
            dump_value(b, c);
        }
        sb_put(b, obj ? "}" : "]", 1);
    } else sb_puts(b, "null");
}

char *gds_chat_json_dumps(const cJSON *item, size_t *len) {
    struct sbuf b = { 0 };
    if (item) dump_value(&b, item);
    return sb_take(&b, len);
}

/* ------------------------------------------------------------------------ */
/* encoder                                                                   */

enum { R_SYSTEM, R_USER, R_ASSISTANT, R_TOOL, R_DEVELOPER, R_REMINDER };
static const char *const role_names[] = { "system", "user", "assistant", "tool", "developer", "latest_reminder" };

static const char *const task_names[] = { "action", "query", "authority", "domain", "title", "read_url" };
static const char *const task_tokens[] = { "<｜action｜>", "<｜query｜>", "<｜authority｜>",
                                           "<｜domain｜>", "<｜title｜>", "<｜read_url｜>" };

static const char REASONING_EFFORT_MAX[] =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

static const char TOOLS_HEAD[] =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    "\"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, "
    "booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";
static const char TOOLS_TAIL[] =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";

static const char RESPONSE_FORMAT_HEAD[] =
    "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

struct block {
    int is_tool;
    const cJSON *value;      /* text block: the user content; tool block: the tool content */
    const char *tool_use_id; /* "" if none */
};

struct msg {
    int role;
    int src_index;           /* position in the caller's list (errors) */
    const cJSON *content;
    const cJSON *tools;      /* truthy tools array (system/developer/assistant/latest_reminder) */
    const cJSON *response_format;
    const cJSON *tool_calls; /* truthy array (assistant) */
    const cJSON *reasoning;
    const char *tool_call_id; /* tool: "" if none */
    int task;                /* -1 none, else index into task_names */
    int wo_eos;
    int drop_reasoning;
    struct block *blocks;    /* users after merge_tool_messages */
    int nblocks, capblocks;
};

struct enc {
    struct gds_chat_err *e;
    struct sbuf out;
    int thinking, effort, drop;
};

/* Python truthiness of a JSON value */
static int py_truthy(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsTrue(v)) return 1;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return v->valuestring && v->valuestring[0];
    return v->child != NULL;
}

static const cJSON *get(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* content: absent/null -> "", string, or a list of {"type": "text", "text"} parts */
static int check_content(struct enc *x, const cJSON *v, int idx) {
    if (!v || cJSON_IsNull(v) || cJSON_IsString(v)) return 1;
    if (cJSON_IsArray(v)) {
        for (const cJSON *p = v->child; p; p = p->next) {
            const cJSON *t = cJSON_IsObject(p) ? get(p, "type") : NULL;
            if (!cJSON_IsString(t)) { chat_err(x->e, "message %d: content part without a \"type\"", idx); return 0; }
            if (strcmp(t->valuestring, "text") != 0) {
                chat_err(x->e, "message %d: unsupported content part type \"%s\"", idx, t->valuestring);
                return 0;
            }
            const cJSON *tx = get(p, "text");
            if (tx && !cJSON_IsNull(tx) && !cJSON_IsString(tx)) {
                chat_err(x->e, "message %d: content part \"text\" must be a string", idx);
                return 0;
            }
        }
        return 1;
    }
    chat_err(x->e, "message %d: \"content\" must be a string, null or a list of text parts", idx);
    return 0;
}

static void put_content(struct sbuf *b, const cJSON *v) {
    if (cJSON_IsString(v)) sb_puts(b, v->valuestring);
    else if (cJSON_IsArray(v))
        for (const cJSON *p = v->child; p; p = p->next) {
            const cJSON *tx = get(p, "text");
            if (cJSON_IsString(tx)) sb_puts(b, tx->valuestring);
        }
}

/* tool message content: string, null, or a list of blocks joined by "\n\n" */
static int check_tool_content(struct enc *x, const cJSON *v, int idx) {
    if (!v || cJSON_IsNull(v) || cJSON_IsString(v)) return 1;
    if (cJSON_IsArray(v)) {
        for (const cJSON *p = v->child; p; p = p->next) {
            const cJSON *t = cJSON_IsObject(p) ? get(p, "type") : NULL;
            if (!cJSON_IsObject(p) || (t && !cJSON_IsNull(t) && !cJSON_IsString(t))) {
                chat_err(x->e, "message %d: tool content blocks must be objects with a string \"type\"", idx);
                return 0;
            }
            const cJSON *tx = get(p, "text");
            if (cJSON_IsString(t) && !strcmp(t->valuestring, "text") && tx && !cJSON_IsNull(tx) && !cJSON_IsString(tx)) {
                chat_err(x->e, "message %d: tool content \"text\" must be a string", idx);
                return 0;
            }
        }
        return 1;
    }
    chat_err(x->e, "message %d: tool \"content\" must be a string, null or a list", idx);
    return 0;
}

static void put_tool_content(struct sbuf *b, const cJSON *v) {
    if (cJSON_IsString(v)) { sb_puts(b, v->valuestring); return; }
    if (!cJSON_IsArray(v)) return;
    for (const cJSON *p = v->child; p; p = p->next) {
        if (p != v->child) sb_puts(b, "\n\n");
        const cJSON *t = get(p, "type");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "text")) {
            const cJSON *tx = get(p, "text");
            if (cJSON_IsString(tx)) sb_puts(b, tx->valuestring);
        } else {
            sb_puts(b, "[Unsupported ");
            sb_puts(b, cJSON_IsString(t) ? t->valuestring : "None");
            sb_puts(b, "]");
        }
    }
}

static int check_tools(struct enc *x, const cJSON *tools, int idx) {
    if (!cJSON_IsArray(tools)) { chat_err(x->e, "message %d: \"tools\" must be a list", idx); return 0; }
    for (const cJSON *t = tools->child; t; t = t->next)
        if (!cJSON_IsObject(t) || !get(t, "function")) {
            chat_err(x->e, "message %d: each tool needs a \"function\"", idx);
            return 0;
        }
    return 1;
}

static int check_tool_calls(struct enc *x, const cJSON *tcs, int idx) {
    if (!cJSON_IsArray(tcs)) { chat_err(x->e, "message %d: \"tool_calls\" must be a list", idx); return 0; }
    int k = 0;
    for (const cJSON *tc = tcs->child; tc; tc = tc->next, k++) {
        const cJSON *fn = cJSON_IsObject(tc) ? get(tc, "function") : NULL;
        if (!cJSON_IsObject(fn)) { chat_err(x->e, "message %d: tool call %d has no \"function\" object", idx, k); return 0; }
        const cJSON *name = get(fn, "name");
        if (!cJSON_IsString(name)) { chat_err(x->e, "message %d: tool call %d without a name", idx, k); return 0; }
        const cJSON *args = get(fn, "arguments");
        if (args && !cJSON_IsNull(args) && !cJSON_IsString(args) && !cJSON_IsObject(args)) {
            chat_err(x->e, "message %d: tool call %d: \"arguments\" must be a JSON string or object", idx, k);
            return 0;
        }
    }
    return 1;
}

/* one message object -> struct msg (validated) */
static int load_msg(struct enc *x, const cJSON *m, int idx, struct msg *o) {
    memset(o, 0, sizeof *o);
    o->src_index = idx;
    o->task = -1;
    if (!cJSON_IsObject(m)) { chat_err(x->e, "message %d: not a JSON object", idx); return 0; }
    const cJSON *role = get(m, "role");
    if (!cJSON_IsString(role)) { chat_err(x->e, "message %d: missing \"role\"", idx); return 0; }
    o->role = -1;
    for (int r = 0; r < 6; r++)
        if (!strcmp(role->valuestring, role_names[r])) o->role = r;
    if (o->role < 0) { chat_err(x->e, "message %d: unknown role \"%.64s\"", idx, role->valuestring); return 0; }
    o->content = get(m, "content");
    if (o->role == R_TOOL ? !check_tool_content(x, o->content, idx) : !check_content(x, o->content, idx)) return 0;
    if (o->role == R_DEVELOPER && !(cJSON_IsString(o->content) && o->content->valuestring[0])) {
        chat_err(x->e, "message %d: developer message needs a non-empty string \"content\"", idx);
        return 0;
    }
    const cJSON *task = get(m, "task");
    if (task && !cJSON_IsNull(task)) {
        for (int t = 0; t < 6 && cJSON_IsString(task); t++)
            if (!strcmp(task->valuestring, task_names[t])) o->task = t;
        if (o->task < 0) {
            chat_err(x->e, "message %d: invalid task (expected action, query, authority, domain, title or read_url)", idx);
            return 0;
        }
    }
    o->wo_eos = py_truthy(get(m, "wo_eos"));
    const cJSON *tid = get(m, "tool_call_id");
    o->tool_call_id = cJSON_IsString(tid) ? tid->valuestring : "";
    if (o->role == R_USER || o->role == R_TOOL) return 1; /* merge_tool_messages keeps nothing else */
    const cJSON *tools = get(m, "tools");
    if (py_truthy(tools)) {
        if (!check_tools(x, tools, idx)) return 0;
        o->tools = tools;
    }
    const cJSON *rf = get(m, "response_format");
    if (py_truthy(rf)) o->response_format = rf;
    if (o->role == R_ASSISTANT) {
        const cJSON *tcs = get(m, "tool_calls");
        if (py_truthy(tcs)) {
            if (!check_tool_calls(x, tcs, idx)) return 0;
            o->tool_calls = tcs;
        }
        o->reasoning = get(m, "reasoning_content");
        if (o->reasoning && !cJSON_IsNull(o->reasoning) && !cJSON_IsString(o->reasoning)) {
            chat_err(x->e, "message %d: \"reasoning_content\" must be a string", idx);
            return 0;
        }
    }
    return 1;
}

static int add_block(struct msg *m, int is_tool, const cJSON *v, const char *id) {
    if (m->nblocks == m->capblocks) {
        int c = m->capblocks ? m->capblocks * 2 : 4;
        struct block *q = realloc(m->blocks, (size_t)c * sizeof *q);
        if (!q) return 0;
        m->blocks = q;
        m->capblocks = c;
    }
    m->blocks[m->nblocks++] = (struct block){ is_tool, v, id };
    return 1;
}

static const char *tool_call_id(const cJSON *tc) {
    const cJSON *id = get(tc, "id");
    if (py_truthy(id)) return cJSON_IsString(id) ? id->valuestring : "";
    const cJSON *fn = get(tc, "function");
    id = cJSON_IsObject(fn) ? get(fn, "id") : NULL;
    return cJSON_IsString(id) ? id->valuestring : "";
}

/* sort_tool_results_by_call_order: stable sort of each user message's tool
 * blocks by the position of their id in the latest assistant's tool calls */
static void sort_tool_results(struct msg *mm, int n) {
    const cJSON *order = NULL;
    for (int i = 0; i < n; i++) {
        struct msg *m = &mm[i];
        if (m->role == R_ASSISTANT && m->tool_calls) {
            order = m->tool_calls;
            int any = 0;
            for (const cJSON *tc = order->child; tc; tc = tc->next) any |= tool_call_id(tc)[0] != 0;
            if (!any) order = NULL;
        } else if (m->role == R_USER && order) {
            int nt = 0;
            for (int k = 0; k < m->nblocks; k++) nt += m->blocks[k].is_tool;
            if (nt < 2) continue;
            /* key = last position of the id among the calls, else 0 */
            int *key = malloc((size_t)m->nblocks * sizeof *key);
            struct block *tb = malloc((size_t)nt * sizeof *tb);
            if (!key || !tb) { free(key); free(tb); continue; }
            int t = 0;
            for (int k = 0; k < m->nblocks; k++) {
                if (!m->blocks[k].is_tool) continue;
                int kv = 0, pos = 0;
                for (const cJSON *tc = order->child; tc; tc = tc->next, pos++) {
                    const char *id = tool_call_id(tc);
                    if (id[0] && !strcmp(id, m->blocks[k].tool_use_id)) kv = pos;
                }
                /* insertion sort, stable */
                int j = t;
                while (j > 0 && key[j - 1] > kv) { key[j] = key[j - 1]; tb[j] = tb[j - 1]; j--; }
                key[j] = kv;
                tb[j] = m->blocks[k];
                t++;
            }
            t = 0;
            for (int k = 0; k < m->nblocks; k++)
                if (m->blocks[k].is_tool) m->blocks[k] = tb[t++];
            free(key);
            free(tb);
        }
    }
}

static void render_tools(struct sbuf *b, const cJSON *tools) {
    sb_puts(b, TOOLS_HEAD);
    for (const cJSON *t = tools->child; t; t = t->next) {
        if (t != tools->child) sb_put(b, "\n", 1);
        dump_value(b, get(t, "function"));
    }
    sb_puts(b, TOOLS_TAIL);
}

static void render_param(struct sbuf *b, const char *key, const cJSON *v) {
    sb_puts(b, "<｜DSML｜parameter name=\"");
    sb_puts(b, key);
    if (cJSON_IsString(v)) {
        sb_puts(b, "\" string=\"true\">");
        sb_puts(b, v->valuestring);
    } else {
        sb_puts(b, "\" string=\"false\">");
        dump_value(b, v);
    }
    sb_puts(b, "</｜DSML｜parameter>");
}

static int render_tool_calls(struct enc *x, const struct msg *m) {
    struct sbuf *b = &x->out;
    sb_puts(b, "\n\n<｜DSML｜tool_calls>\n");
    int k = 0;
    for (const cJSON *tc = m->tool_calls->child; tc; tc = tc->next, k++) {
        const cJSON *fn = get(tc, "function");
        if (tc != m->tool_calls->child) sb_put(b, "\n", 1);
        sb_puts(b, "<｜DSML｜invoke name=\"");
        sb_puts(b, get(fn, "name")->valuestring);
        sb_puts(b, "\">\n");
        const cJSON *args = get(fn, "arguments");
        cJSON *parsed = NULL;
        if (cJSON_IsString(args)) {
            /* json.loads; on failure the reference keeps the raw text as one "arguments" string */
            struct gds_chat_err pe = { NULL, 0, 0 };
            parsed = json_parse(args->valuestring, strlen(args->valuestring), &pe);
            if (!parsed) render_param(b, "arguments", args);
            else if (!cJSON_IsObject(parsed)) {
                cJSON_Delete(parsed);
                chat_err(x->e, "message %d: tool call %d: arguments must encode a JSON object", m->src_index, k);
                return 0;
            }
            args = parsed;
        }
        if (cJSON_IsObject(args))
            for (const cJSON *a = args->child; a; a = a->next) {
                if (a != args->child) sb_put(b, "\n", 1);
                render_param(b, a->string, a);
            }
        cJSON_Delete(parsed);
        sb_puts(b, "\n</｜DSML｜invoke>");
    }
    sb_puts(b, "\n</｜DSML｜tool_calls>");
    return 1;
}

static void render_suffix_blocks(struct sbuf *b, const struct msg *m) {
    if (m->tools) {
        sb_puts(b, "\n\n");
        render_tools(b, m->tools);
    }
    if (m->response_format) {
        sb_puts(b, "\n\n");
        sb_puts(b, RESPONSE_FORMAT_HEAD);
        dump_value(b, m->response_format);
    }
}

static int find_last_user(const struct msg *mm, int n) {
    for (int i = n - 1; i >= 0; i--)
        if (mm[i].role == R_USER || mm[i].role == R_DEVELOPER) return i;
    return -1;
}

static int render_message(struct enc *x, const struct msg *mm, int n, int i, int last_user) {
    struct sbuf *b = &x->out;
    const struct msg *m = &mm[i];
    if (i == 0 && x->thinking && x->effort == GDS_CHAT_EFFORT_MAX) sb_puts(b, REASONING_EFFORT_MAX);
    switch (m->role) {
    case R_SYSTEM:
        put_content(b, m->content);
        render_suffix_blocks(b, m);
        break;
    case R_DEVELOPER:
        sb_puts(b, GDS_CHAT_USER);
        put_content(b, m->content);
        render_suffix_blocks(b, m);
        break;
    case R_USER:
        sb_puts(b, GDS_CHAT_USER);
        for (int k = 0; k < m->nblocks; k++) {
            if (k) sb_puts(b, "\n\n");
            if (m->blocks[k].is_tool) {
                sb_puts(b, "<tool_result>");
                put_tool_content(b, m->blocks[k].value);
                sb_puts(b, "</tool_result>");
            } else put_content(b, m->blocks[k].value);
        }
        break;
    case R_REMINDER:
        sb_puts(b, GDS_CHAT_REMINDER);
        put_content(b, m->content);
        break;
    case R_ASSISTANT: {
        int prev_has_task = i > 0 && mm[i - 1].task >= 0;
        if (x->thinking && !prev_has_task && (!x->drop || i > last_user)) {
            if (!m->drop_reasoning && cJSON_IsString(m->reasoning)) sb_puts(b, m->reasoning->valuestring);
            sb_puts(b, GDS_CHAT_THINK_END);
        }
        put_content(b, m->content);
        if (m->tool_calls && !render_tool_calls(x, m)) return 0;
        if (!m->wo_eos) sb_puts(b, GDS_CHAT_EOS);
        break;
    }
    default:
        chat_err(x->e, "message %d: internal error (role)", m->src_index);
        return 0;
    }
    if (i + 1 < n && mm[i + 1].role != R_ASSISTANT && mm[i + 1].role != R_REMINDER) return 1;
    if (m->task >= 0) {
        if (strcmp(task_names[m->task], "action") != 0) sb_puts(b, task_tokens[m->task]);
        else {
            sb_puts(b, GDS_CHAT_ASSISTANT);
            sb_puts(b, x->thinking ? GDS_CHAT_THINK : GDS_CHAT_THINK_END);
            sb_puts(b, task_tokens[m->task]);
        }
    } else if (m->role == R_USER || m->role == R_DEVELOPER) {
        sb_puts(b, GDS_CHAT_ASSISTANT);
        sb_puts(b, x->thinking && (!x->drop || i >= last_user) ? GDS_CHAT_THINK : GDS_CHAT_THINK_END);
    }
    return 1;
}

void gds_chat_params_init(struct gds_chat_params *p) {
    p->mode = GDS_CHAT_MODE_DEFAULT;
    p->effort = GDS_CHAT_EFFORT_DEFAULT;
    p->drop_thinking = -1;
    p->add_bos = 1;
}

static void free_msgs(struct msg *mm, int n) {
    if (!mm) return;
    for (int i = 0; i < n; i++) free(mm[i].blocks);
    free(mm);
}

static char *encode(const cJSON *messages, int thinking, int effort, int drop, int add_bos,
                    size_t *len, struct gds_chat_err *e) {
    if (!cJSON_IsArray(messages)) { chat_err(e, "the messages must be a JSON list"); return NULL; }
    int n = cJSON_GetArraySize(messages);
    struct msg *src = calloc((size_t)n + 1, sizeof *src);
    struct msg *mm = calloc((size_t)n + 1, sizeof *mm);
    struct enc x = { .e = e, .thinking = thinking, .effort = effort };
    char *result = NULL;
    int nm = 0;
    if (!src || !mm) { chat_err(e, "out of memory"); goto done; }
    int i = 0;
    for (const cJSON *m = messages->child; m; m = m->next, i++)
        if (!load_msg(&x, m, i, &src[i])) goto done;

    /* merge_tool_messages */
    for (i = 0; i < n; i++) {
        struct msg *s = &src[i];
        struct msg *last = nm ? &mm[nm - 1] : NULL;
        if (s->role == R_TOOL) {
            if (!(last && last->role == R_USER)) {
                last = &mm[nm++];
                memset(last, 0, sizeof *last);
                last->role = R_USER;
                last->task = -1;
                last->src_index = s->src_index;
            }
            if (!add_block(last, 1, s->content, s->tool_call_id)) { chat_err(e, "out of memory"); goto done; }
        } else if (s->role == R_USER) {
            if (!(last && last->role == R_USER && last->task < 0)) {
                last = &mm[nm++];
                *last = *s;
                last->blocks = NULL;
                last->nblocks = last->capblocks = 0;
            }
            if (!add_block(last, 0, s->content, "")) { chat_err(e, "out of memory"); goto done; }
        } else mm[nm++] = *s;
    }
    sort_tool_results(mm, nm);

    /* drop_thinking is off as soon as any message carries tools */
    x.drop = drop;
    for (i = 0; i < nm; i++)
        if (mm[i].tools) x.drop = 0;
    if (thinking && x.drop) {
        int lu = find_last_user(mm, nm), k = 0;
        for (i = 0; i < nm; i++) {
            int r = mm[i].role;
            if (r == R_USER || r == R_SYSTEM || r == R_REMINDER || i >= lu) mm[k++] = mm[i];
            else if (r == R_ASSISTANT) {
                mm[k] = mm[i];
                mm[k++].drop_reasoning = 1;
            } else free(mm[i].blocks); /* developer before the last user turn */
        }
        nm = k;
    }
    int last_user = find_last_user(mm, nm);
    if (add_bos) sb_puts(&x.out, GDS_CHAT_BOS);
    for (i = 0; i < nm; i++)
        if (!render_message(&x, mm, nm, i, last_user)) goto done;
    if (x.out.oom) { chat_err(e, "out of memory"); goto done; }
    result = sb_take(&x.out, len);
    if (!result) chat_err(e, "out of memory");
done:
    free(x.out.p);
    free(src);
    free_msgs(mm, nm);
    return result;
}

static int resolve_params(const struct gds_chat_params *p, const cJSON *req, int *thinking, int *effort,
                          int *drop, struct gds_chat_err *e) {
    int mode = p ? p->mode : GDS_CHAT_MODE_DEFAULT;
    int eff = p ? p->effort : GDS_CHAT_EFFORT_DEFAULT;
    int dr = p ? p->drop_thinking : -1;
    if (mode == GDS_CHAT_MODE_DEFAULT && req) {
        const cJSON *v = get(req, "thinking_mode");
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "thinking")) mode = GDS_CHAT_MODE_THINKING;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "chat")) mode = GDS_CHAT_MODE_CHAT;
        else if (v && !cJSON_IsNull(v)) { chat_err(e, "\"thinking_mode\" must be \"chat\" or \"thinking\""); return 0; }
    }
    if (eff == GDS_CHAT_EFFORT_DEFAULT && req) {
        const cJSON *v = get(req, "reasoning_effort");
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "high")) eff = GDS_CHAT_EFFORT_HIGH;
        else if (cJSON_IsString(v) && !strcmp(v->valuestring, "max")) eff = GDS_CHAT_EFFORT_MAX;
        else if (v && !cJSON_IsNull(v)) { chat_err(e, "\"reasoning_effort\" must be null, \"high\" or \"max\""); return 0; }
    }
    if (dr < 0 && req) {
        const cJSON *v = get(req, "drop_thinking");
        if (cJSON_IsBool(v)) dr = cJSON_IsTrue(v);
        else if (v && !cJSON_IsNull(v)) { chat_err(e, "\"drop_thinking\" must be true or false"); return 0; }
    }
    if (mode != GDS_CHAT_MODE_CHAT && mode != GDS_CHAT_MODE_THINKING) mode = GDS_CHAT_MODE_CHAT;
    if (eff != GDS_CHAT_EFFORT_HIGH && eff != GDS_CHAT_EFFORT_MAX) eff = GDS_CHAT_EFFORT_NONE;
    *thinking = mode == GDS_CHAT_MODE_THINKING;
    *effort = eff;
    *drop = dr != 0;
    return 1;
}

char *gds_chat_encode(const cJSON *messages, const struct gds_chat_params *p, size_t *len,
                      char *err, size_t err_size) {
    struct gds_chat_err e = { err, err_size, 0 };
    int thinking, effort, drop;
    if (!resolve_params(p, NULL, &thinking, &effort, &drop, &e)) return NULL;
    return encode(messages, thinking, effort, drop, p ? p->add_bos : 1, len, &e);
}

char *gds_chat_encode_request(const cJSON *req, const struct gds_chat_params *p, size_t *len,
                              char *err, size_t err_size) {
    struct gds_chat_err e = { err, err_size, 0 };
    int thinking, effort, drop;
    if (cJSON_IsArray(req)) return gds_chat_encode(req, p, len, err, err_size);
    if (!cJSON_IsObject(req)) { chat_err(&e, "expected a list of messages or an object with \"messages\""); return NULL; }
    const cJSON *msgs = get(req, "messages");
    if (!cJSON_IsArray(msgs)) { chat_err(&e, "\"messages\" must be a list"); return NULL; }
    if (!resolve_params(p, req, &thinking, &effort, &drop, &e)) return NULL;
    const cJSON *tools = get(req, "tools"), *rf = get(req, "response_format");
    cJSON *copy = NULL;
    if (py_truthy(tools) || py_truthy(rf)) {
        copy = cJSON_Duplicate(msgs, 1);
        if (!copy) { chat_err(&e, "out of memory"); return NULL; }
        cJSON *first = copy->child;
        const cJSON *role = cJSON_IsObject(first) ? get(first, "role") : NULL;
        if (!(cJSON_IsString(role) && (!strcmp(role->valuestring, "system") || !strcmp(role->valuestring, "developer")))) {
            first = cJSON_CreateObject();
            if (!first || !cJSON_AddStringToObject(first, "role", "system") || !cJSON_AddStringToObject(first, "content", "") ||
                !cJSON_InsertItemInArray(copy, 0, first)) { /* inserting into an empty list appends */
                cJSON_Delete(first);
                cJSON_Delete(copy);
                chat_err(&e, "out of memory");
                return NULL;
            }
        }
        const char *keys[2] = { "tools", "response_format" };
        const cJSON *vals[2] = { tools, rf };
        for (int k = 0; k < 2; k++) {
            if (!py_truthy(vals[k])) continue;
            cJSON *d = cJSON_Duplicate(vals[k], 1);
            if (!d) { cJSON_Delete(copy); chat_err(&e, "out of memory"); return NULL; }
            cJSON_DeleteItemFromObjectCaseSensitive(first, keys[k]);
            cJSON_AddItemToObject(first, keys[k], d);
        }
        msgs = copy;
    }
    char *r = encode(msgs, thinking, effort, drop, p ? p->add_bos : 1, len, &e);
    cJSON_Delete(copy);
    return r;
}

/* ------------------------------------------------------------------------ */
/* completion parser                                                         */

#define P_INVOKE       "<｜DSML｜invoke"
#define P_INVOKE_END   "</｜DSML｜invoke"
#define P_PARAM        "<｜DSML｜parameter"
#define P_PARAM_END    "/｜DSML｜parameter"
#define P_CALLS_END    "</｜DSML｜tool_calls>"

struct ptext {
    const char *t;
    size_t n;
};

/* _read_until_stop: earliest stop at or after idx. Returns the stop's index
 * (-1 none); *a,*z = the text before it; *next = the position after it. */
static int read_until(const struct ptext *p, size_t idx, const char *const *stops, int ns,
                      size_t *a, size_t *z, size_t *next) {
    size_t best = p->n;
    int which = -1;
    for (int k = 0; k < ns; k++) {
        const char *f = memmem(p->t + idx, p->n - idx, stops[k], strlen(stops[k]));
        if (f && (size_t)(f - p->t) < best) { best = (size_t)(f - p->t); which = k; }
    }
    *a = idx;
    *z = best;
    *next = which < 0 ? p->n : best + strlen(stops[which]);
    return which;
}

/* ^\s*name="(.*?)">\n$  (DOTALL) */
static int match_invoke_name(const char *s, size_t n, size_t *na, size_t *nz) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int l = utf8_len((const unsigned char *)s + i, n - i, &cp);
        if (!l || !py_isspace(cp)) break;
        i += (size_t)l;
    }
    if (n - i < 6 || memcmp(s + i, "name=\"", 6) != 0) return 0;
    i += 6;
    if (ends_with(s + i, n - i, "\">\n\n")) { *na = i; *nz = n - 4; return 1; }
    if (ends_with(s + i, n - i, "\">\n")) { *na = i; *nz = n - 3; return 1; }
    return 0;
}

/* ^ name="(.*?)" string="(true|false)">(.*?)<$  (DOTALL) */
static int match_param(const char *s, size_t n, size_t *na, size_t *nz, int *is_str, size_t *va, size_t *vz) {
    if (n < 7 || memcmp(s, " name=\"", 7) != 0) return 0;
    static const char *const mid[2] = { "\" string=\"true\">", "\" string=\"false\">" };
    for (size_t p = 7; p < n; p++) {
        if (s[p] != '"') continue;
        for (int k = 0; k < 2; k++) {
            size_t ml = strlen(mid[k]);
            if (n - p < ml || memcmp(s + p, mid[k], ml) != 0) continue;
            size_t v = p + ml, vn = n - v;
            size_t end;
            if (ends_with(s + v, vn, "<\n")) end = n - 2;
            else if (ends_with(s + v, vn, "<")) end = n - 1;
            else continue;
            *na = 7; *nz = p; *is_str = k == 0; *va = v; *vz = end;
            return 1;
        }
    }
    return 0;
}

static char *dup_range(const char *s, size_t a, size_t z) {
    char *r = malloc(z - a + 1);
    if (!r) return NULL;
    memcpy(r, s + a, z - a);
    r[z - a] = 0;
    return r;
}

struct pparam {
    size_t na, nz, va, vz;
    int is_str;
};

/* parse_tool_calls: idx is just after "\n\n<｜DSML｜tool_calls" */
static int parse_tool_calls(const struct ptext *p, size_t *pidx, cJSON *calls, struct gds_chat_err *e) {
    static const char *const s_outer[2] = { P_INVOKE, P_CALLS_END };
    static const char *const s_inner[2] = { P_PARAM, P_INVOKE_END };
    static const char *const s_param[1] = { P_PARAM_END };
    size_t idx = *pidx, a, z, nx;
    struct pparam *pp = NULL;
    int np = 0, cap = 0, ok = 0;
    while (idx < p->n) {
        int w = read_until(p, idx, s_outer, 2, &a, &z, &nx);
        idx = nx;
        if (!mem_eq(p->t + a, z - a, ">\n")) { chat_err(e, "tool call format error: expected '>\\n' at byte %zu", a); goto out; }
        if (w == 1) break;
        if (w < 0) { chat_err(e, "missing special token in tool calls"); goto out; }
        w = read_until(p, idx, s_inner, 2, &a, &z, &nx);
        idx = nx;
        size_t tna, tnz;
        if (!match_invoke_name(p->t + a, z - a, &tna, &tnz)) { chat_err(e, "tool name format error at byte %zu", a); goto out; }
        tna += a;
        tnz += a;
        np = 0;
        while (w == 0) {
            read_until(p, idx, s_param, 1, &a, &z, &nx);
            idx = nx;
            struct pparam q;
            if (!match_param(p->t + a, z - a, &q.na, &q.nz, &q.is_str, &q.va, &q.vz)) {
                chat_err(e, "parameter format error at byte %zu", a);
                goto out;
            }
            q.na += a; q.nz += a; q.va += a; q.vz += a;
            for (int k = 0; k < np; k++)
                if (pp[k].nz - pp[k].na == q.nz - q.na && !memcmp(p->t + pp[k].na, p->t + q.na, q.nz - q.na)) {
                    chat_err(e, "duplicate parameter name at byte %zu", q.na);
                    goto out;
                }
            if (np == cap) {
                int c = cap ? cap * 2 : 8;
                struct pparam *r = realloc(pp, (size_t)c * sizeof *r);
                if (!r) { chat_err(e, "out of memory"); goto out; }
                pp = r;
                cap = c;
            }
            pp[np++] = q;
            w = read_until(p, idx, s_inner, 2, &a, &z, &nx);
            idx = nx;
            if (!mem_eq(p->t + a, z - a, ">\n")) { chat_err(e, "parameter format error: expected '>\\n' at byte %zu", a); goto out; }
        }
        /* decode_dsml_to_arguments */
        struct sbuf args = { 0 };
        sb_put(&args, "{", 1);
        for (int k = 0; k < np; k++) {
            if (k) sb_put(&args, ", ", 2);
            dump_str(&args, p->t + pp[k].na, pp[k].nz - pp[k].na);
            sb_put(&args, ": ", 2);
            if (pp[k].is_str) dump_str(&args, p->t + pp[k].va, pp[k].vz - pp[k].va);
            else sb_put(&args, p->t + pp[k].va, pp[k].vz - pp[k].va);
        }
        sb_put(&args, "}", 1);
        char *as = sb_take(&args, NULL);
        char *name = dup_range(p->t, tna, tnz);
        cJSON *tc = cJSON_CreateObject(), *fn = NULL;
        int good = as && name && tc && cJSON_AddStringToObject(tc, "type", "function") &&
                   (fn = cJSON_AddObjectToObject(tc, "function")) && cJSON_AddStringToObject(fn, "name", name) &&
                   cJSON_AddStringToObject(fn, "arguments", as) && cJSON_AddItemToArray(calls, tc);
        free(as);
        free(name);
        if (!good) { cJSON_Delete(tc); chat_err(e, "out of memory"); goto out; }
    }
    ok = 1;
out:
    free(pp);
    *pidx = idx;
    return ok;
}

cJSON *gds_chat_parse_completion(const char *text, size_t len, int mode, char *err, size_t err_size) {
    struct gds_chat_err e = { err, err_size, 0 };
    size_t bad;
    if (!text) { chat_err(&e, "no input"); return NULL; }
    if (!utf8_check(text, len, &bad)) {
        if (text[bad] == 0) chat_err(&e, "NUL byte at offset %zu", bad);
        else chat_err(&e, "invalid UTF-8 at byte offset %zu", bad);
        return NULL;
    }
    struct ptext p = { text, len };
    static const char *const s_think[2] = { GDS_CHAT_THINK_END, GDS_CHAT_TOOL_CALLS_START };
    static const char *const s_content[2] = { GDS_CHAT_EOS, GDS_CHAT_TOOL_CALLS_START };
    static const char *const s_eos[1] = { GDS_CHAT_EOS };
    size_t idx = 0, ra = 0, rz = 0, ca, cz, a, z, nx;
    cJSON *calls = cJSON_CreateArray(), *out = NULL;
    if (!calls) { chat_err(&e, "out of memory"); return NULL; }
    if (mode == GDS_CHAT_MODE_THINKING) {
        int w = read_until(&p, idx, s_think, 2, &ra, &rz, &nx);
        idx = nx;
        if (w != 0) { chat_err(&e, "invalid thinking format: missing </think>"); goto fail; }
    }
    int w = read_until(&p, idx, s_content, 2, &ca, &cz, &nx);
    idx = nx;
    if (w == 1) {
        /* the reference accepts a block cut short right after a parameter
         * ("...</｜DSML｜parameter>\n" at the very end): so do we */
        if (!parse_tool_calls(&p, &idx, calls, &e)) goto fail;
        read_until(&p, idx, s_eos, 1, &a, &z, &nx);
        idx = nx;
        if (z != a) { chat_err(&e, "unexpected content after tool calls"); goto fail; }
    } else if (w != 0) {
        chat_err(&e, "invalid format: missing end-of-sentence token");
        goto fail;
    }
    if (idx != len) { chat_err(&e, "unexpected content at end"); goto fail; }
    static const char *const sp[5] = { GDS_CHAT_BOS, GDS_CHAT_EOS, GDS_CHAT_THINK, GDS_CHAT_THINK_END, GDS_CHAT_DSML };
    for (int k = 0; k < 5; k++) {
        size_t l = strlen(sp[k]);
        if (memmem(text + ca, cz - ca, sp[k], l) || memmem(text + ra, rz - ra, sp[k], l)) {
            chat_err(&e, "unexpected special token '%s' in content", sp[k]);
            goto fail;
        }
    }
    char *content = dup_range(text, ca, cz), *reasoning = dup_range(text, ra, rz);
    out = cJSON_CreateObject();
    int good = content && reasoning && out && cJSON_AddStringToObject(out, "role", "assistant") &&
               cJSON_AddStringToObject(out, "content", content) &&
               cJSON_AddStringToObject(out, "reasoning_content", reasoning) && cJSON_AddItemToObject(out, "tool_calls", calls);
    free(content);
    free(reasoning);
    if (!good) { chat_err(&e, "out of memory"); goto fail; }
    return out;
fail:
    if (!out || !get(out, "tool_calls")) cJSON_Delete(calls);
    cJSON_Delete(out);
    return NULL;
}
