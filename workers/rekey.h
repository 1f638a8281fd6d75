/* Stage one of a repartitioned analysis (host_stats): reads the input topic in its own
 * consumer group (<group>.rekey), and for every flow writes one routed record per side the
 * analysis routes (its route() callback: a local source, a local destination) to the
 * repartition topic, to the partition the side's address text would get as a message key, so
 * that stage two (the engine) sees all of a host's traffic in one partition. This is Kafka
 * Streams' repartition topic.
 *
 * A routed record is a 96-byte binary record (flow.h, s4f_flow_encode_routed): the fields the
 * analyses read, the side, where the flow was read (input partition and offset) and a claim
 * (the offsets since the previous record of that partition and side routed to the same
 * repartition partition). Up to S4F_ROUTED_PACK of them go back to back in one Kafka message,
 * without a key. Watermark marks (s4f_flow_encode_mark), in the same format, tell every
 * repartition partition how far each input partition's event time has come, or that it is
 * idle. Input offsets are committed only once every message written for them is acknowledged
 * (at-least-once); after a crash, stage one writes some records again and stage two drops
 * them by (partition, offset, side) and the claims (dedup.h).
 *
 * Ownership: the stage owns its consumer and producer. Threading: one thread at a time, its
 * own (the engine starts one for it, engine.c) or, when that thread cannot be started, the
 * engine's; route() runs on it while the engine's thread runs the other callbacks. Delivery
 * reports are served by s4f_rekey_poll(). */
#ifndef S4F_REKEY_H
#define S4F_REKEY_H

#include "analysis.h"
#include "config.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>

struct s4f_rekey_opts {
    const struct s4f_analysis *analysis;
    void *inst;
    const char *group; /* the stage's consumer group */
    const char *input_topic;
    const char *repartition_topic;
    const struct s4f_kvlist *kafka_shared;
    const struct s4f_kvlist *kafka_overrides;
    struct s4f_metrics *metrics;
    const char *labels;
    int64_t commit_interval_ms;
    const struct s4f_analysis_common *common; /* idle timeout, max_future, time mode */
};

struct s4f_rekey;

struct s4f_rekey *s4f_rekey_new(const struct s4f_rekey_opts *opts, char *err, size_t errlen);
/* Reads one batch (waiting up to timeout_ms), writes its records, serves delivery reports and
 * commits what is acknowledged when the commit interval is due. Returns the records read. */
size_t s4f_rekey_poll(struct s4f_rekey *r, int timeout_ms);
/* Shutdown: waits up to timeout_ms for the writes, commits what is acknowledged, leaves the
 * group. */
void s4f_rekey_drain(struct s4f_rekey *r, int timeout_ms);
void s4f_rekey_free(struct s4f_rekey *r);

#endif
