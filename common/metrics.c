#include "metrics.h"

#include "buf.h"
#include "log.h"
#include "s4f.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 1024

enum family_type { FAM_COUNTER, FAM_GAUGE };

struct s4f_metric {
    _Atomic int64_t v;
};

struct family;

struct series {
    struct s4f_metric m;
    char *labels;
    uint64_t hash;
    double (*fn)(void *ctx);
    void *ctx;
    struct family *fam;
    struct series *fam_next;
    struct series *hash_next;
};

struct family {
    char *name;
    char *help;
    enum family_type type;
    struct series *first, *last;
    struct family *next;
};

struct s4f_metrics {
    pthread_mutex_t lock;
    char *prefix;
    size_t max_series, nseries;
    struct family *families, *families_last;
    struct series *buckets[BUCKETS];
    struct s4f_metric sink; /* absorbs updates past the cap; never rendered */
    struct s4f_metric *dropped;
    int health_ok;
    char health_reason[256];
};

static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 1099511628211ULL;
    return h;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort(); /* allocation of a few bytes at registration: nothing sane to do */
    return d;
}

static struct series *register_series(struct s4f_metrics *m, const char *name, const char *help,
                                      const char *labels, enum family_type type)
{
    char full[256];
    snprintf(full, sizeof(full), "%s_%s", m->prefix, name);
    if (!labels)
        labels = "";
    uint64_t h = fnv1a(full, labels);
    struct series *s;

    for (s = m->buckets[h % BUCKETS]; s; s = s->hash_next)
        if (s->hash == h && strcmp(s->fam->name, full) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    if (m->nseries >= m->max_series)
        return NULL;

    struct family *f;
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, full) == 0)
            break;
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f)
            return NULL;
        f->name = xstrdup(full);
        f->help = xstrdup(help);
        f->type = type;
        if (m->families_last)
            m->families_last->next = f;
        else
            m->families = f;
        m->families_last = f;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->labels = xstrdup(labels);
    s->hash = h;
    s->fam = f;
    if (f->last)
        f->last->fam_next = s;
    else
        f->first = s;
    f->last = s;
    s->hash_next = m->buckets[h % BUCKETS];
    m->buckets[h % BUCKETS] = s;
    m->nseries++;
    return s;
}

static struct s4f_metric *get_metric(struct s4f_metrics *m, const char *name, const char *help,
                                     const char *labels, enum family_type type)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = register_series(m, name, help, labels, type);
    pthread_mutex_unlock(&m->lock);
    if (!s) {
        s4f_metric_inc(m->dropped);
        return &m->sink;
    }
    return &s->m;
}

struct s4f_metrics *s4f_metrics_new(const char *prefix, size_t max_series)
{
    struct s4f_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->prefix = xstrdup(prefix ? prefix : "s4f");
    m->max_series = max_series ? max_series : 10000;
    m->health_ok = 1;
    m->max_series++; /* room for the drop counter itself */
    struct series *s = register_series(
        m, "metrics_series_dropped_total",
        "Metric series not created because the registry reached its cap", NULL, FAM_COUNTER);
    m->dropped = s ? &s->m : &m->sink;
    return m;
}

void s4f_metrics_free(struct s4f_metrics *m)
{
    if (!m)
        return;
    struct family *f = m->families;
    while (f) {
        struct family *fn = f->next;
        struct series *s = f->first;
        while (s) {
            struct series *sn = s->fam_next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    pthread_mutex_destroy(&m->lock);
    free(m->prefix);
    free(m);
}

struct s4f_metric *s4f_metrics_counter(struct s4f_metrics *m, const char *name, const char *help,
                                       const char *labels)
{
    return get_metric(m, name, help, labels, FAM_COUNTER);
}

struct s4f_metric *s4f_metrics_gauge(struct s4f_metrics *m, const char *name, const char *help,
                                     const char *labels)
{
    return get_metric(m, name, help, labels, FAM_GAUGE);
}

void s4f_metrics_gauge_fn(struct s4f_metrics *m, const char *name, const char *help,
                          const char *labels, double (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&m->lock);
    struct series *s = register_series(m, name, help, labels, FAM_GAUGE);
    if (s) {
        s->fn = fn;
        s->ctx = ctx;
    }
    pthread_mutex_unlock(&m->lock);
    if (!s)
        s4f_metric_inc(m->dropped);
}

void s4f_metrics_remove_fn(struct s4f_metrics *m, void *ctx)
{
    pthread_mutex_lock(&m->lock);
    for (struct family *f = m->families; f; f = f->next)
        for (struct series *s = f->first; s; s = s->fam_next)
            if (s->fn && s->ctx == ctx) {
                s->fn = NULL;
                s->ctx = NULL;
            }
    pthread_mutex_unlock(&m->lock);
}

void s4f_metric_add(struct s4f_metric *s, uint64_t n)
{
    if (s)
        atomic_fetch_add_explicit(&s->v, (int64_t)n, memory_order_relaxed);
}

void s4f_metric_inc(struct s4f_metric *s)
{
    s4f_metric_add(s, 1);
}

void s4f_metric_set(struct s4f_metric *s, int64_t v)
{
    if (s)
        atomic_store_explicit(&s->v, v, memory_order_relaxed);
}

int64_t s4f_metric_get(const struct s4f_metric *s)
{
    return s ? atomic_load_explicit(&((struct s4f_metric *)s)->v, memory_order_relaxed) : 0;
}

char *s4f_metrics_labels(char *buf, size_t len, ...)
{
    va_list ap;
    size_t o = 0;
    const char *k;

    if (!len)
        return buf;
    buf[0] = '\0';
    va_start(ap, len);
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!v)
            v = "";
        int n = snprintf(buf + o, len - o, "%s%s=\"", o ? "," : "", k);
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
        for (; *v && o + 3 < len; v++) {
            if (*v == '\\' || *v == '"') {
                buf[o++] = '\\';
                buf[o++] = *v;
            } else if (*v == '\n') {
                buf[o++] = '\\';
                buf[o++] = 'n';
            } else {
                buf[o++] = *v;
            }
        }
        if (o + 1 >= len)
            break;
        buf[o++] = '"';
        buf[o] = '\0';
    }
    va_end(ap);
    if (o >= len)
        o = len - 1;
    buf[o] = '\0';
    return buf;
}

