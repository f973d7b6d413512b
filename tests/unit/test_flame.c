/*
 * test_flame.c - rebirth-flame trial counts (valuation §5, golden values 8.10, rules g, h, i;
 * clarifications A9, A10, A12, B5, C1).
 *
 * Besides the golden rows, two independent oracles guard the optimised DP of flame.c (zero options
 * left out, gcd scaling, live windows, fused vector passes):
 *   - a verbatim transcription of the §5.7 pseudo-code (the spec's own loop order), compared over
 *     a grid of levels, classes, weapon/non-weapon, boss/non-boss and targets;
 *   - brute-force enumeration of every option subset and stage combination.
 */
#include "testutil.h"

#include <stdbool.h>

#include "base/num.h"
#include "domain/flame.h"

#define EVAN "에반"
#define TXT(s) (s), (sizeof(s) - 1)

/* ---- helpers ---------------------------------------------------------------------------------- */

static flame_weights_t class_weights(const char *cls)
{
    flame_weights_t w;
    flame_weights_for_class(cls, strlen(cls), &w);
    return w;
}

static flame_item_t make_item(const char *name, int level, bool weapon, int base_att, int base_mag)
{
    flame_item_t it = {.level = level, .weapon = weapon, .base_att = base_att, .base_mag = base_mag};
    it.boss = flame_is_boss(name, strlen(name), weapon, TXT(EVAN));
    return it;
}

static double binom_d(int n, int k)
{
    double c = 1.0;
    for (int i = 1; i <= k; i++)
        c = c * (double)(n - k + i) / (double)i;
    return c;
}

/* §5.7 exactly as written: full `next` copy, pool order, t ascending, v ascending, clamp at T. */
static double spec_probability(const flame_weights_t *w, const flame_item_t *item, int64_t target,
                               flame_kind_t kind)
{
    size_t n = flame_pool(item->weapon, NULL);
    int maxk = item->boss ? 4 : (n < 4 ? (int)n : 4);
    size_t width = (size_t)target + 1;
    double *dp = calloc((size_t)(maxk + 1) * width, sizeof(double));
    double *next = calloc((size_t)(maxk + 1) * width, sizeof(double));
    assert_non_null(dp);
    assert_non_null(next);
    dp[0] = 1.0;
    for (size_t i = 0; i < n; i++) {
        flame_dist_t q;
        flame_option_dist(w, item, i, kind, &q);
        memcpy(next, dp, (size_t)(maxk + 1) * width * sizeof(double));
        int rtop = (int)i + 1 < maxk ? (int)i + 1 : maxk;
        for (int r = rtop; r >= 1; r--) {
            for (int64_t t = 0; t <= target; t++) {
                double x = dp[(size_t)(r - 1) * width + (size_t)t];
                if (x == 0.0)
                    continue;
                for (int k = 0; k < q.count; k++) {
                    int64_t to = t + q.score[k] < target ? t + q.score[k] : target;
                    next[(size_t)r * width + (size_t)to] += x * q.prob[k];
                }
            }
        }
        double *tmp = dp;
        dp = next;
        next = tmp;
    }
    double p;
    if (item->boss) {
        p = n < 4 ? 0.0 : dp[4 * width + (size_t)target] / binom_d((int)n, 4);
    } else {
        kahan_t sum = KAHAN_INIT;
        for (int k = 1; k <= maxk; k++)
            kahan_add(&sum, dp[(size_t)k * width + (size_t)target] / binom_d((int)n, k));
        p = sum.sum / 4.0;
    }
    free(dp);
    free(next);
    return p;
}

/* Largest score a flame of this kind can roll (sum of the maxK largest option maxima). */
static int64_t max_reach(const flame_weights_t *w, const flame_item_t *item, flame_kind_t kind)
{
    size_t n = flame_pool(item->weapon, NULL);
    int64_t top[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        flame_dist_t q;
        flame_option_dist(w, item, i, kind, &q);
        int64_t v = q.score[q.count - 1];
        for (int r = 0; r < 4; r++) {
            if (v > top[r]) {
                for (int m = 3; m > r; m--)
                    top[m] = top[m - 1];
                top[r] = v;
                break;
            }
        }
    }
    int maxk = item->boss ? 4 : (n < 4 ? (int)n : 4);
    int64_t sum = 0;
    for (int r = 0; r < maxk; r++)
        sum += top[r];
    return sum;
}

/* ---- 8.10 golden rows ------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int level;
    bool weapon;
    int base_att, base_mag;
    flame_stats_t stats;
    int64_t score;
    bool boss;
    double p[FLAME__COUNT];      /* 0 = null (UNREACHABLE kind) */
    double trials[FLAME__COUNT]; /* rhu_2 */
} golden_t;

