#include "daemon.h"

#include "log.h"
#include "s4f.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef S4F_VERSION
#define S4F_VERSION "dev"
#endif

const char *const s4f_log_level_choices[] = {"error", "warn", "info", "debug", NULL};

static const char *const known_sections[] = {"kafka", "elasticsearch", "collector", "worker",
                                             "alert", "sink",          "web",       NULL};

static volatile sig_atomic_t signal_count;
static volatile sig_atomic_t reload_count; /* SIGHUPs received (wraps; compared for change) */
static int64_t drain_deadline;
static int64_t grace_ms = 10000;
static atomic_bool stopping_told;     /* STOPPING=1 sent */
static int64_t watchdog_every_ms;     /* half of WATCHDOG_USEC; 0: no systemd watchdog */
static _Atomic int64_t watchdog_next; /* when the next WATCHDOG=1 is due */

static void on_signal(int sig)
{
    (void)sig;
    if (signal_count < 2)
        signal_count++;
}

static void on_reload(int sig)
{
    (void)sig;
    reload_count = (reload_count + 1) & 0x3fffffff;
}

unsigned s4f_daemon_reload_count(void)
{
    return (unsigned)reload_count;
}

void s4f_daemon_request_reload(void)
{
    on_reload(SIGHUP);
}

void s4f_daemon_request_stop(void)
{
    if (signal_count < 1)
        signal_count = 1;
}

int s4f_sd_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = name ? strlen(name) : 0;
    /* Other kinds (vsock:...) are for virtual machines; a daemon here has none to talk to. */
    if (n == 0 || (name[0] != '/' && name[0] != '@'))
        return 0;
    if (n >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, name, n);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: the name is exactly n bytes, no terminator */
    else
        salen++; /* a path: with its terminating NUL */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t len = strlen(state);
    ssize_t sent = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    close(fd);
    return sent == (ssize_t)len ? 1 : -1;
}

int64_t s4f_sd_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    if (!usec || !*usec)
        return 0;
    if (pid && *pid && strtoll(pid, &end, 10) != (long long)getpid())
        return 0; /* meant for another process (our parent's, say) */
    errno = 0;
    unsigned long long us = strtoull(usec, &end, 10);
    if (errno || *end || us == 0)
        return 0;
    return (int64_t)(us / 1000);
}

/* Sends WATCHDOG=1 when half the interval has passed; one thread wins when several call. */
static void watchdog_feed(void)
{
    if (!watchdog_every_ms)
        return;
    int64_t now = s4f_mono_ms();
    int64_t due = atomic_load_explicit(&watchdog_next, memory_order_relaxed);
    if (now >= due && atomic_compare_exchange_strong(&watchdog_next, &due, now + watchdog_every_ms))
        s4f_sd_notify("WATCHDOG=1");
}

int s4f_daemon_stopping(void)
{
    watchdog_feed();
    int n = signal_count;
    if (n == 0)
        return 0;
    if (!atomic_exchange(&stopping_told, true))
        s4f_sd_notify("STOPPING=1");
    if (n >= 2)
        return 2;
    int64_t now = s4f_mono_ms();
    if (!drain_deadline)
        drain_deadline = now + grace_ms;
    return now >= drain_deadline ? 2 : 1;
}

int64_t s4f_daemon_drain_left_ms(void)
{
    if (s4f_daemon_stopping() != 1)
        return 0;
    int64_t left = drain_deadline - s4f_mono_ms();
    return left > 0 ? left : 0;
}

static void usage(const struct s4f_daemon *d, FILE *out)
{
    fprintf(out,
            "Usage: s4f-%s [options]\n%s\n\n"
            "Options:\n"
            "  -c, --config FILE        configuration file (default %s)\n"
            "      --check-config [FILE] validate the configuration and exit 0 (valid) or 1\n"
            "  -l, --log-level LEVEL    error, warn, info or debug (overrides the file)\n"
            "      --metrics-listen ADDR  host:port of /metrics and /health (overrides the file)\n"
            "  -i, --instance NAME      instance name shown in logs and metrics\n",
            d->name, d->summary, S4F_DEFAULT_CONFIG);
    if (d->takes_analysis)
        fprintf(out, "  -a, --analysis NAME      run this analysis (a key of worker.analyses)\n");
    for (const struct s4f_daemon_arg *x = d->args; x && x->name; x++) {
        char opt[64];
        snprintf(opt, sizeof(opt), "%s %s", x->name, x->value_name);
        fprintf(out, "      %-20s %s\n", opt, x->help);
    }
    fprintf(out, "      --config-reference   print the option reference as Markdown and exit\n"
                 "      --config-example     print a commented configuration section and exit\n"
                 "  -h, --help               this text\n"
                 "  -V, --version            version\n\n");
    s4f_conf_print_help(out, d->name, d->opts);
    if (d->uses_es) {
        fputc('\n', out);
        s4f_conf_print_help(out, "elasticsearch", s4f_es_opts);
    }
    fprintf(out,
            "\nThe shared 'kafka:' section passes librdkafka properties through untouched;\n"
            "a 'kafka:' map inside the '%s:' section overrides them for this daemon.\n",
            d->name);
    if (d->print_extra_help)
        d->print_extra_help(out);
}

