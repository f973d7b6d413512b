/*
 * table_out.h - the readable (non-JSON) output of `maplexp calc`: one table per preset with
 *   display-width-aware alignment for Korean text, and the preset totals.
 * Ownership: appends to a caller-owned buf_t.  Threads: main thread.  Errors: via buf_ok().
 */
#ifndef MX_CLI_TABLE_OUT_H
#define MX_CLI_TABLE_OUT_H

#include "base/buf.h"
#include "domain/valuation.h"

/* preset_only: 0 = every preset, else just that one. */
void table_out_valuation(const valuation_t *v, int preset_only, buf_t *out);

/* Append s padded with spaces to `width` terminal columns (Hangul counts 2). Longer text is
 * cut at a character boundary. right = right-aligned. */
void table_out_cell(buf_t *out, const char *s, size_t len, int width, bool right);

#endif
