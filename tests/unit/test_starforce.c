/*
 * test_starforce.c - starforce chain, 놀장 model, item evaluation and Monte Carlo percentiles
 * (valuation §4, goldens 8.8 and 8.9, §10.B4, §10.E1/E2/E6, rules f, t, u).
 */
#include "testutil.h"

#include "base/num.h"
#include "domain/starforce.h"

static const sf_options_t OPT_ITEM = {.star_catch = true, .sunday = true, .discount = true, .prevention = false};
static const sf_options_t OPT_PREVENT = {.star_catch = true, .sunday = true, .discount = true, .prevention = true};

static double expected_cost(int level, int from, int to, const sf_options_t *opt)
{
    double e = -1;
    assert_int_equal(sf_expected_cost(level, from, to, opt, &e), 0);
    return e;
}

static double expected_destroys(int level, int from, int to, const sf_options_t *opt)
{
    double e = -1;
    assert_int_equal(sf_expected_destroys(level, from, to, opt, &e), 0);
    return e;
}

/* Equality of a double that must be an exact integer (money after rounding). */
#define assert_money(got, want) assert_true((double)(got) == (double)(want))
/* Equality to the 2-decimal display of the spec. */
#define assert_2dp(got, want) assert_true(fabs((got) - (want)) < 1e-9)

/* ---- §4.1 max star --------------------------------------------------------------------------- */

static void test_max_star_boundaries(void **state)
{
    (void)state;
    assert_int_equal(sf_max_star(-5), 5);
    assert_int_equal(sf_max_star(0), 5);
    assert_int_equal(sf_max_star(94), 5);
    assert_int_equal(sf_max_star(95), 8);
    assert_int_equal(sf_max_star(107), 8);
    assert_int_equal(sf_max_star(108), 10);
    assert_int_equal(sf_max_star(117), 10);
    assert_int_equal(sf_max_star(118), 15);
    assert_int_equal(sf_max_star(127), 15);
    assert_int_equal(sf_max_star(128), 20);
    assert_int_equal(sf_max_star(137), 20);
    assert_int_equal(sf_max_star(138), 30);
    assert_int_equal(sf_max_star(300), 30);
}

/* ---- §4.2 raw cost, §4.3 stage table (8.8) -------------------------------------------------- */

static void test_raw_cost_l200(void **state)
{
    (void)state;
    /* s0 is exact: 1000 + 8,000,000 / 36. The others are given to ~11 significant digits. */
    assert_rel(sf_raw_cost(200, 0), 1000.0 + 8000000.0 / 36.0);
    assert_rel_tol(sf_raw_cost(200, 0), 223222.2222, 1e-10);
    assert_rel_tol(sf_raw_cost(200, 10), 9083682.4099, 1e-11);
    assert_rel_tol(sf_raw_cost(200, 15), 71316502.1452, 1e-11);
    assert_rel_tol(sf_raw_cost(200, 22), 189988552.7439, 1e-11);
    /* §4.2 literally, bit for bit: int64 L³, multiply first, then divide. The other grouping
     * L3 · (pow / divisor) differs in the last bit for thousands of (L, s) pairs. */
    static const double divisor[30] = {36,  36,  36,  36,  36,  36,  36,  36,  36,  36,  571, 314, 214, 157, 107,
                                       200, 200, 150, 70,  45,  200, 125, 200, 200, 200, 200, 200, 200, 200, 200};
    for (int L = 0; L <= 300; L++) {
        int64_t l3 = (int64_t)L * L * L;
        for (int s = 0; s < 30; s++) {
            double want = s <= 9 ? 1000.0 + (double)(l3 * (s + 1)) / 36.0
                                 : 1000.0 + (double)l3 * pow(s + 1, 2.7) / divisor[s];
            if (sf_raw_cost(L, s) != want) {
                print_error("L%d s%d: got %.17g want %.17g\n", L, s, sf_raw_cost(L, s), want);
                fail();
            }
        }
    }
    assert_true(isnan(sf_raw_cost(200, -1)));
    assert_true(isnan(sf_raw_cost(200, 30)));
}

typedef struct {
    double p, m, d, cost;
} stage_row_t;

