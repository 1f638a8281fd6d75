#include "sink.h"

#include "bulk.h"
#include "es.h"
#include "kafka.h"
#include "log.h"
#include "retention.h"
#include "templates.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* clang-format off */
const struct s4f_opt s4f_sink_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct s4f_sink_conf, "127.0.0.1:9103"),
    {"topics", S4F_OPT_LIST, "results.output", 0, 0, offsetof(struct s4f_sink_conf, topics),
     "Kafka topics of analysis results to index", NULL},
    {"group_id", S4F_OPT_STRING, "s4f-sink", 0, 0, offsetof(struct s4f_sink_conf, group_id),
     "Kafka consumer group; sinks sharing it share the partitions", NULL},
    {"kafka", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct s4f_sink_conf, kafka),
     "librdkafka properties for this daemon only, applied over the shared kafka: section", NULL},
    {"bulk_max_docs", S4F_OPT_INT, "5000", 1, 100000, offsetof(struct s4f_sink_conf, bulk_max_docs),
     "A bulk request is sent when it holds this many documents (also the batch bound: memory)", NULL},
    {"bulk_max_bytes", S4F_OPT_SIZE, "5M", 1024, 100 << 20,
     offsetof(struct s4f_sink_conf, bulk_max_bytes),
     "A bulk request is sent when its documents reach this many bytes", NULL},
    {"bulk_max_delay", S4F_OPT_DURATION, "1s", 1, 600000,
     offsetof(struct s4f_sink_conf, bulk_max_delay_ms),
     "A bulk request is sent when its first document has waited this long", NULL},
    {"gzip", S4F_OPT_BOOL, "false", 0, 0, offsetof(struct s4f_sink_conf, gzip),
     "Compress bulk request bodies (saves bandwidth to a remote cluster, costs CPU)", NULL},
    {"retry_initial", S4F_OPT_DURATION, "100ms", 1, 600000,
     offsetof(struct s4f_sink_conf, retry_initial_ms),
     "First back-off after a failed bulk request; it doubles up to retry_max, with jitter", NULL},
    {"retry_max", S4F_OPT_DURATION, "10s", 1, 3600000,
     offsetof(struct s4f_sink_conf, retry_max_ms),
     "Longest back-off between attempts while Elasticsearch is down or overloaded", NULL},
    {"deadletter_topic", S4F_OPT_STRING, "results.deadletter", 0, 0,
     offsetof(struct s4f_sink_conf, deadletter_topic),
     "Kafka topic receiving documents Elasticsearch refuses for good, with the reason; empty: "
     "log and count only", NULL},
    {"retention", S4F_OPT_DURATION, "30d", 0, 0, offsetof(struct s4f_sink_conf, retention_ms),
     "Daily indices whose day is older than this are deleted; 0 keeps every past day (days "
     "beyond max_future plus one are deleted whatever this says)", NULL},
    {"maintenance_interval", S4F_OPT_DURATION, "1h", 1000, 86400000,
     offsetof(struct s4f_sink_conf, maintenance_interval_ms),
     "How often templates are checked and retention applied (also at start)", NULL},
    {"max_future", S4F_OPT_DURATION, "1h", 60000, 86400000 * 2.0,
     offsetof(struct s4f_sink_conf, max_future_ms),
     "Results (and flows) whose event time lies further than this ahead of the wall clock are "
     "dead-lettered; must exceed the workers' max_future plus the longest window", NULL},
    {"max_age", S4F_OPT_DURATION, "30d", 60000, 86400000 * 3650.0,
     offsetof(struct s4f_sink_conf, max_age_ms),
     "Results (and flows) whose event time is older than this are dead-lettered; raise it to "
     "index replays of old captures", NULL},
    {"index_flows", S4F_OPT_BOOL, "false", 0, 0, offsetof(struct s4f_sink_conf, index_flows),
     "Also index the raw flow records of flows_topic into <prefix>-flows-YYYY.MM.DD", NULL},
    {"flows_topic", S4F_OPT_STRING, "ipfix.entry", 0, 0,
     offsetof(struct s4f_sink_conf, flows_topic),
     "Topic of the raw flow records (used with index_flows)", NULL},
    {"capture_file", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_sink_conf, capture_file),
     "Test hook: append every bulk request body, exactly as sent before compression, to this "
     "file", NULL},
    S4F_OPT_END,
};
/* clang-format on */

#define FULL_MAX    256 /* indices remembered as holding documents */
#define UNBLOCK_MAX 16  /* write blocks waiting to be lifted */

enum item_state {
    IT_PENDING,       /* to send to Elasticsearch */
    IT_DONE,          /* acknowledged by Elasticsearch */
    IT_DEAD_TODO,     /* to produce to the dead-letter topic */
    IT_DEAD_INFLIGHT, /* produced, waiting for the broker's acknowledgement */
    IT_DEAD_DONE,     /* dead letter acknowledged (or dead-lettering disabled) */
    IT_DROPPED,       /* partition revoked: its new owner reads it again */
};

struct item {
    rd_kafka_message_t *msg;
    struct s4f_doc_meta meta;
    enum item_state state;
    bool meta_ok;    /* meta is filled (the document passed the checks) */
    bool dl_minimal; /* the full dead letter was refused: send it without the document */
    int status;      /* HTTP status of the refusal, 0 for a document we refused ourselves */
    char *reason;
};

