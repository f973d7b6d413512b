/*
 * test_pool.c - the bounded worker pool (jobs/pool.h): tasks run; the bound is threads + queue
 * (a submit beyond it fails at once and is counted); every accepted task ends exactly once, by
 * run or by expire (deadline with < 1 s left); pool_busy; pool_free runs what is queued and joins.
 *
 * Tasks block on a gate (mutex + condvar) so the queue fills deterministically; conditions that
 * depend on worker threads are polled with a bounded timeout, never slept for.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "base/clock.h"
#include "jobs/pool.h"
#include "ops/metrics.h"

#define POLL_TIMEOUT_MS 3000

/* ---- a gate that holds running tasks until it is opened ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    atomic_int waiting; /* tasks currently held at the gate */
} gate_t;

static void gate_init(gate_t *g, bool open)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = open;
    atomic_init(&g->waiting, 0);
}

static void gate_open(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_pass(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    atomic_fetch_add(&g->waiting, 1);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    atomic_fetch_sub(&g->waiting, 1);
    pthread_mutex_unlock(&g->mu);
}

static void gate_dispose(gate_t *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

/* ---- a task that records how it ended ---- */

typedef struct {
    gate_t *gate; /* NULL = do not wait */
    atomic_int runs, expires;
} job_t;

static void job_run(void *arg)
{
    job_t *j = arg;
    if (j->gate)
        gate_pass(j->gate);
    atomic_fetch_add(&j->runs, 1);
}

static void job_expire(void *arg)
{
    job_t *j = arg;
    atomic_fetch_add(&j->expires, 1);
}

static void jobs_init(job_t *jobs, size_t n, gate_t *gate)
{
    for (size_t i = 0; i < n; i++) {
        jobs[i].gate = gate;
        atomic_init(&jobs[i].runs, 0);
        atomic_init(&jobs[i].expires, 0);
    }
}

static int job_ends(job_t *j) { return atomic_load(&j->runs) + atomic_load(&j->expires); }

static int total_ends(job_t *jobs, size_t n)
{
    int t = 0;
    for (size_t i = 0; i < n; i++)
        t += job_ends(&jobs[i]);
    return t;
}

/* ---- bounded polling ---- */

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static bool poll_ends(job_t *jobs, size_t n, int want)
{
    int64_t end = clock_mono_ms() + POLL_TIMEOUT_MS;
    while (total_ends(jobs, n) < want && clock_mono_ms() < end)
        nap_ms(1);
    return total_ends(jobs, n) >= want;
}

static bool poll_waiting(gate_t *g, int want)
{
    int64_t end = clock_mono_ms() + POLL_TIMEOUT_MS;
    while (atomic_load(&g->waiting) < want && clock_mono_ms() < end)
        nap_ms(1);
    return atomic_load(&g->waiting) >= want;
}

static bool poll_idle(pool_t *p)
{
    int64_t end = clock_mono_ms() + POLL_TIMEOUT_MS;
    while (pool_busy(p) > 0 && clock_mono_ms() < end)
        nap_ms(1);
    return pool_busy(p) == 0;
}

/* ---- metrics of one pool ---- */

static double counter_of(metrics_t *m, const char *name, const char *pool)
{
    return mfam_get(metrics_counter(m, name, "", "pool"), MX_LV(pool));
}

static double gauge_of(metrics_t *m, const char *name, const char *pool)
{
    return mfam_get(metrics_gauge(m, name, "", "pool"), MX_LV(pool));
}

/* ---- tests ---- */

static void test_tasks_run(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    pool_t *p = pool_new("t_run", 2, 8, m);
    assert_non_null(p);
    job_t jobs[10];
    jobs_init(jobs, 10, NULL);
    for (size_t i = 0; i < 10; i++)
        assert_true(pool_submit(p, job_run, job_expire, &jobs[i], 0));
    assert_true(poll_ends(jobs, 10, 10));
    assert_true(poll_idle(p));
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(atomic_load(&jobs[i].runs), 1);
        assert_int_equal(atomic_load(&jobs[i].expires), 0);
    }
    assert_int_equal(counter_of(m, "work_rejected_total", "t_run"), 0);
    assert_int_equal(counter_of(m, "work_expired_total", "t_run"), 0);
    assert_int_equal(gauge_of(m, "work_queue_capacity", "t_run"), 8);
    /* Every task ran, so the duration and wait histograms saw 10 observations each. */
    mfam_t *dur = metrics_histogram(m, "work_duration_seconds", "", "pool", METRICS_SECONDS_BUCKETS, 12);
    mfam_t *wait = metrics_histogram(m, "work_queue_wait_seconds", "", "pool", METRICS_SECONDS_BUCKETS, 12);
    assert_int_equal(mfam_get(dur, MX_LV("t_run")), 10);
    assert_int_equal(mfam_get(wait, MX_LV("t_run")), 10);
    pool_free(p);
    metrics_free(m);
}

static void test_bound_is_threads_plus_queue(void **state)
{
    (void)state;
    enum { THREADS = 2, QUEUE = 3, BOUND = THREADS + QUEUE };
    metrics_t *m = metrics_new();
    gate_t gate;
    gate_init(&gate, false);
    pool_t *p = pool_new("t_bound", THREADS, QUEUE, m);
    assert_non_null(p);
    job_t jobs[BOUND + 1];
    jobs_init(jobs, BOUND + 1, &gate);

    for (size_t i = 0; i < BOUND; i++)
        assert_true(pool_submit(p, job_run, job_expire, &jobs[i], 0));
    assert_int_equal(pool_busy(p), BOUND);

    /* One more: refused at once, not queued, not run on the caller. */
    int64_t t0 = clock_mono_us();
    assert_false(pool_submit(p, job_run, job_expire, &jobs[BOUND], 0));
    int64_t waited_us = clock_mono_us() - t0;
    assert_true(waited_us < 500 * 1000);
    assert_int_equal(counter_of(m, "work_rejected_total", "t_bound"), 1);
    assert_int_equal(pool_busy(p), BOUND);

    /* Once both workers hold a task, the rest waits in the queue. */
    assert_true(poll_waiting(&gate, THREADS));
    assert_int_equal(gauge_of(m, "work_active", "t_bound"), THREADS);
    assert_int_equal(gauge_of(m, "work_queue_depth", "t_bound"), QUEUE);
    assert_int_equal(gauge_of(m, "work_queue_capacity", "t_bound"), QUEUE);
    /* Still full while they run: a running task occupies its place in the bound. */
    assert_false(pool_submit(p, job_run, job_expire, &jobs[BOUND], 0));
    assert_int_equal(counter_of(m, "work_rejected_total", "t_bound"), 2);

    gate_open(&gate);
    assert_true(poll_ends(jobs, BOUND, BOUND));
    assert_true(poll_idle(p));
    for (size_t i = 0; i < BOUND; i++)
        assert_int_equal(atomic_load(&jobs[i].runs), 1);
    assert_int_equal(job_ends(&jobs[BOUND]), 0); /* the refused task never ran */
    assert_int_equal(gauge_of(m, "work_active", "t_bound"), 0);
    assert_int_equal(gauge_of(m, "work_queue_depth", "t_bound"), 0);

    /* Capacity is back. */
    assert_true(pool_submit(p, job_run, job_expire, &jobs[BOUND], 0));
    assert_true(poll_ends(&jobs[BOUND], 1, 1));
    pool_free(p);
    gate_dispose(&gate);
    metrics_free(m);
}

static void test_zero_queue_accepts_only_threads(void **state)
{
    (void)state;
    gate_t gate;
    gate_init(&gate, false);
    pool_t *p = pool_new("t_zero", 1, 0, NULL); /* no metrics registry: optional */
    assert_non_null(p);
    job_t jobs[2];
    jobs_init(jobs, 2, &gate);
    assert_true(pool_submit(p, job_run, job_expire, &jobs[0], 0));
    assert_false(pool_submit(p, job_run, job_expire, &jobs[1], 0));
    gate_open(&gate);
    assert_true(poll_ends(jobs, 1, 1));
    pool_free(p);
    assert_int_equal(atomic_load(&jobs[0].runs), 1);
    assert_int_equal(job_ends(&jobs[1]), 0);
    gate_dispose(&gate);
}

static void test_deadline_with_less_than_1s_left_expires(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    gate_t gate;
    gate_init(&gate, false);
    pool_t *p = pool_new("t_deadline", 1, 8, m);
    assert_non_null(p);
    job_t blocker, jobs[5];
    jobs_init(&blocker, 1, &gate);
    jobs_init(jobs, 5, NULL);
    /* The only worker is held, so the deadline is judged when the worker dequeues. */
    assert_true(pool_submit(p, job_run, job_expire, &blocker, 0));
    assert_true(poll_waiting(&gate, 1));
    int64_t now = clock_mono_ms();
    assert_true(pool_submit(p, job_run, job_expire, &jobs[0], now + 500));     /* < 1 s left */
    assert_true(pool_submit(p, job_run, job_expire, &jobs[1], now - 10));      /* already past */
    assert_true(pool_submit(p, job_run, job_expire, &jobs[2], now + 60000));   /* plenty */
    assert_true(pool_submit(p, job_run, job_expire, &jobs[3], 0));             /* none */
    assert_true(pool_submit(p, job_run, job_expire, &jobs[4], now + 999));     /* just under 1 s */
    gate_open(&gate);
    assert_true(poll_ends(jobs, 5, 5));
    assert_true(poll_idle(p));

    assert_int_equal(atomic_load(&blocker.runs), 1);
    const int want_runs[5] = {0, 0, 1, 1, 0};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(atomic_load(&jobs[i].runs), want_runs[i]);
        assert_int_equal(atomic_load(&jobs[i].expires), 1 - want_runs[i]);
    }
    assert_int_equal(counter_of(m, "work_expired_total", "t_deadline"), 3);
    assert_int_equal(counter_of(m, "work_rejected_total", "t_deadline"), 0);
    pool_free(p);
    gate_dispose(&gate);
    metrics_free(m);
}

