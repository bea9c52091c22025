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
#include "gds-args.h"
#include "chat.h"
#include "gds.h"

#include <getopt.h>
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
            "  --version              the version\n"
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
    gds_args_prog = "gds-chat-encode";
    struct gds_chat_params p;
    gds_chat_params_init(&p);
    int parse = 0;
    enum { OPT_PARSE = 256, OPT_KEEP, OPT_NO_BOS, OPT_MODE, OPT_EFFORT, OPT_VERSION };
    static const struct option long_opts[] = {
        { "help", no_argument, NULL, 'h' },        { "parse", no_argument, NULL, OPT_PARSE },
        { "keep-thinking", no_argument, NULL, OPT_KEEP }, { "no-bos", no_argument, NULL, OPT_NO_BOS },
        { "mode", required_argument, NULL, OPT_MODE }, { "effort", required_argument, NULL, OPT_EFFORT },
        { "version", no_argument, NULL, OPT_VERSION }, { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        const char *v = optarg;
        switch (c) {
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("gds-chat-encode (ggml-ds) %s\n", GDS_VERSION); return 0;
        case OPT_PARSE: parse = 1; break;
        case OPT_KEEP: p.drop_thinking = 0; break;
        case OPT_NO_BOS: p.add_bos = 0; break;
        case OPT_MODE:
            if (!strcmp(v, "chat")) p.mode = GDS_CHAT_MODE_CHAT;
            else if (!strcmp(v, "thinking")) p.mode = GDS_CHAT_MODE_THINKING;
            else { fprintf(stderr, "gds-chat-encode: error: --mode '%s': expected chat or thinking\n", v); return 1; }
            break;
        case OPT_EFFORT:
            if (!strcmp(v, "none")) p.effort = GDS_CHAT_EFFORT_NONE;
            else if (!strcmp(v, "high")) p.effort = GDS_CHAT_EFFORT_HIGH;
            else if (!strcmp(v, "max")) p.effort = GDS_CHAT_EFFORT_MAX;
            else { fprintf(stderr, "gds-chat-encode: error: --effort '%s': expected none, high or max\n", v); return 1; }
            break;
        case ':':
        default:
            return opt_error(argv, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gds-chat-encode: error: unexpected argument '%s' (the input is read from stdin)\ngds-chat-encode: see 'gds-chat-encode --help'\n", argv[optind]);
        return 1;
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
