/* The decoder audit (issue 12): each defect found, replayed with the exact datagram of the
 * report (hex, one datagram each; the same bytes are fuzz seeds, fuzz/corpus/decode/audit-*).
 * Run under ASan+UBSan: item 2 was undefined behaviour. */
#include <arpa/inet.h>
#include <netinet/in.h>
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

#define NOW       1764223857000LL
#define EXPORT_MS (0x6553f100LL * 1000)

static struct tu_recs R;
static struct s4f_mg g;

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        char b[3] = {hex[0], hex[1], 0};
        out[n++] = (uint8_t)strtoul(b, NULL, 16);
    }
    return n;
}

static enum s4f_status feed_hex_from(struct s4f_decoder *d, const char *addr, const char *hex)
{
    uint8_t buf[2048];
    size_t n = unhex(hex, buf, sizeof(buf));
    struct sockaddr_storage ss = tu_addr(addr);
    return s4f_decode_datagram(d, &ss, buf, n, NOW, tu_collect, &R);
}

static enum s4f_status feed_hex(struct s4f_decoder *d, const char *hex)
{
    return feed_hex_from(d, "192.0.2.1", hex);
}

static enum s4f_status feed_mg(struct s4f_decoder *d)
{
    size_t n = s4f_mg_end(&g);
    struct sockaddr_storage ss = tu_addr("192.0.2.1");
    return s4f_decode_datagram(d, &ss, g.buf, n, NOW, tu_collect, &R);
}

static const char item1[] = "000a003c6553f100000000000000000100020018010000040008000400160004001"
                            "500040001000401000014c0000201000003e8000007d000000005";

/* 1. flowStart/EndSysUpTime without systemInitTimeMilliseconds (Cisco IOS-XR). */
static void test_relative_times_without_sysinit(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    feed_hex(d, item1);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), EXPORT_MS);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), EXPORT_MS - 1000);
    assert_int_equal(R.meta[0].flow_end_ms, EXPORT_MS);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.time_fallback[S4F_TF_NO_SYSINIT], 1);

    /* Once the exporter announces its boot time in an options record, it is used. */
    s4f_mg_ipfix(&g, 0x6553f100u, 1, 1);
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, 257, 2, 1);
    s4f_mg_field(&g, 149, 4, 0);
    s4f_mg_field(&g, 160, 8, 0);
    s4f_mg_set(&g, 257);
    s4f_mg_u32(&g, 1);
    s4f_mg_u64(&g, (uint64_t)EXPORT_MS - 60000);
    feed_mg(d);
    tu_clear(&R);
    feed_hex(d, item1);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), EXPORT_MS - 60000 + 1000);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), EXPORT_MS - 60000 + 2000);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.time_fallback[S4F_TF_NO_SYSINIT], 1);

    /* A record without any time field still carries times (the export time), counted. */
    tu_clear(&R);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 7);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 300, 1);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_set(&g, 300);
    s4f_mg_ip4(&g, "10.0.0.1");
    feed_mg(d);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), EXPORT_MS);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), EXPORT_MS);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.time_fallback[S4F_TF_NO_TIME], 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 2. flowStartSeconds in 8 bytes: no signed overflow (UBSan), the time is ignored. */
static void test_seconds_overflow(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    feed_hex(d, "000a00306553f10000000000000000010002001001000002000800040096000801000010c000020"
                "1df0000019ac3efb1");
    assert_int_equal(R.n, 1);
    assert_int_equal(R.invalid, 0);
    /* The unusable time is dropped; the record falls back to the export time. */
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), EXPORT_MS);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 4. Dual-stack template: the IPv6 source is the key, not the all-zero IPv4 one. */
static void test_dual_stack_key(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    feed_hex(d, "00090002000186a06553f10000000000000000010000002001390006001b0010001c00100008000"
                "4000c000400040001000100040139003120010db800000000000000000000000120010db80000000"
                "00000000000000002000000000000000006000003e8");
    assert_int_equal(R.n, 1);
    assert_int_equal(R.meta[0].src_family, AF_INET6);
    assert_string_equal(R.src_text[0], "2001:db8::1");
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv6Address"), "2001:db8::1");
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 5. engineType/engineId are ordinary fields in v9 and IPFIX. */
static void test_engine_fields_kept(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    feed_hex(d, "00090002000186a06553f10000000000000000010000001c0100000500080004000c00040026000"
                "1002700010001000401000012c0000201c6336402010700000064");
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.engineType"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.engineId"), 7);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 100);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 6. A data set shorter than one record is counted; oversized templates are refused. */
static void test_short_data_set_and_huge_template(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    assert_int_equal(feed_hex(d, "000a00376553f100000000000000000100020014012d000300080004000c00"
                                 "0400010008012d0013ffffffffffffffffffffffffffffff"),
                     S4F_ERR);
    assert_int_equal(R.n, 0);
    assert_int_equal(tu_err(d, S4F_DR_DATA_SET_SHORT), 1);
    /* Two fields of 65000 bytes: no message can carry such a record. */
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 400, 2);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 95, 65512, 0);
    assert_int_equal(feed_mg(d), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_FIELD_LENGTH), 1);
    /* Over UDP/IPv4 a datagram carries at most 65507 bytes: records over 65487 cannot come. */
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 401, 2);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 95, 65484, 0);
    assert_int_equal(feed_mg(d), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_FIELD_LENGTH), 2);
    /* Over TCP the same template fits (65488 <= 65515). */
    struct sockaddr_storage peer = tu_addr("192.0.2.9");
    struct s4f_ipfix_stream *tcp = s4f_ipfix_stream_new(d, &peer);
    size_t n = s4f_mg_end(&g);
    s4f_ipfix_stream_feed(tcp, g.buf, n, NOW, tu_collect, &R);
    assert_int_equal(tu_err(d, S4F_DR_FIELD_LENGTH), 2);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_added, 2); /* 301 from the first datagram, 401 over TCP */
    s4f_ipfix_stream_free(tcp);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 8. Withdrawals over UDP are ignored and counted (RFC 7011, 8.4). */
