/*
 * vulkan-backend.c - the Vulkan backend's host glue (C on the Vulkan loader):
 * instance and device, buffers, copies through a staging buffer, pipelines
 * (one per shader and variant, created on first use from the SPIR-V embedded
 * by tools/embed-spv.c), and graph_compute, which records every node's
 * dispatches into command buffers submitted in chunks (GDS_VK_CHUNK, default
 * 64 dispatches, the first chunk 16: the device starts while the host records
 * the rest) and waits once on the last one's fence.
 *
 *     struct gds_backend *vk = gds_backend_init("vulkan", 0);   // device index
 *
 * Built with `make VULKAN=1` (glslangValidator compiles shaders/NAME.comp at build
 * time; the registry in ggml-ds/src/backend.c then lists "vulkan"). Device:
 * the index given to init, or GDS_VK_DEVICE (an index, or a substring of the
 * device name). Without a device init fails with a message and callers
 * (test-ops -b vulkan, --backend vulkan) report a skip or an error.
 *
 * Memory: a buffer is one VkBuffer with its own allocation, device-local when
 * the device has such memory; buf->base is an address of a private range
 * (never dereferenced: is_host is false), so tensor->data - base is the byte
 * offset inside the VkBuffer. Uploads and downloads go through a host-visible
 * staging buffer, or are a memcpy when the buffer's memory is host-visible
 * (unified memory, lavapipe; GDS_VK_STAGING=1 forces the staging path there).
 *
 * Ops (each family: a shader in shaders/, a host entry in vulkan-ops.c):
 *   done:     cpy get_rows set_rows concat add mul div scale sqrt sigmoid
 *             softplus silu swiglu rms_norm sum_rows soft_max rope (needs
 *             shaderFloat64) hadamard quant_sim top_k mul_mat mul_mat_id (every
 *             weight type: F32 F16 BF16 Q8_0 MXFP4 F8_E4M3_B128, ACT_BF16)
 *             hc_comb hc_pre hc_post compress indexer (F32 or MXFP4 keys)
 *             attn (F32 or KV_E4M3_B64 rows, hd <= 2048): every op of GDS_OP_LIST
 *   refused:  what the supports functions of vulkan-ops.c exclude (types
 *             outside the CPU's rules; ROPE without shaderFloat64; HC > 16;
 *             a tensor or scratch larger than maxStorageBufferRange, 128 MiB
 *             on lavapipe): the scheduler runs those on the CPU
 *   tuned:    MUL_MAT / MUL_MAT_ID (a workgroup per 16 weight rows, 16
 *             threads a row on consecutive elements or blocks; BF16/F16
 *             MUL_MAT: mvs.comp, a thread per (row, lane) chain on weights
 *             staged in shared memory, or matvec.comp, 2-16 threads a row),
 *             HC_COMB (dots double-buffered, sum of squares beside them, a
 *             thread per Sinkhorn entry), RMS_NORM (a row a workgroup),
 *             SET_ROWS KV_E4M3_B64 (a word an invocation), INDEXER (a thread
 *             per head), ATTN (256 entries scored at once); QUANT_SIM BF16
 *             fused into its producer (vk_fuses_bf16, GDS_VK_FUSE=0: off)
 *   not tuned: correctness first - prefill-sized MUL_MAT (no tiling), TOP_K
 *             (O(n^2) per row), a barrier after every dispatch
 * (this list is kept in sync with gds_vk_ops in vulkan-ops.c)
 *
 * Determinism: every reduction runs in one fixed order per output (shared
 * memory trees of a fixed workgroup size, no float atomics), so a graph
 * repeats its bits; the orders are those of the CPU's scalar kernels (except
 * SUM_ROWS: float-float pairs where the CPU sums in double; exp is correctly
 * rounded where glibc's expf is within 0.502 ulp), so on lavapipe a whole
 * model gives the bits of GDS_CPU_SIMD=scalar (tiny-a: 300 positions of
 * logits cmp-equal). Sub-word stores (f16/bf16 and quantized outputs) write
 * whole words where an invocation owns them and atomicAnd/atomicOr on the
 * shared edge words (disjoint bits: the result does not depend on order).
 * Shaders use only core Vulkan 1.2 compute features (32-bit storage access,
 * no 8/16-bit storage, no subgroup ops, no int64), and float64 in ROPE's
 * angle reduction (refused on devices without shaderFloat64) and in exp /
 * log1p (mathf.glsl; "-nof64" builds of those shaders use the device's).
 * fp32 division and sqrt, which Vulkan lets a device round loosely, go
 * through div_rn / sqrt_rn (quants.glsl: correctly rounded as on the CPU).
 */
#include "vulkan-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vulkan/vulkan.h>

enum { VK_MAX_PIPES = 128, VK_STAGE_SIZE = 64u << 20, VK_DS_CACHE = 4096 };

struct vk_buf {             /* one gds_buffer */
    uintptr_t base;         /* private address range [base, base + size) */
    size_t size;
    VkBuffer buf;
    VkDeviceMemory mem;
    void *map;              /* non-NULL: host-visible coherent memory, mapped */
};

struct vk_pipe {
    const char *shader;
    int variant;
    VkPipeline pipe;
};

