/* The DNS analyses on crafted flows through the real window engine: exact documents for a
 * known mix of queries and answers (every stat type of dns_statistics, the top cut, the
 * filtered domains), hostile names not counted. */
#include "harness.h"
#include "registry.h"

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

static void put(struct th *t, int64_t *off, struct s4f_flow f)
{
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

static void resp(struct th *t, int64_t *off, const char *to, const char *name, uint8_t rcode,
                 int64_t rel)
{
    put(t, off, th_dnsflow("8.8.8.8", to, 53, 40000, name, true, rcode, 1, rel));
}

/* Checks a stat type's data_array: keys and values in order ("ip" too when given). */
struct kv {
    const char *key, *ip;
    int64_t value;
};
static void check(struct th *t, const char *stat, const struct kv *want, size_t n)
{
    json_t *d = th_doc(t, rid("dns_statistics", 0, 60000, stat));
    assert_non_null(d);
    assert_string_equal(th_str(d, "@stat_type"), stat);
    json_t *a = json_object_get(d, "data_array");
    assert_int_equal(json_array_size(a), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        assert_string_equal(th_str(e, "key"), want[i].key);
        assert_int_equal(th_int(e, "value"), want[i].value);
        if (want[i].ip)
            assert_string_equal(th_str(e, "ip"), want[i].ip);
        else
            assert_null(json_object_get(e, "ip"));
    }
}

static struct th *dns_mix(const char *extra)
{
    char path[] = "/tmp/s4f-test-filtered-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "# comment\n uribl \nspamhaus\n\n", 28), 28);
    close(fd);
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "allowed_lateness: 0\nlocal_networks: [10.0.0.0/8]\nfiltered_domains_file: %s\n%s",
             path, extra);
    struct th *t = th_new(analysis("dns_statistics"), yaml);
    unlink(path);
    int64_t off = 0;
    for (int i = 0; i < 3; i++)
        resp(t, &off, "10.0.0.1", "a.com", 0, 1000 + i);
    resp(t, &off, "10.0.0.2", "b.com", 0, 2000);
    resp(t, &off, "10.0.0.2", "nx.com", 3, 3000);
    resp(t, &off, "10.0.0.1", "nx.com", 3, 3001);
    resp(t, &off, "10.0.0.1", "x.spamhaus.org", 3, 3002);
    resp(t, &off, "10.0.0.1", "x.spamhaus.org", 3, 3003);
    resp(t, &off, "10.0.0.2", "r.com", 5, 4000);
    /* Answers to outside hosts count nowhere. */
    resp(t, &off, "198.51.100.9", "a.com", 0, 4500);
    put(t, &off, th_dnsflow("10.0.0.1", "8.8.8.8", 40000, 53, "a.com", false, 0, 1, 5000));
    put(t, &off, th_dnsflow("10.0.0.1", "8.8.8.8", 40001, 53, "a.com", false, 0, 1, 5001));
    put(t, &off, th_dnsflow("10.0.0.2", "10.0.0.53", 40002, 53, "c.com", false, 0, 28, 6000));
    /* Not DNS: ignored. */
    put(t, &off, th_mkflow("10.0.0.1", "8.8.8.8", 17, 53, 0, 1, 80, TH_T0 + 7000));
    /* A name the reader had to cut: counted as invalid, nowhere else. */
    struct s4f_flow h = th_dnsflow("8.8.8.8", "10.0.0.1", 53, 40000, "cut", true, 0, 1, 8000);
    h.dns.flags |= S4F_DNS_TRUNCATED;
    put(t, &off, h);
    /* The next window closes the first. */
    put(t, &off, th_dnsflow("10.0.0.1", "8.8.8.8", 40000, 53, "late.com", false, 0, 1, 61000));
    th_tick(t);
    return t;
}

static void test_dns_statistics_exact(void **state)
{
    struct th *t = dns_mix("");
    check(t, "queried_domain",
          (struct kv[]){{"a.com", NULL, 3}, {"nx.com", NULL, 2}, {"x.spamhaus.org", NULL, 2}}, 3);
    check(t, "nonexisting_domain", (struct kv[]){{"nx.com", NULL, 2}}, 1);
    check(t, "response_code",
          (struct kv[]){{"NXDomain", NULL, 4}, {"NoError", NULL, 4}, {"Refused", NULL, 1}}, 3);
    check(t, "record_type", (struct kv[]){{"A", NULL, 2}, {"AAAA", NULL, 1}}, 2);
    check(t, "queried_local", (struct kv[]){{"8.8.8.8", NULL, 8}}, 1);
    check(t, "external_dns", (struct kv[]){{"8.8.8.8", NULL, 2}}, 1);
    check(t, "queried_by_ip", (struct kv[]){{"a.com", "10.0.0.1", 2}, {"c.com", "10.0.0.2", 1}}, 2);
    assert_int_equal(th_count_type(t, "dns_statistics"), 7);
    assert_int_equal(th_metric(t, "dns_names_invalid_total"), 1);
    th_free(t);
}

