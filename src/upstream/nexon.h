/*
 * nexon.h - client for the Nexon Open API (platform spec 1.12, 3.1-3.3), on libcurl.
 *
 * Calls are blocking and made from worker threads (never from an event-loop thread). Each call
 * runs under a deadline (monotonic ms, base/clock.h): the whole call (all attempts) ends by
 * min(deadline, start + total_ms) (M5); an attempt is not started when its worst case
 * (connect + response timeout) exceeds what remains, except that the first attempt always runs
 * with its timeouts cut to the remaining time.
 *
 * Resilience (all per instance in this issue; the cluster-wide variants of SC-09/10/11 plug in
 * behind the same functions later):
 *  - retries: connect error, timeout, 5xx, 429 (Retry-After honoured when it fits the deadline);
 *    at most max_attempts in total, back-off retry_wait_ms +-20 % jitter; every retry needs the
 *    retry budget (retries < ratio x first attempts and < per_min, 60 s window; first attempts
 *    never consume budget, H13).
 *  - circuit breaker "nexonApi" (breaker.h): 429/5xx/timeouts/connect errors are failures;
 *    other 4xx never count (M18). Open -> UP_BREAKER_OPEN without any network call.
 *  - concurrency: <= concurrency in-flight calls, waiting <= slot_wait_ms for a slot, else
 *    UP_OVERLOAD; rate cap: <= max_rps calls started per second (waits for the next second when
 *    the deadline allows, else UP_OVERLOAD).
 *  - headers: x-nxopen-api-key, Accept: application/json, Accept-Encoding: gzip (bodies are
 *    returned decoded).
 *
 * Thread-safety: all functions are thread-safe; a nexon_t is shared by all worker threads.
 * Metrics (when m != NULL): upstream_requests_total{endpoint,outcome},
 * upstream_request_duration_seconds{endpoint}, upstream_short_circuited_total{reason},
 * upstream_retries_total{endpoint,result}, upstream_in_flight, circuit_state/
 * circuit_transitions_total for breaker "nexonApi".
 */
#ifndef MX_UPSTREAM_NEXON_H
#define MX_UPSTREAM_NEXON_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "coord/breaker.h"
#include "ops/metrics.h"

typedef enum {
    UP_OK = 0,
    UP_NOT_FOUND,      /* 400/404 */
    UP_KEY_REJECTED,   /* 401/403 with the server key: configuration fault, never negative-cached */
    UP_FAILED,         /* 5xx / 429 / bad body after the retries allowed */
    UP_TIMEOUT,        /* the last attempt timed out, or the deadline ended the call */
    UP_BREAKER_OPEN,   /* short-circuited by the breaker */
    UP_OVERLOAD,       /* concurrency slot or rate cap not obtained in time */
} up_rc_t;

const char *up_rc_name(up_rc_t rc);

typedef struct {
    const char *base_url;        /* e.g. https://open.api.nexon.com (no trailing slash needed) */
    const char *api_key;         /* server key */
    long connect_ms, response_ms; /* per attempt: 3000, 5000 */
    long total_ms;               /* whole call: 10000 */
    int max_attempts;            /* 3 */
    long retry_wait_ms;          /* 500 */
    int concurrency;             /* 50 */
    long slot_wait_ms;           /* 500 */
    int max_rps;                 /* 100; 0 = unlimited */
    double budget_ratio;         /* 0.2 */
    int budget_per_min;          /* 100 */
    breaker_opts_t breaker;      /* "nexonApi" parameters */
    size_t max_body;             /* cap on a decoded body, e.g. 8 MiB */
} nexon_opts_t;

typedef struct nexon nexon_t;

/* Copies opts (and the strings). Returns NULL on curl init failure. m may be NULL. */
nexon_t *nexon_new(const nexon_opts_t *opts, metrics_t *m);
void nexon_free(nexon_t *n);

/* GET /maplestory/v1/id?character_name=<ign> -> ocid (NUL-terminated). */
up_rc_t nexon_get_ocid(nexon_t *n, const char *ign, int64_t deadline_ms, char *ocid, size_t cap);
/* GET /maplestory/v1/character/basic?ocid= -> the JSON body (appended to out). */
up_rc_t nexon_get_basic(nexon_t *n, const char *ocid, int64_t deadline_ms, buf_t *out);
/* GET /maplestory/v1/character/item-equipment?ocid= -> the JSON body, decoded (appended to out). */
up_rc_t nexon_get_equipment(nexon_t *n, const char *ocid, int64_t deadline_ms, buf_t *out);
/* GET /maplestory/v1/character/list with the user's key: single attempt, 10 s, no retries. */
up_rc_t nexon_get_character_list(nexon_t *n, const char *user_key, int64_t deadline_ms, buf_t *out);

/* Upstream attempts made so far by the calling thread (monotonic; subtract two readings). */
unsigned long nexon_thread_calls(void);

/* Breaker of this client (health, metrics, tests). */
breaker_t *nexon_breaker(nexon_t *n);

#endif
