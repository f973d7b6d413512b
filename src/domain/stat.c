/*
 * stat.c - potential-line classification (§2.2), stated values (§2.3), contributions (§2.4),
 *   compound detection, target inference and method choice (§2.5-2.7).
 *
 * How: a line arrives as (pointer, length), UTF-8, never NUL-terminated. Matching is byte
 *   substring search on explicit lengths (find_bytes, a portable memmem), which on UTF-8 is the
 *   same as character matching. The keyword tables are scanned in the spec's order and every occurrence of a
 *   matched keyword is removed from a working copy ("rest") before the next keyword is tried,
 *   so "보스 몬스터 데미지 +35%" is BOSS_DAMAGE only: its "데미지" is gone by the time the
 *   DAMAGE keyword is tested (decision d). Removal is one left-to-right pass of non-overlapping
 *   occurrences (Java's String.replace), done in place on the copy.
 *
 * Bounds: the working copy lives in a stack buffer of STAT_STACK_LINE bytes; a longer line (no
 *   real line is longer than ~70 bytes) gets a heap copy; if that allocation fails the line is
 *   treated as unrecognised, which is the only safe answer that never reads out of bounds.
 *   Stated values saturate at ±STAT_VALUE_CAP so that a hostile "STR +99999999999%" can never
 *   overflow an int, and inference sums run in int64 (3 lines x several types x the cap fits)
 *   before being clamped back into the int fields of stat_choice_t.
 *
 * Invariants: stat_line_t.types == 0 exactly when the line is blank or unrecognised; every type
 *   of a line carries the line's single stated value.
 * Threads: no state at all (the tables are static const); every function is reentrant.
 */
#include "domain/stat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Lines up to this many bytes are classified without touching the heap. */
#define STAT_STACK_LINE 512
/* Saturation bound of a stated value (far above any real line, far below INT_MAX / 3). */
#define STAT_VALUE_CAP 1000000000

typedef struct {
    const char *kw;
    stat_type_t type;
} stat_keyword_t;

/* §2.2 PERCENT_KEYWORDS, in table order (the order matters: see the header essay). */
static const stat_keyword_t PERCENT_KEYWORDS[] = {
    {"보스 몬스터 공격 시 데미지", STAT_BOSS_DAMAGE},
    {"보스 몬스터 데미지", STAT_BOSS_DAMAGE},
    {"몬스터 방어율 무시", STAT_IGNORE_DEFENSE},
    {"크리티컬 데미지", STAT_CRITICAL_DAMAGE},
    {"아이템 드롭률", STAT_ITEM_DROP},
    {"메소 획득량", STAT_MESO_DROP},
    {"최대 HP", STAT_HP_PERCENT},
    {"STR", STAT_STR_PERCENT},
    {"DEX", STAT_DEX_PERCENT},
    {"INT", STAT_INT_PERCENT},
    {"LUK", STAT_LUK_PERCENT},
    {"올스탯", STAT_ALLSTAT_PERCENT},
    {"공격력", STAT_ATTACK_POWER_PERCENT},
    {"마력", STAT_MAGIC_POWER_PERCENT},
    {"데미지", STAT_DAMAGE},
};

/* §2.2 FLAT_KEYWORDS, in table order. */
static const stat_keyword_t FLAT_KEYWORDS[] = {
    {"재사용 대기시간", STAT_COOLDOWN_REDUCTION},
    {"최대 HP", STAT_HP},
    {"STR", STAT_STR},
    {"DEX", STAT_DEX},
    {"INT", STAT_INT},
    {"LUK", STAT_LUK},
    {"올스탯", STAT_ALL_STAT},
    {"공격력", STAT_ATTACK_POWER},
    {"마력", STAT_MAGIC_POWER},
};