static const golden_t GOLDEN[] = {
    {"에테르넬 메이지햇", 250, false, 0, 10, {.dex = 28, .int_ = 130, .luk = 42, .all_stat = 5}, 1842, true,
     {0.0497864625296578, 0.0701445348404347, 0.08718715017878043}, {20.09, 14.26, 11.47}},
    {"커맨더 포스 이어링", 200, false, 5, 5, {.str = 30, .dex = 30, .int_ = 162, .luk = 36}, 1656, true,
     {0.09913651566249042, 0.14012330106432902, 0.17285953895071066}, {10.09, 7.14, 5.79}},
    {"블루 엘리멘탈 글로브", 110, false, 0, 0, {.all_stat = 3}, 300, false,
     {0.25627585541854664, 0.31791287071512114, 0.3646644229548871}, {3.90, 3.15, 2.74}},
    {"제네시스 스태프", 200, true, 251, 406,
     {.str = 24, .dex = 24, .int_ = 24, .luk = 24, .magic_power = 250, .all_stat = 4}, 10664, true,
     {0.004694100598555191, 0.011784745964912264, 0.021886772863777056}, {213.03, 84.86, 45.69}},
    {"루즈 컨트롤 머신 마크", 160, false, 10, 10, {.str = 55, .dex = 25, .int_ = 75, .all_stat = 6}, 1350, true,
     {0.0007117381186299083, 0.002356160603174608, 0.005039826990810364}, {1405.01, 424.42, 198.42}},
    {"저주받은 청의 마도서", 160, false, 10, 10, {.str = 56, .int_ = 65, .all_stat = 7}, 1350, false,
     {0.0, 1.150793650793651e-09, 2.684210526315789e-08}, {0.0, 868965517.24, 37254901.96}},
};

#define N_GOLDEN (sizeof GOLDEN / sizeof GOLDEN[0])

static void check_golden(const golden_t *g)
{
    flame_weights_t w = class_weights(EVAN);
    flame_item_t item = make_item(g->name, g->level, g->weapon, g->base_att, g->base_mag);
    assert_int_equal(item.boss, g->boss);
    assert_int_equal(flame_target_score(&w, &g->stats), g->score);

    flame_result_t r;
    flame_evaluate(&w, &item, &g->stats, &r);
    assert_int_equal(r.status, VAL_OK); /* A9: at least one kind has a value */
    assert_true(r.has_score);
    assert_int_equal(r.target_score, g->score);
    assert_int_equal(r.boss, g->boss);
    for (int k = 0; k < FLAME__COUNT; k++) {
        if (g->p[k] == 0.0) {
            assert_false(r.has_trials[k]);
            assert_true(r.kind_reason[k][0] != '\0');
            assert_true(r.probability[k] == 0.0);
            assert_true(flame_probability(&w, &item, g->score, (flame_kind_t)k) == 0.0);
            continue;
        }
        assert_true(r.has_trials[k]);
        assert_string_equal(r.kind_reason[k], "");
        assert_rel(r.probability[k], g->p[k]);
        assert_true(fabs(r.trials[k] - g->trials[k]) < 1e-6);
        assert_rel(flame_probability(&w, &item, g->score, (flame_kind_t)k), r.probability[k]);
    }
}

static void test_golden_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_GOLDEN; i++)
        check_golden(&GOLDEN[i]);
}

/* 저주받은 청의 마도서: POWERFUL cannot reach 1350 (best roll ALLSTAT 400 + INT 360 + INT_LUK 220 +
 * STR_INT 200 = 1180). */
static void test_grimoire_powerful_unreachable(void **state)
{
    (void)state;
    const golden_t *g = &GOLDEN[5];
    flame_weights_t w = class_weights(EVAN);
    flame_item_t item = make_item(g->name, g->level, g->weapon, g->base_att, g->base_mag);
    assert_false(item.boss);
    assert_int_equal(max_reach(&w, &item, FLAME_POWERFUL), 1180);
    flame_result_t r;
    flame_evaluate(&w, &item, &g->stats, &r);
    assert_int_equal(r.status, VAL_OK);
    assert_string_equal(r.reason, "");
    assert_false(r.has_trials[FLAME_POWERFUL]);
    assert_true(strlen(r.kind_reason[FLAME_POWERFUL]) > 0);
    assert_true(r.has_trials[FLAME_ETERNAL]);
    assert_true(r.has_trials[FLAME_ABYSS]);
    assert_true(fabs(r.trials[FLAME_ETERNAL] - 868965517.24) < 1e-6);
    assert_true(fabs(r.trials[FLAME_ABYSS] - 37254901.96) < 1e-6);
}

/* ---- weapon ATT/MAG (rule h) ------------------------------------------------------------------ */