struct s4f_sink {
    struct s4f_daemon *d;
    const struct s4f_sink_conf *conf;
    const char *prefix;
    struct s4f_es_client *es;
    struct s4f_kafka_producer *dl;
    struct s4f_kafka_consumer *cons;

    struct item *items;
    size_t nitems, cap;
    size_t batch_bytes;
    int64_t batch_first_ms;
    uint32_t gen; /* batch generation: late delivery reports of an older batch are ignored */
    size_t req_limit;
    size_t *sent;
    struct s4f_bulk_item_result *results;
    struct s4f_buf body;
    struct s4f_es_response resp;
    FILE *capture;

    /* Messages the consumer returned while partitions were being paused: they open the next
     * batch. Bounded by the consumer's prefetch (queued.max.messages.kbytes). */
    struct s4f_kafka_held held;

    bool es_up;
    int64_t last_bulk_ok_ms; /* when a bulk request last went through whole (mono) */
    int64_t es_down_since;
    int64_t next_maintenance;
    unsigned rng;

    /* Indices known to hold a document (stored by this sink or found non-empty): a refused
     * document's index is checked for emptiness only when it is not one of these. Cleared at
     * each maintenance (retention may have deleted some). */
    char (*full)[S4F_BULK_INDEX_MAX];
    size_t nfull;
    /* Indices drop_if_empty() write-blocked and could not unblock yet (node unreachable). */
    char unblock[UNBLOCK_MAX][S4F_BULK_INDEX_MAX];
    size_t nunblock;

    struct s4f_metric *m_indexed, *m_retried, *m_dead_mapping, *m_dead_invalid, *m_dead_type,
        *m_dead_time, *m_dead_lost, *m_empty_deleted, *m_bulk_ok, *m_bulk_partial, *m_bulk_failed,
        *m_bulk_ms_sum, *m_bulk_ms_last, *m_inflight, *m_es_up, *m_tpl_installed, *m_tpl_unchanged,
        *m_deleted, *m_commits, *m_bytes_sent, *m_batches, *m_fenced;
};

static const char *const sink_consumer_defaults[] = {
    /* Bounded prefetch: what the consumer buffers while a flush waits on Elasticsearch. */
    "queued.max.messages.kbytes",
    "16384",
    /* A flush may wait out an outage; polls keep the membership, but leave room. */
    "max.poll.interval.ms",
    "600000",
    NULL,
};

/* ---- metrics ---------------------------------------------------------------------------- */

static void metrics_init(struct s4f_sink *s)
{
    struct s4f_metrics *m = s->d->metrics;
    char l[128];
    s->m_indexed = s4f_metrics_counter(m, "docs_indexed_total",
                                       "Documents acknowledged by Elasticsearch", NULL);
    s->m_fenced = s4f_metrics_counter(
        m, "docs_fenced_total",
        "Results refused as stale (409 version conflict): the document holds a later worker "
        "epoch (docs/worker.md, fencing); neither retried nor dead-lettered",
        NULL);
    s->m_retried =
        s4f_metrics_counter(m, "docs_retried_total",
                            "Document sends that must be repeated (429, 5xx, node down)", NULL);
    s->m_dead_mapping =
        s4f_metrics_counter(m, "docs_deadlettered_total", "Documents sent to the dead-letter topic",
                            s4f_metrics_labels(l, sizeof(l), "reason", "rejected", NULL));
    s->m_dead_invalid =
        s4f_metrics_counter(m, "docs_deadlettered_total", "Documents sent to the dead-letter topic",
                            s4f_metrics_labels(l, sizeof(l), "reason", "invalid", NULL));
    s->m_dead_type =
        s4f_metrics_counter(m, "docs_deadlettered_total", "Documents sent to the dead-letter topic",
                            s4f_metrics_labels(l, sizeof(l), "reason", "unknown_type", NULL));
    s->m_dead_time =
        s4f_metrics_counter(m, "docs_deadlettered_total", "Documents sent to the dead-letter topic",
                            s4f_metrics_labels(l, sizeof(l), "reason", "time_out_of_bounds", NULL));
    s->m_empty_deleted = s4f_metrics_counter(
        m, "empty_indices_deleted_total",
        "Indices deleted because Elasticsearch created them for a document it then refused", NULL);
    s->m_dead_lost = s4f_metrics_counter(
        m, "deadletter_lost_total",
        "Dead letters Kafka refused even without the document (logged, then skipped)", NULL);
    s->m_bulk_ok = s4f_metrics_counter(m, "bulk_requests_total", "Bulk requests by outcome",
                                       s4f_metrics_labels(l, sizeof(l), "result", "ok", NULL));
    s->m_bulk_partial =
        s4f_metrics_counter(m, "bulk_requests_total", "Bulk requests by outcome",
                            s4f_metrics_labels(l, sizeof(l), "result", "partial", NULL));
    s->m_bulk_failed =
        s4f_metrics_counter(m, "bulk_requests_total", "Bulk requests by outcome",
                            s4f_metrics_labels(l, sizeof(l), "result", "failed", NULL));
    s->m_bulk_ms_sum = s4f_metrics_counter(
        m, "bulk_latency_milliseconds_sum",
        "Total time spent in answered bulk requests (divide by bulk_requests_total)", NULL);
    s->m_bulk_ms_last = s4f_metrics_gauge(m, "bulk_latency_milliseconds_last",
                                          "Duration of the last answered bulk request", NULL);
    s->m_bytes_sent = s4f_metrics_counter(m, "bulk_bytes_total",
                                          "Bytes of bulk bodies sent, before compression", NULL);
    s->m_inflight = s4f_metrics_gauge(
        m, "inflight_docs", "Documents consumed but not yet stored or dead-lettered", NULL);
    s->m_es_up = s4f_metrics_gauge(m, "elasticsearch_up",
                                   "1 when the last request reached a node, 0 otherwise", NULL);
    s->m_tpl_installed = s4f_metrics_counter(m, "templates_installed_total",
                                             "Templates written because missing or changed", NULL);
    s->m_tpl_unchanged = s4f_metrics_counter(m, "templates_unchanged_total",
                                             "Template checks that found the same content", NULL);
    s->m_deleted =
        s4f_metrics_counter(m, "indices_deleted_total", "Daily indices deleted by retention", NULL);
    s->m_commits =
        s4f_metrics_counter(m, "offset_commits_total", "Offset commits after a stored batch", NULL);
    s->m_batches = s4f_metrics_counter(m, "batches_total", "Batches fully resolved", NULL);
}

