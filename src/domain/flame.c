/*
 * flame.c - rebirth-flame trial counts (valuation §5, decisions g, h, i; clarifications A9, A10,
 *   A12, B5, C1): class weights, boss equipment, option score distributions, the §5.7 DP.
 *
 * What: P = probability that one flame of a kind reaches the item's flame score S; a flame takes
 *   k distinct pool options uniformly, each at an independent stage. trials = rhu_2(1 / P).
 * How: the same polynomial as the §5.7 loop, evaluated in a cheaper order (flame_evaluate runs for
 *   every item of a character, three kinds each, within a budget of about 1 ms for all of them):
 *   - options scoring {0: 1} (DEF, LEVEL_REDUCE, SPEED, JUMP, zero-weight stats: about half the
 *     pool) stay out of the DP; with Z of them dp[k][T] = sum_j dpNZ[j][T] * C(Z, k - j);
 *   - S above the best roll (the maxK largest option maxima) is P = 0 without any DP;
 *   - scores and T are divided by g = gcd(all nonzero scores), T' = ceil(T / g): sums are
 *     multiples of g, so "sum >= T" is the same event (데몬어벤져 scores share a factor ~1500);
 *   - rows are updated in place, rows descending, one vector axpy per stage value (fused where
 *     all values apply); mass clamped into cell T is added as p * (tail sum of the source row),
 *     tails by pairwise summation;
 *   - options run by descending maximum, and a cell is dropped for good once the best remaining
 *     options cannot lift it to T (the sample earring touches ~1/8 of the options x rows x T cells);
 *   - the DP is compiled twice, for baseline x86-64 (SSE2) and AVX2, picked at run time; both do
 *     the same per-element operations in the same order and give bit-identical results (-D
 *     FLAME_AVX2=0 builds only the baseline).
 *   Every sum is of nonnegative terms, so the reordering moves results by a few ulps only; the
 *   unit tests hold it to 1e-12 of a verbatim transcription of the spec's loop.
 * Invariants: option scores are >= 0 (negative bases/levels clamp to 0, products saturate at
 *   SCORE_CAP, sums saturate in int64); T' <= FLAME_MAX_TARGET is checked before allocating.
 * Threads: pure and reentrant; scratch is a stack buffer or one malloc per call, freed before
 *   returning; file-scope data is `static const` only.
 */
#include "domain/flame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------- */
/* Class weights (§5.1)                                                                            */

#define W_MAIN 10     /* weight of the class's main stat (scale: 10 per stat point) */
#define W_SUB 1       /* weight of each sub stat */
#define W_ALL 100     /* all-stat % */
#define W_ATT 40      /* attack / magic attack */
#define W_DMG 140     /* damage % */
#define W_BOSS 140    /* boss damage % */
#define W_DA_HP 10    /* 데몬어벤져: max HP */
#define W_DA_ATT 1500 /* 데몬어벤져: attack */

typedef enum {
    CG_STR_DEX, /* also the default for any other or blank class */
    CG_DEX_STR,
    CG_INT_LUK,
    CG_LUK_DEX,
    CG_LUK_STR_DEX, /* two sub stats */
    CG_XENON,
    CG_DEMON_AVENGER,
} class_group_t;

typedef struct {
    const char *name; /* UTF-8, exact */
    size_t len;
    class_group_t group;
} class_row_t;

#define CLS(s, g) {s, sizeof(s) - 1, g}

static const class_row_t CLASS_TABLE[] = {
    CLS("히어로", CG_STR_DEX), CLS("팔라딘", CG_STR_DEX), CLS("다크나이트", CG_STR_DEX),
    CLS("소울마스터", CG_STR_DEX), CLS("미하일", CG_STR_DEX), CLS("블래스터", CG_STR_DEX),
    CLS("데몬슬레이어", CG_STR_DEX), CLS("아란", CG_STR_DEX), CLS("아델", CG_STR_DEX),
    CLS("카이저", CG_STR_DEX), CLS("제로", CG_STR_DEX), CLS("바이퍼", CG_STR_DEX),
    CLS("캐논슈터", CG_STR_DEX), CLS("스트라이커", CG_STR_DEX), CLS("아크", CG_STR_DEX),
    CLS("은월", CG_STR_DEX), CLS("제트", CG_STR_DEX),
    CLS("보우마스터", CG_DEX_STR), CLS("신궁", CG_DEX_STR), CLS("패스파인더", CG_DEX_STR),
    CLS("윈드브레이커", CG_DEX_STR), CLS("와일드헌터", CG_DEX_STR), CLS("카인", CG_DEX_STR),
    CLS("메르세데스", CG_DEX_STR), CLS("캡틴", CG_DEX_STR), CLS("메카닉", CG_DEX_STR),
    CLS("엔젤릭버스터", CG_DEX_STR),
    CLS("아크메이지(불,독)", CG_INT_LUK), CLS("아크메이지(썬,콜)", CG_INT_LUK), CLS("비숍", CG_INT_LUK),
    CLS("플레임위자드", CG_INT_LUK), CLS("에반", CG_INT_LUK), CLS("루미너스", CG_INT_LUK),
    CLS("키네시스", CG_INT_LUK), CLS("일리움", CG_INT_LUK), CLS("라라", CG_INT_LUK),
    CLS("이벤져", CG_INT_LUK), CLS("리엔", CG_INT_LUK),
    CLS("나이트로드", CG_LUK_DEX), CLS("나이트워커", CG_LUK_DEX), CLS("팬텀", CG_LUK_DEX),
    CLS("칼리", CG_LUK_DEX), CLS("호영", CG_LUK_DEX),
    CLS("섀도어", CG_LUK_STR_DEX), CLS("듀얼블레이드", CG_LUK_STR_DEX), CLS("카데나", CG_LUK_STR_DEX),
    CLS("제논", CG_XENON),
    CLS("데몬어벤져", CG_DEMON_AVENGER),
};

static bool text_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool text_starts(const char *a, size_t alen, const char *prefix, size_t plen)
{
    return alen >= plen && memcmp(a, prefix, plen) == 0;
}

