/* Functional tests of s4f_decode with messages built in code: IPFIX, NetFlow v9 and v5 field
 * mapping, time conversion, template life cycle, sampling, sequence numbers, TCP streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "log.h"
#include "msggen.h"
#include "test_util.h"

#define NOW   1764223857000LL /* 2025-11-27T06:10:57Z */
#define T0    1764223857u     /* export time, seconds */
#define PEN_F 39499u

static struct s4f_mg g;
static struct tu_recs R;

static struct s4f_decoder *new_dec(const struct s4f_decoder_opts *o)
{
    struct s4f_decoder *d = s4f_decoder_new(o);
    assert_non_null(d);
    tu_clear(&R);
    return d;
}

static enum s4f_status feed(struct s4f_decoder *d, const char *exporter, int64_t now)
{
    struct sockaddr_storage ss = tu_addr(exporter);
    size_t n = s4f_mg_end(&g);
    return s4f_decode_datagram(d, &ss, g.buf, n, now, tu_collect, &R);
}

static void add_typical_template(uint16_t tid)
{
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, tid);
}

static void test_ipfix_basic(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    s4f_mg_ipfix(&g, T0, 0, 42);
    add_typical_template(256);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW - 5000);
    s4f_mg_typical_rec(&g, 2, (uint64_t)NOW - 4000);
    assert_int_equal(feed(d, "192.0.2.1", NOW), S4F_OK);
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "@type"), "ipfix.entry");
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "10.0.0.1");
    assert_string_equal(tu_str(&R, 1, "ipfix.sourceIPv4Address"), "10.0.0.2");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv4Address"), "192.168.0.2");
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 1025);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 443);
    assert_int_equal(tu_int(&R, 0, "ipfix.protocolIdentifier"), 6);
    assert_int_equal(tu_int(&R, 0, "ipfix.tcpControlBits"), 0x1b);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 11);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1501);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), NOW - 5000);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), NOW - 5000 + 1234);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpSourceAsNumber"), 64512);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceIPv4PrefixLength"), 24);
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv4Address"), "192.0.2.1");
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 42);
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));
    /* Kafka key candidates and metadata. */
    assert_int_equal(R.meta[0].src_family, AF_INET);
    assert_string_equal(R.src_text[0], "10.0.0.1");
    assert_memory_equal(R.meta[0].src_addr, "\x0a\x00\x00\x01", 4);
    assert_int_equal(R.meta[0].version, 10);
    assert_int_equal(R.meta[0].domain, 42);
    assert_int_equal(R.meta[0].flow_start_ms, NOW - 5000);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.datagrams[S4F_PROTO_IPFIX], 1);
    assert_int_equal(st.flows[S4F_PROTO_IPFIX], 2);
    assert_int_equal(st.templates_added, 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_exporter_fields_off(void **state)
{
    struct s4f_decoder_opts o = {.no_exporter_fields = true};
    struct s4f_decoder *d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 1);
    add_typical_template(300);
    s4f_mg_set(&g, 300);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "2001:db8::99", NOW);
    assert_int_equal(R.n, 1);
    assert_false(tu_has(&R, 0, "ipfix.exporterIPv4Address"));
    assert_false(tu_has(&R, 0, "ipfix.exporterIPv6Address"));
    assert_false(tu_has(&R, 0, "ipfix.observationDomainId"));
    assert_string_equal(R.meta[0].exporter_text, "2001:db8::99");
    tu_clear(&R);
    s4f_decoder_free(d);
    /* With the defaults an IPv6 exporter gets exporterIPv6Address. */
    d = new_dec(NULL);
    feed(d, "2001:db8::99", NOW);
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv6Address"), "2001:db8::99");
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v9_sysuptime(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    /* Exporter up for 100 s; flow from uptime 90 s to 95.5 s. */
    s4f_mg_v9(&g, 100000, T0, 7, 3);
    s4f_mg_set(&g, 0);
    s4f_mg_tpl(&g, 260, 6);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 12, 4, 0);
    s4f_mg_field(&g, 1, 4, 0);
    s4f_mg_field(&g, 2, 4, 0);
    s4f_mg_field(&g, 22, 4, 0);
    s4f_mg_field(&g, 21, 4, 0);
    s4f_mg_set(&g, 260);
    s4f_mg_ip4(&g, "198.51.100.7");
    s4f_mg_ip4(&g, "203.0.113.9");
    s4f_mg_u32(&g, 4000);
    s4f_mg_u32(&g, 4);
    s4f_mg_u32(&g, 90000);
    s4f_mg_u32(&g, 95500);
    s4f_mg_rec(&g);
    s4f_mg_u16(&g, 0); /* padding */
    assert_int_equal(feed(d, "192.0.2.9", NOW), S4F_OK);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), (int64_t)T0 * 1000 - 10000);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), (int64_t)T0 * 1000 - 4500);
    assert_false(tu_has(&R, 0, "ipfix.flowStartSysUpTime"));
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 4000);
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 3);
    assert_int_equal(R.meta[0].version, 9);
    tu_clear(&R);

    /* Uptime wrapped (49.7 days) between the flow start and the export. */
    s4f_mg_v9(&g, 1000, T0, 8, 3);
    s4f_mg_set(&g, 260);
    s4f_mg_ip4(&g, "198.51.100.7");
    s4f_mg_ip4(&g, "203.0.113.9");
    s4f_mg_u32(&g, 1);
    s4f_mg_u32(&g, 1);
    s4f_mg_u32(&g, 0xffffffffu - 999); /* 2 s before the export */
    s4f_mg_u32(&g, 500);
    s4f_mg_rec(&g);
    assert_int_equal(feed(d, "192.0.2.9", NOW), S4F_OK);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), (int64_t)T0 * 1000 - 2000);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), (int64_t)T0 * 1000 - 500);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_v5(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    /* Sampling mode 1, interval 10; unix time T0 + 0.25 s; uptime 60 s. */
    s4f_mg_v5(&g, 60000, T0, 250000000, 1000, 1, 2, (1 << 14) | 10);
    struct s4f_mg_v5rec r = {.src = "10.1.2.3",
                             .dst = "10.3.2.1",
                             .nexthop = "10.0.0.254",
                             .input = 5,
                             .output = 6,
                             .pkts = 3,
                             .octets = 180,
                             .first = 50000,
                             .last = 59000,
                             .sport = 12345,
                             .dport = 53,
                             .tcp_flags = 0,
                             .proto = 17,
                             .tos = 0xb8,
                             .src_as = 64500,
                             .dst_as = 64501,
                             .src_mask = 24,
                             .dst_mask = 25};
    s4f_mg_v5_rec(&g, &r);
    r.src = "10.9.9.9";
    s4f_mg_v5_rec(&g, &r);
    assert_int_equal(feed(d, "192.0.2.5", NOW), S4F_OK);
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "10.1.2.3");
    assert_string_equal(tu_str(&R, 1, "ipfix.sourceIPv4Address"), "10.9.9.9");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv4Address"), "10.3.2.1");
    assert_string_equal(tu_str(&R, 0, "ipfix.ipNextHopIPv4Address"), "10.0.0.254");
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 5);
    assert_int_equal(tu_int(&R, 0, "ipfix.egressInterface"), 6);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 30);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1800);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 10);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 12345);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 53);
    assert_int_equal(tu_int(&R, 0, "ipfix.protocolIdentifier"), 17);
    assert_int_equal(tu_int(&R, 0, "ipfix.tcpControlBits"), 0);
    assert_int_equal(tu_int(&R, 0, "ipfix.ipClassOfService"), 0xb8);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpSourceAsNumber"), 64500);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpDestinationAsNumber"), 64501);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceIPv4PrefixLength"), 24);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationIPv4PrefixLength"), 25);
    int64_t boot = (int64_t)T0 * 1000 + 250 - 60000;
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), boot + 50000);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), boot + 59000);
    assert_int_equal(tu_int(&R, 0, "ipfix.engineType"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.engineId"), 2);
    assert_int_equal(R.meta[0].domain, 0x0102);
    assert_int_equal(R.meta[0].sampling_interval, 10);
    tu_clear(&R);

    /* Sequence: next datagram should carry flow_seq 1002; 1010 means 8 flows lost. */
    s4f_mg_v5(&g, 61000, T0 + 1, 0, 1010, 1, 2, 0);
    s4f_mg_v5_rec(&g, &r);
    assert_int_equal(feed(d, "192.0.2.5", NOW), S4F_OK);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 8);
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 3);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* IPv6, MAC, strings (1- and 3-byte varlen forms, hostile bytes), unknown and Flowmon
 * enterprise elements, booleans, signed and float values. */
