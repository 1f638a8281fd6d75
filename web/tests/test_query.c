/* Unit tests of query.c: the Elasticsearch bodies are fixed shapes where user values only ever
 * appear as JSON string values, and answers are shaped into the API's columns. */
#include "query.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct s4f_web_range range = {1795759200000LL, 1795759800000LL, 60000};

static void test_indices(void **state)
{
    char buf[512];
    (void)state;
    s4f_web_index("stream4flow", S4F_WEB_T_PROTOCOLS, buf, sizeof(buf));
    assert_string_equal(buf, "stream4flow-protocols_statistics-*");
    s4f_web_detection_indices("p", buf, sizeof(buf));
    /* Only the detection types' indices: never "p-*" (issue 13). */
    assert_string_equal(buf, "p-portscan_horizontal-*,p-portscan_vertical-*,p-detection.reflectdos-"
                             "*,p-pattern_finder-*,p-rule_*-*");
    s4f_web_dns_indices("p", buf, sizeof(buf));
    assert_string_equal(buf, "p-dns_statistics-*,p-open_dns_resolver-*,p-external_dns_resolver-*");
}

static void test_values_stay_values(void **state)
{
    (void)state;
    /* Even if a hostile string got this far, it is one JSON string, not query syntax. */
    const char *evil = "10.0.0.1\"}},{\"match_all\":{}}";
    struct s4f_web_det_filter f = {.type = "portscan_vertical", .address = evil, .size = 10};
    json_t *q = s4f_web_q_detections(&range, &f);
    assert_non_null(q);
    json_t *filter =
        json_object_get(json_object_get(json_object_get(q, "query"), "bool"), "filter");
    assert_int_equal(json_array_size(filter), 4);
    json_t *should = json_object_get(json_object_get(json_array_get(filter, 3), "bool"), "should");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(should, 0), "term"), "src_ip")),
                        evil);
    assert_null(json_object_get(json_object_get(q, "query"), "match_all"));
    assert_int_equal(json_integer_value(json_object_get(q, "size")), 10);
    json_decref(q);

    json_t *h = s4f_web_q_host(&range, evil);
    char *text = json_dumps(h, JSON_COMPACT);
    assert_non_null(strstr(text, "\"host\":\"10.0.0.1\\\"}},{\\\"match_all\\\":{}}\""));
    free(text);
    json_decref(h);
}

static void test_protocols_shape(void **state)
{
    (void)state;
    json_t *q = s4f_web_q_protocols(&range, 1795759800000LL);
    assert_non_null(q);
    json_t *dh =
        json_object_get(json_object_get(json_object_get(q, "aggs"), "t"), "date_histogram");
    assert_string_equal(json_string_value(json_object_get(dh, "fixed_interval")), "60000ms");
    json_decref(q);
    const char *answer =
        "{\"aggregations\":{\"t\":{\"buckets\":["
        "{\"key\":1795759200000,\"p\":{\"buckets\":[{\"key\":\"tcp\",\"flows\":{\"value\":10.0},"
        "\"packets\":{\"value\":20.0},\"bytes\":{\"value\":3000.0}},{\"key\":\"sctp\",\"flows\":"
        "{\"value\":1.0},\"packets\":{\"value\":1.0},\"bytes\":{\"value\":60.0}}]}},"
        "{\"key\":1795759260000,\"p\":{\"buckets\":[]}}]},"
        "\"last\":{\"value\":1795759250000.0},"
        "\"recent\":{\"f\":{\"p\":{\"buckets\":[{\"key\":\"udp\",\"flows\":{\"value\":5.0},"
        "\"packets\":{\"value\":6.0},\"bytes\":{\"value\":700.0}}]}}}}}";
    json_t *es = json_loads(answer, 0, NULL);
    json_t *out = s4f_web_shape_protocols(es, &range);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "t")), 2);
    json_t *series = json_object_get(out, "series");
    assert_int_equal(json_object_size(series), 5);
    json_t *tcp_flows = json_object_get(json_object_get(series, "tcp"), "flows");
    assert_int_equal(json_integer_value(json_array_get(tcp_flows, 0)), 10);
    assert_int_equal(json_integer_value(json_array_get(tcp_flows, 1)), 0);
    /* Unknown protocol names count as "other". */
    assert_int_equal(json_integer_value(json_array_get(
                         json_object_get(json_object_get(series, "other"), "bytes"), 0)),
                     60);
    json_t *tot = json_object_get(out, "totals_5m");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(tot, "all"), "bytes")),
                     700);
    assert_string_equal(json_string_value(json_object_get(out, "last_window")),
                        "2026-11-27T06:00:50.000Z");
    json_decref(out);
    json_decref(es);
    /* An empty or strange answer gives empty columns, not a crash. */
    json_t *weird = json_loads("{\"aggregations\":{\"t\":{\"buckets\":{}},\"last\":{}}}", 0, NULL);
    out = s4f_web_shape_protocols(weird, &range);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "t")), 0);
    assert_true(json_is_null(json_object_get(out, "last_window")));
    json_decref(out);
    json_decref(weird);
    out = s4f_web_shape_protocols(NULL, &range);
    assert_non_null(out);
    json_decref(out);
}

static void test_host_merge_tops(void **state)
{
    (void)state;
    const char *answer =
        "{\"hits\":{\"total\":{\"value\":2},\"hits\":["
        "{\"_source\":{\"top_ports\":[{\"port\":443,\"flows\":5},{\"port\":80,\"flows\":1}],"
        "\"top_peers\":[{\"ip\":\"10.0.1.1\",\"flows\":2}]}},"
        "{\"_source\":{\"top_ports\":[{\"port\":80,\"flows\":7},{\"port\":\"x\"}],"
        "\"top_peers\":[{\"ip\":\"10.0.1.2\",\"flows\":9},{\"ip\":{}}]}}]},"
        "\"aggregations\":{\"total_flows_out\":{\"value\":3.0},\"flag_SYN\":{\"value\":4.0}}}";
    json_t *es = json_loads(answer, 0, NULL);
    json_t *out = s4f_web_shape_host(es, NULL, &range, "10.0.0.5");
    json_t *ports = json_object_get(out, "top_ports");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ports, 0), "port")), 80);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ports, 0), "flows")), 8);
    json_t *peers = json_object_get(out, "top_peers");
    assert_string_equal(json_string_value(json_object_get(json_array_get(peers, 0), "ip")),
                        "10.0.1.2");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "tcp_flags"), "SYN")),
                     4);
    assert_true(json_is_null(json_object_get(out, "profile")));
    json_decref(out);
    json_decref(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indices),
        cmocka_unit_test(test_values_stay_values),
        cmocka_unit_test(test_protocols_shape),
        cmocka_unit_test(test_host_merge_tops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
