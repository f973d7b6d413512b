/*
 * auth.h - authentication primitives (platform spec 0.2, 1.3, 1.7, M4, M13, M16, 2.3.10):
 *   HS256 access tokens (jwt.c), strict Base64URL (b64url.c), secrets check, fingerprints,
 *   masking, account ids, refresh tokens, UUIDv4 (tokens.c) and the /character/list body
 *   (charlist.c).
 *   Not here: sessions, refresh-token rotation, the admin set (store/, http/): these functions
 *   never touch the database, the network, a clock or the environment.
 * Ownership: every function writes into caller-provided buffers, except the character list
 *   (auth_charlist_t owns its strings: auth_charlist_dispose()) and auth_all_ocids_json()
 *   (a malloc'd string the caller frees). Inputs are borrowed and never modified.
 * Threads:   all functions are reentrant and thread-safe: no global mutable state; OpenSSL 3
 *   one-shot digests/HMACs; randomness from getrandom(2) (/dev/urandom as a fallback).
 *   A jwt_key_t / jwt_keyring_t is immutable after init and may be shared read-only.
 * Errors:    int functions return 0 (or a length) on success and -1 on bad input, a too small
 *   output buffer or a libcrypto/randomness failure; the output is then "" where it is a string.
 *   jwt_verify() returns a jwt_rc_t naming the first check that failed. No function logs, and
 *   no function copies a secret anywhere but the caller's own buffers.
 *
 * Decisions:
 *   - kid = the first 8 hex digits of SHA-256(secret): rotating JWT_SECRET changes the kid, so a
 *     token signed with an old secret is UNKNOWN_KID rather than BAD_SIGNATURE. 32 bits of a hash
 *     of a >= 32-byte random secret reveal nothing usable.
 *   - kid is required in the header (M16 names it) even when only one key is configured: every
 *     token we mint carries it, and a fallback would only widen what is accepted.
 *   - Leeway 60 s (M16 wins over the 30 s of 1.3) applies to exp, nbf and iat: a token is
 *     EXPIRED when now >= exp + leeway, NOT_YET_VALID when nbf > now + leeway or
 *     iat > now + leeway (the same comparisons as PyJWT).
 *   - Strictness: tokens longer than JWT_MAX_LEN, Base64URL with padding, invalid characters or
 *     non-zero trailing bits, JSON parts that are not objects, duplicate member names (cJSON would
 *     silently take the first, RFC 7519 asks to reject or take the last), a "crit" header, a typ
 *     other than "JWT", and claims of the wrong type are all rejected.
 */
#ifndef MX_AUTH_AUTH_H
#define MX_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Base64URL without padding (RFC 4648 section 5) ---------------------------------------- */

/* Characters needed to encode n bytes (no padding, no NUL). */
#define AUTH_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))

/* Encodes n bytes into out (NUL-terminated). Returns the length, or -1 when cap is too small. */
int auth_b64url_encode(const void *in, size_t n, char *out, size_t cap);
/* Strict decode of n characters: only A-Z a-z 0-9 - _, no '=', no length of the form 4k+1,
 * zero trailing bits (one encoding per value). Returns the byte count, or -1. */
int auth_b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap);

/* ---- JWT HS256 (M16) ------------------------------------------------------------------------ */

#define JWT_MAX_LEN 8192          /* longer tokens are MALFORMED without being decoded */
#define JWT_KID_LEN 8             /* hex digits */
#define JWT_CLAIM_MAX 128         /* bytes of a string claim, NUL included */
#define JWT_MAX_KEYS 4            /* keys a keyring holds */
#define JWT_ISSUER "maple-expectation"
#define JWT_LEEWAY_S 60           /* M16 */

/* One HMAC key. HMAC-SHA256 hashes keys longer than its 64-byte block first (RFC 2104), so the
 * key is kept in that reduced form: any secret length works and behaves exactly like the secret. */
typedef struct {
    char kid[JWT_KID_LEN + 1];
    unsigned char hkey[64];
    size_t hkey_len;
} jwt_key_t;

/* The signing key first, then older keys still accepted for verification (rotation). */
typedef struct jwt_keyring {
    jwt_key_t keys[JWT_MAX_KEYS];
    size_t n;
} jwt_keyring_t;

typedef struct {
    char iss[JWT_CLAIM_MAX];
    char sub[JWT_CLAIM_MAX];      /* session id */
    char fgp[JWT_CLAIM_MAX];      /* fingerprint */
    char role[8];                 /* "USER" or "ADMIN" (informational only, 1.3) */
    int64_t iat, nbf, exp;        /* seconds since the epoch */
} jwt_claims_t;

typedef enum {
    JWT_OK = 0,
    JWT_MALFORMED,       /* length, parts, Base64URL, JSON, duplicate names, typ/crit */
    JWT_BAD_ALG,         /* alg missing or not exactly "HS256" (none, HS512, RS256, ...) */
    JWT_UNKNOWN_KID,     /* kid missing or no configured key has it */
    JWT_BAD_SIGNATURE,   /* empty, wrong length or not the HMAC of the key */
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,   /* nbf or iat in the future beyond the leeway */
    JWT_BAD_ISSUER,
    JWT_MISSING_CLAIM,   /* one of iss sub fgp role iat nbf exp absent, null or "" */
    JWT_BAD_CLAIM,       /* a claim of the wrong type or outside its domain (role, times) */
} jwt_rc_t;