static void set_es_up(struct s4f_sink *s, bool up, const char *why)
{
    if (up == s->es_up)
        return;
    s->es_up = up;
    s4f_metric_set(s->m_es_up, up ? 1 : 0);
    if (up) {
        s4f_info("elasticsearch reachable again after %lld ms",
                 (long long)(s4f_mono_ms() - s->es_down_since));
        s4f_metrics_set_health(s->d->metrics, 1, "");
    } else {
        s->es_down_since = s4f_mono_ms();
        s4f_error("elasticsearch unreachable (%s): pausing consumption, retrying", why);
        s4f_metrics_set_health(s->d->metrics, 0, "elasticsearch unreachable");
    }
}

/* ---- keep-alive ---------------------------------------------------------------------------- */

static void serve_deadletters(void *ctx)
{
    struct s4f_sink *s = ctx;
    if (s->dl)
        s4f_kafka_producer_poll(s->dl, 0);
}

/* Waits ms while keeping the consumer group membership: partitions stay paused, polls serve
 * rebalances and heartbeats, and delivery reports of dead letters are served too. Returns early
 * when the daemon must stop at once. */
static void wait_alive(struct s4f_sink *s, int64_t ms)
{
    if (s->cons) {
        s4f_kafka_consumer_wait_paused(s->cons, ms, &s->held, serve_deadletters, s);
        return;
    }
    int64_t end = s4f_mono_ms() + ms;
    for (;;) { /* before joining the group */
        serve_deadletters(s);
        int64_t left = end - s4f_mono_ms();
        if (left <= 0 || s4f_daemon_stopping() == 2)
            return;
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int64_t backoff_ms(struct s4f_sink *s, int attempt)
{
    int64_t d = s->conf->retry_initial_ms;
    for (int i = 0; i < attempt && d < s->conf->retry_max_ms; i++)
        d *= 2;
    if (d > s->conf->retry_max_ms)
        d = s->conf->retry_max_ms;
    /* Full jitter over the upper half: sinks restarting together do not retry in lockstep. */
    s->rng = s->rng * 1103515245u + 12345u;
    return d / 2 + (int64_t)((s->rng >> 8) % (uint64_t)(d / 2 + 1));
}

/* ---- batch -------------------------------------------------------------------------------- */

static void item_release(struct item *it)
{
    if (it->msg)
        rd_kafka_message_destroy(it->msg);
    free(it->reason);
    memset(it, 0, sizeof(*it));
}

static void batch_clear(struct s4f_sink *s)
{
    for (size_t i = 0; i < s->nitems; i++)
        item_release(&s->items[i]);
    s->nitems = 0;
    s->batch_bytes = 0;
    s->gen++;
    s4f_metric_set(s->m_inflight, 0);
}

static void set_reason(struct item *it, int status, const char *reason)
{
    free(it->reason);
    it->reason = strdup(reason);
    it->status = status;
}

/* The external version of a result from its s4f-epoch header (bulk.h): none without the header
 * (workers before fencing: indexed as before). 0, or -1 with a reason when the header is there
 * but no epoch (the result is dead-lettered: indexed without its version it could replace a
 * newer owner's). */
static int result_version(rd_kafka_message_t *msg, struct s4f_doc_meta *meta, char *reason,
                          size_t reasonlen)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t len = 0;
    meta->version = 0;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, S4F_EPOCH_HEADER, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (s4f_bulk_epoch_version(val, len, &meta->version) == 0)
        return 0;
    meta->refused = S4F_REFUSE_INVALID;
    snprintf(reason, reasonlen, "invalid %s header (want a decimal epoch 1-%d)", S4F_EPOCH_HEADER,
             S4F_EPOCH_MAX);
    return -1;
}

static void batch_add(struct s4f_sink *s, rd_kafka_message_t *msg)
{
    struct item *it = &s->items[s->nitems++];
    char reason[S4F_BULK_REASON_MAX];
    const char *topic = rd_kafka_topic_name(msg->rkt);
    enum s4f_doc_kind kind = s->conf->index_flows && strcmp(topic, s->conf->flows_topic) == 0
                                 ? S4F_DOC_FLOW
                                 : S4F_DOC_RESULT;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);

    const struct s4f_bulk_checks checks = {
        .now_ms = s4f_wall_ms(),
        .max_future_ms = s->conf->max_future_ms,
        .max_age_ms = s->conf->max_age_ms,
        .type_known = s4f_tpl_result_type,
    };

    memset(it, 0, sizeof(*it));
    it->msg = msg;
    if (s->nitems == 1)
        s->batch_first_ms = s4f_mono_ms();
    if (s4f_bulk_doc_meta(kind, s->prefix, msg->payload, msg->len, topic, msg->partition,
                          msg->offset, ts, &checks, &it->meta, reason, sizeof(reason)) == S4F_OK &&
        (kind != S4F_DOC_RESULT || result_version(msg, &it->meta, reason, sizeof(reason)) == 0)) {
        it->meta_ok = true;
        it->state = IT_PENDING;
    } else {
        s4f_warn_rl("%s[%d]@%lld: unusable document, dead-lettered: %s", topic, (int)msg->partition,
                    (long long)msg->offset, reason);
        set_reason(it, 0, reason);
        it->state = IT_DEAD_TODO;
        s4f_metric_inc(it->meta.refused == S4F_REFUSE_TYPE   ? s->m_dead_type
                       : it->meta.refused == S4F_REFUSE_TIME ? s->m_dead_time
                                                             : s->m_dead_invalid);
    }
    s->batch_bytes += msg->len + 128;
    s4f_metric_set(s->m_inflight, (int64_t)s->nitems);
}

