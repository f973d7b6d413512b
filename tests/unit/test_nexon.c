/* test_nexon.c - the Nexon Open API client against a scripted in-process HTTP server (libevent
 * evhttp on 127.0.0.1, own thread): status mapping (1.12), retries and budget (3.2), timeouts and
 * deadlines (3.1, M5), breaker (3.3, M18), concurrency slot and rate cap (SC-11), body cap, gzip,
 * IGN percent-encoding, and which key goes where. Every wait is a bounded poll; nothing sleeps
 * to wait for a condition. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/gz.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "upstream/nexon.h"

/* ---- scripted server ------------------------------------------------------------------------- */

enum { R_ID, R_BASIC, R_EQUIP, R_LIST, R_COUNT };
static const char *const ROUTE_PATH[R_COUNT] = {
    "/maplestory/v1/id",
    "/maplestory/v1/character/basic",
    "/maplestory/v1/character/item-equipment",
    "/maplestory/v1/character/list",
};

#define MAX_HITS 64

/* cmocka's asserts must not run on the server thread (they longjmp): abort instead. */
#define SRV_CHECK(cond)                                                          \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: server check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                             \
        }                                                                        \
    } while (0)

typedef struct {
    int statuses[8]; /* answered in order; the last one repeats */
    int nstatus;
    int delay_ms;
    const char *retry_after; /* sent with 429 */
    bool gzip;               /* gzip the body when the client accepts it */
    char *body;              /* owned; the body of 2xx answers */
    size_t body_len;
    /* observed */
    int hits;
    int gzip_sent;
    int64_t hit_wall_sec[MAX_HITS];
    char last_uri[1024];
    char last_key[128];
    char last_accept[64];
} route_t;

static struct {
    tu_http_t server; /* testutil.h: loopback evhttp on its own thread */
    char base_url[64];
    pthread_mutex_t mu; /* guards routes and pending */
    route_t routes[R_COUNT];
    int pending; /* delayed answers not sent yet */
} srv;

typedef struct {
    struct evhttp_request *req;
    int status;
    struct evbuffer *body;
} delayed_t;

static void send_delayed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    delayed_t *d = arg;
    evhttp_send_reply(d->req, d->status, "X", d->body);
    evbuffer_free(d->body);
    free(d);
    pthread_mutex_lock(&srv.mu);
    srv.pending--;
    pthread_mutex_unlock(&srv.mu);
}

static void copy_header(struct evkeyvalq *h, const char *name, char *dst, size_t cap)
{
    const char *v = evhttp_find_header(h, name);
    snprintf(dst, cap, "%s", v ? v : "");
}

