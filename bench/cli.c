/* cli: the generators' table-driven command lines (cli.h). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX 32
#define CLI_VAL0 1000 /* getopt_long's value of row i is CLI_VAL0 + i: past every short option */

int parse_num(const char *s, double lo, double hi, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* Stores arg into o's destination. Returns 0, or -1 when arg is refused. */
static int cli_take(const struct cli_opt *o, const char *arg)
{
    double v = 0;
    switch (o->kind) {
    case CLI_STR:
        *(const char **)o->dst = arg;
        return 0;
    case CLI_PATH:
        if (arg[0] != '/' || strlen(arg) > 700) return -1;
        *(const char **)o->dst = arg;
        return 0;
    case CLI_FLAG:
        *(int *)o->dst = 1;
        return 0;
    case CLI_FN:
        return o->set(arg);
    default:
        break;
    }
    if (parse_num(arg, o->lo, o->hi, &v)) return -1;
    switch (o->kind) {
    case CLI_INT:
        *(int *)o->dst = (int)v;
        break;
    case CLI_U32:
        *(uint32_t *)o->dst = (uint32_t)v;
        break;
    case CLI_UINT:
        *(unsigned *)o->dst = (unsigned)v;
        break;
    case CLI_LONG:
        *(long *)o->dst = (long)v;
        break;
    default:
        *(double *)o->dst = v;
        break;
    }
    return 0;
}

int cli_parse(const char *prog, int argc, char **argv, const struct cli_opt *opts,
              void (*usage)(FILE *))
{
    struct option lo[CLI_MAX + 2];
    int n = 0;
    for (; opts[n].name && n < CLI_MAX; n++)
        lo[n] = (struct option){opts[n].name,
                                opts[n].kind == CLI_FLAG ? no_argument : required_argument, 0,
                                CLI_VAL0 + n};
    const int help = CLI_VAL0 + n;
    lo[n] = (struct option){"help", no_argument, 0, help};
    lo[n + 1] = (struct option){0, 0, 0, 0};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (ch == help) {
            usage(stdout);
            return 0;
        }
        if (ch >= CLI_VAL0 && ch < help && cli_take(&opts[ch - CLI_VAL0], optarg) == 0) continue;
        /* '?': getopt_long has said what was wrong with the option itself */
        if (ch != '?' && optarg) fprintf(stderr, "%s: bad value '%s'\n", prog, optarg);
        usage(stderr);
        return 2;
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}
