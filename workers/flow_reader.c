/* The flat-record reader: see flow.h for what it accepts. Written as a small recursive-descent
 * scanner over the buffer (bounded by len, never by a terminator) that only decodes the values
 * of the keys it knows and skips the rest with full JSON validation. */
#include "flow.h"

#include "json.h"

#include <arpa/inet.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const char *p, *end;
    const char *why;
};

enum key_id {
    K_UNKNOWN = 0,
    K_SRC4,
    K_DST4,
    K_SRC6,
    K_DST6,
    K_SPORT,
    K_DPORT,
    K_PROTO,
    K_FLAGS,
    K_PACKETS,
    K_BYTES,
    K_START,
    K_END,
    K_SIDE,
    K_SRC_PART,
    K_SRC_OFF,
    K_RPACKETS,
    K_RBYTES,
    K_RFLAGS,
    /* Flowmon (PEN 39499) */
    K_FM_NAME,
    K_FM_FLAGS,
    K_FM_QTYPE,
    K_FM_CRRNAME,
    K_FM_CRRTYPE,
    K_FM_RDATA,
    K_FM_ANSWERS,
    /* ipfixprobe (PEN 8057) */
    K_XP_NAME,
    K_XP_RCODE,
    K_XP_QTYPE,
    K_XP_ATYPE,
    K_XP_RDATA,
    K_XP_ANSWERS,
    /* TLS and HTTP (struct s4f_app) */
    K_FM_SUITES,
    K_JA3,
    K_XP_JA4,
    K_XP_SNI,
    K_HTTP_HOST,
    /* The collector's GeoIP fields */
    K_SRC_COUNTRY,
    K_DST_COUNTRY,
    K_SRC_AS,
    K_DST_AS,
    K_SRC_AS_ORG,
    K_DST_AS_ORG,
    K_COUNT /* at most 64: `seen` is a 64-bit mask */
};
_Static_assert(K_COUNT <= 64, "seen is a 64-bit mask");

#define KEY(name, id)                                                                              \
    {                                                                                              \
        name, sizeof(name) - 1, id                                                                 \
    }
static const struct {
    const char *name;
    size_t len;
    enum key_id id;
} keys[] = {
    KEY("ipfix.sourceIPv4Address", K_SRC4),
    KEY("ipfix.destinationIPv4Address", K_DST4),
    KEY("ipfix.sourceIPv6Address", K_SRC6),
    KEY("ipfix.destinationIPv6Address", K_DST6),
    KEY("ipfix.sourceTransportPort", K_SPORT),
    KEY("ipfix.destinationTransportPort", K_DPORT),
    KEY("ipfix.protocolIdentifier", K_PROTO),
    KEY("ipfix.tcpControlBits", K_FLAGS),
    KEY("ipfix.packetDeltaCount", K_PACKETS),
    KEY("ipfix.octetDeltaCount", K_BYTES),
    KEY("ipfix.flowStartMilliseconds", K_START),
    KEY("ipfix.flowEndMilliseconds", K_END),
    KEY("ipfix.reversePacketDeltaCount", K_RPACKETS),
    KEY("ipfix.reverseOctetDeltaCount", K_RBYTES),
    KEY("ipfix.reverseTcpControlBits", K_RFLAGS),
    KEY("ipfix.DNSName", K_FM_NAME),
    KEY("ipfix.DNSFlagsCodes", K_FM_FLAGS),
    KEY("ipfix.DNSQType", K_FM_QTYPE),
    KEY("ipfix.DNSCrrName", K_FM_CRRNAME),
    KEY("ipfix.DNSCrrType", K_FM_CRRTYPE),
    KEY("ipfix.DNSRData", K_FM_RDATA),
    KEY("ipfix.DNSAnswers", K_FM_ANSWERS),
    KEY("ipfix.DNS_NAME", K_XP_NAME),
    KEY("ipfix.DNS_RCODE", K_XP_RCODE),
    KEY("ipfix.DNS_QTYPE", K_XP_QTYPE),
    KEY("ipfix.DNS_ATYPE", K_XP_ATYPE),
    KEY("ipfix.DNS_RDATA", K_XP_RDATA),
    KEY("ipfix.DNS_ANSWERS", K_XP_ANSWERS),
    KEY("ipfix.TLSClientCipherSuites", K_FM_SUITES),
    KEY("ipfix.TLSJA3", K_JA3),
    KEY("ipfix.TLS_JA4", K_XP_JA4),
    KEY("ipfix.TLS_SNI", K_XP_SNI),
    KEY("ipfix.HTTPRequestHost", K_HTTP_HOST),
};

/* The worker's own keys on repartitioned records (see engine.c): same "prefix." length. */
static const struct {
    const char *name;
    size_t len;
    enum key_id id;
} s4f_keys[] = {
    KEY("s4f.r.side", K_SIDE),
    KEY("s4f.r.partition", K_SRC_PART),
    KEY("s4f.r.offset", K_SRC_OFF),
};

/* The collector's enrichment keys ("s4f." but not "s4f.r."). */
static const struct {
    const char *name;
    size_t len;
    enum key_id id;
} geo_keys[] = {
    KEY("s4f.src_country", K_SRC_COUNTRY), KEY("s4f.dst_country", K_DST_COUNTRY),
    KEY("s4f.src_as", K_SRC_AS),           KEY("s4f.dst_as", K_DST_AS),
    KEY("s4f.src_as_org", K_SRC_AS_ORG),   KEY("s4f.dst_as_org", K_DST_AS_ORG),
};

static int fail(struct rd *r, const char *why)
{
    if (!r->why)
        r->why = why;
    return -1;
}

/* The collector writes no whitespace: the first test settles almost every call. */
static inline void ws(struct rd *r)
{
    if (r->p < r->end && (unsigned char)*r->p > ' ')
        return;
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Scans a string starting at the opening quote. Its raw contents are [*s, *s + *n); when the
 * string has escapes and out is given, the decoded text (ASCII escapes only: anything else
 * cannot be one of our keys or an address) goes to out and *s points there; if it does not
 * fit, *n is set to outlen (longer than any name we know). */
#if !defined(__SSE2__)
/* Without SSE2, eight bytes at a time: a mask with the high bit set in the first byte that is
 * a quote, a backslash or a control character (bits above the first may be spurious: borrows
 * run upwards, so only the lowest flagged byte is used). Strings are most of a record's
 * bytes. */
static inline uint64_t swar_special(uint64_t x)
{
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t q = x ^ (lo * '"'), b = x ^ (lo * '\\');
    return (((q - lo) & ~q) | ((b - lo) & ~b) | ((x - lo * 0x20) & ~x)) & hi;
}
#endif

static int scan_string(struct rd *r, const char **s, size_t *n, char *out, size_t outlen)
{
    r->p++; /* the quote */
    const char *start = r->p;
    int escaped = 0;
#if defined(__SSE2__)
    /* Sixteen bytes at a time. The signed compare also flags bytes >= 0x80 (UTF-8): the
     * byte loop below takes those one by one and the fast path resumes after them. */
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    for (;;) {
        while (r->end - r->p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)r->p);
            __m128i m =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                             _mm_cmplt_epi8(x, space));
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (bits) {
                r->p += __builtin_ctz(bits);
                break;
            }
            r->p += 16;
        }
        if (r->p < r->end && (unsigned char)*r->p >= 0x80) {
            r->p++;
            continue;
        }
        break;
    }
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (r->end - r->p >= 8) {
        uint64_t x;
        memcpy(&x, r->p, 8);
        uint64_t m = swar_special(x);
        if (m) {
            r->p += __builtin_ctzll(m) / 8;
            break;
        }
        r->p += 8;
    }
