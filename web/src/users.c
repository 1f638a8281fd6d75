#include "users.h"

#include "log.h"
#include "params.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct user {
    char *name;
    char *hash;
    char changed[32];
    enum s4f_web_role role;
};

struct s4f_web_users {
    pthread_mutex_t lock;
    char *path;
    struct user *v;
    size_t n, cap;
    /* A real hash of a random password, checked against when the name is unknown. */
    char dummy[CRYPT_OUTPUT_SIZE];
};

const char *s4f_web_role_name(enum s4f_web_role r)
{
    return r == S4F_WEB_ROLE_ADMIN ? "admin" : "user";
}

int s4f_web_role_parse(const char *s)
{
    if (s && strcmp(s, "admin") == 0)
        return S4F_WEB_ROLE_ADMIN;
    if (s && strcmp(s, "user") == 0)
        return S4F_WEB_ROLE_USER;
    return -1;
}

int s4f_web_password_policy(const char *pw, char *err, size_t errlen)
{
    size_t n = strnlen(pw, S4F_WEB_PASSWORD_MAX + 1);
    if (n < S4F_WEB_PASSWORD_MIN) {
        snprintf(err, errlen, "the password must have at least %d characters",
                 S4F_WEB_PASSWORD_MIN);
        return -1;
    }
    if (n > S4F_WEB_PASSWORD_MAX) {
        snprintf(err, errlen, "the password may have at most %d characters", S4F_WEB_PASSWORD_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f) {
            snprintf(err, errlen, "the password may not contain control characters");
            return -1;
        }
    return 0;
}

int s4f_web_password_hash(const char *pw, char *out, size_t len)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    int rc = -1;
    /* count 0 takes libcrypt's default cost; NULL random bytes makes it read the kernel's
     * entropy itself. */
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
        return -1;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return -1;
    const char *h = crypt_r(pw, setting, cd);
    if (h && h[0] == '$' && strlen(h) < len) {
        strcpy(out, h);
        rc = 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

int s4f_web_password_check(const char *pw, const char *hash)
{
    int ok = 0;
    if (!hash || hash[0] != '$')
        return 0;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return 0;
    const char *h = crypt_r(pw, hash, cd);
    if (h && h[0] == '$') {
        size_t a = strlen(h), b = strlen(hash);
        unsigned char diff = a != b;
        for (size_t i = 0; i < a && i < b; i++)
            diff |= (unsigned char)(h[i] ^ hash[i]);
        ok = diff == 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

static void user_release(struct user *x)
{
    free(x->name);
    if (x->hash)
        explicit_bzero(x->hash, strlen(x->hash));
    free(x->hash);
    memset(x, 0, sizeof(*x));
}

static struct user *find(struct s4f_web_users *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].name, name) == 0)
            return &u->v[i];
    return NULL;
}

static size_t count_admins(const struct s4f_web_users *u)
{
    size_t a = 0;
    for (size_t i = 0; i < u->n; i++)
        a += u->v[i].role == S4F_WEB_ROLE_ADMIN;
    return a;
}

static void stamp(char *buf, size_t len)
{
    s4f_iso8601_ms(s4f_wall_ms(), buf, len);
}

enum s4f_status s4f_web_write_private(const char *path, const char *text, char *err, size_t errlen)
{
    enum s4f_status st = S4F_ERR;
    size_t plen = strlen(path) + 8;
    char *tmp = malloc(plen);
    int fd = -1;
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return S4F_ERR;
    }
    snprintf(tmp, plen, "%s.tmp", path);
    /* Exclusive and without following links: a link planted at the temporary name cannot
     * redirect the write. A leftover of a crash is removed once (unlink removes a link, not its
     * target). */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    fd = open(tmp, flags, 0600);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, flags, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    /* rename replaces a link at path itself rather than writing through it. */
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    st = S4F_OK;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    return st;
}

json_t *s4f_web_json_load_private(const char *path, int *missing, char *err, size_t errlen)
{
    json_error_t je;
    struct stat sb;
    *missing = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            *missing = 1;
        else if (errno == ELOOP)
            snprintf(err, errlen, "%s is a symbolic link; refusing to follow it", path);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (sb.st_mode & 077)
        s4f_warn("%s is readable by group or others; it should have mode 0600", path);
    json_t *root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
    close(fd);
    if (!root)
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    return root;
}

/* Writes the whole store beside the target and renames it over: readers see the old or the
 * new file, never a mixture. Called with the lock held. */
