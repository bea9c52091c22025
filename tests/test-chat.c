/*
 * test-chat.c - DeepSeek-V4 prompt encoding and completion parsing
 * (models/chat.h) against the official outputs.
 *
 *   build/bin/test-chat [FIXTURE_DIR]     (default tests/fixtures/encoding)
 *
 * Checks: the four official golden cases byte for byte; every case of
 * cases.jsonl byte for byte and every "completion" parsed to its "parsed"
 * object (also byte-equal as json.dumps text); the README's parse
 * expectations of golden cases 1 and 2; hand cases for rules the fixtures do
 * not reach (tool-result ordering, task tokens, wo_eos, developer dropping,
 * float arguments), with expectations produced by the reference encoder;
 * json.dumps compatibility; malformed input (library and, when
 * gds-chat-encode sits next to this binary, the program's exit status).
 * Ends with "test-chat: N passed, M failed".
 */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int n_pass, n_fail, n_skip;

static void check(int ok, const char *what) {
    if (ok) n_pass++;
    else { n_fail++; printf("FAIL: %s\n", what); }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n == cap) b = realloc(b, cap *= 2);
        size_t r = fread(b + n, 1, cap - n, f);
        if (!r) break;
        n += r;
    }
    fclose(f);
    b = realloc(b, n + 1);
    b[n] = 0;
    if (len) *len = n;
    return b;
}

/* shows where two strings first differ */
static void show_diff(const char *got, size_t gn, const char *exp, size_t en) {
    size_t k = 0;
    while (k < gn && k < en && got[k] == exp[k]) k++;
    size_t a = k > 60 ? k - 60 : 0;
    printf("   first difference at byte %zu (got %zu bytes, expected %zu)\n", k, gn, en);
    printf("   got: %.*s\n", (int)((gn - a) < 120 ? gn - a : 120), got + a);
    printf("   exp: %.*s\n", (int)((en - a) < 120 ? en - a : 120), exp + a);
}

static int encode_eq(const char *req_text, size_t req_len, int mode, const char *exp, size_t exp_len, const char *what) {
    char err[256] = "";
    cJSON *req = gds_chat_json_parse(req_text, req_len, err, sizeof err);
    if (!req) { printf("   %s: %s\n", what, err); return 0; }
    struct gds_chat_params p;
    gds_chat_params_init(&p);
    p.mode = mode;
    size_t n = 0;
    char *got = gds_chat_encode_request(req, &p, &n, err, sizeof err);
    cJSON_Delete(req);
    if (!got) { printf("   %s: %s\n", what, err); return 0; }
    int ok = n == exp_len && memcmp(got, exp, n) == 0;
    if (!ok) show_diff(got, n, exp, exp_len);
    free(got);
    return ok;
}

/* parses a completion and compares with an expected object (structure and json.dumps text) */
static int parse_eq(const char *text, size_t len, int mode, const cJSON *exp, const char *what) {
    char err[256] = "";
    cJSON *got = gds_chat_parse_completion(text, len, mode, err, sizeof err);
    if (!got) { printf("   %s: %s\n", what, err); return 0; }
    char *gs = gds_chat_json_dumps(got, NULL), *es = gds_chat_json_dumps(exp, NULL);
    int ok = cJSON_Compare(got, exp, 1) && gs && es && !strcmp(gs, es);
    if (!ok) printf("   %s:\n   got: %s\n   exp: %s\n", what, gs, es);
    free(gs);
    free(es);
    cJSON_Delete(got);
    return ok;
}

