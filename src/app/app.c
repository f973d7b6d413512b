/*
 * app.c - character resolution and expectation computation (app.h).
 *
 * The read paths follow the cache catalogue of 2.3.1: L1 fresh -> (store) -> single-flight load
 * from the upstream -> on loader failure, an entry past soft expiry but before hard expiry (or
 * a stored snapshot of any age) is served as stale (SC-38). Everything here blocks and runs on
 * worker threads.
 */
#include "app/app.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/gz.h"
#include "auth/auth.h"
#include "base/hash.h"
#include "domain/equipment.h"
#include "domain/report.h"
#include "domain/valuation.h"
#include "ops/log.h"

#define JSON_CAP (64u << 20)
#define GZIP_LEVEL 6

const char *app_rc_name(app_rc_t rc)
{
    static const char *const n[] = {"ok", "not_found", "upstream_failed", "upstream_timeout",
                                    "unavailable", "overloaded", "corrupt", "internal"};
    return (unsigned)rc < sizeof n / sizeof n[0] ? n[rc] : "internal";
}

/* ---- time ----------------------------------------------------------------------------- */

void app_local_datetime(char out[40])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm); /* TZ is set to SERVICE_TIMEZONE at start-up */
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ld", date, (long)tv.tv_usec);
}

void app_local_day(char out[16])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

void app_utc_rfc3339(int64_t wall_ms, char out[40])
{
    time_t s = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03dZ", date, (int)(wall_ms % 1000));
}

/* ---- tables --------------------------------------------------------------------------- */

static const char *const TABLE_FILES[] = {"cube_probability.csv", "additional_potential_probability.csv"};

static int read_whole(const char *path, buf_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(out, tmp, n);
    int err = ferror(f);
    fclose(f);
    return err || !buf_ok(out) ? -1 : 0;
}

ptable_t *app_load_tables(const char *dir, char sha256_hex_out[65], char *err, size_t errlen)
{
    ptable_t *t = ptable_new();
    buf_t all;
    buf_init(&all, 256u << 20);
    int rc = t ? 0 : -1;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, TABLE_FILES[i]);
        size_t start = all.len;
        if (read_whole(path, &all) != 0) {
            snprintf(err, errlen, "LOOKUP_DIR: cannot read %s", path);
            rc = -1;
            break;
        }
        rc = ptable_add_csv(t, all.data + start, all.len - start, path, err, errlen);
    }
    if (rc == 0 && sha256_hex(all.data, all.len, sha256_hex_out) != 0) {
        snprintf(err, errlen, "cannot hash the lookup tables");
        rc = -1;
    }
    buf_dispose(&all);
    if (rc != 0) {
        ptable_free(t);
        return NULL;
    }
    ptable_finish(t);
    return t;
}

/* ---- helpers -------------------------------------------------------------------------- */

static app_rc_t from_upstream(up_rc_t rc)
{
    switch (rc) {
    case UP_OK: return APP_OK;
    case UP_NOT_FOUND: return APP_NOT_FOUND;
    case UP_TIMEOUT: return APP_UPSTREAM_TIMEOUT;
    case UP_OVERLOAD: return APP_UNAVAILABLE;
    case UP_KEY_REJECTED:
        log_emit(LOG_ERROR, "upstream", "call", NULL, "\"alert\":true,\"code\":\"S005\"",
                 "upstream rejected the server key (401/403): check NEXON_API_KEY");
        return APP_UPSTREAM_FAILED;
    default: return APP_UPSTREAM_FAILED;
    }
}

static char *dup_json_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && v->valuestring ? strdup(v->valuestring) : NULL;
}

void app_character_clear(app_character_t *c)
{
    free(c->world_name);
    free(c->character_class);
    free(c->character_image);
    memset(c, 0, sizeof *c);
}

