/* The engine's take-over of a partition (issue 23 items 2 and 9) against librdkafka's mock
 * cluster, no broker needed: when reading the previous owner's committed state fails, or
 * committing the new epoch fails, the partition is set aside and taken over again from the same
 * offset (assignment_retries_total), never resumed without the horizon; once taken over, the
 * windows the previous owner made final are skipped, the others emitted exactly, each result
 * with the header s4f-epoch one above the previous owner's epoch.
 *
 * The errors are injected with rd_kafka_mock_push_request_errors(): the consumer group's first
 * OffsetFetch (librdkafka's own, at assignment) passes, the engine's next one (restore()) fails;
 * its first OffsetCommit (the epoch) fails once. */
#include "daemon.h"
#include "engine.h"
#include "registry.h"

#include <librdkafka/rdkafka_mock.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define IN     "in"
#define OUT    "out"
#define WIN_MS 10000
/* Everything the engine must finish within (the mock group's join takes a few seconds). */
#define DEADLINE_MS 60000
/* Kafka protocol API keys (librdkafka's own names are in a header it does not install). */
#define API_OFFSET_COMMIT 8
#define API_OFFSET_FETCH  9

static const char *const conf_yaml = "input_topic: " IN "\n"
                                     "output_topic: " OUT "\n"
                                     "window: 10s\n"
                                     "allowed_lateness: 1s\n"
                                     "idle_timeout: 30s\n"
                                     "watermark_quorum: 1\n";

