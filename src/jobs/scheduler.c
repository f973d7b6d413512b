/*
 * scheduler.c - the background job scheduler and its DB-tier leases (scheduler.h).
 *
 * Threads: one scheduler thread (timers, lease renewals, liveness ticks) and one thread per job.
 * The scheduler thread never runs job code; it hands a tick to the job's thread by setting
 * `trigger`, and counts skipped_overlap when the job is still busy with the previous tick.
 *
 * Locks: `mu` guards the scheduler and job flags and the renewal times; each lease has `op_mu`,
 * held around the store's lease calls for that lease (acquire / renew / release never race each
 * other). Order: op_mu before mu; nobody calls the store while holding mu. The held token is an
 * atomic so that job_should_stop reads it without a lock.
 */
#include "jobs/scheduler.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "ops/log.h"

#define LEASE_NAME_MAX 64
#define INSTANCE_MAX 100

typedef struct {
    char name[LEASE_NAME_MAX + 1];
    pthread_mutex_t op_mu;
    _Atomic int64_t token;  /* fencing token while held, 0 when not held */
    int64_t next_renew_ms;  /* monotonic; guarded by the scheduler's mu */
} lease_t;

struct sched_job {
    scheduler_t *s;
    char *name;
    lease_t *lease;
    job_fn fn;
    void *arg;
    int period_ms, first_delay_ms;
    int64_t next_due_ms;    /* monotonic */
    bool busy;              /* a tick was handed over and has not finished (guarded by mu) */
    bool trigger;           /* the job thread should take the tick (guarded by mu) */
    pthread_t thread;
    bool thread_started;
};

struct scheduler {
    store_t *store;
    lifecycle_t *lc;
    char instance[INSTANCE_MAX + 1];
    int tick_ms, ttl_ms, renew_ms;

    pthread_mutex_t mu;
    pthread_cond_t wake;    /* the scheduler loop (monotonic clock) */
    pthread_cond_t work;    /* job threads */
    pthread_cond_t idle;    /* a job finished */
    struct sched_job jobs[SCHED_MAX_JOBS];
    size_t njobs;
    lease_t leases[SCHED_MAX_JOBS];
    size_t nleases;
    bool started, loop_started, quit, leases_released;
    _Atomic bool stopping;  /* phase 1 */
    _Atomic bool quitting;  /* scheduler_free */
    pthread_t thread;

    mfam_t *runs, *duration, *last_success, *lease_acq, *lease_held, *lease_lost;
};

void jobs_config_defaults(jobs_config_t *c)
{
    *c = (jobs_config_t){
        .tick_ms = 1000,
        .lease_ttl_ms = DB_LEASE_TTL_S * 1000,
        .lease_renew_ms = 10000,
        .fold_period_ms = 5000,
        .fold_batch = 1000,
        .relay_period_ms = 15000,
        .relay_batch = 100,
        .backoff_base_s = 30,
        .backoff_max_s = 3600,
        .webhook_url = NULL,
        .webhook_connect_timeout_ms = 5000,
        .webhook_timeout_ms = 5000,
        .reclaim_period_ms = 300000,
        .reclaim_stale_ms = 300000,
        .monitor_period_ms = 60000,
        .auth_purge_period_ms = 600000,
        .retention_period_ms = 86400000,
        .retention_keep_ms = 7LL * 86400000,
    };
}

/* ---- small helpers ------------------------------------------------------------------------- */

static void cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

static void wait_until_mono(pthread_cond_t *c, pthread_mutex_t *mu, int64_t when_ms)
{
    struct timespec ts = {.tv_sec = when_ms / 1000, .tv_nsec = (long)(when_ms % 1000) * 1000000L};
    pthread_cond_timedwait(c, mu, &ts);
}

static lease_t *lease_find(scheduler_t *s, const char *name)
{
    for (size_t i = 0; i < s->nleases; i++)
        if (strcmp(s->leases[i].name, name) == 0)
            return &s->leases[i];
    return NULL;
}

static struct sched_job *job_find(scheduler_t *s, const char *name)
{
    for (size_t i = 0; i < s->njobs; i++)
        if (strcmp(s->jobs[i].name, name) == 0)
            return &s->jobs[i];
    return NULL;
}

static void count_run(scheduler_t *s, const char *job, const char *result)
{
    mfam_add(s->runs, MX_LV(job, result), 1);
}

