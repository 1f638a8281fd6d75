/* Windows per partition: see window.h for the semantics. */
#include "window.h"

#include "log.h"
#include "result.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct win {
    int64_t start, end;
    void *state;
    int64_t min_offset; /* smallest input offset folded in */
    int inflight;       /* documents handed to the producer, not yet acknowledged */
    bool emitted;       /* emitted at least once */
    bool dirty;         /* has flows not yet in an emitted document */
    bool finalised;     /* on_window_final has run: waiting for deliveries only */
    bool need_full;     /* a document may be missing downstream: next emission is complete */
    bool final_resend;  /* final, and a message failed for good: on_window_final runs again */
    int64_t last_emit;  /* monotonic ms of the last emission */
    struct part *part;  /* NULL once orphaned (partition revoked) */
    struct win *next;
};

/* The watermark statistic: the quorum-th largest event time among the records of the current
 * block of S4F_WM_BLOCK offsets. Blocks are aligned on offsets, not on arrival, so a replay
 * that starts mid-stream rebuilds the same blocks from the same records. */
/* Records set aside because they are too far ahead of the watermark: at most this many per
 * partition, each for at most two blocks of offsets. */
#define S4F_WM_OUTLIERS 32

struct outlier {
    int64_t offset, t;
    struct s4f_flow f;
};

struct part {
    bool used;
    int32_t id;
    int64_t max_t; /* watermark: only moves forward (see wm_observe) */
    struct s4f_wmstat wms;
    struct outlier *outl; /* S4F_WM_OUTLIERS, allocated on the first outlier */
    int nout;
    int64_t outl_min_t; /* smallest time set aside (INT64_MAX: none) */
    bool ext;           /* the watermark is set from outside (s4f_wengine_set_watermark) */
    int64_t ext_wm;
    int64_t horizon;     /* windows ending at or before it are final */
    int64_t restored_h;  /* the horizon a previous owner committed (set_horizon) */
    int64_t next_offset; /* -1: nothing read */
    int64_t last_flow_mono;
    bool idle_emitted;
    struct win *wins; /* sorted by start */
    size_t nwins;
    void *pstate;
};

struct s4f_wengine {
    struct s4f_wengine_opts o;
    int64_t size, slide, lateness;
    struct part *parts[S4F_MAX_PARTITIONS];
    struct win *orphans;
    int64_t inflight, nwindows;
    struct s4f_emit em;
    struct s4f_metric *m_flows, *m_late_folded, *m_late_dropped, *m_future, *m_nomem, *m_results,
        *m_refused, *m_windows_forced, *m_windows_gauge, *m_idle, *m_outliers, *m_outliers_dropped,
        *m_replayed;
    int64_t clock_mono; /* monotonic ms of the current batch (0: read the clock) */
};

/* ---- engine ------------------------------------------------------------------------------ */

/* A message of window w went to the producer: the window waits for its acknowledgement. */
static void taken(void *owner, void *win)
{
    struct s4f_wengine *e = owner;
    struct win *w = win;
    w->inflight++;
    e->inflight++;
}

