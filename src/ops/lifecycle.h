/*
 * lifecycle.h - the instance's lifecycle state machine and liveness ticks (SC-31, E26, E27).
 *
 * STARTING -> READY -> DRAINING -> STOPPING -> STOPPED. Readiness (E27) is "state == READY";
 * liveness (E26) is "the request loops and the scheduler loop ticked within the last 10 s".
 *
 * State: per instance, in memory (no other instance depends on it). All functions are
 * thread-safe (C11 atomics); the struct is owned by main and lives for the whole process.
 */
#ifndef MX_OPS_LIFECYCLE_H
#define MX_OPS_LIFECYCLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { LC_STARTING = 0, LC_READY, LC_DRAINING, LC_STOPPING, LC_STOPPED } lc_state_t;

typedef struct {
    _Atomic int state;
    _Atomic int64_t request_tick_ms;   /* monotonic ms of the last request-loop tick */
    _Atomic int64_t scheduler_tick_ms; /* monotonic ms of the last scheduler tick */
} lifecycle_t;

static inline void lc_init(lifecycle_t *l, int64_t now_ms)
{
    atomic_store(&l->state, LC_STARTING);
    atomic_store(&l->request_tick_ms, now_ms);
    atomic_store(&l->scheduler_tick_ms, now_ms);
}
static inline lc_state_t lc_state(lifecycle_t *l) { return (lc_state_t)atomic_load(&l->state); }
static inline void lc_set(lifecycle_t *l, lc_state_t s) { atomic_store(&l->state, (int)s); }
static inline bool lc_ready(lifecycle_t *l) { return lc_state(l) == LC_READY; }
static inline bool lc_draining(lifecycle_t *l) { return lc_state(l) >= LC_DRAINING; }
static inline void lc_tick_requests(lifecycle_t *l, int64_t now_ms) { atomic_store(&l->request_tick_ms, now_ms); }
static inline void lc_tick_scheduler(lifecycle_t *l, int64_t now_ms) { atomic_store(&l->scheduler_tick_ms, now_ms); }
static inline bool lc_live(lifecycle_t *l, int64_t now_ms)
{
    return now_ms - atomic_load(&l->request_tick_ms) <= 10000 && now_ms - atomic_load(&l->scheduler_tick_ms) <= 10000;
}
static inline const char *lc_state_name(lc_state_t s)
{
    static const char *const names[] = {"STARTING", "READY", "DRAINING", "STOPPING", "STOPPED"};
    return (unsigned)s < 5 ? names[s] : "UNKNOWN";
}

#endif
