/*
 * test_auth.c - auth primitives (src/auth/auth.h): Base64URL, JWT HS256 sign/verify and every
 * rejection, secrets check, fingerprint, mask, account id, refresh tokens, UUIDv4, and the
 * /character/list body.
 *
 * Known answers were computed outside this code with the OpenSSL and coreutils command-line tools
 * (b64u() { basenc --base64url -w0 | tr -d '='; }):
 *   fingerprint   printf %s "$API_KEY" | openssl dgst -sha256 -hmac "$FP_SECRET" -binary | b64u
 *   account id    printf %s 'acc-a,acc-b,acc-c' | openssl dgst -sha256 -binary | b64u
 *                 printf %s 'B-id,a-id,z-id,가-id' | openssl dgst -sha256 -binary | b64u
 *   token hash    printf %s 'refresh-token-value' | sha256sum
 *   kid           printf %s "$JWT_SECRET" | sha256sum | cut -c1-8
 *   token         H=$(printf '{"alg":"HS256","typ":"JWT","kid":"%s"}' "$KID" | b64u)
 *                 P=$(printf %s '<payload JSON below>' | b64u)
 *                 S=$(printf %s "$H.$P" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64u)
 * Tokens for the rejection cases are crafted here with libcrypto's HMAC() directly, not through
 * jwt_sign(), so a bug in the signer cannot hide a bug in the verifier.
 */
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>

#include "auth/auth.h"

#define NOW 1700000000LL
#define ISS JWT_ISSUER

static const char JS[] = "jwt-secret-for-unit-tests-0123456789abcdef";
static const char JS_KID[] = "17136ecf";
static const char JS_OTHER[] = "another-jwt-secret-for-unit-tests-0123456789";
static const char FGP[] = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_ABCDE";
static const char SID[] = "0b7e2c1a-4f3d-4e5b-9a8c-1d2e3f405162";

static const char KAT_TOKEN[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjE3MTM2ZWNmIn0."
    "eyJpc3MiOiJtYXBsZS1leHBlY3RhdGlvbiIsInN1YiI6IjBiN2UyYzFhLTRmM2QtNGU1Yi05YThjLTFkMmUzZjQwNTE2MiIsImZncCI6IkFi"
    "Q2RFZkdoSWpLbE1uT3BRclN0VXZXeFl6MDEyMzQ1Njc4OS1fQUJDREUiLCJyb2xlIjoiVVNFUiIsImlhdCI6MTcwMDAwMDAwMCwibmJmIjox"
    "NzAwMDAwMDAwLCJleHAiOjE3MDAwMDA5MDB9."
    "yjrAVekJrka1DmJzFaDdvwOH9d1snmXqrIqDyb1EfN8";

/* ---- helpers ------------------------------------------------------------------------------- */

static jwt_key_t key_of(const char *secret)
{
    jwt_key_t k;
    assert_int_equal(jwt_key_init(&k, secret, strlen(secret)), 0);
    return k;
}

static jwt_claims_t claims_at(int64_t iat)
{
    jwt_claims_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.iss, sizeof c.iss, "%s", ISS);
    snprintf(c.sub, sizeof c.sub, "%s", SID);
    snprintf(c.fgp, sizeof c.fgp, "%s", FGP);
    snprintf(c.role, sizeof c.role, "USER");
    c.iat = c.nbf = iat;
    c.exp = iat + 900;
    return c;
}

static void append_b64(char *out, size_t cap, const void *data, size_t n)
{
    size_t len = strlen(out);
    assert_true(auth_b64url_encode(data, n, out + len, cap - len) >= 0);
}

/* b64(header).b64(payload).b64(HMAC-<md>(secret)) built independently of jwt_sign(); secret NULL
 * leaves the signature empty (alg "none"). */