static void test_dns_statistics_top(void **state)
{
    struct th *t = dns_mix("top: 1\n");
    check(t, "queried_domain", (struct kv[]){{"a.com", NULL, 3}}, 1);
    check(t, "queried_by_ip", (struct kv[]){{"a.com", "10.0.0.1", 2}}, 1);
    /* Not cut: */
    check(t, "response_code",
          (struct kv[]){{"NXDomain", NULL, 4}, {"NoError", NULL, 4}, {"Refused", NULL, 1}}, 3);
    th_free(t);
}

/* Long names (past the short-key slots) are counted like short ones; max_keys bounds both. */
static void test_dns_statistics_long_names_and_cap(void **state)
{
    struct th *t = th_new(analysis("dns_statistics"),
                          "allowed_lateness: 0\nlocal_networks: [10.0.0.0/8]\nmax_keys: 3\n");
    int64_t off = 0;
    char longname[200];
    memset(longname, 'l', sizeof(longname) - 5);
    strcpy(longname + sizeof(longname) - 5, ".com");
    resp(t, &off, "10.0.0.1", longname, 0, 1000);
    resp(t, &off, "10.0.0.1", longname, 0, 1001);
    resp(t, &off, "10.0.0.1", "a.com", 0, 1002);
    resp(t, &off, "10.0.0.1", "a.com", 0, 1003);
    /* queried_local 8.8.8.8 is the third key; these two are refused. */
    resp(t, &off, "10.0.0.1", "b.com", 0, 1004);
    resp(t, &off, "10.0.0.1", "c.com", 0, 1005);
    put(t, &off, th_dnsflow("10.0.0.1", "8.8.8.8", 40000, 53, "late.com", false, 0, 1, 61000));
    th_tick(t);
    check(t, "queried_domain", (struct kv[]){{"a.com", NULL, 2}, {longname, NULL, 2}}, 2);
    assert_int_equal(th_metric(t, "keys_dropped_total"), 2);
    th_free(t);
}

/* ---- reflect_ddos ------------------------------------------------------------------------- */

static struct s4f_flow udp(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                           uint64_t packets, uint64_t bytes, int64_t rel)
{
    struct s4f_flow f = th_mkflow(src, dst, 17, dport, 0, packets, bytes, TH_T0 + rel);
    f.sport = sport;
    return f;
}

static void test_reflect_ddos(void **state)
{
    struct th *t = th_new(analysis("reflect_ddos"),
                          "allowed_lateness: 0\ndns_servers: [10.0.0.53, 10.0.1.0/24]\n");
    int64_t off = 0;
    /* Victim 198.51.100.7: 100 bytes of queries, 11 answers of 100 bytes: reported. */
    put(t, &off, udp("198.51.100.7", "10.0.0.53", 40000, 53, 2, 100, 1000));
    for (int i = 0; i < 11; i++)
        put(t, &off, udp("10.0.0.53", "198.51.100.7", 53, 40000, 1, 100, 2000 + i));
    /* Ratio 3 exactly: not reported (strictly greater). */
    put(t, &off, udp("198.51.100.8", "10.0.0.53", 40000, 53, 1, 400, 1000));
    put(t, &off, udp("10.0.0.53", "198.51.100.8", 53, 40000, 20, 1200, 1000));
    /* 10 packets only: not reported. */
    put(t, &off, udp("10.0.0.53", "198.51.100.9", 53, 40000, 10, 5000, 1000));
    /* A biflow (query with its answers as reverse counters) to a server of the prefix:
     * reported; answers without any query (received 0) too. */
    struct s4f_flow b = udp("203.0.113.1", "10.0.1.7", 5353, 53, 1, 60, 3000);
    b.rev_packets = 30;
    b.rev_bytes = 30000;
    put(t, &off, b);
    put(t, &off, udp("10.0.1.7", "203.0.113.2", 53, 1234, 12, 900, 3000));
    /* Not a watched server, and TCP: ignored. */
    put(t, &off, udp("192.0.2.53", "203.0.113.3", 53, 1234, 50, 50000, 3000));
    struct s4f_flow tcp = udp("10.0.0.53", "203.0.113.4", 53, 1234, 50, 50000, 3000);
    tcp.proto = 6;
    put(t, &off, tcp);
    put(t, &off, udp("10.0.0.53", "203.0.113.5", 53, 1234, 1, 1, 21000)); /* closes the window */
    th_tick(t);
    json_t *d = th_doc(t, rid("detection.reflectdos", 0, 20000, "198.51.100.7|10.0.0.53"));
    assert_non_null(d);
    assert_string_equal(th_str(d, "@sub_type"), "DNS");
    assert_string_equal(th_str(d, "src_ip"), "198.51.100.7");
    assert_string_equal(th_str(d, "dns_ip"), "10.0.0.53");
    assert_int_equal(th_int(d, "data_received"), 100);
    assert_int_equal(th_int(d, "data_sent"), 1100);
    assert_int_equal(th_int(d, "outgoing_packets"), 11);
    assert_int_equal(th_int(d, "outgoing_connections"), 11);
    d = th_doc(t, rid("detection.reflectdos", 0, 20000, "203.0.113.1|10.0.1.7"));
    assert_non_null(d);
    assert_int_equal(th_int(d, "data_received"), 60);
    assert_int_equal(th_int(d, "data_sent"), 30000);
    assert_int_equal(th_int(d, "outgoing_packets"), 30);
    assert_int_equal(th_int(d, "outgoing_connections"), 1);
    d = th_doc(t, rid("detection.reflectdos", 0, 20000, "203.0.113.2|10.0.1.7"));
    assert_non_null(d);
    assert_int_equal(th_int(d, "data_received"), 0);
    assert_int_equal(th_count_type(t, "detection.reflectdos"), 3);
    th_free(t);
}