static void take_row(app_character_t *out, store_character_t *row)
{
    snprintf(out->ocid, sizeof out->ocid, "%s", row->ocid ? row->ocid : "");
    out->world_name = row->world_name;
    out->character_class = row->character_class;
    out->character_image = row->character_image;
    row->world_name = row->character_class = row->character_image = NULL;
    out->character_level = row->character_level;
    out->like_count = row->like_count;
}

/* ---- OCID ----------------------------------------------------------------------------- */

typedef struct {
    app_t *a;
    const char *key;
    int64_t deadline_ms;
    bool relay;   /* a call of the upstream outbox relay: never enqueues again (H10) */
    up_rc_t up;   /* the upstream client's answer */
} load_arg_t;

/* SC-19: a server-key call that finally failed in a way waiting can fix is kept as one
 * de-duplicated outbox row, replayed by the relay once the breaker is closed again. */
static void enqueue_retry(load_arg_t *l, const char *event_type, up_rc_t rc)
{
    if (l->relay || (rc != UP_FAILED && rc != UP_TIMEOUT && rc != UP_BREAKER_OPEN))
        return;
    app_t *a = l->a;
    char request_id[37];
    bool inserted = false;
    store_rc_t src = auth_uuid4(request_id) == 0
                         ? a->store->ops->outbox_enqueue_upstream(a->store, request_id, event_type, l->key, NULL,
                                                                  clock_wall_ms(), &inserted)
                         : STORE_UNAVAILABLE;
    const char *result = src != STORE_OK ? "failed" : inserted ? "inserted" : "deduplicated";
    mfam_add(a->m_outbox_enqueued, MX_LV("upstream", event_type, result), 1);
    if (src != STORE_OK)
        log_emit(LOG_WARN, "upstream", "outbox", NULL, NULL, "could not keep a failed %s call for retry: %s",
                 event_type, store_rc_name(src));
}

static sf_result_t load_ocid(void *arg)
{
    load_arg_t *l = arg;
    char ocid[80];
    up_rc_t rc = l->up = nexon_get_ocid(l->a->nexon, l->key, l->deadline_ms, ocid, sizeof ocid);
    enqueue_retry(l, "GET_OCID", rc);
    if (rc == UP_NOT_FOUND) {
        l1_put(l->a->c_ocid_negative, l->key, "1", 1, clock_wall_ms(), clock_mono_ms(), 0, NULL);
        return (sf_result_t){APP_NOT_FOUND, NULL};
    }
    if (rc != UP_OK)
        return (sf_result_t){from_upstream(rc), NULL};
    cache_val_t *v = NULL;
    l1_put(l->a->c_ocid, l->key, ocid, strlen(ocid), clock_wall_ms(), clock_mono_ms(), 0, &v);
    if (!v)
        v = cache_val_new(ocid, strlen(ocid), clock_wall_ms());
    return (sf_result_t){v ? APP_OK : APP_INTERNAL, v};
}

static app_rc_t resolve_ocid(app_t *a, const char *ign, int64_t deadline_ms, char ocid[80], bool *stale)
{
    cache_val_t *v = NULL;
    if (l1_get(a->c_ocid, ign, clock_mono_ms(), &v) == CACHE_FRESH) {
        snprintf(ocid, 80, "%s", (const char *)v->data);
        cache_val_release(v);
        return APP_OK;
    }
    if (v)
        cache_val_release(v);
    load_arg_t arg = {a, ign, deadline_ms, false, UP_OK};
    int64_t wait = deadline_ms - clock_mono_ms();
    sf_result_t r = sf_do(a->sf_ocid, ign, load_ocid, &arg, wait > 0 ? wait : 0, APP_UNAVAILABLE, NULL);
    if (r.code == APP_OK && r.val) {
        snprintf(ocid, 80, "%s", (const char *)r.val->data);
        cache_val_release(r.val);
        return APP_OK;
    }
    if (r.val)
        cache_val_release(r.val);
    if (r.code == APP_NOT_FOUND)
        return APP_NOT_FOUND;
    /* Loader failed: serve an entry past soft expiry (SC-38). */
    if (l1_get(a->c_ocid, ign, clock_mono_ms(), &v) != CACHE_MISS) {
        snprintf(ocid, 80, "%s", (const char *)v->data);
        cache_val_release(v);
        *stale = true;
        return APP_OK;
    }
    return (app_rc_t)r.code;
}