static char *craft_md(const char *header, const char *payload, const char *secret, const EVP_MD *md)
{
    size_t cap = 4 * (strlen(header) + strlen(payload)) + 256;
    char *t = calloc(1, cap);
    assert_non_null(t);
    append_b64(t, cap, header, strlen(header));
    strcat(t, ".");
    append_b64(t, cap, payload, strlen(payload));
    size_t signed_len = strlen(t);
    strcat(t, ".");
    if (secret) {
        unsigned char sig[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        assert_non_null(HMAC(md, secret, (int)strlen(secret), (const unsigned char *)t, signed_len, sig, &n));
        append_b64(t, cap, sig, n);
    }
    return t;
}

static char *craft(const char *header, const char *payload, const char *secret)
{
    return craft_md(header, payload, secret, EVP_sha256());
}

static const char HDR[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"17136ecf\"}";

/* A payload with the given times and role; the other claims are valid. */
static void payload_with(char *out, size_t cap, const char *role, int64_t iat, int64_t nbf, int64_t exp)
{
    snprintf(out, cap,
             "{\"iss\":\"%s\",\"sub\":\"%s\",\"fgp\":\"%s\",\"role\":\"%s\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}", ISS,
             SID, FGP, role, (long long)iat, (long long)nbf, (long long)exp);
}

/* Verifies token against the test key at NOW with the M16 leeway. */
static jwt_rc_t check(const char *token)
{
    jwt_key_t k = key_of(JS);
    jwt_claims_t c;
    jwt_rc_t rc = jwt_verify(token, &k, 1, NOW, JWT_LEEWAY_S, ISS, &c);
    if (rc != JWT_OK) { /* out is zeroed on failure */
        assert_string_equal(c.sub, "");
        assert_int_equal(c.exp, 0);
    }
    return rc;
}

/* Crafts header.payload with the test secret and verifies it. */
static jwt_rc_t check_crafted(const char *header, const char *payload)
{
    char *t = craft(header, payload, JS);
    jwt_rc_t rc = check(t);
    free(t);
    return rc;
}

#define assert_rc(got, want) assert_string_equal(jwt_rc_name(got), jwt_rc_name(want))

/* ---- Base64URL ----------------------------------------------------------------------------- */

static void test_b64url_vectors(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"}; /* RFC 4648 §10 */
    char out[16];
    unsigned char back[16];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        assert_int_equal(auth_b64url_encode(in[i], strlen(in[i]), out, sizeof out), (int)strlen(want[i]));
        assert_string_equal(out, want[i]);
        assert_int_equal(AUTH_B64URL_LEN(strlen(in[i])), strlen(want[i]));
        int n = auth_b64url_decode(want[i], strlen(want[i]), back, sizeof back);
        assert_int_equal(n, (int)strlen(in[i]));
        assert_memory_equal(back, in[i], (size_t)n);
    }
    const unsigned char url[] = {0xfb, 0xff, 0xbf};
    assert_int_equal(auth_b64url_encode(url, sizeof url, out, sizeof out), 4);
    assert_string_equal(out, "-_-_");
    assert_int_equal(auth_b64url_encode("foo", 3, out, 4), -1); /* no room for the NUL */
}

static void test_b64url_strict_decode(void **state)
{
    (void)state;
    unsigned char b[16];
    static const char *const bad[] = {"Zg==", "Zg=", "Zm9v+A", "Zm9v/A", "Zm9v A", "Zm9v*", "Z", "Zm9vY", "Zh", "Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(auth_b64url_decode(bad[i], strlen(bad[i]), b, sizeof b), -1);
    assert_int_equal(auth_b64url_decode("Zm9vYmFy", 8, b, 5), -1); /* too small */
    assert_int_equal(auth_b64url_decode("", 0, b, sizeof b), 0);
}

/* ---- JWT: known answers and round trips ----------------------------------------------------- */

static void test_kid_is_sha256_prefix(void **state)
{
    (void)state;
    jwt_key_t k = key_of(JS);
    assert_string_equal(k.kid, JS_KID);
    jwt_key_t o = key_of(JS_OTHER);
    assert_string_not_equal(o.kid, JS_KID); /* rotating the secret changes the kid */
    assert_int_equal(jwt_key_init(&k, "", 0), -1);
}

static void test_sign_known_answer(void **state)
{
    (void)state;
    jwt_key_t k = key_of(JS);
    jwt_claims_t c = claims_at(NOW);
    char tok[JWT_MAX_LEN + 1];
    assert_int_equal(jwt_sign(&c, &k, tok, sizeof tok), (int)strlen(KAT_TOKEN));
    assert_string_equal(tok, KAT_TOKEN);
    jwt_claims_t got;
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW + 100, 60, ISS, &got), JWT_OK);
    assert_string_equal(got.sub, SID);
    assert_string_equal(got.fgp, FGP);
    assert_string_equal(got.role, "USER");
    assert_string_equal(got.iss, ISS);
    assert_int_equal(got.iat, NOW);
    assert_int_equal(got.nbf, NOW);
    assert_int_equal(got.exp, NOW + 900);
}

/* A 100-byte secret is longer than the HMAC block: the stored reduced key must sign exactly as the
 * full secret does (openssl dgst -hmac with the whole secret). */
static void test_long_secret_known_answer(void **state)
{
    (void)state;
    char secret[101];
    memset(secret, 'L', 100);
    secret[100] = '\0';
    jwt_key_t k = key_of(secret);
    assert_string_equal(k.kid, "f73e275c");
    jwt_claims_t c = claims_at(1);
    snprintf(c.sub, sizeof c.sub, "s");
    snprintf(c.fgp, sizeof c.fgp, "f");
    snprintf(c.role, sizeof c.role, "ADMIN");
    c.nbf = 2;
    c.exp = 3;
    char tok[1024];
    assert_true(jwt_sign(&c, &k, tok, sizeof tok) > 0);
    assert_string_equal(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImY3M2UyNzVjIn0."
                             "eyJpc3MiOiJtYXBsZS1leHBlY3RhdGlvbiIsInN1YiI6InMiLCJmZ3AiOiJmIiwicm9sZSI6IkFETUlOIiwiaWF0"
                             "IjoxLCJuYmYiOjIsImV4cCI6M30."
                             "St0OwKu567Y7SlvlxGHyXZgP_AGRyxDTSPdKODXx_u4");
}

static void test_round_trip_and_rotation(void **state)
{
    (void)state;
    jwt_keyring_t ring;
    memset(&ring, 0, sizeof ring);
    assert_int_equal(jwt_keyring_add(&ring, JS_OTHER), 0); /* new signing key */
    assert_int_equal(jwt_keyring_add(&ring, JS), 0);       /* old key, still accepted */
    jwt_claims_t c = claims_at(NOW);
    snprintf(c.role, sizeof c.role, "ADMIN");
    snprintf(c.sub, sizeof c.sub, "한글 \"quoted\" \\ sub"); /* escaping survives the trip */
    char tok[JWT_MAX_LEN + 1];
    assert_true(jwt_sign(&c, &ring.keys[0], tok, sizeof tok) > 0);
    jwt_claims_t got;
    assert_rc(jwt_verify(tok, ring.keys, ring.n, NOW, 60, ISS, &got), JWT_OK);
    assert_string_equal(got.sub, c.sub);
    assert_string_equal(got.role, "ADMIN");
    /* a token of the old key still verifies while the old key is in the ring */
    assert_rc(jwt_verify(KAT_TOKEN, ring.keys, ring.n, NOW, 60, ISS, &got), JWT_OK);
    /* and is UNKNOWN_KID once it is gone */
    assert_rc(jwt_verify(KAT_TOKEN, ring.keys, 1, NOW, 60, ISS, &got), JWT_UNKNOWN_KID);
    assert_rc(jwt_verify(KAT_TOKEN, NULL, 0, NOW, 60, ISS, &got), JWT_UNKNOWN_KID);
    jwt_keyring_wipe(&ring);
    assert_int_equal(ring.n, 0);
    assert_string_equal(ring.keys[0].kid, "");
    for (int i = 0; i < JWT_MAX_KEYS; i++)
        assert_int_equal(jwt_keyring_add(&ring, JS), 0);
    assert_int_equal(jwt_keyring_add(&ring, JS), -1); /* full */
}

