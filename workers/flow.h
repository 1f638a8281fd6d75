/* Flow records as the worker sees them, and the reader that turns the collector's flat JSON
 * (`ipfix.entry`) into them.
 *
 * The reader is purpose-built for the flat objects the collector writes: one pass, no
 * allocation, no tree. It still validates everything it uses, because the topic is fed by the
 * network: a record that is not a JSON object, whose addresses do not parse, whose counters are
 * negative, fractional or overflow, or that lacks a required key is refused (S4F_ERR) and the
 * caller counts it. Unknown keys are skipped whatever their value (nested values up to
 * S4F_FLOW_MAX_DEPTH), so the collector may add fields without breaking workers.
 *
 * Required keys: a source and destination address (both IPv4 or both IPv6),
 * ipfix.protocolIdentifier and ipfix.flowEndMilliseconds. Optional (0 when absent): ports,
 * ipfix.tcpControlBits, ipfix.packetDeltaCount, ipfix.octetDeltaCount,
 * ipfix.flowStartMilliseconds (the end time when absent). A repeated key: the last one wins,
 * as in most JSON readers.
 *
 * Biflows (RFC 5103): ipfix.reversePacketDeltaCount, ipfix.reverseOctetDeltaCount and
 * ipfix.reverseTcpControlBits, the traffic from the destination to the source, go to
 * rev_packets / rev_bytes / rev_tcp_flags (0 when absent). Analyses count that direction as
 * a flow from destination to source when rev_packets > 0 (docs/worker.md, Biflows).
 *
 * Application-layer DNS fields of both probe families are mapped onto one set (struct
 * s4f_dns; docs/worker.md "Application-layer fields"): Flowmon's ipfix.DNSName,
 * ipfix.DNSFlagsCodes, ipfix.DNSQType, ipfix.DNSCrrName, ipfix.DNSCrrType, ipfix.DNSRData,
 * ipfix.DNSAnswers and ipfixprobe's ipfix.DNS_NAME, ipfix.DNS_RCODE, ipfix.DNS_QTYPE,
 * ipfix.DNS_ATYPE, ipfix.DNS_RDATA, ipfix.DNS_ANSWERS. An analysis never needs to know which
 * probe sent the flow. Names are decoded from JSON into valid UTF-8 without NUL (anything else
 * becomes U+FFFD) and cut at S4F_DNS_TEXT_MAX bytes (flagged S4F_DNS_TRUNCATED).
 *
 * Records the worker itself repartitioned (what host_stats' second stage reads, see
 * docs/worker.md) are not JSON but fixed binary routed records (s4f_flow_encode_routed and
 * s4f_flow_decode_routed below); decoded, they set side (which address the record is routed
 * for), src_partition and src_offset (where the flow was read in the input topic: the second
 * stage drops replayed duplicates by them) and src_gap. s4f_flow_parse still reads those as
 * the JSON keys s4f.r.side, s4f.r.partition and s4f.r.offset, which earlier versions wrote.
 * Absent elsewhere: 0. */
#ifndef S4F_FLOW_H
#define S4F_FLOW_H

#include "s4f.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define S4F_FLOW_MAX_DEPTH 16
/* Longest record accepted; the collector's records are well under 1 KiB. */
#define S4F_FLOW_MAX_LEN (64 * 1024)

/* TCP flag bits as in tcpControlBits (RFC 7125). */
enum {
    S4F_TCP_FIN = 0x01,
    S4F_TCP_SYN = 0x02,
    S4F_TCP_RST = 0x04,
    S4F_TCP_PSH = 0x08,
    S4F_TCP_ACK = 0x10,
    S4F_TCP_URG = 0x20,
    S4F_TCP_ECE = 0x40,
    S4F_TCP_CWR = 0x80,
};

enum {
    S4F_SIDE_ANY = 0, /* a record as the collector wrote it */
    S4F_SIDE_SRC = 1, /* routed for its source address */
    S4F_SIDE_DST = 2, /* routed for its destination address */
    /* A watermark mark (routed v2, no flow): how far its source partition's event time has
     * come, see s4f_flow_encode_mark(). */
    S4F_SIDE_MARK = 3,
};

