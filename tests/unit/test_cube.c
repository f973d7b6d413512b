/*
 * test_cube.c - cube probability and cost (valuation §2.8, §3; goldens 8.2, 8.3, 8.4, 8.6, 8.7;
 *   clarifications A3-A8, C2, C3, D1) plus property tests: probabilities stay in [0, 1] on random
 *   items drawn from the tables, a higher target never needs fewer trials, and the convolution
 *   equals brute-force enumeration. The shipped tables are loaded once per binary.
 */
#include "testutil.h"
#include "tu_tables.h"

#include <limits.h>
#include <pthread.h>

#include "base/num.h"
#include "domain/cube.h"

static ptable_t *g_black; /* BLACK alone */
static ptable_t *g_both;  /* BLACK + ADDITIONAL (the default set) */


static int setup(void **state)
{
    (void)state;
    const char *black[] = {TU_BLACK_CSV}, *both[] = {TU_BLACK_CSV, TU_ADDITIONAL_CSV};
    g_black = tu_load_tables(black, 1);
    g_both = tu_load_tables(both, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ptable_free(g_black);
    ptable_free(g_both);
    return 0;
}

static ptable_t *load_csv_text(const char *csv)
{
    ptable_t *t = ptable_new();
    char err[256];
    if (ptable_add_csv(t, csv, strlen(csv), "synthetic", err, sizeof err) != 0) {
        print_error("%s\n", err);
        ptable_free(t);
        fail();
    }
    ptable_finish(t);
    return t;
}

static int part(const char *name)
{
    int p = ptable_part_index(name, strlen(name));
    assert_true(p >= 0);
    return p;
}

static cube_text_t txt(const char *s)
{
    cube_text_t x = {s, s ? strlen(s) : 0};
    return x;
}

static cube_result_t eval(const ptable_t *t, cube_type_t type, const char *partname, int level, const char *grade,
                          const char *l1, const char *l2, const char *l3)
{
    cube_input_t in;
    memset(&in, 0, sizeof in);
    in.type = type;
    in.part = partname ? ptable_part_index(partname, strlen(partname)) : -1;
    in.item_level = level;
    in.grade = txt(grade);
    in.lines[0] = txt(l1);
    in.lines[1] = txt(l2);
    in.lines[2] = txt(l3);
    cube_result_t r;
    cube_evaluate(t, &in, &r);
    return r;
}

static void expect_status(const cube_result_t *r, val_status_t want)
{
    if (r->status != want) {
        print_error("status %s (%s), want %s\n", val_status_name(r->status), r->reason, val_status_name(want));
        fail();
    }
}

/* ---- 8.2 cost per cube and invalid grades ---- */

static void test_costs_8_2(void **state)
{
    (void)state;
    static const int64_t black200[4] = {4500000, 18000000, 38250000, 45000000};
    static const int64_t add200[4] = {14625000, 40950000, 49725000, 58500000};
    for (int g = 0; g < GRADE__COUNT; g++) {
        assert_int_equal(cube_cost_per_use(CUBE_BLACK, (grade_t)g, 200), black200[g]);
        assert_int_equal(cube_cost_per_use(CUBE_ADDITIONAL, (grade_t)g, 200), add200[g]);
    }
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, 159), 40000000);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, 160), 42500000);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, 249), 45000000);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, 250), 50000000);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, 300), 50000000);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, 80), 40000000);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE_LEGENDARY, -3), 40000000);
    assert_int_equal(cube_cost_per_use(CUBE_ADDITIONAL, GRADE_RARE, 0), 13000000);
    assert_int_equal(cube_cost_per_use(CUBE_ADDITIONAL, GRADE_EPIC, 160), 38675000);
    assert_int_equal(cube_cost_per_use(CUBE_ADDITIONAL, GRADE_UNIQUE, 250), 55250000);
    assert_int_equal(cube_cost_per_use(CUBE_ADDITIONAL, GRADE_LEGENDARY, 250), 65000000);
    assert_int_equal(cube_cost_per_use(CUBE__COUNT, GRADE_RARE, 200), -1);
    assert_int_equal(cube_cost_per_use(CUBE_BLACK, GRADE__COUNT, 200), -1);
}

static void test_invalid_grades(void **state)
{
    (void)state;
    static const char *const bad[] = {"희귀", "전설", "Legendary", "HERO", "Unique", "Rare", "레전드리!", "레 어"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 200, bad[i], "STR +12%", "STR +9%", "STR +9%");
        expect_status(&r, VAL_INVALID_INPUT);
        assert_true(r.has_grade);
        assert_string_equal(r.grade, bad[i]);
        assert_false(r.has_method); /* A5 */
        assert_false(r.has_target);
        assert_true(r.reason[0] != '\0');
        assert_int_equal(r.trials, 0);
    }
    /* A6: echoed trimmed */
    cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 200, "  Legendary\t", "STR +12%", NULL, NULL);
    expect_status(&r, VAL_INVALID_INPUT);
    assert_string_equal(r.grade, "Legendary");
    /* a too long grade is cut at a character boundary */
    char longg[300] = "";
    for (int i = 0; i < 40; i++)
        strcat(longg, "전");
    r = eval(g_both, CUBE_BLACK, "모자", 200, longg, "STR +12%", NULL, NULL);
    expect_status(&r, VAL_INVALID_INPUT);
    assert_true(strlen(r.grade) < sizeof r.grade);
    assert_int_equal(strlen(r.grade) % 3, 0);
    /* a valid grade with whitespace around it is trimmed, then accepted */
    r = eval(g_both, CUBE_BLACK, "모자", 200, " 레전드리 ", "STR +12%", "STR +9%", "STR +9%");
    expect_status(&r, VAL_OK);
    assert_string_equal(r.grade, "레전드리");
}

/* ---- 8.3 convolution and tails ---- */

typedef struct {
    int v[4];
    double q[4];
    size_t n;
} dist_lit_t;