static const struct { const char *name, *req, *exp; } hand[] = {
    { "tool results sorted by call order, consecutive users merged",
      "{\"messages\": [{\"role\": \"user\", \"content\": \"q1\"}, {\"role\": \"user\", \"content\": \"q2\"}, {\"role\": \"assistant\", \"reasoning_content\": \"r\", \"tool_calls\": [{\"id\": \"a\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"x\\\": 1.50, \\\"y\\\": 1E2, \\\"z\\\": [true, null], \\\"s\\\": \\\"t\\\"}\"}}, {\"id\": \"b\", \"type\": \"function\", \"function\": {\"name\": \"g\", \"arguments\": \"not json\"}}]}, {\"role\": \"tool\", \"tool_call_id\": \"b\", \"content\": \"B\"}, {\"role\": \"tool\", \"tool_call_id\": \"a\", \"content\": \"A\"}, {\"role\": \"user\", \"content\": \"more\"}], \"thinking_mode\": \"thinking\", \"drop_thinking\": false, \"reasoning_effort\": null}",
      "<\357\275\234begin\342\226\201of\342\226\201sentence\357\275\234><\357\275\234User\357\275\234>q1\n"
        "\n"
        "q2<\357\275\234Assistant\357\275\234><think>r</think>\n"
        "\n"
        "<\357\275\234DSML\357\275\234tool_calls>\n"
        "<\357\275\234DSML\357\275\234invoke name=\"f\">\n"
        "<\357\275\234DSML\357\275\234parameter name=\"x\" string=\"false\">1.5</\357\275\234DSML\357\275\234parameter>\n"
        "<\357\275\234DSML\357\275\234parameter name=\"y\" string=\"false\">100.0</\357\275\234DSML\357\275\234parameter>\n"
        "<\357\275\234DSML\357\275\234parameter name=\"z\" string=\"false\">[true, null]</\357\275\234DSML\357\275\234parameter>\n"
        "<\357\275\234DSML\357\275\234parameter name=\"s\" string=\"true\">t</\357\275\234DSML\357\275\234parameter>\n"
        "</\357\275\234DSML\357\275\234invoke>\n"
        "<\357\275\234DSML\357\275\234invoke name=\"g\">\n"
        "<\357\275\234DSML\357\275\234parameter name=\"arguments\" string=\"true\">not json</\357\275\234DSML\357\275\234parameter>\n"
        "</\357\275\234DSML\357\275\234invoke>\n"
        "</\357\275\234DSML\357\275\234tool_calls><\357\275\234end\342\226\201of\342\226\201sentence\357\275\234><\357\275\234User\357\275\234><tool_result>A</tool_result>\n"
        "\n"
        "<tool_result>B</tool_result>\n"
        "\n"
        "more<\357\275\234Assistant\357\275\234><think>" },
    { "tasks, wo_eos, developer dropped",
      "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"developer\", \"content\": \"dev\", \"response_format\": {\"type\": \"json_object\"}}, {\"role\": \"assistant\", \"content\": \"x\", \"reasoning_content\": \"gone\"}, {\"role\": \"user\", \"content\": \"u\", \"task\": \"query\"}, {\"role\": \"assistant\", \"content\": \"q\"}, {\"role\": \"user\", \"content\": \"v\", \"task\": \"action\"}, {\"role\": \"assistant\", \"content\": \"Search\", \"task\": \"title\"}, {\"role\": \"latest_reminder\", \"content\": \"rem\"}, {\"role\": \"user\", \"content\": \"w\"}, {\"role\": \"assistant\", \"content\": \"part\", \"reasoning_content\": \"think\", \"wo_eos\": true}], \"thinking_mode\": \"thinking\", \"drop_thinking\": true, \"reasoning_effort\": \"max\"}",
      "<\357\275\234begin\342\226\201of\342\226\201sentence\357\275\234>Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
        "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n"
        "Explicitly write out your entire deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n"
        "\n"
        "sysx<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234><\357\275\234User\357\275\234>u<\357\275\234query\357\275\234>q<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234><\357\275\234User\357\275\234>v<\357\275\234Assistant\357\275\234><think><\357\275\234action\357\275\234>Search<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234><\357\275\234title\357\275\234><\357\275\234latest_reminder\357\275\234>rem<\357\275\234User\357\275\234>w<\357\275\234Assistant\357\275\234><think>think</think>part" },
    { "chat mode ignores max effort; developer kept",
      "{\"messages\": [{\"role\": \"developer\", \"content\": \"dev\"}, {\"role\": \"assistant\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"u\"}], \"thinking_mode\": \"chat\", \"drop_thinking\": true, \"reasoning_effort\": \"max\"}",
      "<\357\275\234begin\342\226\201of\342\226\201sentence\357\275\234><\357\275\234User\357\275\234>dev<\357\275\234Assistant\357\275\234></think>a<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234><\357\275\234User\357\275\234>u<\357\275\234Assistant\357\275\234></think>" },
    { "empty list",
      "{\"messages\": [], \"thinking_mode\": \"thinking\", \"drop_thinking\": true, \"reasoning_effort\": \"max\"}",
      "<\357\275\234begin\342\226\201of\342\226\201sentence\357\275\234>" },
};