/* An address in a fixed 16-byte form: IPv4 in the first 4 bytes (the rest zero), so that
 * hashing and comparing need no branch on the family. */
struct s4f_addr {
    uint8_t b[16];
    uint8_t family; /* 4 or 6 */
};

/* The longest DNS name is 253 characters; longer text is hostile or not a name. */
#define S4F_DNS_TEXT_MAX 255

enum {
    S4F_DNS_PRESENT = 0x01,    /* the record carries a DNS name (DNSName or DNS_NAME) */
    S4F_DNS_RESPONSE = 0x02,   /* a response: Flowmon's QR bit; ipfixprobe: source port 53 */
    S4F_DNS_RDATA_ADDR = 0x04, /* rdata_addr is the answer's address (type A or AAAA) */
    S4F_DNS_TRUNCATED = 0x08,  /* a name or the data was cut at S4F_DNS_TEXT_MAX bytes */
    S4F_DNS_HAS_RDATA = 0x10,  /* the record carries answer data (rdata may still be "") */
};

struct s4f_dns {
    uint8_t flags; /* S4F_DNS_* */
    uint8_t rcode; /* Flowmon: DNSFlagsCodes & 15; ipfixprobe: DNS_RCODE */
    uint16_t qtype;
    uint16_t crr_type; /* type of the first answer (ipfixprobe: DNS_ATYPE, else DNS_QTYPE) */
    uint16_t answers;
    uint16_t name_len, crr_name_len, rdata_len;
    struct s4f_addr rdata_addr; /* with S4F_DNS_RDATA_ADDR */
    /* NUL-terminated text; crr_name is the name when the probe has no answer name; rdata is
     * the address text for A/AAAA, else the data as text (as the original's converter did). */
    char name[S4F_DNS_TEXT_MAX + 1], crr_name[S4F_DNS_TEXT_MAX + 1], rdata[S4F_DNS_TEXT_MAX + 1];
};

/* TLS and HTTP fields of both probe families (docs/worker.md "Application-layer fields"):
 * Flowmon's ipfix.TLSClientCipherSuites (octetArray, kept as exported: two bytes a suite, in
 * the probe's byte order, padding included), ipfix.TLSJA3 (Flowmon and ipfixprobe, 16 bytes),
 * ipfixprobe's ipfix.TLS_JA4 and ipfix.TLS_SNI, and ipfix.HTTPRequestHost (both). Text is
 * decoded like DNS names (valid UTF-8, no NUL, cut at S4F_APP_TEXT_MAX bytes: flagged). */
#define S4F_TLS_SUITES_MAX 128 /* bytes of cipher suites kept (64 suites) */
#define S4F_APP_TEXT_MAX   255

enum {
    S4F_APP_SUITES = 0x01,    /* suites[0..suites_len) (the value was "0x" + even hex) */
    S4F_APP_JA3 = 0x02,       /* ja3 holds the 16-byte MD5 */
    S4F_APP_JA4 = 0x04,       /* ja4 text (non-empty) */
    S4F_APP_SNI = 0x08,       /* sni text (non-empty) */
    S4F_APP_HTTP_HOST = 0x10, /* http_host text (non-empty) */
    S4F_APP_TRUNCATED = 0x20, /* a value was cut (suites past S4F_TLS_SUITES_MAX, long text) */
    S4F_APP_MALFORMED = 0x40, /* a suites or JA3 value that is not what a probe sends: ignored */
};

struct s4f_app {
    uint8_t flags; /* S4F_APP_* */
    uint8_t ja3[16];
    uint16_t suites_len, ja4_len, sni_len, http_host_len;
    /* Last: not cleared per record (s4f_flow_clear()). */
    uint8_t suites[S4F_TLS_SUITES_MAX];
    char ja4[S4F_APP_TEXT_MAX + 1], sni[S4F_APP_TEXT_MAX + 1], http_host[S4F_APP_TEXT_MAX + 1];
};

/* The collector's GeoIP enrichment of one address (docs/worker.md "GeoIP fields"):
 * s4f.src_country / s4f.src_as / s4f.src_as_org and the dst_ ones. An AS organisation is
 * decoded like DNS names and cut at S4F_AS_ORG_MAX bytes. */
