/*
 * gds-server.c - an OpenAI-compatible HTTP server for DeepSeek-V4 GGUF files
 * (issue 10).
 *
 *     gds-server -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [-c CTX] [--parallel N]
 *                [--api-key KEY] [-t N] [--temp T] [--top-p P] [--seed S]
 *
 * Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions (messages,
 * tools and tool messages, reasoning_effort / thinking_mode, stream as SSE
 * chunks with delta.content, delta.reasoning_content and delta.tool_calls,
 * usage, stop, max_tokens / max_completion_tokens, temperature, top_p, seed),
 * POST /v1/completions (a raw prompt), POST /v1/messages (Anthropic: system,
 * content blocks, tools with tool_use / tool_result, thinking, stop_sequences,
 * the streaming events message_start .. message_stop; translated to the OpenAI
 * request the encoder takes, answered in Anthropic shapes and errors). The V4 chat encoding and completion
 * parser of models/chat.c translate both ways, so tool calls come out as
 * structured calls, never as DSML text in the content: while streaming, text
 * that could be the start of a marker (</think>, the tool-call block, a stop
 * string) is held back until it is decided.
 *
 * Sessions: --parallel N slots, each with its own sequence state; a request
 * takes the free slot whose evaluated tokens share the longest prefix with its
 * prompt and evaluates only the rest (agent loops resend the conversation).
 * Requests beyond N wait (up to --queue of them; more get 429). The decode
 * steps of the generating slots run as one batch (gds_model_eval_batch: the
 * weights read once per step for all of them; see "batched decode" below);
 * prefill chunks run one at a time between those batches (a lock per graph).
 * --kv-cache-dir keeps prompt states on disk (see the kv cache below).
 * GET /metrics: Prometheus text (requests, tokens, prefill and decode rates,
 * batches, cache hits). GET /: the chat page (examples/gds-server.html,
 * embedded by the GNUmakefile).
 *
 * Errors: the OpenAI error object {"error": {"message", "type", "param",
 * "code"}} with 400 (invalid JSON, wrong field types, a prompt longer than the
 * context), 401 (--api-key set and not given; /health is open), 404 (unknown
 * path or model), 405, 413 (body over --max-body), 429 (queue full), 503
 * (shutting down). SIGINT/SIGTERM stop accepting, cancel running generations
 * at their next token and exit.
 *
 * GDS_SERVER_SCRIPT=TEXT (for tests of the protocol layer): every answer is
 * the tokens of TEXT instead of sampled ones (still evaluated by the model),
 * so tool calls, thinking and stop strings can be checked end to end.
 *
 * HTTP is libmicrohttpd (Debian libmicrohttpd-dev: small, C, thread per
 * connection, chunked responses for SSE), JSON is cJSON.
 */
#include "chat.h"
#include "deepseek4.h"
#include "gds-args.h"
#include "gds-gguf.h"
#include "gds.h"
#include "sampling.h"
#include "tokenizer.h"
#include "gds-server-page.h" /* gds_server_page: examples/gds-server.html, generated at build time */
#include "gds-server-api.h"  /* request fields and the Anthropic translation (also built into tests/fuzz/fuzz-server.c) */

#include <arpa/inet.h>
#include <errno.h>
#include <cjson/cJSON.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 256, PREFILL_CHUNK = 512 };

/* ---- server state ------------------------------------------------------------ */

struct slot {
    struct gds_seq *s;
    int32_t *ids; /* tokens evaluated into s */
    int n_ids, cap;
    bool busy;
    /* the state right after the last prompt's prefill (before its answer): an
     * agent's next request resends that prompt plus the answer as it encodes
     * it (thinking dropped, say), which need not extend the evaluated tokens
     * but does extend the prompt */
    void *snap;
    size_t snap_n;
    int32_t *snap_ids;
    int snap_len;
};

/* tokens of ids[0..n) that a slot can serve without evaluating: all of its
 * evaluated ids or all of its prompt snapshot's, if they start ids (and leave
 * at least one token to evaluate) */
static int slot_prefix(const struct slot *sl, const int32_t *ids, int n, bool *from_snap) {
    int best = 0;
    *from_snap = false;
    if (sl->n_ids > 0 && sl->n_ids < n && !memcmp(sl->ids, ids, sizeof(int32_t) * (size_t)sl->n_ids)) best = sl->n_ids;
    if (sl->snap && sl->snap_len > best && sl->snap_len < n && !memcmp(sl->snap_ids, ids, sizeof(int32_t) * (size_t)sl->snap_len)) {
        best = sl->snap_len;
        *from_snap = true;
    }
    return best;
}

struct server {
    struct gds_model *m;
    struct gds_tok *tok;
    const struct gds_ds4_hparams *hp;
    char model_id[256];
    int n_ctx, n_slots, max_queue, n_waiting;
    struct slot *slots;
    pthread_mutex_t lock; /* slots, the queue and the counters */
    pthread_cond_t freed;
    pthread_mutex_t eval_lock; /* one model evaluation at a time */
    const char *api_key;
    size_t max_body;
    struct gds_sampler_params sp;
    int n_predict; /* default max tokens (-n), -1: up to the context */
    atomic_int stopping;
    atomic_ulong n_req;
    int32_t *script; /* GDS_SERVER_SCRIPT (tests): the tokens every answer consists of */
    /* /metrics */
    atomic_ulong m_req[4];        /* chat, completions, messages, other */
    atomic_ulong m_err;           /* answered with a 4xx/5xx status */
    atomic_ulong m_prompt, m_reused, m_cached, m_gen; /* prompt tokens; of them from the slot / the disk cache; generated */
    atomic_ulong m_prefill_us, m_decode_us, m_steps; /* decode: time of the batched calls, tokens decoded */
    atomic_ulong m_batches;       /* batched decode calls */
    int n_script;
};

static struct server g;

/* ---- small helpers ------------------------------------------------------------ */

static void slot_push(struct slot *sl, const int32_t *ids, int n) {
    if (sl->n_ids + n > sl->cap) {
        int cap = sl->cap ? sl->cap : 1024;
        while (cap < sl->n_ids + n) cap *= 2;
        int32_t *q = realloc(sl->ids, sizeof(int32_t) * (size_t)cap);
        if (!q) { sl->n_ids = 0; gds_seq_reset(sl->s); return; } /* forget the prefix rather than fail */
        sl->ids = q;
        sl->cap = cap;
    }
    memcpy(sl->ids + sl->n_ids, ids, sizeof(int32_t) * (size_t)n);
    sl->n_ids += n;
}

/* ---- responses ---------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type, const char *text, size_t n) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    const enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return send_text(c, 500, "text/plain", "out of memory\n", 14);
    const enum MHD_Result ok = send_text(c, status, "application/json", s, strlen(s));
    free(s);
    return ok;
}

static const char *err_type(unsigned status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 500: return "server_error";
    case 503: return "service_unavailable";
    default: return "invalid_request_error";
    }
}

static _Thread_local bool t_anthropic; /* this connection's request is /v1/messages: Anthropic error shape */

static cJSON *error_object(unsigned status, const char *param, const char *code, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    if (t_anthropic) { /* {"type": "error", "error": {"type", "message"}} */
        cJSON_AddStringToObject(o, "type", "error");
        cJSON_AddStringToObject(e, "type", status == 503 ? "overloaded_error" : status == 500 ? "api_error" : err_type(status));
        cJSON_AddStringToObject(e, "message", msg);
        return o;
    }
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", err_type(status));
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    return o;
}

__attribute__((format(printf, 5, 6)))
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *param, const char *code, const char *fmt, ...) {
    atomic_fetch_add(&g.m_err, 1);
    va_list ap;
    va_start(ap, fmt);
    cJSON *o = error_object(status, param, code, fmt, ap);
    va_end(ap);
    return send_json(c, status, o);
}

/* ---- slots -------------------------------------------------------------------- */

/* the free slot sharing the longest prefix with ids (waits; NULL: queue full or stopping) */
static struct slot *slot_acquire(const int32_t *ids, int n, bool *queue_full) {
    pthread_mutex_lock(&g.lock);
    *queue_full = false;
    bool counted = false;
    struct slot *best = NULL;
    while (!atomic_load(&g.stopping)) {
        int best_len = -1;
        for (int i = 0; i < g.n_slots; i++) {
            struct slot *sl = &g.slots[i];
            if (sl->busy) continue;
            bool snap;
            const int k = slot_prefix(sl, ids, n, &snap);
            if (k > best_len) { best_len = k; best = sl; }
        }
        if (best) break;
        if (!counted) {
            if (g.n_waiting >= g.max_queue) { *queue_full = true; break; }
            g.n_waiting++;
            counted = true;
        }
        pthread_cond_wait(&g.freed, &g.lock);
    }
    if (counted) g.n_waiting--;
    if (best) best->busy = true;
    pthread_mutex_unlock(&g.lock);
    return best;
}

static void slot_release(struct slot *sl) {
    pthread_mutex_lock(&g.lock);
    sl->busy = false;
    pthread_cond_broadcast(&g.freed);
    pthread_mutex_unlock(&g.lock);
}

