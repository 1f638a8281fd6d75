#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FIRST_CAP 4096

int s4f_buf_reserve(struct s4f_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -1;
    size_t need = b->len + extra + 1;
    if (b->p && need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : FIRST_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    if (!b->p)
        p[0] = '\0';
    b->p = p;
    b->cap = cap;
    return 0;
}

int s4f_buf_append(struct s4f_buf *b, const void *data, size_t len)
{
    if (s4f_buf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int s4f_buf_printf(struct s4f_buf *b, const char *fmt, ...)
{
    /* Formats into the room left first; only a line that does not fit is formatted twice. */
    for (int pass = 0; pass < 2; pass++) {
        size_t room = b->p ? b->cap - b->len : 0;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        if (n < 0 || s4f_buf_reserve(b, (size_t)n) != 0)
            break;
    }
    if (b->p)
        b->p[b->len] = '\0'; /* a cut attempt may have written past len */
    return -1;
}

void s4f_buf_reset(struct s4f_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void s4f_buf_free(struct s4f_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

size_t s4f_buf_curl_write(char *ptr, size_t size, size_t nmemb, void *sink)
{
    struct s4f_buf_sink *s = sink;
    size_t n = size * nmemb;
    if (s->max && s->buf->len + n + 1 > s->max) {
        s->too_big = true;
        return 0; /* any other count than n aborts the transfer */
    }
    if (s4f_buf_append(s->buf, ptr, n) != 0) {
        s->oom = true;
        return 0;
    }
    return n;
}

int s4f_gzip(const void *in, size_t len, int level, struct s4f_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: zlib writes a gzip header and trailer. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    s4f_buf_reset(out);
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    if (s4f_buf_reserve(out, bound) != 0) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->p;
    zs.avail_out = (uInt)bound;
    int rc = deflate(&zs, Z_FINISH);
    size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END)
        return -1;
    out->len = produced;
    out->p[out->len] = '\0';
    return 0;
}
