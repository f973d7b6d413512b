/*
 * ptable.c - the cube probability tables (§1.3, §3.2, §3.3): CSV parsing and validation, option
 *   interning, group index, level selection, mass report.
 *
 * Loading (single-threaded): ptable_add_csv() validates each row completely before keeping it
 *   and appends it to a flat row vector in load order (files in the order given, rows in file
 *   order). A file is atomic: on the first error every row and option it added is dropped again,
 *   so a failed load leaves the table as it was. Option texts are interned in an open-addressing
 *   hash table (FNV-1a, linear probing, load factor <= 1/2); each distinct text is stored once
 *   in a byte arena (NUL-terminated) and classified once with stat_classify(), so evaluation
 *   never re-parses a text.
 *
 * Indexing (ptable_finish): a stable counting sort on the dense group key
 *   ((type, part, grade) combo, level 0..300, line 1..3) puts the rows of every group next to
 *   each other in file order in one ptable_row_t array. Walking the key space in order then
 *   yields, per combo, its levels in ascending order with the three lines side by side, from
 *   which the level entries (level -> group of each line) and the "present" levels of §3.2 (all
 *   three lines have rows) are built. Group mass is the Kahan sum of its rates in file order.
 *   Lookups are a binary search over one combo's level entries: O(log levels), no allocation.
 *
 * CSV decisions (beyond §1.3): a UTF-8 BOM before the header is skipped; one trailing '\r' is
 *   stripped from every line (CRLF files); empty lines are accepted only at the end of the file;
 *   a row with 6 fields has a missing cube_type (= BLACK, §1.3 "a missing or empty value");
 *   rates go through strtod (C locale), must consume the whole field and be finite in (0, 1];
 *   levels are plain decimal digits 0..300.
 *
 * Invariants after finish: every group has >= 1 row and its rows are in file order; option ids
 *   are dense 0..n-1 and every id is carried by at least one row.
 * Threads: loading mutates; after ptable_finish() nothing is written again, so all lookups are
 *   safe from any number of threads.
 */
#include "domain/ptable.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"

#define PTABLE_LEVEL_MAX 300      /* level keys are integers 0..300 */
#define PTABLE_LEVEL_SPAN (PTABLE_LEVEL_MAX + 1)
#define PTABLE_LINES 3            /* potential lines 1..3 */
#define PTABLE_COMBOS (CUBE__COUNT * PTABLE_PART_COUNT * GRADE__COUNT)
#define PTABLE_KEYS ((size_t)PTABLE_COMBOS * PTABLE_LEVEL_SPAN * PTABLE_LINES)
#define PTABLE_FIELDS 7           /* option,rate,slot,grade,level,part,cube_type */
#define PTABLE_RATE_BUF 64        /* longest rate field accepted (strtod needs a NUL) */
#define PTABLE_LEVEL_DIGITS 9     /* enough digits for any int; range is checked after */
#define PTABLE_HASH_MIN 1024      /* initial hash capacity (power of two) */
#define PTABLE_MASS_TOL 1e-12     /* |mass - 1| above this is an anomaly (§3.3) */
#define PTABLE_ERR_SHOW 40        /* bytes of an offending field quoted in messages */

static const char HEADER[] = "option,rate,slot,potential_option_grade,base_equipment_level,item_equipment_slot,cube_type";

static const char *const PART_NAMES[PTABLE_PART_COUNT] = {
    "무기", "엠블렘", "보조무기", "포스실드", "방패", "모자", "상의", "한벌옷", "하의",
    "신발", "장갑", "망토", "벨트", "어깨장식", "얼굴장식", "눈장식", "귀고리",
    "반지1", "반지2", "반지3", "반지4", "펜던트", "펜던트2", "기계 심장", "소울링",
};

static const char *const GRADE_NAMES[GRADE__COUNT] = {"레어", "에픽", "유니크", "레전드리"};
static const char *const TYPE_NAMES[CUBE__COUNT] = {"BLACK", "ADDITIONAL"};

/* A row as loaded, before indexing. */
typedef struct {
    uint32_t option;
    uint16_t level;
    uint8_t type, part, grade, line; /* line 1..3 */
    double rate;
} load_row_t;

