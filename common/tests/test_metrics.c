/* Unit tests of the metrics registry: rendering, labels, caps, and the HTTP endpoint. */
#include "metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

static double answer(void *ctx)
{
    return *(double *)ctx;
}

static void test_render(void **state)
{
    (void)state;
    struct s4f_metrics *m = s4f_metrics_new("s4f_test", 0);
    char labels[128];
    struct s4f_metric *c =
        s4f_metrics_counter(m, "datagrams_total", "Datagrams received",
                            s4f_metrics_labels(labels, sizeof(labels), "version", "9", NULL));
    s4f_metric_add(c, 41);
    s4f_metric_inc(c);
    /* The same name and labels return the same series. */
    assert_ptr_equal(c, s4f_metrics_counter(m, "datagrams_total", "Datagrams received", labels));
    struct s4f_metric *g = s4f_metrics_gauge(m, "queue", "Queue length", NULL);
    s4f_metric_set(g, -3);
    double v = 2.5;
    s4f_metrics_gauge_fn(m, "computed", "Computed at scrape", NULL, answer, &v);
    size_t len;
    char *text = s4f_metrics_render(m, &len);
    assert_non_null(strstr(text, "# HELP s4f_test_datagrams_total Datagrams received\n"
                                 "# TYPE s4f_test_datagrams_total counter\n"
                                 "s4f_test_datagrams_total{version=\"9\"} 42\n"));
    assert_non_null(strstr(text, "# TYPE s4f_test_queue gauge\ns4f_test_queue -3\n"));
    assert_non_null(strstr(text, "s4f_test_computed 2.5\n"));
    assert_int_equal(strlen(text), len);
    free(text);
    s4f_metrics_remove_fn(m, &v);
    text = s4f_metrics_render(m, NULL);
    assert_non_null(strstr(text, "s4f_test_computed 0\n") ? text : strstr(text, "computed"));
    free(text);
    s4f_metrics_free(m);
}

static void test_label_escaping(void **state)
{
    (void)state;
    char buf[128];
    s4f_metrics_labels(buf, sizeof(buf), "a", "x\"y\\z\nw", "b", "", NULL);
    assert_string_equal(buf, "a=\"x\\\"y\\\\z\\nw\",b=\"\"");
    /* Truncation never leaves an unterminated buffer. */
    char small[8];
    s4f_metrics_labels(small, sizeof(small), "exporter", "2001:db8::1", NULL);
    assert_true(strlen(small) < sizeof(small));
}

static void test_series_cap(void **state)
{
    (void)state;
    struct s4f_metrics *m = s4f_metrics_new("s4f_test", 10);
    char labels[64];
    for (int i = 0; i < 100; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.0.0.%d", i);
        struct s4f_metric *c =
            s4f_metrics_counter(m, "per_exporter_total", "x",
                                s4f_metrics_labels(labels, sizeof(labels), "exporter", ip, NULL));
        assert_non_null(c);
        s4f_metric_inc(c);
    }
    char *text = s4f_metrics_render(m, NULL);
    assert_non_null(strstr(text, "s4f_test_metrics_series_dropped_total 90\n"));
    free(text);
    s4f_metrics_free(m);
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    char **buf = ud;
    size_t old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + size * n + 1);
    memcpy(nb + old, p, size * n);
    nb[old + size * n] = '\0';
    *buf = nb;
    return size * n;
}

static long get(int port, const char *path, char **body)
{
    char url[128];
    long code = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static void test_http(void **state)
{
    (void)state;
    char err[256];
    struct s4f_metrics *m = s4f_metrics_new("s4f_test", 0);
    s4f_metric_add(s4f_metrics_counter(m, "flows_total", "Flows", NULL), 7);
    assert_null(s4f_metrics_serve(m, "nonsense", err, sizeof(err)));
    struct s4f_http *h = s4f_metrics_serve(m, "127.0.0.1:0", err, sizeof(err));
    assert_non_null(h);
    int port = s4f_http_port(h);
    assert_true(port > 0);
    char *body = NULL;
    assert_int_equal(get(port, "/metrics", &body), 200);
    assert_non_null(strstr(body, "s4f_test_flows_total 7\n"));
    free(body);
    body = NULL;
    assert_int_equal(get(port, "/health", &body), 200);
    assert_non_null(strstr(body, "\"status\":\"ok\""));
    free(body);
    body = NULL;
    s4f_metrics_set_health(m, 0, "kafka: all brokers \"down\"");
    assert_int_equal(get(port, "/health", &body), 503);
    assert_non_null(strstr(body, "all brokers \\\"down\\\""));
    free(body);
    body = NULL;
    assert_int_equal(get(port, "/../etc/passwd", &body), 404);
    free(body);
    s4f_http_stop(h);
    s4f_metrics_free(m);
}

static void test_hostport(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    unsigned len;
    assert_int_equal(s4f_parse_hostport("127.0.0.1:80", &ss, &len), 0);
    assert_int_equal(s4f_parse_hostport("[::1]:4739", &ss, &len), 0);
    assert_int_equal(s4f_parse_hostport("[::]:4739", &ss, &len), 0);
    assert_int_equal(s4f_parse_hostport(":4739", &ss, &len), 0);
    assert_int_equal(s4f_parse_hostport("localhost:1", &ss, &len), 0);
    assert_int_equal(s4f_parse_hostport("127.0.0.1", &ss, &len), -1);
    assert_int_equal(s4f_parse_hostport("127.0.0.1:65536", &ss, &len), -1);
    assert_int_equal(s4f_parse_hostport("[::1:80", &ss, &len), -1);
    assert_int_equal(s4f_parse_hostport("999.1.1.1:80", &ss, &len), -1);
    assert_int_equal(s4f_parse_hostport("", &ss, &len), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),     cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_series_cap), cmocka_unit_test(test_http),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
