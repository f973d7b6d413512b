/*
 * testutil.h - shared helpers for the cmocka unit tests: golden comparisons with the spec's
 * tolerance (relative error <= 1e-12, §0.2) and loading project files (tests run from the
 * repository root; they never read ../shared).
 */
#ifndef MX_TESTUTIL_H
#define MX_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Relative tolerance of the spec for probabilities, exact trial counts and masses. */
#define TU_REL_TOL 1e-12

static inline void tu_assert_rel_(double got, double want, double tol, const char *expr, const char *file, int line)
{
    double scale = fabs(want) > 0 ? fabs(want) : 1.0;
    if (!(fabs(got - want) <= tol * scale)) {
        print_error("%s: got %.17g, want %.17g (rel err %.3g > %.3g)\n", expr, got, want,
                       fabs(got - want) / scale, tol);
        _fail(file, line);
    }
}
#define assert_rel(got, want) tu_assert_rel_((got), (want), TU_REL_TOL, #got, __FILE__, __LINE__)
#define assert_rel_tol(got, want, tol) tu_assert_rel_((got), (want), (tol), #got, __FILE__, __LINE__)

/* Read a whole file into a NUL-terminated heap buffer (caller frees); fails the test on error. */
static inline char *tu_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s\n", path);
        fail();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    assert_int_equal(got, (size_t)n);
    buf[n] = '\0';
    if (len_out)
        *len_out = (size_t)n;
    return buf;
}

#define TU_BLACK_CSV "data/cube_probability.csv"
#define TU_ADDITIONAL_CSV "data/additional_potential_probability.csv"
#define TU_SAMPLE_JSON "tests/data/evan_equip.json"

#endif
