/* tu_tables.h - load probability CSV files into a finished ptable_t for unit tests (fails the test
 * with the loader's message on error). */
#ifndef MX_TU_TABLES_H
#define MX_TU_TABLES_H

#include "testutil.h"

#include "domain/ptable.h"

static inline ptable_t *tu_load_tables(const char *const *paths, size_t n)
{
    ptable_t *t = ptable_new();
    assert_non_null(t);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *buf = tu_read_file(paths[i], &len);
        char err[256];
        int rc = ptable_add_csv(t, buf, len, paths[i], err, sizeof err);
        free(buf);
        if (rc != 0) {
            print_error("%s\n", err);
            fail();
        }
    }
    ptable_finish(t);
    return t;
}

#endif
