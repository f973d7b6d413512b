/*
 * principal.c - who is calling (1.3): Bearer JWT -> session (L1 `session` cache 30 s, then the
 * store) -> fingerprint match and expiry -> principal; role from the admin set (bootstrap list
 * plus the runtime table through the L1 `admins` cache, 30 s). Any failure makes the caller
 * anonymous; a store that cannot be read is remembered so protected routes answer 503 S007
 * instead of 401 (M11).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/clock.h"
#include "http/http_internal.h"

void principal_clear(principal_t *p)
{
    free(p->user_ign);
    free(p->my_ocids_json);
    memset(p, 0, sizeof *p);
}

/* ---- admin set (SC-27) ------------------------------------------------------------------- */

bool admin_is_bootstrap(http_server_t *s, const char *fp)
{
    for (size_t i = 0; i < s->n_bootstrap_admins; i++)
        if (!strcmp(s->bootstrap_admins[i], fp))
            return true;
    return false;
}

/* The runtime set as "\nfp1\nfp2\n" (L1 `admins`, one entry). NULL when the store is down. */
static cache_val_t *runtime_admins(http_server_t *s)
{
    cache_val_t *v = NULL;
    if (l1_get(s->c_admins, "set", clock_mono_ms(), &v) == CACHE_FRESH)
        return v;
    if (v)
        cache_val_release(v);
    char **fps = NULL;
    size_t n = 0;
    store_t *st = s->app->store;
    if (st->ops->admin_list(st, &fps, &n) != STORE_OK)
        return NULL;
    buf_t b;
    buf_init(&b, 1u << 20);
    buf_putc(&b, '\n');
    for (size_t i = 0; i < n; i++) {
        buf_puts(&b, fps[i]);
        buf_putc(&b, '\n');
    }
    store_strings_free(fps, n);
    l1_put(s->c_admins, "set", b.data, b.len, clock_wall_ms(), clock_mono_ms(), 0, &v);
    buf_dispose(&b);
    return v;
}

bool admin_is(http_server_t *s, const char *fp)
{
    if (!fp || !*fp)
        return false;
    if (admin_is_bootstrap(s, fp))
        return true;
    cache_val_t *v = runtime_admins(s);
    if (!v)
        return false;
    char needle[80];
    snprintf(needle, sizeof needle, "\n%s\n", fp);
    bool found = strstr((const char *)v->data, needle) != NULL;
    cache_val_release(v);
    return found;
}

/* ---- sessions (SC-25) --------------------------------------------------------------------- */

/* Cached form: "fingerprint\naccount\nexpires_ms\nlast_ms\nuser_ign\nmy_ocids_json". */
static void cache_session(http_server_t *s, const store_session_t *ss)
{
    buf_t b;
    buf_init(&b, 1u << 20);
    buf_printf(&b, "%s\n%s\n%lld\n%lld\n%s\n%s", ss->fingerprint, ss->account_id, (long long)ss->expires_ms,
               (long long)ss->last_accessed_ms, ss->user_ign ? ss->user_ign : "", ss->my_ocids_json ? ss->my_ocids_json : "[]");
    if (buf_ok(&b))
        l1_put(s->c_session, ss->id, b.data, b.len, clock_wall_ms(), clock_mono_ms(), 0, NULL);
    buf_dispose(&b);
}

static bool parse_cached(const cache_val_t *v, store_session_t *out)
{
    char *copy = strndup((const char *)v->data, v->len);
    if (!copy)
        return false;
    /* five newline-terminated fields, then the JSON array (which may not contain a newline) */
    char *fields[6] = {copy};
    for (int i = 0; i < 5; i++) {
        char *nl = strchr(fields[i], '\n');
        if (!nl) {
            free(copy);
            return false;
        }
        *nl = '\0';
        fields[i + 1] = nl + 1;
    }
    snprintf(out->fingerprint, sizeof out->fingerprint, "%s", fields[0]);
    snprintf(out->account_id, sizeof out->account_id, "%s", fields[1]);
    out->expires_ms = strtoll(fields[2], NULL, 10);
    out->last_accessed_ms = strtoll(fields[3], NULL, 10);
    out->user_ign = strdup(fields[4]);
    out->my_ocids_json = strdup(fields[5]);
    free(copy);
    return true;
}

typedef enum { SESS_FOUND, SESS_ABSENT, SESS_UNAVAILABLE } sess_rc_t;