void flame_weights_for_class(const char *cls, size_t len, flame_weights_t *out)
{
    class_group_t group = CG_STR_DEX;
    if (cls != NULL) {
        for (size_t i = 0; i < COUNT_OF(CLASS_TABLE); i++) {
            if (text_eq(cls, len, CLASS_TABLE[i].name, CLASS_TABLE[i].len)) {
                group = CLASS_TABLE[i].group;
                break;
            }
        }
    }
    *out = (flame_weights_t){.all = W_ALL, .att = W_ATT, .mag = W_ATT, .dmg = W_DMG, .boss = W_BOSS};
    switch (group) {
    case CG_STR_DEX:
        out->str = W_MAIN;
        out->dex = W_SUB;
        break;
    case CG_DEX_STR:
        out->dex = W_MAIN;
        out->str = W_SUB;
        break;
    case CG_INT_LUK:
        out->int_ = W_MAIN;
        out->luk = W_SUB;
        break;
    case CG_LUK_DEX:
        out->luk = W_MAIN;
        out->dex = W_SUB;
        break;
    case CG_LUK_STR_DEX:
        out->luk = W_MAIN;
        out->str = W_SUB;
        out->dex = W_SUB;
        break;
    case CG_XENON: /* STR, DEX and LUK are all main stats; INT is unused */
        out->str = W_MAIN;
        out->dex = W_MAIN;
        out->luk = W_MAIN;
        break;
    case CG_DEMON_AVENGER: /* HP is the main stat; only attack counts besides it */
        *out = (flame_weights_t){.hp = W_DA_HP, .att = W_DA_ATT};
        break;
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Boss equipment (§5.2)                                                                           */

typedef struct {
    const char *text;
    size_t len;
} lit_t;

#define LIT(s) {s, sizeof(s) - 1}

static const lit_t BOSS_WEAPON_PREFIX[] = {
    LIT("자쿰의 포이즈닉"), LIT("네크로"), LIT("로얄 반 레온"), LIT("라이온하트"), LIT("드래곤테일"),
    LIT("팔콘윙"), LIT("레이븐혼"), LIT("샤크투스"), LIT("파프니르"), LIT("앱솔랩스"),
    LIT("아케인셰이드"), LIT("제네시스"), LIT("데스티니"),
};

static const lit_t BOSS_ARMOR_PREFIX[] = {
    LIT("네크로"), LIT("로얄 반 레온"), LIT("라이온하트"), LIT("드래곤테일"), LIT("팔콘윙"),
    LIT("레이븐혼"), LIT("샤크투스"), LIT("이글아이"), LIT("트릭스터"), LIT("하이네스"),
    LIT("앱솔랩스"), LIT("아케인셰이드"), LIT("에테르넬"),
};

static const lit_t BOSS_ARMOR_NAME[] = {
    LIT("아쿠아틱 레터 눈장식"), LIT("블랙빈 마크"), LIT("파풀라투스 마크"), LIT("응축된 힘의 결정석"),
    LIT("골든 클로버 벨트"), LIT("분노한 자쿰의 벨트"), LIT("매커네이터 펜던트"), LIT("도미네이터 펜던트"),
    LIT("데아 시두스 이어링"), LIT("지옥의 불꽃"), LIT("핑크빛 성배"), LIT("트와일라이트 마크"),
    LIT("에스텔라 이어링"), LIT("데이브레이크 펜던트"), LIT("루즈 컨트롤 머신 마크"), LIT("마력이 깃든 안대"),
    LIT("몽환의 벨트"), LIT("고통의 근원"), LIT("커맨더 포스 이어링"), LIT("저주받은 적의 마도서"),
    LIT("죽음의 맹세"), LIT("불멸의 유산"), LIT("오만의 원죄"),
};

static const lit_t CLASS_ZERO = LIT("제로");

static bool any_prefix(const char *name, size_t len, const lit_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (text_starts(name, len, list[i].text, list[i].len))
            return true;
    return false;
}

bool flame_is_boss(const char *name, size_t name_len, bool weapon, const char *cls, size_t cls_len)
{
    if (name == NULL)
        return false;
    if (weapon) {
        /* 제로 weapons are upgraded along a fixed line, never dropped by bosses. */
        if (cls != NULL && text_eq(cls, cls_len, CLASS_ZERO.text, CLASS_ZERO.len))
            return false;
        return any_prefix(name, name_len, BOSS_WEAPON_PREFIX, COUNT_OF(BOSS_WEAPON_PREFIX));
    }
    if (any_prefix(name, name_len, BOSS_ARMOR_PREFIX, COUNT_OF(BOSS_ARMOR_PREFIX)))
        return true;
    for (size_t i = 0; i < COUNT_OF(BOSS_ARMOR_NAME); i++)
        if (text_eq(name, name_len, BOSS_ARMOR_NAME[i].text, BOSS_ARMOR_NAME[i].len))
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------- */
/* Saturating int64 arithmetic: hostile payloads (huge coerced integers) must not reach UB.       */

/* Largest option score kept: four of them still add up without overflow. */
#define SCORE_CAP (INT64_MAX / 8)

static int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
    return r;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return a < 0 ? INT64_MIN : INT64_MAX;
    return r;
}

int64_t flame_target_score(const flame_weights_t *w, const flame_stats_t *s)
{
    const int64_t terms[][2] = {
        {s->str, w->str},          {s->dex, w->dex},      {s->int_, w->int_},
        {s->luk, w->luk},          {s->max_hp, w->hp},    {s->all_stat, w->all},
        {s->attack_power, w->att}, {s->magic_power, w->mag}, {s->damage, w->dmg},
        {s->boss_damage, w->boss},
    };
    int64_t sum = 0;
    for (size_t i = 0; i < COUNT_OF(terms); i++)
        sum = sat_add(sum, sat_mul(terms[i][0], terms[i][1]));
    return sum;
}

/* ---------------------------------------------------------------------------------------------- */
/* Option pool (§5.4), stage probabilities (§5.3), value table (§5.5), option scores (§5.6)       */

typedef enum {
    OPT_STR, OPT_DEX, OPT_INT, OPT_LUK,
    OPT_STR_DEX, OPT_STR_INT, OPT_STR_LUK, OPT_DEX_INT, OPT_DEX_LUK, OPT_INT_LUK,
    OPT_MAX_HP, OPT_MAX_MP, OPT_LEVEL_REDUCE, OPT_DEF,
    OPT_ATT, OPT_MAG, OPT_BOSS, OPT_DMG, OPT_ALLSTAT,
    OPT_SPEED, OPT_JUMP,
    OPT__COUNT
} option_id_t;

#define WEAPON_POOL_SIZE 19 /* the non-weapon pool minus SPEED and JUMP */

static const char *const POOL_NAMES[OPT__COUNT] = {
    "STR", "DEX", "INT", "LUK",
    "STR_DEX", "STR_INT", "STR_LUK", "DEX_INT", "DEX_LUK", "INT_LUK",
    "MAX_HP", "MAX_MP", "LEVEL_REDUCE", "DEF",
    "ATT", "MAG", "BOSS_DMG_PCT", "DMG_PCT", "ALLSTAT_PCT",
    "SPEED", "JUMP",
};

_Static_assert(OPT__COUNT == FLAME_POOL_MAX, "non-weapon pool is the whole option list");

size_t flame_pool(bool weapon, const char *const **names)
{
    if (names != NULL)
        *names = POOL_NAMES;
    return weapon ? WEAPON_POOL_SIZE : OPT__COUNT;
}

#define STAGE_MAX 7       /* stages are 1..7 */
#define STAGE_KIND_MAX 4  /* a flame kind has at most 4 stages */
#define BOSS_STAGE_SHIFT 2 /* boss items roll every stage two higher (§5.3) */

typedef struct {
    int first; /* lowest stage for non-boss equipment */
    int count;
    double p[STAGE_KIND_MAX];
} stage_row_t;

static const stage_row_t STAGES[FLAME__COUNT] = {
    [FLAME_POWERFUL] = {1, 4, {0.20, 0.30, 0.36, 0.14}},
    [FLAME_ETERNAL] = {2, 4, {0.29, 0.45, 0.25, 0.01}},
    [FLAME_ABYSS] = {3, 3, {0.63, 0.34, 0.03}},
};

/* Value categories that can score (DEF, LEVEL_REDUCE, SPEED and JUMP always score 0, §5.6, so
 * their table columns are not needed). */
typedef enum { VC_STAT, VC_COMBO, VC_HPMP, VC_ATTMAG, VC_ALLSTAT, VC_DMG, VC_BOSS, VC__COUNT } value_cat_t;

#define LIN(b) {(b), 2 * (b), 3 * (b), 4 * (b), 5 * (b), 6 * (b), 7 * (b)}
#define BOSS_OLD {2, 4, 6, 8, 10, 6, 7} /* the table's own non-linear boss row (stages 6, 7 as given) */
#define ZERO7 {0, 0, 0, 0, 0, 0, 0}

typedef struct {
    int level; /* bucket lower bound */
    int v[VC__COUNT][STAGE_MAX];
} value_row_t;

/* §5.5 with gap completion (decision g): the "Completed rows" table is used for 160/170/180. */
static const value_row_t VALUE_TABLE[] = {
    {250, {LIN(12), LIN(7), LIN(700), LIN(1), LIN(1), LIN(1), BOSS_OLD}},
    {200, {LIN(11), LIN(6), LIN(600), LIN(1), LIN(1), LIN(1), LIN(2)}},
    {180, {LIN(10), LIN(5), LIN(540), {11, 23, 38, 56, 76, 0, 0}, LIN(1), LIN(1), LIN(2)}},
    {170, {LIN(9), LIN(5), LIN(510), {9, 20, 32, 47, 64, 0, 0}, LIN(1), LIN(1), LIN(2)}},
    {160, {LIN(9), LIN(5), LIN(480), LIN(1), LIN(1), ZERO7, ZERO7}},
    {150, {LIN(8), LIN(4), LIN(450), LIN(1), LIN(1), LIN(1), BOSS_OLD}},
    {140, {LIN(8), LIN(4), LIN(420), LIN(1), LIN(1), LIN(1), BOSS_OLD}},
    {130, {LIN(7), LIN(4), LIN(390), LIN(1), LIN(1), LIN(1), BOSS_OLD}},
    {120, {LIN(7), LIN(4), LIN(360), LIN(1), LIN(1), LIN(1), BOSS_OLD}},
    {110, {LIN(6), LIN(3), LIN(330), LIN(1), LIN(1), LIN(1), BOSS_OLD}},
    {100, {LIN(6), LIN(3), LIN(300), LIN(1), LIN(1), LIN(1), BOSS_OLD}}, /* also every level below */
};

static const value_row_t *value_row(int level)
{
    for (size_t i = 0; i + 1 < COUNT_OF(VALUE_TABLE); i++)
        if (level >= VALUE_TABLE[i].level)
            return &VALUE_TABLE[i];
    return &VALUE_TABLE[COUNT_OF(VALUE_TABLE) - 1];
}

#define WEAPON_LEVEL_STEP 40   /* floor(L/40) + 1 */
#define WEAPON_ATT_DIVISOR 1000 /* /100 (percent) and /10 (the (s+7)/10 factor) */
#define WEAPON_ATT_STAGE_OFFSET 7 /* 1 + 0.1 (s - 3) = (s + 7) / 10 */

int64_t flame_weapon_att_value(int base, int level, int stage)
{
    /* Negative bases or levels do not occur in API data; clamping keeps the value monotone. */
    int64_t b = base < 0 ? 0 : base;
    int64_t l = level < 0 ? 0 : level;
    int64_t s = stage < 0 ? 0 : stage;
    int64_t x = sat_mul(b, l / WEAPON_LEVEL_STEP + 1);
    x = sat_mul(x, s);
    x = sat_mul(x, s + WEAPON_ATT_STAGE_OFFSET);
    return x / WEAPON_ATT_DIVISOR;
}

static int64_t clamp_score(int64_t x)
{
    if (x < 0)
        return 0;
    return x > SCORE_CAP ? SCORE_CAP : x;
}

/* Score of pool option `opt` at stage `s` (§5.6). */
static int64_t option_score(const flame_weights_t *w, const flame_item_t *item, const value_row_t *row,
                            option_id_t opt, int s)
{
    int i = s - 1;
    int64_t stat = row->v[VC_STAT][i], combo = row->v[VC_COMBO][i];
    switch (opt) {
    case OPT_STR: return clamp_score(sat_mul(stat, w->str));
    case OPT_DEX: return clamp_score(sat_mul(stat, w->dex));
    case OPT_INT: return clamp_score(sat_mul(stat, w->int_));
    case OPT_LUK: return clamp_score(sat_mul(stat, w->luk));
    case OPT_STR_DEX: return clamp_score(sat_add(sat_mul(combo, w->str), sat_mul(combo, w->dex)));
    case OPT_STR_INT: return clamp_score(sat_add(sat_mul(combo, w->str), sat_mul(combo, w->int_)));
    case OPT_STR_LUK: return clamp_score(sat_add(sat_mul(combo, w->str), sat_mul(combo, w->luk)));
    case OPT_DEX_INT: return clamp_score(sat_add(sat_mul(combo, w->dex), sat_mul(combo, w->int_)));
    case OPT_DEX_LUK: return clamp_score(sat_add(sat_mul(combo, w->dex), sat_mul(combo, w->luk)));
    case OPT_INT_LUK: return clamp_score(sat_add(sat_mul(combo, w->int_), sat_mul(combo, w->luk)));
    case OPT_MAX_HP: return clamp_score(sat_mul(row->v[VC_HPMP][i], w->hp));
    case OPT_MAX_MP: return clamp_score(sat_mul(row->v[VC_HPMP][i], w->mp));
    case OPT_ATT:
        if (item->weapon)
            return clamp_score(sat_mul(w->att, flame_weapon_att_value(item->base_att, item->level, s)));
        return clamp_score(sat_mul(row->v[VC_ATTMAG][i], w->att));
    case OPT_MAG:
        if (item->weapon)
            return clamp_score(sat_mul(w->mag, flame_weapon_att_value(item->base_mag, item->level, s)));
        return clamp_score(sat_mul(row->v[VC_ATTMAG][i], w->mag));
    case OPT_BOSS:
        if (item->weapon)
            return clamp_score(sat_mul(2 * (int64_t)s, w->boss));
        return clamp_score(sat_mul(row->v[VC_BOSS][i], w->boss));
    case OPT_DMG: return clamp_score(sat_mul(row->v[VC_DMG][i], w->dmg));
    case OPT_ALLSTAT: return clamp_score(sat_mul(row->v[VC_ALLSTAT][i], w->all));
    case OPT_LEVEL_REDUCE:
    case OPT_DEF:
    case OPT_SPEED:
    case OPT_JUMP:
    case OPT__COUNT: break;
    }
    return 0;
}

/* Every pool option's score at every stage the item can roll (boss: 3..7, else 1..5), computed once
 * per item and shared by the three kinds. */
#define STAGE_SPAN 5 /* stages any kind can roll on one item: first..first+4 */

typedef struct {
    int n;          /* pool size */
    int first;      /* stage of column 0 */
    bool boss;
    int64_t score[FLAME_POOL_MAX][STAGE_SPAN];
} score_table_t;

static void score_table(const flame_weights_t *w, const flame_item_t *item, score_table_t *tab)
{
    const value_row_t *row = value_row(item->level);
    tab->n = (int)flame_pool(item->weapon, NULL);
    tab->boss = item->boss;
    tab->first = 1 + (item->boss ? BOSS_STAGE_SHIFT : 0);
    for (int o = 0; o < tab->n; o++)
        for (int c = 0; c < STAGE_SPAN; c++)
            tab->score[o][c] = option_score(w, item, row, (option_id_t)o, tab->first + c);
}

/* q[score] += P(stage) over the kind's stages, merged and ascending (§5.6). */
static void table_dist(const score_table_t *tab, int option, flame_kind_t kind, flame_dist_t *out)
{
    const stage_row_t *st = &STAGES[kind];
    int col0 = st->first - 1; /* column of the kind's first stage (boss shift is in tab->first) */
    out->count = 0;
    for (int k = 0; k < st->count; k++) {
        int64_t v = tab->score[option][col0 + k];
        double p = st->p[k];
        int pos = 0; /* insertion into at most 4 entries */
        while (pos < out->count && out->score[pos] < v)
            pos++;
        if (pos < out->count && out->score[pos] == v) {
            out->prob[pos] += p;
            continue;
        }
        for (int m = out->count; m > pos; m--) {
            out->score[m] = out->score[m - 1];
            out->prob[m] = out->prob[m - 1];
        }
        out->score[pos] = v;
        out->prob[pos] = p;
        out->count++;
    }
}

void flame_option_dist(const flame_weights_t *w, const flame_item_t *item, size_t option, flame_kind_t kind,
                       flame_dist_t *out)
{
    out->count = 0;
    if (option >= flame_pool(item->weapon, NULL) || (unsigned)kind >= FLAME__COUNT)
        return;
    score_table_t tab;
    score_table(w, item, &tab);
    table_dist(&tab, (int)option, kind, out);
}

/* ---------------------------------------------------------------------------------------------- */
/* The §5.7 DP                                                                                     */

#define FLAME_ROWS 4 /* a flame rolls at most 4 options */
/* Stack scratch up to this many doubles (32 KiB); larger targets take one malloc per call. */
#define STACK_SCRATCH_DOUBLES 4096
/* Terms per leaf of the pairwise summation (summed in SUM_LANES plain lanes; a tree above). */
#define PAIRWISE_LEAF 256

/* One nonzero option, scores divided by the gcd and capped at the (scaled) target. */
typedef struct {
    int32_t v[FLAME_DIST_MAX];
    double p[FLAME_DIST_MAX];
    int count;
    int32_t vmax;
} tap_t;

/* Everything about one (item, kind) the DP needs, computed without allocating. */
typedef struct {
    bool boss;
    int n;        /* pool size N */
    int zero;     /* Z: options scoring 0 at every stage */
    int nnz;      /* options with some nonzero score */
    int maxk;     /* §5.7 maxK */
    int64_t gcd;
    int64_t max_reach; /* sum of the maxK largest option maxima */
    int32_t width;     /* scaled target T' = ceil(T / gcd); DP rows have width + 1 cells */
    tap_t taps[FLAME_POOL_MAX];
} plan_t;

typedef enum { PLAN_DP, PLAN_UNREACHABLE, PLAN_CERTAIN, PLAN_OUT_OF_RANGE } plan_kind_t;

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static plan_kind_t make_plan(const score_table_t *tab, flame_kind_t kind, int64_t target, plan_t *pl)
{
    flame_dist_t dist[FLAME_POOL_MAX];
    int64_t top[FLAME_ROWS] = {0, 0, 0, 0}; /* largest option maxima, descending */
    pl->boss = tab->boss;
    pl->n = tab->n;
    pl->maxk = pl->boss ? FLAME_ROWS : (pl->n < FLAME_ROWS ? pl->n : FLAME_ROWS);
    pl->zero = 0;
    pl->nnz = 0;
    pl->gcd = 0;
    pl->width = 0;
    int nzi[FLAME_POOL_MAX];
    for (int o = 0; o < pl->n; o++) {
        table_dist(tab, o, kind, &dist[o]);
        int64_t vmax = dist[o].score[dist[o].count - 1];
        if (vmax == 0) {
            pl->zero++;
            continue;
        }
        nzi[pl->nnz++] = o;
        for (int k = 0; k < dist[o].count && pl->gcd != 1; k++)
            pl->gcd = gcd64(dist[o].score[k], pl->gcd);
        for (int r = 0; r < FLAME_ROWS; r++) {
            if (vmax > top[r]) {
                for (int m = FLAME_ROWS - 1; m > r; m--)
                    top[m] = top[m - 1];
                top[r] = vmax;
                break;
            }
        }
    }
    pl->max_reach = 0;
    for (int r = 0; r < pl->maxk; r++)
        pl->max_reach += top[r]; /* each <= SCORE_CAP: no overflow */
    if (target <= 0)
        return PLAN_CERTAIN;
    if ((pl->boss && pl->n < FLAME_ROWS) || target > pl->max_reach)
        return PLAN_UNREACHABLE;
    int64_t width = (target + pl->gcd - 1) / pl->gcd; /* max_reach > 0 here, so gcd >= 1 */
    if (width > FLAME_MAX_TARGET)
        return PLAN_OUT_OF_RANGE;
    pl->width = (int32_t)width;
    for (int i = 0; i < pl->nnz; i++) {
        const flame_dist_t *d = &dist[nzi[i]];
        tap_t *tp = &pl->taps[i];
        tp->count = d->count;
        for (int k = 0; k < d->count; k++) {
            int64_t v = d->score[k] / pl->gcd;
            tp->v[k] = (int32_t)(v > width ? width : v); /* every score >= T lands in cell T */
            tp->p[k] = d->prob[k];
        }
        tp->vmax = tp->v[d->count - 1];
    }
    return PLAN_DP;
}

/* Vector kernels. -O2 does not auto-vectorise loops with a runtime trip count, and the DP is
 * nothing but such loops, so they use GCC/Clang vector types explicitly: two 2-lane vectors per
 * step on baseline x86-64 (SSE2), one 4-lane vector in the AVX2 build of the DP (see dp_nonzero).
 * Both widths perform the same operations in the same order per element, so the two builds give
 * bit-identical results (no FMA: products are rounded before they are added, as in C).
 * Vectors are never passed by value (that would tie the code to one ABI); unaligned access goes
 * through memcpy. */
typedef double vec2 __attribute__((vector_size(2 * sizeof(double))));
typedef double vec4 __attribute__((vector_size(4 * sizeof(double))));
#define VEC_STEP 4 /* doubles per vector step: one vec4 or two vec2 */
#define SUM_LANES 16 /* independent partial sums in pairwise_sum */
#define LOADV(v, p) memcpy(&(v), (p), sizeof(v))
#define STOREV(p, v) memcpy((p), &(v), sizeof(v))
/* Kernels are inlined into each build of the DP and specialised on `wide` there. */
#define KERNEL static inline __attribute__((always_inline))

/* Build the AVX2 variant of the DP (x86-64 with GCC/Clang); -DFLAME_AVX2=0 keeps only the baseline. */
#ifndef FLAME_AVX2
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FLAME_AVX2 1
#else
#define FLAME_AVX2 0
#endif
#endif

/* y[i] += a * x[i] for i < n. Rows never alias (distinct rows of the scratch). */
KERNEL void axpy(double *restrict y, const double *restrict x, double a, size_t n, bool wide)
{
    size_t i = 0;
    if (wide) {
        vec4 av = {a, a, a, a}, xv, yv;
        for (; i + VEC_STEP <= n; i += VEC_STEP) {
            LOADV(xv, x + i);
            LOADV(yv, y + i);
            yv += av * xv;
            STOREV(y + i, yv);
        }
    } else {
        vec2 av = {a, a}, x0, x1, y0, y1;
        for (; i + VEC_STEP <= n; i += VEC_STEP) {
            LOADV(x0, x + i);
            LOADV(x1, x + i + 2);
            LOADV(y0, y + i);
            LOADV(y1, y + i + 2);
            y0 += av * x0;
            y1 += av * x1;
            STOREV(y + i, y0);
            STOREV(y + i + 2, y1);
        }
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* Sum of p[0..len), len <= PAIRWISE_LEAF, in SUM_LANES independent lanes (lane j takes every
 * SUM_LANES-th term; independent chains hide the add latency), folded in a fixed tree, then 4
 * lanes for the rest of the vector steps, then the scalar tail. Both widths fold the same lanes
 * in the same order. */
KERNEL double leaf_sum(const double *p, size_t len, bool wide)
{
    size_t i = 0;
    double leaf;
    if (wide) {
        vec4 a[4] = {{0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0}};
        for (; i + SUM_LANES <= len; i += SUM_LANES) {
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                vec4 xv;
                LOADV(xv, p + i + 4 * q);
                a[q] += xv;
            }
        }
        a[0] += a[2]; /* lane j += lane j + 8 */
        a[1] += a[3];
        a[0] += a[1]; /* lane j += lane j + 4 */
        for (; i + VEC_STEP <= len; i += VEC_STEP) {
            vec4 xv;
            LOADV(xv, p + i);
            a[0] += xv;
        }
        leaf = (a[0][0] + a[0][2]) + (a[0][1] + a[0][3]);
    } else {
        vec2 b[8] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}};
        for (; i + SUM_LANES <= len; i += SUM_LANES) {
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++) {
                vec2 xv;
                LOADV(xv, p + i + 2 * q);
                b[q] += xv;
            }
        }
        for (int q = 0; q < 4; q++) /* lanes as above: b[q] holds lanes 2q, 2q + 1 */
            b[q] += b[q + 4];
        b[0] += b[2];
        b[1] += b[3];
        for (; i + VEC_STEP <= len; i += VEC_STEP) {
            vec2 xv;
            LOADV(xv, p + i);
            b[0] += xv;
            LOADV(xv, p + i + 2);
            b[1] += xv;
        }
        leaf = (b[0][0] + b[1][0]) + (b[0][1] + b[1][1]);
    }
    for (; i < len; i++)
        leaf += p[i];
    return leaf;
}