static void test_sign_refuses_bad_claims(void **state)
{
    (void)state;
    jwt_key_t k = key_of(JS);
    char tok[JWT_MAX_LEN + 1];
    jwt_claims_t c = claims_at(NOW);
    snprintf(c.role, sizeof c.role, "user");
    assert_int_equal(jwt_sign(&c, &k, tok, sizeof tok), -1);
    assert_string_equal(tok, "");
    c = claims_at(NOW);
    c.sub[0] = '\0';
    assert_int_equal(jwt_sign(&c, &k, tok, sizeof tok), -1);
    c = claims_at(NOW);
    c.exp = -1;
    assert_int_equal(jwt_sign(&c, &k, tok, sizeof tok), -1);
    c = claims_at(NOW);
    memset(c.fgp, 'x', sizeof c.fgp); /* not NUL-terminated inside its field */
    assert_int_equal(jwt_sign(&c, &k, tok, sizeof tok), -1);
    c = claims_at(NOW);
    assert_int_equal(jwt_sign(&c, &k, tok, 100), -1); /* does not fit */
    assert_string_equal(tok, "");
    jwt_key_t none;
    memset(&none, 0, sizeof none);
    assert_int_equal(jwt_sign(&c, &none, tok, sizeof tok), -1);
}

/* ---- JWT: rejections ----------------------------------------------------------------------- */

static void test_reject_alg(void **state)
{
    (void)state;
    char p[512];
    payload_with(p, sizeof p, "USER", NOW, NOW, NOW + 900);
    /* alg none with an empty signature */
    char *t = craft("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"17136ecf\"}", p, NULL);
    assert_rc(check(t), JWT_BAD_ALG);
    free(t);
    t = craft("{\"alg\":\"none\"}", p, NULL);
    assert_rc(check(t), JWT_BAD_ALG);
    free(t);
    /* HS512 with the right secret */
    t = craft_md("{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"17136ecf\"}", p, JS, EVP_sha512());
    assert_rc(check(t), JWT_BAD_ALG);
    free(t);
    /* RS256 header with an HMAC signature (HS/RS confusion) */
    assert_rc(check_crafted("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"17136ecf\"}", p), JWT_BAD_ALG);
    assert_rc(check_crafted("{\"alg\":\"hs256\",\"typ\":\"JWT\",\"kid\":\"17136ecf\"}", p), JWT_BAD_ALG);
    assert_rc(check_crafted("{\"alg\":\"HS256 \",\"kid\":\"17136ecf\"}", p), JWT_BAD_ALG);
    assert_rc(check_crafted("{\"typ\":\"JWT\",\"kid\":\"17136ecf\"}", p), JWT_BAD_ALG);
    assert_rc(check_crafted("{\"alg\":256,\"kid\":\"17136ecf\"}", p), JWT_BAD_ALG);
    assert_rc(check_crafted("{\"ALG\":\"HS256\",\"kid\":\"17136ecf\"}", p), JWT_BAD_ALG); /* names are case-sensitive */
    /* without typ is fine */
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"kid\":\"17136ecf\"}", p), JWT_OK);
}

static void test_reject_kid_and_key(void **state)
{
    (void)state;
    char p[512];
    payload_with(p, sizeof p, "USER", NOW, NOW, NOW + 900);
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"deadbeef\"}", p), JWT_UNKNOWN_KID);
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p), JWT_UNKNOWN_KID); /* kid required */
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"kid\":17136}", p), JWT_UNKNOWN_KID);
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"kid\":\"17136ECF\"}", p), JWT_UNKNOWN_KID);
    /* the right kid, signed with another secret */
    char *t = craft(HDR, p, JS_OTHER);
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    free(t);
    /* a token minted with another key (its own kid) */
    jwt_key_t other = key_of(JS_OTHER);
    jwt_claims_t c = claims_at(NOW);
    char tok[JWT_MAX_LEN + 1];
    assert_true(jwt_sign(&c, &other, tok, sizeof tok) > 0);
    assert_rc(check(tok), JWT_UNKNOWN_KID);
}

/* Replaces part `idx` (0..2) of token with replacement. */
static char *swap_part(const char *token, int idx, const char *replacement)
{
    char *copy = strdup(token);
    assert_non_null(copy);
    char *parts[3];
    parts[0] = copy;
    parts[1] = strchr(parts[0], '.') + 1;
    parts[2] = strchr(parts[1], '.') + 1;
    parts[1][-1] = parts[2][-1] = '\0';
    parts[idx] = (char *)replacement;
    size_t cap = strlen(token) + strlen(replacement) + 4;
    char *out = malloc(cap);
    assert_non_null(out);
    snprintf(out, cap, "%s.%s.%s", parts[0], parts[1], parts[2]);
    free(copy);
    return out;
}

static char *b64_of(const char *s)
{
    char *out = calloc(1, AUTH_B64URL_LEN(strlen(s)) + 1);
    assert_non_null(out);
    assert_true(auth_b64url_encode(s, strlen(s), out, AUTH_B64URL_LEN(strlen(s)) + 1) >= 0);
    return out;
}

