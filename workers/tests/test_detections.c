/* The flow-field detections (ssh_auth_simple, ddos) on crafted flows, through the real window
 * engine: exact documents for known attackers and victims, every bound of the guess filter
 * from both sides, one report per window, the ddos warm-up, its history across a restart
 * (changelog), options, hostile changelog records and bad configurations. */
#include "harness.h"
#include "registry.h"

#include <inttypes.h>
#include <math.h>
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

/* ---- ssh_auth_simple ---------------------------------------------------------------------- */

/* One SSH connection: client port, packets, bytes, duration, end (relative to TH_T0). */
struct conn {
    uint16_t sport, dport;
    uint8_t proto;
    uint64_t packets, bytes;
    int64_t dur, end;
};

static void ssh(struct th *t, int64_t *off, const char *src, const char *dst, struct conn c)
{
    struct s4f_flow f = th_mkflow(src, dst, c.proto ? c.proto : 6, c.dport ? c.dport : 22, 0x1b,
                                  c.packets, c.bytes, TH_T0 + c.end);
    f.sport = c.sport ? c.sport : 40000;
    f.start_ms = f.end_ms - c.dur;
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

/* n guesses of src against dst, 2 s apart from `from`, each with packets 11 + i % 8 (11..18),
 * bytes 2000 + 100 i, duration 3000 + 10 i, unless `bad` overrides one field. */
static void guesses(struct th *t, int64_t *off, const char *src, const char *dst, int n,
                    int64_t from, const struct conn *bad)
{
    for (int i = 0; i < n; i++) {
        struct conn c = {.sport = (uint16_t)(50000 + i),
                         .packets = 11 + (uint64_t)(i % 8),
                         .bytes = 2000 + 100 * (uint64_t)i,
                         .dur = 3000 + 10 * i,
                         .end = from + 2000 * i};
        if (bad) {
            if (bad->sport)
                c.sport = bad->sport;
            if (bad->dport)
                c.dport = bad->dport;
            if (bad->proto)
                c.proto = bad->proto;
            if (bad->packets)
                c.packets = bad->packets;
            if (bad->bytes)
                c.bytes = bad->bytes;
            if (bad->dur)
                c.dur = bad->dur;
        }
        ssh(t, off, src, dst, c);
    }
}

static void close_all(struct th *t, int64_t *off, int64_t rel)
{
    struct s4f_flow f = th_mkflow("192.0.2.1", "192.0.2.2", 17, 53, 0, 1, 60, TH_T0 + rel);
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
    th_tick(t);
}

static void test_ssh_known_guessers(void **state)
{
    struct th *t = th_new(analysis("ssh_auth_simple"), "allowed_lateness: 0\n");
    int64_t off = 0;
    /* Guessers: 12 guesses of 10.1.1.1 at 10.0.0.22; 10 of an IPv6 client; 10.1.1.2 guesses
     * at two servers, 10 each (two attacks). */
    guesses(t, &off, "10.1.1.1", "10.0.0.22", 12, 1000, NULL);
    guesses(t, &off, "2001:db8::66", "fd00::22", 10, 1500, NULL);
    guesses(t, &off, "10.1.1.2", "10.0.0.22", 10, 1200, NULL);
    guesses(t, &off, "10.1.1.2", "10.0.0.23", 10, 1300, NULL);
    /* Not guessers: 9 guesses; then 10 flows that each miss one bound by the least amount
     * (the bounds are exclusive: packets 10 and 20, bytes 1800 and 5000, duration 12 s,
     * source port 1024, another port, UDP). */
    guesses(t, &off, "10.2.0.1", "10.0.0.22", 9, 1000, NULL);
    static const struct conn misses[] = {
        {.packets = 10}, {.packets = 20}, {.bytes = 1800}, {.bytes = 5000},
        {.dur = 12000},  {.sport = 1024}, {.dport = 2222}, {.proto = 17},
    };
    char src[32];
    for (size_t i = 0; i < S4F_ARRAY_SIZE(misses); i++) {
        snprintf(src, sizeof(src), "10.3.0.%zu", i + 1);
        guesses(t, &off, src, "10.0.0.22", 12, 1000, &misses[i]);
    }
    /* ... while the other side of each bound counts: packets 19 and 11, bytes 1801 and 4999,
     * duration 11.999 s, source port 1025 (10 flows of each: a guesser each). */
    static const struct conn inside[] = {
        {.packets = 19}, {.packets = 11}, {.bytes = 1801},
        {.bytes = 4999}, {.dur = 11999},  {.sport = 1025},
    };
    for (size_t i = 0; i < S4F_ARRAY_SIZE(inside); i++) {
        snprintf(src, sizeof(src), "10.4.0.%zu", i + 1);
        guesses(t, &off, src, "10.0.0.22", 10, 1000, &inside[i]);
    }
    /* A normal interactive session: one long flow with many packets. */
    ssh(t, &off, "10.5.0.1", "10.0.0.22",
        (struct conn){.packets = 4000, .bytes = 600000, .dur = 250000, .end = 260000});
    close_all(t, &off, 400000);

    json_t *d = th_doc(t, rid("ssh_auth_simple", 0, 300000, "10.1.1.1|10.0.0.22"));
    assert_non_null(d);
    assert_string_equal(th_str(d, "src_ip"), "10.1.1.1");
    assert_string_equal(th_str(d, "dst_ip"), "10.0.0.22");
    assert_int_equal(th_int(d, "flows"), 12);
    /* packets 11..18, 11..14: (116 + 50) / 12 = 13.8333.. -> 13.83 */
    json_t *avg = json_object_get(d, "average_packet_count");
    assert_true(json_is_real(avg));
    assert_true(json_real_value(avg) > 13.8299 && json_real_value(avg) < 13.8301);
    /* durations 3000 + 10 i, i = 0..11: 36000 + 660 */
    assert_int_equal(th_int(d, "duration_in_milliseconds"), 36660);
    /* the first guess: ends at 1000, lasted 3000 */
    assert_string_equal(th_str(d, "timestamp"), "2025-11-27T05:59:58.000Z");
    assert_int_equal(th_int(d, "flows_increment"), 12); /* tumbling: the whole window */

    d = th_doc(t, rid("ssh_auth_simple", 0, 300000, "2001:db8::66|fd00::22"));
    assert_non_null(d);
    assert_int_equal(th_int(d, "flows"), 10);
    /* 11..18, 11, 12: 139 / 10 = 13.9 */
    assert_true(fabs(json_real_value(json_object_get(d, "average_packet_count")) - 13.9) < 1e-9);
    assert_non_null(th_doc(t, rid("ssh_auth_simple", 0, 300000, "10.1.1.2|10.0.0.22")));
    assert_non_null(th_doc(t, rid("ssh_auth_simple", 0, 300000, "10.1.1.2|10.0.0.23")));
    for (size_t i = 0; i < S4F_ARRAY_SIZE(inside); i++) {
        char key[64];
        snprintf(key, sizeof(key), "10.4.0.%zu|10.0.0.22", i + 1);
        assert_non_null(th_doc(t, rid("ssh_auth_simple", 0, 300000, key)));
    }
    /* Exactly these, each once. */
    assert_int_equal(th_count_type(t, "ssh_auth_simple"), 4 + S4F_ARRAY_SIZE(inside));
    assert_int_equal(t->ndocs, 4 + S4F_ARRAY_SIZE(inside));
    assert_int_equal(th_metric(t, "attacks_reported_total"), 4 + S4F_ARRAY_SIZE(inside));
    th_free(t);
}

/* A guesser that goes on for two windows is reported once in each, with that window's flows;
 * one that spreads 18 guesses over two windows (9 + 9) is not reported. */
static void test_ssh_once_per_window(void **state)
{
    struct th *t = th_new(analysis("ssh_auth_simple"), "allowed_lateness: 0\n");
    int64_t off = 0;
    guesses(t, &off, "10.1.1.1", "10.0.0.22", 10, 250000, NULL);
    guesses(t, &off, "10.2.2.2", "10.0.0.22", 18, 283000, NULL);
    guesses(t, &off, "10.1.1.1", "10.0.0.22", 11, 310000, NULL);
    close_all(t, &off, 700000);
    json_t *a = th_doc(t, rid("ssh_auth_simple", 0, 300000, "10.1.1.1|10.0.0.22"));
    json_t *b = th_doc(t, rid("ssh_auth_simple", 300000, 300000, "10.1.1.1|10.0.0.22"));
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(th_int(a, "flows"), 10);
    assert_int_equal(th_int(b, "flows"), 11);
    assert_int_equal(th_emits(t, rid("ssh_auth_simple", 0, 300000, "10.1.1.1|10.0.0.22")), 1);
    assert_int_equal(th_count_type(t, "ssh_auth_simple"), 2);
    th_free(t);
}

/* The guesser's and the server's country and AS, as the collector attached them, are in the
 * result; a guess that carries none (the first) does not hide a later one that does. */
static void test_ssh_geo(void **state)
{
    (void)state;
    struct th *t = th_new(analysis("ssh_auth_simple"), "allowed_lateness: 0\n");
    int64_t off = 0;
    for (int i = 0; i < 10; i++) {
        struct s4f_flow f = th_mkflow("192.0.2.7", "10.0.0.22", 6, 22, 0x1b, (uint64_t)(11 + i % 8),
                                      (uint64_t)(2000 + 100 * i), TH_T0 + 250000 + 2000 * i);
        f.sport = (uint16_t)(50000 + i);
        f.start_ms = f.end_ms - 3000;
        if (i > 0) {
            strcpy(f.src_geo.country, "CZ");
            f.src_geo.asn = 2852;
            strcpy(f.src_as_org, "CESNET");
            f.src_geo.org_len = 6;
        }
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
    }
    close_all(t, &off, 700000);
    json_t *a = th_doc(t, rid("ssh_auth_simple", 0, 300000, "192.0.2.7|10.0.0.22"));
    assert_non_null(a);
    assert_string_equal(th_str(a, "src_country"), "CZ");
    assert_int_equal(th_int(a, "src_as"), 2852);
    assert_string_equal(th_str(a, "src_as_org"), "CESNET");
    assert_null(json_object_get(a, "dst_country"));
    th_free(t);
}

/* Every bound is an option. */
static void test_ssh_options(void **state)
{
    struct th *t = th_new(analysis("ssh_auth_simple"),
                          "allowed_lateness: 0\nport: 2222\nthreshold: 3\nmin_packets: 5\n"
                          "max_packets: 12\nmin_bytes: 100\nmax_bytes: 2500\n"
                          "max_duration: 4s\nsrc_port_above: 30000\nwindow: 60s\n");
    int64_t off = 0;
    /* packets 11, bytes 2000, 2100, 2200, duration ~3 s, port 2222: three guesses */
    guesses(t, &off, "10.1.1.1", "10.0.0.22", 3, 1000,
            &(struct conn){.dport = 2222, .packets = 11});
    /* the default port is not watched any more */
    guesses(t, &off, "10.1.1.2", "10.0.0.22", 3, 1000, NULL);
    /* packets 12: not below max_packets */
    guesses(t, &off, "10.1.1.3", "10.0.0.22", 3, 1000,
            &(struct conn){.dport = 2222, .packets = 12});
    close_all(t, &off, 200000);
    json_t *d = th_doc(t, rid("ssh_auth_simple", 0, 60000, "10.1.1.1|10.0.0.22"));
    assert_non_null(d);
    assert_int_equal(th_int(d, "flows"), 3);
    assert_int_equal(th_count_type(t, "ssh_auth_simple"), 1);
    th_free(t);
}

/* Whether init refuses the configuration (the option table accepted it), naming the analysis. */
static bool init_refuses(const struct s4f_analysis *a, const char *yaml)
{
    char err[512];
    void *conf = calloc(1, a->conf_size);
    assert_non_null(conf);
    struct s4f_conf_doc *doc = s4f_conf_load_string(yaml, strlen(yaml), "test", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(s4f_conf_apply(doc, doc->root, "test", a->opts, conf, err, sizeof(err)), 0);
    s4f_conf_doc_free(doc);
    struct s4f_metrics *m = s4f_metrics_new("t", 0);
    struct s4f_analysis_ctx ctx = {a->name, m, ""};
    err[0] = '\0';
    void *inst = a->init(conf, &ctx, err, sizeof(err));
    bool refused = !inst && strstr(err, a->name);
    if (inst)
        a->destroy(inst);
    s4f_metrics_free(m);
    s4f_conf_release(a->opts, conf);
    free(conf);
    return refused;
}

static void test_ssh_bad_config_and_max_keys(void **state)
{
    const struct s4f_analysis *a = analysis("ssh_auth_simple");
    /* Exclusive bounds with nothing between them. */
    assert_true(init_refuses(a, "min_packets: 10\nmax_packets: 11\n"));
    assert_true(init_refuses(a, "min_bytes: 4000\nmax_bytes: 3000\n"));
    assert_false(init_refuses(a, "min_packets: 10\nmax_packets: 12\n"));

    struct th *t = th_new(a, "max_keys: 1\nthreshold: 2\n");
    int64_t o = 0;
    guesses(t, &o, "10.1.1.1", "10.0.0.22", 2, 1000, NULL);
    guesses(t, &o, "10.1.1.2", "10.0.0.22", 2, 1000, NULL);
    assert_int_equal(th_metric(t, "keys_dropped_total"), 2);
    close_all(t, &o, 500000);
    assert_int_equal(th_count_type(t, "ssh_auth_simple"), 1);
    th_free(t);
}

/* ---- ddos --------------------------------------------------------------------------------- */

/* 30 s windows, a long window of 10 min (20 windows), warm-up 5 min, threshold 5, 1000
 * packets: the original's rule on a scale a test can feed. */
#define DDOS_YAML                                                                                  \
    "allowed_lateness: 0\nlong_window: 10m\nwarmup: 5m\nthreshold: 5\nmin_incoming: 1000\n"        \
    "repartition_topic: ''\nlocal_networks: [10.0.0.0/8]\n"

static void pk(struct th *t, int64_t *off, const char *src, const char *dst, uint64_t packets,
               int64_t rel)
{
    struct s4f_flow f = th_mkflow(src, dst, 6, 80, 0x1b, packets, packets * 60, TH_T0 + rel);
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

/* Ten minutes (windows 0..19) of balanced traffic: 100 packets in and 100 out per window for
 * the victim 10.0.0.80 and the server 10.0.0.90; 10.0.0.98 only in windows 18 and 19. */
static void ddos_history(struct th *t, int64_t *off)
{
    for (int k = 0; k < 20; k++) {
        int64_t at = k * 30000 + 1000;
        pk(t, off, "192.0.2.1", "10.0.0.80", 100, at);
        pk(t, off, "10.0.0.80", "192.0.2.1", 100, at + 10);
        pk(t, off, "192.0.2.2", "10.0.0.90", 100, at + 20);
        pk(t, off, "10.0.0.90", "192.0.2.2", 100, at + 30);
        if (k >= 18) {
            pk(t, off, "192.0.2.3", "10.0.0.98", 100, at + 40);
            pk(t, off, "10.0.0.98", "192.0.2.3", 100, at + 50);
        }
    }
}

/* Window 20 (600..630 s): 50 sources flood the victim with 101..150 packets each (6275), its
 * usual 100 in and out go on; the server gets 5000 in and sends 5000; 10.0.0.98 (two windows
 * of history) and 10.0.0.99 (none) get the same flood and answer nothing. */
static void ddos_flood(struct th *t, int64_t *off)
{
    char src[32];
    pk(t, off, "192.0.2.1", "10.0.0.80", 100, 601000);
    pk(t, off, "10.0.0.80", "192.0.2.1", 100, 601010);
    pk(t, off, "192.0.2.2", "10.0.0.90", 5000, 601020);
    pk(t, off, "10.0.0.90", "192.0.2.2", 5000, 601030);
    for (int i = 1; i <= 50; i++) {
        snprintf(src, sizeof(src), "198.51.100.%d", i);
        pk(t, off, src, "10.0.0.80", 100 + (uint64_t)i, 602000 + i);
        pk(t, off, src, "10.0.0.98", 100 + (uint64_t)i, 603000 + i);
        pk(t, off, src, "10.0.0.99", 100 + (uint64_t)i, 604000 + i);
    }
}

static void check_victim(struct th *t)
{
    json_t *d = th_doc(t, rid("detection.ddos", 600000, 30000, "10.0.0.80"));
    assert_non_null(d);
    assert_string_equal(th_str(d, "dst_ip"), "10.0.0.80");
    /* short: 6375 / 100; long (windows 1..20): (19 * 100 + 6375) / (20 * 100) */
    assert_true(fabs(json_real_value(json_object_get(d, "shortratio")) - 63.75) < 1e-9);
    assert_true(fabs(json_real_value(json_object_get(d, "longratio")) - 4.1375) < 1e-9);
    assert_int_equal(th_int(d, "packets_in"), 6375);
    assert_int_equal(th_int(d, "packets_out"), 100);
    assert_int_equal(th_int(d, "sources"), 51);
    json_t *at = json_object_get(d, "attackers");
    assert_int_equal(json_array_size(at), 10); /* max_attackers: the ten largest, in order */
    for (size_t i = 0; i < 10; i++) {
        char want[32];
        snprintf(want, sizeof(want), "198.51.100.%zu", 50 - i);
        assert_string_equal(json_string_value(json_array_get(at, i)), want);
    }
}

static void test_ddos_known_victim(void **state)
{
    struct th *t = th_new(analysis("ddos"), DDOS_YAML);
    int64_t off = 0;
    ddos_history(t, &off);
    ddos_flood(t, &off);
    close_all(t, &off, 700000);
    check_victim(t);
    /* Exactly the victim: not the busy server (ratio 1 as always), not 10.0.0.99 (no history:
     * its long ratio is its short one), not 10.0.0.98 (ratio rule met, but its history began
     * 1 min before the flood: warm-up). */
    assert_int_equal(th_count_type(t, "detection.ddos"), 1);
    assert_int_equal(t->ndocs, 1);
    assert_int_equal(th_metric(t, "warmup_suppressed_total"), 1);
    assert_int_equal(th_metric(t, "victims_reported_total"), 1);
    th_free(t);
}

/* The history survives a restart: an instance restored from the changelog the first wrote
 * reports the flood exactly as one that never stopped; without it, the victim has no baseline
 * but the flood itself, and nothing is reported. */
static void test_ddos_history_restored(void **state)
{
    struct th *t = th_new(analysis("ddos"), DDOS_YAML);
    int64_t off = 0;
    ddos_history(t, &off);
    pk(t, &off, "192.0.2.7", "192.0.2.8", 1, 600500); /* windows 0..19 become final */
    th_tick(t);
    th_ack_all(t, true);
    assert_int_equal(t->nrecs, 42); /* a slot per host and window with traffic: 20 + 20 + 2 */

    struct th *u = th_new(analysis("ddos"), DDOS_YAML);
    assert_int_equal(th_restore(u, t), 0);
    off = 0;
    ddos_flood(u, &off);
    close_all(u, &off, 700000);
    check_victim(u);
    assert_int_equal(th_count_type(u, "detection.ddos"), 1);

    struct th *v = th_new(analysis("ddos"), DDOS_YAML);
    off = 0;
    ddos_flood(v, &off);
    close_all(v, &off, 700000);
    assert_int_equal(th_count_type(v, "detection.ddos"), 0);
    /* the window is its own long window: the ratios are equal, nothing to hold back */
    assert_int_equal(th_metric(v, "warmup_suppressed_total"), 0);

    /* Hostile records: wrong lengths, magic, family, a slot not at its ring index. */
    struct th *w = th_new(analysis("ddos"), DDOS_YAML);
    void *ps = s4f_wengine_pstate(w->we, 0);
    const struct th_rec *r = &t->recs[0];
    uint8_t val[64], key[32];
    assert_true(r->vlen <= sizeof(val) && r->klen <= sizeof(key));
    assert_true(w->a->restore(w->inst, ps, r->key, r->klen, r->val, r->vlen));
    assert_false(w->a->restore(w->inst, ps, r->key, r->klen - 1, r->val, r->vlen));
    assert_false(w->a->restore(w->inst, ps, r->key, r->klen, r->val, r->vlen - 1));
    memcpy(val, r->val, r->vlen);
    val[1] = 'X';
    assert_false(w->a->restore(w->inst, ps, r->key, r->klen, val, r->vlen));
    memcpy(val, r->val, r->vlen);
    val[8] ^= 1; /* start not on a window boundary */
    assert_false(w->a->restore(w->inst, ps, r->key, r->klen, val, r->vlen));
    memcpy(key, r->key, r->klen);
    key[17] ^= 1; /* ring index of another slot */
    assert_false(w->a->restore(w->inst, ps, key, r->klen, r->val, r->vlen));
    memcpy(key, r->key, r->klen);
    key[16] = 5; /* family */
    assert_false(w->a->restore(w->inst, ps, key, r->klen, r->val, r->vlen));
    memcpy(key, r->key, r->klen);
    key[18] = 0xff; /* ring index beyond the ring */
    assert_false(w->a->restore(w->inst, ps, key, r->klen, NULL, 0));
    assert_true(w->a->restore(w->inst, ps, r->key, r->klen, NULL, 0)); /* tombstone */
    th_free(w);
    th_free(v);
    th_free(u);
    th_free(t);
}

/* A host silent for a long window is forgotten, with a tombstone per slot it had. */
static void test_ddos_history_expires(void **state)
{
    struct th *t = th_new(analysis("ddos"), DDOS_YAML);
    int64_t off = 0;
    pk(t, &off, "192.0.2.1", "10.0.0.80", 100, 1000);
    pk(t, &off, "192.0.2.1", "10.0.0.80", 100, 31000);
    close_all(t, &off, 700000);
    pk(t, &off, "192.0.2.7", "192.0.2.8", 1, 1400000);
    th_tick(t);
    assert_int_equal(th_metric(t, "histories_expired_total"), 1);
    size_t tomb = 0;
    for (size_t i = 0; i < t->nrecs; i++)
        tomb += t->recs[i].vlen == 0;
    assert_int_equal(tomb, 2);
    th_free(t);
}

static void test_ddos_bad_config(void **state)
{
    const struct s4f_analysis *a = analysis("ddos");
    assert_true(init_refuses(a, "slide: 10s\n"));
    assert_true(init_refuses(a, "long_window: 95s\n"));              /* not a multiple of 30 s */
    assert_true(init_refuses(a, "long_window: 10m\nwarmup: 10m\n")); /* warm-up never over */
    assert_true(init_refuses(a, "local_networks: [10.0.0.0/33]\n"));
    assert_false(init_refuses(a, DDOS_YAML));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_known_guessers),
        cmocka_unit_test(test_ssh_once_per_window),
        cmocka_unit_test(test_ssh_geo),
        cmocka_unit_test(test_ssh_options),
        cmocka_unit_test(test_ssh_bad_config_and_max_keys),
        cmocka_unit_test(test_ddos_known_victim),
        cmocka_unit_test(test_ddos_history_restored),
        cmocka_unit_test(test_ddos_history_expires),
        cmocka_unit_test(test_ddos_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