struct vk_ctx {
    VkInstance inst;
    VkPhysicalDevice pdev;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memp;
    VkCommandPool pool;
    VkCommandBuffer cmd;    /* the buffer being recorded: cmd1 (one-shot copies), or a graph's chunk */
    VkCommandBuffer cmd1;
    /* a graph is recorded and submitted in chunks (GDS_VK_CHUNK dispatches, the first chunk
     * 16), so the device runs the first dispatches while the host records the rest */
    VkCommandBuffer *chunks;
    uint32_t n_chunks;      /* allocated */
    int chunk_n;            /* GDS_VK_CHUNK: dispatches a submission (default 64; 0: the whole graph at once) */
    VkFence fence;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkDescriptorPool dpool;
    uint32_t dpool_cap;     /* sets the pool holds */
    /* GDS_VK_DSCACHE=1: descriptor sets kept across graphs, found by their bindings (a decode
     * graph binds the same buffer ranges token after token: no allocate + update for those);
     * cleared when a buffer was destroyed since (its handle could come back for another) */
    bool dscache;
    VkDescriptorPool cpool;
    struct vk_ds_entry { VkDescriptorBufferInfo bi[VK_N_BIND]; VkDescriptorSet set; } *dtab;
    uint32_t dtab_n;        /* sets in the table */
    uint64_t buf_gen, ds_gen; /* buffers destroyed so far / when the table was cleared */
    struct vk_pipe pipes[VK_MAX_PIPES];
    int n_pipes;
    /* buffers by address */
    struct vk_buf **bufs;
    int n_bufs, cap_bufs;
    uintptr_t next_va;
    /* staging, params, scratch, dummy */
    struct vk_buf stage, params, scratch, dummy;
    uint32_t n_disp;        /* dispatches recorded in the current graph */
    uint32_t cap_disp;      /* descriptor sets the pool holds for a graph */
    uint32_t n_slot;        /* 512-byte parameter slots used in the current graph */
    uint32_t cap_slot;      /* params buffer capacity in slots */
    bool f64;               /* shaderFloat64 (enabled) */
    bool fc;                /* DenormPreserve + SignedZeroInfNanPreserve for fp32: the "-fc" shaders */
    bool params_host;       /* GDS_VK_PARAMS_HOST=1: the params in host memory (buf_create) */
    bool params_dev;        /* the params buffer is device-local (the profile says so) */
    bool force_staging;     /* GDS_VK_STAGING=1: copies through the staging buffer even where
                               buffers are host-visible (tests the discrete-GPU path on lavapipe) */
    /* GDS_VK_PROF=1: device time per op and per gds_prof_key (op, weight, type,
     * vec/mat, "(1 row)") from timestamps around every dispatch, printed when
     * the backend is freed; GDS_VK_PROF_SKIP=N leaves the first N graphs out
     * (gds-bench's warm-up is 2: a prefill and one decode step) */
    bool prof;
    VkQueryPool qpool;
    uint32_t qcap;          /* timestamps the pool holds (2 per dispatch) */
    int *prof_op;           /* key index of each dispatch of the current graph */
    int prof_cur;           /* key index of the node being recorded */
    bool prof_on;           /* the current graph counts */
    int prof_skip;          /* graphs to leave out */
    uint64_t prof_graphs;   /* graphs counted */
    uint64_t prof_seen;     /* graphs recorded */
    double prof_rec_ms, prof_wait_ms; /* host time recording (to the last submission) and waiting, counted graphs */
    const struct gds_tensor *fuse_out; /* a fused QUANT_SIM's output while its producer records */
    bool fuse;              /* GDS_VK_FUSE=0: no QUANT_SIM fusion */
    struct vk_prof_key { char key[96]; enum gds_op op; double ms; uint64_t calls, disp; } *prof_keys;
    int prof_nkeys;
};

enum { VK_PROF_KEYS = 512 };

bool vk_has_f64(const struct vk_ctx *c) { return c->f64; }

int vk_env_int(const char *name, int def) {
    const char *e = getenv(name);
    if (!e || !*e) return def;
    char *end;
    const long v = strtol(e, &end, 10);
    return end == e ? 1 : (int)v;
}

static enum gds_status vk_err(VkResult r, const char *what) {
    return gds_error(r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? GDS_ERR_NOMEM : GDS_ERR_BACKEND,
                     "vulkan: %s failed (VkResult %d)", what, (int)r);
}
#define VK_CHECK(call, what) do { VkResult r_ = (call); if (r_ != VK_SUCCESS) return vk_err(r_, what); } while (0)

/* ---- memory ------------------------------------------------------------------ */

/* a memory type of `bits` with all of `want` and none of `avoid`; -1 if none */
static int mem_type(const struct vk_ctx *c, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < c->memp.memoryTypeCount; i++)
        if ((bits & (1u << i)) && (c->memp.memoryTypes[i].propertyFlags & want) == want &&
            !(c->memp.memoryTypes[i].propertyFlags & avoid))
            return (int)i;
    return -1;
}

/* kinds of buffers: tensors and scratch (device-local), staging (host-visible),
 * params (host-visible, device-local where the device has such memory: every
 * workgroup of every dispatch reads its parameters, and a read of host memory
 * crosses the bus; GDS_VK_PARAMS_HOST=1 keeps them in host memory, for A/B) */
enum buf_kind { BUF_DEVICE, BUF_HOST, BUF_PARAMS };

static enum gds_status buf_create(struct vk_ctx *c, size_t size, enum buf_kind kind, struct vk_buf *b) {
    memset(b, 0, sizeof *b);
    size = GDS_PAD(size ? size : 4, 256);
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VK_CHECK(vkCreateBuffer(c->dev, &bi, NULL, &b->buf), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const bool host_visible = kind != BUF_DEVICE;
    /* params: device-local host-visible coherent first (a discrete GPU's BAR
     * window: written once by the host, read by every workgroup); staging and
     * params otherwise: host-visible coherent, cached if possible; tensors:
     * device-local, preferably not host-visible (a discrete GPU's host-visible
     * device memory is often a small BAR window), else any device-local
     * (unified memory: lavapipe, integrated GPUs), else anything. A failed
     * allocation of the params' first choice falls back to the next. */
    int mt = kind == BUF_PARAMS && !c->params_host ? mem_type(c, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0) : -1;
    VkResult r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    if (mt >= 0) {
        VkMemoryAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)mt };
        r = vkAllocateMemory(c->dev, &ai, NULL, &b->mem);
    }
    if (r != VK_SUCCESS) {
        mt = host_visible ? mem_type(c, req.memoryTypeBits, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0) : -1;
        if (mt < 0 && host_visible) mt = mem_type(c, req.memoryTypeBits, hv, 0);
        if (mt < 0) mt = mem_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
        if (mt < 0) mt = mem_type(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (mt < 0) mt = mem_type(c, req.memoryTypeBits, 0, 0);
        if (mt < 0) { vkDestroyBuffer(c->dev, b->buf, NULL); return gds_error(GDS_ERR_BACKEND, "vulkan: no memory type for a buffer"); }
        VkMemoryAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)mt };
        r = vkAllocateMemory(c->dev, &ai, NULL, &b->mem);
    }
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(c->dev, b->buf, NULL);
        return gds_error(GDS_ERR_NOMEM, "vulkan: cannot allocate %zu bytes (VkResult %d)", size, (int)r);
    }
    VK_CHECK(vkBindBufferMemory(c->dev, b->buf, b->mem, 0), "vkBindBufferMemory");
    if ((c->memp.memoryTypes[mt].propertyFlags & hv) == hv && (host_visible || !c->force_staging))
        VK_CHECK(vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map), "vkMapMemory");
    else if (host_visible) return gds_error(GDS_ERR_BACKEND, "vulkan: no host-visible coherent memory");
    if (kind == BUF_PARAMS) c->params_dev = (c->memp.memoryTypes[mt].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) != 0;
    b->size = size;
    return GDS_OK;
}

