/*
 * charlist.c - the body of GET /maplestory/v1/character/list (platform spec 1.7 E11, 1.12, M13):
 * parsed into owned accounts and characters, then the login steps' questions: does the key own
 * the IGN (case-insensitive for ASCII letters, byte-exact otherwise), all OCIDs as the session's
 * JSON array, and the account id.
 * Type errors are errors (a key whose list we cannot read proves nothing), unknown members are
 * ignored (Nexon may add fields).
 */
#include "auth/auth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/jw.h"

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */

/* A malloc'd copy of a string member: required ones must be non-empty strings; optional ones
 * may be absent or null (then ""). NULL with *why set on failure. */
static char *dup_member(const cJSON *obj, const char *name, bool required, const char *bad, const char **why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    const char *s;
    if (cJSON_IsString(v))
        s = v->valuestring;
    else if (!required && (!v || cJSON_IsNull(v)))
        s = "";
    else
        s = NULL;
    if (!s || (required && !*s)) {
        *why = bad;
        return NULL;
    }
    char *copy = strdup(s);
    if (!copy)
        *why = "out of memory";
    return copy;
}

static bool read_level(const cJSON *obj, int64_t *level, const char **why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "character_level");
    *level = 0;
    if (!v || cJSON_IsNull(v))
        return true;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(d) || d != floor(d) || fabs(d) > MAX_EXACT_INT) {
        *why = "character_level: must be an integer";
        return false;
    }
    *level = (int64_t)d;
    return true;
}

static bool parse_character(const cJSON *j, auth_character_t *c, const char **why)
{
    if (!cJSON_IsObject(j)) {
        *why = "character_list[]: must be objects";
        return false;
    }
    return (c->ocid = dup_member(j, "ocid", true, "ocid: must be a non-empty string", why)) &&
           (c->character_name =
                dup_member(j, "character_name", true, "character_name: must be a non-empty string", why)) &&
           (c->world_name = dup_member(j, "world_name", false, "world_name: must be a string", why)) &&
           (c->character_class = dup_member(j, "character_class", false, "character_class: must be a string", why)) &&
           read_level(j, &c->character_level, why);
}

static bool parse_account(const cJSON *j, auth_account_t *a, const char **why)
{
    if (!cJSON_IsObject(j)) {
        *why = "account_list[]: must be objects";
        return false;
    }
    a->account_id = dup_member(j, "account_id", true, "account_id: must be a non-empty string", why);
    if (!a->account_id)
        return false;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "character_list");
    if (!list || cJSON_IsNull(list))
        return true;
    if (!cJSON_IsArray(list)) {
        *why = "character_list: must be an array";
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n == 0)
        return true;
    a->characters = calloc(n, sizeof *a->characters);
    if (!a->characters) {
        *why = "out of memory";
        return false;
    }
    for (const cJSON *c = list->child; c; c = c->next) /* n_characters counts what is owned */
        if (!parse_character(c, &a->characters[a->n_characters++], why))
            return false;
    return true;
}

static bool only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return false;
    return true;
}

static bool parse_root(const cJSON *root, auth_charlist_t *out)
{
    if (!cJSON_IsObject(root)) {
        out->error = "body: must be a JSON object";
        return false;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "account_list");
    if (!cJSON_IsArray(list)) {
        out->error = "account_list: must be an array";
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n == 0)
        return true;
    out->accounts = calloc(n, sizeof *out->accounts);
    out->account_ids = calloc(n, sizeof *out->account_ids);
    if (!out->accounts || !out->account_ids) {
        out->error = "out of memory";
        return false;
    }
    for (const cJSON *a = list->child; a; a = a->next) {
        auth_account_t *acc = &out->accounts[out->n_accounts++];
        if (!parse_account(a, acc, &out->error))
            return false;
        out->account_ids[out->n_accounts - 1] = acc->account_id;
        out->n_characters += acc->n_characters;
    }
    return true;
}

int auth_parse_character_list(const char *json, size_t len, auth_charlist_t *out)
{
    memset(out, 0, sizeof *out);
    if (!json) {
        out->error = "body: missing";
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root || !end || !only_space(end, json + len)) {
        cJSON_Delete(root);
        out->error = "body: not valid JSON";
        return -1;
    }
    bool ok = parse_root(root, out);
    cJSON_Delete(root);
    if (!ok) {
        const char *why = out->error;
        auth_charlist_dispose(out);
        out->error = why;
        return -1;
    }
    return 0;
}

void auth_charlist_dispose(auth_charlist_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_accounts; i++) {
        auth_account_t *a = &l->accounts[i];
        for (size_t k = 0; k < a->n_characters; k++) {
            free(a->characters[k].ocid);
            free(a->characters[k].character_name);
            free(a->characters[k].world_name);
            free(a->characters[k].character_class);
        }
        free(a->characters);
        free(a->account_id);
    }
    free(l->accounts);
    free((void *)l->account_ids);
    memset(l, 0, sizeof *l);
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool is_ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* name (NUL-terminated) equals ign[0..n) with ASCII letters folded. */
static bool same_name(const char *name, const char *ign, size_t n)
{
    if (strlen(name) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower((unsigned char)name[i]) != ascii_lower((unsigned char)ign[i]))
            return false;
    return true;
}

bool auth_owns_character(const auth_charlist_t *l, const char *ign)
{
    if (!l || !ign)
        return false;
    while (is_ascii_space(*ign))
        ign++;
    size_t n = strlen(ign);
    while (n > 0 && is_ascii_space(ign[n - 1]))
        n--;
    if (n == 0)
        return false;
    for (size_t i = 0; i < l->n_accounts; i++)
        for (size_t k = 0; k < l->accounts[i].n_characters; k++)
            if (same_name(l->accounts[i].characters[k].character_name, ign, n))
                return true;
    return false;
}

char *auth_all_ocids_json(const auth_charlist_t *l)
{
    buf_t b;
    buf_init(&b, 64u << 20);
    jw_t w;
    jw_init(&w, &b);
    jw_array_begin(&w);
    for (size_t i = 0; l && i < l->n_accounts; i++)
        for (size_t k = 0; k < l->accounts[i].n_characters; k++)
            jw_string(&w, l->accounts[i].characters[k].ocid);
    jw_array_end(&w);
    if (!buf_ok(&b)) {
        buf_dispose(&b);
        return NULL;
    }
    return buf_steal(&b, NULL); /* NUL-terminated by buf_steal */
}

int auth_charlist_account_id(const auth_charlist_t *l, char out[AUTH_FP_LEN + 1])
{
    if (!l) {
        out[0] = '\0';
        return -1;
    }
    return auth_account_id(l->account_ids, l->n_accounts, out);
}
