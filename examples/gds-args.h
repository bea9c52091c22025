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
 * make CUDA=1); the list of built ones in the error */
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
             !strcmp(s, "cuda") ? "; make CUDA=1 builds the CUDA backend into build/cuda" : "");
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

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
