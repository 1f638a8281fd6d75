/* Test helper: creates and deletes Kafka topics (the sink tests' private topics) with the admin
 * API of librdkafka, which kcat lacks.
 *
 *   s4f-test-kafka-admin BOOTSTRAP create TOPIC PARTITIONS
 *   s4f-test-kafka-admin BOOTSTRAP delete TOPIC... */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wait_result(rd_kafka_t *rk, rd_kafka_queue_t *q, int create)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 1;
    if (!ev) {
        fprintf(stderr, "timeout\n");
        return 1;
    }
    size_t n = 0;
    const rd_kafka_topic_result_t **res;
    if (create)
        res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    else
        res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "%s\n", rd_kafka_event_error_string(ev));
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS &&
            e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            fprintf(stderr, "%s: %s\n", rd_kafka_topic_result_name(res[i]),
                    rd_kafka_topic_result_error_string(res[i]));
            rc = 1;
        }
    }
out:
    rd_kafka_event_destroy(ev);
    (void)rk;
    return rc;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc < 4 || (strcmp(argv[2], "create") == 0 && argc != 5)) {
        fprintf(stderr, "usage: %s BOOTSTRAP create TOPIC PARTITIONS | delete TOPIC...\n", argv[0]);
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int rc;
    if (strcmp(argv[2], "create") == 0) {
        rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(argv[3], atoi(argv[4]), 1, err, sizeof(err));
        if (!t) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        rd_kafka_CreateTopics(rk, &t, 1, NULL, q);
        rc = wait_result(rk, q, 1);
        rd_kafka_NewTopic_destroy(t);
    } else {
        int n = argc - 3;
        rd_kafka_DeleteTopic_t **d = calloc((size_t)n, sizeof(*d));
        for (int i = 0; i < n; i++)
            d[i] = rd_kafka_DeleteTopic_new(argv[3 + i]);
        rd_kafka_DeleteTopics(rk, d, (size_t)n, NULL, q);
        rc = wait_result(rk, q, 0);
        rd_kafka_DeleteTopic_destroy_array(d, (size_t)n);
        free(d);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
