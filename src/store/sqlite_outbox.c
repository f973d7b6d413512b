/*
 * sqlite_outbox.c - the two outboxes (T11 donation_outbox, T12 nexon_api_outbox) and their
 * dead-letter queues (T13, T14) on the SQLite backend (store.h; SC-18, SC-19, SC-20, platform spec
 * 2.3.8 and 1.10).
 *
 * States: PENDING -> PROCESSING -> COMPLETED; PROCESSING -> FAILED -> PROCESSING ...;
 * PROCESSING/FAILED -> DEAD_LETTER. Terminal: COMPLETED, DEAD_LETTER.
 *
 *  - Claim: one transaction moves up to `batch` due PENDING/FAILED rows (oldest id first) to
 *    PROCESSING with claim_token + 1 and returns them, sorted by id.
 *  - Every finalization (complete, fail, release) is guarded by id + claim_token + PROCESSING; a
 *    guard that matches nothing is OUTBOX_FINAL_CLAIM_LOST (release: STORE_NOT_FOUND): the row was
 *    reclaimed meanwhile and the late worker's result is discarded.
 *  - Fail: retry_count + 1, last_error cut to 500 characters on a character boundary (counted as
 *    SQLite's length() counts them, so the CHECK always holds). Dead when retry_count reaches
 *    max_retries or on `immediate`: DEAD_LETTER and the DLQ row (payload verbatim,
 *    ON CONFLICT (request_id) DO NOTHING) in the same transaction, so no committed state has a
 *    DEAD_LETTER row without its DLQ row. Otherwise FAILED with next_retry_at = now +
 *    min(2^retry_count * base, max) seconds.
 *  - Reclaim (J05): PROCESSING rows locked before the cut-off: content hash re-checked; a mismatch
 *    dead-letters the row (reason "integrity: ..."), otherwise PENDING with claim_token + 1. All in one
 *    transaction, without charging an attempt.
 *  - DLQ reprocess (E23, 1.10), one transaction, by the DLQ row's request_id (unique in the outbox):
 *    original DEAD_LETTER -> reset to PENDING (retry_count 0, next_retry_at now, lock cleared,
 *    claim_token + 1); original COMPLETED (cannot arise through this code: a DLQ row is only written
 *    together with DEAD_LETTER) -> treated the same, the admin asked for the work to run again;
 *    original PENDING/PROCESSING/FAILED -> conflict, nothing changed; original gone -> a new PENDING
 *    row with the same request_id, event_type and payload and a recomputed content hash (upstream
 *    queue: dedup_key = event_type ":" payload). Upstream queue only: when another active row holds
 *    the same dedup_key the work is already queued -> conflict, nothing changed (the partial unique
 *    index would refuse a second active row). Then the DLQ row is deleted. The reset keeps the stored
 *    content hash: a row dead-lettered for integrity stays detectably tampered.
 *  - DLQ listing: offset pages by moved_at DESC, id DESC with the total from the same read snapshot;
 *    cursor pages by id ascending with one extra row so the caller can tell hasNext.
 *
 * Statements exist once per queue (the table name is part of the SQL); *_SQL[q] picks one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "store/store_sqlite_internal.h"

#define LAST_ERROR_MAX_CHARS 500 /* T11 last_error, T13 failure_reason */
#define RECLAIM_CHUNK 256        /* stalled rows read per pass inside the reclaim transaction */
#define INTEGRITY_REASON "integrity: content_hash mismatch"

/* ------------------------------------------------------------------------------------------------
 * Statements, one per queue
 * ---------------------------------------------------------------------------------------------- */

#define BOTH(M) {M("donation_outbox", "donation_dlq"), M("nexon_api_outbox", "nexon_api_dlq")}

#define CLAIM(t, d)                                                                                \
    "UPDATE " t " SET status = 'PROCESSING', locked_by = ?1, locked_at = ?2, claim_token = claim_token + 1,"      \
    " updated_at = ?2 WHERE id IN (SELECT id FROM " t " WHERE status IN ('PENDING', 'FAILED')"                    \
    " AND next_retry_at <= ?2 ORDER BY id LIMIT ?3) RETURNING id, request_id, event_type, payload,"               \
    " content_hash, claim_token, retry_count, max_retries, origin_request_id"
#define COMPLETE(t, d)                                                                             \
    "UPDATE " t " SET status = 'COMPLETED', completed_at = ?3, updated_at = ?3, locked_by = NULL"  \
    " WHERE id = ?1 AND claim_token = ?2 AND status = 'PROCESSING'"
#define CLAIMED(t, d)                                                                              \
    "SELECT retry_count, max_retries FROM " t " WHERE id = ?1 AND claim_token = ?2 AND status = 'PROCESSING'"
#define RETRY(t, d)                                                                                \
    "UPDATE " t " SET status = 'FAILED', retry_count = ?2, last_error = ?3, next_retry_at = ?4,"  \
    " locked_by = NULL, updated_at = ?5 WHERE id = ?1"
#define DEAD(t, d)                                                                                 \
    "UPDATE " t " SET status = 'DEAD_LETTER', retry_count = ?2, last_error = ?3, locked_by = NULL," \
    " updated_at = ?4 WHERE id = ?1"