static sess_rc_t load_session(req_ctx_t *c, const char *id, store_session_t *out)
{
    http_server_t *s = c->srv;
    int64_t now = clock_wall_ms();
    cache_val_t *v = NULL;
    if (l1_get(s->c_session, id, clock_mono_ms(), &v) == CACHE_FRESH) {
        bool ok = parse_cached(v, out);
        cache_val_release(v);
        /* 2.3.10: a cached record that looks expired is re-read from the store before rejecting */
        if (ok && out->expires_ms > now) {
            snprintf(out->id, sizeof out->id, "%.36s", id);
            mfam_add(s->m_sessions, MX_LV("l1", "valid"), 1);
            return SESS_FOUND;
        }
        store_session_clear(out);
    } else if (v) {
        cache_val_release(v);
    }
    store_t *st = s->app->store;
    store_rc_t rc = st->ops->session_get(st, id, out);
    if (rc == STORE_UNAVAILABLE) {
        mfam_add(s->m_sessions, MX_LV("db", "unavailable"), 1);
        return SESS_UNAVAILABLE;
    }
    if (rc != STORE_OK || out->expires_ms <= now) {
        mfam_add(s->m_sessions, MX_LV("db", "invalid"), 1);
        if (rc == STORE_OK)
            store_session_clear(out);
        return SESS_ABSENT;
    }
    mfam_add(s->m_sessions, MX_LV("db", "valid"), 1);
    cache_session(s, out);
    return SESS_FOUND;
}

/* Sliding expiry, at most once per SESSION_TOUCH_S (2.3.10). */
static void touch(req_ctx_t *c, const store_session_t *ss)
{
    const config_t *cfg = c->srv->cfg;
    int64_t now = clock_wall_ms();
    if (now - ss->last_accessed_ms < (int64_t)cfg->session_touch_s * 1000)
        return;
    store_t *st = c->srv->app->store;
    if (st->ops->session_touch(st, ss->id, now, (int64_t)cfg->session_ttl_s * 1000,
                               (int64_t)cfg->session_touch_s * 1000) == STORE_OK)
        l1_evict(c->srv->c_session, ss->id);
}

static const char *bearer(const char *h)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

bool principal_verify_token(http_server_t *s, const char *authorization, jwt_claims_t *claims)
{
    const char *tok = bearer(authorization);
    if (!tok)
        return false;
    return jwt_verify(tok, s->jwt->keys, s->jwt->n, clock_wall_ms() / 1000, s->cfg->jwt_leeway_s, JWT_ISSUER,
                      claims) == JWT_OK;
}

void principal_resolve(req_ctx_t *c)
{
    jwt_claims_t claims;
    if (c->who.authenticated || !principal_verify_token(c->srv, c->in_authorization, &claims))
        return;
    store_session_t ss;
    memset(&ss, 0, sizeof ss);
    sess_rc_t rc = load_session(c, claims.sub, &ss);
    if (rc == SESS_UNAVAILABLE) {
        c->who.store_unavailable = true;
        return;
    }
    if (rc != SESS_FOUND)
        return;
    if (strcmp(ss.fingerprint, claims.fgp) != 0) {
        store_session_clear(&ss);
        return;
    }
    snprintf(ss.id, sizeof ss.id, "%.36s", claims.sub);
    touch(c, &ss);
    principal_t *p = &c->who;
    p->authenticated = true;
    snprintf(p->session_id, sizeof p->session_id, "%.36s", claims.sub);
    snprintf(p->fingerprint, sizeof p->fingerprint, "%s", ss.fingerprint);
    snprintf(p->account_id, sizeof p->account_id, "%s", ss.account_id);
    p->user_ign = ss.user_ign;
    p->my_ocids_json = ss.my_ocids_json;
    ss.user_ign = ss.my_ocids_json = NULL;
    store_session_clear(&ss);
    p->admin = admin_is(c->srv, p->fingerprint); /* role re-evaluated per request (1.3) */
}

bool principal_allows(req_ctx_t *c)
{
    auth_level_t need = c->route->auth;
    if (need == AUTH_PUBLIC)
        return true;
    principal_resolve(c);
    if (need == AUTH_OPTIONAL)
        return true;
    if (!c->who.authenticated) {
        if (c->who.store_unavailable)
            out_error_retry(c, "S007", NULL, 30);
        else
            out_error(c, "A005", NULL);
        return false;
    }
    if (need == AUTH_ADMIN && !c->who.admin) {
        out_error(c, "A006", NULL);
        return false;
    }
    return true;
}
