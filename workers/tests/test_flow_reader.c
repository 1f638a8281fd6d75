/* The flat-record reader on good and hostile input: everything malformed is refused, nothing
 * crashes, unknown keys are skipped. */
#include "flow.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static enum s4f_status parse(const char *s, struct s4f_flow *f)
{
    return s4f_flow_parse(s, strlen(s), f, NULL);
}

static void test_good_record(void **state)
{
    struct s4f_flow f;
    const char *r = "{\"@type\":\"ipfix.entry\",\"ipfix.sourceIPv4Address\":\"10.0.0.1\","
                    "\"ipfix.destinationIPv4Address\":\"10.0.0.2\",\"ipfix.sourceTransportPort\""
                    ":5555,\"ipfix.destinationTransportPort\":443,\"ipfix.protocolIdentifier\":6,"
                    "\"ipfix.tcpControlBits\":2,\"ipfix.packetDeltaCount\":10,"
                    "\"ipfix.octetDeltaCount\":1500,\"ipfix.flowStartMilliseconds\":"
                    "1764223857123,\"ipfix.flowEndMilliseconds\":1764223858123,"
                    "\"x\":{\"y\":[1,2.5e3,true,null,\"\\u0041\"]}}";
    assert_int_equal(parse(r, &f), S4F_OK);
    assert_int_equal(f.src.family, 4);
    assert_int_equal(f.dport, 443);
    assert_int_equal(f.proto, 6);
    assert_int_equal(f.tcp_flags, 2);
    assert_int_equal(f.packets, 10);
    assert_int_equal(f.bytes, 1500);
    assert_int_equal(f.start_ms, 1764223857123);
    assert_int_equal(f.end_ms, 1764223858123);
    assert_int_equal(f.rev_packets, 0);
    assert_int_equal(f.rev_tcp_flags, 0);
}

/* RFC 5103 reverse counters and flags (the collector's names for PEN 29305). */
static void test_biflow_reverse(void **state)
{
    struct s4f_flow f;
    const char *r = "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
                    "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":5,"
                    "\"ipfix.reversePacketDeltaCount\":4,\"ipfix.reverseOctetDeltaCount\":900,"
                    "\"ipfix.reverseTcpControlBits\":18}";
    assert_int_equal(parse(r, &f), S4F_OK);
    assert_int_equal(f.rev_packets, 4);
    assert_int_equal(f.rev_bytes, 900);
    assert_int_equal(f.rev_tcp_flags, 18);
    const char *bad = "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
                      "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":5,"
                      "\"ipfix.reverseTcpControlBits\":65536}";
    assert_int_equal(parse(bad, &f), S4F_ERR);
}

static void test_ipv6_and_escaped_key(void **state)
{
    struct s4f_flow f;
    const char *r = "{\"ipfix.\\u0073ourceIPv6Address\":\"2001:db8::1\","
                    "\"ipfix.destinationIPv6Address\":\"fd00::2\",\"ipfix.protocolIdentifier\":58,"
                    "\"ipfix.flowEndMilliseconds\":5}";
    assert_int_equal(parse(r, &f), S4F_OK);
    assert_int_equal(f.src.family, 6);
    assert_int_equal(f.start_ms, 5);
}