static void buf_destroy(struct vk_ctx *c, struct vk_buf *b) {
    if (b->buf) c->buf_gen++; /* cached descriptor sets may name it */
    if (b->map) vkUnmapMemory(c->dev, b->mem);
    if (b->buf) vkDestroyBuffer(c->dev, b->buf, NULL);
    if (b->mem) vkFreeMemory(c->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

/* the buffer holding address p (NULL if none); *off = byte offset inside it */
static struct vk_buf *buf_of(const struct vk_ctx *c, const void *p, size_t *off) {
    const uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < c->n_bufs; i++) {
        struct vk_buf *b = c->bufs[i];
        if (a >= b->base && a < b->base + b->size + 1) { /* + 1: a zero-size tensor at the end */
            *off = a - b->base;
            return b;
        }
    }
    return NULL;
}

/* ---- one-shot command submission ------------------------------------------- */

static enum gds_status cmd_begin(struct vk_ctx *c) {
    VK_CHECK(vkResetCommandBuffer(c->cmd, 0), "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VK_CHECK(vkBeginCommandBuffer(c->cmd, &bi), "vkBeginCommandBuffer");
    return GDS_OK;
}

/* ends the current command buffer and submits it (fence: VK_NULL_HANDLE, or signalled when it and
 * everything submitted before it are done) */
static VkResult cmd_end_submit(struct vk_ctx *c, VkFence fence) {
    VkResult r = vkEndCommandBuffer(c->cmd);
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &c->cmd };
    return r == VK_SUCCESS ? vkQueueSubmit(c->queue, 1, &si, fence) : r;
}

static enum gds_status cmd_submit_wait(struct vk_ctx *c, const char *what) {
    VK_CHECK(vkResetFences(c->dev, 1, &c->fence), "vkResetFences");
    VK_CHECK(cmd_end_submit(c, c->fence), what);
    VK_CHECK(vkWaitForFences(c->dev, 1, &c->fence, VK_TRUE, UINT64_MAX), what);
    return GDS_OK;
}

static void barrier_all(struct vk_ctx *c) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    vkCmdPipelineBarrier(c->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* ---- init / free ------------------------------------------------------------ */

static int prof_key_cmp(const void *a, const void *b) {
    const double x = ((const struct vk_prof_key *)a)->ms, y = ((const struct vk_prof_key *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void prof_print(struct vk_ctx *c) {
    double tot = 0;
    uint64_t nd = 0;
    /* per op: the sums of its keys (a key belongs to one op) */
    double prof_ms[GDS_OP_COUNT] = { 0 };
    uint64_t prof_n[GDS_OP_COUNT] = { 0 };
    for (int i = 0; i < c->prof_nkeys; i++) {
        prof_ms[c->prof_keys[i].op] += c->prof_keys[i].ms;
        prof_n[c->prof_keys[i].op] += c->prof_keys[i].disp;
    }
    for (int i = 0; i < GDS_OP_COUNT; i++) { tot += prof_ms[i]; nd += prof_n[i]; }
    const double ng = c->prof_graphs ? (double)c->prof_graphs : 1.0;
    fprintf(stderr, "vulkan profile (%s, params in %s memory): %.1f ms of dispatches in %llu graphs (%d left out): %.3f ms, %.1f dispatches a graph\n",
            c->props.deviceName, c->params_dev ? "device" : "host", tot, (unsigned long long)c->prof_graphs, c->prof_skip, tot / ng, (double)nd / ng);
    fprintf(stderr, "vulkan host per graph: %.3f ms recording (to the last submission; %s), %.3f ms waiting\n", c->prof_rec_ms / ng,
            c->chunk_n ? "submitted in chunks" : "one submission", c->prof_wait_ms / ng);
    for (int i = 0; i < GDS_OP_COUNT; i++)
        if (prof_n[i])
            fprintf(stderr, "  %-12s %9.1f ms %5.1f %% %8llu dispatches %8.1f us each %8.3f ms a graph\n", gds_op_name((enum gds_op)i),
                    prof_ms[i], tot > 0 ? 100 * prof_ms[i] / tot : 0.0, (unsigned long long)prof_n[i],
                    1e3 * prof_ms[i] / (double)prof_n[i], prof_ms[i] / ng);
    if (!c->prof_keys) return;
    qsort(c->prof_keys, (size_t)c->prof_nkeys, sizeof *c->prof_keys, prof_key_cmp);
    fprintf(stderr, "vulkan profile by node (as GDS_PROF's keys):\n      ms       %%     calls   us/call  disp/call  node\n");
    for (int i = 0; i < c->prof_nkeys; i++) {
        const struct vk_prof_key *k = &c->prof_keys[i];
        if (!k->calls) continue;
        fprintf(stderr, "%8.1f  %5.1f%%  %8llu  %8.1f  %9.1f  %s\n", k->ms, tot > 0 ? 100 * k->ms / tot : 0.0, (unsigned long long)k->calls,
                1e3 * k->ms / (double)k->calls, (double)k->disp / (double)k->calls, k->key);
    }
}

/* the profile key index of node t (a new key if unseen; the last slot takes the overflow) */
static int prof_key(struct vk_ctx *c, const struct gds_tensor *t) {
    char key[96];
    gds_prof_key(t, key, sizeof key);
    for (int i = 0; i < c->prof_nkeys; i++)
        if (!strcmp(c->prof_keys[i].key, key)) return i;
    if (c->prof_nkeys == VK_PROF_KEYS) return VK_PROF_KEYS - 1;
    struct vk_prof_key *k = &c->prof_keys[c->prof_nkeys];
    snprintf(k->key, sizeof k->key, "%s", key);
    k->op = t->op;
    return c->prof_nkeys++;
}

static void vk_free_ctx(struct vk_ctx *c) {
    if (!c) return;
    if (c->prof) prof_print(c);
    free(c->prof_op);
    free(c->prof_keys);
    if (c->dev) {
        vkDeviceWaitIdle(c->dev);
        if (c->qpool) vkDestroyQueryPool(c->dev, c->qpool, NULL);
        for (int i = 0; i < c->n_pipes; i++) vkDestroyPipeline(c->dev, c->pipes[i].pipe, NULL);
        buf_destroy(c, &c->stage);
        buf_destroy(c, &c->params);
        buf_destroy(c, &c->scratch);
        buf_destroy(c, &c->dummy);
        if (c->dpool) vkDestroyDescriptorPool(c->dev, c->dpool, NULL);
        if (c->cpool) vkDestroyDescriptorPool(c->dev, c->cpool, NULL);
        if (c->layout) vkDestroyPipelineLayout(c->dev, c->layout, NULL);
        if (c->dsl) vkDestroyDescriptorSetLayout(c->dev, c->dsl, NULL);
        if (c->fence) vkDestroyFence(c->dev, c->fence, NULL);
        if (c->pool) vkDestroyCommandPool(c->dev, c->pool, NULL);
        vkDestroyDevice(c->dev, NULL);
    }
    if (c->inst) vkDestroyInstance(c->inst, NULL);
    free(c->bufs);
    free(c->chunks);
    free(c->dtab);
    free(c);
}

/* device index from GDS_VK_DEVICE (a number, or a substring of the name), else `device` */
static int pick_device(VkPhysicalDevice *pd, uint32_t n, int device) {
    const char *e = getenv("GDS_VK_DEVICE");
    if (!e || !*e) return device;
    char *end;
    long v = strtol(e, &end, 10);
    if (!*end) return (int)v;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd[i], &p);
        if (strstr(p.deviceName, e)) return (int)i;
    }
    return -1;
}

static enum gds_status vk_init_ctx(struct vk_ctx *c, int device) {
    VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "ggml-ds", .apiVersion = VK_API_VERSION_1_2 };
    VkInstanceCreateInfo ii = { .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app };
    VkResult r = vkCreateInstance(&ii, NULL, &c->inst);
    if (r != VK_SUCCESS) return gds_error(GDS_ERR_UNSUPPORTED, "vulkan: no Vulkan instance (VkResult %d: loader or driver missing)", (int)r);
    uint32_t n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(c->inst, &n, NULL), "vkEnumeratePhysicalDevices");
    if (n == 0) return gds_error(GDS_ERR_UNSUPPORTED, "vulkan: no Vulkan device");
    VkPhysicalDevice pd[16];
    if (n > 16) n = 16;
    r = vkEnumeratePhysicalDevices(c->inst, &n, pd);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_err(r, "vkEnumeratePhysicalDevices");
    const int di = pick_device(pd, n, device);
    if (di < 0 || di >= (int)n) {
        char list[512] = "";
        size_t k = 0;
        for (uint32_t i = 0; i < n && k < sizeof list; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pd[i], &p);
            k += (size_t)snprintf(list + k, sizeof list - k, "%s%u: %s", i ? ", " : "", i, p.deviceName);
        }
        const char *e = getenv("GDS_VK_DEVICE");
        if (e && *e) return gds_error(GDS_ERR_INVALID, "vulkan: GDS_VK_DEVICE=%s names no device (devices: %s)", e, list);
        return gds_error(GDS_ERR_INVALID, "vulkan: no device %d (devices: %s)", di, list);
    }
    c->pdev = pd[di];
    vkGetPhysicalDeviceProperties(c->pdev, &c->props);
    vkGetPhysicalDeviceMemoryProperties(c->pdev, &c->memp);
    if (c->props.apiVersion < VK_API_VERSION_1_2)
        return gds_error(GDS_ERR_UNSUPPORTED, "vulkan: %s supports Vulkan %u.%u, 1.2 is needed", c->props.deviceName,
                         VK_API_VERSION_MAJOR(c->props.apiVersion), VK_API_VERSION_MINOR(c->props.apiVersion));
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(c->pdev, &nq, NULL);
    VkQueueFamilyProperties qp[32];
    if (nq > 32) nq = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(c->pdev, &nq, qp);
    c->qfam = UINT32_MAX;
    for (uint32_t i = 0; i < nq && c->qfam == UINT32_MAX; i++)
        if (qp[i].queueFlags & VK_QUEUE_COMPUTE_BIT) c->qfam = i;
    if (c->qfam == UINT32_MAX) return gds_error(GDS_ERR_UNSUPPORTED, "vulkan: %s has no compute queue", c->props.deviceName);
    const float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = c->qfam, .queueCount = 1, .pQueuePriorities = &prio };
    /* optional features: shaderFloat64 (ROPE's angle reduction, refused without it;
     * exp/log1p as libm gives them, else the "-nof64" shaders with the device's) */
    VkPhysicalDeviceFeatures have, want;
    vkGetPhysicalDeviceFeatures(c->pdev, &have);
    memset(&want, 0, sizeof want);
    /* float controls (Vulkan 1.2 core properties): fp32 denormals and Inf/NaN
     * preserved where the device can (GDS_VK_FLOAT_CONTROLS=0: not asked for) */
    VkPhysicalDeviceFloatControlsProperties fcp = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES };
    VkPhysicalDeviceProperties2 p2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &fcp };
    vkGetPhysicalDeviceProperties2(c->pdev, &p2);
    c->fc = fcp.shaderDenormPreserveFloat32 && fcp.shaderSignedZeroInfNanPreserveFloat32 && vk_env_int("GDS_VK_FLOAT_CONTROLS", 1);
    /* GDS_VK_NO_F64=1: behave as a device without it (tests the fallbacks) */
    c->f64 = have.shaderFloat64 == VK_TRUE && !vk_env_int("GDS_VK_NO_F64", 0);
    want.shaderFloat64 = c->f64 ? VK_TRUE : VK_FALSE;
    VkDeviceCreateInfo dci = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1, .pQueueCreateInfos = &qi,
                               .pEnabledFeatures = &want };
    VK_CHECK(vkCreateDevice(c->pdev, &dci, NULL, &c->dev), "vkCreateDevice");
    vkGetDeviceQueue(c->dev, c->qfam, 0, &c->queue);
    VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, .queueFamilyIndex = c->qfam };
    VK_CHECK(vkCreateCommandPool(c->dev, &pci, NULL, &c->pool), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1 };
    VK_CHECK(vkAllocateCommandBuffers(c->dev, &cai, &c->cmd1), "vkAllocateCommandBuffers");
    c->cmd = c->cmd1;
    c->chunk_n = vk_env_int("GDS_VK_CHUNK", 64);
    if (c->chunk_n < 0) c->chunk_n = 0;
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    VK_CHECK(vkCreateFence(c->dev, &fci, NULL, &c->fence), "vkCreateFence");
    VkDescriptorSetLayoutBinding bd[VK_N_BIND];
    for (int i = 0; i < VK_N_BIND; i++)
        bd[i] = (VkDescriptorSetLayoutBinding){ .binding = (uint32_t)i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT };
    VkDescriptorSetLayoutCreateInfo dli = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = VK_N_BIND, .pBindings = bd };
    VK_CHECK(vkCreateDescriptorSetLayout(c->dev, &dli, NULL, &c->dsl), "vkCreateDescriptorSetLayout");
    VkPipelineLayoutCreateInfo pli = { .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1, .pSetLayouts = &c->dsl };
    VK_CHECK(vkCreatePipelineLayout(c->dev, &pli, NULL, &c->layout), "vkCreatePipelineLayout");
    c->force_staging = vk_env_int("GDS_VK_STAGING", 0) != 0;
    c->params_host = vk_env_int("GDS_VK_PARAMS_HOST", 0) != 0;
    enum gds_status st = buf_create(c, 256, BUF_DEVICE, &c->dummy);
    if (st == GDS_OK) st = buf_create(c, VK_STAGE_SIZE, BUF_HOST, &c->stage);
    c->next_va = (uintptr_t)1 << 40;
    c->prof = vk_env_int("GDS_VK_PROF", 0) && c->props.limits.timestampPeriod > 0 && qp[c->qfam].timestampValidBits > 0;
    c->fuse = vk_env_int("GDS_VK_FUSE", 1) != 0;
    c->dscache = vk_env_int("GDS_VK_DSCACHE", 0) != 0;
    if (c->dscache && st == GDS_OK) {
        VkDescriptorPoolSize ps = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = VK_DS_CACHE * VK_N_BIND };
        VkDescriptorPoolCreateInfo pi = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = VK_DS_CACHE, .poolSizeCount = 1, .pPoolSizes = &ps };
        VK_CHECK(vkCreateDescriptorPool(c->dev, &pi, NULL, &c->cpool), "vkCreateDescriptorPool (cache)");
        if (!(c->dtab = calloc(2 * VK_DS_CACHE, sizeof *c->dtab))) return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory");
    }
    if (c->prof) {
        c->prof_skip = vk_env_int("GDS_VK_PROF_SKIP", 0);
        if (!(c->prof_keys = calloc(VK_PROF_KEYS, sizeof *c->prof_keys))) return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory");
    }
    return st;
}

