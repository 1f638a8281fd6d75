/* s4f-collector internals: configuration, the receive loop's inputs, and the Kafka output.
 *
 * Threading: one thread runs everything on the data path (epoll over the UDP socket, the TCP
 * listener and its connections; decoding; handing records to librdkafka, whose own threads
 * batch, compress and send). The metrics HTTP thread only reads atomics that the main thread
 * publishes once a second, so the decoder needs no locks. */
#ifndef S4F_COLLECTOR_H
#define S4F_COLLECTOR_H

#include "config.h"
#include "daemon.h"
#include "decode.h"
#include "kafka.h"
#include "metrics.h"

struct s4f_flow;

enum s4f_key_mode { S4F_KEY_SOURCE, S4F_KEY_EXPORTER, S4F_KEY_NONE };
/* output_format: one JSON object per message, or packed flows (docs/packed-format.md). */
enum s4f_output_format { S4F_FORMAT_JSON, S4F_FORMAT_PACKED };

struct collector_conf {
    struct s4f_daemon_common common;
    char *listen;
    char *tcp_listen;
    char *sflow_listen;
    int64_t sflow_max_interfaces;
    int64_t tcp_max_connections;
    int64_t tcp_max_connections_per_address;
    int64_t tcp_idle_timeout_ms;
    int64_t rcvbuf;
    int64_t batch;
    char *topic;
    int key_mode;
    int output_format;
    int64_t packed_max_flows;
    int64_t packed_linger_ms;
    struct s4f_kvlist kafka;
    int64_t queue_full_wait_ms;
    int64_t template_lifetime_ms;
    int64_t max_exporters;
    int64_t max_templates_per_exporter;
    int64_t max_fields_per_template;
    int64_t max_template_memory;
    bool renormalize;
    bool exporter_fields;
    int64_t default_sampling_interval;
    bool interface_names;
    int64_t max_interfaces_per_domain;
    struct s4f_strlist element_files;
    char *geoip_country_database;
    char *geoip_asn_database;
    struct s4f_strlist geoip_fields;
    int64_t geoip_check_interval_ms;
};

extern const struct s4f_opt collector_opts[];

/* Output (output.c): turns decoded records into Kafka messages and counts what is lost.
 *
 * Packed output: each record is read back with the worker's JSON reader (so a packed flow is
 * exactly what a worker would have made of the JSON) and appended to the batch of the
 * partition its key would have gone to; a batch becomes one message when it holds
 * packed_max_flows flows, when the next record might not fit, or packed_linger after its first
 * flow. A record the reader refuses goes out as JSON, alone, keyed as before: the workers
 * count it as they always did. Until the topic's partition count is known every record goes
 * out as JSON. */
struct collector_pack;
struct collector_out {
    struct s4f_kafka_producer *producer;
    const char *topic;
    int key_mode;
    int format;
    struct s4f_metric *m_dropped_queue_full, *m_dropped_rejected, *m_records, *m_messages;
    /* Packed output: one batch per partition (key_mode none: one). */
    struct collector_pack *packs;
    struct s4f_flow *flow; /* scratch */
    int32_t nparts, npacks, pending;
    int64_t nparts_at, max_flows, linger_ms;
};

/* Creates the producer (conf's kafka: over the shared section) and registers the output's
 * metrics. 0, or -1 with a message in err. */
int collector_out_init(struct collector_out *out, const struct collector_conf *conf,
                       const struct s4f_kvlist *shared, struct s4f_metrics *m, char *err,
                       size_t errlen);
/* An s4f_record_cb: ctx is a struct collector_out. */
void collector_out_record(void *ctx, const struct s4f_flow_out *rec);
/* Serves delivery reports without waiting; writes out packed batches older than their linger. */
void collector_out_poll(struct collector_out *out);
/* How long the receive loop may wait for traffic before collector_out_poll() is due. */
int collector_out_wait_ms(const struct collector_out *out, int max_ms);
/* Waits up to timeout_ms for the queued records; returns how many are still queued. */
int collector_out_flush(struct collector_out *out, int timeout_ms);
void collector_out_free(struct collector_out *out);

/* GeoIP enrichment (enrich.c): a record callback that adds the source's and destination's
 * country (s4f.src_country, s4f.dst_country: ISO 3166 codes) and autonomous system
 * (s4f.src_as, s4f.dst_as, s4f.src_as_org, s4f.dst_as_org) from MaxMind-format databases
 * (GeoLite2, DB-IP) to each flow record and hands it on to next. Fields whose address is not in
 * the database are left out. A watcher thread reopens a database whose file changed and hands it
 * to the data path without a lock or a pause (see enrich.c). collector_enrich_record runs on
 * the data-path thread only. */
enum {
    S4F_GEO_SRC_COUNTRY = 1,
    S4F_GEO_DST_COUNTRY = 2,
    S4F_GEO_SRC_AS = 4,
    S4F_GEO_DST_AS = 8,
};
struct collector_enrich_opts {
    const char *country_db, *asn_db; /* paths; NULL or "": not used (strings must outlive it) */
    unsigned fields;                 /* S4F_GEO_* */
    int64_t check_interval_ms;       /* how often the files are checked for a change */
    s4f_record_cb next;
    void *next_ctx;
    struct s4f_metrics *metrics;
};
struct collector_enrich;
/* Opens the databases now (a missing or bad file is logged; its fields stay absent until a
 * good file appears) and starts the watcher. NULL on allocation failure. */
struct collector_enrich *collector_enrich_new(const struct collector_enrich_opts *o);
/* An s4f_record_cb: ctx is a struct collector_enrich. */
void collector_enrich_record(void *ctx, const struct s4f_flow_out *rec);
/* Whether any database is configured (else records need not pass through it). */
bool collector_enrich_active(const struct collector_enrich *e);
/* Stops the watcher, closes the databases. NULL-safe. */
void collector_enrich_free(struct collector_enrich *e);
/* geoip_fields' names into S4F_GEO_* bits; 0, or -1 with a message in err. */
int collector_enrich_parse_fields(const struct s4f_strlist *l, unsigned *out, char *err,
                                  size_t errlen);

/* Inputs (input.c): every decoded record goes to on_record(record_ctx, rec); they know
 * nothing of what it does with it. */
struct collector_inputs;
struct collector_inputs *collector_inputs_new(const struct collector_conf *conf,
                                              struct s4f_decoder *dec, s4f_record_cb on_record,
                                              void *record_ctx, struct s4f_metrics *m);
/* Waits up to timeout_ms for traffic and processes what arrived. Returns datagrams/messages
 * handled. */
int collector_inputs_run_once(struct collector_inputs *in, int timeout_ms);
/* Closes the sockets (stop taking input); statistics stay readable. */
void collector_inputs_close(struct collector_inputs *in);
void collector_inputs_free(struct collector_inputs *in);
/* The bound UDP port (useful when listen asked for port 0). */
int collector_inputs_udp_port(const struct collector_inputs *in);
/* The bound sFlow UDP port, 0 when sflow_listen is empty. */
int collector_inputs_sflow_port(const struct collector_inputs *in);

/* Publishes decoder and socket statistics as metrics (stats.c); called once a second. */
struct collector_stats;
struct collector_stats *collector_stats_new(struct s4f_metrics *m);
void collector_stats_publish(struct collector_stats *st, const struct s4f_decoder *dec,
                             const struct collector_inputs *in);
void collector_stats_free(struct collector_stats *st);
uint64_t collector_inputs_kernel_drops(const struct collector_inputs *in);
uint64_t collector_inputs_truncated(const struct collector_inputs *in);

#endif
