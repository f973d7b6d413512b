/*
 * sqlite_accounts.c - members and admins (T06, T08; SC-27, SC-28), sessions and refresh tokens
 * (T09, T10; SC-25, SC-26, platform spec 2.3.10) on the SQLite backend (store.h).
 *
 * Reads run on a pooled reader, writes in one BEGIN IMMEDIATE transaction on the writer
 * (store_sqlite_internal.h). Timestamps are the now_ms the caller passes (the DB clock of the single
 * SQLite process). A session or token "expired" means expires_at <= now; "unexpired" expires_at > now.
 *
 * Refresh rotation follows 2.3.10 step by step inside one transaction. Outcomes that revoke state
 * (expired token deleted, family revoked, session's tokens deleted) commit their deletions and report
 * the outcome; only a database failure rolls back. Writes are serialized on the writer, so of N
 * concurrent rotations of one token exactly one finds it unused and wins; the next finds it used
 * and revokes the family (REUSED), the rest find nothing (UNKNOWN).
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "store/store_sqlite_internal.h"

/* ------------------------------------------------------------------------------------------------
 * Members and admins
 * ---------------------------------------------------------------------------------------------- */

static const char SQL_MEMBER_ENSURE[] =
    "INSERT INTO member (fingerprint, point, created_at, updated_at) VALUES (?1, 0, ?2, ?2)"
    " ON CONFLICT (fingerprint) DO NOTHING";
static const char SQL_MEMBER_GET[] = "SELECT id, fingerprint, point FROM member WHERE fingerprint = ?1";
static const char SQL_ADMIN_LIST[] = "SELECT fingerprint FROM admin_member ORDER BY fingerprint";
static const char SQL_ADMIN_INSERT[] = "INSERT INTO admin_member (fingerprint, added_by, created_at)"
                                       " VALUES (?1, ?2, ?3) ON CONFLICT (fingerprint) DO NOTHING";
static const char SQL_ADMIN_DELETE[] = "DELETE FROM admin_member WHERE fingerprint = ?1";

typedef struct {
    const char *fingerprint, *added_by;
    int64_t now_ms;
} member_write_t;

static int member_ensure(sq_conn_t *w, const char *fingerprint, int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_MEMBER_ENSURE, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, fingerprint);
    sq_bind_i64(&b, 2, now_ms);
    return sq_step_done(st, b.rc);
}

static int work_member_ensure(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    member_write_t *m = ctx;
    return member_ensure(w, m->fingerprint, m->now_ms);
}

store_rc_t sq_member_ensure(store_t *s, const char *fingerprint, int64_t now_ms)
{
    if (!fingerprint)
        return STORE_CORRUPT;
    member_write_t m = {fingerprint, NULL, now_ms};
    return sq_run_write(s, work_member_ensure, &m);
}

typedef struct {
    const char *fingerprint;
    store_member_t *out;
} member_get_t;

static int work_member_get(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    member_get_t *g = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_MEMBER_GET, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, g->fingerprint);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        rc = SQLITE_OK;
        g->out->id = sqlite3_column_int64(st, 0);
        if (!sq_column_copy(st, 1, g->out->fingerprint, sizeof g->out->fingerprint, false))
            *answer = STORE_CORRUPT;
        g->out->point = sqlite3_column_int64(st, 2);
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        *answer = STORE_NOT_FOUND;
    }
    sq_stmt_release(st);
    return rc;
}

