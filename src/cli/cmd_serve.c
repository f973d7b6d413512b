/*
 * cmd_serve.c - `maplexp serve`: wires the service together, runs it, and shuts it down in the
 * phases of 3.5. This file is wiring only: every behaviour lives in the modules it builds.
 *
 * Exit status: 0 after a graceful shutdown, 78 on configuration errors (including a second
 * process on the same SQLite file), 1 when start-up fails otherwise or the shutdown budget is
 * exceeded, 130 when a second signal interrupts the shutdown.
 */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app/app.h"
#include "base/clock.h"
#include "cli/cli.h"
#include "http/server.h"
#include "app/alert.h"
#include "app/upstream_relay.h"
#include "auth/auth.h"
#include "jobs/maintenance.h"
#include "jobs/relay.h"
#include "jobs/scheduler.h"
#include "jobs/v5.h"
#include "ops/config.h"
#include "ops/log.h"
#include "ops/version.h"

typedef struct {
    config_t cfg;
    lifecycle_t lc;
    app_t app;
    http_server_t *http;
    v5_workers_t *v5;
    scheduler_t *sched;
    relay_t *relay;
    maint_t *maint;
    upstream_relay_t *up_relay;
    int lock_fd;
    struct event_base *control;
    int64_t shutdown_started_ms;
    mfam_t *m_state, *m_phase, *m_leftover;
} service_t;

/* ---- start-up --------------------------------------------------------------------------- */

static void make_instance_id(const config_t *cfg, char out[64])
{
    char host[40] = "maplexp";
    if (cfg->instance_id_prefix && *cfg->instance_id_prefix)
        snprintf(host, sizeof host, "%s", cfg->instance_id_prefix);
    else
        gethostname(host, sizeof host - 1);
    unsigned char r[3] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        r[0] = (unsigned char)clock_mono_us();
    snprintf(out, 64, "%.40s-%02x%02x%02x", host, r[0], r[1], r[2]);
}

static bool timezone_known(const char *tz)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    return !strstr(tz, "..") && access(path, R_OK) == 0;
}

/* 0.1: one standalone process per SQLite file, by an exclusive OS lock on <path>.lock. */
static int take_process_lock(const char *sqlite_path)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s.lock", sqlite_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -2;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Every connection is a descriptor: use the hard limit, as nginx's worker_rlimit_nofile does. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static l1cache_t *cache(app_t *a, const char *name, int ttl, int max, int stale)
{
    cache_def_t d = {name, (unsigned)ttl, (size_t)max, (size_t)a->cfg->cache_l1_max_bytes, (unsigned)stale};
    return l1_new(&d, a->metrics);
}

static nexon_t *make_upstream(const config_t *c, metrics_t *m)
{
    nexon_opts_t o = {
        .base_url = c->nexon_api_base_url, .api_key = c->nexon_api_key,
        .connect_ms = c->upstream_connect_timeout_ms, .response_ms = c->upstream_response_timeout_ms,
        .total_ms = c->upstream_total_timeout_ms, .max_attempts = c->upstream_max_attempts,
        .retry_wait_ms = c->upstream_retry_wait_ms, .concurrency = c->upstream_concurrency,
        .slot_wait_ms = c->upstream_slot_wait_ms, .max_rps = c->upstream_max_rps,
        .budget_ratio = c->retry_budget_ratio, .budget_per_min = c->retry_budget_per_min,
        .breaker = {"nexonApi", c->cb_nexon_window_s, c->cb_nexon_min_calls, c->cb_nexon_failure_rate,
                    c->cb_nexon_open_s, c->cb_nexon_probes, 2},
        .max_body = 16u << 20,
    };
    return nexon_new(&o, m);
}

static double ready_gauge(void *ctx) { return lc_ready(ctx) ? 1 : 0; }

