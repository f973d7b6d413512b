/* test_coord.c - the in-process coordination backend: leases with fencing tokens (SC-05),
 * markers with expiry and a bound (SC-22), the V5 priority queue (SC-21). */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "base/clock.h"
#include "coord/coord.h"

#define POLL_LIMIT_MS 3000 /* bound of every condition poll; far above what the tests need */

static void pause_1ms(void) { nanosleep(&(struct timespec){0, 1000000}, NULL); }

static coord_t *new_coord(size_t total_cap, size_t high_cap, size_t max_markers)
{
    coord_local_opts_t o = {.queue_total_cap = total_cap, .queue_high_cap = high_cap, .max_markers = max_markers};
    coord_t *c = coord_local_new(&o);
    assert_non_null(c);
    assert_string_equal(c->kind, "local");
    return c;
}

static void test_rc_names(void **state)
{
    (void)state;
    assert_string_equal(coord_rc_name(COORD_OK), "ok");
    assert_string_equal(coord_rc_name(COORD_BUSY), "busy");
    assert_string_equal(coord_rc_name(COORD_UNAVAILABLE), "unavailable");
}

/* ---- leases ------------------------------------------------------------------------ */

static void test_lease_lifecycle(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    const coord_ops_t *op = c->ops;
    lease_t a, b;
    assert_int_equal(op->lease_acquire(c, "monitor", 10000, &a), COORD_OK);
    assert_int_equal(strlen(a.owner), 32);
    assert_int_equal(a.fence, 1);
    assert_int_equal(op->lease_acquire(c, "monitor", 10000, &b), COORD_BUSY);
    assert_int_equal(op->lease_renew(c, "monitor", &a, 10000), COORD_OK);

    lease_t stranger = a;
    stranger.owner[0] = stranger.owner[0] == 'a' ? 'b' : 'a';
    assert_int_equal(op->lease_release(c, "monitor", &stranger), COORD_ABSENT);
    assert_int_equal(op->lease_renew(c, "monitor", &stranger, 10000), COORD_ABSENT);
    assert_int_equal(op->lease_release(c, "other", &a), COORD_ABSENT); /* never held */

    assert_int_equal(op->lease_release(c, "monitor", &a), COORD_OK);
    assert_int_equal(op->lease_release(c, "monitor", &a), COORD_ABSENT);
    assert_int_equal(op->lease_renew(c, "monitor", &a, 10000), COORD_ABSENT);

    assert_int_equal(op->lease_acquire(c, "monitor", 10000, &b), COORD_OK);
    assert_true(b.fence > a.fence);
    assert_string_not_equal(a.owner, b.owner);
    /* the old holder cannot touch the new holder's lease */
    assert_int_equal(op->lease_release(c, "monitor", &a), COORD_ABSENT);
    assert_int_equal(op->lease_renew(c, "monitor", &b, 10000), COORD_OK);

    /* fences are per name */
    lease_t x;
    assert_int_equal(op->lease_acquire(c, "other", 10000, &x), COORD_OK);
    assert_int_equal(x.fence, 1);
    coord_free(c);
}

static void test_lease_expiry(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    const coord_ops_t *op = c->ops;
    lease_t a, b;
    assert_int_equal(op->lease_acquire(c, "job", 50, &a), COORD_OK);
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    coord_rc_t rc;
    while ((rc = op->lease_acquire(c, "job", 10000, &b)) == COORD_BUSY && clock_mono_ms() < end)
        pause_1ms();
    assert_int_equal(rc, COORD_OK);
    assert_true(b.fence > a.fence);
    /* expired = lost: the first holder can neither renew nor release */
    assert_int_equal(op->lease_renew(c, "job", &a, 10000), COORD_ABSENT);
    assert_int_equal(op->lease_release(c, "job", &a), COORD_ABSENT);
    assert_int_equal(op->lease_release(c, "job", &b), COORD_OK);

    /* expired and not re-acquired by anybody: still lost */
    assert_int_equal(op->lease_acquire(c, "job", 30, &a), COORD_OK);
    int64_t expiry = clock_mono_ms() + 31;
    while (clock_mono_ms() <= expiry)
        pause_1ms();
    assert_int_equal(op->lease_renew(c, "job", &a, 10000), COORD_ABSENT);
    assert_int_equal(op->lease_release(c, "job", &a), COORD_ABSENT);
    assert_int_equal(op->lease_acquire(c, "job", 10000, &b), COORD_OK);
    assert_true(b.fence > a.fence);
    coord_free(c);
}

