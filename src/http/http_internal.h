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
#include "auth/auth.h"
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

struct http_server {
    app_t *app;
    const config_t *cfg;
    int listen_fd, port, nworkers;
    http_worker_t *workers;
    _Atomic long inflight, inflight_limited;
    _Atomic bool listener_closed;
    cidr_t metrics_cidrs[MAX_CIDRS], proxies[MAX_CIDRS];
    int n_metrics_cidrs, n_proxies;
    char **origins;          /* CORS_ALLOWED_ORIGINS, immutable */
    size_t n_origins;
    sf_t *sf_character;      /* coalesces cold V1 lookups per IGN */
    pool_t *pool;            /* `http` pool: handler bodies that touch the store or the upstream */
    l1cache_t *c_session;    /* `session` cache: 30 s (2.3.1) */
    l1cache_t *c_admins;     /* `admins` cache: runtime admin set, 30 s */
    char **bootstrap_admins; /* ADMIN_FINGERPRINTS, immutable */
    size_t n_bootstrap_admins;
    jwt_keyring_t *jwt;      /* signing/verification keys (auth.h) */
    char fingerprint_secret[512];
    mfam_t *m_ratelimit, *m_login, *m_refresh, *m_sessions, *m_likes, *m_donations, *m_points, *m_dlq_actions, *m_popularity;
    mfam_t *m_req_seconds, *m_resp_bytes, *m_in_flight, *m_rejected, *m_view_reads, *m_enqueue;
};

typedef struct req_ctx req_ctx_t;

typedef enum { AUTH_PUBLIC = 0, AUTH_OPTIONAL, AUTH_USER, AUTH_ADMIN } auth_level_t;

/* One row of the route table (router.c). */
typedef struct route {
    const char *method;       /* "GET", "POST" */
    const char *tmpl;         /* route template, also the metrics label */
    void (*handler)(req_ctx_t *c);
    bool actuator;            /* exempt from admission and rate limits (3.4 rule 3, SC-08) */
    bool has_body;            /* POST/DELETE endpoints: body rules of 1.1 apply */
    auth_level_t auth;        /* who may call it (1.4 "Auth") */
    int deadline_ms;          /* 0 = the default 10 s (3.1) */
} route_t;

/* The caller as resolved from `Authorization: Bearer` (1.3). */
typedef struct {
    bool authenticated;
    bool admin;
    bool store_unavailable;   /* the session store could not be read (M11: 503 S007 on protected routes) */
    char session_id[37];
    char fingerprint[65];
    char account_id[65];
    char *user_ign;           /* owned */
    char *my_ocids_json;      /* owned: JSON array text */
} principal_t;

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
    /* issue 4: caller, rate limit, path parameters, deferred responses built on a pool thread */
    principal_t who;
    char jwt_fgp[65];             /* fingerprint claim of a verified token (rate-limit key), "" if none */
    long rl_remaining;            /* X-RateLimit-Remaining, -1 = omit */
    char param[128];              /* {fingerprint} or {id} raw path parameter */
    int64_t id_param;
    void (*work)(struct req_ctx *c); /* pool-thread body of a deferred handler */
    /* copies taken on the loop thread before deferring: the pool never reads the evhttp request,
     * which the loop may free when the client disconnects */
    char *in_body;
    size_t in_body_len;
    char *in_authorization;       /* Authorization header or NULL */
    char *in_idempotency_key;     /* Idempotency-Key header or NULL */
    char *in_query;               /* query string or NULL */
    int out_status;
    const char *out_code;         /* error code, NULL on success */
    char out_arg[256];            /* error template argument */
    const char *out_message;      /* raw error message (JSON errors), overrides the template */
    int out_retry_after;
    buf_t out_body;               /* success body (JSON) */
    bool out_gzip;                /* the body is the gzip value in `result`: negotiated like cached bodies */
    bool out_empty;               /* success with an empty body (202) */
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
/* The configured origin equal to origin (CORS_ALLOWED_ORIGINS), or NULL. */
const char *origin_allowed(struct http_server *s, const char *origin);
/* Error JSON of 1.2. arg fills the %s of the template (NULL for none). retry_after 0 = none. */
void respond_error(req_ctx_t *c, const char *code, const char *arg, int retry_after);
void respond_empty(req_ctx_t *c, int status, int retry_after);
/* The error JSON with a fixed message (JSON body errors of 1.1). */
void respond_error_message(req_ctx_t *c, const char *code, const char *message);
/* Send a gzip part to the client in its preferred encoding (inflate when gzip is not accepted). */
void respond_gzip_part(req_ctx_t *c, cache_val_t *v, const unsigned char *gz, size_t len, bool stale);
void respond_app_error(req_ctx_t *c, int app_rc);
/* The same error recorded for a deferred answer (pool thread). */
void out_app_error(req_ctx_t *c, int app_rc);

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

