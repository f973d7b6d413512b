/*
 * nexon.c - blocking client for the Nexon Open API (platform spec 1.12, 3.1-3.3; see nexon.h).
 *
 * One server-key call runs:  deadline check -> breaker peek -> concurrency slot (held for the
 * whole call) -> attempts. Every attempt takes a rate-cap token, then asks the breaker (a refused
 * attempt gives its rate token back), runs one curl transfer and reports the outcome to the
 * breaker. A retry additionally needs: a back-off (or the 429 Retry-After) that, together with a
 * full worst-case attempt, still ends before the call deadline, and the retry budget.
 *
 * The /character/list call (user key) has none of this except its own breaker "nexonAuth": one
 * attempt, 10 s, no budget, slot or rate cap (those protect the server key's quota).
 *
 * State (all in nexon_t, guarded by one mutex): slot count, the rate counter of the current wall
 * second, the retry-budget window (6 buckets of 10 s on the monotonic clock), the jitter PRNG and
 * a bounded pool of curl easy handles (a reused handle keeps its live connections, so calls reuse
 * TCP/TLS connections). Transfers themselves run without the mutex.
 *
 * The API keys only ever go into the request header; they are never logged nor put in errors.
 */
#include "upstream/nexon.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#define POOL_MAX 64                   /* idle easy handles kept for reuse */
#define LOGIN_TOTAL_MS 10000          /* /character/list: one attempt, 10 s (3.1) */
#define BUDGET_BUCKET_MS 10000        /* retry budget: 60 s window of 10 s buckets (SC-09) */
#define BUDGET_BUCKETS 6
#define RETRY_AFTER_MAX_S 3600        /* larger values cannot fit any deadline anyway */
#define URL_MAX 8192
#define DEFAULT_MAX_BODY (8u << 20)
#define USER_AGENT "maplexp/1"

typedef enum { EP_ID = 0, EP_BASIC, EP_EQUIPMENT, EP_LIST } endpoint_t;

static const char *const EP_LABEL[] = {"id", "basic", "item_equipment", "character_list"};
static const char *const EP_PATH[] = {
    "/maplestory/v1/id",
    "/maplestory/v1/character/basic",
    "/maplestory/v1/character/item-equipment",
    "/maplestory/v1/character/list",
};

typedef struct {
    int64_t id; /* monotonic ms / BUDGET_BUCKET_MS; -1 when unused */
    int first;
    int retries;
} budget_bucket_t;

struct nexon {
    nexon_opts_t o; /* base_url/api_key point to the copies below */
    char *base_url, *api_key;
    breaker_t *api, *auth;

    pthread_mutex_t mu; /* guards the fields down to `npool` */
    pthread_cond_t slot_cv;
    int in_flight;
    int64_t rate_sec; /* wall second counted by rate_count */
    int rate_count;
    budget_bucket_t budget[BUDGET_BUCKETS];
    uint64_t rng;
    CURL *pool[POOL_MAX];
    int npool;

    mfam_t *m_requests, *m_duration, *m_short, *m_retries, *m_in_flight;
};