/* Exporters write 0 when they have no time: refused, not windows of 1970 (issue 23). */
/* The collector's GeoIP fields (s4f.src_country, ...): read, checked, cut; bad ones ignored. */
static void test_geo_fields(void **state)
{
    (void)state;
    struct s4f_flow f;
    const char *rec = "{\"ipfix.sourceIPv4Address\":\"192.0.2.7\",\"ipfix.destinationIPv4Address\":"
                      "\"198.51.100.9\",\"ipfix.protocolIdentifier\":6,"
                      "\"ipfix.flowEndMilliseconds\":1000,\"s4f.src_country\":\"CZ\","
                      "\"s4f.dst_country\":\"US\",\"s4f.src_as\":2852,\"s4f.src_as_org\":"
                      "\"CESNET \\\"z.s.p.o.\\\"\",\"s4f.dst_as\":4200000001}";
    assert_int_equal(s4f_flow_parse(rec, strlen(rec), &f, NULL), S4F_OK);
    assert_string_equal(f.src_geo.country, "CZ");
    assert_string_equal(f.dst_geo.country, "US");
    assert_int_equal(f.src_geo.asn, 2852);
    assert_int_equal(f.dst_geo.asn, 4200000001u);
    assert_string_equal(f.src_as_org, "CESNET \"z.s.p.o.\"");
    assert_int_equal(f.src_geo.org_len, strlen(f.src_as_org));
    assert_int_equal(f.dst_geo.org_len, 0);
    assert_string_equal(f.dst_as_org, "");

    /* A country that is no code is ignored; an AS beyond 32 bits refuses the record. */
    char big[1200];
    snprintf(big, sizeof(big),
             "{\"ipfix.sourceIPv4Address\":\"192.0.2.7\",\"ipfix.destinationIPv4Address\":"
             "\"198.51.100.9\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1,"
             "\"s4f.src_country\":\"C\\u0000\",\"s4f.dst_country\":\"TOOLONG\","
             "\"s4f.src_as_org\":\"%0300d\"}",
             0);
    assert_int_equal(s4f_flow_parse(big, strlen(big), &f, NULL), S4F_OK);
    assert_string_equal(f.src_geo.country, "");
    assert_string_equal(f.dst_geo.country, "");
    assert_int_equal(f.src_geo.org_len, S4F_AS_ORG_MAX);
    assert_int_equal(strlen(f.src_as_org), S4F_AS_ORG_MAX);
    const char *bad = "{\"ipfix.sourceIPv4Address\":\"192.0.2.7\",\"ipfix.destinationIPv4Address\":"
                      "\"198.51.100.9\",\"ipfix.protocolIdentifier\":6,"
                      "\"ipfix.flowEndMilliseconds\":1,\"s4f.src_as\":4294967296}";
    assert_int_equal(s4f_flow_parse(bad, strlen(bad), &f, NULL), S4F_ERR);
    /* Cleared between records. */
    assert_int_equal(s4f_flow_parse(rec, strlen(rec), &f, NULL), S4F_OK);
    const char *plain = "{\"ipfix.sourceIPv4Address\":\"192.0.2.7\","
                        "\"ipfix.destinationIPv4Address\":\"198.51.100.9\","
                        "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1}";
    assert_int_equal(s4f_flow_parse(plain, strlen(plain), &f, NULL), S4F_OK);
    assert_string_equal(f.src_geo.country, "");
    assert_int_equal(f.src_geo.asn, 0);
    assert_string_equal(f.src_as_org, "");
}

/* Routed version 4: the routed side's GeoIP fields travel with it; a hostile block is refused;
 * a side without them is written as version 3. */
static void test_routed_geo(void **state)
{
    (void)state;
    struct s4f_flow f, g;
    s4f_flow_clear(&f);
    s4f_addr_parse("192.0.2.7", 9, &f.src);
    s4f_addr_parse("10.0.0.1", 8, &f.dst);
    f.proto = 6;
    f.start_ms = f.end_ms = 1764223858123;
    strcpy(f.src_geo.country, "CZ");
    f.src_geo.asn = 2852;
    strcpy(f.src_as_org, "CESNET \xc5\xbe");
    f.src_geo.org_len = (uint16_t)strlen(f.src_as_org);
    uint8_t rec[S4F_ROUTED_MAX];
    assert_int_equal(s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 1, 2, rec), S4F_ROUTED_LEN_V4);
    assert_int_equal(rec[3], 4);
    assert_int_equal(s4f_routed_len((char *)rec, sizeof(rec)), S4F_ROUTED_LEN_V4);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN_V4, &g, NULL), S4F_OK);
    assert_string_equal(g.src_geo.country, "CZ");
    assert_int_equal(g.src_geo.asn, 2852);
    assert_string_equal(g.src_as_org, f.src_as_org);
    assert_int_equal(g.dst_geo.asn, 0);
    /* Wrong length, a bad country, padding, control characters, invalid UTF-8, an empty block. */
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN, &g, NULL), S4F_ERR);
    static const struct {
        size_t at;
        uint8_t v;
    } bad[] = {{112, 'C' | 0x80}, {112 + 3, 'X'},   {112 + 9, 1},    {112 + 8, 97},
               {112 + 12, 0x01},  {112 + 13, 0xff}, {112 + 100, 'x'}};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(bad); i++) {
        uint8_t c[S4F_ROUTED_MAX];
        memcpy(c, rec, sizeof(c));
        c[bad[i].at] = bad[i].v;
        assert_int_equal(s4f_flow_decode_routed((char *)c, S4F_ROUTED_LEN_V4, &g, NULL), S4F_ERR);
    }
    uint8_t z[S4F_ROUTED_MAX];
    memcpy(z, rec, sizeof(z));
    memset(z + S4F_ROUTED_LEN, 0, S4F_ROUTED_GEO_LEN);
    assert_int_equal(s4f_flow_decode_routed((char *)z, S4F_ROUTED_LEN_V4, &g, NULL), S4F_ERR);
    /* The destination has none: version 3. */
    assert_int_equal(s4f_flow_encode_routed(&f, S4F_SIDE_DST, 1, 2, rec), S4F_ROUTED_LEN);
    assert_int_equal(rec[3], 3);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN, &g, NULL), S4F_OK);
    assert_string_equal(g.src_geo.country, "");
}

