/* The analysis contract: what an analysis module provides, and what the worker's engine
 * promises it.
 *
 * An analysis is one file, workers/analyses/<name>.c, that defines
 *
 *     const struct s4f_analysis s4f_analysis_<name> = {
 *         .name = "<name>", .summary = "...",
 *         .opts = <name>_opts, .conf_size = sizeof(struct <name>_conf),
 *         .init = ..., .window_new = ..., .on_flow = ..., .on_window_close = ...,
 *         .window_free = ..., .destroy = ...,
 *     };
 *
 * and one line in workers/registry.c. Its option table starts with
 * S4F_ANALYSIS_COMMON_OPTS (window, slide, lateness, idle timeout, time mode, topics, key cap)
 * and its config struct with struct s4f_analysis_common, exactly like a daemon section.
 *
 * Life cycle (all calls on the analysis's engine thread, so the window callbacks need no
 * locks; the one exception is route(), which the first stage of a repartitioned analysis
 * calls on a thread of its own while the engine thread runs the rest: it must only read the
 * instance, see below):
 *
 *   check(conf)                         optional: at --check-config and before init
 *   init(conf)                          once, after the configuration is applied; validates
 *                                       what the table cannot and returns the instance
 *   partition_new(inst, p)              optional: when a partition is first seen
 *     window_new(inst)                  when a window of that partition receives its first flow
 *       on_flow(inst, w, flow)          once per flow and per window containing its event time
 *       on_window_close(inst, p, w, ..) when the watermark passes the window's end, and again
 *                                       (same ids) if late flows were folded in afterwards, or
 *                                       on an idle partition / at shutdown with what it has
 *       on_window_final(inst, p, w, ..) optional: once, when the window leaves memory because
 *                                       allowed lateness is over (its state is final); again
 *                                       with w->resend if one of its messages was lost
 *     window_free(inst, w)              after that, or when the partition is revoked
 *   partition_free(inst, p)             optional: when the partition is revoked or at exit
 *   reload(inst)                        optional: between batches, after a SIGHUP
 *   destroy(inst)                       once, at exit
 *
 * Window state is strictly per (input partition, window): the engine never merges states, so
 * results do not depend on how many processes share the partitions. on_window_close must
 * write the same documents for the same window state (it may be called several times; with
 * changed_only it may skip the results that did not change since its last call) and write every
 * result with s4f_result_begin()/s4f_result_end(); the engine gives each result its common fields
 * and its deterministic id, produces it, and commits input offsets only when every result
 * covering them is acknowledged by Kafka.
 *
 * Bounds: an analysis caps its keys per window at common.max_keys, counts what it refuses
 * (metric keys_dropped_total via s4f_analysis_ctx) and never fails because of input volume.
 *
 * Logging: the threads that call an analysis (and s4f_engine_new, which calls init) are named
 * after it (s4f_log_set_thread_name, log.h), so its s4f_warn()... lines read
 * "worker[<instance>] <name>: ..." without spelling the name. */
#ifndef S4F_ANALYSIS_H
#define S4F_ANALYSIS_H

#include "config.h"
#include "flow.h"
#include "metrics.h"
#include "s4f.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum s4f_time_mode {
    S4F_TIME_EVENT = 0,      /* flow end time: windows are reproducible, ids stable */
    S4F_TIME_PROCESSING = 1, /* Kafka message timestamp: replays of old captures as if live */
};

/* Largest watermark_quorum (the statistic keeps this many event times per block). */
#define S4F_WM_MAX_QUORUM 64

struct s4f_analysis_common {
    int64_t window_ms;
    int64_t slide_ms; /* 0: tumbling (= window) */
    int64_t lateness_ms;
    int64_t idle_ms;
    int time_mode;
    int64_t max_future_ms;
    int64_t wm_quorum; /* records that must reach a time before the watermark does */
    char *input_topic; /* NULL: worker.input_topic */
    char *output_topic;
    int64_t max_keys;
    /* Analyses with route() only (S4F_ANALYSIS_REPARTITION_OPT); NULL or "": no repartition. */
    char *repartition_topic;
    /* Analyses with restore() only (S4F_ANALYSIS_CHANGELOG_OPT); NULL or "": state that
     * outlives windows is kept in memory only. */
    char *changelog_topic;
};

extern const char *const s4f_time_mode_choices[];

/* clang-format off */
#define S4F_ANALYSIS_COMMON_OPTS(type, window_def, keys_def)                                           \
    S4F_ANALYSIS_COMMON_OPTS_SLIDE(type, window_def, "0", keys_def)
