/* test_singleflight.c - SC-04 flight map: one leader per key, every follower gets its own
 * reference, error codes, cancel (also racing finish), blocking sf_do with timeouts. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "base/clock.h"
#include "coord/singleflight.h"

#define POLL_LIMIT_MS 3000 /* bound of every condition poll; far above what the tests need */

/* Poll cond(ctx) every millisecond until it holds or the bound passes; returns its last value. */
static bool wait_until(bool (*cond)(void *), void *ctx)
{
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    while (!cond(ctx)) {
        if (clock_mono_ms() > end)
            return false;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return true;
}

/* ---- async ------------------------------------------------------------------------- */

typedef struct {
    atomic_int calls;
    int code;
    cache_val_t *first_val; /* every follower must see the same value */
    atomic_int mismatches;
} collect_t;

static void on_done(void *arg, sf_result_t r)
{
    collect_t *c = arg;
    if (r.code != c->code || r.val != c->first_val)
        atomic_fetch_add(&c->mismatches, 1);
    atomic_fetch_add(&c->calls, 1);
    cache_val_release(r.val);
}

static void test_one_leader_many_followers(void **state)
{
    (void)state;
    sf_t *s = sf_new("testCache", NULL);
    assert_non_null(s);
    cache_val_t *val = cache_val_new("result", 6, 0);
    collect_t col = {.code = 0, .first_val = val};
    int leaders = 0;
    for (int i = 0; i < 1000; i++) {
        sf_waiter_t *h = NULL;
        sf_role_t role = sf_join(s, "ign", on_done, &col, &h);
        if (role == SF_LEADER) {
            leaders++;
            assert_null(h);
        } else {
            assert_non_null(h);
        }
    }
    assert_int_equal(leaders, 1);
    assert_int_equal(sf_active(s), 1);
    assert_int_equal(sf_followers(s, "ign"), 999);
    assert_int_equal(atomic_load(&col.calls), 0);
    sf_finish(s, "ign", (sf_result_t){0, val});
    assert_int_equal(atomic_load(&col.calls), 999);
    assert_int_equal(atomic_load(&col.mismatches), 0);
    assert_int_equal(sf_active(s), 0);
    assert_string_equal((const char *)val->data, "result"); /* the leader still owns its reference */
    cache_val_release(val);
    /* the key can fly again */
    sf_waiter_t *h = NULL;
    assert_int_equal(sf_join(s, "ign", on_done, &col, &h), SF_LEADER);
    sf_finish(s, "ign", (sf_result_t){0, NULL});
    sf_free(s);
}

static void test_error_code_propagated(void **state)
{
    (void)state;
    sf_t *s = sf_new("testCache", NULL);
    collect_t col = {.code = 42, .first_val = NULL};
    sf_waiter_t *h;
    assert_int_equal(sf_join(s, "k", on_done, &col, &h), SF_LEADER);
    for (int i = 0; i < 5; i++)
        assert_int_equal(sf_join(s, "k", on_done, &col, &h), SF_FOLLOWER);
    sf_finish(s, "k", (sf_result_t){42, NULL});
    assert_int_equal(atomic_load(&col.calls), 5);
    assert_int_equal(atomic_load(&col.mismatches), 0);
    sf_free(s);
}

static void test_cancel_before_finish(void **state)
{
    (void)state;
    sf_t *s = sf_new("testCache", NULL);
    collect_t col = {.code = 0};
    sf_waiter_t *h1, *h2, *h3;
    assert_int_equal(sf_join(s, "k", on_done, &col, &h1), SF_LEADER);
    assert_int_equal(sf_join(s, "k", on_done, &col, &h2), SF_FOLLOWER);
    assert_int_equal(sf_join(s, "k", on_done, &col, &h3), SF_FOLLOWER);
    assert_true(sf_cancel(s, "k", h2));
    assert_false(sf_cancel(s, "k", h2)); /* only once */
    assert_false(sf_cancel(s, "other", h3)); /* wrong key: not found */
    assert_int_equal(sf_followers(s, "k"), 1);
    cache_val_t *val = cache_val_new("v", 1, 0);
    col.first_val = val;
    sf_finish(s, "k", (sf_result_t){0, val});
    assert_int_equal(atomic_load(&col.calls), 1); /* h3 only */
    assert_false(sf_cancel(s, "k", h3));          /* after delivery */
    cache_val_release(val);
    sf_finish(s, "k", (sf_result_t){0, NULL}); /* no flight: ignored */
    sf_free(s);
}

static void test_keys_are_independent(void **state)
{
    (void)state;
    sf_t *s = sf_new("testCache", NULL);
    collect_t col_a = {.code = 1}, col_b = {.code = 2};
    sf_waiter_t *h;
    assert_int_equal(sf_join(s, "a", on_done, &col_a, &h), SF_LEADER);
    assert_int_equal(sf_join(s, "b", on_done, &col_b, &h), SF_LEADER);
    assert_int_equal(sf_join(s, "a", on_done, &col_a, &h), SF_FOLLOWER);
    assert_int_equal(sf_join(s, "b", on_done, &col_b, &h), SF_FOLLOWER);
    assert_int_equal(sf_active(s), 2);
    sf_finish(s, "b", (sf_result_t){2, NULL});
    assert_int_equal(atomic_load(&col_a.calls), 0);
    assert_int_equal(atomic_load(&col_b.calls), 1);
    assert_int_equal(sf_active(s), 1);
    assert_int_equal(sf_followers(s, "a"), 1);
    sf_finish(s, "a", (sf_result_t){1, NULL});
    assert_int_equal(atomic_load(&col_a.calls), 1);
    assert_int_equal(atomic_load(&col_a.mismatches) + atomic_load(&col_b.mismatches), 0);
    sf_free(s);
}

/* Many flights at once exercise the map's growth. */
static void test_many_keys(void **state)
{
    (void)state;
    sf_t *s = sf_new("testCache", NULL);
    collect_t col = {.code = 0};
    char key[32];
    sf_waiter_t *h;
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(sf_join(s, key, on_done, &col, &h), SF_LEADER);
        assert_int_equal(sf_join(s, key, on_done, &col, &h), SF_FOLLOWER);
    }
    assert_int_equal(sf_active(s), 500);
    for (int i = 499; i >= 0; i--) {
        snprintf(key, sizeof key, "key-%d", i);
        sf_finish(s, key, (sf_result_t){0, NULL});
    }
    assert_int_equal(atomic_load(&col.calls), 500);
    assert_int_equal(sf_active(s), 0);
    sf_free(s);
}

