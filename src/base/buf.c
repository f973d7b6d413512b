/*
 * buf.c - growable byte buffer with a hard cap (see buf.h).
 *
 * Growth doubles the allocation (amortised O(1) appends) but never beyond `cap` + 1 bytes
 * (the +1 keeps room for the terminating NUL). The first append that would pass the cap, or
 * whose allocation fails, marks the buffer failed; every later append is a no-op, so builders
 * can append freely and check once (the pattern of pgbouncer's pktbuf).
 */
#include "base/buf.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MIN_ALLOC 256 /* first allocation; small enough for keys, big enough to skip tiny reallocs */

void buf_init(buf_t *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->cap = cap;
    b->_alloc = 0;
    b->failed = false;
}

void buf_dispose(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->_alloc = 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    b->failed = false;
    if (b->data)
        b->data[0] = '\0';
}

/* Make room for n more bytes plus the NUL; false (and failed) when it would pass the cap. */
static bool buf_reserve(buf_t *b, size_t n)
{
    if (b->failed)
        return false;
    if (n > b->cap || b->len > b->cap - n) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + n + 1;
    if (need <= b->_alloc)
        return true;
    size_t alloc = b->_alloc ? b->_alloc : BUF_MIN_ALLOC;
    while (alloc < need)
        alloc = alloc > (SIZE_MAX / 2) ? need : alloc * 2;
    if (alloc > b->cap + 1)
        alloc = b->cap + 1;
    char *p = realloc(b->data, alloc);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->_alloc = alloc;
    return true;
}

void buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0 || !buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_putc(buf_t *b, char c) { buf_append(b, &c, 1); }

void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *buf_cstr(buf_t *b)
{
    if (!b->data && !b->failed)
        buf_reserve(b, 0);
    if (b->data)
        b->data[b->len] = '\0';
    return b->data ? b->data : "";
}

char *buf_steal(buf_t *b, size_t *len)
{
    buf_cstr(b);
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->_alloc = 0;
    return p;
}