/* ---- dead letters ------------------------------------------------------------------------- */

static void on_dl_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    struct s4f_sink *s = ctx;
    uintptr_t v = (uintptr_t)opaque;
    uint32_t gen = (uint32_t)(v >> 32);
    size_t idx = (size_t)(v & 0xffffffffu);
    if (gen != s->gen || idx >= s->nitems || s->items[idx].state != IT_DEAD_INFLIGHT)
        return;
    if (err) {
        /* librdkafka gave up after its own retries (message.timeout.ms): produce again. */
        s->items[idx].state = IT_DEAD_TODO;
        return;
    }
    s->items[idx].state = IT_DEAD_DONE;
}

static char *deadletter_json(const struct item *it, const char *prefix)
{
    const rd_kafka_message_t *m = it->msg;
    char when[32];
    json_t *o = json_object();
    json_t *src = json_object();
    if (!o || !src) {
        json_decref(o);
        json_decref(src);
        return NULL;
    }
    json_object_set_new(o, "@type", json_string("s4f.deadletter"));
    json_object_set_new(o, "@timestamp", json_string(s4f_iso8601_ms(s4f_wall_ms(), when, 32)));
    json_object_set_new(o, "reason", json_string(it->reason ? it->reason : "unknown"));
    json_object_set_new(o, "status", json_integer(it->status));
    json_object_set_new(src, "topic", json_string(rd_kafka_topic_name(m->rkt)));
    json_object_set_new(src, "partition", json_integer(m->partition));
    json_object_set_new(src, "offset", json_integer(m->offset));
    json_object_set_new(o, "source", src);
    if (it->meta_ok) {
        json_object_set_new(o, "index", json_string(it->meta.index));
        json_object_set_new(o, "id", json_string(it->meta.id));
    }
    (void)prefix;
    if (!it->dl_minimal && m->payload) {
        /* The original travels as it was: a JSON object when it is one, else as text. */
        json_t *doc = json_loadb(m->payload, m->len, 0, NULL);
        if (!json_is_object(doc)) {
            json_decref(doc);
            doc = json_stringn(m->payload, m->len); /* NULL unless valid UTF-8 */
        }
        json_object_set_new(o, "document", doc ? doc : json_string("(not valid UTF-8)"));
    }
    char *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return out;
}

/* Produces every IT_DEAD_TODO item. S4F_OK or S4F_RETRY (queue full: wait and call again). */
static enum s4f_status produce_deadletters(struct s4f_sink *s)
{
    for (size_t i = 0; i < s->nitems; i++) {
        struct item *it = &s->items[i];
        if (it->state != IT_DEAD_TODO)
            continue;
        if (!s->dl) {
            it->state = IT_DEAD_DONE;
            continue;
        }
        char *payload = deadletter_json(it, s->prefix);
        if (!payload)
            return S4F_RETRY;
        void *opaque = (void *)(((uintptr_t)s->gen << 32) | (uintptr_t)i);
        const char *key = it->meta_ok ? it->meta.id : NULL;
        it->state = IT_DEAD_INFLIGHT;
        enum s4f_status st =
            s4f_kafka_produce(s->dl, s->conf->deadletter_topic, key, key ? strlen(key) : 0, payload,
                              strlen(payload), opaque);
        free(payload);
        if (st == S4F_RETRY) {
            it->state = IT_DEAD_TODO;
            return S4F_RETRY;
        }
        if (st == S4F_ERR) {
            if (!it->dl_minimal) {
                it->dl_minimal = true; /* too large? try once more without the document */
                it->state = IT_DEAD_TODO;
                i--;
                continue;
            }
            s4f_error_rl("dead letter for %s[%d]@%lld refused by Kafka: skipped (%s)",
                         rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
                         (long long)it->msg->offset, it->reason);
            s4f_metric_inc(s->m_dead_lost);
            it->state = IT_DEAD_DONE;
        }
    }
    return S4F_OK;
}

/* ---- indices left behind by refused documents ------------------------------------------- */

