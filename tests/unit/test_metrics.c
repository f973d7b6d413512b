/* test_metrics.c - metrics registry: counters, gauges, histograms, labels, escaping, the series
 * limit, declarations, exact totals under 4 threads, the text format (exact), process_* metrics
 * and `promtool check metrics` when promtool is installed. */
#include "testutil.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops/metrics.h"

/* The whole exposition as a heap string (caller frees). */
static char *render(metrics_t *m)
{
    buf_t b;
    buf_init(&b, 1 << 26);
    metrics_render(m, &b);
    assert_true(buf_ok(&b));
    char *s = buf_steal(&b, NULL);
    assert_non_null(s);
    return s;
}

/* The exposition without the process_* families (which render appends last). */
static char *render_registry(metrics_t *m)
{
    char *s = render(m);
    char *p = strstr(s, "# HELP process_");
    assert_non_null(p);
    *p = '\0';
    return s;
}

static int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The value of the sample line that starts with `prefix ` (e.g. "process_threads"). */
static double sample_value(const char *text, const char *prefix)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\n%s ", prefix);
    const char *p = strstr(text, pat);
    if (!p) {
        print_error("no sample %s\n", prefix);
        fail();
    }
    return strtod(p + strlen(pat), NULL);
}

static const char *dropped_help =
    "# HELP metrics_dropped_series_total Label combinations dropped because their family reached its series limit.\n"
    "# TYPE metrics_dropped_series_total counter\n";

static void test_render_exact(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    mfam_t *req = metrics_counter(m, "requests_total", "Requests served.", "route, status");
    mfam_t *depth = metrics_gauge(m, "queue_depth", "Queue depth.", NULL);
    mfam_t *lat = metrics_histogram(m, "latency_seconds", "Latency.", "route", METRICS_SECONDS_BUCKETS, 12);
    mfam_t *errs = metrics_counter(m, "errors_total", "Errors.", "code");
    mfam_t *idle = metrics_gauge(m, "idle_workers", "Idle workers.", "");
    assert_non_null(req);
    assert_non_null(depth);
    assert_non_null(lat);
    assert_non_null(errs);
    assert_non_null(idle);

    mfam_add(req, MX_LV("/a", "200"), 1);
    mfam_add(req, MX_LV("/b", "500"), 1);
    mfam_add(req, MX_LV("/a", "200"), 2);
    mfam_set(depth, NULL, 1.5);
    mfam_observe(lat, MX_LV("/a"), 0.00390625);
    mfam_observe(lat, MX_LV("/a"), 0.015625);
    mfam_observe(lat, MX_LV("/a"), 7);
    mfam_observe(lat, MX_LV("/a"), 100);
    mfam_observe(lat, MX_LV("/b"), 0.005); /* on a bound: counted in that bucket (le = less or equal) */

    char *got = render_registry(m);
    const char *want_tail =
        "# HELP requests_total Requests served.\n"
        "# TYPE requests_total counter\n"
        "requests_total{route=\"/a\",status=\"200\"} 3\n"
        "requests_total{route=\"/b\",status=\"500\"} 1\n"
        "# HELP queue_depth Queue depth.\n"
        "# TYPE queue_depth gauge\n"
        "queue_depth 1.5\n"
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.01\"} 1\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.025\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.05\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"2.5\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"5\"} 2\n"
        "latency_seconds_bucket{route=\"/a\",le=\"10\"} 3\n"
        "latency_seconds_bucket{route=\"/a\",le=\"30\"} 3\n"
        "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
        "latency_seconds_sum{route=\"/a\"} 107.01953125\n"
        "latency_seconds_count{route=\"/a\"} 4\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.005\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.01\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.025\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.05\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.1\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.25\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"0.5\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"1\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"2.5\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"5\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"10\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"30\"} 1\n"
        "latency_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
        "latency_seconds_sum{route=\"/b\"} 0.005\n"
        "latency_seconds_count{route=\"/b\"} 1\n"
        "# HELP errors_total Errors.\n"
        "# TYPE errors_total counter\n"
        "# HELP idle_workers Idle workers.\n"
        "# TYPE idle_workers gauge\n"
        "idle_workers 0\n";
    char want[8192];
    snprintf(want, sizeof want, "%smetrics_dropped_series_total 0\n%s", dropped_help, want_tail);
    assert_string_equal(got, want);
    free(got);

    assert_true(mfam_get(req, MX_LV("/a", "200")) == 3);
    assert_true(mfam_get(req, MX_LV("/c", "200")) == 0); /* reading does not create */
    assert_true(mfam_get(lat, MX_LV("/a")) == 4);        /* histogram: observation count */
    assert_true(mfam_get(depth, NULL) == 1.5);
    got = render_registry(m);
    assert_null(strstr(got, "/c"));
    free(got);
    metrics_free(m);
}