#define DLQ_INSERT(t, d)                                                                           \
    "INSERT INTO " d " (original_outbox_id, request_id, event_type, payload, failure_reason, moved_at)" \
    " SELECT id, request_id, event_type, payload, ?2, ?3 FROM " t " WHERE id = ?1"                \
    " ON CONFLICT (request_id) DO NOTHING"
#define RELEASE(t, d)                                                                              \
    "UPDATE " t " SET status = 'PENDING', next_retry_at = ?3, locked_by = NULL, locked_at = NULL," \
    " updated_at = ?4 WHERE id = ?1 AND claim_token = ?2 AND status = 'PROCESSING'"
#define STALLED(t, d)                                                                              \
    "SELECT id, request_id, event_type, payload, content_hash, retry_count FROM " t               \
    " WHERE status = 'PROCESSING' AND locked_at < ?1 ORDER BY id LIMIT ?2"
#define RECLAIM(t, d)                                                                              \
    "UPDATE " t " SET status = 'PENDING', claim_token = claim_token + 1, locked_by = NULL,"       \
    " locked_at = NULL, updated_at = ?2 WHERE id = ?1"
#define PURGE(t, d) "DELETE FROM " t " WHERE status = 'COMPLETED' AND completed_at < ?1"
#define COUNTS(t, d) "SELECT status, count(*) FROM " t " GROUP BY status"
#define ORIGINAL(t, d) "SELECT id, status FROM " t " WHERE request_id = ?1"
#define RESET(t, d)                                                                                \
    "UPDATE " t " SET status = 'PENDING', retry_count = 0, next_retry_at = ?2, locked_by = NULL,"  \
    " locked_at = NULL, claim_token = claim_token + 1, completed_at = NULL, updated_at = ?2 WHERE id = ?1"
#define DLQ_COLUMNS "id, original_outbox_id, request_id, event_type, payload, failure_reason, moved_at"
#define DLQ_COUNT(t, d) "SELECT count(*) FROM " d
#define DLQ_PAGE(t, d) "SELECT " DLQ_COLUMNS " FROM " d " ORDER BY moved_at DESC, id DESC LIMIT ?1 OFFSET ?2"
#define DLQ_AFTER(t, d) "SELECT " DLQ_COLUMNS " FROM " d " WHERE id > ?1 ORDER BY id LIMIT ?2"
#define DLQ_GET(t, d) "SELECT " DLQ_COLUMNS " FROM " d " WHERE id = ?1"
#define DLQ_DELETE(t, d) "DELETE FROM " d " WHERE id = ?1"

static const char *const CLAIM_SQL[2] = BOTH(CLAIM);
static const char *const COMPLETE_SQL[2] = BOTH(COMPLETE);
static const char *const CLAIMED_SQL[2] = BOTH(CLAIMED);
static const char *const RETRY_SQL[2] = BOTH(RETRY);
static const char *const DEAD_SQL[2] = BOTH(DEAD);
static const char *const DLQ_INSERT_SQL[2] = BOTH(DLQ_INSERT);
static const char *const RELEASE_SQL[2] = BOTH(RELEASE);
static const char *const STALLED_SQL[2] = BOTH(STALLED);
static const char *const RECLAIM_SQL[2] = BOTH(RECLAIM);
static const char *const PURGE_SQL[2] = BOTH(PURGE);
static const char *const COUNTS_SQL[2] = BOTH(COUNTS);
static const char *const ORIGINAL_SQL[2] = BOTH(ORIGINAL);
static const char *const RESET_SQL[2] = BOTH(RESET);
static const char *const DLQ_COUNT_SQL[2] = BOTH(DLQ_COUNT);
static const char *const DLQ_PAGE_SQL[2] = BOTH(DLQ_PAGE);
static const char *const DLQ_AFTER_SQL[2] = BOTH(DLQ_AFTER);
static const char *const DLQ_GET_SQL[2] = BOTH(DLQ_GET);
static const char *const DLQ_DELETE_SQL[2] = BOTH(DLQ_DELETE);

static const char *const REQUEUE_SQL[2] = {
    "INSERT INTO donation_outbox (request_id, event_type, payload, content_hash, status, next_retry_at,"
    " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'PENDING', ?5, ?5, ?5)",
    "INSERT INTO nexon_api_outbox (request_id, event_type, payload, content_hash, status, next_retry_at,"
    " created_at, updated_at, dedup_key) VALUES (?1, ?2, ?3, ?4, 'PENDING', ?5, ?5, ?5, ?6)",
};
/* Another active upstream row for the same work: ?1 the dedup key of a new row, ?2 the id of an
 * existing row (its own dedup_key wins; 0 for none). */
static const char SQL_UPSTREAM_ACTIVE_TWIN[] =
    "SELECT EXISTS (SELECT 1 FROM nexon_api_outbox WHERE dedup_key ="
    " coalesce((SELECT dedup_key FROM nexon_api_outbox WHERE id = ?2), ?1)"
    " AND status IN ('PENDING', 'PROCESSING', 'FAILED') AND id <> ?2)";

static bool queue_valid(outbox_queue_t q)
{
    return q == OUTBOX_DONATION || q == OUTBOX_UPSTREAM;
}


