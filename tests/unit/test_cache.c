/* test_cache.c - L1 cache (SC-01): hits, soft/stale/hard expiry, LRU bounds by count and bytes,
 * reference counting across eviction, exact accounting, metrics, concurrent use. */
#include "testutil.h"

#include <pthread.h>

#include "coord/cache.h"
#include "ops/metrics.h"

static l1cache_t *new_cache(size_t max_entries, size_t max_bytes, unsigned ttl_s, unsigned stale_s, metrics_t *m)
{
    cache_def_t def = {.name = "testCache", .l1_ttl_s = ttl_s, .l1_max = max_entries,
                       .max_bytes = max_bytes, .stale_s = stale_s};
    l1cache_t *c = l1_new(&def, m);
    assert_non_null(c);
    return c;
}

static void put_str(l1cache_t *c, const char *key, const char *val, int64_t now_ms)
{
    l1_put(c, key, val, strlen(val), 0, now_ms, 0, NULL);
}

/* get + compare + release; returns the hit kind. */
static cache_hit_t get_expect(l1cache_t *c, const char *key, int64_t now_ms, const char *want)
{
    cache_val_t *v = (cache_val_t *)0x1;
    cache_hit_t hit = l1_get(c, key, now_ms, &v);
    if (hit == CACHE_MISS) {
        assert_null(v);
        return hit;
    }
    assert_non_null(v);
    if (want) {
        assert_int_equal(v->len, strlen(want));
        assert_memory_equal(v->data, want, v->len);
        assert_int_equal(v->data[v->len], '\0');
    }
    cache_val_release(v);
    return hit;
}

static void test_hit_and_miss(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(10, 1 << 20, 60, 0, NULL);
    assert_string_equal(l1_name(c), "testCache");
    assert_int_equal(get_expect(c, "a", 0, NULL), CACHE_MISS);
    put_str(c, "a", "alpha", 0);
    put_str(c, "b", "", 0); /* empty values are values */
    assert_int_equal(get_expect(c, "a", 1, "alpha"), CACHE_FRESH);
    assert_int_equal(get_expect(c, "b", 1, ""), CACHE_FRESH);
    assert_int_equal(get_expect(c, "c", 1, NULL), CACHE_MISS);
    put_str(c, "a", "ALPHA2", 2); /* replace */
    assert_int_equal(get_expect(c, "a", 3, "ALPHA2"), CACHE_FRESH);
    assert_int_equal(l1_entries(c), 2);
    l1_free(c);
}

static void test_soft_stale_hard_expiry(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(10, 1 << 20, 10, 5, NULL); /* soft 10 s, hard 15 s */
    put_str(c, "k", "v", 1000);
    assert_int_equal(get_expect(c, "k", 10999, "v"), CACHE_FRESH);
    assert_int_equal(get_expect(c, "k", 11000, "v"), CACHE_STALE);
    assert_int_equal(get_expect(c, "k", 15999, "v"), CACHE_STALE);
    assert_int_equal(l1_entries(c), 1);
    assert_int_equal(get_expect(c, "k", 16000, NULL), CACHE_MISS);
    assert_int_equal(l1_entries(c), 0); /* dropped on access */
    assert_int_equal(l1_bytes(c), 0);

    /* explicit ttl_s overrides the default */
    l1_put(c, "short", "v", 1, 0, 0, 2, NULL);
    assert_int_equal(get_expect(c, "short", 1999, "v"), CACHE_FRESH);
    assert_int_equal(get_expect(c, "short", 2000, "v"), CACHE_STALE);
    assert_int_equal(get_expect(c, "short", 7000, NULL), CACHE_MISS);
    l1_free(c);

    /* stale_s = 0: soft expiry is the hard expiry */
    c = new_cache(10, 1 << 20, 10, 0, NULL);
    put_str(c, "k", "v", 0);
    assert_int_equal(get_expect(c, "k", 9999, "v"), CACHE_FRESH);
    assert_int_equal(get_expect(c, "k", 10000, NULL), CACHE_MISS);
    l1_free(c);
}

