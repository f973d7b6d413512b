/*
 * flame.h - rebirth-flame trial counts (valuation §5, decisions g, h): class weights, boss
 *   equipment, option score distributions and the k-distinct-options DP.
 *   Not here: money (flames never enter totals), JSON output (report.h).
 * Ownership: inputs borrowed; results are values in caller storage. flame_evaluate() uses
 *   bounded stack/heap scratch and frees it before returning.
 * Threads:   pure and reentrant.
 * Errors:    none returned: statuses inside flame_result_t (A9, A10). An allocation failure
 *   aborts (scratch is small and bounded by the target score).
 */
#ifndef MX_DOMAIN_FLAME_H
#define MX_DOMAIN_FLAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/status.h"

typedef enum { FLAME_POWERFUL = 0, FLAME_ETERNAL, FLAME_ABYSS, FLAME__COUNT } flame_kind_t;

/* Weights on a scale of 10 per stat point (§5.1). */
typedef struct {
    int str, dex, int_, luk, hp, mp, all, att, mag, dmg, boss;
} flame_weights_t;

/* Current flame stats from item_add_option (coerced integers). */
typedef struct {
    int64_t str, dex, int_, luk, max_hp, all_stat, attack_power, magic_power, damage, boss_damage;
} flame_stats_t;

/* Weights for a character class (exact bytes; NULL/unknown → STR/DEX default). The caller trims
 * character_class first (B5): " 에반" is an unknown class here. */
void flame_weights_for_class(const char *cls, size_t len, flame_weights_t *out);

/* §5.2: boss equipment test. `weapon` = slot 무기. `name` may be NULL. */
bool flame_is_boss(const char *name, size_t name_len, bool weapon, const char *cls, size_t cls_len);

/* Target score S of §5.1. */
int64_t flame_target_score(const flame_weights_t *w, const flame_stats_t *s);

typedef struct {
    int level;     /* L */
    bool weapon;   /* slot 무기 */
    bool boss;     /* flame_is_boss() */
    int base_att;  /* item_base_option.attack_power (weapon formula) */
    int base_mag;  /* item_base_option.magic_power */
} flame_item_t;

typedef struct {
    val_status_t status;            /* OK, UNREACHABLE (all three null), NOT_APPLICABLE (S <= 0) or
                                       INVALID_INPUT (DP width above FLAME_MAX_TARGET) */
    char reason[VAL_REASON_LEN];
    bool has_score;                 /* false when NOT_APPLICABLE (A10) or INVALID_INPUT (§0.3) */
    int64_t target_score;
    bool boss;
    bool has_trials[FLAME__COUNT];
    double probability[FLAME__COUNT]; /* P of §5.7 */
    double trials[FLAME__COUNT];      /* rhu_2(1 / P) */
    char kind_reason[FLAME__COUNT][VAL_REASON_LEN]; /* non-empty iff has_trials is false */
} flame_result_t;

void flame_evaluate(const flame_weights_t *w, const flame_item_t *item, const flame_stats_t *stats,
                    flame_result_t *out);

/* ---- building blocks, exposed for tests ---- */

#define FLAME_POOL_MAX 21 /* non-weapon pool size */
#define FLAME_DIST_MAX 7  /* at most 7 stages */

/* Largest DP width (target score, after dividing every option score and the target by their gcd)
 * flame_evaluate() accepts. Real items stay far below it (about 2e4 for a 4-option weapon flame);
 * it only bounds the scratch (4 rows of doubles: a few MB) against hostile item data. Beyond it the
 * result is VAL_INVALID_INPUT, "flame target score out of range", and nothing is allocated. */
#define FLAME_MAX_TARGET 200000

typedef struct {
    int64_t score[FLAME_DIST_MAX]; /* ascending, distinct */
    double prob[FLAME_DIST_MAX];
    int count;
} flame_dist_t;

/* Option pool order of §5.4; names "STR", "STR_DEX", "BOSS_DMG_PCT", ... */
size_t flame_pool(bool weapon, const char *const **names);
/* Score distribution of pool option `option` (index into flame_pool order) for one kind.
 * An option index outside the item's pool (or an invalid kind) yields count 0. */
void flame_option_dist(const flame_weights_t *w, const flame_item_t *item, size_t option, flame_kind_t kind,
                       flame_dist_t *out);
/* Weapon ATT/MAG flame value at stage s (§5.6, exact integer formula). */
int64_t flame_weapon_att_value(int base, int level, int stage);
/* P of §5.7 for one kind (0 when unreachable; 1 when target <= 0; NaN when the DP width would
 * exceed FLAME_MAX_TARGET). */
double flame_probability(const flame_weights_t *w, const flame_item_t *item, int64_t target, flame_kind_t kind);

#endif
