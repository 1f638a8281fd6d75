/* Parsing of the values a browser sends to the API: addresses, networks, times, ranges, sizes and
 * names. Everything that reaches an Elasticsearch query passes through one of these functions
 * first, so a value that is not exactly what it claims to be is refused with a message meant for
 * the 400 answer, before any query is built.
 *
 * All functions are pure and thread-safe. On failure they return -1 and write a one-line reason
 * into err (which always names the offending parameter); on success they return 0. */
#ifndef S4F_WEB_PARAMS_H
#define S4F_WEB_PARAMS_H

#include <stddef.h>
#include <stdint.h>

/* Longest text of an address or network we produce (IPv6 with a /128 suffix). */
#define S4F_WEB_ADDR_MAX 64

/* An IPv4 or IPv6 address, rewritten in canonical form ("::ffff:10.0.0.1" stays as is,
 * "2001:DB8::0001" becomes "2001:db8::1"). */
int s4f_web_parse_ip(const char *name, const char *s, char *canon, size_t len, char *err,
                     size_t errlen);
/* An address or a network "a.b.c.d/n", "v6/n". Host bits are cleared, so "10.1.2.3/8" becomes
 * "10.0.0.0/8". A bare address is returned without a suffix. */
int s4f_web_parse_cidr(const char *name, const char *s, char *canon, size_t len, char *err,
                       size_t errlen);
/* An instant: epoch milliseconds (digits only) or ISO-8601 UTC "YYYY-MM-DDTHH:MM[:SS[.mmm]]Z"
 * (a numeric offset "+02:00" is also accepted). Years 2000..2999 only. */
int s4f_web_parse_time(const char *name, const char *s, int64_t *ms, char *err, size_t errlen);
/* A decimal integer within [min, max]. */
int s4f_web_parse_int(const char *name, const char *s, int64_t min, int64_t max, int64_t *out,
                      char *err, size_t errlen);
/* A short identifier: 1..maxlen characters of [a-z0-9_], starting with a letter (types). */
int s4f_web_parse_ident(const char *name, const char *s, size_t maxlen, char *err, size_t errlen);
/* A user name: 1..64 characters of [A-Za-z0-9._@-], not starting with '.' or '-'. */
int s4f_web_parse_username(const char *s, char *err, size_t errlen);

/* A time window with a histogram bucket width, all in epoch milliseconds. */
struct s4f_web_range {
    int64_t from_ms;
    int64_t to_ms;
    int64_t interval_ms;
};

/* Limits that keep one request's cost bounded. */
#define S4F_WEB_RANGE_MAX_MS     (31LL * 86400 * 1000)
#define S4F_WEB_MAX_BUCKETS      20000
#define S4F_WEB_DEFAULT_RANGE_MS (6LL * 3600 * 1000)

/* Builds a range from the query parameters (each may be NULL):
 *   range    "1h", "6h", "12h", "24h", "48h" or any "<n>m|h|d" up to 31 days, ending now;
 *   from/to  instants (s4f_web_parse_time); to defaults to now; not together with range;
 *   interval "10s", "30s", "1m", "5m", "15m", "1h"; chosen from the span when absent.
 * Neither range nor from gives the last default_ms. The span must be positive, at most 31 days,
 * and hold at most S4F_WEB_MAX_BUCKETS buckets. */
int s4f_web_parse_range(const char *range, const char *from, const char *to, const char *interval,
                        int64_t now_ms, int64_t default_ms, struct s4f_web_range *out, char *err,
                        size_t errlen);

#endif
