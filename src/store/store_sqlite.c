/*
 * store_sqlite.c - the SQLite primary database of standalone mode (store.h; platform spec 5.1,
 * SC-37, SC-39, SC-23, 2.3.7, 3.1, 3.2).
 *
 * Connections (SC-37): one writer connection behind a mutex (every write is one BEGIN IMMEDIATE
 * transaction, so writes are serialized in the process and never wait on each other inside SQLite)
 * and a pool of `readers` read-only connections handed out under a mutex + condition variable. In
 * WAL mode readers see the last committed state and never block the writer or each other. Each
 * connection is used by one thread at a time, so connections are opened SQLITE_OPEN_NOMUTEX, and
 * each keeps its own cache of prepared statements (prepared on first use, reset after every use so
 * no read transaction stays open and blocks checkpoints).
 *
 * Every connection: busy_timeout 5000 ms (adjustable for tests), synchronous=FULL,
 * foreign_keys=ON, wal_autocheckpoint=1000; the writer sets journal_mode=WAL (persistent in the file).
 *
 * Errors: SQLite busy after busy_timeout, I/O errors, disk full, cannot open, read-only, out of
 * memory, a corrupt file -> STORE_UNAVAILABLE (the caller's degraded path). Data the schema refuses
 * (CHECK / NOT NULL / UNIQUE violation, a non-finite cost) -> STORE_CORRUPT, so a bad record never
 * looks like a database outage to the `db` breaker. A write returns STORE_OK only after COMMIT
 * succeeded; on any failure the transaction is rolled back.
 *
 * Retries (3.2): a whole transaction that failed with SQLITE_BUSY/LOCKED is run again, 3 attempts
 * in total, after a random 10-50 ms back-off with no lock held. Every transaction here is safe to
 * repeat: a failed one rolled back, and each is an idempotent upsert/delete with ordering guards.
 *
 * The operations of issue 4 (accounts, likes, donations, outboxes, leases, quotas) live in the
 * sqlite_*.c files next to this one and use the runner, the statement cache and the binding helpers
 * exported through store_sqlite_internal.h; this file wires them into the store_ops_t table.
 *
 * This file also holds the backend-independent helpers declared in store.h (store_rc_name and the
 * *_clear / *_free functions); they belong in a store.c once a second backend exists.
 */
#include "store/store.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "store/store_sqlite_internal.h"

#define DEFAULT_BUSY_TIMEOUT_MS 5000 /* spec 3.1 */
#define TXN_ATTEMPTS 3               /* spec 3.2: whole transaction, attempts in total */
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 50
#define MAX_READERS 16
#define COST_TEXT_MAX 32 /* "%.0f" of anything below 1e20, sign, NUL */

/* ------------------------------------------------------------------------------------------------
 * Backend-independent helpers declared in store.h
 * ---------------------------------------------------------------------------------------------- */

const char *store_rc_name(store_rc_t rc)
{
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not_found";
    case STORE_UNAVAILABLE: return "unavailable";
    case STORE_CORRUPT: return "corrupt";
    }
    return "unknown";
}

void store_character_clear(store_character_t *c)
{
    if (!c)
        return;
    free(c->user_ign);
    free(c->ocid);
    free(c->world_name);
    free(c->character_class);
    free(c->character_image);
    memset(c, 0, sizeof *c);
}

void store_snapshot_clear(store_snapshot_t *s)
{
    if (!s)
        return;
    free(s->json_gzip);
    memset(s, 0, sizeof *s);
}

void store_view_clear(store_view_t *v)
{
    if (!v)
        return;
    free(v->user_ign);
    free(v->body_gzip);
    memset(v, 0, sizeof *v);
}

void store_session_clear(store_session_t *s)
{
    if (!s)
        return;
    free(s->user_ign);
    free(s->my_ocids_json);
    memset(s, 0, sizeof *s);
}

void store_strings_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void store_outbox_rows_free(store_outbox_row_t *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].payload);
    free(rows);
}

void store_dlq_row_clear(store_dlq_row_t *r)
{
    if (!r)
        return;
    free(r->payload);
    free(r->failure_reason);
    memset(r, 0, sizeof *r);
}

void store_dlq_rows_free(store_dlq_row_t *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        store_dlq_row_clear(&rows[i]);
    free(rows);
}

/* ------------------------------------------------------------------------------------------------
 * Statements (prepared once per connection, on first use)
 * ---------------------------------------------------------------------------------------------- */

#define CHARACTER_COLUMNS                                                                          \
    "id, user_ign, ocid, world_name, character_class, character_level, character_image, "          \
    "basic_info_updated_at, like_count"
#define VIEW_COLUMNS                                                                               \
    "v.character_id, v.user_ign, v.total_expected_cost, v.max_preset_no, v.calculated_at, "        \
    "v.body_gzip, v.job_id"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_CHAR_BY_IGN,
    ST_CHAR_BY_OCID,
    ST_CHAR_FREE_IGN,
    ST_CHAR_INSERT,
    ST_CHAR_RENAME,
    ST_CHAR_SET_BASIC,
    ST_CHAR_ENSURE_FOR_VIEW,
    ST_CHAR_ID_BY_OCID,
    ST_SNAP_GET,
    ST_SNAP_UPSERT,
    ST_VIEW_BY_CHARACTER_IGN,
    ST_VIEW_BY_VIEW_IGN,
    ST_VIEW_UPSERT,
    ST_SUMMARY_DELETE,
    ST_SUMMARY_INSERT,
    ST_VIEW_DELETE_SUMMARIES,
    ST_VIEW_DELETE,
    ST_PURGE_SUMMARIES,
    ST_PURGE_VIEWS,
    ST_META_GET,
    ST_META_PUT,
    ST__COUNT
};

