/*
 * fn_gen.h - the generated `item-equipment` payload of a character: the template payload
 *   (a real response) re-rolled per character with a PRNG seeded from SHA-256 of the name.
 *
 *   Per item (every distinct template item, once per character, so an item shared by several
 *   presets is the same in each): starforce 0..max for its level (valuation §4.1; the usual
 *   17-22 most often; a few low-level items become 놀장 with `starforce_scroll_flag` "사용"
 *   and at most 15 stars); main and additional potential grade among 레어/에픽/유니크/레전드리,
 *   each line drawn from the probability table group of the item's (part, level, grade, line)
 *   - weighted by the table rates, and 70 % of the time among the lines that suit the class
 *   (its main stat, all-stat, attack or magic, boss, IED, damage, critical damage, cooldown);
 *   the stat blocks (item_*_option) re-labelled from the template's class to the character's
 *   (main stat <-> main stat, attack <-> magic). Items without a potential keep none.
 *   Per character: class and gender (given by the caller, see fn_chars.h), preset_no 1..3, and
 *   for each preset the weapon, secondary and emblem plus about 90 % of the other slots, each
 *   with one of the template's items for that slot (never fewer than 20 items, so the payload
 *   stays within 200-400 KB);
 *   `item_equipment` mirrors preset `preset_no`; dragon_equipment only for 에반.
 *   Why table lines rather than lines pooled from the template: the template only carries
 *   레전드리 main potentials, and table lines are always valid for the item's level and part,
 *   so the valuation finds every line.
 * Ownership: fn_gen_new() returns an object the caller frees with fn_gen_free(); output goes to a
 *   caller-owned buf_t.
 * Threads:   after fn_gen_new() the generator is read-only: fn_gen_equipment() may run on
 *   several threads at once.
 * Errors:    fn_gen_new() returns NULL with a message (template unreadable, not a payload,
 *   tables unreadable); fn_gen_equipment() returns -1 only when out of memory or the buffer's
 *   cap is reached.
 */
#ifndef FN_GEN_H
#define FN_GEN_H

#include <stddef.h>

#include "base/buf.h"

#define FN_TEMPLATE_MAX_BYTES (16u << 20)

typedef struct fn_gen fn_gen_t;

/* template_path: an item-equipment payload; tables_dir: directory holding
 * cube_probability.csv and additional_potential_probability.csv. */
fn_gen_t *fn_gen_new(const char *template_path, const char *tables_dir, char *err, size_t errlen);
void fn_gen_free(fn_gen_t *g);

/* Append the payload of `name` (class and gender as given) to out. Same inputs, same bytes. */
int fn_gen_equipment(const fn_gen_t *g, const char *name, const char *cls, const char *gender, buf_t *out);

#endif
