/* The Kafka clients of the worker's stages: the engine's (engine.c, stage two of a
 * repartitioned analysis, the only stage of the others) and stage one's (rekey.c). Both build
 * them here, so neither includes the other.
 *
 * Ownership: the caller owns what it gets and frees it with s4f_kafka_consumer_free /
 * s4f_kafka_producer_free. Threading: any thread; the clients then belong to it. */
#ifndef S4F_STAGE_H
#define S4F_STAGE_H

#include "config.h"
#include "kafka.h"
#include "metrics.h"

#include <stddef.h>

/* The Kafka clients of one stage of the worker (the engine's, and a repartitioned
 * analysis's first stage): the operator's kafka: sections over the worker's consumer
 * defaults (large prefetch thresholds, see stage.c); the producer waits up to 1 s on a full
 * queue. NULL + err on a bad setting. */
struct s4f_kafka_consumer *
s4f_worker_consumer_new(const struct s4f_kvlist *shared, const struct s4f_kvlist *overrides,
                        struct s4f_metrics *metrics, const char *group, const char *topic,
                        void (*assign_cb)(void *, const rd_kafka_topic_partition_list_t *),
                        void (*revoke_cb)(void *, const rd_kafka_topic_partition_list_t *),
                        void *ctx, char *err, size_t errlen);
struct s4f_kafka_producer *
s4f_worker_producer_new(const struct s4f_kvlist *shared, const struct s4f_kvlist *overrides,
                        struct s4f_metrics *metrics,
                        void (*on_delivery)(void *, void *, rd_kafka_resp_err_t), void *ctx,
                        char *err, size_t errlen);

#endif