static void test_types(void **state)
{
    char path[1024];
    const char *files[] = {
        tu_source_path("collector/decode/elements/flowmon.xml", path, sizeof(path)), NULL};
    struct s4f_decoder_opts o = {.element_files = files};
    struct s4f_decoder *d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 400, 12);
    s4f_mg_field(&g, 27, 16, 0);         /* sourceIPv6Address */
    s4f_mg_field(&g, 28, 16, 0);         /* destinationIPv6Address */
    s4f_mg_field(&g, 56, 6, 0);          /* sourceMacAddress */
    s4f_mg_field(&g, 82, 65535, 0);      /* interfaceName, varlen */
    s4f_mg_field(&g, 83, 65535, 0);      /* interfaceDescription, varlen (long) */
    s4f_mg_field(&g, 121, 65535, PEN_F); /* Flowmon DNSName */
    s4f_mg_field(&g, 117, 2, PEN_F);     /* Flowmon DNSCrrType */
    s4f_mg_field(&g, 120, 65535, PEN_F); /* Flowmon DNSRData (octetArray) */
    s4f_mg_field(&g, 7, 2, 12345);       /* unknown enterprise element */
    s4f_mg_field(&g, 3000, 4, 0);        /* unknown IANA element */
    s4f_mg_field(&g, 276, 1, 0);         /* dataRecordsReliability (boolean) */
    s4f_mg_field(&g, 82, 4, 0);          /* a repeated element is emitted once */
    s4f_mg_set(&g, 400);
    s4f_mg_ip6(&g, "2001:db8::1");
    s4f_mg_ip6(&g, "fe80::a:b");
    s4f_mg_bytes(&g, "\x00\x1f\x33\xd9\x81\x60", 6);
    s4f_mg_varlen(&g, "eth\"0\x01\xff", 7);
    char longtext[300];
    memset(longtext, 'x', sizeof(longtext));
    s4f_mg_varlen(&g, longtext, sizeof(longtext));
    s4f_mg_varlen(&g, "www.example.com", 15);
    s4f_mg_u16(&g, 1);
    s4f_mg_varlen(&g, "\xc0\x00\x02\x01", 4);
    s4f_mg_u16(&g, 0xbeef);
    s4f_mg_u32(&g, 0xdeadbeef);
    s4f_mg_u8(&g, 1);
    s4f_mg_bytes(&g, "ethX", 4);
    assert_int_equal(feed(d, "192.0.2.1", NOW), S4F_OK);
    assert_int_equal(R.n, 1);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv6Address"), "2001:db8::1");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv6Address"), "fe80::a:b");
    assert_int_equal(R.meta[0].src_family, AF_INET6);
    assert_string_equal(R.src_text[0], "2001:db8::1");
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceMacAddress"), "00:1f:33:d9:81:60");
    assert_string_equal(tu_str(&R, 0, "ipfix.interfaceName"), "eth\"0\x01\xef\xbf\xbd");
    assert_int_equal(strlen(tu_str(&R, 0, "ipfix.interfaceDescription")), 300);
    assert_string_equal(tu_str(&R, 0, "ipfix.DNSName"), "www.example.com");
    assert_int_equal(tu_int(&R, 0, "ipfix.DNSCrrType"), 1);
    assert_string_equal(tu_str(&R, 0, "ipfix.DNSRData"), "0xc0000201");
    assert_string_equal(tu_str(&R, 0, "ipfix.e12345id7"), "0xbeef");
    assert_string_equal(tu_str(&R, 0, "ipfix.e0id3000"), "0xdeadbeef");
    assert_true(json_is_true(json_object_get(R.obj[0], "ipfix.dataRecordsReliability")));
    /* No time field: the export time stands for both (time_fallback no_time). */
    assert_true(tu_has(&R, 0, "ipfix.flowStartMilliseconds"));
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"),
                     tu_int(&R, 0, "ipfix.flowEndMilliseconds"));
    tu_clear(&R);
    s4f_decoder_free(d);

    /* Without the element file the Flowmon elements are unknown. */
    d = new_dec(NULL);
    feed(d, "192.0.2.1", NOW);
    assert_string_equal(tu_str(&R, 0, "ipfix.e39499id121"), "0x7777772e6578616d706c652e636f6d");
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_time_variants(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 500, 2); /* seconds */
    s4f_mg_field(&g, 150, 4, 0);
    s4f_mg_field(&g, 151, 4, 0);
    s4f_mg_tpl(&g, 501, 2); /* NTP microseconds + duration */
    s4f_mg_field(&g, 154, 8, 0);
    s4f_mg_field(&g, 161, 4, 0);
    s4f_mg_tpl(&g, 502, 2); /* delta microseconds before export time */
    s4f_mg_field(&g, 158, 4, 0);
    s4f_mg_field(&g, 159, 4, 0);
    s4f_mg_tpl(&g, 503, 3); /* sysUpTime relative to systemInitTimeMilliseconds */
    s4f_mg_field(&g, 160, 8, 0);
    s4f_mg_field(&g, 22, 4, 0);
    s4f_mg_field(&g, 21, 4, 0);
    s4f_mg_tpl(&g, 504, 2); /* ms and seconds together: ms wins */
    s4f_mg_field(&g, 150, 4, 0);
    s4f_mg_field(&g, 152, 8, 0);
    s4f_mg_set(&g, 500);
    s4f_mg_u32(&g, T0 - 10);
    s4f_mg_u32(&g, T0 - 5);
    s4f_mg_set(&g, 501);
    s4f_mg_u32(&g, T0 - 20 + 2208988800u);
    s4f_mg_u32(&g, 0x80000000u); /* + 0.5 s */
    s4f_mg_u32(&g, 700);
    s4f_mg_set(&g, 502);
    s4f_mg_u32(&g, 3000000);
    s4f_mg_u32(&g, 1000000);
    s4f_mg_set(&g, 503);
    s4f_mg_u64(&g, (uint64_t)T0 * 1000 - 3600000);
    s4f_mg_u32(&g, 1000);
    s4f_mg_u32(&g, 2000);
    s4f_mg_set(&g, 504);
    s4f_mg_u32(&g, T0);
    s4f_mg_u64(&g, (uint64_t)T0 * 1000 + 123);
    assert_int_equal(feed(d, "192.0.2.1", NOW), S4F_OK);
    assert_int_equal(R.n, 5);
    const int64_t t0 = (int64_t)T0 * 1000;
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), t0 - 10000);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), t0 - 5000);
    assert_false(tu_has(&R, 0, "ipfix.flowStartSeconds"));
    assert_int_equal(tu_int(&R, 1, "ipfix.flowStartMilliseconds"), t0 - 19500);
    assert_int_equal(tu_int(&R, 1, "ipfix.flowEndMilliseconds"), t0 - 19500 + 700);
    assert_int_equal(tu_int(&R, 1, "ipfix.flowDurationMilliseconds"), 700);
    assert_int_equal(tu_int(&R, 2, "ipfix.flowStartMilliseconds"), t0 - 3000);
    assert_int_equal(tu_int(&R, 2, "ipfix.flowEndMilliseconds"), t0 - 1000);
    assert_int_equal(tu_int(&R, 3, "ipfix.flowStartMilliseconds"), t0 - 3600000 + 1000);
    assert_int_equal(tu_int(&R, 3, "ipfix.flowEndMilliseconds"), t0 - 3600000 + 2000);
    assert_int_equal(tu_int(&R, 3, "ipfix.systemInitTimeMilliseconds"), t0 - 3600000);
    assert_int_equal(tu_int(&R, 4, "ipfix.flowStartMilliseconds"), t0 + 123);
    assert_int_equal(tu_int(&R, 4, "ipfix.flowEndMilliseconds"), t0 + 123);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* Withdrawals are honoured over TCP only (RFC 7011, 8.4; over UDP see test_audit.c). */