static void declare_service_metrics(service_t *s)
{
    metrics_t *m = s->app.metrics;
    mfam_t *build = metrics_gauge(m, "build_info", "Build information.", "version,commit,mode");
    mfam_set(build, MX_LV(MAPLEXP_VERSION, MAPLEXP_COMMIT, s->cfg.mode), 1);
    s->m_state = metrics_gauge(m, "instance_state", "Lifecycle state (one-hot).", "state");
    metrics_gauge_fn(m, "instance_ready", "1 when readiness is UP.", ready_gauge, &s->lc);
    s->m_phase = metrics_gauge(m, "shutdown_phase_duration_seconds", "Duration of each phase of the last shutdown.", "phase");
    s->m_leftover = metrics_gauge(m, "shutdown_leftover_items", "Items left at the end of the last shutdown.", "kind");
    mfam_t *dep = metrics_gauge(m, "dependency_up", "1 when a dependency is up.", "dependency");
    mfam_set(dep, MX_LV("db"), 1);
    s->app.m_computations = metrics_counter(m, "expectation_computations_total", "Expectation computations run.", "trigger,outcome");
    s->app.m_computation_seconds = metrics_histogram(m, "expectation_computation_duration_seconds",
                                                     "Expectation computation duration.", "trigger", METRICS_SECONDS_BUCKETS, 12);
    s->app.m_outbox_enqueued = metrics_counter(m, "outbox_enqueued_total", "Outbox enqueue attempts (SC-18, SC-19).",
                                               "outbox,event_type,result");
    s->app.m_cooldown_hits = metrics_counter(m, "expectation_cooldown_hits_total", "Forced recomputations refused by the cool-down.", "");
}

static void set_state(service_t *s, lc_state_t st)
{
    lc_set(&s->lc, st);
    for (int i = LC_STARTING; i <= LC_STOPPED; i++)
        mfam_set(s->m_state, MX_LV(lc_state_name((lc_state_t)i)), i == (int)st ? 1 : 0);
}

static int fail(const char *var_msg, int status)
{
    log_emit(LOG_ERROR, "main", "start", NULL, NULL, "%s", var_msg);
    fprintf(stderr, "maplexp serve: %s\n", var_msg);
    return status;
}

/* M4: a configured secret must be strong; in standalone mode without the production profile a
 * missing one is generated once and kept in the database (so sessions survive restarts). */
static bool resolve_secret(app_t *a, const char *name, const char *configured, char *out, size_t cap, char *err,
                           size_t errlen)
{
    bool production = !strcmp(a->cfg->profile, "production");
    if (configured && *configured) {
        const char *why = auth_secret_problem(configured, production);
        if (why) {
            snprintf(err, errlen, "%s: %s", name, why);
            return false;
        }
        snprintf(out, cap, "%s", configured);
        return true;
    }
    if (production) {
        snprintf(err, errlen, "%s: required with PROFILE=production", name);
        return false;
    }
    char meta_key[64], generated[AUTH_FP_LEN + 1];
    snprintf(meta_key, sizeof meta_key, "secret.%s", name);
    if (a->store->ops->meta_get(a->store, meta_key, out, cap) == STORE_OK && out[0])
        return true;
    if (auth_random_b64url(generated) != 0 || a->store->ops->meta_put_if_absent(a->store, meta_key, generated) != STORE_OK ||
        a->store->ops->meta_get(a->store, meta_key, out, cap) != STORE_OK) {
        snprintf(err, errlen, "%s: not set and none could be generated", name);
        return false;
    }
    log_emit(LOG_WARN, "main", "config", NULL, NULL, "%s is not set: generated one and stored it in the database", name);
    return true;
}