/* The first LAST_ERROR_MAX_CHARS characters of s into out (NUL-terminated), counted the way SQLite's
 * length() counts: a byte >= 0xC0 starts a character and takes the continuation bytes after it;
 * any other byte is one character. A multi-byte character is never cut. */
static void truncate_chars(const char *s, char out[LAST_ERROR_MAX_CHARS * 4 + 1])
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = 0;
    for (int chars = 0; p[len] && chars < LAST_ERROR_MAX_CHARS; chars++) {
        size_t start = len;
        if (p[len++] >= 0xC0) {
            while (p[len] && (p[len] & 0xC0) == 0x80 && len - start < 4)
                len++;
        }
    }
    memcpy(out, s, len);
    out[len] = '\0';
}

/* min(2^retry_count * base, max) seconds, without overflow. */
static int64_t backoff_s(int retry_count, int base_s, int max_s)
{
    int64_t delay = base_s > 0 ? base_s : 0;
    for (int i = 0; i < retry_count && delay < max_s; i++)
        delay *= 2;
    return delay < max_s ? delay : max_s;
}

/* Runs a statement bound to (id, then optional integers/text) with no rows. */
static int exec_id(sq_conn_t *w, const char *sql, int64_t id, int64_t i2, bool bind_i2, int64_t *changes)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, id);
    if (bind_i2)
        sq_bind_i64(&b, 2, i2);
    rc = sq_step_done(st, b.rc);
    if (changes)
        *changes = rc == SQLITE_OK ? sqlite3_changes64(sq_db(w)) : 0;
    return rc;
}

/* DEAD_LETTER + the DLQ row, inside the caller's transaction. */
static int dead_letter(sq_conn_t *w, outbox_queue_t q, int64_t id, int retry_count, const char *reason,
                       int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, DEAD_SQL[q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, id);
    sq_bind_i64(&b, 2, retry_count);
    sq_bind_text(&b, 3, reason);
    sq_bind_i64(&b, 4, now_ms);
    if ((rc = sq_step_done(st, b.rc)) != SQLITE_OK)
        return rc;
    if ((rc = sq_prepare(w, DLQ_INSERT_SQL[q], &st)) != SQLITE_OK)
        return rc;
    b = (sq_binder_t){st, SQLITE_OK};
    sq_bind_i64(&b, 1, id);
    sq_bind_text(&b, 2, reason);
    sq_bind_i64(&b, 3, now_ms);
    return sq_step_done(st, b.rc);
}

/* ------------------------------------------------------------------------------------------------
 * Claim, complete, fail, release
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    outbox_queue_t q;
    const char *instance;
    int batch;
    int64_t now_ms;
    store_outbox_row_t *rows;
    size_t n, cap;
} claim_t;

/* A RETURNING row of CLAIM -> r. SQLITE_OK or SQLITE_NOMEM; *valid = false for stored text the
 * fixed fields cannot hold (the CHECKs make that impossible short of a damaged file). */
static int read_claimed(sqlite3_stmt *st, store_outbox_row_t *r, bool *valid)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    *valid = sq_column_copy(st, 1, r->request_id, sizeof r->request_id, false) &&
             sq_column_copy(st, 2, r->event_type, sizeof r->event_type, false) &&
             sq_column_copy(st, 4, r->content_hash, sizeof r->content_hash, false) &&
             sq_column_copy(st, 8, r->origin_request_id, sizeof r->origin_request_id, true);
    r->claim_token = sqlite3_column_int64(st, 5);
    r->retry_count = sqlite3_column_int(st, 6);
    r->max_retries = sqlite3_column_int(st, 7);
    bool ok = true;
    r->payload = sq_column_strdup(st, 3, &ok);
    if (!ok)
        return SQLITE_NOMEM;
    *valid = *valid && r->payload;
    return SQLITE_OK;
}

static int work_claim(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    claim_t *c = ctx;
    bool valid = true;
    store_outbox_rows_free(c->rows, c->n); /* a retried attempt starts clean */
    c->rows = NULL;
    c->n = c->cap = 0;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, CLAIM_SQL[c->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, c->instance);
    sq_bind_i64(&b, 2, c->now_ms);
    sq_bind_i64(&b, 3, c->batch);
    while ((rc = sq_step(&b)) == SQLITE_ROW) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 16;
            store_outbox_row_t *rows = realloc(c->rows, cap * sizeof *rows);
            if (!rows) {
                rc = SQLITE_NOMEM;
                break;
            }
            c->rows = rows;
            c->cap = cap;
        }
        rc = read_claimed(st, &c->rows[c->n], &valid);
        c->n++; /* counted even on failure so its payload is freed */
        if (rc != SQLITE_OK || !valid)
            break;
    }
    sq_stmt_release(st);
    if (rc == SQLITE_OK && !valid) {
        *answer = STORE_CORRUPT;
        return SQ_ROLLBACK_ANSWER; /* claim nothing rather than hand out a damaged row */
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const store_outbox_row_t *)a)->id, y = ((const store_outbox_row_t *)b)->id;
    return (x > y) - (x < y);
}

