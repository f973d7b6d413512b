/*
 * metrics.c - the per-process metrics registry and its Prometheus text exposition (see metrics.h).
 *
 * Layout: the registry is an append-only list of families in declaration order. Each family owns
 * a mutex, a hash table of its series keyed by label values, and the same series in creation
 * order. An update hashes the label values outside the lock, then holds the family mutex only to
 * find the series and change a number: after the first use of a label combination nothing
 * allocates. A new combination past METRICS_MAX_SERIES is dropped and counted in
 * metrics_dropped_series_total, so a label fed with per-user values cannot grow memory (H31).
 *
 * Declarations are checked so that the exposition always passes `promtool check metrics`
 * including its lints (M20): lower-case snake_case names and labels, counters (and only
 * counters) end in `_total`, _bucket/_count/_sum only from histograms, no type word and no
 * abbreviated or non-base unit in a name ("_ms", "minutes", "kilobytes"), no `le`/`quantile`/
 * `__*` label, no name clashing with a histogram's samples. A declaration that breaks a rule
 * is misuse: it returns NULL and says why on stderr (a programming error must not go unseen;
 * stdout is the log stream). With m == NULL ("no metrics") declarations return NULL silently.
 *
 * Values: counters ignore negative and NaN deltas; histograms ignore NaN observations (one
 * would poison _sum); mfam_get of a histogram returns its observation count.
 *
 * Rendering walks families in declaration order and series in creation order, so the output is
 * deterministic. process_* metrics are read from /proc at each render and appended after the
 * registry's families; they are never registered, so rendering many times cannot duplicate them.
 * Callback gauges are evaluated with no lock held (a callback may itself read the registry).
 */
#include "ops/metrics.h"
#include "base/hash.h"
#include "base/utf8.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const double METRICS_SECONDS_BUCKETS[12] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const double METRICS_BYTES_BUCKETS[7] = {256, 1024, 4096, 16384, 65536, 262144, 1048576};

#define MAX_LABELS 16     /* more label names than this is a design error, not a need */
#define MAX_BUCKETS 64    /* upper bounds per histogram (excluding +Inf) */
#define MIN_TABLE 16      /* initial hash slots of a labelled family (power of two) */
#define DROPPED_NAME "metrics_dropped_series_total"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_GAUGE_FN } kind_t;

/* One combination of label values. Allocated once, in one block with its label values and
 * histogram bucket counts; never freed before the registry. */
typedef struct series {
    struct series *chain; /* next series in the same hash slot */
    struct series *next;  /* next series in creation order */
    uint64_t hash;        /* hash of the label values */
    double value;         /* counter/gauge value; histogram sum */
    uint64_t count;       /* histogram: number of observations */
    uint64_t *buckets;    /* histogram: per-bucket (non-cumulative) counts, nbounds + 1 (+Inf) */
    const char *vals[];   /* nlabels label values, copied into the same block */
} series_t;

struct mfam {
    struct mfam *next; /* next family in declaration order */
    metrics_t *reg;    /* owner; where dropped series are counted */
    kind_t kind;
    char *name;
    char *help;
    size_t nlabels;
    char *label_names[MAX_LABELS];
    double *bounds; /* histogram upper bounds, strictly increasing, finite */
    size_t nbounds;

    pthread_mutex_t mu; /* guards everything below */
    metrics_read_fn fn; /* callback gauge */
    void *ctx;
    series_t **table; /* hash slots; table_size is a power of two */
    size_t table_size;
    size_t nseries;
    series_t *first, *last; /* creation order */
};

struct metrics {
    pthread_mutex_t mu; /* guards the family list (declarations) */
    mfam_t *first, *last;
    size_t nfamilies;
    mfam_t *dropped; /* metrics_dropped_series_total */
};

/* ---------------------------------------------------------------------------------------------
 * Series lookup (the hot path)
 */

