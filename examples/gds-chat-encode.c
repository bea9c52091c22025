/*
 * gds-chat-encode.c - DeepSeek-V4 prompt encoder / completion parser on the
 * command line (models/chat.h).
 *
 *   gds-chat-encode --mode chat|thinking [--effort none|high|max] [--keep-thinking] < messages.json
 *   gds-chat-encode --parse --mode chat|thinking < completion.txt
 *
 * Encoding reads a JSON message list, or an object {"messages": [...],
 * "tools", "response_format", "thinking_mode", "reasoning_effort",
 * "drop_thinking"} (the golden test_input_1.json and cases.jsonl lines have
 * this shape; command-line options win over the object's fields), and writes
 * the prompt string exactly: no newline is added. --parse reads raw model
 * output (ending with the end-of-sentence text) and writes the parsed
 * assistant message as one line of json.dumps(ensure_ascii=False) JSON, also
 * without a trailing newline. Errors go to stderr with exit status 1.
 */
#include "chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: gds-chat-encode [--mode chat|thinking] [--effort none|high|max] [--keep-thinking] [--no-bos] < messages.json\n"
            "       gds-chat-encode --parse [--mode chat|thinking] < completion.txt\n"
            "\n"
            "Encodes an OpenAI-style message list (JSON on stdin) into the exact DeepSeek-V4 prompt\n"
            "string, or with --parse turns a model completion back into an assistant message (JSON).\n"
            "\n"
            "  --mode chat|thinking   non-thinking (default) or thinking mode\n"
            "  --effort none|high|max reasoning effort; max adds the fixed prefix in thinking mode\n"
            "  --keep-thinking        keep the reasoning of earlier turns (drop_thinking=False)\n"
            "  --no-bos               do not start the prompt with the BOS text\n"
            "  --parse                parse a completion instead of encoding\n"
            "  -h, --help             this text\n"
            "\n"
            "Input may also be an object {\"messages\": [...], \"tools\": [...], \"response_format\": ...,\n"
            "\"thinking_mode\", \"reasoning_effort\", \"drop_thinking\"}; options given here win.\n");
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            char *q = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2);
            if (!q) { free(buf); return NULL; }
            buf = q;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) { free(buf); return NULL; }
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    struct gds_chat_params p;
    gds_chat_params_init(&p);
    int parse = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--parse")) parse = 1;
        else if (!strcmp(a, "--keep-thinking")) p.drop_thinking = 0;
        else if (!strcmp(a, "--no-bos")) p.add_bos = 0;
        else if (!strcmp(a, "--mode") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "chat")) p.mode = GDS_CHAT_MODE_CHAT;
            else if (!strcmp(v, "thinking")) p.mode = GDS_CHAT_MODE_THINKING;
            else { fprintf(stderr, "gds-chat-encode: error: --mode must be chat or thinking\n"); return 1; }
        } else if (!strcmp(a, "--effort") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "none")) p.effort = GDS_CHAT_EFFORT_NONE;
            else if (!strcmp(v, "high")) p.effort = GDS_CHAT_EFFORT_HIGH;
            else if (!strcmp(v, "max")) p.effort = GDS_CHAT_EFFORT_MAX;
            else { fprintf(stderr, "gds-chat-encode: error: --effort must be none, high or max\n"); return 1; }
        } else {
            fprintf(stderr, "gds-chat-encode: error: unknown or incomplete option '%s' (see --help)\n", a);
            return 1;
        }
    }
    size_t len = 0;
    char *in = read_all(stdin, &len);
    if (!in) { fprintf(stderr, "gds-chat-encode: error: cannot read stdin\n"); return 1; }
    char err[512] = "";
    char *out = NULL;
    size_t out_len = 0;
    if (parse) {
        cJSON *msg = gds_chat_parse_completion(in, len, p.mode == GDS_CHAT_MODE_THINKING ? GDS_CHAT_MODE_THINKING : GDS_CHAT_MODE_CHAT,
                                               err, sizeof err);
        if (msg) {
            out = gds_chat_json_dumps(msg, &out_len);
            if (!out) snprintf(err, sizeof err, "out of memory");
            cJSON_Delete(msg);
        }
    } else {
        cJSON *req = gds_chat_json_parse(in, len, err, sizeof err);
        if (req) {
            out = gds_chat_encode_request(req, &p, &out_len, err, sizeof err);
            cJSON_Delete(req);
        }
    }
    free(in);
    if (!out) {
        fprintf(stderr, "gds-chat-encode: error: %s\n", err[0] ? err : "failed");
        return 1;
    }
    int ok = fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0;
    free(out);
    if (!ok) { fprintf(stderr, "gds-chat-encode: error: cannot write stdout\n"); return 1; }
    return 0;
}
