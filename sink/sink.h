/* The sink pipeline: Kafka results → bulk batches → Elasticsearch, with dead letters and offset
 * commits after acknowledgement.
 *
 * Life of a message: the consumer returns it; it is checked (bulk.h) and joins the open batch,
 * or, if it is unusable, joins it already marked for the dead-letter topic. The batch is flushed
 * when it holds bulk_max_docs documents or bulk_max_bytes bytes, or bulk_max_delay after its
 * first message. A flush sends the pending documents with _bulk and reads every item: stored
 * items are done, 429/5xx items stay pending and are sent again after an exponential back-off
 * with jitter, refused items (mapping errors) go to the dead-letter topic. While a flush waits,
 * the consumer's partitions are paused and the consumer is still polled, so the group membership
 * survives an outage of any length while memory stays bounded by one batch. Only when every
 * document of the batch is stored or dead-lettered (and the dead letter acknowledged by Kafka)
 * are the batch's offsets committed.
 *
 * Exactly-once effect: each document's _id is the result's deterministic id and the bulk action
 * is "index" (create or overwrite), so whatever Kafka delivers again after a crash overwrites
 * itself. A result with the worker's epoch header is indexed with the epoch as an external
 * version (external_gte, bulk.h): a stalled worker's stale result is refused by the node (409),
 * counted as fenced and treated as done.
 *
 * Threading: single-threaded; everything runs from s4f_sink_run() on the caller's thread. */
#ifndef S4F_SINK_H
#define S4F_SINK_H

#include "daemon.h"
#include "s4f.h"

#include <stdbool.h>
#include <stdint.h>

struct s4f_sink_conf {
    struct s4f_daemon_common common;
    struct s4f_strlist topics;
    char *group_id;
    struct s4f_kvlist kafka;
    int64_t bulk_max_docs;
    int64_t bulk_max_bytes;
    int64_t bulk_max_delay_ms;
    bool gzip;
    int64_t retry_initial_ms;
    int64_t retry_max_ms;
    char *deadletter_topic;
    int64_t retention_ms;
    int64_t maintenance_interval_ms;
    int64_t max_future_ms;
    int64_t max_age_ms;
    bool index_flows;
    char *flows_topic;
    char *capture_file;
};

extern const struct s4f_opt s4f_sink_opts[];

struct s4f_sink;

/* Creates the Elasticsearch client and the dead-letter producer; d must be started (metrics).
 * conf and d must outlive the sink. NULL on failure (logged). */
struct s4f_sink *s4f_sink_new(struct s4f_daemon *d, const struct s4f_sink_conf *conf);

/* Runs until s4f_daemon_stopping(): installs the templates (waiting for the node if needed),
 * joins the consumer group, indexes, and on a drain flushes the open batch and commits.
 * 0 on a clean stop, -1 on a fatal error (logged). */
int s4f_sink_run(struct s4f_sink *s);

/* Closes the consumer and flushes the producer. NULL-safe. */
void s4f_sink_free(struct s4f_sink *s);

#endif