static enum gds_status eval_locked(struct gds_seq *s, const int32_t *ids, int n, bool decode, float *logits) {
    pthread_mutex_lock(&g.eval_lock);
    const struct gds_eval e = { .tokens = ids, .n_tokens = n, .decode = decode, .logits = logits };
    const enum gds_status st = gds_model_eval(g.m, s, &e);
    pthread_mutex_unlock(&g.eval_lock);
    return st;
}

/* ---- batched decode ------------------------------------------------------------- */

/* The decode steps of the slots run together: a job's step joins the pending
 * list; the first thread to find no batch running becomes the leader, waits
 * until every decoding job has joined (or BATCH_WAIT_US passed: a client that
 * reads slowly does not hold the others), then evaluates all pending steps in
 * one gds_model_eval_batch call (the weights read once for all slots; the
 * same bits as one call per slot), under the eval lock. If the batch fails,
 * its steps run one by one, so that only a failing sequence gets an error. */
enum { BATCH_WAIT_US = 3000, MAX_BATCH = 64 };

struct dstep {
    struct gds_seq *s;
    int32_t id;
    float *logits;
    enum gds_status st;
    bool done;
    char err[200];
    struct dstep *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dstep *head, **tail;
    int n_pending;
    int n_decoding; /* jobs between their prefill and their end */
    bool running;
} bq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &bq.head, 0, 0, false };

static void decoding_add(int d) {
    pthread_mutex_lock(&bq.mu);
    bq.n_decoding += d;
    pthread_cond_broadcast(&bq.cv);
    pthread_mutex_unlock(&bq.mu);
}

static void run_batch(struct dstep **v, int n) {
    struct gds_seq *ss[MAX_BATCH];
    struct gds_eval e[MAX_BATCH];
    for (int i = 0; i < n; i++) {
        ss[i] = v[i]->s;
        e[i] = (struct gds_eval){ .tokens = &v[i]->id, .n_tokens = 1, .decode = true, .logits = v[i]->logits };
    }
    pthread_mutex_lock(&g.eval_lock);
    const double t0 = now_s();
    enum gds_status st = gds_model_eval_batch(g.m, ss, e, n);
    if (st == GDS_OK)
        for (int i = 0; i < n; i++) v[i]->st = GDS_OK;
    else
        for (int i = 0; i < n; i++) { /* one by one: the error goes to its own sequence */
            v[i]->st = n == 1 ? st : gds_model_eval(g.m, ss[i], &e[i]);
            if (v[i]->st != GDS_OK) snprintf(v[i]->err, sizeof v[i]->err, "%s", gds_last_error());
        }
    atomic_fetch_add(&g.m_decode_us, (unsigned long)(1e6 * (now_s() - t0)));
    pthread_mutex_unlock(&g.eval_lock);
    atomic_fetch_add(&g.m_steps, (unsigned long)n);
    atomic_fetch_add(&g.m_batches, 1);
}

/* one decode step of sequence s (token id; logits out), batched with the other slots' steps */
static enum gds_status decode_step(struct gds_seq *s, int32_t id, float *logits, char *err, size_t n_err) {
    struct dstep d = { .s = s, .id = id, .logits = logits };
    pthread_mutex_lock(&bq.mu);
    *bq.tail = &d;
    bq.tail = &d.next;
    bq.n_pending++;
    pthread_cond_broadcast(&bq.cv);
    while (!d.done) {
        if (bq.running) { pthread_cond_wait(&bq.cv, &bq.mu); continue; }
        bq.running = true; /* lead: gather, then run */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += BATCH_WAIT_US * 1000L;
        if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
        while (bq.n_pending < bq.n_decoding && bq.n_pending < MAX_BATCH && !atomic_load(&g.stopping))
            if (pthread_cond_timedwait(&bq.cv, &bq.mu, &dl) == ETIMEDOUT) break;
        struct dstep *v[MAX_BATCH];
        int n = 0;
        while (bq.head && n < MAX_BATCH) {
            v[n++] = bq.head;
            bq.head = bq.head->next;
        }
        if (!bq.head) bq.tail = &bq.head;
        bq.n_pending -= n;
        pthread_mutex_unlock(&bq.mu);
        run_batch(v, n);
        pthread_mutex_lock(&bq.mu);
        for (int i = 0; i < n; i++) v[i]->done = true;
        bq.running = false;
        pthread_cond_broadcast(&bq.cv);
    }
    pthread_mutex_unlock(&bq.mu);
    if (d.st != GDS_OK) snprintf(err, n_err, "%s", d.err);
    return d.st;
}

/* ---- the disk KV cache (--kv-cache-dir) ----------------------------------------- */

/* One file per cached prompt prefix: DIR/<16 hex of the key>.gkv, the key a
 * hash of the model fingerprint and the prefix's token ids. Content: magic
 * "GDSKVC01", n_tokens (u32), the tokens, then the sequence state image of
 * gds_seq_state_save (its own checksum and model fingerprint). Written to a
 * temporary file and renamed, so a crash never leaves a half entry under an
 * entry's name. A lookup hashes the prompt's first n tokens for each entry's
 * n, then checks the file: tokens equal, image accepted by gds_seq_state_load
 * (checksum, model); a corrupted or foreign entry is ignored and removed. The
 * total size is capped (--kv-cache-max GB), the least recently used entries
 * (file mtime, touched on every hit) removed first. */

#define KVC_MAGIC "GDSKVC01"

struct kvc_entry {
    uint64_t key;
    int n_tokens;
    size_t bytes;
    double used; /* mtime */
};

static struct {
    char *dir;
    double max_bytes;
    int min_tokens;
    struct kvc_entry *e;
    int n, cap;
    pthread_mutex_t lock;
    atomic_ulong hits, misses, writes, bad;
} kvc;

static uint64_t kvc_key(const int32_t *ids, int n) {
    uint64_t h = 0xcbf29ce484222325ull ^ gds_model_fingerprint(g.m);
    for (int i = 0; i < n; i++) {
        h ^= (uint32_t)ids[i];
        h *= 0x100000001b3ull;
        h ^= h >> 31;
    }
    return h ^ (uint64_t)n * 0x9e3779b97f4a7c15ull;
}

static void kvc_path(char *out, size_t n, uint64_t key) { snprintf(out, n, "%s/%016llx.gkv", kvc.dir, (unsigned long long)key); }

static void kvc_remove_at(int i) {
    char path[4096];
    kvc_path(path, sizeof path, kvc.e[i].key);
    unlink(path);
    kvc.e[i] = kvc.e[--kvc.n];
}

/* under kvc.lock: drop least recently used entries until the total fits */
static void kvc_evict(size_t incoming) {
    double total = (double)incoming;
    for (int i = 0; i < kvc.n; i++) total += (double)kvc.e[i].bytes;
    while (total > kvc.max_bytes && kvc.n > 0) {
        int lru = 0;
        for (int i = 1; i < kvc.n; i++) if (kvc.e[i].used < kvc.e[lru].used) lru = i;
        total -= (double)kvc.e[lru].bytes;
        fprintf(stderr, "gds-server: kv cache: evicted an entry of %d tokens (%.1f MB)\n", kvc.e[lru].n_tokens, kvc.e[lru].bytes / 1e6);
        kvc_remove_at(lru);
    }
}

/* the entries already in the directory (their token counts are read from the files) */
static void kvc_scan(void) {
    DIR *d = opendir(kvc.dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned long long key;
        char tail[8];
        if (sscanf(de->d_name, "%16llx.%3s", &key, tail) != 2 || strcmp(tail, "gkv") || strlen(de->d_name) != 20) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", kvc.dir, de->d_name);
        FILE *f = fopen(path, "rb");
        char magic[8];
        uint32_t nt = 0;
        struct stat st;
        const bool ok = f && fread(magic, 1, 8, f) == 8 && !memcmp(magic, KVC_MAGIC, 8) && fread(&nt, 4, 1, f) == 1 && fstat(fileno(f), &st) == 0;
        if (f) fclose(f);
        if (!ok) { unlink(path); atomic_fetch_add(&kvc.bad, 1); continue; }
        if (kvc.n == kvc.cap) {
            int cap = kvc.cap ? 2 * kvc.cap : 64;
            struct kvc_entry *e = realloc(kvc.e, sizeof *e * (size_t)cap);
            if (!e) break;
            kvc.e = e;
            kvc.cap = cap;
        }
        kvc.e[kvc.n++] = (struct kvc_entry){ key, (int)nt, (size_t)st.st_size, (double)st.st_mtim.tv_sec + 1e-9 * st.st_mtim.tv_nsec };
    }
    closedir(d);
    pthread_mutex_lock(&kvc.lock);
    kvc_evict(0);
    pthread_mutex_unlock(&kvc.lock);
}

/* restores into s the longest cached prefix of ids[0..n) that is longer than
 * have (and shorter than n: the last prompt token is evaluated for its logits);
 * returns its token count, or 0 */