store_rc_t sq_member_get(store_t *s, const char *fingerprint, store_member_t *out)
{
    memset(out, 0, sizeof *out);
    if (!fingerprint)
        return STORE_NOT_FOUND;
    member_get_t g = {fingerprint, out};
    store_rc_t rc = sq_run_read(s, work_member_get, &g);
    if (rc != STORE_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

typedef struct {
    char **v;
    size_t n, cap;
} strings_t;

static int work_admin_list(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    (void)answer;
    strings_t *l = ctx;
    store_strings_free(l->v, l->n); /* a retried attempt starts clean */
    *l = (strings_t){0};
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_ADMIN_LIST, &st);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 8;
            char **v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                rc = SQLITE_NOMEM;
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        bool ok = true;
        char *fp = sq_column_strdup(st, 0, &ok);
        if (!ok || !fp) {
            rc = SQLITE_NOMEM;
            break;
        }
        l->v[l->n++] = fp;
    }
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

store_rc_t sq_admin_list(store_t *s, char ***fps, size_t *n)
{
    strings_t l = {0};
    store_rc_t rc = sq_run_read(s, work_admin_list, &l);
    if (rc != STORE_OK) {
        store_strings_free(l.v, l.n);
        l = (strings_t){0};
    }
    *fps = l.v;
    *n = l.n;
    return rc;
}

static int work_admin_add(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    member_write_t *m = ctx;
    int rc = member_ensure(w, m->fingerprint, m->now_ms);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *st;
    if ((rc = sq_prepare(w, SQL_ADMIN_INSERT, &st)) != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, m->fingerprint);
    sq_bind_text(&b, 2, m->added_by);
    sq_bind_i64(&b, 3, m->now_ms);
    return sq_step_done(st, b.rc);
}

store_rc_t sq_admin_add(store_t *s, const char *fingerprint, const char *added_by, int64_t now_ms)
{
    if (!fingerprint || !added_by)
        return STORE_CORRUPT;
    member_write_t m = {fingerprint, added_by, now_ms};
    return sq_run_write(s, work_admin_add, &m);
}

/* Runs a statement with one text parameter and no rows; *changes = rows changed. */
static int exec_text(sq_conn_t *w, const char *sql, const char *text, int64_t *changes)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, text);
    rc = sq_step_done(st, b.rc);
    if (changes)
        *changes = rc == SQLITE_OK ? sqlite3_changes64(sq_db(w)) : 0;
    return rc;
}

static int work_admin_remove(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    int64_t changes = 0;
    int rc = exec_text(w, SQL_ADMIN_DELETE, ctx, &changes);
    if (rc == SQLITE_OK && changes == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

store_rc_t sq_admin_remove(store_t *s, const char *fingerprint)
{
    if (!fingerprint)
        return STORE_NOT_FOUND;
    return sq_run_write(s, work_admin_remove, (void *)(uintptr_t)fingerprint);
}

/* ------------------------------------------------------------------------------------------------
 * Sessions
 * ---------------------------------------------------------------------------------------------- */

#define SESSION_COLUMNS                                                                            \
    "id, fingerprint, user_ign, account_id, my_ocids, role, created_at, last_accessed_at, expires_at"

static const char SQL_SESSION_INSERT[] = "INSERT INTO auth_session (" SESSION_COLUMNS ")"
                                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_SESSION_GET[] = "SELECT " SESSION_COLUMNS " FROM auth_session WHERE id = ?1";
static const char SQL_SESSION_TOUCH[] =
    "UPDATE auth_session SET last_accessed_at = ?2, expires_at = ?2 + ?3"
    " WHERE id = ?1 AND expires_at > ?2 AND last_accessed_at < ?2 - ?4";
static const char SQL_SESSION_ALIVE[] = "SELECT 1 FROM auth_session WHERE id = ?1 AND expires_at > ?2";
static const char SQL_SESSION_DELETE[] = "DELETE FROM auth_session WHERE id = ?1";
static const char SQL_SESSION_TOKENS_DELETE[] = "DELETE FROM refresh_token WHERE session_id = ?1";

/* Row of SESSION_COLUMNS -> out. SQLITE_OK (with *answer = STORE_CORRUPT for fields the struct
 * cannot hold) or SQLITE_NOMEM. */
static int read_session(sqlite3_stmt *st, store_session_t *out, store_rc_t *answer)
{
    bool ok = true, valid = true;
    valid &= sq_column_copy(st, 0, out->id, sizeof out->id, false);
    valid &= sq_column_copy(st, 1, out->fingerprint, sizeof out->fingerprint, false);
    out->user_ign = sq_column_strdup(st, 2, &ok);
    valid &= sq_column_copy(st, 3, out->account_id, sizeof out->account_id, false);
    out->my_ocids_json = sq_column_strdup(st, 4, &ok);
    valid &= sq_column_copy(st, 5, out->role, sizeof out->role, false);
    out->created_ms = sqlite3_column_int64(st, 6);
    out->last_accessed_ms = sqlite3_column_int64(st, 7);
    out->expires_ms = sqlite3_column_int64(st, 8);
    if (!ok) {
        store_session_clear(out);
        return SQLITE_NOMEM;
    }
    if (!valid || !out->user_ign || !out->my_ocids_json) {
        store_session_clear(out);
        *answer = STORE_CORRUPT;
    }
    return SQLITE_OK;
}

/* SELECT of one session by id into out; *answer = STORE_NOT_FOUND when absent. */
static int select_session(sq_conn_t *c, const char *id, store_session_t *out, store_rc_t *answer)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(c, SQL_SESSION_GET, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, id);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        rc = read_session(st, out, answer);
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
        *answer = STORE_NOT_FOUND;
    }
    sq_stmt_release(st);
    return rc;
}

