/* sFlow v5 (sflow.org, "sFlow Version 5", July 2004): datagrams of flow samples and counter
 * samples from one agent.
 *
 * Flow samples (compact, format 1, and expanded, format 3) become flat flow records. What a
 * sample says (the sampled packet's header: Ethernet, 802.1Q and QinQ tags, IPv4, IPv6 with its
 * extension headers, TCP, UDP, SCTP, ICMP; or the agent's own decode of it, records 2-4; the
 * extended switch, router and gateway records 1001-1003) is written as IANA elements into a
 * fixed-layout record, and that record is run through a built-in template, as NetFlow v5 is:
 * one decode program, one set of JSON rules, sampling and exporter fields included. Which
 * elements a sample has varies, so there is one template per set of present elements
 * (compiled at first use, cached by that set). A sample is one packet seen in sampling_rate:
 * packetDeltaCount 1 and octetDeltaCount the frame length, renormalised by the rate like any
 * sampled NetFlow record. Flow times are the receive time (sFlow carries no flow times).
 * Samples without an IPv4 or IPv6 packet (ARP, LLDP...) are counted, not emitted.
 *
 * Counter samples (formats 2 and 4) update the agent's interface counters (generic interface
 * counters, record 1) in a table of at most max_sflow_interfaces entries.
 *
 * Every length is checked against what contains it; nothing is allocated from a length. */
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

/* The elements a flow record may carry, in output order. */
enum sf_field {
    F_SRC4,
    F_DST4,
    F_SRC6,
    F_DST6,
    F_SPORT,
    F_DPORT,
    F_PROTO,
    F_TCPFLAGS,
    F_TOS,
    F_TTL,
    F_FLOWLABEL,
    F_ICMP4,
    F_ICMP6,
    F_PKTS,
    F_OCTETS,
    F_START,
    F_END,
    F_IN_IF,
    F_OUT_IF,
    F_FWD,
    F_SMAC,
    F_DMAC,
    F_ETYPE,
    F_VLAN,
    F_CVLAN,
    F_POSTVLAN,
    F_NH4,
    F_NH6,
    F_SMASK4,
    F_DMASK4,
    F_SMASK6,
    F_DMASK6,
    F_SRC_AS,
    F_DST_AS,
    F_BGPNH4,
    F_BGPNH6,
    F__COUNT
};

/* IANA element id and length of each field. */
static const struct s4f_fspec fdefs[F__COUNT] = {
    [F_SRC4] = {0, 8, 4},    [F_DST4] = {0, 12, 4},      [F_SRC6] = {0, 27, 16},
    [F_DST6] = {0, 28, 16},  [F_SPORT] = {0, 7, 2},      [F_DPORT] = {0, 11, 2},
    [F_PROTO] = {0, 4, 1},   [F_TCPFLAGS] = {0, 6, 2},   [F_TOS] = {0, 5, 1},
    [F_TTL] = {0, 192, 1},   [F_FLOWLABEL] = {0, 31, 4}, [F_ICMP4] = {0, 32, 2},
    [F_ICMP6] = {0, 139, 2}, [F_PKTS] = {0, 2, 8},       [F_OCTETS] = {0, 1, 8},
    [F_START] = {0, 152, 8}, [F_END] = {0, 153, 8},      [F_IN_IF] = {0, 10, 4},
    [F_OUT_IF] = {0, 14, 4}, [F_FWD] = {0, 89, 1},       [F_SMAC] = {0, 56, 6},
    [F_DMAC] = {0, 80, 6},   [F_ETYPE] = {0, 256, 2},    [F_VLAN] = {0, 58, 2},
    [F_CVLAN] = {0, 245, 2}, [F_POSTVLAN] = {0, 59, 2},  [F_NH4] = {0, 15, 4},
    [F_NH6] = {0, 62, 16},   [F_SMASK4] = {0, 9, 1},     [F_DMASK4] = {0, 13, 1},
    [F_SMASK6] = {0, 29, 1}, [F_DMASK6] = {0, 30, 1},    [F_SRC_AS] = {0, 16, 4},
    [F_DST_AS] = {0, 17, 4}, [F_BGPNH4] = {0, 18, 4},    [F_BGPNH6] = {0, 63, 16},
};

