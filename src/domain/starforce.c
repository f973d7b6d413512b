/*
 * starforce.c - expected starforce cost and destruction count (valuation §4, golden 8.8/8.9),
 *   the 놀장 scroll model (§4.6) and Monte Carlo percentiles (§10.E6).
 *
 * What: the regular chain is a Markov chain over stars 0..T where a failure keeps the star and a
 * destruction sends the item back to 12★. Its expectation has the closed form of §4.4: write
 * E[s] = a[s]·E12 + b[s], back-substitute from T down to 0, then solve the one linear equation
 * for E12. The same loop with a different per-stage "charge" c_s gives the expected cost
 * (c_s = attempt cost), the expected number of destructions (c_s = d_s) and the expected number
 * of stage exits (c_s = p_s + d_s, used to budget the Monte Carlo).
 *
 * How: every floating-point step follows the spec's order literally (m = 1 − p − d, the star
 * catch renormalisation with the old m and d, multiply-then-divide in the attempt cost, round10
 * last), because the goldens of §8.8 are compared after rhu and a different but "equivalent"
 * order can move a result across a rounding boundary.
 *
 * Monte Carlo: instead of one random draw per attempt, each visit of star s draws the number of
 * attempts until the star changes, geometric with parameter q = p + d, by inversion, and then one
 * more draw for success vs destruction (skipped when d = 0). This is the same distribution as the
 * per-attempt simulation at a fraction of the cost. The run count is checked against an exact
 * expected number of stage exits first, so a request like 0→30 fails fast with -2 instead of
 * running for hours.
 *
 * Invariants: results depend only on the arguments; levels are clamped to 0..SF_LEVEL_CAP for the
 * cost formula (negative levels do not exist in game data, and the cap keeps L³·(s+1) inside
 * int64); stars outside the tables are rejected, never extrapolated.
 *
 * Threads: no globals and no static mutable state; the splitmix64 state lives on the caller's
 * stack, so all functions are reentrant. Only the Monte Carlo functions allocate (the sample
 * buffer), and they free it before returning.
 */
#include "domain/starforce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"

/* Levels above this make L³·(s+1) overflow int64 (2,097,151³ ≈ 2^63); real items stop at 300. */
#define SF_LEVEL_CAP 100000

/* §4.1 columns, indexed by the current star. */
static const double SF_SUCCESS[SF_MAX_STAR] = {
    0.95, 0.90, 0.85, 0.85, 0.80, 0.75, 0.70, 0.65, 0.60, 0.55, /* 0..9 */
    0.50, 0.45, 0.40, 0.35, 0.30, 0.30, 0.30, 0.15, 0.15, 0.15, /* 10..19 */
    0.30, 0.15, 0.15, 0.10, 0.10, 0.10, 0.07, 0.05, 0.03, 0.01, /* 20..29 */
};
static const double SF_DESTROY[SF_MAX_STAR] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                        /* 0..9 */
    0, 0, 0, 0, 0, 0.021, 0.021, 0.068, 0.068, 0.085,                   /* 10..19 */
    0.105, 0.1275, 0.17, 0.18, 0.18, 0.18, 0.186, 0.19, 0.194, 0.198, /* 20..29 */
};
static const double SF_DIVISOR[SF_MAX_STAR] = {
    36, 36, 36, 36, 36, 36, 36, 36, 36, 36,           /* 0..9 (the s <= 9 formula uses 36) */
    571, 314, 214, 157, 107, 200, 200, 150, 70, 45,   /* 10..19 */
    200, 125, 200, 200, 200, 200, 200, 200, 200, 200, /* 20..29 */
};

/* §4.6 success chance of a 놀장 scroll at star 0..14. */
static const double SF_NOLJANG_SUCCESS[SF_NOLJANG_MAX_STAR] = {
    0.60, 0.55, 0.50, 0.40, 0.30, 0.20, 0.19, 0.18, 0.17, 0.16, 0.16, 0.14, 0.12, 0.10, 0.10,
};

