/*
 * cli_help.c - every help text of `maplexp`, in one place so that `maplexp --help`,
 * `maplexp help CMD` and `maplexp CMD --help` can never disagree.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ops/config.h"

static const char OVERVIEW[] =
    "maplexp " MAPLEXP_VERSION " - expected meso cost of a MapleStory character's equipment\n"
    "\n"
    "Usage: maplexp COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  calc FILE        value an item-equipment JSON payload (all presets)\n"
    "  starforce        expected starforce cost, destroys and cost percentiles\n"
    "  cube             cube expectation of one potential\n"
    "  tables           validate the probability tables and list renormalised groups\n"
    "  serve            run the HTTP service (see maplexp serve --help for every setting)\n"
    "  help [COMMAND]   this text, or the options of COMMAND\n"
    "\n"
    "Options:\n"
    "  -h, --help       show this help\n"
    "  -V, --version    print the version\n"
    "\n"
    "Exit status: 0 success, 2 invalid input (one line on stderr says why), 1 internal error.\n"
    "Environment: MAPLEXP_DATA_DIR overrides the directory holding the shipped tables.\n";

static const char CALC[] =
    "Usage: maplexp calc FILE [--class CLASS] [--preset N] [--json] [--tables PATH[,PATH...]]\n"
    "                         [--ign NAME] [--calculated-at TIME]\n"
    "\n"
    "Value a Nexon Open API item-equipment response. FILE may be '-' for standard input and may\n"
    "be gzip-compressed. Presets 1..3 are valued; the character total is the most expensive preset.\n"
    "\n"
    "  --class CLASS          character class for flame weights (default: the payload's character_class)\n"
    "  --preset N             only preset N (1..3): the preset-only view\n"
    "  --json                 print exactly the V4 response JSON instead of the readable table\n"
    "  --tables PATHS         comma-separated probability CSV files to load instead of the shipped\n"
    "                         data/cube_probability.csv and data/additional_potential_probability.csv\n"
    "  --ign NAME             userIgn of the JSON (default \"\")\n"
    "  --calculated-at TIME   calculatedAt of the JSON (default: now, local time)\n"
    "\n"
    "The readable table shows per item: part, level, grades, black and additional cube (expected\n"
    "trials and cost), starforce target and cost, flame trials (powerful/eternal/abyss) and the item\n"
    "total; '≥' marks an incomplete item whose total is a lower bound.\n"
    "Errors (exit 2): unreadable file, invalid JSON (with the byte offset), wrong shape (with the JSON\n"
    "path), out-of-range numbers, unreadable or malformed tables.\n";

static const char STARFORCE[] =
    "Usage: maplexp starforce --level L --to B [--from A] [--no-star-catch] [--no-sunday]\n"
    "                         [--no-discount] [--prevent] [--scroll] [--json]\n"
    "\n"
    "Expected meso cost and destroy count of enhancing an item of level L from A★ (default 0) to B★,\n"
    "plus p50/p90/p99 of the cost and destroy count (Monte Carlo, splitmix64 seed 1, 200,000 runs).\n"
    "\n"
    "  --level L          item level, 0..300\n"
    "  --from A           starting star (default 0)\n"
    "  --to B             target star, at most 30 (15 with --scroll); capped at the level's maximum\n"
    "                     star, and the output shows the requested and the capped target\n"
    "  --no-star-catch    without star catch (default: on, success x1.05)\n"
    "  --no-sunday        without the Sunday event (default: on, destroy chance -30% on 15-21★)\n"
    "  --no-discount      without the 30% cost discount (default: on)\n"
    "  --prevent          destroy prevention on 15-17★ (+200% cost)\n"
    "  --scroll           starforce scrolls (놀장) instead of regular starforce; no destruction\n"
    "  --json             machine-readable output\n"
    "\n"
    "Errors (exit 2): negative stars, --to above 30 (15 with --scroll), --to below --from, --from above\n"
    "the level's maximum star, --prevent or --no-sunday with --scroll, a level outside 0..300.\n";

static const char CUBE[] =
    "Usage: maplexp cube --level L --part PART --grade GRADE --lines \"LINE1|LINE2|LINE3\"\n"
    "                    [--type black|additional] [--json] [--tables PATH[,PATH...]]\n"
    "\n"
    "Expected cube uses and cost to reproduce one potential: the inferred target (a stat total or the\n"
    "exact lines), the probability per roll, expected trials, p50/p90/p99 trials, expected cost, and\n"
    "the table level and raw group masses used.\n"
    "\n"
    "  --level L          item level, 0..300 (cost bracket and table level)\n"
    "  --part PART        table part: 무기 엠블렘 보조무기 포스실드 방패 모자 상의 한벌옷 하의 신발 장갑\n"
    "                     망토 벨트 어깨장식 얼굴장식 눈장식 귀고리 반지1-4 펜던트 펜던트2 기계 심장 소울링\n"
    "  --grade GRADE      레어, 에픽, 유니크 or 레전드리 (the cube keeps the grade)\n"
    "  --lines TEXT       up to three lines separated by '|', as the API prints them; each is trimmed\n"
    "                     and missing lines are blank\n"
    "  --type TYPE        black (main potential, default) or additional\n"
    "  --tables PATHS     probability CSV files to load instead of the shipped ones\n"
    "  --json             machine-readable output (the V4 CubeExpectation plus diagnostics)\n"
    "\n"
    "Errors (exit 2): unknown part or grade, level outside 0..300, more than three lines.\n";

static const char TABLES[] =
    "Usage: maplexp tables [--tables PATH[,PATH...]] [--summary]\n"
    "\n"
    "Load and validate probability tables (exit 2 with FILE:LINE on the first malformed row) and list\n"
    "every (cube type, level, part, grade, line) group whose rates do not sum to 1; those groups are\n"
    "renormalised when used.\n"
    "\n"
    "  --tables PATHS     files to check instead of the shipped ones\n"
    "  --summary          print only the summary line\n";

static const char HELP[] = "Usage: maplexp help [COMMAND]\n\nShow the overview, or the options of COMMAND.\n";

bool cli_help(const char *subcommand, void *stream)
{
    static const struct {
        const char *name;
        const char *text;
    } texts[] = {{"calc", CALC}, {"starforce", STARFORCE}, {"cube", CUBE}, {"tables", TABLES}, {"help", HELP}};
    FILE *f = stream;
    if (subcommand && strcmp(subcommand, "serve") == 0) {
        config_print_help(f);
        return true;
    }
    if (!subcommand) {
        fputs(OVERVIEW, f);
        return true;
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (strcmp(texts[i].name, subcommand) == 0) {
            fputs(texts[i].text, f);
            return true;
        }
    }
    return false;
}