/* json.dumps(json.loads(in), ensure_ascii=False) as produced by Python 3 */
static const struct { const char *in, *out; } ser[] = {
    { "[0, -0, 1.0, 1.50, 1e5, 1E-5, 0.0001, 1e16, 1234567890123456.0, 123456789012345678901234567890, -0.0, 1e400, 0.1, 5e-324, 1.7976931348623157e308]", "[0, 0, 1.0, 1.5, 100000.0, 1e-05, 0.0001, 1e+16, 1234567890123456.0, 123456789012345678901234567890, -0.0, Infinity, 0.1, 5e-324, 1.7976931348623157e+308]" },
    { "{\"a\": 1, \"b\": {\"x\": [], \"y\": {}}, \"a\": 2, \"c\": \"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\\\/\\u00e9\\ud83d\\ude00\\u2028\\u007f\"}", "{\"a\": 2, \"b\": {\"x\": [], \"y\": {}}, \"c\": \"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\303\251\360\237\230\200\342\200\250\177\"}" },
    { " { \"k\" : [ true , false , null ] } ", "{\"k\": [true, false, null]}" },
};

static const char *const bad_requests[] = {
    "not json",
    "[{\"role\": \"user\", \"content\": \"x\"}",
    "",
    "[{\"role\": \"wizard\", \"content\": \"x\"}]",
    "[{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"arguments\": \"{}\"}}]}]",
    "[{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": 7}}]}]",
    "[{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\"}]}]",
    "[{\"role\": \"user\", \"content\": \"a\xff\"}]",
    "[{\"role\": \"user\", \"content\": \"a\xc3\"}]",
    "[{\"role\": \"user\", \"content\": \"\xed\xa0\x80\"}]",
    "[{\"role\": \"user\", \"content\": \"\\ud800\"}]",
    "[{\"role\": \"user\", \"content\": \"a\\u0000b\"}]",
    "[{\"content\": \"x\"}]",
    "[1]",
    "{\"messages\": 5}",
    "{\"tools\": []}",
    "[{\"role\": \"developer\"}]",
    "[{\"role\": \"developer\", \"content\": \"\"}]",
    "[{\"role\": \"user\", \"content\": \"x\", \"task\": \"bogus\"}]",
    "[{\"role\": \"user\", \"content\": 5}]",
    "[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]",
    "[{\"role\": \"system\", \"content\": \"x\", \"tools\": {\"a\": 1}}]",
    "[{\"role\": \"system\", \"content\": \"x\", \"tools\": [{\"type\": \"function\"}]}]",
    "[{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": \"[1, 2]\"}}]}]",
    "[{\"role\": \"assistant\", \"reasoning_content\": 3}]",
    "{\"messages\": [], \"reasoning_effort\": \"low\"}",
    "{\"messages\": [], \"thinking_mode\": \"deep\"}",
    "[NaN]",
    "[1, 2,]",
    "[01]",
    "[\"tab\there\"]",
};

