/*
 * fn_chars.c - character registry of the fake Nexon server (see fn_chars.h).
 *
 * Two kinds of ocid maps, both open addressing with linear probing over the ocid's 16 bytes
 * (already uniformly distributed, so the first 8 bytes are the hash):
 *  - the permanent map: ocid -> index of a record (demo, payload and pinned generated names);
 *  - two generations of "recently handed out" generated names: ocid -> (digit count, number),
 *    which re-creates the name ("gen" + number zero-padded to the digit count) without storing
 *    it. When the current generation reaches FN_GEN_GENERATION entries the previous one is
 *    freed and the current one becomes previous: memory is bounded and the most recent names
 *    keep resolving.
 * Nothing is ever deleted from a single table, so probing needs no tombstones.
 */
#include "fn_chars.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fn_util.h"

/* ---- classes --------------------------------------------------------------------------- */

static const fn_class_t CLASSES[] = {
    {"히어로", FN_STAT_STR, FN_STAT_DEX, false},
    {"팔라딘", FN_STAT_STR, FN_STAT_DEX, false},
    {"다크나이트", FN_STAT_STR, FN_STAT_DEX, false},
    {"아란", FN_STAT_STR, FN_STAT_DEX, false},
    {"아델", FN_STAT_STR, FN_STAT_DEX, false},
    {"바이퍼", FN_STAT_STR, FN_STAT_DEX, false},
    {"블래스터", FN_STAT_STR, FN_STAT_DEX, false},
    {"아크메이지(불,독)", FN_STAT_INT, FN_STAT_LUK, true},
    {"아크메이지(썬,콜)", FN_STAT_INT, FN_STAT_LUK, true},
    {"비숍", FN_STAT_INT, FN_STAT_LUK, true},
    {"에반", FN_STAT_INT, FN_STAT_LUK, true},
    {"루미너스", FN_STAT_INT, FN_STAT_LUK, true},
    {"일리움", FN_STAT_INT, FN_STAT_LUK, true},
    {"보우마스터", FN_STAT_DEX, FN_STAT_STR, false},
    {"신궁", FN_STAT_DEX, FN_STAT_STR, false},
    {"패스파인더", FN_STAT_DEX, FN_STAT_STR, false},
    {"메르세데스", FN_STAT_DEX, FN_STAT_STR, false},
    {"캡틴", FN_STAT_DEX, FN_STAT_STR, false},
    {"카인", FN_STAT_DEX, FN_STAT_STR, false},
    {"나이트로드", FN_STAT_LUK, FN_STAT_DEX, false},
    {"섀도어", FN_STAT_LUK, FN_STAT_DEX, false},
    {"팬텀", FN_STAT_LUK, FN_STAT_DEX, false},
    {"호영", FN_STAT_LUK, FN_STAT_DEX, false},
    {"칼리", FN_STAT_LUK, FN_STAT_DEX, false},
};
#define CLASS_COUNT (sizeof CLASSES / sizeof CLASSES[0])

size_t fn_class_count(void) { return CLASS_COUNT; }
const fn_class_t *fn_class_at(size_t i) { return i < CLASS_COUNT ? &CLASSES[i] : NULL; }

const fn_class_t *fn_class_find(const char *name)
{
    for (size_t i = 0; name && i < CLASS_COUNT; i++)
        if (strcmp(CLASSES[i].name, name) == 0)
            return &CLASSES[i];
    return NULL;
}

/* The fixed demo list: the first three are what `make run` prints. */
static const struct {
    const char *name;
    const char *cls;
} DEMO[] = {
    {"데모전사", "히어로"},         {"데모마법사", "아크메이지(불,독)"}, {"데모궁수", "보우마스터"},
    {"데모도적", "나이트로드"},     {"데모해적", "캡틴"},               {"데모에반", "에반"},
    {"데모비숍", "비숍"},           {"데모팔라딘", "팔라딘"},           {"데모신궁", "신궁"},
    {"데모섀도어", "섀도어"},       {"데모아란", "아란"},               {"데모루미너스", "루미너스"},
    {"데모다크나이트", "다크나이트"}, {"데모썬콜", "아크메이지(썬,콜)"}, {"데모메르세데스", "메르세데스"},
    {"데모팬텀", "팬텀"},           {"데모아델", "아델"},               {"데모카인", "카인"},
    {"데모일리움", "일리움"},       {"데모호영", "호영"},               {"데모바이퍼", "바이퍼"},
    {"데모패스파인더", "패스파인더"}, {"데모칼리", "칼리"},             {"데모블래스터", "블래스터"},
};
#define DEMO_FIXED (sizeof DEMO / sizeof DEMO[0])

