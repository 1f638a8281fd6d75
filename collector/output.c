/* The collector's Kafka output: see collector.h. */
#include "collector.h"
#include "flow.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* Packed batches are written out before they pass this size, whatever packed_max_flows says. */
#define PACK_BYTES (256 * 1024)

struct collector_pack {
    uint8_t *buf; /* header, then records; PACK_BYTES + S4F_PACKED_REC_MAX allocated */
    size_t used;
    uint16_t n;
    int64_t first_ms; /* monotonic time of its first flow */
};

static void learn_partitions(struct collector_out *out);

int collector_out_init(struct collector_out *out, const struct collector_conf *conf,
                       const struct s4f_kvlist *shared, struct s4f_metrics *m, char *err,
                       size_t errlen)
{
    struct s4f_kafka_producer_opts popts = {
        .shared = shared,
        .overrides = &conf->kafka,
        .metrics = m,
        .queue_full_wait_ms = (int)conf->queue_full_wait_ms,
    };
    out->producer = s4f_kafka_producer_new(&popts, err, errlen);
    if (!out->producer)
        return -1;
    out->topic = conf->topic;
    out->key_mode = conf->key_mode;
    out->format = conf->output_format;
    out->max_flows = conf->packed_max_flows;
    out->linger_ms = conf->packed_linger_ms;
    out->m_records =
        s4f_metrics_counter(m, "records_total", "Flow records decoded and handed to Kafka", NULL);
    out->m_messages =
        s4f_metrics_counter(m, "packed_messages_total",
                            "Packed messages handed to Kafka (output_format: packed)", NULL);
    out->m_dropped_queue_full =
        s4f_metrics_counter(m, "records_dropped_total", "Flow records lost before Kafka, by reason",
                            "reason=\"queue_full\"");
    out->m_dropped_rejected =
        s4f_metrics_counter(m, "records_dropped_total", "Flow records lost before Kafka, by reason",
                            "reason=\"rejected\"");
    if (out->format == S4F_FORMAT_PACKED) {
        out->flow = malloc(sizeof(*out->flow));
        if (!out->flow) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        learn_partitions(out);
    }
    return 0;
}

/* Counts a produce() outcome for n flow records. */
static void produced(struct collector_out *out, enum s4f_status st, uint64_t n)
{
    switch (st) {
    case S4F_OK:
        break;
    case S4F_RETRY:
        s4f_metric_add(out->m_dropped_queue_full, n);
        s4f_warn_rl("Kafka queue full: flow records dropped (broker slow or down?)");
        break;
    case S4F_ERR:
        s4f_metric_add(out->m_dropped_rejected, n);
        break;
    }
}

/* Writes out pack i as one message. */
static void pack_flush(struct collector_out *out, int32_t i)
{
    struct collector_pack *k = &out->packs[i];
    if (!k->n)
        return;
    s4f_packed_header(k->buf, k->n);
    /* key_mode none: no partition of its own, the partitioner spreads the messages. */
    int32_t part = out->key_mode == S4F_KEY_NONE ? RD_KAFKA_PARTITION_UA : i;
    produced(out,
             s4f_kafka_produce_to(out->producer, out->topic, part, NULL, 0, k->buf, k->used, NULL),
             k->n);
    s4f_metric_inc(out->m_messages);
    k->n = 0;
    k->used = S4F_PACKED_HDR_LEN;
    out->pending--;
}

static void packs_free(struct collector_out *out)
{
    for (int32_t i = 0; i < out->npacks; i++)
        free(out->packs[i].buf);
    free(out->packs);
    out->packs = NULL;
    out->npacks = 0;
}

/* Learns the topic's partition count (again every minute: a topic that gained partitions
 * moves hosts, as keyed JSON records would move). A metadata round trip: milliseconds on a
 * healthy broker, on the receive loop, like librdkafka's own keyed partitioning needs. */