/* Level-scaling lines: the first primary stat named wins (§2.2, STR, DEX, INT, LUK order). */
static const stat_keyword_t LEVEL_KEYWORDS[] = {
    {"STR", STAT_LEVEL_STR},
    {"DEX", STAT_LEVEL_DEX},
    {"INT", STAT_LEVEL_INT},
    {"LUK", STAT_LEVEL_LUK},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const TYPE_NAMES[STAT__COUNT] = {
    "STR", "DEX", "INT", "LUK", "ALL_STAT",
    "STR_PERCENT", "DEX_PERCENT", "INT_PERCENT", "LUK_PERCENT", "ALLSTAT_PERCENT",
    "ATTACK_POWER", "MAGIC_POWER", "ATTACK_POWER_PERCENT", "MAGIC_POWER_PERCENT",
    "BOSS_DAMAGE", "IGNORE_DEFENSE", "DAMAGE", "CRITICAL_DAMAGE", "COOLDOWN_REDUCTION",
    "ITEM_DROP", "MESO_DROP", "HP", "HP_PERCENT",
    "LEVEL_STR", "LEVEL_DEX", "LEVEL_INT", "LEVEL_LUK",
};

static const stat_category_t TYPE_CATEGORIES[STAT__COUNT] = {
    STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT,
    STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT,
    STAT_CAT_ATK_MAG, STAT_CAT_ATK_MAG, STAT_CAT_ATK_MAG, STAT_CAT_ATK_MAG,
    STAT_CAT_BOSS_IED, STAT_CAT_BOSS_IED, STAT_CAT_OTHER, STAT_CAT_CRIT_DMG, STAT_CAT_COOLDOWN,
    STAT_CAT_OTHER, STAT_CAT_OTHER, STAT_CAT_OTHER, STAT_CAT_OTHER,
    STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT, STAT_CAT_STAT,
};

const char *stat_type_name(stat_type_t t)
{
    if ((unsigned)t >= STAT__COUNT)
        return "UNKNOWN";
    return TYPE_NAMES[t];
}

stat_category_t stat_type_category(stat_type_t t)
{
    if ((unsigned)t >= STAT__COUNT)
        return STAT_CAT_OTHER;
    return TYPE_CATEGORIES[t];
}

/* ASCII whitespace only, like Java's trim() minus the control characters nobody sends. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool stat_text_is_blank(const char *s, size_t len)
{
    if (s == NULL)
        return true;
    size_t a = 0, b = len;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (a == b)
        return true;
    if (b - a != 4)
        return false;
    static const char NUL_TEXT[] = "null";
    for (size_t i = 0; i < 4; i++) {
        char c = s[a + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != NUL_TEXT[i])
            return false;
    }
    return true;
}

/* memmem() without _GNU_SOURCE: first occurrence of kw[0..kwlen) in s[0..len), or NULL.
 * memchr finds candidate first bytes; keywords are short, so this is fast enough. */
static const char *find_bytes(const char *s, size_t len, const char *kw, size_t kwlen)
{
    if (kwlen == 0)
        return s;
    while (len >= kwlen) {
        const char *c = memchr(s, kw[0], len - kwlen + 1);
        if (c == NULL)
            return NULL;
        if (memcmp(c, kw, kwlen) == 0)
            return c;
        len -= (size_t)(c - s) + 1;
        s = c + 1;
    }
    return NULL;
}

static bool contains(const char *s, size_t len, const char *kw)
{
    return find_bytes(s, len, kw, strlen(kw)) != NULL;
}

/* Remove every non-overlapping occurrence of kw from buf[0..*len) in place (left to right).
 * Returns whether there was at least one. */
static bool remove_all(char *buf, size_t *len, const char *kw)
{
    size_t kwlen = strlen(kw);
    size_t n = *len, r = 0, w = 0;
    bool found = false;
    while (r < n) {
        const char *hit = find_bytes(buf + r, n - r, kw, kwlen);
        if (hit == NULL)
            break;
        size_t at = (size_t)(hit - buf);
        found = true;
        memmove(buf + w, buf + r, at - r);
        w += at - r;
        r = at + kwlen;
    }
    memmove(buf + w, buf + r, n - r);
    w += n - r;
    *len = w;
    return found;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Saturating parse of the digit run starting at s[i]. */
static int digit_run(const char *s, size_t len, size_t i)
{
    long long v = 0;
    while (i < len && is_digit(s[i])) {
        if (v < STAT_VALUE_CAP)
            v = v * 10 + (s[i] - '0');
        i++;
    }
    return v > STAT_VALUE_CAP ? STAT_VALUE_CAP : (int)v;
}

int stat_line_value(const char *line, size_t len)
{
    if (line == NULL)
        return 0;
    /* 1. the last sign immediately followed by a digit */
    for (size_t i = len; i-- > 0;) {
        char c = line[i];
        if ((c == '+' || c == '-') && i + 1 < len && is_digit(line[i + 1])) {
            int v = digit_run(line, len, i + 1);
            return c == '-' ? -v : v;
        }
    }
    /* 2. the last maximal run of digits */
    for (size_t i = len; i-- > 0;) {
        if (is_digit(line[i])) {
            size_t start = i;
            while (start > 0 && is_digit(line[start - 1]))
                start--;
            return digit_run(line, len, start);
        }
    }
    return 0;
}

void stat_classify(const char *line, size_t len, stat_line_t *out)
{
    out->types = 0;
    out->value = 0;
    if (stat_text_is_blank(line, len))
        return;
    if (contains(line, len, "피격 시") || contains(line, len, "오토스틸"))
        return;
    if (contains(line, len, "캐릭터 기준") && contains(line, len, "레벨 당")) {
        for (size_t i = 0; i < ARRAY_LEN(LEVEL_KEYWORDS); i++) {
            if (contains(line, len, LEVEL_KEYWORDS[i].kw)) {
                out->types = 1u << LEVEL_KEYWORDS[i].type;
                out->value = stat_line_value(line, len);
                return;
            }
        }
        return; /* other level-scaling lines never count (decision p) */
    }

    const stat_keyword_t *list = PERCENT_KEYWORDS;
    size_t nlist = ARRAY_LEN(PERCENT_KEYWORDS);
    if (memchr(line, '%', len) == NULL) {
        list = FLAT_KEYWORDS;
        nlist = ARRAY_LEN(FLAT_KEYWORDS);
    }

    char stack_buf[STAT_STACK_LINE];
    char *rest = stack_buf;
    if (len > sizeof stack_buf) {
        rest = malloc(len);
        if (rest == NULL)
            return; /* see header: unrecognised is the safe answer */
    }
    memcpy(rest, line, len);
    size_t rest_len = len;
    uint32_t types = 0;
    for (size_t i = 0; i < nlist; i++) {
        if (remove_all(rest, &rest_len, list[i].kw))
            types |= 1u << list[i].type;
    }
    if (rest != stack_buf)
        free(rest);

    out->types = types;
    if (types != 0)
        out->value = stat_line_value(line, len);
}

static bool has_type(const stat_line_t *line, stat_type_t t) { return (line->types >> t) & 1u; }

int stat_contribution(const stat_line_t *line, stat_type_t target)
{
    if (line == NULL || (unsigned)target >= STAT__COUNT)
        return 0;
    if (has_type(line, target))
        return line->value;
    if (target >= STAT_STR_PERCENT && target <= STAT_LUK_PERCENT && has_type(line, STAT_ALLSTAT_PERCENT))
        return line->value;
    if (target >= STAT_STR && target <= STAT_LUK && has_type(line, STAT_ALL_STAT))
        return line->value;
    return 0;
}

static int clamp_int(int64_t v)
{
    if (v > INT_MAX)
        return INT_MAX;
    if (v < INT_MIN)
        return INT_MIN;
    return (int)v;
}

void stat_choose_method(const stat_line_t lines[3], stat_choice_t *out)
{
    memset(out, 0, sizeof *out);

    /* §2.5: categories of every type of every recognised line, OTHER excluded. */
    uint32_t categories = 0;
    /* §2.6: contributions per type; `present` distinguishes "absent" from "sums to 0". */
    int64_t contrib[STAT__COUNT] = {0};
    uint32_t present = 0;
    for (int k = 0; k < 3; k++) {
        const stat_line_t *ln = &lines[k];
        for (int t = 0; t < STAT__COUNT; t++) {
            if (!has_type(ln, (stat_type_t)t))
                continue;
            stat_category_t cat = TYPE_CATEGORIES[t];
            if (cat != STAT_CAT_OTHER)
                categories |= 1u << cat;
            contrib[t] += ln->value;
            present |= 1u << t;
            if (t == STAT_ALLSTAT_PERCENT) {
                for (int s = STAT_STR_PERCENT; s <= STAT_LUK_PERCENT; s++) {
                    contrib[s] += ln->value;
                    present |= 1u << s;
                }
            } else if (t == STAT_ALL_STAT) {
                for (int s = STAT_STR; s <= STAT_LUK; s++) {
                    contrib[s] += ln->value;
                    present |= 1u << s;
                }
            }
        }
    }
    present &= ~((1u << STAT_ALLSTAT_PERCENT) | (1u << STAT_ALL_STAT));
    out->compound = (categories & (categories - 1)) != 0; /* at least two bits */

    /* Best entry: strict '>' over the §2.1 order keeps the earliest type on ties. */
    int best = -1;
    int64_t total = 0;
    for (int t = 0; t < STAT__COUNT; t++) {
        if (!((present >> t) & 1u))
            continue;
        total += contrib[t];
        if (best < 0 || contrib[t] > contrib[best])
            best = t;
    }
    if (best >= 0) {
        out->best = (stat_type_t)best;
        out->best_value = clamp_int(contrib[best]);
        out->total = clamp_int(total);
        out->inference_valid = contrib[best] > 0;
        out->confidence = total > 0 ? (double)contrib[best] / (double)total : 0.0;
    }

    /* §2.7, conditions in the stated order. */
    if (out->compound || !out->inference_valid || out->confidence < 0.5) {
        out->method = CUBE_METHOD_EXACT_MATCH;
    } else {
        out->method = CUBE_METHOD_THRESHOLD;
        out->target = out->best;
        out->min_total = out->best_value;
    }
}
