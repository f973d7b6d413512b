/*
 * sqlite_donation.c - the donation transaction (E15 steps 1-7, SC-14, SC-18, SC-28; platform spec
 * 1.8, 2.3.8) on the SQLite backend (store.h).
 *
 * One BEGIN IMMEDIATE transaction on the writer:
 *   1. receiver is an admin: bootstrap (the caller knows) or a runtime admin_member row;
 *   2. donation_history insert, ON CONFLICT (sender_fingerprint, request_id) DO NOTHING; on conflict
 *      the stored request_hash decides: same -> DONATION_REPLAYED, different -> DONATION_KEY_CONFLICT
 *      (nothing written either way);
 *   3. "lock both member rows in ascending fingerprint order": nothing to do on SQLite, where the
 *      write transaction already excludes every other writer;
 *   4. conditional debit (point >= amount); no row -> SENDER_MISSING, too little -> INSUFFICIENT;
 *   5. credit of the receiver's member row; none -> ADMIN_MEMBER_MISSING;
 *   6. the DONATION_COMPLETED outbox row: request_id "donation:<history id>", payload
 *      {"donationId":<id>,"senderFingerprint":<masked>,"receiverFingerprint":<masked>,"amount":<n>},
 *      content hash of 2.3.8, PENDING, next_retry_at = now;
 *   7. commit.
 * Every refusal after step 2 rolls back everything, the history row included, so only successful
 * donations are recorded and the same key can be retried (1.8 "Idempotency semantics").
 *
 * A sender donating to itself (an admin) is allowed: the debit and the credit hit the same row one
 * after the other, the balance must cover the amount, the net change is zero. Concurrent requests
 * with one key are serialized by the writer; the first commits and the others find its history row.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jw.h"
#include "store/store_sqlite_internal.h"

static const char SQL_IS_ADMIN[] = "SELECT 1 FROM admin_member WHERE fingerprint = ?1";
static const char SQL_HISTORY_INSERT[] =
    "INSERT INTO donation_history (sender_fingerprint, request_id, request_hash, receiver_fingerprint, amount,"
    " origin_request_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    " ON CONFLICT (sender_fingerprint, request_id) DO NOTHING RETURNING id";
static const char SQL_HISTORY_HASH[] =
    "SELECT request_hash FROM donation_history WHERE sender_fingerprint = ?1 AND request_id = ?2";
static const char SQL_DEBIT[] = "UPDATE member SET point = point - ?2, version = version + 1, updated_at = ?3"
                                " WHERE fingerprint = ?1 AND point >= ?2";
static const char SQL_BALANCE[] = "SELECT point FROM member WHERE fingerprint = ?1";
static const char SQL_CREDIT[] = "UPDATE member SET point = point + ?2, version = version + 1, updated_at = ?3"
                                 " WHERE fingerprint = ?1";
static const char SQL_OUTBOX_INSERT[] =
    "INSERT INTO donation_outbox (request_id, event_type, payload, content_hash, status, next_retry_at,"
    " origin_request_id, created_at, updated_at) VALUES (?1, 'DONATION_COMPLETED', ?2, ?3, 'PENDING', ?4, ?5, ?4, ?4)";

#define EVENT_DONATION_COMPLETED "DONATION_COMPLETED"
#define PAYLOAD_CAP 1024 /* two masked fingerprints and two integers */

typedef struct {
    const store_donation_t *d;
    int64_t now_ms;
    donation_rc_t outcome;
    int64_t balance;
} donate_t;

/* First 4 + "****" + last 4 characters; 8 bytes or fewer become "****" (as log 4.3). */
static void mask_fingerprint(const char *fp, char out[13])
{
    size_t n = strlen(fp);
    if (n <= 8) {
        memcpy(out, "****", 5);
        return;
    }
    memcpy(out, fp, 4);
    memcpy(out + 4, "****", 4);
    memcpy(out + 8, fp + n - 4, 4);
    out[12] = '\0';
}

/* Runs a SELECT with one text parameter; *found = a row came back, *value = its first column. */
static int select_one(sq_conn_t *w, const char *sql, const char *key, bool *found, int64_t *value)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, key);
    rc = sq_step(&b);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW && value)
        *value = sqlite3_column_int64(st, 0);
    sq_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Step 2. *history_id > 0 when inserted; 0 when the key exists (outcome then set). */
static int insert_history(sq_conn_t *w, donate_t *t, int64_t *history_id)
{
    const store_donation_t *d = t->d;
    *history_id = 0;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_HISTORY_INSERT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, d->sender_fp);
    sq_bind_text(&b, 2, d->request_id);
    sq_bind_text(&b, 3, d->request_hash);
    sq_bind_text(&b, 4, d->receiver_fp);
    sq_bind_i64(&b, 5, d->amount);
    sq_bind_text(&b, 6, d->origin_request_id);
    sq_bind_i64(&b, 7, t->now_ms);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        *history_id = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st); /* let the statement finish */
    }
    sq_stmt_release(st);
    if (rc != SQLITE_DONE)
        return rc;
    if (*history_id > 0)
        return SQLITE_OK;
    /* The key exists: compare the hashes. */
    if ((rc = sq_prepare(w, SQL_HISTORY_HASH, &st)) != SQLITE_OK)
        return rc;
    b = (sq_binder_t){st, SQLITE_OK};
    sq_bind_text(&b, 1, d->sender_fp);
    sq_bind_text(&b, 2, d->request_id);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        const unsigned char *h = sqlite3_column_text(st, 0);
        t->outcome = h && strcmp((const char *)h, d->request_hash) == 0 ? DONATION_REPLAYED : DONATION_KEY_CONFLICT;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_INTERNAL; /* the insert just hit this row */
    }
    sq_stmt_release(st);
    return rc;
}

