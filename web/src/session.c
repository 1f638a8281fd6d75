#include "session.h"

#include "log.h"
#include "sha256.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
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
    char hash[2 * S4F_SHA256_LEN + 1]; /* SHA-256 of the token; "" when the slot is free */
    struct s4f_web_session_info info;
    int64_t created_ms;
    int64_t last_ms;
};

struct s4f_web_sessions {
    pthread_mutex_t lock;
    struct s4f_web_sessions_conf conf;
    char *path;
    struct session *v;
    int64_t saved_ms; /* last save; idle clocks are written at most every SAVE_IDLE_MS */
    bool dirty;       /* idle clocks moved since the last save */
};

#define SAVE_IDLE_MS 60000

struct s4f_web_sessions *s4f_web_sessions_new(const struct s4f_web_sessions_conf *conf)
{
    struct s4f_web_sessions *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->conf = *conf;
    if (!s->conf.max)
        s->conf.max = 1;
    if (!s->conf.max_per_user)
        s->conf.max_per_user = 1;
    s->v = calloc(s->conf.max, sizeof(*s->v));
    s->path = conf->path ? strdup(conf->path) : NULL;
    if (!s->v || (conf->path && !s->path)) {
        free(s->v);
        free(s->path);
        free(s);
        return NULL;
    }
    s->conf.path = s->path;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static int live(const struct s4f_web_sessions *s, const struct session *x, int64_t now_ms)
{
    return x->hash[0] && now_ms - x->last_ms < s->conf.idle_ms &&
           now_ms - x->created_ms < s->conf.lifetime_ms;
}

/* Called with the lock held. The file only ever holds token hashes. */
static enum s4f_status save_locked(struct s4f_web_sessions *s, int64_t now_ms)
{
    char err[512];
    if (!s->path)
        return S4F_OK;
    /* Monotonic times become wall-clock ones: the monotonic clock restarts with the host. */
    int64_t wall = s4f_wall_ms();
    json_t *root = json_object(), *arr = json_array();
    char *text = NULL;
    enum s4f_status st = S4F_ERR;
    if (!root || !arr) {
        json_decref(arr);
        goto out;
    }
    json_object_set_new(root, "sessions", arr);
    for (size_t i = 0; i < s->conf.max; i++) {
        const struct session *x = &s->v[i];
        if (!live(s, x, now_ms))
            continue;
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "token_sha256", x->hash, "user",
                           x->info.user, "role", s4f_web_role_name(x->info.role), "csrf",
                           x->info.csrf, "created", (json_int_t)(wall - (now_ms - x->created_ms)),
                           "last", (json_int_t)(wall - (now_ms - x->last_ms))));
    }
    text = json_dumps(root, JSON_INDENT(1));
    if (text)
        st = s4f_web_write_private(s->path, text, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "out of memory");
    if (st != S4F_OK)
        s4f_warn_rl("sessions are not saved: %s", err);
out:
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    json_decref(root);
    s->saved_ms = now_ms;
    s->dirty = false;
    return st;
}

enum s4f_status s4f_web_sessions_save(struct s4f_web_sessions *s, int64_t now_ms)
{
    pthread_mutex_lock(&s->lock);
    enum s4f_status st = save_locked(s, now_ms);
    pthread_mutex_unlock(&s->lock);
    return st;
}

