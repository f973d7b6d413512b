/*
 * cmd_cube.c - `maplexp cube`: one potential's cube expectation (valuation §2-3, 10.E4).
 *
 * --lines "A|B|C" is split on '|', each part trimmed, and padded to three lines with blanks.
 * The answer is the same CubeExpectation the V4 JSON carries, plus diagnostics a user debugging
 * a number wants: the inference (compound, best stat, confidence) and the table level and raw
 * group masses the lookup looked at, even when the status is not OK (A4).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jw.h"
#include "cli/cli.h"
#include "domain/cube.h"
#include "domain/money.h"
#include "domain/report.h"
#include "domain/stat.h"

#define CUBE_LEVEL_MAX 300
#define CUBE_LINES_MAX 1024 /* bytes of --lines */

typedef struct {
    long level;
    bool has_level;
    const char *part, *grade, *lines, *tables;
    cube_type_t type;
    bool json;
    char line_buf[3][CUBE_LINES_MAX];
    cube_text_t line[3];
} cube_args_t;

static int split_lines(cube_args_t *a)
{
    if (strlen(a->lines) >= CUBE_LINES_MAX) {
        cli_error("cube", "--lines is longer than %d bytes", CUBE_LINES_MAX - 1);
        return CLI_EXIT_USAGE;
    }
    const char *p = a->lines;
    for (int k = 0; k < 3; k++) {
        a->line[k] = (cube_text_t){NULL, 0};
        if (!p)
            continue;
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        while (n > 0 && (unsigned char)*p <= ' ') {
            p++;
            n--;
        }
        while (n > 0 && (unsigned char)p[n - 1] <= ' ')
            n--;
        memcpy(a->line_buf[k], p, n);
        a->line_buf[k][n] = '\0';
        a->line[k] = (cube_text_t){a->line_buf[k], n};
        p = bar ? bar + 1 : NULL;
    }
    if (p) {
        cli_error("cube", "--lines has more than three lines");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

static int parse_args(int argc, char **argv, cube_args_t *a)
{
    static const struct option opts[] = {
        {"level", required_argument, NULL, 'l'}, {"part", required_argument, NULL, 'p'},
        {"grade", required_argument, NULL, 'g'}, {"lines", required_argument, NULL, 'L'},
        {"type", required_argument, NULL, 'T'},  {"tables", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->type = CUBE_BLACK;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!cli_parse_int(optarg, 0, CUBE_LEVEL_MAX, &a->level)) {
                cli_error("cube", "--level must be an integer 0..%d (got '%s')", CUBE_LEVEL_MAX, optarg);
                return CLI_EXIT_USAGE;
            }
            a->has_level = true;
            break;
        case 'p': a->part = optarg; break;
        case 'g': a->grade = optarg; break;
        case 'L': a->lines = optarg; break;
        case 't': a->tables = optarg; break;
        case 'j': a->json = true; break;
        case 'T':
            if (strcmp(optarg, "black") == 0) {
                a->type = CUBE_BLACK;
            } else if (strcmp(optarg, "additional") == 0) {
                a->type = CUBE_ADDITIONAL;
            } else {
                cli_error("cube", "--type must be black or additional (got '%s')", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h': cli_help("cube", stdout); return -1;
        case ':': cli_error("cube", "option %s needs a value", argv[optind - 1]); return CLI_EXIT_USAGE;
        default: cli_error("cube", "unknown option '%s' (see maplexp help cube)", argv[optind - 1]); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("cube", "unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!a->has_level || !a->part || !a->grade || !a->lines) {
        cli_error("cube", "--level, --part, --grade and --lines are required");
        return CLI_EXIT_USAGE;
    }
    if (ptable_part_index(a->part, strlen(a->part)) < 0) {
        cli_error("cube", "unknown part '%s' (one of the 25 table parts, e.g. 모자, 무기, 반지1; see maplexp help cube)",
                  a->part);
        return CLI_EXIT_USAGE;
    }
    grade_t g;
    if (!grade_from_text(a->grade, strlen(a->grade), &g)) {
        cli_error("cube", "unknown grade '%s' (레어, 에픽, 유니크 or 레전드리)", a->grade);
        return CLI_EXIT_USAGE;
    }
    return split_lines(a);
}

/* The level and raw masses the lookup looks at (diagnostics, also for failed statuses). */
typedef struct {
    bool has_level;
    int level;
    bool has_mass[3];
    double mass[3];
} cube_diag_t;

static void diagnose(const ptable_t *t, const cube_args_t *a, cube_diag_t *d)
{
    memset(d, 0, sizeof *d);
    int part = ptable_part_index(a->part, strlen(a->part));
    grade_t g;
    grade_from_text(a->grade, strlen(a->grade), &g);
    if (ptable_select_level(t, a->type, part, g, (int)a->level, &d->level) != 0)
        return;
    d->has_level = true;
    for (int k = 0; k < 3; k++) {
        const ptable_group_t *grp = ptable_group(t, a->type, d->level, part, g, k + 1);
        if (grp) {
            d->has_mass[k] = true;
            d->mass[k] = grp->mass;
        }
    }
}

static void print_json(const cube_args_t *a, const cube_result_t *r, const stat_choice_t *ch, const cube_diag_t *d,
                       buf_t *out)
{
    jw_t w;
    jw_init(&w, out);
    jw_object_begin(&w);
    jw_key(&w, "itemLevel");
    jw_int(&w, a->level);
    jw_key(&w, "part");
    jw_string(&w, a->part);
    jw_key(&w, "cube");
    report_cube_object(&w, r, a->line);
    jw_key(&w, "inference");
    jw_object_begin(&w);
    jw_key(&w, "compound");
    jw_bool(&w, ch->compound);
    jw_key(&w, "valid");
    jw_bool(&w, ch->inference_valid);
    jw_key(&w, "bestStat");
    ch->inference_valid ? jw_string(&w, stat_type_name(ch->best)) : jw_null(&w);
    jw_key(&w, "bestValue");
    ch->inference_valid ? jw_int(&w, ch->best_value) : jw_null(&w);
    jw_key(&w, "total");
    ch->inference_valid ? jw_int(&w, ch->total) : jw_null(&w);
    jw_key(&w, "confidence");
    ch->inference_valid ? jw_double(&w, ch->confidence) : jw_null(&w);
    jw_object_end(&w);
    jw_key(&w, "diagnostics");
    jw_object_begin(&w);
    jw_key(&w, "lookedUpTableLevel");
    d->has_level ? jw_int(&w, d->level) : jw_null(&w);
    jw_key(&w, "rawGroupMass");
    jw_array_begin(&w);
    for (int k = 0; k < 3; k++)
        d->has_mass[k] ? jw_double(&w, d->mass[k]) : jw_null(&w);
    jw_array_end(&w);
    jw_object_end(&w);
    jw_object_end(&w);
    buf_putc(out, '\n');
}

static void print_text(const cube_args_t *a, const cube_result_t *r, const stat_choice_t *ch, const cube_diag_t *d,
                       buf_t *out)
{
    char num[MONEY_TEXT_LEN], text[MONEY_TEXT_LEN];
    buf_printf(out, "%s cube, %s %s, level %ld\n", cube_type_name(a->type), a->part, a->grade, a->level);
    buf_puts(out, "Lines: ");
    report_potential_text(a->line, out);
    buf_putc(out, '\n');
    if (r->has_method) {
        if (r->method == CUBE_METHOD_THRESHOLD)
            buf_printf(out, "Target: %s >= %d (confidence %.3f)\n", stat_type_name(r->target_stat), r->min_total,
                       ch->confidence);
        else
            buf_printf(out, "Target: the exact lines (EXACT_MATCH%s)\n",
                       ch->compound ? ", compound potential" : !ch->inference_valid ? ", no dominant stat" : ", low confidence");
    }
    if (d->has_level) {
        buf_printf(out, "Table level: %d (raw group masses", d->level);
        for (int k = 0; k < 3; k++) {
            if (d->has_mass[k])
                buf_printf(out, " %.17g", d->mass[k]);
            else
                buf_puts(out, " -");
        }
        buf_puts(out, ")\n");
    }
    if (r->status != VAL_OK) {
        buf_printf(out, "Status: %s: %s\n", val_status_name(r->status), r->reason);
        return;
    }
    buf_printf(out, "Probability per roll: %.17g\n", r->probability);
    buf_printf(out, "Expected trials: %lld (exact %.6f)\n", (long long)r->trials, r->trials_exact);
    buf_printf(out, "Trials p50/p90/p99: %lld / %lld / %lld\n", (long long)r->p50_trials, (long long)r->p90_trials,
               (long long)r->p99_trials);
    money_commas(r->cost_per_cube, num);
    buf_printf(out, "Cost per cube: %s meso\n", num);
    money_commas(r->expected_cost, num);
    money_korean((double)r->expected_cost, text);
    buf_printf(out, "Expected cost: %s meso (%s)\n", num, text);
}

int cmd_cube(int argc, char **argv)
{
    cube_args_t *a = calloc(1, sizeof *a);
    if (!a)
        return CLI_EXIT_FAILURE;
    int rc = parse_args(argc, argv, a);
    if (rc != 0) {
        free(a);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    char err[512];
    ptable_t *t = cli_load_tables(a->tables, err, sizeof err);
    if (!t) {
        cli_error("cube", "%s", err);
        free(a);
        return CLI_EXIT_USAGE;
    }
    cube_input_t in = {.type = a->type,
                       .part = ptable_part_index(a->part, strlen(a->part)),
                       .item_level = (int)a->level,
                       .grade = {a->grade, strlen(a->grade)}};
    memcpy(in.lines, a->line, sizeof in.lines);
    cube_result_t r;
    cube_evaluate(t, &in, &r);
    stat_line_t sl[3];
    for (int k = 0; k < 3; k++)
        stat_classify(a->line[k].ptr, a->line[k].len, &sl[k]);
    stat_choice_t ch;
    stat_choose_method(sl, &ch);
    cube_diag_t d;
    diagnose(t, a, &d);

    buf_t out;
    buf_init(&out, 1u << 20);
    if (a->json)
        print_json(a, &r, &ch, &d, &out);
    else
        print_text(a, &r, &ch, &d, &out);
    rc = cli_write_stdout("cube", &out);
    buf_dispose(&out);
    ptable_free(t);
    free(a);
    return rc;
}
