/* Stage one of a repartitioned analysis (rekey.c) against librdkafka's mock cluster, no broker
 * needed (issue 23):
 *
 * - losing its assignment while its repartition writes are still queued (item 5). The revoke
 *   purges those writes; their delivery reports arrive after the revoke let go of the batches,
 *   which it freed before (ASan: heap-use-after-free in the delivery callback). Run under the
 *   sanitizer build, it must stay clean; once the brokers are back, stage one reads the input
 *   again, writes it and commits its end: nothing lost. Two mock brokers: the input and the
 *   group coordinator on broker 1, the repartition topic on broker 2. Broker 2 down: the writes
 *   queue up. Then broker 1 down: the heartbeats fail and the consumer declares its assignment
 *   lost after session.timeout.ms (6 s).
 * - a repartition write refused for good (item 3): stage one commits the acknowledged prefix
 *   at once (not at its next commit interval: it committed nothing for 36 s), rewinds to it and
 *   writes the rest again. */
#include "daemon.h"
#include "registry.h"
#include "rekey.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define IN    "in"
#define REP   "rep"
#define GROUP "t.host_stats.rekey"
#define NREC  200
/* Kafka protocol API key of Produce (librdkafka's name is in a header it does not install). */
#define API_PRODUCE 0
/* Everything must happen within this (the mock group's join takes a few seconds). */
#define DEADLINE_MS 60000

static const char *const conf_yaml = "input_topic: " IN "\n"
                                     "repartition_topic: " REP "\n"
                                     "changelog_topic: ''\n"
                                     "local_networks: [10.0.0.0/8]\n";

static int64_t counter(struct s4f_metrics *m, const char *name, const char *labels)
{
    return s4f_metric_get(s4f_metrics_counter(m, name, "", labels));
}