static enum s4f_status save(struct s4f_web_users *u, char *err, size_t errlen)
{
    enum s4f_status st = S4F_ERR;
    char *text = NULL;
    json_t *root = json_object(), *arr = json_array();
    if (!root || !arr) {
        json_decref(arr);
        goto out;
    }
    json_object_set_new(root, "users", arr);
    for (size_t i = 0; i < u->n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", u->v[i].name, "role",
                                             s4f_web_role_name(u->v[i].role), "hash", u->v[i].hash,
                                             "changed", u->v[i].changed));
    text = json_dumps(root, JSON_INDENT(2));
    if (!text) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    st = s4f_web_write_private(u->path, text, err, errlen);
out:
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    json_decref(root);
    return st;
}

static int load(struct s4f_web_users *u, char *err, size_t errlen)
{
    int missing;
    json_t *root = s4f_web_json_load_private(u->path, &missing, err, errlen);
    if (!root)
        return missing ? 0 : -1;
    int rc = -1;
    json_t *arr = json_object_get(root, "users");
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "%s: expected {\"users\": [...]}", u->path);
        goto out;
    }
    if (json_array_size(arr) > S4F_WEB_USERS_MAX) {
        snprintf(err, errlen, "%s: more than %d users", u->path, S4F_WEB_USERS_MAX);
        goto out;
    }
    u->v = calloc(json_array_size(arr) + 1, sizeof(*u->v));
    if (!u->v)
        goto out;
    u->cap = json_array_size(arr) + 1;
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *hash = json_string_value(json_object_get(it, "hash"));
        const char *changed = json_string_value(json_object_get(it, "changed"));
        int role = s4f_web_role_parse(json_string_value(json_object_get(it, "role")));
        char why[160];
        if (!name || s4f_web_parse_username(name, why, sizeof(why)) != 0 || !hash ||
            hash[0] != '$' || role < 0 || find(u, name)) {
            snprintf(err, errlen, "%s: user #%zu is malformed or repeated", u->path, i + 1);
            goto out;
        }
        struct user *x = &u->v[u->n++];
        x->name = strdup(name);
        x->hash = strdup(hash);
        x->role = (enum s4f_web_role)role;
        s4f_strlcpy(x->changed, changed ? changed : "", sizeof(x->changed));
        if (!x->name || !x->hash)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

