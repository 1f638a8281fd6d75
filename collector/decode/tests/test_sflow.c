/* sFlow v5: the captures of real agents in shared/testdata/akvorado/sflow (see SOURCE.md there)
 * replayed through the decoder, with the values tshark shows for them
 * (tshark -r FILE -V: sampling rate, frame length, addresses, ports, tags, interfaces,
 * extended switch/router/gateway data); datagrams built in code for what the captures lack
 * (counter samples, IPv6 extension headers, fragments, the interface table's bound); and every
 * truncation and many corruptions of the real datagrams. tests/collector/sflow_totals.py
 * compares the collector's totals with tshark's decode of the same datagrams at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "log.h"
#include "pcap_reader.h"
#include "test_util.h"

#define NOW 1764223857000LL

static struct tu_recs R;

static const char *sflow_dir(void)
{
    static char buf[1100];
    const char *nf = tu_testdata_dir();
    if (!nf)
        return NULL;
    snprintf(buf, sizeof(buf), "%s/../sflow", nf);
    return buf;
}

static int have_data(void **state)
{
    (void)state;
    if (!sflow_dir()) {
        print_message("captures not found: set S4F_TESTDATA_NETFLOW\n");
        skip();
    }
    return 0;
}

static void replay(struct s4f_decoder *d, const char *file)
{
    char path[1300];
    snprintf(path, sizeof(path), "%s/%s", sflow_dir(), file);
    static struct s4f_pcap pc;
    int n = s4f_pcap_read(path, &pc);
    if (n <= 0)
        print_error("cannot read %s\n", path);
    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        s4f_decode_datagram(d, &pc.pkts[i].src, pc.pkts[i].payload, pc.pkts[i].len, NOW, tu_collect,
                            &R);
    s4f_pcap_free(&pc);
}

static uint64_t total_errors(const struct s4f_decoder *d)
{
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    uint64_t n = 0;
    for (int r = 0; r < S4F_DR__COUNT; r++)
        n += st.errors[r];
    return n;
}

/* One file into a fresh decoder: its records in R. */
static struct s4f_decoder *one(const char *file)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    assert_non_null(d);
    tu_clear(&R);
    replay(d, file);
    assert_int_equal(total_errors(d), 0);
    assert_int_equal(R.invalid, 0);
    return d;
}

