/*
 * ratelimit.c - SC-08 on the loop thread, before any work: one token bucket per user
 * (fingerprint of a valid access token) or else per client address (1.11 client-address rule).
 * ADMIN callers and the actuator routes bypass. The buckets live behind coord.h (in-process here, Redis
 * in cluster mode); when they cannot be reached the request is allowed and the header omitted.
 */
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "http/http_internal.h"

bool rate_limit(req_ctx_t *c)
{
    const config_t *cfg = c->srv->cfg;
    if (!cfg->rate_limit_enabled)
        return true;
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Authorization");
    jwt_claims_t claims;
    char key[160];
    bool user = auth && principal_verify_token(c->srv, auth, &claims);
    if (user && admin_is(c->srv, claims.fgp))
        return true;
    if (user)
        snprintf(key, sizeof key, "rl:user:%.64s", claims.fgp);
    else
        snprintf(key, sizeof key, "rl:ip:%.64s", c->client_ip);
    int cap = user ? cfg->rl_user_capacity : cfg->rl_ip_capacity;
    int refill = user ? cfg->rl_user_refill : cfg->rl_ip_refill;
    int64_t period = (int64_t)(user ? cfg->rl_user_period_s : cfg->rl_ip_period_s) * 1000;
    int64_t remaining = 0, retry_ms = 0;
    coord_t *co = c->srv->app->coord;
    coord_rc_t rc = co->ops->rate_take(co, key, cap, refill, period, &remaining, &retry_ms);
    const char *scope = user ? "user" : "ip";
    if (rc == COORD_UNAVAILABLE)
        return true; /* degraded: allowed, no X-RateLimit-Remaining (1.1) */
    if (rc == COORD_OK) {
        c->rl_remaining = (long)remaining;
        mfam_add(c->srv->m_ratelimit, MX_LV(scope, "allowed", "local"), 1);
        return true;
    }
    mfam_add(c->srv->m_ratelimit, MX_LV(scope, "denied", "local"), 1);
    mfam_add(c->srv->m_rejected, MX_LV("rate_limited"), 1);
    long secs = (long)((retry_ms + 999) / 1000);
    if (secs < 1)
        secs = 1;
    char arg[32];
    snprintf(arg, sizeof arg, "%ld", secs);
    c->rl_remaining = 0;
    respond_error(c, "R001", arg, (int)secs);
    return false;
}
