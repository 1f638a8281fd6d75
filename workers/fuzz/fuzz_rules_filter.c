/* libFuzzer target for the rule filter evaluator: a fixed set of rules using every operator
 * (the shipped rule files and one of every kind of term) over hostile flows, read both as the
 * worker reads them (JSON records) and as raw field values (every value a field can hold,
 * including those the reader would refuse). Evaluation must never crash, read out of bounds
 * or take more than a bounded walk. */
#include "rules_compile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char rules[] =
    "rules:\n"
    "  - name: every_term\n"
    "    filter:\n"
    "      or:\n"
    "        - and:\n"
    "            - proto: {in: [tcp, udp, 1-5]}\n"
    "            - src_port: {not_in: [0-1023, 8080]}\n"
    "            - tcp_flags: {mask: [FIN, SYN, RST, PSH, ACK], eq: SYN}\n"
    "            - packets: {gt: 10, lt: 20}\n"
    "            - bytes: {ge: 1800, le: 5000, ne: 3000}\n"
    "            - duration: {lt: 12s}\n"
    "        - src_ip: {in: [10.0.0.0/8, 2001:db8::/32, 192.0.2.1]}\n"
    "          dst_ip: {not_in: [0.0.0.0/0]}\n"
    "        - not: {dns_name: {exists: false}}\n"
    "          dns_name: {in: [a.example, '']}\n"
    "        - dns_qtype: {eq: 1}\n"
    "          dns_rcode: {ne: 0}\n"
    "          dns_response: true\n"
    "          family: 6\n"
    "          rev_bytes: {gt: 0}\n"
    "          start: {le: 1000}\n"
    "          end: {ge: 0}\n"
    "    key: [src_ip, dst_port, dst_ip, proto]\n"
    "    aggregates:\n"
    "      n: count\n"
    "      s: {sum: bytes}\n"
    "      m: {mean: duration}\n"
    "      d: {distinct: dst_ip}\n"
    "    condition: {or: [{n: {gt: 1}}, {not: {s: {lt: 2}}}, {m: {ge: 0.5}, d: {ne: 3}}]}\n"
    "  - name: all_flows\n";

static struct s4f_ruleset *rs;

static void eval_all(const struct s4f_flow *f)
{
    uint8_t key[S4F_RULE_KEY_MAX + 1];
    double vals[S4F_RULE_MAX_AGGS] = {0};
    for (size_t i = 0; i < rs->n; i++) {
        if (s4f_rule_match(&rs->rules[i], f)) {
            s4f_rule_key(&rs->rules[i], f, key);
            for (size_t a = 0; a < rs->rules[i].naggs; a++)
                vals[a] = (double)s4f_rule_num(f, (int)a);
            (void)s4f_rule_cond(&rs->rules[i], vals);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!rs) {
        char err[512];
        static const struct s4f_rules_limits lim = {300000, 60000, false};
        struct s4f_conf_doc *doc =
            s4f_conf_load_string(rules, sizeof(rules) - 1, "fuzz.yml", err, sizeof(err));
        if (!doc || !(rs = s4f_rules_compile(doc, &lim, err, sizeof(err))))
            abort();
        s4f_conf_doc_free(doc);
    }
    struct s4f_flow f;
    if (s4f_flow_parse((const char *)data, size, &f, NULL) == S4F_OK)
        eval_all(&f);
    /* Raw values: the flow's fixed part from the bytes, the name as text. */
    s4f_flow_clear(&f);
    size_t fixed = offsetof(struct s4f_flow, dns) + offsetof(struct s4f_dns, name);
    memcpy(&f, data, size < fixed ? size : fixed);
    f.src.family = (f.src.family & 1) ? 6 : 4;
    f.dst.family = (f.dst.family & 1) ? 6 : 4;
    f.side = 0;
    if (size > fixed) {
        size_t n = size - fixed < S4F_DNS_TEXT_MAX ? size - fixed : S4F_DNS_TEXT_MAX;
        memcpy(f.dns.name, data + fixed, n);
        f.dns.name[n] = '\0';
    }
    eval_all(&f);
    return 0;
}
