/* Declarative rules (workers/rules_compile.c, workers/analyses/rules.c): every operator and
 * aggregate on crafted flows, errors with their line and column, windows of several lengths in
 * one pass, reloads (unchanged rules keep their state, a bad file changes nothing), and the
 * shipped rule versions of ports_scan and ssh_auth_simple against the built-in analyses,
 * result for result, over the same generated traffic. */
#include "harness.h"
#include "registry.h"
#include "rules_compile.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const struct s4f_rules_limits LIM = {300000, 60000, false};

static struct s4f_ruleset *compile(const char *yaml, char *err, size_t errlen)
{
    struct s4f_conf_doc *doc = s4f_conf_load_string(yaml, strlen(yaml), "r.yml", err, errlen);
    if (!doc)
        return NULL;
    struct s4f_ruleset *rs = s4f_rules_compile(doc, &LIM, err, errlen);
    s4f_conf_doc_free(doc);
    return rs;
}

/* The rule file must be refused with a message starting with `where` and containing `what`. */
static void refused(const char *yaml, const char *where, const char *what)
{
    char err[1024];
    struct s4f_ruleset *rs = compile(yaml, err, sizeof(err));
    if (rs) {
        s4f_rules_free(rs);
        fail_msg("accepted: %s", yaml);
    }
    if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, what))
        fail_msg("for:\n%s\ngot: %s\nwant: %s ... %s", yaml, err, where, what);
}

static void errors_name_line_and_column(void **state)
{
    (void)state;
    refused("rules:\n  - name: a\n    filter: {colour: red}\n",
            "r.yml:3:14:", "unknown flow field 'colour'");
    refused("rules:\n  - name: a\n    filter:\n      src_ip: {lt: 10.0.0.1}\n",
            "r.yml:4:16:", "does not apply to addresses");
    refused("rules:\n  - name: a\n    filter:\n      dst_port: {gt: 20, lt: 10}\n",
            "r.yml:4:7:", "no value satisfies");
    refused("rules:\n  - name: a\n    filter: {dst_port: 70000}\n",
            "r.yml:3:24:", "out of the field's range");
    refused("rules:\n  - name: a\n    filter: {proto: {eq: tcpp}}\n",
            "r.yml:3:26:", "not a valid value");
    refused("rules:\n  - name: a\n    aggregates: {s: {sum: src_ip}}\n",
            "r.yml:3:27:", "type mismatch");
    refused("rules:\n  - name: a\n    aggregates: {n: count}\n    condition: {m: {gt: 1}}\n",
            "r.yml:4:17:", "unknown aggregate 'm'");
    refused("rules:\n  - name: a\n    aggregates: {n: count}\n    condition: {n: {lt: 1}}\n",
            "r.yml:4:17:", "no value satisfies");
    refused("rules:\n  - name: a\n    window: 10m\n", "r.yml:3:13:", "longer than");
    refused("rules:\n  - name: a\n    window: 90s\n", "r.yml:3:13:", "multiple of");
    refused("rules:\n  - name: a\n  - name: a\n", "r.yml:3:11:", "defined twice");
    refused("rules:\n  - name: Bad-Name\n", "r.yml:2:11:", "a-z, 0-9");
    refused("rules:\n  - name: a\n    filter: {dst_port: {about: 3}}\n",
            "r.yml:3:25:", "unknown operator 'about'");
    refused("rules:\n  - name: a\n    filter: {src_ip: {exists: false}}\n",
            "r.yml:3:31:", "never matches");
    refused("rules:\n  - name: a\n    filter: {tcp_flags: {mask: SYN, eq: ACK}}\n",
            "r.yml:3:41:", "outside the mask");
    refused("rules:\n  - name: a\n    filter: {dst_ip: {in: []}}\n", "r.yml:3:27:", "empty list");
    refused("rules:\n  - name: a\n    colour: red\n", "r.yml:3:5:", "unknown rule key");
    refused("rules:\n  - name: a\n    key: [dns_name]\n", "r.yml:3:11:", "is text");
    refused("rules:\n  - name: a\n    fields: [nope]\n", "r.yml:3:14:", "neither a key");
    /* fuzz_rules: an operator without a value (an empty scalar) was read past its end */
    refused("rules:\n  - name: a\n    filter: {proto: {in}}\n", "r.yml:3:24:", "not a valid value");
    refused("rules:\n  - name: a_very_long_rule_name_for_a_rule_keyed_by_three_addresses\n"
            "    key: [src_ip, dst_ip, dst_port, src_port]\n",
            "r.yml:3:10:", "could reach");
    refused("rules: [", "r.yml:", "");
    refused("rule: []\n", "r.yml:1:1:", "unknown key 'rule'");
}

