/*
 * sqlite_lease.c - leader leases in the primary database (T17 job_lease; SC-06, platform spec
 * 2.3.4) and daily quota counters (T19 quota_counter; M24) on the SQLite backend (store.h).
 *
 * Leases use the statements of 2.3.4 with the caller's now_ms as the DB clock:
 *   acquire: the row is created on first use (holder NULL, token 0, lease_until = now), then
 *            taken when free or expired (lease_until < now): holder = me, fencing_token + 1,
 *            lease_until = now + ttl. The token therefore strictly increases on every acquisition.
 *   renew:   only by the holder with its token while unexpired (lease_until > now).
 *   release: only by the holder with its token; holder NULL (lease_until = the process clock).
 * "Busy" / "not yours" is STORE_NOT_FOUND, a normal answer (G6).
 *
 * Quotas: the day's row is created if absent (used 0, limit_value = limit), then
 * used = used + 1 WHERE used < limit_value RETURNING used; no row = exhausted (STORE_NOT_FOUND).
 * The limit of a day is fixed by its first consumer. Each call is one write transaction, so
 * concurrent consumers get exactly limit successes.
 */
#include <string.h>

#include "base/clock.h"
#include "store/store_sqlite_internal.h"

static const char SQL_LEASE_CREATE[] =
    "INSERT INTO job_lease (name, holder, fencing_token, lease_until) VALUES (?1, NULL, 0, ?2)"
    " ON CONFLICT (name) DO NOTHING";
static const char SQL_LEASE_ACQUIRE[] =
    "UPDATE job_lease SET holder = ?2, fencing_token = fencing_token + 1, lease_until = ?3 + ?4, acquired_at = ?3"
    " WHERE name = ?1 AND (holder IS NULL OR lease_until < ?3) RETURNING fencing_token";
static const char SQL_LEASE_RENEW[] =
    "UPDATE job_lease SET lease_until = ?4 + ?5"
    " WHERE name = ?1 AND holder = ?2 AND fencing_token = ?3 AND lease_until > ?4";
static const char SQL_LEASE_RELEASE[] =
    "UPDATE job_lease SET holder = NULL, lease_until = ?4 WHERE name = ?1 AND holder = ?2 AND fencing_token = ?3";
static const char SQL_QUOTA_CREATE[] =
    "INSERT INTO quota_counter (name, day, used, limit_value) VALUES (?1, ?2, 0, ?3) ON CONFLICT DO NOTHING";
static const char SQL_QUOTA_CONSUME[] =
    "UPDATE quota_counter SET used = used + 1 WHERE name = ?1 AND day = ?2 AND used < limit_value RETURNING used";

typedef struct {
    const char *name, *holder;
    int64_t token, ttl_ms, now_ms;
} lease_t;

/* Steps a statement whose RETURNING gives at most one integer: *value, *found. */
static int step_returning(sqlite3_stmt *st, int bind_rc, int64_t *value, bool *found)
{
    int rc = bind_rc == SQLITE_OK ? sqlite3_step(st) : bind_rc;
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st); /* let the statement finish */
    }
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int work_lease_acquire(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    lease_t *l = ctx;
    l->token = 0;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_LEASE_CREATE, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, l->name);
    sq_bind_i64(&b, 2, l->now_ms);
    if ((rc = sq_step_done(st, b.rc)) != SQLITE_OK)
        return rc;
    if ((rc = sq_prepare(w, SQL_LEASE_ACQUIRE, &st)) != SQLITE_OK)
        return rc;
    b = (sq_binder_t){st, SQLITE_OK};
    sq_bind_text(&b, 1, l->name);
    sq_bind_text(&b, 2, l->holder);
    sq_bind_i64(&b, 3, l->now_ms);
    sq_bind_i64(&b, 4, l->ttl_ms);
    bool found = false;
    rc = step_returning(st, b.rc, &l->token, &found);
    if (rc == SQLITE_OK && !found)
        *answer = STORE_NOT_FOUND; /* held by someone (possibly the caller) and unexpired */
    return rc;
}