/* Sum of x[0..n) by pairwise summation: nonnegative terms, relative error O(log n) ulps rather
 * than the O(n) of one running sum. Leaves of PAIRWISE_LEAF terms are combined as a balanced
 * binary tree (a binary counter) without recursion. */
KERNEL double pairwise_sum(const double *x, size_t n, bool wide)
{
    if (n <= PAIRWISE_LEAF) /* the common case: one leaf */
        return leaf_sum(x, n, wide);
    double level[64]; /* one partial sum per set bit of the leaf count: 64 bits suffice */
    size_t count = 0, nleaf = 0;
    for (size_t off = 0; off < n; off += PAIRWISE_LEAF) {
        double leaf = leaf_sum(x + off, n - off < PAIRWISE_LEAF ? n - off : PAIRWISE_LEAF, wide);
        nleaf++;
        for (size_t bit = nleaf; (bit & 1) == 0; bit >>= 1)
            leaf = level[--count] + leaf;
        level[count++] = leaf;
    }
    double sum = level[--count];
    while (count > 0)
        sum = level[--count] + sum;
    return sum;
}

/* dst[t] += sum_k p_k * src[t - v_k] for t in [t0, t1], every tap valid on the whole range: one
 * pass over dst instead of one per tap. `m` is a constant after inlining (see conv_taps). */
