/*
 * relay.c - the donation outbox relay (relay.h): claim a batch, verify and deliver each row outside
 * any transaction (structured log event + optional webhook POST), finalize with the claim token.
 *
 * The webhook uses one libcurl easy handle per delivery: deliveries are rare (one per donation)
 * and a fresh handle keeps the relay free of per-thread state.
 */
#include "jobs/relay.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/hash.h"
#include "ops/log.h"

#define OUTBOX_LABEL "donation"
#define ERR_MAX 200

struct relay {
    store_t *store;
    char instance[101];
    char *webhook_url;      /* NULL = log only */
    int batch, backoff_base_s, backoff_max_s;
    int connect_timeout_ms, timeout_ms, period_ms;
    _Atomic bool stop_claiming;
    pthread_mutex_t mu;     /* guards st */
    relay_stats_t st;
    mfam_t *transitions, *claim_lost, *batch_seconds, *safety_net;
};

typedef enum { ST_CLAIMED, ST_COMPLETED, ST_FAILED, ST_DEAD, ST_LOST, ST_RELEASED, ST_STORE_ERR } stat_t;

static void count(relay_t *r, stat_t what, uint64_t n)
{
    static const char *const to[] = {
        [ST_CLAIMED] = "processing", [ST_COMPLETED] = "completed", [ST_FAILED] = "failed",
        [ST_DEAD] = "dead_letter", [ST_RELEASED] = "released",
    };
    pthread_mutex_lock(&r->mu);
    uint64_t *field[] = {
        [ST_CLAIMED] = &r->st.claimed, [ST_COMPLETED] = &r->st.completed, [ST_FAILED] = &r->st.failed,
        [ST_DEAD] = &r->st.dead_lettered, [ST_LOST] = &r->st.claim_lost, [ST_RELEASED] = &r->st.released,
        [ST_STORE_ERR] = &r->st.store_errors,
    };
    *field[what] += n;
    pthread_mutex_unlock(&r->mu);
    if (what == ST_LOST)
        mfam_add(r->claim_lost, MX_LV(OUTBOX_LABEL), (double)n);
    else if (what != ST_STORE_ERR)
        mfam_add(r->transitions, MX_LV(OUTBOX_LABEL, to[what]), (double)n);
    if (what == ST_DEAD)
        mfam_add(r->safety_net, MX_LV(OUTBOX_LABEL, "db"), (double)n);
}

