/* The one growable byte buffer, and gzip into it.
 *
 * A struct s4f_buf owns p (malloc'ed, NULL until the first append) and keeps it NUL-terminated
 * past len, so text in it can be read as a C string. Zero-initialise it ({0}); reset it to
 * reuse the memory; s4f_buf_free() releases it and is NULL-safe and idempotent.
 *
 * It serves the sink's _bulk bodies, the Elasticsearch client's answers, the dashboard's
 * metrics scraper and the Prometheus text of /metrics. Not thread-safe: one owner at a time. */
#ifndef S4F_BUF_H
#define S4F_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct s4f_buf {
    char *p;
    size_t len; /* bytes in use, not counting the terminating NUL */
    size_t cap; /* bytes allocated at p */
};

/* Makes room for extra more bytes (and the NUL). 0, or -1 when out of memory (b unchanged). */
int s4f_buf_reserve(struct s4f_buf *b, size_t extra);
/* Appends len bytes of data. 0, or -1 when out of memory (b unchanged). */
int s4f_buf_append(struct s4f_buf *b, const void *data, size_t len);
/* Appends formatted text. 0, or -1 (out of memory, bad format; b unchanged). */
int s4f_buf_printf(struct s4f_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties b and keeps its memory. */
void s4f_buf_reset(struct s4f_buf *b);
void s4f_buf_free(struct s4f_buf *b);

/* A bounded writer for libcurl's CURLOPT_WRITEFUNCTION / CURLOPT_WRITEDATA: pass
 * s4f_buf_curl_write and a struct s4f_buf_sink. An answer that would grow buf past max bytes
 * sets too_big and aborts the transfer; a failed allocation sets oom and aborts it too. */
struct s4f_buf_sink {
    struct s4f_buf *buf;
    size_t max; /* 0: no bound */
    bool too_big;
    bool oom;
};
size_t s4f_buf_curl_write(char *ptr, size_t size, size_t nmemb, void *sink);

/* gzip-compresses len bytes of in into out (replacing what it held; its memory is reused).
 * level is zlib's (1 fastest .. 9 smallest). 0, or -1 (out of memory, zlib error). */
int s4f_gzip(const void *in, size_t len, int level, struct s4f_buf *out);

#endif