#define S4F_AS_ORG_MAX 96
struct s4f_geo {
    char country[4]; /* ISO 3166 code, "" when absent (anything but 2-3 letters or digits) */
    uint32_t asn;    /* 0 when absent */
    uint16_t org_len;
};

struct s4f_flow {
    struct s4f_addr src, dst;
    uint16_t sport, dport;
    uint8_t proto;
    uint16_t tcp_flags;
    uint64_t packets, bytes;
    int64_t start_ms, end_ms;
    uint8_t side;          /* S4F_SIDE_* */
    int32_t src_partition; /* repartitioned records: where the flow was read */
    int64_t src_offset;
    /* Routed v2: the record claims that input offsets (src_offset - src_gap, src_offset) of
     * its source partition routed nothing else to its repartition partition and side, so a
     * record missing there (a failed write) shows as a gap (0: no claim). */
    uint32_t src_gap;
    /* Marks (side S4F_SIDE_MARK): end_ms is the source partition's watermark; mark_idle: the
     * partition had no record for the idle timeout (it holds nobody back); packets and bytes
     * are 1 + the input offset of the last record routed to this repartition partition for
     * the source and destination side (0: none since the writer began). */
    bool mark_idle;
    int64_t mark_from;               /* marks: the input offset the writer's claims start at */
    uint64_t rev_packets, rev_bytes; /* biflow: destination to source */
    uint16_t rev_tcp_flags;          /* biflow: reverseTcpControlBits */
    struct s4f_geo src_geo, dst_geo; /* the collector's GeoIP fields */
    /* Last: the text buffers are not cleared per record (s4f_flow_clear()). */
    struct s4f_dns dns;
    struct s4f_app app;
    char src_as_org[S4F_AS_ORG_MAX + 1], dst_as_org[S4F_AS_ORG_MAX + 1]; /* NUL-terminated */
};

/* Resets a flow without touching the text buffers (only their lengths and terminators). */
static inline void s4f_flow_clear(struct s4f_flow *f)
{
    memset(f, 0, offsetof(struct s4f_flow, dns) + offsetof(struct s4f_dns, name));
    f->dns.name[0] = f->dns.crr_name[0] = f->dns.rdata[0] = '\0';
    memset(&f->app, 0, offsetof(struct s4f_app, suites));
    f->app.ja4[0] = f->app.sni[0] = f->app.http_host[0] = '\0';
    f->src_as_org[0] = f->dst_as_org[0] = '\0';
}

/* Parses one record. buf need not be terminated. S4F_OK or S4F_ERR (*why, if non-NULL, gets a
 * static string naming the reason: for the rate-limited log). */
enum s4f_status s4f_flow_parse(const char *buf, size_t len, struct s4f_flow *out, const char **why);

/* Routed records: what host_stats' first stage writes to the repartition topic, one per local
 * side of a flow. A fixed binary layout (docs/worker.md), all integers little-endian,
 * by byte offset:
 *
 *    0  "S4R", version 3
 *    4  side, address family, protocol, flags (mark: idle; flow: S4F_ROUTED_DNS_A)
 *    8  TCP flags, source port, destination port, reverse TCP flags (u16 each; version 2: 0)
 *   16  input partition (u32), claim (u32, see src_gap)
 *   24  input offset, packets, bytes, start ms, end ms (u64/i64 each)
 *   64  source address, 80 destination address (16 bytes each, IPv4 in the first 4)
 *   96  reverse packets, reverse bytes (u64 each: a biflow's destination-to-source counters,
 *       0 for uniflows)
 *
 * Version 4 is version 3 followed by the GeoIP fields of the routed side's address (the
 * collector's s4f.src_country... of that side), S4F_ROUTED_GEO_LEN bytes:
 *  112  country (4 bytes, NUL-padded), AS number (u32), organisation length (u8), 3 zero bytes
 *  124  organisation (S4F_AS_ORG_MAX bytes, zero after its length)
 * A writer writes version 4 only for a flow whose routed side has GeoIP fields; records of both
 * versions may share a message (each record's version byte gives its length).
 *
 * A mark (side S4F_SIDE_MARK) uses the same frame: 32 and 40 hold the last offsets routed per
 * side, 48 and 56 the watermark, 64 the offset the claims start at (s4f_flow_encode_mark).
 *
 * Versions 1 and 2 (earlier workers) are the first 96 bytes, without the reverse counters; the
 * decoder reads them too, and a message of packed records is all of one version (one writer).
 *
 * A sixth of the input's JSON: less to write, to store, to fetch, and nothing to parse. The
 * decoder validates it all (length, magic, side, family, reserved bytes, ranges): the topic
 * is writable by anyone with access to the broker. */
