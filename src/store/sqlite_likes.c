/*
 * sqlite_likes.c - likes (T04 relation, T05 deltas, T02 like_count; SC-15, SC-16, platform spec
 * 1.6 and 2.3.6) on the SQLite backend (store.h).
 *
 * Like / unlike: one BEGIN IMMEDIATE transaction that inserts-or-ignores (deletes) the relation row
 * and adds a +1 (-1) delta only when the relation changed, so "one like per account" comes from the
 * unique key and the delta log matches the relation exactly.
 *
 * Count: like_count + SUM(pending deltas) in one statement, so it reads one snapshot: the fold moves
 * deltas into like_count in one transaction and a reader sees either side, never both or neither.
 *
 * Fold (SQLite form of 2.3.6): one transaction takes the id of the batch-th oldest delta, adds the
 * per-character sums of the deltas up to that id to like_count (clamped at 0, which only matters
 * for data broken outside this code: a -1 never precedes its +1), then deletes exactly those ids.
 * Ids are AUTOINCREMENT and the fold runs under the one writer, so "the first batch ids" and
 * "ids <= the batch-th id" are the same set.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite_internal.h"

static const char SQL_CHARACTER_ID[] = "SELECT id FROM game_character WHERE ocid = ?1";
static const char SQL_LIKE_INSERT[] =
    "INSERT INTO character_like (target_ocid, liker_account_id, created_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (target_ocid, liker_account_id) DO NOTHING";
static const char SQL_LIKE_DELETE[] = "DELETE FROM character_like WHERE target_ocid = ?1 AND liker_account_id = ?2";
static const char SQL_DELTA_INSERT[] = "INSERT INTO like_delta (character_id, delta, created_at) VALUES (?1, ?2, ?3)";
static const char SQL_LIKE_STATUS[] =
    "SELECT EXISTS (SELECT 1 FROM character_like WHERE target_ocid = ?1 AND liker_account_id = ?2)";
static const char SQL_LIKE_COUNT[] =
    "SELECT max(0, c.like_count + coalesce((SELECT sum(d.delta) FROM like_delta d WHERE d.character_id = c.id), 0))"
    " FROM game_character c WHERE c.ocid = ?1";
static const char SQL_FOLD_UPTO[] = "SELECT max(id) FROM (SELECT id FROM like_delta ORDER BY id LIMIT ?1)";
static const char SQL_FOLD_APPLY[] =
    "UPDATE game_character AS g SET like_count = max(0, g.like_count + s.d)"
    " FROM (SELECT character_id, sum(delta) AS d FROM like_delta WHERE id <= ?1 GROUP BY character_id) AS s"
    " WHERE g.id = s.character_id AND s.d <> 0";
static const char SQL_FOLD_DELETE[] = "DELETE FROM like_delta WHERE id <= ?1";
static const char SQL_BACKLOG[] =
    "SELECT count(*), coalesce((SELECT created_at FROM like_delta ORDER BY id LIMIT 1), 0) FROM like_delta";

#define FOLD_BATCH_DEFAULT 1000 /* 2.3.6 */

/* The character id of an OCID; *found false when there is no row. */
static int character_id(sq_conn_t *c, const char *ocid, int64_t *id, bool *found)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_CHARACTER_ID, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, ocid);
    rc = sq_step(&b);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sq_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

typedef struct {
    const char *ocid, *liker;
    bool like;
    int64_t now_ms;
    bool changed;
} like_set_t;

/* The relation statement (insert-or-ignore or delete); *changed = a row was inserted / deleted. */
static int set_relation(sq_conn_t *w, const like_set_t *l, bool *changed)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, l->like ? SQL_LIKE_INSERT : SQL_LIKE_DELETE, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, l->ocid);
    sq_bind_text(&b, 2, l->liker);
    if (l->like)
        sq_bind_i64(&b, 3, l->now_ms);
    rc = sq_step_done(st, b.rc);
    *changed = rc == SQLITE_OK && sqlite3_changes(sq_db(w)) > 0;
    return rc;
}

static int work_like_set(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    like_set_t *l = ctx;
    l->changed = false;
    int64_t cid = 0;
    bool found = false;
    int rc = character_id(w, l->ocid, &cid, &found);
    if (rc != SQLITE_OK)
        return rc;
    if (!found) {
        *answer = STORE_NOT_FOUND;
        return SQLITE_OK;
    }
    bool changed = false;
    if ((rc = set_relation(w, l, &changed)) != SQLITE_OK || !changed)
        return rc;
    sqlite3_stmt *st;
    if ((rc = sq_prepare(w, SQL_DELTA_INSERT, &st)) != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, cid);
    sq_bind_i64(&b, 2, l->like ? 1 : -1);
    sq_bind_i64(&b, 3, l->now_ms);
    rc = sq_step_done(st, b.rc);
    l->changed = rc == SQLITE_OK;
    return rc;
}

