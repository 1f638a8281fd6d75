/* Unit tests of s4f-alert's pure parts: severities and routes, the id dedup set, the token
 * bucket, hostile results, the ECS document and the RFC 5424 message. */
#include "alert.h"
#include "buf.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char scan[] =
    "{\"@type\":\"portscan_vertical\",\"@timestamp\":\"2026-11-27T06:11:00.000Z\","
    "\"window_start\":\"2026-11-27T06:10:00.000Z\",\"window_end\":\"2026-11-27T06:11:00.000Z\","
    "\"id\":\"portscan_vertical:1795759800000+60000:p0:10.0.0.1>10.0.0.2\","
    "\"src_ip\":\"10.0.0.1\",\"dst_ip\":\"10.0.0.2\",\"flows\":120,\"targets_total\":100}";

static void severities_operator_first_then_builtin_then_default(void **state)
{
    (void)state;
    char *k[] = {"portscan_vertical"}, *v[] = {"critical"};
    struct s4f_kvlist ops = {1, k, v};
    assert_int_equal(s4f_alert_severity_of(&ops, S4F_SEV_LOW, "portscan_vertical"),
                     S4F_SEV_CRITICAL);
    assert_int_equal(s4f_alert_severity_of(&ops, S4F_SEV_LOW, "portscan_horizontal"),
                     S4F_SEV_MEDIUM);
    assert_int_equal(s4f_alert_severity_of(NULL, S4F_SEV_LOW, "detection.ddos"), S4F_SEV_HIGH);
    assert_int_equal(s4f_alert_severity_of(NULL, S4F_SEV_LOW, "rule_ssh_outside"), S4F_SEV_MEDIUM);
    assert_int_equal(s4f_alert_severity_of(NULL, S4F_SEV_HIGH, "host_stats"), S4F_SEV_HIGH);

    char *g[] = {"portscan_*", "detection.ddos"};
    struct s4f_strlist globs = {2, g};
    assert_true(s4f_alert_type_matches(&globs, "portscan_horizontal"));
    assert_true(s4f_alert_type_matches(&globs, "detection.ddos"));
    assert_false(s4f_alert_type_matches(&globs, "detection.reflectdos"));
    assert_false(s4f_alert_type_matches(&globs, "protocols_statistics"));
}

static void dedup_forgets_the_oldest_first(void **state)
{
    (void)state;
    struct s4f_alert_dedup *d = s4f_alert_dedup_new(3);
    char id[32];
    assert_non_null(d);
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(s4f_alert_dedup_add(d, id), 0);
    }
    assert_int_equal(s4f_alert_dedup_add(d, "id-1"), 0); /* already there: no change */
    assert_true(s4f_alert_dedup_has(d, "id-0"));
    assert_int_equal(s4f_alert_dedup_add(d, "id-3"), 0); /* id-0 goes */
    assert_false(s4f_alert_dedup_has(d, "id-0"));
    assert_true(s4f_alert_dedup_has(d, "id-1"));
    assert_true(s4f_alert_dedup_has(d, "id-3"));
    for (int i = 4; i < 1000; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(s4f_alert_dedup_add(d, id), 0);
    }
    assert_true(s4f_alert_dedup_has(d, "id-999"));
    assert_true(s4f_alert_dedup_has(d, "id-997"));
    assert_false(s4f_alert_dedup_has(d, "id-996"));
    s4f_alert_dedup_free(d);

    struct s4f_alert_dedup *none = s4f_alert_dedup_new(0);
    assert_int_equal(s4f_alert_dedup_add(none, "x"), 0);
    assert_false(s4f_alert_dedup_has(none, "x"));
    s4f_alert_dedup_free(none);
    s4f_alert_dedup_free(NULL);
}

static void bucket_allows_burst_then_rate(void **state)
{
    (void)state;
    struct s4f_alert_bucket b;
    s4f_alert_bucket_init(&b, 2.0, 5, 1000);
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += s4f_alert_bucket_take(&b, 1000);
    assert_int_equal(ok, 5);
    assert_false(s4f_alert_bucket_take(&b, 1400)); /* 0.8 token */
    assert_true(s4f_alert_bucket_take(&b, 1500));  /* 1 token after 500 ms at 2/s */
    assert_false(s4f_alert_bucket_take(&b, 1500));
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += s4f_alert_bucket_take(&b, 100000); /* refilled to the burst, not beyond */
    assert_int_equal(ok, 5);
    s4f_alert_bucket_init(&b, 0, 1, 0);
    for (int i = 0; i < 100; i++)
        assert_true(s4f_alert_bucket_take(&b, 0));
}

