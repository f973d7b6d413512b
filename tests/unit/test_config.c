/*
 * test_config.c - the settings table of `maplexp serve` (ops/config.h): defaults, environment,
 * flags (both spellings, flags win), every kind of bad value naming its variable, the required
 * API key, cross-checks, the production profile, --help, the help text and the start-up JSON.
 *
 * Every test starts from an environment without any of the table's variables (the names are
 * read from config_print_help, so a new setting is covered without editing this file) and with
 * NEXON_API_KEY set; teardown removes them again.
 */
#include "testutil.h"

#include <cjson/cJSON.h>

#include "ops/config.h"

#define API_KEY "test-key-0123456789-secret"
#define MAX_NAMES 256

/* ---- the variable names of the table, from the help text ---- */

static char g_names[MAX_NAMES][128]; /* filled once by main before the tests run */
static int g_n_names;

static char *help_text(void)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    config_print_help(f);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Lines "  --flag-name   VAR_NAME   default: ..." -> VAR_NAME. */
static int load_names(void)
{
    FILE *f = tmpfile();
    if (!f)
        return -1;
    config_print_help(f);
    rewind(f);
    char line[1024], flag[128], name[128];
    while (fgets(line, sizeof line, f) && g_n_names < MAX_NAMES) {
        if (strncmp(line, "  --", 4) != 0 || sscanf(line, "%127s %127s", flag, name) != 2)
            continue;
        snprintf(g_names[g_n_names++], sizeof g_names[0], "%s", name);
    }
    fclose(f);
    return g_n_names > 0 ? 0 : -1;
}

