/*
 * h_expectation.c - character (E01) and expectation (E02-E06) endpoints.
 *
 * Fast path (E02/E03 warm): an L1 hit is answered on the loop thread from the stored gzip bytes
 * without decompressing or re-serializing (3.4 rule 3: served even when every queue is full).
 * Cold path: the request joins the IGN's flight (SC-04). The leader submits the computation to
 * the bounded compute pool (503 S007 + Retry-After: 60 when full); followers wait for its
 * result (503 S007 after SF_FOLLOWER_TIMEOUT_MS). Results are posted back to the loop.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/gz.h"
#include "base/jw.h"
#include "http/http_internal.h"

#define MARKER_KEY_MAX 200

static app_t *app_of(req_ctx_t *c) { return c->srv->app; }

/* ---- async plumbing --------------------------------------------------------------------- */

static void finish_async(void *arg)
{
    req_ctx_t *c = arg;
    if (c->timer)
        event_del(c->timer);
    c->on_result(c);
    req_done(c);
}

static void on_follower_result(void *arg, sf_result_t r)
{
    req_ctx_t *c = arg; /* any thread: only fill the result and post */
    c->result_code = r.code;
    c->result = r.val;
    http_worker_post(c->w, finish_async, c);
}

static void on_follower_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    req_ctx_t *c = arg;
    if (!sf_cancel(c->flight, c->ign, c->waiter))
        return; /* the result is being delivered; finish_async will answer */
    respond_error(c, "S007", NULL, 30);
    req_done(c);
}

/* Join the flight for key; the leader gets `run` on the compute pool. */
static void join_flight(req_ctx_t *c, sf_t *flight, void (*run)(void *), void (*expire)(void *))
{
    app_t *a = app_of(c);
    c->flight = flight;
    req_go_async(c);
    if (sf_join(flight, c->ign, on_follower_result, c, &c->waiter) == SF_FOLLOWER) {
        c->cache = "computed";
        int64_t wait = c->deadline_ms - clock_mono_ms();
        if (wait > a->cfg->sf_follower_timeout_ms)
            wait = a->cfg->sf_follower_timeout_ms;
        if (wait < 0)
            wait = 0;
        struct timeval tv = {wait / 1000, (wait % 1000) * 1000};
        c->timer = evtimer_new(c->w->base, on_follower_timeout, c);
        if (c->timer)
            evtimer_add(c->timer, &tv);
        return;
    }
    c->cache = "computed";
    if (!pool_submit(a->compute, run, expire, c, c->deadline_ms)) {
        sf_finish(flight, c->ign, (sf_result_t){APP_OVERLOADED, NULL});
        mfam_add(c->srv->m_rejected, MX_LV("queue_full"), 1);
        c->result_code = APP_OVERLOADED;
        finish_async(c);
    }
}

static void expire_task(void *arg)
{
    req_ctx_t *c = arg;
    sf_finish(c->flight, c->ign, (sf_result_t){APP_UNAVAILABLE, NULL});
    c->result_code = APP_UNAVAILABLE;
    http_worker_post(c->w, finish_async, c);
}

/* ---- E02 / E03 / E04 -------------------------------------------------------------------- */

/* The computing request's own body: its view with fromCache false (E02 fromCache rule). */
static void build_leader_body(req_ctx_t *c)
{
    const unsigned char *gz;
    size_t n;
    if (!bundle_part(c->result, c->preset, &gz, &n))
        return;
    buf_t json;
    buf_init(&json, 64u << 20);
    if (gz_inflate(gz, n, &json) == 0 && buf_ok(&json)) {
        static const char from[] = "\"fromCache\":true";
        char *at = memmem(json.data, json.len, from, sizeof from - 1);
        if (at) {
            buf_t out;
            buf_init(&out, 64u << 20);
            buf_append(&out, json.data, (size_t)(at - json.data));
            buf_puts(&out, "\"fromCache\":false");
            size_t rest = (size_t)(at - json.data) + sizeof from - 1;
            buf_append(&out, json.data + rest, json.len - rest);
            if (c->accept_gzip)
                c->have_leader_body = gz_deflate(out.data, out.len, 6, &c->leader_body) == 0;
            else {
                buf_append(&c->leader_body, out.data, out.len);
                c->have_leader_body = buf_ok(&c->leader_body);
            }
            c->leader_gzip = c->accept_gzip;
            buf_dispose(&out);
        }
    }
    buf_dispose(&json);
}

