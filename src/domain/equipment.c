/*
 * equipment.c - decoder of the Nexon `item-equipment` payload (valuation §1.2, 10.B).
 *
 * cJSON builds the tree; this file walks the three preset arrays and copies out exactly the
 * fields the engine reads, applying the spec's coercion rules:
 *   - integers: a JSON number is truncated toward zero; a string that is an optional sign
 *     followed by ASCII digits (after trimming) is that integer, any other string is 0;
 *     null/absent/boolean is 0 (B3);
 *   - texts: strings are borrowed from the tree, other scalars are rendered as their text (B3),
 *     null/absent stays absent (ptr NULL), so the blank rule can be applied later.
 * What the spec leaves open is decided strictly (docs/decisions.md): an object or array where a
 * scalar belongs, a preset that is not an array, an element that is neither an object nor null,
 * and integers outside ±EQUIP_MAX_ABS_VALUE (or levels outside 0..EQUIP_MAX_LEVEL) reject the
 * whole payload with the JSON path of the offending value. A silent 0 there would be a silent
 * wrong number.
 *
 * The document keeps the cJSON tree alive (texts point into it) plus an arena for rendered
 * scalars and the item arrays; equip_free() releases both.
 */
#include "domain/equipment.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"

#define EQUIP_ARENA_CAP (8u << 20) /* bytes of decoded items per document; real ones need ~100 KB */
#define PATH_LEN 160

typedef struct {
    cJSON *root;
    arena_t arena;
} equip_storage_t;

/* Decoding context: where we are (for messages) and where errors go. */
typedef struct {
    arena_t *arena;
    char *err;
    size_t errlen;
    char path[PATH_LEN];
    int failed;
} dec_t;

static void dec_fail(dec_t *d, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void dec_fail(dec_t *d, const char *field, const char *fmt, ...)
{
    if (d->failed)
        return;
    d->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(d->err, d->errlen, "%s%s%s: %s", d->path, field && *field ? "." : "", field ? field : "", msg);
}

static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    return "null";
}

cube_text_t equip_trim(cube_text_t s)
{
    if (!s.ptr)
        return s;
    while (s.len > 0 && (unsigned char)s.ptr[0] <= ' ') {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (unsigned char)s.ptr[s.len - 1] <= ' ')
        s.len--;
    return s;
}

