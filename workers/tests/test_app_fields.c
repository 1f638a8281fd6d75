/* Application-layer fields end to end: IPFIX messages carrying the DNS, HTTP and TLS elements
 * of both probe families (Flowmon PEN 39499, ipfixprobe PEN 8057), decoded by the collector's
 * decoder with the element files, must give valid JSON with the original key names, and the
 * worker's reader must map both families onto the same struct s4f_dns. Hostile strings
 * (control characters, invalid UTF-8, a 64 KiB name) stay valid JSON and valid text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "decode.h"
#include "flow.h"
#include "msggen.h"
#include "test_util.h"

#define NOW    1764223857000LL
#define T0     1764223857u
#define PEN_FM 39499u
#define PEN_XP 8057u

static struct s4f_mg g;
static struct tu_recs R;
static char raw[4][80000]; /* the records' JSON text, for the reader */
static size_t raw_len[4];
static size_t nraw;

static void collect(void *ctx, const struct s4f_flow_out *rec)
{
    tu_collect(ctx, rec);
    if (nraw < 4 && rec->json_len < sizeof(raw[0])) {
        memcpy(raw[nraw], rec->json, rec->json_len);
        raw_len[nraw++] = rec->json_len;
    }
}

static struct s4f_decoder *dec_new(void)
{
    static char p1[1024], p2[1024];
    static const char *files[3];
    files[0] = tu_source_path("collector/decode/elements/flowmon.xml", p1, sizeof(p1));
    files[1] = tu_source_path("collector/decode/elements/ipfixprobe.xml", p2, sizeof(p2));
    struct s4f_decoder_opts o = {.element_files = files};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    assert_non_null(d);
    tu_clear(&R);
    nraw = 0;
    return d;
}

static void feed(struct s4f_decoder *d)
{
    struct sockaddr_storage ss = tu_addr("127.0.0.1");
    size_t n = s4f_mg_end(&g);
    assert_int_equal(s4f_decode_datagram(d, &ss, g.buf, n, NOW, collect, &R), S4F_OK);
    assert_int_equal(R.invalid, 0);
}

static void parse(size_t i, struct s4f_flow *f)
{
    const char *why = NULL;
    assert_true(i < nraw);
    assert_int_equal(s4f_flow_parse(raw[i], raw_len[i], f, &why), S4F_OK);
}

/* Common IPv4 5-tuple and times: 8 src, 12 dst, 7 sport, 11 dport, 4 proto, 152/153 ms. */
static void tpl_base(void)
{
    s4f_mg_field(&g, 8, 4, 0);
    s4f_mg_field(&g, 12, 4, 0);
    s4f_mg_field(&g, 7, 2, 0);
    s4f_mg_field(&g, 11, 2, 0);
    s4f_mg_field(&g, 4, 1, 0);
    s4f_mg_field(&g, 152, 8, 0);
    s4f_mg_field(&g, 153, 8, 0);
}

static void rec_base(const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
    s4f_mg_ip4(&g, src);
    s4f_mg_ip4(&g, dst);
    s4f_mg_u16(&g, sport);
    s4f_mg_u16(&g, dport);
    s4f_mg_u8(&g, 17);
    s4f_mg_u64(&g, (uint64_t)NOW - 2000);
    s4f_mg_u64(&g, (uint64_t)NOW - 1000);
}

