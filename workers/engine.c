/* The engine loop: consume, parse, fold, tick, produce, commit. See engine.h. */
#include "engine.h"

#include "daemon.h"
#include "flow.h"
#include "kafka.h"
#include "log.h"
#include "window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH        1024
#define TICK_MS      100
#define REVOKE_FLUSH 10000

struct s4f_engine {
    struct s4f_engine_opts o;
    const struct s4f_analysis_common *common;
    void *inst;
    struct s4f_wengine *we;
    struct s4f_kafka_consumer *cons;
    struct s4f_kafka_producer *prod;
    rd_kafka_queue_t *queue;
    char group[256];
    char labels[160];
    const char *input_topic;
    bool restored[S4F_MAX_PARTITIONS];
    int64_t committed[S4F_MAX_PARTITIONS];
    int64_t committed_h[S4F_MAX_PARTITIONS];
    struct s4f_metric *m_malformed, *m_commits;
};

static enum s4f_status emit_cb(void *ctx, const char *id, const char *doc, size_t len, void *win)
{
    struct s4f_engine *e = ctx;
    return s4f_kafka_produce(e->prod, e->common->output_topic, id, strlen(id), doc, len, win);
}

static void delivery_cb(void *ctx, void *msg_opaque, rd_kafka_resp_err_t err)
{
    struct s4f_engine *e = ctx;
    if (msg_opaque)
        s4f_wengine_delivered(e->we, msg_opaque, err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Commits the safe offset of every partition in `only` (or all known partitions when NULL)
 * whose offset or horizon moved. */
static void commit(struct s4f_engine *e, const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < S4F_MAX_PARTITIONS; p++) {
        if (only) {
            bool in = false;
            for (int i = 0; i < only->cnt && !in; i++)
                in = only->elems[i].partition == p;
            if (!in)
                continue;
        }
        int64_t h, off = s4f_wengine_safe_offset(e->we, p, &h);
        if (off < 0 || (off == e->committed[p] && h == e->committed_h[p]))
            continue;
        rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_add(l, e->input_topic, p);
        t->offset = off;
        char meta[64];
        if (h != INT64_MIN && s4f_wengine_meta_format(h, meta, sizeof(meta)) == 0) {
            t->metadata = strdup(meta);
            t->metadata_size = t->metadata ? strlen(meta) : 0;
        }
    }
    if (l->cnt > 0 && s4f_kafka_consumer_commit(e->cons, l) == S4F_OK) {
        s4f_metric_inc(e->m_commits);
        for (int i = 0; i < l->cnt; i++) {
            int32_t p = l->elems[i].partition;
            e->committed[p] = l->elems[i].offset;
            e->committed_h[p] = INT64_MIN;
            s4f_wengine_safe_offset(e->we, p, &e->committed_h[p]);
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Reads the horizon a previous owner of the partition committed, so that windows it already
 * made final are not emitted again (with fewer flows) from the replay. */
static void restore(struct s4f_engine *e, int32_t p)
{
    e->restored[p] = true;
    e->committed[p] = -1;
    e->committed_h[p] = INT64_MIN;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->input_topic, p);
    rd_kafka_resp_err_t err = rd_kafka_committed(s4f_kafka_consumer_handle(e->cons), l, 10000);
    int64_t h;
    if (err) {
        s4f_warn("partition %d: cannot read the committed offset: %s", (int)p,
                 rd_kafka_err2str(err));
    } else if (l->elems[0].metadata_size &&
               s4f_wengine_meta_parse(l->elems[0].metadata, l->elems[0].metadata_size, &h) == 0) {
        s4f_wengine_set_horizon(e->we, p, h);
        e->committed[p] = l->elems[0].offset;
        e->committed_h[p] = h;
        s4f_info("partition %d: resuming at offset %" PRId64 ", windows final up to %" PRId64,
                 (int)p, l->elems[0].offset, h);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void on_assign(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_engine *e = ctx;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < S4F_MAX_PARTITIONS)
            e->restored[parts->elems[i].partition] = false;
}

static void on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_engine *e = ctx;
    /* Whatever is acknowledged now can be committed; the rest is rebuilt by the next owner
     * from the committed offset, with the same ids. */
    int left = s4f_kafka_producer_flush(e->prod, REVOKE_FLUSH);
    if (left)
        s4f_warn("revoke: %d result(s) still unacknowledged", left);
    s4f_wengine_tick(e->we, s4f_mono_ms(), s4f_wall_ms());
    commit(e, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p >= 0 && p < S4F_MAX_PARTITIONS) {
            s4f_wengine_drop_partition(e->we, p);
            e->restored[p] = false;
        }
    }
}

struct s4f_engine *s4f_engine_new(const struct s4f_engine_opts *opts, char *err, size_t errlen)
{
    struct s4f_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->o = *opts;
    e->common = opts->conf;
    e->input_topic = e->common->input_topic ? e->common->input_topic : opts->default_input_topic;
    snprintf(e->group, sizeof(e->group), "%s.%s", opts->group_prefix, opts->analysis->name);
    s4f_metrics_labels(e->labels, sizeof(e->labels), "analysis", opts->analysis->name, NULL);
    e->m_malformed = s4f_metrics_counter(opts->metrics, "records_malformed_total",
                                         "Input records refused by the reader", e->labels);
    e->m_commits =
        s4f_metrics_counter(opts->metrics, "commits_total", "Offset commits done", e->labels);

    struct s4f_analysis_ctx actx = {opts->analysis->name, opts->metrics, e->labels};
    e->inst = opts->analysis->init(opts->conf, &actx, err, errlen);
    if (!e->inst)
        goto fail;
    struct s4f_wengine_opts wo = {
        .analysis = opts->analysis,
        .inst = e->inst,
        .common = e->common,
        .metrics = opts->metrics,
        .labels = e->labels,
        .emit = emit_cb,
        .ctx = e,
    };
    e->we = s4f_wengine_new(&wo);
    if (!e->we) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct s4f_kafka_producer_opts po = {
        .shared = opts->kafka_shared,
        .overrides = opts->kafka_overrides,
        .metrics = opts->metrics,
        .queue_full_wait_ms = 1000,
        .on_delivery = delivery_cb,
        .ctx = e,
    };
    e->prod = s4f_kafka_producer_new(&po, err, errlen);
    if (!e->prod)
        goto fail;
    const char *topics[] = {e->input_topic, NULL};
    struct s4f_kafka_consumer_opts co = {
        .shared = opts->kafka_shared,
        .overrides = opts->kafka_overrides,
        .metrics = opts->metrics,
        .group_id = e->group,
        .topics = topics,
        .on_assign = on_assign,
        .on_revoke = on_revoke,
        .ctx = e,
    };
    e->cons = s4f_kafka_consumer_new(&co, err, errlen);
    if (!e->cons)
        goto fail;
    e->queue = rd_kafka_queue_get_consumer(s4f_kafka_consumer_handle(e->cons));
    for (int i = 0; i < S4F_MAX_PARTITIONS; i++) {
        e->committed[i] = -1;
        e->committed_h[i] = INT64_MIN;
    }
    return e;
fail:
    s4f_engine_free(e);
    return NULL;
}

static void handle(struct s4f_engine *e, rd_kafka_message_t *m, int64_t now_wall)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            s4f_error_rl("%s: consume: %s", e->o.analysis->name, rd_kafka_message_errstr(m));
        return;
    }
    int32_t p = m->partition;
    if (p < 0 || p >= S4F_MAX_PARTITIONS) {
        s4f_error_rl("partition %d beyond the supported %d: skipped", (int)p, S4F_MAX_PARTITIONS);
        return;
    }
    if (!e->restored[p])
        restore(e, p);
    struct s4f_flow f;
    const char *why = NULL;
    if (s4f_flow_parse(m->payload, m->len, &f, &why) != S4F_OK) {
        s4f_metric_inc(e->m_malformed);
        s4f_warn_rl("%s: malformed record at %d/%" PRId64 ": %s", e->o.analysis->name, (int)p,
                    m->offset, why);
        s4f_wengine_skip(e->we, p, m->offset);
        return;
    }
    if (s4f_wengine_flow(e->we, p, m->offset, &f, now_wall) != S4F_OK)
        s4f_wengine_skip(e->we, p, m->offset);
}