#define LEASE_THREADS 8
#define LEASE_ROUNDS 300

typedef struct {
    coord_t *c;
    atomic_int holders;      /* threads inside the critical section: must never exceed 1 */
    atomic_int violations;
    long counter;            /* protected by the lease only */
    uint64_t last_fence;     /* protected by the lease only */
    atomic_int fence_errors;
} contention_t;

static void *lease_worker(void *p)
{
    contention_t *ct = p;
    const coord_ops_t *op = ct->c->ops;
    int done = 0;
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    while (done < LEASE_ROUNDS && clock_mono_ms() < end) {
        lease_t l;
        coord_rc_t rc = op->lease_acquire(ct->c, "shared", 10000, &l);
        if (rc == COORD_BUSY) {
            sched_yield();
            continue;
        }
        if (rc != COORD_OK)
            break;
        if (atomic_fetch_add(&ct->holders, 1) != 0)
            atomic_fetch_add(&ct->violations, 1);
        if (l.fence <= ct->last_fence)
            atomic_fetch_add(&ct->fence_errors, 1);
        ct->last_fence = l.fence;
        long v = ct->counter;
        sched_yield(); /* widen the window a second holder would need */
        ct->counter = v + 1;
        atomic_fetch_sub(&ct->holders, 1);
        if (op->lease_release(ct->c, "shared", &l) != COORD_OK)
            atomic_fetch_add(&ct->violations, 1);
        done++;
    }
    return NULL;
}

static void test_lease_contention(void **state)
{
    (void)state;
    contention_t ct = {.c = new_coord(0, 0, 0)};
    pthread_t th[LEASE_THREADS];
    for (int i = 0; i < LEASE_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, lease_worker, &ct), 0);
    for (int i = 0; i < LEASE_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&ct.violations), 0);
    assert_int_equal(atomic_load(&ct.fence_errors), 0);
    assert_int_equal(ct.counter, LEASE_THREADS * LEASE_ROUNDS);
    assert_int_equal(ct.last_fence, LEASE_THREADS * LEASE_ROUNDS);
    coord_free(ct.c);
}

/* ---- markers ----------------------------------------------------------------------- */

static void test_markers(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    const coord_ops_t *op = c->ops;
    char buf[16];
    assert_int_equal(op->marker_get(c, "mx:v5:job:ign", buf, sizeof buf), COORD_ABSENT);
    assert_int_equal(op->marker_set_nx(c, "mx:v5:job:ign", "queued", 60000), COORD_OK);
    assert_int_equal(op->marker_set_nx(c, "mx:v5:job:ign", "again", 60000), COORD_EXISTS);
    assert_int_equal(op->marker_get(c, "mx:v5:job:ign", buf, sizeof buf), COORD_OK);
    assert_string_equal(buf, "queued");
    assert_int_equal(op->marker_get(c, "mx:v5:job:ign", buf, 4), COORD_OK); /* truncated */
    assert_string_equal(buf, "que");
    assert_int_equal(op->marker_get(c, "mx:v5:job:ign", NULL, 0), COORD_OK); /* exists? */

    assert_int_equal(op->marker_set(c, "mx:v5:job:ign", "C002", 60000), COORD_OK); /* overwrite */
    assert_int_equal(op->marker_get(c, "mx:v5:job:ign", buf, sizeof buf), COORD_OK);
    assert_string_equal(buf, "C002");

    assert_int_equal(op->marker_del(c, "mx:v5:job:ign"), COORD_OK);
    assert_int_equal(op->marker_del(c, "mx:v5:job:ign"), COORD_ABSENT);
    assert_int_equal(op->marker_get(c, "mx:v5:job:ign", buf, sizeof buf), COORD_ABSENT);
    assert_int_equal(op->marker_set_nx(c, "mx:v5:job:ign", "queued", 60000), COORD_OK);

    /* expiry */
    assert_int_equal(op->marker_set_nx(c, "mx:recalc:ign", "1", 300), COORD_OK);
    assert_int_equal(op->marker_set_nx(c, "mx:recalc:ign", "1", 300), COORD_EXISTS);
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    while (op->marker_get(c, "mx:recalc:ign", NULL, 0) == COORD_OK && clock_mono_ms() < end)
        pause_1ms();
    assert_int_equal(op->marker_get(c, "mx:recalc:ign", NULL, 0), COORD_ABSENT);
    assert_int_equal(op->marker_set_nx(c, "mx:recalc:ign", "1", 30000), COORD_OK);
    coord_free(c);
}