static enum gds_status vulkan_init(struct gds_backend *b, int device) {
    struct vk_ctx *c = calloc(1, sizeof *c);
    if (!c) return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory");
    enum gds_status st = vk_init_ctx(c, device);
    if (st != GDS_OK) { vk_free_ctx(c); return st; }
    gds_log(GDS_LOG_DEBUG, "vulkan: %s (float64 %s, float controls %s)\n", c->props.deviceName, c->f64 ? "yes" : "no", c->fc ? "yes" : "no");
    b->ctx = c;
    return GDS_OK;
}

static void vulkan_free(struct gds_backend *b) {
    vk_free_ctx(b->ctx);
    b->ctx = NULL;
}

/* ---- buffers and copies ------------------------------------------------------- */

static enum gds_status vulkan_buffer_alloc(struct gds_backend *b, size_t size, struct gds_buffer *buf) {
    struct vk_ctx *c = b->ctx;
    struct vk_buf *vb = calloc(1, sizeof *vb);
    if (!vb) return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory");
    enum gds_status st = buf_create(c, size, BUF_DEVICE, vb);
    if (st != GDS_OK) { free(vb); return st; }
    if (c->n_bufs == c->cap_bufs) {
        int cap = c->cap_bufs ? 2 * c->cap_bufs : 16;
        struct vk_buf **nb = realloc(c->bufs, (size_t)cap * sizeof *nb);
        if (!nb) { buf_destroy(c, vb); free(vb); return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory"); }
        c->bufs = nb;
        c->cap_bufs = cap;
    }
    vb->base = c->next_va;
    c->next_va += GDS_PAD(vb->size, (size_t)1 << 20) + ((size_t)1 << 20);
    c->bufs[c->n_bufs++] = vb;
    buf->base = (void *)vb->base;
    buf->size = size;
    buf->is_host = false;
    buf->ctx = vb;
    return GDS_OK;
}

static void vulkan_buffer_free(struct gds_backend *b, struct gds_buffer *buf) {
    struct vk_ctx *c = b->ctx;
    struct vk_buf *vb = buf->ctx;
    if (!vb) return;
    vkQueueWaitIdle(c->queue);
    for (int i = 0; i < c->n_bufs; i++)
        if (c->bufs[i] == vb) { c->bufs[i] = c->bufs[--c->n_bufs]; break; }
    buf_destroy(c, vb);
    free(vb);
    buf->ctx = NULL;
}

/* host <-> device bytes: memcpy when mapped, else through the staging buffer in chunks */
static enum gds_status copy_host(struct vk_ctx *c, const void *addr, void *host, size_t n, bool to_dev) {
    size_t off;
    struct vk_buf *vb = buf_of(c, addr, &off);
    if (!vb || off + n > vb->size) return gds_error(GDS_ERR_INVALID, "vulkan: address %p is not in a vulkan buffer", addr);
    if (vb->map) {
        if (to_dev) memcpy((char *)vb->map + off, host, n);
        else memcpy(host, (const char *)vb->map + off, n);
        return GDS_OK;
    }
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < c->stage.size ? n - done : c->stage.size;
        if (to_dev) memcpy(c->stage.map, (const char *)host + done, k);
        enum gds_status st = cmd_begin(c);
        if (st != GDS_OK) return st;
        VkBufferCopy rg = { .srcOffset = to_dev ? 0 : off + done, .dstOffset = to_dev ? off + done : 0, .size = k };
        vkCmdCopyBuffer(c->cmd, to_dev ? c->stage.buf : vb->buf, to_dev ? vb->buf : c->stage.buf, 1, &rg);
        if ((st = cmd_submit_wait(c, to_dev ? "upload" : "download")) != GDS_OK) return st;
        if (!to_dev) memcpy((char *)host + done, c->stage.map, k);
        done += k;
    }
    return GDS_OK;
}