#define TPL_SLOTS    128 /* templates cached by field set (direct-mapped) */
#define MAX_TAGS     4   /* 802.1Q/802.1ad tags walked in an Ethernet header */
#define MAX_EXT_HDRS 8   /* IPv6 extension headers walked */
#define FWD_DROPPED  128 /* forwardingStatus: dropped, unknown reason (RFC 7270) */
#define IF_LOCAL     0x3fffffffu
#define SFLOW_IF_REC 88 /* generic interface counters */
#define MAX_AS_HOPS  1024

struct sf_iface {
    bool used;
    uint8_t family;
    uint8_t addr[16];
    struct s4f_sflow_interface c; /* c.agent points at text */
    char text[INET6_ADDRSTRLEN];
};

struct s4f_sflow {
    struct s4f_tpl *tpl[TPL_SLOTS];
    uint64_t tpl_key[TPL_SLOTS];
    struct sf_iface *ifs; /* open addressing, 2 * max entries */
    uint32_t ifs_cap, nifs;
};

/* One flow sample's elements before packing: raw big-endian values. */
struct sf_flow {
    uint64_t present;
    uint8_t v[F__COUNT][16];
};

static void put_u(struct sf_flow *f, enum sf_field i, uint64_t v)
{
    unsigned n = fdefs[i].len;
    for (unsigned k = 0; k < n; k++)
        f->v[i][k] = (uint8_t)(v >> (8 * (n - 1 - k)));
    f->present |= 1ull << i;
}

static void put_b(struct sf_flow *f, enum sf_field i, const uint8_t *p)
{
    memcpy(f->v[i], p, fdefs[i].len);
    f->present |= 1ull << i;
}

static bool has(const struct sf_flow *f, enum sf_field i)
{
    return f->present & (1ull << i);
}

/* A bounds-checked XDR reader: reading past the end yields zeros and sets bad. */
struct cur {
    const uint8_t *p, *end;
    bool bad;
};

static uint32_t u32(struct cur *c)
{
    if (c->end - c->p < 4) {
        c->bad = true;
        c->p = c->end;
        return 0;
    }
    uint32_t v = s4f_rd32(c->p);
    c->p += 4;
    return v;
}

static uint64_t u64(struct cur *c)
{
    uint64_t hi = u32(c);
    return hi << 32 | u32(c);
}

/* Returns n bytes at the cursor (NULL and bad if fewer are left). */
static const uint8_t *take(struct cur *c, size_t n)
{
    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        c->p = c->end;
        return NULL;
    }
    const uint8_t *r = c->p;
    c->p += n;
    return r;
}

/* An sFlow address (type 1: IPv4, 2: IPv6). Returns the family, 0 if unknown or short. */
static int address(struct cur *c, const uint8_t **a)
{
    uint32_t type = u32(c);
    if (type == 1 && (*a = take(c, 4)))
        return AF_INET;
    if (type == 2 && (*a = take(c, 16)))
        return AF_INET6;
    return 0;
}

/* ---- the sampled packet ---- */

static void parse_l4(struct sf_flow *f, uint8_t proto, bool v6, const uint8_t *p, size_t n)
{
    switch (proto) {
    case 6:   /* TCP */
    case 17:  /* UDP */
    case 132: /* SCTP */
    case 136: /* UDP-Lite */
        if (n < 4)
            return;
        put_u(f, F_SPORT, s4f_rd16(p));
        put_u(f, F_DPORT, s4f_rd16(p + 2));
        if (proto == 6 && n >= 14)
            put_u(f, F_TCPFLAGS, s4f_rd16(p + 12) & 0x0fff);
        return;
    case 1:
    case 58:
        if (n < 2 || (proto == 1) == v6)
            return;
        put_u(f, v6 ? F_ICMP6 : F_ICMP4, (uint32_t)p[0] << 8 | p[1]);
        return;
    default:
        return;
    }
}

static bool parse_ipv4(struct sf_flow *f, const uint8_t *p, size_t n)
{
    if (n < 20 || p[0] >> 4 != 4)
        return false;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20)
        return false;
    put_b(f, F_SRC4, p + 12);
    put_b(f, F_DST4, p + 16);
    put_u(f, F_PROTO, p[9]);
    put_u(f, F_TOS, p[1]);
    put_u(f, F_TTL, p[8]);
    /* Only the first fragment carries the transport header. */
    if ((s4f_rd16(p + 6) & 0x1fff) == 0 && ihl <= n)
        parse_l4(f, p[9], false, p + ihl, n - ihl);
    return true;
}