static void test_zero_times_refused(void **state)
{
    struct s4f_flow f;
    const char *head =
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\","
        "\"ipfix.destinationIPv4Address\":\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,";
    char r[512];
    snprintf(r, sizeof(r), "%s\"ipfix.flowEndMilliseconds\":0}", head);
    assert_int_equal(parse(r, &f), S4F_ERR);
    snprintf(r, sizeof(r), "%s\"ipfix.flowStartMilliseconds\":0,\"ipfix.flowEndMilliseconds\":9}",
             head);
    assert_int_equal(parse(r, &f), S4F_ERR);
    snprintf(r, sizeof(r), "%s\"ipfix.flowStartMilliseconds\":1,\"ipfix.flowEndMilliseconds\":9}",
             head);
    assert_int_equal(parse(r, &f), S4F_OK);
    /* The routed form too. */
    uint8_t rec[S4F_ROUTED_LEN];
    f.end_ms = 0;
    f.start_ms = 0;
    s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 0, 1, rec);
    assert_int_equal(s4f_flow_decode_routed((const char *)rec, sizeof(rec), &f, NULL), S4F_ERR);
}

/* Dual-stack template (Cisco v9 template 313): both families present, IPv4 all zero. */
static void test_dual_stack_takes_the_set_family(void **state)
{
    struct s4f_flow f;
    const char *r = "{\"ipfix.sourceIPv6Address\":\"2001:db8::1\","
                    "\"ipfix.destinationIPv6Address\":\"2001:db8::2\","
                    "\"ipfix.sourceIPv4Address\":\"0.0.0.0\","
                    "\"ipfix.destinationIPv4Address\":\"0.0.0.0\",\"ipfix.protocolIdentifier\":6,"
                    "\"ipfix.flowEndMilliseconds\":5}";
    assert_int_equal(parse(r, &f), S4F_OK);
    assert_int_equal(f.src.family, 6);
    const char *r4 = "{\"ipfix.sourceIPv6Address\":\"::\",\"ipfix.destinationIPv6Address\":\"::\","
                     "\"ipfix.sourceIPv4Address\":\"10.0.0.1\","
                     "\"ipfix.destinationIPv4Address\":\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,"
                     "\"ipfix.flowEndMilliseconds\":5}";
    assert_int_equal(parse(r4, &f), S4F_OK);
    assert_int_equal(f.src.family, 4);
}

static void test_hostile(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\"}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"x\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv6Address\":\"::1\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
        "\"ipfix.protocolIdentifier\":256,\"ipfix.flowEndMilliseconds\":1}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":-1}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1.5}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.packetDeltaCount\":99999999999999999999999,"
        "\"ipfix.flowEndMilliseconds\":1}",
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1} trailing",
        "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{\"a\":\"\\x\"}",
        "{\"a\":tru}",
        "{\"a\":01}",
    };
    struct s4f_flow f;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        assert_int_equal(s4f_flow_parse(bad[i], strlen(bad[i]), &f, &why), S4F_ERR);
        assert_non_null(why);
    }
}

/* The string scanner reads eight bytes at a time: a quote, backslash or control character at
 * every offset of a word must still be seen (regression guard for the word-at-a-time scan). */
static void test_string_specials_at_every_offset(void **state)
{
    static const char *const specials[] = {"\\\"", "\\\\", "\\u0041", "\x01", "\n", "\xc3\xa9"};
    for (size_t sp = 0; sp < S4F_ARRAY_SIZE(specials); sp++)
        for (int pad = 0; pad < 20; pad++) {
            char val[64], rec[512];
            memset(val, 'a', (size_t)pad);
            val[pad] = '\0';
            snprintf(rec, sizeof(rec),
                     "{\"u\":\"%s%sbbbbbbbbbbbbbbbb\",\"ipfix.sourceIPv4Address\":\"10.0.0.1\","
                     "\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
                     "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":7}",
                     val, specials[sp]);
            struct s4f_flow f;
            /* Raw control characters are invalid JSON; everything else is accepted. */
            enum s4f_status want =
                specials[sp][0] == '\x01' || specials[sp][0] == '\n' ? S4F_ERR : S4F_OK;
            assert_int_equal(parse(rec, &f), want);
            if (want == S4F_OK)
                assert_int_equal(f.end_ms, 7);
        }
}

