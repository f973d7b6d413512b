/*
 * app.h - the application service: character resolution and expectation computation, shared by
 * the HTTP handlers (http/) and the V5 workers (jobs/). Mode-agnostic: it only sees store_t,
 * coord_t, the caches and the upstream client through their interfaces.
 *
 * Threading: the app_* operations below BLOCK (database, upstream) and run on worker threads
 * (the compute pool, V5 workers), never on an event-loop thread. The app_t itself is built once
 * by main and shared read-only; every component it points to is thread-safe.
 *
 * Errors: app_rc_t, mapped to HTTP codes by http/ (app_rc_http): NOT_FOUND -> 404 C002,
 * UPSTREAM_FAILED -> 503 S005, UPSTREAM_TIMEOUT -> 503 S010, UNAVAILABLE -> 503 S007,
 * OVERLOADED -> 503 S007 (Retry-After 60), CORRUPT -> 500 S004, INTERNAL -> 500 S001.
 */
#ifndef MX_APP_APP_H
#define MX_APP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/cache.h"
#include "coord/coord.h"
#include "coord/singleflight.h"
#include "domain/ptable.h"
#include "jobs/pool.h"
#include "jobs/writeback.h"
#include "ops/config.h"
#include "ops/lifecycle.h"
#include "ops/metrics.h"
#include "store/store.h"
#include "upstream/nexon.h"

#define APP_LOGIC_VERSION "c-1"

typedef enum {
    APP_OK = 0,
    APP_NOT_FOUND,
    APP_UPSTREAM_FAILED,
    APP_UPSTREAM_TIMEOUT,
    APP_UNAVAILABLE,
    APP_OVERLOADED,
    APP_CORRUPT,
    APP_INTERNAL,
} app_rc_t;

const char *app_rc_name(app_rc_t rc);

typedef struct {
    const config_t *cfg;
    metrics_t *metrics;
    lifecycle_t *lc;
    store_t *store;
    coord_t *coord;
    nexon_t *nexon;
    ptable_t *tables;
    char tables_sha256[65];
    char instance_id[64];
    char jwt_secret[512];          /* resolved at start (env, or generated and stored: M4) */
    char fingerprint_secret[512];
    int64_t started_wall_ms;

    l1cache_t *c_ocid, *c_ocid_negative, *c_basic, *c_equipment, *c_expectation;
    sf_t *sf_ocid, *sf_basic, *sf_equipment, *sf_expectation;
    pool_t *compute;
    writeback_t *wb;
    struct alerts *alerts;

    mfam_t *m_computations, *m_computation_seconds, *m_cooldown_hits, *m_outbox_enqueued;
} app_t;

/* ---- tables (SC-33) ------------------------------------------------------------------- */
/* Loads both CSVs of dir, validates them, computes their SHA-256 (hex). NULL + err on failure. */
ptable_t *app_load_tables(const char *dir, char sha256_hex[65], char *err, size_t errlen);

/* ---- characters (E01) ----------------------------------------------------------------- */
typedef struct {
    char ocid[80];
    char *world_name, *character_class, *character_image; /* owned, NULL when unknown */
    int character_level;
    int64_t like_count;
    bool stale;      /* some data came from past its freshness window (X-Data-Stale) */
} app_character_t;
void app_character_clear(app_character_t *c);

/* Resolve an IGN (trimmed, validated) to its OCID and character row (creating the row), then
 * enrich it from /character/basic when enrich is set and the fields are missing or old. */
app_rc_t app_resolve_character(app_t *a, const char *ign, bool enrich, int64_t deadline_ms, app_character_t *out);

/* ---- expectation (E02-E06) ------------------------------------------------------------ */
/* The cached form of a computation: one value holding the gzip bytes of four V4 JSON views in
 * their cached form (fromCache: true): part 0 = full view, parts 1..3 = preset-only views. */
#define BUNDLE_PARTS 4
bool bundle_part(const cache_val_t *b, int part, const unsigned char **data, size_t *len);
bool bundle_stale(const cache_val_t *b);

/* Compute (or, for force=false, first look up) the expectation of ign. On APP_OK *bundle holds
 * a reference the caller releases. trigger: "v4", "v4_force", "v5" (metrics). Writes L1 and
 * offers the V5 view and the equipment snapshot to the write-back buffer. On an upstream
 * failure it falls back to stale data (bundle_stale() then true). */
app_rc_t app_compute_expectation(app_t *a, const char *ign, bool force, int64_t deadline_ms, const char *trigger,
                                 cache_val_t **bundle);

/* The same, coalesced with every other computation of ign through sf_expectation (blocking
 * form, for V5 workers). *led tells whether this call computed it. */
app_rc_t app_expectation_coalesced(app_t *a, const char *ign, bool force, int64_t deadline_ms, const char *trigger,
                                   cache_val_t **bundle, bool *led);

/* SC-19 replay: performs the call of an upstream outbox row (GET_OCID: payload IGN;
 * GET_CHARACTER_BASIC / GET_ITEM_DATA: payload OCID) without the enqueue-on-failure path, and
 * stores its result where a normal fetch would (caches, character row, snapshot). Returns the
 * upstream client's answer. */
up_rc_t app_refetch(app_t *a, const char *event_type, const char *payload, int64_t deadline_ms);

/* Writes the V4 date-time of now in the service timezone ("2026-02-16T12:00:00.123456"). */
void app_local_datetime(char out[40]);
/* Today's calendar day in the service timezone ("2026-02-16"). */
void app_local_day(char out[16]);
/* RFC 3339 UTC with milliseconds of a wall-clock ms value ("2026-02-16T03:00:00.123Z"). */
void app_utc_rfc3339(int64_t wall_ms, char out[40]);

#endif