static void test_counter_and_gauge_semantics(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    mfam_t *c = metrics_counter(m, "jobs_total", "Jobs.", NULL);
    mfam_t *g = metrics_gauge(m, "in_flight", "In flight.", "pool");
    mfam_add(c, NULL, 2);
    mfam_add(c, NULL, -1);  /* counters never go down */
    mfam_add(c, NULL, NAN); /* nor become NaN */
    mfam_set(c, NULL, 100); /* set is for gauges only */
    mfam_observe(c, NULL, 1);
    assert_true(mfam_get(c, NULL) == 2);

    mfam_add(g, MX_LV("http"), 3);
    mfam_add(g, MX_LV("http"), -1);
    mfam_set(g, MX_LV("jobs"), 7);
    mfam_add(g, NULL, 1); /* labelled family without values: ignored */
    assert_true(mfam_get(g, MX_LV("http")) == 2);
    assert_true(mfam_get(g, MX_LV("jobs")) == 7);
    assert_true(mfam_get(g, NULL) == 0);

    /* NULL families and registries are no-ops */
    mfam_add(NULL, NULL, 1);
    mfam_set(NULL, NULL, 1);
    mfam_observe(NULL, NULL, 1);
    assert_true(mfam_get(NULL, NULL) == 0);
    assert_null(metrics_counter(NULL, "x_total", "x", NULL));
    metrics_render(NULL, NULL);
    metrics_free(NULL);
    metrics_free(m);
}

static void test_number_formats(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    mfam_t *g = metrics_gauge(m, "value_ratio", "Values.", "case");
    mfam_set(g, MX_LV("nan"), NAN);
    mfam_set(g, MX_LV("pinf"), INFINITY);
    mfam_set(g, MX_LV("ninf"), -INFINITY);
    mfam_set(g, MX_LV("tenth"), 0.1);
    mfam_set(g, MX_LV("third"), 1.0 / 3.0);
    mfam_set(g, MX_LV("small"), 1.5e-7);
    mfam_set(g, MX_LV("big"), 1e20);
    mfam_set(g, MX_LV("int"), 123456789012.0);
    mfam_set(g, MX_LV("neg"), -42);
    mfam_set(g, MX_LV("negzero"), -0.0);
    mfam_t *h = metrics_histogram(m, "payload_bytes", "Sizes.", NULL, METRICS_BYTES_BUCKETS, 7);
    mfam_observe(h, NULL, 300);
    mfam_observe(h, NULL, 5e6);
    mfam_observe(h, NULL, NAN); /* ignored */
    char *got = render_registry(m);
    const char *want =
        "value_ratio{case=\"nan\"} NaN\n"
        "value_ratio{case=\"pinf\"} +Inf\n"
        "value_ratio{case=\"ninf\"} -Inf\n"
        "value_ratio{case=\"tenth\"} 0.1\n"
        "value_ratio{case=\"third\"} 0.3333333333333333\n"
        "value_ratio{case=\"small\"} 1.5e-07\n"
        "value_ratio{case=\"big\"} 100000000000000000000\n"
        "value_ratio{case=\"int\"} 123456789012\n"
        "value_ratio{case=\"neg\"} -42\n"
        "value_ratio{case=\"negzero\"} 0\n"
        "# HELP payload_bytes Sizes.\n"
        "# TYPE payload_bytes histogram\n"
        "payload_bytes_bucket{le=\"256\"} 0\n"
        "payload_bytes_bucket{le=\"1024\"} 1\n"
        "payload_bytes_bucket{le=\"4096\"} 1\n"
        "payload_bytes_bucket{le=\"16384\"} 1\n"
        "payload_bytes_bucket{le=\"65536\"} 1\n"
        "payload_bytes_bucket{le=\"262144\"} 1\n"
        "payload_bytes_bucket{le=\"1048576\"} 1\n"
        "payload_bytes_bucket{le=\"+Inf\"} 2\n"
        "payload_bytes_sum 5000300\n"
        "payload_bytes_count 2\n";
    const char *p = strstr(got, "value_ratio{");
    assert_non_null(p);
    assert_string_equal(p, want);
    free(got);
    metrics_free(m);
}