/* IPv4 text is parsed by hand: it must accept and refuse exactly what inet_pton does. */
static void test_ipv4_text_like_inet_pton(void **state)
{
    static const char *const v[] = {"0.0.0.0",   "1.2.3.4",    "255.255.255.255", "10.0.0.1",
                                    "256.1.1.1", "01.1.1.1",   "1.2.3",           "1.2.3.4.",
                                    "1..2.3",    "1.2.3.04",   "1.2.3.4 ",        "a.b.c.d",
                                    "1.2.3.-4",  "1.2.3.1000", "00.0.0.0",        "9.9.9.9"};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(v); i++) {
        struct s4f_addr a;
        unsigned char ref[4];
        int want = inet_pton(AF_INET, v[i], ref) == 1 ? 0 : -1;
        assert_int_equal(s4f_addr_parse(v[i], strlen(v[i]), &a), want);
        if (want == 0) {
            assert_int_equal(a.family, 4);
            assert_memory_equal(a.b, ref, 4);
        }
    }
}

static void test_cidr(void **state)
{
    struct s4f_cidr c;
    struct s4f_addr a;
    assert_int_equal(s4f_cidr_parse("10.1.0.0/16", &c), 0);
    assert_int_equal(s4f_addr_parse("10.1.200.3", 10, &a), 0);
    assert_true(s4f_cidr_contains(&c, &a));
    assert_int_equal(s4f_addr_parse("10.2.0.1", 8, &a), 0);
    assert_false(s4f_cidr_contains(&c, &a));
    assert_int_equal(s4f_cidr_parse("fd00::/8", &c), 0);
    assert_int_equal(s4f_addr_parse("fd12::1", 7, &a), 0);
    assert_true(s4f_cidr_contains(&c, &a));
    assert_int_equal(s4f_cidr_parse("10.0.0.0/33", &c), -1);
}

/* The reader remembers each position's key from the record before: records whose keys
 * change place, grow a suffix or arrive escaped must read exactly as on their own. */
static void test_key_positions_change(void **state)
{
    const char *recs[] = {
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
        "\"ipfix.protocolIdentifier\":6,\"ipfix.packetDeltaCount\":7,"
        "\"ipfix.flowEndMilliseconds\":1000}",
        "{\"ipfix.destinationIPv4Address\":\"10.0.0.5\",\"ipfix.sourceIPv4Address\":\"10.0.0.4\","
        "\"ipfix.packetDeltaCount\":8,\"ipfix.protocolIdentifier\":17,"
        "\"ipfix.flowEndMilliseconds\":2000}",
        "{\"ipfix.sourceIPv4AddressX\":\"10.9.9.9\",\"ipfix.sourceIPv4Address\":\"10.0.0.5\","
        "\"ipfix.destinationIPv4Address\":\"10.0.0.6\",\"ipfix.protocolIdentifier\":1,"
        "\"ipfix.flowEndMilliseconds\":3000}",
        "{\"ipfix.source\\u0049Pv4Address\":\"10.0.0.7\",\"ipfix.destinationIPv4Address\":"
        "\"10.0.0.8\",\"ipfix.protocolIdentifier\":6,\"ipfix.packetDeltaCount\":9,"
        "\"ipfix.flowEndMilliseconds\":4000}",
    };
    const uint8_t src_last[] = {1, 4, 5, 7}, proto[] = {6, 17, 1, 6};
    const uint64_t packets[] = {7, 8, 0, 9};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 4; i++) {
            struct s4f_flow f;
            assert_int_equal(parse(recs[i], &f), S4F_OK);
            assert_int_equal(f.src.b[3], src_last[i]);
            assert_int_equal(f.dst.b[3], src_last[i] + 1);
            assert_int_equal(f.proto, proto[i]);
            assert_int_equal(f.packets, packets[i]);
            assert_int_equal(f.end_ms, (int64_t)(i + 1) * 1000);
        }
    /* A key cut short at the end of the buffer after a full record cached it. */
    const char *cut = "{\"ipfix.sourceIPv4Address";
    struct s4f_flow f;
    assert_int_equal(parse(cut, &f), S4F_ERR);
}

