/*
 * stat.h - potential-line classification, stated values, contributions, target inference and
 *   method choice (valuation §2.1-2.7, decisions c, d, m, n, p).
 *   Not here: probabilities (ptable.h) and the exact-match arithmetic (cube.h).
 * Ownership: lines are borrowed (pointer + length, UTF-8, not NUL-terminated); results are values.
 * Threads:   every function is pure and reentrant.
 * Errors:    none: an unrecognised line is an empty type set, never an error.
 */
#ifndef MX_DOMAIN_STAT_H
#define MX_DOMAIN_STAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* §2.1 in its fixed order: the order is the tie-break order of target inference. */
typedef enum {
    STAT_STR = 0, STAT_DEX, STAT_INT, STAT_LUK,
    STAT_ALL_STAT,
    STAT_STR_PERCENT, STAT_DEX_PERCENT, STAT_INT_PERCENT, STAT_LUK_PERCENT,
    STAT_ALLSTAT_PERCENT,
    STAT_ATTACK_POWER, STAT_MAGIC_POWER, STAT_ATTACK_POWER_PERCENT, STAT_MAGIC_POWER_PERCENT,
    STAT_BOSS_DAMAGE, STAT_IGNORE_DEFENSE,
    STAT_DAMAGE, STAT_CRITICAL_DAMAGE, STAT_COOLDOWN_REDUCTION,
    STAT_ITEM_DROP, STAT_MESO_DROP, STAT_HP, STAT_HP_PERCENT,
    STAT_LEVEL_STR, STAT_LEVEL_DEX, STAT_LEVEL_INT, STAT_LEVEL_LUK,
    STAT__COUNT
} stat_type_t;

typedef enum {
    STAT_CAT_STAT, STAT_CAT_ATK_MAG, STAT_CAT_BOSS_IED, STAT_CAT_OTHER, STAT_CAT_CRIT_DMG, STAT_CAT_COOLDOWN,
} stat_category_t;

/* One classified line: the set of types it carries and its signed stated value (§2.3).
 * types == 0 means the line is blank or unrecognised. */
typedef struct {
    uint32_t types; /* bit (1u << stat_type_t) per type carried */
    int value;      /* signed stated value; every type of the line gets it */
} stat_line_t;

/* "STR_PERCENT", ... (the spec's names). Never NULL for a valid type. */
const char *stat_type_name(stat_type_t t);
stat_category_t stat_type_category(stat_type_t t);

/* Blank rule of §1.2 for a text already known to be present: empty, whitespace-only, or "null"
 * (case-insensitive, after trimming). A NULL pointer is blank. */
bool stat_text_is_blank(const char *s, size_t len);

/* classify() of §2.2 plus the value of §2.3. */
void stat_classify(const char *line, size_t len, stat_line_t *out);

/* The signed stated value of §2.3 (decision c). */
int stat_line_value(const char *line, size_t len);

/* contribution(line, target) of §2.4 (all-stat counts toward the same unit only). */
int stat_contribution(const stat_line_t *line, stat_type_t target);

typedef enum { CUBE_METHOD_THRESHOLD = 0, CUBE_METHOD_EXACT_MATCH } cube_method_t;

/* Result of §2.5-2.7 for the three lines of one potential. */
typedef struct {
    bool compound;          /* §2.5 */
    bool inference_valid;   /* §2.6: false when no recognised line or best value <= 0 */
    stat_type_t best;       /* valid only when inference_valid */
    int best_value;
    int total;              /* Σ of the remaining contributions (negative cooldown included) */
    double confidence;      /* best / total, or 0 */
    cube_method_t method;   /* §2.7 */
    stat_type_t target;     /* THRESHOLD only: = best */
    int min_total;          /* THRESHOLD only: = best_value */
} stat_choice_t;

/* §2.5-2.7 over three already classified lines (blank lines have types == 0). */
void stat_choose_method(const stat_line_t lines[3], stat_choice_t *out);

#endif