static void clear_env(void)
{
    for (int i = 0; i < g_n_names; i++)
        unsetenv(g_names[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    setenv("NEXON_API_KEY", API_KEY, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* ---- loading helpers ---- */

typedef struct {
    config_t c;
    bool ok, help;
    char err[512];
} load_t;

static load_t load_argv(int argc, char **argv)
{
    load_t l;
    memset(&l, 0, sizeof l);
    l.ok = config_load(&l.c, argc, argv, &l.help, l.err, sizeof l.err);
    return l;
}

#define LOAD(...)                                                                                        \
    load_argv((int)(sizeof((char *[]){"serve", __VA_ARGS__}) / sizeof(char *)), (char *[]){"serve", __VA_ARGS__})

static load_t load_env_only(void)
{
    char *argv[] = {"serve"};
    return load_argv(1, argv);
}

/* Fails unless loading failed with a message that contains every given fragment. */
static void expect_error_(load_t l, const char *const *parts, size_t n, int line)
{
    if (l.ok) {
        print_error("line %d: config_load succeeded, expected an error\n", line);
        _fail(__FILE__, line);
    }
    for (size_t i = 0; i < n; i++)
        if (!strstr(l.err, parts[i])) {
            print_error("line %d: error '%s' does not contain '%s'\n", line, l.err, parts[i]);
            _fail(__FILE__, line);
        }
}
#define expect_error(l, ...)                                                                             \
    expect_error_((l), (const char *const[]){__VA_ARGS__},                                             \
                  sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), __LINE__)

static void expect_ok_(load_t l, int line)
{
    if (!l.ok) {
        print_error("line %d: config_load failed: %s\n", line, l.err);
        _fail(__FILE__, line);
    }
}
#define expect_ok(l) expect_ok_((l), __LINE__)

/* ---- tests ---- */

static void test_defaults(void **state)
{
    (void)state;
    load_t l = load_env_only();
    expect_ok(l);
    assert_false(l.help);
    const config_t *c = &l.c;
    assert_string_equal(c->mode, "standalone");
    assert_string_equal(c->profile, "default");
    assert_string_equal(c->http_host, "127.0.0.1");
    assert_int_equal(c->http_port, 8080);
    assert_string_equal(c->sqlite_path, "./maplexp.db");
    assert_int_equal(c->db_readers, 4);
    assert_string_equal(c->nexon_api_key, API_KEY);
    assert_string_equal(c->nexon_api_base_url, "https://open.api.nexon.com");
    assert_int_equal(c->compute_concurrency, 16);
    assert_int_equal(c->compute_queue, 200);
    assert_int_equal(c->request_deadline_ms, 30000);
    assert_int_equal(c->upstream_total_timeout_ms, 10000);
    assert_int_equal(c->cors_max_age_s, 3600);
    assert_true(c->retry_budget_ratio == 0.2);
    assert_true(c->cb_nexon_failure_rate == 0.5);
    assert_true(c->access_log_sample == 1.0);
    assert_int_equal(c->cache_l1_max_bytes, 67108864L);
    assert_int_equal(c->writeback_capacity, 10000);
    assert_int_equal(c->writeback_flush_ms, 5000);
    assert_int_equal(c->writeback_batch, 100);
    assert_int_equal(c->writeback_shutdown_batch, 200);
    assert_int_equal(c->writeback_max_attempts, 5);
    assert_true(c->v5_enabled);
    assert_int_equal(c->v5_workers, 4);
    assert_int_equal(c->v5_high_only_workers, 2);
    assert_int_equal(c->shutdown_total_s, 50);
    assert_string_equal(c->log_level, "INFO");
    assert_string_equal(c->instance_id_prefix, "");
    assert_string_equal(c->trusted_proxies, "127.0.0.1,::1");
#ifdef MAPLEXP_DATADIR
    assert_string_equal(c->lookup_dir, MAPLEXP_DATADIR);
#endif
}

static void test_environment_overrides_defaults(void **state)
{
    (void)state;
    setenv("HTTP_PORT", "9001", 1);
    setenv("HTTP_HOST", "0.0.0.0", 1);
    setenv("SQLITE_PATH", "/var/lib/maplexp/x.db", 1);
    setenv("V5_ENABLED", "false", 1);
    setenv("RETRY_BUDGET_RATIO", "0.75", 1);
    setenv("CACHE_L1_MAX_BYTES", "17179869184", 1); /* 16 GiB: beyond int */
    setenv("COMPUTE_QUEUE", "0", 1);
    setenv("LOG_LEVEL", "debug", 1); /* level names are case-insensitive */
    load_t l = load_env_only();
    expect_ok(l);
    assert_int_equal(l.c.http_port, 9001);
    assert_string_equal(l.c.http_host, "0.0.0.0");
    assert_string_equal(l.c.sqlite_path, "/var/lib/maplexp/x.db");
    assert_false(l.c.v5_enabled);
    assert_true(l.c.retry_budget_ratio == 0.75);
    assert_int_equal(l.c.cache_l1_max_bytes, 17179869184L);
    assert_int_equal(l.c.compute_queue, 0);
    assert_string_equal(l.c.log_level, "debug");
}

static void test_bool_spellings(void **state)
{
    (void)state;
    const char *const yes[] = {"true", "TRUE", "1", "yes", "On"};
    const char *const no[] = {"false", "False", "0", "no", "OFF"};
    for (size_t i = 0; i < 5; i++) {
        setenv("V5_ENABLED", yes[i], 1);
        load_t l = load_env_only();
        expect_ok(l);
        assert_true(l.c.v5_enabled);
        setenv("V5_ENABLED", no[i], 1);
        l = load_env_only();
        expect_ok(l);
        assert_false(l.c.v5_enabled);
    }
}

static void test_flags_override_environment(void **state)
{
    (void)state;
    setenv("HTTP_PORT", "9001", 1);
    setenv("SQLITE_PATH", "/env.db", 1);
    load_t l = LOAD("--http-port", "9000");
    expect_ok(l);
    assert_int_equal(l.c.http_port, 9000);
    assert_string_equal(l.c.sqlite_path, "/env.db");

    l = LOAD("--http-port=9000", "--sqlite-path=/flag.db");
    expect_ok(l);
    assert_int_equal(l.c.http_port, 9000);
    assert_string_equal(l.c.sqlite_path, "/flag.db");

    /* The last occurrence wins; '=' inside a value is kept. */
    l = LOAD("--http-port", "1", "--http-port=2", "--nexon-api-key=a=b");
    expect_ok(l);
    assert_int_equal(l.c.http_port, 2);
    assert_string_equal(l.c.nexon_api_key, "a=b");

    /* Booleans and doubles as flags. */
    l = LOAD("--v5-enabled", "off", "--access-log-sample=0.25");
    expect_ok(l);
    assert_false(l.c.v5_enabled);
    assert_true(l.c.access_log_sample == 0.25);
}

static void test_unknown_flag_and_stray_argument(void **state)
{
    (void)state;
    expect_error(LOAD("--no-such-setting", "1"), "--no-such-setting");
    expect_error(LOAD("--no-such-setting=1"), "--no-such-setting");
    expect_error(LOAD("--HTTP_PORT=1"), "--HTTP_PORT"); /* flags are the lower-case dashed form */
    expect_error(LOAD("--http"), "--http");             /* a prefix is not a flag */
    expect_error(LOAD("9000"), "9000");
    expect_error(LOAD("-p", "9000"), "-p");
}

static void test_missing_value(void **state)
{
    (void)state;
    expect_error(LOAD("--http-port"), "--http-port", "value");
    expect_error(LOAD("--sqlite-path=/x.db", "--nexon-api-key"), "--nexon-api-key", "value");
}

static void test_out_of_range_and_malformed_numbers(void **state)
{
    (void)state;
    expect_error(LOAD("--http-port", "65536"), "HTTP_PORT", "65536");
    expect_error(LOAD("--http-port=-1"), "HTTP_PORT");
    expect_error(LOAD("--http-port=80a"), "HTTP_PORT", "80a");
    expect_error(LOAD("--http-port="), "HTTP_PORT");
    expect_error(LOAD("--http-port=1e3"), "HTTP_PORT");
    expect_error(LOAD("--http-port=99999999999999999999999"), "HTTP_PORT");
    expect_error(LOAD("--db-readers=0"), "DB_READERS");
    expect_error(LOAD("--db-readers=17"), "DB_READERS");
    expect_error(LOAD("--retry-budget-ratio=1.5"), "RETRY_BUDGET_RATIO");
    expect_error(LOAD("--retry-budget-ratio=abc"), "RETRY_BUDGET_RATIO");
    expect_error(LOAD("--access-log-sample=inf"), "ACCESS_LOG_SAMPLE");
    expect_error(LOAD("--cache-l1-max-bytes=1024"), "CACHE_L1_MAX_BYTES");
    expect_ok(LOAD("--http-port=0"));     /* bounds are inclusive */
    expect_ok(LOAD("--http-port=65535"));

    /* The same checks apply to the environment, and name the variable. */
    setenv("WRITEBACK_CAPACITY", "999", 1);
    expect_error(load_env_only(), "WRITEBACK_CAPACITY", "999");
    unsetenv("WRITEBACK_CAPACITY");
    setenv("HTTP_PORT", "", 1);
    expect_error(load_env_only(), "HTTP_PORT");
}

static void test_bad_bool(void **state)
{
    (void)state;
    setenv("V5_ENABLED", "maybe", 1);
    expect_error(load_env_only(), "V5_ENABLED", "maybe");
    unsetenv("V5_ENABLED");
    expect_error(LOAD("--v5-enabled="), "V5_ENABLED");
    expect_error(LOAD("--v5-enabled", "2"), "V5_ENABLED");
}

static void test_api_key_required(void **state)
{
    (void)state;
    unsetenv("NEXON_API_KEY");
    expect_error(load_env_only(), "NEXON_API_KEY");
    setenv("NEXON_API_KEY", "", 1);
    expect_error(load_env_only(), "NEXON_API_KEY");
    unsetenv("NEXON_API_KEY");
    load_t l = LOAD("--nexon-api-key", "from-flag");
    expect_ok(l);
    assert_string_equal(l.c.nexon_api_key, "from-flag");
}

static void test_mode_and_profile_values(void **state)
{
    (void)state;
    setenv("MODE", "cluster", 1);
    expect_error(load_env_only(), "MODE", "cluster");
    expect_error(LOAD("--mode=bogus"), "MODE", "bogus");
    unsetenv("MODE");
    expect_ok(LOAD("--mode=standalone"));
    expect_error(LOAD("--profile=staging"), "PROFILE", "staging");
    expect_error(LOAD("--log-level=verbose"), "LOG_LEVEL", "verbose");
    expect_error(LOAD("--sqlite-path="), "SQLITE_PATH");
}

static void test_cross_checks(void **state)
{
    (void)state;
    /* 5 + 25 + 15 + 5 = 50 is the least total for the default phases. */
    expect_error(LOAD("--shutdown-total-s=49"), "SHUTDOWN_TOTAL_S");
    expect_ok(LOAD("--shutdown-total-s=50"));
    expect_ok(LOAD("--shutdown-total-s=20", "--shutdown-drain-s=5", "--shutdown-flush-s=5"));

    expect_error(LOAD("--v5-workers=4", "--v5-high-only-workers=5"), "V5_HIGH_ONLY_WORKERS");
    expect_ok(LOAD("--v5-workers=4", "--v5-high-only-workers=4"));
    expect_error(LOAD("--v5-queue-cap=10", "--v5-high-cap=11"), "V5_HIGH_CAP");

    /* Upstream timeouts against the request deadline. */
    expect_error(LOAD("--request-deadline-ms=5000"), "UPSTREAM_RESPONSE_TIMEOUT_MS", "deadline");
    expect_error(LOAD("--request-deadline-ms=9000"), "UPSTREAM_TOTAL_TIMEOUT_MS", "deadline");
    expect_ok(LOAD("--request-deadline-ms=10000"));
    expect_error(LOAD("--request-deadline-ms=60000", "--upstream-total-timeout-ms=30000",
                      "--upstream-max-attempts=10"),
                 "UPSTREAM_MAX_ATTEMPTS", "28000");
    /* A large worst case is fine while the total timeout caps it below 28 s. */
    expect_ok(LOAD("--upstream-max-attempts=10"));
}

static void test_production_profile(void **state)
{
    (void)state;
    setenv("PROFILE", "production", 1);
    load_t l = load_env_only();
    expect_ok(l);
    assert_int_equal(l.c.compute_concurrency, 32);
    assert_int_equal(l.c.compute_queue, 500);
    assert_int_equal(l.c.cors_max_age_s, 86400);

    /* A value set in the environment is kept. */
    setenv("COMPUTE_CONCURRENCY", "8", 1);
    l = load_env_only();
    expect_ok(l);
    assert_int_equal(l.c.compute_concurrency, 8);
    assert_int_equal(l.c.compute_queue, 500);
    unsetenv("COMPUTE_CONCURRENCY");
    unsetenv("PROFILE");

    /* The profile given as a flag works the same. */
    l = LOAD("--profile", "production");
    expect_ok(l);
    assert_int_equal(l.c.compute_concurrency, 32);
    /* The default profile leaves the table's defaults. */
    l = LOAD("--profile=default");
    expect_ok(l);
    assert_int_equal(l.c.compute_concurrency, 16);
}

/*
 * BUG REPRODUCER (config.c, config_load): the production profile replaces COMPUTE_CONCURRENCY,
 * COMPUTE_QUEUE and CORS_MAX_AGE_S unless getenv() finds them, so a value given as a flag is
 * silently overwritten (flags are supposed to win over everything).
 */
static void test_regression_production_profile_keeps_values_set_by_flag(void **state)
{
    (void)state;
    load_t l = LOAD("--profile=production", "--compute-concurrency=8", "--compute-queue=7", "--cors-max-age-s=60");
    expect_ok(l);
    assert_int_equal(l.c.compute_concurrency, 8);
    assert_int_equal(l.c.compute_queue, 7);
    assert_int_equal(l.c.cors_max_age_s, 60);
}

/*
 * BUG REPRODUCER (config.c, assign): strtod accepts "nan", and NaN passes the range check
 * (every comparison with NaN is false), so RETRY_BUDGET_RATIO=nan, CB_NEXON_FAILURE_RATE=nan or
 * ACCESS_LOG_SAMPLE=nan load without an error.
 */
static void test_regression_nan_is_out_of_range(void **state)
{
    (void)state;
    expect_error(LOAD("--retry-budget-ratio=nan"), "RETRY_BUDGET_RATIO");
    setenv("ACCESS_LOG_SAMPLE", "NaN", 1);
    expect_error(load_env_only(), "ACCESS_LOG_SAMPLE");
}

static void test_help_flag(void **state)
{
    (void)state;
    unsetenv("NEXON_API_KEY"); /* --help needs no valid configuration */
    load_t l = LOAD("--help");
    assert_true(l.ok);
    assert_true(l.help);
    l = LOAD("-h");
    assert_true(l.ok);
    assert_true(l.help);
    l = LOAD("--http-port", "9000", "--help", "--no-such-setting");
    assert_true(l.ok);
    assert_true(l.help);
    l = load_env_only();
    assert_false(l.ok);
    assert_false(l.help);
}

/*
 * BUG REPRODUCER (config.c, config_load): config.h says --help validates nothing else, but the
 * environment is parsed (and a bad value fails the load) before the flags are looked at, so
 * `HTTP_PORT=abc maplexp serve --help` prints an error instead of the help.
 */
static void test_regression_help_ignores_a_bad_environment(void **state)
{
    (void)state;
    setenv("HTTP_PORT", "abc", 1);
    load_t l = LOAD("--help");
    assert_true(l.ok);
    assert_true(l.help);
}

static void test_print_help_lists_every_setting(void **state)
{
    (void)state;
    char *h = help_text();
    assert_non_null(strstr(h, "usage: maplexp serve"));
    assert_non_null(strstr(h, "--nexon-api-key"));
    assert_non_null(strstr(h, "NEXON_API_KEY"));
    assert_non_null(strstr(h, "--http-port"));
    assert_non_null(strstr(h, "HTTP_PORT"));
    assert_non_null(strstr(h, "default: 8080"));
    assert_non_null(strstr(h, "--sqlite-path"));
    assert_non_null(strstr(h, "default: ./maplexp.db"));
    assert_non_null(strstr(h, "--v5-high-only-workers"));
    assert_non_null(strstr(h, "--shutdown-total-s"));

    /* The help and the start-up description list the same settings. */
    load_t l = load_env_only();
    expect_ok(l);
    char desc[16384];
    config_describe(&l.c, desc, sizeof desc);
    cJSON *j = cJSON_Parse(desc);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), g_n_names);
    for (int i = 0; i < g_n_names; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(j, g_names[i]))
            print_error("%s is in the help but not in config_describe\n", g_names[i]);
        assert_non_null(cJSON_GetObjectItemCaseSensitive(j, g_names[i]));
        /* Its flag is the lower-case dashed name. */
        char flag[80];
        size_t k = 0;
        flag[k++] = '-';
        flag[k++] = '-';
        for (const char *p = g_names[i]; *p && k + 1 < sizeof flag; p++)
            flag[k++] = *p == '_' ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        flag[k] = '\0';
        assert_non_null(strstr(h, flag));
    }
    cJSON_Delete(j);
    free(h);
}