const char *up_rc_name(up_rc_t rc)
{
    switch (rc) {
    case UP_OK: return "ok";
    case UP_NOT_FOUND: return "not_found";
    case UP_KEY_REJECTED: return "key_rejected";
    case UP_FAILED: return "failed";
    case UP_TIMEOUT: return "timeout";
    case UP_BREAKER_OPEN: return "breaker_open";
    case UP_OVERLOAD: return "overload";
    }
    return "unknown";
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* ---- construction ------------------------------------------------------------------------ */

static void declare_metrics(nexon_t *n, metrics_t *m)
{
    n->m_requests = metrics_counter(m, "upstream_requests_total", "Upstream attempts by endpoint and outcome",
                                    "endpoint,outcome");
    n->m_duration = metrics_histogram(m, "upstream_request_duration_seconds", "Duration of one upstream attempt",
                                      "endpoint", METRICS_SECONDS_BUCKETS, 12);
    n->m_short = metrics_counter(m, "upstream_short_circuited_total", "Upstream calls not made", "reason");
    n->m_retries = metrics_counter(m, "upstream_retries_total", "Upstream retries attempted or denied by the budget",
                                   "endpoint,result");
    n->m_in_flight = metrics_gauge(m, "upstream_in_flight", "Server-key upstream calls holding a concurrency slot", "");
}

static char *copy_base_url(const char *url)
{
    char *s = strdup(url ? url : "");
    if (s) {
        size_t len = strlen(s);
        while (len > 0 && s[len - 1] == '/')
            s[--len] = '\0';
    }
    return s;
}

static void normalise_opts(nexon_opts_t *o)
{
    if (o->connect_ms < 1)
        o->connect_ms = 1;
    if (o->response_ms < 1)
        o->response_ms = 1;
    if (o->max_attempts < 1)
        o->max_attempts = 1;
    if (o->concurrency < 1)
        o->concurrency = 1;
    if (o->retry_wait_ms < 0)
        o->retry_wait_ms = 0;
    if (o->slot_wait_ms < 0)
        o->slot_wait_ms = 0;
    if (o->max_body == 0)
        o->max_body = DEFAULT_MAX_BODY;
    if (!o->breaker.name)
        o->breaker.name = "nexonApi";
}

static bool init_sync(nexon_t *n)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&n->slot_cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (ok && pthread_mutex_init(&n->mu, NULL) != 0) {
        pthread_cond_destroy(&n->slot_cv);
        ok = false;
    }
    return ok;
}

static void free_key(char *key)
{
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
}

nexon_t *nexon_new(const nexon_opts_t *opts, metrics_t *m)
{
    nexon_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->o = *opts;
    normalise_opts(&n->o);
    n->base_url = copy_base_url(opts->base_url);
    n->api_key = strdup(opts->api_key ? opts->api_key : "");
    n->o.base_url = n->base_url;
    n->o.api_key = n->api_key;
    const breaker_opts_t auth_opts = {
        .name = "nexonAuth", .window_s = 10, .min_calls = 10, .failure_rate = 0.5,
        .open_s = 10, .probes = 3, .close_successes = 2,
    };
    n->api = breaker_new(&n->o.breaker, m);
    n->auth = breaker_new(&auth_opts, m);
    n->o.breaker.name = NULL; /* the caller's string is not kept */
    if (!n->base_url || !n->api_key || !n->api || !n->auth || !init_sync(n)) {
        breaker_free(n->api);
        breaker_free(n->auth);
        free(n->base_url);
        free_key(n->api_key);
        free(n);
        return NULL;
    }
    for (int i = 0; i < BUDGET_BUCKETS; i++)
        n->budget[i].id = -1;
    n->rate_sec = -1;
    n->rng = (uint64_t)clock_mono_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)n;
    if (m)
        declare_metrics(n, m);
    return n;
}

void nexon_free(nexon_t *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->npool; i++)
        curl_easy_cleanup(n->pool[i]);
    breaker_free(n->api);
    breaker_free(n->auth);
    pthread_cond_destroy(&n->slot_cv);
    pthread_mutex_destroy(&n->mu);
    free(n->base_url);
    free_key(n->api_key);
    free(n);
}

breaker_t *nexon_breaker(nexon_t *n) { return n->api; }

/* ---- shared state: handles, jitter, slots, rate cap, retry budget ---------------------------- */

static CURL *handle_get(nexon_t *n)
{
    pthread_mutex_lock(&n->mu);
    CURL *h = n->npool > 0 ? n->pool[--n->npool] : NULL;
    pthread_mutex_unlock(&n->mu);
    return h ? h : curl_easy_init();
}