static enum gds_status vulkan_tensor_set(struct gds_backend *b, struct gds_tensor *t, const void *src, size_t offset, size_t n) {
    return copy_host(b->ctx, (const char *)t->data + offset, (void *)src, n, true);
}

static enum gds_status vulkan_tensor_get(struct gds_backend *b, const struct gds_tensor *t, void *dst, size_t offset, size_t n) {
    return copy_host(b->ctx, (const char *)t->data + offset, dst, n, false);
}

/* grows the scratch to at least n bytes (no work may be queued) */
static enum gds_status ensure_scratch(struct vk_ctx *c, size_t n) {
    if (n <= c->scratch.size) return GDS_OK;
    buf_destroy(c, &c->scratch);
    return buf_create(c, n + n / 4, BUF_DEVICE, &c->scratch);
}

static enum gds_status vulkan_memmove(struct gds_backend *b, void *dst, const void *src, size_t n) {
    struct vk_ctx *c = b->ctx;
    size_t od = 0, os = 0;
    struct vk_buf *bd = buf_of(c, dst, &od), *bs = buf_of(c, src, &os);
    if (!bd || !bs || od + n > bd->size || os + n > bs->size) return gds_error(GDS_ERR_INVALID, "vulkan: memmove outside the vulkan buffers");
    const bool overlap = bd == bs && od < os + n && os < od + n;
    enum gds_status st = overlap ? ensure_scratch(c, n) : GDS_OK;
    if (st == GDS_OK) st = cmd_begin(c);
    if (st != GDS_OK) return st;
    if (overlap) {
        VkBufferCopy r1 = { .srcOffset = os, .dstOffset = 0, .size = n }, r2 = { .srcOffset = 0, .dstOffset = od, .size = n };
        vkCmdCopyBuffer(c->cmd, bs->buf, c->scratch.buf, 1, &r1);
        barrier_all(c);
        vkCmdCopyBuffer(c->cmd, c->scratch.buf, bd->buf, 1, &r2);
    } else {
        VkBufferCopy r1 = { .srcOffset = os, .dstOffset = od, .size = n };
        vkCmdCopyBuffer(c->cmd, bs->buf, bd->buf, 1, &r1);
    }
    return cmd_submit_wait(c, "memmove");
}

/* ---- pipelines ----------------------------------------------------------------- */

