/* Unit tests of the sink's pure parts: document checks and index names, bulk bodies, bulk
 * answers item by item, retention dates and template rendering. */
#include "bulk.h"
#include "jscan.h"
#include "retention.h"
#include "templates.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DAY 86400000LL

static void iso8601_parses_utc_offsets_and_rejects_garbage(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(s4f_iso8601_parse_ms("2026-11-27T06:10:50.000Z", &ms), 0);
    assert_int_equal(ms, 1795759850000LL);
    assert_int_equal(s4f_iso8601_parse_ms("2026-11-27T06:10:50.5Z", &ms), 0);
    assert_int_equal(ms, 1795759850500LL);
    assert_int_equal(s4f_iso8601_parse_ms("2026-11-27T07:10:50+01:00", &ms), 0);
    assert_int_equal(ms, 1795759850000LL);
    assert_int_equal(s4f_iso8601_parse_ms("2026-11-27T06:10:50", &ms), -1);
    assert_int_equal(s4f_iso8601_parse_ms("2026-02-31T06:10:50Z", &ms), -1);
    assert_int_equal(s4f_iso8601_parse_ms("2026-11-27T06:10:50.Z", &ms), -1);
    assert_int_equal(s4f_iso8601_parse_ms("2026-11-27T06:10:50Zjunk", &ms), -1);
    assert_int_equal(s4f_iso8601_parse_ms("", &ms), -1);
    assert_int_equal(s4f_iso8601_parse_ms("1795759850000", &ms), -1);
}

static void jscan_accepts_exactly_one_valid_object(void **state)
{
    const char *const keys[] = {"id", "n", "o"};
    struct s4f_jval v[3];
    char err[128], out[64];
    (void)state;
    const char *ok = " {\"a\":[1,-2.5e+3,true,false,null,{\"id\":\"inner\"}],\"id\":"
                     "\"x\\\"y\\u00e9\\ud83d\\ude00\",\"n\":-0.5,\"o\":{},\"s\":\"\xc3\xa9\"}\r\n";
    assert_int_equal(s4f_jscan_object(ok, strlen(ok), keys, 3, v, err, sizeof(err)), 0);
    assert_int_equal(v[0].kind, S4F_J_STRING);
    assert_true(v[0].escaped);
    assert_int_equal(s4f_jscan_unescape(&v[0], out, sizeof(out)), 9);
    assert_string_equal(out, "x\"y\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(v[1].kind, S4F_J_NUMBER);
    assert_int_equal(v[1].len, 4);
    assert_int_equal(v[2].kind, S4F_J_OTHER);
    assert_int_equal(s4f_jscan_unescape(&v[2], out, sizeof(out)), -1);

    const char *bad[] = {
        "",
        "[]",
        "{",
        "{\"a\":1,}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":tru}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\x01\"}",
        "{\"a\":1} x",
        "{\"a\":\"\xc0\xaf\"}",     /* overlong UTF-8 */
        "{\"a\":\"\xed\xa0\x80\"}", /* encoded surrogate */
        "{\"id\":\"a\",\"id\":\"b\"}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":-}",
        "{\"a\":1e}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(s4f_jscan_object(bad[i], strlen(bad[i]), keys, 3, v, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
    }
    /* Nesting is bounded. */
    char deep[2 * S4F_JSCAN_MAX_DEPTH + 16];
    size_t n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < S4F_JSCAN_MAX_DEPTH + 1; i++)
        deep[n++] = '[';
    assert_int_equal(s4f_jscan_object(deep, n, keys, 3, v, err, sizeof(err)), -1);
    /* Not NUL-terminated: only len bytes are read. */
    const char cut[] = {'{', '}', '{'};
    assert_int_equal(s4f_jscan_object(cut, 2, keys, 3, v, err, sizeof(err)), 0);
    /* A NUL inside a value cannot become an _id. */
    const char *nul = "{\"id\":\"a\\u0000b\"}";
    assert_int_equal(s4f_jscan_object(nul, strlen(nul), keys, 3, v, err, sizeof(err)), 0);
    assert_int_equal(s4f_jscan_unescape(&v[0], out, sizeof(out)), -1);
}

