/*
 * money.c - Korean money text and comma-grouped numbers (valuation §6.6, golden 8.1).
 *
 * The Korean text works on the integer rhu(x): whole 조 (10^12), 억 (10^8) and 만 (10^4)
 * parts separated by one space; the part below 만 is dropped, not rounded. Amounts are
 * bounded far below 2^63 in practice; values that do not fit an int64 are clamped so a
 * hostile payload can never make the formatter overflow its buffer.
 */
#include "domain/money.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/num.h"

#define JO 1000000000000LL /* 조 = 10^12 */
#define EOK 100000000LL    /* 억 = 10^8 */
#define MAN 10000LL        /* 만 = 10^4 */

/* Largest double below 2^63, so the int64 conversion is always defined. */
#define MONEY_MAX_EXACT 9.2233720368547748e18

void money_korean(double x, char out[MONEY_TEXT_LEN])
{
    if (!(x > 0)) { /* also catches NaN */
        strcpy(out, "0");
        return;
    }
    double r = num_rhu(x);
    int64_t n = r >= MONEY_MAX_EXACT ? INT64_MAX : (int64_t)r;
    size_t len = 0;
    out[0] = '\0';
    if (n >= JO) {
        len += (size_t)snprintf(out + len, MONEY_TEXT_LEN - len, "%lld조 ", (long long)(n / JO));
        n %= JO;
    }
    if (n >= EOK) {
        len += (size_t)snprintf(out + len, MONEY_TEXT_LEN - len, "%lld억 ", (long long)(n / EOK));
        n %= EOK;
    }
    if (n >= MAN)
        len += (size_t)snprintf(out + len, MONEY_TEXT_LEN - len, "%lld만", (long long)(n / MAN));
    while (len > 0 && out[len - 1] == ' ')
        out[--len] = '\0';
    if (len == 0)
        strcpy(out, "0");
}

void money_commas(int64_t n, char out[MONEY_TEXT_LEN])
{
    char digits[32];
    /* Work on the magnitude as unsigned so INT64_MIN is representable. */
    uint64_t mag = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
    size_t o = 0;
    if (n < 0)
        out[o++] = '-';
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}