static void feed_tcp(struct s4f_ipfix_stream *st)
{
    size_t n = s4f_mg_end(&g);
    assert_int_equal(s4f_ipfix_stream_feed(st, g.buf, n, NOW, tu_collect, &R), S4F_OK);
}

static void test_withdrawal(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    struct sockaddr_storage peer = tu_addr("192.0.2.1");
    struct s4f_ipfix_stream *st = s4f_ipfix_stream_new(d, &peer);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_typical_template(256);
    s4f_mg_typical_tpl(&g, 257);
    s4f_mg_typical_tpl(&g, 258);
    feed_tcp(st);
    /* Withdraw 256, then data for 256 is missing, 257 still decodes. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_set(&g, 257);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed_tcp(st);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_err(d, S4F_DR_MISSING_TEMPLATE), 1);
    struct s4f_decode_stats stats;
    s4f_decoder_stats(d, &stats);
    assert_int_equal(stats.templates_withdrawn, 1);
    tu_clear(&R);
    /* Withdraw all (template id 2 in set 2). */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 2, 0);
    s4f_mg_set(&g, 257);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_set(&g, 258);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed_tcp(st);
    assert_int_equal(R.n, 0);
    assert_int_equal(tu_err(d, S4F_DR_MISSING_TEMPLATE), 3);
    s4f_decoder_stats(d, &stats);
    assert_int_equal(stats.templates_withdrawn, 3);
    /* Withdrawing an unknown template is counted. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 999, 0);
    feed_tcp(st);
    assert_int_equal(tu_err(d, S4F_DR_WITHDRAW_UNKNOWN), 1);
    assert_int_equal(tu_err(d, S4F_DR_WITHDRAW_UDP), 0);
    s4f_ipfix_stream_free(st);
    s4f_decoder_free(d);
}

static void test_template_lifetime(void **state)
{
    struct s4f_decoder_opts o = {.template_lifetime_s = 10};
    struct s4f_decoder *d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_typical_template(256);
    feed(d, "192.0.2.1", NOW);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW + 9000);
    assert_int_equal(R.n, 1);
    /* 11 s after the announcement: expired. */
    s4f_mg_ipfix(&g, T0, 1, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    assert_int_equal(feed(d, "192.0.2.1", NOW + 11000), S4F_ERR);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_err(d, S4F_DR_MISSING_TEMPLATE), 1);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_expired, 1);
    /* A refresh extends the lifetime; the sweep drops templates nobody asks for. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_typical_template(256);
    add_typical_template(257);
    feed(d, "192.0.2.1", NOW + 20000);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_typical_template(256);
    feed(d, "192.0.2.1", NOW + 25000);
    s4f_decoder_expire(d, NOW + 32000);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_expired, 2);
    assert_int_equal(st.templates_refreshed, 1);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW + 33000);
    assert_int_equal(R.n, 2);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_template_lru(void **state)
{
    struct s4f_decoder_opts o = {.max_templates_per_exporter = 4};
    struct s4f_decoder *d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 2);
    for (uint16_t t = 256; t < 260; t++)
        s4f_mg_typical_tpl(&g, t);
    feed(d, "192.0.2.1", NOW);
    /* Use 256 so that 257 becomes the least recently used, then add 260. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 260);
    feed(d, "192.0.2.1", NOW);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_evicted, 1);
    tu_clear(&R);
    s4f_mg_ipfix(&g, T0, 0, 0);
    for (uint16_t t = 256; t <= 260; t++) {
        s4f_mg_set(&g, t);
        s4f_mg_typical_rec(&g, t, (uint64_t)NOW);
    }
    feed(d, "192.0.2.1", NOW);
    assert_int_equal(R.n, 4);
    assert_int_equal(tu_err(d, S4F_DR_MISSING_TEMPLATE), 1);
    for (size_t i = 0; i < R.n; i++)
        assert_string_not_equal(tu_str(&R, i, "ipfix.sourceIPv4Address"), "10.0.1.1"); /* 257 */
    tu_clear(&R);
    s4f_decoder_free(d);
}

