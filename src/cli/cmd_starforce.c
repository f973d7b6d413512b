/*
 * cmd_starforce.c - `maplexp starforce`: expected cost and destructions of enhancing one item,
 * with Monte Carlo percentiles of the cost (valuation §4, §10.E1-E3, E6).
 *
 * Range rules (E3): --to above 30 (15 with --scroll), a negative star, or --to below --from is an
 * input error; within range --to is capped at the level's maximum star and both the requested
 * and the capped target are shown. A --from above the capped target is an input error too (the
 * item cannot be at that star at this level). Percentiles use splitmix64 seed 1 and 200,000
 * runs; when the simulation would take more than MC_MAX_TRANSITIONS stage transitions (deep
 * targets such as 0→30 take astronomically long), the percentiles are reported as unavailable
 * rather than hanging or silently shortening the simulation.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/jw.h"
#include "base/num.h"
#include "cli/cli.h"
#include "domain/money.h"
#include "domain/starforce.h"

#define MC_RUNS 200000
#define MC_SEED 1
#define MC_MAX_TRANSITIONS 2e9 /* about 20 s of simulation on this machine class */
#define LEVEL_MIN 0
#define LEVEL_MAX 300

typedef struct {
    long level, from, to;
    bool has_level, has_to;
    sf_options_t opt;
    bool scroll, json;
} sf_args_t;