static void test_pool_busy_counts_queued_and_running(void **state)
{
    (void)state;
    gate_t gate;
    gate_init(&gate, false);
    pool_t *p = pool_new("t_busy", 2, 4, NULL);
    assert_non_null(p);
    assert_int_equal(pool_busy(p), 0);
    job_t jobs[4];
    jobs_init(jobs, 4, &gate);
    for (size_t i = 0; i < 4; i++) {
        assert_true(pool_submit(p, job_run, job_expire, &jobs[i], 0));
        assert_int_equal(pool_busy(p), i + 1);
    }
    assert_true(poll_waiting(&gate, 2));
    assert_int_equal(pool_busy(p), 4); /* 2 running + 2 queued */
    gate_open(&gate);
    assert_true(poll_idle(p));
    assert_int_equal(total_ends(jobs, 4), 4);
    pool_free(p);
    gate_dispose(&gate);
}

static void test_pool_free_finishes_queued_tasks_and_joins(void **state)
{
    (void)state;
    enum { N = 12 };
    gate_t gate;
    gate_init(&gate, false);
    pool_t *p = pool_new("t_free", 2, 10, NULL);
    assert_non_null(p);
    job_t jobs[N];
    jobs_init(jobs, N, &gate);
    for (size_t i = 0; i < N; i++)
        assert_true(pool_submit(p, job_run, job_expire, &jobs[i], 0));
    assert_true(poll_waiting(&gate, 2));
    assert_int_equal(pool_busy(p), N);
    /* Tasks are still queued when pool_free starts; it returns only after all of them ended. */
    gate_open(&gate);
    pool_free(p);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(job_ends(&jobs[i]), 1);
    assert_int_equal(total_ends(jobs, N), N);
    gate_dispose(&gate);
}

