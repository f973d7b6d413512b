/* test_store_accounts.c - the issue-4 write paths of the SQLite store (store.h; platform spec 1.6-1.10,
 * 2.3.4, 2.3.6, 2.3.8, 2.3.10, T04-T19): members and admins, sessions and refresh rotation (all five
 * outcomes, one winner among concurrent rotations), likes and the fold (exact counts under concurrent
 * like/unlike/fold), donations (replay, key conflict, every refusal rolled back, concurrent
 * idempotency keys), the outbox lifecycle (claim, backoff, dead-letter with its DLQ row in the same
 * transaction, claim guard, reclaim with hash check), DLQ paging/reprocess/discard, DB leases with
 * fencing tokens, and quota counters under concurrency. Each test works in its own mkdtemp directory
 * under /tmp; a raw SQLite connection seeds and inspects the file. */
#include "testutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/hash.h"
#include "store/store.h"

#define READERS 4
#define NOW INT64_C(1700000000000) /* a fixed "DB clock" for deterministic timestamps */

typedef struct {
    tu_db_t db;  /* the store in its mkdtemp directory (testutil.h) */
    sqlite3 *raw; /* seeding and inspection; closed before the store */
} fx_t;

/* ---- fixture ---- */

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx || !tu_db_open(&fx->db, "accounts", READERS)) {
        free(fx);
        return -1;
    }
    fx->raw = tu_raw_open(fx->db.path, SQLITE_OPEN_READWRITE);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    sqlite3_close(fx->raw);
    tu_db_close(&fx->db);
    free(fx);
    return 0;
}

/* ---- raw access: most statements are built printf-style ---- */

typedef struct {
    char text[1024];
} sql_t;

/* The formatted statement; sqlf(...).text lives until the end of the caller's full expression. */
static sql_t sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static sql_t sqlf(const char *fmt, ...)
{
    sql_t q;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q.text, sizeof q.text, fmt, ap);
    va_end(ap);
    return q;
}

#define raw_execf(db, ...) tu_raw_exec((db), sqlf(__VA_ARGS__).text)
/* The first column of the first row as an integer (-1 when there is no row or it is NULL). */
#define raw_int(db, ...) tu_raw_int((db), sqlf(__VA_ARGS__).text)
/* The first column of the first row as text into out ("" when NULL or no row). */
#define raw_text(db, out, cap, ...) tu_raw_text((db), sqlf(__VA_ARGS__).text, (out), (cap))

/* Runs `sql` (a count of rows breaking an invariant) on a read-only connection of its own, again
 * and again until *stop: every nonzero answer is a violation, since the invariant must hold in
 * every snapshot a reader can see. No cmocka asserts here: it runs on its own thread. */
typedef struct {
    const char *path, *sql;
    int pause_us; /* between checks */
    atomic_bool *stop;
    atomic_int violations, checks;
} invariant_checker_t;

static void *invariant_check_thread(void *arg)
{
    invariant_checker_t *c = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        atomic_fetch_add(&c->violations, 1000);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, c->sql, -1, &st, NULL);
    while (st && !atomic_load(c->stop)) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) != 0)
            atomic_fetch_add(&c->violations, 1);
        sqlite3_reset(st);
        atomic_fetch_add(&c->checks, 1);
        if (c->pause_us > 0)
            usleep((useconds_t)c->pause_us);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

/* ---- builders ---- */

