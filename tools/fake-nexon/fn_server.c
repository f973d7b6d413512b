/*
 * fn_server.c - routing, the four Nexon endpoints, the body cache and delayed requests of the
 * fake Nexon server (see fn_server.h; the /admin API lives in fn_admin.c).
 *
 * Bodies: item-equipment and basic bodies go through an LRU cache of FN_CACHE_ENTRIES entries.
 * An entry is reference-counted: the cache holds one reference and every response in flight
 * holds one (evbuffer_add_reference), so eviction never frees bytes libevent is still sending
 * and a hit costs no copy. The gzip form is computed once per entry, on first demand.
 *
 * Faults: latency is a per-request timer (event_new + evtimer_add), never a blocking wait, so
 * delayed requests overlap. "close" drops the connection from a timer callback (even with no
 * latency), outside libevent's own request-handling stack, so freeing the connection there is
 * safe. libevent stops reading a connection while its request is with us, so a delayed request
 * keeps its connection until we answer or close it.
 */
#include "fn_server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#include "base/gz.h"
#include "base/jw.h"

#define SMALL_BODY_CAP (1u << 20)     /* /id, basic, list and error bodies */
#define LIST_BODY_CAP (64u << 20)     /* a user key may own 100 x 1000 characters */
#define MAX_BODY_BYTES (4u << 20)     /* admin request bodies */
#define MAX_HEADER_BYTES (64u << 10)
#define GZIP_LEVEL 6
#define COUNTER_ARG_MAX 256           /* bytes of an ocid/IGN/key kept in a counter name */

static const char *const NX_PATHS[NX__COUNT] = {
    "/maplestory/v1/id",
    "/maplestory/v1/character/basic",
    "/maplestory/v1/character/item-equipment",
    "/maplestory/v1/character/list",
};

const char *fn_nx_path(nx_endpoint_t ep) { return ep < NX__COUNT ? NX_PATHS[ep] : "*"; }

/* ---- replies ------------------------------------------------------------------------ */

/* True when Accept-Encoding lists gzip (or x-gzip) without q=0. */
static bool accepts_gzip(struct evhttp_request *req)
{
    const char *ae = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding");
    while (ae && *ae) {
        while (*ae == ' ' || *ae == '\t' || *ae == ',')
            ae++;
        size_t n = strcspn(ae, ",;");
        size_t name_len = n;
        while (name_len > 0 && (ae[name_len - 1] == ' ' || ae[name_len - 1] == '\t'))
            name_len--;
        bool gzip = (name_len == 4 && strncasecmp(ae, "gzip", 4) == 0) ||
                    (name_len == 6 && strncasecmp(ae, "x-gzip", 6) == 0);
        const char *end = ae + strcspn(ae, ",");
        const char *q = ae[n] == ';' ? strstr(ae + n, "q=") : NULL;
        if (gzip)
            return !(q && q < end && strtod(q + 2, NULL) <= 0.0);
        ae = end;
    }
    return false;
}

static void set_headers(struct evhttp_request *req, bool gzip)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
    evhttp_add_header(h, "Vary", "Accept-Encoding");
    if (gzip)
        evhttp_add_header(h, "Content-Encoding", "gzip");
}

/* Sends out (NULL: no body) with the JSON headers, then frees it. */
static void send_json(struct evhttp_request *req, int status, bool gzip, struct evbuffer *out)
{
    set_headers(req, gzip);
    evhttp_send_reply(req, status, NULL, out);
    if (out)
        evbuffer_free(out);
}

static void reply_internal_error(struct evhttp_request *req)
{
    static const char body[] = "{\"error\":{\"name\":\"OPENAPI00001\",\"message\":\"Internal server error\"}}";
    struct evbuffer *out = evbuffer_new();
    if (out)
        evbuffer_add(out, body, sizeof body - 1);
    send_json(req, 500, false, out);
}

/* The gzip form of body (malloc'd, *gz_len bytes), or NULL when it cannot be made. */
static char *gzip_of(const char *body, size_t len, size_t *gz_len)
{
    buf_t packed;
    buf_init(&packed, len + (64u << 10));
    char *gz = gz_deflate(body, len, GZIP_LEVEL, &packed) == 0 ? buf_steal(&packed, gz_len) : NULL;
    buf_dispose(&packed);
    return gz;
}

