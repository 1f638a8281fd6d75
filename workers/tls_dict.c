/* The TLS classification dictionary: see tls_dict.h for the format. Entries are kept in one
 * array and found through an open-addressing table of (kind, key bytes). */
#include "tls_dict.h"

#include "htab.h"
#include "s4f.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Internal kind of sni:*.<domain> entries: keyed by the domain. */
#define KIND_SNI_WILD 5
#define SNI_MAX       253
#define JA4_MAX       128

struct ent {
    uint8_t kind;
    uint16_t klen;
    uint64_t hash;
    char *key; /* klen bytes, then the four class texts, one allocation */
    struct s4f_tls_class cls;
};

struct s4f_tls_dict {
    struct ent *ents;
    size_t n, cap;
    size_t *slots; /* index + 1; 0: empty */
    size_t nslots; /* a power of two, at least twice n */
};

static uint64_t key_hash(uint8_t kind, const void *key, size_t len)
{
    return s4f_hash_bytes(key, len) ^ ((uint64_t)kind * 0x9E3779B97F4A7C15ull);
}

static const struct ent *find(const struct s4f_tls_dict *d, uint8_t kind, const void *key,
                              size_t len)
{
    if (!d || !d->nslots || len > UINT16_MAX)
        return NULL;
    uint64_t h = key_hash(kind, key, len);
    for (size_t i = h & (d->nslots - 1);; i = (i + 1) & (d->nslots - 1)) {
        size_t s = d->slots[i];
        if (!s)
            return NULL;
        const struct ent *e = &d->ents[s - 1];
        if (e->hash == h && e->kind == kind && e->klen == len && memcmp(e->key, key, len) == 0)
            return e;
    }
}

static int grow_slots(struct s4f_tls_dict *d)
{
    size_t ns = d->nslots ? d->nslots * 2 : 64;
    size_t *slots = calloc(ns, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t k = 0; k < d->n; k++) {
        size_t i = d->ents[k].hash & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = k + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = ns;
    return 0;
}

void s4f_tls_dict_free(struct s4f_tls_dict *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->ents[i].key);
    free(d->ents);
    free(d->slots);
    free(d);
}

size_t s4f_tls_dict_size(const struct s4f_tls_dict *d)
{
    return d ? d->n : 0;
}

struct parse {
    const char *name;
    size_t line;
    char *err;
    size_t errlen;
};

static int perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parse *p, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%zu: %s", p->name, p->line, msg);
    return -1;
}

/* Valid UTF-8 without control characters. */
static bool text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < k)
            return false;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0x80 && cp <= 0x9F))
            return false;
        i += k;
    }
    return true;
}

static bool ascii_key_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return false;
    return n > 0;
}

/* The key column into (kind, bytes): suites as big-endian 16-bit values, JA3 as 16 bytes,
 * JA4 as given, SNI lower-cased (wildcards without their "*."). */