store_rc_t sq_lease_acquire(store_t *s, const char *name, const char *holder, int64_t ttl_ms, int64_t now_ms,
                            int64_t *token)
{
    *token = 0;
    if (!name || !holder)
        return STORE_CORRUPT;
    lease_t l = {name, holder, 0, ttl_ms, now_ms};
    store_rc_t rc = sq_run_write(s, work_lease_acquire, &l);
    if (rc == STORE_OK)
        *token = l.token;
    return rc;
}

/* Renew and release: one guarded UPDATE; zero rows -> STORE_NOT_FOUND. */
static int work_lease_update(sq_conn_t *w, const char *sql, const lease_t *l, store_rc_t *answer)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(w, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, l->name);
    sq_bind_text(&b, 2, l->holder);
    sq_bind_i64(&b, 3, l->token);
    sq_bind_i64(&b, 4, l->now_ms);
    if (sql == SQL_LEASE_RENEW)
        sq_bind_i64(&b, 5, l->ttl_ms);
    rc = sq_step_done(st, b.rc);
    if (rc == SQLITE_OK && sqlite3_changes(sq_db(w)) == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

static int work_lease_renew(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    return work_lease_update(w, SQL_LEASE_RENEW, ctx, answer);
}

static int work_lease_release(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    return work_lease_update(w, SQL_LEASE_RELEASE, ctx, answer);
}

/* STORE_NOT_FOUND: the lease is lost (expired, taken over, or never held with this token). */
store_rc_t sq_lease_renew(store_t *s, const char *name, const char *holder, int64_t token, int64_t ttl_ms,
                          int64_t now_ms)
{
    if (!name || !holder)
        return STORE_NOT_FOUND;
    lease_t l = {name, holder, token, ttl_ms, now_ms};
    return sq_run_write(s, work_lease_renew, &l);
}

/* STORE_NOT_FOUND when not held by (holder, token). Releasing an expired but not yet taken lease
 * still succeeds (nobody else holds it). */
store_rc_t sq_lease_release(store_t *s, const char *name, const char *holder, int64_t token)
{
    if (!name || !holder)
        return STORE_NOT_FOUND;
    lease_t l = {name, holder, token, 0, clock_wall_ms()};
    return sq_run_write(s, work_lease_release, &l);
}

typedef struct {
    const char *name, *day;
    int64_t limit, used;
} quota_t;

static int work_quota_consume(sq_conn_t *w, void *ctx, store_rc_t *answer)
{
    quota_t *q = ctx;
    q->used = 0;
    sqlite3_stmt *st;
    int rc = sq_prepare(w, SQL_QUOTA_CREATE, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, q->name);
    sq_bind_text(&b, 2, q->day);
    sq_bind_i64(&b, 3, q->limit);
    if ((rc = sq_step_done(st, b.rc)) != SQLITE_OK)
        return rc;
    if ((rc = sq_prepare(w, SQL_QUOTA_CONSUME, &st)) != SQLITE_OK)
        return rc;
    b = (sq_binder_t){st, SQLITE_OK};
    sq_bind_text(&b, 1, q->name);
    sq_bind_text(&b, 2, q->day);
    bool found = false;
    rc = step_returning(st, b.rc, &q->used, &found);
    if (rc == SQLITE_OK && !found)
        *answer = STORE_NOT_FOUND;
    return rc;
}

/* A limit < 0 is refused by the CHECK (used <= limit_value): STORE_CORRUPT; limit 0 is always
 * exhausted. A malformed day (not YYYY-MM-DD) is refused: STORE_CORRUPT. */
store_rc_t sq_quota_consume(store_t *s, const char *name, const char *day, int64_t limit, int64_t *used_out)
{
    if (used_out)
        *used_out = 0;
    if (!name || !day)
        return STORE_CORRUPT;
    quota_t q = {name, day, limit, 0};
    store_rc_t rc = sq_run_write(s, work_quota_consume, &q);
    if (rc == STORE_OK && used_out)
        *used_out = q.used;
    return rc;
}
