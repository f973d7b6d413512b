/*
 * status.c - names of the component status codes, as printed in the V4 JSON.
 */
#include "domain/status.h"

const char *val_status_name(val_status_t s)
{
    switch (s) {
    case VAL_OK: return "OK";
    case VAL_NOT_APPLICABLE: return "NOT_APPLICABLE";
    case VAL_NO_TABLE: return "NO_TABLE";
    case VAL_UNREACHABLE: return "UNREACHABLE";
    case VAL_INVALID_INPUT: return "INVALID_INPUT";
    case VAL_TABLE_ERROR: return "TABLE_ERROR";
    }
    return "UNKNOWN";
}
