/* Stage one of a repartitioned analysis: see rekey.h. */
#include "rekey.h"

#include "daemon.h"
#include "flow.h"
#include "kafka.h"
#include "log.h"
#include "stage.h"
#include "window.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH        1024
#define REVOKE_FLUSH 10000
/* Batches written and not yet committed; the producer's queue bounds them in practice. */
#define MAX_BATCHES 4096
/* Watermark marks go to every repartition partition at most this often, and at least every
 * MARK_HEARTBEAT_MS for each source partition held (so stage two hears of quiet ones). */
#define MARK_MS           200
#define MARK_HEARTBEAT_MS 1000

/* What stage one knows of one input partition (source partition, sp). */
struct src {
    bool held; /* assigned to this stage */
    int64_t assigned_mono, last_rec_mono;
    int64_t wm; /* event time read since assigned or rewound, by the robust statistic of
                 * window.h (INT64_MIN: none): one forged time must not move stage two */
    struct s4f_wmstat wms;
    int64_t next; /* next offset to read (-1: none read) */
    /* Per repartition partition and side (2 * nlast): the offset of the last record routed
     * there, or the first offset read - 1 (each record claims the offsets in between, see
     * dedup.h); routed: whether a record went there since. nlast 0: not started. */
    int32_t nlast;
    int64_t from; /* the input offset the claims start at */
    int64_t *last;
    uint8_t *routed;
    int64_t marked_wm, marked_mono;
    bool marked_idle;
};
/* The records written for one consumed batch, and the input positions they cover. */
struct batch {
    int pending;  /* records not yet acknowledged */
    bool failed;  /* one was lost for good: replay from the last commit */
    bool retired; /* its partitions were revoked: only its reports are awaited */
    size_t nparts, cap;
    struct bpart {
        int32_t partition;
        int64_t next; /* next offset to read once this batch is written */
    } * parts;
    struct batch *next;
};

static void batch_free(struct batch *b)
{
    if (b) {
        free(b->parts);
        free(b);
    }
}

/* Records that the batch moved partition p to next. 0, or -1 when out of memory. */
static int batch_mark(struct batch *b, int32_t p, int64_t next)
{
    size_t j = 0;
    while (j < b->nparts && b->parts[j].partition != p)
        j++;
    if (j == b->nparts) {
        if (b->nparts == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 8;
            struct bpart *np = realloc(b->parts, cap * sizeof(*np));
            if (!np)
                return -1;
            b->parts = np;
            b->cap = cap;
        }
        b->parts[b->nparts++].partition = p;
    }
    b->parts[j].next = next;
    return 0;
}

struct s4f_rekey {
    struct s4f_rekey_opts o;
    struct s4f_kafka_consumer *cons;
    struct s4f_kafka_producer *prod;
    struct batch *head, *tail; /* oldest first */
    size_t nbatches;
    /* Batches of revoked partitions whose records the producer still holds: their delivery
     * reports point at them, so they are freed only once those arrived (or at exit, after
     * the producer is gone). */
    struct batch *retired;
    /* A write failed for good: nothing more is read (nor written) until the rewind. */
    bool stalled;
    struct src *src[S4F_MAX_PARTITIONS];
    int64_t last_mark_mono;
    struct s4f_metric *m_marks;
    int64_t committed[S4F_MAX_PARTITIONS]; /* -1: unknown */
    int64_t start[S4F_MAX_PARTITIONS];     /* first offset read since assigned; -1: none */
    int64_t last_commit;
    struct s4f_metric *m_written, *m_malformed, *m_commits, *m_replays;
    /* Routed records waiting to be written, per repartition partition: several go in one
     * message (librdkafka's per-message costs were most of this stage's). */
    struct pack {
        size_t n, used; /* records, bytes (records are 112 or, with GeoIP fields, 220) */
        size_t cap;     /* bytes allocated: grows past a full pack for a packed message */
        uint8_t *buf;
    } * packs;
    /* Routing the flows of one packed input message: packs are not written out meanwhile
     * (its records for one partition must share a message, see fold() in engine.c). */
    bool grouping;
    int32_t nparts; /* of the repartition topic; 0: not known yet */
    int64_t nparts_at;
};

static void delivery_cb(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    struct s4f_rekey *r = ctx;
    struct batch *b = opaque;
    if (!b)
        return;
    b->pending--;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        b->failed = true;
        r->stalled = r->stalled || !b->retired;
    }
}

