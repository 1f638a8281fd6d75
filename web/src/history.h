/* The pipeline's recent past, kept by the web server itself: every S4F_WEB_HISTORY_STEP_MS a
 * thread reads the components' /health and /metrics (components.c) and pings Elasticsearch, and
 * keeps per component a ring of S4F_WEB_HISTORY_SAMPLES small samples (counter sums in and out,
 * consumer lag) plus its last two full metric readings. Memory is bounded by the number of
 * configured components, whatever they answer.
 *
 * From that, s4f_web_history_pipeline() builds the System page's picture: one stage per
 * component (collector, each analysis, sink) plus Kafka and Elasticsearch, each with a status,
 * rates in and out over the kept hour, lag per consumer group, drops and errors by reason where
 * non-zero, and a list of problems in plain words.
 *
 * Thread-safety: add and pipeline may be called from any thread (one mutex). */
#ifndef S4F_WEB_HISTORY_H
#define S4F_WEB_HISTORY_H

#include "web.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define S4F_WEB_HISTORY_STEP_MS 5000
#define S4F_WEB_HISTORY_SAMPLES 720 /* one hour at one sample per 5 s */
/* Points of each rate chart in an answer (samples are merged to fit). */
#define S4F_WEB_HISTORY_POINTS 120

struct s4f_web_history;

/* names: the component names, in the configured order (copied). */
struct s4f_web_history *s4f_web_history_new(const char *const *names, size_t n);
/* Stops the scrape thread if started, then frees. NULL-safe. */
void s4f_web_history_free(struct s4f_web_history *h);

/* Starts the thread that scrapes app's components every S4F_WEB_HISTORY_STEP_MS (the first
 * at once). app must outlive the thread (s4f_web_history_free stops it). 0 or -1. */
int s4f_web_history_start(struct s4f_web_history *h, struct s4f_web_app *app);

/* Records one reading: the answer of s4f_web_components_read() (borrowed), whether
 * Elasticsearch answered (es_error: NULL when it did) at time now_ms. Used by the thread, and
 * by tests with made-up readings. */
void s4f_web_history_add(struct s4f_web_history *h, const json_t *components, const char *es_error,
                         int64_t now_ms);

/* The /api/pipeline answer at now_ms (docs/web-api.md); NULL when out of memory. */
json_t *s4f_web_history_pipeline(struct s4f_web_history *h, int64_t now_ms);

#endif
