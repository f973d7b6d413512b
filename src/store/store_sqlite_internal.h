/*
 * store_sqlite_internal.h - pieces of the SQLite backend shared between its files. Not for use
 * outside src/store.
 *
 *   store_sqlite.c    connections, the transaction runner, the store_ops_t table, characters,
 *                     snapshots, views, write-back batches, meta
 *   schema_sqlite.c   the schema of platform spec 5.2 as a list of migrations, the runner (SC-34)
 *   sqlite_accounts.c members, admins, sessions, refresh tokens (SC-25..SC-28, 2.3.10)
 *   sqlite_likes.c    likes and the fold (SC-15, SC-16, 2.3.6)
 *   sqlite_donation.c the donation transaction (E15)
 *   sqlite_outbox.c   outboxes and dead-letter queues (SC-18..SC-20, 2.3.8, 1.10)
 *   sqlite_lease.c    DB-tier leases (SC-06, 2.3.4) and quota counters (T19)
 *
 * Ownership: nothing here allocates memory the caller must free, except where a function says so.
 * Threads:   a sq_conn_t is used by one thread at a time (the runner hands it out); work
 *   functions run on the connection they are given and keep no state between calls. The
 *   operations declared at the end follow store.h (any thread).
 * Errors:    SQLite result codes inside the backend; store_rc_t at the store.h boundary. The
 *   schema functions return -1 with a one-line message in err (always NUL-terminated).
 */
#ifndef MX_STORE_SQLITE_INTERNAL_H
#define MX_STORE_SQLITE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store.h"

/* ---- schema (schema_sqlite.c) ---- */

/* Highest migration version this binary knows. */
int sqlite_schema_latest(void);

/* Applies the missing migrations in one BEGIN EXCLUSIVE transaction and verifies the recorded
 * checksums of the ones already applied. Refuses a database whose schema is more than one version
 * ahead of this binary (SC-34: one version ahead is allowed during a rolling upgrade).
 * On success *version_out is the database's schema version after migration. */
int sqlite_schema_migrate(sqlite3 *db, int64_t now_ms, int *version_out, char *err, size_t errlen);

/* SHA-256 of len bytes as 64 lowercase hex digits plus NUL. 0, or -1 if OpenSSL failed. */
int sqlite_sha256_hex(const void *data, size_t len, char out[65]);

/* ---- connections and the runner (store_sqlite.c) ---- */

typedef struct sq_conn sq_conn_t;

/* A unit of work on one connection. Returns an SQLite result code (SQLITE_OK on success); a normal
 * answer other than STORE_OK goes to *answer with SQLITE_OK (committed for writes) or with
 * SQ_ROLLBACK_ANSWER (writes: everything the work did is rolled back, *answer is still returned).
 * A write work function may run more than once (busy retry, 3.2): it must reset its outputs
 * at its start. */
typedef int (*sq_work_fn)(sq_conn_t *c, void *ctx, store_rc_t *answer);

#define SQ_ROLLBACK_ANSWER (-1) /* never an SQLite result code (those are >= 0) */

/* On a pooled reader connection (autocommit: each statement is its own read snapshot). */
store_rc_t sq_run_read(store_t *s, sq_work_fn fn, void *ctx);
/* In one BEGIN IMMEDIATE transaction on the writer connection, retried whole on busy. */
store_rc_t sq_run_write(store_t *s, sq_work_fn fn, void *ctx);

/* The connection's prepared statement for sql, prepared on first use. The cache is keyed by the
 * address of sql, so pass string literals or static arrays only (never a built string). */
int sq_prepare(sq_conn_t *c, const char *sql, sqlite3_stmt **out);
sqlite3 *sq_db(sq_conn_t *c);

/* Runs a statement without parameters or rows (BEGIN, COMMIT, ROLLBACK). */
int sq_exec(sq_conn_t *c, const char *sql);

/* Back to the initial state: ends the statement's implicit read, drops borrowed bindings. */
static inline void sq_stmt_release(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* ---- binding and decoding ---- */

/* Binds parameters in order and keeps the first failure. Values are bound SQLITE_STATIC: callers
 * keep them alive until sq_stmt_release(). */
typedef struct {
    sqlite3_stmt *st;
    int rc;
} sq_binder_t;

static inline void sq_bind_text(sq_binder_t *b, int i, const char *v)
{
    if (b->rc == SQLITE_OK)
        b->rc = v ? sqlite3_bind_text(b->st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(b->st, i);
}

static inline void sq_bind_blob(sq_binder_t *b, int i, const void *p, size_t n)
{
    if (b->rc != SQLITE_OK)
        return;
    if (!p && n > 0)
        b->rc = SQLITE_MISUSE;
    else if (!p) /* NULL stays NULL, so NOT NULL refuses a missing body; an empty one is "" */
        b->rc = sqlite3_bind_null(b->st, i);
    else
        b->rc = sqlite3_bind_blob64(b->st, i, p, (sqlite3_uint64)n, SQLITE_STATIC);
}

static inline void sq_bind_i64(sq_binder_t *b, int i, int64_t v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->st, i, v);
}

static inline void sq_bind_null(sq_binder_t *b, int i)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_null(b->st, i);
}

/* The first step of a bound statement (its bind failure when binding failed). */
static inline int sq_step(const sq_binder_t *b)
{
    return b->rc == SQLITE_OK ? sqlite3_step(b->st) : b->rc;
}

/* Steps a statement that returns no rows and releases it. */
static inline int sq_step_done(sqlite3_stmt *st, int bind_rc)
{
    int rc = bind_rc == SQLITE_OK ? sqlite3_step(st) : bind_rc;
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Copies a TEXT column; *ok = false on allocation failure. NULL column -> NULL. */
static inline char *sq_column_strdup(sqlite3_stmt *st, int col, bool *ok)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t)
        return NULL;
    char *p = strdup((const char *)t);
    if (!p)
        *ok = false;
    return p;
}

