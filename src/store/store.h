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


/* ---- accounts, likes, donations, outboxes, leases (issue 4) ----------------------------- */

/* T06 */
typedef struct {
    int64_t id;
    char fingerprint[65];
    int64_t point;
} store_member_t;

/* T09; my_ocids_json is the JSON array text as stored. */
typedef struct {
    char id[37];
    char fingerprint[65];
    char *user_ign;
    char account_id[65];
    char *my_ocids_json;
    char role[8];               /* "USER" / "ADMIN" (informational; role is re-evaluated per request) */
    int64_t created_ms, last_accessed_ms, expires_ms;
} store_session_t;
void store_session_clear(store_session_t *s);

/* Refresh rotation outcome (2.3.10 / E12). */
typedef enum {
    REFRESH_ROTATED = 0,        /* old token marked used, new token inserted, session touched */
    REFRESH_UNKNOWN,            /* A010 */
    REFRESH_EXPIRED,            /* A011 (the expired token was deleted) */
    REFRESH_REUSED,             /* A012 (family and its session deleted) */
    REFRESH_SESSION_GONE,       /* A013 (the session's tokens deleted) */
} refresh_rc_t;

/* Donation outcome (E15, SC-14, SC-28). */
typedef enum {
    DONATION_DONE = 0,          /* committed now */
    DONATION_REPLAYED,          /* same (sender, request_id) and same hash already committed: nothing moved */
    DONATION_KEY_CONFLICT,      /* same key, different hash: I001 */
    DONATION_NOT_ADMIN,         /* receiver is neither bootstrap nor runtime admin: A007 */
    DONATION_SENDER_MISSING,    /* A009 */
    DONATION_INSUFFICIENT,      /* C003; *balance_out holds the sender's balance */
    DONATION_ADMIN_MEMBER_MISSING, /* A008 */
} donation_rc_t;

typedef struct {
    const char *sender_fp, *receiver_fp;
    bool receiver_is_bootstrap_admin; /* the caller knows the bootstrap list; runtime admins are checked in the transaction */
    const char *request_id, *request_hash; /* Idempotency-Key (or generated UUID), SHA-256 hex of "fp|amount" */
    int64_t amount;
    const char *origin_request_id;    /* correlation id */
} store_donation_t;

typedef enum { OUTBOX_DONATION = 0, OUTBOX_UPSTREAM = 1 } outbox_queue_t;

/* A claimed outbox row (T11/T12). */
typedef struct {
    int64_t id;
    char request_id[101];
    char event_type[51];
    char *payload;
    char content_hash[65];
    int64_t claim_token;
    int retry_count, max_retries;
    char origin_request_id[65];
} store_outbox_row_t;
void store_outbox_rows_free(store_outbox_row_t *rows, size_t n);

typedef struct {
    int64_t pending, processing, completed, failed, dead_letter;
} store_outbox_counts_t;

/* T13/T14 */
typedef struct {
    int64_t id, original_outbox_id;
    char request_id[101];
    char event_type[51];
    char *payload;
    char *failure_reason;       /* may be NULL */
    int64_t moved_ms;
} store_dlq_row_t;
void store_dlq_rows_free(store_dlq_row_t *rows, size_t n);
/* Frees the heap fields of one row (e.g. dlq_get's out) and zeroes it; the row itself is not freed. */
void store_dlq_row_clear(store_dlq_row_t *r);