static coord_rc_t poll_set_nx(coord_t *c, const char *key)
{
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    coord_rc_t rc;
    while ((rc = c->ops->marker_set_nx(c, key, "v", 60000)) == COORD_UNAVAILABLE && clock_mono_ms() < end)
        pause_1ms();
    return rc;
}

static void test_marker_capacity(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 4);
    const coord_ops_t *op = c->ops;
    assert_int_equal(op->marker_set_nx(c, "long1", "v", 60000), COORD_OK);
    assert_int_equal(op->marker_set_nx(c, "long2", "v", 60000), COORD_OK);
    assert_int_equal(op->marker_set_nx(c, "long3", "v", 60000), COORD_OK);
    assert_int_equal(op->marker_set(c, "long4", "v", 60000), COORD_OK);
    /* full of live markers: refused as unavailable, overwrites still allowed */
    assert_int_equal(op->marker_set_nx(c, "new1", "v", 60000), COORD_UNAVAILABLE);
    assert_int_equal(op->marker_set(c, "new1", "v", 60000), COORD_UNAVAILABLE);
    assert_int_equal(op->marker_set(c, "long1", "w", 60000), COORD_OK);
    assert_int_equal(op->marker_set_nx(c, "long2", "v", 60000), COORD_EXISTS);

    /* expired markers nobody touches again are purged when room is needed */
    assert_int_equal(op->marker_del(c, "long3"), COORD_OK);
    assert_int_equal(op->marker_del(c, "long4"), COORD_OK);
    assert_int_equal(op->marker_set_nx(c, "short1", "v", 30), COORD_OK);
    assert_int_equal(op->marker_set(c, "short2", "v", 30), COORD_OK);
    assert_int_equal(poll_set_nx(c, "new1"), COORD_OK);
    assert_int_equal(poll_set_nx(c, "new2"), COORD_OK);
    assert_int_equal(op->marker_set(c, "new3", "v", 60000), COORD_UNAVAILABLE);
    assert_int_equal(op->marker_get(c, "short1", NULL, 0), COORD_ABSENT);
    assert_int_equal(op->marker_del(c, "new2"), COORD_OK);
    assert_int_equal(op->marker_set(c, "new3", "v", 60000), COORD_OK);
    coord_free(c);
}

/* Many markers exercise the map's growth. */
static void test_many_markers(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    char key[32], buf[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "mx:v5:job:%d", i);
        assert_int_equal(c->ops->marker_set_nx(c, key, key, 60000), COORD_OK);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "mx:v5:job:%d", i);
        assert_int_equal(c->ops->marker_get(c, key, buf, sizeof buf), COORD_OK);
        assert_string_equal(buf, key);
    }
    coord_free(c); /* frees live markers (ASan) */
}

/* ---- queue ------------------------------------------------------------------------- */

static calc_job_t job(const char *ign, job_prio_t prio)
{
    calc_job_t j = {.prio = prio, .enqueued_ms = 1};
    snprintf(j.job_id, sizeof j.job_id, "id-%s", ign);
    snprintf(j.ign, sizeof j.ign, "%s", ign);
    return j;
}

static void expect_take(coord_t *c, bool high_only, const char *ign)
{
    calc_job_t out;
    assert_int_equal(c->ops->queue_take(c, high_only, 0, &out), COORD_OK);
    assert_string_equal(out.ign, ign);
    assert_int_equal(c->ops->queue_ack(c, &out), COORD_OK);
}

static void test_queue_caps_and_order(void **state)
{
    (void)state;
    coord_t *c = new_coord(5, 2, 0);
    const coord_ops_t *op = c->ops;
    calc_job_t j;
    j = job("low1", PRIO_LOW);
    assert_int_equal(op->queue_offer(c, &j), COORD_OK);
    j = job("high1", PRIO_HIGH);
    assert_int_equal(op->queue_offer(c, &j), COORD_OK);
    j = job("low2", PRIO_LOW);
    assert_int_equal(op->queue_offer(c, &j), COORD_OK);
    j = job("high2", PRIO_HIGH);
    assert_int_equal(op->queue_offer(c, &j), COORD_OK);
    j = job("high3", PRIO_HIGH);
    assert_int_equal(op->queue_offer(c, &j), COORD_FULL); /* HIGH cap 2 */
    j = job("low3", PRIO_LOW);
    assert_int_equal(op->queue_offer(c, &j), COORD_OK);
    j = job("low4", PRIO_LOW);
    assert_int_equal(op->queue_offer(c, &j), COORD_FULL); /* total cap 5 */
    assert_int_equal(op->queue_depth(c, PRIO_HIGH), 2);
    assert_int_equal(op->queue_depth(c, PRIO_LOW), 3);

    expect_take(c, true, "high1");
    j = job("high4", PRIO_HIGH); /* room again below both caps */
    assert_int_equal(op->queue_offer(c, &j), COORD_OK);
    expect_take(c, false, "high2"); /* HIGH first, FIFO */
    expect_take(c, false, "high4");
    calc_job_t out;
    assert_int_equal(op->queue_take(c, true, 0, &out), COORD_ABSENT); /* only LOW left */
    expect_take(c, false, "low1");
    expect_take(c, false, "low2");
    expect_take(c, false, "low3");
    assert_int_equal(op->queue_take(c, false, 0, &out), COORD_ABSENT);
    assert_int_equal(op->queue_depth(c, PRIO_HIGH), 0);
    assert_int_equal(op->queue_depth(c, PRIO_LOW), 0);
    coord_free(c);
}