static void test_flowmon(void **state)
{
    struct s4f_decoder *d = dec_new();
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 300, 7 + 13);
    tpl_base();
    s4f_mg_field(&g, 110, 2, PEN_FM);     /* DNSTransactionID */
    s4f_mg_field(&g, 111, 2, PEN_FM);     /* DNSFlagsCodes */
    s4f_mg_field(&g, 113, 2, PEN_FM);     /* DNSAnswers */
    s4f_mg_field(&g, 116, 65535, PEN_FM); /* DNSCrrName */
    s4f_mg_field(&g, 117, 2, PEN_FM);     /* DNSCrrType */
    s4f_mg_field(&g, 120, 65535, PEN_FM); /* DNSRData */
    s4f_mg_field(&g, 121, 65535, PEN_FM); /* DNSName */
    s4f_mg_field(&g, 122, 2, PEN_FM);     /* DNSQType */
    s4f_mg_field(&g, 124, 2, PEN_FM);     /* DNSRDataLength */
    s4f_mg_field(&g, 1, 65535, PEN_FM);   /* HTTPRequestHost */
    s4f_mg_field(&g, 333, 2, PEN_FM);     /* TLSVersion */
    s4f_mg_field(&g, 337, 65535, PEN_FM); /* TLSALPN */
    s4f_mg_field(&g, 357, 16, PEN_FM);    /* TLSJA3 */
    s4f_mg_set(&g, 300);
    rec_base("8.8.8.8", "10.0.0.5", 53, 40000);
    s4f_mg_u16(&g, 0x1234);
    s4f_mg_u16(&g, 0x8183); /* response, NXDOMAIN */
    s4f_mg_u16(&g, 1);
    s4f_mg_varlen(&g, "www.example.com", 15);
    s4f_mg_u16(&g, 1);
    s4f_mg_varlen(&g, "\xc0\x00\x02\x01", 4);
    s4f_mg_varlen(&g, "www.example.com", 15);
    s4f_mg_u16(&g, 1);
    s4f_mg_u16(&g, 4);
    s4f_mg_varlen(&g, "example.org", 11);
    s4f_mg_u16(&g, 0x0304);
    s4f_mg_varlen(&g, "h2", 2);
    s4f_mg_bytes(&g, "0123456789abcdef", 16);
    feed(d);
    assert_int_equal(R.n, 1);
    assert_string_equal(tu_str(&R, 0, "ipfix.DNSName"), "www.example.com");
    assert_int_equal(tu_int(&R, 0, "ipfix.DNSFlagsCodes"), 0x8183);
    assert_int_equal(tu_int(&R, 0, "ipfix.DNSCrrType"), 1);
    assert_string_equal(tu_str(&R, 0, "ipfix.DNSRData"), "0xc0000201");
    assert_string_equal(tu_str(&R, 0, "ipfix.HTTPRequestHost"), "example.org");
    assert_int_equal(tu_int(&R, 0, "ipfix.TLSVersion"), 0x0304);
    assert_string_equal(tu_str(&R, 0, "ipfix.TLSALPN"), "h2");
    assert_string_equal(tu_str(&R, 0, "ipfix.TLSJA3"), "0x30313233343536373839616263646566");
    struct s4f_flow f;
    parse(0, &f);
    assert_true(f.dns.flags & S4F_DNS_PRESENT);
    assert_true(f.dns.flags & S4F_DNS_RESPONSE);
    assert_true(f.dns.flags & S4F_DNS_RDATA_ADDR);
    assert_int_equal(f.dns.rcode, 3);
    assert_int_equal(f.dns.qtype, 1);
    assert_int_equal(f.dns.crr_type, 1);
    assert_int_equal(f.dns.answers, 1);
    assert_string_equal(f.dns.name, "www.example.com");
    assert_string_equal(f.dns.crr_name, "www.example.com");
    assert_string_equal(f.dns.rdata, "192.0.2.1");
    assert_int_equal(f.dns.rdata_addr.family, 4);
    assert_int_equal(f.app.flags, S4F_APP_HTTP_HOST | S4F_APP_JA3);
    assert_string_equal(f.app.http_host, "example.org");
    assert_memory_equal(f.app.ja3, "0123456789abcdef", 16);
    /* Routed (repartitioned) records keep an A answer's address, nothing else of DNS. */
    uint8_t routed[S4F_ROUTED_LEN];
    struct s4f_flow g2;
    s4f_flow_encode_routed(&f, S4F_SIDE_DST, 3, 77, routed);
    assert_int_equal(s4f_flow_decode_routed((const char *)routed, sizeof(routed), &g2, NULL),
                     S4F_OK);
    assert_int_equal(g2.dns.flags, S4F_DNS_PRESENT | S4F_DNS_RESPONSE | S4F_DNS_RDATA_ADDR);
    assert_int_equal(g2.dns.crr_type, 1);
    assert_true(s4f_addr_eq(&g2.dns.rdata_addr, &f.dns.rdata_addr));
    routed[7] = 0; /* the address bytes without the flag: refused */
    assert_int_equal(s4f_flow_decode_routed((const char *)routed, sizeof(routed), &g2, NULL),
                     S4F_ERR);
    s4f_decoder_free(d);
}