/* "OK", "MALFORMED", ... (static). */
const char *jwt_rc_name(jwt_rc_t rc);

/* Derives the key and its kid from secret (len bytes, > 0). Returns 0 or -1. */
int jwt_key_init(jwt_key_t *k, const void *secret, size_t len);
/* Adds a key to the ring (the first added signs). Returns 0, or -1 when full or invalid. */
int jwt_keyring_add(jwt_keyring_t *r, const char *secret);
/* Overwrites key material (OPENSSL_cleanse) before the memory is released. */
void jwt_keyring_wipe(jwt_keyring_t *r);

/* Signs c with key: header exactly {"alg":"HS256","typ":"JWT","kid":"<kid>"}, payload
 * {"iss","sub","fgp","role","iat","nbf","exp"} in that order. Refuses (-1) empty strings, a role
 * other than USER/ADMIN, negative times, strings of JWT_CLAIM_MAX bytes or more, and a token that
 * does not fit cap. Returns the token length (out NUL-terminated). */
int jwt_sign(const jwt_claims_t *c, const jwt_key_t *key, char *out, size_t cap);

/* Verifies token against keys (selected by kid) at now_s with leeway_s (< 0 counts as 0) and
 * requires iss == expected_iss. *out is filled on JWT_OK and zeroed otherwise. */
jwt_rc_t jwt_verify(const char *token, const jwt_key_t *keys, size_t nkeys, int64_t now_s, int leeway_s,
                    const char *expected_iss, jwt_claims_t *out);

/* ---- Secrets, fingerprints, identifiers (tokens.c) ----------------------------------------- */

#define AUTH_SECRET_MIN 32
#define AUTH_FP_LEN 43    /* Base64URL of 32 bytes */

/* NULL if secret may be used, else a static reason ("is blank", "is shorter than 32 bytes",
 * "contains an unresolved ${...} placeholder", "is a development secret (dev-secret...) ..."). */
const char *auth_secret_problem(const char *secret, bool production);

/* Base64URL(HMAC-SHA256(key = fingerprint_secret, msg = api_key)), 43 characters (0.2). */
int auth_fingerprint(const char *fingerprint_secret, const char *api_key, char out[AUTH_FP_LEN + 1]);

/* first 4 bytes + "****" + last 4 bytes; "****" when s is NULL or shorter than 12 bytes (so at
 * least 4 bytes always stay hidden). Byte-based: meant for ASCII values. Truncated to cap.
 * Returns out. */
char *auth_mask(const char *s, char *out, size_t cap);

/* Base64URL(SHA-256(join(",", byte-sorted ids))) (M13); the array is not modified. n == 0 or a
 * NULL id is -1. */
int auth_account_id(const char *const *account_ids, size_t n, char out[AUTH_FP_LEN + 1]);

/* 256 random bits as 43 Base64URL characters: refresh tokens, and secrets generated in
 * standalone mode (M4: 43 bytes >= 32). */
int auth_random_b64url(char out[AUTH_FP_LEN + 1]);
int auth_new_refresh_token(char out[AUTH_FP_LEN + 1]);
/* SHA-256 hex of the token: the only form in which refresh tokens are stored (1.3). */
int auth_token_hash(const char *token, char out[65]);
/* A random (version 4, RFC 9562) UUID, lowercase "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx". */
int auth_uuid4(char out[37]);

/* ---- /maplestory/v1/character/list (charlist.c) -------------------------------------------- */

typedef struct {
    char *ocid, *character_name, *world_name, *character_class;
    int64_t character_level;
} auth_character_t;

typedef struct {
    char *account_id;
    auth_character_t *characters;
    size_t n_characters;
} auth_account_t;

typedef struct {
    auth_account_t *accounts;
    size_t n_accounts;
    const char **account_ids;  /* n_accounts pointers into accounts[]: input of auth_account_id() */
    size_t n_characters;       /* over all accounts (characterCount of E14) */
    const char *error;         /* static reason when parsing failed, else NULL */
} auth_charlist_t;

/* Parses the body. Required: an object with "account_list" (array); each account an object
 * with a non-empty string "account_id" and "character_list" (array; absent or null = none);
 * each character an object with non-empty strings "ocid" and "character_name", strings
 * "world_name" and "character_class" (absent or null = ""), and an integer "character_level"
 * (absent or null = 0). Unknown members are ignored. An empty account_list is valid (0 accounts;
 * the caller answers A001). Returns 0, or -1 with out->error set (out then holds nothing to free,
 * but auth_charlist_dispose() is still safe). */
int auth_parse_character_list(const char *json, size_t len, auth_charlist_t *out);
void auth_charlist_dispose(auth_charlist_t *l);

/* Whether some character is named ign: ASCII letters compare case-insensitively, every other
 * byte exactly (Korean names are byte-exact). ign is trimmed of ASCII whitespace first (0.2). */
bool auth_owns_character(const auth_charlist_t *l, const char *ign);

/* The OCIDs of all characters of all accounts, in body order, as a JSON array text (my_ocids of
 * the session row). malloc'd; NULL when memory runs out. */
char *auth_all_ocids_json(const auth_charlist_t *l);

/* auth_account_id() over l's account ids. -1 when there are none. */
int auth_charlist_account_id(const auth_charlist_t *l, char out[AUTH_FP_LEN + 1]);

#endif
