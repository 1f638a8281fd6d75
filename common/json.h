/* The pieces of JSON grammar and UTF-8 that every reader of untrusted JSON needs: the sink's
 * single-pass checker (sink/jscan.c) and the worker's flow reader (workers/flow_reader.c). Each
 * reader keeps its own policy (what it refuses, what it replaces with U+FFFD); these say only
 * what is well formed.
 *
 * Header only (static inline): both readers are on their daemon's hot path. Pure functions, no
 * state: any thread. */
#ifndef S4F_JSON_H
#define S4F_JSON_H

#include <stddef.h>
#include <stdint.h>

/* The end of the JSON number (RFC 8259 grammar: -?int frac? exp?) starting at p, or NULL when
 * [p, end) does not start with one. */
static inline const char *s4f_json_number_end(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return NULL;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

/* The multi-byte UTF-8 sequence at s (lead byte >= 0x80, n bytes available): its length (2 to
 * 4) and code point in *cp, or 0 when it is invalid, overlong, truncated or beyond U+10FFFF.
 * Encoded surrogates (U+D800 to U+DFFF) are returned as such: the caller decides. */
static inline size_t s4f_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    uint32_t v, min;
    size_t k;
    if (c >= 0xC2 && c <= 0xDF) {
        v = c & 0x1F;
        k = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        v = c & 0x0F;
        k = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        v = c & 0x07;
        k = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF)
        return 0;
    *cp = v;
    return k;
}

/* Writes code point cp (at most U+10FFFF) as UTF-8 into out (4 bytes of room); returns the
 * length. */
static inline size_t s4f_utf8_encode(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
