/*
 * log.c - structured JSON logs on stdout (see log.h; spec 4.3).
 *
 * A line is built in memory in the fixed field order ts, level, msg, instance, mode, version,
 * component, op, correlation_id, then the caller's extra fields, and handed to write(2) in one
 * call (repeated only for EINTR and partial writes). A process-wide mutex around the write keeps
 * lines whole even on a pipe, where the kernel only promises atomicity up to PIPE_BUF bytes.
 *
 * Bounds: instance/mode/version are cut to IDENT_MAX bytes at log_init, component/op/
 * correlation_id to TAG_MAX bytes per line, so everything but msg and the extra fields has a
 * small fixed size. A line over LOG_MAX_LINE has its escaped msg cut at a character boundary
 * (never inside an escape or a UTF-8 sequence) and carries "log_truncated":true; when even the
 * extra fields do not fit they are dropped. Settings are process-wide statics (log.h says so):
 * written by log_init before threads start, read-only afterwards.
 */
#include "ops/log.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/jw.h"

#define IDENT_MAX 128          /* bytes kept of instance, mode, version */
#define TAG_MAX 256            /* bytes kept of component, op, correlation_id */
#define MSG_STACK 1024         /* messages shorter than this are formatted without malloc */
#define TRUNC_MARK ",\"log_truncated\":true"
#define STALL_LIMIT 50         /* a non-blocking stdout that stays full for 5 s loses the line */

static const char *const LEVEL_NAMES[] = {"DEBUG", "INFO", "WARN", "ERROR"};

/* The pre-escaped `,"instance":"…","mode":"…","version":"…"` member run (log_init). */
static char g_ident[3 * (IDENT_MAX * 6 + 16) + 1] = ",\"instance\":\"-\",\"mode\":\"-\",\"version\":\"-\"";
static atomic_int g_min_level = LOG_INFO;
static pthread_mutex_t g_write_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Append `,"key":"value"` with value escaped and cut to max bytes; NULL or "" becomes "-". */
static void put_member(buf_t *b, const char *key, const char *val, size_t max)
{
    if (!val || !*val)
        val = "-";
    buf_printf(b, ",\"%s\":\"", key);
    jw_escape(b, val, min_size(strlen(val), max));
    buf_putc(b, '"');
}

void log_init(const char *instance, const char *mode, const char *version, log_level_t min)
{
    buf_t b;
    buf_init(&b, sizeof g_ident - 1);
    put_member(&b, "instance", instance, IDENT_MAX);
    put_member(&b, "mode", mode, IDENT_MAX);
    put_member(&b, "version", version, IDENT_MAX);
    if (buf_ok(&b) && b.len > 0) {
        memcpy(g_ident, b.data, b.len);
        g_ident[b.len] = '\0';
    }
    buf_dispose(&b);
    if (min < LOG_DEBUG || min > LOG_ERROR)
        min = LOG_INFO;
    atomic_store(&g_min_level, (int)min);
}

bool log_level_parse(const char *s, log_level_t *out)
{
    if (!s)
        return false;
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcasecmp(s, LEVEL_NAMES[i]) == 0) {
            if (out)
                *out = (log_level_t)i;
            return true;
        }
    }
    return false;
}

bool log_enabled(log_level_t level) { return (int)level >= atomic_load_explicit(&g_min_level, memory_order_relaxed); }

/* RFC 3339 UTC with milliseconds: 2026-02-16T03:00:00.123Z */
static void put_timestamp(buf_t *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    buf_printf(b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
               tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* The longest prefix of escaped JSON string text (valid UTF-8, escapes \x or \uXXXX) that fits
 * in budget bytes and ends on a token boundary. */
static size_t escaped_prefix(const char *s, size_t n, size_t budget)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t tok;
        if (c == '\\')
            tok = (i + 1 < n && s[i + 1] == 'u') ? 6 : 2;
        else if (c < 0x80)
            tok = 1;
        else if (c >= 0xF0)
            tok = 4;
        else if (c >= 0xE0)
            tok = 3;
        else
            tok = 2;
        if (i + tok > budget || i + tok > n)
            break;
        i += tok;
    }
    return i;
}

/* One write(2) in the normal case; loops only on EINTR, partial writes and a full non-blocking
 * stdout. Any other error drops the rest of the line. */
static void write_line(const char *p, size_t n)
{
    int stalls = 0; /* consecutive 100 ms waits without room */
    pthread_mutex_lock(&g_write_mu);
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            stalls = 0;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
            if (poll(&pfd, 1, 100) == 0 && ++stalls >= STALL_LIMIT)
                break;
        } else {
            break;
        }
    }
    pthread_mutex_unlock(&g_write_mu);
}

/* Format the message: on the stack when short, else on the heap, never more than a line. Sets
 * *cut when the text had to be shortened before escaping. Returns the heap block to free. */
