/* pattern_finder (workers/pf_config.c, workers/analyses/pattern_finder.c): the original's
 * configuration format and its two defects refused with line and column, the shipped
 * corrected configurations, filter semantics, distances and intervals computed by hand, and
 * biflow attacks reported with their closest patterns and confidence through the real window
 * engine. */
#include "harness.h"
#include "pf_config.h"
#include "registry.h"

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* A biflow configuration around one pattern; `values` and `pattern` lines are inserted. */
#define BASE                                                                                       \
    "configuration: {name: T, window: 300, slice: 5}\n"                                            \
    "filter:\n"                                                                                    \
    "  - element_names: [ipfix.protocolIdentifier]\n"                                              \
    "    type: int\n"                                                                              \
    "    values: [6]\n"                                                                            \
    "vectors:\n"                                                                                   \
    "  key:\n"                                                                                     \
    "    type: biflow\n"                                                                           \
    "    elements:\n"                                                                              \
    "      src_ip: ipfix.sourceIPv4Address\n"                                                      \
    "      dst_ip: ipfix.destinationIPv4Address\n"                                                 \
    "      src_port: ipfix.sourceTransportPort\n"                                                  \
    "      dst_port: ipfix.destinationTransportPort\n"                                             \
    "      flow_start: ipfix.flowStartMilliseconds\n"                                              \
    "    time_difference: 500\n"                                                                   \
    "  values:\n"                                                                                  \
    "    - {type: element, element: ipfix.packetDeltaCount}\n"                                     \
    "    - {type: element, element: ipfix.octetDeltaCount}\n"                                      \
    "output:\n"                                                                                    \
    "  - {name: src_ip, element: ipfix.sourceIPv4Address, type: request}\n"                        \
    "distance:\n"                                                                                  \
    "  distance_module: biflow_quadratic_form\n"                                                   \
    "  patterns:\n"                                                                                \
    "%s"                                                                                           \
    "  distribution:\n"                                                                            \
    "    default: {intervals: [0, 2, 3, 4, 5, 7], weights: [3, 2, 1, 1, 2, "                       \
    "3], limit: 7}\n"

static struct pf_config *parse(const char *text, char *err, size_t errlen)
{
    struct s4f_conf_doc *doc = s4f_conf_load_string(text, strlen(text), "pf.yml", err, errlen);
    if (!doc)
        return NULL;
    struct pf_config *c = pf_config_parse(doc, err, errlen);
    s4f_conf_doc_free(doc);
    return c;
}

static void with_patterns(const char *patterns, char *out, size_t len)
{
    snprintf(out, len, BASE, patterns);
}

static void the_original_defects_are_refused(void **state)
{
    (void)state;
    char text[4096], err[512];
    /* configuration.yml: "9875. 1.8" (a missing comma) */
    with_patterns("    - {name: a, request: [58, 12560], response: [60, 9875. 1.8]}\n", text,
                  sizeof(text));
    assert_null(parse(text, err, sizeof(err)));
    assert_string_equal(err, "pf.yml:24:54: '9875. 1.8' is not a number");
    /* the SSH configuration: patterns shorter than the vector (zip() dropped values) */
    with_patterns("    - {name: hydra, request: [16], response: [25]}\n", text, sizeof(text));
    assert_null(parse(text, err, sizeof(err)));
    assert_string_equal(err, "pf.yml:24:30: pattern hydra has 1 values, the vector 2");
    /* eval is not configuration */
    assert_null(parse("configuration: {name: T, window: 300}\nvectors:\n  key: {type: simple, "
                      "elements: [ipfix.sourceIPv4Address]}\n  values:\n    - {type: "
                      "default_function, function: x}\n",
                      err, sizeof(err)));
    if (!strstr(err, "pf.yml:5:14: default_function"))
        fail_msg("%s", err);
    /* an element the reader does not keep, a type mismatch */
    with_patterns("    - {name: a, request: [1, 2], response: [1, 2]}\n", text, sizeof(text));
    char bad[4096];
    snprintf(bad, sizeof(bad), "%s", text);
    char *at = strstr(bad, "ipfix.protocolIdentifier]");
    memcpy(at, "ipfix.mplsTopLabelType  ]", 25);
    assert_null(parse(bad, err, sizeof(err)));
    assert_string_equal(err,
                        "pf.yml:3:21: element 'ipfix.mplsTopLabelType' is not one the worker reads "
                        "(docs/pattern_finder.md)");
    snprintf(bad, sizeof(bad), "%s", text);
    at = strstr(bad, "type: int");
    memcpy(at, "type: ip ", 9);
    assert_null(parse(bad, err, sizeof(err)));
    assert_non_null(strstr(err, "type mismatch: filter type ip on ipfix.protocolIdentifier"));
}