/* batch < 1 claims nothing. The rows are sorted by id; free them with store_outbox_rows_free. */
store_rc_t sq_outbox_claim(store_t *s, outbox_queue_t q, const char *instance, int batch, int64_t now_ms,
                           store_outbox_row_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (!queue_valid(q) || !instance)
        return STORE_CORRUPT;
    if (batch < 1)
        return STORE_OK;
    claim_t c = {q, instance, batch, now_ms, NULL, 0, 0};
    store_rc_t rc = sq_run_write(s, work_claim, &c);
    if (rc != STORE_OK) {
        store_outbox_rows_free(c.rows, c.n);
        return rc;
    }
    if (c.n > 1)
        qsort(c.rows, c.n, sizeof *c.rows, by_id); /* RETURNING order is unspecified */
    *rows = c.rows;
    *n = c.n;
    return STORE_OK;
}

typedef struct {
    outbox_queue_t q;
    int64_t id, claim_token, now_ms;
    outbox_final_t result;
} complete_t;

static int work_complete(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    complete_t *c = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, COMPLETE_SQL[c->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, c->id);
    sq_bind_i64(&b, 2, c->claim_token);
    sq_bind_i64(&b, 3, c->now_ms);
    rc = sq_step_done(st, b.rc);
    c->result = rc == SQLITE_OK && sqlite3_changes(sq_db(w)) > 0 ? OUTBOX_FINAL_OK : OUTBOX_FINAL_CLAIM_LOST;
    return rc;
}

store_rc_t sq_outbox_complete(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, int64_t now_ms,
                              outbox_final_t *result)
{
    *result = OUTBOX_FINAL_CLAIM_LOST;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    complete_t c = {q, id, claim_token, now_ms, OUTBOX_FINAL_CLAIM_LOST};
    store_rc_t rc = sq_run_write(s, work_complete, &c);
    if (rc == STORE_OK)
        *result = c.result;
    return rc;
}

typedef struct {
    outbox_queue_t q;
    int64_t id, claim_token;
    const char *error; /* already truncated */
    bool immediate;
    int backoff_base_s, backoff_max_s;
    int64_t now_ms;
    outbox_final_t result;
} fail_t;

static int schedule_retry(sq_conn_t *w, const fail_t *f, int retry_count)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, RETRY_SQL[f->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, f->id);
    sq_bind_i64(&b, 2, retry_count);
    sq_bind_text(&b, 3, f->error);
    sq_bind_i64(&b, 4, f->now_ms + backoff_s(retry_count, f->backoff_base_s, f->backoff_max_s) * 1000);
    sq_bind_i64(&b, 5, f->now_ms);
    return sq_step_done(st, b.rc);
}

static int work_fail(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    fail_t *f = ctx;
    f->result = OUTBOX_FINAL_CLAIM_LOST;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, CLAIMED_SQL[f->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, f->id);
    sq_bind_i64(&b, 2, f->claim_token);
    rc = sq_step(&b);
    int retry_count = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    int max_retries = rc == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
    sq_stmt_release(st);
    if (rc == SQLITE_DONE)
        return SQLITE_OK; /* the guard matched nothing: claim lost */
    if (rc != SQLITE_ROW)
        return rc;
    retry_count++;
    if (f->immediate || retry_count >= max_retries) {
        f->result = OUTBOX_FINAL_DEAD;
        return dead_letter(w, f->q, f->id, retry_count, f->error, f->now_ms);
    }
    f->result = OUTBOX_FINAL_RETRY;
    return schedule_retry(w, f, retry_count);
}

store_rc_t sq_outbox_fail(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, const char *error,
                          bool immediate, int backoff_base_s, int backoff_max_s, int64_t now_ms,
                          outbox_final_t *result)
{
    *result = OUTBOX_FINAL_CLAIM_LOST;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    char cut[LAST_ERROR_MAX_CHARS * 4 + 1];
    truncate_chars(error ? error : "", cut);
    fail_t f = {q, id, claim_token, cut, immediate, backoff_base_s, backoff_max_s, now_ms, OUTBOX_FINAL_CLAIM_LOST};
    store_rc_t rc = sq_run_write(s, work_fail, &f);
    if (rc == STORE_OK)
        *result = f.result;
    return rc;
}

typedef struct {
    outbox_queue_t q;
    int64_t id, claim_token, next_ms;
} release_t;

