/*
 * store_sqlite_internal.h - pieces of the SQLite backend shared between store_sqlite.c (the
 * connections and the store_ops_t operations) and schema_sqlite.c (the schema of platform spec
 * 5.2 as a list of migrations, and the migration runner of SC-34). Not for use outside src/store.
 *
 * Ownership: nothing here allocates memory the caller must free.
 * Threads:   sqlite_schema_migrate runs on one connection owned by the calling thread; the rest is
 *   pure.
 * Errors:    -1 with a one-line message in err (always NUL-terminated when errlen > 0).
 */
#ifndef MX_STORE_SQLITE_INTERNAL_H
#define MX_STORE_SQLITE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/* Highest migration version this binary knows. */
int sqlite_schema_latest(void);

/* Applies the missing migrations in one BEGIN EXCLUSIVE transaction and verifies the recorded
 * checksums of the ones already applied. Refuses a database whose schema is more than one version
 * ahead of this binary (SC-34: one version ahead is allowed during a rolling upgrade).
 * On success *version_out is the database's schema version after migration. */
int sqlite_schema_migrate(sqlite3 *db, int64_t now_ms, int *version_out, char *err, size_t errlen);

/* SHA-256 of len bytes as 64 lowercase hex digits plus NUL. 0, or -1 if OpenSSL failed. */
int sqlite_sha256_hex(const void *data, size_t len, char out[65]);

#endif
