/*
 * deferred.c - handler bodies that touch the store or the upstream run on the `http` pool;
 * their answer (status, error code, JSON body) is recorded in the request context and sent
 * back on the loop thread. Also: the JSON body rules of 1.1 and the success envelope.
 */
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jw.h"
#include "http/http_internal.h"

#define JSON_MAX_DEPTH 50
#define JSON_MAX_STRING 100000
#define JSON_MAX_NAME 256

void out_error(req_ctx_t *c, const char *code, const char *arg)
{
    c->out_code = code;
    snprintf(c->out_arg, sizeof c->out_arg, "%s", arg ? arg : "");
}

void out_error_retry(req_ctx_t *c, const char *code, const char *arg, int retry_after)
{
    out_error(c, code, arg);
    c->out_retry_after = retry_after;
}

void out_envelope(req_ctx_t *c, const char *data_json)
{
    buf_reset(&c->out_body);
    buf_puts(&c->out_body, "{\"success\":true");
    if (data_json) {
        buf_puts(&c->out_body, ",\"data\":");
        buf_puts(&c->out_body, data_json);
    }
    buf_putc(&c->out_body, '}');
    c->out_status = 200;
}

static void answer(void *arg)
{
    req_ctx_t *c = arg;
    if (c->req) {
        if (c->out_message)
            respond_error_message(c, c->out_code, c->out_message);
        else if (c->out_code)
            respond_error(c, c->out_code, c->out_arg[0] ? c->out_arg : NULL, c->out_retry_after);
        else if (c->out_empty)
            respond_empty(c, c->out_status, c->out_retry_after);
        else if (c->out_gzip && c->result)
            respond_gzip_part(c, c->result, c->result->data, c->result->len, false);
        else if (!buf_ok(&c->out_body) || c->out_body.len == 0)
            respond_error(c, "S001", c->corr, 0);
        else
            respond_bytes(c, c->out_status ? c->out_status : 200, "application/json; charset=utf-8",
                          c->out_body.data, c->out_body.len, NULL);
    }
    req_done(c);
}

static void run(void *arg)
{
    req_ctx_t *c = arg;
    c->work(c);
    http_worker_post(c->w, answer, c);
}

static void expire(void *arg)
{
    req_ctx_t *c = arg;
    out_error_retry(c, "S007", NULL, 30);
    http_worker_post(c->w, answer, c);
}

static char *dup_header(req_ctx_t *c, const char *name)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(c->req), name);
    return v ? strdup(v) : NULL;
}

/* Everything the pool thread may read, copied while the request is known to be alive. */
static void snapshot_request(req_ctx_t *c)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    c->in_body_len = in ? evbuffer_get_length(in) : 0;
    if (c->in_body_len) {
        c->in_body = malloc(c->in_body_len + 1);
        if (c->in_body) {
            evbuffer_copyout(in, c->in_body, c->in_body_len);
            c->in_body[c->in_body_len] = '\0';
        } else {
            c->in_body_len = 0;
        }
    }
    c->in_authorization = dup_header(c, "Authorization");
    c->in_idempotency_key = dup_header(c, "Idempotency-Key");
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(c->req));
    c->in_query = q ? strdup(q) : NULL;
}

void defer_work(req_ctx_t *c, void (*work)(req_ctx_t *c))
{
    c->work = work;
    snapshot_request(c);
    buf_init(&c->out_body, 16u << 20);
    req_go_async(c);
    if (!pool_submit(c->srv->pool, run, expire, c, c->deadline_ms)) {
        mfam_add(c->srv->m_rejected, MX_LV("queue_full"), 1);
        respond_error(c, "S007", NULL, 60);
        req_done(c);
    }
}

/* ---- JSON bodies (1.1) -------------------------------------------------------------------- */

static bool within_limits(const cJSON *j, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return false;
    for (const cJSON *e = j; e; e = e->next) {
        if (e->string && strlen(e->string) > JSON_MAX_NAME)
            return false;
        if (cJSON_IsString(e) && e->valuestring && strlen(e->valuestring) > JSON_MAX_STRING)
            return false;
        if (e->child && !within_limits(e->child, depth + 1))
            return false;
    }
    return true;
}

cJSON *body_json(req_ctx_t *c)
{
    if (!c->in_body || c->in_body_len == 0) {
        out_error(c, "C001", "body: required");
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(c->in_body, c->in_body_len);
    if (!j) {
        c->out_code = "C001";
        c->out_message = "Invalid JSON format";
        return NULL;
    }
    if (!within_limits(j, 1)) {
        cJSON_Delete(j);
        c->out_code = "C001";
        c->out_message = "JSON exceeds size/depth limits";
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        out_error(c, "C001", "body: must be a JSON object");
        return NULL;
    }
    return j;
}
