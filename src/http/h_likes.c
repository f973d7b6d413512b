/*
 * h_likes.c - likes (E07-E10, 1.6, SC-15, SC-16). Every body runs on the `http` pool: the target
 * IGN is resolved like E01 (which may create the character row), then one store call. A like or
 * unlike is answered 2xx only after its transaction committed (relation row + delta together).
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/jw.h"
#include "http/http_internal.h"

/* The target's OCID; false with out_* set when it cannot be resolved. */
static bool resolve_target(req_ctx_t *c, char ocid[80])
{
    app_character_t ch;
    app_rc_t rc = app_resolve_character(c->srv->app, c->ign, false, c->deadline_ms, &ch);
    if (rc != APP_OK) {
        out_app_error(c, rc);
        return false;
    }
    snprintf(ocid, 80, "%s", ch.ocid);
    app_character_clear(&ch);
    return true;
}

/* Is ocid one of the caller's own characters (the session's myOcids)? */
static bool own_character(const principal_t *p, const char *ocid)
{
    if (!p->my_ocids_json)
        return false;
    char quoted[96];
    snprintf(quoted, sizeof quoted, "\"%s\"", ocid);
    return strstr(p->my_ocids_json, quoted) != NULL;
}

static void answer_like(req_ctx_t *c, bool liked, int64_t count, int changed /* -1 = omit */)
{
    char data[128];
    if (changed < 0)
        snprintf(data, sizeof data, "{\"liked\":%s,\"likeCount\":%lld}", liked ? "true" : "false", (long long)count);
    else
        snprintf(data, sizeof data, "{\"liked\":%s,\"likeCount\":%lld,\"changed\":%s}", liked ? "true" : "false",
                 (long long)count, changed ? "true" : "false");
    out_envelope(c, data);
}

static void count_like(req_ctx_t *c, const char *op, const char *result)
{
    mfam_add(c->srv->m_likes, MX_LV(op, result), 1);
}

static void set_like(req_ctx_t *c, bool like)
{
    const char *op = like ? "like" : "unlike";
    if (!principal_allows(c))
        return;
    char ocid[80];
    if (!resolve_target(c, ocid))
        return;
    if (own_character(&c->who, ocid)) {
        count_like(c, op, "self_like");
        out_error(c, "A003", NULL);
        return;
    }
    store_t *s = c->srv->app->store;
    bool changed = false;
    int64_t count = 0;
    if (s->ops->like_set(s, ocid, c->who.account_id, like, clock_wall_ms(), &changed) != STORE_OK ||
        s->ops->like_count(s, ocid, &count) != STORE_OK) {
        count_like(c, op, "error");
        out_error_retry(c, "S014", NULL, 30);
        return;
    }
    count_like(c, op, changed ? "changed" : "unchanged");
    answer_like(c, like, count, changed);
}

static void work_like(req_ctx_t *c) { set_like(c, true); }
static void work_unlike(req_ctx_t *c) { set_like(c, false); }

static void work_status(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    char ocid[80];
    if (!resolve_target(c, ocid))
        return;
    store_t *s = c->srv->app->store;
    bool liked = false;
    int64_t count = 0;
    if ((c->who.authenticated && s->ops->like_status(s, ocid, c->who.account_id, &liked) != STORE_OK) ||
        s->ops->like_count(s, ocid, &count) != STORE_OK) {
        out_error_retry(c, "S014", NULL, 30);
        return;
    }
    answer_like(c, liked, count, -1);
}

static void work_count(req_ctx_t *c)
{
    char ocid[80];
    if (!resolve_target(c, ocid))
        return;
    store_t *s = c->srv->app->store;
    int64_t count = 0;
    if (s->ops->like_count(s, ocid, &count) != STORE_OK) {
        out_error_retry(c, "S014", NULL, 30);
        return;
    }
    char data[64];
    snprintf(data, sizeof data, "{\"likeCount\":%lld}", (long long)count);
    out_envelope(c, data);
}

void h_like(req_ctx_t *c) { defer_work(c, work_like); }
void h_unlike(req_ctx_t *c) { defer_work(c, work_unlike); }
void h_like_status(req_ctx_t *c) { defer_work(c, work_status); }
void h_like_count(req_ctx_t *c) { defer_work(c, work_count); }