/* ---- ocid map ------------------------------------------------------------------------- */

typedef struct {
    unsigned char key[16];
    uint64_t value; /* 0 = empty slot */
} omap_slot_t;

typedef struct {
    omap_slot_t *slots;
    size_t mask;  /* slot count - 1 (power of two), or 0 before the first insert */
    size_t count;
} omap_t;

static uint64_t omap_hash(const unsigned char key[16])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return h;
}

static uint64_t omap_get(const omap_t *m, const unsigned char key[16])
{
    if (!m->slots)
        return 0;
    for (size_t i = omap_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        const omap_slot_t *s = &m->slots[i];
        if (s->value == 0)
            return 0;
        if (memcmp(s->key, key, 16) == 0)
            return s->value;
    }
}

static void omap_place(omap_slot_t *slots, size_t mask, const unsigned char key[16], uint64_t value)
{
    for (size_t i = omap_hash(key) & mask;; i = (i + 1) & mask) {
        if (slots[i].value == 0 || memcmp(slots[i].key, key, 16) == 0) {
            memcpy(slots[i].key, key, 16);
            slots[i].value = value;
            return;
        }
    }
}

/* Insert or overwrite; keeps the load at most 1/2. value must not be 0. */
static int omap_put(omap_t *m, const unsigned char key[16], uint64_t value)
{
    if (omap_get(m, key) != 0) {
        omap_place(m->slots, m->mask, key, value);
        return 0;
    }
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
        size_t n = m->slots ? (m->mask + 1) * 2 : 1024;
        omap_slot_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; m->slots && i <= m->mask; i++)
            if (m->slots[i].value != 0)
                omap_place(slots, n - 1, m->slots[i].key, m->slots[i].value);
        free(m->slots);
        m->slots = slots;
        m->mask = n - 1;
    }
    omap_place(m->slots, m->mask, key, value);
    m->count++;
    return 0;
}