KERNEL void conv_run(double *restrict dst, const double *restrict src, const tap_t *o, int m, int32_t t0,
                     int32_t t1, bool wide)
{
    /* Local copies: stores through d cannot alias them, so the loads and broadcasts of the
     * probabilities are hoisted out of the loop. */
    const double *s[FLAME_DIST_MAX];
    double pr[FLAME_DIST_MAX];
    for (int k = 0; k < m; k++) {
        s[k] = src + (t0 - o->v[k]);
        pr[k] = o->p[k];
    }
    double *d = dst + t0;
    size_t n = (size_t)(t1 - t0 + 1), i = 0;
    if (wide) {
        for (; i + VEC_STEP <= n; i += VEC_STEP) {
            vec4 acc = {0.0, 0.0, 0.0, 0.0}, xv, dv;
#pragma GCC unroll 8
            for (int k = 0; k < m; k++) { /* broadcasts are loop-invariant: hoisted */
                vec4 pk = {pr[k], pr[k], pr[k], pr[k]};
                LOADV(xv, s[k] + i);
                acc = k == 0 ? pk * xv : acc + pk * xv;
            }
            LOADV(dv, d + i);
            dv += acc;
            STOREV(d + i, dv);
        }
    } else {
        for (; i + VEC_STEP <= n; i += VEC_STEP) {
            vec2 a0 = {0.0, 0.0}, a1 = {0.0, 0.0}, x0, x1, d0, d1;
#pragma GCC unroll 8
            for (int k = 0; k < m; k++) {
                vec2 pk = {pr[k], pr[k]};
                LOADV(x0, s[k] + i);
                LOADV(x1, s[k] + i + 2);
                a0 = k == 0 ? pk * x0 : a0 + pk * x0;
                a1 = k == 0 ? pk * x1 : a1 + pk * x1;
            }
            LOADV(d0, d + i);
            LOADV(d1, d + i + 2);
            d0 += a0;
            d1 += a1;
            STOREV(d + i, d0);
            STOREV(d + i + 2, d1);
        }
    }
    for (; i < n; i++) {
        double acc = pr[0] * s[0][i];
        for (int k = 1; k < m; k++)
            acc += pr[k] * s[k][i];
        d[i] += acc;
    }
}