static size_t count_exporters_cb_n;
static void count_exporters_cb(void *ctx, const struct s4f_exporter_stats *st)
{
    (void)ctx;
    count_exporters_cb_n++;
    assert_non_null(st->addr_text);
}

static void test_exporter_lru(void **state)
{
    struct s4f_decoder_opts o = {.max_exporters = 2};
    struct s4f_decoder *d = new_dec(&o);
    const char *ex[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
    for (int i = 0; i < 3; i++) {
        s4f_mg_ipfix(&g, T0, 0, 0);
        add_typical_template(256);
        feed(d, ex[i], NOW);
    }
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.exporters_evicted, 1);
    count_exporters_cb_n = 0;
    assert_int_equal(s4f_decoder_foreach_exporter(d, count_exporters_cb, NULL), 2);
    assert_int_equal(count_exporters_cb_n, 2);
    /* The first exporter's templates are gone with it. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    assert_int_equal(feed(d, ex[0], NOW), S4F_ERR);
    assert_int_equal(feed(d, ex[2], NOW), S4F_OK);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* Options template + record defining sampler 5 with interval 100. */
static void add_sampler_options(uint16_t tid, uint8_t sampler, uint32_t interval)
{
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, tid, 3, 1);
    s4f_mg_field(&g, 149, 4, 0); /* scope: observationDomainId */
    s4f_mg_field(&g, 48, 1, 0);  /* samplerId */
    s4f_mg_field(&g, 34, 4, 0);  /* samplingInterval */
    s4f_mg_set(&g, tid);
    s4f_mg_u32(&g, 0);
    s4f_mg_u8(&g, sampler);
    s4f_mg_u32(&g, interval);
}