static uint64_t hash_vals(const char *const *vals, size_t n)
{
    uint64_t h = FNV1A64_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *v = vals[i] ? vals[i] : "";
        h = fnv1a64_update(h, v, strlen(v));
        h = fnv1a64_update(h, "\xFF", 1); /* separator: ("ab","") and ("a","b") must differ */
    }
    return h;
}

static bool vals_equal(const series_t *s, const char *const *vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->vals[i], vals[i] ? vals[i] : "") != 0)
            return false;
    return true;
}

static series_t *series_find_locked(const mfam_t *f, const char *const *vals, uint64_t h)
{
    for (series_t *s = f->table[h & (f->table_size - 1)]; s; s = s->chain)
        if (s->hash == h && vals_equal(s, vals, f->nlabels))
            return s;
    return NULL;
}

/* Double the hash table when it gets as full as it is wide; on allocation failure keep the old
 * one (chains just get longer). */
static void table_grow_locked(mfam_t *f)
{
    size_t size = f->table_size * 2;
    series_t **t = calloc(size, sizeof *t);
    if (!t)
        return;
    for (series_t *s = f->first; s; s = s->next) {
        size_t slot = s->hash & (size - 1);
        s->chain = t[slot];
        t[slot] = s;
    }
    free(f->table);
    f->table = t;
    f->table_size = size;
}

/* A new series in one allocation: header, label value pointers, bucket counts, value bytes. */
static series_t *series_alloc(const mfam_t *f, const char *const *vals, uint64_t h)
{
    size_t nb = f->kind == KIND_HISTOGRAM ? f->nbounds + 1 : 0;
    size_t head = sizeof(series_t) + f->nlabels * sizeof(char *) + nb * sizeof(uint64_t);
    size_t lens[MAX_LABELS];
    size_t total = head;
    for (size_t i = 0; i < f->nlabels; i++) {
        lens[i] = strlen(vals && vals[i] ? vals[i] : "") + 1;
        total += lens[i];
    }
    series_t *s = calloc(1, total);
    if (!s)
        return NULL;
    s->hash = h;
    s->buckets = nb ? (uint64_t *)((char *)s + sizeof(series_t) + f->nlabels * sizeof(char *)) : NULL;
    char *p = (char *)s + head;
    for (size_t i = 0; i < f->nlabels; i++) {
        memcpy(p, vals && vals[i] ? vals[i] : "", lens[i]);
        s->vals[i] = p;
        p += lens[i];
    }
    return s;
}

static void series_link_locked(mfam_t *f, series_t *s)
{
    if (f->table) {
        size_t slot = s->hash & (f->table_size - 1);
        s->chain = f->table[slot];
        f->table[slot] = s;
    }
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
    if (f->table && f->nseries > f->table_size && f->table_size < METRICS_MAX_SERIES)
        table_grow_locked(f);
}

/* Find or create the series of vals and return it with f->mu held. NULL (lock released) when
 * the family is full (the drop is counted), memory ran out, or vals is missing. */
static series_t *series_acquire(mfam_t *f, const char *const *vals)
{
    if (f->nlabels == 0) {
        pthread_mutex_lock(&f->mu);
        return f->first; /* created at declaration */
    }
    if (!vals)
        return NULL;
    uint64_t h = hash_vals(vals, f->nlabels);
    pthread_mutex_lock(&f->mu);
    series_t *s = series_find_locked(f, vals, h);
    if (s)
        return s;
    if (f->nseries >= METRICS_MAX_SERIES) {
        pthread_mutex_unlock(&f->mu);
        /* The dropped counter is unlabelled, so this cannot recurse into another drop. */
        mfam_add(f->reg->dropped, NULL, 1);
        return NULL;
    }
    s = series_alloc(f, vals, h);
    if (!s) {
        pthread_mutex_unlock(&f->mu);
        return NULL;
    }
    series_link_locked(f, s);
    return s;
}