/* ---- cancel racing finish ----------------------------------------------------------- */

typedef struct {
    sf_t *s;
    pthread_barrier_t *go;
    sf_waiter_t *h;
    cache_val_t *val;
    bool cancelled;
} race_t;

static void *race_cancel(void *p)
{
    race_t *r = p;
    pthread_barrier_wait(r->go);
    r->cancelled = sf_cancel(r->s, "hot", r->h);
    return NULL;
}

static void *race_finish(void *p)
{
    race_t *r = p;
    pthread_barrier_wait(r->go);
    sf_finish(r->s, "hot", (sf_result_t){0, r->val});
    return NULL;
}

static void test_cancel_races_finish(void **state)
{
    (void)state;
    sf_t *s = sf_new("testCache", NULL);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    int cancelled_wins = 0;
    for (int i = 0; i < 500; i++) {
        cache_val_t *val = cache_val_new("v", 1, 0);
        collect_t col = {.code = 0, .first_val = val};
        race_t r = {.s = s, .go = &go, .val = val};
        sf_waiter_t *h;
        assert_int_equal(sf_join(s, "hot", on_done, &col, &h), SF_LEADER);
        assert_int_equal(sf_join(s, "hot", on_done, &col, &r.h), SF_FOLLOWER);
        pthread_t a, b;
        pthread_create(&a, NULL, race_cancel, &r);
        pthread_create(&b, NULL, race_finish, &r);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        /* exactly one of: removed (never called) or delivered (called once) */
        assert_int_equal(atomic_load(&col.calls), r.cancelled ? 0 : 1);
        assert_int_equal(atomic_load(&col.mismatches), 0);
        assert_false(sf_cancel(s, "hot", r.h));
        cancelled_wins += r.cancelled;
        cache_val_release(val);
    }
    assert_int_equal(sf_active(s), 0);
    print_message("cancel won %d of 500 races\n", cancelled_wins);
    pthread_barrier_destroy(&go);
    sf_free(s);
}