static void test_lru_eviction_by_count(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(3, 1 << 20, 60, 0, NULL);
    put_str(c, "a", "1", 0);
    put_str(c, "b", "2", 0);
    put_str(c, "c", "3", 0);
    assert_int_equal(get_expect(c, "a", 1, "1"), CACHE_FRESH); /* a is now most recent */
    put_str(c, "d", "4", 2);                                  /* evicts b, the LRU */
    assert_int_equal(l1_entries(c), 3);
    assert_int_equal(get_expect(c, "b", 3, NULL), CACHE_MISS);
    assert_int_equal(get_expect(c, "c", 3, "3"), CACHE_FRESH);
    put_str(c, "e", "5", 4); /* LRU order now a, d, c, e(new) -> evicts a */
    assert_int_equal(get_expect(c, "a", 5, NULL), CACHE_MISS);
    assert_int_equal(get_expect(c, "d", 5, "4"), CACHE_FRESH);
    assert_int_equal(get_expect(c, "e", 5, "5"), CACHE_FRESH);
    l1_free(c);
}

static void test_lru_eviction_by_bytes(void **state)
{
    (void)state;
    char v30[31];
    memset(v30, 'x', 30);
    v30[30] = '\0';
    l1cache_t *c = new_cache(100, 100, 60, 0, NULL); /* 3 x (1 + 30) = 93 fit, 4 do not */
    put_str(c, "a", v30, 0);
    put_str(c, "b", v30, 0);
    put_str(c, "c", v30, 0);
    assert_int_equal(l1_bytes(c), 93);
    put_str(c, "d", v30, 0);
    assert_int_equal(l1_entries(c), 3);
    assert_int_equal(l1_bytes(c), 93);
    assert_int_equal(get_expect(c, "a", 1, NULL), CACHE_MISS);
    /* one big value pushes out several small ones */
    char v90[91];
    memset(v90, 'y', 90);
    v90[90] = '\0';
    put_str(c, "big", v90, 2);
    assert_int_equal(l1_entries(c), 1);
    assert_int_equal(l1_bytes(c), 93);
    assert_int_equal(get_expect(c, "big", 3, v90), CACHE_FRESH);
    l1_free(c);
}

static void test_oversized_value_not_stored(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(10, 16, 60, 0, NULL);
    cache_val_t *out = (cache_val_t *)0x1;
    l1_put(c, "k", "0123456789abcdef", 16, 0, 0, 0, &out); /* 1 + 16 > 16 */
    assert_null(out);
    assert_int_equal(l1_entries(c), 0);
    assert_int_equal(l1_bytes(c), 0);
    /* a too-large newer value also removes the older one: it must not be served instead */
    put_str(c, "k", "small", 1);
    assert_int_equal(l1_entries(c), 1);
    put_str(c, "k", "0123456789abcdefXYZ", 2);
    assert_int_equal(get_expect(c, "k", 3, NULL), CACHE_MISS);
    assert_int_equal(l1_entries(c), 0);
    assert_int_equal(l1_bytes(c), 0);
    l1_free(c);
}

static void test_refcount_survives_eviction_and_clear(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(1, 1 << 20, 60, 0, NULL);
    cache_val_t *mine = NULL;
    l1_put(c, "a", "first", 5, 1234, 0, 0, &mine);
    assert_non_null(mine);
    assert_int_equal(mine->produced_ms, 1234);
    put_str(c, "b", "second", 1); /* evicts a */
    assert_int_equal(get_expect(c, "a", 2, NULL), CACHE_MISS);
    assert_string_equal((const char *)mine->data, "first"); /* still alive (ASan checks) */
    cache_val_release(mine);

    cache_val_t *got = NULL;
    assert_int_equal(l1_get(c, "b", 2, &got), CACHE_FRESH);
    l1_clear(c);
    assert_int_equal(l1_entries(c), 0);
    assert_string_equal((const char *)got->data, "second");
    cache_val_release(got);

    l1_put(c, "c", "third", 5, 0, 3, 0, &got);
    l1_free(c); /* freeing the cache does not free a value still referenced */
    assert_string_equal((const char *)got->data, "third");
    cache_val_retain(got);
    cache_val_release(got);
    cache_val_release(got);

    cache_val_release(NULL); /* no-op */
    cache_val_t *v = cache_val_new(NULL, 0, 0);
    assert_non_null(v);
    assert_int_equal(v->len, 0);
    assert_int_equal(v->data[0], '\0');
    cache_val_release(v);
}