static jobs_config_t jobs_config(const config_t *c)
{
    jobs_config_t j;
    jobs_config_defaults(&j);
    j.lease_ttl_ms = c->db_lease_ttl_s * 1000;
    j.lease_renew_ms = j.lease_ttl_ms / 3;
    j.fold_period_ms = c->like_fold_interval_ms;
    j.fold_batch = c->like_fold_batch;
    j.relay_period_ms = c->donation_outbox_poll_ms;
    j.relay_batch = c->outbox_batch;
    j.backoff_base_s = c->outbox_backoff_base_s;
    j.backoff_max_s = c->outbox_backoff_max_s;
    j.webhook_url = c->donation_notify_webhook_url;
    j.reclaim_period_ms = c->outbox_reclaim_period_s * 1000;
    j.reclaim_stale_ms = (int64_t)c->outbox_stale_s * 1000;
    j.auth_purge_period_ms = c->auth_purge_period_s * 1000;
    j.retention_keep_ms = (int64_t)c->outbox_retention_days * 86400 * 1000;
    return j;
}

static int build_jobs(service_t *s, char *err, size_t errlen)
{
    jobs_config_t jc = jobs_config(&s->cfg);
    app_t *a = &s->app;
    s->sched = scheduler_new(a->store, a->metrics, &s->lc, a->instance_id, &jc);
    s->maint = s->sched ? maint_new(a->store, a->metrics, &jc) : NULL;
    s->relay = s->cfg.outbox_relay_enabled && s->sched ? relay_new(a->store, a->metrics, a->instance_id, &jc) : NULL;
    upstream_relay_opts_t uo = {s->cfg.upstream_outbox_poll_ms, s->cfg.outbox_batch, s->cfg.outbox_backoff_base_s,
                                s->cfg.outbox_backoff_max_s, s->cfg.upstream_relay_probe_after_s * 1000};
    s->up_relay = s->cfg.outbox_relay_enabled ? upstream_relay_new(a, &uo) : NULL;
    if (!s->sched || !s->maint || !maint_register(s->maint, s->sched) || (s->relay && !relay_register(s->relay, s->sched)) ||
        (s->up_relay && !upstream_relay_register(s->up_relay, s->sched)) || !scheduler_start(s->sched)) {
        snprintf(err, errlen, "cannot start the background jobs");
        return 1;
    }
    return 0;
}

static int build_app(service_t *s, char *err, size_t errlen)
{
    app_t *a = &s->app;
    const config_t *c = &s->cfg;
    a->cfg = c;
    a->lc = &s->lc;
    a->started_wall_ms = clock_wall_ms();
    a->metrics = metrics_new();
    declare_service_metrics(s);
    set_state(s, LC_STARTING);
    a->tables = app_load_tables(c->lookup_dir, a->tables_sha256, err, errlen);
    if (!a->tables)
        return 1;
    mfam_t *tables = metrics_gauge(a->metrics, "lookup_tables_info", "Checksum of the loaded lookup tables.", "checksum");
    mfam_set(tables, MX_LV(a->tables_sha256), 1);
    a->store = store_sqlite_open(c->sqlite_path, c->db_readers, err, errlen);
    if (!a->store)
        return 1;
    if (!resolve_secret(a, "JWT_SECRET", c->jwt_secret, a->jwt_secret, sizeof a->jwt_secret, err, errlen) ||
        !resolve_secret(a, "FINGERPRINT_SECRET", c->fingerprint_secret, a->fingerprint_secret,
                        sizeof a->fingerprint_secret, err, errlen))
        return CONFIG_EXIT;
    coord_local_opts_t co = {(size_t)c->v5_queue_cap, (size_t)c->v5_high_cap, 100000, 100000, 100000};
    a->coord = coord_local_new(&co);
    a->nexon = make_upstream(c, a->metrics);
    a->c_ocid = cache(a, "ocid", c->cache_ocid_l1_ttl_s, c->cache_ocid_l1_max, c->cache_ocid_stale_s);
    a->c_ocid_negative = cache(a, "ocidNegative", c->cache_ocid_negative_l1_ttl_s, c->cache_ocid_negative_l1_max, 0);
    a->c_basic = cache(a, "characterBasic", c->cache_character_basic_l1_ttl_s, c->cache_character_basic_l1_max,
                       c->cache_character_basic_stale_s);
    a->c_equipment = cache(a, "equipment", c->cache_equipment_l1_ttl_s, c->cache_equipment_l1_max, c->cache_equipment_stale_s);
    a->c_expectation = cache(a, "expectationV4", c->cache_expectation_v4_l1_ttl_s, c->cache_expectation_v4_l1_max,
                             c->cache_expectation_v4_stale_s);
    a->sf_ocid = sf_new("ocid", a->metrics);
    a->sf_basic = sf_new("characterBasic", a->metrics);
    a->sf_equipment = sf_new("equipment", a->metrics);
    a->sf_expectation = sf_new("expectationV4", a->metrics);
    a->compute = pool_new("expectation", c->compute_concurrency, c->compute_queue, a->metrics);
    wb_opts_t wo = {(size_t)c->writeback_capacity, c->writeback_flush_ms, (size_t)c->writeback_batch,
                    (size_t)c->writeback_shutdown_batch, c->writeback_max_attempts};
    a->wb = writeback_new(a->store, &wo, a->metrics);
    if (!a->coord || !a->nexon || !a->c_ocid || !a->c_ocid_negative || !a->c_basic || !a->c_equipment ||
        !a->c_expectation || !a->sf_ocid || !a->sf_basic || !a->sf_equipment || !a->sf_expectation || !a->compute ||
        !a->wb) {
        snprintf(err, errlen, "out of memory building the service");
        return 1;
    }
    alert_opts_t ao = {c->alert_webhook_url, c->alert_daily_quota, c->alert_dedup_s, a->instance_id};
    a->alerts = alerts_new(&ao, a->store, a->coord, a->metrics);
    writeback_start(a->wb);
    return a->alerts ? 0 : 1;
}

