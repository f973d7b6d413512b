/*
 * report.h - the V4 expectation response JSON (valuation §6.4-6.6, 10.A): the full view and
 *   the preset-only view.
 *   Not here: HTTP framing and gzip (http/), the readable CLI table (cli/).
 * Ownership: writes into a caller-owned buf_t; borrows the valuation.
 * Threads:   reentrant.
 * Errors:    0, or -1 when the buffer hit its cap or an allocation failed.
 */
#ifndef MX_DOMAIN_REPORT_H
#define MX_DOMAIN_REPORT_H

#include <stdbool.h>

#include "base/buf.h"
#include "base/jw.h"
#include "domain/valuation.h"

typedef struct {
    const char *user_ign;      /* requested name ("" offline, A1) */
    const char *calculated_at; /* ISO-8601 local date-time; the domain never reads the clock */
    bool from_cache;           /* payload came from a cache rather than a live call */
    int preset_only;           /* 0: full view; 1..3: the preset-only view of that preset */
} report_meta_t;

int report_v4_json(const valuation_t *v, const report_meta_t *meta, buf_t *out);

/* One CubeExpectation object (§6.4) as the next value of w (used by the `cube` CLI too). */
void report_cube_object(jw_t *w, const cube_result_t *c, const cube_text_t lines[3]);

/* The potential text of §6.1: non-blank lines joined with " | " ("" when none). */
void report_potential_text(const cube_text_t lines[3], buf_t *out);

#endif