static void log_run(const struct sched_job *j, int64_t token, const char *result, int64_t items,
                    double duration_ms)
{
    bool quiet = strcmp(result, "ok") == 0 ? items == 0 : strncmp(result, "skipped", 7) == 0;
    log_level_t level = quiet ? LOG_DEBUG : LOG_INFO;
    if (!log_enabled(level))
        return;
    buf_t f;
    buf_init(&f, 4096);
    log_fields_str(&f, "job", j->name);
    log_fields_str(&f, "lease", j->lease ? j->lease->name : NULL);
    log_fields_int(&f, "fencing_token", token);
    log_fields_str(&f, "period_key", NULL);
    log_fields_str(&f, "result", result);
    log_fields_int(&f, "items", items);
    log_fields_num(&f, "duration_ms", duration_ms);
    log_emit(level, "scheduler", "job.run", NULL, buf_cstr(&f), "job %s: %s", j->name, result);
    buf_dispose(&f);
}

/* ---- leases ---------------------------------------------------------------------------------- */

static void lease_set_held(scheduler_t *s, lease_t *l, bool held)
{
    mfam_set(s->lease_held, MX_LV(l->name, "db"), held ? 1 : 0);
}

/* The held token, acquiring the lease first when it is not held. 0 = not leader (busy,
 * unavailable, released for shutdown, or no store). */
static int64_t lease_ensure(scheduler_t *s, lease_t *l)
{
    int64_t tok = atomic_load(&l->token);
    if (tok)
        return tok;
    pthread_mutex_lock(&l->op_mu);
    tok = atomic_load(&l->token);
    pthread_mutex_lock(&s->mu);
    bool released = s->leases_released;
    pthread_mutex_unlock(&s->mu);
    if (tok || released || !s->store) {
        pthread_mutex_unlock(&l->op_mu);
        return tok;
    }
    int64_t got = 0;
    store_rc_t rc = s->store->ops->lease_acquire(s->store, l->name, s->instance, s->ttl_ms, clock_wall_ms(), &got);
    const char *result = rc == STORE_OK ? "acquired" : rc == STORE_NOT_FOUND ? "busy" : "unavailable";
    mfam_add(s->lease_acq, MX_LV(l->name, "db", result), 1);
    if (rc == STORE_OK && got > 0) {
        pthread_mutex_lock(&s->mu); /* renewal time first, so the loop never sees a held lease without one */
        l->next_renew_ms = clock_mono_ms() + s->renew_ms;
        atomic_store(&l->token, got);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        lease_set_held(s, l, true);
        log_emit(LOG_INFO, "scheduler", "lease.acquire", NULL, NULL, "lease %s acquired (fencing token %lld)",
                 l->name, (long long)got);
        tok = got;
    } else if (rc == STORE_UNAVAILABLE) {
        log_emit(LOG_WARN, "scheduler", "lease.acquire", NULL, NULL, "lease %s: store unavailable", l->name);
    }
    pthread_mutex_unlock(&l->op_mu);
    return tok;
}

/* Scheduler thread: renew one lease whose renewal is due. Any failure means lost (2.3.4). */
static void lease_renew(scheduler_t *s, lease_t *l)
{
    pthread_mutex_lock(&l->op_mu);
    int64_t tok = atomic_load(&l->token);
    if (tok && s->store) {
        store_rc_t rc = s->store->ops->lease_renew(s->store, l->name, s->instance, tok, s->ttl_ms, clock_wall_ms());
        if (rc == STORE_OK) {
            pthread_mutex_lock(&s->mu);
            l->next_renew_ms = clock_mono_ms() + s->renew_ms;
            pthread_mutex_unlock(&s->mu);
        } else {
            atomic_store(&l->token, 0);
            lease_set_held(s, l, false);
            mfam_add(s->lease_lost, MX_LV(l->name), 1);
            log_emit(LOG_WARN, "scheduler", "lease.renew", NULL, NULL, "lease %s lost (renewal: %s, fencing token %lld)",
                     l->name, store_rc_name(rc), (long long)tok);
        }
    }
    pthread_mutex_unlock(&l->op_mu);
}

static void lease_release(scheduler_t *s, lease_t *l)
{
    pthread_mutex_lock(&l->op_mu);
    int64_t tok = atomic_exchange(&l->token, 0);
    if (tok) {
        store_rc_t rc = s->store ? s->store->ops->lease_release(s->store, l->name, s->instance, tok) : STORE_OK;
        lease_set_held(s, l, false);
        log_emit(rc == STORE_OK ? LOG_INFO : LOG_WARN, "scheduler", "lease.release", NULL, NULL,
                 "lease %s released (%s)", l->name, store_rc_name(rc));
    }
    pthread_mutex_unlock(&l->op_mu);
}

/* ---- runs ------------------------------------------------------------------------------------ */

bool job_should_stop(const job_ctx_t *ctx)
{
    if (!ctx || !ctx->job_)
        return false;
    const struct sched_job *j = ctx->job_;
    scheduler_t *s = j->s;
    if (atomic_load(&s->quitting))
        return true;
    if (!ctx->final_pass && atomic_load(&s->stopping))
        return true;
    return j->lease && atomic_load(&j->lease->token) != ctx->fencing_token;
}