static struct s4f_flow fl(const char *src, const char *dst, uint8_t proto, uint16_t sport,
                          uint16_t dport, uint16_t flags, uint64_t packets, uint64_t bytes)
{
    struct s4f_flow f = th_mkflow(src, dst, proto, dport, flags, packets, bytes, TH_T0);
    f.sport = sport;
    return f;
}

/* The filter of the only rule of `yaml` on f. */
static bool match(const char *filter, const struct s4f_flow *f)
{
    char yaml[1024], err[512];
    snprintf(yaml, sizeof(yaml), "rules:\n  - name: t\n    filter: %s\n", filter);
    struct s4f_ruleset *rs = compile(yaml, err, sizeof(err));
    if (!rs)
        fail_msg("%s: %s", filter, err);
    bool m = s4f_rule_match(&rs->rules[0], f);
    s4f_rules_free(rs);
    return m;
}

/* `count` in a condition is the flow count without an aggregate of that name, and stays out
 * of the default result fields. */
static void count_in_a_condition(void **state)
{
    (void)state;
    char err[512];
    struct s4f_ruleset *rs =
        compile("rules:\n  - name: c\n    condition: {count: {gt: 2}}\n", err, sizeof(err));
    if (!rs)
        fail_msg("%s", err);
    assert_int_equal(rs->rules[0].naggs, 1);
    assert_int_equal(rs->rules[0].nfields, 0);
    double two = 2, three = 3;
    assert_false(s4f_rule_cond(&rs->rules[0], &two));
    assert_true(s4f_rule_cond(&rs->rules[0], &three));
    s4f_rules_free(rs);
}