#endif
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20)
            return fail(r, "control character in string");
        if (c == '\\') {
            escaped = 1;
            r->p++;
            if (r->p >= r->end)
                return fail(r, "truncated escape");
            char e = *r->p;
            if (e == 'u') {
                if (r->end - r->p < 5)
                    return fail(r, "truncated \\u escape");
                for (int i = 1; i <= 4; i++)
                    if (s4f_hexval(r->p[i]) < 0)
                        return fail(r, "bad \\u escape");
                r->p += 4;
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return fail(r, "bad escape");
            }
        }
        r->p++;
    }
    if (r->p >= r->end)
        return fail(r, "unterminated string");
    const char *stop = r->p;
    r->p++; /* closing quote */
    if (!escaped || !out) {
        *s = start;
        *n = (size_t)(stop - start);
        return 0;
    }
    size_t o = 0;
    for (const char *q = start; q < stop; q++) {
        char c = *q;
        if (c == '\\') {
            q++;
            switch (*q) {
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                int v = (s4f_hexval(q[1]) << 12) | (s4f_hexval(q[2]) << 8) |
                        (s4f_hexval(q[3]) << 4) | s4f_hexval(q[4]);
                q += 4;
                /* Non-ASCII cannot match a name we look for: make sure it does not. */
                c = v < 0x80 && v > 0 ? (char)v : '\x01';
                break;
            }
            default:
                c = *q;
                break;
            }
        }
        if (o == outlen) {
            *s = out;
            *n = outlen;
            return 0;
        }
        out[o++] = c;
    }
    *s = out;
    *n = o;
    return 0;
}

/* Skips a JSON number, validating its grammar. */
static int skip_number(struct rd *r)
{
    const char *e = s4f_json_number_end(r->p, r->end);
    if (!e)
        return fail(r, "bad number");
    r->p = e;
    return 0;
}

static int skip_value(struct rd *r, int depth);

static int skip_container(struct rd *r, int depth, char close)
{
    if (depth >= S4F_FLOW_MAX_DEPTH)
        return fail(r, "nested too deep");
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            const char *s;
            size_t n;
            ws(r);
            if (r->p >= r->end || *r->p != '"')
                return fail(r, "expected key");
            if (scan_string(r, &s, &n, NULL, 0) != 0)
                return -1;
            ws(r);
            if (r->p >= r->end || *r->p != ':')
                return fail(r, "expected ':'");
            r->p++;
        }
        if (skip_value(r, depth + 1) != 0)
            return -1;
        ws(r);
        if (r->p >= r->end)
            return fail(r, "truncated");
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == close) {
            r->p++;
            return 0;
        }
        return fail(r, "expected ',' or end of container");
    }
}

static int literal(struct rd *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return fail(r, "bad literal");
    r->p += n;
    return 0;
}

static int skip_value(struct rd *r, int depth)
{
    ws(r);
    if (r->p >= r->end)
        return fail(r, "missing value");
    switch (*r->p) {
    case '"': {
        const char *s;
        size_t n;
        return scan_string(r, &s, &n, NULL, 0);
    }
    case '{':
        return skip_container(r, depth, '}');
    case '[':
        return skip_container(r, depth, ']');
    case 't':
        return literal(r, "true");
    case 'f':
        return literal(r, "false");
    case 'n':
        return literal(r, "null");
    default:
        return skip_number(r);
    }
}

/* A non-negative JSON integer no larger than max. */
static int read_uint(struct rd *r, uint64_t max, uint64_t *out)
{
    ws(r);
    const char *p = r->p;
    uint64_t v = 0;
    if (p >= r->end || *p < '0' || *p > '9')
        return fail(r, "expected a non-negative integer");
    if (*p == '0' && p + 1 < r->end && p[1] >= '0' && p[1] <= '9')
        return fail(r, "leading zero");
    while (p < r->end && *p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fail(r, "integer overflow");
        v = v * 10 + d;
        p++;
    }
    if (p < r->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return fail(r, "expected an integer");
    if (v > max)
        return fail(r, "integer out of range");
    r->p = p;
    *out = v;
    return 0;
}

/* Dotted-quad IPv4 as inet_pton accepts it (four decimal parts, 0-255, no leading zeros
 * beyond a single 0), without the copy and the libc call: most addresses are IPv4. 0 or -1
 * (not a dotted quad: the caller tries inet_pton). */
static int parse_v4(const char *s, size_t len, uint8_t b[4])
{
    const char *p = s, *end = s + len;
    for (int i = 0; i < 4; i++) {
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        unsigned v = 0;
        const char *start = p;
        while (p < end && *p >= '0' && *p <= '9' && p - start < 3)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (v > 255 || (p - start > 1 && *start == '0'))
            return -1;
        b[i] = (uint8_t)v;
        if (i < 3) {
            if (p >= end || *p != '.')
                return -1;
            p++;
        }
    }
    return p == end ? 0 : -1;
}

int s4f_addr_parse(const char *s, size_t len, struct s4f_addr *out)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    if (len >= 7 && len <= 15) {
        /* Most addresses are IPv4: try the dotted quad first (it stops at a ':'). */
        memset(out, 0, sizeof(*out));
        if (parse_v4(s, len, out->b) == 0) {
            out->family = 4;
            return 0;
        }
        if (!memchr(s, ':', len))
            return -1;
    }
    if (len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    memset(out, 0, sizeof(*out));
    if (memchr(tmp, ':', len)) {
        if (inet_pton(AF_INET6, tmp, out->b) != 1)
            return -1;
        out->family = 6;
    } else {
        if (inet_pton(AF_INET, tmp, out->b) != 1)
            return -1;
        out->family = 4;
    }
    return 0;
}

static int read_addr(struct rd *r, int family, struct s4f_addr *out)
{
    char buf[64];
    const char *s;
    size_t n;
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "address is not a string");
    if (scan_string(r, &s, &n, buf, sizeof(buf)) != 0)
        return -1;
    if (s4f_addr_parse(s, n, out) != 0 || out->family != family)
        return fail(r, "bad address");
    return 0;
}

/* Appends one code point as UTF-8 if it fits in max bytes; false (nothing written) if not. */
static bool put_utf8(char *out, size_t max, size_t *o, uint32_t cp)
{
    char tmp[4];
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        cp = 0xFFFD; /* NUL would cut the C string; lone surrogates are not text */
    size_t n = s4f_utf8_encode(tmp, cp);
    if (*o + n > max)
        return false;
    memcpy(out + *o, tmp, n);
    *o += n;
    return true;
}

/* One UTF-8 sequence at s (n bytes available): its code point and length, or 0xFFFD and 1
 * for an invalid, overlong or truncated sequence. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *len)
{
    uint32_t cp = s[0];
    size_t k = cp < 0x80 ? 1 : s4f_utf8_decode(s, n, &cp);
    if (!k) {
        *len = 1;
        return 0xFFFD;
    }
    *len = k;
    return cp;
}

/* The text of a JSON string, fully decoded (escapes, \u surrogate pairs) into valid UTF-8
 * without NUL, cut at max bytes on a character boundary (*cut set). The raw contents
 * [s, s + n) are already validated by scan_string. */
static size_t decode_text(const char *s, size_t n, char *out, size_t max, bool *cut)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t o = 0;
    while (p < end) {
        uint32_t cp;
        /* Names are ASCII almost always: copied as they are (what put_utf8 would write). */
        if (*p != '\\' && *p != 0 && *p < 0x80) {
            if (o >= max) {
                *cut = true;
                break;
            }
            out[o++] = (char)*p++;
            continue;
        }
        if (*p == '\\') {
            p++;
            switch (*p) {
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u':
                cp = (uint32_t)(s4f_hexval((char)p[1]) << 12 | s4f_hexval((char)p[2]) << 8 |
                                s4f_hexval((char)p[3]) << 4 | s4f_hexval((char)p[4]));
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                    uint32_t lo =
                        (uint32_t)(s4f_hexval((char)p[3]) << 12 | s4f_hexval((char)p[4]) << 8 |
                                   s4f_hexval((char)p[5]) << 4 | s4f_hexval((char)p[6]));
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    }
                }
                break;
            default: /* " \ / */
                cp = *p;
                break;
            }
            p++;
        } else {
            size_t k;
            cp = utf8_next(p, (size_t)(end - p), &k);
            p += k;
        }
        if (!put_utf8(out, max, &o, cp)) {
            *cut = true;
            break;
        }
    }
    out[o] = '\0';
    return o;
}

static int read_text(struct rd *r, char *out, uint16_t *len, bool *cut)
{
    const char *s;
    size_t n;
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "a DNS, TLS or HTTP name is not a string");
    if (scan_string(r, &s, &n, NULL, 0) != 0)
        return -1;
    *len = (uint16_t)decode_text(s, n, out, S4F_DNS_TEXT_MAX, cut);
    return 0;
}

