/*
 * breaker.c - in-process circuit breaker (platform spec 3.3; see breaker.h).
 *
 * CLOSED keeps per-second outcome counts in a ring of window_s buckets (a bucket is reused when
 * its second has left the window). After each recorded outcome it checks calls >= min_calls and
 * failures/calls >= failure_rate and, when both hold, opens for open_s. The OPEN -> HALF_OPEN
 * step is lazy: the first allow()/state() after open_until performs it. HALF_OPEN admits at most
 * `probes` calls; once `probes` outcomes are in it closes (successes >= close_successes) or opens
 * again. Outcomes reported while OPEN (calls that started before the breaker opened) are ignored,
 * and in HALF_OPEN only as many outcomes as probes were admitted are counted.
 *
 * Every transition sets circuit_state{breaker,scope="local"}, counts
 * circuit_transitions_total{breaker,to} (both under the mutex) and is logged (after it).
 */
#include "coord/breaker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "ops/log.h"

typedef struct {
    int64_t sec; /* the monotonic second this bucket counts, -1 when unused */
    int calls;
    int failures;
} bucket_t;

struct breaker {
    pthread_mutex_t mu;
    char *name;
    int window_s, min_calls, open_s, probes, close_successes;
    double failure_rate;
    int64_t (*now_ms)(void);

    breaker_state_t state;
    bucket_t *buckets;   /* window_s entries, used in CLOSED */
    int64_t open_until;  /* ms, valid in OPEN */
    int probes_admitted; /* HALF_OPEN bookkeeping */
    int probe_outcomes;
    int probe_successes;

    mfam_t *m_state, *m_transitions;
};

static int64_t real_clock_ms(void) { return clock_mono_ms(); }

const char *breaker_state_name(breaker_state_t s)
{
    switch (s) {
    case BREAKER_CLOSED: return "closed";
    case BREAKER_HALF_OPEN: return "half_open";
    case BREAKER_OPEN: return "open";
    }
    return "unknown";
}

static int clamp_min(int v, int lo) { return v < lo ? lo : v; }

breaker_t *breaker_new(const breaker_opts_t *o, metrics_t *m)
{
    breaker_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->name = strdup(o->name ? o->name : "breaker");
    b->window_s = clamp_min(o->window_s, 1);
    b->min_calls = clamp_min(o->min_calls, 1);
    b->open_s = clamp_min(o->open_s, 0);
    b->probes = clamp_min(o->probes, 1);
    b->close_successes = o->close_successes < 0 ? 0 : (o->close_successes > b->probes ? b->probes : o->close_successes);
    b->failure_rate = o->failure_rate;
    b->buckets = calloc((size_t)b->window_s, sizeof *b->buckets);
    if (!b->name || !b->buckets || pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b->buckets);
        free(b->name);
        free(b);
        return NULL;
    }
    for (int i = 0; i < b->window_s; i++)
        b->buckets[i].sec = -1;
    b->now_ms = real_clock_ms;
    b->state = BREAKER_CLOSED;
    if (m) {
        b->m_state = metrics_gauge(m, "circuit_state", "Circuit breaker state (0 closed, 1 half-open, 2 open)",
                                   "breaker,scope");
        b->m_transitions = metrics_counter(m, "circuit_transitions_total", "Circuit breaker state transitions",
                                           "breaker,to");
        mfam_set(b->m_state, MX_LV(b->name, "local"), (double)BREAKER_CLOSED);
    }
    return b;
}

void breaker_free(breaker_t *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b->buckets);
    free(b->name);
    free(b);
}

void breaker_set_clock(breaker_t *b, int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&b->mu);
    b->now_ms = now_ms ? now_ms : real_clock_ms;
    pthread_mutex_unlock(&b->mu);
}

static void clear_window(breaker_t *b)
{
    for (int i = 0; i < b->window_s; i++) {
        b->buckets[i].sec = -1;
        b->buckets[i].calls = 0;
        b->buckets[i].failures = 0;
    }
}

/* Moves to `to` under the mutex (metrics too, so the gauge follows the order of transitions);
 * returns `to` so the caller can log it after unlocking. */
static breaker_state_t enter(breaker_t *b, breaker_state_t to, int64_t now)
{
    b->state = to;
    mfam_set(b->m_state, MX_LV(b->name, "local"), (double)to);
    mfam_add(b->m_transitions, MX_LV(b->name, breaker_state_name(to)), 1);
    switch (to) {
    case BREAKER_OPEN:
        b->open_until = now + (int64_t)b->open_s * 1000;
        break;
    case BREAKER_HALF_OPEN:
        b->probes_admitted = b->probe_outcomes = b->probe_successes = 0;
        break;
    case BREAKER_CLOSED:
        clear_window(b);
        break;
    }
    return to;
}

