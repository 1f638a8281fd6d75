#include "jscan.h"

#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct scan {
    const unsigned char *p, *end, *start;
    const char *why;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int fail(struct scan *s, const char *why)
{
    if (!s->why)
        s->why = why;
    return -1;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0: surrogates are not
 * text. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    uint32_t cp;
    size_t n = s4f_utf8_decode(p, (size_t)(end - p), &cp);
    return n && !(cp >= 0xd800 && cp <= 0xdfff) ? n : 0;
}

/* At the opening quote; leaves p after the closing one. */
static int string(struct s4f_jval *v, struct scan *s)
{
    const unsigned char *begin = ++s->p;
    bool escaped = false;
    while (s->p < s->end) {
        unsigned c = *s->p;
        if (c == '"') {
            if (v) {
                v->kind = S4F_J_STRING;
                v->p = (const char *)begin;
                v->len = (size_t)(s->p - begin);
                v->escaped = escaped;
            }
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, "control character in a string");
        if (c == '\\') {
            escaped = true;
            if (s->end - s->p < 2)
                return fail(s, "truncated escape");
            unsigned e = s->p[1];
            if (e == 'u') {
                unsigned u;
                if (s->end - s->p < 6 || hex4(s->p + 2, &u) != 0)
                    return fail(s, "bad \\u escape");
                s->p += 6;
            } else if (strchr("\"\\/bfnrt", (int)e) && e) {
                s->p += 2;
            } else {
                return fail(s, "bad escape");
            }
            continue;
        }
        if (c < 0x80) {
            s->p++;
            continue;
        }
        size_t n = utf8_len(s->p, s->end);
        if (!n)
            return fail(s, "invalid UTF-8");
        s->p += n;
    }
    return fail(s, "unterminated string");
}

static int number(struct scan *s)
{
    const char *e = s4f_json_number_end((const char *)s->p, (const char *)s->end);
    if (!e)
        return fail(s, "bad number");
    s->p = (const unsigned char *)e;
    return 0;
}

static int literal(struct scan *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "unexpected character");
    s->p += n;
    return 0;
}

struct want {
    const char *const *keys;
    size_t nkeys;
    struct s4f_jval *vals;
};

static int value(struct scan *s, int depth, const struct want *w);

static int container(struct scan *s, int depth, const struct want *w)
{
    int obj = *s->p == '{';
    unsigned char close = obj ? '}' : ']';
    if (depth >= S4F_JSCAN_MAX_DEPTH)
        return fail(s, "nested too deep");
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        struct s4f_jval *slot = NULL;
        if (obj) {
            struct s4f_jval key;
            if (s->p >= s->end || *s->p != '"')
                return fail(s, "member name expected");
            if (string(&key, s) != 0)
                return -1;
            /* Only top-level members are reported. */
            for (size_t i = 0; w && depth == 0 && i < w->nkeys; i++) {
                if (strlen(w->keys[i]) == key.len && memcmp(w->keys[i], key.p, key.len) == 0) {
                    if (w->vals[i].kind != S4F_J_NONE)
                        return fail(s, "duplicate member");
                    slot = &w->vals[i];
                }
            }
            ws(s);
            if (s->p >= s->end || *s->p != ':')
                return fail(s, "':' expected");
            s->p++;
            ws(s);
        }
        const unsigned char *vstart = s->p;
        if (slot && s->p < s->end && *s->p == '"') {
            if (string(slot, s) != 0)
                return -1;
        } else {
            if (value(s, depth + 1, w) != 0)
                return -1;
            if (slot) {
                slot->kind = (*vstart == '-' || (*vstart >= '0' && *vstart <= '9')) ? S4F_J_NUMBER
                                                                                    : S4F_J_OTHER;
                slot->p = (const char *)vstart;
                slot->len = (size_t)(s->p - vstart);
            }
        }
        ws(s);
        if (s->p >= s->end)
            return fail(s, "truncated");
        if (*s->p == ',') {
            s->p++;
            ws(s);
            continue;
        }
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        return fail(s, obj ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static int value(struct scan *s, int depth, const struct want *w)
{
    if (s->p >= s->end)
        return fail(s, "value expected");
    switch (*s->p) {
    case '{':
    case '[':
        return container(s, depth, w);
    case '"':
        return string(NULL, s);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        return number(s);
    }
}

int s4f_jscan_object(const char *buf, size_t len, const char *const *keys, size_t nkeys,
                     struct s4f_jval *vals, char *err, size_t errlen)
{
    struct scan s = {(const unsigned char *)buf, (const unsigned char *)buf + len,
                     (const unsigned char *)buf, NULL};
    struct want w = {keys, nkeys, vals};
    memset(vals, 0, nkeys * sizeof(*vals));
    ws(&s);
    if (s.p >= s.end || *s.p != '{') {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    if (container(&s, 0, &w) == 0) {
        ws(&s);
        if (s.p == s.end)
            return 0;
        fail(&s, "data after the object");
    }
    snprintf(err, errlen, "not JSON: %s at byte %zu", s.why, (size_t)(s.p - s.start));
    return -1;
}

long s4f_jscan_unescape(const struct s4f_jval *v, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)v->p, *end = p + v->len;
    size_t o = 0;
    if (v->kind != S4F_J_STRING || outlen == 0)
        return -1;
    while (p < end) {
        char tmp[4];
        size_t n = 1;
        if (*p != '\\') {
            tmp[0] = (char)*p++;
        } else {
            unsigned e = p[1];
            p += 2;
            switch (e) {
            case 'b':
                tmp[0] = '\b';
                break;
            case 'f':
                tmp[0] = '\f';
                break;
            case 'n':
                tmp[0] = '\n';
                break;
            case 'r':
                tmp[0] = '\r';
                break;
            case 't':
                tmp[0] = '\t';
                break;
            case 'u': {
                unsigned cp = 0, lo = 0;
                hex4(p, &cp); /* validated by the scan */
                p += 4;
                if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                    hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                } else if (cp >= 0xd800 && cp <= 0xdfff) {
                    cp = 0xfffd; /* a lone surrogate has no UTF-8 form */
                }
                if (cp == 0)
                    return -1;
                n = s4f_utf8_encode(tmp, cp);
                break;
            }
            default:
                tmp[0] = (char)e;
                break; /* " \ / */
            }
        }
        if (o + n >= outlen)
            return -1;
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o] = '\0';
    return (long)o;
}