static void every_filter_operator(void **state)
{
    (void)state;
    struct s4f_flow f = fl("10.1.2.3", "192.0.2.9", 6, 51000, 22, 0x12, 14, 3000);
    struct s4f_flow g = fl("2001:db8::1", "2001:db8::2", 17, 53, 5353, 0, 1, 80);
    /* eq ne lt le gt ge, shorthand and names */
    assert_true(match("{dst_port: 22}", &f));
    assert_true(match("{proto: tcp}", &f));
    assert_false(match("{proto: udp}", &f));
    assert_true(match("{dst_port: {ne: 23}}", &f));
    assert_false(match("{dst_port: {ne: 22}}", &f));
    assert_true(match("{packets: {lt: 15}}", &f));
    assert_false(match("{packets: {lt: 14}}", &f));
    assert_true(match("{packets: {le: 14}}", &f));
    assert_true(match("{bytes: {gt: 2999}}", &f));
    assert_false(match("{bytes: {gt: 3000}}", &f));
    assert_true(match("{bytes: {ge: 3000, le: 3000}}", &f));
    assert_true(match("{duration: {eq: 500ms}}", &f));
    assert_false(match("{duration: {gt: 1s}}", &f));
    /* in, not_in, port ranges */
    assert_true(match("{dst_port: {in: [21, 22, 23]}}", &f));
    assert_true(match("{src_port: {in: [1024-65535]}}", &f));
    assert_false(match("{src_port: {in: [0-1023]}}", &f));
    assert_true(match("{dst_port: {not_in: [80, 443]}}", &f));
    assert_false(match("{dst_port: {not_in: [20-30]}}", &f));
    assert_true(match("{dst_port: [22, 2222]}", &f));
    /* CIDR membership, addresses, both families */
    assert_true(match("{src_ip: {in: [10.0.0.0/8]}}", &f));
    assert_false(match("{src_ip: {in: 192.168.0.0/16}}", &f));
    assert_true(match("{src_ip: {not_in: [192.168.0.0/16, 2001:db8::/32]}}", &f));
    assert_false(match("{src_ip: {not_in: [192.168.0.0/16, 2001:db8::/32]}}", &g));
    assert_true(match("{dst_ip: 192.0.2.9}", &f));
    assert_true(match("{dst_ip: {ne: 192.0.2.8}}", &f));
    assert_false(match("{dst_ip: {eq: 2001:db8::2}}", &f));
    assert_true(match("{dst_ip: {eq: 2001:db8::2}}", &g));
    assert_true(match("{family: 6}", &g));
    /* TCP flag masks */
    assert_true(match("{tcp_flags: {mask: [SYN, ACK], eq: [SYN, ACK]}}", &f));
    assert_true(match("{tcp_flags: {mask: SYN|ACK|RST, eq: SYN|ACK}}", &f));
    assert_false(match("{tcp_flags: {mask: [FIN, SYN, RST, PSH, ACK], eq: SYN}}", &f));
    assert_true(match("{tcp_flags: {mask: RST, eq: 0}}", &f));
    assert_true(match("{tcp_flags: {mask: [SYN, FIN], ne: 0}}", &f));
    assert_true(match("{tcp_flags: {all_set: [SYN, ACK]}}", &f));
    assert_false(match("{tcp_flags: {all_set: [SYN, FIN]}}", &f));
    assert_true(match("{tcp_flags: {any_set: [FIN, SYN]}}", &f));
    assert_false(match("{tcp_flags: {any_set: FIN|RST}}", &f));
    assert_true(match("{tcp_flags: {none_set: RST}}", &f));
    assert_false(match("{tcp_flags: {none_set: SYN}}", &f));
    /* other spellings */
    assert_true(match("{dst_port: {nin: [80]}}", &f));
    assert_false(match("{dst_port: {'not in': [22]}}", &f));
    assert_true(match("{dst_port: {range: 20-30}}", &f));
    assert_true(match("{src_ip: {cidr: 10.0.0.0/8}}", &f));
    /* exists (DNS fields), text */
    assert_false(match("{dns_name: {exists: true}}", &f));
    assert_true(match("{dns_name: {exists: false}}", &f));
    struct s4f_flow d =
        th_dnsflow("10.0.0.5", "10.0.0.53", 40000, 53, "Evil.Example", false, 0, 1, 0);
    assert_true(match("{dns_name: {exists: true}}", &d));
    assert_true(match("{dns_name: evil.example}", &d));
    assert_true(match("{dns_name: {in: [a.example, evil.example]}}", &d));
    assert_false(match("{dns_name: {ne: evil.example}}", &d));
    assert_true(match("{dns_qtype: 1, dns_response: false}", &d));
    /* and, or, not; a map of several fields is an and */
    assert_true(match("{and: [{proto: tcp}, {dst_port: 22}]}", &f));
    assert_false(match("{and: [{proto: tcp}, {dst_port: 23}]}", &f));
    assert_true(match("{or: [{proto: udp}, {dst_port: 22}]}", &f));
    assert_false(match("{or: [{proto: udp}, {dst_port: 23}]}", &f));
    assert_true(match("{not: {proto: udp}}", &f));
    assert_false(match("{not: {proto: tcp}, dst_port: 22}", &f));
    assert_true(match("{or: [{not: {or: [{proto: udp}, {proto: icmp}]}}], packets: {gt: 1}}", &f));
}

/* ---- the analysis ------------------------------------------------------------------------- */

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/s4f_rules_XXXXXX");
    assert_non_null(path);
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

static struct th *rules_th(const char *path)
{
    char conf[512];
    snprintf(conf, sizeof(conf), "window: 5m\nslide: 1m\nallowed_lateness: 10s\nrules_file: %s\n",
             path);
    return th_new(s4f_analysis_find("rules"), conf);
}

/* Folds f ending at TH_T0 + rel; a flow past rel 600 s closes what came before. */
static void add(struct th *t, int64_t *off, struct s4f_flow f, int64_t rel)
{
    f.end_ms = TH_T0 + rel;
    f.start_ms = f.end_ms - 500;
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
    if (rel >= 600000)
        th_tick(t);
}

