/* libFuzzer target for the pattern_finder configuration reader: any bytes as a configuration
 * file (the original's format, docs/pattern_finder.md). Reading must never crash, leak or
 * hang; a configuration it accepts must hold its own limits, and is then run on a request and
 * response pair: filter, key, vector, every pattern's distance and interval, outputs. */
#include "pf_config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct s4f_conf_doc *doc =
        s4f_conf_load_string((const char *)data, size, "fuzz.yml", err, sizeof(err));
    if (!doc)
        return 0;
    struct pf_config *c = pf_config_parse(doc, err, sizeof(err));
    s4f_conf_doc_free(doc);
    if (!c)
        return 0;
    if (c->nvalues == 0 || c->nvalues > PF_MAX_VALUES || c->npatterns == 0 ||
        c->npatterns > PF_MAX_PATTERNS || c->noutputs > PF_MAX_OUTPUTS)
        abort();
    struct s4f_flow q, r;
    s4f_flow_clear(&q);
    s4f_addr_parse("172.16.0.5", 10, &q.src);
    s4f_addr_parse("172.16.0.22", 11, &q.dst);
    q.proto = 6;
    q.sport = 50000;
    q.dport = 22;
    q.packets = 16;
    q.bytes = 1973;
    q.start_ms = 1764223200000;
    q.end_ms = q.start_ms + 11960;
    q.dns.flags = S4F_DNS_PRESENT;
    strcpy(q.dns.crr_name, "example.org");
    r = q;
    r.src = q.dst;
    r.dst = q.src;
    r.sport = 22;
    r.dport = 50000;
    (void)pf_filter(c, &q);
    char key[128], out[64];
    pf_simple_key(c, &q, key, sizeof(key));
    double a[PF_MAX_VALUES], b[PF_MAX_VALUES];
    pf_vector(c, &q, a);
    pf_vector(c, &r, b);
    for (size_t i = 0; i < c->npatterns; i++) {
        double d = pf_distance(c, i, a, c->biflow ? b : NULL);
        int bin = pf_bin(&c->dists[i], d);
        if (bin >= (int)c->dists[i].nbins ||
            (d >= 0 && !isnan(d) && bin < 0 && d >= c->dists[i].intervals[0]))
            abort();
    }
    for (size_t o = 0; o < c->noutputs; o++)
        pf_output_text(c, o, &q, &r, out, sizeof(out));
    pf_config_free(c);
    return 0;
}
