/* Stage one of a repartitioned analysis (rekey.c) losing its assignment while its repartition
 * writes are still queued, against librdkafka's mock cluster (issue 23 item 5). The revoke
 * purges those writes; their delivery reports arrive after the revoke let go of the batches,
 * which it freed before (ASan: heap-use-after-free in the delivery callback). Run under the
 * sanitizer build, it must stay clean; once the brokers are back, stage one reads the input
 * again, writes it and commits its end: nothing lost.
 *
 * Two mock brokers: the input and the group coordinator on broker 1, the repartition topic on
 * broker 2. Broker 2 down: the writes queue up. Then broker 1 down: the heartbeats fail and
 * the consumer declares its assignment lost after session.timeout.ms (6 s). */
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

static void lost_assignment_with_queued_writes(void **state)
{
    (void)state;
    char err[1024];
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    assert_non_null(mrk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 2);
    assert_non_null(mc);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, IN, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(mc, REP, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, IN, 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, REP, 0, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_coordinator_set(mc, "group", GROUP, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);

    /* NREC flows from local sources, each routed once (its source side). */
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(pc, "bootstrap.servers", boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    assert_non_null(prod);
    int64_t now = s4f_wall_ms(), t0 = now - now % 60000 - 5 * 60000;
    for (int i = 0; i < NREC; i++) {
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

    const struct s4f_analysis *a = s4f_analysis_find("host_stats");
    assert_non_null(a);
    assert_non_null(a->route);
    void *conf = calloc(1, a->conf_size);
    assert_non_null(conf);
    struct s4f_conf_doc *doc =
        s4f_conf_load_string(conf_yaml, strlen(conf_yaml), "test", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(s4f_conf_apply(doc, doc->root, "test", a->opts, conf, err, sizeof(err)), 0);
    s4f_conf_doc_free(doc);
    struct s4f_metrics *metrics = s4f_metrics_new("t", 0);
    char labels[128];
    s4f_metrics_labels(labels, sizeof(labels), "analysis", a->name, NULL);
    struct s4f_analysis_ctx actx = {a->name, metrics, labels};
    void *inst = a->init(conf, &actx, err, sizeof(err));
    if (!inst)
        fail_msg("init: %s", err);
    /* The shortest session the mock group's join (about 3 s) lets through. */
    char *kk[] = {"bootstrap.servers", "session.timeout.ms", "heartbeat.interval.ms"};
    char *kv[] = {(char *)boot, "6000", "500"};
    struct s4f_kvlist shared = {3, kk, kv}, none = {0};
    struct s4f_rekey_opts o = {
        .analysis = a,
        .inst = inst,
        .group = GROUP,
        .input_topic = IN,
        .repartition_topic = REP,
        .kafka_shared = &shared,
        .kafka_overrides = &none,
        .metrics = metrics,
        .labels = labels,
        .commit_interval_ms = 100,
        .common = conf,
    };

    /* The repartition topic's broker away: every write stays queued. */
    rd_kafka_mock_broker_set_down(mc, 2);
    struct s4f_rekey *r = s4f_rekey_new(&o, err, sizeof(err));
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

    a->destroy(inst);
    s4f_metrics_free(metrics);
    s4f_conf_release(a->opts, conf);
    free(conf);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lost_assignment_with_queued_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