static const struct vk_spv *spv_find(const char *name) {
    int lo = 0, hi = gds_vk_n_spv - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2, k = strcmp(gds_vk_spv[mid].name, name);
        if (k == 0) return &gds_vk_spv[mid];
        if (k < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static enum gds_status pipeline_get(struct vk_ctx *c, const char *shader, int variant, VkPipeline *out) {
    for (int i = 0; i < c->n_pipes; i++)
        if (c->pipes[i].variant == variant && !strcmp(c->pipes[i].shader, shader)) { *out = c->pipes[i].pipe; return GDS_OK; }
    if (c->n_pipes == VK_MAX_PIPES) return gds_error(GDS_ERR_BACKEND, "vulkan: more than %d pipelines", VK_MAX_PIPES);
    const struct vk_spv *m = spv_find(shader);
    if (!m) return gds_error(GDS_ERR_BACKEND, "vulkan: no embedded shader '%s'", shader);
    VkShaderModuleCreateInfo mi = { .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = m->n_words * 4, .pCode = m->words };
    VkShaderModule mod;
    VK_CHECK(vkCreateShaderModule(c->dev, &mi, NULL, &mod), "vkCreateShaderModule");
    /* constant 0: the variant; constant 1: variant >> 16 (the workgroup size of
     * shaders that take it, layout(local_size_x_id = 1); ignored by the others) */
    const int32_t spec[2] = { variant, variant >> 16 };
    const VkSpecializationMapEntry me[2] = { { .constantID = 0, .offset = 0, .size = 4 }, { .constantID = 1, .offset = 4, .size = 4 } };
    VkSpecializationInfo si = { .mapEntryCount = 2, .pMapEntries = me, .dataSize = sizeof spec, .pData = spec };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = { .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                   .module = mod, .pName = "main", .pSpecializationInfo = &si },
        .layout = c->layout,
    };
    VkResult r = vkCreateComputePipelines(c->dev, VK_NULL_HANDLE, 1, &ci, NULL, out);
    vkDestroyShaderModule(c->dev, mod, NULL);
    if (r != VK_SUCCESS) return vk_err(r, "vkCreateComputePipelines");
    c->pipes[c->n_pipes++] = (struct vk_pipe){ .shader = m->name, .variant = variant, .pipe = *out };
    return GDS_OK;
}

/* ---- dispatch ------------------------------------------------------------------- */

void vk_groups_1d(const struct vk_ctx *c, uint64_t n, uint32_t per_group, uint32_t groups[3]) {
    uint64_t g = (n + per_group - 1) / per_group;
    const uint64_t mx = c->props.limits.maxComputeWorkGroupCount[0];
    if (g == 0) g = 1;
    groups[0] = (uint32_t)(g < mx ? g : mx);
    groups[1] = (uint32_t)((g + groups[0] - 1) / groups[0]);
    groups[2] = 1;
}

/* the byte offset of t inside its binding (vk_tensor.offs of bind_tensor); 1 if t is not in a vulkan buffer */
uint32_t vk_tensor_offs(const struct vk_ctx *c, const struct gds_tensor *t) {
    size_t off;
    if (!buf_of(c, t->data, &off)) return 1;
    const size_t al = c->props.limits.minStorageBufferOffsetAlignment ? c->props.limits.minStorageBufferOffsetAlignment : 1;
    return (uint32_t)(off % al);
}

/* descriptor for tensor t: binding range and the byte offset left for the shader */
static enum gds_status bind_tensor(struct vk_ctx *c, const struct gds_tensor *t, VkDescriptorBufferInfo *bi, struct vk_tensor *vt) {
    memset(vt, 0, sizeof *vt);
    if (!t) {
        *bi = (VkDescriptorBufferInfo){ .buffer = c->dummy.buf, .offset = 0, .range = c->dummy.size };
        return GDS_OK;
    }
    size_t off;
    struct vk_buf *vb = buf_of(c, t->data, &off);
    if (!vb) return gds_error(GDS_ERR_INVALID, "vulkan: tensor '%s' is not in a vulkan buffer", t->name);
    const size_t al = c->props.limits.minStorageBufferOffsetAlignment ? c->props.limits.minStorageBufferOffsetAlignment : 1;
    const size_t start = off / al * al;
    size_t end = GDS_PAD(off + gds_nbytes(t), 4);
    if (end > vb->size) end = vb->size;
    if (end <= start) end = start + 4 <= vb->size ? start + 4 : vb->size;
    if (end - start > c->props.limits.maxStorageBufferRange)
        return gds_error(GDS_ERR_UNSUPPORTED, "vulkan: tensor '%s' spans %zu bytes, more than the device's maxStorageBufferRange %u",
                         t->name, end - start, c->props.limits.maxStorageBufferRange);
    *bi = (VkDescriptorBufferInfo){ .buffer = vb->buf, .offset = start, .range = end - start };
    for (int i = 0; i < 4; i++) {
        vt->ne[i] = (uint32_t)t->ne[i];
        vt->nb[i] = (uint32_t)t->nb[i];
    }
    vt->offs = (uint32_t)(off - start);
    vt->type = (uint32_t)t->type;
    return GDS_OK;
}

/* ---- descriptor-set cache (GDS_VK_DSCACHE=1) ---------------------------------------
 * Open addressing over 2 * VK_DS_CACHE entries keyed by the nine bindings (buffer,
 * offset, range: no padding in VkDescriptorBufferInfo); at most VK_DS_CACHE sets, then
 * the per-graph pool serves the rest. ds_cache_begin runs before a graph records
 * (the one before it has completed, so no pending command buffer uses a set): it
 * clears the table when a buffer was destroyed since, or when it is 3/4 full. */
static uint64_t ds_hash(const VkDescriptorBufferInfo *bi) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < VK_N_BIND; i++) {
        uint64_t b;
        memcpy(&b, &bi[i].buffer, sizeof b); /* a handle: a pointer or a 64-bit id */
        h = (h ^ b ^ (bi[i].offset << 20) ^ bi[i].range) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    return h;
}

static enum gds_status ds_cache_begin(struct vk_ctx *c) {
    if (c->ds_gen == c->buf_gen && c->dtab_n <= VK_DS_CACHE / 4 * 3) return GDS_OK;
    VK_CHECK(vkResetDescriptorPool(c->dev, c->cpool, 0), "vkResetDescriptorPool (cache)");
    memset(c->dtab, 0, 2 * VK_DS_CACHE * sizeof *c->dtab);
    c->dtab_n = 0;
    c->ds_gen = c->buf_gen;
    return GDS_OK;
}

/* a set of pool with the nine bindings bi */
static VkResult ds_make(struct vk_ctx *c, VkDescriptorPool pool, const VkDescriptorBufferInfo *bi, VkDescriptorSet *set) {
    VkDescriptorSetAllocateInfo ai = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = pool, .descriptorSetCount = 1, .pSetLayouts = &c->dsl };
    const VkResult r = vkAllocateDescriptorSets(c->dev, &ai, set);
    if (r != VK_SUCCESS) return r;
    VkWriteDescriptorSet w[VK_N_BIND];
    for (int k = 0; k < VK_N_BIND; k++)
        w[k] = (VkWriteDescriptorSet){ .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = *set, .dstBinding = (uint32_t)k,
                                       .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi[k] };
    vkUpdateDescriptorSets(c->dev, VK_N_BIND, w, 0, NULL);
    return VK_SUCCESS;
}

/* the cached set with these bindings, made now if missing; VK_NULL_HANDLE when the cache is full */
static VkDescriptorSet ds_cache_get(struct vk_ctx *c, const VkDescriptorBufferInfo *bi) {
    const uint32_t mask = 2 * VK_DS_CACHE - 1;
    uint32_t i = (uint32_t)ds_hash(bi) & mask;
    for (; c->dtab[i].set != VK_NULL_HANDLE; i = (i + 1) & mask)
        if (!memcmp(c->dtab[i].bi, bi, sizeof c->dtab[i].bi)) return c->dtab[i].set;
    VkDescriptorSet set;
    if (c->dtab_n >= VK_DS_CACHE || ds_make(c, c->cpool, bi, &set) != VK_SUCCESS) return VK_NULL_HANDLE;
    memcpy(c->dtab[i].bi, bi, sizeof c->dtab[i].bi);
    c->dtab[i].set = set;
    c->dtab_n++;
    return set;
}