void fn_reply_json(struct evhttp_request *req, int status, const char *body, size_t len)
{
    size_t gz_len = 0;
    char *gz = accepts_gzip(req) ? gzip_of(body, len, &gz_len) : NULL;
    struct evbuffer *out = evbuffer_new();
    if (!out || evbuffer_add(out, gz ? gz : body, gz ? gz_len : len) != 0) {
        if (out)
            evbuffer_free(out);
        free(gz);
        reply_internal_error(req);
        return;
    }
    send_json(req, status, gz != NULL, out);
    free(gz);
}

static void reply_buf(struct evhttp_request *req, int status, buf_t *body)
{
    if (!buf_ok(body))
        reply_internal_error(req);
    else
        fn_reply_json(req, status, buf_cstr(body), body->len);
}

void fn_reply_admin_error(struct evhttp_request *req, int status, const char *message)
{
    buf_t b;
    buf_init(&b, SMALL_BODY_CAP);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "error");
    jw_string(&w, message);
    jw_object_end(&w);
    reply_buf(req, status, &b);
    buf_dispose(&b);
}

/* The Nexon error document {"error":{"name","message"}}. */
static void reply_nexon_error(struct evhttp_request *req, int status, int retry_after)
{
    const char *name = "OPENAPI00001", *message = "Internal server error";
    switch (status) {
    case 400: name = "OPENAPI00004"; message = "Please input valid parameter"; break;
    case 401: name = "OPENAPI00005"; message = "Please input valid api key"; break;
    case 403: name = "OPENAPI00002"; message = "Forbidden"; break;
    case 404: name = "OPENAPI00006"; message = "Please input valid path"; break;
    case 429: name = "OPENAPI00007"; message = "Too many request"; break;
    case 503: name = "OPENAPI00011"; message = "API under maintenance"; break;
    default: break;
    }
    if (retry_after > 0 && (status == 429 || status == 503)) {
        char text[24];
        snprintf(text, sizeof text, "%d", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", text);
    }
    char body[160];
    int n = snprintf(body, sizeof body, "{\"error\":{\"name\":\"%s\",\"message\":\"%s\"}}", name, message);
    fn_reply_json(req, status, body, (size_t)n);
}

/* ---- body cache --------------------------------------------------------------------- */

typedef struct fn_cache_entry {
    char *key;
    char *body;
    size_t len;
    char *gz; /* NULL until first needed */
    size_t gz_len;
    int refs; /* the cache's own reference + responses in flight */
    struct fn_cache_entry *prev, *next;
} centry_t;

static void entry_release(centry_t *e)
{
    if (--e->refs > 0)
        return;
    free(e->key);
    free(e->body);
    free(e->gz);
    free(e);
}

static void entry_release_cb(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    entry_release(arg);
}

static void cache_unlink(fn_server_t *s, centry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->cache_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->cache_tail = e->prev;
    e->prev = e->next = NULL;
    s->cache_count--;
}

static void cache_push_front(fn_server_t *s, centry_t *e)
{
    e->prev = NULL;
    e->next = s->cache_head;
    if (s->cache_head)
        s->cache_head->prev = e;
    s->cache_head = e;
    if (!s->cache_tail)
        s->cache_tail = e;
    s->cache_count++;
}

static centry_t *cache_get(fn_server_t *s, const char *key)
{
    for (centry_t *e = s->cache_head; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            cache_unlink(s, e);
            cache_push_front(s, e);
            return e;
        }
    }
    return NULL;
}

/* Takes ownership of body (malloc'd). NULL when out of memory (body freed). */
static centry_t *cache_put(fn_server_t *s, const char *key, char *body, size_t len)
{
    centry_t *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        free(body);
        return NULL;
    }
    e->body = body;
    e->len = len;
    e->refs = 1;
    cache_push_front(s, e);
    while (s->cache_count > FN_CACHE_ENTRIES) {
        centry_t *old = s->cache_tail;
        cache_unlink(s, old);
        entry_release(old);
    }
    return e;
}

static void cache_clear(fn_server_t *s)
{
    while (s->cache_head) {
        centry_t *e = s->cache_head;
        cache_unlink(s, e);
        entry_release(e);
    }
}

