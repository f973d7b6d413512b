/*
 * test_cidr.c - CIDR lists of METRICS_ALLOWED_CIDRS / TRUSTED_PROXIES (src/http/net.c,
 * declared in http/http_internal.h): parsing IPv4 and IPv6 lists, prefix lengths 0/8/12/32/128
 * and odd ones, IPv4-mapped IPv6 peers, address families that must not match, bad input.
 */
#include "testutil.h"

#include <sys/socket.h>

#include "http/http_internal.h"

typedef struct {
    cidr_t list[MAX_CIDRS];
    int n;
    bool ok;
    char err[256];
} parsed_t;

static parsed_t parse(const char *text, int max)
{
    parsed_t p;
    memset(&p, 0, sizeof p);
    p.n = -1;
    p.ok = cidr_parse_list(text, p.list, max, &p.n, p.err, sizeof p.err);
    return p;
}

static parsed_t parse_ok_(const char *text, int want_n, int line)
{
    parsed_t p = parse(text, MAX_CIDRS);
    if (!p.ok || p.n != want_n) {
        print_error("line %d: '%s': ok %d n %d (want %d) err '%s'\n", line, text, p.ok, p.n, want_n, p.err);
        _fail(__FILE__, line);
    }
    return p;
}
#define parse_ok(text, n) parse_ok_((text), (n), __LINE__)

/* Fails unless parsing fails with a message that mentions `mention`. */
static void expect_bad_(const char *text, const char *mention, int line)
{
    parsed_t p = parse(text, MAX_CIDRS);
    if (p.ok || !strstr(p.err, mention)) {
        print_error("line %d: '%s': ok %d err '%s' (want an error mentioning '%s')\n", line, text, p.ok, p.err,
                    mention);
        _fail(__FILE__, line);
    }
}
#define expect_bad(text, mention) expect_bad_((text), (mention), __LINE__)

static void expect_match_(const parsed_t *p, const char *ip, bool want, int line)
{
    if (cidr_match_any(p->list, p->n, ip) != want) {
        print_error("line %d: %s should %smatch\n", line, ip ? ip : "(null)", want ? "" : "not ");
        _fail(__FILE__, line);
    }
}
#define expect_match(p, ip) expect_match_(&(p), (ip), true, __LINE__)
#define expect_no_match(p, ip) expect_match_(&(p), (ip), false, __LINE__)

static void test_default_metrics_list(void **state)
{
    (void)state;
    parsed_t p = parse_ok("127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", 5);
    assert_int_equal(p.list[0].family, AF_INET);
    assert_int_equal(p.list[0].bits, 8);
    assert_int_equal(p.list[1].family, AF_INET6);
    assert_int_equal(p.list[1].bits, 128);
    assert_int_equal(p.list[3].bits, 12);

    expect_match(p, "127.0.0.1");
    expect_match(p, "127.255.255.255");
    expect_no_match(p, "128.0.0.1");
    expect_match(p, "10.0.0.0");
    expect_match(p, "10.255.255.254");
    expect_no_match(p, "11.0.0.1");
    expect_no_match(p, "9.255.255.255");
    /* /12: 172.16.0.0 - 172.31.255.255 */
    expect_match(p, "172.16.0.1");
    expect_match(p, "172.31.255.255");
    expect_no_match(p, "172.32.0.0");
    expect_no_match(p, "172.15.255.255");
    expect_match(p, "192.168.1.20");
    expect_no_match(p, "192.169.0.1");
    expect_no_match(p, "8.8.8.8");
    /* /128: exactly ::1 */
    expect_match(p, "::1");
    expect_match(p, "0:0:0:0:0:0:0:1");
    expect_no_match(p, "::2");
    expect_no_match(p, "2001:db8::1");
}

static void test_ipv4_mapped_peers_match_ipv4_networks(void **state)
{
    (void)state;
    parsed_t p = parse_ok("127.0.0.0/8,172.16.0.0/12", 2);
    expect_match(p, "::ffff:127.0.0.1");
    expect_match(p, "::FFFF:7f00:1");      /* hex spelling of 127.0.0.1 */
    expect_match(p, "::ffff:172.20.1.1");
    expect_no_match(p, "::ffff:172.32.0.1");
    expect_no_match(p, "::ffff:8.8.8.8");
    /* ::127.0.0.1 (IPv4-compatible, deprecated) is not a mapped address. */
    expect_no_match(p, "::127.0.0.1");
    expect_no_match(p, "64:ff9b::7f00:1"); /* NAT64 is not mapped either */
}