static int kvc_restore(struct gds_seq *s, const int32_t *ids, int n, int have) {
    if (!kvc.dir) return 0;
    for (;;) {
        pthread_mutex_lock(&kvc.lock);
        int best = -1;
        for (int i = 0; i < kvc.n; i++)
            if (kvc.e[i].n_tokens > have && kvc.e[i].n_tokens < n && (best < 0 || kvc.e[i].n_tokens > kvc.e[best].n_tokens) &&
                kvc.e[i].key == kvc_key(ids, kvc.e[i].n_tokens))
                best = i;
        if (best < 0) { pthread_mutex_unlock(&kvc.lock); atomic_fetch_add(&kvc.misses, 1); return 0; }
        const struct kvc_entry e = kvc.e[best];
        char path[4096];
        kvc_path(path, sizeof path, e.key);
        pthread_mutex_unlock(&kvc.lock);
        /* read and check outside the lock */
        FILE *f = fopen(path, "rb");
        char magic[8];
        uint32_t nt = 0;
        bool ok = f && fread(magic, 1, 8, f) == 8 && !memcmp(magic, KVC_MAGIC, 8) && fread(&nt, 4, 1, f) == 1 && (int)nt == e.n_tokens &&
                  e.bytes > 12 + 4 * (size_t)nt;
        int32_t *tok = ok ? malloc(4 * (size_t)nt) : NULL;
        const size_t img_n = ok ? e.bytes - 12 - 4 * (size_t)nt : 0;
        void *img = ok ? malloc(img_n) : NULL;
        ok = ok && tok && img && fread(tok, 4, nt, f) == nt && !memcmp(tok, ids, 4 * (size_t)nt) && fread(img, 1, img_n, f) == img_n &&
             gds_seq_state_load(s, img, img_n) == GDS_OK && gds_seq_n_past(s) == (int)nt;
        if (!ok) fprintf(stderr, "gds-server: kv cache: %s is corrupted, foreign or stale (%s): ignored and removed\n", path,
                         f ? gds_last_error() : "cannot open");
        if (f) fclose(f);
        free(tok);
        free(img);
        pthread_mutex_lock(&kvc.lock);
        for (int i = 0; i < kvc.n; i++)
            if (kvc.e[i].key == e.key) {
                if (ok) {
                    struct timespec now;
                    clock_gettime(CLOCK_REALTIME, &now);
                    kvc.e[i].used = (double)now.tv_sec + 1e-9 * now.tv_nsec;
                    utimensat(AT_FDCWD, path, NULL, 0);
                } else kvc_remove_at(i);
                break;
            }
        pthread_mutex_unlock(&kvc.lock);
        if (ok) { atomic_fetch_add(&kvc.hits, 1); return (int)nt; }
        atomic_fetch_add(&kvc.bad, 1); /* s is as it was: a refused load changes nothing */
    }
}

/* saves the state of s (n tokens ids) as an entry (unless there is one) */
static void kvc_save(const struct gds_seq *s, const int32_t *ids, int n) {
    if (!kvc.dir || n < kvc.min_tokens) return;
    const uint64_t key = kvc_key(ids, n);
    pthread_mutex_lock(&kvc.lock);
    for (int i = 0; i < kvc.n; i++)
        if (kvc.e[i].key == key && kvc.e[i].n_tokens == n) { pthread_mutex_unlock(&kvc.lock); return; }
    pthread_mutex_unlock(&kvc.lock);
    const size_t img_n = gds_seq_state_size(s), bytes = 12 + 4 * (size_t)n + img_n;
    if ((double)bytes > kvc.max_bytes) return;
    void *img = malloc(img_n);
    if (!img || gds_seq_state_save(s, img, img_n) != img_n) { free(img); return; }
    char path[4096], tmp[4200];
    kvc_path(path, sizeof path, key);
    snprintf(tmp, sizeof tmp, "%s/.tmp-%d-%lx", kvc.dir, (int)getpid(), (unsigned long)atomic_fetch_add(&g.n_req, 0) ^ (unsigned long)(uintptr_t)img);
    FILE *f = fopen(tmp, "wb");
    const uint32_t nt = (uint32_t)n;
    bool ok = f && fwrite(KVC_MAGIC, 1, 8, f) == 8 && fwrite(&nt, 4, 1, f) == 1 && fwrite(ids, 4, (size_t)n, f) == (size_t)n &&
              fwrite(img, 1, img_n, f) == img_n;
    if (f && fflush(f) != 0) ok = false;
    if (f && fsync(fileno(f)) != 0) ok = false;
    if (f && fclose(f) != 0) ok = false;
    free(img);
    if (!ok) { fprintf(stderr, "gds-server: kv cache: cannot write %s\n", tmp); unlink(tmp); return; }
    pthread_mutex_lock(&kvc.lock);
    kvc_evict(bytes);
    if (rename(tmp, path) == 0 && (kvc.n < kvc.cap || (kvc.e = realloc(kvc.e, sizeof *kvc.e * (size_t)(kvc.cap = kvc.cap ? 2 * kvc.cap : 64))))) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        kvc.e[kvc.n++] = (struct kvc_entry){ key, n, bytes, (double)now.tv_sec + 1e-9 * now.tv_nsec };
        atomic_fetch_add(&kvc.writes, 1);
    } else unlink(tmp);
    pthread_mutex_unlock(&kvc.lock);
}

/* ---- one generation (a job): prompt in, text out, step by step ----------------- */

enum finish { FIN_NONE, FIN_STOP, FIN_LENGTH, FIN_ERROR, FIN_CANCELLED };

struct job {
    struct gen_params p;
    int32_t *ids;
    int n_ids, n_reused;
    struct slot *slot;
    struct gds_sampler *smp;
    float *logits;
    bool decoding;     /* counted in bq.n_decoding */
    struct gds_tok_stream ts;
    struct buf text;   /* the completion text so far (stop strings cut it) */
    int n_gen;
    enum finish fin;
    char err[256];
    /* streaming */
    char id[48];
    long created;
    size_t sent;       /* bytes of text already emitted as deltas */
    bool in_content;   /* past </think> (or never thinking) */
    bool tools_held;   /* the tool-call block started: content no longer streamed */
    bool started, done;
    int stop_hit;      /* the stop string that ended the answer, -1 none */
    int ablock, atype; /* Anthropic stream: index of the open content block (-1 none), its type (1 thinking, 2 text) */
    int nblocks;
    struct buf out;    /* SSE bytes not yet handed to the connection */
    size_t out_at;
};

static void job_decoding(struct job *j, bool on) {
    if (j->decoding == on) return;
    j->decoding = on;
    decoding_add(on ? 1 : -1);
}

static void job_free(struct job *j) {
    if (!j) return;
    job_decoding(j, false);
    if (j->slot) slot_release(j->slot);
    gds_sampler_free(j->smp);
    free(j->logits);
    free(j->ids);
    free(j->text.p);
    free(j->out.p);
    gen_params_free(&j->p);
    free(j);
}

/* prefill the prompt into the job's slot (reusing the slot's prefix); false on error */
static bool job_start(struct job *j) {
    bool queue_full;
    j->slot = slot_acquire(j->ids, j->n_ids, &queue_full);
    if (!j->slot) {
        snprintf(j->err, sizeof j->err, queue_full ? "queue full" : "shutting down");
        j->fin = FIN_ERROR;
        return false;
    }
    struct slot *sl = j->slot;
    bool from_snap;
    int start = slot_prefix(sl, j->ids, j->n_ids, &from_snap);
    if (from_snap && gds_seq_state_load(sl->s, sl->snap, sl->snap_n) == GDS_OK) { /* back to the last prompt's end */
        sl->n_ids = 0;
        slot_push(sl, sl->snap_ids, sl->snap_len);
    } else if (from_snap || start == 0) {
        gds_seq_reset(sl->s);
        sl->n_ids = 0;
        start = 0;
    }
    const int cached = kvc_restore(sl->s, j->ids, j->n_ids, start);
    if (cached > start) { /* the slot now holds the cached prefix */
        sl->n_ids = 0;
        slot_push(sl, j->ids, cached);
        start = cached;
    } else if (cached == 0 && kvc.dir && gds_seq_n_past(sl->s) != sl->n_ids) { /* a refused entry reset the sequence */
        sl->n_ids = 0;
        start = 0;
    }
    atomic_fetch_add(&g.m_prompt, (unsigned long)j->n_ids);
    if (cached > 0) atomic_fetch_add(&g.m_cached, (unsigned long)cached);
    else atomic_fetch_add(&g.m_reused, (unsigned long)start);
    j->n_reused = start;
    const double t0 = now_s();
    /* The prefill stops once before the prompt's last token: the state there is
     * kept (in the slot and in the disk cache) for the next request. The last
     * token is the one the next turn's encoding changes (V4 writes an earlier
     * assistant turn as "<Assistant></think>..." where the prompt ended in
     * "<Assistant><think>"), and a chunk boundary does not change the bits. */
    const int keep = j->n_ids - 1;
    for (int i = start; i < j->n_ids;) {
        if (atomic_load(&g.stopping)) { j->fin = FIN_CANCELLED; return false; }
        int T = j->n_ids - i < PREFILL_CHUNK ? j->n_ids - i : PREFILL_CHUNK;
        if (i < keep && i + T > keep) T = keep - i;
        if (eval_locked(sl->s, j->ids + i, T, false, j->logits) != GDS_OK) {
            snprintf(j->err, sizeof j->err, "evaluation failed: %s", gds_last_error());
            gds_seq_reset(sl->s);
            sl->n_ids = 0;
            j->fin = FIN_ERROR;
            return false;
        }
        slot_push(sl, j->ids + i, T);
        i += T;
        if (i == keep && keep > start) {
            kvc_save(sl->s, j->ids, keep);
            const size_t sn = gds_seq_state_size(sl->s);
            void *snap = realloc(sl->snap, sn);
            if (snap) sl->snap = snap;
            int32_t *sids = snap ? realloc(sl->snap_ids, sizeof(int32_t) * (size_t)keep) : NULL;
            if (sids) sl->snap_ids = sids;
            sl->snap_len = 0;
            if (snap && sids && gds_seq_state_save(sl->s, snap, sn) == sn) {
                memcpy(sids, j->ids, sizeof(int32_t) * (size_t)keep);
                sl->snap_n = sn;
                sl->snap_len = keep;
            }
        }
    }
    atomic_fetch_add(&g.m_prefill_us, (unsigned long)(1e6 * (now_s() - t0)));
    j->smp = gds_sampler_new(&j->p.sp, g.hp->n_vocab);
    if (!j->smp) { snprintf(j->err, sizeof j->err, "out of memory"); j->fin = FIN_ERROR; return false; }
    j->in_content = !j->p.thinking;
    job_decoding(j, true);
    return true;
}