static void test_reject_tampering(void **state)
{
    (void)state;
    char p[512];
    payload_with(p, sizeof p, "ADMIN", NOW, NOW, NOW + 900); /* flip role, keep the signature */
    char *b = b64_of(p);
    char *t = swap_part(KAT_TOKEN, 1, b);
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    free(t);
    free(b);
    b = b64_of("{\"alg\":\"HS256\",\"kid\":\"17136ecf\",\"typ\":\"JWT\"}"); /* same header, reordered */
    t = swap_part(KAT_TOKEN, 0, b);
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    free(t);
    free(b);
    /* signature: one character changed, 31 or 33 bytes, empty, an impossible length */
    t = strdup(KAT_TOKEN);
    t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    t[strlen(t) - 2] = '\0'; /* 41 characters: not Base64URL */
    assert_rc(check(t), JWT_MALFORMED);
    free(t);
    unsigned char bytes[33] = {0};
    char enc[64] = "";
    append_b64(enc, sizeof enc, bytes, 31);
    t = swap_part(KAT_TOKEN, 2, enc);
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    free(t);
    enc[0] = '\0';
    append_b64(enc, sizeof enc, bytes, 33);
    t = swap_part(KAT_TOKEN, 2, enc);
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    free(t);
    t = swap_part(KAT_TOKEN, 2, "");
    assert_rc(check(t), JWT_BAD_SIGNATURE);
    free(t);
}

static void test_time_checks_and_leeway(void **state)
{
    (void)state;
    char p[512];
    struct {
        int64_t iat, nbf, exp;
        jwt_rc_t want;
    } cases[] = {
        {NOW - 1000, NOW - 1000, NOW - 61, JWT_EXPIRED},   /* expired beyond the leeway */
        {NOW - 1000, NOW - 1000, NOW - 60, JWT_EXPIRED},   /* now >= exp + leeway */
        {NOW - 1000, NOW - 1000, NOW - 59, JWT_OK},        /* expired within the leeway: accepted */
        {NOW, NOW + 61, NOW + 900, JWT_NOT_YET_VALID},     /* nbf in the future */
        {NOW, NOW + 60, NOW + 900, JWT_OK},                /* nbf within the leeway */
        {NOW + 61, NOW, NOW + 900, JWT_NOT_YET_VALID},     /* issued in the future */
        {NOW + 60, NOW, NOW + 900, JWT_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        payload_with(p, sizeof p, "USER", cases[i].iat, cases[i].nbf, cases[i].exp);
        assert_rc(check_crafted(HDR, p), cases[i].want);
    }
    /* leeway 0 (and negative counts as 0): expired at exp exactly */
    jwt_key_t k = key_of(JS);
    jwt_claims_t c;
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW + 900, 0, ISS, &c), JWT_EXPIRED);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW + 899, 0, ISS, &c), JWT_OK);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW + 900, -5, ISS, &c), JWT_EXPIRED);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW - 1, 0, ISS, &c), JWT_NOT_YET_VALID);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW + 959, 60, ISS, &c), JWT_OK);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW + 960, 60, ISS, &c), JWT_EXPIRED);
}

static const char *const CLAIM_NAMES[] = {"iss", "sub", "fgp", "role", "iat", "nbf", "exp"};

/* The valid payload's members, one of them replaced by `value` (NULL: left out). */
static void payload_replacing(char *out, size_t cap, const char *name, const char *value)
{
    char vals[7][160];
    snprintf(vals[0], sizeof vals[0], "\"%s\"", ISS);
    snprintf(vals[1], sizeof vals[1], "\"%s\"", SID);
    snprintf(vals[2], sizeof vals[2], "\"%s\"", FGP);
    snprintf(vals[3], sizeof vals[3], "\"USER\"");
    snprintf(vals[4], sizeof vals[4], "%lld", NOW);
    snprintf(vals[5], sizeof vals[5], "%lld", NOW);
    snprintf(vals[6], sizeof vals[6], "%lld", NOW + 900);
    size_t len = 0;
    out[len++] = '{';
    bool first = true;
    for (int i = 0; i < 7; i++) {
        const char *v = strcmp(CLAIM_NAMES[i], name) == 0 ? value : vals[i];
        if (!v)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\":%s", first ? "" : ",", CLAIM_NAMES[i], v);
        first = false;
    }
    snprintf(out + len, cap - len, "}");
}

static void test_reject_missing_claims(void **state)
{
    (void)state;
    char p[1024];
    for (int i = 0; i < 7; i++) {
        payload_replacing(p, sizeof p, CLAIM_NAMES[i], NULL);
        assert_rc(check_crafted(HDR, p), JWT_MISSING_CLAIM);
        payload_replacing(p, sizeof p, CLAIM_NAMES[i], "null");
        assert_rc(check_crafted(HDR, p), JWT_MISSING_CLAIM);
    }
    payload_replacing(p, sizeof p, "sub", "\"\"");
    assert_rc(check_crafted(HDR, p), JWT_MISSING_CLAIM);
    payload_replacing(p, sizeof p, "none", NULL); /* control: all present */
    assert_rc(check_crafted(HDR, p), JWT_OK);
}

