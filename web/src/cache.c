#include "cache.h"

#include "buf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    char *key;
    char *body; /* NULL while the first answer is being computed */
    size_t len;
    char *gz; /* gzip form of body, or NULL */
    size_t gz_len;
    int64_t fresh_until;
    int64_t filling_until; /* > now: a request is computing this key */
};

struct s4f_web_cache {
    pthread_mutex_t lock;
    pthread_cond_t filled;
    int64_t ttl_ms, wait_ms;
    struct slot slots[S4F_WEB_CACHE_SLOTS];
};

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)(h % S4F_WEB_CACHE_SLOTS);
}

struct s4f_web_cache *s4f_web_cache_new(int64_t ttl_ms, int64_t wait_ms)
{
    struct s4f_web_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->filled, &ca);
    pthread_condattr_destroy(&ca);
    c->ttl_ms = ttl_ms;
    c->wait_ms = wait_ms;
    return c;
}

void s4f_web_cache_free(struct s4f_web_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < S4F_WEB_CACHE_SLOTS; i++) {
        free(c->slots[i].key);
        free(c->slots[i].body);
        free(c->slots[i].gz);
    }
    pthread_cond_destroy(&c->filled);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static char *copy_body(const struct slot *s, int gzip_ok, size_t *len, int *gzipped)
{
    const char *src = gzip_ok && s->gz ? s->gz : s->body;
    size_t n = gzip_ok && s->gz ? s->gz_len : s->len;
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, src, n);
        copy[n] = '\0';
        *len = n;
        *gzipped = gzip_ok && s->gz;
    }
    return copy;
}

char *s4f_web_gzip(const char *body, size_t len, size_t *out_len)
{
    /* Level 6 is zlib's default trade-off: answers are compressed once and served many times. */
    struct s4f_buf z = {0};
    if (s4f_gzip(body, len, 6, &z) != 0 || z.len >= len) {
        s4f_buf_free(&z);
        return NULL;
    }
    *out_len = z.len;
    return z.p;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes over slot s for key (another key's answer in it is dropped). */
static int claim(struct slot *s, const char *key)
{
    if (s->key && strcmp(s->key, key) == 0)
        return 0;
    char *k = strdup(key);
    if (!k)
        return -1;
    free(s->key);
    free(s->body);
    free(s->gz);
    memset(s, 0, sizeof(*s));
    s->key = k;
    return 0;
}

char *s4f_web_cache_lookup(struct s4f_web_cache *c, const char *key, int64_t now_ms, int gzip_ok,
                           size_t *len, int *gzipped, int *must_fill)
{
    char *copy = NULL;
    *must_fill = 1;
    *gzipped = 0;
    if (!c || c->ttl_ms <= 0)
        return NULL;
    pthread_mutex_lock(&c->lock);
    struct slot *s = &c->slots[hash(key)];
    int64_t deadline = now_ms + c->wait_ms;
    for (;;) {
        int mine = s->key && strcmp(s->key, key) == 0;
        int64_t now = mono_ms() > now_ms ? mono_ms() : now_ms;
        if (mine && s->body && s->fresh_until > now) {
            copy = copy_body(s, gzip_ok, len, gzipped);
            *must_fill = 0;
            break;
        }
        int filling = mine && s->filling_until > now;
        if (mine && s->body && filling && now - s->fresh_until < S4F_WEB_CACHE_MAX_STALE_MS) {
            /* Somebody is refreshing: the previous answer is good enough meanwhile. */
            copy = copy_body(s, gzip_ok, len, gzipped);
            *must_fill = 0;
            break;
        }
        if (filling && now < deadline) {
            /* The first answer is on its way: wait for it rather than asking again. */
            struct timespec ts = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000};
            pthread_cond_timedwait(&c->filled, &c->lock, &ts);
            continue;
        }
        /* Ours to compute. */
        if (claim(s, key) == 0)
            s->filling_until = now + c->wait_ms;
        break;
    }
    if (!copy)
        *must_fill = 1;
    pthread_mutex_unlock(&c->lock);
    return copy;
}

void s4f_web_cache_put(struct s4f_web_cache *c, const char *key, const char *body, size_t len,
                       int64_t now_ms)
{
    if (!c || c->ttl_ms <= 0)
        return;
    if (len > S4F_WEB_CACHE_MAX_BODY) {
        s4f_web_cache_abandon(c, key);
        return;
    }
    char *b = malloc(len + 1);
    if (!b) {
        s4f_web_cache_abandon(c, key);
        return;
    }
    memcpy(b, body, len);
    b[len] = '\0';
    /* Compressed once here, outside the lock, instead of at every hit. */
    size_t gz_len = 0;
    char *gz = len > 1024 ? s4f_web_gzip(body, len, &gz_len) : NULL;
    pthread_mutex_lock(&c->lock);
    struct slot *s = &c->slots[hash(key)];
    if (claim(s, key) == 0) {
        free(s->body);
        free(s->gz);
        s->body = b;
        s->len = len;
        s->gz = gz;
        s->gz_len = gz_len;
        gz = NULL;
        s->fresh_until = now_ms + c->ttl_ms;
        s->filling_until = 0;
        b = NULL;
    }
    pthread_cond_broadcast(&c->filled);
    pthread_mutex_unlock(&c->lock);
    free(b);
    free(gz);
}

void s4f_web_cache_abandon(struct s4f_web_cache *c, const char *key)
{
    if (!c || c->ttl_ms <= 0)
        return;
    pthread_mutex_lock(&c->lock);
    struct slot *s = &c->slots[hash(key)];
    if (s->key && strcmp(s->key, key) == 0)
        s->filling_until = 0;
    pthread_cond_broadcast(&c->filled);
    pthread_mutex_unlock(&c->lock);
}