static void omap_free(omap_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- registry ------------------------------------------------------------------------ */

typedef struct {
    char *name;
    fn_kind_t kind;
    const char *cls;
    const char *gender;
    char *path;      /* payload file */
    char *cls_owned; /* payload class string when it is not one of CLASSES */
} record_t;

struct fn_registry {
    record_t *records;
    size_t count, alloc;
    size_t demo_count;
    size_t *demo_index;    /* record index of each demo name, list order */
    size_t *payload_index; /* record index of each payload, sorted by name */
    size_t payload_count;
    size_t pinned;
    omap_t permanent;
    omap_t recent[2];      /* [0] current generation, [1] previous */
};

static int ocid_bytes(const char *name, size_t len, unsigned char out[16])
{
    unsigned char digest[32];
    size_t plen = 5;
    char *joined = malloc(plen + len + 1);
    if (!joined)
        return -1;
    memcpy(joined, "ocid:", plen);
    memcpy(joined + plen, name, len);
    int rc = fn_sha256(joined, plen + len, digest);
    free(joined);
    memcpy(out, digest, 16);
    return rc;
}

void fn_ocid_of(const char *name, size_t len, char out[FN_OCID_LEN + 1])
{
    unsigned char bytes[16];
    if (ocid_bytes(name, len, bytes) != 0)
        memset(bytes, 0, sizeof bytes);
    fn_hex(bytes, 16, out);
}

static bool ocid_parse(const char *hex, unsigned char out[16])
{
    if (!hex || strlen(hex) != FN_OCID_LEN)
        return false;
    for (int i = 0; i < 16; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

bool fn_is_gen_name(const char *name, size_t len)
{
    if (len < 4 || len > 12 || memcmp(name, "gen", 3) != 0)
        return false;
    for (size_t i = 3; i < len; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

/* Class and gender of a name that carries neither (generated names, unreadable payloads). */
static void derived_class_gender(const char *name, size_t len, const char **cls, const char **gender)
{
    fn_rng_t rng;
    fn_rng_seed(&rng, fn_seed_of("class:", name, len));
    *cls = CLASSES[fn_rng_below(&rng, CLASS_COUNT)].name;
    *gender = fn_rng_below(&rng, 3) == 0 ? "여" : "남";
}

static record_t *add_record(fn_registry_t *reg, const char *name, fn_kind_t kind)
{
    if (reg->count == reg->alloc) {
        size_t n = reg->alloc ? reg->alloc * 2 : 64;
        record_t *r = realloc(reg->records, n * sizeof *r);
        if (!r)
            return NULL;
        reg->records = r;
        reg->alloc = n;
    }
    unsigned char key[16];
    if (ocid_bytes(name, strlen(name), key) != 0)
        return NULL;
    record_t *rec = &reg->records[reg->count];
    memset(rec, 0, sizeof *rec);
    rec->name = strdup(name);
    if (!rec->name || omap_put(&reg->permanent, key, reg->count + 1) != 0) {
        free(rec->name);
        return NULL;
    }
    rec->kind = kind;
    reg->count++;
    return rec;
}

static void fill_char(const record_t *rec, fn_char_t *out)
{
    snprintf(out->name, sizeof out->name, "%s", rec->name);
    fn_ocid_of(rec->name, strlen(rec->name), out->ocid);
    out->kind = rec->kind;
    out->cls = rec->cls;
    out->gender = rec->gender;
    out->payload_path = rec->path;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool valid_utf8_name(const char *s, size_t len)
{
    if (len == 0 || len > FN_NAME_MAX)
        return false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > len || (n == 1 && c < 0x20))
            return false;
        for (size_t k = 1; k < n; k++)
            if (((unsigned char)s[i + k] >> 6) != 2)
                return false;
        i += n;
    }
    return true;
}

/* Class and gender of a payload file: its own top-level fields when it is valid JSON. */
static int payload_class(record_t *rec, char *err, size_t errlen)
{
    size_t len = 0;
    char *data = fn_read_file(rec->path, FN_PAYLOAD_MAX_BYTES, &len, err, errlen);
    if (!data)
        return -1;
    derived_class_gender(rec->name, strlen(rec->name), &rec->cls, &rec->gender);
    cJSON *doc = cJSON_ParseWithLength(data, len);
    free(data);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(doc, "character_class");
    const cJSON *gender = cJSON_GetObjectItemCaseSensitive(doc, "character_gender");
    int rc = 0;
    if (cJSON_IsString(cls) && cls->valuestring[0]) {
        const fn_class_t *known = fn_class_find(cls->valuestring);
        if (known) {
            rec->cls = known->name;
        } else if ((rec->cls_owned = strdup(cls->valuestring)) != NULL) {
            rec->cls = rec->cls_owned;
        } else {
            rc = -1;
            snprintf(err, errlen, "out of memory");
        }
    }
    if (cJSON_IsString(gender))
        rec->gender = strcmp(gender->valuestring, "여") == 0 ? "여" : "남";
    cJSON_Delete(doc);
    return rc;
}

static int load_payload_dir(fn_registry_t *reg, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "--payload-dir %s: cannot open", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0 || !valid_utf8_name(e->d_name, len - 5))
            continue;
        if (n == FN_MAX_PAYLOADS) {
            snprintf(err, errlen, "--payload-dir %s: more than %d payload files", dir, FN_MAX_PAYLOADS);
            rc = -1;
            break;
        }
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown || !(grown[n] = strndup(e->d_name, len - 5))) {
            names = grown ? grown : names;
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);
    if (rc == 0 && n > 0) {
        qsort(names, n, sizeof *names, cmp_str);
        reg->payload_index = calloc(n, sizeof *reg->payload_index);
        if (!reg->payload_index) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        record_t *rec = add_record(reg, names[i], FN_KIND_PAYLOAD);
        if (!rec) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        reg->payload_index[reg->payload_count++] = reg->count - 1;
        size_t plen = strlen(dir) + strlen(names[i]) + 7;
        if (!(rec->path = malloc(plen))) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        snprintf(rec->path, plen, "%s/%s.json", dir, names[i]);
        rc = payload_class(rec, err, errlen);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int add_demo(fn_registry_t *reg, int demo_count, char *err, size_t errlen)
{
    reg->demo_index = calloc(demo_count > 0 ? (size_t)demo_count : 1, sizeof *reg->demo_index);
    if (!reg->demo_index) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < demo_count; i++) {
        char name[64];
        const char *cls = NULL, *gender = NULL;
        if ((size_t)i < DEMO_FIXED) {
            snprintf(name, sizeof name, "%s", DEMO[i].name);
            cls = DEMO[i].cls;
        } else {
            snprintf(name, sizeof name, "데모캐릭터%d", i + 1);
        }
        const char *derived_cls;
        derived_class_gender(name, strlen(name), &derived_cls, &gender);
        unsigned char key[16];
        if (ocid_bytes(name, strlen(name), key) != 0) {
            snprintf(err, errlen, "libcrypto failed");
            return -1;
        }
        uint64_t existing = omap_get(&reg->permanent, key);
        if (existing != 0) { /* a payload file of that name wins; it still counts as a demo name */
            reg->demo_index[reg->demo_count++] = existing - 1;
            continue;
        }
        record_t *rec = add_record(reg, name, FN_KIND_DEMO);
        if (!rec) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rec->cls = cls ? cls : derived_cls;
        rec->gender = gender;
        reg->demo_index[reg->demo_count++] = reg->count - 1;
    }
    return 0;
}

fn_registry_t *fn_registry_new(int demo_count, const char *payload_dir, char *err, size_t errlen)
{
    if (demo_count < 0 || demo_count > FN_MAX_DEMO) {
        snprintf(err, errlen, "--demo-count must be 0..%d", FN_MAX_DEMO);
        return NULL;
    }
    fn_registry_t *reg = calloc(1, sizeof *reg);
    if (!reg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((payload_dir && load_payload_dir(reg, payload_dir, err, errlen) != 0) ||
        add_demo(reg, demo_count, err, errlen) != 0) {
        fn_registry_free(reg);
        return NULL;
    }
    return reg;
}

void fn_registry_free(fn_registry_t *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->count; i++) {
        free(reg->records[i].name);
        free(reg->records[i].path);
        free(reg->records[i].cls_owned);
    }
    free(reg->records);
    free(reg->demo_index);
    free(reg->payload_index);
    omap_free(&reg->permanent);
    omap_free(&reg->recent[0]);
    omap_free(&reg->recent[1]);
    free(reg);
}

static void fill_gen(const char *name, size_t len, fn_char_t *out)
{
    memcpy(out->name, name, len);
    out->name[len] = '\0';
    fn_ocid_of(name, len, out->ocid);
    out->kind = FN_KIND_GEN;
    derived_class_gender(name, len, &out->cls, &out->gender);
    out->payload_path = NULL;
}

bool fn_registry_by_name(const fn_registry_t *reg, const char *name, size_t len, fn_char_t *out)
{
    if (len == 0 || len > FN_NAME_MAX || memchr(name, '\0', len))
        return false;
    unsigned char key[16];
    if (ocid_bytes(name, len, key) != 0)
        return false;
    uint64_t v = omap_get(&reg->permanent, key);
    if (v != 0) {
        const record_t *rec = &reg->records[v - 1];
        if (strlen(rec->name) == len && memcmp(rec->name, name, len) == 0) {
            fill_char(rec, out);
            return true;
        }
    }
    if (!fn_is_gen_name(name, len))
        return false;
    fill_gen(name, len, out);
    return true;
}

bool fn_registry_by_ocid(const fn_registry_t *reg, const char *ocid, fn_char_t *out)
{
    unsigned char key[16];
    if (!ocid_parse(ocid, key))
        return false;
    uint64_t v = omap_get(&reg->permanent, key);
    if (v != 0) {
        fill_char(&reg->records[v - 1], out);
        return true;
    }
    for (int g = 0; g < 2; g++) {
        v = omap_get(&reg->recent[g], key);
        if (v == 0)
            continue;
        char name[16];
        int digits = (int)(v >> 32);
        snprintf(name, sizeof name, "gen%0*" PRIu32, digits, (uint32_t)v);
        fill_gen(name, strlen(name), out);
        return true;
    }
    return false;
}

int fn_registry_remember(fn_registry_t *reg, const fn_char_t *c)
{
    if (c->kind != FN_KIND_GEN)
        return 0; /* demo and payload characters are permanent */
    unsigned char key[16];
    size_t len = strlen(c->name);
    if (!fn_is_gen_name(c->name, len) || !ocid_parse(c->ocid, key))
        return -1;
    if (omap_get(&reg->permanent, key) || omap_get(&reg->recent[0], key))
        return 0;
    if (reg->recent[0].count >= FN_GEN_GENERATION) {
        omap_free(&reg->recent[1]);
        reg->recent[1] = reg->recent[0];
        memset(&reg->recent[0], 0, sizeof reg->recent[0]);
    }
    uint64_t digits = len - 3;
    uint64_t number = strtoull(c->name + 3, NULL, 10);
    return omap_put(&reg->recent[0], key, (digits << 32) | number);
}

int fn_registry_pin(fn_registry_t *reg, const fn_char_t *c)
{
    if (c->kind != FN_KIND_GEN)
        return 0;
    unsigned char key[16];
    if (!ocid_parse(c->ocid, key))
        return -1;
    if (omap_get(&reg->permanent, key))
        return 0;
    if (reg->pinned >= FN_MAX_PINNED)
        return -1;
    record_t *rec = add_record(reg, c->name, FN_KIND_GEN);
    if (!rec)
        return -1;
    rec->cls = c->cls;
    rec->gender = c->gender;
    reg->pinned++;
    return 0;
}

size_t fn_registry_demo_count(const fn_registry_t *reg) { return reg->demo_count; }

const char *fn_registry_demo_name(const fn_registry_t *reg, size_t i)
{
    return i < reg->demo_count ? reg->records[reg->demo_index[i]].name : NULL;
}

size_t fn_registry_payload_count(const fn_registry_t *reg) { return reg->payload_count; }

const char *fn_registry_payload_name(const fn_registry_t *reg, size_t i)
{
    return i < reg->payload_count ? reg->records[reg->payload_index[i]].name : NULL;
}

/* ---- profile ------------------------------------------------------------------------- */

static const char *const WORLDS[] = {"스카니아", "베라", "루나", "제니스", "크로아", "유니온", "엘리시움",
                                     "이노시스", "레드", "오로라", "아케인", "노바", "에오스", "핼리오스"};
static const char *const GUILDS[] = {"단풍잎", "별빛수호대", "은하수", "새벽녘", "노을", "하늘정원",
                                     "초코우유", "무지개다리", "라온", "메이플러버", "달빛서약", "여명"};

void fn_char_profile(const fn_char_t *c, fn_profile_t *out)
{
    size_t len = strlen(c->name);
    fn_rng_t rng;
    fn_rng_seed(&rng, fn_seed_of("profile:", c->name, len));
    out->world = WORLDS[fn_rng_below(&rng, sizeof WORLDS / sizeof WORLDS[0])];
    out->level = 200 + (int)fn_rng_below(&rng, 91);
    out->exp = (int64_t)(fn_rng_next(&rng) % 900000000000000ull);
    uint32_t rate = fn_rng_below(&rng, 100000); /* thousandths of a percent */
    snprintf(out->exp_rate, sizeof out->exp_rate, "%u.%03u", rate / 1000, rate % 1000);
    out->guild = fn_rng_below(&rng, 4) == 0 ? NULL : GUILDS[fn_rng_below(&rng, sizeof GUILDS / sizeof GUILDS[0])];
    unsigned char look[32];
    char hex[65];
    char *joined = malloc(len + 6);
    if (joined) {
        memcpy(joined, "look:", 5);
        memcpy(joined + 5, c->name, len);
        fn_sha256(joined, len + 5, look);
        free(joined);
    } else {
        memset(look, 0, sizeof look);
    }
    fn_hex(look, sizeof look, hex);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(out->image, sizeof out->image, "https://open.api.nexon.com/static/maplestory/character/look/%s", hex);
    int year = 2010 + (int)fn_rng_below(&rng, 15);
    int month = 1 + (int)fn_rng_below(&rng, 12);
    int day = 1 + (int)fn_rng_below(&rng, 28);
    snprintf(out->date_create, sizeof out->date_create, "%04d-%02d-%02dT00:00+09:00", year, month, day);
    out->liberated = out->level >= 260 || fn_rng_below(&rng, 2) == 0;
}
