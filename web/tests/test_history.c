/* Unit tests of history.c: readings made up as s4f_web_components_read() would return them turn
 * into stages with rates, lag in time, errors by reason where non-zero, and problems in words. */
#include "history.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *metric(const char *name, const char *labels, double v)
{
    return json_pack("{s:s, s:s, s:f}", "name", name, "labels", labels, "value", v);
}

/* One scrape at t seconds: a collector, host_stats falling behind, ports_scan (up or not). */
static json_t *reading(int t, int ports_scan_up)
{
    json_t *col = json_pack(
        "{s:s, s:b, s:s, s:n, s:[o, o, o, o]}", "name", "collector", "up", 1, "health", "ok",
        "reason", "metrics", metric("s4f_collector_datagrams_total", "version=\"10\"", 100.0 * t),
        metric("s4f_collector_records_total", "", 1000.0 * t),
        metric("s4f_collector_decode_errors_total", "reason=\"missing_template\"", 12.0 * t),
        metric("s4f_collector_records_dropped_total", "reason=\"queue_full\"", 0));
    /* host_stats consumes 10 records/s with 2400 waiting: 4 minutes behind. */
    json_t *hs = json_pack(
        "{s:s, s:b, s:s, s:n, s:[o, o, o]}", "name", "host_stats", "up", 1, "health", "ok",
        "reason", "metrics", metric("s4f_worker_kafka_consumed_total", "", 10.0 * t),
        metric("s4f_worker_results_total", "analysis=\"host_stats\"", 1.0 * t),
        metric("s4f_worker_kafka_consumer_lag_messages", "group=\"s4f-host_stats\"", 2400));
    json_t *ps = ports_scan_up ? json_pack("{s:s, s:b, s:s, s:n, s:[o]}", "name", "ports_scan",
                                           "up", 1, "health", "ok", "reason", "metrics",
                                           metric("s4f_worker_kafka_consumed_total", "", 50.0 * t))
                               : json_pack("{s:s, s:b, s:s, s:n, s:[]}", "name", "ports_scan", "up",
                                           0, "health", "unreachable", "reason", "metrics");
    return json_pack("{s:[o, o, o]}", "components", col, hs, ps);
}

static const json_t *stage(const json_t *p, const char *name)
{
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(p, "stages"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return s;
    }
    return NULL;
}

static int has_problem(const json_t *p, const char *text)
{
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(p, "problems"), i, s)
    {
        if (strstr(json_string_value(json_object_get(s, "text")), text))
            return 1;
    }
    return 0;
}

static void test_pipeline_words(void **state)
{
    (void)state;
    const char *names[] = {"collector", "host_stats", "ports_scan", "sink"};
    struct s4f_web_history *h = s4f_web_history_new(names, 4);
    assert_non_null(h);
    const int64_t t0 = 1795759200000LL;
    for (int t = 0; t <= 120; t += 5) {
        json_t *r = reading(t, t < 100);
        s4f_web_history_add(h, r, t < 110 ? NULL : "connection refused", t0 + t * 1000LL);
        json_decref(r);
    }
    json_t *p = s4f_web_history_pipeline(h, t0 + 120000);
    assert_non_null(p);
    /* Order: collector, kafka, workers, sink, elasticsearch. */
    const char *order[] = {"collector",  "kafka", "host_stats",
                           "ports_scan", "sink",  "elasticsearch"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(p, "stages"), i), "name")),
                            order[i]);
    const json_t *col = stage(p, "collector");
    assert_string_equal(json_string_value(json_object_get(col, "kind")), "collector");
    assert_float_equal(json_number_value(json_object_get(col, "in_rate")), 100, 0.01);
    assert_float_equal(json_number_value(json_object_get(col, "out_rate")), 1000, 0.01);
    /* Only the non-zero error counter is listed, with its rate. */
    const json_t *errs = json_object_get(col, "errors");
    assert_int_equal(json_array_size(errs), 1);
    assert_float_equal(json_number_value(json_object_get(json_array_get(errs, 0), "rate")), 12,
                       0.01);
    assert_true(has_problem(p, "collector: 12/s decode errors (reason missing_template)"));
    assert_true(has_problem(p, "host_stats is 4 min behind (2400 messages waiting in group "
                               "s4f-host_stats)"));
    assert_true(has_problem(p, "worker ports_scan is not running: no answer for 25 s"));
    assert_true(has_problem(p, "worker sink") == 0);
    assert_true(has_problem(p, "sink is not running: it has not answered since"));
    assert_true(has_problem(p, "Elasticsearch does not answer the dashboard: connection refused"));
    assert_string_equal(json_string_value(json_object_get(stage(p, "ports_scan"), "status")),
                        "down");
    /* Kafka, known through its clients: records consumed by the two workers. */
    assert_string_equal(json_string_value(json_object_get(stage(p, "kafka"), "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(stage(p, "elasticsearch"), "status")),
                        "down");
    /* Charts: at most S4F_WEB_HISTORY_POINTS points, a gap (null) where ports_scan was down. */
    const json_t *ser = json_object_get(stage(p, "ports_scan"), "series");
    size_t n = json_array_size(json_object_get(ser, "t"));
    assert_true(n >= 20 && n <= S4F_WEB_HISTORY_POINTS);
    assert_true(json_is_null(json_array_get(json_object_get(ser, "in"), n - 1)));
    assert_float_equal(json_number_value(json_array_get(json_object_get(ser, "in"), 0)), 50, 0.01);
    json_decref(p);
    s4f_web_history_free(h);
}

/* The ring keeps S4F_WEB_HISTORY_SAMPLES samples, however many readings arrive, and a counter
 * reset (a restarted component) is no negative rate. */
static void test_bounded(void **state)
{
    (void)state;
    const char *names[] = {"collector", "host_stats", "ports_scan"};
    struct s4f_web_history *h = s4f_web_history_new(names, 3);
    for (int t = 0; t < 2 * S4F_WEB_HISTORY_SAMPLES; t++) {
        json_t *r = reading(t % 1000, 1);
        s4f_web_history_add(h, r, NULL, 1795759200000LL + t * 5000LL);
        json_decref(r);
    }
    json_t *p = s4f_web_history_pipeline(h, 1795759200000LL + 2 * S4F_WEB_HISTORY_SAMPLES * 5000LL);
    assert_int_equal(json_integer_value(json_object_get(p, "samples")), S4F_WEB_HISTORY_SAMPLES);
    size_t i;
    const json_t *v;
    json_array_foreach(json_object_get(json_object_get(stage(p, "collector"), "series"), "in"), i,
                       v) assert_true(json_is_null(v) || json_number_value(v) >= 0);
    json_decref(p);
    s4f_web_history_free(h);
    s4f_web_history_free(NULL);
    /* Nothing reporting Kafka counters: Kafka's state is unknown, not "ok" at 0/s. */
    const char *one[] = {"dead"};
    h = s4f_web_history_new(one, 1);
    json_t *none = json_pack("{s:[]}", "components");
    for (int t = 0; t < 3; t++)
        s4f_web_history_add(h, none, NULL, 1795759200000LL + t * 5000LL);
    p = s4f_web_history_pipeline(h, 1795759210000LL);
    assert_string_equal(json_string_value(json_object_get(stage(p, "kafka"), "status")), "unknown");
    assert_true(json_is_null(json_object_get(stage(p, "kafka"), "in_rate")));
    json_decref(p);
    json_decref(none);
    s4f_web_history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_words),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