/* ---- delivery -------------------------------------------------------------------------------- */

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static bool header_safe(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* POST the payload; true on a 2xx answer. err gets a short reason without the URL (G9). */
static bool webhook_post(relay_t *r, const store_outbox_row_t *row, char *err, size_t errlen)
{
    if (!header_safe(row->request_id)) {
        snprintf(err, errlen, "webhook: request id is not a valid header value");
        return false;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "webhook: no curl handle");
        return false;
    }
    char idem[160];
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", row->request_id);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = hdrs ? curl_slist_append(hdrs, idem) : NULL;
    more = more ? curl_slist_append(more, "Expect:") : NULL; /* no 100-continue round trip */
    if (!more) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        snprintf(err, errlen, "webhook: out of memory");
        return false;
    }
    const char *body = row->payload ? row->payload : "";
    curl_easy_setopt(h, CURLOPT_URL, r->webhook_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    CURLcode c = curl_easy_perform(h);
    long status = 0;
    if (c == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (c != CURLE_OK) {
        snprintf(err, errlen, "webhook: %s", curl_easy_strerror(c));
        return false;
    }
    if (status < 200 || status > 299) {
        snprintf(err, errlen, "webhook: HTTP %ld", status);
        return false;
    }
    return true;
}

static void log_completed(const store_outbox_row_t *row)
{
    buf_t f;
    buf_init(&f, LOG_MAX_LINE);
    log_fields_str(&f, "requestId", row->request_id);
    log_fields_str(&f, "eventType", row->event_type);
    log_fields_str(&f, "payload", row->payload);
    log_emit(LOG_INFO, "outbox", "donation.completed", row->origin_request_id[0] ? row->origin_request_id : NULL,
             buf_cstr(&f), "donation.completed");
    buf_dispose(&f);
}

/* ---- finalize -------------------------------------------------------------------------------- */

static void finalize_fail(relay_t *r, const store_outbox_row_t *row, const char *reason, bool immediate)
{
    outbox_final_t res = OUTBOX_FINAL_RETRY;
    store_rc_t rc = r->store->ops->outbox_fail(r->store, OUTBOX_DONATION, row->id, row->claim_token, reason, immediate,
                                               r->backoff_base_s, r->backoff_max_s, clock_wall_ms(), &res);
    const char *corr = row->origin_request_id[0] ? row->origin_request_id : NULL;
    if (rc != STORE_OK) {
        count(r, ST_STORE_ERR, 1);
        log_emit(LOG_WARN, "outbox", "relay.fail", corr, NULL,
                 "outbox row %lld (%s): failure not recorded (%s); left for stalled-claim recovery",
                 (long long)row->id, row->request_id, store_rc_name(rc));
        return;
    }
    switch (res) {
    case OUTBOX_FINAL_DEAD:
        count(r, ST_DEAD, 1);
        log_emit(LOG_WARN, "outbox", "relay.dead_letter", corr, NULL,
                 "outbox row %lld (%s) dead-lettered after %d attempt(s): %s", (long long)row->id, row->request_id,
                 row->retry_count + 1, reason);
        break;
    case OUTBOX_FINAL_CLAIM_LOST:
        count(r, ST_LOST, 1);
        log_emit(LOG_INFO, "outbox", "relay.claim_lost", corr, NULL,
                 "outbox row %lld (%s): claim lost before the failure was recorded", (long long)row->id,
                 row->request_id);
        break;
    default:
        count(r, ST_FAILED, 1);
        log_emit(LOG_INFO, "outbox", "relay.retry", corr, NULL, "outbox row %lld (%s) failed, will retry: %s",
                 (long long)row->id, row->request_id, reason);
        break;
    }
}

static void finalize_ok(relay_t *r, const store_outbox_row_t *row)
{
    outbox_final_t res = OUTBOX_FINAL_OK;
    store_rc_t rc = r->store->ops->outbox_complete(r->store, OUTBOX_DONATION, row->id, row->claim_token,
                                                   clock_wall_ms(), &res);
    const char *corr = row->origin_request_id[0] ? row->origin_request_id : NULL;
    if (rc != STORE_OK) {
        count(r, ST_STORE_ERR, 1);
        log_emit(LOG_WARN, "outbox", "relay.complete", corr, NULL,
                 "outbox row %lld (%s): delivered but not finalized (%s); it will be delivered again",
                 (long long)row->id, row->request_id, store_rc_name(rc));
    } else if (res == OUTBOX_FINAL_CLAIM_LOST) {
        count(r, ST_LOST, 1);
        log_emit(LOG_INFO, "outbox", "relay.claim_lost", corr, NULL,
                 "outbox row %lld (%s): claim lost (reclaimed meanwhile); result discarded", (long long)row->id,
                 row->request_id);
    } else {
        count(r, ST_COMPLETED, 1);
    }
}

static void process_row(relay_t *r, const store_outbox_row_t *row)
{
    if (!store_outbox_row_intact(row)) {
        finalize_fail(r, row, RELAY_INTEGRITY_REASON, true);
        return;
    }
    char err[ERR_MAX] = "";
    if (r->webhook_url && !webhook_post(r, row, err, sizeof err)) {
        finalize_fail(r, row, err, false);
        return;
    }
    log_completed(row);
    finalize_ok(r, row);
}

static void release_row(relay_t *r, const store_outbox_row_t *row)
{
    store_rc_t rc = r->store->ops->outbox_release(r->store, OUTBOX_DONATION, row->id, row->claim_token, clock_wall_ms());
    count(r, rc == STORE_OK ? ST_RELEASED : ST_STORE_ERR, 1);
}

/* ---- batches --------------------------------------------------------------------------------- */

static bool stopping(relay_t *r, const job_ctx_t *ctx)
{
    return atomic_load(&r->stop_claiming) || job_should_stop(ctx);
}

static int run_batch(relay_t *r, const job_ctx_t *ctx)
{
    if (stopping(r, ctx))
        return 0;
    int64_t t0 = clock_mono_us();
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    store_rc_t rc = r->store->ops->outbox_claim(r->store, OUTBOX_DONATION, r->instance, r->batch, clock_wall_ms(), &rows, &n);
    if (rc != STORE_OK) {
        log_emit(LOG_WARN, "outbox", "relay.claim", NULL, NULL, "donation outbox claim failed: %s", store_rc_name(rc));
        return -1;
    }
    if (n == 0) {
        store_outbox_rows_free(rows, n);
        return 0;
    }
    count(r, ST_CLAIMED, n);
    for (size_t i = 0; i < n; i++) {
        if (stopping(r, ctx))
            release_row(r, &rows[i]);
        else
            process_row(r, &rows[i]);
    }
    store_outbox_rows_free(rows, n);
    mfam_observe(r->batch_seconds, MX_LV(OUTBOX_LABEL), (double)(clock_mono_us() - t0) / 1e6);
    return (int)n;
}

int relay_run_batch(relay_t *r)
{
    return r ? run_batch(r, NULL) : -1;
}

job_result_t relay_job(job_ctx_t *ctx)
{
    relay_t *r = ctx->arg;
    job_result_t res = {0, true};
    for (;;) {
        int n = run_batch(r, ctx);
        if (n < 0) {
            res.ok = false;
            break;
        }
        res.items += n;
        if (n < r->batch || stopping(r, ctx))
            break;
    }
    return res;
}

bool relay_register(relay_t *r, scheduler_t *s)
{
    job_spec_t spec = {.name = RELAY_JOB_NAME, .period_ms = r->period_ms, .lease = NULL, .fn = relay_job, .arg = r};
    return scheduler_add(s, &spec);
}

relay_t *relay_new(store_t *store, metrics_t *m, const char *instance_id, const jobs_config_t *cfg)
{
    if (!store || !instance_id || strlen(instance_id) > 100)
        return NULL;
    jobs_config_t defaults;
    jobs_config_defaults(&defaults);
    if (!cfg)
        cfg = &defaults;
    relay_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->store = store;
    snprintf(r->instance, sizeof r->instance, "%s", instance_id);
    if (cfg->webhook_url && *cfg->webhook_url) {
        r->webhook_url = strdup(cfg->webhook_url);
        if (!r->webhook_url) {
            free(r);
            return NULL;
        }
    }
    r->batch = cfg->relay_batch > 0 ? cfg->relay_batch : defaults.relay_batch;
    r->backoff_base_s = cfg->backoff_base_s >= 0 ? cfg->backoff_base_s : defaults.backoff_base_s;
    r->backoff_max_s = cfg->backoff_max_s >= 0 ? cfg->backoff_max_s : defaults.backoff_max_s;
    r->connect_timeout_ms = cfg->webhook_connect_timeout_ms > 0 ? cfg->webhook_connect_timeout_ms
                                                                : defaults.webhook_connect_timeout_ms;
    r->timeout_ms = cfg->webhook_timeout_ms > 0 ? cfg->webhook_timeout_ms : defaults.webhook_timeout_ms;
    r->period_ms = cfg->relay_period_ms > 0 ? cfg->relay_period_ms : defaults.relay_period_ms;
    pthread_mutex_init(&r->mu, NULL);
    r->transitions = metrics_counter(m, "outbox_transitions_total", "Outbox row state transitions.", "outbox,to");
    r->claim_lost = metrics_counter(m, "outbox_claim_lost_total", "Outbox finalizes refused by the claim token.", "outbox");
    r->batch_seconds = metrics_histogram(m, "outbox_relay_batch_seconds", "Duration of outbox relay batches.", "outbox",
                                         NULL, 0);
    r->safety_net = metrics_counter(m, "dlq_safety_net_total", "Rows moved to a dead-letter tier.", "queue,tier");
    return r;
}

void relay_stop_claiming(relay_t *r)
{
    if (r)
        atomic_store(&r->stop_claiming, true);
}

relay_stats_t relay_stats(relay_t *r)
{
    relay_stats_t st = {0};
    if (!r)
        return st;
    pthread_mutex_lock(&r->mu);
    st = r->st;
    pthread_mutex_unlock(&r->mu);
    return st;
}

void relay_free(relay_t *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->webhook_url);
    free(r);
}
