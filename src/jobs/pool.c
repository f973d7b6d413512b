/*
 * pool.c - bounded worker pool (pool.h). A ring buffer of tasks guarded by one mutex; workers
 * wait on a condition variable. The bound is the queue, so memory cannot grow with load.
 */
#include "jobs/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

typedef struct {
    pool_fn run, expire;
    void *arg;
    int64_t deadline_ms, queued_us;
} task_t;

struct pool {
    char name[32];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    task_t *ring;
    size_t cap, head, len;
    size_t active;
    bool closing;
    int nthreads;
    pthread_t *threads;
    mfam_t *depth, *capacity, *active_g, *rejected, *expired, *wait_h, *dur_h;
};

static void publish_gauges(pool_t *p)
{
    const char *const lv[] = {p->name};
    mfam_set(p->depth, lv, (double)p->len);
    mfam_set(p->active_g, lv, (double)p->active);
}

static bool take(pool_t *p, task_t *t)
{
    pthread_mutex_lock(&p->mu);
    while (p->len == 0 && !p->closing)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->len == 0) {
        pthread_mutex_unlock(&p->mu);
        return false;
    }
    *t = p->ring[p->head];
    p->head = (p->head + 1) % p->cap;
    p->len--;
    p->active++;
    publish_gauges(p);
    pthread_mutex_unlock(&p->mu);
    return true;
}

static void *worker(void *arg)
{
    pool_t *p = arg;
    const char *const lv[] = {p->name};
    task_t t;
    while (take(p, &t)) {
        int64_t start = clock_mono_us();
        mfam_observe(p->wait_h, lv, (double)(start - t.queued_us) / 1e6);
        /* 3.1: a task dequeued with < 1 s of its deadline left does not run (no zombie work). */
        if (t.deadline_ms && t.deadline_ms - start / 1000 < 1000) {
            mfam_add(p->expired, lv, 1);
            t.expire(t.arg);
        } else {
            t.run(t.arg);
            mfam_observe(p->dur_h, lv, (double)(clock_mono_us() - start) / 1e6);
        }
        pthread_mutex_lock(&p->mu);
        p->active--;
        publish_gauges(p);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

pool_t *pool_new(const char *name, int threads, int queue_cap, metrics_t *m)
{
    pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->cap = (size_t)(queue_cap > 0 ? queue_cap : 0) + (size_t)threads; /* running tasks leave the ring at once */
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (m) {
        p->depth = metrics_gauge(m, "work_queue_depth", "Tasks waiting in a bounded work queue.", "pool");
        p->capacity = metrics_gauge(m, "work_queue_capacity", "Capacity of a bounded work queue.", "pool");
        p->active_g = metrics_gauge(m, "work_active", "Tasks running in a worker pool.", "pool");
        p->rejected = metrics_counter(m, "work_rejected_total", "Tasks refused because the queue was full.", "pool");
        p->expired = metrics_counter(m, "work_expired_total", "Tasks dequeued after their deadline.", "pool");
        p->wait_h = metrics_histogram(m, "work_queue_wait_seconds", "Time tasks waited in the queue.", "pool",
                                      METRICS_SECONDS_BUCKETS, 12);
        p->dur_h = metrics_histogram(m, "work_duration_seconds", "Time tasks ran.", "pool", METRICS_SECONDS_BUCKETS, 12);
        const char *const lv[] = {p->name};
        mfam_set(p->capacity, lv, queue_cap);
        mfam_add(p->rejected, lv, 0);
        mfam_add(p->expired, lv, 0);
        publish_gauges(p);
    }
    if (!p->ring || !p->threads) {
        free(p->ring);
        free(p->threads);
        free(p);
        return NULL;
    }
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    return p;
}

bool pool_submit(pool_t *p, pool_fn run, pool_fn expire, void *arg, int64_t deadline_ms)
{
    pthread_mutex_lock(&p->mu);
    /* Bound = running + waiting <= threads + queue (3.4: "16 concurrent, queue 200"). */
    if (p->closing || p->len + p->active >= p->cap) {
        pthread_mutex_unlock(&p->mu);
        const char *const lv[] = {p->name};
        mfam_add(p->rejected, lv, 1);
        return false;
    }
    p->ring[(p->head + p->len) % p->cap] = (task_t){run, expire, arg, deadline_ms, clock_mono_us()};
    p->len++;
    publish_gauges(p);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return true;
}

size_t pool_busy(pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->len + p->active;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pool_free(pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* Workers drain the ring before exiting; anything left (no threads started) expires. */
    while (p->len) {
        task_t t = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        t.expire(t.arg);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->threads);
    free(p);
}
