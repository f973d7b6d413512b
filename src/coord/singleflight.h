/*
 * singleflight.h - cold-key coalescing (SC-04): N concurrent requests for one key cause exactly
 * one load; the others wait for its result.
 *
 * State: the flight map of this instance (in memory; a flight lives only while its load runs).
 * In cluster mode a later issue puts a Redis lease in front of the leader (2.3.2); the API here
 * does not change.
 *
 * Two ways to use it:
 *  - asynchronous (event loops): sf_join registers a waiter callback. The first joiner for a key
 *    is the LEADER and must eventually call sf_finish exactly once; the others are FOLLOWERs and
 *    their callback runs (on the thread that calls sf_finish) with the leader's result. A
 *    follower that gives up calls sf_cancel: true = removed (its callback will never run),
 *    false = the result is being delivered right now (the callback runs or has run).
 *  - blocking (worker threads): sf_do runs loader on the calling thread if it leads, or waits
 *    (at most wait_ms) for the leader's result otherwise.
 *
 * Results carry an integer outcome code (0 = ok; the caller's own error codes otherwise) and an
 * optional cache value reference (cache.h), retained once per receiver: every callback/sf_do
 * receiver owns one reference and must release it.
 * Thread-safety: all functions are thread-safe. Callbacks must not call back into the same flight.
 */
#ifndef MX_COORD_SINGLEFLIGHT_H
#define MX_COORD_SINGLEFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "coord/cache.h"
#include "ops/metrics.h"

typedef struct {
    int code;           /* 0 = ok; caller-defined error code otherwise */
    cache_val_t *val;   /* may be NULL */
} sf_result_t;

typedef enum { SF_LEADER = 0, SF_FOLLOWER } sf_role_t;

typedef struct sf sf_t;
typedef struct sf_waiter sf_waiter_t;
typedef void (*sf_done_fn)(void *arg, sf_result_t result); /* result.val: owned by the callee */

/* name: the cache name used in metrics (singleflight_total{cache=name}). m may be NULL. */
sf_t *sf_new(const char *name, metrics_t *m);
void sf_free(sf_t *s); /* no flight may be active */

/* Async join. A leader gets no waiter handle (*h = NULL) and its fn is not called by sf_finish.
 * A follower gets a handle for sf_cancel. */
sf_role_t sf_join(sf_t *s, const char *key, sf_done_fn fn, void *arg, sf_waiter_t **h);
/* Leader only: deliver result to every follower (each gets its own reference to result.val)
 * and end the flight. The leader keeps its own reference. */
void sf_finish(sf_t *s, const char *key, sf_result_t result);
bool sf_cancel(sf_t *s, const char *key, sf_waiter_t *h);

/* Blocking: loader(arg) produces the result (with one reference the caller will own). Returns
 * the result for this caller (own reference), or {timeout_code, NULL} after wait_ms as follower.
 * *role (may be NULL) tells whether this caller led. */
typedef sf_result_t (*sf_loader_fn)(void *arg);
sf_result_t sf_do(sf_t *s, const char *key, sf_loader_fn loader, void *arg, int64_t wait_ms,
                  int timeout_code, sf_role_t *role);

/* Number of active flights (tests, metrics). */
size_t sf_active(sf_t *s);
/* Followers (waiting callbacks + sf_do callers blocked on it) of key's active flight; 0 if none
 * (tests, diagnostics). */
size_t sf_followers(sf_t *s, const char *key);

#endif