/* The fixed-size text fields of a session given to a write must be NUL-terminated in their arrays. */
static bool session_fields_valid(const store_session_t *s)
{
    return memchr(s->id, '\0', sizeof s->id) && memchr(s->fingerprint, '\0', sizeof s->fingerprint) &&
           memchr(s->account_id, '\0', sizeof s->account_id) && memchr(s->role, '\0', sizeof s->role);
}

static int work_session_create(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    const store_session_t *n = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_SESSION_INSERT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, n->id);
    sq_bind_text(&b, 2, n->fingerprint);
    sq_bind_text(&b, 3, n->user_ign);
    sq_bind_text(&b, 4, n->account_id);
    sq_bind_text(&b, 5, n->my_ocids_json);
    sq_bind_text(&b, 6, n->role);
    sq_bind_i64(&b, 7, n->created_ms);
    sq_bind_i64(&b, 8, n->last_accessed_ms);
    sq_bind_i64(&b, 9, n->expires_ms);
    return sq_step_done(st, b.rc);
}

/* A duplicate id or a missing required field is refused by the schema: STORE_CORRUPT. */
store_rc_t sq_session_create(store_t *s, const store_session_t *sess)
{
    if (!sess || !session_fields_valid(sess))
        return STORE_CORRUPT;
    return sq_run_write(s, work_session_create, (void *)(uintptr_t)sess);
}

typedef struct {
    const char *id;
    store_session_t *out;
} session_get_t;

static int work_session_get(sq_conn_t *c, void *ctx, store_rc_t *answer)
{
    session_get_t *g = ctx;
    store_session_clear(g->out); /* a retried attempt starts clean */
    return select_session(c, g->id, g->out, answer);
}

/* Returns the row whatever its expiry: the caller compares expires_ms with its clock (2.3.10). */
store_rc_t sq_session_get(store_t *s, const char *id, store_session_t *out)
{
    memset(out, 0, sizeof *out);
    if (!id)
        return STORE_NOT_FOUND;
    session_get_t g = {id, out};
    store_rc_t rc = sq_run_read(s, work_session_get, &g);
    if (rc != STORE_OK)
        store_session_clear(out);
    return rc;
}

typedef struct {
    const char *id;
    int64_t now_ms, ttl_ms, touch_ms;
} session_touch_t;

static int work_session_touch(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    session_touch_t *t = ctx;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_SESSION_TOUCH, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, t->id);
    sq_bind_i64(&b, 2, t->now_ms);
    sq_bind_i64(&b, 3, t->ttl_ms);
    sq_bind_i64(&b, 4, t->touch_ms);
    if ((rc = sq_step_done(st, b.rc)) != SQLITE_OK || sqlite3_changes(sq_db(w)) > 0)
        return rc;
    /* Not touched: either recently touched (fine) or absent/expired (NOT_FOUND). */
    if ((rc = sq_prepare(w, SQL_SESSION_ALIVE, &st)) != SQLITE_OK)
        return rc;
    b = (sq_binder_t){st, SQLITE_OK};
    sq_bind_text(&b, 1, t->id);
    sq_bind_i64(&b, 2, t->now_ms);
    rc = sq_step(&b);
    sq_stmt_release(st);
    if (rc == SQLITE_DONE)
        *answer = STORE_NOT_FOUND;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* STORE_OK when the session is unexpired (touched, or touched recently enough); STORE_NOT_FOUND
 * when it is absent or expired. */
