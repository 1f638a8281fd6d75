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

static void test_detection_type(void **state)
{
    char buf[72];
    (void)state;
    assert_string_equal(s4f_web_detection_type("detection.ddos", buf, sizeof(buf)),
                        "detection.ddos");
    assert_string_equal(s4f_web_detection_type("rule_ssh_outside", buf, sizeof(buf)),
                        "rule_ssh_outside");
    assert_null(s4f_web_detection_type("rule_", buf, sizeof(buf)));
    assert_null(s4f_web_detection_type("rule_Ssh", buf, sizeof(buf)));
    assert_null(s4f_web_detection_type("rule_a*", buf, sizeof(buf)));
    assert_null(s4f_web_detection_type("rule_a-*,p-host_stats", buf, sizeof(buf)));
    assert_null(s4f_web_detection_type("host_stats", buf, sizeof(buf)));
    assert_null(s4f_web_detection_type(
        "rule_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", buf,
        sizeof(buf)));
}

static void test_indices(void **state)
{
    char buf[512];
    (void)state;
    s4f_web_index("stream4flow", S4F_WEB_T_PROTOCOLS, buf, sizeof(buf));
    assert_string_equal(buf, "stream4flow-protocols_statistics-*");
    s4f_web_detection_indices("p", buf, sizeof(buf));
    /* Only the detection types' indices: never "p-*" (issue 13). */
    assert_string_equal(buf,
                        "p-portscan_horizontal-*,p-portscan_vertical-*,p-detection.reflectdos-*,"
                        "p-ssh_auth_simple-*,p-detection.ddos-*,p-pattern_finder-*,p-rule_*-*");
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

/* /api/tls: a nested top-N per stat type, and the answer shaped into three lists (a stat type
 * without documents is an empty list; an unknown one is left out). */
static void test_tls_query_and_shape(void **state)
{
    (void)state;
    json_t *q = s4f_web_q_tls(&range, 7);
    assert_non_null(q);
    json_t *st = json_object_get(json_object_get(q, "aggs"), "st");
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "terms"), "field")),
                        "@stat_type");
    json_t *items = json_object_get(json_object_get(st, "aggs"), "items");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(items, "nested"), "path")), "data_array");
    json_t *k = json_object_get(json_object_get(json_object_get(items, "aggs"), "k"), "terms");
    assert_int_equal(json_integer_value(json_object_get(k, "size")), 7);
    assert_string_equal(json_string_value(json_object_get(k, "field")), "data_array.key");
    json_decref(q);

    json_error_t e;
    json_t *es = json_loads("{\"aggregations\":{\"st\":{\"buckets\":["
                            "{\"key\":\"os\",\"items\":{\"k\":{\"buckets\":[{\"key\":\"Windows\","
                            "\"v\":{\"value\":5.0}},"
                            "{\"key\":\"Unknown\",\"v\":{\"value\":3.0}}]}}},"
                            "{\"key\":\"application\",\"items\":{\"k\":{\"buckets\":["
                            "{\"key\":\"Desktop:Browser\",\"v\":{\"value\":3.0}}]}}},"
                            "{\"key\":\"evil\",\"items\":{\"k\":{\"buckets\":[]}}}]}}}",
                            0, &e);
    assert_non_null(es);
    json_t *out = s4f_web_shape_tls(es, &range);
    assert_non_null(out);
    char *txt = json_dumps(json_object_get(out, "stats"), JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(txt, "{\"application\":[{\"key\":\"Desktop:Browser\",\"value\":3}],"
                             "\"browser\":[],\"os\":[{\"key\":\"Windows\",\"value\":5},"
                             "{\"key\":\"Unknown\",\"value\":3}]}");
    free(txt);
    json_decref(out);
    json_decref(es);
}

/* /api/topn/<address>: the newest document of the host in the range; rank-keyed lists become
 * arrays in rank order (a gap ends a list); no document gives null lists. */