void mfam_add(mfam_t *f, const char *const *vals, double delta)
{
    if (!f || (f->kind != KIND_COUNTER && f->kind != KIND_GAUGE))
        return;
    if (f->kind == KIND_COUNTER && !(delta >= 0)) /* counters only go up; NaN is ignored too */
        return;
    series_t *s = series_acquire(f, vals);
    if (!s)
        return;
    s->value += delta;
    pthread_mutex_unlock(&f->mu);
}

void mfam_set(mfam_t *f, const char *const *vals, double value)
{
    if (!f || f->kind != KIND_GAUGE)
        return;
    series_t *s = series_acquire(f, vals);
    if (!s)
        return;
    s->value = value;
    pthread_mutex_unlock(&f->mu);
}

/* Index of the first upper bound >= v (the bucket v falls in); nbounds means +Inf. */
static size_t bucket_index(const double *bounds, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void mfam_observe(mfam_t *f, const char *const *vals, double value)
{
    if (!f || f->kind != KIND_HISTOGRAM || isnan(value)) /* NaN would poison _sum forever */
        return;
    size_t idx = bucket_index(f->bounds, f->nbounds, value);
    series_t *s = series_acquire(f, vals);
    if (!s)
        return;
    s->buckets[idx]++;
    s->count++;
    s->value += value;
    pthread_mutex_unlock(&f->mu);
}

/* Counter/gauge: the value; histogram: the number of observations. 0 for a series that was
 * never touched (it is not created by reading). */
double mfam_get(mfam_t *f, const char *const *vals)
{
    if (!f || f->kind == KIND_GAUGE_FN)
        return 0;
    if (f->nlabels > 0 && !vals)
        return 0;
    uint64_t h = f->nlabels ? hash_vals(vals, f->nlabels) : 0;
    double v = 0;
    pthread_mutex_lock(&f->mu);
    series_t *s = f->nlabels ? series_find_locked(f, vals, h) : f->first;
    if (s)
        v = f->kind == KIND_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Declarations
 */

/* Lower-case snake_case: [a-z_][a-z0-9_]*. Stricter than the Prometheus grammar on purpose:
 * promtool lints camelCase and colons. */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool in_list(const char *s, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, s, n) == 0)
            return true;
    return false;
}

/* One '_'-separated word of a name that promtool would flag as a unit problem: an abbreviation
 * ("ms", "s", "kb"), a non-base unit ("minutes", "bits") or a prefixed unit ("milliseconds"). */
static bool bad_unit_word(const char *w, size_t n)
{
    static const char *const abbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb", "mb",
                                                "gb", "tb", "pb", "m",  "h",   "d", NULL};
    static const char *const base[] = {"amperes", "bytes", "celsius", "grams", "joules",
                                       "kelvin",  "meters", "metres", "seconds", "volts", NULL};
    static const char *const non_base[] = {"minutes", "hours",  "days",   "weeks",    "kelvins",
                                           "fahrenheit", "rankine", "inches", "yards", "miles",
                                           "bits",    "calories", "pounds", "ounces", NULL};
    static const char *const prefixes[] = {"pico", "nano", "micro", "milli", "centi", "deci",
                                           "deca", "hecto", "kilo", "kibi", "mega", "mibi",
                                           "giga", "gibi", "tera", "tebi", "peta", "pebi", NULL};
    if (in_list(w, n, abbreviations) || in_list(w, n, non_base))
        return true;
    for (const char *const *p = prefixes; *p; p++) {
        size_t k = strlen(*p);
        if (n > k && memcmp(w, *p, k) == 0 && (in_list(w + k, n - k, base) || in_list(w + k, n - k, non_base)))
            return true;
    }
    return false;
}