/* ipfixprobe's DNS template (IPFIX_DNS_TEMPLATE) and biflow counters, with values from
 * /work/shared/testdata/ipfixprobe/outputs/dns (kernel.org A and google.com MX answers). */
static void test_ipfixprobe(void **state)
{
    struct s4f_decoder *d = dec_new();
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 301, 7 + 2 + 11);
    tpl_base();
    s4f_mg_field(&g, 1, 8, 29305);      /* reverseOctetDeltaCount */
    s4f_mg_field(&g, 2, 8, 29305);      /* reversePacketDeltaCount */
    s4f_mg_field(&g, 14, 2, PEN_XP);    /* DNS_ANSWERS */
    s4f_mg_field(&g, 1, 1, PEN_XP);     /* DNS_RCODE */
    s4f_mg_field(&g, 3, 2, PEN_XP);     /* DNS_QTYPE */
    s4f_mg_field(&g, 4, 2, PEN_XP);     /* DNS_CLASS */
    s4f_mg_field(&g, 5, 4, PEN_XP);     /* DNS_RR_TTL */
    s4f_mg_field(&g, 6, 2, PEN_XP);     /* DNS_RLENGTH */
    s4f_mg_field(&g, 8, 2, PEN_XP);     /* DNS_PSIZE */
    s4f_mg_field(&g, 9, 1, PEN_XP);     /* DNS_DO */
    s4f_mg_field(&g, 10, 2, PEN_XP);    /* DNS_ID */
    s4f_mg_field(&g, 2, 65535, PEN_XP); /* DNS_NAME */
    s4f_mg_field(&g, 7, 65535, PEN_XP); /* DNS_RDATA */
    s4f_mg_set(&g, 301);
    rec_base("8.8.4.4", "192.168.0.30", 53, 45418);
    s4f_mg_u64(&g, 0);
    s4f_mg_u64(&g, 0);
    s4f_mg_u16(&g, 3);
    s4f_mg_u8(&g, 0);
    s4f_mg_u16(&g, 1);
    s4f_mg_u16(&g, 1);
    s4f_mg_u32(&g, 360);
    s4f_mg_u16(&g, 14);
    s4f_mg_u16(&g, 512);
    s4f_mg_u8(&g, 0);
    s4f_mg_u16(&g, 18755);
    s4f_mg_varlen(&g, "kernel.org", 10);
    s4f_mg_varlen(&g, "199.204.44.194", 14);
    rec_base("192.168.0.30", "8.8.4.4", 49967, 53); /* a biflow query with its answer */
    s4f_mg_u64(&g, 175);
    s4f_mg_u64(&g, 1);
    s4f_mg_u16(&g, 5);
    s4f_mg_u8(&g, 3);
    s4f_mg_u16(&g, 15);
    s4f_mg_u16(&g, 1);
    s4f_mg_u32(&g, 599);
    s4f_mg_u16(&g, 26);
    s4f_mg_u16(&g, 512);
    s4f_mg_u8(&g, 0);
    s4f_mg_u16(&g, 27422);
    s4f_mg_varlen(&g, "google.com", 10);
    s4f_mg_varlen(&g, "20 alt1.aspmx.l.google.com", 26);
    feed(d);
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "ipfix.DNS_NAME"), "kernel.org");
    assert_int_equal(tu_int(&R, 0, "ipfix.DNS_QTYPE"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.DNS_RR_TTL"), 360);
    assert_string_equal(tu_str(&R, 0, "ipfix.DNS_RDATA"), "0x3139392e3230342e34342e313934");
    assert_int_equal(tu_int(&R, 1, "ipfix.reverseOctetDeltaCount"), 175);
    struct s4f_flow f;
    parse(0, &f);
    assert_int_equal(f.dns.flags & (S4F_DNS_PRESENT | S4F_DNS_RESPONSE | S4F_DNS_RDATA_ADDR),
                     S4F_DNS_PRESENT | S4F_DNS_RESPONSE | S4F_DNS_RDATA_ADDR);
    assert_string_equal(f.dns.name, "kernel.org");
    assert_string_equal(f.dns.crr_name, "kernel.org");
    assert_string_equal(f.dns.rdata, "199.204.44.194");
    assert_int_equal(f.dns.answers, 3);
    assert_int_equal(f.dns.rcode, 0);
    parse(1, &f);
    assert_false(f.dns.flags & S4F_DNS_RESPONSE); /* from the client: dport 53 */
    assert_false(f.dns.flags & S4F_DNS_RDATA_ADDR);
    assert_int_equal(f.dns.rcode, 3);
    assert_int_equal(f.dns.qtype, 15);
    assert_string_equal(f.dns.rdata, "20 alt1.aspmx.l.google.com");
    assert_int_equal(f.rev_bytes, 175);
    assert_int_equal(f.rev_packets, 1);
    s4f_decoder_free(d);
}

/* TLS and HTTP elements of both families onto struct s4f_app: Flowmon's cipher suites (kept
 * as exported, padding included) with an HTTP host, and ipfixprobe's TLS template with the
 * values of a real record (testdata outputs/tls: JA3, JA4 and SNI of a TLS 1.3 client). */
static void test_tls_http(void **state)
{
    struct s4f_decoder *d = dec_new();
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 303, 7 + 2);
    tpl_base();
    s4f_mg_field(&g, 341, 16, PEN_FM);  /* TLSClientCipherSuites */
    s4f_mg_field(&g, 1, 65535, PEN_FM); /* HTTPRequestHost */
    s4f_mg_tpl(&g, 304, 7 + 4);
    tpl_base();
    s4f_mg_field(&g, 333, 2, PEN_FM);     /* TLS_VERSION */
    s4f_mg_field(&g, 808, 65535, PEN_XP); /* TLS_SNI */
    s4f_mg_field(&g, 357, 16, PEN_FM);    /* TLS_JA3 */
    s4f_mg_field(&g, 809, 65535, PEN_XP); /* TLS_JA4 */
    s4f_mg_set(&g, 303);
    rec_base("10.0.0.5", "93.184.216.34", 40000, 443);
    s4f_mg_bytes(&g, "\x04\x00\x05\x00\x2f\x00\x35\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
    s4f_mg_varlen(&g, "Example.ORG", 11);
    s4f_mg_set(&g, 304);
    rec_base("192.168.0.228", "104.26.1.201", 52641, 443);
    s4f_mg_u16(&g, 772);
    s4f_mg_varlen(&g, "chrek.stdout.cz", 15);
    s4f_mg_bytes(&g, "\xcd\x08\xe3\x14\x94\xf9\x53\x1f\x56\x0d\x64\xc6\x95\x47\x3d\xa9", 16);
    s4f_mg_varlen(&g, "t13d1518h2_8daaf6152771_e5627efa2ab1", 36);
    feed(d);
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "ipfix.TLSClientCipherSuites"),
                        "0x040005002f0035000000000000000000");
    assert_string_equal(tu_str(&R, 1, "ipfix.TLSJA3"), "0xcd08e31494f9531f560d64c695473da9");
    struct s4f_flow f;
    parse(0, &f);
    assert_int_equal(f.app.flags, S4F_APP_SUITES | S4F_APP_HTTP_HOST);
    assert_int_equal(f.app.suites_len, 16);
    assert_memory_equal(f.app.suites, "\x04\x00\x05\x00\x2f\x00\x35\x00", 8);
    assert_string_equal(f.app.http_host, "Example.ORG");
    assert_int_equal(f.app.http_host_len, 11);
    parse(1, &f);
    assert_int_equal(f.app.flags, S4F_APP_JA3 | S4F_APP_JA4 | S4F_APP_SNI);
    assert_string_equal(f.app.sni, "chrek.stdout.cz");
    assert_string_equal(f.app.ja4, "t13d1518h2_8daaf6152771_e5627efa2ab1");
    assert_memory_equal(f.app.ja3,
                        "\xcd\x08\xe3\x14\x94\xf9\x53\x1f\x56\x0d\x64\xc6\x95\x47\x3d\xa9", 16);
    s4f_decoder_free(d);

    /* What no probe sends: odd or non-hex suites, a JA3 that is not 16 bytes, empty text,
     * suites past the kept length (cut, flagged), text past S4F_APP_TEXT_MAX (cut, flagged). */
    static const struct {
        const char *fields;
        uint8_t flags;
    } cases[] = {
        {"\"ipfix.TLSClientCipherSuites\":\"0x123\"", S4F_APP_MALFORMED},
        {"\"ipfix.TLSClientCipherSuites\":\"0x12zz\"", S4F_APP_MALFORMED},
        {"\"ipfix.TLSClientCipherSuites\":\"0x\"", S4F_APP_SUITES},
        {"\"ipfix.TLSJA3\":\"0x0011\"", S4F_APP_MALFORMED},
        {"\"ipfix.TLSJA3\":\"cd08e31494f9531f560d64c695473da9\"", S4F_APP_JA3},
        {"\"ipfix.TLS_SNI\":\"\",\"ipfix.TLS_JA4\":\"\",\"ipfix.HTTPRequestHost\":\"\"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[512];
        int n =
            snprintf(json, sizeof(json),
                     "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
                     "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,"
                     "\"ipfix.flowEndMilliseconds\":1,%s}",
                     cases[i].fields);
        assert_int_equal(s4f_flow_parse(json, (size_t)n, &f, NULL), S4F_OK);
        assert_int_equal(f.app.flags, cases[i].flags);
    }
    static char big[2000];
    int n = snprintf(big, sizeof(big),
                     "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
                     "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1,"
                     "\"ipfix.TLSClientCipherSuites\":\"0x");
    for (int i = 0; i < 300; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "0a00");
    n += snprintf(big + n, sizeof(big) - (size_t)n, "\",\"ipfix.TLS_SNI\":\"");
    for (int i = 0; i < 300; i++)
        big[n++] = 'a';
    n += snprintf(big + n, sizeof(big) - (size_t)n, "\"}");
    assert_int_equal(s4f_flow_parse(big, (size_t)n, &f, NULL), S4F_OK);
    assert_int_equal(f.app.flags, S4F_APP_SUITES | S4F_APP_SNI | S4F_APP_TRUNCATED);
    assert_int_equal(f.app.suites_len, S4F_TLS_SUITES_MAX);
    assert_int_equal(f.app.sni_len, S4F_APP_TEXT_MAX);
    /* A TLS field that is not a string: the record is refused like any malformed one. */
    const char *bad = "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
                      "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":1,"
                      "\"ipfix.TLS_SNI\":5}";
    assert_int_equal(s4f_flow_parse(bad, strlen(bad), &f, NULL), S4F_ERR);
}

