/*
 * cube.c - probability, trials and cost of rerolling one potential with a black or additional
 *   cube (§2.8, §3; decisions a, b, e, i, o, q; clarifications A3-A8, C2, C3, D1).
 *
 * Flow (§3.1): not applicable (blank grade, or three blank lines) -> grade check -> method from
 *   the three classified lines (stat_choose_method) -> table level (ptable_select_level) -> the
 *   three groups of that level and their masses -> p by THRESHOLD or EXACT_MATCH -> trials,
 *   percentiles, cost. Each failure stops the flow with its status; the method fields stay
 *   filled once step 3 is reached (A3) and the table fields are only written for OK (A4).
 *
 * THRESHOLD (§3.4): each line's group becomes a distribution over contributions (cube_line_dist:
 *   rate / norm added plainly in file order, 10.C2; sorted insertion while there are at most
 *   CUBE_DIST_LINEAR distinct values, else a stable sort of the rows by value: same sums either
 *   way), built in stack arrays for groups of up to CUBE_INLINE_ROWS rows (the shipped tables
 *   have at most 44), then the clamped convolution. Reachability first: if the three largest
 *   contributions cannot add up to T, acc[T] is exactly 0, so a hostile "STR +999999999%" is
 *   UNREACHABLE without allocating anything. Otherwise T is at most
 *   the sum of table values (<= ~1,100 on the shipped tables): up to CUBE_STACK_T the dense
 *   arrays live on the stack, up to CUBE_DENSE_MAX_T on the heap, and beyond that (only a table
 *   with enormous values gets there) a sparse convolution over the reachable sums performs the
 *   very same additions in the very same order, bounded by CUBE_SPARSE_MAX_PAIRS.
 *
 * EXACT_MATCH (§2.8): for each of the three texts and each real line k the rate sum r[k][text]
 *   is computed once (Kahan over the matching rows in file order, each rate / norm; 10.C3);
 *   the six permutations then only multiply. Wildcards (blank or unrecognised lines) compare
 *   equal to each other when de-duplicating arrangements (D1).
 *
 * Limits: a probability so small that the trials, a percentile or a cost no longer fits int64
 *   is reported as UNREACHABLE (infinite for every practical purpose; never a wrapped number).
 * Threads: no static mutable state; the table is read-only after ptable_finish(), so any number
 *   of threads may evaluate at once. Memory: every allocation is freed before returning; the
 *   shipped tables never allocate except for flat-HP targets above CUBE_STACK_T (about 0.2 ms
 *   for 140 evaluations at -O2, i.e. one character's two cubes per item).
 */
#include "domain/cube.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"

#define CUBE_LINES 3
#define CUBE_NORM_TOL 1e-12          /* |mass - 1| <= this: norm = 1 (§3.3) */
#define CUBE_INLINE_ROWS 64          /* groups up to this many rows build their distribution on the stack */
#define CUBE_DIST_LINEAR 32          /* distinct values kept by sorted insertion before switching to a sort */
#define CUBE_STACK_T 512             /* T + 1 up to this: convolution arrays on the stack */
#define CUBE_DENSE_MAX_T (1 << 16)   /* T + 1 up to this: dense convolution on the heap */
#define CUBE_SPARSE_MAX_PAIRS (1u << 20) /* bound of one sparse convolution step (16 MB of pairs) */
#define CUBE_INT64_SAFE 9.2e18       /* doubles below this convert to int64 without overflow */

static const double PERCENTILES[3] = {0.5, 0.9, 0.99};

/* §3.6 meso per use: [type][bracket][grade], brackets at item level 0, 160, 200, 250. */
static const int CUBE_BRACKETS[4] = {0, 160, 200, 250};
static const int64_t CUBE_COST[CUBE__COUNT][4][GRADE__COUNT] = {
    {
        {4000000, 16000000, 34000000, 40000000},
        {4250000, 17000000, 36125000, 42500000},
        {4500000, 18000000, 38250000, 45000000},
        {5000000, 20000000, 42500000, 50000000},
    },
    {
        {13000000, 36400000, 44200000, 52000000},
        {13812500, 38675000, 46962500, 55250000},
        {14625000, 40950000, 49725000, 58500000},
        {16250000, 45500000, 55250000, 65000000},
    },
};