/* The offset the stage committed for the input, -1 when none (or unreadable). */
static int64_t committed(const char *boot)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "group.id", GROUP, err, sizeof(err)), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, IN, 0);
    int64_t off = -1;
    if (rd_kafka_committed(rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && !l->elems[0].err)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

struct fixture {
    rd_kafka_t *mrk;
    rd_kafka_mock_cluster_t *mc;
    const char *boot;
    const struct s4f_analysis *a;
    void *conf, *inst;
    struct s4f_metrics *metrics;
    char labels[128];
    char *kk[3], *kv[3];
    struct s4f_kvlist shared, none;
    struct s4f_rekey_opts o;
};

/* A mock cluster of `brokers` (topics IN and REP of one partition, the group's coordinator
 * broker 1) and host_stats' stage one options committing every commit_ms. */
static void setup(struct fixture *f, int brokers, int64_t commit_ms)
{
    char err[1024];
    memset(f, 0, sizeof(*f));
    f->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    assert_non_null(f->mrk);
    f->mc = rd_kafka_mock_cluster_new(f->mrk, brokers);
    assert_non_null(f->mc);
    f->boot = rd_kafka_mock_cluster_bootstraps(f->mc);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, IN, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, REP, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_coordinator_set(f->mc, "group", GROUP, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    f->a = s4f_analysis_find("host_stats");
    assert_non_null(f->a);
    assert_non_null(f->a->route);
    f->conf = calloc(1, f->a->conf_size);
    assert_non_null(f->conf);
    struct s4f_conf_doc *doc =
        s4f_conf_load_string(conf_yaml, strlen(conf_yaml), "test", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(s4f_conf_apply(doc, doc->root, "test", f->a->opts, f->conf, err, sizeof(err)),
                     0);
    s4f_conf_doc_free(doc);
    f->metrics = s4f_metrics_new("t", 0);
    s4f_metrics_labels(f->labels, sizeof(f->labels), "analysis", f->a->name, NULL);
    struct s4f_analysis_ctx actx = {f->a->name, f->metrics, f->labels};
    f->inst = f->a->init(f->conf, &actx, err, sizeof(err));
    if (!f->inst)
        fail_msg("init: %s", err);
    /* The shortest session the mock group's join (about 3 s) lets through. */
    f->kk[0] = "bootstrap.servers";
    f->kv[0] = (char *)f->boot;
    f->kk[1] = "session.timeout.ms";
    f->kv[1] = "6000";
    f->kk[2] = "heartbeat.interval.ms";
    f->kv[2] = "500";
    f->shared = (struct s4f_kvlist){3, f->kk, f->kv};
    f->o = (struct s4f_rekey_opts){
        .analysis = f->a,
        .inst = f->inst,
        .group = GROUP,
        .input_topic = IN,
        .repartition_topic = REP,
        .kafka_shared = &f->shared,
        .kafka_overrides = &f->none,
        .metrics = f->metrics,
        .labels = f->labels,
        .commit_interval_ms = commit_ms,
        .common = f->conf,
    };
}

static void teardown(struct fixture *f)
{
    f->a->destroy(f->inst);
    s4f_metrics_free(f->metrics);
    s4f_conf_release(f->a->opts, f->conf);
    free(f->conf);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->mrk);
}

/* n flows from local sources (each routed once, its source side) to IN, numbered from. */
static void produce_flows(const struct fixture *f, int from, int n)
{
    char err[512];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(pc, "bootstrap.servers", f->boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    assert_non_null(prod);
    int64_t now = s4f_wall_ms(), t0 = now - now % 60000 - 5 * 60000;
    for (int i = from; i < from + n; i++) {
        char doc[512];
        int len = snprintf(doc, sizeof(doc),
                           "{\"ipfix.sourceIPv4Address\":\"10.0.%d.%d\","
                           "\"ipfix.destinationIPv4Address\":\"192.0.2.1\","
                           "\"ipfix.sourceTransportPort\":40000,"
                           "\"ipfix.destinationTransportPort\":443,"
                           "\"ipfix.protocolIdentifier\":6,\"ipfix.packetDeltaCount\":2,"
                           "\"ipfix.octetDeltaCount\":100,\"ipfix.flowStartMilliseconds\":%lld,"
                           "\"ipfix.flowEndMilliseconds\":%lld}",
                           i / 100, i % 100 + 1, (long long)(t0 + i * 100),
                           (long long)(t0 + i * 100 + 50));
        assert_int_equal(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(IN), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(doc, (size_t)len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(prod, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(prod);
}

static void lost_assignment_with_queued_writes(void **state)
{
    (void)state;
    char err[1024];
    struct fixture fx, *f = &fx;
    setup(f, 2, 100);
    assert_int_equal(rd_kafka_mock_partition_set_leader(f->mc, IN, 0, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_partition_set_leader(f->mc, REP, 0, 2),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    produce_flows(f, 0, NREC);
    struct s4f_metrics *metrics = f->metrics;
    const char *labels = f->labels, *boot = f->boot;
    rd_kafka_mock_cluster_t *mc = f->mc;

    /* The repartition topic's broker away: every write stays queued. */
    rd_kafka_mock_broker_set_down(mc, 2);
    struct s4f_rekey *r = s4f_rekey_new(&f->o, err, sizeof(err));
    if (!r)
        fail_msg("rekey: %s", err);
    size_t read = 0;
    int64_t end = s4f_mono_ms() + DEADLINE_MS;
    while (read < NREC && s4f_mono_ms() < end)
        read += s4f_rekey_poll(r, 100);
    assert_int_equal(read, NREC);
    int64_t queued = counter(metrics, "kafka_produced_total", NULL);
    assert_true(queued > 0);
    assert_int_equal(counter(metrics, "kafka_delivered_total", NULL), 0);

    /* The coordinator away too: the assignment is lost (the second rebalance), and the
     * revoke purges the queued writes. */
    rd_kafka_mock_broker_set_down(mc, 1);
    while (counter(metrics, "kafka_rebalances_total", NULL) < 2 && s4f_mono_ms() < end)
        s4f_rekey_poll(r, 100);
    assert_int_equal(counter(metrics, "kafka_rebalances_total", NULL), 2);
    int64_t purged = counter(metrics, "kafka_delivery_failed_total", NULL);
    assert_int_equal(counter(metrics, "kafka_delivered_total", NULL), 0);

    /* Brokers back (the writes before the revoke were delivered now, had they stayed
     * queued): the input is read again from the start (nothing was committed), written
     * and committed to its end. */
    rd_kafka_mock_broker_set_up(mc, 1);
    rd_kafka_mock_broker_set_up(mc, 2);
    int64_t c = -1;
    while (s4f_mono_ms() < end) {
        s4f_rekey_poll(r, 100);
        if (counter(metrics, "repartition_commits_total", labels) > 0 &&
            (c = committed(boot)) == NREC)
            break;
    }
    print_message("%lld write(s) queued then purged (%lld failed reports), input committed at "
                  "%lld of %d, %lld record(s) written\n",
                  (long long)queued, (long long)purged, (long long)c, NREC,
                  (long long)counter(metrics, "repartition_written_total", labels));
    assert_int_equal(c, NREC);
    /* Purged at the revoke: a write left queued would have been delivered now, its report
     * finding its batch freed. */
    assert_true(purged >= queued);
    assert_true(counter(metrics, "repartition_written_total", labels) >= 2 * NREC);
    s4f_rekey_drain(r, 5000);
    s4f_rekey_free(r);

    teardown(f);
}

/* Polls stage one until counter `name` reaches want (or the deadline); its value. */
static int64_t poll_until(struct fixture *f, struct s4f_rekey *r, const char *name,
                          const char *labels, int64_t want, int64_t end)
{
    while (counter(f->metrics, name, labels) < want && s4f_mono_ms() < end)
        s4f_rekey_poll(r, 100);
    return counter(f->metrics, name, labels);
}

static void failed_write_commits_the_safe_prefix(void **state)
{
    (void)state;
    char err[1024];
    struct fixture fx, *f = &fx;
    /* No commit from the interval during the test: only the failure path may commit. */
    setup(f, 1, 600000);
    struct s4f_rekey *r = s4f_rekey_new(&f->o, err, sizeof(err));
    if (!r)
        fail_msg("rekey: %s", err);
    int64_t end = s4f_mono_ms() + DEADLINE_MS;

    /* The first half written and acknowledged, not committed yet. */
    produce_flows(f, 0, NREC / 2);
    /* (records and watermark marks) */
    assert_true(poll_until(f, r, "repartition_written_total", f->labels, NREC / 2, end) >=
                NREC / 2);
    while (counter(f->metrics, "kafka_delivered_total", NULL) <
               counter(f->metrics, "kafka_produced_total", NULL) &&
           s4f_mono_ms() < end)
        s4f_rekey_poll(r, 100);
    assert_int_equal(counter(f->metrics, "kafka_delivery_failed_total", NULL), 0);
    assert_int_equal(committed(f->boot), -1001); /* RD_KAFKA_OFFSET_INVALID: nothing yet */

    /* The second half in the input (stage one acts only when polled), then its next write
     * refused for good (the broker's answer to the next produce request). */
    produce_flows(f, NREC / 2, NREC / 2);
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    assert_int_equal(poll_until(f, r, "repartition_replays_total", f->labels, 1, end), 1);
    /* At once, the acknowledged prefix is committed: the first half. */
    int64_t at_failure = committed(f->boot);
    int64_t failed = counter(f->metrics, "kafka_delivery_failed_total", NULL);

    /* Rewound to it: the second half read and written again, then committed at the drain. */
    int64_t written =
        poll_until(f, r, "repartition_written_total", f->labels,
                   counter(f->metrics, "repartition_written_total", f->labels) + NREC / 2, end);
    while (counter(f->metrics, "kafka_delivered_total", NULL) +
                   counter(f->metrics, "kafka_delivery_failed_total", NULL) <
               counter(f->metrics, "kafka_produced_total", NULL) &&
           s4f_mono_ms() < end)
        s4f_rekey_poll(r, 100);
    s4f_rekey_drain(r, 5000);
    int64_t at_end = committed(f->boot);
    print_message("write failed (%lld report(s)), input committed at %lld at once, %lld at the "
                  "end of %d, %lld record(s) written, %lld rewind(s)\n",
                  (long long)failed, (long long)at_failure, (long long)at_end, NREC,
                  (long long)written,
                  (long long)counter(f->metrics, "repartition_replays_total", f->labels));
    assert_true(failed >= 1);
    assert_int_equal(at_failure, NREC / 2);
    assert_int_equal(at_end, NREC);
    assert_int_equal(counter(f->metrics, "repartition_replays_total", f->labels), 1);
    s4f_rekey_free(r);
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lost_assignment_with_queued_writes),
        cmocka_unit_test(failed_write_commits_the_safe_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
