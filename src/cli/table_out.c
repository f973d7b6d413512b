/*
 * table_out.c - readable tables for `maplexp calc` (no --json).
 *
 * Columns per item: number, item, table part, level, grades (main/additional), black cube
 * (trials and cost), additional cube (trials and cost), starforce (target and cost), flame trials
 * (powerful/eternal/abyss) and the item total. Costs in the rows use the Korean money text to stay
 * narrow; the preset totals are printed both as Korean text and as plain comma-separated numbers.
 * A component that could not be computed shows its status (NO_TABLE, UNREACHABLE, ...), and "-"
 * means not applicable. Terminal width of Hangul is 2 columns, so padding counts display
 * columns, not bytes.
 */
#include "cli/table_out.h"

#include <stdio.h>
#include <string.h>

#include "domain/money.h"
#include "domain/stat.h"

/* Display width and byte length of one UTF-8 character at s. */
static int char_width(const unsigned char *s, size_t n, size_t *bytes)
{
    unsigned cp;
    if (s[0] < 0x80) {
        *bytes = 1;
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    if (len > n)
        len = n;
    *bytes = len;
    if (len == 3) {
        cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        /* Hangul syllables and jamo, CJK, full-width forms: two columns */
        if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
            (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF00 && cp <= 0xFF60))
            return 2;
    }
    return 1;
}

void table_out_cell(buf_t *out, const char *s, size_t len, int width, bool right)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t used = 0;
    int cols = 0;
    while (used < len) {
        size_t b;
        int w = char_width(p + used, len - used, &b);
        if (cols + w > width)
            break;
        cols += w;
        used += b;
    }
    if (right)
        for (int i = cols; i < width; i++)
            buf_putc(out, ' ');
    buf_append(out, s, used);
    if (!right)
        for (int i = cols; i < width; i++)
            buf_putc(out, ' ');
}

static void cell(buf_t *out, const char *s, int width, bool right)
{
    table_out_cell(out, s, strlen(s), width, right);
    buf_putc(out, ' ');
}

static void cube_cell(char *dst, size_t n, const cube_result_t *c)
{
    if (c->status == VAL_NOT_APPLICABLE) {
        snprintf(dst, n, "-");
    } else if (c->status != VAL_OK) {
        snprintf(dst, n, "%s", val_status_name(c->status));
    } else {
        char text[MONEY_TEXT_LEN];
        money_korean((double)c->expected_cost, text);
        snprintf(dst, n, "%lld× %s", (long long)c->trials, text);
    }
}

static void grade_part(char *dst, size_t n, cube_text_t g)
{
    if (!g.ptr || stat_text_is_blank(g.ptr, g.len))
        snprintf(dst, n, "-");
    else
        snprintf(dst, n, "%.*s", (int)g.len, g.ptr);
}

#define W_NO 3
#define W_ITEM 26
#define W_PART 11
#define W_LV 4
#define W_GRADE 17
#define W_CUBE 25
#define W_SF 20
#define W_FLAME 28
#define W_TOTAL 20

static void header(buf_t *out)
{
    cell(out, "#", W_NO, true);
    cell(out, "item", W_ITEM, false);
    cell(out, "part", W_PART, false);
    cell(out, "lv", W_LV, true);
    cell(out, "grade main/add", W_GRADE, false);
    cell(out, "black cube", W_CUBE, false);
    cell(out, "additional cube", W_CUBE, false);
    cell(out, "starforce", W_SF, false);
    cell(out, "flames P/E/A", W_FLAME, false);
    cell(out, "item total", W_TOTAL, true);
    buf_putc(out, '\n');
}