/* A 43-character fingerprint: tag, digits, filler. */
static void make_fp(char out[44], const char *tag, int i)
{
    char full[128];
    snprintf(full, sizeof full, "%s%04d%s", tag, i, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
    memcpy(out, full, 43);
    out[43] = '\0';
}

static void hash_of(const char *text, char out[65])
{
    assert_int_equal(sha256_hex(text, strlen(text), out), 0);
}

static void content_hash(const char *rid, const char *type, const char *payload, char out[65])
{
    char text[2048];
    snprintf(text, sizeof text, "%s|%s|%s", rid, type, payload);
    hash_of(text, out);
}

static void ensure_character(fx_t *fx, const char *ocid, const char *ign)
{
    store_character_t c;
    assert_int_equal(fx->db.s->ops->character_upsert(fx->db.s, ocid, ign, &c), STORE_OK);
    store_character_clear(&c);
}

static void set_points(fx_t *fx, const char *fp, int64_t points)
{
    assert_int_equal(fx->db.s->ops->member_ensure(fx->db.s, fp, NOW), STORE_OK);
    raw_execf(fx->raw, "UPDATE member SET point = %" PRId64 " WHERE fingerprint = '%s'", points, fp);
}

static int64_t points_of(fx_t *fx, const char *fp)
{
    store_member_t m;
    assert_int_equal(fx->db.s->ops->member_get(fx->db.s, fp, &m), STORE_OK);
    assert_string_equal(m.fingerprint, fp);
    return m.point;
}

/* An outbox row with a correct content hash; returns its id. */
static int64_t raw_outbox(fx_t *fx, outbox_queue_t q, const char *rid, const char *type, const char *payload,
                          int64_t next_ms)
{
    char hash[65];
    content_hash(rid, type, payload, hash);
    if (q == OUTBOX_DONATION)
        raw_execf(fx->raw,
                  "INSERT INTO donation_outbox (request_id, event_type, payload, content_hash, next_retry_at,"
                  " created_at, updated_at) VALUES ('%s', '%s', '%s', '%s', %" PRId64 ", 1, 1)",
                  rid, type, payload, hash, next_ms);
    else
        raw_execf(fx->raw,
                  "INSERT INTO nexon_api_outbox (request_id, event_type, payload, content_hash, next_retry_at,"
                  " created_at, updated_at, dedup_key) VALUES ('%s', '%s', '%s', '%s', %" PRId64 ", 1, 1, '%s:%s')",
                  rid, type, payload, hash, next_ms, type, payload);
    return sqlite3_last_insert_rowid(fx->raw);
}

static store_outbox_row_t claim_one(fx_t *fx, outbox_queue_t q, int64_t now_ms)
{
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(fx->db.s->ops->outbox_claim(fx->db.s, q, "inst-1", 1, now_ms, &rows, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_outbox_row_t r = rows[0];
    r.payload = NULL;
    store_outbox_rows_free(rows, n);
    return r;
}

static size_t claim_count(fx_t *fx, outbox_queue_t q, int batch, int64_t now_ms)
{
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(fx->db.s->ops->outbox_claim(fx->db.s, q, "inst-1", batch, now_ms, &rows, &n), STORE_OK);
    store_outbox_rows_free(rows, n);
    return n;
}

/* ================================================================================================
 * Members and admins
 * ============================================================================================== */

static void test_members_and_admins(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    char a[44], b[44], c[44];
    make_fp(a, "c", 1);
    make_fp(b, "a", 2);
    make_fp(c, "b", 3);

    store_member_t m;
    assert_int_equal(s->ops->member_get(s, a, &m), STORE_NOT_FOUND);
    assert_int_equal(s->ops->member_ensure(s, a, NOW), STORE_OK);
    raw_execf(fx->raw, "UPDATE member SET point = 7 WHERE fingerprint = '%s'", a);
    assert_int_equal(s->ops->member_ensure(s, a, NOW + 1), STORE_OK); /* idempotent: points kept */
    assert_int_equal(s->ops->member_get(s, a, &m), STORE_OK);
    assert_int_equal(m.point, 7);
    assert_true(m.id > 0);

    char **fps = NULL;
    size_t n = 99;
    assert_int_equal(s->ops->admin_list(s, &fps, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_strings_free(fps, n);

    assert_int_equal(s->ops->admin_add(s, a, "bootstrap", NOW), STORE_OK);
    assert_int_equal(s->ops->admin_add(s, b, a, NOW), STORE_OK);
    assert_int_equal(s->ops->admin_add(s, c, a, NOW), STORE_OK);
    assert_int_equal(s->ops->admin_add(s, b, a, NOW), STORE_OK); /* idempotent */
    assert_int_equal(s->ops->admin_add(s, b, NULL, NOW), STORE_CORRUPT);
    assert_int_equal(s->ops->admin_list(s, &fps, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(fps[0], b); /* sorted */
    assert_string_equal(fps[1], c);
    assert_string_equal(fps[2], a);
    store_strings_free(fps, n);
    assert_int_equal(s->ops->member_get(s, b, &m), STORE_OK); /* admin_add ensures the member row */
    assert_int_equal(m.point, 0);
    assert_int_equal(s->ops->member_get(s, a, &m), STORE_OK);
    assert_int_equal(m.point, 7);

    assert_int_equal(s->ops->admin_remove(s, c), STORE_OK);
    assert_int_equal(s->ops->admin_remove(s, c), STORE_NOT_FOUND);
    assert_int_equal(s->ops->admin_list(s, &fps, &n), STORE_OK);
    assert_int_equal(n, 2);
    store_strings_free(fps, n);
    assert_int_equal(s->ops->member_get(s, c, &m), STORE_OK); /* the member row stays */
}

/* ================================================================================================
 * Sessions and refresh tokens
 * ============================================================================================== */

#define SESSION_TTL INT64_C(1800000)
#define REFRESH_TTL INT64_C(604800000)

static store_session_t session_of(const char *id, const char *fp, int64_t now_ms)
{
    store_session_t s = {0};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.fingerprint, sizeof s.fingerprint, "%s", fp);
    s.user_ign = (char *)"아델";
    snprintf(s.account_id, sizeof s.account_id, "acct-%s", id);
    s.my_ocids_json = (char *)"[\"o1\",\"o2\"]";
    snprintf(s.role, sizeof s.role, "USER");
    s.created_ms = now_ms;
    s.last_accessed_ms = now_ms;
    s.expires_ms = now_ms + SESSION_TTL;
    return s;
}

/* Creates session `id` of member fp, as session_of builds it at now_ms. */
static void create_session(store_t *s, const char *id, const char *fp, int64_t now_ms)
{
    store_session_t in = session_of(id, fp, now_ms);
    assert_int_equal(s->ops->session_create(s, &in), STORE_OK);
}

static void test_sessions(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    char fp[44];
    make_fp(fp, "s", 1);
    const char *id = "11111111-1111-4111-8111-111111111111";
    store_session_t in = session_of(id, fp, NOW);
    assert_int_equal(s->ops->session_create(s, &in), STORE_OK);
    assert_int_equal(s->ops->session_create(s, &in), STORE_CORRUPT); /* duplicate id */

    store_session_t got;
    assert_int_equal(s->ops->session_get(s, "nope", &got), STORE_NOT_FOUND);
    assert_int_equal(s->ops->session_get(s, id, &got), STORE_OK);
    assert_string_equal(got.id, id);
    assert_string_equal(got.fingerprint, fp);
    assert_string_equal(got.user_ign, "아델");
    assert_string_equal(got.account_id, in.account_id);
    assert_string_equal(got.my_ocids_json, "[\"o1\",\"o2\"]");
    assert_string_equal(got.role, "USER");
    assert_int_equal(got.created_ms, NOW);
    assert_int_equal(got.expires_ms, NOW + SESSION_TTL);
    store_session_clear(&got);

    /* Touch: within 60 s -> unchanged but OK; later -> extended; expired or absent -> NOT_FOUND. */
    assert_int_equal(s->ops->session_touch(s, id, NOW + 30000, SESSION_TTL, 60000), STORE_OK);
    assert_int_equal(raw_int(fx->raw, "SELECT last_accessed_at FROM auth_session"), NOW);
    assert_int_equal(s->ops->session_touch(s, id, NOW + 61000, SESSION_TTL, 60000), STORE_OK);
    assert_int_equal(raw_int(fx->raw, "SELECT last_accessed_at FROM auth_session"), NOW + 61000);
    assert_int_equal(raw_int(fx->raw, "SELECT expires_at FROM auth_session"), NOW + 61000 + SESSION_TTL);
    assert_int_equal(s->ops->session_touch(s, id, NOW + 61000 + SESSION_TTL, SESSION_TTL, 60000), STORE_NOT_FOUND);
    assert_int_equal(s->ops->session_touch(s, "nope", NOW, SESSION_TTL, 60000), STORE_NOT_FOUND);

    /* Tokens need their session; logout deletes the session's tokens. */
    assert_int_equal(s->ops->refresh_insert(s, "h-orphan", "fam-x", "no-such-session", fp, NOW, REFRESH_TTL),
                     STORE_CORRUPT);
    assert_int_equal(s->ops->refresh_insert(s, "h1", "fam-1", id, fp, NOW, REFRESH_TTL), STORE_OK);
    assert_int_equal(s->ops->refresh_insert(s, "h2", "fam-1", id, fp, NOW, REFRESH_TTL), STORE_OK);
    assert_int_equal(raw_int(fx->raw, "SELECT expires_at FROM refresh_token WHERE token_hash = 'h1'"), NOW + REFRESH_TTL);
    assert_int_equal(s->ops->session_delete(s, id), STORE_OK);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token"), 0);
    assert_int_equal(s->ops->session_delete(s, id), STORE_NOT_FOUND);

    /* Purge (J17): expired sessions with their tokens, and expired tokens of live sessions. */
    store_session_t old = session_of("22222222-2222-4222-8222-222222222222", fp, NOW - SESSION_TTL - 1);
    store_session_t live = session_of("33333333-3333-4333-8333-333333333333", fp, NOW);
    assert_int_equal(s->ops->session_create(s, &old), STORE_OK);
    assert_int_equal(s->ops->session_create(s, &live), STORE_OK);
    assert_int_equal(s->ops->refresh_insert(s, "o1", "fam-o", old.id, fp, NOW - 10, REFRESH_TTL), STORE_OK);
    assert_int_equal(s->ops->refresh_insert(s, "l1", "fam-l", live.id, fp, NOW - REFRESH_TTL - 5, REFRESH_TTL),
                     STORE_OK);
    assert_int_equal(s->ops->refresh_insert(s, "l2", "fam-l", live.id, fp, NOW, REFRESH_TTL), STORE_OK);
    int64_t deleted = 0;
    assert_int_equal(s->ops->auth_purge(s, NOW, &deleted), STORE_OK);
    assert_int_equal(deleted, 3); /* o1, l1, the old session */
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM auth_session"), 1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token WHERE token_hash = 'l2'"), 1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token"), 1);
}

static void test_refresh_rotation_outcomes(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    char fp[44];
    make_fp(fp, "r", 1);
    const char *sid = "44444444-4444-4444-8444-444444444444";
    create_session(s, sid, fp, NOW);
    assert_int_equal(s->ops->refresh_insert(s, "t0", "fam", sid, fp, NOW, REFRESH_TTL), STORE_OK);

    refresh_rc_t out;
    store_session_t sess;
    /* Unknown. */
    assert_int_equal(s->ops->refresh_rotate(s, "nope", "x", NOW, REFRESH_TTL, SESSION_TTL, &out, &sess), STORE_OK);
    assert_int_equal(out, REFRESH_UNKNOWN);
    assert_null(sess.user_ign);

    /* Rotated: old marked used, new token in the same family, session touched and returned. */
    int64_t t1 = NOW + 5000;
    assert_int_equal(s->ops->refresh_rotate(s, "t0", "t1", t1, REFRESH_TTL, SESSION_TTL, &out, &sess), STORE_OK);
    assert_int_equal(out, REFRESH_ROTATED);
    assert_string_equal(sess.id, sid);
    assert_string_equal(sess.fingerprint, fp);
    assert_string_equal(sess.user_ign, "아델");
    assert_int_equal(sess.last_accessed_ms, t1);
    assert_int_equal(sess.expires_ms, t1 + SESSION_TTL);
    store_session_clear(&sess);
    assert_int_equal(raw_int(fx->raw, "SELECT used_at FROM refresh_token WHERE token_hash = 't0'"), t1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token WHERE token_hash = 't1' AND family_id = 'fam'"
                                      " AND session_id = '%s' AND used_at IS NULL AND expires_at = %" PRId64,
                             sid, t1 + REFRESH_TTL),
                     1);

    /* Expired: the token is deleted. */
    assert_int_equal(s->ops->refresh_insert(s, "tx", "fam", sid, fp, NOW - REFRESH_TTL, REFRESH_TTL), STORE_OK);
    assert_int_equal(s->ops->refresh_rotate(s, "tx", "ty", NOW, REFRESH_TTL, SESSION_TTL, &out, &sess), STORE_OK);
    assert_int_equal(out, REFRESH_EXPIRED);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token WHERE token_hash IN ('tx', 'ty')"), 0);

    /* Reused: presenting t0 again revokes the family (t1 too) and its session. */
    assert_int_equal(s->ops->refresh_rotate(s, "t0", "t2", t1 + 1, REFRESH_TTL, SESSION_TTL, &out, &sess), STORE_OK);
    assert_int_equal(out, REFRESH_REUSED);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token"), 0);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM auth_session"), 0);
    assert_int_equal(s->ops->refresh_rotate(s, "t1", "t3", t1 + 2, REFRESH_TTL, SESSION_TTL, &out, &sess), STORE_OK);
    assert_int_equal(out, REFRESH_UNKNOWN);

    /* Session gone: an expired session; its tokens are deleted, nothing new is issued. */
    const char *sid2 = "55555555-5555-4555-8555-555555555555";
    create_session(s, sid2, fp, NOW - SESSION_TTL - 1000);
    assert_int_equal(s->ops->refresh_insert(s, "u0", "fam2", sid2, fp, NOW, REFRESH_TTL), STORE_OK);
    assert_int_equal(s->ops->refresh_insert(s, "u9", "fam2b", sid2, fp, NOW, REFRESH_TTL), STORE_OK);
    assert_int_equal(s->ops->refresh_rotate(s, "u0", "u1", NOW, REFRESH_TTL, SESSION_TTL, &out, &sess), STORE_OK);
    assert_int_equal(out, REFRESH_SESSION_GONE);
    assert_null(sess.user_ign);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token"), 0);
}

typedef struct {
    store_t *s;
    pthread_barrier_t *go;
    int index;
    refresh_rc_t outcome;
    store_rc_t rc;
} rotator_t;

static void *rotate_thread(void *arg)
{
    rotator_t *r = arg;
    char new_hash[24];
    snprintf(new_hash, sizeof new_hash, "new-%d", r->index);
    store_session_t sess;
    pthread_barrier_wait(r->go);
    r->rc = r->s->ops->refresh_rotate(r->s, "shared", new_hash, NOW + 1, REFRESH_TTL, SESSION_TTL, &r->outcome, &sess);
    store_session_clear(&sess);
    return NULL;
}

static void test_refresh_concurrent_rotation(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    char fp[44];
    make_fp(fp, "r", 2);
    const char *sid = "66666666-6666-4666-8666-666666666666";
    create_session(s, sid, fp, NOW);
    assert_int_equal(s->ops->refresh_insert(s, "shared", "famc", sid, fp, NOW, REFRESH_TTL), STORE_OK);

    enum { N = 8 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    rotator_t r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (rotator_t){s, &go, i, REFRESH_UNKNOWN, STORE_UNAVAILABLE};
        assert_int_equal(pthread_create(&t[i], NULL, rotate_thread, &r[i]), 0);
    }
    int count[5] = {0};
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].rc, STORE_OK);
        count[r[i].outcome]++;
    }
    pthread_barrier_destroy(&go);
    /* Writes are serialized: one winner, the next caller sees reuse and revokes, the rest find nothing. */
    assert_int_equal(count[REFRESH_ROTATED], 1);
    assert_int_equal(count[REFRESH_REUSED], 1);
    assert_int_equal(count[REFRESH_UNKNOWN], N - 2);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM refresh_token"), 0);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM auth_session"), 0);
}

