/*
 * server.c - listener, worker loops, cross-thread posts and the request lifecycle (server.h).
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/jw.h"
#include "http/http_internal.h"
#include "ops/log.h"

struct post {
    void (*fn)(void *);
    void *arg;
    post_t *next;
};

/* ---- cross-thread posts ---------------------------------------------------------------- */

void http_worker_post(http_worker_t *w, void (*fn)(void *), void *arg)
{
    post_t *p = malloc(sizeof *p);
    if (!p) {
        /* Out of memory: running it here would touch evhttp off its thread; better to abort. */
        log_emit(LOG_ERROR, "http", "post", NULL, NULL, "out of memory posting to worker %d", w->index);
        abort();
    }
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = p;
    else
        w->head = p;
    w->tail = p;
    pthread_mutex_unlock(&w->mu);
    event_active(w->wake, EV_READ, 0);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_worker_t *w = arg;
    pthread_mutex_lock(&w->mu);
    post_t *p = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (p) {
        post_t *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_worker_t *w = arg;
    lc_tick_requests(w->srv->app->lc, clock_mono_ms());
}

uint64_t worker_rand(http_worker_t *w)
{
    uint64_t x = w->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 2685821657736338717ULL;
}

/* ---- request lifecycle ------------------------------------------------------------------ */

static void log_access(req_ctx_t *c, double secs)
{
    const config_t *cfg = c->srv->cfg;
    bool error = c->status >= 400, slow = secs >= 1.0;
    if (!error && !slow) {
        if (cfg->access_log_sample <= 0)
            return;
        if (cfg->access_log_sample < 1 && (double)(worker_rand(c->w) >> 11) / 9007199254740992.0 >= cfg->access_log_sample)
            return;
    }
    buf_t b;
    buf_init(&b, 8192);
    jw_t j;
    jw_init(&j, &b);
    jw_object_begin(&j);
    jw_key(&j, "method");
    jw_string(&j, c->method);
    jw_key(&j, "route");
    jw_string(&j, c->route ? c->route->tmpl : "unmatched");
    jw_key(&j, "path");
    jw_string(&j, c->path);
    jw_key(&j, "status");
    jw_int(&j, c->status);
    jw_key(&j, "code");
    jw_string(&j, c->code ? c->code : "");
    jw_key(&j, "duration_ms");
    jw_double(&j, (double)(int64_t)(secs * 1e6) / 1e3);
    jw_key(&j, "bytes_out");
    jw_int(&j, (int64_t)c->bytes_out);
    jw_key(&j, "encoding");
    jw_string(&j, c->encoding ? c->encoding : "identity");
    jw_key(&j, "client_ip");
    jw_string(&j, c->client_ip);
    char masked[32] = "anonymous";
    if (c->who.authenticated)
        auth_mask(c->who.fingerprint, masked, sizeof masked);
    jw_key(&j, "principal");
    jw_string(&j, masked);
    jw_key(&j, "cache");
    jw_string(&j, c->cache ? c->cache : "none");
    jw_key(&j, "upstream_calls");
    jw_int(&j, c->upstream_calls);
    jw_object_end(&j);
    /* log_emit wants the members without the braces. */
    const char *fields = NULL;
    if (buf_ok(&b) && b.len >= 2) {
        b.data[b.len - 1] = '\0';
        fields = b.data + 1;
    }
    log_emit(c->status >= 500 ? LOG_ERROR : error ? LOG_WARN : LOG_INFO, "http", "access", c->corr, fields, "%s %d",
             c->method, c->status);
    buf_dispose(&b);
}

void req_done(req_ctx_t *c)
{
    http_server_t *s = c->srv;
    double secs = (double)(clock_mono_us() - c->start_us) / 1e6;
    const char *route = c->route ? c->route->tmpl : "unmatched";
    char status[8];
    snprintf(status, sizeof status, "%d", c->status);
    mfam_observe(s->m_req_seconds, MX_LV(c->method, route, status, c->code ? c->code : ""), secs);
    mfam_observe(s->m_resp_bytes, MX_LV(route, c->encoding ? c->encoding : "identity"), (double)c->bytes_out);
    log_access(c, secs);
    atomic_fetch_sub(&s->inflight, 1);
    if (c->limited)
        atomic_fetch_sub(&s->inflight_limited, 1);
    mfam_set(s->m_in_flight, NULL, (double)atomic_load(&s->inflight));
    if (c->result)
        cache_val_release(c->result);
    buf_dispose(&c->leader_body);
    buf_dispose(&c->out_body);
    free(c->in_body);
    free(c->in_authorization);
    free(c->in_idempotency_key);
    free(c->in_query);
    principal_clear(&c->who);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    req_ctx_t *c = arg;
    c->req = NULL; /* evhttp frees the request with the connection: never touch it again */
}

void req_go_async(req_ctx_t *c)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, on_conn_close, c);
}