static void test_escaping(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    mfam_t *c = metrics_counter(m, "escapes_total", "Help with \\ backslash, \"quotes\"\nand a newline.", "v");
    mfam_add(c, MX_LV("a\\b\"c\nd"), 1);
    mfam_add(c, MX_LV("bad\xff" "byte"), 1);
    mfam_add(c, MX_LV("한글"), 1);
    mfam_add(c, MX_LV(""), 1);
    const char *null_val[] = {NULL}; /* a NULL value is the empty string */
    mfam_add(c, null_val, 1);
    char *got = render_registry(m);
    const char *want =
        "# HELP escapes_total Help with \\\\ backslash, \"quotes\"\\nand a newline.\n"
        "# TYPE escapes_total counter\n"
        "escapes_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"
        "escapes_total{v=\"bad\xEF\xBF\xBD" "byte\"} 1\n"
        "escapes_total{v=\"한글\"} 1\n"
        "escapes_total{v=\"\"} 2\n";
    const char *p = strstr(got, "# HELP escapes_total");
    assert_non_null(p);
    assert_string_equal(p, want);
    free(got);
    metrics_free(m);
}

static void test_series_limit(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    mfam_t *c = metrics_counter(m, "per_user_total", "A label fed with unbounded values.", "user");
    char v[32];
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf(v, sizeof v, "u%d", i);
        mfam_add(c, MX_LV(v), 1);
    }
    mfam_t *dropped = metrics_counter(m, "metrics_dropped_series_total", "ignored", NULL);
    assert_non_null(dropped);
    assert_true(mfam_get(dropped, NULL) == 10);
    snprintf(v, sizeof v, "u%d", METRICS_MAX_SERIES);
    assert_true(mfam_get(c, MX_LV(v)) == 0);
    mfam_add(c, MX_LV("u0"), 4); /* existing series still update */
    assert_true(mfam_get(c, MX_LV("u0")) == 5);
    snprintf(v, sizeof v, "u%d", METRICS_MAX_SERIES - 1);
    assert_true(mfam_get(c, MX_LV(v)) == 1);

    char *got = render(m);
    assert_int_equal(count_occurrences(got, "\nper_user_total{"), METRICS_MAX_SERIES);
    assert_true(sample_value(got, "metrics_dropped_series_total") == 10);
    free(got);
    metrics_free(m);
}