/* ================================================================================================
 * Likes
 * ============================================================================================== */

static void test_like_set_count_fold(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    bool changed = true, liked = true;
    int64_t count = -1, pending = -1, oldest = -1, folded = -1;
    assert_int_equal(s->ops->like_set(s, "ocid-missing", "acct-1", true, NOW, &changed), STORE_NOT_FOUND);
    assert_false(changed);
    assert_int_equal(s->ops->like_count(s, "ocid-missing", &count), STORE_NOT_FOUND);
    ensure_character(fx, "ocid-a", "캐릭A");

    assert_int_equal(s->ops->like_status(s, "ocid-a", "acct-1", &liked), STORE_OK);
    assert_false(liked);
    assert_int_equal(s->ops->like_set(s, "ocid-a", "acct-1", true, NOW, &changed), STORE_OK);
    assert_true(changed);
    assert_int_equal(s->ops->like_set(s, "ocid-a", "acct-1", true, NOW + 1, &changed), STORE_OK);
    assert_false(changed); /* already liked: no second delta */
    assert_int_equal(s->ops->like_status(s, "ocid-a", "acct-1", &liked), STORE_OK);
    assert_true(liked);
    assert_int_equal(s->ops->like_count(s, "ocid-a", &count), STORE_OK);
    assert_int_equal(count, 1);
    assert_int_equal(s->ops->like_backlog(s, &pending, &oldest), STORE_OK);
    assert_int_equal(pending, 1);
    assert_int_equal(oldest, NOW);

    assert_int_equal(s->ops->like_set(s, "ocid-a", "acct-1", false, NOW + 2, &changed), STORE_OK);
    assert_true(changed);
    assert_int_equal(s->ops->like_set(s, "ocid-a", "acct-1", false, NOW + 3, &changed), STORE_OK);
    assert_false(changed);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM character_like"), 0); /* no row left behind */
    assert_int_equal(s->ops->like_count(s, "ocid-a", &count), STORE_OK);
    assert_int_equal(count, 0);

    /* Three likers: 5 deltas pending; fold 2 then the rest; the total never moves. */
    for (int i = 2; i <= 4; i++) {
        char acct[24];
        snprintf(acct, sizeof acct, "acct-%d", i);
        assert_int_equal(s->ops->like_set(s, "ocid-a", acct, true, NOW + 10 + i, &changed), STORE_OK);
        assert_true(changed);
    }
    assert_int_equal(s->ops->like_backlog(s, &pending, &oldest), STORE_OK);
    assert_int_equal(pending, 5);
    assert_int_equal(s->ops->like_fold(s, 2, &folded), STORE_OK); /* the +1 and -1 of acct-1 */
    assert_int_equal(folded, 2);
    assert_int_equal(raw_int(fx->raw, "SELECT like_count FROM game_character WHERE ocid = 'ocid-a'"), 0);
    assert_int_equal(s->ops->like_backlog(s, &pending, &oldest), STORE_OK);
    assert_int_equal(pending, 3);
    assert_int_equal(oldest, NOW + 12);
    assert_int_equal(s->ops->like_count(s, "ocid-a", &count), STORE_OK);
    assert_int_equal(count, 3);
    assert_int_equal(s->ops->like_fold(s, 0, &folded), STORE_OK); /* < 1: the default batch */
    assert_int_equal(folded, 3);
    assert_int_equal(s->ops->like_fold(s, 10, &folded), STORE_OK);
    assert_int_equal(folded, 0);
    assert_int_equal(raw_int(fx->raw, "SELECT like_count FROM game_character WHERE ocid = 'ocid-a'"), 3);
    assert_int_equal(s->ops->like_count(s, "ocid-a", &count), STORE_OK);
    assert_int_equal(count, 3);
    assert_int_equal(s->ops->like_backlog(s, &pending, &oldest), STORE_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(oldest, 0);
}

enum { LIKE_THREADS = 8, LIKE_OPS = 50, LIKE_ACCOUNTS = 20, LIKE_CHARS = 5 };

typedef struct {
    store_t *s;
    unsigned seed;
    atomic_int *net; /* per character: +1 per changed like, -1 per changed unlike */
    atomic_int *failures;
} liker_t;

static void *like_thread(void *arg)
{
    liker_t *l = arg;
    for (int i = 0; i < LIKE_OPS; i++) {
        int ch = (int)(rand_r(&l->seed) % LIKE_CHARS), acct = (int)(rand_r(&l->seed) % LIKE_ACCOUNTS);
        bool like = rand_r(&l->seed) % 3 != 0; /* more likes than unlikes, so counts grow */
        char ocid[24], account[24];
        snprintf(ocid, sizeof ocid, "ocid-%d", ch);
        snprintf(account, sizeof account, "acct-%d", acct);
        bool changed = false;
        if (l->s->ops->like_set(l->s, ocid, account, like, NOW + i, &changed) != STORE_OK)
            atomic_fetch_add(l->failures, 1);
        else if (changed)
            atomic_fetch_add(&l->net[ch], like ? 1 : -1);
    }
    return NULL;
}

typedef struct {
    fx_t *fx;
    atomic_bool *stop;
    atomic_int fold_failures;
} folder_t;

/* Folds while the likers run: exercises the fold against concurrent deltas. */
static void *fold_thread(void *arg)
{
    folder_t *f = arg;
    while (!atomic_load(f->stop)) {
        int64_t folded = 0;
        if (f->fx->db.s->ops->like_fold(f->fx->db.s, 7, &folded) != STORE_OK)
            atomic_fetch_add(&f->fold_failures, 1);
        usleep(2000);
    }
    return NULL;
}

/* In one read snapshot: like_count + pending deltas == relation rows, for every character. */
#define LIKE_INVARIANT_VIOLATIONS                                                                          \
    "SELECT count(*) FROM game_character g WHERE g.like_count"                                             \
    " + coalesce((SELECT sum(delta) FROM like_delta d WHERE d.character_id = g.id), 0)"                   \
    " <> (SELECT count(*) FROM character_like l WHERE l.target_ocid = g.ocid)"

static void test_like_concurrency_is_exact(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    for (int i = 0; i < LIKE_CHARS; i++) {
        char ocid[24], ign[24];
        snprintf(ocid, sizeof ocid, "ocid-%d", i);
        snprintf(ign, sizeof ign, "ign-%d", i);
        ensure_character(fx, ocid, ign);
    }
    atomic_int net[LIKE_CHARS], failures = 0;
    for (int i = 0; i < LIKE_CHARS; i++)
        atomic_init(&net[i], 0);
    atomic_bool stop = false;
    invariant_checker_t checker = {.path = fx->db.path, .sql = LIKE_INVARIANT_VIOLATIONS, .pause_us = 500, .stop = &stop};
    folder_t folder = {.fx = fx, .stop = &stop};
    pthread_t check_t, fold_t, t[LIKE_THREADS];
    liker_t l[LIKE_THREADS];
    assert_int_equal(pthread_create(&check_t, NULL, invariant_check_thread, &checker), 0);
    assert_int_equal(pthread_create(&fold_t, NULL, fold_thread, &folder), 0);
    for (int i = 0; i < LIKE_THREADS; i++) {
        l[i] = (liker_t){s, 1234u + (unsigned)i * 7919u, net, &failures};
        assert_int_equal(pthread_create(&t[i], NULL, like_thread, &l[i]), 0);
    }
    for (int i = 0; i < LIKE_THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop, true);
    pthread_join(fold_t, NULL);
    pthread_join(check_t, NULL);
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(atomic_load(&folder.fold_failures), 0);
    assert_int_equal(atomic_load(&checker.violations), 0);
    assert_true(atomic_load(&checker.checks) > 0);

    int64_t folded = 0;
    do
        assert_int_equal(s->ops->like_fold(s, 13, &folded), STORE_OK);
    while (folded > 0);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM like_delta"), 0);
    int64_t total = 0;
    for (int i = 0; i < LIKE_CHARS; i++) {
        char ocid[24];
        snprintf(ocid, sizeof ocid, "ocid-%d", i);
        int64_t rows = raw_int(fx->raw, "SELECT count(*) FROM character_like WHERE target_ocid = '%s'", ocid);
        int64_t stored = raw_int(fx->raw, "SELECT like_count FROM game_character WHERE ocid = '%s'", ocid);
        int64_t count = -1;
        assert_int_equal(s->ops->like_count(s, ocid, &count), STORE_OK);
        assert_int_equal(stored, rows);
        assert_int_equal(count, rows);
        assert_int_equal(atomic_load(&net[i]), rows); /* every acknowledged change is counted once */
        total += rows;
    }
    assert_true(total > 0);
}

/* ================================================================================================
 * Donations
 * ============================================================================================== */

typedef struct {
    char sender[44], admin[44], other[44];
} donors_t;

static void donors_setup(fx_t *fx, donors_t *d, int64_t sender_points)
{
    make_fp(d->sender, "snd", 1);
    make_fp(d->admin, "adm", 2);
    make_fp(d->other, "oth", 3);
    set_points(fx, d->sender, sender_points);
    assert_int_equal(fx->db.s->ops->admin_add(fx->db.s, d->admin, "bootstrap", NOW), STORE_OK);
}

static store_donation_t donation(const char *sender, const char *receiver, const char *key, int64_t amount,
                                 char hash_buf[65])
{
    char text[128];
    snprintf(text, sizeof text, "%s|%" PRId64, receiver, amount);
    hash_of(text, hash_buf);
    return (store_donation_t){.sender_fp = sender, .receiver_fp = receiver, .request_id = key,
                              .request_hash = hash_buf, .amount = amount, .origin_request_id = "corr-1"};
}

static donation_rc_t donate(fx_t *fx, const store_donation_t *d, int64_t *balance)
{
    donation_rc_t out = DONATION_DONE;
    int64_t bal = -1;
    assert_int_equal(fx->db.s->ops->donate(fx->db.s, d, NOW, &out, &bal), STORE_OK);
    if (balance)
        *balance = bal;
    return out;
}

static void test_donation_done_and_replay(void **state)
{
    fx_t *fx = *state;
    donors_t p;
    donors_setup(fx, &p, 1000);
    char h[65];
    store_donation_t d = donation(p.sender, p.admin, "key-1", 300, h);
    assert_int_equal(donate(fx, &d, NULL), DONATION_DONE);
    assert_int_equal(points_of(fx, p.sender), 700);
    assert_int_equal(points_of(fx, p.admin), 300);

    /* History and the outbox row of 2.3.8. */
    int64_t hid = raw_int(fx->raw, "SELECT id FROM donation_history WHERE request_id = 'key-1'");
    assert_true(hid > 0);
    assert_int_equal(raw_int(fx->raw, "SELECT amount FROM donation_history WHERE id = %" PRId64
                                      " AND request_hash = '%s' AND origin_request_id = 'corr-1'"
                                      " AND receiver_fingerprint = '%s'",
                             hid, h, p.admin),
                     300);
    char rid[64], payload[512], hash[80], want_payload[512], want_hash[65];
    snprintf(want_payload, sizeof want_payload,
             "{\"donationId\":%" PRId64 ",\"senderFingerprint\":\"snd0****GHIJ\","
             "\"receiverFingerprint\":\"adm0****GHIJ\",\"amount\":300}",
             hid);
    raw_text(fx->raw, rid, sizeof rid, "SELECT request_id FROM donation_outbox");
    raw_text(fx->raw, payload, sizeof payload, "SELECT payload FROM donation_outbox");
    raw_text(fx->raw, hash, sizeof hash, "SELECT content_hash FROM donation_outbox");
    char want_rid[64];
    snprintf(want_rid, sizeof want_rid, "donation:%" PRId64, hid);
    assert_string_equal(rid, want_rid);
    assert_string_equal(payload, want_payload);
    content_hash(want_rid, "DONATION_COMPLETED", want_payload, want_hash);
    assert_string_equal(hash, want_hash);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE status = 'PENDING'"
                                      " AND event_type = 'DONATION_COMPLETED' AND next_retry_at = %" PRId64 ""
                                      " AND retry_count = 0 AND max_retries = 3 AND origin_request_id = 'corr-1'",
                             NOW),
                     1);

    /* Replay: same key, same hash -> nothing moves, no second outbox row. */
    assert_int_equal(donate(fx, &d, NULL), DONATION_REPLAYED);
    assert_int_equal(points_of(fx, p.sender), 700);
    assert_int_equal(points_of(fx, p.admin), 300);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox"), 1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_history"), 1);

    /* Same key, other amount -> key conflict, nothing moves. */
    char h2[65];
    store_donation_t d2 = donation(p.sender, p.admin, "key-1", 301, h2);
    assert_int_equal(donate(fx, &d2, NULL), DONATION_KEY_CONFLICT);
    assert_int_equal(points_of(fx, p.sender), 700);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_history"), 1);

    /* The key belongs to the sender: another sender may use the same key. */
    set_points(fx, p.other, 50);
    store_donation_t d3 = donation(p.other, p.admin, "key-1", 50, h2);
    assert_int_equal(donate(fx, &d3, NULL), DONATION_DONE);
    assert_int_equal(points_of(fx, p.other), 0);
    assert_int_equal(points_of(fx, p.admin), 350);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox"), 2);
}