/* ---- workers ---------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    http_worker_t *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static int setup_worker(http_server_t *s, http_worker_t *w, int index)
{
    w->srv = s;
    w->index = index;
    pthread_mutex_init(&w->mu, NULL);
    if (getrandom(&w->rng, sizeof w->rng, 0) != sizeof w->rng || w->rng == 0)
        w->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)clock_mono_us() ^ (uint64_t)index;
    w->base = event_base_new();
    w->http = w->base ? evhttp_new(w->base) : NULL;
    if (!w->http)
        return -1;
    const config_t *cfg = s->cfg;
    evhttp_set_max_body_size(w->http, 1 << 20); /* M9: 256 KiB-1 MiB answered 413 C008 by us */
    evhttp_set_max_headers_size(w->http, cfg->http_max_header_bytes);
    evhttp_set_timeout(w->http, cfg->http_timeout_s);
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_HEAD);
    evhttp_set_default_content_type(w->http, "application/json; charset=utf-8");
    evhttp_set_gencb(w->http, router_dispatch, w);
    w->bound = evhttp_accept_socket_with_handle(w->http, s->listen_fd);
    w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, w);
    w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    if (!w->bound || !w->wake || !w->tick)
        return -1;
    struct timeval one = {1, 0};
    event_add(w->tick, &one);
    return 0;
}

