/*
 * valuation.c - per-item components and their aggregation (valuation §6.1-6.3).
 *
 * Each item gets four independent components (decision k): black cube on the main potential,
 * additional cube on the additional potential, starforce, and flames (trial counts only). Money
 * is summed with Kahan summation in the spec's order (black, additional, starforce per item; items
 * in array order per preset). Undefined components (NO_TABLE, UNREACHABLE, INVALID_INPUT,
 * TABLE_ERROR) add nothing and make the item incomplete (decision i): the total is then a lower
 * bound, flagged by complete = false, never a silent zero.
 *
 * The same item usually appears in all three presets. Components are pure functions of the item,
 * so an item identical (field for field) to an earlier one reuses that item's results instead of
 * recomputing the flame DP and cube tables: a pure optimisation that cannot change a number.
 */
#include "domain/valuation.h"

#include <stdlib.h>
#include <string.h>

#include "base/num.h"

static bool text_eq(cube_text_t a, cube_text_t b)
{
    if (!a.ptr || !b.ptr)
        return a.ptr == b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static bool text_is(cube_text_t a, const char *lit)
{
    return a.ptr && a.len == strlen(lit) && memcmp(a.ptr, lit, a.len) == 0;
}

/* Every field the components read (names and icons matter for boss detection and output). */
static bool items_same(const equip_item_t *a, const equip_item_t *b)
{
    if (a->starforce != b->starforce || a->noljang != b->noljang || a->level != b->level ||
        a->base_att != b->base_att || a->base_mag != b->base_mag ||
        memcmp(&a->flame, &b->flame, sizeof a->flame) != 0)
        return false;
    if (!text_eq(a->slot, b->slot) || !text_eq(a->part, b->part) || !text_eq(a->name, b->name) ||
        !text_eq(a->grade, b->grade) || !text_eq(a->add_grade, b->add_grade))
        return false;
    for (int k = 0; k < 3; k++)
        if (!text_eq(a->lines[k], b->lines[k]) || !text_eq(a->add_lines[k], b->add_lines[k]))
            return false;
    return true;
}

/* Cube component money: OK → its cost, NOT_APPLICABLE → 0, anything else undefined. */
static val_money_t cube_money(const cube_result_t *c)
{
    if (c->status == VAL_OK)
        return (val_money_t){true, (double)c->expected_cost};
    if (c->status == VAL_NOT_APPLICABLE)
        return (val_money_t){true, 0.0};
    return (val_money_t){false, 0.0};
}

static val_money_t starforce_money(const sf_item_result_t *s)
{
    if (s->status == VAL_OK)
        return (val_money_t){true, (double)s->cost};
    if (s->status == VAL_NOT_APPLICABLE)
        return (val_money_t){true, 0.0};
    return (val_money_t){false, 0.0};
}

static void compute_item(const ptable_t *t, const flame_weights_t *w, cube_text_t cls, const equip_item_t *src,
                         val_item_t *it)
{
    it->src = src;
    it->table_part = equip_table_part(src);
    int part = ptable_part_index(it->table_part.ptr, it->table_part.len);
    int level = (int)src->level;

    cube_input_t in = {.type = CUBE_BLACK, .part = part, .item_level = level, .grade = src->grade};
    memcpy(in.lines, src->lines, sizeof in.lines);
    cube_evaluate(t, &in, &it->black);

    in.type = CUBE_ADDITIONAL;
    in.grade = src->add_grade;
    memcpy(in.lines, src->add_lines, sizeof in.lines);
    cube_evaluate(t, &in, &it->additional);

    /* starforce is bounded by EQUIP_MAX_ABS_VALUE, so the int conversion is exact */
    sf_evaluate_item(level, (int)src->starforce, src->noljang, &it->starforce);

    bool weapon = text_is(src->slot, "무기");
    flame_item_t fi = {
        .level = level,
        .weapon = weapon,
        .boss = flame_is_boss(src->name.ptr, src->name.len, weapon, cls.ptr, cls.len),
        .base_att = (int)src->base_att,
        .base_mag = (int)src->base_mag,
    };
    flame_evaluate(w, &fi, &src->flame, &it->flame);

    it->breakdown.black = cube_money(&it->black);
    it->breakdown.red = (val_money_t){true, 0.0};
    it->breakdown.additional = cube_money(&it->additional);
    it->breakdown.starforce = starforce_money(&it->starforce);

    kahan_t sum = KAHAN_INIT;
    const val_money_t *parts[3] = {&it->breakdown.black, &it->breakdown.additional, &it->breakdown.starforce};
    it->complete = true;
    for (int i = 0; i < 3; i++) {
        if (parts[i]->defined)
            kahan_add(&sum, parts[i]->value);
        else
            it->complete = false;
    }
    it->expected_cost = sum.sum;
}

/* Field-wise preset sums; every preset breakdown value is defined (sum of the defined ones). */
static void aggregate_preset(val_preset_t *p)
{
    kahan_t total = KAHAN_INIT, black = KAHAN_INIT, additional = KAHAN_INIT, starforce = KAHAN_INIT;
    p->complete = true;
    p->incomplete_count = 0;
    for (size_t i = 0; i < p->count; i++) {
        const val_item_t *it = &p->items[i];
        kahan_add(&total, it->expected_cost);
        if (it->breakdown.black.defined)
            kahan_add(&black, it->breakdown.black.value);
        if (it->breakdown.additional.defined)
            kahan_add(&additional, it->breakdown.additional.value);
        if (it->breakdown.starforce.defined)
            kahan_add(&starforce, it->breakdown.starforce.value);
        if (!it->complete) {
            p->complete = false;
            p->incomplete_count++;
        }
    }
    p->total = total.sum;
    p->breakdown.black = (val_money_t){true, black.sum};
    p->breakdown.red = (val_money_t){true, 0.0};
    p->breakdown.additional = (val_money_t){true, additional.sum};
    p->breakdown.starforce = (val_money_t){true, starforce.sum};
}

/* An earlier identical item of this valuation, or NULL. */
static const val_item_t *find_computed(const valuation_t *v, int upto_preset, size_t upto_item,
                                       const equip_item_t *src)
{
    for (int p = 0; p <= upto_preset; p++) {
        const val_preset_t *pr = &v->presets[p];
        size_t n = p == upto_preset ? upto_item : pr->count;
        for (size_t i = 0; i < n; i++)
            if (items_same(pr->items[i].src, src))
                return &pr->items[i];
    }
    return NULL;
}

int valuation_compute(const ptable_t *t, const equip_doc_t *doc, const val_options_t *opt, valuation_t **out)
{
    valuation_t *v = calloc(1, sizeof *v);
    if (!v)
        return -1;
    v->character_class = opt && opt->class_override.ptr ? equip_trim(opt->class_override) : doc->character_class;
    flame_weights_t w;
    flame_weights_for_class(v->character_class.ptr, v->character_class.len, &w);

    v->max_index = -1;
    for (int p = 0; p < doc->preset_count; p++) {
        const equip_preset_t *src = &doc->presets[p];
        val_preset_t *dst = &v->presets[p];
        dst->preset_no = src->preset_no;
        dst->count = src->count;
        dst->items = src->count ? calloc(src->count, sizeof *dst->items) : NULL;
        if (src->count && !dst->items) {
            valuation_free(v);
            return -1;
        }
        v->preset_count = p + 1;
        for (size_t i = 0; i < src->count; i++) {
            const val_item_t *same = find_computed(v, p, i, &src->items[i]);
            if (same) {
                dst->items[i] = *same;
                dst->items[i].src = &src->items[i];
                dst->items[i].table_part = equip_table_part(&src->items[i]);
            } else {
                compute_item(t, &w, v->character_class, &src->items[i], &dst->items[i]);
            }
        }
        aggregate_preset(dst);
        /* ties → the lowest preset number, hence the strict comparison */
        if (v->max_index < 0 || dst->total > v->presets[v->max_index].total)
            v->max_index = p;
    }
    *out = v;
    return 0;
}

void valuation_free(valuation_t *v)
{
    if (!v)
        return;
    for (int p = 0; p < v->preset_count; p++)
        free(v->presets[p].items);
    free(v);
}

const val_preset_t *valuation_preset(const valuation_t *v, int preset_no)
{
    for (int p = 0; p < v->preset_count; p++)
        if (v->presets[p].preset_no == preset_no)
            return &v->presets[p];
    return NULL;
}
