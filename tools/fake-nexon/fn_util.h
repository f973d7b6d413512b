/*
 * fn_util.h - small helpers of the fake Nexon server: SHA-256 (OpenSSL EVP), hex, a
 *   deterministic PRNG (splitmix64) and bounded whole-file reading.
 *   Not here: anything about characters or HTTP.
 * Ownership: fn_read_file() returns a heap buffer the caller frees; everything else writes
 *   into caller memory.
 * Threads:   every function is reentrant (a fn_rng_t belongs to one thread).
 * Errors:    fn_sha256() returns -1 when libcrypto fails; fn_read_file() returns NULL with a
 *   message in err (missing file, read error, larger than the cap, out of memory).
 */
#ifndef FN_UTIL_H
#define FN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64: tiny, fast, and the same sequence on every platform for the same seed. */
typedef struct {
    uint64_t state;
} fn_rng_t;

void fn_rng_seed(fn_rng_t *r, uint64_t seed);
uint64_t fn_rng_next(fn_rng_t *r);
/* Uniform integer in [0, n); n == 0 returns 0. */
uint32_t fn_rng_below(fn_rng_t *r, uint32_t n);
/* Uniform double in [0, 1). */
double fn_rng_unit(fn_rng_t *r);

int fn_sha256(const void *data, size_t len, unsigned char out[32]);
/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void fn_hex(const unsigned char *bytes, size_t n, char *out);
/* First 8 bytes (big-endian) of SHA-256(prefix || text): a per-name seed. 0 if hashing fails. */
uint64_t fn_seed_of(const char *prefix, const char *text, size_t len);

/* Read a whole regular file of at most cap bytes; the buffer is NUL-terminated. */
char *fn_read_file(const char *path, size_t cap, size_t *len, char *err, size_t errlen);

#endif
