/*
 * test_jobs.c - the background jobs: scheduler with DB-tier leases (jobs/scheduler.h), the donation
 * outbox relay (jobs/relay.h) and the maintenance jobs (jobs/maintenance.h).
 *
 * Backends: an in-memory fake store_t (leases, outbox rows, like deltas; with failure switches)
 * and the real SQLite store in a mkdtemp directory, seeded with raw SQL through a second
 * connection. Tests that take a backend run once per backend; the SQLite variants skip while the
 * SQLite store lacks the operations the jobs use.
 *
 * Webhook sink: libevent evhttp on 127.0.0.1:0 in its own thread; it fails the first K requests
 * (503) and answers 200 afterwards, records each Idempotency-Key answered 2xx (duplicates
 * counted apart: delivery is at-least-once) and can run a hook once, on its own thread, before
 * answering (used to reclaim a row while the relay is delivering it).
 *
 * Every wait is a poll of a condition with a deadline; sleeps only simulate job work.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sqlite3.h>

#include "base/clock.h"
#include "base/hash.h"
#include "jobs/maintenance.h"
#include "jobs/relay.h"
#include "jobs/scheduler.h"
#include "ops/lifecycle.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "store/store.h"

#define POLL_TIMEOUT_MS 3000
#define EVENT_TYPE "DONATION_COMPLETED"
#define ME "inst-test-1"

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Poll `cond` every 2 ms until it holds or POLL_TIMEOUT_MS passed, then assert it. */
#define WAIT_FOR(cond)                                                                             \
    do {                                                                                           \
        int64_t until_ = clock_mono_ms() + POLL_TIMEOUT_MS;                                        \
        while (!(cond) && clock_mono_ms() < until_)                                                \
            pause_ms(2);                                                                           \
        assert_true(cond);                                                                         \
    } while (0)

static double counter_val(metrics_t *m, const char *name, const char *labels, const char *const *vals)
{
    return mfam_get(metrics_counter(m, name, "test", labels), vals);
}

static double gauge_val(metrics_t *m, const char *name, const char *labels, const char *const *vals)
{
    return mfam_get(metrics_gauge(m, name, "test", labels), vals);
}

static double runs(metrics_t *m, const char *job, const char *result)
{
    return counter_val(m, "job_runs_total", "job,result", MX_LV(job, result));
}

/* =============================================================================================
 * Fake store
 */

#define FK_ROWS 128
#define FK_LEASES 16

typedef enum { FK_PENDING, FK_PROCESSING, FK_COMPLETED, FK_FAILED, FK_DEAD, FK_GONE } fk_status_t;
static const char *const FK_STATUS[] = {"PENDING", "PROCESSING", "COMPLETED", "FAILED", "DEAD_LETTER", "GONE"};

typedef struct {
    int64_t id;
    char request_id[101], event_type[51], content_hash[65], origin[65], locked_by[101];
    char *payload;
    fk_status_t status;
    int64_t token, locked_at, next_retry, completed_at;
    int retry, max_retries;
    char reason[501];
    bool in_dlq;
} fk_row_t;

typedef struct {
    char name[65], holder[101];
    int64_t token, until;
} fk_lease_t;

typedef struct {
    store_t base; /* first member: a store_t * is a fake_t * */
    store_ops_t ops;
    pthread_mutex_t mu;
    fk_row_t rows[FK_ROWS];
    size_t nrows;
    fk_lease_t leases[FK_LEASES];
    size_t nleases;
    bool renew_fail, fold_fail;
    int64_t deltas, oldest_delta_ms, folded_total;
    int fold_calls, auth_purge_calls;
} fake_t;

static fake_t *fk(store_t *s) { return (fake_t *)s; }

