/* s4f-web: the dashboard and its JSON API over Elasticsearch.
 *
 *   s4f-web [-c FILE]                 serve the dashboard
 *   s4f-web [-c FILE] --add-user NAME [--role admin|user]
 *                                     create or reset a user (password read from the terminal,
 *                                     or from the first line of standard input) and exit
 *
 * With no user at all at start, the daemon creates "admin" with a random one-time password,
 * written to a 0600 file beside the users file (the log names the file, never the password):
 * there is no default password. */
#include "components.h"
#include "daemon.h"
#include "history.h"
#include "log.h"
#include "params.h"
#include "server.h"
#include "web.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* clang-format off */
static const struct s4f_opt web_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct s4f_web_conf, "127.0.0.1:9105"),
    {"listen", S4F_OPT_STRING, "127.0.0.1:8080", 0, 0, offsetof(struct s4f_web_conf, listen),
     "Address of the dashboard (host:port, [v6]:port); port 0 picks a free port", NULL},
    {"tls_cert", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_web_conf, tls_cert),
     "PEM certificate (chain) for HTTPS; with tls_key, the dashboard serves HTTPS only", NULL},
    {"tls_key", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_web_conf, tls_key),
     "PEM private key of tls_cert", NULL},
    {"allow_insecure_listen", S4F_OPT_BOOL, "false", 0, 0,
     offsetof(struct s4f_web_conf, allow_insecure_listen),
     "Serve plain HTTP on a non-loopback listen address (passwords and session cookies in "
     "clear); without it such a listen address needs tls_cert and tls_key", NULL},
    {"users_file", S4F_OPT_STRING, "/var/lib/stream4flow/users.json", 0, 0,
     offsetof(struct s4f_web_conf, users_file),
     "JSON file of users and password hashes (written with mode 0600)", NULL},
    {"session_idle_timeout", S4F_OPT_DURATION, "30m", 60000, 86400000,
     offsetof(struct s4f_web_conf, session_idle_ms),
     "A session without requests for this long is signed out", NULL},
    {"session_lifetime", S4F_OPT_DURATION, "12h", 60000, 2592000000,
     offsetof(struct s4f_web_conf, session_lifetime_ms),
     "A session is signed out this long after its login, however active", NULL},
    {"max_sessions", S4F_OPT_INT, "1000", 1, 100000, offsetof(struct s4f_web_conf, max_sessions),
     "Sessions kept at most; when all are live, further logins get HTTP 503 (no user's live "
     "session is ended to make room)", NULL},
    {"max_sessions_per_user", S4F_OPT_INT, "10", 1, 1000,
     offsetof(struct s4f_web_conf, max_sessions_per_user),
     "Sessions of one user at most; a further login ends that user's oldest", NULL},
    {"login_max_failures", S4F_OPT_INT, "5", 1, 1000,
     offsetof(struct s4f_web_conf, login_max_failures),
     "Failed logins from one address (IPv6: one /64) within login_failure_window before it is "
     "locked out", NULL},
    {"login_account_max_failures", S4F_OPT_INT, "10", 1, 1000,
     offsetof(struct s4f_web_conf, login_account_max_failures),
     "Failed logins for one user name, from any address, within login_failure_window before "
     "the name is locked out", NULL},
    {"login_failure_window", S4F_OPT_DURATION, "15m", 1000, 86400000,
     offsetof(struct s4f_web_conf, login_failure_window_ms),
     "Window over which failed logins are counted", NULL},
    {"login_lockout", S4F_OPT_DURATION, "5m", 1000, 86400000,
     offsetof(struct s4f_web_conf, login_lockout_ms),
     "How long a locked-out address or user name gets HTTP 429 on login", NULL},
    {"login_concurrency", S4F_OPT_INT, "2", 1, 64,
     offsetof(struct s4f_web_conf, login_concurrency),
     "Password checks running at once (each takes yescrypt's memory); further logins get HTTP "
     "429 with Retry-After: 1", NULL},
    {"components", S4F_OPT_LIST,
     "collector=http://127.0.0.1:9101,worker=http://127.0.0.1:9102,sink=http://127.0.0.1:9103", 0,
     0, offsetof(struct s4f_web_conf, components),
     "name=URL of each daemon's metrics endpoint shown on the System page", NULL},
    {"local_networks", S4F_OPT_LIST, NULL, 0, 0, offsetof(struct s4f_web_conf, local_networks),
     "CIDRs of the local networks; the host list shows only these (empty: every host)", NULL},
    {"max_connections", S4F_OPT_INT, "512", 1, 65536,
     offsetof(struct s4f_web_conf, max_connections),
     "Open connections at most (each has its own thread)", NULL},
    {"max_connections_per_ip", S4F_OPT_INT, "32", 1, 65536,
     offsetof(struct s4f_web_conf, max_connections_per_ip),
     "Open connections from one client address (IPv6: one /64) at most", NULL},
    {"header_timeout", S4F_OPT_DURATION, "10s", 1000, 300000,
     offsetof(struct s4f_web_conf, header_timeout_ms),
     "A connection that has not sent a request's complete header this long after the request "
     "began is closed", NULL},
    {"server_names", S4F_OPT_LIST, NULL, 0, 0, offsetof(struct s4f_web_conf, server_names),
     "Host names the dashboard answers to (besides IP addresses and localhost); a request with "
     "another Host header gets HTTP 421 (DNS rebinding)", NULL},
    {"cache_ttl", S4F_OPT_DURATION, "2s", 0, 60000, offsetof(struct s4f_web_conf, cache_ttl_ms),
     "How long an API answer is reused for identical requests (0: never)", NULL},
    {"refresh", S4F_OPT_DURATION, "5s", 1000, 5000, offsetof(struct s4f_web_conf, refresh_ms),
     "How often open pages poll for new windows", NULL},
    {"component_timeout", S4F_OPT_DURATION, "1500ms", 100, 30000,
     offsetof(struct s4f_web_conf, component_timeout_ms),
     "Timeout of one request to a component's metrics endpoint", NULL},
    {"kibana_url", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_web_conf, kibana_url),
     "Base URL of Kibana (http:// or https://, e.g. https://kibana.example.org:5601); when set, "
     "a detection's detail view links into Kibana Discover filtered to it", NULL},
    S4F_OPT_END,
};
/* clang-format on */