typedef struct {
    size_t off;   /* into the text arena */
    size_t len;
    uint32_t hash;
    stat_line_t stat;
} option_t;

/* All groups of one level of one combo (group index per line, -1 when that line has no rows). */
typedef struct {
    int level;
    int32_t group[PTABLE_LINES];
} level_entry_t;

typedef struct {
    uint8_t type, part, grade, line;
    int level;
} group_key_t;

struct ptable {
    /* loading */
    load_row_t *rows;
    size_t nrows, caprows;
    option_t *opts;
    uint32_t nopts;
    size_t capopts;
    char *text;
    size_t textlen, textcap;
    uint32_t *hash; /* option id + 1; 0 = empty slot */
    size_t hashcap;
    bool finished;
    /* index (after finish) */
    ptable_row_t *grows;
    ptable_group_t *groups;
    group_key_t *gkeys;
    size_t ngroups;
    level_entry_t *levels;
    size_t level_start[PTABLE_COMBOS + 1];
    int *present;
    size_t present_start[PTABLE_COMBOS + 1];
};

/* ---- names ---- */

const char *cube_type_name(cube_type_t t) { return (unsigned)t < CUBE__COUNT ? TYPE_NAMES[t] : "UNKNOWN"; }

const char *grade_name(grade_t g) { return (unsigned)g < GRADE__COUNT ? GRADE_NAMES[g] : "UNKNOWN"; }

static bool bytes_eq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && (n == 0 || memcmp(s, lit, n) == 0);
}

bool grade_from_text(const char *s, size_t len, grade_t *out)
{
    if (s == NULL)
        return false;
    for (int g = 0; g < GRADE__COUNT; g++) {
        if (bytes_eq(s, len, GRADE_NAMES[g])) {
            if (out)
                *out = (grade_t)g;
            return true;
        }
    }
    return false;
}

int ptable_part_index(const char *s, size_t len)
{
    if (s == NULL)
        return -1;
    for (int p = 0; p < PTABLE_PART_COUNT; p++)
        if (bytes_eq(s, len, PART_NAMES[p]))
            return p;
    return -1;
}

const char *ptable_part_name(int part)
{
    return part >= 0 && part < PTABLE_PART_COUNT ? PART_NAMES[part] : "UNKNOWN";
}

static size_t combo_of(int type, int part, int grade)
{
    return ((size_t)type * PTABLE_PART_COUNT + (size_t)part) * GRADE__COUNT + (size_t)grade;
}

/* ---- lifetime ---- */

ptable_t *ptable_new(void) { return calloc(1, sizeof(ptable_t)); }

void ptable_free(ptable_t *t)
{
    if (t == NULL)
        return;
    free(t->rows);
    free(t->opts);
    free(t->text);
    free(t->hash);
    free(t->grows);
    free(t->groups);
    free(t->gkeys);
    free(t->levels);
    free(t->present);
    free(t);
}

size_t ptable_row_count(const ptable_t *t) { return t ? t->nrows : 0; }

/* ---- growth helpers (doubling; false on overflow or OOM, leaving the vector intact) ---- */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem)
            return false;
        ncap *= 2;
    }
    void *np = realloc(*p, ncap * elem);
    if (np == NULL)
        return false;
    *p = np;
    *cap = ncap;
    return true;
}

/* ---- option interning ---- */

static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* Slot of text in the hash table: either the slot holding it or the empty slot where it goes. */
static size_t hash_slot(const ptable_t *t, const char *s, size_t len, uint32_t h)
{
    size_t mask = t->hashcap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t id1 = t->hash[i];
        if (id1 == 0)
            return i;
        const option_t *o = &t->opts[id1 - 1];
        if (o->hash == h && o->len == len && memcmp(t->text + o->off, s, len) == 0)
            return i;
    }
}

/* Insert every option id into an all-empty hash array of capacity cap (a power of two). */
static void hash_fill(const ptable_t *t, uint32_t *h, size_t cap)
{
    size_t mask = cap - 1;
    for (uint32_t id = 0; id < t->nopts; id++) {
        size_t i = t->opts[id].hash & mask;
        while (h[i] != 0)
            i = (i + 1) & mask;
        h[i] = id + 1;
    }
}