static void add_sampled_template(uint16_t tid)
{
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, tid, 4);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 2, 4, 0);
    s4f_mg_field(&g, 1, 8, 0);
    s4f_mg_field(&g, 48, 1, 0);
}

static void add_sampled_rec(uint16_t tid, uint8_t sampler)
{
    s4f_mg_set(&g, tid);
    s4f_mg_ip4(&g, "10.0.0.5");
    s4f_mg_u32(&g, 2);
    s4f_mg_u64(&g, 300);
    s4f_mg_u8(&g, sampler);
}

/* Interface names from options records (interfaceName 82 variable length, interfaceDescription
 * 83 fixed and NUL-padded, scoped by ingressInterface) are added to data records for their
 * ingress and egress interfaces; an unnamed interface adds nothing; the table is bounded. */
static void add_ifname(uint16_t tid, uint32_t index, const char *name, const char *desc)
{
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, tid, 3, 1);
    s4f_mg_field(&g, 10, 4, 0);
    s4f_mg_field(&g, 82, 65535, 0);
    s4f_mg_field(&g, 83, 16, 0);
    s4f_mg_set(&g, tid);
    s4f_mg_u32(&g, index);
    s4f_mg_varlen(&g, name, strlen(name));
    char d16[16] = {0};
    memcpy(d16, desc, strlen(desc) < 16 ? strlen(desc) : 16);
    s4f_mg_bytes(&g, d16, 16);
}

static void add_if_flow(uint16_t tid, uint32_t in, uint32_t out)
{
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, tid, 3);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 10, 4, 0);
    s4f_mg_field(&g, 14, 4, 0);
    s4f_mg_set(&g, tid);
    s4f_mg_ip4(&g, "10.0.0.5");
    s4f_mg_u32(&g, in);
    s4f_mg_u32(&g, out);
}