static void run_expectation(void *arg)
{
    req_ctx_t *c = arg;
    app_t *a = app_of(c);
    cache_val_t *b = NULL;
    unsigned long calls0 = nexon_thread_calls();
    app_rc_t rc = app_compute_expectation(a, c->ign, c->force, c->deadline_ms, c->force ? "v4_force" : "v4", &b);
    c->upstream_calls = (int)(nexon_thread_calls() - calls0);
    sf_finish(c->flight, c->ign, (sf_result_t){rc, b});
    c->result_code = rc;
    c->result = b;
    if (rc == APP_OK && !bundle_stale(b))
        build_leader_body(c);
    http_worker_post(c->w, finish_async, c);
}

/* The request's view (full or preset) from a bundle, in the client's encoding. */
static void respond_bundle(req_ctx_t *c, cache_val_t *bundle)
{
    const unsigned char *gz;
    size_t n;
    if (bundle_part(bundle, c->preset, &gz, &n))
        respond_gzip_part(c, bundle, gz, n, bundle_stale(bundle));
    else
        respond_error(c, "S004", c->corr, 0);
}

static void answer_expectation(req_ctx_t *c)
{
    if (!c->req)
        return; /* the client went away while the work ran */
    if (c->result_code != APP_OK || !c->result) {
        respond_app_error(c, c->result_code != APP_OK ? c->result_code : APP_INTERNAL);
        return;
    }
    if (bundle_stale(c->result))
        c->cache = "stale";
    if (c->have_leader_body) {
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Vary", "Accept-Encoding");
        respond_bytes(c, 200, c->leader_gzip ? "application/json" : "application/json; charset=utf-8",
                      c->leader_body.data, c->leader_body.len, c->leader_gzip ? "gzip" : NULL);
        return;
    }
    respond_bundle(c, c->result);
}

static bool serve_from_l1(req_ctx_t *c)
{
    app_t *a = app_of(c);
    cache_val_t *v = NULL;
    cache_hit_t hit = l1_get(a->c_expectation, c->ign, clock_mono_ms(), &v);
    if (hit != CACHE_FRESH) {
        if (v)
            cache_val_release(v);
        return false;
    }
    c->cache = "l1";
    respond_bundle(c, v);
    cache_val_release(v);
    return true;
}

/* force=true inside the per-IGN cool-down (SC-22) is served like force=false. */
static bool cooldown_allows(req_ctx_t *c)
{
    app_t *a = app_of(c);
    char key[MARKER_KEY_MAX];
    snprintf(key, sizeof key, "recalc:%s", c->ign);
    coord_rc_t rc = a->coord->ops->marker_set_nx(a->coord, key, "1", (int64_t)a->cfg->recalc_cooldown_s * 1000);
    if (rc == COORD_OK)
        return true;
    mfam_add(a->m_cooldown_hits, NULL, 1);
    return false;
}

static void expectation(req_ctx_t *c, bool force)
{
    app_t *a = app_of(c);
    c->deadline_ms = c->start_us / 1000 + a->cfg->request_deadline_ms;
    c->force = force && cooldown_allows(c);
    c->on_result = answer_expectation;
    if (!c->force && serve_from_l1(c)) {
        req_done(c);
        return;
    }
    join_flight(c, a->sf_expectation, run_expectation, expire_task);
}

/* `force` query parameter: true/false, case-insensitive; anything else is 400 C001. */
static bool parse_force(req_ctx_t *c, bool *force)
{
    *force = false;
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
    if (!q || !*q)
        return true;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) != 0) {
        evhttp_clear_headers(&kv);
        respond_error(c, "C001", "query: malformed", 0);
        return false;
    }
    const char *v = evhttp_find_header(&kv, "force");
    bool ok = true;
    if (v) {
        if (!strcasecmp(v, "true"))
            *force = true;
        else if (strcasecmp(v, "false") != 0)
            ok = false;
    }
    evhttp_clear_headers(&kv);
    if (!ok)
        respond_error(c, "C001", "force: must be true or false", 0);
    return ok;
}

/* SC-24: every E02 call counts toward the IGN's popularity today; best effort, never fails the call. */
static void count_popularity(req_ctx_t *c)
{
    char day[16];
    app_local_day(day);
    coord_t *co = app_of(c)->coord;
    coord_rc_t rc = co->ops->popularity_incr(co, day, c->ign);
    mfam_add(c->srv->m_popularity, MX_LV(rc == COORD_OK ? "ok" : "skipped"), 1);
}

