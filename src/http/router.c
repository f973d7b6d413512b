/*
 * router.c - request entry point: context, correlation id, client address, CORS, exact-path
 * routing with 404/405, admission, body rules and path-parameter validation (1.1), then the
 * handler. Nothing framework-level may surface as a 500 (1.1 Routing).
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/utf8.h"
#include "http/http_internal.h"

#define IGN_MAX_CHARS 30
#define MAX_SEGMENTS 12

/* Exact paths, matched in order: /api/admin/dlq/v2 and /count come before /api/admin/dlq/{id} (1.4). */
static const route_t ROUTES[] = {
    {"GET", "/api/v1/characters/{userIgn}", h_v1_character, false, false, AUTH_PUBLIC, 30000},
    {"GET", "/api/v4/characters/{userIgn}/expectation", h_v4_expectation, false, false, AUTH_PUBLIC, 30000},
    {"GET", "/api/v4/characters/{userIgn}/expectation/preset/{presetNo}", h_v4_preset, false, false, AUTH_PUBLIC, 30000},
    {"POST", "/api/v4/characters/{userIgn}/expectation/recalculate", h_v4_recalculate, false, true, AUTH_PUBLIC, 30000},
    {"GET", "/api/v5/characters/{userIgn}/expectation", h_v5_expectation, false, false, AUTH_USER, 0},
    {"POST", "/api/v5/characters/{userIgn}/expectation/recalculate", h_v5_recalculate, false, true, AUTH_USER, 0},
    {"POST", "/api/v2/characters/{userIgn}/like", h_like, false, true, AUTH_USER, 0},
    {"DELETE", "/api/v2/characters/{userIgn}/like", h_unlike, false, true, AUTH_USER, 0},
    {"GET", "/api/v2/characters/{userIgn}/like/status", h_like_status, false, false, AUTH_OPTIONAL, 0},
    {"GET", "/api/v2/characters/{userIgn}/like/count", h_like_count, false, false, AUTH_PUBLIC, 0},
    {"POST", "/auth/login", h_login, false, true, AUTH_PUBLIC, 15000},
    {"POST", "/auth/refresh", h_refresh, false, true, AUTH_PUBLIC, 0},
    {"DELETE", "/auth/logout", h_logout, false, true, AUTH_USER, 0},
    {"GET", "/auth/me", h_me, false, false, AUTH_USER, 0},
    {"POST", "/api/v2/donation/coffee", h_donation, false, true, AUTH_USER, 0},
    {"GET", "/api/admin/admins", h_admins_list, false, false, AUTH_ADMIN, 0},
    {"POST", "/api/admin/admins", h_admins_add, false, true, AUTH_ADMIN, 0},
    {"DELETE", "/api/admin/admins/{fingerprint}", h_admins_remove, false, true, AUTH_ADMIN, 0},
    {"GET", "/api/admin/dlq", h_dlq_page, false, false, AUTH_ADMIN, 0},
    {"GET", "/api/admin/dlq/v2", h_dlq_cursor, false, false, AUTH_ADMIN, 0},
    {"GET", "/api/admin/dlq/count", h_dlq_count, false, false, AUTH_ADMIN, 0},
    {"GET", "/api/admin/dlq/{id}", h_dlq_get, false, false, AUTH_ADMIN, 0},
    {"POST", "/api/admin/dlq/{id}/reprocess", h_dlq_reprocess, false, true, AUTH_ADMIN, 0},
    {"DELETE", "/api/admin/dlq/{id}", h_dlq_discard, false, true, AUTH_ADMIN, 0},
    {"POST", "/api/admin/test/alert", h_test_alert, false, true, AUTH_ADMIN, 0},
    {"GET", "/actuator/health", h_health, true, false, AUTH_PUBLIC, 0},
    {"GET", "/actuator/health/liveness", h_liveness, true, false, AUTH_PUBLIC, 0},
    {"GET", "/actuator/health/readiness", h_readiness, true, false, AUTH_PUBLIC, 0},
    {"GET", "/actuator/info", h_info, true, false, AUTH_PUBLIC, 0},
    {"GET", "/actuator/prometheus", h_prometheus, true, false, AUTH_PUBLIC, 0},
    {"GET", "/metrics", h_prometheus, true, false, AUTH_PUBLIC, 0},
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_HEAD: return "HEAD";
    default: return "OTHER";
    }
}

