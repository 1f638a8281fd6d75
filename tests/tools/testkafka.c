/* s4f-testkafka: the small Kafka client the tests use (kcat cannot create or delete topics).
 *
 *   s4f-testkafka create TOPIC PARTITIONS     create a topic (replication 1)
 *   s4f-testkafka delete TOPIC...             delete topics (missing ones are not errors)
 *   s4f-testkafka delete-groups GROUP...      delete consumer groups (likewise)
 *   s4f-testkafka consume TOPIC [--idle MS] [--max N] [--timeout MS] [--keys]
 *       print every message of the topic from the beginning, one per line (payload, or
 *       "key<TAB>payload" with --keys), until no message arrived for --idle ms (default 3000)
 *       after at least --max messages (default 0), or --timeout ms (default 120000) passed.
 *   s4f-testkafka produce TOPIC                one message per stdin line, key before a TAB
 *   s4f-testkafka config TOPIC KEY VALUE       set one topic setting (the others: defaults),
 *       e.g. max.message.bytes, to make the broker refuse writes for a while
 *
 * The broker is $S4F_KAFKA_BOOTSTRAP (default 127.0.0.1:9092). */
#include "kafka.h"
#include "log.h"
#include "s4f.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *bootstrap(void)
{
    const char *b = getenv("S4F_KAFKA_BOOTSTRAP");
    return b && *b ? b : "127.0.0.1:9092";
}

static rd_kafka_t *admin_handle(void)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap(), err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        fprintf(stderr, "kafka: %s\n", err);
    return rk;
}