static void test_queue_take_timeout(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    calc_job_t out;
    int64_t t0 = clock_mono_ms();
    assert_int_equal(c->ops->queue_take(c, false, 100, &out), COORD_ABSENT);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 99);
    assert_true(took < POLL_LIMIT_MS);
    coord_free(c);
}

typedef struct {
    coord_t *c;
    bool high_only;
    int64_t wait_ms;
    atomic_bool started;
    atomic_bool finished;
    coord_rc_t rc;
    calc_job_t out;
} taker_t;

static void *taker(void *p)
{
    taker_t *t = p;
    atomic_store(&t->started, true);
    t->rc = t->c->ops->queue_take(t->c, t->high_only, t->wait_ms, &t->out);
    atomic_store(&t->finished, true);
    return NULL;
}

static bool wait_flag(atomic_bool *flag)
{
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    while (!atomic_load(flag) && clock_mono_ms() < end)
        pause_1ms();
    return atomic_load(flag);
}

static void test_queue_blocked_taker_gets_job(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    taker_t t = {.c = c, .high_only = true, .wait_ms = 10000};
    pthread_t th;
    pthread_create(&th, NULL, taker, &t);
    assert_true(wait_flag(&t.started));
    calc_job_t j = job("low", PRIO_LOW); /* not for a HIGH-only taker */
    assert_int_equal(c->ops->queue_offer(c, &j), COORD_OK);
    j = job("high", PRIO_HIGH);
    assert_int_equal(c->ops->queue_offer(c, &j), COORD_OK);
    assert_true(wait_flag(&t.finished));
    pthread_join(th, NULL);
    assert_int_equal(t.rc, COORD_OK);
    assert_string_equal(t.out.ign, "high");
    assert_int_equal(c->ops->queue_depth(c, PRIO_LOW), 1);
    coord_free(c); /* frees the LOW job still queued */
}

static void test_queue_close_wakes_taker(void **state)
{
    (void)state;
    coord_t *c = new_coord(0, 0, 0);
    taker_t t = {.c = c, .wait_ms = 30000};
    pthread_t th;
    pthread_create(&th, NULL, taker, &t);
    assert_true(wait_flag(&t.started));
    int64_t t0 = clock_mono_ms();
    c->ops->queue_close(c);
    assert_true(wait_flag(&t.finished)); /* long before its 30 s wait */
    pthread_join(th, NULL);
    assert_true(clock_mono_ms() - t0 < POLL_LIMIT_MS);
    assert_int_equal(t.rc, COORD_ABSENT);

    /* after close: offers refused, queued jobs stay counted and untaken */
    calc_job_t j = job("late", PRIO_HIGH), out;
    assert_int_equal(c->ops->queue_offer(c, &j), COORD_UNAVAILABLE);
    coord_free(c);

    c = new_coord(0, 0, 0);
    assert_int_equal(c->ops->queue_offer(c, &j), COORD_OK);
    c->ops->queue_close(c);
    assert_int_equal(c->ops->queue_take(c, false, 10000, &out), COORD_ABSENT); /* at once */
    assert_int_equal(c->ops->queue_depth(c, PRIO_HIGH), 1);
    coord_free(c); /* frees it */
}