#define S4F_ROUTED_LEN     112
#define S4F_ROUTED_LEN_V2  96
#define S4F_ROUTED_GEO_LEN (12 + S4F_AS_ORG_MAX)
#define S4F_ROUTED_LEN_V4  (S4F_ROUTED_LEN + S4F_ROUTED_GEO_LEN)
#define S4F_ROUTED_MAX     S4F_ROUTED_LEN_V4
/* The length of the routed record at buf, from its version byte (versions 1 and 2: 96 bytes,
 * 3: 112, 4: 220); a message of packed records is walked record by record with it. */
static inline size_t s4f_routed_len(const char *buf, size_t len)
{
    return len < 4       ? S4F_ROUTED_LEN_V2
           : buf[3] == 4 ? S4F_ROUTED_LEN_V4
           : buf[3] == 3 ? S4F_ROUTED_LEN
                         : S4F_ROUTED_LEN_V2;
}
/* Byte 7 of a flow record: the record is a DNS response with an A answer over IPv4, whose
 * address is in bytes 68-71 (the unused part of the IPv4 source address; 0 otherwise). */
#define S4F_ROUTED_DNS_A 0x01

/* n bytes of v little-endian at p, and back: the worker's binary records (routed records,
 * changelog records) are defined byte by byte, whatever the host's byte order. */
static inline void s4f_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t s4f_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
/* Routed records in one Kafka message (packed back to back): a writer flushes at
 * S4F_ROUTED_PACK, except that the records one packed input message routes to one partition
 * (up to two per flow) are never split, so a reader takes up to S4F_ROUTED_PACK_MAX. */
#define S4F_ROUTED_PACK     64
#define S4F_ROUTED_PACK_MAX (S4F_ROUTED_PACK + 2 * S4F_PACKED_MAX_FLOWS)

/* Writes the routed record of f's side at out (room for S4F_ROUTED_MAX bytes): version 4 when
 * that side has GeoIP fields, else version 3. Returns its length. */
size_t s4f_flow_encode_routed(const struct s4f_flow *f, uint8_t side, int32_t partition,
                              int64_t offset, uint8_t *out);
/* The claim of a routed record (see src_gap), set after encoding. */
static inline void s4f_routed_set_gap(uint8_t rec[S4F_ROUTED_LEN], uint32_t gap)
{
    s4f_put_le(rec + 20, gap, 4);
}
/* A watermark mark of source partition `partition`, read up to `offset`: wm_ms its largest
 * event time (> 0), last_src/last_dst 1 + the offset of the last record routed to the
 * destination repartition partition for each side (0: none), from the input offset the
 * writer's claims start at. */
void s4f_flow_encode_mark(int32_t partition, int64_t offset, int64_t wm_ms, bool idle,
                          int64_t last_src, int64_t last_dst, int64_t from,
                          uint8_t out[S4F_ROUTED_LEN]);
/* S4F_OK or S4F_ERR (with *why as for s4f_flow_parse). A record starting with '{' is read as
 * JSON with the s4f.r.* keys (what earlier versions wrote), so an upgrade mid-stream loses
 * nothing. */
enum s4f_status s4f_flow_decode_routed(const char *buf, size_t len, struct s4f_flow *out,
                                       const char **why);

