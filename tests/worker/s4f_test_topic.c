/* Test helper: creates or deletes Kafka topics, and deletes consumer groups, through the Admin
 * API (the test broker has auto.create.topics.enable=false).
 * Usage: s4f_test_topic BOOTSTRAP create NAME PARTITIONS
 *        s4f_test_topic BOOTSTRAP delete NAME...
 *        s4f_test_topic BOOTSTRAP delete-groups GROUP...   (unknown groups are not errors) */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(rd_kafka_event_t *ev, int create)
{
    const rd_kafka_topic_result_t **res;
    size_t n;
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "admin: %s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
        return 1;
    }
    if (create)
        res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    else
        res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS &&
            e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            fprintf(stderr, "%s: %s\n", rd_kafka_topic_result_name(res[i]), rd_kafka_err2str(e));
            rc = 1;
        }
    }
    return rc;
}

static int check_groups(rd_kafka_event_t *ev)
{
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "admin: %s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
        return 1;
    }
    size_t n;
    const rd_kafka_group_result_t **res =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_error_t *e = rd_kafka_group_result_error(res[i]);
        if (e && rd_kafka_error_code(e) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            fprintf(stderr, "%s: %s\n", rd_kafka_group_result_name(res[i]),
                    rd_kafka_error_string(e));
            rc = 1;
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc < 4)
        return 2;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int rc;
    if (strcmp(argv[2], "create") == 0 && argc == 5) {
        rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(argv[3], atoi(argv[4]), 1, err, sizeof(err));
        rd_kafka_CreateTopics(rk, &t, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        rc = check(ev, 1);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(t);
    } else if (strcmp(argv[2], "delete") == 0) {
        int n = argc - 3;
        rd_kafka_DeleteTopic_t **t = calloc((size_t)n, sizeof(*t));
        for (int i = 0; i < n; i++)
            t[i] = rd_kafka_DeleteTopic_new(argv[3 + i]);
        rd_kafka_DeleteTopics(rk, t, (size_t)n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        rc = check(ev, 0);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(t, (size_t)n);
        free(t);
    } else if (strcmp(argv[2], "delete-groups") == 0) {
        int n = argc - 3;
        rd_kafka_DeleteGroup_t **g = calloc((size_t)n, sizeof(*g));
        for (int i = 0; i < n; i++)
            g[i] = rd_kafka_DeleteGroup_new(argv[3 + i]);
        rd_kafka_DeleteGroups(rk, g, (size_t)n, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        rc = check_groups(ev);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_DeleteGroup_destroy_array(g, (size_t)n);
        free(g);
    } else {
        rc = 2;
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
