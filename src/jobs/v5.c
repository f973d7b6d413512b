/*
 * v5.c - V5 calculation workers (v5.h).
 */
#include "jobs/v5.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "ops/log.h"

struct v5_workers {
    app_t *a;
    int n;
    pthread_t *threads;
    bool *high_only;
    _Atomic int busy;
    mfam_t *m_jobs, *m_duration, *m_depth;
};

typedef struct {
    v5_workers_t *v;
    int index;
} worker_arg_t;

static const char *process(v5_workers_t *v, const calc_job_t *job)
{
    app_t *a = v->a;
    int64_t deadline = clock_mono_ms() + a->cfg->request_deadline_ms;
    cache_val_t *bundle = NULL;
    bool led = false;
    app_rc_t rc = app_expectation_coalesced(a, job->ign, job->force, deadline, "v5", &bundle, &led);
    bool stale = rc == APP_OK && bundle_stale(bundle);
    if (bundle)
        cache_val_release(bundle);
    char key[200];
    if (rc == APP_OK && !stale && writeback_flush_all(a->wb) >= 0)
        return "ok"; /* the view is in the store: the client's next poll gets 200 */
    snprintf(key, sizeof key, "v5fail:%s", job->ign);
    if (rc == APP_NOT_FOUND) {
        a->coord->ops->marker_set(a->coord, key, "C002", 300000);
        return "not_found";
    }
    a->coord->ops->marker_set(a->coord, key, "S005", 60000);
    return "transient_error";
}

static void publish_depth(v5_workers_t *v)
{
    coord_t *c = v->a->coord;
    mfam_set(v->m_depth, MX_LV("HIGH"), (double)c->ops->queue_depth(c, PRIO_HIGH));
    mfam_set(v->m_depth, MX_LV("LOW"), (double)c->ops->queue_depth(c, PRIO_LOW));
}

static void run_job(v5_workers_t *v, const calc_job_t *job)
{
    app_t *a = v->a;
    atomic_fetch_add(&v->busy, 1);
    int64_t t0 = clock_mono_us();
    const char *outcome = process(v, job);
    char key[200];
    snprintf(key, sizeof key, "v5job:%s", job->ign);
    a->coord->ops->marker_del(a->coord, key);
    a->coord->ops->queue_ack(a->coord, job);
    mfam_add(v->m_jobs, MX_LV(outcome), 1);
    mfam_observe(v->m_duration, NULL, (double)(clock_mono_us() - t0) / 1e6);
    log_emit(LOG_INFO, "v5", "job", job->correlation_id, NULL, "V5 job %s finished: %s", job->job_id, outcome);
    atomic_fetch_sub(&v->busy, 1);
}

static void *worker_main(void *arg)
{
    worker_arg_t *wa = arg;
    v5_workers_t *v = wa->v;
    app_t *a = v->a;
    bool high_only = v->high_only[wa->index];
    free(wa);
    for (;;) {
        calc_job_t job;
        coord_rc_t rc = a->coord->ops->queue_take(a->coord, high_only, 2000, &job);
        publish_depth(v);
        if (rc == COORD_OK)
            run_job(v, &job);
        else if (lc_draining(a->lc))
            return NULL; /* closed for shutdown (phase 1): take nothing new */
    }
}

v5_workers_t *v5_start(app_t *a)
{
    v5_workers_t *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->a = a;
    v->n = a->cfg->v5_workers;
    v->threads = calloc((size_t)v->n, sizeof *v->threads);
    v->high_only = calloc((size_t)v->n, sizeof *v->high_only);
    v->m_jobs = metrics_counter(a->metrics, "calc_jobs_total", "V5 jobs processed.", "outcome");
    v->m_duration = metrics_histogram(a->metrics, "calc_job_duration_seconds", "V5 job duration.", "",
                                      METRICS_SECONDS_BUCKETS, 12);
    v->m_depth = metrics_gauge(a->metrics, "calc_queue_depth", "V5 jobs waiting, by priority.", "priority");
    for (int i = 0; i < v->n; i++) {
        v->high_only[i] = i < a->cfg->v5_high_only_workers;
        worker_arg_t *wa = malloc(sizeof *wa);
        if (!wa)
            continue;
        *wa = (worker_arg_t){v, i};
        if (pthread_create(&v->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            v->threads[i] = 0;
        }
    }
    return v;
}

void v5_stop_taking(v5_workers_t *v) { v->a->coord->ops->queue_close(v->a->coord); }

int v5_busy(v5_workers_t *v) { return atomic_load(&v->busy); }

void v5_free(v5_workers_t *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++)
        if (v->threads[i])
            pthread_join(v->threads[i], NULL);
    free(v->threads);
    free(v->high_only);
    free(v);
}
