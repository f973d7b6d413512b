/*
 * fn_admin.c - the /admin API of the fake Nexon server (README.md documents it): call counters,
 * fault injection, user keys for /character/list, the demo character list.
 *
 * Counters: one total, one per Nexon path, and one per "<path> <ocid-or-ign>" (the user key for
 * /character/list) in insertion order behind an FNV-1a open-addressing index; at most
 * FN_MAX_COUNTER_KEYS distinct names (calls past that only raise keys_overflow), so memory
 * stays bounded whatever the clients send.
 * Faults: one per Nexon path plus "*"; a request uses its path's fault, else "*". Which requests
 * an error_rate hits is decided by the fault's own PRNG, reseeded when the fault is set, so a
 * test run is reproducible.
 * Admin bodies are parsed strictly: unknown fields, wrong types and out-of-range values are 400
 * with {"error": "..."} naming the field.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "base/jw.h"
#include "fn_server_int.h"

#define ADMIN_BODY_CAP (256u << 20) /* /admin/calls with 200,000 counter names */
#define MAX_KEY_BYTES 256
#define MAX_RETRY_AFTER 86400
#define DEMO_USER_KEY "demo-user-key"
#define DEMO_ACCOUNT "demo-account-1"

/* ---- counters ---------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static size_t counter_slot(const fn_calls_t *c, const char *key, uint64_t h)
{
    size_t mask = c->index_size - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask)
        if (c->index[i] == 0 || strcmp(c->keys[c->index[i] - 1].key, key) == 0)
            return i;
}

static int counter_grow(fn_calls_t *c)
{
    size_t size = c->index_size ? c->index_size * 2 : 1024;
    uint32_t *index = calloc(size, sizeof *index);
    if (!index)
        return -1;
    free(c->index);
    c->index = index;
    c->index_size = size;
    for (size_t k = 0; k < c->count; k++)
        c->index[counter_slot(c, c->keys[k].key, fnv1a(c->keys[k].key))] = (uint32_t)(k + 1);
    return 0;
}

/* Room for one more counter in keys. */
static int counter_reserve(fn_calls_t *c)
{
    if (c->count < c->alloc)
        return 0;
    size_t alloc = c->alloc ? c->alloc * 2 : 256;
    fn_counter_t *keys = realloc(c->keys, alloc * sizeof *keys);
    if (!keys)
        return -1;
    c->keys = keys;
    c->alloc = alloc;
    return 0;
}

void fn_calls_count(fn_calls_t *c, nx_endpoint_t ep, const char *arg)
{
    c->total++;
    c->paths[ep]++;
    size_t plen = strlen(fn_nx_path(ep)), alen = strlen(arg);
    char *name = malloc(plen + alen + 2);
    if (!name) {
        c->overflow++;
        return;
    }
    snprintf(name, plen + alen + 2, "%s %s", fn_nx_path(ep), arg);
    uint64_t h = fnv1a(name);
    if (c->index_size) {
        size_t i = counter_slot(c, name, h);
        if (c->index[i] != 0) {
            c->keys[c->index[i] - 1].count++;
            free(name);
            return;
        }
    }
    if (c->count >= FN_MAX_COUNTER_KEYS) {
        c->overflow++;
        free(name);
        return;
    }
    if (((c->count + 1) * 2 > c->index_size && counter_grow(c) != 0) || counter_reserve(c) != 0) {
        free(name);
        c->overflow++;
        return;
    }
    c->keys[c->count] = (fn_counter_t){.key = name, .count = 1};
    c->index[counter_slot(c, name, h)] = (uint32_t)(c->count + 1);
    c->count++;
}

void fn_calls_clear(fn_calls_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->keys[i].key);
    free(c->keys);
    free(c->index);
    memset(c, 0, sizeof *c);
}

/* A key that comes from the client: escaped like a string (jw_key takes trusted literals). */
static void jw_dynamic_key(jw_t *w, const char *key)
{
    jw_string(w, key);
    buf_putc(w->out, ':');
    w->after_key = true;
}

/* Answers 200 with the document built in b (500 when it outgrew its cap), then disposes of b. */
static void reply_built(struct evhttp_request *req, buf_t *b)
{
    if (buf_ok(b))
        fn_reply_json(req, 200, b->data, b->len);
    else
        fn_reply_admin_error(req, 500, "out of memory");
    buf_dispose(b);
}

