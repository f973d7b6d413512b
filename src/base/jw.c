/*
 * jw.c - streaming JSON writer (see jw.h).
 *
 * The writer tracks, per nesting level, whether a value has been written so that commas are
 * inserted automatically; a key suppresses the comma of the value that follows it. Strings are
 * validated as UTF-8 while escaping: a malformed sequence becomes U+FFFD, so text copied from
 * an upstream payload can never make our output invalid JSON.
 */
#include "base/jw.h"
#include "base/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jw_t *w, buf_t *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

/* Comma bookkeeping before any value or key. */
static void jw_sep(jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma[w->depth])
        buf_putc(w->out, ',');
    w->need_comma[w->depth] = true;
}

static void jw_open(jw_t *w, char c)
{
    jw_sep(w);
    if (w->depth >= JW_MAX_DEPTH) {
        w->out->failed = true;
        return;
    }
    buf_putc(w->out, c);
    w->need_comma[++w->depth] = false;
}

static void jw_close(jw_t *w, char c)
{
    if (w->depth <= 0) {
        w->out->failed = true;
        return;
    }
    w->depth--;
    buf_putc(w->out, c);
}

void jw_object_begin(jw_t *w) { jw_open(w, '{'); }
void jw_object_end(jw_t *w) { jw_close(w, '}'); }
void jw_array_begin(jw_t *w) { jw_open(w, '['); }
void jw_array_end(jw_t *w) { jw_close(w, ']'); }

void jw_key(jw_t *w, const char *key)
{
    jw_sep(w);
    buf_putc(w->out, '"');
    buf_puts(w->out, key);
    buf_append(w->out, "\":", 2);
    w->after_key = true;
}

void jw_null(jw_t *w)
{
    jw_sep(w);
    buf_append(w->out, "null", 4);
}

void jw_bool(jw_t *w, bool v)
{
    jw_sep(w);
    buf_puts(w->out, v ? "true" : "false");
}

void jw_int(jw_t *w, int64_t v)
{
    jw_sep(w);
    buf_printf(w->out, "%lld", (long long)v);
}

void jw_whole(jw_t *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    jw_sep(w);
    buf_printf(w->out, "%.0f", v);
}

void jw_fixed2(jw_t *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    jw_sep(w);
    buf_printf(w->out, "%.2f", v);
}

void jw_double(jw_t *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* "1" and "1e-05" are valid JSON numbers; nothing else to fix up. */
    jw_sep(w);
    buf_puts(w->out, tmp);
}


void jw_escape(buf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: start of the pending verbatim span */
    while (i < n) {
        unsigned char c = p[i];
        size_t len = utf8_decode(p + i, n - i, NULL);
        if (len > 1) {
            i += len;
            continue;
        }
        if (len == 1 && c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        buf_append(out, s + run, i - run);
        if (len == 0) {
            buf_append(out, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(out, esc, 2);
        } else if (c == '\n') {
            buf_append(out, "\\n", 2);
        } else if (c == '\t') {
            buf_append(out, "\\t", 2);
        } else if (c == '\r') {
            buf_append(out, "\\r", 2);
        } else {
            buf_printf(out, "\\u%04x", c);
        }
        i++;
        run = i;
    }
    buf_append(out, s + run, n - run);
}

void jw_string_n(jw_t *w, const char *s, size_t n)
{
    if (!s) {
        jw_null(w);
        return;
    }
    jw_sep(w);
    buf_putc(w->out, '"');
    jw_escape(w->out, s, n);
    buf_putc(w->out, '"');
}

void jw_string(jw_t *w, const char *s) { jw_string_n(w, s, s ? strlen(s) : 0); }
