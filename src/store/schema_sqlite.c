/*
 * schema_sqlite.c - the SQLite schema (platform spec 5.2, tables T01-T19 plus `meta`) as a list of
 * migrations, and the runner that applies them (SC-34).
 *
 * SQLite column conventions (spec 5.1): surrogate ids are INTEGER PRIMARY KEY AUTOINCREMENT (never
 * reused); text(n) is TEXT + CHECK (length(col) <= n), CHAR(n) likewise; timestamps are INTEGER Unix
 * epoch milliseconds UTC; calendar days TEXT 'YYYY-MM-DD'; costs TEXT in canonical decimal (digits,
 * optional sign and point, never an exponent: the CHECK refuses "1e+15", "inf" and "nan"); bytes BLOB.
 * Amendment M2 wins over T16: there is no flame_cost column (flames are trial counts, never money).
 *
 * Index names are global in an SQLite schema, so the per-table indexes the spec names identically
 * for two tables (outboxes, DLQs) carry the table name; the names the spec refers to are kept.
 *
 * schema_migration itself (T01) is created by the runner, not by a migration: it has to exist
 * before the runner can read which migrations were applied. Each recorded row carries the SHA-256
 * of the migration's SQL text, so a released migration must never be edited: add a new one.
 */
#include "store/store_sqlite_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- column helpers (compile-time string pasting; the checksummed text is the pasted result) ---- */

#define SURROGATE_ID "id INTEGER PRIMARY KEY AUTOINCREMENT"
#define TEXT_N(col, n) col " TEXT CHECK (length(" col ") <= " #n ")"
#define TEXT_NN(col, n) col " TEXT NOT NULL CHECK (length(" col ") <= " #n ")"
#define TS(col) col " INTEGER"
#define TS_NN(col) col " INTEGER NOT NULL"
#define COST_NN(col) \
    col " TEXT NOT NULL CHECK (length(" col ") BETWEEN 1 AND 24 AND " col " NOT GLOB '*[^0-9.-]*')"
/* now() of the single SQLite process, for the one column whose spec default is now. */
#define NOW_MS "(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"

#define OUTBOX_COLUMNS                                                                             \
    SURROGATE_ID ",\n"                                                                             \
    "  " TEXT_NN("request_id", 100) " UNIQUE,\n"                                                   \
    "  " TEXT_NN("event_type", 50) ",\n"                                                           \
    "  payload TEXT NOT NULL,\n"                                                                   \
    "  " TEXT_NN("content_hash", 64) ",\n"                                                         \
    "  status TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN "                                   \
    "('PENDING','PROCESSING','COMPLETED','FAILED','DEAD_LETTER')),\n"                              \
    "  claim_token INTEGER NOT NULL DEFAULT 0,\n"                                                  \
    "  " TEXT_N("locked_by", 100) ",\n"                                                            \
    "  " TS("locked_at") ",\n"                                                                     \
    "  retry_count INTEGER NOT NULL DEFAULT 0,\n"                                                  \
    "  max_retries INTEGER NOT NULL DEFAULT 3,\n"                                                  \
    "  " TEXT_N("last_error", 500) ",\n"                                                           \
    "  next_retry_at INTEGER NOT NULL DEFAULT " NOW_MS ",\n"                                       \
    "  " TEXT_N("origin_request_id", 64) ",\n"                                                     \
    "  " TS_NN("created_at") ",\n"                                                                 \
    "  " TS_NN("updated_at") ",\n"                                                                 \
    "  " TS("completed_at")

#define OUTBOX_INDEXES(t)                                                                          \
    "CREATE INDEX ix_" t "_poll ON " t " (status, next_retry_at, id);\n"                           \
    "CREATE INDEX ix_" t "_locked ON " t " (status, locked_at);\n"                                 \
    "CREATE INDEX ix_" t "_completed ON " t " (completed_at);\n"