static void test_1140(void **state)
{
    (void)state;
    struct s4f_decoder *d = one("data-1140.pcap");
    assert_int_equal(R.n, 5);
    /* Sample 1: IPv6 TCP 46026 -> 22, 1 in 1024, frame 1518, VLAN 100 in and out. */
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv6Address"), "2a0c:8880:2:0:185:21:130:38");
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv6Address"),
                        "2a0c:8880:2:0:185:21:130:39");
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 46026);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 22);
    assert_int_equal(tu_int(&R, 0, "ipfix.protocolIdentifier"), 6);
    assert_int_equal(tu_int(&R, 0, "ipfix.tcpControlBits"), 0x10);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 1024);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1518 * 1024);
    assert_int_equal(tu_int(&R, 0, "s4f.sampling_interval"), 1024);
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 27);
    assert_int_equal(tu_int(&R, 0, "ipfix.egressInterface"), 28);
    assert_int_equal(tu_int(&R, 0, "ipfix.vlanId"), 100);
    assert_int_equal(tu_int(&R, 0, "ipfix.postVlanId"), 100);
    assert_int_equal(tu_int(&R, 0, "ipfix.ipTTL"), 64);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceMacAddress"), "24:6e:96:90:7a:50");
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv4Address"), "172.16.0.3");
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 0);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowStartMilliseconds"), NOW);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowEndMilliseconds"), NOW);
    assert_int_equal(R.meta[0].version, S4F_VERSION_SFLOW);
    assert_string_equal(R.src_text[0], "2a0c:8880:2:0:185:21:130:38");
    /* Sample 2: IPv4 TCP 443 -> 56876 with extended gateway (src AS 13335, empty path) and
     * router data (next hop 45.90.161.46, masks 20/27); incoming VLAN unknown (0xffffffff). */
    assert_string_equal(tu_str(&R, 1, "ipfix.sourceIPv4Address"), "104.26.8.24");
    assert_string_equal(tu_str(&R, 1, "ipfix.destinationIPv4Address"), "45.90.161.46");
    assert_int_equal(tu_int(&R, 1, "ipfix.octetDeltaCount"), 439 * 1024);
    assert_int_equal(tu_int(&R, 1, "ipfix.ingressInterface"), 49001);
    assert_int_equal(tu_int(&R, 1, "ipfix.bgpSourceAsNumber"), 13335);
    assert_false(tu_has(&R, 1, "ipfix.bgpDestinationAsNumber"));
    assert_string_equal(tu_str(&R, 1, "ipfix.ipNextHopIPv4Address"), "45.90.161.46");
    assert_int_equal(tu_int(&R, 1, "ipfix.sourceIPv4PrefixLength"), 20);
    assert_int_equal(tu_int(&R, 1, "ipfix.destinationIPv4PrefixLength"), 27);
    assert_false(tu_has(&R, 1, "ipfix.vlanId"));
    assert_int_equal(tu_int(&R, 1, "ipfix.postVlanId"), 100);
    /* Sample 4: a 64-byte SYN; the gateway's AS path ends in 26615. */
    assert_int_equal(tu_int(&R, 3, "ipfix.octetDeltaCount"), 64 * 1024);
    assert_int_equal(tu_int(&R, 3, "ipfix.tcpControlBits"), 0x02);
    assert_int_equal(tu_int(&R, 3, "ipfix.bgpDestinationAsNumber"), 26615);

    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.datagrams[S4F_PROTO_SFLOW], 1);
    assert_int_equal(st.flows[S4F_PROTO_SFLOW], 5);
    assert_int_equal(st.sflow_flow_samples, 5);
    s4f_decoder_free(d);
}

static void test_interfaces(void **state)
{
    (void)state;
    /* Output discarded: no egress interface, forwardingStatus "dropped". */
    struct s4f_decoder *d = one("data-discard-interface.pcap");
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 27);
    assert_false(tu_has(&R, 0, "ipfix.egressInterface"));
    assert_int_equal(tu_int(&R, 0, "ipfix.forwardingStatus"), 128);
    s4f_decoder_free(d);
    /* Delivered to the agent itself (0x3fffffff), and sent out of several interfaces. */
    d = one("data-local-interface.pcap");
    assert_int_equal(R.n, 1);
    assert_false(tu_has(&R, 0, "ipfix.egressInterface"));
    assert_false(tu_has(&R, 0, "ipfix.forwardingStatus"));
    s4f_decoder_free(d);
    d = one("data-multiple-interfaces.pcap");
    assert_int_equal(R.n, 1);
    assert_false(tu_has(&R, 0, "ipfix.egressInterface"));
    s4f_decoder_free(d);
}

static void test_expanded_qinq(void **state)
{
    (void)state;
    /* Expanded flow sample, QinQ: outer tag 1062, customer tag 1493, 1 in 4096. */
    struct s4f_decoder *d = one("data-qinq.pcap");
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.vlanId"), 1062);
    assert_int_equal(tu_int(&R, 0, "ipfix.dot1qCustomerVlanId"), 1493);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "49.49.49.2");
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 443);
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 369098852);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 4096);
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 100);
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv4Address"), "172.17.128.58");
    s4f_decoder_free(d);
    /* Expanded sample with 802.1Q, router and gateway data (AS path to 203361). */
    d = one("data-sflow-expanded-sample.pcap");
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.vlanId"), 809);
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 29001);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 126 * 1000);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpSourceAsNumber"), 203476);
    assert_int_equal(tu_int(&R, 0, "ipfix.bgpDestinationAsNumber"), 203361);
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv4Address"), "49.49.49.49");
    s4f_decoder_free(d);
}