/* Why promtool would reject or lint this family name, or NULL when it is fine. */
static const char *name_problem(const char *name, kind_t kind)
{
    static const char *const type_words[] = {"counter", "gauge", "histogram", "summary", NULL};
    static const char *const reserved[] = {"process_cpu_seconds_total", "process_resident_memory_bytes",
                                           "process_open_fds", "process_threads",
                                           "process_start_time_seconds", NULL};
    if (!valid_name(name, strlen(name)))
        return "not a snake_case name";
    if (in_list(name, strlen(name), reserved))
        return "added by metrics_render itself";
    if ((kind == KIND_COUNTER) != ends_with(name, "_total"))
        return "counters, and only counters, end in _total";
    if (kind != KIND_HISTOGRAM && (ends_with(name, "_bucket") || ends_with(name, "_count") || ends_with(name, "_sum")))
        return "_bucket/_count/_sum are reserved for histograms";
    for (const char *w = name; *w;) {
        size_t n = strcspn(w, "_");
        if (in_list(w, n, type_words) && w != name)
            return "the metric type is not part of a name";
        if (bad_unit_word(w, n))
            return "units are spelled out and in base units (seconds, bytes)";
        w += n;
        if (*w == '_')
            w++;
    }
    return NULL;
}

typedef struct {
    size_t n;
    char names[MAX_LABELS][64];
} label_list_t;

/* Split "a, b,c" into label names; false when a name is invalid, repeated or too long. */
static bool parse_labels(const char *labels, label_list_t *out)
{
    out->n = 0;
    if (!labels)
        return true;
    const char *p = labels;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return true;
    for (;;) {
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (start < end && *start == ' ')
            start++;
        while (end > start && end[-1] == ' ')
            end--;
        size_t n = (size_t)(end - start);
        if (out->n >= MAX_LABELS || n >= sizeof out->names[0] || !valid_name(start, n))
            return false;
        if (n >= 2 && start[0] == '_' && start[1] == '_') /* __ is reserved by Prometheus */
            return false;
        if ((n == 2 && memcmp(start, "le", 2) == 0) || (n == 8 && memcmp(start, "quantile", 8) == 0))
            return false; /* reserved for histogram buckets and summaries */
        memcpy(out->names[out->n], start, n);
        out->names[out->n][n] = '\0';
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->names[i], out->names[out->n]) == 0)
                return false;
        out->n++;
        if (*p == '\0')
            return true;
        p++; /* skip ',' */
    }
}

static bool same_labels(const mfam_t *f, const label_list_t *l)
{
    if (f->nlabels != l->n)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(f->label_names[i], l->names[i]) != 0)
            return false;
    return true;
}

/* True when a histogram named hist would render a sample named name. */
static bool histogram_owns(const char *hist, const char *name)
{
    size_t n = strlen(hist);
    if (strncmp(hist, name, n) != 0)
        return false;
    const char *rest = name + n;
    return strcmp(rest, "_bucket") == 0 || strcmp(rest, "_sum") == 0 || strcmp(rest, "_count") == 0;
}

static bool clashes(const mfam_t *f, const char *name, kind_t kind)
{
    return (f->kind == KIND_HISTOGRAM && histogram_owns(f->name, name)) ||
           (kind == KIND_HISTOGRAM && histogram_owns(name, f->name));
}

