/* Windows: event-time (or processing-time) windows per input partition, the watermark, allowed
 * lateness, idle timeout, and the bookkeeping that tells the engine which input offsets are safe
 * to commit. No Kafka here, so unit tests drive it directly.
 *
 * Semantics, per partition p (partitions never share state):
 *   - a flow's time t is its end time (event mode) or its Kafka message timestamp
 *     (processing mode: stable across replays, unlike the arrival wall clock);
 *   - it belongs to every window [s, s + window) with s a multiple of slide and s <= t;
 *   - the watermark is the quorum-th largest t among the records of p's current block of
 *     128 offsets, never moving back (quorum = watermark_quorum; 1: the largest t
 *     seen). A flow whose t is beyond watermark + window + allowed_lateness is an outlier:
 *     set aside (at most 32 per partition), folded when the watermark comes within that
 *     distance, dropped (counted) if it has not within two blocks of offsets. In processing
 *     mode an idle partition's watermark follows the wall clock;
 *   - a window is emitted once the watermark reaches its end, and kept for allowed_lateness more:
 *     a flow arriving for it meanwhile is folded in and the window re-emitted (same ids) at
 *     most every S4F_REEMIT_INTERVAL_MS, and when it becomes final; a re-emission may carry
 *     only the results that changed (s4f_window.changed_only), unless a delivery failed;
 *   - then it is final: the analysis's on_window_final runs, it leaves memory once its results
 *     are acknowledged, and p's horizon moves to its end; flows for windows ending at or
 *     before the horizon are late_dropped (counted);
 *   - a partition with no flow for idle_timeout (wall clock) has its open windows emitted as
 *     they are (they stay open: more flows re-emit them);
 *   - the safe offset of p is the smallest input offset folded into a window still in memory,
 *     or the next offset to read when none is: committing it (with the horizon) means a
 *     restart rebuilds every window that was not final, and skips those that were.
 *
 * Ownership: the engine owns window states and frees them with the analysis's window_free.
 * The opaque handed to emit() is a window handle that stays valid until delivered() has been
 * called for it (the engine keeps revoked windows alive until then). Single-threaded. */
#ifndef S4F_WINDOW_H
#define S4F_WINDOW_H

#include "analysis.h"
#include "metrics.h"

#include <stdbool.h>
#include <stdint.h>

#define S4F_MAX_PARTITIONS 4096
/* Windows one partition may hold. A configuration needs about (window + lateness) / slide
 * of them, plus as many again for flows up to window + lateness ahead of the watermark: the
 * configuration is refused when 2 * (window + lateness) / slide + 1 exceeds it (main.c), so
 * only a failure of that bound reaches it (the oldest window is then forced final). */
#define S4F_MAX_WINDOWS_PER_PARTITION 512
/* A window receiving late flows is re-emitted at most this often (the flows of a lagging
 * partition trickle in; one re-emission per flow would flood the output). */
#define S4F_REEMIT_INTERVAL_MS 1000

struct s4f_wengine;

/* The robust event-time statistic of one partition (docs/worker.md, Watermark): the
 * quorum-th largest time among the records of the current block of S4F_WM_BLOCK offsets,
 * never moving back. The window engine's watermark and stage one's watermark marks
 * (rekey.c) both use it, so a forged end time moves neither alone. */
#define S4F_WM_BLOCK 128
struct s4f_wmstat {
    int64_t block;                  /* offset / S4F_WM_BLOCK of top; -1: none yet */
    int64_t top[S4F_WM_MAX_QUORUM]; /* largest times of the block: a min-heap */
    int n;
};
/* Feeds the time t of the record at offset; *wm (INT64_MIN: none yet) moves forward to the
 * statistic (quorum <= 1: to the largest time seen). True when it moved. O(log quorum). */
bool s4f_wmstat_observe(struct s4f_wmstat *s, int quorum, int64_t offset, int64_t t, int64_t *wm);