/* Nothing of a refused attempt stays: no history, no outbox row, no point moved. */
static void expect_nothing_recorded(fx_t *fx, int64_t history, int64_t outbox)
{
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_history"), history);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox"), outbox);
}

static void test_donation_refusals_roll_back(void **state)
{
    fx_t *fx = *state;
    donors_t p;
    donors_setup(fx, &p, 100);
    char h[65];
    int64_t bal = -1;

    /* Insufficient: balance reported, nothing recorded; the key stays usable. */
    store_donation_t d = donation(p.sender, p.admin, "k-ins", 150, h);
    assert_int_equal(donate(fx, &d, &bal), DONATION_INSUFFICIENT);
    assert_int_equal(bal, 100);
    expect_nothing_recorded(fx, 0, 0);
    assert_int_equal(points_of(fx, p.sender), 100);
    assert_int_equal(points_of(fx, p.admin), 0);
    raw_execf(fx->raw, "UPDATE member SET point = 200 WHERE fingerprint = '%s'", p.sender);
    assert_int_equal(donate(fx, &d, &bal), DONATION_DONE);
    assert_int_equal(points_of(fx, p.sender), 50);
    assert_int_equal(points_of(fx, p.admin), 150);
    expect_nothing_recorded(fx, 1, 1);

    /* Receiver not an admin (neither bootstrap nor runtime). */
    set_points(fx, p.other, 0);
    store_donation_t na = donation(p.sender, p.other, "k-na", 10, h);
    assert_int_equal(donate(fx, &na, NULL), DONATION_NOT_ADMIN);
    expect_nothing_recorded(fx, 1, 1);

    /* Bootstrap admin without a member row: A008, rolled back; retried after the row exists. */
    char boot[44];
    make_fp(boot, "boot", 9);
    store_donation_t bd = donation(p.sender, boot, "k-boot", 10, h);
    bd.receiver_is_bootstrap_admin = true;
    assert_int_equal(donate(fx, &bd, NULL), DONATION_ADMIN_MEMBER_MISSING);
    expect_nothing_recorded(fx, 1, 1);
    assert_int_equal(points_of(fx, p.sender), 50);
    assert_int_equal(fx->db.s->ops->member_ensure(fx->db.s, boot, NOW), STORE_OK);
    assert_int_equal(donate(fx, &bd, NULL), DONATION_DONE);
    assert_int_equal(points_of(fx, boot), 10);
    assert_int_equal(points_of(fx, p.sender), 40);
    expect_nothing_recorded(fx, 2, 2);

    /* Sender without a member row. */
    char ghost[44];
    make_fp(ghost, "gh", 7);
    store_donation_t gd = donation(ghost, p.admin, "k-gh", 10, h);
    assert_int_equal(donate(fx, &gd, NULL), DONATION_SENDER_MISSING);
    expect_nothing_recorded(fx, 2, 2);

    /* An admin donating to itself: allowed, net zero, still needs the balance. */
    raw_execf(fx->raw, "UPDATE member SET point = 500 WHERE fingerprint = '%s'", p.admin);
    store_donation_t self = donation(p.admin, p.admin, "k-self", 500, h);
    assert_int_equal(donate(fx, &self, NULL), DONATION_DONE);
    assert_int_equal(points_of(fx, p.admin), 500);
    expect_nothing_recorded(fx, 3, 3);
    store_donation_t self2 = donation(p.admin, p.admin, "k-self2", 501, h);
    assert_int_equal(donate(fx, &self2, &bal), DONATION_INSUFFICIENT);
    assert_int_equal(bal, 500);
    expect_nothing_recorded(fx, 3, 3);

    /* Fields the schema refuses: STORE_CORRUPT, nothing written. */
    char long_key[80];
    memset(long_key, 'k', 70);
    long_key[70] = '\0';
    store_donation_t lk = donation(p.sender, p.admin, long_key, 1, h);
    donation_rc_t out;
    assert_int_equal(fx->db.s->ops->donate(fx->db.s, &lk, NOW, &out, NULL), STORE_CORRUPT);
    store_donation_t zero = donation(p.sender, p.admin, "k-zero", 0, h);
    assert_int_equal(fx->db.s->ops->donate(fx->db.s, &zero, NOW, &out, NULL), STORE_CORRUPT);
    expect_nothing_recorded(fx, 3, 3);
    assert_int_equal(points_of(fx, p.sender), 40);
}