/* The same for an analysis whose windows slide by default (slide_def). */
#define S4F_ANALYSIS_COMMON_OPTS_SLIDE(type, window_def, slide_def, keys_def)                          \
    {"window", S4F_OPT_DURATION, window_def, 1000, 86400000, offsetof(type, common.window_ms),         \
     "Window length (event time)", NULL},                                                          \
    {"slide", S4F_OPT_DURATION, slide_def, 0, 86400000, offsetof(type, common.slide_ms),           \
     "Slide of a sliding window; 0 for tumbling windows. The window must be a multiple of it",    \
     NULL},                                                                                        \
    {"allowed_lateness", S4F_OPT_DURATION, "1m", 0, 86400000,                                      \
     offsetof(type, common.lateness_ms),                                                           \
     "How long a closed window still accepts late flows (re-emitted with the same id); later "     \
     "flows are counted in late_dropped_total. Exporters send a flow after its inactive or "       \
     "active timeout, so flow end times arrive out of order by tens of seconds",                   \
     NULL},                                                                                        \
    {"idle_timeout", S4F_OPT_DURATION, "30s", 100, 86400000, offsetof(type, common.idle_ms),       \
     "A partition without records for this long (wall clock) has its open windows emitted",       \
     NULL},                                                                                        \
    {"time_mode", S4F_OPT_ENUM, "event", 0, 0, offsetof(type, common.time_mode),                   \
     "event: windows on flow end time; processing: on the Kafka message timestamp (replays of "   \
     "old captures; not with a repartition topic)",                                               \
     s4f_time_mode_choices},                                                                       \
    {"max_future", S4F_OPT_DURATION, "10m", 0, 86400000, offsetof(type, common.max_future_ms),     \
     "Event-time flows further than this ahead of the wall clock are refused (one bogus "         \
     "timestamp would otherwise close every window)", NULL},                                      \
    {"watermark_quorum", S4F_OPT_INT, "8", 1, S4F_WM_MAX_QUORUM, offsetof(type, common.wm_quorum), \
     "The watermark of a partition is the quorum-th largest event time among the records of its " \
     "current block of 128 offsets, so that a few forged timestamps cannot move it; records "     \
     "further ahead of it "                                                                        \
     "than window + allowed_lateness wait aside (outlier_total) until it follows. 1: the "        \
     "largest event time seen, every record trusted (see docs/security.md)", NULL},              \
    {"input_topic", S4F_OPT_STRING, NULL, 0, 0, offsetof(type, common.input_topic),                \
     "Input topic; default worker.input_topic", NULL},                                            \
    {"output_topic", S4F_OPT_STRING, "results.output", 0, 0, offsetof(type, common.output_topic),  \
     "Topic the results are written to", NULL},                                                    \
    {"max_keys", S4F_OPT_INT, keys_def, 1, 100000000, offsetof(type, common.max_keys),             \
     "Most keys kept per window and partition; past it new keys are refused and counted",         \
     NULL}

/* For analyses with a route() callback: the topic that brings all of a key's flows into one
 * partition (see docs/worker.md). One topic per worker group_id. */
#define S4F_ANALYSIS_REPARTITION_OPT(type, topic_def)                                              \
    {"repartition_topic", S4F_OPT_STRING, topic_def, 0, 0,                                         \
     offsetof(type, common.repartition_topic),                                                     \
     "Repartition topic (keyed by host) between the two stages; '' to disable: each input "       \
     "partition then yields its own row per host (incoming side split, see docs/worker.md)",      \
     NULL}
/* clang-format on */

/* What the engine gives an analysis at init. */
#define S4F_ANALYSIS_CHANGELOG_OPT(type, topic_def, what)                                          \
    {                                                                                              \
        "changelog_topic", S4F_OPT_STRING, topic_def, 0, 0,                                        \
            offsetof(type, common.changelog_topic),                                                \
            "Compacted topic (as many partitions as the analysis's input) where " what             \
            " is written "                                                                         \
            "as it changes and read back when a partition is assigned, so that a restart or a "    \
            "rebalance keeps it; '' to keep it in memory only",                                    \
            NULL                                                                                   \
    }

struct s4f_analysis_ctx {
    const char *name;
    struct s4f_metrics *metrics; /* register the analysis's own series here */
    const char *labels;          /* `analysis="<name>"`, to add to those series */
};

/* The window being closed. */
struct s4f_window {
    int64_t start_ms, end_ms;
    int32_t partition;
    bool first_close; /* false when re-emitted (late flows, or after an early idle emit) */
    /* Every document of the previous emission was delivered: emitting only the results that
     * changed since (late flows) is enough; the others stand downstream. An analysis may
     * ignore it and emit everything. */
    bool changed_only;
    /* on_window_final only: called again because a message of the window (a result or a
     * changelog record) was lost for good after it ran. The state was folded already: write
     * the long-lived records (changelog) again, from their current state, fold nothing. */
    bool resend;
};