static void handle_put(nexon_t *n, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&n->mu);
    if (n->npool < POOL_MAX) {
        n->pool[n->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&n->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* base_ms +-20 % (splitmix64 under the mutex: cheap and thread-safe). */
static int64_t jitter_ms(nexon_t *n, long base_ms)
{
    pthread_mutex_lock(&n->mu);
    uint64_t z = (n->rng += 0x9E3779B97F4A7C15ull);
    pthread_mutex_unlock(&n->mu);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double u = (double)(z >> 11) / 9007199254740992.0; /* [0, 1) */
    return (int64_t)((double)base_ms * (0.8 + 0.4 * u));
}

static bool slot_acquire(nexon_t *n, int64_t until_ms)
{
    pthread_mutex_lock(&n->mu);
    while (n->in_flight >= n->o.concurrency) {
        if (clock_mono_ms() >= until_ms) {
            pthread_mutex_unlock(&n->mu);
            return false;
        }
        struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000};
        pthread_cond_timedwait(&n->slot_cv, &n->mu, &ts);
    }
    n->in_flight++;
    pthread_mutex_unlock(&n->mu);
    mfam_add(n->m_in_flight, NULL, 1);
    return true;
}

static void slot_release(nexon_t *n)
{
    pthread_mutex_lock(&n->mu);
    n->in_flight--;
    pthread_cond_signal(&n->slot_cv);
    pthread_mutex_unlock(&n->mu);
    mfam_add(n->m_in_flight, NULL, -1);
}

/* Takes a start token of the current wall second, waiting for the next second while the caller
 * can still afford need_ms after the wait. Returns the second taken (0 when uncapped), -1 if not. */
static int64_t rate_take(nexon_t *n, int64_t call_deadline, int64_t need_ms)
{
    if (n->o.max_rps <= 0)
        return 0;
    for (;;) {
        int64_t wall = clock_wall_ms();
        int64_t sec = wall / 1000;
        pthread_mutex_lock(&n->mu);
        if (n->rate_sec != sec) {
            n->rate_sec = sec;
            n->rate_count = 0;
        }
        bool got = n->rate_count < n->o.max_rps;
        if (got)
            n->rate_count++;
        pthread_mutex_unlock(&n->mu);
        if (got)
            return sec;
        int64_t wait = (sec + 1) * 1000 - wall;
        if (clock_mono_ms() + wait + need_ms > call_deadline)
            return -1;
        sleep_ms(wait);
    }
}

/* Gives back a token whose attempt was not made (breaker refused it). */
static void rate_refund(nexon_t *n, int64_t sec)
{
    if (n->o.max_rps <= 0)
        return;
    pthread_mutex_lock(&n->mu);
    if (n->rate_sec == sec && n->rate_count > 0)
        n->rate_count--;
    pthread_mutex_unlock(&n->mu);
}

/* The bucket of the current 10 s slot (mutex held). */
static budget_bucket_t *budget_bucket(nexon_t *n, int64_t id)
{
    budget_bucket_t *b = &n->budget[id % BUDGET_BUCKETS];
    if (b->id != id) {
        b->id = id;
        b->first = 0;
        b->retries = 0;
    }
    return b;
}

static void budget_note_first(nexon_t *n)
{
    int64_t id = clock_mono_ms() / BUDGET_BUCKET_MS;
    pthread_mutex_lock(&n->mu);
    budget_bucket(n, id)->first++;
    pthread_mutex_unlock(&n->mu);
}

/* Check and consume in one step, so concurrent callers cannot overshoot the budget. */
static bool budget_take_retry(nexon_t *n)
{
    int64_t id = clock_mono_ms() / BUDGET_BUCKET_MS;
    pthread_mutex_lock(&n->mu);
    long first = 0, retries = 0;
    for (int i = 0; i < BUDGET_BUCKETS; i++) {
        const budget_bucket_t *b = &n->budget[i];
        if (b->id >= 0 && b->id > id - BUDGET_BUCKETS && b->id <= id) {
            first += b->first;
            retries += b->retries;
        }
    }
    bool ok = (double)retries < n->o.budget_ratio * (double)first && retries < n->o.budget_per_min;
    if (ok)
        budget_bucket(n, id)->retries++;
    pthread_mutex_unlock(&n->mu);
    return ok;
}

/* ---- one transfer -------------------------------------------------------------------------- */

typedef enum {
    AT_OK,           /* 2xx, body within the cap */
    AT_NOT_FOUND,    /* 400/404 */
    AT_KEY_REJECTED, /* 401/403 (and 400 for the user key) */
    AT_FATAL,        /* not retried: other 4xx, body over the cap or undecodable, local curl fault */
    AT_RETRY,        /* retryable: 429, 5xx, connect/transfer error, unexpected status */
    AT_TIMEOUT,      /* retryable: the attempt timed out */
} attempt_class_t;

typedef struct {
    attempt_class_t cls;
    const char *outcome;    /* upstream_requests_total outcome label */
    bool breaker_failure;   /* M18: 429, 5xx, timeouts, connect errors */
    long status;            /* HTTP status, 0 without a response */
    int64_t retry_after_ms; /* 429 Retry-After in ms, -1 when absent */
} attempt_t;

typedef struct {
    nexon_t *n;
    endpoint_t ep;
    CURL *h;
    char *url;
    struct curl_slist *hdrs;
    int64_t deadline; /* monotonic ms: end of the whole call */
    buf_t body;       /* the current attempt's decoded body, capped at max_body */
    bool body_over;
    int64_t retry_after_ms;
} call_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    call_t *c = ud;
    size_t len = size * nmemb;
    if (c->body.len + len > c->n->o.max_body) {
        c->body_over = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&c->body, p, len);
    return buf_ok(&c->body) ? len : 0;
}