static void test_icmp_and_raw_ip(void **state)
{
    (void)state;
    struct s4f_decoder *d = one("data-icmpv4.pcap");
    assert_int_equal(R.n, 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.icmpTypeCodeIPv4"), 8 << 8); /* echo request */
    assert_false(tu_has(&R, 0, "s4f.sampling_interval"));              /* 1 in 1 */
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 102);
    s4f_decoder_free(d);
    d = one("data-icmpv6.pcap");
    assert_int_equal(tu_int(&R, 0, "ipfix.icmpTypeCodeIPv6"), 135 << 8); /* neighbor solicit */
    assert_string_equal(tu_str(&R, 0, "ipfix.destinationIPv6Address"), "2001:db8::");
    s4f_decoder_free(d);
    /* Header protocol 11: the sampled header starts at IPv4. */
    d = one("data-sflow-raw-ipv4.pcap");
    assert_int_equal(R.n, 2);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "69.58.92.107");
    assert_string_equal(tu_str(&R, 1, "ipfix.destinationIPv4Address"), "92.222.184.1");
    assert_false(tu_has(&R, 0, "ipfix.sourceMacAddress"));
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 100000);
    s4f_decoder_free(d);
    /* VXLAN: the outer packet is the flow. */
    d = one("data-encap-vxlan.pcap");
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 4789);
    s4f_decoder_free(d);
}

/* ---- datagrams built in code ---- */

struct wbuf {
    uint8_t b[2048];
    size_t n;
};

static void w32(struct wbuf *w, uint32_t v)
{
    w->b[w->n++] = (uint8_t)(v >> 24);
    w->b[w->n++] = (uint8_t)(v >> 16);
    w->b[w->n++] = (uint8_t)(v >> 8);
    w->b[w->n++] = (uint8_t)v;
}

static void w64(struct wbuf *w, uint64_t v)
{
    w32(w, (uint32_t)(v >> 32));
    w32(w, (uint32_t)v);
}

static void wbytes(struct wbuf *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void header(struct wbuf *w, uint32_t seq, uint32_t nsamples)
{
    w->n = 0;
    w32(w, 5);
    w32(w, 1);
    wbytes(w, (uint8_t[]){192, 0, 2, 9}, 4);
    w32(w, 7); /* sub-agent */
    w32(w, seq);
    w32(w, 123456);
    w32(w, nsamples);
}

static void counter_sample(struct wbuf *w, uint32_t ifindex, uint64_t in_octets)
{
    w32(w, 2);
    w32(w, 4 * 3 + 8 + 88);
    w32(w, 1);       /* sequence */
    w32(w, ifindex); /* source id */
    w32(w, 1);       /* one record */
    w32(w, 1);       /* generic interface counters */
    w32(w, 88);
    w32(w, ifindex);
    w32(w, 6);              /* ifType */
    w64(w, 10000000000ull); /* 10 Gbit/s */
    w32(w, 1);              /* full duplex */
    w32(w, 3);              /* admin and oper up */
    w64(w, in_octets);
    w32(w, 100); /* unicast */
    w32(w, 20);  /* multicast */
    w32(w, 3);   /* broadcast */
    w32(w, 4);   /* discards */
    w32(w, 5);   /* errors */
    w32(w, 6);   /* unknown protos */
    w64(w, 777);
    w32(w, 10);
    w32(w, 0);
    w32(w, 0);
    w32(w, 1);
    w32(w, 2);
    w32(w, 0); /* promiscuous */
}

struct ifs_seen {
    size_t n;
    struct s4f_sflow_interface last;
};

static void on_if(void *ctx, const struct s4f_sflow_interface *ifc)
{
    struct ifs_seen *s = ctx;
    s->n++;
    if (ifc->ifindex == 3)
        s->last = *ifc;
}

static void test_counters(void **state)
{
    (void)state;
    struct s4f_decoder_opts o = {.max_sflow_interfaces = 2};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    struct sockaddr_storage from = tu_addr("198.51.100.1");
    struct wbuf w;
    tu_clear(&R);
    header(&w, 1, 3);
    counter_sample(&w, 3, 1000);
    counter_sample(&w, 4, 2000);
    counter_sample(&w, 5, 3000); /* one interface too many: counted, not kept */
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW, tu_collect, &R), S4F_OK);
    header(&w, 2, 1);
    counter_sample(&w, 3, 5000); /* an update of a tracked interface */
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW + 1000, tu_collect, &R), S4F_OK);
    assert_int_equal(R.n, 0);
    struct ifs_seen seen = {0};
    assert_int_equal(s4f_decoder_foreach_sflow_interface(d, on_if, &seen), 2);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.last.agent, "192.0.2.9");
    assert_int_equal(seen.last.sub_agent, 7);
    assert_int_equal(seen.last.in_octets, 5000);
    assert_int_equal(seen.last.in_packets, 123);
    assert_int_equal(seen.last.in_discards, 4);
    assert_int_equal(seen.last.in_errors, 5);
    assert_int_equal(seen.last.out_octets, 777);
    assert_int_equal(seen.last.out_packets, 10);
    assert_int_equal(seen.last.out_discards, 1);
    assert_int_equal(seen.last.out_errors, 2);
    assert_int_equal(seen.last.speed, 10000000000ull);
    assert_int_equal(seen.last.status, 3);
    assert_int_equal(seen.last.updated_ms, NOW + 1000);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.sflow_counter_samples, 4);
    assert_int_equal(st.sflow_interfaces_refused, 1);
    assert_int_equal(total_errors(d), 0);
    /* The exporter is the agent (with the sender's port), its version sFlow's. */
    s4f_decoder_free(d);
}