struct s4f_jbuf;
struct s4f_emit;

struct s4f_analysis {
    const char *name;
    const char *summary;
    const struct s4f_opt *opts;
    size_t conf_size;
    /* Optional: validates what the option table cannot and init would refuse, without building
     * anything (files the configuration names: the rules file). Called at --check-config and
     * at start, before init. 0, or -1 with a message ("file:line:col: ...") in err. */
    int (*check)(const void *conf, char *err, size_t errlen);
    /* Checks conf and builds the instance. NULL + err on a bad configuration. */
    void *(*init)(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen);
    void *(*partition_new)(void *inst, int32_t partition);
    /* NULL: out of memory (the flow is counted, dropped). */
    void *(*window_new)(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms);
    void (*on_flow)(void *inst, void *wstate, const struct s4f_flow *f);
    /* Optional: for analyses keyed by an address that need both directions of its traffic
     * (host_stats). Returns which sides of f to route: bit 0 the source, bit 1 the
     * destination. With common.repartition_topic set, a first stage (rekey.h) writes one
     * record per routed side to that topic keyed by its address, and on_flow then gets those
     * records with f->side set to S4F_SIDE_SRC or S4F_SIDE_DST; without it, on_flow gets the
     * input records (f->side == S4F_SIDE_ANY). Called on stage one's own thread, while the
     * analysis thread runs the other callbacks: it must only read the instance. */
    unsigned (*route)(void *inst, const struct s4f_flow *f);
    void (*on_window_close)(void *inst, void *pstate, void *wstate, const struct s4f_window *w,
                            struct s4f_emit *out);
    void (*on_window_final)(void *inst, void *pstate, void *wstate, const struct s4f_window *w,
                            struct s4f_emit *out);
    void (*window_free)(void *inst, void *wstate);
    /* Optional, with common.changelog_topic: one record of the partition's changelog (what
     * s4f_emit_changelog() wrote, the last one per key), given back when the partition is
     * assigned and before any of its flows. A record it does not recognise is ignored
     * (return false: counted). */
    bool (*restore)(void *inst, void *pstate, const void *key, size_t klen, const void *val,
                    size_t vlen);
    void (*partition_free)(void *inst, void *pstate);
    /* Optional: the daemon was asked to reload (SIGHUP, s4f_daemon_reload_count()). Called on
     * the engine thread between batches, like on_flow; an instance that cannot reload keeps
     * running as it was (and logs why). */
    void (*reload)(void *inst);
    void (*destroy)(void *inst);
};

/* ---- results (implemented in result.c) ------------------------------------------------- */

/* Starts a result of type `type` for the window being closed. key distinguishes results of one
 * window (e.g. "tcp", "10.0.0.1|443"); with the analysis, window and partition it forms the
 * document id. window_start/window_end override the window's bounds when not both 0 (the
 * hourly profile). Returns the buffer to append the type's fields to (each field with a
 * leading comma, via the s4f_jb_* helpers), or NULL when the result cannot be built. */
struct s4f_jbuf *s4f_result_begin(struct s4f_emit *out, const char *type, const char *key,
                                  int64_t window_start, int64_t window_end);
/* Closes the document and hands it to the producer. */
void s4f_result_end(struct s4f_emit *out);
/* Whether a changelog is configured: without one, s4f_emit_changelog() does nothing. */
bool s4f_emit_has_changelog(const struct s4f_emit *out);
/* Writes one record (key: what restore() gets it by) to the changelog partition of the window
 * being emitted. Tracked like results: the input is not committed past the window until it
 * is acknowledged. */
void s4f_emit_changelog(struct s4f_emit *out, const void *key, size_t klen, const void *val,
                        size_t vlen);

/* JSON writing helpers: each appends `,"key":value`. Strings are escaped. Failures (out of
 * memory) are sticky and make s4f_result_end() drop and count the document. */
void s4f_jb_str(struct s4f_jbuf *b, const char *key, const char *val);
void s4f_jb_u64(struct s4f_jbuf *b, const char *key, uint64_t v);
void s4f_jb_i64(struct s4f_jbuf *b, const char *key, int64_t v);
void s4f_jb_time(struct s4f_jbuf *b, const char *key, int64_t epoch_ms);
/* Raw text (already valid JSON: `,`, `[`, `{`...), no escaping. */
void s4f_jb_raw(struct s4f_jbuf *b, const char *text);
/* `"key":` with a leading comma unless the previous character opens a container. */
void s4f_jb_key(struct s4f_jbuf *b, const char *key);

#endif