/* Copies a TEXT column into a fixed array. false (out = "") when the column is NULL where
 * required or longer than cap - 1: stored data the caller's struct cannot hold. */
static inline bool sq_column_copy(sqlite3_stmt *st, int col, char *out, size_t cap, bool null_ok)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    out[0] = '\0';
    if (!t)
        return null_ok;
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (n >= cap)
        return false;
    memcpy(out, t, n + 1);
    return true;
}

/* ---- shared by the operation files ---- */

/* The content hash of 2.3.8 is store_outbox_content_hash (store.h, outbox_hash.c). */

/* ---- operations (store.h semantics) ---- */

/* sqlite_accounts.c */
store_rc_t sq_member_ensure(store_t *s, const char *fingerprint, int64_t now_ms);
store_rc_t sq_member_get(store_t *s, const char *fingerprint, store_member_t *out);
store_rc_t sq_admin_list(store_t *s, char ***fps, size_t *n);
store_rc_t sq_admin_add(store_t *s, const char *fingerprint, const char *added_by, int64_t now_ms);
store_rc_t sq_admin_remove(store_t *s, const char *fingerprint);
store_rc_t sq_session_create(store_t *s, const store_session_t *sess);
store_rc_t sq_session_get(store_t *s, const char *id, store_session_t *out);
store_rc_t sq_session_touch(store_t *s, const char *id, int64_t now_ms, int64_t ttl_ms, int64_t touch_ms);
store_rc_t sq_session_delete(store_t *s, const char *id);
store_rc_t sq_refresh_insert(store_t *s, const char *token_hash, const char *family_id, const char *session_id,
                             const char *fingerprint, int64_t now_ms, int64_t ttl_ms);
store_rc_t sq_refresh_rotate(store_t *s, const char *old_hash, const char *new_hash, int64_t now_ms,
                             int64_t refresh_ttl_ms, int64_t session_ttl_ms, refresh_rc_t *outcome,
                             store_session_t *session_out);
store_rc_t sq_auth_purge(store_t *s, int64_t now_ms, int64_t *deleted);

/* sqlite_likes.c */
store_rc_t sq_like_set(store_t *s, const char *target_ocid, const char *liker_account, bool like, int64_t now_ms,
                       bool *changed);
store_rc_t sq_like_status(store_t *s, const char *target_ocid, const char *liker_account, bool *liked);
store_rc_t sq_like_count(store_t *s, const char *target_ocid, int64_t *count);
store_rc_t sq_like_fold(store_t *s, int batch, int64_t *folded);
store_rc_t sq_like_backlog(store_t *s, int64_t *pending, int64_t *oldest_ms);

/* sqlite_donation.c */
store_rc_t sq_donate(store_t *s, const store_donation_t *d, int64_t now_ms, donation_rc_t *outcome,
                     int64_t *balance_out);

/* sqlite_outbox.c */
store_rc_t sq_outbox_enqueue_upstream(store_t *s, const char *request_id, const char *event_type, const char *payload,
                                      const char *origin_request_id, int64_t now_ms, bool *inserted);
store_rc_t sq_outbox_set_outcome(store_t *s, int64_t id, const char *outcome);
store_rc_t sq_outbox_claim(store_t *s, outbox_queue_t q, const char *instance, int batch, int64_t now_ms,
                           store_outbox_row_t **rows, size_t *n);
store_rc_t sq_outbox_complete(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, int64_t now_ms,
                              outbox_final_t *result);
store_rc_t sq_outbox_fail(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, const char *error,
                          bool immediate, int backoff_base_s, int backoff_max_s, int64_t now_ms,
                          outbox_final_t *result);
store_rc_t sq_outbox_release(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, int64_t next_ms);
store_rc_t sq_outbox_reclaim(store_t *s, outbox_queue_t q, int64_t older_than_ms, int64_t now_ms,
                             int64_t *reclaimed, int64_t *dead_lettered);
store_rc_t sq_outbox_purge(store_t *s, outbox_queue_t q, int64_t before_ms, int64_t *deleted);
store_rc_t sq_outbox_counts(store_t *s, outbox_queue_t q, store_outbox_counts_t *out);
store_rc_t sq_dlq_count(store_t *s, outbox_queue_t q, int64_t *n);
store_rc_t sq_dlq_page(store_t *s, outbox_queue_t q, int64_t page, int size, store_dlq_row_t **rows, size_t *n,
                       int64_t *total);
store_rc_t sq_dlq_after(store_t *s, outbox_queue_t q, int64_t cursor, int size, store_dlq_row_t **rows, size_t *n);
store_rc_t sq_dlq_get(store_t *s, outbox_queue_t q, int64_t id, store_dlq_row_t *out);
store_rc_t sq_dlq_reprocess(store_t *s, outbox_queue_t q, int64_t id, int64_t now_ms, bool *conflict,
                            int64_t *outbox_id, char request_id[101]);
store_rc_t sq_dlq_discard(store_t *s, outbox_queue_t q, int64_t id);

/* sqlite_lease.c */
store_rc_t sq_lease_acquire(store_t *s, const char *name, const char *holder, int64_t ttl_ms, int64_t now_ms,
                            int64_t *token);
store_rc_t sq_lease_renew(store_t *s, const char *name, const char *holder, int64_t token, int64_t ttl_ms,
                          int64_t now_ms);
store_rc_t sq_lease_release(store_t *s, const char *name, const char *holder, int64_t token);
store_rc_t sq_quota_consume(store_t *s, const char *name, const char *day, int64_t limit, int64_t *used_out);

#endif