/* A country code: 2 or 3 ASCII letters or digits, else "" (ignored, the record still counts). */
static int read_country(struct rd *r, char out[4])
{
    char t[8];
    uint16_t n;
    bool cut = false;
    const char *s;
    size_t sn;
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "a country is not a string");
    if (scan_string(r, &s, &sn, NULL, 0) != 0)
        return -1;
    n = (uint16_t)decode_text(s, sn, t, sizeof(t) - 1, &cut);
    bool ok = !cut && (n == 2 || n == 3);
    for (uint16_t i = 0; ok && i < n; i++)
        ok = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
             (t[i] >= '0' && t[i] <= '9');
    memcpy(out, ok ? t : "", ok ? (size_t)n + 1 : 1);
    return 0;
}

static int read_org(struct rd *r, char *out, uint16_t *len)
{
    const char *s;
    size_t n;
    bool cut = false;
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "an AS organisation is not a string");
    if (scan_string(r, &s, &n, NULL, 0) != 0)
        return -1;
    *len = (uint16_t)decode_text(s, n, out, S4F_AS_ORG_MAX, &cut);
    return 0;
}

/* A string value kept raw (its JSON contents, escapes undecoded): the answer data, decoded
 * when the whole record (and so the record type) is known. */
static int read_raw(struct rd *r, const char **s, size_t *n)
{
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return fail(r, "DNS data, cipher suites or JA3 is not a string");
    return scan_string(r, s, n, NULL, 0);
}

/* The answer data: the collector writes octetArray values as "0x<hex>". Flowmon sends A and
 * AAAA data as the 4 or 16 address bytes, ipfixprobe as address text; other types are text
 * (names, "10 mx.example.com"), as the original's DNSResponseConverter read them. */
static void decode_rdata(struct s4f_dns *d, const char *s, size_t n, bool *cut)
{
    unsigned char bytes[S4F_DNS_TEXT_MAX];
    size_t nb = 0;
    bool hex = n >= 2 && s[0] == '0' && s[1] == 'x' && n % 2 == 0;
    for (size_t i = 2; hex && i < n; i += 2) {
        int hi = s4f_hexval(s[i]), lo = s4f_hexval(s[i + 1]);
        if (hi < 0 || lo < 0) {
            hex = false;
            break;
        }
        if (nb == sizeof(bytes)) {
            *cut = true;
            break;
        }
        bytes[nb++] = (unsigned char)(hi << 4 | lo);
    }
    d->flags |= S4F_DNS_HAS_RDATA;
    if (!hex) { /* not what the collector writes: keep the text as it is */
        d->rdata_len = (uint16_t)decode_text(s, n, d->rdata, S4F_DNS_TEXT_MAX, cut);
        nb = 0;
    } else if (d->crr_type == 1 && nb == 4) {
        memset(&d->rdata_addr, 0, sizeof(d->rdata_addr));
        memcpy(d->rdata_addr.b, bytes, 4);
        d->rdata_addr.family = 4;
        d->flags |= S4F_DNS_RDATA_ADDR;
    } else if (d->crr_type == 28 && nb == 16) {
        memcpy(d->rdata_addr.b, bytes, 16);
        d->rdata_addr.family = 6;
        d->flags |= S4F_DNS_RDATA_ADDR;
    } else {
        size_t o = 0;
        for (size_t i = 0; i < nb;) {
            size_t k;
            uint32_t cp = utf8_next(bytes + i, nb - i, &k);
            i += k;
            if (!put_utf8(d->rdata, S4F_DNS_TEXT_MAX, &o, cp)) {
                *cut = true;
                break;
            }
        }
        d->rdata[o] = '\0';
        d->rdata_len = (uint16_t)o;
        if ((d->crr_type == 1 || d->crr_type == 28) &&
            s4f_addr_parse(d->rdata, o, &d->rdata_addr) == 0 &&
            d->rdata_addr.family == (d->crr_type == 1 ? 4 : 6))
            d->flags |= S4F_DNS_RDATA_ADDR;
    }
    if (d->flags & S4F_DNS_RDATA_ADDR) {
        s4f_addr_str(&d->rdata_addr, d->rdata, sizeof(d->rdata));
        d->rdata_len = (uint16_t)strlen(d->rdata);
    }
}

/* An octetArray value as the collector writes it ("0x" + hex; JA3 also as bare hex text) into
 * out: its length, or -1 when it is not hex. Past max bytes the rest is dropped (*cut). */
static int decode_hex(const char *s, size_t n, uint8_t *out, size_t max, bool *cut)
{
    if (n >= 2 && s[0] == '0' && s[1] == 'x') {
        s += 2;
        n -= 2;
    }
    if (n % 2)
        return -1;
    size_t nb = 0;
    for (size_t i = 0; i < n; i += 2) {
        int hi = s4f_hexval(s[i]), lo = s4f_hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        if (nb == max) {
            *cut = true;
            continue;
        }
        out[nb++] = (uint8_t)(hi << 4 | lo);
    }
    return (int)nb;
}

_Static_assert(S4F_APP_TEXT_MAX == S4F_DNS_TEXT_MAX, "read_text cuts at S4F_DNS_TEXT_MAX");

/* Byte equality by 8-byte words (the last word overlapping), inline: a libc memcmp call per
 * key of every record was a visible share of the reader's time. n >= 8. */
static inline bool bytes_eq(const char *a, const char *b, size_t n)
{
    uint64_t x, y, diff = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return (diff | (x ^ y)) == 0;
}

static enum key_id lookup(const char *s, size_t n)
{
    /* All our keys start with "ipfix." or "s4f.r." and are at least 10 bytes long: one
     * word test rejects most other keys at once. */
    if (n < 10)
        return K_UNKNOWN;
    uint64_t w;
    memcpy(&w, s, 8);
    uint64_t pre = w & 0x0000FFFFFFFFFFFFull; /* the first six bytes, little or big endian */
    uint64_t ipfix, s4f;
    memcpy(&ipfix, "ipfix.\0\0", 8);
    memcpy(&s4f, "s4f.r.\0\0", 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    pre = w & 0xFFFFFFFFFFFF0000ull;
#endif
    if (pre == ipfix) {
        for (size_t i = 0; i < S4F_ARRAY_SIZE(keys); i++)
            if (keys[i].len == n && bytes_eq(keys[i].name, s, n))
                return keys[i].id;
    } else if (pre == s4f) {
        for (size_t i = 0; i < S4F_ARRAY_SIZE(s4f_keys); i++)
            if (s4f_keys[i].len == n && bytes_eq(s4f_keys[i].name, s, n))
                return s4f_keys[i].id;
    } else if (memcmp(s, "s4f.", 4) == 0) {
        for (size_t i = 0; i < S4F_ARRAY_SIZE(geo_keys); i++)
            if (geo_keys[i].len == n && bytes_eq(geo_keys[i].name, s, n))
                return geo_keys[i].id;
    }
    return K_UNKNOWN;
}

/* The keys of the last record, by position. The collector writes the records of one template
 * with the same keys in the same order, so a key is usually known from its position: a
 * comparison with the remembered bytes replaces the scan and the lookup. A mismatch just
 * takes the slow path and remembers the new key; per thread, as the reader has no handle. */
#define KCACHE_KEYS 48
static _Thread_local struct kcache {
    char name[56];
    size_t len; /* 0: nothing remembered */
    enum key_id id;
} kcache[KCACHE_KEYS];

/* What the two families sent, before mapping. */
struct dns_raw {
    uint64_t fm_flags, xp_rcode, fm_qtype, xp_qtype, fm_crrtype, xp_atype, fm_answers, xp_answers;
    const char *fm_rdata;
    size_t fm_rdata_n;
    const char *xp_rdata;
    size_t xp_rdata_n;
    const char *xp_name;
    uint16_t xp_name_len;
};

/* Both families onto struct s4f_dns. Flowmon's keys win when a record has both. */
static void map_dns(struct s4f_flow *f, uint64_t seen, const struct dns_raw *x, bool *cut)
{
    struct s4f_dns *d = &f->dns;
    bool fm = seen & (1ull << K_FM_NAME);
    d->flags |= S4F_DNS_PRESENT;
    if (!fm) {
        memcpy(d->name, x->xp_name, (size_t)x->xp_name_len + 1);
        d->name_len = x->xp_name_len;
    }
    if (seen & (1ull << K_FM_FLAGS)) {
        if (x->fm_flags & 0x8000)
            d->flags |= S4F_DNS_RESPONSE;
        d->rcode = (uint8_t)(x->fm_flags & 0x0F);
    } else {
        /* ipfixprobe exports no QR bit: a flow from port 53 carries the answer. */
        if (f->sport == 53)
            d->flags |= S4F_DNS_RESPONSE;
        d->rcode = (uint8_t)x->xp_rcode;
    }
    d->qtype = (uint16_t)((seen & (1ull << K_FM_QTYPE)) ? x->fm_qtype : x->xp_qtype);
    d->crr_type = (uint16_t)((seen & (1ull << K_FM_CRRTYPE)) ? x->fm_crrtype
                             : (seen & (1ull << K_XP_ATYPE)) ? x->xp_atype
                                                             : d->qtype);
    d->answers = (uint16_t)((seen & (1ull << K_FM_ANSWERS)) ? x->fm_answers : x->xp_answers);
    if (!(seen & (1ull << K_FM_CRRNAME))) {
        memcpy(d->crr_name, d->name, (size_t)d->name_len + 1);
        d->crr_name_len = d->name_len;
    }
    if (x->fm_rdata)
        decode_rdata(d, x->fm_rdata, x->fm_rdata_n, cut);
    else if (x->xp_rdata)
        decode_rdata(d, x->xp_rdata, x->xp_rdata_n, cut);
}

enum s4f_status s4f_flow_parse(const char *buf, size_t len, struct s4f_flow *out, const char **why)
{
    struct rd r = {buf, buf + len, NULL};
    struct s4f_addr src4 = {0}, dst4 = {0}, src6 = {0}, dst6 = {0};
    uint64_t seen = 0;
    uint64_t v;
    char keybuf[64];
    const char *fm_rdata = NULL, *xp_rdata = NULL;
    size_t fm_rdata_n = 0, xp_rdata_n = 0;
    uint64_t fm_flags = 0, xp_rcode = 0, fm_qtype = 0, xp_qtype = 0, fm_crrtype = 0, xp_atype = 0,
             fm_answers = 0, xp_answers = 0;
    uint16_t xp_name_len = 0;
    bool cut = false, app_cut = false;
    char xp_name[S4F_DNS_TEXT_MAX + 1];