static void free_app(app_t *a)
{
    alerts_free(a->alerts);
    if (a->compute)
        pool_free(a->compute);
    if (a->wb)
        writeback_free(a->wb);
    sf_t *sfs[] = {a->sf_ocid, a->sf_basic, a->sf_equipment, a->sf_expectation};
    for (size_t i = 0; i < 4; i++)
        if (sfs[i])
            sf_free(sfs[i]);
    l1cache_t *cs[] = {a->c_ocid, a->c_ocid_negative, a->c_basic, a->c_equipment, a->c_expectation};
    for (size_t i = 0; i < 5; i++)
        if (cs[i])
            l1_free(cs[i]);
    if (a->nexon)
        nexon_free(a->nexon);
    coord_free(a->coord);
    store_close(a->store);
    if (a->tables)
        ptable_free(a->tables);
    if (a->metrics)
        metrics_free(a->metrics);
}

/* ---- shutdown (3.5) --------------------------------------------------------------------- */

static void on_second_signal(int sig)
{
    (void)sig;
    static const char msg[] = "{\"level\":\"ERROR\",\"msg\":\"second signal during shutdown: exiting now\"}\n";
    ssize_t w = write(STDOUT_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(130);
}

static void *watchdog(void *arg)
{
    service_t *s = arg;
    int64_t hard = (int64_t)(s->cfg.shutdown_total_s + 5) * 1000;
    struct timespec ts = {hard / 1000, (hard % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    log_emit(LOG_ERROR, "main", "shutdown", NULL, NULL, "shutdown budget exceeded (in flight: %zu): hard exit",
             s->http ? http_server_inflight(s->http) : 0);
    _exit(1);
}

static void phase_done(service_t *s, const char *phase, int64_t t0)
{
    double secs = (double)(clock_mono_ms() - t0) / 1e3;
    mfam_set(s->m_phase, MX_LV(phase), secs);
    log_emit(LOG_INFO, "main", "shutdown", NULL, NULL, "phase %s done in %.3f s", phase, secs);
}

static bool work_in_flight(service_t *s)
{
    return http_server_inflight(s->http) > 0 || http_server_busy(s->http) > 0 || pool_busy(s->app.compute) > 0 ||
           (s->v5 && v5_busy(s->v5) > 0);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int shutdown_service(service_t *s)
{
    signal(SIGTERM, on_second_signal);
    signal(SIGINT, on_second_signal);
    pthread_t wd;
    if (pthread_create(&wd, NULL, watchdog, s) == 0)
        pthread_detach(wd);
    /* 1-2: stop background work, readiness false, keep serving for the balancer's grace. */
    int64_t t0 = clock_mono_ms();
    set_state(s, LC_DRAINING);
    if (s->v5)
        v5_stop_taking(s->v5);
    if (s->sched)
        scheduler_stop_starting(s->sched);
    if (s->relay)
        relay_stop_claiming(s->relay);
    phase_done(s, "stop_admitting", t0);
    t0 = clock_mono_ms();
    sleep_ms(s->cfg.shutdown_lb_grace_s * 1000);
    http_server_close_listener(s->http);
    phase_done(s, "readiness_false", t0);
    /* 3: drain in-flight requests and jobs. */
    t0 = clock_mono_ms();
    while (work_in_flight(s) && clock_mono_ms() - t0 < (int64_t)s->cfg.shutdown_drain_s * 1000)
        sleep_ms(20);
    size_t left_requests = http_server_inflight(s->http);
    if (s->sched) {
        int64_t left_ms = (int64_t)s->cfg.shutdown_drain_s * 1000 - (clock_mono_ms() - t0);
        scheduler_wait_idle(s->sched, left_ms > 0 ? left_ms : 0);
    }
    phase_done(s, "drain", t0);
    /* 4: flush the write-back buffer. */
    t0 = clock_mono_ms();
    set_state(s, LC_STOPPING);
    size_t left_records = writeback_drain(s->app.wb, (int64_t)s->cfg.shutdown_flush_s * 1000);
    wb_stats_t st = writeback_stats(s->app.wb);
    mfam_set(s->m_leftover, MX_LV("writeback"), (double)left_records);
    mfam_set(s->m_leftover, MX_LV("requests"), (double)left_requests);
    log_emit(left_records ? LOG_WARN : LOG_INFO, "main", "shutdown", NULL, NULL,
             "write-back: accepted=%llu flushed=%llu superseded=%llu sync_written=%llu dropped=%llu pending=%llu",
             (unsigned long long)st.accepted, (unsigned long long)st.flushed, (unsigned long long)st.superseded,
             (unsigned long long)st.sync_written, (unsigned long long)st.dropped, (unsigned long long)st.pending);
    if (s->sched)
        scheduler_run_final(s->sched, JOB_LIKE_FOLD); /* last fold pass if this instance holds like-fold */
    phase_done(s, "flush", t0);
    /* 5: release the DB leases this instance holds. */
    t0 = clock_mono_ms();
    if (s->sched)
        scheduler_release_leases(s->sched);
    phase_done(s, "release_leases", t0);
    /* 6: close. */
    t0 = clock_mono_ms();
    http_server_stop(s->http);
    v5_free(s->v5);
    s->v5 = NULL;
    pool_free(s->app.compute);
    s->app.compute = NULL;
    http_server_free(s->http);
    s->http = NULL;
    relay_free(s->relay);
    maint_free(s->maint);
    scheduler_free(s->sched);
    upstream_relay_free(s->up_relay);
    s->up_relay = NULL;
    s->relay = NULL;
    s->maint = NULL;
    s->sched = NULL;
    phase_done(s, "close", t0);
    set_state(s, LC_STOPPED);
    log_emit(LOG_INFO, "main", "shutdown", NULL, NULL, "stopped (left: requests=%zu records=%zu)", left_requests,
             left_records);
    return left_records || left_requests ? 1 : 0;
}

/* ---- main loop -------------------------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    service_t *s = arg;
    log_emit(LOG_INFO, "main", "signal", NULL, NULL, "received signal %d: shutting down", (int)sig);
    event_base_loopbreak(s->control);
}

static void on_scheduler_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    service_t *s = arg;
    lc_tick_scheduler(&s->lc, clock_mono_ms());
}

static int run(service_t *s)
{
    s->control = event_base_new();
    struct event *term = evsignal_new(s->control, SIGTERM, on_signal, s);
    struct event *intr = evsignal_new(s->control, SIGINT, on_signal, s);
    struct event *tick = event_new(s->control, -1, EV_PERSIST, on_scheduler_tick, s);
    struct timeval one = {1, 0};
    event_add(term, NULL);
    event_add(intr, NULL);
    event_add(tick, &one);
    set_state(s, LC_READY);
    char fields[128];
    snprintf(fields, sizeof fields, "\"port\":%d,\"store\":\"%s\"", http_server_port(s->http), s->app.store->kind);
    log_emit(LOG_INFO, "main", "ready", NULL, fields, "listening on %s:%d", s->cfg.http_host, http_server_port(s->http));
    event_base_dispatch(s->control);
    event_free(term);
    event_free(intr);
    event_free(tick);
    event_base_free(s->control);
    return shutdown_service(s);
}

int cmd_serve(int argc, char **argv)
{
    static service_t svc; /* one service per process; lives until exit */
    service_t *s = &svc;
    char err[512];
    bool help = false;
    if (!config_load(&s->cfg, argc, argv, &help, err, sizeof err)) {
        fprintf(stderr, "maplexp serve: %s\n", err);
        log_emit(LOG_ERROR, "main", "config", NULL, NULL, "%s", err);
        return CONFIG_EXIT;
    }
    if (help) {
        config_print_help(stdout);
        return 0;
    }
    if (!timezone_known(s->cfg.service_timezone))
        return fail("SERVICE_TIMEZONE: unknown timezone", CONFIG_EXIT);
    setenv("TZ", s->cfg.service_timezone, 1);
    tzset();
    make_instance_id(&s->cfg, s->app.instance_id);
    log_level_t level = LOG_INFO;
    log_level_parse(s->cfg.log_level, &level);
    log_init(s->app.instance_id, s->cfg.mode, MAPLEXP_VERSION, level);
    lc_init(&s->lc, clock_mono_ms());
    s->lock_fd = take_process_lock(s->cfg.sqlite_path);
    if (s->lock_fd == -1)
        return fail("SQLITE_PATH: another maplexp process holds this database (lock file busy)", CONFIG_EXIT);
    if (s->lock_fd < 0)
        return fail("SQLITE_PATH: cannot create the lock file next to the database", CONFIG_EXIT);
    char desc[8192];
    config_describe(&s->cfg, desc, sizeof desc);
    log_emit(LOG_INFO, "main", "config", NULL, NULL, "configuration %s", desc);
    /* ~40 threads would each get a malloc arena (up to 8 x cores); two arenas keep idle RSS small
     * and the hot paths allocate little. */
    mallopt(M_ARENA_MAX, 2);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    int rc = build_app(s, err, sizeof err);
    if (rc == 0)
        rc = build_jobs(s, err, sizeof err);
    if (rc == 0) {
        s->http = http_server_new(&s->app, err, sizeof err);
        if (!s->http || http_server_start(s->http) != 0)
            rc = 1;
    }
    if (rc == 0) {
        if (s->cfg.v5_enabled)
            s->v5 = v5_start(&s->app);
        rc = run(s);
    } else {
        fail(err, rc);
        if (s->http)
            http_server_free(s->http);
        relay_free(s->relay);
        maint_free(s->maint);
        scheduler_free(s->sched);
        upstream_relay_free(s->up_relay);
    }
    free_app(&s->app);
    curl_global_cleanup();
    close(s->lock_fd);
    return rc;
}
