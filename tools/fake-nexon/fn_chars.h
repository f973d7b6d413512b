/*
 * fn_chars.h - the characters the fake Nexon server knows, and everything derived from a name:
 *   the ocid (first 32 hex digits of SHA-256("ocid:" + IGN)), the class, gender and the basic
 *   profile (world, level, guild, image, ...).
 *
 *   Who exists:
 *   - demo characters: the first `demo_count` names of a fixed list (데모전사, 데모마법사, 데모궁수,
 *     ...), then 데모캐릭터<N>; each demo name has a fixed class;
 *   - payload characters: DIR/<IGN>.json of the payload directory (served verbatim; class and
 *     gender read from the file, or derived from the name when the file has none);
 *   - generated characters: any name "gen" followed by 1-9 ASCII digits.
 *   A payload file wins over a demo or generated character of the same name.
 *
 *   ocid -> character: demo and payload characters (and generated ones pinned by
 *   fn_registry_pin(), e.g. members of an admin-defined account) sit in a permanent map.
 *   Generated names handed out by /id are remembered in two generations of at most
 *   FN_GEN_GENERATION entries each: when the current generation is full the older one is
 *   dropped, so the 500,000 to 1,000,000 most recent names always resolve and memory stays
 *   bounded (about 50 MB at the worst).
 *   Not here: payload bodies (fn_gen.h builds them; the server reads payload files).
 * Ownership: the registry owns every string it hands out (class names are static); a
 *   fn_char_t is a copy the caller owns; its pointers live as long as the registry.
 * Threads:   not thread-safe; the server uses it from its one event-loop thread.
 * Errors:    fn_registry_new() returns NULL with a message (unreadable payload directory, more
 *   than FN_MAX_PAYLOADS files, out of memory). Lookups return false for "no such character";
 *   fn_registry_remember()/pin() return -1 when out of memory or past the pin cap.
 */
#ifndef FN_CHARS_H
#define FN_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FN_NAME_MAX 255          /* bytes of an IGN we accept (real ones are at most 36) */
#define FN_OCID_LEN 32
#define FN_MAX_DEMO 10000
#define FN_MAX_PAYLOADS 10000
#define FN_PAYLOAD_MAX_BYTES (16u << 20)
#define FN_GEN_GENERATION 500000 /* generated names remembered per generation (two generations) */
#define FN_MAX_PINNED 1000000    /* generated names pinned by admin-defined accounts */

typedef enum { FN_STAT_STR = 0, FN_STAT_DEX, FN_STAT_INT, FN_STAT_LUK } fn_stat_t;

typedef struct {
    const char *name; /* character_class as the API spells it */
    fn_stat_t main, sub;
    bool magic;       /* attacks with magic (마력) rather than attack power (공격력) */
} fn_class_t;

size_t fn_class_count(void);
const fn_class_t *fn_class_at(size_t i);
/* The class of that exact name, or NULL when the fake does not know it. */
const fn_class_t *fn_class_find(const char *name);

typedef enum { FN_KIND_DEMO = 0, FN_KIND_GEN, FN_KIND_PAYLOAD } fn_kind_t;

typedef struct {
    char name[FN_NAME_MAX + 1];
    char ocid[FN_OCID_LEN + 1];
    fn_kind_t kind;
    const char *cls;          /* character_class */
    const char *gender;       /* character_gender ("남" / "여") */
    const char *payload_path; /* FN_KIND_PAYLOAD only, else NULL */
} fn_char_t;

typedef struct {
    const char *world;
    int level;                 /* 200..290 */
    int64_t exp;
    char exp_rate[16];         /* "12.345" */
    const char *guild;         /* NULL: no guild */
    char image[160];           /* https://open.api.nexon.com/static/maplestory/character/look/<HEX> */
    char date_create[64];      /* "2019-03-12T00:00+09:00" */
    bool liberated;
} fn_profile_t;

typedef struct fn_registry fn_registry_t;

fn_registry_t *fn_registry_new(int demo_count, const char *payload_dir, char *err, size_t errlen);
void fn_registry_free(fn_registry_t *reg);

/* ocid of a name (32 lowercase hex digits + NUL). */
void fn_ocid_of(const char *name, size_t len, char out[FN_OCID_LEN + 1]);
/* True for "gen" followed by 1..9 ASCII digits. */
bool fn_is_gen_name(const char *name, size_t len);

/* Resolve a name (exact bytes). */
bool fn_registry_by_name(const fn_registry_t *reg, const char *name, size_t len, fn_char_t *out);
/* Resolve an ocid (32 hex digits, any case). */
bool fn_registry_by_ocid(const fn_registry_t *reg, const char *ocid, fn_char_t *out);
/* Remember a generated character's ocid (called when /id hands it out). */
int fn_registry_remember(fn_registry_t *reg, const fn_char_t *c);
/* Make a generated character's ocid resolve forever (admin-defined accounts). */
int fn_registry_pin(fn_registry_t *reg, const fn_char_t *c);

/* The demo names in list order, and the payload names in sorted order. */
size_t fn_registry_demo_count(const fn_registry_t *reg);
const char *fn_registry_demo_name(const fn_registry_t *reg, size_t i);
size_t fn_registry_payload_count(const fn_registry_t *reg);
const char *fn_registry_payload_name(const fn_registry_t *reg, size_t i);

/* The basic-info fields derived from the name (deterministic). */
void fn_char_profile(const fn_char_t *c, fn_profile_t *out);

#endif