static void produce_flows(rd_kafka_t *p, int n, int64_t end_from)
{
    for (int i = 0; i < n; i++) {
        char doc[512];
        int64_t end = end_from + i * 100;
        int len = snprintf(doc, sizeof(doc),
                           "{\"@type\":\"ipfix.entry\",\"ipfix.sourceIPv4Address\":\"10.0.0.%d\","
                           "\"ipfix.destinationIPv4Address\":\"192.0.2.1\","
                           "\"ipfix.sourceTransportPort\":40000,"
                           "\"ipfix.destinationTransportPort\":443,"
                           "\"ipfix.protocolIdentifier\":6,\"ipfix.tcpControlBits\":24,"
                           "\"ipfix.packetDeltaCount\":2,\"ipfix.octetDeltaCount\":100,"
                           "\"ipfix.flowStartMilliseconds\":%lld,"
                           "\"ipfix.flowEndMilliseconds\":%lld}",
                           i + 1, (long long)(end - 50), (long long)end);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(IN), RD_KAFKA_V_PARTITION(0),
                                           RD_KAFKA_V_VALUE(doc, (size_t)len),
                                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* The previous owner's commit: offset 0, windows up to `horizon` final, its epoch. */
static void commit_previous_owner(const char *boot, int64_t horizon, const char *epoch)
{
    char err[512], meta[64];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "group.id", "t.protocols_statistics", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_add(l, IN, 0);
    t->offset = 0;
    snprintf(meta, sizeof(meta), "s4f1 h=%lld e=%s", (long long)horizon, epoch);
    t->metadata = strdup(meta);
    t->metadata_size = strlen(meta);
    assert_int_equal(rd_kafka_commit(rk, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

struct got {
    char id[256];
    char epoch[16];
    long long flows;
};

/* Every result in OUT up to its end (the last write per id), at most max ids. */
static size_t read_results(const char *boot, struct got *g, size_t max)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers", boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    /* assign() needs a group (nothing is committed). */
    assert_int_equal(rd_kafka_conf_set(c, "group.id", "reader", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, OUT, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    bool eof = false;
    for (int64_t end = s4f_mono_ms() + 10000; !eof && s4f_mono_ms() < end;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err) {
            struct got one = {0};
            const void *v = NULL;
            size_t vl = 0;
            rd_kafka_headers_t *h = NULL;
            if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_header_get_last(h, S4F_EPOCH_HEADER, &v, &vl) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                vl < sizeof(one.epoch))
                memcpy(one.epoch, v, vl);
            snprintf(one.id, sizeof(one.id), "%.*s", (int)m->key_len, (const char *)m->key);
            const char *f = memmem(m->payload, m->len, "\"flows\":", 8);
            one.flows = f ? strtoll(f + 8, NULL, 10) : -1;
            size_t i = 0;
            while (i < n && strcmp(g[i].id, one.id) != 0)
                i++;
            if (i < max) {
                g[i] = one;
                n += i == n;
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

static const struct got *find(const struct got *g, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(g[i].id, id) == 0)
            return &g[i];
    return NULL;
}

static void *run(void *arg)
{
    s4f_engine_run(arg);
    return NULL;
}

static int64_t counter(struct s4f_metrics *m, const char *name)
{
    char labels[128];
    s4f_metrics_labels(labels, sizeof(labels), "analysis", "protocols_statistics", NULL);
    return s4f_metric_get(s4f_metrics_counter(m, name, "", labels));
}

/* One take-over of partition 0 after a previous owner of epoch prev_epoch; inject: its first
 * read of the committed state and its first epoch commit fail. */
static void takeover(const char *prev_epoch, const char *want_epoch, bool inject)
{
    char err[1024];
    rd_kafka_conf_t *mc_conf = rd_kafka_conf_new();
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mc_conf, err, sizeof(err));
    assert_non_null(mrk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    assert_non_null(mc);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, IN, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_mock_topic_create(mc, OUT, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);

    /* Window-aligned, minutes in the past: W0 final for the previous owner, W1 and W2 not. */
    int64_t now = s4f_wall_ms();
    int64_t t0 = now - now % 60000 - 5 * 60000;
    commit_previous_owner(boot, t0 + WIN_MS, prev_epoch);
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(pc, "bootstrap.servers", boot, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
    assert_non_null(prod);
    produce_flows(prod, 5, t0 + 1000);              /* W0: replayed, skipped */
    produce_flows(prod, 3, t0 + WIN_MS + 1000);     /* W1 */
    produce_flows(prod, 2, t0 + 2 * WIN_MS + 5000); /* W2: its watermark closes W1 */

    if (inject) {
        /* librdkafka's own OffsetFetch at assignment passes, the engine's first read fails; the
         * engine's first commit (the new epoch) fails once too. */
        rd_kafka_mock_push_request_errors(mc, API_OFFSET_FETCH, 2, RD_KAFKA_RESP_ERR_NO_ERROR,
                                          RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
        rd_kafka_mock_push_request_errors(mc, API_OFFSET_COMMIT, 1,
                                          RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
    }

    const struct s4f_analysis *a = s4f_analysis_find("protocols_statistics");
    assert_non_null(a);
    void *conf = calloc(1, a->conf_size);
    assert_non_null(conf);
    struct s4f_conf_doc *doc =
        s4f_conf_load_string(conf_yaml, strlen(conf_yaml), "test", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(s4f_conf_apply(doc, doc->root, "test", a->opts, conf, err, sizeof(err)), 0);
    s4f_conf_doc_free(doc);
    char *kk[] = {"bootstrap.servers"}, *kv[] = {(char *)boot};
    struct s4f_kvlist shared = {1, kk, kv}, none = {0};
    struct s4f_metrics *metrics = s4f_metrics_new("t", 0);
    struct s4f_engine_opts o = {
        .analysis = a,
        .conf = conf,
        .group_prefix = "t",
        .default_input_topic = IN,
        .kafka_shared = &shared,
        .kafka_overrides = &none,
        .commit_interval_ms = 100,
        .metrics = metrics,
    };
    struct s4f_engine *e = s4f_engine_new(&o, err, sizeof(err));
    if (!e)
        fail_msg("engine: %s", err);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run, e), 0);

    /* W1 is emitted once W2's flows move the watermark past its end. */
    char w0[128], w1[128], w2[128];
    snprintf(w0, sizeof(w0), "protocols_statistics:%lld+%d:p0:tcp", (long long)t0, WIN_MS);
    snprintf(w1, sizeof(w1), "protocols_statistics:%lld+%d:p0:tcp", (long long)(t0 + WIN_MS),
             WIN_MS);
    snprintf(w2, sizeof(w2), "protocols_statistics:%lld+%d:p0:tcp", (long long)(t0 + 2 * WIN_MS),
             WIN_MS);
    struct got g[16];
    size_t n = 0;
    for (int64_t end = s4f_mono_ms() + DEADLINE_MS; s4f_mono_ms() < end;) {
        n = read_results(boot, g, 16);
        if (find(g, n, w1))
            break;
    }
    s4f_daemon_request_stop(); /* the drain emits W2 */
    pthread_join(th, NULL);
    n = read_results(boot, g, 16);

    int64_t retries = counter(metrics, "assignment_retries_total");
    int64_t replayed = counter(metrics, "replayed_skipped_total");
    print_message("assignment retries %lld, replayed flows skipped %lld, %zu result(s)\n",
                  (long long)retries, (long long)replayed, n);
    /* Once for the unreadable committed state, once for the refused epoch commit. */
    assert_int_equal(retries, inject ? 2 : 0);
    /* The horizon held: W0's flows skipped as replayed, W0 never emitted again. */
    assert_int_equal(replayed, 5);
    assert_int_equal(counter(metrics, "late_dropped_total"), 0); /* replays are not "late" */
    assert_null(find(g, n, w0));
    const struct got *r1 = find(g, n, w1), *r2 = find(g, n, w2);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_int_equal(r1->flows, 3);
    assert_int_equal(r2->flows, 2);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(g[i].epoch, want_epoch);

    s4f_engine_free(e);
    s4f_metrics_free(metrics);
    s4f_conf_release(a->opts, conf);
    free(conf);
    rd_kafka_destroy(prod);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

static void takeover_retries_and_keeps_the_horizon(void **state)
{
    (void)state;
    takeover("3", "4", true); /* one above the previous owner's */
}

/* An epoch at (or, forged, beyond) the largest the sink takes: the new owner's stays there
 * (no overflow, no result the sink would refuse). */
static void takeover_at_the_top_epoch_stays_there(void **state)
{
    (void)state;
    takeover("99999999999999999999", "2147483647", false);
}

/* s4f_daemon_request_stop() holds for the rest of a process: each case runs in a child of its
 * own (forked before any thread exists). */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takeover_retries_and_keeps_the_horizon),
        cmocka_unit_test(takeover_at_the_top_epoch_stays_there),
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            cmocka_set_test_filter(tests[i].name);
            _exit(cmocka_run_group_tests(tests, NULL, NULL) == 0 ? 0 : 1);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    return failed;
}
