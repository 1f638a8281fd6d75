/* The engine loop: consume, parse, fold, tick, produce, commit. See engine.h. */
#include "engine.h"

#include "daemon.h"
#include "dedup.h"
#include "flow.h"
#include "kafka.h"
#include "log.h"
#include "rekey.h"
#include "stage.h"
#include "window.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH        1024
#define BATCH_NAP_MS 2
#define TICK_MS      100
#define REVOKE_FLUSH 10000
/* Commit metadata Kafka accepts by default (offset.metadata.max.bytes 4096), with room. */
#define META_MAX 4000
/* A partition whose committed state could not be read (or whose new epoch could not be
 * committed) on assignment is set aside this long, then read again from where it was. */
#define HOLD_MS 1000

struct s4f_engine {
    struct s4f_engine_opts o;
    const struct s4f_analysis_common *common;
    void *inst;
    unsigned reloads; /* s4f_daemon_reload_count() the analysis last reloaded at */
    struct s4f_wengine *we;
    struct s4f_kafka_consumer *cons;
    struct s4f_kafka_producer *prod;
    char group[256];
    char labels[160];
    const char *input_topic;
    bool restored[S4F_MAX_PARTITIONS];
    int64_t committed[S4F_MAX_PARTITIONS];
    int64_t committed_h[S4F_MAX_PARTITIONS];
    /* The epoch of this owner of each partition: one above the previous owner's, committed
     * before anything is emitted, and sent with every result (fencing, see restore()). */
    int64_t epoch[S4F_MAX_PARTITIONS];
    /* Partitions set aside until held_until (monotonic ms): their records are skipped, and
     * read again from hold_from when the time is up. */
    int64_t held_until[S4F_MAX_PARTITIONS];
    int64_t hold_from[S4F_MAX_PARTITIONS];
    int nheld;
    /* Repartitioned (the analysis routes and a repartition topic is set): stage one, and per
     * repartition partition the duplicate filter and the next offset to read. */
    struct s4f_rekey *rekey;
    struct s4f_dedup *dedup[S4F_MAX_PARTITIONS];
    int64_t next[S4F_MAX_PARTITIONS];
    char rekey_group[280];
    /* Stage two's watermark per repartition partition: what the marks of each source
     * partition said (the minimum over them, so that no source racing ahead makes the
     * others' records late: issue 23). */
    struct srcwm {
        int64_t wm;
        bool idle, seen;
    } * swm[S4F_MAX_PARTITIONS];
    int32_t nswm[S4F_MAX_PARTITIONS];
    bool wm_dirty[S4F_MAX_PARTITIONS];
    const char *src_topic; /* stage one's input */
    int32_t n_src;         /* its partitions (0: unknown) */
    int64_t n_src_at;
    struct s4f_metric *m_marks_held;
    pthread_t rekey_thread;
    atomic_bool rekey_stop;
    struct s4f_metric *m_malformed, *m_commits, *m_dups, *m_dedup_full, *m_meta_big;
    /* Stage two: the input topic's high-water marks, that routed records' source offsets
     * must stay below (s4f_dedup_bound); src_topic above names it. */
    struct {
        int64_t hwm, at; /* at: monotonic ms of the query (0: never) */
    } srcb[S4F_MAX_PARTITIONS];
    struct s4f_metric *m_src_beyond;
    bool changelog; /* the analysis's long-term state goes to common->changelog_topic */
    struct s4f_metric *m_restored, *m_restore_bad, *m_restore_failed;
    struct s4f_metric *m_lost, *m_assign_retry;
};

static enum s4f_status emit_cb(void *ctx, const char *id, const char *doc, size_t len, void *win)
{
    struct s4f_engine *e = ctx;
    int32_t p = s4f_wengine_win_partition(win);
    char ep[24];
    int n = p >= 0 ? snprintf(ep, sizeof(ep), "%" PRId64, e->epoch[p]) : -1;
    return s4f_kafka_produce_hdr(e->prod, e->common->output_topic, RD_KAFKA_PARTITION_UA, id,
                                 strlen(id), doc, len, n > 0 ? S4F_EPOCH_HEADER : NULL, ep,
                                 n > 0 ? (size_t)n : 0, win);
}

static enum s4f_status changelog_cb(void *ctx, int32_t partition, const void *key, size_t klen,
                                    const void *val, size_t vlen, void *win)
{
    struct s4f_engine *e = ctx;
    return s4f_kafka_produce_to(e->prod, e->common->changelog_topic, partition, key, klen, val,
                                vlen, win);
}

/* Whether a routed record's source offset can be real: below its input partition's
 * high-water mark, queried from the broker when needed (at most once a second each). */