    s4f_flow_clear(out);
    if (len > S4F_FLOW_MAX_LEN) {
        r.why = "record too long";
        goto bad;
    }
    ws(&r);
    if (r.p >= r.end || *r.p != '{') {
        fail(&r, "not a JSON object");
        goto bad;
    }
    r.p++;
    ws(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
        goto done;
    }
    for (size_t pos = 0;; pos++) {
        const char *k;
        size_t kn;
        enum key_id id;
        ws(&r);
        if (r.p >= r.end || *r.p != '"') {
            fail(&r, "expected key");
            goto bad;
        }
        struct kcache *kc = pos < KCACHE_KEYS ? &kcache[pos] : NULL;
        if (kc && kc->len && (size_t)(r.end - r.p) >= kc->len + 2u && r.p[kc->len + 1] == '"' &&
            bytes_eq(r.p + 1, kc->name, kc->len)) {
            /* The key the previous record had here: no scan, no lookup. */
            id = kc->id;
            r.p += kc->len + 2;
        } else {
            if (scan_string(&r, &k, &kn, keybuf, sizeof(keybuf)) != 0)
                goto bad;
            id = lookup(k, kn);
            /* Only keys read verbatim (no escapes: k is in the record) are remembered. */
            if (kc && k != keybuf && kn >= 8 && kn <= sizeof(kc->name)) {
                memcpy(kc->name, k, kn);
                kc->len = kn;
                kc->id = id;
            }
        }
        ws(&r);
        if (r.p >= r.end || *r.p != ':') {
            fail(&r, "expected ':'");
            goto bad;
        }
        r.p++;
        int rc = 0;
        switch (id) {
        case K_UNKNOWN:
            rc = skip_value(&r, 1);
            break;
        case K_SRC4:
            rc = read_addr(&r, 4, &src4);
            break;
        case K_DST4:
            rc = read_addr(&r, 4, &dst4);
            break;
        case K_SRC6:
            rc = read_addr(&r, 6, &src6);
            break;
        case K_DST6:
            rc = read_addr(&r, 6, &dst6);
            break;
        case K_SPORT:
            if ((rc = read_uint(&r, 65535, &v)) == 0)
                out->sport = (uint16_t)v;
            break;
        case K_DPORT:
            if ((rc = read_uint(&r, 65535, &v)) == 0)
                out->dport = (uint16_t)v;
            break;
        case K_PROTO:
            if ((rc = read_uint(&r, 255, &v)) == 0)
                out->proto = (uint8_t)v;
            break;
        case K_FLAGS:
            if ((rc = read_uint(&r, 65535, &v)) == 0)
                out->tcp_flags = (uint16_t)v;
            break;
        case K_PACKETS:
            rc = read_uint(&r, INT64_MAX, &out->packets);
            break;
        case K_BYTES:
            rc = read_uint(&r, INT64_MAX, &out->bytes);
            break;
        case K_START:
            if ((rc = read_uint(&r, INT64_MAX, &v)) == 0)
                out->start_ms = (int64_t)v;
            break;
        case K_END:
            if ((rc = read_uint(&r, INT64_MAX, &v)) == 0)
                out->end_ms = (int64_t)v;
            break;
        case K_SIDE:
            if ((rc = read_uint(&r, S4F_SIDE_DST, &v)) == 0)
                out->side = (uint8_t)v;
            break;
        case K_SRC_PART:
            if ((rc = read_uint(&r, INT32_MAX, &v)) == 0)
                out->src_partition = (int32_t)v;
            break;
        case K_SRC_OFF:
            if ((rc = read_uint(&r, INT64_MAX, &v)) == 0)
                out->src_offset = (int64_t)v;
            break;
        case K_RPACKETS:
            rc = read_uint(&r, INT64_MAX, &out->rev_packets);
            break;
        case K_RBYTES:
            rc = read_uint(&r, INT64_MAX, &out->rev_bytes);
            break;
        case K_RFLAGS:
            if ((rc = read_uint(&r, 65535, &v)) == 0)
                out->rev_tcp_flags = (uint16_t)v;
            break;
        case K_FM_NAME:
            rc = read_text(&r, out->dns.name, &out->dns.name_len, &cut);
            break;
        case K_FM_CRRNAME:
            rc = read_text(&r, out->dns.crr_name, &out->dns.crr_name_len, &cut);
            break;
        case K_XP_NAME:
            rc = read_text(&r, xp_name, &xp_name_len, &cut);
            break;
        case K_FM_FLAGS:
            rc = read_uint(&r, 65535, &fm_flags);
            break;
        case K_XP_RCODE:
            rc = read_uint(&r, 255, &xp_rcode);
            break;
        case K_FM_QTYPE:
            rc = read_uint(&r, 65535, &fm_qtype);
            break;
        case K_XP_QTYPE:
            rc = read_uint(&r, 65535, &xp_qtype);
            break;
        case K_FM_CRRTYPE:
            rc = read_uint(&r, 65535, &fm_crrtype);
            break;
        case K_XP_ATYPE:
            rc = read_uint(&r, 65535, &xp_atype);
            break;
        case K_FM_ANSWERS:
            rc = read_uint(&r, 65535, &fm_answers);
            break;
        case K_XP_ANSWERS:
            rc = read_uint(&r, 65535, &xp_answers);
            break;
        case K_FM_RDATA:
            rc = read_raw(&r, &fm_rdata, &fm_rdata_n);
            break;
        case K_XP_RDATA:
            rc = read_raw(&r, &xp_rdata, &xp_rdata_n);
            break;
        case K_FM_SUITES: {
            const char *hs;
            size_t hn;
            if ((rc = read_raw(&r, &hs, &hn)) == 0) {
                int nb = decode_hex(hs, hn, out->app.suites, S4F_TLS_SUITES_MAX, &app_cut);
                out->app.flags &= (uint8_t)~S4F_APP_SUITES;
                if (nb < 0) {
                    out->app.flags |= S4F_APP_MALFORMED;
                } else {
                    out->app.suites_len = (uint16_t)nb;
                    out->app.flags |= S4F_APP_SUITES;
                }
            }
            break;
        }
        case K_JA3: {
            const char *hs;
            size_t hn;
            uint8_t md5[17];
            bool over = false;
            if ((rc = read_raw(&r, &hs, &hn)) == 0) {
                out->app.flags &= (uint8_t)~S4F_APP_JA3;
                if (decode_hex(hs, hn, md5, sizeof(md5), &over) == 16) {
                    memcpy(out->app.ja3, md5, 16);
                    out->app.flags |= S4F_APP_JA3;
                } else {
                    out->app.flags |= S4F_APP_MALFORMED;
                }
            }
            break;
        }
        case K_XP_JA4:
            if ((rc = read_text(&r, out->app.ja4, &out->app.ja4_len, &app_cut)) == 0)
                out->app.flags = (uint8_t)((out->app.flags & ~S4F_APP_JA4) |
                                           (out->app.ja4_len ? S4F_APP_JA4 : 0));
            break;
        case K_XP_SNI:
            if ((rc = read_text(&r, out->app.sni, &out->app.sni_len, &app_cut)) == 0)
                out->app.flags = (uint8_t)((out->app.flags & ~S4F_APP_SNI) |
                                           (out->app.sni_len ? S4F_APP_SNI : 0));
            break;
        case K_HTTP_HOST:
            if ((rc = read_text(&r, out->app.http_host, &out->app.http_host_len, &app_cut)) == 0)
                out->app.flags = (uint8_t)((out->app.flags & ~S4F_APP_HTTP_HOST) |
                                           (out->app.http_host_len ? S4F_APP_HTTP_HOST : 0));
            break;
        case K_SRC_COUNTRY:
            rc = read_country(&r, out->src_geo.country);
            break;
        case K_DST_COUNTRY:
            rc = read_country(&r, out->dst_geo.country);
            break;
        case K_SRC_AS:
            if ((rc = read_uint(&r, UINT32_MAX, &v)) == 0)
                out->src_geo.asn = (uint32_t)v;
            break;
        case K_DST_AS:
            if ((rc = read_uint(&r, UINT32_MAX, &v)) == 0)
                out->dst_geo.asn = (uint32_t)v;
            break;
        case K_SRC_AS_ORG:
            rc = read_org(&r, out->src_as_org, &out->src_geo.org_len);
            break;
        case K_DST_AS_ORG:
            rc = read_org(&r, out->dst_as_org, &out->dst_geo.org_len);
            break;
        case K_COUNT:
            break;
        }
        if (rc != 0)
            goto bad;
        seen |= 1ull << id;
        ws(&r);
        if (r.p >= r.end) {
            fail(&r, "truncated object");
            goto bad;
        }
        if (*r.p == ',') {
            r.p++;
            continue;
        }
        if (*r.p == '}') {
            r.p++;
            break;
        }
        fail(&r, "expected ',' or '}'");
        goto bad;
    }
done:
    ws(&r);
    if (r.p != r.end) {
        fail(&r, "trailing data after the object");
        goto bad;
    }
    bool have4 = (seen & (1ull << K_SRC4)) && (seen & (1ull << K_DST4));
    bool have6 = (seen & (1ull << K_SRC6)) && (seen & (1ull << K_DST6));
    /* Dual-stack templates carry both families, the unused one all zero (Cisco v9 template
     * 313): take the family that is actually set. */
    static const uint8_t zero16[16];
    if (have4 && have6 && memcmp(src4.b, zero16, 4) == 0 && memcmp(dst4.b, zero16, 4) == 0)
        have4 = false;
    if (have4) {
        out->src = src4;
        out->dst = dst4;
    } else if (have6) {
        out->src = src6;
        out->dst = dst6;
    } else {
        r.why = "missing source or destination address";
        goto bad;
    }
    if (!(seen & (1ull << K_PROTO))) {
        r.why = "missing ipfix.protocolIdentifier";
        goto bad;
    }
    if (!(seen & (1ull << K_END))) {
        r.why = "missing ipfix.flowEndMilliseconds";
        goto bad;
    }
    /* 0 is what an exporter writes when it has no time: a flow of 1970 would open a window
     * of 1970 and make the average duration decades long. */
    if (out->end_ms == 0) {
        r.why = "ipfix.flowEndMilliseconds is 0";
        goto bad;
    }
    if ((seen & (1ull << K_START)) && out->start_ms == 0) {
        r.why = "ipfix.flowStartMilliseconds is 0";
        goto bad;
    }
    if (!(seen & (1ull << K_START)) || out->start_ms > out->end_ms)
        out->start_ms = out->end_ms;
    if (seen & (1ull << K_FM_NAME | 1ull << K_XP_NAME))
        map_dns(out, seen,
                &(struct dns_raw){fm_flags, xp_rcode, fm_qtype, xp_qtype, fm_crrtype, xp_atype,
                                  fm_answers, xp_answers, fm_rdata, fm_rdata_n, xp_rdata,
                                  xp_rdata_n, xp_name, xp_name_len},
                &cut);
    if (cut)
        out->dns.flags |= S4F_DNS_TRUNCATED;
    if (app_cut)
        out->app.flags |= S4F_APP_TRUNCATED;
    return S4F_OK;
bad:
    if (why)
        *why = r.why ? r.why : "malformed record";
    return S4F_ERR;
}

size_t s4f_flow_encode_routed(const struct s4f_flow *f, uint8_t side, int32_t partition,
                              int64_t offset, uint8_t *out)
{
    const struct s4f_geo *g = side == S4F_SIDE_DST ? &f->dst_geo : &f->src_geo;
    const char *org = side == S4F_SIDE_DST ? f->dst_as_org : f->src_as_org;
    bool geo = g->country[0] || g->asn || g->org_len;
    size_t len = geo ? S4F_ROUTED_LEN_V4 : S4F_ROUTED_LEN;
    memset(out, 0, len);
    memcpy(out, geo ? "S4R\x04" : "S4R\x03", 4);
    out[4] = side;
    out[5] = f->src.family;
    out[6] = f->proto;
    s4f_put_le(out + 8, f->tcp_flags, 2);
    s4f_put_le(out + 10, f->sport, 2);
    s4f_put_le(out + 12, f->dport, 2);
    s4f_put_le(out + 14, f->rev_tcp_flags, 2);
    s4f_put_le(out + 16, (uint32_t)partition, 4);
    /* A DNS A answer keeps its address (dns_external_resolvers joins on it downstream): flag
     * in byte 7, the IPv4 address in bytes 68-71, which an IPv4 source address leaves unused
     * (bytes 20-23 are the claim). Other DNS fields are not carried; over IPv6 not even that. */
    bool dns_a = (f->dns.flags & S4F_DNS_RDATA_ADDR) && (f->dns.flags & S4F_DNS_RESPONSE) &&
                 f->dns.crr_type == 1 && f->dns.rdata_addr.family == 4 && f->src.family == 4;
    s4f_put_le(out + 24, (uint64_t)offset, 8);
    s4f_put_le(out + 32, f->packets, 8);
    s4f_put_le(out + 40, f->bytes, 8);
    s4f_put_le(out + 48, (uint64_t)f->start_ms, 8);
    s4f_put_le(out + 56, (uint64_t)f->end_ms, 8);
    memcpy(out + 64, f->src.b, 16);
    memcpy(out + 80, f->dst.b, 16);
    s4f_put_le(out + 96, f->rev_packets, 8);
    s4f_put_le(out + 104, f->rev_bytes, 8);
    if (dns_a) {
        out[7] = S4F_ROUTED_DNS_A;
        memcpy(out + 68, f->dns.rdata_addr.b, 4);
    }
    if (geo) {
        uint8_t *q = out + S4F_ROUTED_LEN;
        memcpy(q, g->country, strnlen(g->country, 3));
        s4f_put_le(q + 4, g->asn, 4);
        size_t n = g->org_len <= S4F_AS_ORG_MAX ? g->org_len : S4F_AS_ORG_MAX;
        q[8] = (uint8_t)n;
        memcpy(q + 12, org, n);
    }
    return len;
}

/* The GeoIP block of a version 4 record (see flow.h) into g and org; -1 when it is not what a
 * writer makes (a country of 2-3 letters or digits or none, zero padding, organisation text
 * without control characters or invalid UTF-8). */
static int decode_geo(const uint8_t *q, struct s4f_geo *g, char *org)
{
    size_t cn = strnlen((const char *)q, 4), n = q[8];
    if (cn == 4 || (cn && cn < 2) || n > S4F_AS_ORG_MAX || q[9] || q[10] || q[11] ||
        !s4f_all_zero(q + cn, 4 - cn) || !s4f_all_zero(q + 12 + n, S4F_AS_ORG_MAX - n))
        return -1;
    for (size_t i = 0; i < cn; i++)
        if (!((q[i] >= 'A' && q[i] <= 'Z') || (q[i] >= 'a' && q[i] <= 'z') ||
              (q[i] >= '0' && q[i] <= '9')))
            return -1;
    for (size_t i = 0; i < n;) {
        const unsigned char *t = q + 12 + i;
        if (*t < 0x20)
            return -1;
        if (*t < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = s4f_utf8_decode(t, n - i, &cp);
        if (!k)
            return -1;
        i += k;
    }
    memcpy(g->country, q, cn);
    g->country[cn] = '\0';
    g->asn = (uint32_t)s4f_get_le(q + 4, 4);
    g->org_len = (uint16_t)n;
    memcpy(org, q + 12, n);
    org[n] = '\0';
    if (!cn && !g->asn && !n)
        return -1; /* a writer writes version 3 then */
    return 0;
}

void s4f_flow_encode_mark(int32_t partition, int64_t offset, int64_t wm_ms, bool idle,
                          int64_t last_src, int64_t last_dst, int64_t from,
                          uint8_t out[S4F_ROUTED_LEN])
{
    memset(out, 0, S4F_ROUTED_LEN);
    memcpy(out, "S4R\x03", 4);
    out[4] = S4F_SIDE_MARK;
    out[5] = 4;
    out[7] = idle ? 1 : 0;
    s4f_put_le(out + 16, (uint32_t)partition, 4);
    s4f_put_le(out + 24, (uint64_t)offset, 8);
    s4f_put_le(out + 32, (uint64_t)last_src, 8);
    s4f_put_le(out + 40, (uint64_t)last_dst, 8);
    s4f_put_le(out + 48, (uint64_t)wm_ms, 8);
    s4f_put_le(out + 56, (uint64_t)wm_ms, 8);
    s4f_put_le(out + 64, (uint64_t)from, 8);
}

enum s4f_status s4f_flow_decode_routed(const char *buf, size_t len, struct s4f_flow *out,
                                       const char **why)
{
    const uint8_t *b = (const uint8_t *)buf;
    const char *bad = NULL;
    if (len > 0 && buf[0] == '{') {
        if (s4f_flow_parse(buf, len, out, why) != S4F_OK)
            return S4F_ERR;
        if (out->side == S4F_SIDE_ANY) {
            if (why)
                *why = "no s4f.r.side in a repartitioned record";
            return S4F_ERR;
        }
        return S4F_OK;
    }
    s4f_flow_clear(out);
    /* Version 1 (earlier workers): no claim, no marks; version 2 adds both; version 3 the
     * reverse counters (16 more bytes). */
    if (len < 4 || memcmp(b, "S4R", 3) != 0 || b[3] < 1 || b[3] > 4 ||
        len != s4f_routed_len(buf, len)) {
        bad = "not a routed record (length or magic)";
        goto fail;
    }
    bool v2 = b[3] >= 2, mark = v2 && b[4] == S4F_SIDE_MARK;
    uint64_t rpk = b[3] >= 3 ? s4f_get_le(b + 96, 8) : 0,
             rby = b[3] >= 3 ? s4f_get_le(b + 104, 8) : 0;
    if (b[4] != S4F_SIDE_SRC && b[4] != S4F_SIDE_DST && !mark) {
        bad = "routed record: bad side";
        goto fail;
    }
    /* Byte 7: a mark's idle bit, or a flow's DNS A answer flag (IPv4 flows only: the answer
     * sits in bytes 68-71, unused by an IPv4 source address). */
    bool dns_a = !mark && b[7] == S4F_ROUTED_DNS_A && b[5] == 4;
    if ((b[5] != 4 && b[5] != 6) || (b[7] && !(mark && b[7] == 1) && !dns_a) ||
        (b[3] < 3 && s4f_get_le(b + 14, 2)) || (!v2 && s4f_get_le(b + 20, 4)) ||
        (b[5] == 4 && !mark &&
         (!s4f_all_zero(b + (dns_a ? 72 : 68), dns_a ? 8 : 12) || !s4f_all_zero(b + 84, 12)))) {
        bad = "routed record: bad family or reserved bytes";
        goto fail;
    }
    if (b[3] == 4 &&
        (mark ||
         decode_geo(b + S4F_ROUTED_LEN, b[4] == S4F_SIDE_DST ? &out->dst_geo : &out->src_geo,
                    b[4] == S4F_SIDE_DST ? out->dst_as_org : out->src_as_org) != 0)) {
        bad = "routed record: bad GeoIP block";
        goto fail;
    }
    if (mark && (b[5] != 4 || b[6] || !s4f_all_zero(b + 8, 8) || s4f_get_le(b + 20, 4) ||
                 s4f_get_le(b + 64, 8) > INT64_MAX || !s4f_all_zero(b + 72, 24) || rpk || rby)) {
        bad = "routed mark: non-zero flow fields";
        goto fail;
    }
    out->side = b[4];
    out->mark_idle = mark && b[7];
    out->src_gap = (uint32_t)s4f_get_le(b + 20, 4);
    out->src.family = out->dst.family = b[5];
    out->proto = b[6];
    out->tcp_flags = (uint16_t)s4f_get_le(b + 8, 2);
    out->sport = (uint16_t)s4f_get_le(b + 10, 2);
    out->dport = (uint16_t)s4f_get_le(b + 12, 2);
    out->rev_tcp_flags = (uint16_t)s4f_get_le(b + 14, 2);
    uint64_t part = s4f_get_le(b + 16, 4), off = s4f_get_le(b + 24, 8), pk = s4f_get_le(b + 32, 8),
             by = s4f_get_le(b + 40, 8), st = s4f_get_le(b + 48, 8), en = s4f_get_le(b + 56, 8);
    /* The JSON reader's bounds: counters and times non-negative int64, partition int32. */
    if (part > INT32_MAX || off > INT64_MAX || pk > INT64_MAX || by > INT64_MAX || st > INT64_MAX ||
        en > INT64_MAX || rpk > INT64_MAX || rby > INT64_MAX) {
        bad = "routed record: value out of range";
        goto fail;
    }
    if (en == 0 || st == 0) {
        bad = "routed record: flow start or end time 0";
        goto fail;
    }
    out->src_partition = (int32_t)part;
    out->src_offset = (int64_t)off;
    out->packets = pk;
    out->bytes = by;
    out->rev_packets = rpk;
    out->rev_bytes = rby;
    out->end_ms = (int64_t)en;
    out->start_ms = (int64_t)st > out->end_ms ? out->end_ms : (int64_t)st;
    memcpy(out->src.b, b + 64, 16);
    memcpy(out->dst.b, b + 80, 16);
    if (mark) {
        out->mark_from = (int64_t)s4f_get_le(b + 64, 8);
        memset(out->src.b, 0, 16);
    } else if (dns_a) {
        out->dns.flags = S4F_DNS_PRESENT | S4F_DNS_RESPONSE | S4F_DNS_RDATA_ADDR;
        out->dns.crr_type = 1;
        out->dns.rdata_addr.family = 4;
        memcpy(out->dns.rdata_addr.b, b + 68, 4);
        memset(out->src.b + 4, 0, 12);
    }
    return S4F_OK;
fail:
    s4f_flow_clear(out);
    if (why)
        *why = bad;
    return S4F_ERR;
}

char *s4f_addr_str(const struct s4f_addr *a, char *buf, size_t len)
{
    /* IPv4 by hand: inet_ntop formats it with sprintf, a tenth of host_stats' emission. */
    if (a->family != 6 && len >= 16) {
        char *p = buf;
        for (int i = 0; i < 4; i++) {
            unsigned v = a->b[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            *p++ = i < 3 ? '.' : '\0';
        }
        return buf;
    }
    if (!inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->b, buf, (socklen_t)len) && len)
        buf[0] = '\0';
    return buf;
}

bool s4f_addr_eq(const struct s4f_addr *a, const struct s4f_addr *b)
{
    return a->family == b->family && memcmp(a->b, b->b, 16) == 0;
}

uint64_t s4f_addr_hash(const struct s4f_addr *a)
{
    uint64_t x, y;
    memcpy(&x, a->b, 8);
    memcpy(&y, a->b + 8, 8);
    /* splitmix-style finaliser: cheap, and good enough against sequential addresses. */
    uint64_t h = x * 0x9E3779B97F4A7C15ull ^ (y + a->family) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

int s4f_cidr_parse(const char *s, struct s4f_cidr *out)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (s4f_addr_parse(s, alen, &out->net) != 0)
        return -1;
    int maxbits = out->net.family == 4 ? 32 : 128;
    out->bits = maxbits;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || b < 0 || b > maxbits)
            return -1;
        out->bits = (int)b;
    }
    /* Clear host bits so that contains() compares masked bytes only. */
    for (int i = 0; i < 16; i++) {
        int keep = out->bits - i * 8;
        if (keep <= 0)
            out->net.b[i] = 0;
        else if (keep < 8)
            out->net.b[i] &= (uint8_t)(0xFF << (8 - keep));
    }
    return 0;
}