static void test_topn_query_and_shape(void **state)
{
    (void)state;
    json_t *q = s4f_web_q_topn(&range, "10.0.0.1");
    assert_non_null(q);
    assert_int_equal(json_integer_value(json_object_get(q, "size")), 1);
    json_t *filter =
        json_object_get(json_object_get(json_object_get(q, "query"), "bool"), "filter");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(filter, 1), "term"), "src_ip")),
                        "10.0.0.1");
    json_decref(q);
    json_error_t e;
    json_t *es = json_loads(
        "{\"hits\":{\"hits\":[{\"_source\":{\"window_start\":\"2026-11-27T06:00:00.000Z\","
        "\"window_end\":\"2026-11-27T06:01:00.000Z\",\"src_ip\":\"10.0.0.1\",\"stats\":{"
        "\"top_n_dst_ports\":{\"1\":{\"port\":443,\"flows\":3},\"0\":{\"port\":80,\"flows\":3},"
        "\"3\":{\"port\":1,\"flows\":1}},"
        "\"top_n_dst_hosts\":{\"0\":{\"dst_host\":\"198.51.100.1\",\"flows\":3}},"
        "\"top_n_http_dst\":{}}}}]}}",
        0, &e);
    assert_non_null(es);
    json_t *out = s4f_web_shape_topn(es, "10.0.0.1");
    char *txt = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(
        txt, "{\"host\":\"10.0.0.1\",\"top_n_dst_hosts\":[{\"dst_host\":\"198.51.100.1\","
             "\"flows\":3}],\"top_n_dst_ports\":[{\"flows\":3,\"port\":80},{\"flows\":3,"
             "\"port\":443}],\"top_n_http_dst\":[],\"window_end\":\"2026-11-27T06:01:"
             "00.000Z\",\"window_start\":\"2026-11-27T06:00:00.000Z\"}");
    free(txt);
    json_decref(out);
    json_decref(es);
    es = json_loads("{\"hits\":{\"hits\":[]}}", 0, &e);
    out = s4f_web_shape_topn(es, "10.0.0.2");
    txt = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(txt,
                        "{\"host\":\"10.0.0.2\",\"top_n_dst_hosts\":null,\"top_n_dst_ports\":null,"
                        "\"top_n_http_dst\":null,\"window_end\":null,\"window_start\":null}");
    free(txt);
    json_decref(out);
    json_decref(es);
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

/* The extent lists each type's span and the overall one; buckets without a usable min/max
 * (an index of a type whose documents lack @timestamp) and absurd values are skipped. */
static void test_extent(void **state)
{
    char buf[2048];
    (void)state;
    s4f_web_extent_indices("p", buf, sizeof(buf));
    assert_non_null(strstr(buf, "p-protocols_statistics-*,p-host_stats-*,"));
    assert_non_null(strstr(buf, ",p-portscan_horizontal-*"));
    assert_null(strstr(buf, "p-*"));
    json_t *es = json_loads(
        "{\"aggregations\":{\"types\":{\"buckets\":["
        "{\"key\":\"host_stats\",\"doc_count\":5,\"first\":{\"value\":1795759200000.0},"
        "\"last\":{\"value\":1795759800000.0}},"
        "{\"key\":\"protocols_statistics\",\"doc_count\":9,\"first\":{\"value\":1795759100000.0},"
        "\"last\":{\"value\":1795759500000.0}},"
        "{\"key\":\"odd\",\"doc_count\":1,\"first\":{\"value\":null},\"last\":{\"value\":1e300}}"
        "]}}}",
        0, NULL);
    assert_non_null(es);
    json_t *out = s4f_web_shape_extent(es, 1795760000000LL);
    assert_non_null(out);
    assert_int_equal(json_integer_value(json_object_get(out, "from_ms")), 1795759100000LL);
    assert_int_equal(json_integer_value(json_object_get(out, "to_ms")), 1795759800000LL);
    assert_int_equal(json_object_size(json_object_get(out, "types")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(out, "types"), "host_stats"), "documents")),
        5);
    json_decref(out);
    json_decref(es);
    es = json_loads("{\"hits\":{}}", 0, NULL);
    out = s4f_web_shape_extent(es, 1);
    assert_true(json_is_null(json_object_get(out, "from_ms")));
    json_decref(out);
    json_decref(es);
}

/* A detection's windows (same type and target) oldest first, the source's others apart, and a
 * Kibana link whose query is percent-encoded. */
