#include "kafka.h"

#include "daemon.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOPICS 32

/* Producer defaults chosen for at-least-once delivery without duplicates from retries
 * (idempotence), small batches for latency and a bounded queue; all overridable. */
static const char *const producer_defaults[] = {
    "enable.idempotence",
    "true", /* retries never duplicate or reorder */
    "acks",
    "all", /* required by idempotence */
    "linger.ms",
    "5", /* milliseconds of batching: latency first */
    "compression.codec",
    "lz4", /* cheap on CPU, 3-5x on flow JSON */
    "queue.buffering.max.messages",
    "500000", /* bounded queue: back-pressure, not OOM */
    "queue.buffering.max.kbytes",
    "262144", /* 256 MiB */
    "batch.num.messages",
    "10000",
    "message.timeout.ms",
    "300000", /* a broker may be away 5 min before a drop */
    NULL,
};

static const char *const consumer_defaults[] = {
    "enable.auto.commit",
    "false", /* we commit after our outputs are delivered */
    "enable.auto.offset.store",
    "false",
    "auto.offset.reset",
    "earliest",
    "enable.partition.eof",
    "false",
    "fetch.wait.max.ms",
    "100",
    /* One fetch response at most 4 MiB (librdkafka: 50 MiB), each partition's share at most
     * 1 MiB: the prefetch bound (queued.max.messages.kbytes) is overshot by one response at
     * most, and a response of a few MiB keeps the fetcher ahead of a batch of records. */
    "fetch.max.bytes",
    "4194304",
    "max.partition.fetch.bytes",
    "1048576",
    "session.timeout.ms",
    "10000", /* a killed worker's partitions move within 10 s */
    "heartbeat.interval.ms",
    "1000",
    NULL,
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    if (level <= 3)
        s4f_error_rl("kafka %s: %s", fac, buf);
    else if (level == 4)
        s4f_warn_rl("kafka %s: %s", fac, buf);
    else if (level <= 6)
        s4f_log_rl(S4F_LOG_INFO, "kafka %s: %s", fac, buf);
    else
        s4f_debug("kafka %s: %s", fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka property '%s': %s", k, e);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *s4f_kafka_conf_build(const char *const *defaults, const struct s4f_kvlist *shared,
                                      const struct s4f_kvlist *overrides, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; defaults && defaults[i]; i += 2)
        if (conf_set(conf, defaults[i], defaults[i + 1], err, errlen) != 0)
            goto fail;
    const struct s4f_kvlist *layers[] = {shared, overrides};
    for (size_t l = 0; l < 2; l++)
        for (size_t i = 0; layers[l] && i < layers[l]->n; i++)
            if (conf_set(conf, layers[l]->k[i], layers[l]->v[i], err, errlen) != 0)
                goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- producer ---------------------------------------------------------------------------- */

struct s4f_kafka_producer {
    rd_kafka_t *rk;
    struct s4f_kafka_producer_opts opts;
    struct {
        char *name;
        rd_kafka_topic_t *rkt;
    } topics[MAX_TOPICS];
    size_t ntopics;
    _Atomic uint64_t produced, delivered, failed, queue_full, rejected;
    struct s4f_metric *m_produced, *m_delivered, *m_failed, *m_queue_full, *m_rejected;
    _Atomic int brokers_down;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct s4f_kafka_producer *p = opaque;
    (void)rk;
    if (msg->err) {
        atomic_fetch_add(&p->failed, 1);
        s4f_metric_inc(p->m_failed);
        s4f_error_rl("kafka delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
                     rd_kafka_err2str(msg->err));
    } else {
        atomic_fetch_add(&p->delivered, 1);
        s4f_metric_inc(p->m_delivered);
        if (atomic_exchange(&p->brokers_down, 0) && p->opts.metrics)
            s4f_metrics_set_health(p->opts.metrics, 1, "");
    }
    if (p->opts.on_delivery)
        p->opts.on_delivery(p->opts.ctx, msg->_private, msg->err);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct s4f_kafka_producer *p = opaque;
    (void)rk;
    s4f_error_rl("kafka producer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&p->brokers_down, 1);
        if (p->opts.metrics)
            s4f_metrics_set_health(p->opts.metrics, 0, "kafka: all brokers down");
    }
}

static double outq_fn(void *ctx)
{
    struct s4f_kafka_producer *p = ctx;
    return rd_kafka_outq_len(p->rk);
}

struct s4f_kafka_producer *s4f_kafka_producer_new(const struct s4f_kafka_producer_opts *opts,
                                                  char *err, size_t errlen)
{
    struct s4f_kafka_producer *p = calloc(1, sizeof(*p));
    char e[512];
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->opts = *opts;
    rd_kafka_conf_t *conf =
        s4f_kafka_conf_build(producer_defaults, opts->shared, opts->overrides, err, errlen);
    if (!conf) {
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!p->rk) {
        /* rd_kafka_new() frees conf only on success */
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka producer: %s", e);
        free(p);
        return NULL;
    }
    struct s4f_metrics *m = opts->metrics;
    if (m) {
        p->m_produced = s4f_metrics_counter(m, "kafka_produced_total",
                                            "Messages handed to the Kafka producer", NULL);
        p->m_delivered = s4f_metrics_counter(m, "kafka_delivered_total",
                                             "Messages acknowledged by the Kafka broker", NULL);
        p->m_failed = s4f_metrics_counter(
            m, "kafka_delivery_failed_total",
            "Messages whose delivery failed for good after retries (lost)", NULL);
        p->m_queue_full =
            s4f_metrics_counter(m, "kafka_queue_full_total",
                                "Produce attempts refused because the queue was full", NULL);
        p->m_rejected = s4f_metrics_counter(m, "kafka_rejected_total",
                                            "Messages refused by the producer for good", NULL);
        s4f_metrics_gauge_fn(m, "kafka_outq_messages",
                             "Messages queued in the producer, not yet acknowledged", NULL, outq_fn,
                             p);
    }
    return p;
}

static rd_kafka_topic_t *topic_get(struct s4f_kafka_producer *p, const char *name)
{
    for (size_t i = 0; i < p->ntopics; i++)
        if (strcmp(p->topics[i].name, name) == 0)
            return p->topics[i].rkt;
    if (p->ntopics == MAX_TOPICS)
        return NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, name, NULL);
    char *dup = strdup(name);
    if (!rkt || !dup) {
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        free(dup);
        return NULL;
    }
    p->topics[p->ntopics].name = dup;
    p->topics[p->ntopics].rkt = rkt;
    p->ntopics++;
    return rkt;
}