struct s4f_wengine *s4f_wengine_new(const struct s4f_wengine_opts *opts)
{
    struct s4f_wengine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->o = *opts;
    e->size = opts->common->window_ms;
    e->slide = opts->common->slide_ms ? opts->common->slide_ms : e->size;
    e->lateness = opts->common->lateness_ms;
    struct s4f_metrics *m = opts->metrics;
    const char *l = opts->labels;
    if (m) {
        e->m_flows = s4f_metrics_counter(m, "flows_total", "Flows folded into windows", l);
        e->m_late_folded = s4f_metrics_counter(
            m, "late_folded_total",
            "Late flows folded into an already emitted window (re-emitted, same id)", l);
        e->m_late_dropped = s4f_metrics_counter(
            m, "late_dropped_total", "Flows for windows already final (past allowed lateness)", l);
        e->m_replayed = s4f_metrics_counter(
            m, "replayed_skipped_total",
            "Replayed flows of windows a previous owner of the partition had made final", l);
        e->m_future = s4f_metrics_counter(m, "future_dropped_total",
                                          "Flows refused: end time beyond max_future ahead", l);
        e->m_nomem =
            s4f_metrics_counter(m, "nomem_dropped_total", "Flows dropped: out of memory", l);
        e->m_outliers = s4f_metrics_counter(
            m, "outlier_total",
            "Flows set aside: event time too far ahead of the watermark (folded if it follows)", l);
        e->m_outliers_dropped = s4f_metrics_counter(
            m, "outlier_dropped_total",
            "Outliers dropped: the watermark did not follow them within two blocks of records", l);
        e->m_results = s4f_metrics_counter(m, "results_total", "Result documents produced", l);
        e->m_refused =
            s4f_metrics_counter(m, "results_refused_total", "Result documents lost for good", l);
        e->m_windows_forced =
            s4f_metrics_counter(m, "windows_forced_total",
                                "Windows made final early because a partition held too many", l);
        e->m_idle = s4f_metrics_counter(m, "idle_emits_total",
                                        "Open windows emitted because their partition was idle", l);
        e->m_windows_gauge = s4f_metrics_gauge(m, "windows_open", "Windows held in memory", l);
    }
    struct s4f_emit_opts eo = {
        .emit = opts->emit,
        .emit_changelog = opts->emit_changelog,
        .ctx = opts->ctx,
        .changelog = opts->common->changelog_topic && opts->common->changelog_topic[0],
        .taken = taken,
        .owner = e,
        .m_results = e->m_results,
        .m_refused = e->m_refused,
    };
    s4f_emit_init(&e->em, &eo);
    return e;
}

int s4f_window_conf_check(const struct s4f_analysis_common *c, char *err, size_t errlen)
{
    int64_t slide = c->slide_ms ? c->slide_ms : c->window_ms;
    if (c->window_ms % slide != 0 || c->window_ms / slide > 60) {
        snprintf(err, errlen,
                 "window must be a multiple of slide, at most 60 slides (window %lld ms, slide "
                 "%lld ms)",
                 (long long)c->window_ms, (long long)slide);
        return -1;
    }
    /* Open windows per partition: those still within lateness behind the watermark, and
     * those of flows up to window + lateness ahead of it (further ones wait as outliers).
     * Past the cap, a flow within lateness would lose its window. */
    int64_t need = 2 * ((c->window_ms + c->lateness_ms) / slide) + 1;
    if (need > S4F_MAX_WINDOWS_PER_PARTITION) {
        snprintf(err, errlen,
                 "2 * (window + allowed_lateness) / slide + 1 = %lld open windows per "
                 "partition, more than the %d the worker holds: lengthen the slide or shorten "
                 "the lateness",
                 (long long)need, S4F_MAX_WINDOWS_PER_PARTITION);
        return -1;
    }
    if (c->time_mode == S4F_TIME_PROCESSING && c->repartition_topic && c->repartition_topic[0]) {
        /* Stage two would see stage one's write times, which a replay of stage one changes. */
        snprintf(err, errlen,
                 "time_mode processing needs repartition_topic '' (the "
                 "repartition topic's timestamps are not the input's)");
        return -1;
    }
    return 0;
}

static void win_release(struct s4f_wengine *e, struct win *w)
{
    if (w->state)
        e->o.analysis->window_free(e->o.inst, w->state);
    e->nwindows--;
    s4f_metric_set(e->m_windows_gauge, e->nwindows);
    free(w);
}

static struct part *part_get(struct s4f_wengine *e, int32_t id, bool create)
{
    if (id < 0 || id >= S4F_MAX_PARTITIONS)
        return NULL;
    struct part *p = e->parts[id];
    if (p || !create)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->id = id;
    p->max_t = INT64_MIN;
    p->wms.block = -1;
    p->outl_min_t = INT64_MAX;
    p->horizon = INT64_MIN;
    p->ext_wm = INT64_MIN;
    p->restored_h = INT64_MIN;
    p->next_offset = -1;
    p->last_flow_mono = s4f_mono_ms();
    if (e->o.analysis->partition_new) {
        p->pstate = e->o.analysis->partition_new(e->o.inst, id);
        if (!p->pstate) {
            free(p);
            return NULL;
        }
    }
    e->parts[id] = p;
    return p;
}

