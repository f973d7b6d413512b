/*
 * hash.h - SHA-256 as lowercase hex (OpenSSL libcrypto). Pure; thread-safe.
 */
#ifndef MX_BASE_HASH_H
#define MX_BASE_HASH_H

#include <stddef.h>

/* Writes 64 hex digits and a NUL. Returns 0, or -1 if libcrypto failed (out then ""). */
int sha256_hex(const void *data, size_t len, char out[65]);

#endif