static void test_weapon_att_values(void **state)
{
    (void)state;
    static const int64_t mag[7] = {19, 43, 73, 107, 146, 190, 238}; /* base 406, L200 */
    static const int64_t att[7] = {12, 27, 45, 66, 90, 117, 147};   /* base 251, L200 */
    for (int s = 1; s <= 7; s++) {
        assert_int_equal(flame_weapon_att_value(406, 200, s), mag[s - 1]);
        assert_int_equal(flame_weapon_att_value(251, 200, s), att[s - 1]);
    }
    /* The spec's example where naive double evaluation gives 146. */
    assert_int_equal(flame_weapon_att_value(250, 200, 7), 147);
    /* floor(L/40): L 199 is still the (199/40 + 1) = 5 multiplier. */
    assert_int_equal(flame_weapon_att_value(406, 199, 7), (406 * 5 * 7 * 14) / 1000);

    /* The weapon's MAG option at boss POWERFUL stages 3..6 uses the formula times wMAG. */
    flame_weights_t w = class_weights(EVAN);
    flame_item_t item = make_item("제네시스 스태프", 200, true, 251, 406);
    const char *const *names;
    size_t n = flame_pool(true, &names);
    for (size_t i = 0; i < n; i++) {
        flame_dist_t q;
        flame_option_dist(&w, &item, i, FLAME_POWERFUL, &q);
        if (strcmp(names[i], "MAG") == 0) {
            assert_int_equal(q.count, 4);
            for (int k = 0; k < 4; k++)
                assert_int_equal(q.score[k], 40 * mag[k + 2]);
        } else if (strcmp(names[i], "ATT") == 0) {
            for (int k = 0; k < 4; k++)
                assert_int_equal(q.score[k], 40 * att[k + 2]);
        } else if (strcmp(names[i], "BOSS_DMG_PCT") == 0) {
            for (int k = 0; k < 4; k++) /* 2 * s * wBOSS */
                assert_int_equal(q.score[k], 2 * (k + 3) * 140);
        }
    }
}

/* ---- synthetic checks ------------------------------------------------------------------------- */

static void test_synthetic(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    struct {
        int level;
        bool boss;
        flame_stats_t stats;
        int64_t score;
        double p[3], trials[3];
    } cases[] = {
        {175, true, {.int_ = 110, .all_stat = 5}, 1600,
         {0.35178162649290146, 0.3745546182639897, 0.3639440427919804}, {2.84, 2.67, 2.75}},
        {160, false, {.int_ = 30}, 300,
         {0.13877690192147035, 0.20098422443233088, 0.2531311027426899}, {7.21, 4.98, 3.95}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        flame_item_t item = {.level = cases[c].level, .weapon = false, .boss = cases[c].boss};
        flame_result_t r;
        flame_evaluate(&w, &item, &cases[c].stats, &r);
        assert_int_equal(r.status, VAL_OK);
        assert_int_equal(r.target_score, cases[c].score);
        assert_int_equal(r.boss, cases[c].boss);
        for (int k = 0; k < FLAME__COUNT; k++) {
            assert_true(r.has_trials[k]);
            assert_rel(r.probability[k], cases[c].p[k]);
            assert_true(fabs(r.trials[k] - cases[c].trials[k]) < 1e-6);
        }
    }
}

/* ---- score distributions (8.10 check; §5.5 gap completion) ------------------------------------ */

static void expect_dist(const flame_dist_t *q, const int64_t *scores, int count)
{
    static const double boss_powerful[4] = {0.20, 0.30, 0.36, 0.14};
    assert_int_equal(q->count, count);
    for (int k = 0; k < count; k++) {
        assert_int_equal(q->score[k], scores[k]);
        assert_rel(q->prob[k], boss_powerful[k]);
    }
}

static void test_commander_earring_dists(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    flame_item_t item = make_item("커맨더 포스 이어링", 200, false, 5, 5);
    assert_true(item.boss);
    const char *const *names;
    size_t n = flame_pool(false, &names);
    assert_int_equal(n, 21);
    static const struct {
        const char *name;
        int64_t s[4];
    } listed[] = {
        {"INT", {330, 440, 550, 660}},      {"INT_LUK", {198, 264, 330, 396}},
        {"BOSS_DMG_PCT", {840, 1120, 1400, 1680}}, {"DMG_PCT", {420, 560, 700, 840}},
        {"ALLSTAT_PCT", {300, 400, 500, 600}}, {"ATT", {120, 160, 200, 240}},
        {"MAG", {120, 160, 200, 240}},
        /* not listed in 8.10 but implied by the table: LUK 11s * 1, STR_INT 6s * 10, STR_LUK 6s * 1 */
        {"LUK", {33, 44, 55, 66}},          {"STR_INT", {180, 240, 300, 360}},
        {"DEX_INT", {180, 240, 300, 360}},  {"STR_LUK", {18, 24, 30, 36}},
        {"DEX_LUK", {18, 24, 30, 36}},
    };
    static const char *const zero[] = {"STR", "DEX", "STR_DEX", "MAX_HP", "MAX_MP",
                                       "LEVEL_REDUCE", "DEF", "SPEED", "JUMP"};
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        flame_dist_t q;
        flame_option_dist(&w, &item, i, FLAME_POWERFUL, &q);
        bool found = false;
        for (size_t j = 0; j < sizeof listed / sizeof listed[0]; j++) {
            if (strcmp(names[i], listed[j].name) == 0) {
                expect_dist(&q, listed[j].s, 4);
                found = true;
            }
        }
        for (size_t j = 0; j < sizeof zero / sizeof zero[0]; j++) {
            if (strcmp(names[i], zero[j]) == 0) {
                assert_int_equal(q.count, 1);
                assert_int_equal(q.score[0], 0);
                assert_rel(q.prob[0], 1.0);
                found = true;
            }
        }
        assert_true(found);
        seen++;
    }
    assert_int_equal(seen, 21);
}