static void test_withdrawal_over_udp(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    /* Template 256 for domain 1, then the 32-byte withdraw-all datagram, then data. */
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 8, 4, 0);
    feed_mg(d);
    assert_int_equal(
        feed_hex(d, "000a00206553f100000000010000000100020008000200000003000800030000"), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_WITHDRAW_UDP), 2);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.templates_withdrawn, 0);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.1");
    feed_mg(d);
    assert_int_equal(R.n, 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 9. Bytes after the IPFIX message length are counted; the message still decodes. */
static void test_trailing_bytes(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    char hex[sizeof(item1) + 8];
    snprintf(hex, sizeof(hex), "%sdeadbeef", item1);
    assert_int_equal(feed_hex(d, hex), S4F_ERR);
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_err(d, S4F_DR_TRAILING_BYTES), 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* 10. One memory budget for all templates and exporter state, in real bytes: a template flood
 * from many (spoofed) sources stays under it, LRU templates of all exporters go first, and an
 * exporter that keeps announcing its template still gets every flow through. */
static void test_memory_budget(void **state)
{
    struct s4f_decoder_opts o = {.max_template_memory = 1 << 20};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    struct s4f_decode_stats st;
    size_t legit = 0;
    for (int src = 0; src < 2000; src++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.%d.%d.1", src / 250, src % 250);
        s4f_mg_ipfix(&g, 0x6553f100u, 0, (uint32_t)src);
        s4f_mg_set(&g, 2);
        for (uint16_t t = 0; t < 20; t++) {
            s4f_mg_tpl(&g, (uint16_t)(256 + t), 60);
            for (uint16_t f = 0; f < 60; f++)
                s4f_mg_field(&g, (uint16_t)(f + 1), 4, 0);
        }
        size_t n = s4f_mg_end(&g);
        struct sockaddr_storage ss = tu_addr(addr);
        s4f_decode_datagram(d, &ss, g.buf, n, NOW, tu_collect, &R);
        s4f_decoder_stats(d, &st);
        assert_true(st.memory_bytes <= o.max_template_memory);
        if (src % 10 == 0) {
            /* The legitimate exporter: template and data in one datagram. */
            s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
            s4f_mg_set(&g, 2);
            s4f_mg_tpl(&g, 256, 1);
            s4f_mg_field(&g, 8, 4, 0);
            s4f_mg_set(&g, 256);
            s4f_mg_ip4(&g, "10.9.9.9");
            feed_mg(d);
            legit++;
        }
    }
    assert_int_equal(R.n, legit);
    s4f_decoder_stats(d, &st);
    assert_true(st.templates_evicted_memory > 0);
    assert_true(st.templates_added >= 2000 * 20);
    assert_true(st.memory_bytes > 0);

    /* TCP exporters' state is counted and goes with the connection. */
    uint64_t before = st.memory_bytes;
    struct sockaddr_storage peer = tu_addr("192.0.2.77");
    struct s4f_ipfix_stream *s = s4f_ipfix_stream_new(d, &peer);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 5);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 2);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 12, 4, 0);
    size_t n = s4f_mg_end(&g);
    s4f_ipfix_stream_feed(s, g.buf, n, NOW, tu_collect, &R);
    s4f_decoder_stats(d, &st);
    assert_true(st.memory_bytes != before);
    s4f_ipfix_stream_free(s);
    s4f_decoder_stats(d, &st);
    /* The stream's template may have evicted another one, so at most what it was before. */
    assert_true(st.memory_bytes <= before);
    tu_clear(&R);
    s4f_decoder_free(d);

    /* The default field cap is 256. */
    d = s4f_decoder_new(NULL);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 257);
    for (uint16_t f = 0; f < 257; f++)
        s4f_mg_field(&g, (uint16_t)(f + 1), 1, 0);
    feed_mg(d);
    assert_int_equal(tu_err(d, S4F_DR_FIELD_COUNT), 1);
    s4f_decoder_free(d);
}

