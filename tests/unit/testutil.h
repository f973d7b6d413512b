/*
 * testutil.h - shared helpers for the cmocka unit tests: golden comparisons with the spec's
 * tolerance (relative error <= 1e-12, §0.2), loading project files (tests run from the
 * repository root; they never read ../shared), SQLite stores in private mkdtemp directories with
 * a raw connection beside them, and a loopback HTTP server on its own thread for tests that play
 * an upstream or a webhook. Every helper fails the test (cmocka) on an unexpected error unless it
 * says otherwise; none keeps state of its own.
 */
#ifndef MX_TESTUTIL_H
#define MX_TESTUTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sqlite3.h>

#include "store/store.h"

/* Relative tolerance of the spec for probabilities, exact trial counts and masses. */
#define TU_REL_TOL 1e-12

static inline void tu_assert_rel_(double got, double want, double tol, const char *expr, const char *file, int line)
{
    double scale = fabs(want) > 0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale)) {
        print_error("%s: got %.17g, want %.17g (rel err %.3g > %.3g)\n", expr, got, want,
                       fabs(got - want) / scale, tol);
        _fail(file, line);
    }
}
#define assert_rel(got, want) tu_assert_rel_((got), (want), TU_REL_TOL, #got, __FILE__, __LINE__)
#define assert_rel_tol(got, want, tol) tu_assert_rel_((got), (want), (tol), #got, __FILE__, __LINE__)

/* Read a whole file into a NUL-terminated heap buffer (caller frees); fails the test on error. */
static inline char *tu_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s\n", path);
        fail();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    assert_int_equal(got, (size_t)n);
    buf[n] = '\0';
    if (len_out)
        *len_out = (size_t)n;
    return buf;
}

#define TU_BLACK_CSV "data/cube_probability.csv"
#define TU_ADDITIONAL_CSV "data/additional_potential_probability.csv"
#define TU_SAMPLE_JSON "tests/data/evan_equip.json"

/* ---- SQLite stores in a private directory ---------------------------------------------------- */

/* One SQLite store in its own mkdtemp directory under /tmp (test binaries run side by side). */
typedef struct {
    char dir[64];
    char path[128]; /* dir/mx.db */
    store_t *s;
} tu_db_t;

/* Removes the files directly inside dir, then dir itself (the store's -wal/-shm files too). */
static inline void tu_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The SQLite store at path with `readers` reader connections; NULL (the store's message printed)
 * when it does not open. Does not fail the test: callers decide. */
static inline store_t *tu_store_open(const char *path, int readers)
{
    char err[256] = "";
    store_t *s = store_sqlite_open(path, readers, err, sizeof err);
    if (!s)
        print_error("open failed: %s\n", err);
    return s;
}

/* Creates /tmp/mx_<tag>_XXXXXX and opens the store mx.db in it. False, with nothing left behind,
 * when either step fails (usable from a cmocka setup, which reports -1). */
static inline bool tu_db_open(tu_db_t *d, const char *tag, int readers)
{
    snprintf(d->dir, sizeof d->dir, "/tmp/mx_%s_XXXXXX", tag);
    d->s = NULL;
    if (!mkdtemp(d->dir))
        return false;
    snprintf(d->path, sizeof d->path, "%s/mx.db", d->dir);
    d->s = tu_store_open(d->path, readers);
    if (!d->s) {
        tu_remove_dir(d->dir);
        return false;
    }
    return true;
}

/* Closes the store (when open) and removes the directory with its files. */
static inline void tu_db_close(tu_db_t *d)
{
    if (d->s)
        store_close(d->s);
    d->s = NULL;
    tu_remove_dir(d->dir);
}

/* A raw connection to the file (flags: SQLITE_OPEN_READWRITE or SQLITE_OPEN_READONLY) that waits
 * up to 5 s for the store's locks; the caller closes it. */
static inline sqlite3 *tu_raw_open(const char *path, int flags)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, flags, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Runs sql (one or more statements), printing SQLite's message when it fails. */
static inline void tu_raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
}

/* The prepared statement (the caller finalizes it), printing SQLite's message when it fails. */
static inline sqlite3_stmt *tu_raw_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    return st;
}

/* The first column of the first row as an integer (-1 when there is no row or it is NULL). */
static inline int64_t tu_raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = tu_raw_prepare(db, sql);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row as text into out ("" when NULL or no row). */
static inline void tu_raw_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = tu_raw_prepare(db, sql);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* tu_raw_int on a read-only connection of its own (opened and closed around the query). */
static inline int64_t tu_file_int(const char *path, const char *sql)
{
    sqlite3 *db = tu_raw_open(path, SQLITE_OPEN_READONLY);
    int64_t v = tu_raw_int(db, sql);
    sqlite3_close(db);
    return v;
}

/* ---- a loopback HTTP server on its own thread ------------------------------------------------ */

/* libevent evhttp on 127.0.0.1:<ephemeral> with its event loop on a thread of its own; the
 * request callback runs on that thread. A pipe wakes the loop for shutdown. */
typedef struct {
    pthread_t thread;
    struct event_base *base; /* the callback may schedule on it (event_base_once) */
    struct evhttp *http;
    struct event *stop_ev;
    int stop_pipe[2];
    int port;
} tu_http_t;

static inline void tu_http_on_stop_(evutil_socket_t fd, short what, void *base)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(base);
}

static inline void *tu_http_main_(void *arg)
{
    event_base_dispatch(((tu_http_t *)arg)->base);
    return NULL;
}

/* Binds, routes every request to cb(req, cb_arg) and starts the thread; h->port is the bound port.
 * h must stay at the same address until tu_http_stop. */
static inline void tu_http_start(tu_http_t *h, void (*cb)(struct evhttp_request *, void *), void *cb_arg)
{
    memset(h, 0, sizeof *h);
    h->base = event_base_new();
    assert_non_null(h->base);
    h->http = evhttp_new(h->base);
    assert_non_null(h->http);
    evhttp_set_gencb(h->http, cb, cb_arg);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->http, "127.0.0.1", 0);
    assert_non_null(bs);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    h->port = ntohs(sa.sin_port);
    assert_int_equal(pipe(h->stop_pipe), 0);
    h->stop_ev = event_new(h->base, h->stop_pipe[0], EV_READ, tu_http_on_stop_, h->base);
    event_add(h->stop_ev, NULL);
    assert_int_equal(pthread_create(&h->thread, NULL, tu_http_main_, h), 0);
}

/* Wakes and joins the server thread, then frees the server (requests in flight are dropped). */
static inline void tu_http_stop(tu_http_t *h)
{
    assert_int_equal(write(h->stop_pipe[1], "x", 1), 1);
    pthread_join(h->thread, NULL);
    event_free(h->stop_ev);
    evhttp_free(h->http);
    event_base_free(h->base);
    close(h->stop_pipe[0]);
    close(h->stop_pipe[1]);
}

#endif