static bool parse_ipv6(struct sf_flow *f, const uint8_t *p, size_t n)
{
    if (n < 40 || p[0] >> 4 != 6)
        return false;
    uint32_t w = s4f_rd32(p);
    put_u(f, F_TOS, (w >> 20) & 0xff);
    put_u(f, F_FLOWLABEL, w & 0xfffff);
    put_u(f, F_TTL, p[7]);
    put_b(f, F_SRC6, p + 8);
    put_b(f, F_DST6, p + 24);
    uint8_t nh = p[6];
    size_t off = 40;
    bool l4 = true;
    for (int i = 0; i < MAX_EXT_HDRS && off + 8 <= n; i++) {
        size_t hl;
        if (nh == 0 || nh == 43 || nh == 60) /* hop-by-hop, routing, destination options */
            hl = ((size_t)p[off + 1] + 1) * 8;
        else if (nh == 51) /* authentication header */
            hl = ((size_t)p[off + 1] + 2) * 4;
        else if (nh == 44) { /* fragment: only the first carries the transport header */
            hl = 8;
            if (s4f_rd16(p + off + 2) & 0xfff8)
                l4 = false;
        } else
            break;
        nh = p[off];
        off += hl;
    }
    if (nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44)
        l4 = false; /* the extension headers run past the sampled bytes */
    put_u(f, F_PROTO, nh);
    if (l4 && off <= n)
        parse_l4(f, nh, true, p + off, n - off);
    return true;
}

static bool parse_ethernet(struct sf_flow *f, const uint8_t *p, size_t n)
{
    if (n < 14)
        return false;
    put_b(f, F_DMAC, p);
    put_b(f, F_SMAC, p + 6);
    uint16_t type = s4f_rd16(p + 12);
    size_t off = 14;
    for (int tags = 0; (type == 0x8100 || type == 0x88a8 || type == 0x9100) && tags < MAX_TAGS;
         tags++) {
        if (off + 4 > n)
            return false;
        uint16_t vid = s4f_rd16(p + off) & 0x0fff;
        if (tags == 0)
            put_u(f, F_VLAN, vid);
        else if (tags == 1)
            put_u(f, F_CVLAN, vid); /* QinQ: the customer (inner) tag */
        type = s4f_rd16(p + off + 2);
        off += 4;
    }
    put_u(f, F_ETYPE, type);
    if (type == 0x0800)
        return parse_ipv4(f, p + off, n - off);
    if (type == 0x86dd)
        return parse_ipv6(f, p + off, n - off);
    return false;
}

/* ---- flow records ---- */

/* The records of one flow sample that are used, found first and applied in a fixed order. */
struct sf_records {
    struct cur raw, eth, ip4, ip6, sw, rt, gw;
    bool has_raw, has_eth, has_ip4, has_ip6, has_sw, has_rt, has_gw;
};

static bool raw_header(struct sf_flow *f, struct cur *c, uint64_t *octets)
{
    uint32_t proto = u32(c);
    uint32_t frame_len = u32(c);
    u32(c); /* stripped */
    uint32_t hlen = u32(c);
    const uint8_t *h = take(c, hlen);
    if (c->bad)
        return false;
    *octets = frame_len;
    switch (proto) {
    case 1: /* Ethernet */
        return parse_ethernet(f, h, hlen);
    case 11:
        return parse_ipv4(f, h, hlen);
    case 12:
        return parse_ipv6(f, h, hlen);
    default:
        return false;
    }
}