static void test_detection_detail(void **state)
{
    (void)state;
    json_t *hit = json_loads(
        "{\"hits\":{\"hits\":[{\"_source\":{\"id\":\"pv-2\",\"@type\":\"portscan_vertical\","
        "\"@timestamp\":\"2026-12-05T07:00:20.000Z\",\"src_ip\":\"192.0.2.7\",\"dst_ip\":\"10.0.0."
        "5\","
        "\"flows\":30}}]}}",
        0, NULL);
    json_t *ctx = json_loads(
        "{\"hits\":{\"hits\":["
        "{\"_source\":{\"id\":\"ph-1\",\"@type\":\"portscan_horizontal\",\"@timestamp\":"
        "\"2026-12-05T07:00:30.000Z\",\"src_ip\":\"192.0.2.7\",\"dst_port\":22,\"flows\":9}},"
        "{\"_source\":{\"id\":\"pv-2\",\"@type\":\"portscan_vertical\",\"@timestamp\":"
        "\"2026-12-05T07:00:20.000Z\",\"src_ip\":\"192.0.2.7\",\"dst_ip\":\"10.0.0.5\",\"flows\":"
        "30}},"
        "{\"_source\":{\"id\":\"pv-1\",\"@type\":\"portscan_vertical\",\"@timestamp\":"
        "\"2026-12-05T07:00:10.000Z\",\"src_ip\":\"192.0.2.7\",\"dst_ip\":\"10.0.0.5\",\"flows\":"
        "20}},"
        "{\"_source\":\"not an object\"}]}}",
        0, NULL);
    char src[64];
    int64_t at;
    const char *field;
    assert_int_equal(s4f_web_detection_key(hit, src, sizeof(src), &field, &at), 0);
    assert_string_equal(src, "192.0.2.7");
    assert_string_equal(field, "src_ip");
    assert_int_equal(at, 1796454020000LL);
    json_t *out = s4f_web_shape_detection(hit, ctx, "https://kibana.example.org:5601/");
    assert_non_null(out);
    const json_t *w = json_object_get(out, "windows");
    assert_int_equal(json_array_size(w), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "id")), "pv-1");
    assert_int_equal(json_array_size(json_object_get(out, "others")), 1);
    const char *k = json_string_value(json_object_get(out, "kibana"));
    assert_non_null(k);
    assert_non_null(strstr(k, "https://kibana.example.org:5601/app/discover#/?_g="));
    assert_non_null(strstr(k, "query:'id%3A%22pv-2%22'"));
    assert_null(strchr(k, '"'));
    json_decref(out);
    out = s4f_web_shape_detection(hit, ctx, NULL);
    assert_true(json_is_null(json_object_get(out, "kibana")));
    json_decref(out);
    json_t *none = json_loads("{\"hits\":{\"hits\":[]}}", 0, NULL);
    assert_null(s4f_web_shape_detection(none, ctx, NULL));
    assert_int_equal(s4f_web_detection_key(none, src, sizeof(src), &field, &at), -1);
    json_decref(none);
    json_decref(hit);
    json_decref(ctx);
}

