/*
 * h_admin.c - admin management (E16-E18), dead-letter administration (E19-E24) and the alert
 * test (E25), all ADMIN-only (1.9, 1.10). Bodies run on the `http` pool.
 */
#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "app/alert.h"
#include "auth/auth.h"
#include "base/clock.h"
#include "base/jw.h"
#include "http/http_internal.h"

bool query_param(req_ctx_t *c, const char *name, char *value, size_t cap)
{
    if (!c->in_query)
        return false;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    bool found = false;
    if (evhttp_parse_query_str(c->in_query, &kv) == 0) {
        const char *v = evhttp_find_header(&kv, name);
        if (v) {
            snprintf(value, cap, "%s", v);
            found = true;
        }
    }
    evhttp_clear_headers(&kv);
    return found;
}

/* ---- E16-E18 ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void work_admins_list(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    store_t *s = c->srv->app->store;
    char **runtime = NULL;
    size_t n = 0;
    if (s->ops->admin_list(s, &runtime, &n) != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    size_t total = n + c->srv->n_bootstrap_admins;
    char **all = calloc(total ? total : 1, sizeof *all);
    size_t k = 0;
    for (size_t i = 0; all && i < c->srv->n_bootstrap_admins; i++)
        all[k++] = c->srv->bootstrap_admins[i];
    for (size_t i = 0; all && i < n; i++)
        all[k++] = runtime[i];
    if (all)
        qsort(all, k, sizeof *all, cmp_str);
    buf_t b;
    buf_init(&b, 1u << 20);
    jw_t w;
    jw_init(&w, &b);
    jw_array_begin(&w);
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(all[i], all[i - 1]) != 0) /* bootstrap ∪ runtime, each once */
            jw_string(&w, all[i]);
    jw_array_end(&w);
    out_envelope(c, buf_cstr(&b));
    buf_dispose(&b);
    free(all);
    store_strings_free(runtime, n);
}

static void admin_message(req_ctx_t *c, const char *verb, const char *fp)
{
    char masked[32], msg[128];
    auth_mask(fp, masked, sizeof masked);
    snprintf(msg, sizeof msg, "\"Admin %s successfully: %s\"", verb, masked);
    out_envelope(c, msg);
}

static void work_admins_add(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    cJSON *j = body_json(c);
    if (!j)
        return;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "fingerprint");
    char fp[44] = "";
    if (cJSON_IsString(f) && valid_fingerprint(f->valuestring))
        snprintf(fp, sizeof fp, "%s", f->valuestring);
    cJSON_Delete(j);
    if (!fp[0]) {
        out_error(c, "C001", "fingerprint: must be 43 Base64URL characters");
        return;
    }
    store_t *s = c->srv->app->store;
    if (s->ops->admin_add(s, fp, c->who.fingerprint, clock_wall_ms()) != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    l1_clear(c->srv->c_admins); /* the admin-set invalidation (SC-27): this instance at once */
    admin_message(c, "added", fp);
}

