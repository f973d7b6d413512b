/*
 * num.h - the spec's rounding functions and Kahan summation (valuation §0.2).
 *   Not here: money text (domain/money.h).
 * Ownership: value types only; nothing allocates.
 * Threads:   all functions are pure and reentrant.
 * Errors:    none; arguments are >= 0 wherever the spec uses them.
 * Lifetime:  a kahan_t is initialised with KAHAN_INIT or kahan_init() and needs no disposal.
 */
#ifndef MX_BASE_NUM_H
#define MX_BASE_NUM_H

#include <math.h>
#include <stdint.h>

/* rhu(x) = floor(x + 0.5): round half up to an integer. */
static inline double num_rhu(double x) { return floor(x + 0.5); }

/* rhu_k(x) = floor(x * 10^k + 0.5) / 10^k. */
static inline double num_rhu_k(double x, int k)
{
    double scale = pow(10.0, k);
    return floor(x * scale + 0.5) / scale;
}

/* round10(x) = floor((x + 5) / 10) * 10 (starforce attempt costs). */
static inline double num_round10(double x) { return floor((x + 5.0) / 10.0) * 10.0; }

/* round100(n) = floor(n / 100 + 0.5) * 100 (displayed starforce figures, 놀장 attempt costs). */
static inline double num_round100(double x) { return floor(x / 100.0 + 0.5) * 100.0; }

/* Compensated (Kahan) summation, exactly the loop of §0.2: every "sum" of the spec goes through it. */
typedef struct {
    double sum;  /* running total */
    double comp; /* compensation term (lost low-order bits) */
} kahan_t;

#define KAHAN_INIT {0.0, 0.0}

static inline void kahan_init(kahan_t *k) { k->sum = 0.0; k->comp = 0.0; }

static inline void kahan_add(kahan_t *k, double x)
{
    double y = x - k->comp;
    double t = k->sum + y;
    k->comp = (t - k->sum) - y;
    k->sum = t;
}

#endif