void h_v4_expectation(req_ctx_t *c)
{
    bool force;
    if (!parse_force(c, &force)) {
        req_done(c);
        return;
    }
    count_popularity(c);
    expectation(c, force);
}

void h_v4_preset(req_ctx_t *c) { expectation(c, false); }

void h_v4_recalculate(req_ctx_t *c) { expectation(c, true); }

/* ---- E01 -------------------------------------------------------------------------------- */

static cache_val_t *render_character(const char *ign, const app_character_t *ch)
{
    buf_t b;
    buf_init(&b, 64 * 1024);
    jw_t w;
    jw_init(&w, &b);
    buf_putc(&b, (char)(ch->stale ? 1 : 0)); /* flag byte, like bundles */
    jw_object_begin(&w);
    jw_key(&w, "userIgn");
    jw_string(&w, ign);
    jw_key(&w, "ocid");
    jw_string(&w, ch->ocid);
    jw_key(&w, "likeCount");
    jw_int(&w, ch->like_count);
    const char *keys[3] = {"worldName", "characterClass", "characterImage"};
    const char *vals[3] = {ch->world_name, ch->character_class, ch->character_image};
    for (int i = 0; i < 3; i++) {
        jw_key(&w, keys[i]);
        if (vals[i])
            jw_string(&w, vals[i]);
        else
            jw_null(&w);
    }
    jw_object_end(&w);
    cache_val_t *v = buf_ok(&b) ? cache_val_new(b.data, b.len, clock_wall_ms()) : NULL;
    buf_dispose(&b);
    return v;
}

static void run_character(void *arg)
{
    req_ctx_t *c = arg;
    app_character_t ch;
    unsigned long calls0 = nexon_thread_calls();
    app_rc_t rc = app_resolve_character(app_of(c), c->ign, true, c->deadline_ms, &ch);
    c->upstream_calls = (int)(nexon_thread_calls() - calls0);
    cache_val_t *v = NULL;
    if (rc == APP_OK && !(v = render_character(c->ign, &ch)))
        rc = APP_INTERNAL;
    app_character_clear(&ch);
    sf_finish(c->flight, c->ign, (sf_result_t){rc, v});
    c->result_code = rc;
    c->result = v;
    http_worker_post(c->w, finish_async, c);
}

static void answer_character(req_ctx_t *c)
{
    if (!c->req)
        return;
    if (c->result_code != APP_OK || !c->result || c->result->len < 2) {
        respond_app_error(c, c->result_code != APP_OK ? c->result_code : APP_INTERNAL);
        return;
    }
    if (c->result->data[0] & 1)
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "X-Data-Stale", "true");
    respond_val(c, 200, "application/json; charset=utf-8", c->result, c->result->data + 1, c->result->len - 1, NULL);
}

void h_v1_character(req_ctx_t *c)
{
    c->deadline_ms = c->start_us / 1000 + app_of(c)->cfg->request_deadline_ms;
    c->on_result = answer_character;
    join_flight(c, c->srv->sf_character, run_character, expire_task);
}

/* ---- E05 / E06 -------------------------------------------------------------------------- */

static void marker_key(char *out, const char *prefix, const char *ign)
{
    snprintf(out, MARKER_KEY_MAX, "%s:%s", prefix, ign);
}

/* A recorded V5 failure (SC-22) answers with its error. */
static bool answer_failure_marker(req_ctx_t *c)
{
    app_t *a = app_of(c);
    char key[MARKER_KEY_MAX], code[16];
    marker_key(key, "v5fail", c->ign);
    if (a->coord->ops->marker_get(a->coord, key, code, sizeof code) != COORD_OK)
        return false;
    if (!strcmp(code, "C002"))
        out_error(c, "C002", c->ign);
    else
        out_error_retry(c, "S005", "Nexon Open API", 30);
    return true;
}

