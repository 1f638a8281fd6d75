/* Stream4Flow common definitions: status codes, clocks, small helpers.
 *
 * Functions in common/ and the daemons return enum s4f_status so that the caller's main loop owns
 * retry and back-off decisions; library errors (librdkafka, libcurl) keep their own types and are
 * translated at the boundary. */
#ifndef S4F_H
#define S4F_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum s4f_status {
    S4F_OK = 0,    /* done */
    S4F_RETRY = 1, /* transient: try again later (back-pressure, broker down, 429) */
    S4F_ERR = -1,  /* permanent for this input: count it and move on */
};

#define S4F_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic milliseconds: for timeouts and rate limits, never for timestamps. */
int64_t s4f_mono_ms(void);
/* Wall-clock milliseconds since the Unix epoch: for record timestamps. */
int64_t s4f_wall_ms(void);
/* Formats epoch milliseconds as ISO-8601 UTC with millisecond precision
 * ("2026-11-27T06:10:57.123Z") into buf (at least 25 bytes). Returns buf. */
char *s4f_iso8601_ms(int64_t epoch_ms, char *buf, size_t len);

/* Copies at most len-1 bytes and always terminates (len > 0). Returns strlen(src) like strlcpy. */
size_t s4f_strlcpy(char *dst, const char *src, size_t len);

/* Whether the n bytes at p are all zero (reserved and padding fields of binary formats). */
static inline bool s4f_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The value of one hexadecimal digit, or -1 (fingerprints, RDATA, test input). */
static inline int s4f_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
