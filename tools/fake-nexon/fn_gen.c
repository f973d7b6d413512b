/*
 * fn_gen.c - generated item-equipment payloads (see fn_gen.h for the rules).
 *
 * The template is parsed once; its distinct items are grouped by slot ("candidates"). For one
 * character every candidate is duplicated and re-rolled, the presets are built from references
 * to those copies (cJSON references: an item shared by presets is printed from one copy), and
 * the untouched parts of the template (title, medal, dragon equipment) are referenced rather
 * than copied. The PRNG is consumed in a fixed order, so a name always yields the same bytes.
 */
#include "fn_gen.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/equipment.h"
#include "domain/ptable.h"
#include "domain/stat.h"
#include "fn_chars.h"
#include "fn_util.h"

#define MAX_SLOTS 48          /* distinct slots in a payload (real ones have about 25) */
#define MAX_CANDIDATES 8      /* distinct items per slot kept from the template */
#define PRESET_MIN_ITEMS 20   /* keeps the payload above 200 KB */
#define SLOT_KEEP_CHANCE 0.9  /* a preset fills a slot with this probability */
#define GOOD_LINE_CHANCE 0.7  /* a line is drawn among the class's useful lines */
#define NOLJANG_PERCENT 8     /* of the starforce-able items of level <= 150 */
#define TABLE_MAX_BYTES (64u << 20)

typedef struct {
    const char *slot; /* item_equipment_slot of the template (owned by the template) */
    const cJSON *candidates[MAX_CANDIDATES];
    int count;
} slot_t;

struct fn_gen {
    cJSON *tmpl;
    ptable_t *tables;
    const fn_class_t *tmpl_class; /* NULL: unknown class, the stat blocks are left as they are */
    slot_t slots[MAX_SLOTS];
    int slot_count;
};

static const char *const PRESET_KEYS[3] = {"item_equipment_preset_1", "item_equipment_preset_2",
                                           "item_equipment_preset_3"};
static const char *const STAT_KEYS[4] = {"str", "dex", "int", "luk"};
static const char *const STAT_BLOCKS[] = {"item_total_option", "item_base_option", "item_add_option",
                                          "item_etc_option", "item_starforce_option", "item_exceptional_option"};

static cJSON *member(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

/* The value coercion of valuation §1.2, enough for the template's own fields. */
static long int_of(const cJSON *v)
{
    if (cJSON_IsNumber(v)) /* bounded first: casting a huge double is undefined */
        return v->valuedouble > -1e9 && v->valuedouble < 1e9 ? (long)v->valuedouble : 0;
    if (cJSON_IsString(v))
        return strtol(v->valuestring, NULL, 10);
    return 0;
}

/* ---- set-up ----------------------------------------------------------------------------- */

static int load_tables(fn_gen_t *g, const char *dir, char *err, size_t errlen)
{
    static const char *const files[] = {"cube_probability.csv", "additional_potential_probability.csv"};
    g->tables = ptable_new();
    if (!g->tables) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        size_t len = 0;
        char *data = fn_read_file(path, TABLE_MAX_BYTES, &len, err, errlen);
        if (!data)
            return -1;
        int rc = ptable_add_csv(g->tables, data, len, path, err, errlen);
        free(data);
        if (rc != 0)
            return -1;
    }
    ptable_finish(g->tables);
    return 0;
}

static slot_t *slot_of(fn_gen_t *g, const char *slot)
{
    for (int i = 0; i < g->slot_count; i++)
        if (strcmp(g->slots[i].slot, slot) == 0)
            return &g->slots[i];
    if (g->slot_count == MAX_SLOTS)
        return NULL;
    slot_t *s = &g->slots[g->slot_count++];
    s->slot = slot;
    s->count = 0;
    return s;
}

/* Distinct template items per slot, slots in order of first appearance. */
static int collect_candidates(fn_gen_t *g, char *err, size_t errlen)
{
    static const char *const arrays[] = {"item_equipment", "item_equipment_preset_1", "item_equipment_preset_2",
                                         "item_equipment_preset_3"};
    for (size_t a = 0; a < sizeof arrays / sizeof arrays[0]; a++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, member(g->tmpl, arrays[a]))
        {
            const cJSON *slot = member(item, "item_equipment_slot");
            const cJSON *name = member(item, "item_name");
            if (!cJSON_IsObject(item) || !cJSON_IsString(slot) || stat_text_is_blank(slot->valuestring, strlen(slot->valuestring)))
                continue;
            slot_t *s = slot_of(g, slot->valuestring);
            if (!s)
                break;
            bool seen = false;
            for (int i = 0; i < s->count && !seen; i++) {
                const cJSON *other = member(s->candidates[i], "item_name");
                seen = cJSON_IsString(name) && cJSON_IsString(other) && strcmp(name->valuestring, other->valuestring) == 0;
            }
            if (!seen && s->count < MAX_CANDIDATES)
                s->candidates[s->count++] = item;
        }
    }
    if (g->slot_count == 0) {
        snprintf(err, errlen, "template: no item with a slot in item_equipment or the presets");
        return -1;
    }
    return 0;
}