#define SF_FIRST_POW_STAR 10     /* from 10★ the cost grows with (s+1)^2.7 */
#define SF_LOW_DIVISOR 36.0      /* divisor of the linear (s <= 9) cost */
#define SF_BASE_COST 1000.0      /* constant term of every attempt cost */
#define SF_COST_EXPONENT 2.7
#define SF_DESTROY_RETURN 12     /* a destroyed item comes back as a 12★ copy */
#define SF_SUNDAY_LO 15          /* Sunday destroy reduction applies on 15..21 */
#define SF_SUNDAY_HI 21
#define SF_SUNDAY_DESTROY 0.7    /* destroy chance −30 % */
#define SF_PREVENT_LO 15         /* destroy prevention is sold on 15..17 */
#define SF_PREVENT_HI 17
#define SF_PREVENT_MULT 3.0      /* +200 % cost */
#define SF_CATCH_MULT 1.05       /* star catch: success × 1.05 */
#define SF_DISCOUNT_MULT 0.7     /* 30 % discount */
#define SF_EPS 1e-12             /* §4.3 / §4.4 degeneracy threshold */

/* Monte Carlo limits: above this run count the sample buffer could not be allocated anyway,
 * and the percentile index arithmetic (runs × 99) stays far inside int64. */
#define SF_MC_MAX_RUNS ((int64_t)1 << 40)
#define SF_MC_OOM (-3)

/* What the back-substitution accumulates per stage exit (§4.4 and its two variants). */
typedef enum {
    SF_CHARGE_COST,        /* c_s = attempt cost: expected meso */
    SF_CHARGE_DESTROYS,    /* c_s = d_s: expected destructions */
    SF_CHARGE_TRANSITIONS, /* c_s = p_s + d_s: expected stage exits (Monte Carlo budget) */
} sf_charge_t;

static int clamp_level(int level)
{
    if (level < 0)
        return 0;
    return level > SF_LEVEL_CAP ? SF_LEVEL_CAP : level;
}

int sf_max_star(int level)
{
    if (level <= 94)
        return 5;
    if (level <= 107)
        return 8;
    if (level <= 117)
        return 10;
    if (level <= 127)
        return 15;
    if (level <= 137)
        return 20;
    return SF_MAX_STAR;
}

double sf_raw_cost(int level, int star)
{
    if (star < 0 || star >= SF_MAX_STAR)
        return NAN;
    int64_t lv = clamp_level(level);
    int64_t l3 = lv * lv * lv;
    if (star < SF_FIRST_POW_STAR)
        return SF_BASE_COST + (double)(l3 * (star + 1)) / SF_LOW_DIVISOR;
    /* Multiply first, then divide (§4.2): the other order changes the last bits. */
    return SF_BASE_COST + (double)l3 * pow(star + 1, SF_COST_EXPONENT) / SF_DIVISOR[star];
}

void sf_stage(int level, int star, const sf_options_t *opt, sf_stage_t *out)
{
    static const sf_options_t none = {false, false, false, false};
    if (!opt)
        opt = &none;
    if (star < 0 || star >= SF_MAX_STAR) {
        /* No table row: a stage that never moves, so any chain using it is UNREACHABLE. */
        out->p = 0;
        out->m = 1;
        out->d = 0;
        out->cost = 0;
        return;
    }
    /* Step 1. */
    double p = SF_SUCCESS[star];
    double d = SF_DESTROY[star];
    if (opt->sunday && star >= SF_SUNDAY_LO && star <= SF_SUNDAY_HI)
        d = d * SF_SUNDAY_DESTROY;
    double m = 1 - p - d;
    double mult = 1;
    /* Step 2. */
    if (opt->prevention && star >= SF_PREVENT_LO && star <= SF_PREVENT_HI) {
        d = 0;
        m = 1 - p;
        mult = SF_PREVENT_MULT;
    }
    /* Step 3: the non-success mass shrinks and is split in the old m : d ratio. */
    if (opt->star_catch) {
        double pc = fmin(1.0, p * SF_CATCH_MULT);
        double rest = 1 - pc;
        if (m + d < SF_EPS) {
            m = rest;
            d = 0;
        } else {
            double old_m = m, old_d = d;
            m = rest * (old_m / (old_m + old_d));
            d = rest * (old_d / (old_m + old_d));
        }
        p = pc;
    }
    /* Step 4. */
    double c = sf_raw_cost(level, star) * mult;
    if (opt->discount)
        c = c * SF_DISCOUNT_MULT;
    out->p = p;
    out->m = m;
    out->d = d;
    out->cost = num_round10(c);
}

/* §4.4 back-substitution for the chain 0..to with the given per-exit charge; E(from → to).
 * The loop runs all the way down to 0 as written in the spec (the stages below `from` cannot be
 * degenerate, so this changes no result, only which stages are checked). */
