/* The collector's Kafka output: see collector.h. */
#include "collector.h"
#include "log.h"

#include <string.h>

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
    out->m_records =
        s4f_metrics_counter(m, "records_total", "Flow records decoded and handed to Kafka", NULL);
    out->m_dropped_queue_full =
        s4f_metrics_counter(m, "records_dropped_total", "Flow records lost before Kafka, by reason",
                            "reason=\"queue_full\"");
    out->m_dropped_rejected =
        s4f_metrics_counter(m, "records_dropped_total", "Flow records lost before Kafka, by reason",
                            "reason=\"rejected\"");
    return 0;
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
    switch (
        s4f_kafka_produce(out->producer, out->topic, key, keylen, rec->json, rec->json_len, NULL)) {
    case S4F_OK:
        break;
    case S4F_RETRY:
        s4f_metric_inc(out->m_dropped_queue_full);
        s4f_warn_rl("Kafka queue full: flow record dropped (broker slow or down?)");
        break;
    case S4F_ERR:
        s4f_metric_inc(out->m_dropped_rejected);
        break;
    }
}

void collector_out_poll(struct collector_out *out)
{
    s4f_kafka_producer_poll(out->producer, 0);
}

int collector_out_flush(struct collector_out *out, int timeout_ms)
{
    return s4f_kafka_producer_flush(out->producer, timeout_ms);
}

void collector_out_free(struct collector_out *out)
{
    s4f_kafka_producer_free(out->producer);
    out->producer = NULL;
}