/* A compact flow sample around one raw header record of the given protocol. */
static void flow_sample(struct wbuf *w, uint32_t rate, uint32_t hproto, const uint8_t *hdr,
                        uint32_t hlen, uint32_t frame_len)
{
    uint32_t padded = (hlen + 3) & ~3u;
    w32(w, 1);
    w32(w, 4 * 8 + 8 + 16 + padded);
    w32(w, 1);    /* sequence */
    w32(w, 5);    /* source id */
    w32(w, rate); /* sampling rate */
    w32(w, 1000); /* pool */
    w32(w, 0);    /* drops */
    w32(w, 5);    /* input */
    w32(w, 6);    /* output */
    w32(w, 1);    /* one record */
    w32(w, 1);    /* raw packet header */
    w32(w, 16 + padded);
    w32(w, hproto);
    w32(w, frame_len);
    w32(w, 4);
    w32(w, hlen);
    wbytes(w, hdr, hlen);
    memset(w->b + w->n, 0, padded - hlen);
    w->n += padded - hlen;
}

static void test_ipv6_extension_headers(void **state)
{
    (void)state;
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct sockaddr_storage from = tu_addr("198.51.100.1");
    /* IPv6, hop-by-hop options (8 bytes), then UDP 5353 -> 53. */
    uint8_t p[40 + 8 + 8] = {0x60, 0x00, 0x00, 0x01, 0x00, 0x10, 0x00, 64};
    p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
    p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
    p[40] = 17; /* next: UDP */
    p[48] = 0x14, p[49] = 0xe9, p[50] = 0x00, p[51] = 53;
    struct wbuf w;
    tu_clear(&R);
    header(&w, 1, 2);
    flow_sample(&w, 100, 12, p, sizeof(p), 70);
    /* The same as a non-first fragment: no ports. */
    uint8_t q[40 + 8 + 8];
    memcpy(q, p, 40);
    q[6] = 44;
    memset(q + 40, 0, 16);
    q[40] = 17;
    q[43] = 8 << 3; /* offset 8 (in 8-byte units) */
    flow_sample(&w, 100, 12, q, sizeof(q), 70);
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW, tu_collect, &R), S4F_OK);
    assert_int_equal(R.n, 2);
    assert_int_equal(R.invalid, 0);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv6Address"), "2001:db8::1");
    assert_int_equal(tu_int(&R, 0, "ipfix.protocolIdentifier"), 17);
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceTransportPort"), 5353);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 53);
    assert_int_equal(tu_int(&R, 0, "ipfix.flowLabelIPv6"), 1);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 7000);
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 5);
    assert_int_equal(tu_int(&R, 0, "ipfix.egressInterface"), 6);
    assert_int_equal(tu_int(&R, 1, "ipfix.protocolIdentifier"), 17);
    assert_false(tu_has(&R, 1, "ipfix.sourceTransportPort"));
    s4f_decoder_free(d);
}

