/* Unit tests of web/src/params.c: every value a browser sends is parsed strictly. */
#include "params.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static char err[256];

static void test_ip_canonical(void **state)
{
    char out[S4F_WEB_ADDR_MAX];
    (void)state;
    assert_int_equal(s4f_web_parse_ip("a", "10.0.0.1", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "10.0.0.1");
    assert_int_equal(s4f_web_parse_ip("a", "2001:DB8:0::0001", out, sizeof(out), err, sizeof(err)),
                     0);
    assert_string_equal(out, "2001:db8::1");
    const char *bad[] = {"",           "10.0.0", "10.0.0.256", "010.0.0.1x", "localhost",
                         "10.0.0.1/8", "::g",    " 10.0.0.1",  "10.0.0.1\"", "1.2.3.4 OR 1=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(s4f_web_parse_ip("a", bad[i], out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "parameter 'a'"));
}

static void test_cidr_masks_host_bits(void **state)
{
    char out[S4F_WEB_ADDR_MAX];
    (void)state;
    assert_int_equal(s4f_web_parse_cidr("n", "10.1.2.3/8", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "10.0.0.0/8");
    assert_int_equal(s4f_web_parse_cidr("n", "10.1.2.3/31", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "10.1.2.2/31");
    assert_int_equal(
        s4f_web_parse_cidr("n", "2001:db8:ffff::1/33", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "2001:db8:8000::/33");
    assert_int_equal(s4f_web_parse_cidr("n", "0.0.0.0/0", out, sizeof(out), err, sizeof(err)), 0);
    assert_int_equal(s4f_web_parse_cidr("n", "1.2.3.4", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "1.2.3.4");
    const char *bad[] = {"10.0.0.0/33", "::/129",      "10.0.0.0/",     "/8", "10.0.0.0/8/8",
                         "10.0.0.0/-1", "10.0.0.0/ 8", "10.0.0.0/0008", "x/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(s4f_web_parse_cidr("n", bad[i], out, sizeof(out), err, sizeof(err)), -1);
}

static void test_time(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(s4f_web_parse_time("t", "2026-11-27T06:10:50.000Z", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 1795759850000LL);
    assert_int_equal(s4f_web_parse_time("t", "2026-11-27T07:10:50.5+01:00", &ms, err, sizeof(err)),
                     0);
    assert_int_equal(ms, 1795759850500LL);
    assert_int_equal(s4f_web_parse_time("t", "2026-11-27T06:10Z", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 1795759800000LL);
    assert_int_equal(s4f_web_parse_time("t", "1795759850000", &ms, err, sizeof(err)), 0);
    assert_int_equal(ms, 1795759850000LL);
    const char *bad[] = {"",
                         "now",
                         "2026-11-27",
                         "2026-11-27T06:10:50",
                         "2026-02-30T00:00Z",
                         "1999-12-31T23:59Z",
                         "12",
                         "99999999999999999999",
                         "2026-11-27T24:00Z",
                         "2026-11-27T06:10:50.Z",
                         "2026-11-27T06:10:50Z "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(s4f_web_parse_time("t", bad[i], &ms, err, sizeof(err)), -1);
}

static void test_range(void **state)
{
    struct s4f_web_range r;
    const int64_t now = 1795759850000LL;
    (void)state;
    assert_int_equal(
        s4f_web_parse_range("6h", NULL, NULL, NULL, now, 3600000, &r, err, sizeof(err)), 0);
    assert_int_equal(r.interval_ms, 30000); /* auto: <= 1500 points */
    /* The start is moved back to a bucket boundary. */
    assert_true(r.to_ms - r.from_ms >= 6 * 3600000LL);
    assert_true(r.to_ms - r.from_ms < 6 * 3600000LL + r.interval_ms);
    assert_int_equal(r.from_ms % r.interval_ms, 0);
    assert_int_equal(
        s4f_web_parse_range(NULL, NULL, NULL, "10s", now, 3600000, &r, err, sizeof(err)), 0);
    assert_int_equal(r.interval_ms, 10000);
    assert_int_equal(r.to_ms - r.from_ms, 3600000); /* now is on a 10 s boundary */
    assert_int_equal(s4f_web_parse_range(NULL, "2026-11-27T00:00Z", "2026-11-27T01:00Z", "1m", now,
                                         0, &r, err, sizeof(err)),
                     0);
    assert_int_equal(r.to_ms - r.from_ms, 3600000);
    /* Refusals. */
    assert_int_equal(
        s4f_web_parse_range("6h", "2026-11-27T00:00Z", NULL, NULL, now, 0, &r, err, sizeof(err)),
        -1);
    assert_int_equal(s4f_web_parse_range("32d", NULL, NULL, NULL, now, 0, &r, err, sizeof(err)),
                     -1);
    assert_int_equal(s4f_web_parse_range("0h", NULL, NULL, NULL, now, 0, &r, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_range("30d", NULL, NULL, "10s", now, 0, &r, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "interval"));
    assert_int_equal(s4f_web_parse_range(NULL, "2026-11-27T01:00Z", "2026-11-27T00:00Z", NULL, now,
                                         0, &r, err, sizeof(err)),
                     -1);
    assert_int_equal(
        s4f_web_parse_range(NULL, NULL, "2026-11-27T01:00Z", NULL, now, 0, &r, err, sizeof(err)),
        -1);
    assert_int_equal(s4f_web_parse_range("1h", NULL, NULL, "2s", now, 0, &r, err, sizeof(err)), -1);
}

static void test_ints_idents_names(void **state)
{
    int64_t v;
    (void)state;
    assert_int_equal(s4f_web_parse_int("s", "50", 0, 500, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 50);
    assert_int_equal(s4f_web_parse_int("s", "501", 0, 500, &v, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_int("s", "-1", 0, 500, &v, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_int("s", "1e3", 0, 5000, &v, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_int("s", "9999999999999999999999", 0, 5, &v, err, sizeof(err)),
                     -1);
    assert_int_equal(s4f_web_parse_ident("t", "portscan_vertical", 64, err, sizeof(err)), 0);
    assert_int_equal(s4f_web_parse_ident("t", "_all", 64, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_ident("t", "Port", 64, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_ident("t", "a*", 64, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_username("alice.b@x-y_z", err, sizeof(err)), 0);
    assert_int_equal(s4f_web_parse_username("../etc", err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_username("a b", err, sizeof(err)), -1);
    assert_int_equal(s4f_web_parse_username("", err, sizeof(err)), -1);
}

static void test_error_message_is_clean(void **state)
{
    char out[S4F_WEB_ADDR_MAX];
    (void)state;
    assert_int_equal(s4f_web_parse_ip("address", "\"<b>\x01\"", out, sizeof(out), err, sizeof(err)),
                     -1);
    /* Control characters and quotes never reach the message. */
    for (const char *p = err + strlen("parameter 'address': \""); *p && p[1]; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != '\\');
    assert_null(strchr(err, '\x01'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_canonical),
        cmocka_unit_test(test_cidr_masks_host_bits),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_ints_idents_names),
        cmocka_unit_test(test_error_message_is_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