struct s4f_wengine_opts {
    const struct s4f_analysis *analysis;
    void *inst; /* the analysis instance */
    const struct s4f_analysis_common *common;
    struct s4f_metrics *metrics; /* may be NULL */
    const char *labels;          /* `analysis="x"`; may be NULL */
    /* Hands a finished document over. win is the handle to give back to
     * s4f_wengine_delivered(). S4F_OK: taken; S4F_RETRY: back-pressure (the window is
     * re-emitted at the next tick); S4F_ERR: refused for good (counted, the window is not
     * waited for). id and doc are only valid during the call. */
    enum s4f_status (*emit)(void *ctx, const char *id, const char *doc, size_t len, void *win);
    /* Changelog records (common->changelog_topic): to partition, as emit otherwise. May be
     * NULL (no changelog). */
    enum s4f_status (*emit_changelog)(void *ctx, int32_t partition, const void *key, size_t klen,
                                      const void *val, size_t vlen, void *win);
    void *ctx;
};

/* Checks what the option table cannot: window a multiple of slide (at most 60 slides), the
 * open windows the settings need within S4F_MAX_WINDOWS_PER_PARTITION, no processing time
 * with a repartition topic. 0, or -1 with a message in err. */
int s4f_window_conf_check(const struct s4f_analysis_common *c, char *err, size_t errlen);

struct s4f_wengine *s4f_wengine_new(const struct s4f_wengine_opts *opts);
void s4f_wengine_free(struct s4f_wengine *e);

/* Folds one flow read at `offset` of `partition`. now_wall is the wall clock (future check);
 * proc_ms the record's processing time (its Kafka timestamp; used in processing mode).
 * S4F_OK: folded, or set aside as an outlier; S4F_ERR: refused (late, future, out of memory:
 * counted). */
enum s4f_status s4f_wengine_flow(struct s4f_wengine *e, int32_t partition, int64_t offset,
                                 const struct s4f_flow *f, int64_t now_wall, int64_t proc_ms);
/* Records that `offset` was read but carried no usable flow (malformed): it moves the next
 * offset to read. */
void s4f_wengine_skip(struct s4f_wengine *e, int32_t partition, int64_t offset);
/* Sets the monotonic clock the next flows are stamped with (once per batch; tick sets it
 * too): idle timeouts are measured against it. */
void s4f_wengine_clock(struct s4f_wengine *e, int64_t now_mono);
/* The analysis state of partition (created if need be), to restore it; NULL: no memory. */
void *s4f_wengine_pstate(struct s4f_wengine *e, int32_t partition);
/* Closes, re-emits, finalises and frees windows as the watermark and the clocks allow. */
void s4f_wengine_tick(struct s4f_wengine *e, int64_t now_mono, int64_t now_wall);
/* Emits every open window of every partition as it is (drain at shutdown). */
void s4f_wengine_flush(struct s4f_wengine *e);
/* A document emitted for window handle win was acknowledged (ok) or lost for good (!ok: the
 * window is emitted again). */
void s4f_wengine_delivered(struct s4f_wengine *e, void *win, bool ok);
/* The offset to commit for partition (-1: nothing read yet) and its horizon (INT64_MIN:
 * none). */
int64_t s4f_wengine_safe_offset(struct s4f_wengine *e, int32_t partition, int64_t *horizon);
/* Restores a partition's horizon from its committed metadata, before its first flow. */
void s4f_wengine_set_horizon(struct s4f_wengine *e, int32_t partition, int64_t horizon);
/* Forgets a partition (revoked): its windows are dropped, those with results in flight
 * survive until delivered. */
void s4f_wengine_drop_partition(struct s4f_wengine *e, int32_t partition);
/* From now on the watermark of partition (event mode) is what this sets (it never goes back)
 * rather than the largest event time seen: a repartitioned input, whose records come from
 * several source partitions at their own pace (engine.c). INT64_MIN: none yet. */
void s4f_wengine_set_watermark(struct s4f_wengine *e, int32_t partition, int64_t wm);
/* The partition of a window handle given to emit() (-1: its partition was revoked). */
int32_t s4f_wengine_win_partition(const void *win);
/* Results in flight and windows held, over all partitions. */
int64_t s4f_wengine_inflight(struct s4f_wengine *e);
int64_t s4f_wengine_windows(struct s4f_wengine *e);

/* Commit metadata carrying the horizon: "s4f1 h=<ms>". Returns 0 or -1. */
int s4f_wengine_meta_format(int64_t horizon, char *buf, size_t len);
int s4f_wengine_meta_parse(const char *buf, size_t len, int64_t *horizon);

#endif
