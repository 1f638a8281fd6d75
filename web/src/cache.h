/* A small answer cache for the read-only API routes, with request coalescing.
 *
 * Dashboards poll: fifty operators with the overview open ask the same question every few
 * seconds, and an Elasticsearch aggregation over 24 h costs hundreds of milliseconds on a busy
 * node. So answers are kept for ttl_ms under the route and its query text, and:
 *   - while one request recomputes an expired answer, the others get the previous answer (at
 *     most S4F_WEB_CACHE_MAX_STALE_MS old) instead of piling the same query onto Elasticsearch;
 *   - when there is no answer yet, one request computes it and the others wait for it (up to
 *     wait_ms), so a cold start costs one query, not fifty.
 * Only answers that are the same for every user are cached (no user or session data). Memory is
 * bounded: a fixed number of slots, each holding at most S4F_WEB_CACHE_MAX_BODY bytes; a
 * colliding key replaces the slot.
 *
 * Thread-safety: one mutex and condition variable; bodies are copied in and out. */
#ifndef S4F_WEB_CACHE_H
#define S4F_WEB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define S4F_WEB_CACHE_SLOTS        128
#define S4F_WEB_CACHE_MAX_BODY     (2u << 20)
#define S4F_WEB_CACHE_MAX_STALE_MS 60000

struct s4f_web_cache;

/* ttl_ms 0 disables the cache (lookups always ask the caller to compute). wait_ms bounds how
 * long a request waits for another one computing the same key. */
struct s4f_web_cache *s4f_web_cache_new(int64_t ttl_ms, int64_t wait_ms);
void s4f_web_cache_free(struct s4f_web_cache *c);

/* Returns a malloc'ed copy of a usable body (length in *len), or NULL when the caller must
 * compute the answer itself: then *must_fill is 1 and the caller must end with
 * s4f_web_cache_put() (success) or s4f_web_cache_abandon() (failure). now_ms is monotonic.
 * With gzip_ok, the body may come gzip-compressed: then *gzipped is 1. */
char *s4f_web_cache_lookup(struct s4f_web_cache *c, const char *key, int64_t now_ms, int gzip_ok,
                           size_t *len, int *gzipped, int *must_fill);
/* Compresses body with gzip (common/buf.h) into a malloc'ed buffer the caller frees; NULL on
 * failure or when it would not shrink. */
char *s4f_web_gzip(const char *body, size_t len, size_t *out_len);
/* Stores body (and its gzip form, computed once here) for key and wakes the requests waiting
 * for it. */
void s4f_web_cache_put(struct s4f_web_cache *c, const char *key, const char *body, size_t len,
                       int64_t now_ms);
/* The computation failed: waiters compute for themselves. */
void s4f_web_cache_abandon(struct s4f_web_cache *c, const char *key);

#endif