/* Retry-After in its delay-seconds form; the HTTP-date form is ignored (normal back-off). */
static int64_t parse_retry_after(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    int64_t secs = 0;
    size_t digits = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        secs = secs * 10 + (p[i] - '0');
        if (secs > RETRY_AFTER_MAX_S)
            secs = RETRY_AFTER_MAX_S + 1;
    }
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (digits == 0 || i != len || secs > RETRY_AFTER_MAX_S)
        return -1;
    return secs * 1000;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    call_t *c = ud;
    size_t len = size * nmemb;
    static const char name[] = "retry-after:";
    const size_t nlen = sizeof name - 1;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        c->retry_after_ms = -1; /* a new response (after a 1xx): forget earlier headers */
    else if (len > nlen && strncasecmp(p, name, nlen) == 0)
        c->retry_after_ms = parse_retry_after(p + nlen, len - nlen);
    return len;
}

static void set_attempt(attempt_t *a, attempt_class_t cls, const char *outcome, bool breaker_failure)
{
    a->cls = cls;
    a->outcome = outcome;
    a->breaker_failure = breaker_failure;
}

static void classify_status(endpoint_t ep, long status, attempt_t *a)
{
    if (status >= 200 && status < 300)
        set_attempt(a, AT_OK, "ok", false);
    else if (status == 429)
        set_attempt(a, AT_RETRY, "rate_limited", true);
    else if (status >= 500 && status < 600)
        set_attempt(a, AT_RETRY, "server_error", true);
    else if (ep == EP_LIST && (status == 400 || status == 401 || status == 403))
        set_attempt(a, AT_KEY_REJECTED, "client_error", false); /* the user's key is not valid */
    else if (status == 400 || status == 404)
        set_attempt(a, AT_NOT_FOUND, "not_found", false);
    else if (status == 401 || status == 403)
        set_attempt(a, AT_KEY_REJECTED, "client_error", false);
    else if (status >= 400 && status < 500)
        set_attempt(a, AT_FATAL, "client_error", false);
    else
        set_attempt(a, AT_RETRY, "server_error", true); /* 1xx/3xx: not an answer the API gives */
}

static bool is_local_fault(CURLcode cc)
{
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
        return true;
    default:
        return false;
    }
}