KERNEL void conv_taps(double *restrict dst, const double *restrict src, const tap_t *o, int32_t t0, int32_t t1,
                      bool wide)
{
    switch (o->count) {
    case 1: conv_run(dst, src, o, 1, t0, t1, wide); break;
    case 2: conv_run(dst, src, o, 2, t0, t1, wide); break;
    case 3: conv_run(dst, src, o, 3, t0, t1, wide); break;
    case 4: conv_run(dst, src, o, 4, t0, t1, wide); break;
    default: conv_run(dst, src, o, o->count, t0, t1, wide); break;
    }
}

/* Zero the newly reachable cells (hi, nh] of a row before they are first written; cells below the
 * live floor `lo` are never read or written again, so they are skipped. */
KERNEL void grow(double *row, int32_t *hi, int32_t lo, int32_t nh)
{
    if (nh > *hi) {
        int32_t from = *hi + 1 > lo ? *hi + 1 : lo;
        if (from <= nh)
            memset(row + from, 0, (size_t)(nh - from + 1) * sizeof *row);
        *hi = nh;
    }
}

/* rem[i][m]: sum of the m largest maxima among the options processed after step i (m <= rows). */
static void remaining_best(const plan_t *pl, const int *ord, int rows, int64_t rem[][FLAME_ROWS + 1])
{
    int32_t best[FLAME_ROWS] = {0, 0, 0, 0}; /* descending */
    for (int i = pl->nnz - 1; i >= 0; i--) {
        rem[i][0] = 0;
        for (int m = 1; m <= rows; m++)
            rem[i][m] = rem[i][m - 1] + best[m - 1];
        int32_t v = pl->taps[ord[i]].vmax;
        for (int r = 0; r < FLAME_ROWS; r++) {
            if (v > best[r]) {
                for (int m = FLAME_ROWS - 1; m > r; m--)
                    best[m] = best[m - 1];
                best[r] = v;
                break;
            }
        }
    }
}