/* Answer a cached body without copying it. */
static void reply_entry(struct evhttp_request *req, centry_t *e)
{
    bool gzip = accepts_gzip(req);
    if (gzip && !e->gz)
        e->gz = gzip_of(e->body, e->len, &e->gz_len);
    gzip = gzip && e->gz;
    struct evbuffer *out = evbuffer_new();
    e->refs++;
    if (!out || evbuffer_add_reference(out, gzip ? e->gz : e->body, gzip ? e->gz_len : e->len, entry_release_cb, e) != 0) {
        entry_release(e); /* on failure libevent does not call the cleanup */
        if (out)
            evbuffer_free(out);
        reply_internal_error(req);
        return;
    }
    send_json(req, 200, gzip, out);
}

/* ---- the Nexon endpoints ----------------------------------------------------------- */

static void serve_id(fn_server_t *s, struct evhttp_request *req, const char *name)
{
    fn_char_t c;
    if (!name || !fn_registry_by_name(s->reg, name, strlen(name), &c)) {
        reply_nexon_error(req, 400, 0);
        return;
    }
    if (fn_registry_remember(s->reg, &c) != 0)
        fprintf(stderr, "fake-nexon: cannot remember the ocid of %s (out of memory)\n", c.name);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"ocid\":\"%s\"}", c.ocid);
    fn_reply_json(req, 200, body, (size_t)n);
}

static void write_basic(jw_t *w, const fn_char_t *c)
{
    fn_profile_t p;
    fn_char_profile(c, &p);
    jw_object_begin(w);
    jw_key(w, "date");
    jw_null(w);
    jw_key(w, "character_name");
    jw_string(w, c->name);
    jw_key(w, "world_name");
    jw_string(w, p.world);
    jw_key(w, "character_gender");
    jw_string(w, c->gender);
    jw_key(w, "character_class");
    jw_string(w, c->cls);
    jw_key(w, "character_class_level");
    jw_string(w, "6");
    jw_key(w, "character_level");
    jw_int(w, p.level);
    jw_key(w, "character_exp");
    jw_int(w, p.exp);
    jw_key(w, "character_exp_rate");
    jw_string(w, p.exp_rate);
    jw_key(w, "character_guild_name");
    jw_string(w, p.guild);
    jw_key(w, "character_image");
    jw_string(w, p.image);
    jw_key(w, "character_date_create");
    jw_string(w, p.date_create);
    jw_key(w, "access_flag");
    jw_string(w, "true");
    jw_key(w, "liberation_quest_clear_flag");
    jw_string(w, p.liberated ? "true" : "false");
    jw_object_end(w);
}

/* A freshly built body (malloc'd, *len bytes), or NULL when it cannot be built. */
typedef char *(*body_builder_fn)(const fn_server_t *s, const fn_char_t *c, size_t *len);

static char *build_basic(const fn_server_t *s, const fn_char_t *c, size_t *len)
{
    (void)s;
    buf_t b;
    buf_init(&b, SMALL_BODY_CAP);
    jw_t w;
    jw_init(&w, &b);
    write_basic(&w, c);
    char *body = buf_ok(&b) ? buf_steal(&b, len) : NULL;
    buf_dispose(&b);
    return body;
}

static char *build_equipment(const fn_server_t *s, const fn_char_t *c, size_t *len)
{
    char *body = NULL;
    if (c->kind == FN_KIND_PAYLOAD) {
        char err[512];
        body = fn_read_file(c->payload_path, FN_PAYLOAD_MAX_BYTES, len, err, sizeof err);
        if (!body)
            fprintf(stderr, "fake-nexon: %s\n", err);
    } else {
        buf_t b;
        buf_init(&b, FN_PAYLOAD_MAX_BYTES);
        if (fn_gen_equipment(s->gen, c->name, c->cls, c->gender, &b) == 0)
            body = buf_steal(&b, len);
        buf_dispose(&b);
    }
    return body;
}

/* The body of character c cached under "<tag>:<name>", built on a miss; NULL when out of memory
 * or it cannot be built. */
static centry_t *cached_body(fn_server_t *s, char tag, const fn_char_t *c, body_builder_fn build)
{
    char key[FN_NAME_MAX + 8];
    snprintf(key, sizeof key, "%c:%s", tag, c->name);
    centry_t *e = cache_get(s, key);
    if (e)
        return e;
    size_t len = 0;
    char *body = build(s, c, &len);
    return body ? cache_put(s, key, body, len) : NULL;
}

