/*
 * cache.h - level-1 cache (SC-01): bounded per-cache in-memory maps of immutable byte values.
 *
 * State: per instance, in memory; copies only (the authority is the database or the upstream).
 * One l1cache_t per cache name of the catalogue (2.3.1); an undeclared name is a start-up error.
 *
 * Contract:
 *  - Bounded by entry count (def->l1_max) and bytes (def->max_bytes, key + value bytes); least
 *    recently used entries are evicted first (counted cache_evictions_total{reason="size"}).
 *  - Every entry has a soft expiry (put time + TTL) and a hard expiry (soft + def->stale_s).
 *    l1_get returns CACHE_FRESH before soft expiry, CACHE_STALE between soft and hard (the caller
 *    serves it only when its loader failed, SC-38), CACHE_MISS otherwise (the entry is dropped).
 *  - Values are reference counted and immutable: l1_get hands out a reference that stays valid
 *    after eviction until cache_val_release (so a response can be sent zero-copy).
 *  - Thread-safety: all functions may be called from any thread (one mutex per cache).
 *  - Time is passed in (now_ms, monotonic milliseconds) so tests control it.
 */
#ifndef MX_COORD_CACHE_H
#define MX_COORD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "ops/metrics.h"

typedef struct {
    const char *name;     /* catalogue name, e.g. "expectationV4" */
    unsigned l1_ttl_s;    /* soft expiry of an L1 entry */
    size_t l1_max;        /* max entries */
    size_t max_bytes;     /* byte budget (keys + values) */
    unsigned stale_s;     /* stale grace after soft expiry (0 = none) */
} cache_def_t;

typedef struct cache_val {
    /* read-only for users */
    size_t len;
    int64_t produced_ms;  /* when the value was produced (wall clock ms, informational) */
    unsigned char *data;  /* len bytes (plus a NUL terminator, not counted) */
} cache_val_t;

typedef enum { CACHE_MISS = 0, CACHE_FRESH, CACHE_STALE } cache_hit_t;

typedef struct l1cache l1cache_t;

/* m may be NULL (no metrics). def is copied. */
l1cache_t *l1_new(const cache_def_t *def, metrics_t *m);
void l1_free(l1cache_t *c);
const char *l1_name(const l1cache_t *c);

/* On FRESH/STALE *out holds a new reference; release it with cache_val_release. */
cache_hit_t l1_get(l1cache_t *c, const char *key, int64_t now_ms, cache_val_t **out);

/* Copies data. ttl_s = 0 uses def->l1_ttl_s. A value larger than the byte budget is not stored.
 * Returns a new reference to the stored value (or NULL if not stored / no memory) so the
 * caller can use it without copying; pass out=NULL if not needed. */
void l1_put(l1cache_t *c, const char *key, const void *data, size_t len, int64_t produced_ms,
            int64_t now_ms, unsigned ttl_s, cache_val_t **out);

void l1_evict(l1cache_t *c, const char *key);
void l1_clear(l1cache_t *c);
size_t l1_entries(l1cache_t *c);
size_t l1_bytes(l1cache_t *c);

/* Reference counting of values (thread-safe, atomic). */
cache_val_t *cache_val_new(const void *data, size_t len, int64_t produced_ms);
void cache_val_retain(cache_val_t *v);
void cache_val_release(cache_val_t *v);

#endif