typedef enum { OUTBOX_FINAL_OK = 0, OUTBOX_FINAL_RETRY, OUTBOX_FINAL_DEAD, OUTBOX_FINAL_CLAIM_LOST } outbox_final_t;

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


    /* ---- members and admins (SC-27, SC-28) ---- */
    /* Insert the member row (point 0) if absent. */
    store_rc_t (*member_ensure)(store_t *s, const char *fingerprint, int64_t now_ms);
    store_rc_t (*member_get)(store_t *s, const char *fingerprint, store_member_t *out);
    /* Runtime admins (T08), sorted; *fps is malloc'd (each string too): free with store_strings_free. */
    store_rc_t (*admin_list)(store_t *s, char ***fps, size_t *n);
    /* Idempotent; also ensures the member row. */
    store_rc_t (*admin_add)(store_t *s, const char *fingerprint, const char *added_by, int64_t now_ms);
    /* STORE_NOT_FOUND when not a runtime admin. */
    store_rc_t (*admin_remove)(store_t *s, const char *fingerprint);

    /* ---- sessions and refresh tokens (SC-25, SC-26, 2.3.10) ---- */
    store_rc_t (*session_create)(store_t *s, const store_session_t *sess);
    store_rc_t (*session_get)(store_t *s, const char *id, store_session_t *out);
    /* Sliding expiry: only when last_accessed_ms < now - touch_ms and the session is unexpired. */
    store_rc_t (*session_touch)(store_t *s, const char *id, int64_t now_ms, int64_t ttl_ms, int64_t touch_ms);
    /* Deletes the session and every refresh token of it (logout). NOT_FOUND when absent. */
    store_rc_t (*session_delete)(store_t *s, const char *id);
    store_rc_t (*refresh_insert)(store_t *s, const char *token_hash, const char *family_id, const char *session_id,
                                 const char *fingerprint, int64_t now_ms, int64_t ttl_ms);
    /* One transaction per 2.3.10 "Refresh". On REFRESH_ROTATED *session_out holds the touched session;
     * on REFRESH_REUSED only session_out->id is set (the revoked session, for cache eviction). */
    store_rc_t (*refresh_rotate)(store_t *s, const char *old_hash, const char *new_hash, int64_t now_ms,
                                 int64_t refresh_ttl_ms, int64_t session_ttl_ms, refresh_rc_t *outcome,
                                 store_session_t *session_out);
    /* J17: expired sessions (and their tokens) and expired refresh tokens. */
    store_rc_t (*auth_purge)(store_t *s, int64_t now_ms, int64_t *deleted);

    /* ---- likes (SC-15, SC-16, 2.3.6) ---- */
    /* One transaction: relation insert-or-ignore (like) / delete (unlike) + a delta row when it changed.
     * The character row for target_ocid must exist (STORE_NOT_FOUND otherwise). */
    store_rc_t (*like_set)(store_t *s, const char *target_ocid, const char *liker_account, bool like, int64_t now_ms,
                           bool *changed);
    store_rc_t (*like_status)(store_t *s, const char *target_ocid, const char *liker_account, bool *liked);
    /* like_count + pending deltas of the character, never negative. */
    store_rc_t (*like_count)(store_t *s, const char *target_ocid, int64_t *count);
    /* J01: one transaction folding the first `batch` deltas (by id) into like_count. */
    store_rc_t (*like_fold)(store_t *s, int batch, int64_t *folded);
    /* Backlog for metrics: number of deltas and the oldest's created_at (0 when none). */
    store_rc_t (*like_backlog)(store_t *s, int64_t *pending, int64_t *oldest_ms);

    /* ---- donation (E15) ---- */
    /* One transaction, steps 1-7 of E15, including the DONATION_COMPLETED outbox row (request_id
     * "donation:<history id>", payload JSON with masked fingerprints, content hash of 2.3.8).
     * *balance_out: sender balance for DONATION_INSUFFICIENT. */
    store_rc_t (*donate)(store_t *s, const store_donation_t *d, int64_t now_ms, donation_rc_t *outcome,
                         int64_t *balance_out);

    /* ---- outboxes and DLQ (SC-18, SC-19, SC-20, 2.3.8) ---- */
    /* SC-19 enqueue, outside any caller transaction: one active row per (event type, payload);
     * a duplicate increments dedup_hits (*inserted = false). request_id: a new UUID. */
    store_rc_t (*outbox_enqueue_upstream)(store_t *s, const char *request_id, const char *event_type,
                                          const char *payload, const char *origin_request_id, int64_t now_ms,
                                          bool *inserted);
    /* Claim <= batch rows PENDING/FAILED with next_retry_at <= now, oldest first: PROCESSING,
     * locked_by = instance, claim_token + 1. One short transaction. */
    store_rc_t (*outbox_claim)(store_t *s, outbox_queue_t q, const char *instance, int batch, int64_t now_ms,
                               store_outbox_row_t **rows, size_t *n);
    /* Guarded by claim_token and status PROCESSING; OUTBOX_FINAL_CLAIM_LOST when the guard fails. */
    store_rc_t (*outbox_complete)(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, int64_t now_ms,
                                  outbox_final_t *result);
    /* retry_count + 1; DEAD_LETTER + DLQ row in the same transaction when retry_count reaches
     * max_retries (result OUTBOX_FINAL_DEAD), else FAILED with next_retry_at = now +
     * min(2^retry_count * backoff_base_s, backoff_max_s) (OUTBOX_FINAL_RETRY). immediate = true
     * dead-letters at once (integrity failure). */
    store_rc_t (*outbox_fail)(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, const char *error,
                              bool immediate, int backoff_base_s, int backoff_max_s, int64_t now_ms,
                              outbox_final_t *result);
    /* T12 `outcome` ("ok" / "not_found") of a COMPLETED upstream row. */
    store_rc_t (*outbox_set_outcome)(store_t *s, int64_t id, const char *outcome);
    /* Return a claimed row to PENDING without charging an attempt (shutdown, short-circuit). */
    store_rc_t (*outbox_release)(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, int64_t next_ms);
    /* J05: rows PROCESSING with locked_at < older_than_ms -> hash check (mismatch -> dead-letter,
     * reason contains "integrity") -> PENDING, claim_token + 1. */
    store_rc_t (*outbox_reclaim)(store_t *s, outbox_queue_t q, int64_t older_than_ms, int64_t now_ms,
                                 int64_t *reclaimed, int64_t *dead_lettered);
    /* J18: COMPLETED rows with completed_at < before_ms. */
    store_rc_t (*outbox_purge)(store_t *s, outbox_queue_t q, int64_t before_ms, int64_t *deleted);
    store_rc_t (*outbox_counts)(store_t *s, outbox_queue_t q, store_outbox_counts_t *out);

    store_rc_t (*dlq_count)(store_t *s, outbox_queue_t q, int64_t *n);
    /* E19: ordered by moved_at desc, id desc; offset paging. */
    store_rc_t (*dlq_page)(store_t *s, outbox_queue_t q, int64_t page, int size, store_dlq_row_t **rows, size_t *n,
                           int64_t *total);
    /* E20: id > cursor ascending, up to size + 1 rows so the caller can tell hasNext. */
    store_rc_t (*dlq_after)(store_t *s, outbox_queue_t q, int64_t cursor, int size, store_dlq_row_t **rows, size_t *n);
    store_rc_t (*dlq_get)(store_t *s, outbox_queue_t q, int64_t id, store_dlq_row_t *out);
    /* E23 semantics in one transaction. STORE_NOT_FOUND (D001); *conflict = true (D002) when the
     * original row is in a non-terminal state (nothing changed). */
    store_rc_t (*dlq_reprocess)(store_t *s, outbox_queue_t q, int64_t id, int64_t now_ms, bool *conflict,
                                int64_t *outbox_id, char request_id[101]);
    store_rc_t (*dlq_discard)(store_t *s, outbox_queue_t q, int64_t id);

    /* ---- DB-tier leases (SC-06, 2.3.4) and quotas (T19) ---- */
    /* COORD-like results: STORE_OK acquired (*token = new fencing token), STORE_NOT_FOUND = busy. */
    store_rc_t (*lease_acquire)(store_t *s, const char *name, const char *holder, int64_t ttl_ms, int64_t now_ms,
                                int64_t *token);
    store_rc_t (*lease_renew)(store_t *s, const char *name, const char *holder, int64_t token, int64_t ttl_ms,
                              int64_t now_ms);
    store_rc_t (*lease_release)(store_t *s, const char *name, const char *holder, int64_t token);
    /* used + 1 if below limit (row created for the day if absent): STORE_OK (*used_out) or STORE_NOT_FOUND (exhausted). */
    store_rc_t (*quota_consume)(store_t *s, const char *name, const char *day, int64_t limit, int64_t *used_out);

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

void store_strings_free(char **v, size_t n);

/* content_hash of 2.3.8: lowercase hex SHA-256 of request_id "|" event_type "|" payload.
 * 0, or -1 when out of memory (out is then ""). Pure; used by every backend and both relays. */
int store_outbox_content_hash(const char *request_id, const char *event_type, const char *payload, char out[65]);
/* Does the row's stored content_hash match its fields (2.3.8 integrity check)? */
bool store_outbox_row_intact(const store_outbox_row_t *row);

static inline void store_close(store_t *s) { if (s) s->ops->close(s); }

#endif
