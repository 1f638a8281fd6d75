/* top_n_host_stats through the window engine on crafted flows: exact top lists per local
 * source host (ports, destinations, HTTP hosts; ties by key), a document for every host of
 * the window including one without HTTP flows (the original's inner join dropped it, and its
 * loop sent only the last host), sliding windows, the local-network filter, and lists longer
 * than top_n (ties, IPv6, names to escape). */
#include "harness.h"
#include "registry.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *rid(int64_t start_rel, const char *key)
{
    static char buf[8][300];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 300, "top_n_host_stats:%" PRId64 "+60000:p0:%s", TH_T0 + start_rel, key);
    return b;
}

static void put(struct th *t, int64_t *off, const char *src, const char *dst, uint8_t proto,
                uint16_t dport, const char *http, int64_t rel)
{
    struct s4f_flow f = th_mkflow(src, dst, proto, dport, 0x1b, 5, 900, TH_T0 + rel);
    if (http) {
        f.app.flags |= S4F_APP_HTTP_HOST;
        f.app.http_host_len = (uint16_t)strlen(http);
        memcpy(f.app.http_host, http, f.app.http_host_len + 1u);
    }
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

/* The stats as compact JSON with sorted keys. */
static char *stats(struct th *t, int64_t start_rel, const char *host)
{
    json_t *d = th_doc(t, rid(start_rel, host));
    if (!d)
        fail_msg("no document for %s in window %" PRId64, host, start_rel);
    assert_string_equal(th_str(d, "@type"), "top_n_host_stats");
    assert_string_equal(th_str(d, "src_ip"), host);
    return json_dumps(json_object_get(d, "stats"), JSON_SORT_KEYS | JSON_COMPACT);
}

static void expect(struct th *t, int64_t start_rel, const char *host, const char *want)
{
    char *got = stats(t, start_rel, host);
    if (strcmp(got, want) != 0)
        fail_msg("%s window %" PRId64 ":\n got %s\nwant %s", host, start_rel, got, want);
    free(got);
}

#define LONG_NAME "a-host-name-longer-than-forty-three-bytes.example.org"

static void traffic(struct th *t)
{
    int64_t off = 0;
    for (int i = 0; i < 3; i++)
        put(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, NULL, 1000 + i);
    put(t, &off, "10.0.0.1", "198.51.100.2", 6, 80, "www.example.org", 2000);
    put(t, &off, "10.0.0.1", "198.51.100.2", 6, 80, "www.example.org", 2001);
    put(t, &off, "10.0.0.1", "198.51.100.2", 6, 80, "cdn.example.org", 2002);
    put(t, &off, "10.0.0.1", "198.51.100.3", 17, 53, NULL, 3000);
    put(t, &off, "10.0.0.1", "198.51.100.3", 17, 53, NULL, 3001);
    put(t, &off, "10.0.0.1", "198.51.100.4", 1, 0, NULL, 4000);  /* no port */
    put(t, &off, "10.0.0.2", "198.51.100.1", 6, 22, NULL, 5000); /* no HTTP at all */
    /* A name longer than the short keys hold, tied with a short one: shorter first. */
    for (int i = 0; i < 2; i++) {
        put(t, &off, "10.0.0.4", "198.51.100.5", 6, 80, LONG_NAME, 5500 + i);
        put(t, &off, "10.0.0.4", "198.51.100.5", 6, 80, "b.example", 5600 + i);
    }
    put(t, &off, "198.51.100.9", "10.0.0.1", 6, 443, NULL, 6000);  /* not a local source */
    put(t, &off, "10.0.0.3", "198.51.100.1", 6, 443, NULL, 61000); /* closes [0, 60 s) */
    th_tick(t);
}

#define HOST_A                                                                                     \
    "{\"top_n_dst_hosts\":{\"0\":{\"dst_host\":\"198.51.100.1\",\"flows\":3},"                     \
    "\"1\":{\"dst_host\":\"198.51.100.2\",\"flows\":3}},"                                          \
    "\"top_n_dst_ports\":{\"0\":{\"flows\":3,\"port\":80},\"1\":{\"flows\":3,\"port\":443}},"      \
    "\"top_n_http_dst\":{\"0\":{\"flows\":2,\"http_host\":\"www.example.org\"},"                   \
    "\"1\":{\"flows\":1,\"http_host\":\"cdn.example.org\"}}}"
#define HOST_B                                                                                     \
    "{\"top_n_dst_hosts\":{\"0\":{\"dst_host\":\"198.51.100.1\",\"flows\":1}},"                    \
    "\"top_n_dst_ports\":{\"0\":{\"flows\":1,\"port\":22}},\"top_n_http_dst\":{}}"

static void test_top_n_host_stats_exact(void **state)
{
    struct th *t = th_new(s4f_analysis_find("top_n_host_stats"),
                          "allowed_lateness: 0\nlocal_networks: [10.0.0.0/8]\ntop_n: 2\n");
    traffic(t);
    /* Sliding by 30 s: both windows holding the flows, every local host in each. */
    expect(t, -30000, "10.0.0.1", HOST_A);
    expect(t, 0, "10.0.0.1", HOST_A);
    expect(t, -30000, "10.0.0.2", HOST_B);
    expect(t, 0, "10.0.0.2", HOST_B);
    assert_null(th_doc(t, rid(0, "198.51.100.9")));
    /* [30 s, 90 s) and later are still open. */
    expect(t, 0, "10.0.0.4",
           "{\"top_n_dst_hosts\":{\"0\":{\"dst_host\":\"198.51.100.5\",\"flows\":4}},"
           "\"top_n_dst_ports\":{\"0\":{\"flows\":4,\"port\":80}},"
           "\"top_n_http_dst\":{\"0\":{\"flows\":2,\"http_host\":\"b.example\"},"
           "\"1\":{\"flows\":2,\"http_host\":\"" LONG_NAME "\"}}}");
    assert_int_equal(th_count_type(t, "top_n_host_stats"), 6);
    th_free(t);
}

static void test_top_n_host_stats_every_source(void **state)
{
    /* local_networks: [] profiles every source; top_n 1 keeps the first of each list. */
    struct th *t = th_new(s4f_analysis_find("top_n_host_stats"),
                          "allowed_lateness: 0\nlocal_networks: []\ntop_n: 1\n");
    traffic(t);
    expect(t, 0, "198.51.100.9",
           "{\"top_n_dst_hosts\":{\"0\":{\"dst_host\":\"10.0.0.1\",\"flows\":1}},"
           "\"top_n_dst_ports\":{\"0\":{\"flows\":1,\"port\":443}},\"top_n_http_dst\":{}}");
    expect(t, 0, "10.0.0.1",
           "{\"top_n_dst_hosts\":{\"0\":{\"dst_host\":\"198.51.100.1\",\"flows\":3}},"
           "\"top_n_dst_ports\":{\"0\":{\"flows\":3,\"port\":80}},"
           "\"top_n_http_dst\":{\"0\":{\"flows\":2,\"http_host\":\"www.example.org\"}}}");
    assert_int_equal(th_count_type(t, "top_n_host_stats"), 8);
    th_free(t);
}

/* Flows of one port (or destination) for port p: 1 to 5, many ties. */
static int flows_of(int p)
{
    return (p * 7) % 5 + 1;
}

/* Longer lists than top_n (the window close keeps each host's best in a bounded heap):
 * 120 ports and 70 IPv6 destinations with tied counts, ranked by count, then port or address
 * bytes; HTTP host names that need escaping at every place of an 8-byte step. */
static void test_top_n_host_stats_long_lists(void **state)
{
    struct th *t = th_new(s4f_analysis_find("top_n_host_stats"),
                          "allowed_lateness: 0\nlocal_networks: [10.0.0.0/8]\ntop_n: 50\n");
    int64_t off = 0;
    for (int p = 120; p >= 1; p--)
        for (int i = 0; i < flows_of(p); i++)
            put(t, &off, "10.0.0.7", "198.51.100.1", 6, (uint16_t)p, NULL, 1000 + p);
    for (int d = 1; d <= 70; d++)
        for (int i = 0; i < flows_of(d); i++) {
            char dst[64];
            snprintf(dst, sizeof(dst), "2001:db8::%x", d * 0x101);
            put(t, &off, "10.0.0.8", dst, 58, 0, NULL, 2000 + d);
        }
    char names[12][64];
    for (int k = 0; k < 12; k++) {
        /* The character to escape at place k of the name, after a run of k letters. */
        static const char esc[] = {'"', '\\', '\x01', '\x1f'};
        snprintf(names[k], sizeof(names[k]), "%.*s%cx.example.org", k, "abcdefghijklmnop",
                 esc[k % 4]);
        put(t, &off, "10.0.0.9", "198.51.100.2", 6, 80, names[k], 3000 + k);
    }
    put(t, &off, "10.0.0.3", "198.51.100.1", 6, 443, NULL, 61000); /* closes [0, 60 s) */
    th_tick(t);

    json_t *d = th_doc(t, rid(0, "10.0.0.7"));
    assert_non_null(d);
    json_t *ports = json_object_get(json_object_get(d, "stats"), "top_n_dst_ports");
    assert_int_equal(json_object_size(ports), 50);
    int r = 0;
    for (int c = 5; c >= 1; c--)
        for (int p = 1; p <= 120 && r < 50; p++) {
            if (flows_of(p) != c)
                continue;
            char rank[16];
            snprintf(rank, sizeof(rank), "%d", r++);
            json_t *e = json_object_get(ports, rank);
            assert_int_equal(json_integer_value(json_object_get(e, "port")), p);
            assert_int_equal(json_integer_value(json_object_get(e, "flows")), c);
        }
    d = th_doc(t, rid(0, "10.0.0.8"));
    assert_non_null(d);
    json_t *dsts = json_object_get(json_object_get(d, "stats"), "top_n_dst_hosts");
    assert_int_equal(json_object_size(dsts), 50);
    assert_int_equal(
        json_object_size(json_object_get(json_object_get(d, "stats"), "top_n_dst_ports")), 0);
    r = 0;
    for (int c = 5; c >= 1; c--)
        for (int x = 1; x <= 70 && r < 50; x++) {
            if (flows_of(x) != c)
                continue;
            char rank[16], want[64];
            snprintf(rank, sizeof(rank), "%d", r++);
            snprintf(want, sizeof(want), "2001:db8::%x", x * 0x101);
            json_t *e = json_object_get(dsts, rank);
            assert_string_equal(json_string_value(json_object_get(e, "dst_host")), want);
            assert_int_equal(json_integer_value(json_object_get(e, "flows")), c);
        }
    d = th_doc(t, rid(0, "10.0.0.9"));
    assert_non_null(d);
    json_t *http = json_object_get(json_object_get(d, "stats"), "top_n_http_dst");
    assert_int_equal(json_object_size(http), 12);
    /* One flow each: shorter names first, so in the order they were made. */
    for (int k = 0; k < 12; k++) {
        char rank[16];
        snprintf(rank, sizeof(rank), "%d", k);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(http, rank), "http_host")), names[k]);
    }
    th_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_n_host_stats_exact),
        cmocka_unit_test(test_top_n_host_stats_every_source),
        cmocka_unit_test(test_top_n_host_stats_long_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