/* Logins and session cookies cross the wire: plain HTTP only where nobody else can listen
 * (loopback, e.g. behind a TLS reverse proxy on the same host), or when the operator says so. */
static int check_listen(const struct s4f_web_conf *c, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned socklen = 0;
    if (s4f_parse_hostport(c->listen, &ss, &socklen) != 0) {
        snprintf(err, errlen, "web.listen: cannot parse '%s' (host:port)", c->listen);
        return -1;
    }
    if (c->tls_cert || c->allow_insecure_listen)
        return 0;
    bool loopback = false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
        loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
        loopback = IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    if (!loopback) {
        snprintf(err, errlen,
                 "web.listen: %s is not a loopback address and the dashboard has no TLS: set "
                 "web.tls_cert and web.tls_key (or web.allow_insecure_listen: true to serve "
                 "plain HTTP there anyway)",
                 c->listen);
        return -1;
    }
    return 0;
}

static int validate(struct s4f_daemon *d, char *err, size_t errlen)
{
    const struct s4f_web_conf *c = d->conf;
    char canon[S4F_WEB_ADDR_MAX];
    if (!c->tls_cert != !c->tls_key) {
        snprintf(err, errlen, "web: tls_cert and tls_key go together");
        return -1;
    }
    if (check_listen(c, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->components.n; i++) {
        struct s4f_web_component comp = {0};
        if (s4f_web_component_parse(c->components.v[i], &comp, err, errlen) != 0)
            return -1;
        free(comp.url);
    }
    for (size_t i = 0; i < c->server_names.n; i++) {
        const char *n = c->server_names.v[i];
        size_t len = strlen(n), ok = len > 0 && len <= 253;
        for (const char *p = n; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '.';
        if (!ok) {
            snprintf(err, errlen, "web.server_names: '%.64s' is not a host name", n);
            return -1;
        }
    }
    for (size_t i = 0; i < c->local_networks.n; i++)
        if (s4f_web_parse_cidr("web.local_networks", c->local_networks.v[i], canon, sizeof(canon),
                               err, errlen) != 0)
            return -1;
    if (c->kibana_url) {
        const char *u = c->kibana_url;
        int ok =
            (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) && strlen(u) < 512;
        for (const char *p = u; ok && *p; p++)
            ok = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '\'' && *p != '<' && *p != '>';
        if (!ok) {
            snprintf(err, errlen, "web.kibana_url: not an http:// or https:// URL");
            return -1;
        }
    }
    /* elasticsearch.index_prefix, part of every index expression, is checked by
     * s4f_daemon_init() (common/es.c). */
    return 0;
}

/* Reads a password without echo from a terminal, or the first line of a pipe. */
static int read_password(const char *prompt, char *buf, size_t len)
{
    struct termios old, noecho;
    int tty = isatty(STDIN_FILENO);
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        tcgetattr(STDIN_FILENO, &old);
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
    }
    char *r = fgets(buf, (int)len, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!r)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int add_user(const struct s4f_web_conf *conf, const char *name, const char *role_name)
{
    char err[512], pw[S4F_WEB_PASSWORD_MAX + 2], again[S4F_WEB_PASSWORD_MAX + 2];
    int rc = 1;
    int role = s4f_web_role_parse(role_name);
    struct s4f_web_users *u = NULL;
    if (role < 0) {
        fprintf(stderr, "s4f-web: --role must be admin or user\n");
        return 1;
    }
    if (s4f_web_parse_username(name, err, sizeof(err)) != 0) {
        fprintf(stderr, "s4f-web: %s\n", err);
        return 1;
    }
    if (!(u = s4f_web_users_open(conf->users_file, err, sizeof(err)))) {
        fprintf(stderr, "s4f-web: %s\n", err);
        return 1;
    }
    if (read_password("Password: ", pw, sizeof(pw)) != 0) {
        fprintf(stderr, "s4f-web: no password given\n");
        goto out;
    }
    if (isatty(STDIN_FILENO)) {
        if (read_password("Again: ", again, sizeof(again)) != 0 || strcmp(pw, again) != 0) {
            fprintf(stderr, "s4f-web: the passwords differ\n");
            goto out;
        }
    }
    if (s4f_web_users_add(u, name, pw, (enum s4f_web_role)role, 1, err, sizeof(err)) != S4F_OK) {
        fprintf(stderr, "s4f-web: %s\n", err);
        goto out;
    }
    printf("user '%s' (%s) saved in %s\n", name, role_name, conf->users_file);
    rc = 0;
out:
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(again, sizeof(again));
    s4f_web_users_free(u);
    return rc;
}

/* users_file with its ".json" ending (if any) replaced by suffix; malloc'ed. */
static char *sibling_path(const char *users_file, const char *suffix)
{
    size_t n = strlen(users_file);
    if (n > 5 && strcmp(users_file + n - 5, ".json") == 0)
        n -= 5;
    char *p = malloc(n + strlen(suffix) + 1);
    if (p) {
        memcpy(p, users_file, n);
        strcpy(p + n, suffix);
    }
    return p;
}

/* First start without users: create "admin" with a random password. The password goes to a
 * file of mode 0600 beside the users file, never to the log (the journal is readable by more
 * people than the users file); the log names the file. */
static int first_admin(struct s4f_web_users *u, const char *path)
{
    char pw[25], err[256];
    int rc = -1;
    if (s4f_web_users_count(u) > 0)
        return 0;
    char *pwfile = sibling_path(path, ".admin-password");
    if (!pwfile || s4f_web_random_hex(pw, 12) != 0)
        goto out;
    if (s4f_web_write_private(pwfile, pw, err, sizeof(err)) != S4F_OK) {
        s4f_error("cannot create the first admin: %s", err);
        goto out;
    }
    if (s4f_web_users_add(u, "admin", pw, S4F_WEB_ROLE_ADMIN, 0, err, sizeof(err)) != S4F_OK) {
        s4f_error("cannot create the first admin in %s: %s", path, err);
        unlink(pwfile);
        goto out;
    }
    s4f_warn("no users were configured: created user 'admin' with a one-time password, which is "
             "in %s (mode 0600). Sign in, change it on the System page, and delete the file "
             "(or run s4f-web --add-user NAME to choose your own)",
             pwfile);
    rc = 0;
out:
    explicit_bzero(pw, sizeof(pw));
    free(pwfile);
    return rc;
}

static int app_init(struct s4f_web_app *app, struct s4f_daemon *d, char *err, size_t errlen)
{
    const struct s4f_web_conf *conf = d->conf;
    app->conf = conf;
    app->es_conf = &d->es;
    app->metrics = d->metrics;
    app->tls = conf->tls_cert != NULL;
    struct s4f_metrics *m = d->metrics;
    app->c.requests = s4f_metrics_counter(m, "http_requests_total", "HTTP requests answered", NULL);
    app->c.status_4xx = s4f_metrics_counter(m, "http_client_errors_total", "Answers 4xx", NULL);
    app->c.status_5xx = s4f_metrics_counter(m, "http_server_errors_total", "Answers 5xx", NULL);
    app->c.unauthenticated =
        s4f_metrics_counter(m, "unauthenticated_total", "API requests without a session", NULL);
    app->c.csrf_rejected = s4f_metrics_counter(
        m, "csrf_rejected_total", "Writes refused for a missing/wrong CSRF token or origin", NULL);
    app->c.bad_params =
        s4f_metrics_counter(m, "bad_parameters_total", "API requests with bad parameters", NULL);
    app->c.login_ok = s4f_metrics_counter(m, "logins_total", "Successful logins", NULL);
    app->c.login_failed = s4f_metrics_counter(m, "login_failures_total", "Failed logins", NULL);
    app->c.login_throttled =
        s4f_metrics_counter(m, "login_throttled_total", "Logins refused with 429", NULL);
    app->c.login_busy = s4f_metrics_counter(
        m, "login_busy_total", "Logins refused with 429 while login_concurrency checks ran", NULL);
    app->c.sessions_refused = s4f_metrics_counter(
        m, "sessions_refused_total", "Logins refused with 503: max_sessions live sessions", NULL);
    app->c.bad_host = s4f_metrics_counter(
        m, "bad_host_total", "Requests refused for a Host header not in server_names", NULL);
    app->c.conn_refused = s4f_metrics_counter(
        m, "connections_refused_total",
        "Connections refused at max_connections_per_ip, or at max_connections with none to end",
        NULL);
    app->c.header_timeouts = s4f_metrics_counter(
        m, "header_timeouts_total",
        "Connections closed for a request header not complete within header_timeout, or ended "
        "early to make room at max_connections",
        NULL);
    app->c.es_errors =
        s4f_metrics_counter(m, "es_errors_total", "Elasticsearch queries that failed", NULL);
    app->c.cache_hits =
        s4f_metrics_counter(m, "cache_hits_total", "API answers served from the cache", NULL);

    if (!(app->es = s4f_web_es_new(&d->es, err, errlen)))
        return -1;
    if (!(app->users = s4f_web_users_open(conf->users_file, err, errlen)))
        return -1;
    if (!(app->sessions_path = sibling_path(conf->users_file, ".sessions.json"))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct s4f_web_sessions_conf sc = {
        .idle_ms = conf->session_idle_ms,
        .lifetime_ms = conf->session_lifetime_ms,
        .max = (size_t)conf->max_sessions,
        .max_per_user = (size_t)conf->max_sessions_per_user,
        .path = app->sessions_path,
    };
    struct s4f_web_throttle_conf tc = {
        .addr_max_failures = (int)conf->login_max_failures,
        .user_max_failures = (int)conf->login_account_max_failures,
        .window_ms = conf->login_failure_window_ms,
        .lockout_ms = conf->login_lockout_ms,
        .max_entries = 4096,
        .max_hashing = (int)conf->login_concurrency,
    };
    app->sessions = s4f_web_sessions_new(&sc);
    app->throttle = s4f_web_throttle_new(&tc);
    size_t dropped = 0;
    char why[512];
    /* Losing saved sessions only means signing in again: no reason to refuse to start. The
     * next save replaces the file (a link in its place included). */
    if (app->sessions && s4f_web_sessions_load(app->sessions, app->users, s4f_mono_ms(), &dropped,
                                               why, sizeof(why)) != 0)
        s4f_warn("%s; starting without saved sessions", why);
    else if (app->sessions)
        s4f_info("%zu session(s) restored from %s (%zu expired or stale dropped)",
                 s4f_web_sessions_count(app->sessions, s4f_mono_ms()), app->sessions_path, dropped);
    /* Waiting for a first answer longer than Elasticsearch may take would only add a second
     * query behind the first. */
    app->cache = s4f_web_cache_new(conf->cache_ttl_ms, app->es_conf->timeout_ms);
    app->components = calloc(conf->components.n + 1, sizeof(*app->components));
    app->local_nets = calloc(conf->local_networks.n + 1, sizeof(char *));
    if (!app->sessions || !app->throttle || !app->cache || !app->components || !app->local_nets) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < conf->components.n; i++) {
        if (s4f_web_component_parse(conf->components.v[i], &app->components[i], err, errlen) != 0)
            return -1;
        app->n_components++;
    }
    for (size_t i = 0; i < conf->local_networks.n; i++) {
        char canon[S4F_WEB_ADDR_MAX];
        if (s4f_web_parse_cidr("local_networks", conf->local_networks.v[i], canon, sizeof(canon),
                               err, errlen) != 0 ||
            !(app->local_nets[i] = strdup(canon)))
            return -1;
        app->n_local++;
    }
    const char **names = calloc(app->n_components + 1, sizeof(*names));
    for (size_t i = 0; names && i < app->n_components; i++)
        names[i] = app->components[i].name;
    app->history = names ? s4f_web_history_new(names, app->n_components) : NULL;
    free(names);
    if (!app->history) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void app_release(struct s4f_web_app *app)
{
    s4f_web_history_free(app->history); /* its thread reads the rest */
    s4f_web_es_free(app->es);
    s4f_web_users_free(app->users);
    s4f_web_sessions_free(app->sessions);
    free(app->sessions_path);
    s4f_web_throttle_free(app->throttle);
    s4f_web_cache_free(app->cache);
    for (size_t i = 0; i < app->n_components; i++)
        free(app->components[i].url);
    free(app->components);
    for (size_t i = 0; i < app->n_local; i++)
        free(app->local_nets[i]);
    free(app->local_nets);
}

static double sessions_gauge(void *ctx)
{
    struct s4f_web_app *app = ctx;
    return (double)s4f_web_sessions_count(app->sessions, s4f_mono_ms());
}

int main(int argc, char **argv)
{
    struct s4f_web_conf conf = {0};
    struct s4f_web_app app = {0};
    struct s4f_web_server *srv = NULL;
    const char *new_user = NULL, *new_role = "admin";
    const struct s4f_daemon_arg args[] = {
        {"--add-user", "NAME", "create or reset user NAME (password from stdin), then exit",
         &new_user},
        {"--role", "ROLE", "with --add-user: admin (default) or user", &new_role},
        {NULL, NULL, NULL, NULL},
    };
    struct s4f_daemon d = {
        .name = "web",
        .summary = "Dashboard and JSON API over Elasticsearch.",
        .opts = web_opts,
        .conf = &conf,
        .uses_es = true,
        .args = args,
        .validate = validate,
    };
    int exit_code = 1;
    char err[1024];

    int rc = s4f_daemon_init(&d, argc, argv);
    if (rc != 0) {
        exit_code = rc < 0 ? 1 : 0;
        goto out;
    }
    if (new_user) {
        exit_code = add_user(&conf, new_user, new_role);
        goto out;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        s4f_error("libcurl initialisation failed");
        goto out;
    }
    if (s4f_daemon_start(&d) != 0)
        goto out_curl;
    if (app_init(&app, &d, err, sizeof(err)) != 0) {
        s4f_error("%s", err);
        goto out_app;
    }
    if (first_admin(app.users, conf.users_file) != 0)
        goto out_app;
    s4f_metrics_gauge_fn(d.metrics, "sessions", "Live sessions", NULL, sessions_gauge, &app);
    if (!(srv = s4f_web_server_start(&app, err, sizeof(err)))) {
        s4f_error("%s", err);
        goto out_app;
    }
    if (s4f_web_history_start(app.history, &app) != 0) {
        s4f_error("cannot start the pipeline history thread");
        goto out_app;
    }
    s4f_metrics_set_health(d.metrics, 1, NULL);
    {
        char host[128];
        s4f_strlcpy(host, conf.listen, sizeof(host));
        char *colon = strrchr(host, ':');
        if (colon)
            *colon = '\0';
        if (!host[0] || strcmp(host, "0.0.0.0") == 0)
            s4f_strlcpy(host, "127.0.0.1", sizeof(host));
        s4f_info("dashboard at %s://%s:%d/ (users in %s)", app.tls ? "https" : "http", host,
                 s4f_web_server_port(srv), conf.users_file);
    }
    while (!s4f_daemon_stopping()) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    s4f_info("stopping");
    exit_code = 0;
out_app:
    s4f_web_server_stop(srv);
    s4f_metrics_remove_fn(d.metrics, &app);
    app_release(&app);
out_curl:
    curl_global_cleanup();
out:
    s4f_daemon_finish(&d);
    return exit_code;
}