static const char *arg_value(int argc, char **argv, int *i, const char *opt)
{
    const char *a = argv[*i];
    size_t l = strlen(opt);
    if (strncmp(a, opt, l) == 0 && a[l] == '=')
        return a + l + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "s4f: option %s needs a value\n", opt);
        return NULL;
    }
    return argv[++*i];
}

/* Where the next error message goes: after the ones collected so far, on a new line. The length
 * is returned through left; call it once per message, before the length is read. */
static char *err_tail(char *err, size_t cap, size_t *left)
{
    size_t used = strlen(err);
    if (used && used + 2 < cap) {
        err[used++] = '\n';
        err[used] = '\0';
    }
    *left = cap - used;
    return err + used;
}

static int is_opt(const char *a, const char *s, const char *l)
{
    size_t ll = strlen(l);
    return (s && strcmp(a, s) == 0) || strcmp(a, l) == 0 ||
           (strncmp(a, l, ll) == 0 && a[ll] == '=');
}

int s4f_daemon_init(struct s4f_daemon *d, int argc, char **argv)
{
    const char *log_level = NULL, *metrics_listen = NULL;
    int check = 0, explicit_config = 0;
    char err[8192];

    d->config_path = S4F_DEFAULT_CONFIG;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_opt(a, "-h", "--help")) {
            usage(d, stdout);
            return 1;
        } else if (is_opt(a, "-V", "--version")) {
            printf("s4f-%s %s\n", d->name, S4F_VERSION);
            return 1;
        } else if (is_opt(a, "-c", "--config")) {
            if (!(d->config_path = arg_value(argc, argv, &i, "--config")))
                return -1;
            explicit_config = 1;
        } else if (strcmp(a, "--check-config") == 0) {
            check = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                d->config_path = argv[++i];
                explicit_config = 1;
            }
        } else if (strncmp(a, "--check-config=", 15) == 0) {
            check = 1;
            d->config_path = a + 15;
            explicit_config = 1;
        } else if (is_opt(a, "-l", "--log-level")) {
            if (!(log_level = arg_value(argc, argv, &i, "--log-level")))
                return -1;
            if (s4f_log_level_parse(log_level) < 0) {
                fprintf(stderr, "s4f-%s: bad log level '%s'\n", d->name, log_level);
                return -1;
            }
        } else if (is_opt(a, NULL, "--metrics-listen")) {
            if (!(metrics_listen = arg_value(argc, argv, &i, "--metrics-listen")))
                return -1;
        } else if (is_opt(a, "-i", "--instance")) {
            if (!(d->instance = arg_value(argc, argv, &i, "--instance")))
                return -1;
        } else if (d->takes_analysis && is_opt(a, "-a", "--analysis")) {
            if (!(d->analysis = arg_value(argc, argv, &i, "--analysis")))
                return -1;
        } else if (strcmp(a, "--config-reference") == 0) {
            s4f_conf_print_markdown(stdout, d->name, d->opts);
            if (d->uses_es) {
                printf("\n");
                s4f_conf_print_markdown(stdout, "elasticsearch", s4f_es_opts);
            }
            return 1;
        } else if (strcmp(a, "--config-example") == 0) {
            /* The daemon's own section only: the shared sections are written once by
             * provisioning/gen_config.py for the whole file. */
            s4f_conf_print_yaml(stdout, d->name, d->opts, 0);
            return 1;
        } else {
            const struct s4f_daemon_arg *x = d->args;
            while (x && x->name && !is_opt(a, NULL, x->name))
                x++;
            if (!x || !x->name) {
                fprintf(stderr, "s4f-%s: unknown argument '%s' (try --help)\n", d->name, a);
                return -1;
            }
            if (!(*x->value = arg_value(argc, argv, &i, x->name)))
                return -1;
        }
    }

    if (!explicit_config && access(d->config_path, F_OK) != 0) {
        /* No file at the default place: run on built-in defaults, say so. */
        d->doc = s4f_conf_load_string("", 0, "(built-in defaults)", err, sizeof(err));
    } else {
        d->doc = s4f_conf_load(d->config_path, err, sizeof(err));
    }
    if (!d->doc) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    int bad = 0;
    size_t left = 0;
    err[0] = '\0';
    if (s4f_conf_check_keys(d->doc, d->doc->root, "", known_sections, err, sizeof(err)) != 0)
        bad = 1;
    d->section = s4f_node_get(d->doc->root, d->name);
    char *tail = err_tail(err, sizeof(err), &left);
    if (s4f_conf_get_map(d->doc, s4f_node_get(d->doc->root, "kafka"), "kafka", &d->kafka, tail,
                         left) != 0)
        bad = 1;
    tail = err_tail(err, sizeof(err), &left);
    if (s4f_conf_apply(d->doc, d->section, d->name, d->opts, d->conf, tail, left) != 0)
        bad = 1;
    tail = err_tail(err, sizeof(err), &left);
    if (d->uses_es && s4f_conf_apply(d->doc, s4f_node_get(d->doc->root, "elasticsearch"),
                                     "elasticsearch", s4f_es_opts, &d->es, tail, left) != 0)
        bad = 1;
    tail = err_tail(err, sizeof(err), &left);
    if (!bad && d->uses_es && s4f_es_conf_validate(&d->es, tail, left) != 0)
        bad = 1;
    tail = err_tail(err, sizeof(err), &left);
    if (!bad && d->validate && d->validate(d, tail, left) != 0)
        bad = 1;
    if (bad) {
        /* Sections that had nothing to say left empty lines behind: skip them. */
        for (char *line = strtok(err, "\n"); line; line = strtok(NULL, "\n"))
            fprintf(stderr, "%s\n", line);
        fprintf(stderr, "%s: configuration is not valid\n", d->doc->file);
        return -1;
    }
    struct s4f_daemon_common *common = d->conf;
    if (log_level)
        common->log_level = s4f_log_level_parse(log_level);
    if (metrics_listen) {
        char *dup = strdup(metrics_listen);
        if (!dup)
            return -1;
        free(common->metrics_listen);
        common->metrics_listen = dup;
    }
    grace_ms = common->shutdown_grace_ms;
    if (check) {
        printf("%s: configuration of s4f-%s is valid\n", d->doc->file, d->name);
        return 1;
    }
    s4f_log_init(d->name, d->instance ? d->instance : d->analysis,
                 (enum s4f_log_level)common->log_level);
    if (!explicit_config && strcmp(d->doc->file, "(built-in defaults)") == 0)
        s4f_warn("no configuration file at %s: running on built-in defaults", S4F_DEFAULT_CONFIG);
    return 0;
}