static bool src_offset_ok(struct s4f_engine *e, int32_t sp, int64_t so)
{
    if (sp < 0 || sp >= S4F_MAX_PARTITIONS)
        return false;
    int64_t now = s4f_mono_ms();
    int64_t age = e->srcb[sp].at ? now - e->srcb[sp].at : INT64_MAX;
    enum s4f_dedup_bound v = s4f_dedup_bound(so, e->srcb[sp].hwm, age);
    if (v == S4F_DEDUP_BOUND_QUERY) {
        int64_t lo, hi;
        e->srcb[sp].at = now;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            s4f_kafka_consumer_handle(e->cons), e->src_topic, sp, &lo, &hi, 2000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            e->srcb[sp].hwm = hi;
        else
            s4f_warn_rl("high-water mark of %s/%d: %s (source offsets unchecked)", e->src_topic,
                        (int)sp, rd_kafka_err2str(err));
        v = s4f_dedup_bound(so, e->srcb[sp].hwm, err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1);
    }
    return v == S4F_DEDUP_BOUND_OK;
}

static bool src_offset_bad(void *ctx, int32_t sp, int64_t so)
{
    /* A restored maximum is the offset of a record read: below the mark too. */
    return !src_offset_ok(ctx, sp, so);
}

struct restore_ctx {
    struct s4f_engine *e;
    void *pstate;
    long bad;
};

static void restore_cb(void *ctx, const rd_kafka_message_t *m)
{
    struct restore_ctx *rc = ctx;
    const struct s4f_analysis *a = rc->e->o.analysis;
    if (!a->restore(rc->e->inst, rc->pstate, m->key, m->key_len, m->payload, m->len))
        rc->bad++;
}

/* Rebuilds the analysis state of partition p from its changelog partition, before any flow
 * of p is folded. */
static void restore_changelog(struct s4f_engine *e, int32_t p)
{
    struct restore_ctx rc = {e, s4f_wengine_pstate(e->we, p), 0};
    if (!rc.pstate) {
        s4f_error_rl("out of memory restoring partition %d", (int)p);
        return;
    }
    int64_t t0 = s4f_mono_ms();
    long n = s4f_kafka_read_partition(e->o.kafka_shared, e->o.kafka_overrides,
                                      e->common->changelog_topic, p, 60000, restore_cb, &rc);
    if (n < 0) {
        s4f_metric_inc(e->m_restore_failed);
        s4f_error_rl("partition %d: changelog %s unreadable: its long-term state starts "
                     "empty",
                     (int)p, e->common->changelog_topic);
        return;
    }
    s4f_metric_add(e->m_restored, (uint64_t)n);
    if (rc.bad)
        s4f_metric_add(e->m_restore_bad, (uint64_t)rc.bad);
    s4f_info("partition %d: %ld changelog record(s) restored from %s in %" PRId64 " ms%s", (int)p,
             n - rc.bad, e->common->changelog_topic, s4f_mono_ms() - t0,
             rc.bad ? " (some unreadable: counted)" : "");
}