/* 12. Exporters are keyed by (address, port, domain): two exporting processes behind one
 * address, same domain and template id with different layouts, do not share templates. */
static void test_exporter_key_has_port(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    tu_clear(&R);
    struct sockaddr_storage a = tu_addr("192.0.2.5"), b = a;
    ((struct sockaddr_in *)&b)->sin_port = htons(50000);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 8, 4, 0);
    size_t n = s4f_mg_end(&g);
    s4f_decode_datagram(d, &a, g.buf, n, NOW, tu_collect, &R);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 12, 4, 0);
    n = s4f_mg_end(&g);
    s4f_decode_datagram(d, &b, g.buf, n, NOW, tu_collect, &R);
    assert_int_equal(tu_err(d, S4F_DR_TEMPLATE_CHANGED), 0);
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 1);
    s4f_mg_set(&g, 256);
    s4f_mg_ip4(&g, "10.0.0.1");
    n = s4f_mg_end(&g);
    s4f_decode_datagram(d, &a, g.buf, n, NOW, tu_collect, &R);
    s4f_decode_datagram(d, &b, g.buf, n, NOW, tu_collect, &R);
    assert_int_equal(R.n, 2);
    assert_true(tu_has(&R, 0, "ipfix.sourceIPv4Address"));
    assert_true(tu_has(&R, 1, "ipfix.destinationIPv4Address"));
    assert_int_equal(s4f_decoder_foreach_exporter(d, NULL, NULL), 2);
    tu_clear(&R);
    s4f_decoder_free(d);
}

static void ipfix_records(uint32_t export, uint32_t seq, int n)
{
    s4f_mg_ipfix(&g, export, seq, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 1);
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_set(&g, 256);
    for (int i = 0; i < n; i++)
        s4f_mg_ip4(&g, "10.0.0.1");
}

/* 3. Sequence accounting recovers after an exporter restart. */
static void test_sequence_restart(void **state)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct s4f_decode_stats st;
    tu_clear(&R);
    /* IPFIX: 3 messages of 10 records (next expected 30), then the exporter restarts from 0:
     * two "late" messages are taken as reordering, the third as a restart. */
    for (uint32_t s = 0; s < 30; s += 10) {
        ipfix_records(0x6553f100u, s, 10);
        feed_mg(d);
    }
    for (uint32_t s = 0; s < 30; s += 10) {
        ipfix_records(0x6553f100u + 5, s, 10);
        feed_mg(d);
    }
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_resets, 1);
    assert_int_equal(st.seq_reordered, 2);
    assert_int_equal(st.seq_lost, 0);
    /* The restarted exporter's real loss (records 30-39) is seen. */
    ipfix_records(0x6553f100u + 6, 40, 10);
    feed_mg(d);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 10);
    /* Far behind (beyond the reordering window): a restart right away. */
    ipfix_records(0x6553f100u + 7, 10000, 1);
    feed_mg(d);
    ipfix_records(0x6553f100u + 7, 5, 1);
    feed_mg(d);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_lost, 10 + 9950);
    assert_int_equal(st.seq_resets, 2);
    /* One late message within the window is reordering. */
    ipfix_records(0x6553f100u + 7, 6, 1);
    feed_mg(d);
    ipfix_records(0x6553f100u + 7, 4, 1);
    feed_mg(d);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_resets, 2);
    assert_int_equal(st.seq_reordered, 3);

    /* NetFlow v9: the uptime going back is a reboot even when the number is just behind. */
    for (uint32_t s = 100; s < 103; s++) {
        s4f_mg_v9(&g, 3600000 + s, 0x6553f100u, s, 9);
        s4f_mg_set(&g, 0);
        s4f_mg_typical_tpl(&g, 256);
        feed_mg(d);
    }
    s4f_mg_v9(&g, 500, 0x6553f100u + 1, 100, 9);
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    feed_mg(d);
    s4f_mg_v9(&g, 600, 0x6553f100u + 1, 102, 9);
    s4f_mg_set(&g, 0);
    s4f_mg_typical_tpl(&g, 256);
    feed_mg(d);
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.seq_resets, 3);
    assert_int_equal(st.seq_reordered, 3);
    assert_int_equal(st.seq_lost, 10 + 9950 + 1);
    tu_clear(&R);
    s4f_decoder_free(d);
}