#define DLQ_TABLE(t)                                                                               \
    "CREATE TABLE " t " (\n"                                                                       \
    "  " SURROGATE_ID ",\n"                                                                        \
    "  original_outbox_id INTEGER NOT NULL,\n"                                                     \
    "  " TEXT_NN("request_id", 100) " UNIQUE,\n"                                                   \
    "  " TEXT_NN("event_type", 50) ",\n"                                                           \
    "  payload TEXT NOT NULL,\n"                                                                   \
    "  " TEXT_N("failure_reason", 500) ",\n"                                                       \
    "  " TS_NN("moved_at") "\n"                                                                    \
    ");\n"                                                                                         \
    "CREATE INDEX ix_" t "_moved ON " t " (moved_at, id);\n"

/* ---- migration 1: every table of spec 5.2 (T02-T19) and the meta key/value table ---- */

static const char MIGRATION_1_SQL[] =
    /* T02 */
    "CREATE TABLE game_character (\n"
    "  " SURROGATE_ID ",\n"
    "  " TEXT_N("user_ign", 64) ",\n"
    "  " TEXT_NN("ocid", 64) ",\n"
    "  " TEXT_N("world_name", 50) ",\n"
    "  " TEXT_N("character_class", 50) ",\n"
    "  character_level INTEGER,\n"
    "  " TEXT_N("character_image", 2048) ",\n"
    "  " TS("basic_info_updated_at") ",\n"
    "  like_count INTEGER NOT NULL DEFAULT 0 CHECK (like_count >= 0),\n"
    "  version INTEGER NOT NULL DEFAULT 0,\n"
    "  " TS_NN("created_at") ",\n"
    "  " TS_NN("updated_at") "\n"
    ");\n"
    "CREATE UNIQUE INDEX ux_character_ign ON game_character (user_ign);\n"
    "CREATE UNIQUE INDEX ux_character_ocid ON game_character (ocid);\n"
    /* T03 */
    "CREATE TABLE character_equipment (\n"
    "  " TEXT_NN("ocid", 64) " PRIMARY KEY,\n"
    "  json_gzip BLOB NOT NULL,\n"
    "  " TEXT_NN("content_sha256", 64) ",\n"
    "  " TS_NN("fetched_at") ",\n"
    "  " TS_NN("updated_at") "\n"
    ");\n"
    "CREATE INDEX ix_equipment_updated_at ON character_equipment (updated_at);\n"
    /* T04 */
    "CREATE TABLE character_like (\n"
    "  " SURROGATE_ID ",\n"
    "  " TEXT_NN("target_ocid", 64) ",\n"
    "  " TEXT_NN("liker_account_id", 64) ",\n"
    "  " TS_NN("created_at") "\n"
    ");\n"
    "CREATE UNIQUE INDEX ux_like_target_liker ON character_like (target_ocid, liker_account_id);\n"
    "CREATE INDEX ix_like_liker ON character_like (liker_account_id);\n"
    /* T05 */
    "CREATE TABLE like_delta (\n"
    "  " SURROGATE_ID ",\n"
    "  character_id INTEGER NOT NULL REFERENCES game_character (id),\n"
    "  delta INTEGER NOT NULL CHECK (delta IN (-1, 1)),\n"
    "  " TS_NN("created_at") "\n"
    ");\n"
    "CREATE INDEX ix_like_delta_character ON like_delta (character_id);\n"
    /* T06 */
    "CREATE TABLE member (\n"
    "  " SURROGATE_ID ",\n"
    "  " TEXT_NN("fingerprint", 64) ",\n"
    "  point INTEGER NOT NULL DEFAULT 0 CHECK (point >= 0),\n"
    "  version INTEGER NOT NULL DEFAULT 0,\n"
    "  " TS_NN("created_at") ",\n"
    "  " TS_NN("updated_at") "\n"
    ");\n"
    "CREATE UNIQUE INDEX ux_member_fingerprint ON member (fingerprint);\n"
    /* T07 */
    "CREATE TABLE donation_history (\n"
    "  " SURROGATE_ID ",\n"
    "  " TEXT_NN("sender_fingerprint", 64) ",\n"
    "  " TEXT_NN("request_id", 64) ",\n"
    "  " TEXT_NN("request_hash", 64) ",\n"
    "  " TEXT_NN("receiver_fingerprint", 64) ",\n"
    "  amount INTEGER NOT NULL CHECK (amount > 0),\n"
    "  " TEXT_N("origin_request_id", 64) ",\n"
    "  " TS_NN("created_at") "\n"
    ");\n"
    "CREATE UNIQUE INDEX ux_donation_sender_request ON donation_history (sender_fingerprint, request_id);\n"
    "CREATE INDEX ix_donation_receiver ON donation_history (receiver_fingerprint, created_at);\n"
    "CREATE INDEX ix_donation_created ON donation_history (created_at);\n"
    /* T08 */
    "CREATE TABLE admin_member (\n"
    "  " TEXT_NN("fingerprint", 64) " PRIMARY KEY,\n"
    "  " TEXT_NN("added_by", 64) ",\n"
    "  " TS_NN("created_at") "\n"
    ");\n"
    /* T09 */
    "CREATE TABLE auth_session (\n"
    "  " TEXT_NN("id", 36) " PRIMARY KEY,\n"
    "  " TEXT_NN("fingerprint", 64) ",\n"
    "  " TEXT_NN("user_ign", 64) ",\n"
    "  " TEXT_NN("account_id", 64) ",\n"
    "  my_ocids TEXT NOT NULL,\n"
    "  role TEXT NOT NULL CHECK (length(role) <= 8 AND role IN ('USER', 'ADMIN')),\n"
    "  " TS_NN("created_at") ",\n"
    "  " TS_NN("last_accessed_at") ",\n"
    "  " TS_NN("expires_at") "\n"
    ");\n"
    "CREATE INDEX ix_session_expires ON auth_session (expires_at);\n"
    "CREATE INDEX ix_session_fingerprint ON auth_session (fingerprint);\n"
    /* T10 */
    "CREATE TABLE refresh_token (\n"
    "  " TEXT_NN("token_hash", 64) " PRIMARY KEY,\n"
    "  " TEXT_NN("family_id", 36) ",\n"
    "  " TEXT_NN("session_id", 36) " REFERENCES auth_session (id) ON DELETE CASCADE,\n"
    "  " TEXT_NN("fingerprint", 64) ",\n"
    "  " TS_NN("issued_at") ",\n"
    "  " TS_NN("expires_at") ",\n"
    "  " TS("used_at") "\n"
    ");\n"
    "CREATE INDEX ix_refresh_family ON refresh_token (family_id);\n"
    "CREATE INDEX ix_refresh_session ON refresh_token (session_id);\n"
    "CREATE INDEX ix_refresh_expires ON refresh_token (expires_at);\n"
    /* T11 */
    "CREATE TABLE donation_outbox (\n"
    "  " OUTBOX_COLUMNS "\n"
    ");\n"
    OUTBOX_INDEXES("donation_outbox")
    /* T12 */
    "CREATE TABLE nexon_api_outbox (\n"
    "  " OUTBOX_COLUMNS ",\n"
    "  " TEXT_NN("dedup_key", 200) ",\n"
    "  dedup_hits INTEGER NOT NULL DEFAULT 0,\n"
    "  " TEXT_N("outcome", 16) "\n"
    ");\n"
    OUTBOX_INDEXES("nexon_api_outbox")
    "CREATE UNIQUE INDEX ux_upstream_outbox_active ON nexon_api_outbox (dedup_key)"
    " WHERE status IN ('PENDING', 'PROCESSING', 'FAILED');\n"
    /* T13, T14 */
    DLQ_TABLE("donation_dlq")
    DLQ_TABLE("nexon_api_dlq")
    /* T15 */
    "CREATE TABLE expectation_view (\n"
    "  character_id INTEGER PRIMARY KEY REFERENCES game_character (id),\n"
    "  " TEXT_NN("user_ign", 64) ",\n"
    "  " COST_NN("total_expected_cost") ",\n"
    "  max_preset_no INTEGER NOT NULL,\n"
    "  " TS_NN("calculated_at") ",\n"
    "  " TEXT_NN("logic_version", 32) ",\n"
    "  " TEXT_NN("lookup_checksum", 64) ",\n"
    "  body_gzip BLOB NOT NULL,\n"
    "  " TEXT_N("job_id", 36) ",\n"
    "  " TS_NN("updated_at") "\n"
    ");\n"
    "CREATE INDEX ix_view_ign ON expectation_view (user_ign);\n"
    "CREATE INDEX ix_view_calculated ON expectation_view (calculated_at);\n"
    /* T16 */
    "CREATE TABLE expectation_preset_summary (\n"
    "  character_id INTEGER NOT NULL REFERENCES game_character (id),\n"
    "  preset_no INTEGER NOT NULL CHECK (preset_no BETWEEN 1 AND 3),\n"
    "  " COST_NN("total_expected_cost") ",\n"
    "  " COST_NN("black_cube_cost") ",\n"
    "  " COST_NN("red_cube_cost") ",\n"
    "  " COST_NN("additional_cube_cost") ",\n"
    "  " COST_NN("starforce_cost") ",\n"
    "  " TS_NN("calculated_at") ",\n"
    "  PRIMARY KEY (character_id, preset_no)\n"
    ");\n"
    /* T17 */
    "CREATE TABLE job_lease (\n"
    "  " TEXT_NN("name", 64) " PRIMARY KEY,\n"
    "  " TEXT_N("holder", 100) ",\n"
    "  fencing_token INTEGER NOT NULL DEFAULT 0,\n"
    "  " TS_NN("lease_until") ",\n"
    "  " TS("acquired_at") "\n"
    ");\n"
    /* T18 */
    "CREATE TABLE job_run (\n"
    "  " TEXT_NN("job_name", 64) ",\n"
    "  " TEXT_NN("period_key", 40) ",\n"
    "  " TEXT_NN("holder", 100) ",\n"
    "  fencing_token INTEGER NOT NULL,\n"
    "  status TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE', 'FAILED')),\n"
    "  " TS_NN("started_at") ",\n"
    "  " TS("finished_at") ",\n"
    "  items INTEGER,\n"
    "  " TEXT_N("error", 500) ",\n"
    "  PRIMARY KEY (job_name, period_key)\n"
    ");\n"
    "CREATE INDEX ix_job_run_started ON job_run (started_at);\n"
    /* T19 */
    "CREATE TABLE quota_counter (\n"
    "  " TEXT_NN("name", 32) ",\n"
    "  day TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),\n"
    "  used INTEGER NOT NULL DEFAULT 0,\n"
    "  limit_value INTEGER NOT NULL,\n"
    "  PRIMARY KEY (name, day),\n"
    "  CHECK (used <= limit_value)\n"
    ");\n"
    /* Settings generated by the process (M4 secrets). */
    "CREATE TABLE meta (\n"
    "  key TEXT NOT NULL PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ");\n";