static void test_interface_names(void **state)
{
    struct s4f_decoder_opts o = {.max_interfaces_per_domain = 3};
    struct s4f_decoder *d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_if_flow(256, 2, 7); /* before the names, in the same message: named too */
    add_ifname(257, 2, "xe-0/0/1", "uplink \"A\"");
    add_ifname(257, 7, "ge-1/2/3", "");
    assert_int_equal(feed(d, "192.0.2.1", NOW), S4F_OK);
    assert_int_equal(R.n, 1);
    assert_string_equal(tu_str(&R, 0, "s4f.in_if_name"), "xe-0/0/1");
    assert_string_equal(tu_str(&R, 0, "s4f.in_if_description"), "uplink \"A\"");
    assert_string_equal(tu_str(&R, 0, "s4f.out_if_name"), "ge-1/2/3");
    assert_false(tu_has(&R, 0, "s4f.out_if_description"));
    tu_clear(&R);
    /* A renamed interface, an unknown one; two more fill the table, the fourth is refused. */
    s4f_mg_ipfix(&g, T0, 2, 0);
    add_ifname(257, 7, "ge-1/2/3-new", "x");
    add_ifname(257, 1, "a", "");
    add_ifname(257, 9, "b", "");
    add_if_flow(256, 7, 5);
    add_if_flow(256, 9, 1);
    assert_int_equal(feed(d, "192.0.2.1", NOW), S4F_OK);
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "s4f.in_if_name"), "ge-1/2/3-new");
    assert_false(tu_has(&R, 0, "s4f.out_if_name"));
    assert_false(tu_has(&R, 1, "s4f.in_if_name")); /* 9 was refused: 1, 2 and 7 are kept */
    assert_string_equal(tu_str(&R, 1, "s4f.out_if_name"), "a");
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.interface_updates, 4);
    assert_int_equal(st.interfaces_refused, 1);
    tu_clear(&R);
    /* Another exporter knows none of them. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_if_flow(256, 2, 7);
    assert_int_equal(feed(d, "192.0.2.9", NOW), S4F_OK);
    assert_false(tu_has(&R, 0, "s4f.in_if_name"));
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_sampling_same_datagram(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    /* Data set first, the options record defining its sampler after it. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_sampled_template(256);
    add_sampled_rec(256, 5);
    add_sampler_options(257, 5, 100);
    assert_int_equal(feed(d, "192.0.2.1", NOW), S4F_OK);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 100);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 200);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 30000);
    assert_int_equal(tu_int(&R, 0, "ipfix.samplerId"), 5);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_sampling_later_and_per_sampler(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_sampled_template(256);
    add_sampled_rec(256, 5);
    feed(d, "192.0.2.1", NOW);
    /* Before any options: unknown interval, counters as exported. */
    assert_int_equal(R.n, 1);
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));
    assert_int_equal(R.meta[0].sampling_interval, 0);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 2);
    tu_clear(&R);
    /* Two samplers arrive later, in a message of their own. */
    s4f_mg_ipfix(&g, T0, 1, 0);
    add_sampler_options(300, 5, 100);
    s4f_mg_u32(&g, 0);
    s4f_mg_u8(&g, 6);
    s4f_mg_u32(&g, 1000);
    feed(d, "192.0.2.1", NOW);
    s4f_mg_ipfix(&g, T0, 3, 0);
    add_sampled_rec(256, 5);
    s4f_mg_ip4(&g, "10.0.0.6");
    s4f_mg_u32(&g, 2);
    s4f_mg_u64(&g, 300);
    s4f_mg_u8(&g, 6);
    feed(d, "192.0.2.1", NOW);
    assert_int_equal(R.n, 2);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 100);
    assert_int_equal(tu_int(&R, 1, "s4f.sampling_interval"), 1000);
    assert_int_equal(tu_int(&R, 1, "ipfix.packetDeltaCount"), 2000);
    tu_clear(&R);
    /* Another domain of the same exporter does not share the samplers. */
    s4f_mg_ipfix(&g, T0, 0, 9);
    add_sampled_template(256);
    add_sampled_rec(256, 5);
    feed(d, "192.0.2.1", NOW);
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));
    tu_clear(&R);
    s4f_decoder_free(d);

    /* no_renormalize keeps counters, still reports the interval. */
    struct s4f_decoder_opts o = {.no_renormalize = true};
    d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_sampled_template(256);
    add_sampled_rec(256, 5);
    add_sampler_options(257, 5, 100);
    feed(d, "192.0.2.1", NOW);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 100);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 2);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_sampling_psamp_and_v9(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    /* PSAMP systematic count-based: 1 packet selected, 99 skipped: 1 in 100. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, 260, 3, 1);
    s4f_mg_field(&g, 302, 8, 0); /* selectorId */
    s4f_mg_field(&g, 305, 4, 0);
    s4f_mg_field(&g, 306, 4, 0);
    s4f_mg_set(&g, 260);
    s4f_mg_u64(&g, 77);
    s4f_mg_u32(&g, 1);
    s4f_mg_u32(&g, 99);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 261, 2);
    s4f_mg_field(&g, 302, 8, 0);
    s4f_mg_field(&g, 2, 4, 0);
    s4f_mg_set(&g, 261);
    s4f_mg_u64(&g, 77);
    s4f_mg_u32(&g, 3);
    /* Random n-out-of-N in the record itself: 10 of 1000. */
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 262, 3);
    s4f_mg_field(&g, 309, 4, 0);
    s4f_mg_field(&g, 310, 4, 0);
    s4f_mg_field(&g, 2, 4, 0);
    s4f_mg_set(&g, 262);
    s4f_mg_u32(&g, 10);
    s4f_mg_u32(&g, 1000);
    s4f_mg_u32(&g, 3);
    feed(d, "192.0.2.1", NOW);
    assert_int_equal(R.n, 2);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 100);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 300);
    assert_int_equal(tu_int(&R, 1, "s4f.sampling_interval"), 100);
    tu_clear(&R);

    /* NetFlow v9 options: System scope, FLOW_SAMPLER_ID and FLOW_SAMPLER_RANDOM_INTERVAL,
     * announced after the data template but before the data. */
    s4f_mg_v9(&g, 1000, T0, 0, 0);
    s4f_mg_set(&g, 0);
    s4f_mg_tpl(&g, 256, 2);
    s4f_mg_field(&g, 48, 2, 0);
    s4f_mg_field(&g, 2, 4, 0);
    feed(d, "192.0.2.2", NOW);
    s4f_mg_v9(&g, 1000, T0, 1, 0);
    s4f_mg_set(&g, 1);
    s4f_mg_v9_opt_tpl(&g, 257, 4, 8);
    s4f_mg_field(&g, 1, 4, 0); /* scope System */
    s4f_mg_field(&g, 48, 2, 0);
    s4f_mg_field(&g, 50, 4, 0);
    s4f_mg_u16(&g, 0); /* padding */
    s4f_mg_set(&g, 257);
    s4f_mg_u32(&g, 0);
    s4f_mg_u16(&g, 3);
    s4f_mg_u32(&g, 512);
    s4f_mg_rec(&g);
    s4f_mg_u16(&g, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_u16(&g, 3);
    s4f_mg_u32(&g, 2);
    s4f_mg_rec(&g);
    assert_int_equal(feed(d, "192.0.2.2", NOW), S4F_OK);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 512);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 1024);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_sequence(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    struct s4f_decode_stats st;
    /* IPFIX counts data records: 2 records at seq 0, next expected 2; 5 means 3 lost. */
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_typical_template(256);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_typical_rec(&g, 2, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_mg_ipfix(&g, T0, 5, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 3);
    s4f_mg_ipfix(&g, T0, 6, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    /* Wraparound (domain 1): 0xfffffffe + 2 records -> next 0. */
    s4f_mg_ipfix(&g, T0, 0xfffffffeu, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_typical_tpl(&g, 256);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    s4f_mg_typical_rec(&g, 2, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 3);
    assert_int_equal(st.seq_resets, 0);
    /* Exporter restart: sequence back to a small number is a reset, not a 4-billion gap. */
    s4f_mg_ipfix(&g, T0, 0x80000000u, 1);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 3);
    assert_int_equal(st.seq_resets, 2);
    /* A late datagram (behind the expected number) is reordered, not a reset. */
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 1, (uint64_t)NOW);
    feed(d, "192.0.2.1", NOW);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_reordered, 1);
    assert_int_equal(st.seq_resets, 2);

    /* NetFlow v9 counts packets per source id. */
    s4f_mg_v9(&g, 1000, T0, 100, 1);
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    feed(d, "192.0.2.3", NOW);
    s4f_mg_v9(&g, 1000, T0, 101, 1);
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    feed(d, "192.0.2.3", NOW);
    s4f_mg_v9(&g, 1000, T0, 104, 1);
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    feed(d, "192.0.2.3", NOW);
    s4f_mg_v9(&g, 1000, T0, 7, 2); /* another source id: its own counter */
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    feed(d, "192.0.2.3", NOW);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 3 + 2);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void test_options_records_emitted(void **state)
{
    struct s4f_decoder_opts o = {.emit_options_records = true};
    struct s4f_decoder *d = new_dec(&o);
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_sampler_options(257, 5, 100);
    feed(d, "192.0.2.1", NOW);
    assert_int_equal(R.n, 1);
    assert_true(R.meta[0].is_options);
    assert_string_equal(tu_str(&R, 0, "@type"), "ipfix.options");
    assert_int_equal(tu_int(&R, 0, "ipfix.samplingInterval"), 100);
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 0);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.options_records, 1);
    assert_int_equal(st.flows[S4F_PROTO_IPFIX], 0);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void exporter_stats_cb(void *ctx, const struct s4f_exporter_stats *st)
{
    struct s4f_exporter_stats *out = ctx;
    if (st->tcp)
        *out = *st;
}

