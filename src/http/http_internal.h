/*
 * http_internal.h - shared between the files of src/http/ only: the worker and server
 * structures, the per-request context and the response helpers.
 *
 * A req_ctx_t lives from routing until the response is sent (or until the client went away and
 * the async work that still references it completed). It is only touched by its worker's loop
 * thread, except for the fields an async task fills before posting it back (documented below).
 */
#ifndef MX_HTTP_HTTP_INTERNAL_H
#define MX_HTTP_HTTP_INTERNAL_H

#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/buf.h"
#include "coord/singleflight.h"
#include "http/server.h"

typedef struct post post_t;

typedef struct http_worker {
    struct http_server *srv;
    int index;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct event *wake, *tick;
    pthread_t thread;
    pthread_mutex_t mu;      /* guards the post list */
    post_t *head, *tail;
    uint64_t rng;            /* xorshift state for ids and sampling (loop thread only) */
} http_worker_t;

typedef struct {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
} cidr_t;

#define MAX_CIDRS 32
#define MAX_ORIGINS 32

struct http_server {
    app_t *app;
    const config_t *cfg;
    int listen_fd, port, nworkers;
    http_worker_t *workers;
    _Atomic long inflight, inflight_limited;
    _Atomic bool listener_closed;
    cidr_t metrics_cidrs[MAX_CIDRS], proxies[MAX_CIDRS];
    int n_metrics_cidrs, n_proxies;
    char *origins[MAX_ORIGINS];
    int n_origins;
    sf_t *sf_character;      /* coalesces cold V1 lookups per IGN */
    mfam_t *m_req_seconds, *m_resp_bytes, *m_in_flight, *m_rejected, *m_view_reads, *m_enqueue;
};

typedef struct req_ctx req_ctx_t;

/* One row of the route table (router.c). */
typedef struct route {
    const char *method;       /* "GET", "POST" */
    const char *tmpl;         /* route template, also the metrics label */
    void (*handler)(req_ctx_t *c);
    bool actuator;            /* exempt from admission (3.4 rule 3) */
    bool has_body;            /* POST endpoints: body rules of 1.1 apply */
} route_t;

struct req_ctx {
    struct evhttp_request *req;   /* NULL once the client connection closed */
    http_worker_t *w;
    struct http_server *srv;
    const route_t *route;
    const char *method;
    int64_t start_us, deadline_ms;
    char corr[72];
    char client_ip[64];
    char path[512];               /* request URI as received (access log), truncated */
    bool accept_gzip, limited, internal_client;
    char ign[128];
    int preset;                   /* 0 = full view */
    bool force;
    /* async state */
    void (*on_result)(struct req_ctx *c); /* answers from result_code/result on the loop thread */
    sf_t *flight;
    sf_waiter_t *waiter;
    struct event *timer;
    /* filled by the async task before it posts back */
    int result_code;              /* app_rc_t */
    cache_val_t *result;          /* bundle or JSON value (one reference) */
    buf_t leader_body;            /* the computing request's own body (fromCache: false) */
    bool leader_gzip, have_leader_body;
    /* for the access log */
    int status;
    const char *code, *cache, *encoding;
    size_t bytes_out;
    int upstream_calls;
};

/* ---- server.c ---- */
void http_worker_post(http_worker_t *w, void (*fn)(void *), void *arg);
/* Finish a request: access log, metrics, in-flight accounting, free the context. */
void req_done(req_ctx_t *c);
/* Called when a request goes async: its context must survive a client disconnect. */
void req_go_async(req_ctx_t *c);
uint64_t worker_rand(http_worker_t *w);

/* ---- respond.c ---- */
void respond_common_headers(req_ctx_t *c);
void respond_bytes(req_ctx_t *c, int status, const char *content_type, const void *data, size_t len,
                   const char *encoding);
/* Zero-copy body from a cache value (keeps a reference until sent). */
void respond_val(req_ctx_t *c, int status, const char *content_type, cache_val_t *v, const unsigned char *data,
                 size_t len, const char *encoding);
void respond_json(req_ctx_t *c, int status, const char *json);
/* Error JSON of 1.2. arg fills the %s of the template (NULL for none). retry_after 0 = none. */
void respond_error(req_ctx_t *c, const char *code, const char *arg, int retry_after);
void respond_empty(req_ctx_t *c, int status, int retry_after);
/* Send a gzip part to the client in its preferred encoding (inflate when gzip is not accepted). */
void respond_gzip_part(req_ctx_t *c, cache_val_t *v, const unsigned char *gz, size_t len, bool stale);
void respond_app_error(req_ctx_t *c, int app_rc);

/* ---- router.c ---- */
void router_dispatch(struct evhttp_request *req, void *arg);

/* ---- handlers ---- */
void h_v1_character(req_ctx_t *c);
void h_v4_expectation(req_ctx_t *c);
void h_v4_preset(req_ctx_t *c);
void h_v4_recalculate(req_ctx_t *c);
void h_v5_expectation(req_ctx_t *c);
void h_v5_recalculate(req_ctx_t *c);
void h_liveness(req_ctx_t *c);
void h_readiness(req_ctx_t *c);
void h_health(req_ctx_t *c);
void h_info(req_ctx_t *c);
void h_prometheus(req_ctx_t *c);

/* ---- net.c ---- */
bool cidr_parse_list(const char *list, cidr_t *out, int max, int *n, char *err, size_t errlen);
bool cidr_match_any(const cidr_t *list, int n, const char *ip);

#endif