static bool hash_resize(ptable_t *t, size_t cap)
{
    uint32_t *nh = calloc(cap, sizeof *nh);
    if (nh == NULL)
        return false;
    hash_fill(t, nh, cap);
    free(t->hash);
    t->hash = nh;
    t->hashcap = cap;
    return true;
}

/* Id of the text, adding it when new. Returns false only when out of memory (nothing changed). */
static bool intern(ptable_t *t, const char *s, size_t len, uint32_t *id)
{
    /* Grow first so that the table keeps load factor <= 1/2 after the insertion. */
    if (((size_t)t->nopts + 1) * 2 > t->hashcap) {
        size_t cap = t->hashcap ? t->hashcap * 2 : PTABLE_HASH_MIN;
        if (!hash_resize(t, cap))
            return false;
    }
    uint32_t h = fnv1a(s, len);
    size_t slot = hash_slot(t, s, len, h);
    if (t->hash[slot] != 0) {
        *id = t->hash[slot] - 1;
        return true;
    }
    if (t->nopts >= UINT32_MAX - 1)
        return false;
    size_t capopts = t->capopts;
    if (!grow((void **)&t->opts, &capopts, (size_t)t->nopts + 1, sizeof(option_t)))
        return false;
    t->capopts = capopts;
    if (len > SIZE_MAX - t->textlen - 1 || !grow((void **)&t->text, &t->textcap, t->textlen + len + 1, 1))
        return false;
    option_t *o = &t->opts[t->nopts];
    o->off = t->textlen;
    o->len = len;
    o->hash = h;
    memcpy(t->text + t->textlen, s, len);
    t->text[t->textlen + len] = '\0';
    t->textlen += len + 1;
    stat_classify(s, len, &o->stat);
    t->hash[slot] = t->nopts + 1;
    *id = t->nopts++;
    return true;
}

/* ---- CSV parsing ---- */

static void set_err(char *err, size_t errlen, const char *name, size_t line, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    int n = snprintf(err, errlen, "%s:%zu: ", name ? name : "<csv>", line);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int show_len(size_t len) { return len > PTABLE_ERR_SHOW ? PTABLE_ERR_SHOW : (int)len; }

/* Strict rate: the whole field is a strtod number, finite, in (0, 1]. */
static bool parse_rate(const char *s, size_t len, double *out)
{
    char buf[PTABLE_RATE_BUF];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end = NULL;
    errno = 0;
    double r = strtod(buf, &end);
    if (end != buf + len)
        return false;
    *out = r;
    return true;
}

static bool parse_level(const char *s, size_t len, int *out)
{
    if (len == 0 || len > PTABLE_LEVEL_DIGITS)
        return false;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > PTABLE_LEVEL_MAX)
        return false;
    *out = v;
    return true;
}

/* Drop every row and option added since the marks (a failed file leaves no trace). The hash
 * is refilled in place, so rolling back never allocates and cannot fail. */
static void rollback(ptable_t *t, size_t nrows, uint32_t nopts, size_t textlen)
{
    t->nrows = nrows;
    if (t->nopts == nopts)
        return;
    t->nopts = nopts;
    t->textlen = textlen;
    memset(t->hash, 0, t->hashcap * sizeof *t->hash);
    hash_fill(t, t->hash, t->hashcap);
}

