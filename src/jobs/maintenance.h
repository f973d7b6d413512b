/*
 * maintenance.h - the cluster-once maintenance jobs (spec 2.5), each run under its DB lease by the
 * scheduler (scheduler.h):
 *
 *   job name           lease               period (jobs_config_t)   does
 *   like_fold          like-fold           fold_period_ms 5 s       J01: store like_fold(fold_batch) again and
 *                                                                   again while a full batch came back (2.3.6;
 *                                                                   H01: deltas leave only in the folding
 *                                                                   transaction); then the backlog gauges
 *   outbox_recovery    outbox-recovery     reclaim_period_ms 5 min  J05: outbox_reclaim of claims older than
 *                                                                   reclaim_stale_ms, both outboxes (H16: only
 *                                                                   claims whose holder let them go stale)
 *   outbox_monitor     monitor             monitor_period_ms 60 s   J06 (gauges only): outbox_rows, dlq_rows
 *   auth_purge         auth-purge          auth_purge_period_ms     J17: expired sessions and refresh tokens
 *   outbox_retention   outbox-retention    retention_period_ms 1 d  J18: COMPLETED rows older than
 *                                                                   retention_keep_ms, both outboxes
 *
 * Times given to the store are clock_wall_ms() (the DB clock in standalone mode).
 * Metrics: like_fold_runs_total{result} (ok, error), like_fold_deltas_total, like_delta_pending,
 * like_delta_oldest_age_seconds, outbox_transitions_total{outbox,to} (reclaimed, dead_letter),
 * dlq_safety_net_total{queue,tier="db"}, outbox_rows{outbox,status}, dlq_rows{queue};
 * outbox/queue label values "donation" and "upstream", status values as stored (PENDING, ...).
 * Gauges of shared state are set only by lease holders (SC-36).
 *
 * Not implemented: the SC-07 run log for J18 (store.h has no job_run operations yet), so J18 runs
 * every retention_period_ms from start rather than at 04:00 with a per-day run-log row; a repeated
 * run is harmless (the purge is idempotent).
 *
 * State: per instance, configuration only. Thread-safety: the job functions may run on any
 * thread; the scheduler never runs one job twice at once.
 */
#ifndef MX_JOBS_MAINTENANCE_H
#define MX_JOBS_MAINTENANCE_H

#include <stdbool.h>

#include "jobs/scheduler.h"
#include "ops/metrics.h"
#include "store/store.h"

#define LEASE_LIKE_FOLD "like-fold"
#define LEASE_OUTBOX_RECOVERY "outbox-recovery"
#define LEASE_MONITOR "monitor"
#define LEASE_AUTH_PURGE "auth-purge"
#define LEASE_OUTBOX_RETENTION "outbox-retention"

#define JOB_LIKE_FOLD "like_fold"
#define JOB_OUTBOX_RECOVERY "outbox_recovery"
#define JOB_OUTBOX_MONITOR "outbox_monitor"
#define JOB_AUTH_PURGE "auth_purge"
#define JOB_OUTBOX_RETENTION "outbox_retention"

typedef struct maint maint_t;

/* cfg NULL = defaults; the values are copied. NULL only without memory or store. */
maint_t *maint_new(store_t *store, metrics_t *m, const jobs_config_t *cfg);
/* Adds the five jobs above to s (before scheduler_start). */
bool maint_register(maint_t *mt, scheduler_t *s);
void maint_free(maint_t *mt);

/* The job functions (ctx->arg is the maint_t); exposed for tests and for scheduler_run_final. */
job_result_t maint_fold_job(job_ctx_t *ctx);
job_result_t maint_reclaim_job(job_ctx_t *ctx);
job_result_t maint_monitor_job(job_ctx_t *ctx);
job_result_t maint_auth_purge_job(job_ctx_t *ctx);
job_result_t maint_retention_job(job_ctx_t *ctx);

#endif