static char *format_msg(char *small, const char **msg, size_t *len, bool *cut, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, MSG_STACK, fmt, ap);
    *msg = small;
    *cut = false;
    if (n < 0) {
        small[0] = '\0';
        *len = 0;
        va_end(ap2);
        return NULL;
    }
    *len = (size_t)n;
    char *heap = NULL;
    if (*len >= MSG_STACK) {
        size_t want = min_size(*len, LOG_MAX_LINE); /* more could never fit in a line */
        heap = malloc(want + 1);
        if (heap) {
            vsnprintf(heap, want + 1, fmt, ap2);
            *msg = heap;
            *cut = want < *len;
            *len = want;
        } else {
            *len = MSG_STACK - 1;
            *cut = true;
        }
    }
    va_end(ap2);
    return heap;
}

void log_emit(log_level_t level, const char *component, const char *op, const char *correlation_id,
              const char *fields, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    if (level > LOG_ERROR)
        level = LOG_ERROR;

    char small[MSG_STACK];
    const char *msg;
    size_t msg_len;
    bool cut;
    va_list ap;
    va_start(ap, fmt);
    char *heap = format_msg(small, &msg, &msg_len, &cut, fmt ? fmt : "", ap);
    va_end(ap);

    /* The common case: build the whole line in one buffer. */
    buf_t line;
    buf_init(&line, (size_t)LOG_MAX_LINE * 7);
    put_timestamp(&line);
    buf_printf(&line, ",\"level\":\"%s\",\"msg\":\"", LEVEL_NAMES[level]);
    size_t msg_start = line.len;
    jw_escape(&line, msg, msg_len);
    size_t msg_end = line.len;
    buf_putc(&line, '"');
    buf_puts(&line, g_ident);
    put_member(&line, "component", component, TAG_MAX);
    put_member(&line, "op", op, TAG_MAX);
    if (correlation_id) {
        buf_puts(&line, ",\"correlation_id\":\"");
        jw_escape(&line, correlation_id, min_size(strlen(correlation_id), TAG_MAX));
        buf_putc(&line, '"');
    }
    size_t fields_start = line.len;
    bool head_ok = buf_ok(&line); /* all but the fields were built (false only without memory) */
    size_t fields_len = fields && *fields ? strlen(fields) + 1 : 0;
    if (fields_len) {
        buf_putc(&line, ',');
        buf_puts(&line, fields);
    }
    buf_append(&line, "}\n", 2);

    if (buf_ok(&line) && !cut && line.len <= LOG_MAX_LINE) {
        write_line(line.data, line.len);
    } else if (head_ok) {
        /* Too long: rebuild with the msg cut to what fits (and without the fields if they alone
         * are too big). What precedes and follows msg is already escaped in `line`. */
        size_t before = msg_start;
        size_t after = fields_start - msg_end; /* closing quote, identity, tags */
        size_t marker = strlen(TRUNC_MARK);
        if (!buf_ok(&line) || before + after + fields_len + marker + 2 > LOG_MAX_LINE)
            fields_len = 0;
        size_t fixed = before + after + fields_len + marker + 2;
        if (fixed <= LOG_MAX_LINE) {
            size_t keep = escaped_prefix(line.data + msg_start, msg_end - msg_start, LOG_MAX_LINE - fixed);
            buf_t t;
            buf_init(&t, LOG_MAX_LINE);
            buf_append(&t, line.data, before + keep);
            buf_append(&t, line.data + msg_end, after + fields_len);
            buf_append(&t, TRUNC_MARK "}\n", marker + 2);
            if (buf_ok(&t))
                write_line(t.data, t.len);
            buf_dispose(&t);
        }
    }
    buf_dispose(&line);
    free(heap);
}

/* ---------------------------------------------------------------------------------------------
 * Builders of the fields fragment
 */

/* A writer positioned after the fragment's last member (a comma follows when b is not empty). */
static void fields_writer(jw_t *w, buf_t *b, const char *key)
{
    jw_init(w, b);
    w->need_comma[0] = b->len > 0;
    jw_key(w, key);
}

void log_fields_str(buf_t *b, const char *key, const char *val)
{
    jw_t w;
    fields_writer(&w, b, key);
    jw_string(&w, val);
}

void log_fields_int(buf_t *b, const char *key, long long val)
{
    jw_t w;
    fields_writer(&w, b, key);
    jw_int(&w, (int64_t)val);
}

void log_fields_num(buf_t *b, const char *key, double val)
{
    jw_t w;
    fields_writer(&w, b, key);
    jw_double(&w, val);
}

void log_fields_bool(buf_t *b, const char *key, bool val)
{
    jw_t w;
    fields_writer(&w, b, key);
    jw_bool(&w, val);
}

void log_fields_masked(buf_t *b, const char *key, const char *val)
{
    if (!val) {
        log_fields_str(b, key, NULL);
        return;
    }
    size_t n = strlen(val);
    char masked[4 + 4 + 4 + 1] = "****";
    if (n > 8) {
        memcpy(masked, val, 4);
        memcpy(masked + 4, "****", 4);
        memcpy(masked + 8, val + n - 4, 4);
        masked[12] = '\0';
    }
    log_fields_str(b, key, masked);
}
