/* The _bulk protocol, without I/O: checks each Kafka message and turns it into an index action
 * (target index by event time, deterministic _id), builds the NDJSON request body, and reads a
 * bulk answer item by item.
 *
 * Everything here is pure and synchronous so that unit tests cover it without a node. */
#ifndef S4F_SINK_BULK_H
#define S4F_SINK_BULK_H

#include "buf.h"
#include "kafka.h"
#include "s4f.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S4F_BULK_INDEX_MAX  256 /* Elasticsearch refuses index names above 255 bytes */
#define S4F_BULK_ID_MAX     512 /* and _id above 512 bytes */
#define S4F_BULK_TYPE_MAX   64
#define S4F_BULK_REASON_MAX 300

/* What a message is. Results carry their own id and @timestamp; raw flows get an id from their
 * Kafka coordinates, which is just as deterministic across re-deliveries. */
enum s4f_doc_kind { S4F_DOC_RESULT, S4F_DOC_FLOW };

/* Why the sink refused a message itself (each has its dead-letter counter). */
enum s4f_doc_refusal {
    S4F_REFUSE_NONE,
    S4F_REFUSE_INVALID, /* not a usable result or flow */
    S4F_REFUSE_TYPE,    /* a result of a @type without a template */
    S4F_REFUSE_TIME,    /* event time outside [now - max_age, now + max_future] */
};

/* What a document must satisfy beyond its shape. */
struct s4f_bulk_checks {
    int64_t now_ms;        /* wall clock */
    int64_t max_future_ms; /* event time at most now + this */
    int64_t max_age_ms;    /* and at least now - this */
    /* True for the result types the sink indexes; NULL accepts every well-formed @type. */
    bool (*type_known)(const char *type);
};

struct s4f_doc_meta {
    enum s4f_doc_refusal refused;
    /* External version of a fenced result (s4f_bulk_epoch_version), 0: none (plain index). */
    int64_t version;
    char index[S4F_BULK_INDEX_MAX];
    char id[S4F_BULK_ID_MAX + 1];
    char type[S4F_BULK_TYPE_MAX + 1];
};

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)" into epoch milliseconds. 0 or -1. */
int s4f_iso8601_parse_ms(const char *s, int64_t *out);

/* True when name is a usable @type: 1 to 64 characters of [a-z0-9_], with single dots between
 * names (detection.reflectdos, detection.ddos: the original's types). The hyphen is excluded so
 * that "<prefix>-<type>-<date>" splits back without ambiguity (retention relies on it); a dot
 * never starts or ends it (an index name starting with "." would be hidden). */
bool s4f_bulk_type_ok(const char *name);

/* "<prefix>-<type>-YYYY.MM.DD" for the UTC day of epoch_ms. 0 or -1 (too long). */
int s4f_bulk_index_name(const char *prefix, const char *type, int64_t epoch_ms, char *buf,
                        size_t len);

/* Reads "<prefix>-<type>-YYYY.MM.DD" back: the UTC day's first millisecond. 0 or -1 when the name
 * is not one of ours. */
int s4f_bulk_index_day(const char *prefix, const char *index, int64_t *day_ms);

/* Checks one message and fills meta. For S4F_DOC_FLOW, topic/partition/offset build the id and
 * kafka_ts_ms (-1: none) is the fallback time when the flow has no end or start time. checks
 * (NULL: none) bounds the event time (the index's day: a message must not create indices far in
 * the past or the future) and the result types.
 * Returns S4F_OK, or S4F_ERR with a reason and meta->refused (the message is dead-lettered). */
enum s4f_status s4f_bulk_doc_meta(enum s4f_doc_kind kind, const char *prefix, const char *payload,
                                  size_t len, const char *topic, int32_t partition, int64_t offset,
                                  int64_t kafka_ts_ms, const struct s4f_bulk_checks *checks,
                                  struct s4f_doc_meta *meta, char *reason, size_t reasonlen);

/* Fencing of stalled workers (docs/worker.md, "Stalled workers are fenced"): every result of a
 * worker carries its partition owner's epoch in the Kafka header S4F_EPOCH_HEADER, at most
 * S4F_EPOCH_MAX (kafka.h), so that the version below stays a positive int64. */

/* The external version a result of that epoch is indexed with: epoch × 2^32. It grows with the
 * epoch (a later owner's result replaces an earlier owner's, never the reverse), is the same for
 * every result of one epoch (a re-emission or a re-delivery is accepted by external_gte), and
 * starts above any version a document indexed without one can have reached (one per write).
 * The low 32 bits are 0. val is the header value (len bytes, not terminated): a decimal epoch
 * 1..S4F_EPOCH_MAX without sign, leading zero or space. 0, or -1 when it is not one. */
int s4f_bulk_epoch_version(const void *val, size_t len, int64_t *version);

/* Appends {"index":{"_index":..,"_id":..}}\n<doc>\n, with "version":..,
 * "version_type":"external_gte" in the action when meta->version > 0. Line breaks inside doc (legal
 * JSON white space, fatal to NDJSON) become spaces. 0 or -1 (out of memory). */
int s4f_bulk_append(struct s4f_buf *b, const struct s4f_doc_meta *meta, const char *doc,
                    size_t len);

/* Outcome of one item of a bulk answer. */
enum s4f_item_outcome {
    S4F_ITEM_OK,     /* stored */
    S4F_ITEM_RETRY,  /* 429, 5xx, or a missing answer: send again later */
    S4F_ITEM_DEAD,   /* refused for good (mapping): dead-letter it */
    S4F_ITEM_FENCED, /* 409 version conflict: a newer epoch's result is stored, this one is stale */
};

struct s4f_bulk_item_result {
    enum s4f_item_outcome outcome;
    int status;
    char reason[S4F_BULK_REASON_MAX]; /* "type: reason" from the node, empty when stored */
};

/* Decides from an item's status and error type. */
enum s4f_item_outcome s4f_bulk_classify(int status, const char *error_type);

/* Reads the answer to a bulk request of n items into out[0..n-1]. Returns S4F_OK when the answer
 * is a bulk answer with exactly n items (out filled), S4F_RETRY when it is not (every item must
 * be sent again: a truncated or foreign answer is never taken for success). */
enum s4f_status s4f_bulk_parse_response(const char *body, size_t len, size_t n,
                                        struct s4f_bulk_item_result *out);

#endif