store_rc_t sq_session_touch(store_t *s, const char *id, int64_t now_ms, int64_t ttl_ms, int64_t touch_ms)
{
    if (!id)
        return STORE_NOT_FOUND;
    session_touch_t t = {id, now_ms, ttl_ms, touch_ms};
    return sq_run_write(s, work_session_touch, &t);
}

static int work_session_delete(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    int64_t sessions = 0;
    /* Tokens first and explicitly: the ON DELETE CASCADE would do it, but logout must not depend
     * on the foreign_keys setting of the connection. */
    int rc = exec_text(w, SQL_SESSION_TOKENS_DELETE, ctx, NULL);
    if (rc == SQLITE_OK)
        rc = exec_text(w, SQL_SESSION_DELETE, ctx, &sessions);
    if (rc == SQLITE_OK && sessions == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

store_rc_t sq_session_delete(store_t *s, const char *id)
{
    if (!id)
        return STORE_NOT_FOUND;
    return sq_run_write(s, work_session_delete, (void *)(uintptr_t)id);
}

/* ------------------------------------------------------------------------------------------------
 * Refresh tokens
 * ---------------------------------------------------------------------------------------------- */

static const char SQL_REFRESH_INSERT[] =
    "INSERT INTO refresh_token (token_hash, family_id, session_id, fingerprint, issued_at, expires_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?5 + ?6)";
static const char SQL_REFRESH_GET[] = "SELECT family_id, session_id, fingerprint, expires_at, used_at"
                                      " FROM refresh_token WHERE token_hash = ?1";
static const char SQL_REFRESH_DELETE[] = "DELETE FROM refresh_token WHERE token_hash = ?1";
static const char SQL_REFRESH_MARK_USED[] =
    "UPDATE refresh_token SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL";
/* Reuse: the family's session(s) first, while the family's rows still name them (the foreign key
 * cascades their tokens), then the family and the session's tokens explicitly, so the revocation
 * does not depend on the connection's foreign_keys setting. ?1 family, ?2 the presented token's session. */
static const char SQL_FAMILY_SESSIONS_DELETE[] =
    "DELETE FROM auth_session WHERE id = ?2 OR id IN (SELECT session_id FROM refresh_token WHERE family_id = ?1)";
static const char SQL_FAMILY_DELETE[] = "DELETE FROM refresh_token WHERE family_id = ?1 OR session_id = ?2";
static const char SQL_SESSION_EXTEND[] =
    "UPDATE auth_session SET last_accessed_at = ?2, expires_at = ?2 + ?3 WHERE id = ?1";
static const char SQL_PURGE_TOKENS[] =
    "DELETE FROM refresh_token WHERE expires_at <= ?1"
    " OR session_id IN (SELECT id FROM auth_session WHERE expires_at <= ?1)";
static const char SQL_PURGE_SESSIONS[] = "DELETE FROM auth_session WHERE expires_at <= ?1";

typedef struct {
    const char *token_hash, *family_id, *session_id, *fingerprint;
    int64_t now_ms, ttl_ms;
} refresh_new_t;

static int insert_refresh(sq_conn_t *w, const refresh_new_t *r)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_REFRESH_INSERT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->token_hash);
    sq_bind_text(&b, 2, r->family_id);
    sq_bind_text(&b, 3, r->session_id);
    sq_bind_text(&b, 4, r->fingerprint);
    sq_bind_i64(&b, 5, r->now_ms);
    sq_bind_i64(&b, 6, r->ttl_ms);
    return sq_step_done(st, b.rc);
}

static int work_refresh_insert(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    return insert_refresh(w, ctx);
}