static int work_release(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    release_t *r = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, RELEASE_SQL[r->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, r->id);
    sq_bind_i64(&b, 2, r->claim_token);
    sq_bind_i64(&b, 3, r->next_ms);
    sq_bind_i64(&b, 4, clock_wall_ms()); /* updated_at: the DB clock is the process clock (5.1) */
    rc = sq_step_done(st, b.rc);
    if (rc == SQLITE_OK && sqlite3_changes(sq_db(w)) == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

/* STORE_NOT_FOUND when the claim guard matched nothing (claim lost). retry_count is unchanged. */
store_rc_t sq_outbox_release(store_t *s, outbox_queue_t q, int64_t id, int64_t claim_token, int64_t next_ms)
{
    if (!queue_valid(q))
        return STORE_CORRUPT;
    release_t r = {q, id, claim_token, next_ms};
    return sq_run_write(s, work_release, &r);
}

/* ------------------------------------------------------------------------------------------------
 * Reclaim, purge, counts
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    outbox_queue_t q;
    int64_t older_than_ms, now_ms;
    int64_t reclaimed, dead_lettered;
} reclaim_t;

typedef struct {
    int64_t id;
    int retry_count;
    bool intact;
} stalled_t;

/* Reads up to RECLAIM_CHUNK stalled rows and checks their hashes; *n = rows read. */
static int read_stalled(sq_conn_t *w, const reclaim_t *r, stalled_t *rows, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, STALLED_SQL[r->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, r->older_than_ms);
    sq_bind_i64(&b, 2, RECLAIM_CHUNK);
    while ((rc = sq_step(&b)) == SQLITE_ROW) {
        const char *rid = (const char *)sqlite3_column_text(st, 1);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        const char *payload = (const char *)sqlite3_column_text(st, 3);
        const char *stored = (const char *)sqlite3_column_text(st, 4);
        char hash[65];
        stalled_t *s = &rows[(*n)++];
        s->id = sqlite3_column_int64(st, 0);
        s->retry_count = sqlite3_column_int(st, 5);
        if (rid && type && payload && store_outbox_content_hash(rid, type, payload, hash) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        s->intact = rid && type && payload && stored && strcmp(hash, stored) == 0;
    }
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int work_reclaim(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    reclaim_t *r = ctx;
    r->reclaimed = r->dead_lettered = 0;
    stalled_t rows[RECLAIM_CHUNK];
    size_t n;
    do { /* each pass moves every row it read out of PROCESSING, so the next pass reads new ones */
        int rc = read_stalled(w, r, rows, &n);
        for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
            if (rows[i].intact) {
                rc = exec_id(w, RECLAIM_SQL[r->q], rows[i].id, r->now_ms, true, NULL);
                r->reclaimed++;
            } else {
                rc = dead_letter(w, r->q, rows[i].id, rows[i].retry_count, INTEGRITY_REASON, r->now_ms);
                r->dead_lettered++;
            }
        }
        if (rc != SQLITE_OK)
            return rc;
    } while (n == RECLAIM_CHUNK);
    return SQLITE_OK;
}

store_rc_t sq_outbox_reclaim(store_t *s, outbox_queue_t q, int64_t older_than_ms, int64_t now_ms,
                             int64_t *reclaimed, int64_t *dead_lettered)
{
    if (reclaimed)
        *reclaimed = 0;
    if (dead_lettered)
        *dead_lettered = 0;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    reclaim_t r = {q, older_than_ms, now_ms, 0, 0};
    store_rc_t rc = sq_run_write(s, work_reclaim, &r);
    if (rc == STORE_OK) {
        if (reclaimed)
            *reclaimed = r.reclaimed;
        if (dead_lettered)
            *dead_lettered = r.dead_lettered;
    }
    return rc;
}

typedef struct {
    outbox_queue_t q;
    int64_t before_ms, deleted;
} outbox_purge_t;

static int work_purge(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    outbox_purge_t *p = ctx;
    return exec_id(w, PURGE_SQL[p->q], p->before_ms, 0, false, &p->deleted);
}

store_rc_t sq_outbox_purge(store_t *s, outbox_queue_t q, int64_t before_ms, int64_t *deleted)
{
    if (deleted)
        *deleted = 0;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    outbox_purge_t p = {q, before_ms, 0};
    store_rc_t rc = sq_run_write(s, work_purge, &p);
    if (rc == STORE_OK && deleted)
        *deleted = p.deleted;
    return rc;
}

typedef struct {
    outbox_queue_t q;
    store_outbox_counts_t *out;
} counts_t;

static int work_counts(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    (void)answer;
    counts_t *k = ctx;
    memset(k->out, 0, sizeof *k->out);
    sqlite3_stmt *st;
    int rc = sq_prepare(c, COUNTS_SQL[k->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (!status)
            continue;
        if (strcmp(status, "PENDING") == 0)
            k->out->pending = n;
        else if (strcmp(status, "PROCESSING") == 0)
            k->out->processing = n;
        else if (strcmp(status, "COMPLETED") == 0)
            k->out->completed = n;
        else if (strcmp(status, "FAILED") == 0)
            k->out->failed = n;
        else if (strcmp(status, "DEAD_LETTER") == 0)
            k->out->dead_letter = n;
    }
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

store_rc_t sq_outbox_counts(store_t *s, outbox_queue_t q, store_outbox_counts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!queue_valid(q))
        return STORE_CORRUPT;
    counts_t k = {q, out};
    store_rc_t rc = sq_run_read(s, work_counts, &k);
    if (rc != STORE_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Dead-letter queues
 * ---------------------------------------------------------------------------------------------- */

/* Row of DLQ_COLUMNS -> r. SQLITE_OK or SQLITE_NOMEM; *valid = false for text the struct cannot hold. */
static int read_dlq(sqlite3_stmt *st, store_dlq_row_t *r, bool *valid)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->original_outbox_id = sqlite3_column_int64(st, 1);
    *valid = sq_column_copy(st, 2, r->request_id, sizeof r->request_id, false) &&
             sq_column_copy(st, 3, r->event_type, sizeof r->event_type, false);
    bool ok = true;
    r->payload = sq_column_strdup(st, 4, &ok);
    r->failure_reason = sq_column_strdup(st, 5, &ok);
    r->moved_ms = sqlite3_column_int64(st, 6);
    if (!ok)
        return SQLITE_NOMEM;
    *valid = *valid && r->payload;
    return SQLITE_OK;
}

static int64_t count_dlq(sq_conn_t *c, outbox_queue_t q, int *rc_out)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    int rc = sq_prepare(c, DLQ_COUNT_SQL[q], &st);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            n = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
        sq_stmt_release(st);
    }
    *rc_out = rc;
    return n;
}

typedef struct {
    outbox_queue_t q;
    int64_t n;
} dlq_count_t;

static int work_dlq_count(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    (void)answer;
    dlq_count_t *k = ctx;
    int rc;
    k->n = count_dlq(c, k->q, &rc);
    return rc;
}

store_rc_t sq_dlq_count(store_t *s, outbox_queue_t q, int64_t *n)
{
    *n = 0;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    dlq_count_t k = {q, 0};
    store_rc_t rc = sq_run_read(s, work_dlq_count, &k);
    if (rc == STORE_OK)
        *n = k.n;
    return rc;
}

typedef struct {
    outbox_queue_t q;
    const char *sql;
    int64_t p1, p2; /* page: limit, offset; after: cursor, limit */
    bool with_total;
    bool valid; /* every row fits its struct */
    store_dlq_row_t *rows;
    size_t n, cap;
    int64_t total;
} dlq_list_t;

static int list_rows(sq_conn_t *c, dlq_list_t *l)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(c, l->sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, l->p1);
    sq_bind_i64(&b, 2, l->p2);
    while ((rc = sq_step(&b)) == SQLITE_ROW) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 16;
            store_dlq_row_t *rows = realloc(l->rows, cap * sizeof *rows);
            if (!rows) {
                rc = SQLITE_NOMEM;
                break;
            }
            l->rows = rows;
            l->cap = cap;
        }
        rc = read_dlq(st, &l->rows[l->n], &l->valid);
        l->n++; /* counted even on failure so its strings are freed */
        if (rc != SQLITE_OK || !l->valid)
            break;
    }
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The page and its total read in one read transaction (one snapshot). */
static int work_dlq_list(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    dlq_list_t *l = ctx;
    l->valid = true;
    store_dlq_rows_free(l->rows, l->n); /* a retried attempt starts clean */
    l->rows = NULL;
    l->n = l->cap = 0;
    l->total = 0;
    int rc = sq_exec(c, "BEGIN");
    if (rc != SQLITE_OK)
        return rc;
    if (l->with_total)
        l->total = count_dlq(c, l->q, &rc);
    if (rc == SQLITE_OK)
        rc = list_rows(c, l);
    if (rc == SQLITE_OK)
        rc = sq_exec(c, "COMMIT");
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(sq_db(c)))
        sq_exec(c, "ROLLBACK");
    if (rc == SQLITE_OK && !l->valid)
        *answer = STORE_CORRUPT;
    return rc;
}