static const char *const STMT_SQL[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_CHAR_BY_IGN] = "SELECT " CHARACTER_COLUMNS " FROM game_character WHERE user_ign = ?1",
    [ST_CHAR_BY_OCID] = "SELECT " CHARACTER_COLUMNS " FROM game_character WHERE ocid = ?1",
    /* Name moved (T02): whoever else holds the IGN loses it. */
    [ST_CHAR_FREE_IGN] = "UPDATE game_character SET user_ign = NULL, version = version + 1, updated_at = ?3"
                         " WHERE user_ign = ?1 AND ocid <> ?2",
    [ST_CHAR_INSERT] = "INSERT INTO game_character (user_ign, ocid, created_at, updated_at)"
                       " VALUES (?1, ?2, ?3, ?3) ON CONFLICT (ocid) DO NOTHING",
    [ST_CHAR_RENAME] = "UPDATE game_character SET user_ign = ?1, version = version + 1, updated_at = ?3"
                       " WHERE ocid = ?2 AND user_ign IS NOT ?1",
    [ST_CHAR_SET_BASIC] = "UPDATE game_character SET world_name = ?2, character_class = ?3,"
                          " character_level = ?4, character_image = ?5, basic_info_updated_at = ?6,"
                          " updated_at = ?6, version = version + 1 WHERE ocid = ?1",
    /* The write-back buffer never moves a name: it takes the IGN only when nobody holds it. */
    [ST_CHAR_ENSURE_FOR_VIEW] =
        "INSERT INTO game_character (user_ign, ocid, created_at, updated_at)"
        " VALUES (CASE WHEN EXISTS (SELECT 1 FROM game_character WHERE user_ign = ?1) THEN NULL ELSE ?1 END,"
        " ?2, ?3, ?3) ON CONFLICT (ocid) DO NOTHING",
    [ST_CHAR_ID_BY_OCID] = "SELECT id FROM game_character WHERE ocid = ?1",
    [ST_SNAP_GET] = "SELECT json_gzip, content_sha256, fetched_at, updated_at FROM character_equipment"
                    " WHERE ocid = ?1",
    [ST_SNAP_UPSERT] =
        "INSERT INTO character_equipment (ocid, json_gzip, content_sha256, fetched_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (ocid) DO UPDATE SET json_gzip = excluded.json_gzip,"
        " content_sha256 = excluded.content_sha256, fetched_at = excluded.fetched_at,"
        " updated_at = excluded.updated_at WHERE excluded.fetched_at > character_equipment.fetched_at",
    [ST_VIEW_BY_CHARACTER_IGN] = "SELECT " VIEW_COLUMNS " FROM game_character c"
                                 " JOIN expectation_view v ON v.character_id = c.id WHERE c.user_ign = ?1",
    /* Fallback by the IGN recorded at calculation time, only for a character that holds no name now
     * and only while no character holds this IGN: never another character's view. */
    [ST_VIEW_BY_VIEW_IGN] = "SELECT " VIEW_COLUMNS " FROM expectation_view v"
                            " JOIN game_character c ON c.id = v.character_id"
                            " WHERE v.user_ign = ?1 AND c.user_ign IS NULL"
                            " AND NOT EXISTS (SELECT 1 FROM game_character h WHERE h.user_ign = ?1)"
                            " ORDER BY v.calculated_at DESC LIMIT 1",
    [ST_VIEW_UPSERT] =
        "INSERT INTO expectation_view (character_id, user_ign, total_expected_cost, max_preset_no,"
        " calculated_at, logic_version, lookup_checksum, body_gzip, job_id, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (character_id) DO UPDATE SET"
        " user_ign = excluded.user_ign, total_expected_cost = excluded.total_expected_cost,"
        " max_preset_no = excluded.max_preset_no, calculated_at = excluded.calculated_at,"
        " logic_version = excluded.logic_version, lookup_checksum = excluded.lookup_checksum,"
        " body_gzip = excluded.body_gzip, job_id = excluded.job_id, updated_at = excluded.updated_at"
        " WHERE excluded.calculated_at >= expectation_view.calculated_at",
    [ST_SUMMARY_DELETE] = "DELETE FROM expectation_preset_summary WHERE character_id = ?1",
    [ST_SUMMARY_INSERT] =
        "INSERT INTO expectation_preset_summary (character_id, preset_no, total_expected_cost,"
        " black_cube_cost, red_cube_cost, additional_cube_cost, starforce_cost, calculated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_VIEW_DELETE_SUMMARIES] =
        "DELETE FROM expectation_preset_summary WHERE character_id IN"
        " (SELECT character_id FROM expectation_view WHERE user_ign = ?1"
        " UNION SELECT id FROM game_character WHERE user_ign = ?1)",
    [ST_VIEW_DELETE] = "DELETE FROM expectation_view WHERE user_ign = ?1"
                       " OR character_id IN (SELECT id FROM game_character WHERE user_ign = ?1)",
    [ST_PURGE_SUMMARIES] = "DELETE FROM expectation_preset_summary WHERE character_id IN"
                           " (SELECT character_id FROM expectation_view WHERE calculated_at < ?1)",
    [ST_PURGE_VIEWS] = "DELETE FROM expectation_view WHERE calculated_at < ?1",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
};

/* ------------------------------------------------------------------------------------------------
 * Store and connections
 * ---------------------------------------------------------------------------------------------- */

/* Statements of the operation files (sq_prepare), cached by the address of their SQL text in an
 * open-addressing table. About 100 exist; the table is sized so it never fills. */
#define EXTRA_STMT_SLOTS 256

struct sq_conn {
    sqlite3 *db;
    int busy_ms; /* busy_timeout currently set on db */
    sqlite3_stmt *st[ST__COUNT];
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } extra[EXTRA_STMT_SLOTS];
};
typedef struct sq_conn conn_t;

