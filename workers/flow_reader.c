/* The flat-record reader: see flow.h for what it accepts. Written as a small recursive-descent
 * scanner over the buffer (bounded by len, never by a terminator) that only decodes the values
 * of the keys it knows and skips the rest with full JSON validation. */
#include "flow.h"

#include <arpa/inet.h>
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
};

#define KEY(name, id)                                                                              \
    {                                                                                              \
        name, sizeof(name) - 1, id                                                                 \
    }
static const struct {
    const char *name;
    size_t len;
    enum key_id id;
} keys[] = {
    KEY("ipfix.sourceIPv4Address", K_SRC4),      KEY("ipfix.destinationIPv4Address", K_DST4),
    KEY("ipfix.sourceIPv6Address", K_SRC6),      KEY("ipfix.destinationIPv6Address", K_DST6),
    KEY("ipfix.sourceTransportPort", K_SPORT),   KEY("ipfix.destinationTransportPort", K_DPORT),
    KEY("ipfix.protocolIdentifier", K_PROTO),    KEY("ipfix.tcpControlBits", K_FLAGS),
    KEY("ipfix.packetDeltaCount", K_PACKETS),    KEY("ipfix.octetDeltaCount", K_BYTES),
    KEY("ipfix.flowStartMilliseconds", K_START), KEY("ipfix.flowEndMilliseconds", K_END),
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

static int fail(struct rd *r, const char *why)
{
    if (!r->why)
        r->why = why;
    return -1;
}

static void ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Scans a string starting at the opening quote. Its raw contents are [*s, *s + *n); when the
 * string has escapes and out is given, the decoded text (ASCII escapes only: anything else
 * cannot be one of our keys or an address) goes to out and *s points there; if it does not
 * fit, *n is set to outlen (longer than any name we know). */
/* Eight bytes at a time: a mask with the high bit set in the first byte that is a quote, a
 * backslash or a control character (bits above the first may be spurious: borrows run
 * upwards, so only the lowest flagged byte is used). Strings are most of a record's bytes. */
static inline uint64_t swar_special(uint64_t x)
{
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t q = x ^ (lo * '"'), b = x ^ (lo * '\\');
    return (((q - lo) & ~q) | ((b - lo) & ~b) | ((x - lo * 0x20) & ~x)) & hi;
}

static int scan_string(struct rd *r, const char **s, size_t *n, char *out, size_t outlen)
{
    r->p++; /* the quote */
    const char *start = r->p;
    int escaped = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
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
                    if (hexval(r->p[i]) < 0)
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
                int v =
                    (hexval(q[1]) << 12) | (hexval(q[2]) << 8) | (hexval(q[3]) << 4) | hexval(q[4]);
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
    const char *p = r->p;
    if (p < r->end && *p == '-')
        p++;
    if (p >= r->end)
        return fail(r, "bad number");
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(r, "bad number");
    }
    if (p < r->end && *p == '.') {
        p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return fail(r, "bad number");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < r->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < r->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= r->end || *p < '0' || *p > '9')
            return fail(r, "bad number");
        while (p < r->end && *p >= '0' && *p <= '9')
            p++;
    }
    r->p = p;
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
    if (len >= 7 && len <= 15 && !memchr(s, ':', len)) {
        memset(out, 0, sizeof(*out));
        if (parse_v4(s, len, out->b) != 0)
            return -1;
        out->family = 4;
        return 0;
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

static enum key_id lookup(const char *s, size_t n)
{
    /* All our keys start with "ipfix." or "s4f.r.": one test rejects most others at once. */
    if (n >= 7 && memcmp(s, "s4f.r.", 6) == 0) {
        for (size_t i = 0; i < S4F_ARRAY_SIZE(s4f_keys); i++)
            if (s4f_keys[i].len == n && memcmp(s4f_keys[i].name + 6, s + 6, n - 6) == 0)
                return s4f_keys[i].id;
        return K_UNKNOWN;
    }
    if (n < 7 || memcmp(s, "ipfix.", 6) != 0)
        return K_UNKNOWN;
    for (size_t i = 0; i < S4F_ARRAY_SIZE(keys); i++)
        if (keys[i].len == n && memcmp(keys[i].name + 6, s + 6, n - 6) == 0)
            return keys[i].id;
    return K_UNKNOWN;
}

enum s4f_status s4f_flow_parse(const char *buf, size_t len, struct s4f_flow *out, const char **why)
{
    struct rd r = {buf, buf + len, NULL};
    struct s4f_addr src4 = {0}, dst4 = {0}, src6 = {0}, dst6 = {0};
    unsigned seen = 0;
    uint64_t v;
    char keybuf[64];

    memset(out, 0, sizeof(*out));
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
    for (;;) {
        const char *k;
        size_t kn;
        ws(&r);
        if (r.p >= r.end || *r.p != '"') {
            fail(&r, "expected key");
            goto bad;
        }
        if (scan_string(&r, &k, &kn, keybuf, sizeof(keybuf)) != 0)
            goto bad;
        ws(&r);
        if (r.p >= r.end || *r.p != ':') {
            fail(&r, "expected ':'");
            goto bad;
        }
        r.p++;
        enum key_id id = lookup(k, kn);
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
        }
        if (rc != 0)
            goto bad;
        seen |= 1u << id;
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
    if ((seen & (1u << K_SRC4)) && (seen & (1u << K_DST4))) {
        out->src = src4;
        out->dst = dst4;
    } else if ((seen & (1u << K_SRC6)) && (seen & (1u << K_DST6))) {
        out->src = src6;
        out->dst = dst6;
    } else {
        r.why = "missing source or destination address";
        goto bad;
    }
    if (!(seen & (1u << K_PROTO))) {
        r.why = "missing ipfix.protocolIdentifier";
        goto bad;
    }
    if (!(seen & (1u << K_END))) {
        r.why = "missing ipfix.flowEndMilliseconds";
        goto bad;
    }
    if (!(seen & (1u << K_START)) || out->start_ms > out->end_ms)
        out->start_ms = out->end_ms;
    return S4F_OK;
bad:
    if (why)
        *why = r.why ? r.why : "malformed record";
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