static int listen_socket(const config_t *cfg, int *port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", cfg->http_port);
    if (getaddrinfo(cfg->http_host, portstr, &hints, &res) != 0 || !res) {
        snprintf(err, errlen, "HTTP_HOST: '%s' is not a numeric address", cfg->http_host);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Inherited by accepted sockets on Linux: without it a response written in two parts
         * (headers, body) waits for the client's delayed ACK, 40 ms per request. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "HTTP_PORT: cannot listen on %s:%d: %s", cfg->http_host, cfg->http_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/* The items of a list setting split at any of seps, blanks around each dropped, empty items
 * skipped: a malloc'd array of malloc'd strings (*n of them). false when out of memory. */
static bool split_list(const char *list, const char *seps, char ***items, size_t *n)
{
    *items = NULL;
    *n = 0;
    char *copy = strdup(list ? list : ""), *save = NULL;
    size_t cap = 0;
    bool ok = copy != NULL;
    for (char *t = copy ? strtok_r(copy, seps, &save) : NULL; ok && t; t = strtok_r(NULL, seps, &save)) {
        t += strspn(t, " \t");
        size_t len = strlen(t);
        while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
            t[--len] = '\0';
        if (!len)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = realloc(*items, cap * sizeof *grown);
            ok = grown != NULL;
            if (ok)
                *items = grown;
        }
        if (ok && !((*items)[*n] = strdup(t)))
            ok = false;
        else if (ok)
            (*n)++;
    }
    free(copy);
    return ok;
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static void declare_metrics(http_server_t *s, metrics_t *m)
{
    s->m_req_seconds = metrics_histogram(m, "http_server_requests_seconds", "HTTP request latency.",
                                         "method,route,status,code", METRICS_SECONDS_BUCKETS, 12);
    s->m_resp_bytes = metrics_histogram(m, "http_server_response_size_bytes", "HTTP response body bytes.",
                                        "route,encoding", METRICS_BYTES_BUCKETS, 7);
    s->m_in_flight = metrics_gauge(m, "http_server_requests_in_flight", "HTTP requests being served.", "");
    s->m_rejected = metrics_counter(m, "http_server_rejected_total", "HTTP requests refused before work.", "reason");
    s->m_view_reads = metrics_counter(m, "expectation_view_reads_total", "V5 read-model lookups.", "result");
    s->m_ratelimit = metrics_counter(m, "ratelimit_decisions_total", "Rate-limit decisions (SC-08).", "scope,result,mode");
    s->m_login = metrics_counter(m, "auth_login_total", "Login outcomes (E11).", "result");
    s->m_refresh = metrics_counter(m, "auth_refresh_total", "Refresh outcomes (E12).", "result");
    s->m_sessions = metrics_counter(m, "auth_session_lookups_total", "Session lookups (SC-25).", "source,result");
    s->m_likes = metrics_counter(m, "like_operations_total", "Like and unlike outcomes (E07, E08).", "op,result");
    s->m_donations = metrics_counter(m, "donation_requests_total", "Donation outcomes (E15).", "result");
    s->m_points = metrics_counter(m, "donation_points_transferred_total", "Points moved by donations.", "");
    s->m_dlq_actions = metrics_counter(m, "dlq_admin_actions_total", "DLQ admin actions.", "queue,action");
    s->m_popularity = metrics_counter(m, "popularity_increments_total", "Daily popularity increments (SC-24).", "result");
    s->m_enqueue = metrics_counter(m, "calc_enqueue_total", "V5 enqueue attempts.", "priority,result");
}

/* Bootstrap admins, keys, the `http` pool and the session/admin caches (issue 4). */
static bool setup_accounts(http_server_t *s, char *err, size_t errlen)
{
    const config_t *cfg = s->cfg;
    if (!split_list(cfg->admin_fingerprints, ", ", &s->bootstrap_admins, &s->n_bootstrap_admins))
        return false;
    for (size_t i = 0; i < s->n_bootstrap_admins; i++)
        if (!valid_fingerprint(s->bootstrap_admins[i])) {
            snprintf(err, errlen, "ADMIN_FINGERPRINTS: '%.8s...' is not a 43-character fingerprint", s->bootstrap_admins[i]);
            return false;
        }
    s->jwt = calloc(1, sizeof *s->jwt);
    if (!s->jwt || jwt_keyring_add(s->jwt, s->app->jwt_secret) != 0) {
        snprintf(err, errlen, "JWT_SECRET: cannot set up the signing key");
        return false;
    }
    snprintf(s->fingerprint_secret, sizeof s->fingerprint_secret, "%s", s->app->fingerprint_secret);
    cache_def_t sess = {"session", 30, 100000, (size_t)cfg->cache_l1_max_bytes, 0};
    cache_def_t adm = {"admins", 30, 1, (size_t)cfg->cache_l1_max_bytes, 0};
    s->c_session = l1_new(&sess, s->app->metrics);
    s->c_admins = l1_new(&adm, s->app->metrics);
    s->pool = pool_new("http", 8, 200, s->app->metrics);
    return s->c_session && s->c_admins && s->pool;
}

http_server_t *http_server_new(app_t *app, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT; /* libevent's lock setup is process-wide by design */
    pthread_once(&once, (void (*)(void))evthread_use_pthreads);
    http_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->app = app;
    s->cfg = app->cfg;
    s->listen_fd = -1;
    if (!cidr_parse_list(s->cfg->metrics_allowed_cidrs, s->metrics_cidrs, MAX_CIDRS, &s->n_metrics_cidrs, err, errlen) ||
        !cidr_parse_list(s->cfg->trusted_proxies, s->proxies, MAX_CIDRS, &s->n_proxies, err, errlen) ||
        !split_list(s->cfg->cors_allowed_origins, ",", &s->origins, &s->n_origins)) {
        http_server_free(s);
        return NULL;
    }
    declare_metrics(s, app->metrics);
    s->sf_character = sf_new("characterV1", app->metrics);
    if (!setup_accounts(s, err, errlen)) {
        http_server_free(s);
        return NULL;
    }
    s->listen_fd = listen_socket(s->cfg, &s->port, err, errlen);
    if (s->listen_fd < 0) {
        http_server_free(s);
        return NULL;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->nworkers = s->cfg->http_threads > 0 ? s->cfg->http_threads : (int)(ncpu > 0 ? ncpu : 1);
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    for (int i = 0; s->workers && i < s->nworkers; i++)
        if (setup_worker(s, &s->workers[i], i) != 0) {
            snprintf(err, errlen, "cannot set up HTTP worker %d", i);
            http_server_free(s);
            return NULL;
        }
    return s;
}

int http_server_port(const http_server_t *s) { return s->port; }

int http_server_start(http_server_t *s)
{
    for (int i = 0; i < s->nworkers; i++)
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
            return -1;
    return 0;
}

static void close_bound(void *arg)
{
    http_worker_t *w = arg;
    if (w->bound) {
        evhttp_del_accept_socket(w->http, w->bound); /* frees the listener, not the shared fd */
        w->bound = NULL;
    }
}

void http_server_close_listener(http_server_t *s)
{
    atomic_store(&s->listener_closed, true);
    for (int i = 0; i < s->nworkers; i++)
        http_worker_post(&s->workers[i], close_bound, &s->workers[i]);
}

size_t http_server_inflight(http_server_t *s) { return (size_t)atomic_load(&s->inflight); }

static void exit_loop(void *arg)
{
    http_worker_t *w = arg;
    event_base_loopexit(w->base, NULL);
}

size_t http_server_busy(http_server_t *s) { return s->pool ? pool_busy(s->pool) : 0; }

void http_server_stop(http_server_t *s)
{
    /* Handler bodies still queued run (or expire) now; their answers are posted to the loops,
     * which are still running, so every accepted request ends exactly once. */
    if (s->pool) {
        pool_free(s->pool);
        s->pool = NULL;
    }
    for (int i = 0; i < s->nworkers; i++) {
        http_worker_post(&s->workers[i], exit_loop, &s->workers[i]);
        pthread_join(s->workers[i].thread, NULL);
        s->workers[i].thread = 0;
    }
}

void http_server_free(http_server_t *s)
{
    if (!s)
        return;
    for (int i = 0; s->workers && i < s->nworkers; i++) {
        http_worker_t *w = &s->workers[i];
        on_wake(-1, 0, w); /* run anything still posted (frees contexts) */
        if (w->http)
            evhttp_free(w->http);
        if (w->wake)
            event_free(w->wake);
        if (w->tick)
            event_free(w->tick);
        if (w->base)
            event_base_free(w->base);
        pthread_mutex_destroy(&w->mu);
    }
    free(s->workers);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free_list(s->origins, s->n_origins);
    if (s->sf_character)
        sf_free(s->sf_character);
    if (s->c_session)
        l1_free(s->c_session);
    if (s->c_admins)
        l1_free(s->c_admins);
    free_list(s->bootstrap_admins, s->n_bootstrap_admins);
    if (s->jwt) {
        jwt_keyring_wipe(s->jwt);
        free(s->jwt);
    }
    free(s);
}