static void admin_calls(fn_server_t *s, struct evhttp_request *req)
{
    buf_t b;
    buf_init(&b, ADMIN_BODY_CAP);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "total");
    jw_int(&w, (int64_t)s->calls.total);
    jw_key(&w, "paths");
    jw_object_begin(&w);
    for (int ep = 0; ep < NX__COUNT; ep++) {
        jw_dynamic_key(&w, fn_nx_path((nx_endpoint_t)ep));
        jw_int(&w, (int64_t)s->calls.paths[ep]);
    }
    jw_object_end(&w);
    jw_key(&w, "keys");
    jw_object_begin(&w);
    for (size_t i = 0; i < s->calls.count; i++) {
        jw_dynamic_key(&w, s->calls.keys[i].key);
        jw_int(&w, (int64_t)s->calls.keys[i].count);
    }
    jw_object_end(&w);
    jw_key(&w, "keys_overflow");
    jw_int(&w, (int64_t)s->calls.overflow);
    jw_object_end(&w);
    reply_built(req, &b);
}

static void reply_ok(struct evhttp_request *req)
{
    static const char body[] = "{\"ok\":true}";
    fn_reply_json(req, 200, body, sizeof body - 1);
}

/* ---- faults ------------------------------------------------------------------------ */

fn_fault_t *fn_fault_for(fn_server_t *s, nx_endpoint_t ep)
{
    if (s->faults[ep].set)
        return &s->faults[ep];
    return s->faults[NX_ANY].set ? &s->faults[NX_ANY] : NULL;
}

/* An integral JSON number within [lo, hi]. */
static bool int_field(const cJSON *v, int lo, int hi, int *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi || v->valuedouble != (double)(int)v->valuedouble)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

static int parse_fault(const cJSON *doc, int *slot, fn_fault_t *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->set = true;
    f->error_rate = 1.0;
    const char *path = "*";
    const cJSON *v;
    cJSON_ArrayForEach(v, doc)
    {
        const char *k = v->string;
        bool ok = true;
        if (strcmp(k, "path") == 0) {
            ok = cJSON_IsString(v);
            path = ok ? v->valuestring : path;
        } else if (strcmp(k, "latency_ms") == 0) {
            ok = int_field(v, 0, FN_MAX_LATENCY_MS, &f->latency_ms);
        } else if (strcmp(k, "status") == 0) {
            ok = int_field(v, 0, 599, &f->status) && (f->status == 0 || f->status >= 400);
        } else if (strcmp(k, "error_rate") == 0) {
            ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1;
            f->error_rate = ok ? v->valuedouble : 0;
        } else if (strcmp(k, "retry_after") == 0) {
            ok = int_field(v, 0, MAX_RETRY_AFTER, &f->retry_after);
        } else if (strcmp(k, "mode") == 0) {
            ok = cJSON_IsString(v) && (strcmp(v->valuestring, "normal") == 0 || strcmp(v->valuestring, "close") == 0);
            f->close = ok && strcmp(v->valuestring, "close") == 0;
        } else {
            snprintf(err, errlen, "unknown field \"%.64s\" (path, latency_ms, status, error_rate, retry_after, mode)", k);
            return -1;
        }
        if (!ok) {
            static const char *const rules[][2] = {
                {"path", "a string"},
                {"latency_ms", "an integer 0..600000"},
                {"status", "0 or an integer 400..599"},
                {"error_rate", "a number 0..1"},
                {"retry_after", "an integer 0..86400"},
                {"mode", "\"normal\" or \"close\""},
            };
            for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
                if (strcmp(rules[r][0], k) == 0)
                    snprintf(err, errlen, "%s must be %s", k, rules[r][1]);
            return -1;
        }
    }
    *slot = -1;
    for (int ep = 0; ep <= NX_ANY; ep++)
        if (strcmp(path, fn_nx_path((nx_endpoint_t)ep)) == 0)
            *slot = ep;
    if (*slot < 0) {
        snprintf(err, errlen, "path must be \"*\" or one of the four Nexon paths");
        return -1;
    }
    fn_rng_seed(&f->rng, 0x6661756c74ull + (uint64_t)*slot); /* "fault" + slot: reproducible */
    return 0;
}

