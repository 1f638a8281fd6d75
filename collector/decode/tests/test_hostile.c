/* Hostile and malformed input: every rejection is counted under its reason, nothing crashes,
 * leaks or loops, and whatever is still emitted is valid JSON. Run under ASan+UBSan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "log.h"
#include "msggen.h"
#include "test_util.h"

#define NOW 1764223857000LL
#define T0  1764223857u

static struct s4f_mg g;
static struct tu_recs R;

static enum s4f_status feed_raw(struct s4f_decoder *d, const uint8_t *b, size_t n)
{
    struct sockaddr_storage ss = tu_addr("192.0.2.1");
    return s4f_decode_datagram(d, &ss, b, n, NOW, tu_collect, &R);
}

static enum s4f_status feed(struct s4f_decoder *d)
{
    size_t n = s4f_mg_end(&g);
    return feed_raw(d, g.buf, n);
}

static void test_short_and_version(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    const uint8_t v5[10] = {0, 5}, v9[19] = {0, 9}, ipfix[15] = {0, 10}, one[1] = {0};
    assert_int_equal(feed_raw(d, v5, sizeof(v5)), S4F_ERR);
    assert_int_equal(feed_raw(d, v9, sizeof(v9)), S4F_ERR);
    assert_int_equal(feed_raw(d, ipfix, sizeof(ipfix)), S4F_ERR);
    assert_int_equal(feed_raw(d, one, sizeof(one)), S4F_ERR);
    assert_int_equal(feed_raw(d, NULL, 0), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_SHORT_HEADER), 5);
    const uint8_t v7[40] = {0, 7};
    assert_int_equal(feed_raw(d, v7, sizeof(v7)), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_BAD_VERSION), 1);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.datagrams_rejected, 6);
    /* Garbage never creates exporter state. */
    assert_int_equal(s4f_decoder_foreach_exporter(d, NULL, NULL), 0);
    s4f_decoder_free(d);
}

static void test_message_and_set_lengths(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    /* IPFIX length past the datagram, and below the header size. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 256);
    size_t n = s4f_mg_end(&g);
    assert_int_equal(feed_raw(d, g.buf, n - 1), S4F_ERR);
    g.buf[2] = 0;
    g.buf[3] = 12;
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_MSG_LENGTH), 2);
    /* Set length past the end of the message, then a set length below 4. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 256);
    n = s4f_mg_end(&g);
    g.buf[19] = (uint8_t)(g.buf[19] + 8);
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    g.buf[18] = 0;
    g.buf[19] = 3;
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    /* Trailing bytes shorter than a set header. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 256);
    s4f_mg_set_end(&g);
    s4f_mg_u16(&g, 0x1234);
    assert_int_equal(feed(d), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_SET_LENGTH), 3);
    /* Reserved set ids: IPFIX 4-255, v9 2-255. The valid set after them still counts. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 100);
    s4f_mg_u32(&g, 0);
    s4f_mg_set(&g, 4);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 270);
    assert_int_equal(feed(d), S4F_ERR);
    s4f_mg_v9(&g, 0, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_u32(&g, 0);
    assert_int_equal(feed(d), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_SET_ID_RESERVED), 3);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_added, 2); /* 256 (from the 3rd message) and 270 */
    s4f_decoder_free(d);
}

static void test_template_errors(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    /* v9 template with zero fields; IPFIX template over max_fields_per_template (512). */
    s4f_mg_v9(&g, 0, T0, 0, 0);
    s4f_mg_set(&g, 0);
    s4f_mg_tpl(&g, 256, 0);
    feed(d);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 600);
    for (int i = 0; i < 600; i++)
        s4f_mg_field(&g, (uint16_t)(i + 1), 1, 0);
    feed(d);
    /* A field count of 65535 with few bytes behind it. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 65535);
    s4f_mg_field(&g, 8, 4, 0);
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_FIELD_COUNT), 3);
    /* Field specifiers past the set end (count says 5, 2 present; enterprise PEN cut off). */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 5);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 12, 4, 0);
    feed(d);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_u16(&g, 0x8001);
    s4f_mg_u16(&g, 4);
    s4f_mg_u16(&g, 0);
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_TEMPLATE_TRUNCATED), 2);
    /* Lengths that do not add up: all fields zero-length, and a record longer than a message can
     * carry. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 2);
    s4f_mg_field(&g, 8, 0, 0);
    s4f_mg_field(&g, 12, 0, 0);
    s4f_mg_tpl(&g, 257, 3);
    s4f_mg_field(&g, 82, 40000, 0);
    s4f_mg_field(&g, 83, 40000, 0);
    s4f_mg_field(&g, 8, 4, 0);
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_FIELD_LENGTH), 2);
    /* Template ids below 256. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 255);
    s4f_mg_typical_tpl(&g, 0);
    s4f_mg_tpl(&g, 7, 0); /* a withdrawal: over UDP ignored (RFC 7011, 8.4) */
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_TEMPLATE_ID), 2);
    assert_int_equal(tu_err(d, S4F_DR_WITHDRAW_UDP), 1);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_added, 0);
    s4f_decoder_free(d);
}

