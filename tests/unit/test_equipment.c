/* test_equipment.c - payload decoding (valuation §1.2, §1.4, 10.B): the real sample, coercion rules,
 * blank slots, presets, and precise errors for malformed or wrongly shaped input. */
#include "testutil.h"

#include "domain/equipment.h"

static bool text_is(cube_text_t t, const char *s) { return t.ptr && t.len == strlen(s) && memcmp(t.ptr, s, t.len) == 0; }

static equip_doc_t *parse_ok(const char *json)
{
    char err[256] = "";
    equip_doc_t *doc = NULL;
    int rc = equip_parse(json, strlen(json), &doc, err, sizeof err);
    if (rc != 0) {
        print_error("unexpected error: %s\n", err);
        fail();
    }
    return doc;
}

static void parse_err(const char *json, const char *want_substring)
{
    char err[256] = "";
    equip_doc_t *doc = NULL;
    assert_int_equal(equip_parse(json, strlen(json), &doc, err, sizeof err), -1);
    assert_null(doc);
    if (!strstr(err, want_substring)) {
        print_error("error '%s' does not contain '%s'\n", err, want_substring);
        fail();
    }
}

static void test_sample_payload(void **state)
{
    (void)state;
    size_t len;
    char *json = tu_read_file(TU_SAMPLE_JSON, &len);
    char err[256];
    equip_doc_t *doc = NULL;
    assert_int_equal(equip_parse(json, len, &doc, err, sizeof err), 0);
    free(json); /* the document must not borrow the input bytes */
    assert_true(text_is(doc->character_class, "에반"));
    assert_int_equal(doc->preset_count, 3);
    assert_int_equal(doc->presets[0].count, 23);
    assert_int_equal(doc->presets[1].count, 24);
    assert_int_equal(doc->presets[2].count, 23);
    const equip_item_t *ear = &doc->presets[0].items[1];
    assert_true(text_is(ear->name, "커맨더 포스 이어링"));
    assert_true(text_is(ear->slot, "귀고리"));
    assert_int_equal(ear->level, 200);
    assert_int_equal(ear->starforce, 22);
    assert_false(ear->noljang);
    assert_true(text_is(ear->grade, "레전드리"));
    assert_true(text_is(ear->lines[0], "INT +12%"));
    assert_true(text_is(ear->add_lines[0], "캐릭터 기준 9레벨 당 INT +2"));
    assert_int_equal(ear->flame.str, 30);
    assert_int_equal(ear->flame.int_, 162);
    assert_int_equal(ear->flame.luk, 36);
    assert_true(text_is(equip_table_part(ear), "귀고리"));
    equip_free(doc);
}

static void test_table_part_mapping(void **state)
{
    (void)state;
    equip_item_t it;
    memset(&it, 0, sizeof it);
    it.slot = (cube_text_t){"보조무기", strlen("보조무기")};
    it.part = (cube_text_t){"문서", strlen("문서")};
    assert_true(text_is(equip_table_part(&it), "보조무기"));
    it.part = (cube_text_t){"포스실드", strlen("포스실드")};
    assert_true(text_is(equip_table_part(&it), "포스실드"));
    it.part = (cube_text_t){"소울링", strlen("소울링")};
    assert_true(text_is(equip_table_part(&it), "소울링"));
    it.part = (cube_text_t){"방패", strlen("방패")};
    assert_true(text_is(equip_table_part(&it), "방패"));
    it.slot = (cube_text_t){"상의", strlen("상의")};
    it.part = (cube_text_t){"한벌옷", strlen("한벌옷")};
    assert_true(text_is(equip_table_part(&it), "한벌옷"));
    it.slot = (cube_text_t){"반지1", strlen("반지1")};
    it.part = (cube_text_t){"반지", strlen("반지")};
    assert_true(text_is(equip_table_part(&it), "반지1"));
}

