/* Result documents: see result.h. */
#include "result.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void s4f_emit_init(struct s4f_emit *out, const struct s4f_emit_opts *o)
{
    *out = (struct s4f_emit){
        .emit = o->emit,
        .emit_changelog = o->emit_changelog,
        .ctx = o->ctx,
        .changelog = o->changelog && o->emit_changelog,
        .taken = o->taken,
        .owner = o->owner,
        .m_results = o->m_results,
        .m_refused = o->m_refused,
    };
}

void s4f_emit_start(struct s4f_emit *out, int64_t start_ms, int64_t end_ms, int32_t partition,
                    void *win)
{
    out->start_ms = start_ms;
    out->end_ms = end_ms;
    out->partition = partition;
    out->win = win;
    out->retry = false;
    out->nretry = 0;
}

void s4f_emit_release(struct s4f_emit *out)
{
    free(out->jb.buf);
    out->jb = (struct s4f_jbuf){0};
}

/* ---- JSON buffer ------------------------------------------------------------------------- */

static void jb_grow_put(struct s4f_jbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > cap)
            cap *= 2;
        if (cap > (16u << 20)) { /* a result this large is a bug: refuse it */
            b->failed = true;
            return;
        }
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = true;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static inline void jb_put(struct s4f_jbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 <= b->cap && !b->failed) {
        memcpy(b->buf + b->len, s, n);
        b->len += n;
        b->buf[b->len] = '\0';
        return;
    }
    jb_grow_put(b, s, n);
}

static void jb_puts(struct s4f_jbuf *b, const char *s)
{
    jb_put(b, s, strlen(s));
}

static void jb_sep(struct s4f_jbuf *b)
{
    if (!b->len)
        return;
    char c = b->buf[b->len - 1];
    if (c != '{' && c != '[' && c != ':')
        jb_put(b, ",", 1);
}

/* Whether one of the 8 bytes of w needs escaping: below 0x20, '"' or '\\' (the classic
 * "has a zero byte" test on w, w ^ '"'s and w ^ '\\'s; bytes of 0x80 and above never match). */
static inline bool word_needs_escape(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high;
}

static void jb_escaped(struct s4f_jbuf *b, const char *s)
{
    jb_put(b, "\"", 1);
    const char *end = s + strlen(s);
    for (;;) {
        /* Copy runs that need no escaping in one go: keys and addresses are all run. Eight
         * bytes a step while they need none. */
        const char *run = s;
        for (uint64_t w; end - s >= 8; s += 8) {
            memcpy(&w, s, 8);
            if (word_needs_escape(w))
                break;
        }
        while ((unsigned char)*s >= 0x20 && *s != '"' && *s != '\\')
            s++;
        if (s > run)
            jb_put(b, run, (size_t)(s - run));
        unsigned char c = (unsigned char)*s;
        if (!c)
            break;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            jb_put(b, esc, 2);
        } else {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            jb_puts(b, esc);
        }
        s++;
    }
    jb_put(b, "\"", 1);
}

/* Decimal digits of v, written backwards ending at end; returns the first. */
static char *u64_digits(uint64_t v, char *end)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void s4f_jb_key(struct s4f_jbuf *b, const char *key)
{
    jb_sep(b);
    jb_escaped(b, key);
    jb_put(b, ":", 1);
}

void s4f_jb_str(struct s4f_jbuf *b, const char *key, const char *val)
{
    s4f_jb_key(b, key);
    jb_escaped(b, val);
}

void s4f_jb_u64(struct s4f_jbuf *b, const char *key, uint64_t v)
{
    char num[24];
    s4f_jb_key(b, key);
    char *p = u64_digits(v, num + sizeof(num));
    jb_put(b, p, (size_t)(num + sizeof(num) - p));
}

void s4f_jb_i64(struct s4f_jbuf *b, const char *key, int64_t v)
{
    char num[24];
    s4f_jb_key(b, key);
    /* The magnitude as unsigned: -INT64_MIN does not fit an int64_t. */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = u64_digits(m, num + sizeof(num));
    if (v < 0)
        *--p = '-';
    jb_put(b, p, (size_t)(num + sizeof(num) - p));
}

void s4f_jb_time(struct s4f_jbuf *b, const char *key, int64_t epoch_ms)
{
    const char *iso = NULL;
    for (unsigned i = 0; i < S4F_JB_TCACHE && !iso; i++)
        if (b->tcache[i][0] && b->tcache_ms[i] == epoch_ms)
            iso = b->tcache[i];
    if (!iso) {
        unsigned i = b->tcache_next++ % S4F_JB_TCACHE;
        b->tcache_ms[i] = epoch_ms;
        iso = s4f_iso8601_ms(epoch_ms, b->tcache[i], sizeof(b->tcache[i]));
    }
    s4f_jb_str(b, key, iso);
}