static fk_lease_t *fk_lease(fake_t *f, const char *name, bool create)
{
    for (size_t i = 0; i < f->nleases; i++)
        if (!strcmp(f->leases[i].name, name))
            return &f->leases[i];
    if (!create || f->nleases == FK_LEASES)
        return NULL;
    fk_lease_t *l = &f->leases[f->nleases++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    return l;
}

static store_rc_t fk_lease_acquire(store_t *s, const char *name, const char *holder, int64_t ttl_ms, int64_t now_ms,
                                   int64_t *token)
{
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    fk_lease_t *l = fk_lease(f, name, true);
    store_rc_t rc = STORE_NOT_FOUND;
    if (l && (!l->holder[0] || l->until < now_ms)) {
        snprintf(l->holder, sizeof l->holder, "%s", holder);
        l->token++;
        l->until = now_ms + ttl_ms;
        *token = l->token;
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static store_rc_t fk_lease_renew(store_t *s, const char *name, const char *holder, int64_t token, int64_t ttl_ms,
                                 int64_t now_ms)
{
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    fk_lease_t *l = fk_lease(f, name, false);
    store_rc_t rc = STORE_NOT_FOUND;
    if (!f->renew_fail && l && !strcmp(l->holder, holder) && l->token == token && l->until > now_ms) {
        l->until = now_ms + ttl_ms;
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static store_rc_t fk_lease_release(store_t *s, const char *name, const char *holder, int64_t token)
{
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    fk_lease_t *l = fk_lease(f, name, false);
    store_rc_t rc = STORE_NOT_FOUND;
    if (l && !strcmp(l->holder, holder) && l->token == token) {
        l->holder[0] = '\0';
        l->until = clock_wall_ms();
        rc = STORE_OK;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static bool fk_hash_ok(const fk_row_t *r)
{
    char in[4096], hex[65];
    int n = snprintf(in, sizeof in, "%s|%s|%s", r->request_id, r->event_type, r->payload);
    return sha256_hex(in, (size_t)n, hex) == 0 && !strcmp(hex, r->content_hash);
}

static fk_row_t *fk_row(fake_t *f, int64_t id)
{
    for (size_t i = 0; i < f->nrows; i++)
        if (f->rows[i].id == id)
            return &f->rows[i];
    return NULL;
}

static void fk_dead(fk_row_t *r, const char *reason)
{
    r->status = FK_DEAD;
    r->in_dlq = true;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

static store_rc_t fk_outbox_claim(store_t *s, outbox_queue_t q, const char *instance, int batch, int64_t now_ms,
                                  store_outbox_row_t **rows, size_t *n)
{
    fake_t *f = fk(s);
    *rows = NULL;
    *n = 0;
    if (q != OUTBOX_DONATION)
        return STORE_OK;
    pthread_mutex_lock(&f->mu);
    store_outbox_row_t *out = calloc((size_t)batch, sizeof *out);
    for (size_t i = 0; i < f->nrows && out && *n < (size_t)batch; i++) {
        fk_row_t *r = &f->rows[i];
        if ((r->status != FK_PENDING && r->status != FK_FAILED) || r->next_retry > now_ms)
            continue;
        r->status = FK_PROCESSING;
        r->token++;
        r->locked_at = now_ms;
        snprintf(r->locked_by, sizeof r->locked_by, "%s", instance);
        store_outbox_row_t *o = &out[(*n)++];
        o->id = r->id;
        snprintf(o->request_id, sizeof o->request_id, "%s", r->request_id);
        snprintf(o->event_type, sizeof o->event_type, "%s", r->event_type);
        snprintf(o->content_hash, sizeof o->content_hash, "%s", r->content_hash);
        snprintf(o->origin_request_id, sizeof o->origin_request_id, "%s", r->origin);
        o->payload = strdup(r->payload);
        o->claim_token = r->token;
        o->retry_count = r->retry;
        o->max_retries = r->max_retries;
    }
    pthread_mutex_unlock(&f->mu);
    *rows = out;
    return out ? STORE_OK : STORE_UNAVAILABLE;
}

static fk_row_t *fk_guard(fake_t *f, int64_t id, int64_t token)
{
    fk_row_t *r = fk_row(f, id);
    return r && r->token == token && r->status == FK_PROCESSING ? r : NULL;
}

static store_rc_t fk_outbox_complete(store_t *s, outbox_queue_t q, int64_t id, int64_t token, int64_t now_ms,
                                     outbox_final_t *result)
{
    (void)q;
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    fk_row_t *r = fk_guard(f, id, token);
    *result = r ? OUTBOX_FINAL_OK : OUTBOX_FINAL_CLAIM_LOST;
    if (r) {
        r->status = FK_COMPLETED;
        r->completed_at = now_ms;
        r->locked_by[0] = '\0';
    }
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_outbox_fail(store_t *s, outbox_queue_t q, int64_t id, int64_t token, const char *error,
                                 bool immediate, int base_s, int max_s, int64_t now_ms, outbox_final_t *result)
{
    (void)q;
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    fk_row_t *r = fk_guard(f, id, token);
    if (!r) {
        *result = OUTBOX_FINAL_CLAIM_LOST;
    } else {
        r->retry++;
        if (immediate || r->retry >= r->max_retries) {
            fk_dead(r, error);
            *result = OUTBOX_FINAL_DEAD;
        } else {
            int64_t delay = ((int64_t)1 << r->retry) * base_s;
            r->status = FK_FAILED;
            r->next_retry = now_ms + 1000 * (delay < max_s ? delay : max_s);
            snprintf(r->reason, sizeof r->reason, "%s", error);
            *result = OUTBOX_FINAL_RETRY;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_outbox_release(store_t *s, outbox_queue_t q, int64_t id, int64_t token, int64_t next_ms)
{
    (void)q;
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    fk_row_t *r = fk_guard(f, id, token);
    if (r) {
        r->status = FK_PENDING;
        r->token++;
        r->next_retry = next_ms;
        r->locked_by[0] = '\0';
    }
    pthread_mutex_unlock(&f->mu);
    return r ? STORE_OK : STORE_NOT_FOUND;
}

static store_rc_t fk_outbox_reclaim(store_t *s, outbox_queue_t q, int64_t older_than_ms, int64_t now_ms,
                                    int64_t *reclaimed, int64_t *dead)
{
    fake_t *f = fk(s);
    *reclaimed = *dead = 0;
    if (q != OUTBOX_DONATION)
        return STORE_OK;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nrows; i++) {
        fk_row_t *r = &f->rows[i];
        if (r->status != FK_PROCESSING || r->locked_at >= older_than_ms)
            continue;
        if (!fk_hash_ok(r)) {
            fk_dead(r, "integrity: content hash mismatch (reclaim)");
            ++*dead;
            continue;
        }
        r->status = FK_PENDING;
        r->token++;
        r->next_retry = now_ms;
        r->locked_by[0] = '\0';
        ++*reclaimed;
    }
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_outbox_purge(store_t *s, outbox_queue_t q, int64_t before_ms, int64_t *deleted)
{
    fake_t *f = fk(s);
    *deleted = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nrows && q == OUTBOX_DONATION; i++)
        if (f->rows[i].status == FK_COMPLETED && f->rows[i].completed_at < before_ms) {
            f->rows[i].status = FK_GONE;
            ++*deleted;
        }
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_outbox_counts(store_t *s, outbox_queue_t q, store_outbox_counts_t *out)
{
    fake_t *f = fk(s);
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nrows && q == OUTBOX_DONATION; i++) {
        int64_t *slot[] = {&out->pending, &out->processing, &out->completed, &out->failed, &out->dead_letter, NULL};
        if (slot[f->rows[i].status])
            ++*slot[f->rows[i].status];
    }
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_dlq_count(store_t *s, outbox_queue_t q, int64_t *n)
{
    fake_t *f = fk(s);
    *n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nrows && q == OUTBOX_DONATION; i++)
        *n += f->rows[i].in_dlq;
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_like_fold(store_t *s, int batch, int64_t *folded)
{
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    f->fold_calls++;
    store_rc_t rc = f->fold_fail ? STORE_UNAVAILABLE : STORE_OK;
    *folded = 0;
    if (rc == STORE_OK) {
        *folded = f->deltas < batch ? f->deltas : batch;
        f->deltas -= *folded;
        f->folded_total += *folded;
        if (!f->deltas)
            f->oldest_delta_ms = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static store_rc_t fk_like_backlog(store_t *s, int64_t *pending, int64_t *oldest_ms)
{
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    *pending = f->deltas;
    *oldest_ms = f->oldest_delta_ms;
    pthread_mutex_unlock(&f->mu);
    return STORE_OK;
}

static store_rc_t fk_auth_purge(store_t *s, int64_t now_ms, int64_t *deleted)
{
    (void)now_ms;
    fake_t *f = fk(s);
    pthread_mutex_lock(&f->mu);
    f->auth_purge_calls++;
    pthread_mutex_unlock(&f->mu);
    *deleted = 0;
    return STORE_OK;
}

static fake_t *fake_new(void)
{
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->mu, NULL);
    f->ops = (store_ops_t){
        .lease_acquire = fk_lease_acquire, .lease_renew = fk_lease_renew, .lease_release = fk_lease_release,
        .outbox_claim = fk_outbox_claim, .outbox_complete = fk_outbox_complete, .outbox_fail = fk_outbox_fail,
        .outbox_release = fk_outbox_release, .outbox_reclaim = fk_outbox_reclaim, .outbox_purge = fk_outbox_purge,
        .outbox_counts = fk_outbox_counts, .dlq_count = fk_dlq_count, .like_fold = fk_like_fold,
        .like_backlog = fk_like_backlog, .auth_purge = fk_auth_purge,
    };
    f->base.ops = &f->ops;
    f->base.kind = "fake";
    return f;
}

static void fake_free(fake_t *f)
{
    for (size_t i = 0; i < f->nrows; i++)
        free(f->rows[i].payload);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* =============================================================================================
 * Backends: fake or SQLite behind one seeding / inspection interface
 */

typedef struct {
    bool sqlite;
    store_t *s;   /* the backend under test: &fake->base or db.s */
    fake_t *fake;
    tu_db_t db;   /* SQLite backend: the store in its mkdtemp directory (testutil.h) */
} bk_t;

static int setup_fake(void **state)
{
    bk_t *b = calloc(1, sizeof *b);
    b->fake = fake_new();
    b->s = &b->fake->base;
    *state = b;
    return 0;
}

/* Every store operation the jobs use. */
static bool sqlite_has_job_ops(const store_t *s)
{
    const store_ops_t *o = s->ops;
    return o->lease_acquire && o->lease_renew && o->lease_release && o->outbox_claim && o->outbox_complete &&
           o->outbox_fail && o->outbox_release && o->outbox_reclaim && o->outbox_purge && o->outbox_counts &&
           o->dlq_count && o->like_fold && o->like_backlog && o->auth_purge && o->character_upsert && o->like_set;
}

static int setup_sqlite(void **state)
{
    bk_t *b = calloc(1, sizeof *b);
    b->sqlite = true;
    if (!tu_db_open(&b->db, "jobs", 2)) {
        free(b);
        return -1;
    }
    b->s = b->db.s;
    *state = b;
    return 0;
}

static int teardown_bk(void **state)
{
    bk_t *b = *state;
    if (!b)
        return 0;
    if (b->sqlite) {
        tu_db_close(&b->db);
    } else {
        fake_free(b->fake);
    }
    free(b);
    return 0;
}

/* SQLite variants skip while the SQLite store lacks the operations under test. */
static void bk_require(bk_t *b)
{
    if (b->sqlite && !sqlite_has_job_ops(b->s))
        skip();
}

static sqlite3 *raw_open(bk_t *b) { return tu_raw_open(b->db.path, SQLITE_OPEN_READWRITE); }

static void raw_row_done(sqlite3_stmt *st)
{
    sqlite3 *db = sqlite3_db_handle(st);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The first row of `sql` with ?1 bound to `param`, read on a raw connection of its own: the
 * statement positioned on that row (the caller reads it, then raw_row_done closes both), or NULL
 * with everything closed when there is no row. */
static sqlite3_stmt *raw_row(bk_t *b, const char *sql, const char *param)
{
    sqlite3_stmt *st = tu_raw_prepare(raw_open(b), sql);
    sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        return st;
    raw_row_done(st);
    return NULL;
}

static void row_hash(const char *request_id, const char *payload, char hex[65])
{
    char in[4096];
    int n = snprintf(in, sizeof in, "%s|%s|%s", request_id, EVENT_TYPE, payload);
    assert_int_equal(sha256_hex(in, (size_t)n, hex), 0);
}

typedef struct {
    const char *status;     /* NULL = PENDING */
    int64_t locked_at, completed_at;
    bool tamper;            /* store a payload that does not match the hash */
} seed_opts_t;

/* Insert one donation outbox row (hash of 2.3.8), due now. */
static void bk_seed_opts(bk_t *b, const char *request_id, const char *payload, seed_opts_t o)
{
    char hex[65];
    row_hash(request_id, payload, hex);
    const char *stored = o.tamper ? "{\"amount\":999999}" : payload;
    const char *status = o.status ? o.status : "PENDING";
    int64_t now = clock_wall_ms();
    if (b->sqlite) {
        sqlite3 *db = raw_open(b);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO donation_outbox (request_id, event_type, payload, content_hash, "
                                            "status, claim_token, locked_by, locked_at, next_retry_at, origin_request_id, "
                                            "created_at, updated_at, completed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
                                            "?9, ?10, ?11, ?11, ?12)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, EVENT_TYPE, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, stored, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, hex, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, o.locked_at ? 1 : 0);
        if (o.locked_at) {
            sqlite3_bind_text(st, 7, "dead-instance", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, o.locked_at);
        }
        sqlite3_bind_int64(st, 9, now);
        sqlite3_bind_text(st, 10, "corr-1234", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, now);
        if (o.completed_at)
            sqlite3_bind_int64(st, 12, o.completed_at);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return;
    }
    fake_t *f = b->fake;
    pthread_mutex_lock(&f->mu);
    assert_true(f->nrows < FK_ROWS);
    fk_row_t *r = &f->rows[f->nrows];
    memset(r, 0, sizeof *r);
    r->id = (int64_t)++f->nrows;
    snprintf(r->request_id, sizeof r->request_id, "%s", request_id);
    snprintf(r->event_type, sizeof r->event_type, "%s", EVENT_TYPE);
    snprintf(r->content_hash, sizeof r->content_hash, "%s", hex);
    snprintf(r->origin, sizeof r->origin, "corr-1234");
    r->payload = strdup(stored);
    r->max_retries = 3;
    r->next_retry = now;
    for (int i = 0; i < 5; i++)
        if (!strcmp(status, FK_STATUS[i]))
            r->status = (fk_status_t)i;
    if (o.locked_at) {
        r->locked_at = o.locked_at;
        r->token = 1;
        snprintf(r->locked_by, sizeof r->locked_by, "dead-instance");
    }
    r->completed_at = o.completed_at;
    pthread_mutex_unlock(&f->mu);
}

static void bk_seed(bk_t *b, const char *request_id, const char *payload)
{
    bk_seed_opts(b, request_id, payload, (seed_opts_t){0});
}

/* Status ("GONE" when absent), retry count and claim token of a row. */
static void bk_row(bk_t *b, const char *request_id, char status[16], int *retry, int64_t *token)
{
    snprintf(status, 16, "GONE");
    *retry = -1;
    *token = -1;
    if (b->sqlite) {
        sqlite3_stmt *st =
            raw_row(b, "SELECT status, retry_count, claim_token FROM donation_outbox WHERE request_id = ?1", request_id);
        if (st) {
            snprintf(status, 16, "%s", (const char *)sqlite3_column_text(st, 0));
            *retry = sqlite3_column_int(st, 1);
            *token = sqlite3_column_int64(st, 2);
            raw_row_done(st);
        }
        return;
    }
    pthread_mutex_lock(&b->fake->mu);
    for (size_t i = 0; i < b->fake->nrows; i++) {
        fk_row_t *r = &b->fake->rows[i];
        if (!strcmp(r->request_id, request_id)) {
            snprintf(status, 16, "%s", FK_STATUS[r->status]);
            *retry = r->retry;
            *token = r->token;
        }
    }
    pthread_mutex_unlock(&b->fake->mu);
}

static void expect_row(bk_t *b, const char *request_id, const char *status)
{
    char got[16];
    int retry;
    int64_t token;
    bk_row(b, request_id, got, &retry, &token);
    assert_string_equal(got, status);
}

/* The DLQ failure reason of a request id; false when it has no DLQ row. */
static bool bk_dlq_reason(bk_t *b, const char *request_id, char *out, size_t cap)
{
    bool found = false;
    out[0] = '\0';
    if (b->sqlite) {
        sqlite3_stmt *st =
            raw_row(b, "SELECT coalesce(failure_reason, '') FROM donation_dlq WHERE request_id = ?1", request_id);
        if (st) {
            snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
            found = true;
            raw_row_done(st);
        }
        return found;
    }
    pthread_mutex_lock(&b->fake->mu);
    for (size_t i = 0; i < b->fake->nrows; i++)
        if (!strcmp(b->fake->rows[i].request_id, request_id) && b->fake->rows[i].in_dlq) {
            snprintf(out, cap, "%s", b->fake->rows[i].reason);
            found = true;
        }
    pthread_mutex_unlock(&b->fake->mu);
    return found;
}

/* The lease row as stored: holder ("" when none), token, lease_until. */
static void bk_lease(bk_t *b, const char *name, char holder[101], int64_t *token, int64_t *until)
{
    holder[0] = '\0';
    *token = *until = 0;
    if (b->sqlite) {
        sqlite3_stmt *st =
            raw_row(b, "SELECT coalesce(holder, ''), fencing_token, lease_until FROM job_lease WHERE name = ?1", name);
        if (st) {
            snprintf(holder, 101, "%s", (const char *)sqlite3_column_text(st, 0));
            *token = sqlite3_column_int64(st, 1);
            *until = sqlite3_column_int64(st, 2);
            raw_row_done(st);
        }
        return;
    }
    pthread_mutex_lock(&b->fake->mu);
    fk_lease_t *l = fk_lease(b->fake, name, false);
    if (l) {
        snprintf(holder, 101, "%s", l->holder);
        *token = l->token;
        *until = l->until;
    }
    pthread_mutex_unlock(&b->fake->mu);
}

static store_outbox_counts_t bk_counts(bk_t *b)
{
    store_outbox_counts_t c;
    assert_int_equal(b->s->ops->outbox_counts(b->s, OUTBOX_DONATION, &c), STORE_OK);
    return c;
}

/* =============================================================================================
 * Webhook sink
 */

#define SINK_IDS 256
typedef void (*sink_hook_fn)(void *ctx);

static struct {
    tu_http_t server; /* testutil.h: loopback evhttp on its own thread */
    char url[64];
    pthread_mutex_t mu;
    int fail_first;       /* answer 503 to the first K requests */
    int requests;
    int bad_requests;     /* not POST, wrong Content-Type, no Idempotency-Key, empty body */
    char ids[SINK_IDS][101];
    int ok[SINK_IDS];     /* 2xx answers per Idempotency-Key */
    int nids;
    char last_body[1024]; /* body of the last request (truncated) */
    sink_hook_fn hook;    /* run once, on the sink thread, before answering */
    void *hook_ctx;
} sink;

static void sink_record_ok(const char *key)
{
    for (int i = 0; i < sink.nids; i++)
        if (!strcmp(sink.ids[i], key)) {
            sink.ok[i]++;
            return;
        }
    if (sink.nids < SINK_IDS) {
        snprintf(sink.ids[sink.nids], sizeof sink.ids[0], "%s", key);
        sink.ok[sink.nids++] = 1;
    }
}

static void on_sink_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    const char *ct = evhttp_find_header(ih, "Content-Type");
    const char *key = evhttp_find_header(ih, "Idempotency-Key");
    size_t body_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    bool bad = evhttp_request_get_command(req) != EVHTTP_REQ_POST || !ct || strcmp(ct, "application/json") != 0 ||
               !key || body_len == 0;

    pthread_mutex_lock(&sink.mu);
    bool fail = ++sink.requests <= sink.fail_first;
    sink.bad_requests += bad;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t take = body_len < sizeof sink.last_body - 1 ? body_len : sizeof sink.last_body - 1;
    evbuffer_copyout(in, sink.last_body, take);
    sink.last_body[take] = '\0';
    sink_hook_fn hook = sink.hook;
    void *hook_ctx = sink.hook_ctx;
    sink.hook = NULL;
    pthread_mutex_unlock(&sink.mu);

    if (hook)
        hook(hook_ctx);

    pthread_mutex_lock(&sink.mu);
    if (!fail && !bad)
        sink_record_ok(key);
    pthread_mutex_unlock(&sink.mu);
    evhttp_send_reply(req, fail ? 503 : 200, fail ? "Unavailable" : "OK", NULL);
}

static void sink_start(int fail_first)
{
    memset(&sink, 0, sizeof sink);
    pthread_mutex_init(&sink.mu, NULL);
    sink.fail_first = fail_first;
    tu_http_start(&sink.server, on_sink_request, NULL);
    snprintf(sink.url, sizeof sink.url, "http://127.0.0.1:%d/hook", sink.server.port);
}

static void sink_stop(void)
{
    tu_http_stop(&sink.server);
    pthread_mutex_destroy(&sink.mu);
}

static void sink_set_hook(sink_hook_fn fn, void *ctx)
{
    pthread_mutex_lock(&sink.mu);
    sink.hook = fn;
    sink.hook_ctx = ctx;
    pthread_mutex_unlock(&sink.mu);
}

/* Unique ids answered 2xx, and 2xx answers beyond the first per id (at-least-once duplicates). */
static void sink_delivered(int *unique, int *duplicates)
{
    pthread_mutex_lock(&sink.mu);
    *unique = sink.nids;
    *duplicates = 0;
    for (int i = 0; i < sink.nids; i++)
        *duplicates += sink.ok[i] - 1;
    pthread_mutex_unlock(&sink.mu);
}

static int sink_requests(void)
{
    pthread_mutex_lock(&sink.mu);
    int n = sink.requests;
    pthread_mutex_unlock(&sink.mu);
    return n;
}

static int sink_ok_for(const char *key)
{
    int n = 0;
    pthread_mutex_lock(&sink.mu);
    for (int i = 0; i < sink.nids; i++)
        if (!strcmp(sink.ids[i], key))
            n = sink.ok[i];
    pthread_mutex_unlock(&sink.mu);
    return n;
}

/* =============================================================================================
 * Configuration and a probe job
 */

static jobs_config_t test_config(void)
{
    jobs_config_t c;
    jobs_config_defaults(&c);
    c.tick_ms = 10;
    c.lease_ttl_ms = 2000;
    c.lease_renew_ms = 50;
    c.backoff_base_s = 0; /* a failed row is due again at once */
    c.webhook_connect_timeout_ms = 2000;
    c.webhook_timeout_ms = 2000;
    return c;
}

typedef struct {
    atomic_int runs, concurrent, max_concurrent, violations, stopped_by_signal, final_runs;
    _Atomic int64_t last_token;
    int work_ms;          /* simulated work per run */
    bool run_until_stop;  /* loop until job_should_stop (bounded) */
    bk_t *bk;             /* when set: every run checks that the store shows our lease */
} probe_t;

static job_result_t probe_job(job_ctx_t *ctx)
{
    probe_t *p = ctx->arg;
    int c = atomic_fetch_add(&p->concurrent, 1) + 1;
    int prev = atomic_load(&p->max_concurrent);
    while (c > prev && !atomic_compare_exchange_weak(&p->max_concurrent, &prev, c))
        ;
    if (ctx->lease && p->bk) {
        char holder[101];
        int64_t token, until;
        bk_lease(p->bk, ctx->lease, holder, &token, &until);
        if (strcmp(holder, ME) != 0 || token != ctx->fencing_token || until <= clock_wall_ms())
            atomic_fetch_add(&p->violations, 1);
    }
    atomic_store(&p->last_token, ctx->fencing_token);
    if (ctx->final_pass) {
        atomic_fetch_add(&p->final_runs, 1);
        if (job_should_stop(ctx))
            atomic_fetch_add(&p->violations, 1);
    }
    if (p->work_ms)
        pause_ms(p->work_ms);
    if (p->run_until_stop) {
        int64_t until = clock_mono_ms() + POLL_TIMEOUT_MS;
        while (!job_should_stop(ctx) && clock_mono_ms() < until)
            pause_ms(1);
        if (job_should_stop(ctx))
            atomic_fetch_add(&p->stopped_by_signal, 1);
    }
    atomic_fetch_add(&p->runs, 1);
    atomic_fetch_sub(&p->concurrent, 1);
    return (job_result_t){1, true};
}

static scheduler_t *sched_with_probe(bk_t *b, metrics_t *m, lifecycle_t *lc, probe_t *p, const char *lease,
                                     int period_ms)
{
    jobs_config_t c = test_config();
    scheduler_t *s = scheduler_new(b ? b->s : NULL, m, lc, ME, &c);
    assert_non_null(s);
    job_spec_t spec = {.name = "probe", .period_ms = period_ms, .lease = lease, .fn = probe_job, .arg = p};
    assert_true(scheduler_add(s, &spec));
    return s;
}

/* =============================================================================================
 * Scheduler tests
 */

static void test_scheduler_runs_a_job_periodically_and_ticks_liveness(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    lifecycle_t lc;
    lc_init(&lc, 0); /* scheduler tick far in the past: not live */
    probe_t p = {0};
    scheduler_t *s = sched_with_probe(NULL, m, &lc, &p, NULL, 20);
    assert_false(scheduler_add(s, &(job_spec_t){.name = "probe", .period_ms = 5, .fn = probe_job})); /* duplicate */
    assert_false(scheduler_add(s, &(job_spec_t){.name = "zero", .period_ms = 0, .fn = probe_job}));
    assert_true(scheduler_start(s));
    assert_false(scheduler_add(s, &(job_spec_t){.name = "late", .period_ms = 5, .fn = probe_job})); /* after start */

    WAIT_FOR(atomic_load(&p.runs) >= 3);
    WAIT_FOR(runs(m, "probe", "ok") >= 3);
    assert_true(gauge_val(m, "job_last_success_timestamp_seconds", "job", MX_LV("probe")) > 1.7e9);
    assert_true(atomic_load(&lc.scheduler_tick_ms) > 0);
    assert_int_equal(atomic_load(&p.max_concurrent), 1);
    scheduler_free(s);
    metrics_free(m);
}

static void test_scheduler_never_overlaps_a_slow_job(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    probe_t p = {.work_ms = 60};
    scheduler_t *s = sched_with_probe(NULL, m, NULL, &p, NULL, 10);
    assert_true(scheduler_start(s));

    WAIT_FOR(atomic_load(&p.runs) >= 2 && runs(m, "probe", "skipped_overlap") >= 3);
    assert_int_equal(atomic_load(&p.max_concurrent), 1);
    scheduler_free(s);
    assert_int_equal(atomic_load(&p.max_concurrent), 1);
    metrics_free(m);
}

static void test_scheduler_stop_starting_prevents_new_runs(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    probe_t p = {.work_ms = 5};
    scheduler_t *s = sched_with_probe(NULL, m, NULL, &p, NULL, 10);
    assert_true(scheduler_start(s));
    WAIT_FOR(atomic_load(&p.runs) >= 2);

    scheduler_stop_starting(s);
    assert_true(scheduler_wait_idle(s, POLL_TIMEOUT_MS));
    int after = atomic_load(&p.runs);
    double ticks_after = runs(m, "probe", "ok") + runs(m, "probe", "skipped_overlap");
    /* Observe 10 periods: nothing may start. */
    int64_t until = clock_mono_ms() + 100;
    while (clock_mono_ms() < until) {
        assert_int_equal(atomic_load(&p.runs), after);
        pause_ms(5);
    }
    assert_int_equal(atomic_load(&p.concurrent), 0);
    assert_true(runs(m, "probe", "ok") + runs(m, "probe", "skipped_overlap") == ticks_after);
    scheduler_free(s);
    metrics_free(m);
}

/* A lease held by another holder: skipped_not_leader until it expires, then acquired with a
 * higher fencing token; every run saw our lease in the store. */
static void test_scheduler_cluster_once_waits_for_a_foreign_lease(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    metrics_t *m = metrics_new();
    int64_t other_token = 0;
    assert_int_equal(b->s->ops->lease_acquire(b->s, "probe-lease", "other-instance", 300, clock_wall_ms(), &other_token),
                     STORE_OK);
    assert_true(other_token >= 1);

    probe_t p = {.bk = b};
    scheduler_t *s = sched_with_probe(b, m, NULL, &p, "probe-lease", 20);
    assert_true(scheduler_start(s));
    WAIT_FOR(runs(m, "probe", "skipped_not_leader") >= 2);
    WAIT_FOR(atomic_load(&p.runs) >= 2); /* after the foreign lease expired */

    assert_true(counter_val(m, "lease_acquisitions_total", "lease,tier,result", MX_LV("probe-lease", "db", "busy")) >= 2);
    assert_true(counter_val(m, "lease_acquisitions_total", "lease,tier,result",
                            MX_LV("probe-lease", "db", "acquired")) == 1);
    assert_true(atomic_load(&p.last_token) > other_token);
    assert_int_equal(atomic_load(&p.violations), 0);
    assert_true(gauge_val(m, "lease_held", "lease,tier", MX_LV("probe-lease", "db")) == 1);
    int64_t tok = 0;
    assert_true(scheduler_holds_lease(s, "probe-lease", &tok));
    assert_int_equal(tok, atomic_load(&p.last_token));

    /* The other holder cannot take it while we renew it. */
    int64_t t2 = 0;
    assert_int_equal(b->s->ops->lease_acquire(b->s, "probe-lease", "other-instance", 300, clock_wall_ms(), &t2),
                     STORE_NOT_FOUND);
    scheduler_free(s);
    metrics_free(m);
}

static void test_scheduler_releases_leases_at_free(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    metrics_t *m = metrics_new();
    probe_t p = {.bk = b};
    scheduler_t *s = sched_with_probe(b, m, NULL, &p, "probe-lease", 20);
    assert_true(scheduler_start(s));
    WAIT_FOR(atomic_load(&p.runs) >= 1);
    char holder[101];
    int64_t token, until;
    bk_lease(b, "probe-lease", holder, &token, &until);
    assert_string_equal(holder, ME);

    scheduler_stop_starting(s);
    assert_true(scheduler_wait_idle(s, POLL_TIMEOUT_MS));
    scheduler_release_leases(s);
    assert_false(scheduler_holds_lease(s, "probe-lease", NULL));
    assert_true(gauge_val(m, "lease_held", "lease,tier", MX_LV("probe-lease", "db")) == 0);
    scheduler_free(s); /* releasing again is a no-op */

    bk_lease(b, "probe-lease", holder, &token, &until);
    assert_string_equal(holder, "");
    int64_t next = 0; /* another instance takes over at once, with a higher token */
    assert_int_equal(b->s->ops->lease_acquire(b->s, "probe-lease", "other-instance", 1000, clock_wall_ms(), &next),
                     STORE_OK);
    assert_true(next > token);
    assert_int_equal(atomic_load(&p.violations), 0);
    metrics_free(m);
}

static void test_scheduler_lost_lease_stops_the_running_job(void **state)
{
    bk_t *b = *state; /* fake only: renewals fail on demand */
    metrics_t *m = metrics_new();
    probe_t p = {.run_until_stop = true};
    scheduler_t *s = sched_with_probe(b, m, NULL, &p, "probe-lease", 20);
    assert_true(scheduler_start(s));
    WAIT_FOR(atomic_load(&p.concurrent) == 1 && scheduler_holds_lease(s, "probe-lease", NULL));

    pthread_mutex_lock(&b->fake->mu);
    b->fake->renew_fail = true;
    pthread_mutex_unlock(&b->fake->mu);
    WAIT_FOR(counter_val(m, "lease_lost_total", "lease", MX_LV("probe-lease")) == 1);
    WAIT_FOR(atomic_load(&p.stopped_by_signal) == 1);
    assert_false(scheduler_holds_lease(s, "probe-lease", NULL));
    assert_true(gauge_val(m, "lease_held", "lease,tier", MX_LV("probe-lease", "db")) == 0);
    /* The store still shows us until the TTL ends: no re-acquisition meanwhile. */
    WAIT_FOR(runs(m, "probe", "skipped_not_leader") >= 1);
    scheduler_free(s);
    metrics_free(m);
}

static void test_scheduler_final_pass_needs_the_lease(void **state)
{
    bk_t *b = *state;
    metrics_t *m = metrics_new();
    probe_t p = {0}, q = {0};
    jobs_config_t c = test_config();
    scheduler_t *s = scheduler_new(b->s, m, NULL, ME, &c);
    assert_true(scheduler_add(s, &(job_spec_t){.name = "mine", .period_ms = 20, .lease = "l-mine", .fn = probe_job, .arg = &p}));
    assert_true(scheduler_add(s, &(job_spec_t){.name = "theirs", .period_ms = 20, .lease = "l-theirs", .fn = probe_job, .arg = &q}));
    int64_t t = 0;
    assert_int_equal(b->s->ops->lease_acquire(b->s, "l-theirs", "other-instance", 60000, clock_wall_ms(), &t), STORE_OK);
    assert_true(scheduler_start(s));
    WAIT_FOR(atomic_load(&p.runs) >= 1 && runs(m, "theirs", "skipped_not_leader") >= 1);
    scheduler_stop_starting(s);
    assert_true(scheduler_wait_idle(s, POLL_TIMEOUT_MS));

    assert_int_equal(scheduler_run_final(s, "mine"), 1);
    assert_int_equal(atomic_load(&p.final_runs), 1);
    assert_int_equal(scheduler_run_final(s, "theirs"), 0);
    assert_int_equal(atomic_load(&q.runs), 0);
    assert_int_equal(scheduler_run_final(s, "nope"), -1);
    assert_int_equal(atomic_load(&p.violations), 0);
    scheduler_free(s);
    metrics_free(m);
}

/* =============================================================================================
 * Relay tests
 */

static relay_t *relay_for(bk_t *b, metrics_t *m, const char *instance, const char *url)
{
    jobs_config_t c = test_config();
    c.webhook_url = url;
    relay_t *r = relay_new(b->s, m, instance, &c);
    assert_non_null(r);
    return r;
}

/* Runs batches until a claim comes back empty (bounded). */
static void relay_until_empty(relay_t *r)
{
    for (int i = 0; i < 50; i++) {
        int n = relay_run_batch(r);
        assert_true(n >= 0);
        if (n == 0)
            return;
    }
    fail_msg("relay did not drain");
}

static void payload_of(int i, char *out, size_t cap)
{
    snprintf(out, cap, "{\"donationId\":%d,\"senderFingerprint\":\"abcd****wxyz\",\"amount\":%d}", i, 100 + i);
}

/* N rows, the sink fails the first K requests: every row ends delivered or dead-lettered. */
static void test_relay_every_row_ends_delivered_or_dead_lettered(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    enum { N = 30, K = 75 }; /* attempts: 30 fail, 30 fail, 15 fail -> 15 dead, 15 delivered */
    char id[64], payload[256];
    for (int i = 1; i <= N; i++) {
        snprintf(id, sizeof id, "donation:%d", i);
        payload_of(i, payload, sizeof payload);
        bk_seed(b, id, payload);
    }
    sink_start(K);
    metrics_t *m = metrics_new();
    relay_t *r = relay_for(b, m, ME, sink.url);
    relay_until_empty(r);

    int delivered, duplicates;
    sink_delivered(&delivered, &duplicates);
    relay_stats_t st = relay_stats(r);
    store_outbox_counts_t c = bk_counts(b);
    int64_t dlq = 0;
    assert_int_equal(b->s->ops->dlq_count(b->s, OUTBOX_DONATION, &dlq), STORE_OK);

    assert_int_equal(delivered + dlq, N);
    assert_int_equal(delivered, 15);
    assert_int_equal(dlq, 15);
    assert_int_equal(duplicates, 0);
    assert_int_equal(c.completed, delivered);
    assert_int_equal(c.dead_letter, dlq);
    assert_int_equal(c.pending + c.processing + c.failed, 0); /* nothing non-terminal */
    assert_int_equal(c.pending + c.processing + c.failed + c.completed + c.dead_letter, N); /* H10: no new row */
    assert_int_equal(st.completed, 15);
    assert_int_equal(st.dead_lettered, 15);
    assert_int_equal(st.failed, 60);
    assert_int_equal(st.claim_lost, 0);
    assert_int_equal(sink_requests(), K + 15);
    pthread_mutex_lock(&sink.mu);
    int bad = sink.bad_requests;
    pthread_mutex_unlock(&sink.mu);
    assert_int_equal(bad, 0);
    assert_true(counter_val(m, "outbox_transitions_total", "outbox,to", MX_LV("donation", "completed")) == 15);
    assert_true(counter_val(m, "outbox_transitions_total", "outbox,to", MX_LV("donation", "dead_letter")) == 15);
    assert_true(counter_val(m, "outbox_transitions_total", "outbox,to", MX_LV("donation", "failed")) == 60);
    assert_true(counter_val(m, "outbox_transitions_total", "outbox,to", MX_LV("donation", "processing")) == 90);
    assert_true(counter_val(m, "dlq_safety_net_total", "queue,tier", MX_LV("donation", "db")) == 15);

    char reason[512];
    assert_true(bk_dlq_reason(b, "donation:1", reason, sizeof reason));
    assert_non_null(strstr(reason, "503"));
    assert_false(bk_dlq_reason(b, "donation:30", reason, sizeof reason));
    expect_row(b, "donation:30", "COMPLETED");

    relay_free(r);
    metrics_free(m);
    sink_stop();
}

static void test_relay_dead_letters_a_tampered_row_without_delivery(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    bk_seed(b, "donation:1", "{\"amount\":1}");
    bk_seed_opts(b, "donation:2", "{\"amount\":2}", (seed_opts_t){.tamper = true});
    bk_seed(b, "donation:3", "{\"amount\":3}");
    sink_start(0);
    metrics_t *m = metrics_new();
    relay_t *r = relay_for(b, m, ME, sink.url);
    relay_until_empty(r);

    expect_row(b, "donation:1", "COMPLETED");
    expect_row(b, "donation:2", "DEAD_LETTER");
    expect_row(b, "donation:3", "COMPLETED");
    char reason[512];
    assert_true(bk_dlq_reason(b, "donation:2", reason, sizeof reason));
    assert_non_null(strstr(reason, "integrity"));
    assert_int_equal(sink_ok_for("donation:2"), 0);
    assert_int_equal(sink_requests(), 2);
    assert_int_equal(relay_stats(r).dead_lettered, 1);
    relay_free(r);
    metrics_free(m);
    sink_stop();
}

/* A webhook that cannot be reached: each attempt fails (transport error), the row is
 * dead-lettered after max_retries, and the recorded reason never contains the URL (G9). */
static void test_relay_unreachable_webhook_dead_letters_without_leaking_the_url(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    bk_seed(b, "donation:1", "{\"amount\":1}");
    metrics_t *m = metrics_new();
    relay_t *r = relay_for(b, m, ME, "http://127.0.0.1:1/secret-token-path");
    assert_int_equal(relay_run_batch(r), 1);
    char status[16];
    int retry;
    int64_t token;
    bk_row(b, "donation:1", status, &retry, &token);
    assert_string_equal(status, "FAILED");
    assert_int_equal(retry, 1);
    relay_until_empty(r);
    expect_row(b, "donation:1", "DEAD_LETTER");
    char reason[512];
    assert_true(bk_dlq_reason(b, "donation:1", reason, sizeof reason));
    assert_non_null(strstr(reason, "webhook: "));
    assert_null(strstr(reason, "secret-token-path"));
    assert_null(strstr(reason, "127.0.0.1"));
    relay_stats_t st = relay_stats(r);
    assert_int_equal(st.failed, 2);
    assert_int_equal(st.dead_lettered, 1);
    relay_free(r);
    metrics_free(m);
}

typedef struct {
    bk_t *b;
    store_rc_t rc;
    int64_t reclaimed, dead;
} reclaim_ctx_t;

/* On the sink thread, while relay A waits for the answer: stalled-claim recovery takes the row. */
static void reclaim_everything(void *arg)
{
    reclaim_ctx_t *c = arg;
    int64_t now = clock_wall_ms();
    c->rc = c->b->s->ops->outbox_reclaim(c->b->s, OUTBOX_DONATION, now + 60000, now, &c->reclaimed, &c->dead);
}

static void test_relay_claim_lost_is_counted_and_not_completed_twice(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    bk_seed(b, "donation:7", "{\"amount\":7}");
    sink_start(0);
    metrics_t *m = metrics_new();
    relay_t *a = relay_for(b, m, "relay-a", sink.url);
    relay_t *other = relay_for(b, m, "relay-b", sink.url);
    reclaim_ctx_t rc = {.b = b};
    sink_set_hook(reclaim_everything, &rc);

    assert_int_equal(relay_run_batch(a), 1);
    assert_int_equal(rc.rc, STORE_OK);
    assert_int_equal(rc.reclaimed, 1);
    relay_stats_t sa = relay_stats(a);
    assert_int_equal(sa.claim_lost, 1);
    assert_int_equal(sa.completed, 0);
    assert_true(counter_val(m, "outbox_claim_lost_total", "outbox", MX_LV("donation")) == 1);
    expect_row(b, "donation:7", "PENDING");

    /* Relay B claims it again (higher token), delivers again (at-least-once) and completes it. */
    assert_int_equal(relay_run_batch(other), 1);
    assert_int_equal(relay_stats(other).completed, 1);
    expect_row(b, "donation:7", "COMPLETED");
    assert_int_equal(relay_run_batch(a), 0);
    assert_int_equal(relay_run_batch(other), 0);
    int delivered, duplicates;
    sink_delivered(&delivered, &duplicates);
    assert_int_equal(delivered, 1);
    assert_int_equal(duplicates, 1);
    store_outbox_counts_t c = bk_counts(b);
    assert_int_equal(c.completed, 1);
    assert_int_equal(c.pending + c.processing + c.failed + c.dead_letter, 0);
    assert_true(counter_val(m, "outbox_transitions_total", "outbox,to", MX_LV("donation", "completed")) == 1);
    relay_free(a);
    relay_free(other);
    metrics_free(m);
    sink_stop();
}

static void stop_relay(void *arg) { relay_stop_claiming(arg); }

/* Stop while a batch is being worked: the current row finishes, the others return to PENDING
 * with no attempt charged, and no further claim happens. */
static void test_relay_stop_claiming_returns_unstarted_rows(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    char id[64];
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof id, "donation:%d", i);
        bk_seed(b, id, "{\"amount\":5}");
    }
    sink_start(0);
    metrics_t *m = metrics_new();
    relay_t *r = relay_for(b, m, ME, sink.url);
    sink_set_hook(stop_relay, r);

    assert_int_equal(relay_run_batch(r), 5);
    relay_stats_t st = relay_stats(r);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.released, 4);
    expect_row(b, "donation:1", "COMPLETED");
    for (int i = 2; i <= 5; i++) {
        snprintf(id, sizeof id, "donation:%d", i);
        char status[16];
        int retry;
        int64_t token;
        bk_row(b, id, status, &retry, &token);
        assert_string_equal(status, "PENDING");
        assert_int_equal(retry, 0);
    }
    assert_int_equal(relay_run_batch(r), 0); /* stopped: no claim */
    assert_int_equal(bk_counts(b).pending, 4);
    assert_int_equal(sink_requests(), 1);
    relay_free(r);
    metrics_free(m);
    sink_stop();
}

/* Without a webhook the delivery is the structured log event; the scheduler drives the relay and
 * drains back-to-back batches (batch 4, 10 rows). */
static void test_relay_job_via_scheduler_without_webhook(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    char id[64];
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof id, "donation:%d", i);
        bk_seed(b, id, "{\"amount\":10}");
    }
    metrics_t *m = metrics_new();
    jobs_config_t c = test_config();
    c.relay_batch = 4;
    c.relay_period_ms = 60000; /* one tick at start: the back-to-back loop must drain everything */
    relay_t *r = relay_new(b->s, m, ME, &c);
    scheduler_t *s = scheduler_new(b->s, m, NULL, ME, &c);
    assert_true(relay_register(r, s));
    assert_true(scheduler_start(s));
    WAIT_FOR(runs(m, RELAY_JOB_NAME, "ok") == 1);
    assert_int_equal(bk_counts(b).completed, 10);
    assert_int_equal(relay_stats(r).completed, 10);
    relay_stop_claiming(r);
    scheduler_stop_starting(s);
    assert_true(scheduler_wait_idle(s, POLL_TIMEOUT_MS));
    scheduler_free(s);
    relay_free(r);
    metrics_free(m);
}

/* SQLite: a row written by the real donation transaction passes the relay's integrity check
 * (the store and the relay agree on the 2.3.8 content hash) and reaches the sink verbatim. */
static void test_relay_delivers_a_real_donation_row(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    if (!b->s->ops->donate || !b->s->ops->member_ensure)
        skip();
    const char *sender = "SENDERsenderSENDERsenderSENDERsenderSENDER1";
    const char *admin = "ADMINadminADMINadminADMINadminADMINadminAD1";
    int64_t now = clock_wall_ms();
    assert_int_equal(b->s->ops->member_ensure(b->s, sender, now), STORE_OK);
    assert_int_equal(b->s->ops->member_ensure(b->s, admin, now), STORE_OK);
    sqlite3 *db = raw_open(b);
    tu_raw_exec(db, "UPDATE member SET point = 1000");
    sqlite3_close(db);
    char req_hash[65];
    assert_int_equal(sha256_hex("x|100", 5, req_hash), 0);
    store_donation_t d = {.sender_fp = sender, .receiver_fp = admin, .receiver_is_bootstrap_admin = true,
                          .request_id = "idem-key-1", .request_hash = req_hash, .amount = 100,
                          .origin_request_id = "corr-real"};
    donation_rc_t outcome = DONATION_SENDER_MISSING;
    int64_t balance = 0;
    assert_int_equal(b->s->ops->donate(b->s, &d, now, &outcome, &balance), STORE_OK);
    assert_int_equal(outcome, DONATION_DONE);
    assert_int_equal(bk_counts(b).pending, 1);

    sink_start(0);
    metrics_t *m = metrics_new();
    relay_t *r = relay_for(b, m, ME, sink.url);
    relay_until_empty(r);
    relay_stats_t st = relay_stats(r);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.dead_lettered, 0);
    int delivered, duplicates;
    sink_delivered(&delivered, &duplicates);
    assert_int_equal(delivered, 1);
    char id[101], body[1024];
    pthread_mutex_lock(&sink.mu);
    snprintf(id, sizeof id, "%s", sink.ids[0]);
    snprintf(body, sizeof body, "%s", sink.last_body);
    pthread_mutex_unlock(&sink.mu);
    assert_int_equal(strncmp(id, "donation:", 9), 0);
    sqlite3_stmt *q = raw_row(b, "SELECT payload FROM donation_outbox WHERE request_id = ?1", id);
    assert_non_null(q);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), body); /* verbatim */
    raw_row_done(q);
    assert_int_equal(bk_counts(b).completed, 1);
    relay_free(r);
    metrics_free(m);
    sink_stop();
}

/* =============================================================================================
 * Maintenance tests
 */

static void test_fold_job_folds_until_a_partial_batch(void **state)
{
    bk_t *b = *state; /* fake */
    metrics_t *m = metrics_new();
    jobs_config_t c = test_config();
    maint_t *mt = maint_new(b->s, m, &c);
    b->fake->deltas = 2500;
    b->fake->oldest_delta_ms = clock_wall_ms() - 5000;
    job_ctx_t ctx = {.job = JOB_LIKE_FOLD, .arg = mt};
    job_result_t res = maint_fold_job(&ctx);
    assert_true(res.ok);
    assert_int_equal(res.items, 2500);
    assert_int_equal(b->fake->fold_calls, 3);
    assert_true(counter_val(m, "like_fold_deltas_total", "", NULL) == 2500);
    assert_true(counter_val(m, "like_fold_runs_total", "result", MX_LV("ok")) == 1);
    assert_true(gauge_val(m, "like_delta_pending", "", NULL) == 0);
    assert_true(gauge_val(m, "like_delta_oldest_age_seconds", "", NULL) == 0);

    b->fake->deltas = 10;
    b->fake->oldest_delta_ms = clock_wall_ms() - 5000;
    b->fake->fold_fail = true;
    res = maint_fold_job(&ctx);
    assert_false(res.ok);
    assert_true(counter_val(m, "like_fold_runs_total", "result", MX_LV("error")) == 1);
    assert_true(gauge_val(m, "like_delta_pending", "", NULL) == 10);
    assert_true(gauge_val(m, "like_delta_oldest_age_seconds", "", NULL) >= 4.5);
    maint_free(mt);
    metrics_free(m);
}

/* Every maintenance job through the scheduler, under its lease: stale claim reclaimed, old
 * COMPLETED row purged, gauges published. */
static void test_maintenance_jobs_run_under_their_leases(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    int64_t now = clock_wall_ms();
    bk_seed_opts(b, "donation:stale", "{\"amount\":1}", (seed_opts_t){.status = "PROCESSING", .locked_at = now - 600000});
    bk_seed_opts(b, "donation:fresh", "{\"amount\":2}", (seed_opts_t){.status = "PROCESSING", .locked_at = now - 1000});
    bk_seed_opts(b, "donation:old", "{\"amount\":3}", (seed_opts_t){.status = "COMPLETED", .completed_at = now - 8 * 86400000LL});
    bk_seed_opts(b, "donation:new", "{\"amount\":4}", (seed_opts_t){.status = "COMPLETED", .completed_at = now - 86400000LL});
    char status[16];
    int retry;
    int64_t token_before, token_after;
    bk_row(b, "donation:stale", status, &retry, &token_before);

    metrics_t *m = metrics_new();
    jobs_config_t c = test_config();
    c.fold_period_ms = c.reclaim_period_ms = c.monitor_period_ms = c.auth_purge_period_ms = c.retention_period_ms = 20;
    maint_t *mt = maint_new(b->s, m, &c);
    scheduler_t *s = scheduler_new(b->s, m, NULL, ME, &c);
    assert_true(maint_register(mt, s));
    assert_true(scheduler_start(s));
    const char *jobs[] = {JOB_LIKE_FOLD, JOB_OUTBOX_RECOVERY, JOB_OUTBOX_MONITOR, JOB_AUTH_PURGE, JOB_OUTBOX_RETENTION};
    for (size_t i = 0; i < 5; i++)
        WAIT_FOR(runs(m, jobs[i], "ok") >= 1);
    const char *leases[] = {LEASE_LIKE_FOLD, LEASE_OUTBOX_RECOVERY, LEASE_MONITOR, LEASE_AUTH_PURGE, LEASE_OUTBOX_RETENTION};
    for (size_t i = 0; i < 5; i++)
        assert_true(scheduler_holds_lease(s, leases[i], NULL));
    WAIT_FOR(gauge_val(m, "outbox_rows", "outbox,status", MX_LV("donation", "PENDING")) == 1 &&
             gauge_val(m, "outbox_rows", "outbox,status", MX_LV("donation", "COMPLETED")) == 1);
    assert_true(gauge_val(m, "outbox_rows", "outbox,status", MX_LV("donation", "PROCESSING")) == 1);
    assert_true(gauge_val(m, "dlq_rows", "queue", MX_LV("donation")) == 0);
    assert_true(counter_val(m, "outbox_transitions_total", "outbox,to", MX_LV("donation", "reclaimed")) == 1);
    scheduler_free(s);

    bk_row(b, "donation:stale", status, &retry, &token_after);
    assert_string_equal(status, "PENDING");
    assert_true(token_after > token_before);
    expect_row(b, "donation:fresh", "PROCESSING"); /* H16: a live claim is not touched */
    expect_row(b, "donation:old", "GONE");
    expect_row(b, "donation:new", "COMPLETED");
    if (!b->sqlite)
        assert_true(b->fake->auth_purge_calls >= 1);
    maint_free(mt);
    metrics_free(m);
}

/* SQLite: real likes folded into like_count by the scheduled fold, in batches of 2. */
static void test_fold_job_via_scheduler_folds_real_likes(void **state)
{
    bk_t *b = *state;
    bk_require(b);
    store_character_t ch = {0};
    assert_int_equal(b->s->ops->character_upsert(b->s, "ocid-fold", "folder", &ch), STORE_OK);
    store_character_clear(&ch);
    char acct[32];
    for (int i = 0; i < 5; i++) {
        bool changed = false;
        snprintf(acct, sizeof acct, "account-%d", i);
        assert_int_equal(b->s->ops->like_set(b->s, "ocid-fold", acct, true, clock_wall_ms(), &changed), STORE_OK);
        assert_true(changed);
    }
    int64_t pending = 0, oldest = 0;
    assert_int_equal(b->s->ops->like_backlog(b->s, &pending, &oldest), STORE_OK);
    assert_int_equal(pending, 5);

    metrics_t *m = metrics_new();
    jobs_config_t c = test_config();
    c.fold_batch = 2;
    c.fold_period_ms = 20;
    maint_t *mt = maint_new(b->s, m, &c);
    scheduler_t *s = scheduler_new(b->s, m, NULL, ME, &c);
    assert_true(maint_register(mt, s));
    assert_true(scheduler_start(s));
    WAIT_FOR(counter_val(m, "like_fold_deltas_total", "", NULL) == 5);
    WAIT_FOR(gauge_val(m, "like_delta_pending", "", NULL) == 0 && runs(m, JOB_LIKE_FOLD, "ok") >= 2);
    scheduler_free(s);

    assert_int_equal(b->s->ops->like_backlog(b->s, &pending, &oldest), STORE_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(b->s->ops->character_by_ocid(b->s, "ocid-fold", &ch), STORE_OK);
    assert_int_equal(ch.like_count, 5);
    store_character_clear(&ch);
    maint_free(mt);
    metrics_free(m);
}

#define FAKE(fn) {#fn " [fake]", fn, setup_fake, teardown_bk, NULL}
#define SQLITE(fn) {#fn " [sqlite]", fn, setup_sqlite, teardown_bk, NULL}
#define BOTH(fn) FAKE(fn), SQLITE(fn)

int main(void)
{
    log_init("test", "standalone", "test", LOG_ERROR);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheduler_runs_a_job_periodically_and_ticks_liveness),
        cmocka_unit_test(test_scheduler_never_overlaps_a_slow_job),
        cmocka_unit_test(test_scheduler_stop_starting_prevents_new_runs),
        BOTH(test_scheduler_cluster_once_waits_for_a_foreign_lease),
        BOTH(test_scheduler_releases_leases_at_free),
        FAKE(test_scheduler_lost_lease_stops_the_running_job),
        FAKE(test_scheduler_final_pass_needs_the_lease),
        BOTH(test_relay_every_row_ends_delivered_or_dead_lettered),
        BOTH(test_relay_dead_letters_a_tampered_row_without_delivery),
        BOTH(test_relay_unreachable_webhook_dead_letters_without_leaking_the_url),
        BOTH(test_relay_claim_lost_is_counted_and_not_completed_twice),
        BOTH(test_relay_stop_claiming_returns_unstarted_rows),
        BOTH(test_relay_job_via_scheduler_without_webhook),
        SQLITE(test_relay_delivers_a_real_donation_row),
        FAKE(test_fold_job_folds_until_a_partial_batch),
        BOTH(test_maintenance_jobs_run_under_their_leases),
        SQLITE(test_fold_job_via_scheduler_folds_real_likes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