/* Without a raw header: the agent's own decode (Ethernet frame data, sampled IPv4), an
 * expanded sample whose packet was discarded, and router data with an IPv6 next hop. */
static void test_sampled_ipv4_record(void **state)
{
    (void)state;
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct sockaddr_storage from = tu_addr("198.51.100.1");
    struct wbuf w;
    tu_clear(&R);
    header(&w, 1, 1);
    w32(&w, 3); /* expanded flow sample */
    w32(&w, 4 * 11 + (8 + 24) + (8 + 32) + (8 + 28));
    w32(&w, 9);   /* sequence */
    w32(&w, 0);   /* source id type */
    w32(&w, 12);  /* source id index */
    w32(&w, 512); /* rate */
    w32(&w, 0);   /* pool */
    w32(&w, 0);   /* drops */
    w32(&w, 0);   /* input format: ifIndex */
    w32(&w, 12);
    w32(&w, 1);   /* output format: discarded */
    w32(&w, 258); /* reason */
    w32(&w, 3);   /* records */
    w32(&w, 2);   /* Ethernet frame data */
    w32(&w, 24);
    w32(&w, 1500);
    wbytes(&w, (uint8_t[]){2, 0, 0, 0, 0, 7, 0, 0}, 8);
    wbytes(&w, (uint8_t[]){2, 0, 0, 0, 0, 8, 0, 0}, 8);
    w32(&w, 0x0800);
    w32(&w, 3); /* sampled IPv4 */
    w32(&w, 32);
    w32(&w, 1400); /* IP length */
    w32(&w, 6);
    wbytes(&w, (uint8_t[]){10, 1, 2, 3}, 4);
    wbytes(&w, (uint8_t[]){10, 4, 5, 6}, 4);
    w32(&w, 40000);
    w32(&w, 443);
    w32(&w, 0x12);
    w32(&w, 0);
    w32(&w, 1002); /* extended router, IPv6 next hop */
    w32(&w, 28);
    w32(&w, 2);
    wbytes(&w, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}, 16);
    w32(&w, 8);
    w32(&w, 24);
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW, tu_collect, &R), S4F_OK);
    assert_int_equal(R.n, 1);
    assert_int_equal(R.invalid, 0);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceIPv4Address"), "10.1.2.3");
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationTransportPort"), 443);
    assert_int_equal(tu_int(&R, 0, "ipfix.tcpControlBits"), 0x12);
    assert_int_equal(tu_int(&R, 0, "ipfix.octetDeltaCount"), 1400 * 512);
    assert_int_equal(tu_int(&R, 0, "ipfix.packetDeltaCount"), 512);
    assert_string_equal(tu_str(&R, 0, "ipfix.sourceMacAddress"), "02:00:00:00:00:07");
    assert_int_equal(tu_int(&R, 0, "ipfix.ingressInterface"), 12);
    assert_false(tu_has(&R, 0, "ipfix.egressInterface"));
    assert_int_equal(tu_int(&R, 0, "ipfix.forwardingStatus"), 128);
    assert_string_equal(tu_str(&R, 0, "ipfix.ipNextHopIPv6Address"), "2001:db8::9");
    assert_int_equal(tu_int(&R, 0, "ipfix.sourceIPv4PrefixLength"), 8);
    assert_int_equal(tu_int(&R, 0, "ipfix.destinationIPv4PrefixLength"), 24);
    assert_string_equal(tu_str(&R, 0, "ipfix.exporterIPv4Address"), "192.0.2.9");
    assert_int_equal(tu_int(&R, 0, "ipfix.observationDomainId"), 7);
    s4f_decoder_free(d);
}

