/*
 * equipment.h - decode a Nexon `item-equipment` response into the fields the engine reads
 *   (valuation §1.2, §1.4, 10.B): presets 1..3, skipped blank slots, value coercion.
 *   Not here: gunzip (the caller hands plain JSON bytes), valuation (valuation.h).
 * Ownership: equip_parse() returns a document the caller frees with equip_free(); every text
 *   in it (cube_text_t) points into memory the document owns, so it lives until equip_free().
 *   The input bytes are not referenced after the call.
 * Threads:   reentrant; a document may be read by several threads at once.
 * Errors:    0, or -1 with one line in err: invalid JSON ("invalid JSON at byte N"), trailing
 *   data, wrong shape ("$.item_equipment_preset_1[3].item_add_option: expected an object, got
 *   a string"), numbers out of range, or the document being larger than the decoder's caps.
 */
#ifndef MX_DOMAIN_EQUIPMENT_H
#define MX_DOMAIN_EQUIPMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/cube.h"
#include "domain/flame.h"

#define EQUIP_PRESETS 3
#define EQUIP_MAX_LEVEL 1000          /* item levels above this are rejected (game max is 300) */
#define EQUIP_MAX_ABS_VALUE 1000000000 /* |coerced integer| bound: keeps every product in int64 */
#define EQUIP_MAX_ITEMS 256           /* per preset; real presets hold about 25 */

typedef struct {
    cube_text_t slot;          /* item_equipment_slot, trimmed, non-blank */
    cube_text_t part;          /* item_equipment_part (raw) */
    cube_text_t name;          /* item_name (may be absent: ptr NULL) */
    cube_text_t icon;          /* item_icon */
    cube_text_t grade;         /* potential_option_grade (raw; blank rule applies later) */
    cube_text_t lines[3];      /* potential_option_1..3 (verbatim) */
    cube_text_t add_grade;     /* additional_potential_option_grade */
    cube_text_t add_lines[3];  /* additional_potential_option_1..3 */
    int64_t starforce;
    bool noljang;              /* starforce_scroll_flag == "사용" */
    int64_t special_ring_level;
    int64_t level;             /* item_base_option.base_equipment_level */
    int64_t base_att, base_mag; /* item_base_option.attack_power / magic_power */
    flame_stats_t flame;       /* item_add_option */
} equip_item_t;

typedef struct {
    int preset_no;  /* 1..3 */
    size_t count;
    equip_item_t *items;
} equip_preset_t;

typedef struct equip_doc equip_doc_t;

struct equip_doc {
    cube_text_t character_class; /* trimmed; ptr NULL when absent */
    equip_preset_t presets[EQUIP_PRESETS]; /* the non-empty presets, in order */
    int preset_count;
    void *_internal;             /* decoder-owned storage */
};

int equip_parse(const char *json, size_t len, equip_doc_t **out, char *err, size_t errlen);
void equip_free(equip_doc_t *doc);

/* §1.4: the table part name of an item (points into static storage or into the item). */
cube_text_t equip_table_part(const equip_item_t *item);

/* Trim ASCII whitespace from both ends. */
cube_text_t equip_trim(cube_text_t s);

#endif