/* Parse "[+-]digits" exactly; false for anything else (→ 0 by the spec) or on overflow. */
static int parse_signed_digits(cube_text_t s, int64_t *out, int *overflow)
{
    size_t i = 0;
    int neg = 0;
    *overflow = 0;
    if (s.len > 0 && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return 0;
    int64_t v = 0;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9')
            return 0;
        if (v > (INT64_MAX - (c - '0')) / 10)
            *overflow = 1;
        else
            v = v * 10 + (c - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* Integer coercion of §1.2 with the range guard. */
static int64_t dec_int(dec_t *d, const cJSON *obj, const char *field)
{
    const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, field) : NULL;
    int64_t out = 0;
    if (!v || cJSON_IsNull(v) || cJSON_IsBool(v))
        return 0;
    if (cJSON_IsNumber(v)) {
        double x = trunc(v->valuedouble);
        if (!(fabs(x) <= EQUIP_MAX_ABS_VALUE)) {
            dec_fail(d, field, "number out of range (|value| <= %d)", EQUIP_MAX_ABS_VALUE);
            return 0;
        }
        return (int64_t)x;
    }
    if (cJSON_IsString(v)) {
        cube_text_t s = equip_trim((cube_text_t){v->valuestring, strlen(v->valuestring)});
        int overflow = 0;
        if (!parse_signed_digits(s, &out, &overflow))
            return 0;
        if (overflow || out > EQUIP_MAX_ABS_VALUE || out < -EQUIP_MAX_ABS_VALUE) {
            dec_fail(d, field, "number out of range (|value| <= %d)", EQUIP_MAX_ABS_VALUE);
            return 0;
        }
        return out;
    }
    dec_fail(d, field, "expected a number or a string, got %s", json_kind(v));
    return 0;
}

/* Text coercion: strings borrowed, other scalars rendered (B3), null/absent → ptr NULL. */
static cube_text_t dec_text(dec_t *d, const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    cube_text_t t = {NULL, 0};
    if (!v || cJSON_IsNull(v))
        return t;
    if (cJSON_IsString(v)) {
        t.ptr = v->valuestring;
        t.len = strlen(v->valuestring);
        return t;
    }
    char tmp[48];
    if (cJSON_IsBool(v)) {
        snprintf(tmp, sizeof tmp, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == trunc(x) && fabs(x) < 1e15)
            snprintf(tmp, sizeof tmp, "%.0f", x);
        else
            snprintf(tmp, sizeof tmp, "%.17g", x);
    } else {
        dec_fail(d, field, "expected a string, got %s", json_kind(v));
        return t;
    }
    t.len = strlen(tmp);
    t.ptr = arena_strndup(d->arena, tmp, t.len);
    if (!t.ptr)
        dec_fail(d, field, "document too large");
    return t;
}

/* A nested option object (item_base_option / item_add_option): absent or null → none. */
static const cJSON *dec_object(dec_t *d, const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsObject(v)) {
        dec_fail(d, field, "expected an object, got %s", json_kind(v));
        return NULL;
    }
    return v;
}

/* Descend into a nested object for error messages ("$.preset[2]" → "$.preset[2].item_add_option"). */
static void path_push(dec_t *d, const char *field)
{
    size_t n = strlen(d->path);
    snprintf(d->path + n, sizeof d->path - n, ".%s", field);
}

static bool text_is_blank(cube_text_t t)
{
    if (!t.ptr)
        return true;
    cube_text_t s = equip_trim(t);
    return s.len == 0 || (s.len == 4 && strncasecmp(s.ptr, "null", 4) == 0);
}

/* Decode one element; returns false when its slot is blank (the element is skipped, §1.2). */
static bool dec_item(dec_t *d, const cJSON *it, equip_item_t *item)
{
    static const char *const line_fields[3] = {"potential_option_1", "potential_option_2", "potential_option_3"};
    static const char *const add_fields[3] = {"additional_potential_option_1", "additional_potential_option_2",
                                              "additional_potential_option_3"};
    item->slot = equip_trim(dec_text(d, it, "item_equipment_slot"));
    if (text_is_blank(item->slot))
        return false;
    item->part = dec_text(d, it, "item_equipment_part");
    item->name = dec_text(d, it, "item_name");
    item->icon = dec_text(d, it, "item_icon");
    item->grade = dec_text(d, it, "potential_option_grade");
    item->add_grade = dec_text(d, it, "additional_potential_option_grade");
    for (int k = 0; k < 3; k++) {
        item->lines[k] = dec_text(d, it, line_fields[k]);
        item->add_lines[k] = dec_text(d, it, add_fields[k]);
    }
    item->starforce = dec_int(d, it, "starforce");
    cube_text_t flag = equip_trim(dec_text(d, it, "starforce_scroll_flag"));
    item->noljang = flag.ptr && flag.len == strlen("사용") && memcmp(flag.ptr, "사용", flag.len) == 0;
    item->special_ring_level = dec_int(d, it, "special_ring_level");

    size_t path_len = strlen(d->path);
    const cJSON *base = dec_object(d, it, "item_base_option");
    path_push(d, "item_base_option");
    item->level = dec_int(d, base, "base_equipment_level");
    if (item->level < 0 || item->level > EQUIP_MAX_LEVEL)
        dec_fail(d, "base_equipment_level", "level %lld out of range 0..%d", (long long)item->level,
                 EQUIP_MAX_LEVEL);
    item->base_att = dec_int(d, base, "attack_power");
    item->base_mag = dec_int(d, base, "magic_power");
    d->path[path_len] = '\0';

    const cJSON *add = dec_object(d, it, "item_add_option");
    path_push(d, "item_add_option");
    flame_stats_t *f = &item->flame;
    f->str = dec_int(d, add, "str");
    f->dex = dec_int(d, add, "dex");
    f->int_ = dec_int(d, add, "int");
    f->luk = dec_int(d, add, "luk");
    f->max_hp = dec_int(d, add, "max_hp");
    f->all_stat = dec_int(d, add, "all_stat");
    f->attack_power = dec_int(d, add, "attack_power");
    f->magic_power = dec_int(d, add, "magic_power");
    f->damage = dec_int(d, add, "damage");
    f->boss_damage = dec_int(d, add, "boss_damage");
    d->path[path_len] = '\0';
    return true;
}

/* One preset array → preset (returns false when it produces no preset). */
static bool dec_preset(dec_t *d, const cJSON *root, int preset_no, equip_preset_t *out)
{
    char field[40];
    snprintf(field, sizeof field, "item_equipment_preset_%d", preset_no);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!arr || cJSON_IsNull(arr))
        return false;
    if (!cJSON_IsArray(arr)) {
        dec_fail(d, field, "expected an array, got %s", json_kind(arr));
        return false;
    }
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return false;
    if (n > EQUIP_MAX_ITEMS) {
        dec_fail(d, field, "%d items (at most %d)", n, EQUIP_MAX_ITEMS);
        return false;
    }
    out->preset_no = preset_no;
    out->count = 0;
    out->items = arena_alloc(d->arena, (size_t)n * sizeof *out->items);
    if (!out->items) {
        dec_fail(d, field, "document too large");
        return false;
    }
    int idx = 0;
    for (const cJSON *it = arr->child; it && !d->failed; it = it->next, idx++) {
        if (cJSON_IsNull(it))
            continue; /* no slot at all: skipped like a blank slot */
        snprintf(d->path, sizeof d->path, "$.%s[%d]", field, idx);
        if (!cJSON_IsObject(it)) {
            dec_fail(d, NULL, "expected an object, got %s", json_kind(it));
            break;
        }
        equip_item_t item;
        memset(&item, 0, sizeof item);
        if (dec_item(d, it, &item) && !d->failed)
            out->items[out->count++] = item;
    }
    snprintf(d->path, sizeof d->path, "$");
    return !d->failed;
}

