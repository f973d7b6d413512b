/*
 * config.c - the settings table of `maplexp serve` and its loader (config.h).
 *
 * One row per setting, in the style of pgbouncer's bouncer_params and redis's static_configs:
 * name, type, where it lands in config_t, default, bounds and a one-line description. The help
 * text, the validation and the start-up description all come from this table, so a setting
 * cannot exist without being documented and checked.
 */
#include "ops/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jw.h"

typedef enum { T_INT, T_LONG, T_DOUBLE, T_BOOL, T_STR, T_SECRET } ctype_t;

typedef struct {
    const char *name;   /* environment variable */
    ctype_t type;
    size_t off;
    const char *def;    /* NULL = no default (required or optional string) */
    double min, max;    /* numbers only */
    const char *help;
} setting_t;

#define F(field) offsetof(config_t, field)

static const setting_t SETTINGS[] = {
    {"MODE", T_STR, F(mode), "standalone", 0, 0, "standalone (SQLite + in-process coordination) or cluster"},
    {"PROFILE", T_STR, F(profile), "default", 0, 0, "default or production"},
    {"HTTP_HOST", T_STR, F(http_host), "127.0.0.1", 0, 0, "listen address"},
    {"HTTP_PORT", T_INT, F(http_port), "8080", 0, 65535, "listen port (0 = any free port, logged at start)"},
    {"HTTP_THREADS", T_INT, F(http_threads), "0", 0, 64, "event-loop threads (0 = one per CPU)"},
    {"HTTP_TIMEOUT_S", T_INT, F(http_timeout_s), "30", 1, 3600, "read/write/idle timeout of a client connection"},
    {"HTTP_MAX_HEADER_BYTES", T_INT, F(http_max_header_bytes), "16384", 1024, 1048576, "request line + headers limit"},
    {"INSTANCE_ID_PREFIX", T_STR, F(instance_id_prefix), "", 0, 0, "instance id prefix (default: hostname); a random suffix is always added"},
    {"SERVICE_TIMEZONE", T_STR, F(service_timezone), "Asia/Seoul", 0, 0, "timezone of calendar days and V4 calculatedAt"},
    {"LOOKUP_DIR", T_STR, F(lookup_dir), MAPLEXP_DATADIR, 0, 0, "directory of the probability tables"},
    {"SQLITE_PATH", T_STR, F(sqlite_path), "./maplexp.db", 0, 0, "SQLite database file (standalone); <path>.lock guards it"},
    {"DB_READERS", T_INT, F(db_readers), "4", 1, 16, "SQLite reader connections"},
    {"NEXON_API_KEY", T_SECRET, F(nexon_api_key), NULL, 0, 0, "server key for the Nexon Open API (required)"},
    {"NEXON_API_BASE_URL", T_STR, F(nexon_api_base_url), "https://open.api.nexon.com", 0, 0, "upstream base URL"},
    {"UPSTREAM_CONNECT_TIMEOUT_MS", T_INT, F(upstream_connect_timeout_ms), "3000", 10, 60000, "upstream connect timeout per attempt"},
    {"UPSTREAM_RESPONSE_TIMEOUT_MS", T_INT, F(upstream_response_timeout_ms), "5000", 10, 60000, "upstream response timeout per attempt"},
    {"UPSTREAM_TOTAL_TIMEOUT_MS", T_INT, F(upstream_total_timeout_ms), "10000", 10, 60000, "upstream whole call, all attempts (M5)"},
    {"UPSTREAM_MAX_ATTEMPTS", T_INT, F(upstream_max_attempts), "3", 1, 10, "attempts per upstream call"},
    {"UPSTREAM_RETRY_WAIT_MS", T_INT, F(upstream_retry_wait_ms), "500", 0, 10000, "back-off between attempts (+-20 %)"},
    {"UPSTREAM_CONCURRENCY", T_INT, F(upstream_concurrency), "50", 1, 1000, "in-flight upstream calls"},
    {"UPSTREAM_SLOT_WAIT_MS", T_INT, F(upstream_slot_wait_ms), "500", 0, 10000, "wait for an upstream slot"},
    {"UPSTREAM_MAX_RPS", T_INT, F(upstream_max_rps), "100", 0, 1000000, "upstream calls started per second (0 = unlimited)"},
    {"RETRY_BUDGET_RATIO", T_DOUBLE, F(retry_budget_ratio), "0.2", 0, 1, "retries / first attempts over 60 s"},
    {"RETRY_BUDGET_PER_MIN", T_INT, F(retry_budget_per_min), "100", 0, 100000, "retries per 60 s"},
    {"CB_NEXON_WINDOW_S", T_INT, F(cb_nexon_window_s), "10", 1, 600, "nexonApi breaker window"},
    {"CB_NEXON_MIN_CALLS", T_INT, F(cb_nexon_min_calls), "10", 1, 100000, "nexonApi breaker minimum calls"},
    {"CB_NEXON_FAILURE_RATE", T_DOUBLE, F(cb_nexon_failure_rate), "0.5", 0.01, 1, "nexonApi breaker failure rate to open"},
    {"CB_NEXON_OPEN_S", T_INT, F(cb_nexon_open_s), "10", 1, 3600, "nexonApi breaker open interval"},
    {"CB_NEXON_PROBES", T_INT, F(cb_nexon_probes), "3", 1, 100, "nexonApi half-open probes"},
    {"MAX_INFLIGHT_REQUESTS", T_INT, F(max_inflight_requests), "2000", 1, 1000000, "requests in flight (actuator exempt)"},
    {"MAX_BODY_BYTES", T_INT, F(max_body_bytes), "262144", 1024, 1048576, "request body limit (413 C008 above)"},
    {"REQUEST_DEADLINE_MS", T_INT, F(request_deadline_ms), "30000", 1000, 120000, "deadline of V1/V4 requests"},
    {"CORS_ALLOWED_ORIGINS", T_STR, F(cors_allowed_origins), "http://localhost:3000", 0, 0, "exact allowed origins, comma-separated"},
    {"CORS_MAX_AGE_S", T_INT, F(cors_max_age_s), "3600", 0, 86400 * 7, "preflight cache time"},
    {"TRUSTED_PROXIES", T_STR, F(trusted_proxies), "127.0.0.1,::1", 0, 0, "peers whose X-Forwarded-For is honoured"},
    {"METRICS_ALLOWED_CIDRS", T_STR, F(metrics_allowed_cidrs), "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", 0, 0, "networks allowed to read metrics, info and health details"},
    {"CACHE_OCID_L1_TTL_S", T_INT, F(cache_ocid_l1_ttl_s), "1800", 1, 86400, "ocid cache TTL"},
    {"CACHE_OCID_L1_MAX", T_INT, F(cache_ocid_l1_max), "5000", 1, 10000000, "ocid cache entries"},
    {"CACHE_OCID_STALE_S", T_INT, F(cache_ocid_stale_s), "3600", 0, 86400 * 7, "ocid stale grace"},
    {"CACHE_OCID_NEGATIVE_L1_TTL_S", T_INT, F(cache_ocid_negative_l1_ttl_s), "300", 1, 86400, "not-found cache TTL"},
    {"CACHE_OCID_NEGATIVE_L1_MAX", T_INT, F(cache_ocid_negative_l1_max), "5000", 1, 10000000, "not-found cache entries"},
    {"CACHE_CHARACTER_BASIC_L1_TTL_S", T_INT, F(cache_character_basic_l1_ttl_s), "900", 1, 86400, "characterBasic cache TTL"},
    {"CACHE_CHARACTER_BASIC_L1_MAX", T_INT, F(cache_character_basic_l1_max), "5000", 1, 10000000, "characterBasic cache entries"},
    {"CACHE_CHARACTER_BASIC_STALE_S", T_INT, F(cache_character_basic_stale_s), "3600", 0, 86400 * 7, "characterBasic stale grace"},
    {"CACHE_EQUIPMENT_L1_TTL_S", T_INT, F(cache_equipment_l1_ttl_s), "300", 1, 86400, "equipment cache TTL"},
    {"CACHE_EQUIPMENT_L1_MAX", T_INT, F(cache_equipment_l1_max), "5000", 1, 10000000, "equipment cache entries"},
    {"CACHE_EQUIPMENT_STALE_S", T_INT, F(cache_equipment_stale_s), "3600", 0, 86400 * 7, "equipment stale grace"},
    {"CACHE_EXPECTATION_V4_L1_TTL_S", T_INT, F(cache_expectation_v4_l1_ttl_s), "3600", 1, 86400, "expectationV4 cache TTL"},
    {"CACHE_EXPECTATION_V4_L1_MAX", T_INT, F(cache_expectation_v4_l1_max), "5000", 1, 10000000, "expectationV4 cache entries"},
    {"CACHE_EXPECTATION_V4_STALE_S", T_INT, F(cache_expectation_v4_stale_s), "86400", 0, 86400 * 7, "expectationV4 stale grace"},
    {"CACHE_L1_MAX_BYTES", T_LONG, F(cache_l1_max_bytes), "67108864", 65536, 17179869184.0, "byte budget of each L1 cache"},
    {"CACHE_DEGRADED_L1_TTL_S", T_INT, F(cache_degraded_l1_ttl_s), "60", 1, 3600, "TTL of results built from stale data"},
    {"EQUIPMENT_FRESH_S", T_INT, F(equipment_fresh_s), "900", 0, 86400, "a stored equipment snapshot younger than this is used without an upstream call"},
    {"BASIC_REFRESH_S", T_INT, F(basic_refresh_s), "900", 0, 86400 * 30, "basic info older than this is refreshed"},
    {"SF_FOLLOWER_TIMEOUT_MS", T_INT, F(sf_follower_timeout_ms), "30000", 100, 120000, "single-flight follower wait"},
    {"COMPUTE_CONCURRENCY", T_INT, F(compute_concurrency), "16", 1, 512, "expectation computations in parallel"},
    {"COMPUTE_QUEUE", T_INT, F(compute_queue), "200", 0, 100000, "expectation computations waiting (503 + Retry-After: 60 above)"},
    {"RECALC_COOLDOWN_S", T_INT, F(recalc_cooldown_s), "30", 0, 3600, "per-IGN forced recalculation cool-down"},
    {"WRITEBACK_CAPACITY", T_INT, F(writeback_capacity), "10000", 1000, 100000, "write-back buffer records"},
    {"WRITEBACK_FLUSH_MS", T_INT, F(writeback_flush_ms), "5000", 10, 600000, "write-back flush period"},
    {"WRITEBACK_BATCH", T_INT, F(writeback_batch), "100", 1, 10000, "records per flush transaction"},
    {"WRITEBACK_SHUTDOWN_BATCH", T_INT, F(writeback_shutdown_batch), "200", 1, 10000, "records per shutdown flush transaction"},
    {"WRITEBACK_MAX_ATTEMPTS", T_INT, F(writeback_max_attempts), "5", 1, 100, "attempts per record before it is dropped"},
    {"V5_ENABLED", T_BOOL, F(v5_enabled), "true", 0, 0, "asynchronous V5 endpoints and workers"},
    {"V5_QUEUE_CAP", T_INT, F(v5_queue_cap), "10000", 1, 1000000, "V5 queue total capacity"},
    {"V5_HIGH_CAP", T_INT, F(v5_high_cap), "1000", 1, 1000000, "V5 queue HIGH capacity"},
    {"V5_WORKERS", T_INT, F(v5_workers), "4", 1, 64, "V5 worker threads"},
    {"V5_HIGH_ONLY_WORKERS", T_INT, F(v5_high_only_workers), "2", 0, 64, "V5 workers that take only HIGH jobs"},
    {"V5_VIEW_TTL_H", T_INT, F(v5_view_ttl_h), "24", 1, 24 * 365, "age after which a V5 view is treated as absent"},
    {"SHUTDOWN_LB_GRACE_S", T_INT, F(shutdown_lb_grace_s), "5", 0, 300, "serving while not ready before the listener closes"},
    {"SHUTDOWN_DRAIN_S", T_INT, F(shutdown_drain_s), "25", 0, 300, "wait for in-flight work"},
    {"SHUTDOWN_FLUSH_S", T_INT, F(shutdown_flush_s), "15", 0, 300, "write-back flush budget"},
    {"SHUTDOWN_TOTAL_S", T_INT, F(shutdown_total_s), "50", 1, 900, "whole shutdown; hard exit 5 s later"},
    {"JWT_SECRET", T_SECRET, F(jwt_secret), NULL, 0, 0, "HS256 key of access tokens (>= 32 bytes); standalone default: generated once and kept in the database"},
    {"FINGERPRINT_SECRET", T_SECRET, F(fingerprint_secret), NULL, 0, 0, "HMAC key of API-key fingerprints; standalone default: generated once and kept in the database"},
    {"ADMIN_FINGERPRINTS", T_STR, F(admin_fingerprints), "", 0, 0, "bootstrap admins: comma-separated 43-character fingerprints"},
    {"JWT_TTL_S", T_INT, F(jwt_ttl_s), "900", 60, 86400, "access-token lifetime"},
    {"JWT_LEEWAY_S", T_INT, F(jwt_leeway_s), "60", 0, 600, "clock leeway when validating tokens (M16)"},
    {"REFRESH_TTL_S", T_INT, F(refresh_ttl_s), "604800", 60, 31536000, "refresh-token lifetime"},
    {"SESSION_TTL_S", T_INT, F(session_ttl_s), "1800", 60, 604800, "sliding session lifetime"},
    {"SESSION_TOUCH_S", T_INT, F(session_touch_s), "60", 1, 3600, "a session's expiry is advanced at most this often"},
    {"RATE_LIMIT_ENABLED", T_BOOL, F(rate_limit_enabled), "true", 0, 0, "token-bucket rate limits per IP and per user"},
    {"RL_IP_CAPACITY", T_INT, F(rl_ip_capacity), "100", 1, 1000000, "IP bucket capacity"},
    {"RL_IP_REFILL", T_INT, F(rl_ip_refill), "10", 1, 1000000, "IP bucket tokens per period"},
    {"RL_IP_PERIOD_S", T_INT, F(rl_ip_period_s), "6", 1, 3600, "IP bucket refill period"},
    {"RL_USER_CAPACITY", T_INT, F(rl_user_capacity), "200", 1, 1000000, "user bucket capacity"},
    {"RL_USER_REFILL", T_INT, F(rl_user_refill), "20", 1, 1000000, "user bucket tokens per period"},
    {"RL_USER_PERIOD_S", T_INT, F(rl_user_period_s), "6", 1, 3600, "user bucket refill period"},
    {"OUTBOX_RELAY_ENABLED", T_BOOL, F(outbox_relay_enabled), "true", 0, 0, "run the donation outbox relay"},
    {"DONATION_NOTIFY_WEBHOOK_URL", T_SECRET, F(donation_notify_webhook_url), NULL, 0, 0, "optional webhook receiving each completed donation (POST JSON)"},
    {"OUTBOX_BATCH", T_INT, F(outbox_batch), "100", 1, 10000, "rows claimed per relay batch"},
    {"DONATION_OUTBOX_POLL_MS", T_INT, F(donation_outbox_poll_ms), "15000", 10, 3600000, "donation relay poll period"},
    {"UPSTREAM_OUTBOX_POLL_MS", T_INT, F(upstream_outbox_poll_ms), "10000", 10, 3600000, "upstream retry relay poll period (J04)"},
    {"UPSTREAM_RELAY_PROBE_AFTER_S", T_INT, F(upstream_relay_probe_after_s), "30", 1, 3600, "a half-open upstream breaker nobody probed for this long gets one relay probe (M14)"},
    {"OUTBOX_BACKOFF_BASE_S", T_INT, F(outbox_backoff_base_s), "30", 0, 3600, "retry back-off base (x 2^retry)"},
    {"OUTBOX_BACKOFF_MAX_S", T_INT, F(outbox_backoff_max_s), "3600", 0, 86400, "retry back-off cap"},
    {"OUTBOX_STALE_S", T_INT, F(outbox_stale_s), "300", 1, 86400, "a PROCESSING claim older than this is reclaimed"},
    {"OUTBOX_RECLAIM_PERIOD_S", T_INT, F(outbox_reclaim_period_s), "300", 1, 86400, "stalled-claim recovery period (J05)"},
    {"OUTBOX_RETENTION_DAYS", T_INT, F(outbox_retention_days), "7", 1, 3650, "COMPLETED outbox rows kept"},
    {"LIKE_FOLD_INTERVAL_MS", T_INT, F(like_fold_interval_ms), "5000", 10, 600000, "like-delta fold period (J01)"},
    {"LIKE_FOLD_BATCH", T_INT, F(like_fold_batch), "1000", 1, 100000, "deltas folded per transaction"},
    {"DB_LEASE_TTL_S", T_INT, F(db_lease_ttl_s), "30", 1, 3600, "DB-tier leader lease TTL"},
    {"AUTH_PURGE_PERIOD_S", T_INT, F(auth_purge_period_s), "600", 1, 86400, "expired session / refresh-token purge period (J17)"},
    {"ALERT_WEBHOOK_URL", T_SECRET, F(alert_webhook_url), NULL, 0, 0, "Discord-compatible webhook for alerts (unset: log only)"},
    {"ALERT_DAILY_QUOTA", T_INT, F(alert_daily_quota), "200", 0, 1000000, "alert messages per day"},
    {"ALERT_DEDUP_S", T_INT, F(alert_dedup_s), "300", 1, 86400, "same alert at most once per this window"},
    {"ALERTS_TEST_ENDPOINT", T_BOOL, F(alerts_test_endpoint), "true", 0, 0, "enable POST /api/admin/test/alert"},
    {"LOG_LEVEL", T_STR, F(log_level), "INFO", 0, 0, "DEBUG, INFO, WARN or ERROR"},
    {"ACCESS_LOG_SAMPLE", T_DOUBLE, F(access_log_sample), "1.0", 0, 1, "fraction of successful requests logged"},
};