static void the_shipped_configurations_load(void **state)
{
    (void)state;
    char err[512], path[512];
    snprintf(path, sizeof(path), "%s/anomaly.yml", S4F_PF_DIR);
    struct pf_config *c = pf_config_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_string_equal(c->name, "Anomaly Detection");
    assert_int_equal(c->npatterns, 2);
    assert_true(c->patterns[1].resp[2] == 9875 && c->patterns[1].resp[3] == 1.8);
    /* anomaly-1's own intervals, with the default's weights and limit */
    assert_true(c->dists[0].intervals[1] == 3 && c->dists[0].weights[0] == 3 &&
                c->dists[0].limit == 7);
    assert_true(c->dists[1].intervals[1] == 2);
    pf_config_free(c);
    snprintf(path, sizeof(path), "%s/ssh.yml", S4F_PF_DIR);
    c = pf_config_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->nvalues, 4);
    assert_int_equal(c->npatterns, 4);
    assert_true(c->patterns[0].req[3] == 11959.5);
    pf_config_free(c);
}

static struct s4f_flow flow(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                            uint64_t packets, uint64_t bytes, int64_t start, int64_t dur)
{
    struct s4f_flow f = th_mkflow(src, dst, 6, dport, 0x1b, packets, bytes, TH_T0 + start + dur);
    f.sport = sport;
    f.start_ms = TH_T0 + start;
    return f;
}

