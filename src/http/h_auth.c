/*
 * h_auth.c - login, refresh, logout, me (E11-E14, 1.7, SC-25, SC-26). "Bring your own key":
 * the user's Nexon API key proves ownership of a character; only its HMAC fingerprint is kept,
 * and the key is wiped from memory when the login ends (G9).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/clock.h"
#include "base/jw.h"
#include "http/http_internal.h"

#define API_KEY_MAX 256

static void count(mfam_t *f, const char *result) { mfam_add(f, MX_LV(result), 1); }

/* Mint an access token for a session. */
static bool mint(req_ctx_t *c, const char *session_id, const char *fp, bool admin, char *out, size_t cap)
{
    int64_t now = clock_wall_ms() / 1000;
    jwt_claims_t cl;
    memset(&cl, 0, sizeof cl);
    snprintf(cl.iss, sizeof cl.iss, "%s", JWT_ISSUER);
    snprintf(cl.sub, sizeof cl.sub, "%s", session_id);
    snprintf(cl.fgp, sizeof cl.fgp, "%s", fp);
    snprintf(cl.role, sizeof cl.role, "%s", admin ? "ADMIN" : "USER");
    cl.iat = cl.nbf = now;
    cl.exp = now + c->srv->cfg->jwt_ttl_s;
    return jwt_sign(&cl, &c->srv->jwt->keys[0], out, cap) > 0;
}

static char *string_field(cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v) || !v->valuestring)
        return NULL;
    const char *s = v->valuestring;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n ? strndup(s, n) : NULL;
}

static void wipe(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = 0;
    }
}

/* ---- E11 ---------------------------------------------------------------------------------- */

/* The upstream's answer for the user's key -> parsed list, or false with out_* set. */
static bool fetch_characters(req_ctx_t *c, const char *api_key, auth_charlist_t *list)
{
    buf_t body;
    buf_init(&body, 16u << 20);
    up_rc_t rc = nexon_get_character_list(c->srv->app->nexon, api_key, c->deadline_ms, &body);
    bool ok = false;
    if (rc == UP_KEY_REJECTED || rc == UP_NOT_FOUND) {
        count(c->srv->m_login, "invalid_key");
        out_error(c, "A001", NULL);
    } else if (rc != UP_OK) {
        count(c->srv->m_login, "upstream_error");
        if (rc == UP_TIMEOUT)
            out_error_retry(c, "S010", "Nexon Open API", 30);
        else
            out_error_retry(c, "S005", "Nexon Open API", 30);
    } else if (auth_parse_character_list(body.data, body.len, list) != 0) {
        count(c->srv->m_login, "upstream_error");
        out_error_retry(c, "S005", "Nexon Open API", 30);
    } else if (list->n_accounts == 0 || list->n_characters == 0) { /* A001: "or has no characters" */
        count(c->srv->m_login, "invalid_key");
        out_error(c, "A001", NULL);
        auth_charlist_dispose(list);
    } else {
        ok = true;
    }
    buf_dispose(&body);
    return ok;
}

static bool create_session(req_ctx_t *c, const char *fp, const char *ign, const auth_charlist_t *list, bool admin,
                           char session_id[37], char refresh[AUTH_FP_LEN + 1])
{
    store_t *s = c->srv->app->store;
    const config_t *cfg = c->srv->cfg;
    int64_t now = clock_wall_ms();
    store_session_t ss;
    memset(&ss, 0, sizeof ss);
    auth_uuid4(ss.id);
    snprintf(ss.fingerprint, sizeof ss.fingerprint, "%s", fp);
    auth_charlist_account_id(list, ss.account_id);
    ss.user_ign = (char *)ign;
    ss.my_ocids_json = auth_all_ocids_json(list);
    snprintf(ss.role, sizeof ss.role, "%s", admin ? "ADMIN" : "USER");
    ss.created_ms = ss.last_accessed_ms = now;
    ss.expires_ms = now + (int64_t)cfg->session_ttl_s * 1000;
    char family[37], hash[65];
    auth_uuid4(family);
    bool ok = ss.my_ocids_json && auth_new_refresh_token(refresh) == 0 && auth_token_hash(refresh, hash) == 0 &&
              s->ops->member_ensure(s, fp, now) == STORE_OK && s->ops->session_create(s, &ss) == STORE_OK &&
              s->ops->refresh_insert(s, hash, family, ss.id, fp, now, (int64_t)cfg->refresh_ttl_s * 1000) == STORE_OK;
    snprintf(session_id, 37, "%s", ss.id);
    free(ss.my_ocids_json);
    return ok;
}

static void login(req_ctx_t *c, char *api_key, const char *ign)
{
    auth_charlist_t list;
    memset(&list, 0, sizeof list);
    if (!fetch_characters(c, api_key, &list))
        return;
    if (!auth_owns_character(&list, ign)) {
        count(c->srv->m_login, "not_owner");
        out_error(c, "A002", ign);
        auth_charlist_dispose(&list);
        return;
    }
    char fp[AUTH_FP_LEN + 1], session_id[37], refresh[AUTH_FP_LEN + 1], token[JWT_MAX_LEN];
    auth_fingerprint(c->srv->fingerprint_secret, api_key, fp);
    bool admin = admin_is(c->srv, fp);
    bool ok = create_session(c, fp, ign, &list, admin, session_id, refresh) &&
              mint(c, session_id, fp, admin, token, sizeof token);
    auth_charlist_dispose(&list);
    if (!ok) {
        count(c->srv->m_login, "upstream_error");
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    buf_t b;
    buf_init(&b, 16384);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "accessToken");
    jw_string(&w, token);
    jw_key(&w, "accessExpiresIn");
    jw_int(&w, c->srv->cfg->jwt_ttl_s);
    jw_key(&w, "role");
    jw_string(&w, admin ? "ADMIN" : "USER");
    jw_key(&w, "fingerprint");
    jw_string(&w, fp);
    jw_key(&w, "refreshToken");
    jw_string(&w, refresh);
    jw_key(&w, "refreshExpiresIn");
    jw_int(&w, c->srv->cfg->refresh_ttl_s);
    jw_object_end(&w);
    out_envelope(c, buf_cstr(&b));
    buf_dispose(&b);
    count(c->srv->m_login, "ok");
}

