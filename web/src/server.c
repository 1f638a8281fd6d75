#include "server.h"

#include "api.h"
#include "assets.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct s4f_web_server {
    struct MHD_Daemon *d;
    struct s4f_web_app *app;
    char *tls_cert_pem;
    char *tls_key_pem;
    int port;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct s4f_web_server *srv = cls;
    struct conn *st = *con_cls;
    (void)version;
    if (!st) {
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
    if (strncmp(url, "/api/", 5) == 0)
        return serve_api(c, srv->app, url, method, st);
    if (strcmp(url, "/health") == 0)
        return send_text(c, srv->app, 200, "application/json", "{\"status\":\"ok\"}");
    return serve_asset(c, srv->app, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *st = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
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
        {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conf->max_connections, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)conf->max_connections_per_ip, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
        {app->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert_pem},
        {app->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    /* clang-format on */
    srv->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!srv->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or TLS files invalid?)",
                 conf->listen);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
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
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->tls_key_pem)
        explicit_bzero(s->tls_key_pem, strlen(s->tls_key_pem));
    free(s->tls_key_pem);
    free(s->tls_cert_pem);
    free(s);
}
