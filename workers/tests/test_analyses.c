/* The three analyses on crafted flows, through the real window engine: exact documents for a
 * known protocol mix, known scanners (and near misses), known hosts, the hourly profile, and
 * graceful degradation at max_keys. */
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

static const struct s4f_analysis *analysis(const char *name)
{
    const struct s4f_analysis *a = s4f_analysis_find(name);
    assert_non_null(a);
    return a;
}

static const char *rid(const char *type, int64_t start_rel, int64_t len, const char *key)
{
    static char buf[8][200];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 200, "%s:%" PRId64 "+%" PRId64 ":p0:%s", type, TH_T0 + start_rel, len, key);
    return b;
}

static void flow(struct th *t, int64_t *off, const char *src, const char *dst, uint8_t proto,
                 uint16_t dport, uint16_t flags, uint64_t packets, uint64_t bytes, int64_t rel)
{
    struct s4f_flow f = th_mkflow(src, dst, proto, dport, flags, packets, bytes, TH_T0 + rel);
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

/* ---- protocols_statistics ------------------------------------------------------------------ */

static void test_protocols_statistics_mix(void **state)
{
    struct th *t = th_new(analysis("protocols_statistics"), "allowed_lateness: 0\n");
    int64_t off = 0;
    for (int i = 1; i <= 3; i++)
        flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x1b, i, i * 100, i * 1000);
    flow(t, &off, "10.0.0.2", "198.51.100.1", 17, 53, 0, 1, 80, 2000);
    flow(t, &off, "10.0.0.2", "198.51.100.1", 17, 53, 0, 3, 300, 9999);
    flow(t, &off, "10.0.0.3", "198.51.100.1", 1, 0, 0, 2, 168, 4000);
    flow(t, &off, "fd00::1", "2001:db8::1", 58, 0, 0, 1, 64, 5000);
    flow(t, &off, "10.0.0.4", "198.51.100.1", 47, 0, 0, 7, 7000, 6000);
    /* The next window: tcp only, so no row for the others. */
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 80, 0x02, 1, 40, 10000);
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 80, 0x02, 1, 40, 30000);
    th_tick(t);
    static const struct {
        const char *proto;
        int64_t flows, packets, bytes;
    } want[] = {
        {"tcp", 3, 6, 600},   {"udp", 2, 4, 380},    {"icmp", 1, 2, 168},
        {"icmpv6", 1, 1, 64}, {"other", 1, 7, 7000},
    };
    for (size_t i = 0; i < S4F_ARRAY_SIZE(want); i++) {
        json_t *d = th_doc(t, rid("protocols_statistics", 0, 10000, want[i].proto));
        assert_non_null(d);
        assert_string_equal(th_str(d, "protocol"), want[i].proto);
        assert_int_equal(th_int(d, "flows"), want[i].flows);
        assert_int_equal(th_int(d, "packets"), want[i].packets);
        assert_int_equal(th_int(d, "bytes"), want[i].bytes);
    }
    json_t *d = th_doc(t, rid("protocols_statistics", 10000, 10000, "tcp"));
    assert_int_equal(th_int(d, "flows"), 1);
    assert_null(th_doc(t, rid("protocols_statistics", 10000, 10000, "udp")));
    assert_int_equal(th_count_type(t, "protocols_statistics"), 6);
    th_free(t);
}

/* ---- ports_scan --------------------------------------------------------------------------- */

static void test_ports_scan_known_scanners(void **state)
{
    struct th *t = th_new(analysis("ports_scan"), "allowed_lateness: 0\n");
    int64_t off = 0;
    char dst[32];
    /* Horizontal: 20 targets on port 22, one probed twice: reported, 21 probes. */
    for (int j = 0; j < 20; j++) {
        snprintf(dst, sizeof(dst), "203.0.113.%d", j + 1);
        flow(t, &off, "10.9.9.9", dst, 6, 22, 0x02, 1, 40, 1000 + j * 1000);
    }
    flow(t, &off, "10.9.9.9", "203.0.113.1", 6, 22, 0x02, 1, 40, 30000);
    /* SYN with ECE/CWR set (ECN setup) still is a bare probe. */
    flow(t, &off, "10.9.9.9", "203.0.113.99", 6, 22, 0xc2, 1, 40, 31000);
    /* Vertical: 25 ports of one host. */
    for (int j = 0; j < 25; j++)
        flow(t, &off, "10.8.8.8", "192.168.1.1", 6, (uint16_t)(1000 + j), 0x02, 1, 40,
             2000 + j * 1000);
    /* Near misses: 19 targets; SYN+ACK answers; UDP; a SYN+RST. */
    for (int j = 0; j < 40; j++) {
        snprintf(dst, sizeof(dst), "203.0.113.%d", j + 1);
        if (j < 19)
            flow(t, &off, "10.7.7.7", dst, 6, 80, 0x02, 1, 40, 3000 + j * 500);
        flow(t, &off, "10.6.6.6", dst, 6, 80, 0x12, 1, 40, 3000 + j * 500);
        flow(t, &off, "10.5.5.5", dst, 17, 80, 0, 1, 40, 3000 + j * 500);
        flow(t, &off, "10.4.4.4", dst, 6, 80, 0x06, 1, 40, 3000 + j * 500);
    }
    flow(t, &off, "10.0.0.1", "10.0.0.2", 6, 80, 0x10, 1, 40, 200000);
    th_tick(t);

    json_t *h = th_doc(t, rid("portscan_horizontal", 0, 60000, "10.9.9.9|22"));
    assert_non_null(h);
    assert_string_equal(th_str(h, "src_ip"), "10.9.9.9");
    assert_int_equal(th_int(h, "dst_port"), 22);
    assert_int_equal(th_int(h, "flows"), 22);
    assert_int_equal(th_int(h, "targets_total"), 21);
    assert_int_equal(th_int(h, "flows_increment"), 22); /* tumbling: the whole window */
    assert_int_equal(th_int(h, "duration_in_milliseconds"), 31000 - 500);
    assert_string_equal(th_str(h, "timestamp"), "2025-11-27T06:00:31.000Z");

    json_t *v = th_doc(t, rid("portscan_vertical", 0, 60000, "10.8.8.8|192.168.1.1"));
    assert_non_null(v);
    assert_string_equal(th_str(v, "dst_ip"), "192.168.1.1");
    assert_int_equal(th_int(v, "flows"), 25);
    assert_int_equal(th_int(v, "targets_total"), 25);
    assert_null(json_object_get(v, "dst_port"));

    /* Exactly these two, each once. */
    assert_int_equal(th_count_type(t, "portscan_horizontal"), 1);
    assert_int_equal(th_count_type(t, "portscan_vertical"), 1);
    assert_int_equal(t->ndocs, 2);
    th_free(t);
}