static void admin_faults_list(fn_server_t *s, struct evhttp_request *req)
{
    buf_t b;
    buf_init(&b, 1u << 20);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "faults");
    jw_array_begin(&w);
    for (int ep = 0; ep <= NX_ANY; ep++) {
        const fn_fault_t *f = &s->faults[ep];
        if (!f->set)
            continue;
        jw_object_begin(&w);
        jw_key(&w, "path");
        jw_string(&w, fn_nx_path((nx_endpoint_t)ep));
        jw_key(&w, "latency_ms");
        jw_int(&w, f->latency_ms);
        jw_key(&w, "status");
        jw_int(&w, f->status);
        jw_key(&w, "error_rate");
        jw_double(&w, f->error_rate);
        jw_key(&w, "retry_after");
        jw_int(&w, f->retry_after);
        jw_key(&w, "mode");
        jw_string(&w, f->close ? "close" : "normal");
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    fn_reply_json(req, 200, buf_cstr(&b), b.len);
    buf_dispose(&b);
}

/* The request body as a JSON object, or NULL after answering 400. */
static cJSON *json_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *data = len ? (const char *)evbuffer_pullup(in, -1) : NULL;
    cJSON *doc = data ? cJSON_ParseWithLength(data, len) : NULL;
    if (!doc) {
        fn_reply_admin_error(req, 400, len ? "the body is not valid JSON" : "the body is empty; a JSON object is expected");
        return NULL;
    }
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        fn_reply_admin_error(req, 400, "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

static void admin_faults_set(fn_server_t *s, struct evhttp_request *req)
{
    cJSON *doc = json_body(req);
    if (!doc)
        return;
    char err[256];
    int slot;
    fn_fault_t f;
    int rc = parse_fault(doc, &slot, &f, err, sizeof err);
    cJSON_Delete(doc);
    if (rc != 0) {
        fn_reply_admin_error(req, 400, err);
        return;
    }
    s->faults[slot] = f;
    admin_faults_list(s, req);
}

/* ---- users ------------------------------------------------------------------------- */

static void user_dispose(fn_user_t *u)
{
    for (size_t a = 0; a < u->count; a++) {
        for (size_t i = 0; i < u->accounts[a].count; i++)
            free(u->accounts[a].names[i]);
        free(u->accounts[a].names);
        free(u->accounts[a].id);
    }
    free(u->accounts);
    free(u->key);
    memset(u, 0, sizeof *u);
}

void fn_users_free(fn_server_t *s)
{
    for (size_t i = 0; i < s->user_count; i++)
        user_dispose(&s->users[i]);
    free(s->users);
    s->users = NULL;
    s->user_count = 0;
}

const fn_user_t *fn_user_find(const fn_server_t *s, const char *key)
{
    for (size_t i = 0; i < s->user_count; i++)
        if (strcmp(s->users[i].key, key) == 0)
            return &s->users[i];
    return NULL;
}

/* Add or replace (same key) a user; takes ownership of u's contents. */
static int user_store(fn_server_t *s, fn_user_t *u)
{
    for (size_t i = 0; i < s->user_count; i++) {
        if (strcmp(s->users[i].key, u->key) == 0) {
            user_dispose(&s->users[i]);
            s->users[i] = *u;
            return 0;
        }
    }
    if (s->user_count >= FN_MAX_USERS)
        return -1;
    fn_user_t *grown = realloc(s->users, (s->user_count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    s->users = grown;
    s->users[s->user_count++] = *u;
    return 0;
}

int fn_users_init(fn_server_t *s)
{
    fn_user_t u = {0};
    if (!(u.key = strdup(DEMO_USER_KEY)) || !(u.accounts = calloc(1, sizeof *u.accounts)))
        goto fail;
    u.count = 1;
    fn_account_t *a = &u.accounts[0];
    size_t n = fn_registry_demo_count(s->reg) < 3 ? fn_registry_demo_count(s->reg) : 3;
    if (!(a->id = strdup(DEMO_ACCOUNT)) || !(a->names = calloc(n ? n : 1, sizeof *a->names)))
        goto fail;
    for (; a->count < n; a->count++)
        if (!(a->names[a->count] = strdup(fn_registry_demo_name(s->reg, a->count))))
            goto fail;
    if (user_store(s, &u) == 0)
        return 0;
fail:
    user_dispose(&u);
    return -1;
}

static bool short_string(const cJSON *v) { return cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= MAX_KEY_BYTES; }

/* A user and each of its accounts share one shape: an object with exactly a name (a string of
 * 1..MAX_KEY_BYTES bytes) and a list (an array of at most max entries). The texts only name
 * things in the error messages. */
typedef struct {
    const char *unknown_prefix; /* before "unknown field ..." */
    const char *what;           /* subject of "... needs ..." */
    const char *name_field, *list_field;
    int max;
    const char *list_unit; /* after the maximum: " names" or "" */
} named_list_shape_t;

static const named_list_shape_t USER_SHAPE = {"", "a user", "key", "accounts", FN_MAX_ACCOUNTS, ""};
static const named_list_shape_t ACCOUNT_SHAPE = {"accounts[]: ", "accounts[]", "account_id", "characters",
                                                 FN_MAX_ACCOUNT_CHARS, " names"};

/* Checks doc against the shape. On success: a copy of the name in *name_out, a zeroed array of
 * one elem_size slot per list entry (at least one) in *slots_out, and the list in *list_out; on
 * failure the message in err and whatever was allocated in the outputs (the caller disposes). */
static int parse_named_list(const cJSON *doc, const named_list_shape_t *shape, size_t elem_size, char **name_out,
                            void **slots_out, const cJSON **list_out, char *err, size_t errlen)
{
    const cJSON *name = NULL, *list = NULL, *v;
    cJSON_ArrayForEach(v, doc)
    {
        if (strcmp(v->string, shape->name_field) == 0)
            name = v;
        else if (strcmp(v->string, shape->list_field) == 0)
            list = v;
        else {
            snprintf(err, errlen, "%sunknown field \"%.64s\" (%s, %s)", shape->unknown_prefix, v->string,
                     shape->name_field, shape->list_field);
            return -1;
        }
    }
    if (!short_string(name) || !cJSON_IsArray(list) || cJSON_GetArraySize(list) > shape->max) {
        snprintf(err, errlen, "%s needs %s (a string of 1..%d bytes) and %s (an array of at most %d%s)", shape->what,
                 shape->name_field, MAX_KEY_BYTES, shape->list_field, shape->max, shape->list_unit);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (!(*name_out = strdup(name->valuestring)) || !(*slots_out = calloc(n ? n : 1, elem_size))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *list_out = list;
    return 0;
}

static int parse_account(fn_server_t *s, const cJSON *doc, fn_account_t *a, char *err, size_t errlen)
{
    const cJSON *chars, *v;
    void *names = NULL;
    int rc = parse_named_list(doc, &ACCOUNT_SHAPE, sizeof *a->names, &a->id, &names, &chars, err, errlen);
    a->names = names;
    if (rc != 0)
        return -1;
    cJSON_ArrayForEach(v, chars)
    {
        fn_char_t c;
        if (!cJSON_IsString(v) || !fn_registry_by_name(s->reg, v->valuestring, strlen(v->valuestring), &c)) {
            snprintf(err, errlen, "characters: %.300s is not a character of the fake (demo, payload-dir or gen<digits>)",
                     cJSON_IsString(v) ? v->valuestring : "a non-string");
            return -1;
        }
        if (!(a->names[a->count++] = strdup(c.name))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int parse_user(fn_server_t *s, const cJSON *doc, fn_user_t *u, char *err, size_t errlen)
{
    const cJSON *accounts, *v;
    void *slots = NULL;
    int rc = parse_named_list(doc, &USER_SHAPE, sizeof *u->accounts, &u->key, &slots, &accounts, err, errlen);
    u->accounts = slots;
    if (rc != 0)
        return -1;
    cJSON_ArrayForEach(v, accounts)
    {
        if (!cJSON_IsObject(v)) {
            snprintf(err, errlen, "accounts[] must be objects");
            return -1;
        }
        if (parse_account(s, v, &u->accounts[u->count++], err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Generated members must resolve by ocid even if /id never handed them out. */
static int pin_members(fn_server_t *s, const fn_user_t *u)
{
    for (size_t a = 0; a < u->count; a++) {
        for (size_t i = 0; i < u->accounts[a].count; i++) {
            fn_char_t c;
            const char *name = u->accounts[a].names[i];
            if (fn_registry_by_name(s->reg, name, strlen(name), &c) && fn_registry_pin(s->reg, &c) != 0)
                return -1;
        }
    }
    return 0;
}

static void admin_users_add(fn_server_t *s, struct evhttp_request *req)
{
    cJSON *doc = json_body(req);
    if (!doc)
        return;
    char err[512];
    fn_user_t u = {0};
    int rc = parse_user(s, doc, &u, err, sizeof err);
    cJSON_Delete(doc);
    if (rc != 0) {
        user_dispose(&u);
        fn_reply_admin_error(req, 400, err);
        return;
    }
    size_t characters = 0;
    for (size_t a = 0; a < u.count; a++)
        characters += u.accounts[a].count;
    if (pin_members(s, &u) != 0 || user_store(s, &u) != 0) {
        user_dispose(&u);
        fn_reply_admin_error(req, 507, "too many users or pinned characters");
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof body, "{\"ok\":true,\"accounts\":%zu,\"characters\":%zu}", u.count, characters);
    fn_reply_json(req, 200, body, (size_t)n);
}

/* ---- characters -------------------------------------------------------------------- */

static void admin_characters(fn_server_t *s, struct evhttp_request *req)
{
    buf_t b;
    buf_init(&b, 64u << 20);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "characters");
    jw_array_begin(&w);
    for (size_t i = 0; i < fn_registry_demo_count(s->reg); i++)
        jw_string(&w, fn_registry_demo_name(s->reg, i));
    jw_array_end(&w);
    jw_key(&w, "details");
    jw_array_begin(&w);
    for (size_t i = 0; i < fn_registry_demo_count(s->reg); i++) {
        const char *name = fn_registry_demo_name(s->reg, i);
        fn_char_t c;
        if (!fn_registry_by_name(s->reg, name, strlen(name), &c))
            continue;
        fn_profile_t p;
        fn_char_profile(&c, &p);
        jw_object_begin(&w);
        jw_key(&w, "character_name");
        jw_string(&w, c.name);
        jw_key(&w, "ocid");
        jw_string(&w, c.ocid);
        jw_key(&w, "character_class");
        jw_string(&w, c.cls);
        jw_key(&w, "world_name");
        jw_string(&w, p.world);
        jw_key(&w, "character_level");
        jw_int(&w, p.level);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_key(&w, "payload_characters");
    jw_array_begin(&w);
    for (size_t i = 0; i < fn_registry_payload_count(s->reg); i++)
        jw_string(&w, fn_registry_payload_name(s->reg, i));
    jw_array_end(&w);
    jw_key(&w, "generated");
    jw_string(&w, "gen<1-9 digits>");
    jw_object_end(&w);
    reply_built(req, &b);
}

/* ---- routing ----------------------------------------------------------------------- */

void fn_admin_handle(fn_server_t *s, struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    if (strcmp(path, "/admin/calls") == 0 && get) {
        admin_calls(s, req);
    } else if (strcmp(path, "/admin/reset") == 0 && cmd == EVHTTP_REQ_POST) {
        fn_calls_clear(&s->calls);
        memset(s->faults, 0, sizeof s->faults);
        reply_ok(req);
    } else if (strcmp(path, "/admin/faults") == 0 && get) {
        admin_faults_list(s, req);
    } else if (strcmp(path, "/admin/faults") == 0 && cmd == EVHTTP_REQ_POST) {
        admin_faults_set(s, req);
    } else if (strcmp(path, "/admin/faults") == 0 && cmd == EVHTTP_REQ_DELETE) {
        memset(s->faults, 0, sizeof s->faults);
        admin_faults_list(s, req);
    } else if (strcmp(path, "/admin/users") == 0 && cmd == EVHTTP_REQ_POST) {
        admin_users_add(s, req);
    } else if (strcmp(path, "/admin/characters") == 0 && get) {
        admin_characters(s, req);
    } else {
        static const char *const known[] = {"/admin/calls", "/admin/reset", "/admin/faults", "/admin/users",
                                            "/admin/characters"};
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
            if (strcmp(path, known[i]) == 0) {
                fn_reply_admin_error(req, 405, "method not allowed on this admin path");
                return;
            }
        }
        fn_reply_admin_error(req, 404, "unknown admin path");
    }
}