enum { DONATE_THREADS = 10, DONATE_KEYS = 10 };

typedef struct {
    store_t *s;
    const donors_t *p;
    pthread_barrier_t *go;
    int index;
    int done, replayed, other;
} donor_thread_t;

static void *donate_thread(void *arg)
{
    donor_thread_t *t = arg;
    pthread_barrier_wait(t->go);
    for (int k = 0; k < DONATE_KEYS; k++) {
        int key = (k + t->index) % DONATE_KEYS; /* every thread walks the keys from another start */
        char name[24], h[65];
        snprintf(name, sizeof name, "ck-%d", key);
        store_donation_t d = donation(t->p->sender, t->p->admin, name, key + 1, h);
        donation_rc_t out = DONATION_NOT_ADMIN;
        store_rc_t rc = t->s->ops->donate(t->s, &d, NOW, &out, NULL);
        if (rc == STORE_OK && out == DONATION_DONE)
            t->done++;
        else if (rc == STORE_OK && out == DONATION_REPLAYED)
            t->replayed++;
        else
            t->other++;
    }
    return NULL;
}

static void test_donation_concurrent_keys(void **state)
{
    fx_t *fx = *state;
    donors_t p;
    donors_setup(fx, &p, 1000);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, DONATE_THREADS);
    donor_thread_t t[DONATE_THREADS];
    pthread_t th[DONATE_THREADS];
    for (int i = 0; i < DONATE_THREADS; i++) {
        t[i] = (donor_thread_t){fx->db.s, &p, &go, i, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, donate_thread, &t[i]), 0);
    }
    int done = 0, replayed = 0, other = 0;
    for (int i = 0; i < DONATE_THREADS; i++) {
        pthread_join(th[i], NULL);
        done += t[i].done;
        replayed += t[i].replayed;
        other += t[i].other;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(done, DONATE_KEYS);
    assert_int_equal(replayed, DONATE_THREADS * DONATE_KEYS - DONATE_KEYS);
    assert_int_equal(other, 0);
    /* Amounts 1..10: 55 moved exactly once; the total is conserved. */
    assert_int_equal(points_of(fx, p.sender), 1000 - 55);
    assert_int_equal(points_of(fx, p.admin), 55);
    assert_int_equal(raw_int(fx->raw, "SELECT sum(point) FROM member"), 1000);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_history"), DONATE_KEYS);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox"), DONATE_KEYS);
    assert_int_equal(raw_int(fx->raw, "SELECT sum(amount) FROM donation_history"), 55);
}

/* ================================================================================================
 * Outboxes and DLQ
 * ============================================================================================== */

static void test_outbox_claim_fail_dead_letter(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    const outbox_queue_t Q = OUTBOX_DONATION;
    int64_t id = raw_outbox(fx, Q, "donation:1", "DONATION_COMPLETED", "{\"a\":1}", NOW);
    raw_outbox(fx, Q, "donation:2", "DONATION_COMPLETED", "{\"a\":2}", NOW + 1000000); /* not due yet */

    assert_int_equal(claim_count(fx, Q, 0, NOW), 0);
    store_outbox_row_t r = claim_one(fx, Q, NOW);
    assert_int_equal(r.id, id);
    assert_int_equal(r.claim_token, 1);
    assert_int_equal(r.retry_count, 0);
    assert_int_equal(r.max_retries, 3);
    assert_string_equal(r.request_id, "donation:1");
    assert_string_equal(r.event_type, "DONATION_COMPLETED");
    char want[65];
    content_hash("donation:1", "DONATION_COMPLETED", "{\"a\":1}", want);
    assert_string_equal(r.content_hash, want);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE id = %" PRId64
                                      " AND status = 'PROCESSING' AND locked_by = 'inst-1' AND locked_at = %" PRId64 "",
                             id, NOW),
                     1);
    assert_int_equal(claim_count(fx, Q, 10, NOW), 0); /* claimed, the other one not due */

    outbox_final_t res;
    /* Attempt 1 fails: FAILED, 60 s back-off with base 30. */
    assert_int_equal(s->ops->outbox_fail(s, Q, id, r.claim_token + 1, "x", false, 30, 3600, NOW, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_CLAIM_LOST); /* wrong token */
    assert_int_equal(s->ops->outbox_fail(s, Q, id, r.claim_token, "boom 1", false, 30, 3600, NOW, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_RETRY);
    assert_int_equal(raw_int(fx->raw, "SELECT next_retry_at FROM donation_outbox WHERE id = %" PRId64, id),
                     NOW + 60000);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE id = %" PRId64
                                      " AND status = 'FAILED' AND retry_count = 1 AND last_error = 'boom 1'"
                                      " AND locked_by IS NULL",
                             id),
                     1);
    assert_int_equal(claim_count(fx, Q, 10, NOW + 59999), 0);

    /* Attempt 2: 120 s. */
    int64_t t2 = NOW + 60000;
    r = claim_one(fx, Q, t2);
    assert_int_equal(r.claim_token, 2);
    assert_int_equal(r.retry_count, 1);
    assert_int_equal(s->ops->outbox_fail(s, Q, id, r.claim_token, "boom 2", false, 30, 3600, t2, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_RETRY);
    assert_int_equal(raw_int(fx->raw, "SELECT next_retry_at FROM donation_outbox WHERE id = %" PRId64, id),
                     t2 + 120000);

    /* Attempt 3: dead letter, with its DLQ row; a 600-character error is cut to 500 characters. */
    int64_t t3 = t2 + 120000;
    r = claim_one(fx, Q, t3);
    char error[600 * 3 + 1] = "";
    for (int i = 0; i < 600; i++)
        strcat(error, "가");
    assert_int_equal(s->ops->outbox_fail(s, Q, id, r.claim_token, error, false, 30, 3600, t3, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_DEAD);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE id = %" PRId64
                                      " AND status = 'DEAD_LETTER' AND retry_count = 3 AND length(last_error) = 500",
                             id),
                     1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_dlq WHERE original_outbox_id = %" PRId64
                                      " AND request_id = 'donation:1' AND event_type = 'DONATION_COMPLETED'"
                                      " AND payload = '{\"a\":1}' AND length(failure_reason) = 500"
                                      " AND moved_at = %" PRId64,
                             id, t3),
                     1);
    assert_int_equal(claim_count(fx, Q, 10, t3 + 10000000), 1); /* only donation:2 is claimable */
    assert_int_equal(s->ops->outbox_complete(s, Q, id, r.claim_token, t3, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_CLAIM_LOST); /* dead rows cannot complete */

    store_outbox_counts_t c;
    assert_int_equal(s->ops->outbox_counts(s, Q, &c), STORE_OK);
    assert_int_equal(c.dead_letter, 1);
    assert_int_equal(c.processing, 1);
    assert_int_equal(c.pending + c.failed + c.completed, 0);
    int64_t dlq = 0;
    assert_int_equal(s->ops->dlq_count(s, Q, &dlq), STORE_OK);
    assert_int_equal(dlq, 1);
    assert_int_equal(s->ops->dlq_count(s, OUTBOX_UPSTREAM, &dlq), STORE_OK);
    assert_int_equal(dlq, 0);
}

/* SC-19 enqueue: one active row per (event type, payload); duplicates count hits; a finished row
 * does not block a new episode. The hash and dedup key follow 2.3.8. */