/* A scan's result names the scanner's (and, vertical, the target's) country and AS as the
 * collector attached them to the flows. */
static void test_ports_scan_geo(void **state)
{
    (void)state;
    struct th *t = th_new(analysis("ports_scan"), "allowed_lateness: 0\nthreshold: 3\n");
    int64_t off = 0;
    for (int j = 0; j < 3; j++) {
        char dst[32];
        snprintf(dst, sizeof(dst), "203.0.113.%d", j + 1);
        struct s4f_flow f = th_mkflow("192.0.2.7", dst, 6, 22, 0x02, 1, 40, TH_T0 + 1000 + j);
        strcpy(f.src_geo.country, "CZ");
        f.src_geo.asn = 2852;
        strcpy(f.src_as_org, "CESNET");
        f.src_geo.org_len = 6;
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
        f = th_mkflow("192.0.2.8", "198.51.100.1", 6, (uint16_t)(80 + j), 0x02, 1, 40,
                      TH_T0 + 2000 + j);
        strcpy(f.dst_geo.country, "US");
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
    }
    flow(t, &off, "10.0.0.1", "10.0.0.2", 6, 80, 0x10, 1, 40, 200000);
    th_tick(t);
    json_t *h = th_doc(t, rid("portscan_horizontal", 0, 60000, "192.0.2.7|22"));
    assert_non_null(h);
    assert_string_equal(th_str(h, "src_country"), "CZ");
    assert_int_equal(th_int(h, "src_as"), 2852);
    assert_string_equal(th_str(h, "src_as_org"), "CESNET");
    json_t *v = th_doc(t, rid("portscan_vertical", 0, 60000, "192.0.2.8|198.51.100.1"));
    assert_non_null(v);
    assert_null(json_object_get(v, "src_country"));
    assert_null(json_object_get(v, "src_as"));
    assert_string_equal(th_str(v, "dst_country"), "US");
    assert_null(json_object_get(v, "dst_as"));
    th_free(t);
}

static void test_ports_scan_sliding_increment(void **state)
{
    /* 60 s windows sliding by 20 s: flows_increment counts the last slide only. */
    struct th *t =
        th_new(analysis("ports_scan"), "slide: 20s\nthreshold: 5\nallowed_lateness: 0\n");
    int64_t off = 0;
    char dst[32];
    for (int j = 0; j < 8; j++) {
        snprintf(dst, sizeof(dst), "203.0.113.%d", j + 1);
        flow(t, &off, "10.9.9.9", dst, 6, 22, 0x02, 1, 40, j < 5 ? 1000 + j : 45000 + j);
    }
    flow(t, &off, "10.0.0.1", "10.0.0.2", 6, 80, 0x10, 1, 40, 200000);
    th_tick(t);
    json_t *h = th_doc(t, rid("portscan_horizontal", 0, 60000, "10.9.9.9|22"));
    assert_non_null(h);
    assert_int_equal(th_int(h, "flows"), 8);
    assert_int_equal(th_int(h, "flows_increment"), 3);
    /* The window starting at 20 s holds the last 3 probes only: below the threshold. */
    assert_null(th_doc(t, rid("portscan_horizontal", 20000, 60000, "10.9.9.9|22")));
    th_free(t);
}