static int route_of(const char *path)
{
    for (int i = 0; i < R_COUNT; i++)
        if (path && strcmp(path, ROUTE_PATH[i]) == 0)
            return i;
    return -1;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    int r = route_of(path);
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Content-Type", "application/json");
    if (r < 0) {
        evbuffer_add_printf(out, "{\"error\":\"no route\"}");
        evhttp_send_reply(req, 500, "X", out);
        evbuffer_free(out);
        return;
    }
    pthread_mutex_lock(&srv.mu);
    route_t *rt = &srv.routes[r];
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    if (rt->hits < MAX_HITS)
        rt->hit_wall_sec[rt->hits] = clock_wall_ms() / 1000;
    rt->hits++;
    int idx = rt->hits - 1 < rt->nstatus - 1 ? rt->hits - 1 : rt->nstatus - 1;
    int status = rt->nstatus > 0 ? rt->statuses[idx] : 200;
    snprintf(rt->last_uri, sizeof rt->last_uri, "%s", evhttp_request_get_uri(req));
    copy_header(ih, "x-nxopen-api-key", rt->last_key, sizeof rt->last_key);
    copy_header(ih, "Accept", rt->last_accept, sizeof rt->last_accept);
    const char *ae = evhttp_find_header(ih, "Accept-Encoding");
    if (status >= 200 && status < 300) {
        if (rt->gzip && ae && strstr(ae, "gzip")) {
            buf_t z;
            buf_init(&z, 64u << 20);
            SRV_CHECK(gz_deflate(rt->body, rt->body_len, 6, &z) == 0);
            evbuffer_add(out, z.data, z.len);
            buf_dispose(&z);
            evhttp_add_header(oh, "Content-Encoding", "gzip");
            rt->gzip_sent++;
        } else {
            evbuffer_add(out, rt->body ? rt->body : "", rt->body_len);
        }
    } else {
        evbuffer_add_printf(out, "{\"error\":{\"name\":\"E%d\"}}", status);
        if (status == 429 && rt->retry_after)
            evhttp_add_header(oh, "Retry-After", rt->retry_after);
    }
    int delay = rt->delay_ms;
    if (delay > 0)
        srv.pending++;
    pthread_mutex_unlock(&srv.mu);
    if (delay <= 0) {
        evhttp_send_reply(req, status, "X", out);
        evbuffer_free(out);
        return;
    }
    delayed_t *d = malloc(sizeof *d);
    SRV_CHECK(d != NULL);
    *d = (delayed_t){.req = req, .status = status, .body = out};
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000};
    SRV_CHECK(event_base_once(srv.server.base, -1, EV_TIMEOUT, send_delayed, d, &tv) == 0);
}

static void server_start(void)
{
    memset(&srv, 0, sizeof srv);
    pthread_mutex_init(&srv.mu, NULL);
    tu_http_start(&srv.server, on_request, NULL);
    snprintf(srv.base_url, sizeof srv.base_url, "http://127.0.0.1:%d/", srv.server.port);
}

static int pending_answers(void)
{
    pthread_mutex_lock(&srv.mu);
    int p = srv.pending;
    pthread_mutex_unlock(&srv.mu);
    return p;
}

/* Delayed answers still queued in the server would leak at shutdown: wait for them (bounded). */
static void wait_no_pending(void)
{
    int64_t until = clock_mono_ms() + 3000;
    while (pending_answers() > 0 && clock_mono_ms() < until)
        usleep(2000);
    assert_int_equal(pending_answers(), 0);
}

static void reset_routes(void)
{
    pthread_mutex_lock(&srv.mu);
    for (int i = 0; i < R_COUNT; i++) {
        free(srv.routes[i].body);
        memset(&srv.routes[i], 0, sizeof srv.routes[i]);
    }
    pthread_mutex_unlock(&srv.mu);
}

static void server_stop(void)
{
    wait_no_pending();
    tu_http_stop(&srv.server);
    reset_routes();
    pthread_mutex_destroy(&srv.mu);
}

/* Scripts route r afresh (observations reset): statuses (0-terminated list, at most 8), delay, body. */
static void script(int r, const int *statuses, int delay_ms, const char *body, size_t body_len)
{
    pthread_mutex_lock(&srv.mu);
    route_t *rt = &srv.routes[r];
    free(rt->body);
    memset(rt, 0, sizeof *rt);
    for (; statuses && *statuses && rt->nstatus < 8; statuses++)
        rt->statuses[rt->nstatus++] = *statuses;
    rt->delay_ms = delay_ms;
    if (body) {
        rt->body = malloc(body_len + 1);
        SRV_CHECK(rt->body != NULL);
        memcpy(rt->body, body, body_len);
        rt->body[body_len] = '\0';
        rt->body_len = body_len;
    }
    pthread_mutex_unlock(&srv.mu);
}

#define STATUSES(...) ((const int[]){__VA_ARGS__, 0})

static void script_json(int r, const int *statuses, const char *json)
{
    script(r, statuses, 0, json, strlen(json));
}

static void set_gzip(int r, bool on)
{
    pthread_mutex_lock(&srv.mu);
    srv.routes[r].gzip = on;
    pthread_mutex_unlock(&srv.mu);
}