int s4f_daemon_start(struct s4f_daemon *d)
{
    struct sigaction sa;
    char err[256], prefix[64];

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* SIGHUP: the one reload request (systemctl reload: ExecReload sends it). Daemons that
     * have nothing to reload ignore the count. */
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, NULL);

    snprintf(prefix, sizeof(prefix), "s4f_%s", d->name);
    d->metrics = s4f_metrics_new(prefix, 0);
    if (!d->metrics) {
        s4f_error("out of memory");
        return -1;
    }
    struct s4f_daemon_common *common = d->conf;
    d->http = s4f_metrics_serve(d->metrics, common->metrics_listen, err, sizeof(err));
    if (!d->http) {
        s4f_error("metrics endpoint: %s", err);
        return -1;
    }
    s4f_info("s4f-%s %s started; metrics on port %d (/metrics, /health)", d->name, S4F_VERSION,
             s4f_http_port(d->http));
    int64_t wd = s4f_sd_watchdog_ms();
    watchdog_every_ms = wd / 2;
    atomic_store(&watchdog_next, s4f_mono_ms() + watchdog_every_ms);
    if (s4f_sd_notify("READY=1") < 0)
        s4f_warn("cannot notify systemd (NOTIFY_SOCKET): %s", strerror(errno));
    else if (wd)
        s4f_info("systemd watchdog: %lld ms", (long long)wd);
    return 0;
}

static int64_t exit_watchdog_ms;
static int exit_watchdog_status;

static void *exit_watchdog(void *arg)
{
    (void)arg;
    struct timespec ts = {(time_t)(exit_watchdog_ms / 1000),
                          (long)(exit_watchdog_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    s4f_error("shutdown still blocked after %lld ms (Kafka client close): exiting now",
              (long long)exit_watchdog_ms);
    _exit(exit_watchdog_status);
}

void s4f_daemon_exit_watchdog(const struct s4f_daemon *d, int status)
{
    const struct s4f_daemon_common *common = d->conf;
    pthread_t t;
    exit_watchdog_ms = common->shutdown_grace_ms + 10000;
    exit_watchdog_status = status;
    if (pthread_create(&t, NULL, exit_watchdog, NULL) == 0)
        pthread_detach(t);
}

void s4f_daemon_finish(struct s4f_daemon *d)
{
    s4f_http_stop(d->http);
    d->http = NULL;
    s4f_metrics_free(d->metrics);
    d->metrics = NULL;
    if (d->opts && d->conf)
        s4f_conf_release(d->opts, d->conf);
    if (d->uses_es)
        s4f_conf_release(s4f_es_opts, &d->es);
    s4f_kvlist_free(&d->kafka);
    s4f_conf_doc_free(d->doc);
    d->doc = NULL;
}