static void test_ports_scan_max_keys(void **state)
{
    struct th *t = th_new(analysis("ports_scan"), "max_keys: 2\nthreshold: 2\n");
    int64_t off = 0;
    /* First flow: two keys (horizontal and vertical); the rest are refused and counted. */
    flow(t, &off, "10.9.9.9", "203.0.113.1", 6, 22, 0x02, 1, 40, 1000);
    flow(t, &off, "10.9.9.9", "203.0.113.2", 6, 22, 0x02, 1, 40, 2000);
    flow(t, &off, "10.8.8.8", "203.0.113.2", 6, 22, 0x02, 1, 40, 3000);
    assert_int_equal(th_metric(t, "keys_dropped_total"), 3);
    flow(t, &off, "10.0.0.1", "10.0.0.2", 6, 80, 0x10, 1, 40, 200000);
    th_tick(t);
    /* The tracked key keeps counting. */
    json_t *h = th_doc(t, rid("portscan_horizontal", 0, 60000, "10.9.9.9|22"));
    assert_non_null(h);
    assert_int_equal(th_int(h, "targets_total"), 2);
    th_free(t);
}

/* ---- host_stats --------------------------------------------------------------------------- */

static json_t *member(json_t *arr, size_t i)
{
    json_t *x = json_array_get(arr, i);
    assert_non_null(x);
    return x;
}

static void test_host_stats_known_host(void **state)
{
    struct th *t = th_new(analysis("host_stats"),
                          "local_networks: [10.0.0.0/8]\ntop_n: 3\nallowed_lateness: 0\n");
    int64_t off = 0;
    for (int i = 0; i < 3; i++)
        flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x12, 2, 100, 1000 + i);
    flow(t, &off, "10.0.0.1", "198.51.100.2", 17, 53, 0, 1, 80, 2000);
    flow(t, &off, "198.51.100.3", "10.0.0.1", 6, 22, 0x1b, 10, 1000, 3000);
    flow(t, &off, "198.51.100.3", "10.0.0.1", 6, 22, 0x1b, 10, 1000, 3001);
    flow(t, &off, "10.0.0.1", "10.0.0.2", 6, 80, 0x02, 1, 60, 4000);
    flow(t, &off, "198.51.100.4", "198.51.100.5", 6, 80, 0x02, 1, 60, 4000); /* not local */
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x02, 1, 60, 200000);
    th_tick(t);
    assert_int_equal(th_count_type(t, "host_stats"), 2);

    json_t *d = th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1"));
    assert_non_null(d);
    assert_string_equal(th_str(d, "host"), "10.0.0.1");
    assert_int_equal(th_int(d, "flows_out"), 5);
    assert_int_equal(th_int(d, "flows_in"), 2);
    assert_int_equal(th_int(d, "packets_out"), 8);
    assert_int_equal(th_int(d, "packets_in"), 20);
    assert_int_equal(th_int(d, "bytes_out"), 440);
    assert_int_equal(th_int(d, "bytes_in"), 2000);
    assert_int_equal(th_int(d, "peers_distinct"), 4);
    assert_int_equal(th_int(d, "dst_ports_distinct"), 4);
    assert_int_equal(th_int(d, "avg_flow_duration_ms"), 500);
    json_t *fl = json_object_get(d, "tcp_flags");
    assert_int_equal(th_int(fl, "FIN"), 2);
    assert_int_equal(th_int(fl, "SYN"), 6);
    assert_int_equal(th_int(fl, "RST"), 0);
    assert_int_equal(th_int(fl, "PSH"), 2);
    assert_int_equal(th_int(fl, "ACK"), 5);
    assert_int_equal(th_int(fl, "URG"), 0);
    assert_int_equal(th_int(fl, "ECE"), 0);
    assert_int_equal(th_int(fl, "CWR"), 0);
    /* Top 3 by flows, ties in port / address order. */
    json_t *tp = json_object_get(d, "top_ports");
    assert_int_equal(json_array_size(tp), 3);
    assert_int_equal(th_int(member(tp, 0), "port"), 443);
    assert_int_equal(th_int(member(tp, 0), "flows"), 3);
    assert_int_equal(th_int(member(tp, 1), "port"), 22);
    assert_int_equal(th_int(member(tp, 1), "flows"), 2);
    assert_int_equal(th_int(member(tp, 2), "port"), 53);
    json_t *pe = json_object_get(d, "top_peers");
    assert_int_equal(json_array_size(pe), 3);
    assert_string_equal(th_str(member(pe, 0), "ip"), "198.51.100.1");
    assert_int_equal(th_int(member(pe, 0), "flows"), 3);
    assert_string_equal(th_str(member(pe, 1), "ip"), "198.51.100.3");
    assert_string_equal(th_str(member(pe, 2), "ip"), "10.0.0.2");

    json_t *o = th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2"));
    assert_non_null(o);
    assert_int_equal(th_int(o, "flows_in"), 1);
    assert_int_equal(th_int(o, "flows_out"), 0);
    assert_int_equal(th_int(o, "peers_distinct"), 1);
    th_free(t);
}

