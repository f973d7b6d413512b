/*
 * jwt.c - HS256 access tokens (platform spec 1.3, M16), written by hand on OpenSSL's HMAC.
 *
 * Signing writes the fixed header {"alg":"HS256","typ":"JWT","kid":"<kid>"} and the seven
 * claims. Verification runs its checks in a fixed order and answers with the first failure:
 *   length -> three parts -> header (Base64URL, JSON object) -> alg pinned to HS256 -> typ/crit
 *   -> key by kid -> payload Base64URL -> signature (CRYPTO_memcmp) -> payload JSON object
 *   -> claims present and typed -> iss -> role -> exp/nbf/iat against now +- leeway.
 * The payload JSON is parsed only after the signature matched. Decoded parts live on the stack
 * (at most 6 KiB each); cJSON trees are freed before returning.
 */
#include "auth/auth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/jw.h"

#define SIG_LEN 32                              /* HMAC-SHA256 */
#define PART_MAX (JWT_MAX_LEN / 4 * 3 + 1)      /* decoded bytes of one part, plus a NUL */
#define MAX_EXACT_INT 9007199254740992.0        /* 2^53: larger JSON numbers are not exact */

static const char *const RC_NAMES[] = {
    [JWT_OK] = "OK",
    [JWT_MALFORMED] = "MALFORMED",
    [JWT_BAD_ALG] = "BAD_ALG",
    [JWT_UNKNOWN_KID] = "UNKNOWN_KID",
    [JWT_BAD_SIGNATURE] = "BAD_SIGNATURE",
    [JWT_EXPIRED] = "EXPIRED",
    [JWT_NOT_YET_VALID] = "NOT_YET_VALID",
    [JWT_BAD_ISSUER] = "BAD_ISSUER",
    [JWT_MISSING_CLAIM] = "MISSING_CLAIM",
    [JWT_BAD_CLAIM] = "BAD_CLAIM",
};

const char *jwt_rc_name(jwt_rc_t rc)
{
    if ((unsigned)rc < sizeof RC_NAMES / sizeof RC_NAMES[0] && RC_NAMES[rc])
        return RC_NAMES[rc];
    return "UNKNOWN";
}

/* ---- keys ----------------------------------------------------------------------------------- */

int jwt_key_init(jwt_key_t *k, const void *secret, size_t len)
{
    if (!k)
        return -1;
    memset(k, 0, sizeof *k);
    if (!secret || len == 0)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(secret, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    for (int i = 0; i < JWT_KID_LEN / 2; i++)
        snprintf(k->kid + 2 * i, 3, "%02x", md[i]);
    if (len > sizeof k->hkey) { /* RFC 2104: a key longer than the block is replaced by its hash */
        memcpy(k->hkey, md, mdlen);
        k->hkey_len = mdlen;
    } else {
        memcpy(k->hkey, secret, len);
        k->hkey_len = len;
    }
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

int jwt_keyring_add(jwt_keyring_t *r, const char *secret)
{
    if (!r || !secret || r->n >= JWT_MAX_KEYS)
        return -1;
    if (jwt_key_init(&r->keys[r->n], secret, strlen(secret)) != 0)
        return -1;
    r->n++;
    return 0;
}

void jwt_keyring_wipe(jwt_keyring_t *r)
{
    if (r) {
        OPENSSL_cleanse(r, sizeof *r);
        r->n = 0;
    }
}

/* HMAC-SHA256 of data under key; false on a libcrypto failure. */
static bool hs256(const jwt_key_t *key, const void *data, size_t n, unsigned char sig[SIG_LEN])
{
    unsigned int len = 0;
    return HMAC(EVP_sha256(), key->hkey, (int)key->hkey_len, data, n, sig, &len) != NULL && len == SIG_LEN;
}

/* ---- signing -------------------------------------------------------------------------------- */

static bool is_role(const char *r)
{
    return strcmp(r, "USER") == 0 || strcmp(r, "ADMIN") == 0;
}

static bool is_time(int64_t t)
{
    return t >= 0 && (double)t <= MAX_EXACT_INT;
}

/* A string claim we are willing to sign: NUL-terminated inside its field and not empty. */
static bool is_claim_string(const char *s)
{
    size_t n = strnlen(s, JWT_CLAIM_MAX);
    return n > 0 && n < JWT_CLAIM_MAX;
}

static bool claims_signable(const jwt_claims_t *c)
{
    return is_claim_string(c->iss) && is_claim_string(c->sub) && is_claim_string(c->fgp) &&
           strnlen(c->role, sizeof c->role) < sizeof c->role && is_role(c->role) && is_time(c->iat) &&
           is_time(c->nbf) && is_time(c->exp);
}

static void write_payload(const jwt_claims_t *c, buf_t *b)
{
    jw_t w;
    jw_init(&w, b);
    jw_object_begin(&w);
    jw_key(&w, "iss");
    jw_string(&w, c->iss);
    jw_key(&w, "sub");
    jw_string(&w, c->sub);
    jw_key(&w, "fgp");
    jw_string(&w, c->fgp);
    jw_key(&w, "role");
    jw_string(&w, c->role);
    jw_key(&w, "iat");
    jw_int(&w, c->iat);
    jw_key(&w, "nbf");
    jw_int(&w, c->nbf);
    jw_key(&w, "exp");
    jw_int(&w, c->exp);
    jw_object_end(&w);
}

/* Appends Base64URL(data) at out + *len; false when it does not fit. */
static bool append_b64(char *out, size_t cap, size_t *len, const void *data, size_t n)
{
    int k = auth_b64url_encode(data, n, out + *len, cap - *len);
    if (k < 0)
        return false;
    *len += (size_t)k;
    return true;
}

static bool append_dot(char *out, size_t cap, size_t *len)
{
    if (*len + 2 > cap)
        return false;
    out[(*len)++] = '.';
    out[*len] = '\0';
    return true;
}

int jwt_sign(const jwt_claims_t *c, const jwt_key_t *key, char *out, size_t cap)
{
    if (!out || cap == 0)
        return -1;
    out[0] = '\0';
    if (!c || !key || key->kid[0] == '\0' || key->hkey_len == 0 || !claims_signable(c))
        return -1;
    char header[64];
    int hn = snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", key->kid);
    buf_t payload;
    buf_init(&payload, JWT_MAX_LEN);
    write_payload(c, &payload);
    unsigned char sig[SIG_LEN];
    size_t len = 0;
    bool ok = buf_ok(&payload) && hn > 0 && (size_t)hn < sizeof header &&
              append_b64(out, cap, &len, header, (size_t)hn) && append_dot(out, cap, &len) &&
              append_b64(out, cap, &len, payload.data, payload.len) && hs256(key, out, len, sig) &&
              append_dot(out, cap, &len) && append_b64(out, cap, &len, sig, sizeof sig) && len <= JWT_MAX_LEN;
    buf_dispose(&payload);
    if (!ok) {
        out[0] = '\0';
        return -1;
    }
    return (int)len;
}

/* ---- verification: structure ---------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t n;
} span_t;

/* Splits "h.p.s" into exactly three parts; h and p must not be empty (s may be, as alg "none"
 * tokens have it, so that they are reported as BAD_ALG). */
static bool split3(const char *t, size_t n, span_t part[3])
{
    const char *d1 = memchr(t, '.', n);
    if (!d1)
        return false;
    const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - t));
    if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - t)))
        return false;
    part[0] = (span_t){t, (size_t)(d1 - t)};
    part[1] = (span_t){d1 + 1, (size_t)(d2 - d1 - 1)};
    part[2] = (span_t){d2 + 1, n - (size_t)(d2 + 1 - t)};
    return part[0].n > 0 && part[1].n > 0;
}

