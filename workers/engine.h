/* The engine: runs one analysis over a Kafka consumer group. It owns the consumer (group
 * `<group_id>.<analysis>` on the analysis's input topic), a producer for its results (and its
 * changelog records), and the window engine (window.h); it commits an input offset only once
 * every result covering it is acknowledged by Kafka, with the partition's final-window horizon
 * (and, for a repartitioned input, the duplicate filter's maxima: dedup.h) as commit metadata.
 * For an analysis with route() and a repartition topic it also owns stage one (rekey.h) and
 * reads the repartition topic instead of the input: it is stage two.
 *
 * Threading: s4f_engine_run() runs the loop on the calling thread; every callback (rebalance,
 * delivery reports, the analysis's callbacks but route()) runs on it too, and its log lines
 * carry the analysis's name (log.h). Stage one runs on a thread the engine starts and joins
 * (or, when it cannot, on the engine's). Several engines may run in one process, one thread
 * each; they share nothing but the metrics registry and the log. */
#ifndef S4F_ENGINE_H
#define S4F_ENGINE_H

#include "analysis.h"
#include "config.h"
#include "kafka.h"
#include "metrics.h"

struct s4f_engine_opts {
    const struct s4f_analysis *analysis;
    const void *conf; /* the analysis's applied table; must outlive the engine */
    const char *group_prefix;
    const char *default_input_topic;
    const struct s4f_kvlist *kafka_shared;
    const struct s4f_kvlist *kafka_overrides;
    int64_t commit_interval_ms;
    struct s4f_metrics *metrics;
};

struct s4f_engine;

struct s4f_engine *s4f_engine_new(const struct s4f_engine_opts *opts, char *err, size_t errlen);
/* Runs until s4f_daemon_stopping(): then drains (emits open windows, flushes, commits) within
 * the grace period. Returns 0, or -1 on a fatal error (logged). */
int s4f_engine_run(struct s4f_engine *e);
void s4f_engine_free(struct s4f_engine *e);

#endif
