/*
 * hash.c - SHA-256 hex digests through OpenSSL's EVP interface.
 */
#include "base/hash.h"

#include <openssl/evp.h>
#include <stdio.h>

int sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
        return -1;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}