static void test_evict_clear_and_accounting(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(1000, 1 << 20, 60, 0, NULL);
    size_t want = 0;
    char key[32], val[64];
    for (int i = 0; i < 200; i++) { /* grows the bucket array several times */
        snprintf(key, sizeof key, "key-%d", i);
        snprintf(val, sizeof val, "value-%d-%0*d", i, i % 17, 0);
        put_str(c, key, val, 0);
        want += strlen(key) + strlen(val);
    }
    assert_int_equal(l1_entries(c), 200);
    assert_int_equal(l1_bytes(c), want);
    put_str(c, "key-7", "a-much-longer-value-than-before", 1); /* replace: old bytes out, new in */
    want = want - strlen("value-7-0000000") + strlen("a-much-longer-value-than-before");
    assert_int_equal(l1_bytes(c), want);
    l1_evict(c, "key-7");
    want -= strlen("key-7") + strlen("a-much-longer-value-than-before");
    assert_int_equal(l1_entries(c), 199);
    assert_int_equal(l1_bytes(c), want);
    l1_evict(c, "no-such-key");
    assert_int_equal(l1_entries(c), 199);
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(get_expect(c, key, 2, NULL), i == 7 ? CACHE_MISS : CACHE_FRESH);
    }
    l1_clear(c);
    assert_int_equal(l1_entries(c), 0);
    assert_int_equal(l1_bytes(c), 0);
    put_str(c, "again", "x", 3);
    assert_int_equal(l1_entries(c), 1);
    l1_free(c);
}

static void test_expired_entries_swept_on_put(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    l1cache_t *c = new_cache(1000, 1 << 20, 60, 0, m);
    char key[32];
    for (int i = 0; i < 100; i++) { /* 1 s entries nobody reads again */
        snprintf(key, sizeof key, "old-%d", i);
        l1_put(c, key, "v", 1, 0, 0, 1, NULL);
    }
    for (int i = 0; i < 100; i++) { /* later puts sweep the table a few buckets at a time */
        snprintf(key, sizeof key, "new-%d", i);
        l1_put(c, key, "v", 1, 0, 10000, 0, NULL);
    }
    assert_int_equal(l1_entries(c), 100);
    mfam_t *ev = metrics_counter(m, "cache_evictions_total", "", "cache,reason");
    assert_rel(mfam_get(ev, MX_LV("testCache", "expired")), 100);
    l1_free(c);
    metrics_free(m);
}

static void test_metrics(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_non_null(m);
    l1cache_t *c = new_cache(2, 1 << 20, 10, 10, m);
    put_str(c, "a", "12345", 0);
    put_str(c, "b", "1", 0);
    get_expect(c, "a", 1, NULL);     /* hit */
    get_expect(c, "a", 10000, NULL); /* stale */
    get_expect(c, "z", 1, NULL);     /* miss */
    put_str(c, "c", "1", 2);         /* evicts b by size */
    l1_evict(c, "c");                /* invalidated */
    get_expect(c, "a", 20000, NULL); /* hard-expired: miss + expired */
    put_str(c, "d", "1", 30000);
    l1_clear(c);                     /* cleared */

    mfam_t *req = metrics_counter(m, "cache_requests_total", "", "cache,layer,result");
    mfam_t *ev = metrics_counter(m, "cache_evictions_total", "", "cache,reason");
    mfam_t *ent = metrics_gauge(m, "cache_entries", "", "cache");
    mfam_t *bytes = metrics_gauge(m, "cache_size_bytes", "", "cache");
    assert_rel(mfam_get(req, MX_LV("testCache", "l1", "hit")), 1);
    assert_rel(mfam_get(req, MX_LV("testCache", "l1", "stale")), 1);
    assert_rel(mfam_get(req, MX_LV("testCache", "l1", "miss")), 2);
    assert_rel(mfam_get(ev, MX_LV("testCache", "size")), 1);
    assert_rel(mfam_get(ev, MX_LV("testCache", "invalidated")), 1);
    assert_rel(mfam_get(ev, MX_LV("testCache", "expired")), 1);
    assert_rel(mfam_get(ev, MX_LV("testCache", "cleared")), 1);
    assert_rel(mfam_get(ent, MX_LV("testCache")), 0);
    assert_rel(mfam_get(bytes, MX_LV("testCache")), 0);
    put_str(c, "e", "123", 30001);
    assert_rel(mfam_get(ent, MX_LV("testCache")), 1);
    assert_rel(mfam_get(bytes, MX_LV("testCache")), 4);
    l1_free(c);
    metrics_free(m);
}

