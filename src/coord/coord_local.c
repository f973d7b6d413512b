/*
 * coord_local.c - the in-process (standalone) implementation of coord.h: leases with owner tokens
 * and fencing tokens (SC-05), markers with expiry (SC-22) and the bounded V5 priority queue
 * (SC-21). Everything lives in this process's memory and is lost on restart (the documented
 * standalone behaviour).
 *
 * Locking: one mutex for leases and markers (short operations), one mutex plus a condition
 * variable for the queue (takers block on it). Time is the monotonic clock.
 *
 * Leases: a lease record is kept after release so its fence counter keeps increasing across
 * acquisitions; lease names are a fixed set chosen by the code, so the records stay few. An
 * expired lease is lost: renew and release answer COORD_ABSENT even if nobody took it since, the
 * same answer the Redis form gives once the key has expired.
 *
 * Markers: expired markers are removed when touched; when the map is full, expired ones are
 * purged before refusing. The earliest expiry seen is remembered so a full map of live markers
 * refuses in O(1) instead of rescanning on every insert.
 *
 * Queue: two FIFO lists (HIGH, LOW). After queue_close, takes answer COORD_ABSENT at once and
 * offers are refused with COORD_UNAVAILABLE (shutdown refuses new background work, M6); queued
 * jobs stay counted by queue_depth and are freed by destroy.
 */
#include "coord/coord.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/clock.h"
#include "base/strmap.h"

#define DEFAULT_QUEUE_TOTAL_CAP 10000
#define DEFAULT_QUEUE_HIGH_CAP 1000
#define DEFAULT_MAX_MARKERS 100000
#define MAP_INITIAL_BUCKETS 64

const char *coord_rc_name(coord_rc_t rc)
{
    switch (rc) {
    case COORD_OK: return "ok";
    case COORD_BUSY: return "busy";
    case COORD_EXISTS: return "exists";
    case COORD_ABSENT: return "absent";
    case COORD_FULL: return "full";
    case COORD_UNAVAILABLE: return "unavailable";
    }
    return "unknown";
}

/* ---- state ---------------------------------------------------------------------------- */

typedef struct {
    strmap_node_t node;      /* key = lease name */
    bool held;
    char owner[LEASE_OWNER_MAX];
    int64_t expires_ms;
    uint64_t fence;   /* last fencing token handed out; survives release */
} lease_rec_t;

typedef struct {
    strmap_node_t node;      /* key = marker key */
    char *value;
    int64_t expires_ms;
} marker_t;

typedef struct {
    strmap_node_t node;      /* key = bucket key */
    double tokens;
    int64_t updated_ms;
    int64_t full_ms;  /* when the bucket is full again if untouched (it may then be forgotten) */
} bucket_t;

typedef struct {
    strmap_node_t node;      /* key = IGN */
    int64_t count;
} popular_t;

typedef struct job_node {
    struct job_node *next;
    calc_job_t job;
} job_node_t;

typedef struct {
    job_node_t *head;
    job_node_t *tail;
    size_t depth;
} job_fifo_t;

typedef struct {
    coord_t base;            /* first: coord_t * converts to coord_local_t * */
    pthread_mutex_t mu;      /* leases and markers */
    strmap_t leases;
    strmap_t markers;
    size_t max_markers;
    int64_t earliest_expiry; /* no marker expires before this (a lower bound, see purge) */
    pthread_mutex_t qmu;     /* the queue */
    pthread_cond_t qcv;
    job_fifo_t fifo[2];      /* indexed by job_prio_t */
    size_t total_cap;
    size_t high_cap;
    bool closed;
    pthread_mutex_t pmu;     /* popularity counts of one day */
    strmap_t popular;
    char popular_day[16];
    size_t max_popular;
    pthread_mutex_t bmu;     /* token buckets */
    strmap_t buckets;
    size_t max_buckets;
} coord_local_t;

static coord_local_t *local_of(coord_t *c) { return (coord_local_t *)c; }

static int64_t expiry_after(int64_t now_ms, int64_t ttl_ms)
{
    if (ttl_ms < 1)
        ttl_ms = 1; /* a lease or marker always lives a little: never "already expired" */
    return now_ms > INT64_MAX - ttl_ms ? INT64_MAX : now_ms + ttl_ms;
}

/* ---- leases --------------------------------------------------------------------------- */

/* 128 random bits in hex; getrandom is thread-safe and needs no state of ours. */
static bool random_token(char out[LEASE_OWNER_MAX])
{
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    static const char HEX[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = HEX[raw[i] >> 4];
        out[2 * i + 1] = HEX[raw[i] & 15];
    }
    out[2 * sizeof raw] = '\0';
    return true;
}