static void test_routed_records(void **state)
{
    struct s4f_flow f = {0}, g;
    s4f_addr_parse("10.1.2.3", 8, &f.src);
    s4f_addr_parse("198.51.100.7", 12, &f.dst);
    f.sport = 40000;
    f.dport = 443;
    f.proto = 6;
    f.tcp_flags = 0x1b;
    f.packets = 12;
    f.bytes = (uint64_t)INT64_MAX;
    f.start_ms = 1764223857123;
    f.end_ms = 1764223858123;
    uint8_t rec[S4F_ROUTED_LEN];
    s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 3, 123456789012, rec);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_OK);
    assert_true(s4f_addr_eq(&g.src, &f.src) && s4f_addr_eq(&g.dst, &f.dst));
    assert_int_equal(g.sport, 40000);
    assert_int_equal(g.dport, 443);
    assert_int_equal(g.proto, 6);
    assert_int_equal(g.tcp_flags, 0x1b);
    assert_int_equal(g.packets, 12);
    assert_int_equal(g.bytes, (uint64_t)INT64_MAX);
    assert_int_equal(g.start_ms, f.start_ms);
    assert_int_equal(g.end_ms, f.end_ms);
    assert_int_equal(g.side, S4F_SIDE_SRC);
    assert_int_equal(g.src_partition, 3);
    assert_int_equal(g.src_offset, 123456789012);
    assert_int_equal(g.rev_packets, 0);
    assert_int_equal(g.rev_bytes, 0);

    /* A biflow's reverse counters (version 3); a version 2 record (the first 96 bytes, what
     * earlier workers wrote) has none. */
    f.rev_packets = 7;
    f.rev_bytes = (uint64_t)INT64_MAX - 1;
    f.rev_tcp_flags = 0x112;
    s4f_flow_encode_routed(&f, S4F_SIDE_DST, 3, 5, rec);
    assert_int_equal(rec[3], 3);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_OK);
    assert_int_equal(g.rev_packets, 7);
    assert_int_equal(g.rev_bytes, (uint64_t)INT64_MAX - 1);
    assert_int_equal(g.rev_tcp_flags, 0x112);
    assert_int_equal(g.packets, 12);
    rec[3] = 2; /* version 2: bytes 14-15 are zero */
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN_V2, &g, NULL), S4F_ERR);
    rec[3] = 3;
    f.rev_tcp_flags = 0;
    s4f_flow_encode_routed(&f, S4F_SIDE_DST, 3, 5, rec);
    rec[111] = 0x80; /* above the signed range */
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_ERR);
    rec[3] = 2;
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN_V2, &g, NULL), S4F_OK);
    assert_int_equal(g.rev_packets, 0);
    assert_int_equal(g.rev_bytes, 0);
    assert_int_equal(g.packets, 12);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_ERR);
    rec[3] = 3;
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN_V2, &g, NULL), S4F_ERR);
    assert_int_equal(s4f_routed_len((char *)rec, sizeof(rec)), S4F_ROUTED_LEN);
    rec[3] = 1;
    assert_int_equal(s4f_routed_len((char *)rec, sizeof(rec)), S4F_ROUTED_LEN_V2);
    f.rev_packets = f.rev_bytes = 0;

    s4f_addr_parse("2001:db8::1", 11, &f.src);
    s4f_addr_parse("fd00::2", 7, &f.dst);
    f.start_ms = f.end_ms + 5; /* clamped to the end, as the JSON reader does */
    s4f_flow_encode_routed(&f, S4F_SIDE_DST, 0, 0, rec);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_OK);
    assert_int_equal(g.src.family, 6);
    assert_true(s4f_addr_eq(&g.src, &f.src) && s4f_addr_eq(&g.dst, &f.dst));
    assert_int_equal(g.side, S4F_SIDE_DST);
    assert_int_equal(g.start_ms, g.end_ms);

    /* Hostile: each byte changed where it matters (byte 7: a flag other than the DNS A answer;
     * bytes 68-79 of an IPv4 source beyond its four without the flag), and every length but
     * the right one. Bytes 20-23 are the claim (version 2). */
    struct {
        size_t at;
        uint8_t v;
    } bad[] = {{0, 'X'},   {3, 4},     {3, 0},     {4, 0},      {4, 3},
               {4, 4},     {5, 5},     {7, 2},     {31, 0x80},  {39, 0x80},
               {47, 0x80}, {55, 0x80}, {63, 0x80}, {103, 0x80}, {111, 0x80}};
    s4f_addr_parse("10.1.2.3", 8, &f.src);
    s4f_addr_parse("10.4.5.6", 8, &f.dst);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 1, 1, rec);
        rec[bad[i].at] = bad[i].v;
        const char *why = NULL;
        assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, &why), S4F_ERR);
        assert_non_null(why);
    }
    s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 1, 1, rec);
    rec[70] = 1; /* an IPv4 source with bytes beyond its four */
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_ERR);
    s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 1, 1, rec);
    for (size_t n = 0; n < sizeof(rec) + 8; n++)
        if (n != sizeof(rec))
            assert_int_equal(s4f_flow_decode_routed((char *)rec, n, &g, NULL), S4F_ERR);

    /* The claim (since version 2); version 1 records have none (bytes 20-23 zero). */
    s4f_flow_encode_routed(&f, S4F_SIDE_SRC, 1, 100, rec);
    s4f_routed_set_gap(rec, 7);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_OK);
    assert_int_equal(g.src_gap, 7);
    rec[3] = 1;
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN_V2, &g, NULL), S4F_ERR);
    s4f_routed_set_gap(rec, 0);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, S4F_ROUTED_LEN_V2, &g, NULL), S4F_OK);
    assert_int_equal(g.src_gap, 0);

    /* Watermark marks round-trip; flow fields in a mark, or a mark in version 1, refused. */
    s4f_flow_encode_mark(5, 77, 1764223858123, true, 11, 0, (int64_t)1 << 40, rec);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &g, NULL), S4F_OK);
    assert_int_equal(g.side, S4F_SIDE_MARK);
    assert_int_equal(g.src_partition, 5);
    assert_int_equal(g.src_offset, 77);
    assert_int_equal(g.end_ms, 1764223858123);
    assert_true(g.mark_idle);
    assert_int_equal(g.packets, 11);
    assert_int_equal(g.bytes, 0);
    assert_int_equal(g.mark_from, (int64_t)1 << 40);
    size_t mbad[] = {3, 6, 8, 10, 12, 14, 20, 72, 80, 95, 96, 104};
    for (size_t i = 0; i < sizeof(mbad) / sizeof(mbad[0]); i++) {
        s4f_flow_encode_mark(5, 77, 1764223858123, false, 11, 0, 3, rec);
        rec[mbad[i]] = mbad[i] == 3 ? 1 : 9;
        size_t n = mbad[i] == 3 ? S4F_ROUTED_LEN_V2 : sizeof(rec); /* a mark in version 1 */
        assert_int_equal(s4f_flow_decode_routed((char *)rec, n, &g, NULL), S4F_ERR);
    }

    /* What earlier versions wrote: JSON with the routing keys; without them, refused. */
    const char *old = "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
                      "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":5,"
                      "\"s4f.r.side\":2,\"s4f.r.partition\":1,\"s4f.r.offset\":9}";
    assert_int_equal(s4f_flow_decode_routed(old, strlen(old), &g, NULL), S4F_OK);
    assert_int_equal(g.side, S4F_SIDE_DST);
    assert_int_equal(g.src_offset, 9);
    const char *plain =
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
        "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":5}";
    assert_int_equal(s4f_flow_decode_routed(plain, strlen(plain), &g, NULL), S4F_ERR);
}