/*
 * dpNZ[j][T'] for j = 1..rows over the nonzero options, processed in the order `ord` (§5.7 with
 * the zero options left out). `scratch` holds rows * (T' + 1) doubles: rows 1..rows (row 0 is the
 * point mass at 0), cell T' absorbing as in the spec.
 *
 * Row r is updated in place from row r - 1, rows descending, as in the spec's `next` copy. For
 * each stage value v: dst[t + v] += p * src[t] while t + v < T' (one axpy per v, or one fused pass
 * where all of them apply), and dst[T'] += p * (src[T' - v] + ... + src[T']) for the clamped part.
 * Windows: cells above hi[r] (the largest reachable score) are zero; cells below lo[r] can no
 * longer reach T' with the options still to come (the best rows - r of them) and are never
 * touched again. A live target never needs a dead source, because the source's floor is lower by
 * at least the current option's maximum.
 */
KERNEL void dp_body(const plan_t *pl, const int *ord, int rows, double *scratch, double out[FLAME_ROWS + 1],
                    bool wide)
{
    const int32_t T = pl->width;
    const size_t stride = (size_t)T + 1;
    int32_t lo[FLAME_ROWS + 1], hi[FLAME_ROWS + 1];
    for (int r = 0; r <= FLAME_ROWS; r++) {
        lo[r] = 0;
        hi[r] = -1;
        out[r] = 0.0;
    }
    int64_t rem[FLAME_POOL_MAX][FLAME_ROWS + 1];
    remaining_best(pl, ord, rows, rem);

    for (int i = 0; i < pl->nnz; i++) {
        const tap_t *o = &pl->taps[ord[i]];
        int rtop = i + 1 < rows ? i + 1 : rows;
        for (int r = rtop; r >= 1; r--) {
            int64_t reach = rem[i][rows - r];
            int32_t newlo = reach >= T ? 0 : (int32_t)(T - reach);
            double *dst = scratch + (size_t)(r - 1) * stride;
            if (r == 1) { /* from the point mass at 0 */
                grow(dst, &hi[1], newlo, o->vmax);
                for (int k = 0; k < o->count; k++)
                    if (o->v[k] >= newlo)
                        dst[o->v[k]] += o->p[k];
            } else if (hi[r - 1] >= lo[r - 1]) {
                const double *src = dst - stride;
                int32_t slo = lo[r - 1], shi = hi[r - 1];
                grow(dst, &hi[r], newlo, shi + o->vmax > T ? T : shi + o->vmax);
                /* Targets below T that every tap reaches from the source window: one fused pass
                 * over [c0, c1]; the edges, one axpy per tap. */
                int32_t c0 = slo + o->vmax > newlo ? slo + o->vmax : newlo;
                int32_t c1 = shi + o->v[0] < T - 1 ? shi + o->v[0] : T - 1;
                if (c0 > c1) {
                    c0 = T; /* no common range: the per-tap loops cover everything */
                    c1 = T - 1;
                }
                for (int k = 0; k < o->count; k++) {
                    int32_t v = o->v[k];
                    int32_t a = newlo - v > slo ? newlo - v : slo; /* source range */
                    int32_t b = T - 1 - v < shi ? T - 1 - v : shi;
                    int32_t left = c0 - 1 - v < b ? c0 - 1 - v : b;  /* sources of targets < c0 */
                    int32_t right = c1 + 1 - v > a ? c1 + 1 - v : a; /* sources of targets > c1 */
                    if (a <= left)
                        axpy(dst + a + v, src + a, o->p[k], (size_t)(left - a + 1), wide);
                    if (right <= b)
                        axpy(dst + right + v, src + right, o->p[k], (size_t)(b - right + 1), wide);
                }
                if (c0 <= c1)
                    conv_taps(dst, src, o, c0, c1, wide);
                /* Clamped part. Tails for ascending v are nested: sum disjoint segments from the
                 * top down and reuse the running total. */
                double acc = 0.0, add = 0.0;
                bool any = false;
                int32_t top = shi + 1;
                for (int k = 0; k < o->count; k++) {
                    int32_t start = T - o->v[k] > slo ? T - o->v[k] : slo;
                    if (start < top) {
                        acc += pairwise_sum(src + start, (size_t)(top - start), wide);
                        top = start;
                        any = true;
                    }
                    add += o->p[k] * acc;
                }
                if (any)
                    dst[T] += add; /* any => shi + vmax >= T => hi[r] == T */
            }
            if (newlo > lo[r])
                lo[r] = newlo;
        }
    }
    for (int r = 1; r <= rows; r++)
        out[r] = hi[r] == T ? scratch[(size_t)(r - 1) * stride + (size_t)T] : 0.0;
}