/* Decodes a Base64URL part into buf (NUL-terminated). -1 on bad Base64URL or a NUL byte. */
static int decode_part(span_t s, unsigned char buf[PART_MAX])
{
    int n = auth_b64url_decode(s.p, s.n, buf, PART_MAX - 1);
    if (n < 0 || memchr(buf, '\0', (size_t)n))
        return -1;
    buf[n] = '\0';
    return n;
}

/* Whether text contains the escape \u0000, which cJSON would turn into a silent truncation. */
static bool has_escaped_nul(const char *text)
{
    for (const char *p = strstr(text, "\\u"); p; p = strstr(p + 2, "\\u"))
        if (strncmp(p + 2, "0000", 4) == 0)
            return true;
    return false;
}

static bool has_duplicate_names(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = obj->child; b != a; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return true;
    return false;
}

/* Parses decoded text (n bytes + NUL) as a JSON object with unique member names, nothing after
 * it. NULL when it is anything else. */
static cJSON *parse_object(const unsigned char *text, size_t n)
{
    if (has_escaped_nul((const char *)text))
        return NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)text, n + 1, NULL, 1);
    if (j && (!cJSON_IsObject(j) || has_duplicate_names(j))) {
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

/* ---- verification: header and signature ------------------------------------------------------ */

static jwt_rc_t check_header(const cJSON *h, const jwt_key_t *keys, size_t nkeys, const jwt_key_t **key)
{
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
        return JWT_BAD_ALG;
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(h, "typ");
    if (typ && !(cJSON_IsString(typ) && strcmp(typ->valuestring, "JWT") == 0))
        return JWT_MALFORMED;
    if (cJSON_GetObjectItemCaseSensitive(h, "crit")) /* we understand no extension */
        return JWT_MALFORMED;
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(h, "kid");
    if (!cJSON_IsString(kid))
        return JWT_UNKNOWN_KID;
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i].hkey_len > 0 && strcmp(keys[i].kid, kid->valuestring) == 0) {
            *key = &keys[i];
            return JWT_OK;
        }
    }
    return JWT_UNKNOWN_KID;
}