/* ---- basic info (enrichment) ---------------------------------------------------------- */

static sf_result_t load_basic(void *arg)
{
    load_arg_t *l = arg;
    buf_t body;
    buf_init(&body, 1u << 20);
    up_rc_t rc = l->up = nexon_get_basic(l->a->nexon, l->key, l->deadline_ms, &body);
    enqueue_retry(l, "GET_CHARACTER_BASIC", rc);
    cache_val_t *v = NULL;
    if (rc == UP_OK)
        l1_put(l->a->c_basic, l->key, body.data, body.len, clock_wall_ms(), clock_mono_ms(), 0, &v);
    buf_dispose(&body);
    if (rc != UP_OK)
        return (sf_result_t){from_upstream(rc), NULL};
    return (sf_result_t){v ? APP_OK : APP_INTERNAL, v};
}

/* Parses a /character/basic body and writes its fields to the character row (best effort).
 * false when the body is not JSON; on true *b holds owned strings (free with basic_clear). */
static bool store_basic(app_t *a, const char *ocid, const cache_val_t *v, store_basic_t *b)
{
    cJSON *j = cJSON_ParseWithLength((const char *)v->data, v->len);
    if (!j)
        return false;
    const cJSON *lvl = cJSON_GetObjectItemCaseSensitive(j, "character_level");
    *b = (store_basic_t){dup_json_string(j, "world_name"), dup_json_string(j, "character_class"),
                         dup_json_string(j, "character_image"), cJSON_IsNumber(lvl) ? lvl->valueint : 0};
    cJSON_Delete(j);
    (void)a->store->ops->character_set_basic(a->store, ocid, b, clock_wall_ms());
    return true;
}

static void basic_clear(store_basic_t *b)
{
    free((char *)b->world_name);
    free((char *)b->character_class);
    free((char *)b->character_image);
}

/* Enrichment of E01: the row is updated and the caller's character takes the new fields. */
static void apply_basic(app_t *a, app_character_t *out, const cache_val_t *v)
{
    store_basic_t b;
    if (!store_basic(a, out->ocid, v, &b))
        return;
    free(out->world_name);
    free(out->character_class);
    free(out->character_image);
    out->world_name = (char *)b.world_name;
    out->character_class = (char *)b.character_class;
    out->character_image = (char *)b.character_image;
    out->character_level = b.character_level;
}

static void enrich(app_t *a, app_character_t *out, int64_t deadline_ms)
{
    cache_val_t *v = NULL;
    if (l1_get(a->c_basic, out->ocid, clock_mono_ms(), &v) != CACHE_FRESH) {
        if (v)
            cache_val_release(v);
        load_arg_t arg = {a, out->ocid, deadline_ms, false, UP_OK};
        int64_t wait = deadline_ms - clock_mono_ms();
        sf_result_t r = sf_do(a->sf_basic, out->ocid, load_basic, &arg, wait > 0 ? wait : 0, APP_UNAVAILABLE, NULL);
        v = r.val;
        if (r.code != APP_OK) {
            if (v)
                cache_val_release(v);
            return; /* E01: enrichment failure is ignored (stale fields returned) */
        }
    }
    if (v) {
        apply_basic(a, out, v);
        cache_val_release(v);
    }
}

