/*
 * chat.h - DeepSeek-V4 prompt encoding and completion parsing.
 *
 * V4 ships a Python encoder (encoding/encoding_dsv4.py) instead of a Jinja
 * template; this is a byte-exact C port of it (spec deepseek-v4.md 6.2, the
 * four official golden cases and fixtures/encoding/cases.jsonl):
 *
 *     char err[256];
 *     cJSON *req = gds_chat_json_parse(text, len, err, sizeof err);   // strict JSON
 *     struct gds_chat_params p;
 *     gds_chat_params_init(&p);
 *     p.mode = GDS_CHAT_MODE_THINKING;
 *     size_t n;
 *     char *prompt = gds_chat_encode_request(req, &p, &n, err, sizeof err);
 *     ...
 *     cJSON *msg = gds_chat_parse_completion(out, out_len, GDS_CHAT_MODE_THINKING, err, sizeof err);
 *
 * Messages are OpenAI-style (role system|user|assistant|tool|developer|
 * latest_reminder; assistant reasoning_content and tool_calls with JSON-string
 * arguments; tool messages with tool_call_id; tools / response_format on
 * system or developer messages; V4 fields task, wo_eos). Where the encoder
 * embeds JSON (tool schemas, response_format, non-string tool-call argument
 * values, parsed arguments) it is written exactly like Python's
 * json.dumps(value, ensure_ascii=False): separators ", " and ": ", Python's
 * escapes, integers as written, floats as Python's repr.
 *
 * Invariants: every function returns NULL (and a message in err) on bad
 * input, never aborts; results are malloc'd (free()) or cJSON trees
 * (cJSON_Delete()). Input text must be valid UTF-8 without NUL bytes.
 *
 * Deliberate differences from the Python reference, all on inputs where the
 * reference raises or produces garbage: unknown roles, invalid tasks and
 * malformed tool calls are errors even where the reference would silently
 * drop the message; null content renders as "" (the reference prints "None"
 * for tool / latest_reminder); content given as a list of {"type":"text"}
 * parts is concatenated; tool-call arguments given as a JSON object (not a
 * string) are used as the argument map, missing/null arguments mean {};
 * JSON NaN/Infinity literals and lone surrogates are rejected.
 */
#ifndef GDS_CHAT_H
#define GDS_CHAT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* special-token texts (the tokenizer matches them as whole tokens) */
#define GDS_CHAT_BOS        "<｜begin▁of▁sentence｜>"
#define GDS_CHAT_EOS        "<｜end▁of▁sentence｜>"
#define GDS_CHAT_USER       "<｜User｜>"
#define GDS_CHAT_ASSISTANT  "<｜Assistant｜>"
#define GDS_CHAT_REMINDER   "<｜latest_reminder｜>"
#define GDS_CHAT_THINK      "<think>"
#define GDS_CHAT_THINK_END  "</think>"
#define GDS_CHAT_DSML       "｜DSML｜"
/* what a completion's tool-call block starts with */
#define GDS_CHAT_TOOL_CALLS_START "\n\n<" GDS_CHAT_DSML "tool_calls"

enum gds_chat_mode {
    GDS_CHAT_MODE_DEFAULT  = -1, /* request's "thinking_mode", else chat */
    GDS_CHAT_MODE_CHAT     = 0,
    GDS_CHAT_MODE_THINKING = 1,
};

enum gds_chat_effort {
    GDS_CHAT_EFFORT_DEFAULT = -1, /* request's "reasoning_effort", else none */
    GDS_CHAT_EFFORT_NONE    = 0,
    GDS_CHAT_EFFORT_HIGH    = 1,  /* adds nothing (as the reference) */
    GDS_CHAT_EFFORT_MAX     = 2,  /* thinking mode: fixed prefix after BOS */
};

struct gds_chat_params {
    int mode;          /* enum gds_chat_mode */
    int effort;        /* enum gds_chat_effort */
    int drop_thinking; /* 1 drop earlier reasoning (default), 0 keep, -1 request's "drop_thinking" else 1 */
    int add_bos;       /* 1 (default): prompt starts with BOS */
};

/* all fields "default" (mode/effort/drop from the request, else chat/none/1), add_bos 1 */
void gds_chat_params_init(struct gds_chat_params *p);

/* Strict JSON parse (RFC 8259 grammar, valid UTF-8, depth <= 512) into a
 * cJSON tree with Python semantics: a repeated key keeps its first position
 * and its last value; every number node keeps its literal in valuestring so
 * gds_chat_json_dumps can write ints exactly and floats as Python's repr. */
cJSON *gds_chat_json_parse(const char *text, size_t len, char *err, size_t err_size);

/* json.dumps(item, ensure_ascii=False). NULL on allocation failure. */
char *gds_chat_json_dumps(const cJSON *item, size_t *len);

/* encode_messages(messages, thinking_mode, drop_thinking, reasoning_effort):
 * messages is a JSON array of message objects. */
char *gds_chat_encode(const cJSON *messages, const struct gds_chat_params *p,
                      size_t *len, char *err, size_t err_size);

/* Like gds_chat_encode, but request is either a message array or an object
 * {"messages": [...], "tools": [...], "response_format": ..., "thinking_mode":
 * "chat"|"thinking", "reasoning_effort": null|"high"|"max", "drop_thinking":
 * bool} (other keys ignored). Top-level tools / response_format are attached
 * to messages[0] when it is a system or developer message without its own,
 * otherwise to a new empty system message put in front. Fields of p that are
 * not "default" override the request's. */
char *gds_chat_encode_request(const cJSON *request, const struct gds_chat_params *p,
                              size_t *len, char *err, size_t err_size);

/* parse_message_from_completion_text(text, mode): text is what the model
 * generated after the prompt, up to and including the EOS text. Returns
 * {"role": "assistant", "content": ..., "reasoning_content": ...,
 *  "tool_calls": [{"type": "function", "function": {"name", "arguments"}}]}
 * where arguments is a JSON string built as the reference does. */
cJSON *gds_chat_parse_completion(const char *text, size_t len, int mode,
                                 char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif /* GDS_CHAT_H */