static void test_host_stats_temporal_profile(void **state)
{
    struct th *t = th_new(analysis("host_stats"),
                          "local_networks: [10.0.0.0/8]\ntop_n: 0\nallowed_lateness: 10s\n");
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 2, 100, 1000);
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 3, 200, 3599000);
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 4, 400, 3601000);
    /* Past the end of the hour's last window plus lateness (10 s): final. */
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 3600000 + 60000 + 10000);
    th_tick(t);
    const char *id = rid("host_stats_temporal_profile", 3600000 - 86400000, 86400000, "10.0.0.1");
    json_t *d = th_doc(t, id);
    assert_non_null(d);
    assert_string_equal(th_str(d, "window_end"), "2025-11-27T07:00:00.000Z");
    json_t *hours = json_object_get(d, "hours");
    assert_int_equal(json_array_size(hours), 1);
    assert_string_equal(th_str(member(hours, 0), "hour_start"), "2025-11-27T06:00:00.000Z");
    assert_int_equal(th_int(member(hours, 0), "flows"), 2);
    assert_int_equal(th_int(member(hours, 0), "packets"), 5);
    assert_int_equal(th_int(member(hours, 0), "bytes"), 300);
    assert_int_equal(th_count_type(t, "host_stats_temporal_profile"), 1);
    th_free(t);
}

/* The profile outlives a restart: a new instance restored from the changelog the first one
 * wrote continues it, and a window replayed after the restart (already in the restored
 * profile) is not counted twice. Hostile changelog records are refused. */
static void test_host_stats_profile_restored(void **state)
{
    const char *yaml = "local_networks: [10.0.0.0/8]\ntop_n: 0\nallowed_lateness: 10s\n";
    struct th *t = th_new(analysis("host_stats"), yaml);
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 2, 100, 1000);
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 3, 200, 3599000);
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 3600000 + 10000 + 1);
    th_tick(t);
    th_ack_all(t, true);
    assert_true(t->nrecs >= 2); /* one per window the host was in */

    struct th *u = th_new(analysis("host_stats"), yaml);
    assert_int_equal(th_restore(u, t), 0);
    off = 0;
    /* Replayed: the window ending at 06:00 + 1 h is in the restored profile already. */
    flow(u, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 3, 200, 3599000);
    flow(u, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 4, 400, 3601000);
    /* A window ending at 08:00 (profiles are emitted when one becomes final), then time. */
    flow(u, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 7199000);
    flow(u, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 7200000 + 60000 + 10000);
    th_tick(u);
    json_t *d =
        th_doc(u, rid("host_stats_temporal_profile", 7200000 - 86400000, 86400000, "10.0.0.1"));
    assert_non_null(d);
    json_t *hours = json_object_get(d, "hours");
    assert_int_equal(json_array_size(hours), 2);
    assert_string_equal(th_str(member(hours, 0), "hour_start"), "2025-11-27T06:00:00.000Z");
    assert_int_equal(th_int(member(hours, 0), "flows"), 2);
    assert_int_equal(th_int(member(hours, 0), "packets"), 5);
    assert_int_equal(th_int(member(hours, 1), "flows"), 1);
    assert_int_equal(th_int(member(hours, 1), "bytes"), 400);

    /* Hostile records: wrong lengths, magic, family, misplaced slot: all refused. */
    struct th *v = th_new(analysis("host_stats"), yaml);
    void *ps = s4f_wengine_pstate(v->we, 0);
    const struct th_rec *r = &t->recs[0];
    uint8_t val[2048], key[32];
    assert_true(r->vlen <= sizeof(val) && r->klen <= sizeof(key));
    assert_true(v->a->restore(v->inst, ps, r->key, r->klen, r->val, r->vlen));
    assert_false(v->a->restore(v->inst, ps, r->key, r->klen - 1, r->val, r->vlen));
    assert_false(v->a->restore(v->inst, ps, r->key, r->klen, r->val, r->vlen - 1));
    memcpy(val, r->val, r->vlen);
    val[0] = 'X';
    assert_false(v->a->restore(v->inst, ps, r->key, r->klen, val, r->vlen));
    memcpy(val, r->val, r->vlen);
    val[r->vlen] = 0; /* a second hour, a step of 0 after the first: not ascending */
    val[r->vlen + 1] = val[r->vlen + 2] = val[r->vlen + 3] = 1;
    assert_false(v->a->restore(v->inst, ps, r->key, r->klen, val, r->vlen + 4));
    val[r->vlen] = 1; /* the hour after: fine */
    assert_true(v->a->restore(v->inst, ps, r->key, r->klen, val, r->vlen + 4));
    memcpy(key, r->key, r->klen);
    key[16] = 5; /* family */
    assert_false(v->a->restore(v->inst, ps, key, r->klen, r->val, r->vlen));
    memcpy(key, r->key, r->klen);
    key[9] = 1; /* an IPv4 host with bytes beyond its four */
    assert_false(v->a->restore(v->inst, ps, key, r->klen, r->val, r->vlen));
    th_free(v);
    th_free(u);
    th_free(t);
}

/* Records of the first changelog format (version 1: 24 fixed hourly slots of 32 bytes, 784
 * bytes) are still read: a worker upgraded over an old changelog continues its profiles.
 * A slot not at the index of its hour is refused, as before. */
