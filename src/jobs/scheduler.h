/*
 * scheduler.h - the background job scheduler (spec 2.5) with DB-tier leader leases (SC-06, 2.3.4),
 * and the one configuration struct of every background job (periods, batches, thresholds).
 *
 * Model:
 *  - One scheduler thread keeps a fixed-rate timer per job (period_ms) and, per held lease, a
 *    renewal timer. Each job has its own small thread that runs its function; a job therefore
 *    never blocks the others, and never overlaps itself: a tick that finds the previous run of
 *    the same job still active is skipped and counted job_runs_total{result="skipped_overlap"}.
 *  - Cluster-once jobs name a lease. At a tick where the instance does not hold it, the job thread
 *    tries store lease_acquire(name, instance_id, lease_ttl_ms): busy (or unavailable) -> the run
 *    is skipped and counted skipped_not_leader; the job never runs without its lease (H03).
 *    While held, the scheduler renews it every lease_renew_ms; a failed renewal (NOT_FOUND or
 *    UNAVAILABLE) means the lease is lost: lease_lost_total{lease} + 1, lease_held 0, and the
 *    running job sees job_should_stop() == true. Leases are owned by the instance (not a thread,
 *    H15) and released by scheduler_release_leases / scheduler_free (shutdown phase 5).
 *    Several jobs may name the same lease; it is acquired once.
 *  - Lease times are the DB clock: the store is given clock_wall_ms() (the SQLite process is the
 *    DB clock in standalone mode, G4). Job timers use the monotonic clock.
 *  - Each scheduler loop iteration calls lc_tick_scheduler (liveness, E26); the loop wakes at
 *    least every tick_ms.
 *
 * Metrics: job_runs_total{job,result} (ok, error, skipped_not_leader, skipped_overlap),
 * job_duration_seconds{job}, job_last_success_timestamp_seconds{job},
 * lease_acquisitions_total{lease,tier="db",result} (acquired, busy, unavailable),
 * lease_held{lease,tier="db"}, lease_lost_total{lease}.
 * Logs: one line per run (job, lease, fencing_token, result, items, duration_ms): INFO when the
 * run failed or did something (items > 0), DEBUG for idle successful runs and skipped ticks.
 *
 * Shutdown (spec 3.5): phase 1 scheduler_stop_starting (no new runs; running jobs see
 * job_should_stop), phase 3 scheduler_wait_idle, phase 4 scheduler_run_final (e.g. a last
 * like-fold pass when this instance holds like-fold), phase 5 scheduler_release_leases, then
 * scheduler_free (before the store is closed).
 *
 * State: per instance, in memory (the leases themselves live in the store's job_lease table).
 * Thread-safety: scheduler_add only before scheduler_start, from one thread; every other
 * function is thread-safe. Errors: functions returning bool return false on misuse or no memory.
 */
#ifndef MX_JOBS_SCHEDULER_H
#define MX_JOBS_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/lifecycle.h"
#include "ops/metrics.h"
#include "store/store.h"

#define DB_LEASE_TTL_S 30
#define SCHED_MAX_JOBS 32

/* Every period and threshold of the background jobs (defaults from spec 2.5 / SC-16 / SC-18). */
typedef struct {
    /* scheduler and DB leases (SC-06, J20) */
    int tick_ms;                    /* 1000: longest sleep of the scheduler loop */
    int lease_ttl_ms;               /* 30000 (DB_LEASE_TTL_S) */
    int lease_renew_ms;             /* 10000 */
    /* J01 like-delta fold (lease "like-fold") */
    int fold_period_ms;             /* 5000 */
    int fold_batch;                 /* 1000 */
    /* J03 donation outbox relay (every instance) */
    int relay_period_ms;            /* 15000 */
    int relay_batch;                /* 100 */
    int backoff_base_s;             /* 30: next_retry_at = now + min(2^retry_count * base, max) */
    int backoff_max_s;              /* 3600 */
    const char *webhook_url;        /* DONATION_NOTIFY_WEBHOOK_URL; NULL or "" = log only; copied by relay_new */
    int webhook_connect_timeout_ms; /* 5000 */
    int webhook_timeout_ms;         /* 5000 (whole request) */
    /* J05 stalled-claim recovery (lease "outbox-recovery") */
    int reclaim_period_ms;          /* 300000 */
    int64_t reclaim_stale_ms;       /* 300000 */
    /* J06 outbox / DLQ gauges (lease "monitor") */
    int monitor_period_ms;          /* 60000 */
    /* J17 auth purge (lease "auth-purge") */
    int auth_purge_period_ms;       /* 600000 */
    /* J18 outbox retention (lease "outbox-retention") */
    int retention_period_ms;        /* 86400000 */
    int64_t retention_keep_ms;      /* 7 days */
} jobs_config_t;