/* the earliest stop string in text[from..] (its offset, or -1) */
static long find_stop(struct job *j, size_t from) {
    long best = -1;
    for (int i = 0; i < j->p.n_stop; i++) {
        const char *f = strstr(j->text.p + from, j->p.stop[i]);
        if (f && (best < 0 || f - j->text.p < best)) { best = f - j->text.p; j->stop_hit = i; }
    }
    return best;
}

static void job_step_1(struct job *j);

/* one token: sample, append its text, evaluate it; sets j->fin when done */
static void job_step(struct job *j) {
    job_step_1(j);
    if (j->fin != FIN_NONE) job_decoding(j, false);
}

static void job_step_1(struct job *j) {
    if (atomic_load(&g.stopping)) { j->fin = FIN_CANCELLED; return; }
    int32_t id = gds_sampler_sample(j->smp, j->logits);
    if (g.script) id = j->n_gen < g.n_script ? g.script[j->n_gen] : g.hp->eos_id;
    j->n_gen++;
    atomic_fetch_add(&g.m_gen, 1);
    if (id == g.hp->eos_id) { j->fin = FIN_STOP; return; }
    struct gds_tok_buf piece = { 0 };
    if (gds_tok_stream_push(g.tok, &j->ts, id, &piece) == GDS_OK && piece.len) {
        const size_t before = j->text.n;
        buf_add(&j->text, piece.data, piece.len);
        /* a stop string may straddle pieces: search from where it could start */
        size_t longest = 0;
        for (int i = 0; i < j->p.n_stop; i++) longest = strlen(j->p.stop[i]) > longest ? strlen(j->p.stop[i]) : longest;
        const long at = find_stop(j, before > longest ? before - longest : 0);
        if (at >= 0) {
            j->text.n = (size_t)at;
            j->text.p[at] = 0;
            free(piece.data);
            j->fin = FIN_STOP;
            return;
        }
    }
    free(piece.data);
    if (j->p.max_tokens >= 0 && j->n_gen >= j->p.max_tokens) { j->fin = FIN_LENGTH; return; }
    struct slot *sl = j->slot;
    if (sl->n_ids + 1 >= g.n_ctx) { j->fin = FIN_LENGTH; return; }
    char err[200];
    const enum gds_status st = decode_step(sl->s, id, j->logits, err, sizeof err);
    if (st != GDS_OK) {
        snprintf(j->err, sizeof j->err, "evaluation failed: %s", err);
        gds_seq_reset(sl->s);
        sl->n_ids = 0;
        j->fin = FIN_ERROR;
        return;
    }
    slot_push(sl, &id, 1);
}

static void job_flush_tokens(struct job *j) {
    struct gds_tok_buf piece = { 0 };
    if (gds_tok_stream_flush(&j->ts, &piece) == GDS_OK && piece.len && j->fin != FIN_STOP) buf_add(&j->text, piece.data, piece.len);
    free(piece.data);
}

static const char *finish_name(const struct job *j, bool tools) {
    if (tools) return "tool_calls";
    return j->fin == FIN_LENGTH ? "length" : "stop";
}

static cJSON *usage_object(const struct job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->n_ids);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", j->n_ids + j->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", j->n_reused);
    return u;
}

/* the assistant message of the finished completion (content, reasoning_content, tool_calls) */
static cJSON *final_message(const struct job *j, char *err, size_t n_err) {
    /* the parser takes a completion as the model ends it, with the EOS text
     * (generation stops at the EOS token without adding its text) */
    struct buf t = { 0 };
    buf_add(&t, j->text.p ? j->text.p : "", j->text.n);
    buf_add(&t, GDS_CHAT_EOS, strlen(GDS_CHAT_EOS));
    cJSON *msg = t.p ? gds_chat_parse_completion(t.p, t.n, j->p.thinking ? GDS_CHAT_MODE_THINKING : GDS_CHAT_MODE_CHAT, err, n_err) : NULL;
    free(t.p);
    if (!msg) { /* unparsable (a broken tool-call block, say): the text as content, the reasoning apart */
        msg = cJSON_CreateObject();
        cJSON_AddStringToObject(msg, "role", "assistant");
        const char *p = j->text.p ? j->text.p : "", *e = j->p.thinking ? strstr(p, GDS_CHAT_THINK_END) : NULL;
        if (j->p.thinking) {
            char *r = strndup(p, e ? (size_t)(e - p) : strlen(p));
            cJSON_AddStringToObject(msg, "reasoning_content", r ? r : "");
            free(r);
        }
        cJSON_AddStringToObject(msg, "content", !j->p.thinking ? p : e ? e + strlen(GDS_CHAT_THINK_END) : "");
    }
    cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls"), *c;
    int i = 0;
    if (cJSON_IsArray(tc))
        cJSON_ArrayForEach(c, tc) { /* OpenAI clients answer a call by its id */
            char id[96];
            snprintf(id, sizeof id, "call_%s_%d", j->id, i++);
            if (!cJSON_GetObjectItem(c, "id")) cJSON_AddStringToObject(c, "id", id);
        }
    return msg;
}

/* ---- streaming (SSE) ------------------------------------------------------------ */

static void sse_chunk(struct job *j, cJSON *delta, const char *finish, cJSON *usage) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", j->p.chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", g.model_id);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    if (delta || finish) {
        cJSON *c0 = cJSON_CreateObject();
        cJSON_AddNumberToObject(c0, "index", 0);
        if (j->p.chat) cJSON_AddItemToObject(c0, "delta", delta ? delta : cJSON_CreateObject());
        else {
            cJSON_AddStringToObject(c0, "text", delta ? cJSON_GetStringValue(cJSON_GetObjectItem(delta, "text")) : "");
            cJSON_Delete(delta);
        }
        if (finish) cJSON_AddStringToObject(c0, "finish_reason", finish);
        else cJSON_AddNullToObject(c0, "finish_reason");
        cJSON_AddItemToArray(ch, c0);
    }
    if (usage) cJSON_AddItemToObject(o, "usage", usage);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) { buf_add(&j->out, "data: ", 6); buf_add(&j->out, s, strlen(s)); buf_add(&j->out, "\n\n", 2); }
    free(s);
}

/* ---- Anthropic events ---- */

static void anth_event(struct job *j, const char *name, cJSON *o) {
    cJSON_AddStringToObject(o, "type", name);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    buf_add(&j->out, "event: ", 7);
    buf_add(&j->out, name, strlen(name));
    buf_add(&j->out, "\ndata: ", 7);
    buf_add(&j->out, s, strlen(s));
    buf_add(&j->out, "\n\n", 2);
    free(s);
}

static void anth_block_stop(struct job *j) {
    if (j->ablock < 0) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", j->ablock);
    anth_event(j, "content_block_stop", o);
    j->ablock = -1;
    j->atype = 0;
}

/* a content block of type 1 (thinking), 2 (text) open, or cb (tool_use: taken) */
static void anth_block_start(struct job *j, int type, cJSON *cb) {
    if (j->ablock >= 0 && j->atype == type && !cb) return;
    anth_block_stop(j);
    if (!cb) {
        cb = cJSON_CreateObject();
        cJSON_AddStringToObject(cb, "type", type == 1 ? "thinking" : "text");
        cJSON_AddStringToObject(cb, type == 1 ? "thinking" : "text", "");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", j->nblocks);
    cJSON_AddItemToObject(o, "content_block", cb);
    anth_event(j, "content_block_start", o);
    j->ablock = j->nblocks++;
    j->atype = type;
}

static void anth_delta(struct job *j, const char *dtype, const char *key, const char *text) {
    cJSON *o = cJSON_CreateObject(), *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", j->ablock);
    cJSON_AddStringToObject(d, "type", dtype);
    cJSON_AddStringToObject(d, key, text);
    cJSON_AddItemToObject(o, "delta", d);
    anth_event(j, "content_block_delta", o);
}

static void sse_text(struct job *j, const char *key, const char *p, size_t n) {
    if (!n) return;
    if (j->p.anthropic) {
        char *t = strndup(p, n);
        if (!t) return;
        const bool th = !strcmp(key, "reasoning_content");
        anth_block_start(j, th ? 1 : 2, NULL);
        anth_delta(j, th ? "thinking_delta" : "text_delta", th ? "thinking" : "text", t);
        free(t);
        return;
    }
    char *t = malloc(n + 1);
    if (!t) return;
    memcpy(t, p, n);
    t[n] = 0;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, key, t);
    free(t);
    sse_chunk(j, d, NULL, NULL);
}