static int chain_expectation(int level, int from, int to, const sf_options_t *opt, sf_charge_t charge,
                             double *out)
{
    if (!opt || from < 0 || to < 0 || to > SF_MAX_STAR)
        return -1;
    if (from >= to) {
        *out = 0;
        return 0;
    }
    double a[SF_MAX_STAR + 1], b[SF_MAX_STAR + 1];
    a[to] = 0;
    b[to] = 0;
    for (int s = to - 1; s >= 0; s--) {
        sf_stage_t st;
        sf_stage(level, s, opt, &st);
        double den = st.p + st.d;
        if (den < SF_EPS)
            return -1;
        double c;
        switch (charge) {
        case SF_CHARGE_COST: c = st.cost; break;
        case SF_CHARGE_DESTROYS: c = st.d; break;
        default: c = den; break;
        }
        a[s] = (st.p * a[s + 1] + st.d) / den;
        b[s] = (c + st.p * b[s + 1]) / den;
    }
    double e12 = 0;
    if (to > SF_DESTROY_RETURN) {
        double rest = 1 - a[SF_DESTROY_RETURN];
        if (fabs(rest) < SF_EPS)
            return -1;
        e12 = b[SF_DESTROY_RETURN] / rest;
    }
    *out = a[from] * e12 + b[from];
    return 0;
}

int sf_expected_cost(int level, int from, int to, const sf_options_t *opt, double *out)
{
    return chain_expectation(level, from, to, opt, SF_CHARGE_COST, out);
}

int sf_expected_destroys(int level, int from, int to, const sf_options_t *opt, double *out)
{
    return chain_expectation(level, from, to, opt, SF_CHARGE_DESTROYS, out);
}

/* ---- 놀장 ------------------------------------------------------------------------------------ */

double sf_noljang_single_cost(int level, int star)
{
    if (star < 0 || star >= SF_NOLJANG_MAX_STAR)
        return NAN;
    int lv = level < 1 ? 1 : level; /* Lv = max(1, L) */
    /* Same formula as §4.2 (the divisors of 10..14 are the regular ones), then round100. */
    return num_round100(sf_raw_cost(lv, star));
}

/* Per-star parameters of the scroll chain: success chance and meso per attempt. */
static void noljang_stage(int level, int star, bool star_catch, bool discount, double *p, double *c)
{
    double base = SF_NOLJANG_SUCCESS[star];
    *p = star_catch ? fmin(1.0, base * SF_CATCH_MULT) : base;
    double single = sf_noljang_single_cost(level, star);
    *c = discount ? single * SF_DISCOUNT_MULT : single;
}

int sf_noljang_expected_cost(int level, int from, int to, bool star_catch, bool discount, double *out)
{
    if (from < 0 || to < 0 || to > SF_NOLJANG_MAX_STAR)
        return -1;
    kahan_t sum = KAHAN_INIT;
    for (int s = from; s < to; s++) {
        double p, c;
        noljang_stage(level, s, star_catch, discount, &p, &c);
        if (p < SF_EPS)
            return -1;
        double e = c / p + SF_NOLJANG_FAIL_MESO * (1 - p) / p;
        kahan_add(&sum, e);
    }
    *out = sum.sum;
    return 0;
}

/* ---- item ----------------------------------------------------------------------------------- */

/* Largest double below 2^63, so the int64 conversion is always defined. */
#define SF_INT64_MAX_EXACT 9.2233720368547748e18

static int64_t to_i64(double x)
{
    if (!(x > 0))
        return 0;
    return x >= SF_INT64_MAX_EXACT ? INT64_MAX : (int64_t)x;
}

static void set_unreachable(sf_item_result_t *out, const char *why)
{
    out->status = VAL_UNREACHABLE;
    snprintf(out->reason, sizeof out->reason, "%s", why);
    out->cost = out->cost_without = out->cost_with = 0;
    out->destroys_without = out->destroys_with = 0;
}