static void test_host_stats_profile_v1_restored(void **state)
{
    const char *yaml = "local_networks: [10.0.0.0/8]\ntop_n: 0\nallowed_lateness: 10s\n";
    struct th *u = th_new(analysis("host_stats"), yaml);
    void *ps = s4f_wengine_pstate(u->we, 0);
    uint8_t key[17] = {10, 0, 0, 1}, rec[784] = {'S', '4', 'P', 1};
    key[16] = 4;
    s4f_put_le(rec + 8, (uint64_t)(TH_T0 + 3600000), 8); /* folded up to 07:00 */
    uint8_t *slot = rec + 16 + 32 * (int)((TH_T0 / 3600000) % 24);
    s4f_put_le(slot, (uint64_t)TH_T0, 8); /* 06:00: 2 flows, 5 packets, 300 bytes */
    s4f_put_le(slot + 8, 2, 8);
    s4f_put_le(slot + 16, 5, 8);
    s4f_put_le(slot + 24, 300, 8);
    uint8_t bad[784];
    memcpy(bad, rec, sizeof(rec));
    bad[16 + 32 * 5] = 1; /* slot 5's hour: not on the hour, not at its index */
    assert_false(u->a->restore(u->inst, ps, key, sizeof(key), bad, sizeof(bad)));
    assert_true(u->a->restore(u->inst, ps, key, sizeof(key), rec, sizeof(rec)));
    /* As test_host_stats_profile_restored from here. */
    int64_t off = 0;
    flow(u, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 3, 200, 3599000);
    flow(u, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 4, 400, 3601000);
    flow(u, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 7199000);
    flow(u, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 7200000 + 60000 + 10000);
    th_tick(u);
    json_t *d =
        th_doc(u, rid("host_stats_temporal_profile", 7200000 - 86400000, 86400000, "10.0.0.1"));
    assert_non_null(d);
    json_t *hours = json_object_get(d, "hours");
    assert_int_equal(json_array_size(hours), 2);
    assert_string_equal(th_str(member(hours, 0), "hour_start"), "2025-11-27T06:00:00.000Z");
    assert_int_equal(th_int(member(hours, 0), "flows"), 2);
    assert_int_equal(th_int(member(hours, 0), "packets"), 5);
    assert_int_equal(th_int(member(hours, 1), "flows"), 1);
    assert_int_equal(th_int(member(hours, 1), "bytes"), 400);
    th_free(u);
}

/* A changelog record lost for good is written again (issue 23), from the ring as it is,
 * without folding the window twice. */
static void test_host_stats_changelog_resent(void **state)
{
    const char *yaml = "local_networks: [10.0.0.0/8]\ntop_n: 0\nallowed_lateness: 0\n";
    struct th *t = th_new(analysis("host_stats"), yaml);
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 2, 100, 1000);
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 60000 + 1000);
    th_tick(t);
    size_t n = t->nrecs;
    assert_true(n >= 1);
    th_ack_all(t, false); /* every message of the window lost */
    th_tick(t);
    assert_true(t->nrecs > n);
    const struct th_rec *a = &t->recs[0], *b = &t->recs[t->nrecs - 1];
    assert_int_equal(a->klen, b->klen);
    assert_memory_equal(a->key, b->key, a->klen);
    assert_int_equal(a->vlen, b->vlen);
    assert_memory_equal(a->val, b->val, a->vlen); /* the same ring: not folded twice */
    th_ack_all(t, true);
    th_tick(t);
    size_t m = t->nrecs;
    th_tick(t);
    assert_int_equal(t->nrecs, m); /* delivered: nothing more */
    th_free(t);
}

