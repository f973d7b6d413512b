/* test_breaker.c - the in-process circuit breaker (3.3): opening threshold, window expiry,
 * half-open probe limit, close and re-open decisions, successes never counting as failures.
 * Time comes from a test clock, so nothing here sleeps. */
#include "testutil.h"

#include "coord/breaker.h"
#include "ops/log.h"
#include "ops/metrics.h"

static int64_t fake_now_ms;
static int64_t fake_clock(void) { return fake_now_ms; }

/* The nexonApi parameters of 3.3. */
static const breaker_opts_t API_OPTS = {
    .name = "testApi", .window_s = 10, .min_calls = 10, .failure_rate = 0.5,
    .open_s = 10, .probes = 3, .close_successes = 2,
};

/* A breaker with the test clock reset; m may be NULL (no metrics). */
static breaker_t *new_breaker(metrics_t *m)
{
    fake_now_ms = 1000000;
    breaker_t *b = breaker_new(&API_OPTS, m);
    assert_non_null(b);
    breaker_set_clock(b, fake_clock);
    return b;
}

/* n calls, each admitted. */
static void allow_n(breaker_t *b, int n)
{
    for (int i = 0; i < n; i++)
        assert_true(breaker_allow(b));
}

/* n calls, each admitted and then recorded with the given outcome. */
static void record_n(breaker_t *b, int n, bool success)
{
    for (int i = 0; i < n; i++) {
        assert_true(breaker_allow(b));
        breaker_record(b, success);
    }
}

/* Drives a fresh breaker to OPEN and then past the open interval (HALF_OPEN). */
static void open_then_wait(breaker_t *b)
{
    record_n(b, 10, false);
    assert_int_equal(breaker_state(b), BREAKER_OPEN);
    fake_now_ms += 10 * 1000;
    assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
}

/* A fresh breaker (no metrics) in HALF_OPEN with its three probes admitted, none recorded yet. */
static breaker_t *three_probes_in_flight(void)
{
    breaker_t *b = new_breaker(NULL);
    open_then_wait(b);
    allow_n(b, 3);
    return b;
}

static void test_opens_exactly_at_min_calls_and_rate(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    record_n(b, 5, true);
    record_n(b, 4, false);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED); /* 9 calls: below min_calls */
    record_n(b, 1, false);                              /* 10 calls, 5 failures = 50 % */
    assert_int_equal(breaker_state(b), BREAKER_OPEN);
    assert_false(breaker_allow(b));
    breaker_free(b);
}

static void test_below_rate_stays_closed(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    record_n(b, 6, true);
    record_n(b, 5, false); /* 11 calls, 5 failures = 45 % */
    assert_int_equal(breaker_state(b), BREAKER_CLOSED);
    breaker_free(b);
}

static void test_min_calls_reached_by_a_success(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    record_n(b, 9, false);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED); /* 9 < min_calls however bad */
    record_n(b, 1, true);                               /* 10 calls, 90 % failures */
    assert_int_equal(breaker_state(b), BREAKER_OPEN);
    breaker_free(b);
}

static void test_window_expiry(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    record_n(b, 9, false);
    fake_now_ms += 10 * 1000; /* those 9 failures leave the 10 s window */
    record_n(b, 1, false);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED);
    /* within the window the counts add up across buckets */
    fake_now_ms += 4 * 1000;
    record_n(b, 4, false);
    fake_now_ms += 5 * 1000; /* the single failure above is now 9 s old: still inside */
    record_n(b, 4, false);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED); /* 9 calls */
    record_n(b, 1, false);
    assert_int_equal(breaker_state(b), BREAKER_OPEN);
    breaker_free(b);
}

static void test_open_interval(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    record_n(b, 10, false);
    fake_now_ms += 9999;
    assert_false(breaker_allow(b));
    assert_int_equal(breaker_state(b), BREAKER_OPEN);
    breaker_record(b, false); /* a late outcome while open changes nothing */
    fake_now_ms += 1;
    assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
    breaker_free(b);
}

static void test_half_open_probe_limit(void **state)
{
    (void)state;
    breaker_t *b = three_probes_in_flight();
    assert_false(breaker_allow(b)); /* 4th concurrent probe refused */
    assert_false(breaker_allow(b));
    assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
    breaker_free(b);
}

static void test_closes_after_two_of_three(void **state)
{
    (void)state;
    breaker_t *b = three_probes_in_flight();
    breaker_record(b, true);
    breaker_record(b, false);
    assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN); /* decided only when all 3 are in */
    breaker_record(b, true);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED);
    /* the closed breaker starts from an empty window */
    record_n(b, 9, false);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED);
    breaker_free(b);
}

static void test_reopens_after_failed_probes(void **state)
{
    (void)state;
    breaker_t *b = three_probes_in_flight();
    breaker_record(b, true);
    breaker_record(b, false);
    breaker_record(b, false); /* 1 of 3 < close_successes */
    assert_int_equal(breaker_state(b), BREAKER_OPEN);
    assert_false(breaker_allow(b));
    fake_now_ms += 10 * 1000; /* a full new open interval */
    assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
    assert_true(breaker_allow(b));
    breaker_free(b);
}

static void test_extra_outcomes_in_half_open_ignored(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    open_then_wait(b);
    assert_true(breaker_allow(b));
    /* outcomes beyond the admitted probes (calls started before the breaker opened) */
    breaker_record(b, true);
    breaker_record(b, true);
    breaker_record(b, true);
    assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
    breaker_free(b);
}

static void test_successes_never_count_as_failures(void **state)
{
    (void)state;
    breaker_t *b = new_breaker(NULL);
    /* 4xx answers are reported as record(true) by the client (M18): any number keeps it closed */
    record_n(b, 100, true);
    record_n(b, 9, false);
    assert_int_equal(breaker_state(b), BREAKER_CLOSED);
    assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
    assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
    breaker_free(b);
}

static void test_metrics(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    breaker_t *b = new_breaker(m);
    mfam_t *st = metrics_gauge(m, "circuit_state", "", "breaker,scope");
    mfam_t *tr = metrics_counter(m, "circuit_transitions_total", "", "breaker,to");
    assert_rel(mfam_get(st, MX_LV("testApi", "local")), 0);
    open_then_wait(b);
    assert_rel(mfam_get(st, MX_LV("testApi", "local")), 1);
    record_n(b, 3, false);
    assert_rel(mfam_get(st, MX_LV("testApi", "local")), 2);
    fake_now_ms += 10 * 1000;
    record_n(b, 3, true);
    assert_rel(mfam_get(st, MX_LV("testApi", "local")), 0);
    assert_rel(mfam_get(tr, MX_LV("testApi", "open")), 2);
    assert_rel(mfam_get(tr, MX_LV("testApi", "half_open")), 2);
    assert_rel(mfam_get(tr, MX_LV("testApi", "closed")), 1);
    breaker_free(b);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_exactly_at_min_calls_and_rate),
        cmocka_unit_test(test_below_rate_stays_closed),
        cmocka_unit_test(test_min_calls_reached_by_a_success),
        cmocka_unit_test(test_window_expiry),
        cmocka_unit_test(test_open_interval),
        cmocka_unit_test(test_half_open_probe_limit),
        cmocka_unit_test(test_closes_after_two_of_three),
        cmocka_unit_test(test_reopens_after_failed_probes),
        cmocka_unit_test(test_extra_outcomes_in_half_open_ignored),
        cmocka_unit_test(test_successes_never_count_as_failures),
        cmocka_unit_test(test_metrics),
    };
    log_init("test", "standalone", "test", LOG_ERROR); /* transitions log at INFO/WARN: keep output quiet */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