static void test_reject_wrong_types_and_values(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value;
        jwt_rc_t want;
    } cases[] = {
        {"iat", "\"1700000000\"", JWT_BAD_CLAIM},
        {"exp", "1700000900.5", JWT_BAD_CLAIM},
        {"exp", "-1", JWT_BAD_CLAIM},
        {"exp", "1e300", JWT_BAD_CLAIM},
        {"nbf", "true", JWT_BAD_CLAIM},
        {"exp", "[1700000900]", JWT_BAD_CLAIM},
        {"sub", "123", JWT_BAD_CLAIM},
        {"fgp", "{\"a\":1}", JWT_BAD_CLAIM},
        {"iss", "[\"maple-expectation\"]", JWT_BAD_CLAIM},
        {"role", "\"SUPERUSER\"", JWT_BAD_CLAIM},
        {"role", "\"user\"", JWT_BAD_CLAIM},
        {"role", "\"ADMINISTRATOR\"", JWT_BAD_CLAIM}, /* longer than the field */
        {"role", "false", JWT_BAD_CLAIM},
        {"iss", "\"other-issuer\"", JWT_BAD_ISSUER},
        {"iss", "\"Maple-Expectation\"", JWT_BAD_ISSUER},
        {"iss", "\"maple-expectation\\u0000x\"", JWT_MALFORMED}, /* would truncate inside cJSON */
        {"exp", "1.7000009e9", JWT_OK},                        /* an integral number is an integer */
    };
    char p[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        payload_replacing(p, sizeof p, cases[i].name, cases[i].value);
        assert_rc(check_crafted(HDR, p), cases[i].want);
    }
    char longsub[JWT_CLAIM_MAX + 8];
    memset(longsub, 'a', sizeof longsub);
    longsub[0] = longsub[sizeof longsub - 2] = '"';
    longsub[sizeof longsub - 1] = '\0';
    payload_replacing(p, sizeof p, "sub", longsub);
    assert_rc(check_crafted(HDR, p), JWT_BAD_CLAIM);
    /* the expected issuer is required */
    jwt_key_t k = key_of(JS);
    jwt_claims_t c;
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW, 60, NULL, &c), JWT_BAD_ISSUER);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW, 60, "maple", &c), JWT_BAD_ISSUER);
    assert_rc(jwt_verify(KAT_TOKEN, &k, 1, NOW, 60, ISS, NULL), JWT_OK); /* out is optional */
}

static void test_reject_structure(void **state)
{
    (void)state;
    char p[512];
    payload_with(p, sizeof p, "USER", NOW, NOW, NOW + 900);
    /* non-JSON and non-object parts */
    assert_rc(check_crafted("not json", p), JWT_MALFORMED);
    assert_rc(check_crafted("[\"alg\",\"HS256\"]", p), JWT_MALFORMED);
    assert_rc(check_crafted("\"HS256\"", p), JWT_MALFORMED);
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"kid\":\"17136ecf\"} x", p), JWT_MALFORMED);
    assert_rc(check_crafted(HDR, "not json"), JWT_MALFORMED);
    assert_rc(check_crafted(HDR, "[1,2]"), JWT_MALFORMED);
    assert_rc(check_crafted(HDR, "{\"iss\":"), JWT_MALFORMED);
    /* duplicate names: cJSON would take the first */
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"alg\":\"none\",\"kid\":\"17136ecf\"}", p), JWT_MALFORMED);
    char dup[600];
    snprintf(dup, sizeof dup, "%.*s,\"role\":\"ADMIN\"}", (int)strlen(p) - 1, p);
    assert_rc(check_crafted(HDR, dup), JWT_MALFORMED);
    /* typ and crit */
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"typ\":\"JWS\",\"kid\":\"17136ecf\"}", p), JWT_MALFORMED);
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"typ\":1,\"kid\":\"17136ecf\"}", p), JWT_MALFORMED);
    assert_rc(check_crafted("{\"alg\":\"HS256\",\"kid\":\"17136ecf\",\"crit\":[\"exp\"]}", p), JWT_MALFORMED);
    /* a NUL byte inside a decoded part */
    char nul_hdr[] = "{\"alg\":\"HS256\",\"kid\":\"17136ecf\"}\0";
    char enc[128] = "";
    append_b64(enc, sizeof enc, nul_hdr, sizeof nul_hdr - 1);
    char *t = swap_part(KAT_TOKEN, 0, enc);
    assert_rc(check(t), JWT_MALFORMED);
    free(t);
}