#define EOS GDS_CHAT_EOS
#define TC_OPEN "\n\n<｜DSML｜tool_calls>\n"
#define TC_CLOSE "</｜DSML｜tool_calls>"
static const struct { int mode; const char *text; } bad_completions[] = {
    { GDS_CHAT_MODE_THINKING, "no end of thinking" EOS },
    { GDS_CHAT_MODE_CHAT, "no eos" },
    { GDS_CHAT_MODE_CHAT, "x" EOS "trailing" },
    { GDS_CHAT_MODE_CHAT, "a<think>b" EOS },
    { GDS_CHAT_MODE_CHAT, "a</think>b" EOS },
    { GDS_CHAT_MODE_THINKING, "r</think>a" GDS_CHAT_BOS EOS },
    { GDS_CHAT_MODE_THINKING, "r" TC_OPEN "<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n" TC_CLOSE EOS },
    { GDS_CHAT_MODE_CHAT, "x" TC_OPEN "<｜DSML｜invoke nam=\"f\">\n</｜DSML｜invoke>\n" TC_CLOSE EOS },
    { GDS_CHAT_MODE_CHAT, "x" TC_OPEN "<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"true\">1</｜DSML｜parameter>\n"
                          "<｜DSML｜parameter name=\"a\" string=\"true\">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n" TC_CLOSE EOS },
    { GDS_CHAT_MODE_CHAT, "x" TC_OPEN "<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"maybe\">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n" TC_CLOSE EOS },
    { GDS_CHAT_MODE_CHAT, "x" TC_OPEN "<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n" TC_CLOSE "junk" EOS },
    { GDS_CHAT_MODE_CHAT, "x" TC_OPEN "<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>" TC_CLOSE EOS },
    { GDS_CHAT_MODE_CHAT, "\xc3(" EOS },
    { GDS_CHAT_MODE_CHAT, "" },
};

/* the assistant turn of a golden prompt that starts at the n-th "<｜Assistant｜><think>" */
static char *golden_completion(const char *prompt, int nth, size_t *len) {
    const char *s = prompt;
    for (int k = 0; k <= nth; k++) {
        s = strstr(s, GDS_CHAT_ASSISTANT GDS_CHAT_THINK);
        if (!s) return NULL;
        s += strlen(GDS_CHAT_ASSISTANT GDS_CHAT_THINK);
    }
    const char *e = strstr(s, EOS);
    if (!e) return NULL;
    *len = (size_t)(e - s) + strlen(EOS);
    char *r = malloc(*len + 1);
    memcpy(r, s, *len);
    r[*len] = 0;
    return r;
}

static void golden_parse(const char *prompt, int nth, const char *reasoning, const char *content_has,
                         const char *content_eq, const char *tool, const char *args, const char *what) {
    size_t n;
    char *c = golden_completion(prompt, nth, &n);
    char err[256] = "";
    cJSON *m = c ? gds_chat_parse_completion(c, n, GDS_CHAT_MODE_THINKING, err, sizeof err) : NULL;
    const cJSON *r = cJSON_GetObjectItem(m, "reasoning_content"), *ct = cJSON_GetObjectItem(m, "content");
    const cJSON *tcs = cJSON_GetObjectItem(m, "tool_calls");
    int ok = m && cJSON_IsString(r) && !strcmp(r->valuestring, reasoning) && cJSON_IsString(ct) &&
             (!content_has || strstr(ct->valuestring, content_has)) && (!content_eq || !strcmp(ct->valuestring, content_eq));
    if (ok && tool) {
        const cJSON *fn = cJSON_GetObjectItem(cJSON_GetArrayItem(tcs, 0), "function");
        ok = cJSON_GetArraySize(tcs) == 1 && !strcmp(cJSON_GetObjectItem(fn, "name")->valuestring, tool) &&
             !strcmp(cJSON_GetObjectItem(fn, "arguments")->valuestring, args);
    } else if (ok) ok = cJSON_GetArraySize(tcs) == 0;
    if (!ok) printf("   %s: %s\n", what, err);
    check(ok, what);
    cJSON_Delete(m);
    free(c);
}