bool s4f_cidr_contains(const struct s4f_cidr *c, const struct s4f_addr *a)
{
    if (a->family != c->net.family)
        return false;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a->b, c->net.b, (size_t)full) != 0)
        return false;
    if (rest) {
        uint8_t m = (uint8_t)(0xFF << (8 - rest));
        if ((a->b[full] & m) != c->net.b[full])
            return false;
    }
    return true;
}

/* Packed messages (flow.h, docs/packed-format.md). */

void s4f_packed_header(uint8_t *out, uint16_t count)
{
    memcpy(out, S4F_PACKED_MAGIC, 4);
    s4f_put_le(out + 4, count, 2);
    out[6] = out[7] = 0;
}

/* Text of n <= 255 bytes as u8 length then bytes; returns the new end. */
static uint8_t *put_text(uint8_t *q, const void *s, size_t n)
{
    *q++ = (uint8_t)n;
    memcpy(q, s, n);
    return q + n;
}

static uint8_t *put_geo(uint8_t *q, const struct s4f_geo *g, const char *org)
{
    memset(q, 0, 4);
    memcpy(q, g->country, strnlen(g->country, 3));
    s4f_put_le(q + 4, g->asn, 4);
    return put_text(q + 8, org, g->org_len <= S4F_AS_ORG_MAX ? g->org_len : S4F_AS_ORG_MAX);
}