static void serve_character(fn_server_t *s, struct evhttp_request *req, nx_endpoint_t ep, const char *ocid)
{
    fn_char_t c;
    if (!ocid || !fn_registry_by_ocid(s->reg, ocid, &c)) {
        reply_nexon_error(req, 400, 0);
        return;
    }
    centry_t *e = ep == NX_BASIC ? cached_body(s, 'B', &c, build_basic) : cached_body(s, 'E', &c, build_equipment);
    if (e)
        reply_entry(req, e);
    else
        reply_internal_error(req);
}

static void write_list_character(jw_t *w, const fn_registry_t *reg, const char *name)
{
    fn_char_t c;
    if (!fn_registry_by_name(reg, name, strlen(name), &c))
        return; /* validated when the user was added; cannot happen */
    fn_profile_t p;
    fn_char_profile(&c, &p);
    jw_object_begin(w);
    jw_key(w, "ocid");
    jw_string(w, c.ocid);
    jw_key(w, "character_name");
    jw_string(w, c.name);
    jw_key(w, "world_name");
    jw_string(w, p.world);
    jw_key(w, "character_class");
    jw_string(w, c.cls);
    jw_key(w, "character_level");
    jw_int(w, p.level);
    jw_object_end(w);
}

static void serve_list(fn_server_t *s, struct evhttp_request *req, const char *key)
{
    const fn_user_t *u = key ? fn_user_find(s, key) : NULL;
    if (!u) {
        reply_nexon_error(req, 401, 0);
        return;
    }
    buf_t b;
    buf_init(&b, LIST_BODY_CAP);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "account_list");
    jw_array_begin(&w);
    for (size_t a = 0; a < u->count; a++) {
        jw_object_begin(&w);
        jw_key(&w, "account_id");
        jw_string(&w, u->accounts[a].id);
        jw_key(&w, "character_list");
        jw_array_begin(&w);
        for (size_t i = 0; i < u->accounts[a].count; i++)
            write_list_character(&w, s->reg, u->accounts[a].names[i]);
        jw_array_end(&w);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    reply_buf(req, 200, &b);
    buf_dispose(&b);
}

static void serve(fn_server_t *s, struct evhttp_request *req, nx_endpoint_t ep, const char *arg, const char *key)
{
    if (ep == NX_LIST) {
        serve_list(s, req, key);
        return;
    }
    if (!key || strcmp(key, s->api_key) != 0) {
        reply_nexon_error(req, 401, 0);
        return;
    }
    if (ep == NX_ID)
        serve_id(s, req, arg);
    else
        serve_character(s, req, ep, arg);
}

/* ---- faults and delayed requests --------------------------------------------------- */

typedef enum { ACT_SERVE, ACT_FAIL, ACT_CLOSE } action_t;

typedef struct fn_pending {
    fn_server_t *srv;
    struct evhttp_request *req;
    struct event *timer;
    nx_endpoint_t ep;
    char *arg, *key;
    action_t action;
    int status, retry_after;
    struct fn_pending *prev, *next;
} pending_t;

/* Drop the connection without an answer. */
static void close_request(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_free(evcon); /* frees req with it */
    else
        evhttp_request_free(req); /* libevent already let go of the connection */
}

static void act(fn_server_t *s, struct evhttp_request *req, nx_endpoint_t ep, const char *arg, const char *key,
                action_t action, int status, int retry_after)
{
    if (action == ACT_CLOSE)
        close_request(req);
    else if (action == ACT_FAIL)
        reply_nexon_error(req, status, retry_after);
    else
        serve(s, req, ep, arg, key);
}

static void pending_unlink(fn_server_t *s, pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        s->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pending_free(pending_t *p)
{
    if (p->timer)
        event_free(p->timer);
    free(p->arg);
    free(p->key);
    free(p);
}

static void on_pending_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pending_t *p = arg;
    fn_server_t *s = p->srv;
    pending_unlink(s, p);
    act(s, p->req, p->ep, p->arg, p->key, p->action, p->status, p->retry_after);
    pending_free(p);
}