enum gds_status vk_dispatch(struct vk_ctx *c, const struct gds_tensor *t, const char *shader, int variant,
                            const uint32_t groups[3], const uint32_t *u, int n_u) {
    return vk_dispatch_aux(c, t, shader, variant, groups, u, n_u, NULL, 0);
}

enum gds_status vk_dispatch_aux(struct vk_ctx *c, const struct gds_tensor *t, const char *shader, int variant,
                                const uint32_t groups[3], const uint32_t *u, int n_u, const void *aux, size_t aux_bytes) {
    const uint32_t slots = 1 + (uint32_t)((aux_bytes + VK_PARAMS_SIZE - 1) / VK_PARAMS_SIZE);
    if (aux_bytes > VK_AUX_MAX) return gds_error(GDS_ERR_BACKEND, "vulkan: %zu bytes of aux data (at most %d)", aux_bytes, (int)VK_AUX_MAX);
    if (c->n_disp >= c->cap_disp || c->n_slot + slots > c->cap_slot)
        return gds_error(GDS_ERR_BACKEND, "vulkan: more dispatches than planned (%u)", c->cap_disp);
    VkPipeline pipe;
    enum gds_status st = GDS_ERR_BACKEND;
    if (c->fc && !strstr(shader, "-nof64")) { /* the float-controls build of the shader */
        char fcname[64];
        snprintf(fcname, sizeof fcname, "%s-fc", shader);
        if ((st = pipeline_get(c, fcname, variant, &pipe)) != GDS_OK) {
            /* a driver that reports the float controls but cannot build with them: plain builds from now on */
            gds_log(GDS_LOG_WARN, "vulkan: %s: no pipeline with float controls (%s); using the plain shaders\n", fcname, gds_last_error());
            c->fc = false;
        }
    }
    if (st != GDS_OK && (st = pipeline_get(c, shader, variant, &pipe)) != GDS_OK) return st;
    struct vk_params *p = (struct vk_params *)((char *)c->params.map + (size_t)c->n_slot * VK_PARAMS_SIZE);
    memset(p, 0, sizeof *p);
    if (aux_bytes) memcpy(p + 1, aux, aux_bytes);
    VkDescriptorBufferInfo bi[VK_N_BIND];
    if ((st = bind_tensor(c, t, &bi[VK_BIND_DST], &p->t[0])) != GDS_OK) return st;
    for (int k = 0; k < GDS_MAX_SRC; k++) {
        const struct gds_tensor *s = k == GDS_MAX_SRC - 1 && !t->src[k] ? c->fuse_out : t->src[k];
        if ((st = bind_tensor(c, s, &bi[VK_BIND_SRC0 + k], &p->t[1 + k])) != GDS_OK) return st;
    }
    const VkDeviceSize srange = c->scratch.size < c->props.limits.maxStorageBufferRange ? c->scratch.size : c->props.limits.maxStorageBufferRange;
    bi[VK_BIND_SCRATCH] = c->scratch.buf ? (VkDescriptorBufferInfo){ .buffer = c->scratch.buf, .offset = 0, .range = srange }
                                         : (VkDescriptorBufferInfo){ .buffer = c->dummy.buf, .offset = 0, .range = c->dummy.size };
    bi[VK_BIND_PARAMS] = (VkDescriptorBufferInfo){ .buffer = c->params.buf, .offset = (VkDeviceSize)c->n_slot * VK_PARAMS_SIZE,
                                                   .range = (VkDeviceSize)slots * VK_PARAMS_SIZE };
    memcpy(p->op, t->op_params, sizeof p->op);
    for (int i = 0; i < n_u && i < 16; i++) p->u[i] = u[i];
    VkDescriptorSet set = c->dscache ? ds_cache_get(c, bi) : VK_NULL_HANDLE;
    if (set == VK_NULL_HANDLE) VK_CHECK(ds_make(c, c->dpool, bi, &set), "vkAllocateDescriptorSets"); /* this graph's pool */
    vkCmdBindPipeline(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vkCmdBindDescriptorSets(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->layout, 0, 1, &set, 0, NULL);
    if (c->prof) vkCmdWriteTimestamp(c->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, c->qpool, 2 * c->n_disp);
    vkCmdDispatch(c->cmd, groups[0], groups[1], groups[2]);
    if (c->prof) {
        vkCmdWriteTimestamp(c->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, c->qpool, 2 * c->n_disp + 1);
        c->prof_op[c->n_disp] = c->prof_cur;
    }
    barrier_all(c);
    c->n_disp++;
    c->n_slot += slots;
    return GDS_OK;
}

/* ---- supports_op / graph_compute ----------------------------------------------- */

static bool vulkan_supports_op(struct gds_backend *b, const struct gds_tensor *t) {
    const struct vk_ctx *c = b->ctx;
    if (t->op <= GDS_OP_VIEW || t->op >= GDS_OP_COUNT || !gds_vk_ops[t->op].run) return false;
    /* every tensor binds as one range (32-bit addressing inside it, at most
     * maxStorageBufferRange with the offset alignment slack), the scratch too */
    const size_t lim = (size_t)c->props.limits.maxStorageBufferRange - c->props.limits.minStorageBufferOffsetAlignment - 4;
    for (int k = 0; k < GDS_MAX_SRC; k++)
        if (t->src[k] && gds_nbytes(t->src[k]) > lim) return false;
    if (gds_nbytes(t) > lim) return false;
    if (gds_vk_ops[t->op].work && gds_vk_ops[t->op].work(t) > (size_t)c->props.limits.maxStorageBufferRange) return false;
    return !gds_vk_ops[t->op].supports || gds_vk_ops[t->op].supports(c, t);
}

enum { VK_MAX_DISP_PER_NODE = 8 };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* chunk k of a graph's command buffers (allocated on first use), begun and made current */
static enum gds_status chunk_begin(struct vk_ctx *c, uint32_t k) {
    if (k >= c->n_chunks) {
        const uint32_t n = k + 8;
        VkCommandBuffer *nc = realloc(c->chunks, n * sizeof *nc);
        if (!nc) return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory");
        c->chunks = nc;
        VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->pool,
                                            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = n - c->n_chunks };
        VK_CHECK(vkAllocateCommandBuffers(c->dev, &cai, c->chunks + c->n_chunks), "vkAllocateCommandBuffers");
        c->n_chunks = n;
    }
    c->cmd = c->chunks[k];
    return cmd_begin(c);
}