/* The JSON reader may keep DNS fields without a name (so without flags): kept too. */
static bool dns_any(const struct s4f_dns *d)
{
    return d->flags || d->rcode || d->qtype || d->crr_type || d->answers || d->name_len ||
           d->crr_name_len || d->rdata_len || d->rdata_addr.family;
}

static bool has_geo(const struct s4f_geo *g)
{
    return g->country[0] || g->asn || g->org_len;
}

size_t s4f_packed_encode(const struct s4f_flow *f, uint8_t *out)
{
    bool v6 = f->src.family == 6, bi = f->rev_packets || f->rev_bytes || f->rev_tcp_flags,
         app = f->app.flags != 0;
    const struct s4f_dns *d = &f->dns;
    bool dns = dns_any(d);
    uint8_t flags = (uint8_t)((v6 ? S4F_PK_IPV6 : 0) | (bi ? S4F_PK_BIFLOW : 0) |
                              (has_geo(&f->src_geo) ? S4F_PK_SRC_GEO : 0) |
                              (has_geo(&f->dst_geo) ? S4F_PK_DST_GEO : 0) | (dns ? S4F_PK_DNS : 0) |
                              (app ? S4F_PK_APP : 0));
    size_t alen = v6 ? 16 : 4;
    out[2] = flags;
    out[3] = f->proto;
    s4f_put_le(out + 4, f->tcp_flags, 2);
    s4f_put_le(out + 6, f->sport, 2);
    s4f_put_le(out + 8, f->dport, 2);
    s4f_put_le(out + 10, f->packets, 8);
    s4f_put_le(out + 18, f->bytes, 8);
    s4f_put_le(out + 26, (uint64_t)f->start_ms, 8);
    s4f_put_le(out + 34, (uint64_t)f->end_ms, 8);
    memcpy(out + 42, f->src.b, alen);
    memcpy(out + 42 + alen, f->dst.b, alen);
    uint8_t *q = out + 42 + 2 * alen;
    if (bi) {
        s4f_put_le(q, f->rev_packets, 8);
        s4f_put_le(q + 8, f->rev_bytes, 8);
        s4f_put_le(q + 16, f->rev_tcp_flags, 2);
        q += 18;
    }
    if (flags & S4F_PK_SRC_GEO)
        q = put_geo(q, &f->src_geo, f->src_as_org);
    if (flags & S4F_PK_DST_GEO)
        q = put_geo(q, &f->dst_geo, f->dst_as_org);
    if (dns) {
        q[0] = d->flags;
        q[1] = d->rcode;
        s4f_put_le(q + 2, d->qtype, 2);
        s4f_put_le(q + 4, d->crr_type, 2);
        s4f_put_le(q + 6, d->answers, 2);
        q[8] = d->rdata_addr.family;
        q += 9;
        if (d->rdata_addr.family) {
            memcpy(q, d->rdata_addr.b, d->rdata_addr.family == 6 ? 16 : 4);
            q += d->rdata_addr.family == 6 ? 16 : 4;
        }
        q = put_text(q, d->name, d->name_len);
        q = put_text(q, d->crr_name, d->crr_name_len);
        q = put_text(q, d->rdata, d->rdata_len);
    }
    if (app) {
        const struct s4f_app *a = &f->app;
        *q++ = a->flags;
        if (a->flags & S4F_APP_JA3) {
            memcpy(q, a->ja3, 16);
            q += 16;
        }
        if (a->flags & S4F_APP_SUITES)
            q = put_text(q, a->suites, a->suites_len);
        if (a->flags & S4F_APP_JA4)
            q = put_text(q, a->ja4, a->ja4_len);
        if (a->flags & S4F_APP_SNI)
            q = put_text(q, a->sni, a->sni_len);
        if (a->flags & S4F_APP_HTTP_HOST)
            q = put_text(q, a->http_host, a->http_host_len);
    }
    size_t len = (size_t)(q - out);
    s4f_put_le(out, len, 2);
    return len;
}