int ptable_add_csv(ptable_t *t, const char *data, size_t len, const char *name, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (t == NULL) {
        set_err(err, errlen, name, 0, "no table");
        return -1;
    }
    if (t->finished) {
        set_err(err, errlen, name, 0, "table already finished");
        return -1;
    }
    if (data == NULL)
        len = 0;

    const size_t mark_rows = t->nrows;
    const uint32_t mark_opts = t->nopts;
    const size_t mark_text = t->textlen;

    size_t pos = 0, lineno = 0;
    static const char BOM[] = "\xEF\xBB\xBF";
    if (len >= 3 && memcmp(data, BOM, 3) == 0)
        pos = 3;

    bool header_seen = false;
    while (pos < len || !header_seen) {
        /* Next line [pos, eol), without '\n' and one trailing '\r'. */
        const char *start = data ? data + pos : "";
        const char *nl = pos < len ? memchr(start, '\n', len - pos) : NULL;
        size_t llen = nl ? (size_t)(nl - start) : len - pos;
        size_t next = nl ? pos + llen + 1 : len;
        lineno++;
        if (llen > 0 && start[llen - 1] == '\r')
            llen--;

        if (!header_seen) {
            if (!bytes_eq(start, llen, HEADER)) {
                set_err(err, errlen, name, lineno, "bad header (expected \"%s\")", HEADER);
                goto fail;
            }
            header_seen = true;
            pos = next;
            continue;
        }

        if (llen == 0) {
            /* Only trailing empty lines are tolerated. */
            size_t i = next;
            while (i < len && (data[i] == '\n' || data[i] == '\r'))
                i++;
            if (i == len)
                break;
            set_err(err, errlen, name, lineno, "empty line");
            goto fail;
        }

        /* Split into fields. */
        const char *f[PTABLE_FIELDS];
        size_t fl[PTABLE_FIELDS];
        size_t nf = 0;
        const char *p = start, *end = start + llen;
        for (;;) {
            const char *c = memchr(p, ',', (size_t)(end - p));
            const char *fe = c ? c : end;
            if (nf < PTABLE_FIELDS) {
                f[nf] = p;
                fl[nf] = (size_t)(fe - p);
            }
            nf++;
            if (c == NULL)
                break;
            p = c + 1;
        }
        if (nf != PTABLE_FIELDS && nf != PTABLE_FIELDS - 1) {
            set_err(err, errlen, name, lineno, "expected %d fields, found %zu", PTABLE_FIELDS, nf);
            goto fail;
        }

        load_row_t row;
        memset(&row, 0, sizeof row);
        double rate = 0;
        if (!parse_rate(f[1], fl[1], &rate)) {
            set_err(err, errlen, name, lineno, "rate \"%.*s\" is not a number", show_len(fl[1]), f[1]);
            goto fail;
        }
        if (!isfinite(rate) || !(rate > 0.0) || rate > 1.0) {
            set_err(err, errlen, name, lineno, "rate \"%.*s\" is not in (0, 1]", show_len(fl[1]), f[1]);
            goto fail;
        }
        row.rate = rate;
        if (fl[2] != 1 || f[2][0] < '1' || f[2][0] > '3') {
            set_err(err, errlen, name, lineno, "slot \"%.*s\" is not 1, 2 or 3", show_len(fl[2]), f[2]);
            goto fail;
        }
        row.line = (uint8_t)(f[2][0] - '0');
        grade_t g;
        if (!grade_from_text(f[3], fl[3], &g)) {
            set_err(err, errlen, name, lineno, "unknown grade \"%.*s\"", show_len(fl[3]), f[3]);
            goto fail;
        }
        row.grade = (uint8_t)g;
        int level = 0;
        if (!parse_level(f[4], fl[4], &level)) {
            set_err(err, errlen, name, lineno, "level \"%.*s\" is not an integer 0..%d", show_len(fl[4]), f[4],
                    PTABLE_LEVEL_MAX);
            goto fail;
        }
        row.level = (uint16_t)level;
        int part = ptable_part_index(f[5], fl[5]);
        if (part < 0) {
            set_err(err, errlen, name, lineno, "unknown part \"%.*s\"", show_len(fl[5]), f[5]);
            goto fail;
        }
        row.part = (uint8_t)part;
        if (nf == PTABLE_FIELDS - 1 || fl[6] == 0 || bytes_eq(f[6], fl[6], "BLACK")) {
            row.type = CUBE_BLACK;
        } else if (bytes_eq(f[6], fl[6], "ADDITIONAL")) {
            row.type = CUBE_ADDITIONAL;
        } else {
            set_err(err, errlen, name, lineno, "unknown cube type \"%.*s\"", show_len(fl[6]), f[6]);
            goto fail;
        }
        if (!intern(t, f[0], fl[0], &row.option) || !grow((void **)&t->rows, &t->caprows, t->nrows + 1, sizeof row)) {
            set_err(err, errlen, name, lineno, "out of memory");
            goto fail;
        }
        t->rows[t->nrows++] = row;
        pos = next;
    }
    return 0;

fail:
    rollback(t, mark_rows, mark_opts, mark_text);
    return -1;
}