enum s4f_status s4f_kafka_produce(struct s4f_kafka_producer *p, const char *topic, const void *key,
                                  size_t keylen, const void *payload, size_t len, void *msg_opaque)
{
    return s4f_kafka_produce_to(p, topic, RD_KAFKA_PARTITION_UA, key, keylen, payload, len,
                                msg_opaque);
}

int32_t s4f_kafka_key_partition(const void *key, size_t keylen, int32_t n)
{
    /* librdkafka's own function, so that explicit choices agree with keyed messages (its
     * consistent partitioner ignores the topic handle). */
    return rd_kafka_msg_partitioner_consistent(NULL, key, keylen, n, NULL, NULL);
}

int32_t s4f_kafka_partition_count(struct s4f_kafka_producer *p, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = topic_get(p, topic);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = -1;
    if (!rkt)
        return -1;
    rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, rkt, &md, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        n = -2;
    else if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
             md->topics[0].partition_cnt > 0)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    return n;
}

enum s4f_status s4f_kafka_produce_to(struct s4f_kafka_producer *p, const char *topic,
                                     int32_t partition, const void *key, size_t keylen,
                                     const void *payload, size_t len, void *msg_opaque)
{
    return s4f_kafka_produce_hdr(p, topic, partition, key, keylen, payload, len, NULL, NULL, 0,
                                 msg_opaque);
}

/* One rd_kafka_producev() call: with or without the one header (librdkafka takes the
 * headers only when it accepts the message). */
static rd_kafka_resp_err_t producev(struct s4f_kafka_producer *p, const char *topic,
                                    int32_t partition, const void *key, size_t keylen,
                                    const void *payload, size_t len, const char *hname,
                                    const void *hval, size_t hlen, void *msg_opaque)
{
    if (!hname)
        return rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)payload, len),
            RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    return rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_KEY(key, keylen),
                             RD_KAFKA_V_HEADER(hname, hval, (ssize_t)hlen),
                             RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
}