static void index_name_is_the_utc_day_of_the_event(void **state)
{
    char buf[S4F_BULK_INDEX_MAX];
    int64_t day;
    (void)state;
    assert_int_equal(
        s4f_bulk_index_name("stream4flow", "host_stats", 1795759850000LL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "stream4flow-host_stats-2026.11.27");
    assert_int_equal(s4f_bulk_index_day("stream4flow", buf, &day), 0);
    assert_int_equal(day, 1795737600000LL);
    /* Not ours: another prefix, a hyphen in the type, no date. */
    assert_int_equal(s4f_bulk_index_day("stream4flow", "stream4flowx-a-2026.11.27", &day), -1);
    assert_int_equal(s4f_bulk_index_day("stream4flow", "stream4flow-a-b-2026.11.27", &day), -1);
    assert_int_equal(s4f_bulk_index_day("stream4flow", "stream4flow-notes", &day), -1);
    assert_int_equal(s4f_bulk_index_day("s4f", "s4f-x-2026.13.01", &day), -1);
    assert_false(s4f_bulk_type_ok("Host"));
    assert_false(s4f_bulk_type_ok("a-b"));
    assert_false(s4f_bulk_type_ok(""));
    assert_true(s4f_bulk_type_ok("portscan_vertical"));
    /* The original's dotted types: their results were dead-lettered as invalid before. */
    assert_true(s4f_bulk_type_ok("detection.ddos"));
    assert_true(s4f_bulk_type_ok("detection.reflectdos"));
    assert_false(s4f_bulk_type_ok(".ddos"));
    assert_false(s4f_bulk_type_ok("ddos."));
    assert_false(s4f_bulk_type_ok("detection..ddos"));
    assert_false(s4f_bulk_type_ok("."));
    /* Retention finds their days. */
    assert_int_equal(
        s4f_bulk_index_name("s4f", "detection.ddos", 1795759850000LL, buf, sizeof(buf)), 0);
    assert_int_equal(s4f_bulk_index_day("s4f", buf, &day), 0);
    assert_int_equal(day, 1795737600000LL);
}

static void result_meta_takes_id_type_and_time(void **state)
{
    struct s4f_doc_meta m;
    char reason[256];
    (void)state;
    const char *doc = "{\"@type\":\"protocols_statistics\",\"@timestamp\":"
                      "\"2026-11-27T23:59:59.999Z\",\"id\":\"ps:1\",\"flows\":1}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_RESULT, "p", doc, strlen(doc), "t", 0, 5, -1, NULL,
                                       &m, reason, sizeof(reason)),
                     S4F_OK);
    assert_string_equal(m.index, "p-protocols_statistics-2026.11.27");
    assert_string_equal(m.id, "ps:1");
    /* A dotted type (the original's detection.ddos): its index, not a dead letter. */
    const char *dd = "{\"@type\":\"detection.ddos\",\"@timestamp\":"
                     "\"2026-11-27T23:59:59.999Z\",\"id\":\"dd:1\",\"dst_ip\":\"10.0.0.1\"}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_RESULT, "p", dd, strlen(dd), "t", 0, 5, -1, NULL, &m,
                                       reason, sizeof(reason)),
                     S4F_OK);
    assert_string_equal(m.index, "p-detection.ddos-2026.11.27");

    const char *bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"@type\":\"x\",\"@timestamp\":\"2026-11-27T00:00:00Z\"}",                /* no id */
        "{\"@type\":\"X-Y\",\"@timestamp\":\"2026-11-27T00:00:00Z\",\"id\":\"a\"}", /* type */
        "{\"@type\":\"x\",\"@timestamp\":\"yesterday\",\"id\":\"a\"}",
        "{\"@type\":\"x\",\"@timestamp\":\"2026-11-27T00:00:00Z\",\"id\":\"\"}",
        "{\"@type\":\"x\",\"@timestamp\":\"2026-11-27T00:00:00Z\",\"id\":\"a\",\"id\":\"b\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reason[0] = '\0';
        assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_RESULT, "p", bad[i], strlen(bad[i]), "t", 0, 5,
                                           -1, NULL, &m, reason, sizeof(reason)),
                         S4F_ERR);
        assert_true(reason[0] != '\0');
    }
}