fn_gen_t *fn_gen_new(const char *template_path, const char *tables_dir, char *err, size_t errlen)
{
    fn_gen_t *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t len = 0;
    char *data = fn_read_file(template_path, FN_TEMPLATE_MAX_BYTES, &len, err, errlen);
    if (!data)
        goto fail;
    g->tmpl = cJSON_ParseWithLength(data, len);
    free(data);
    if (!cJSON_IsObject(g->tmpl)) {
        snprintf(err, errlen, "template %s: not a JSON object", template_path);
        goto fail;
    }
    for (int p = 0; p < 3; p++) {
        if (!cJSON_IsArray(member(g->tmpl, PRESET_KEYS[p]))) {
            snprintf(err, errlen, "template %s: %s is not an array", template_path, PRESET_KEYS[p]);
            goto fail;
        }
    }
    const cJSON *cls = member(g->tmpl, "character_class");
    g->tmpl_class = cJSON_IsString(cls) ? fn_class_find(cls->valuestring) : NULL;
    if (collect_candidates(g, err, errlen) != 0 || load_tables(g, tables_dir, err, errlen) != 0)
        goto fail;
    return g;
fail:
    fn_gen_free(g);
    return NULL;
}

void fn_gen_free(fn_gen_t *g)
{
    if (!g)
        return;
    cJSON_Delete(g->tmpl);
    ptable_free(g->tables);
    free(g);
}

/* ---- per item ------------------------------------------------------------------------- */

static int set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON *v = cJSON_CreateString(value);
    if (!v)
        return -1;
    if (member(obj, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v) ? 0 : (cJSON_Delete(v), -1);
    return cJSON_AddItemToObject(obj, key, v) ? 0 : (cJSON_Delete(v), -1);
}

/* Valuation §4.1: the maximum star of an item of level L. */
static int max_star(long level)
{
    return level <= 94 ? 5 : level <= 107 ? 8 : level <= 117 ? 10 : level <= 127 ? 15 : level <= 137 ? 20 : 30;
}

/* Items the template shows with stars get new stars; the others cannot take any (rings of
 * bosses, emblems, badges) and stay at 0. */
static int vary_starforce(cJSON *it, long level, fn_rng_t *rng)
{
    static const int usual[] = {10, 12, 15, 15, 17, 17, 18, 18, 20, 20, 21, 21, 22, 22, 22, 22, 23, 23, 24, 25};
    if (int_of(member(it, "starforce")) <= 0)
        return 0;
    int top = max_star(level);
    int stars;
    const char *flag = "미사용";
    if (level <= 150 && fn_rng_below(rng, 100) < NOLJANG_PERCENT) {
        flag = "사용"; /* starforce scrolls stop at 15 */
        stars = 8 + (int)fn_rng_below(rng, 8);
    } else {
        uint32_t roll = fn_rng_below(rng, 100);
        if (roll < 6)
            stars = (int)fn_rng_below(rng, (uint32_t)top + 1);
        else if (roll < 8 && top > 25)
            stars = 26 + (int)fn_rng_below(rng, (uint32_t)top - 25);
        else
            stars = usual[fn_rng_below(rng, sizeof usual / sizeof usual[0])];
    }
    if (stars > top)
        stars = top;
    char text[16];
    snprintf(text, sizeof text, "%d", stars);
    return set_string(it, "starforce", text) == 0 && set_string(it, "starforce_scroll_flag", flag) == 0 ? 0 : -1;
}