static void fam_free(mfam_t *f)
{
    series_t *s = f->first;
    while (s) {
        series_t *next = s->next;
        free(s);
        s = next;
    }
    free(f->table);
    free(f->bounds);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static mfam_t *fam_new(metrics_t *m, kind_t kind, const char *name, const char *help,
                       const label_list_t *labels, const double *bounds, size_t nbounds)
{
    mfam_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->reg = m;
    f->kind = kind;
    f->name = strdup(name);
    f->help = strdup(help && *help ? help : name); /* promtool wants HELP text on every family */
    bool ok = f->name && f->help;
    for (size_t i = 0; ok && i < labels->n; i++) {
        f->label_names[i] = strdup(labels->names[i]);
        f->nlabels = i + 1;
        ok = f->label_names[i] != NULL;
    }
    if (ok && nbounds) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        ok = f->bounds != NULL;
        if (ok)
            memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    if (ok && f->nlabels > 0) {
        f->table_size = MIN_TABLE;
        f->table = calloc(f->table_size, sizeof *f->table);
        ok = f->table != NULL;
    } else if (ok && kind != KIND_GAUGE_FN) {
        /* An unlabelled family has exactly one series, rendered even when never touched. */
        series_t *s = series_alloc(f, NULL, 0);
        ok = s != NULL;
        if (ok)
            series_link_locked(f, s);
    }
    if (!ok) {
        fam_free(f);
        return NULL;
    }
    return f;
}

/* Strictly increasing finite bounds; a trailing +Inf is implied and dropped if given. */
static bool check_bounds(const double *bounds, size_t *n)
{
    if (*n > 0 && isinf(bounds[*n - 1]) && bounds[*n - 1] > 0)
        (*n)--;
    if (*n > MAX_BUCKETS)
        return false;
    for (size_t i = 0; i < *n; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return false;
    }
    return true;
}

/* A rejected declaration is a programming error: say so on stderr (not the log stream). */
static mfam_t *reject(const char *name, const char *why)
{
    fprintf(stderr, "metrics: cannot declare %s: %s\n", name ? name : "(null)", why);
    return NULL;
}

static mfam_t *declare(metrics_t *m, kind_t kind, const char *name, const char *help, const char *labels,
                       const double *bounds, size_t nbounds)
{
    if (!m)
        return NULL; /* "no metrics" is a supported configuration, not an error */
    if (!name)
        return reject(name, "no name");
    const char *why = name_problem(name, kind);
    if (why)
        return reject(name, why);
    label_list_t l;
    if (!parse_labels(labels, &l))
        return reject(name, "bad label names (snake_case, unique, not le/quantile/__*)");
    if (kind == KIND_HISTOGRAM) {
        if (!bounds) {
            bounds = METRICS_SECONDS_BUCKETS;
            nbounds = sizeof METRICS_SECONDS_BUCKETS / sizeof METRICS_SECONDS_BUCKETS[0];
        }
        if (!check_bounds(bounds, &nbounds))
            return reject(name, "bucket bounds must be finite and strictly increasing");
    }

    mfam_t *result = NULL;
    pthread_mutex_lock(&m->mu);
    for (mfam_t *f = m->first; f; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            bool same = f->kind == kind && same_labels(f, &l);
            pthread_mutex_unlock(&m->mu);
            return same ? f : reject(name, "declared before with another type or other labels");
        }
        if (clashes(f, name, kind)) {
            pthread_mutex_unlock(&m->mu);
            return reject(name, "clashes with the samples of a histogram");
        }
    }
    result = fam_new(m, kind, name, help, &l, bounds, kind == KIND_HISTOGRAM ? nbounds : 0);
    if (result) {
        if (m->last)
            m->last->next = result;
        else
            m->first = result;
        m->last = result;
        m->nfamilies++;
    }
    pthread_mutex_unlock(&m->mu);
    return result;
}