static void set_retry_after(int r, const char *v)
{
    pthread_mutex_lock(&srv.mu);
    srv.routes[r].retry_after = v;
    pthread_mutex_unlock(&srv.mu);
}

static int hits(int r)
{
    pthread_mutex_lock(&srv.mu);
    int h = srv.routes[r].hits;
    pthread_mutex_unlock(&srv.mu);
    return h;
}

/* A copy of a route's observations (taken under the mutex). */
static route_t observed(int r)
{
    pthread_mutex_lock(&srv.mu);
    route_t copy = srv.routes[r];
    pthread_mutex_unlock(&srv.mu);
    copy.body = NULL;
    return copy;
}

/* ---- client helpers ---------------------------------------------------------------------------- */

#define SERVER_KEY "test-server-key-0123"
#define USER_KEY "test-user-key-4567"

static nexon_opts_t default_opts(void)
{
    return (nexon_opts_t){
        .base_url = srv.base_url,
        .api_key = SERVER_KEY,
        .connect_ms = 500,
        .response_ms = 1000,
        .total_ms = 3000,
        .max_attempts = 3,
        .retry_wait_ms = 10,
        .concurrency = 8,
        .slot_wait_ms = 100,
        .max_rps = 0,
        .budget_ratio = 10.0, /* generous unless a test is about the budget */
        .budget_per_min = 100,
        .breaker = {.name = "nexonApi", .window_s = 10, .min_calls = 1000, .failure_rate = 0.5,
                    .open_s = 10, .probes = 3, .close_successes = 2},
        .max_body = 1u << 20,
    };
}

static nexon_t *client(const nexon_opts_t *o)
{
    nexon_t *n = nexon_new(o, NULL);
    assert_non_null(n);
    return n;
}

/* A client with default_opts() (nexon_new copies the options). */
static nexon_t *default_client(void)
{
    nexon_opts_t o = default_opts();
    return client(&o);
}

static int64_t in_ms(int64_t ms) { return clock_mono_ms() + ms; }

static up_rc_t get_basic(nexon_t *n, buf_t *out) { return nexon_get_basic(n, "ocid-1", in_ms(5000), out); }

static char *big_json(size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    static const char head[] = "{\"item_equipment\":\"";
    memcpy(s, head, sizeof head - 1);
    for (size_t i = sizeof head - 1; i < len - 2; i++)
        s[i] = (char)('a' + (i * 7) % 26);
    s[len - 2] = '"';
    s[len - 1] = '}';
    s[len] = '\0';
    return s;
}

static int setup_each(void **state)
{
    (void)state;
    reset_routes();
    return 0;
}

static int teardown_each(void **state)
{
    (void)state;
    wait_no_pending();
    return 0;
}

/* ---- success paths -------------------------------------------------------------------------------- */

static void test_ocid_korean_ign_encoded(void **state)
{
    (void)state;
    script_json(R_ID, STATUSES(200), "{\"ocid\":\"e0a4f439e53c369866b55297d2f5f4eb\"}");
    nexon_t *n = default_client();
    char ocid[64];
    assert_int_equal(nexon_get_ocid(n, "아델 &x", in_ms(5000), ocid, sizeof ocid), UP_OK);
    assert_string_equal(ocid, "e0a4f439e53c369866b55297d2f5f4eb");
    route_t r = observed(R_ID);
    assert_int_equal(r.hits, 1);
    assert_string_equal(r.last_uri, "/maplestory/v1/id?character_name=%EC%95%84%EB%8D%B8%20%26x");
    assert_string_equal(r.last_key, SERVER_KEY);
    assert_string_equal(r.last_accept, "application/json");
    /* an ocid that does not fit the caller's buffer is a failure, not a truncation */
    char small[8];
    assert_int_equal(nexon_get_ocid(n, "x", in_ms(5000), small, sizeof small), UP_FAILED);
    nexon_free(n);
}