static lease_rec_t *lease_find(coord_local_t *c, const char *name)
{
    return (lease_rec_t *)strmap_find(&c->leases, name);
}

static coord_rc_t local_lease_acquire(coord_t *base, const char *name, int64_t ttl_ms, lease_t *out)
{
    coord_local_t *c = local_of(base);
    char owner[LEASE_OWNER_MAX];
    if (!random_token(owner))
        return COORD_UNAVAILABLE;
    int64_t now = clock_mono_ms();
    coord_rc_t rc = COORD_OK;
    pthread_mutex_lock(&c->mu);
    lease_rec_t *l = lease_find(c, name);
    if (!l) {
        l = calloc(1, sizeof *l);
        char *key = l ? strdup(name) : NULL;
        if (!key) {
            free(l);
            rc = COORD_UNAVAILABLE;
            goto out;
        }
        l->node.key = key;
        strmap_insert(&c->leases, &l->node);
    }
    if (l->held && now < l->expires_ms) {
        rc = COORD_BUSY;
        goto out;
    }
    l->held = true;
    memcpy(l->owner, owner, sizeof owner);
    l->expires_ms = expiry_after(now, ttl_ms);
    l->fence++;
    memcpy(out->owner, owner, sizeof owner);
    out->fence = l->fence;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* The live record held by this lease, or NULL (never held, released, expired, taken over). */
static lease_rec_t *lease_held_by(coord_local_t *c, const char *name, const lease_t *mine, int64_t now)
{
    lease_rec_t *l = lease_find(c, name);
    if (!l || !l->held || now >= l->expires_ms)
        return NULL;
    if (l->fence != mine->fence || strncmp(l->owner, mine->owner, LEASE_OWNER_MAX) != 0)
        return NULL;
    return l;
}

static coord_rc_t local_lease_renew(coord_t *base, const char *name, const lease_t *mine, int64_t ttl_ms)
{
    coord_local_t *c = local_of(base);
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&c->mu);
    lease_rec_t *l = lease_held_by(c, name, mine, now);
    if (l)
        l->expires_ms = expiry_after(now, ttl_ms);
    pthread_mutex_unlock(&c->mu);
    return l ? COORD_OK : COORD_ABSENT;
}

static coord_rc_t local_lease_release(coord_t *base, const char *name, const lease_t *mine)
{
    coord_local_t *c = local_of(base);
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&c->mu);
    lease_rec_t *l = lease_held_by(c, name, mine, now);
    if (l) {
        l->held = false;
        l->owner[0] = '\0';
    }
    pthread_mutex_unlock(&c->mu);
    return l ? COORD_OK : COORD_ABSENT;
}

/* ---- markers -------------------------------------------------------------------------- */

static void marker_free(marker_t *mk)
{
    free((char *)mk->node.key);
    free(mk->value);
    free(mk);
}

static void marker_remove(coord_local_t *c, marker_t *mk)
{
    strmap_remove(&c->markers, &mk->node);
    marker_free(mk);
}

/* The live marker for key; an expired one is removed on the way. */
static marker_t *marker_live(coord_local_t *c, const char *key, int64_t now)
{
    marker_t *mk = (marker_t *)strmap_find(&c->markers, key);
    if (mk && now >= mk->expires_ms) {
        marker_remove(c, mk);
        return NULL;
    }
    return mk;
}

/* Remove every expired marker and recompute the earliest remaining expiry. */
static void marker_purge(coord_local_t *c, int64_t now)
{
    int64_t earliest = INT64_MAX;
    strmap_t *m = &c->markers;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (strmap_node_t *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            marker_t *mk = (marker_t *)n;
            if (now >= mk->expires_ms)
                marker_remove(c, mk);
            else if (mk->expires_ms < earliest)
                earliest = mk->expires_ms;
        }
    }
    c->earliest_expiry = earliest;
}

/* Room for one more marker? Purges only when something can have expired since the last purge. */
static bool marker_room(coord_local_t *c, int64_t now)
{
    if (c->markers.count < c->max_markers)
        return true;
    if (now >= c->earliest_expiry)
        marker_purge(c, now);
    return c->markers.count < c->max_markers;
}

