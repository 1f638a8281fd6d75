/* Kafka producer and consumer wrappers over librdkafka.
 *
 * Configuration is layered: our defaults, then the shared `kafka:` section of the configuration
 * file, then the daemon's own `kafka:` overrides; every librdkafka property passes through
 * untouched, so operators can set TLS, SASL or tuning knobs we never heard of.
 *
 * Producer: produce() copies the payload and never blocks for longer than the configured
 * queue_full_wait_ms: when librdkafka's bounded queue is full it serves delivery reports and
 * retries until that bound, then returns S4F_RETRY and the caller decides (the collector drops
 * and counts; a worker emits the window again at its next tick, and stage one keeps polling
 * until there is room). Delivery reports are served by whoever calls poll() or
 * produce(); each report updates the counters and, if set, calls on_delivery with the per-message
 * opaque, which is how the worker learns that results covering a set of offsets are safe.
 *
 * Consumer: auto commit is off; offsets are committed explicitly with commit() once the caller's
 * outputs for them are delivered (at-least-once). Partition assignment changes call the
 * caller's on_assign / on_revoke before librdkafka applies them, so a worker can flush the windows
 * of partitions it is about to lose. Both the eager and the cooperative (incremental) protocols
 * are supported: the callbacks get the partitions that move. */
#ifndef S4F_KAFKA_H
#define S4F_KAFKA_H

#include "config.h"
#include "metrics.h"
#include "s4f.h"

#include <librdkafka/rdkafka.h>

/* Header of every worker result: its partition owner's epoch in decimal, which the sink indexes
 * as the document's external version (fencing of stalled workers, docs/worker.md). */
#define S4F_EPOCH_HEADER "s4f-epoch"
#define S4F_EPOCH_MAX    2147483647 /* 2^31 - 1: the largest epoch the sink takes */

struct s4f_kafka_producer_opts {
    const struct s4f_kvlist *shared;    /* the `kafka:` section; may be NULL */
    const struct s4f_kvlist *overrides; /* the daemon's own `kafka:` map; may be NULL */
    struct s4f_metrics *metrics;        /* counters are registered here; may be NULL */
    int queue_full_wait_ms;             /* how long produce() may wait on a full queue */
    /* Called from poll()/produce()/flush() for each delivered or failed message. err is
     * RD_KAFKA_RESP_ERR_NO_ERROR on success. */
    void (*on_delivery)(void *ctx, void *msg_opaque, rd_kafka_resp_err_t err);
    void *ctx;
};

struct s4f_kafka_producer;

struct s4f_kafka_producer *s4f_kafka_producer_new(const struct s4f_kafka_producer_opts *opts,
                                                  char *err, size_t errlen);
/* Copies key and payload. S4F_OK: queued. S4F_RETRY: queue still full after the wait bound.
 * S4F_ERR: rejected for good (message too large, unknown topic...), counted, logged. */
enum s4f_status s4f_kafka_produce(struct s4f_kafka_producer *p, const char *topic, const void *key,
                                  size_t keylen, const void *payload, size_t len, void *msg_opaque);
/* As s4f_kafka_produce, to a given partition (RD_KAFKA_PARTITION_UA: the partitioner's
 * choice by key). */
enum s4f_status s4f_kafka_produce_to(struct s4f_kafka_producer *p, const char *topic,
                                     int32_t partition, const void *key, size_t keylen,
                                     const void *payload, size_t len, void *msg_opaque);
/* As s4f_kafka_produce_to, with one message header hname (value hval, hlen bytes; copied)
 * when hname is not NULL. */
enum s4f_status s4f_kafka_produce_hdr(struct s4f_kafka_producer *p, const char *topic,
                                      int32_t partition, const void *key, size_t keylen,
                                      const void *payload, size_t len, const char *hname,
                                      const void *hval, size_t hlen, void *msg_opaque);
/* How many partitions topic has (metadata from the broker, within timeout_ms); -1 when the
 * topic does not exist (or cannot be described), -2 when the broker did not answer. */