static void test_ocid_body_without_ocid_fails(void **state)
{
    (void)state;
    script_json(R_ID, STATUSES(200), "{\"name\":\"no ocid here\"}");
    nexon_t *n = default_client();
    char ocid[64];
    assert_int_equal(nexon_get_ocid(n, "x", in_ms(5000), ocid, sizeof ocid), UP_FAILED);
    assert_int_equal(hits(R_ID), 1); /* a bad body is not retried */
    script_json(R_ID, STATUSES(200), "not json");
    assert_int_equal(nexon_get_ocid(n, "x", in_ms(5000), ocid, sizeof ocid), UP_FAILED);
    assert_int_equal(hits(R_ID), 1);
    nexon_free(n);
}

static void test_basic_and_equipment_bodies(void **state)
{
    (void)state;
    const size_t big = 300 * 1024;
    char *doc = big_json(big);
    script(R_BASIC, STATUSES(200), 0, doc, big);
    script(R_EQUIP, STATUSES(200), 0, doc, big);
    set_gzip(R_EQUIP, true);
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(get_basic(n, &out), UP_OK);
    assert_int_equal(out.len, big);
    assert_memory_equal(out.data, doc, big);
    assert_string_equal(observed(R_BASIC).last_uri, "/maplestory/v1/character/basic?ocid=ocid-1");
    buf_reset(&out);
    assert_int_equal(nexon_get_equipment(n, "ocid-1", in_ms(5000), &out), UP_OK);
    assert_int_equal(out.len, big); /* decoded by the client */
    assert_memory_equal(out.data, doc, big);
    assert_int_equal(observed(R_EQUIP).gzip_sent, 1);
    /* appended, not replaced */
    assert_int_equal(nexon_get_equipment(n, "ocid-1", in_ms(5000), &out), UP_OK);
    assert_int_equal(out.len, 2 * big);
    buf_dispose(&out);
    free(doc);
    nexon_free(n);
}

static void test_character_list_uses_user_key(void **state)
{
    (void)state;
    const char *doc = "{\"account_list\":[]}";
    script_json(R_LIST, STATUSES(200), doc);
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(nexon_get_character_list(n, USER_KEY, in_ms(5000), &out), UP_OK);
    assert_string_equal(buf_cstr(&out), doc);
    route_t r = observed(R_LIST);
    assert_string_equal(r.last_key, USER_KEY);
    assert_string_equal(r.last_uri, "/maplestory/v1/character/list");
    /* 400/401/403 with the user key: the key is rejected; one attempt each */
    script_json(R_LIST, STATUSES(400, 401, 403), "{}");
    for (int i = 0; i < 3; i++)
        assert_int_equal(nexon_get_character_list(n, USER_KEY, in_ms(5000), &out), UP_KEY_REJECTED);
    assert_int_equal(hits(R_LIST), 3);
    /* 503: a single attempt, no retry */
    script_json(R_LIST, STATUSES(503), "{}");
    assert_int_equal(nexon_get_character_list(n, USER_KEY, in_ms(5000), &out), UP_FAILED);
    assert_int_equal(hits(R_LIST), 1);
    /* a key that cannot be a header value is never sent */
    assert_int_equal(nexon_get_character_list(n, "bad\r\nkey", in_ms(5000), &out), UP_KEY_REJECTED);
    assert_int_equal(hits(R_LIST), 1);
    buf_dispose(&out);
    nexon_free(n);
}

/* ---- status mapping and retries --------------------------------------------------------------------- */

