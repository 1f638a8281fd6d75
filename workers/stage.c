/* The Kafka clients of the worker's stages: see stage.h. */
#include "stage.h"

/* Consumer settings of the worker, applied unless the shared or the worker's kafka: section
 * sets them: the prefetch is bounded by bytes, 8 MiB of records (a dozen batches; the
 * count bound is librdkafka's default, for small records). librdkafka before 2.2 stops
 * fetching for up to a second once its queue is full; the consumer's fetcher wake-up
 * (common/kafka.c) restarts it as soon as the queue has room again, so a small queue costs
 * no throughput. */
static const char *const worker_consumer_defaults[] = {
    "queued.min.messages", "100000", "queued.max.messages.kbytes", "8192", NULL,
};

struct s4f_kafka_consumer *
s4f_worker_consumer_new(const struct s4f_kvlist *shared, const struct s4f_kvlist *overrides,
                        struct s4f_metrics *metrics, const char *group, const char *topic,
                        void (*assign_cb)(void *, const rd_kafka_topic_partition_list_t *),
                        void (*revoke_cb)(void *, const rd_kafka_topic_partition_list_t *),
                        void *ctx, char *err, size_t errlen)
{
    const char *topics[] = {topic, NULL};
    struct s4f_kafka_consumer_opts co = {
        .shared = shared,
        .overrides = overrides,
        .defaults = worker_consumer_defaults,
        .metrics = metrics,
        .group_id = group,
        .topics = topics,
        .on_assign = assign_cb,
        .on_revoke = revoke_cb,
        .ctx = ctx,
    };
    return s4f_kafka_consumer_new(&co, err, errlen);
}

struct s4f_kafka_producer *
s4f_worker_producer_new(const struct s4f_kvlist *shared, const struct s4f_kvlist *overrides,
                        struct s4f_metrics *metrics,
                        void (*on_delivery)(void *, void *, rd_kafka_resp_err_t), void *ctx,
                        char *err, size_t errlen)
{
    struct s4f_kafka_producer_opts po = {
        .shared = shared,
        .overrides = overrides,
        .metrics = metrics,
        .queue_full_wait_ms = 1000,
        .on_delivery = on_delivery,
        .ctx = ctx,
    };
    return s4f_kafka_producer_new(&po, err, errlen);
}
