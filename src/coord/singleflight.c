/*
 * singleflight.c - the per-instance flight map of SC-04 (see singleflight.h).
 *
 * One mutex guards a chained hash map key -> flight. A flight holds
 *  - the asynchronous followers (sf_join) as a doubly linked waiter list, and
 *  - the blocking followers (sf_do), which sleep on the flight's condition variable.
 * sf_finish takes the flight out of the map and detaches the waiter list under the mutex, gives
 * every blocking follower its reference and wakes them, then (outside the mutex) hands each
 * asynchronous follower its own reference through its callback.
 *
 * Lifetimes:
 *  - A flight is referenced by its leader (until sf_finish) and by each blocking follower still
 *    inside sf_do; the last one out frees it. A blocking follower that times out simply leaves
 *    (the flight stays for the others).
 *  - A waiter handle is a ticket number (a per-sf_t counter, never 0), not the waiter's address:
 *    sf_cancel may legitimately be called after delivery ("false = has run"), when the waiter
 *    memory is already freed and possibly reused by a new follower of the same key. Looking the
 *    ticket up in the key's current flight can never confuse the two.
 */
#include "coord/singleflight.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/strmap.h"

#define SF_INITIAL_BUCKETS 64

typedef struct waiter {
    struct waiter *prev;
    struct waiter *next;
    uint64_t ticket;
    sf_done_fn fn;
    void *arg;
    int64_t joined_us;
} waiter_t;

typedef struct flight {
    strmap_node_t node;    /* first: key = the flexible key below */
    waiter_t *head;        /* asynchronous followers, in join order */
    waiter_t *tail;
    pthread_cond_t done_cv;
    size_t refs;           /* leader (until finish) + blocking followers inside sf_do */
    size_t blocked;        /* blocking followers inside sf_do */
    bool done;
    sf_result_t result;    /* valid once done; one reference per blocked follower */
    char key[];
} flight_t;

struct sf {
    pthread_mutex_t mu;
    char *name;
    strmap_t flights;      /* key -> flight */
    uint64_t next_ticket;
    mfam_t *total;         /* singleflight_total{cache,role,outcome} */
    mfam_t *wait;          /* singleflight_wait_seconds{cache} */
};

sf_t *sf_new(const char *name, metrics_t *m)
{
    sf_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name ? name : "");
    bool map_ok = strmap_init(&s->flights, SF_INITIAL_BUCKETS);
    s->next_ticket = 1;
    if (!s->name || !map_ok || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s->flights.buckets);
        free(s->name);
        free(s);
        return NULL;
    }
    if (m) {
        s->total = metrics_counter(m, "singleflight_total", "Single-flight participations by cache, role and outcome.",
                                   "cache,role,outcome");
        s->wait = metrics_histogram(m, "singleflight_wait_seconds", "Time a follower waited for the leader's result.",
                                    "cache", METRICS_SECONDS_BUCKETS,
                                    sizeof METRICS_SECONDS_BUCKETS / sizeof METRICS_SECONDS_BUCKETS[0]);
    }
    return s;
}

static void free_waiters(waiter_t *w)
{
    for (waiter_t *next; w; w = next) {
        next = w->next;
        free(w);
    }
}

static void free_flight(flight_t *f)
{
    free_waiters(f->head);
    pthread_cond_destroy(&f->done_cv);
    free(f);
}

static void free_flight_node(strmap_node_t *n) { free_flight((flight_t *)n); }

void sf_free(sf_t *s)
{
    if (!s)
        return;
    strmap_dispose(&s->flights, free_flight_node);
    pthread_mutex_destroy(&s->mu);
    free(s->name);
    free(s);
}

size_t sf_active(sf_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->flights.count;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- metrics -------------------------------------------------------------------------- */

static void count(sf_t *s, const char *role, const char *outcome)
{
    if (s->total)
        mfam_add(s->total, MX_LV(s->name, role, outcome), 1);
}

static void count_follower(sf_t *s, const char *outcome, int64_t joined_us)
{
    count(s, "local_follower", outcome);
    if (s->wait)
        mfam_observe(s->wait, MX_LV(s->name), (double)(clock_mono_us() - joined_us) / 1e6);
}

static const char *outcome_of(int code) { return code == 0 ? "ok" : "error"; }

/* ---- the flight map (caller holds s->mu) ---------------------------------------------- */

static flight_t *map_find(sf_t *s, const char *key) { return (flight_t *)strmap_find(&s->flights, key); }

/* A new flight, referenced by its leader, entered in the map; NULL when out of memory. */
static flight_t *map_start(sf_t *s, const char *key)
{
    size_t klen = strlen(key);
    flight_t *f = calloc(1, sizeof *f + klen + 1);
    if (!f)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&f->done_cv, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        free(f);
        return NULL;
    }
    memcpy(f->key, key, klen + 1);
    f->node.key = f->key;
    f->refs = 1;
    strmap_insert(&s->flights, &f->node);
    return f;
}