static void test_not_found_single_call(void **state)
{
    (void)state;
    script_json(R_ID, STATUSES(404), "{}");
    script_json(R_BASIC, STATUSES(400), "{}");
    nexon_t *n = default_client();
    char ocid[64];
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(nexon_get_ocid(n, "nobody", in_ms(5000), ocid, sizeof ocid), UP_NOT_FOUND);
    assert_int_equal(get_basic(n, &out), UP_NOT_FOUND);
    assert_int_equal(hits(R_ID), 1);
    assert_int_equal(hits(R_BASIC), 1);
    assert_int_equal(out.len, 0);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_key_rejected_not_retried(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(401), "{}");
    script_json(R_EQUIP, STATUSES(403), "{}");
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(get_basic(n, &out), UP_KEY_REJECTED);
    assert_int_equal(nexon_get_equipment(n, "o", in_ms(5000), &out), UP_KEY_REJECTED);
    assert_int_equal(hits(R_BASIC), 1);
    assert_int_equal(hits(R_EQUIP), 1);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_retry_then_success(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(503, 503, 200), "{\"ok\":1}");
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(get_basic(n, &out), UP_OK);
    assert_string_equal(buf_cstr(&out), "{\"ok\":1}"); /* only the successful body */
    assert_int_equal(hits(R_BASIC), 3);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_retries_exhausted(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(503), "{}");
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(hits(R_BASIC), 3);
    assert_int_equal(out.len, 0);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_other_4xx_not_retried(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(405), "{}");
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(hits(R_BASIC), 1);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_429_retry_after(void **state)
{
    (void)state;
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    /* Retry-After: 1 fits a 3 s call: the retry waits for it (not the 10 ms back-off) */
    script_json(R_BASIC, STATUSES(429, 200), "{}");
    set_retry_after(R_BASIC, "1");
    int64_t t0 = clock_mono_ms();
    assert_int_equal(get_basic(n, &out), UP_OK);
    assert_true(clock_mono_ms() - t0 >= 1000);
    assert_int_equal(hits(R_BASIC), 2);
    /* Retry-After: 5 does not fit: no retry, and no waiting */
    script_json(R_BASIC, STATUSES(429, 200), "{}");
    set_retry_after(R_BASIC, "5");
    t0 = clock_mono_ms();
    assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_true(clock_mono_ms() - t0 < 500);
    assert_int_equal(hits(R_BASIC), 1);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_retry_budget(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(503), "{}");
    nexon_opts_t o = default_opts();
    o.budget_ratio = 0.2;
    nexon_t *n = client(&o);
    buf_t out;
    buf_init(&out, 4096);
    /* call 1: first=1, retries 0 < 0.2 -> one retry; then 1 < 0.2 fails -> 2 calls */
    assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(hits(R_BASIC), 2);
    /* calls 2..5: retries 1 < 0.2 x (2..5) is false -> no retry */
    for (int i = 0; i < 4; i++)
        assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(hits(R_BASIC), 6);
    /* call 6: first=6, 1 < 1.2 -> one retry again */
    assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(hits(R_BASIC), 8);
    nexon_free(n);

    /* per-minute cap */
    o.budget_ratio = 10.0;
    o.budget_per_min = 1;
    n = client(&o);
    script_json(R_BASIC, STATUSES(503), "{}");
    assert_int_equal(get_basic(n, &out), UP_FAILED); /* 1 first + 1 retry, then the cap */
    assert_int_equal(get_basic(n, &out), UP_FAILED); /* no retry left */
    assert_int_equal(hits(R_BASIC), 3);
    buf_dispose(&out);
    nexon_free(n);
}

/* ---- timeouts and deadlines ----------------------------------------------------------------------- */

static void test_response_timeout(void **state)
{
    (void)state;
    script(R_BASIC, STATUSES(200), 400, "{}", 2);
    nexon_opts_t o = default_opts();
    o.connect_ms = 100;
    o.response_ms = 200; /* attempt worst case 300 ms < the 400 ms delay */
    o.total_ms = 350;    /* no room for a second attempt */
    nexon_t *n = client(&o);
    buf_t out;
    buf_init(&out, 4096);
    int64_t t0 = clock_mono_ms();
    assert_int_equal(get_basic(n, &out), UP_TIMEOUT);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 250 && took <= 350 + 150);
    assert_int_equal(hits(R_BASIC), 1);
    /* a caller deadline shorter than the attempt cuts the first attempt */
    t0 = clock_mono_ms();
    assert_int_equal(nexon_get_basic(n, "o", in_ms(120), &out), UP_TIMEOUT);
    took = clock_mono_ms() - t0;
    assert_true(took <= 120 + 100);
    assert_int_equal(hits(R_BASIC), 2);
    assert_int_equal(out.len, 0);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_deadline_passed_no_call(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(200), "{}");
    nexon_t *n = default_client();
    buf_t out;
    buf_init(&out, 4096);
    char ocid[64];
    assert_int_equal(nexon_get_basic(n, "o", clock_mono_ms() - 1, &out), UP_TIMEOUT);
    assert_int_equal(nexon_get_ocid(n, "x", clock_mono_ms(), ocid, sizeof ocid), UP_TIMEOUT);
    assert_int_equal(nexon_get_character_list(n, USER_KEY, clock_mono_ms() - 5, &out), UP_TIMEOUT);
    assert_int_equal(hits(R_BASIC) + hits(R_ID) + hits(R_LIST), 0);
    buf_dispose(&out);
    nexon_free(n);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd); /* bound, never listened: connects are refused */
    return ntohs(sa.sin_port);
}