static double conv_tail(const dist_lit_t *lits, size_t nlines, int T, double *acc_out)
{
    cube_dist_t d[3];
    for (size_t k = 0; k < nlines; k++) {
        d[k].values = lits[k].v;
        d[k].probs = lits[k].q;
        d[k].count = lits[k].n;
    }
    double *acc = malloc(((size_t)T + 1) * sizeof *acc);
    assert_non_null(acc);
    assert_int_equal(cube_convolve(d, nlines, T, acc), 0);
    double p = acc[T];
    if (acc_out)
        memcpy(acc_out, acc, ((size_t)T + 1) * sizeof *acc);
    free(acc);
    return p;
}

typedef struct {
    dist_lit_t lines[3];
    size_t n;
    int T;
    double p, inv;
    int64_t p50, p90, p99;
} conv_case_t;

static void test_convolution_8_3(void **state)
{
    (void)state;
    const dist_lit_t a = {{0, 6, 9}, {.7, .2, .1}, 3};
    const conv_case_t cases[] = {
        {{a, a}, 2, 12, 0.09000000000000002, 11.111111111111109, 8, 25, 49},
        {{{{0, 6, 12}, {.9, .08, .02}, 3}, {{0, 9, 12}, {.85, .1, .05}, 3}}, 2, 15, 0.015, 66.66666666666667, 46, 153, 305},
        {{a, a, a}, 3, 21, 0.019000000000000006, 52.6315789473684, 37, 121, 241},
        {{{{0, 6, 12}, {.6, .3, .1}, 3}, {{0, 9, 12}, {.75, .2, .05}, 3}, {{0, 6, 9}, {.8, .15, .05}, 3}},
         3, 18, 0.07900000000000001, 12.658227848101264, 9, 28, 56},
        {{{{0, 6, 12}, {.95, .04, .01}, 3}, {{0, 6, 12}, {.95, .04, .01}, 3}, {{0, 6, 12}, {.95, .04, .01}, 3}},
         3, 30, 1.3000000000000003e-05, 76923.07692307691, 53319, 177121, 354242},
        {{a, a, a}, 3, 15, 0.132, 7.575757575757575, 5, 17, 33},
        {{{{9}, {1}, 1}, {{12}, {1}, 1}}, 2, 21, 1.0, 1, 1, 1, 1},
        {{{{0, 6, 12}, {.5, .3, .2}, 3}}, 1, 6, 0.5, 2, 1, 4, 7},
        {{{{0, 6, 12}, {.5, .3, .2}, 3}}, 1, 0, 1.0, 1, 1, 1, 1},
        {{{{0, 100}, {.5, .5}, 2}, {{0, 100}, {.5, .5}, 2}}, 2, 50, 0.75, 1.3333333333333333, 1, 2, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case_t *c = &cases[i];
        double p = conv_tail(c->lines, c->n, c->T, NULL);
        assert_rel(p, c->p);
        assert_rel(1.0 / p, c->inv);
        assert_int_equal(cube_percentile_trials(p, 0.5), c->p50);
        assert_int_equal(cube_percentile_trials(p, 0.9), c->p90);
        assert_int_equal(cube_percentile_trials(p, 0.99), c->p99);
    }
    /* {0:.5,100:.5} x2 at 50: acc = [0.25, 0..., 0.75], size 51 */
    double acc[51];
    const dist_lit_t h = {{0, 100}, {.5, .5}, 2};
    const dist_lit_t hh[2] = {h, h};
    conv_tail(hh, 2, 50, acc);
    assert_rel(acc[0], 0.25);
    for (int i = 1; i < 50; i++)
        assert_true(acc[i] == 0.0);
    assert_rel(acc[50], 0.75);
    /* two lines {0:.7,6:.2,9:.1}, T = 18: acc[0] = 0.49, acc[6] = 0.28 */
    double acc18[19];
    const dist_lit_t aa[2] = {a, a};
    conv_tail(aa, 2, 18, acc18);
    assert_true(fabs(acc18[0] - 0.49) <= 1e-10);
    assert_true(fabs(acc18[6] - 0.28) <= 1e-10);
    /* no lines, T = 10: acc[0] = 1, the rest 0 */
    double acc10[11];
    assert_int_equal(cube_convolve(NULL, 0, 10, acc10), 0);
    assert_true(acc10[0] == 1.0);
    for (int i = 1; i <= 10; i++)
        assert_true(acc10[i] == 0.0);
    /* a negative value, a negative T → error */
    const int negv[2] = {-1, 3};
    const double negq[2] = {.5, .5};
    cube_dist_t neg = {negv, negq, 2};
    assert_int_equal(cube_convolve(&neg, 1, 5, acc10), -1);
    assert_int_equal(cube_convolve(NULL, 0, -1, acc10), -1);
}

static void test_tails_8_3(void **state)
{
    (void)state;
    /* tail of a final distribution = one line convolved with T = the index */
    const dist_lit_t d1 = {{0, 1, 2, 3}, {0.1, 0.2, 0.3, 0.4}, 4};
    assert_rel(conv_tail(&d1, 1, 3, NULL), 0.4);
    int v5[5] = {0, 1, 2, 3, 4};
    double q5[5] = {0.1, 0.2, 0.3, 0.25, 0.15};
    cube_dist_t d5 = {v5, q5, 5};
    double acc[11];
    assert_int_equal(cube_convolve(&d5, 1, 2, acc), 0);
    assert_rel(acc[2], 0.7);
    const dist_lit_t d3 = {{0, 1, 2}, {0.3, 0.4, 0.3}, 3};
    assert_true(conv_tail(&d3, 1, 10, NULL) == 0.0);
    const dist_lit_t d0 = {{0, 1, 2}, {0.2, 0.3, 0.5}, 3};
    assert_rel(conv_tail(&d0, 1, 0, NULL), 1.0);
    /* 1,000 masses of 0.001 at 0..999, tail >= 500 */
    int *v = malloc(1000 * sizeof *v);
    double *q = malloc(1000 * sizeof *q);
    double *acc501 = malloc(501 * sizeof *acc501);
    for (int i = 0; i < 1000; i++) {
        v[i] = i;
        q[i] = 0.001;
    }
    cube_dist_t dm = {v, q, 1000};
    assert_int_equal(cube_convolve(&dm, 1, 500, acc501), 0);
    assert_true(fabs(acc501[500] - 0.5) <= 1e-12);
    free(v);
    free(q);
    free(acc501);
    /* expected trials rhu(1/p) */
    assert_true(num_rhu(1 / 0.5) == 2);
    assert_true(num_rhu(1 / 0.1) == 10);
    assert_true(num_rhu(1 / 1.0) == 1);
    assert_true(num_rhu(1 / 0.0001) == 10000);
    /* p = 0 or negative has no percentile */
    assert_int_equal(cube_percentile_trials(0.0, 0.5), -1);
    assert_int_equal(cube_percentile_trials(-0.1, 0.5), -1);
    assert_int_equal(cube_percentile_trials(NAN, 0.5), -1);
    /* astronomically small p saturates instead of overflowing */
    assert_int_equal(cube_percentile_trials(5e-324, 0.99), INT64_MAX);
}

/* ---- 8.4 percentiles ---- */

static void test_percentiles_8_4(void **state)
{
    (void)state;
    static const struct {
        double p;
        int64_t p50, p90, p99;
    } rows[] = {
        {1.0, 1, 1, 1}, {0.5, 1, 4, 7}, {0.1, 7, 22, 44}, {0.01, 69, 230, 459}, {0.0001, 6932, 23025, 46050},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(cube_percentile_trials(rows[i].p, 0.5), rows[i].p50);
        assert_int_equal(cube_percentile_trials(rows[i].p, 0.9), rows[i].p90);
        assert_int_equal(cube_percentile_trials(rows[i].p, 0.99), rows[i].p99);
    }
}

/* ---- 8.6 exact match ---- */

static void test_exact_8_6_cooldown(void **state)
{
    (void)state;
    const char *A = "스킬 재사용 대기시간 -2초";
    cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", A, A, A);
    expect_status(&r, VAL_OK);
    assert_true(r.has_method);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_false(r.has_target);
    assert_int_equal(r.table_level, 250);
    assert_rel(r.table_mass[0], 1.000001);
    assert_rel(r.table_mass[1], 0.999996);
    assert_rel(r.table_mass[2], 1.000001);
    assert_rel(r.probability, 1.160716762961651e-06);
    assert_rel(r.trials_exact, 861536.6228091934);
    assert_int_equal(r.trials, 861537);
    assert_int_equal(r.cost_per_cube, 50000000);
    assert_int_equal(r.expected_cost, 43076850000000LL);
    assert_int_equal(r.p50_trials, 597172);
    assert_int_equal(r.p90_trials, 1983761);
    assert_int_equal(r.p99_trials, 3967521);
    assert_int_equal(r.p50_cost, 597172LL * 50000000);
    assert_int_equal(r.p90_cost, 1983761LL * 50000000);
    assert_int_equal(r.p99_cost, 3967521LL * 50000000);
    assert_string_equal(r.reason, "");
    assert_true(r.has_grade);
    assert_string_equal(r.grade, "레전드리");

    /* normalised rates of the three rows and the raw-rate cross-check (C) */
    static const double norm_rates[3] = {0.04877995122004878, 0.009756039024156097, 0.0024389975610024394};
    uint32_t id;
    assert_true(ptable_find_option(g_both, A, strlen(A), &id));
    double raw = 1.0;
    for (int k = 1; k <= 3; k++) {
        const ptable_group_t *g = ptable_group(g_both, CUBE_BLACK, 250, part("모자"), GRADE_LEGENDARY, k);
        for (size_t i = 0; i < g->count; i++)
            if (g->rows[i].option == id) {
                assert_rel(g->rows[i].rate / cube_group_norm(g), norm_rates[k - 1]);
                raw *= g->rows[i].rate;
            }
    }
    assert_rel_tol(raw, 1.16071444152e-06, 1e-11);
    assert_rel_tol(1.0 / raw, 861538.345891916, 1e-12);
    assert_true(num_rhu(1.0 / raw) == 861538);
}

static void test_exact_8_6_wildcard(void **state)
{
    (void)state;
    const char *A = "스킬 재사용 대기시간 -2초", *J = "피격 시 5% 확률로 데미지의 40% 무시";
    cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", A, A, J);
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_rel(r.probability, 0.000618668245135705);
    assert_rel(r.trials_exact, 1616.3751863175873);
    assert_int_equal(r.trials, 1616);
    assert_int_equal(r.expected_cost, 80800000000LL);
    assert_int_equal(r.p50_trials, 1121);
    assert_int_equal(r.p90_trials, 3721);
    assert_int_equal(r.p99_trials, 7442);

    /* D1: (A, blank, unrecognised) counts "A on line k, anything elsewhere" once per position */
    static const double n[3] = {0.04877995122004878, 0.009756039024156097, 0.0024389975610024394};
    r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", A, "", "방어력 +6%");
    expect_status(&r, VAL_OK);
    assert_rel(r.probability, n[0] + n[1] + n[2]);
    r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", NULL, A, "null");
    expect_status(&r, VAL_OK);
    assert_rel(r.probability, n[0] + n[1] + n[2]);
    /* all wildcards: one arrangement of probability 1 (decision q) */
    r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", "방어력 +6%", "이동속도 +8", "");
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_true(r.probability == 1.0);
    assert_int_equal(r.trials, 1);
    assert_int_equal(r.p99_trials, 1);
    assert_int_equal(r.expected_cost, 50000000);
}

static void test_exact_8_6_two_texts_and_compound(void **state)
{
    (void)state;
    cube_result_t r = eval(g_both, CUBE_BLACK, "신발", 200, "레전드리", "올스탯 +9%", "올스탯 +9%", "INT +9%");
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_rel(r.probability, 0.0001535830328336205);
    assert_int_equal(r.trials, 6511);
    assert_int_equal(r.expected_cost, 292995000000LL);
    assert_rel(r.table_mass[0], 0.999998);
    assert_rel(r.table_mass[1], 0.999998);
    assert_rel(r.table_mass[2], 1.000003);

    r = eval(g_both, CUBE_BLACK, "엠블렘", 200, "레전드리", "몬스터 방어율 무시 +35%", "마력 +12%", "마력 +9%");
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_false(r.has_target);
    assert_rel(r.probability, 0.0001126555128483018);
    assert_int_equal(r.trials, 8877);
    assert_int_equal(r.expected_cost, 399465000000LL);
}

/* ---- 8.7 threshold on the shipped table ---- */

typedef struct {
    const char *part;
    int level;
    const char *l[3];
    stat_type_t target;
    int min_total;
    double p, inv;
    int64_t trials, p50, p90, p99, cost;
    int table_level;
} thr_case_t;

static const thr_case_t THR_CASES[] = {
    {"모자", 200, {"STR +12%", "STR +9%", "STR +9%"}, STAT_STR_PERCENT, 30, 0.0017942210544083922,
     557.3449255558589, 557, 386, 1283, 2565, 25065000000LL, 200},
    {"귀고리", 200, {"INT +12%", "INT +12%", "INT +9%"}, STAT_INT_PERCENT, 33, 0.0003374937403398453,
     2963.017918474672, 2963, 2054, 6822, 13643, 133335000000LL, 200},
    {"얼굴장식", 160, {"INT +12%", "INT +9%", "INT +9%"}, STAT_INT_PERCENT, 30, 0.002269243487331575,
     440.67549629762715, 441, 306, 1014, 2028, 18742500000LL, 160},
    {"상의", 250, {"INT +13%", "INT +10%", "올스탯 +7%"}, STAT_INT_PERCENT, 30, 0.0027438973541691843,
     364.44511981490894, 364, 253, 839, 1677, 18200000000LL, 250},
    {"무기", 200, {"보스 몬스터 데미지 +35%", "보스 몬스터 데미지 +30%", "보스 몬스터 데미지 +30%"}, STAT_BOSS_DAMAGE,
     95, 0.0009163487371543878, 1091.2875845776591, 1091, 757, 2512, 5024, 49095000000LL, 200},
    {"장갑", 200, {"크리티컬 데미지 +8%", "최대 HP +9%", "크리티컬 데미지 +8%"}, STAT_CRITICAL_DAMAGE, 16,
     0.0030134347481722166, 331.8472386390795, 332, 230, 763, 1526, 14940000000LL, 110},
    {"눈장식", 145, {"아이템 드롭률 +20%", "아이템 드롭률 +20%", "최대 MP +9%"}, STAT_ITEM_DROP, 40,
     0.0015293736629635951, 653.862443310431, 654, 453, 1505, 3009, 26160000000LL, 140},
    {"기계 심장", 80, {"INT +12%", "올스탯 +6%", "INT +9%"}, STAT_INT_PERCENT, 27, 0.009262234363782734,
     107.96530952727868, 108, 75, 248, 495, 4320000000LL, 100},
};
#define N_THR (sizeof THR_CASES / sizeof THR_CASES[0])

static void check_thr(const thr_case_t *c, const cube_result_t *r)
{
    expect_status(r, VAL_OK);
    assert_true(r->has_method);
    assert_int_equal(r->method, CUBE_METHOD_THRESHOLD);
    assert_true(r->has_target);
    assert_int_equal(r->target_stat, c->target);
    assert_int_equal(r->min_total, c->min_total);
    assert_int_equal(r->table_level, c->table_level);
    assert_rel(r->probability, c->p);
    assert_rel(r->trials_exact, c->inv);
    assert_int_equal(r->trials, c->trials);
    assert_int_equal(r->p50_trials, c->p50);
    assert_int_equal(r->p90_trials, c->p90);
    assert_int_equal(r->p99_trials, c->p99);
    assert_int_equal(r->expected_cost, c->cost);
    assert_int_equal(r->expected_cost, r->trials * r->cost_per_cube);
    assert_int_equal(r->p99_cost, r->p99_trials * r->cost_per_cube);
}

static void test_threshold_8_7(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_THR; i++) {
        const thr_case_t *c = &THR_CASES[i];
        /* the BLACK table alone and the default pair give the same answer */
        cube_result_t r = eval(g_black, CUBE_BLACK, c->part, c->level, "레전드리", c->l[0], c->l[1], c->l[2]);
        check_thr(c, &r);
        r = eval(g_both, CUBE_BLACK, c->part, c->level, "레전드리", c->l[0], c->l[1], c->l[2]);
        check_thr(c, &r);
    }
}