static void test_non_ip_and_unknown(void **state)
{
    (void)state;
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct sockaddr_storage from = tu_addr("198.51.100.1");
    uint8_t arp[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06};
    struct wbuf w;
    tu_clear(&R);
    header(&w, 1, 2);
    flow_sample(&w, 10, 1, arp, sizeof(arp), 64);
    w32(&w, 4096 | 7); /* enterprise 1, format 7: not ours */
    w32(&w, 4);
    w32(&w, 0);
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW, tu_collect, &R), S4F_OK);
    assert_int_equal(R.n, 0);
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    assert_int_equal(st.sflow_non_ip, 1);
    assert_int_equal(st.sflow_skipped, 1);
    /* A bad agent address type rejects the datagram; a sample past the end is counted. */
    header(&w, 2, 1);
    w.b[7] = 3;
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW, tu_collect, &R), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_SFLOW_AGENT), 1);
    header(&w, 3, 1);
    w32(&w, 1);
    w32(&w, 1000);
    assert_int_equal(s4f_decode_datagram(d, &from, w.b, w.n, NOW, tu_collect, &R), S4F_ERR);
    assert_int_equal(tu_err(d, S4F_DR_SFLOW_LENGTH), 1);
    s4f_decoder_free(d);
}

/* Every prefix of every capture, and corruptions of single bytes: no crash, no invalid record
 * (ASan/UBSan builds check the memory side). */
static void test_hostile(void **state)
{
    (void)state;
    static const char *const files[] = {"data-1140.pcap",
                                        "data-discard-interface.pcap",
                                        "data-encap-vxlan.pcap",
                                        "data-icmpv4.pcap",
                                        "data-icmpv6.pcap",
                                        "data-qinq.pcap",
                                        "data-sflow-expanded-sample.pcap",
                                        "data-sflow-ipv4-data.pcap",
                                        "data-sflow-raw-ipv4.pcap"};
    struct s4f_decoder_opts o = {.max_sflow_interfaces = 4};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    uint8_t buf[2048];
    uint32_t rng = 12345;
    for (size_t f = 0; f < S4F_ARRAY_SIZE(files); f++) {
        char path[1300];
        snprintf(path, sizeof(path), "%s/%s", sflow_dir(), files[f]);
        static struct s4f_pcap pc;
        assert_true(s4f_pcap_read(path, &pc) > 0);
        size_t len = pc.pkts[0].len;
        assert_true(len <= sizeof(buf));
        for (size_t cut = 0; cut <= len; cut++) {
            tu_clear(&R);
            memcpy(buf, pc.pkts[0].payload, cut);
            s4f_decode_datagram(d, &pc.pkts[0].src, buf, cut, NOW, tu_collect, &R);
            assert_int_equal(R.invalid, 0);
        }
        for (int round = 0; round < 500; round++) {
            memcpy(buf, pc.pkts[0].payload, len);
            for (int k = 0; k < 3; k++) {
                rng = rng * 1103515245u + 12345u;
                size_t at = 4 + (rng >> 8) % (len - 4); /* keep the version word */
                rng = rng * 1103515245u + 12345u;
                buf[at] = (uint8_t)(rng >> 16);
            }
            tu_clear(&R);
            s4f_decode_datagram(d, &pc.pkts[0].src, buf, len, NOW, tu_collect, &R);
            assert_int_equal(R.invalid, 0);
        }
        s4f_pcap_free(&pc);
    }
    struct ifs_seen seen = {0};
    assert_true(s4f_decoder_foreach_sflow_interface(d, on_if, &seen) <= 4);
    s4f_decoder_free(d);
}

int main(void)
{
    s4f_log_level_current = S4F_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_1140, have_data),
        cmocka_unit_test_setup(test_interfaces, have_data),
        cmocka_unit_test_setup(test_expanded_qinq, have_data),
        cmocka_unit_test_setup(test_icmp_and_raw_ip, have_data),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_ipv6_extension_headers),
        cmocka_unit_test(test_sampled_ipv4_record),
        cmocka_unit_test(test_non_ip_and_unknown),
        cmocka_unit_test_setup(test_hostile, have_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