static void test_declarations(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    mfam_t *c = metrics_counter(m, "hits_total", "Hits.", "cache,layer");
    assert_non_null(c);
    assert_ptr_equal(metrics_counter(m, "hits_total", "Other help.", " cache , layer "), c);
    assert_null(metrics_gauge(m, "hits_total", "Hits.", "cache,layer"));  /* other type */
    assert_null(metrics_counter(m, "hits_total", "Hits.", "cache"));      /* other labels */
    assert_null(metrics_counter(m, "hits_total", "Hits.", "layer,cache")); /* other order */

    assert_null(metrics_counter(m, "hits", "no _total", NULL));
    assert_null(metrics_gauge(m, "level_total", "_total on a gauge", NULL));
    assert_null(metrics_gauge(m, "bad-name", "x", NULL));
    assert_null(metrics_gauge(m, "9lives", "x", NULL));
    assert_null(metrics_gauge(m, "has:colon", "x", NULL));
    assert_null(metrics_gauge(m, "", "x", NULL));
    assert_null(metrics_gauge(m, NULL, "x", NULL));
    assert_null(metrics_gauge(m, "Upper", "x", NULL));
    assert_null(metrics_gauge(m, "camelCase", "x", NULL));
    assert_null(metrics_gauge(m, "level_one", "x", "a,a"));  /* repeated label */
    assert_null(metrics_gauge(m, "level_two", "x", "a,,b")); /* empty label */
    assert_null(metrics_gauge(m, "level_three", "x", "__x"));
    assert_null(metrics_gauge(m, "level_four", "x", "a-b"));
    assert_null(metrics_gauge(m, "level_five", "x", "routeName"));
    assert_null(metrics_gauge(m, "level_six", "x", "le"));       /* reserved for histogram buckets */
    assert_null(metrics_gauge(m, "level_seven", "x", "quantile")); /* reserved for summaries */
    assert_null(metrics_gauge(m, "process_threads", "render adds it", NULL));
    assert_null(metrics_histogram(m, "hist_seconds", "x", "le", NULL, 0));
    /* names promtool lints: types and non-base or abbreviated units in the name */
    assert_null(metrics_counter(m, "requests_counter_total", "x", NULL));
    assert_null(metrics_gauge(m, "queue_gauge", "x", NULL));
    assert_null(metrics_gauge(m, "latency_ms", "x", NULL));
    assert_null(metrics_gauge(m, "latency_s", "x", NULL));
    assert_null(metrics_gauge(m, "size_kb_now", "x", NULL));
    assert_null(metrics_histogram(m, "call_milliseconds", "x", NULL, NULL, 0));
    assert_null(metrics_gauge(m, "uptime_minutes", "x", NULL));
    assert_null(metrics_gauge(m, "payload_kilobytes", "x", NULL));
    assert_null(metrics_gauge(m, "rows_count", "x", NULL));
    assert_null(metrics_gauge(m, "rows_sum", "x", NULL));
    assert_null(metrics_counter(m, "rows_bucket", "x", NULL));
    assert_non_null(metrics_gauge(m, "counter_resets", "a type word first is fine", NULL));
    static const double unsorted[] = {1, 0.5};
    static const double with_nan[] = {1, NAN};
    assert_null(metrics_histogram(m, "hist_seconds", "x", NULL, unsorted, 2));
    assert_null(metrics_histogram(m, "hist_seconds", "x", NULL, with_nan, 2));

    /* NULL buckets mean the default seconds buckets; a trailing +Inf is implied */
    mfam_t *h = metrics_histogram(m, "wait_seconds", "Wait.", NULL, NULL, 0);
    assert_non_null(h);
    static const double with_inf[] = {1, 2, INFINITY};
    mfam_t *h2 = metrics_histogram(m, "size_bytes", "Size.", NULL, with_inf, 3);
    assert_non_null(h2);
    /* names that would collide with a histogram's samples */
    assert_null(metrics_gauge(m, "wait_seconds_count", "x", NULL));
    assert_null(metrics_histogram(m, "wait_seconds_bucket", "x", NULL, NULL, 0));
    assert_non_null(metrics_histogram(m, "other_bytes_bucket", "x", NULL, METRICS_BYTES_BUCKETS, 7));
    assert_null(metrics_histogram(m, "other_bytes", "x", NULL, NULL, 0));

    /* an empty help becomes the name (promtool requires HELP text) */
    assert_non_null(metrics_gauge(m, "quiet_level", "", NULL));

    char *got = render_registry(m);
    assert_non_null(strstr(got, "wait_seconds_bucket{le=\"30\"} 0\nwait_seconds_bucket{le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(got, "size_bytes_bucket{le=\"2\"} 0\nsize_bytes_bucket{le=\"+Inf\"} 0\n"));
    assert_non_null(strstr(got, "# HELP hits_total Hits.\n"));
    assert_non_null(strstr(got, "# HELP quiet_level quiet_level\n"));
    assert_int_equal(count_occurrences(got, "# TYPE hits_total"), 1);
    free(got);
    metrics_free(m);
}

typedef struct {
    int calls;
    double value;
} fn_state_t;

static double read_fn(void *ctx)
{
    fn_state_t *s = ctx;
    s->calls++;
    return s->value;
}

static void test_gauge_fn_and_process(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    fn_state_t a = {0, 12.5}, b = {0, 99};
    metrics_gauge_fn(m, "pool_max", "Pool size.", read_fn, &a);
    char *got = render(m);
    assert_int_equal(a.calls, 1);
    assert_non_null(strstr(got, "# HELP pool_max Pool size.\n# TYPE pool_max gauge\npool_max 12.5\n"));
    free(got);
    a.value = 13;
    metrics_gauge_fn(m, "pool_max", "Pool size.", read_fn, &b); /* re-registration replaces */
    got = render(m);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_non_null(strstr(got, "\npool_max 99\n"));

    /* process_* metrics: present once per render, however many renders */
    static const char *const names[] = {"process_cpu_seconds_total", "process_open_fds",
                                        "process_resident_memory_bytes", "process_start_time_seconds",
                                        "process_threads"};
    for (size_t i = 0; i < 5; i++) {
        char pat[128];
        snprintf(pat, sizeof pat, "# TYPE %s ", names[i]);
        assert_int_equal(count_occurrences(got, pat), 1);
        snprintf(pat, sizeof pat, "# HELP %s ", names[i]);
        assert_int_equal(count_occurrences(got, pat), 1);
    }
    assert_non_null(strstr(got, "# TYPE process_cpu_seconds_total counter\n"));
    assert_true(sample_value(got, "process_cpu_seconds_total") >= 0);
    assert_true(sample_value(got, "process_threads") >= 1);
    assert_true(sample_value(got, "process_open_fds") >= 3);
    assert_true(sample_value(got, "process_resident_memory_bytes") > 1 << 20);
    double start = sample_value(got, "process_start_time_seconds");
    double now = (double)time(NULL);
    assert_true(start > now - 3600 && start < now + 5);
    free(got);
    metrics_free(m);
}

#define THREADS 4
#define ITERS 40000

typedef struct {
    mfam_t *c, *g, *h;
    int id;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    static const char *const routes[] = {"/a", "/b", "/c", "/d"};
    char own[16];
    for (int i = 0; i < ITERS; i++) {
        mfam_add(w->c, MX_LV(routes[i % 4]), 1);
        mfam_add(w->g, NULL, 1);
        mfam_observe(w->h, MX_LV(routes[(i + w->id) % 4]), 0.25);
        if (i % 200 == 0) { /* new series while others update: the table grows under load */
            snprintf(own, sizeof own, "t%d-%d", w->id, i / 200);
            mfam_add(w->c, MX_LV(own), 1);
        }
        mfam_add(w->g, NULL, -1);
    }
    return NULL;
}

static void *renderer(void *arg)
{
    metrics_t *m = arg;
    for (int i = 0; i < 20; i++) {
        buf_t b;
        buf_init(&b, 1 << 24);
        metrics_render(m, &b);
        buf_dispose(&b);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    worker_t w[THREADS];
    pthread_t t[THREADS + 1];
    mfam_t *c = metrics_counter(m, "calls_total", "Calls.", "route");
    mfam_t *g = metrics_gauge(m, "busy", "Busy.", NULL);
    mfam_t *h = metrics_histogram(m, "call_seconds", "Call time.", "route", NULL, 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){c, g, h, i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&t[THREADS], NULL, renderer, m), 0);
    for (int i = 0; i <= THREADS; i++)
        pthread_join(t[i], NULL);

    static const char *const routes[] = {"/a", "/b", "/c", "/d"};
    for (int r = 0; r < 4; r++) {
        assert_true(mfam_get(c, MX_LV(routes[r])) == THREADS * ITERS / 4);
        assert_true(mfam_get(h, MX_LV(routes[r])) == THREADS * ITERS / 4);
    }
    assert_true(mfam_get(c, MX_LV("t3-199")) == 1);
    assert_true(mfam_get(g, NULL) == 0);
    char *got = render(m);
    assert_int_equal(count_occurrences(got, "\ncalls_total{"), 4 + THREADS * ITERS / 200);
    char line[128];
    snprintf(line, sizeof line, "call_seconds_bucket{route=\"/a\",le=\"0.25\"} %d\n", THREADS * ITERS / 4);
    assert_non_null(strstr(got, line));
    snprintf(line, sizeof line, "call_seconds_sum{route=\"/a\"} %d\n", THREADS * ITERS / 16);
    assert_non_null(strstr(got, line));
    free(got);
    metrics_free(m);
}

/* The path of an executable found on PATH, or false. */
static bool find_on_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        snprintf(out, size, "%.*s/%s", (int)n, path, name);
        if (n > 0 && access(out, X_OK) == 0)
            return true;
        path += n + (end ? 1 : 0);
    }
    return false;
}

