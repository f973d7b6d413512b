/*
 * report.c - V4 response JSON (valuation §6.4).
 *
 * Every field is always present; undefined values are null (decision i). Number formats follow
 * §6.4: meso amounts, trial counts, levels, stars and scores as integers; destroy counts and flame
 * trials with exactly two decimals; probabilities, masses and exact trial counts with the shortest
 * text that reads back to the same double. Field order follows the spec's listing so that a human
 * diffing two responses sees them in the documented order.
 */
#include "domain/report.h"

#include <string.h>

#include "base/jw.h"
#include "domain/money.h"
#include "domain/stat.h"

static bool is_blank(cube_text_t t) { return !t.ptr || stat_text_is_blank(t.ptr, t.len); }

void report_potential_text(const cube_text_t lines[3], buf_t *out)
{
    bool first = true;
    for (int k = 0; k < 3; k++) {
        if (is_blank(lines[k]))
            continue;
        if (!first)
            buf_append(out, " | ", 3);
        buf_append(out, lines[k].ptr, lines[k].len);
        first = false;
    }
}

static void put_text(jw_t *w, const char *key, cube_text_t t)
{
    jw_key(w, key);
    jw_string_n(w, t.ptr, t.len);
}

static void put_money_text(jw_t *w, const char *key, double v)
{
    char text[MONEY_TEXT_LEN];
    money_korean(v, text);
    jw_key(w, key);
    jw_string(w, text);
}

static void put_reason(jw_t *w, const char *key, const char *reason, bool is_null)
{
    jw_key(w, key);
    if (is_null)
        jw_null(w);
    else
        jw_string(w, reason);
}

static void put_breakdown(jw_t *w, const char *key, const val_breakdown_t *b)
{
    const val_money_t *vals[4] = {&b->black, &b->red, &b->additional, &b->starforce};
    static const char *const names[4] = {"blackCubeCost", "redCubeCost", "additionalCubeCost", "starforceCost"};
    jw_key(w, key);
    jw_object_begin(w);
    for (int i = 0; i < 4; i++) {
        jw_key(w, names[i]);
        if (vals[i]->defined)
            jw_whole(w, vals[i]->value);
        else
            jw_null(w);
    }
    jw_object_end(w);
}

static void put_null_keys(jw_t *w, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        jw_key(w, keys[i]);
        jw_null(w);
    }
}

void report_cube_object(jw_t *w, const cube_result_t *c, const cube_text_t lines[3])
{
    jw_object_begin(w);
    jw_key(w, "status");
    jw_string(w, val_status_name(c->status));
    put_reason(w, "reason", c->reason, c->status == VAL_OK);
    jw_key(w, "cubeType");
    jw_string(w, cube_type_name(c->type));
    for (int i = 0; i < 2; i++) {
        jw_key(w, i == 0 ? "currentGrade" : "targetGrade");
        if (c->has_grade)
            jw_string(w, c->grade);
        else
            jw_null(w);
    }
    buf_t pot;
    buf_init(&pot, 4096);
    report_potential_text(lines, &pot);
    jw_key(w, "potential");
    jw_string_n(w, buf_cstr(&pot), pot.len);
    buf_dispose(&pot);

    jw_key(w, "method");
    if (c->has_method)
        jw_string(w, c->method == CUBE_METHOD_THRESHOLD ? "THRESHOLD" : "EXACT_MATCH");
    else
        jw_null(w);
    jw_key(w, "targetStat");
    if (c->has_method && c->has_target)
        jw_string(w, stat_type_name(c->target_stat));
    else
        jw_null(w);
    jw_key(w, "minTotal");
    if (c->has_method && c->has_target)
        jw_int(w, c->min_total);
    else
        jw_null(w);

    if (c->status == VAL_OK) {
        jw_key(w, "tableLevel");
        jw_int(w, c->table_level);
        jw_key(w, "tableMass");
        jw_array_begin(w);
        for (int k = 0; k < 3; k++)
            jw_double(w, c->table_mass[k]);
        jw_array_end(w);
        jw_key(w, "successProbability");
        jw_double(w, c->probability);
        jw_key(w, "expectedTrialsExact");
        jw_double(w, c->trials_exact);
        jw_key(w, "expectedTrials");
        jw_int(w, c->trials);
        jw_key(w, "p50Trials");
        jw_int(w, c->p50_trials);
        jw_key(w, "p90Trials");
        jw_int(w, c->p90_trials);
        jw_key(w, "p99Trials");
        jw_int(w, c->p99_trials);
        jw_key(w, "costPerCube");
        jw_int(w, c->cost_per_cube);
        jw_key(w, "expectedCost");
        jw_int(w, c->expected_cost);
        put_money_text(w, "expectedCostText", (double)c->expected_cost);
        jw_key(w, "p50Cost");
        jw_int(w, c->p50_cost);
        jw_key(w, "p90Cost");
        jw_int(w, c->p90_cost);
        jw_key(w, "p99Cost");
        jw_int(w, c->p99_cost);
    } else {
        static const char *const stats[] = {"tableLevel", "tableMass", "successProbability", "expectedTrialsExact",
                                            "expectedTrials", "p50Trials", "p90Trials", "p99Trials",
                                            "costPerCube"};
        put_null_keys(w, stats, sizeof stats / sizeof stats[0]);
        static const char *const costs[] = {"expectedCost", "expectedCostText", "p50Cost", "p90Cost", "p99Cost"};
        if (c->status == VAL_NOT_APPLICABLE) {
            /* 6.5: a cube that does not exist costs 0, shown as "0" */
            jw_key(w, costs[0]);
            jw_int(w, 0);
            jw_key(w, costs[1]);
            jw_string(w, "0");
            for (int i = 2; i < 5; i++) {
                jw_key(w, costs[i]);
                jw_int(w, 0);
            }
        } else {
            put_null_keys(w, costs, 5);
        }
    }
    jw_object_end(w);
}