static void test_upstream_enqueue_dedup(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    bool inserted = false;
    assert_int_equal(s->ops->outbox_enqueue_upstream(s, "req-a", "GET_OCID", "아델", "corr-1", NOW, &inserted),
                     STORE_OK);
    assert_true(inserted);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s->ops->outbox_enqueue_upstream(s, "req-b", "GET_OCID", "아델", NULL, NOW + 1, &inserted),
                         STORE_OK);
        assert_false(inserted);
    }
    assert_int_equal(s->ops->outbox_enqueue_upstream(s, "req-c", "GET_ITEM_DATA", "아델", NULL, NOW, &inserted),
                     STORE_OK);
    assert_true(inserted); /* another event type is another key */
    assert_int_equal(raw_int(fx->raw, "SELECT COUNT(*) FROM nexon_api_outbox"), 2);
    assert_int_equal(raw_int(fx->raw, "SELECT dedup_hits FROM nexon_api_outbox WHERE request_id = 'req-a'"), 2);
    char key[64], origin[16];
    raw_text(fx->raw, key, sizeof key, "SELECT dedup_key FROM nexon_api_outbox WHERE request_id = 'req-a'");
    assert_string_equal(key, "GET_OCID:아델");
    raw_text(fx->raw, origin, sizeof origin, "SELECT origin_request_id FROM nexon_api_outbox WHERE request_id = 'req-a'");
    assert_string_equal(origin, "corr-1");
    /* the claim path verifies the same content hash the relay checks */
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->outbox_claim(s, OUTBOX_UPSTREAM, "inst", 10, NOW + 2, &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    char expect[65];
    sha256_hex("req-a|GET_OCID|아델", strlen("req-a|GET_OCID|아델"), expect);
    assert_string_equal(rows[0].content_hash, expect);
    outbox_final_t res;
    assert_int_equal(s->ops->outbox_complete(s, OUTBOX_UPSTREAM, rows[0].id, rows[0].claim_token, NOW + 3, &res),
                     STORE_OK);
    store_outbox_rows_free(rows, n);
    /* the finished row no longer holds the key: a new failure is a new row */
    assert_int_equal(s->ops->outbox_enqueue_upstream(s, "req-d", "GET_OCID", "아델", NULL, NOW + 4, &inserted),
                     STORE_OK);
    assert_true(inserted);
    assert_int_equal(raw_int(fx->raw, "SELECT COUNT(*) FROM nexon_api_outbox"), 3);
}

static void test_outbox_complete_release_purge(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    const outbox_queue_t Q = OUTBOX_UPSTREAM;
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char rid[32], payload[24];
        snprintf(rid, sizeof rid, "up-%d", i);
        snprintf(payload, sizeof payload, "ocid-%d", i);
        ids[i] = raw_outbox(fx, Q, rid, "GET_ITEM_DATA", payload, NOW);
    }
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->outbox_claim(s, Q, "inst-2", 3, NOW, &rows, &n), STORE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) /* oldest first, sorted */
        assert_int_equal(rows[i].id, ids[i]);
    assert_string_equal(rows[1].payload, "ocid-1");

    outbox_final_t res;
    assert_int_equal(s->ops->outbox_complete(s, Q, ids[0], rows[0].claim_token, NOW + 5, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_OK);
    assert_int_equal(s->ops->outbox_complete(s, Q, ids[0], rows[0].claim_token, NOW + 6, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_CLAIM_LOST);
    assert_int_equal(raw_int(fx->raw, "SELECT completed_at FROM nexon_api_outbox WHERE id = %" PRId64
                                      " AND status = 'COMPLETED' AND locked_by IS NULL",
                             ids[0]),
                     NOW + 5);

    /* Release: back to PENDING without charging an attempt; the guard holds. */
    assert_int_equal(s->ops->outbox_release(s, Q, ids[1], rows[1].claim_token, NOW + 1000), STORE_OK);
    assert_int_equal(s->ops->outbox_release(s, Q, ids[1], rows[1].claim_token, NOW + 1000), STORE_NOT_FOUND);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM nexon_api_outbox WHERE id = %" PRId64
                                      " AND status = 'PENDING' AND retry_count = 0 AND next_retry_at = %" PRId64 "",
                             ids[1], NOW + 1000),
                     1);
    /* Immediate failure dead-letters at once (integrity). */
    assert_int_equal(s->ops->outbox_fail(s, Q, ids[2], rows[2].claim_token, "integrity: bad", true, 30, 3600, NOW,
                                         &res),
                     STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_DEAD);
    assert_int_equal(raw_int(fx->raw, "SELECT retry_count FROM nexon_api_outbox WHERE id = %" PRId64, ids[2]), 1);
    store_outbox_rows_free(rows, n);

    int64_t deleted = -1;
    assert_int_equal(s->ops->outbox_purge(s, Q, NOW + 5, &deleted), STORE_OK);
    assert_int_equal(deleted, 0); /* completed_at is not older than the cut-off */
    assert_int_equal(s->ops->outbox_purge(s, Q, NOW + 6, &deleted), STORE_OK);
    assert_int_equal(deleted, 1);
    store_outbox_counts_t c;
    assert_int_equal(s->ops->outbox_counts(s, Q, &c), STORE_OK);
    assert_int_equal(c.pending, 3);
    assert_int_equal(c.dead_letter, 1);
    assert_int_equal(c.completed + c.processing + c.failed, 0);

    /* Back-off is capped. */
    store_outbox_row_t r = claim_one(fx, Q, NOW + 2000);
    raw_execf(fx->raw, "UPDATE nexon_api_outbox SET max_retries = 100 WHERE id = %" PRId64, r.id);
    raw_execf(fx->raw, "UPDATE nexon_api_outbox SET retry_count = 40 WHERE id = %" PRId64, r.id);
    assert_int_equal(s->ops->outbox_fail(s, Q, r.id, r.claim_token, NULL, false, 30, 3600, NOW, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_RETRY);
    assert_int_equal(raw_int(fx->raw, "SELECT next_retry_at FROM nexon_api_outbox WHERE id = %" PRId64, r.id),
                     NOW + 3600000);
}

static void test_outbox_reclaim(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    const outbox_queue_t Q = OUTBOX_DONATION;
    int64_t good = raw_outbox(fx, Q, "donation:10", "DONATION_COMPLETED", "{\"g\":1}", NOW);
    int64_t bad = raw_outbox(fx, Q, "donation:11", "DONATION_COMPLETED", "{\"b\":1}", NOW);
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->outbox_claim(s, Q, "stalled", 10, NOW, &rows, &n), STORE_OK);
    assert_int_equal(n, 2);
    int64_t good_token = rows[0].claim_token;
    store_outbox_rows_free(rows, n);
    raw_execf(fx->raw, "UPDATE donation_outbox SET payload = '{\"b\":999}' WHERE id = %" PRId64, bad); /* tampered */

    int64_t reclaimed = -1, dead = -1;
    assert_int_equal(s->ops->outbox_reclaim(s, Q, NOW, NOW + 1, &reclaimed, &dead), STORE_OK);
    assert_int_equal(reclaimed + dead, 0); /* locked_at is not older than the cut-off */
    assert_int_equal(s->ops->outbox_reclaim(s, Q, NOW + 1, NOW + 2, &reclaimed, &dead), STORE_OK);
    assert_int_equal(reclaimed, 1);
    assert_int_equal(dead, 1);
    assert_int_equal(raw_int(fx->raw, "SELECT claim_token FROM donation_outbox WHERE id = %" PRId64
                                      " AND status = 'PENDING' AND locked_by IS NULL AND retry_count = 0",
                             good),
                     good_token + 1);
    char reason[128], payload[64];
    raw_text(fx->raw, reason, sizeof reason, "SELECT failure_reason FROM donation_dlq WHERE original_outbox_id = %" PRId64,
             bad);
    raw_text(fx->raw, payload, sizeof payload, "SELECT payload FROM donation_dlq WHERE original_outbox_id = %" PRId64, bad);
    assert_non_null(strstr(reason, "integrity"));
    assert_string_equal(payload, "{\"b\":999}"); /* verbatim, even though its hash no longer matches */
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE id = %" PRId64
                                      " AND status = 'DEAD_LETTER'",
                             bad),
                     1);

    /* The stalled worker comes back: its claim is lost, the reclaimed row is claimable again. */
    outbox_final_t res;
    assert_int_equal(s->ops->outbox_complete(s, Q, good, good_token, NOW + 3, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_CLAIM_LOST);
    assert_int_equal(s->ops->outbox_fail(s, Q, good, good_token, "late", false, 30, 3600, NOW + 3, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_CLAIM_LOST);
    store_outbox_row_t r = claim_one(fx, Q, NOW + 4);
    assert_int_equal(r.id, good);
    assert_int_equal(r.claim_token, good_token + 2);
    assert_int_equal(s->ops->outbox_complete(s, Q, good, r.claim_token, NOW + 5, &res), STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_OK);
}

/* A DEAD_LETTER row without its DLQ row (must never be visible). */
#define DEAD_LETTER_WITHOUT_DLQ_ROW                                                                        \
    "SELECT count(*) FROM donation_outbox o WHERE o.status = 'DEAD_LETTER'"                                \
    " AND NOT EXISTS (SELECT 1 FROM donation_dlq d WHERE d.request_id = o.request_id)"

static void test_dead_letter_and_dlq_row_are_atomic(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    enum { ROWS = 30 };
    tu_raw_exec(fx->raw, "BEGIN");
    for (int i = 0; i < ROWS; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "donation:%d", 100 + i);
        raw_outbox(fx, OUTBOX_DONATION, rid, "DONATION_COMPLETED", "{}", NOW);
    }
    tu_raw_exec(fx->raw, "COMMIT");
    atomic_bool stop = false;
    invariant_checker_t c = {.path = fx->db.path, .sql = DEAD_LETTER_WITHOUT_DLQ_ROW, .stop = &stop};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, invariant_check_thread, &c), 0);
    for (int i = 0; i < ROWS; i++) {
        store_outbox_row_t r = claim_one(fx, OUTBOX_DONATION, NOW);
        outbox_final_t res;
        /* max_retries 1 for even rows: the ordinary path; odd rows: immediate. */
        if (i % 2 == 0)
            raw_execf(fx->raw, "UPDATE donation_outbox SET max_retries = 1 WHERE id = %" PRId64, r.id);
        assert_int_equal(s->ops->outbox_fail(s, OUTBOX_DONATION, r.id, r.claim_token, "nope", i % 2 == 1, 30, 3600,
                                             NOW, &res),
                         STORE_OK);
        assert_int_equal(res, OUTBOX_FINAL_DEAD);
    }
    atomic_store(&stop, true);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&c.violations), 0);
    assert_true(atomic_load(&c.checks) > 0);
    int64_t n = 0;
    assert_int_equal(s->ops->dlq_count(s, OUTBOX_DONATION, &n), STORE_OK);
    assert_int_equal(n, ROWS);
}