void jobs_config_defaults(jobs_config_t *c);

/* What one run did: items processed and whether it succeeded (ok = false -> result "error"). */
typedef struct {
    int64_t items;
    bool ok;
} job_result_t;

struct sched_job;

/* Given to a job function for one run; valid only during that run. */
typedef struct {
    const char *job;          /* job name */
    const char *lease;        /* lease name, NULL for every-instance jobs */
    int64_t fencing_token;    /* token of the held lease (0 without a lease) */
    void *arg;                /* job_spec_t.arg */
    bool final_pass;          /* run by scheduler_run_final (shutdown phase 4) */
    struct sched_job *job_;   /* private; NULL in a hand-made context (job_should_stop = false) */
} job_ctx_t;

typedef job_result_t (*job_fn)(job_ctx_t *ctx);

typedef struct {
    const char *name;   /* copied; unique */
    int period_ms;      /* fixed-rate timer, > 0 */
    int first_delay_ms; /* first tick this long after scheduler_start (0 = at once) */
    const char *lease;  /* copied; NULL = runs on every instance without a lease */
    job_fn fn;
    void *arg;
} job_spec_t;

/* Loops inside a run (back-to-back batches) check this between batches: true when the lease
 * was lost, or the scheduler is stopping (except in a final pass), or it is being freed. */
bool job_should_stop(const job_ctx_t *ctx);

typedef struct scheduler scheduler_t;

/* store, metrics, lc may be NULL (tests without metrics / lifecycle; no store -> cluster-once jobs
 * never run). instance_id is copied (the lease holder). cfg NULL = defaults (only tick_ms,
 * lease_ttl_ms and lease_renew_ms are read). */
scheduler_t *scheduler_new(store_t *store, metrics_t *m, lifecycle_t *lc, const char *instance_id,
                           const jobs_config_t *cfg);
bool scheduler_add(scheduler_t *s, const job_spec_t *spec);
bool scheduler_start(scheduler_t *s);
/* Phase 1: no run starts after this returns (a tick already handed to a job thread but not yet
 * started is dropped). Idempotent. */
void scheduler_stop_starting(scheduler_t *s);
/* Phase 3: waits until no job runs. True when idle, false at the timeout. */
bool scheduler_wait_idle(scheduler_t *s, int64_t timeout_ms);
/* Phase 4: runs the named job once on the caller's thread with final_pass = true, if it is not
 * running and (for a cluster-once job) this instance still holds its lease. Returns 1 ran,
 * 0 skipped, -1 unknown job. Counted like a normal run. */
int scheduler_run_final(scheduler_t *s, const char *job);
/* Phase 5: stops renewals and releases every held lease (store lease_release). Later ticks do
 * not re-acquire. Idempotent. */
void scheduler_release_leases(scheduler_t *s);
/* True when this instance currently holds the lease (tests, health). */
bool scheduler_holds_lease(scheduler_t *s, const char *lease, int64_t *token);
/* Stops starting, lets running jobs finish (they see job_should_stop), joins every thread,
 * releases the leases, frees. Call before the store is closed. NULL is a no-op. */
void scheduler_free(scheduler_t *s);

#endif