int32_t s4f_kafka_partition_count(struct s4f_kafka_producer *p, const char *topic, int timeout_ms);
/* The partition the default partitioner (consistent_random) gives key among n. */
int32_t s4f_kafka_key_partition(const void *key, size_t keylen, int32_t n);
/* Serves delivery reports, waiting up to timeout_ms for one; returns how many were served. */
int s4f_kafka_producer_poll(struct s4f_kafka_producer *p, int timeout_ms);
/* Waits up to timeout_ms for every queued message; returns the number still queued (0: all). */
int s4f_kafka_producer_flush(struct s4f_kafka_producer *p, int timeout_ms);
int s4f_kafka_producer_outq(struct s4f_kafka_producer *p);
/* Flushes nothing: call flush() first. NULL-safe. */
void s4f_kafka_producer_free(struct s4f_kafka_producer *p);
rd_kafka_t *s4f_kafka_producer_handle(struct s4f_kafka_producer *p);

/* Totals since creation (also exported as metrics). */
struct s4f_kafka_producer_stats {
    uint64_t produced;   /* accepted by produce() */
    uint64_t delivered;  /* acknowledged by the broker */
    uint64_t failed;     /* delivery failed for good (after librdkafka's retries) */
    uint64_t queue_full; /* produce() returned S4F_RETRY */
    uint64_t rejected;   /* produce() returned S4F_ERR */
};
void s4f_kafka_producer_stats(struct s4f_kafka_producer *p, struct s4f_kafka_producer_stats *st);

struct s4f_kafka_consumer_opts {
    const struct s4f_kvlist *shared;
    const struct s4f_kvlist *overrides;
    struct s4f_metrics *metrics;
    /* The daemon's own defaults (key, value, ..., NULL), over ours: each applies only where
     * neither shared nor overrides set the key. May be NULL. */
    const char *const *defaults;
    const char *group_id;
    const char *const *topics; /* NULL-terminated */
    void (*on_assign)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    void (*on_revoke)(void *ctx, const rd_kafka_topic_partition_list_t *parts);
    void *ctx;
};

struct s4f_kafka_consumer;

struct s4f_kafka_consumer *s4f_kafka_consumer_new(const struct s4f_kafka_consumer_opts *opts,
                                                  char *err, size_t errlen);
/* Returns the next message (free it with rd_kafka_message_destroy) or NULL on timeout. Errors
 * carried by messages (partition EOF, transport errors) are counted and logged, not returned. */
rd_kafka_message_t *s4f_kafka_consumer_poll(struct s4f_kafka_consumer *c, int timeout_ms);
/* Up to max messages in one call, waiting at most timeout_ms for the first. Returns how many
 * were stored in msgs (0 on timeout); the caller destroys each with rd_kafka_message_destroy.
 * Like poll(), messages carrying errors are counted, logged and destroyed, never returned, and
 * kafka_consumed_total counts the good ones. Rebalance callbacks may run inside. The consumer
 * queue it reads is created at the first call and freed by s4f_kafka_consumer_free(). */
size_t s4f_kafka_consumer_poll_batch(struct s4f_kafka_consumer *c, int timeout_ms,
                                     rd_kafka_message_t **msgs, size_t max);
/* Sets the commit metadata of one element of an offsets list (copied; replaces any). Kafka
 * stores it with the offset; read it back with s4f_kafka_consumer_committed(). 0 or -1. */
int s4f_kafka_offset_set_metadata(rd_kafka_topic_partition_t *t, const char *metadata);
/* The committed offset of topic/partition for this consumer's group (-1 when none: *offset is
 * then RD_KAFKA_OFFSET_INVALID) and its metadata, copied into meta (terminated; "" when none
 * or when it does not fit in metalen). Blocks up to timeout_ms. S4F_OK or S4F_RETRY (broker
 * unreachable, logged). */
enum s4f_status s4f_kafka_consumer_committed(struct s4f_kafka_consumer *c, const char *topic,
                                             int32_t partition, int64_t *offset, char *meta,
                                             size_t metalen, int timeout_ms);
