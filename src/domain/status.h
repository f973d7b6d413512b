/*
 * status.h - the status code every computed component carries (valuation §0.3).
 *   Not here: process or HTTP errors (those are input errors, never a status).
 * Ownership: value types only.  Threads: pure.  Errors: none.
 */
#ifndef MX_DOMAIN_STATUS_H
#define MX_DOMAIN_STATUS_H

typedef enum {
    VAL_OK = 0,         /* computed; numeric fields filled */
    VAL_NOT_APPLICABLE, /* the component does not exist for this item */
    VAL_NO_TABLE,       /* no probability rows for (cube type, part, grade) */
    VAL_UNREACHABLE,    /* success probability 0: infinite expectation, never reported as 0 */
    VAL_INVALID_INPUT,  /* grade text that is not one of the four Korean grades */
    VAL_TABLE_ERROR,    /* a selected probability group has mass 0 (or a negative contribution) */
} val_status_t;

/* The spec's upper-case name of a status ("OK", "NOT_APPLICABLE", ...). Never NULL. */
const char *val_status_name(val_status_t s);

/* Size of the fixed reason buffers carried by component results (bytes, NUL included). */
#define VAL_REASON_LEN 160

#endif