struct s4f_web_users *s4f_web_users_open(const char *path, char *err, size_t errlen)
{
    struct s4f_web_users *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    u->path = strdup(path);
    if (!u->path) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (load(u, err, errlen) != 0)
        goto fail;
    /* The dummy's password is random and forgotten at once: it can never match. */
    unsigned char rnd[24];
    char pw[2 * sizeof(rnd) + 1];
    if (getentropy(rnd, sizeof(rnd)) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
    if (s4f_web_password_hash(pw, u->dummy, sizeof(u->dummy)) != 0) {
        snprintf(err, errlen, "libcrypt cannot make yescrypt hashes");
        goto fail;
    }
    return u;
fail:
    s4f_web_users_free(u);
    return NULL;
}

void s4f_web_users_free(struct s4f_web_users *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++)
        user_release(&u->v[i]);
    free(u->v);
    free(u->path);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

size_t s4f_web_users_count(struct s4f_web_users *u)
{
    pthread_mutex_lock(&u->lock);
    size_t n = u->n;
    pthread_mutex_unlock(&u->lock);
    return n;
}

size_t s4f_web_users_admins(struct s4f_web_users *u)
{
    pthread_mutex_lock(&u->lock);
    size_t n = count_admins(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

enum s4f_status s4f_web_users_add(struct s4f_web_users *u, const char *name, const char *password,
                                  enum s4f_web_role role, int replace, char *err, size_t errlen)
{
    char hash[CRYPT_OUTPUT_SIZE];
    if (s4f_web_parse_username(name, err, errlen) != 0 ||
        s4f_web_password_policy(password, err, errlen) != 0)
        return S4F_ERR;
    /* Hash before taking the lock: it is the slow part. */
    if (s4f_web_password_hash(password, hash, sizeof(hash)) != 0) {
        snprintf(err, errlen, "cannot hash the password");
        return S4F_ERR;
    }
    enum s4f_status st = S4F_ERR;
    pthread_mutex_lock(&u->lock);
    struct user *x = find(u, name);
    if (x && !replace) {
        snprintf(err, errlen, "user '%s' exists already", name);
        goto out;
    }
    if (x) {
        if (x->role == S4F_WEB_ROLE_ADMIN && role != S4F_WEB_ROLE_ADMIN && count_admins(u) == 1) {
            snprintf(err, errlen, "'%s' is the last admin and must stay one", name);
            goto out;
        }
        char *h = strdup(hash);
        if (!h)
            goto out;
        free(x->hash);
        x->hash = h;
        x->role = role;
    } else {
        if (u->n >= S4F_WEB_USERS_MAX) {
            snprintf(err, errlen, "too many users (at most %d)", S4F_WEB_USERS_MAX);
            goto out;
        }
        if (u->n == u->cap) {
            size_t cap = u->cap ? 2 * u->cap : 8;
            struct user *v = realloc(u->v, cap * sizeof(*v));
            if (!v)
                goto out;
            u->v = v;
            u->cap = cap;
        }
        x = &u->v[u->n];
        memset(x, 0, sizeof(*x));
        x->name = strdup(name);
        x->hash = strdup(hash);
        x->role = role;
        if (!x->name || !x->hash) {
            user_release(x);
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        u->n++;
    }
    stamp(x->changed, sizeof(x->changed));
    st = save(u, err, errlen);
out:
    pthread_mutex_unlock(&u->lock);
    explicit_bzero(hash, sizeof(hash));
    return st;
}

enum s4f_status s4f_web_users_update(struct s4f_web_users *u, const char *name, int role,
                                     const char *password, char *err, size_t errlen)
{
    char hash[CRYPT_OUTPUT_SIZE] = "";
    if (password) {
        if (s4f_web_password_policy(password, err, errlen) != 0)
            return S4F_ERR;
        if (s4f_web_password_hash(password, hash, sizeof(hash)) != 0) {
            snprintf(err, errlen, "cannot hash the password");
            return S4F_ERR;
        }
    }
    enum s4f_status st = S4F_ERR;
    pthread_mutex_lock(&u->lock);
    struct user *x = find(u, name);
    if (!x) {
        snprintf(err, errlen, "no user '%s'", name);
        goto out;
    }
    if (role >= 0 && x->role == S4F_WEB_ROLE_ADMIN && role != S4F_WEB_ROLE_ADMIN &&
        count_admins(u) == 1) {
        snprintf(err, errlen, "'%s' is the last admin and must stay one", name);
        goto out;
    }
    if (password) {
        char *h = strdup(hash);
        if (!h)
            goto out;
        free(x->hash);
        x->hash = h;
    }
    if (role >= 0)
        x->role = (enum s4f_web_role)role;
    stamp(x->changed, sizeof(x->changed));
    st = save(u, err, errlen);
out:
    pthread_mutex_unlock(&u->lock);
    explicit_bzero(hash, sizeof(hash));
    return st;
}

enum s4f_status s4f_web_users_delete(struct s4f_web_users *u, const char *name, char *err,
                                     size_t errlen)
{
    enum s4f_status st = S4F_ERR;
    pthread_mutex_lock(&u->lock);
    struct user *x = find(u, name);
    if (!x) {
        snprintf(err, errlen, "no user '%s'", name);
        goto out;
    }
    if (x->role == S4F_WEB_ROLE_ADMIN && count_admins(u) == 1) {
        snprintf(err, errlen, "'%s' is the last admin and cannot be deleted", name);
        goto out;
    }
    size_t i = (size_t)(x - u->v);
    user_release(x);
    memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof(*u->v));
    u->n--;
    st = save(u, err, errlen);
out:
    pthread_mutex_unlock(&u->lock);
    return st;
}

int s4f_web_users_verify(struct s4f_web_users *u, const char *name, const char *password,
                         enum s4f_web_role *role)
{
    char hash[CRYPT_OUTPUT_SIZE];
    int r = -1;
    pthread_mutex_lock(&u->lock);
    struct user *x = find(u, name);
    if (x) {
        s4f_strlcpy(hash, x->hash, sizeof(hash));
        r = (int)x->role;
    } else {
        s4f_strlcpy(hash, u->dummy, sizeof(hash));
    }
    pthread_mutex_unlock(&u->lock);
    int ok = s4f_web_password_check(password, hash) && r >= 0;
    explicit_bzero(hash, sizeof(hash));
    if (ok && role)
        *role = (enum s4f_web_role)r;
    return ok;
}

int s4f_web_users_role(struct s4f_web_users *u, const char *name)
{
    pthread_mutex_lock(&u->lock);
    struct user *x = find(u, name);
    int r = x ? (int)x->role : -1;
    pthread_mutex_unlock(&u->lock);
    return r;
}

json_t *s4f_web_users_list(struct s4f_web_users *u)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; i < u->n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", u->v[i].name, "role",
                                             s4f_web_role_name(u->v[i].role), "changed",
                                             u->v[i].changed));
    pthread_mutex_unlock(&u->lock);
    return arr;
}