/* ---- index ---- */

static size_t key_of(const load_row_t *r)
{
    return (combo_of(r->type, r->part, r->grade) * PTABLE_LEVEL_SPAN + r->level) * PTABLE_LINES + (size_t)(r->line - 1);
}

void ptable_finish(ptable_t *t)
{
    if (t == NULL || t->finished)
        return;
    t->finished = true;
    if (t->nrows == 0)
        return;
    if (t->nrows > UINT32_MAX)
        goto oom_early; /* counting-sort offsets are 32-bit; no real table comes close */

    /* Stable counting sort of the rows by group key. start[] doubles as the group index map. */
    uint32_t *start = calloc(PTABLE_KEYS + 1, sizeof *start);
    t->grows = malloc(t->nrows * sizeof *t->grows);
    if (start == NULL || t->grows == NULL)
        goto oom;
    for (size_t i = 0; i < t->nrows; i++)
        start[key_of(&t->rows[i]) + 1]++;
    size_t ngroups = 0;
    for (size_t k = 0; k < PTABLE_KEYS; k++) {
        if (start[k + 1] != 0)
            ngroups++;
        start[k + 1] += start[k];
    }
    {
        /* Scatter in load order: rows of one key stay in file order. */
        uint32_t *fill = malloc(PTABLE_KEYS * sizeof *fill);
        if (fill == NULL)
            goto oom;
        memcpy(fill, start, PTABLE_KEYS * sizeof *fill);
        for (size_t i = 0; i < t->nrows; i++) {
            const load_row_t *r = &t->rows[i];
            ptable_row_t *dst = &t->grows[fill[key_of(r)]++];
            dst->option = r->option;
            dst->rate = r->rate;
        }
        free(fill);
    }

    t->groups = malloc(ngroups * sizeof *t->groups);
    t->gkeys = malloc(ngroups * sizeof *t->gkeys);
    /* At most one level entry and one present level per group. */
    t->levels = malloc(ngroups * sizeof *t->levels);
    t->present = malloc(ngroups * sizeof *t->present);
    if (!t->groups || !t->gkeys || !t->levels || !t->present)
        goto oom;

    size_t g = 0, nlev = 0, npres = 0;
    for (size_t combo = 0; combo < PTABLE_COMBOS; combo++) {
        t->level_start[combo] = nlev;
        t->present_start[combo] = npres;
        for (int level = 0; level < PTABLE_LEVEL_SPAN; level++) {
            size_t base = (combo * PTABLE_LEVEL_SPAN + (size_t)level) * PTABLE_LINES;
            level_entry_t e = {level, {-1, -1, -1}};
            bool any = false;
            for (int line = 0; line < PTABLE_LINES; line++) {
                size_t k = base + (size_t)line;
                size_t a = start[k], b = start[k + 1];
                if (a == b)
                    continue;
                ptable_group_t *gr = &t->groups[g];
                gr->rows = t->grows + a;
                gr->count = b - a;
                kahan_t mass = KAHAN_INIT;
                for (size_t i = a; i < b; i++)
                    kahan_add(&mass, t->grows[i].rate);
                gr->mass = mass.sum;
                group_key_t *gk = &t->gkeys[g];
                gk->grade = (uint8_t)(combo % GRADE__COUNT);
                gk->part = (uint8_t)(combo / GRADE__COUNT % PTABLE_PART_COUNT);
                gk->type = (uint8_t)(combo / GRADE__COUNT / PTABLE_PART_COUNT);
                gk->line = (uint8_t)(line + 1);
                gk->level = level;
                e.group[line] = (int32_t)g;
                g++;
                any = true;
            }
            if (!any)
                continue;
            t->levels[nlev++] = e;
            if (e.group[0] >= 0 && e.group[1] >= 0 && e.group[2] >= 0)
                t->present[npres++] = level;
        }
    }
    t->level_start[PTABLE_COMBOS] = nlev;
    t->present_start[PTABLE_COMBOS] = npres;
    t->ngroups = ngroups;
    free(start);
    /* The load-order rows were copied into grows: release them (a service keeps the table for its
     * whole life, and they are the largest allocation). nrows stays for ptable_row_count(). */
    free(t->rows);
    t->rows = NULL;
    t->caprows = 0;
    return;

oom:
    free(start);
    start = NULL;
oom_early:
    /* Out of memory: the table stays finished but empty for lookups (every lookup: absent). */
    free(t->grows);
    free(t->groups);
    free(t->gkeys);
    free(t->levels);
    free(t->present);
    t->grows = NULL;
    t->groups = NULL;
    t->gkeys = NULL;
    t->levels = NULL;
    t->present = NULL;
    t->ngroups = 0;
    memset(t->level_start, 0, sizeof t->level_start);
    memset(t->present_start, 0, sizeof t->present_start);
}

