/*
 * maintenance.c - the cluster-once maintenance jobs (maintenance.h): like-delta fold (J01),
 * stalled-claim recovery (J05), outbox/DLQ gauges (J06), auth purge (J17), outbox retention (J18).
 *
 * Each job is a thin loop over one store operation: the store does the transactional work, the
 * job adds metrics and logs. A store operation a backend does not provide (NULL) makes the run
 * fail instead of crashing.
 */
#include "jobs/maintenance.h"

#include <stdlib.h>

#include "base/clock.h"
#include "ops/log.h"

struct maint {
    store_t *store;
    jobs_config_t cfg;
    mfam_t *fold_runs, *fold_deltas, *delta_pending, *delta_age;
    mfam_t *transitions, *safety_net, *outbox_rows, *dlq_rows;
};

static const outbox_queue_t QUEUES[] = {OUTBOX_DONATION, OUTBOX_UPSTREAM};
static const char *const QUEUE_LABEL[] = {[OUTBOX_DONATION] = "donation", [OUTBOX_UPSTREAM] = "upstream"};
#define NQUEUES (sizeof QUEUES / sizeof QUEUES[0])

#define HAS_OP(st, op) ((st) && (st)->ops->op)

/* ---- J01 like-delta fold ------------------------------------------------------------------- */

static void publish_backlog(maint_t *mt)
{
    if (!HAS_OP(mt->store, like_backlog))
        return;
    int64_t pending = 0, oldest_ms = 0;
    if (mt->store->ops->like_backlog(mt->store, &pending, &oldest_ms) != STORE_OK)
        return;
    int64_t age_ms = oldest_ms > 0 ? clock_wall_ms() - oldest_ms : 0;
    mfam_set(mt->delta_pending, NULL, (double)pending);
    mfam_set(mt->delta_age, NULL, age_ms > 0 ? (double)age_ms / 1000.0 : 0);
}

job_result_t maint_fold_job(job_ctx_t *ctx)
{
    maint_t *mt = ctx->arg;
    job_result_t res = {0, HAS_OP(mt->store, like_fold)};
    int batch = mt->cfg.fold_batch;
    while (res.ok) {
        int64_t folded = 0;
        store_rc_t rc = mt->store->ops->like_fold(mt->store, batch, &folded);
        if (rc != STORE_OK) {
            log_emit(LOG_WARN, "jobs", "like.fold", NULL, NULL, "like fold failed: %s", store_rc_name(rc));
            res.ok = false;
            break;
        }
        res.items += folded;
        if (folded < batch || job_should_stop(ctx))
            break;
    }
    mfam_add(mt->fold_runs, MX_LV(res.ok ? "ok" : "error"), 1);
    mfam_add(mt->fold_deltas, NULL, (double)res.items);
    publish_backlog(mt);
    return res;
}

/* ---- J05 stalled-claim recovery ------------------------------------------------------------ */

job_result_t maint_reclaim_job(job_ctx_t *ctx)
{
    maint_t *mt = ctx->arg;
    job_result_t res = {0, HAS_OP(mt->store, outbox_reclaim)};
    for (size_t i = 0; i < NQUEUES && res.ok; i++) {
        int64_t now = clock_wall_ms(), reclaimed = 0, dead = 0;
        const char *label = QUEUE_LABEL[QUEUES[i]];
        store_rc_t rc = mt->store->ops->outbox_reclaim(mt->store, QUEUES[i], now - mt->cfg.reclaim_stale_ms, now,
                                                       &reclaimed, &dead);
        if (rc != STORE_OK) {
            log_emit(LOG_WARN, "jobs", "outbox.reclaim", NULL, NULL, "%s outbox reclaim failed: %s", label, store_rc_name(rc));
            res.ok = false;
            break;
        }
        mfam_add(mt->transitions, MX_LV(label, "reclaimed"), (double)reclaimed);
        mfam_add(mt->transitions, MX_LV(label, "dead_letter"), (double)dead);
        mfam_add(mt->safety_net, MX_LV(label, "db"), (double)dead);
        if (reclaimed || dead)
            log_emit(dead ? LOG_WARN : LOG_INFO, "jobs", "outbox.reclaim", NULL, NULL,
                     "%s outbox: %lld stalled claim(s) returned to PENDING, %lld dead-lettered (integrity)", label,
                     (long long)reclaimed, (long long)dead);
        res.items += reclaimed + dead;
    }
    return res;
}

/* ---- J06 outbox and DLQ gauges ------------------------------------------------------------- */

job_result_t maint_monitor_job(job_ctx_t *ctx)
{
    maint_t *mt = ctx->arg;
    job_result_t res = {0, HAS_OP(mt->store, outbox_counts) && HAS_OP(mt->store, dlq_count)};
    for (size_t i = 0; i < NQUEUES && res.ok; i++) {
        const char *label = QUEUE_LABEL[QUEUES[i]];
        store_outbox_counts_t c = {0};
        int64_t dlq = 0;
        if (mt->store->ops->outbox_counts(mt->store, QUEUES[i], &c) != STORE_OK ||
            mt->store->ops->dlq_count(mt->store, QUEUES[i], &dlq) != STORE_OK) {
            res.ok = false;
            break;
        }
        mfam_set(mt->outbox_rows, MX_LV(label, "PENDING"), (double)c.pending);
        mfam_set(mt->outbox_rows, MX_LV(label, "PROCESSING"), (double)c.processing);
        mfam_set(mt->outbox_rows, MX_LV(label, "COMPLETED"), (double)c.completed);
        mfam_set(mt->outbox_rows, MX_LV(label, "FAILED"), (double)c.failed);
        mfam_set(mt->outbox_rows, MX_LV(label, "DEAD_LETTER"), (double)c.dead_letter);
        mfam_set(mt->dlq_rows, MX_LV(label), (double)dlq);
    }
    return res;
}