static store_rc_t dlq_list(store_t *s, dlq_list_t *l, store_dlq_row_t **rows, size_t *n)
{
    store_rc_t rc = sq_run_read(s, work_dlq_list, l);
    if (rc != STORE_OK) {
        store_dlq_rows_free(l->rows, l->n);
        return rc;
    }
    *rows = l->rows;
    *n = l->n;
    return STORE_OK;
}

/* page < 0 or size < 1 returns no rows (the total still counts). */
store_rc_t sq_dlq_page(store_t *s, outbox_queue_t q, int64_t page, int size, store_dlq_row_t **rows, size_t *n,
                       int64_t *total)
{
    *rows = NULL;
    *n = 0;
    if (total)
        *total = 0;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    bool empty = page < 0 || size < 1 || page > INT64_MAX / size;
    dlq_list_t l = {.q = q, .sql = DLQ_PAGE_SQL[q], .with_total = true};
    l.p1 = empty ? 0 : size; /* LIMIT 0 still reads the total in the same transaction */
    l.p2 = empty ? 0 : page * size;
    store_rc_t rc = dlq_list(s, &l, rows, n);
    if (rc == STORE_OK && total)
        *total = l.total;
    return rc;
}

/* size < 1 returns no rows; otherwise up to size + 1 rows with id > cursor, ascending. */
store_rc_t sq_dlq_after(store_t *s, outbox_queue_t q, int64_t cursor, int size, store_dlq_row_t **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (!queue_valid(q))
        return STORE_CORRUPT;
    if (size < 1)
        return STORE_OK;
    dlq_list_t l = {.q = q, .sql = DLQ_AFTER_SQL[q], .p1 = cursor, .p2 = (int64_t)size + 1};
    return dlq_list(s, &l, rows, n);
}

typedef struct {
    outbox_queue_t q;
    int64_t id;
    store_dlq_row_t *out;
} dlq_get_t;

