/*
 * cache.c - level-1 cache (SC-01, see cache.h): one mutex-protected hash map per cache name,
 * threaded on an LRU list, bounded by entry count and by key + value bytes.
 *
 * Layout: entries live in a chained hash table (power-of-two bucket count, doubled as the cache
 * fills, never beyond the next power of two above l1_max) and on a doubly linked LRU list whose
 * head is the most recently used entry. l1_get is a hash lookup plus an LRU splice under the
 * mutex; it never allocates (it runs on every request of the hot path).
 *
 * Expiry: an entry is removed when a lookup finds it past its hard expiry, and every put also
 * sweeps a few buckets (a cursor that walks the whole table over time), so entries nobody asks
 * for again cannot hold memory for ever.
 *
 * Values are immutable and reference counted with C11 atomics; one allocation holds the public
 * header, the reference count and the bytes (plus a NUL). Removed entries are collected while the
 * mutex is held and freed after it is released, so the critical section never calls free().
 * Metrics (cache_requests_total, cache_entries, cache_size_bytes, cache_evictions_total) are
 * optional: with m == NULL every family pointer stays NULL and nothing is recorded.
 */
#include "coord/cache.h"
#include "base/hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define L1_INITIAL_BUCKETS 64 /* small caches (admins: 1 entry) stay small */
#define L1_SWEEP_BUCKETS 4    /* buckets checked for hard-expired entries on each put */

/* ---- values --------------------------------------------------------------------------- */

/* The public header comes first so a cache_val_t * converts to and from the box. */
typedef struct {
    cache_val_t pub;
    atomic_size_t refs;
    unsigned char bytes[];
} val_box_t;

cache_val_t *cache_val_new(const void *data, size_t len, int64_t produced_ms)
{
    if (len > SIZE_MAX - sizeof(val_box_t) - 1)
        return NULL;
    val_box_t *box = malloc(sizeof *box + len + 1);
    if (!box)
        return NULL;
    if (len)
        memcpy(box->bytes, data, len);
    box->bytes[len] = '\0';
    box->pub.len = len;
    box->pub.produced_ms = produced_ms;
    box->pub.data = box->bytes;
    atomic_init(&box->refs, 1);
    return &box->pub;
}

void cache_val_retain(cache_val_t *v)
{
    if (v)
        atomic_fetch_add_explicit(&((val_box_t *)v)->refs, 1, memory_order_relaxed);
}

void cache_val_release(cache_val_t *v)
{
    if (!v)
        return;
    val_box_t *box = (val_box_t *)v;
    /* acq_rel: every earlier use of the value happens before the free on the last release */
    if (atomic_fetch_sub_explicit(&box->refs, 1, memory_order_acq_rel) == 1)
        free(box);
}

/* ---- the cache ------------------------------------------------------------------------ */

typedef struct entry {
    struct entry *hnext;  /* bucket chain */
    struct entry *newer;  /* LRU neighbours: newer towards the head (most recently used) */
    struct entry *older;
    uint64_t hash;
    size_t klen;
    cache_val_t *val;     /* the entry's own reference */
    int64_t soft_ms;
    int64_t hard_ms;
    char key[];
} entry_t;

/* Why an entry left the map; the first four are the reasons of cache_evictions_total. */
typedef enum { GONE_SIZE = 0, GONE_EXPIRED, GONE_INVALIDATED, GONE_CLEARED, GONE_REPLACED, GONE_NREASONS } gone_t;

static const char *const GONE_LABEL[GONE_NREASONS] = {"size", "expired", "invalidated", "cleared", NULL};

/* Entries removed under the mutex, freed and counted after it is released. */
typedef struct {
    entry_t *list; /* chained through hnext */
    size_t count[GONE_NREASONS];
} graveyard_t;

struct l1cache {
    pthread_mutex_t mu;
    cache_def_t def;      /* def.name points at name */
    char *name;
    entry_t **buckets;
    size_t nbuckets;      /* power of two */
    size_t max_buckets;
    entry_t *mru;
    entry_t *lru;
    size_t entries;
    size_t bytes;
    size_t sweep_cursor;
    mfam_t *requests;     /* cache_requests_total{cache,layer,result} */
    mfam_t *entries_g;    /* cache_entries{cache} */
    mfam_t *bytes_g;      /* cache_size_bytes{cache} */
    mfam_t *evictions;    /* cache_evictions_total{cache,reason} */
};

/* FNV-1a: short keys (IGNs, OCIDs, session ids); the entry bound already limits the worst case. */
static uint64_t key_hash(const char *key, size_t len) { return fnv1a64_update(FNV1A64_INIT, key, len); }

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n && p <= SIZE_MAX / 2)
        p <<= 1;
    return p;
}