/* ---- blocking sf_do ---------------------------------------------------------------- */

#define DO_THREADS 16

typedef struct {
    sf_t *s;
    atomic_int loads;
    atomic_bool release; /* lets a blocked loader return */
    atomic_bool waiting_for_release;
} loader_ctx_t;

static bool all_others_follow(void *p)
{
    loader_ctx_t *ctx = p;
    return sf_followers(ctx->s, "cold") == DO_THREADS - 1;
}

/* Counts its calls and returns only when every other thread waits on its flight. */
static sf_result_t counting_loader(void *arg)
{
    loader_ctx_t *ctx = arg;
    atomic_fetch_add(&ctx->loads, 1);
    wait_until(all_others_follow, ctx);
    return (sf_result_t){0, cache_val_new("loaded", 6, 0)};
}

typedef struct {
    loader_ctx_t *ctx;
    sf_result_t r;
    sf_role_t role;
} do_arg_t;

static void *do_worker(void *p)
{
    do_arg_t *a = p;
    a->r = sf_do(a->ctx->s, "cold", counting_loader, a->ctx, 10000, 99, &a->role);
    return NULL;
}

static void test_sf_do_loads_once(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    loader_ctx_t ctx = {.s = sf_new("testCache", m)};
    pthread_t th[DO_THREADS];
    do_arg_t args[DO_THREADS];
    for (int i = 0; i < DO_THREADS; i++) {
        args[i] = (do_arg_t){.ctx = &ctx};
        assert_int_equal(pthread_create(&th[i], NULL, do_worker, &args[i]), 0);
    }
    int leaders = 0;
    for (int i = 0; i < DO_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&ctx.loads), 1);
    cache_val_t *first = args[0].r.val;
    for (int i = 0; i < DO_THREADS; i++) {
        leaders += args[i].role == SF_LEADER;
        assert_int_equal(args[i].r.code, 0);
        assert_ptr_equal(args[i].r.val, first);
        assert_string_equal((const char *)args[i].r.val->data, "loaded");
    }
    assert_int_equal(leaders, 1);
    for (int i = 0; i < DO_THREADS; i++)
        cache_val_release(args[i].r.val); /* each owns one reference: ASan sees no leak */
    assert_int_equal(sf_active(ctx.s), 0);

    mfam_t *total = metrics_counter(m, "singleflight_total", "", "cache,role,outcome");
    assert_rel(mfam_get(total, MX_LV("testCache", "leader", "ok")), 1);
    assert_rel(mfam_get(total, MX_LV("testCache", "local_follower", "ok")), DO_THREADS - 1);
    sf_free(ctx.s);
    metrics_free(m);
}

/* A leader that holds its flight until told to let go. */
static sf_result_t blocked_loader(void *arg)
{
    loader_ctx_t *ctx = arg;
    atomic_fetch_add(&ctx->loads, 1);
    atomic_store(&ctx->waiting_for_release, true);
    int64_t end = clock_mono_ms() + POLL_LIMIT_MS;
    while (!atomic_load(&ctx->release) && clock_mono_ms() < end)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return (sf_result_t){7, cache_val_new("late", 4, 0)};
}

static void *blocked_leader(void *p)
{
    do_arg_t *a = p;
    a->r = sf_do(a->ctx->s, "slow", blocked_loader, a->ctx, 10000, 99, &a->role);
    return NULL;
}