static void put_cube(jw_t *w, const char *key, const cube_result_t *c, const cube_text_t lines[3])
{
    jw_key(w, key);
    report_cube_object(w, c, lines);
}

static void put_starforce(jw_t *w, const sf_item_result_t *s)
{
    jw_key(w, "starforceExpectation");
    jw_object_begin(w);
    jw_key(w, "status");
    jw_string(w, val_status_name(s->status));
    put_reason(w, "reason", s->reason, s->status == VAL_OK);
    jw_key(w, "currentStar");
    jw_int(w, 0);
    jw_key(w, "targetStar");
    jw_int(w, s->target_star);
    jw_key(w, "isNoljang");
    jw_bool(w, s->is_noljang);
    if (s->status == VAL_OK || s->status == VAL_NOT_APPLICABLE) {
        bool ok = s->status == VAL_OK;
        jw_key(w, "costWithoutDestroyPrevention");
        jw_int(w, ok ? s->cost_without : 0);
        put_money_text(w, "costWithoutDestroyPreventionText", ok ? (double)s->cost_without : 0);
        jw_key(w, "expectedDestroyCountWithout");
        if (ok)
            jw_fixed2(w, s->destroys_without);
        else
            jw_null(w);
        jw_key(w, "costWithDestroyPrevention");
        jw_int(w, ok ? s->cost_with : 0);
        put_money_text(w, "costWithDestroyPreventionText", ok ? (double)s->cost_with : 0);
        jw_key(w, "expectedDestroyCountWith");
        if (ok)
            jw_fixed2(w, s->destroys_with);
        else
            jw_null(w);
    } else {
        static const char *const keys[] = {"costWithoutDestroyPrevention", "costWithoutDestroyPreventionText",
                                           "expectedDestroyCountWithout", "costWithDestroyPrevention",
                                           "costWithDestroyPreventionText", "expectedDestroyCountWith"};
        put_null_keys(w, keys, sizeof keys / sizeof keys[0]);
    }
    jw_object_end(w);
}

static void put_flame(jw_t *w, const flame_result_t *f)
{
    static const char *const trial_keys[FLAME__COUNT] = {"powerfulFlameTrials", "eternalFlameTrials",
                                                         "abyssFlameTrials"};
    static const char *const reason_keys[FLAME__COUNT] = {"powerfulFlameReason", "eternalFlameReason",
                                                          "abyssFlameReason"};
    jw_key(w, "flameExpectation");
    jw_object_begin(w);
    jw_key(w, "status");
    jw_string(w, val_status_name(f->status));
    put_reason(w, "reason", f->reason, f->status == VAL_OK);
    jw_key(w, "targetScore");
    if (f->has_score)
        jw_int(w, f->target_score);
    else
        jw_null(w);
    jw_key(w, "bossDrop");
    jw_bool(w, f->boss);
    for (int k = 0; k < FLAME__COUNT; k++) {
        jw_key(w, trial_keys[k]);
        if (f->has_trials[k])
            jw_fixed2(w, f->trials[k]);
        else
            jw_null(w);
    }
    for (int k = 0; k < FLAME__COUNT; k++)
        put_reason(w, reason_keys[k], f->kind_reason[k], f->has_trials[k]);
    jw_object_end(w);
}

static void put_grade(jw_t *w, const char *key, cube_text_t grade)
{
    jw_key(w, key);
    if (is_blank(grade)) {
        jw_null(w);
        return;
    }
    cube_text_t t = equip_trim(grade);
    jw_string_n(w, t.ptr, t.len);
}

