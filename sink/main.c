/* s4f-sink: indexes analysis results from Kafka into Elasticsearch (see sink.h for the
 * pipeline, docs/sink.md for the behaviour an operator sees). */
#include "daemon.h"
#include "log.h"
#include "sink.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t watchdog_ms;
static int watchdog_status;

/* Closing librdkafka handles can block for good (librdkafka 2.0 waits forever on a broker thread
 * when a subscribed topic was deleted under it). Everything that matters (stored documents,
 * committed offsets) is done by then, so after the grace the process leaves without the rest
 * of the clean-up rather than hang a service manager's stop. */
static void *watchdog(void *arg)
{
    (void)arg;
    struct timespec ts = {(time_t)(watchdog_ms / 1000), (long)(watchdog_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    s4f_error("shutdown still blocked after %lld ms (Kafka client close): exiting now",
              (long long)watchdog_ms);
    _exit(watchdog_status);
}

static void start_watchdog(const struct s4f_sink_conf *conf, int status)
{
    pthread_t t;
    watchdog_ms = conf->common.shutdown_grace_ms + 10000;
    watchdog_status = status;
    if (pthread_create(&t, NULL, watchdog, NULL) == 0)
        pthread_detach(t);
}

/* Index names must be lowercase and free of the characters Elasticsearch refuses; the prefix
 * also names templates, so the same rule keeps both valid. */
static int prefix_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 100 || p[0] == '-' || p[0] == '_' || p[0] == '.')
        return 0;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
              *p == '.'))
            return 0;
    return 1;
}

static int validate(struct s4f_daemon *d, char *err, size_t errlen)
{
    const struct s4f_sink_conf *c = d->conf;
    if (!d->es.index_prefix || !prefix_ok(d->es.index_prefix)) {
        snprintf(err, errlen,
                 "elasticsearch.index_prefix: want 1-100 characters of [a-z0-9_.-], not starting "
                 "with -, _ or .");
        return -1;
    }
    if (c->topics.n == 0 && !c->index_flows) {
        snprintf(err, errlen, "sink.topics: at least one topic is needed");
        return -1;
    }
    if (c->topics.n > 64) {
        snprintf(err, errlen, "sink.topics: at most 64 topics");
        return -1;
    }
    if (c->retry_initial_ms > c->retry_max_ms) {
        snprintf(err, errlen, "sink.retry_initial must not exceed sink.retry_max");
        return -1;
    }
    if (c->index_flows && (!c->flows_topic || !*c->flows_topic)) {
        snprintf(err, errlen, "sink.flows_topic must be set when sink.index_flows is true");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct s4f_sink_conf conf;
    struct s4f_sink *sink = NULL;
    int status = 1;
    memset(&conf, 0, sizeof(conf));
    struct s4f_daemon d = {
        .name = "sink",
        .summary = "Indexes analysis results from Kafka into Elasticsearch.",
        .opts = s4f_sink_opts,
        .conf = &conf,
        .uses_es = true,
        .validate = validate,
    };
    int rc = s4f_daemon_init(&d, argc, argv);
    if (rc != 0) {
        status = rc < 0 ? 1 : 0;
        goto out;
    }
    if (s4f_daemon_start(&d) != 0)
        goto out;
    if (!(sink = s4f_sink_new(&d, &conf)))
        goto out;
    status = s4f_sink_run(sink) == 0 ? 0 : 1;
    s4f_info("stopping");
    start_watchdog(&conf, status);
out:
    s4f_sink_free(sink);
    s4f_daemon_finish(&d);
    return status;
}