typedef struct {
    int version;
    const char *name; /* <= 200 characters (T01) */
    const char *sql;
} migration_t;

/* Ordered by version, starting at 1, without gaps. Append only. */
static const migration_t MIGRATIONS[] = {
    {1, "initial schema (T02-T19, meta)", MIGRATION_1_SQL},
};
#define MIGRATION_COUNT ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))

static const char BOOTSTRAP_SQL[] =
    "CREATE TABLE IF NOT EXISTS schema_migration (\n"
    "  version INTEGER PRIMARY KEY,\n"
    "  " TEXT_NN("name", 200) ",\n"
    "  " TEXT_NN("checksum", 64) ",\n"
    "  " TS_NN("applied_at") "\n"
    ");";

int sqlite_schema_latest(void)
{
    return MIGRATIONS[MIGRATION_COUNT - 1].version;
}

int sqlite_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < md_len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* ---- the runner ---- */

/* What schema_migration says, restricted to what the runner needs. */
typedef struct {
    int max_version;                        /* 0 for a new database */
    bool applied[MIGRATION_COUNT + 1];      /* by version, for the versions this binary knows */
    char checksum[MIGRATION_COUNT + 1][65]; /* recorded checksum of each applied known version */
} recorded_t;

static int fail_db(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "sqlite schema: %s: %s", what, sqlite3_errmsg(db));
    return -1;
}