static void classify(const call_t *c, CURLcode cc, long status, attempt_t *a)
{
    a->status = status;
    a->retry_after_ms = -1;
    bool got_status = status >= 100;
    if (cc == CURLE_OK) {
        classify_status(c->ep, status, a);
        if (status == 429)
            a->retry_after_ms = c->retry_after_ms;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        set_attempt(a, AT_TIMEOUT, "timeout", true);
    } else if ((cc == CURLE_WRITE_ERROR || cc == CURLE_BAD_CONTENT_ENCODING) && got_status &&
               !(status >= 200 && status < 300)) {
        classify_status(c->ep, status, a); /* an error page we did not need to read in full */
    } else if (cc == CURLE_WRITE_ERROR || cc == CURLE_BAD_CONTENT_ENCODING) {
        /* the upstream answered, but with a body over the cap or undecodable: not retried and not
         * an availability failure (M18 lists what is) */
        set_attempt(a, AT_FATAL, "server_error", false);
    } else if (is_local_fault(cc)) {
        set_attempt(a, AT_FATAL, "connect_error", false);
    } else {
        set_attempt(a, AT_RETRY, "connect_error", true); /* connect/DNS/TLS/reset/partial transfer */
    }
}

/* One transfer with its timeouts cut to `remaining` ms; the body lands in c->body. */
/* Attempts made by the calling thread (access-log field `upstream_calls`): per thread because a
 * request's work runs on one worker thread; read with nexon_thread_calls(). */
static _Thread_local unsigned long thread_calls;

unsigned long nexon_thread_calls(void) { return thread_calls; }

static void run_attempt(call_t *c, int64_t remaining, long attempt_ms, attempt_t *a)
{
    thread_calls++;
    nexon_t *n = c->n;
    CURL *h = c->h;
    remaining = max64(remaining, 1);
    buf_reset(&c->body);
    c->body_over = false;
    c->retry_after_ms = -1;
    curl_easy_reset(h); /* keeps the live connections of the handle */
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)min64(n->o.connect_ms, remaining));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)min64(attempt_ms, remaining));
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    if (c->ep == EP_LIST) {
        /* Login is one attempt (3.2): on a reused connection that turns out dead, libcurl would
         * silently resend the request; a fresh connection makes it exactly one call. */
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }

    int64_t t0 = clock_mono_us();
    CURLcode cc = curl_easy_perform(h);
    mfam_observe(n->m_duration, MX_LV(EP_LABEL[c->ep]), (double)(clock_mono_us() - t0) / 1e6);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    classify(c, cc, status, a);
    mfam_add(n->m_requests, MX_LV(EP_LABEL[c->ep], a->outcome), 1);
}

/* ---- call set-up --------------------------------------------------------------------------- */

/* A key goes into a header line: refuse anything that could break out of it. */
static bool key_is_header_safe(const char *key)
{
    if (!key || !*key || strlen(key) > 512)
        return false;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static struct curl_slist *make_headers(const char *key)
{
    buf_t line;
    buf_init(&line, 1024);
    buf_puts(&line, "x-nxopen-api-key: ");
    buf_puts(&line, key);
    struct curl_slist *h = NULL;
    if (buf_ok(&line) && line.data) {
        h = curl_slist_append(NULL, line.data);
        explicit_bzero(line.data, line.len);
    }
    buf_dispose(&line);
    if (h) {
        struct curl_slist *h2 = curl_slist_append(h, "Accept: application/json");
        if (!h2) {
            explicit_bzero(h->data, strlen(h->data));
            curl_slist_free_all(h);
        }
        h = h2;
    }
    return h;
}

static void free_headers(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data)); /* the key line */
    curl_slist_free_all(h);
}

static char *make_url(CURL *h, const char *base, endpoint_t ep, const char *qname, const char *qval)
{
    buf_t url;
    buf_init(&url, URL_MAX);
    buf_puts(&url, base);
    buf_puts(&url, EP_PATH[ep]);
    if (qname) {
        char *esc = curl_easy_escape(h, qval ? qval : "", 0);
        if (!esc) {
            buf_dispose(&url);
            return NULL;
        }
        buf_printf(&url, "?%s=%s", qname, esc);
        curl_free(esc);
    }
    size_t len;
    char *s = buf_ok(&url) ? buf_steal(&url, &len) : NULL;
    buf_dispose(&url);
    return s;
}