static void item_row(buf_t *out, size_t no, const val_item_t *it)
{
    char tmp[256], a[64], b[64], c[32];
    snprintf(tmp, sizeof tmp, "%zu", no);
    cell(out, tmp, W_NO, true);
    table_out_cell(out, it->src->name.ptr ? it->src->name.ptr : "", it->src->name.len, W_ITEM, false);
    buf_putc(out, ' ');
    table_out_cell(out, it->table_part.ptr, it->table_part.len, W_PART, false);
    buf_putc(out, ' ');
    snprintf(tmp, sizeof tmp, "%lld", (long long)it->src->level);
    cell(out, tmp, W_LV, true);
    grade_part(a, sizeof a, it->src->grade);
    grade_part(b, sizeof b, it->src->add_grade);
    snprintf(tmp, sizeof tmp, "%s/%s", a, b);
    cell(out, tmp, W_GRADE, false);
    cube_cell(tmp, sizeof tmp, &it->black);
    cell(out, tmp, W_CUBE, false);
    cube_cell(tmp, sizeof tmp, &it->additional);
    cell(out, tmp, W_CUBE, false);

    const sf_item_result_t *s = &it->starforce;
    if (s->status == VAL_NOT_APPLICABLE) {
        snprintf(tmp, sizeof tmp, "-");
    } else if (s->status != VAL_OK) {
        snprintf(tmp, sizeof tmp, "%s", val_status_name(s->status));
    } else {
        money_korean((double)s->cost, a);
        snprintf(tmp, sizeof tmp, "%s%d★ %s", s->is_noljang ? "놀장 " : "", s->target_star, a);
    }
    cell(out, tmp, W_SF, false);

    const flame_result_t *f = &it->flame;
    if (f->status == VAL_NOT_APPLICABLE) {
        snprintf(tmp, sizeof tmp, "-");
    } else {
        size_t off = 0;
        for (int k = 0; k < FLAME__COUNT; k++) {
            if (f->has_trials[k])
                snprintf(c, sizeof c, "%.2f", f->trials[k]);
            else
                snprintf(c, sizeof c, "∞");
            off += (size_t)snprintf(tmp + off, sizeof tmp - off, "%s%s", k ? "/" : "", c);
        }
    }
    cell(out, tmp, W_FLAME, false);

    money_korean(it->expected_cost, a);
    snprintf(tmp, sizeof tmp, "%s%s", it->complete ? "" : "≥ ", a);
    cell(out, tmp, W_TOTAL, true);
    buf_putc(out, '\n');
}

static void preset_table(buf_t *out, const val_preset_t *p)
{
    char text[MONEY_TEXT_LEN], num[MONEY_TEXT_LEN];
    buf_printf(out, "Preset %d: %zu items, %d incomplete\n", p->preset_no, p->count, p->incomplete_count);
    header(out);
    for (size_t i = 0; i < p->count; i++)
        item_row(out, i + 1, &p->items[i]);
    money_korean(p->total, text);
    money_commas((int64_t)p->total, num);
    buf_printf(out, "Preset %d total: %s (%s meso)%s\n", p->preset_no, text, num,
               p->complete ? "" : "  [incomplete: a lower bound]");
    const val_breakdown_t *b = &p->breakdown;
    char x[MONEY_TEXT_LEN], y[MONEY_TEXT_LEN], z[MONEY_TEXT_LEN];
    money_commas((int64_t)b->black.value, x);
    money_commas((int64_t)b->additional.value, y);
    money_commas((int64_t)b->starforce.value, z);
    buf_printf(out, "  black cube %s, additional cube %s, starforce %s\n\n", x, y, z);
}

void table_out_valuation(const valuation_t *v, int preset_only, buf_t *out)
{
    buf_printf(out, "Class: %.*s\n\n", (int)(v->character_class.ptr ? v->character_class.len : 1),
               v->character_class.ptr ? v->character_class.ptr : "-");
    const val_preset_t *head = NULL;
    for (int p = 0; p < v->preset_count; p++) {
        if (preset_only && v->presets[p].preset_no != preset_only)
            continue;
        preset_table(out, &v->presets[p]);
        if (preset_only)
            head = &v->presets[p];
    }
    if (!preset_only && v->max_index >= 0)
        head = &v->presets[v->max_index];
    char text[MONEY_TEXT_LEN], num[MONEY_TEXT_LEN];
    if (!head) {
        if (preset_only)
            buf_printf(out, "Preset %d: absent\nTotal: 0 (0 meso)\n", preset_only);
        else
            buf_puts(out, "No presets.\nTotal: 0 (0 meso)\n");
        return;
    }
    money_korean(head->total, text);
    money_commas((int64_t)head->total, num);
    if (preset_only)
        buf_printf(out, "Total (preset %d): %s (%s meso)%s\n", head->preset_no, text, num,
                   head->complete ? "" : "  [incomplete]");
    else
        buf_printf(out, "Total (most expensive preset, %d): %s (%s meso)%s\n", head->preset_no, text, num,
                   head->complete ? "" : "  [incomplete]");
}