/* ---- concurrency -------------------------------------------------------------------- */

#define CONC_THREADS 4
#define CONC_OPS 20000
#define CONC_KEYS 64

typedef struct {
    l1cache_t *c;
    unsigned seed;
    int bad;
} conc_arg_t;

static void *conc_worker(void *p)
{
    conc_arg_t *a = p;
    char key[16], val[64];
    for (int i = 0; i < CONC_OPS; i++) {
        a->seed = a->seed * 1103515245u + 12345u;
        unsigned r = a->seed >> 8;
        int k = (int)(r % CONC_KEYS);
        snprintf(key, sizeof key, "k%d", k);
        if (r & 0x10000) {
            /* value = key + padding of varying length, so a reader can check it belongs */
            int n = snprintf(val, sizeof val, "%s:%.*s", key, (int)(r % 40), "........................................");
            l1_put(a->c, key, val, (size_t)n, 0, i, 0, NULL);
        } else if ((r & 0xff) == 0) {
            l1_evict(a->c, key);
        } else {
            cache_val_t *v = NULL;
            if (l1_get(a->c, key, i, &v) != CACHE_MISS) {
                size_t kl = strlen(key);
                if (v->len < kl + 1 || memcmp(v->data, key, kl) != 0 || v->data[kl] != ':')
                    a->bad++;
                cache_val_release(v);
            }
        }
    }
    return NULL;
}

static void test_concurrent_get_put(void **state)
{
    (void)state;
    l1cache_t *c = new_cache(32, 1200, 60, 0, NULL);
    pthread_t th[CONC_THREADS];
    conc_arg_t args[CONC_THREADS];
    for (int t = 0; t < CONC_THREADS; t++) {
        args[t] = (conc_arg_t){.c = c, .seed = (unsigned)(t * 7919 + 1)};
        assert_int_equal(pthread_create(&th[t], NULL, conc_worker, &args[t]), 0);
    }
    for (int t = 0; t < CONC_THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].bad, 0);
    }
    assert_true(l1_entries(c) <= 32);
    assert_true(l1_bytes(c) <= 1200);
    /* accounting is exact after the storm: recount through the public API */
    size_t bytes = 0, entries = 0;
    for (int k = 0; k < CONC_KEYS; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        cache_val_t *v = NULL;
        if (l1_get(c, key, 0, &v) != CACHE_MISS) {
            entries++;
            bytes += strlen(key) + v->len;
            cache_val_release(v);
        }
    }
    assert_int_equal(l1_entries(c), entries);
    assert_int_equal(l1_bytes(c), bytes);
    l1_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_miss),
        cmocka_unit_test(test_soft_stale_hard_expiry),
        cmocka_unit_test(test_lru_eviction_by_count),
        cmocka_unit_test(test_lru_eviction_by_bytes),
        cmocka_unit_test(test_oversized_value_not_stored),
        cmocka_unit_test(test_refcount_survives_eviction_and_clear),
        cmocka_unit_test(test_evict_clear_and_accounting),
        cmocka_unit_test(test_expired_entries_swept_on_put),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_concurrent_get_put),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
