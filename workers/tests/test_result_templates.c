/* Every result type a registered analysis emits has an index template in the sink (issue 13):
 * the sink refuses results of any other @type (dead letter), so an analysis added without its
 * template would see all its results refused. Each analysis runs over the same generic traffic
 * (normal flows, a horizontal and a vertical scan, an hour that becomes final) through the real
 * window engine; the @type of every document it emits must be one the sink accepts
 * (s4f_tpl_result_type, the sink's own rule). An analysis that emits nothing here fails too:
 * extend the traffic so that its results are checked. The result schemas of docs/schemas/ must
 * have templates as well. */
#include "harness.h"
#include "registry.h"
#include "templates.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void flow(struct th *t, int64_t *off, const char *src, const char *dst, uint16_t dport,
                 uint16_t flags, int64_t rel)
{
    struct s4f_flow f = th_mkflow(src, dst, 6, dport, flags, 2, 120, TH_T0 + rel);
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

/* A DNS flow (or, without a name, plain UDP) with packets, bytes and, if given, an A answer. */
static void dns(struct th *t, int64_t *off, const char *src, const char *dst, uint16_t sport,
                uint16_t dport, bool response, const char *name, const char *a, uint64_t packets,
                uint64_t bytes, int64_t rel)
{
    struct s4f_flow f = name ? th_dnsflow(src, dst, sport, dport, name, response, 0, 1, rel)
                             : th_mkflow(src, dst, 17, dport, 0, 1, 80, TH_T0 + rel);
    f.sport = sport;
    f.packets = packets;
    f.bytes = bytes;
    if (a) {
        f.dns.rdata_len = (uint16_t)strlen(a);
        memcpy(f.dns.rdata, a, f.dns.rdata_len + 1u);
        f.dns.flags |= S4F_DNS_HAS_RDATA | S4F_DNS_RDATA_ADDR;
        s4f_addr_parse(a, strlen(a), &f.dns.rdata_addr);
    }
    assert_int_equal(th_flow(t, 0, (*off)++, &f), S4F_OK);
}

static void generic_traffic(struct th *t)
{
    int64_t off = 0;
    char dst[32];
    /* DNS: a name asked three times through an outside resolver, one client then connecting
     * to the answer (external resolver), a local resolver answering outside (open resolver)
     * and reflecting eleven answers to one victim (reflection). */
    for (int j = 0; j < 3; j++)
        dns(t, &off, "8.8.8.8", "10.0.0.1", 53, 40000, true, "a.example", "192.0.2.10", 1, 90,
            100 + j);
    flow(t, &off, "10.0.0.1", "192.0.2.10", 443, 0x1b, 600);
    dns(t, &off, "198.51.100.7", "10.0.0.53", 40000, 53, false, NULL, NULL, 2, 100, 700);
    for (int j = 0; j < 11; j++)
        dns(t, &off, "10.0.0.53", "198.51.100.7", 53, 40000, true, "evil.example", "192.0.2.1", 1,
            100, 800 + j);
    /* In event-time order, so that nothing is late for the shortest window. */
    for (int j = 0; j < 30; j++) {
        snprintf(dst, sizeof(dst), "203.0.113.%d", j + 1);
        flow(t, &off, "10.9.9.9", dst, 22, 0x02, 1000 + j * 100); /* horizontal scan */
        flow(t, &off, "10.8.8.8", "192.168.1.1", (uint16_t)(1000 + j), 0x02,
             1000 + j * 100 + 50); /* vertical scan */
    }
    /* SSH password guessing: ten login-sized connections of one source to one server. */
    for (int j = 0; j < 10; j++) {
        struct s4f_flow f =
            th_mkflow("10.7.7.7", "10.0.0.22", 6, 22, 0x1b, 14, 3000, TH_T0 + 4000 + j * 50);
        assert_int_equal(th_flow(t, 0, off++, &f), S4F_OK);
        /* the server's answer: a biflow for pattern_finder */
        struct s4f_flow r = f;
        r.src = f.dst;
        r.dst = f.src;
        r.sport = f.dport;
        r.dport = f.sport;
        r.packets = 20;
        assert_int_equal(th_flow(t, 0, off++, &r), S4F_OK);
    }
    /* 10.0.0.1 talks to 198.51.100.1 (both directions), then 20 sources flood it. */
    for (int j = 0; j < 30; j++) {
        flow(t, &off, "10.0.0.1", "198.51.100.1", 443, 0x1b, 5000 + j * 1000);
        flow(t, &off, "198.51.100.1", "10.0.0.1", 40000, 0x1b, 5000 + j * 1000 + 10);
    }
    for (int j = 0; j < 20; j++) {
        snprintf(dst, sizeof(dst), "203.0.113.%d", j + 100);
        flow(t, &off, dst, "10.0.0.1", 80, 0x02, 35000 + j * 100);
    }
    /* TLS: a ClientHello's cipher suites (Flowmon) and a server name (ipfixprobe), from another
     * host than the flooded one (its packets out would lower the flood's in/out ratio). */
    struct s4f_flow tls =
        th_mkflow("10.0.0.2", "198.51.100.1", 6, 443, 0x1b, 10, 900, TH_T0 + 36000);
    tls.app.flags = S4F_APP_SUITES | S4F_APP_SNI;
    memcpy(tls.app.suites, "\x04\x00\x05\x00", 4);
    tls.app.suites_len = 4;
    memcpy(tls.app.sni, "example.org", 12);
    tls.app.sni_len = 11;
    assert_int_equal(th_flow(t, 0, off++, &tls), S4F_OK);
    /* In the hour's last window (the hourly profile is emitted when it becomes final), then past
     * the end of the hour, its last window and the lateness: everything is final. */
    flow(t, &off, "10.0.0.1", "198.51.100.1", 443, 0x1b, 3599000);
    flow(t, &off, "10.0.0.1", "198.51.100.1", 443, 0x1b, 3600000 + 60000 + 10000);
    th_tick(t);
}

static size_t count_schemas(void)
{
    DIR *d = opendir(S4F_SCHEMA_DIR);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".schema.json") != NULL;
    closedir(d);
    return n;
}

