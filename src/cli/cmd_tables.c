/*
 * cmd_tables.c - `maplexp tables`: load and validate probability tables, then report every
 * group whose mass is not 1 (those are renormalised when used, §3.3 / decision e).
 *
 * This is where table anomalies are "reported once": `calc` and `cube` stay quiet on stderr so
 * scripts see only real errors, and the service logs one summary line at start-up.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    bool quiet;
    double min_mass, max_mass;
} anomaly_ctx_t;

static void on_anomaly(void *ctx, cube_type_t type, int level, int part, grade_t grade, int line, double mass,
                       size_t rows)
{
    anomaly_ctx_t *c = ctx;
    if (mass < c->min_mass)
        c->min_mass = mass;
    if (mass > c->max_mass)
        c->max_mass = mass;
    if (!c->quiet)
        printf("%s\t%d\t%s\t%s\tline %d\tmass %.17g\t%zu rows\n", cube_type_name(type), level, ptable_part_name(part),
               grade_name(grade), line, mass, rows);
}

int cmd_tables(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tables", required_argument, NULL, 't'},
        {"summary", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *paths = NULL;
    anomaly_ctx_t ctx = {.quiet = false, .min_mass = 1e300, .max_mass = -1e300};
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 't': paths = optarg; break;
        case 's': ctx.quiet = true; break;
        case 'h': cli_help("tables", stdout); return CLI_EXIT_OK;
        case ':': cli_error("tables", "option %s needs a value", argv[optind - 1]); return CLI_EXIT_USAGE;
        default: cli_error("tables", "unknown option '%s'", argv[optind - 1]); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("tables", "unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    char err[512];
    ptable_t *t = cli_load_tables(paths, err, sizeof err);
    if (!t) {
        cli_error("tables", "%s", err);
        return CLI_EXIT_USAGE;
    }
    size_t n = ptable_report_anomalies(t, on_anomaly, &ctx);
    printf("%zu rows loaded; %zu groups with mass != 1 (renormalised when used)", ptable_row_count(t), n);
    if (n)
        printf(", mass range %.6g .. %.6g", ctx.min_mass, ctx.max_mass);
    printf("\n");
    ptable_free(t);
    return CLI_EXIT_OK;
}