enum s4f_status s4f_kafka_produce_hdr(struct s4f_kafka_producer *p, const char *topic,
                                      int32_t partition, const void *key, size_t keylen,
                                      const void *payload, size_t len, const char *hname,
                                      const void *hval, size_t hlen, void *msg_opaque)
{
    rd_kafka_topic_t *rkt = topic_get(p, topic);
    if (!rkt) {
        atomic_fetch_add(&p->rejected, 1);
        s4f_metric_inc(p->m_rejected);
        s4f_error_rl("kafka: cannot use topic '%s' (more than %d topics?)", topic, MAX_TOPICS);
        return S4F_ERR;
    }
    int64_t deadline = 0;
    for (;;) {
        rd_kafka_resp_err_t e;
        if (hname)
            e = producev(p, topic, partition, key, keylen, payload, len, hname, hval, hlen,
                         msg_opaque);
        else
            e = rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, (void *)payload, len, key,
                                 keylen, msg_opaque) == 0
                    ? RD_KAFKA_RESP_ERR_NO_ERROR
                    : rd_kafka_last_error();
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            atomic_fetch_add(&p->produced, 1);
            s4f_metric_inc(p->m_produced);
            return S4F_OK;
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            atomic_fetch_add(&p->rejected, 1);
            s4f_metric_inc(p->m_rejected);
            s4f_error_rl("kafka: produce to %s refused: %s", topic, rd_kafka_err2str(e));
            return S4F_ERR;
        }
        int64_t now = s4f_mono_ms();
        if (!deadline)
            deadline = now + p->opts.queue_full_wait_ms;
        if (now >= deadline) {
            atomic_fetch_add(&p->queue_full, 1);
            s4f_metric_inc(p->m_queue_full);
            return S4F_RETRY;
        }
        /* Serving delivery reports is what frees queue space. */
        int64_t left = deadline - now;
        rd_kafka_poll(p->rk, left < 10 ? (int)left : 10);
    }
}

int s4f_kafka_producer_poll(struct s4f_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int s4f_kafka_producer_flush(struct s4f_kafka_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return rd_kafka_outq_len(p->rk);
}

int s4f_kafka_producer_outq(struct s4f_kafka_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

void s4f_kafka_producer_stats(struct s4f_kafka_producer *p, struct s4f_kafka_producer_stats *st)
{
    st->produced = atomic_load(&p->produced);
    st->delivered = atomic_load(&p->delivered);
    st->failed = atomic_load(&p->failed);
    st->queue_full = atomic_load(&p->queue_full);
    st->rejected = atomic_load(&p->rejected);
}

rd_kafka_t *s4f_kafka_producer_handle(struct s4f_kafka_producer *p)
{
    return p->rk;
}

void s4f_kafka_producer_free(struct s4f_kafka_producer *p)
{
    if (!p)
        return;
    if (p->opts.metrics)
        s4f_metrics_remove_fn(p->opts.metrics, p);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0)
        s4f_warn("kafka producer closing with %d messages not delivered", left);
    for (size_t i = 0; i < p->ntopics; i++) {
        rd_kafka_topic_destroy(p->topics[i].rkt);
        free(p->topics[i].name);
    }
    rd_kafka_destroy(p->rk);
    free(p);
}

/* ---- consumer ---------------------------------------------------------------------------- */

/* The fetcher's wake-up. librdkafka before 2.2 stops fetching a partition once the local queue
 * holds queued.min.messages or queued.max.messages.kbytes, and its broker thread then sleeps
 * until an operation or I/O wakes it, or for a whole second: a consumer slower than the broker
 * starves for most of every second unless its queue holds a second of input (hundreds of MiB
 * at a million records per second). Nothing in its API wakes that thread directly, but every
 * request queued to a broker does: when poll_batch() has seen the queue full and then drained
 * to half, a thread of ours asks the partitions' leaders for their end offsets (one small
 * ListOffsets request per broker), and the fetcher, woken by it, sees the room and fetches.
 * So the queue can be small (memory) without the stall (throughput). Harmless on later
 * versions, whose fetcher wakes by itself (fetch.queue.backoff.ms). */
struct waker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, want, stop;
    bool armed;     /* the queue was seen near its bound since the last wake-up */
    int64_t qmin;   /* queued.min.messages */
    int64_t qbytes; /* queued.max.messages.kbytes, in bytes */
    double avg_len; /* mean payload of consumed messages (moving average) */
    uint64_t count; /* wake-ups requested (poll_batch's thread only) */
};