void sf_evaluate_item(int level, int starforce, bool noljang, sf_item_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->is_noljang = noljang;
    int stars = starforce < 0 ? 0 : starforce;
    int cap = noljang ? SF_NOLJANG_MAX_STAR : sf_max_star(level);
    int target = stars < cap ? stars : cap;
    if (target <= 0) {
        out->status = VAL_NOT_APPLICABLE;
        snprintf(out->reason, sizeof out->reason, "no stars");
        return;
    }
    out->target_star = target;
    out->status = VAL_OK;

    if (noljang) {
        double e;
        if (sf_noljang_expected_cost(level, 0, target, true, true, &e) != 0) {
            set_unreachable(out, "starforce scroll success chance is 0");
            return;
        }
        double r = num_rhu(e);
        out->cost = to_i64(r);
        /* Rule f: both displayed figures come from the scroll model; there is no destruction. */
        out->cost_without = out->cost_with = to_i64(num_round100(r));
        out->destroys_without = out->destroys_with = 0;
        return;
    }

    const sf_options_t item = {.star_catch = true, .sunday = true, .discount = true, .prevention = false};
    const sf_options_t prevent = {.star_catch = true, .sunday = true, .discount = true, .prevention = true};
    double e_without, e_with, d_without, d_with;
    if (sf_expected_cost(level, 0, target, &item, &e_without) != 0 ||
        sf_expected_cost(level, 0, target, &prevent, &e_with) != 0 ||
        sf_expected_destroys(level, 0, target, &item, &d_without) != 0 ||
        sf_expected_destroys(level, 0, target, &prevent, &d_with) != 0) {
        set_unreachable(out, "starforce expectation is unreachable");
        return;
    }
    double r = num_rhu(e_without);
    out->cost = to_i64(r);
    out->cost_without = to_i64(num_round100(r));
    out->cost_with = to_i64(num_round100(num_rhu(e_with)));
    out->destroys_without = num_rhu_k(d_without, 2);
    out->destroys_with = num_rhu_k(d_with, 2);
}

/* ---- Monte Carlo ---------------------------------------------------------------------------- */

#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ULL
#define SPLITMIX_MUL1 0xbf58476d1ce4e5b9ULL
#define SPLITMIX_MUL2 0x94d049bb133111ebULL
#define SF_U53 (1.0 / 9007199254740992.0) /* 2^-53 */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += SPLITMIX_GAMMA);
    z = (z ^ (z >> 30)) * SPLITMIX_MUL1;
    z = (z ^ (z >> 27)) * SPLITMIX_MUL2;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() is finite. */
static double uniform_open0(uint64_t *state) { return (double)((splitmix64(state) >> 11) + 1) * SF_U53; }

/* Uniform in [0, 1). */
static double uniform_open1(uint64_t *state) { return (double)(splitmix64(state) >> 11) * SF_U53; }

/* Attempts until the first exit, geometric with exit chance q per attempt (inversion:
 * P(n <= k) = 1 − (1−q)^k  ⇔  n = ceil(log U / log(1 − q))). log1p_neg_q = log1p(−q). */