static void check_dist(const ptable_t *t, const char *partname, stat_type_t target, int line, const int *values,
                       const double *probs, size_t n)
{
    const ptable_group_t *g = ptable_group(t, CUBE_BLACK, 200, part(partname), GRADE_LEGENDARY, line);
    assert_non_null(g);
    int v[64];
    double q[64];
    size_t count = 0;
    assert_true(g->count <= 64);
    assert_int_equal(cube_line_dist(t, g, target, v, q, &count), 0);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i], values[i]);
        assert_rel(q[i], probs[i]);
    }
}

static void test_line_distributions_8_7(void **state)
{
    (void)state;
    const int h1v[] = {0, 9, 12}, h2v[] = {0, 6, 9, 12}, h3v[] = {0, 6, 9, 12};
    const double h1q[] = {0.7933131449080304, 0.08206707043517272, 0.12461978465679678};
    const double h2q[] = {0.8273923095692385, 0.061538246152984616, 0.09155736622946492, 0.019512078048312193};
    const double h3q[] = {0.8270401729598273, 0.07307692692307309, 0.09500490499509501, 0.004877995122004879};
    check_dist(g_black, "모자", STAT_STR_PERCENT, 1, h1v, h1q, 3);
    check_dist(g_black, "모자", STAT_STR_PERCENT, 2, h2v, h2q, 4);
    check_dist(g_black, "모자", STAT_STR_PERCENT, 3, h3v, h3q, 4);
    const int w1v[] = {0, 35, 40}, w2v[] = {0, 30, 35, 40}, w3v[] = {0, 30, 35, 40};
    const double w1q[] = {0.8536584146336584, 0.09756139024556097, 0.04878019512078048};
    const double w2q[] = {0.9149178298356593, 0.05581411162822326, 0.019512039024078047, 0.009756019512039023};
    const double w3q[] = {0.9264039558423738, 0.06627903976742387, 0.004878002926801756, 0.002439001463400878};
    check_dist(g_black, "무기", STAT_BOSS_DAMAGE, 1, w1v, w1q, 3);
    check_dist(g_black, "무기", STAT_BOSS_DAMAGE, 2, w2v, w2q, 4);
    check_dist(g_black, "무기", STAT_BOSS_DAMAGE, 3, w3v, w3q, 4);
}

