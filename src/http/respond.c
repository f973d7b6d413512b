/*
 * respond.c - every response leaves through here: the common headers of 1.1 (security, CORS,
 * correlation id), the error JSON of 1.2, and gzip negotiation for cached bodies.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/gz.h"
#include "base/jw.h"
#include "http/http_internal.h"

typedef struct {
    const char *code;
    int status;
    const char *tmpl; /* %s filled with the argument */
} error_def_t;

static const error_def_t ERRORS[] = {
    {"C001", 400, "잘못된 입력값입니다: %s"},
    {"C002", 404, "존재하지 않는 캐릭터입니다 (IGN: %s)"},
    {"C006", 404, "No such endpoint: %s"},
    {"C007", 405, "Method %s not allowed"},
    {"C008", 413, "Request body exceeds %s bytes"},
    {"C009", 415, "Content-Type must be application/json"},
    {"C003", 400, "포인트가 부족합니다 (보유: %s)"},
    {"R001", 429, "요청 한도를 초과했습니다. %s초 후 다시 시도해주세요."},
    {"A001", 401, "유효하지 않은 API Key입니다."},
    {"A002", 403, "해당 캐릭터는 이 API Key 소유자의 캐릭터가 아닙니다 (IGN: %s)"},
    {"A003", 403, "자신의 캐릭터에는 좋아요를 누를 수 없습니다."},
    {"A005", 401, "인증이 필요합니다."},
    {"A006", 403, "접근 권한이 없습니다."},
    {"A007", 404, "유효하지 않은 Admin입니다."},
    {"A008", 404, "Admin의 Member 계정이 존재하지 않습니다."},
    {"A009", 404, "발신자 Member 계정이 존재하지 않습니다 (uuid: %s)"},
    {"A010", 401, "유효하지 않은 Refresh Token입니다."},
    {"A011", 401, "Refresh Token이 만료되었습니다. 다시 로그인해주세요."},
    {"A012", 401, "이미 사용된 토큰입니다. 보안을 위해 재로그인이 필요합니다."},
    {"A013", 401, "세션이 만료되었습니다. 다시 로그인해주세요."},
    {"A014", 400, "자기 자신의 Admin 권한은 제거할 수 없습니다."},
    {"A015", 400, "Bootstrap Admin은 제거할 수 없습니다."},
    {"A016", 404, "Admin not found: %s"},
    {"I001", 409, "Idempotency-Key %s was already used with a different request"},
    {"D001", 404, "해당 DLQ 항목을 찾을 수 없습니다 (ID: %s)"},
    {"D002", 409, "Outbox row for request %s is still active"},
    {"S002", 500, "치명적인 트랜잭션 오류가 발생했습니다. (%s)"},
    {"S014", 503, "Like service temporarily unavailable"},
    {"A017", 403, "허용되지 않는 오리진입니다."},
    {"S001", 500, "서버 내부 오류가 발생했습니다. (%s)"},
    {"S004", 500, "데이터 처리 중 오류 발생 (%s)"},
    {"S005", 503, "외부 API 호출 실패 (%s)"},
    {"S007", 503, "서비스가 일시적으로 사용할 수 없습니다. 잠시 후 다시 시도해주세요."},
    {"S010", 503, "외부 API 호출 시간 초과 (%s)"},
    {"S015", 503, "Lookup tables not initialized"},
    {"S018", 503, "Calculation queue is full"},
    {"S998", 500, "Compression failed"},
    {"U999", 500, "Unknown error"},
};

static const error_def_t *find_error(const char *code)
{
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++)
        if (!strcmp(ERRORS[i].code, code))
            return &ERRORS[i];
    return &ERRORS[sizeof ERRORS / sizeof ERRORS[0] - 1];
}

const char *origin_allowed(http_server_t *s, const char *origin)
{
    for (size_t i = 0; origin && i < s->n_origins; i++)
        if (!strcmp(s->origins[i], origin))
            return s->origins[i];
    return NULL;
}

void respond_common_headers(req_ctx_t *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "X-Correlation-ID", c->corr);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' "
                      "'unsafe-inline'; img-src 'self' data: https:; font-src 'self'; connect-src 'self'; "
                      "frame-ancestors 'none'; form-action 'self'; base-uri 'self';");
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(c->req), "Origin");
    const char *allowed = origin_allowed(c->srv, origin);
    if (allowed) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", allowed);
        evhttp_add_header(h, "Access-Control-Allow-Credentials", "true");
        evhttp_add_header(h, "Vary", "Origin");
    }
    if (c->rl_remaining >= 0) {
        char rl[24];
        snprintf(rl, sizeof rl, "%ld", c->rl_remaining);
        evhttp_add_header(h, "X-RateLimit-Remaining", rl);
    }
    if (atomic_load(&c->srv->listener_closed))
        evhttp_add_header(h, "Connection", "close"); /* 3.5 phase 2: keep-alive clients move on */
}

static void unref_val(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    cache_val_release(arg);
}

/* Common headers, content type and encoding, then the reply with body b (owned; may be NULL). */
static void send_reply(req_ctx_t *c, int status, const char *content_type, const char *encoding, struct evbuffer *b)
{
    respond_common_headers(c);
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    if (encoding && !strcmp(encoding, "gzip"))
        evhttp_add_header(h, "Content-Encoding", "gzip");
    c->encoding = encoding;
    c->status = status;
    c->bytes_out = b ? evbuffer_get_length(b) : 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    evhttp_send_reply(c->req, status, NULL, b);
    c->req = NULL;
    if (b)
        evbuffer_free(b);
}

