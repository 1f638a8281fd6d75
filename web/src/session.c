#include "session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int s4f_web_random_hex(char *out, size_t bytes)
{
    unsigned char buf[64];
    if (bytes > sizeof(buf))
        return -1;
    size_t got = 0;
    while (got < bytes) {
        ssize_t r = getrandom(buf + got, bytes - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * bytes] = '\0';
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int s4f_web_secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

struct session {
    char token[S4F_WEB_TOKEN_LEN + 1]; /* "" when the slot is free */
    struct s4f_web_session_info info;
    int64_t last_ms;
};

struct s4f_web_sessions {
    pthread_mutex_t lock;
    int64_t idle_ms;
    size_t max;
    struct session *v;
};

struct s4f_web_sessions *s4f_web_sessions_new(int64_t idle_ms, size_t max)
{
    struct s4f_web_sessions *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->v = calloc(max ? max : 1, sizeof(*s->v));
    if (!s->v) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->idle_ms = idle_ms;
    s->max = max ? max : 1;
    return s;
}

void s4f_web_sessions_free(struct s4f_web_sessions *s)
{
    if (!s)
        return;
    explicit_bzero(s->v, s->max * sizeof(*s->v));
    free(s->v);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int live(const struct s4f_web_sessions *s, const struct session *x, int64_t now_ms)
{
    return x->token[0] && now_ms - x->last_ms < s->idle_ms;
}

int s4f_web_session_create(struct s4f_web_sessions *s, const char *user, enum s4f_web_role role,
                           int64_t now_ms, char *token, struct s4f_web_session_info *info)
{
    struct session fresh = {0};
    if (s4f_web_random_hex(fresh.token, S4F_WEB_TOKEN_LEN / 2) != 0 ||
        s4f_web_random_hex(fresh.info.csrf, S4F_WEB_TOKEN_LEN / 2) != 0)
        return -1;
    s4f_strlcpy(fresh.info.user, user, sizeof(fresh.info.user));
    fresh.info.role = role;
    fresh.last_ms = now_ms;
    pthread_mutex_lock(&s->lock);
    /* A free or expired slot, else the least recently used one. */
    struct session *slot = NULL, *oldest = &s->v[0];
    for (size_t i = 0; i < s->max; i++) {
        struct session *x = &s->v[i];
        if (!live(s, x, now_ms)) {
            slot = x;
            break;
        }
        if (x->last_ms < oldest->last_ms)
            oldest = x;
    }
    if (!slot)
        slot = oldest;
    *slot = fresh;
    pthread_mutex_unlock(&s->lock);
    memcpy(token, fresh.token, sizeof(fresh.token));
    *info = fresh.info;
    explicit_bzero(&fresh, sizeof(fresh));
    return 0;
}

int s4f_web_session_lookup(struct s4f_web_sessions *s, const char *token, int64_t now_ms,
                           struct s4f_web_session_info *info)
{
    int found = 0;
    if (!token || strlen(token) != S4F_WEB_TOKEN_LEN)
        return 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->max; i++) {
        struct session *x = &s->v[i];
        if (x->token[0] && s4f_web_secret_eq(x->token, token)) {
            if (live(s, x, now_ms)) {
                x->last_ms = now_ms;
                *info = x->info;
                found = 1;
            } else {
                memset(x, 0, sizeof(*x));
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void s4f_web_session_destroy(struct s4f_web_sessions *s, const char *token)
{
    if (!token)
        return;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->max; i++)
        if (s->v[i].token[0] && s4f_web_secret_eq(s->v[i].token, token))
            memset(&s->v[i], 0, sizeof(s->v[i]));
    pthread_mutex_unlock(&s->lock);
}

void s4f_web_sessions_user_changed(struct s4f_web_sessions *s, const char *user, int role)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->max; i++) {
        struct session *x = &s->v[i];
        if (!x->token[0] || strcmp(x->info.user, user) != 0)
            continue;
        if (role < 0)
            memset(x, 0, sizeof(*x));
        else
            x->info.role = (enum s4f_web_role)role;
    }
    pthread_mutex_unlock(&s->lock);
}

void s4f_web_sessions_drop_user(struct s4f_web_sessions *s, const char *user,
                                const char *keep_token)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->max; i++) {
        struct session *x = &s->v[i];
        if (x->token[0] && strcmp(x->info.user, user) == 0 &&
            !(keep_token && s4f_web_secret_eq(x->token, keep_token)))
            memset(x, 0, sizeof(*x));
    }
    pthread_mutex_unlock(&s->lock);
}

size_t s4f_web_sessions_count(struct s4f_web_sessions *s, int64_t now_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->max; i++)
        n += live(s, &s->v[i], now_ms);
    pthread_mutex_unlock(&s->lock);
    return n;
}