/* ---- statuses ---- */

static void test_not_applicable(void **state)
{
    (void)state;
    static const char *const blank_grades[] = {NULL, "", "  ", "null", "NULL "};
    for (size_t i = 0; i < sizeof blank_grades / sizeof blank_grades[0]; i++) {
        cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 200, blank_grades[i], "STR +12%", "STR +9%", "STR +9%");
        expect_status(&r, VAL_NOT_APPLICABLE);
        assert_false(r.has_grade);
        assert_false(r.has_method);
        assert_string_equal(r.reason, "no potential");
    }
    /* all lines blank: not applicable, grade still shown (A8), even an invalid one (step 1 first) */
    cube_result_t r = eval(g_both, CUBE_ADDITIONAL, "모자", 200, "레전드리", NULL, "", " null ");
    expect_status(&r, VAL_NOT_APPLICABLE);
    assert_true(r.has_grade);
    assert_string_equal(r.grade, "레전드리");
    assert_false(r.has_method);
    assert_int_equal(r.type, CUBE_ADDITIONAL);
    r = eval(g_both, CUBE_BLACK, "모자", 200, "HERO", "  ", NULL, NULL);
    expect_status(&r, VAL_NOT_APPLICABLE);
    assert_string_equal(r.grade, "HERO");
}