app_rc_t app_resolve_character(app_t *a, const char *ign, bool want_enrich, int64_t deadline_ms, app_character_t *out)
{
    memset(out, 0, sizeof *out);
    cache_val_t *neg = NULL;
    if (l1_get(a->c_ocid_negative, ign, clock_mono_ms(), &neg) == CACHE_FRESH) {
        cache_val_release(neg);
        return APP_NOT_FOUND;
    }
    if (neg)
        cache_val_release(neg);
    store_character_t row = {0};
    store_rc_t src = a->store->ops->character_by_ign(a->store, ign, &row);
    int64_t basic_ms = 0;
    if (src == STORE_OK) {
        take_row(out, &row);
        basic_ms = row.basic_info_updated_ms;
        store_character_clear(&row);
    } else {
        app_rc_t rc = resolve_ocid(a, ign, deadline_ms, out->ocid, &out->stale);
        if (rc != APP_OK)
            return rc;
        /* M22: with the database down the row is not created now; the view record creates it. */
        if (a->store->ops->character_upsert(a->store, out->ocid, ign, &row) == STORE_OK) {
            take_row(out, &row);
            basic_ms = row.basic_info_updated_ms;
            store_character_clear(&row);
            l1_evict(a->c_ocid_negative, ign);
        }
    }
    bool old = clock_wall_ms() - basic_ms > (int64_t)a->cfg->basic_refresh_s * 1000;
    if (want_enrich && (!out->world_name || old))
        enrich(a, out, deadline_ms);
    return APP_OK;
}

/* ---- the upstream outbox relay's calls (SC-19) ---------------------------------------- */

static sf_result_t load_equipment(void *arg);

up_rc_t app_refetch(app_t *a, const char *event_type, const char *payload, int64_t deadline_ms)
{
    load_arg_t arg = {a, payload, deadline_ms, true, UP_FAILED};
    sf_result_t r = {APP_INTERNAL, NULL};
    if (!strcmp(event_type, "GET_OCID")) {
        r = load_ocid(&arg);
        store_character_t row = {0};
        if (r.code == APP_OK && r.val &&
            a->store->ops->character_upsert(a->store, (const char *)r.val->data, payload, &row) == STORE_OK) {
            store_character_clear(&row);
            l1_evict(a->c_ocid_negative, payload);
        }
    } else if (!strcmp(event_type, "GET_CHARACTER_BASIC")) {
        r = load_basic(&arg);
        store_basic_t b;
        if (r.code == APP_OK && r.val && store_basic(a, payload, r.val, &b))
            basic_clear(&b);
    } else if (!strcmp(event_type, "GET_ITEM_DATA")) {
        r = load_equipment(&arg);
    } else {
        return UP_NOT_FOUND; /* unknown event type: nothing to replay */
    }
    if (r.val)
        cache_val_release(r.val);
    return arg.up;
}

/* ---- equipment ------------------------------------------------------------------------ */

static void offer_snapshot(app_t *a, const char *ocid, const void *json, size_t json_len, const buf_t *gz)
{
    char sha[65];
    if (sha256_hex(json, json_len, sha) != 0)
        return;
    wb_record_t r = {.kind = WB_SNAPSHOT, .ocid = ocid, .json_gzip = (const unsigned char *)gz->data,
                     .json_gzip_len = gz->len, .content_sha256 = sha, .fetched_ms = clock_wall_ms()};
    writeback_offer(a->wb, &r);
}

static sf_result_t load_equipment(void *arg)
{
    load_arg_t *l = arg;
    buf_t body, gz;
    buf_init(&body, 16u << 20);
    buf_init(&gz, 16u << 20);
    up_rc_t rc = l->up = nexon_get_equipment(l->a->nexon, l->key, l->deadline_ms, &body);
    enqueue_retry(l, "GET_ITEM_DATA", rc);
    cache_val_t *v = NULL;
    if (rc == UP_OK && gz_deflate(body.data, body.len, GZIP_LEVEL, &gz) == 0) {
        l1_put(l->a->c_equipment, l->key, gz.data, gz.len, clock_wall_ms(), clock_mono_ms(), 0, &v);
        if (!v)
            v = cache_val_new(gz.data, gz.len, clock_wall_ms());
        offer_snapshot(l->a, l->key, body.data, body.len, &gz);
    }
    buf_dispose(&body);
    buf_dispose(&gz);
    if (rc != UP_OK)
        return (sf_result_t){from_upstream(rc), NULL};
    return (sf_result_t){v ? APP_OK : APP_INTERNAL, v};
}