static int64_t score_of(const flame_weights_t *w, const flame_item_t *item, const char *option, flame_kind_t kind,
                        int k)
{
    const char *const *names;
    size_t n = flame_pool(item->weapon, &names);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], option) == 0) {
            flame_dist_t q;
            flame_option_dist(w, item, i, kind, &q);
            assert_true(k < q.count);
            return q.score[k];
        }
    }
    fail_msg("no option %s", option);
    return -1;
}

/* Gap completion (rule g) and the merging of equal scores. */
static void test_gap_completion(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    /* 160, non-boss POWERFUL (stages 1..4): linear rows extended down (INT lin 9, HP lin 480). */
    flame_item_t l160 = {.level = 160};
    assert_int_equal(score_of(&w, &l160, "INT", FLAME_POWERFUL, 0), 9 * 10);
    assert_int_equal(score_of(&w, &l160, "ALLSTAT_PCT", FLAME_POWERFUL, 0), 100);
    /* 160: DMG_PCT and BOSS_DMG_PCT are absent rows -> 0 at every stage -> {0: 1}. */
    const char *const *names;
    size_t n = flame_pool(false, &names);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "DMG_PCT") == 0 || strcmp(names[i], "BOSS_DMG_PCT") == 0) {
            flame_dist_t q;
            flame_option_dist(&w, &l160, i, FLAME_ABYSS, &q);
            assert_int_equal(q.count, 1);
            assert_int_equal(q.score[0], 0);
        }
    }
    /* 170 boss ETERNAL (stages 4..7): non-linear ATT row 9,20,32,47,64,0,0 -> stages 6 and 7
     * both score 0 and merge: {0: 0.25 + 0.01, 47*40: 0.29, 64*40: 0.45}. */
    flame_item_t l170 = {.level = 170, .boss = true};
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "ATT") == 0) {
            flame_dist_t q;
            flame_option_dist(&w, &l170, i, FLAME_ETERNAL, &q);
            assert_int_equal(q.count, 3);
            assert_int_equal(q.score[0], 0);
            assert_rel(q.prob[0], 0.25 + 0.01);
            assert_int_equal(q.score[1], 47 * 40);
            assert_rel(q.prob[1], 0.29);
            assert_int_equal(q.score[2], 64 * 40);
            assert_rel(q.prob[2], 0.45);
        }
        if (strcmp(names[i], "BOSS_DMG_PCT") == 0) { /* 170: linear 2s completed to 12, 14 */
            flame_dist_t q;
            flame_option_dist(&w, &l170, i, FLAME_ABYSS, &q);
            assert_int_equal(q.count, 3);
            assert_int_equal(q.score[2], 14 * 140);
        }
    }
    /* 100..150 and 250: the table's own boss row 2,4,6,8,10,6,7 (stage 6 scores 6, stage 7 scores 7),
     * sorted ascending with stage 3's 6 merged: boss ABYSS stages 5,6,7 -> {6: .34, 7: .03, 10: .63}. */
    flame_item_t l250 = {.level = 250, .boss = true};
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "BOSS_DMG_PCT") == 0) {
            flame_dist_t q;
            flame_option_dist(&w, &l250, i, FLAME_ABYSS, &q);
            assert_int_equal(q.count, 3);
            assert_int_equal(q.score[0], 6 * 140);
            assert_rel(q.prob[0], 0.34);
            assert_int_equal(q.score[1], 7 * 140);
            assert_rel(q.prob[1], 0.03);
            assert_int_equal(q.score[2], 10 * 140);
            assert_rel(q.prob[2], 0.63);
            flame_option_dist(&w, &l250, i, FLAME_POWERFUL, &q); /* stages 3..6: 6, 8, 10, 6 */
            assert_int_equal(q.count, 3);
            assert_int_equal(q.score[0], 6 * 140);
            assert_rel(q.prob[0], 0.20 + 0.14);
        }
    }
    /* Buckets: 180 INT lin 10, 200 lin 11, 250 lin 12, below 100 uses 100. */
    flame_item_t l180 = {.level = 199}, l0 = {.level = 0};
    assert_int_equal(score_of(&w, &l180, "INT", FLAME_POWERFUL, 0), 10 * 10);
    assert_int_equal(score_of(&w, &l0, "INT", FLAME_POWERFUL, 0), 6 * 10);
    assert_int_equal(score_of(&w, &l0, "MAX_HP", FLAME_POWERFUL, 0), 0); /* wHP 0 for 에반 */
}

