/*
 * tokenizer.h - byte-level BPE tokenizer (DeepSeek-V3/V4 style, as Hugging
 * Face `tokenizers` runs it), loaded from a GGUF or from a tokenizer.json.
 *
 *     struct gds_tok *t = gds_tok_load_file("model.gguf");   // or ".../tokenizer.json"; NULL + gds_last_error()
 *     struct gds_tok_ids ids = {0};
 *     if (gds_tok_encode(t, text, strlen(text), GDS_TOK_PARSE_SPECIAL, &ids) != GDS_OK) ...;
 *     struct gds_tok_buf s = {0};
 *     gds_tok_decode(t, ids.ids, ids.n, 0, &s);             // s.data[0..s.len) == text
 *     struct gds_tok_stream st = {0};                         // streaming: complete UTF-8 only
 *     for (...) { s.len = 0; gds_tok_stream_push(t, &st, id, &s); fwrite(s.data, 1, s.len, stdout); }
 *     s.len = 0; gds_tok_stream_flush(&st, &s);               // whatever is left
 *     free(ids.ids); free(s.data); gds_tok_free(t);
 *
 * Encoding (add_special_tokens = false semantics; nothing is ever prepended):
 *   1. added tokens (tokenizer.json added_tokens; GGUF token types CONTROL and
 *      USER_DEFINED) are matched as whole tokens in the raw text, leftmost-
 *      longest. CONTROL ("special") tokens only with GDS_TOK_PARSE_SPECIAL;
 *      USER_DEFINED tokens always (as Hugging Face and llama.cpp do).
 *   2. the text between them goes through the pre-tokenizer's Split regexes
 *      (PCRE2, UTF + Unicode properties, JIT), applied in sequence: each regex
 *      runs on every piece of the previous one as an independent subject, and
 *      both its matches and the gaps between them become pieces ("Isolated").
 *   3. each piece is mapped byte by byte to GPT-2 byte-level symbols and
 *      merged by BPE merge rank (lowest rank first, leftmost on ties).
 * Text must be valid UTF-8 (GDS_ERR_INVALID with the byte offset otherwise)
 * unless GDS_TOK_ALLOW_INVALID: then every invalid byte becomes its own
 * single-byte token and the rest is encoded as usual (decoding is exact).
 *
 * Decoding maps each token's characters back through the byte-level table; a
 * token with a character outside that table (added tokens such as
 * "<｜User｜>") is emitted as its raw UTF-8 text, as HF's ByteLevel decoder does.
 *
 * Sources: GGUF keys tokenizer.ggml.{model=gpt2, tokens, token_type, merges,
 * pre, bos_token_id, eos_token_id} plus the ggml-ds extension key
 * gds.tokenizer.pre_split_regex (the Split regexes); without it the regexes
 * come from tokenizer.ggml.pre ("deepseek-v3", "joyai-llm", "hunyuan-dense",
 * "deepseek4", "deepseek-v4": the DeepSeek-V3 rule list, as llama.cpp maps
 * them). tokenizer.json: model (BPE), added_tokens, pre_tokenizer (Sequence
 * of Split/ByteLevel), an empty normalizer; bos/eos from a
 * tokenizer_config.json in the same folder when there is one.
 *
 * Thread safety: a gds_tok holds scratch buffers and a word cache, so one
 * gds_tok must not encode on two threads at once. Decoding is read-only.
 */
#ifndef GDS_TOKENIZER_H
#define GDS_TOKENIZER_H

#include "gds.h"
#include "gds-gguf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* token types, GGUF numbering */
enum gds_tok_type {
    GDS_TOK_TYPE_UNDEFINED = 0, GDS_TOK_TYPE_NORMAL = 1, GDS_TOK_TYPE_UNKNOWN = 2,
    GDS_TOK_TYPE_CONTROL = 3, GDS_TOK_TYPE_USER_DEFINED = 4, GDS_TOK_TYPE_UNUSED = 5,
    GDS_TOK_TYPE_BYTE = 6,
};