static void dp_nonzero_base(const plan_t *pl, const int *ord, int rows, double *scratch,
                            double out[FLAME_ROWS + 1])
{
    dp_body(pl, ord, rows, scratch, out, false);
}

#if FLAME_AVX2
/* The same DP compiled for AVX2 (4-lane vectors); chosen at run time when the CPU has it. */
__attribute__((target("avx2"))) static void dp_nonzero_avx2(const plan_t *pl, const int *ord, int rows,
                                                            double *scratch, double out[FLAME_ROWS + 1])
{
    dp_body(pl, ord, rows, scratch, out, true);
}
#endif

static void dp_nonzero(const plan_t *pl, const int *ord, int rows, double *scratch, double out[FLAME_ROWS + 1])
{
#if FLAME_AVX2
    if (__builtin_cpu_supports("avx2")) {
        dp_nonzero_avx2(pl, ord, rows, scratch, out);
        return;
    }
#endif
    dp_nonzero_base(pl, ord, rows, scratch, out);
}

static double binom(int n, int k)
{
    if (k < 0 || k > n)
        return 0.0;
    double c = 1.0;
    for (int i = 1; i <= k; i++)
        c = c * (double)(n - k + i) / (double)i; /* exact: every partial result is an integer */
    return c;
}

static int rows_needed(const plan_t *pl) { return pl->nnz < pl->maxk ? pl->nnz : pl->maxk; }

static size_t scratch_doubles(const plan_t *pl) { return (size_t)rows_needed(pl) * ((size_t)pl->width + 1); }