static double five(void *ctx)
{
    (void)ctx;
    return 5;
}

/* Fails the test unless `promtool check metrics` accepts text without a single lint problem;
 * skips (visibly) when promtool is not installed. */
static void assert_promtool_accepts(const char *text)
{
    char promtool[4096];
    if (!find_on_path("promtool", promtool, sizeof promtool)) {
        print_message("promtool not on PATH (Debian package prometheus): skipping\n");
        skip();
    }
    char path[] = "/tmp/test_metrics_promXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);

    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' check metrics < '%s' 2>&1", promtool, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    if (n > 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        print_error("promtool said (status %d):\n%s\n--- input ---\n%s\n", status, out, text);
    assert_int_equal(n, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_promtool_accepts_every_kind(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    mfam_t *c = metrics_counter(m, "http_server_rejected_total", "Requests refused before work.", "reason");
    mfam_t *c0 = metrics_counter(m, "expectation_cooldown_hits_total", "Forced recomputations refused.", NULL);
    mfam_t *g = metrics_gauge(m, "cache_entries", "L1 entries, with \\ and \"quotes\"\nover lines.", "cache");
    mfam_t *g0 = metrics_gauge(m, "http_server_requests_in_flight", "Requests being served.", NULL);
    mfam_t *h = metrics_histogram(m, "http_server_requests_seconds", "Request latency.", "method,route,status,code",
                                  METRICS_SECONDS_BUCKETS, 12);
    mfam_t *hb = metrics_histogram(m, "http_server_response_size_bytes", "Bytes sent.", "route,encoding",
                                   METRICS_BYTES_BUCKETS, 7);
    mfam_t *h0 = metrics_histogram(m, "db_pool_acquire_seconds", "Pool waits.", NULL, NULL, 0);
    assert_non_null(metrics_counter(m, "auth_login_total", "Logins (no series yet).", "result"));
    assert_non_null(metrics_histogram(m, "job_duration_seconds", "Jobs (no series yet).", "job", NULL, 0));
    metrics_gauge_fn(m, "db_pool_max", "Pool size.", five, NULL);
    mfam_add(c, MX_LV("overload"), 3);
    mfam_add(c0, NULL, 1);
    mfam_set(g, MX_LV("a\\b\"c\nd"), 7);
    mfam_set(g, MX_LV("한글\xff"), NAN);
    mfam_set(g, MX_LV("tiny"), 1.5e-300);
    mfam_set(g0, NULL, -INFINITY);
    mfam_observe(h, MX_LV("GET", "/api/v4/characters/{userIgn}/expectation", "200", ""), 0.012);
    mfam_observe(h, MX_LV("GET", "/api/v4/characters/{userIgn}/expectation", "503", "S007"), 31);
    mfam_observe(hb, MX_LV("/x", "gzip"), 2000);
    mfam_observe(h0, NULL, 0.1);
    char *text = render(m);
    assert_promtool_accepts(text);
    free(text);
    metrics_free(m);
}

/* Every family of spec 4.1 can be declared as specified, and the result passes promtool. */
static const struct {
    const char *name, *type, *labels;
} SPEC_FAMILIES[] = {
    {"http_server_requests_seconds", "histogram", "method,route,status,code"},
    {"http_server_response_size_bytes", "histogram", "route,encoding"},
    {"http_server_requests_in_flight", "gauge", ""},
    {"http_server_rejected_total", "counter", "reason"},
    {"ratelimit_decisions_total", "counter", "scope,result,mode"},
    {"auth_login_total", "counter", "result"},
    {"auth_refresh_total", "counter", "result"},
    {"auth_session_lookups_total", "counter", "source,result"},
    {"cache_requests_total", "counter", "cache,layer,result"},
    {"cache_entries", "gauge", "cache"},
    {"cache_size_bytes", "gauge", "cache"},
    {"cache_evictions_total", "counter", "cache,reason"},
    {"cache_invalidations_total", "counter", "direction,op,result"},
    {"cache_l1_flushes_total", "counter", "reason"},
    {"singleflight_total", "counter", "cache,role,outcome"},
    {"singleflight_wait_seconds", "histogram", "cache"},
    {"upstream_requests_total", "counter", "endpoint,outcome"},
    {"upstream_request_duration_seconds", "histogram", "endpoint"},
    {"upstream_short_circuited_total", "counter", "reason"},
    {"upstream_retries_total", "counter", "endpoint,result"},
    {"upstream_in_flight", "gauge", ""},
    {"circuit_state", "gauge", "breaker,scope"},
    {"circuit_transitions_total", "counter", "breaker,to"},
    {"expectation_computations_total", "counter", "trigger,outcome"},
    {"expectation_computation_duration_seconds", "histogram", "trigger"},
    {"expectation_cooldown_hits_total", "counter", ""},
    {"work_queue_depth", "gauge", "pool"},
    {"work_queue_capacity", "gauge", "pool"},
    {"work_active", "gauge", "pool"},
    {"work_rejected_total", "counter", "pool"},
    {"work_expired_total", "counter", "pool"},
    {"work_queue_wait_seconds", "histogram", "pool"},
    {"work_duration_seconds", "histogram", "pool"},
    {"expectation_buffer_pending", "gauge", ""},
    {"expectation_buffer_capacity", "gauge", ""},
    {"expectation_buffer_records_total", "counter", "event"},
    {"expectation_buffer_flush_seconds", "histogram", ""},
    {"like_operations_total", "counter", "op,result"},
    {"like_delta_pending", "gauge", ""},
    {"like_delta_oldest_age_seconds", "gauge", ""},
    {"like_fold_runs_total", "counter", "result"},
    {"like_fold_deltas_total", "counter", ""},
    {"donation_requests_total", "counter", "result"},
    {"donation_points_transferred_total", "counter", ""},
    {"outbox_enqueued_total", "counter", "outbox,event_type,result"},
    {"outbox_transitions_total", "counter", "outbox,to"},
    {"outbox_rows", "gauge", "outbox,status"},
    {"outbox_oldest_pending_age_seconds", "gauge", "outbox"},
    {"outbox_claim_lost_total", "counter", "outbox"},
    {"outbox_relay_batch_seconds", "histogram", "outbox"},
    {"dlq_rows", "gauge", "queue"},
    {"dlq_spool_files", "gauge", "queue"},
    {"dlq_safety_net_total", "counter", "queue,tier"},
    {"dlq_admin_actions_total", "counter", "queue,action"},
    {"calc_queue_depth", "gauge", "priority"},
    {"calc_enqueue_total", "counter", "priority,result"},
    {"calc_jobs_total", "counter", "outcome"},
    {"calc_job_duration_seconds", "histogram", ""},
    {"calc_reclaimed_total", "counter", ""},
    {"expectation_view_reads_total", "counter", "result"},
    {"lease_acquisitions_total", "counter", "lease,tier,result"},
    {"lease_held", "gauge", "lease,tier"},
    {"lease_lost_total", "counter", "lease"},
    {"job_runs_total", "counter", "job,result"},
    {"job_duration_seconds", "histogram", "job"},
    {"job_last_success_timestamp_seconds", "gauge", "job"},
    {"alerts_total", "counter", "severity,result"},
    {"alert_quota_used", "gauge", ""},
    {"alert_quota_limit", "gauge", ""},
    {"ai_analysis_total", "counter", "result"},
    {"ai_quota_used", "gauge", ""},
    {"ai_quota_limit", "gauge", ""},
    {"ai_in_flight", "gauge", ""},
    {"db_pool_connections", "gauge", "state"},
    {"db_pool_max", "gauge", ""},
    {"db_pool_acquire_seconds", "histogram", ""},
    {"db_pool_acquire_timeouts_total", "counter", ""},
    {"db_transactions_total", "counter", "result"},
    {"redis_commands_total", "counter", "result"},
    {"redis_command_duration_seconds", "histogram", ""},
    {"redis_connections", "gauge", "state"},
    {"redis_connections_max", "gauge", ""},
    {"dependency_up", "gauge", "dependency"},
    {"popularity_increments_total", "counter", "result"},
    {"instance_state", "gauge", "state"},
    {"instance_ready", "gauge", ""},
    {"shutdown_phase_duration_seconds", "gauge", "phase"},
    {"shutdown_leftover_items", "gauge", "kind"},
    {"build_info", "gauge", "version,commit,mode"},
    {"lookup_tables_info", "gauge", "checksum"},
};

static void test_spec_families_declare_and_pass_promtool(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    const char *vals[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (size_t i = 0; i < sizeof SPEC_FAMILIES / sizeof SPEC_FAMILIES[0]; i++) {
        const char *name = SPEC_FAMILIES[i].name, *type = SPEC_FAMILIES[i].type, *labels = SPEC_FAMILIES[i].labels;
        mfam_t *f;
        if (strcmp(type, "counter") == 0)
            f = metrics_counter(m, name, "Spec family.", labels);
        else if (strcmp(type, "gauge") == 0)
            f = metrics_gauge(m, name, "Spec family.", labels);
        else if (strstr(name, "_bytes"))
            f = metrics_histogram(m, name, "Spec family.", labels, METRICS_BYTES_BUCKETS, 7);
        else
            f = metrics_histogram(m, name, "Spec family.", labels, METRICS_SECONDS_BUCKETS, 12);
        if (!f)
            print_error("spec family %s rejected\n", name);
        assert_non_null(f);
        if (i % 3 == 0) /* leave some families without series */
            continue;
        if (strcmp(type, "histogram") == 0)
            mfam_observe(f, vals, 0.3);
        else
            mfam_add(f, vals, 1);
    }
    char *text = render(m);
    assert_promtool_accepts(text);
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_counter_and_gauge_semantics),
        cmocka_unit_test(test_number_formats),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_declarations),
        cmocka_unit_test(test_gauge_fn_and_process),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_promtool_accepts_every_kind),
        cmocka_unit_test(test_spec_families_declare_and_pass_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