/* Sampled IPv4/IPv6 (records 3 and 4): the agent's decode of the packet. */
static bool sampled_ip(struct sf_flow *f, struct cur *c, bool v6, uint64_t *octets)
{
    uint32_t len = u32(c), proto = u32(c);
    const uint8_t *src = take(c, v6 ? 16 : 4), *dst = take(c, v6 ? 16 : 4);
    uint32_t sport = u32(c), dport = u32(c), flags = u32(c), tos = u32(c);
    if (c->bad)
        return false;
    *octets = len;
    put_b(f, v6 ? F_SRC6 : F_SRC4, src);
    put_b(f, v6 ? F_DST6 : F_DST4, dst);
    put_u(f, F_PROTO, proto & 0xff);
    put_u(f, F_TOS, tos & 0xff);
    if (proto == 6 || proto == 17 || proto == 132) {
        put_u(f, F_SPORT, sport & 0xffff);
        put_u(f, F_DPORT, dport & 0xffff);
        if (proto == 6)
            put_u(f, F_TCPFLAGS, flags & 0x0fff);
    }
    return true;
}

static void ethernet_data(struct sf_flow *f, struct cur *c, uint64_t *octets)
{
    uint32_t len = u32(c);
    const uint8_t *src = take(c, 8), *dst = take(c, 8);
    uint32_t type = u32(c);
    if (c->bad)
        return;
    *octets = len;
    if (!has(f, F_SMAC)) {
        put_b(f, F_SMAC, src);
        put_b(f, F_DMAC, dst);
        put_u(f, F_ETYPE, type & 0xffff);
    }
}

static void extended_switch(struct sf_flow *f, struct cur *c)
{
    uint32_t src_vlan = u32(c);
    u32(c); /* src priority */
    uint32_t dst_vlan = u32(c);
    if (c->bad)
        return;
    /* 0xffffffff (and anything above 4095) is "unknown". */
    if (src_vlan && src_vlan < 4096)
        put_u(f, F_VLAN, src_vlan);
    if (dst_vlan && dst_vlan < 4096)
        put_u(f, F_POSTVLAN, dst_vlan);
}

static void extended_router(struct sf_flow *f, struct cur *c)
{
    const uint8_t *nh = NULL;
    int fam = address(c, &nh);
    uint32_t smask = u32(c), dmask = u32(c);
    if (c->bad || !fam)
        return;
    put_b(f, fam == AF_INET ? F_NH4 : F_NH6, nh);
    bool v6 = has(f, F_SRC6);
    if (smask <= (v6 ? 128u : 32u))
        put_u(f, v6 ? F_SMASK6 : F_SMASK4, smask);
    if (dmask <= (v6 ? 128u : 32u))
        put_u(f, v6 ? F_DMASK6 : F_DMASK4, dmask);
}

static void extended_gateway(struct sf_flow *f, struct cur *c)
{
    const uint8_t *nh = NULL;
    int fam = address(c, &nh);
    u32(c); /* the router's own AS */
    uint32_t src_as = u32(c);
    u32(c); /* src peer AS */
    uint32_t segments = u32(c), dst_as = 0;
    bool have_dst = false;
    for (uint32_t s = 0; s < segments && !c->bad; s++) {
        u32(c); /* segment type: set or sequence */
        uint32_t n = u32(c);
        if (n > MAX_AS_HOPS || (size_t)(c->end - c->p) / 4 < n) {
            c->bad = true;
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            dst_as = u32(c); /* the path's last AS is the destination's */
            have_dst = true;
        }
    }
    if (c->bad || !fam)
        return;
    if (!s4f_all_zero(nh, fam == AF_INET ? 4 : 16))
        put_b(f, fam == AF_INET ? F_BGPNH4 : F_BGPNH6, nh);
    put_u(f, F_SRC_AS, src_as);
    if (have_dst)
        put_u(f, F_DST_AS, dst_as);
}

/* ---- templates by field set ---- */

static struct s4f_tpl *template_for(struct s4f_decoder *dec, uint64_t set)
{
    struct s4f_sflow *sf = dec->sflow;
    uint32_t slot = (uint32_t)((set * 0x9E3779B97F4A7C15ull) >> 57) & (TPL_SLOTS - 1);
    if (sf->tpl[slot] && sf->tpl_key[slot] == set)
        return sf->tpl[slot];
    struct s4f_fspec spec[F__COUNT];
    uint16_t n = 0;
    for (int i = 0; i < F__COUNT; i++)
        if (set & (1ull << i))
            spec[n++] = fdefs[i];
    uint8_t raw[8];
    for (int k = 0; k < 8; k++)
        raw[k] = (uint8_t)(set >> (8 * k));
    struct s4f_tpl *t = s4f_tpl_compile(dec, S4F_VERSION_SFLOW, false, spec, n, 0, raw, 8);
    if (!t)
        return NULL;
    s4f_tpl_release(sf->tpl[slot]);
    sf->tpl[slot] = t;
    sf->tpl_key[slot] = set;
    return t;
}

