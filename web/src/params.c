#include "params.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Values longer than this are refused before any parsing: no legitimate parameter is longer. */
#define PARAM_MAX_LEN 256

/* Prints a value for an error message without echoing control characters or unbounded text. */
static void quote_value(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 4 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
        if (i >= 40) {
            out[o++] = '.';
            out[o++] = '.';
            out[o++] = '.';
            break;
        }
    }
    out[o] = '\0';
}

static int fail(char *err, size_t errlen, const char *name, const char *value, const char *why)
{
    char q[64];
    quote_value(value ? value : "", q, sizeof(q));
    snprintf(err, errlen, "parameter '%s': \"%s\" %s", name, q, why);
    return -1;
}

static int too_long(const char *s)
{
    return strnlen(s, PARAM_MAX_LEN + 1) > PARAM_MAX_LEN;
}

int s4f_web_parse_ip(const char *name, const char *s, char *canon, size_t len, char *err,
                     size_t errlen)
{
    unsigned char buf[16];
    if (too_long(s))
        return fail(err, errlen, name, s, "is too long");
    if (inet_pton(AF_INET, s, buf) == 1) {
        if (!inet_ntop(AF_INET, buf, canon, (socklen_t)len))
            return fail(err, errlen, name, s, "does not fit");
        return 0;
    }
    if (inet_pton(AF_INET6, s, buf) == 1) {
        if (!inet_ntop(AF_INET6, buf, canon, (socklen_t)len))
            return fail(err, errlen, name, s, "does not fit");
        return 0;
    }
    return fail(err, errlen, name, s, "is not an IPv4 or IPv6 address");
}

int s4f_web_parse_cidr(const char *name, const char *s, char *canon, size_t len, char *err,
                       size_t errlen)
{
    char addr[S4F_WEB_ADDR_MAX];
    unsigned char buf[16];
    int family, bits, maxbits;
    if (too_long(s))
        return fail(err, errlen, name, s, "is too long");
    const char *slash = strchr(s, '/');
    if (!slash)
        return s4f_web_parse_ip(name, s, canon, len, err, errlen);
    size_t alen = (size_t)(slash - s);
    if (alen == 0 || alen >= sizeof(addr))
        return fail(err, errlen, name, s, "is not an address or network (a.b.c.d/n)");
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, buf) == 1) {
        family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, addr, buf) == 1) {
        family = AF_INET6;
        maxbits = 128;
    } else {
        return fail(err, errlen, name, s, "is not an address or network (a.b.c.d/n)");
    }
    const char *p = slash + 1;
    if (!isdigit((unsigned char)p[0]) || (p[1] && !isdigit((unsigned char)p[1])) ||
        (p[1] && p[2] && !isdigit((unsigned char)p[2])) || (p[1] && p[2] && p[3]))
        return fail(err, errlen, name, s, "has a bad prefix length");
    bits = 0;
    for (; *p; p++)
        bits = bits * 10 + (*p - '0');
    if (bits > maxbits)
        return fail(err, errlen, name, s, "has a prefix length out of range");
    /* Clear the host bits so the query says exactly which network is meant. */
    int bytes = maxbits / 8;
    for (int i = 0; i < bytes; i++) {
        int keep = bits - i * 8;
        if (keep >= 8)
            continue;
        buf[i] = keep <= 0 ? 0 : (unsigned char)(buf[i] & (0xff << (8 - keep)));
    }
    char text[INET6_ADDRSTRLEN];
    if (!inet_ntop(family, buf, text, sizeof(text)))
        return fail(err, errlen, name, s, "does not fit");
    if ((size_t)snprintf(canon, len, "%s/%d", text, bits) >= len)
        return fail(err, errlen, name, s, "does not fit");
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int s4f_web_parse_time(const char *name, const char *s, int64_t *ms, char *err, size_t errlen)
{
    if (too_long(s) || !*s)
        return fail(err, errlen, name, s, "is not a time (epoch milliseconds or ISO-8601)");
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == n) {
        /* Epoch milliseconds; 13 digits covers 2001..2286, longer would overflow soon. */
        if (n > 15)
            return fail(err, errlen, name, s, "is out of range");
        int64_t v = 0;
        for (i = 0; i < n; i++)
            v = v * 10 + (s[i] - '0');
        if (v < 946684800000LL || v > 32503680000000LL)
            return fail(err, errlen, name, s, "is out of range (years 2000..2999)");
        *ms = v;
        return 0;
    }
    int Y, M, D, h, m, sec = 0, milli = 0;
    const char *p = s;
    if (n < 17 || digits(p, 4, &Y) || p[4] != '-' || digits(p + 5, 2, &M) || p[7] != '-' ||
        digits(p + 8, 2, &D) || (p[10] != 'T' && p[10] != ' ') || digits(p + 11, 2, &h) ||
        p[13] != ':' || digits(p + 14, 2, &m))
        return fail(err, errlen, name, s, "is not a time (epoch milliseconds or ISO-8601)");
    p += 16;
    if (*p == ':') {
        if (digits(p + 1, 2, &sec))
            return fail(err, errlen, name, s, "has bad seconds");
        p += 3;
        if (*p == '.') {
            int nd = 0;
            p++;
            milli = 0;
            while (isdigit((unsigned char)*p) && nd < 9) {
                if (nd < 3)
                    milli = milli * 10 + (*p - '0');
                nd++;
                p++;
            }
            if (nd == 0)
                return fail(err, errlen, name, s, "has bad fractional seconds");
            for (; nd < 3; nd++)
                milli *= 10;
        }
    }
    int offset_min = 0;
    if (*p == 'Z' && p[1] == '\0') {
        offset_min = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 14 || om > 59)
            return fail(err, errlen, name, s, "has a bad UTC offset");
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
    } else {
        return fail(err, errlen, name, s, "needs a time zone: 'Z' or +hh:mm");
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (Y < 2000 || Y > 2999 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 ||
        sec > 60)
        return fail(err, errlen, name, s, "is not a valid date and time");
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + milli;
    return 0;
}