typedef struct {
    store_t base; /* first: store_t * and sq_store_t * convert both ways */
    int schema_version;
    atomic_int busy_ms; /* wanted busy_timeout; each connection picks it up on its next use */

    pthread_mutex_t writer_mu; /* guards writer */
    conn_t writer;

    pthread_mutex_t pool_mu; /* guards idle, idle_count */
    pthread_cond_t pool_cv;  /* signalled when a reader is returned */
    conn_t readers[MAX_READERS];
    int reader_count;
    int idle[MAX_READERS];
    int idle_count;
} sq_store_t;

static sq_store_t *sq(store_t *s)
{
    return (sq_store_t *)s;
}

static store_rc_t map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return STORE_OK;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return STORE_CORRUPT;
    default: /* BUSY, LOCKED, IOERR*, FULL, CANTOPEN, READONLY, NOMEM, CORRUPT, NOTADB, ERROR, ... */
        return STORE_UNAVAILABLE;
    }
}

static bool is_busy(int rc)
{
    return rc >= 0 && ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED);
}

static int stmt_get(conn_t *c, enum stmt_id id, sqlite3_stmt **out)
{
    if (!c->st[id]) {
        int rc = sqlite3_prepare_v3(c->db, STMT_SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL);
        if (rc != SQLITE_OK) {
            c->st[id] = NULL;
            return rc;
        }
    }
    *out = c->st[id];
    return SQLITE_OK;
}

int sq_prepare(conn_t *c, const char *sql, sqlite3_stmt **out)
{
    size_t h = ((uintptr_t)sql >> 3) * 0x9E3779B97F4A7C15ULL >> 56; /* 0..255 */
    for (size_t probe = 0; probe < EXTRA_STMT_SLOTS; probe++) {
        size_t i = (h + probe) % EXTRA_STMT_SLOTS;
        if (c->extra[i].sql == sql) {
            *out = c->extra[i].st;
            return SQLITE_OK;
        }
        if (!c->extra[i].sql) {
            int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->extra[i].st, NULL);
            if (rc != SQLITE_OK) {
                c->extra[i].st = NULL;
                return rc;
            }
            c->extra[i].sql = sql;
            *out = c->extra[i].st;
            return SQLITE_OK;
        }
    }
    return SQLITE_INTERNAL; /* more distinct statements than slots: raise EXTRA_STMT_SLOTS */
}

sqlite3 *sq_db(conn_t *c)
{
    return c->db;
}