static int wait_admin(rd_kafka_queue_t *q, int create)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "timeout\n");
        return 1;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
               : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    if (n == 1) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[0]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
            (create && e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
            rc = 0;
        else
            fprintf(stderr, "%s\n", rd_kafka_topic_result_error_string(tr[0]));
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "%s\n", rd_kafka_event_error_string(ev));
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static int cmd_create(const char *topic, int parts)
{
    char err[256];
    rd_kafka_t *rk = admin_handle();
    if (!rk)
        return 1;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, 1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    int rc = wait_admin(q, 1);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    /* Metadata propagation: wait until the topic shows all partitions. */
    for (int64_t deadline = s4f_mono_ms() + 30000; rc == 0 && s4f_mono_ms() < deadline;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int ok = 0;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ok = md->topic_cnt == 1 && md->topics[0].err == 0 &&
                 md->topics[0].partition_cnt == parts;
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        if (ok)
            break;
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* Deletes every topic named; topics that do not exist are not errors. */
static int cmd_delete(char **topics, int n)
{
    rd_kafka_t *rk = admin_handle();
    if (!rk)
        return 1;
    rd_kafka_DeleteTopic_t **dt = calloc((size_t)n, sizeof(*dt));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int rc = 1;
    if (dt) {
        for (int i = 0; i < n; i++)
            dt[i] = rd_kafka_DeleteTopic_new(topics[i]);
        rd_kafka_DeleteTopics(rk, dt, (size_t)n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            ev ? rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt)
               : NULL;
        rc = !ev || rd_kafka_event_error(ev) ? 1 : 0;
        if (rc)
            fprintf(stderr, "%s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                fprintf(stderr, "%s: %s\n", rd_kafka_topic_result_name(tr[i]),
                        rd_kafka_topic_result_error_string(tr[i]));
                rc = 1;
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
        free(dt);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* Deletes consumer groups (what tests and benchmarks leave behind); unknown groups are not
 * errors. */
static int cmd_delete_groups(char **groups, int n)
{
    rd_kafka_t *rk = admin_handle();
    if (!rk)
        return 1;
    rd_kafka_DeleteGroup_t **dg = calloc((size_t)n, sizeof(*dg));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int rc = 1;
    if (dg) {
        for (int i = 0; i < n; i++)
            dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
        rd_kafka_DeleteGroups(rk, dg, (size_t)n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        size_t cnt = 0;
        const rd_kafka_group_result_t **gr =
            ev ? rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &cnt)
               : NULL;
        rc = !ev || rd_kafka_event_error(ev) ? 1 : 0;
        if (rc)
            fprintf(stderr, "%s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
        for (size_t i = 0; i < cnt; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            if (e && rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                fprintf(stderr, "%s: %s\n", rd_kafka_group_result_name(gr[i]),
                        rd_kafka_error_string(e));
                rc = 1;
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_DeleteGroup_destroy_array(dg, (size_t)n);
        free(dg);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static int cmd_consume(const char *topic, int argc, char **argv)
{
    long idle = 3000, max = 0, timeout = 120000;
    int keys = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc)
            idle = atol(argv[++i]);
        else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
            max = atol(argv[++i]);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout = atol(argv[++i]);
        else if (strcmp(argv[i], "--keys") == 0)
            keys = 1;
    }
    char group[256], err[512];
    snprintf(group, sizeof(group), "s4f-testkafka.%lld.%d", (long long)s4f_wall_ms(), rand());
    char *k[] = {"bootstrap.servers"}, *v[] = {(char *)bootstrap()};
    struct s4f_kvlist shared = {1, k, v};
    const char *topics[] = {topic, NULL};
    struct s4f_kafka_consumer_opts co = {.shared = &shared, .group_id = group, .topics = topics};
    struct s4f_kafka_consumer *c = s4f_kafka_consumer_new(&co, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long n = 0;
    int64_t start = s4f_mono_ms(), last = start;
    for (;;) {
        int64_t now = s4f_mono_ms();
        if (now - start > timeout)
            break;
        if (n >= max && n > 0 && now - last > idle)
            break;
        if (n == 0 && max == 0 && now - start > idle + 5000)
            break; /* empty topic: give the group time to join, then stop */
        rd_kafka_message_t *m = s4f_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (keys)
            printf("%.*s\t", (int)m->key_len, m->key ? (const char *)m->key : "");
        printf("%.*s\n", (int)m->len, (const char *)m->payload);
        rd_kafka_message_destroy(m);
        n++;
        last = s4f_mono_ms();
    }
    fflush(stdout);
    s4f_kafka_consumer_close(c);
    s4f_kafka_consumer_free(c);
    fprintf(stderr, "consumed %ld messages\n", n);
    return n >= max ? 0 : 1;
}

static int cmd_produce(const char *topic)
{
    char err[512], *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char *k[] = {"bootstrap.servers"}, *v[] = {(char *)bootstrap()};
    struct s4f_kvlist shared = {1, k, v};
    struct s4f_kafka_producer_opts po = {.shared = &shared, .queue_full_wait_ms = 10000};
    struct s4f_kafka_producer *p = s4f_kafka_producer_new(&po, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long n = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        char *tab = strchr(line, '\t');
        const char *payload = tab ? tab + 1 : line;
        if (s4f_kafka_produce(p, topic, tab ? line : NULL, tab ? (size_t)(tab - line) : 0, payload,
                              strlen(payload), NULL) != S4F_OK)
            break;
        s4f_kafka_producer_poll(p, 0);
        n++;
    }
    free(line);
    int left = s4f_kafka_producer_flush(p, 60000);
    struct s4f_kafka_producer_stats st;
    s4f_kafka_producer_stats(p, &st);
    s4f_kafka_producer_free(p);
    fprintf(stderr, "produced %ld messages, %llu acknowledged\n", n,
            (unsigned long long)st.delivered);
    return left == 0 && st.failed == 0 && st.delivered == (uint64_t)n ? 0 : 1;
}

static int cmd_config(const char *topic, const char *key, const char *value)
{
    rd_kafka_t *rk = admin_handle();
    if (!rk)
        return 1;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_ConfigResource_set_config(res, key, value);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AlterConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "timeout\n");
    } else {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **rr =
            rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
        if (rd_kafka_event_error(ev))
            fprintf(stderr, "%s\n", rd_kafka_event_error_string(ev));
        else if (n == 1 && rd_kafka_ConfigResource_error(rr[0]))
            fprintf(stderr, "%s\n", rd_kafka_ConfigResource_error_string(rr[0]));
        else
            rc = 0;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    s4f_log_init("testkafka", NULL, S4F_LOG_ERROR);
    if (argc >= 4 && strcmp(argv[1], "create") == 0)
        return cmd_create(argv[2], atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "delete") == 0)
        return cmd_delete(argv + 2, argc - 2);
    if (argc >= 3 && strcmp(argv[1], "delete-groups") == 0)
        return cmd_delete_groups(argv + 2, argc - 2);
    if (argc >= 3 && strcmp(argv[1], "consume") == 0)
        return cmd_consume(argv[2], argc - 3, argv + 3);
    if (argc >= 3 && strcmp(argv[1], "produce") == 0)
        return cmd_produce(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "config") == 0)
        return cmd_config(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: s4f-testkafka create TOPIC PARTITIONS | delete TOPIC... | "
                    "delete-groups GROUP... | "
                    "consume TOPIC [--idle MS] [--max N] [--timeout MS] [--keys] | produce TOPIC | "
                    "config TOPIC KEY VALUE\n");
    return 2;
}
