/* Hand-written JSON value formatting for the hot path. Every function writes at p (the caller
 * has reserved enough room: see the bounds in record.c) and returns the new end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

static const char digits2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";
static const char hexd[] = "0123456789abcdef";

bool s4f_jbuf_reserve(struct s4f_jbuf *jb, size_t more)
{
    if (jb->cap - jb->len >= more)
        return true;
    size_t cap = jb->cap ? jb->cap : 4096;
    while (cap - jb->len < more)
        cap *= 2;
    char *nb = realloc(jb->buf, cap);
    if (!nb)
        return false;
    jb->buf = nb;
    jb->cap = cap;
    return true;
}

char *s4f_json_u64(char *p, uint64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp), *s = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        s -= 2;
        memcpy(s, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        s -= 2;
        memcpy(s, digits2 + 2 * v, 2);
    } else {
        *--s = (char)('0' + v);
    }
    size_t n = (size_t)(e - s);
    memcpy(p, s, n);
    return p + n;
}

char *s4f_json_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return s4f_json_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return s4f_json_u64(p, (uint64_t)v);
}

static inline char *put_u8(char *p, unsigned b)
{
    if (b >= 100) {
        *p++ = (char)('0' + b / 100);
        b %= 100;
        memcpy(p, digits2 + 2 * b, 2);
        return p + 2;
    }
    if (b >= 10) {
        memcpy(p, digits2 + 2 * b, 2);
        return p + 2;
    }
    *p++ = (char)('0' + b);
    return p;
}

/* "a.b.c.d" with quotes: at most 17 bytes. */
char *s4f_json_ipv4(char *p, const uint8_t *a)
{
    *p++ = '"';
    p = put_u8(p, a[0]);
    *p++ = '.';
    p = put_u8(p, a[1]);
    *p++ = '.';
    p = put_u8(p, a[2]);
    *p++ = '.';
    p = put_u8(p, a[3]);
    *p++ = '"';
    return p;
}

/* RFC 5952 text with quotes: at most 41 bytes (47 for the ::ffff:a.b.c.d form). */
char *s4f_json_ipv6(char *p, const uint8_t *a)
{
    uint16_t w[8];
    for (int i = 0; i < 8; i++)
        w[i] = s4f_rd16(a + 2 * i);
    /* Longest run of two or more zero groups, first one on ties. */
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8;) {
        if (w[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && !w[j])
            j++;
        if (j - i > bestlen && j - i >= 2) {
            best = i;
            bestlen = j - i;
        }
        i = j;
    }
    *p++ = '"';
    /* IPv4-mapped addresses read better in mixed notation. */
    if (best == 0 && bestlen == 5 && w[5] == 0xffff) {
        char v4[20];
        char *e = s4f_json_ipv4(v4, a + 12);
        memcpy(p, "::ffff:", 7);
        p += 7;
        memcpy(p, v4 + 1, (size_t)(e - v4 - 1)); /* with the closing quote */
        return p + (e - v4 - 1);
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            *p++ = ':';
            if (i == 0)
                *p++ = ':';
            i += bestlen - 1;
            continue;
        }
        unsigned v = w[i];
        if (v >= 0x1000)
            *p++ = hexd[v >> 12];
        if (v >= 0x100)
            *p++ = hexd[(v >> 8) & 15];
        if (v >= 0x10)
            *p++ = hexd[(v >> 4) & 15];
        *p++ = hexd[v & 15];
        if (i < 7)
            *p++ = ':';
    }
    *p++ = '"';
    return p;
}

/* "aa:bb:cc:dd:ee:ff": 19 bytes. */
char *s4f_json_mac(char *p, const uint8_t *a)
{
    *p++ = '"';
    for (int i = 0; i < 6; i++) {
        *p++ = hexd[a[i] >> 4];
        *p++ = hexd[a[i] & 15];
        *p++ = i < 5 ? ':' : '"';
    }
    return p;
}

/* "0x..." : 2n + 4 bytes. */
char *s4f_json_hex(char *p, const uint8_t *a, size_t n)
{
    *p++ = '"';
    *p++ = '0';
    *p++ = 'x';
    for (size_t i = 0; i < n; i++) {
        *p++ = hexd[a[i] >> 4];
        *p++ = hexd[a[i] & 15];
    }
    *p++ = '"';
    return p;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not valid (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c >= 0xc2 && c <= 0xdf) {
        if (n >= 2 && (s[1] & 0xc0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && s[1] >= 0x90)
            return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

/* Quoted, escaped string: at most 6n + 2 bytes. Trailing NUL bytes (fixed-length padding) are
 * dropped; control characters are escaped; invalid UTF-8 becomes U+FFFD. */
char *s4f_json_string(char *p, const uint8_t *s, size_t n)
{
    while (n && s[n - 1] == 0)
        n--;
    *p++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            memcpy(p, s + i, run - i);
            p += run - i;
            i = run;
            if (i == n)
                break;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            *p++ = '\\';
            switch (c) {
            case '"':
                *p++ = '"';
                break;
            case '\\':
                *p++ = '\\';
                break;
            case '\n':
                *p++ = 'n';
                break;
            case '\r':
                *p++ = 'r';
                break;
            case '\t':
                *p++ = 't';
                break;
            default:
                memcpy(p, "u00", 3);
                p[3] = hexd[c >> 4];
                p[4] = hexd[c & 15];
                p += 5;
            }
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k) {
            memcpy(p, s + i, k);
            p += k;
            i += k;
        } else {
            memcpy(p, "\xef\xbf\xbd", 3);
            p += 3;
            i++;
        }
    }
    *p++ = '"';
    return p;
}

/* At most 32 bytes. JSON has no NaN or infinity: those become null. */
char *s4f_json_double(char *p, double v)
{
    if (!isfinite(v)) {
        memcpy(p, "null", 4);
        return p + 4;
    }
    int n = snprintf(p, 32, "%.17g", v);
    return p + (n > 0 && n < 32 ? n : 0);
}