/* length of the longest suffix of s[0..n) that is a proper prefix of marker */
static size_t partial_suffix(const char *s, size_t n, const char *marker) {
    const size_t m = strlen(marker);
    for (size_t k = m - 1 < n ? m - 1 : n; k > 0; k--)
        if (memcmp(s + n - k, marker, k) == 0) return k;
    return 0;
}

/* emit what of text[sent..] is decided; final: everything */
static void sse_progress(struct job *j, bool final) {
    if (!j->p.chat) {
        size_t end = j->text.n;
        if (!final)
            for (int i = 0; i < j->p.n_stop; i++) {
                const size_t k = partial_suffix(j->text.p, j->text.n, j->p.stop[i]);
                if (j->text.n - k < end) end = j->text.n - k;
            }
        if (end > j->sent) {
            cJSON *d = cJSON_CreateObject();
            char *t = strndup(j->text.p + j->sent, end - j->sent);
            cJSON_AddStringToObject(d, "text", t ? t : "");
            free(t);
            sse_chunk(j, d, NULL, NULL);
            j->sent = end;
        }
        return;
    }
    for (;;) {
        const char *rest = j->text.p + j->sent;
        const size_t n = j->text.n - j->sent;
        if (!j->in_content) {
            const char *e = j->text.p ? strstr(rest, GDS_CHAT_THINK_END) : NULL;
            if (e) {
                sse_text(j, "reasoning_content", rest, (size_t)(e - rest));
                j->sent += (size_t)(e - rest) + strlen(GDS_CHAT_THINK_END);
                j->in_content = true;
                continue;
            }
            const size_t hold = final ? 0 : partial_suffix(rest, n, GDS_CHAT_THINK_END);
            sse_text(j, "reasoning_content", rest, n - hold);
            j->sent += n - hold;
            return;
        }
        if (j->tools_held) return;
        const char *t = j->text.p ? strstr(rest, GDS_CHAT_TOOL_CALLS_START) : NULL;
        size_t end = t ? (size_t)(t - rest) : n;
        if (t) j->tools_held = true;
        else if (!final) end = n - partial_suffix(rest, n, GDS_CHAT_TOOL_CALLS_START);
        if (!final && !t)
            for (int i = 0; i < j->p.n_stop; i++) {
                const size_t k = partial_suffix(rest, end, j->p.stop[i]);
                end -= k;
            }
        sse_text(j, "content", rest, end);
        j->sent += end;
        return;
    }
}

/* the closing chunks: tool calls (parsed from the whole completion), finish_reason, usage, [DONE] */
static const char *anth_stop_reason(const struct job *j, bool tools) {
    if (tools) return "tool_use";
    if (j->fin == FIN_LENGTH) return "max_tokens";
    return j->stop_hit >= 0 ? "stop_sequence" : "end_turn";
}

static void anth_finish(struct job *j) {
    char err[256];
    cJSON *msg = final_message(j, err, sizeof err);
    cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls"), *c;
    bool tools = false;
    if (cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0) {
        tools = true;
        cJSON_ArrayForEach(c, tc) {
            cJSON *f = cJSON_GetObjectItem(c, "function"), *cb = cJSON_CreateObject();
            cJSON_AddStringToObject(cb, "type", "tool_use");
            cJSON_AddStringToObject(cb, "id", cJSON_GetStringValue(cJSON_GetObjectItem(c, "id")));
            cJSON_AddStringToObject(cb, "name", cJSON_GetStringValue(cJSON_GetObjectItem(f, "name")));
            cJSON_AddItemToObject(cb, "input", cJSON_CreateObject());
            anth_block_start(j, 3, cb);
            const char *args = cJSON_GetStringValue(cJSON_GetObjectItem(f, "arguments"));
            anth_delta(j, "input_json_delta", "partial_json", args ? args : "{}");
        }
    } else if (j->tools_held) {
        sse_text(j, "content", j->text.p + j->sent, j->text.n - j->sent);
        j->sent = j->text.n;
    }
    cJSON_Delete(msg);
    anth_block_stop(j);
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(o, "delta"), *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddStringToObject(d, "stop_reason", anth_stop_reason(j, tools));
    if (j->stop_hit >= 0 && !tools) cJSON_AddStringToObject(d, "stop_sequence", j->p.stop[j->stop_hit]);
    else cJSON_AddNullToObject(d, "stop_sequence");
    cJSON_AddNumberToObject(u, "output_tokens", j->n_gen);
    anth_event(j, "message_delta", o);
    anth_event(j, "message_stop", cJSON_CreateObject());
}

/* the non-stream Anthropic message */
static cJSON *anth_message(const struct job *j, cJSON *msg) {
    cJSON *o = cJSON_CreateObject(), *content = cJSON_CreateArray(), *u;
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "reasoning_content"));
    if (r && *r) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "thinking");
        cJSON_AddStringToObject(b, "thinking", r);
        cJSON_AddStringToObject(b, "signature", "");
        cJSON_AddItemToArray(content, b);
    }
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content"));
    if (t && *t) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", t);
        cJSON_AddItemToArray(content, b);
    }
    cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls"), *c;
    bool tools = false;
    if (cJSON_IsArray(tc))
        cJSON_ArrayForEach(c, tc) {
            cJSON *f = cJSON_GetObjectItem(c, "function"), *b = cJSON_CreateObject();
            const char *args = cJSON_GetStringValue(cJSON_GetObjectItem(f, "arguments"));
            cJSON *input = args ? cJSON_Parse(args) : NULL;
            cJSON_AddStringToObject(b, "type", "tool_use");
            cJSON_AddStringToObject(b, "id", cJSON_GetStringValue(cJSON_GetObjectItem(c, "id")));
            cJSON_AddStringToObject(b, "name", cJSON_GetStringValue(cJSON_GetObjectItem(f, "name")));
            cJSON_AddItemToObject(b, "input", input ? input : cJSON_CreateObject());
            cJSON_AddItemToArray(content, b);
            tools = true;
        }
    cJSON_AddItemToObject(o, "content", content);
    cJSON_AddStringToObject(o, "model", g.model_id);
    cJSON_AddStringToObject(o, "stop_reason", anth_stop_reason(j, tools));
    if (j->stop_hit >= 0 && !tools) cJSON_AddStringToObject(o, "stop_sequence", j->p.stop[j->stop_hit]);
    else cJSON_AddNullToObject(o, "stop_sequence");
    u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "input_tokens", j->n_ids);
    cJSON_AddNumberToObject(u, "output_tokens", j->n_gen);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", j->n_reused);
    return o;
}

static void sse_finish(struct job *j) {
    sse_progress(j, !j->tools_held);
    if (j->p.anthropic) { anth_finish(j); return; }
    bool tools = false;
    if (j->p.chat) {
        char err[256];
        cJSON *msg = final_message(j, err, sizeof err);
        cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls");
        if (cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0) {
            tools = true;
            cJSON *arr = cJSON_CreateArray();
            int i = 0;
            cJSON *c;
            cJSON_ArrayForEach(c, tc) {
                cJSON *x = cJSON_Duplicate(c, true);
                cJSON_AddNumberToObject(x, "index", i++);
                cJSON_AddItemToArray(arr, x);
            }
            cJSON *d = cJSON_CreateObject();
            cJSON_AddItemToObject(d, "tool_calls", arr);
            sse_chunk(j, d, NULL, NULL);
        } else if (j->tools_held) { /* a tool-call block that did not parse: its text as content */
            sse_text(j, "content", j->text.p + j->sent, j->text.n - j->sent);
            j->sent = j->text.n;
        }
        cJSON_Delete(msg);
    }
    sse_chunk(j, NULL, finish_name(j, tools), NULL);
    if (j->p.include_usage) sse_chunk(j, NULL, NULL, usage_object(j));
    buf_add(&j->out, "data: [DONE]\n\n", 14);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    struct job *j = cls;
    while (j->out_at >= j->out.n) {
        if (j->done) return MHD_CONTENT_READER_END_OF_STREAM;
        j->out.n = j->out_at = 0;
        if (!j->started) {
            j->started = true;
            cJSON *d = cJSON_CreateObject();
            if (j->p.chat) cJSON_AddStringToObject(d, "role", "assistant");
            else cJSON_AddStringToObject(d, "text", "");
            if (!job_start(j)) {
                cJSON_Delete(d);
                cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
                cJSON_AddStringToObject(e, "message", j->err[0] ? j->err : "cancelled");
                cJSON_AddStringToObject(e, "type", j->p.anthropic ? "api_error" : "server_error");
                if (j->p.anthropic) anth_event(j, "error", o);
                else {
                    char *s = cJSON_PrintUnformatted(o);
                    cJSON_Delete(o);
                    if (s) { buf_add(&j->out, "data: ", 6); buf_add(&j->out, s, strlen(s)); buf_add(&j->out, "\n\n", 2); }
                    free(s);
                }
                j->done = true;
                continue;
            }
            if (j->p.anthropic) {
                cJSON_Delete(d);
                cJSON *o = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(o, "message"), *u;
                cJSON_AddStringToObject(m, "id", j->id);
                cJSON_AddStringToObject(m, "type", "message");
                cJSON_AddStringToObject(m, "role", "assistant");
                cJSON_AddItemToObject(m, "content", cJSON_CreateArray());
                cJSON_AddStringToObject(m, "model", g.model_id);
                cJSON_AddNullToObject(m, "stop_reason");
                cJSON_AddNullToObject(m, "stop_sequence");
                u = cJSON_AddObjectToObject(m, "usage");
                cJSON_AddNumberToObject(u, "input_tokens", j->n_ids);
                cJSON_AddNumberToObject(u, "cache_read_input_tokens", j->n_reused);
                cJSON_AddNumberToObject(u, "output_tokens", 0);
                anth_event(j, "message_start", o);
            } else sse_chunk(j, d, NULL, NULL);
            continue;
        }
        if (j->fin == FIN_NONE) {
            job_step(j);
            if (j->fin == FIN_NONE) { sse_progress(j, false); continue; }
        }
        if (j->fin == FIN_CANCELLED || j->fin == FIN_ERROR) { j->done = true; return MHD_CONTENT_READER_END_WITH_ERROR; }
        job_flush_tokens(j);
        sse_finish(j);
        j->done = true;
        /* the slot's state is final: free it now, not when the library frees the
         * response (after the last bytes went out), so that a client's next turn,
         * sent as soon as it reads the end, finds its prefix in a free slot
         * (under ASan a second turn sometimes came first and took an empty slot) */
        if (j->slot) { slot_release(j->slot); j->slot = NULL; }
    }
    size_t n = j->out.n - j->out_at;
    if (n > max) n = max;
    memcpy(out, j->out.p + j->out_at, n);
    j->out_at += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) { job_free(cls); }

