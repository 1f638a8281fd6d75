/* pattern_finder configuration reader and per-flow evaluation (see pf_config.h). */
#include "pf_config.h"

#include "s4f.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- elements ----------------------------------------------------------------------------- */

enum pf_ekind { EK_NUM, EK_ADDR, EK_TEXT };

enum {
    E_SRC4,
    E_DST4,
    E_SRC6,
    E_DST6,
    E_SPORT,
    E_DPORT,
    E_PROTO,
    E_FLAGS,
    E_PACKETS,
    E_BYTES,
    E_START,
    E_END,
    E_RPACKETS,
    E_RBYTES,
    E_DNSNAME,
    E_DNSCRRNAME,
    E_DNSQTYPE,
    E_N,
};

static const struct {
    const char *name, *alias;
    uint8_t kind;
} elements[E_N] = {
    [E_SRC4] = {"ipfix.sourceIPv4Address", NULL, EK_ADDR},
    [E_DST4] = {"ipfix.destinationIPv4Address", NULL, EK_ADDR},
    [E_SRC6] = {"ipfix.sourceIPv6Address", NULL, EK_ADDR},
    [E_DST6] = {"ipfix.destinationIPv6Address", NULL, EK_ADDR},
    [E_SPORT] = {"ipfix.sourceTransportPort", NULL, EK_NUM},
    [E_DPORT] = {"ipfix.destinationTransportPort", NULL, EK_NUM},
    [E_PROTO] = {"ipfix.protocolIdentifier", NULL, EK_NUM},
    [E_FLAGS] = {"ipfix.tcpControlBits", NULL, EK_NUM},
    [E_PACKETS] = {"ipfix.packetDeltaCount", NULL, EK_NUM},
    [E_BYTES] = {"ipfix.octetDeltaCount", NULL, EK_NUM},
    [E_START] = {"ipfix.flowStartMilliseconds", NULL, EK_NUM},
    [E_END] = {"ipfix.flowEndMilliseconds", NULL, EK_NUM},
    [E_RPACKETS] = {"ipfix.reversePacketDeltaCount", NULL, EK_NUM},
    [E_RBYTES] = {"ipfix.reverseOctetDeltaCount", NULL, EK_NUM},
    [E_DNSNAME] = {"ipfix.DNSName", "ipfix.DNS_NAME", EK_TEXT},
    [E_DNSCRRNAME] = {"ipfix.DNSCrrName", NULL, EK_TEXT},
    [E_DNSQTYPE] = {"ipfix.DNSQType", "ipfix.DNS_QTYPE", EK_NUM},
};

static bool present(uint8_t e, const struct s4f_flow *f)
{
    switch (e) {
    case E_SRC4:
    case E_DST4:
        return f->src.family == 4;
    case E_SRC6:
    case E_DST6:
        return f->src.family == 6;
    case E_DNSNAME:
    case E_DNSCRRNAME:
    case E_DNSQTYPE:
        return (f->dns.flags & S4F_DNS_PRESENT) != 0;
    default:
        return true;
    }
}

static double num(uint8_t e, const struct s4f_flow *f)
{
    switch (e) {
    case E_SPORT:
        return f->sport;
    case E_DPORT:
        return f->dport;
    case E_PROTO:
        return f->proto;
    case E_FLAGS:
        return f->tcp_flags;
    case E_PACKETS:
        return (double)f->packets;
    case E_BYTES:
        return (double)f->bytes;
    case E_START:
        return (double)f->start_ms;
    case E_END:
        return (double)f->end_ms;
    case E_RPACKETS:
        return (double)f->rev_packets;
    case E_RBYTES:
        return (double)f->rev_bytes;
    case E_DNSQTYPE:
        return f->dns.qtype;
    default:
        return NAN;
    }
}

static const struct s4f_addr *addr(uint8_t e, const struct s4f_flow *f)
{
    return e == E_SRC4 || e == E_SRC6 ? &f->src : &f->dst;
}

