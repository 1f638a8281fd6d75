/* libFuzzer target for the rule compiler: any bytes as a rule file (docs/rules.md). Compiling
 * must never crash, leak or hang; a file it accepts must hold its own limits, and its rules are
 * then evaluated (filter, key, condition) on a few fixed flows, so that whatever the compiler
 * produces the evaluator can walk. */
#include "rules_compile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct s4f_flow flows[3];
static int ready;

static void setup(void)
{
    const char *src[] = {"10.0.0.1", "2001:db8::1", "192.0.2.7"};
    const char *dst[] = {"192.0.2.9", "2001:db8::2", "10.1.1.1"};
    for (int i = 0; i < 3; i++) {
        struct s4f_flow *f = &flows[i];
        s4f_flow_clear(f);
        s4f_addr_parse(src[i], strlen(src[i]), &f->src);
        s4f_addr_parse(dst[i], strlen(dst[i]), &f->dst);
        f->proto = (uint8_t)(i == 1 ? 17 : 6);
        f->sport = (uint16_t)(40000 + i);
        f->dport = (uint16_t)(i == 0 ? 22 : 53);
        f->tcp_flags = (uint16_t)(i == 2 ? 0x02 : 0x1b);
        f->packets = 14u + (unsigned)i;
        f->bytes = 3000u * (unsigned)(i + 1);
        f->end_ms = 1764223200000 + i;
        f->start_ms = f->end_ms - 500;
    }
    flows[1].dns.flags = S4F_DNS_PRESENT;
    strcpy(flows[1].dns.name, "a.example");
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct s4f_rules_limits lim = {300000, 60000, false};
    char err[512];
    if (!ready)
        setup();
    struct s4f_conf_doc *doc =
        s4f_conf_load_string((const char *)data, size, "fuzz.yml", err, sizeof(err));
    if (!doc)
        return 0;
    struct s4f_ruleset *rs = s4f_rules_compile(doc, &lim, err, sizeof(err));
    s4f_conf_doc_free(doc);
    if (!rs)
        return 0;
    if (rs->n > S4F_RULES_MAX)
        abort();
    for (size_t i = 0; i < rs->n; i++) {
        const struct s4f_rule *r = &rs->rules[i];
        if (r->nfilter == 0 || r->nfilter > S4F_RULE_MAX_NODES || r->key_size > S4F_RULE_KEY_MAX ||
            r->naggs > S4F_RULE_MAX_AGGS || r->nfields > S4F_RULE_MAX_FIELDS ||
            r->window_ms > lim.window_ms || r->window_ms % r->slide_ms != 0 ||
            r->window_ms % lim.slide_ms != 0)
            abort();
        uint8_t key[S4F_RULE_KEY_MAX + 1];
        double vals[S4F_RULE_MAX_AGGS];
        for (int k = 0; k < 3; k++) {
            (void)s4f_rule_match(r, &flows[k]);
            s4f_rule_key(r, &flows[k], key);
            for (size_t a = 0; a < r->naggs; a++)
                vals[a] = (double)k * 7 - 3;
            (void)s4f_rule_cond(r, vals);
        }
    }
    s4f_rules_free(rs);
    return 0;
}