/* SC-08 token bucket: capacity first, then the refill rate; denied answers carry a retry time. */
static void test_rate_bucket_capacity_refill_and_retry_after(void **state)
{
    (void)state;
    coord_t *c = coord_local_new(NULL);
    int64_t remaining = -1, retry = -1;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(c->ops->rate_take(c, "ip:1.2.3.4", 5, 1, 60000, &remaining, &retry), COORD_OK);
        assert_int_equal(remaining, 4 - i);
    }
    assert_int_equal(c->ops->rate_take(c, "ip:1.2.3.4", 5, 1, 60000, &remaining, &retry), COORD_BUSY);
    assert_int_equal(remaining, 0);
    assert_true(retry > 59000 && retry <= 60001);
    /* another key has its own bucket */
    assert_int_equal(c->ops->rate_take(c, "ip:5.6.7.8", 5, 1, 60000, &remaining, &retry), COORD_OK);
    /* a fast refill: 1 token per 20 ms comes back */
    for (int i = 0; i < 2; i++)
        assert_int_equal(c->ops->rate_take(c, "fast", 2, 1, 20, &remaining, &retry), COORD_OK);
    int64_t deadline = clock_mono_ms() + 3000;
    coord_rc_t rc;
    while ((rc = c->ops->rate_take(c, "fast", 2, 1, 20, &remaining, &retry)) == COORD_BUSY && clock_mono_ms() < deadline)
        assert_true(retry >= 1 && retry <= 21);
    assert_int_equal(rc, COORD_OK);
    coord_free(c);
}

/* The map is bounded: when full, buckets that would be full again are forgotten; otherwise UNAVAILABLE. */
static void test_rate_bucket_map_is_bounded(void **state)
{
    (void)state;
    coord_local_opts_t o = {.max_buckets = 3};
    coord_t *c = coord_local_new(&o);
    int64_t remaining, retry;
    char key[32];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(c->ops->rate_take(c, key, 10, 1, 3600000, &remaining, &retry), COORD_OK);
    }
    assert_int_equal(c->ops->rate_take(c, "k3", 10, 1, 3600000, &remaining, &retry), COORD_UNAVAILABLE);
    assert_int_equal(c->ops->rate_take(c, "k0", 10, 1, 3600000, &remaining, &retry), COORD_OK); /* existing still works */
    coord_free(c);
}

/* SC-24 standalone: per-day counts, a new day starts from zero, the day's map is bounded. */
static void test_popularity_counts_per_day_and_bound(void **state)
{
    (void)state;
    coord_local_opts_t o = {.max_popular = 2};
    coord_t *c = coord_local_new(&o);
    int64_t n = -1;
    for (int i = 0; i < 3; i++)
        assert_int_equal(c->ops->popularity_incr(c, "2026-11-26", "아델"), COORD_OK);
    assert_int_equal(c->ops->popularity_incr(c, "2026-11-26", "gen1"), COORD_OK);
    assert_int_equal(c->ops->popularity_incr(c, "2026-11-26", "gen2"), COORD_FULL); /* bound: skipped */
    assert_int_equal(c->ops->popularity_incr(c, "2026-11-26", "gen1"), COORD_OK);   /* known IGNs still count */
    c->ops->popularity_get(c, "2026-11-26", "아델", &n);
    assert_int_equal(n, 3);
    c->ops->popularity_get(c, "2026-11-26", "gen1", &n);
    assert_int_equal(n, 2);
    c->ops->popularity_get(c, "2026-11-26", "gen2", &n);
    assert_int_equal(n, 0);
    assert_int_equal(c->ops->popularity_incr(c, "2026-11-27", "gen2"), COORD_OK); /* new day, fresh map */
    c->ops->popularity_get(c, "2026-11-27", "gen2", &n);
    assert_int_equal(n, 1);
    c->ops->popularity_get(c, "2026-11-27", "아델", &n);
    assert_int_equal(n, 0);
    c->ops->popularity_get(c, "2026-11-26", "아델", &n); /* yesterday is gone */
    assert_int_equal(n, 0);
    coord_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rc_names),
        cmocka_unit_test(test_lease_lifecycle),
        cmocka_unit_test(test_lease_expiry),
        cmocka_unit_test(test_lease_contention),
        cmocka_unit_test(test_markers),
        cmocka_unit_test(test_marker_capacity),
        cmocka_unit_test(test_many_markers),
        cmocka_unit_test(test_queue_caps_and_order),
        cmocka_unit_test(test_queue_take_timeout),
        cmocka_unit_test(test_queue_blocked_taker_gets_job),
        cmocka_unit_test(test_queue_close_wakes_taker),
        cmocka_unit_test(test_rate_bucket_capacity_refill_and_retry_after),
        cmocka_unit_test(test_rate_bucket_map_is_bounded),
        cmocka_unit_test(test_popularity_counts_per_day_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