l1cache_t *l1_new(const cache_def_t *def, metrics_t *m)
{
    if (!def || !def->name)
        return NULL;
    l1cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->name = strdup(def->name);
    c->def = *def;
    c->def.name = c->name;
    c->max_buckets = pow2_at_least(def->l1_max > 8 ? def->l1_max : 8);
    c->nbuckets = c->max_buckets < L1_INITIAL_BUCKETS ? c->max_buckets : L1_INITIAL_BUCKETS;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->name || !c->buckets || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->buckets);
        free(c->name);
        free(c);
        return NULL;
    }
    if (m) {
        c->requests = metrics_counter(m, "cache_requests_total", "Cache lookups by cache, layer and result.",
                                      "cache,layer,result");
        c->entries_g = metrics_gauge(m, "cache_entries", "Entries held in the L1 cache.", "cache");
        c->bytes_g = metrics_gauge(m, "cache_size_bytes", "Key and value bytes held in the L1 cache.", "cache");
        c->evictions = metrics_counter(m, "cache_evictions_total", "Entries removed from the L1 cache, by reason.",
                                       "cache,reason");
        /* the series exist from the start, so dashboards see 0 rather than nothing */
        if (c->entries_g)
            mfam_set(c->entries_g, MX_LV(c->name), 0);
        if (c->bytes_g)
            mfam_set(c->bytes_g, MX_LV(c->name), 0);
    }
    return c;
}

static void free_entry(entry_t *e)
{
    cache_val_release(e->val);
    free(e);
}