/* Several submitters race a small pool: a task ends exactly once if and only if it was accepted. */
enum { SUBMITTERS = 4, PER_SUBMITTER = 400 };

typedef struct {
    pool_t *p;
    job_t *jobs;
    bool accepted[PER_SUBMITTER];
    int n_accepted;
    int64_t base_ms;
} submitter_t;

static void *submitter(void *arg)
{
    submitter_t *s = arg;
    for (int i = 0; i < PER_SUBMITTER; i++) {
        /* Every third task carries a deadline that has passed: it must expire, not run. */
        int64_t deadline = i % 3 == 0 ? s->base_ms - 1 : 0;
        s->accepted[i] = pool_submit(s->p, job_run, job_expire, &s->jobs[i], deadline);
        s->n_accepted += s->accepted[i];
    }
    return NULL;
}

static void test_every_accepted_task_ends_exactly_once(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    pool_t *p = pool_new("t_race", 3, 8, m);
    assert_non_null(p);
    static job_t jobs[SUBMITTERS][PER_SUBMITTER];
    static submitter_t subs[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    int64_t now = clock_mono_ms();
    for (int s = 0; s < SUBMITTERS; s++) {
        jobs_init(jobs[s], PER_SUBMITTER, NULL);
        subs[s] = (submitter_t){.p = p, .jobs = jobs[s], .base_ms = now};
        assert_int_equal(pthread_create(&th[s], NULL, submitter, &subs[s]), 0);
    }
    for (int s = 0; s < SUBMITTERS; s++)
        pthread_join(th[s], NULL);
    pool_free(p);

    int accepted = 0, expired = 0;
    for (int s = 0; s < SUBMITTERS; s++) {
        accepted += subs[s].n_accepted;
        for (int i = 0; i < PER_SUBMITTER; i++) {
            job_t *j = &jobs[s][i];
            assert_int_equal(job_ends(j), subs[s].accepted[i] ? 1 : 0);
            if (subs[s].accepted[i] && i % 3 == 0)
                assert_int_equal(atomic_load(&j->expires), 1);
            if (subs[s].accepted[i] && i % 3 != 0)
                assert_int_equal(atomic_load(&j->runs), 1);
            expired += atomic_load(&j->expires);
        }
    }
    assert_true(accepted > 0);
    assert_int_equal(counter_of(m, "work_rejected_total", "t_race"), SUBMITTERS * PER_SUBMITTER - accepted);
    assert_int_equal(counter_of(m, "work_expired_total", "t_race"), expired);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_run),
        cmocka_unit_test(test_bound_is_threads_plus_queue),
        cmocka_unit_test(test_zero_queue_accepts_only_threads),
        cmocka_unit_test(test_deadline_with_less_than_1s_left_expires),
        cmocka_unit_test(test_pool_busy_counts_queued_and_running),
        cmocka_unit_test(test_pool_free_finishes_queued_tasks_and_joins),
        cmocka_unit_test(test_every_accepted_task_ends_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