/* Set key = value until now + ttl_ms; nx: refuse with COORD_EXISTS if a live marker exists. */
static coord_rc_t marker_store(coord_t *base, const char *key, const char *value, int64_t ttl_ms, bool nx)
{
    coord_local_t *c = local_of(base);
    int64_t now = clock_mono_ms();
    int64_t expires = expiry_after(now, ttl_ms);
    char *copy = strdup(value ? value : "");
    if (!copy)
        return COORD_UNAVAILABLE;
    coord_rc_t rc = COORD_OK;
    pthread_mutex_lock(&c->mu);
    marker_t *mk = marker_live(c, key, now);
    if (mk && nx) {
        rc = COORD_EXISTS;
    } else if (mk) {
        free(mk->value);
        mk->value = copy;
        copy = NULL;
        mk->expires_ms = expires;
    } else if (!marker_room(c, now)) {
        rc = COORD_UNAVAILABLE;
    } else {
        mk = calloc(1, sizeof *mk);
        char *k = mk ? strdup(key) : NULL;
        if (!k) {
            free(mk);
            rc = COORD_UNAVAILABLE;
        } else {
            mk->node.key = k;
            mk->value = copy;
            copy = NULL;
            mk->expires_ms = expires;
            strmap_insert(&c->markers, &mk->node);
        }
    }
    if (rc == COORD_OK && expires < c->earliest_expiry)
        c->earliest_expiry = expires;
    pthread_mutex_unlock(&c->mu);
    free(copy);
    return rc;
}

static coord_rc_t local_marker_set_nx(coord_t *c, const char *key, const char *value, int64_t ttl_ms)
{
    return marker_store(c, key, value, ttl_ms, true);
}

static coord_rc_t local_marker_set(coord_t *c, const char *key, const char *value, int64_t ttl_ms)
{
    return marker_store(c, key, value, ttl_ms, false);
}

/* value may be NULL (or cap 0) to ask only whether a live marker exists. */
static coord_rc_t local_marker_get(coord_t *base, const char *key, char *value, size_t cap)
{
    coord_local_t *c = local_of(base);
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&c->mu);
    marker_t *mk = marker_live(c, key, now);
    if (mk && value && cap > 0)
        snprintf(value, cap, "%s", mk->value);
    pthread_mutex_unlock(&c->mu);
    return mk ? COORD_OK : COORD_ABSENT;
}

/* COORD_OK when a live marker was deleted, COORD_ABSENT when there was none. */
static coord_rc_t local_marker_del(coord_t *base, const char *key)
{
    coord_local_t *c = local_of(base);
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&c->mu);
    marker_t *mk = marker_live(c, key, now);
    if (mk)
        marker_remove(c, mk);
    pthread_mutex_unlock(&c->mu);
    return mk ? COORD_OK : COORD_ABSENT;
}

/* ---- queue ---------------------------------------------------------------------------- */

static job_prio_t prio_index(job_prio_t p) { return p == PRIO_HIGH ? PRIO_HIGH : PRIO_LOW; }

static coord_rc_t local_queue_offer(coord_t *base, const calc_job_t *job)
{
    coord_local_t *c = local_of(base);
    job_node_t *n = malloc(sizeof *n);
    if (!n)
        return COORD_UNAVAILABLE;
    n->next = NULL;
    n->job = *job;
    job_prio_t p = prio_index(job->prio);
    coord_rc_t rc = COORD_OK;
    pthread_mutex_lock(&c->qmu);
    size_t total = c->fifo[PRIO_HIGH].depth + c->fifo[PRIO_LOW].depth;
    if (c->closed)
        rc = COORD_UNAVAILABLE;
    else if (total >= c->total_cap || (p == PRIO_HIGH && c->fifo[PRIO_HIGH].depth >= c->high_cap))
        rc = COORD_FULL;
    if (rc == COORD_OK) {
        job_fifo_t *q = &c->fifo[p];
        if (q->tail)
            q->tail->next = n;
        else
            q->head = n;
        q->tail = n;
        q->depth++;
        n = NULL;
        /* broadcast: HIGH-only takers may be waiting next to takers that accept LOW */
        pthread_cond_broadcast(&c->qcv);
    }
    pthread_mutex_unlock(&c->qmu);
    free(n);
    return rc;
}

/* Pop the next job a taker may have (HIGH first); NULL if none. Caller holds qmu. */
static job_node_t *queue_pop(coord_local_t *c, bool high_only)
{
    job_fifo_t *q = &c->fifo[PRIO_HIGH];
    if (!q->head && !high_only)
        q = &c->fifo[PRIO_LOW];
    job_node_t *n = q->head;
    if (n) {
        q->head = n->next;
        if (!q->head)
            q->tail = NULL;
        q->depth--;
    }
    return n;
}