struct s4f_kafka_consumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* for poll_batch(); created at its first call */
    struct s4f_kafka_consumer_opts opts;
    struct s4f_metrics *metrics;
    struct s4f_metric *m_consumed, *m_errors, *m_rebalances, *m_commits_failed, *m_wakeups;
    struct waker wk;
    bool paused; /* pause_all(true) since the last pause_all(false) */
};

static void *waker_main(void *arg)
{
    struct s4f_kafka_consumer *c = arg;
    struct waker *w = &c->wk;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->want && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
            for (int i = 0; i < parts->cnt; i++)
                parts->elems[i].offset = RD_KAFKA_OFFSET_END; /* "latest" as a timestamp */
            /* The answer is beside the point: queuing the request woke the fetcher. */
            if (parts->cnt)
                rd_kafka_offsets_for_times(c->rk, parts, 1000);
            rd_kafka_topic_partition_list_destroy(parts);
        }
        pthread_mutex_lock(&w->mu);
        w->want = false;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* After each batch: is the queue back to half after it was near full? Then wake the fetcher
 * (at most one request in flight). */
static void waker_check(struct s4f_kafka_consumer *c, size_t n, size_t bytes)
{
    struct waker *w = &c->wk;
    if (!w->qmin || !c->queue)
        return;
    if (n)
        w->avg_len = w->avg_len ? 0.9 * w->avg_len + 0.1 * ((double)bytes / (double)n)
                                : (double)bytes / (double)n;
    double limit = (double)w->qmin;
    if (w->avg_len > 0 && (double)w->qbytes / (w->avg_len + 1) < limit)
        limit = (double)w->qbytes / (w->avg_len + 1);
    /* Near full before this batch took its n: a batch may take the whole queue (a few large
     * messages, such as packed flows, fill the byte bound), and the fetcher must be woken
     * then too. */
    double len = (double)rd_kafka_queue_length(c->queue);
    if (len + (double)n >= 0.75 * limit)
        w->armed = true;
    if (!w->armed || len >= 0.5 * limit)
        return;
    pthread_mutex_lock(&w->mu);
    if (!w->started && !w->stop)
        w->started = pthread_create(&w->thread, NULL, waker_main, c) == 0;
    if (w->started && !w->want) {
        w->want = true;
        w->armed = false;
        w->count++;
        s4f_metric_inc(c->m_wakeups);
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void waker_stop(struct s4f_kafka_consumer *c)
{
    struct waker *w = &c->wk;
    pthread_mutex_lock(&w->mu);
    bool join = w->started;
    w->stop = true;
    w->started = false;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (join)
        pthread_join(w->thread, NULL);
}

/* A numeric property as the configuration holds it, or 0. */
static int64_t conf_int(rd_kafka_conf_t *conf, const char *k)
{
    char v[64];
    size_t len = sizeof(v);
    if (rd_kafka_conf_get(conf, k, v, &len) != RD_KAFKA_CONF_OK)
        return 0;
    return strtoll(v, NULL, 10);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct s4f_kafka_consumer *c = opaque;
    s4f_metric_inc(c->m_rebalances);
    /* The cooperative protocol (partition.assignment.strategy: cooperative-sticky) hands over
     * only the partitions that move, and needs the incremental calls: rd_kafka_assign() there
     * stops the consumer for good. The callbacks get just those partitions either way. */
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *ie = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        s4f_info("kafka: assigned %d partition(s)%s", parts->cnt, coop ? " (incremental)" : "");
        if (c->opts.on_assign)
            c->opts.on_assign(c->opts.ctx, parts);
        if (coop)
            ie = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
    } else {
        s4f_info("kafka: %s %d partition(s)%s",
                 rd_kafka_assignment_lost(rk) ? "lost (fenced by the group)" : "revoking",
                 parts->cnt, coop ? " (incremental)" : "");
        if (c->opts.on_revoke)
            c->opts.on_revoke(c->opts.ctx, parts);
        if (coop)
            ie = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (ie) {
        s4f_error_rl("kafka: incremental (un)assign: %s", rd_kafka_error_string(ie));
        rd_kafka_error_destroy(ie);
    }
}

bool s4f_kafka_consumer_assignment_lost(struct s4f_kafka_consumer *c)
{
    return rd_kafka_assignment_lost(c->rk) == 1;
}

static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct s4f_kafka_consumer *c = opaque;
    (void)rk;
    s4f_error_rl("kafka consumer: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    s4f_metric_inc(c->m_errors);
}

static double lag_fn(void *ctx)
{
    return (double)s4f_kafka_consumer_lag(ctx);
}

struct s4f_kafka_consumer *s4f_kafka_consumer_new(const struct s4f_kafka_consumer_opts *opts,
                                                  char *err, size_t errlen)
{
    char e[512];
    struct s4f_kafka_consumer *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->opts = *opts;
    rd_kafka_conf_t *conf =
        s4f_kafka_conf_build(consumer_defaults, opts->shared, opts->overrides, err, errlen);
    if (!conf) {
        free(c);
        return NULL;
    }
    /* The daemon's defaults sit between ours and the operator's: set them only for keys the
     * operator left alone, so the kafka: sections always win. */
    for (size_t i = 0; opts->defaults && opts->defaults[i]; i += 2) {
        const char *k = opts->defaults[i];
        if (s4f_kvlist_get(opts->shared, k) || s4f_kvlist_get(opts->overrides, k))
            continue;
        if (conf_set(conf, k, opts->defaults[i + 1], err, errlen) != 0) {
            rd_kafka_conf_destroy(conf);
            free(c);
            return NULL;
        }
    }
    if (opts->group_id && conf_set(conf, "group.id", opts->group_id, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->wk.mu, NULL);
    pthread_cond_init(&c->wk.cv, NULL);
    c->wk.qmin = conf_int(conf, "queued.min.messages");
    c->wk.qbytes = conf_int(conf, "queued.max.messages.kbytes") * 1024;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    struct s4f_metrics *m = opts->metrics;
    if (m) {
        c->m_consumed = s4f_metrics_counter(m, "kafka_consumed_total", "Messages consumed", NULL);
        c->m_errors =
            s4f_metrics_counter(m, "kafka_consumer_errors_total", "Kafka consumer errors", NULL);
        c->m_rebalances = s4f_metrics_counter(m, "kafka_rebalances_total",
                                              "Partition assignments and revocations", NULL);
        c->m_commits_failed =
            s4f_metrics_counter(m, "kafka_commit_failed_total", "Offset commits that failed", NULL);
        c->m_wakeups = s4f_metrics_counter(
            m, "kafka_fetch_wakeups_total",
            "Fetcher wake-ups after the prefetch queue drained (librdkafka before 2.2)", NULL);
    }
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka consumer: %s", e);
        free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    size_t n = 0;
    while (opts->topics && opts->topics[n])
        n++;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, opts->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t r = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (r) {
        snprintf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(r));
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    if (m) {
        /* One series per consumer group: a process may hold several consumers (host_stats'
         * two stages, several analyses in one worker), each with its own lag. */
        char labels[320];
        s4f_metrics_labels(labels, sizeof(labels), "group", opts->group_id ? opts->group_id : "",
                           NULL);
        c->metrics = m;
        s4f_metrics_gauge_fn(m, "kafka_consumer_lag_messages",
                             "Messages behind the high watermark, over assigned partitions",
                             opts->group_id ? labels : NULL, lag_fn, c);
    }
    return c;
}

rd_kafka_message_t *s4f_kafka_consumer_poll(struct s4f_kafka_consumer *c, int timeout_ms)
{
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!msg)
        return NULL;
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            s4f_metric_inc(c->m_errors);
            s4f_error_rl("kafka consume: %s", rd_kafka_message_errstr(msg));
        }
        rd_kafka_message_destroy(msg);
        return NULL;
    }
    s4f_metric_inc(c->m_consumed);
    return msg;
}