static void test_stream(void **state)
{
    struct s4f_decoder *d = new_dec(NULL);
    struct sockaddr_storage peer = tu_addr("192.0.2.50");
    struct s4f_ipfix_stream *s = s4f_ipfix_stream_new(d, &peer);
    assert_non_null(s);
    /* Two messages: template, then data; fed one byte at a time, then both at once. */
    static uint8_t bytes[2 * 65536];
    size_t n = 0;
    s4f_mg_ipfix(&g, T0, 0, 0);
    add_typical_template(256);
    size_t l = s4f_mg_end(&g);
    memcpy(bytes, g.buf, l);
    n += l;
    s4f_mg_ipfix(&g, T0, 0, 0);
    s4f_mg_set(&g, 256);
    s4f_mg_typical_rec(&g, 7, (uint64_t)NOW);
    l = s4f_mg_end(&g);
    memcpy(bytes + n, g.buf, l);
    n += l;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s4f_ipfix_stream_feed(s, bytes + i, 1, NOW, tu_collect, &R), S4F_OK);
        if (i + 1 < n)
            assert_true(s4f_ipfix_stream_pending(s) > 0 || R.n == 0);
    }
    assert_int_equal(R.n, 1);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "10.0.0.7");
    assert_string_equal(R.meta[0].exporter_text, "192.0.2.50");
    assert_int_equal(s4f_ipfix_stream_pending(s), 0);
    tu_clear(&R);
    assert_int_equal(s4f_ipfix_stream_feed(s, bytes + (n - l), l, NOW, tu_collect, &R), S4F_OK);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    /* Templates are per connection: the same data over UDP from the same address fails. */
    struct sockaddr_storage ss = tu_addr("192.0.2.50");
    assert_int_equal(s4f_decode_datagram(d, &ss, bytes + (n - l), l, NOW, tu_collect, &R), S4F_ERR);
    /* TCP templates do not expire. */
    assert_int_equal(s4f_ipfix_stream_feed(s, bytes + (n - l), l, NOW + 86400000LL, tu_collect, &R),
                     S4F_OK);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    struct s4f_exporter_stats es = {0};
    s4f_decoder_foreach_exporter(d, exporter_stats_cb, &es);
    assert_true(es.tcp);
    assert_int_equal(es.datagrams, 4);
    assert_int_equal(es.flows, 3);
    assert_int_equal(es.templates, 1);
    /* Broken framing closes the stream for good. */
    const uint8_t bad[] = {0, 9, 0, 20};
    assert_int_equal(s4f_ipfix_stream_feed(s, bad, sizeof(bad), NOW, tu_collect, &R), S4F_ERR);
    assert_int_equal(s4f_ipfix_stream_feed(s, bytes, n, NOW, tu_collect, &R), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_STREAM_FRAMING), 1);
    s4f_ipfix_stream_free(s);

    /* A length below 16 in a split header is refused too. */
    s = s4f_ipfix_stream_new(d, NULL);
    const uint8_t shortlen[] = {0, 10, 0, 15};
    assert_int_equal(s4f_ipfix_stream_feed(s, shortlen, 2, NOW, tu_collect, &R), S4F_OK);
    assert_int_equal(s4f_ipfix_stream_feed(s, shortlen + 2, 2, NOW, tu_collect, &R), S4F_ERR);
    s4f_ipfix_stream_free(s);
    s4f_ipfix_stream_free(NULL);
    s4f_decoder_free(d);
    s4f_decoder_free(NULL);
}