static app_rc_t inflate_into(const void *gzdata, size_t len, buf_t *json)
{
    buf_reset(json);
    return gz_inflate(gzdata, len, json) == 0 ? APP_OK : APP_CORRUPT;
}

/* Equipment JSON of ocid into json (2.3.1 `equipment`, SC-39). */
static app_rc_t load_equipment_json(app_t *a, const char *ocid, bool force, int64_t deadline_ms, buf_t *json,
                                    bool *stale)
{
    cache_val_t *v = NULL;
    if (!force && l1_get(a->c_equipment, ocid, clock_mono_ms(), &v) == CACHE_FRESH) {
        app_rc_t rc = inflate_into(v->data, v->len, json);
        cache_val_release(v);
        return rc;
    }
    if (v)
        cache_val_release(v);
    store_snapshot_t snap = {0};
    bool have_snap = a->store->ops->snapshot_get(a->store, ocid, &snap) == STORE_OK;
    if (!force && have_snap && clock_wall_ms() - snap.updated_ms <= (int64_t)a->cfg->equipment_fresh_s * 1000) {
        l1_put(a->c_equipment, ocid, snap.json_gzip, snap.json_gzip_len, snap.fetched_ms, clock_mono_ms(), 0, NULL);
        app_rc_t rc = inflate_into(snap.json_gzip, snap.json_gzip_len, json);
        store_snapshot_clear(&snap);
        return rc;
    }
    load_arg_t arg = {a, ocid, deadline_ms, false, UP_OK};
    int64_t wait = deadline_ms - clock_mono_ms();
    sf_result_t r = sf_do(a->sf_equipment, ocid, load_equipment, &arg, wait > 0 ? wait : 0, APP_UNAVAILABLE, NULL);
    app_rc_t rc = (app_rc_t)r.code;
    if (rc == APP_OK && r.val)
        rc = inflate_into(r.val->data, r.val->len, json);
    if (r.val)
        cache_val_release(r.val);
    if (rc != APP_OK && rc != APP_NOT_FOUND && rc != APP_CORRUPT) {
        /* Upstream down: L1 within its stale grace, else the stored snapshot of any age. */
        if (l1_get(a->c_equipment, ocid, clock_mono_ms(), &v) != CACHE_MISS) {
            rc = inflate_into(v->data, v->len, json);
            cache_val_release(v);
            *stale = true;
        } else if (have_snap) {
            rc = inflate_into(snap.json_gzip, snap.json_gzip_len, json);
            *stale = true;
        }
    }
    if (have_snap)
        store_snapshot_clear(&snap);
    return rc;
}

/* ---- expectation ---------------------------------------------------------------------- */

/* Bundle layout: [u8 flags][u8 parts][u32 len[parts]] then the parts back to back. */
#define BUNDLE_HDR (2 + 4 * BUNDLE_PARTS)

bool bundle_part(const cache_val_t *b, int part, const unsigned char **data, size_t *len)
{
    if (!b || b->len < BUNDLE_HDR || part < 0 || part >= b->data[1])
        return false;
    size_t off = BUNDLE_HDR;
    for (int i = 0; i <= part; i++) {
        uint32_t n;
        memcpy(&n, b->data + 2 + 4 * i, 4);
        if (i == part) {
            if (off + n > b->len)
                return false;
            *data = b->data + off;
            *len = n;
            return n > 0;
        }
        off += n;
    }
    return false;
}

bool bundle_stale(const cache_val_t *b) { return b && b->len >= 1 && (b->data[0] & 1); }