static void test_no_table(void **state)
{
    (void)state;
    /* BLACK alone: every ADDITIONAL lookup → NO_TABLE, method still reported (A3) */
    cube_result_t r = eval(g_black, CUBE_ADDITIONAL, "귀고리", 200, "레전드리", "INT +12%", "INT +12%", "INT +9%");
    expect_status(&r, VAL_NO_TABLE);
    assert_true(r.has_method);
    assert_int_equal(r.method, CUBE_METHOD_THRESHOLD);
    assert_true(r.has_target);
    assert_int_equal(r.target_stat, STAT_INT_PERCENT);
    assert_int_equal(r.min_total, 33);
    assert_non_null(strstr(r.reason, "ADDITIONAL"));
    assert_non_null(strstr(r.reason, "귀고리"));
    assert_non_null(strstr(r.reason, "레전드리"));
    assert_int_equal(r.trials, 0);
    assert_int_equal(r.table_level, 0); /* A4 */
    assert_true(r.table_mass[0] == 0);
    /* no table part (e.g. a badge) */
    r = eval(g_both, CUBE_BLACK, NULL, 200, "레전드리", "STR +12%", "STR +9%", "STR +9%");
    expect_status(&r, VAL_NO_TABLE);
    assert_true(r.has_method);
    /* no table at all */
    r = eval(NULL, CUBE_BLACK, "모자", 200, "레전드리", "STR +12%", "STR +9%", "STR +9%");
    expect_status(&r, VAL_NO_TABLE);
    /* with both tables the additional cube is priced */
    r = eval(g_both, CUBE_ADDITIONAL, "모자", 250, "레전드리", "스킬 재사용 대기시간 -1초", "INT +7%", "INT +7%");
    expect_status(&r, VAL_OK);
    assert_int_equal(r.table_level, 201);
    assert_int_equal(r.cost_per_cube, 65000000);
}

static void test_unreachable(void **state)
{
    (void)state;
    /* exact match: a recognised line absent from its groups → p = 0 (compound forces exact) */
    cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 200, "레전드리", "STR +99%", "공격력 +12%", "");
    expect_status(&r, VAL_UNREACHABLE);
    assert_true(r.has_method); /* A3 */
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_true(r.probability == 0);
    assert_int_equal(r.trials, 0);
    assert_int_equal(r.table_level, 0);
    /* threshold above the best possible roll (3 x 12) */
    r = eval(g_both, CUBE_BLACK, "모자", 200, "레전드리", "STR +13%", "STR +13%", "STR +13%");
    expect_status(&r, VAL_UNREACHABLE);
    assert_int_equal(r.method, CUBE_METHOD_THRESHOLD);
    assert_int_equal(r.min_total, 39);
    /* exactly the best possible roll is reachable */
    r = eval(g_both, CUBE_BLACK, "모자", 200, "레전드리", "STR +12%", "STR +12%", "STR +12%");
    expect_status(&r, VAL_OK);
}

static void test_hostile_values(void **state)
{
    (void)state;
    cube_result_t r = eval(g_both, CUBE_BLACK, "모자", 200, "레전드리", "STR +999999999%", NULL, NULL);
    expect_status(&r, VAL_UNREACHABLE);
    assert_int_equal(r.min_total, 999999999);
    r = eval(g_both, CUBE_BLACK, "모자", 200, "레전드리", "STR +99999999999999999999%", "STR +99999999999999999999%",
             "STR +99999999999999999999%");
    expect_status(&r, VAL_UNREACHABLE);
    assert_int_equal(r.min_total, INT_MAX);
    r = eval(g_both, CUBE_ADDITIONAL, "모자", 200, "레전드리", "최대 HP +2000000000", NULL, NULL);
    expect_status(&r, VAL_UNREACHABLE);
    /* a huge unrecognised line is a wildcard */
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", big, "스킬 재사용 대기시간 -2초", big);
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    free(big);
    /* a positive cooldown target meets the table's negative cooldown rows: TABLE_ERROR */
    r = eval(g_both, CUBE_BLACK, "모자", 250, "레전드리", "스킬 재사용 대기시간 +2초", NULL, NULL);
    expect_status(&r, VAL_TABLE_ERROR);
    assert_true(r.has_method);
    assert_int_equal(r.target_stat, STAT_COOLDOWN_REDUCTION);
}

/* ---- synthetic tables: all convolution paths agree bit for bit ---- */

#define HDR "option,rate,slot,potential_option_grade,base_equipment_level,item_equipment_slot,cube_type\n"

