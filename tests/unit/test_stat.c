/*
 * test_stat.c - line classification, stated values, contributions, inference and method choice
 *   (valuation §2.1-2.7, golden 8.5 and the 2.9 table; decisions c, d, m, n, p).
 */
#include "testutil.h"

#include <limits.h>

#include "domain/stat.h"

#define BIT(t) (1u << (t))

static stat_line_t cls(const char *s)
{
    stat_line_t l;
    stat_classify(s, strlen(s), &l);
    return l;
}

typedef struct {
    const char *line;
    uint32_t types;
    int value;
} cls_case_t;

/* Golden 8.5. Unrecognised rows have types 0 (their value is not part of the contract). */
static void test_golden_8_5(void **state)
{
    (void)state;
    static const cls_case_t cases[] = {
        {"STR +12%", BIT(STAT_STR_PERCENT), 12},
        {"STR/DEX +6%", BIT(STAT_STR_PERCENT) | BIT(STAT_DEX_PERCENT), 6},
        {"올스탯 +9%", BIT(STAT_ALLSTAT_PERCENT), 9},
        {"올스탯 +5", BIT(STAT_ALL_STAT), 5},
        {"공격력 +32", BIT(STAT_ATTACK_POWER), 32},
        {"마력 +12%", BIT(STAT_MAGIC_POWER_PERCENT), 12},
        {"보스 몬스터 데미지 +35%", BIT(STAT_BOSS_DAMAGE), 35},
        {"보스 몬스터 공격 시 데미지 +30%", BIT(STAT_BOSS_DAMAGE), 30},
        {"몬스터 방어율 무시 +35%", BIT(STAT_IGNORE_DEFENSE), 35},
        {"데미지 +12%", BIT(STAT_DAMAGE), 12},
        {"크리티컬 데미지 +8%", BIT(STAT_CRITICAL_DAMAGE), 8},
        {"최대 HP +9%", BIT(STAT_HP_PERCENT), 9},
        {"최대 HP +120", BIT(STAT_HP), 120},
        {"아이템 드롭률 +20%", BIT(STAT_ITEM_DROP), 20},
        {"메소 획득량 +20%", BIT(STAT_MESO_DROP), 20},
        {"스킬 재사용 대기시간 -2초", BIT(STAT_COOLDOWN_REDUCTION), -2},
        {"캐릭터 기준 9레벨 당 INT +2", BIT(STAT_LEVEL_INT), 2},
        {"캐릭터 기준 10레벨 당 공격력 +1", 0, 0},
        {"피격 시 5% 확률로 데미지의 40% 무시", 0, 0},
        {"공격 시 7% 확률로 오토스틸", 0, 0},
        {"공격 시 15% 확률로 95의 HP 회복", 0, 0},
        {"HP 회복 아이템 및 회복 스킬 효율 +30%", 0, 0},
        {"크리티컬 확률 +12%", 0, 0},
        {"최대 MP +9%", 0, 0},
        {"방어력 +6%", 0, 0},
        {"이동속도 +8", 0, 0},
        {"<쓸만한 헤이스트> 스킬 사용 가능", 0, 0},
        {"&lt;쓸만한 미스틱 도어&gt; 스킬 사용 가능", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        stat_line_t l = cls(cases[i].line);
        if (l.types != cases[i].types || (cases[i].types != 0 && l.value != cases[i].value)) {
            print_error("%s: types %#x value %d, want %#x %d\n", cases[i].line, l.types, l.value,
                           cases[i].types, cases[i].value);
            fail();
        }
        if (cases[i].types == 0)
            assert_int_equal(l.value, 0);
    }
}

static void test_level_lines(void **state)
{
    (void)state;
    assert_int_equal(cls("캐릭터 기준 9레벨 당 STR +2").types, BIT(STAT_LEVEL_STR));
    assert_int_equal(cls("캐릭터 기준 9레벨 당 DEX +1").types, BIT(STAT_LEVEL_DEX));
    assert_int_equal(cls("캐릭터 기준 9레벨 당 LUK +1").types, BIT(STAT_LEVEL_LUK));
    /* the first of STR, DEX, INT, LUK named wins */
    assert_int_equal(cls("캐릭터 기준 9레벨 당 DEX STR +1").types, BIT(STAT_LEVEL_STR));
    /* "레벨 당" alone is not a level-scaling line (falls through to the keyword tables) */
    assert_int_equal(cls("9레벨 당 INT +2").types, BIT(STAT_INT));
    assert_int_equal(cls("캐릭터 기준 9레벨 당 INT +2").value, 2);
}

static void test_keyword_removal(void **state)
{
    (void)state;
    /* boss lines never count as DAMAGE (decision d): "데미지" is removed with the boss keyword */
    assert_int_equal(cls("보스 몬스터 데미지 +40%").types, BIT(STAT_BOSS_DAMAGE));
    assert_int_equal(cls("크리티컬 데미지 +1%").types, BIT(STAT_CRITICAL_DAMAGE));
    /* a line with both keywords in separate places keeps both types */
    assert_int_equal(cls("크리티컬 데미지 +1% 데미지").types, BIT(STAT_CRITICAL_DAMAGE) | BIT(STAT_DAMAGE));
    /* removing every occurrence: "최대 HP" twice still one type */
    assert_int_equal(cls("최대 HP 최대 HP +5%").types, BIT(STAT_HP_PERCENT));
    /* the flat list has no DAMAGE keyword */
    assert_int_equal(cls("데미지 +12").types, 0u);
    /* case-sensitive */
    assert_int_equal(cls("str +12%").types, 0u);
    /* flat list used when there is no '%' */
    assert_int_equal(cls("STR +12").types, BIT(STAT_STR));
    assert_int_equal(cls("재사용 대기시간 -1초").types, BIT(STAT_COOLDOWN_REDUCTION));
}

static void test_blank_rule(void **state)
{
    (void)state;
    assert_true(stat_text_is_blank(NULL, 0));
    assert_true(stat_text_is_blank("", 0));
    assert_true(stat_text_is_blank(" ", 1));
    assert_true(stat_text_is_blank(" \t\r\n", 4));
    assert_true(stat_text_is_blank("null", 4));
    assert_true(stat_text_is_blank("NULL ", 5));
    assert_true(stat_text_is_blank("  NuLl\t", 7));
    assert_false(stat_text_is_blank("nul", 3));
    assert_false(stat_text_is_blank("null x", 6));
    assert_false(stat_text_is_blank("nulls", 5));
    assert_false(stat_text_is_blank("STR +1%", 7));
    /* the length is what counts, not a NUL */
    assert_true(stat_text_is_blank("nullSTR", 4));
    assert_int_equal(cls("").types, 0u);
    assert_int_equal(cls(" ").types, 0u);
    assert_int_equal(cls("null").types, 0u);
    assert_int_equal(cls("NULL ").types, 0u);
}

static void test_values(void **state)
{
    (void)state;
    assert_int_equal(stat_line_value("+450", 4), 450);
    assert_int_equal(stat_line_value("-2초", strlen("-2초")), -2);
    assert_int_equal(stat_line_value("9레벨 당 INT +2", strlen("9레벨 당 INT +2")), 2);
    assert_int_equal(stat_line_value("STR +12%", 8), 12);
    assert_int_equal(stat_line_value("보스 몬스터 데미지 +35%", strlen("보스 몬스터 데미지 +35%")), 35);
    /* rule 2: the last digit run when no sign precedes a digit */
    assert_int_equal(stat_line_value("레벨 9 또는 12", strlen("레벨 9 또는 12")), 12);
    assert_int_equal(stat_line_value("a+ 7", 4), 7);
    /* rule 3 */
    assert_int_equal(stat_line_value("이동속도", strlen("이동속도")), 0);
    assert_int_equal(stat_line_value("", 0), 0);
    assert_int_equal(stat_line_value(NULL, 0), 0);
    /* the last sign wins */
    assert_int_equal(stat_line_value("+3 then -4", 10), -4);
    assert_int_equal(stat_line_value("x+-5", 4), -5);
    /* a sign at the very end is not followed by a digit */
    assert_int_equal(stat_line_value("12+", 3), 12);
    /* explicit length: bytes after len are never read */
    assert_int_equal(stat_line_value("+12345", 3), 12);
    /* saturation instead of overflow */
    assert_int_equal(stat_line_value("STR +99999999999999999999%", strlen("STR +99999999999999999999%")),
                     1000000000);
    assert_int_equal(stat_line_value("-99999999999999999999", 21), -1000000000);
}

static void test_not_nul_terminated_and_long(void **state)
{
    (void)state;
    /* a line embedded in a larger buffer: only len bytes count */
    const char buf[] = "STR +12%INT";
    stat_line_t l;
    stat_classify(buf, 8, &l);
    assert_int_equal(l.types, BIT(STAT_STR_PERCENT));
    assert_int_equal(l.value, 12);
    stat_classify(buf, 3, &l); /* "STR" without '%': flat */
    assert_int_equal(l.types, BIT(STAT_STR));

    /* longer than the stack buffer: heap copy, same answer */
    size_t pad = 2000;
    char *big = malloc(pad + 32);
    assert_non_null(big);
    memset(big, 'x', pad);
    memcpy(big + pad, "보스 몬스터 데미지 +40%", strlen("보스 몬스터 데미지 +40%"));
    size_t n = pad + strlen("보스 몬스터 데미지 +40%");
    stat_classify(big, n, &l);
    assert_int_equal(l.types, BIT(STAT_BOSS_DAMAGE));
    assert_int_equal(l.value, 40);
    free(big);
}

static void test_contribution(void **state)
{
    (void)state;
    stat_line_t pct = cls("올스탯 +5%"), flat = cls("올스탯 +5"), lvl = cls("캐릭터 기준 9레벨 당 INT +2");
    stat_line_t intp = cls("INT +9%"), strdex = cls("STR/DEX +6%");
    /* same unit only (decision n) */
    assert_int_equal(stat_contribution(&pct, STAT_INT_PERCENT), 5);
    assert_int_equal(stat_contribution(&pct, STAT_LUK_PERCENT), 5);
    assert_int_equal(stat_contribution(&pct, STAT_INT), 0);
    assert_int_equal(stat_contribution(&pct, STAT_LEVEL_INT), 0);
    assert_int_equal(stat_contribution(&pct, STAT_ALLSTAT_PERCENT), 5);
    assert_int_equal(stat_contribution(&flat, STAT_INT), 5);
    assert_int_equal(stat_contribution(&flat, STAT_INT_PERCENT), 0);
    assert_int_equal(stat_contribution(&flat, STAT_LEVEL_INT), 0);
    assert_int_equal(stat_contribution(&lvl, STAT_LEVEL_INT), 2);
    assert_int_equal(stat_contribution(&lvl, STAT_INT), 0);
    assert_int_equal(stat_contribution(&lvl, STAT_INT_PERCENT), 0);
    assert_int_equal(stat_contribution(&intp, STAT_INT_PERCENT), 9);
    assert_int_equal(stat_contribution(&intp, STAT_STR_PERCENT), 0);
    assert_int_equal(stat_contribution(&strdex, STAT_DEX_PERCENT), 6);
    assert_int_equal(stat_contribution(&strdex, STAT_INT_PERCENT), 0);
    stat_line_t boss = cls("보스 몬스터 데미지 +35%");
    assert_int_equal(stat_contribution(&boss, STAT_DAMAGE), 0);
    assert_int_equal(stat_contribution(&boss, STAT_BOSS_DAMAGE), 35);
    stat_line_t none = {0, 0};
    assert_int_equal(stat_contribution(&none, STAT_STR), 0);
    assert_int_equal(stat_contribution(&intp, STAT__COUNT), 0);
}

typedef struct {
    const char *l[3];
    bool compound;
    bool valid;
    stat_type_t best;
    int best_value;
    int total;
    cube_method_t method;
} choice_case_t;

/* The 2.9 table. Compound rows do not state an inference; their best/total are not checked. */
static void test_examples_2_9(void **state)
{
    (void)state;
    static const choice_case_t cases[] = {
        {{"STR +12%", "STR +9%", "STR +9%"}, false, true, STAT_STR_PERCENT, 30, 30, CUBE_METHOD_THRESHOLD},
        {{"INT +13%", "INT +10%", "올스탯 +7%"}, false, true, STAT_INT_PERCENT, 30, 51, CUBE_METHOD_THRESHOLD},
        {{"올스탯 +9%", "올스탯 +9%", "INT +9%"}, false, true, STAT_INT_PERCENT, 27, 81, CUBE_METHOD_EXACT_MATCH},
        {{"올스탯 +9%", "올스탯 +9%", "올스탯 +9%"}, false, true, STAT_STR_PERCENT, 27, 108, CUBE_METHOD_EXACT_MATCH},
        {{"보스 몬스터 데미지 +35%", "보스 몬스터 데미지 +30%", "보스 몬스터 데미지 +30%"}, false, true,
         STAT_BOSS_DAMAGE, 95, 95, CUBE_METHOD_THRESHOLD},
        {{"몬스터 방어율 무시 +35%", "보스 몬스터 데미지 +40%", "보스 몬스터 데미지 +30%"}, false, true,
         STAT_BOSS_DAMAGE, 70, 105, CUBE_METHOD_THRESHOLD},
        {{"몬스터 방어율 무시 +35%", "마력 +12%", "마력 +9%"}, true, true, STAT_IGNORE_DEFENSE, 0, 0,
         CUBE_METHOD_EXACT_MATCH},
        {{"스킬 재사용 대기시간 -2초", "스킬 재사용 대기시간 -2초", "스킬 재사용 대기시간 -2초"}, false, false,
         STAT_COOLDOWN_REDUCTION, -6, -6, CUBE_METHOD_EXACT_MATCH},
        {{"아이템 드롭률 +20%", "INT +9%", "INT +9%"}, false, true, STAT_ITEM_DROP, 20, 38, CUBE_METHOD_THRESHOLD},
        {{"메소 획득량 +20%", "아이템 드롭률 +20%", "INT +9%"}, false, true, STAT_ITEM_DROP, 20, 49,
         CUBE_METHOD_EXACT_MATCH},
        {{"캐릭터 기준 9레벨 당 INT +2", "올스탯 +5%", "INT +6%"}, false, true, STAT_INT_PERCENT, 11, 28,
         CUBE_METHOD_EXACT_MATCH},
        {{"STR +12", "올스탯 +5", "DEX +12"}, false, true, STAT_STR, 17, 44, CUBE_METHOD_EXACT_MATCH},
        {{"공격 시 7% 확률로 오토스틸", "LUK +9%", "공격 시 2% 확률로 오토스틸"}, false, true, STAT_LUK_PERCENT, 9, 9,
         CUBE_METHOD_THRESHOLD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const choice_case_t *c = &cases[i];
        stat_line_t lines[3];
        for (int k = 0; k < 3; k++)
            lines[k] = cls(c->l[k]);
        stat_choice_t ch;
        stat_choose_method(lines, &ch);
        if (ch.compound != c->compound || ch.method != c->method) {
            print_error("row %zu: compound %d method %d\n", i, ch.compound, ch.method);
            fail();
        }
        if (c->compound)
            continue;
        assert_int_equal(ch.inference_valid, c->valid);
        assert_int_equal(ch.best, c->best);
        assert_int_equal(ch.best_value, c->best_value);
        assert_int_equal(ch.total, c->total);
        double conf = c->total > 0 ? (double)c->best_value / c->total : 0.0;
        assert_rel(ch.confidence, conf);
        if (c->method == CUBE_METHOD_THRESHOLD) {
            assert_int_equal(ch.target, c->best);
            assert_int_equal(ch.min_total, c->best_value);
        }
    }
}

static void test_choice_edges(void **state)
{
    (void)state;
    stat_line_t lines[3] = {{0, 0}, {0, 0}, {0, 0}};
    stat_choice_t ch;
    /* no recognised line: invalid → exact match */
    stat_choose_method(lines, &ch);
    assert_false(ch.inference_valid);
    assert_false(ch.compound);
    assert_int_equal(ch.method, CUBE_METHOD_EXACT_MATCH);

    /* OTHER never makes a potential compound */
    lines[0] = cls("데미지 +12%");
    lines[1] = cls("INT +9%");
    lines[2] = cls("최대 HP +9%");
    stat_choose_method(lines, &ch);
    assert_false(ch.compound);

    /* confidence exactly 0.5 is enough */
    lines[0] = cls("INT +9%");
    lines[1] = cls("DEX +9%");
    lines[2] = cls("");
    stat_choose_method(lines, &ch);
    assert_rel(ch.confidence, 0.5);
    assert_int_equal(ch.method, CUBE_METHOD_THRESHOLD);
    assert_int_equal(ch.target, STAT_DEX_PERCENT); /* tie: DEX before INT in §2.1 */
    assert_int_equal(ch.min_total, 9);

    /* CRIT + STAT is compound */
    lines[0] = cls("크리티컬 데미지 +8%");
    lines[1] = cls("INT +9%");
    lines[2] = cls("");
    stat_choose_method(lines, &ch);
    assert_true(ch.compound);

    /* cooldown mixed with a stat is compound (COOLDOWN is its own category) */
    lines[0] = cls("스킬 재사용 대기시간 -1초");
    stat_choose_method(lines, &ch);
    assert_true(ch.compound);

    /* hostile values: no overflow, saturated and clamped */
    lines[0] = cls("STR +99999999999%");
    lines[1] = cls("STR +99999999999%");
    lines[2] = cls("STR +99999999999%");
    stat_choose_method(lines, &ch);
    assert_int_equal(ch.method, CUBE_METHOD_THRESHOLD);
    assert_int_equal(ch.min_total, INT_MAX);
    assert_rel(ch.confidence, 1.0);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(stat_type_name(STAT_STR), "STR");
    assert_string_equal(stat_type_name(STAT_BOSS_DAMAGE), "BOSS_DAMAGE");
    assert_string_equal(stat_type_name(STAT_LEVEL_LUK), "LEVEL_LUK");
    assert_string_equal(stat_type_name(STAT_COOLDOWN_REDUCTION), "COOLDOWN_REDUCTION");
    assert_int_equal(stat_type_category(STAT_ALL_STAT), STAT_CAT_STAT);
    assert_int_equal(stat_type_category(STAT_IGNORE_DEFENSE), STAT_CAT_BOSS_IED);
    assert_int_equal(stat_type_category(STAT_HP_PERCENT), STAT_CAT_OTHER);
    assert_int_equal(stat_type_category(STAT_CRITICAL_DAMAGE), STAT_CAT_CRIT_DMG);
    assert_int_equal(stat_type_category(STAT_COOLDOWN_REDUCTION), STAT_CAT_COOLDOWN);
    assert_int_equal(stat_type_category(STAT_LEVEL_INT), STAT_CAT_STAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_8_5),
        cmocka_unit_test(test_level_lines),
        cmocka_unit_test(test_keyword_removal),
        cmocka_unit_test(test_blank_rule),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_not_nul_terminated_and_long),
        cmocka_unit_test(test_contribution),
        cmocka_unit_test(test_examples_2_9),
        cmocka_unit_test(test_choice_edges),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
