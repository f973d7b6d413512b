/* test_base.c - buf (caps, sticky failure), jw (escaping, number formats), gz, arena. */
#include "testutil.h"

#include "base/arena.h"
#include "base/buf.h"
#include "base/gz.h"
#include "base/jw.h"

static void test_buf_cap_is_sticky(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 8);
    buf_puts(&b, "12345");
    assert_true(buf_ok(&b));
    buf_puts(&b, "6789"); /* 9 bytes > cap 8 */
    assert_false(buf_ok(&b));
    buf_puts(&b, "x"); /* later appends do nothing */
    assert_int_equal(b.len, 5);
    assert_string_equal(buf_cstr(&b), "12345");
    buf_dispose(&b);
    buf_dispose(&b); /* second dispose is a no-op */
}

static void test_buf_printf_long(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "<%s>", big);
    assert_true(buf_ok(&b));
    assert_int_equal(b.len, 1001);
    size_t len;
    char *p = buf_steal(&b, &len);
    assert_int_equal(len, 1001);
    assert_int_equal(p[0], '<');
    free(p);
    buf_dispose(&b);
}

static const char *write_doc(buf_t *b)
{
    jw_t w;
    jw_init(&w, b);
    jw_object_begin(&w);
    jw_key(&w, "s");
    jw_string(&w, "a\"b\\c\n\x01 한글");
    jw_key(&w, "bad");
    jw_string_n(&w, "x\xff\xc3y", 4); /* invalid UTF-8 → U+FFFD each */
    jw_key(&w, "n");
    jw_null(&w);
    jw_key(&w, "i");
    jw_int(&w, -42);
    jw_key(&w, "w");
    jw_whole(&w, 133335000000.0);
    jw_key(&w, "f");
    jw_fixed2(&w, 3.865);
    jw_key(&w, "d");
    jw_array_begin(&w);
    jw_double(&w, 0.9999990000000001);
    jw_double(&w, 0.1);
    jw_double(&w, 1.0);
    jw_double(&w, 1.3000000000000003e-05);
    jw_double(&w, NAN);
    jw_array_end(&w);
    jw_key(&w, "b");
    jw_bool(&w, true);
    jw_object_end(&w);
    return buf_cstr(b);
}

static void test_jw_document(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 4096);
    const char *doc = write_doc(&b);
    assert_true(buf_ok(&b));
    assert_string_equal(doc, "{\"s\":\"a\\\"b\\\\c\\n\\u0001 한글\",\"bad\":\"x\xEF\xBF\xBD\xEF\xBF\xBDy\",\"n\":null,"
                             "\"i\":-42,\"w\":133335000000,\"f\":3.87,"
                             "\"d\":[0.9999990000000001,0.1,1,1.3000000000000003e-05,null],\"b\":true}");
    buf_dispose(&b);
}

static void test_jw_roundtrip_random_doubles(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        buf_t b;
        buf_init(&b, 64);
        jw_t w;
        jw_init(&w, &b);
        jw_double(&w, v);
        assert_true(strtod(buf_cstr(&b), NULL) == v);
        buf_dispose(&b);
    }
}

static void test_gz_roundtrip_and_cap(void **state)
{
    (void)state;
    size_t len;
    char *json = tu_read_file(TU_SAMPLE_JSON, &len);
    buf_t z, plain, small;
    buf_init(&z, 1 << 22);
    buf_init(&plain, 1 << 22);
    buf_init(&small, 1000);
    assert_int_equal(gz_deflate(json, len, 6, &z), 0);
    assert_true(gz_is_gzip(z.data, z.len));
    assert_true(z.len < len / 4);
    assert_int_equal(gz_inflate(z.data, z.len, &plain), 0);
    assert_int_equal(plain.len, len);
    assert_memory_equal(plain.data, json, len);
    /* a cap below the inflated size is an error, not a truncated success */
    assert_int_equal(gz_inflate(z.data, z.len, &small), -1);
    /* truncated and corrupted streams are errors */
    buf_reset(&plain);
    assert_int_equal(gz_inflate(z.data, z.len / 2, &plain), -1);
    z.data[z.len / 2] ^= 0x5A;
    buf_reset(&plain);
    assert_int_equal(gz_inflate(z.data, z.len, &plain), -1);
    assert_false(gz_is_gzip("{}", 2));
    buf_dispose(&z);
    buf_dispose(&plain);
    buf_dispose(&small);
    free(json);
}

static void test_arena_cap(void **state)
{
    (void)state;
    arena_t a;
    arena_init(&a, 1 << 16);
    char *s = arena_strndup(&a, "hello", 3);
    assert_string_equal(s, "hel");
    int *p = arena_alloc(&a, 100 * sizeof(int));
    assert_non_null(p);
    assert_int_equal(p[99], 0);
    assert_null(arena_alloc(&a, 1 << 20)); /* past the cap */
    arena_dispose(&a);
    arena_dispose(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap_is_sticky),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_jw_document),
        cmocka_unit_test(test_jw_roundtrip_random_doubles),
        cmocka_unit_test(test_gz_roundtrip_and_cap),
        cmocka_unit_test(test_arena_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