/* A cursor over one packed record: every read checks what is left. */
struct pk {
    const uint8_t *q, *end;
};

static const uint8_t *pk_take(struct pk *k, size_t n)
{
    if ((size_t)(k->end - k->q) < n)
        return NULL;
    const uint8_t *r = k->q;
    k->q += n;
    return r;
}

/* What the JSON reader makes of any string: valid UTF-8 (no encoded surrogate) without NUL. */
static bool pk_text_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            if (!s[i])
                return false;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = s4f_utf8_decode(s + i, n - i, &cp);
        if (!k || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k;
    }
    return true;
}

/* A u8-length text of at most max bytes into out (NUL-terminated), its length in *len. */
static int pk_text(struct pk *k, size_t max, bool need, char *out, uint16_t *len)
{
    const uint8_t *n = pk_take(k, 1), *s;
    if (!n || *n > max || (need && !*n) || !(s = pk_take(k, *n)) || !pk_text_ok(s, *n))
        return -1;
    memcpy(out, s, *n);
    out[*n] = '\0';
    *len = *n;
    return 0;
}

static int pk_geo(struct pk *k, struct s4f_geo *g, char *org)
{
    const uint8_t *c = pk_take(k, 8);
    if (!c)
        return -1;
    size_t cn = strnlen((const char *)c, 4);
    if (cn == 4 || (cn && cn < 2) || !s4f_all_zero(c + cn, 4 - cn))
        return -1;
    for (size_t i = 0; i < cn; i++)
        if (!((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= 'a' && c[i] <= 'z') ||
              (c[i] >= '0' && c[i] <= '9')))
            return -1;
    memcpy(g->country, c, cn);
    g->country[cn] = '\0';
    g->asn = (uint32_t)s4f_get_le(c + 4, 4);
    if (pk_text(k, S4F_AS_ORG_MAX, false, org, &g->org_len) != 0)
        return -1;
    return has_geo(g) ? 0 : -1; /* a writer leaves an empty block out */
}

