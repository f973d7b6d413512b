/*
 * cmd_calc.c - `maplexp calc FILE`: value an item-equipment payload offline.
 *
 * FILE is read whole (gunzipped if needed), decoded (domain/equipment), valued against the
 * shipped tables or --tables, and printed either as the exact V4 response JSON (--json, the
 * machine-readable form) or as a readable table per preset. Every input problem is one line on
 * stderr and exit status 2 before anything is printed on stdout, so a script never sees a
 * partial result.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "cli/table_out.h"
#include "domain/equipment.h"
#include "domain/report.h"
#include "domain/valuation.h"

#define CALC_OUT_CAP (64u << 20) /* bytes of JSON output; a real response is about 300 KB */

typedef struct {
    const char *file;
    const char *cls;
    const char *tables;
    const char *ign;
    const char *calculated_at;
    long preset;
    bool json;
} calc_args_t;

static int parse_args(int argc, char **argv, calc_args_t *a)
{
    static const struct option opts[] = {
        {"class", required_argument, NULL, 'c'},   {"preset", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},          {"tables", required_argument, NULL, 't'},
        {"ign", required_argument, NULL, 'i'},     {"calculated-at", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->cls = optarg; break;
        case 'p':
            if (!cli_parse_int(optarg, 1, 3, &a->preset)) {
                cli_error("calc", "--preset must be 1, 2 or 3 (got '%s')", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'j': a->json = true; break;
        case 't': a->tables = optarg; break;
        case 'i': a->ign = optarg; break;
        case 'a': a->calculated_at = optarg; break;
        case 'h': cli_help("calc", stdout); return -1;
        case ':': cli_error("calc", "option %s needs a value", argv[optind - 1]); return CLI_EXIT_USAGE;
        default: cli_error("calc", "unknown option '%s' (see maplexp help calc)", argv[optind - 1]); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("calc", optind >= argc ? "missing FILE (use - for standard input)" : "expected one FILE, got %d",
                  argc - optind);
        return CLI_EXIT_USAGE;
    }
    a->file = argv[optind];
    return 0;
}

int cmd_calc(int argc, char **argv)
{
    calc_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;

    char err[512];
    char *json = NULL;
    equip_doc_t *doc = NULL;
    ptable_t *tables = NULL;
    valuation_t *val = NULL;
    buf_t out;
    buf_init(&out, CALC_OUT_CAP);
    rc = CLI_EXIT_USAGE;

    size_t len = 0;
    json = cli_read_input(a.file, &len, err, sizeof err);
    if (!json) {
        cli_error("calc", "%s", err);
        goto out;
    }
    if (equip_parse(json, len, &doc, err, sizeof err) != 0) {
        cli_error("calc", "%s: %s", a.file, err);
        goto out;
    }
    tables = cli_load_tables(a.tables, err, sizeof err);
    if (!tables) {
        cli_error("calc", "%s", err);
        goto out;
    }
    val_options_t vo = {.class_override = {a.cls, a.cls ? strlen(a.cls) : 0}};
    if (valuation_compute(tables, doc, &vo, &val) != 0) {
        cli_error("calc", "out of memory");
        rc = CLI_EXIT_FAILURE;
        goto out;
    }
    if (a.json) {
        char now[32];
        if (!a.calculated_at)
            cli_now_iso(now);
        report_meta_t meta = {
            .user_ign = a.ign ? a.ign : "",
            .calculated_at = a.calculated_at ? a.calculated_at : now,
            .from_cache = false,
            .preset_only = (int)a.preset,
        };
        if (report_v4_json(val, &meta, &out) != 0) {
            cli_error("calc", "output larger than %u bytes", CALC_OUT_CAP);
            rc = CLI_EXIT_FAILURE;
            goto out;
        }
        buf_putc(&out, '\n');
    } else {
        table_out_valuation(val, (int)a.preset, &out);
    }
    rc = cli_write_stdout("calc", &out);
out:
    buf_dispose(&out);
    valuation_free(val);
    ptable_free(tables);
    equip_free(doc);
    free(json);
    return rc;
}
