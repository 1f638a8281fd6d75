/* Datagram generator of the collector benchmark: see gen.h. */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The template, {IANA element id, length}. IPFIX carries 64-bit counters and absolute
 * milliseconds; v9 (as Cisco and most probes export it) 32-bit counters and FIRST/LAST_SWITCHED
 * in sysUptime milliseconds. 15 fields either way. */
#define NFIELDS 15
static const uint16_t ipfix_fields[NFIELDS][2] = {
    {8, 4},   /* sourceIPv4Address */
    {12, 4},  /* destinationIPv4Address */
    {7, 2},   /* sourceTransportPort */
    {11, 2},  /* destinationTransportPort */
    {4, 1},   /* protocolIdentifier */
    {6, 1},   /* tcpControlBits (reduced-size encoding) */
    {5, 1},   /* ipClassOfService */
    {2, 8},   /* packetDeltaCount */
    {1, 8},   /* octetDeltaCount */
    {152, 8}, /* flowStartMilliseconds */
    {153, 8}, /* flowEndMilliseconds */
    {10, 4},  /* ingressInterface */
    {14, 4},  /* egressInterface */
    {16, 4},  /* bgpSourceAsNumber */
    {17, 4},  /* bgpDestinationAsNumber */
};
static const uint16_t v9_fields[NFIELDS][2] = {
    {8, 4},  {12, 4}, {7, 2},  {11, 2}, {4, 1},
    {6, 1},  {5, 1},  {2, 4},  {1, 4},  {22, 4}, /* FIRST_SWITCHED */
    {21, 4},                                     /* LAST_SWITCHED */
    {10, 4}, {14, 4}, {16, 4}, {17, 4},
};

struct rng {
    uint64_t s;
};

/* xorshift64*: fast, and good enough to spread hosts and ports. */
static uint64_t rnd(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static uint32_t rnd_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rnd(r) % n);
}

static uint8_t *put8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    return put32(p + 4, (uint32_t)v);
}

static const uint16_t (*fields_of(int version))[2]
{
    return version == 10 ? ipfix_fields : v9_fields;
}

static size_t header_len(int version)
{
    return version == 10 ? 16 : 20;
}

struct flow {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint8_t proto, flags, tos;
    uint64_t pkts, bytes;
    uint32_t in_if, out_if, src_as, dst_as;
    uint32_t age_ms, dur_ms;
};

static const uint16_t tcp_ports[] = {443, 443, 443, 80, 80, 22, 25, 993, 8080, 3389, 445, 3306};

/* One flow drawn from a mix seen on campus and ISP edges: mostly TCP to a handful of services,
 * DNS and QUIC over UDP, some ICMP and GRE; most flows short, a few elephants. */
int bg_remote_mix;

static void draw_flow(struct rng *r, struct flow *f)
{
    uint32_t pick = rnd_below(r, 100);
    memset(f, 0, sizeof(*f));
    /* Internal hosts: 4,096 busy ones most of the time, any of 10/8 otherwise. */
    f->src = 0x0a000000u | (pick < 80 ? rnd_below(r, 4096) : rnd_below(r, 1u << 24));
    if (rnd_below(r, 2)) {
        f->dst = 0x0a000000u | rnd_below(r, 1u << 24);
    } else if (!bg_remote_mix) { /* public space: 11.0.0.0 to 126.255.255.255 avoids 10/8, 127/8 */
        f->dst = 0x0b000000u + rnd_below(r, 0x74000000u);
    } else {
        /* Rank k = 2^(20 u) - 1, u uniform in [0, 1): density about 1/k. The rank's /24 is
         * spread by an odd multiplier (a bijection mod 2^20), then scaled into the space. */
        double u = (double)rnd_below(r, 1u << 30) / (double)(1u << 30);
        uint32_t k = (uint32_t)exp2(20.0 * u) - 1;
        uint32_t slot = (k * 0x9E3B5u) & ((1u << 20) - 1);
        uint32_t net = (uint32_t)(((uint64_t)slot * 0x740000u) >> 20);
        f->dst = 0x0b000000u + (net << 8) + rnd_below(r, 256);
    }
    pick = rnd_below(r, 100);
    if (pick < 70) {
        f->proto = 6;
        f->sport = (uint16_t)(32768 + rnd_below(r, 28232));
        f->dport = rnd_below(r, 10) < 8
                       ? tcp_ports[rnd_below(r, sizeof(tcp_ports) / sizeof(tcp_ports[0]))]
                       : (uint16_t)(1 + rnd_below(r, 65535));
        uint32_t fl = rnd_below(r, 100);
        f->flags = fl < 80 ? 0x1b : fl < 92 ? 0x02 : fl < 97 ? 0x14 : 0x18;
    } else if (pick < 95) {
        f->proto = 17;
        f->sport = (uint16_t)(1024 + rnd_below(r, 64511));
        uint32_t d = rnd_below(r, 10);
        f->dport = d < 5 ? 53 : d < 6 ? 123 : d < 8 ? 443 : (uint16_t)(1 + rnd_below(r, 65535));
    } else if (pick < 99) {
        f->proto = 1;
        static const uint16_t types[] = {0x0800, 0x0000, 0x0303, 0x0b00};
        f->dport = types[rnd_below(r, 4)];
    } else {
        f->proto = 47;
    }
    f->tos = rnd_below(r, 10) == 0 ? 0x28 : 0;
    if (rnd_below(r, 10) == 0) {
        f->pkts = 16 + rnd_below(r, 100000);
        f->dur_ms = rnd_below(r, 120000);
    } else {
        f->pkts = 1 + rnd_below(r, 15);
        f->dur_ms = f->pkts == 1 ? 0 : rnd_below(r, 5000);
    }
    f->bytes = f->pkts * (40 + rnd_below(r, 1461));
    f->age_ms = rnd_below(r, 1000);
    f->in_if = 1 + rnd_below(r, 48);
    f->out_if = 1 + rnd_below(r, 48);
    f->src_as = 0;
    f->dst_as = (f->dst >> 24) == 10 ? 0 : 1 + rnd_below(r, 64999);
}