/* The session must exist (foreign key): a token for a missing session is refused, STORE_CORRUPT. */
store_rc_t sq_refresh_insert(store_t *s, const char *token_hash, const char *family_id, const char *session_id,
                             const char *fingerprint, int64_t now_ms, int64_t ttl_ms)
{
    if (!token_hash || !family_id || !session_id || !fingerprint)
        return STORE_CORRUPT;
    refresh_new_t r = {token_hash, family_id, session_id, fingerprint, now_ms, ttl_ms};
    return sq_run_write(s, work_refresh_insert, &r);
}

typedef struct {
    const char *old_hash, *new_hash;
    int64_t now_ms, refresh_ttl_ms, session_ttl_ms;
    refresh_rc_t outcome;
    store_session_t *session_out;
} rotate_t;

/* The looked-up token (2.3.10 step 1). */
typedef struct {
    bool found;
    char family_id[37], session_id[37], fingerprint[65];
    int64_t expires_ms;
    bool used;
} token_t;

static int lookup_token(sq_conn_t *w, const char *hash, token_t *t, store_rc_t *answer)
{
    memset(t, 0, sizeof *t);
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_REFRESH_GET, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, hash);
    rc = sq_step(&b);
    if (rc == SQLITE_ROW) {
        rc = SQLITE_OK;
        t->found = true;
        bool valid = sq_column_copy(st, 0, t->family_id, sizeof t->family_id, false) &&
                     sq_column_copy(st, 1, t->session_id, sizeof t->session_id, false) &&
                     sq_column_copy(st, 2, t->fingerprint, sizeof t->fingerprint, false);
        t->expires_ms = sqlite3_column_int64(st, 3);
        t->used = sqlite3_column_type(st, 4) != SQLITE_NULL;
        if (!valid)
            *answer = STORE_CORRUPT;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

/* Runs one of the revocation statements bound to (family, session). */
static int exec_family(sq_conn_t *w, const char *sql, const token_t *t)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, t->family_id);
    sq_bind_text(&b, 2, t->session_id);
    return sq_step_done(st, b.rc);
}

/* Reuse detected: delete all tokens of the family and the family's session. */
static int revoke_family(sq_conn_t *w, const token_t *t)
{
    int rc = exec_family(w, SQL_FAMILY_SESSIONS_DELETE, t);
    if (rc == SQLITE_OK)
        rc = exec_family(w, SQL_FAMILY_DELETE, t);
    return rc;
}

static int mark_used(sq_conn_t *w, const rotate_t *r, bool *marked)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_REFRESH_MARK_USED, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->old_hash);
    sq_bind_i64(&b, 2, r->now_ms);
    rc = sq_step_done(st, b.rc);
    *marked = rc == SQLITE_OK && sqlite3_changes(sq_db(w)) > 0;
    return rc;
}

static int extend_session(sq_conn_t *w, const rotate_t *r, const char *session_id)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_SESSION_EXTEND, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, session_id);
    sq_bind_i64(&b, 2, r->now_ms);
    sq_bind_i64(&b, 3, r->session_ttl_ms);
    return sq_step_done(st, b.rc);
}

/* Steps 5-8 of 2.3.10 for an old token just marked used: the session must be alive; then the new
 * token, the touch, and the touched session read back. */
static int rotate_into_session(sq_conn_t *w, rotate_t *r, const token_t *old, store_rc_t *answer)
{
    store_rc_t found = STORE_OK;
    int rc = select_session(w, old->session_id, r->session_out, &found);
    if (rc != SQLITE_OK)
        return rc;
    if (found == STORE_CORRUPT) {
        *answer = STORE_CORRUPT;
        return SQ_ROLLBACK_ANSWER;
    }
    if (found == STORE_NOT_FOUND || r->session_out->expires_ms <= r->now_ms) {
        store_session_clear(r->session_out);
        r->outcome = REFRESH_SESSION_GONE;
        return exec_text(w, SQL_SESSION_TOKENS_DELETE, old->session_id, NULL);
    }
    store_session_clear(r->session_out);
    refresh_new_t n = {r->new_hash, old->family_id, old->session_id, old->fingerprint, r->now_ms,
                       r->refresh_ttl_ms};
    if ((rc = insert_refresh(w, &n)) != SQLITE_OK || (rc = extend_session(w, r, old->session_id)) != SQLITE_OK)
        return rc;
    if ((rc = select_session(w, old->session_id, r->session_out, &found)) != SQLITE_OK)
        return rc;
    if (found != STORE_OK)
        return SQLITE_INTERNAL; /* the row was just read and updated in this transaction */
    r->outcome = REFRESH_ROTATED;
    return SQLITE_OK;
}