static int work_dlq_get(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    dlq_get_t *g = ctx;
    store_dlq_row_clear(g->out); /* a retried attempt starts clean */
    sqlite3_stmt *st;
    int rc = sq_prepare(c, DLQ_GET_SQL[g->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, g->id);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        bool valid = true;
        rc = read_dlq(st, g->out, &valid);
        if (rc == SQLITE_OK && !valid)
            *answer = STORE_CORRUPT;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        *answer = STORE_NOT_FOUND;
    }
    sq_stmt_release(st);
    return rc;
}

/* Free out with store_dlq_row_clear. */
store_rc_t sq_dlq_get(store_t *s, outbox_queue_t q, int64_t id, store_dlq_row_t *out)
{
    memset(out, 0, sizeof *out);
    if (!queue_valid(q))
        return STORE_CORRUPT;
    dlq_get_t g = {q, id, out};
    store_rc_t rc = sq_run_read(s, work_dlq_get, &g);
    if (rc != STORE_OK)
        store_dlq_row_clear(out);
    return rc;
}

typedef struct {
    outbox_queue_t q;
    int64_t id, now_ms;
    bool conflict;
    int64_t outbox_id;
    char request_id[101];
} reprocess_t;

/* The original row of a DLQ entry, by its request_id: *exists, *id, and whether it is terminal. */
static int find_original(sq_conn_t *w, const reprocess_t *r, bool *exists, int64_t *id, bool *terminal)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, ORIGINAL_SQL[r->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->request_id);
    rc = sq_step(&b);
    *exists = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        const char *status = (const char *)sqlite3_column_text(st, 1);
        *terminal = status && (strcmp(status, "DEAD_LETTER") == 0 || strcmp(status, "COMPLETED") == 0);
    }
    sq_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Upstream queue: another active row already carries the same work. */
