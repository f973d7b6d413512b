/*
 * alert.c - the alert pipeline (alert.h): build -> de-duplicate -> daily quota -> log -> send.
 */
#include "app/alert.h"
#include "app/app.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/jw.h"
#include "ops/log.h"

#define QUEUE_CAP 200

typedef struct {
    char *body;
    alert_severity_t sev;
} send_t;

struct alerts {
    alert_opts_t o;
    char *url, *instance;
    store_t *store;
    coord_t *coord;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    send_t queue[QUEUE_CAP];
    size_t head, len;
    bool stop;
    pthread_t thread;
    bool started;
    mfam_t *m_alerts;
};

static const char *SEV_NAMES[] = {"info", "warning", "critical"};
static const int SEV_COLOURS[] = {3447003, 15105570, 15158332};

bool alert_severity_parse(const char *s, alert_severity_t *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(s, SEV_NAMES[i]))
            return *out = (alert_severity_t)i, true;
    return false;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static bool post(const char *url, const char *body)
{
    CURL *h = curl_easy_init();
    if (!h)
        return false;
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && status >= 200 && status < 300;
}

static void *sender(void *arg)
{
    alerts_t *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->len == 0 && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->len == 0)
            break;
        send_t s = a->queue[a->head];
        a->head = (a->head + 1) % QUEUE_CAP;
        a->len--;
        pthread_mutex_unlock(&a->mu);
        bool ok = post(a->url, s.body);
        mfam_add(a->m_alerts, MX_LV(SEV_NAMES[s.sev], ok ? "sent" : "failed"), 1);
        free(s.body);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

alerts_t *alerts_new(const alert_opts_t *o, store_t *store, coord_t *coord, metrics_t *m)
{
    alerts_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->o = *o;
    a->url = o->webhook_url && *o->webhook_url ? strdup(o->webhook_url) : NULL;
    a->instance = strdup(o->instance_id ? o->instance_id : "-");
    a->store = store;
    a->coord = coord;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->m_alerts = metrics_counter(m, "alerts_total", "Alerts by severity and outcome (SC-29).", "severity,result");
    if (a->url && pthread_create(&a->thread, NULL, sender, a) == 0)
        a->started = true;
    return a;
}

void alerts_free(alerts_t *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->started)
        pthread_join(a->thread, NULL);
    for (size_t i = 0; i < a->len; i++)
        free(a->queue[(a->head + i) % QUEUE_CAP].body);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->url);
    free(a->instance);
    free(a);
}

static char *discord_body(alerts_t *a, alert_severity_t sev, const char *type, const char *summary, const char *corr)
{
    char ts[40], content[2100], footer[256];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char upper[16];
    snprintf(upper, sizeof upper, "%s", SEV_NAMES[sev]);
    for (char *p = upper; *p; p++)
        *p = (char)(*p - ('a' <= *p && *p <= 'z' ? 32 : 0));
    snprintf(content, sizeof content, "[%s] %s — %.1900s", upper, type, summary);
    snprintf(footer, sizeof footer, "instance %s · correlation %s", a->instance, corr ? corr : "-");
    buf_t b;
    buf_init(&b, 16384);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "username");
    jw_string(&w, "maple-expectation");
    jw_key(&w, "content");
    jw_string(&w, content);
    jw_key(&w, "embeds");
    jw_array_begin(&w);
    jw_object_begin(&w);
    jw_key(&w, "title");
    jw_string(&w, type);
    jw_key(&w, "description");
    jw_string(&w, summary);
    jw_key(&w, "color");
    jw_int(&w, SEV_COLOURS[sev]);
    jw_key(&w, "timestamp");
    jw_string(&w, ts);
    jw_key(&w, "fields");
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_key(&w, "footer");
    jw_object_begin(&w);
    jw_key(&w, "text");
    jw_string(&w, footer);
    jw_object_end(&w);
    jw_object_end(&w);
    jw_array_end(&w);
    jw_object_end(&w);
    char *out = buf_ok(&b) ? strdup(buf_cstr(&b)) : NULL;
    buf_dispose(&b);
    return out;
}

void alert_raise(alerts_t *a, alert_severity_t sev, const char *type, const char *key, const char *summary,
                 const char *correlation_id)
{
    if (!a)
        return;
    const char *sevname = SEV_NAMES[sev];
    char fields[512];
    snprintf(fields, sizeof fields, "\"alert\":true,\"alert_type\":\"%.64s\",\"severity\":\"%s\"", type, sevname);
    log_emit(sev == ALERT_CRITICAL ? LOG_ERROR : LOG_WARN, "alert", type, correlation_id, fields, "%s", summary);
    char dedup[256];
    snprintf(dedup, sizeof dedup, "alert:dedup:%.64s:%.128s", type, key ? key : "");
    coord_rc_t d = a->coord->ops->marker_set_nx(a->coord, dedup, "1", (int64_t)a->o.dedup_s * 1000);
    if (d == COORD_EXISTS) {
        mfam_add(a->m_alerts, MX_LV(sevname, "deduplicated"), 1);
        return;
    }
    char day[16];
    app_local_day(day);
    int64_t used = 0;
    if (a->store->ops->quota_consume(a->store, "alert", day, a->o.daily_quota, &used) != STORE_OK) {
        mfam_add(a->m_alerts, MX_LV(sevname, "quota_exceeded"), 1);
        return;
    }
    if (!a->url) {
        mfam_add(a->m_alerts, MX_LV(sevname, "sent"), 1); /* log-only delivery (4.4: unset URL) */
        return;
    }
    char *body = discord_body(a, sev, type, summary, correlation_id);
    pthread_mutex_lock(&a->mu);
    bool queued = body && a->len < QUEUE_CAP && !a->stop;
    if (queued) {
        a->queue[(a->head + a->len) % QUEUE_CAP] = (send_t){body, sev};
        a->len++;
        pthread_cond_signal(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    if (!queued) {
        free(body);
        mfam_add(a->m_alerts, MX_LV(sevname, "dropped"), 1);
    }
}
