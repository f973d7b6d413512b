/*
 * jw.h - a small streaming JSON writer over buf_t, with the number formats the V4 response
 *   needs (integers without decimals, fixed two decimals, shortest round-trip doubles).
 *   Not here: parsing (cJSON does that).
 * Ownership: the writer borrows the buf_t; strings are copied (escaped) into it.
 * Threads:   one writer per thread.
 * Errors:    none per call: misuse beyond JW_MAX_DEPTH or a full buffer marks the buffer
 *   failed (buf_ok() is false). Invalid UTF-8 in strings is replaced by U+FFFD so the output
 *   is always valid JSON.
 * Lifetime:  jw_init() then calls; nothing to dispose.
 */
#ifndef MX_BASE_JW_H
#define MX_BASE_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define JW_MAX_DEPTH 16 /* our documents nest 5 deep; more is a bug */

typedef struct {
    buf_t *out;
    int depth;
    bool need_comma[JW_MAX_DEPTH + 1]; /* per level: a value was already written */
    bool after_key;                    /* a key was written; the next value takes no comma */
} jw_t;

void jw_init(jw_t *w, buf_t *out);

void jw_object_begin(jw_t *w);
void jw_object_end(jw_t *w);
void jw_array_begin(jw_t *w);
void jw_array_end(jw_t *w);
void jw_key(jw_t *w, const char *key); /* key is a trusted ASCII literal */

void jw_null(jw_t *w);
void jw_bool(jw_t *w, bool v);
void jw_int(jw_t *w, int64_t v);
/* A whole number held in a double, printed with %.0f (meso amounts are whole by construction). */
void jw_whole(jw_t *w, double v);
/* Exactly two decimals ("3.87", "0.00"). */
void jw_fixed2(jw_t *w, double v);
/* Shortest of %.15g/%.16g/%.17g that reads back to the same double; non-finite → null. */
void jw_double(jw_t *w, double v);
/* A string of n bytes (escaped; invalid UTF-8 replaced). s == NULL writes null. */
void jw_string_n(jw_t *w, const char *s, size_t n);
void jw_string(jw_t *w, const char *s);

/* Escape s into out as a JSON string body without quotes (used by callers building keys). */
void jw_escape(buf_t *out, const char *s, size_t n);

#endif