static void filters_vectors_distances(void **state)
{
    (void)state;
    char err[512];
    struct pf_config *c =
        parse("configuration: {name: F, window: 300}\n"
              "filter:\n"
              "  - {element_names: [ipfix.sourceIPv4Address, ipfix.destinationIPv4Address], "
              "type: exists}\n"
              "  - {element_names: [ipfix.sourceTransportPort, "
              "ipfix.destinationTransportPort], type: int, values: [22, 2222]}\n"
              "  - {element_names: [ipfix.sourceIPv4Address, ipfix.destinationIPv4Address], "
              "type: ip, values: [172.16.0.0/16]}\n"
              "  - {element_names: [ipfix.DNSCrrName], type: nin, values: [google.com]}\n"
              "  - {element_names: [ipfix.packetDeltaCount], type: ge, value: [2]}\n"
              "vectors:\n"
              "  key: {type: simple, elements: [ipfix.sourceIPv4Address, "
              "ipfix.destinationTransportPort]}\n"
              "  values:\n"
              "    - {type: element, element: ipfix.packetDeltaCount}\n"
              "    - {type: operation, operator: sub, elements: [ipfix.flowEndMilliseconds, "
              "ipfix.flowStartMilliseconds]}\n"
              "    - {type: module, name: element_entropy, function: element_entropy, "
              "elements: [ipfix.DNSCrrName]}\n"
              "    - {type: direct, value: 2.5}\n"
              "output: [{name: who, element: ipfix.sourceIPv4Address, type: simple}]\n"
              "distance:\n"
              "  distance_module: simple_quadratic_form\n"
              "  patterns: [{name: p, vector: [10, 1000, 1, 2.5]}, {name: z, vector: [0, 1, "
              "1, 1]}]\n"
              "  distribution: {default: {intervals: [0, 1, 2], weights: [5, 1, 0], limit: 5}}\n",
              err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    struct s4f_flow f = flow("172.16.0.5", "8.8.8.8", 40000, 22, 20, 100, 0, 500);
    assert_true(pf_filter(c, &f)); /* int and ip match on either element */
    f.dport = 23;
    assert_false(pf_filter(c, &f));
    f.dport = 2222;
    f.packets = 1;
    assert_false(pf_filter(c, &f)); /* ge 2 */
    f.packets = 20;
    struct s4f_flow g = f;
    assert_int_equal(s4f_addr_parse("10.0.0.5", 8, &g.src), 0);
    assert_false(pf_filter(c, &g)); /* neither address in 172.16/16 */
    g = f;
    g.dns.flags = S4F_DNS_PRESENT;
    strcpy(g.dns.crr_name, "google.com");
    assert_false(pf_filter(c, &g)); /* nin */
    strcpy(g.dns.crr_name, "aab");
    assert_true(pf_filter(c, &g));
    char key[128];
    pf_simple_key(c, &g, key, sizeof(key));
    assert_string_equal(key, "172.16.0.5-2222");
    double v[PF_MAX_VALUES];
    pf_vector(c, &g, v);
    assert_true(v[0] == 20 && v[1] == 500 && v[3] == 2.5);
    /* entropy of "aab": -(2/3 log2 2/3 + 1/3 log2 1/3) */
    assert_true(fabs(v[2] - 0.9182958340544896) < 1e-12);
    /* sqrt(((20-10)/10)^2 + ((500-1000)/1000)^2 + ((0.918-1)/1)^2 + 0) */
    double d = pf_distance(c, 0, v, NULL);
    double want = sqrt(1.0 + 0.25 + pow(0.9182958340544896 - 1, 2));
    assert_true(fabs(d - want) < 1e-12);
    assert_true(isinf(pf_distance(c, 1, v, NULL))); /* a zero in a simple pattern */
    assert_int_equal(pf_bin(&c->dists[0], 0), 0);
    assert_int_equal(pf_bin(&c->dists[0], 0.99), 0);
    assert_int_equal(pf_bin(&c->dists[0], 1), 1);
    assert_int_equal(pf_bin(&c->dists[0], d), 1);
    assert_int_equal(pf_bin(&c->dists[0], 1e9), 2);
    assert_int_equal(pf_bin(&c->dists[0], INFINITY), 2);
    assert_int_equal(pf_bin(&c->dists[0], -1), -1);
    assert_int_equal(pf_bin(&c->dists[0], NAN), -1);
    pf_config_free(c);
}

static struct th *pf_th(void)
{
    char conf[512];
    snprintf(conf, sizeof(conf), "allowed_lateness: 10s\nconfigurations: [%s/ssh.yml]\n",
             S4F_PF_DIR);
    return th_new(s4f_analysis_find("pattern_finder"), conf);
}

/* A login attempt as the hydra pattern describes it: client to server and the answer. */
static void attempt(struct th *t, int64_t *off, const char *client, uint16_t port, int64_t at,
                    int64_t answer_after)
{
    struct s4f_flow q = flow(client, "10.0.0.22", port, 22, 16, 1973, at, 11960);
    struct s4f_flow r = flow("10.0.0.22", client, 22, port, 25, 3171, at + answer_after, 11960);
    assert_int_equal(th_flow(t, 0, (*off)++, &q), S4F_OK);
    assert_int_equal(th_flow(t, 0, (*off)++, &r), S4F_OK);
}

static void biflow_attacks_are_reported(void **state)
{
    (void)state;
    struct th *t = pf_th();
    int64_t off = 0;
    /* three attempts of one client: hydra, medusa and ncrack-2 are all in the first interval
     * (distances 0.00006, 1.40 and 0.56), ncrack-1 in the fifth (5.3) */
    for (int i = 0; i < 3; i++)
        attempt(t, &off, "192.0.2.66", (uint16_t)(50000 + i), 10000 + i * 20000, 100);
    /* two attempts of another: 6 < limit 7 */
    for (int i = 0; i < 2; i++)
        attempt(t, &off, "192.0.2.77", (uint16_t)(50000 + i), 10000 + i * 20000, 100);
    /* answers too late to pair (600 ms > time_difference): never vectors */
    for (int i = 0; i < 5; i++)
        attempt(t, &off, "192.0.2.88", (uint16_t)(50000 + i), 10000 + i * 20000, 600);
    struct s4f_flow late = flow("10.9.9.9", "10.0.0.1", 1, 2, 1, 1, 700000, 1);
    assert_int_equal(th_flow(t, 0, off++, &late), S4F_OK);
    th_tick(t);
    assert_int_equal(th_count_type(t, "pattern_finder"), 1);
    char id[200];
    snprintf(id, sizeof(id), "pattern_finder:%" PRId64 "+300000:p0:0|192.0.2.66|10.0.0.22", TH_T0);
    json_t *d = th_doc(t, id);
    if (!d) {
        for (size_t i = 0; i < t->ndocs; i++)
            print_message("%s\n", t->docs[i].id);
        fail_msg("no %s", id);
    }
    assert_string_equal(th_str(d, "configuration"), "SSH Brute-force Attack Detection");
    assert_string_equal(th_str(d, "src_ip"), "192.0.2.66");
    assert_string_equal(th_str(d, "dst_ip"), "10.0.0.22");
    assert_int_equal(th_int(d, "vectors"), 3);
    json_t *da = json_object_get(d, "data_array");
    assert_int_equal(json_array_size(da), 4);
    const double want[4][6] = {
        {9, 0, 0, 0, 0, 0}, {9, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 6, 0}, {9, 0, 0, 0, 0, 0}};
    for (size_t j = 0; j < 4; j++) {
        json_t *dist = json_object_get(json_array_get(da, j), "distribution");
        assert_int_equal(json_array_size(dist), 6);
        for (size_t b = 0; b < 6; b++)
            assert_true(json_number_value(json_array_get(dist, b)) == want[j][b]);
    }
    json_t *cp = json_object_get(d, "closest_patterns");
    assert_int_equal(json_array_size(cp), 3);
    assert_string_equal(th_str(json_array_get(cp, 0), "name"), "hydra");
    assert_string_equal(th_str(json_array_get(cp, 1), "name"), "medusa");
    assert_string_equal(th_str(json_array_get(cp, 2), "name"), "ncrack-2");
    assert_string_equal(th_str(json_array_get(cp, 0), "confidence"), "Very High");
    assert_string_equal(th_str(d, "confidence"), "Very High");
    th_free(t);
}

static void confidence_bands(void **state)
{
    (void)state;
    /* one attacker: 3 attempts close to hydra and 2 with five times its bytes */
    struct th *t = pf_th();
    int64_t off = 0;
    for (int i = 0; i < 3; i++)
        attempt(t, &off, "192.0.2.66", (uint16_t)(50000 + i), 10000 + i * 20000, 100);
    for (int i = 0; i < 2; i++) {
        struct s4f_flow q = flow("192.0.2.66", "10.0.0.22", (uint16_t)(51000 + i), 22, 16, 1973 * 5,
                                 100000 + i * 20000, 11960);
        struct s4f_flow r = flow("10.0.0.22", "192.0.2.66", 22, (uint16_t)(51000 + i), 25, 3171 * 5,
                                 100050 + i * 20000, 11960);
        assert_int_equal(th_flow(t, 0, off++, &q), S4F_OK);
        assert_int_equal(th_flow(t, 0, off++, &r), S4F_OK);
    }
    struct s4f_flow late = flow("10.9.9.9", "10.0.0.1", 1, 2, 1, 1, 700000, 1);
    assert_int_equal(th_flow(t, 0, off++, &late), S4F_OK);
    th_tick(t);
    char id[200];
    snprintf(id, sizeof(id), "pattern_finder:%" PRId64 "+300000:p0:0|192.0.2.66|10.0.0.22", TH_T0);
    json_t *d = th_doc(t, id);
    assert_non_null(d);
    /* hydra: left 9; the far attempts: sqrt(2 (4^2)) = 5.66, interval [5, 7), weight 2 each:
     * right 4, ratio 2.25 */
    json_t *cp = json_object_get(d, "closest_patterns"), *hydra = NULL;
    for (size_t i = 0; i < json_array_size(cp); i++)
        if (strcmp(th_str(json_array_get(cp, i), "name"), "hydra") == 0)
            hydra = json_array_get(cp, i);
    assert_non_null(hydra);
    assert_true(json_number_value(json_object_get(hydra, "ratio")) == 2.25);
    assert_string_equal(th_str(hydra, "confidence"), "High");
    /* the list is by ratio: the document's confidence is its first's */
    double prev = INFINITY;
    for (size_t i = 0; i < json_array_size(cp); i++) {
        json_t *r = json_object_get(json_array_get(cp, i), "ratio");
        double x = r ? json_number_value(r) : INFINITY;
        assert_true(x <= prev);
        prev = x;
    }
    assert_string_equal(th_str(d, "confidence"), th_str(json_array_get(cp, 0), "confidence"));
    th_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_original_defects_are_refused),
        cmocka_unit_test(the_shipped_configurations_load),
        cmocka_unit_test(filters_vectors_distances),
        cmocka_unit_test(biflow_attacks_are_reported),
        cmocka_unit_test(confidence_bands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
