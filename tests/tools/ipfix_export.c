/* s4f-ipfix-export: a test exporter. Reads flow records in the collector's own JSON form (one
 * object a line, `ipfix.*` keys: the records a probe would make the collector write) and sends
 * each as IPFIX to a collector on loopback, with the information elements of the probe family
 * its keys name: Flowmon's (PEN 39499: ipfix.DNSName, ipfix.DNSFlagsCodes, ...,
 * ipfix.HTTPRequestHost, ipfix.TLSJA3) or ipfixprobe's (PEN 8057: ipfix.DNS_NAME, ...,
 * ipfix.TLS_SNI), with RFC 5103 reverse counters for biflows. A template per distinct key set,
 * announced in every message (UDP may lose or reorder datagrams).
 *
 *   s4f-ipfix-export [--host 127.0.0.1] [--port 4739] [--rate N] FILE|-
 *   s4f-ipfix-export --check FILE|-      no network: decodes each message with the collector's
 *                                        decoder (element files from the source tree) and
 *                                        exits 1 unless every input key comes back with its
 *                                        value (and 0 with how many records matched)
 *
 * Values: integers as JSON numbers; addresses as text; strings as text; octetArray elements
 * (DNSRData, DNS_RDATA, TLSJA3, TLSClientCipherSuites) as "0x<hex>" like the collector writes
 * them. Unknown keys are an error (the point is to send exactly what is given). Only loopback
 * destinations are accepted. Messages are built with the decoder tests' message builder. */
#include "decode.h"
#include "msggen.h"
#include "s4f.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum vt { V_U8, V_U16, V_U32, V_U64, V_IP4, V_IP6, V_STR, V_OCT };

static const struct ie {
    const char *key;
    uint16_t id;
    uint32_t pen;
    enum vt t;
} ies[] = {
    {"ipfix.sourceIPv4Address", 8, 0, V_IP4},
    {"ipfix.destinationIPv4Address", 12, 0, V_IP4},
    {"ipfix.sourceIPv6Address", 27, 0, V_IP6},
    {"ipfix.destinationIPv6Address", 28, 0, V_IP6},
    {"ipfix.sourceTransportPort", 7, 0, V_U16},
    {"ipfix.destinationTransportPort", 11, 0, V_U16},
    {"ipfix.protocolIdentifier", 4, 0, V_U8},
    {"ipfix.tcpControlBits", 6, 0, V_U16},
    {"ipfix.packetDeltaCount", 2, 0, V_U64},
    {"ipfix.octetDeltaCount", 1, 0, V_U64},
    {"ipfix.reversePacketDeltaCount", 2, 29305, V_U64},
    {"ipfix.reverseOctetDeltaCount", 1, 29305, V_U64},
    {"ipfix.reverseTcpControlBits", 6, 29305, V_U16},
    {"ipfix.flowStartMilliseconds", 152, 0, V_U64},
    {"ipfix.flowEndMilliseconds", 153, 0, V_U64},
    /* Flowmon */
    {"ipfix.DNSTransactionID", 110, 39499, V_U16},
    {"ipfix.DNSFlagsCodes", 111, 39499, V_U16},
    {"ipfix.DNSQuestionCount", 112, 39499, V_U16},
    {"ipfix.DNSAnswers", 113, 39499, V_U16},
    {"ipfix.DNSAuthrecCount", 114, 39499, V_U16},
    {"ipfix.DNSAddtrecCount", 115, 39499, V_U16},
    {"ipfix.DNSCrrName", 116, 39499, V_STR},
    {"ipfix.DNSCrrType", 117, 39499, V_U16},
    {"ipfix.DNSCrrClass", 118, 39499, V_U16},
    {"ipfix.DNSRRTTL", 119, 39499, V_U32},
    {"ipfix.DNSRData", 120, 39499, V_OCT},
    {"ipfix.DNSName", 121, 39499, V_STR},
    {"ipfix.DNSQType", 122, 39499, V_U16},
    {"ipfix.DNSClass", 123, 39499, V_U16},
    {"ipfix.DNSRDataLength", 124, 39499, V_U16},
    {"ipfix.TLSClientCipherSuites", 341, 39499, V_OCT},
    {"ipfix.HTTPRequestHost", 1, 39499, V_STR},
    {"ipfix.HTTPRequestURL", 2, 39499, V_STR},
    {"ipfix.HTTPRequestReferer", 3, 39499, V_STR},
    {"ipfix.HTTPResponseContentType", 10, 39499, V_STR},
    {"ipfix.HTTPResponseStatusCode", 12, 39499, V_U16},
    {"ipfix.HTTPRequestUserAgent", 20, 39499, V_STR},
    {"ipfix.TLSVersion", 333, 39499, V_U16},
    {"ipfix.TLSALPN", 337, 39499, V_STR},
    {"ipfix.TLSJA3", 357, 39499, V_OCT},
    /* ipfixprobe */
    {"ipfix.DNS_RCODE", 1, 8057, V_U8},
    {"ipfix.DNS_NAME", 2, 8057, V_STR},
    {"ipfix.DNS_QTYPE", 3, 8057, V_U16},
    {"ipfix.DNS_CLASS", 4, 8057, V_U16},
    {"ipfix.DNS_RR_TTL", 5, 8057, V_U32},
    {"ipfix.DNS_RLENGTH", 6, 8057, V_U16},
    {"ipfix.DNS_RDATA", 7, 8057, V_OCT},
    {"ipfix.DNS_PSIZE", 8, 8057, V_U16},
    {"ipfix.DNS_DO", 9, 8057, V_U8},
    {"ipfix.DNS_ID", 10, 8057, V_U16},
    {"ipfix.DNS_ATYPE", 11, 8057, V_U16},
    {"ipfix.DNS_ANSWERS", 14, 8057, V_U16},
    {"ipfix.HTTP_METHOD", 200, 8057, V_STR},
    {"ipfix.HTTP_SERVER", 201, 8057, V_STR},
    {"ipfix.HTTP_SET_COOKIE_NAMES", 202, 8057, V_STR},
    {"ipfix.TLS_SNI", 808, 8057, V_STR},
    {"ipfix.TLS_JA4", 809, 8057, V_STR},
};
#define N_IES (sizeof(ies) / sizeof(ies[0]))