static const char *rid(const char *type, int64_t start_rel, int64_t len, const char *key)
{
    static char buf[8][256];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 256, "%s:%" PRId64 "+%" PRId64 ":p0:%s", type, TH_T0 + start_rel, len, key);
    return b;
}

static void every_aggregate(void **state)
{
    (void)state;
    char *path = write_file(
        "rules:\n"
        "  - name: agg\n"
        "    filter: {proto: tcp}\n"
        "    key: [src_ip]\n"
        "    window: 1m\n"
        "    aggregates:\n"
        "      flows: count\n"
        "      bytes_total: {sum: bytes}\n"
        "      smallest: {min: packets}\n"
        "      largest: {max: packets}\n"
        "      avg_packets: {mean: packets}\n"
        "      hosts: {distinct: dst_ip}\n"
        "      ports: {top: dst_port, k: 2}\n"
        "      last: {max: end}\n"
        "    condition: {or: [{hosts: {ge: 3}, count: {ge: 4}}, {bytes_total: {gt: 1000000}}]}\n"
        "    fields: [src_ip, flows, bytes_total, smallest, largest,\n"
        "             avg_packets, hosts, ports, {seen: last}]\n");
    struct th *t = rules_th(path);
    int64_t off = 0;
    /* 10.0.0.1: 4 flows to 3 hosts, ports 80 x2, 443 x1, 22 x1; packets 1, 2, 3, 5 */
    add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 1000);
    add(t, &off, fl("10.0.0.1", "192.0.2.2", 6, 40000, 80, 2, 2, 100), 2000);
    add(t, &off, fl("10.0.0.1", "192.0.2.3", 6, 40000, 443, 2, 3, 100), 3000);
    add(t, &off, fl("10.0.0.1", "192.0.2.3", 6, 40000, 22, 2, 5, 100), 4000);
    add(t, &off, fl("10.0.0.1", "192.0.2.4", 17, 40000, 53, 0, 1, 100), 4500); /* filtered */
    /* 10.0.0.2: 2 hosts only, below the condition */
    add(t, &off, fl("10.0.0.2", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 5000);
    add(t, &off, fl("10.0.0.2", "192.0.2.2", 6, 40000, 80, 2, 1, 100), 6000);
    add(t, &off, fl("10.0.0.9", "192.0.2.2", 6, 40000, 80, 2, 1, 100), 700000); /* closes */
    assert_int_equal(th_count_type(t, "rule_agg"), 1);
    json_t *d = th_doc(t, rid("rule_agg", 0, 60000, "10.0.0.1"));
    assert_non_null(d);
    assert_string_equal(th_str(d, "src_ip"), "10.0.0.1");
    assert_int_equal(th_int(d, "flows"), 4);
    assert_int_equal(th_int(d, "bytes_total"), 400);
    assert_int_equal(th_int(d, "smallest"), 1);
    assert_int_equal(th_int(d, "largest"), 5);
    assert_true(json_real_value(json_object_get(d, "avg_packets")) == 2.75);
    assert_int_equal(th_int(d, "hosts"), 3);
    json_t *ports = json_object_get(d, "ports");
    assert_int_equal(json_array_size(ports), 2);
    assert_int_equal(th_int(json_array_get(ports, 0), "value"), 80);
    assert_int_equal(th_int(json_array_get(ports, 0), "flows"), 2);
    assert_int_equal(th_int(json_array_get(ports, 1), "value"), 22); /* tie: smaller value */
    assert_string_equal(th_str(d, "seen"), "2025-11-27T06:00:04.000Z");
    assert_string_equal(th_str(d, "@type"), "rule_agg");
    assert_null(json_object_get(d, "last"));
    th_free(t);
    unlink(path);
    free(path);
}

/* Rules of 1-minute, 2-minute sliding and 5-minute windows in one analysis: each rule window
 * counts exactly the flows of its own bounds. */