static void test_connect_error_counts_for_breaker(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    nexon_opts_t o = default_opts();
    o.base_url = url;
    o.max_attempts = 2;
    o.breaker.min_calls = 2;
    nexon_t *n = client(&o);
    buf_t out;
    buf_init(&out, 4096);
    up_rc_t rc = get_basic(n, &out);
    assert_true(rc == UP_FAILED || rc == UP_TIMEOUT);
    assert_int_equal(breaker_state(nexon_breaker(n)), BREAKER_OPEN); /* 2 attempts, 2 failures */
    assert_int_equal(get_basic(n, &out), UP_BREAKER_OPEN);
    buf_dispose(&out);
    nexon_free(n);
}

/* ---- breaker, concurrency, rate cap, body cap ----------------------------------------------------- */

static void test_breaker_opens_and_short_circuits(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(503), "{}");
    script_json(R_ID, STATUSES(404), "{}");
    nexon_opts_t o = default_opts();
    o.max_attempts = 1;
    o.breaker.min_calls = 4;
    nexon_t *n = client(&o);
    buf_t out;
    buf_init(&out, 4096);
    char ocid[64];
    /* 4xx never count as failures (M18): they are recorded as successes */
    for (int i = 0; i < 2; i++)
        assert_int_equal(nexon_get_ocid(n, "x", in_ms(5000), ocid, sizeof ocid), UP_NOT_FOUND);
    assert_int_equal(breaker_state(nexon_breaker(n)), BREAKER_CLOSED);
    /* 2 successes (404) + 2 failures = 4 calls at 50 %: opens */
    for (int i = 0; i < 2; i++)
        assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(breaker_state(nexon_breaker(n)), BREAKER_OPEN);
    int before = hits(R_BASIC) + hits(R_ID);
    assert_int_equal(get_basic(n, &out), UP_BREAKER_OPEN);
    assert_int_equal(nexon_get_ocid(n, "x", in_ms(5000), ocid, sizeof ocid), UP_BREAKER_OPEN);
    assert_int_equal(hits(R_BASIC) + hits(R_ID), before); /* zero server hits */
    assert_int_equal(before, 4);
    buf_dispose(&out);
    nexon_free(n);
}

typedef struct {
    nexon_t *n;
    up_rc_t rc;
} bg_call_t;

static void *bg_basic(void *arg)
{
    bg_call_t *c = arg;
    buf_t out;
    buf_init(&out, 4096);
    c->rc = nexon_get_basic(c->n, "slow", in_ms(5000), &out);
    buf_dispose(&out);
    return NULL;
}