static void test_prefix_zero_matches_one_family_only(void **state)
{
    (void)state;
    parsed_t v4 = parse_ok("0.0.0.0/0", 1);
    assert_int_equal(v4.list[0].bits, 0);
    expect_match(v4, "1.2.3.4");
    expect_match(v4, "255.255.255.255");
    expect_match(v4, "::ffff:1.2.3.4");
    expect_no_match(v4, "::1");
    expect_no_match(v4, "2001:db8::1");

    parsed_t v6 = parse_ok("::/0", 1);
    assert_int_equal(v6.list[0].family, AF_INET6);
    expect_match(v6, "::1");
    expect_match(v6, "2001:db8::1");
    expect_match(v6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    expect_no_match(v6, "1.2.3.4");
    expect_no_match(v6, "::ffff:1.2.3.4"); /* mapped peers are IPv4 */
}

static void test_single_addresses_and_full_prefixes(void **state)
{
    (void)state;
    /* No prefix means the whole address (/32, /128); TRUSTED_PROXIES's default. */
    parsed_t p = parse_ok("127.0.0.1,::1", 2);
    assert_int_equal(p.list[0].bits, 32);
    assert_int_equal(p.list[1].bits, 128);
    expect_match(p, "127.0.0.1");
    expect_no_match(p, "127.0.0.2");
    expect_match(p, "::1");
    expect_no_match(p, "::");

    parsed_t q = parse_ok("10.1.2.3/32,2001:db8::5/128", 2);
    expect_match(q, "10.1.2.3");
    expect_no_match(q, "10.1.2.2");
    expect_match(q, "2001:db8::5");
    expect_no_match(q, "2001:db8::4");
    expect_no_match(q, "2001:db8::5:0");
}

static void test_prefixes_not_on_a_byte_boundary(void **state)
{
    (void)state;
    parsed_t p = parse_ok("2001:db8::/33,10.128.0.0/9,192.0.2.64/26", 3);
    expect_match(p, "2001:db8::1");
    expect_match(p, "2001:db8:7fff:ffff::1");
    expect_no_match(p, "2001:db8:8000::1");
    expect_no_match(p, "2001:db9::1");
    expect_match(p, "10.128.0.1");
    expect_match(p, "10.255.0.1");
    expect_no_match(p, "10.127.255.255");
    expect_match(p, "192.0.2.64");
    expect_match(p, "192.0.2.127");
    expect_no_match(p, "192.0.2.63");
    expect_no_match(p, "192.0.2.128");
}

static void test_host_bits_of_the_network_are_ignored(void **state)
{
    (void)state;
    parsed_t p = parse_ok("10.1.2.3/8", 1);
    expect_match(p, "10.200.0.1");
    expect_no_match(p, "11.1.2.3");
}

static void test_separators_and_empty_lists(void **state)
{
    (void)state;
    parsed_t p = parse_ok(" 10.0.0.0/8 , ::1 192.168.0.0/16,,", 3);
    expect_match(p, "10.9.9.9");
    expect_match(p, "::1");
    expect_match(p, "192.168.3.3");

    parsed_t empty = parse_ok("", 0);
    expect_no_match(empty, "127.0.0.1");
    parsed_t blanks = parse_ok(" , ,", 0);
    expect_no_match(blanks, "::1");
    parsed_t none = parse(NULL, MAX_CIDRS);
    assert_true(none.ok);
    assert_int_equal(none.n, 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_bad("banana", "banana");
    expect_bad("10.0.0.300", "10.0.0.300");
    expect_bad("10.0.0", "10.0.0");
    expect_bad("127.0.0.0/8,nope/8", "nope");
    expect_bad("10.0.0.0/33", "prefix");
    expect_bad("::1/129", "prefix");
    expect_bad("10.0.0.0/-1", "prefix");
    expect_bad("fe80::1%eth0", "fe80::1%eth0"); /* zone ids are not accepted */
    expect_bad("localhost", "localhost");

    /* More networks than fit. */
    parsed_t p = parse("1.1.1.1,2.2.2.2,3.3.3.3", 2);
    assert_false(p.ok);
    assert_non_null(strstr(p.err, "too many"));
    assert_true(p.n <= 2);
}

static void test_bad_peer_addresses_never_match(void **state)
{
    (void)state;
    parsed_t all = parse_ok("0.0.0.0/0,::/0", 2);
    expect_no_match(all, NULL);
    expect_no_match(all, "");
    expect_no_match(all, "not-an-ip");
    expect_no_match(all, "1.2.3.4:80");
    expect_no_match(all, "[::1]");
    expect_match(all, "1.2.3.4");
    expect_match(all, "::1");
    /* An empty list matches nothing. */
    assert_false(cidr_match_any(all.list, 0, "1.2.3.4"));
}

/*
 * BUG REPRODUCER (net.c, cidr_parse_list): the prefix length is read with atoi, so a prefix
 * that is not a number ("10.0.0.0/abc", "10.0.0.0/") becomes /0 and the entry matches every
 * IPv4 peer: a typo in METRICS_ALLOWED_CIDRS opens metrics to the world, in TRUSTED_PROXIES it
 * trusts X-Forwarded-For from anyone. Trailing junk ("10.0.0.0/8x") is silently ignored too.
 */
static void test_regression_non_numeric_prefix_is_rejected(void **state)
{
    (void)state;
    expect_bad("10.0.0.0/abc", "prefix");
    expect_bad("10.0.0.0/", "prefix");
    expect_bad("10.0.0.0/8x", "prefix");
    expect_bad("::1/ 64", "prefix");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_metrics_list),
        cmocka_unit_test(test_ipv4_mapped_peers_match_ipv4_networks),
        cmocka_unit_test(test_prefix_zero_matches_one_family_only),
        cmocka_unit_test(test_single_addresses_and_full_prefixes),
        cmocka_unit_test(test_prefixes_not_on_a_byte_boundary),
        cmocka_unit_test(test_host_bits_of_the_network_are_ignored),
        cmocka_unit_test(test_separators_and_empty_lists),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_peer_addresses_never_match),
        cmocka_unit_test(test_regression_non_numeric_prefix_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