static void test_coercion(void **state)
{
    (void)state;
    equip_doc_t *doc = parse_ok(
        "{\"character_class\":\"  에반 \",\"item_equipment_preset_1\":[{"
        "\"item_equipment_slot\":\"모자\",\"starforce\":\" +17 \",\"special_ring_level\":3.9,"
        "\"starforce_scroll_flag\":\"사용\","
        "\"item_base_option\":{\"base_equipment_level\":\"150\",\"attack_power\":true,\"magic_power\":\"12abc\"},"
        "\"item_add_option\":{\"str\":\"-5\",\"dex\":-7.8,\"int\":null,\"luk\":\"\"},"
        "\"potential_option_grade\":12,\"potential_option_1\":null,\"potential_option_2\":false,"
        "\"potential_option_3\":\"  verbatim  \"}]}");
    assert_true(text_is(doc->character_class, "에반"));
    assert_int_equal(doc->preset_count, 1);
    const equip_item_t *it = &doc->presets[0].items[0];
    assert_int_equal(it->starforce, 17);
    assert_int_equal(it->special_ring_level, 3); /* truncated toward zero */
    assert_true(it->noljang);
    assert_int_equal(it->level, 150);
    assert_int_equal(it->base_att, 0); /* boolean → 0 */
    assert_int_equal(it->base_mag, 0); /* not digits only → 0 */
    assert_int_equal(it->flame.str, -5);
    assert_int_equal(it->flame.dex, -7);
    assert_int_equal(it->flame.int_, 0);
    assert_int_equal(it->flame.luk, 0);
    assert_true(text_is(it->grade, "12"));   /* other scalars read as their text (B3) */
    assert_null(it->lines[0].ptr);           /* JSON null line is blank (decision l) */
    assert_true(text_is(it->lines[1], "false"));
    assert_true(text_is(it->lines[2], "  verbatim  ")); /* lines are verbatim (B1) */
    equip_free(doc);
}

static void test_blank_slots_and_presets(void **state)
{
    (void)state;
    equip_doc_t *doc = parse_ok("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\" \"},"
                                "{\"item_equipment_slot\":\"NULL\"},{\"item_equipment_slot\":null},{},null],"
                                "\"item_equipment_preset_2\":[],\"item_equipment_preset_3\":null}");
    /* A13: a non-empty array whose elements all have blank slots is a preset with 0 items */
    assert_int_equal(doc->preset_count, 1);
    assert_int_equal(doc->presets[0].preset_no, 1);
    assert_int_equal(doc->presets[0].count, 0);
    assert_null(doc->character_class.ptr);
    equip_free(doc);

    doc = parse_ok("{\"item_equipment_preset_2\":[{\"item_equipment_slot\":\"신발\"},{\"item_equipment_slot\":\"\"},"
                   "{\"item_equipment_slot\":\"장갑\"}]}");
    assert_int_equal(doc->preset_count, 1);
    assert_int_equal(doc->presets[0].preset_no, 2);
    assert_int_equal(doc->presets[0].count, 2);
    assert_true(text_is(doc->presets[0].items[1].slot, "장갑")); /* array order kept */
    equip_free(doc);

    doc = parse_ok("{}");
    assert_int_equal(doc->preset_count, 0);
    equip_free(doc);
}

static void test_errors_are_precise(void **state)
{
    (void)state;
    parse_err("", "invalid JSON at byte 0");
    parse_err("{\"a\": [1, 2,, 3]}", "invalid JSON at byte 12");
    parse_err("{\"a\":1} x", "unexpected data after the document");
    parse_err("[1,2]", "$: expected an object, got an array");
    parse_err("{\"item_equipment_preset_1\":\"x\"}", "$.item_equipment_preset_1: expected an array, got a string");
    parse_err("{\"item_equipment_preset_2\":[{\"item_equipment_slot\":\"모자\"}, 5]}",
              "$.item_equipment_preset_2[1]: expected an object, got a number");
    parse_err("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\"모자\",\"item_add_option\":[]}]}",
              "$.item_equipment_preset_1[0].item_add_option: expected an object, got an array");
    parse_err("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\"모자\",\"starforce\":{}}]}",
              "$.item_equipment_preset_1[0].starforce: expected a number or a string, got an object");
    parse_err("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\"모자\",\"potential_option_1\":[]}]}",
              "potential_option_1: expected a string, got an array");
    parse_err("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\"모자\","
              "\"item_base_option\":{\"base_equipment_level\":5000}}]}",
              "out of range");
    parse_err("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\"모자\","
              "\"item_add_option\":{\"str\":\"99999999999999999999999\"}}]}",
              "item_add_option.str: number out of range");
    parse_err("{\"item_equipment_preset_1\":[{\"item_equipment_slot\":\"모자\",\"starforce\":1e300}]}",
              "starforce: number out of range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_payload),
        cmocka_unit_test(test_table_part_mapping),
        cmocka_unit_test(test_coercion),
        cmocka_unit_test(test_blank_slots_and_presets),
        cmocka_unit_test(test_errors_are_precise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