static int pk_dns(struct pk *k, struct s4f_dns *d)
{
    const uint8_t *h = pk_take(k, 9);
    if (!h || (h[0] & ~0x1F) || (h[8] != 0 && h[8] != 4 && h[8] != 6))
        return -1;
    d->flags = h[0];
    d->rcode = h[1];
    d->qtype = (uint16_t)s4f_get_le(h + 2, 2);
    d->crr_type = (uint16_t)s4f_get_le(h + 4, 2);
    d->answers = (uint16_t)s4f_get_le(h + 6, 2);
    if (h[8]) {
        const uint8_t *a = pk_take(k, h[8] == 6 ? 16 : 4);
        if (!a)
            return -1;
        d->rdata_addr.family = h[8];
        memcpy(d->rdata_addr.b, a, h[8] == 6 ? 16 : 4);
    }
    if (pk_text(k, S4F_DNS_TEXT_MAX, false, d->name, &d->name_len) ||
        pk_text(k, S4F_DNS_TEXT_MAX, false, d->crr_name, &d->crr_name_len) ||
        pk_text(k, S4F_DNS_TEXT_MAX, false, d->rdata, &d->rdata_len))
        return -1;
    return dns_any(d) ? 0 : -1; /* a writer leaves an empty block out */
}

static int pk_app(struct pk *k, struct s4f_app *a)
{
    const uint8_t *fl = pk_take(k, 1), *s;
    if (!fl || !*fl || (*fl & 0x80))
        return -1;
    a->flags = *fl;
    if (a->flags & S4F_APP_JA3) {
        if (!(s = pk_take(k, 16)))
            return -1;
        memcpy(a->ja3, s, 16);
    }
    if (a->flags & S4F_APP_SUITES) {
        const uint8_t *n = pk_take(k, 1);
        if (!n || *n > S4F_TLS_SUITES_MAX || !(s = pk_take(k, *n)))
            return -1;
        memcpy(a->suites, s, *n);
        a->suites_len = *n;
    }
    if (((a->flags & S4F_APP_JA4) && pk_text(k, S4F_APP_TEXT_MAX, true, a->ja4, &a->ja4_len)) ||
        ((a->flags & S4F_APP_SNI) && pk_text(k, S4F_APP_TEXT_MAX, true, a->sni, &a->sni_len)) ||
        ((a->flags & S4F_APP_HTTP_HOST) &&
         pk_text(k, S4F_APP_TEXT_MAX, true, a->http_host, &a->http_host_len)))
        return -1;
    return 0;
}

enum s4f_status s4f_packed_open(const char *buf, size_t len, struct s4f_packed_iter *it,
                                size_t *count, const char **why)
{
    const uint8_t *b = (const uint8_t *)buf;
    *count = 0;
    if (len < S4F_PACKED_HDR_LEN || memcmp(b, S4F_PACKED_MAGIC, 4) != 0 || b[6] || b[7]) {
        if (why)
            *why = "packed message: bad header (magic, version or reserved bytes)";
        return S4F_ERR;
    }
    size_t n = (size_t)s4f_get_le(b + 4, 2);
    *count = n;
    if (!n || n > S4F_PACKED_MAX_FLOWS || len > S4F_PACKED_MAX_LEN) {
        if (why)
            *why = "packed message: record count or length out of range";
        return S4F_ERR;
    }
    it->p = b + S4F_PACKED_HDR_LEN;
    it->end = b + len;
    it->left = n;
    return S4F_OK;
}

int s4f_packed_next(struct s4f_packed_iter *it, struct s4f_flow *out, const char **why)
{
    const char *bad;
    if (!it->left) {
        if (it->p == it->end)
            return 0;
        bad = "packed message: data after the last record";
        goto fail;
    }
    s4f_flow_clear(out);
    size_t avail = (size_t)(it->end - it->p), rl = avail >= 2 ? s4f_get_le(it->p, 2) : 0;
    if (rl < 50 || rl > avail) {
        bad = "packed record: bad length";
        goto fail;
    }
    const uint8_t *r = it->p;
    struct pk k = {r + 42, r + rl};
    uint8_t flags = r[2];
    if (flags & 0xC0) {
        bad = "packed record: unknown flags";
        goto fail;
    }
    size_t alen = flags & S4F_PK_IPV6 ? 16 : 4;
    const uint8_t *a = pk_take(&k, 2 * alen);
    uint64_t pk = s4f_get_le(r + 10, 8), by = s4f_get_le(r + 18, 8), st = s4f_get_le(r + 26, 8),
             en = s4f_get_le(r + 34, 8);
    /* The JSON reader's bounds: counters and times non-negative int64, times not 0. */
    if (!a || pk > INT64_MAX || by > INT64_MAX || st > INT64_MAX || en > INT64_MAX || !st || !en ||
        st > en) {
        bad = "packed record: value out of range";
        goto fail;
    }
    out->src.family = out->dst.family = (uint8_t)(alen == 16 ? 6 : 4);
    memcpy(out->src.b, a, alen);
    memcpy(out->dst.b, a + alen, alen);
    out->proto = r[3];
    out->tcp_flags = (uint16_t)s4f_get_le(r + 4, 2);
    out->sport = (uint16_t)s4f_get_le(r + 6, 2);
    out->dport = (uint16_t)s4f_get_le(r + 8, 2);
    out->packets = pk;
    out->bytes = by;
    out->end_ms = (int64_t)en;
    out->start_ms = (int64_t)st;
    if (flags & S4F_PK_BIFLOW) {
        const uint8_t *v = pk_take(&k, 18);
        /* An all-zero block is left out by a writer: refused, as every non-canonical form. */
        if (!v || s4f_get_le(v, 8) > INT64_MAX || s4f_get_le(v + 8, 8) > INT64_MAX ||
            s4f_all_zero(v, 18)) {
            bad = "packed record: bad reverse counters";
            goto fail;
        }
        out->rev_packets = s4f_get_le(v, 8);
        out->rev_bytes = s4f_get_le(v + 8, 8);
        out->rev_tcp_flags = (uint16_t)s4f_get_le(v + 16, 2);
    }
    if (((flags & S4F_PK_SRC_GEO) && pk_geo(&k, &out->src_geo, out->src_as_org) != 0) ||
        ((flags & S4F_PK_DST_GEO) && pk_geo(&k, &out->dst_geo, out->dst_as_org) != 0)) {
        bad = "packed record: bad GeoIP block";
        goto fail;
    }
    if ((flags & S4F_PK_DNS) && pk_dns(&k, &out->dns) != 0) {
        bad = "packed record: bad DNS block";
        goto fail;
    }
    if ((flags & S4F_PK_APP) && pk_app(&k, &out->app) != 0) {
        bad = "packed record: bad application block";
        goto fail;
    }
    if (k.q != k.end) {
        bad = "packed record: length does not match its fields";
        goto fail;
    }
    it->p += rl;
    it->left--;
    return 1;
fail:
    s4f_flow_clear(out);
    if (why)
        *why = bad;
    return -1;
}

enum s4f_status s4f_packed_check(const char *buf, size_t len, struct s4f_flow *scratch,
                                 size_t *count, const char **why)
{
    struct s4f_packed_iter it;
    if (s4f_packed_open(buf, len, &it, count, why) != S4F_OK)
        return S4F_ERR;
    int rc;
    while ((rc = s4f_packed_next(&it, scratch, why)) == 1)
        ;
    return rc == 0 ? S4F_OK : S4F_ERR;
}