static uint8_t *write_flow(uint8_t *p, int version, const struct flow *f)
{
    p = put32(p, f->src);
    p = put32(p, f->dst);
    p = put16(p, f->sport);
    p = put16(p, f->dport);
    p = put8(p, f->proto);
    p = put8(p, f->flags);
    p = put8(p, f->tos);
    if (version == 10) {
        p = put64(p, f->pkts);
        p = put64(p, f->bytes);
        p = put64(p, 0); /* times are patched by bg_data() */
        p = put64(p, 0);
    } else {
        p = put32(p, (uint32_t)f->pkts);
        p = put32(p, (uint32_t)f->bytes);
        p = put32(p, 0);
        p = put32(p, 0);
    }
    p = put32(p, f->in_if);
    p = put32(p, f->out_if);
    p = put32(p, f->src_as);
    return put32(p, f->dst_as);
}

/* sFlow v5: a 28-byte header (IPv4 agent), then per flow a compact flow sample with a raw packet
 * header record (128 bytes of Ethernet, IPv4, TCP/UDP/ICMP and zero payload) and extended
 * switch data. */
#define SF_HDR        28
#define SF_PKT_HDR    128
#define SF_SAMPLE     (8 + 32 + 8 + 16 + SF_PKT_HDR + 8 + 16)
#define SF_SRC_OFFSET (8 + 32 + 8 + 16 + 14 + 12) /* the IPv4 source in a sample */
#define SF_RATE       1000

static uint8_t *write_sflow_sample(uint8_t *p, const struct flow *f, uint32_t seq)
{
    uint32_t frame = (uint32_t)(f->bytes / f->pkts) + 18; /* IP length + Ethernet and FCS */
    p = put32(p, 1);                                      /* compact flow sample */
    p = put32(p, SF_SAMPLE - 8);
    p = put32(p, seq);
    p = put32(p, f->in_if);
    p = put32(p, SF_RATE);
    p = put32(p, seq * SF_RATE);
    p = put32(p, 0);
    p = put32(p, f->in_if);
    p = put32(p, f->out_if);
    p = put32(p, 2); /* records */
    p = put32(p, 1); /* raw packet header */
    p = put32(p, 16 + SF_PKT_HDR);
    p = put32(p, 1); /* Ethernet */
    p = put32(p, frame);
    p = put32(p, 4);
    p = put32(p, SF_PKT_HDR);
    uint8_t *h = p;
    memset(h, 0, SF_PKT_HDR);
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    memcpy(h, macs, 12);
    put16(h + 12, 0x0800);
    uint8_t *ip = h + 14;
    ip[0] = 0x45;
    ip[1] = f->tos;
    put16(ip + 2, (uint16_t)(frame - 18));
    ip[8] = 64;
    ip[9] = f->proto;
    put32(ip + 12, f->src);
    put32(ip + 16, f->dst);
    uint8_t *l4 = ip + 20;
    if (f->proto == 6 || f->proto == 17) {
        put16(l4, f->sport);
        put16(l4 + 2, f->dport);
        if (f->proto == 6) {
            l4[12] = 0x50;
            l4[13] = f->flags;
        }
    } else if (f->proto == 1) {
        put16(l4, f->dport); /* type and code */
    }
    p += SF_PKT_HDR;
    p = put32(p, 1001); /* extended switch */
    p = put32(p, 16);
    p = put32(p, 100);
    p = put32(p, 0);
    p = put32(p, 100);
    return put32(p, 0);
}

