/*
 * h_actuator.c - operational endpoints E26-E30 (1.11, 4.2). Own bodies, no error shape, no
 * Retry-After (M21), never blocked by admission (3.4 rule 3). Details of E28, E29 and E30 only
 * for internal clients (loopback or METRICS_ALLOWED_CIDRS; 403 A006 otherwise).
 */
#include <event2/http.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/jw.h"
#include "http/http_internal.h"
#include "ops/version.h"

/* 1.11: loopback, or inside METRICS_ALLOWED_CIDRS (the client address after the proxy rule). */
static bool internal_client(req_ctx_t *c)
{
    static const cidr_t loopback[2] = {{AF_INET, {127}, 8}, {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128}};
    return cidr_match_any(loopback, 2, c->client_ip) ||
           cidr_match_any(c->srv->metrics_cidrs, c->srv->n_metrics_cidrs, c->client_ip);
}

static void own_json(req_ctx_t *c, int status, buf_t *b)
{
    respond_bytes(c, status, "application/json; charset=utf-8", b->data, b->len, NULL);
}

void h_liveness(req_ctx_t *c)
{
    bool live = lc_live(c->srv->app->lc, clock_mono_ms());
    respond_json(c, live ? 200 : 503, live ? "{\"status\":\"UP\"}" : "{\"status\":\"DOWN\"}");
    req_done(c);
}

void h_readiness(req_ctx_t *c)
{
    lc_state_t s = lc_state(c->srv->app->lc);
    char body[96];
    if (s == LC_READY)
        snprintf(body, sizeof body, "{\"status\":\"UP\",\"state\":\"READY\"}");
    else
        snprintf(body, sizeof body, "{\"status\":\"OUT_OF_SERVICE\",\"state\":\"%s\"}", lc_state_name(s));
    respond_json(c, s == LC_READY ? 200 : 503, body);
    req_done(c);
}

static void component(jw_t *w, const char *name, const char *status)
{
    jw_key(w, name);
    jw_object_begin(w);
    jw_key(w, "status");
    jw_string(w, status);
}

void h_health(req_ctx_t *c)
{
    app_t *a = c->srv->app;
    bool ready = lc_ready(a->lc);
    bool db_up = a->store->ops->ping(a->store) == STORE_OK;
    breaker_state_t up = breaker_state(nexon_breaker(a->nexon));
    const char *overall = !ready ? "DOWN" : (!db_up || up == BREAKER_OPEN) ? "DEGRADED" : "UP";
    buf_t b;
    buf_init(&b, 16384);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_string(&w, overall);
    if (internal_client(c)) {
        jw_key(&w, "components");
        jw_object_begin(&w);
        component(&w, "db", db_up ? "UP" : "DOWN");
        jw_key(&w, "kind");
        jw_string(&w, a->store->kind);
        jw_object_end(&w);
        component(&w, "redis", "NOT_CONFIGURED");
        jw_object_end(&w);
        component(&w, "upstream", up == BREAKER_OPEN ? "DOWN" : "UP");
        jw_key(&w, "circuit");
        jw_string(&w, breaker_state_name(up));
        jw_object_end(&w);
        component(&w, "lookupTables", a->tables ? "UP" : "DOWN");
        jw_key(&w, "checksum");
        jw_string(&w, a->tables_sha256);
        jw_object_end(&w);
        component(&w, "lifecycle", ready ? "UP" : "DOWN");
        jw_key(&w, "state");
        jw_string(&w, lc_state_name(lc_state(a->lc)));
        jw_object_end(&w);
        jw_object_end(&w);
    }
    jw_object_end(&w);
    own_json(c, ready ? 200 : 503, &b);
    buf_dispose(&b);
    req_done(c);
}

void h_info(req_ctx_t *c)
{
    if (!internal_client(c)) {
        respond_error(c, "A006", NULL, 0);
        req_done(c);
        return;
    }
    app_t *a = c->srv->app;
    char started[40];
    app_utc_rfc3339(a->started_wall_ms, started);
    buf_t b;
    buf_init(&b, 4096);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "version");
    jw_string(&w, MAPLEXP_VERSION);
    jw_key(&w, "commit");
    jw_string(&w, MAPLEXP_COMMIT);
    jw_key(&w, "mode");
    jw_string(&w, a->cfg->mode);
    jw_key(&w, "instanceId");
    jw_string(&w, a->instance_id);
    jw_key(&w, "startedAt");
    jw_string(&w, started);
    jw_key(&w, "lookupTablesChecksum");
    jw_string(&w, a->tables_sha256);
    jw_key(&w, "schemaVersion");
    jw_int(&w, a->store->ops->schema_version(a->store));
    jw_object_end(&w);
    own_json(c, 200, &b);
    buf_dispose(&b);
    req_done(c);
}

void h_prometheus(req_ctx_t *c)
{
    if (!internal_client(c)) {
        respond_error(c, "A006", NULL, 0);
        req_done(c);
        return;
    }
    buf_t b;
    buf_init(&b, 64u << 20);
    metrics_render(c->srv->app->metrics, &b);
    respond_bytes(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
    buf_dispose(&b);
    req_done(c);
}