/* 8.8 L200 stage table, star catch + Sunday + discount. */
static const stage_row_t L200_STAGES[30] = {
    {.9975, .0025, 0, 156260},          {.945, .055, 0, 311810},
    {.8925, .1075, 0, 467370},          {.8925, .1075, 0, 622920},
    {.84, .16, 0, 778480},              {.7875, .2125, 0, 934030},
    {.735, .265, 0, 1089590},           {.6825, .3175, 0, 1245140},
    {.63, .37, 0, 1400700},             {.5775, .4225, 0, 1556260},
    {.525, .475, 0, 6358580},           {.4725, .5275, 0, 14624080},
    {.42, .58, 0, 26633770},            {.3675, .6325, 0, 44344620},
    {.315, .685, 0, 78388890},          {.315, .670615, .014385, 49921550},
    {.315, .670615, .014385, 58799720}, {.1575, .79532, .04718, 91482040},
    {.1575, .79532, .04718, 226843350}, {.1575, .783525, .058975, 405281940},
    {.315, .613075, .071925, 104028670}, {.1575, .754037, .088462, 188721280},
    {.1575, .674, .1685, 132991990},    {.105, .716, .179, 149186810},
    {.105, .716, .179, 166570420},      {.105, .716, .179, 185177290},
    {.0735, .7412, .1853, 205041460},   {.0525, .758, .1895, 226196590},
    {.0315, .7748, .1937, 248675990},   {.0105, .7916, .1979, 272512570},
};

/* §4.1 success and destroy columns for 15..29 (bit-exact renormalisation check). */
static const double L200_BASE_SUCCESS[15] = {0.30, 0.30, 0.15, 0.15, 0.15, 0.30, 0.15, 0.15,
                                             0.10, 0.10, 0.10, 0.07, 0.05, 0.03, 0.01};
static const double L200_BASE_DESTROY[15] = {0.021, 0.021, 0.068, 0.068, 0.085, 0.105, 0.1275, 0.17,
                                             0.18,  0.18,  0.18,  0.186, 0.19,  0.194, 0.198};

/* Shown to 6 decimals: the true value is within half a unit of the last digit (a hair more
 * for the exact ties like .0884625). */
#define SIX_DP_TOL 5.0000001e-7

static void test_stage_table_l200(void **state)
{
    (void)state;
    const sf_options_t opt = {.star_catch = true, .sunday = true, .discount = true, .prevention = false};
    for (int s = 0; s < 30; s++) {
        sf_stage_t st;
        sf_stage(200, s, &opt, &st);
        const stage_row_t *w = &L200_STAGES[s];
        if (fabs(st.p - w->p) > SIX_DP_TOL || fabs(st.m - w->m) > SIX_DP_TOL || fabs(st.d - w->d) > SIX_DP_TOL ||
            st.cost != w->cost) {
            print_error("star %d: got p %.9f m %.9f d %.9f cost %.1f\n", s, st.p, st.m, st.d, st.cost);
            fail();
        }
        /* The stage is a distribution. */
        assert_rel(st.p + st.m + st.d, 1.0);
    }
    /* Prevention costs for 15..17 (and d = 0 there). */
    const double prevention_cost[3] = {149764650, 176399170, 274446130};
    for (int s = 15; s <= 17; s++) {
        sf_stage_t st;
        sf_stage(200, s, &OPT_PREVENT, &st);
        assert_money(st.cost, prevention_cost[s - 15]);
        assert_true(st.d == 0);
        assert_rel(st.p, 0.3 * 1.05 * (s == 17 ? 0.5 : 1.0));
    }
    /* Step 3 literally, bit for bit: m = rest·(m/(m+d)), d = rest·(d/(m+d)) with the old m, d. */
    for (int s = 15; s < 30; s++) {
        sf_stage_t st;
        sf_stage(200, s, &opt, &st);
        double p = L200_BASE_SUCCESS[s - 15], d = L200_BASE_DESTROY[s - 15];
        if (s <= 21)
            d = d * 0.7;
        double m = 1 - p - d;
        double pc = p * 1.05, rest = 1 - pc;
        assert_true(st.p == pc);
        assert_true(st.m == rest * (m / (m + d)));
        assert_true(st.d == rest * (d / (m + d)));
    }
    /* Prevention outside 15..17 changes nothing. */
    sf_stage_t a, b;
    sf_stage(200, 18, &OPT_ITEM, &a);
    sf_stage(200, 18, &OPT_PREVENT, &b);
    assert_true(a.p == b.p && a.m == b.m && a.d == b.d && a.cost == b.cost);
}

static void test_stage_without_options(void **state)
{
    (void)state;
    const sf_options_t none = {0};
    sf_stage_t st;
    sf_stage(200, 21, &none, &st);
    assert_true(st.p == 0.15);
    assert_true(st.d == 0.1275);
    assert_money(st.cost, num_round10(sf_raw_cost(200, 21)));
    /* Sunday only on 15..21. */
    const sf_options_t sunday = {.sunday = true};
    sf_stage(200, 22, &sunday, &st);
    assert_true(st.d == 0.17);
    sf_stage(200, 15, &sunday, &st);
    assert_rel(st.d, 0.021 * 0.7);
    /* NULL options = all off. */
    sf_stage_t n;
    sf_stage(200, 21, NULL, &n);
    sf_stage(200, 21, &none, &st);
    assert_true(n.p == st.p && n.m == st.m && n.d == st.d && n.cost == st.cost);
    /* No table row: a stage that never moves. */
    sf_stage(200, 30, &OPT_ITEM, &st);
    assert_true(st.p == 0 && st.d == 0);
}