void s4f_web_sessions_free(struct s4f_web_sessions *s)
{
    if (!s)
        return;
    if (s->path && s->dirty)
        save_locked(s, s4f_mono_ms());
    explicit_bzero(s->v, s->conf.max * sizeof(*s->v));
    free(s->v);
    free(s->path);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int is_hex(const char *p, size_t n)
{
    if (!p || strlen(p) != n)
        return 0;
    for (; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* A free or expired slot, else NULL; called with the lock held. */
static struct session *free_slot(struct s4f_web_sessions *s, int64_t now_ms)
{
    for (size_t i = 0; i < s->conf.max; i++)
        if (!live(s, &s->v[i], now_ms))
            return &s->v[i];
    return NULL;
}

/* Counts user's live sessions and finds the oldest (by login); called with the lock held. */
static size_t user_sessions(struct s4f_web_sessions *s, const char *user, int64_t now_ms,
                            struct session **oldest)
{
    size_t n = 0;
    *oldest = NULL;
    for (size_t i = 0; i < s->conf.max; i++) {
        struct session *x = &s->v[i];
        if (!live(s, x, now_ms) || strcmp(x->info.user, user) != 0)
            continue;
        n++;
        if (!*oldest || x->created_ms < (*oldest)->created_ms)
            *oldest = x;
    }
    return n;
}

int s4f_web_sessions_load(struct s4f_web_sessions *s, struct s4f_web_users *users, int64_t now_ms,
                          size_t *dropped, char *err, size_t errlen)
{
    int missing;
    *dropped = 0;
    if (!s->path)
        return 0;
    json_t *root = s4f_web_json_load_private(s->path, &missing, err, errlen);
    if (!root)
        return missing ? 0 : -1;
    json_t *arr = json_object_get(root, "sessions");
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "%s: expected {\"sessions\": [...]}", s->path);
        json_decref(root);
        return -1;
    }
    int64_t wall = s4f_wall_ms();
    size_t i;
    json_t *it;
    pthread_mutex_lock(&s->lock);
    json_array_foreach(arr, i, it)
    {
        const char *hash = json_string_value(json_object_get(it, "token_sha256"));
        const char *user = json_string_value(json_object_get(it, "user"));
        const char *csrf = json_string_value(json_object_get(it, "csrf"));
        json_t *created = json_object_get(it, "created"), *last = json_object_get(it, "last");
        struct session x = {0}, *old;
        int role = user ? s4f_web_users_role(users, user) : -1;
        if (!is_hex(hash, 2 * S4F_SHA256_LEN) || !is_hex(csrf, S4F_WEB_TOKEN_LEN) || role < 0 ||
            strlen(user) >= sizeof(x.info.user) || !json_is_integer(created) ||
            !json_is_integer(last)) {
            (*dropped)++;
            continue;
        }
        memcpy(x.hash, hash, sizeof(x.hash));
        s4f_strlcpy(x.info.user, user, sizeof(x.info.user));
        memcpy(x.info.csrf, csrf, sizeof(x.info.csrf));
        x.info.role = (enum s4f_web_role)role;
        /* Times from the future (a clock set back) count as now: they cannot extend a life. */
        int64_t c = json_integer_value(created), l = json_integer_value(last);
        x.created_ms = now_ms - (wall > c ? wall - c : 0);
        x.last_ms = now_ms - (wall > l ? wall - l : 0);
        struct session *slot = free_slot(s, now_ms);
        if (!live(s, &x, now_ms) || !slot ||
            user_sessions(s, user, now_ms, &old) >= s->conf.max_per_user) {
            (*dropped)++;
            continue;
        }
        *slot = x;
    }
    if (*dropped)
        save_locked(s, now_ms);
    pthread_mutex_unlock(&s->lock);
    json_decref(root);
    return 0;
}

enum s4f_status s4f_web_session_create(struct s4f_web_sessions *s, const char *user,
                                       enum s4f_web_role role, int64_t now_ms, char *token,
                                       struct s4f_web_session_info *info)
{
    struct session fresh = {0};
    char tok[S4F_WEB_TOKEN_LEN + 1];
    enum s4f_status st = S4F_RETRY;
    if (s4f_web_random_hex(tok, S4F_WEB_TOKEN_LEN / 2) != 0 ||
        s4f_web_random_hex(fresh.info.csrf, S4F_WEB_TOKEN_LEN / 2) != 0)
        return S4F_ERR;
    s4f_web_sha256_hex(tok, fresh.hash);
    s4f_strlcpy(fresh.info.user, user, sizeof(fresh.info.user));
    fresh.info.role = role;
    fresh.created_ms = fresh.last_ms = now_ms;
    pthread_mutex_lock(&s->lock);
    /* The user's own oldest session makes room past the per-user cap; otherwise only a free or
     * expired slot will do: another user's live session is never ended to make room. */
    struct session *oldest, *slot = NULL;
    if (user_sessions(s, user, now_ms, &oldest) >= s->conf.max_per_user)
        slot = oldest;
    if (!slot)
        slot = free_slot(s, now_ms);
    if (slot) {
        *slot = fresh;
        save_locked(s, now_ms);
        st = S4F_OK;
    }
    pthread_mutex_unlock(&s->lock);
    if (st == S4F_OK) {
        memcpy(token, tok, sizeof(tok));
        *info = fresh.info;
    }
    explicit_bzero(tok, sizeof(tok));
    explicit_bzero(&fresh, sizeof(fresh));
    return st;
}

int s4f_web_session_lookup(struct s4f_web_sessions *s, const char *token, int64_t now_ms,
                           struct s4f_web_session_info *info)
{
    int found = 0;
    char hash[2 * S4F_SHA256_LEN + 1];
    if (!token || strlen(token) != S4F_WEB_TOKEN_LEN)
        return 0;
    s4f_web_sha256_hex(token, hash);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->conf.max; i++) {
        struct session *x = &s->v[i];
        if (x->hash[0] && s4f_web_secret_eq(x->hash, hash)) {
            if (live(s, x, now_ms)) {
                x->last_ms = now_ms;
                *info = x->info;
                found = 1;
                s->dirty = true;
            } else {
                memset(x, 0, sizeof(*x));
            }
            break;
        }
    }
    if (s->dirty && now_ms - s->saved_ms >= SAVE_IDLE_MS)
        save_locked(s, now_ms);
    pthread_mutex_unlock(&s->lock);
    return found;
}