/* Types of the lines a player of the class keeps (everything else is "junk"). */
static uint32_t useful_types(const fn_class_t *cls)
{
    fn_stat_t main = cls ? cls->main : FN_STAT_STR;
    bool magic = cls && cls->magic;
    return 1u << (STAT_STR + (int)main) | 1u << (STAT_STR_PERCENT + (int)main) | 1u << (STAT_LEVEL_STR + (int)main) |
           1u << STAT_ALL_STAT | 1u << STAT_ALLSTAT_PERCENT |
           1u << (magic ? STAT_MAGIC_POWER : STAT_ATTACK_POWER) |
           1u << (magic ? STAT_MAGIC_POWER_PERCENT : STAT_ATTACK_POWER_PERCENT) |
           1u << STAT_BOSS_DAMAGE | 1u << STAT_IGNORE_DEFENSE | 1u << STAT_DAMAGE | 1u << STAT_CRITICAL_DAMAGE |
           1u << STAT_COOLDOWN_REDUCTION;
}

/* One option of a group, weighted by rate; when `useful` is non-zero, among the useful lines
 * only (falling back to every line when the group has none). */
static const char *pick_option(const fn_gen_t *g, const ptable_group_t *grp, uint32_t useful, fn_rng_t *rng)
{
    double total = 0;
    for (int pass = 0; pass < 2; pass++) {
        total = 0;
        for (size_t i = 0; i < grp->count; i++) {
            uint32_t types = ptable_option_stat(g->tables, grp->rows[i].option)->types;
            if (!useful || ((types & useful) && !(types & ~useful)))
                total += grp->rows[i].rate;
        }
        if (total > 0)
            break;
        useful = 0;
    }
    double at = fn_rng_unit(rng) * total;
    const ptable_row_t *chosen = &grp->rows[grp->count - 1];
    for (size_t i = 0; i < grp->count; i++) {
        uint32_t types = ptable_option_stat(g->tables, grp->rows[i].option)->types;
        if (useful && (!(types & useful) || (types & ~useful)))
            continue;
        chosen = &grp->rows[i];
        if (at < grp->rows[i].rate)
            break;
        at -= grp->rows[i].rate;
    }
    return ptable_option_text(g->tables, chosen->option);
}

static bool pick_lines(const fn_gen_t *g, cube_type_t type, int part, grade_t grade, long level,
                       const fn_class_t *cls, fn_rng_t *rng, const char *out[3])
{
    int key;
    if (part < 0 || ptable_select_level(g->tables, type, part, grade, (int)level, &key) != 0)
        return false;
    for (int line = 1; line <= 3; line++) {
        const ptable_group_t *grp = ptable_group(g->tables, type, key, part, grade, line);
        if (!grp) /* some groups only have line 1 in the table */
            grp = ptable_group(g->tables, type, key, part, grade, 1);
        if (!grp || grp->count == 0)
            return false;
        uint32_t useful = fn_rng_unit(rng) < GOOD_LINE_CHANCE ? useful_types(cls) : 0;
        out[line - 1] = pick_option(g, grp, useful, rng);
    }
    return true;
}

static int table_part(const cJSON *it)
{
    const cJSON *slot = member(it, "item_equipment_slot"), *part = member(it, "item_equipment_part");
    equip_item_t item = {0};
    if (!cJSON_IsString(slot))
        return -1;
    item.slot = (cube_text_t){slot->valuestring, strlen(slot->valuestring)};
    if (cJSON_IsString(part))
        item.part = (cube_text_t){part->valuestring, strlen(part->valuestring)};
    cube_text_t name = equip_table_part(&item);
    return ptable_part_index(name.ptr, name.len);
}

/* New grade and lines for a potential the template item has; kept as is when the table has no
 * group for the item. */
static int vary_potential(const fn_gen_t *g, cJSON *it, cube_type_t type, long level, const fn_class_t *cls,
                          fn_rng_t *rng)
{
    static const int main_weights[GRADE__COUNT] = {5, 15, 30, 50}; /* 레어, 에픽, 유니크, 레전드리 */
    static const int add_weights[GRADE__COUNT] = {25, 30, 25, 20};
    const char *grade_key = type == CUBE_BLACK ? "potential_option_grade" : "additional_potential_option_grade";
    const char *line_fmt = type == CUBE_BLACK ? "potential_option_%d" : "additional_potential_option_%d";
    const cJSON *old = member(it, grade_key);
    if (!cJSON_IsString(old) || stat_text_is_blank(old->valuestring, strlen(old->valuestring)))
        return 0;
    const int *weights = type == CUBE_BLACK ? main_weights : add_weights;
    uint32_t roll = fn_rng_below(rng, 100);
    grade_t grade = GRADE_RARE;
    for (int acc = 0; grade < GRADE_LEGENDARY && roll >= (uint32_t)(acc += weights[grade]);)
        grade++;
    const char *lines[3];
    if (!pick_lines(g, type, table_part(it), grade, level, cls, rng, lines))
        return 0;
    if (set_string(it, grade_key, grade_name(grade)) != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, line_fmt, i + 1);
        if (set_string(it, key, lines[i]) != 0)
            return -1;
    }
    return 0;
}