static void windows_of_several_lengths(void **state)
{
    (void)state;
    char *path = write_file("rules:\n"
                            "  - {name: one, window: 1m, aggregates: {n: count}}\n"
                            "  - {name: two, window: 2m, slide: 1m, aggregates: {n: count}}\n"
                            "  - {name: five, aggregates: {n: count}}\n");
    struct th *t = rules_th(path);
    int64_t off = 0;
    /* one flow per 30 s over 5 minutes */
    for (int i = 0; i < 10; i++)
        add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), i * 30000 + 1000);
    add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 700000);
    for (int m = 0; m < 5; m++)
        assert_int_equal(th_int(th_doc(t, rid("rule_one", m * 60000, 60000, "all")), "n"), 2);
    assert_int_equal(th_int(th_doc(t, rid("rule_two", 60000, 120000, "all")), "n"), 4);
    assert_int_equal(th_int(th_doc(t, rid("rule_two", -60000, 120000, "all")), "n"), 2);
    assert_int_equal(th_int(th_doc(t, rid("rule_five", 0, 300000, "all")), "n"), 10);
    /* without a window of its own a rule has the analysis's window and slide */
    assert_int_equal(th_int(th_doc(t, rid("rule_five", 60000, 300000, "all")), "n"), 8);
    assert_int_equal(th_count_type(t, "rule_one"), 5);
    th_free(t);
    unlink(path);
    free(path);
}

static void reload_keeps_unchanged_rules(void **state)
{
    (void)state;
    const char *v1 = "rules:\n"
                     "  - {name: keep, aggregates: {n: count}}\n"
                     "  - {name: change, aggregates: {n: count}}\n"
                     "  - {name: drop, aggregates: {n: count}}\n";
    const char *v2 = "# moved and commented: still the same rule\n"
                     "rules:\n"
                     "  - {name: change, filter: {proto: tcp}, aggregates: {n: count}}\n"
                     "  - {name: added, aggregates: {n: count}}\n"
                     "  - {aggregates: {n: count}, name: keep}\n";
    char *path = write_file(v1);
    struct th *t = rules_th(path);
    int64_t off = 0;
    for (int i = 0; i < 3; i++)
        add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 1000 + i);
    /* a bad file: refused, the running rules stay and keep counting */
    rewrite(path, "rules:\n  - name: keep\n    filter: {dst_port: {gt: 9, lt: 3}}\n");
    t->a->reload(t->inst);
    assert_int_equal(th_metric(t, "rule_reload_failures_total"), 1);
    assert_int_equal(th_metric(t, "rules_loaded"), 3);
    add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 2000);
    rewrite(path, v2);
    t->a->reload(t->inst);
    assert_int_equal(th_metric(t, "rule_reloads_total"), 1);
    assert_int_equal(th_metric(t, "rules_loaded"), 3);
    for (int i = 0; i < 2; i++)
        add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 3000 + i);
    add(t, &off, fl("10.0.0.1", "192.0.2.1", 17, 40000, 80, 0, 1, 100), 4000);
    add(t, &off, fl("10.0.0.1", "192.0.2.1", 6, 40000, 80, 2, 1, 100), 700000);
    assert_int_equal(th_int(th_doc(t, rid("rule_keep", 0, 300000, "all")), "n"), 7);
    assert_int_equal(th_int(th_doc(t, rid("rule_change", 0, 300000, "all")), "n"), 2);
    assert_int_equal(th_int(th_doc(t, rid("rule_added", 0, 300000, "all")), "n"), 3);
    assert_int_equal(th_count_type(t, "rule_drop"), 0);
    th_free(t);
    unlink(path);
    free(path);
}

