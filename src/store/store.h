/*
 * store.h - the primary database behind one interface (platform spec 0.1, section 5).
 *
 * Implementations: SQLite (store_sqlite_open, standalone mode, this issue) and PostgreSQL
 * (a later issue). Business code only sees store_t and never branches on the backend.
 *
 * State: the database is the authority for everything it holds (G1). Timestamps are Unix epoch
 * milliseconds UTC in the API (SQLite stores them as INTEGER; PostgreSQL as TIMESTAMPTZ).
 *
 * Contract:
 *  - Every function returns a store_rc_t. STORE_UNAVAILABLE means the database could not do it
 *    (busy after busy_timeout, I/O error, disk full, closed): the caller takes its degraded path.
 *    STORE_NOT_FOUND is a normal answer. STORE_CORRUPT: stored data failed validation, or the
 *    data given to a write was refused by a schema constraint (nothing of that call committed).
 *  - Output structs own their heap fields; free them with the matching *_clear function.
 *  - Thread-safety: all functions may be called from any thread. SQLite: one writer connection
 *    (all writes serialized, BEGIN IMMEDIATE) and a small pool of reader connections (WAL).
 *  - Durability: a write function returns STORE_OK only after its transaction committed
 *    (SQLite: journal_mode=WAL, synchronous=FULL).
 *  - No function calls the network (G5).
 */
#ifndef MX_STORE_STORE_H
#define MX_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { STORE_OK = 0, STORE_NOT_FOUND, STORE_UNAVAILABLE, STORE_CORRUPT } store_rc_t;

const char *store_rc_name(store_rc_t rc);

/* T02 game_character (strings NULL when the column is NULL). */
typedef struct {
    int64_t id;
    char *user_ign;
    char *ocid;
    char *world_name;
    char *character_class;
    int character_level;        /* 0 when NULL */
    char *character_image;
    int64_t basic_info_updated_ms; /* 0 = never enriched */
    int64_t like_count;
} store_character_t;
void store_character_clear(store_character_t *c);

/* Basic-info enrichment fields (E01). */
typedef struct {
    const char *world_name, *character_class, *character_image; /* NULL allowed */
    int character_level;
} store_basic_t;

/* T03 snapshot. */
typedef struct {
    unsigned char *json_gzip;
    size_t json_gzip_len;
    char content_sha256[65];
    int64_t fetched_ms;
    int64_t updated_ms;
} store_snapshot_t;
void store_snapshot_clear(store_snapshot_t *s);

/* T16 per-preset summary (costs are whole mesos; printed %.0f into TEXT columns). */
typedef struct {
    int preset_no;
    double total, black, red, additional, starforce; /* no flame column: flames are trials, not money (M2) */
} store_preset_summary_t;

/* T15 expectation_view row for reads. */
typedef struct {
    int64_t character_id;
    char *user_ign;
    double total_expected_cost;
    int max_preset_no;
    int64_t calculated_ms;
    unsigned char *body_gzip;
    size_t body_gzip_len;
    char job_id[37];
} store_view_t;
void store_view_clear(store_view_t *v);

/* A derived record for the write-back buffer (SC-17); all pointers borrowed by the store call. */
typedef enum { WB_SNAPSHOT = 1, WB_VIEW = 2 } wb_kind_t;
typedef struct {
    wb_kind_t kind;
    const char *ocid;                 /* both kinds */
    /* WB_SNAPSHOT */
    const unsigned char *json_gzip; size_t json_gzip_len;
    const char *content_sha256;       /* 64 hex */
    int64_t fetched_ms;
    /* WB_VIEW (the character row is created insert-or-ignore by OCID if missing) */
    const char *user_ign;
    double total_expected_cost;
    int max_preset_no;
    int64_t calculated_ms;
    const char *logic_version;
    const char *lookup_checksum;      /* 64 hex */
    const unsigned char *body_gzip; size_t body_gzip_len;
    const char *job_id;               /* NULL allowed */
    const store_preset_summary_t *presets; size_t preset_count;
} wb_record_t;

typedef struct store store_t;

typedef struct {
    store_rc_t (*ping)(store_t *s);
    int (*schema_version)(store_t *s);

    store_rc_t (*character_by_ign)(store_t *s, const char *ign, store_character_t *out);
    store_rc_t (*character_by_ocid)(store_t *s, const char *ocid, store_character_t *out);
    /* INSERT ... ON CONFLICT (ocid) DO NOTHING, then select by OCID. If another row holds the
     * IGN with a different OCID, its user_ign is set to NULL in the same transaction (name moved).
     * If the row exists with another IGN, its user_ign is updated to ign. */
    store_rc_t (*character_upsert)(store_t *s, const char *ocid, const char *ign, store_character_t *out);
    store_rc_t (*character_set_basic)(store_t *s, const char *ocid, const store_basic_t *b, int64_t now_ms);

    store_rc_t (*snapshot_get)(store_t *s, const char *ocid, store_snapshot_t *out);

    /* V5 read model by IGN (the row whose user_ign equals ign). */
    store_rc_t (*view_by_ign)(store_t *s, const char *ign, store_view_t *out);
    store_rc_t (*view_delete_by_ign)(store_t *s, const char *ign);
    /* Rows with calculated_at older than cutoff_ms are deleted; *deleted = count. */
    store_rc_t (*view_purge)(store_t *s, int64_t cutoff_ms, int64_t *deleted);

    /* One transaction applying every record with its ordering guard (snapshots: only replace an
     * older fetched_at; views: only replace an older calculated_at). All or nothing. */
    store_rc_t (*write_batch)(store_t *s, const wb_record_t *recs, size_t n, int64_t now_ms);

    /* Small key/value settings table (generated secrets, M4). value NUL-terminated, truncated to cap. */
    store_rc_t (*meta_get)(store_t *s, const char *key, char *value, size_t cap);
    store_rc_t (*meta_put_if_absent)(store_t *s, const char *key, const char *value);

    /* Shutdown phase 6: checkpoint (SQLite wal_checkpoint(TRUNCATE)) and close everything. */
    void (*close)(store_t *s);
} store_ops_t;

struct store {
    const store_ops_t *ops;
    const char *kind; /* "sqlite" or "postgresql" */
};

/* Opens (creating if needed) the SQLite database at path, applies migrations in one exclusive
 * transaction, and returns the store, or NULL with a message in err. readers: reader connections
 * (1..16). The store does not take the standalone process lock (the caller does, 0.1). */
store_t *store_sqlite_open(const char *path, int readers, char *err, size_t errlen);

/* Changes the SQLite busy_timeout (default 5000 ms, spec 3.1) of every connection of an SQLite store,
 * effective from each connection's next use; ignored for other backends. For tests (a short wait
 * makes "busy -> STORE_UNAVAILABLE" quick to show). Thread-safe. */
void store_sqlite_set_busy_timeout(store_t *s, int ms);

static inline void store_close(store_t *s) { if (s) s->ops->close(s); }

#endif
