/* Integration test against the real broker: 100,000 messages through the producer wrapper into
 * a fresh 4-partition topic, consumed back through the consumer wrapper in a consumer group;
 * every message must arrive exactly once. Waits on observable conditions with deadlines. */
#include "kafka.h"
#include "log.h"
#include "s4f.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_MESSAGES 100000

static uint64_t delivered_ok, delivered_failed;

static void on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    (void)ctx;
    (void)opaque;
    if (err)
        delivered_failed++;
    else
        delivered_ok++;
}

static int create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
    char errstr[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof(errstr));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = -1;
    if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
        rc = (n == 1 && rd_kafka_topic_result_error(tr[0]) == RD_KAFKA_RESP_ERR_NO_ERROR) ? 0 : -1;
        if (rc)
            fprintf(stderr, "create topic: %s\n",
                    n ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

static void delete_topic(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
}

int main(void)
{
    const char *bootstrap = getenv("S4F_KAFKA_BOOTSTRAP");
    char topic[128], group[160], err[512];
    int rc = 1;

    if (!bootstrap || !*bootstrap)
        bootstrap = "127.0.0.1:9092";
    s4f_log_init("test", "kafka_roundtrip", S4F_LOG_WARN);
    snprintf(topic, sizeof(topic), "test.roundtrip.%d.%lld", (int)getpid(),
             (long long)s4f_wall_ms());
    snprintf(group, sizeof(group), "%s.group", topic);

    char *keys[] = {"bootstrap.servers"};
    char *vals[] = {(char *)bootstrap};
    struct s4f_kvlist shared = {1, keys, vals};
    struct s4f_metrics *m = s4f_metrics_new("s4f_test", 0);
    struct s4f_kafka_producer_opts po = {
        .shared = &shared, .metrics = m, .queue_full_wait_ms = 5000, .on_delivery = on_delivery};
    struct s4f_kafka_producer *p = s4f_kafka_producer_new(&po, err, sizeof(err));
    struct s4f_kafka_consumer *c = NULL;
    uint8_t *seen = calloc(N_MESSAGES, 1);
    if (!p || !seen) {
        fprintf(stderr, "producer: %s\n", err);
        goto out;
    }
    if (create_topic(s4f_kafka_producer_handle(p), topic, 4) != 0)
        goto out;

    int64_t t0 = s4f_mono_ms();
    for (int i = 0; i < N_MESSAGES; i++) {
        char key[16], payload[64];
        int kl = snprintf(key, sizeof(key), "k%d", i % 977);
        int pl = snprintf(payload, sizeof(payload), "{\"seq\":%d}", i);
        if (s4f_kafka_produce(p, topic, key, (size_t)kl, payload, (size_t)pl, NULL) != S4F_OK) {
            fprintf(stderr, "produce %d failed\n", i);
            goto out;
        }
        s4f_kafka_producer_poll(p, 0);
    }
    int left = s4f_kafka_producer_flush(p, 60000);
    printf("produced %d messages in %lld ms, %d left in queue, %llu acknowledged, %llu failed\n",
           N_MESSAGES, (long long)(s4f_mono_ms() - t0), left, (unsigned long long)delivered_ok,
           (unsigned long long)delivered_failed);
    if (left || delivered_ok != N_MESSAGES || delivered_failed) {
        fprintf(stderr, "FAIL: not every message was acknowledged\n");
        goto out;
    }

    const char *topics[] = {topic, NULL};
    struct s4f_kafka_consumer_opts co = {
        .shared = &shared, .metrics = m, .group_id = group, .topics = topics};
    c = s4f_kafka_consumer_new(&co, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "consumer: %s\n", err);
        goto out;
    }
    int received = 0, dups = 0, bad = 0;
    int64_t deadline = s4f_mono_ms() + 120000;
    while (received < N_MESSAGES && s4f_mono_ms() < deadline) {
        rd_kafka_message_t *msg = s4f_kafka_consumer_poll(c, 500);
        if (!msg)
            continue;
        int seq = -1;
        if (msg->len < 32) {
            char buf[32];
            memcpy(buf, msg->payload, msg->len);
            buf[msg->len] = '\0';
            if (sscanf(buf, "{\"seq\":%d}", &seq) != 1)
                seq = -1;
        }
        if (seq < 0 || seq >= N_MESSAGES)
            bad++;
        else if (seen[seq]++)
            dups++;
        else
            received++;
        rd_kafka_message_destroy(msg);
    }
    /* Nothing more must arrive: drain briefly and count extras as duplicates. */
    int64_t quiet = s4f_mono_ms() + 2000;
    while (s4f_mono_ms() < quiet) {
        rd_kafka_message_t *msg = s4f_kafka_consumer_poll(c, 200);
        if (msg) {
            dups++;
            rd_kafka_message_destroy(msg);
        }
    }
    printf("consumed %d distinct, %d duplicates, %d malformed\n", received, dups, bad);
    if (received != N_MESSAGES || dups || bad) {
        fprintf(stderr, "FAIL: expected %d distinct messages exactly once\n", N_MESSAGES);
        goto out;
    }
    s4f_kafka_consumer_close(c);
    s4f_kafka_consumer_free(c);
    c = NULL;

    /* Again, in batches, with a prefetch queue of a few hundred messages and a consumer
     * slower than the broker (a pause after each batch): librdkafka 2.0 stops fetching once
     * the queue is full and sleeps for up to a second; the fetcher wake-up must restart it,
     * or this pass would take minutes. Every message exactly once, and wake-ups seen. */
    char group2[200];
    snprintf(group2, sizeof(group2), "%s.small", group);
    char *okeys[] = {"queued.max.messages.kbytes", "queued.min.messages"};
    char *ovals[] = {"8", "500"};
    struct s4f_kvlist small = {2, okeys, ovals};
    co.group_id = group2;
    co.overrides = &small;
    c = s4f_kafka_consumer_new(&co, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "consumer: %s\n", err);
        goto out;
    }
    memset(seen, 0, N_MESSAGES);
    received = dups = bad = 0;
    deadline = s4f_mono_ms() + 120000;
    rd_kafka_message_t *batch[256];
    while (received < N_MESSAGES && s4f_mono_ms() < deadline) {
        size_t n = s4f_kafka_consumer_poll_batch(c, 500, batch, 256);
        for (size_t i = 0; i < n; i++) {
            int seq = -1;
            if (batch[i]->len < 32) {
                char buf[32];
                memcpy(buf, batch[i]->payload, batch[i]->len);
                buf[batch[i]->len] = '\0';
                if (sscanf(buf, "{\"seq\":%d}", &seq) != 1)
                    seq = -1;
            }
            if (seq < 0 || seq >= N_MESSAGES)
                bad++;
            else if (seen[seq]++)
                dups++;
            else
                received++;
            rd_kafka_message_destroy(batch[i]);
        }
        if (n)
            usleep(1000);
    }
    uint64_t wakeups = s4f_kafka_consumer_wakeups(c);
    printf("small prefetch: consumed %d distinct, %d duplicates, %d malformed, %llu fetcher "
           "wake-ups\n",
           received, dups, bad, (unsigned long long)wakeups);
    if (received == N_MESSAGES && dups == 0 && bad == 0 && wakeups > 0) {
        printf("PASS\n");
        rc = 0;
    } else {
        fprintf(stderr, "FAIL: expected %d distinct messages exactly once, and wake-ups\n",
                N_MESSAGES);
    }

out:
    if (c) {
        s4f_kafka_consumer_close(c);
        s4f_kafka_consumer_free(c);
    }
    if (p) {
        delete_topic(s4f_kafka_producer_handle(p), topic);
        s4f_kafka_producer_free(p);
    }
    s4f_metrics_free(m);
    free(seen);
    return rc;
}