static coord_rc_t local_queue_take(coord_t *base, bool high_only, int64_t wait_ms, calc_job_t *out)
{
    coord_local_t *c = local_of(base);
    struct timespec deadline = clock_after_ms(CLOCK_MONOTONIC, wait_ms);
    job_node_t *n = NULL;
    int rc = 0;
    pthread_mutex_lock(&c->qmu);
    while (!c->closed && !(n = queue_pop(c, high_only)) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->qcv, &c->qmu, &deadline);
    pthread_mutex_unlock(&c->qmu);
    if (!n)
        return COORD_ABSENT;
    *out = n->job;
    free(n);
    return COORD_OK;
}

static coord_rc_t local_queue_ack(coord_t *c, const calc_job_t *job)
{
    (void)c;
    (void)job;
    return COORD_OK; /* a taken job left the queue already */
}

static size_t local_queue_depth(coord_t *base, job_prio_t prio)
{
    coord_local_t *c = local_of(base);
    pthread_mutex_lock(&c->qmu);
    size_t n = c->fifo[prio_index(prio)].depth;
    pthread_mutex_unlock(&c->qmu);
    return n;
}

static void local_queue_close(coord_t *base)
{
    coord_local_t *c = local_of(base);
    pthread_mutex_lock(&c->qmu);
    c->closed = true;
    pthread_cond_broadcast(&c->qcv);
    pthread_mutex_unlock(&c->qmu);
}

/* ---- lifecycle ------------------------------------------------------------------------ */


static void free_lease_node(strmap_node_t *n)
{
    free((char *)n->key);
    free(n);
}

static void free_marker_node(strmap_node_t *n) { marker_free((marker_t *)n); }

/* ---- token buckets (SC-08, standalone form) --------------------------------------------- */

/* A bucket that would be full again is equivalent to no bucket: forget those when the map is full. */
static void forget_full_buckets(coord_local_t *c, int64_t now)
{
    for (size_t i = 0; i < c->buckets.nbuckets; i++) {
        for (strmap_node_t *n = c->buckets.buckets[i], *next; n; n = next) {
            next = n->next;
            if (((bucket_t *)n)->full_ms <= now) {
                strmap_remove(&c->buckets, n);
                free((char *)n->key);
                free(n);
            }
        }
    }
}

static bucket_t *bucket_get(coord_local_t *c, const char *key, int capacity, int64_t now)
{
    bucket_t *b = (bucket_t *)strmap_find(&c->buckets, key);
    if (b)
        return b;
    if (c->buckets.count >= c->max_buckets)
        forget_full_buckets(c, now);
    if (c->buckets.count >= c->max_buckets)
        return NULL;
    b = calloc(1, sizeof *b);
    if (!b || !(b->node.key = strdup(key))) {
        free(b);
        return NULL;
    }
    b->tokens = capacity;
    b->updated_ms = now;
    strmap_insert(&c->buckets, &b->node);
    return b;
}

static coord_rc_t local_rate_take(coord_t *base, const char *key, int capacity, int refill, int64_t period_ms,
                                  int64_t *remaining, int64_t *retry_after_ms)
{
    coord_local_t *c = local_of(base);
    int64_t now = clock_mono_ms();
    double per_ms = period_ms > 0 ? (double)refill / (double)period_ms : 0;
    pthread_mutex_lock(&c->bmu);
    bucket_t *b = bucket_get(c, key, capacity, now);
    if (!b) {
        pthread_mutex_unlock(&c->bmu);
        return COORD_UNAVAILABLE;
    }
    b->tokens += (double)(now - b->updated_ms) * per_ms;
    if (b->tokens > capacity)
        b->tokens = capacity;
    b->updated_ms = now;
    coord_rc_t rc = COORD_BUSY;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        rc = COORD_OK;
    }
    *remaining = (int64_t)b->tokens;
    *retry_after_ms = rc == COORD_OK || per_ms <= 0 ? 0 : (int64_t)((1 - b->tokens) / per_ms) + 1;
    b->full_ms = per_ms > 0 ? now + (int64_t)((capacity - b->tokens) / per_ms) + 1 : INT64_MAX;
    pthread_mutex_unlock(&c->bmu);
    return rc;
}

/* ---- popularity (SC-24, standalone form) --------------------------------------------------- */

static void free_popular_node(strmap_node_t *n)
{
    free((char *)n->key);
    free(n);
}


static coord_rc_t local_popularity_incr(coord_t *base, const char *day, const char *ign)
{
    coord_local_t *c = local_of(base);
    coord_rc_t rc = COORD_OK;
    pthread_mutex_lock(&c->pmu);
    if (strcmp(c->popular_day, day) != 0) { /* a new day: yesterday's counts are not kept */
        strmap_clear(&c->popular, free_popular_node);
        snprintf(c->popular_day, sizeof c->popular_day, "%s", day);
    }
    popular_t *p = (popular_t *)strmap_find(&c->popular, ign);
    if (p) {
        p->count++;
    } else if (c->popular.count >= c->max_popular) {
        rc = COORD_FULL;
    } else if ((p = calloc(1, sizeof *p)) && (p->node.key = strdup(ign))) {
        p->count = 1;
        strmap_insert(&c->popular, &p->node);
    } else {
        free(p);
        rc = COORD_UNAVAILABLE;
    }
    pthread_mutex_unlock(&c->pmu);
    return rc;
}