int s4f_web_parse_int(const char *name, const char *s, int64_t min, int64_t max, int64_t *out,
                      char *err, size_t errlen)
{
    char why[96];
    if (!*s || strlen(s) > 18)
        return fail(err, errlen, name, s, "is not a number");
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return fail(err, errlen, name, s, "is not a number");
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max) {
        snprintf(why, sizeof(why), "is out of range [%lld, %lld]", (long long)min, (long long)max);
        return fail(err, errlen, name, s, why);
    }
    *out = v;
    return 0;
}

int s4f_web_parse_ident(const char *name, const char *s, size_t maxlen, char *err, size_t errlen)
{
    size_t n = strnlen(s, maxlen + 1);
    if (n == 0 || n > maxlen)
        return fail(err, errlen, name, s, "has a bad length");
    if (!islower((unsigned char)s[0]))
        return fail(err, errlen, name, s, "must start with a letter a-z");
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return fail(err, errlen, name, s, "may only hold a-z, 0-9 and _");
    return 0;
}

int s4f_web_parse_username(const char *s, char *err, size_t errlen)
{
    size_t n = strnlen(s, 65);
    if (n == 0 || n > 64)
        return fail(err, errlen, "name", s, "must be 1 to 64 characters long");
    if (s[0] == '.' || s[0] == '-')
        return fail(err, errlen, "name", s, "may not start with '.' or '-'");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '@' || c == '-'))
            return fail(err, errlen, "name", s, "may only hold A-Z, a-z, 0-9 and . _ @ -");
    }
    return 0;
}

/* "<n>m", "<n>h" or "<n>d" with n > 0. */
static int parse_span(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    if (n < 2 || n > 6)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    switch (s[n - 1]) {
    case 'm':
        v *= 60000;
        break;
    case 'h':
        v *= 3600000;
        break;
    case 'd':
        v *= 86400000;
        break;
    default:
        return -1;
    }
    *ms = v;
    return v > 0 ? 0 : -1;
}

static const struct {
    const char *name;
    int64_t ms;
} intervals[] = {{"10s", 10000}, {"30s", 30000},  {"1m", 60000},
                 {"5m", 300000}, {"15m", 900000}, {"1h", 3600000}};

int s4f_web_parse_range(const char *range, const char *from, const char *to, const char *interval,
                        int64_t now_ms, int64_t default_ms, struct s4f_web_range *out, char *err,
                        size_t errlen)
{
    int64_t f, t = now_ms;
    if (range && (from || to)) {
        snprintf(err, errlen, "parameter 'range' cannot be combined with 'from' or 'to'");
        return -1;
    }
    if (range) {
        int64_t span;
        if (too_long(range) || parse_span(range, &span) != 0)
            return fail(err, errlen, "range", range, "is not a span such as 1h, 6h, 24h or 2d");
        if (span > S4F_WEB_RANGE_MAX_MS)
            return fail(err, errlen, "range", range, "is longer than 31 days");
        f = now_ms - span;
    } else if (from) {
        if (s4f_web_parse_time("from", from, &f, err, errlen) != 0)
            return -1;
        if (to && s4f_web_parse_time("to", to, &t, err, errlen) != 0)
            return -1;
    } else if (to) {
        snprintf(err, errlen, "parameter 'to' needs 'from'");
        return -1;
    } else {
        f = now_ms - default_ms;
    }
    if (t <= f) {
        snprintf(err, errlen, "parameter 'from' must be before 'to'");
        return -1;
    }
    if (t - f > S4F_WEB_RANGE_MAX_MS) {
        snprintf(err, errlen, "the time range may span at most 31 days");
        return -1;
    }
    int64_t iv = 0;
    if (interval) {
        for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
            if (strcmp(interval, intervals[i].name) == 0)
                iv = intervals[i].ms;
        if (!iv)
            return fail(err, errlen, "interval", interval,
                        "is not one of 10s, 30s, 1m, 5m, 15m, 1h");
        if ((t - f) / iv > S4F_WEB_MAX_BUCKETS) {
            snprintf(err, errlen,
                     "parameter 'interval': %s is too fine for this range (more than %d points); "
                     "choose a wider interval",
                     interval, S4F_WEB_MAX_BUCKETS);
            return -1;
        }
    } else {
        /* About 300..1500 points: enough detail, small answers. */
        for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
            iv = intervals[i].ms;
            if ((t - f) / iv <= 1500)
                break;
        }
    }
    /* Start on a bucket boundary so the first point covers a whole interval like the rest. */
    out->from_ms = f - f % iv;
    out->to_ms = t;
    out->interval_ms = iv;
    return 0;
}