static void test_options_scope(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, 256, 2, 0); /* scope count 0 */
    s4f_mg_field(&g, 149, 4, 0);
    s4f_mg_field(&g, 34, 4, 0);
    s4f_mg_opt_tpl(&g, 257, 2, 3); /* scope count > field count */
    s4f_mg_field(&g, 149, 4, 0);
    s4f_mg_field(&g, 34, 4, 0);
    s4f_mg_opt_tpl(&g, 258, 2, 1); /* valid, still installed after the bad ones */
    s4f_mg_field(&g, 149, 4, 0);
    s4f_mg_field(&g, 34, 4, 0);
    feed(d);
    s4f_mg_v9(&g, 0, T0, 0, 0);
    s4f_mg_set(&g, 1);
    s4f_mg_v9_opt_tpl(&g, 256, 0, 4); /* v9 scope length 0 */
    s4f_mg_field(&g, 34, 4, 0);
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_SCOPE_COUNT), 3);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_added, 1);
    s4f_decoder_free(d);
}

static void test_template_changed_in_flight(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 8, 4, 0);
    feed(d);
    /* Data for the old layout, a new layout for the same id, data for the new one: each set
     * uses the template in force at its position (the old one stays alive until then). */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.1");
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 12, 4, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.2");
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_TEMPLATE_CHANGED), 1);
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "10.0.0.1");
    assert_string_equal(tu_str(&R, 1, "ipfix.destinationIPv4Address"), "10.0.0.2");
    tu_clear(&R);
    /* Withdrawn in the same message after its data set: the data is still decoded. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.3");
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 0);
    feed(d);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v5_count(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct s4f_mg_v5rec r = {.src = "10.0.0.1", .dst = "10.0.0.2"};
    s4f_mg_v5(&g, 0, T0, 0, 0, 0, 0, 0);
    s4f_mg_v5_rec(&g, &r);
    size_t n = s4f_mg_end(&g);
    g.buf[3] = 2; /* claims 2 records, carries 1 */
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    g.buf[3] = 0;
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    g.buf[3] = 31;
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_V5_COUNT), 3);
    g.buf[3] = 1;
    tu_clear(&R);
    assert_int_equal(feed_raw(d, g.buf, n), S4F_OK);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_count_and_padding(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    s4f_mg_v9(&g, 0, T0, 0, 0);
    s4f_mg_set(&g, 0);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_u32(&g, 0); /* template set padding */
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.1");
    s4f_mg_rec(&g);
    s4f_mg_ip4(&g, "10.0.0.2");
    s4f_mg_rec(&g);
    s4f_mg_u16(&g, 0); /* data set padding shorter than a record */
    size_t n = s4f_mg_end(&g);
    assert_int_equal(feed_raw(d, g.buf, n), S4F_OK);
    assert_int_equal(R.n, 2);
    g.buf[3] = 9; /* a count that lies */
    assert_int_equal(feed_raw(d, g.buf, n), S4F_ERR);
    assert_int_equal(R.n, 4);
    assert_int_equal(tu_err(d, S4F_DR_V9_COUNT), 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_varlen_truncated(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 2);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 82, 65535, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.1");
    s4f_mg_varlen(&g, "ok", 2);
    s4f_mg_ip4(&g, "10.0.0.2");
    s4f_mg_u8(&g, 200); /* 200 bytes announced, 3 present */
    s4f_mg_bytes(&g, "abc", 3);
    feed(d);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.3");
    s4f_mg_u8(&g, 255); /* 3-byte form cut after its first length byte */
    s4f_mg_u8(&g, 1);
    feed(d);
    assert_int_equal(tu_err(d, S4F_DR_RECORD_TRUNCATED), 2);
    assert_int_equal(R.n, 1);
    assert_string_equal(tu_str(&R, 0, "ipfix.interfaceName"), "ok");
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_missing_template(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_set(&g, 257);
    feed(d); /* an empty data set is not counted */
    assert_int_equal(tu_err(d, S4F_DR_MISSING_TEMPLATE), 1);
    /* The template later in the same message is used (some exporters send it last). */
    tu_clear(&R);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 256);
    assert_int_equal(feed(d), S4F_OK);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_state_limits(void **state)
{
    struct s4f_decoder_opts o = {.max_domains_per_exporter = 8, .max_samplers_per_domain = 4};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    for (uint32_t dom = 0; dom < 100; dom++) {
        s4f_mg_ipfix(&g, T0, 0, dom);
        s4f_mg_set(&g, 2);
        s4f_mg_typical_tpl(&g, 256);
        s4f_mg_set(&g, 3);
        s4f_mg_opt_tpl(&g, 300, 2, 1);
        s4f_mg_field(&g, 48, 1, 0);
        s4f_mg_field(&g, 34, 4, 0);
        s4f_mg_set(&g, 300);
        for (uint8_t s = 0; s < 10; s++) {
            s4f_mg_u8(&g, s);
            s4f_mg_u32(&g, 100 + s);
        }
        feed(d);
    }
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.domains_evicted, 92);
    assert_int_equal(st.samplers_evicted, 100 * 6);
    s4f_decoder_free(d);
}

/* Random mutations of valid messages: no crash, every record valid JSON (tu_collect fails the
 * test otherwise). */
static void test_random_mutations(void **state)
{
    struct s4f_decoder_opts o = {.max_templates_per_exporter = 16, .max_exporters = 4};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    srand(12345);
    static uint8_t buf[2048];
    for (int iter = 0; iter < 20000; iter++) {
        int kind = iter % 3;
        if (kind == 0) {
            s4f_mg_ipfix(&g, T0, (uint32_t)iter, (uint32_t)(iter % 3));
            s4f_mg_set(&g, 2);
            s4f_mg_tpl(&g, (uint16_t)(256 + iter % 5), 4);
            s4f_mg_field(&g, 8, 4, 0);
            s4f_mg_field(&g, 82, 65535, 0);
            s4f_mg_field(&g, (uint16_t)(rand() % 400), (uint16_t)(rand() % 10), 0);
            s4f_mg_field(&g, 121, 65535, 39499);
            s4f_mg_set(&g, (uint16_t)(256 + iter % 5));
            for (int r = 0; r < 3; r++) {
                s4f_mg_ip4(&g, "10.0.0.1");
                s4f_mg_varlen(&g, "\xff\xfe\"\\\x01", 5);
                for (int k = 0; k < 9; k++)
                    s4f_mg_u8(&g, (uint8_t)rand());
                s4f_mg_varlen(&g, "dns", 3);
            }
        } else if (kind == 1) {
            s4f_mg_v9(&g, 1000, T0, (uint32_t)iter, 0);
            s4f_mg_set(&g, 0);
            s4f_mg_typical_tpl(&g, 256);
            s4f_mg_set(&g, 256);
            s4f_mg_typical_rec(&g, (uint32_t)iter, (uint64_t)NOW);
        } else {
            struct s4f_mg_v5rec r = {.src = "10.0.0.1", .dst = "10.0.0.2", .pkts = 1};
            s4f_mg_v5(&g, 0, T0, 0, 0, 0, 0, 0);
            s4f_mg_v5_rec(&g, &r);
        }
        size_t n = s4f_mg_end(&g);
        if (n > sizeof(buf))
            n = sizeof(buf);
        memcpy(buf, g.buf, n);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            buf[(size_t)rand() % n] = (uint8_t)rand();
        size_t cut = (rand() % 4 == 0) ? (size_t)rand() % (n + 1) : n;
        char addr[32];
        snprintf(addr, sizeof(addr), "192.0.2.%d", rand() % 8);
        struct sockaddr_storage ss = tu_addr(addr);
        s4f_decode_datagram(d, &ss, buf, cut, NOW + iter, tu_collect, &R);
        tu_clear(&R);
    }
    s4f_decoder_free(d);
}

int main(void)
{
    s4f_log_level_current = -1; /* silence: every test here provokes warnings */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_and_version),
        cmocka_unit_test(test_message_and_set_lengths),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_options_scope),
        cmocka_unit_test(test_template_changed_in_flight),
        cmocka_unit_test(test_v5_count),
        cmocka_unit_test(test_v9_count_and_padding),
        cmocka_unit_test(test_varlen_truncated),
        cmocka_unit_test(test_missing_template),
        cmocka_unit_test(test_state_limits),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