/* ---- §4.4 / 8.8 item table ------------------------------------------------------------------ */

typedef struct {
    int level, target;
    int64_t cost, displayed, with_rhu, with_displayed;
    double destroys_without, destroys_with;
} item_golden_t;

static const item_golden_t ITEM_GOLDENS[] = {
    {100, 8, 896859, 896900, 896859, 896900, 0.00, 0.00},
    {110, 10, 2011663, 2011700, 2011663, 2011700, 0.00, 0.00},
    {120, 15, 105430694, 105430700, 105430694, 105430700, 0.00, 0.00},
    {130, 20, 2076797235, 2076797200, 2840528986, 2840529000, 1.54, 0.79},
    {140, 18, 586230664, 586230700, 1120266029, 1120266000, 0.42, 0.00},
    {140, 21, 3295078972, 3295079000, 4466757026, 4466757000, 2.12, 1.19},
    {140, 22, 5546189902, 5546189900, 7375960464, 7375960500, 3.87, 2.43},
    {145, 22, 6161888370, 6161888400, 8194785603, 8194785600, 3.87, 2.43},
    {150, 22, 6821547153, 6821547200, 9072073892, 9072073900, 3.87, 2.43},
    {160, 22, 8278809763, 8278809800, 11010105443, 11010105400, 3.87, 2.43},
    {200, 17, 880869295, 880869300, 1523481730, 1523481700, 0.09, 0.00},
    {200, 22, 16169451106, 16169451100, 21503968049, 21503968000, 3.87, 2.43},
    {200, 25, 255671911037, 255671911000, 336449376576, 336449376600, 72.72, 50.88},
    {250, 22, 31580860664, 31580860700, 41999793477, 41999793500, 3.87, 2.43},
    {80, 5, 172244, 172200, 172244, 172200, 0.00, 0.00},
    {75, 5, 142600, 142600, 142600, 142600, 0.00, 0.00},
};

static void test_item_goldens(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ITEM_GOLDENS / sizeof ITEM_GOLDENS[0]; i++) {
        const item_golden_t *g = &ITEM_GOLDENS[i];
        /* Through the chain directly... */
        assert_money(num_rhu(expected_cost(g->level, 0, g->target, &OPT_ITEM)), g->cost);
        assert_money(num_rhu(expected_cost(g->level, 0, g->target, &OPT_PREVENT)), g->with_rhu);
        assert_2dp(num_rhu_k(expected_destroys(g->level, 0, g->target, &OPT_ITEM), 2), g->destroys_without);
        assert_2dp(num_rhu_k(expected_destroys(g->level, 0, g->target, &OPT_PREVENT), 2), g->destroys_with);
        /* ...and through the item evaluation (the star count equals the target here). */
        sf_item_result_t r;
        sf_evaluate_item(g->level, g->target, false, &r);
        if (r.status != VAL_OK || r.target_star != g->target || r.is_noljang || r.cost != g->cost ||
            r.cost_without != g->displayed || r.cost_with != g->with_displayed) {
            print_error("L%d 0->%d: status %d target %d cost %lld shown %lld with %lld\n", g->level, g->target,
                           (int)r.status, r.target_star, (long long)r.cost, (long long)r.cost_without,
                           (long long)r.cost_with);
            fail();
        }
        assert_2dp(r.destroys_without, g->destroys_without);
        assert_2dp(r.destroys_with, g->destroys_with);
    }
}

/* E1: the CLI's --from uses E(from → T). */
static void test_from_15_to_22(void **state)
{
    (void)state;
    double e = expected_cost(200, 15, 22, &OPT_ITEM);
    assert_money(num_rhu(e), 15681410075LL);
    assert_money(num_round100(num_rhu(e)), 15681410100LL);
    assert_2dp(num_rhu_k(expected_destroys(200, 15, 22, &OPT_ITEM), 2), 3.87);
    /* Starting above 12 is cheaper than starting at 0 but still pays for the restarts at 12. */
    assert_true(e < expected_cost(200, 0, 22, &OPT_ITEM));
    /* Above 12 the chain only uses stages 12..T-1: a level-band change below 12 is irrelevant. */
    assert_true(expected_cost(200, 15, 22, &OPT_ITEM) == e);
}

typedef struct {
    bool c, s, d, p;
    int64_t cost;
    double destroys;
} toggle_golden_t;