/* Hostile names: control characters, invalid UTF-8, NUL, a 64 KiB name. */
static void test_hostile_names(void **state)
{
    struct s4f_decoder *d = dec_new();
    static char big[65000];
    memset(big, 'a', sizeof(big));
    big[100] = '\x01';
    big[300] = '\xff';
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 302, 7 + 1);
    tpl_base();
    s4f_mg_field(&g, 121, 65535, PEN_FM);
    s4f_mg_set(&g, 302);
    rec_base("10.0.0.1", "10.0.0.2", 40000, 53);
    s4f_mg_varlen(&g, "a\"b\\c\n\x01\x00\xc3\x28\xed\xa0\x80z", 14);
    s4f_mg_set(&g, 302);
    rec_base("10.0.0.1", "10.0.0.2", 40001, 53);
    s4f_mg_varlen(&g, big, sizeof(big));
    feed(d);
    assert_int_equal(R.n, 2);
    struct s4f_flow f;
    parse(0, &f);
    assert_true(f.dns.flags & S4F_DNS_PRESENT);
    /* The decoded text is valid UTF-8: jansson accepts it as a string. */
    json_t *j = json_string(f.dns.name);
    assert_non_null(j);
    json_decref(j);
    assert_int_equal(strlen(f.dns.name), f.dns.name_len);
    assert_memory_equal(f.dns.name, "a\"b\\c\n\x01", 7);
    if (raw_len[1] <= S4F_FLOW_MAX_LEN) {
        parse(1, &f);
        assert_true(f.dns.flags & S4F_DNS_TRUNCATED);
        assert_true(f.dns.name_len <= S4F_DNS_TEXT_MAX);
        j = json_string(f.dns.name);
        assert_non_null(j);
        json_decref(j);
    } else {
        /* Longer than a record the worker accepts: refused (and counted by the engine). */
        struct s4f_flow h;
        assert_int_equal(s4f_flow_parse(raw[1], raw_len[1], &h, NULL), S4F_ERR);
    }
    s4f_decoder_free(d);
}