#define NSETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

static void flag_name(const char *env, char *out, size_t cap)
{
    size_t i = 0;
    for (; env[i] && i + 1 < cap; i++)
        out[i] = env[i] == '_' ? '-' : (char)tolower((unsigned char)env[i]);
    out[i] = '\0';
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
        return *out = true, true;
    if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
        return *out = false, true;
    return false;
}

static bool assign(config_t *c, const setting_t *s, const char *v, char *err, size_t errlen)
{
    char *p = (char *)c + s->off;
    if (s->type == T_STR || s->type == T_SECRET) {
        *(const char **)p = v;
        return true;
    }
    if (s->type == T_BOOL) {
        if (parse_bool(v, (bool *)p))
            return true;
        snprintf(err, errlen, "%s: expected true or false, got '%s'", s->name, v);
        return false;
    }
    errno = 0;
    char *end = NULL;
    double d = s->type == T_DOUBLE ? strtod(v, &end) : (double)strtoll(v, &end, 10);
    if (!*v || errno || (end && *end) || d != d || d < s->min || d > s->max) {
        snprintf(err, errlen, "%s: expected a %s in [%g, %g], got '%s'", s->name,
                 s->type == T_DOUBLE ? "number" : "whole number", s->min, s->max, v);
        return false;
    }
    if (s->type == T_INT)
        *(int *)p = (int)d;
    else if (s->type == T_LONG)
        *(long *)p = (long)d;
    else
        *(double *)p = d;
    return true;
}