size_t s4f_kafka_consumer_poll_batch(struct s4f_kafka_consumer *c, int timeout_ms,
                                     rd_kafka_message_t **msgs, size_t max)
{
    if (!c->queue) {
        c->queue = rd_kafka_queue_get_consumer(c->rk);
        if (!c->queue)
            return 0;
    }
    ssize_t n = rd_kafka_consume_batch_queue(c->queue, timeout_ms, msgs, max);
    if (n <= 0) {
        waker_check(c, 0, 0);
        return 0;
    }
    size_t good = 0, bytes = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        bytes += m->len;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                s4f_metric_inc(c->m_errors);
                s4f_error_rl("kafka consume: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        msgs[good++] = m;
    }
    s4f_metric_add(c->m_consumed, good);
    waker_check(c, (size_t)n, bytes);
    return good;
}

int s4f_kafka_offset_set_metadata(rd_kafka_topic_partition_t *t, const char *metadata)
{
    size_t len = strlen(metadata);
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, metadata, len);
    /* librdkafka frees it with the list (rd_free is free). */
    free(t->metadata);
    t->metadata = copy;
    t->metadata_size = len;
    return 0;
}

enum s4f_status s4f_kafka_consumer_committed(struct s4f_kafka_consumer *c, const char *topic,
                                             int32_t partition, int64_t *offset, char *meta,
                                             size_t metalen, int timeout_ms)
{
    enum s4f_status st = S4F_OK;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_add(l, topic, partition);
    *offset = RD_KAFKA_OFFSET_INVALID;
    if (metalen)
        meta[0] = '\0';
    rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, l, timeout_ms);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        e = t->err;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        s4f_warn_rl("kafka: cannot read the committed offset of %s [%d]: %s", topic, (int)partition,
                    rd_kafka_err2str(e));
        st = S4F_RETRY;
        goto out;
    }
    *offset = t->offset;
    if (t->metadata && t->metadata_size < metalen) {
        memcpy(meta, t->metadata, t->metadata_size);
        meta[t->metadata_size] = '\0';
    }