/* Move the values of `from` keys to `to` keys inside one stat block (a permutation). */
static int permute_block(cJSON *block, const char *const *keys, const int *to, int n)
{
    cJSON *values[4];
    for (int i = 0; i < n; i++)
        if (!member(block, keys[i]))
            return 0; /* a block without all the keys is left alone */
    for (int i = 0; i < n; i++) {
        values[i] = cJSON_Duplicate(member(block, keys[i]), true);
        if (!values[i]) {
            while (i-- > 0)
                cJSON_Delete(values[i]);
            return -1;
        }
    }
    for (int i = 0; i < n; i++)
        if (!cJSON_ReplaceItemInObjectCaseSensitive(block, keys[to[i]], values[i]))
            cJSON_Delete(values[i]);
    return 0;
}

/* Re-label the stat blocks from the template's class to the character's. */
static int relabel_stats(const fn_gen_t *g, cJSON *it, const fn_class_t *cls)
{
    if (!g->tmpl_class || !cls || g->tmpl_class == cls)
        return 0;
    int to[4];
    bool used[4] = {false};
    to[g->tmpl_class->main] = (int)cls->main;
    to[g->tmpl_class->sub] = (int)cls->sub;
    used[cls->main] = used[cls->sub] = true;
    for (int from = 0, next = 0; from < 4; from++) {
        if (from == (int)g->tmpl_class->main || from == (int)g->tmpl_class->sub)
            continue;
        while (used[next])
            next++;
        to[from] = next;
        used[next] = true;
    }
    static const char *const atk_keys[2] = {"attack_power", "magic_power"};
    static const int swap[2] = {1, 0};
    for (size_t b = 0; b < sizeof STAT_BLOCKS / sizeof STAT_BLOCKS[0]; b++) {
        cJSON *block = member(it, STAT_BLOCKS[b]);
        if (!cJSON_IsObject(block))
            continue;
        if (permute_block(block, STAT_KEYS, to, 4) != 0)
            return -1;
        if (g->tmpl_class->magic != cls->magic && permute_block(block, atk_keys, swap, 2) != 0)
            return -1;
    }
    return 0;
}

static cJSON *vary_item(const fn_gen_t *g, const cJSON *tmpl, const fn_class_t *cls, fn_rng_t *rng)
{
    cJSON *it = cJSON_Duplicate(tmpl, true);
    if (!it)
        return NULL;
    long level = int_of(member(member(it, "item_base_option"), "base_equipment_level"));
    if (vary_starforce(it, level, rng) != 0 || vary_potential(g, it, CUBE_BLACK, level, cls, rng) != 0 ||
        vary_potential(g, it, CUBE_ADDITIONAL, level, cls, rng) != 0 || relabel_stats(g, it, cls) != 0) {
        cJSON_Delete(it);
        return NULL;
    }
    return it;
}

/* ---- per character ------------------------------------------------------------------- */

typedef struct {
    cJSON *items[MAX_SLOTS][MAX_CANDIDATES]; /* re-rolled copies of the candidates */
    cJSON *presets[3];
    cJSON *root;
} build_t;

static void build_dispose(build_t *b)
{
    cJSON_Delete(b->root);
    for (int p = 0; p < 3; p++)
        cJSON_Delete(b->presets[p]);
    for (int s = 0; s < MAX_SLOTS; s++)
        for (int c = 0; c < MAX_CANDIDATES; c++)
            cJSON_Delete(b->items[s][c]);
}

/* A node printing like `item` without owning its members (cJSON's reference constructors take
 * the first member, not the container). */
static cJSON *reference_to(const cJSON *item)
{
    if (cJSON_IsObject(item))
        return cJSON_CreateObjectReference(item->child);
    if (cJSON_IsArray(item))
        return cJSON_CreateArrayReference(item->child);
    return cJSON_Duplicate(item, true);
}

/* Nobody fights without a weapon: these slots are in every preset. */
static bool always_worn(const char *slot)
{
    return strcmp(slot, "무기") == 0 || strcmp(slot, "보조무기") == 0 || strcmp(slot, "엠블렘") == 0;
}