void equip_free(equip_doc_t *doc)
{
    if (!doc)
        return;
    equip_storage_t *st = doc->_internal;
    if (st) {
        cJSON_Delete(st->root);
        arena_dispose(&st->arena);
        free(st);
    }
    free(doc);
}

/* Byte offset of the first non-whitespace byte at or after p (for the trailing-data check). */
static size_t skip_ws(const char *json, size_t len, size_t off)
{
    while (off < len && (json[off] == ' ' || json[off] == '\t' || json[off] == '\n' || json[off] == '\r'))
        off++;
    return off;
}

int equip_parse(const char *json, size_t len, equip_doc_t **out, char *err, size_t errlen)
{
    int rc = -1;
    equip_doc_t *doc = calloc(1, sizeof *doc);
    equip_storage_t *st = calloc(1, sizeof *st);
    if (!doc || !st) {
        snprintf(err, errlen, "out of memory");
        free(st);
        free(doc);
        return -1;
    }
    doc->_internal = st;
    arena_init(&st->arena, EQUIP_ARENA_CAP);

    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!st->root) {
        size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        snprintf(err, errlen, "invalid JSON at byte %zu", off);
        goto out;
    }
    size_t tail = skip_ws(json, len, (size_t)(end - json));
    if (tail < len && !(json[tail] == '\0' && tail + 1 == len)) {
        snprintf(err, errlen, "invalid JSON at byte %zu: unexpected data after the document", tail);
        goto out;
    }
    if (!cJSON_IsObject(st->root)) {
        snprintf(err, errlen, "$: expected an object, got %s", json_kind(st->root));
        goto out;
    }

    dec_t d = {.arena = &st->arena, .err = err, .errlen = errlen, .path = "$", .failed = 0};
    doc->character_class = equip_trim(dec_text(&d, st->root, "character_class"));
    for (int p = 1; p <= EQUIP_PRESETS && !d.failed; p++) {
        if (dec_preset(&d, st->root, p, &doc->presets[doc->preset_count]))
            doc->preset_count++;
    }
    if (d.failed)
        goto out;
    rc = 0;
out:
    if (rc == 0) {
        *out = doc;
    } else {
        equip_free(doc);
    }
    return rc;
}

/* Does `hay` contain the NUL-terminated `needle`? */
static bool text_contains(cube_text_t hay, const char *needle)
{
    size_t n = strlen(needle);
    return hay.ptr && hay.len >= n && memmem(hay.ptr, hay.len, needle, n) != NULL;
}

static cube_text_t lit(const char *s) { return (cube_text_t){s, strlen(s)}; }

cube_text_t equip_table_part(const equip_item_t *item)
{
    if (text_contains(item->part, "한벌옷"))
        return lit("한벌옷");
    if (item->slot.len == strlen("보조무기") && memcmp(item->slot.ptr, "보조무기", item->slot.len) == 0) {
        if (text_contains(item->part, "포스실드"))
            return lit("포스실드");
        if (text_contains(item->part, "소울링"))
            return lit("소울링");
        if (text_contains(item->part, "방패"))
            return lit("방패");
        return lit("보조무기");
    }
    return item->slot;
}
