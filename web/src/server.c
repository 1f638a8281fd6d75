#include "server.h"

#include "api.h"
#include "assets.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* One open connection, kept in the server's list from libmicrohttpd's STARTED to its CLOSED
 * notification (the socket is closed only after CLOSED, so its fd stays ours to shut down while
 * the entry is listed). */
struct tracked {
    struct tracked *prev, *next;
    int fd;
    char group[72];        /* s4f_web_addr_group of the peer */
    int64_t waiting_since; /* > 0: waiting for a request's complete header since then */
    bool ended;            /* shut down by us; the connection's thread is finishing */
};

/* libmicrohttpd's own connection ceiling sits this far above max_connections: connections we
 * shut down still count for it until their threads finish. */
#define CONN_SLACK 64

struct s4f_web_server {
    struct MHD_Daemon *d;
    struct s4f_web_app *app;
    char *tls_cert_pem;
    char *tls_key_pem;
    int port;
    pthread_mutex_t lock;
    struct tracked *head;
    size_t open; /* listed and not ended */
    pthread_t watchdog;
    bool watchdog_started;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
};

/* Per-request state: the body as it arrives. */
struct conn {
    char *body;
    size_t len;
    bool too_large;
};

/* The page loads only its own scripts, styles and data: no inline script, no third party.
 * uPlot sets element styles from script (CSSOM), which style-src does not restrict. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

static void add_security_headers(struct MHD_Response *r, const struct s4f_web_app *app)
{
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(r, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (app->tls)
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result respond(struct MHD_Connection *c, struct s4f_web_app *app, int status,
                               struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    add_security_headers(r, app);
    s4f_metric_inc(app->c.requests);
    if (status >= 500)
        s4f_metric_inc(app->c.status_5xx);
    else if (status >= 400)
        s4f_metric_inc(app->c.status_4xx);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, struct s4f_web_app *app, int status,
                                 const char *type, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r) {
        MHD_add_response_header(r, "Content-Type", type);
        MHD_add_response_header(r, "Cache-Control", "no-store");
    }
    return respond(c, app, status, r);
}

static enum MHD_Result serve_asset(struct MHD_Connection *c, struct s4f_web_app *app,
                                   const char *url, const char *method)
{
    const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
    const struct s4f_web_asset *a = NULL;
    for (const struct s4f_web_asset *x = s4f_web_assets; x->path; x++)
        if (strcmp(x->path, path) == 0)
            a = x;
    if (!a)
        return send_text(c, app, 404, "text/plain; charset=utf-8", "not found\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (r)
            MHD_add_response_header(r, "Allow", "GET, HEAD");
        return respond(c, app, 405, r);
    }
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    int not_modified = inm && strcmp(inm, a->etag) == 0;
    struct MHD_Response *r =
        not_modified
            ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", a->type);
    MHD_add_response_header(r, "ETag", a->etag);
    /* Revalidate every time: a rebuilt binary must never mix old and new scripts. */
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    return respond(c, app, not_modified ? 304 : 200, r);
}

struct arg_ctx {
    struct s4f_web_req *req;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct s4f_web_req *req = cls;
    (void)kind;
    if (req->nargs >= S4F_WEB_MAX_ARGS) {
        req->args_overflow = true;
        return MHD_NO;
    }
    req->args[req->nargs].key = key ? key : "";
    req->args[req->nargs].value = value ? value : "";
    req->nargs++;
    return MHD_YES;
}

static void client_address(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    s4f_strlcpy(buf, "unknown", len);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)len);
}

static enum MHD_Result serve_api(struct MHD_Connection *c, struct s4f_web_app *app, const char *url,
                                 const char *method, struct conn *st)
{
    struct s4f_web_req req = {0};
    struct s4f_web_answer ans;
    char client[INET6_ADDRSTRLEN];
    client_address(c, client, sizeof(client));
    req.method = method;
    req.path = url;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &req);
    req.body = st->body;
    req.body_len = st->len;
    req.body_too_large = st->too_large;
    req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    req.origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    req.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    req.token = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "s4f_session");
    req.csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
    req.client = client;
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    req.gzip_ok = ae && strstr(ae, "gzip") != NULL;
    s4f_web_api_handle(app, &req, &ans);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(ans.len, ans.body ? ans.body : (void *)"",
                                        ans.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(ans.body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (ans.set_cookie[0])
        MHD_add_response_header(r, "Set-Cookie", ans.set_cookie);
    if (ans.allow)
        MHD_add_response_header(r, "Allow", ans.allow);
    if (ans.retry_after_s > 0) {
        char ra[32];
        snprintf(ra, sizeof(ra), "%ld", ans.retry_after_s);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    if (ans.cache_hit)
        MHD_add_response_header(r, "X-S4F-Cache", "hit");
    if (ans.gzipped)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    s4f_debug("%s %s %s -> %d", client, method, url, ans.status);
    return respond(c, app, ans.status, r);
}

static void sockaddr_group(const struct sockaddr *sa, char *out, size_t len)
{
    char buf[INET6_ADDRSTRLEN] = "unknown";
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  sizeof(buf));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  sizeof(buf));
    s4f_web_addr_group(buf, out, len);
}

