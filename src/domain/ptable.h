/*
 * ptable.h - the cube probability tables (valuation §1.3, §3.2, §3.3): CSV loading, validation,
 *   group lookup and table-level selection.
 *   Not here: reading files (the caller hands the bytes in: domain/ does no I/O), probabilities
 *   of whole potentials (cube.h).
 * Ownership: ptable_new() returns a table owned by the caller, released with ptable_free().
 *   ptable_add_csv() copies everything it keeps; the input buffer may be freed afterwards.
 *   Pointers returned by lookups (groups, rows, option texts) live as long as the table.
 * Threads:   loading (add_csv, finish) is single-threaded. After ptable_finish() the table is
 *   immutable and every lookup may be called from any number of threads at once.
 * Errors:    ptable_add_csv() returns 0, or -1 with "NAME:LINE: problem" written to err
 *   (bad header, wrong column count, rate not a number in (0, 1], slot not 1..3, unknown grade,
 *   unknown part, level not an integer 0..300, unknown cube type, empty line before the end, out
 *   of memory, or a call after ptable_finish()). A failed file adds nothing (all or nothing).
 *   Accepted variants: a leading UTF-8 BOM, CRLF line ends, trailing empty lines, and a row of 6
 *   fields (cube_type missing = BLACK, like an empty one). Lookups return NULL / -1 for "absent"
 *   (also before ptable_finish()).
 * Lifetime:  ptable_new() / ptable_free(NULL-safe). ptable_finish() once, after the last add.
 */
#ifndef MX_DOMAIN_PTABLE_H
#define MX_DOMAIN_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/stat.h"

typedef enum { CUBE_BLACK = 0, CUBE_ADDITIONAL = 1, CUBE__COUNT } cube_type_t;

/* Ascending grade order; the Korean names are the only accepted spellings. */
typedef enum { GRADE_RARE = 0, GRADE_EPIC, GRADE_UNIQUE, GRADE_LEGENDARY, GRADE__COUNT } grade_t;

#define PTABLE_PART_COUNT 25 /* the 25 table parts of §1.3 */

/* "BLACK" / "ADDITIONAL". */
const char *cube_type_name(cube_type_t t);
/* 레어/에픽/유니크/레전드리 → grade; returns false for anything else (exact bytes, already trimmed). */
bool grade_from_text(const char *s, size_t len, grade_t *out);
const char *grade_name(grade_t g);
/* Index 0..24 of a table part name (exact bytes), or -1 when it is not one of the 25. */
int ptable_part_index(const char *s, size_t len);
const char *ptable_part_name(int part);

typedef struct ptable ptable_t;

typedef struct {
    uint32_t option; /* interned option id (ptable_option_text / ptable_option_stat) */
    double rate;     /* raw rate as in the file */
} ptable_row_t;

/* One group: the rows sharing (cube type, level, part, grade, line), in file order. */
typedef struct {
    const ptable_row_t *rows;
    size_t count;
    double mass; /* Kahan Σ rate in file order (§3.3) */
} ptable_group_t;

ptable_t *ptable_new(void);
void ptable_free(ptable_t *t);

/* Append the rows of one CSV file (format of §1.3; `name` is used in messages only). */
int ptable_add_csv(ptable_t *t, const char *data, size_t len, const char *name, char *err, size_t errlen);

/* Build the lookup indexes. Must be called once after the last ptable_add_csv(). */
void ptable_finish(ptable_t *t);

/* Number of data rows loaded (all files). */
size_t ptable_row_count(const ptable_t *t);

/* §3.2: select the table level for an item of level `item_level`. Returns 0 and writes the level,
 * or -1 when no level is present for (type, part, grade) (NO_TABLE). */
int ptable_select_level(const ptable_t *t, cube_type_t type, int part, grade_t grade, int item_level,
                        int *table_level);

/* The group (type, level, part, grade, line 1..3), or NULL when it has no rows. */
const ptable_group_t *ptable_group(const ptable_t *t, cube_type_t type, int level, int part, grade_t grade,
                                   int line);

/* Interned option text (exact bytes of the file, NUL-terminated) and its classification. */
const char *ptable_option_text(const ptable_t *t, uint32_t option);
const stat_line_t *ptable_option_stat(const ptable_t *t, uint32_t option);
/* Id of an option text (byte-exact); false when no row carries that text. */
bool ptable_find_option(const ptable_t *t, const char *s, size_t len, uint32_t *option);

/* Validation report: calls fn once per group whose mass differs from 1 by more than 1e-12
 * (these groups are renormalised when used). Returns the number of such groups. */
typedef void (*ptable_anomaly_fn)(void *ctx, cube_type_t type, int level, int part, grade_t grade, int line,
                                  double mass, size_t rows);
size_t ptable_report_anomalies(const ptable_t *t, ptable_anomaly_fn fn, void *ctx);

#endif
