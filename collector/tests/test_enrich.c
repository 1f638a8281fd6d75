/* Unit tests of the collector's GeoIP enrichment (collector/enrich.c): records decoded by the
 * real decoder, enriched from small MaxMind-format databases that the test writes itself with
 * tests/tools/make_mmdb.pl (Debian's libmaxmind-db-writer-perl), whose answers it knows. */
#include "collector.h"
#include "decode.h"
#include "msggen.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];
static char country_db[300], asn_db[300];

/* Writes a database from a JSON spec (see make_mmdb.pl) to out, by way of a file beside it that
 * is then renamed over it (the way operators must replace a database). */
static void make_db(const char *out, const char *spec)
{
    char sp[320], tmp[320], cmd[1200];
    const char *src = getenv("S4F_SOURCE_DIR");
    snprintf(sp, sizeof(sp), "%s.json", out);
    snprintf(tmp, sizeof(tmp), "%s.new", out);
    FILE *f = fopen(sp, "w");
    assert_non_null(f);
    fputs(spec, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "perl %s/tests/tools/make_mmdb.pl %s %s", src ? src : ".", sp, tmp);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rename(tmp, out), 0);
}

static const char country_v1[] =
    "{\"database_type\":\"GeoLite2-Country\",\"networks\":{"
    "\"192.0.2.0/24\":{\"country\":{\"iso_code\":\"CZ\",\"names\":{\"en\":\"Czechia\"}}},"
    "\"198.51.100.0/24\":{\"country\":{\"iso_code\":\"US\"}},"
    "\"198.51.100.128/26\":{\"country\":{\"iso_code\":\"AT\"}},"
    "\"2001:db8::/32\":{\"country\":{\"iso_code\":\"DE\"}}}}";
static const char country_v2[] = "{\"database_type\":\"GeoLite2-Country\",\"networks\":{"
                                 "\"192.0.2.0/24\":{\"country\":{\"iso_code\":\"SK\"}}}}";