static void hostile_results_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[1,2]",
        "{\"@type\":\"x\"}",
        "{\"id\":\"a\"}",
        "{\"@type\":\"a b\",\"id\":\"x\"}",
        "{\"@type\":\"t\",\"id\":\"x\\ny\"}",
        "{\"@type\":\"t\",\"id\":7}",
        "{\"@type\":\"t\",\"id\":\"a\",\"id\":\"b\"}",
        "{\"@type\":\"t\",\"id\":\"a\"",
        "{\"@type\":\"t\",\"id\":\"\"}",
    };
    struct s4f_detection det;
    char why[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(s4f_detection_parse(bad[i], strlen(bad[i]), &det, why, sizeof(why)),
                         S4F_ERR);
        assert_null(det.json);
        s4f_detection_release(&det);
    }
    char *big = malloc(S4F_ALERT_ID_MAX + 64);
    assert_non_null(big);
    int k = snprintf(big, 64, "{\"@type\":\"t\",\"id\":\"");
    memset(big + k, 'a', S4F_ALERT_ID_MAX + 1);
    strcpy(big + k + S4F_ALERT_ID_MAX + 1, "\"}");
    assert_int_equal(s4f_detection_parse(big, strlen(big), &det, why, sizeof(why)), S4F_ERR);
    free(big);
}

static void ecs_document_names_the_fields(void **state)
{
    (void)state;
    struct s4f_detection det;
    char why[256];
    assert_int_equal(s4f_detection_parse(scan, strlen(scan), &det, why, sizeof(why)), S4F_OK);
    assert_string_equal(det.type, "portscan_vertical");
    char *text = s4f_alert_ecs_json(&det, S4F_SEV_MEDIUM);
    assert_non_null(text);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    const char *v = NULL;
    json_int_t sev = 0;
    assert_int_equal(json_unpack(o, "{s:{s:s}}", "source", "ip", &v), 0);
    assert_string_equal(v, "10.0.0.1");
    assert_int_equal(json_unpack(o, "{s:{s:s}}", "destination", "ip", &v), 0);
    assert_string_equal(v, "10.0.0.2");
    assert_int_equal(json_unpack(o, "{s:{s:s}}", "event", "kind", &v), 0);
    assert_string_equal(v, "alert");
    assert_int_equal(json_unpack(o, "{s:{s:s}}", "event", "id", &v), 0);
    assert_string_equal(v, det.id);
    assert_int_equal(json_unpack(o, "{s:{s:I}}", "event", "severity", &sev), 0);
    assert_int_equal(sev, 47);
    assert_int_equal(json_unpack(o, "{s:{s:s}}", "rule", "name", &v), 0);
    assert_string_equal(v, "portscan_vertical");
    assert_int_equal(json_unpack(o, "{s:s}", "@timestamp", &v), 0);
    assert_string_equal(v, "2026-11-27T06:11:00.000Z");
    assert_int_equal(json_unpack(o, "{s:{s:{s:I}}}", "stream4flow", "detection", "flows", &sev), 0);
    assert_int_equal(sev, 120);
    json_decref(o);

    struct s4f_buf line = {0};
    assert_int_equal(
        s4f_alert_syslog_line(&line, &det, S4F_SEV_MEDIUM, 16, "host one", "s4f-alert", 42, text),
        0);
    const char *want = "<132>1 2026-11-27T06:11:00.000Z hostone s4f-alert 42 portscan_vertical "
                       "[s4f@32473 id=\"portscan_vertical:1795759800000+60000:p0:10.0.0.1>10.0.0.2"
                       "\" type=\"portscan_vertical\" severity=\"medium\"] {";
    assert_memory_equal(line.p, want, strlen(want));
    assert_string_equal(line.p + strlen(want) - 1, text);
    s4f_buf_free(&line);
    free(text);
    s4f_detection_release(&det);
}