/* Ends a connection from outside its thread: its poll wakes up to end of file and
 * libmicrohttpd closes it. Called with the lock held. */
static void end_connection(struct s4f_web_server *srv, struct tracked *t)
{
    shutdown(t->fd, SHUT_RDWR);
    t->ended = true;
    srv->open--;
    s4f_metric_inc(srv->app->c.header_timeouts);
}

/* Runs in libmicrohttpd's listening thread before a connection is set up: at most
 * max_connections_per_ip per address (IPv6: per /64), and at max_connections the connection
 * that has waited longest for a request header makes room; with none waiting, refuse. A
 * half-sent request cannot hold a place that a complete one (say /health) needs. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct s4f_web_server *srv = cls;
    const struct s4f_web_conf *conf = srv->app->conf;
    char group[72];
    enum MHD_Result ok = MHD_YES;
    (void)addrlen;
    sockaddr_group(addr, group, sizeof(group));
    pthread_mutex_lock(&srv->lock);
    size_t same = 0;
    struct tracked *oldest = NULL;
    for (struct tracked *t = srv->head; t; t = t->next) {
        if (t->ended)
            continue;
        same += strcmp(t->group, group) == 0;
        if (t->waiting_since > 0 && (!oldest || t->waiting_since < oldest->waiting_since))
            oldest = t;
    }
    if (same >= (size_t)conf->max_connections_per_ip)
        ok = MHD_NO;
    else if (srv->open >= (size_t)conf->max_connections) {
        if (oldest)
            end_connection(srv, oldest);
        else
            ok = MHD_NO;
    }
    pthread_mutex_unlock(&srv->lock);
    if (ok == MHD_NO) {
        s4f_metric_inc(srv->app->c.conn_refused);
        s4f_warn_rl("connection from %s refused: connection limit", group);
    }
    return ok;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct s4f_web_server *srv = cls;
    struct tracked *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!fd || !(t = calloc(1, sizeof(*t))))
            return; /* untracked: counts for libmicrohttpd's ceiling only */
        t->fd = fd->connect_fd;
        sockaddr_group(ci ? ci->client_addr : NULL, t->group, sizeof(t->group));
        t->waiting_since = s4f_mono_ms();
        pthread_mutex_lock(&srv->lock);
        t->next = srv->head;
        if (srv->head)
            srv->head->prev = t;
        srv->head = t;
        srv->open++;
        pthread_mutex_unlock(&srv->lock);
        *socket_context = t;
    } else if (t) {
        pthread_mutex_lock(&srv->lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            srv->head = t->next;
        if (t->next)
            t->next->prev = t->prev;
        if (!t->ended)
            srv->open--;
        pthread_mutex_unlock(&srv->lock);
        free(t);
        *socket_context = NULL;
    }
}

/* Marks the connection's header complete (waiting = 0) or the wait for the next one begun. */
static void header_state(struct s4f_web_server *srv, struct MHD_Connection *c, bool waiting)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct tracked *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&srv->lock);
    t->waiting_since = waiting ? s4f_mono_ms() : 0;
    pthread_mutex_unlock(&srv->lock);
}

/* Closes connections whose request header is late: libmicrohttpd's idle timeout alone lets a
 * client that sends a byte now and then hold a connection forever. */
static void *watchdog(void *arg)
{
    struct s4f_web_server *srv = arg;
    int64_t limit = srv->app->conf->header_timeout_ms;
    int64_t step = limit / 4 < 250 ? limit / 4 : 250;
    pthread_mutex_lock(&srv->stop_lock);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(step % 1000) * 1000000L;
        ts.tv_sec += (time_t)(step / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&srv->stop_cond, &srv->stop_lock, &ts);
        int64_t now = s4f_mono_ms();
        pthread_mutex_lock(&srv->lock);
        for (struct tracked *t = srv->head; t; t = t->next)
            if (!t->ended && t->waiting_since > 0 && now - t->waiting_since > limit)
                end_connection(srv, t);
        pthread_mutex_unlock(&srv->lock);
    }
    pthread_mutex_unlock(&srv->stop_lock);
    return NULL;
}

/* DNS rebinding: a page of another site whose name resolves to this host sends its own name as
 * Host. IP literals and localhost cannot be rebound; other names must be in server_names. */