/* 8.8 L200 0→22 option toggles (catch, Sunday, discount, prevention). */
static const toggle_golden_t TOGGLES[] = {
    {false, false, false, false, 36404721571, 8.46}, {false, false, false, true, 48277750145, 4.69},
    {true, false, false, false, 32372971364, 7.49},  {false, true, false, false, 25497116768, 4.30},
    {false, false, true, false, 25483304681, 8.46},  {true, true, false, false, 23099216145, 3.87},
    {true, true, true, false, 16169451106, 3.87},    {true, true, true, true, 21503968049, 2.43},
};

static void test_option_toggles(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof TOGGLES / sizeof TOGGLES[0]; i++) {
        const toggle_golden_t *t = &TOGGLES[i];
        const sf_options_t opt = {.star_catch = t->c, .sunday = t->s, .discount = t->d, .prevention = t->p};
        double e = expected_cost(200, 0, 22, &opt);
        if (num_rhu(e) != (double)t->cost) {
            print_error("toggle row %zu: got %.0f want %lld\n", i, num_rhu(e), (long long)t->cost);
            fail();
        }
        assert_2dp(num_rhu_k(expected_destroys(200, 0, 22, &opt), 2), t->destroys);
    }
}

static void test_chain_edges(void **state)
{
    (void)state;
    double e = 123;
    /* from >= to → 0. */
    assert_int_equal(sf_expected_cost(200, 22, 22, &OPT_ITEM, &e), 0);
    assert_true(e == 0);
    e = 123;
    assert_int_equal(sf_expected_cost(200, 25, 22, &OPT_ITEM, &e), 0);
    assert_true(e == 0);
    e = 123;
    assert_int_equal(sf_expected_destroys(200, 5, 0, &OPT_ITEM, &e), 0);
    assert_true(e == 0);
    /* Below 12 there is no destruction and E12 is 0: b[s] = (c_s + p_s·b[s+1]) / p_s. */
    sf_stage_t s0, s1;
    sf_stage(200, 0, &OPT_ITEM, &s0);
    sf_stage(200, 1, &OPT_ITEM, &s1);
    double b1 = s1.cost / s1.p;
    double b0 = (s0.cost + s0.p * b1) / s0.p;
    assert_rel(expected_cost(200, 0, 2, &OPT_ITEM), b0);
    assert_true(expected_destroys(200, 0, 15, &OPT_ITEM) == 0);
    /* Out of range: nothing written. */
    e = 123;
    assert_int_equal(sf_expected_cost(200, -1, 5, &OPT_ITEM, &e), -1);
    assert_int_equal(sf_expected_cost(200, 0, 31, &OPT_ITEM, &e), -1);
    assert_int_equal(sf_expected_destroys(200, 0, 31, &OPT_ITEM, &e), -1);
    assert_int_equal(sf_expected_cost(200, 0, 5, NULL, &e), -1);
    assert_true(e == 123);
    /* 0 → 30 is finite and reachable (huge, but never 0 or infinite). */
    assert_int_equal(sf_expected_cost(200, 0, 30, &OPT_ITEM, &e), 0);
    assert_true(isfinite(e) && e > expected_cost(200, 0, 29, &OPT_ITEM));
}

/* §4.4 written out literally on top of sf_stage; the module must agree bit for bit (pins the
 * recursion's grouping, which the integer goldens cannot see). */
static double literal_chain(int level, int from, int to, const sf_options_t *opt, bool destroys)
{
    double a[31], b[31];
    a[to] = 0;
    b[to] = 0;
    for (int s = to - 1; s >= 0; s--) {
        sf_stage_t st;
        sf_stage(level, s, opt, &st);
        double den = st.p + st.d;
        a[s] = (st.p * a[s + 1] + st.d) / den;
        b[s] = ((destroys ? st.d : st.cost) + st.p * b[s + 1]) / den;
    }
    double e12 = to <= 12 ? 0 : b[12] / (1 - a[12]);
    return a[from] * e12 + b[from];
}

static void test_chain_literal(void **state)
{
    (void)state;
    const int levels[] = {130, 150, 200, 250};
    for (size_t li = 0; li < 4; li++) {
        for (int mask = 0; mask < 16; mask++) {
            const sf_options_t opt = {.star_catch = mask & 1, .sunday = mask & 2, .discount = mask & 4,
                                      .prevention = mask & 8};
            int L = levels[li];
            for (int T = 1; T <= sf_max_star(L); T++) {
                for (int from = 0; from < T; from += 5) {
                    assert_true(expected_cost(L, from, T, &opt) == literal_chain(L, from, T, &opt, false));
                    assert_true(expected_destroys(L, from, T, &opt) == literal_chain(L, from, T, &opt, true));
                }
            }
        }
    }
}