static ptable_t *scaled_table(long s)
{
    char csv[2048];
    snprintf(csv, sizeof csv,
             HDR "STR +%ld%%,0.3,1,레어,100,모자,BLACK\n"
                 "DEX +%ld%%,0.5,1,레어,100,모자,BLACK\n"
                 "STR +%ld%%,0.2,1,레어,100,모자,BLACK\n"
                 "STR +%ld%%,0.25,2,레어,100,모자,BLACK\n"
                 "STR +%ld%%,0.25,2,레어,100,모자,BLACK\n"
                 "올스탯 +%ld%%,0.1,2,레어,100,모자,BLACK\n"
                 "LUK +%ld%%,0.4,2,레어,100,모자,BLACK\n"
                 "STR +%ld%%,0.1,3,레어,100,모자,BLACK\n"
                 "STR +%ld%%,0.6,3,레어,100,모자,BLACK\n"
                 "방어력 +%ld%%,0.2,3,레어,100,모자,BLACK\n"
                 "STR +%ld%%,0.1,3,레어,100,모자,BLACK\n",
             s, s, 2 * s, 2 * s, s, s, 3 * s, 3 * s, s, s, 2 * s);
    return load_csv_text(csv);
}

static void test_scaled_paths_agree(void **state)
{
    (void)state;
    /* Brute force for scale 1 at T = 5 (STR_PERCENT):
     * line 1 {0:.5, 1:.3, 2:.2}; line 2 {0:.4, 1:.35, 2:.25}; line 3 {0:.2, 1:.6, 2:.1, 3:.1}. */
    const int v1[] = {0, 1, 2}, v2[] = {0, 1, 2}, v3[] = {0, 1, 2, 3};
    const double q1[] = {.5, .3, .2}, q2[] = {.4, .35, .25}, q3[] = {.2, .6, .1, .1};
    double want = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 4; c++)
                if (v1[a] + v2[b] + v3[c] >= 5)
                    want += q1[a] * q2[b] * q3[c];

    static const long scales[] = {1, 1000, 100000}; /* stack dense, heap dense, sparse */
    double p[3];
    for (int i = 0; i < 3; i++) {
        ptable_t *t = scaled_table(scales[i]);
        char l1[64], l2[64], l3[64];
        snprintf(l1, sizeof l1, "STR +%ld%%", 2 * scales[i]);
        snprintf(l2, sizeof l2, "STR +%ld%%", 2 * scales[i]);
        snprintf(l3, sizeof l3, "STR +%ld%%", scales[i]);
        cube_result_t r = eval(t, CUBE_BLACK, "모자", 100, "레어", l1, l2, l3);
        expect_status(&r, VAL_OK);
        assert_int_equal(r.min_total, 5 * scales[i]);
        p[i] = r.probability;
        ptable_free(t);
    }
    assert_rel(p[0], want);
    assert_true(p[1] == p[0]);
    assert_true(p[2] == p[0]);
}

/* A synthetic table whose sparse convolution would exceed its bound: TABLE_ERROR, not a hang. */
static void test_sparse_bound(void **state)
{
    (void)state;
    size_t cap = 2300 * 64 + 256;
    char *csv = malloc(cap);
    size_t n = (size_t)snprintf(csv, cap, HDR);
    for (int line = 1; line <= 2; line++)
        for (int i = 0; i < 1100; i++)
            n += (size_t)snprintf(csv + n, cap - n, "STR +%d%%,0.000909,%d,에픽,150,신발,BLACK\n", 70000 + i, line);
    n += (size_t)snprintf(csv + n, cap - n, "STR +1%%,1,3,에픽,150,신발,BLACK\n");
    ptable_t *t = load_csv_text(csv);
    free(csv);
    cube_result_t r = eval(t, CUBE_BLACK, "신발", 150, "에픽", "STR +70500%", "STR +70500%", "STR +1%");
    expect_status(&r, VAL_TABLE_ERROR);
    assert_true(r.has_method);
    assert_int_equal(r.min_total, 141001);
    /* the many-distinct-values path of cube_line_dist */
    const ptable_group_t *g = ptable_group(t, CUBE_BLACK, 150, part("신발"), GRADE_EPIC, 1);
    int *v = malloc(g->count * sizeof *v);
    double *q = malloc(g->count * sizeof *q);
    size_t count = 0;
    assert_int_equal(cube_line_dist(t, g, STAT_STR_PERCENT, v, q, &count), 0);
    assert_int_equal(count, 1100);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(v[i], 70000 + (int)i);
        assert_true(q[i] == 0.000909 / g->mass);
    }
    free(v);
    free(q);
    ptable_free(t);
}

/* Both cube_line_dist paths accumulate in file order: compare with a naive computation. */
static void test_line_dist_many_values(void **state)
{
    (void)state;
    char csv[8192];
    size_t n = (size_t)snprintf(csv, sizeof csv, HDR);
    /* 60 rows, 40 distinct values (repeats interleaved), plus unrelated rows */
    for (int i = 0; i < 60; i++) {
        int val = (i * 7) % 40;
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%s +%d%%,0.0%02d,1,유니크,120,벨트,BLACK\n",
                              i % 5 == 0 ? "DEX" : "STR", val, 10 + i % 37);
    }
    ptable_t *t = load_csv_text(csv);
    const ptable_group_t *g = ptable_group(t, CUBE_BLACK, 120, part("벨트"), GRADE_UNIQUE, 1);
    assert_non_null(g);
    assert_int_equal(g->count, 60);
    int v[60];
    double q[60];
    size_t count = 0;
    assert_int_equal(cube_line_dist(t, g, STAT_STR_PERCENT, v, q, &count), 0);
    double norm = cube_group_norm(g);
    /* naive: for each value ascending, add rate / norm over rows in file order */
    size_t k = 0;
    for (int val = 0; val < 40; val++) {
        double s = 0;
        bool any = false;
        for (size_t i = 0; i < g->count; i++) {
            const stat_line_t *st = ptable_option_stat(t, g->rows[i].option);
            if (stat_contribution(st, STAT_STR_PERCENT) == val) {
                s += g->rows[i].rate / norm;
                any = true;
            }
        }
        if (!any)
            continue;
        assert_true(k < count);
        assert_int_equal(v[k], val);
        assert_true(q[k] == s);
        k++;
    }
    assert_int_equal(k, count);
    ptable_free(t);
}