/* ---- endpoints ------------------------------------------------------------------ */

struct req {
    struct buf body;
    bool too_big;
};

static bool tokenize(const char *text, size_t len, bool bos, int32_t **ids, int *n, char *err, size_t n_err) {
    struct gds_tok_ids t = { 0 };
    if (bos) {
        const int32_t b = g.hp->bos_id >= 0 ? g.hp->bos_id : gds_tok_bos(g.tok);
        if (b >= 0) {
            t.ids = malloc(sizeof(int32_t) * 16);
            if (!t.ids) { snprintf(err, n_err, "out of memory"); return false; }
            t.cap = 16;
            t.ids[t.n++] = b;
        }
    }
    static pthread_mutex_t tok_lock = PTHREAD_MUTEX_INITIALIZER; /* a gds_tok encodes on one thread at a time (tokenizer.h) */
    pthread_mutex_lock(&tok_lock);
    const enum gds_status st = gds_tok_encode(g.tok, text, len, GDS_TOK_PARSE_SPECIAL, &t);
    pthread_mutex_unlock(&tok_lock);
    if (st != GDS_OK) {
        snprintf(err, n_err, "tokenizer: %s", gds_last_error());
        free(t.ids);
        return false;
    }
    *ids = t.ids;
    *n = (int)t.n;
    return true;
}

static enum MHD_Result handle_generate(struct MHD_Connection *c, struct req *rq, enum api api) {
    const bool chat = api != API_COMPLETIONS;
    char err[1024] = "";
    cJSON *req = gds_chat_json_parse(rq->body.p ? rq->body.p : "", rq->body.n, err, sizeof err);
    if (!req) return send_error(c, 400, NULL, "invalid_json", "invalid JSON in the request body: %s", err);
    if (!cJSON_IsObject(req)) { cJSON_Delete(req); return send_error(c, 400, NULL, "invalid_json", "the request body must be a JSON object"); }
    struct job *j = calloc(1, sizeof *j);
    if (!j) { cJSON_Delete(req); return send_error(c, 500, NULL, NULL, "out of memory"); }
    j->p.chat = chat;
    j->p.anthropic = api == API_MESSAGES;
    j->stop_hit = -1;
    j->ablock = -1;
    const char *param = NULL, *code = NULL;
    unsigned status = 0;
    size_t plen = 0;
    bool bos = false;
    char *prompt = api_request(&req, api, &j->p, &plen, &bos, err, sizeof err, &param, &code, &status);
    if (!prompt) {
        cJSON_Delete(req);
        job_free(j);
        return send_error(c, status, param, code, "%s", err);
    }
    cJSON_Delete(req);
    const bool ok = prompt && tokenize(prompt, plen, bos, &j->ids, &j->n_ids, err, sizeof err);
    free(prompt);
    if (!ok) { job_free(j); return send_error(c, 400, NULL, "invalid_value", "%s", err[0] ? err : "out of memory"); }
    if (j->n_ids + 1 > g.n_ctx) {
        const int n = j->n_ids;
        job_free(j);
        return send_error(c, 400, chat ? "messages" : "prompt", "context_length_exceeded",
                          "the prompt has %d tokens; this server's context is %d tokens (-c)", n, g.n_ctx);
    }
    j->logits = malloc(sizeof(float) * (size_t)g.hp->n_vocab);
    if (!j->logits) { job_free(j); return send_error(c, 500, NULL, NULL, "out of memory"); }
    snprintf(j->id, sizeof j->id, api == API_MESSAGES ? "msg_%s%lx" : "%s-%lx", api == API_MESSAGES ? "" : chat ? "chatcmpl" : "cmpl",
             (unsigned long)atomic_fetch_add(&g.n_req, 1) + 1);
    j->created = (long)time(NULL);

    if (j->p.stream) {
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, j, sse_free);
        if (!r) { job_free(j); return MHD_NO; }
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        const enum MHD_Result res = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return res;
    }

    if (!job_start(j)) {
        const bool full = !strcmp(j->err, "queue full");
        enum MHD_Result res = full ? send_error(c, 429, NULL, "queue_full", "all %d slots are busy and %d requests wait (--queue)", g.n_slots, g.max_queue)
                              : j->fin == FIN_CANCELLED || !strcmp(j->err, "shutting down") ? send_error(c, 503, NULL, NULL, "the server is shutting down")
                                                                                                : send_error(c, 500, NULL, NULL, "%s", j->err);
        job_free(j);
        return res;
    }
    /* a non-streamed answer has nothing to write until it is done: look at the
     * socket every 16 tokens, and stop for a client that has gone away */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const int fd = ci ? ci->connect_fd : -1;
    while (j->fin == FIN_NONE) {
        job_step(j);
        char b;
        if (fd >= 0 && j->n_gen % 16 == 0 && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
            j->fin = FIN_CANCELLED;
            job_free(j);
            return MHD_NO; /* closes the connection */
        }
    }
    if (j->fin == FIN_ERROR || j->fin == FIN_CANCELLED) {
        enum MHD_Result res = j->fin == FIN_CANCELLED ? send_error(c, 503, NULL, NULL, "the server is shutting down") : send_error(c, 500, NULL, NULL, "%s", j->err);
        job_free(j);
        return res;
    }
    job_flush_tokens(j);
    if (api == API_MESSAGES) {
        cJSON *msg = final_message(j, err, sizeof err);
        cJSON *o = anth_message(j, msg);
        cJSON_Delete(msg);
        job_free(j);
        return send_json(c, 200, o);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", g.model_id);
    cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *c0 = cJSON_CreateObject();
    cJSON_AddNumberToObject(c0, "index", 0);
    bool tools = false;
    if (chat) {
        cJSON *msg = final_message(j, err, sizeof err);
        cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls");
        tools = cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0;
        if (!cJSON_GetObjectItem(msg, "content")) cJSON_AddNullToObject(msg, "content");
        cJSON_AddItemToObject(c0, "message", msg);
    } else {
        cJSON_AddStringToObject(c0, "text", j->text.p ? j->text.p : "");
    }
    cJSON_AddStringToObject(c0, "finish_reason", finish_name(j, tools));
    cJSON_AddItemToArray(ch, c0);
    cJSON_AddItemToObject(o, "usage", usage_object(j));
    job_free(j);
    return send_json(c, 200, o);
}