/* Property: more stars always cost strictly more, for every level band and option set. */
static void test_cost_increasing_in_target(void **state)
{
    (void)state;
    const int levels[] = {0, 1, 75, 94, 100, 110, 120, 130, 140, 150, 200, 250, 300};
    for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
        int L = levels[li];
        for (int mask = 0; mask < 16; mask++) {
            const sf_options_t opt = {.star_catch = mask & 1, .sunday = mask & 2, .discount = mask & 4,
                                      .prevention = mask & 8};
            double prev = 0, prev_d = 0;
            for (int T = 1; T <= sf_max_star(L); T++) {
                double e = expected_cost(L, 0, T, &opt);
                double d = expected_destroys(L, 0, T, &opt);
                if (!(e > prev) || !(d >= prev_d)) {
                    print_error("L%d mask %d T %d: E %.17g after %.17g, D %.17g after %.17g\n", L, mask, T, e,
                                   prev, d, prev_d);
                    fail();
                }
                /* Starting higher never costs more. */
                if (T >= 2)
                    assert_true(expected_cost(L, 1, T, &opt) < e);
                prev = e;
                prev_d = d;
            }
        }
    }
}

/* ---- §4.5 item evaluation ------------------------------------------------------------------- */

static void test_item_l200_22(void **state)
{
    (void)state;
    sf_item_result_t r;
    sf_evaluate_item(200, 22, false, &r);
    assert_int_equal(r.status, VAL_OK);
    assert_int_equal(r.target_star, 22);
    assert_false(r.is_noljang);
    assert_true(r.cost == 16169451106LL);
    assert_true(r.cost_without == 16169451100LL);
    assert_true(r.cost_with == 21503968000LL);
    assert_2dp(r.destroys_without, 3.87);
    assert_2dp(r.destroys_with, 2.43);
}

static void test_item_capping(void **state)
{
    (void)state;
    sf_item_result_t r, w;
    /* Rule t: L100 caps at 8. */
    sf_evaluate_item(100, 22, false, &r);
    assert_int_equal(r.status, VAL_OK);
    assert_int_equal(r.target_star, 8);
    assert_true(r.cost == 896859);
    sf_evaluate_item(100, 8, false, &w);
    assert_true(r.cost == w.cost && r.cost_with == w.cost_with);
    /* L95 boundary: 8; L94: 5. */
    sf_evaluate_item(94, 30, false, &r);
    assert_int_equal(r.target_star, 5);
    sf_evaluate_item(95, 30, false, &r);
    assert_int_equal(r.target_star, 8);
    /* Above 30 stars caps at 30 for a 200 item. */
    sf_evaluate_item(200, 40, false, &r);
    assert_int_equal(r.status, VAL_OK);
    assert_int_equal(r.target_star, 30);
    assert_true(r.cost > 0);
}

/* The displayed figures are round100 of the already rounded integer: at L18 4★ E = 4249.94, so
 * rhu gives 4250 → 4300 (rounding E directly would give 4200). Prevention is irrelevant below 15. */
static void test_item_round100_of_rhu(void **state)
{
    (void)state;
    double e = expected_cost(18, 0, 4, &OPT_ITEM);
    assert_true(e > 4249.9 && e < 4250);
    sf_item_result_t r;
    sf_evaluate_item(18, 4, false, &r);
    assert_int_equal(r.status, VAL_OK);
    assert_true(r.cost == 4250);
    assert_true(r.cost_without == 4300);
    assert_true(r.cost_with == 4300);
}

static void test_item_not_applicable(void **state)
{
    (void)state;
    sf_item_result_t r;
    sf_evaluate_item(200, 0, false, &r);
    assert_int_equal(r.status, VAL_NOT_APPLICABLE);
    assert_string_equal(r.reason, "no stars");
    assert_int_equal(r.target_star, 0);
    assert_false(r.is_noljang);
    assert_true(r.cost == 0 && r.cost_without == 0 && r.cost_with == 0);
    /* B4: a negative star count reads as 0. */
    sf_evaluate_item(200, -3, false, &r);
    assert_int_equal(r.status, VAL_NOT_APPLICABLE);
    assert_int_equal(r.target_star, 0);
    /* A11: 놀장 with 0 stars keeps isNoljang. */
    sf_evaluate_item(150, 0, true, &r);
    assert_int_equal(r.status, VAL_NOT_APPLICABLE);
    assert_true(r.is_noljang);
    assert_string_equal(r.reason, "no stars");
    assert_int_equal(r.target_star, 0);
    assert_true(r.cost == 0);
}

/* ---- 8.9 놀장 ------------------------------------------------------------------------------- */