static const setting_t *find_flag(const char *arg, size_t len)
{
    char fl[64];
    for (size_t i = 0; i < NSETTINGS; i++) {
        flag_name(SETTINGS[i].name, fl, sizeof fl);
        if (strlen(fl) == len && !memcmp(fl, arg, len))
            return &SETTINGS[i];
    }
    return NULL;
}

static bool load_args(config_t *c, int argc, char **argv, bool *help, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return true;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (settings are --name value; see --help)", a);
            return false;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const setting_t *s = find_flag(name, len);
        if (!s) {
            snprintf(err, errlen, "unknown option '%.*s' (see --help)", (int)(len + 2), a);
            return false;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            snprintf(err, errlen, "option --%.*s needs a value", (int)len, name);
            return false;
        }
        if (!assign(c, s, v, err, errlen))
            return false;
    }
    return true;
}

static bool one_of(const char *v, const char *a, const char *b) { return !strcmp(v, a) || !strcmp(v, b); }

/* Cross-checks of Appendix A and the rules this build adds. */
static bool cross_check(const config_t *c, char *err, size_t errlen)
{
    if (!one_of(c->mode, "standalone", "cluster"))
        return snprintf(err, errlen, "MODE: expected standalone or cluster, got '%s'", c->mode), false;
    if (!strcmp(c->mode, "cluster"))
        return snprintf(err, errlen, "MODE: cluster mode needs DATABASE_URL and REDIS_URL backends, which this build does not include yet"), false;
    if (!one_of(c->profile, "default", "production"))
        return snprintf(err, errlen, "PROFILE: expected default or production, got '%s'", c->profile), false;
    if (!c->nexon_api_key || !*c->nexon_api_key)
        return snprintf(err, errlen, "NEXON_API_KEY: required (the server key for the Nexon Open API)"), false;
    if (!*c->sqlite_path)
        return snprintf(err, errlen, "SQLITE_PATH: must not be empty"), false;
    long worst = (long)c->upstream_max_attempts * (c->upstream_connect_timeout_ms + c->upstream_response_timeout_ms) +
                 (long)(c->upstream_max_attempts - 1) * c->upstream_retry_wait_ms;
    if (worst > 28000 && c->upstream_total_timeout_ms > 28000)
        return snprintf(err, errlen, "UPSTREAM_MAX_ATTEMPTS: worst-case upstream time %ld ms exceeds 28000 ms", worst), false;
    if (c->upstream_connect_timeout_ms + c->upstream_response_timeout_ms > c->request_deadline_ms)
        return snprintf(err, errlen, "UPSTREAM_RESPONSE_TIMEOUT_MS: connect + response timeout exceeds the request deadline"), false;
    if (c->upstream_total_timeout_ms > c->request_deadline_ms)
        return snprintf(err, errlen, "UPSTREAM_TOTAL_TIMEOUT_MS: exceeds the request deadline"), false;
    if (c->v5_high_only_workers > c->v5_workers)
        return snprintf(err, errlen, "V5_HIGH_ONLY_WORKERS: exceeds V5_WORKERS"), false;
    if (c->v5_high_cap > c->v5_queue_cap)
        return snprintf(err, errlen, "V5_HIGH_CAP: exceeds V5_QUEUE_CAP"), false;
    if (c->shutdown_lb_grace_s + c->shutdown_drain_s + c->shutdown_flush_s + 5 > c->shutdown_total_s)
        return snprintf(err, errlen, "SHUTDOWN_TOTAL_S: must be at least SHUTDOWN_LB_GRACE_S + SHUTDOWN_DRAIN_S + SHUTDOWN_FLUSH_S + 5"), false;
    static const char *const levels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    bool ok = false;
    for (size_t i = 0; i < 4; i++)
        ok |= !strcasecmp(c->log_level, levels[i]);
    if (!ok)
        return snprintf(err, errlen, "LOG_LEVEL: expected DEBUG, INFO, WARN or ERROR, got '%s'", c->log_level), false;
    return true;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* Was the setting given explicitly (environment or flag)? Profile defaults never override it. */
static bool given(const char *name, int argc, char **argv)
{
    if (getenv(name))
        return true;
    char fl[64];
    flag_name(name, fl, sizeof fl);
    size_t n = strlen(fl);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, fl, n) && (argv[i][2 + n] == '\0' || argv[i][2 + n] == '='))
            return true;
    return false;
}

