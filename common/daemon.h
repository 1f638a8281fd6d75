/* Daemon life cycle shared by the four daemons: command line (with each daemon's own extra
 * options), configuration, logging, metrics server, signals, the exit watchdog and systemd's
 * readiness and watchdog notifications.
 *
 * Signals only set a flag. The first SIGTERM or SIGINT asks for a drain: the daemon stops taking
 * input, closes what is open, flushes its outputs and exits, within shutdown_grace; a second
 * signal, or the grace running out, asks it to stop at once (s4f_daemon_stopping() == 2).
 *
 * systemd (Type=notify): s4f_daemon_start() sends READY=1 once the metrics endpoint listens; the
 * first call of s4f_daemon_stopping() that sees a stop request sends STOPPING=1; with
 * WatchdogSec= set, s4f_daemon_stopping() sends WATCHDOG=1 at most every half of WATCHDOG_USEC,
 * so a main loop that stops calling it (a hang) gets the daemon restarted. Without
 * NOTIFY_SOCKET nothing is sent.
 *
 * Every daemon's section table starts with S4F_DAEMON_COMMON_OPTS and its config struct starts
 * with a struct s4f_daemon_common, so the shared keys (log_level, metrics_listen,
 * shutdown_grace) read the same everywhere. */
#ifndef S4F_DAEMON_H
#define S4F_DAEMON_H

#include "config.h"
#include "es.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct s4f_daemon_common {
    int log_level;
    char *metrics_listen;
    int64_t shutdown_grace_ms;
};

extern const char *const s4f_log_level_choices[];

/* clang-format off */
#define S4F_DAEMON_COMMON_OPTS(type, listen)                                                       \
    {"log_level", S4F_OPT_ENUM, "info", 0, 0, offsetof(type, common.log_level),                    \
     "Least severe level logged", s4f_log_level_choices},                                          \
    {"metrics_listen", S4F_OPT_STRING, listen, 0, 0, offsetof(type, common.metrics_listen),        \
     "Address of the HTTP endpoint serving /metrics (Prometheus) and /health; port 0 picks a "     \
     "free port", NULL},                                                                           \
    {"shutdown_grace", S4F_OPT_DURATION, "10s", 0, 600000,                                         \
     offsetof(type, common.shutdown_grace_ms),                                                     \
     "How long a drain on SIGTERM may take before the daemon stops at once", NULL}
/* clang-format on */

/* A daemon's own command-line option taking a value ("--add-user NAME" or "--add-user=NAME");
 * tables end with an entry whose name is NULL. */
struct s4f_daemon_arg {
    const char *name;       /* "--add-user" */
    const char *value_name; /* "NAME", shown in --help */
    const char *help;
    const char **value; /* receives the value (a pointer into argv); unchanged when absent */
};

struct s4f_daemon {
    /* Set by the daemon before s4f_daemon_init(). */
    const char *name;                  /* component name and config section: "collector" */
    const char *summary;               /* one line for --help */
    const struct s4f_opt *opts;        /* the section's table */
    void *conf;                        /* zeroed target; starts with struct s4f_daemon_common */
    bool uses_es;                      /* reads the elasticsearch: section */
    bool takes_analysis;               /* accepts --analysis NAME (s4f-worker) */
    const struct s4f_daemon_arg *args; /* the daemon's own options, or NULL */
    /* Extra lines of --help (the worker lists its analyses). */
    void (*print_extra_help)(FILE *out);
    /* Validates what tables cannot (cross-field checks, nested sections). 0 or -1 + err. */
    int (*validate)(struct s4f_daemon *d, char *err, size_t errlen);

    /* Filled by s4f_daemon_init(). */
    struct s4f_conf_doc *doc;
    const struct s4f_node *section;
    struct s4f_kvlist kafka; /* the shared kafka: section */
    struct s4f_es_conf es;
    const char *config_path;
    const char *instance;
    const char *analysis;
    struct s4f_metrics *metrics;
    struct s4f_http *http;
};

/* Parses argv, loads and validates the configuration, initialises logging.
 * Returns 0 to run, 1 to exit 0 at once (--help, --version, --check-config passed), -1 to exit 1
 * (the error has been printed). */
int s4f_daemon_init(struct s4f_daemon *d, int argc, char **argv);
/* Installs signal handlers, starts the metrics server and tells systemd the daemon is ready.
 * 0 or -1 (logged). */
int s4f_daemon_start(struct s4f_daemon *d);
/* 0: running; 1: draining (first signal); 2: stop now (second signal or grace over). Main loops
 * call it often: it also feeds systemd's watchdog. Thread-safe. */
int s4f_daemon_stopping(void);
/* Milliseconds left of the drain (0 when not draining or over). */
int64_t s4f_daemon_drain_left_ms(void);
/* Reload requests: SIGHUP (systemctl reload) counts one. A component that can reload (the
 * worker's rules analysis) compares the count with the one it last acted on, from its own
 * thread; the signal handler does nothing else. Thread-safe. */
unsigned s4f_daemon_reload_count(void);
/* Counts a reload request from inside the program (tests). */
void s4f_daemon_request_reload(void);
/* Asks for a drain from inside the program (tests, fatal input errors). */
void s4f_daemon_request_stop(void);
/* Call when the main loop has ended, before closing clients: if the clean-up that follows is
 * still running shutdown_grace + 10 s later (closing librdkafka handles can block for good), the
 * process leaves at once with status, without the rest of the clean-up, rather than hang a
 * service manager's stop. */
void s4f_daemon_exit_watchdog(const struct s4f_daemon *d, int status);
/* Stops the metrics server, frees configuration. NULL-safe members. */
void s4f_daemon_finish(struct s4f_daemon *d);

/* systemd's notification protocol (sd_notify(3)) without libsystemd: sends state ("READY=1",
 * "WATCHDOG=1", "STOPPING=1", ...) as one datagram to the AF_UNIX socket named by NOTIFY_SOCKET
 * (a path, or an abstract name written with a leading '@'). 1: sent; 0: no NOTIFY_SOCKET (or
 * one of a kind we do not speak); -1: the send failed. */
int s4f_sd_notify(const char *state);
/* The watchdog interval systemd expects pings within (WATCHDOG_USEC, for this process when
 * WATCHDOG_PID names one), in milliseconds; 0 when there is none. */
int64_t s4f_sd_watchdog_ms(void);

#define S4F_DEFAULT_CONFIG "/etc/stream4flow/stream4flow.yml"

#endif
