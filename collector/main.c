/* s4f-collector: placeholder main loop until the daemon's real work lands: it loads its
 * configuration, logs, serves /metrics and /health, and drains on SIGTERM. */
#include "daemon.h"
#include "log.h"

#include <stddef.h>
#include <time.h>

struct collector_conf {
    struct s4f_daemon_common common;
};

static const struct s4f_opt collector_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct collector_conf, "127.0.0.1:9101"),
    S4F_OPT_END,
};

int main(int argc, char **argv)
{
    struct collector_conf conf = {0};
    struct s4f_daemon d = {
        .name = "collector",
        .summary = "Receives NetFlow v5/v9 and IPFIX on UDP/4739 and publishes flat JSON flow records to Kafka.",
        .opts = collector_opts,
        .conf = &conf,
        .uses_es = false,
    };
    int rc = s4f_daemon_init(&d, argc, argv);
    if (rc != 0) {
        s4f_daemon_finish(&d);
        return rc < 0 ? 1 : 0;
    }
    if (s4f_daemon_start(&d) != 0) {
        s4f_daemon_finish(&d);
        return 1;
    }
    while (!s4f_daemon_stopping()) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    s4f_info("stopping");
    s4f_daemon_finish(&d);
    return 0;
}