void s4f_wengine_drop_partition(struct s4f_wengine *e, int32_t id)
{
    struct part *p = part_get(e, id, false);
    if (!p)
        return;
    struct win *w = p->wins;
    while (w) {
        struct win *next = w->next;
        if (w->inflight > 0) {
            /* The producer still holds documents pointing at it. */
            w->part = NULL;
            w->next = e->orphans;
            e->orphans = w;
        } else {
            win_release(e, w);
        }
        w = next;
    }
    if (p->pstate && e->o.analysis->partition_free)
        e->o.analysis->partition_free(e->o.inst, p->pstate);
    free(p->outl);
    free(p);
    e->parts[id] = NULL;
}

void s4f_wengine_free(struct s4f_wengine *e)
{
    if (!e)
        return;
    for (int32_t i = 0; i < S4F_MAX_PARTITIONS; i++)
        if (e->parts[i]) {
            /* At exit nothing will be delivered any more: free everything. */
            for (struct win *w = e->parts[i]->wins; w; w = w->next)
                w->inflight = 0;
            s4f_wengine_drop_partition(e, i);
        }
    while (e->orphans) {
        struct win *w = e->orphans;
        e->orphans = w->next;
        win_release(e, w);
    }
    s4f_emit_release(&e->em);
    free(e);
}

/* Finds or creates the window starting at start in p (list sorted by start). */
static struct win *win_get(struct s4f_wengine *e, struct part *p, int64_t start)
{
    struct win **pp = &p->wins;
    while (*pp && (*pp)->start < start)
        pp = &(*pp)->next;
    if (*pp && (*pp)->start == start)
        return *pp;
    struct win *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->state = e->o.analysis->window_new(e->o.inst, start, start + e->size, e->slide);
    if (!w->state) {
        free(w);
        return NULL;
    }
    w->start = start;
    w->end = start + e->size;
    w->min_offset = INT64_MAX;
    w->part = p;
    w->next = *pp;
    *pp = w;
    p->nwins++;
    e->nwindows++;
    s4f_metric_set(e->m_windows_gauge, e->nwindows);
    return w;
}