static void test_pool(void **state)
{
    (void)state;
    const char *const *names = NULL;
    static const char *const order[] = {"STR", "DEX", "INT", "LUK", "STR_DEX", "STR_INT", "STR_LUK",
                                        "DEX_INT", "DEX_LUK", "INT_LUK", "MAX_HP", "MAX_MP", "LEVEL_REDUCE",
                                        "DEF", "ATT", "MAG", "BOSS_DMG_PCT", "DMG_PCT", "ALLSTAT_PCT",
                                        "SPEED", "JUMP"};
    assert_int_equal(flame_pool(true, &names), 19);
    assert_int_equal(flame_pool(false, &names), 21);
    assert_int_equal(flame_pool(false, NULL), 21);
    for (size_t i = 0; i < 21; i++)
        assert_string_equal(names[i], order[i]);
    /* An index outside the item's pool gives an empty distribution. */
    flame_weights_t w = class_weights(EVAN);
    flame_item_t weapon = make_item("제네시스 스태프", 200, true, 251, 406);
    flame_dist_t q;
    flame_option_dist(&w, &weapon, 19, FLAME_POWERFUL, &q);
    assert_int_equal(q.count, 0);
}

/* ---- class weights (§5.1) --------------------------------------------------------------------- */

static void expect_weights(const char *cls, int str, int dex, int int_, int luk)
{
    flame_weights_t w = class_weights(cls);
    assert_int_equal(w.str, str);
    assert_int_equal(w.dex, dex);
    assert_int_equal(w.int_, int_);
    assert_int_equal(w.luk, luk);
    assert_int_equal(w.hp, 0);
    assert_int_equal(w.mp, 0);
    assert_int_equal(w.all, 100);
    assert_int_equal(w.att, 40);
    assert_int_equal(w.mag, 40);
    assert_int_equal(w.dmg, 140);
    assert_int_equal(w.boss, 140);
}

static void test_class_weights(void **state)
{
    (void)state;
    expect_weights("히어로", 10, 1, 0, 0);         /* STR / DEX */
    expect_weights("제로", 10, 1, 0, 0);
    expect_weights("보우마스터", 1, 10, 0, 0);     /* DEX / STR */
    expect_weights("엔젤릭버스터", 1, 10, 0, 0);
    expect_weights(EVAN, 0, 0, 10, 1);             /* INT / LUK */
    expect_weights("아크메이지(불,독)", 0, 0, 10, 1);
    expect_weights("나이트로드", 0, 1, 0, 10);     /* LUK / DEX */
    expect_weights("카데나", 1, 1, 0, 10);         /* LUK / STR and DEX */
    expect_weights("섀도어", 1, 1, 0, 10);
    expect_weights("듀얼블레이드", 1, 1, 0, 10);
    expect_weights("제논", 10, 10, 0, 10);
    expect_weights("모험가", 10, 1, 0, 0);         /* unknown -> STR / DEX */
    expect_weights("", 10, 1, 0, 0);               /* blank -> STR / DEX */
    /* B5: trimming is the caller's job; an untrimmed name is simply unknown here. */
    expect_weights(" 에반", 10, 1, 0, 0);
    expect_weights("에반 ", 10, 1, 0, 0);
    expect_weights("에", 10, 1, 0, 0); /* a prefix is not a match */

    flame_weights_t w;
    flame_weights_for_class(NULL, 0, &w);
    assert_int_equal(w.str, 10);
    assert_int_equal(w.dex, 1);
    flame_weights_for_class("에반반", strlen("에반"), &w); /* the length bounds the comparison */
    assert_int_equal(w.int_, 10);

    w = class_weights("데몬어벤져");
    assert_int_equal(w.str, 0);
    assert_int_equal(w.dex, 0);
    assert_int_equal(w.int_, 0);
    assert_int_equal(w.luk, 0);
    assert_int_equal(w.hp, 10);
    assert_int_equal(w.mp, 0);
    assert_int_equal(w.all, 0);
    assert_int_equal(w.att, 1500);
    assert_int_equal(w.mag, 0);
    assert_int_equal(w.dmg, 0);
    assert_int_equal(w.boss, 0);
}

/* ---- boss equipment (§5.2) -------------------------------------------------------------------- */

