/*
 * money.h - money texts (valuation §6.6): the Korean 조/억/만 text used in the JSON and the
 *   plain comma-separated number used in the readable CLI table and logs.
 *   Not here: rounding helpers (base/num.h).
 * Ownership: callers pass the output buffer; MONEY_TEXT_LEN bytes always suffice.
 * Threads:   pure and reentrant.
 * Errors:    none; NaN, infinities and values <= 0 format as "0".
 */
#ifndef MX_DOMAIN_MONEY_H
#define MX_DOMAIN_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Enough for "999999조 9999억 9999만" and for a comma-separated int64 with sign. */
#define MONEY_TEXT_LEN 64

/* format(x) of §6.6: rhu(x), then 조/억/만 parts; the remainder below 10,000 is dropped. */
void money_korean(double x, char out[MONEY_TEXT_LEN]);

/* The integer with ',' thousands separators, e.g. 12,345,678,900,000. */
void money_commas(int64_t n, char out[MONEY_TEXT_LEN]);

#endif