/* Layouts of the host map, and buckets into cells (outside addresses ignored). */
static void test_hostmap(void **state)
{
    (void)state;
    struct s4f_web_hostmap m;
    char err[256];
    assert_int_equal(s4f_web_hostmap_layout("10.0.0.0/24", &m, err, sizeof(err)), 0);
    assert_true(m.per_host);
    assert_int_equal(m.rows, 16);
    assert_int_equal(m.cols, 16);
    assert_int_equal(s4f_web_hostmap_layout("10.0.0.0/23", &m, err, sizeof(err)), 0);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.cols, 256);
    assert_int_equal(s4f_web_hostmap_layout("10.0.16.0/20", &m, err, sizeof(err)), 0);
    assert_int_equal(m.rows, 16);
    assert_int_equal(m.cols, 256);
    assert_int_equal(s4f_web_hostmap_layout("10.0.0.16/28", &m, err, sizeof(err)), 0);
    assert_int_equal(m.cells, 16);
    assert_int_equal(m.cols, 16);
    assert_int_equal(s4f_web_hostmap_layout("10.1.0.0/16", &m, err, sizeof(err)), 0);
    assert_false(m.per_host);
    assert_int_equal(m.cells, 256);
    assert_int_equal(m.rows, 16);
    assert_int_equal(s4f_web_hostmap_layout("10.0.0.0/8", &m, err, sizeof(err)), 0);
    assert_int_equal(m.cell_bits, 16);
    assert_int_equal(m.cells, 256);
    assert_int_equal(s4f_web_hostmap_layout("172.16.0.0/12", &m, err, sizeof(err)), 0);
    assert_int_equal(m.cells, 16);
    assert_int_equal(m.rows, 1);
    assert_int_equal(s4f_web_hostmap_layout("10.0.0.0/7", &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'net'"));
    assert_int_equal(s4f_web_hostmap_layout("2001:db8::/64", &m, err, sizeof(err)), -1);
    assert_int_equal(s4f_web_hostmap_layout("10.0.0.5", &m, err, sizeof(err)), 0);
    assert_int_equal(m.cells, 1);

    assert_int_equal(s4f_web_hostmap_layout("10.0.0.0/24", &m, err, sizeof(err)), 0);
    json_t *es =
        json_loads("{\"aggregations\":{\"cells\":{\"buckets\":["
                   "{\"key\":\"10.0.0.5\",\"flows_out\":{\"value\":10},\"flows_in\":{\"value\":5},"
                   "\"bytes_out\":{\"value\":100},\"bytes_in\":{\"value\":1}},"
                   "{\"key\":\"10.0.1.5\",\"flows_out\":{\"value\":99}},{\"key\":\"junk\"}]}}}",
                   0, NULL);
    json_t *det = json_loads("{\"aggregations\":{\"src\":{\"c\":{\"buckets\":[]}},\"dst\":{\"c\":{"
                             "\"buckets\":[{\"key\":\"10.0.0.60\",\"doc_count\":7}]}}}}",
                             0, NULL);
    json_t *out = s4f_web_shape_hostmap(es, det, &m);
    assert_non_null(out);
    const json_t *cells = json_object_get(out, "cells");
    assert_int_equal(json_array_size(cells), 2);
    const json_t *c0 = json_array_get(cells, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "key")), "10.0.0.5");
    assert_int_equal(json_integer_value(json_object_get(c0, "col")), 5);
    assert_float_equal(json_number_value(json_object_get(c0, "flows")), 15, 0.001);
    assert_float_equal(json_number_value(json_object_get(json_array_get(cells, 1), "detections")),
                       7, 0.001);
    json_decref(out);
    json_decref(es);
    json_decref(det);
    /* A /16 is drawn by /24: the query asks ip_range masks, keys land in their cell. */
    assert_int_equal(s4f_web_hostmap_layout("10.1.0.0/16", &m, err, sizeof(err)), 0);
    struct s4f_web_range r = {0, 1000, 100};
    json_t *q = s4f_web_q_hostmap(&r, &m);
    char *text = json_dumps(q, JSON_COMPACT);
    assert_non_null(strstr(text, "\"mask\":\"10.1.255.0/24\""));
    free(text);
    json_decref(q);
    es = json_loads("{\"aggregations\":{\"cells\":{\"buckets\":[{\"key\":\"10.1.3.0/24\","
                    "\"flows_out\":{\"value\":4}}]}}}",
                    0, NULL);
    out = s4f_web_shape_hostmap(es, NULL, &m);
    c0 = json_array_get(json_object_get(out, "cells"), 0);
    assert_string_equal(json_string_value(json_object_get(c0, "key")), "10.1.3.0/24");
    assert_int_equal(json_integer_value(json_object_get(c0, "col")), 3);
    json_decref(out);
    json_decref(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detection_type),       cmocka_unit_test(test_indices),
        cmocka_unit_test(test_values_stay_values),   cmocka_unit_test(test_protocols_shape),
        cmocka_unit_test(test_host_merge_tops),      cmocka_unit_test(test_tls_query_and_shape),
        cmocka_unit_test(test_topn_query_and_shape), cmocka_unit_test(test_indices),
        cmocka_unit_test(test_values_stay_values),   cmocka_unit_test(test_protocols_shape),
        cmocka_unit_test(test_host_merge_tops),      cmocka_unit_test(test_extent),
        cmocka_unit_test(test_detection_detail),     cmocka_unit_test(test_hostmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