bool config_load(config_t *c, int argc, char **argv, bool *help, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    *help = wants_help(argc, argv);
    if (*help)
        return true; /* --help validates nothing (config.h) */
    for (size_t i = 0; i < NSETTINGS; i++)
        if (SETTINGS[i].def && !assign(c, &SETTINGS[i], SETTINGS[i].def, err, errlen))
            return false;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *v = getenv(SETTINGS[i].name);
        if (v && !assign(c, &SETTINGS[i], v, err, errlen))
            return false;
    }
    if (!load_args(c, argc, argv, help, err, errlen))
        return false;
    if (*help)
        return true;
    if (!strcmp(c->profile, "production")) {
        if (!given("COMPUTE_CONCURRENCY", argc, argv))
            c->compute_concurrency = 32;
        if (!given("COMPUTE_QUEUE", argc, argv))
            c->compute_queue = 500;
        if (!given("CORS_MAX_AGE_S", argc, argv))
            c->cors_max_age_s = 86400;
        if (!given("ALERTS_TEST_ENDPOINT", argc, argv))
            c->alerts_test_endpoint = false;
    }
    return cross_check(c, err, errlen);
}

void config_print_help(FILE *out)
{
    fprintf(out, "usage: maplexp serve [--setting value]...\n\n"
                 "Runs the HTTP service. Every setting can be given as an environment variable or as a\n"
                 "flag (flags win). Invalid values stop the service with exit status 78.\n\n");
    char fl[64];
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &SETTINGS[i];
        flag_name(s->name, fl, sizeof fl);
        /* The compiled-in data directory depends on where the tree was built: name it instead. */
        const char *def = s->off == F(lookup_dir) ? "(the data/ directory of this build)"
                        : s->def ? (*s->def ? s->def : "(empty)") : "(none)";
        fprintf(out, "  --%-32s %-32s default: %s\n      %s\n", fl, s->name, def, s->help);
    }
}

void config_describe(const config_t *c, char *out, size_t cap)
{
    buf_t b;
    buf_init(&b, cap > 0 ? cap - 1 : 0);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &SETTINGS[i];
        const char *p = (const char *)c + s->off;
        jw_key(&w, s->name);
        switch (s->type) {
        case T_INT: jw_int(&w, *(const int *)p); break;
        case T_LONG: jw_int(&w, *(const long *)p); break;
        case T_DOUBLE: jw_double(&w, *(const double *)p); break;
        case T_BOOL: jw_bool(&w, *(const bool *)p); break;
        case T_STR: jw_string(&w, *(const char *const *)p ? *(const char *const *)p : ""); break;
        case T_SECRET: jw_string(&w, *(const char *const *)p ? "[set]" : "[unset]"); break;
        }
    }
    jw_object_end(&w);
    snprintf(out, cap, "%s", buf_ok(&b) ? buf_cstr(&b) : "{}");
    buf_dispose(&b);
}