static bool full_has(const struct s4f_sink *s, const char *index)
{
    for (size_t i = 0; i < s->nfull; i++)
        if (strcmp(s->full[i], index) == 0)
            return true;
    return false;
}

static void full_add(struct s4f_sink *s, const char *index)
{
    if (s->nfull < FULL_MAX && !full_has(s, index))
        s4f_strlcpy(s->full[s->nfull++], index, S4F_BULK_INDEX_MAX);
}

/* Lifts the write block put by drop_if_empty(). 0, or -1 (kept for a later attempt). */
static int unblock(struct s4f_sink *s, const char *index)
{
    static const char body[] = "{\"index.blocks.write\":null}";
    char path[S4F_BULK_INDEX_MAX + 32];
    struct s4f_es_response r = {0};
    snprintf(path, sizeof(path), "/%s/_settings", index);
    int rc = s4f_es_request(s->es, "PUT", path, NULL, body, sizeof(body) - 1, &r) == S4F_OK &&
                     (r.status == 200 || r.status == 404)
                 ? 0
                 : -1;
    if (rc != 0)
        s4f_warn_rl("index %s: cannot lift its write block yet (HTTP %ld %s): retrying", index,
                    r.status, r.error);
    s4f_es_response_free(&r);
    return rc;
}

static void unblock_pending(struct s4f_sink *s)
{
    size_t w = 0;
    for (size_t i = 0; i < s->nunblock; i++)
        if (unblock(s, s->unblock[i]) != 0)
            memmove(s->unblock[w++], s->unblock[i], S4F_BULK_INDEX_MAX);
    s->nunblock = w;
}

/* Elasticsearch creates the index of a document before it parses it, so a refused document
 * leaves an empty index behind: a way to create indices at will. When a refused document's
 * index holds nothing, delete it. Race-free against documents other sinks write meanwhile: the
 * index is write-blocked first (the _block API waits for in-flight writes), refreshed and
 * counted; writes that meet the block get cluster_block_exception, which every sink retries, and
 * they recreate the index after the deletion. An index found non-empty is unblocked. */
static void drop_if_empty(struct s4f_sink *s, const char *index)
{
    char path[S4F_BULK_INDEX_MAX + 32];
    struct s4f_es_response r = {0};
    json_t *answer = NULL, *count;

    snprintf(path, sizeof(path), "/%s/_block/write", index);
    if (s4f_es_request(s->es, "PUT", path, NULL, NULL, 0, &r) != S4F_OK || r.status != 200) {
        if (r.status != 404)
            s4f_warn_rl("index %s: cannot check it for emptiness (HTTP %ld %s)", index, r.status,
                        r.error);
        goto out;
    }
    snprintf(path, sizeof(path), "/%s/_refresh", index);
    if (s4f_es_request(s->es, "POST", path, NULL, NULL, 0, &r) != S4F_OK || r.status != 200)
        goto lift;
    snprintf(path, sizeof(path), "/%s/_count", index);
    if (s4f_es_request(s->es, "GET", path, NULL, NULL, 0, &r) != S4F_OK || r.status != 200)
        goto lift;
    answer = json_loadb(r.body.p, r.body.len, 0, NULL);
    count = json_object_get(answer, "count");
    if (!json_is_integer(count) || json_integer_value(count) != 0) {
        full_add(s, index);
        goto lift;
    }
    snprintf(path, sizeof(path), "/%s", index);
    if (s4f_es_request(s->es, "DELETE", path, NULL, NULL, 0, &r) == S4F_OK &&
        (r.status == 200 || r.status == 404)) {
        s4f_log_rl(S4F_LOG_INFO,
                   "deleted index %s: created for a refused document, it holds nothing", index);
        s4f_metric_inc(s->m_empty_deleted);
        goto out;
    }
lift:
    if (unblock(s, index) != 0) {
        if (s->nunblock < UNBLOCK_MAX)
            s4f_strlcpy(s->unblock[s->nunblock++], index, S4F_BULK_INDEX_MAX);
        else
            s4f_error_rl("index %s stays write-blocked: lift it with PUT /%s/_settings "
                         "{\"index.blocks.write\":null}",
                         index, index);
    }
out:
    json_decref(answer);
    s4f_es_response_free(&r);
}

/* ---- bulk requests ------------------------------------------------------------------------ */

static void capture(struct s4f_sink *s)
{
    if (!s->capture)
        return;
    if (fwrite(s->body.p, 1, s->body.len, s->capture) != s->body.len || fflush(s->capture) != 0)
        s4f_warn_rl("capture_file: write failed");
}

/* Sends up to req_limit pending items. S4F_OK: every sent item is resolved (or the request was
 * split and can be resent at once); S4F_RETRY: some or all must wait for a back-off. */
