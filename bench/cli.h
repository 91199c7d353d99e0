/*
 * cli: the generators' command lines (mt-loadgen, mt-gamegen) as a table of long options, one row
 * an option and where its value goes, so that each tool states what it accepts and the parsing
 * (getopt_long, range checks, the "bad value" message, --help) is written once.
 */
#ifndef MT_BENCH_CLI_H
#define MT_BENCH_CLI_H

#include <stdio.h>

enum cli_kind {
    CLI_STR,  /* const char **: the argument as given */
    CLI_PATH, /* const char **: an upgrade path, '/' first and 700 bytes at most */
    CLI_INT,  /* int *, in [lo, hi] */
    CLI_U32,  /* uint32_t *, in [lo, hi] */
    CLI_UINT, /* unsigned *, in [lo, hi] */
    CLI_LONG, /* long *, in [lo, hi] */
    CLI_DBL,  /* double *, in [lo, hi] */
    CLI_FLAG, /* int *: set to 1; the option takes no argument */
    CLI_FN    /* set(argument) takes it and returns 0, or -1 to refuse it */
};

struct cli_opt {
    const char *name; /* without the leading "--"; NULL ends a table */
    enum cli_kind kind;
    void *dst;
    double lo, hi;
    int (*set)(const char *arg);
};

/* Parses argv against opts (at most 32 rows, --help added last). Returns -1 to run, else the exit
 * status: 0 after --help (usage(stdout)), 2 for a usage error (usage(stderr), after
 * "PROG: bad value 'V'" when a value was refused). The table and argv must outlive the values. */
int cli_parse(const char *prog, int argc, char **argv, const struct cli_opt *opts,
              void (*usage)(FILE *));

/* Parses s as a number in [lo, hi] into *out (command-line options). Returns 0, or -1 when s is
 * not a number or out of range. */
int parse_num(const char *s, double lo, double hi, double *out);

#endif