/* Runs the debit or the credit; *changed = the row was updated. */
static int move_points(sq_conn_t *w, const char *sql, const char *fp, const donate_t *t, bool *changed)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, fp);
    sq_bind_i64(&b, 2, t->d->amount);
    sq_bind_i64(&b, 3, t->now_ms);
    rc = sq_step_done(st, b.rc);
    *changed = rc == SQLITE_OK && sqlite3_changes(sq_db(w)) > 0;
    return rc;
}

/* Steps 4-5. SQLITE_OK when both moved; SQ_ROLLBACK_ANSWER with the outcome set otherwise. */
static int transfer(sq_conn_t *w, donate_t *t)
{
    bool changed = false, found = false;
    int rc = move_points(w, SQL_DEBIT, t->d->sender_fp, t, &changed);
    if (rc != SQLITE_OK)
        return rc;
    if (!changed) {
        if ((rc = select_one(w, SQL_BALANCE, t->d->sender_fp, &found, &t->balance)) != SQLITE_OK)
            return rc;
        t->outcome = found ? DONATION_INSUFFICIENT : DONATION_SENDER_MISSING;
        return SQ_ROLLBACK_ANSWER;
    }
    if ((rc = move_points(w, SQL_CREDIT, t->d->receiver_fp, t, &changed)) != SQLITE_OK)
        return rc;
    if (!changed) {
        t->outcome = DONATION_ADMIN_MEMBER_MISSING;
        return SQ_ROLLBACK_ANSWER;
    }
    return SQLITE_OK;
}

/* Step 6. */
static int insert_outbox(sq_conn_t *w, const donate_t *t, int64_t history_id)
{
    char request_id[32], sender[13], receiver[13], hash[65];
    snprintf(request_id, sizeof request_id, "donation:%" PRId64, history_id);
    mask_fingerprint(t->d->sender_fp, sender);
    mask_fingerprint(t->d->receiver_fp, receiver);
    buf_t payload;
    buf_init(&payload, PAYLOAD_CAP);
    jw_t j;
    jw_init(&j, &payload);
    jw_object_begin(&j);
    jw_key(&j, "donationId");
    jw_int(&j, history_id);
    jw_key(&j, "senderFingerprint");
    jw_string(&j, sender);
    jw_key(&j, "receiverFingerprint");
    jw_string(&j, receiver);
    jw_key(&j, "amount");
    jw_int(&j, t->d->amount);
    jw_object_end(&j);
    const char *text = buf_cstr(&payload);
    int rc = SQLITE_NOMEM;
    if (buf_ok(&payload) && text &&
        store_outbox_content_hash(request_id, EVENT_DONATION_COMPLETED, text, hash) == 0) {
        sqlite3_stmt *st;
        if ((rc = sq_prepare(w, SQL_OUTBOX_INSERT, &st)) == SQLITE_OK) {
            sq_binder_t b = {st, SQLITE_OK};
            sq_bind_text(&b, 1, request_id);
            sq_bind_text(&b, 2, text);
            sq_bind_text(&b, 3, hash);
            sq_bind_i64(&b, 4, t->now_ms);
            sq_bind_text(&b, 5, t->d->origin_request_id);
            rc = sq_step_done(st, b.rc);
        }
    }
    buf_dispose(&payload);
    return rc;
}

static int work_donate(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    donate_t *t = ctx;
    t->outcome = DONATION_DONE;
    t->balance = 0;
    bool admin = t->d->receiver_is_bootstrap_admin;
    int rc;
    if (!admin && (rc = select_one(w, SQL_IS_ADMIN, t->d->receiver_fp, &admin, NULL)) != SQLITE_OK)
        return rc;
    if (!admin) {
        t->outcome = DONATION_NOT_ADMIN;
        return SQ_ROLLBACK_ANSWER;
    }
    int64_t history_id = 0;
    if ((rc = insert_history(w, t, &history_id)) != SQLITE_OK || history_id == 0)
        return rc == SQLITE_OK ? SQ_ROLLBACK_ANSWER : rc; /* replay / conflict: nothing to keep */
    if ((rc = transfer(w, t)) != SQLITE_OK)
        return rc;
    return insert_outbox(w, t, history_id);
}

/* Fields the schema would refuse anyway are refused up front (STORE_CORRUPT, nothing written). */
store_rc_t sq_donate(store_t *s, const store_donation_t *d, int64_t now_ms, donation_rc_t *outcome,
                     int64_t *balance_out)
{
    if (balance_out)
        *balance_out = 0;
    *outcome = DONATION_DONE;
    if (!d || !d->sender_fp || !d->receiver_fp || !d->request_id || !d->request_hash || d->amount <= 0)
        return STORE_CORRUPT;
    donate_t t = {d, now_ms, DONATION_DONE, 0};
    store_rc_t rc = sq_run_write(s, work_donate, &t);
    if (rc != STORE_OK)
        return rc;
    *outcome = t.outcome;
    if (balance_out && t.outcome == DONATION_INSUFFICIENT)
        *balance_out = t.balance;
    return STORE_OK;
}