static int render_gzip(const valuation_t *v, const report_meta_t *meta, buf_t *json, buf_t *gz)
{
    buf_reset(json);
    if (report_v4_json(v, meta, json) != 0)
        return -1;
    return gz_deflate(json->data, json->len, GZIP_LEVEL, gz);
}

static void summarize(const valuation_t *v, store_preset_summary_t *s, size_t *n)
{
    *n = 0;
    for (int p = 0; p < v->preset_count && *n < 3; p++) {
        const val_preset_t *pr = &v->presets[p];
        s[(*n)++] = (store_preset_summary_t){pr->preset_no, pr->total, pr->breakdown.black.value,
                                              pr->breakdown.red.value, pr->breakdown.additional.value,
                                              pr->breakdown.starforce.value};
    }
}

static void offer_view(app_t *a, const char *ign, const char *ocid, const valuation_t *v, int64_t calc_ms,
                       const buf_t *v5_gz)
{
    store_preset_summary_t sums[3];
    size_t n = 0;
    summarize(v, sums, &n);
    const val_preset_t *max = v->max_index >= 0 ? &v->presets[v->max_index] : NULL;
    wb_record_t r = {.kind = WB_VIEW, .ocid = ocid, .user_ign = ign,
                     .total_expected_cost = max ? max->total : 0, .max_preset_no = max ? max->preset_no : 0,
                     .calculated_ms = calc_ms, .logic_version = APP_LOGIC_VERSION,
                     .lookup_checksum = a->tables_sha256, .body_gzip = (const unsigned char *)v5_gz->data,
                     .body_gzip_len = v5_gz->len, .presets = sums, .preset_count = n};
    writeback_offer(a->wb, &r);
}

/* Renders the four cached V4 views and the V5 body; builds the bundle value. */
static cache_val_t *render_all(app_t *a, const char *ign, const char *ocid, const valuation_t *v, bool stale)
{
    char local[40], utc[40];
    app_local_datetime(local);
    int64_t now_ms = clock_wall_ms();
    app_utc_rfc3339(now_ms, utc);
    buf_t json, parts[BUNDLE_PARTS], v5;
    buf_init(&json, JSON_CAP);
    buf_init(&v5, JSON_CAP);
    int rc = 0;
    for (int p = 0; p < BUNDLE_PARTS; p++) {
        buf_init(&parts[p], JSON_CAP);
        report_meta_t meta = {ign, local, true, p};
        if (rc == 0)
            rc = render_gzip(v, &meta, &json, &parts[p]);
    }
    report_meta_t m5 = {ign, utc, true, 0};
    if (rc == 0)
        rc = render_gzip(v, &m5, &json, &v5);
    cache_val_t *bundle = NULL;
    if (rc == 0) {
        buf_t b;
        buf_init(&b, JSON_CAP);
        buf_putc(&b, (char)(stale ? 1 : 0));
        buf_putc(&b, BUNDLE_PARTS);
        for (int p = 0; p < BUNDLE_PARTS; p++) {
            uint32_t n = (uint32_t)parts[p].len;
            buf_append(&b, &n, 4);
        }
        for (int p = 0; p < BUNDLE_PARTS; p++)
            buf_append(&b, parts[p].data, parts[p].len);
        if (buf_ok(&b))
            bundle = cache_val_new(b.data, b.len, now_ms);
        buf_dispose(&b);
        if (!stale) /* a view is only recorded from fresh data */
            offer_view(a, ign, ocid, v, now_ms, &v5);
    }
    for (int p = 0; p < BUNDLE_PARTS; p++)
        buf_dispose(&parts[p]);
    buf_dispose(&json);
    buf_dispose(&v5);
    return bundle;
}

/* The valuation borrows item text from the document: free *doc only after rendering. */
static app_rc_t value_equipment(app_t *a, const buf_t *json, equip_doc_t **doc, valuation_t **val)
{
    char err[256];
    if (equip_parse(json->data, json->len, doc, err, sizeof err) != 0) {
        log_emit(LOG_ERROR, "expectation", "decode", NULL, NULL, "equipment payload rejected: %s", err);
        return APP_CORRUPT;
    }
    val_options_t opt = {0};
    return valuation_compute(a->tables, *doc, &opt, val) == 0 ? APP_OK : APP_INTERNAL;
}

