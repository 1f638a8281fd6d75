/* tls_classification on flows read by the real flow reader (the JSON the collector writes for
 * Flowmon's and ipfixprobe's TLS elements) through the window engine: exact documents for a
 * known mix over the shipped dictionary (the original's byte order, 0x0000 padding, the later
 * of two equal keys, Unknown counted once per flow), JA3/JA4/SNI precedence, SIGHUP reloads
 * (a bad file keeps the loaded dictionary), and the dictionary parser's errors. */
#include "daemon.h"
#include "harness.h"
#include "log.h"
#include "registry.h"
#include "tls_dict.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const struct s4f_analysis *analysis(const char *name)
{
    const struct s4f_analysis *a = s4f_analysis_find(name);
    assert_non_null(a);
    return a;
}

static const char *rid(const char *type, int64_t start_rel, int64_t len, const char *key)
{
    static char buf[8][300];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 300, "%s:%" PRId64 "+%" PRId64 ":p0:%s", type, TH_T0 + start_rel, len, key);
    return b;
}

/* A TLS flow as the collector writes it: `fields` are the TLS keys (JSON members). */
static void put(struct th *t, int64_t *off, const char *src, int64_t rel, const char *fields)
{
    char json[1024];
    int n = snprintf(json, sizeof(json),
                     "{\"ipfix.sourceIPv4Address\":\"%s\",\"ipfix.destinationIPv4Address\":"
                     "\"104.26.1.201\",\"ipfix.protocolIdentifier\":6,"
                     "\"ipfix.sourceTransportPort\":52641,\"ipfix.destinationTransportPort\":443,"
                     "\"ipfix.flowEndMilliseconds\":%" PRId64 "%s%s}",
                     src, TH_T0 + rel, *fields ? "," : "", fields);
    struct s4f_flow f;
    const char *why = NULL;
    assert_int_equal(s4f_flow_parse(json, (size_t)n, &f, &why), S4F_OK);
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

struct kv {
    const char *key;
    int64_t value;
};

static void check(struct th *t, int64_t start, const char *stat, const struct kv *want, size_t n)
{
    json_t *d = th_doc(t, rid("tls_classification", start, 30000, stat));
    assert_non_null(d);
    assert_string_equal(th_str(d, "@type"), "tls_classification");
    assert_string_equal(th_str(d, "@stat_type"), stat);
    json_t *a = json_object_get(d, "data_array");
    if (json_array_size(a) != n) {
        char *s = json_dumps(d, 0);
        fail_msg("%s: %zu items, want %zu: %s", stat, json_array_size(a), n, s);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        assert_string_equal(th_str(e, "key"), want[i].key);
        assert_int_equal(th_int(e, "value"), want[i].value);
    }
}

/* Suites as Flowmon exports them: each suite's two bytes swapped, padded to 16 bytes. */
#define SUITES(hex) "\"ipfix.TLSClientCipherSuites\":\"" hex "\""

static void test_tls_classification_exact(void **state)
{
    struct th *t = th_new(analysis("tls_classification"), "allowed_lateness: 0\n");
    int64_t off = 0;
    /* 0x0004,0x0005,0x000a,0x0009,0x0064,0x0062,0x0003,0x0006: Desktop;Windows;Browser;MSIE */
    for (int i = 0; i < 3; i++)
        put(t, &off, "10.0.0.1", 1000 + i,
            SUITES("0x04000500"
                   "0a000900"
                   "64006200"
                   "03000600"));
    /* Given twice in the original file (Mobile;Android;Browser;Safari, then Mobile;Android;;):
     * the later line wins, as in the original's dict. */
    for (int i = 0; i < 2; i++)
        put(t, &off, "10.0.0.2", 2000 + i,
            SUITES("0x04000500"
                   "2f003500"
                   "02c004c0"
                   "05c00cc0"));
    /* 0x0005,0x0004 and 0x0000 padding: ;;Application; */
    put(t, &off, "10.0.0.3", 3000, SUITES("0x05000400000000000000000000000000"));
    /* All zero: no ClientHello seen, not a TLS flow (the original skipped it). */
    put(t, &off, "10.0.0.3", 3001, SUITES("0x00000000000000000000000000000000"));
    /* Not in the dictionary: Unknown in all three. */
    put(t, &off, "10.0.0.4", 4000, SUITES("0x3412"));
    put(t, &off, "10.0.0.4", 4001, SUITES("0x34127856"));
    /* The row the original file gave four columns: ;Windows;Browser;MSIE here. */
    put(t, &off, "10.0.0.5", 5000,
        SUITES("0x35002f00"
               "38003200"
               "0a001300"
               "05000400"));
    /* ipfixprobe: a server name under *.windowsupdate.com (any case), JA4 not in it. */
    put(t, &off, "10.0.0.6", 6000,
        "\"ipfix.TLS_SNI\":\"Download.WindowsUpdate.com\","
        "\"ipfix.TLS_JA4\":\"t13d1518h2_8daaf6152771_e5627efa2ab1\"");
    /* Not TLS at all. */
    put(t, &off, "10.0.0.7", 7000, "\"ipfix.HTTPRequestHost\":\"example.org\"");
    /* A malformed suites value: ignored and counted. */
    put(t, &off, "10.0.0.7", 7001, SUITES("0xzz"));
    put(t, &off, "10.0.0.1", 31000, SUITES("0x3412")); /* closes the first window */
    th_tick(t);

    check(t, 0, "os", (struct kv[]){{"Windows", 5}, {"Unknown", 3}, {"Android", 2}}, 3);
    check(t, 0, "browser", (struct kv[]){{"Unknown", 6}, {"MSIE", 4}}, 2);
    check(t, 0, "application",
          (struct kv[]){{"Desktop:Browser", 3},
                        {"Mobile:Unknown", 2},
                        {"Unknown:Unknown", 2},
                        {"Desktop:Update", 1},
                        {"Unknown:Application", 1},
                        {"Unknown:Browser", 1}},
          6);
    assert_int_equal(th_count_type(t, "tls_classification"), 3);
    assert_int_equal(th_metric(t, "tls_fields_malformed_total"), 1);
    assert_int_equal(th_metric(t, "tls_dictionary_keys"), 155);
    th_free(t);
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/s4f-test-tlsdict-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void rewrite(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

#define REAL_FLOW                                                                                  \
    "\"ipfix.TLSJA3\":\"0xcd08e31494f9531f560d64c695473da9\","                                     \
    "\"ipfix.TLS_JA4\":\"t13d1518h2_8daaf6152771_e5627efa2ab1\",\"ipfix.TLS_SNI\":\"chrek.stdout." \
    "cz\""

/* Values of a real ipfixprobe TLS record (testdata outputs/tls); JA4 before JA3 before
 * suites before SNI, each column from the first match that fills it; SIGHUP reloads. */
static void test_tls_classification_keys_and_reload(void **state)
{
    const char *v1 = "ja4:t13d1518h2_8daaf6152771_e5627efa2ab1;;;Browser;Chrome\n"
                     "ja3:CD08E31494F9531F560D64C695473DA9;Desktop;Windows;;Edge\n"
                     "sni:*.stdout.cz;Desktop;Linux;News;\n"
                     "0x1301,0x1302;Mobile;iOS;;Safari\n";
    char *path = write_file(v1);
    char yaml[256];
    snprintf(yaml, sizeof(yaml), "allowed_lateness: 0\ndictionary_file: %s\n", path);
    struct th *t = th_new(analysis("tls_classification"), yaml);
    int64_t off = 0;
    put(t, &off, "10.0.0.1", 1000, REAL_FLOW);
    put(t, &off, "10.0.0.1", 1001, "\"ipfix.TLS_SNI\":\"stdout.cz\""); /* not *.stdout.cz */
    put(t, &off, "10.0.0.1", 1002, "\"ipfix.TLS_SNI\":\"www.stdout.cz\"");
    put(t, &off, "10.0.0.2", 1003, SUITES("0x01130213"));
    /* A file with an error: reported with file and line, the loaded dictionary stays. */
    rewrite(path, "ja4:x;;;;\n# fine\nja3:00;a;b;c;d\n");
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *logf = open_memstream(&logbuf, &loglen);
    assert_non_null(logf);
    s4f_log_set_stream(logf);
    t->a->reload(t->inst); /* what the engine does between batches after a SIGHUP */
    put(t, &off, "10.0.0.1", 31000, REAL_FLOW);
    s4f_log_set_stream(NULL);
    fclose(logf);
    char want[128];
    snprintf(want, sizeof(want), "%s:3: a ja3: key is 32 hexadecimal digits", path);
    if (!strstr(logbuf, want))
        fail_msg("log has no '%s': %s", want, logbuf);
    free(logbuf);
    assert_int_equal(th_metric(t, "tls_dictionary_reload_errors_total"), 1);
    assert_int_equal(th_metric(t, "tls_dictionary_keys"), 4);
    /* A good file: used from the next flow on. */
    rewrite(path, "ja4:t13d1518h2_8daaf6152771_e5627efa2ab1;;;Browser;Brave\n");
    t->a->reload(t->inst); /* what the engine does between batches after a SIGHUP */
    put(t, &off, "10.0.0.1", 61000, REAL_FLOW);
    put(t, &off, "10.0.0.1", 91000, REAL_FLOW); /* closes the third window */
    th_tick(t);
    assert_int_equal(th_metric(t, "tls_dictionary_reloads_total"), 1);
    assert_int_equal(th_metric(t, "tls_dictionary_keys"), 1);

    check(t, 0, "os", (struct kv[]){{"Linux", 1}, {"Unknown", 1}, {"Windows", 1}, {"iOS", 1}}, 4);
    check(t, 0, "browser", (struct kv[]){{"Unknown", 2}, {"Chrome", 1}, {"Safari", 1}}, 3);
    /* sorted by value, then key */
    check(t, 0, "application",
          (struct kv[]){{"Desktop:Browser", 1},
                        {"Desktop:News", 1},
                        {"Mobile:Unknown", 1},
                        {"Unknown:Unknown", 1}},
          4);
    check(t, 30000, "browser", (struct kv[]){{"Chrome", 1}}, 1);
    check(t, 30000, "os", (struct kv[]){{"Windows", 1}}, 1);
    check(t, 60000, "browser", (struct kv[]){{"Brave", 1}}, 1);
    check(t, 60000, "os", (struct kv[]){{"Unknown", 1}}, 1);
    check(t, 60000, "application", (struct kv[]){{"Unknown:Browser", 1}}, 1);
    th_free(t);
    unlink(path);
}

static void test_tls_classification_bad_dictionary(void **state)
{
    char *path = write_file("0x0004;Desktop;Windows;Browser;MSIE\n0x0005;;;\n");
    char yaml[256];
    snprintf(yaml, sizeof(yaml), "dictionary_file: %s\n", path);
    const struct s4f_analysis *a = analysis("tls_classification");
    void *conf = calloc(1, a->conf_size);
    char err[512];
    struct s4f_conf_doc *doc = s4f_conf_load_string(yaml, strlen(yaml), "test", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(s4f_conf_apply(doc, doc->root, "test", a->opts, conf, err, sizeof(err)), 0);
    s4f_conf_doc_free(doc);
    struct s4f_metrics *m = s4f_metrics_new("t", 0);
    struct s4f_analysis_ctx ctx = {a->name, m, "analysis=\"tls_classification\""};
    err[0] = '\0';
    assert_null(a->init(conf, &ctx, err, sizeof(err)));
    char want[128];
    snprintf(want, sizeof(want), "%s:2: expected 5 ';'-separated columns", path);
    if (!strstr(err, want))
        fail_msg("'%s' lacks '%s'", err, want);
    s4f_metrics_free(m);
    s4f_conf_release(a->opts, conf);
    free(conf);
    unlink(path);
}

static void expect_error(const char *text, const char *want)
{
    char err[512] = "";
    struct s4f_tls_dict *d =
        s4f_tls_dict_parse("d.csv", text, strlen(text), NULL, err, sizeof(err));
    if (d || !strstr(err, want))
        fail_msg("'%s': got '%s', want '%s'", text, d ? "(accepted)" : err, want);
}

static void test_tls_dict_parser(void **state)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/workers/data/tls_classification_dictionary.csv",
             S4F_SOURCE_DIR);
    size_t dups = 0;
    char err[512];
    struct s4f_tls_dict *d = s4f_tls_dict_load(path, &dups, err, sizeof(err));
    if (!d)
        fail_msg("%s", err);
    /* 162 rows of the original (seven keys twice, one three times) and two server names. */
    assert_int_equal(dups, 9);
    assert_int_equal(s4f_tls_dict_size(d), 162 - 9 + 2);
    const uint16_t safari[] = {0x0004, 0x0005, 0x0008, 0x0009, 0x000a, 0x002f};
    const struct s4f_tls_class *c = s4f_tls_dict_suites(d, safari, 6);
    assert_non_null(c);
    assert_string_equal(c->device_type, "");
    assert_string_equal(c->application, "Browser");
    assert_string_equal(c->browser, "Safari");
    assert_null(s4f_tls_dict_suites(d, safari, 5));
    assert_non_null(s4f_tls_dict_sni(d, "a.b.windowsupdate.com", 21));
    assert_null(s4f_tls_dict_sni(d, "windowsupdate.com", 17));
    assert_null(s4f_tls_dict_sni(d, "xwindowsupdate.com", 18));
    s4f_tls_dict_free(d);

    /* Comments, blank lines, CRLF, a byte-order mark, spaces around columns. */
    const char *ok =
        "\xEF\xBB\xBF# c\r\n\r\n  \nja3:00112233445566778899aabbccddeeff ; D ;O;A;B\r\n";
    d = s4f_tls_dict_parse("d.csv", ok, strlen(ok), NULL, err, sizeof(err));
    assert_non_null(d);
    const uint8_t md5[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                             0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    c = s4f_tls_dict_ja3(d, md5);
    assert_non_null(c);
    assert_string_equal(c->device_type, "D");
    s4f_tls_dict_free(d);

    expect_error("# x\n0x0004;a;b;c\n", "d.csv:2: expected 5 ';'-separated columns");
    expect_error("0x0004;a;b;c;d;e\n", "d.csv:1: expected 5");
    expect_error("0x0004,;a;b;c;d\n", "d.csv:1: cipher suites are separated by ','");
    expect_error("0x004;a;b;c;d\n", "d.csv:1: a key is ja3:, ja4:, sni: or cipher suites");
    expect_error("0x0000;a;b;c;d\n", "d.csv:1: cipher suite 0x0000 never matches");
    expect_error("ja3:0011;a;b;c;d\n", "d.csv:1: a ja3: key is 32 hexadecimal digits");
    expect_error("ja4:a b;a;b;c;d\n", "d.csv:1: a ja4: key is");
    expect_error("sni:*.*.x;a;b;c;d\n", "d.csv:1: an sni: key is");
    expect_error(";a;b;c;d\n", "d.csv:1: empty key");
    expect_error("0x0004;a\x01;b;c;d\n", "d.csv:1: column 2 has control characters");
    expect_error("0x0004;a;\xc3\x28;c;d\n", "d.csv:1: column 3 has control characters");
    expect_error("0x0004;a;b;c;"
                 "01234567890123456789012345678901234567890123456789012345678901234\n",
                 "d.csv:1: column 5 is longer than 64 bytes");
    err[0] = '\0';
    assert_null(s4f_tls_dict_load("/nonexistent/dict.csv", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/dict.csv: No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_classification_exact),
        cmocka_unit_test(test_tls_classification_keys_and_reload),
        cmocka_unit_test(test_tls_classification_bad_dictionary),
        cmocka_unit_test(test_tls_dict_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