void s4f_web_session_destroy(struct s4f_web_sessions *s, const char *token)
{
    char hash[2 * S4F_SHA256_LEN + 1];
    if (!token)
        return;
    s4f_web_sha256_hex(token, hash);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->conf.max; i++)
        if (s->v[i].hash[0] && s4f_web_secret_eq(s->v[i].hash, hash))
            memset(&s->v[i], 0, sizeof(s->v[i]));
    save_locked(s, s4f_mono_ms());
    pthread_mutex_unlock(&s->lock);
}

void s4f_web_sessions_user_changed(struct s4f_web_sessions *s, const char *user, int role)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->conf.max; i++) {
        struct session *x = &s->v[i];
        if (!x->hash[0] || strcmp(x->info.user, user) != 0)
            continue;
        if (role < 0)
            memset(x, 0, sizeof(*x));
        else
            x->info.role = (enum s4f_web_role)role;
    }
    save_locked(s, s4f_mono_ms());
    pthread_mutex_unlock(&s->lock);
}

void s4f_web_sessions_drop_user(struct s4f_web_sessions *s, const char *user,
                                const char *keep_token)
{
    char keep[2 * S4F_SHA256_LEN + 1] = "";
    if (keep_token)
        s4f_web_sha256_hex(keep_token, keep);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->conf.max; i++) {
        struct session *x = &s->v[i];
        if (x->hash[0] && strcmp(x->info.user, user) == 0 &&
            !(keep_token && s4f_web_secret_eq(x->hash, keep)))
            memset(x, 0, sizeof(*x));
    }
    save_locked(s, s4f_mono_ms());
    pthread_mutex_unlock(&s->lock);
}

size_t s4f_web_sessions_count(struct s4f_web_sessions *s, int64_t now_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->conf.max; i++)
        n += live(s, &s->v[i], now_ms);
    pthread_mutex_unlock(&s->lock);
    return n;
}

void s4f_web_addr_group(const char *addr, char *out, size_t len)
{
    struct in6_addr a6;
    char buf[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, addr, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            if (inet_ntop(AF_INET, &a6.s6_addr[12], buf, sizeof(buf)))
                s4f_strlcpy(out, buf, len);
            return;
        }
        /* One host or LAN usually owns a whole /64: counting its addresses apart would give it
         * 2^64 tries. */
        memset(&a6.s6_addr[8], 0, 8);
        if (inet_ntop(AF_INET6, &a6, buf, sizeof(buf))) {
            snprintf(out, len, "%s/64", buf);
            return;
        }
    }
    s4f_strlcpy(out, addr, len);
}

struct attempt {
    char key[80]; /* "a:" address group or "u:" account name; "" when free */
    bool pinned;  /* an existing account: never pushed out */
    int failures;
    int64_t first_ms; /* start of the counting window */
    int64_t locked_until;
    int64_t touched_ms;
};

struct s4f_web_throttle {
    pthread_mutex_t lock;
    struct s4f_web_throttle_conf conf;
    size_t max;
    struct attempt *v;
    int hashing;
};

