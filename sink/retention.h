/* Retention: deletes the sink's daily indices whose whole day is older than the retention
 * period, and those dated beyond the future bound of event times.
 *
 * The Elasticsearch integ-test distribution has no ILM, OpenSearch has ISM instead and
 * Elasticsearch 9 prefers data-stream lifecycles: rather than three mechanisms, the sink
 * lists "<prefix>-*" and deletes by the date in the index name, the way the original
 * Stream4Flow's nightly job did. Only names of the exact form <prefix>-<type>-YYYY.MM.DD with a
 * type of [a-z0-9_] are considered, so other indices under the prefix are never touched. */
#ifndef S4F_SINK_RETENTION_H
#define S4F_SINK_RETENTION_H

#include "es.h"
#include "s4f.h"

#include <stdint.h>

/* True when the day starting at day_ms lies entirely before now_ms - retention_ms (never when
 * retention_ms is 0: keep everything). */
int s4f_retention_expired(int64_t day_ms, int64_t now_ms, int64_t retention_ms);

/* True when the day starting at day_ms begins more than a day after now_ms + max_future_ms: no
 * document the sink accepts can land in it (event times are bounded by max_future), so it was
 * created by hand, by an older sink, or by a hostile result. The extra day tolerates sinks whose
 * clocks disagree by up to a day. */
int s4f_retention_future(int64_t day_ms, int64_t now_ms, int64_t max_future_ms);

/* Lists and deletes expired and future-dated indices. *deleted receives how many were deleted.
 * S4F_OK or S4F_RETRY (node unreachable or refusing: try at the next period). */
enum s4f_status s4f_retention_run(struct s4f_es_client *es, const char *prefix,
                                  int64_t retention_ms, int64_t max_future_ms, int64_t now_ms,
                                  int *deleted);

#endif