static void test_noljang_single_costs(void **state)
{
    (void)state;
    const double want[15] = {94800,   188500,  282300,  376000,   469800,   563500,   657300,  751000,
                             844800,  938500,  3832800, 8814200, 16052200, 26726100, 47243900};
    for (int s = 0; s < 15; s++) {
        if (sf_noljang_single_cost(150, s) != want[s]) {
            print_error("star %d: got %.1f want %.1f\n", s, sf_noljang_single_cost(150, s), want[s]);
            fail();
        }
    }
    /* Lv = max(1, L): level 0 and negative levels cost like level 1 (1000 + 1/36 → 1000). */
    assert_true(sf_noljang_single_cost(0, 0) == sf_noljang_single_cost(1, 0));
    assert_true(sf_noljang_single_cost(-20, 3) == sf_noljang_single_cost(1, 3));
    assert_true(sf_noljang_single_cost(1, 0) == 1000);
    assert_true(isnan(sf_noljang_single_cost(150, 15)));
    assert_true(isnan(sf_noljang_single_cost(150, -1)));
}

typedef struct {
    int level, target;
    double exact;
    int64_t cost, displayed;
} noljang_golden_t;

static const noljang_golden_t NOLJANG_GOLDENS[] = {
    {150, 15, 10002457336.804333, 10002457337, 10002457300}, {130, 10, 4131648035.422558, 4131648035, 4131648000},
    {200, 15, 10902474606.034897, 10902474606, 10902474600}, {100, 5, 869905533.4776335, 869905533, 869905500},
    {140, 12, 5799007576.689772, 5799007577, 5799007600},
};

static void test_noljang_goldens(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof NOLJANG_GOLDENS / sizeof NOLJANG_GOLDENS[0]; i++) {
        const noljang_golden_t *g = &NOLJANG_GOLDENS[i];
        double e = -1;
        assert_int_equal(sf_noljang_expected_cost(g->level, 0, g->target, true, true, &e), 0);
        assert_rel(e, g->exact);
        /* Stricter than the spec's 1e-12: the goldens are reproduced bit for bit, which pins the
         * Kahan sum (a plain sum misses L150 0→15) and the E_s expression order. The single costs
         * are round100'd, so libm's pow cannot move these bits. */
        assert_true(e == g->exact);
        assert_money(num_rhu(e), g->cost);
        sf_item_result_t r;
        sf_evaluate_item(g->level, g->target, true, &r);
        assert_int_equal(r.status, VAL_OK);
        assert_true(r.is_noljang);
        assert_int_equal(r.target_star, g->target);
        assert_true(r.cost == g->cost);
        /* Rule f: both displayed figures from the scroll model; no destruction. */
        assert_true(r.cost_without == g->displayed);
        assert_true(r.cost_with == g->displayed);
        assert_true(r.destroys_without == 0 && r.destroys_with == 0);
    }
}

static void test_noljang_first_terms(void **state)
{
    (void)state;
    double e0 = -1, e14 = -1;
    assert_int_equal(sf_noljang_expected_cost(150, 0, 1, true, true, &e0), 0);
    assert_rel(e0, 88435492.06349206);
    assert_rel(e0, 66360.0 / 0.63 + 150400000.0 * 0.37 / 0.63);
    assert_int_equal(sf_noljang_expected_cost(150, 14, 15, true, true, &e14), 0);
    assert_rel(e14, 1596940285.7142856);
    /* E2: from A sums E_s for s = A..T-1, so the pieces add up to the whole (Kahan order aside). */
    double head = -1, tail = -1, whole = -1;
    assert_int_equal(sf_noljang_expected_cost(150, 0, 7, true, true, &head), 0);
    assert_int_equal(sf_noljang_expected_cost(150, 7, 15, true, true, &tail), 0);
    assert_int_equal(sf_noljang_expected_cost(150, 0, 15, true, true, &whole), 0);
    assert_rel(head + tail, whole);
    /* Options: no star catch / no discount cost more. */
    double plain = -1;
    assert_int_equal(sf_noljang_expected_cost(150, 0, 15, false, false, &plain), 0);
    assert_true(plain > whole);
    /* Edges. */
    double z = 5;
    assert_int_equal(sf_noljang_expected_cost(150, 10, 10, true, true, &z), 0);
    assert_true(z == 0);
    z = 5;
    assert_int_equal(sf_noljang_expected_cost(150, 0, 16, true, true, &z), -1);
    assert_int_equal(sf_noljang_expected_cost(150, -1, 5, true, true, &z), -1);
    assert_true(z == 5);
}