void s4f_jb_raw(struct s4f_jbuf *b, const char *text)
{
    if (text[0] == '{' || text[0] == '[')
        jb_sep(b);
    jb_puts(b, text);
}

/* ---- results ----------------------------------------------------------------------------- */

static char *put_str(char *p, char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - p) <= n)
        return NULL;
    memcpy(p, s, n);
    return p + n;
}

static char *put_i64(char *p, char *end, int64_t v)
{
    char num[24];
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *d = u64_digits(m, num + sizeof(num));
    if (v < 0)
        *--d = '-';
    size_t n = (size_t)(num + sizeof(num) - d);
    if ((size_t)(end - p) <= n)
        return NULL;
    memcpy(p, d, n);
    return p + n;
}

/* "<type>:<start>+<len>:p<partition>:<key>" without snprintf (one per document). Returns the
 * length, or -1 when it does not fit. */
static int id_format(char *buf, size_t len, const char *type, int64_t start, int64_t wlen,
                     int32_t partition, const char *key)
{
    char *p = buf, *end = buf + len;
    if ((p = put_str(p, end, type)) && (p = put_str(p, end, ":")) && (p = put_i64(p, end, start)) &&
        (p = put_str(p, end, "+")) && (p = put_i64(p, end, wlen)) && (p = put_str(p, end, ":p")) &&
        (p = put_i64(p, end, partition)) && (p = put_str(p, end, ":")) &&
        (p = put_str(p, end, key))) {
        *p = '\0';
        return (int)(p - buf);
    }
    return -1;
}

struct s4f_jbuf *s4f_result_begin(struct s4f_emit *out, const char *type, const char *key,
                                  int64_t window_start, int64_t window_end)
{
    if (!window_start && !window_end) {
        window_start = out->start_ms;
        window_end = out->end_ms;
    }
    /* The id names the type, the window, the input partition and the key: the same result
     * computed again (re-emission, replay after a crash, another process after a rebalance)
     * gets the same id and overwrites itself downstream. Kept well under 200 bytes: keys
     * are addresses and ports. */
    int n = id_format(out->id, sizeof(out->id), type, window_start, window_end - window_start,
                      out->partition, key);
    if (n < 0 || n > 200) {
        s4f_error_rl("result id for %s too long (key '%.40s...'): dropped", type, key);
        s4f_metric_inc(out->m_refused);
        return NULL;
    }
    out->jb.len = 0;
    out->jb.failed = false;
    jb_puts(&out->jb, "{");
    s4f_jb_str(&out->jb, "@type", type);
    s4f_jb_time(&out->jb, "@timestamp", window_end);
    s4f_jb_time(&out->jb, "window_start", window_start);
    s4f_jb_time(&out->jb, "window_end", window_end);
    s4f_jb_str(&out->jb, "id", out->id);
    out->open = true;
    return &out->jb;
}

/* What became of one message of the window being emitted: taken (the window waits for its
 * acknowledgement), back-pressure (the emission is retried or, for final results, counted as
 * lost) or refused for good (counted). True when taken. */
static bool emitted(struct s4f_emit *out, enum s4f_status st)
{
    if (st == S4F_OK) {
        out->taken(out->owner, out->win);
        return true;
    }
    if (st == S4F_RETRY) {
        out->retry = true;
        out->nretry++;
    } else {
        s4f_metric_inc(out->m_refused);
    }
    return false;
}

void s4f_result_end(struct s4f_emit *out)
{
    if (!out->open)
        return;
    out->open = false;
    jb_puts(&out->jb, "}");
    if (out->jb.failed) {
        s4f_error_rl("result %s could not be built (out of memory): dropped", out->id);
        s4f_metric_inc(out->m_refused);
        return;
    }
    if (emitted(out, out->emit(out->ctx, out->id, out->jb.buf, out->jb.len, out->win)))
        s4f_metric_inc(out->m_results);
}

bool s4f_emit_has_changelog(const struct s4f_emit *out)
{
    return out->changelog;
}

void s4f_emit_changelog(struct s4f_emit *out, const void *key, size_t klen, const void *val,
                        size_t vlen)
{
    if (!s4f_emit_has_changelog(out))
        return;
    emitted(out, out->emit_changelog(out->ctx, out->partition, key, klen, val, vlen, out->win));
}