struct attempt {
    char addr[64]; /* "" when free */
    int failures;
    int64_t first_ms; /* start of the counting window */
    int64_t locked_until;
    int64_t touched_ms;
};

struct s4f_web_throttle {
    pthread_mutex_t lock;
    int max_failures;
    int64_t window_ms, lockout_ms;
    size_t max;
    struct attempt *v;
};

struct s4f_web_throttle *s4f_web_throttle_new(int max_failures, int64_t window_ms,
                                              int64_t lockout_ms, size_t max_entries)
{
    struct s4f_web_throttle *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->max = max_entries ? max_entries : 1;
    t->v = calloc(t->max, sizeof(*t->v));
    if (!t->v) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->max_failures = max_failures;
    t->window_ms = window_ms;
    t->lockout_ms = lockout_ms;
    return t;
}

void s4f_web_throttle_free(struct s4f_web_throttle *t)
{
    if (!t)
        return;
    free(t->v);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static struct attempt *throttle_find(struct s4f_web_throttle *t, const char *addr)
{
    for (size_t i = 0; i < t->max; i++)
        if (t->v[i].addr[0] && strcmp(t->v[i].addr, addr) == 0)
            return &t->v[i];
    return NULL;
}

int64_t s4f_web_throttle_check(struct s4f_web_throttle *t, const char *addr, int64_t now_ms)
{
    int64_t left = 0;
    pthread_mutex_lock(&t->lock);
    struct attempt *a = throttle_find(t, addr);
    if (a && a->locked_until > now_ms)
        left = a->locked_until - now_ms;
    pthread_mutex_unlock(&t->lock);
    return left;
}

void s4f_web_throttle_fail(struct s4f_web_throttle *t, const char *addr, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    struct attempt *a = throttle_find(t, addr);
    if (!a) {
        /* A free slot, else forget the address seen least recently: an attacker cycling
         * through many addresses can only push out other attackers' entries. */
        struct attempt *oldest = &t->v[0];
        for (size_t i = 0; i < t->max && !a; i++) {
            if (!t->v[i].addr[0])
                a = &t->v[i];
            else if (t->v[i].touched_ms < oldest->touched_ms)
                oldest = &t->v[i];
        }
        if (!a)
            a = oldest;
        memset(a, 0, sizeof(*a));
        s4f_strlcpy(a->addr, addr, sizeof(a->addr));
        a->first_ms = now_ms;
    }
    if (now_ms - a->first_ms > t->window_ms) {
        a->first_ms = now_ms;
        a->failures = 0;
    }
    a->touched_ms = now_ms;
    if (++a->failures >= t->max_failures) {
        a->locked_until = now_ms + t->lockout_ms;
        a->failures = 0;
        a->first_ms = now_ms;
    }
    pthread_mutex_unlock(&t->lock);
}

void s4f_web_throttle_success(struct s4f_web_throttle *t, const char *addr)
{
    pthread_mutex_lock(&t->lock);
    struct attempt *a = throttle_find(t, addr);
    if (a)
        memset(a, 0, sizeof(*a));
    pthread_mutex_unlock(&t->lock);
}