int64_t cube_cost_per_use(cube_type_t type, grade_t grade, int item_level)
{
    if ((unsigned)type >= CUBE__COUNT || (unsigned)grade >= GRADE__COUNT)
        return -1;
    int b = 0;
    for (int i = 1; i < 4; i++)
        if (item_level >= CUBE_BRACKETS[i])
            b = i;
    return CUBE_COST[type][b][grade];
}

int64_t cube_percentile_trials(double p, double q)
{
    if (!(p > 0))
        return -1;
    if (p >= 1)
        return 1;
    double r = log1p(-q) / log1p(-p);
    double n = ceil(r - 1e-9 * r);
    if (!(n < CUBE_INT64_SAFE))
        return INT64_MAX;
    return n < 1 ? 1 : (int64_t)n;
}

double cube_group_norm(const ptable_group_t *g)
{
    return fabs(g->mass - 1.0) <= CUBE_NORM_TOL ? 1.0 : g->mass;
}

/* ---- per-line distributions ---- */

typedef struct {
    int c;
    uint32_t idx;
} contrib_t;

static int contrib_cmp(const void *a, const void *b)
{
    const contrib_t *x = a, *y = b;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int row_contribution(const ptable_t *t, const ptable_row_t *row, stat_type_t target)
{
    const stat_line_t *st = ptable_option_stat(t, row->option);
    return st ? stat_contribution(st, target) : 0;
}

int cube_line_dist(const ptable_t *t, const ptable_group_t *g, stat_type_t target, int *values, double *probs,
                   size_t *count)
{
    const double norm = cube_group_norm(g);
    size_t n = 0;
    /* Fast path: few distinct values, kept sorted by insertion while accumulating. */
    for (size_t i = 0; i < g->count; i++) {
        int c = row_contribution(t, &g->rows[i], target);
        if (c < 0)
            return -1;
        size_t j = 0;
        while (j < n && values[j] < c)
            j++;
        if (j < n && values[j] == c) {
            probs[j] += g->rows[i].rate / norm;
            continue;
        }
        if (n == CUBE_DIST_LINEAR)
            goto general;
        memmove(values + j + 1, values + j, (n - j) * sizeof *values);
        memmove(probs + j + 1, probs + j, (n - j) * sizeof *probs);
        values[j] = c;
        probs[j] = g->rows[i].rate / norm;
        n++;
    }
    *count = n;
    return 0;

general:
    /* Many distinct values (a synthetic table): sort rows by (value, file position) and sum the
     * runs in order, which is the same accumulation as above in O(rows log rows). */
    {
        if (g->count > UINT32_MAX)
            return -2;
        contrib_t *cs = malloc(g->count * sizeof *cs);
        if (cs == NULL)
            return -2;
        for (size_t i = 0; i < g->count; i++) {
            cs[i].c = row_contribution(t, &g->rows[i], target);
            cs[i].idx = (uint32_t)i;
            if (cs[i].c < 0) {
                free(cs);
                return -1;
            }
        }
        qsort(cs, g->count, sizeof *cs, contrib_cmp);
        n = 0;
        for (size_t i = 0; i < g->count; i++) {
            if (n == 0 || values[n - 1] != cs[i].c) {
                values[n] = cs[i].c;
                probs[n] = 0.0;
                n++;
            }
            probs[n - 1] += g->rows[cs[i].idx].rate / norm;
        }
        free(cs);
        *count = n;
        return 0;
    }
}

/* ---- convolution ---- */

/* Dense §3.4 loop. acc and scratch hold T+1 doubles; the result ends in acc. Values must be >= 0. */
static void convolve_dense(const cube_dist_t *lines, size_t nlines, int T, double *acc, double *scratch)
{
    size_t size = (size_t)T + 1;
    memset(acc, 0, size * sizeof *acc);
    acc[0] = 1.0;
    double *cur = acc, *next = scratch;
    for (size_t k = 0; k < nlines; k++) {
        const cube_dist_t *d = &lines[k];
        memset(next, 0, size * sizeof *next);
        for (int i = 0; i <= T; i++) {
            double a = cur[i];
            if (a == 0)
                continue;
            for (size_t j = 0; j < d->count; j++) {
                int v = d->values[j];
                int idx = v >= T - i ? T : i + v; /* min(i + v, T) without overflow */
                next[idx] += a * d->probs[j];
            }
        }
        double *tmp = cur;
        cur = next;
        next = tmp;
    }
    if (cur != acc)
        memcpy(acc, cur, size * sizeof *acc);
}

static bool dists_valid(const cube_dist_t *lines, size_t nlines)
{
    for (size_t k = 0; k < nlines; k++)
        for (size_t j = 0; j < lines[k].count; j++)
            if (lines[k].values[j] < 0)
                return false;
    return true;
}

int cube_convolve(const cube_dist_t *lines, size_t nlines, int T, double *acc)
{
    if (T < 0 || (nlines > 0 && lines == NULL) || !dists_valid(lines, nlines))
        return -1;
    double stack_scratch[CUBE_STACK_T];
    double *scratch = stack_scratch;
    if ((size_t)T + 1 > CUBE_STACK_T) {
        scratch = malloc(((size_t)T + 1) * sizeof *scratch);
        if (scratch == NULL)
            return -1;
    }
    convolve_dense(lines, nlines, T, acc, scratch);
    if (scratch != stack_scratch)
        free(scratch);
    return 0;
}

typedef struct {
    int s;
    uint32_t ord;
    double q;
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Sparse §3.4 for a huge T: the states are the reachable clamped sums in ascending order. Each
 * step lists the products in the dense loop's order (state ascending, value ascending), sorts
 * them stably by target sum and adds each run in that order, so every bucket receives exactly
 * the additions of the dense loop. Writes acc[T] to *p. Returns 0, or -1 if a step would exceed
 * CUBE_SPARSE_MAX_PAIRS or memory runs out. */
static int convolve_sparse(const cube_dist_t *lines, size_t nlines, int T, double *p)
{
    int ok = -1;
    int *sv = malloc(sizeof *sv);
    double *sp = malloc(sizeof *sp);
    pair_t *pairs = NULL;
    size_t n = 1;
    if (sv == NULL || sp == NULL)
        goto out;
    sv[0] = 0;
    sp[0] = 1.0;
    for (size_t k = 0; k < nlines; k++) {
        const cube_dist_t *d = &lines[k];
        if (d->count != 0 && n > CUBE_SPARSE_MAX_PAIRS / d->count)
            goto out;
        size_t m = 0;
        free(pairs);
        pairs = malloc((n * d->count + 1) * sizeof *pairs);
        if (pairs == NULL)
            goto out;
        for (size_t i = 0; i < n; i++) {
            if (sp[i] == 0)
                continue;
            for (size_t j = 0; j < d->count; j++) {
                int v = d->values[j];
                pairs[m].s = v >= T - sv[i] ? T : sv[i] + v;
                pairs[m].ord = (uint32_t)m;
                pairs[m].q = sp[i] * d->probs[j];
                m++;
            }
        }
        qsort(pairs, m, sizeof *pairs, pair_cmp);
        int *nsv = malloc((m + 1) * sizeof *nsv);
        double *nsp = malloc((m + 1) * sizeof *nsp);
        if (nsv == NULL || nsp == NULL) {
            free(nsv);
            free(nsp);
            goto out;
        }
        size_t nn = 0;
        for (size_t i = 0; i < m; i++) {
            if (nn == 0 || nsv[nn - 1] != pairs[i].s) {
                nsv[nn] = pairs[i].s;
                nsp[nn] = 0.0;
                nn++;
            }
            nsp[nn - 1] += pairs[i].q;
        }
        free(sv);
        free(sp);
        sv = nsv;
        sp = nsp;
        n = nn;
    }
    *p = (n > 0 && sv[n - 1] == T) ? sp[n - 1] : 0.0;
    ok = 0;
out:
    free(sv);
    free(sp);
    free(pairs);
    return ok;
}

/* ---- evaluation ---- */

static void set_reason(cube_result_t *out, val_status_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_reason(cube_result_t *out, val_status_t st, const char *fmt, ...)
{
    out->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trimmed grade into out->grade, cut at a UTF-8 character boundary if it is too long. */
static void copy_grade(cube_result_t *out, const char *s, size_t len, const char **tp, size_t *tl)
{
    size_t a = 0, b = len;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    *tp = s + a;
    *tl = b - a;
    size_t n = b - a;
    if (n > sizeof out->grade - 1) {
        n = sizeof out->grade - 1;
        while (n > 0 && ((unsigned char)s[a + n] & 0xC0) == 0x80)
            n--; /* do not split a multi-byte character */
    }
    memcpy(out->grade, s + a, n);
    out->grade[n] = '\0';
}

static bool text_blank(const cube_text_t *x) { return x->ptr == NULL || stat_text_is_blank(x->ptr, x->len); }

/* THRESHOLD p (§3.4). Returns a status: VAL_OK with *p set, or VAL_TABLE_ERROR with the reason. */
static val_status_t threshold_p(const ptable_t *t, const ptable_group_t *g[CUBE_LINES], stat_type_t target, int T,
                                double *p, cube_result_t *out)
{
    int inline_values[CUBE_LINES][CUBE_INLINE_ROWS];
    double inline_probs[CUBE_LINES][CUBE_INLINE_ROWS];
    int *heap_values[CUBE_LINES] = {NULL, NULL, NULL};
    double *heap_probs[CUBE_LINES] = {NULL, NULL, NULL};
    cube_dist_t dist[CUBE_LINES] = {{NULL, NULL, 0}, {NULL, NULL, 0}, {NULL, NULL, 0}};
    val_status_t st = VAL_TABLE_ERROR;
    int64_t max_sum = 0;
    if (T < 0)
        T = 0; /* min_total is > 0 for THRESHOLD; a guard, not a rule */

    for (int k = 0; k < CUBE_LINES; k++) {
        int *values = inline_values[k];
        double *probs = inline_probs[k];
        if (g[k]->count > CUBE_INLINE_ROWS) {
            values = heap_values[k] = malloc(g[k]->count * sizeof *values);
            probs = heap_probs[k] = malloc(g[k]->count * sizeof *probs);
            if (values == NULL || probs == NULL) {
                set_reason(out, VAL_TABLE_ERROR, "out of memory");
                goto out;
            }
        }
        size_t count = 0;
        int rc = cube_line_dist(t, g[k], target, values, probs, &count);
        if (rc == -1) {
            set_reason(out, VAL_TABLE_ERROR, "negative contribution in the table (line %d)", k + 1);
            goto out;
        }
        if (rc != 0) {
            set_reason(out, VAL_TABLE_ERROR, "out of memory");
            goto out;
        }
        dist[k].values = values;
        dist[k].probs = probs;
        dist[k].count = count;
        if (count > 0)
            max_sum += values[count - 1];
    }

    if (max_sum < T) {
        *p = 0.0; /* no roll reaches T: acc[T] would be exactly 0 */
        st = VAL_OK;
    } else if ((size_t)T + 1 <= CUBE_STACK_T) {
        double acc[CUBE_STACK_T], scratch[CUBE_STACK_T];
        convolve_dense(dist, CUBE_LINES, T, acc, scratch);
        *p = acc[T];
        st = VAL_OK;
    } else if ((size_t)T + 1 <= CUBE_DENSE_MAX_T) {
        double *acc = malloc(((size_t)T + 1) * 2 * sizeof *acc);
        if (acc == NULL) {
            set_reason(out, VAL_TABLE_ERROR, "out of memory");
            goto out;
        }
        convolve_dense(dist, CUBE_LINES, T, acc, acc + (size_t)T + 1);
        *p = acc[T];
        free(acc);
        st = VAL_OK;
    } else if (convolve_sparse(dist, CUBE_LINES, T, p) == 0) {
        st = VAL_OK;
    } else {
        set_reason(out, VAL_TABLE_ERROR, "threshold distribution too large to evaluate");
    }

out:
    for (int k = 0; k < CUBE_LINES; k++) {
        free(heap_values[k]);
        free(heap_probs[k]);
    }
    return st;
}

/* One item line for exact match: its text and whether it is a wildcard (blank or unrecognised). */
typedef struct {
    const char *s;
    size_t len;
    bool wild;
} em_text_t;

static bool em_same(const em_text_t *a, const em_text_t *b)
{
    if (a->wild || b->wild)
        return a->wild && b->wild;
    return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/* EXACT_MATCH P (§2.8 with D1), capped at 1 (decision q). */
static double exact_p(const ptable_t *t, const ptable_group_t *g[CUBE_LINES], const em_text_t txt[CUBE_LINES])
{
    /* r[k][j]: rate of text j on real line k (decision a), renormalised (decision e). */
    double r[CUBE_LINES][CUBE_LINES];
    for (int j = 0; j < CUBE_LINES; j++) {
        uint32_t id = 0;
        bool known = !txt[j].wild && ptable_find_option(t, txt[j].s, txt[j].len, &id);
        for (int k = 0; k < CUBE_LINES; k++) {
            if (txt[j].wild) {
                r[k][j] = 1.0;
                continue;
            }
            kahan_t sum = KAHAN_INIT;
            if (known) {
                double norm = cube_group_norm(g[k]);
                for (size_t i = 0; i < g[k]->count; i++)
                    if (g[k]->rows[i].option == id)
                        kahan_add(&sum, g[k]->rows[i].rate / norm);
            }
            r[k][j] = sum.sum;
        }
    }

    static const int PERMS[6][CUBE_LINES] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    int seen[6];
    int nseen = 0;
    double P = 0.0;
    for (int a = 0; a < 6; a++) {
        const int *pi = PERMS[a];
        bool dup = false;
        for (int b = 0; b < nseen && !dup; b++) {
            const int *pj = PERMS[seen[b]];
            dup = em_same(&txt[pi[0]], &txt[pj[0]]) && em_same(&txt[pi[1]], &txt[pj[1]]) &&
                  em_same(&txt[pi[2]], &txt[pj[2]]);
        }
        if (dup)
            continue;
        seen[nseen++] = a;
        double prod = 1.0;
        for (int k = 0; k < CUBE_LINES; k++)
            prod *= r[k][pi[k]];
        P += prod;
    }
    return P < 1.0 ? P : 1.0;
}

/* Steps 6 (§3.5, §3.6) for a positive p; false when the numbers leave the int64 range. */
static bool fill_trials(cube_result_t *out, grade_t grade, int item_level, double p)
{
    double inv = 1.0 / p;
    double trials = num_rhu(inv);
    int64_t cost = cube_cost_per_use(out->type, grade, item_level);
    if (!(trials < CUBE_INT64_SAFE) || cost <= 0)
        return false;
    int64_t pct[3];
    for (int i = 0; i < 3; i++) {
        pct[i] = cube_percentile_trials(p, PERCENTILES[i]);
        if (pct[i] < 1 || pct[i] > INT64_MAX / cost)
            return false;
    }
    int64_t n = (int64_t)trials;
    if (n > INT64_MAX / cost)
        return false;
    out->probability = p;
    out->trials_exact = inv;
    out->trials = n;
    out->cost_per_cube = cost;
    out->expected_cost = n * cost;
    out->p50_trials = pct[0];
    out->p90_trials = pct[1];
    out->p99_trials = pct[2];
    out->p50_cost = pct[0] * cost;
    out->p90_cost = pct[1] * cost;
    out->p99_cost = pct[2] * cost;
    return true;
}

void cube_evaluate(const ptable_t *t, const cube_input_t *in, cube_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->type = in->type;

    /* 1. applicability */
    bool grade_blank = text_blank(&in->grade);
    const char *gtext = "";
    size_t glen = 0;
    if (!grade_blank) {
        out->has_grade = true;
        copy_grade(out, in->grade.ptr, in->grade.len, &gtext, &glen);
    }
    bool all_blank = true;
    for (int k = 0; k < CUBE_LINES; k++)
        all_blank = all_blank && text_blank(&in->lines[k]);
    if (grade_blank || all_blank) {
        set_reason(out, VAL_NOT_APPLICABLE, "no potential");
        return;
    }

    /* 2. grade (A5: nothing further is reported for an invalid one; A6: echoed trimmed) */
    grade_t grade;
    if (!grade_from_text(gtext, glen, &grade)) {
        set_reason(out, VAL_INVALID_INPUT, "unknown potential grade");
        return;
    }

    /* 3. method (A3: reported from here on, whatever fails later) */
    stat_line_t cls[CUBE_LINES];
    em_text_t txt[CUBE_LINES];
    for (int k = 0; k < CUBE_LINES; k++) {
        const cube_text_t *x = &in->lines[k];
        bool blank = text_blank(x);
        if (blank) {
            cls[k].types = 0;
            cls[k].value = 0;
        } else {
            stat_classify(x->ptr, x->len, &cls[k]);
        }
        txt[k].s = blank ? "" : x->ptr;
        txt[k].len = blank ? 0 : x->len;
        txt[k].wild = cls[k].types == 0;
    }
    stat_choice_t choice;
    stat_choose_method(cls, &choice);
    out->has_method = true;
    out->method = choice.method;
    if (choice.method == CUBE_METHOD_THRESHOLD) {
        out->has_target = true;
        out->target_stat = choice.target;
        out->min_total = choice.min_total;
    }

    /* 4. table level */
    if ((unsigned)in->type >= CUBE__COUNT) {
        set_reason(out, VAL_NO_TABLE, "unknown cube type");
        return;
    }
    if (in->part < 0 || in->part >= PTABLE_PART_COUNT) {
        set_reason(out, VAL_NO_TABLE, "the item has no table part");
        return;
    }
    int level = 0;
    if (t == NULL || ptable_select_level(t, in->type, in->part, grade, in->item_level, &level) != 0) {
        set_reason(out, VAL_NO_TABLE, "no %s rows for part %s, grade %s", cube_type_name(in->type),
                   ptable_part_name(in->part), grade_name(grade));
        return;
    }

    /* 5. groups, masses, p */
    const ptable_group_t *g[CUBE_LINES];
    for (int k = 0; k < CUBE_LINES; k++) {
        g[k] = ptable_group(t, in->type, level, in->part, grade, k + 1);
        if (g[k] == NULL) { /* cannot happen for a present level; kept as a guard */
            set_reason(out, VAL_NO_TABLE, "no %s rows for line %d at level %d", cube_type_name(in->type), k + 1,
                       level);
            return;
        }
        if (g[k]->mass == 0 || !isfinite(g[k]->mass)) {
            set_reason(out, VAL_TABLE_ERROR, "probability group of line %d at level %d has mass %g", k + 1, level,
                       g[k]->mass);
            return;
        }
    }
    double p = 0.0;
    if (choice.method == CUBE_METHOD_THRESHOLD) {
        if (threshold_p(t, g, choice.target, choice.min_total, &p, out) != VAL_OK)
            return;
    } else {
        p = exact_p(t, g, txt);
    }
    if (!(p > 0)) {
        set_reason(out, VAL_UNREACHABLE, "success probability is 0");
        return;
    }

    /* 6. trials, percentiles, cost */
    if (!fill_trials(out, grade, in->item_level, p)) {
        set_reason(out, VAL_UNREACHABLE, "success probability too small: cost exceeds the representable range");
        return;
    }
    out->status = VAL_OK;
    out->reason[0] = '\0';
    out->table_level = level;
    for (int k = 0; k < CUBE_LINES; k++)
        out->table_mass[k] = g[k]->mass;
}