static void test_is_boss(void **state)
{
    (void)state;
    /* weapon prefixes */
    assert_true(flame_is_boss(TXT("제네시스 스태프"), true, TXT(EVAN)));
    assert_true(flame_is_boss(TXT("자쿰의 포이즈닉 투핸드소드"), true, TXT("히어로")));
    assert_true(flame_is_boss(TXT("데스티니 스태프"), true, NULL, 0));
    assert_false(flame_is_boss(TXT("이글아이 스태프"), true, TXT(EVAN))); /* armour-only prefix */
    assert_false(flame_is_boss(TXT("스태프"), true, TXT(EVAN)));
    /* 제로 weapons are never boss, whatever the name */
    assert_false(flame_is_boss(TXT("제네시스 라즐리"), true, TXT("제로")));
    assert_true(flame_is_boss(TXT("제네시스 라즐리"), true, TXT("히어로")));
    assert_true(flame_is_boss(TXT("에테르넬 메이지햇"), false, TXT("제로"))); /* only weapons */
    /* non-weapon prefixes */
    assert_true(flame_is_boss(TXT("에테르넬 메이지햇"), false, TXT(EVAN)));
    assert_true(flame_is_boss(TXT("아케인셰이드 메이지슈즈"), false, TXT(EVAN)));
    assert_true(flame_is_boss(TXT("트릭스터 레인져팬츠"), false, TXT(EVAN)));
    assert_false(flame_is_boss(TXT("자쿰의 포이즈닉 헬름"), false, TXT(EVAN))); /* weapon-only prefix */
    assert_false(flame_is_boss(TXT("제네시스 모자"), false, TXT(EVAN)));
    /* non-weapon exact names */
    assert_true(flame_is_boss(TXT("커맨더 포스 이어링"), false, TXT(EVAN)));
    assert_true(flame_is_boss(TXT("루즈 컨트롤 머신 마크"), false, TXT(EVAN)));
    assert_true(flame_is_boss(TXT("저주받은 적의 마도서"), false, TXT(EVAN)));
    assert_true(flame_is_boss(TXT("오만의 원죄"), false, TXT(EVAN)));
    assert_false(flame_is_boss(TXT("커맨더 포스 이어링 "), false, TXT(EVAN))); /* exact, not prefix */
    assert_false(flame_is_boss(TXT("커맨더 포스"), false, TXT(EVAN)));
    assert_false(flame_is_boss(TXT("저주받은 청의 마도서"), false, TXT(EVAN)));
    assert_false(flame_is_boss(TXT("블루 엘리멘탈 글로브"), false, TXT(EVAN)));
    assert_false(flame_is_boss(NULL, 0, false, TXT(EVAN)));
    assert_false(flame_is_boss(TXT(""), false, TXT(EVAN)));
}

/* ---- statuses (A9, A10, A12) ------------------------------------------------------------------ */

static void test_not_applicable(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    flame_item_t item = make_item("커맨더 포스 이어링", 200, false, 5, 5);
    flame_stats_t none = {0};
    flame_stats_t unscored = {.str = 30, .dex = 30, .max_hp = 900}; /* all weight 0 for 에반 */
    flame_stats_t negative = {.int_ = -5};
    const flame_stats_t *cases[] = {&none, &unscored, &negative};
    for (size_t c = 0; c < 3; c++) {
        flame_result_t r;
        flame_evaluate(&w, &item, cases[c], &r);
        assert_int_equal(r.status, VAL_NOT_APPLICABLE);
        assert_false(r.has_score);
        assert_true(r.boss); /* still reported */
        assert_string_equal(r.reason, "no flame stats");
        for (int k = 0; k < FLAME__COUNT; k++) {
            assert_false(r.has_trials[k]);
            assert_string_equal(r.kind_reason[k], "no flame stats");
        }
    }
    /* P of a target <= 0 is 1: every flame reaches it. */
    assert_true(flame_probability(&w, &item, 0, FLAME_POWERFUL) == 1.0);
}

static void test_all_unreachable(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    flame_item_t item = make_item("블루 엘리멘탈 글로브", 110, false, 0, 0);
    flame_stats_t stats = {.int_ = 1000}; /* S = 10000, far above any roll */
    flame_result_t r;
    flame_evaluate(&w, &item, &stats, &r);
    assert_int_equal(r.status, VAL_UNREACHABLE); /* A9: all three null */
    assert_true(r.has_score);                    /* targetScore still reported */
    assert_int_equal(r.target_score, 10000);
    assert_true(strlen(r.reason) > 0);
    for (int k = 0; k < FLAME__COUNT; k++) {
        assert_false(r.has_trials[k]);
        assert_true(strlen(r.kind_reason[k]) > 0);
    }

    /* Saturated hostile stats: no overflow, simply unreachable. */
    flame_stats_t huge = {.int_ = INT64_MAX, .luk = INT64_MAX, .magic_power = INT64_MAX};
    flame_evaluate(&w, &item, &huge, &r);
    assert_int_equal(r.status, VAL_UNREACHABLE);
    assert_int_equal(r.target_score, INT64_MAX);
    flame_stats_t mixed = {.int_ = INT64_MAX, .luk = INT64_MIN};
    (void)flame_target_score(&w, &mixed); /* defined (saturating), value unimportant */
}