/* ---- correlation id and client address ------------------------------------------------- */

static bool valid_correlation(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
            return false;
    return n >= 1 && n <= 64;
}

static void uuid4(http_worker_t *w, char out[37])
{
    uint64_t a = worker_rand(w), b = worker_rand(w);
    a = (a & ~0xF000ULL) | 0x4000ULL;                        /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* variant 10 */
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)((a >> 16) & 0xFFFF),
             (unsigned)(a & 0xFFFF), (unsigned)(b >> 48), (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

/* 1.11: X-Forwarded-For only from a trusted proxy; the right-most address that is not a proxy. */
static void client_address(req_ctx_t *c)
{
    char *peer = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (evcon)
        evhttp_connection_get_peer(evcon, &peer, &port);
    snprintf(c->client_ip, sizeof c->client_ip, "%s", peer ? peer : "");
    if (!peer || !cidr_match_any(c->srv->proxies, c->srv->n_proxies, peer))
        return;
    const char *xff = evhttp_find_header(evhttp_request_get_input_headers(c->req), "X-Forwarded-For");
    if (!xff)
        return;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", xff);
    for (char *end = copy + strlen(copy); end > copy;) {
        char *comma = end;
        while (comma > copy && comma[-1] != ',')
            comma--;
        char *t = comma;
        while (*t == ' ')
            t++;
        char *e = end;
        while (e > t && e[-1] == ' ')
            e--;
        *e = '\0';
        if (*t && !cidr_match_any(c->srv->proxies, c->srv->n_proxies, t)) {
            snprintf(c->client_ip, sizeof c->client_ip, "%.63s", t);
            return;
        }
        end = comma > copy ? comma - 1 : copy;
    }
}

static bool accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", ae);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ' || *t == '\t')
            t++;
        size_t n = strcspn(t, "; \t");
        if (n != 4 || strncasecmp(t, "gzip", 4) != 0)
            continue;
        const char *q = strstr(t, "q=");
        if (q && strtod(q + 2, NULL) <= 0)
            return false;
        return true;
    }
    return false;
}

/* ---- path parameters ------------------------------------------------------------------- */

/* Valid UTF-8 without control characters; returns the number of code points or -1. */
static int utf8_chars(const unsigned char *s, size_t n)
{
    int count = 0;
    for (size_t i = 0; i < n; count++) {
        uint32_t cp = 0;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (!len || cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            return -1;
        i += len;
    }
    return count;
}

/* Percent-decode, trim and validate an IGN segment (1.1). Returns an error reason or NULL. */
static const char *decode_ign(const char *raw, size_t rawlen, char *out, size_t cap)
{
    char seg[512];
    if (rawlen >= sizeof seg)
        return "userIgn: too long";
    memcpy(seg, raw, rawlen);
    seg[rawlen] = '\0';
    size_t n = 0;
    char *dec = evhttp_uridecode(seg, 0, &n);
    if (!dec)
        return "userIgn: invalid encoding";
    if (memchr(dec, '\0', n)) {
        free(dec);
        return "userIgn: control characters are not allowed";
    }
    char *t = dec;
    while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
        t++;
    size_t len = strlen(t);
    while (len && (t[len - 1] == ' ' || t[len - 1] == '\t' || t[len - 1] == '\r' || t[len - 1] == '\n'))
        len--;
    int chars = utf8_chars((const unsigned char *)t, len);
    const char *why = NULL;
    if (len == 0)
        why = "userIgn: must not be blank";
    else if (chars < 0)
        why = "userIgn: invalid UTF-8 or control characters";
    else if (chars > IGN_MAX_CHARS || len >= cap)
        why = "userIgn: at most 30 characters";
    if (!why) {
        memcpy(out, t, len);
        out[len] = '\0';
    }
    free(dec);
    return why;
}

/* ---- routing --------------------------------------------------------------------------- */

typedef struct {
    const char *p[MAX_SEGMENTS];
    size_t n[MAX_SEGMENTS];
    int count;
    bool empty_segment;
} segments_t;

static void split_path(const char *path, segments_t *s)
{
    memset(s, 0, sizeof *s);
    const char *p = path;
    if (*p == '/')
        p++;
    if (!*p)
        return;
    while (s->count < MAX_SEGMENTS) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
            s->empty_segment = true;
        s->p[s->count] = p;
        s->n[s->count++] = n;
        if (!slash)
            return;
        p = slash + 1;
    }
    s->count = MAX_SEGMENTS + 1; /* too deep: matches nothing */
}