/* ---- dns_open_resolvers ------------------------------------------------------------------- */

static struct s4f_flow answer(const char *src, const char *dst, const char *name, uint16_t type,
                              const char *data, uint8_t rcode, int64_t rel)
{
    struct s4f_flow f = th_dnsflow(src, dst, 53, 40000, name, true, rcode, type, rel);
    f.dns.rdata_len = (uint16_t)strlen(data);
    memcpy(f.dns.rdata, data, f.dns.rdata_len + 1u);
    f.dns.flags |= S4F_DNS_HAS_RDATA;
    return f;
}

static void test_dns_open_resolvers(void **state)
{
    char path[] = "/tmp/s4f-test-white-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "google.com\n", 11), 11);
    close(fd);
    char yaml[300];
    snprintf(yaml, sizeof(yaml),
             "allowed_lateness: 0\nlocal_networks: [10.0.0.0/8]\nwhitelisted_networks: "
             "[10.9.0.0/16]\nwhitelisted_domains_file: %s\n",
             path);
    struct th *t = th_new(analysis("dns_open_resolvers"), yaml);
    unlink(path);
    int64_t off = 0;
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "evil.com", 1, "192.0.2.1", 0, 1000));
    put(t, &off, answer("10.0.0.53", "198.51.100.2", "evil.com", 1, "192.0.2.1", 0, 500));
    put(t, &off, answer("10.0.0.53", "198.51.100.2", "alias.com", 5, "target.com", 0, 1200));
    /* Not reported: whitelisted domain and subdomain, whitelisted resolver network, to a
     * local host, NXDOMAIN, MX, no data, a query, from outside. */
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "google.com", 1, "192.0.2.2", 0, 1000));
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "www.google.com", 1, "192.0.2.2", 0, 1000));
    put(t, &off, answer("10.9.0.53", "198.51.100.1", "evil.com", 1, "192.0.2.1", 0, 1000));
    put(t, &off, answer("10.0.0.53", "10.0.0.9", "evil.com", 1, "192.0.2.1", 0, 1000));
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "nx.com", 1, "192.0.2.1", 3, 1000));
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "mx.com", 15, "10 mx.com", 0, 1000));
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "empty.com", 1, "", 0, 1000));
    struct s4f_flow q = answer("10.0.0.53", "198.51.100.1", "q.com", 1, "192.0.2.1", 0, 1000);
    q.dns.flags &= (uint8_t)~S4F_DNS_RESPONSE;
    put(t, &off, q);
    put(t, &off, answer("8.8.8.8", "198.51.100.1", "evil.com", 1, "192.0.2.1", 0, 1000));
    /* google.com.evil.net is not under google.com (the original's regex said it was). */
    put(t, &off,
        answer("10.0.0.53", "198.51.100.1", "google.com.evil.net", 1, "192.0.2.3", 0, 1000));
    put(t, &off, answer("10.0.0.53", "198.51.100.1", "next.com", 1, "192.0.2.4", 0, 6000));
    th_tick(t);
    assert_int_equal(th_count_type(t, "open_dns_resolver"), 3);
    size_t seen = 0;
    for (size_t i = 0; i < t->ndocs; i++) {
        json_t *d = t->docs[i].doc;
        assert_string_equal(th_str(d, "resolver_ip"), "10.0.0.53");
        const char *name = th_str(d, "resolved_query");
        if (strcmp(name, "evil.com") == 0) {
            assert_string_equal(th_str(d, "resolved_data"), "192.0.2.1");
            assert_int_equal(th_int(d, "flows"), 2);
            assert_string_equal(th_str(d, "timestamp"), "2025-11-27T06:00:00.000Z");
            seen |= 1;
        } else if (strcmp(name, "alias.com") == 0) {
            assert_string_equal(th_str(d, "resolved_data"), "target.com");
            assert_int_equal(th_int(d, "flows"), 1);
            seen |= 2;
        } else {
            assert_string_equal(name, "google.com.evil.net");
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    th_free(t);
}

/* ---- dns_external_resolvers --------------------------------------------------------------- */

static void test_dns_external_resolvers(void **state)
{
    struct th *t =
        th_new(analysis("dns_external_resolvers"),
               "allowed_lateness: 0\nlocal_networks: [10.0.0.0/8]\nrepartition_topic: ''\n");
    int64_t off = 0;
    /* 10.0.0.1 asks 8.8.8.8 for a.com = 192.0.2.10 and connects twice within 5 s, once later. */
    struct s4f_flow a = answer("8.8.8.8", "10.0.0.1", "a.com", 1, "192.0.2.10", 0, 1000);
    a.dns.flags |= S4F_DNS_RDATA_ADDR;
    a.dns.rdata_addr = (struct s4f_addr){.b = {192, 0, 2, 10}, .family = 4};
    struct s4f_flow c1 = th_mkflow("10.0.0.1", "192.0.2.10", 6, 443, 0x02, 3, 180, TH_T0 + 2000);
    struct s4f_flow c2 = th_mkflow("10.0.0.1", "192.0.2.10", 6, 443, 0x02, 3, 180, TH_T0 + 5000);
    struct s4f_flow c3 = th_mkflow("10.0.0.1", "192.0.2.10", 6, 443, 0x02, 3, 180, TH_T0 + 30000);
    /* The flows may come first: the join waits for the window's end. */
    put(t, &off, c1);
    put(t, &off, a);
    put(t, &off, c2);
    put(t, &off, c3);
    /* An answer from a local resolver, and one without a following connection: nothing. */
    struct s4f_flow l = a;
    l.src = (struct s4f_addr){.b = {10, 0, 0, 53}, .family = 4};
    l.dst = (struct s4f_addr){.b = {10, 0, 0, 2}, .family = 4};
    put(t, &off, l);
    put(t, &off, th_mkflow("10.0.0.2", "192.0.2.10", 6, 443, 0x02, 3, 180, TH_T0 + 2000));
    struct s4f_flow a3 = a;
    a3.dst = (struct s4f_addr){.b = {10, 0, 0, 3}, .family = 4};
    put(t, &off, a3);
    put(t, &off, th_mkflow("10.0.0.1", "192.0.2.99", 6, 443, 0x02, 1, 1, TH_T0 + 361000));
    th_tick(t);
    assert_int_equal(th_count_type(t, "external_dns_resolver"), 1);
    json_t *d = th_doc(t, rid("external_dns_resolver", 0, 360000, "10.0.0.1|8.8.8.8"));
    assert_non_null(d);
    assert_string_equal(th_str(d, "src_ip"), "10.0.0.1");
    assert_string_equal(th_str(d, "resolver_ip"), "8.8.8.8");
    assert_int_equal(th_int(d, "flows"), 2);
    assert_int_equal(th_int(d, "flows_increment"), 2);
    th_free(t);
}

/* ---- biflows in protocols_statistics ------------------------------------------------------ */

static void test_protocols_statistics_biflow(void **state)
{
    struct th *t = th_new(analysis("protocols_statistics"), "allowed_lateness: 0\n");
    int64_t off = 0;
    struct s4f_flow b = udp("10.0.0.1", "8.8.8.8", 40000, 53, 1, 60, 1000);
    b.rev_packets = 1;
    b.rev_bytes = 200;
    put(t, &off, b);
    put(t, &off, udp("10.0.0.1", "8.8.8.8", 40001, 53, 1, 60, 1000)); /* no answer */
    put(t, &off, udp("10.0.0.1", "8.8.8.8", 40002, 53, 1, 60, 11000));
    th_tick(t);
    json_t *d = th_doc(t, rid("protocols_statistics", 0, 10000, "udp"));
    assert_non_null(d);
    assert_int_equal(th_int(d, "flows"), 3);
    assert_int_equal(th_int(d, "packets"), 3);
    assert_int_equal(th_int(d, "bytes"), 320);
    th_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_statistics_exact),
        cmocka_unit_test(test_dns_statistics_top),
        cmocka_unit_test(test_dns_statistics_long_names_and_cap),
        cmocka_unit_test(test_reflect_ddos),
        cmocka_unit_test(test_dns_open_resolvers),
        cmocka_unit_test(test_dns_external_resolvers),
        cmocka_unit_test(test_protocols_statistics_biflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