/* FLAME_MAX_TARGET: a target within reach but wider than the bound is refused, not allocated. */
static void test_target_out_of_range(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    /* A hostile weapon whose MAG flame alone reaches 588000 * 40; other scores keep the gcd at 1. */
    flame_item_t item = {.level = 200, .weapon = true, .boss = true, .base_att = 0, .base_mag = 100000};
    flame_stats_t stats = {.int_ = (FLAME_MAX_TARGET + 1000) / 10};
    flame_result_t r;
    flame_evaluate(&w, &item, &stats, &r);
    assert_int_equal(r.status, VAL_INVALID_INPUT);
    assert_false(r.has_score); /* §0.3: every numeric field null */
    assert_string_equal(r.reason, "flame target score out of range");
    for (int k = 0; k < FLAME__COUNT; k++) {
        assert_false(r.has_trials[k]);
        assert_string_equal(r.kind_reason[k], "flame target score out of range");
    }
    assert_true(isnan(flame_probability(&w, &item, stats.int_ * 10, FLAME_ABYSS)));

    /* Just inside the bound is computed (and agrees with the monotone bound P <= 1). */
    stats.int_ = FLAME_MAX_TARGET / 10;
    flame_evaluate(&w, &item, &stats, &r);
    assert_int_equal(r.status, VAL_OK);
    for (int k = 0; k < FLAME__COUNT; k++)
        assert_true(r.probability[k] > 0.0 && r.probability[k] <= 1.0);

    /* A wide target with a large common divisor is fine: 데몬어벤져 scores are multiples of 500. */
    flame_weights_t da = class_weights("데몬어벤져");
    flame_item_t da_weapon = {.level = 200, .weapon = true, .boss = true, .base_att = 300, .base_mag = 0};
    flame_stats_t da_stats = {.attack_power = 150, .max_hp = 3000}; /* S = 255000 > FLAME_MAX_TARGET */
    flame_evaluate(&da, &da_weapon, &da_stats, &r);
    assert_int_equal(r.target_score, 255000);
    assert_int_equal(r.status, VAL_OK);
    for (int k = 0; k < FLAME__COUNT; k++)
        if (r.has_trials[k])
            assert_rel(r.probability[k], spec_probability(&da, &da_weapon, 255000, (flame_kind_t)k));
}

/* ---- properties and oracles ------------------------------------------------------------------- */

/* P never increases with the target, and is 0 exactly beyond the best possible roll. */
static void test_monotone_in_target(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    flame_item_t items[] = {
        make_item("커맨더 포스 이어링", 200, false, 5, 5),
        make_item("블루 엘리멘탈 글로브", 110, false, 0, 0),
        make_item("제네시스 스태프", 200, true, 251, 406),
        make_item("저주받은 청의 마도서", 160, false, 10, 10),
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        for (int k = 0; k < FLAME__COUNT; k++) {
            int64_t reach = max_reach(&w, &items[i], (flame_kind_t)k);
            int64_t step = reach / 300 > 1 ? reach / 300 : 1;
            double prev = 1.0;
            for (int64_t s = 1; s <= reach + 2 * step; s += step) {
                double p = flame_probability(&w, &items[i], s, (flame_kind_t)k);
                assert_true(p <= prev * (1.0 + 1e-12));
                assert_true(s <= reach ? p > 0.0 : p == 0.0);
                prev = p;
            }
            assert_true(flame_probability(&w, &items[i], reach, (flame_kind_t)k) > 0.0);
            assert_true(flame_probability(&w, &items[i], reach + 1, (flame_kind_t)k) == 0.0);
        }
    }
}

/* The optimised DP against the spec's loop, over levels, classes, weapon/non-weapon, boss/non-boss. */
static void test_matches_spec_loop(void **state)
{
    (void)state;
    static const char *const classes[] = {EVAN, "데몬어벤져", "제논", "카데나", "히어로"};
    static const int levels[] = {90, 110, 130, 150, 160, 170, 175, 180, 200, 250};
    int checked = 0;
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        flame_weights_t w = class_weights(classes[c]);
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            for (int variant = 0; variant < 4; variant++) {
                flame_item_t item = {.level = levels[l], .weapon = variant >= 2, .boss = variant % 2 == 1,
                                     .base_att = 150 + levels[l] / 2, .base_mag = 90 + levels[l]};
                for (int k = 0; k < FLAME__COUNT; k++) {
                    int64_t reach = max_reach(&w, &item, (flame_kind_t)k);
                    int64_t targets[] = {1, 7, reach / 3 + 1, 2 * reach / 3, reach - 1, reach};
                    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
                        int64_t s = targets[t];
                        if (s < 1 || s > 30000) /* keep the verbatim loop cheap */
                            continue;
                        double want = spec_probability(&w, &item, s, (flame_kind_t)k);
                        double got = flame_probability(&w, &item, s, (flame_kind_t)k);
                        assert_true(want > 0.0);
                        assert_rel(got, want);
                        checked++;
                    }
                }
            }
        }
    }
    assert_true(checked > 2500); /* the grid really ran (most targets are below the cap) */
}