/* Does the template match the segments? Captures {userIgn} and {presetNo} raw segments. */
static bool template_match(const char *tmpl, const segments_t *s, int *ign_seg, int *preset_seg)
{
    /* {presetNo}, {fingerprint} and {id} all land in preset_seg: one route has at most one of them. */
    segments_t t;
    split_path(tmpl, &t);
    if (t.count != s->count)
        return false;
    for (int i = 0; i < t.count; i++) {
        if (t.p[i][0] == '{') {
            if (!strncmp(t.p[i], "{userIgn}", 9))
                *ign_seg = i;
            else
                *preset_seg = i;
            continue;
        }
        if (t.n[i] != s->n[i] || memcmp(t.p[i], s->p[i], t.n[i]) != 0)
            return false;

    }
    return true;
}

static void set_allow(req_ctx_t *c, const segments_t *s)
{
    char allow[64] = "";
    for (size_t i = 0; i < NROUTES; i++) {
        int a = -1, b = -1;
        if (template_match(ROUTES[i].tmpl, s, &a, &b) && !strstr(allow, ROUTES[i].method)) {
            if (*allow)
                strcat(allow, ", ");
            strcat(allow, ROUTES[i].method);
        }
    }
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow", allow);
}

static bool cors_preflight(req_ctx_t *c, const char *origin)
{
    if (!origin || !*origin) {
        respond_empty(c, 204, 0);
        return true;
    }
    if (!origin_allowed(c->srv, origin)) {
        respond_error(c, "A017", NULL, 0);
        return true;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    char age[16];
    snprintf(age, sizeof age, "%d", c->srv->cfg->cors_max_age_s);
    evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    evhttp_add_header(h, "Access-Control-Allow-Headers",
                      "Authorization, Content-Type, X-Requested-With, Accept, Origin, Idempotency-Key, X-Correlation-ID");
    evhttp_add_header(h, "Access-Control-Max-Age", age);
    respond_empty(c, 204, 0);
    return true;
}

static bool body_rules(req_ctx_t *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t len = in ? evbuffer_get_length(in) : 0;
    if (len > (size_t)c->srv->cfg->max_body_bytes) {
        char lim[32];
        snprintf(lim, sizeof lim, "%d", c->srv->cfg->max_body_bytes);
        mfam_add(c->srv->m_rejected, MX_LV("body_too_large"), 1);
        respond_error(c, "C008", lim, 0);
        return false;
    }
    if (len == 0)
        return true;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        respond_error(c, "C009", NULL, 0);
        return false;
    }
    return true;
}

static bool bind_params(req_ctx_t *c, const segments_t *s, int ign_seg, int preset_seg)
{
    if (ign_seg >= 0) {
        const char *why = decode_ign(s->p[ign_seg], s->n[ign_seg], c->ign, sizeof c->ign);
        if (why) {
            respond_error(c, "C001", why, 0);
            return false;
        }
    }
    if (preset_seg >= 0 && strstr(c->route->tmpl, "{fingerprint}")) {
        if (s->n[preset_seg] >= sizeof c->param) {
            respond_error(c, "C001", "fingerprint: must be 43 Base64URL characters", 0);
            return false;
        }
        memcpy(c->param, s->p[preset_seg], s->n[preset_seg]);
        c->param[s->n[preset_seg]] = '\0';
        return true;
    }
    if (preset_seg >= 0 && strstr(c->route->tmpl, "{id}")) {
        char tmp[32] = "";
        char *end = NULL;
        if (s->n[preset_seg] > 0 && s->n[preset_seg] < 20)
            memcpy(tmp, s->p[preset_seg], s->n[preset_seg]);
        errno = 0;
        long long v = tmp[0] >= '1' && tmp[0] <= '9' ? strtoll(tmp, &end, 10) : 0;
        if (v <= 0 || !end || *end || errno == ERANGE) {
            respond_error(c, "C001", "id: must be a positive integer", 0);
            return false;
        }
        c->id_param = v;
        return true;
    }
    if (preset_seg >= 0) {
        char tmp[8] = "";
        if (s->n[preset_seg] == 1)
            tmp[0] = s->p[preset_seg][0];
        if (tmp[0] < '1' || tmp[0] > '3') {
            respond_error(c, "C001", "presetNo: must be 1, 2 or 3", 0);
            return false;
        }
        c->preset = tmp[0] - '0';
    }
    return true;
}