static int host_ok(const struct s4f_web_conf *conf, const char *host)
{
    char name[256];
    if (!host)
        return 1; /* HTTP/1.0 without Host: no browser sends that */
    if (host[0] == '[')
        return strchr(host, ']') != NULL;
    s4f_strlcpy(name, host, sizeof(name));
    char *colon = strrchr(name, ':');
    if (colon)
        *colon = '\0';
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        name[--n] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1 || strcasecmp(name, "localhost") == 0)
        return 1;
    for (size_t i = 0; i < conf->server_names.n; i++)
        if (strcasecmp(name, conf->server_names.v[i]) == 0)
            return 1;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct s4f_web_server *srv = cls;
    struct conn *st = *con_cls;
    (void)version;
    if (!st) {
        header_state(srv, c, false);
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (st->too_large || st->len + n > S4F_WEB_MAX_BODY) {
            /* Keep reading to answer 413 properly, but store nothing more. */
            st->too_large = true;
            free(st->body);
            st->body = NULL;
            st->len = 0;
            return MHD_YES;
        }
        char *b = realloc(st->body, st->len + n + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + st->len, upload_data, n);
        st->body = b;
        st->len += n;
        st->body[st->len] = '\0';
        return MHD_YES;
    }
    /* /health says nothing a rebinding page could use, and monitors may call it by any name. */
    if (strcmp(url, "/health") == 0)
        return send_text(c, srv->app, 200, "application/json", "{\"status\":\"ok\"}");
    if (!host_ok(srv->app->conf, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"))) {
        s4f_metric_inc(srv->app->c.bad_host);
        return send_text(c, srv->app, 421, "text/plain; charset=utf-8",
                         "unknown host name; add it to web.server_names\n");
    }
    if (strncmp(url, "/api/", 5) == 0)
        return serve_api(c, srv->app, url, method, st);
    return serve_asset(c, srv->app, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *st = *con_cls;
    (void)toe;
    /* A kept-alive connection now waits for its next request's header. */
    header_state(cls, c, true);
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's own format strings: declared as such for -Wformat-nonliteral (clang). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    s4f_warn_rl("libmicrohttpd: %s", msg);
}

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        snprintf(err, errlen, "%s: empty or unreadable", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

struct s4f_web_server *s4f_web_server_start(struct s4f_web_app *app, char *err, size_t errlen)
{
    const struct s4f_web_conf *conf = app->conf;
    struct sockaddr_storage ss;
    unsigned socklen = 0;
    struct s4f_web_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->app = app;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->stop_lock, NULL);
    pthread_cond_init(&srv->stop_cond, NULL);
    if (s4f_parse_hostport(conf->listen, &ss, &socklen) != 0) {
        snprintf(err, errlen, "web.listen: cannot parse '%s' (host:port)", conf->listen);
        goto fail;
    }
    /* One thread per connection: an API call blocks while Elasticsearch answers, and in a
     * thread pool that would stall every other connection served by the same thread. The
     * number of threads is bounded by max_connections. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (app->tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "this libmicrohttpd was built without TLS");
            goto fail;
        }
        if (!(srv->tls_cert_pem = read_pem(conf->tls_cert, err, errlen)) ||
            !(srv->tls_key_pem = read_pem(conf->tls_key, err, errlen)))
            goto fail;
        flags |= MHD_USE_TLS;
    }
    /* clang-format off */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_STACK_SIZE, 512 * 1024, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conf->max_connections + CONN_SLACK, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
        {app->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert_pem},
        {app->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    /* clang-format on */
    srv->d = MHD_start_daemon(flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!srv->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or TLS files invalid?)",
                 conf->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    if (pthread_create(&srv->watchdog, NULL, watchdog, srv) != 0) {
        snprintf(err, errlen, "cannot start the header watchdog thread");
        goto fail;
    }
    srv->watchdog_started = true;
    return srv;
fail:
    s4f_web_server_stop(srv);
    return NULL;
}

int s4f_web_server_port(const struct s4f_web_server *s)
{
    return s ? s->port : 0;
}

void s4f_web_server_stop(struct s4f_web_server *s)
{
    if (!s)
        return;
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->stop_lock);
        s->stopping = true;
        pthread_cond_signal(&s->stop_cond);
        pthread_mutex_unlock(&s->stop_lock);
        pthread_join(s->watchdog, NULL);
    }
    if (s->d)
        MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->stop_lock);
    pthread_cond_destroy(&s->stop_cond);
    if (s->tls_key_pem)
        explicit_bzero(s->tls_key_pem, strlen(s->tls_key_pem));
    free(s->tls_key_pem);
    free(s->tls_cert_pem);
    free(s);
}
