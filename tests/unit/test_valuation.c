/* test_valuation.c - end-to-end goldens 8.11 and 8.12 through decode + valuation, and a fuzz-style
 * test: truncated and mutated copies of the sample payload never crash; they give a clear error or a
 * valid result whose every preset total is finite and non-negative. */
#include "testutil.h"

#include "base/buf.h"
#include "domain/equipment.h"
#include "domain/ptable.h"
#include "domain/report.h"
#include "domain/valuation.h"

typedef struct {
    ptable_t *black_only;
    ptable_t *both;
    char *json;
    size_t len;
} fixture_t;

static void add_file(ptable_t *t, const char *path)
{
    size_t len;
    char *data = tu_read_file(path, &len);
    char err[256];
    assert_int_equal(ptable_add_csv(t, data, len, path, err, sizeof err), 0);
    free(data);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->black_only = ptable_new();
    add_file(f->black_only, TU_BLACK_CSV);
    ptable_finish(f->black_only);
    f->both = ptable_new();
    add_file(f->both, TU_BLACK_CSV);
    add_file(f->both, TU_ADDITIONAL_CSV);
    ptable_finish(f->both);
    f->json = tu_read_file(TU_SAMPLE_JSON, &f->len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ptable_free(f->black_only);
    ptable_free(f->both);
    free(f->json);
    free(f);
    return 0;
}

static valuation_t *value(const ptable_t *t, const char *json, size_t len, equip_doc_t **doc)
{
    char err[256];
    assert_int_equal(equip_parse(json, len, doc, err, sizeof err), 0);
    valuation_t *v = NULL;
    assert_int_equal(valuation_compute(t, *doc, NULL, &v), 0);
    return v;
}

static void test_golden_8_11_black_only(void **state)
{
    fixture_t *f = *state;
    equip_doc_t *doc;
    valuation_t *v = value(f->black_only, f->json, f->len, &doc);
    const double black[3] = {1609165000000.0, 3076580000000.0, 1487170000000.0};
    const double sf[3] = {217386776179.0, 268305981940.0, 185050028230.0};
    const double total[3] = {1826551776179.0, 3344885981940.0, 1672220028230.0};
    const int incomplete[3] = {16, 20, 16};
    assert_int_equal(v->preset_count, 3);
    for (int p = 0; p < 3; p++) {
        assert_true(v->presets[p].breakdown.black.value == black[p]);
        assert_true(v->presets[p].breakdown.starforce.value == sf[p]);
        assert_true(v->presets[p].total == total[p]);
        assert_int_equal(v->presets[p].incomplete_count, incomplete[p]);
        assert_false(v->presets[p].complete);
    }
    assert_int_equal(v->presets[v->max_index].preset_no, 2);
    valuation_free(v);
    equip_free(doc);
}

static void test_golden_8_12_both_tables(void **state)
{
    fixture_t *f = *state;
    equip_doc_t *doc;
    valuation_t *v = value(f->both, f->json, f->len, &doc);
    const double add[3] = {5447853125000.0, 6411169375000.0, 4595686225000.0};
    const double total[3] = {7274404901179.0, 9756055356940.0, 6267906253230.0};
    for (int p = 0; p < 3; p++) {
        assert_true(v->presets[p].breakdown.additional.value == add[p]);
        assert_true(v->presets[p].total == total[p]);
        assert_true(v->presets[p].complete);
    }
    assert_int_equal(v->presets[v->max_index].preset_no, 2);
    valuation_free(v);
    equip_free(doc);
}

/* Decode + value + serialise one candidate; an error must be a message, a result must be sane. */
static void check_candidate(const ptable_t *t, const char *json, size_t len)
{
    char err[256] = "";
    equip_doc_t *doc = NULL;
    if (equip_parse(json, len, &doc, err, sizeof err) != 0) {
        assert_null(doc);
        assert_true(strlen(err) > 0);
        return;
    }
    valuation_t *v = NULL;
    assert_int_equal(valuation_compute(t, doc, NULL, &v), 0);
    for (int p = 0; p < v->preset_count; p++)
        assert_true(isfinite(v->presets[p].total) && v->presets[p].total >= 0);
    buf_t out;
    buf_init(&out, 64u << 20);
    report_meta_t meta = {.user_ign = "", .calculated_at = "x"};
    assert_int_equal(report_v4_json(v, &meta, &out), 0);
    buf_dispose(&out);
    valuation_free(v);
    equip_free(doc);
}

static void test_fuzz_truncated_and_mutated(void **state)
{
    fixture_t *f = *state;
    /* truncations at 200 offsets spread over the payload */
    for (size_t i = 0; i < 200; i++)
        check_candidate(f->both, f->json, f->len * i / 200);
    /* byte mutations: xorshift-chosen positions and values, deterministic */
    char *copy = malloc(f->len);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    static const char replacements[] = "\"{}[],:0123456789-+.eE \\nulltruefalse\x80\xff\x00";
    for (int round = 0; round < 300; round++) {
        memcpy(copy, f->json, f->len);
        for (int m = 0; m < 1 + round % 8; m++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy[x % f->len] = replacements[(x >> 32) % (sizeof replacements - 1)];
        }
        check_candidate(f->both, copy, f->len);
    }
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_8_11_black_only),
        cmocka_unit_test(test_golden_8_12_both_tables),
        cmocka_unit_test(test_fuzz_truncated_and_mutated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
