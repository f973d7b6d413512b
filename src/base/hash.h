/*
 * hash.h - SHA-256 as lowercase hex (OpenSSL libcrypto) and FNV-1a for hash tables. Pure; thread-safe.
 */
#ifndef MX_BASE_HASH_H
#define MX_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bit, for in-memory hash tables (not for anything an attacker must not collide):
 * h = fnv1a64_update(FNV1A64_INIT, p, n), and further updates to hash several pieces. */
#define FNV1A64_INIT UINT64_C(1469598103934665603)
static inline uint64_t fnv1a64_update(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* Writes 64 hex digits and a NUL. Returns 0, or -1 if libcrypto failed (out then ""). */
int sha256_hex(const void *data, size_t len, char out[65]);

#endif