static struct s4f_sflow *state(struct s4f_decoder *dec)
{
    if (dec->sflow)
        return dec->sflow;
    struct s4f_sflow *sf = calloc(1, sizeof(*sf));
    if (!sf)
        return NULL;
    sf->ifs_cap = 2 * dec->o.max_sflow_interfaces;
    sf->ifs = calloc(sf->ifs_cap, sizeof(*sf->ifs));
    if (!sf->ifs) {
        free(sf);
        return NULL;
    }
    dec->sflow = sf;
    return sf;
}

void s4f_sflow_free(struct s4f_decoder *dec)
{
    struct s4f_sflow *sf = dec->sflow;
    if (!sf)
        return;
    for (int i = 0; i < TPL_SLOTS; i++)
        s4f_tpl_release(sf->tpl[i]);
    free(sf->ifs);
    free(sf);
    dec->sflow = NULL;
}

/* ---- samples ---- */

/* Interface fields of a compact sample: format in the top 2 bits, value in the low 30. */
static void interfaces(struct sf_flow *f, uint32_t in_fmt, uint32_t in, uint32_t out_fmt,
                       uint32_t out)
{
    if (in_fmt == 0 && in != IF_LOCAL)
        put_u(f, F_IN_IF, in);
    if (out_fmt == 0 && out != IF_LOCAL)
        put_u(f, F_OUT_IF, out);
    else if (out_fmt == 1)
        put_u(f, F_FWD, FWD_DROPPED); /* discarded; out holds the reason */
    /* format 2: several output interfaces (broadcast, multicast): none named */
}

static void flow_sample(struct s4f_msg *m, struct cur *c, bool expanded)
{
    struct s4f_decoder *dec = m->dec;
    struct sf_flow f;
    f.present = 0;
    u32(c); /* sample sequence number */
    u32(c); /* source id (expanded: type, index) */
    if (expanded)
        u32(c);
    uint32_t rate = u32(c);
    u32(c); /* sample pool */
    u32(c); /* drops */
    uint32_t in_fmt, in, out_fmt, out;
    if (expanded) {
        in_fmt = u32(c);
        in = u32(c);
        out_fmt = u32(c);
        out = u32(c);
    } else {
        in = u32(c);
        out = u32(c);
        in_fmt = in >> 30;
        out_fmt = out >> 30;
        in &= 0x3fffffff;
        out &= 0x3fffffff;
    }
    uint32_t nrec = u32(c);
    if (c->bad) {
        s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "flow sample shorter than its header");
        return;
    }
    dec->st.sflow_flow_samples++;

    struct sf_records r = {0};
    for (uint32_t i = 0; i < nrec; i++) {
        uint32_t fmt = u32(c), rlen = u32(c);
        const uint8_t *d = take(c, rlen);
        if (c->bad) {
            s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "flow record past its sample");
            return;
        }
        struct cur rc = {d, d + rlen, false};
        switch (fmt) { /* enterprise 0 only: enterprise << 12 | format */
        case 1:
            r.raw = rc, r.has_raw = true;
            break;
        case 2:
            r.eth = rc, r.has_eth = true;
            break;
        case 3:
            r.ip4 = rc, r.has_ip4 = true;
            break;
        case 4:
            r.ip6 = rc, r.has_ip6 = true;
            break;
        case 1001:
            r.sw = rc, r.has_sw = true;
            break;
        case 1002:
            r.rt = rc, r.has_rt = true;
            break;
        case 1003:
            r.gw = rc, r.has_gw = true;
            break;
        default:
            break;
        }
    }

    /* The packet's own header first; the agent's decode of it only when there is none. */
    uint64_t octets = 0;
    bool ip = r.has_raw && raw_header(&f, &r.raw, &octets);
    if (!ip && (r.has_ip4 || r.has_ip6)) {
        f.present &= (1ull << F_SMAC) | (1ull << F_DMAC) | (1ull << F_ETYPE) | (1ull << F_VLAN) |
                     (1ull << F_CVLAN);
        ip = r.has_ip4 ? sampled_ip(&f, &r.ip4, false, &octets)
                       : sampled_ip(&f, &r.ip6, true, &octets);
    }
    if (r.has_eth)
        ethernet_data(&f, &r.eth, r.has_raw || r.has_ip4 || r.has_ip6 ? &(uint64_t){0} : &octets);
    if (r.raw.bad || r.ip4.bad || r.ip6.bad || r.eth.bad)
        s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "flow record shorter than its contents");
    if (!ip) {
        dec->st.sflow_non_ip++;
        return;
    }
    if (r.has_sw)
        extended_switch(&f, &r.sw);
    if (r.has_rt)
        extended_router(&f, &r.rt);
    if (r.has_gw)
        extended_gateway(&f, &r.gw);
    if (r.sw.bad || r.rt.bad || r.gw.bad)
        s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "extended record shorter than its contents");
    interfaces(&f, in_fmt, in, out_fmt, out);
    put_u(&f, F_PKTS, 1);
    put_u(&f, F_OCTETS, octets);
    put_u(&f, F_START, (uint64_t)m->now_ms);
    put_u(&f, F_END, (uint64_t)m->now_ms);

    struct s4f_tpl *t = template_for(dec, f.present);
    if (!t) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "sFlow template");
        return;
    }
    uint8_t rec[F__COUNT * 16];
    uint32_t len = 0;
    for (int i = 0; i < F__COUNT; i++)
        if (has(&f, (enum sf_field)i)) {
            memcpy(rec + len, f.v[i], fdefs[i].len);
            len += fdefs[i].len;
        }
    /* Every sample is one packet in `rate` (0 is not a rate: taken as unsampled). */
    m->hdr_rate = rate ? rate : 1;
    s4f_decode_records(m, t, rec, len);
}