static void test_reject_encoding_and_parts(void **state)
{
    (void)state;
    size_t n = strlen(KAT_TOKEN);
    const char *d1 = strchr(KAT_TOKEN, '.'), *d2 = strrchr(KAT_TOKEN, '.');
    char t[1024];
    /* padding '=' on each part (the header's encoding needs padding: 59 characters) */
    snprintf(t, sizeof t, "%.*s=%s", (int)(d1 - KAT_TOKEN), KAT_TOKEN, d1);
    assert_rc(check(t), JWT_MALFORMED);
    snprintf(t, sizeof t, "%.*s=%s", (int)(d2 - KAT_TOKEN), KAT_TOKEN, d2);
    assert_rc(check(t), JWT_MALFORMED);
    snprintf(t, sizeof t, "%s=", KAT_TOKEN);
    assert_rc(check(t), JWT_MALFORMED);
    /* characters outside the URL alphabet */
    static const char bad[] = {'+', '/', '*', ' ', '\n', '=', '\x80'};
    for (size_t i = 0; i < sizeof bad; i++) {
        for (int part = 0; part < 3; part++) {
            size_t at = part == 0 ? 3 : part == 1 ? (size_t)(d1 - KAT_TOKEN) + 3 : (size_t)(d2 - KAT_TOKEN) + 3;
            snprintf(t, sizeof t, "%s", KAT_TOKEN);
            t[at] = bad[i];
            assert_rc(check(t), JWT_MALFORMED);
        }
    }
    /* exactly three parts */
    static const char *const shapes[] = {"", ".", "..", "...", "a", "a.b", "a.b.c.d", ".a.b", "a..b"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        assert_rc(check(shapes[i]), JWT_MALFORMED);
    snprintf(t, sizeof t, "%.*s", (int)(d2 - KAT_TOKEN), KAT_TOKEN); /* header.payload */
    assert_rc(check(t), JWT_MALFORMED);
    snprintf(t, sizeof t, "%s.%s", KAT_TOKEN, d2 + 1); /* four parts */
    assert_rc(check(t), JWT_MALFORMED);
    assert_rc(check(NULL), JWT_MALFORMED);
    assert_int_equal(n, strlen(KAT_TOKEN));
}

/* A valid token of exactly `len` characters (a "pad" claim fills it), or NULL if none exists. */
static char *token_of_length(size_t len)
{
    char p[512];
    payload_with(p, sizeof p, "USER", NOW, NOW, NOW + 900);
    size_t base = strlen(p);
    char *big = malloc(len + 64);
    assert_non_null(big);
    for (size_t pad = 0; pad < len; pad++) {
        snprintf(big, len + 64, "%.*s,\"pad\":\"%0*d\"}", (int)base - 1, p, (int)pad, 0);
        size_t tl = AUTH_B64URL_LEN(strlen(HDR)) + 1 + AUTH_B64URL_LEN(strlen(big)) + 1 + 43;
        if (tl == len) {
            char *t = craft(HDR, big, JS);
            free(big);
            assert_int_equal(strlen(t), len);
            return t;
        }
        if (tl > len)
            break;
    }
    free(big);
    return NULL;
}

static void test_overlong_token(void **state)
{
    (void)state;
    char *t = token_of_length(JWT_MAX_LEN);
    assert_non_null(t);
    assert_rc(check(t), JWT_OK);
    free(t);
    t = token_of_length(JWT_MAX_LEN + 2); /* 8193 is not a possible length */
    assert_non_null(t);
    assert_rc(check(t), JWT_MALFORMED);
    free(t);
    char *junk = malloc(100001);
    assert_non_null(junk);
    memset(junk, 'A', 100000);
    junk[100000] = '\0';
    assert_rc(check(junk), JWT_MALFORMED);
    free(junk);
}

static void *verify_many(void *arg)
{
    const jwt_key_t *k = arg;
    for (int i = 0; i < 2000; i++) {
        jwt_claims_t c;
        if (jwt_verify(KAT_TOKEN, k, 1, NOW, 60, ISS, &c) != JWT_OK || strcmp(c.sub, SID) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_verify_is_thread_safe(void **state)
{
    (void)state;
    jwt_key_t k = key_of(JS);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, verify_many, &k), 0);
    for (int i = 0; i < 4; i++) {
        void *r = (void *)1;
        assert_int_equal(pthread_join(th[i], &r), 0);
        assert_null(r);
    }
}

static void test_rc_names(void **state)
{
    (void)state;
    assert_string_equal(jwt_rc_name(JWT_OK), "OK");
    assert_string_equal(jwt_rc_name(JWT_BAD_SIGNATURE), "BAD_SIGNATURE");
    assert_string_equal(jwt_rc_name(JWT_BAD_CLAIM), "BAD_CLAIM");
    assert_string_equal(jwt_rc_name((jwt_rc_t)99), "UNKNOWN");
}

/* ---- secrets, fingerprints, identifiers ----------------------------------------------------- */

static void test_secret_problem(void **state)
{
    (void)state;
    const char *good = "0123456789abcdef0123456789abcdef"; /* exactly 32 bytes */
    assert_null(auth_secret_problem(good, false));
    assert_null(auth_secret_problem(good, true));
    assert_string_equal(auth_secret_problem(NULL, false), "is blank");
    assert_string_equal(auth_secret_problem("", false), "is blank");
    assert_string_equal(auth_secret_problem("   \t\n", true), "is blank");
    assert_string_equal(auth_secret_problem("0123456789abcdef0123456789abcde", false), "is shorter than 32 bytes");
    assert_non_null(strstr(auth_secret_problem("${JWT_SECRET}", false), "${"));
    assert_non_null(strstr(auth_secret_problem("0123456789abcdef0123456789abcdef${X}", false), "${"));
    const char *dev = "dev-secret-0123456789abcdef0123456789";
    assert_null(auth_secret_problem(dev, false));
    assert_non_null(strstr(auth_secret_problem(dev, true), "dev-secret"));
    /* length is counted in bytes: 11 Hangul syllables are 33 bytes of UTF-8 */
    assert_null(auth_secret_problem("가나다라마바사아자차카", false));
}

static bool is_b64url_43(const char *s)
{
    if (strlen(s) != AUTH_FP_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return false;
    return true;
}

static void test_fingerprint(void **state)
{
    (void)state;
    const char *secret = "fingerprint-secret-for-unit-tests-0123456789";
    const char *api_key = "test_0123456789abcdef0123456789abcdef";
    char fp[AUTH_FP_LEN + 1], fp2[AUTH_FP_LEN + 1];
    assert_int_equal(auth_fingerprint(secret, api_key, fp), 0);
    assert_string_equal(fp, "GeQDj8tY67nm1gxjSR8GVCuUxSdRfs-z5BGdM_3iorE");
    assert_true(is_b64url_43(fp));
    assert_int_equal(auth_fingerprint("another-fingerprint-secret-0123456789", api_key, fp2), 0);
    assert_string_not_equal(fp, fp2);
    for (int i = 0; i < 50; i++) { /* always 43 characters of the URL alphabet */
        char k[32];
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(auth_fingerprint(secret, k, fp2), 0);
        assert_true(is_b64url_43(fp2));
    }
    assert_int_equal(auth_fingerprint(NULL, api_key, fp2), -1);
    assert_int_equal(auth_fingerprint("", api_key, fp2), -1);
    assert_string_equal(fp2, "");
}

static void test_mask(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(auth_mask("GeQDj8tY67nm1gxjSR8GVCuUxSdRfs-z5BGdM_3iorE", out, sizeof out), "GeQD****iorE");
    assert_string_equal(auth_mask("abcdefghijkl", out, sizeof out), "abcd****ijkl");
    assert_string_equal(auth_mask("abcdefghijk", out, sizeof out), "****");
    assert_string_equal(auth_mask("", out, sizeof out), "****");
    assert_string_equal(auth_mask(NULL, out, sizeof out), "****");
    assert_string_equal(auth_mask("abcdefghijkl", out, 6), "abcd*"); /* truncated to cap */
}

static void test_account_id(void **state)
{
    (void)state;
    char a[AUTH_FP_LEN + 1], b[AUTH_FP_LEN + 1];
    const char *ids1[] = {"acc-a", "acc-b", "acc-c"};
    const char *ids2[] = {"acc-c", "acc-a", "acc-b"};
    assert_int_equal(auth_account_id(ids1, 3, a), 0);
    assert_string_equal(a, "JaAQQoCvXNN0QSKtvd545gdH-ZFooDIX6vFiMcFXsRA");
    assert_int_equal(auth_account_id(ids2, 3, b), 0);
    assert_string_equal(a, b); /* order independent */
    assert_string_equal(ids2[0], "acc-c"); /* input not sorted in place */
    assert_string_equal(ids2[1], "acc-a");
    /* byte order: 'B' < 'a' < 'z' < UTF-8 Hangul */
    const char *ids3[] = {"가-id", "z-id", "B-id", "a-id"};
    assert_int_equal(auth_account_id(ids3, 4, a), 0);
    assert_string_equal(a, "XX9RQokO3UDcBbbroXp10nyqExbPRfeZDfCsOCiwrIU");
    assert_string_equal(ids3[0], "가-id");
    assert_int_equal(auth_account_id(ids3, 0, a), -1);
    assert_string_equal(a, "");
    const char *with_null[] = {"x", NULL};
    assert_int_equal(auth_account_id(with_null, 2, a), -1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_refresh_tokens_unique(void **state)
{
    (void)state;
    enum { N = 1000 };
    char(*toks)[AUTH_FP_LEN + 1] = calloc(N, sizeof *toks);
    assert_non_null(toks);
    for (int i = 0; i < N; i++) {
        assert_int_equal(auth_new_refresh_token(toks[i]), 0);
        assert_true(is_b64url_43(toks[i]));
    }
    qsort(toks, N, sizeof *toks, cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(toks[i - 1], toks[i]);
    free(toks);
    char h[65];
    assert_int_equal(auth_token_hash("refresh-token-value", h), 0);
    assert_string_equal(h, "e65009f6e0ae9fc204adcb73a208f63c582b7839bde7fe836da36a3df6ae7a85");
    assert_int_equal(auth_token_hash(NULL, h), -1);
    char s[AUTH_FP_LEN + 1];
    assert_int_equal(auth_random_b64url(s), 0);
    assert_null(auth_secret_problem(s, true)); /* a generated secret passes the startup check (M4) */
}

static void test_uuid4(void **state)
{
    (void)state;
    enum { N = 1000 };
    char(*ids)[37] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        assert_int_equal(auth_uuid4(ids[i]), 0);
        const char *u = ids[i];
        assert_int_equal(strlen(u), 36);
        for (int k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(u[k], '-');
            else
                assert_non_null(strchr("0123456789abcdef", u[k]));
        }
        assert_int_equal(u[14], '4');
        assert_non_null(strchr("89ab", u[19]));
    }
    qsort(ids, N, sizeof *ids, cmp_str);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

/* ---- /character/list --------------------------------------------------------------------------- */

static const char LIST[] =
    "{\"account_list\":["
    "{\"account_id\":\"acc-b\",\"character_list\":["
    "{\"ocid\":\"o1\",\"character_name\":\"실제에반\",\"world_name\":\"스카니아\",\"character_class\":\"에반\","
    "\"character_level\":260},"
    "{\"ocid\":\"o2\",\"character_name\":\"Gen77\",\"world_name\":\"루나\",\"character_class\":\"히어로\","
    "\"character_level\":200,\"extra\":true}]},"
    "{\"account_id\":\"acc-a\",\"character_list\":["
    "{\"ocid\":\"o3\",\"character_name\":\"데모전사\",\"world_name\":\"엘리시움\",\"character_class\":\"팔라딘\","
    "\"character_level\":1}]},"
    "{\"account_id\":\"acc-c\",\"character_list\":[]}"
    "]}\n";

static void test_charlist_parse(void **state)
{
    (void)state;
    auth_charlist_t l;
    assert_int_equal(auth_parse_character_list(LIST, strlen(LIST), &l), 0);
    assert_null(l.error);
    assert_int_equal(l.n_accounts, 3);
    assert_int_equal(l.n_characters, 3);
    assert_string_equal(l.accounts[0].account_id, "acc-b");
    assert_int_equal(l.accounts[0].n_characters, 2);
    const auth_character_t *c = &l.accounts[0].characters[0];
    assert_string_equal(c->ocid, "o1");
    assert_string_equal(c->character_name, "실제에반");
    assert_string_equal(c->world_name, "스카니아");
    assert_string_equal(c->character_class, "에반");
    assert_int_equal(c->character_level, 260);
    assert_int_equal(l.accounts[2].n_characters, 0);
    assert_string_equal(l.account_ids[1], "acc-a");

    assert_true(auth_owns_character(&l, "실제에반"));
    assert_true(auth_owns_character(&l, "  실제에반\t"));  /* trimmed (0.2) */
    assert_true(auth_owns_character(&l, "gen77"));       /* ASCII case-insensitive */
    assert_true(auth_owns_character(&l, "GEN77"));
    assert_false(auth_owns_character(&l, "gen7"));
    assert_false(auth_owns_character(&l, "\xef\xbd\x87" "en77")); /* fullwidth g: only ASCII folds */
    assert_false(auth_owns_character(&l, "실제에"));
    assert_false(auth_owns_character(&l, "없는캐릭"));
    assert_false(auth_owns_character(&l, ""));
    assert_false(auth_owns_character(&l, NULL));

    char *ocids = auth_all_ocids_json(&l);
    assert_non_null(ocids);
    assert_string_equal(ocids, "[\"o1\",\"o2\",\"o3\"]");
    free(ocids);

    char id[AUTH_FP_LEN + 1];
    assert_int_equal(auth_charlist_account_id(&l, id), 0);
    assert_string_equal(id, "JaAQQoCvXNN0QSKtvd545gdH-ZFooDIX6vFiMcFXsRA"); /* acc-a,acc-b,acc-c */
    assert_string_equal(l.account_ids[0], "acc-b"); /* not sorted in place */
    auth_charlist_dispose(&l);
    auth_charlist_dispose(&l); /* idempotent */
}

static void test_charlist_empty_and_optional(void **state)
{
    (void)state;
    auth_charlist_t l;
    const char *empty = "{\"account_list\":[]}";
    assert_int_equal(auth_parse_character_list(empty, strlen(empty), &l), 0);
    assert_int_equal(l.n_accounts, 0);
    assert_false(auth_owns_character(&l, "x"));
    char *ocids = auth_all_ocids_json(&l);
    assert_string_equal(ocids, "[]");
    free(ocids);
    char id[AUTH_FP_LEN + 1];
    assert_int_equal(auth_charlist_account_id(&l, id), -1);
    auth_charlist_dispose(&l);

    const char *minimal = "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":null},"
                          "{\"account_id\":\"b\"},{\"account_id\":\"c\",\"character_list\":"
                          "[{\"ocid\":\"o\",\"character_name\":\"n\",\"world_name\":null}]}]}";
    assert_int_equal(auth_parse_character_list(minimal, strlen(minimal), &l), 0);
    assert_int_equal(l.n_accounts, 3);
    assert_int_equal(l.n_characters, 1);
    assert_string_equal(l.accounts[2].characters[0].world_name, "");
    assert_string_equal(l.accounts[2].characters[0].character_class, "");
    assert_int_equal(l.accounts[2].characters[0].character_level, 0);
    auth_charlist_dispose(&l);

    /* len bounds the input: the text after it is not read */
    const char *prefix = "{\"account_list\":[]}GARBAGE";
    assert_int_equal(auth_parse_character_list(prefix, 19, &l), 0);
    auth_charlist_dispose(&l);
}

static void test_charlist_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "{\"account_list\":[",
        "{\"account_list\":[]} trailing",
        "[]",
        "{}",
        "{\"account_list\":null}",
        "{\"account_list\":{}}",
        "{\"account_list\":[1]}",
        "{\"account_list\":[{}]}",
        "{\"account_list\":[{\"account_id\":7}]}",
        "{\"account_list\":[{\"account_id\":\"\"}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":{}}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[\"x\"]}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"character_name\":\"n\"}]}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"ocid\":\"o\"}]}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"ocid\":1,\"character_name\":\"n\"}]}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"ocid\":\"o\",\"character_name\":\"n\","
        "\"character_level\":\"260\"}]}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"ocid\":\"o\",\"character_name\":\"n\","
        "\"character_level\":1.5}]}]}",
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"ocid\":\"o\",\"character_name\":\"n\","
        "\"world_name\":3}]}]}",
        /* an error after earlier accounts were parsed: nothing leaks (ASan) */
        "{\"account_list\":[{\"account_id\":\"a\",\"character_list\":[{\"ocid\":\"o\",\"character_name\":\"n\"}]},"
        "{\"account_id\":\"b\",\"character_list\":[{\"ocid\":\"o2\",\"character_name\":\"m\"},{\"ocid\":2}]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        auth_charlist_t l;
        assert_int_equal(auth_parse_character_list(bad[i], strlen(bad[i]), &l), -1);
        assert_non_null(l.error);
        assert_int_equal(l.n_accounts, 0);
        assert_null(l.accounts);
        auth_charlist_dispose(&l);
    }
    auth_charlist_t l;
    assert_int_equal(auth_parse_character_list(NULL, 0, &l), -1);
    /* every prefix of a valid body is an error, never a crash */
    for (size_t n = 0; n + 2 < strlen(LIST); n++) {
        assert_int_equal(auth_parse_character_list(LIST, n, &l), -1);
        auth_charlist_dispose(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_strict_decode),
        cmocka_unit_test(test_kid_is_sha256_prefix),
        cmocka_unit_test(test_sign_known_answer),
        cmocka_unit_test(test_long_secret_known_answer),
        cmocka_unit_test(test_round_trip_and_rotation),
        cmocka_unit_test(test_sign_refuses_bad_claims),
        cmocka_unit_test(test_reject_alg),
        cmocka_unit_test(test_reject_kid_and_key),
        cmocka_unit_test(test_reject_tampering),
        cmocka_unit_test(test_time_checks_and_leeway),
        cmocka_unit_test(test_reject_missing_claims),
        cmocka_unit_test(test_reject_wrong_types_and_values),
        cmocka_unit_test(test_reject_structure),
        cmocka_unit_test(test_reject_encoding_and_parts),
        cmocka_unit_test(test_overlong_token),
        cmocka_unit_test(test_verify_is_thread_safe),
        cmocka_unit_test(test_rc_names),
        cmocka_unit_test(test_secret_problem),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_account_id),
        cmocka_unit_test(test_refresh_tokens_unique),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_charlist_parse),
        cmocka_unit_test(test_charlist_empty_and_optional),
        cmocka_unit_test(test_charlist_errors),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
