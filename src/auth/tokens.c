/*
 * tokens.c - small authentication values (platform spec 0.2, 1.3, M4, M13, 2.3.10): the startup
 * check of secrets, API-key fingerprints (HMAC-SHA256), masking for logs, account ids (SHA-256
 * over sorted account ids), refresh tokens and their stored hash, UUIDv4 session ids.
 * Randomness comes from getrandom(2), with /dev/urandom when the syscall is unavailable; a
 * failure to get random bytes is reported (-1), never papered over with weaker randomness.
 */
#include "auth/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/hash.h"

/* ---- secrets -------------------------------------------------------------------------------- */

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\v' && *s != '\f')
            return false;
    return true;
}

const char *auth_secret_problem(const char *secret, bool production)
{
    if (!secret || is_blank(secret))
        return "is blank";
    /* before the length: "${JWT_SECRET}" is short, but the useful news is the unexpanded placeholder */
    if (strstr(secret, "${"))
        return "contains an unresolved ${...} placeholder";
    if (strlen(secret) < AUTH_SECRET_MIN)
        return "is shorter than 32 bytes";
    if (production && strncmp(secret, "dev-secret", 10) == 0)
        return "is a development secret (starts with dev-secret) in the production profile";
    return NULL;
}

/* ---- fingerprints, masks, account ids -------------------------------------------------------- */

int auth_fingerprint(const char *fingerprint_secret, const char *api_key, char out[AUTH_FP_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!fingerprint_secret || !*fingerprint_secret || !api_key)
        return -1;
    if (!HMAC(EVP_sha256(), fingerprint_secret, (int)strlen(fingerprint_secret), (const unsigned char *)api_key,
              strlen(api_key), md, &n) || n != 32)
        return -1;
    return auth_b64url_encode(md, n, out, AUTH_FP_LEN + 1) == AUTH_FP_LEN ? 0 : -1;
}

char *auth_mask(const char *s, char *out, size_t cap)
{
    if (!out || cap == 0)
        return out;
    size_t n = s ? strlen(s) : 0;
    if (n < 12) /* first 4 + last 4 of fewer than 12 bytes would hide fewer than 4 */
        snprintf(out, cap, "****");
    else
        snprintf(out, cap, "%.4s****%s", s, s + n - 4);
    return out;
}

static int cmp_bytes(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b); /* compares as unsigned char */
}

/* SHA-256 of join(",", ids[0..n)) as Base64URL. */
static int digest_joined(const char *const *ids, size_t n, char out[AUTH_FP_LEN + 1])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < n; i++) /* streamed: the joined string is never built */
        ok = (i == 0 || EVP_DigestUpdate(ctx, ",", 1)) && EVP_DigestUpdate(ctx, ids[i], strlen(ids[i]));
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    return ok && auth_b64url_encode(md, mdlen, out, AUTH_FP_LEN + 1) == AUTH_FP_LEN ? 0 : -1;
}

int auth_account_id(const char *const *account_ids, size_t n, char out[AUTH_FP_LEN + 1])
{
    out[0] = '\0';
    if (!account_ids || n == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!account_ids[i])
            return -1;
    const char **sorted = malloc(n * sizeof *sorted); /* the caller's array stays as it is */
    if (!sorted)
        return -1;
    memcpy(sorted, account_ids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_bytes);
    int rc = digest_joined(sorted, n, out);
    free(sorted);
    return rc;
}

/* ---- randomness ------------------------------------------------------------------------------ */

static int urandom_fill(unsigned char *p, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    return got == n ? 0 : -1;
}

/* n cryptographically random bytes; -1 if none can be had. */
static int random_fill(unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(p + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno == ENOSYS ? urandom_fill(p + got, n - got) : -1;
        got += (size_t)k;
    }
    return 0;
}

int auth_random_b64url(char out[AUTH_FP_LEN + 1])
{
    unsigned char r[32];
    out[0] = '\0';
    if (random_fill(r, sizeof r) != 0)
        return -1;
    int n = auth_b64url_encode(r, sizeof r, out, AUTH_FP_LEN + 1);
    OPENSSL_cleanse(r, sizeof r);
    return n == AUTH_FP_LEN ? 0 : -1;
}

int auth_new_refresh_token(char out[AUTH_FP_LEN + 1])
{
    return auth_random_b64url(out);
}

int auth_token_hash(const char *token, char out[65])
{
    out[0] = '\0';
    if (!token)
        return -1;
    return sha256_hex(token, strlen(token), out);
}

int auth_uuid4(char out[37])
{
    static const char HEX[] = "0123456789abcdef";
    unsigned char r[16];
    out[0] = '\0';
    if (random_fill(r, sizeof r) != 0)
        return -1;
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* variant 10xx */
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = HEX[r[i] >> 4];
        out[o++] = HEX[r[i] & 15];
    }
    out[o] = '\0';
    return 0;
}