static void test_concurrency_slot(void **state)
{
    (void)state;
    script(R_BASIC, STATUSES(200), 300, "{}", 2);
    script_json(R_EQUIP, STATUSES(200), "{}");
    nexon_opts_t o = default_opts();
    o.concurrency = 1;
    o.slot_wait_ms = 50;
    nexon_t *n = client(&o);
    bg_call_t bg = {.n = n, .rc = UP_FAILED};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_basic, &bg), 0);
    int64_t until = clock_mono_ms() + 2000;
    while (hits(R_BASIC) == 0 && clock_mono_ms() < until)
        usleep(1000);
    assert_int_equal(hits(R_BASIC), 1); /* the slow call holds the only slot */
    buf_t out;
    buf_init(&out, 4096);
    int64_t t0 = clock_mono_ms();
    assert_int_equal(nexon_get_equipment(n, "o", in_ms(5000), &out), UP_OVERLOAD);
    int64_t took = clock_mono_ms() - t0;
    assert_true(took >= 40 && took < 250);
    assert_int_equal(hits(R_EQUIP), 0);
    pthread_join(t, NULL);
    assert_int_equal(bg.rc, UP_OK);
    /* the slot is free again */
    assert_int_equal(nexon_get_equipment(n, "o", in_ms(5000), &out), UP_OK);
    buf_dispose(&out);
    nexon_free(n);
}

static void test_rate_cap(void **state)
{
    (void)state;
    script_json(R_BASIC, STATUSES(200), "{}");
    nexon_opts_t o = default_opts();
    o.max_rps = 2;
    nexon_t *n = client(&o);
    buf_t out;
    buf_init(&out, 4096);
    /* tight deadlines: 6 quick calls span at most 2 wall seconds, so at most 4 start */
    int ok = 0, overload = 0;
    for (int i = 0; i < 6; i++) {
        up_rc_t rc = nexon_get_basic(n, "o", in_ms(30), &out);
        ok += rc == UP_OK;
        overload += rc == UP_OVERLOAD;
    }
    assert_int_equal(ok + overload, 6);
    assert_true(ok >= 2 && ok <= 4);
    assert_int_equal(hits(R_BASIC), ok);
    nexon_free(n);
    /* generous deadlines: the third call waits for the next second instead of failing */
    reset_routes();
    script_json(R_BASIC, STATUSES(200), "{}");
    n = client(&o);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get_basic(n, &out), UP_OK);
    route_t r = observed(R_BASIC);
    assert_int_equal(r.hits, 3);
    assert_false(r.hit_wall_sec[0] == r.hit_wall_sec[2]); /* never 3 in one second */
    buf_dispose(&out);
    nexon_free(n);
}

static void test_body_cap(void **state)
{
    (void)state;
    char *doc = big_json(5000);
    script(R_BASIC, STATUSES(200), 0, doc, 5000);
    script(R_EQUIP, STATUSES(200), 0, doc, 5000);
    set_gzip(R_EQUIP, true); /* small on the wire, over the cap once decoded */
    nexon_opts_t o = default_opts();
    o.max_body = 1000;
    nexon_t *n = client(&o);
    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(get_basic(n, &out), UP_FAILED);
    assert_int_equal(nexon_get_equipment(n, "o", in_ms(5000), &out), UP_FAILED);
    assert_int_equal(hits(R_BASIC), 1); /* not retried */
    assert_int_equal(hits(R_EQUIP), 1);
    assert_int_equal(out.len, 0);
    assert_int_equal(breaker_state(nexon_breaker(n)), BREAKER_CLOSED);
    buf_dispose(&out);
    free(doc);
    nexon_free(n);
}

static double metric(metrics_t *m, const char *name, const char *labels, const char *const *vals)
{
    return mfam_get(metrics_counter(m, name, "", labels), vals);
}