static void *patient_follower(void *p)
{
    do_arg_t *a = p;
    a->r = sf_do(a->ctx->s, "slow", blocked_loader, a->ctx, 10000, 99, &a->role);
    return NULL;
}

static bool leader_is_loading(void *p) { return atomic_load(&((loader_ctx_t *)p)->waiting_for_release); }

static bool patient_is_waiting(void *p)
{
    loader_ctx_t *ctx = p;
    return sf_followers(ctx->s, "slow") == 1;
}

static void test_sf_do_follower_timeout(void **state)
{
    (void)state;
    loader_ctx_t ctx = {.s = sf_new("testCache", NULL)};
    do_arg_t lead = {.ctx = &ctx}, patient = {.ctx = &ctx};
    pthread_t lt, pt;
    pthread_create(&lt, NULL, blocked_leader, &lead);
    assert_true(wait_until(leader_is_loading, &ctx));
    pthread_create(&pt, NULL, patient_follower, &patient);
    assert_true(wait_until(patient_is_waiting, &ctx));

    /* an impatient follower gives up after 50 ms and leaves the flight intact */
    sf_role_t role = SF_LEADER;
    int64_t t0 = clock_mono_ms();
    sf_result_t r = sf_do(ctx.s, "slow", blocked_loader, &ctx, 50, 99, &role);
    int64_t took = clock_mono_ms() - t0;
    assert_int_equal(role, SF_FOLLOWER);
    assert_int_equal(r.code, 99);
    assert_null(r.val);
    assert_true(took >= 49 && took < POLL_LIMIT_MS);
    assert_int_equal(sf_followers(ctx.s, "slow"), 1);
    assert_int_equal(sf_active(ctx.s), 1);

    atomic_store(&ctx.release, true);
    pthread_join(lt, NULL);
    pthread_join(pt, NULL);
    assert_int_equal(atomic_load(&ctx.loads), 1);
    assert_int_equal(lead.role, SF_LEADER);
    assert_int_equal(patient.role, SF_FOLLOWER);
    assert_int_equal(lead.r.code, 7);
    assert_int_equal(patient.r.code, 7);
    assert_ptr_equal(lead.r.val, patient.r.val);
    cache_val_release(lead.r.val);
    cache_val_release(patient.r.val);
    assert_int_equal(sf_active(ctx.s), 0);

    /* wait_ms 0: a follower returns at once */
    ctx.release = false;
    ctx.waiting_for_release = false;
    pthread_create(&lt, NULL, blocked_leader, &lead);
    assert_true(wait_until(leader_is_loading, &ctx));
    r = sf_do(ctx.s, "slow", blocked_loader, &ctx, 0, 98, NULL);
    assert_int_equal(r.code, 98);
    atomic_store(&ctx.release, true);
    pthread_join(lt, NULL);
    cache_val_release(lead.r.val);
    sf_free(ctx.s);
}

/* Async followers and blocking followers share one flight. */
static void test_async_and_blocking_mix(void **state)
{
    (void)state;
    loader_ctx_t ctx = {.s = sf_new("testCache", NULL)};
    do_arg_t lead = {.ctx = &ctx};
    pthread_t lt;
    pthread_create(&lt, NULL, blocked_leader, &lead);
    assert_true(wait_until(leader_is_loading, &ctx));
    collect_t col = {.code = 7};
    sf_waiter_t *h;
    assert_int_equal(sf_join(ctx.s, "slow", on_done, &col, &h), SF_FOLLOWER);
    atomic_store(&ctx.release, true);
    pthread_join(lt, NULL);
    /* the callback ran on the leader's thread before sf_do returned there */
    assert_int_equal(atomic_load(&col.calls), 1);
    cache_val_release(lead.r.val);
    sf_free(ctx.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_leader_many_followers),
        cmocka_unit_test(test_error_code_propagated),
        cmocka_unit_test(test_cancel_before_finish),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_cancel_races_finish),
        cmocka_unit_test(test_sf_do_loads_once),
        cmocka_unit_test(test_sf_do_follower_timeout),
        cmocka_unit_test(test_async_and_blocking_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