static int work_refresh_rotate(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    rotate_t *r = ctx;
    store_session_clear(r->session_out); /* a retried attempt starts clean */
    r->outcome = REFRESH_UNKNOWN;
    token_t old;
    int rc = lookup_token(w, r->old_hash, &old, answer);
    if (rc != SQLITE_OK || *answer != STORE_OK || !old.found)
        return rc;
    if (old.expires_ms <= r->now_ms) {
        r->outcome = REFRESH_EXPIRED;
        return exec_text(w, SQL_REFRESH_DELETE, r->old_hash, NULL);
    }
    bool marked = false;
    if (!old.used && (rc = mark_used(w, r, &marked)) != SQLITE_OK)
        return rc;
    if (!marked) { /* used before, or (zero rows) used by a concurrent caller: reuse */
        r->outcome = REFRESH_REUSED;
        /* Tell the caller which session died, so it can drop its cached copy at once. */
        snprintf(r->session_out->id, sizeof r->session_out->id, "%s", old.session_id);
        return revoke_family(w, &old);
    }
    return rotate_into_session(w, r, &old, answer);
}

store_rc_t sq_refresh_rotate(store_t *s, const char *old_hash, const char *new_hash, int64_t now_ms,
                             int64_t refresh_ttl_ms, int64_t session_ttl_ms, refresh_rc_t *outcome,
                             store_session_t *session_out)
{
    store_session_t scratch;
    if (!session_out)
        session_out = &scratch;
    memset(session_out, 0, sizeof *session_out);
    *outcome = REFRESH_UNKNOWN;
    if (!old_hash)
        return STORE_OK;
    if (!new_hash)
        return STORE_CORRUPT;
    rotate_t r = {old_hash, new_hash, now_ms, refresh_ttl_ms, session_ttl_ms, REFRESH_UNKNOWN, session_out};
    store_rc_t rc = sq_run_write(s, work_refresh_rotate, &r);
    char revoked[37];
    snprintf(revoked, sizeof revoked, "%s", session_out->id);
    if (rc != STORE_OK || r.outcome != REFRESH_ROTATED || session_out == &scratch)
        store_session_clear(session_out);
    if (rc == STORE_OK && r.outcome == REFRESH_REUSED && session_out != &scratch)
        snprintf(session_out->id, sizeof session_out->id, "%s", revoked); /* only the id (store.h) */
    *outcome = rc == STORE_OK ? r.outcome : REFRESH_UNKNOWN;
    return rc;
}

typedef struct {
    int64_t now_ms, deleted;
} purge_t;

static int work_auth_purge(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    purge_t *p = ctx;
    p->deleted = 0;
    const char *const sql[2] = {SQL_PURGE_TOKENS, SQL_PURGE_SESSIONS}; /* tokens first: they reference sessions */
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        int rc = sq_prepare(w, sql[i], &st);
        if (rc != SQLITE_OK)
            return rc;
        sq_binder_t b = {st, SQLITE_OK};
        sq_bind_i64(&b, 1, p->now_ms);
        if ((rc = sq_step_done(st, b.rc)) != SQLITE_OK)
            return rc;
        p->deleted += sqlite3_changes64(sq_db(w));
    }
    return SQLITE_OK;
}

/* *deleted counts sessions and tokens together. */
store_rc_t sq_auth_purge(store_t *s, int64_t now_ms, int64_t *deleted)
{
    purge_t p = {now_ms, 0};
    store_rc_t rc = sq_run_write(s, work_auth_purge, &p);
    if (deleted)
        *deleted = rc == STORE_OK ? p.deleted : 0;
    return rc;
}