static void delivery_cb(void *ctx, void *msg_opaque, rd_kafka_resp_err_t err)
{
    struct s4f_engine *e = ctx;
    if (msg_opaque)
        s4f_wengine_delivered(e->we, msg_opaque, err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* "s4f1 h=<horizon> e=<epoch>" (the duplicate filter's " d=..." follows for a repartitioned
 * input). 0 or -1. */
static int meta_format(const struct s4f_engine *e, int32_t p, int64_t h, char *meta, size_t len)
{
    if (s4f_wengine_meta_format(h, meta, len) != 0)
        return -1;
    size_t ml = strlen(meta);
    int n = snprintf(meta + ml, len - ml, " e=%" PRId64, e->epoch[p]);
    return n < 0 || (size_t)n >= len - ml ? -1 : 0;
}

/* Splits committed metadata in place: meta keeps "s4f1 h=<ms>", *epoch gets e= (0 when
 * absent: written by an earlier version), *dm the duplicate filter's "d=..." ("" if none). */
static void meta_split(char *meta, int64_t *epoch, const char **dm)
{
    *epoch = 0;
    *dm = "";
    char *d = strstr(meta, " d=");
    if (d) {
        *d = '\0';
        *dm = d + 1;
    }
    char *ep = strstr(meta, " e=");
    if (ep) {
        *ep = '\0';
        long long v = strtoll(ep + 3, NULL, 10);
        /* The next owner's (one more) stays within what the sink takes: at the top, owners
         * keep the top epoch (same-epoch writes are accepted, so fencing becomes last write
         * wins, rather than every result refused). */
        *epoch = v <= 0 ? 0 : v < S4F_EPOCH_MAX ? (int64_t)v : S4F_EPOCH_MAX - 1;
    }
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
        char meta[8192], dmeta[8192];
        dmeta[0] = '\0';
        if (off >= 0 && e->dedup[p]) {
            /* Only where the duplicate filter's state is known: the newest snapshot at or
             * before the safe offset (records in between are in final windows). */
            s4f_dedup_snapshot(e->dedup[p], e->next[p]);
            off = s4f_dedup_commit_point(e->dedup[p], off, dmeta, sizeof(dmeta));
        }
        if (off < 0 || (off == e->committed[p] && h == e->committed_h[p]))
            continue;
        rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_add(l, e->input_topic, p);
        t->offset = off;
        if (meta_format(e, p, h, meta, sizeof(meta)) == 0) {
            size_t ml = strlen(meta), dl = strlen(dmeta);
            if (dl && ml + 1 + dl < META_MAX) {
                meta[ml] = ' ';
                memcpy(meta + ml + 1, dmeta, dl + 1);
            } else if (dl) {
                s4f_metric_inc(e->m_meta_big);
                s4f_error_rl("partition %d: duplicate filter state (%zu bytes) too large "
                             "for commit metadata: committed without it (a crash may then "
                             "count replayed repartition records twice)",
                             (int)p, dl);
            }
            if (s4f_kafka_offset_set_metadata(t, meta) != 0)
                s4f_error_rl("out of memory for commit metadata");
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

/* Takes over partition p before its first record (at first_offset) is folded: reads what the
 * previous owner committed (offset, horizon, epoch, duplicate filter state), commits it back
 * with this owner's epoch (one more), then restores the long-term state from the changelog.
 *
 * The horizon keeps windows the previous owner made final from being emitted again (with
 * fewer flows) from the replay. The epoch fences a previous owner that is not dead but
 * stalled (a zombie): Kafka refuses its commits once the group has moved on, so every epoch
 * committed is above every earlier owner's, and a sink that keeps, per id, the document of
 * the highest epoch (docs/worker.md) never lets a zombie's stale results replace ours.
 * False when the committed state could not be read or the epoch not committed: the caller
 * sets the partition aside and tries again (never resumes without the horizon). */
static bool restore(struct s4f_engine *e, int32_t p, int64_t first_offset)
{
    char meta[8192], nm[8192];
    int64_t off, h = INT64_MIN, ep;
    const char *dm;
    if (s4f_kafka_consumer_committed(e->cons, e->input_topic, p, &off, meta, sizeof(meta), 10000) !=
        S4F_OK)
        return false;
    /* "s4f1 h=<ms> e=<epoch>", then for a repartitioned input " d=<duplicate filter>". */
    meta_split(meta, &ep, &dm);
    bool have_h = meta[0] && s4f_wengine_meta_parse(meta, strlen(meta), &h) == 0;
    int64_t at = off >= 0 ? off : first_offset;
    e->epoch[p] = ep + 1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, e->input_topic, p)->offset = at;
    bool ok = meta_format(e, p, h, nm, sizeof(nm)) == 0;
    if (ok && dm[0] && strlen(nm) + 1 + strlen(dm) < sizeof(nm)) {
        strcat(nm, " ");
        strcat(nm, dm);
    }
    ok = ok && s4f_kafka_offset_set_metadata(&l->elems[0], nm) == 0 &&
         s4f_kafka_consumer_commit(e->cons, l) == S4F_OK;
    rd_kafka_topic_partition_list_destroy(l);
    if (!ok)
        return false;
    e->restored[p] = true;
    if (e->changelog)
        restore_changelog(e, p);
    e->committed[p] = at;
    e->committed_h[p] = h;
    if (have_h) {
        s4f_wengine_set_horizon(e->we, p, h);
        s4f_info("partition %d: resuming at offset %" PRId64 ", windows final up to %" PRId64
                 ", epoch %" PRId64,
                 (int)p, off, h, e->epoch[p]);
    }
    if (!e->rekey)
        return true;
    if (e->common->time_mode == S4F_TIME_EVENT)
        s4f_wengine_set_watermark(e->we, p, INT64_MIN); /* from the marks only */
    e->dedup[p] = e->dedup[p] ? e->dedup[p] : s4f_dedup_new();
    if (!e->dedup[p]) {
        s4f_error_rl("out of memory for the duplicate filter: partition %d not committed", (int)p);
        return true;
    }
    /* The filter's state at the committed offset; a partition never committed starts empty
     * at its first record. */
    if (s4f_dedup_restore(e->dedup[p], dm, strlen(dm), at) != 0)
        s4f_error_rl("partition %d: unreadable duplicate filter state in the commit "
                     "metadata: starting empty",
                     (int)p);
    size_t bad = s4f_dedup_drop_if(e->dedup[p], src_offset_bad, e);
    if (bad)
        s4f_error_rl("partition %d: %zu duplicate filter maxima in the commit metadata lie "
                     "beyond the input's end: forgotten",
                     (int)p, bad);
    return true;
}

/* Sets partition p aside from offset `from` (restore failed): see held_until. */
static void hold(struct s4f_engine *e, int32_t p, int64_t from)
{
    s4f_metric_inc(e->m_assign_retry);
    s4f_warn_rl("partition %d: committed state unreadable or epoch not committed: "
                "retrying in %d ms",
                (int)p, HOLD_MS);
    if (!e->held_until[p])
        e->nheld++;
    e->held_until[p] = s4f_mono_ms() + HOLD_MS;
    e->hold_from[p] = from;
}

static void unhold(struct s4f_engine *e, int32_t p)
{
    if (e->held_until[p]) {
        e->held_until[p] = 0;
        e->nheld--;
    }
}

/* Partitions whose time aside is up are read again from where they were set aside. */
static void hold_expire(struct s4f_engine *e, int64_t now)
{
    for (int32_t p = 0; e->nheld > 0 && p < S4F_MAX_PARTITIONS; p++) {
        if (!e->held_until[p] || now < e->held_until[p])
            continue;
        unhold(e, p);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, e->input_topic, p)->offset = e->hold_from[p];
        rd_kafka_error_t *err =
            rd_kafka_seek_partitions(s4f_kafka_consumer_handle(e->cons), l, 5000);
        if (err) {
            s4f_error_rl("partition %d: seek back to %" PRId64 " failed: %s", (int)p,
                         e->hold_from[p], rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            hold(e, p, e->hold_from[p]);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
}

static void on_assign(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_engine *e = ctx;
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < S4F_MAX_PARTITIONS) {
            e->restored[parts->elems[i].partition] = false;
            unhold(e, parts->elems[i].partition);
        }
}

/* Forgets partition p: its windows (those with results in flight wait for their reports
 * unlinked), its duplicate filter. */
static void forget(struct s4f_engine *e, int32_t p)
{
    free(e->swm[p]);
    e->swm[p] = NULL;
    e->nswm[p] = 0;
    e->wm_dirty[p] = false;
    s4f_wengine_drop_partition(e->we, p);
    e->restored[p] = false;
    unhold(e, p);
    s4f_dedup_free(e->dedup[p]);
    e->dedup[p] = NULL;
}

static void on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_engine *e = ctx;
    if (s4f_kafka_consumer_assignment_lost(e->cons)) {
        /* Taken away, not handed over (this process stalled past the session timeout):
         * another member already rebuilds these partitions from the last commit, so their
         * windows must not be emitted (they would replace its complete results with our
         * partial ones) nor committed. Results still queued are stale too: purged. */
        s4f_metric_add(e->m_lost, (uint64_t)parts->cnt);
        s4f_warn("%d partition(s) lost to the group (stalled past the session timeout?): "
                 "their windows are dropped unemitted; the new owner rebuilds them",
                 parts->cnt);
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].partition >= 0 && parts->elems[i].partition < S4F_MAX_PARTITIONS)
                forget(e, parts->elems[i].partition);
        rd_kafka_purge(s4f_kafka_producer_handle(e->prod), RD_KAFKA_PURGE_F_QUEUE);
        s4f_kafka_producer_poll(e->prod, 0);
        return;
    }
    /* Whatever is acknowledged now can be committed; the rest is rebuilt by the next owner
     * from the committed offset, with the same ids. */
    int left = s4f_kafka_producer_flush(e->prod, REVOKE_FLUSH);
    if (left)
        s4f_warn("revoke: %d result(s) still unacknowledged", left);
    s4f_wengine_tick(e->we, s4f_mono_ms(), s4f_wall_ms());
    commit(e, parts);
    for (int i = 0; i < parts->cnt; i++) {
        int32_t p = parts->elems[i].partition;
        if (p >= 0 && p < S4F_MAX_PARTITIONS)
            forget(e, p);
    }
}

static struct s4f_engine *engine_new(const struct s4f_engine_opts *opts, char *err, size_t errlen)
{
    struct s4f_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->o = *opts;
    e->common = opts->conf;
    e->input_topic = e->common->input_topic ? e->common->input_topic : opts->default_input_topic;
    bool repart =
        opts->analysis->route && e->common->repartition_topic && e->common->repartition_topic[0];
    snprintf(e->group, sizeof(e->group), "%s.%s", opts->group_prefix, opts->analysis->name);
    s4f_metrics_labels(e->labels, sizeof(e->labels), "analysis", opts->analysis->name, NULL);
    e->m_malformed = s4f_metrics_counter(opts->metrics, "records_malformed_total",
                                         "Input records refused by the reader", e->labels);
    e->m_commits =
        s4f_metrics_counter(opts->metrics, "commits_total", "Offset commits done", e->labels);
    e->m_dups = s4f_metrics_counter(
        opts->metrics, "repartition_duplicates_total",
        "Repartitioned records dropped as replayed duplicates of records already folded",
        e->labels);
    e->m_dedup_full = s4f_metrics_counter(
        opts->metrics, "repartition_unfiltered_total",
        "Repartitioned records folded without duplicate check (filter full)", e->labels);
    e->m_src_beyond = s4f_metrics_counter(
        opts->metrics, "repartition_offset_refused_total",
        "Repartitioned records refused: source offset beyond the input partition's end", e->labels);
    e->m_meta_big = s4f_metrics_counter(
        opts->metrics, "commit_metadata_too_large_total",
        "Commits done without the duplicate filter state (too large for Kafka)", e->labels);

    e->m_restored =
        s4f_metrics_counter(opts->metrics, "changelog_restored_total",
                            "Changelog records read back on partition assignment", e->labels);
    e->m_restore_bad =
        s4f_metrics_counter(opts->metrics, "changelog_unreadable_total",
                            "Changelog records the analysis did not recognise", e->labels);
    e->m_restore_failed = s4f_metrics_counter(
        opts->metrics, "changelog_restore_failed_total",
        "Partitions whose changelog could not be read (their long-term state started empty)",
        e->labels);
    e->m_marks_held = s4f_metrics_counter(
        opts->metrics, "repartition_marks_held_total",
        "Watermark marks not taken: records they cover not all folded yet (a failed write "
        "being rewritten), or too far ahead of the clock",
        e->labels);
    e->m_lost = s4f_metrics_counter(
        opts->metrics, "partitions_lost_total",
        "Partitions taken away by the group (not handed over): state dropped unemitted", e->labels);
    e->m_assign_retry = s4f_metrics_counter(
        opts->metrics, "assignment_retries_total",
        "Partition take-overs retried: committed state unreadable or epoch not committed",
        e->labels);

    struct s4f_analysis_ctx actx = {opts->analysis->name, opts->metrics, e->labels};
    e->reloads = s4f_daemon_reload_count();
    e->inst = opts->analysis->init(opts->conf, &actx, err, errlen);
    if (!e->inst)
        goto fail;
    e->prod = s4f_worker_producer_new(opts->kafka_shared, opts->kafka_overrides, opts->metrics,
                                      delivery_cb, e, err, errlen);
    if (!e->prod)
        goto fail;
    /* An unreachable broker (-2): assume the topic exists (the stage then waits for the
     * broker, as the rest of the worker does) rather than silently change what is computed. */
    if (repart && s4f_kafka_partition_count(e->prod, e->common->repartition_topic, 10000) == -1) {
        s4f_warn("repartition topic '%s' does not exist: running without it (each input "
                 "partition yields its own row per host). Create it (as many partitions as "
                 "the input) to profile hosts whole",
                 e->common->repartition_topic);
        repart = false;
    }
    e->changelog =
        opts->analysis->restore && e->common->changelog_topic && e->common->changelog_topic[0];
    if (e->changelog) {
        /* State partition p is written to changelog partition p: the changelog needs at
         * least as many partitions as the topic the state is kept by. An unreachable broker
         * (-2): assumed usable, as for the repartition topic. */
        const char *by = repart ? e->common->repartition_topic : e->input_topic;
        int32_t nc = s4f_kafka_partition_count(e->prod, e->common->changelog_topic, 10000);
        int32_t ni = s4f_kafka_partition_count(e->prod, by, 10000);
        if (nc == -1 || (nc > 0 && ni > 0 && nc < ni)) {
            s4f_warn("changelog topic '%s' %s: long-term state kept in memory only (lost "
                     "on restart). Create it (compacted, at least as many partitions as %s)",
                     e->common->changelog_topic,
                     nc < 0 ? "does not exist" : "has too few partitions", by);
            e->changelog = false;
        }
    }
    struct s4f_wengine_opts wo = {
        .analysis = opts->analysis,
        .inst = e->inst,
        .common = e->common,
        .metrics = opts->metrics,
        .labels = e->labels,
        .emit = emit_cb,
        /* Without a usable changelog, analyses write none (and nothing waits for one). */
        .emit_changelog = e->changelog ? changelog_cb : NULL,
        .ctx = e,
    };
    e->we = s4f_wengine_new(&wo);
    if (!e->we) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (repart) {
        /* Stage one reads the input; this engine (stage two) reads the repartition topic. */
        snprintf(e->rekey_group, sizeof(e->rekey_group), "%s.rekey", e->group);
        struct s4f_rekey_opts ro = {
            .analysis = opts->analysis,
            .inst = e->inst,
            .group = e->rekey_group,
            .input_topic = e->input_topic,
            .repartition_topic = e->common->repartition_topic,
            .kafka_shared = opts->kafka_shared,
            .kafka_overrides = opts->kafka_overrides,
            .metrics = opts->metrics,
            .labels = e->labels,
            .commit_interval_ms = opts->commit_interval_ms,
            .common = e->common,
        };
        e->rekey = s4f_rekey_new(&ro, err, errlen);
        if (!e->rekey)
            goto fail;
        e->src_topic = e->input_topic;
        e->input_topic = e->common->repartition_topic;
    }
    e->cons =
        s4f_worker_consumer_new(opts->kafka_shared, opts->kafka_overrides, opts->metrics, e->group,
                                e->input_topic, on_assign, on_revoke, e, err, errlen);
    if (!e->cons)
        goto fail;
    for (int i = 0; i < S4F_MAX_PARTITIONS; i++) {
        e->srcb[i].hwm = -1;
        e->committed[i] = -1;
        e->committed_h[i] = INT64_MIN;
        e->next[i] = -1;
    }
    return e;
fail:
    s4f_engine_free(e);
    return NULL;
}

struct s4f_engine *s4f_engine_new(const struct s4f_engine_opts *opts, char *err, size_t errlen)
{
    /* Its lines name the analysis, as the thread that runs it will (s4f_engine_run). */
    char prev[64];
    snprintf(prev, sizeof(prev), "%s", s4f_log_thread_name());
    s4f_log_set_thread_name(opts->analysis->name);
    struct s4f_engine *e = engine_new(opts, err, errlen);
    s4f_log_set_thread_name(prev);
    return e;
}

/* The duplicate filter's last verdict for one side within one message of routed records. */
struct dedup_memo {
    bool set, dup;
    int32_t sp;
    int64_t so;
};

/* Folds one flow read at offset of partition p, through the duplicate filter of a
 * repartitioned input (memo: the message's verdicts per side, or NULL). proc_ms: the message's
 * Kafka timestamp (processing time). */
static void fold(struct s4f_engine *e, int32_t p, int64_t offset, const struct s4f_flow *f,
                 int64_t now_wall, int64_t proc_ms, struct dedup_memo *memo)
{
    if (e->dedup[p]) {
        /* Stage one writes the records of one packed input message (one source offset) that
         * go to one partition and side in one message, the first with the claim: they share
         * its verdict (checked again, the second would be taken for its own replay). */
        struct dedup_memo *mm =
            memo && f->side >= S4F_SIDE_SRC && f->side <= S4F_SIDE_DST ? &memo[f->side - 1] : NULL;
        if (mm && mm->set && mm->sp == f->src_partition && mm->so == f->src_offset) {
            if (mm->dup) {
                s4f_metric_inc(e->m_dups);
                s4f_wengine_skip(e->we, p, offset);
                return;
            }
            if (s4f_wengine_flow(e->we, p, offset, f, now_wall, proc_ms) != S4F_OK)
                s4f_wengine_skip(e->we, p, offset);
            return;
        }
        if (!src_offset_ok(e, f->src_partition, f->src_offset)) {
            s4f_metric_inc(e->m_src_beyond);
            s4f_warn_rl("record at %d/%" PRId64 " claims source offset %" PRId64
                        " of partition %d, beyond the input's end: refused",
                        (int)p, offset, f->src_offset, (int)f->src_partition);
            s4f_wengine_skip(e->we, p, offset);
            return;
        }
        enum s4f_dedup_verdict v =
            s4f_dedup_check(e->dedup[p], f->src_partition, f->side, f->src_offset, f->src_gap);
        if (mm)
            *mm = (struct dedup_memo){true, v == S4F_DEDUP_DUP, f->src_partition, f->src_offset};
        if (v == S4F_DEDUP_DUP) {
            s4f_metric_inc(e->m_dups);
            s4f_wengine_skip(e->we, p, offset);
            return;
        }
        if (v == S4F_DEDUP_FULL)
            s4f_metric_inc(e->m_dedup_full);
    }
    if (s4f_wengine_flow(e->we, p, offset, f, now_wall, proc_ms) != S4F_OK)
        s4f_wengine_skip(e->we, p, offset);
}

/* A watermark mark of source partition f->src_partition in repartition partition p. It is
 * taken only when every record it covers (up to the last routed here, per side) is folded
 * with no gap below: after a failed write, the records a rewrite brings back must not be
 * late. */
static void mark(struct s4f_engine *e, int32_t p, const struct s4f_flow *f, int64_t now_wall)
{
    int32_t sp = f->src_partition;
    struct s4f_dedup *d = e->dedup[p];
    if (sp >= S4F_MAX_PARTITIONS || f->end_ms > now_wall + e->common->max_future_ms ||
        (d && f->packets &&
         !s4f_dedup_contiguous(d, sp, S4F_SIDE_SRC, f->mark_from, (int64_t)f->packets - 1)) ||
        (d && f->bytes &&
         !s4f_dedup_contiguous(d, sp, S4F_SIDE_DST, f->mark_from, (int64_t)f->bytes - 1))) {
        s4f_metric_inc(e->m_marks_held);
        return;
    }
    if (sp >= e->nswm[p]) {
        int32_t n = sp + 1 > e->n_src ? sp + 1 : e->n_src;
        struct srcwm *nw = realloc(e->swm[p], (size_t)n * sizeof(*nw));
        if (!nw)
            return;
        for (int32_t i = e->nswm[p]; i < n; i++)
            nw[i] = (struct srcwm){INT64_MIN, false, false};
        e->swm[p] = nw;
        e->nswm[p] = n;
    }
    struct srcwm *w = &e->swm[p][sp];
    w->seen = true;
    w->idle = f->mark_idle;
    if (f->end_ms > w->wm)
        w->wm = f->end_ms;
    e->wm_dirty[p] = true;
}

/* Stage two's watermark of repartition partition p: the smallest of its source partitions'
 * (idle ones aside; all idle: the largest), once every source partition has told. */
static void watermark_update(struct s4f_engine *e, int32_t p)
{
    e->wm_dirty[p] = false;
    int32_t n = e->n_src > 0 ? e->n_src : e->nswm[p];
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    bool active = false;
    for (int32_t sp = 0; sp < n; sp++) {
        if (sp >= e->nswm[p] || !e->swm[p][sp].seen)
            return; /* not heard of yet: it may be far behind */
        const struct srcwm *w = &e->swm[p][sp];
        if (!w->idle) {
            active = true;
            lo = w->wm < lo ? w->wm : lo;
        }
        hi = w->wm > hi ? w->wm : hi;
    }
    if (n > 0)
        s4f_wengine_set_watermark(e->we, p, active ? lo : hi);
}

static void malformed(struct s4f_engine *e, int32_t p, int64_t offset, const char *why)
{
    s4f_metric_inc(e->m_malformed);
    s4f_warn_rl("malformed record at %d/%" PRId64 ": %s", (int)p, offset, why);
    s4f_wengine_skip(e->we, p, offset);
}

static void handle(struct s4f_engine *e, const rd_kafka_message_t *m, int64_t now_wall)
{
    int32_t p = m->partition;
    if (p < 0 || p >= S4F_MAX_PARTITIONS) {
        s4f_error_rl("partition %d beyond the supported %d: skipped", (int)p, S4F_MAX_PARTITIONS);
        return;
    }
    if (e->held_until[p])
        return; /* set aside: read again from hold_from */
    if (!e->restored[p] && !restore(e, p, m->offset)) {
        hold(e, p, m->offset);
        return;
    }
    e->next[p] = m->offset + 1;
    /* Processing time is the message's timestamp, not its arrival: a replay after a restart
     * must put every record in the window it was counted in before. */
    int64_t proc_ms = rd_kafka_message_timestamp(m, NULL);
    if (proc_ms < 0)
        proc_ms = now_wall;
    struct s4f_flow f;
    const char *why = NULL;
    const char *buf = m->payload;
    if (e->rekey && m->len && buf[0] != '{') {
        /* Routed records packed by stage one (one or more, each as long as its version byte
         * says): each is checked (and counted) on its own; a message that does not end at a
         * record boundary is refused whole. */
        size_t cnt = 0, o = 0;
        struct dedup_memo memo[2] = {{0}};
        while (o < m->len && cnt <= S4F_ROUTED_PACK_MAX) {
            o += s4f_routed_len(buf + o, m->len - o);
            cnt++;
        }
        if (o != m->len && cnt <= S4F_ROUTED_PACK_MAX) {
            malformed(e, p, m->offset, "not a routed record (length or magic)");
            return;
        }
        if (cnt > S4F_ROUTED_PACK_MAX) {
            malformed(e, p, m->offset, "more routed records in one message than a pack holds");
            return;
        }
        bool any = false;
        o = 0;
        for (size_t i = 0; i < cnt; i++) {
            size_t rlen = s4f_routed_len(buf + o, m->len - o);
            enum s4f_status st = s4f_flow_decode_routed(buf + o, rlen, &f, &why);
            o += rlen;
            if (st != S4F_OK) {
                malformed(e, p, m->offset, why);
            } else if (f.side == S4F_SIDE_MARK) {
                mark(e, p, &f, now_wall);
            } else {
                fold(e, p, m->offset, &f, now_wall, proc_ms, memo);
                any = true;
            }
        }
        if (!any)
            s4f_wengine_skip(e->we, p, m->offset);
        return;
    }
    if (!e->rekey && s4f_is_packed(buf, m->len)) {
        /* The collector's packed flows (docs/packed-format.md): all or nothing. A refused
         * message counts each flow its header announced as malformed. */
        size_t cnt;
        struct s4f_packed_iter it;
        if (s4f_packed_check(buf, m->len, &f, &cnt, &why) != S4F_OK) {
            if (cnt > 1)
                s4f_metric_add(e->m_malformed, cnt - 1);
            malformed(e, p, m->offset, why);
            return;
        }
        s4f_packed_open(buf, m->len, &it, &cnt, NULL);
        while (s4f_packed_next(&it, &f, NULL) == 1)
            fold(e, p, m->offset, &f, now_wall, proc_ms, NULL);
        return;
    }
    enum s4f_status st = e->rekey ? s4f_flow_decode_routed(buf, m->len, &f, &why)
                                  : s4f_flow_parse(buf, m->len, &f, &why);
    if (st != S4F_OK)
        malformed(e, p, m->offset, why);
    else if (f.side == S4F_SIDE_MARK)
        malformed(e, p, m->offset, "a watermark mark outside a pack");
    else
        fold(e, p, m->offset, &f, now_wall, proc_ms, NULL);
}

/* About how many records message m carries (packed or routed messages carry many), for the
 * batch nap in s4f_engine_run(). */
static size_t records_in(const struct s4f_engine *e, const rd_kafka_message_t *m)
{
    const char *b = m->payload;
    if (s4f_is_packed(b, m->len) && m->len >= S4F_PACKED_HDR_LEN)
        return (size_t)s4f_get_le((const uint8_t *)b + 4, 2);
    if (e->rekey && m->len > S4F_ROUTED_LEN && b[0] != '{')
        return m->len / S4F_ROUTED_LEN;
    return 1;
}

/* How many partitions stage one's input has (every minute: the set of source partitions
 * stage two waits to hear from). */
static void src_count(struct s4f_engine *e)
{
    int64_t now = s4f_mono_ms();
    if (e->n_src_at && now - e->n_src_at < 60000)
        return;
    e->n_src_at = now;
    int32_t n = s4f_kafka_partition_count(e->prod, e->src_topic, 2000);
    if (n > 0 && n <= S4F_MAX_PARTITIONS && n != e->n_src) {
        e->n_src = n;
        for (int32_t p = 0; p < S4F_MAX_PARTITIONS; p++)
            e->wm_dirty[p] = e->swm[p] != NULL;
    }
}

static void *rekey_main(void *arg)
{
    struct s4f_engine *e = arg;
    pthread_setname_np(pthread_self(), "s4f-stage1");
    s4f_log_set_thread_name(e->o.analysis->name);
    while (!s4f_daemon_stopping() && !atomic_load(&e->rekey_stop))
        s4f_rekey_poll(e->rekey, TICK_MS);
    return NULL;
}

int s4f_engine_run(struct s4f_engine *e)
{
    rd_kafka_message_t *msgs[BATCH];
    int64_t last_tick = 0, last_commit = s4f_mono_ms();
    s4f_log_set_thread_name(e->o.analysis->name);
    s4f_info("consuming %s as group %s, results to %s", e->input_topic, e->group,
             e->common->output_topic);
    if (e->rekey)
        s4f_info("stage one reads %s as group %s, writes %s",
                 e->common->input_topic ? e->common->input_topic : e->o.default_input_topic,
                 e->rekey_group, e->common->repartition_topic);
    /* Stage one in a thread of its own: it shares nothing with stage two but the analysis's
     * read-only route(), and on its own it was a third of the analysis thread's time. */
    bool stage_thread = false;
    if (e->rekey) {
        atomic_store(&e->rekey_stop, false);
        stage_thread = pthread_create(&e->rekey_thread, NULL, rekey_main, e) == 0;
        if (!stage_thread)
            s4f_warn("no thread for stage one: running it in the analysis thread");
    }
    while (!s4f_daemon_stopping()) {
        size_t n1 = e->rekey && !stage_thread ? s4f_rekey_poll(e->rekey, 0) : 0;
        size_t n = s4f_kafka_consumer_poll_batch(e->cons, n1 ? 0 : TICK_MS, msgs, BATCH);
        int64_t now_wall = s4f_wall_ms();
        s4f_wengine_clock(e->we, s4f_mono_ms());
        /* A reload (SIGHUP) before the batch: records consumed after the signal see what was
         * reloaded, even those that arrived while the poll above waited. */
        unsigned reloads = s4f_daemon_reload_count();
        if (reloads != e->reloads) {
            e->reloads = reloads;
            if (e->o.analysis->reload)
                e->o.analysis->reload(e->inst);
        }
        size_t recs = 0;
        for (size_t i = 0; i < n; i++) {
            recs += records_in(e, msgs[i]);
            handle(e, msgs[i], now_wall);
            rd_kafka_message_destroy(msgs[i]);
        }
        if (e->rekey) {
            src_count(e);
            for (int32_t p = 0; n && p < S4F_MAX_PARTITIONS; p++)
                if (e->wm_dirty[p])
                    watermark_update(e, p);
        }
        s4f_kafka_producer_poll(e->prod, 0);
        /* A short batch means the fetcher is behind: let its queue fill for a moment rather
         * than sleep and be woken again for every few records (futex churn on both sides
         * was a tenth of the CPU at a million flows per second). Counted in records: a
         * batch of a few packed messages is not short. */
        if (n > 0 && recs < BATCH)
            usleep(BATCH_NAP_MS * 1000);
        int64_t now = s4f_mono_ms();
        if (e->nheld)
            hold_expire(e, now);
        if (now - last_tick >= TICK_MS) {
            s4f_wengine_tick(e->we, now, now_wall);
            last_tick = now;
        }
        if (now - last_commit >= e->o.commit_interval_ms) {
            commit(e, NULL);
            last_commit = now;
        }
    }
    /* Drain: emit what is open, wait for acknowledgements within the grace, commit. */
    s4f_info("draining");
    if (stage_thread) {
        atomic_store(&e->rekey_stop, true);
        pthread_join(e->rekey_thread, NULL);
    }
    if (e->rekey)
        s4f_rekey_drain(e->rekey, (int)(s4f_daemon_drain_left_ms() / 2));
    s4f_wengine_flush(e->we);
    while (s4f_daemon_stopping() == 1 && s4f_wengine_inflight(e->we) > 0) {
        int64_t left = s4f_daemon_drain_left_ms();
        s4f_kafka_producer_flush(e->prod, left > 100 ? 100 : (int)left);
        s4f_wengine_tick(e->we, s4f_mono_ms(), s4f_wall_ms());
    }
    s4f_wengine_tick(e->we, s4f_mono_ms(), s4f_wall_ms());
    commit(e, NULL);
    if (s4f_wengine_inflight(e->we) > 0)
        s4f_warn("%" PRId64 " result(s) unacknowledged at exit: their input is replayed "
                 "at the next start",
                 s4f_wengine_inflight(e->we));
    return 0;
}

void s4f_engine_free(struct s4f_engine *e)
{
    if (!e)
        return;
    s4f_rekey_free(e->rekey);
    if (e->cons) {
        s4f_kafka_consumer_close(e->cons);
        s4f_kafka_consumer_free(e->cons);
    }
    if (e->prod) {
        s4f_kafka_producer_flush(e->prod, 1000);
        s4f_kafka_producer_free(e->prod);
    }
    /* After the consumer is closed: its revoke callback still commits with the filters. */
    for (int i = 0; i < S4F_MAX_PARTITIONS; i++) {
        s4f_dedup_free(e->dedup[i]);
        free(e->swm[i]);
    }
    s4f_wengine_free(e->we);
    if (e->inst && e->o.analysis->destroy)
        e->o.analysis->destroy(e->inst);
    free(e);
}
