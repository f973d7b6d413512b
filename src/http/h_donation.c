/*
 * h_donation.c - "coffee" donation (E15, 1.8, SC-14, SC-28). One store transaction does all of
 * it (admin check, idempotency record, conditional debit, credit, outbox row); this file only
 * validates the request and maps the outcome. No lock: correctness comes from the transaction.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "base/clock.h"
#include "base/hash.h"
#include "http/http_internal.h"

#define AMOUNT_MAX 1000000000LL

bool valid_fingerprint(const char *s)
{
    size_t n = 0;
    for (; s && s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
            return false;
    return n == 43;
}

static bool valid_idempotency_key(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && !strchr("._:-", s[n]))
            return false;
    return n >= 1 && n <= 64;
}

static void count_donation(req_ctx_t *c, const char *result)
{
    mfam_add(c->srv->m_donations, MX_LV(result), 1);
}

/* Validated request fields, or false with out_* set. */
static bool read_request(req_ctx_t *c, char fp[44], int64_t *amount, char key[65])
{
    cJSON *j = body_json(c);
    if (!j)
        return false;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "adminFingerprint");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "amount");
    bool fp_ok = cJSON_IsString(f) && valid_fingerprint(f->valuestring);
    double v = cJSON_IsNumber(a) ? a->valuedouble : 0;
    bool amount_ok = cJSON_IsNumber(a) && v >= 1 && v <= (double)AMOUNT_MAX && v == (double)(int64_t)v;
    if (fp_ok)
        snprintf(fp, 44, "%s", f->valuestring);
    *amount = amount_ok ? (int64_t)v : 0;
    cJSON_Delete(j);
    if (!fp_ok || !amount_ok) {
        out_error(c, "C001", !fp_ok ? "adminFingerprint: must be 43 Base64URL characters"
                                    : "amount: must be an integer from 1 to 1000000000");
        return false;
    }
    if (c->in_idempotency_key) {
        if (!valid_idempotency_key(c->in_idempotency_key)) {
            out_error(c, "C001", "Idempotency-Key: 1-64 characters of A-Z a-z 0-9 . _ : -");
            return false;
        }
        snprintf(key, 65, "%s", c->in_idempotency_key);
    } else {
        auth_uuid4(key); /* the request is then not retry-safe (1.8) */
    }
    return true;
}

static void answer_outcome(req_ctx_t *c, donation_rc_t rc, const char *key, int64_t amount, int64_t balance)
{
    char arg[128], masked[32];
    switch (rc) {
    case DONATION_DONE:
    case DONATION_REPLAYED: {
        char data[256];
        snprintf(data, sizeof data, "{\"requestId\":\"%s\",\"message\":\"커피 후원이 완료되었습니다.\"}", key);
        count_donation(c, rc == DONATION_DONE ? "ok" : "replayed");
        if (rc == DONATION_DONE)
            mfam_add(c->srv->m_points, NULL, (double)amount);
        out_envelope(c, data);
        return;
    }
    case DONATION_KEY_CONFLICT: count_donation(c, "key_conflict"); out_error(c, "I001", key); return;
    case DONATION_NOT_ADMIN: count_donation(c, "not_admin"); out_error(c, "A007", NULL); return;
    case DONATION_SENDER_MISSING:
        count_donation(c, "member_missing");
        auth_mask(c->who.fingerprint, masked, sizeof masked);
        out_error(c, "A009", masked);
        return;
    case DONATION_ADMIN_MEMBER_MISSING: count_donation(c, "member_missing"); out_error(c, "A008", NULL); return;
    case DONATION_INSUFFICIENT:
        count_donation(c, "insufficient_points");
        snprintf(arg, sizeof arg, "%lld, 필요: %lld", (long long)balance, (long long)amount);
        out_error(c, "C003", arg);
        return;
    }
}

static void work_donation(req_ctx_t *c)
{
    if (!principal_allows(c))
        return;
    char fp[44], key[65];
    int64_t amount;
    if (!read_request(c, fp, &amount, key))
        return;
    char hash_input[96], hash[65];
    snprintf(hash_input, sizeof hash_input, "%s|%lld", fp, (long long)amount);
    sha256_hex(hash_input, strlen(hash_input), hash);
    store_donation_t d = {c->who.fingerprint, fp, admin_is_bootstrap(c->srv, fp), key, hash, amount, c->corr};
    donation_rc_t outcome = DONATION_DONE;
    int64_t balance = 0;
    store_t *s = c->srv->app->store;
    if (s->ops->donate(s, &d, clock_wall_ms(), &outcome, &balance) != STORE_OK) {
        /* Nothing committed (SQLite commits or fails as a whole): a retry with the same key is safe. */
        count_donation(c, "unavailable");
        out_error_retry(c, "S007", NULL, 30);
        return;
    }
    answer_outcome(c, outcome, key, amount, balance);
}

void h_donation(req_ctx_t *c) { defer_work(c, work_donation); }