static int parse_args(int argc, char **argv, sf_args_t *a)
{
    static const struct option opts[] = {
        {"level", required_argument, NULL, 'l'},   {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},      {"no-star-catch", no_argument, NULL, 'C'},
        {"no-sunday", no_argument, NULL, 'S'},     {"no-discount", no_argument, NULL, 'D'},
        {"prevent", no_argument, NULL, 'P'},       {"scroll", no_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->opt = (sf_options_t){.star_catch = true, .sunday = true, .discount = true, .prevention = false};
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!cli_parse_int(optarg, LEVEL_MIN, LEVEL_MAX, &a->level)) {
                cli_error("starforce", "--level must be an integer %d..%d (got '%s')", LEVEL_MIN, LEVEL_MAX, optarg);
                return CLI_EXIT_USAGE;
            }
            a->has_level = true;
            break;
        case 'f':
        case 't': {
            long v;
            if (!cli_parse_int(optarg, -1000000, 1000000, &v)) {
                cli_error("starforce", "--%s must be an integer star count (got '%s')", c == 'f' ? "from" : "to",
                          optarg);
                return CLI_EXIT_USAGE;
            }
            if (c == 'f') {
                a->from = v;
            } else {
                a->to = v;
                a->has_to = true;
            }
            break;
        }
        case 'C': a->opt.star_catch = false; break;
        case 'S': a->opt.sunday = false; break;
        case 'D': a->opt.discount = false; break;
        case 'P': a->opt.prevention = true; break;
        case 'R': a->scroll = true; break;
        case 'j': a->json = true; break;
        case 'h': cli_help("starforce", stdout); return -1;
        case ':': cli_error("starforce", "option %s needs a value", argv[optind - 1]); return CLI_EXIT_USAGE;
        default:
            cli_error("starforce", "unknown option '%s' (see maplexp help starforce)", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("starforce", "unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!a->has_level || !a->has_to) {
        cli_error("starforce", "--level and --to are required");
        return CLI_EXIT_USAGE;
    }
    int top = a->scroll ? SF_NOLJANG_MAX_STAR : SF_MAX_STAR;
    if (a->from < 0 || a->to < 0) {
        cli_error("starforce", "stars cannot be negative");
        return CLI_EXIT_USAGE;
    }
    if (a->to > top) {
        cli_error("starforce", "--to %ld is above %d, the highest %s target", a->to, top,
                  a->scroll ? "starforce-scroll" : "starforce");
        return CLI_EXIT_USAGE;
    }
    if (a->to < a->from) {
        cli_error("starforce", "--to %ld is below --from %ld", a->to, a->from);
        return CLI_EXIT_USAGE;
    }
    if (a->scroll && (a->opt.prevention || !a->opt.sunday)) {
        cli_error("starforce", "--prevent and --no-sunday do not apply to --scroll (scrolls never destroy)");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

typedef struct {
    int capped_to;
    val_status_t status;
    double cost;          /* rhu'd expected cost */
    double destroys;      /* rhu_2'd expected destructions */
    int mc_rc;            /* 0 ok, -1 unreachable, -2 over budget */
    sf_percentiles_t pct;
} sf_outcome_t;

static void compute(const sf_args_t *a, sf_outcome_t *o)
{
    int level = (int)a->level;
    int cap = a->scroll ? SF_NOLJANG_MAX_STAR : sf_max_star(level);
    o->capped_to = (int)a->to < cap ? (int)a->to : cap;
    double e = 0, d = 0;
    int rc;
    if (a->scroll) {
        rc = sf_noljang_expected_cost(level, (int)a->from, o->capped_to, a->opt.star_catch, a->opt.discount, &e);
    } else {
        rc = sf_expected_cost(level, (int)a->from, o->capped_to, &a->opt, &e);
        if (rc == 0)
            rc = sf_expected_destroys(level, (int)a->from, o->capped_to, &a->opt, &d);
    }
    o->status = rc == 0 ? VAL_OK : VAL_UNREACHABLE;
    o->cost = num_rhu(e);
    o->destroys = num_rhu_k(d, 2);
    if (o->status != VAL_OK) {
        o->mc_rc = -1;
        return;
    }
    if (a->scroll)
        o->mc_rc = sf_noljang_monte_carlo(level, (int)a->from, o->capped_to, a->opt.star_catch, a->opt.discount,
                                          MC_SEED, MC_RUNS, MC_MAX_TRANSITIONS, &o->pct);
    else
        o->mc_rc = sf_monte_carlo(level, (int)a->from, o->capped_to, &a->opt, MC_SEED, MC_RUNS, MC_MAX_TRANSITIONS,
                                  &o->pct);
}

static void print_json(const sf_args_t *a, const sf_outcome_t *o, buf_t *out)
{
    jw_t w;
    jw_init(&w, out);
    char text[MONEY_TEXT_LEN];
    jw_object_begin(&w);
    jw_key(&w, "level");
    jw_int(&w, a->level);
    jw_key(&w, "from");
    jw_int(&w, a->from);
    jw_key(&w, "requestedTo");
    jw_int(&w, a->to);
    jw_key(&w, "to");
    jw_int(&w, o->capped_to);
    jw_key(&w, "scroll");
    jw_bool(&w, a->scroll);
    jw_key(&w, "options");
    jw_object_begin(&w);
    jw_key(&w, "starCatch");
    jw_bool(&w, a->opt.star_catch);
    jw_key(&w, "sunday");
    jw_bool(&w, a->opt.sunday && !a->scroll);
    jw_key(&w, "discount");
    jw_bool(&w, a->opt.discount);
    jw_key(&w, "prevention");
    jw_bool(&w, a->opt.prevention);
    jw_object_end(&w);
    jw_key(&w, "status");
    jw_string(&w, val_status_name(o->status));
    bool ok = o->status == VAL_OK;
    jw_key(&w, "expectedCost");
    ok ? jw_whole(&w, o->cost) : jw_null(&w);
    jw_key(&w, "expectedCostText");
    money_korean(o->cost, text);
    ok ? jw_string(&w, text) : jw_null(&w);
    jw_key(&w, "expectedDestroyCount");
    ok ? jw_fixed2(&w, o->destroys) : jw_null(&w);
    jw_key(&w, "percentileMethod");
    jw_string(&w, "monte-carlo");
    jw_key(&w, "runs");
    jw_int(&w, MC_RUNS);
    jw_key(&w, "seed");
    jw_int(&w, MC_SEED);
    const char *keys[] = {"p50Cost", "p90Cost", "p99Cost", "p50DestroyCount", "p90DestroyCount", "p99DestroyCount",
                          "sampleMeanCost", "sampleMeanDestroyCount"};
    const double vals[] = {o->pct.p50_cost,     o->pct.p90_cost,     o->pct.p99_cost,  o->pct.p50_destroys,
                           o->pct.p90_destroys, o->pct.p99_destroys, o->pct.mean_cost, o->pct.mean_destroys};
    for (int i = 0; i < 8; i++) {
        jw_key(&w, keys[i]);
        if (o->mc_rc != 0)
            jw_null(&w);
        else if (i == 6)
            jw_whole(&w, num_rhu(vals[i]));
        else if (i >= 3)
            jw_fixed2(&w, vals[i]);
        else
            jw_whole(&w, vals[i]);
    }
    jw_key(&w, "percentileReason");
    if (o->mc_rc == -2)
        jw_string(&w, "simulation too long for this target (expected transitions over the budget)");
    else if (o->mc_rc == -1)
        jw_string(&w, "unreachable target");
    else
        jw_null(&w);
    jw_object_end(&w);
    buf_putc(out, '\n');
}

static void print_text(const sf_args_t *a, const sf_outcome_t *o, buf_t *out)
{
    char text[MONEY_TEXT_LEN], num[MONEY_TEXT_LEN];
    buf_printf(out, "Level %ld, %ld★ → %d★%s", a->level, a->from, o->capped_to, a->scroll ? " (starforce scroll)" : "");
    if (o->capped_to != a->to)
        buf_printf(out, " (requested %ld★, capped at the level's maximum)", a->to);
    buf_printf(out, "\nOptions: star catch %s, Sunday %s, 30%% discount %s, destroy prevention %s\n",
               a->opt.star_catch ? "on" : "off", a->opt.sunday && !a->scroll ? "on" : "off",
               a->opt.discount ? "on" : "off", a->opt.prevention ? "on" : "off");
    if (o->status != VAL_OK) {
        buf_puts(out, "Expected cost: unreachable (success probability 0)\n");
        return;
    }
    money_korean(o->cost, text);
    money_commas((int64_t)o->cost, num);
    buf_printf(out, "Expected cost: %s meso (%s)\nExpected destroys: %.2f\n", num, text, o->destroys);
    if (o->mc_rc != 0) {
        buf_puts(out, "Percentiles: unavailable (the simulation would take too long for this target)\n");
        return;
    }
    buf_printf(out, "Percentiles (Monte Carlo, %d runs, seed %d):\n", MC_RUNS, MC_SEED);
    const char *names[3] = {"p50", "p90", "p99"};
    const double costs[3] = {o->pct.p50_cost, o->pct.p90_cost, o->pct.p99_cost};
    const double destroys[3] = {o->pct.p50_destroys, o->pct.p90_destroys, o->pct.p99_destroys};
    for (int i = 0; i < 3; i++) {
        money_commas((int64_t)costs[i], num);
        money_korean(costs[i], text);
        buf_printf(out, "  %s: %s meso (%s), %.0f destroys\n", names[i], num, text, destroys[i]);
    }
}

int cmd_starforce(int argc, char **argv)
{
    sf_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    int cap = a.scroll ? SF_NOLJANG_MAX_STAR : sf_max_star((int)a.level);
    int capped = (int)a.to < cap ? (int)a.to : cap;
    if (a.from > capped) {
        cli_error("starforce", "--from %ld is above %d★, the maximum for level %ld", a.from, capped, a.level);
        return CLI_EXIT_USAGE;
    }
    sf_outcome_t o;
    memset(&o, 0, sizeof o);
    compute(&a, &o);
    buf_t out;
    buf_init(&out, 1u << 20);
    if (a.json)
        print_json(&a, &o, &out);
    else
        print_text(&a, &o, &out);
    rc = cli_write_stdout("starforce", &out);
    buf_dispose(&out);
    return rc;
}