static const uint16_t fixed_len[] = {[V_U8] = 1,  [V_U16] = 2,  [V_U32] = 4,     [V_U64] = 8,
                                     [V_IP4] = 4, [V_IP6] = 16, [V_STR] = 65535, [V_OCT] = 65535};

static const struct ie *find_ie(const char *key)
{
    for (size_t i = 0; i < N_IES; i++)
        if (strcmp(ies[i].key, key) == 0)
            return &ies[i];
    return NULL;
}

static struct s4f_mg g;
static uint32_t seq;

/* Builds one message (template + the record) from a JSON object; 0 or -1 with a message. */
static int build(json_t *rec, char *err, size_t errlen)
{
    const struct ie *use[N_IES];
    json_t *val[N_IES];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(rec, k, v)
    {
        if (strcmp(k, "@type") == 0 || strncmp(k, "s4f.", 4) == 0)
            continue;
        const struct ie *e = find_ie(k);
        if (!e) {
            snprintf(err, errlen, "unknown key %s", k);
            return -1;
        }
        use[n] = e;
        val[n++] = v;
    }
    /* The template id follows from the key set (same set, same id). */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint32_t)(use[i] - ies)) * 16777619u;
    uint16_t tid = (uint16_t)(256 + h % 60000);
    s4f_mg_ipfix(&g, (uint32_t)time(NULL), seq++, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, tid, (uint16_t)n);
    for (size_t i = 0; i < n; i++)
        s4f_mg_field(&g, use[i]->id, fixed_len[use[i]->t], use[i]->pen);
    s4f_mg_set(&g, tid);
    for (size_t i = 0; i < n; i++) {
        const struct ie *e = use[i];
        json_t *x = val[i];
        if (e->t <= V_U64) {
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                snprintf(err, errlen, "%s: not a non-negative integer", e->key);
                return -1;
            }
            uint64_t u = (uint64_t)json_integer_value(x);
            if (e->t == V_U8)
                s4f_mg_u8(&g, (uint8_t)u);
            else if (e->t == V_U16)
                s4f_mg_u16(&g, (uint16_t)u);
            else if (e->t == V_U32)
                s4f_mg_u32(&g, (uint32_t)u);
            else
                s4f_mg_u64(&g, u);
            continue;
        }
        if (!json_is_string(x)) {
            snprintf(err, errlen, "%s: not a string", e->key);
            return -1;
        }
        const char *s = json_string_value(x);
        size_t sl = json_string_length(x);
        if (e->t == V_IP4 || e->t == V_IP6) {
            uint8_t a[16];
            if (inet_pton(e->t == V_IP4 ? AF_INET : AF_INET6, s, a) != 1) {
                snprintf(err, errlen, "%s: bad address %s", e->key, s);
                return -1;
            }
            s4f_mg_bytes(&g, a, e->t == V_IP4 ? 4 : 16);
        } else if (e->t == V_STR) {
            if (sl > 60000) {
                snprintf(err, errlen, "%s: too long", e->key);
                return -1;
            }
            s4f_mg_varlen(&g, s, sl);
        } else {
            static uint8_t b[32768];
            size_t nb = 0;
            if (sl < 2 || s[0] != '0' || s[1] != 'x' || sl % 2 || (sl - 2) / 2 > sizeof(b)) {
                snprintf(err, errlen, "%s: not 0x<hex>", e->key);
                return -1;
            }
            for (size_t j = 2; j < sl; j += 2) {
                int hi = s4f_hexval(s[j]), lo = s4f_hexval(s[j + 1]);
                if (hi < 0 || lo < 0) {
                    snprintf(err, errlen, "%s: not 0x<hex>", e->key);
                    return -1;
                }
                b[nb++] = (uint8_t)(hi << 4 | lo);
            }
            s4f_mg_varlen(&g, b, nb);
        }
        if (g.len > sizeof(g.buf) - 1024) {
            snprintf(err, errlen, "record too large for one message");
            return -1;
        }
    }
    return 0;
}