struct s4f_web_throttle *s4f_web_throttle_new(const struct s4f_web_throttle_conf *conf)
{
    struct s4f_web_throttle *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->conf = *conf;
    /* Room for every possible account beside the addresses. */
    t->max = (conf->max_entries ? conf->max_entries : 1) + S4F_WEB_USERS_MAX;
    t->v = calloc(t->max, sizeof(*t->v));
    if (!t->v) {
        free(t);
        return NULL;
    }
    if (t->conf.max_hashing < 1)
        t->conf.max_hashing = 1;
    pthread_mutex_init(&t->lock, NULL);
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

/* The entry of key, made when missing; called with the lock held. */
static struct attempt *throttle_get(struct s4f_web_throttle *t, const char *key, bool pinned,
                                    int64_t now_ms)
{
    struct attempt *a = NULL, *free_one = NULL, *old_unlocked = NULL, *old_any = NULL;
    for (size_t i = 0; i < t->max; i++) {
        struct attempt *x = &t->v[i];
        if (!x->key[0]) {
            if (!free_one)
                free_one = x;
            continue;
        }
        if (strcmp(x->key, key) == 0) {
            a = x;
            break;
        }
        if (x->pinned)
            continue;
        if (!old_any || x->touched_ms < old_any->touched_ms)
            old_any = x;
        if (x->locked_until <= now_ms &&
            (!old_unlocked || x->touched_ms < old_unlocked->touched_ms))
            old_unlocked = x;
    }
    if (!a) {
        /* A free slot, else the address or unknown name seen least recently, unlocked ones
         * first: an attacker cycling through names or addresses pushes out its own entries
         * before it can push out a lockout. */
        a = free_one ? free_one : old_unlocked ? old_unlocked : old_any;
        if (!a)
            return NULL;
        memset(a, 0, sizeof(*a));
        s4f_strlcpy(a->key, key, sizeof(a->key));
        a->first_ms = now_ms;
    }
    a->pinned |= pinned;
    a->touched_ms = now_ms;
    return a;
}

/* Milliseconds a is locked out for; starts the lockout when a has used its tries. */
static int64_t throttle_wait(const struct s4f_web_throttle *t, struct attempt *a, int max,
                             int64_t now_ms)
{
    if (!a)
        return 0;
    if (a->locked_until > now_ms)
        return a->locked_until - now_ms;
    if (now_ms - a->first_ms > t->conf.window_ms) {
        a->first_ms = now_ms;
        a->failures = 0;
    }
    if (a->failures >= max) {
        a->locked_until = now_ms + t->conf.lockout_ms;
        a->failures = 0;
        a->first_ms = a->locked_until;
        return t->conf.lockout_ms;
    }
    return 0;
}

static void throttle_keys(const char *client, const char *user, char *ak, char *uk, size_t len)
{
    char group[72];
    s4f_web_addr_group(client ? client : "unknown", group, sizeof(group));
    snprintf(ak, len, "a:%s", group);
    snprintf(uk, len, "u:%.70s", user ? user : "");
}

int64_t s4f_web_throttle_begin(struct s4f_web_throttle *t, const char *client, const char *user,
                               int known, int64_t now_ms)
{
    char ak[80], uk[80];
    throttle_keys(client, user, ak, uk, sizeof(ak));
    pthread_mutex_lock(&t->lock);
    struct attempt *a = throttle_get(t, ak, false, now_ms);
    struct attempt *u = throttle_get(t, uk, known != 0, now_ms);
    int64_t wa = throttle_wait(t, a, t->conf.addr_max_failures, now_ms);
    int64_t wu = throttle_wait(t, u, t->conf.user_max_failures, now_ms);
    int64_t wait = wa > wu ? wa : wu;
    if (!wait) {
        if (a)
            a->failures++;
        if (u)
            u->failures++;
    }
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void s4f_web_throttle_refund(struct s4f_web_throttle *t, const char *client, const char *user,
                             int64_t now_ms)
{
    char ak[80], uk[80];
    throttle_keys(client, user, ak, uk, sizeof(ak));
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->max; i++) {
        struct attempt *x = &t->v[i];
        if (x->key[0] && (strcmp(x->key, ak) == 0 || strcmp(x->key, uk) == 0) && x->failures > 0 &&
            x->first_ms <= now_ms)
            x->failures--;
    }
    pthread_mutex_unlock(&t->lock);
}

int s4f_web_throttle_hash_enter(struct s4f_web_throttle *t)
{
    int ok = 0;
    pthread_mutex_lock(&t->lock);
    if (t->hashing < t->conf.max_hashing) {
        t->hashing++;
        ok = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return ok;
}

void s4f_web_throttle_hash_leave(struct s4f_web_throttle *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->hashing > 0)
        t->hashing--;
    pthread_mutex_unlock(&t->lock);
}
