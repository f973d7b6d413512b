/* test_store.c - the SQLite store (store.h; platform spec 5, SC-34, SC-37, SC-39, SC-23, 2.3.7, 3.2):
 * schema creation and migration bookkeeping, refusal of newer schemas and edited migrations,
 * character upsert with name moves, enrichment, snapshot and view ordering guards, preset
 * summaries, view lookup/delete/purge, meta, batch atomicity, concurrent use, durability across
 * reopen, and busy -> STORE_UNAVAILABLE. Each test works in its own mkdtemp directory under /tmp,
 * removed at the end; a second raw SQLite connection inspects or disturbs the file. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "store/store.h"

#define READERS 4
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The store and its directory (testutil.h); tests reopen fx->s themselves. */
typedef tu_db_t fx_t;

/* ---- fixture ---- */

static store_t *open_store(const fx_t *fx)
{
    store_t *s = tu_store_open(fx->path, READERS);
    assert_non_null(s);
    assert_string_equal(s->kind, "sqlite");
    return s;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    if (!tu_db_open(fx, "store", READERS)) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    tu_db_close(fx);
    free(fx);
    return 0;
}

/* ---- raw access to the file, for inspection and disturbance ---- */

static sqlite3 *raw_open(const char *path) { return tu_raw_open(path, SQLITE_OPEN_READWRITE); }

/* ---- record builders ---- */

static wb_record_t snapshot_rec(const char *ocid, const char *body, int64_t fetched_ms)
{
    return (wb_record_t){.kind = WB_SNAPSHOT, .ocid = ocid, .json_gzip = (const unsigned char *)body,
                         .json_gzip_len = strlen(body), .content_sha256 = HEX64, .fetched_ms = fetched_ms};
}

static wb_record_t view_rec(const char *ocid, const char *ign, double total, int64_t calc_ms, const char *body,
                            const store_preset_summary_t *presets, size_t n)
{
    return (wb_record_t){.kind = WB_VIEW, .ocid = ocid, .user_ign = ign, .total_expected_cost = total,
                         .max_preset_no = n ? presets[0].preset_no : 1, .calculated_ms = calc_ms,
                         .logic_version = "v4.0", .lookup_checksum = HEX64,
                         .body_gzip = (const unsigned char *)body, .body_gzip_len = strlen(body),
                         .job_id = "123e4567-e89b-12d3-a456-426614174000", .presets = presets,
                         .preset_count = n};
}

static void write_one(store_t *s, wb_record_t r, int64_t now_ms)
{
    assert_int_equal(s->ops->write_batch(s, &r, 1, now_ms), STORE_OK);
}

/* Expects the view of ign to exist with this body and calculation time. */
static void expect_view(store_t *s, const char *ign, const char *body, int64_t calc_ms)
{
    store_view_t v;
    assert_int_equal(s->ops->view_by_ign(s, ign, &v), STORE_OK);
    assert_int_equal(v.body_gzip_len, strlen(body));
    assert_memory_equal(v.body_gzip, body, strlen(body));
    assert_int_equal(v.calculated_ms, calc_ms);
    store_view_clear(&v);
}

/* ---- schema and migrations ---- */

static const char *const TABLES[] = {
    "schema_migration", "game_character", "character_equipment", "character_like", "like_delta",
    "member", "donation_history", "admin_member", "auth_session", "refresh_token", "donation_outbox",
    "nexon_api_outbox", "donation_dlq", "nexon_api_dlq", "expectation_view",
    "expectation_preset_summary", "job_lease", "job_run", "quota_counter", "meta",
};

static const char *const NAMED_INDEXES[] = {
    "ux_character_ign", "ux_character_ocid", "ix_equipment_updated_at", "ux_like_target_liker",
    "ix_like_liker", "ix_like_delta_character", "ux_donation_sender_request", "ix_donation_receiver",
    "ix_donation_created", "ix_session_expires", "ix_session_fingerprint", "ix_refresh_family",
    "ix_refresh_session", "ix_refresh_expires", "ux_upstream_outbox_active", "ix_view_ign",
    "ix_view_calculated", "ix_job_run_started",
};