/* Runs analysis a with conf over the generic traffic; adds the result types it emits to seen. */
static void emitted_types(const struct s4f_analysis *a, const char *conf, char seen[][128],
                          size_t *nseen)
{
    struct th *t = th_new(a, conf);
    generic_traffic(t);
    if (t->ndocs == 0)
        fail_msg("analysis %s emitted nothing on the generic traffic: extend it", a->name);
    for (size_t k = 0; k < t->ndocs; k++) {
        const char *type = json_string_value(json_object_get(t->docs[k].doc, "@type"));
        if (!type || !s4f_tpl_result_type(type))
            fail_msg("analysis %s emits @type %s, which has no sink/templates/index-%s.json: "
                     "the sink would dead-letter every such result",
                     a->name, type ? type : "(none)", type ? type : "?");
        size_t j = 0;
        while (j < *nseen && strcmp(seen[j], type) != 0)
            j++;
        if (j == *nseen && *nseen < 32)
            snprintf(seen[(*nseen)++], 128, "%s", type);
    }
    th_free(t);
}

static void every_emitted_type_has_a_template(void **state)
{
    char seen[32][128];
    size_t nseen = 0;
    (void)state;
    for (size_t i = 0; s4f_analyses[i]; i++) {
        const struct s4f_analysis *a = s4f_analyses[i];
        /* The DNS analyses need to know what is local (and where the resolvers are). */
        const char *conf = "allowed_lateness: 10s\n";
        if (strcmp(a->name, "reflect_ddos") == 0)
            conf = "allowed_lateness: 10s\ndns_servers: [10.0.0.53]\n";
        else if (strcmp(a->name, "dns_external_resolvers") == 0)
            conf = "allowed_lateness: 10s\nlocal_networks: [10.0.0.0/8]\nrepartition_topic: ''\n";
        else if (strcmp(a->name, "ddos") == 0)
            conf = "allowed_lateness: 10s\nlocal_networks: [10.0.0.0/8]\nrepartition_topic: ''\n"
                   "long_window: 60s\nwarmup: 0\nthreshold: 2\nmin_incoming: 10\n";
        else if (strcmp(a->name, "pattern_finder") == 0)
            conf = "allowed_lateness: 10s\nconfigurations: [" S4F_PF_DIR "/ssh.yml]\n";
        else if (strcmp(a->name, "rules") == 0) {
            /* Each shipped rule file (one schema per rule): ssh_auth_simple's here, then
             * ports_scan's below. */
            emitted_types(a,
                          "allowed_lateness: 10s\nwindow: 5m\nslide: 1m\n"
                          "rules_file: " S4F_RULES_DIR "/ssh_auth_simple.yaml\n",
                          seen, &nseen);
            conf = "allowed_lateness: 10s\nwindow: 5m\nslide: 1m\n"
                   "rules_file: " S4F_RULES_DIR "/ports_scan.yaml\n";
        } else if (strncmp(a->name, "dns_", 4) == 0)
            conf = "allowed_lateness: 10s\nlocal_networks: [10.0.0.0/8]\n";
        emitted_types(a, conf, seen, &nseen);
    }
    /* The traffic reaches every result type (one schema each in docs/schemas/). */
    size_t want = count_schemas();
    if (nseen < want) {
        for (size_t j = 0; j < nseen; j++)
            print_message("emitted: %s\n", seen[j]);
        fail_msg("the generic traffic reaches %zu result types, want %zu", nseen, want);
    }
}

static void every_result_schema_has_a_template(void **state)
{
    (void)state;
    DIR *d = opendir(S4F_SCHEMA_DIR);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *suffix = ".schema.json";
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len <= sl || strcmp(e->d_name + len - sl, suffix) != 0)
            continue;
        char type[256];
        snprintf(type, sizeof(type), "%.*s", (int)(len - sl), e->d_name);
        if (!s4f_tpl_result_type(type))
            fail_msg("docs/schemas/%s has no sink template index-%s.json", e->d_name, type);
        n++;
    }
    closedir(d);
    assert_true(n >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_emitted_type_has_a_template),
        cmocka_unit_test(every_result_schema_has_a_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