/* params (n dispatches of up to 1 + VK_AUX_MAX / 512 slots) and descriptor pool for n dispatches */
static enum gds_status ensure_dispatch_cap(struct vk_ctx *c, uint32_t n) {
    c->n_disp = c->n_slot = 0;
    if (n <= c->cap_disp) {
        VK_CHECK(vkResetDescriptorPool(c->dev, c->dpool, 0), "vkResetDescriptorPool");
        return GDS_OK;
    }
    n = n + n / 2;
    buf_destroy(c, &c->params);
    if (c->dpool) vkDestroyDescriptorPool(c->dev, c->dpool, NULL);
    c->dpool = VK_NULL_HANDLE;
    c->cap_disp = c->cap_slot = 0;
    const uint32_t slots = n * 2 + 1 + VK_AUX_MAX / VK_PARAMS_SIZE;
    enum gds_status st = buf_create(c, (size_t)slots * VK_PARAMS_SIZE, BUF_PARAMS, &c->params);
    if (st != GDS_OK) return st;
    VkDescriptorPoolSize ps = { .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = n * VK_N_BIND };
    VkDescriptorPoolCreateInfo pi = { .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = n, .poolSizeCount = 1, .pPoolSizes = &ps };
    VK_CHECK(vkCreateDescriptorPool(c->dev, &pi, NULL, &c->dpool), "vkCreateDescriptorPool");
    if (c->prof) {
        if (c->qpool) vkDestroyQueryPool(c->dev, c->qpool, NULL);
        VkQueryPoolCreateInfo qi = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2 * n };
        VK_CHECK(vkCreateQueryPool(c->dev, &qi, NULL, &c->qpool), "vkCreateQueryPool");
        free(c->prof_op);
        if (!(c->prof_op = malloc(n * sizeof *c->prof_op))) return gds_error(GDS_ERR_NOMEM, "vulkan: out of memory");
    }
    c->cap_disp = n;
    c->cap_slot = slots;
    return GDS_OK;
}

static enum gds_status vulkan_graph_compute(struct gds_backend *b, struct gds_graph *g) {
    struct vk_ctx *c = b->ctx;
    size_t need = 0;
    uint32_t n_run = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW) continue;
        if (!gds_vk_ops[t->op].run) return gds_error(GDS_ERR_UNSUPPORTED, "vulkan: no kernel for %s (node '%s')", gds_op_name(t->op), t->name);
        if (gds_vk_ops[t->op].work) {
            const size_t w = gds_vk_ops[t->op].work(t);
            need = w > need ? w : need;
        }
        n_run++;
    }
    if (n_run == 0) return GDS_OK;
    const double t0 = c->prof ? now_ms() : 0;
    enum gds_status st = ensure_scratch(c, need);
    if (st == GDS_OK) st = ensure_dispatch_cap(c, n_run * VK_MAX_DISP_PER_NODE);
    if (st == GDS_OK && c->dscache) st = ds_cache_begin(c);
    uint32_t k = 0, at = 0; /* chunk, and the dispatches recorded before it */
    if (st == GDS_OK) st = chunk_begin(c, k);
    if (st != GDS_OK) return st;
    if (c->prof) vkCmdResetQueryPool(c->cmd, c->qpool, 0, 2 * c->cap_disp);
    if (c->prof) c->prof_on = c->prof_seen++ >= (uint64_t)c->prof_skip;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct gds_tensor *t = g->nodes[i];
        if (t->op == GDS_OP_NONE || t->op == GDS_OP_VIEW) continue;
        /* the next node to run: a QUANT_SIM BF16 of t that t's shader can store too */
        int j = i + 1;
        while (j < g->n_nodes && (g->nodes[j]->op == GDS_OP_NONE || g->nodes[j]->op == GDS_OP_VIEW)) j++;
        c->fuse_out = c->fuse && j < g->n_nodes && vk_fuses_bf16(t, g->nodes[j]) ? g->nodes[j] : NULL;
        if (c->prof) {
            c->prof_cur = prof_key(c, t);
            if (c->prof_on) c->prof_keys[c->prof_cur].calls++;
        }
        if ((st = gds_vk_ops[t->op].run(c, t)) != GDS_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", gds_last_error());
            gds_error(st, "vulkan: recording %s (node '%s'): %s", gds_op_name(t->op), t->name, why);
            vkEndCommandBuffer(c->cmd);
            if (k > 0) vkQueueWaitIdle(c->queue); /* the chunks submitted */
            c->cmd = c->cmd1;
            c->fuse_out = NULL;
            return st;
        }
        if (c->fuse_out) i = j; /* the QUANT_SIM ran inside t */
        c->fuse_out = NULL;
        if (c->chunk_n > 0 && j < g->n_nodes && c->n_disp - at >= (uint32_t)(k == 0 && c->chunk_n > 16 ? 16 : c->chunk_n)) {
            /* submit this chunk (no fence: the last submission's fence covers every one before it)
             * and record on in the next; the barrier after every dispatch orders them */
            const VkResult r = cmd_end_submit(c, VK_NULL_HANDLE);
            if (r != VK_SUCCESS || (st = chunk_begin(c, ++k)) != GDS_OK) {
                vkQueueWaitIdle(c->queue);
                c->cmd = c->cmd1;
                return r != VK_SUCCESS ? gds_error(GDS_ERR_BACKEND, "vulkan: vkQueueSubmit (a graph chunk) failed (%d)", (int)r) : st;
            }
            at = c->n_disp;
        }
    }
    const double t1 = c->prof ? now_ms() : 0;
    st = cmd_submit_wait(c, "running the graph");
    c->cmd = c->cmd1;
    if (st != GDS_OK || !c->prof || !c->prof_on || c->n_disp == 0) return st;
    c->prof_rec_ms += t1 - t0;
    c->prof_wait_ms += now_ms() - t1;
    c->prof_graphs++;
    uint64_t *ts = malloc(2 * (size_t)c->n_disp * sizeof *ts);
    if (ts && vkGetQueryPoolResults(c->dev, c->qpool, 0, 2 * c->n_disp, 2 * (size_t)c->n_disp * sizeof *ts, ts, sizeof *ts,
                                    VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
        for (uint32_t i = 0; i < c->n_disp; i++) {
            const double ms = (double)(ts[2 * i + 1] - ts[2 * i]) * c->props.limits.timestampPeriod * 1e-6;
            struct vk_prof_key *pk = &c->prof_keys[c->prof_op[i]];
            pk->ms += ms;
            pk->disp++;
        }
    free(ts);
    return GDS_OK;
}

const struct gds_backend_i gds_backend_vulkan_i = {
    .name = "vulkan",
    .init = vulkan_init,
    .free = vulkan_free,
    .buffer_alloc = vulkan_buffer_alloc,
    .buffer_free = vulkan_buffer_free,
    .buffer_from_host_ptr = NULL,
    .tensor_set = vulkan_tensor_set,
    .tensor_get = vulkan_tensor_get,
    .supports_op = vulkan_supports_op,
    .graph_compute = vulkan_graph_compute,
    .synchronize = NULL,
    .memmove = vulkan_memmove,
    .alignment = 256,
    .max_size = 0,
    .is_cpu = false,
};
