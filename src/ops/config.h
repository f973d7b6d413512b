/*
 * config.h - every setting of `maplexp serve` in one declarative table (Appendix A).
 *
 * Sources, later ones win: the table's default, the environment variable, the command-line flag
 * (`--http-port 8080` or `--http-port=8080`; the flag is the variable's name in lower case with
 * '-' for '_'). Every value is validated at start: a bad value, an out-of-range number or a
 * failed cross-check makes config_load fail with one message naming the variable, and the
 * caller exits with status 78 (EX_CONFIG).
 *
 * State: the loaded config_t is owned by the caller, immutable after loading and shared
 * read-only by every thread. Strings point into the environment, argv or static defaults.
 */
#ifndef MX_OPS_CONFIG_H
#define MX_OPS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_EXIT 78 /* EX_CONFIG */

typedef struct {
    /* core */
    const char *mode, *profile, *http_host, *instance_id_prefix, *service_timezone, *lookup_dir;
    int http_port, http_threads, http_timeout_s, http_max_header_bytes;
    /* storage */
    const char *sqlite_path;
    int db_readers;
    /* upstream */
    const char *nexon_api_key, *nexon_api_base_url;
    int upstream_connect_timeout_ms, upstream_response_timeout_ms, upstream_total_timeout_ms;
    int upstream_max_attempts, upstream_retry_wait_ms, upstream_concurrency, upstream_slot_wait_ms;
    int upstream_max_rps, retry_budget_per_min;
    double retry_budget_ratio;
    int cb_nexon_window_s, cb_nexon_min_calls, cb_nexon_open_s, cb_nexon_probes;
    double cb_nexon_failure_rate;
    /* http admission and conventions */
    int max_inflight_requests, max_body_bytes, request_deadline_ms;
    const char *cors_allowed_origins, *trusted_proxies, *metrics_allowed_cidrs;
    int cors_max_age_s;
    /* caches (2.3.1) */
    int cache_ocid_l1_ttl_s, cache_ocid_l1_max, cache_ocid_stale_s;
    int cache_ocid_negative_l1_ttl_s, cache_ocid_negative_l1_max;
    int cache_character_basic_l1_ttl_s, cache_character_basic_l1_max, cache_character_basic_stale_s;
    int cache_equipment_l1_ttl_s, cache_equipment_l1_max, cache_equipment_stale_s;
    int cache_expectation_v4_l1_ttl_s, cache_expectation_v4_l1_max, cache_expectation_v4_stale_s;
    long cache_l1_max_bytes;
    int cache_degraded_l1_ttl_s;
    int equipment_fresh_s, basic_refresh_s;
    /* single-flight */
    int sf_follower_timeout_ms;
    /* compute */
    int compute_concurrency, compute_queue, recalc_cooldown_s;
    /* write-back */
    int writeback_capacity, writeback_flush_ms, writeback_batch, writeback_shutdown_batch,
        writeback_max_attempts;
    /* V5 */
    bool v5_enabled;
    int v5_queue_cap, v5_high_cap, v5_workers, v5_high_only_workers, v5_view_ttl_h;
    /* shutdown */
    int shutdown_lb_grace_s, shutdown_drain_s, shutdown_flush_s, shutdown_total_s;
    /* accounts and security (1.3, 1.7, SC-08, SC-25, SC-26) */
    const char *jwt_secret, *fingerprint_secret, *admin_fingerprints;
    int jwt_ttl_s, refresh_ttl_s, session_ttl_s, session_touch_s, jwt_leeway_s;
    bool rate_limit_enabled;
    int rl_ip_capacity, rl_ip_refill, rl_ip_period_s, rl_user_capacity, rl_user_refill, rl_user_period_s;
    /* outbox, likes, jobs (SC-16, SC-18, 2.5) */
    bool outbox_relay_enabled;
    const char *donation_notify_webhook_url;
    int outbox_batch, donation_outbox_poll_ms, upstream_outbox_poll_ms, upstream_relay_probe_after_s, outbox_backoff_base_s, outbox_backoff_max_s, outbox_stale_s,
        outbox_retention_days, outbox_reclaim_period_s;
    int like_fold_interval_ms, like_fold_batch, db_lease_ttl_s, auth_purge_period_s;
    /* alerts (4.4, SC-29) */
    const char *alert_webhook_url;
    int alert_daily_quota, alert_dedup_s;
    bool alerts_test_endpoint;
    /* logs */
    const char *log_level;
    double access_log_sample;
} config_t;

/* Loads defaults, then the environment, then argv (argv[0] is the sub-command name and is
 * skipped). On error returns false with a one-line message in err naming the variable.
 * *help is set when --help was given (nothing else validated). */
bool config_load(config_t *c, int argc, char **argv, bool *help, char *err, size_t errlen);

/* Prints every setting with its flag, variable, default and description. */
void config_print_help(FILE *out);

/* The effective settings as one JSON object (secrets masked), for the start-up log line. */
void config_describe(const config_t *c, char *out, size_t cap);

#endif