char *s4f_metrics_render(struct s4f_metrics *m, size_t *len)
{
    struct s4f_buf b = {0};

    s4f_buf_printf(&b, "%s", "");
    pthread_mutex_lock(&m->lock);
    for (struct family *f = m->families; f; f = f->next) {
        s4f_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                       f->type == FAM_COUNTER ? "counter" : "gauge");
        for (struct series *s = f->first; s; s = s->fam_next) {
            const char *lo = *s->labels ? "{" : "", *lc = *s->labels ? "}" : "";
            if (s->fn)
                s4f_buf_printf(&b, "%s%s%s%s %.17g\n", f->name, lo, s->labels, lc, s->fn(s->ctx));
            else
                s4f_buf_printf(&b, "%s%s%s%s %lld\n", f->name, lo, s->labels, lc,
                               (long long)s4f_metric_get(&s->m));
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (len)
        *len = b.len;
    return b.p;
}

void s4f_metrics_set_health(struct s4f_metrics *m, int ok, const char *reason)
{
    pthread_mutex_lock(&m->lock);
    m->health_ok = ok;
    s4f_strlcpy(m->health_reason, reason ? reason : "", sizeof(m->health_reason));
    pthread_mutex_unlock(&m->lock);
}

struct s4f_http {
    struct MHD_Daemon *d;
    struct s4f_metrics *m;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void json_escape_into(char *dst, size_t len, const char *src)
{
    size_t o = 0;
    for (; *src && o + 7 < len; src++) {
        unsigned char ch = (unsigned char)*src;
        if (ch == '"' || ch == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(dst + o, len - o, "\\u%04x", ch);
        } else {
            dst[o++] = (char)ch;
        }
    }
    dst[o] = '\0';
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    struct s4f_http *h = cls;

    (void)version;
    (void)upload;
    (void)upload_len;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", NULL, 0);
    if (strcmp(url, "/metrics") == 0) {
        size_t len;
        char *body = s4f_metrics_render(h->m, &len);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", body, body ? len : 0);
    }
    if (strcmp(url, "/health") == 0) {
        char reason[512], *body;
        int ok;
        pthread_mutex_lock(&h->m->lock);
        ok = h->m->health_ok;
        json_escape_into(reason, sizeof(reason), h->m->health_reason);
        pthread_mutex_unlock(&h->m->lock);
        if (asprintf(&body, "{\"status\":\"%s\",\"reason\":\"%s\"}\n", ok ? "ok" : "degraded",
                     reason) < 0)
            return MHD_NO;
        return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body,
                     strlen(body));
    }
    char *body = strdup("not found: try /metrics or /health\n");
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", body, body ? strlen(body) : 0);
}

int s4f_parse_hostport(const char *s, struct sockaddr_storage *ss, unsigned *socklen)
{
    char host[128];
    const char *port;
    memset(ss, 0, sizeof(*ss));
    if (!s || !*s)
        return -1;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = '\0';
        port = e + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (!c || (size_t)(c - s) >= sizeof(host))
            return -1;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = '\0';
        port = c + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return -1;
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!*host || strcmp(host, "0.0.0.0") == 0 || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *socklen = sizeof(*v4);
        return 0;
    }
    if (strcmp(host, "localhost") == 0) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        v4->sin_port = htons((uint16_t)p);
        *socklen = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *socklen = sizeof(*v6);
        return 0;
    }
    return -1;
}

struct s4f_http *s4f_metrics_serve(struct s4f_metrics *m, const char *listen, char *err,
                                   size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned slen;
    if (s4f_parse_hostport(listen, &ss, &slen) != 0) {
        snprintf(err, errlen, "bad listen address '%s' (want host:port or [v6]:port)", listen);
        return NULL;
    }
    struct s4f_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->m = m;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s for metrics (in use?)", listen);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    return h;
}

int s4f_http_port(const struct s4f_http *h)
{
    return h ? h->port : 0;
}

void s4f_http_stop(struct s4f_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