static void test_describe_masks_the_key_and_is_json(void **state)
{
    (void)state;
    load_t l = LOAD("--http-port=9000", "--v5-enabled=no", "--cors-allowed-origins=https://a.example,\"q\"");
    expect_ok(l);
    char desc[16384];
    config_describe(&l.c, desc, sizeof desc);
    assert_null(strstr(desc, API_KEY));
    cJSON *j = cJSON_Parse(desc);
    assert_non_null(j);
    assert_true(cJSON_IsObject(j));
    cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "NEXON_API_KEY");
    assert_true(cJSON_IsString(key));
    assert_string_equal(key->valuestring, "[set]");
    cJSON *port = cJSON_GetObjectItemCaseSensitive(j, "HTTP_PORT");
    assert_true(cJSON_IsNumber(port));
    assert_int_equal(port->valueint, 9000);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "V5_ENABLED")));
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "RETRY_BUDGET_RATIO")->valuedouble == 0.2);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "CACHE_L1_MAX_BYTES")->valuedouble == 67108864.0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "SQLITE_PATH")->valuestring, "./maplexp.db");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "CORS_ALLOWED_ORIGINS")->valuestring,
                        "https://a.example,\"q\"");
    cJSON_Delete(j);

    /* Too small a buffer gives a valid (empty) object, never cut JSON. */
    char small[32];
    config_describe(&l.c, small, sizeof small);
    j = cJSON_Parse(small);
    assert_non_null(j);
    cJSON_Delete(j);
}

int main(void)
{
    if (load_names() != 0) {
        fprintf(stderr, "cannot read the setting names from config_print_help\n");
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_environment_overrides_defaults),
        T(test_bool_spellings),
        T(test_flags_override_environment),
        T(test_unknown_flag_and_stray_argument),
        T(test_missing_value),
        T(test_out_of_range_and_malformed_numbers),
        T(test_bad_bool),
        T(test_api_key_required),
        T(test_mode_and_profile_values),
        T(test_cross_checks),
        T(test_production_profile),
        T(test_regression_production_profile_keeps_values_set_by_flag),
        T(test_regression_nan_is_out_of_range),
        T(test_help_flag),
        T(test_regression_help_ignores_a_bad_environment),
        T(test_print_help_lists_every_setting),
        T(test_describe_masks_the_key_and_is_json),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