void l1_free(l1cache_t *c)
{
    if (!c)
        return;
    for (entry_t *e = c->mru, *next; e; e = next) {
        next = e->older;
        free_entry(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c->buckets);
    free(c->name);
    free(c);
}

const char *l1_name(const l1cache_t *c) { return c->name; }

/* ---- internals (caller holds c->mu) --------------------------------------------------- */

static entry_t *lookup(l1cache_t *c, const char *key, size_t klen, uint64_t hash)
{
    for (entry_t *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    return NULL;
}

static void lru_unlink(l1cache_t *c, entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->mru = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->lru = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_head(l1cache_t *c, entry_t *e)
{
    e->newer = NULL;
    e->older = c->mru;
    if (c->mru)
        c->mru->newer = e;
    else
        c->lru = e;
    c->mru = e;
}

static void lru_touch(l1cache_t *c, entry_t *e)
{
    if (c->mru != e) {
        lru_unlink(c, e);
        lru_push_head(c, e);
    }
}

/* Take e out of the map and the LRU list and hand it to the graveyard. */
static void remove_entry(l1cache_t *c, entry_t *e, gone_t why, graveyard_t *g)
{
    entry_t **link = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*link != e)
        link = &(*link)->hnext;
    *link = e->hnext;
    lru_unlink(c, e);
    c->entries--;
    c->bytes -= e->klen + e->val->len;
    e->hnext = g->list;
    g->list = e;
    g->count[why]++;
}

/* Double the bucket array; on allocation failure the chains just get longer. */
static void maybe_grow(l1cache_t *c)
{
    if (c->entries <= c->nbuckets || c->nbuckets >= c->max_buckets)
        return;
    size_t n = c->nbuckets * 2;
    entry_t **nb = calloc(n, sizeof *nb);
    if (!nb)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        for (entry_t *e = c->buckets[i], *next; e; e = next) {
            next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(c->buckets);
    c->buckets = nb;
    c->nbuckets = n;
}

/* Remove hard-expired entries from the next few buckets of the sweep cursor. */
static void sweep_expired(l1cache_t *c, int64_t now_ms, graveyard_t *g)
{
    for (int i = 0; i < L1_SWEEP_BUCKETS; i++) {
        size_t b = c->sweep_cursor++ & (c->nbuckets - 1);
        for (entry_t *e = c->buckets[b], *next; e; e = next) {
            next = e->hnext;
            if (now_ms >= e->hard_ms)
                remove_entry(c, e, GONE_EXPIRED, g);
        }
    }
}

/* Gauges are set under the mutex so concurrent writers cannot publish them out of order. */
static void publish_gauges(l1cache_t *c)
{
    if (c->entries_g)
        mfam_set(c->entries_g, MX_LV(c->name), (double)c->entries);
    if (c->bytes_g)
        mfam_set(c->bytes_g, MX_LV(c->name), (double)c->bytes);
}

/* After the mutex is released: free what was removed and count the evictions. */
static void bury(l1cache_t *c, graveyard_t *g)
{
    for (entry_t *e = g->list, *next; e; e = next) {
        next = e->hnext;
        free_entry(e);
    }
    if (!c->evictions)
        return;
    for (int r = 0; r < GONE_REPLACED; r++)
        if (g->count[r])
            mfam_add(c->evictions, MX_LV(c->name, GONE_LABEL[r]), (double)g->count[r]);
}

/* ---- public operations ---------------------------------------------------------------- */

cache_hit_t l1_get(l1cache_t *c, const char *key, int64_t now_ms, cache_val_t **out)
{
    *out = NULL;
    size_t klen = strlen(key);
    uint64_t hash = key_hash(key, klen);
    graveyard_t g = {0};
    cache_hit_t hit = CACHE_MISS;

    pthread_mutex_lock(&c->mu);
    entry_t *e = lookup(c, key, klen, hash);
    if (e && now_ms >= e->hard_ms) {
        remove_entry(c, e, GONE_EXPIRED, &g);
        publish_gauges(c);
    } else if (e) {
        hit = now_ms < e->soft_ms ? CACHE_FRESH : CACHE_STALE;
        cache_val_retain(e->val);
        *out = e->val;
        lru_touch(c, e);
    }
    pthread_mutex_unlock(&c->mu);

    if (g.list)
        bury(c, &g);
    if (c->requests) {
        static const char *const RESULT[] = {[CACHE_MISS] = "miss", [CACHE_FRESH] = "hit", [CACHE_STALE] = "stale"};
        mfam_add(c->requests, MX_LV(c->name, "l1", RESULT[hit]), 1);
    }
    return hit;
}

/* Drop the entry for key if there is one (a newer value could not be stored: the old one must
 * not be served in its place). */
static void drop_key(l1cache_t *c, const char *key, size_t klen, gone_t why)
{
    graveyard_t g = {0};
    uint64_t hash = key_hash(key, klen);
    pthread_mutex_lock(&c->mu);
    entry_t *e = lookup(c, key, klen, hash);
    if (e) {
        remove_entry(c, e, why, &g);
        publish_gauges(c);
    }
    pthread_mutex_unlock(&c->mu);
    bury(c, &g);
}

static int64_t add_seconds(int64_t ms, unsigned s)
{
    int64_t add = (int64_t)s * 1000;
    return ms > INT64_MAX - add ? INT64_MAX : ms + add;
}

void l1_put(l1cache_t *c, const char *key, const void *data, size_t len, int64_t produced_ms,
            int64_t now_ms, unsigned ttl_s, cache_val_t **out)
{
    if (out)
        *out = NULL;
    size_t klen = strlen(key);
    if (c->def.l1_max == 0 || len > c->def.max_bytes || klen > c->def.max_bytes - len) {
        drop_key(c, key, klen, GONE_SIZE);
        return;
    }
    cache_val_t *v = cache_val_new(data, len, produced_ms);
    entry_t *e = v ? malloc(sizeof *e + klen + 1) : NULL;
    if (!e) {
        cache_val_release(v);
        drop_key(c, key, klen, GONE_SIZE);
        return;
    }
    memcpy(e->key, key, klen + 1);
    e->klen = klen;
    e->hash = key_hash(key, klen);
    e->val = v;
    e->soft_ms = add_seconds(now_ms, ttl_s ? ttl_s : c->def.l1_ttl_s);
    e->hard_ms = add_seconds(e->soft_ms, c->def.stale_s);
    graveyard_t g = {0};

    pthread_mutex_lock(&c->mu);
    entry_t *old = lookup(c, key, klen, e->hash);
    if (old)
        remove_entry(c, old, GONE_REPLACED, &g);
    size_t b = e->hash & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_push_head(c, e);
    c->entries++;
    c->bytes += klen + len;
    sweep_expired(c, now_ms, &g);
    /* e alone fits both bounds and sits at the head, so eviction from the tail stops before it */
    while (c->entries > c->def.l1_max || c->bytes > c->def.max_bytes)
        remove_entry(c, c->lru, GONE_SIZE, &g);
    maybe_grow(c);
    if (out) {
        cache_val_retain(v);
        *out = v;
    }
    publish_gauges(c);
    pthread_mutex_unlock(&c->mu);

    bury(c, &g);
}

void l1_evict(l1cache_t *c, const char *key) { drop_key(c, key, strlen(key), GONE_INVALIDATED); }

void l1_clear(l1cache_t *c)
{
    graveyard_t g = {0};
    pthread_mutex_lock(&c->mu);
    while (c->lru)
        remove_entry(c, c->lru, GONE_CLEARED, &g);
    publish_gauges(c);
    pthread_mutex_unlock(&c->mu);
    bury(c, &g);
}

size_t l1_entries(l1cache_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->entries;
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t l1_bytes(l1cache_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return n;
}