static void test_exact_cap_and_duplicates(void **state)
{
    (void)state;
    /* "STR -1%" has a negative best value: inference invalid → EXACT_MATCH */
    ptable_t *t = load_csv_text(HDR "A +1%,0.1,1,레어,100,모자,BLACK\n"
                                    "STR -1%,0.6,1,레어,100,모자,BLACK\n"
                                    "STR -1%,0.3,1,레어,100,모자,BLACK\n"
                                    "STR -1%,0.9,2,레어,100,모자,BLACK\n"
                                    "B,0.1,2,레어,100,모자,BLACK\n"
                                    "STR -1%,0.9,3,레어,100,모자,BLACK\n"
                                    "B,0.1,3,레어,100,모자,BLACK");
    /* compound and 공격력 +1 absent: UNREACHABLE */
    cube_result_t r = eval(t, CUBE_BLACK, "모자", 100, "레어", "STR -1%", "공격력 +1", "공격력 +1");
    expect_status(&r, VAL_UNREACHABLE);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    /* duplicate rows summed with Kahan (decision o, C3): one arrangement r1 r2 r3 */
    r = eval(t, CUBE_BLACK, "모자", 100, "레어", "STR -1%", "STR -1%", "STR -1%");
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    kahan_t k = KAHAN_INIT;
    kahan_add(&k, 0.6);
    kahan_add(&k, 0.3);
    assert_true(r.probability == k.sum * 0.9 * 0.9);
    /* (STR -1%, wildcard, wildcard): P = 0.9 + 0.9 + 0.9 > 1 → capped at 1 (decision q) */
    r = eval(t, CUBE_BLACK, "모자", 100, "레어", "STR -1%", "방어력 +1%", "");
    expect_status(&r, VAL_OK);
    assert_int_equal(r.method, CUBE_METHOD_EXACT_MATCH);
    assert_true(r.probability == 1.0);
    assert_int_equal(r.trials, 1);
    assert_int_equal(r.p50_trials, 1);
    ptable_free(t);
}

/* ---- properties ---- */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned rng_below(uint64_t *s, unsigned n) { return (unsigned)(rng_next(s) % n); }

static void test_property_random_items(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    size_t ok = 0, unreachable = 0, no_table = 0, thr = 0, exact = 0;
    for (int it = 0; it < 3000; it++) {
        cube_type_t type = (cube_type_t)rng_below(&seed, CUBE__COUNT);
        int p = (int)rng_below(&seed, PTABLE_PART_COUNT);
        grade_t grade = (grade_t)rng_below(&seed, GRADE__COUNT);
        int level = (int)rng_below(&seed, 301);
        int tl;
        const char *lines[3] = {NULL, NULL, NULL};
        if (ptable_select_level(g_both, type, p, grade, level, &tl) == 0) {
            for (int k = 0; k < 3; k++) {
                unsigned pick = rng_below(&seed, 10);
                if (pick == 0)
                    continue; /* blank line */
                int line = pick < 8 ? k + 1 : (int)rng_below(&seed, 3) + 1;
                const ptable_group_t *g = ptable_group(g_both, type, tl, p, grade, line);
                assert_non_null(g);
                lines[k] = ptable_option_text(g_both, g->rows[rng_below(&seed, (unsigned)g->count)].option);
            }
        } else {
            lines[0] = "STR +3%";
        }
        cube_input_t in;
        memset(&in, 0, sizeof in);
        in.type = type;
        in.part = p;
        in.item_level = level;
        in.grade = txt(grade_name(grade));
        for (int k = 0; k < 3; k++)
            in.lines[k] = txt(lines[k]);
        cube_result_t r;
        cube_evaluate(g_both, &in, &r);
        switch (r.status) {
        case VAL_OK:
            ok++;
            assert_true(r.probability > 0 && r.probability <= 1);
            assert_true(r.trials_exact >= 1);
            assert_true(r.trials >= 1);
            assert_true(r.p50_trials >= 1 && r.p50_trials <= r.p90_trials && r.p90_trials <= r.p99_trials);
            assert_int_equal(r.cost_per_cube, cube_cost_per_use(type, grade, level));
            assert_int_equal(r.expected_cost, r.trials * r.cost_per_cube);
            assert_int_equal(r.table_level, tl);
            for (int k = 0; k < 3; k++)
                assert_true(r.table_mass[k] > 0);
            if (r.method == CUBE_METHOD_THRESHOLD)
                thr++;
            else
                exact++;
            break;
        case VAL_UNREACHABLE:
            unreachable++;
            assert_true(r.has_method);
            break;
        case VAL_NOT_APPLICABLE:
            assert_true(lines[0] == NULL && lines[1] == NULL && lines[2] == NULL);
            break;
        case VAL_NO_TABLE:
            no_table++;
            assert_int_equal(ptable_select_level(g_both, type, p, grade, level, &tl), -1);
            break;
        default:
            print_error("unexpected status %s (%s)\n", val_status_name(r.status), r.reason);
            fail();
        }
    }
    assert_true(ok > 1000);
    assert_true(thr > 100 && exact > 100);
    (void)unreachable;
    (void)no_table;
}