static bool args_ok(cube_type_t type, int part, grade_t grade)
{
    return (unsigned)type < CUBE__COUNT && part >= 0 && part < PTABLE_PART_COUNT && (unsigned)grade < GRADE__COUNT;
}

int ptable_select_level(const ptable_t *t, cube_type_t type, int part, grade_t grade, int item_level,
                        int *table_level)
{
    if (t == NULL || !t->finished || t->present == NULL || !args_ok(type, part, grade))
        return -1;
    size_t combo = combo_of(type, part, grade);
    const int *lv = t->present + t->present_start[combo];
    size_t n = t->present_start[combo + 1] - t->present_start[combo];
    if (n == 0)
        return -1;
    /* First index with lv[i] >= item_level. */
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lv[mid] < item_level)
            lo = mid + 1;
        else
            hi = mid;
    }
    int chosen;
    if (lo < n && lv[lo] == item_level)
        chosen = item_level;
    else if (lo > 0)
        chosen = lv[lo - 1]; /* the largest present level below L */
    else
        chosen = lv[0];      /* none below: the smallest one above */
    if (table_level)
        *table_level = chosen;
    return 0;
}

const ptable_group_t *ptable_group(const ptable_t *t, cube_type_t type, int level, int part, grade_t grade,
                                   int line)
{
    if (t == NULL || !t->finished || t->levels == NULL || !args_ok(type, part, grade) || line < 1 ||
        line > PTABLE_LINES)
        return NULL;
    size_t combo = combo_of(type, part, grade);
    size_t lo = t->level_start[combo], hi = t->level_start[combo + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int l = t->levels[mid].level;
        if (l == level) {
            int32_t g = t->levels[mid].group[line - 1];
            return g >= 0 ? &t->groups[g] : NULL;
        }
        if (l < level)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ptable_option_text(const ptable_t *t, uint32_t option)
{
    if (t == NULL || option >= t->nopts)
        return NULL;
    return t->text + t->opts[option].off;
}

const stat_line_t *ptable_option_stat(const ptable_t *t, uint32_t option)
{
    if (t == NULL || option >= t->nopts)
        return NULL;
    return &t->opts[option].stat;
}

bool ptable_find_option(const ptable_t *t, const char *s, size_t len, uint32_t *option)
{
    if (t == NULL || t->hashcap == 0 || (s == NULL && len != 0))
        return false;
    if (s == NULL)
        s = "";
    size_t slot = hash_slot(t, s, len, fnv1a(s, len));
    if (t->hash[slot] == 0)
        return false;
    if (option)
        *option = t->hash[slot] - 1;
    return true;
}

size_t ptable_report_anomalies(const ptable_t *t, ptable_anomaly_fn fn, void *ctx)
{
    if (t == NULL || !t->finished)
        return 0;
    size_t n = 0;
    for (size_t g = 0; g < t->ngroups; g++) {
        const ptable_group_t *gr = &t->groups[g];
        if (fabs(gr->mass - 1.0) <= PTABLE_MASS_TOL)
            continue;
        n++;
        if (fn) {
            const group_key_t *k = &t->gkeys[g];
            fn(ctx, (cube_type_t)k->type, k->level, k->part, (grade_t)k->grade, k->line, gr->mass, gr->count);
        }
    }
    return n;
}