static void count_computation(app_t *a, const char *trigger, app_rc_t rc, int64_t t0_us)
{
    const char *outcome = rc == APP_OK ? "ok" : rc == APP_NOT_FOUND ? "not_found"
                        : rc == APP_UPSTREAM_TIMEOUT ? "timeout" : "error";
    mfam_add(a->m_computations, MX_LV(trigger, outcome), 1);
    mfam_observe(a->m_computation_seconds, MX_LV(trigger), (double)(clock_mono_us() - t0_us) / 1e6);
}

app_rc_t app_compute_expectation(app_t *a, const char *ign, bool force, int64_t deadline_ms, const char *trigger,
                                 cache_val_t **bundle)
{
    *bundle = NULL;
    int64_t t0 = clock_mono_us();
    app_character_t ch;
    app_rc_t rc = app_resolve_character(a, ign, true, deadline_ms, &ch);
    buf_t json;
    buf_init(&json, 64u << 20);
    bool stale = ch.stale;
    if (rc == APP_OK)
        rc = load_equipment_json(a, ch.ocid, force, deadline_ms, &json, &stale);
    valuation_t *val = NULL;
    equip_doc_t *doc = NULL;
    if (rc == APP_OK)
        rc = value_equipment(a, &json, &doc, &val);
    if (rc == APP_OK) {
        *bundle = render_all(a, ign, ch.ocid, val, stale);
        rc = *bundle ? APP_OK : APP_INTERNAL;
    }
    if (rc == APP_OK) {
        unsigned ttl = stale ? (unsigned)a->cfg->cache_degraded_l1_ttl_s : 0;
        l1_put(a->c_expectation, ign, (*bundle)->data, (*bundle)->len, (*bundle)->produced_ms, clock_mono_ms(), ttl, NULL);
    } else if (rc != APP_NOT_FOUND) {
        /* Stale-if-error (SC-38): the previous result within its grace. */
        cache_val_t *old = NULL;
        if (l1_get(a->c_expectation, ign, clock_mono_ms(), &old) == CACHE_STALE) {
            *bundle = old;
            rc = APP_OK;
            stale = true;
        } else if (old) {
            cache_val_release(old);
        }
    }
    valuation_free(val);
    if (doc)
        equip_free(doc);
    buf_dispose(&json);
    app_character_clear(&ch);
    count_computation(a, trigger, rc, t0);
    return rc;
}

typedef struct {
    app_t *a;
    const char *ign, *trigger;
    bool force;
    int64_t deadline_ms;
} expect_arg_t;

static sf_result_t load_expectation(void *arg)
{
    expect_arg_t *e = arg;
    cache_val_t *b = NULL;
    app_rc_t rc = app_compute_expectation(e->a, e->ign, e->force, e->deadline_ms, e->trigger, &b);
    return (sf_result_t){rc, b};
}

app_rc_t app_expectation_coalesced(app_t *a, const char *ign, bool force, int64_t deadline_ms, const char *trigger,
                                   cache_val_t **bundle, bool *led)
{
    expect_arg_t arg = {a, ign, trigger, force, deadline_ms};
    sf_role_t role = SF_FOLLOWER;
    int64_t wait = deadline_ms - clock_mono_ms();
    sf_result_t r = sf_do(a->sf_expectation, ign, load_expectation, &arg, wait > 0 ? wait : 0, APP_UNAVAILABLE, &role);
    *bundle = r.val;
    if (led)
        *led = role == SF_LEADER;
    if (r.code != APP_OK && r.val) {
        cache_val_release(r.val);
        *bundle = NULL;
    }
    return (app_rc_t)r.code;
}