/* Process the nonzero options by descending maximum score: the options still to come are then
 * the small ones, so the live windows (see dp_nonzero) shrink fastest. Any order is an exact
 * evaluation of the same sum; only the rounding differs. */
static void order_desc(const plan_t *pl, int *ord)
{
    for (int i = 0; i < pl->nnz; i++) { /* stable insertion sort, at most 21 entries */
        int x = i, j = i;
        while (j > 0 && pl->taps[ord[j - 1]].vmax < pl->taps[x].vmax) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = x;
    }
}

/* P of §5.7 for a planned DP; scratch holds scratch_doubles(pl) doubles. */
static double plan_probability(const plan_t *pl, double *scratch)
{
    int rows = rows_needed(pl);
    int ord[FLAME_POOL_MAX] = {0};
    double nz[FLAME_ROWS + 1];
    order_desc(pl, ord);
    dp_nonzero(pl, ord, rows, scratch, nz);

    /* dp[k][T] = sum_j dpNZ[j][T] * C(Z, k - j); dpNZ[0][T] = 0 because T >= 1. */
    double dpk[FLAME_ROWS + 1] = {0};
    for (int k = 1; k <= pl->maxk; k++) {
        kahan_t acc = KAHAN_INIT;
        for (int j = 1; j <= k && j <= rows; j++)
            kahan_add(&acc, nz[j] * binom(pl->zero, k - j));
        dpk[k] = acc.sum;
    }
    if (pl->boss)
        return pl->n < FLAME_ROWS ? 0.0 : dpk[FLAME_ROWS] / binom(pl->n, FLAME_ROWS);
    kahan_t sum = KAHAN_INIT; /* C1 */
    for (int k = 1; k <= pl->maxk; k++)
        kahan_add(&sum, dpk[k] / binom(pl->n, k));
    return sum.sum / (double)FLAME_ROWS; /* 1, 2, 3 or 4 options, each with probability 1/4 */
}

/* The DP scratch: the caller's stack buffer when it fits, else one heap block (bounded by
 * FLAME_MAX_TARGET: 4 rows of 200001 doubles, 6.4 MB). Release with scratch_put. */
static double *scratch_get(size_t need, double stack[STACK_SCRATCH_DOUBLES])
{
    if (need <= STACK_SCRATCH_DOUBLES)
        return stack;
    double *buf = malloc(need * sizeof(double));
    if (buf == NULL)
        abort(); /* flame.h: allocation failure aborts */
    return buf;
}

static void scratch_put(double *buf, const double stack[STACK_SCRATCH_DOUBLES])
{
    if (buf != stack)
        free(buf);
}

double flame_probability(const flame_weights_t *w, const flame_item_t *item, int64_t target, flame_kind_t kind)
{
    plan_t pl;
    score_table_t tab;
    if ((unsigned)kind >= FLAME__COUNT)
        return 0.0;
    score_table(w, item, &tab);
    switch (make_plan(&tab, kind, target, &pl)) {
    case PLAN_CERTAIN: return 1.0;
    case PLAN_UNREACHABLE: return 0.0;
    case PLAN_OUT_OF_RANGE: return NAN;
    case PLAN_DP: break;
    }
    double stack[STACK_SCRATCH_DOUBLES];
    double *buf = scratch_get(scratch_doubles(&pl), stack);
    double p = plan_probability(&pl, buf);
    scratch_put(buf, stack);
    return p;
}

/* ---------------------------------------------------------------------------------------------- */
/* flame_evaluate                                                                                  */

#define REASON_NO_STATS "no flame stats"
#define REASON_UNREACHABLE "this flame cannot reach the item's flame score (probability 0)"
#define REASON_RANGE "flame target score out of range"

static void set_reason(char dst[VAL_REASON_LEN], const char *text) { snprintf(dst, VAL_REASON_LEN, "%s", text); }

void flame_evaluate(const flame_weights_t *w, const flame_item_t *item, const flame_stats_t *stats,
                    flame_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->boss = item->boss;
    int64_t s = flame_target_score(w, stats);
    out->target_score = s;
    if (s <= 0) {
        out->status = VAL_NOT_APPLICABLE;
        set_reason(out->reason, REASON_NO_STATS);
        for (int k = 0; k < FLAME__COUNT; k++)
            set_reason(out->kind_reason[k], REASON_NO_STATS);
        return;
    }
    out->has_score = true;

    score_table_t tab;
    plan_t plans[FLAME__COUNT];
    plan_kind_t kinds[FLAME__COUNT];
    score_table(w, item, &tab);
    size_t need = 0;
    bool out_of_range = false;
    for (int k = 0; k < FLAME__COUNT; k++) {
        kinds[k] = make_plan(&tab, (flame_kind_t)k, s, &plans[k]);
        if (kinds[k] == PLAN_OUT_OF_RANGE)
            out_of_range = true;
        else if (kinds[k] == PLAN_DP && scratch_doubles(&plans[k]) > need)
            need = scratch_doubles(&plans[k]);
    }
    if (out_of_range) { /* refused before allocating; §0.3: every numeric field null */
        out->status = VAL_INVALID_INPUT;
        out->has_score = false;
        set_reason(out->reason, REASON_RANGE);
        for (int k = 0; k < FLAME__COUNT; k++)
            set_reason(out->kind_reason[k], REASON_RANGE);
        return;
    }

    double stack[STACK_SCRATCH_DOUBLES];
    double *buf = scratch_get(need, stack); /* one block shared by the three kinds */
    bool any = false;
    for (int k = 0; k < FLAME__COUNT; k++) {
        double p = kinds[k] == PLAN_DP ? plan_probability(&plans[k], buf) : 0.0;
        if (p > 0.0) {
            out->has_trials[k] = true;
            out->probability[k] = p;
            out->trials[k] = num_rhu_k(1.0 / p, 2);
            any = true;
        } else {
            set_reason(out->kind_reason[k], REASON_UNREACHABLE);
        }
    }
    scratch_put(buf, stack);
    if (any) {
        out->status = VAL_OK;
    } else {
        out->status = VAL_UNREACHABLE;
        set_reason(out->reason, REASON_UNREACHABLE);
    }
}