static struct src *src_get(struct s4f_rekey *r, int32_t sp)
{
    if (!r->src[sp]) {
        r->src[sp] = calloc(1, sizeof(struct src));
        if (r->src[sp]) {
            r->src[sp]->wm = INT64_MIN;
            r->src[sp]->wms.block = -1;
            r->src[sp]->next = -1;
            r->src[sp]->marked_wm = INT64_MIN;
        }
    }
    return r->src[sp];
}

/* Forgets what was routed from sp: the next record read starts the claims afresh (after an
 * assignment, a rewind); next: the offset reading resumes at (-1: unknown). */
static void src_restart(struct src *s, int64_t next)
{
    s->nlast = 0;
    s->wm = INT64_MIN;
    s->wms.block = -1;
    s->wms.n = 0;
    s->next = next;
}

static void src_free(struct src *s)
{
    if (s) {
        free(s->last);
        free(s->routed);
        free(s);
    }
}

/* Lets go of every batch: those with records still in the producer are retired (a delivery
 * report must never find one freed), the others freed. */
static void batch_free_all(struct s4f_rekey *r)
{
    while (r->head) {
        struct batch *b = r->head;
        r->head = b->next;
        if (b->pending > 0) {
            b->retired = true;
            b->next = r->retired;
            r->retired = b;
        } else {
            batch_free(b);
        }
    }
    r->tail = NULL;
    r->nbatches = 0;
}

static void retired_reap(struct s4f_rekey *r, bool all)
{
    for (struct batch **pp = &r->retired; *pp;) {
        struct batch *b = *pp;
        if (all || b->pending <= 0) {
            *pp = b->next;
            batch_free(b);
        } else {
            pp = &b->next;
        }
    }
}