/* Packed flow messages: what the collector writes with `output_format: packed`, many flows in
 * one Kafka message (docs/packed-format.md has the field table). All integers little-endian.
 *
 * Message: "S4P", version 1, record count (u16, 1 to S4F_PACKED_MAX_FLOWS), 2 zero bytes, then
 * the records back to back; the message ends where its last record ends.
 *
 * Record: length (u16, the whole record), flags (u8, S4F_PK_*), protocol (u8), TCP flags,
 * source port, destination port (u16 each), packets, bytes, start ms, end ms (u64 each), the
 * source and destination addresses (4 bytes each, 16 with S4F_PK_IPV6), then per flag in this
 * order: reverse packets, reverse bytes (u64), reverse TCP flags (u16); the source's, then the
 * destination's GeoIP block: country (4 bytes, NUL-padded), AS number (u32), organisation
 * (u8 length, text); the DNS block; the application block (docs/packed-format.md).
 *
 * Not the routed records above: those carry one side's GeoIP fields and no DNS, TLS or HTTP
 * fields, and 24 bytes of routing a collector has none of. A record holds everything struct
 * s4f_flow holds, so an analysis sees the same flow from either format. The reader validates
 * as strictly as the JSON reader (ranges, families, UTF-8 text without NUL, every length,
 * reserved bits), and a message is taken whole or refused whole. */
#define S4F_PACKED_MAGIC     "S4P\x01"
#define S4F_PACKED_HDR_LEN   8
#define S4F_PACKED_MAX_FLOWS 1024
/* Largest message accepted (well under Kafka's default message.max.bytes). */
#define S4F_PACKED_MAX_LEN (512 * 1024)
/* Longest record: every optional block present with every text at its longest. */
#define S4F_PACKED_REC_MAX 2048

enum {
    S4F_PK_IPV6 = 0x01,
    S4F_PK_BIFLOW = 0x02,  /* reverse counters and flags follow the addresses */
    S4F_PK_SRC_GEO = 0x04, /* the source's GeoIP block */
    S4F_PK_DST_GEO = 0x08, /* the destination's */
    S4F_PK_DNS = 0x10,     /* the DNS block */
    S4F_PK_APP = 0x20,     /* the TLS/HTTP block */
};

/* Writes the message header for count records at out (S4F_PACKED_HDR_LEN bytes). */
void s4f_packed_header(uint8_t *out, uint16_t count);
/* Writes f's packed record at out (room for S4F_PACKED_REC_MAX bytes). Returns its length. */
size_t s4f_packed_encode(const struct s4f_flow *f, uint8_t *out);

/* Reading a message: open() checks the header, next() decodes one record after the other. */
struct s4f_packed_iter {
    const uint8_t *p, *end;
    size_t left; /* records still to read */
};
/* S4F_OK, or S4F_ERR with *why (as for s4f_flow_parse); *count gets the header's count (0
 * when the header itself is bad). */
enum s4f_status s4f_packed_open(const char *buf, size_t len, struct s4f_packed_iter *it,
                                size_t *count, const char **why);
/* 1: the next flow is in out; 0: the message is read to its end; -1: malformed (*why). */
int s4f_packed_next(struct s4f_packed_iter *it, struct s4f_flow *out, const char **why);
/* Validates a whole message (scratch: any flow, overwritten). S4F_OK or S4F_ERR (*why);
 * *count as for open(). */
enum s4f_status s4f_packed_check(const char *buf, size_t len, struct s4f_flow *scratch,
                                 size_t *count, const char **why);
/* Whether a message is packed rather than JSON (JSON starts with '{', possibly after white
 * space; packed with its magic). */
static inline bool s4f_is_packed(const char *buf, size_t len)
{
    return len >= 3 && memcmp(buf, "S4P", 3) == 0;
}

/* Address text ("10.0.0.1", "2001:db8::1") into buf (at least 46 bytes). Returns buf. */
char *s4f_addr_str(const struct s4f_addr *a, char *buf, size_t len);
/* Parses address text; 0 or -1. */
int s4f_addr_parse(const char *s, size_t len, struct s4f_addr *out);
bool s4f_addr_eq(const struct s4f_addr *a, const struct s4f_addr *b);
uint64_t s4f_addr_hash(const struct s4f_addr *a);

/* An IPv4 or IPv6 prefix ("10.0.0.0/8", "2001:db8::/32"). */
struct s4f_cidr {
    struct s4f_addr net;
    int bits;
};
int s4f_cidr_parse(const char *s, struct s4f_cidr *out);
bool s4f_cidr_contains(const struct s4f_cidr *c, const struct s4f_addr *a);

#endif
