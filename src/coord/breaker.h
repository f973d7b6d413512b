/*
 * breaker.h - circuit breaker (3.3), in-process implementation.
 *
 * State: per instance, in memory. This is the local breaker of SC-12 and the standalone form of
 * the shared `nexonApi` breaker of SC-10 (the Redis-backed shared form arrives with cluster mode
 * behind the same functions).
 *
 * Model (time-window breaker, 1 s buckets): CLOSED counts outcomes over the last window_s
 * seconds; when calls >= min_calls and failures/calls >= failure_rate it goes OPEN for open_s.
 * After that it is HALF_OPEN: at most probes calls are admitted; when `probes` outcomes are in,
 * it closes if successes >= close_successes, else opens again. One transition per episode.
 * Time comes from the monotonic clock unless a test clock is set.
 * Thread-safety: all functions are thread-safe (one mutex).
 */
#ifndef MX_COORD_BREAKER_H
#define MX_COORD_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/metrics.h"

typedef enum { BREAKER_CLOSED = 0, BREAKER_HALF_OPEN = 1, BREAKER_OPEN = 2 } breaker_state_t;

typedef struct {
    const char *name;       /* "nexonApi" */
    int window_s;           /* 10 */
    int min_calls;          /* 10 */
    double failure_rate;    /* 0.5 */
    int open_s;             /* 10 */
    int probes;             /* 3 */
    int close_successes;    /* 2 */
} breaker_opts_t;

typedef struct breaker breaker_t;

breaker_t *breaker_new(const breaker_opts_t *o, metrics_t *m);
void breaker_free(breaker_t *b);

/* May a call start now? false = short-circuit. true in HALF_OPEN takes a probe slot: the caller
 * must report the outcome with breaker_record. */
bool breaker_allow(breaker_t *b);
void breaker_record(breaker_t *b, bool success);
breaker_state_t breaker_state(breaker_t *b);
const char *breaker_state_name(breaker_state_t s);

/* Tests: replace the clock (monotonic ms). NULL restores the real clock. */
void breaker_set_clock(breaker_t *b, int64_t (*now_ms)(void));

#endif