static void flow_meta_uses_kafka_coordinates_and_flow_end(void **state)
{
    struct s4f_doc_meta m;
    char reason[256];
    (void)state;
    const char *doc = "{\"@type\":\"ipfix.entry\",\"ipfix.flowStartMilliseconds\":1795759850000,"
                      "\"ipfix.flowEndMilliseconds\":1795824000000}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_FLOW, "p", doc, strlen(doc), "ipfix.entry", 3, 42,
                                       -1, NULL, &m, reason, sizeof(reason)),
                     S4F_OK);
    assert_string_equal(m.id, "ipfix.entry-3-42");
    assert_string_equal(m.index, "p-flows-2026.11.28");
    const char *no_time = "{\"@type\":\"ipfix.entry\"}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_FLOW, "p", no_time, strlen(no_time), "f", 0, 1,
                                       1795759850000LL, NULL, &m, reason, sizeof(reason)),
                     S4F_OK);
    assert_string_equal(m.index, "p-flows-2026.11.27");
}

/* Issue 13: a result of a @type without a template, or dated far from now, is refused before it
 * can create an index; flows are bounded the same way. */
static void hostile_results_are_refused_with_their_reason(void **state)
{
    struct s4f_doc_meta m;
    char reason[256];
    (void)state;
    const int64_t now = 1795737600000LL + 10 * 3600000; /* 2026-11-27T10:00:00Z */
    const struct s4f_bulk_checks c = {.now_ms = now,
                                      .max_future_ms = 3600000,
                                      .max_age_ms = 30 * DAY,
                                      .type_known = s4f_tpl_result_type};
    const struct {
        const char *doc;
        enum s4f_doc_refusal why;
    } cases[] = {
        {"{\"@type\":\"evil\",\"@timestamp\":\"2026-11-27T02:00:00Z\",\"id\":\"a\","
         "\"src_ip\":\"not an address\"}",
         S4F_REFUSE_TYPE},
        {"{\"@type\":\"flows\",\"@timestamp\":\"2026-11-27T02:00:00Z\",\"id\":\"a\"}",
         S4F_REFUSE_TYPE},
        {"{\"@type\":\"results\",\"@timestamp\":\"2026-11-27T02:00:00Z\",\"id\":\"a\"}",
         S4F_REFUSE_TYPE},
        {"{\"@type\":\"portscan_vertical\",\"@timestamp\":\"9999-12-31T00:00:00Z\",\"id\":\"a\"}",
         S4F_REFUSE_TIME},
        {"{\"@type\":\"portscan_vertical\",\"@timestamp\":\"1970-01-01T00:00:00Z\",\"id\":\"a\"}",
         S4F_REFUSE_TIME},
        {"{\"@type\":\"host_stats\",\"@timestamp\":\"2026-11-27T11:00:01Z\",\"id\":\"a\"}",
         S4F_REFUSE_TIME},
        {"{\"@type\":\"host_stats\",\"@timestamp\":\"2026-10-28T09:59:59Z\",\"id\":\"a\"}",
         S4F_REFUSE_TIME},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reason[0] = '\0';
        assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_RESULT, "p", cases[i].doc, strlen(cases[i].doc),
                                           "t", 0, 5, -1, &c, &m, reason, sizeof(reason)),
                         S4F_ERR);
        assert_int_equal(m.refused, cases[i].why);
        assert_true(reason[0] != '\0');
    }
    /* Within bounds, every type with a template passes. */
    const char *ok = "{\"@type\":\"host_stats_temporal_profile\",\"@timestamp\":"
                     "\"2026-11-27T10:59:59Z\",\"id\":\"a\"}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_RESULT, "p", ok, strlen(ok), "t", 0, 5, -1, &c, &m,
                                       reason, sizeof(reason)),
                     S4F_OK);
    assert_int_equal(m.refused, S4F_REFUSE_NONE);
    /* Flows: the flow end time, else the Kafka timestamp, is bounded alike. */
    const char *far = "{\"ipfix.flowEndMilliseconds\":253402214400000}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_FLOW, "p", far, strlen(far), "f", 0, 1, now, &c, &m,
                                       reason, sizeof(reason)),
                     S4F_ERR);
    assert_int_equal(m.refused, S4F_REFUSE_TIME);
    const char *none = "{\"@type\":\"ipfix.entry\"}";
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_FLOW, "p", none, strlen(none), "f", 0, 1, 1000, &c,
                                       &m, reason, sizeof(reason)),
                     S4F_ERR);
    assert_int_equal(s4f_bulk_doc_meta(S4F_DOC_FLOW, "p", none, strlen(none), "f", 0, 1, now, &c,
                                       &m, reason, sizeof(reason)),
                     S4F_OK);
}