static void work_login(req_ctx_t *c)
{
    cJSON *j = body_json(c);
    if (!j) {
        count(c->srv->m_login, "invalid_request");
        return;
    }
    char *key = string_field(j, "apiKey"), *ign = string_field(j, "userIgn");
    cJSON *key_node = cJSON_GetObjectItemCaseSensitive(j, "apiKey");
    if (cJSON_IsString(key_node))
        wipe(key_node->valuestring);
    cJSON_Delete(j);
    wipe(c->in_body); /* the request body holds the key: gone before anything else happens */
    if (!key || !ign || strlen(key) > API_KEY_MAX || strlen(ign) > 120) {
        count(c->srv->m_login, "invalid_request");
        out_error(c, "C001", !key ? "apiKey: required" : !ign ? "userIgn: required"
                              : strlen(key) > API_KEY_MAX ? "apiKey: at most 256 characters" : "userIgn: too long");
    } else {
        login(c, key, ign);
    }
    wipe(key);
    free(key);
    free(ign);
}

void h_login(req_ctx_t *c) { defer_work(c, work_login); }

/* ---- E12 ---------------------------------------------------------------------------------- */

static void work_refresh(req_ctx_t *c)
{
    cJSON *j = body_json(c);
    if (!j)
        return;
    char *old = string_field(j, "refreshToken");
    cJSON_Delete(j);
    wipe(c->in_body);
    if (!old || strlen(old) > 512) {
        out_error(c, "C001", "refreshToken: required");
        free(old);
        return;
    }
    char old_hash[65], fresh[AUTH_FP_LEN + 1], fresh_hash[65];
    auth_token_hash(old, old_hash);
    wipe(old);
    free(old);
    auth_new_refresh_token(fresh);
    auth_token_hash(fresh, fresh_hash);
    const config_t *cfg = c->srv->cfg;
    store_t *s = c->srv->app->store;
    refresh_rc_t outcome = REFRESH_UNKNOWN;
    store_session_t ss;
    memset(&ss, 0, sizeof ss);
    if (s->ops->refresh_rotate(s, old_hash, fresh_hash, clock_wall_ms(), (int64_t)cfg->refresh_ttl_s * 1000,
                               (int64_t)cfg->session_ttl_s * 1000, &outcome, &ss) != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    static const char *const codes[] = {NULL, "A010", "A011", "A012", "A013"};
    static const char *const results[] = {"ok", "unknown", "expired", "reused", "session_gone"};
    count(c->srv->m_refresh, results[outcome]);
    if (outcome != REFRESH_ROTATED) {
        if (outcome == REFRESH_REUSED && ss.id[0])
            l1_evict(c->srv->c_session, ss.id);
        store_session_clear(&ss);
        out_error(c, codes[outcome], NULL);
        return;
    }
    l1_evict(c->srv->c_session, ss.id);
    char token[JWT_MAX_LEN];
    bool ok = mint(c, ss.id, ss.fingerprint, admin_is(c->srv, ss.fingerprint), token, sizeof token);
    store_session_clear(&ss);
    if (!ok) {
        out_error(c, "S001", c->corr);
        return;
    }
    char data[JWT_MAX_LEN + 256];
    snprintf(data, sizeof data,
             "{\"accessToken\":\"%s\",\"accessExpiresIn\":%d,\"refreshToken\":\"%s\",\"refreshExpiresIn\":%d}", token,
             cfg->jwt_ttl_s, fresh, cfg->refresh_ttl_s);
    out_envelope(c, data);
}

void h_refresh(req_ctx_t *c) { defer_work(c, work_refresh); }

/* ---- E13 / E14 ---------------------------------------------------------------------------- */

static void work_logout(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    store_t *s = c->srv->app->store;
    store_rc_t rc = s->ops->session_delete(s, c->who.session_id);
    if (rc == STORE_UNAVAILABLE) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    l1_evict(c->srv->c_session, c->who.session_id); /* this instance at once (M15) */
    out_envelope(c, NULL);
}

static int ocid_count(const char *json)
{
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 0;
    cJSON_Delete(j);
    return n;
}

static void work_me(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    char data[512];
    snprintf(data, sizeof data, "{\"sessionId\":\"%s\",\"fingerprint\":\"%s\",\"role\":\"%s\",\"characterCount\":%d}",
             c->who.session_id, c->who.fingerprint, c->who.admin ? "ADMIN" : "USER", ocid_count(c->who.my_ocids_json));
    out_envelope(c, data);
}

void h_logout(req_ctx_t *c) { defer_work(c, work_logout); }
void h_me(req_ctx_t *c) { defer_work(c, work_me); }