static void check_hook_refuses_a_bad_file(void **state)
{
    (void)state;
    const struct s4f_analysis *a = s4f_analysis_find("rules");
    assert_non_null(a->check);
    char *path = write_file("rules:\n  - name: a\n    key: [src_ip, colour]\n");
    char conf[256], err[1024];
    snprintf(conf, sizeof(conf), "window: 5m\nslide: 1m\nrules_file: %s\n", path);
    struct s4f_conf_doc *doc = s4f_conf_load_string(conf, strlen(conf), "c", err, sizeof(err));
    assert_non_null(doc);
    void *c = calloc(1, a->conf_size);
    assert_int_equal(s4f_conf_apply(doc, doc->root, "c", a->opts, c, err, sizeof(err)), 0);
    assert_int_equal(a->check(c, err, sizeof(err)), -1);
    char want[300];
    snprintf(want, sizeof(want), "%s:3:19: unknown flow field 'colour'", path);
    assert_string_equal(err, want);
    rewrite(path, "rules:\n  - name: a\n");
    assert_int_equal(a->check(c, err, sizeof(err)), 0);
    s4f_conf_release(a->opts, c);
    free(c);
    s4f_conf_doc_free(doc);
    unlink(path);
    free(path);
}

/* ---- equivalence with the built-in analyses ------------------------------------------------ */

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Twenty minutes of traffic in event-time order: background connections, horizontal and
 * vertical SYN scanners of varying reach (some below the threshold, some crossing windows),
 * SSH guessers of varying rates and flows just inside and outside every bound of a guess. */
static size_t traffic(struct s4f_flow *out, size_t cap)
{
    uint64_t s = 42;
    size_t n = 0;
    for (int64_t ms = 0; ms < 1200000 && n < cap; ms += 25) {
        struct s4f_flow f;
        char src[32], dst[32];
        unsigned kind = (unsigned)(rnd(&s) % 10);
        snprintf(src, sizeof(src), "10.0.%u.%u", (unsigned)(rnd(&s) % 3),
                 (unsigned)(rnd(&s) % 6 + 1));
        if (kind < 3) { /* horizontal-ish: many hosts, one port */
            snprintf(dst, sizeof(dst), "198.51.100.%u", (unsigned)(rnd(&s) % 60));
            f = th_mkflow(src, dst, 6, (uint16_t)(rnd(&s) % 3 ? 22 : 445), 0x02, 1, 60, 0);
        } else if (kind < 6) { /* vertical-ish: one host, many ports */
            unsigned who = rnd(&s) % 4 ? 1 : 2 + (unsigned)(rnd(&s) % 20);
            snprintf(src, sizeof(src), "10.0.9.%u", who);
            snprintf(dst, sizeof(dst), "203.0.113.%u", (unsigned)(rnd(&s) % 3));
            f = th_mkflow(src, dst, 6, (uint16_t)(1 + rnd(&s) % 80), rnd(&s) % 5 ? 0x02 : 0x12, 1,
                          60, 0);
        } else if (kind < 9) { /* SSH, around the guess bounds */
            snprintf(dst, sizeof(dst), "192.0.2.%u", (unsigned)(rnd(&s) % 3));
            f = th_mkflow(src, dst, rnd(&s) % 20 ? 6 : 17, 22, 0x1b, 9 + rnd(&s) % 13,
                          1700 + rnd(&s) % 3500, 0);
            f.sport = (uint16_t)(rnd(&s) % 10 ? 1025 + rnd(&s) % 60000 : 1024);
        } else { /* background */
            snprintf(dst, sizeof(dst), "192.0.2.%u", (unsigned)(rnd(&s) % 250));
            f = th_mkflow(src, dst, 6, 443, 0x1b, 10 + rnd(&s) % 100, 5000, 0);
        }
        f.end_ms = TH_T0 + ms;
        f.start_ms = f.end_ms - (int64_t)(f.dport == 22 ? 11000 + rnd(&s) % 2000 : 300);
        out[n++] = f;
    }
    return n;
}

/* Every result of `builtin` (types), after the last emission of each id, has a rule result of
 * type rule_<type> with the same window and key and the same values of `fields`; and the rule
 * emits nothing else. Returns how many results were compared. */
