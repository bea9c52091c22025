/*
 * safetensors.h - read-only access to a Hugging Face safetensors checkpoint.
 *
 *     struct st_set s;
 *     if (st_set_open(&s, "DeepSeek-V4-Flash") != GDS_OK) ... gds_last_error();
 *     const struct st_tensor *t = st_set_find(&s, "embed.weight");
 *     ... t->data (inside the shard's read-only mapping), t->nbytes ...
 *     st_release(t);                 // drop the pages once the tensor is used
 *     st_set_close(&s);
 *
 * A shard is "8-byte little-endian header length N, N bytes of JSON, data".
 * Every header is parsed with cJSON and validated before any tensor is used:
 * header length inside the file, known dtypes, shapes of non-negative
 * integers, data_offsets [a, b] with b - a == numel * dtype size and b inside
 * the file (a truncated shard is caught here), no two tensors of one shard
 * overlapping, no name claimed by two shards. When the folder has
 * model.safetensors.index.json, its weight_map names the shards and must
 * agree with their headers; otherwise every *.safetensors file is a shard.
 * Errors go through gds_error() and name the file and the tensor.
 *
 * Memory: shards are mmap'ed read-only; st_release() tells the kernel the
 * pages of a used tensor are no longer needed so resident memory stays
 * independent of the checkpoint size.
 */
#ifndef GDS_CONVERT_SAFETENSORS_H
#define GDS_CONVERT_SAFETENSORS_H

#include "gds.h"

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_I32, ST_U32, ST_I64, ST_U64,
    ST_F16, ST_BF16, ST_F32, ST_F64, ST_F8_E4M3, ST_F8_E5M2, ST_F8_E8M0,
    ST_DTYPE_COUNT
};

const char *st_dtype_name(enum st_dtype t);
size_t st_dtype_size(enum st_dtype t);

struct st_tensor {
    char *name;
    enum st_dtype dtype;
    int n_dims;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data;  /* NULL when the header was parsed without a mapping */
    size_t offset;        /* absolute offset in the shard file */
    size_t nbytes;
    int shard;            /* index into st_set.shards */
};

struct st_shard {
    char *path;           /* full path */
    const char *file;     /* base name, for messages */
    uint8_t *map;
    size_t size;
};

struct st_set {
    char *dir;
    struct st_shard *shards;
    int n_shards;
    struct st_tensor *tensors;
    int64_t n_tensors;
    int64_t *hash;        /* open addressing, -1 = empty */
    int64_t hash_cap;
};

/* Opens every shard of the checkpoint in dir and validates all headers. */
enum gds_status st_set_open(struct st_set *s, const char *dir);
void st_set_close(struct st_set *s);
const struct st_tensor *st_set_find(const struct st_set *s, const char *name);
const char *st_tensor_file(const struct st_set *s, const struct st_tensor *t); /* shard path */
/* Advises the kernel that the tensor's pages may be dropped. */
void st_release(const struct st_set *s, const struct st_tensor *t);
/* Same for bytes [begin, end) of the tensor (whole pages inside the range only). */
void st_release_range(const struct st_set *s, const struct st_tensor *t, size_t begin, size_t end);

/* Parses and validates one shard image (buf, size); label names it in errors.
 * On success *out / *n_out hold the tensors (data pointing into buf; names
 * owned by the caller: free with st_tensors_free). For tests and fuzzing. */
enum gds_status st_parse_shard(const uint8_t *buf, size_t size, const char *label,
                               struct st_tensor **out, int64_t *n_out);
void st_tensors_free(struct st_tensor *t, int64_t n);

/* Reads a whole (small) text file, NUL-terminated; *missing is set when it does
 * not exist. NULL + gds_error on failure. Used for config.json, the index and
 * the tokenizer files. */
char *st_read_file(const char *path, size_t *len_out, bool *missing);

#endif /* GDS_CONVERT_SAFETENSORS_H */