/* On real groups: p(T) never increases with T (up to rounding) and trials never decrease. */
static void test_property_monotone(void **state)
{
    (void)state;
    uint64_t seed = 777;
    static const stat_type_t targets[] = {STAT_STR_PERCENT, STAT_INT_PERCENT,    STAT_LUK_PERCENT, STAT_BOSS_DAMAGE,
                                          STAT_IGNORE_DEFENSE, STAT_CRITICAL_DAMAGE, STAT_ITEM_DROP,   STAT_HP,
                                          STAT_ATTACK_POWER_PERCENT, STAT_MAGIC_POWER, STAT_LEVEL_INT, STAT_DAMAGE};
    size_t checked = 0;
    for (int it = 0; it < 300; it++) {
        cube_type_t type = (cube_type_t)rng_below(&seed, CUBE__COUNT);
        int p = (int)rng_below(&seed, PTABLE_PART_COUNT);
        grade_t grade = (grade_t)rng_below(&seed, GRADE__COUNT);
        int tl;
        if (ptable_select_level(g_both, type, p, grade, (int)rng_below(&seed, 301), &tl) != 0)
            continue;
        stat_type_t target = targets[rng_below(&seed, sizeof targets / sizeof targets[0])];
        int v[3][64];
        double q[3][64];
        cube_dist_t d[3];
        int maxsum = 0;
        for (int k = 0; k < 3; k++) {
            const ptable_group_t *g = ptable_group(g_both, type, tl, p, grade, k + 1);
            assert_true(g->count <= 64);
            size_t count;
            assert_int_equal(cube_line_dist(g_both, g, target, v[k], q[k], &count), 0);
            d[k].values = v[k];
            d[k].probs = q[k];
            d[k].count = count;
            maxsum += v[k][count - 1];
        }
        double *acc = malloc(((size_t)maxsum + 2) * sizeof *acc);
        double prev_p = 2.0;
        double prev_trials = 0;
        for (int T = 0; T <= maxsum + 1; T++) {
            assert_int_equal(cube_convolve(d, 3, T, acc), 0);
            double pt = acc[T];
            assert_true(pt >= 0 && pt <= 1 + 1e-12);
            assert_true(pt <= prev_p * (1 + 1e-12));
            if (pt > 0) {
                double trials = num_rhu(1 / pt);
                assert_true(trials >= prev_trials);
                prev_trials = trials;
            }
            prev_p = pt;
        }
        assert_true(acc[maxsum + 1] == 0.0);
        free(acc);
        checked++;
    }
    assert_true(checked > 100);
}

static void test_property_brute_force(void **state)
{
    (void)state;
    uint64_t seed = 4242;
    for (int it = 0; it < 200; it++) {
        size_t nlines = 1 + rng_below(&seed, 3);
        int v[3][4];
        double q[3][4];
        cube_dist_t d[3];
        for (size_t k = 0; k < nlines; k++) {
            size_t n = 1 + rng_below(&seed, 4);
            /* distinct ascending values in 0..15 */
            int cur = (int)rng_below(&seed, 4);
            double total = 0;
            for (size_t j = 0; j < n; j++) {
                v[k][j] = cur;
                cur += 1 + (int)rng_below(&seed, 5);
                q[k][j] = 0.05 + (double)rng_below(&seed, 1000) / 1000.0;
                total += q[k][j];
            }
            for (size_t j = 0; j < n; j++)
                q[k][j] /= total;
            d[k].values = v[k];
            d[k].probs = q[k];
            d[k].count = n;
        }
        int T = (int)rng_below(&seed, 41);
        double acc[41], want[41];
        assert_int_equal(cube_convolve(d, nlines, T, acc), 0);
        memset(want, 0, sizeof want);
        size_t n0 = d[0].count, n1 = nlines > 1 ? d[1].count : 1, n2 = nlines > 2 ? d[2].count : 1;
        for (size_t a = 0; a < n0; a++)
            for (size_t b = 0; b < n1; b++)
                for (size_t c = 0; c < n2; c++) {
                    int s = v[0][a];
                    double pr = q[0][a];
                    if (nlines > 1) {
                        s += v[1][b];
                        pr *= q[1][b];
                    }
                    if (nlines > 2) {
                        s += v[2][c];
                        pr *= q[2][c];
                    }
                    want[s < T ? s : T] += pr;
                }
        double sum = 0;
        for (int i = 0; i <= T; i++) {
            assert_true(acc[i] >= 0);
            assert_true(fabs(acc[i] - want[i]) <= 1e-12 * (fabs(want[i]) + 1e-300) + 1e-15);
            sum += acc[i];
        }
        assert_true(fabs(sum - 1.0) <= 1e-9);
    }
}

/* ---- threads: evaluation is reentrant on a finished table ---- */

typedef struct {
    int bad;
} thread_ctx_t;

static void *thread_main(void *arg)
{
    thread_ctx_t *ctx = arg;
    for (int rep = 0; rep < 50; rep++) {
        for (size_t i = 0; i < N_THR; i++) {
            const thr_case_t *c = &THR_CASES[i];
            cube_input_t in;
            memset(&in, 0, sizeof in);
            in.type = CUBE_BLACK;
            in.part = ptable_part_index(c->part, strlen(c->part));
            in.item_level = c->level;
            in.grade = txt("레전드리");
            for (int k = 0; k < 3; k++)
                in.lines[k] = txt(c->l[k]);
            cube_result_t r;
            cube_evaluate(g_both, &in, &r);
            if (r.status != VAL_OK || r.trials != c->trials || fabs(r.probability - c->p) > 1e-12 * c->p)
                ctx->bad++;
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { NT = 4 };
    pthread_t th[NT];
    thread_ctx_t ctx[NT];
    memset(ctx, 0, sizeof ctx);
    for (int i = 0; i < NT; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &ctx[i]), 0);
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_costs_8_2),
        cmocka_unit_test(test_invalid_grades),
        cmocka_unit_test(test_convolution_8_3),
        cmocka_unit_test(test_tails_8_3),
        cmocka_unit_test(test_percentiles_8_4),
        cmocka_unit_test(test_exact_8_6_cooldown),
        cmocka_unit_test(test_exact_8_6_wildcard),
        cmocka_unit_test(test_exact_8_6_two_texts_and_compound),
        cmocka_unit_test(test_threshold_8_7),
        cmocka_unit_test(test_line_distributions_8_7),
        cmocka_unit_test(test_not_applicable),
        cmocka_unit_test(test_no_table),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_hostile_values),
        cmocka_unit_test(test_scaled_paths_agree),
        cmocka_unit_test(test_sparse_bound),
        cmocka_unit_test(test_line_dist_many_values),
        cmocka_unit_test(test_exact_cap_and_duplicates),
        cmocka_unit_test(test_property_random_items),
        cmocka_unit_test(test_property_monotone),
        cmocka_unit_test(test_property_brute_force),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
