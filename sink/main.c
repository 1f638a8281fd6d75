/* s4f-sink: indexes analysis results from Kafka into Elasticsearch (see sink.h for the
 * pipeline, docs/sink.md for the behaviour an operator sees). */
#include "daemon.h"
#include "log.h"
#include "sink.h"

#include <stdio.h>
#include <string.h>

static int validate(struct s4f_daemon *d, char *err, size_t errlen)
{
    const struct s4f_sink_conf *c = d->conf;
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
    s4f_daemon_exit_watchdog(&d, status);
out:
    s4f_sink_free(sink);
    s4f_daemon_finish(&d);
    return status;
}