static coord_rc_t local_popularity_get(coord_t *base, const char *day, const char *ign, int64_t *count)
{
    coord_local_t *c = local_of(base);
    pthread_mutex_lock(&c->pmu);
    popular_t *p = strcmp(c->popular_day, day) == 0 ? (popular_t *)strmap_find(&c->popular, ign) : NULL;
    *count = p ? p->count : 0;
    pthread_mutex_unlock(&c->pmu);
    return COORD_OK;
}

static void free_bucket_node(strmap_node_t *n)
{
    free((char *)n->key);
    free(n);
}

/* Callers stop every taker (queue_close, join) before destroying. */
static void local_destroy(coord_t *base)
{
    coord_local_t *c = local_of(base);
    strmap_dispose(&c->leases, free_lease_node);
    strmap_dispose(&c->markers, free_marker_node);
    strmap_dispose(&c->buckets, free_bucket_node);
    strmap_dispose(&c->popular, free_popular_node);
    pthread_mutex_destroy(&c->pmu);
    pthread_mutex_destroy(&c->bmu);
    for (int p = 0; p < 2; p++) {
        for (job_node_t *n = c->fifo[p].head, *next; n; n = next) {
            next = n->next;
            free(n);
        }
    }
    pthread_cond_destroy(&c->qcv);
    pthread_mutex_destroy(&c->qmu);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static const coord_ops_t LOCAL_OPS = {
    .lease_acquire = local_lease_acquire,
    .lease_renew = local_lease_renew,
    .lease_release = local_lease_release,
    .marker_set_nx = local_marker_set_nx,
    .marker_set = local_marker_set,
    .marker_get = local_marker_get,
    .marker_del = local_marker_del,
    .queue_offer = local_queue_offer,
    .queue_take = local_queue_take,
    .queue_ack = local_queue_ack,
    .queue_depth = local_queue_depth,
    .queue_close = local_queue_close,
    .rate_take = local_rate_take,
    .popularity_incr = local_popularity_incr,
    .popularity_get = local_popularity_get,
    .destroy = local_destroy,
};

/* opts may be NULL; a zero field takes its default (10000 / 1000 / 100000). */
coord_t *coord_local_new(const coord_local_opts_t *opts)
{
    coord_local_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base.ops = &LOCAL_OPS;
    c->base.kind = "local";
    c->total_cap = opts && opts->queue_total_cap ? opts->queue_total_cap : DEFAULT_QUEUE_TOTAL_CAP;
    c->high_cap = opts && opts->queue_high_cap ? opts->queue_high_cap : DEFAULT_QUEUE_HIGH_CAP;
    c->max_markers = opts && opts->max_markers ? opts->max_markers : DEFAULT_MAX_MARKERS;
    c->earliest_expiry = INT64_MAX;
    c->max_buckets = opts && opts->max_buckets ? opts->max_buckets : 100000;
    c->max_popular = opts && opts->max_popular ? opts->max_popular : 100000;

    pthread_condattr_t attr;
    bool cv_ok = pthread_condattr_init(&attr) == 0;
    if (cv_ok) {
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        cv_ok = pthread_cond_init(&c->qcv, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    bool maps_ok = strmap_init(&c->leases, MAP_INITIAL_BUCKETS) & strmap_init(&c->markers, MAP_INITIAL_BUCKETS) & strmap_init(&c->buckets, MAP_INITIAL_BUCKETS) &
                   strmap_init(&c->popular, MAP_INITIAL_BUCKETS);
    if (!cv_ok || !maps_ok || pthread_mutex_init(&c->mu, NULL) != 0 || pthread_mutex_init(&c->qmu, NULL) != 0 ||
        pthread_mutex_init(&c->bmu, NULL) != 0 || pthread_mutex_init(&c->pmu, NULL) != 0) {
        /* init failures of mutexes and condvars do not happen on Linux; memory is the real case */
        free(c->leases.buckets);
        free(c->markers.buckets);
        free(c->buckets.buckets);
        free(c->popular.buckets);
        if (cv_ok)
            pthread_cond_destroy(&c->qcv);
        free(c);
        return NULL;
    }
    return &c->base;
}