int sq_exec(conn_t *c, const char *sql)
{
    sqlite3_stmt *st;
    int rc = sq_prepare(c, sql, &st);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs a statement without parameters or rows (BEGIN, COMMIT, ROLLBACK). */
static int exec_stmt(conn_t *c, enum stmt_id id)
{
    sqlite3_stmt *st;
    int rc = stmt_get(c, id, &st);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    sq_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void conn_apply_busy(sq_store_t *s, conn_t *c)
{
    int want = atomic_load(&s->busy_ms);
    if (c->busy_ms != want) {
        sqlite3_busy_timeout(c->db, want);
        c->busy_ms = want;
    }
}

static void conn_close(conn_t *c)
{
    for (int i = 0; i < ST__COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    for (int i = 0; i < EXTRA_STMT_SLOTS; i++) {
        sqlite3_finalize(c->extra[i].st);
        c->extra[i].st = NULL;
        c->extra[i].sql = NULL;
    }
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
}

static int conn_pragma_text(conn_t *c, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, cap, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int conn_open(conn_t *c, const char *path, bool writer, int busy_ms, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int flags = (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: cannot open %s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return -1;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, busy_ms);
    c->busy_ms = busy_ms;
    if (writer) {
        char mode[16] = "";
        rc = conn_pragma_text(c, "PRAGMA journal_mode = WAL", mode, sizeof mode);
        if (rc != SQLITE_OK || strcmp(mode, "wal") != 0) {
            snprintf(err, errlen, "sqlite: cannot enable WAL on %s: %s", path,
                     rc != SQLITE_OK ? sqlite3_errmsg(c->db) : mode);
            conn_close(c);
            return -1;
        }
    }
    char *msg = NULL;
    rc = sqlite3_exec(c->db,
                      "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 1000;",
                      NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: settings on %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        conn_close(c);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Running work: read on a pooled reader, write in a BEGIN IMMEDIATE transaction on the writer
 * ---------------------------------------------------------------------------------------------- */

/* A unit of work on one connection (store_sqlite_internal.h: sq_work_fn, SQ_ROLLBACK_ANSWER). */
typedef sq_work_fn work_fn;

static void backoff_sleep(void)
{
    /* No shared RNG state: mix the clock with a stack address (differs per thread). */
    uint64_t x = (uint64_t)clock_mono_us();
    x ^= (uint64_t)(uintptr_t)&x * 0x9E3779B97F4A7C15ULL;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    int ms = BACKOFF_MIN_MS + (int)(x % (BACKOFF_MAX_MS - BACKOFF_MIN_MS + 1));
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static conn_t *reader_acquire(sq_store_t *s)
{
    struct timespec until = clock_after_ms(CLOCK_MONOTONIC, atomic_load(&s->busy_ms));
    conn_t *c = NULL;
    pthread_mutex_lock(&s->pool_mu);
    while (s->idle_count == 0) {
        if (pthread_cond_timedwait(&s->pool_cv, &s->pool_mu, &until) != 0 && s->idle_count == 0)
            break; /* timed out: every reader stayed busy for busy_timeout */
    }
    if (s->idle_count > 0)
        c = &s->readers[s->idle[--s->idle_count]];
    pthread_mutex_unlock(&s->pool_mu);
    return c;
}

static void reader_release(sq_store_t *s, conn_t *c)
{
    pthread_mutex_lock(&s->pool_mu);
    s->idle[s->idle_count++] = (int)(c - s->readers);
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

static store_rc_t run_read(sq_store_t *s, work_fn fn, void *ctx)
{
    int rc = SQLITE_OK;
    store_rc_t answer = STORE_OK;
    for (int attempt = 1;; attempt++) {
        conn_t *c = reader_acquire(s);
        if (!c)
            return STORE_UNAVAILABLE;
        conn_apply_busy(s, c);
        answer = STORE_OK;
        rc = fn(c, ctx, &answer);
        reader_release(s, c);
        if (!is_busy(rc) || attempt >= TXN_ATTEMPTS)
            break;
        backoff_sleep();
    }
    return rc == SQLITE_OK ? answer : map_rc(rc);
}

store_rc_t sq_run_read(store_t *s, sq_work_fn fn, void *ctx)
{
    return run_read(sq(s), fn, ctx);
}

/* One attempt: BEGIN IMMEDIATE, the work, COMMIT; rolled back on any failure and on
 * SQ_ROLLBACK_ANSWER (a normal answer whose work must not commit). */
static int transaction(conn_t *w, work_fn fn, void *ctx, store_rc_t *answer)
{
    int rc = exec_stmt(w, ST_BEGIN);
    if (rc != SQLITE_OK)
        return rc;
    rc = fn(w, ctx, answer);
    if (rc == SQLITE_OK)
        rc = exec_stmt(w, ST_COMMIT);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(w->db))
        exec_stmt(w, ST_ROLLBACK); /* SQLite may already have rolled back (I/O error, disk full) */
    return rc;
}

static store_rc_t run_write(sq_store_t *s, work_fn fn, void *ctx)
{
    int rc = SQLITE_OK;
    store_rc_t answer = STORE_OK;
    for (int attempt = 1;; attempt++) {
        answer = STORE_OK;
        pthread_mutex_lock(&s->writer_mu);
        conn_apply_busy(s, &s->writer);
        rc = transaction(&s->writer, fn, ctx, &answer);
        pthread_mutex_unlock(&s->writer_mu);
        if (!is_busy(rc) || attempt >= TXN_ATTEMPTS)
            break;
        backoff_sleep(); /* without the writer lock: other writers may go ahead */
    }
    return rc == SQLITE_OK || rc == SQ_ROLLBACK_ANSWER ? answer : map_rc(rc);
}

store_rc_t sq_run_write(store_t *s, sq_work_fn fn, void *ctx)
{
    return run_write(sq(s), fn, ctx);
}

/* ------------------------------------------------------------------------------------------------
 * Binding and decoding
 * ---------------------------------------------------------------------------------------------- */

/* Costs (5.1, M1): whole mesos as canonical decimal text ("%.0f", never an exponent). false for
 * values the column must not hold (not finite, or beyond NUMERIC(20,0)). */
static bool cost_format(double v, char out[COST_TEXT_MAX])
{
    if (!isfinite(v) || fabs(v) >= 1e20)
        return false;
    snprintf(out, COST_TEXT_MAX, "%.0f", v);
    if (out[0] == '-' && strspn(out + 1, "0.") == strlen(out + 1))
        memmove(out, out + 1, strlen(out)); /* "-0" -> "0" */
    return true;
}

static bool cost_parse(const unsigned char *text, double *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    double v = strtod((const char *)text, &end);
    if (*end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* Copies a BLOB column into a fresh heap block (never NULL on success, even for zero bytes). */
static unsigned char *column_blobdup(sqlite3_stmt *st, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    unsigned char *copy = malloc(n ? n : 1);
    if (copy && n)
        memcpy(copy, p, n);
    *len = copy ? n : 0;
    return copy;
}

/* Row of CHARACTER_COLUMNS -> out. SQLITE_OK or SQLITE_NOMEM. */
static int read_character(sqlite3_stmt *st, store_character_t *out)
{
    bool ok = true;
    out->id = sqlite3_column_int64(st, 0);
    out->user_ign = sq_column_strdup(st, 1, &ok);
    out->ocid = sq_column_strdup(st, 2, &ok);
    out->world_name = sq_column_strdup(st, 3, &ok);
    out->character_class = sq_column_strdup(st, 4, &ok);
    out->character_level = sqlite3_column_int(st, 5);
    out->character_image = sq_column_strdup(st, 6, &ok);
    out->basic_info_updated_ms = sqlite3_column_int64(st, 7);
    out->like_count = sqlite3_column_int64(st, 8);
    if (!ok) {
        store_character_clear(out);
        return SQLITE_NOMEM;
    }
    return SQLITE_OK;
}

/* Row of VIEW_COLUMNS -> out. SQLITE_OK with *answer = STORE_CORRUPT for data that fails
 * validation, SQLITE_NOMEM on allocation failure. */
static int read_view(sqlite3_stmt *st, store_view_t *out, store_rc_t *answer)
{
    out->character_id = sqlite3_column_int64(st, 0);
    bool ok = true;
    out->user_ign = sq_column_strdup(st, 1, &ok);
    bool valid = cost_parse(sqlite3_column_text(st, 2), &out->total_expected_cost);
    out->max_preset_no = sqlite3_column_int(st, 3);
    out->calculated_ms = sqlite3_column_int64(st, 4);
    out->body_gzip = column_blobdup(st, 5, &out->body_gzip_len);
    const unsigned char *job = sqlite3_column_text(st, 6);
    if (job && strlen((const char *)job) >= sizeof out->job_id)
        valid = false;
    else
        snprintf(out->job_id, sizeof out->job_id, "%s", job ? (const char *)job : "");
    if (!ok || !out->body_gzip) {
        store_view_clear(out);
        return SQLITE_NOMEM;
    }
    if (!valid) {
        store_view_clear(out);
        *answer = STORE_CORRUPT;
    }
    return SQLITE_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Operations
 * ---------------------------------------------------------------------------------------------- */

static int work_ping(conn_t *c, void *ctx, store_rc_t *answer)
{
    (void)ctx;
    (void)answer;
    sqlite3_stmt *st;
    int rc = stmt_get(c, ST_PING, &st);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    sq_stmt_release(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static store_rc_t op_ping(store_t *s)
{
    return run_read(sq(s), work_ping, NULL);
}

static int op_schema_version(store_t *s)
{
    return sq(s)->schema_version;
}

/* ---- characters ---- */

typedef struct {
    enum stmt_id stmt;
    const char *key;
    store_character_t *out;
} character_get_t;

static int select_character(conn_t *c, enum stmt_id id, const char *key, store_character_t *out,
                            store_rc_t *answer)
{
    sqlite3_stmt *st;
    int rc = stmt_get(c, id, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, key);
    rc = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    if (rc == SQLITE_ROW)
        rc = read_character(st, out);
    else if (rc == SQLITE_DONE) {
        *answer = STORE_NOT_FOUND;
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

static int work_character_get(conn_t *c, void *ctx, store_rc_t *answer)
{
    character_get_t *g = ctx;
    return select_character(c, g->stmt, g->key, g->out, answer);
}

static store_rc_t character_get(store_t *s, enum stmt_id stmt, const char *key, store_character_t *out)
{
    memset(out, 0, sizeof *out);
    if (!key)
        return STORE_NOT_FOUND;
    character_get_t g = {stmt, key, out};
    return run_read(sq(s), work_character_get, &g);
}

static store_rc_t op_character_by_ign(store_t *s, const char *ign, store_character_t *out)
{
    return character_get(s, ST_CHAR_BY_IGN, ign, out);
}

static store_rc_t op_character_by_ocid(store_t *s, const char *ocid, store_character_t *out)
{
    return character_get(s, ST_CHAR_BY_OCID, ocid, out);
}

typedef struct {
    const char *ocid, *ign;
    int64_t now_ms;
    store_character_t *out; /* may be NULL */
} character_upsert_t;

/* Runs one of the (IGN, OCID, now) statements of the upsert. */
static int exec_ign_ocid_now(conn_t *w, enum stmt_id id, const character_upsert_t *u)
{
    sqlite3_stmt *st;
    int rc = stmt_get(w, id, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, u->ign);
    sq_bind_text(&b, 2, u->ocid);
    sq_bind_i64(&b, 3, u->now_ms);
    return sq_step_done(st, b.rc);
}

static int work_character_upsert(conn_t *w, void *ctx, store_rc_t *answer)
{
    character_upsert_t *u = ctx;
    int rc = SQLITE_OK;
    if (u->ign)
        rc = exec_ign_ocid_now(w, ST_CHAR_FREE_IGN, u);
    if (rc == SQLITE_OK)
        rc = exec_ign_ocid_now(w, ST_CHAR_INSERT, u);
    if (rc == SQLITE_OK && u->ign)
        rc = exec_ign_ocid_now(w, ST_CHAR_RENAME, u);
    if (rc == SQLITE_OK && u->out) {
        store_character_clear(u->out); /* a retried attempt starts clean */
        rc = select_character(w, ST_CHAR_BY_OCID, u->ocid, u->out, answer);
        if (rc == SQLITE_OK && *answer != STORE_OK)
            rc = SQLITE_INTERNAL; /* the row we just ensured must be there */
    }
    return rc;
}

static store_rc_t op_character_upsert(store_t *s, const char *ocid, const char *ign, store_character_t *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!ocid)
        return STORE_CORRUPT;
    character_upsert_t u = {ocid, ign, clock_wall_ms(), out};
    store_rc_t rc = run_write(sq(s), work_character_upsert, &u);
    if (rc != STORE_OK)
        store_character_clear(out); /* nothing committed: report nothing */
    return rc;
}

typedef struct {
    const char *ocid;
    const store_basic_t *b;
    int64_t now_ms;
} character_basic_t;

static int work_character_set_basic(conn_t *w, void *ctx, store_rc_t *answer)
{
    character_basic_t *u = ctx;
    sqlite3_stmt *st;
    int rc = stmt_get(w, ST_CHAR_SET_BASIC, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, u->ocid);
    sq_bind_text(&b, 2, u->b->world_name);
    sq_bind_text(&b, 3, u->b->character_class);
    if (u->b->character_level > 0) /* 0 means unknown, read back as 0 (store.h) */
        sq_bind_i64(&b, 4, u->b->character_level);
    else
        sq_bind_null(&b, 4);
    sq_bind_text(&b, 5, u->b->character_image);
    sq_bind_i64(&b, 6, u->now_ms);
    rc = sq_step_done(st, b.rc);
    if (rc == SQLITE_OK && sqlite3_changes(w->db) == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

static store_rc_t op_character_set_basic(store_t *s, const char *ocid, const store_basic_t *b, int64_t now_ms)
{
    if (!ocid || !b)
        return STORE_CORRUPT;
    character_basic_t u = {ocid, b, now_ms};
    return run_write(sq(s), work_character_set_basic, &u);
}

/* ---- snapshots ---- */

typedef struct {
    const char *ocid;
    store_snapshot_t *out;
} snapshot_get_t;

static int work_snapshot_get(conn_t *c, void *ctx, store_rc_t *answer)
{
    snapshot_get_t *g = ctx;
    sqlite3_stmt *st;
    int rc = stmt_get(c, ST_SNAP_GET, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, g->ocid);
    rc = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    if (rc == SQLITE_DONE) {
        *answer = STORE_NOT_FOUND;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_ROW) {
        rc = SQLITE_OK;
        const unsigned char *sha = sqlite3_column_text(st, 1);
        if (!sha || strlen((const char *)sha) >= sizeof g->out->content_sha256) {
            *answer = STORE_CORRUPT;
        } else {
            g->out->json_gzip = column_blobdup(st, 0, &g->out->json_gzip_len);
            if (!g->out->json_gzip)
                rc = SQLITE_NOMEM;
            snprintf(g->out->content_sha256, sizeof g->out->content_sha256, "%s", (const char *)sha);
            g->out->fetched_ms = sqlite3_column_int64(st, 2);
            g->out->updated_ms = sqlite3_column_int64(st, 3);
        }
    }
    sq_stmt_release(st);
    return rc;
}

static store_rc_t op_snapshot_get(store_t *s, const char *ocid, store_snapshot_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ocid)
        return STORE_NOT_FOUND;
    snapshot_get_t g = {ocid, out};
    store_rc_t rc = run_read(sq(s), work_snapshot_get, &g);
    if (rc != STORE_OK)
        store_snapshot_clear(out);
    return rc;
}

/* ---- views ---- */

typedef struct {
    const char *ign;
    store_view_t *out;
} view_get_t;

/* One view query by IGN: SQLITE_OK with *found telling whether a row came back. */
static int select_view(conn_t *c, enum stmt_id id, const char *ign, store_view_t *out, store_rc_t *answer,
                       bool *found)
{
    sqlite3_stmt *st;
    int rc = stmt_get(c, id, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, ign);
    rc = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        rc = read_view(st, out, answer);
    else if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sq_stmt_release(st);
    return rc;
}

static int work_view_by_ign(conn_t *c, void *ctx, store_rc_t *answer)
{
    view_get_t *g = ctx;
    store_view_clear(g->out); /* a retried attempt starts clean */
    bool found = false;
    int rc = select_view(c, ST_VIEW_BY_CHARACTER_IGN, g->ign, g->out, answer, &found);
    if (rc == SQLITE_OK && !found)
        rc = select_view(c, ST_VIEW_BY_VIEW_IGN, g->ign, g->out, answer, &found);
    if (rc == SQLITE_OK && !found)
        *answer = STORE_NOT_FOUND;
    return rc;
}

static store_rc_t op_view_by_ign(store_t *s, const char *ign, store_view_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ign)
        return STORE_NOT_FOUND;
    view_get_t g = {ign, out};
    store_rc_t rc = run_read(sq(s), work_view_by_ign, &g);
    if (rc != STORE_OK)
        store_view_clear(out);
    return rc;
}

/* Runs a DELETE with one text or integer parameter; *changes = rows deleted. */
static int exec_delete(conn_t *w, enum stmt_id id, const char *text, int64_t num, int64_t *changes)
{
    sqlite3_stmt *st;
    int rc = stmt_get(w, id, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    if (text)
        sq_bind_text(&b, 1, text);
    else
        sq_bind_i64(&b, 1, num);
    rc = sq_step_done(st, b.rc);
    *changes = rc == SQLITE_OK ? sqlite3_changes64(w->db) : 0;
    return rc;
}

static int work_view_delete(conn_t *w, void *ctx, store_rc_t *answer)
{
    const char *ign = ctx;
    int64_t summaries = 0, views = 0;
    int rc = exec_delete(w, ST_VIEW_DELETE_SUMMARIES, ign, 0, &summaries);
    if (rc == SQLITE_OK)
        rc = exec_delete(w, ST_VIEW_DELETE, ign, 0, &views);
    if (rc == SQLITE_OK && views == 0)
        *answer = STORE_NOT_FOUND;
    return rc;
}

/* Deletes the view(s) of the IGN by either mapping (derived data: deleting too much is harmless,
 * keeping an outdated view is not). STORE_NOT_FOUND when there was none. */
static store_rc_t op_view_delete_by_ign(store_t *s, const char *ign)
{
    if (!ign)
        return STORE_NOT_FOUND;
    return run_write(sq(s), work_view_delete, (void *)(uintptr_t)ign);
}

typedef struct {
    int64_t cutoff_ms;
    int64_t deleted;
} view_purge_t;

static int work_view_purge(conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    view_purge_t *p = ctx;
    int64_t summaries = 0;
    p->deleted = 0;
    int rc = exec_delete(w, ST_PURGE_SUMMARIES, NULL, p->cutoff_ms, &summaries);
    if (rc == SQLITE_OK)
        rc = exec_delete(w, ST_PURGE_VIEWS, NULL, p->cutoff_ms, &p->deleted);
    return rc;
}

static store_rc_t op_view_purge(store_t *s, int64_t cutoff_ms, int64_t *deleted)
{
    view_purge_t p = {cutoff_ms, 0};
    store_rc_t rc = run_write(sq(s), work_view_purge, &p);
    if (deleted)
        *deleted = rc == STORE_OK ? p.deleted : 0;
    return rc;
}

/* ---- write-back batch ---- */

static int apply_snapshot(conn_t *w, const wb_record_t *r, int64_t now_ms)
{
    sqlite3_stmt *st;
    int rc = stmt_get(w, ST_SNAP_UPSERT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->ocid);
    sq_bind_blob(&b, 2, r->json_gzip, r->json_gzip_len);
    sq_bind_text(&b, 3, r->content_sha256);
    sq_bind_i64(&b, 4, r->fetched_ms);
    sq_bind_i64(&b, 5, now_ms);
    return sq_step_done(st, b.rc);
}

/* The character row for the view's OCID (created if missing) -> *id. */
static int ensure_character_for_view(conn_t *w, const wb_record_t *r, int64_t now_ms, int64_t *id)
{
    sqlite3_stmt *st;
    int rc = stmt_get(w, ST_CHAR_ENSURE_FOR_VIEW, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, r->user_ign);
    sq_bind_text(&b, 2, r->ocid);
    sq_bind_i64(&b, 3, now_ms);
    rc = sq_step_done(st, b.rc);
    if (rc != SQLITE_OK)
        return rc;
    if ((rc = stmt_get(w, ST_CHAR_ID_BY_OCID, &st)) != SQLITE_OK)
        return rc;
    b = (sq_binder_t){st, SQLITE_OK};
    sq_bind_text(&b, 1, r->ocid);
    rc = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_INTERNAL; /* just inserted or already there */
    }
    sq_stmt_release(st);
    return rc;
}

/* Upserts the view row; *written tells whether the ordering guard let it through. */
static int upsert_view(conn_t *w, const wb_record_t *r, int64_t character_id, int64_t now_ms, bool *written)
{
    char total[COST_TEXT_MAX];
    if (!cost_format(r->total_expected_cost, total))
        return SQLITE_CONSTRAINT;
    sqlite3_stmt *st;
    int rc = stmt_get(w, ST_VIEW_UPSERT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, character_id);
    sq_bind_text(&b, 2, r->user_ign);
    sq_bind_text(&b, 3, total);
    sq_bind_i64(&b, 4, r->max_preset_no);
    sq_bind_i64(&b, 5, r->calculated_ms);
    sq_bind_text(&b, 6, r->logic_version);
    sq_bind_text(&b, 7, r->lookup_checksum);
    sq_bind_blob(&b, 8, r->body_gzip, r->body_gzip_len);
    sq_bind_text(&b, 9, r->job_id);
    sq_bind_i64(&b, 10, now_ms);
    rc = sq_step_done(st, b.rc);
    *written = rc == SQLITE_OK && sqlite3_changes(w->db) > 0;
    return rc;
}

static int insert_summary(conn_t *w, int64_t character_id, const store_preset_summary_t *p, int64_t calculated_ms)
{
    char cost[5][COST_TEXT_MAX]; /* whole mesos, %.0f (M1) */
    const double value[5] = {p->total, p->black, p->red, p->additional, p->starforce};
    for (int i = 0; i < 5; i++) {
        if (!cost_format(value[i], cost[i]))
            return SQLITE_CONSTRAINT;
    }
    sqlite3_stmt *st;
    int rc = stmt_get(w, ST_SUMMARY_INSERT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, character_id);
    sq_bind_i64(&b, 2, p->preset_no);
    for (int i = 0; i < 5; i++)
        sq_bind_text(&b, 3 + i, cost[i]);
    sq_bind_i64(&b, 8, calculated_ms);
    return sq_step_done(st, b.rc);
}

static int apply_view(conn_t *w, const wb_record_t *r, int64_t now_ms)
{
    if (r->preset_count > 0 && !r->presets)
        return SQLITE_CONSTRAINT;
    int64_t character_id = 0;
    bool written = false;
    int rc = ensure_character_for_view(w, r, now_ms, &character_id);
    if (rc == SQLITE_OK)
        rc = upsert_view(w, r, character_id, now_ms, &written);
    if (rc != SQLITE_OK || !written)
        return rc; /* an older calculation leaves the newer view and its summaries alone */
    sqlite3_stmt *st;
    if ((rc = stmt_get(w, ST_SUMMARY_DELETE, &st)) != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_i64(&b, 1, character_id);
    rc = sq_step_done(st, b.rc);
    for (size_t i = 0; rc == SQLITE_OK && i < r->preset_count; i++)
        rc = insert_summary(w, character_id, &r->presets[i], r->calculated_ms);
    return rc;
}

typedef struct {
    const wb_record_t *recs;
    size_t n;
    int64_t now_ms;
} batch_t;

static int work_write_batch(conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    batch_t *bt = ctx;
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < bt->n; i++) {
        const wb_record_t *r = &bt->recs[i];
        if (r->kind == WB_SNAPSHOT)
            rc = apply_snapshot(w, r, bt->now_ms);
        else if (r->kind == WB_VIEW)
            rc = apply_view(w, r, bt->now_ms);
        else
            rc = SQLITE_CONSTRAINT; /* unknown kind: refuse the batch rather than drop silently */
    }
    return rc;
}

static store_rc_t op_write_batch(store_t *s, const wb_record_t *recs, size_t n, int64_t now_ms)
{
    if (n == 0)
        return STORE_OK;
    if (!recs)
        return STORE_CORRUPT;
    batch_t bt = {recs, n, now_ms};
    return run_write(sq(s), work_write_batch, &bt);
}

/* ---- meta ---- */

typedef struct {
    const char *key, *value;
    char *out;
    size_t cap;
} meta_t;

static int work_meta_get(conn_t *c, void *ctx, store_rc_t *answer)
{
    meta_t *m = ctx;
    sqlite3_stmt *st;
    int rc = stmt_get(c, ST_META_GET, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, m->key);
    rc = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (m->cap > 0)
            snprintf(m->out, m->cap, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        *answer = STORE_NOT_FOUND;
        rc = SQLITE_OK;
    }
    sq_stmt_release(st);
    return rc;
}

static store_rc_t op_meta_get(store_t *s, const char *key, char *value, size_t cap)
{
    if (value && cap > 0)
        value[0] = '\0';
    if (!key)
        return STORE_NOT_FOUND;
    meta_t m = {key, NULL, value, value ? cap : 0};
    return run_read(sq(s), work_meta_get, &m);
}

static int work_meta_put(conn_t *w, void *ctx, store_rc_t *answer)
{
    (void)answer;
    meta_t *m = ctx;
    sqlite3_stmt *st;
    int rc = stmt_get(w, ST_META_PUT, &st);
    if (rc != SQLITE_OK)
        return rc;
    sq_binder_t b = {st, SQLITE_OK};
    sq_bind_text(&b, 1, m->key);
    sq_bind_text(&b, 2, m->value);
    return sq_step_done(st, b.rc);
}

/* STORE_OK whether or not the key already existed: read it back with meta_get to learn the winner. */
static store_rc_t op_meta_put_if_absent(store_t *s, const char *key, const char *value)
{
    if (!key || !value)
        return STORE_CORRUPT;
    meta_t m = {key, value, NULL, 0};
    return run_write(sq(s), work_meta_put, &m);
}

/* ---- lifecycle ---- */

static void sq_free(sq_store_t *s)
{
    for (int i = 0; i < s->reader_count; i++)
        conn_close(&s->readers[i]);
    if (s->writer.db) {
        /* Fold the WAL into the database file so the file alone is the whole state. */
        sqlite3_exec(s->writer.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    }
    conn_close(&s->writer);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_mutex_destroy(&s->writer_mu);
    free(s);
}

/* Precondition (shutdown phase 6): no other call on this store is in progress or will follow. */
static void op_close(store_t *s)
{
    if (s)
        sq_free(sq(s));
}

static const store_ops_t SQLITE_OPS = {
    .ping = op_ping,
    .schema_version = op_schema_version,
    .character_by_ign = op_character_by_ign,
    .character_by_ocid = op_character_by_ocid,
    .character_upsert = op_character_upsert,
    .character_set_basic = op_character_set_basic,
    .snapshot_get = op_snapshot_get,
    .view_by_ign = op_view_by_ign,
    .view_delete_by_ign = op_view_delete_by_ign,
    .view_purge = op_view_purge,
    .write_batch = op_write_batch,
    .meta_get = op_meta_get,
    .meta_put_if_absent = op_meta_put_if_absent,
    /* sqlite_accounts.c */
    .member_ensure = sq_member_ensure,
    .member_get = sq_member_get,
    .admin_list = sq_admin_list,
    .admin_add = sq_admin_add,
    .admin_remove = sq_admin_remove,
    .session_create = sq_session_create,
    .session_get = sq_session_get,
    .session_touch = sq_session_touch,
    .session_delete = sq_session_delete,
    .refresh_insert = sq_refresh_insert,
    .refresh_rotate = sq_refresh_rotate,
    .auth_purge = sq_auth_purge,
    /* sqlite_likes.c */
    .like_set = sq_like_set,
    .like_status = sq_like_status,
    .like_count = sq_like_count,
    .like_fold = sq_like_fold,
    .like_backlog = sq_like_backlog,
    /* sqlite_donation.c */
    .donate = sq_donate,
    /* sqlite_outbox.c */
    .outbox_claim = sq_outbox_claim,
    .outbox_enqueue_upstream = sq_outbox_enqueue_upstream,
    .outbox_set_outcome = sq_outbox_set_outcome,
    .outbox_complete = sq_outbox_complete,
    .outbox_fail = sq_outbox_fail,
    .outbox_release = sq_outbox_release,
    .outbox_reclaim = sq_outbox_reclaim,
    .outbox_purge = sq_outbox_purge,
    .outbox_counts = sq_outbox_counts,
    .dlq_count = sq_dlq_count,
    .dlq_page = sq_dlq_page,
    .dlq_after = sq_dlq_after,
    .dlq_get = sq_dlq_get,
    .dlq_reprocess = sq_dlq_reprocess,
    .dlq_discard = sq_dlq_discard,
    /* sqlite_lease.c */
    .lease_acquire = sq_lease_acquire,
    .lease_renew = sq_lease_renew,
    .lease_release = sq_lease_release,
    .quota_consume = sq_quota_consume,
    .close = op_close,
};

static int init_sync(sq_store_t *s)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* reader waits use monotonic deadlines */
    if (rc == 0)
        rc = pthread_cond_init(&s->pool_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&s->pool_mu, NULL) != 0) {
        pthread_cond_destroy(&s->pool_cv);
        return -1;
    }
    if (pthread_mutex_init(&s->writer_mu, NULL) != 0) {
        pthread_mutex_destroy(&s->pool_mu);
        pthread_cond_destroy(&s->pool_cv);
        return -1;
    }
    return 0;
}

store_t *store_sqlite_open(const char *path, int readers, char *err, size_t errlen)
{
    char scratch[8];
    if (!err || errlen == 0) { /* callers may not care about the message */
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (!path || !*path) {
        snprintf(err, errlen, "sqlite: no database path");
        return NULL;
    }
    if (readers < 1 || readers > MAX_READERS) {
        snprintf(err, errlen, "sqlite: readers must be 1..%d, got %d", MAX_READERS, readers);
        return NULL;
    }
    sq_store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "sqlite: out of memory");
        return NULL;
    }
    if (init_sync(s) != 0) {
        free(s);
        snprintf(err, errlen, "sqlite: cannot create locks");
        return NULL;
    }
    s->base.ops = &SQLITE_OPS;
    s->base.kind = "sqlite";
    atomic_init(&s->busy_ms, DEFAULT_BUSY_TIMEOUT_MS);

    if (conn_open(&s->writer, path, true, DEFAULT_BUSY_TIMEOUT_MS, err, errlen) != 0 ||
        sqlite_schema_migrate(s->writer.db, clock_wall_ms(), &s->schema_version, err, errlen) != 0) {
        sq_free(s);
        return NULL;
    }
    for (int i = 0; i < readers; i++) {
        if (conn_open(&s->readers[i], path, false, DEFAULT_BUSY_TIMEOUT_MS, err, errlen) != 0) {
            sq_free(s);
            return NULL;
        }
        s->reader_count = i + 1;
        s->idle[s->idle_count++] = i;
    }
    return &s->base;
}

void store_sqlite_set_busy_timeout(store_t *s, int ms)
{
    if (!s || strcmp(s->kind, "sqlite") != 0)
        return;
    atomic_store(&sq(s)->busy_ms, ms < 0 ? 0 : ms);
}