/* Packed messages (docs/packed-format.md): every field struct s4f_flow holds. */
static const char *const packed_records[] = {
    "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
    "\"ipfix.sourceTransportPort\":5555,\"ipfix.destinationTransportPort\":443,"
    "\"ipfix.protocolIdentifier\":6,\"ipfix.tcpControlBits\":2,\"ipfix.packetDeltaCount\":10,"
    "\"ipfix.octetDeltaCount\":1500,\"ipfix.flowStartMilliseconds\":1764223857123,"
    "\"ipfix.flowEndMilliseconds\":1764223858123}",
    "{\"ipfix.sourceIPv6Address\":\"2001:db8::1\",\"ipfix.destinationIPv6Address\":\"fd00::2\","
    "\"ipfix.protocolIdentifier\":17,\"ipfix.flowEndMilliseconds\":5,"
    "\"ipfix.reversePacketDeltaCount\":3,\"ipfix.reverseOctetDeltaCount\":9000000000,"
    "\"ipfix.reverseTcpControlBits\":18}",
    "{\"ipfix.sourceIPv4Address\":\"192.0.2.7\",\"ipfix.destinationIPv4Address\":"
    "\"198.51.100.9\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1000,"
    "\"s4f.src_country\":\"CZ\",\"s4f.dst_country\":\"US\",\"s4f.src_as\":2852,"
    "\"s4f.src_as_org\":\"CESNET \\u017e \\\"z.s.p.o.\\\"\",\"s4f.dst_as\":4200000001}",
    "{\"ipfix.sourceIPv4Address\":\"192.0.2.53\",\"ipfix.destinationIPv4Address\":\"10.1.1.1\","
    "\"ipfix.sourceTransportPort\":53,\"ipfix.protocolIdentifier\":17,"
    "\"ipfix.flowEndMilliseconds\":77,\"ipfix.DNSName\":\"www.example.com\","
    "\"ipfix.DNSFlagsCodes\":33152,\"ipfix.DNSQType\":1,\"ipfix.DNSCrrType\":1,"
    "\"ipfix.DNSCrrName\":\"www.example.com\",\"ipfix.DNSAnswers\":1,"
    "\"ipfix.DNSRData\":\"0x5db8d822\"}",
    "{\"ipfix.sourceIPv6Address\":\"2001:db8::53\",\"ipfix.destinationIPv6Address\":\"2001:db8::"
    "9\","
    "\"ipfix.sourceTransportPort\":53,\"ipfix.protocolIdentifier\":17,"
    "\"ipfix.flowEndMilliseconds\":78,\"ipfix.DNS_NAME\":\"v6.example\",\"ipfix.DNS_RCODE\":3,"
    "\"ipfix.DNS_QTYPE\":28,\"ipfix.DNS_ATYPE\":28,\"ipfix.DNS_ANSWERS\":1,"
    "\"ipfix.DNS_RDATA\":\"0x20010db8000000000000000000000001\"}",
    "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
    "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":9,"
    "\"ipfix.TLSClientCipherSuites\":\"0x130113021303c02b\","
    "\"ipfix.TLSJA3\":\"0x30313233343536373839616263646566\",\"ipfix.TLS_JA4\":"
    "\"t13d1516h2_8daaf6152771_02713d6af862\",\"ipfix.TLS_SNI\":\"example.org\","
    "\"ipfix.HTTPRequestHost\":\"h\\u00e9.example\"}",
    "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":\"10.0.0.2\","
    "\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":9,\"ipfix.TLSJA3\":\"0x01\","
    "\"ipfix.DNSCrrName\":\"no name\"}",
};