/* 200 with the stored view when it is younger than V5_VIEW_TTL_H. */
static bool answer_view(req_ctx_t *c, bool *db_down)
{
    app_t *a = app_of(c);
    store_view_t v = {0};
    store_rc_t rc = a->store->ops->view_by_ign(a->store, c->ign, &v);
    *db_down = rc == STORE_UNAVAILABLE;
    if (rc != STORE_OK) {
        mfam_add(c->srv->m_view_reads, MX_LV("miss"), rc == STORE_NOT_FOUND ? 1 : 0);
        return false;
    }
    bool fresh = clock_wall_ms() - v.calculated_ms <= (int64_t)a->cfg->v5_view_ttl_h * 3600 * 1000;
    mfam_add(c->srv->m_view_reads, MX_LV(fresh ? "hit" : "expired"), 1);
    if (fresh && (c->result = cache_val_new(v.body_gzip, v.body_gzip_len, v.calculated_ms))) {
        c->out_gzip = true;
        c->out_status = 200;
    } else if (fresh) {
        out_error(c, "S001", c->corr);
    }
    store_view_clear(&v);
    return fresh;
}

static void accepted(req_ctx_t *c)
{
    c->out_status = 202;
    c->out_empty = true;
    c->out_retry_after = 2;
}

/* Admission (M17): marker first, then the queue; the marker is removed when the queue refuses. */
static void enqueue_job(req_ctx_t *c, bool force, bool marker_set)
{
    app_t *a = app_of(c);
    char key[MARKER_KEY_MAX];
    marker_key(key, "v5job", c->ign);
    if (!marker_set) {
        coord_rc_t m = a->coord->ops->marker_set_nx(a->coord, key, c->corr, 120000);
        if (m == COORD_EXISTS) {
            mfam_add(c->srv->m_enqueue, MX_LV("HIGH", "coalesced"), 1);
            accepted(c);
            return;
        }
        if (m != COORD_OK) {
            mfam_add(c->srv->m_enqueue, MX_LV("HIGH", "unavailable"), 1);
            out_error_retry(c, "S007", NULL, 30);
            return;
        }
    }
    calc_job_t job = {.force = force, .prio = PRIO_HIGH, .enqueued_ms = clock_wall_ms()};
    auth_uuid4(job.job_id);
    snprintf(job.ign, sizeof job.ign, "%s", c->ign);
    snprintf(job.correlation_id, sizeof job.correlation_id, "%.64s", c->corr);
    coord_rc_t q = a->coord->ops->queue_offer(a->coord, &job);
    if (q == COORD_OK) {
        mfam_add(c->srv->m_enqueue, MX_LV("HIGH", "enqueued"), 1);
        accepted(c);
        return;
    }
    a->coord->ops->marker_del(a->coord, key);
    if (q == COORD_FULL) {
        mfam_add(c->srv->m_enqueue, MX_LV("HIGH", "full"), 1);
        mfam_add(c->srv->m_rejected, MX_LV("queue_full"), 1);
        out_error_retry(c, "S018", NULL, 10);
    } else {
        mfam_add(c->srv->m_enqueue, MX_LV("HIGH", "unavailable"), 1);
        out_error_retry(c, "S007", NULL, 30);
    }
}

static void work_v5(req_ctx_t *c)
{
    if (!principal_allows(c) || answer_failure_marker(c))
        return;
    bool db_down = false;
    if (answer_view(c, &db_down))
        return;
    if (db_down)
        out_error_retry(c, "S007", NULL, 30);
    else
        enqueue_job(c, false, false);
}

static void work_v5_recalculate(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    app_t *a = app_of(c);
    if (!cooldown_allows(c)) {
        accepted(c); /* inside the cool-down: accepted, no new work */
        return;
    }
    if (a->store->ops->view_delete_by_ign(a->store, c->ign) == STORE_UNAVAILABLE) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    char key[MARKER_KEY_MAX];
    marker_key(key, "v5fail", c->ign);
    a->coord->ops->marker_del(a->coord, key);
    marker_key(key, "v5job", c->ign);
    if (a->coord->ops->marker_set(a->coord, key, c->corr, 120000) != COORD_OK)
        out_error_retry(c, "S007", NULL, 30);
    else
        enqueue_job(c, true, true);
}

static void v5_disabled(req_ctx_t *c)
{
    respond_error(c, "C006", c->path, 0);
    req_done(c);
}

void h_v5_expectation(req_ctx_t *c)
{
    if (!app_of(c)->cfg->v5_enabled)
        v5_disabled(c);
    else
        defer_work(c, work_v5);
}

void h_v5_recalculate(req_ctx_t *c)
{
    if (!app_of(c)->cfg->v5_enabled)
        v5_disabled(c);
    else
        defer_work(c, work_v5_recalculate);
}