/* Moves one claimed row to the DLQ; returns the DLQ row id. */
static int64_t dead_letter_one(fx_t *fx, outbox_queue_t q, int64_t now_ms)
{
    store_outbox_row_t r = claim_one(fx, q, now_ms);
    outbox_final_t res;
    assert_int_equal(fx->db.s->ops->outbox_fail(fx->db.s, q, r.id, r.claim_token, "gave up", true, 30, 3600, now_ms, &res),
                     STORE_OK);
    assert_int_equal(res, OUTBOX_FINAL_DEAD);
    return raw_int(fx->raw, "SELECT id FROM %s WHERE original_outbox_id = %" PRId64,
                   q == OUTBOX_DONATION ? "donation_dlq" : "nexon_api_dlq", r.id);
}

static void test_dlq_reprocess_and_discard(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    const outbox_queue_t Q = OUTBOX_DONATION;
    bool conflict = true;
    int64_t outbox_id = -1;
    char rid[101] = "x";
    assert_int_equal(s->ops->dlq_reprocess(s, Q, 999, NOW, &conflict, &outbox_id, rid), STORE_NOT_FOUND);

    /* DEAD_LETTER original: reset in place. */
    int64_t orig = raw_outbox(fx, Q, "donation:1", "DONATION_COMPLETED", "{\"n\":1}", NOW);
    int64_t dlq1 = dead_letter_one(fx, Q, NOW);
    store_dlq_row_t e;
    assert_int_equal(s->ops->dlq_get(s, Q, dlq1, &e), STORE_OK);
    assert_int_equal(e.original_outbox_id, orig);
    assert_string_equal(e.request_id, "donation:1");
    assert_string_equal(e.payload, "{\"n\":1}");
    assert_string_equal(e.failure_reason, "gave up");
    assert_int_equal(e.moved_ms, NOW);
    store_dlq_row_clear(&e);
    assert_int_equal(s->ops->dlq_get(s, Q, dlq1 + 100, &e), STORE_NOT_FOUND);
    int64_t token = raw_int(fx->raw, "SELECT claim_token FROM donation_outbox WHERE id = %" PRId64, orig);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq1, NOW + 50, &conflict, &outbox_id, rid), STORE_OK);
    assert_false(conflict);
    assert_int_equal(outbox_id, orig);
    assert_string_equal(rid, "donation:1");
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE id = %" PRId64
                                      " AND status = 'PENDING' AND retry_count = 0 AND next_retry_at = %" PRId64 ""
                                      " AND locked_by IS NULL AND locked_at IS NULL AND claim_token = %" PRId64,
                             orig, NOW + 50, token + 1),
                     1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_dlq"), 0);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq1, NOW, &conflict, &outbox_id, rid), STORE_NOT_FOUND);

    /* Non-terminal original: conflict, nothing changed. */
    int64_t dlq2 = dead_letter_one(fx, Q, NOW + 50);
    raw_execf(fx->raw, "UPDATE donation_outbox SET status = 'FAILED' WHERE id = %" PRId64, orig);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq2, NOW + 60, &conflict, &outbox_id, rid), STORE_OK);
    assert_true(conflict);
    assert_int_equal(outbox_id, 0);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_dlq WHERE id = %" PRId64, dlq2), 1);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE status = 'FAILED'"), 1);

    /* Purged original: a new PENDING row with a recomputed hash. */
    raw_execf(fx->raw, "DELETE FROM donation_outbox WHERE id = %" PRId64, orig);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq2, NOW + 70, &conflict, &outbox_id, rid), STORE_OK);
    assert_false(conflict);
    assert_true(outbox_id > orig);
    assert_string_equal(rid, "donation:1");
    char hash[80], want[65];
    raw_text(fx->raw, hash, sizeof hash, "SELECT content_hash FROM donation_outbox WHERE id = %" PRId64
                                         " AND status = 'PENDING' AND payload = '{\"n\":1}' AND next_retry_at = %" PRId64 "",
             outbox_id, NOW + 70);
    content_hash("donation:1", "DONATION_COMPLETED", "{\"n\":1}", want);
    assert_string_equal(hash, want);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_dlq"), 0);

    /* Discard: only the DLQ row goes. */
    int64_t dlq3 = dead_letter_one(fx, Q, NOW + 80);
    assert_int_equal(s->ops->dlq_discard(s, Q, dlq3), STORE_OK);
    assert_int_equal(s->ops->dlq_discard(s, Q, dlq3), STORE_NOT_FOUND);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM donation_outbox WHERE status = 'DEAD_LETTER'"), 1);
}

static void test_dlq_reprocess_upstream(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    const outbox_queue_t Q = OUTBOX_UPSTREAM;
    bool conflict = false;
    int64_t outbox_id = 0;
    char rid[101];

    /* Purged original: the new row gets dedup_key = event_type ":" payload. */
    int64_t orig = raw_outbox(fx, Q, "u-1", "GET_OCID", "아델", NOW);
    int64_t dlq1 = dead_letter_one(fx, Q, NOW);
    raw_execf(fx->raw, "DELETE FROM nexon_api_outbox WHERE id = %" PRId64, orig);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq1, NOW + 1, &conflict, &outbox_id, rid), STORE_OK);
    assert_false(conflict);
    char key[64];
    raw_text(fx->raw, key, sizeof key, "SELECT dedup_key FROM nexon_api_outbox WHERE id = %" PRId64, outbox_id);
    assert_string_equal(key, "GET_OCID:아델");

    /* Another active row already carries the same work: conflict, nothing changed. */
    int64_t dlq2 = dead_letter_one(fx, Q, NOW + 2); /* the requeued row, dead again */
    raw_outbox(fx, Q, "u-2", "GET_OCID", "아델", NOW);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq2, NOW + 3, &conflict, &outbox_id, rid), STORE_OK);
    assert_true(conflict);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM nexon_api_dlq"), 1);
    /* Once the twin is done the reprocess goes through (reset in place). */
    tu_raw_exec(fx->raw, "UPDATE nexon_api_outbox SET status = 'COMPLETED' WHERE request_id = 'u-2'");
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq2, NOW + 4, &conflict, &outbox_id, rid), STORE_OK);
    assert_false(conflict);
    assert_string_equal(rid, "u-1");
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM nexon_api_outbox WHERE request_id = 'u-1'"
                                      " AND status = 'PENDING'"),
                     1);

    /* A COMPLETED original with a DLQ row (not produced by this code) is reset like a dead one. */
    store_outbox_row_t r = claim_one(fx, Q, NOW + 5);
    outbox_final_t res;
    assert_int_equal(s->ops->outbox_complete(s, Q, r.id, r.claim_token, NOW + 6, &res), STORE_OK);
    raw_execf(fx->raw,
              "INSERT INTO nexon_api_dlq (original_outbox_id, request_id, event_type, payload, moved_at)"
              " VALUES (%" PRId64 ", 'u-1', 'GET_OCID', '아델', 1)",
              r.id);
    int64_t dlq3 = sqlite3_last_insert_rowid(fx->raw);
    assert_int_equal(s->ops->dlq_reprocess(s, Q, dlq3, NOW + 7, &conflict, &outbox_id, rid), STORE_OK);
    assert_false(conflict);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM nexon_api_outbox WHERE id = %" PRId64
                                      " AND status = 'PENDING' AND completed_at IS NULL",
                             r.id),
                     1);
}