/* Everything an analysis can read of a flow. */
static void assert_flows_equal(const struct s4f_flow *a, const struct s4f_flow *b)
{
    assert_memory_equal(a, b, offsetof(struct s4f_flow, dns));
    assert_memory_equal(&a->dns, &b->dns, offsetof(struct s4f_dns, name));
    assert_string_equal(a->dns.name, b->dns.name);
    assert_string_equal(a->dns.crr_name, b->dns.crr_name);
    assert_string_equal(a->dns.rdata, b->dns.rdata);
    assert_memory_equal(&a->app, &b->app, offsetof(struct s4f_app, suites));
    assert_memory_equal(a->app.suites, b->app.suites, a->app.suites_len);
    assert_string_equal(a->app.ja4, b->app.ja4);
    assert_string_equal(a->app.sni, b->app.sni);
    assert_string_equal(a->app.http_host, b->app.http_host);
    assert_string_equal(a->src_as_org, b->src_as_org);
    assert_string_equal(a->dst_as_org, b->dst_as_org);
}

/* Writes packed_records as one message into buf; its length. */
static size_t packed_message(uint8_t *buf, struct s4f_flow *parsed)
{
    size_t o = S4F_PACKED_HDR_LEN, n = S4F_ARRAY_SIZE(packed_records);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(parse(packed_records[i], &parsed[i]), S4F_OK);
        o += s4f_packed_encode(&parsed[i], buf + o);
    }
    s4f_packed_header(buf, (uint16_t)n);
    return o;
}