static enum s4f_status send_some(struct s4f_sink *s)
{
    size_t n = 0;
    s4f_buf_reset(&s->body);
    for (size_t i = 0; i < s->nitems && n < s->req_limit; i++) {
        struct item *it = &s->items[i];
        if (it->state != IT_PENDING)
            continue;
        if (s4f_bulk_append(&s->body, &it->meta, it->msg->payload, it->msg->len) != 0) {
            s4f_error_rl("out of memory building a bulk request");
            return S4F_RETRY;
        }
        s->sent[n++] = i;
    }
    if (n == 0)
        return S4F_OK;
    capture(s);
    s4f_metric_add(s->m_bytes_sent, s->body.len);
    /* filter_path keeps the answer small: status and error of each item are all we read. */
    static const char path[] =
        "/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason";
    enum s4f_status st = s4f_es_request(s->es, "POST", path, "application/x-ndjson", s->body.p,
                                        s->body.len, &s->resp);
    if (st != S4F_OK) {
        set_es_up(s, false, s->resp.error);
        s4f_metric_inc(s->m_bulk_failed);
        s4f_metric_add(s->m_retried, n);
        return S4F_RETRY;
    }
    set_es_up(s, true, NULL);
    int64_t ms = (int64_t)(s->resp.seconds * 1000.0);
    s4f_metric_add(s->m_bulk_ms_sum, (uint64_t)ms);
    s4f_metric_set(s->m_bulk_ms_last, ms);
    long status = s->resp.status;
    if ((status == 413 || status == 400) && n > 1) {
        /* Too big, or one document breaks the whole request: halve until it passes or the
         * culprit stands alone. */
        s->req_limit = n / 2;
        s4f_warn_rl("bulk request of %zu documents refused with HTTP %ld: splitting", n, status);
        s4f_metric_inc(s->m_bulk_failed);
        return S4F_OK;
    }
    /* A lone document refused as a whole request is the culprit: too large (413), or unreadable
     * for a node that otherwise takes bulk requests. If nothing went through lately, the node
     * (or a proxy) refuses everything: keep the document and retry rather than dead-letter the
     * whole stream. */
    if (status == 413 ||
        (status == 400 && s->last_bulk_ok_ms && s4f_mono_ms() - s->last_bulk_ok_ms < 600000)) {
        char reason[S4F_BULK_REASON_MAX];
        snprintf(reason, sizeof(reason), "%ld request refused: %.200s", status, s->resp.body.p);
        set_reason(&s->items[s->sent[0]], (int)status, reason);
        s->items[s->sent[0]].state = IT_DEAD_TODO;
        s4f_metric_inc(s->m_dead_mapping);
        s4f_metric_inc(s->m_bulk_failed);
        return S4F_OK;
    }
    if (status != 200 ||
        s4f_bulk_parse_response(s->resp.body.p, s->resp.body.len, n, s->results) != S4F_OK) {
        s4f_warn_rl("bulk request to %s: HTTP %ld: %.200s", s->resp.node, status, s->resp.body.p);
        s4f_metric_inc(s->m_bulk_failed);
        s4f_metric_add(s->m_retried, n);
        return S4F_RETRY;
    }
    size_t retry = 0, dead = 0;
    for (size_t k = 0; k < n; k++) {
        struct item *it = &s->items[s->sent[k]];
        const struct s4f_bulk_item_result *r = &s->results[k];
        if (r->outcome == S4F_ITEM_OK) {
            it->state = IT_DONE;
            full_add(s, it->meta.index);
            s4f_metric_inc(s->m_indexed);
        } else if (r->outcome == S4F_ITEM_FENCED) {
            /* A zombie worker's stale result: the stored one is newer. Done, not an error. */
            it->state = IT_DONE;
            full_add(s, it->meta.index);
            s4f_metric_inc(s->m_fenced);
            s4f_log_rl(S4F_LOG_INFO, "%s[%d]@%lld id %s: stale epoch %lld, fenced (%s)",
                       rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
                       (long long)it->msg->offset, it->meta.id, (long long)(it->meta.version >> 32),
                       r->reason);
        } else if (r->outcome == S4F_ITEM_RETRY) {
            retry++;
        } else {
            s4f_warn_rl("%s[%d]@%lld id %s refused by %s, dead-lettered: %s",
                        rd_kafka_topic_name(it->msg->rkt), (int)it->msg->partition,
                        (long long)it->msg->offset, it->meta.id, it->meta.index, r->reason);
            set_reason(it, r->status, r->reason);
            it->state = IT_DEAD_TODO;
            s4f_metric_inc(s->m_dead_mapping);
            dead++;
        }
    }
    /* Only documents that go through may create indices: remove what refused ones created. */
    for (size_t k = 0; dead && k < n; k++) {
        const struct item *it = &s->items[s->sent[k]];
        if (s->results[k].outcome == S4F_ITEM_DEAD && !full_has(s, it->meta.index))
            drop_if_empty(s, it->meta.index);
    }
    if (retry) {
        s4f_warn_rl("bulk request: %zu of %zu documents must be retried (first: %s)", retry, n,
                    s->results[0].reason);
        s4f_metric_inc(s->m_bulk_partial);
        s4f_metric_add(s->m_retried, retry);
        return S4F_RETRY;
    }
    s4f_metric_inc(dead ? s->m_bulk_partial : s->m_bulk_ok);
    s->last_bulk_ok_ms = s4f_mono_ms();
    /* A request that went through whole may grow back after a split. */
    if (s->req_limit < (size_t)s->conf->bulk_max_docs)
        s->req_limit = s->req_limit * 2 < (size_t)s->conf->bulk_max_docs
                           ? s->req_limit * 2
                           : (size_t)s->conf->bulk_max_docs;
    return S4F_OK;
}

/* ---- commit ------------------------------------------------------------------------------- */

static bool assigned(const rd_kafka_topic_partition_list_t *a, const char *topic, int32_t part)
{
    return a && rd_kafka_topic_partition_list_find(a, topic, part) != NULL;
}