void respond_bytes(req_ctx_t *c, int status, const char *content_type, const void *data, size_t len,
                   const char *encoding)
{
    if (!c->req)
        return;
    struct evbuffer *b = evbuffer_new();
    if (b && len)
        evbuffer_add(b, data, len);
    send_reply(c, status, content_type, encoding, b);
}

void respond_val(req_ctx_t *c, int status, const char *content_type, cache_val_t *v, const unsigned char *data,
                 size_t len, const char *encoding)
{
    if (!c->req)
        return;
    struct evbuffer *b = evbuffer_new();
    cache_val_retain(v); /* held by the buffer until the bytes are sent */
    if (!b || evbuffer_add_reference(b, data, len, unref_val, v) != 0)
        cache_val_release(v);
    send_reply(c, status, content_type, encoding, b);
}

void respond_json(req_ctx_t *c, int status, const char *json)
{
    respond_bytes(c, status, "application/json; charset=utf-8", json, strlen(json), NULL);
}

static void send_error(req_ctx_t *c, const error_def_t *e, const char *msg, int retry_after);

void respond_error(req_ctx_t *c, const char *code, const char *arg, int retry_after)
{
    if (!c->req)
        return;
    const error_def_t *e = find_error(code);
    char msg[1024];
    /* A template never leaves with a raw %s (1.2): a missing argument becomes "". */
    if (strstr(e->tmpl, "%s"))
        snprintf(msg, sizeof msg, e->tmpl, arg ? arg : "");
    else
        snprintf(msg, sizeof msg, "%s", e->tmpl);
    send_error(c, e, msg, retry_after);
}

void respond_error_message(req_ctx_t *c, const char *code, const char *message)
{
    if (c->req)
        send_error(c, find_error(code), message, 0);
}

static void send_error(req_ctx_t *c, const error_def_t *e, const char *msg, int retry_after)
{
    char ts[40];
    app_utc_rfc3339(clock_wall_ms(), ts);
    buf_t b;
    buf_init(&b, 8192);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "status");
    jw_int(&w, e->status);
    jw_key(&w, "code");
    jw_string(&w, e->code);
    jw_key(&w, "message");
    jw_string(&w, msg);
    jw_key(&w, "timestamp");
    jw_string(&w, ts);
    jw_object_end(&w);
    if (retry_after > 0 || e->status == 503) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after > 0 ? retry_after : 30);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", ra);
    }
    c->code = e->code;
    respond_bytes(c, e->status, "application/json; charset=utf-8", buf_ok(&b) ? b.data : "{}", buf_ok(&b) ? b.len : 2, NULL);
    buf_dispose(&b);
}

void respond_empty(req_ctx_t *c, int status, int retry_after)
{
    if (!c->req)
        return;
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", ra);
    }
    respond_bytes(c, status, NULL, NULL, 0, NULL);
}

void respond_gzip_part(req_ctx_t *c, cache_val_t *v, const unsigned char *gz, size_t len, bool stale)
{
    if (!c->req)
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Vary", "Accept-Encoding");
    if (stale)
        evhttp_add_header(h, "X-Data-Stale", "true");
    if (c->accept_gzip) {
        respond_val(c, 200, "application/json", v, gz, len, "gzip");
        return;
    }
    buf_t json;
    buf_init(&json, 64u << 20);
    if (gz_inflate(gz, len, &json) != 0) {
        buf_dispose(&json);
        respond_error(c, "S004", c->corr, 0);
        return;
    }
    respond_bytes(c, 200, "application/json; charset=utf-8", json.data, json.len, NULL);
    buf_dispose(&json);
}

/* app_rc_t -> the error of 1.2: code, template argument, Retry-After (0 = none). */
static const char *app_error(const req_ctx_t *c, int app_rc, const char **arg, int *retry_after)
{
    *arg = NULL;
    *retry_after = 0;
    switch ((app_rc_t)app_rc) {
    case APP_NOT_FOUND: *arg = c->ign; return "C002";
    case APP_UPSTREAM_FAILED: *arg = "Nexon Open API"; *retry_after = 30; return "S005";
    case APP_UPSTREAM_TIMEOUT: *arg = "Nexon Open API"; *retry_after = 30; return "S010";
    case APP_UNAVAILABLE: *retry_after = 30; return "S007";
    case APP_OVERLOADED: *retry_after = 60; return "S007";
    case APP_CORRUPT: *arg = c->corr; return "S004";
    case APP_OK:
    case APP_INTERNAL:
    default: *arg = c->corr; return "S001";
    }
}

void respond_app_error(req_ctx_t *c, int app_rc)
{
    const char *arg;
    int retry_after;
    const char *code = app_error(c, app_rc, &arg, &retry_after);
    respond_error(c, code, arg, retry_after);
}

void out_app_error(req_ctx_t *c, int app_rc)
{
    const char *arg;
    int retry_after;
    const char *code = app_error(c, app_rc, &arg, &retry_after);
    out_error_retry(c, code, arg, retry_after);
}