static int build_presets(const fn_gen_t *g, build_t *b, fn_rng_t *rng)
{
    for (int p = 0; p < 3; p++) {
        bool in[MAX_SLOTS];
        int pick[MAX_SLOTS], count = 0;
        for (int s = 0; s < g->slot_count; s++) {
            in[s] = fn_rng_unit(rng) < SLOT_KEEP_CHANCE || always_worn(g->slots[s].slot);
            pick[s] = (int)fn_rng_below(rng, (uint32_t)g->slots[s].count);
            count += in[s];
        }
        int minimum = g->slot_count < PRESET_MIN_ITEMS ? g->slot_count : PRESET_MIN_ITEMS;
        for (int s = 0; s < g->slot_count && count < minimum; s++)
            if (!in[s]) {
                in[s] = true;
                count++;
            }
        if (!(b->presets[p] = cJSON_CreateArray()))
            return -1;
        for (int s = 0; s < g->slot_count; s++) {
            if (!in[s])
                continue;
            cJSON *ref = reference_to(b->items[s][pick[s]]);
            if (!ref || !cJSON_AddItemToArray(b->presets[p], ref)) {
                cJSON_Delete(ref);
                return -1;
            }
        }
    }
    return 0;
}

/* The top level, in the template's key order. */
static int build_root(const fn_gen_t *g, build_t *b, const char *cls, const char *gender, int preset_no)
{
    if (!(b->root = cJSON_CreateObject()))
        return -1;
    const cJSON *field;
    cJSON_ArrayForEach(field, g->tmpl)
    {
        const char *key = field->string;
        cJSON *value = NULL;
        int preset = -1;
        for (int p = 0; p < 3; p++)
            if (strcmp(key, PRESET_KEYS[p]) == 0)
                preset = p;
        if (preset >= 0) {
            value = b->presets[preset];
            b->presets[preset] = NULL; /* the root owns it now */
        } else if (strcmp(key, "character_class") == 0) {
            value = cJSON_CreateString(cls);
        } else if (strcmp(key, "character_gender") == 0) {
            value = cJSON_CreateString(gender);
        } else if (strcmp(key, "preset_no") == 0) {
            value = cJSON_CreateNumber(preset_no);
        } else if (strcmp(key, "item_equipment") == 0) {
            value = cJSON_CreateArray();
            const cJSON *worn = b->presets[preset_no - 1] ? b->presets[preset_no - 1]
                                                          : member(b->root, PRESET_KEYS[preset_no - 1]);
            const cJSON *ref;
            cJSON_ArrayForEach(ref, worn)
            {
                cJSON *copy = value ? reference_to(ref) : NULL; /* a reference to the same item */
                if (!copy || !cJSON_AddItemToArray(value, copy)) {
                    cJSON_Delete(copy);
                    cJSON_Delete(value);
                    return -1;
                }
            }
        } else if (strcmp(key, "dragon_equipment") == 0 && strcmp(cls, "에반") != 0) {
            value = cJSON_CreateArray(); /* only 에반 has a dragon */
        } else {
            value = reference_to(field);
        }
        if (!value || !cJSON_AddItemToObject(b->root, key, value)) {
            if (preset < 0)
                cJSON_Delete(value);
            return -1;
        }
    }
    return 0;
}

int fn_gen_equipment(const fn_gen_t *g, const char *name, const char *cls, const char *gender, buf_t *out)
{
    fn_rng_t rng;
    fn_rng_seed(&rng, fn_seed_of("equip:", name, strlen(name)));
    const fn_class_t *klass = fn_class_find(cls);
    build_t *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    int rc = -1;
    for (int s = 0; s < g->slot_count; s++)
        for (int c = 0; c < g->slots[s].count; c++)
            if (!(b->items[s][c] = vary_item(g, g->slots[s].candidates[c], klass, &rng)))
                goto done;
    if (build_presets(g, b, &rng) != 0)
        goto done;
    int preset_no = 1 + (int)fn_rng_below(&rng, 3);
    if (build_root(g, b, cls, gender, preset_no) != 0)
        goto done;
    char *text = cJSON_Print(b->root);
    if (!text)
        goto done;
    buf_puts(out, text);
    cJSON_free(text);
    rc = buf_ok(out) ? 0 : -1;
done:
    build_dispose(b);
    free(b);
    return rc;
}
