/*
 * log.h - structured logs (section 4.3): one JSON object per line on stdout.
 *
 * State: the process-wide logger settings (instance id, mode, version, level) set once by
 * log_init before any thread starts; afterwards read-only. Each line is written with a single
 * write(2) so lines from concurrent threads never interleave. Never log secrets (4.3).
 *
 * Mandatory fields written by log_emit: ts (RFC 3339 UTC, ms), level, msg, instance, mode,
 * version, component, op, and correlation_id when non-NULL. `fields` is a pre-rendered JSON
 * fragment of extra members without braces (e.g. "\"status\":200,\"route\":\"/x\"") or NULL;
 * build it with jw or log_fields_*.
 *
 * Errors: none reported; a line that cannot be built or written (stdout closed, no memory) is
 * dropped, so logging never fails its caller. Strings are escaped and invalid UTF-8 replaced.
 */
#ifndef MX_OPS_LOG_H
#define MX_OPS_LOG_H

#include <stdbool.h>

#include "base/buf.h"

/* Longest line written, newline included. A longer line has its msg cut (at a character
 * boundary) and gets "log_truncated":true; if the extra fields alone do not fit they are
 * dropped instead. The line stays valid JSON either way. */
#define LOG_MAX_LINE 65536

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_init(const char *instance, const char *mode, const char *version, log_level_t min);
bool log_level_parse(const char *s, log_level_t *out);
bool log_enabled(log_level_t level);

void log_emit(log_level_t level, const char *component, const char *op, const char *correlation_id,
              const char *fields, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Builders of the `fields` fragment: each appends `"key":value` to b (with a comma when b is
 * not empty). key is a trusted ASCII literal; string values are escaped (invalid UTF-8 becomes
 * U+FFFD); NULL strings and non-finite numbers are written as null. b belongs to the caller. */
void log_fields_str(buf_t *b, const char *key, const char *val);
void log_fields_int(buf_t *b, const char *key, long long val);
void log_fields_num(buf_t *b, const char *key, double val);
void log_fields_bool(buf_t *b, const char *key, bool val);
/* Masked per 4.3: first 4 + "****" + last 4 characters; values of 8 bytes or fewer become "****". */
void log_fields_masked(buf_t *b, const char *key, const char *val);

#define LOG_INFO_(comp, op, ...) log_emit(LOG_INFO, comp, op, NULL, NULL, __VA_ARGS__)
#define LOG_WARN_(comp, op, ...) log_emit(LOG_WARN, comp, op, NULL, NULL, __VA_ARGS__)
#define LOG_ERROR_(comp, op, ...) log_emit(LOG_ERROR, comp, op, NULL, NULL, __VA_ARGS__)

#endif
