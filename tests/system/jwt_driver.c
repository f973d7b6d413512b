/*
 * jwt_driver.c - a tiny command-line face of src/auth's JWT code for test_jwt_pyjwt.py, which
 * compiles it against build/<BUILD>/libmaplexp.a and cross-checks it with PyJWT. Not installed,
 * not part of the service.
 *
 *   jwt_driver sign SECRET SUB FGP ROLE IAT NBF EXP   -> the token (iss "maple-expectation")
 *   jwt_driver verify SECRET TOKEN NOW                -> {"result":"<jwt_rc_name>","claims":{...}|null}
 *   jwt_driver kid SECRET                             -> the key id
 * verify uses the M16 leeway (60 s) and the issuer "maple-expectation".
 * Exit: 0 done (whatever the verification result), 1 signing refused, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/jw.h"

static int usage(void)
{
    fputs("usage: jwt_driver sign SECRET SUB FGP ROLE IAT NBF EXP | verify SECRET TOKEN NOW | kid SECRET\n", stderr);
    return 2;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static bool init_key(jwt_key_t *k, const char *secret)
{
    if (jwt_key_init(k, secret, strlen(secret)) != 0) {
        fputs("jwt_driver: empty secret\n", stderr);
        return false;
    }
    return true;
}

static int cmd_sign(char **argv)
{
    jwt_key_t k;
    jwt_claims_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.iss, sizeof c.iss, "%s", JWT_ISSUER);
    snprintf(c.sub, sizeof c.sub, "%s", argv[1]);
    snprintf(c.fgp, sizeof c.fgp, "%s", argv[2]);
    snprintf(c.role, sizeof c.role, "%s", argv[3]);
    if (!parse_i64(argv[4], &c.iat) || !parse_i64(argv[5], &c.nbf) || !parse_i64(argv[6], &c.exp))
        return usage();
    if (!init_key(&k, argv[0]))
        return 2;
    char token[JWT_MAX_LEN + 1];
    if (jwt_sign(&c, &k, token, sizeof token) < 0) {
        fputs("jwt_driver: jwt_sign refused the claims\n", stderr);
        return 1;
    }
    puts(token);
    return 0;
}

static void write_claims(jw_t *w, const jwt_claims_t *c)
{
    jw_object_begin(w);
    jw_key(w, "iss");
    jw_string(w, c->iss);
    jw_key(w, "sub");
    jw_string(w, c->sub);
    jw_key(w, "fgp");
    jw_string(w, c->fgp);
    jw_key(w, "role");
    jw_string(w, c->role);
    jw_key(w, "iat");
    jw_int(w, c->iat);
    jw_key(w, "nbf");
    jw_int(w, c->nbf);
    jw_key(w, "exp");
    jw_int(w, c->exp);
    jw_object_end(w);
}

static int cmd_verify(char **argv)
{
    jwt_key_t k;
    int64_t now;
    if (!parse_i64(argv[2], &now))
        return usage();
    if (!init_key(&k, argv[0]))
        return 2;
    jwt_claims_t c;
    jwt_rc_t rc = jwt_verify(argv[1], &k, 1, now, JWT_LEEWAY_S, JWT_ISSUER, &c);
    buf_t b;
    buf_init(&b, 4096);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "result");
    jw_string(&w, jwt_rc_name(rc));
    jw_key(&w, "claims");
    if (rc == JWT_OK)
        write_claims(&w, &c);
    else
        jw_null(&w);
    jw_object_end(&w);
    int exit_code = buf_ok(&b) ? 0 : 1;
    puts(buf_cstr(&b));
    buf_dispose(&b);
    return exit_code;
}

int main(int argc, char **argv)
{
    if (argc == 9 && strcmp(argv[1], "sign") == 0)
        return cmd_sign(argv + 2);
    if (argc == 5 && strcmp(argv[1], "verify") == 0)
        return cmd_verify(argv + 2);
    if (argc == 3 && strcmp(argv[1], "kid") == 0) {
        jwt_key_t k;
        if (!init_key(&k, argv[2]))
            return 2;
        puts(k.kid);
        return 0;
    }
    return usage();
}