/* Commits the given offsets (the next offset to read, per partition) synchronously. */
enum s4f_status s4f_kafka_consumer_commit(struct s4f_kafka_consumer *c,
                                          const rd_kafka_topic_partition_list_t *offsets);
/* How often poll_batch() woke librdkafka's fetcher after the prefetch queue it had seen full
 * drained to half (kafka_fetch_wakeups_total; see common/kafka.c). Same thread as poll_batch. */
uint64_t s4f_kafka_consumer_wakeups(const struct s4f_kafka_consumer *c);
/* Sum of (high watermark - position) over assigned partitions, from librdkafka's cache. */
int64_t s4f_kafka_consumer_lag(struct s4f_kafka_consumer *c);
/* Inside on_revoke: the partitions were taken away (session timed out, the group moved on
 * without us) rather than handed over: another member may own them already, so nothing may
 * be emitted or committed for them. */
bool s4f_kafka_consumer_assignment_lost(struct s4f_kafka_consumer *c);
/* Pauses or resumes every partition assigned to c. A resume when nothing was paused since
 * the last one costs nothing. Partitions assigned later come unpaused. */
void s4f_kafka_consumer_pause_all(struct s4f_kafka_consumer *c, bool pause);

/* Messages a consumer returned while its partitions were paused (a daemon waiting before a
 * retry keeps polling to stay in its group): a FIFO, read before the consumer again. */
struct s4f_kafka_held {
    rd_kafka_message_t **m;
    size_t head, n, cap; /* m[head..n) wait */
};
/* Appends m. Out of memory, m is destroyed (uncommitted, so read again after a restart or a
 * rebalance) and the error logged. */
void s4f_kafka_held_push(struct s4f_kafka_held *h, rd_kafka_message_t *m);
/* The oldest held message (the caller's now), or NULL. */
rd_kafka_message_t *s4f_kafka_held_pop(struct s4f_kafka_held *h);
/* Destroys the held messages of the partitions in parts (revoked: the new owner reads them). */
void s4f_kafka_held_drop(struct s4f_kafka_held *h, const rd_kafka_topic_partition_list_t *parts);
void s4f_kafka_held_free(struct s4f_kafka_held *h);
/* Waits ms with c's partitions paused (paused again each round: a rebalance meanwhile assigns
 * unpaused ones), polling so the group keeps c; what the polls return goes to h. each(ctx), if
 * set, runs every round of at most 100 ms (a producer's delivery reports). Returns early when
 * the daemon must stop at once (s4f_daemon_stopping() == 2). Resuming is the caller's, with
 * s4f_kafka_consumer_pause_all(c, false) once it may read again. */
void s4f_kafka_consumer_wait_paused(struct s4f_kafka_consumer *c, int64_t ms,
                                    struct s4f_kafka_held *h, void (*each)(void *), void *ctx);
/* Leaves the group cleanly (revoke callback runs). Then free. Both NULL-safe. */
void s4f_kafka_consumer_close(struct s4f_kafka_consumer *c);
void s4f_kafka_consumer_free(struct s4f_kafka_consumer *c);
rd_kafka_t *s4f_kafka_consumer_handle(struct s4f_kafka_consumer *c);

/* Reads topic/partition from its first offset up to its end as it is at the call (a
 * changelog, to rebuild state), calling cb for each message, without a consumer group.
 * Returns the messages read, or -1 when the broker did not answer within timeout_ms
 * (logged). */
long s4f_kafka_read_partition(const struct s4f_kvlist *shared, const struct s4f_kvlist *overrides,
                              const char *topic, int32_t partition, int timeout_ms,
                              void (*cb)(void *ctx, const rd_kafka_message_t *m), void *ctx);

/* Applies defaults, shared and overrides to a new rd_kafka_conf_t. Returns NULL (err) on an
 * invalid property, naming it. Exposed for the benchmarks' raw loops. */
rd_kafka_conf_t *s4f_kafka_conf_build(const char *const *defaults, const struct s4f_kvlist *shared,
                                      const struct s4f_kvlist *overrides, char *err, size_t errlen);

#endif