static void test_host_stats_max_keys(void **state)
{
    struct th *t = th_new(analysis("host_stats"), "local_networks: [10.0.0.0/8]\nmax_keys: 1\n");
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 1, 100, 1000);
    flow(t, &off, "10.0.0.2", "198.51.100.1", 6, 443, 0x10, 1, 100, 2000);
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 1, 100, 3000);
    assert_int_equal(th_metric(t, "keys_dropped_total"), 1);
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 200000);
    th_tick(t);
    assert_int_equal(th_int(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1")), "flows_out"), 2);
    assert_null(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2")));
    /* The results say they are incomplete, not only the counter. */
    assert_true(json_is_true(
        json_object_get(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1")), "partial")));
    th_free(t);
}

static void test_host_stats_partial_reemits_every_host(void **state)
{
    /* A window already emitted, then a late flow refused by max_keys: every host's document
     * is emitted again with "partial", not only the changed ones. */
    struct th *t = th_new(analysis("host_stats"),
                          "local_networks: [10.0.0.0/8]\nmax_keys: 2\nallowed_lateness: 1m\n");
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 1, 100, 1000);
    flow(t, &off, "10.0.0.2", "198.51.100.1", 6, 443, 0x10, 1, 100, 2000);
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 61000);
    th_tick(t);
    assert_null(json_object_get(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1")), "partial"));
    flow(t, &off, "10.0.0.3", "198.51.100.1", 6, 443, 0x10, 1, 100, 3000); /* late, refused */
    assert_int_equal(th_metric(t, "keys_dropped_total"), 1);
    t->mono_skew = 2000; /* past the re-emission interval */
    th_tick(t);
    assert_int_equal(th_emits(t, rid("host_stats", 0, 60000, "10.0.0.1")), 2);
    assert_int_equal(th_emits(t, rid("host_stats", 0, 60000, "10.0.0.2")), 2);
    assert_true(json_is_true(
        json_object_get(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2")), "partial")));
    th_free(t);
}

static bool has_tombstone(const struct th *t, const char *host)
{
    struct s4f_flow f = th_mkflow(host, host, 6, 1, 0, 1, 1, 0);
    for (size_t i = 0; i < t->nrecs; i++)
        if (t->recs[i].vlen == 0 && t->recs[i].klen == 17 &&
            memcmp(t->recs[i].key, f.src.b, 16) == 0)
            return true;
    return false;
}

static void test_host_stats_idle_profiles_expire(void **state)
{
    /* Regression (issue 23): the profile table, capped at max_keys, kept every host it ever
     * saw: once full, new hosts never got a profile, across restarts too (changelog). Rings
     * idle for 24 hours are now forgotten, with a tombstone; profiles emitted while one was
     * refused say "partial". */
    const char *yaml = "local_networks: [10.0.0.0/8]\ntop_n: 0\nallowed_lateness: 0\nmax_keys: 1\n";
    struct th *t = th_new(analysis("host_stats"), yaml);
    t->wall = TH_T0 + 3 * 86400000LL;
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 1, 100, 1000);
    flow(t, &off, "10.0.0.2", "198.51.100.1", 6, 443, 0x10, 1, 100, 3599000); /* no ring */
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 3600000 + 60000);
    th_tick(t);
    th_ack_all(t, true);
    assert_int_equal(th_metric(t, "keys_dropped_total"), 1);
    json_t *d =
        th_doc(t, rid("host_stats_temporal_profile", 3600000 - 86400000, 86400000, "10.0.0.1"));
    assert_non_null(d);
    assert_true(json_is_true(json_object_get(d, "partial")));
    /* A day later the first ring is idle: forgotten, and the new host gets one. */
    int64_t day = 86400000 + 3600000;
    flow(t, &off, "10.0.0.2", "198.51.100.1", 6, 443, 0x10, 1, 100, day + 3599000);
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, day + 3600000 + 60000);
    th_tick(t);
    th_ack_all(t, true);
    assert_int_equal(th_metric(t, "profiles_expired_total"), 1);
    assert_int_equal(th_metric(t, "keys_dropped_total"), 1);
    assert_true(has_tombstone(t, "10.0.0.1"));
    d = th_doc(t,
               rid("host_stats_temporal_profile", day + 3600000 - 86400000, 86400000, "10.0.0.2"));
    assert_non_null(d);
    assert_null(json_object_get(d, "partial"));
    assert_int_equal(th_int(member(json_object_get(d, "hours"), 0), "flows"), 1);
    /* A restart reads the ring, its tombstone, and the new ring: it all fits in max_keys. */
    struct th *u = th_new(analysis("host_stats"), yaml);
    assert_int_equal(th_restore(u, t), 0);
    assert_int_equal(th_metric(u, "keys_dropped_total"), 0);
    th_free(u);
    th_free(t);
}

static void test_host_stats_repartitioned_sides(void **state)
{
    /* Stage two gets one record per routed side: each counts for its own host only. */
    struct th *t = th_new(analysis("host_stats"), "local_networks: [10.0.0.0/8]\n");
    struct s4f_flow f = th_mkflow("10.0.0.1", "10.0.0.2", 6, 22, 0x02, 3, 120, TH_T0 + 1000);
    f.side = S4F_SIDE_SRC;
    assert_int_equal(th_flow(t, 0, 0, &f), S4F_OK);
    f.side = S4F_SIDE_DST;
    assert_int_equal(th_flow(t, 1, 0, &f), S4F_OK);
    /* A remote source routed for its (local) destination only. */
    struct s4f_flow g = th_mkflow("198.51.100.7", "10.0.0.1", 6, 443, 0x10, 1, 50, TH_T0 + 2000);
    g.side = S4F_SIDE_DST;
    assert_int_equal(th_flow(t, 0, 1, &g), S4F_OK);
    s4f_wengine_flush(t->we);
    json_t *a = th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1"));
    assert_non_null(a);
    assert_int_equal(th_int(a, "flows_out"), 1);
    assert_int_equal(th_int(a, "flows_in"), 1);
    assert_int_equal(th_int(a, "peers_distinct"), 2);
    assert_int_equal(th_int(a, "dst_ports_distinct"), 2);
    assert_null(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2"))); /* not in partition 0 */
    char id[200];
    snprintf(id, sizeof(id), "host_stats:%" PRId64 "+60000:p1:10.0.0.2", TH_T0);
    json_t *b = th_doc(t, id);
    assert_non_null(b);
    assert_int_equal(th_int(b, "flows_in"), 1);
    assert_int_equal(th_int(b, "flows_out"), 0);
    assert_int_equal(th_int(b, "packets_in"), 3);
    assert_int_equal(th_count_type(t, "host_stats"), 2);
    th_free(t);
}

/* A host's profile names its country and AS, from routed records (version 4) as stage two
 * reads them. */
static void test_host_stats_geo(void **state)
{
    (void)state;
    struct th *t = th_new(analysis("host_stats"), "local_networks: [192.0.2.0/24]\n");
    struct s4f_flow f = th_mkflow("198.51.100.7", "192.0.2.10", 6, 443, 0x10, 1, 50, TH_T0 + 1000);
    strcpy(f.dst_geo.country, "CZ");
    f.dst_geo.asn = 2852;
    strcpy(f.dst_as_org, "CESNET");
    f.dst_geo.org_len = 6;
    strcpy(f.src_geo.country, "US");
    uint8_t rec[S4F_ROUTED_MAX];
    size_t n = s4f_flow_encode_routed(&f, S4F_SIDE_DST, 0, 0, rec);
    struct s4f_flow g;
    assert_int_equal(s4f_flow_decode_routed((char *)rec, n, &g, NULL), S4F_OK);
    assert_int_equal(th_flow(t, 0, 0, &g), S4F_OK);
    /* A host whose flows carry nothing: no fields. */
    struct s4f_flow h = th_mkflow("192.0.2.11", "10.1.1.1", 6, 443, 0x10, 1, 50, TH_T0 + 1000);
    assert_int_equal(th_flow(t, 0, 1, &h), S4F_OK);
    s4f_wengine_flush(t->we);
    json_t *a = th_doc(t, rid("host_stats", 0, 60000, "192.0.2.10"));
    assert_non_null(a);
    assert_string_equal(th_str(a, "host_country"), "CZ");
    assert_int_equal(th_int(a, "host_as"), 2852);
    assert_string_equal(th_str(a, "host_as_org"), "CESNET");
    json_t *b = th_doc(t, rid("host_stats", 0, 60000, "192.0.2.11"));
    assert_non_null(b);
    assert_null(json_object_get(b, "host_country"));
    assert_null(json_object_get(b, "host_as"));
    th_free(t);
}

static void test_host_stats_late_reemits_changed_hosts_only(void **state)
{
    struct th *t = th_new(analysis("host_stats"), "local_networks: [10.0.0.0/8]\n");
    int64_t off = 0;
    flow(t, &off, "10.0.0.1", "198.51.100.1", 6, 443, 0x10, 1, 100, 1000);
    flow(t, &off, "10.0.0.2", "198.51.100.1", 6, 443, 0x10, 1, 100, 2000);
    flow(t, &off, "192.0.2.1", "192.0.2.2", 6, 80, 0x10, 1, 1, 61000);
    th_tick(t);
    assert_int_equal(t->ndocs, 2);
    th_ack_all(t, true);
    flow(t, &off, "10.0.0.2", "198.51.100.9", 6, 22, 0x02, 1, 40, 3000); /* late */
    t->mono_skew = S4F_REEMIT_INTERVAL_MS;
    th_tick(t);
    /* Only the host that changed is sent again; the other's document stands. */
    assert_int_equal(t->ndocs, 3);
    assert_int_equal(th_emits(t, rid("host_stats", 0, 60000, "10.0.0.2")), 2);
    assert_int_equal(th_int(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2")), "flows_out"), 2);
    /* A failed delivery makes the next emission complete again. */
    th_ack_all(t, false);
    t->mono_skew = 2 * S4F_REEMIT_INTERVAL_MS;
    th_tick(t);
    assert_int_equal(th_emits(t, rid("host_stats", 0, 60000, "10.0.0.1")), 2);
    assert_int_equal(th_emits(t, rid("host_stats", 0, 60000, "10.0.0.2")), 3);
    th_free(t);
}

/* ---- biflows (RFC 5103): the reverse direction is traffic from destination to source ------ */

static void test_ports_scan_biflow_reverse(void **state)
{
    /* 20 biflows whose reverse direction is a bare SYN from the destination (.7) to port 22
     * of 20 sources: a horizontal scan by the destination. Their forward direction (SYN+ACK)
     * is no probe. A reverse SYN without reverse packets, or a reverse SYN+ACK, counts not. */
    struct th *t = th_new(analysis("ports_scan"), "allowed_lateness: 0\n");
    int64_t off = 0;
    char src[32];
    for (int j = 0; j < 20; j++) {
        snprintf(src, sizeof(src), "203.0.113.%d", j + 1);
        struct s4f_flow f = th_mkflow(src, "10.7.7.7", 6, 40000, 0x12, 1, 40, TH_T0 + 1000 + j);
        f.sport = 22;
        f.rev_packets = 1;
        f.rev_bytes = 40;
        f.rev_tcp_flags = 0x02;
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
        f = th_mkflow(src, "10.6.6.6", 6, 40000, 0x12, 1, 40, TH_T0 + 1000 + j);
        f.sport = 22;
        f.rev_tcp_flags = 0x02; /* no reverse packets: no reverse direction */
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
        f = th_mkflow(src, "10.5.5.5", 6, 40000, 0x12, 1, 40, TH_T0 + 1000 + j);
        f.sport = 22;
        f.rev_packets = 1;
        f.rev_tcp_flags = 0x12;
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
    }
    flow(t, &off, "10.0.0.1", "10.0.0.2", 6, 80, 0x10, 1, 40, 200000);
    th_tick(t);
    json_t *h = th_doc(t, rid("portscan_horizontal", 0, 60000, "10.7.7.7|22"));
    assert_non_null(h);
    assert_int_equal(th_int(h, "flows"), 20);
    assert_int_equal(th_int(h, "targets_total"), 20);
    assert_int_equal(th_count_type(t, "portscan_horizontal"), 1);
    assert_int_equal(th_count_type(t, "portscan_vertical"), 0);
    th_free(t);
}

static void test_host_stats_biflow_reverse(void **state)
{
    /* One biflow 10.0.0.1 -> 10.0.0.2:443 (3 packets, 300 bytes, SYN+ACK+PSH) answered by
     * 5 packets, 5000 bytes (ACK+FIN): each host has a flow out and a flow in. */
    struct th *t =
        th_new(analysis("host_stats"), "local_networks: [10.0.0.0/8]\nallowed_lateness: 0\n");
    struct s4f_flow f = th_mkflow("10.0.0.1", "10.0.0.2", 6, 443, 0x1a, 3, 300, TH_T0 + 1000);
    f.rev_packets = 5;
    f.rev_bytes = 5000;
    f.rev_tcp_flags = 0x11;
    assert_int_equal(th_flow(t, 0, 0, &f), S4F_OK);
    /* A biflow with no answer (reverse counters 0) is one flow only. */
    struct s4f_flow g = th_mkflow("198.51.100.9", "10.0.0.1", 17, 53, 0, 1, 70, TH_T0 + 2000);
    assert_int_equal(th_flow(t, 0, 1, &g), S4F_OK);
    struct s4f_flow z = th_mkflow("192.0.2.1", "192.0.2.2", 6, 80, 0x02, 1, 60, TH_T0 + 200000);
    assert_int_equal(th_flow(t, 0, 2, &z), S4F_OK);
    th_tick(t);
    json_t *a = th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1"));
    assert_non_null(a);
    assert_int_equal(th_int(a, "flows_out"), 1);
    assert_int_equal(th_int(a, "flows_in"), 2);
    assert_int_equal(th_int(a, "packets_out"), 3);
    assert_int_equal(th_int(a, "packets_in"), 6);
    assert_int_equal(th_int(a, "bytes_out"), 300);
    assert_int_equal(th_int(a, "bytes_in"), 5070);
    assert_int_equal(th_int(a, "peers_distinct"), 2);
    json_t *fl = json_object_get(a, "tcp_flags");
    assert_int_equal(th_int(fl, "ACK"), 2);
    assert_int_equal(th_int(fl, "SYN"), 1);
    assert_int_equal(th_int(fl, "FIN"), 1);
    json_t *tp = json_object_get(a, "top_peers");
    assert_string_equal(th_str(member(tp, 0), "ip"), "10.0.0.2");
    assert_int_equal(th_int(member(tp, 0), "flows"), 2);
    json_t *b = th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2"));
    assert_non_null(b);
    assert_int_equal(th_int(b, "flows_in"), 1);
    assert_int_equal(th_int(b, "flows_out"), 1);
    assert_int_equal(th_int(b, "packets_in"), 3);
    assert_int_equal(th_int(b, "packets_out"), 5);
    assert_int_equal(th_int(b, "bytes_in"), 300);
    assert_int_equal(th_int(b, "bytes_out"), 5000);
    th_free(t);

    /* The same through the repartition topic: routed records keep the reverse counters. */
    t = th_new(analysis("host_stats"), "local_networks: [10.0.0.0/8]\nallowed_lateness: 0\n");
    uint8_t rec[S4F_ROUTED_LEN];
    struct s4f_flow r;
    s4f_flow_encode_routed(&f, S4F_SIDE_DST, 0, 0, rec);
    assert_int_equal(s4f_flow_decode_routed((char *)rec, sizeof(rec), &r, NULL), S4F_OK);
    assert_int_equal(th_flow(t, 0, 0, &r), S4F_OK);
    s4f_wengine_flush(t->we);
    b = th_doc(t, rid("host_stats", 0, 60000, "10.0.0.2"));
    assert_non_null(b);
    assert_int_equal(th_int(b, "flows_in"), 1);
    assert_int_equal(th_int(b, "flows_out"), 1);
    assert_int_equal(th_int(b, "packets_out"), 5);
    assert_int_equal(th_int(b, "bytes_out"), 5000);
    assert_int_equal(th_int(json_object_get(b, "tcp_flags"), "FIN"), 1);
    assert_null(th_doc(t, rid("host_stats", 0, 60000, "10.0.0.1")));
    th_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocols_statistics_mix),
        cmocka_unit_test(test_ports_scan_known_scanners),
        cmocka_unit_test(test_ports_scan_sliding_increment),
        cmocka_unit_test(test_ports_scan_geo),
        cmocka_unit_test(test_host_stats_geo),
        cmocka_unit_test(test_ports_scan_max_keys),
        cmocka_unit_test(test_host_stats_known_host),
        cmocka_unit_test(test_host_stats_temporal_profile),
        cmocka_unit_test(test_host_stats_profile_restored),
        cmocka_unit_test(test_host_stats_profile_v1_restored),
        cmocka_unit_test(test_host_stats_changelog_resent),
        cmocka_unit_test(test_host_stats_max_keys),
        cmocka_unit_test(test_host_stats_partial_reemits_every_host),
        cmocka_unit_test(test_host_stats_idle_profiles_expire),
        cmocka_unit_test(test_host_stats_repartitioned_sides),
        cmocka_unit_test(test_ports_scan_biflow_reverse),
        cmocka_unit_test(test_host_stats_biflow_reverse),
        cmocka_unit_test(test_host_stats_late_reemits_changed_hosts_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
