/*
 * cli.h - shared pieces of the `maplexp` command line: exit codes, strict number parsing,
 *   whole-file reading (with gunzip), table loading, and each subcommand's entry point.
 *   Not here: any computation (domain/).
 * Ownership: functions returning heap memory say so; the caller frees it.
 * Threads:   main thread only (the CLI is single-threaded).
 * Errors:    input problems print one line on stderr ("maplexp calc: ...") and the command
 *   returns CLI_EXIT_USAGE (2, §10.E5); internal failures return CLI_EXIT_FAILURE (1).
 */
#ifndef MX_CLI_CLI_H
#define MX_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "domain/ptable.h"

#include "ops/version.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1 /* internal error: out of memory, broken installation */
#define CLI_EXIT_USAGE 2   /* the input is wrong: the message says how */

#define CLI_MAX_INPUT (64u << 20) /* bytes; a real payload is under 1 MB */

/* Print "maplexp CMD: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict integer: the whole text is an optional sign and digits within [lo, hi]. */
bool cli_parse_int(const char *text, long lo, long hi, long *out);

/* Read a whole file ("-" = stdin), gunzipping it when it starts with 1f 8b. Returns a heap
 * buffer (NUL-terminated; free() it) or NULL with a message in err. */
char *cli_read_input(const char *path, size_t *len, char *err, size_t errlen);

/* Load probability tables: `paths` is a comma-separated list, or NULL for the shipped pair
 * (MAPLEXP_DATA_DIR, else the build's data directory). NULL with a message on failure. */
ptable_t *cli_load_tables(const char *paths, char *err, size_t errlen);

/* Write a finished buffer to stdout and flush. Returns CLI_EXIT_OK, or prints why and returns
 * CLI_EXIT_FAILURE when the buffer hit its cap or the write failed. */
int cli_write_stdout(const char *cmd, buf_t *out);

/* Current local time as "YYYY-MM-DDTHH:MM:SS.ffffff" (§6.4 calculatedAt). */
void cli_now_iso(char out[32]);

int cmd_calc(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_starforce(int argc, char **argv);
int cmd_cube(int argc, char **argv);
int cmd_tables(int argc, char **argv);

/* Help texts: cli_help(NULL) is the overview; cli_help("calc") one subcommand. Returns false
 * for an unknown subcommand. */
bool cli_help(const char *subcommand, void *stream);

#endif