/* runs "BIN ARGS < input" through sh; returns the exit status, output in *out */
static int run_cli(const char *bin, const char *args, const char *in, size_t in_len, char **out, size_t *out_len) {
    char tin[] = "/tmp/test-chat-in-XXXXXX", tout[] = "/tmp/test-chat-out-XXXXXX";
    int fi = mkstemp(tin), fo = mkstemp(tout);
    if (fi < 0 || fo < 0) return -1;
    if (write(fi, in, in_len) != (ssize_t)in_len) return -1;
    close(fi);
    close(fo);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s < '%s' > '%s' 2>/dev/null", bin, args, tin, tout);
    int st = system(cmd);
    *out = read_file(tout, out_len);
    unlink(tin);
    unlink(tout);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures/encoding";
    char path[4096];
    char what[256];

    /* 1. official golden cases */
    static const int golden_mode[5] = { 0, GDS_CHAT_MODE_THINKING, GDS_CHAT_MODE_THINKING, GDS_CHAT_MODE_THINKING, GDS_CHAT_MODE_CHAT };
    char *golden_out[5] = { 0 };
    for (int i = 1; i <= 4; i++) {
        size_t in_len, out_len;
        snprintf(path, sizeof path, "%s/test_input_%d.json", dir, i);
        char *in = read_file(path, &in_len);
        snprintf(path, sizeof path, "%s/test_output_%d.txt", dir, i);
        char *out = read_file(path, &out_len);
        snprintf(what, sizeof what, "golden case %d (%.200s)", i, path);
        check(in && out && encode_eq(in, in_len, golden_mode[i], out, out_len, what), what);
        free(in);
        golden_out[i] = out;
    }
    if (golden_out[1]) {
        golden_parse(golden_out[1], 0, "The user wants to know the weather in Beijing. I should use the get_weather tool.", NULL, "",
                     "get_weather", "{\"location\": \"Beijing\", \"unit\": \"celsius\"}", "golden 1: first completion parses");
        golden_parse(golden_out[1], 1, "Got the weather data. Let me format a nice response.", "22°C", NULL, NULL, NULL,
                     "golden 1: last completion parses");
    } else check(0, "golden 1 parse: no output file");
    if (golden_out[2]) {
        golden_parse(golden_out[2], 0, "The user asks about the capital of France. It is Paris.", NULL,
                     "The capital of France is Paris.", NULL, NULL, "golden 2: last completion parses");
        check(!strstr(golden_out[2], "The user said hello"), "golden 2: dropped reasoning absent");
    } else check(0, "golden 2 parse: no output file");

    /* 2. cases.jsonl */
    size_t cl;
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    char *cases = read_file(path, &cl);
    check(cases != NULL, "cases.jsonl readable");
    int ncase = 0, nparse = 0;
    for (char *line = cases; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) : strlen(line);
        if (ll == 0) { line = nl ? nl + 1 : line + ll; continue; }
        char err[256] = "";
        cJSON *c = gds_chat_json_parse(line, ll, err, sizeof err);
        snprintf(what, sizeof what, "cases.jsonl case %d", ncase);
        const cJSON *prompt = cJSON_GetObjectItem(c, "prompt");
        const cJSON *mode = cJSON_GetObjectItem(c, "thinking_mode");
        int m = cJSON_IsString(mode) && !strcmp(mode->valuestring, "thinking") ? GDS_CHAT_MODE_THINKING : GDS_CHAT_MODE_CHAT;
        /* the line itself is a request: messages, thinking_mode, drop_thinking, reasoning_effort */
        check(c && cJSON_IsString(prompt) &&
                  encode_eq(line, ll, GDS_CHAT_MODE_DEFAULT, prompt->valuestring, strlen(prompt->valuestring), what), what);
        const cJSON *comp = cJSON_GetObjectItem(c, "completion"), *parsed = cJSON_GetObjectItem(c, "parsed");
        if (cJSON_IsString(comp)) {
            snprintf(what, sizeof what, "cases.jsonl case %d: parse", ncase);
            check(parse_eq(comp->valuestring, strlen(comp->valuestring), m, parsed, what), what);
            nparse++;
        }
        cJSON_Delete(c);
        ncase++;
        line = nl ? nl + 1 : line + ll;
    }
    check(ncase == 40 && nparse > 0, "cases.jsonl: 40 cases");
    printf("cases.jsonl: %d prompts, %d completions\n", ncase, nparse);

    /* 3. hand cases (expectations from the reference encoder) */
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) {
        snprintf(what, sizeof what, "hand case: %s", hand[i].name);
        check(encode_eq(hand[i].req, strlen(hand[i].req), GDS_CHAT_MODE_DEFAULT, hand[i].exp, strlen(hand[i].exp), what), what);
    }
    {   /* request tools with a user first message: a system message is put in front */
        const char *req = "{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
        char err[256];
        cJSON *r = gds_chat_json_parse(req, strlen(req), err, sizeof err);
        struct gds_chat_params p;
        gds_chat_params_init(&p);
        char *s = gds_chat_encode_request(r, &p, NULL, err, sizeof err);
        check(s && !strncmp(s, GDS_CHAT_BOS "\n\n## Tools\n\n", strlen(GDS_CHAT_BOS "\n\n## Tools\n\n")) &&
                  strstr(s, "{\"name\": \"f\"}\n\nYou MUST strictly follow") &&
                  strstr(s, GDS_CHAT_USER "hi" GDS_CHAT_ASSISTANT GDS_CHAT_THINK_END),
              "request tools before a user message");
        free(s);
        cJSON_Delete(r);
    }
    {   /* the reference accepts a tool block cut right after a parameter */
        const char *t = "x" TC_OPEN "<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" string=\"false\">[1]</｜DSML｜parameter>\n";
        cJSON *exp = cJSON_Parse("{\"role\": \"assistant\", \"content\": \"x\", \"reasoning_content\": \"\", \"tool_calls\": "
                                 "[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": [1]}\"}}]}");
        check(parse_eq(t, strlen(t), GDS_CHAT_MODE_CHAT, exp, "truncated tool block (reference-compatible)"), "truncated tool block");
        cJSON_Delete(exp);
    }

    /* 4. json.dumps compatibility */
    for (size_t i = 0; i < sizeof ser / sizeof ser[0]; i++) {
        char err[256] = "";
        cJSON *j = gds_chat_json_parse(ser[i].in, strlen(ser[i].in), err, sizeof err);
        char *s = j ? gds_chat_json_dumps(j, NULL) : NULL;
        snprintf(what, sizeof what, "json.dumps %zu", i);
        check(s && !strcmp(s, ser[i].out), what);
        if (s && strcmp(s, ser[i].out)) printf("   got %s\n   exp %s\n", s, ser[i].out);
        free(s);
        cJSON_Delete(j);
    }
    {
        char deep[1200];
        memset(deep, '[', 600);
        memset(deep + 600, ']', 600);
        char err[256] = "";
        cJSON *j = gds_chat_json_parse(deep, sizeof deep, err, sizeof err);
        check(!j && err[0], "nesting deeper than 512 rejected");
        cJSON_Delete(j);
        const char nul[] = "[{\"role\": \"user\", \"content\": \"a\"}]\0";
        j = gds_chat_json_parse(nul, sizeof nul - 1, err, sizeof err);
        check(!j, "NUL byte after the JSON rejected");
        cJSON_Delete(j);
    }

    /* 5. malformed input: NULL and a message, never a crash */
    for (size_t i = 0; i < sizeof bad_requests / sizeof bad_requests[0]; i++) {
        char err[256] = "";
        struct gds_chat_params p;
        gds_chat_params_init(&p);
        cJSON *j = gds_chat_json_parse(bad_requests[i], strlen(bad_requests[i]), err, sizeof err);
        char *s = j ? gds_chat_encode_request(j, &p, NULL, err, sizeof err) : NULL;
        snprintf(what, sizeof what, "bad request %zu rejected: %.60s", i, bad_requests[i]);
        check(!s && err[0], what);
        free(s);
        cJSON_Delete(j);
    }
    for (size_t i = 0; i < sizeof bad_completions / sizeof bad_completions[0]; i++) {
        char err[256] = "";
        cJSON *m = gds_chat_parse_completion(bad_completions[i].text, strlen(bad_completions[i].text), bad_completions[i].mode,
                                             err, sizeof err);
        snprintf(what, sizeof what, "bad completion %zu rejected", i);
        check(!m && err[0], what);
        cJSON_Delete(m);
    }

    /* 6. the program */
    char bin[4096];
    const char *slash = strrchr(argv[0], '/');
    snprintf(bin, sizeof bin, "%.*sgds-chat-encode", slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
    if (access(bin, X_OK) != 0) {
        printf("SKIP: %s not built: program checks skipped\n", bin);
        n_skip++;
    } else {
        char *out;
        size_t ol, il;
        for (int i = 1; i <= 4; i++) {
            snprintf(path, sizeof path, "%s/test_input_%d.json", dir, i);
            char *in = read_file(path, &il);
            int st = in ? run_cli(bin, i == 4 ? "--mode chat" : "--mode thinking", in, il, &out, &ol) : -1;
            snprintf(what, sizeof what, "gds-chat-encode golden %d", i);
            check(st == 0 && out && golden_out[i] && ol == strlen(golden_out[i]) && !memcmp(out, golden_out[i], ol), what);
            free(in);
            free(out);
        }
        size_t n;
        char *c = golden_out[1] ? golden_completion(golden_out[1], 0, &n) : NULL;
        int st = c ? run_cli(bin, "--parse --mode thinking", c, n, &out, &ol) : -1;
        const char *exp = "{\"role\": \"assistant\", \"content\": \"\", \"reasoning_content\": \"The user wants to know the weather in "
                          "Beijing. I should use the get_weather tool.\", \"tool_calls\": [{\"type\": \"function\", \"function\": "
                          "{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Beijing\\\", \\\"unit\\\": \\\"celsius\\\"}\"}}]}";
        check(st == 0 && out && !strcmp(out, exp), "gds-chat-encode --parse");
        free(c);
        free(out);
        st = run_cli(bin, "--help", "", 0, &out, &ol);
        check(st == 0 && out && strstr(out, "usage"), "gds-chat-encode --help");
        free(out);
        static const char *const cli_bad[][2] = {
            { "--mode chat", "{\"messages\": [" },
            { "--mode chat", "[{\"role\": \"wizard\", \"content\": \"x\"}]" },
            { "--mode thinking", "[{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"arguments\": \"{}\"}}]}]" },
            { "--mode chat", "[{\"role\": \"user\", \"content\": \"\xc0\xaf\"}]" },
            { "--parse --mode thinking", "no think" EOS },
            { "--parse", "\xff" },
            { "--mode sideways", "[]" },
            { "--bogus", "[]" },
        };
        for (size_t i = 0; i < sizeof cli_bad / sizeof cli_bad[0]; i++) {
            st = run_cli(bin, cli_bad[i][0], cli_bad[i][1], strlen(cli_bad[i][1]), &out, &ol);
            snprintf(what, sizeof what, "gds-chat-encode bad input %zu exits 1", i);
            check(st == 1 && ol == 0, what);
            free(out);
        }
    }

    for (int i = 1; i <= 4; i++) free(golden_out[i]);
    free(cases);
    printf("test-chat: %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}