static void test_noljang_capping(void **state)
{
    (void)state;
    sf_item_result_t r, w;
    sf_evaluate_item(200, 22, true, &r);
    assert_int_equal(r.status, VAL_OK);
    assert_int_equal(r.target_star, 15);
    assert_true(r.is_noljang);
    assert_true(r.cost == 10902474606LL);
    /* The 놀장 cap ignores the level's regular maximum (L100 regular caps at 8). */
    sf_evaluate_item(100, 12, true, &w);
    assert_int_equal(w.target_star, 12);
    assert_int_equal(w.status, VAL_OK);
}

/* ---- §10.E6 Monte Carlo --------------------------------------------------------------------- */

#define MC_RUNS 200000
#define MC_BUDGET 1e10

static void assert_same_percentiles(const sf_percentiles_t *a, const sf_percentiles_t *b)
{
    assert_memory_equal(a, b, sizeof *a);
}

static void assert_ordered(const sf_percentiles_t *p)
{
    assert_true(p->p50_cost <= p->p90_cost && p->p90_cost <= p->p99_cost);
    assert_true(p->p50_destroys <= p->p90_destroys && p->p90_destroys <= p->p99_destroys);
    /* Cost quantiles are reported rounded to 100. */
    assert_true(fmod(p->p50_cost, 100) == 0 && fmod(p->p99_cost, 100) == 0);
}

static void test_mc_regular_mean_and_determinism(void **state)
{
    (void)state;
    sf_percentiles_t a, b;
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 1, MC_RUNS, MC_BUDGET, &a), 0);
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 1, MC_RUNS, MC_BUDGET, &b), 0);
    assert_same_percentiles(&a, &b);
    assert_true(a.runs == MC_RUNS && a.seed == 1);
    double exact = expected_cost(200, 0, 22, &OPT_ITEM);
    double exact_d = expected_destroys(200, 0, 22, &OPT_ITEM);
    assert_rel_tol(a.mean_cost, exact, 0.01);
    assert_rel_tol(a.mean_destroys, exact_d, 0.02);
    assert_ordered(&a);
    /* Skewed distribution: the median is below the mean, p99 far above it. */
    assert_true(a.p50_cost < exact && a.p99_cost > exact);
    /* Destroy counts are integers. */
    assert_true(a.p90_destroys == floor(a.p90_destroys));
    /* Another seed gives another sample. */
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 2, MC_RUNS, MC_BUDGET, &b), 0);
    assert_true(a.mean_cost != b.mean_cost);
    assert_rel_tol(b.mean_cost, exact, 0.01);
}

static void test_mc_regular_other_chains(void **state)
{
    (void)state;
    sf_percentiles_t p;
    /* No destruction below 15: destroys all 0. */
    assert_int_equal(sf_monte_carlo(120, 0, 15, &OPT_ITEM, 7, 50000, MC_BUDGET, &p), 0);
    assert_true(p.mean_destroys == 0 && p.p99_destroys == 0);
    assert_rel_tol(p.mean_cost, expected_cost(120, 0, 15, &OPT_ITEM), 0.01);
    assert_ordered(&p);
    /* Prevention and a start above 12 (E1 chain). */
    assert_int_equal(sf_monte_carlo(200, 15, 22, &OPT_PREVENT, 3, 50000, MC_BUDGET, &p), 0);
    assert_rel_tol(p.mean_cost, expected_cost(200, 15, 22, &OPT_PREVENT), 0.02);
    assert_rel_tol(p.mean_destroys, expected_destroys(200, 15, 22, &OPT_PREVENT), 0.03);
    /* The p50 of a one-step chain with star catch at 0★ (p = .9975) is one attempt. */
    assert_int_equal(sf_monte_carlo(200, 0, 1, &OPT_ITEM, 1, 1000, MC_BUDGET, &p), 0);
    assert_true(p.p50_cost == num_round100(156260));
}

/* Nearest rank, index ceil(q·runs) − 1: with one run every quantile is that run; with two runs
 * p50 is the smaller sample and p90/p99 the larger, so the mean sits between them. */
static void test_mc_quantile_rank(void **state)
{
    (void)state;
    sf_percentiles_t one, two;
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 1, 1, MC_BUDGET, &one), 0);
    assert_true(one.p50_cost == num_round100(num_rhu(one.mean_cost)));
    assert_true(one.p50_cost == one.p99_cost);
    assert_true(one.p50_destroys == one.mean_destroys && one.p99_destroys == one.mean_destroys);
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 1, 2, MC_BUDGET, &two), 0);
    /* The same seed gives the same first run. */
    assert_true(two.p50_cost == one.p50_cost || two.p99_cost == one.p50_cost);
    assert_true(two.p50_cost < two.p90_cost);
    assert_true(two.p90_cost == two.p99_cost);
    assert_true(fabs((two.p50_cost + two.p99_cost) / 2 - two.mean_cost) <= 100);
}