int s4f_engine_run(struct s4f_engine *e)
{
    rd_kafka_message_t *msgs[BATCH];
    int64_t last_tick = 0, last_commit = s4f_mono_ms();
    s4f_info("%s: consuming %s as group %s, results to %s", e->o.analysis->name, e->input_topic,
             e->group, e->common->output_topic);
    while (!s4f_daemon_stopping()) {
        ssize_t n = rd_kafka_consume_batch_queue(e->queue, TICK_MS, msgs, BATCH);
        int64_t now_wall = s4f_wall_ms();
        for (ssize_t i = 0; i < n; i++) {
            handle(e, msgs[i], now_wall);
            rd_kafka_message_destroy(msgs[i]);
        }
        s4f_kafka_producer_poll(e->prod, 0);
        int64_t now = s4f_mono_ms();
        if (now - last_tick >= TICK_MS || n <= 0) {
            s4f_wengine_tick(e->we, now, now_wall);
            last_tick = now;
        }
        if (now - last_commit >= e->o.commit_interval_ms) {
            commit(e, NULL);
            last_commit = now;
        }
    }
    /* Drain: emit what is open, wait for acknowledgements within the grace, commit. */
    s4f_info("%s: draining", e->o.analysis->name);
    s4f_wengine_flush(e->we);
    while (s4f_daemon_stopping() == 1 && s4f_wengine_inflight(e->we) > 0) {
        int64_t left = s4f_daemon_drain_left_ms();
        s4f_kafka_producer_flush(e->prod, left > 100 ? 100 : (int)left);
        s4f_wengine_tick(e->we, s4f_mono_ms(), s4f_wall_ms());
    }
    s4f_wengine_tick(e->we, s4f_mono_ms(), s4f_wall_ms());
    commit(e, NULL);
    if (s4f_wengine_inflight(e->we) > 0)
        s4f_warn("%s: %" PRId64 " result(s) unacknowledged at exit: their input is replayed "
                 "at the next start",
                 e->o.analysis->name, s4f_wengine_inflight(e->we));
    return 0;
}

void s4f_engine_free(struct s4f_engine *e)
{
    if (!e)
        return;
    if (e->queue)
        rd_kafka_queue_destroy(e->queue);
    if (e->cons) {
        s4f_kafka_consumer_close(e->cons);
        s4f_kafka_consumer_free(e->cons);
    }
    if (e->prod) {
        s4f_kafka_producer_flush(e->prod, 1000);
        s4f_kafka_producer_free(e->prod);
    }
    s4f_wengine_free(e->we);
    if (e->inst && e->o.analysis->destroy)
        e->o.analysis->destroy(e->inst);
    free(e);
}
