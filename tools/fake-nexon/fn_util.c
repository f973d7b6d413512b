/*
 * fn_util.c - SHA-256 through the one-shot EVP digest, splitmix64 and whole-file reading for the
 * fake Nexon server (see fn_util.h). splitmix64 is chosen over rand() because its output is fixed
 * by the seed alone: a character's payload must be byte-identical on every run and machine.
 */
#include "fn_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

void fn_rng_seed(fn_rng_t *r, uint64_t seed) { r->state = seed; }

uint64_t fn_rng_next(fn_rng_t *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t fn_rng_below(fn_rng_t *r, uint32_t n)
{
    if (n == 0)
        return 0;
    return (uint32_t)(((fn_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

double fn_rng_unit(fn_rng_t *r) { return (double)(fn_rng_next(r) >> 11) * 0x1.0p-53; }

int fn_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        memset(out, 0, 32);
        return -1;
    }
    return 0;
}

void fn_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

uint64_t fn_seed_of(const char *prefix, const char *text, size_t len)
{
    size_t plen = strlen(prefix);
    unsigned char *joined = malloc(plen + len + 1);
    if (!joined)
        return 0;
    memcpy(joined, prefix, plen);
    memcpy(joined + plen, text, len);
    unsigned char digest[32];
    int rc = fn_sha256(joined, plen + len, digest);
    free(joined);
    if (rc != 0)
        return 0;
    uint64_t seed = 0;
    for (int i = 0; i < 8; i++)
        seed = (seed << 8) | digest[i];
    return seed;
}

char *fn_read_file(const char *path, size_t cap, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t)st.st_size > cap) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, cap);
        fclose(f);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *data = malloc(size + 1);
    if (!data) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return NULL;
    }
    size_t got = fread(data, 1, size, f);
    bool failed = ferror(f) != 0 || got != size;
    fclose(f);
    if (failed) {
        snprintf(err, errlen, "%s: read error", path);
        free(data);
        return NULL;
    }
    data[size] = '\0';
    *len = size;
    return data;
}