static bool defer_request(fn_server_t *s, struct evhttp_request *req, nx_endpoint_t ep, const char *arg,
                          const char *key, action_t action, const fn_fault_t *f)
{
    pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    p->srv = s;
    p->req = req;
    p->ep = ep;
    p->action = action;
    p->status = f->status;
    p->retry_after = f->retry_after;
    p->arg = arg ? strdup(arg) : NULL;
    p->key = key ? strdup(key) : NULL;
    p->timer = evtimer_new(s->base, on_pending_timer, p);
    struct timeval tv = {.tv_sec = f->latency_ms / 1000, .tv_usec = (f->latency_ms % 1000) * 1000};
    if ((arg && !p->arg) || (key && !p->key) || !p->timer || evtimer_add(p->timer, &tv) != 0) {
        pending_free(p);
        return false;
    }
    p->next = s->pending;
    if (s->pending)
        s->pending->prev = p;
    s->pending = p;
    return true;
}

static void nexon_request(fn_server_t *s, struct evhttp_request *req, nx_endpoint_t ep, const char *query)
{
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    bool parsed = query && evhttp_parse_query_str(query, &params) == 0;
    const char *arg = parsed ? evhttp_find_header(&params, ep == NX_ID ? "character_name" : "ocid") : NULL;
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(req), "x-nxopen-api-key");
    char counted[COUNTER_ARG_MAX + 1];
    const char *who = ep == NX_LIST ? key : arg;
    snprintf(counted, sizeof counted, "%s", who ? who : "");
    fn_calls_count(&s->calls, ep, counted);

    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        fn_reply_admin_error(req, 405, "the Nexon endpoints answer GET only");
        evhttp_clear_headers(&params);
        return;
    }
    fn_fault_t *f = fn_fault_for(s, ep);
    action_t action = ACT_SERVE;
    if (f && (f->status != 0 || f->close) && fn_rng_unit(&f->rng) < f->error_rate)
        action = f->close ? ACT_CLOSE : ACT_FAIL;
    if (f && (f->latency_ms > 0 || action == ACT_CLOSE)) {
        if (!defer_request(s, req, ep, arg, key, action, f))
            reply_internal_error(req);
    } else {
        act(s, req, ep, arg, key, action, f ? f->status : 0, f ? f->retry_after : 0);
    }
    evhttp_clear_headers(&params);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    fn_server_t *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path && strncmp(path, "/admin/", 7) == 0) {
        fn_admin_handle(s, req, path);
        return;
    }
    for (int ep = 0; path && ep < NX__COUNT; ep++) {
        if (strcmp(path, NX_PATHS[ep]) == 0) {
            nexon_request(s, req, (nx_endpoint_t)ep, evhttp_uri_get_query(uri));
            return;
        }
    }
    reply_nexon_error(req, 404, 0);
}

/* ---- life cycle --------------------------------------------------------------------- */

fn_server_t *fn_server_new(struct event_base *base, fn_registry_t *reg, const fn_gen_t *gen, const char *api_key,
                           char *err, size_t errlen)
{
    fn_server_t *s = calloc(1, sizeof *s);
    if (s) {
        s->base = base;
        s->reg = reg;
        s->gen = gen;
    }
    if (!s || !(s->api_key = strdup(api_key)) || !(s->http = evhttp_new(base)) || fn_users_init(s) != 0) {
        snprintf(err, errlen, "out of memory");
        fn_server_free(s);
        return NULL;
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_PUT);
    evhttp_set_max_body_size(s->http, MAX_BODY_BYTES);
    evhttp_set_max_headers_size(s->http, MAX_HEADER_BYTES);
    evhttp_set_gencb(s->http, on_request, s);
    return s;
}

int fn_server_listen(fn_server_t *s, const char *host, int port, char *err, size_t errlen)
{
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (!bound) {
        snprintf(err, errlen, "cannot listen on %s:%d", host, port);
        return -1;
    }
    /* Accepted sockets inherit TCP_NODELAY (Linux): without it a body's last partial segment
     * waits for the client's delayed ACK (Nagle), adding ~40 ms to a 20 KB gzip answer. */
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        snprintf(err, errlen, "getsockname failed");
        return -1;
    }
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

void fn_server_free(fn_server_t *s)
{
    if (!s)
        return;
    while (s->pending) {
        pending_t *p = s->pending;
        pending_unlink(s, p);
        /* A request still on its connection is freed by evhttp_free(); one libevent already
         * detached is ours to free. */
        if (!evhttp_request_get_connection(p->req))
            evhttp_request_free(p->req);
        pending_free(p);
    }
    if (s->http)
        evhttp_free(s->http);
    cache_clear(s);
    fn_calls_clear(&s->calls);
    fn_users_free(s);
    free(s->api_key);
    free(s);
}