static void result_types_are_the_templated_ones(void **state)
{
    (void)state;
    const char *known[] = {"protocols_statistics",
                           "portscan_horizontal",
                           "portscan_vertical",
                           "host_stats",
                           "host_stats_temporal_profile",
                           "tls_classification",
                           "ssh_auth_simple",
                           "detection.ddos"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        assert_true(s4f_tpl_result_type(known[i]));
    assert_false(s4f_tpl_result_type("flows"));   /* raw flows, not a result */
    assert_false(s4f_tpl_result_type("results")); /* the catch-all */
    assert_false(s4f_tpl_result_type("common"));
    assert_false(s4f_tpl_result_type("host"));
    assert_false(s4f_tpl_result_type("evil"));
}

static void bulk_lines_escape_ids_and_flatten_line_breaks(void **state)
{
    struct s4f_buf b = {0};
    struct s4f_doc_meta m = {.index = "p-x-2026.11.27", .id = "a\"b\\c"};
    const char doc[] = "{\"a\":\n1,\r\n\"b\":2}";
    (void)state;
    assert_int_equal(s4f_bulk_append(&b, &m, doc, strlen(doc)), 0);
    assert_string_equal(b.p, "{\"index\":{\"_index\":\"p-x-2026.11.27\",\"_id\":\"a\\\"b\\\\c\"}}\n"
                             "{\"a\": 1,  \"b\":2}\n");
    s4f_buf_free(&b);
    s4f_buf_free(&b); /* NULL-safe twice */
}

static void fenced_results_carry_their_epoch_as_external_version(void **state)
{
    int64_t v = -1, v4 = 0, v5 = 0;
    (void)state;
    assert_int_equal(s4f_bulk_epoch_version("5", 1, &v5), 0);
    assert_int_equal(v5, 5LL << 32);
    assert_int_equal(s4f_bulk_epoch_version("4", 1, &v4), 0);
    assert_true(v4 < v5);           /* a later owner's epoch always wins */
    assert_true(v4 > 0xffffffffLL); /* above any version a plain index reached */
    assert_int_equal(s4f_bulk_epoch_version("2147483647", 10, &v), 0);
    assert_int_equal(v, 2147483647LL << 32);
    assert_true(v > 0);
    /* The value is not terminated: only len bytes count. */
    assert_int_equal(s4f_bulk_epoch_version("123", 2, &v), 0);
    assert_int_equal(v, 12LL << 32);
    v = -1;
    const char *bad[] = {"",   "0",  "07",         "-1",          "+1", " 1",
                         "1 ", "1x", "2147483648", "99999999999", "1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(s4f_bulk_epoch_version(bad[i], strlen(bad[i]), &v), -1);
    assert_int_equal(s4f_bulk_epoch_version(NULL, 0, &v), -1);
    assert_int_equal(v, -1);

    struct s4f_buf b = {0};
    struct s4f_doc_meta m = {.index = "p-x-2026.11.27", .id = "i", .version = v5};
    assert_int_equal(s4f_bulk_append(&b, &m, "{}", 2), 0);
    assert_string_equal(b.p, "{\"index\":{\"_index\":\"p-x-2026.11.27\",\"_id\":\"i\","
                             "\"version\":21474836480,\"version_type\":\"external_gte\"}}\n"
                             "{}\n");
    s4f_buf_free(&b);

    /* A version conflict is a stale result fenced, neither retried nor dead-lettered; another
     * 409 stays a refusal. */
    const char *ans = "{\"errors\":true,\"items\":[{\"index\":{\"status\":409,\"error\":"
                      "{\"type\":\"version_conflict_engine_exception\",\"reason\":\"[i]: "
                      "version conflict, current version [21474836480] is higher than or equal "
                      "to the one provided [17179869184]\"}}},{\"index\":{\"status\":201}}]}";
    struct s4f_bulk_item_result r[2];
    assert_int_equal(s4f_bulk_parse_response(ans, strlen(ans), 2, r), S4F_OK);
    assert_int_equal(r[0].outcome, S4F_ITEM_FENCED);
    assert_int_equal(r[1].outcome, S4F_ITEM_OK);
    assert_int_equal(s4f_bulk_classify(409, "other_exception"), S4F_ITEM_DEAD);
    assert_int_equal(s4f_bulk_classify(409, NULL), S4F_ITEM_DEAD);
}

static void bulk_answer_is_read_item_by_item(void **state)
{
    struct s4f_bulk_item_result r[4];
    (void)state;
    const char *ok = "{\"errors\":false,\"items\":[{\"index\":{\"status\":201}},"
                     "{\"index\":{\"status\":200}}]}";
    assert_int_equal(s4f_bulk_parse_response(ok, strlen(ok), 2, r), S4F_OK);
    assert_int_equal(r[0].outcome, S4F_ITEM_OK);
    assert_int_equal(r[1].outcome, S4F_ITEM_OK);

    const char *mixed =
        "{\"errors\":true,\"items\":[{\"index\":{\"status\":201}},"
        "{\"index\":{\"status\":429,\"error\":{\"type\":\"es_rejected_execution_exception\","
        "\"reason\":\"queue full\"}}},"
        "{\"index\":{\"status\":400,\"error\":{\"type\":\"document_parsing_exception\","
        "\"reason\":\"failed to parse field [flows]\"}}},"
        "{\"index\":{\"status\":503,\"error\":{\"type\":\"unavailable_shards_exception\"}}}]}";
    assert_int_equal(s4f_bulk_parse_response(mixed, strlen(mixed), 4, r), S4F_OK);
    assert_int_equal(r[0].outcome, S4F_ITEM_OK);
    assert_int_equal(r[1].outcome, S4F_ITEM_RETRY);
    assert_int_equal(r[2].outcome, S4F_ITEM_DEAD);
    assert_non_null(strstr(r[2].reason, "document_parsing_exception"));
    assert_int_equal(r[3].outcome, S4F_ITEM_RETRY);

    /* Never success by default: a short list, garbage, or an item without status. */
    assert_int_equal(s4f_bulk_parse_response(ok, strlen(ok), 3, r), S4F_RETRY);
    assert_int_equal(s4f_bulk_parse_response("<html>", 6, 1, r), S4F_RETRY);
    const char *nostatus = "{\"items\":[{\"index\":{}}]}";
    assert_int_equal(s4f_bulk_parse_response(nostatus, strlen(nostatus), 1, r), S4F_OK);
    assert_int_equal(r[0].outcome, S4F_ITEM_RETRY);
    const char *okerr = "{\"items\":[{\"index\":{\"status\":200,\"error\":\"odd\"}}]}";
    assert_int_equal(s4f_bulk_parse_response(okerr, strlen(okerr), 1, r), S4F_OK);
    assert_int_equal(r[0].outcome, S4F_ITEM_RETRY);

    assert_int_equal(s4f_bulk_classify(403, "cluster_block_exception"), S4F_ITEM_RETRY);
    assert_int_equal(s4f_bulk_classify(400, "mapper_parsing_exception"), S4F_ITEM_DEAD);
    assert_int_equal(s4f_bulk_classify(500, NULL), S4F_ITEM_RETRY);
}

static void retention_deletes_whole_days_only(void **state)
{
    (void)state;
    int64_t day = 1795737600000LL; /* 2026-11-27 */
    int64_t ret = 30 * DAY;
    assert_false(s4f_retention_expired(day, day + 30 * DAY, ret));
    assert_false(s4f_retention_expired(day, day + 31 * DAY - 1, ret));
    assert_true(s4f_retention_expired(day, day + 31 * DAY, ret));
    assert_false(s4f_retention_expired(day, day + 3650 * DAY, 0)); /* 0 keeps everything */
}

static void retention_deletes_days_beyond_the_future_bound(void **state)
{
    (void)state;
    int64_t day = 1795737600000LL; /* 2026-11-27 */
    int64_t fut = 3600000;
    /* Today and tomorrow may receive documents (max_future, plus a day of clock skew). */
    assert_false(s4f_retention_future(day, day, fut));
    assert_false(s4f_retention_future(day + DAY, day + DAY - 1, fut));
    assert_false(s4f_retention_future(day + 2 * DAY, day + 23 * 3600000LL, fut));
    assert_true(s4f_retention_future(day + 2 * DAY, day + 22 * 3600000LL, fut));
    int64_t far;
    assert_int_equal(s4f_bulk_index_day("p", "p-x-9999.12.31", &far), 0);
    assert_true(s4f_retention_future(far, day, fut));
}

static void templates_render_with_prefix_and_stable_hash(void **state)
{
    char path[256], err[256];
    (void)state;
    assert_true(s4f_tpl_nfiles >= 7);
    for (size_t i = 0; i < s4f_tpl_nfiles; i++) {
        json_t *a = s4f_tpl_render(&s4f_tpl_files[i], "pfx", path, sizeof(path), err, sizeof(err));
        json_t *b = s4f_tpl_render(&s4f_tpl_files[i], "pfx", path, sizeof(path), err, sizeof(err));
        json_t *c =
            s4f_tpl_render(&s4f_tpl_files[i], "other", path, sizeof(path), err, sizeof(err));
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(c);
        const char *ha =
            json_string_value(json_object_get(json_object_get(a, "_meta"), "s4f_hash"));
        const char *hb =
            json_string_value(json_object_get(json_object_get(b, "_meta"), "s4f_hash"));
        const char *hc =
            json_string_value(json_object_get(json_object_get(c, "_meta"), "s4f_hash"));
        assert_string_equal(ha, hb);
        /* The hash follows the rendered content: it moves with the prefix where it appears. */
        if (strstr(s4f_tpl_files[i].text, "{{prefix}}"))
            assert_string_not_equal(ha, hc);
        else
            assert_string_equal(ha, hc);
        char *text = json_dumps(a, 0);
        assert_null(strstr(text, "{{prefix}}"));
        free(text);
        assert_true(strncmp(path, "/_index_template/other-", 23) == 0 ||
                    strncmp(path, "/_component_template/other-", 27) == 0);
        json_decref(a);
        json_decref(b);
        json_decref(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iso8601_parses_utc_offsets_and_rejects_garbage),
        cmocka_unit_test(jscan_accepts_exactly_one_valid_object),
        cmocka_unit_test(index_name_is_the_utc_day_of_the_event),
        cmocka_unit_test(result_meta_takes_id_type_and_time),
        cmocka_unit_test(flow_meta_uses_kafka_coordinates_and_flow_end),
        cmocka_unit_test(bulk_lines_escape_ids_and_flatten_line_breaks),
        cmocka_unit_test(bulk_answer_is_read_item_by_item),
        cmocka_unit_test(fenced_results_carry_their_epoch_as_external_version),
        cmocka_unit_test(retention_deletes_whole_days_only),
        cmocka_unit_test(retention_deletes_days_beyond_the_future_bound),
        cmocka_unit_test(hostile_results_are_refused_with_their_reason),
        cmocka_unit_test(result_types_are_the_templated_ones),
        cmocka_unit_test(templates_render_with_prefix_and_stable_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