/* encode flags */
enum {
    GDS_TOK_PARSE_SPECIAL = 1u << 0, /* match CONTROL added tokens written literally in the text */
    GDS_TOK_ALLOW_INVALID = 1u << 1, /* invalid UTF-8 bytes become byte tokens instead of an error */
};
/* decode flags */
enum {
    GDS_TOK_SKIP_SPECIAL = 1u << 0, /* leave CONTROL tokens out */
};

struct gds_tok;

struct gds_tok_ids { int32_t *ids; int64_t n, cap; };   /* growable; free(ids) */
struct gds_tok_buf { char *data; size_t len, cap; };    /* growable bytes, NUL-terminated; free(data) */
struct gds_tok_stream { uint8_t pend[4]; int n_pend; }; /* zero-initialise */

struct gds_tok *gds_tok_load_gguf(const struct gds_gguf *f);       /* NULL + gds_last_error() */
struct gds_tok *gds_tok_load_hf(const char *tokenizer_json_path);  /* NULL + gds_last_error() */
struct gds_tok *gds_tok_load_hf_buf(const char *json, size_t len, const char *label);
/* *.json -> gds_tok_load_hf, anything else is opened as GGUF */
struct gds_tok *gds_tok_load_file(const char *path);
void gds_tok_free(struct gds_tok *t);

int32_t gds_tok_n_vocab(const struct gds_tok *t);
int32_t gds_tok_bos(const struct gds_tok *t);          /* -1 if unknown */
int32_t gds_tok_eos(const struct gds_tok *t);          /* -1 if unknown */
int     gds_tok_n_regex(const struct gds_tok *t);
const char *gds_tok_regex(const struct gds_tok *t, int i);
/* id of a token by its exact vocabulary string (e.g. "<｜User｜>"), -1 if none */
int32_t gds_tok_find(const struct gds_tok *t, const char *token);
const char *gds_tok_token_str(const struct gds_tok *t, int32_t id);   /* vocab string, NULL if out of range */
enum gds_tok_type gds_tok_token_type(const struct gds_tok *t, int32_t id);
/* the bytes a token decodes to (not NUL-terminated), NULL if id is out of range */
const char *gds_tok_piece(const struct gds_tok *t, int32_t id, size_t *len);

/* Appends the ids of text[0..len) to out. */
enum gds_status gds_tok_encode(struct gds_tok *t, const char *text, size_t len, unsigned flags,
                               struct gds_tok_ids *out);
/* Appends the bytes of ids to out (GDS_ERR_INVALID for an id out of range). */
enum gds_status gds_tok_decode(const struct gds_tok *t, const int32_t *ids, int64_t n, unsigned flags,
                               struct gds_tok_buf *out);
/* Streaming decode: appends the bytes of token id to out, except a trailing
 * incomplete UTF-8 sequence, which is held until the next push. Bytes that can
 * never become valid UTF-8 are passed through as they are, so the pushes and
 * the final flush together give exactly gds_tok_decode's bytes. */
enum gds_status gds_tok_stream_push(const struct gds_tok *t, struct gds_tok_stream *s, int32_t id,
                                    struct gds_tok_buf *out);
enum gds_status gds_tok_stream_flush(struct gds_tok_stream *s, struct gds_tok_buf *out);

/* Byte offset of the first invalid UTF-8 sequence in s[0..len), or len if none. */
size_t gds_tok_utf8_check(const char *s, size_t len);

/* Testing knobs: BPE words with more than heap_min symbols use the priority-
 * queue merge (default 48; 0: always); use_cache false disables the word cache. */
void gds_tok_set_debug(struct gds_tok *t, int heap_min, bool use_cache);

#ifdef __cplusplus
}
#endif

#endif /* GDS_TOKENIZER_H */