store_rc_t sq_like_set(store_t *s, const char *target_ocid, const char *liker_account, bool like, int64_t now_ms,
                       bool *changed)
{
    if (changed)
        *changed = false;
    if (!target_ocid)
        return STORE_NOT_FOUND;
    if (!liker_account)
        return STORE_CORRUPT;
    like_set_t l = {target_ocid, liker_account, like, now_ms, false};
    store_rc_t rc = sq_run_write(s, work_like_set, &l);
    if (changed)
        *changed = rc == STORE_OK && l.changed;
    return rc;
}

typedef struct {
    const char *ocid, *liker;
    int64_t value;
} like_read_t;

static int work_like_status(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    (void)answer;
    like_read_t *r = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_LIKE_STATUS, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->ocid);
    sq_bind_text(&b, 2, r->liker);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        r->value = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

/* Reads the relation only: STORE_OK with *liked = false when the character or the row is absent. */
store_rc_t sq_like_status(store_t *s, const char *target_ocid, const char *liker_account, bool *liked)
{
    *liked = false;
    if (!target_ocid || !liker_account)
        return STORE_OK;
    like_read_t r = {target_ocid, liker_account, 0};
    store_rc_t rc = sq_run_read(s, work_like_status, &r);
    *liked = rc == STORE_OK && r.value != 0;
    return rc;
}

static int work_like_count(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    like_read_t *r = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_LIKE_COUNT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->ocid);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        r->value = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *answer = STORE_NOT_FOUND;
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

/* STORE_NOT_FOUND when no character row has the OCID. */
store_rc_t sq_like_count(store_t *s, const char *target_ocid, int64_t *count)
{
    *count = 0;
    if (!target_ocid)
        return STORE_NOT_FOUND;
    like_read_t r = {target_ocid, NULL, 0};
    store_rc_t rc = sq_run_read(s, work_like_count, &r);
    if (rc == STORE_OK)
        *count = r.value;
    return rc;
}

typedef struct {
    int batch;
    int64_t folded;
} fold_t;

/* Runs one of the fold statements bound to the last id of the batch. */
static int exec_upto(sq_conn_t *w, const char *sql, int64_t upto)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, upto);
    return sq_step_done(st, b.rc);
}

static int work_like_fold(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    fold_t *f = ctx;
    f->folded = 0;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_FOLD_UPTO, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, f->batch);
    rc = sq_step(&b);
    bool any = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    int64_t upto = any ? sqlite3_column_int64(st, 0) : 0;
    sq_stmt_release(st);
    if (rc != SQLITE_ROW)
        return rc;
    if (!any)
        return SQLITE_OK; /* nothing pending */
    if ((rc = exec_upto(w, SQL_FOLD_APPLY, upto)) != SQLITE_OK || (rc = exec_upto(w, SQL_FOLD_DELETE, upto)) != SQLITE_OK)
        return rc;
    f->folded = sqlite3_changes64(sq_db(w));
    return SQLITE_OK;
}

/* batch < 1 folds the spec's batch of 1000. *folded = deltas folded (batch = a full batch). */
store_rc_t sq_like_fold(store_t *s, int batch, int64_t *folded)
{
    fold_t f = {batch < 1 ? FOLD_BATCH_DEFAULT : batch, 0};
    store_rc_t rc = sq_run_write(s, work_like_fold, &f);
    if (folded)
        *folded = rc == STORE_OK ? f.folded : 0;
    return rc;
}

typedef struct {
    int64_t pending, oldest_ms;
} backlog_t;

static int work_like_backlog(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    (void)answer;
    backlog_t *bl = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_BACKLOG, &st);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bl->pending = sqlite3_column_int64(st, 0);
        bl->oldest_ms = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

store_rc_t sq_like_backlog(store_t *s, int64_t *pending, int64_t *oldest_ms)
{
    backlog_t bl = {0, 0};
    store_rc_t rc = sq_run_read(s, work_like_backlog, &bl);
    if (pending)
        *pending = rc == STORE_OK ? bl.pending : 0;
    if (oldest_ms)
        *oldest_ms = rc == STORE_OK ? bl.oldest_ms : 0;
    return rc;
}