static void text(uint8_t e, const struct s4f_flow *f, char *out, size_t len)
{
    if (!present(e, f)) {
        snprintf(out, len, "%s", "");
    } else if (elements[e].kind == EK_ADDR) {
        char b[64];
        snprintf(out, len, "%s", s4f_addr_str(addr(e, f), b, sizeof(b)));
    } else if (elements[e].kind == EK_TEXT) {
        snprintf(out, len, "%s", e == E_DNSNAME ? f->dns.name : f->dns.crr_name);
    } else {
        snprintf(out, len, "%.0f", num(e, f));
    }
}

/* ---- reading ------------------------------------------------------------------------------ */

struct rd {
    const struct s4f_conf_doc *doc;
    char *err;
    size_t errlen;
    bool failed;
};

static void fail(struct rd *r, const struct s4f_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct rd *r, const struct s4f_node *at, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    int n = snprintf(r->err, r->errlen, "%s:%zu:%zu: ", r->doc->file, at ? at->line : 1,
                     at ? at->col : 1);
    if (n < 0 || (size_t)n >= r->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static const struct s4f_node *need(struct rd *r, const struct s4f_node *map, const char *key,
                                   enum s4f_node_kind kind)
{
    const struct s4f_node *n = s4f_node_get(map, key);
    if (!n) {
        fail(r, map, "missing '%s'", key);
        return NULL;
    }
    if (n->kind != kind) {
        fail(r, n, "'%s': expected %s", key,
             kind == S4F_NODE_SCALAR ? "a value"
             : kind == S4F_NODE_SEQ  ? "a list"
                                     : "a map");
        return NULL;
    }
    return n;
}

static int check_keys(struct rd *r, const struct s4f_node *map, const char *const *allowed)
{
    for (size_t i = 0; i < map->n; i++) {
        size_t j = 0;
        while (allowed[j] && strcmp(allowed[j], map->keys[i]) != 0)
            j++;
        if (!allowed[j]) {
            struct s4f_node at = {.line = map->key_lines[i], .col = map->key_cols[i]};
            fail(r, &at, "unknown key '%s'", map->keys[i]);
            return -1;
        }
    }
    return 0;
}

static int number(struct rd *r, const struct s4f_node *n, double *out)
{
    char *end;
    if (n->kind != S4F_NODE_SCALAR || !n->value[0]) {
        fail(r, n, "expected a number");
        return -1;
    }
    *out = strtod(n->value, &end);
    if (*end || !isfinite(*out)) {
        fail(r, n, "'%s' is not a number", n->value);
        return -1;
    }
    return 0;
}

static int element(struct rd *r, const struct s4f_node *n, uint8_t *out)
{
    if (n->kind != S4F_NODE_SCALAR) {
        fail(r, n, "expected an IPFIX element name");
        return -1;
    }
    for (uint8_t i = 0; i < E_N; i++)
        if (strcmp(n->value, elements[i].name) == 0 ||
            (elements[i].alias && strcmp(n->value, elements[i].alias) == 0)) {
            *out = i;
            return 0;
        }
    fail(r, n, "element '%s' is not one the worker reads (docs/pattern_finder.md)", n->value);
    return -1;
}

/* A list of numbers (or one number) into out; its length in *n. */
static int numbers(struct rd *r, const struct s4f_node *n, double *out, size_t max, size_t *cnt)
{
    size_t k = n->kind == S4F_NODE_SEQ ? n->n : 1;
    if (n->kind == S4F_NODE_MAP || k == 0 || k > max) {
        fail(r, n, "expected 1 to %zu numbers", max);
        return -1;
    }
    for (size_t i = 0; i < k; i++)
        if (number(r, n->kind == S4F_NODE_SEQ ? n->items[i] : n, &out[i]) != 0)
            return -1;
    *cnt = k;
    return 0;
}

static int read_filter(struct rd *r, const struct s4f_node *n, struct pf_filter *f)
{
    static const char *const keys[] = {"element_names", "type", "values", "value", NULL};
    static const char *const cmps[] = {"eq", "ne", "lt", "le", "gt", "ge"};
    if (n->kind != S4F_NODE_MAP) {
        fail(r, n, "a filter item is a map (element_names, type, values)");
        return -1;
    }
    if (check_keys(r, n, keys) != 0)
        return -1;
    const struct s4f_node *en = need(r, n, "element_names", S4F_NODE_SEQ),
                          *tn = need(r, n, "type", S4F_NODE_SCALAR);
    if (!en || !tn)
        return -1;
    if (en->n == 0 || en->n > PF_MAX_ELEMS) {
        fail(r, en, "1 to %d element names", PF_MAX_ELEMS);
        return -1;
    }
    for (size_t i = 0; i < en->n; i++)
        if (element(r, en->items[i], &f->elems[f->nelems++]) != 0)
            return -1;
    const char *t = tn->value;
    if (strcmp(t, "exists") == 0)
        f->type = PF_F_EXISTS;
    else if (strcmp(t, "int") == 0)
        f->type = PF_F_INT;
    else if (strcmp(t, "ip") == 0)
        f->type = PF_F_IP;
    else if (strcmp(t, "nin") == 0)
        f->type = PF_F_NIN;
    else {
        f->type = PF_F_CMP;
        size_t i = 0;
        while (i < 6 && strcmp(t, cmps[i]) != 0)
            i++;
        if (i == 6) {
            fail(r, tn, "unknown filter type '%s' (ip, exists, int, nin, eq, ne, lt, le, gt, ge)",
                 t);
            return -1;
        }
        f->cmp = (uint8_t)i;
    }
    if (f->type == PF_F_EXISTS)
        return 0;
    const struct s4f_node *vn = s4f_node_get(n, "values");
    if (!vn)
        vn = s4f_node_get(n, "value");
    if (!vn) {
        fail(r, n, "filter type %s needs values", t);
        return -1;
    }
    size_t k = vn->kind == S4F_NODE_SEQ ? vn->n : 1;
    if (vn->kind == S4F_NODE_MAP || k == 0 || k > PF_MAX_FVALUES) {
        fail(r, vn, "1 to %d values", PF_MAX_FVALUES);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        const struct s4f_node *it = vn->kind == S4F_NODE_SEQ ? vn->items[i] : vn;
        if (it->kind != S4F_NODE_SCALAR) {
            fail(r, it, "expected a value");
            return -1;
        }
        for (size_t e = 0; e < f->nelems; e++) {
            uint8_t kind = elements[f->elems[e]].kind;
            bool bad = (f->type == PF_F_IP && kind != EK_ADDR) ||
                       ((f->type == PF_F_INT || f->type == PF_F_CMP) && kind != EK_NUM);
            if (bad) {
                fail(r, en->items[e], "type mismatch: filter type %s on %s", t,
                     elements[f->elems[e]].name);
                return -1;
            }
        }
        if (f->type == PF_F_IP) {
            if (s4f_cidr_parse(it->value, &f->cidrs[i]) != 0) {
                fail(r, it, "'%s' is not an address or prefix", it->value);
                return -1;
            }
        } else if (f->type == PF_F_NIN) {
            if (!(f->texts[i] = strdup(it->value))) {
                fail(r, it, "out of memory");
                return -1;
            }
            char *end;
            f->nums[i] = strtod(it->value, &end);
            if (*end || !it->value[0])
                f->nums[i] = NAN;
        } else if (number(r, it, &f->nums[i]) != 0) {
            return -1;
        }
        f->nvals++;
    }
    return 0;
}

static int read_value(struct rd *r, const struct s4f_node *n, struct pf_value *v)
{
    static const char *const ops[] = {"add", "sub",      "mul", "truediv",
                                      "div", "floordiv", "mod", NULL};
    if (n->kind != S4F_NODE_MAP) {
        fail(r, n, "a vector value is a map (type: element, direct, operation or module)");
        return -1;
    }
    const struct s4f_node *tn = need(r, n, "type", S4F_NODE_SCALAR);
    if (!tn)
        return -1;
    const char *t = tn->value;
    if (strcmp(t, "element") == 0) {
        static const char *const keys[] = {"type", "element", NULL};
        const struct s4f_node *e = need(r, n, "element", S4F_NODE_SCALAR);
        if (check_keys(r, n, keys) != 0 || !e || element(r, e, &v->elems[0]) != 0)
            return -1;
        if (elements[v->elems[0]].kind != EK_NUM) {
            fail(r, e, "type mismatch: %s is not a number", e->value);
            return -1;
        }
        v->type = PF_V_ELEMENT;
        v->nelems = 1;
        return 0;
    }
    if (strcmp(t, "direct") == 0) {
        static const char *const keys[] = {"type", "value", NULL};
        const struct s4f_node *d = need(r, n, "value", S4F_NODE_SCALAR);
        v->type = PF_V_DIRECT;
        return check_keys(r, n, keys) != 0 || !d ? -1 : number(r, d, &v->direct);
    }
    const struct s4f_node *en = NULL;
    if (strcmp(t, "operation") == 0) {
        static const char *const keys[] = {"type", "operator", "elements", NULL};
        const struct s4f_node *o = need(r, n, "operator", S4F_NODE_SCALAR);
        if (check_keys(r, n, keys) != 0 || !o)
            return -1;
        size_t i = 0;
        while (ops[i] && strcmp(ops[i], o->value) != 0)
            i++;
        if (!ops[i]) {
            fail(r, o, "unknown operator '%s' (add, sub, mul, truediv, div, floordiv, mod)",
                 o->value);
            return -1;
        }
        v->type = PF_V_OPERATION;
        v->op = (uint8_t)i;
    } else if (strcmp(t, "module") == 0) {
        static const char *const keys[] = {"type", "name", "function", "elements", NULL};
        const struct s4f_node *m = need(r, n, "name", S4F_NODE_SCALAR);
        const struct s4f_node *fn = s4f_node_get(n, "function");
        if (check_keys(r, n, keys) != 0 || !m)
            return -1;
        if (strcmp(m->value, "element_entropy") != 0 ||
            (fn && (fn->kind != S4F_NODE_SCALAR || strcmp(fn->value, "element_entropy") != 0))) {
            fail(r, m, "unknown module (element_entropy is the one module)");
            return -1;
        }
        v->type = PF_V_ENTROPY;
    } else if (strcmp(t, "default_function") == 0) {
        fail(r, tn,
             "default_function (Python eval of configuration text) is not supported: "
             "configuration is not code");
        return -1;
    } else {
        fail(r, tn, "unknown value type '%s' (element, direct, operation, module)", t);
        return -1;
    }
    if (!(en = need(r, n, "elements", S4F_NODE_SEQ)))
        return -1;
    if (en->n == 0 || en->n > PF_MAX_ELEMS || (v->type == PF_V_ENTROPY && en->n != 1)) {
        fail(r, en,
             v->type == PF_V_ENTROPY ? "element_entropy takes one element" : "1 to 8 elements");
        return -1;
    }
    for (size_t i = 0; i < en->n; i++) {
        if (element(r, en->items[i], &v->elems[v->nelems++]) != 0)
            return -1;
        if (v->type == PF_V_OPERATION && elements[v->elems[i]].kind != EK_NUM) {
            fail(r, en->items[i], "type mismatch: %s is not a number", en->items[i]->value);
            return -1;
        }
    }
    return 0;
}

static int read_dist(struct rd *r, const struct s4f_node *n, const struct pf_dist *def,
                     struct pf_dist *d)
{
    static const char *const keys[] = {"intervals", "weights", "limit", NULL};
    if (n->kind != S4F_NODE_MAP) {
        fail(r, n, "a distribution is a map (intervals, weights, limit)");
        return -1;
    }
    if (check_keys(r, n, keys) != 0)
        return -1;
    if (def)
        *d = *def;
    const struct s4f_node *in = s4f_node_get(n, "intervals"), *wn = s4f_node_get(n, "weights"),
                          *ln = s4f_node_get(n, "limit");
    size_t ni = d->nbins, nw = d->nbins;
    if (in && numbers(r, in, d->intervals, PF_MAX_BINS, &ni) != 0)
        return -1;
    if (wn && numbers(r, wn, d->weights, PF_MAX_BINS, &nw) != 0)
        return -1;
    if (ln && number(r, ln, &d->limit) != 0)
        return -1;
    if (!in || (!wn && !def) || (!ln && !def)) {
        fail(r, n,
             "a distribution needs intervals, weights and limit (a pattern's own may take "
             "weights and limit from default)");
        return -1;
    }
    if (ni != nw) {
        fail(r, in, "%zu intervals but %zu weights", ni, nw);
        return -1;
    }
    for (size_t i = 1; i < ni; i++)
        if (d->intervals[i] <= d->intervals[i - 1]) {
            fail(r, in, "intervals must increase");
            return -1;
        }
    d->nbins = ni;
    return 0;
}

static int read_distance(struct rd *r, const struct s4f_node *n, struct pf_config *c)
{
    static const char *const keys[] = {"distance_module", "patterns", "distribution", NULL};
    if (check_keys(r, n, keys) != 0)
        return -1;
    const struct s4f_node *mn = need(r, n, "distance_module", S4F_NODE_SCALAR),
                          *pn = need(r, n, "patterns", S4F_NODE_SEQ),
                          *dn = need(r, n, "distribution", S4F_NODE_MAP);
    if (!mn || !pn || !dn)
        return -1;
    bool bi = strcmp(mn->value, "biflow_quadratic_form") == 0;
    if (!bi && strcmp(mn->value, "simple_quadratic_form") != 0) {
        fail(r, mn, "unknown distance module (biflow_quadratic_form, simple_quadratic_form)");
        return -1;
    }
    if (bi != c->biflow) {
        fail(r, mn, "%s needs %s vectors", mn->value, bi ? "biflow" : "simple");
        return -1;
    }
    if (pn->n == 0 || pn->n > PF_MAX_PATTERNS) {
        fail(r, pn, "1 to %d patterns", PF_MAX_PATTERNS);
        return -1;
    }
    for (size_t i = 0; i < pn->n; i++) {
        const struct s4f_node *p = pn->items[i];
        static const char *const bkeys[] = {"name", "request", "response", NULL};
        static const char *const skeys[] = {"name", "vector", NULL};
        if (p->kind != S4F_NODE_MAP) {
            fail(r, p, "a pattern is a map");
            return -1;
        }
        if (check_keys(r, p, bi ? bkeys : skeys) != 0)
            return -1;
        const struct s4f_node *nm = need(r, p, "name", S4F_NODE_SCALAR);
        if (!nm)
            return -1;
        struct pf_pattern *pt = &c->patterns[c->npatterns++];
        snprintf(pt->name, sizeof(pt->name), "%s", nm->value);
        for (int side = 0; side < (bi ? 2 : 1); side++) {
            const char *k = bi ? (side ? "response" : "request") : "vector";
            const struct s4f_node *vn = need(r, p, k, S4F_NODE_SEQ);
            size_t cnt;
            if (!vn || numbers(r, vn, side ? pt->resp : pt->req, PF_MAX_VALUES, &cnt) != 0)
                return -1;
            /* the original zipped pattern and vector: a shorter one silently dropped values */
            if (cnt != c->nvalues) {
                fail(r, vn, "pattern %s has %zu values, the vector %zu", pt->name, cnt, c->nvalues);
                return -1;
            }
        }
    }
    const struct s4f_node *def = s4f_node_get(dn, "default");
    struct pf_dist dd = {0};
    if (def && read_dist(r, def, NULL, &dd) != 0)
        return -1;
    for (size_t i = 0; i < dn->n; i++) {
        size_t j = 0;
        while (j < c->npatterns && strcmp(dn->keys[i], "default") != 0 &&
               strcmp(dn->keys[i], c->patterns[j].name) != 0)
            j++;
        if (j == c->npatterns) {
            struct s4f_node at = {.line = dn->key_lines[i], .col = dn->key_cols[i]};
            fail(r, &at, "distribution of unknown pattern '%s'", dn->keys[i]);
            return -1;
        }
    }
    for (size_t j = 0; j < c->npatterns; j++) {
        const struct s4f_node *own = s4f_node_get(dn, c->patterns[j].name);
        if (own) {
            if (read_dist(r, own, def ? &dd : NULL, &c->dists[j]) != 0)
                return -1;
        } else if (def) {
            c->dists[j] = dd;
        } else {
            fail(r, dn, "no distribution for pattern %s and no default", c->patterns[j].name);
            return -1;
        }
    }
    return 0;
}

static int read_config(struct rd *r, const struct s4f_node *root, struct pf_config *c)
{
    static const char *const top[] = {"configuration", "filter",   "vectors",
                                      "output",        "distance", NULL};
    if (check_keys(r, root, top) != 0)
        return -1;
    /* configuration */
    const struct s4f_node *cn = need(r, root, "configuration", S4F_NODE_MAP);
    if (!cn)
        return -1;
    static const char *const ckeys[] = {"name", "window", "slice", NULL};
    if (check_keys(r, cn, ckeys) != 0)
        return -1;
    const struct s4f_node *nm = need(r, cn, "name", S4F_NODE_SCALAR),
                          *wn = need(r, cn, "window", S4F_NODE_SCALAR);
    double win;
    if (!nm || !wn || number(r, wn, &win) != 0)
        return -1;
    if (win < 1 || win > 86400 || win != floor(win)) {
        fail(r, wn, "window: whole seconds, 1 to 86400");
        return -1;
    }
    c->window_ms = (int64_t)win * 1000;
    snprintf(c->name, sizeof(c->name), "%s", nm->value);
    /* filter */
    const struct s4f_node *fn = s4f_node_get(root, "filter");
    if (fn) {
        if (fn->kind != S4F_NODE_SEQ || fn->n > PF_MAX_FILTERS) {
            fail(r, fn, "filter: a list of at most %d items", PF_MAX_FILTERS);
            return -1;
        }
        for (size_t i = 0; i < fn->n; i++)
            if (read_filter(r, fn->items[i], &c->filters[c->nfilters++]) != 0)
                return -1;
    }
    /* vectors */
    const struct s4f_node *vn = need(r, root, "vectors", S4F_NODE_MAP);
    if (!vn)
        return -1;
    static const char *const vkeys[] = {"key", "values", NULL};
    if (check_keys(r, vn, vkeys) != 0)
        return -1;
    const struct s4f_node *kn = need(r, vn, "key", S4F_NODE_MAP),
                          *valn = need(r, vn, "values", S4F_NODE_SEQ);
    if (!kn || !valn)
        return -1;
    const struct s4f_node *kt = need(r, kn, "type", S4F_NODE_SCALAR);
    if (!kt)
        return -1;
    if (strcmp(kt->value, "biflow") == 0) {
        static const char *const bk[] = {"type", "elements", "time_difference", NULL};
        static const char *const roles[] = {"src_ip",   "dst_ip",     "src_port",
                                            "dst_port", "flow_start", NULL};
        if (check_keys(r, kn, bk) != 0)
            return -1;
        c->biflow = true;
        const struct s4f_node *el = need(r, kn, "elements", S4F_NODE_MAP),
                              *td = need(r, kn, "time_difference", S4F_NODE_SCALAR);
        double tdv;
        if (!el || !td || check_keys(r, el, roles) != 0 || number(r, td, &tdv) != 0)
            return -1;
        if (tdv < 0 || tdv > 3600000) {
            fail(r, td, "time_difference: 0 to 3600000 ms");
            return -1;
        }
        c->time_difference_ms = (int64_t)tdv;
        for (size_t i = 0; roles[i]; i++) {
            const struct s4f_node *e = need(r, el, roles[i], S4F_NODE_SCALAR);
            uint8_t id;
            if (!e || element(r, e, &id) != 0)
                return -1;
        }
    } else if (strcmp(kt->value, "simple") == 0) {
        static const char *const sk[] = {"type", "elements", NULL};
        const struct s4f_node *el = need(r, kn, "elements", S4F_NODE_SEQ);
        if (check_keys(r, kn, sk) != 0 || !el)
            return -1;
        if (el->n == 0 || el->n > PF_MAX_ELEMS) {
            fail(r, el, "1 to %d key elements", PF_MAX_ELEMS);
            return -1;
        }
        for (size_t i = 0; i < el->n; i++)
            if (element(r, el->items[i], &c->key_elems[c->nkey++]) != 0)
                return -1;
    } else {
        fail(r, kt, "vector key type: biflow or simple");
        return -1;
    }
    if (valn->n == 0 || valn->n > PF_MAX_VALUES) {
        fail(r, valn, "1 to %d vector values", PF_MAX_VALUES);
        return -1;
    }
    for (size_t i = 0; i < valn->n; i++)
        if (read_value(r, valn->items[i], &c->values[c->nvalues++]) != 0)
            return -1;
    /* output */
    const struct s4f_node *on = s4f_node_get(root, "output");
    if (on) {
        if (on->kind != S4F_NODE_SEQ || on->n > PF_MAX_OUTPUTS) {
            fail(r, on, "output: a list of at most %d fields", PF_MAX_OUTPUTS);
            return -1;
        }
        for (size_t i = 0; i < on->n; i++) {
            static const char *const okeys[] = {"name", "element", "type", NULL};
            const struct s4f_node *o = on->items[i];
            if (o->kind != S4F_NODE_MAP || check_keys(r, o, okeys) != 0) {
                fail(r, o, "an output is a map (name, element, type)");
                return -1;
            }
            const struct s4f_node *onm = need(r, o, "name", S4F_NODE_SCALAR),
                                  *oe = need(r, o, "element", S4F_NODE_SCALAR),
                                  *ot = need(r, o, "type", S4F_NODE_SCALAR);
            struct pf_output *po = &c->outputs[c->noutputs];
            if (!onm || !oe || !ot || element(r, oe, &po->elem) != 0)
                return -1;
            static const char *const reserved[] = {
                "@type",      "@timestamp",       "window_start", "window_end",
                "id",         "configuration",    "vector_key",   "vectors",
                "data_array", "closest_patterns", "confidence",   NULL};
            for (size_t j = 0; reserved[j]; j++)
                if (strcmp(onm->value, reserved[j]) == 0) {
                    fail(r, onm, "output name %s is a field of every result", onm->value);
                    return -1;
                }
            bool ok = c->biflow
                          ? strcmp(ot->value, "request") == 0 || strcmp(ot->value, "response") == 0
                          : strcmp(ot->value, "simple") == 0;
            if (!ok) {
                fail(r, ot, "output type: %s", c->biflow ? "request or response" : "simple");
                return -1;
            }
            snprintf(po->name, sizeof(po->name), "%s", onm->value);
            po->response = strcmp(ot->value, "response") == 0;
            c->noutputs++;
        }
    }
    /* distance */
    const struct s4f_node *dn = need(r, root, "distance", S4F_NODE_MAP);
    return dn ? read_distance(r, dn, c) : -1;
}

void pf_config_free(struct pf_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nfilters; i++)
        for (size_t j = 0; j < c->filters[i].nvals; j++)
            free(c->filters[i].texts[j]);
    free(c);
}

struct pf_config *pf_config_parse(const struct s4f_conf_doc *doc, char *err, size_t errlen)
{
    struct rd r = {doc, err, errlen, false};
    struct pf_config *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (read_config(&r, doc->root, c) != 0) {
        pf_config_free(c); /* the item that failed is counted: its texts are freed too */
        return NULL;
    }
    return c;
}

struct pf_config *pf_config_load(const char *path, char *err, size_t errlen)
{
    struct s4f_conf_doc *doc = s4f_conf_load(path, err, errlen);
    if (!doc)
        return NULL;
    struct pf_config *c = pf_config_parse(doc, err, errlen);
    s4f_conf_doc_free(doc);
    return c;
}

/* ---- evaluation --------------------------------------------------------------------------- */

static bool cmp(int op, double a, double b)
{
    switch (op) {
    case 0:
        return a == b;
    case 1:
        return a != b;
    case 2:
        return a < b;
    case 3:
        return a <= b;
    case 4:
        return a > b;
    default:
        return a >= b;
    }
}

static bool item(const struct pf_filter *it, const struct s4f_flow *f)
{
    if (it->type == PF_F_EXISTS) {
        for (size_t e = 0; e < it->nelems; e++)
            if (!present(it->elems[e], f))
                return false;
        return true;
    }
    if (it->type == PF_F_NIN) {
        char t[S4F_DNS_TEXT_MAX + 1];
        for (size_t e = 0; e < it->nelems; e++) {
            if (!present(it->elems[e], f))
                continue;
            text(it->elems[e], f, t, sizeof(t));
            for (size_t v = 0; v < it->nvals; v++)
                if (strcmp(t, it->texts[v]) == 0)
                    return false;
        }
        return true;
    }
    for (size_t e = 0; e < it->nelems; e++) {
        uint8_t el = it->elems[e];
        if (!present(el, f))
            continue;
        for (size_t v = 0; v < it->nvals; v++) {
            if (it->type == PF_F_IP
                    ? s4f_cidr_contains(&it->cidrs[v], addr(el, f))
                    : cmp(it->type == PF_F_INT ? 0 : it->cmp, num(el, f), it->nums[v]))
                return true;
        }
    }
    return false;
}

bool pf_filter(const struct pf_config *c, const struct s4f_flow *f)
{
    for (size_t i = 0; i < c->nfilters; i++)
        if (!item(&c->filters[i], f))
            return false;
    return true;
}

void pf_simple_key(const struct pf_config *c, const struct s4f_flow *f, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->nkey && o < len; i++) {
        char t[S4F_DNS_TEXT_MAX + 1];
        text(c->key_elems[i], f, t, sizeof(t));
        int n = snprintf(out + o, len - o, "%s%s", i ? "-" : "", t);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* Shannon entropy (bits per character) of a text. */
static double entropy(const char *s)
{
    size_t counts[256] = {0}, n = 0;
    for (; *s; s++, n++)
        counts[(unsigned char)*s]++;
    double h = 0;
    for (size_t i = 0; i < 256; i++)
        if (counts[i]) {
            double p = (double)counts[i] / (double)n;
            h -= p * log2(p);
        }
    return h;
}

void pf_vector(const struct pf_config *c, const struct s4f_flow *f, double *out)
{
    for (size_t i = 0; i < c->nvalues; i++) {
        const struct pf_value *v = &c->values[i];
        switch (v->type) {
        case PF_V_ELEMENT:
            out[i] = num(v->elems[0], f);
            break;
        case PF_V_DIRECT:
            out[i] = v->direct;
            break;
        case PF_V_ENTROPY: {
            char t[S4F_DNS_TEXT_MAX + 1];
            text(v->elems[0], f, t, sizeof(t));
            out[i] = entropy(t);
            break;
        }
        default: { /* operation: a left fold over the elements */
            double a = num(v->elems[0], f);
            for (size_t e = 1; e < v->nelems; e++) {
                double b = num(v->elems[e], f);
                switch (v->op) {
                case 0:
                    a += b;
                    break;
                case 1:
                    a -= b;
                    break;
                case 2:
                    a *= b;
                    break;
                case 3:
                case 4:
                    a = b != 0 ? a / b : NAN;
                    break;
                case 5:
                    a = b != 0 ? floor(a / b) : NAN;
                    break;
                default:
                    a = b != 0 ? a - b * floor(a / b) : NAN;
                    break;
                }
            }
            out[i] = a;
            break;
        }
        }
    }
}

double pf_distance(const struct pf_config *c, size_t i, const double *req, const double *resp)
{
    const struct pf_pattern *p = &c->patterns[i];
    double s = 0;
    for (int side = 0; side < (resp ? 2 : 1); side++) {
        const double *v = side ? resp : req, *pv = side ? p->resp : p->req;
        for (size_t k = 0; k < c->nvalues; k++) {
            if (pv[k] == 0) {
                if (v[k] == 0 && resp)
                    continue; /* biflow: an exact zero matches */
                return INFINITY;
            }
            double t = (v[k] - pv[k]) / pv[k];
            s += t * t;
        }
    }
    return sqrt(s);
}

int pf_bin(const struct pf_dist *d, double dist)
{
    if (isnan(dist) || d->nbins == 0 || dist < d->intervals[0])
        return -1;
    int b = 0;
    while ((size_t)b + 1 < d->nbins && dist >= d->intervals[b + 1])
        b++;
    return b;
}

void pf_output_text(const struct pf_config *c, size_t o, const struct s4f_flow *req,
                    const struct s4f_flow *resp, char *out, size_t len)
{
    const struct pf_output *po = &c->outputs[o];
    text(po->elem, po->response && resp ? resp : req, out, len);
}