struct check {
    json_t *want;
    size_t records, bad;
};

static void on_record(void *ctx, const struct s4f_flow_out *r)
{
    struct check *c = ctx;
    c->records++;
    json_error_t je;
    json_t *got = json_loadb(r->json, r->json_len, 0, &je);
    const char *k;
    json_t *v;
    json_object_foreach(c->want, k, v)
    {
        if (strncmp(k, "s4f.", 4) == 0)
            continue;
        json_t *x = got ? json_object_get(got, k) : NULL;
        if (!x || !json_equal(x, v)) {
            char *ws = json_dumps(v, JSON_ENCODE_ANY),
                 *gs = x ? json_dumps(x, JSON_ENCODE_ANY) : NULL;
            fprintf(stderr, "mismatch %s: sent %s, decoded %s\n", k, ws, gs ? gs : "(absent)");
            free(ws);
            free(gs);
            c->bad++;
        }
    }
    json_decref(got);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *file = NULL;
    int port = 4739, check = 0;
    long rate = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            rate = atol(argv[++i]);
        else if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else if (!file)
            file = argv[i];
        else {
            fprintf(stderr, "usage: see the comment at the top of tests/tools/ipfix_export.c\n");
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr,
                "usage: s4f-ipfix-export [--host H] [--port P] [--rate N] [--check] FILE\n");
        return 2;
    }
    FILE *in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!in) {
        perror(file);
        return 2;
    }
    int fd = -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct s4f_decoder *dec = NULL;
    if (check) {
        static const char *files[] = {S4F_ELEMENTS_SRC "/flowmon.xml",
                                      S4F_ELEMENTS_SRC "/ipfixprobe.xml", NULL};
        struct s4f_decoder_opts o = {.element_files = files, .no_exporter_fields = true};
        dec = s4f_decoder_new(&o);
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (!dec)
            return 2;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        /* Test traffic never leaves the machine. */
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
            (ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
            fprintf(stderr, "only IPv4 loopback destinations (127.0.0.0/8)\n");
            return 2;
        }
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) {
            perror("socket");
            return 2;
        }
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, sent = 0, errors = 0;
    ssize_t len;
    struct check c = {0};
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (len <= 1)
            continue;
        json_error_t je;
        json_t *rec = json_loadb(line, (size_t)len, 0, &je);
        char err[256];
        if (!json_is_object(rec) || build(rec, err, sizeof(err)) != 0) {
            fprintf(stderr, "line %zu: %s\n", lineno, rec ? err : je.text);
            json_decref(rec);
            errors++;
            continue;
        }
        size_t n = s4f_mg_end(&g);
        if (check) {
            c.want = rec;
            size_t before = c.records;
            s4f_decode_datagram(dec, &ss, g.buf, n, (int64_t)time(NULL) * 1000, on_record, &c);
            if (c.records != before + 1) {
                fprintf(stderr, "line %zu: not decoded\n", lineno);
                c.bad++;
            }
        } else if (sendto(fd, g.buf, n, 0, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) !=
                   (ssize_t)n) {
            perror("sendto");
            errors++;
        }
        sent++;
        json_decref(rec);
        if (rate > 0 && sent % (size_t)(rate / 100 + 1) == 0)
            usleep((useconds_t)(10000 * (rate / 100 + 1) * 100 / rate));
    }
    free(line);
    if (in != stdin)
        fclose(in);
    if (fd >= 0)
        close(fd);
    s4f_decoder_free(dec);
    if (check)
        printf("records=%zu decoded=%zu mismatches=%zu errors=%zu\n", sent, c.records, c.bad,
               errors);
    else
        printf("records=%zu errors=%zu\n", sent, errors);
    return errors || c.bad ? 1 : 0;
}