static void map_remove(sf_t *s, flight_t *f) { strmap_remove(&s->flights, &f->node); }

static void waiter_unlink(flight_t *f, waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        f->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        f->tail = w->prev;
}

size_t sf_followers(sf_t *s, const char *key)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    flight_t *f = map_find(s, key);
    if (f) {
        n = f->blocked;
        for (waiter_t *w = f->head; w; w = w->next)
            n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- asynchronous API ----------------------------------------------------------------- */

sf_role_t sf_join(sf_t *s, const char *key, sf_done_fn fn, void *arg, sf_waiter_t **h)
{
    *h = NULL;
    waiter_t *w = malloc(sizeof *w);
    pthread_mutex_lock(&s->mu);
    flight_t *f = map_find(s, key);
    if (!f || !w) {
        /* Out of memory for the waiter: lead instead. Both leaders hold a valid result for the
         * key, so whichever finishes first simply ends the flight early. */
        if (!f)
            map_start(s, key); /* NULL: no coalescing, sf_finish then finds nothing */
        pthread_mutex_unlock(&s->mu);
        free(w);
        return SF_LEADER;
    }
    w->fn = fn;
    w->arg = arg;
    w->ticket = s->next_ticket++;
    w->joined_us = clock_mono_us();
    w->next = NULL;
    w->prev = f->tail;
    if (f->tail)
        f->tail->next = w;
    else
        f->head = w;
    f->tail = w;
    *h = (sf_waiter_t *)(uintptr_t)w->ticket;
    pthread_mutex_unlock(&s->mu);
    return SF_FOLLOWER;
}

void sf_finish(sf_t *s, const char *key, sf_result_t result)
{
    pthread_mutex_lock(&s->mu);
    flight_t *f = map_find(s, key);
    if (!f) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    map_remove(s, f);
    waiter_t *waiters = f->head; /* detached: from here on sf_cancel cannot find them */
    f->head = f->tail = NULL;
    f->done = true;
    f->result = result;
    for (size_t i = 0; i < f->blocked; i++)
        cache_val_retain(result.val);
    pthread_cond_broadcast(&f->done_cv);
    bool last = --f->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        free_flight(f);

    count(s, "leader", outcome_of(result.code));
    /* the leader's own reference keeps result.val alive while the followers take theirs */
    for (waiter_t *w = waiters, *next; w; w = next) {
        next = w->next;
        cache_val_retain(result.val);
        count_follower(s, outcome_of(result.code), w->joined_us);
        w->fn(w->arg, result);
        free(w);
    }
}

bool sf_cancel(sf_t *s, const char *key, sf_waiter_t *h)
{
    uint64_t ticket = (uint64_t)(uintptr_t)h;
    if (ticket == 0)
        return false;
    waiter_t *found = NULL;
    pthread_mutex_lock(&s->mu);
    flight_t *f = map_find(s, key);
    for (waiter_t *w = f ? f->head : NULL; w; w = w->next) {
        if (w->ticket == ticket) {
            waiter_unlink(f, w);
            found = w;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!found)
        return false;
    count_follower(s, "timeout", found->joined_us);
    free(found);
    return true;
}

/* ---- blocking API --------------------------------------------------------------------- */

/* Follower side of sf_do; called with s->mu held on flight f, returns with it released. */
static sf_result_t follow(sf_t *s, flight_t *f, int64_t wait_ms, int timeout_code)
{
    int64_t joined_us = clock_mono_us();
    struct timespec deadline = clock_after_ms(CLOCK_MONOTONIC, wait_ms);
    f->refs++;
    f->blocked++;
    int rc = 0;
    while (!f->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&f->done_cv, &s->mu, &deadline);
    bool done = f->done; /* a result that arrived with the timeout still counts */
    sf_result_t r = done ? f->result : (sf_result_t){timeout_code, NULL};
    f->blocked--;
    bool last = --f->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        free_flight(f);
    count_follower(s, done ? outcome_of(r.code) : "timeout", joined_us);
    return r;
}

sf_result_t sf_do(sf_t *s, const char *key, sf_loader_fn loader, void *arg, int64_t wait_ms,
                  int timeout_code, sf_role_t *role)
{
    pthread_mutex_lock(&s->mu);
    flight_t *f = map_find(s, key);
    if (f) {
        if (role)
            *role = SF_FOLLOWER;
        return follow(s, f, wait_ms, timeout_code);
    }
    f = map_start(s, key); /* NULL (no memory): load without coalescing */
    pthread_mutex_unlock(&s->mu);
    if (role)
        *role = SF_LEADER;
    sf_result_t r = loader(arg);
    if (f)
        sf_finish(s, key, r);
    return r;
}