/* ---- J17 auth purge ------------------------------------------------------------------------ */

job_result_t maint_auth_purge_job(job_ctx_t *ctx)
{
    maint_t *mt = ctx->arg;
    job_result_t res = {0, HAS_OP(mt->store, auth_purge)};
    if (res.ok) {
        store_rc_t rc = mt->store->ops->auth_purge(mt->store, clock_wall_ms(), &res.items);
        if (rc != STORE_OK) {
            log_emit(LOG_WARN, "jobs", "auth.purge", NULL, NULL, "auth purge failed: %s", store_rc_name(rc));
            res.ok = false;
        }
    }
    return res;
}

/* ---- J18 outbox retention ------------------------------------------------------------------ */

job_result_t maint_retention_job(job_ctx_t *ctx)
{
    maint_t *mt = ctx->arg;
    job_result_t res = {0, HAS_OP(mt->store, outbox_purge)};
    for (size_t i = 0; i < NQUEUES && res.ok; i++) {
        int64_t deleted = 0;
        store_rc_t rc = mt->store->ops->outbox_purge(mt->store, QUEUES[i], clock_wall_ms() - mt->cfg.retention_keep_ms,
                                                     &deleted);
        if (rc != STORE_OK) {
            log_emit(LOG_WARN, "jobs", "outbox.retention", NULL, NULL, "%s outbox retention failed: %s",
                     QUEUE_LABEL[QUEUES[i]], store_rc_name(rc));
            res.ok = false;
        }
        res.items += deleted;
    }
    return res;
}

/* ---- construction -------------------------------------------------------------------------- */

maint_t *maint_new(store_t *store, metrics_t *m, const jobs_config_t *cfg)
{
    if (!store)
        return NULL;
    maint_t *mt = calloc(1, sizeof *mt);
    if (!mt)
        return NULL;
    mt->store = store;
    jobs_config_defaults(&mt->cfg);
    if (cfg)
        mt->cfg = *cfg;
    mt->cfg.webhook_url = NULL; /* not ours: never keep a borrowed pointer */
    if (mt->cfg.fold_batch <= 0)
        mt->cfg.fold_batch = 1000;
    mt->fold_runs = metrics_counter(m, "like_fold_runs_total", "Like-delta fold runs (J01).", "result");
    mt->fold_deltas = metrics_counter(m, "like_fold_deltas_total", "Like deltas folded into like_count.", "");
    mt->delta_pending = metrics_gauge(m, "like_delta_pending", "Like deltas waiting for the fold (holder).", "");
    mt->delta_age = metrics_gauge(m, "like_delta_oldest_age_seconds", "Age of the oldest pending like delta (holder).", "");
    mt->transitions = metrics_counter(m, "outbox_transitions_total", "Outbox row state transitions.", "outbox,to");
    mt->safety_net = metrics_counter(m, "dlq_safety_net_total", "Rows moved to a dead-letter tier.", "queue,tier");
    mt->outbox_rows = metrics_gauge(m, "outbox_rows", "Outbox rows by status (holder).", "outbox,status");
    mt->dlq_rows = metrics_gauge(m, "dlq_rows", "Dead-letter rows (holder).", "queue");
    return mt;
}

bool maint_register(maint_t *mt, scheduler_t *s)
{
    if (!mt || !s)
        return false;
    const jobs_config_t *c = &mt->cfg;
    const job_spec_t specs[] = {
        {.name = JOB_LIKE_FOLD, .period_ms = c->fold_period_ms, .lease = LEASE_LIKE_FOLD, .fn = maint_fold_job},
        {.name = JOB_OUTBOX_RECOVERY, .period_ms = c->reclaim_period_ms, .lease = LEASE_OUTBOX_RECOVERY,
         .fn = maint_reclaim_job},
        {.name = JOB_OUTBOX_MONITOR, .period_ms = c->monitor_period_ms, .lease = LEASE_MONITOR, .fn = maint_monitor_job},
        {.name = JOB_AUTH_PURGE, .period_ms = c->auth_purge_period_ms, .lease = LEASE_AUTH_PURGE,
         .fn = maint_auth_purge_job},
        {.name = JOB_OUTBOX_RETENTION, .period_ms = c->retention_period_ms, .lease = LEASE_OUTBOX_RETENTION,
         .fn = maint_retention_job},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        job_spec_t spec = specs[i];
        spec.arg = mt;
        if (!scheduler_add(s, &spec))
            return false;
    }
    return true;
}

void maint_free(maint_t *mt)
{
    free(mt);
}