static double geometric_attempts(uint64_t *state, double q, double log1p_neg_q)
{
    if (q >= 1)
        return 1;
    double n = ceil(log(uniform_open0(state)) / log1p_neg_q);
    return n < 1 ? 1 : n;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Nearest-rank quantile of sorted v[0..n): v[ceil(pct/100 · n) − 1], in integers so that
 * e.g. 0.9 · 200000 cannot round up to the next index. */
static double nearest_rank(const double *v, int64_t n, int pct)
{
    int64_t idx = (n * pct + 99) / 100 - 1;
    if (idx < 0)
        idx = 0;
    return v[idx];
}

static void zero_percentiles(sf_percentiles_t *out, uint64_t seed, int64_t runs)
{
    memset(out, 0, sizeof *out);
    out->runs = runs;
    out->seed = seed;
}

/* Sort the samples in place and fill the report: means (Kahan), rounded cost quantiles and raw
 * destroy-count quantiles. */
static void summarise(double *cost, double *destroys, int64_t runs, sf_percentiles_t *out)
{
    kahan_t sc = KAHAN_INIT, sd = KAHAN_INIT;
    for (int64_t i = 0; i < runs; i++) {
        kahan_add(&sc, cost[i]);
        kahan_add(&sd, destroys[i]);
    }
    out->mean_cost = sc.sum / (double)runs;
    out->mean_destroys = sd.sum / (double)runs;
    qsort(cost, (size_t)runs, sizeof *cost, cmp_double);
    qsort(destroys, (size_t)runs, sizeof *destroys, cmp_double);
    out->p50_cost = num_round100(num_rhu(nearest_rank(cost, runs, 50)));
    out->p90_cost = num_round100(num_rhu(nearest_rank(cost, runs, 90)));
    out->p99_cost = num_round100(num_rhu(nearest_rank(cost, runs, 99)));
    out->p50_destroys = nearest_rank(destroys, runs, 50);
    out->p90_destroys = nearest_rank(destroys, runs, 90);
    out->p99_destroys = nearest_rank(destroys, runs, 99);
}

/* The two sample arrays in one block: cost[0..runs) then destroys[0..runs). */
static double *alloc_samples(int64_t runs)
{
    return malloc((size_t)runs * 2 * sizeof(double));
}

/* Per-stage constants of the simulation, precomputed once per call. */
typedef struct {
    double cost;        /* meso per attempt */
    double q;           /* exit chance per attempt, p + d */
    double log1p_neg_q; /* log1p(−q), the geometric inversion denominator */
    double succ_given_exit; /* p / (p + d) */
    bool can_destroy;   /* d > 0: a second draw decides success vs destruction */
} mc_stage_t;

int sf_monte_carlo(int level, int from, int to, const sf_options_t *opt, uint64_t seed, int64_t runs,
                   double max_transitions, sf_percentiles_t *out)
{
    if (!opt || runs <= 0 || runs > SF_MC_MAX_RUNS || from < 0 || to < 0 || to > SF_MAX_STAR)
        return -1;
    if (from >= to) {
        zero_percentiles(out, seed, runs);
        return 0;
    }
    /* Exact expected number of stage exits per run: unreachable chains and over-budget
     * requests are refused before any work. */
    double exits;
    if (chain_expectation(level, from, to, opt, SF_CHARGE_TRANSITIONS, &exits) != 0)
        return -1;
    if (!(exits * (double)runs <= max_transitions))
        return -2;

    mc_stage_t stage[SF_MAX_STAR];
    for (int s = 0; s < to; s++) {
        sf_stage_t st;
        sf_stage(level, s, opt, &st);
        stage[s].cost = st.cost;
        stage[s].q = st.p + st.d;
        stage[s].log1p_neg_q = log1p(-stage[s].q);
        stage[s].succ_given_exit = st.p / (st.p + st.d);
        stage[s].can_destroy = st.d > 0;
    }
    double *buf = alloc_samples(runs);
    if (!buf)
        return SF_MC_OOM;
    double *cost = buf, *destroys = buf + runs;

    uint64_t rng = seed;
    for (int64_t r = 0; r < runs; r++) {
        double total = 0, lost = 0;
        int s = from;
        while (s < to) {
            const mc_stage_t *g = &stage[s];
            /* Costs are multiples of 10 far below 2^53, so plain addition is exact here. */
            total += geometric_attempts(&rng, g->q, g->log1p_neg_q) * g->cost;
            if (!g->can_destroy || uniform_open1(&rng) < g->succ_given_exit) {
                s++;
            } else {
                lost += 1;
                s = SF_DESTROY_RETURN;
            }
        }
        cost[r] = total;
        destroys[r] = lost;
    }
    zero_percentiles(out, seed, runs);
    summarise(cost, destroys, runs, out);
    free(buf);
    return 0;
}

int sf_noljang_monte_carlo(int level, int from, int to, bool star_catch, bool discount, uint64_t seed,
                           int64_t runs, double max_transitions, sf_percentiles_t *out)
{
    if (runs <= 0 || runs > SF_MC_MAX_RUNS || from < 0 || to < 0 || to > SF_NOLJANG_MAX_STAR)
        return -1;
    if (from >= to) {
        zero_percentiles(out, seed, runs);
        return 0;
    }
    double p[SF_NOLJANG_MAX_STAR], c[SF_NOLJANG_MAX_STAR], lq[SF_NOLJANG_MAX_STAR];
    for (int s = from; s < to; s++) {
        noljang_stage(level, s, star_catch, discount, &p[s], &c[s]);
        if (p[s] < SF_EPS)
            return -1;
        lq[s] = log1p(-p[s]);
    }
    /* No destruction: every run makes exactly one exit per star. */
    if (!((double)(to - from) * (double)runs <= max_transitions))
        return -2;
    double *buf = alloc_samples(runs);
    if (!buf)
        return SF_MC_OOM;
    double *cost = buf, *destroys = buf + runs;

    uint64_t rng = seed;
    for (int64_t r = 0; r < runs; r++) {
        double total = 0;
        for (int s = from; s < to; s++) {
            /* n attempts, the last one succeeds: n − 1 failures each cost the scroll price. */
            double n = geometric_attempts(&rng, p[s], lq[s]);
            total += n * c[s] + (n - 1) * SF_NOLJANG_FAIL_MESO;
        }
        cost[r] = total;
        destroys[r] = 0;
    }
    zero_percentiles(out, seed, runs);
    summarise(cost, destroys, runs, out);
    free(buf);
    return 0;
}