/* Reader only: escapes and surrogates in names, rdata for AAAA, bad types refused. */
static void test_reader_text(void **state)
{
    struct s4f_flow f;
    const char *rec =
        "{\"ipfix.sourceIPv6Address\":\"2001:db8::53\",\"ipfix.destinationIPv6Address\":"
        "\"2001:db8::1\",\"ipfix.protocolIdentifier\":17,\"ipfix.flowEndMilliseconds\":5,"
        "\"ipfix.sourceTransportPort\":53,\"ipfix.DNSCrrType\":28,"
        "\"ipfix.DNSRData\":\"0x20010db8000000000000000000000001\","
        "\"ipfix.DNSName\":\"\\u00e9\\ud83d\\ude00\\ud800x\\u0000.cz\","
        "\"ipfix.DNSFlagsCodes\":33152}";
    assert_int_equal(s4f_flow_parse(rec, strlen(rec), &f, NULL), S4F_OK);
    assert_string_equal(f.dns.name, "\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx\xef\xbf\xbd.cz");
    assert_string_equal(f.dns.rdata, "2001:db8::1");
    assert_int_equal(f.dns.rdata_addr.family, 6);
    assert_true(f.dns.flags & S4F_DNS_RESPONSE);
    assert_int_equal(f.dns.rcode, 0);
    const char *bad =
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
        "\"10.0.0.2\",\"ipfix.protocolIdentifier\":17,\"ipfix.flowEndMilliseconds\":5,"
        "\"ipfix.DNSName\":5}";
    assert_int_equal(s4f_flow_parse(bad, strlen(bad), &f, NULL), S4F_ERR);
    /* A record without DNS keys has none of the flags, and empty texts. */
    const char *plain =
        "{\"ipfix.sourceIPv4Address\":\"10.0.0.1\",\"ipfix.destinationIPv4Address\":"
        "\"10.0.0.2\",\"ipfix.protocolIdentifier\":6,\"ipfix.flowEndMilliseconds\":5}";
    assert_int_equal(s4f_flow_parse(plain, strlen(plain), &f, NULL), S4F_OK);
    assert_int_equal(f.dns.flags, 0);
    assert_string_equal(f.dns.name, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flowmon),     cmocka_unit_test(test_ipfixprobe),
        cmocka_unit_test(test_tls_http),    cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_reader_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
