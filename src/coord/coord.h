/*
 * coord.h - shared coordination behind one interface per concern (platform spec 0.1):
 * leases (SC-05), markers with expiry (SC-22), the V5 job queue (SC-21).
 *
 * Two implementations: in-process (coord_local_new, standalone mode; this file) and Redis (a
 * later issue). Business code only sees these vtables and never branches on the mode.
 *
 * State: where the implementation says. The local one keeps everything in this process's memory
 * (lost on restart, which is the documented standalone behaviour); the Redis one keeps it in Redis.
 *
 * Results: every operation distinguishes a normal negative answer (BUSY, EXISTS, FULL, ABSENT)
 * from UNAVAILABLE (the backend could not be reached). "Busy" is never an error (G6, H02).
 * Thread-safety: every function may be called from any thread.
 * Time: the implementation uses its own clock source (monotonic for local, Redis TIME for Redis).
 */
#ifndef MX_COORD_COORD_H
#define MX_COORD_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { COORD_OK = 0, COORD_BUSY, COORD_EXISTS, COORD_ABSENT, COORD_FULL, COORD_UNAVAILABLE } coord_rc_t;

const char *coord_rc_name(coord_rc_t rc);

/* ---- leases (SC-05): owner token + TTL + renewal by owner + fencing token --------------- */

#define LEASE_OWNER_MAX 48

typedef struct {
    char owner[LEASE_OWNER_MAX]; /* random owner token, set by acquire */
    uint64_t fence;              /* strictly increasing per name across acquisitions */
} lease_t;

/* ---- V5 jobs (SC-21) ------------------------------------------------------------------- */

typedef enum { PRIO_HIGH = 0, PRIO_LOW = 1 } job_prio_t;

typedef struct {
    char job_id[37];           /* UUID */
    char ign[128];             /* trimmed IGN, UTF-8 */
    bool force;
    job_prio_t prio;
    char correlation_id[65];
    int64_t enqueued_ms;       /* wall clock */
} calc_job_t;

typedef struct coord coord_t;

typedef struct {
    /* leases: acquire -> COORD_OK (out filled) / COORD_BUSY / COORD_UNAVAILABLE */
    coord_rc_t (*lease_acquire)(coord_t *c, const char *name, int64_t ttl_ms, lease_t *out);
    /* renew: COORD_OK if still held by this owner (TTL reset), COORD_ABSENT if lost */
    coord_rc_t (*lease_renew)(coord_t *c, const char *name, const lease_t *l, int64_t ttl_ms);
    /* release: compare-and-delete; COORD_ABSENT if not held by this owner any more */
    coord_rc_t (*lease_release)(coord_t *c, const char *name, const lease_t *l);

    /* markers: set-if-absent with expiry -> COORD_OK / COORD_EXISTS / COORD_UNAVAILABLE */
    coord_rc_t (*marker_set_nx)(coord_t *c, const char *key, const char *value, int64_t ttl_ms);
    /* unconditional set with expiry */
    coord_rc_t (*marker_set)(coord_t *c, const char *key, const char *value, int64_t ttl_ms);
    /* get: COORD_OK (value copied, NUL-terminated, truncated to cap) / COORD_ABSENT */
    coord_rc_t (*marker_get)(coord_t *c, const char *key, char *value, size_t cap);
    coord_rc_t (*marker_del)(coord_t *c, const char *key);

    /* V5 queue: admission (HIGH cap, total cap) then add -> COORD_OK / COORD_FULL / COORD_UNAVAILABLE */
    coord_rc_t (*queue_offer)(coord_t *c, const calc_job_t *job);
    /* take the next job (HIGH first, FIFO within a priority; high_only skips LOW); waits at most
     * wait_ms. COORD_OK with *out filled, COORD_ABSENT on timeout or after queue_close. */
    coord_rc_t (*queue_take)(coord_t *c, bool high_only, int64_t wait_ms, calc_job_t *out);
    /* acknowledge a finished job (Redis: XACK+XDEL; local: no-op) */
    coord_rc_t (*queue_ack)(coord_t *c, const calc_job_t *job);
    size_t (*queue_depth)(coord_t *c, job_prio_t prio);
    /* wake every waiting taker and make later takes return COORD_ABSENT at once (shutdown) */
    void (*queue_close)(coord_t *c);

    /* token bucket (SC-08): take one token from bucket `key` holding at most `capacity`, refilled
     * continuously with `refill` tokens per period_ms. COORD_OK = allowed (*remaining = whole
     * tokens left), COORD_BUSY = denied (*retry_after_ms until the next token), COORD_UNAVAILABLE. */
    coord_rc_t (*rate_take)(coord_t *c, const char *key, int capacity, int refill, int64_t period_ms,
                            int64_t *remaining, int64_t *retry_after_ms);

    /* popularity (SC-24): +1 for ign on calendar day `day` (YYYY-MM-DD, service timezone).
     * COORD_OK, COORD_FULL (the day's map is at its bound: skipped), COORD_UNAVAILABLE. Counts of
     * an earlier day are dropped when a new day starts (standalone: lost on restart, by design). */
    coord_rc_t (*popularity_incr)(coord_t *c, const char *day, const char *ign);
    /* The count of ign on day (0 when absent). */
    coord_rc_t (*popularity_get)(coord_t *c, const char *day, const char *ign, int64_t *count);

    void (*destroy)(coord_t *c);
} coord_ops_t;

struct coord {
    const coord_ops_t *ops;
    const char *kind; /* "local" or "redis" */
};

typedef struct {
    size_t queue_total_cap; /* V5_QUEUE_CAP, default 10000 */
    size_t queue_high_cap;  /* V5_HIGH_CAP, default 1000 */
    size_t max_markers;     /* bound of the marker map (default 100000); full -> COORD_UNAVAILABLE */
    size_t max_buckets;     /* bound of the token-bucket map (default 100000) */
    size_t max_popular;     /* IGNs counted per day (default 100000) */
} coord_local_opts_t;

coord_t *coord_local_new(const coord_local_opts_t *opts);

static inline void coord_free(coord_t *c) { if (c) c->ops->destroy(c); }

#endif