static req_ctx_t *new_context(struct evhttp_request *req, http_worker_t *w)
{
    req_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->req = req;
    c->w = w;
    c->srv = w->srv;
    c->start_us = clock_mono_us();
    c->deadline_ms = c->start_us / 1000 + 10000;
    c->rl_remaining = -1;
    c->method = method_name(evhttp_request_get_command(req));
    snprintf(c->path, sizeof c->path, "%s", evhttp_request_get_uri(req));
    buf_init(&c->leader_body, 64u << 20);
    const char *cid = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Correlation-ID");
    if (cid && valid_correlation(cid))
        snprintf(c->corr, sizeof c->corr, "%s", cid);
    else
        uuid4(w, c->corr);
    atomic_fetch_add(&w->srv->inflight, 1);
    return c;
}

static const route_t *match_route(req_ctx_t *c, const segments_t *s, bool *known_path, int *ign_seg, int *preset_seg)
{
    bool head = !strcmp(c->method, "HEAD");
    *known_path = false;
    for (size_t i = 0; i < NROUTES; i++) {
        *ign_seg = *preset_seg = -1;
        if (!template_match(ROUTES[i].tmpl, s, ign_seg, preset_seg))
            continue;
        *known_path = true;
        if (!strcmp(ROUTES[i].method, c->method) || (head && !strcmp(ROUTES[i].method, "GET")))
            return &ROUTES[i];
    }
    return NULL;
}

void router_dispatch(struct evhttp_request *req, void *arg)
{
    http_worker_t *w = arg;
    req_ctx_t *c = new_context(req, w);
    if (!c) {
        evhttp_send_error(req, 503, "Service Unavailable");
        return;
    }
    client_address(c);
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    segments_t s;
    split_path(path ? path : "/", &s);
    if (!strcmp(c->method, "OPTIONS")) {
        cors_preflight(c, origin);
        req_done(c);
        return;
    }
    bool origin_blank = !origin || !*origin || strspn(origin, " \t") == strlen(origin);
    if (!origin_blank && !origin_allowed(c->srv, origin)) {
        respond_error(c, "A017", NULL, 0);
        req_done(c);
        return;
    }
    bool known = false;
    int ign_seg = -1, preset_seg = -1;
    c->route = match_route(c, &s, &known, &ign_seg, &preset_seg);
    if (!c->route) {
        if (s.empty_segment) {
            respond_error(c, "C001", "path: empty segment", 0);
        } else if (known) {
            set_allow(c, &s);
            respond_error(c, "C007", c->method, 0);
        } else {
            respond_error(c, "C006", path ? path : "/", 0);
        }
        req_done(c);
        return;
    }
    if (!c->route->actuator) {
        c->limited = true;
        long n = atomic_fetch_add(&c->srv->inflight_limited, 1) + 1;
        if (n > c->srv->cfg->max_inflight_requests) {
            mfam_add(c->srv->m_rejected, MX_LV("overload"), 1);
            respond_error(c, "S007", NULL, 30);
            req_done(c);
            return;
        }
    }
    mfam_set(c->srv->m_in_flight, NULL, (double)atomic_load(&c->srv->inflight));
    if (c->route->deadline_ms)
        c->deadline_ms = c->start_us / 1000 + c->route->deadline_ms;
    if (!c->route->actuator && !rate_limit(c)) {
        req_done(c);
        return;
    }
    if ((c->route->has_body && !body_rules(c)) || !bind_params(c, &s, ign_seg, preset_seg)) {
        req_done(c);
        return;
    }
    c->accept_gzip = accepts_gzip(evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding"));
    c->route->handler(c); /* the handler answers now (and calls req_done) or goes async */
}
