/*
 * starforce.h - expected starforce cost and destruction count (valuation §4): the Markov chain
 *   with closed-form back-substitution, the 놀장 (starforce-scroll) model, and Monte Carlo
 *   percentiles (§10.E6).
 *   Not here: JSON output (report.h), CLI argument checks (cli/).
 * Ownership: value types only; nothing allocates except sf_monte_carlo (frees before returning).
 * Threads:   pure and reentrant (the Monte Carlo generator state is local to each call).
 * Errors:    functions returning int give 0, or -1 when the expectation is unreachable
 *   (den < 1e-12 or |1 - a[12]| < 1e-12) or the arguments are out of range; out-params are
 *   written only on success. The Monte Carlo functions also return -2 (over budget) and -3
 *   (the sample buffer could not be allocated). Doubles returned for a star outside the
 *   tables are NAN. Levels are clamped to 0..100000 for the cost formula (keeps L³ in int64).
 */
#ifndef MX_DOMAIN_STARFORCE_H
#define MX_DOMAIN_STARFORCE_H

#include <stdbool.h>
#include <stdint.h>

#include "domain/status.h"

#define SF_MAX_STAR 30         /* stars 0..29 have table rows; 30 is the highest target */
#define SF_NOLJANG_MAX_STAR 15 /* 놀장 items stop at 15 */
#define SF_NOLJANG_FAIL_MESO 150400000.0 /* each 놀장 failure costs 9,400 KRW × 16,000 meso/KRW */

typedef struct {
    bool star_catch; /* success × 1.05 */
    bool sunday;     /* destroy × 0.7 on 15..21 */
    bool discount;   /* cost × 0.7 */
    bool prevention; /* no destruction on 15..17, cost × 3 */
} sf_options_t;

/* Per-stage parameters after §4.3. */
typedef struct {
    double p, m, d; /* success, fail (keep), destroy (→ 12) */
    double cost;    /* round10'd attempt cost */
} sf_stage_t;

/* Maximum star for item level L (§4.1). */
int sf_max_star(int level);
/* Raw attempt cost of §4.2 (before options and rounding); NAN for a star outside 0..29. */
double sf_raw_cost(int level, int star);
/* §4.3 for star s (0..29); opt NULL = all options off. A star outside 0..29 yields a stage that
 * never moves (p = d = 0, m = 1, cost 0). */
void sf_stage(int level, int star, const sf_options_t *opt, sf_stage_t *out);

/* E(from → to) of §4.4 in meso (unrounded). 0 <= from, to <= 30. */
int sf_expected_cost(int level, int from, int to, const sf_options_t *opt, double *out);
/* Expected number of destructions (same chain with c_s = d_s), unrounded. */
int sf_expected_destroys(int level, int from, int to, const sf_options_t *opt, double *out);

/* 놀장 (§4.6): single attempt cost (round100'd) at star s (0..14; NAN otherwise), and Kahan Σ E_s
 * for s = from..to-1 (0 <= from, to <= 15; from >= to gives 0). */
double sf_noljang_single_cost(int level, int star);
int sf_noljang_expected_cost(int level, int from, int to, bool star_catch, bool discount, double *out);

/* Monte Carlo percentiles (§10.E6): splitmix64(seed), `runs` runs from `from` to `to`.
 * Quantiles are nearest-rank (sorted index ceil(q·runs) − 1). Destroy quantiles are raw counts.
 * from >= to fills zeros and returns 0. Each visit of a star draws the geometric number of
 * attempts until the star changes (one draw), then success vs destruction (a second draw, only
 * when d > 0): same distribution as simulating attempt by attempt, much faster. */
typedef struct {
    int64_t runs;
    uint64_t seed;
    double mean_cost, mean_destroys;               /* sample means */
    double p50_cost, p90_cost, p99_cost;           /* round100(rhu(.)) of the sample quantiles */
    double p50_destroys, p90_destroys, p99_destroys;
} sf_percentiles_t;
/* Regular chain. Returns -1 when unreachable or out of range (runs <= 0, bad stars, opt NULL),
 * -2 when runs × (exact expected stage exits per run) exceeds `max_transitions` (the caller
 * reports percentiles as unavailable), -3 when out of memory. */
int sf_monte_carlo(int level, int from, int to, const sf_options_t *opt, uint64_t seed, int64_t runs,
                   double max_transitions, sf_percentiles_t *out);
/* 놀장 scroll chain (no destruction). Same return convention. */
int sf_noljang_monte_carlo(int level, int from, int to, bool star_catch, bool discount, uint64_t seed,
                           int64_t runs, double max_transitions, sf_percentiles_t *out);

/* What an item gets (§4.5, §4.6, A11, B4). */
typedef struct {
    val_status_t status;
    char reason[VAL_REASON_LEN];
    int target_star;        /* capped; 0 when not applicable */
    bool is_noljang;
    int64_t cost;           /* starforceCost: rhu(E(0→T)), item money */
    int64_t cost_without;   /* round100 displayed figure, no prevention */
    int64_t cost_with;      /* round100 displayed figure, with prevention */
    double destroys_without; /* rhu_2 */
    double destroys_with;    /* rhu_2 */
} sf_item_result_t;

void sf_evaluate_item(int level, int starforce, bool noljang, sf_item_result_t *out);

#endif