void h_like(req_ctx_t *c);
void h_unlike(req_ctx_t *c);
void h_like_status(req_ctx_t *c);
void h_like_count(req_ctx_t *c);
void h_login(req_ctx_t *c);
void h_refresh(req_ctx_t *c);
void h_logout(req_ctx_t *c);
void h_me(req_ctx_t *c);
void h_donation(req_ctx_t *c);
void h_admins_list(req_ctx_t *c);
void h_admins_add(req_ctx_t *c);
void h_admins_remove(req_ctx_t *c);
void h_dlq_page(req_ctx_t *c);
void h_dlq_cursor(req_ctx_t *c);
void h_dlq_count(req_ctx_t *c);
void h_dlq_get(req_ctx_t *c);
void h_dlq_reprocess(req_ctx_t *c);
void h_dlq_discard(req_ctx_t *c);
void h_test_alert(req_ctx_t *c);

/* ---- deferred.c: run a handler body on the pool, answer on the loop ---- */
/* Runs c->work on the `http` pool (503 S007 + Retry-After 60 when full). The work fills
 * out_status/out_code/out_body; the answer is sent on the loop thread. */
void defer_work(req_ctx_t *c, void (*work)(req_ctx_t *c));
void out_error(req_ctx_t *c, const char *code, const char *arg);
void out_error_retry(req_ctx_t *c, const char *code, const char *arg, int retry_after);
/* Envelope {"success":true,"data":<data_json>}; data_json NULL omits "data". */
void out_envelope(req_ctx_t *c, const char *data_json);
/* JSON request body of at most MAX_BODY_BYTES with the 1.1 limits; NULL after out_error(C001). */
struct cJSON *body_json(req_ctx_t *c);
/* A valid access token in this Authorization header value (signature, claims, leeway)? */
bool principal_verify_token(struct http_server *s, const char *authorization, jwt_claims_t *claims);
/* Resolve c->who from the Authorization header (pool thread: may read the store). */
void principal_resolve(req_ctx_t *c);
void principal_clear(principal_t *p);
/* Is this fingerprint an admin (bootstrap list or runtime table through a 30 s cache)? */
bool admin_is(struct http_server *s, const char *fingerprint);
bool admin_is_bootstrap(struct http_server *s, const char *fingerprint);
/* ^[A-Za-z0-9_-]{43}$ (h_donation.c) */
bool valid_fingerprint(const char *s);
/* Query parameter of the copied query string: true when present (value copied, truncated). */
bool query_param(req_ctx_t *c, const char *name, char *value, size_t cap);
/* Enforce c->route->auth after principal_resolve; false = an error was recorded in out_*. */
bool principal_allows(req_ctx_t *c);

/* ---- ratelimit.c ---- */
/* SC-08 on the loop thread: true = allowed (c->rl_remaining set), false = 429 sent. */
bool rate_limit(req_ctx_t *c);

/* ---- net.c ---- */
bool cidr_parse_list(const char *list, cidr_t *out, int max, int *n, char *err, size_t errlen);
bool cidr_match_any(const cidr_t *list, int n, const char *ip);

#endif