/* Commits the positions of the acknowledged prefix of batches. */
static void commit_prefix(struct s4f_rekey *r)
{
    int64_t next[S4F_MAX_PARTITIONS];
    bool touched = false;
    memset(next, 0xff, sizeof(next)); /* -1 */
    while (r->head && r->head->pending == 0 && !r->head->failed) {
        struct batch *b = r->head;
        for (size_t i = 0; i < b->nparts; i++) {
            next[b->parts[i].partition] = b->parts[i].next;
            touched = true;
        }
        r->head = b->next;
        if (!r->head)
            r->tail = NULL;
        r->nbatches--;
        batch_free(b);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; touched && p < S4F_MAX_PARTITIONS; p++)
        if (next[p] >= 0 && next[p] != r->committed[p])
            rd_kafka_topic_partition_list_add(l, r->o.input_topic, p)->offset = next[p];
    if (l->cnt > 0 && s4f_kafka_consumer_commit(r->cons, l) == S4F_OK) {
        s4f_metric_inc(r->m_commits);
        for (int i = 0; i < l->cnt; i++)
            r->committed[l->elems[i].partition] = l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Seeks every input partition held back to its last commit (or where reading began) and
 * forgets the batches: they are read and written again. */
static void rewind_held(struct s4f_rekey *r)
{
    rd_kafka_topic_partition_list_t *s = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < S4F_MAX_PARTITIONS; p++)
        if (r->committed[p] >= 0 || r->start[p] >= 0)
            rd_kafka_topic_partition_list_add(s, r->o.input_topic, p)->offset =
                r->committed[p] >= 0 ? r->committed[p] : r->start[p];
    if (s->cnt > 0) {
        rd_kafka_error_t *e =
            rd_kafka_seek_partitions(s4f_kafka_consumer_handle(r->cons), s, 10000);
        if (e) {
            s4f_error_rl("rewind failed: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(s);
    /* Read again from there: the records waiting keep them from counting as idle however
     * long the stall (an idle partition holds nobody back: its records would come late). */
    for (int32_t p = 0; p < S4F_MAX_PARTITIONS; p++)
        if (r->src[p]) {
            src_restart(r->src[p], r->committed[p] >= 0 ? r->committed[p] : r->start[p]);
            r->src[p]->last_rec_mono = s4f_mono_ms();
        }
    batch_free_all(r);
    r->stalled = false;
}

/* Commits the acknowledged prefix. A failed batch rewinds the input to the last commit: what
 * was written after it is written again, and dropped as a duplicate downstream. */
static void commit_done(struct s4f_rekey *r)
{
    commit_prefix(r);
    if (!r->head || !r->head->failed || r->head->pending != 0)
        return;
    /* Wait for every batch in flight, then rewind every partition we hold. */
    for (struct batch *b = r->head; b; b = b->next)
        if (b->pending > 0)
            return;
    s4f_metric_inc(r->m_replays);
    s4f_error_rl("repartition records were lost (delivery failed for good): reading "
                 "the input again from the last commit");
    rewind_held(r);
}

static void on_assign(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_rekey *r = ctx;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < S4F_MAX_PARTITIONS) {
            r->committed[parts->elems[i].partition] = -1;
            r->start[parts->elems[i].partition] = -1;
            struct src *sr = src_get(r, parts->elems[i].partition);
            if (sr) {
                src_restart(sr, -1);
                sr->held = true;
                sr->assigned_mono = s4f_mono_ms();
                sr->last_rec_mono = 0;
            }
        }
}

static void on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_rekey *r = ctx;
    rd_kafka_t *prk = s4f_kafka_producer_handle(r->prod);
    bool lost = s4f_kafka_consumer_assignment_lost(r->cons);
    /* Handed over: commit what is written, the rest is read again by the next owner
     * (duplicates are dropped downstream). Lost: another member reads from our last commit
     * already; committing would be refused, and waiting only delays the rejoin. */
    int left =
        lost ? s4f_kafka_producer_outq(r->prod) : s4f_kafka_producer_flush(r->prod, REVOKE_FLUSH);
    if (left) {
        s4f_warn("%s: %d repartition record(s) unacknowledged: purged (read again by the "
                 "next owner)",
                 lost ? "partitions lost" : "revoke", left);
        /* Purged records get their (failed) delivery reports now, so no batch is freed
         * under a report still to come (a report may yet arrive late: see retired). */
        rd_kafka_purge(prk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        s4f_kafka_producer_poll(r->prod, 0);
    }
    if (!lost)
        commit_prefix(r);
    /* Every batch that is left covers input not committed: whoever holds it next reads it
     * again. With the cooperative protocol the partitions we keep are among them: rewind
     * them to their last commit. */
    bool keep = false;
    for (int32_t p = 0; p < S4F_MAX_PARTITIONS && !keep; p++) {
        bool revoked = false;
        for (int i = 0; i < parts->cnt && !revoked; i++)
            revoked = parts->elems[i].partition == p;
        keep = !revoked && (r->committed[p] >= 0 || r->start[p] >= 0);
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < S4F_MAX_PARTITIONS) {
            r->committed[parts->elems[i].partition] = -1;
            r->start[parts->elems[i].partition] = -1;
            if (r->src[parts->elems[i].partition])
                r->src[parts->elems[i].partition]->held = false;
        }
    if (keep && r->head)
        rewind_held(r);
    batch_free_all(r);
    r->stalled = false; /* nothing of what failed is left to rewind */
}

struct s4f_rekey *s4f_rekey_new(const struct s4f_rekey_opts *opts, char *err, size_t errlen)
{
    struct s4f_rekey *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->o = *opts;
    for (int i = 0; i < S4F_MAX_PARTITIONS; i++)
        r->committed[i] = r->start[i] = -1;
    r->last_commit = s4f_mono_ms();
    r->m_written = s4f_metrics_counter(opts->metrics, "repartition_written_total",
                                       "Records written to the repartition topic", opts->labels);
    r->m_malformed = s4f_metrics_counter(opts->metrics, "records_malformed_total",
                                         "Input records refused by the reader", opts->labels);
    r->m_commits =
        s4f_metrics_counter(opts->metrics, "repartition_commits_total",
                            "Input offset commits of the repartition stage", opts->labels);
    r->m_marks =
        s4f_metrics_counter(opts->metrics, "repartition_marks_total",
                            "Watermark marks written to the repartition topic", opts->labels);
    r->m_replays = s4f_metrics_counter(opts->metrics, "repartition_replays_total",
                                       "Rewinds of the input after repartition records were lost",
                                       opts->labels);
    r->prod = s4f_worker_producer_new(opts->kafka_shared, opts->kafka_overrides, opts->metrics,
                                      delivery_cb, r, err, errlen);
    if (!r->prod)
        goto fail;
    r->cons = s4f_worker_consumer_new(opts->kafka_shared, opts->kafka_overrides, opts->metrics,
                                      opts->group, opts->input_topic, on_assign, on_revoke, r, err,
                                      errlen);
    if (!r->cons)
        goto fail;
    return r;
fail:
    s4f_rekey_free(r);
    return NULL;
}

/* Writes partition p's packed records, if any, as one message of batch b. Back-pressure:
 * waits for the producer's queue (this stage has nothing better to do), unless the daemon is
 * stopping: then the batch counts as lost and its input is read again later. */
static void pack_flush(struct s4f_rekey *r, int32_t p, struct batch *b)
{
    struct pack *k = &r->packs[p];
    if (!k->n)
        return;
    if (b->failed || r->stalled) {
        /* Stop writing at the first failure: all of it is read and written again. */
        k->n = k->used = 0;
        return;
    }
    enum s4f_status st;
    while ((st = s4f_kafka_produce_to(r->prod, r->o.repartition_topic, p, NULL, 0, k->buf, k->used,
                                      b)) == S4F_RETRY &&
           !s4f_daemon_stopping())
        s4f_kafka_producer_poll(r->prod, 10);
    if (st == S4F_OK) {
        b->pending++;
        s4f_metric_add(r->m_written, k->n);
    } else {
        b->failed = true;
        r->stalled = true;
    }
    k->n = k->used = 0;
}

/* The next slot of partition p's pack (written out first when full), with room for
 * S4F_ROUTED_MAX bytes; pack_put() then says how many the record took. */
static uint8_t *pack_slot(struct s4f_rekey *r, int32_t p, struct batch *b)
{
    struct pack *k = &r->packs[p];
    if (k->n >= S4F_ROUTED_PACK && !r->grouping)
        pack_flush(r, p, b);
    if (k->used + S4F_ROUTED_MAX > k->cap) {
        size_t cap = k->cap ? k->cap * 2 : S4F_ROUTED_PACK * S4F_ROUTED_MAX;
        uint8_t *nb = realloc(k->buf, cap);
        if (!nb)
            return NULL;
        k->buf = nb;
        k->cap = cap;
    }
    return k->buf + k->used;
}

static void pack_put(struct s4f_rekey *r, int32_t p, size_t len)
{
    r->packs[p].n++;
    r->packs[p].used += len;
}

/* Starts sp's claims at offset (see struct src). -1 when out of memory. */
static int src_start(struct s4f_rekey *r, struct src *s, int64_t offset)
{
    if (s->nlast != r->nparts) {
        int64_t *nl = realloc(s->last, (size_t)r->nparts * 2 * sizeof(*nl));
        if (!nl)
            return -1;
        s->last = nl;
        uint8_t *nr = realloc(s->routed, (size_t)r->nparts * 2);
        if (!nr)
            return -1;
        s->routed = nr;
    }
    for (int32_t i = 0; i < r->nparts * 2; i++)
        s->last[i] = offset - 1;
    s->from = offset;
    memset(s->routed, 0, (size_t)r->nparts * 2);
    s->nlast = r->nparts;
    return 0;
}

/* Routes one flow read at m's offset to the repartition partitions of its sides. */
static void route(struct s4f_rekey *r, struct src *s, const rd_kafka_message_t *m,
                  const struct s4f_flow *f, struct batch *b)
{
    /* The partition's event time, as stage two would take it: flows too far ahead of the
     * clock are refused there, so they do not move it here either. */
    if (f->end_ms <= s4f_wall_ms() + r->o.common->max_future_ms)
        s4f_wmstat_observe(&s->wms, (int)r->o.common->wm_quorum, m->offset, f->end_ms, &s->wm);
    unsigned mask = r->o.analysis->route(r->o.inst, f);
    for (int side = S4F_SIDE_SRC; side <= S4F_SIDE_DST; side++) {
        if (!(mask & (1u << (side - 1))))
            continue;
        /* The partition the host's address text would be given as a message key: what
         * keyed records of earlier versions got, and what the collector's keying of the
         * input by source address gives. */
        char key[64];
        s4f_addr_str(side == S4F_SIDE_SRC ? &f->src : &f->dst, key, sizeof(key));
        int32_t p = s4f_kafka_key_partition(key, strlen(key), r->nparts);
        uint8_t *rec = pack_slot(r, p, b);
        if (!rec) {
            b->failed = true; /* out of memory: read again from the last commit */
            r->stalled = true;
            return;
        }
        pack_put(r, p, s4f_flow_encode_routed(f, (uint8_t)side, m->partition, m->offset, rec));
        /* The claim: nothing else of this partition went to p for this side since (the
         * further flows of a packed message claim nothing: gap 0). */
        int64_t *lp = &s->last[p * 2 + side - 1];
        uint64_t gap = (uint64_t)(m->offset - *lp);
        s4f_routed_set_gap(rec, gap > UINT32_MAX ? UINT32_MAX : (uint32_t)gap);
        *lp = m->offset;
        s->routed[p * 2 + side - 1] = 1;
    }
}

static void handle(struct s4f_rekey *r, const rd_kafka_message_t *m, struct batch *b)
{
    struct s4f_flow f;
    const char *why = NULL;
    struct src *s = src_get(r, m->partition);
    if (!s || (s->nlast != r->nparts && src_start(r, s, m->offset) != 0)) {
        b->failed = true; /* out of memory: read again from the last commit */
        r->stalled = true;
        return;
    }
    s->next = m->offset + 1;
    s->last_rec_mono = s4f_mono_ms();
    if (s4f_is_packed(m->payload, m->len)) {
        /* The collector's packed flows: all or nothing, as stage two's reader takes them. */
        size_t cnt;
        struct s4f_packed_iter it;
        if (s4f_packed_check(m->payload, m->len, &f, &cnt, &why) != S4F_OK) {
            s4f_metric_add(r->m_malformed, cnt ? cnt : 1);
            s4f_warn_rl("malformed record at %d/%" PRId64 ": %s", (int)m->partition, m->offset,
                        why);
            return;
        }
        /* Room for its records in the packs without writing any out in between. */
        for (int32_t p = 0; p < r->nparts; p++)
            if (r->packs[p].n >= S4F_ROUTED_PACK)
                pack_flush(r, p, b);
        r->grouping = true;
        s4f_packed_open(m->payload, m->len, &it, &cnt, NULL);
        while (!r->stalled && s4f_packed_next(&it, &f, NULL) == 1)
            route(r, s, m, &f, b);
        r->grouping = false;
        return;
    }
    if (s4f_flow_parse(m->payload, m->len, &f, &why) != S4F_OK) {
        s4f_metric_inc(r->m_malformed);
        s4f_warn_rl("malformed record at %d/%" PRId64 ": %s", (int)m->partition, m->offset, why);
        return;
    }
    route(r, s, m, &f, b);
}

/* Watermark marks (see rekey.h): to every repartition partition, for each source partition
 * held whose watermark or idleness changed, or not told for a while. Written after the
 * batch's records, so stage two has every record a mark covers before the mark. Returns
 * how many. */
static size_t marks(struct s4f_rekey *r, struct batch *b, int64_t now)
{
    if (now - r->last_mark_mono < MARK_MS || r->o.common->time_mode != S4F_TIME_EVENT)
        return 0;
    r->last_mark_mono = now;
    size_t n = 0;
    for (int32_t sp = 0; sp < S4F_MAX_PARTITIONS; sp++) {
        struct src *s = r->src[sp];
        if (!s || !s->held)
            continue;
        /* Idle: nothing read for idle_timeout (or ever, since assigned). */
        int64_t since = s->last_rec_mono ? s->last_rec_mono : s->assigned_mono;
        bool idle = now - since >= r->o.common->idle_ms;
        int64_t lo, hi;
        if (idle && s->next >= 0 &&
            rd_kafka_get_watermark_offsets(s4f_kafka_consumer_handle(r->cons), r->o.input_topic, sp,
                                           &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi > s->next)
            idle = false; /* records waiting: starved by the others' fetches, not idle */
        if (s->wm == INT64_MIN && !idle)
            continue; /* nothing to tell yet: stage two waits for it */
        int64_t wm = s->wm > 0 ? s->wm : 1;
        if (wm == s->marked_wm && idle == s->marked_idle &&
            now - s->marked_mono < MARK_HEARTBEAT_MS)
            continue;
        for (int32_t p = 0; p < r->nparts; p++) {
            bool started = s->nlast == r->nparts;
            int64_t ls = started && s->routed[p * 2] ? s->last[p * 2] + 1 : 0;
            int64_t ld = started && s->routed[p * 2 + 1] ? s->last[p * 2 + 1] + 1 : 0;
            uint8_t *rec = pack_slot(r, p, b);
            if (!rec)
                continue; /* out of memory: the heartbeat tells it again */
            s4f_flow_encode_mark(sp, s->next > 0 ? s->next - 1 : 0, wm, idle, ls, ld,
                                 started ? s->from : 0, rec);
            pack_put(r, p, S4F_ROUTED_LEN);
            n++;
        }
        s->marked_wm = wm;
        s->marked_idle = idle;
        s->marked_mono = now;
    }
    s4f_metric_add(r->m_marks, n);
    return n;
}

/* Learns how many partitions the repartition topic has (again every minute: a topic that
 * gained partitions moves hosts between them, see docs/worker.md). 0, or -1 while unknown. */
static int learn_partitions(struct s4f_rekey *r)
{
    int64_t now = s4f_mono_ms();
    if (r->nparts > 0 && now - r->nparts_at < 60000)
        return 0;
    /* A metadata round trip (milliseconds on a healthy broker); a refresh that times out
     * keeps the last count. */
    int32_t n =
        s4f_kafka_partition_count(r->prod, r->o.repartition_topic, r->nparts > 0 ? 2000 : 5000);
    r->nparts_at = now;
    if (n <= 0 || n > S4F_MAX_PARTITIONS) {
        if (r->nparts > 0)
            return 0; /* keep the last known count */
        s4f_warn_rl("partition count of %s unknown yet: stage one waits", r->o.repartition_topic);
        return -1;
    }
    if (n != r->nparts) {
        for (int32_t i = n; i < r->nparts; i++) { /* Kafka topics do not shrink; still */
            free(r->packs[i].buf);
            r->packs[i] = (struct pack){0};
        }
        struct pack *np = realloc(r->packs, (size_t)n * sizeof(*np));
        if (!np)
            return r->nparts > 0 ? 0 : -1;
        for (int32_t i = r->nparts; i < n; i++)
            np[i] = (struct pack){0};
        if (r->nparts > 0)
            s4f_warn("%s now has %d partitions (was %d)", r->o.repartition_topic, (int)n,
                     (int)r->nparts);
        r->packs = np;
        r->nparts = n;
    }
    return 0;
}

size_t s4f_rekey_poll(struct s4f_rekey *r, int timeout_ms)
{
    rd_kafka_message_t *msgs[BATCH];
    size_t n = 0;
    /* Allocated before reading: a batch read must always be tracked, or its input could be
     * committed without its records written. */
    if (learn_partitions(r) != 0)
        return 0;
    if (r->stalled) {
        /* A write failed: read nothing more; commit what is safe and rewind as soon as
         * every write in flight is settled. */
        s4f_kafka_producer_poll(r->prod, timeout_ms < 10 ? timeout_ms : 10);
        commit_done(r);
        return 0;
    }
    struct batch *b = r->nbatches < MAX_BATCHES ? calloc(1, sizeof(*b)) : NULL;
    if (b)
        n = s4f_kafka_consumer_poll_batch(r->cons, timeout_ms, msgs, BATCH);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->partition >= 0 && m->partition < S4F_MAX_PARTITIONS) {
            if (r->start[m->partition] < 0)
                r->start[m->partition] = m->offset;
            handle(r, m, b);
            if (batch_mark(b, m->partition, m->offset + 1) != 0)
                b->failed = true; /* out of memory: replayed from the last commit */
        }
        rd_kafka_message_destroy(m);
    }
    size_t nm = b ? marks(r, b, s4f_mono_ms()) : 0;
    /* Every record of the batch is written before the batch is queued for commit. */
    for (int32_t p = 0; (n || nm) && p < r->nparts; p++)
        pack_flush(r, p, b);
    if (n || nm) {
        if (r->tail)
            r->tail->next = b;
        else
            r->head = b;
        r->tail = b;
        r->nbatches++;
    } else {
        batch_free(b);
    }
    s4f_kafka_producer_poll(r->prod, 0);
    retired_reap(r, false);
    int64_t now = s4f_mono_ms();
    if (now - r->last_commit >= r->o.commit_interval_ms) {
        commit_done(r);
        r->last_commit = now;
    }
    return n;
}

void s4f_rekey_drain(struct s4f_rekey *r, int timeout_ms)
{
    s4f_kafka_producer_flush(r->prod, timeout_ms);
    commit_done(r);
}

void s4f_rekey_free(struct s4f_rekey *r)
{
    if (!r)
        return;
    if (r->cons) {
        s4f_kafka_consumer_close(r->cons);
        s4f_kafka_consumer_free(r->cons);
    }
    if (r->prod) {
        s4f_kafka_producer_flush(r->prod, 1000);
        s4f_kafka_producer_free(r->prod);
    }
    batch_free_all(r);
    retired_reap(r, true); /* the producer is gone: no report will come */
    for (int32_t p = 0; p < S4F_MAX_PARTITIONS; p++)
        src_free(r->src[p]);
    for (int32_t p = 0; p < r->nparts; p++)
        free(r->packs[p].buf);
    free(r->packs);
    free(r);
}
