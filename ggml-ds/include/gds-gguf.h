/*
 * gds-gguf.h - GGUF v3 reader (mmap, validate-before-use) and streaming writer.
 *
 *     struct gds_gguf *f = gds_gguf_open("model.gguf");      // NULL + gds_last_error()
 *     int64_t k = gds_gguf_find_key(f, "deepseek4.block_count");
 *     uint32_t n_layer = gds_gguf_get_u32(f, k);
 *     int64_t t = gds_gguf_find_tensor(f, "blk.0.attn_q_a.weight");
 *     const void *w = gds_gguf_tensor_data(f, t);             // inside the mapping
 *     gds_gguf_close(f);
 *
 *     struct gds_gguf_writer *w = gds_gguf_writer_open("out.gguf"); // writes out.gguf.tmp
 *     gds_gguf_writer_set_str(w, "general.architecture", "deepseek4");
 *     gds_gguf_writer_add_tensor(w, "token_embd.weight", GDS_TYPE_BF16, 2, ne);  // all infos first
 *     gds_gguf_writer_begin_data(w);                          // header is written here
 *     gds_gguf_writer_write(w, bytes, n);                     // tensor data, in add order, streamed
 *     gds_gguf_writer_close(w);                               // pads, checks sizes, renames .tmp -> out
 *     // gds_gguf_writer_abort(w) removes the .tmp file
 *
 * Reader invariants: after a successful open every tensor info has been checked
 * (known type, 1-4 dims, ne0 a multiple of the block size, sizes without
 * overflow, offset aligned and inside the file, no overlaps, no duplicate
 * names) and every key/value parsed with bounds checks, so accessors need no
 * further validation. Accessors given a wrong index or type assert.
 * Errors name the file and the key or tensor.
 *
 * Details: only version 3 is accepted; general.alignment must be a u32 power
 * of two <= 2^30; keys and tensor names are non-empty without NUL bytes (names
 * < GDS_MAX_NAME); tensor offsets may be in any order and need not be packed.
 * Values are copied out of the file: strings are NUL-terminated (a string with
 * an embedded NUL reads as its prefix), numeric arrays are 8-byte aligned.
 * Tensor data points into the mapping (MAP_PRIVATE, read-only); a file that is
 * truncated by someone else while mapped faults on access (SIGBUS).
 * Writer: tensors are laid out in add order, each padded to the alignment
 * (ggml's layout). An I/O error removes path.tmp at once and every later call
 * returns it; argument errors (duplicate key or name, bad type/shape) return
 * GDS_ERR_INVALID and leave the writer usable. An invalid alignment cannot be
 * returned by set_alignment: it aborts the writer (begin_data/close fail).
 */
#ifndef GDS_GGUF_H
#define GDS_GGUF_H

#include "gds.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gds_gguf_type {
    GDS_GGUF_UINT8 = 0, GDS_GGUF_INT8 = 1, GDS_GGUF_UINT16 = 2, GDS_GGUF_INT16 = 3,
    GDS_GGUF_UINT32 = 4, GDS_GGUF_INT32 = 5, GDS_GGUF_FLOAT32 = 6, GDS_GGUF_BOOL = 7,
    GDS_GGUF_STRING = 8, GDS_GGUF_ARRAY = 9, GDS_GGUF_UINT64 = 10, GDS_GGUF_INT64 = 11,
    GDS_GGUF_FLOAT64 = 12,
};

#define GDS_GGUF_DEFAULT_ALIGNMENT 32

struct gds_gguf;

struct gds_gguf *gds_gguf_open(const char *path);
/* Parses an in-memory image (no copy; buf must outlive the handle). For tests and fuzzing. */
struct gds_gguf *gds_gguf_open_memory(const void *buf, size_t size, const char *label);
void gds_gguf_close(struct gds_gguf *f);

const char *gds_gguf_path(const struct gds_gguf *f);
uint32_t gds_gguf_version(const struct gds_gguf *f);
size_t gds_gguf_alignment(const struct gds_gguf *f);
const void *gds_gguf_base(const struct gds_gguf *f);     /* start of the mapping */
size_t gds_gguf_size(const struct gds_gguf *f);
size_t gds_gguf_data_offset(const struct gds_gguf *f);   /* start of the data section in the file */