/* signing_input is "h.p" (len bytes); sig is the third part. */
static jwt_rc_t check_signature(const jwt_key_t *key, const char *signing_input, size_t len, span_t sig)
{
    unsigned char given[PART_MAX], want[SIG_LEN];
    if (sig.n == 0)
        return JWT_BAD_SIGNATURE;
    int n = auth_b64url_decode(sig.p, sig.n, given, sizeof given);
    if (n < 0)
        return JWT_MALFORMED;
    if (n != SIG_LEN)
        return JWT_BAD_SIGNATURE;
    if (!hs256(key, signing_input, len, want))
        return JWT_BAD_SIGNATURE; /* libcrypto failure: accept nothing */
    return CRYPTO_memcmp(given, want, SIG_LEN) == 0 ? JWT_OK : JWT_BAD_SIGNATURE;
}

/* ---- verification: claims ---------------------------------------------------------------------- */

static jwt_rc_t read_string_claim(const cJSON *p, const char *name, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0'))
        return JWT_MISSING_CLAIM;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap)
        return JWT_BAD_CLAIM;
    memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
    return JWT_OK;
}

static jwt_rc_t read_time_claim(const cJSON *p, const char *name, int64_t *dst)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);
    if (!v || cJSON_IsNull(v))
        return JWT_MISSING_CLAIM;
    if (!cJSON_IsNumber(v))
        return JWT_BAD_CLAIM;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 0 || d > MAX_EXACT_INT)
        return JWT_BAD_CLAIM;
    *dst = (int64_t)d;
    return JWT_OK;
}

static jwt_rc_t read_claims(const cJSON *p, jwt_claims_t *c)
{
    jwt_rc_t rc;
    if ((rc = read_string_claim(p, "iss", c->iss, sizeof c->iss)) != JWT_OK ||
        (rc = read_string_claim(p, "sub", c->sub, sizeof c->sub)) != JWT_OK ||
        (rc = read_string_claim(p, "fgp", c->fgp, sizeof c->fgp)) != JWT_OK ||
        (rc = read_string_claim(p, "role", c->role, sizeof c->role)) != JWT_OK ||
        (rc = read_time_claim(p, "iat", &c->iat)) != JWT_OK || (rc = read_time_claim(p, "nbf", &c->nbf)) != JWT_OK ||
        (rc = read_time_claim(p, "exp", &c->exp)) != JWT_OK)
        return rc;
    return JWT_OK;
}

static jwt_rc_t check_claims(const jwt_claims_t *c, int64_t now_s, int leeway_s, const char *expected_iss)
{
    int64_t leeway = leeway_s > 0 ? leeway_s : 0;
    if (!expected_iss || strcmp(c->iss, expected_iss) != 0)
        return JWT_BAD_ISSUER;
    if (!is_role(c->role))
        return JWT_BAD_CLAIM;
    /* times are in [0, 2^53] and leeway <= INT_MAX: these sums cannot overflow, unlike now +- leeway */
    if (now_s >= c->exp + leeway)
        return JWT_EXPIRED;
    if (c->nbf - leeway > now_s || c->iat - leeway > now_s)
        return JWT_NOT_YET_VALID;
    return JWT_OK;
}

/* ---- verification: the whole token ------------------------------------------------------------- */

static jwt_rc_t verify(const char *token, const jwt_key_t *keys, size_t nkeys, int64_t now_s, int leeway_s,
                       const char *expected_iss, jwt_claims_t *out)
{
    size_t n = strnlen(token, JWT_MAX_LEN + 1);
    span_t part[3];
    if (n > JWT_MAX_LEN || !split3(token, n, part))
        return JWT_MALFORMED;

    unsigned char hbuf[PART_MAX], pbuf[PART_MAX];
    int hn = decode_part(part[0], hbuf);
    cJSON *header = hn < 0 ? NULL : parse_object(hbuf, (size_t)hn);
    if (!header)
        return JWT_MALFORMED;
    const jwt_key_t *key = NULL;
    jwt_rc_t rc = check_header(header, keys, nkeys, &key);
    cJSON_Delete(header);
    if (rc != JWT_OK)
        return rc;

    int pn = decode_part(part[1], pbuf);
    if (pn < 0)
        return JWT_MALFORMED;
    rc = check_signature(key, token, part[0].n + 1 + part[1].n, part[2]);
    if (rc != JWT_OK)
        return rc;

    cJSON *payload = parse_object(pbuf, (size_t)pn);
    if (!payload)
        return JWT_MALFORMED;
    rc = read_claims(payload, out);
    cJSON_Delete(payload);
    if (rc != JWT_OK)
        return rc;
    return check_claims(out, now_s, leeway_s, expected_iss);
}

jwt_rc_t jwt_verify(const char *token, const jwt_key_t *keys, size_t nkeys, int64_t now_s, int leeway_s,
                    const char *expected_iss, jwt_claims_t *out)
{
    jwt_claims_t scratch;
    jwt_claims_t *c = out ? out : &scratch;
    memset(c, 0, sizeof *c);
    if (!token)
        return JWT_MALFORMED;
    if (!keys)
        nkeys = 0; /* every token is then UNKNOWN_KID (or fails earlier) */
    jwt_rc_t rc = verify(token, keys, nkeys, now_s, leeway_s, expected_iss, c);
    if (rc != JWT_OK)
        memset(c, 0, sizeof *c);
    return rc;
}