static struct sf_iface *iface_get(struct s4f_msg *m, uint32_t ifindex)
{
    struct s4f_sflow *sf = m->dec->sflow;
    const struct s4f_exporter *e = m->exp;
    uint32_t h = (2166136261u ^ e->family) * 16777619u;
    for (int i = 0; i < 16; i++)
        h = (h ^ e->key[i]) * 16777619u;
    h = (h ^ m->domain_id) * 16777619u;
    h = (h ^ ifindex) * 16777619u;
    for (uint32_t i = 0; i < sf->ifs_cap; i++) {
        struct sf_iface *x = &sf->ifs[(h + i) % sf->ifs_cap];
        if (!x->used) {
            if (sf->nifs >= m->dec->o.max_sflow_interfaces)
                return NULL;
            x->used = true;
            x->family = e->family;
            memcpy(x->addr, e->key, 16);
            memcpy(x->text, e->text, sizeof(x->text));
            x->c.agent = x->text;
            x->c.sub_agent = m->domain_id;
            x->c.ifindex = ifindex;
            sf->nifs++;
            return x;
        }
        if (x->c.ifindex == ifindex && x->c.sub_agent == m->domain_id && x->family == e->family &&
            memcmp(x->addr, e->key, 16) == 0)
            return x;
    }
    return NULL;
}

static void counter_sample(struct s4f_msg *m, struct cur *c, bool expanded)
{
    struct s4f_decoder *dec = m->dec;
    u32(c); /* sequence number */
    u32(c); /* source id (expanded: type, index) */
    if (expanded)
        u32(c);
    uint32_t nrec = u32(c);
    if (c->bad) {
        s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "counter sample shorter than its header");
        return;
    }
    dec->st.sflow_counter_samples++;
    for (uint32_t i = 0; i < nrec; i++) {
        uint32_t fmt = u32(c), rlen = u32(c);
        const uint8_t *d = take(c, rlen);
        if (c->bad) {
            s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "counter record past its sample");
            return;
        }
        if (fmt != 1)
            continue; /* only the generic interface counters are kept */
        if (rlen < SFLOW_IF_REC) {
            s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "interface counters record too short");
            continue;
        }
        struct cur r = {d, d + rlen, false};
        uint32_t ifindex = u32(&r);
        struct sf_iface *x = iface_get(m, ifindex);
        if (!x) {
            dec->st.sflow_interfaces_refused++;
            continue;
        }
        struct s4f_sflow_interface *ifc = &x->c;
        u32(&r); /* ifType */
        ifc->speed = u64(&r);
        u32(&r); /* ifDirection */
        ifc->status = u32(&r) & 3;
        ifc->in_octets = u64(&r);
        ifc->in_packets = (uint64_t)u32(&r) + u32(&r) + u32(&r);
        ifc->in_discards = u32(&r);
        ifc->in_errors = u32(&r);
        u32(&r); /* ifInUnknownProtos */
        ifc->out_octets = u64(&r);
        ifc->out_packets = (uint64_t)u32(&r) + u32(&r) + u32(&r);
        ifc->out_discards = u32(&r);
        ifc->out_errors = u32(&r);
        ifc->updated_ms = m->now_ms;
    }
}