/* The log line of a transition; called without the mutex held (logging does I/O). */
static void report(breaker_t *b, breaker_state_t to)
{
    char fields[160];
    snprintf(fields, sizeof fields, "\"breaker\":\"%s\",\"to\":\"%s\"", b->name, breaker_state_name(to));
    log_emit(to == BREAKER_OPEN ? LOG_WARN : LOG_INFO, "breaker", "transition", NULL, fields,
             "circuit breaker %s is now %s", b->name, breaker_state_name(to));
}

#define NO_TRANSITION (-1)

/* OPEN whose interval is over becomes HALF_OPEN. Returns the new state or NO_TRANSITION. */
static int expire_open(breaker_t *b, int64_t now)
{
    if (b->state == BREAKER_OPEN && now >= b->open_until)
        return (int)enter(b, BREAKER_HALF_OPEN, now);
    return NO_TRANSITION;
}

bool breaker_allow(breaker_t *b)
{
    pthread_mutex_lock(&b->mu);
    int64_t now = b->now_ms();
    int moved = expire_open(b, now);
    bool ok;
    switch (b->state) {
    case BREAKER_CLOSED:
        ok = true;
        break;
    case BREAKER_HALF_OPEN:
        ok = b->probes_admitted < b->probes;
        if (ok)
            b->probes_admitted++;
        break;
    default:
        ok = false;
        break;
    }
    pthread_mutex_unlock(&b->mu);
    if (moved != NO_TRANSITION)
        report(b, (breaker_state_t)moved);
    return ok;
}

static bucket_t *current_bucket(breaker_t *b, int64_t sec)
{
    bucket_t *k = &b->buckets[sec % b->window_s];
    if (k->sec != sec) {
        k->sec = sec;
        k->calls = 0;
        k->failures = 0;
    }
    return k;
}

static bool window_trips(const breaker_t *b, int64_t sec)
{
    long calls = 0, failures = 0;
    for (int i = 0; i < b->window_s; i++) {
        const bucket_t *k = &b->buckets[i];
        if (k->sec >= 0 && k->sec > sec - b->window_s && k->sec <= sec) {
            calls += k->calls;
            failures += k->failures;
        }
    }
    return calls >= b->min_calls && (double)failures / (double)calls >= b->failure_rate;
}

static int record_closed(breaker_t *b, bool success, int64_t now)
{
    int64_t sec = now / 1000;
    bucket_t *k = current_bucket(b, sec);
    k->calls++;
    if (!success)
        k->failures++;
    if (window_trips(b, sec))
        return (int)enter(b, BREAKER_OPEN, now);
    return NO_TRANSITION;
}

static int record_half_open(breaker_t *b, bool success, int64_t now)
{
    if (b->probe_outcomes >= b->probes_admitted)
        return NO_TRANSITION; /* a late outcome of a call admitted before the breaker opened */
    b->probe_outcomes++;
    if (success)
        b->probe_successes++;
    if (b->probe_outcomes < b->probes)
        return NO_TRANSITION;
    return (int)enter(b, b->probe_successes >= b->close_successes ? BREAKER_CLOSED : BREAKER_OPEN, now);
}

void breaker_record(breaker_t *b, bool success)
{
    pthread_mutex_lock(&b->mu);
    int64_t now = b->now_ms();
    int moved = NO_TRANSITION;
    switch (b->state) {
    case BREAKER_CLOSED:
        moved = record_closed(b, success, now);
        break;
    case BREAKER_HALF_OPEN:
        moved = record_half_open(b, success, now);
        break;
    case BREAKER_OPEN:
        break; /* calls that started before the breaker opened: not counted */
    }
    pthread_mutex_unlock(&b->mu);
    if (moved != NO_TRANSITION)
        report(b, (breaker_state_t)moved);
}

breaker_state_t breaker_state(breaker_t *b)
{
    pthread_mutex_lock(&b->mu);
    int moved = expire_open(b, b->now_ms());
    breaker_state_t s = b->state;
    pthread_mutex_unlock(&b->mu);
    if (moved != NO_TRANSITION)
        report(b, (breaker_state_t)moved);
    return s;
}