static void test_packed_round_trip(void **state)
{
    (void)state;
    static uint8_t buf[16 * S4F_PACKED_REC_MAX];
    static struct s4f_flow parsed[S4F_ARRAY_SIZE(packed_records)], f;
    size_t len = packed_message(buf, parsed), cnt;
    assert_true(s4f_is_packed((const char *)buf, len));
    assert_int_equal(s4f_packed_check((const char *)buf, len, &f, &cnt, NULL), S4F_OK);
    assert_int_equal(cnt, S4F_ARRAY_SIZE(packed_records));
    struct s4f_packed_iter it;
    assert_int_equal(s4f_packed_open((const char *)buf, len, &it, &cnt, NULL), S4F_OK);
    for (size_t i = 0; i < cnt; i++) {
        assert_int_equal(s4f_packed_next(&it, &f, NULL), 1);
        assert_flows_equal(&f, &parsed[i]);
    }
    assert_int_equal(s4f_packed_next(&it, &f, NULL), 0);
    /* The fields did reach the flows (not two empty flows compared). */
    assert_string_equal(parsed[2].src_as_org, "CESNET \xc5\xbe \"z.s.p.o.\"");
    assert_true(parsed[3].dns.flags & S4F_DNS_RDATA_ADDR);
    assert_int_equal(parsed[4].dns.rdata_addr.family, 6);
    assert_true(parsed[5].app.flags & S4F_APP_JA3);
    assert_true(parsed[6].app.flags & S4F_APP_MALFORMED);
    assert_string_equal(parsed[6].dns.crr_name, "no name");
    /* An IPv4 flow without options: 50 bytes (the JSON was 370). */
    assert_int_equal(s4f_packed_encode(&parsed[0], buf), 50);

    /* The seeds of fuzz_packed_reader (workers/fuzz/corpus_packed): each record alone, and all
     * in one message. S4F_WRITE_PACKED_CORPUS=DIR writes them. */
    const char *dir = getenv("S4F_WRITE_PACKED_CORPUS");
    for (size_t i = 0; dir && i <= S4F_ARRAY_SIZE(packed_records); i++) {
        char path[512];
        size_t l =
            i < S4F_ARRAY_SIZE(packed_records)
                ? S4F_PACKED_HDR_LEN + s4f_packed_encode(&parsed[i], buf + S4F_PACKED_HDR_LEN)
                : packed_message(buf, parsed);
        if (i < S4F_ARRAY_SIZE(packed_records))
            s4f_packed_header(buf, 1);
        snprintf(path, sizeof(path), "%s/seed-%zu", dir, i);
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, l, fp), l);
        fclose(fp);
    }
}

/* Anything but the exact form is refused whole: every truncation, trailing bytes, a wrong
 * count, unknown flags, start after end, bad text. */
static void test_packed_hostile(void **state)
{
    (void)state;
    static uint8_t buf[16 * S4F_PACKED_REC_MAX], bad[16 * S4F_PACKED_REC_MAX];
    static struct s4f_flow parsed[S4F_ARRAY_SIZE(packed_records)], f;
    size_t len = packed_message(buf, parsed), cnt;
    const char *why = NULL;
    for (size_t l = 0; l < len; l++)
        assert_int_equal(s4f_packed_check((const char *)buf, l, &f, &cnt, NULL), S4F_ERR);
    memcpy(bad, buf, len);
    bad[len] = 0;
    assert_int_equal(s4f_packed_check((const char *)bad, len + 1, &f, &cnt, &why), S4F_ERR);
    assert_non_null(why);
    s4f_put_le(bad + 4, S4F_ARRAY_SIZE(packed_records) + 1, 2);
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    s4f_put_le(bad + 4, 0, 2);
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    /* One bad byte in the first record: the message's other flows are not taken either. */
    size_t first = S4F_PACKED_HDR_LEN;
    uint8_t *r = bad + first;
    memcpy(bad, buf, len);
    r[2] |= 0x40; /* unknown flag */
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    memcpy(bad, buf, len);
    s4f_put_le(r + 26, s4f_get_le(r + 34, 8) + 1, 8); /* start after end */
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    memcpy(bad, buf, len);
    s4f_put_le(r + 10, UINT64_MAX, 8); /* packets beyond int64 */
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    memcpy(bad, buf, len);
    s4f_put_le(r + 34, 0, 8); /* end 0 */
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    /* The GeoIP record's organisation: a NUL, then invalid UTF-8. */
    size_t o = S4F_PACKED_HDR_LEN;
    for (int i = 0; i < 2; i++)
        o += s4f_get_le(buf + o, 2);
    const char *org = memmem(buf + o, len - o, "CESNET", 6);
    assert_non_null(org);
    size_t at = (size_t)(org - (const char *)buf);
    memcpy(bad, buf, len);
    bad[at + 1] = 0;
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    bad[at + 1] = 0xff;
    assert_int_equal(s4f_packed_check((const char *)bad, len, &f, &cnt, NULL), S4F_ERR);
    /* JSON is not packed. */
    assert_false(s4f_is_packed(packed_records[0], strlen(packed_records[0])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_record),
        cmocka_unit_test(test_biflow_reverse),
        cmocka_unit_test(test_ipv6_and_escaped_key),
        cmocka_unit_test(test_zero_times_refused),
        cmocka_unit_test(test_dual_stack_takes_the_set_family),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_string_specials_at_every_offset),
        cmocka_unit_test(test_ipv4_text_like_inet_pton),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_key_positions_change),
        cmocka_unit_test(test_geo_fields),
        cmocka_unit_test(test_routed_geo),
        cmocka_unit_test(test_routed_records),
        cmocka_unit_test(test_packed_round_trip),
        cmocka_unit_test(test_packed_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
