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

#endif