void s4f_decode_sflow_msg(struct s4f_msg *m, const struct sockaddr_storage *from,
                          const uint8_t *buf, size_t len)
{
    struct s4f_decoder *dec = m->dec;
    struct cur c = {buf + 4, buf + len, false};
    const uint8_t *agent = NULL;
    int fam = address(&c, &agent);
    if (!fam) {
        s4f_count_err(m, c.bad ? S4F_DR_SHORT_HEADER : S4F_DR_SFLOW_AGENT,
                      "agent address type not IPv4 or IPv6, or short");
        m->rejected = true;
        return;
    }
    uint32_t sub_agent = u32(&c), seq = u32(&c), uptime = u32(&c), nsamples = u32(&c);
    if (c.bad) {
        s4f_count_err(m, S4F_DR_SHORT_HEADER, "datagram shorter than its header");
        m->rejected = true;
        return;
    }
    if (!state(dec)) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "sFlow state");
        m->rejected = true;
        return;
    }
    /* The exporter is the agent (and the sender's port, as for NetFlow: two agents behind one
     * address never share state). */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    uint16_t port = 0;
    if (from && from->ss_family == AF_INET)
        port = ((const struct sockaddr_in *)from)->sin_port;
    else if (from && from->ss_family == AF_INET6)
        port = ((const struct sockaddr_in6 *)from)->sin6_port;
    if (fam == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = port;
        memcpy(&s4->sin_addr, agent, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = port;
        memcpy(&s6->sin6_addr, agent, 16);
    }
    m->exp = s4f_exporter_get(dec, &ss);
    if (!m->exp) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "exporter");
        m->rejected = true;
        return;
    }
    m->exp_addr = NULL; /* records name the agent, not the sender */
    m->exp->datagrams++;
    m->exp->version = m->version;
    m->exp->last_seen_ms = m->now_ms;
    m->domain_id = sub_agent;
    m->sysup_ms = uptime;
    m->unix_ms = m->now_ms;
    m->dom = s4f_domain_get(m, sub_agent);
    if (!m->dom)
        return;
    s4f_seq_check(m, seq);
    uint32_t i;
    for (i = 0; i < nsamples && c.p < c.end; i++) {
        uint32_t type = u32(&c), slen = u32(&c);
        const uint8_t *d = take(&c, slen);
        if (c.bad)
            break;
        struct cur sc = {d, d + slen, false};
        switch (type) { /* enterprise 0 only: enterprise << 12 | format */
        case 1:
        case 3:
            flow_sample(m, &sc, type == 3);
            break;
        case 2:
        case 4:
            counter_sample(m, &sc, type == 4);
            break;
        default:
            dec->st.sflow_skipped++;
            break;
        }
    }
    /* Bytes after the announced samples are ignored; fewer samples than announced are not. */
    if (i < nsamples)
        s4f_count_err(m, S4F_DR_SFLOW_LENGTH, "fewer samples than the datagram announces");
    s4f_seq_advance(m, seq + 1);
}

size_t s4f_decoder_foreach_sflow_interface(const struct s4f_decoder *dec, s4f_sflow_interface_cb cb,
                                           void *ctx)
{
    const struct s4f_sflow *sf = dec->sflow;
    size_t n = 0;
    for (uint32_t i = 0; sf && i < sf->ifs_cap; i++)
        if (sf->ifs[i].used && sf->ifs[i].c.updated_ms) {
            n++;
            if (cb)
                cb(ctx, &sf->ifs[i].c);
        }
    return n;
}
