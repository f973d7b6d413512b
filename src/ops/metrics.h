/*
 * metrics.h - the per-process metrics registry (SC-36) and its Prometheus text exposition (E30).
 *
 * State: one registry per process, created by main and passed down (never a hidden static).
 * Families are declared once at start-up (metrics_counter/gauge/histogram) and then updated from
 * any thread; series (one per combination of label values) are created on first use.
 *
 * Contract:
 *  - Label values are passed as an array whose length equals the number of label names given at
 *    declaration (labels "route,status" -> 2 values). Use MX_LV("a","b") to build the array.
 *  - Thread-safety: every function is safe to call concurrently; updates of one family take that
 *    family's mutex for a few instructions.
 *  - Bounded: a family holds at most METRICS_MAX_SERIES series; further label combinations are
 *    dropped and counted in metrics_dropped_series_total (no unbounded growth, H31).
 *  - Declaring the same name twice returns the existing family (same type required, else NULL).
 *  - Rendering: text format 0.0.4, every family with HELP and TYPE, passes `promtool check metrics`.
 *    Families without any series render HELP/TYPE only (except unlabelled ones, which render 0).
 *  - process_* metrics (cpu seconds, resident memory, open fds, threads, start time) are added by
 *    metrics_render from /proc/self.
 */
#ifndef MX_OPS_METRICS_H
#define MX_OPS_METRICS_H

#include <stddef.h>

#include "base/buf.h"

#define METRICS_MAX_SERIES 2048

typedef struct metrics metrics_t;
typedef struct mfam mfam_t;

#define MX_LV(...) ((const char *const[]){__VA_ARGS__})

/* Default buckets of section 4.1. */
extern const double METRICS_SECONDS_BUCKETS[12];
extern const double METRICS_BYTES_BUCKETS[7];

metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* labels: comma-separated label names, "" or NULL for none. Returns NULL only on misuse. */
mfam_t *metrics_counter(metrics_t *m, const char *name, const char *help, const char *labels);
mfam_t *metrics_gauge(metrics_t *m, const char *name, const char *help, const char *labels);
mfam_t *metrics_histogram(metrics_t *m, const char *name, const char *help, const char *labels,
                          const double *buckets, size_t nbuckets);

/* A gauge whose value is read at render time from fn(ctx) (unlabelled). */
typedef double (*metrics_read_fn)(void *ctx);
void metrics_gauge_fn(metrics_t *m, const char *name, const char *help, metrics_read_fn fn, void *ctx);

/* vals may be NULL for unlabelled families. NULL f is a no-op (so optional metrics cost nothing). */
void mfam_add(mfam_t *f, const char *const *vals, double delta);   /* counter or gauge */
void mfam_set(mfam_t *f, const char *const *vals, double value);   /* gauge */
void mfam_observe(mfam_t *f, const char *const *vals, double value); /* histogram */
double mfam_get(mfam_t *f, const char *const *vals); /* counter/gauge value (tests, health) */

/* Render the whole registry (plus process_* metrics) in text format 0.0.4. */
void metrics_render(metrics_t *m, buf_t *out);

#endif