static int read_recorded(sqlite3 *db, recorded_t *rec, char *err, size_t errlen)
{
    memset(rec, 0, sizeof *rec);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT version, checksum FROM schema_migration ORDER BY version", -1, &st,
                           NULL) != SQLITE_OK)
        return fail_db(db, "reading schema_migration", err, errlen);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int v = sqlite3_column_int(st, 0);
        const char *sum = (const char *)sqlite3_column_text(st, 1);
        if (v > rec->max_version)
            rec->max_version = v;
        if (v >= 1 && v <= MIGRATION_COUNT) {
            rec->applied[v] = true;
            snprintf(rec->checksum[v], sizeof rec->checksum[v], "%s", sum ? sum : "");
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail_db(db, "reading schema_migration", err, errlen);
    return 0;
}

/* Refuses what this binary must not run against: a schema too new, or an edited migration. */
static int check_recorded(const recorded_t *rec, char *err, size_t errlen)
{
    int latest = sqlite_schema_latest();
    if (rec->max_version > latest + 1) {
        snprintf(err, errlen, "database schema version %d is newer than this binary supports (%d)",
                 rec->max_version, latest + 1);
        return -1;
    }
    for (int i = 0; i < MIGRATION_COUNT; i++) {
        const migration_t *m = &MIGRATIONS[i];
        if (!rec->applied[m->version])
            continue;
        char want[65];
        if (sqlite_sha256_hex(m->sql, strlen(m->sql), want) != 0) {
            snprintf(err, errlen, "sqlite schema: SHA-256 unavailable");
            return -1;
        }
        if (strcmp(want, rec->checksum[m->version]) != 0) {
            snprintf(err, errlen,
                     "database schema migration %d (%s) checksum mismatch: recorded %s, this binary has %s",
                     m->version, m->name, rec->checksum[m->version], want);
            return -1;
        }
    }
    return 0;
}