static void test_dlq_paging_and_cursor(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    enum { ROWS = 25 };
    tu_raw_exec(fx->raw, "BEGIN");
    for (int i = 1; i <= ROWS; i++) /* moved_at repeats every 3 rows so the id tie-break matters */
        raw_execf(fx->raw,
                  "INSERT INTO donation_dlq (original_outbox_id, request_id, event_type, payload, failure_reason,"
                  " moved_at) VALUES (%d, 'r-%d', 'DONATION_COMPLETED', 'p-%d', %s, %d)",
                  i, i, i, i % 2 ? "'why'" : "NULL", 1000 + (i / 3));
    tu_raw_exec(fx->raw, "COMMIT");

    store_dlq_row_t *rows = NULL;
    size_t n = 0;
    int64_t total = 0;
    assert_int_equal(s->ops->dlq_page(s, OUTBOX_DONATION, 0, 10, &rows, &n, &total), STORE_OK);
    assert_int_equal(n, 10);
    assert_int_equal(total, ROWS);
    for (size_t i = 1; i < n; i++) {
        bool ordered = rows[i - 1].moved_ms > rows[i].moved_ms ||
                       (rows[i - 1].moved_ms == rows[i].moved_ms && rows[i - 1].id > rows[i].id);
        assert_true(ordered);
    }
    assert_int_equal(rows[0].id, 25);
    assert_int_equal(rows[1].id, 24);
    store_dlq_rows_free(rows, n);
    assert_int_equal(s->ops->dlq_page(s, OUTBOX_DONATION, 2, 10, &rows, &n, &total), STORE_OK);
    assert_int_equal(n, 5);
    assert_int_equal(rows[4].id, 1);
    assert_string_equal(rows[4].payload, "p-1");
    assert_string_equal(rows[4].failure_reason, "why");
    assert_null(rows[3].failure_reason);
    store_dlq_rows_free(rows, n);
    assert_int_equal(s->ops->dlq_page(s, OUTBOX_DONATION, 3, 10, &rows, &n, &total), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, ROWS);
    store_dlq_rows_free(rows, n);
    assert_int_equal(s->ops->dlq_page(s, OUTBOX_DONATION, INT64_MAX / 2, 100, &rows, &n, &total), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, ROWS);

    /* Cursor: size + 1 rows ascending so the caller sees hasNext; walk everything once. */
    int64_t cursor = 0, seen = 0;
    for (;;) {
        assert_int_equal(s->ops->dlq_after(s, OUTBOX_DONATION, cursor, 10, &rows, &n), STORE_OK);
        size_t take = n > 10 ? 10 : n;
        for (size_t i = 0; i < take; i++) {
            assert_int_equal(rows[i].id, cursor + 1 + (int64_t)i);
            seen++;
        }
        bool has_next = n > 10;
        if (take > 0)
            cursor = rows[take - 1].id;
        store_dlq_rows_free(rows, n);
        if (!has_next)
            break;
    }
    assert_int_equal(seen, ROWS);
    assert_int_equal(cursor, ROWS);
    assert_int_equal(s->ops->dlq_after(s, OUTBOX_UPSTREAM, 0, 10, &rows, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_null(rows);
}

/* ================================================================================================
 * Leases and quotas
 * ============================================================================================== */

static void test_leases(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    int64_t tok = 0;
    assert_int_equal(s->ops->lease_acquire(s, "like-fold", "A", 500, 1000, &tok), STORE_OK);
    assert_int_equal(tok, 1);
    assert_int_equal(s->ops->lease_acquire(s, "like-fold", "B", 500, 1200, &tok), STORE_NOT_FOUND);
    assert_int_equal(s->ops->lease_acquire(s, "like-fold", "A", 500, 1200, &tok), STORE_NOT_FOUND); /* no re-entry */
    assert_int_equal(s->ops->lease_renew(s, "like-fold", "B", 1, 500, 1300), STORE_NOT_FOUND);      /* not the holder */
    assert_int_equal(s->ops->lease_renew(s, "like-fold", "A", 2, 500, 1300), STORE_NOT_FOUND);      /* wrong token */
    assert_int_equal(s->ops->lease_renew(s, "like-fold", "A", 1, 500, 1400), STORE_OK);             /* until 1900 */
    assert_int_equal(s->ops->lease_acquire(s, "like-fold", "B", 500, 1899, &tok), STORE_NOT_FOUND);
    assert_int_equal(s->ops->lease_acquire(s, "like-fold", "B", 500, 1901, &tok), STORE_OK); /* expired: taken over */
    assert_int_equal(tok, 2);
    assert_int_equal(s->ops->lease_renew(s, "like-fold", "A", 1, 500, 1950), STORE_NOT_FOUND); /* A lost it */
    assert_int_equal(s->ops->lease_release(s, "like-fold", "A", 1), STORE_NOT_FOUND);
    assert_int_equal(s->ops->lease_renew(s, "like-fold", "B", 2, 500, 2401), STORE_NOT_FOUND); /* expired at 2401 */
    assert_int_equal(s->ops->lease_release(s, "like-fold", "B", 2), STORE_OK);
    assert_int_equal(raw_int(fx->raw, "SELECT count(*) FROM job_lease WHERE name = 'like-fold' AND holder IS NULL"), 1);
    assert_int_equal(s->ops->lease_acquire(s, "like-fold", "A", 500, 2500, &tok), STORE_OK);
    assert_int_equal(tok, 3); /* strictly increasing across holders */
    assert_int_equal(raw_int(fx->raw, "SELECT acquired_at FROM job_lease WHERE name = 'like-fold'"), 2500);
    assert_int_equal(raw_int(fx->raw, "SELECT lease_until FROM job_lease WHERE name = 'like-fold'"), 3000);

    /* Leases are independent by name. */
    assert_int_equal(s->ops->lease_acquire(s, "outbox-recovery", "B", 500, 2500, &tok), STORE_OK);
    assert_int_equal(tok, 1);
}

enum { QUOTA_THREADS = 8, QUOTA_TRIES = 20, QUOTA_LIMIT = 50 };

typedef struct {
    store_t *s;
    pthread_barrier_t *go;
    int ok, exhausted, other;
    int64_t used[QUOTA_TRIES];
} quota_thread_t;

static void *quota_thread(void *arg)
{
    quota_thread_t *q = arg;
    pthread_barrier_wait(q->go);
    for (int i = 0; i < QUOTA_TRIES; i++) {
        int64_t used = 0;
        store_rc_t rc = q->s->ops->quota_consume(q->s, "alert", "2026-02-16", QUOTA_LIMIT, &used);
        if (rc == STORE_OK)
            q->used[q->ok++] = used;
        else if (rc == STORE_NOT_FOUND)
            q->exhausted++;
        else
            q->other++;
    }
    return NULL;
}

static void test_quota(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->db.s;
    int64_t used = 0;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(s->ops->quota_consume(s, "ai", "2026-02-15", 3, &used), STORE_OK);
        assert_int_equal(used, i);
    }
    assert_int_equal(s->ops->quota_consume(s, "ai", "2026-02-15", 3, &used), STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_consume(s, "ai", "2026-02-16", 3, &used), STORE_OK); /* a new day */
    assert_int_equal(used, 1);
    assert_int_equal(s->ops->quota_consume(s, "zero", "2026-02-15", 0, &used), STORE_NOT_FOUND);
    assert_int_equal(s->ops->quota_consume(s, "neg", "2026-02-15", -1, &used), STORE_CORRUPT);
    assert_int_equal(s->ops->quota_consume(s, "ai", "16/02/2026", 3, &used), STORE_CORRUPT);

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, QUOTA_THREADS);
    quota_thread_t q[QUOTA_THREADS];
    pthread_t t[QUOTA_THREADS];
    for (int i = 0; i < QUOTA_THREADS; i++) {
        memset(&q[i], 0, sizeof q[i]);
        q[i].s = s;
        q[i].go = &go;
        assert_int_equal(pthread_create(&t[i], NULL, quota_thread, &q[i]), 0);
    }
    bool seen[QUOTA_LIMIT + 1] = {false};
    int ok = 0, exhausted = 0;
    for (int i = 0; i < QUOTA_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(q[i].other, 0);
        ok += q[i].ok;
        exhausted += q[i].exhausted;
        for (int k = 0; k < q[i].ok; k++) {
            assert_true(q[i].used[k] >= 1 && q[i].used[k] <= QUOTA_LIMIT);
            assert_false(seen[q[i].used[k]]); /* every value handed out once */
            seen[q[i].used[k]] = true;
        }
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, QUOTA_LIMIT);
    assert_int_equal(exhausted, QUOTA_THREADS * QUOTA_TRIES - QUOTA_LIMIT);
    assert_int_equal(raw_int(fx->raw, "SELECT used FROM quota_counter WHERE name = 'alert'"), QUOTA_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_members_and_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_rotation_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_concurrent_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_like_set_count_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_like_concurrency_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_donation_done_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_donation_refusals_roll_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_donation_concurrent_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_claim_fail_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_complete_release_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_enqueue_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_reclaim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_and_dlq_row_are_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlq_reprocess_and_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlq_reprocess_upstream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlq_paging_and_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
