/*
 * cube.h - expected cost of rerolling one potential with a black or additional cube
 *   (valuation §2.8, §3, decisions a, b, e, i, o, q).
 *   Not here: line classification (stat.h), table storage (ptable.h), JSON output (report.h).
 * Ownership: inputs are borrowed; the result is a value written into caller storage.
 * Threads:   pure given an immutable (finished) ptable_t; reentrant.
 * Errors:    none returned: failures are statuses inside cube_result_t (§0.3, order of §3.1).
 */
#ifndef MX_DOMAIN_CUBE_H
#define MX_DOMAIN_CUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/ptable.h"
#include "domain/stat.h"
#include "domain/status.h"

/* A borrowed text: ptr == NULL means absent/null (blank). */
typedef struct {
    const char *ptr;
    size_t len;
} cube_text_t;

/* What one potential looks like in the payload. */
typedef struct {
    cube_type_t type;
    int part;              /* table part index (ptable_part_index), from §1.4 */
    int item_level;        /* L */
    cube_text_t grade;     /* raw grade (blank rule applies; trimmed before use) */
    cube_text_t lines[3];  /* raw lines, verbatim (B1) */
} cube_input_t;

typedef struct {
    val_status_t status;
    char reason[VAL_REASON_LEN]; /* "" when status is OK */
    cube_type_t type;
    bool has_grade;              /* false: grade blank → currentGrade/targetGrade null */
    char grade[64];              /* trimmed grade text as given (A6: echoed even when invalid) */
    bool has_method;             /* method/targetStat/minTotal reported (A3, A5) */
    cube_method_t method;
    bool has_target;             /* THRESHOLD only */
    stat_type_t target_stat;
    int min_total;
    /* Filled only when status == OK (A4): */
    int table_level;
    double table_mass[3];
    double probability;          /* p per cube use */
    double trials_exact;         /* 1 / p */
    int64_t trials;              /* rhu(1 / p): the priced count */
    int64_t p50_trials, p90_trials, p99_trials;
    int64_t cost_per_cube;       /* meso per use (§3.6) */
    int64_t expected_cost;       /* trials × cost_per_cube */
    int64_t p50_cost, p90_cost, p99_cost;
} cube_result_t;

/* Evaluate one potential (§3.1 steps 1-6). `t` may hold only some cube types. */
void cube_evaluate(const ptable_t *t, const cube_input_t *in, cube_result_t *out);

/* ---- building blocks, exposed for tests and the `cube` CLI ---- */

/* A per-line distribution over non-negative integer contributions, ascending by value. */
typedef struct {
    const int *values;   /* ascending, distinct, >= 0 */
    const double *probs; /* same length */
    size_t count;
} cube_dist_t;

/* §3.4 convolution with tail clamp: acc has room for T+1 doubles and receives the final
 * clamped distribution (acc[T] = P(sum >= T)). nlines may be 0. Returns 0, or -1 if a
 * value is negative, T < 0, or the T+1 scratch doubles cannot be allocated. */
int cube_convolve(const cube_dist_t *lines, size_t nlines, int T, double *acc);

/* §3.5 percentile trials: smallest n >= 1 with 1 - (1-p)^n >= q (p in (0, 1]), by the spec's
 * formula. Returns -1 when p is not > 0 (or NaN); saturates at INT64_MAX for astronomically
 * small p. */
int64_t cube_percentile_trials(double p, double q);

/* §3.6 meso per cube use for the item's own level (not the table level); -1 for a type or
 * grade outside the enums. */
int64_t cube_cost_per_use(cube_type_t type, grade_t grade, int item_level);

/* §3.3 normaliser of a group: 1.0 when |mass - 1| <= 1e-12, else the raw mass. */
double cube_group_norm(const ptable_group_t *g);

/* §3.4 per-line distribution of `target` over the rows of g: contribution (§2.4) of each row's
 * option, rate / norm accumulated with plain addition in file order (10.C2), distinct values
 * ascending. values and probs need room for g->count entries (there are never more distinct
 * values than rows); *count receives the number used. Returns 0, -1 when a row contributes a
 * negative value (TABLE_ERROR), -2 when out of memory. */
int cube_line_dist(const ptable_t *t, const ptable_group_t *g, stat_type_t target, int *values, double *probs,
                   size_t *count);

#endif
