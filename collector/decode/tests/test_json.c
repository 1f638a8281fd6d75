/* JSON value formatting: integers, addresses, hex, strings with hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode_int.h"

#define FMT(call)                                                                                  \
    do {                                                                                           \
        char *e_ = (call);                                                                         \
        *e_ = '\0';                                                                                \
    } while (0)

static void test_u64(void **state)
{
    char b[64];
    static const struct {
        uint64_t v;
        const char *s;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {10, "10"},
                 {99, "99"},
                 {100, "100"},
                 {65535, "65535"},
                 {4294967295u, "4294967295"},
                 {UINT64_MAX, "18446744073709551615"}};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(cases); i++) {
        FMT(s4f_json_u64(b, cases[i].v));
        assert_string_equal(b, cases[i].s);
    }
    FMT(s4f_json_i64(b, INT64_MIN));
    assert_string_equal(b, "-9223372036854775808");
    FMT(s4f_json_i64(b, -1));
    assert_string_equal(b, "-1");
}

static void test_addresses(void **state)
{
    char b[64];
    const uint8_t v4[4] = {10, 0, 200, 255};
    FMT(s4f_json_ipv4(b, v4));
    assert_string_equal(b, "\"10.0.200.255\"");
    static const struct {
        const char *in, *out;
    } v6[] = {
        {"2001:db8::1", "\"2001:db8::1\""},
        {"::", "\"::\""},
        {"::1", "\"::1\""},
        {"2001:db8:0:1:1:1:1:1", "\"2001:db8:0:1:1:1:1:1\""},
        {"2001:0:0:1:0:0:0:1", "\"2001:0:0:1::1\""},
        {"fe80::", "\"fe80::\""},
        {"::ffff:192.0.2.1", "\"::ffff:192.0.2.1\""},
        {"1:2:3:4:5:6:7:8", "\"1:2:3:4:5:6:7:8\""},
    };
    for (size_t i = 0; i < S4F_ARRAY_SIZE(v6); i++) {
        uint8_t a[16];
        assert_int_equal(inet_pton(AF_INET6, v6[i].in, a), 1);
        FMT(s4f_json_ipv6(b, a));
        assert_string_equal(b, v6[i].out);
    }
    const uint8_t mac[6] = {0x00, 0x1f, 0x33, 0xd9, 0x81, 0xa0};
    FMT(s4f_json_mac(b, mac));
    assert_string_equal(b, "\"00:1f:33:d9:81:a0\"");
    FMT(s4f_json_hex(b, mac, 3));
    assert_string_equal(b, "\"0x001f33\"");
    FMT(s4f_json_hex(b, mac, 0));
    assert_string_equal(b, "\"0x\"");
}

static void test_strings(void **state)
{
    char b[256];
    FMT(s4f_json_string(b, (const uint8_t *)"eth0\0\0\0", 7));
    assert_string_equal(b, "\"eth0\"");
    FMT(s4f_json_string(b, (const uint8_t *)"a\"b\\c\nd\x01", 8));
    assert_string_equal(b, "\"a\\\"b\\\\c\\nd\\u0001\"");
    /* Embedded NUL is kept (escaped), trailing NULs are padding. */
    FMT(s4f_json_string(b, (const uint8_t *)"a\0b", 3));
    assert_memory_equal(b, "\"a\\u0000b\"", 10);
    /* Valid UTF-8 passes through. */
    FMT(s4f_json_string(b, (const uint8_t *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    assert_string_equal(b, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* Invalid: lone continuation, overlong, surrogate, truncated, > U+10FFFF, 0xff. */
    FMT(s4f_json_string(
        b, (const uint8_t *)"\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80|\xff", 18));
    assert_string_equal(b,
                        "\"\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
                        "\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef"
                        "\xbf\xbd|\xef\xbf\xbd\"");
    /* Worst case fits the documented bound of 6n + 2. */
    uint8_t ctl[32];
    memset(ctl, 0x1f, sizeof(ctl));
    char *e = s4f_json_string(b, ctl, sizeof(ctl));
    assert_int_equal(e - b, 6 * 32 + 2);
}

static void test_double(void **state)
{
    char b[64];
    FMT(s4f_json_double(b, 1.5));
    assert_string_equal(b, "1.5");
    FMT(s4f_json_double(b, 1.0 / 0.0));
    assert_string_equal(b, "null");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