static void commit_batch(struct s4f_sink *s)
{
    rd_kafka_t *rk = s4f_kafka_consumer_handle(s->cons);
    rd_kafka_topic_partition_list_t *a = NULL, *offs = rd_kafka_topic_partition_list_new(8);
    if (rd_kafka_assignment(rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR)
        a = NULL;
    for (size_t i = 0; i < s->nitems; i++) {
        const struct item *it = &s->items[i];
        if (it->state == IT_DROPPED)
            continue;
        const char *topic = rd_kafka_topic_name(it->msg->rkt);
        /* A revoked partition belongs to another sink now: its offsets are not ours. */
        if (!assigned(a, topic, it->msg->partition))
            continue;
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offs, topic, it->msg->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(offs, topic, it->msg->partition);
        if (it->msg->offset + 1 > p->offset)
            p->offset = it->msg->offset + 1;
    }
    if (offs->cnt > 0 && s4f_kafka_consumer_commit(s->cons, offs) == S4F_OK)
        s4f_metric_inc(s->m_commits);
    rd_kafka_topic_partition_list_destroy(offs);
    if (a)
        rd_kafka_topic_partition_list_destroy(a);
}

static void on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_sink *s = ctx;
    for (size_t i = 0; i < s->nitems; i++) {
        struct item *it = &s->items[i];
        if ((it->state == IT_PENDING || it->state == IT_DEAD_TODO) &&
            assigned(parts, rd_kafka_topic_name(it->msg->rkt), it->msg->partition))
            it->state = IT_DROPPED;
    }
    s4f_kafka_held_drop(&s->held, parts);
}

/* ---- flush -------------------------------------------------------------------------------- */

static bool resolved(const struct s4f_sink *s, size_t *pending, size_t *dl_wait)
{
    *pending = *dl_wait = 0;
    for (size_t i = 0; i < s->nitems; i++) {
        enum item_state st = s->items[i].state;
        if (st == IT_PENDING)
            (*pending)++;
        else if (st == IT_DEAD_TODO || st == IT_DEAD_INFLIGHT)
            (*dl_wait)++;
    }
    return *pending == 0 && *dl_wait == 0;
}

/* Resolves the open batch: every document stored or dead-lettered, then commits its offsets.
 * 0 when done, -1 when abandoned because the daemon must stop at once (nothing committed: the
 * documents are read again at the next start). */
static int flush(struct s4f_sink *s)
{
    int attempt = 0;
    size_t pending, dl_wait;
    if (s->nitems == 0)
        return 0;
    s->req_limit = (size_t)s->conf->bulk_max_docs;
    for (;;) {
        bool failed = false;
        if (!resolved(s, &pending, &dl_wait) && pending > 0 && send_some(s) != S4F_OK)
            failed = true;
        if (produce_deadletters(s) != S4F_OK)
            failed = true;
        if (s->dl)
            s4f_kafka_producer_poll(s->dl, 0);
        if (s->nunblock)
            unblock_pending(s);
        if (resolved(s, &pending, &dl_wait))
            break;
        if (s4f_daemon_stopping() == 2) {
            s4f_warn("stopping with %zu documents not stored: they will be read again", pending);
            return -1;
        }
        if (failed)
            wait_alive(s, backoff_ms(s, attempt++));
        else if (pending == 0)
            wait_alive(s, 20); /* only dead letters in flight: let Kafka acknowledge them */
        else
            attempt = 0;
    }
    commit_batch(s);
    s4f_metric_inc(s->m_batches);
    batch_clear(s);
    if (s->cons)
        s4f_kafka_consumer_pause_all(s->cons, false);
    return 0;
}

/* ---- maintenance -------------------------------------------------------------------------- */

/* Templates, then retention. S4F_ERR only when the node refuses a template. */
static enum s4f_status maintenance(struct s4f_sink *s)
{
    struct s4f_tpl_result r;
    char err[512];
    enum s4f_status st = s4f_tpl_install(s->es, s->prefix, &r, err, sizeof(err));
    s4f_metric_add(s->m_tpl_installed, (uint64_t)r.installed);
    s4f_metric_add(s->m_tpl_unchanged, (uint64_t)r.unchanged);
    if (st != S4F_OK) {
        if (st == S4F_ERR)
            s4f_error("index templates: %s", err);
        else
            s4f_warn_rl("index templates: %s", err);
        return st;
    }
    /* Always: besides expired days (none when retention is 0) it removes future-dated ones. */
    int deleted = 0;
    s4f_retention_run(s->es, s->prefix, s->conf->retention_ms, s->conf->max_future_ms,
                      s4f_wall_ms(), &deleted);
    s4f_metric_add(s->m_deleted, (uint64_t)deleted);
    s->nfull = 0; /* retention may have deleted some */
    unblock_pending(s);
    s->next_maintenance = s4f_mono_ms() + s->conf->maintenance_interval_ms;
    return S4F_OK;
}

/* ---- life cycle --------------------------------------------------------------------------- */