mfam_t *metrics_counter(metrics_t *m, const char *name, const char *help, const char *labels)
{
    return declare(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

mfam_t *metrics_gauge(metrics_t *m, const char *name, const char *help, const char *labels)
{
    return declare(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

mfam_t *metrics_histogram(metrics_t *m, const char *name, const char *help, const char *labels,
                          const double *buckets, size_t nbuckets)
{
    return declare(m, KIND_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

/* Registering the same name again replaces the callback (a component that was rebuilt). */
void metrics_gauge_fn(metrics_t *m, const char *name, const char *help, metrics_read_fn fn, void *ctx)
{
    if (!fn)
        return;
    mfam_t *f = declare(m, KIND_GAUGE_FN, name, help, NULL, NULL, 0);
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->fn = fn;
    f->ctx = ctx;
    pthread_mutex_unlock(&f->mu);
}

metrics_t *metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->dropped = metrics_counter(m, DROPPED_NAME,
                                 "Label combinations dropped because their family reached its series limit.", NULL);
    if (!m->dropped) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    mfam_t *f = m->first;
    while (f) {
        mfam_t *next = f->next;
        fam_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---------------------------------------------------------------------------------------------
 * Text exposition
 */

/* Prometheus float text: integers without exponent, others the shortest form that reads back
 * to the same double, and NaN/+Inf/-Inf spelled the way the parser expects. */
static void format_number(char *tmp, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(tmp, size, "NaN");
    } else if (isinf(v)) {
        snprintf(tmp, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(tmp, size, "0"); /* also -0 */
    } else if (v == trunc(v) && fabs(v) < 1e21) {
        snprintf(tmp, size, "%.0f", v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, size, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
}

static void put_number(buf_t *out, double v)
{
    char tmp[48];
    format_number(tmp, sizeof tmp, v);
    buf_puts(out, tmp);
}


/* Escape backslash and newline (HELP text), plus double quotes for label values. */
static void put_escaped(buf_t *out, const char *s, bool label_value)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = utf8_decode(p, 4, NULL); /* stops at the NUL: a NUL is never a continuation byte */
        if (len == 0) {
            buf_append(out, "\xEF\xBF\xBD", 3);
            p++;
        } else if (*p == '\\') {
            buf_append(out, "\\\\", 2);
            p++;
        } else if (*p == '\n') {
            buf_append(out, "\\n", 2);
            p++;
        } else if (*p == '"' && label_value) {
            buf_append(out, "\\\"", 2);
            p++;
        } else {
            buf_append(out, p, len);
            p += len;
        }
    }
}

static void put_header(buf_t *out, const char *name, const char *help, const char *type)
{
    buf_printf(out, "# HELP %s ", name);
    put_escaped(out, help, false);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* `{a="x",b="y"}` with an optional trailing le label; nothing when there are no labels. */
static void put_labels(buf_t *out, const mfam_t *f, const series_t *s, const char *le)
{
    if (f->nlabels == 0 && !le)
        return;
    buf_putc(out, '{');
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i > 0)
            buf_putc(out, ',');
        buf_printf(out, "%s=\"", f->label_names[i]);
        put_escaped(out, s->vals[i], true);
        buf_putc(out, '"');
    }
    if (le)
        buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    buf_putc(out, '}');
}

static void put_sample(buf_t *out, const char *name, const char *suffix, const mfam_t *f, const series_t *s,
                       const char *le, double v)
{
    buf_puts(out, name);
    buf_puts(out, suffix);
    put_labels(out, f, s, le);
    buf_putc(out, ' ');
    put_number(out, v);
    buf_putc(out, '\n');
}

static void render_histogram_series(buf_t *out, const mfam_t *f, const series_t *s)
{
    char le[48];
    uint64_t cumulative = 0;
    for (size_t i = 0; i < f->nbounds; i++) {
        cumulative += s->buckets[i];
        format_number(le, sizeof le, f->bounds[i]);
        put_sample(out, f->name, "_bucket", f, s, le, (double)cumulative);
    }
    put_sample(out, f->name, "_bucket", f, s, "+Inf", (double)s->count);
    put_sample(out, f->name, "_sum", f, s, NULL, s->value);
    put_sample(out, f->name, "_count", f, s, NULL, (double)s->count);
}

static void render_family(buf_t *out, mfam_t *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "gauge"};
    put_header(out, f->name, f->help, type_names[f->kind]);
    if (f->kind == KIND_GAUGE_FN) {
        pthread_mutex_lock(&f->mu);
        metrics_read_fn fn = f->fn;
        void *ctx = f->ctx;
        pthread_mutex_unlock(&f->mu);
        if (fn) /* NULL only between declaration and registration of the callback */
            put_sample(out, f->name, "", f, NULL, NULL, fn(ctx));
        return;
    }
    pthread_mutex_lock(&f->mu);
    for (const series_t *s = f->first; s; s = s->next) {
        if (f->kind == KIND_HISTOGRAM)
            render_histogram_series(out, f, s);
        else
            put_sample(out, f->name, "", f, s, NULL, s->value);
    }
    pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------------------------------------------
 * process_* metrics from /proc
 */

typedef struct {
    unsigned long long utime, stime; /* clock ticks */
    unsigned long long threads;
    unsigned long long starttime; /* clock ticks after boot */
} proc_stat_t;

static bool read_small_file(const char *path, char *buf, size_t size)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, size - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return n > 0;
}

/* /proc/self/stat: "pid (comm) state ppid ..."; comm may hold spaces and ')' so parsing starts
 * after the last ')'. Field numbers are those of proc(5). */
static bool read_proc_stat(proc_stat_t *st)
{
    char buf[2048];
    if (!read_small_file("/proc/self/stat", buf, sizeof buf))
        return false;
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    unsigned long long fields[23] = {0}; /* fields[k] = field k; 3 (state) is not numeric */
    int field = 2;
    while (*p && field < 22) {
        while (*p == ' ')
            p++;
        field++;
        char *end;
        fields[field] = strtoull(p, &end, 10);
        if (field > 3 && end == p)
            return false;
        while (*p && *p != ' ')
            p++;
    }
    if (field < 22)
        return false;
    st->utime = fields[14];
    st->stime = fields[15];
    st->threads = fields[20];
    st->starttime = fields[22];
    return true;
}

static bool read_boot_time(unsigned long long *btime)
{
    char buf[16384];
    if (!read_small_file("/proc/stat", buf, sizeof buf))
        return false;
    const char *p = strstr(buf, "\nbtime ");
    return p && sscanf(p + 7, "%llu", btime) == 1;
}

static bool read_resident_bytes(double *out)
{
    char buf[256];
    unsigned long long size, resident;
    if (!read_small_file("/proc/self/statm", buf, sizeof buf) || sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return false;
    *out = (double)resident * (double)sysconf(_SC_PAGESIZE);
    return true;
}

static bool count_open_fds(double *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    *out = (double)(n - 1); /* the directory stream's own descriptor is not the process's */
    return true;
}

static void put_process_metric(buf_t *out, const char *name, const char *help, const char *type, double v)
{
    put_header(out, name, help, type);
    buf_puts(out, name);
    buf_putc(out, ' ');
    put_number(out, v);
    buf_putc(out, '\n');
}

static void render_process(buf_t *out)
{
    double tck = (double)sysconf(_SC_CLK_TCK);
    proc_stat_t st;
    bool have_stat = tck > 0 && read_proc_stat(&st);
    double v;
    if (have_stat)
        put_process_metric(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                           "counter", (double)(st.utime + st.stime) / tck);
    if (count_open_fds(&v))
        put_process_metric(out, "process_open_fds", "Number of open file descriptors.", "gauge", v);
    if (read_resident_bytes(&v))
        put_process_metric(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", v);
    unsigned long long btime;
    if (have_stat && read_boot_time(&btime))
        put_process_metric(out, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.", "gauge",
                           (double)btime + (double)st.starttime / tck);
    if (have_stat)
        put_process_metric(out, "process_threads", "Number of OS threads in the process.", "gauge",
                           (double)st.threads);
}

void metrics_render(metrics_t *m, buf_t *out)
{
    if (!m || !out)
        return;
    /* The list is append-only: the first n families and their links are stable once read under
     * the lock, so families declared during the render are simply left for the next one. */
    pthread_mutex_lock(&m->mu);
    mfam_t *f = m->first;
    size_t n = m->nfamilies;
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            f = f->next; /* never reads the last family's link, which a declaration may be writing */
        render_family(out, f);
    }
    render_process(out);
}
