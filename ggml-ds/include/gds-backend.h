/*
 * gds-backend.h - backends, buffers, the graph allocator and the splitter.
 *
 *     struct gds_backend *cpu = gds_backend_init("cpu", 0);
 *     gds_backend_cpu_set_n_threads(cpu, 8);
 *     // weights/inputs: allocate all tensors of a (no_alloc) context in one buffer
 *     struct gds_buffer *wbuf = gds_backend_alloc_ctx_tensors(cpu, wctx);
 *     gds_backend_tensor_set(x, host_data, 0, gds_nbytes(x));
 *     // compute: intermediates are placed by the liveness allocator
 *     struct gds_sched *s = gds_sched_new(cpu);      // or a GPU backend + CPU fallback
 *     gds_sched_graph_compute(s, graph);
 *     gds_backend_tensor_get(y, out, 0, gds_nbytes(y));
 *
 * A backend is one vtable (ggml-ds/src/gds-impl.h, backends/README.md). The
 * scheduler runs each node on the primary backend when it supports the op and
 * on the CPU backend otherwise, copying tensors across at split boundaries.
 */
#ifndef GDS_BACKEND_H
#define GDS_BACKEND_H

#include "gds.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gds_backend;

struct gds_buffer {
    struct gds_backend *backend;
    void  *base;     /* host pointer, or a backend address usable as tensor->data */
    size_t size;
    bool   is_host;  /* base is host memory the CPU can read and write */
    bool   owned;    /* false: wraps caller memory (host pointer), not freed */
    void  *ctx;      /* backend private */
};

/* Registered backends (static table chosen at build time): "cpu", "ref", ... */
int  gds_backend_count(void);
const char *gds_backend_name_at(int i);
struct gds_backend *gds_backend_init(const char *name, int device); /* NULL + error */
void gds_backend_free(struct gds_backend *b);
const char *gds_backend_name(const struct gds_backend *b);
bool gds_backend_is_cpu(const struct gds_backend *b);

struct gds_buffer *gds_backend_buffer_alloc(struct gds_backend *b, size_t size);
/* Wraps host memory (e.g. an mmap'd GGUF) without a copy; NULL if unsupported. */
struct gds_buffer *gds_backend_buffer_from_host_ptr(struct gds_backend *b, void *ptr, size_t size);
void gds_buffer_free(struct gds_buffer *buf);
size_t gds_backend_alignment(const struct gds_backend *b);

/* Places every tensor of ctx that has no data (views excluded) into one new
 * buffer of b, aligned; views get their addresses from their sources. */
struct gds_buffer *gds_backend_alloc_ctx_tensors(struct gds_backend *b, struct gds_context *ctx);
/* Binds t to buf at offset (no copy). */
enum gds_status gds_tensor_alloc_at(struct gds_tensor *t, struct gds_buffer *buf, size_t offset);
/* Gives a view its address from view_src (after the source got one). */
void gds_tensor_init_view(struct gds_tensor *t);

enum gds_status gds_backend_tensor_set(struct gds_tensor *t, const void *src, size_t offset, size_t n);
enum gds_status gds_backend_tensor_get(const struct gds_tensor *t, void *dst, size_t offset, size_t n);
/* n bytes of host memory into buf at offset (one copy; e.g. a block of graph inputs) */
enum gds_status gds_buffer_write(struct gds_buffer *buf, size_t offset, const void *src, size_t n);
/* Moves bytes [src_off, src_off+n) of t to [dst_off, dst_off+n) in place, the
 * regions may overlap (memmove); on the tensor's own backend (no host trip
 * where the backend has a device copy). */
enum gds_status gds_backend_tensor_move(struct gds_tensor *t, size_t dst_off, size_t src_off, size_t n);

bool gds_backend_supports_op(struct gds_backend *b, const struct gds_tensor *node);
/* Runs a graph whose tensors all have data in this backend's buffers. */
enum gds_status gds_backend_graph_compute(struct gds_backend *b, struct gds_graph *g);
enum gds_status gds_backend_synchronize(struct gds_backend *b);

/* CPU backend options. */
/* AMX = the AVX512 level plus AMX tiles for prefill (Sapphire Rapids and later) */
enum gds_cpu_simd { GDS_SIMD_SCALAR = 0, GDS_SIMD_AVX2 = 1, GDS_SIMD_AVX512 = 2, GDS_SIMD_NEON = 3, GDS_SIMD_AMX = 4, GDS_SIMD_COUNT };
const char *gds_cpu_simd_name(enum gds_cpu_simd s);
bool gds_cpu_simd_available(enum gds_cpu_simd s); /* compiled in and supported by this CPU */
enum gds_cpu_simd gds_cpu_simd_best(void);
void gds_backend_cpu_set_n_threads(struct gds_backend *b, int n);
void gds_backend_cpu_set_simd(struct gds_backend *b, enum gds_cpu_simd s);
/* mul_mat tile kernels on (default) or off (mat-vec kernels only; same bits by
 * contract, test-ops checks it). GDS_NO_TILES=1 turns them off at start. */
void gds_backend_cpu_set_tiles(struct gds_backend *b, bool on);

/* --- graph allocator (liveness based) -------------------------------------
 * Assigns offsets to every node of g that has no data and is not a view, so
 * that two tensors share bytes only if their lifetimes (first write .. last
 * read in node order) do not overlap. Leafs must already have data. Tensors
 * flagged OUTPUT live to the end. Returns the buffer size needed (measure) or
 * places the tensors into buf. */
size_t gds_gallocr_measure(struct gds_graph *g, size_t alignment);
enum gds_status gds_gallocr_alloc(struct gds_graph *g, struct gds_buffer *buf);
/* the same; *need (when not NULL) gets the bytes the graph needs, also when
 * the buffer is too small (GDS_ERR_NOMEM), so a caller can grow it without a
 * second plan (then GDS_ERR_NOMEM comes without an error message) */
enum gds_status gds_gallocr_alloc_fit(struct gds_graph *g, struct gds_buffer *buf, size_t *need);

/* --- scheduler / splitter -------------------------------------------------- */
struct gds_sched;
/* primary may be the CPU backend itself (no splitting then). The scheduler owns
 * a CPU backend for fallback unless primary is one. */
struct gds_sched *gds_sched_new(struct gds_backend *primary);
void gds_sched_free(struct gds_sched *s);
/* Assigns nodes, splits, allocates intermediates per backend, copies across
 * split boundaries and runs the splits in order. Outputs (OUTPUT flag or the
 * last node) are readable with gds_backend_tensor_get afterwards. */
enum gds_status gds_sched_graph_compute(struct gds_sched *s, struct gds_graph *g);
int gds_sched_n_splits(const struct gds_sched *s);
/* Backend that ran node i of the last graph. */
struct gds_backend *gds_sched_node_backend(const struct gds_sched *s, int i);
struct gds_backend *gds_sched_cpu(const struct gds_sched *s);

#ifdef __cplusplus
}
#endif
#endif /* GDS_BACKEND_H */