static bool call_begin(call_t *c, nexon_t *n, endpoint_t ep, const char *key, const char *qname,
                       const char *qval, int64_t deadline)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->ep = ep;
    c->deadline = deadline;
    buf_init(&c->body, n->o.max_body);
    c->h = handle_get(n);
    if (!c->h)
        return false;
    c->url = make_url(c->h, n->base_url, ep, qname, qval);
    c->hdrs = make_headers(key);
    return c->url && c->hdrs;
}

static void call_end(call_t *c)
{
    handle_put(c->n, c->h);
    free(c->url);
    free_headers(c->hdrs);
    buf_dispose(&c->body);
}

static void short_circuit(nexon_t *n, const char *reason)
{
    mfam_add(n->m_short, MX_LV(reason), 1);
}

/* Hands the body to the caller's buffer (which has its own cap); out == NULL discards it. */
static up_rc_t deliver(call_t *c, buf_t *out)
{
    if (!out)
        return UP_OK;
    if (c->body.len > 0)
        buf_append(out, c->body.data, c->body.len);
    return buf_ok(out) ? UP_OK : UP_FAILED;
}

/* ---- server-key calls ---------------------------------------------------------------------- */

static up_rc_t terminal_rc(attempt_class_t cls)
{
    switch (cls) {
    case AT_OK: return UP_OK;
    case AT_NOT_FOUND: return UP_NOT_FOUND;
    case AT_KEY_REJECTED: return UP_KEY_REJECTED;
    case AT_TIMEOUT: return UP_TIMEOUT;
    default: return UP_FAILED;
    }
}

/* Before a retry: checks that the back-off plus a worst-case attempt fits the deadline and takes
 * the retry budget; then waits out the back-off. false = no retry. */
static bool may_retry(call_t *c, const attempt_t *last)
{
    nexon_t *n = c->n;
    int64_t worst = n->o.connect_ms + n->o.response_ms;
    int64_t wait = last->retry_after_ms >= 0 ? last->retry_after_ms : jitter_ms(n, n->o.retry_wait_ms);
    if (clock_mono_ms() + wait + worst > c->deadline)
        return false; /* the retry (or the Retry-After it must honour) cannot finish in time */
    if (!budget_take_retry(n)) {
        mfam_add(n->m_retries, MX_LV(EP_LABEL[c->ep], "denied_budget"), 1);
        return false;
    }
    mfam_add(n->m_retries, MX_LV(EP_LABEL[c->ep], "attempted"), 1);
    sleep_ms(wait);
    return true;
}

static up_rc_t server_attempts(call_t *c)
{
    nexon_t *n = c->n;
    int64_t worst = n->o.connect_ms + n->o.response_ms;
    attempt_t last = {.cls = AT_RETRY};
    for (int i = 0; i < n->o.max_attempts; i++) {
        bool first = i == 0;
        if (!first && !may_retry(c, &last))
            break;
        int64_t need = first ? 1 : worst;
        int64_t sec = rate_take(n, c->deadline, need);
        if (sec < 0) {
            short_circuit(n, "rate_cap");
            if (first)
                return UP_OVERLOAD;
            break;
        }
        int64_t remaining = c->deadline - clock_mono_ms();
        if (remaining < need) { /* the back-off or the rate wait used up the time */
            rate_refund(n, sec);
            if (first)
                return UP_TIMEOUT;
            break;
        }
        if (!breaker_allow(n->api)) {
            rate_refund(n, sec);
            short_circuit(n, "breaker_open");
            if (first)
                return UP_BREAKER_OPEN;
            break;
        }
        if (first)
            budget_note_first(n);
        run_attempt(c, remaining, (long)worst, &last);
        breaker_record(n->api, !last.breaker_failure);
        if (last.cls != AT_RETRY && last.cls != AT_TIMEOUT)
            return terminal_rc(last.cls);
    }
    return last.cls == AT_TIMEOUT ? UP_TIMEOUT : UP_FAILED;
}