static void test_metrics(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    script_json(R_BASIC, STATUSES(503, 429, 200), "{}");
    script_json(R_ID, STATUSES(404), "{}");
    nexon_opts_t o = default_opts();
    o.breaker.min_calls = 4;
    nexon_t *n = nexon_new(&o, m);
    assert_non_null(n);
    buf_t out;
    buf_init(&out, 4096);
    char ocid[64];
    assert_int_equal(get_basic(n, &out), UP_OK);
    assert_int_equal(nexon_get_ocid(n, "x", in_ms(5000), ocid, sizeof ocid), UP_NOT_FOUND);
    const char *req = "endpoint,outcome";
    assert_rel(metric(m, "upstream_requests_total", req, MX_LV("basic", "server_error")), 1);
    assert_rel(metric(m, "upstream_requests_total", req, MX_LV("basic", "rate_limited")), 1);
    assert_rel(metric(m, "upstream_requests_total", req, MX_LV("basic", "ok")), 1);
    assert_rel(metric(m, "upstream_requests_total", req, MX_LV("id", "not_found")), 1);
    assert_rel(metric(m, "upstream_retries_total", "endpoint,result", MX_LV("basic", "attempted")), 2);
    mfam_t *dur = metrics_histogram(m, "upstream_request_duration_seconds", "", "endpoint",
                                    METRICS_SECONDS_BUCKETS, 12);
    assert_rel(mfam_get(dur, MX_LV("basic")), 3); /* one observation per attempt */
    assert_rel(mfam_get(metrics_gauge(m, "upstream_in_flight", "", ""), NULL), 0);
    /* 4 outcomes, 2 failures: the breaker opens, the next call is short-circuited */
    assert_rel(mfam_get(metrics_gauge(m, "circuit_state", "", "breaker,scope"), MX_LV("nexonApi", "local")), 2);
    assert_rel(metric(m, "circuit_transitions_total", "breaker,to", MX_LV("nexonApi", "open")), 1);
    assert_int_equal(get_basic(n, &out), UP_BREAKER_OPEN);
    assert_rel(metric(m, "upstream_short_circuited_total", "reason", MX_LV("breaker_open")), 1);
    /* the keys never reach the exposition */
    buf_t text;
    buf_init(&text, 1u << 20);
    metrics_render(m, &text);
    assert_true(buf_ok(&text));
    assert_null(strstr(buf_cstr(&text), SERVER_KEY));
    buf_dispose(&text);
    buf_dispose(&out);
    nexon_free(n);
    metrics_free(m);
}

static void test_rc_names(void **state)
{
    (void)state;
    assert_string_equal(up_rc_name(UP_OK), "ok");
    assert_string_equal(up_rc_name(UP_BREAKER_OPEN), "breaker_open");
    assert_string_equal(up_rc_name(UP_OVERLOAD), "overload");
}

static int setup_all(void **state)
{
    (void)state;
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    log_init("test", "standalone", "test", LOG_ERROR); /* breaker transitions log at WARN */
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    server_start();
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    server_stop();
    curl_global_cleanup();
    libevent_global_shutdown();
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_each, teardown_each)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ocid_korean_ign_encoded),
        T(test_ocid_body_without_ocid_fails),
        T(test_basic_and_equipment_bodies),
        T(test_character_list_uses_user_key),
        T(test_not_found_single_call),
        T(test_key_rejected_not_retried),
        T(test_retry_then_success),
        T(test_retries_exhausted),
        T(test_other_4xx_not_retried),
        T(test_429_retry_after),
        T(test_retry_budget),
        T(test_response_timeout),
        T(test_deadline_passed_no_call),
        T(test_connect_error_counts_for_breaker),
        T(test_breaker_opens_and_short_circuits),
        T(test_concurrency_slot),
        T(test_rate_cap),
        T(test_body_cap),
        T(test_metrics),
        T(test_rc_names),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