static int upstream_twin(sq_conn_t *w, const char *dedup_key, int64_t own_id, bool *twin)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_UPSTREAM_ACTIVE_TWIN, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, dedup_key);
    sq_bind_i64(&b, 2, own_id);
    rc = sq_step(&b);
    *twin = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sq_stmt_release(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* A new PENDING row for a purged original; *id = its id. */
static int requeue_insert(sq_conn_t *w, const reprocess_t *r, const char *event_type, const char *payload,
                          const char *dedup_key, int64_t *id)
{
    char hash[65];
    if (store_outbox_content_hash(r->request_id, event_type, payload, hash) != 0)
        return SQLITE_NOMEM;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, REQUEUE_SQL[r->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->request_id);
    sq_bind_text(&b, 2, event_type);
    sq_bind_text(&b, 3, payload);
    sq_bind_text(&b, 4, hash);
    sq_bind_i64(&b, 5, r->now_ms);
    if (r->q == OUTBOX_UPSTREAM)
        sq_bind_text(&b, 6, dedup_key);
    rc = sq_step_done(st, b.rc);
    *id = rc == SQLITE_OK ? sqlite3_last_insert_rowid(sq_db(w)) : 0;
    return rc;
}

/* Everything after the DLQ row was read: its event type and payload are given. */
static int reprocess_entry(sq_conn_t *w, reprocess_t *r, const char *event_type, const char *payload)
{
    bool exists = false, terminal = false, twin = false;
    int64_t original = 0;
    int rc = find_original(w, r, &exists, &original, &terminal);
    if (rc != SQLITE_OK)
        return rc;
    if (exists && !terminal) {
        r->conflict = true;
        return SQLITE_OK;
    }
    char *dedup_key = NULL;
    if (r->q == OUTBOX_UPSTREAM) {
        if (asprintf(&dedup_key, "%s:%s", event_type, payload) < 0)
            return SQLITE_NOMEM;
        rc = upstream_twin(w, dedup_key, exists ? original : 0, &twin);
    }
    if (rc == SQLITE_OK && twin)
        r->conflict = true;
    else if (rc == SQLITE_OK && exists)
        rc = exec_id(w, RESET_SQL[r->q], original, r->now_ms, true, NULL);
    else if (rc == SQLITE_OK)
        rc = requeue_insert(w, r, event_type, payload, dedup_key, &original);
    free(dedup_key);
    if (rc == SQLITE_OK && !r->conflict) {
        r->outbox_id = original;
        rc = exec_id(w, DLQ_DELETE_SQL[r->q], r->id, 0, false, NULL);
    }
    return rc;
}

static int work_reprocess(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    reprocess_t *r = ctx;
    r->conflict = false;
    r->outbox_id = 0;
    r->request_id[0] = '\0';
    sqlite3_stmt *st;
    int rc = sq_prepare(w, DLQ_GET_SQL[r->q], &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, r->id);
    rc = sq_step(&b);
    if (rc != SQLITE_ROW) {
        sq_stmt_release(st);
        if (rc == SQLITE_DONE)
            *answer = STORE_NOT_FOUND;
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    store_dlq_row_t entry;
    bool valid = true;
    rc = read_dlq(st, &entry, &valid);
    sq_stmt_release(st);
    if (rc == SQLITE_OK && !valid)
        *answer = STORE_CORRUPT; /* nothing written yet: the empty transaction commits */
    else if (rc == SQLITE_OK) {
        memcpy(r->request_id, entry.request_id, sizeof r->request_id);
        rc = reprocess_entry(w, r, entry.event_type, entry.payload);
    }
    store_dlq_row_clear(&entry);
    return rc;
}

store_rc_t sq_dlq_reprocess(store_t *s, outbox_queue_t q, int64_t id, int64_t now_ms, bool *conflict,
                            int64_t *outbox_id, char request_id[101])
{
    if (conflict)
        *conflict = false;
    if (outbox_id)
        *outbox_id = 0;
    if (request_id)
        request_id[0] = '\0';
    if (!queue_valid(q))
        return STORE_CORRUPT;
    reprocess_t r = {.q = q, .id = id, .now_ms = now_ms};
    store_rc_t rc = sq_run_write(s, work_reprocess, &r);
    if (rc != STORE_OK)
        return rc;
    if (conflict)
        *conflict = r.conflict;
    if (!r.conflict && outbox_id)
        *outbox_id = r.outbox_id;
    if (request_id) /* also on conflict: D002 names the request (1.2) */
        memcpy(request_id, r.request_id, sizeof r.request_id);
    return STORE_OK;
}

typedef struct {
    outbox_queue_t q;
    int64_t id;
} discard_t;

static int work_discard(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    discard_t *d = ctx;
    int64_t changes = 0;
    int rc = exec_id(w, DLQ_DELETE_SQL[d->q], d->id, 0, false, &changes);
    if (rc == SQLITE_OK && changes == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

/* Deletes only the DLQ row (E24); the DEAD_LETTER outbox row stays. */
store_rc_t sq_dlq_discard(store_t *s, outbox_queue_t q, int64_t id)
{
    if (!queue_valid(q))
        return STORE_CORRUPT;
    discard_t d = {q, id};
    return sq_run_write(s, work_discard, &d);
}

/* ---- upstream outbox enqueue (SC-19, 2.3.8 "Enqueue (upstream)") ----------------------------- */

/* One active row per dedup_key (partial unique index): a duplicate counts a hit instead of
 * adding a row, so an outage never multiplies rows (H10). RETURNING tells which happened: a new
 * row has dedup_hits 0. */
static const char ENQUEUE_UPSTREAM_SQL[] =
    "INSERT INTO nexon_api_outbox (request_id, event_type, payload, content_hash, dedup_key, origin_request_id,"
    " next_retry_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?7)"
    " ON CONFLICT (dedup_key) WHERE status IN ('PENDING', 'PROCESSING', 'FAILED')"
    " DO UPDATE SET dedup_hits = dedup_hits + 1, updated_at = excluded.updated_at RETURNING dedup_hits";

typedef struct {
    const char *request_id, *event_type, *payload, *origin;
    char hash[65];
    char *dedup_key;
    int64_t now_ms;
    bool inserted;
} enqueue_t;

static int work_enqueue_upstream(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    enqueue_t *e = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, ENQUEUE_UPSTREAM_SQL, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, e->request_id);
    sq_bind_text(&b, 2, e->event_type);
    sq_bind_text(&b, 3, e->payload);
    sq_bind_text(&b, 4, e->hash);
    sq_bind_text(&b, 5, e->dedup_key);
    sq_bind_text(&b, 6, e->origin);
    sq_bind_i64(&b, 7, e->now_ms);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        e->inserted = sqlite3_column_int64(st, 0) == 0;
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

store_rc_t sq_outbox_enqueue_upstream(store_t *s, const char *request_id, const char *event_type, const char *payload,
                                      const char *origin_request_id, int64_t now_ms, bool *inserted)
{
    *inserted = false;
    if (!request_id || !event_type || !payload)
        return STORE_CORRUPT;
    enqueue_t e = {request_id, event_type, payload, origin_request_id, "", NULL, now_ms, false};
    size_t n = strlen(event_type) + strlen(payload) + 2;
    e.dedup_key = malloc(n);
    if (!e.dedup_key || store_outbox_content_hash(request_id, event_type, payload, e.hash) != 0) {
        free(e.dedup_key);
        return STORE_UNAVAILABLE;
    }
    snprintf(e.dedup_key, n, "%s:%s", event_type, payload);
    store_rc_t rc = sq_run_write(s, work_enqueue_upstream, &e);
    free(e.dedup_key);
    if (rc == STORE_OK)
        *inserted = e.inserted;
    return rc;
}

/* T12 `outcome` of a COMPLETED upstream row ("ok" / "not_found"): informational, set after the
 * guarded completion (a row the claim guard refused is not COMPLETED by us and stays untouched). */
static const char OUTCOME_SQL[] =
    "UPDATE nexon_api_outbox SET outcome = ?2 WHERE id = ?1 AND status = 'COMPLETED' AND outcome IS NULL";

typedef struct {
    int64_t id;
    const char *outcome;
} outcome_t;

static int work_outcome(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    outcome_t *o = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, OUTCOME_SQL, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, o->id);
    sq_bind_text(&b, 2, o->outcome);
    return sq_step_done(st, b.rc);
}

store_rc_t sq_outbox_set_outcome(store_t *s, int64_t id, const char *outcome)
{
    if (!outcome)
        return STORE_CORRUPT;
    outcome_t o = {id, outcome};
    return sq_run_write(s, work_outcome, &o);
}