static void work_admins_remove(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    if (!valid_fingerprint(c->param)) {
        out_error(c, "C001", "fingerprint: must be 43 Base64URL characters");
        return;
    }
    if (!strcmp(c->param, c->who.fingerprint)) {
        out_error(c, "A014", NULL);
        return;
    }
    if (admin_is_bootstrap(c->srv, c->param)) {
        out_error(c, "A015", NULL);
        return;
    }
    store_t *s = c->srv->app->store;
    store_rc_t rc = s->ops->admin_remove(s, c->param);
    if (rc == STORE_NOT_FOUND) {
        char masked[32];
        auth_mask(c->param, masked, sizeof masked);
        out_error(c, "A016", masked);
        return;
    }
    if (rc != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    l1_clear(c->srv->c_admins);
    admin_message(c, "removed", c->param);
}

void h_admins_list(req_ctx_t *c) { defer_work(c, work_admins_list); }
void h_admins_add(req_ctx_t *c) { defer_work(c, work_admins_add); }
void h_admins_remove(req_ctx_t *c) { defer_work(c, work_admins_remove); }

/* ---- E19-E24 ------------------------------------------------------------------------------ */

static bool dlq_queue(req_ctx_t *c, outbox_queue_t *q)
{
    char v[32];
    if (!query_param(c, "queue", v, sizeof v) || !strcmp(v, "donation")) {
        *q = OUTBOX_DONATION;
        return true;
    }
    if (!strcmp(v, "upstream")) {
        *q = OUTBOX_UPSTREAM;
        return true;
    }
    out_error(c, "C001", "queue: must be donation or upstream");
    return false;
}

/* Integer query parameter; absent -> def. false (400) when present and not an integer. */
static bool int_param(req_ctx_t *c, const char *name, long long def, long long *out)
{
    char v[32];
    *out = def;
    if (!query_param(c, name, v, sizeof v))
        return true;
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (!v[0] || *end) {
        char why[64];
        snprintf(why, sizeof why, "%s: must be an integer", name);
        out_error(c, "C001", why);
        return false;
    }
    *out = x;
    return true;
}

static void put_dlq_entry(jw_t *w, const store_dlq_row_t *r, bool full)
{
    char moved[40];
    app_utc_rfc3339(r->moved_ms, moved);
    jw_object_begin(w);
    jw_key(w, "id");
    jw_int(w, r->id);
    jw_key(w, "originalOutboxId");
    jw_int(w, r->original_outbox_id);
    jw_key(w, "requestId");
    jw_string(w, r->request_id);
    jw_key(w, "eventType");
    jw_string(w, r->event_type);
    const char *payload = r->payload ? r->payload : "";
    if (full) {
        jw_key(w, "payload");
        jw_string(w, payload);
    } else {
        /* first 100 characters (code points) + "..." when longer */
        size_t bytes = 0;
        int chars = 0;
        while (payload[bytes] && chars < 100) {
            bytes++;
            while ((payload[bytes] & 0xC0) == 0x80)
                bytes++;
            chars++;
        }
        buf_t p;
        buf_init(&p, 1024);
        buf_append(&p, payload, bytes);
        if (payload[bytes])
            buf_puts(&p, "...");
        jw_key(w, "payloadPreview");
        jw_string(w, buf_cstr(&p));
        buf_dispose(&p);
    }
    jw_key(w, "failureReason");
    if (r->failure_reason)
        jw_string(w, r->failure_reason);
    else
        jw_null(w);
    jw_key(w, "movedAt");
    jw_string(w, moved);
    jw_object_end(w);
}

/* Opens the list object of E19/E20 and writes its "content" array of n previews. */
static void begin_dlq_list(buf_t *b, jw_t *w, const store_dlq_row_t *rows, size_t n)
{
    buf_init(b, 16u << 20);
    jw_init(w, b);
    jw_object_begin(w);
    jw_key(w, "content");
    jw_array_begin(w);
    for (size_t i = 0; i < n; i++)
        put_dlq_entry(w, &rows[i], false);
    jw_array_end(w);
}

static void work_dlq_page(req_ctx_t *c)
{
    outbox_queue_t q;
    long long page, size;
    if (!principal_allows(c) || !dlq_queue(c, &q) || !int_param(c, "page", 0, &page) || !int_param(c, "size", 20, &size))
        return;
    if (page < 0) {
        out_error(c, "C001", "page: must be >= 0");
        return;
    }
    size = size <= 0 ? 20 : size > 100 ? 100 : size;
    store_dlq_row_t *rows = NULL;
    size_t n = 0;
    int64_t total = 0;
    store_t *s = c->srv->app->store;
    if (s->ops->dlq_page(s, q, page, (int)size, &rows, &n, &total) != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    int64_t pages = (total + size - 1) / size;
    buf_t b;
    jw_t w;
    begin_dlq_list(&b, &w, rows, n);
    jw_key(&w, "totalElements");
    jw_int(&w, total);
    jw_key(&w, "totalPages");
    jw_int(&w, pages);
    jw_key(&w, "number");
    jw_int(&w, page);
    jw_key(&w, "size");
    jw_int(&w, size);
    jw_key(&w, "numberOfElements");
    jw_int(&w, (int64_t)n);
    jw_key(&w, "first");
    jw_bool(&w, page == 0);
    jw_key(&w, "last");
    jw_bool(&w, page + 1 >= pages);
    jw_key(&w, "empty");
    jw_bool(&w, n == 0);
    jw_object_end(&w);
    out_envelope(c, buf_cstr(&b));
    buf_dispose(&b);
    store_dlq_rows_free(rows, n);
}

static void work_dlq_cursor(req_ctx_t *c)
{
    outbox_queue_t q;
    long long cursor, size;
    if (!principal_allows(c) || !dlq_queue(c, &q) || !int_param(c, "cursor", 0, &cursor) || !int_param(c, "size", 20, &size))
        return;
    if (cursor < 0 || size < 1 || size > 100) {
        out_error(c, "C001", cursor < 0 ? "cursor: must be >= 0" : "size: must be 1-100");
        return;
    }
    store_dlq_row_t *rows = NULL;
    size_t n = 0;
    store_t *s = c->srv->app->store;
    if (s->ops->dlq_after(s, q, cursor, (int)size, &rows, &n) != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    bool has_next = n > (size_t)size;
    size_t shown = has_next ? (size_t)size : n;
    buf_t b;
    jw_t w;
    begin_dlq_list(&b, &w, rows, shown);
    jw_key(&w, "nextCursor");
    if (shown)
        jw_int(&w, rows[shown - 1].id);
    else
        jw_null(&w);
    jw_key(&w, "hasNext");
    jw_bool(&w, has_next);
    jw_key(&w, "size");
    jw_int(&w, size);
    jw_object_end(&w);
    out_envelope(c, buf_cstr(&b));
    buf_dispose(&b);
    store_dlq_rows_free(rows, n);
}

static void work_dlq_count(req_ctx_t *c)
{
    outbox_queue_t q;
    if (!principal_allows(c) || !dlq_queue(c, &q))
        return;
    int64_t n = 0;
    store_t *s = c->srv->app->store;
    if (s->ops->dlq_count(s, q, &n) != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    char data[32];
    snprintf(data, sizeof data, "%lld", (long long)n);
    out_envelope(c, data);
}

static void id_text(req_ctx_t *c, char out[32]) { snprintf(out, 32, "%lld", (long long)c->id_param); }

static void work_dlq_get(req_ctx_t *c)
{
    outbox_queue_t q;
    if (!principal_allows(c) || !dlq_queue(c, &q))
        return;
    store_dlq_row_t r;
    memset(&r, 0, sizeof r);
    store_t *s = c->srv->app->store;
    store_rc_t rc = s->ops->dlq_get(s, q, c->id_param, &r);
    if (rc != STORE_OK) {
        char id[32];
        id_text(c, id);
        if (rc == STORE_NOT_FOUND)
            out_error(c, "D001", id);
        else
            out_error_retry(c, "S007", NULL, 30);
        return;
    }
    buf_t b;
    buf_init(&b, 16u << 20);
    jw_t w;
    jw_init(&w, &b);
    put_dlq_entry(&w, &r, true);
    out_envelope(c, buf_cstr(&b));
    buf_dispose(&b);
    free(r.payload); /* dlq_get fills a caller-owned struct: free its heap fields only */
    free(r.failure_reason);
}

static void work_dlq_reprocess(req_ctx_t *c)
{
    outbox_queue_t q;
    if (!principal_allows(c) || !dlq_queue(c, &q))
        return;
    bool conflict = false;
    int64_t outbox_id = 0;
    char request_id[101] = "";
    store_t *s = c->srv->app->store;
    store_rc_t rc = s->ops->dlq_reprocess(s, q, c->id_param, clock_wall_ms(), &conflict, &outbox_id, request_id);
    char id[32];
    id_text(c, id);
    if (rc == STORE_NOT_FOUND) {
        out_error(c, "D001", id);
        return;
    }
    if (rc != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    if (conflict) {
        out_error(c, "D002", request_id);
        return;
    }
    buf_t b;
    buf_init(&b, 4096);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "dlqId");
    jw_int(&w, c->id_param);
    jw_key(&w, "outboxId");
    jw_int(&w, outbox_id);
    jw_key(&w, "requestId");
    jw_string(&w, request_id);
    jw_key(&w, "message");
    jw_string(&w, "Successfully requeued to Outbox for reprocessing");
    jw_object_end(&w);
    out_envelope(c, buf_cstr(&b));
    buf_dispose(&b);
    mfam_add(c->srv->m_dlq_actions, MX_LV(q == OUTBOX_DONATION ? "donation" : "upstream", "reprocess"), 1);
}

static void work_dlq_discard(req_ctx_t *c)
{
    outbox_queue_t q;
    if (!principal_allows(c) || !dlq_queue(c, &q))
        return;
    store_t *s = c->srv->app->store;
    store_rc_t rc = s->ops->dlq_discard(s, q, c->id_param);
    char id[32], msg[96];
    id_text(c, id);
    if (rc == STORE_NOT_FOUND) {
        out_error(c, "D001", id);
        return;
    }
    if (rc != STORE_OK) {
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    snprintf(msg, sizeof msg, "\"DLQ entry discarded successfully: %s\"", id);
    out_envelope(c, msg);
    mfam_add(c->srv->m_dlq_actions, MX_LV(q == OUTBOX_DONATION ? "donation" : "upstream", "discard"), 1);
}

void h_dlq_page(req_ctx_t *c) { defer_work(c, work_dlq_page); }
void h_dlq_cursor(req_ctx_t *c) { defer_work(c, work_dlq_cursor); }
void h_dlq_count(req_ctx_t *c) { defer_work(c, work_dlq_count); }
void h_dlq_get(req_ctx_t *c) { defer_work(c, work_dlq_get); }
void h_dlq_reprocess(req_ctx_t *c) { defer_work(c, work_dlq_reprocess); }
void h_dlq_discard(req_ctx_t *c) { defer_work(c, work_dlq_discard); }

/* ---- E25 ---------------------------------------------------------------------------------- */

static bool valid_pattern(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
              s[n] == '.' || s[n] == '_' || s[n] == '-'))
            return false;
    return n >= 1 && n <= 64;
}

static void work_test_alert(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    char severity[16] = "info", pattern[80] = "test";
    query_param(c, "severity", severity, sizeof severity);
    query_param(c, "pattern", pattern, sizeof pattern);
    alert_severity_t sev;
    if (!alert_severity_parse(severity, &sev)) {
        out_error(c, "C001", "severity: must be info, warning or critical");
        return;
    }
    if (!valid_pattern(pattern)) {
        out_error(c, "C001", "pattern: 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    alert_raise(c->srv->app->alerts, sev, "test", pattern, "Test alert requested by an administrator", c->corr);
    out_envelope(c, "\"Test alert requested\"");
}

void h_test_alert(req_ctx_t *c)
{
    if (!c->srv->cfg->alerts_test_endpoint) {
        respond_error(c, "C006", c->path, 0);
        req_done(c);
        return;
    }
    defer_work(c, work_test_alert);
}