/* The watermark of p in event mode. */
static inline int64_t wmark(const struct part *p)
{
    return p->ext ? p->ext_wm : p->max_t;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static void emit_window(struct s4f_wengine *e, struct part *p, struct win *w);
static void finalise(struct s4f_wengine *e, struct part *p, struct win *w);

/* Offers t to a min-heap of the q largest times; true when it entered. */
static bool top_offer(int64_t *h, int *n, int q, int64_t t)
{
    int i;
    if (*n < q) {
        /* sift up */
        for (i = (*n)++; i > 0 && h[(i - 1) / 2] > t; i = (i - 1) / 2)
            h[i] = h[(i - 1) / 2];
        h[i] = t;
        return true;
    }
    if (t <= h[0])
        return false;
    /* replace the smallest, sift down */
    for (i = 0;;) {
        int c = 2 * i + 1;
        if (c >= q)
            break;
        if (c + 1 < q && h[c + 1] < h[c])
            c++;
        if (h[c] >= t)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = t;
    return true;
}

/* Feeds the time of the record at offset to p's watermark: the quorum-th largest time among
 * the records of its block of offsets, never moving back. A forged time moves it only with
 * quorum - 1 accomplices among the same 128 offsets; an ordered stream holds it quorum
 * records behind its newest. O(log quorum) per record at most. True when it moved. */
bool s4f_wmstat_observe(struct s4f_wmstat *s, int q, int64_t offset, int64_t t, int64_t *wm)
{
    if (q <= 1) {
        if (t <= *wm)
            return false;
        *wm = t;
        return true;
    }
    int64_t b = offset / S4F_WM_BLOCK;
    if (b > s->block) {
        s->n = 0;
        s->block = b;
    }
    if (!top_offer(s->top, &s->n, q, t) || s->n < q || s->top[0] <= *wm)
        return false;
    *wm = s->top[0];
    return true;
}

static bool wm_observe(struct s4f_wengine *e, struct part *p, int64_t offset, int64_t t)
{
    return s4f_wmstat_observe(&p->wms, (int)e->o.common->wm_quorum, offset, t, &p->max_t);
}

/* How far ahead of the watermark a record may be and still be folded at once. */
static bool too_far_ahead(struct s4f_wengine *e, const struct part *p, int64_t t)
{
    /* A watermark set from outside (stage two of a repartitioned analysis) is not this
     * partition's statistic: records ahead of it are a backlog catching up, not outliers. */
    return !p->ext && e->o.common->wm_quorum > 1 && p->max_t != INT64_MIN &&
           t > p->max_t + e->lateness + e->size;
}

static void outlier_remove(struct s4f_wengine *e, struct part *p, int i, bool dropped)
{
    if (dropped)
        s4f_metric_inc(e->m_outliers_dropped);
    memmove(&p->outl[i], &p->outl[i + 1], (size_t)(p->nout - i - 1) * sizeof(*p->outl));
    p->nout--;
    p->outl_min_t = INT64_MAX;
    for (int k = 0; k < p->nout; k++)
        if (p->outl[k].t < p->outl_min_t)
            p->outl_min_t = p->outl[k].t;
}

static enum s4f_status fold(struct s4f_wengine *e, struct part *p, int64_t offset,
                            const struct s4f_flow *f, int64_t t);

/* Sets a record aside until the watermark comes within reach of it (the oldest goes when
 * full). */
static enum s4f_status outlier_keep(struct s4f_wengine *e, struct part *p, int64_t offset,
                                    const struct s4f_flow *f, int64_t t)
{
    if (!p->outl && !(p->outl = malloc(S4F_WM_OUTLIERS * sizeof(*p->outl)))) {
        s4f_metric_inc(e->m_nomem);
        return S4F_ERR;
    }
    if (p->nout == S4F_WM_OUTLIERS)
        outlier_remove(e, p, 0, true);
    p->outl[p->nout++] = (struct outlier){offset, t, *f};
    if (t < p->outl_min_t)
        p->outl_min_t = t;
    s4f_metric_inc(e->m_outliers);
    s4f_warn_rl("partition %d: flow end time %" PRId64 " is %" PRId64
                " ms ahead of the watermark: set aside",
                (int)p->id, t, t - p->max_t);
    return S4F_OK;
}

/* Folds the outliers the watermark has come close to; drops those it did not follow within
 * two blocks of offsets (a function of the record sequence, so replays agree). */
static void outliers_update(struct s4f_wengine *e, struct part *p, int64_t offset)
{
    while (p->nout && p->outl[0].offset + 2 * S4F_WM_BLOCK <= offset)
        outlier_remove(e, p, 0, true);
    if (!p->nout || too_far_ahead(e, p, p->outl_min_t))
        return;
    for (int i = 0; i < p->nout;) {
        if (too_far_ahead(e, p, p->outl[i].t)) {
            i++;
            continue;
        }
        struct outlier o = p->outl[i];
        outlier_remove(e, p, i, false);
        fold(e, p, o.offset, &o.f, o.t);
    }
}

enum s4f_status s4f_wengine_flow(struct s4f_wengine *e, int32_t partition, int64_t offset,
                                 const struct s4f_flow *f, int64_t now_wall, int64_t proc_ms)
{
    struct part *p = part_get(e, partition, true);
    if (!p) {
        s4f_metric_inc(e->m_nomem);
        return S4F_ERR;
    }
    if (offset >= p->next_offset)
        p->next_offset = offset + 1;
    /* The batch's clock rather than a clock read per flow (a visible cost at 1 M flows/s). */
    p->last_flow_mono = e->clock_mono ? e->clock_mono : s4f_mono_ms();
    p->idle_emitted = false;
    int64_t t = f->end_ms;
    if (e->o.common->time_mode == S4F_TIME_PROCESSING) {
        t = proc_ms;
    } else if (t > now_wall + e->o.common->max_future_ms) {
        s4f_metric_inc(e->m_future);
        s4f_warn_rl("flow end time %" PRId64 " is %" PRId64 " ms ahead of the clock: refused", t,
                    t - now_wall);
        return S4F_ERR;
    }
    bool moved = wm_observe(e, p, offset, t);
    enum s4f_status st =
        too_far_ahead(e, p, t) ? outlier_keep(e, p, offset, f, t) : fold(e, p, offset, f, t);
    if (p->nout && (moved || p->outl[0].offset + 2 * S4F_WM_BLOCK <= offset))
        outliers_update(e, p, offset);
    return st;
}

/* Folds flow f (time t, read at offset) into p's windows. */
static enum s4f_status fold(struct s4f_wengine *e, struct part *p, int64_t offset,
                            const struct s4f_flow *f, int64_t t)
{
    /* Windows containing t: starts s = k * slide with s <= t < s + size. */
    int64_t last = floor_div(t, e->slide) * e->slide;
    int folded = 0, late = 0, replayed = 0;
    bool late_folded = false;
    for (int64_t s = last; s > t - e->size; s -= e->slide) {
        int64_t end = s + e->size;
        if (end <= p->restored_h) {
            /* made final by the previous owner: a replay after a restart or a rebalance,
             * already counted there */
            replayed = 1;
            continue;
        }
        if (end <= p->horizon || end + e->lateness <= wmark(p)) {
            /* final already, or would be at once: too late */
            late = 1;
            continue;
        }
        struct win *w = win_get(e, p, s);
        if (!w) {
            s4f_metric_inc(e->m_nomem);
            continue;
        }
        if (w->finalised) {
            late = 1;
            continue;
        }
        e->o.analysis->on_flow(e->o.inst, w->state, f);
        if (offset < w->min_offset)
            w->min_offset = offset;
        /* Late: the window was emitted because the watermark passed its end. (A window
         * emitted early by the idle timeout is not late: its end is still ahead.) */
        if (w->emitted && wmark(p) >= w->end)
            late_folded = true;
        w->dirty = true;
        folded++;
    }
    if (!folded) {
        s4f_metric_inc(late ? e->m_late_dropped : replayed ? e->m_replayed : e->m_nomem);
        return S4F_ERR;
    }
    s4f_metric_inc(e->m_flows);
    if (late_folded)
        s4f_metric_inc(e->m_late_folded);
    /* A hostile spread of timestamps must not pile up windows: finalise the oldest open ones.
     * Windows already final but waiting for acknowledgements are bounded by the producer's
     * queue, so they do not count against the cap. */
    size_t open = 0;
    for (struct win *w = p->wins; w; w = w->next)
        open += !w->finalised;
    for (struct win *w = p->wins; w && open > S4F_MAX_WINDOWS_PER_PARTITION;) {
        struct win *next = w->next;
        if (!w->finalised) {
            open--;
            s4f_metric_inc(e->m_windows_forced);
            s4f_warn_rl("partition %d holds more than %d windows: finalising the oldest early",
                        (int)p->id, S4F_MAX_WINDOWS_PER_PARTITION);
            if (w->dirty)
                emit_window(e, p, w);
            finalise(e, p, w);
        }
        w = next;
    }
    return S4F_OK;
}

void s4f_wengine_skip(struct s4f_wengine *e, int32_t partition, int64_t offset)
{
    struct part *p = part_get(e, partition, true);
    if (p && offset >= p->next_offset)
        p->next_offset = offset + 1;
}

static void emit_window(struct s4f_wengine *e, struct part *p, struct win *w)
{
    struct s4f_window info = {w->start, w->end, p->id, !w->emitted, w->emitted && !w->need_full,
                              false};
    s4f_emit_start(&e->em, w->start, w->end, p->id, w);
    w->last_emit = s4f_mono_ms();
    e->o.analysis->on_window_close(e->o.inst, p->pstate, w->state, &info, &e->em);
    if (e->em.retry) {
        /* Back-pressure: part of it went out; the next emission sends it all again (same
         * ids: the documents that did go out are overwritten). */
        w->need_full = true;
        return;
    }
    w->emitted = true;
    w->dirty = false;
    w->need_full = false;
}

/* Runs on_window_final, and unlinks and frees w once its results are acknowledged and it is
 * the oldest window of p. The horizon (committed with the offsets: "windows ending at or
 * before it are final and delivered") only moves past windows that left memory in order: a
 * younger window acknowledged first must not carry the horizon past an older one whose
 * results are still in flight, or a crash now would skip the older one in the replay. */
static void finalise(struct s4f_wengine *e, struct part *p, struct win *w)
{
    if (!w->finalised || w->final_resend) {
        /* Again after a failed delivery (resend): which message was lost is not known, so
         * the long-lived records (changelog) are written again, from their current state. */
        bool resend = w->finalised;
        w->finalised = true;
        w->final_resend = false;
        if (e->o.analysis->on_window_final) {
            struct s4f_window info = {w->start, w->end, p->id, false, false, resend};
            s4f_emit_start(&e->em, w->start, w->end, p->id, w);
            e->o.analysis->on_window_final(e->o.inst, p->pstate, w->state, &info, &e->em);
            /* Final results run once (they fold into long-lived state): what the producer's
             * queue refused for longer than its wait is lost, so it is counted and logged. */
            if (e->em.retry) {
                s4f_metric_add(e->m_refused, (uint64_t)e->em.nretry);
                s4f_error_rl("window %" PRId64 " of partition %d: %d final result(s) dropped "
                             "(producer queue full)",
                             w->start, (int)p->id, e->em.nretry);
            }
        }
    }
    if (w->inflight > 0 || w->dirty || p->wins != w)
        return;
    p->wins = w->next;
    p->nwins--;
    if (w->end > p->horizon)
        p->horizon = w->end;
    win_release(e, w);
}

void *s4f_wengine_pstate(struct s4f_wengine *e, int32_t partition)
{
    struct part *p = part_get(e, partition, true);
    return p ? p->pstate : NULL;
}

void s4f_wengine_clock(struct s4f_wengine *e, int64_t now_mono)
{
    e->clock_mono = now_mono;
}

void s4f_wengine_tick(struct s4f_wengine *e, int64_t now_mono, int64_t now_wall)
{
    e->clock_mono = now_mono;
    for (struct win **pp = &e->orphans; *pp;) {
        struct win *w = *pp;
        if (w->inflight == 0) {
            *pp = w->next;
            win_release(e, w);
        } else {
            pp = &w->next;
        }
    }
    for (int32_t i = 0; i < S4F_MAX_PARTITIONS; i++) {
        struct part *p = e->parts[i];
        if (!p)
            continue;
        bool idle = now_mono - p->last_flow_mono >= e->o.common->idle_ms;
        /* Processing time: the records' Kafka timestamps move the watermark as event times
         * do (replays agree); the wall clock only takes over on an idle partition, so that
         * its last windows become final. */
        int64_t wm = wmark(p);
        if (e->o.common->time_mode == S4F_TIME_PROCESSING && idle && now_wall > wm)
            wm = now_wall;
        if (idle && !p->idle_emitted) {
            p->idle_emitted = true;
            for (struct win *w = p->wins; w; w = w->next)
                if (w->dirty && !w->finalised && wm < w->end) {
                    s4f_metric_inc(e->m_idle);
                    emit_window(e, p, w);
                }
        }
        struct win *w = p->wins;
        while (w) {
            struct win *next = w->next;
            if (w->end + e->lateness <= wm || w->finalised) {
                /* A final window is dirty again only when a delivery failed for good: its
                 * state is still here, so it is emitted again rather than lost. */
                if (w->dirty)
                    emit_window(e, p, w);
                if (!w->dirty)
                    finalise(e, p, w);
            } else if (w->end <= wm && w->dirty &&
                       (!w->emitted || now_mono - w->last_emit >= S4F_REEMIT_INTERVAL_MS)) {
                /* Late flows: re-emitted at most once per interval, however many arrive. */
                emit_window(e, p, w);
            }
            w = next;
        }
    }
}

void s4f_wengine_flush(struct s4f_wengine *e)
{
    for (int32_t i = 0; i < S4F_MAX_PARTITIONS; i++) {
        struct part *p = e->parts[i];
        if (!p)
            continue;
        for (struct win *w = p->wins; w; w = w->next)
            if (w->dirty && !w->finalised)
                emit_window(e, p, w);
    }
}

void s4f_wengine_delivered(struct s4f_wengine *e, void *handle, bool ok)
{
    /* Runs inside produce()/poll(), possibly while tick() walks the window lists: it only
     * updates counts; tick() unlinks and frees. */
    struct win *w = handle;
    if (w->inflight > 0)
        w->inflight--;
    if (e->inflight > 0)
        e->inflight--;
    if (!ok && w->part) {
        /* Emitted again at the next tick, final or not, completely: which document was lost
         * is not known here. A final window's changelog records are written again too. */
        w->dirty = true;
        w->need_full = true;
        w->final_resend = w->finalised;
        s4f_warn_rl("a result was not delivered (failed for good): emitting its window again");
    } else if (!ok) {
        /* The partition was revoked: its input was committed only up to this window's
         * flows, so the next owner rebuilds and emits it. */
        s4f_warn_rl("a result of a revoked partition was not delivered: the next owner "
                    "emits it again from the replay");
    }
}

int64_t s4f_wengine_safe_offset(struct s4f_wengine *e, int32_t partition, int64_t *horizon)
{
    struct part *p = part_get(e, partition, false);
    *horizon = INT64_MIN;
    if (!p)
        return -1;
    int64_t safe = p->next_offset;
    for (struct win *w = p->wins; w; w = w->next)
        if (w->min_offset < safe)
            safe = w->min_offset;
    for (int i = 0; i < p->nout; i++)
        if (p->outl[i].offset < safe)
            safe = p->outl[i].offset;
    *horizon = p->horizon;
    return safe;
}

void s4f_wengine_set_horizon(struct s4f_wengine *e, int32_t partition, int64_t horizon)
{
    struct part *p = part_get(e, partition, true);
    if (p && horizon > p->horizon)
        p->horizon = horizon;
    /* The watermark had reached horizon + lateness when that window became final: a floor
     * for the replay's, so that outliers are recognised from its first record. */
    if (p && horizon != INT64_MIN && horizon + e->lateness > p->max_t)
        p->max_t = horizon + e->lateness;
    if (p && horizon > p->restored_h)
        p->restored_h = horizon;
}

void s4f_wengine_set_watermark(struct s4f_wengine *e, int32_t partition, int64_t wm)
{
    struct part *p = part_get(e, partition, true);
    if (!p)
        return;
    p->ext = true;
    if (wm > p->ext_wm)
        p->ext_wm = wm;
}

int32_t s4f_wengine_win_partition(const void *win)
{
    const struct win *w = win;
    return w && w->part ? w->part->id : -1;
}

int64_t s4f_wengine_inflight(struct s4f_wengine *e)
{
    return e->inflight;
}

int64_t s4f_wengine_windows(struct s4f_wengine *e)
{
    return e->nwindows;
}

int s4f_wengine_meta_format(int64_t horizon, char *buf, size_t len)
{
    int n = snprintf(buf, len, "s4f1 h=%" PRId64, horizon);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int s4f_wengine_meta_parse(const char *buf, size_t len, int64_t *horizon)
{
    char tmp[64];
    if (!buf || len == 0 || len >= sizeof(tmp))
        return -1;
    memcpy(tmp, buf, len);
    tmp[len] = '\0';
    char *end;
    if (strncmp(tmp, "s4f1 h=", 7) != 0)
        return -1;
    long long v = strtoll(tmp + 7, &end, 10);
    if (*end || end == tmp + 7)
        return -1;
    *horizon = (int64_t)v;
    return 0;
}