static void put_enhance_path(jw_t *w, const val_item_t *it)
{
    buf_t path;
    buf_init(&path, 8192);
    if (it->src->name.ptr)
        buf_append(&path, it->src->name.ptr, it->src->name.len);
    if (it->black.status != VAL_NOT_APPLICABLE)
        buf_puts(&path, " > 블랙큐브(윗잠)");
    if (it->additional.status != VAL_NOT_APPLICABLE)
        buf_puts(&path, " > 에디셔널큐브(아랫잠)");
    if (it->starforce.target_star > 0)
        buf_printf(&path, " > 스타포스(0\xE2\x86\x92%d성)", it->starforce.target_star); /* U+2192 → */
    jw_key(w, "enhancePath");
    jw_string_n(w, buf_cstr(&path), path.len);
    buf_dispose(&path);
}

static void put_item(jw_t *w, const val_item_t *it)
{
    const equip_item_t *s = it->src;
    jw_object_begin(w);
    put_text(w, "itemName", s->name);
    put_text(w, "itemIcon", s->icon);
    put_text(w, "itemSlot", s->slot);
    put_text(w, "itemPart", it->table_part);
    jw_key(w, "itemLevel");
    jw_int(w, s->level);
    jw_key(w, "expectedCost");
    jw_whole(w, it->expected_cost);
    put_money_text(w, "expectedCostText", it->expected_cost);
    jw_key(w, "complete");
    jw_bool(w, it->complete);
    put_breakdown(w, "costBreakdown", &it->breakdown);
    put_enhance_path(w, it);
    put_grade(w, "potentialGrade", s->grade);
    put_grade(w, "additionalPotentialGrade", s->add_grade);
    jw_key(w, "currentStar");
    jw_int(w, 0);
    jw_key(w, "targetStar");
    jw_int(w, it->starforce.target_star);
    jw_key(w, "isNoljang");
    jw_bool(w, s->noljang);
    jw_key(w, "specialRingLevel");
    jw_int(w, s->special_ring_level);
    put_cube(w, "blackCubeExpectation", &it->black, s->lines);
    put_cube(w, "additionalCubeExpectation", &it->additional, s->add_lines);
    put_starforce(w, &it->starforce);
    put_flame(w, &it->flame);
    jw_object_end(w);
}

static void put_preset(jw_t *w, const val_preset_t *p)
{
    jw_object_begin(w);
    jw_key(w, "presetNo");
    jw_int(w, p->preset_no);
    jw_key(w, "totalExpectedCost");
    jw_whole(w, p->total);
    put_money_text(w, "totalCostText", p->total);
    put_breakdown(w, "costBreakdown", &p->breakdown);
    jw_key(w, "complete");
    jw_bool(w, p->complete);
    jw_key(w, "incompleteItemCount");
    jw_int(w, p->incomplete_count);
    jw_key(w, "items");
    jw_array_begin(w);
    for (size_t i = 0; i < p->count; i++)
        put_item(w, &p->items[i]);
    jw_array_end(w);
    jw_object_end(w);
}

int report_v4_json(const valuation_t *v, const report_meta_t *meta, buf_t *out)
{
    jw_t w;
    jw_init(&w, out);

    /* The preset the totals come from: the maximum (full view) or the requested one. */
    const val_preset_t *head = NULL;
    if (meta->preset_only)
        head = valuation_preset(v, meta->preset_only);
    else if (v->max_index >= 0)
        head = &v->presets[v->max_index];
    static const val_breakdown_t zero = {{true, 0}, {true, 0}, {true, 0}, {true, 0}};

    jw_object_begin(&w);
    jw_key(&w, "userIgn");
    jw_string(&w, meta->user_ign ? meta->user_ign : "");
    put_text(&w, "characterClass", v->character_class);
    jw_key(&w, "calculatedAt");
    jw_string(&w, meta->calculated_at);
    jw_key(&w, "fromCache");
    jw_bool(&w, meta->from_cache);
    jw_key(&w, "totalExpectedCost");
    jw_whole(&w, head ? head->total : 0);
    put_money_text(&w, "totalCostText", head ? head->total : 0);
    put_breakdown(&w, "totalCostBreakdown", head ? &head->breakdown : &zero);
    jw_key(&w, "totalComplete");
    jw_bool(&w, head ? head->complete : true);
    jw_key(&w, "maxPresetNo");
    jw_int(&w, head ? head->preset_no : 0);
    jw_key(&w, "presets");
    jw_array_begin(&w);
    for (int p = 0; p < v->preset_count; p++) {
        if (meta->preset_only && v->presets[p].preset_no != meta->preset_only)
            continue;
        put_preset(&w, &v->presets[p]);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    return buf_ok(out) ? 0 : -1;
}
