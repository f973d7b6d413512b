/* test_money.c - golden 8.1: Korean money text and comma text. */
#include "testutil.h"

#include "domain/money.h"

static void korean(double x, const char *want)
{
    char out[MONEY_TEXT_LEN];
    money_korean(x, out);
    if (strcmp(out, want) != 0) {
        print_error("money_korean(%.17g) = '%s', want '%s'\n", x, out, want);
        fail();
    }
}

static void test_korean_golden(void **state)
{
    (void)state;
    korean(0, "0");
    korean(-1, "0");
    korean(-100, "0");
    korean(NAN, "0");
    korean(12345678900000.0, "12조 3456억 7890만");
    korean(12345678901234.0, "12조 3456억 7890만");
    korean(500000000000.0, "5000억");
    korean(50000000.0, "5000만");
    korean(1234567.0, "123만");
    korean(10000.0, "1만");
    korean(100000000.0, "1억");
    korean(1000000000000.0, "1조");
    korean(9999.0, "0");
    korean(1.0, "0");
    korean(12345.67, "1만");
    korean(9999.5, "1만");
    korean(149504451106.0, "1495억 445만");
    korean(21503968000.0, "215억 396만");
    korean(3344885981940.0, "3조 3448억 8598만");
}

static void test_korean_huge_values_are_clamped(void **state)
{
    (void)state;
    /* INT64_MAX = 9,223,372,036,854,775,807 → 9223372조 368억 5477만 */
    korean(INFINITY, "9223372조 368억 5477만");
    korean(1e300, "9223372조 368억 5477만");
}

static void commas(int64_t n, const char *want)
{
    char out[MONEY_TEXT_LEN];
    money_commas(n, out);
    assert_string_equal(out, want);
}

static void test_commas_golden(void **state)
{
    (void)state;
    commas(12345678900000LL, "12,345,678,900,000");
    commas(500000000000LL, "500,000,000,000");
    commas(1234567, "1,234,567");
    commas(0, "0");
    commas(999, "999");
    commas(1000, "1,000");
    commas(-1234, "-1,234");
    commas(INT64_MIN, "-9,223,372,036,854,775,808");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_korean_golden),
        cmocka_unit_test(test_korean_huge_values_are_clamped),
        cmocka_unit_test(test_commas_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
