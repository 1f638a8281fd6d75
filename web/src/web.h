/* s4f-web: the configuration and the state shared by the HTTP threads.
 *
 * main.c fills struct s4f_web_conf from the `web:` table and builds one struct s4f_web_app;
 * server.c runs libmicrohttpd's thread pool over it; api.c answers /api/ requests. Everything
 * in the app is either read-only after start or guarded by its own mutex (users, sessions,
 * throttle, cache, es pool), so the threads need no other locking. */
#ifndef S4F_WEB_H
#define S4F_WEB_H

#include "cache.h"
#include "daemon.h"
#include "search.h"
#include "metrics.h"
#include "session.h"
#include "users.h"

#include <stdbool.h>
#include <stdint.h>

struct s4f_web_conf {
    struct s4f_daemon_common common;
    char *listen;
    char *tls_cert;
    char *tls_key;
    bool allow_insecure_listen;
    char *users_file;
    int64_t session_idle_ms;
    int64_t session_lifetime_ms;
    int64_t max_sessions;
    int64_t max_sessions_per_user;
    int64_t login_max_failures;
    int64_t login_account_max_failures;
    int64_t login_concurrency;
    int64_t login_failure_window_ms;
    int64_t login_lockout_ms;
    struct s4f_strlist components;
    struct s4f_strlist local_networks;
    int64_t max_connections;
    int64_t max_connections_per_ip;
    int64_t header_timeout_ms;
    struct s4f_strlist server_names;
    int64_t cache_ttl_ms;
    int64_t refresh_ms;
    int64_t component_timeout_ms;
    char *kibana_url;
};

struct s4f_web_component {
    char name[32];
    char *url; /* base URL; /metrics and /health are appended */
};

struct s4f_web_counters {
    struct s4f_metric *requests;
    struct s4f_metric *status_4xx;
    struct s4f_metric *status_5xx;
    struct s4f_metric *unauthenticated;
    struct s4f_metric *csrf_rejected;
    struct s4f_metric *bad_params;
    struct s4f_metric *login_ok;
    struct s4f_metric *login_failed;
    struct s4f_metric *login_throttled;
    struct s4f_metric *login_busy;
    struct s4f_metric *sessions_refused;
    struct s4f_metric *bad_host;
    struct s4f_metric *conn_refused;
    struct s4f_metric *header_timeouts;
    struct s4f_metric *es_errors;
    struct s4f_metric *cache_hits;
};

struct s4f_web_app {
    const struct s4f_web_conf *conf;
    const struct s4f_es_conf *es_conf;
    struct s4f_web_es *es;
    struct s4f_web_users *users;
    struct s4f_web_sessions *sessions;
    char *sessions_path; /* beside the users file */
    struct s4f_web_throttle *throttle;
    struct s4f_web_cache *cache;
    struct s4f_metrics *metrics;
    struct s4f_web_counters c;
    char **local_nets; /* canonical CIDRs */
    size_t n_local;
    struct s4f_web_component *components;
    size_t n_components;
    struct s4f_web_history *history; /* the components' recent metrics (history.h) */
    bool tls;
};

#endif