/* Deadline, breaker peek and concurrency slot, then the attempts; the body is left in c->body. */
static up_rc_t server_get(nexon_t *n, endpoint_t ep, const char *qname, const char *qval, int64_t deadline_ms,
                          call_t *c)
{
    int64_t start = clock_mono_ms();
    int64_t deadline = min64(deadline_ms, start + n->o.total_ms);
    memset(c, 0, sizeof *c); /* call_end is safe on a call that never began */
    c->n = n;
    if (deadline <= start)
        return UP_TIMEOUT;
    /* An open breaker answers at once instead of queueing for a slot (allow() decides later). */
    if (breaker_state(n->api) == BREAKER_OPEN) {
        short_circuit(n, "breaker_open");
        return UP_BREAKER_OPEN;
    }
    if (!slot_acquire(n, min64(start + n->o.slot_wait_ms, deadline))) {
        short_circuit(n, "concurrency");
        return UP_OVERLOAD;
    }
    up_rc_t rc = call_begin(c, n, ep, n->api_key, qname, qval, deadline) ? server_attempts(c) : UP_FAILED;
    slot_release(n);
    return rc;
}

up_rc_t nexon_get_ocid(nexon_t *n, const char *ign, int64_t deadline_ms, char *ocid, size_t cap)
{
    if (!key_is_header_safe(n->api_key))
        return UP_KEY_REJECTED;
    call_t c;
    up_rc_t rc = server_get(n, EP_ID, "character_name", ign, deadline_ms, &c);
    if (rc == UP_OK) {
        rc = UP_FAILED; /* unless the body holds a usable ocid */
        cJSON *root = cJSON_ParseWithLength(c.body.data ? c.body.data : "", c.body.len);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "ocid");
        if (cJSON_IsString(id) && id->valuestring[0] && ocid && strlen(id->valuestring) < cap) {
            memcpy(ocid, id->valuestring, strlen(id->valuestring) + 1);
            rc = UP_OK;
        }
        cJSON_Delete(root);
    }
    call_end(&c);
    return rc;
}

static up_rc_t get_by_ocid(nexon_t *n, endpoint_t ep, const char *ocid, int64_t deadline_ms, buf_t *out)
{
    if (!key_is_header_safe(n->api_key))
        return UP_KEY_REJECTED;
    call_t c;
    up_rc_t rc = server_get(n, ep, "ocid", ocid, deadline_ms, &c);
    if (rc == UP_OK)
        rc = deliver(&c, out);
    call_end(&c);
    return rc;
}

up_rc_t nexon_get_basic(nexon_t *n, const char *ocid, int64_t deadline_ms, buf_t *out)
{
    return get_by_ocid(n, EP_BASIC, ocid, deadline_ms, out);
}

up_rc_t nexon_get_equipment(nexon_t *n, const char *ocid, int64_t deadline_ms, buf_t *out)
{
    return get_by_ocid(n, EP_EQUIPMENT, ocid, deadline_ms, out);
}

/* ---- user-key call ------------------------------------------------------------------------- */

up_rc_t nexon_get_character_list(nexon_t *n, const char *user_key, int64_t deadline_ms, buf_t *out)
{
    if (!key_is_header_safe(user_key))
        return UP_KEY_REJECTED; /* never sent: it could not be a valid key anyway */
    int64_t start = clock_mono_ms();
    int64_t deadline = min64(deadline_ms, start + LOGIN_TOTAL_MS);
    if (deadline <= start)
        return UP_TIMEOUT;
    if (!breaker_allow(n->auth)) {
        short_circuit(n, "breaker_open");
        return UP_BREAKER_OPEN;
    }
    call_t c;
    if (!call_begin(&c, n, EP_LIST, user_key, NULL, NULL, deadline)) {
        breaker_record(n->auth, true); /* local fault: release the probe without blaming the upstream */
        call_end(&c);
        return UP_FAILED;
    }
    attempt_t a;
    run_attempt(&c, deadline - clock_mono_ms(), LOGIN_TOTAL_MS, &a);
    /* nexonAuth counts 5xx, timeouts and connect errors; 429 and 4xx are about this user's key */
    breaker_record(n->auth, !(a.breaker_failure && a.status != 429));
    up_rc_t rc = terminal_rc(a.cls);
    if (rc == UP_OK)
        rc = deliver(&c, out);
    call_end(&c);
    return rc;
}