static void test_mc_budget_and_errors(void **state)
{
    (void)state;
    sf_percentiles_t p;
    memset(&p, 0x5a, sizeof p);
    sf_percentiles_t untouched = p;
    /* 0 → 30 needs far more than 1e9 transitions for 200,000 runs: refused at once. */
    assert_int_equal(sf_monte_carlo(200, 0, 30, &OPT_ITEM, 1, MC_RUNS, 1e9, &p), -2);
    /* A tiny budget refuses even a short chain. */
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 1, MC_RUNS, 1000, &p), -2);
    assert_int_equal(sf_noljang_monte_carlo(150, 0, 15, true, true, 1, MC_RUNS, 1000, &p), -2);
    /* Argument errors. */
    assert_int_equal(sf_monte_carlo(200, 0, 22, &OPT_ITEM, 1, 0, MC_BUDGET, &p), -1);
    assert_int_equal(sf_monte_carlo(200, 0, 31, &OPT_ITEM, 1, 10, MC_BUDGET, &p), -1);
    assert_int_equal(sf_monte_carlo(200, -1, 5, &OPT_ITEM, 1, 10, MC_BUDGET, &p), -1);
    assert_int_equal(sf_monte_carlo(200, 0, 5, NULL, 1, 10, MC_BUDGET, &p), -1);
    assert_int_equal(sf_noljang_monte_carlo(150, 0, 16, true, true, 1, 10, MC_BUDGET, &p), -1);
    assert_int_equal(sf_noljang_monte_carlo(150, 0, 5, true, true, 1, -4, MC_BUDGET, &p), -1);
    assert_memory_equal(&p, &untouched, sizeof p);
    /* from >= to: zeros. */
    assert_int_equal(sf_monte_carlo(200, 22, 22, &OPT_ITEM, 9, 10, MC_BUDGET, &p), 0);
    assert_true(p.mean_cost == 0 && p.p99_cost == 0 && p.p99_destroys == 0 && p.runs == 10 && p.seed == 9);
}

static void test_mc_noljang(void **state)
{
    (void)state;
    sf_percentiles_t a, b;
    assert_int_equal(sf_noljang_monte_carlo(150, 0, 15, true, true, 1, MC_RUNS, MC_BUDGET, &a), 0);
    assert_int_equal(sf_noljang_monte_carlo(150, 0, 15, true, true, 1, MC_RUNS, MC_BUDGET, &b), 0);
    assert_same_percentiles(&a, &b);
    assert_rel_tol(a.mean_cost, 10002457336.804333, 0.01);
    assert_true(a.mean_destroys == 0 && a.p99_destroys == 0);
    assert_ordered(&a);
    /* E2 chain: from 10 without options. */
    double exact = -1;
    assert_int_equal(sf_noljang_expected_cost(130, 10, 15, false, false, &exact), 0);
    assert_int_equal(sf_noljang_monte_carlo(130, 10, 15, false, false, 5, MC_RUNS, MC_BUDGET, &a), 0);
    assert_rel_tol(a.mean_cost, exact, 0.01);
    /* Every run pays at least one attempt per star and no failure: the minimum possible cost. */
    double floor_cost = 0;
    for (int s = 10; s < 15; s++)
        floor_cost += sf_noljang_single_cost(130, s);
    assert_true(a.p50_cost >= num_round100(floor_cost));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_star_boundaries),
        cmocka_unit_test(test_raw_cost_l200),
        cmocka_unit_test(test_stage_table_l200),
        cmocka_unit_test(test_stage_without_options),
        cmocka_unit_test(test_item_goldens),
        cmocka_unit_test(test_from_15_to_22),
        cmocka_unit_test(test_option_toggles),
        cmocka_unit_test(test_chain_edges),
        cmocka_unit_test(test_chain_literal),
        cmocka_unit_test(test_cost_increasing_in_target),
        cmocka_unit_test(test_item_l200_22),
        cmocka_unit_test(test_item_capping),
        cmocka_unit_test(test_item_round100_of_rhu),
        cmocka_unit_test(test_item_not_applicable),
        cmocka_unit_test(test_noljang_single_costs),
        cmocka_unit_test(test_noljang_goldens),
        cmocka_unit_test(test_noljang_first_terms),
        cmocka_unit_test(test_noljang_capping),
        cmocka_unit_test(test_mc_regular_mean_and_determinism),
        cmocka_unit_test(test_mc_regular_other_chains),
        cmocka_unit_test(test_mc_quantile_rank),
        cmocka_unit_test(test_mc_budget_and_errors),
        cmocka_unit_test(test_mc_noljang),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