/* Options record (domain 2) with the given sampling fields; data record on interface ifc. */
static uint64_t sampled_bytes(struct s4f_decoder *d, const uint16_t *ids, const uint16_t *lens,
                              const uint64_t *vals, int n, uint32_t ifc)
{
    s4f_mg_ipfix(&g, 0x6553f100u, 0, 2);
    s4f_mg_set(&g, 3);
    s4f_mg_opt_tpl(&g, 300, (uint16_t)(n + 1), 1);
    s4f_mg_field(&g, 149, 4, 0);
    for (int i = 0; i < n; i++)
        s4f_mg_field(&g, ids[i], lens[i], 0);
    s4f_mg_set(&g, 300);
    s4f_mg_u32(&g, 2);
    for (int i = 0; i < n; i++) {
        if (lens[i] == 8)
            s4f_mg_u64(&g, vals[i]);
        else if (lens[i] == 4)
            s4f_mg_u32(&g, (uint32_t)vals[i]);
        else if (lens[i] == 2)
            s4f_mg_u16(&g, (uint16_t)vals[i]);
        else
            s4f_mg_u8(&g, (uint8_t)vals[i]);
    }
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 301, 2);
    s4f_mg_field(&g, 10, 4, 0);
    s4f_mg_field(&g, 1, 4, 0);
    s4f_mg_set(&g, 301);
    s4f_mg_u32(&g, ifc);
    s4f_mg_u32(&g, 10);
    tu_clear(&R);
    feed_mg(d);
    assert_int_equal(R.n, 1);
    return (uint64_t)tu_int(&R, 0, "ipfix.octetDeltaCount");
}

/* 7. Every sampling form of RFC 5477; 34 and 50 apart; per-interface options. */
static void test_sampling_forms(void **state)
{
    struct s4f_decoder *d;
    uint64_t pbits;
    double p = 0.01;
    memcpy(&pbits, &p, 8);
    struct {
        int n;
        uint16_t ids[2], lens[2];
        uint64_t vals[2];
        uint64_t want;
    } cases[] = {
        {1, {34}, {4}, {100}, 1000},           {1, {50}, {4}, {100}, 1000},
        {2, {34, 50}, {4, 4}, {100, 0}, 1000}, /* a later 0 must not erase 100 */
        {2, {50, 34}, {4, 4}, {64, 0}, 640},   {2, {305, 306}, {4, 4}, {1, 99}, 1000},
        {2, {309, 310}, {4, 4}, {1, 50}, 500}, {1, {311}, {8}, {0}, 1000},
    };
    cases[6].vals[0] = pbits;
    {
        /* A probability of 1e-300 saturates instead of overflowing the conversion. */
        double tiny = 1e-300;
        uint64_t tbits;
        memcpy(&tbits, &tiny, 8);
        const uint16_t id[1] = {311}, len[1] = {8};
        const uint64_t val[1] = {tbits};
        d = s4f_decoder_new(NULL);
        assert_int_equal(sampled_bytes(d, id, len, val, 1, 1), 10ull * UINT32_MAX);
        s4f_decoder_free(d);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d = s4f_decoder_new(NULL);
        assert_int_equal(
            sampled_bytes(d, cases[i].ids, cases[i].lens, cases[i].vals, cases[i].n, 1),
            cases[i].want);
        s4f_decoder_free(d);
    }
    /* Options scoped by ingressInterface: interface 3 sampled 1 in 10, interface 4 in 20,
     * interface 5 unknown (not renormalised). */
    d = s4f_decoder_new(NULL);
    const uint16_t ids[2] = {10, 34}, lens[2] = {4, 4};
    const uint64_t v3[2] = {3, 10}, v4[2] = {4, 20};
    sampled_bytes(d, ids, lens, v3, 2, 9);
    sampled_bytes(d, ids, lens, v4, 2, 9);
    const uint64_t none[1] = {0};
    const uint16_t id0[1] = {34}, len0[1] = {4};
    assert_int_equal(sampled_bytes(d, id0, len0, none, 1, 3), 100);
    assert_int_equal(sampled_bytes(d, id0, len0, none, 1, 4), 200);
    assert_int_equal(sampled_bytes(d, id0, len0, none, 1, 5), 10);
    tu_clear(&R);
    s4f_decoder_free(d);
}

int main(void)
{
    s4f_log_level_current = -1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relative_times_without_sysinit),
        cmocka_unit_test(test_seconds_overflow),
        cmocka_unit_test(test_dual_stack_key),
        cmocka_unit_test(test_engine_fields_kept),
        cmocka_unit_test(test_short_data_set_and_huge_template),
        cmocka_unit_test(test_withdrawal_over_udp),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_sequence_restart),
        cmocka_unit_test(test_sampling_forms),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_exporter_key_has_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
