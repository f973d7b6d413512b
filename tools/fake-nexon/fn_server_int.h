/*
 * fn_server_int.h - state shared by fn_server.c (routing, Nexon endpoints, body cache, delayed
 *   requests) and fn_admin.c (the /admin API: call counters, faults, user keys). Internal to the
 *   fake server; nothing outside tools/fake-nexon includes it.
 * Ownership: every pointer inside fn_server is owned by it (see fn_server.h).
 * Threads:   event-loop thread only.
 * Errors:    functions returning int give 0 or -1 (out of memory / cap reached).
 */
#ifndef FN_SERVER_INT_H
#define FN_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>

#include "base/buf.h"
#include "fn_chars.h"
#include "fn_gen.h"
#include "fn_server.h"
#include "fn_util.h"

typedef enum { NX_ID = 0, NX_BASIC, NX_EQUIPMENT, NX_LIST, NX__COUNT } nx_endpoint_t;
#define NX_ANY NX__COUNT /* index of the "*" fault */

const char *fn_nx_path(nx_endpoint_t ep);

typedef struct {
    bool set;
    int latency_ms;
    int status;        /* 0: none */
    double error_rate; /* fraction of requests answered with `status` (or closed) */
    int retry_after;   /* seconds, sent with 429/503 */
    bool close;        /* drop the connection instead of answering */
    fn_rng_t rng;      /* decides which requests are hit; reseeded when the fault is set */
} fn_fault_t;

typedef struct {
    char *key;
    uint64_t count;
} fn_counter_t;

typedef struct {
    uint64_t total;
    uint64_t paths[NX__COUNT];
    fn_counter_t *keys; /* insertion order */
    size_t count, alloc;
    uint32_t *index;    /* open addressing over keys: position + 1, 0 = empty */
    size_t index_size;  /* power of two, or 0 */
    uint64_t overflow;  /* calls whose key did not fit under FN_MAX_COUNTER_KEYS */
} fn_calls_t;

typedef struct {
    char *id;
    char **names;
    size_t count;
} fn_account_t;

typedef struct {
    char *key;
    fn_account_t *accounts;
    size_t count;
} fn_user_t;

struct fn_cache_entry;
struct fn_pending;

struct fn_server {
    struct event_base *base;
    struct evhttp *http;
    fn_registry_t *reg;
    const fn_gen_t *gen;
    char *api_key;
    fn_calls_t calls;
    fn_fault_t faults[NX__COUNT + 1];
    fn_user_t *users;
    size_t user_count;
    struct fn_cache_entry *cache_head, *cache_tail; /* most recently used first */
    size_t cache_count;
    struct fn_pending *pending;                     /* delayed requests */
};

/* ---- fn_server.c ---- */
/* Answer a JSON body (gzipped when the request accepts it). */
void fn_reply_json(struct evhttp_request *req, int status, const char *body, size_t len);
/* Answer {"error": message} (admin errors). */
void fn_reply_admin_error(struct evhttp_request *req, int status, const char *message);

/* ---- fn_admin.c ---- */
void fn_admin_handle(fn_server_t *s, struct evhttp_request *req, const char *path);
/* Count one request that reached a Nexon path; arg = ocid, IGN or user key (may be NULL). */
void fn_calls_count(fn_calls_t *c, nx_endpoint_t ep, const char *arg);
void fn_calls_clear(fn_calls_t *c);
/* The fault that applies to ep (its own, else "*"), or NULL. */
fn_fault_t *fn_fault_for(fn_server_t *s, nx_endpoint_t ep);
/* demo-user-key -> demo-account-1 with the first three demo characters. */
int fn_users_init(fn_server_t *s);
void fn_users_free(fn_server_t *s);
const fn_user_t *fn_user_find(const fn_server_t *s, const char *key);

#endif