static const char asn_v1[] =
    "{\"database_type\":\"GeoLite2-ASN\",\"networks\":{"
    "\"192.0.2.0/24\":{\"autonomous_system_number\":2852,"
    "\"autonomous_system_organization\":\"CESNET \\\"z.s.p.o.\\\"\"},"
    "\"198.51.100.0/25\":{\"autonomous_system_number\":64501,"
    "\"autonomous_system_organization\":"
    "\"\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001"
    "\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u"
    "0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u000"
    "1\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\"
    "u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\"},"
    "\"2001:db8::/32\":{\"autonomous_system_number\":4200000001,"
    "\"autonomous_system_organization\":\"Sp\\u00e4t GmbH\"}}}";

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/s4f-test-enrich-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(country_db, sizeof(country_db), "%s/country.mmdb", dir);
    snprintf(asn_db, sizeof(asn_db), "%s/asn.mmdb", dir);
    make_db(country_db, country_v1);
    make_db(asn_db, asn_v1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* What the enrichment handed on: the last record, parsed. */
struct sink {
    json_t *last;
    int n;
};

static void on_out(void *ctx, const struct s4f_flow_out *rec)
{
    struct sink *s = ctx;
    json_error_t err;
    json_decref(s->last);
    s->last = json_loadb(rec->json, rec->json_len, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(s->last);
    s->n++;
}

/* Decodes one IPFIX record src -> dst (both IPv4 or both IPv6) through the enrichment. */
static void flow(struct s4f_decoder *dec, struct collector_enrich *e, const char *src,
                 const char *dst)
{
    struct s4f_mg g;
    bool v6 = strchr(src, ':') != NULL;
    s4f_mg_ipfix(&g, 1700000000, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, 3);
    s4f_mg_field(&g, v6 ? 27 : 8, v6 ? 16 : 4, 0);
    s4f_mg_field(&g, v6 ? 28 : 12, v6 ? 16 : 4, 0);
    s4f_mg_field(&g, 4, 1, 0);
    s4f_mg_set(&g, 256);
    if (v6) {
        s4f_mg_ip6(&g, src);
        s4f_mg_ip6(&g, dst);
    } else {
        s4f_mg_ip4(&g, src);
        s4f_mg_ip4(&g, dst);
    }
    s4f_mg_u8(&g, 6);
    size_t len = s4f_mg_end(&g);
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(4739);
    inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
    s4f_decode_datagram(dec, &ss, g.buf, len, 1700000000000, collector_enrich_record, e);
}

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_int_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static struct collector_enrich *mk(struct sink *s, struct s4f_metrics *m, unsigned fields,
                                   const char *cdb, const char *adb)
{
    struct collector_enrich_opts o = {
        .country_db = cdb,
        .asn_db = adb,
        .fields = fields,
        .check_interval_ms = 100,
        .next = on_out,
        .next_ctx = s,
        .metrics = m,
    };
    struct collector_enrich *e = collector_enrich_new(&o);
    assert_non_null(e);
    return e;
}

static void test_known_answers(void **state)
{
    (void)state;
    struct sink s = {0};
    struct s4f_metrics *m = s4f_metrics_new("t", 100);
    struct s4f_decoder *dec = s4f_decoder_new(NULL);
    struct collector_enrich *e = mk(&s, m, 15, country_db, asn_db);
    assert_true(collector_enrich_active(e));

    flow(dec, e, "192.0.2.7", "198.51.100.9");
    assert_string_equal(str(s.last, "s4f.src_country"), "CZ");
    assert_string_equal(str(s.last, "s4f.dst_country"), "US");
    assert_int_equal(num(s.last, "s4f.src_as"), 2852);
    assert_string_equal(str(s.last, "s4f.src_as_org"), "CESNET \"z.s.p.o.\"");
    /* An organisation of control characters: escaped, cut to what a cache entry holds. */
    assert_int_equal(num(s.last, "s4f.dst_as"), 64501);
    const char *ctl = str(s.last, "s4f.dst_as_org");
    assert_non_null(ctl);
    assert_true(strlen(ctl) > 0 && strlen(ctl) < 30);
    for (const char *c = ctl; *c; c++)
        assert_int_equal(*c, 1);
    assert_string_equal(str(s.last, "ipfix.sourceIPv4Address"), "192.0.2.7");

    flow(dec, e, "2001:db8::1", "2001:db9::1");
    assert_string_equal(str(s.last, "s4f.src_country"), "DE");
    assert_int_equal(num(s.last, "s4f.src_as"), 4200000001LL);
    assert_string_equal(str(s.last, "s4f.src_as_org"), "Sp\xc3\xa4t GmbH");
    assert_null(json_object_get(s.last, "s4f.dst_country"));

    /* An address in neither database: the record as decoded (and again, from the cache). */
    for (int i = 0; i < 2; i++) {
        flow(dec, e, "203.0.113.1", "203.0.113.2");
        assert_null(json_object_get(s.last, "s4f.src_country"));
        assert_null(json_object_get(s.last, "s4f.src_as"));
    }
    /* Networks longer than a /24 inside one: each address gets its own network's answer,
     * whichever was looked up first (the /24 is not cached as a whole). */
    for (int i = 0; i < 2; i++) {
        flow(dec, e, "198.51.100.130", "198.51.100.20");
        assert_string_equal(str(s.last, "s4f.src_country"), "AT");
        assert_string_equal(str(s.last, "s4f.dst_country"), "US");
        flow(dec, e, "198.51.100.200", "198.51.100.129");
        assert_string_equal(str(s.last, "s4f.src_country"), "US");
        assert_string_equal(str(s.last, "s4f.dst_country"), "AT");
    }
    /* The cached answer equals the first one. */
    flow(dec, e, "192.0.2.8", "192.0.2.9");
    assert_string_equal(str(s.last, "s4f.src_country"), "CZ");
    assert_string_equal(str(s.last, "s4f.dst_country"), "CZ");
    assert_int_equal(num(s.last, "s4f.dst_as"), 2852);
    collector_enrich_free(e);

    /* Per field: only the destination's AS. */
    e = mk(&s, m, S4F_GEO_DST_AS, country_db, asn_db);
    flow(dec, e, "192.0.2.7", "192.0.2.8");
    assert_null(json_object_get(s.last, "s4f.src_country"));
    assert_null(json_object_get(s.last, "s4f.dst_country"));
    assert_null(json_object_get(s.last, "s4f.src_as"));
    assert_int_equal(num(s.last, "s4f.dst_as"), 2852);
    collector_enrich_free(e);

    /* No database configured: not active, records pass unchanged. */
    e = mk(&s, m, 15, "", NULL);
    assert_false(collector_enrich_active(e));
    collector_enrich_free(e);

    json_decref(s.last);
    s4f_decoder_free(dec);
    s4f_metrics_free(m);
}

/* A new file renamed over the database is taken while records flow; a file that is not a
 * database is refused and the one in use stays. */
static void test_reload(void **state)
{
    (void)state;
    struct sink s = {0};
    struct s4f_metrics *m = s4f_metrics_new("t", 100);
    struct s4f_decoder *dec = s4f_decoder_new(NULL);
    char path[320], bad[330];
    snprintf(path, sizeof(path), "%s/reload.mmdb", dir);
    snprintf(bad, sizeof(bad), "%s.bad", path);
    /* Missing at start: no fields until it appears. */
    struct collector_enrich *e = mk(&s, m, 15, path, NULL);
    flow(dec, e, "192.0.2.7", "192.0.2.8");
    assert_null(json_object_get(s.last, "s4f.src_country"));
    make_db(path, country_v1);
    int64_t deadline = s4f_mono_ms() + 20000;
    do {
        flow(dec, e, "192.0.2.7", "192.0.2.8");
        if (str(s.last, "s4f.src_country"))
            break;
        usleep(10000);
    } while (s4f_mono_ms() < deadline);
    assert_string_equal(str(s.last, "s4f.src_country"), "CZ");

    /* Garbage renamed over it: refused, CZ stays. */
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("not a database", f);
    fclose(f);
    assert_int_equal(rename(bad, path), 0);
    char *text = NULL;
    deadline = s4f_mono_ms() + 20000;
    do {
        size_t n;
        free(text);
        text = s4f_metrics_render(m, &n);
        if (strstr(text, "t_geoip_load_errors_total{database=\"country\"} 1"))
            break;
        usleep(10000);
    } while (s4f_mono_ms() < deadline);
    assert_non_null(strstr(text, "t_geoip_load_errors_total{database=\"country\"} 1"));
    free(text);
    flow(dec, e, "192.0.2.7", "192.0.2.8");
    assert_string_equal(str(s.last, "s4f.src_country"), "CZ");

    /* A good new version: SK. */
    make_db(path, country_v2);
    deadline = s4f_mono_ms() + 20000;
    do {
        flow(dec, e, "192.0.2.7", "192.0.2.8");
        if (strcmp(str(s.last, "s4f.src_country"), "SK") == 0)
            break;
        usleep(10000);
    } while (s4f_mono_ms() < deadline);
    assert_string_equal(str(s.last, "s4f.src_country"), "SK");

    /* Truncated in place (not renamed over): a map of the file itself would raise SIGBUS at
     * the next walk of its tree; the collector's private copy answers on, and the empty file
     * is refused. */
    f = fopen(path, "w"); /* now 0 bytes: every page of a map of it is past its end */
    assert_non_null(f);
    for (int i = 0; i < 50; i++) {
        char a[32]; /* a /24 never looked up: a walk of the tree, not the prefix cache */
        snprintf(a, sizeof(a), "203.0.%d.1", i);
        flow(dec, e, a, "192.0.2.8");
        assert_null(json_object_get(s.last, "s4f.src_country"));
        assert_string_equal(str(s.last, "s4f.dst_country"), "SK");
        usleep(2000);
    }
    fclose(f);
    text = NULL;
    deadline = s4f_mono_ms() + 20000;
    do {
        size_t n;
        free(text);
        text = s4f_metrics_render(m, &n);
        if (strstr(text, "t_geoip_load_errors_total{database=\"country\"} 2"))
            break;
        flow(dec, e, "192.0.2.7", "192.0.2.8");
        usleep(10000);
    } while (s4f_mono_ms() < deadline);
    assert_non_null(strstr(text, "t_geoip_load_errors_total{database=\"country\"} 2"));
    free(text);
    flow(dec, e, "192.0.2.7", "192.0.2.8");
    assert_string_equal(str(s.last, "s4f.src_country"), "SK");
    collector_enrich_free(e);
    json_decref(s.last);
    s4f_decoder_free(dec);
    s4f_metrics_free(m);
}

static void test_fields_option(void **state)
{
    (void)state;
    char *v[] = {"dst_as", "src_country"};
    struct s4f_strlist l = {2, v};
    unsigned f;
    char err[200];
    assert_int_equal(collector_enrich_parse_fields(&l, &f, err, sizeof(err)), 0);
    assert_int_equal(f, S4F_GEO_DST_AS | S4F_GEO_SRC_COUNTRY);
    char *w[] = {"src_city"};
    struct s4f_strlist l2 = {1, w};
    assert_int_equal(collector_enrich_parse_fields(&l2, &f, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "src_city"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_fields_option),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