out:
    rd_kafka_topic_partition_list_destroy(l);
    return st;
}

enum s4f_status s4f_kafka_consumer_commit(struct s4f_kafka_consumer *c,
                                          const rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, offsets, 0);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return S4F_OK;
    s4f_metric_inc(c->m_commits_failed);
    s4f_warn_rl("kafka commit failed: %s", rd_kafka_err2str(e));
    return S4F_RETRY;
}

int64_t s4f_kafka_consumer_lag(struct s4f_kafka_consumer *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int64_t lag = 0;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return 0;
    rd_kafka_position(c->rk, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(c->rk, parts->elems[i].topic, parts->elems[i].partition,
                                           &lo, &hi) != 0 ||
            hi < 0)
            continue;
        int64_t pos = parts->elems[i].offset >= 0 ? parts->elems[i].offset : lo;
        if (hi > pos)
            lag += hi - pos;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return lag;
}

void s4f_kafka_consumer_close(struct s4f_kafka_consumer *c)
{
    if (!c || !c->rk)
        return;
    waker_stop(c);
    if (c->metrics) {
        s4f_metrics_remove_fn(c->metrics, c);
        c->metrics = NULL;
    }
    rd_kafka_consumer_close(c->rk);
}

void s4f_kafka_consumer_free(struct s4f_kafka_consumer *c)
{
    if (!c)
        return;
    waker_stop(c);
    if (c->metrics)
        s4f_metrics_remove_fn(c->metrics, c);
    /* A queue reference left behind makes rd_kafka_destroy() wait for ever. */
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    rd_kafka_destroy(c->rk);
    pthread_cond_destroy(&c->wk.cv);
    pthread_mutex_destroy(&c->wk.mu);
    free(c);
}