static void test_bad_element_file(void **state)
{
    const char *files[] = {"/nonexistent/elements.xml", NULL};
    struct s4f_decoder_opts o = {.element_files = files};
    assert_null(s4f_decoder_new(&o));
    assert_string_equal(s4f_decode_reason_name(S4F_DR_MISSING_TEMPLATE), "missing_template");
    assert_string_equal(s4f_proto_name(S4F_PROTO_V9), "netflow_v9");
}

int main(void)
{
    s4f_log_level_current = 0; /* errors only: the tests provoke warnings on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipfix_basic),
        cmocka_unit_test(test_exporter_fields_off),
        cmocka_unit_test(test_v9_sysuptime),
        cmocka_unit_test(test_v5),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_time_variants),
        cmocka_unit_test(test_withdrawal),
        cmocka_unit_test(test_template_lifetime),
        cmocka_unit_test(test_template_lru),
        cmocka_unit_test(test_exporter_lru),
        cmocka_unit_test(test_sampling_same_datagram),
        cmocka_unit_test(test_sampling_later_and_per_sampler),
        cmocka_unit_test(test_sampling_psamp_and_v9),
        cmocka_unit_test(test_interface_names),
        cmocka_unit_test(test_sequence),
        cmocka_unit_test(test_options_records_emitted),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_bad_element_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
