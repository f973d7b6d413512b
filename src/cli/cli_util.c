/*
 * cli_util.c - helpers shared by the subcommands: error lines, strict integers, input files,
 * probability-table loading and the wall clock (the only clock read of the CLI).
 *
 * Table location: --tables wins; otherwise $MAPLEXP_DATA_DIR, otherwise the data directory
 * compiled in by the Makefile (MAPLEXP_DATADIR, the repository's data/), so that `maplexp`
 * works from any working directory after `make`.
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/buf.h"
#include "base/gz.h"

#ifndef MAPLEXP_DATADIR
#define MAPLEXP_DATADIR "data"
#endif

#define CLI_TABLE_FILES 2
static const char *const SHIPPED_TABLES[CLI_TABLE_FILES] = {"cube_probability.csv",
                                                            "additional_potential_probability.csv"};

void cli_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "maplexp%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", msg);
}

bool cli_parse_int(const char *text, long lo, long hi, long *out)
{
    if (!text || !*text)
        return false;
    const char *p = text;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    errno = 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (errno || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Read all of f into b (capped). */
static int read_stream(FILE *f, buf_t *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(b, chunk, n);
        if (!buf_ok(b))
            return -1;
    }
    return ferror(f) ? -1 : 0;
}

char *cli_read_input(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t raw;
    buf_init(&raw, CLI_MAX_INPUT);
    int rc = read_stream(f, &raw);
    int saved = errno;
    if (f != stdin)
        fclose(f);
    if (rc != 0) {
        if (!buf_ok(&raw))
            snprintf(err, errlen, "%s: larger than %u bytes", path, CLI_MAX_INPUT);
        else
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(saved));
        buf_dispose(&raw);
        return NULL;
    }
    if (gz_is_gzip(raw.data, raw.len)) {
        buf_t plain;
        buf_init(&plain, CLI_MAX_INPUT);
        if (gz_inflate(raw.data, raw.len, &plain) != 0) {
            snprintf(err, errlen, "%s: corrupt gzip data or larger than %u bytes uncompressed", path, CLI_MAX_INPUT);
            buf_dispose(&plain);
            buf_dispose(&raw);
            return NULL;
        }
        buf_dispose(&raw);
        return buf_steal(&plain, len);
    }
    return buf_steal(&raw, len);
}

static int load_one(ptable_t *t, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *data = cli_read_input(path, &len, err, errlen);
    if (!data)
        return -1;
    int rc = ptable_add_csv(t, data, len, path, err, errlen);
    free(data);
    return rc;
}

ptable_t *cli_load_tables(const char *paths, char *err, size_t errlen)
{
    ptable_t *t = ptable_new();
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int rc = 0;
    if (paths) {
        char *copy = strdup(paths);
        char *save = NULL;
        int count = 0;
        for (char *p = strtok_r(copy, ",", &save); p && rc == 0; p = strtok_r(NULL, ",", &save), count++)
            rc = load_one(t, p, err, errlen);
        free(copy);
        if (rc == 0 && count == 0) {
            snprintf(err, errlen, "--tables: no file given");
            rc = -1;
        }
    } else {
        const char *dir = getenv("MAPLEXP_DATA_DIR");
        if (!dir || !*dir)
            dir = MAPLEXP_DATADIR;
        for (int i = 0; i < CLI_TABLE_FILES && rc == 0; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, SHIPPED_TABLES[i]);
            rc = load_one(t, path, err, errlen);
        }
    }
    if (rc != 0) {
        ptable_free(t);
        return NULL;
    }
    ptable_finish(t);
    return t;
}

int cli_write_stdout(const char *cmd, buf_t *out)
{
    if (!buf_ok(out) || fwrite(out->data, 1, out->len, stdout) != out->len || fflush(stdout) != 0) {
        cli_error(cmd, "cannot write the output");
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

void cli_now_iso(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%06ld", date, (long)tv.tv_usec);
}