struct s4f_sink *s4f_sink_new(struct s4f_daemon *d, const struct s4f_sink_conf *conf)
{
    char err[512];
    struct s4f_sink *s = calloc(1, sizeof(*s));
    if (!s) {
        s4f_error("out of memory");
        return NULL;
    }
    s->d = d;
    s->conf = conf;
    s->prefix = d->es.index_prefix;
    s->es_up = true;
    s->rng = (unsigned)s4f_mono_ms() ^ (unsigned)getpid();
    s->cap = (size_t)conf->bulk_max_docs;
    s->items = calloc(s->cap, sizeof(*s->items));
    s->sent = calloc(s->cap, sizeof(*s->sent));
    s->results = calloc(s->cap, sizeof(*s->results));
    s->full = calloc(FULL_MAX, sizeof(*s->full));
    if (!s->items || !s->sent || !s->results || !s->full) {
        s4f_error("out of memory");
        goto fail;
    }
    metrics_init(s);
    s4f_metric_set(s->m_es_up, 1);
    struct s4f_es_client_opts eo = {.gzip = conf->gzip, .user_agent = "s4f-sink"};
    if (!(s->es = s4f_es_client_new(&d->es, &eo, err, sizeof(err)))) {
        s4f_error("elasticsearch: %s", err);
        goto fail;
    }
    if (conf->deadletter_topic && *conf->deadletter_topic) {
        struct s4f_kafka_producer_opts po = {
            .shared = &d->kafka,
            .overrides = &conf->kafka,
            .metrics = d->metrics,
            .queue_full_wait_ms = 100,
            .on_delivery = on_dl_delivery,
            .ctx = s,
        };
        if (!(s->dl = s4f_kafka_producer_new(&po, err, sizeof(err)))) {
            s4f_error("dead-letter producer: %s", err);
            goto fail;
        }
    }
    if (conf->capture_file && !(s->capture = fopen(conf->capture_file, "a"))) {
        s4f_error("capture_file %s: cannot open", conf->capture_file);
        goto fail;
    }
    return s;
fail:
    s4f_sink_free(s);
    return NULL;
}

static int join_group(struct s4f_sink *s)
{
    char err[512];
    const char *topics[66];
    size_t n = 0;
    for (size_t i = 0; i < s->conf->topics.n && n < 64; i++)
        topics[n++] = s->conf->topics.v[i];
    if (s->conf->index_flows)
        topics[n++] = s->conf->flows_topic;
    topics[n] = NULL;
    struct s4f_kafka_consumer_opts co = {
        .shared = &s->d->kafka,
        .overrides = &s->conf->kafka,
        .defaults = sink_consumer_defaults,
        .metrics = s->d->metrics,
        .group_id = s->conf->group_id,
        .topics = topics,
        .on_revoke = on_revoke,
        .ctx = s,
    };
    if (!(s->cons = s4f_kafka_consumer_new(&co, err, sizeof(err)))) {
        s4f_error("kafka consumer: %s", err);
        return -1;
    }
    return 0;
}

int s4f_sink_run(struct s4f_sink *s)
{
    int attempt = 0;
    /* Nothing is indexed before the templates are in place: a document indexed first would
     * fix its index's mapping by guesswork for the rest of the day. */
    for (;;) {
        if (s4f_daemon_stopping())
            return 0;
        enum s4f_status st = maintenance(s);
        if (st == S4F_OK)
            break;
        if (st == S4F_ERR)
            return -1;
        set_es_up(s, false, "templates not installed yet");
        wait_alive(s, backoff_ms(s, attempt++));
    }
    set_es_up(s, true, NULL);
    if (join_group(s) != 0)
        return -1;

    while (!s4f_daemon_stopping()) {
        rd_kafka_message_t *msg = s4f_kafka_held_pop(&s->held);
        if (!msg) {
            int64_t wait = 100;
            if (s->nitems > 0) {
                int64_t left = s->batch_first_ms + s->conf->bulk_max_delay_ms - s4f_mono_ms();
                wait = left < 0 ? 0 : (left < wait ? left : wait);
            }
            msg = s4f_kafka_consumer_poll(s->cons, (int)wait);
        }
        if (msg)
            batch_add(s, msg);
        if (s->nitems > 0 &&
            (s->nitems >= s->cap || s->batch_bytes >= (size_t)s->conf->bulk_max_bytes ||
             s4f_mono_ms() - s->batch_first_ms >= s->conf->bulk_max_delay_ms)) {
            if (flush(s) != 0)
                return 0;
        }
        if (s->dl)
            s4f_kafka_producer_poll(s->dl, 0);
        if (s->nitems == 0 && s4f_mono_ms() >= s->next_maintenance)
            maintenance(s);
    }
    /* Drain: what was consumed is stored and committed before leaving the group. */
    s4f_info("draining: %zu documents in the open batch", s->nitems);
    flush(s);
    return 0;
}

void s4f_sink_free(struct s4f_sink *s)
{
    if (!s)
        return;
    s4f_kafka_held_free(&s->held);
    for (size_t i = 0; i < s->nitems; i++)
        item_release(&s->items[i]);
    if (s->cons) {
        s4f_kafka_consumer_close(s->cons);
        s4f_kafka_consumer_free(s->cons);
    }
    if (s->dl) {
        int left = s4f_kafka_producer_flush(s->dl, 5000);
        if (left > 0)
            s4f_warn("%d dead letters not acknowledged at exit", left);
        s4f_kafka_producer_free(s->dl);
    }
    s4f_es_client_free(s->es);
    s4f_es_response_free(&s->resp);
    s4f_buf_free(&s->body);
    if (s->capture)
        fclose(s->capture);
    free(s->items);
    free(s->sent);
    free(s->results);
    free(s->full);
    free(s);
}