/* Prometheus text format (version 0.0.4) */
static enum MHD_Result send_metrics(struct MHD_Connection *c) {
    struct buf b = { 0 };
    char line[512];
#define METRIC(name, type, help, fmt, val)                                                                            \
    do {                                                                                                            \
        snprintf(line, sizeof line, "# HELP gds_%s %s\n# TYPE gds_%s %s\ngds_%s " fmt "\n", name, help, name, type, name, val); \
        buf_add(&b, line, strlen(line));                                                                          \
    } while (0)
    const double pf_s = atomic_load(&g.m_prefill_us) / 1e6, dc_s = atomic_load(&g.m_decode_us) / 1e6;
    const unsigned long prompt = atomic_load(&g.m_prompt), reused = atomic_load(&g.m_reused), cached = atomic_load(&g.m_cached);
    const unsigned long evaluated = prompt - reused - cached, gen = atomic_load(&g.m_gen), steps = atomic_load(&g.m_steps);
    int busy = 0, waiting;
    pthread_mutex_lock(&g.lock);
    for (int i = 0; i < g.n_slots; i++) busy += g.slots[i].busy;
    waiting = g.n_waiting;
    pthread_mutex_unlock(&g.lock);
    snprintf(line, sizeof line, "# HELP gds_requests_total Generation requests by endpoint.\n# TYPE gds_requests_total counter\n");
    buf_add(&b, line, strlen(line));
    static const char *const ep[3] = { "/v1/chat/completions", "/v1/completions", "/v1/messages" };
    for (int i = 0; i < 3; i++) {
        snprintf(line, sizeof line, "gds_requests_total{endpoint=\"%s\"} %lu\n", ep[i], atomic_load(&g.m_req[i]));
        buf_add(&b, line, strlen(line));
    }
    METRIC("errors_total", "counter", "Requests answered with an error status.", "%lu", atomic_load(&g.m_err));
    METRIC("prompt_tokens_total", "counter", "Prompt tokens of all requests.", "%lu", prompt);
    METRIC("prompt_tokens_reused_total", "counter", "Prompt tokens taken from a slot's evaluated prefix.", "%lu", reused);
    METRIC("prompt_tokens_cached_total", "counter", "Prompt tokens restored from the disk KV cache.", "%lu", cached);
    METRIC("prompt_tokens_evaluated_total", "counter", "Prompt tokens evaluated (prefill).", "%lu", evaluated);
    METRIC("generated_tokens_total", "counter", "Tokens generated (sampled), as the responses' completion_tokens.", "%lu", gen);
    METRIC("prefill_seconds_total", "counter", "Time in prefill.", "%.6f", pf_s);
    METRIC("decode_seconds_total", "counter", "Time in decode steps.", "%.6f", dc_s);
    METRIC("prefill_tokens_per_second", "gauge", "Prompt tokens evaluated per second of prefill, since the start.", "%.3f", pf_s > 0 ? evaluated / pf_s : 0.0);
    METRIC("decode_tokens_per_second", "gauge", "Tokens decoded per second of batched decode calls (all slots together), since the start.", "%.3f", dc_s > 0 ? steps / dc_s : 0.0);
    METRIC("decode_batches_total", "counter", "Batched decode calls (one graph for the steps of all decoding slots).", "%lu", atomic_load(&g.m_batches));
    METRIC("decode_steps_total", "counter", "Decode steps (tokens) in those calls.", "%lu", steps);
    METRIC("kv_cache_hits_total", "counter", "Disk KV cache restores.", "%lu", atomic_load(&kvc.hits));
    METRIC("kv_cache_misses_total", "counter", "Disk KV cache lookups without a usable entry.", "%lu", atomic_load(&kvc.misses));
    METRIC("kv_cache_writes_total", "counter", "Disk KV cache entries written.", "%lu", atomic_load(&kvc.writes));
    METRIC("kv_cache_bad_total", "counter", "Disk KV cache entries found corrupted or foreign.", "%lu", atomic_load(&kvc.bad));
    METRIC("slots_busy", "gauge", "Slots generating now.", "%d", busy);
    METRIC("slots", "gauge", "Slots (--parallel).", "%d", g.n_slots);
    METRIC("requests_waiting", "gauge", "Requests waiting for a slot.", "%d", waiting);
#undef METRIC
    const enum MHD_Result r = send_text(c, 200, "text/plain; version=0.0.4", b.p ? b.p : "", b.n);
    free(b.p);
    return r;
}

static bool authorized(struct MHD_Connection *c) {
    if (!g.api_key) return true;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (a && !strncmp(a, "Bearer ", 7) && !strcmp(a + 7, g.api_key)) return true;
    const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
    return x && !strcmp(x, g.api_key);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls;
    (void)version;
    struct req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && rq->body.n + *upload_size > g.max_body) rq->too_big = true;
        if (!rq->too_big && !buf_add(&rq->body, upload, *upload_size)) rq->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    const bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    t_anthropic = !strcmp(url, "/v1/messages");
    if (!strcmp(url, "/health")) {
        if (!get) return send_error(c, 405, NULL, NULL, "use GET for %s", url);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", atomic_load(&g.stopping) ? "stopping" : "ok");
        return send_json(c, atomic_load(&g.stopping) ? 503 : 200, o);
    }
    if (!authorized(c)) return send_error(c, 401, NULL, "invalid_api_key", "a valid API key is required (Authorization: Bearer KEY)");
    if (atomic_load(&g.stopping)) return send_error(c, 503, NULL, NULL, "the server is shutting down");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) { /* the chat page (its API calls carry the key) */
        if (!get) return send_error(c, 405, NULL, NULL, "use GET for %s", url);
        return send_text(c, 200, "text/html; charset=utf-8", (const char *)gds_server_page, sizeof gds_server_page);
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) return send_error(c, 405, NULL, NULL, "use GET for %s", url);
        return send_metrics(c);
    }
    if (!strcmp(url, "/v1/models")) {
        if (!get) return send_error(c, 405, NULL, NULL, "use GET for %s", url);
        cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data"), *e = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddStringToObject(e, "id", g.model_id);
        cJSON_AddStringToObject(e, "object", "model");
        cJSON_AddNumberToObject(e, "created", 0);
        cJSON_AddStringToObject(e, "owned_by", "ggml-ds");
        cJSON_AddNumberToObject(e, "context_length", g.n_ctx);
        cJSON_AddItemToArray(d, e);
        return send_json(c, 200, o);
    }
    const bool chat = !strcmp(url, "/v1/chat/completions"), compl = !strcmp(url, "/v1/completions");
    if (chat || compl || t_anthropic) {
        if (!post) return send_error(c, 405, NULL, NULL, "use POST for %s", url);
        if (rq->too_big) return send_error(c, 413, NULL, "request_too_large", "the request body is larger than %zu bytes (--max-body)", g.max_body);
        atomic_fetch_add(&g.m_req[chat ? 0 : compl ? 1 : 2], 1);
        return handle_generate(c, rq, chat ? API_CHAT : compl ? API_COMPLETIONS : API_MESSAGES);
    }
    return send_error(c, 404, NULL, "not_found", "no endpoint %s %s", method, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    struct req *rq = *con_cls;
    if (rq) { free(rq->body.p); free(rq); }
    *con_cls = NULL;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: gds-server -m MODEL.gguf [options]\n"
            "  -m, --model FILE       the GGUF\n"
            "  --host ADDR            IPv4 address to listen on (default 127.0.0.1)\n"
            "  --port N               TCP port (default 8080; 0 picks a free one, printed at start)\n"
            "  -c, --ctx-size N       context per slot in tokens (default 4096)\n"
            "  --parallel N           slots (sequences served at once), 1 .. 64 (default 1)\n"
            "  --backend NAME         cpu (default) or a backend built in (cuda: make CUDA=1)\n"
            "  --cpu-moe              with --backend: routed experts in host memory, on the CPU (hybrid);\n"
            "                         --n-cpu-moe N: only the first N layers' experts\n"
            "  --queue N              requests that may wait for a slot, beyond that 429 (default 64)\n"
            "  --api-key KEY          required on every endpoint but /health (Authorization: Bearer KEY, or x-api-key)\n"
            "  --max-body BYTES       largest request body, beyond that 413 (default 8388608)\n"
            "  -t, --threads N        CPU threads, 1 .. %d (default: the physical cores)\n"
            "  -n, --n-predict N      default max tokens per answer (default -1: up to the context)\n"
            "  --temp T               default temperature (default 1)\n"
            "  --top-p P              default top_p (default 1)\n"
            "  --seed N               default sampling seed (default 0)\n"
            "  --kv-cache-dir DIR     keep the state of prompts on disk and restore it for a later request (also after\n"
            "                         a restart) whose prompt extends one; entries written atomically, checked on load\n"
            "  --kv-cache-max GB      size cap of the cache, least recently used entries removed first (default 10)\n"
            "  --kv-cache-min N       cache only prompts of at least N tokens (default 256)\n"
            "  -h, --help             this text\n"
            "  --version              the version\n"
            NUMA_USAGE
            "                         (gds-server prints the NUMA traffic report when it stops, with --numa not off)\n"
            "Endpoints: GET /health, GET /metrics, GET /v1/models, POST /v1/chat/completions, POST /v1/completions,\n"
            "POST /v1/messages (Anthropic).\n",
            MAX_THREADS);
}

enum { OPT_VERSION = 256, OPT_HOST, OPT_PORT, OPT_PARALLEL, OPT_QUEUE, OPT_API_KEY, OPT_MAX_BODY, OPT_TEMP, OPT_TOP_P, OPT_SEED,
       OPT_KVC_DIR, OPT_KVC_MAX, OPT_KVC_MIN, OPT_BACKEND, OPT_CPU_MOE, OPT_N_CPU_MOE };