static int parse_key(struct parse *p, const char *s, size_t n, uint8_t *kind, uint8_t *out,
                     size_t *olen)
{
    if (n > 4 && memcmp(s, "ja3:", 4) == 0) {
        if (n != 4 + 32)
            return perr(p, "a ja3: key is 32 hexadecimal digits");
        for (size_t i = 0; i < 16; i++) {
            int hi = s4f_hexval(s[4 + 2 * i]), lo = s4f_hexval(s[5 + 2 * i]);
            if (hi < 0 || lo < 0)
                return perr(p, "a ja3: key is 32 hexadecimal digits");
            out[i] = (uint8_t)(hi << 4 | lo);
        }
        *kind = S4F_TLS_KEY_JA3;
        *olen = 16;
        return 0;
    }
    if (n > 4 && memcmp(s, "ja4:", 4) == 0) {
        if (n - 4 > JA4_MAX || !ascii_key_ok(s + 4, n - 4))
            return perr(p, "a ja4: key is 1 to %d printable ASCII characters", JA4_MAX);
        memcpy(out, s + 4, n - 4);
        *kind = S4F_TLS_KEY_JA4;
        *olen = n - 4;
        return 0;
    }
    if (n > 4 && memcmp(s, "sni:", 4) == 0) {
        s += 4;
        n -= 4;
        *kind = S4F_TLS_KEY_SNI;
        if (n > 2 && s[0] == '*' && s[1] == '.') {
            s += 2;
            n -= 2;
            *kind = KIND_SNI_WILD;
        }
        if (n > SNI_MAX || !ascii_key_ok(s, n) || memchr(s, '*', n))
            return perr(p,
                        "an sni: key is a name of 1 to %d printable ASCII characters, "
                        "optionally after '*.'",
                        SNI_MAX);
        for (size_t i = 0; i < n; i++)
            out[i] = (uint8_t)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        *olen = n;
        return 0;
    }
    /* Cipher suites: 0xHHHH[,0xHHHH]... */
    size_t ns = 0;
    for (size_t i = 0; i < n;) {
        if (ns == S4F_TLS_DICT_MAX_SUITES)
            return perr(p, "more than %d cipher suites in a key", S4F_TLS_DICT_MAX_SUITES);
        if (n - i < 6 || s[i] != '0' || (s[i + 1] != 'x' && s[i + 1] != 'X'))
            return perr(p, "a key is ja3:, ja4:, sni: or cipher suites written 0xHHHH,0xHHHH...");
        unsigned v = 0;
        for (size_t j = 2; j < 6; j++) {
            int h = s4f_hexval(s[i + j]);
            if (h < 0)
                return perr(p, "a key is ja3:, ja4:, sni: or cipher suites written "
                               "0xHHHH,0xHHHH...");
            v = v << 4 | (unsigned)h;
        }
        if (v == 0)
            return perr(p, "cipher suite 0x0000 never matches (it is dropped from what the "
                           "probe sends)");
        out[2 * ns] = (uint8_t)(v >> 8);
        out[2 * ns + 1] = (uint8_t)v;
        ns++;
        i += 6;
        if (i < n) {
            if (s[i] != ',' || i + 1 == n)
                return perr(p, "cipher suites are separated by ','");
            i++;
        }
    }
    if (!ns)
        return perr(p, "empty key");
    *kind = S4F_TLS_KEY_SUITES;
    *olen = 2 * ns;
    return 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* One line (without its newline). 0, 1 (nothing to add) or -1. */
static int parse_line(struct parse *p, struct s4f_tls_dict *d, const char *s, size_t n,
                      size_t *dups)
{
    if (n && s[n - 1] == '\r')
        n--;
    const char *t = s;
    size_t tn = n;
    trim(&t, &tn);
    if (!tn || t[0] == '#')
        return 1;
    const char *col[5];
    size_t len[5];
    size_t nc = 0;
    const char *c = s, *end = s + n;
    for (;;) {
        const char *semi = memchr(c, ';', (size_t)(end - c));
        const char *stop = semi ? semi : end;
        if (nc < 5) {
            col[nc] = c;
            len[nc] = (size_t)(stop - c);
            trim(&col[nc], &len[nc]);
        }
        nc++;
        if (!semi)
            break;
        c = semi + 1;
    }
    if (nc != 5)
        return perr(p,
                    "expected 5 ';'-separated columns "
                    "(key;device_type;operating_system;application;browser), got %zu",
                    nc);
    if (len[0] == 6 && memcmp(col[0], "suites", 6) == 0)
        return 1; /* the original's header line */
    for (int i = 1; i < 5; i++) {
        if (len[i] > S4F_TLS_DICT_TEXT_MAX)
            return perr(p, "column %d is longer than %d bytes", i + 1, S4F_TLS_DICT_TEXT_MAX);
        if (!text_ok((const unsigned char *)col[i], len[i]))
            return perr(p, "column %d has control characters or is not UTF-8", i + 1);
    }
    uint8_t key[2 * S4F_TLS_DICT_MAX_SUITES + SNI_MAX + JA4_MAX], kind = 0;
    size_t klen = 0;
    if (parse_key(p, col[0], len[0], &kind, key, &klen) != 0)
        return -1;
    size_t total = klen + len[1] + len[2] + len[3] + len[4] + 4;
    char *mem = malloc(total);
    if (!mem)
        return perr(p, "out of memory");
    memcpy(mem, key, klen);
    char *q = mem + klen;
    const char *texts[4];
    for (int i = 0; i < 4; i++) {
        memcpy(q, col[i + 1], len[i + 1]);
        q[len[i + 1]] = '\0';
        texts[i] = q;
        q += len[i + 1] + 1;
    }
    struct ent e = {.kind = kind,
                    .klen = (uint16_t)klen,
                    .hash = key_hash(kind, key, klen),
                    .key = mem,
                    .cls = {texts[0], texts[1], texts[2], texts[3]}};
    struct ent *old = (struct ent *)find(d, kind, key, klen);
    if (old) { /* the later line wins */
        free(old->key);
        *old = e;
        (*dups)++;
        return 0;
    }
    if (d->n == S4F_TLS_DICT_MAX_ENTRIES) {
        free(mem);
        return perr(p, "more than %d entries", S4F_TLS_DICT_MAX_ENTRIES);
    }
    if (d->n == d->cap) {
        size_t nc2 = d->cap ? d->cap * 2 : 256;
        struct ent *g = realloc(d->ents, nc2 * sizeof(*g));
        if (!g) {
            free(mem);
            return perr(p, "out of memory");
        }
        d->ents = g;
        d->cap = nc2;
    }
    d->ents[d->n++] = e;
    if (2 * d->n > d->nslots) { /* rebuilds the slots, the new entry with them */
        if (grow_slots(d) != 0) {
            d->n--;
            free(mem);
            return perr(p, "out of memory");
        }
    } else {
        size_t i = e.hash & (d->nslots - 1);
        while (d->slots[i])
            i = (i + 1) & (d->nslots - 1);
        d->slots[i] = d->n;
    }
    return 0;
}

struct s4f_tls_dict *s4f_tls_dict_parse(const char *name, const char *text, size_t len,
                                        size_t *duplicates, char *err, size_t errlen)
{
    struct parse p = {name ? name : "(dictionary)", 0, err, errlen};
    size_t dups = 0;
    if (len > S4F_TLS_DICT_MAX_BYTES) {
        perr(&p, "larger than %d bytes", S4F_TLS_DICT_MAX_BYTES);
        return NULL;
    }
    struct s4f_tls_dict *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "%s: out of memory", p.name);
        return NULL;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* a byte-order mark */
        text += 3;
        len -= 3;
    }
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *stop = nl ? nl : end;
        p.line++;
        if (parse_line(&p, d, s, (size_t)(stop - s), &dups) < 0) {
            s4f_tls_dict_free(d);
            return NULL;
        }
        s = nl ? nl + 1 : end;
    }
    if (duplicates)
        *duplicates = dups;
    return d;
}

