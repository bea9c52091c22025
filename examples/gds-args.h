/*
 * gds-args.h - strict option values for the example programs (getopt_long users).
 *
 * Header-only (each example .c file is its own program). Set gds_args_prog to the
 * program's name before parsing; errors print "PROG: OPT 'VALUE': what" and exit 1.
 */
#ifndef GDS_ARGS_H
#define GDS_ARGS_H

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deepseek4.h"
#include "gds-backend.h"
#include "gds-numa.h"

static const char *gds_args_prog = "gds";

/* the option as the user wrote it ("-c", "--ctx-size"), for messages */
static inline const char *opt_label(char **argv, const char *arg) {
    static char buf[64];
    const char *tok = argv[optind - 1];
    if (tok == arg && optind >= 2) tok = argv[optind - 2];
    size_t n = strcspn(tok, "=");
    if (tok[0] == '-' && tok[1] != '-') n = 2; /* -c5 */
    if (n >= sizeof(buf)) n = sizeof(buf) - 1;
    memcpy(buf, tok, n);
    buf[n] = 0;
    return buf;
}

static inline void die_value(const char *opt, const char *val, const char *what) {
    fprintf(stderr, "%s: %s '%s': %s\n", gds_args_prog, opt, val, what);
    exit(1);
}

/* a whole-string decimal integer in [lo, hi] */
static inline long parse_long(const char *opt, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (!*s || isspace((unsigned char)*s) || *end || end == s) die_value(opt, s, "not an integer");
    if (errno == ERANGE || v < lo || v > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "out of range (%ld .. %ld)", lo, hi);
        die_value(opt, s, msg);
    }
    return v;
}

/* --backend NAME: a backend built into this binary ("cpu" always; "cuda" with
 * make CUDA=1, "vulkan" with make VULKAN=1); the list of built ones in the error */
static inline const char *parse_backend(const char *opt, const char *s) {
    char list[256] = "";
    size_t n = 0;
    for (int i = 0; i < gds_backend_count(); i++) {
        if (!strcmp(gds_backend_name_at(i), s)) return s;
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", gds_backend_name_at(i));
        if (n >= sizeof list) n = sizeof list - 1;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "not a backend of this build (built: %s%s)", list,
             !strcmp(s, "cuda")     ? "; make CUDA=1 builds the CUDA backend into build/cuda"
             : !strcmp(s, "vulkan") ? "; make VULKAN=1 builds the Vulkan backend into build/vulkan" : "");
    die_value(opt, s, msg);
    return NULL;
}

/* Refuses a context whose state would not fit the machine's memory, before
 * anything of that size is allocated; what names the option(s) that set it,
 * hint the option to lower. */
static inline bool context_fits(const struct gds_model *m, int n_ctx, const char *what, const char *hint) {
    const double need = (double)gds_model_seq_bytes(m, n_ctx);
    const double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (mem <= 0 || need <= mem) return true;
    const double per_token = need / n_ctx;
    fprintf(stderr, "%s: %s: a context of %d tokens needs %.1f GiB of state (%.0f bytes/token), more than the %.1f GiB "
                    "of memory of this machine; give a smaller %s (about %.0f tokens fit)\n",
            gds_args_prog, what, n_ctx, need / 1073741824.0, per_token, mem / 1073741824.0, hint, 0.9 * mem / per_token);
    return false;
}

/* getopt_long returned ':' (missing value) or '?' (unknown option): the error,
 * then one line pointing at --help; returns the exit status 1 */
static inline int opt_error(char **argv, int c) {
    const char *o = argv[optind - 1];
    if (c == ':') {
        if (optopt && optopt < 256) fprintf(stderr, "%s: option '-%c' needs a value\n", gds_args_prog, optopt);
        else fprintf(stderr, "%s: option '%s' needs a value\n", gds_args_prog, o);
    } else {
        if (optopt && optopt < 256) fprintf(stderr, "%s: unknown option '-%c'\n", gds_args_prog, optopt);
        else fprintf(stderr, "%s: unknown option '%s'\n", gds_args_prog, o);
    }
    fprintf(stderr, "%s: see '%s --help'\n", gds_args_prog, gds_args_prog);
    return 1;
}

/* errors are printed once by the program itself; other messages as the default sink does */
static inline void quiet_errors(enum gds_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= GDS_LOG_INFO && level != GDS_LOG_ERROR) fputs(msg, stderr);
}

/* --numa and the memory options of issue 12 (gds-numa.h), shared by gds-run,
 * gds-bench and gds-server: NUMA_LONG_OPTS in the option table, numa_opt() in
 * the getopt loop's default branch, numa_params() into the model parameters,
 * numa_finish() before the model is freed (the -v traffic report, the
 * popularity file). */
struct numa_opts {
    int mode;                /* enum gds_numa_mode */
    bool split, print, prefetch, mlock_dense, replicate_dense;
    const char *popularity, *popularity_out;
    double bw_node, bw_link; /* traffic model: GB/s per node (0: measured on node 0), per direction between two nodes */
    int project_layers;      /* traffic model: project to this many layers (0: the model's) */
};
enum { OPT_NUMA = 0x4e00, OPT_NUMA_SPLIT, OPT_PRINT_PLACEMENT, OPT_NUMA_POPULARITY, OPT_NUMA_POPULARITY_OUT, OPT_PREFETCH_EXPERTS,
       OPT_MLOCK_DENSE, OPT_NUMA_BW, OPT_NUMA_LINK_BW, OPT_NUMA_REPLICATE_DENSE, OPT_NUMA_PROJECT_LAYERS };