static const struct option long_opts[] = {
    { "model", required_argument, NULL, 'm' },        { "host", required_argument, NULL, OPT_HOST },
    { "port", required_argument, NULL, OPT_PORT },    { "ctx-size", required_argument, NULL, 'c' },
    { "parallel", required_argument, NULL, OPT_PARALLEL }, { "queue", required_argument, NULL, OPT_QUEUE },
    { "api-key", required_argument, NULL, OPT_API_KEY }, { "max-body", required_argument, NULL, OPT_MAX_BODY },
    { "threads", required_argument, NULL, 't' },      { "n-predict", required_argument, NULL, 'n' },
    { "temp", required_argument, NULL, OPT_TEMP },    { "top-p", required_argument, NULL, OPT_TOP_P },
    { "seed", required_argument, NULL, OPT_SEED },    { "help", no_argument, NULL, 'h' },
    { "kv-cache-dir", required_argument, NULL, OPT_KVC_DIR }, { "kv-cache-max", required_argument, NULL, OPT_KVC_MAX },
    { "kv-cache-min", required_argument, NULL, OPT_KVC_MIN }, { "backend", required_argument, NULL, OPT_BACKEND },
    { "cpu-moe", no_argument, NULL, OPT_CPU_MOE },    { "n-cpu-moe", required_argument, NULL, OPT_N_CPU_MOE },
    { "version", no_argument, NULL, OPT_VERSION },    NUMA_LONG_OPTS,
    { NULL, 0, NULL, 0 },
};

static double parse_dbl(const char *opt, const char *s, double lo, double hi) {
    char *end;
    const double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "gds-server: %s '%s': not a number in [%g, %g]\n", opt, s, lo, hi);
        exit(1);
    }
    return v;
}

int main(int argc, char **argv) {
    gds_args_prog = "gds-server";
    const char *model = NULL, *host = "127.0.0.1", *backend = "cpu";
    struct numa_opts numa = { 0 }; /* --numa and friends (gds-args.h) */
    bool cpu_moe = false;
    int n_cpu_moe = 0;
    long port = 8080, n_threads = 0;
    g.n_ctx = 4096;
    g.n_slots = 1;
    g.max_queue = 64;
    g.max_body = 8u << 20;
    g.n_predict = -1;
    g.sp = gds_sampler_default_params();
    kvc.max_bytes = 10e9;
    kvc.min_tokens = 256;
    pthread_mutex_init(&kvc.lock, NULL);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":m:c:t:n:h", long_opts, NULL)) != -1) {
        const char *opt = c == '?' || c == ':' ? NULL : opt_label(argv, optarg);
        switch (c) {
        case 'm': model = optarg; break;
        case OPT_HOST: host = optarg; break;
        case OPT_PORT: port = parse_long(opt, optarg, 0, 65535); break;
        case 'c': g.n_ctx = (int)parse_long(opt, optarg, 16, 1 << 24); break;
        case OPT_PARALLEL: g.n_slots = (int)parse_long(opt, optarg, 1, 64); break;
        case OPT_BACKEND: backend = parse_backend(opt, optarg); break;
        case OPT_CPU_MOE: cpu_moe = true; break;
        case OPT_N_CPU_MOE: n_cpu_moe = (int)parse_long(opt, optarg, 0, GDS_DS4_MAX_LAYERS); break;
        case OPT_QUEUE: g.max_queue = (int)parse_long(opt, optarg, 0, 1 << 20); break;
        case OPT_API_KEY: g.api_key = optarg; break;
        case OPT_MAX_BODY: g.max_body = (size_t)parse_long(opt, optarg, 1024, 1L << 30); break;
        case 't': n_threads = parse_long(opt, optarg, 1, MAX_THREADS); break;
        case 'n': g.n_predict = (int)parse_long(opt, optarg, -1, 1 << 24); break;
        case OPT_TEMP: g.sp.temp = (float)parse_dbl(opt, optarg, 0, 2); break;
        case OPT_TOP_P: g.sp.top_p = (float)parse_dbl(opt, optarg, 1e-9, 1); break;
        case OPT_SEED: g.sp.seed = (uint64_t)parse_long(opt, optarg, 0, 0x7fffffffffffffffL); break;
        case OPT_KVC_DIR: kvc.dir = optarg; break;
        case OPT_KVC_MAX: kvc.max_bytes = parse_dbl(opt, optarg, 1e-6, 1e6) * 1e9; break;
        case OPT_KVC_MIN: kvc.min_tokens = (int)parse_long(opt, optarg, 1, 1 << 30); break;
        case 'h': usage(stdout); return 0;
        case OPT_VERSION: printf("gds-server (ggml-ds) %s\n", GDS_VERSION); return 0;
        default:
            if (c != ':' && c != '?' && numa_opt(c, opt, optarg, &numa)) break;
            return opt_error(argv, c);
        }
    }
    if (optind < argc) { fprintf(stderr, "gds-server: unexpected argument '%s'\ngds-server: see 'gds-server --help'\n", argv[optind]); return 1; }
    if (!model) { fprintf(stderr, "gds-server: -m MODEL.gguf is required\ngds-server: see 'gds-server --help'\n"); return 1; }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, !strcmp(host, "localhost") ? "127.0.0.1" : host, &sa.sin_addr) != 1) {
        fprintf(stderr, "gds-server: --host '%s': not an IPv4 address\n", host);
        return 1;
    }
    /* signals: blocked in every thread, taken by sigwait below */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct gds_model_params mp = { .n_threads = (int)n_threads, .backend = backend, .cpu_moe = cpu_moe, .n_cpu_moe = n_cpu_moe };
    numa_params(&numa, &mp);
    g.m = gds_model_load(model, &mp);
    if (!g.m) { fprintf(stderr, "gds-server: %s\n", gds_last_error()); return 1; }
    g.hp = gds_model_hparams(g.m);
    g.tok = gds_tok_load_file(model);
    if (!g.tok) { fprintf(stderr, "gds-server: %s: no usable vocabulary: %s\n", model, gds_last_error()); gds_model_free(g.m); return 1; }
    if (!context_fits(g.m, g.n_ctx, "-c", "-c")) return 1;
    const char *script = getenv("GDS_SERVER_SCRIPT");
    if (script) { /* tests of the protocol layer: every answer is this text (sampled logits ignored), still evaluated by the model */
        char err[256];
        if (!tokenize(script, strlen(script), false, &g.script, &g.n_script, err, sizeof err)) { fprintf(stderr, "gds-server: GDS_SERVER_SCRIPT: %s\n", err); return 1; }
        fprintf(stderr, "gds-server: GDS_SERVER_SCRIPT set: every answer is its %d tokens (a test switch)\n", g.n_script);
    }
    const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    snprintf(g.model_id, sizeof g.model_id, "%s", base);
    g.slots = calloc((size_t)g.n_slots, sizeof *g.slots);
    for (int i = 0; g.slots && i < g.n_slots; i++) {
        g.slots[i].s = gds_seq_new(g.m, g.n_ctx);
        if (!g.slots[i].s) { fprintf(stderr, "gds-server: slot %d: %s\n", i, gds_last_error()); return 1; }
    }
    if (!g.slots) { fprintf(stderr, "gds-server: out of memory\n"); return 1; }
    api_def.sp = g.sp;
    api_def.n_predict = g.n_predict;
    api_def.model_id = g.model_id;
    if (kvc.dir) {
        if (mkdir(kvc.dir, 0777) != 0 && errno != EEXIST) { fprintf(stderr, "gds-server: --kv-cache-dir '%s': %s\n", kvc.dir, strerror(errno)); return 1; }
        struct stat st;
        if (stat(kvc.dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(kvc.dir, W_OK) != 0) {
            fprintf(stderr, "gds-server: --kv-cache-dir '%s': not a writable folder\n", kvc.dir);
            return 1;
        }
        kvc_scan();
        fprintf(stderr, "gds-server: kv cache %s: %d entries, cap %.3f GB, prompts of >= %d tokens\n", kvc.dir, kvc.n, kvc.max_bytes / 1e9, kvc.min_tokens);
    }
    pthread_mutex_init(&g.lock, NULL);
    pthread_mutex_init(&g.eval_lock, NULL);
    pthread_cond_init(&g.freed, NULL);

    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                                            (uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 600u,
                                            MHD_OPTION_END);
    if (!d) { fprintf(stderr, "gds-server: cannot listen on %s:%ld (in use, or not allowed)\n", host, port); return 1; }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "gds-server: %s (%d layers, context %d, %d slot%s) listening on http://%s:%u\n", g.model_id, g.hp->n_layer, g.n_ctx,
            g.n_slots, g.n_slots > 1 ? "s" : "", host, info ? info->port : (unsigned)port);
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "gds-server: %s: stopping (running requests are cancelled at their next token)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&g.stopping, 1);
    pthread_mutex_lock(&g.lock);
    pthread_cond_broadcast(&g.freed);
    pthread_mutex_unlock(&g.lock);
    MHD_stop_daemon(d);
    for (int i = 0; i < g.n_slots; i++) { gds_seq_free(g.slots[i].s); free(g.slots[i].ids); free(g.slots[i].snap); free(g.slots[i].snap_ids); }
    free(g.slots);
    gds_tok_free(g.tok);
    numa_finish(g.m, &numa, numa.mode != GDS_NUMA_OFF);
    gds_model_free(g.m);
    free(g.script);
    fprintf(stderr, "gds-server: stopped\n");
    return 0;
}