static void test_open_creates_every_table(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(fx->s->ops->schema_version(fx->s), 1);
    assert_int_equal(fx->s->ops->ping(fx->s), STORE_OK);

    sqlite3 *db = raw_open(fx->path);
    char sql[256];
    for (size_t i = 0; i < sizeof TABLES / sizeof TABLES[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", TABLES[i]);
        if (tu_raw_int(db, sql) != 1)
            print_error("missing table %s\n", TABLES[i]);
        assert_int_equal(tu_raw_int(db, sql), 1);
    }
    for (size_t i = 0; i < sizeof NAMED_INDEXES / sizeof NAMED_INDEXES[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = '%s'",
                 NAMED_INDEXES[i]);
        if (tu_raw_int(db, sql) != 1)
            print_error("missing index %s\n", NAMED_INDEXES[i]);
        assert_int_equal(tu_raw_int(db, sql), 1);
    }
    char text[128];
    tu_raw_text(db, "PRAGMA journal_mode", text, sizeof text);
    assert_string_equal(text, "wal");
    /* One migration recorded, with a SHA-256 hex checksum. */
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM schema_migration"), 1);
    tu_raw_text(db, "SELECT checksum FROM schema_migration WHERE version = 1", text, sizeof text);
    assert_int_equal(strlen(text), 64);
    assert_int_equal(strspn(text, "0123456789abcdef"), 64);
    /* Conventions spot checks: AUTOINCREMENT ids, CHECKed text lengths, no flame column (M2). */
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'"), 1);
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM pragma_table_info('expectation_preset_summary')"
                                 " WHERE name = 'flame_cost'"), 0);
    assert_int_not_equal(sqlite3_exec(db, "INSERT INTO quota_counter (name, day, used, limit_value)"
                                          " VALUES ('ai', '2024-01-01', 2, 1)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "INSERT INTO member (fingerprint, created_at, updated_at)"
                                          " VALUES (printf('%.65c', 'x'), 1, 1)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_reopen_applies_migration_once(void **state)
{
    fx_t *fx = *state;
    sqlite3 *db = raw_open(fx->path);
    char before[80], after[80];
    tu_raw_text(db, "SELECT checksum || ':' || applied_at FROM schema_migration", before, sizeof before);
    sqlite3_close(db);

    store_close(fx->s);
    fx->s = open_store(fx);
    store_close(fx->s);
    fx->s = open_store(fx);
    assert_int_equal(fx->s->ops->schema_version(fx->s), 1);

    db = raw_open(fx->path);
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM schema_migration"), 1);
    tu_raw_text(db, "SELECT checksum || ':' || applied_at FROM schema_migration", after, sizeof after);
    assert_string_equal(before, after);
    sqlite3_close(db);
}

static void test_newer_schema_is_refused(void **state)
{
    fx_t *fx = *state;
    int latest = fx->s->ops->schema_version(fx->s);
    store_close(fx->s);
    fx->s = NULL;

    /* One version ahead: allowed (rolling upgrade, SC-34). */
    char sql[256];
    sqlite3 *db = raw_open(fx->path);
    snprintf(sql, sizeof sql, "INSERT INTO schema_migration VALUES (%d, 'future', '%s', 1)", latest + 1, HEX64);
    tu_raw_exec(db, sql);
    sqlite3_close(db);
    fx->s = open_store(fx);
    assert_int_equal(fx->s->ops->schema_version(fx->s), latest + 1);
    store_close(fx->s);
    fx->s = NULL;

    /* Two versions ahead: refused with a clear message. */
    db = raw_open(fx->path);
    snprintf(sql, sizeof sql, "INSERT INTO schema_migration VALUES (%d, 'far future', '%s', 1)", latest + 2, HEX64);
    tu_raw_exec(db, sql);
    sqlite3_close(db);
    char err[256] = "";
    assert_null(store_sqlite_open(fx->path, READERS, err, sizeof err));
    char want[128];
    snprintf(want, sizeof want, "database schema version %d is newer than this binary supports (%d)", latest + 2,
             latest + 1);
    assert_non_null(strstr(err, want));

    /* Back to a version this binary runs against, so teardown has a store to close. */
    db = raw_open(fx->path);
    tu_raw_exec(db, "DELETE FROM schema_migration WHERE version > 1");
    sqlite3_close(db);
    fx->s = open_store(fx);
}

static void test_edited_migration_is_refused(void **state)
{
    fx_t *fx = *state;
    store_close(fx->s);
    fx->s = NULL;
    sqlite3 *db = raw_open(fx->path);
    char good[80];
    tu_raw_text(db, "SELECT checksum FROM schema_migration WHERE version = 1", good, sizeof good);
    tu_raw_exec(db, "UPDATE schema_migration SET checksum = '" HEX64 "' WHERE version = 1");
    sqlite3_close(db);

    char err[256] = "";
    assert_null(store_sqlite_open(fx->path, READERS, err, sizeof err));
    assert_non_null(strstr(err, "migration 1"));
    assert_non_null(strstr(err, "checksum mismatch"));

    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE schema_migration SET checksum = '%s' WHERE version = 1", good);
    db = raw_open(fx->path);
    tu_raw_exec(db, sql);
    sqlite3_close(db);
    fx->s = open_store(fx);
}

static void test_open_errors(void **state)
{
    fx_t *fx = *state;
    char err[256] = "";
    char path[192];
    snprintf(path, sizeof path, "%s/missing-dir/x.db", fx->dir);
    assert_null(store_sqlite_open(path, READERS, err, sizeof err));
    assert_true(strlen(err) > 0);

    err[0] = '\0';
    assert_null(store_sqlite_open(fx->path, 0, err, sizeof err));
    assert_non_null(strstr(err, "readers"));

    snprintf(path, sizeof path, "%s/garbage.db", fx->dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database file. ", f);
    fclose(f);
    err[0] = '\0';
    assert_null(store_sqlite_open(path, READERS, err, sizeof err));
    assert_true(strlen(err) > 0);

    assert_string_equal(store_rc_name(STORE_OK), "ok");
    assert_string_equal(store_rc_name(STORE_NOT_FOUND), "not_found");
    assert_string_equal(store_rc_name(STORE_UNAVAILABLE), "unavailable");
    assert_string_equal(store_rc_name(STORE_CORRUPT), "corrupt");
}

/* ---- characters ---- */

static void test_character_upsert_and_name_move(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    store_character_t a, b, c;

    assert_int_equal(s->ops->character_by_ign(s, "X", &c), STORE_NOT_FOUND);
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-a", &c), STORE_NOT_FOUND);

    assert_int_equal(s->ops->character_upsert(s, "ocid-a", "X", &a), STORE_OK);
    assert_true(a.id > 0);
    assert_string_equal(a.user_ign, "X");
    assert_string_equal(a.ocid, "ocid-a");
    assert_null(a.world_name);
    assert_int_equal(a.character_level, 0);
    assert_int_equal(a.basic_info_updated_ms, 0);
    assert_int_equal(a.like_count, 0);

    /* Idempotent: same row. */
    assert_int_equal(s->ops->character_upsert(s, "ocid-a", "X", &c), STORE_OK);
    assert_int_equal(c.id, a.id);
    store_character_clear(&c);

    /* Name moved: ocid-b now owns X, ocid-a keeps its row without a name. */
    assert_int_equal(s->ops->character_upsert(s, "ocid-b", "X", &b), STORE_OK);
    assert_true(b.id != a.id);
    assert_string_equal(b.user_ign, "X");
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-a", &c), STORE_OK);
    assert_null(c.user_ign);
    assert_int_equal(c.id, a.id);
    store_character_clear(&c);
    assert_int_equal(s->ops->character_by_ign(s, "X", &c), STORE_OK);
    assert_int_equal(c.id, b.id);
    store_character_clear(&c);

    /* The existing row takes a new IGN. */
    assert_int_equal(s->ops->character_upsert(s, "ocid-a", "Y", &c), STORE_OK);
    assert_int_equal(c.id, a.id);
    assert_string_equal(c.user_ign, "Y");
    store_character_clear(&c);
    /* ...and loses it again when the upstream says Y is ocid-b's now (b's X is given up). */
    assert_int_equal(s->ops->character_upsert(s, "ocid-b", "Y", NULL), STORE_OK);
    assert_int_equal(s->ops->character_by_ign(s, "X", &c), STORE_NOT_FOUND);
    assert_int_equal(s->ops->character_by_ign(s, "Y", &c), STORE_OK);
    assert_int_equal(c.id, b.id);
    store_character_clear(&c);

    /* A name the schema refuses (text(64)) changes nothing. */
    char long_ign[80];
    memset(long_ign, 'n', 65);
    long_ign[65] = '\0';
    assert_int_equal(s->ops->character_upsert(s, "ocid-c", long_ign, &c), STORE_CORRUPT);
    assert_null(c.ocid);
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-c", &c), STORE_NOT_FOUND);
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM game_character"), 2);

    store_character_clear(&a);
    store_character_clear(&b);
}

static void test_character_set_basic(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    store_basic_t basic = {.world_name = "스카니아", .character_class = "에반", .character_image = "https://img/x.png",
                           .character_level = 275};
    assert_int_equal(s->ops->character_set_basic(s, "nobody", &basic, 1000), STORE_NOT_FOUND);

    assert_int_equal(s->ops->character_upsert(s, "ocid-a", "X", NULL), STORE_OK);
    assert_int_equal(s->ops->character_set_basic(s, "ocid-a", &basic, 1234), STORE_OK);
    store_character_t c;
    assert_int_equal(s->ops->character_by_ign(s, "X", &c), STORE_OK);
    assert_string_equal(c.world_name, "스카니아");
    assert_string_equal(c.character_class, "에반");
    assert_string_equal(c.character_image, "https://img/x.png");
    assert_int_equal(c.character_level, 275);
    assert_int_equal(c.basic_info_updated_ms, 1234);
    store_character_clear(&c);

    store_basic_t unknown = {0};
    assert_int_equal(s->ops->character_set_basic(s, "ocid-a", &unknown, 5678), STORE_OK);
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-a", &c), STORE_OK);
    assert_null(c.world_name);
    assert_int_equal(c.character_level, 0);
    assert_int_equal(c.basic_info_updated_ms, 5678);
    store_character_clear(&c);
    assert_int_equal(tu_file_int(fx->path, "SELECT character_level IS NULL FROM game_character WHERE ocid = 'ocid-a'"), 1);
}

/* ---- snapshots ---- */

static void test_snapshot_ordering_guard(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    store_snapshot_t snap;
    assert_int_equal(s->ops->snapshot_get(s, "ocid-a", &snap), STORE_NOT_FOUND);

    write_one(s, snapshot_rec("ocid-a", "first", 1000), 5000);
    assert_int_equal(s->ops->snapshot_get(s, "ocid-a", &snap), STORE_OK);
    assert_int_equal(snap.json_gzip_len, 5);
    assert_memory_equal(snap.json_gzip, "first", 5);
    assert_string_equal(snap.content_sha256, HEX64);
    assert_int_equal(snap.fetched_ms, 1000);
    assert_int_equal(snap.updated_ms, 5000);
    store_snapshot_clear(&snap);

    /* Older and equal fetched_at do not replace. */
    write_one(s, snapshot_rec("ocid-a", "older", 500), 6000);
    write_one(s, snapshot_rec("ocid-a", "equal", 1000), 6000);
    assert_int_equal(s->ops->snapshot_get(s, "ocid-a", &snap), STORE_OK);
    assert_memory_equal(snap.json_gzip, "first", 5);
    assert_int_equal(snap.updated_ms, 5000);
    store_snapshot_clear(&snap);

    /* Newer replaces; updated_at = the batch's now. */
    write_one(s, snapshot_rec("ocid-a", "newest!", 2000), 7000);
    assert_int_equal(s->ops->snapshot_get(s, "ocid-a", &snap), STORE_OK);
    assert_int_equal(snap.json_gzip_len, 7);
    assert_memory_equal(snap.json_gzip, "newest!", 7);
    assert_int_equal(snap.fetched_ms, 2000);
    assert_int_equal(snap.updated_ms, 7000);
    store_snapshot_clear(&snap);
}

/* ---- views ---- */

static void test_view_ordering_guard_and_summaries(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    const store_preset_summary_t two[2] = {
        {.preset_no = 2, .total = 1234567890123.0, .black = 1, .red = 2, .additional = 3, .starforce = 4},
        {.preset_no = 1, .total = 1e15, .black = 0, .red = -0.0, .additional = 5, .starforce = 6},
    };
    const store_preset_summary_t three[3] = {{.preset_no = 1}, {.preset_no = 2}, {.preset_no = 3}};
    const store_preset_summary_t one[1] = {{.preset_no = 3, .total = 77}};
    store_view_t v;
    assert_int_equal(s->ops->view_by_ign(s, "X", &v), STORE_NOT_FOUND);

    write_one(s, view_rec("ocid-a", "X", 1234567890123.0, 1000, "body-1000", two, 2), 9000);
    assert_int_equal(s->ops->view_by_ign(s, "X", &v), STORE_OK);
    assert_true(v.character_id > 0);
    assert_string_equal(v.user_ign, "X");
    assert_rel(v.total_expected_cost, 1234567890123.0);
    assert_int_equal(v.max_preset_no, 2);
    assert_int_equal(v.calculated_ms, 1000);
    assert_string_equal(v.job_id, "123e4567-e89b-12d3-a456-426614174000");
    store_view_clear(&v);
    /* The character row was created with the IGN. */
    store_character_t c;
    assert_int_equal(s->ops->character_by_ign(s, "X", &c), STORE_OK);
    assert_string_equal(c.ocid, "ocid-a");
    store_character_clear(&c);

    sqlite3 *db = raw_open(fx->path);
    char text[64];
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM expectation_preset_summary"), 2);
    tu_raw_text(db, "SELECT total_expected_cost FROM expectation_view", text, sizeof text);
    assert_string_equal(text, "1234567890123");
    tu_raw_text(db, "SELECT total_expected_cost FROM expectation_preset_summary WHERE preset_no = 1", text, sizeof text);
    assert_string_equal(text, "1000000000000000"); /* never 1e+15 */
    tu_raw_text(db, "SELECT red_cube_cost FROM expectation_preset_summary WHERE preset_no = 1", text, sizeof text);
    assert_string_equal(text, "0"); /* never -0 */
    assert_int_equal(tu_raw_int(db, "SELECT typeof(total_expected_cost) = 'text' FROM expectation_view"), 1);

    /* Older calculation: neither the view nor its summaries change. */
    write_one(s, view_rec("ocid-a", "X", 5, 500, "body-500", three, 3), 9100);
    expect_view(s, "X", "body-1000", 1000);
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM expectation_preset_summary"), 2);

    /* Same calculated_at replaces (>=, a retried flush is idempotent), summaries replaced too. */
    write_one(s, view_rec("ocid-a", "X", 77, 1000, "body-1000b", one, 1), 9200);
    expect_view(s, "X", "body-1000b", 1000);
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM expectation_preset_summary"), 1);
    assert_int_equal(tu_raw_int(db, "SELECT preset_no FROM expectation_preset_summary"), 3);
    assert_int_equal(tu_raw_int(db, "SELECT calculated_at FROM expectation_preset_summary"), 1000);

    /* Newer replaces. */
    write_one(s, view_rec("ocid-a", "X", 9, 2000, "body-2000", three, 3), 9300);
    expect_view(s, "X", "body-2000", 2000);
    assert_int_equal(tu_raw_int(db, "SELECT count(*) FROM expectation_preset_summary WHERE calculated_at = 2000"), 3);
    assert_int_equal(tu_raw_int(db, "SELECT updated_at FROM expectation_view"), 9300);
    sqlite3_close(db);
}

static void test_view_by_ign_follows_the_character_row(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    store_view_t v;
    assert_int_equal(s->ops->character_upsert(s, "ocid-a", "X", NULL), STORE_OK);
    write_one(s, view_rec("ocid-a", "X", 10, 1000, "view-a", NULL, 0), 2000);
    expect_view(s, "X", "view-a", 1000);

    /* X moved to ocid-b, which has no view: A's view is not B's. */
    assert_int_equal(s->ops->character_upsert(s, "ocid-b", "X", NULL), STORE_OK);
    assert_int_equal(s->ops->view_by_ign(s, "X", &v), STORE_NOT_FOUND);
    assert_null(v.body_gzip);
    write_one(s, view_rec("ocid-b", "X", 20, 1500, "view-b", NULL, 0), 2000);
    expect_view(s, "X", "view-b", 1500);

    /* B renamed to Z: nobody holds X; the nameless A still has a view recorded under X. */
    assert_int_equal(s->ops->character_upsert(s, "ocid-b", "Z", NULL), STORE_OK);
    expect_view(s, "Z", "view-b", 1500);
    expect_view(s, "X", "view-a", 1000);

    /* A view for an OCID whose IGN another character holds: the row is created without a name. */
    write_one(s, view_rec("ocid-c", "Z", 30, 1700, "view-c", NULL, 0), 2000);
    store_character_t c;
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-c", &c), STORE_OK);
    assert_null(c.user_ign);
    store_character_clear(&c);
    expect_view(s, "Z", "view-b", 1500);
}

static void test_view_delete_and_purge(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    const store_preset_summary_t p[1] = {{.preset_no = 1, .total = 1}};
    wb_record_t batch[3] = {
        view_rec("ocid-a", "A", 1, 100, "a", p, 1),
        view_rec("ocid-b", "B", 2, 200, "b", p, 1),
        view_rec("ocid-c", "C", 3, 300, "c", p, 1),
    };
    assert_int_equal(s->ops->write_batch(s, batch, 3, 1000), STORE_OK);
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM expectation_preset_summary"), 3);

    assert_int_equal(s->ops->view_delete_by_ign(s, "A"), STORE_OK);
    assert_int_equal(s->ops->view_delete_by_ign(s, "A"), STORE_NOT_FOUND);
    store_view_t v;
    assert_int_equal(s->ops->view_by_ign(s, "A", &v), STORE_NOT_FOUND);
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM expectation_preset_summary"), 2);

    int64_t deleted = -1;
    assert_int_equal(s->ops->view_purge(s, 250, &deleted), STORE_OK);
    assert_int_equal(deleted, 1); /* B (200); C (300) stays */
    assert_int_equal(s->ops->view_by_ign(s, "B", &v), STORE_NOT_FOUND);
    expect_view(s, "C", "c", 300);
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM expectation_preset_summary"), 1);
    assert_int_equal(s->ops->view_purge(s, 250, &deleted), STORE_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(s->ops->view_purge(s, 301, &deleted), STORE_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM expectation_preset_summary"), 0);
    /* The character rows stay (kept forever, 5.2 retention). */
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM game_character"), 3);
}

/* ---- meta ---- */

static void test_meta(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    char value[16] = "junk";
    assert_int_equal(s->ops->meta_get(s, "jwt_secret", value, sizeof value), STORE_NOT_FOUND);
    assert_string_equal(value, "");
    assert_int_equal(s->ops->meta_put_if_absent(s, "jwt_secret", "first-secret-value"), STORE_OK);
    assert_int_equal(s->ops->meta_put_if_absent(s, "jwt_secret", "second"), STORE_OK);
    char big[64];
    assert_int_equal(s->ops->meta_get(s, "jwt_secret", big, sizeof big), STORE_OK);
    assert_string_equal(big, "first-secret-value");
    assert_int_equal(s->ops->meta_get(s, "jwt_secret", value, 6), STORE_OK);
    assert_string_equal(value, "first"); /* truncated to cap, NUL-terminated */
}

/* ---- batches ---- */

static void test_batch_is_all_or_nothing(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    char long_sha[70];
    memset(long_sha, 'a', 65);
    long_sha[65] = '\0';
    const store_preset_summary_t p[1] = {{.preset_no = 1, .total = 1}};
    wb_record_t batch[3] = {
        view_rec("ocid-e", "E", 1, 100, "e", p, 1),
        snapshot_rec("ocid-f", "f", 100),
        snapshot_rec("ocid-g", "g", 100),
    };
    batch[2].content_sha256 = long_sha; /* CHECK (length <= 64) fails on the last record */
    assert_int_equal(s->ops->write_batch(s, batch, 3, 1000), STORE_CORRUPT);

    store_character_t c;
    store_snapshot_t snap;
    store_view_t v;
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-e", &c), STORE_NOT_FOUND);
    assert_int_equal(s->ops->view_by_ign(s, "E", &v), STORE_NOT_FOUND);
    assert_int_equal(s->ops->snapshot_get(s, "ocid-f", &snap), STORE_NOT_FOUND);
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM expectation_preset_summary"), 0);

    /* A cost that has no decimal form is refused the same way. */
    wb_record_t bad_cost = view_rec("ocid-h", "H", INFINITY, 100, "h", NULL, 0);
    assert_int_equal(s->ops->write_batch(s, &bad_cost, 1, 1000), STORE_CORRUPT);
    const store_preset_summary_t nan_preset[1] = {{.preset_no = 1, .black = NAN}};
    wb_record_t bad_preset = view_rec("ocid-h", "H", 1, 100, "h", nan_preset, 1);
    assert_int_equal(s->ops->write_batch(s, &bad_preset, 1, 1000), STORE_CORRUPT);
    const store_preset_summary_t preset_4[1] = {{.preset_no = 4}};
    wb_record_t bad_no = view_rec("ocid-h", "H", 1, 100, "h", preset_4, 1);
    assert_int_equal(s->ops->write_batch(s, &bad_no, 1, 1000), STORE_CORRUPT);
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-h", &c), STORE_NOT_FOUND);

    /* Without the bad record everything lands. */
    assert_int_equal(s->ops->write_batch(s, batch, 2, 1000), STORE_OK);
    expect_view(s, "E", "e", 100);
    assert_int_equal(s->ops->snapshot_get(s, "ocid-f", &snap), STORE_OK);
    store_snapshot_clear(&snap);
    assert_int_equal(s->ops->write_batch(s, NULL, 0, 1000), STORE_OK);
}

/* ---- concurrency ---- */

#define CONC_WRITES 40
#define CONC_READS 400

typedef struct {
    store_t *s;
    int id;
    atomic_int *writers_left;
    int failures;
    int reads;
} worker_t;

static void *writer_thread(void *arg)
{
    worker_t *w = arg;
    char ocid[32], ign[32], body[48];
    for (int i = 0; i < CONC_WRITES; i++) {
        snprintf(ocid, sizeof ocid, "ocid-%d-%d", w->id, i % 8);
        snprintf(ign, sizeof ign, "ign-%d-%d", w->id, i % 8);
        snprintf(body, sizeof body, "body-%d-%d", w->id, i);
        const store_preset_summary_t p[1] = {{.preset_no = 1, .total = i}};
        wb_record_t recs[2] = {view_rec(ocid, ign, i, 1000 + i, body, p, 1), snapshot_rec(ocid, body, 1000 + i)};
        if (w->s->ops->write_batch(w->s, recs, 2, 5000 + i) != STORE_OK)
            w->failures++;
        if (i % 5 == 0 && w->s->ops->character_upsert(w->s, ocid, ign, NULL) != STORE_OK)
            w->failures++;
    }
    atomic_fetch_sub(w->writers_left, 1);
    return NULL;
}

static void *reader_thread(void *arg)
{
    worker_t *w = arg;
    char ign[32], ocid[32];
    /* Read while the writers write, and at least CONC_READS times. */
    for (int i = 0; i < CONC_READS || atomic_load(w->writers_left) > 0; i++) {
        snprintf(ign, sizeof ign, "ign-%d-%d", i % 2, i % 8);
        snprintf(ocid, sizeof ocid, "ocid-%d-%d", i % 2, i % 8);
        store_view_t v;
        store_rc_t rc = w->s->ops->view_by_ign(w->s, ign, &v);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND)
            w->failures++;
        store_view_clear(&v);
        store_snapshot_t snap;
        rc = w->s->ops->snapshot_get(w->s, ocid, &snap);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND)
            w->failures++;
        store_snapshot_clear(&snap);
        w->reads++;
    }
    return NULL;
}

static void test_concurrent_readers_and_writers(void **state)
{
    fx_t *fx = *state;
    atomic_int writers_left = 2;
    worker_t w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.s = fx->s, .id = i % 2, .writers_left = &writers_left};
        assert_int_equal(pthread_create(&t[i], NULL, i < 2 ? writer_thread : reader_thread, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(w[i].failures, 0);
    assert_true(w[2].reads >= CONC_READS && w[3].reads >= CONC_READS);

    /* Every writer's last calculation per character won. */
    for (int id = 0; id < 2; id++) {
        for (int k = 0; k < 8; k++) {
            char ign[32], body[48];
            snprintf(ign, sizeof ign, "ign-%d-%d", id, k);
            int last = CONC_WRITES - 8 + k;
            snprintf(body, sizeof body, "body-%d-%d", id, last);
            expect_view(fx->s, ign, body, 1000 + last);
        }
    }
    assert_int_equal(tu_file_int(fx->path, "SELECT count(*) FROM game_character"), 16);
}

/* ---- durability and unavailability ---- */

static void test_data_survives_reopen(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    assert_int_equal(s->ops->character_upsert(s, "ocid-a", "X", NULL), STORE_OK);
    write_one(s, view_rec("ocid-a", "X", 42, 1000, "durable", NULL, 0), 2000);
    write_one(s, snapshot_rec("ocid-a", "snap", 1000), 2000);
    assert_int_equal(s->ops->meta_put_if_absent(s, "k", "v"), STORE_OK);

    store_close(fx->s);
    /* The TRUNCATE checkpoint at close leaves an empty WAL: the database file holds everything. */
    char wal[192];
    snprintf(wal, sizeof wal, "%s-wal", fx->path);
    FILE *f = fopen(wal, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        assert_int_equal(ftell(f), 0);
        fclose(f);
    }
    fx->s = open_store(fx);
    s = fx->s;
    expect_view(s, "X", "durable", 1000);
    store_snapshot_t snap;
    assert_int_equal(s->ops->snapshot_get(s, "ocid-a", &snap), STORE_OK);
    assert_memory_equal(snap.json_gzip, "snap", 4);
    store_snapshot_clear(&snap);
    char v[8];
    assert_int_equal(s->ops->meta_get(s, "k", v, sizeof v), STORE_OK);
    assert_string_equal(v, "v");
}

static void test_busy_database_is_unavailable(void **state)
{
    fx_t *fx = *state;
    store_t *s = fx->s;
    write_one(s, view_rec("ocid-a", "X", 1, 1000, "before", NULL, 0), 2000);
    store_sqlite_set_busy_timeout(s, 40);

    /* Another connection holds the write lock. */
    sqlite3 *other = raw_open(fx->path);
    tu_raw_exec(other, "BEGIN EXCLUSIVE");

    int64_t t0 = clock_mono_ms();
    assert_int_equal(s->ops->character_upsert(s, "ocid-b", "Y", NULL), STORE_UNAVAILABLE);
    int64_t waited = clock_mono_ms() - t0;
    assert_true(waited >= 3 * 40); /* three attempts, each after busy_timeout */
    assert_true(waited < 2000);
    assert_int_equal(s->ops->write_batch(s, &(wb_record_t){0}, 0, 1), STORE_OK); /* empty batch: no transaction */
    wb_record_t r = view_rec("ocid-a", "X", 2, 3000, "after", NULL, 0);
    assert_int_equal(s->ops->write_batch(s, &r, 1, 4000), STORE_UNAVAILABLE);
    assert_int_equal(s->ops->meta_put_if_absent(s, "k", "v"), STORE_UNAVAILABLE);
    int64_t deleted = 7;
    assert_int_equal(s->ops->view_purge(s, 99999, &deleted), STORE_UNAVAILABLE);
    assert_int_equal(deleted, 0);
    /* Readers are not blocked in WAL mode. */
    assert_int_equal(s->ops->ping(s), STORE_OK);
    expect_view(s, "X", "before", 1000);

    tu_raw_exec(other, "ROLLBACK");
    sqlite3_close(other);

    /* Nothing of the failed writes committed; the store works again. */
    store_character_t c;
    assert_int_equal(s->ops->character_by_ocid(s, "ocid-b", &c), STORE_NOT_FOUND);
    assert_int_equal(s->ops->write_batch(s, &r, 1, 4000), STORE_OK);
    expect_view(s, "X", "after", 3000);
    store_sqlite_set_busy_timeout(s, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_every_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_applies_migration_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_migration_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_character_upsert_and_name_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_character_set_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_ordering_guard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_ordering_guard_and_summaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_by_ign_follows_the_character_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_delete_and_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_is_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers_and_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_database_is_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
