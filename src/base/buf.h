/*
 * buf.h - an owning, growable byte buffer with a hard cap and a sticky failure flag.
 *   Not here: JSON syntax (jw.h).
 * Ownership: the buffer owns `data`; buf_dispose() frees it. buf_steal() hands it to the caller.
 *   Appends copy their input.
 * Threads:   a buf_t belongs to one thread at a time; no internal locking.
 * Errors:    appends never fail loudly: growth beyond `cap` or an allocation failure sets
 *   `failed` and later appends do nothing (pgbouncer pktbuf style). Check buf_ok() once at the end.
 * Lifetime:  buf_init(&b, cap) / buf_dispose(&b); a second dispose is a no-op.
 */
#ifndef MX_BASE_BUF_H
#define MX_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;  /* NUL-terminated when len > 0 or after buf_cstr() */
    size_t len;  /* bytes used, excluding the NUL */
    size_t cap;  /* hard cap in bytes; appends beyond it fail */
    size_t _alloc; /* bytes allocated */
    bool failed; /* sticky: set by the first failed append */
} buf_t;

void buf_init(buf_t *b, size_t cap);
void buf_dispose(buf_t *b);
void buf_reset(buf_t *b); /* len = 0, failed = false; keeps the allocation */

void buf_append(buf_t *b, const void *p, size_t n);
void buf_putc(buf_t *b, char c);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool buf_ok(const buf_t *b) { return !b->failed; }
/* The contents as a C string ("" when empty); never NULL unless the buffer failed to allocate. */
const char *buf_cstr(buf_t *b);
/* Hand the data to the caller (free() it); the buffer is left empty. */
char *buf_steal(buf_t *b, size_t *len);

#endif
