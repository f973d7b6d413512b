/*
 * valuation.h - value a decoded equipment document: every component of every item of every
 *   preset, item and preset aggregation, and the character total = the most expensive preset
 *   (valuation §6.1-6.3, decisions i, k).
 *   Not here: JSON output (report.h), decoding (equipment.h).
 * Ownership: valuation_compute() returns a result the caller frees with valuation_free(). The
 *   result borrows the equip_doc_t (item names, icons, lines): free the document after it.
 * Threads:   reentrant; the ptable_t is only read.
 * Errors:    0, or -1 on allocation failure (nothing else can fail: item problems are statuses).
 */
#ifndef MX_DOMAIN_VALUATION_H
#define MX_DOMAIN_VALUATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/cube.h"
#include "domain/equipment.h"
#include "domain/flame.h"
#include "domain/ptable.h"
#include "domain/starforce.h"

/* A money figure that may be undefined (null in JSON). */
typedef struct {
    bool defined;
    double value; /* whole meso */
} val_money_t;

typedef struct {
    val_money_t black, red, additional, starforce; /* red is always defined 0 (not modelled) */
} val_breakdown_t;

typedef struct {
    const equip_item_t *src;   /* borrowed from the document */
    cube_text_t table_part;    /* §1.4 */
    cube_result_t black;
    cube_result_t additional;
    sf_item_result_t starforce;
    flame_result_t flame;
    double expected_cost;      /* Kahan Σ of defined component costs */
    bool complete;
    val_breakdown_t breakdown;
} val_item_t;

typedef struct {
    int preset_no;
    size_t count;
    val_item_t *items;
    double total;              /* Kahan Σ of item expected costs */
    val_breakdown_t breakdown; /* field-wise Kahan Σ of defined values (all defined) */
    bool complete;
    int incomplete_count;
} val_preset_t;

typedef struct {
    cube_text_t character_class; /* the class used for flame weights (trimmed) */
    val_preset_t presets[EQUIP_PRESETS];
    int preset_count;
    int max_index;               /* index into presets of the most expensive one, -1 if none */
} valuation_t;

typedef struct {
    cube_text_t class_override; /* ptr NULL: use the payload's character_class (§1.1) */
} val_options_t;

int valuation_compute(const ptable_t *t, const equip_doc_t *doc, const val_options_t *opt, valuation_t **out);
void valuation_free(valuation_t *v);

/* The preset with this number, or NULL. */
const val_preset_t *valuation_preset(const valuation_t *v, int preset_no);

#endif