void s4f_kafka_consumer_pause_all(struct s4f_kafka_consumer *c, bool pause)
{
    if (!pause && !c->paused)
        return;
    c->paused = pause;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (parts->cnt > 0) {
        if (pause)
            rd_kafka_pause_partitions(c->rk, parts);
        else
            rd_kafka_resume_partitions(c->rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void s4f_kafka_held_push(struct s4f_kafka_held *h, rd_kafka_message_t *m)
{
    if (h->head > 0 && h->head == h->n)
        h->head = h->n = 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        rd_kafka_message_t **nm = realloc(h->m, cap * sizeof(*nm));
        if (!nm) {
            /* Not committing it is enough: a restart or rebalance reads it again. */
            s4f_error_rl("out of memory holding a message: it will be read again later");
            rd_kafka_message_destroy(m);
            return;
        }
        h->m = nm;
        h->cap = cap;
    }
    h->m[h->n++] = m;
}

rd_kafka_message_t *s4f_kafka_held_pop(struct s4f_kafka_held *h)
{
    return h->head < h->n ? h->m[h->head++] : NULL;
}

void s4f_kafka_held_drop(struct s4f_kafka_held *h, const rd_kafka_topic_partition_list_t *parts)
{
    size_t w = 0;
    for (size_t i = h->head; i < h->n; i++) {
        rd_kafka_message_t *m = h->m[i];
        if (parts &&
            rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt), m->partition))
            rd_kafka_message_destroy(m);
        else
            h->m[w++] = m;
    }
    h->n = w;
    h->head = 0;
}

void s4f_kafka_held_free(struct s4f_kafka_held *h)
{
    for (size_t i = h->head; i < h->n; i++)
        rd_kafka_message_destroy(h->m[i]);
    free(h->m);
    memset(h, 0, sizeof(*h));
}

void s4f_kafka_consumer_wait_paused(struct s4f_kafka_consumer *c, int64_t ms,
                                    struct s4f_kafka_held *h, void (*each)(void *), void *ctx)
{
    int64_t end = s4f_mono_ms() + ms;
    for (;;) {
        if (each)
            each(ctx);
        int64_t left = end - s4f_mono_ms();
        if (left <= 0 || s4f_daemon_stopping() == 2)
            return;
        s4f_kafka_consumer_pause_all(c, true);
        rd_kafka_message_t *m = s4f_kafka_consumer_poll(c, left < 100 ? (int)left : 100);
        if (m)
            s4f_kafka_held_push(h, m);
    }
}

uint64_t s4f_kafka_consumer_wakeups(const struct s4f_kafka_consumer *c)
{
    return c->wk.count;
}

rd_kafka_t *s4f_kafka_consumer_handle(struct s4f_kafka_consumer *c)
{
    return c->rk;
}

long s4f_kafka_read_partition(const struct s4f_kvlist *shared, const struct s4f_kvlist *overrides,
                              const char *topic, int32_t partition, int timeout_ms,
                              void (*cb)(void *ctx, const rd_kafka_message_t *m), void *ctx)
{
    static const char *const defaults[] = {
        "group.id",
        "s4f-read-partition", /* never joined nor committed: assign() only */
        NULL,
    };
    char err[512];
    rd_kafka_conf_t *conf = s4f_kafka_conf_build(defaults, shared, overrides, err, sizeof(err));
    if (!conf) {
        s4f_error_rl("kafka: reading %s/%d: %s", topic, (int)partition, err);
        return -1;
    }
    /* Over whatever the operator's kafka: sections set for the daemon's own consumers: the
     * end of the partition must be reported, and nothing committed. */
    conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        s4f_error_rl("kafka: reading %s/%d: %s", topic, (int)partition, err);
        return -1;
    }
    long n = -1;
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, timeout_ms);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        s4f_error_rl("kafka: reading %s/%d: %s", topic, (int)partition, rd_kafka_err2str(e));
        goto out;
    }
    n = 0;
    if (hi <= lo)
        goto out;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = lo;
    e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        s4f_error_rl("kafka: reading %s/%d: %s", topic, (int)partition, rd_kafka_err2str(e));
        n = -1;
        goto out;
    }
    int64_t deadline = s4f_mono_ms() + timeout_ms;
    for (;;) {
        if (s4f_mono_ms() > deadline) {
            s4f_error_rl("kafka: reading %s/%d: not at its end within %d ms", topic, (int)partition,
                         timeout_ms);
            n = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        bool end = false;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            end = true;
        } else if (m->err) {
            s4f_warn_rl("kafka: reading %s/%d: %s", topic, (int)partition,
                        rd_kafka_message_errstr(m));
        } else {
            cb(ctx, m);
            n++;
            end = m->offset >= hi - 1; /* records written since the call are not waited for */
        }
        rd_kafka_message_destroy(m);
        if (end)
            break;
    }
    rd_kafka_assign(rk, NULL);
out:
    rd_kafka_destroy(rk);
    return n;
}