/* One run of a job on the calling thread. final: only with a lease already held, never acquire. */
static bool run_job(struct sched_job *j, bool final)
{
    scheduler_t *s = j->s;
    int64_t token = 0;
    if (j->lease) {
        token = final ? atomic_load(&j->lease->token) : lease_ensure(s, j->lease);
        if (!token) {
            if (!final) {
                count_run(s, j->name, "skipped_not_leader");
                log_run(j, 0, "skipped_not_leader", 0, 0);
            }
            return false;
        }
    }
    job_ctx_t ctx = {
        .job = j->name,
        .lease = j->lease ? j->lease->name : NULL,
        .fencing_token = token,
        .arg = j->arg,
        .final_pass = final,
        .job_ = j,
    };
    int64_t t0 = clock_mono_us();
    job_result_t r = j->fn(&ctx);
    double secs = (double)(clock_mono_us() - t0) / 1e6;
    const char *result = r.ok ? "ok" : "error";
    count_run(s, j->name, result);
    mfam_observe(s->duration, MX_LV(j->name), secs);
    if (r.ok)
        mfam_set(s->last_success, MX_LV(j->name), (double)clock_wall_ms() / 1000.0);
    log_run(j, token, result, r.items, secs * 1000.0);
    return true;
}

static void *job_main(void *arg)
{
    struct sched_job *j = arg;
    scheduler_t *s = j->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!j->trigger && !s->quit)
            pthread_cond_wait(&s->work, &s->mu);
        if (!j->trigger)
            break; /* quit */
        j->trigger = false;
        if (!atomic_load(&s->stopping)) {
            pthread_mutex_unlock(&s->mu);
            run_job(j, false);
            pthread_mutex_lock(&s->mu);
        }
        j->busy = false;
        pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the scheduler loop ---------------------------------------------------------------------- */

/* Under mu: hand due ticks to the job threads; returns the earliest next due time. */
static int64_t dispatch_due(scheduler_t *s, int64_t now)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < s->njobs; i++) {
        struct sched_job *j = &s->jobs[i];
        if (now >= j->next_due_ms) {
            j->next_due_ms += j->period_ms;
            if (j->next_due_ms <= now) /* fell behind (slow host): no burst of catch-up ticks */
                j->next_due_ms = now + j->period_ms;
            if (j->busy) {
                count_run(s, j->name, "skipped_overlap");
                log_run(j, 0, "skipped_overlap", 0, 0);
            } else {
                j->busy = true;
                j->trigger = true;
                pthread_cond_broadcast(&s->work);
            }
        }
        if (j->next_due_ms < next)
            next = j->next_due_ms;
    }
    return next;
}