/* Brute force: enumerate every option subset and every stage combination. */
static double brute_subsets(const flame_dist_t *q, int n, int k, int64_t target)
{
    /* Sum over k-subsets (indices ascending) of P(sum of scores >= target); Kahan accumulated. */
    kahan_t total = KAHAN_INIT;
    int idx[4];
    for (int j = 0; j < k; j++)
        idx[j] = j;
    for (;;) {
        int pick[4] = {0, 0, 0, 0};
        for (;;) { /* odometer over the stage entries of the chosen options */
            int64_t sum = 0;
            double p = 1.0;
            for (int j = 0; j < k; j++) {
                sum += q[idx[j]].score[pick[j]];
                p *= q[idx[j]].prob[pick[j]];
            }
            if (sum >= target)
                kahan_add(&total, p);
            int j = k - 1;
            while (j >= 0 && ++pick[j] == q[idx[j]].count)
                pick[j--] = 0;
            if (j < 0)
                break;
        }
        int j = k - 1;
        while (j >= 0 && idx[j] == n - k + j)
            j--;
        if (j < 0)
            break;
        idx[j]++;
        for (int m = j + 1; m < k; m++)
            idx[m] = idx[m - 1] + 1;
    }
    return total.sum;
}

static void test_brute_force(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    flame_item_t boss = make_item("커맨더 포스 이어링", 200, false, 5, 5);
    flame_item_t plain = make_item("블루 엘리멘탈 글로브", 110, false, 0, 0);
    flame_dist_t q[FLAME_POOL_MAX];
    for (int k = 0; k < FLAME__COUNT; k++) {
        for (size_t i = 0; i < 21; i++)
            flame_option_dist(&w, &boss, i, (flame_kind_t)k, &q[i]);
        static const int64_t boss_targets[] = {1, 500, 1000, 1656, 2500, 3200};
        for (size_t t = 0; t < sizeof boss_targets / sizeof boss_targets[0]; t++) {
            double want = brute_subsets(q, 21, 4, boss_targets[t]) / binom_d(21, 4);
            if (want == 0.0)
                continue;
            assert_rel(flame_probability(&w, &boss, boss_targets[t], (flame_kind_t)k), want);
        }
        for (size_t i = 0; i < 21; i++)
            flame_option_dist(&w, &plain, i, (flame_kind_t)k, &q[i]);
        static const int64_t plain_targets[] = {1, 150, 300, 600, 900};
        for (size_t t = 0; t < sizeof plain_targets / sizeof plain_targets[0]; t++) {
            kahan_t sum = KAHAN_INIT;
            for (int kk = 1; kk <= 4; kk++)
                kahan_add(&sum, brute_subsets(q, 21, kk, plain_targets[t]) / binom_d(21, kk));
            double want = sum.sum / 4.0;
            if (want == 0.0)
                continue;
            assert_rel(flame_probability(&w, &plain, plain_targets[t], (flame_kind_t)k), want);
        }
    }
}

/* The result does not depend on leftovers in caller storage. */
static void test_result_fully_written(void **state)
{
    (void)state;
    flame_weights_t w = class_weights(EVAN);
    const golden_t *g = &GOLDEN[1];
    flame_item_t item = make_item(g->name, g->level, g->weapon, g->base_att, g->base_mag);
    flame_result_t a, b;
    memset(&a, 0x00, sizeof a);
    memset(&b, 0xA5, sizeof b);
    flame_evaluate(&w, &item, &g->stats, &a);
    flame_evaluate(&w, &item, &g->stats, &b);
    assert_memory_equal(&a, &b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_rows),
        cmocka_unit_test(test_grimoire_powerful_unreachable),
        cmocka_unit_test(test_weapon_att_values),
        cmocka_unit_test(test_synthetic),
        cmocka_unit_test(test_commander_earring_dists),
        cmocka_unit_test(test_gap_completion),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_class_weights),
        cmocka_unit_test(test_is_boss),
        cmocka_unit_test(test_not_applicable),
        cmocka_unit_test(test_all_unreachable),
        cmocka_unit_test(test_target_out_of_range),
        cmocka_unit_test(test_monotone_in_target),
        cmocka_unit_test(test_matches_spec_loop),
        cmocka_unit_test(test_brute_force),
        cmocka_unit_test(test_result_fully_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