static int apply_migration(sqlite3 *db, const migration_t *m, int64_t now_ms, char *err, size_t errlen)
{
    char sum[65];
    if (sqlite_sha256_hex(m->sql, strlen(m->sql), sum) != 0) {
        snprintf(err, errlen, "sqlite schema: SHA-256 unavailable");
        return -1;
    }
    char *msg = NULL;
    if (sqlite3_exec(db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite schema: migration %d (%s) failed: %s", m->version, m->name,
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO schema_migration (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail_db(db, "recording a migration", err, errlen);
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sum, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail_db(db, "recording a migration", err, errlen);
    return 0;
}

/* Everything between BEGIN EXCLUSIVE and COMMIT. */
static int migrate_locked(sqlite3 *db, int64_t now_ms, int *version_out, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, BOOTSTRAP_SQL, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite schema: creating schema_migration: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    recorded_t rec;
    if (read_recorded(db, &rec, err, errlen) != 0 || check_recorded(&rec, err, errlen) != 0)
        return -1;
    for (int i = 0; i < MIGRATION_COUNT; i++) {
        if (!rec.applied[MIGRATIONS[i].version] && apply_migration(db, &MIGRATIONS[i], now_ms, err, errlen) != 0)
            return -1;
    }
    *version_out = rec.max_version > sqlite_schema_latest() ? rec.max_version : sqlite_schema_latest();
    return 0;
}

int sqlite_schema_migrate(sqlite3 *db, int64_t now_ms, int *version_out, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite schema: cannot lock the database for migration: %s",
                 msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    if (migrate_locked(db, now_ms, version_out, err, errlen) != 0) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite schema: committing migrations: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}
