/*
 * v5.h - V5 calculation workers (J08, SC-21, 2.3.9 in its standalone form).
 *
 * V5_WORKERS threads take jobs from the coordination queue (coord.h; in-process here, Redis
 * streams in cluster mode): the first V5_HIGH_ONLY_WORKERS take only HIGH jobs, the others HIGH
 * then LOW. A job is computed through the expectation single-flight (so V4 and V5 never compute
 * one IGN twice at the same time), its view is written to the store before the job is
 * acknowledged, and the in-flight marker is deleted. Not found -> failure marker C002 (300 s);
 * other failures -> failure marker S005 (60 s).
 *
 * State: the threads and counters of this instance. Thread-safety: start/stop from one thread.
 */
#ifndef MX_JOBS_V5_H
#define MX_JOBS_V5_H

#include "app/app.h"

typedef struct v5_workers v5_workers_t;

v5_workers_t *v5_start(app_t *a);
/* Phase 1: stop taking new jobs (the queue is closed). */
void v5_stop_taking(v5_workers_t *v);
/* Jobs being processed right now. */
int v5_busy(v5_workers_t *v);
/* Joins the threads (after v5_stop_taking) and frees. */
void v5_free(v5_workers_t *v);

#endif