static void address_fields_must_be_addresses(void **state)
{
    (void)state;
    static const char in[] = "{\"@type\":\"detection.reflectdos\",\"id\":\"r1\",\"@timestamp\":"
                             "\"bad\",\"src_ip\":\"<script>\",\"dns_ip\":\"2001:db8::53\","
                             "\"dst_port\":70000}";
    struct s4f_detection det;
    char why[256];
    assert_int_equal(s4f_detection_parse(in, strlen(in), &det, why, sizeof(why)), S4F_OK);
    assert_string_equal(det.timestamp, "");
    char *text = s4f_alert_ecs_json(&det, S4F_SEV_HIGH);
    json_t *o = json_loads(text, 0, NULL);
    const char *v = NULL;
    assert_int_equal(json_unpack(o, "{s:{s:s}}", "source", "ip", &v), 0);
    assert_string_equal(v, "2001:db8::53");
    assert_null(json_object_get(o, "destination"));
    json_decref(o);
    struct s4f_buf line = {0};
    assert_int_equal(s4f_alert_syslog_line(&line, &det, S4F_SEV_HIGH, 16, "", "", 1, text), 0);
    assert_memory_equal(line.p, "<131>1 ", 7);
    assert_non_null(strstr(line.p, "Z - - 1 detection.reflectdos [s4f@32473 id=\"r1\""));
    s4f_buf_free(&line);
    free(text);
    s4f_detection_release(&det);
}

static int dest_from_yaml(const char *yaml, struct s4f_alert_dest_conf *c, char *why, size_t len)
{
    char err[1024] = "";
    struct s4f_conf_doc *doc = s4f_conf_load_string(yaml, strlen(yaml), "t.yml", err, sizeof(err));
    assert_non_null(doc);
    memset(c, 0, sizeof(*c));
    int rc = s4f_conf_apply(doc, doc->root, "alert.destinations.x", s4f_alert_dest_opts, c, err,
                            sizeof(err));
    if (rc == 0)
        rc = s4f_alert_dest_check(c, why, len);
    else
        snprintf(why, len, "%s", err);
    s4f_conf_doc_free(doc);
    return rc;
}

static void destinations_are_checked(void **state)
{
    (void)state;
    struct s4f_alert_dest_conf c;
    char why[1024];
    assert_int_equal(
        dest_from_yaml("type: webhook\nurl: https://h.example.org/x\n", &c, why, sizeof(why)), 0);
    assert_int_equal(c.types.n, 5); /* the default globs: detections only */
    assert_string_equal(c.types.v[0], "portscan_*");
    assert_string_equal(c.idempotency_header, "Idempotency-Key");
    assert_int_equal(c.connection_batch, 1);
    assert_true(c.await_close);
    s4f_conf_release(s4f_alert_dest_opts, &c);
    static const char *const bad[] = {
        "type: webhook\n",                                        /* no url */
        "type: webhook\nurl: ftp://h/x\n",                        /* not http(s) */
        "type: webhook\nurl: http://h/\nheaders: {\"A B\": x}\n", /* bad header name */
        "type: syslog\n",                                         /* no address */
        "type: syslog\naddress: h:514\ntransport: udp\nmessage_max: 1M\n",
        "type: syslog\naddress: h:514\nretry_initial: 1m\nretry_max: 1s\n",
        "type: syslog\naddress: h:514\ntransport: sctp\n",
        "type: syslog\naddress: h:514\ntypes: []\n",
        "type: syslog\naddress: h:514\nbogus: 1\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(dest_from_yaml(bad[i], &c, why, sizeof(why)), -1);
        s4f_conf_release(s4f_alert_dest_opts, &c);
    }
    assert_true(s4f_alert_name_ok("soc-siem_1.eu"));
    assert_false(s4f_alert_name_ok(""));
    assert_false(s4f_alert_name_ok("a b"));
    assert_false(s4f_alert_name_ok("a/b"));
    assert_false(s4f_alert_name_ok(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
}

static void syslog_addresses_are_checked(void **state)
{
    (void)state;
    struct s4f_alert_dest_conf c;
    char err[256];
    memset(&c, 0, sizeof(c));
    c.kind = S4F_DEST_SYSLOG;
    static const char *const good[] = {"127.0.0.1:514", "[::1]:6514", "siem.example.org:601"};
    static const char *const bad[] = {"127.0.0.1", "::1:514", "[::1]514", "h:0",   "h:99999",
                                      "h:x",       ":514",    "",         "[]:514"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        c.address = (char *)good[i];
        struct s4f_alert_out *o = s4f_syslog_out_new(&c, err, sizeof(err));
        assert_non_null(o);
        s4f_alert_out_free(o);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.address = (char *)bad[i];
        assert_null(s4f_syslog_out_new(&c, err, sizeof(err)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(severities_operator_first_then_builtin_then_default),
        cmocka_unit_test(dedup_forgets_the_oldest_first),
        cmocka_unit_test(bucket_allows_burst_then_rate),
        cmocka_unit_test(hostile_results_are_refused),
        cmocka_unit_test(ecs_document_names_the_fields),
        cmocka_unit_test(address_fields_must_be_addresses),
        cmocka_unit_test(destinations_are_checked),
        cmocka_unit_test(syslog_addresses_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