static size_t same_results(const struct th *builtin, const struct th *rules,
                           const char *const *types, const char *const *fields)
{
    size_t compared = 0;
    for (size_t i = 0; i < builtin->ndocs; i++) {
        const char *id = builtin->docs[i].id;
        if (th_doc(builtin, id) != builtin->docs[i].doc)
            continue; /* not the last emission */
        char rid2[300];
        snprintf(rid2, sizeof(rid2), "rule_%s", id);
        json_t *b = builtin->docs[i].doc, *r = th_doc(rules, rid2);
        if (!r)
            fail_msg("no rule result %s", rid2);
        for (size_t k = 0; fields[k]; k++)
            if ((json_object_get(b, fields[k]) || json_object_get(r, fields[k])) &&
                !json_equal(json_object_get(b, fields[k]), json_object_get(r, fields[k]))) {
                char *bs = json_dumps(b, JSON_COMPACT), *rs = json_dumps(r, JSON_COMPACT);
                fail_msg("%s differs in %s:\nbuilt-in %s\nrule     %s", id, fields[k], bs, rs);
            }
        compared++;
    }
    size_t rule_ids = 0;
    for (size_t k = 0; types[k]; k++) {
        char rt[80];
        snprintf(rt, sizeof(rt), "rule_%s", types[k]);
        rule_ids += th_count_type(rules, rt);
    }
    assert_int_equal(rule_ids, compared);
    return compared;
}

static struct th *run(const struct s4f_analysis *a, const char *conf, const struct s4f_flow *fs,
                      size_t n)
{
    struct th *t = th_new(a, conf);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(th_flow(t, 0, (int64_t)i, &fs[i]), S4F_OK);
    struct s4f_flow last = fs[n - 1];
    last.end_ms += 3600000;
    last.start_ms = last.end_ms;
    assert_int_equal(th_flow(t, 0, (int64_t)n, &last), S4F_OK);
    th_tick(t);
    return t;
}

static void rules_match_the_builtin_analyses(void **state)
{
    (void)state;
    size_t cap = 50000;
    struct s4f_flow *fs = calloc(cap, sizeof(*fs));
    assert_non_null(fs);
    size_t n = traffic(fs, cap);
    char conf[512];

    struct th *ps = run(s4f_analysis_find("ports_scan"), "allowed_lateness: 10s\n", fs, n);
    snprintf(conf, sizeof(conf),
             "window: 5m\nslide: 1m\nallowed_lateness: 10s\nrules_file: %s/ports_scan.yaml\n",
             S4F_RULES_DIR);
    struct th *pr = run(s4f_analysis_find("rules"), conf, fs, n);
    const char *pt[] = {"portscan_horizontal", "portscan_vertical", NULL};
    const char *pf[] = {"src_ip",    "dst_ip",       "dst_port",   "flows", "targets_total",
                        "timestamp", "window_start", "window_end", NULL};
    size_t np = same_results(ps, pr, pt, pf);
    assert_true(th_count_type(ps, "portscan_horizontal") > 5);
    assert_true(th_count_type(ps, "portscan_vertical") > 5);
    print_message("ports_scan: %zu results identical\n", np);
    th_free(ps);
    th_free(pr);

    struct th *ss = run(s4f_analysis_find("ssh_auth_simple"), "allowed_lateness: 10s\n", fs, n);
    snprintf(conf, sizeof(conf),
             "window: 5m\nslide: 1m\nallowed_lateness: 10s\nrules_file: %s/ssh_auth_simple.yaml\n",
             S4F_RULES_DIR);
    struct th *sr = run(s4f_analysis_find("rules"), conf, fs, n);
    const char *st[] = {"ssh_auth_simple", NULL};
    const char *sf[] = {"src_ip",
                        "dst_ip",
                        "flows",
                        "average_packet_count",
                        "duration_in_milliseconds",
                        "timestamp",
                        "window_start",
                        "window_end",
                        NULL};
    size_t nsh = same_results(ss, sr, st, sf);
    assert_true(nsh > 5);
    print_message("ssh_auth_simple: %zu results identical\n", nsh);
    th_free(ss);
    th_free(sr);
    free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(errors_name_line_and_column),
        cmocka_unit_test(every_filter_operator),
        cmocka_unit_test(count_in_a_condition),
        cmocka_unit_test(every_aggregate),
        cmocka_unit_test(windows_of_several_lengths),
        cmocka_unit_test(reload_keeps_unchanged_rules),
        cmocka_unit_test(check_hook_refuses_a_bad_file),
        cmocka_unit_test(rules_match_the_builtin_analyses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