static void *sched_main(void *arg)
{
    scheduler_t *s = arg;
    lease_t *due[SCHED_MAX_JOBS];
    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        int64_t now = clock_mono_ms();
        if (s->lc)
            lc_tick_scheduler(s->lc, now);
        int64_t wake = now + s->tick_ms;
        if (!atomic_load(&s->stopping)) {
            int64_t next = dispatch_due(s, now);
            if (next < wake)
                wake = next;
        }
        size_t ndue = 0;
        for (size_t i = 0; i < s->nleases; i++) {
            lease_t *l = &s->leases[i];
            if (!atomic_load(&l->token) || s->leases_released)
                continue;
            if (now >= l->next_renew_ms)
                due[ndue++] = l;
            else if (l->next_renew_ms < wake)
                wake = l->next_renew_ms;
        }
        if (ndue) {
            pthread_mutex_unlock(&s->mu);
            for (size_t i = 0; i < ndue; i++)
                lease_renew(s, due[i]);
            pthread_mutex_lock(&s->mu);
            continue; /* recompute the wake time with the new renewal times */
        }
        wait_until_mono(&s->wake, &s->mu, wake);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------------ */

scheduler_t *scheduler_new(store_t *store, metrics_t *m, lifecycle_t *lc, const char *instance_id,
                           const jobs_config_t *cfg)
{
    if (!instance_id || strlen(instance_id) > INSTANCE_MAX)
        return NULL;
    scheduler_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    jobs_config_t defaults;
    jobs_config_defaults(&defaults);
    if (!cfg)
        cfg = &defaults;
    s->store = store;
    s->lc = lc;
    snprintf(s->instance, sizeof s->instance, "%s", instance_id);
    s->tick_ms = cfg->tick_ms > 0 ? cfg->tick_ms : defaults.tick_ms;
    s->ttl_ms = cfg->lease_ttl_ms > 0 ? cfg->lease_ttl_ms : defaults.lease_ttl_ms;
    s->renew_ms = cfg->lease_renew_ms > 0 ? cfg->lease_renew_ms : defaults.lease_renew_ms;
    pthread_mutex_init(&s->mu, NULL);
    cond_init_mono(&s->wake);
    pthread_cond_init(&s->work, NULL);
    cond_init_mono(&s->idle);
    s->runs = metrics_counter(m, "job_runs_total", "Background job ticks by result (2.5).", "job,result");
    s->duration = metrics_histogram(m, "job_duration_seconds", "Duration of background job runs.", "job", NULL, 0);
    s->last_success = metrics_gauge(m, "job_last_success_timestamp_seconds",
                                    "Unix time of the last successful run of each job.", "job");
    s->lease_acq = metrics_counter(m, "lease_acquisitions_total", "Lease acquisition attempts (SC-05/06).",
                                   "lease,tier,result");
    s->lease_held = metrics_gauge(m, "lease_held", "1 while this instance holds the lease.", "lease,tier");
    s->lease_lost = metrics_counter(m, "lease_lost_total", "Leases lost by a failed renewal.", "lease");
    return s;
}

bool scheduler_add(scheduler_t *s, const job_spec_t *spec)
{
    if (!s || !spec || !spec->name || !spec->fn || spec->period_ms <= 0 || spec->first_delay_ms < 0 || s->started ||
        s->njobs >= SCHED_MAX_JOBS || job_find(s, spec->name) ||
        (spec->lease && (!*spec->lease || strlen(spec->lease) > LEASE_NAME_MAX)))
        return false;
    struct sched_job *j = &s->jobs[s->njobs];
    *j = (struct sched_job){.s = s, .fn = spec->fn, .arg = spec->arg, .period_ms = spec->period_ms,
                            .first_delay_ms = spec->first_delay_ms};
    j->name = strdup(spec->name);
    if (!j->name)
        return false;
    if (spec->lease) {
        lease_t *l = lease_find(s, spec->lease);
        if (!l) {
            l = &s->leases[s->nleases++];
            snprintf(l->name, sizeof l->name, "%s", spec->lease);
            pthread_mutex_init(&l->op_mu, NULL);
            atomic_store(&l->token, 0);
            lease_set_held(s, l, false);
        }
        j->lease = l;
    }
    s->njobs++;
    return true;
}

bool scheduler_start(scheduler_t *s)
{
    if (!s || s->started)
        return false;
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < s->njobs; i++)
        s->jobs[i].next_due_ms = now + s->jobs[i].first_delay_ms;
    s->started = true;
    for (size_t i = 0; i < s->njobs; i++) {
        if (pthread_create(&s->jobs[i].thread, NULL, job_main, &s->jobs[i]) != 0)
            return false; /* scheduler_free joins the threads that did start */
        s->jobs[i].thread_started = true;
    }
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
        return false;
    s->loop_started = true;
    return true;
}

void scheduler_stop_starting(scheduler_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

static bool any_busy(scheduler_t *s)
{
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i].busy)
            return true;
    return false;
}

bool scheduler_wait_idle(scheduler_t *s, int64_t timeout_ms)
{
    if (!s)
        return true;
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&s->mu);
    while (any_busy(s) && clock_mono_ms() < deadline)
        wait_until_mono(&s->idle, &s->mu, deadline);
    bool idle = !any_busy(s);
    pthread_mutex_unlock(&s->mu);
    return idle;
}

int scheduler_run_final(scheduler_t *s, const char *job)
{
    if (!s || !job)
        return -1;
    pthread_mutex_lock(&s->mu);
    struct sched_job *j = job_find(s, job);
    if (!j || j->busy) {
        pthread_mutex_unlock(&s->mu);
        return j ? 0 : -1;
    }
    j->busy = true;
    pthread_mutex_unlock(&s->mu);
    bool ran = run_job(j, true);
    pthread_mutex_lock(&s->mu);
    j->busy = false;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
    return ran ? 1 : 0;
}

void scheduler_release_leases(scheduler_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->leases_released = true;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < s->nleases; i++)
        lease_release(s, &s->leases[i]);
}

bool scheduler_holds_lease(scheduler_t *s, const char *lease, int64_t *token)
{
    if (!s || !lease)
        return false;
    lease_t *l = lease_find(s, lease);
    int64_t t = l ? atomic_load(&l->token) : 0;
    if (token)
        *token = t;
    return t != 0;
}

void scheduler_free(scheduler_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, true);
    atomic_store(&s->quitting, true);
    s->quit = true;
    pthread_cond_broadcast(&s->wake);
    pthread_cond_broadcast(&s->work);
    bool loop_started = s->loop_started;
    pthread_mutex_unlock(&s->mu);
    if (loop_started)
        pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i].thread_started)
            pthread_join(s->jobs[i].thread, NULL);
    scheduler_release_leases(s);
    for (size_t i = 0; i < s->njobs; i++)
        free(s->jobs[i].name);
    for (size_t i = 0; i < s->nleases; i++)
        pthread_mutex_destroy(&s->leases[i].op_mu);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
