/*
 * utf8.h - strict UTF-8 decoding of one sequence: no overlong forms, no surrogates, nothing past
 * U+10FFFF. Pure and thread-safe. Used by the JSON writer, the metrics exposition and the router.
 */
#ifndef MX_BASE_UTF8_H
#define MX_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid sequence at s (at most n bytes), or 0 if it is malformed.
 * *cp (may be NULL) receives the code point. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