static int sflow_pool_init(struct bg_pool *p, unsigned recs, unsigned n, uint64_t seed)
{
    if (SF_HDR + (size_t)recs * SF_SAMPLE > BG_DGRAM_MAX)
        return -1;
    p->version = BG_SFLOW;
    p->recs = recs;
    p->n = n;
    p->rec_len = SF_SAMPLE;
    p->len = SF_HDR + (size_t)recs * SF_SAMPLE;
    p->buf = calloc(n, BG_DGRAM_MAX);
    if (!p->buf)
        return -1;
    struct rng r = {.s = seed ? seed : 0x9e3779b97f4a7c15ULL};
    for (unsigned d = 0; d < n; d++) {
        uint8_t *q = p->buf + (size_t)d * BG_DGRAM_MAX + SF_HDR;
        for (unsigned k = 0; k < recs; k++) {
            struct flow f;
            draw_flow(&r, &f);
            q = write_sflow_sample(q, &f, d * recs + k);
        }
    }
    return 0;
}

int bg_pool_init(struct bg_pool *p, int version, unsigned recs, unsigned n, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    if (version == BG_SFLOW && recs > 0 && n > 0)
        return sflow_pool_init(p, recs, n, seed);
    if ((version != 9 && version != 10) || recs == 0 || recs > BG_RECS_MAX || n == 0)
        return -1;
    const uint16_t(*fields)[2] = fields_of(version);
    p->version = version;
    p->recs = recs;
    p->n = n;
    for (int i = 0; i < NFIELDS; i++) {
        uint16_t id = fields[i][0];
        if (id == 152 || id == 22)
            p->off_start = p->rec_len;
        if (id == 153 || id == 21)
            p->off_end = p->rec_len;
        p->rec_len = (uint16_t)(p->rec_len + fields[i][1]);
    }
    size_t body = 4 + (size_t)recs * p->rec_len;
    if (version == 9)
        body = (body + 3) & ~(size_t)3; /* v9 pads flowsets to 32 bits */
    p->len = header_len(version) + body;
    p->buf = calloc(n, BG_DGRAM_MAX);
    p->age_ms = calloc((size_t)n * recs, sizeof(*p->age_ms));
    p->dur_ms = calloc((size_t)n * recs, sizeof(*p->dur_ms));
    if (!p->buf || !p->age_ms || !p->dur_ms) {
        bg_pool_free(p);
        return -1;
    }
    struct rng r = {.s = seed ? seed : 0x9e3779b97f4a7c15ULL};
    for (unsigned d = 0; d < n; d++) {
        uint8_t *msg = p->buf + (size_t)d * BG_DGRAM_MAX;
        uint8_t *q = msg + header_len(version); /* header is written by bg_data() */
        q = put16(q, BG_TEMPLATE_ID);
        q = put16(q, (uint16_t)body);
        for (unsigned k = 0; k < recs; k++) {
            struct flow f;
            draw_flow(&r, &f);
            q = write_flow(q, version, &f);
            p->age_ms[(size_t)d * recs + k] = f.age_ms;
            p->dur_ms[(size_t)d * recs + k] = f.dur_ms;
        }
    }
    return 0;
}

void bg_pool_free(struct bg_pool *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p->age_ms);
    free(p->dur_ms);
    memset(p, 0, sizeof(*p));
}

void bg_exporter_init(struct bg_exporter *e, unsigned i, int64_t now_ms)
{
    e->seq = 0;
    e->domain = 1;
    e->addr = bg_exporter_addr(i);
    /* Exporters booted between one and two hours ago: uptimes differ, none wraps during a run. */
    e->boot_ms = now_ms - 3600000 - (int64_t)(i % 3600) * 1000;
}

