/*
 * hf-tokenizer.h - tokenizer.json + tokenizer_config.json -> the GGUF
 * vocabulary (tokenizer.ggml.* keys as llama.cpp writes them for deepseek4).
 *
 * Byte-level BPE only (model.type "BPE"): tokens by id (ids the file does not
 * define become "[PAD<id>]", type UNUSED, up to the config's vocab_size),
 * token types (CONTROL for special added tokens, USER_DEFINED for other added
 * tokens, NORMAL otherwise), merges as "left right" strings in rank order,
 * bos/eos/pad ids (from tokenizer_config.json's token strings, else the
 * config's ids), add_bos/add_eos, the chat template if present, and the
 * pre-tokenizer's Split regexes in order (stored under an extension key).
 */
#ifndef GDS_CONVERT_HF_TOKENIZER_H
#define GDS_CONVERT_HF_TOKENIZER_H

#include "gds.h"

#include <stdbool.h>
#include <stdint.h>

enum { HF_TOK_NORMAL = 1, HF_TOK_CONTROL = 3, HF_TOK_USER_DEFINED = 4, HF_TOK_UNUSED = 5 };

struct hf_tokenizer {
    int n_vocab;              /* = config vocab_size */
    int n_defined;            /* ids defined by tokenizer.json */
    char **tokens;            /* n_vocab */
    int32_t *types;           /* n_vocab */
    char **merges;
    int64_t n_merges;
    char **regex;             /* pre-tokenizer Split patterns, in order */
    int n_regex;
    int bos, eos, pad;        /* -1: unknown */
    bool add_bos, add_eos;
    char *chat_template;      /* NULL if none */
};

/* Loads dir/tokenizer.json (and tokenizer_config.json if present).
 * *found = false (and GDS_OK) when dir has no tokenizer.json. */
enum gds_status hf_tokenizer_load(struct hf_tokenizer *t, const char *dir, int vocab_size,
                                  int cfg_bos, int cfg_eos, bool *found);
void hf_tokenizer_free(struct hf_tokenizer *t);

#endif /* GDS_CONVERT_HF_TOKENIZER_H */
