/* Metrics: a registry of counters and gauges rendered in the Prometheus text format, and a small
 * HTTP server (libmicrohttpd, its own thread) answering /metrics and /health.
 *
 * A series is a metric name plus a label set. s4f_metrics_counter() returns the series, creating
 * it at the first call; callers keep the pointer and update it with relaxed atomics on the hot
 * path, so registration (mutex, hashing) happens once. The registry caps the number of series so
 * that hostile label values (one per exporter address, say) cannot grow memory without bound:
 * past the cap the calls return a shared sink series that is never rendered, and
 * s4f_metrics_series_dropped_total counts it. Functions never return NULL. */
#ifndef S4F_METRICS_H
#define S4F_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct s4f_metrics;
struct s4f_metric;

/* prefix is prepended to every name ("s4f_collector" + "_" + "datagrams_total").
 * max_series 0 means the default (10000). */
struct s4f_metrics *s4f_metrics_new(const char *prefix, size_t max_series);
void s4f_metrics_free(struct s4f_metrics *m);

/* labels: NULL or a pre-rendered label list without braces, e.g. `exporter="10.0.0.1",reason="x"`;
 * build it with s4f_metrics_labels() so values are escaped. name, help and labels are copied. */
struct s4f_metric *s4f_metrics_counter(struct s4f_metrics *m, const char *name, const char *help,
                                       const char *labels);
struct s4f_metric *s4f_metrics_gauge(struct s4f_metrics *m, const char *name, const char *help,
                                     const char *labels);
/* A gauge read at scrape time by calling fn(ctx); fn runs on the HTTP thread, so it must be
 * thread-safe. ctx must outlive the registry or be removed with s4f_metrics_remove_fn(). */
void s4f_metrics_gauge_fn(struct s4f_metrics *m, const char *name, const char *help,
                          const char *labels, double (*fn)(void *ctx), void *ctx);
void s4f_metrics_remove_fn(struct s4f_metrics *m, void *ctx);

void s4f_metric_add(struct s4f_metric *s, uint64_t n);
void s4f_metric_inc(struct s4f_metric *s);
void s4f_metric_set(struct s4f_metric *s, int64_t v);
int64_t s4f_metric_get(const struct s4f_metric *s);

/* Renders label pairs: s4f_metrics_labels(buf, sizeof buf, "exporter", ip, "reason", r, NULL).
 * Values are escaped per the exposition format. Returns buf. */
char *s4f_metrics_labels(char *buf, size_t len, ...);

/* Returns a malloc'ed exposition text; the caller frees it. */
char *s4f_metrics_render(struct s4f_metrics *m, size_t *len);

/* Health reported by /health: 200 {"status":"ok"} or 503 {"status":"degraded","reason":...}.
 * reason is copied. */
void s4f_metrics_set_health(struct s4f_metrics *m, int ok, const char *reason);

/* HTTP server for /metrics and /health on listen ("127.0.0.1:9101", "[::1]:9101", port 0 for an
 * ephemeral port). Returns NULL and fills err on failure. */
struct s4f_http;
struct s4f_http *s4f_metrics_serve(struct s4f_metrics *m, const char *listen, char *err,
                                   size_t errlen);
/* The bound port (useful with port 0). */
int s4f_http_port(const struct s4f_http *h);
void s4f_http_stop(struct s4f_http *h);

/* Parses "host:port", "[v6]:port" or ":port" into a sockaddr. Returns 0 or -1. */
struct sockaddr_storage;
int s4f_parse_hostport(const char *s, struct sockaddr_storage *ss, unsigned *socklen);

#endif