static void learn_partitions(struct collector_out *out)
{
    int64_t now = s4f_mono_ms();
    if (out->nparts_at && now - out->nparts_at < (out->nparts > 0 ? 60000 : 1000))
        return;
    out->nparts_at = now;
    int32_t n = s4f_kafka_partition_count(out->producer, out->topic, out->nparts > 0 ? 2000 : 500);
    if (n <= 0) {
        if (out->nparts <= 0)
            s4f_warn_rl("partition count of %s unknown yet: records go out as JSON", out->topic);
        return;
    }
    int32_t np = out->key_mode == S4F_KEY_NONE ? 1 : n;
    if (n != out->nparts) {
        for (int32_t i = 0; i < out->npacks; i++)
            pack_flush(out, i);
        packs_free(out);
        out->packs = calloc((size_t)np, sizeof(*out->packs));
        for (int32_t i = 0; out->packs && i < np; i++) {
            out->packs[i].buf = malloc(PACK_BYTES + S4F_PACKED_REC_MAX);
            out->packs[i].used = S4F_PACKED_HDR_LEN;
            out->npacks = i + 1;
            if (!out->packs[i].buf)
                break;
        }
        if (!out->packs || out->npacks != np || !out->packs[np - 1].buf) {
            s4f_error("out of memory for packed batches: records go out as JSON");
            packs_free(out);
            out->nparts = 0;
            return;
        }
        if (out->nparts > 0)
            s4f_warn("%s now has %d partitions (was %d)", out->topic, (int)n, (int)out->nparts);
        out->nparts = n;
    }
}

void collector_out_record(void *ctx, const struct s4f_flow_out *rec)
{
    struct collector_out *out = ctx;
    const void *key = NULL;
    size_t keylen = 0;

    if (out->key_mode == S4F_KEY_SOURCE && rec->src_text) {
        key = rec->src_text;
        keylen = rec->src_text_len;
    } else if (out->key_mode == S4F_KEY_EXPORTER && rec->exporter_text) {
        key = rec->exporter_text;
        keylen = strlen(rec->exporter_text);
    }
    s4f_metric_inc(out->m_records);
    if (out->format == S4F_FORMAT_PACKED && out->npacks > 0 &&
        s4f_flow_parse(rec->json, rec->json_len, out->flow, NULL) == S4F_OK) {
        /* The partition the key would have been given; a record without one (key_mode
         * source, no source address) cannot be parsed, so key is set here but for none. */
        int32_t i = key ? s4f_kafka_key_partition(key, keylen, out->nparts) : 0;
        if (i >= out->npacks)
            i = 0;
        struct collector_pack *k = &out->packs[i];
        if (!k->n) {
            k->first_ms = s4f_mono_ms();
            out->pending++;
        }
        k->used += s4f_packed_encode(out->flow, k->buf + k->used);
        k->n++;
        if (k->n >= out->max_flows || k->used > PACK_BYTES)
            pack_flush(out, i);
        return;
    }
    produced(
        out,
        s4f_kafka_produce(out->producer, out->topic, key, keylen, rec->json, rec->json_len, NULL),
        1);
}

void collector_out_poll(struct collector_out *out)
{
    s4f_kafka_producer_poll(out->producer, 0);
    if (out->format != S4F_FORMAT_PACKED)
        return;
    learn_partitions(out);
    if (!out->pending)
        return;
    int64_t now = s4f_mono_ms();
    for (int32_t i = 0; i < out->npacks && out->pending; i++)
        if (out->packs[i].n && now - out->packs[i].first_ms >= out->linger_ms)
            pack_flush(out, i);
}

int collector_out_wait_ms(const struct collector_out *out, int max_ms)
{
    if (out->format != S4F_FORMAT_PACKED)
        return max_ms;
    /* Batches waiting: back within their linger (at least 1 ms, not a busy loop). */
    if (out->pending)
        return out->linger_ms < 1 ? 1 : (int)out->linger_ms;
    return out->nparts > 0 ? max_ms : 100 < max_ms ? 100 : max_ms;
}

int collector_out_flush(struct collector_out *out, int timeout_ms)
{
    for (int32_t i = 0; i < out->npacks; i++)
        pack_flush(out, i);
    return s4f_kafka_producer_flush(out->producer, timeout_ms);
}

void collector_out_free(struct collector_out *out)
{
    s4f_kafka_producer_free(out->producer);
    out->producer = NULL;
    packs_free(out);
    free(out->flow);
    out->flow = NULL;
}