static void write_header(const struct bg_pool *p, struct bg_exporter *e, uint8_t *out, size_t len,
                         uint16_t v9_count, int64_t now_ms)
{
    if (p->version == 10) {
        uint8_t *q = put16(out, 10);
        q = put16(q, (uint16_t)len);
        q = put32(q, (uint32_t)(now_ms / 1000));
        q = put32(q, e->seq);
        put32(q, e->domain);
    } else {
        uint8_t *q = put16(out, 9);
        q = put16(q, v9_count);
        q = put32(q, (uint32_t)(now_ms - e->boot_ms));
        q = put32(q, (uint32_t)(now_ms / 1000));
        q = put32(q, e->seq);
        put32(q, e->domain);
    }
}

size_t bg_template(const struct bg_pool *p, struct bg_exporter *e, uint8_t *out, int64_t now_ms)
{
    if (p->version == BG_SFLOW)
        return 0;
    const uint16_t(*fields)[2] = fields_of(p->version);
    uint8_t *q = out + header_len(p->version);
    q = put16(q, p->version == 10 ? 2 : 0); /* template set / flowset id */
    q = put16(q, (uint16_t)(4 + 4 + 4 * NFIELDS));
    q = put16(q, BG_TEMPLATE_ID);
    q = put16(q, NFIELDS);
    for (int i = 0; i < NFIELDS; i++) {
        q = put16(q, fields[i][0]);
        q = put16(q, fields[i][1]);
    }
    size_t len = (size_t)(q - out);
    /* IPFIX sequence numbers count data records only; v9 counts every export packet. */
    write_header(p, e, out, len, 1, now_ms);
    if (p->version == 9)
        e->seq++;
    return len;
}

/* A 10/8 address (network byte order at a) onto 10.0.0.0 + (its low 24 bits mod hosts). */
static void fold_local(uint8_t *a, uint32_t hosts)
{
    if (a[0] != 10)
        return;
    uint32_t v = ((uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3]) % hosts;
    a[1] = (uint8_t)(v >> 16);
    a[2] = (uint8_t)(v >> 8);
    a[3] = (uint8_t)v;
}

size_t bg_data(const struct bg_pool *p, unsigned i, struct bg_exporter *e, uint8_t *out,
               int64_t now_ms)
{
    unsigned d = i % p->n;
    memcpy(out, p->buf + (size_t)d * BG_DGRAM_MAX, p->len);
    if (p->version == BG_SFLOW) {
        /* Header: version, IPv4 agent (the exporter's loopback address), sub-agent, sequence
         * number, uptime, samples. Sources move per pass as below. */
        uint8_t *q = put32(out, 5);
        q = put32(q, 1);
        q = put32(q, e->addr);
        q = put32(q, e->domain);
        q = put32(q, e->seq++);
        q = put32(q, (uint32_t)(now_ms - e->boot_ms));
        put32(q, p->recs);
        unsigned cycle = i / p->n;
        for (unsigned k = 0; k < p->recs; k++) {
            uint8_t *src = out + SF_HDR + (size_t)k * SF_SAMPLE + SF_SRC_OFFSET;
            src[1] ^= (uint8_t)(cycle >> 8);
            src[2] ^= (uint8_t)cycle;
        }
        return p->len;
    }
    write_header(p, e, out, p->len, (uint16_t)p->recs, now_ms);
    uint8_t *rec = out + header_len(p->version) + 4;
    const uint32_t *age = p->age_ms + (size_t)d * p->recs, *dur = p->dur_ms + (size_t)d * p->recs;
    /* Each pass over the pool moves every source to another host of 10/8, so that records stay
     * distinct even for a collector that keeps times in whole seconds (pmacct does for v9). */
    unsigned cycle = i / p->n;
    for (unsigned k = 0; k < p->recs; k++, rec += p->rec_len) {
        int64_t end = now_ms - age[k], start = end - dur[k];
        rec[1] ^= (uint8_t)(cycle >> 8);
        rec[2] ^= (uint8_t)cycle;
        if (p->local_hosts) {
            fold_local(rec, p->local_hosts);     /* source */
            fold_local(rec + 4, p->local_hosts); /* destination */
        }
        if (p->version == 10) {
            put64(rec + p->off_start, (uint64_t)start);
            put64(rec + p->off_end, (uint64_t)end);
        } else {
            put32(rec + p->off_start, (uint32_t)(start - e->boot_ms));
            put32(rec + p->off_end, (uint32_t)(end - e->boot_ms));
        }
    }
    e->seq += p->version == 10 ? p->recs : 1;
    return p->len;
}

uint32_t bg_exporter_addr(unsigned i)
{
    return 0x7f000000u | ((1 + i / 250) & 0xff) << 8 | (1 + i % 250);
}

int64_t bg_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double bg_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
