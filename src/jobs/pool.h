/*
 * pool.h - bounded worker pool (SC-13, 3.4): N threads, a queue of at most Q waiting tasks.
 *
 * Contract (3.4 rules):
 *  - pool_submit never blocks and never runs the task on the caller: a full queue (or a closed
 *    pool) returns false at once and counts work_rejected_total{pool}.
 *  - Every accepted task ends exactly once: run(arg), or expire(arg) when it is dequeued with
 *    less than 1 s of its deadline left (counted work_expired_total{pool}). pool_free lets the
 *    queued tasks run (or expire) before it joins the threads.
 *  - Metrics: work_queue_depth, work_queue_capacity, work_active (gauges),
 *    work_queue_wait_seconds, work_duration_seconds (histograms), all labelled pool=<name>.
 * State: per instance, in memory. Thread-safety: all functions are thread-safe.
 */
#ifndef MX_JOBS_POOL_H
#define MX_JOBS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/metrics.h"

typedef struct pool pool_t;
typedef void (*pool_fn)(void *arg);

pool_t *pool_new(const char *name, int threads, int queue_cap, metrics_t *m);
/* deadline_ms: monotonic ms (0 = none). */
bool pool_submit(pool_t *p, pool_fn run, pool_fn expire, void *arg, int64_t deadline_ms);
/* Tasks queued + running. */
size_t pool_busy(pool_t *p);
/* Stops accepting, lets queued tasks run, joins the threads, frees. */
void pool_free(pool_t *p);

#endif