#define NUMA_LONG_OPTS                                                                                                             \
    { "numa", required_argument, NULL, OPT_NUMA }, { "numa-split", no_argument, NULL, OPT_NUMA_SPLIT },                             \
    { "print-placement", no_argument, NULL, OPT_PRINT_PLACEMENT },                                                                \
    { "numa-popularity", required_argument, NULL, OPT_NUMA_POPULARITY },                                                          \
    { "numa-popularity-out", required_argument, NULL, OPT_NUMA_POPULARITY_OUT },                                                  \
    { "prefetch-experts", no_argument, NULL, OPT_PREFETCH_EXPERTS }, { "mlock-dense", no_argument, NULL, OPT_MLOCK_DENSE },         \
    { "numa-bw", required_argument, NULL, OPT_NUMA_BW }, { "numa-link-bw", required_argument, NULL, OPT_NUMA_LINK_BW },        \
    { "numa-replicate-dense", no_argument, NULL, OPT_NUMA_REPLICATE_DENSE },                                                     \
    { "numa-project-layers", required_argument, NULL, OPT_NUMA_PROJECT_LAYERS }
#define NUMA_USAGE                                                                                                                 \
    "NUMA and memory (CPU backend; results are the same bits in every mode):\n"                                                   \
    "  --numa MODE            off (default), auto (experts with more than one node), interleave, experts: each\n"                 \
    "                         layer's routed experts partitioned over the NUMA nodes, computed by a team of threads\n"            \
    "                         pinned to the node that holds their pages (hwloc topology; HWLOC_SYNTHETIC injects one)\n"          \
    "  --numa-split           experts: divide every expert's rows over the nodes (no per-token imbalance)\n"                     \
    "  --numa-replicate-dense a copy of the dense weights on every node (else interleaved); the cost is printed\n"              \
    "  --numa-popularity FILE place whole experts balancing this measured popularity (see --numa-popularity-out)\n"               \
    "  --numa-popularity-out FILE  write the expert popularity counted in this run (layer expert count)\n"                        \
    "  --print-placement      print the plan (node of every layer's experts, teams, bytes per node) at load\n"                    \
    "  --numa-bw GBPS         -v traffic model: read bandwidth of one node (default: measured on node 0)\n"                       \
    "  --numa-link-bw GBPS    -v traffic model: bandwidth per direction between two nodes (default: measured\n"                  \
    "                         with two nodes here, else 60)\n"                                                                    \
    "  --numa-project-layers L  -v traffic model: project to L layers like the counted ones (Flash: 43)\n"                      \
    "  --prefetch-experts     read the router's experts ahead (madvise on a helper thread): models larger than memory\n"        \
    "  --mlock-dense          keep every weight but the routed experts resident (mlock)\n"

static inline double numa_parse_gbps(const char *opt, const char *s) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE || !(v > 0) || v > 1e6) die_value(opt, s, "not a bandwidth in GB/s (> 0)");
    return v;
}

/* true when c was one of the NUMA options (and is now in n) */
static inline bool numa_opt(int c, const char *opt, const char *arg, struct numa_opts *n) {
    enum gds_numa_mode m;
    switch (c) {
    case OPT_NUMA:
        if (!gds_numa_mode_parse(arg, &m)) die_value(opt, arg, "expected off, auto, interleave or experts");
        n->mode = (int)m;
        return true;
    case OPT_NUMA_SPLIT: n->split = true; return true;
    case OPT_PRINT_PLACEMENT: n->print = true; return true;
    case OPT_NUMA_POPULARITY: n->popularity = arg; return true;
    case OPT_NUMA_POPULARITY_OUT: n->popularity_out = arg; return true;
    case OPT_PREFETCH_EXPERTS: n->prefetch = true; return true;
    case OPT_MLOCK_DENSE: n->mlock_dense = true; return true;
    case OPT_NUMA_REPLICATE_DENSE: n->replicate_dense = true; return true;
    case OPT_NUMA_BW: n->bw_node = numa_parse_gbps(opt, arg); return true;
    case OPT_NUMA_LINK_BW: n->bw_link = numa_parse_gbps(opt, arg); return true;
    case OPT_NUMA_PROJECT_LAYERS: n->project_layers = (int)parse_long(opt, arg, 1, 100000); return true;
    default: return false;
    }
}

static inline void numa_params(const struct numa_opts *n, struct gds_model_params *mp) {
    mp->numa = n->mode;
    mp->numa_split = n->split;
    mp->numa_print = n->print;
    mp->numa_popularity = n->popularity;
    mp->prefetch_experts = n->prefetch;
    mp->mlock_dense = n->mlock_dense;
    mp->numa_replicate_dense = n->replicate_dense;
    mp->numa_count = n->popularity_out != NULL;
}

/* before gds_model_free: -v traffic report, popularity file; false on a write error */
static inline bool numa_finish(struct gds_model *m, const struct numa_opts *n, bool verbose) {
    if (verbose) gds_model_numa_report(m, n->bw_node, n->bw_link, n->project_layers, stderr);
    if (n->popularity_out && gds_model_numa_save_popularity(m, n->popularity_out) != GDS_OK) {
        fprintf(stderr, "%s: %s\n", gds_args_prog, gds_last_error());
        return false;
    }
    return true;
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