/* key/values */
int64_t gds_gguf_n_kv(const struct gds_gguf *f);
int64_t gds_gguf_find_key(const struct gds_gguf *f, const char *key); /* -1 if absent */
const char *gds_gguf_key(const struct gds_gguf *f, int64_t i);
enum gds_gguf_type gds_gguf_kv_type(const struct gds_gguf *f, int64_t i);
uint8_t  gds_gguf_get_u8(const struct gds_gguf *f, int64_t i);
int32_t  gds_gguf_get_i32(const struct gds_gguf *f, int64_t i);
uint32_t gds_gguf_get_u32(const struct gds_gguf *f, int64_t i);
uint64_t gds_gguf_get_u64(const struct gds_gguf *f, int64_t i);
float    gds_gguf_get_f32(const struct gds_gguf *f, int64_t i);
bool     gds_gguf_get_bool(const struct gds_gguf *f, int64_t i);
const char *gds_gguf_get_str(const struct gds_gguf *f, int64_t i);   /* NUL-terminated copy */
/* Integer of any integer type, widened; false if the value is not an integer. */
bool gds_gguf_get_int(const struct gds_gguf *f, int64_t i, int64_t *out);
enum gds_gguf_type gds_gguf_arr_type(const struct gds_gguf *f, int64_t i);
int64_t gds_gguf_arr_n(const struct gds_gguf *f, int64_t i);
const void *gds_gguf_arr_data(const struct gds_gguf *f, int64_t i);    /* numeric arrays, packed */
const char *gds_gguf_arr_str(const struct gds_gguf *f, int64_t i, int64_t j);

/* tensors */
int64_t gds_gguf_n_tensors(const struct gds_gguf *f);
int64_t gds_gguf_find_tensor(const struct gds_gguf *f, const char *name); /* -1 if absent */
const char *gds_gguf_tensor_name(const struct gds_gguf *f, int64_t i);
enum gds_type gds_gguf_tensor_type(const struct gds_gguf *f, int64_t i);
int gds_gguf_tensor_n_dims(const struct gds_gguf *f, int64_t i);
void gds_gguf_tensor_ne(const struct gds_gguf *f, int64_t i, int64_t ne[4]); /* unused dims = 1 */
size_t gds_gguf_tensor_offset(const struct gds_gguf *f, int64_t i);  /* relative to the data section */
size_t gds_gguf_tensor_size(const struct gds_gguf *f, int64_t i);    /* bytes */
const void *gds_gguf_tensor_data(const struct gds_gguf *f, int64_t i);

/* --- writer ------------------------------------------------------------------ */
struct gds_gguf_writer;

/* Creates path.tmp (a stale one is unlinked first, never written through a
 * link); NULL at once when path is a directory or path.tmp cannot be made. */
struct gds_gguf_writer *gds_gguf_writer_open(const char *path);
void gds_gguf_writer_set_alignment(struct gds_gguf_writer *w, uint32_t alignment); /* also writes general.alignment */
enum gds_status gds_gguf_writer_set_u8(struct gds_gguf_writer *w, const char *key, uint8_t v);
enum gds_status gds_gguf_writer_set_i32(struct gds_gguf_writer *w, const char *key, int32_t v);
enum gds_status gds_gguf_writer_set_u32(struct gds_gguf_writer *w, const char *key, uint32_t v);
enum gds_status gds_gguf_writer_set_u64(struct gds_gguf_writer *w, const char *key, uint64_t v);
enum gds_status gds_gguf_writer_set_f32(struct gds_gguf_writer *w, const char *key, float v);
enum gds_status gds_gguf_writer_set_bool(struct gds_gguf_writer *w, const char *key, bool v);
enum gds_status gds_gguf_writer_set_str(struct gds_gguf_writer *w, const char *key, const char *v);
/* numeric array: n elements of type t, packed little-endian */
enum gds_status gds_gguf_writer_set_arr(struct gds_gguf_writer *w, const char *key, enum gds_gguf_type t, const void *data, int64_t n);
enum gds_status gds_gguf_writer_set_arr_str(struct gds_gguf_writer *w, const char *key, const char *const *v, int64_t n);
/* Tensor infos, in the order their data will be written. */
enum gds_status gds_gguf_writer_add_tensor(struct gds_gguf_writer *w, const char *name, enum gds_type type, int n_dims, const int64_t *ne);
/* Writes the header; after this only data may follow. */
enum gds_status gds_gguf_writer_begin_data(struct gds_gguf_writer *w);
/* Appends bytes of the current tensor; moves to the next one when it is complete
 * (padding is inserted automatically). */
enum gds_status gds_gguf_writer_write(struct gds_gguf_writer *w, const void *data, size_t n);
/* Checks every tensor was written in full, flushes, fsyncs, renames path.tmp -> path.
 * On any error the .tmp file is removed and no output file exists. Frees w. */
enum gds_status gds_gguf_writer_close(struct gds_gguf_writer *w);
void gds_gguf_writer_abort(struct gds_gguf_writer *w); /* removes path.tmp, frees w */

#ifdef __cplusplus
}
#endif
#endif /* GDS_GGUF_H */