struct s4f_tls_dict *s4f_tls_dict_load(const char *path, size_t *duplicates, char *err,
                                       size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    struct s4f_tls_dict *d = NULL;
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap) {
            if (ferror(fp)) {
                snprintf(err, errlen, "%s: read error", path);
                goto out;
            }
            break;
        }
        if (cap > S4F_TLS_DICT_MAX_BYTES) {
            snprintf(err, errlen, "%s: larger than %d bytes", path, S4F_TLS_DICT_MAX_BYTES);
            goto out;
        }
        char *g = realloc(buf, cap * 2);
        if (!g)
            break;
        buf = g;
        cap *= 2;
    }
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    d = s4f_tls_dict_parse(path, buf, n, duplicates, err, errlen);
out:
    free(buf);
    fclose(fp);
    return d;
}

const struct s4f_tls_class *s4f_tls_dict_suites(const struct s4f_tls_dict *d,
                                                const uint16_t *suites, size_t n)
{
    uint8_t key[2 * S4F_TLS_DICT_MAX_SUITES];
    if (!n || n > S4F_TLS_DICT_MAX_SUITES)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        key[2 * i] = (uint8_t)(suites[i] >> 8);
        key[2 * i + 1] = (uint8_t)suites[i];
    }
    const struct ent *e = find(d, S4F_TLS_KEY_SUITES, key, 2 * n);
    return e ? &e->cls : NULL;
}

const struct s4f_tls_class *s4f_tls_dict_ja3(const struct s4f_tls_dict *d, const uint8_t md5[16])
{
    const struct ent *e = find(d, S4F_TLS_KEY_JA3, md5, 16);
    return e ? &e->cls : NULL;
}

const struct s4f_tls_class *s4f_tls_dict_ja4(const struct s4f_tls_dict *d, const char *ja4,
                                             size_t len)
{
    const struct ent *e = len && len <= JA4_MAX ? find(d, S4F_TLS_KEY_JA4, ja4, len) : NULL;
    return e ? &e->cls : NULL;
}

const struct s4f_tls_class *s4f_tls_dict_sni(const struct s4f_tls_dict *d, const char *sni,
                                             size_t len)
{
    char low[SNI_MAX];
    if (!len || len > SNI_MAX)
        return NULL;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ? sni[i] + 32 : sni[i]);
    const struct ent *e = find(d, S4F_TLS_KEY_SNI, low, len);
    for (size_t i = 0; !e && i < len; i++)
        if (low[i] == '.' && i + 1 < len)
            e = find(d, KIND_SNI_WILD, low + i + 1, len - i - 1);
    return e ? &e->cls : NULL;
}
