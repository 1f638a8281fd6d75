/* The rule compiler and the filter evaluator (see rules_compile.h and docs/rules.md). */
#include "rules_compile.h"

#include "s4f.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* clang-format off */
const struct s4f_rfield_info s4f_rfields[S4F_RF_N] = {
    [S4F_RF_SRC_IP] = {"src_ip", S4F_RK_ADDR, 0, 0, false, false, "source address"},
    [S4F_RF_DST_IP] = {"dst_ip", S4F_RK_ADDR, 0, 0, false, false, "destination address"},
    [S4F_RF_SRC_PORT] = {"src_port", S4F_RK_NUM, 0, 65535, false, false, "source port"},
    [S4F_RF_DST_PORT] = {"dst_port", S4F_RK_NUM, 0, 65535, false, false, "destination port"},
    [S4F_RF_PROTO] = {"proto", S4F_RK_NUM, 0, 255, false, false, "IP protocol (tcp, udp, icmp, 6...)"},
    [S4F_RF_TCP_FLAGS] = {"tcp_flags", S4F_RK_NUM, 0, 65535, false, false, "TCP flags (FIN SYN RST PSH ACK URG ECE CWR)"},
    [S4F_RF_PACKETS] = {"packets", S4F_RK_NUM, 0, INT64_MAX, false, false, "packets"},
    [S4F_RF_BYTES] = {"bytes", S4F_RK_NUM, 0, INT64_MAX, false, false, "bytes"},
    [S4F_RF_REV_PACKETS] = {"rev_packets", S4F_RK_NUM, 0, INT64_MAX, false, false, "biflow: packets back"},
    [S4F_RF_REV_BYTES] = {"rev_bytes", S4F_RK_NUM, 0, INT64_MAX, false, false, "biflow: bytes back"},
    [S4F_RF_START] = {"start", S4F_RK_NUM, 0, INT64_MAX, true, false, "flow start (epoch ms)"},
    [S4F_RF_END] = {"end", S4F_RK_NUM, 0, INT64_MAX, true, false, "flow end (epoch ms)"},
    [S4F_RF_DURATION] = {"duration", S4F_RK_NUM, INT64_MIN, INT64_MAX, false, false, "end - start (ms; 12s, 500ms accepted)"},
    [S4F_RF_FAMILY] = {"family", S4F_RK_NUM, 4, 6, false, false, "address family (4 or 6)"},
    [S4F_RF_DNS_NAME] = {"dns_name", S4F_RK_STR, 0, 0, false, true, "DNS question name"},
    [S4F_RF_DNS_QTYPE] = {"dns_qtype", S4F_RK_NUM, 0, 65535, false, true, "DNS question type"},
    [S4F_RF_DNS_RCODE] = {"dns_rcode", S4F_RK_NUM, 0, 15, false, true, "DNS response code"},
    [S4F_RF_DNS_RESPONSE] = {"dns_response", S4F_RK_NUM, 0, 1, false, true, "DNS response (true) or query (false)"},
};
/* clang-format on */

static const char *const cmp_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};
static const char *const agg_names[] = {"count", "sum", "min", "max", "mean", "distinct", "top"};

/* ---- evaluation ------------------------------------------------------------------------- */

int64_t s4f_rule_num(const struct s4f_flow *f, int field)
{
    switch (field) {
    case S4F_RF_SRC_PORT:
        return f->sport;
    case S4F_RF_DST_PORT:
        return f->dport;
    case S4F_RF_PROTO:
        return f->proto;
    case S4F_RF_TCP_FLAGS:
        return f->tcp_flags;
    case S4F_RF_PACKETS:
        return f->packets > INT64_MAX ? INT64_MAX : (int64_t)f->packets;
    case S4F_RF_BYTES:
        return f->bytes > INT64_MAX ? INT64_MAX : (int64_t)f->bytes;
    case S4F_RF_REV_PACKETS:
        return f->rev_packets > INT64_MAX ? INT64_MAX : (int64_t)f->rev_packets;
    case S4F_RF_REV_BYTES:
        return f->rev_bytes > INT64_MAX ? INT64_MAX : (int64_t)f->rev_bytes;
    case S4F_RF_START:
        return f->start_ms;
    case S4F_RF_END:
        return f->end_ms;
    case S4F_RF_DURATION:
        return f->end_ms - f->start_ms;
    case S4F_RF_FAMILY:
        return f->src.family;
    case S4F_RF_DNS_QTYPE:
        return f->dns.qtype;
    case S4F_RF_DNS_RCODE:
        return f->dns.rcode;
    case S4F_RF_DNS_RESPONSE:
        return (f->dns.flags & S4F_DNS_RESPONSE) ? 1 : 0;
    default:
        return 0;
    }
}

static bool cmp_i(int cmp, int64_t a, int64_t b)
{
    switch (cmp) {
    case S4F_RC_EQ:
        return a == b;
    case S4F_RC_NE:
        return a != b;
    case S4F_RC_LT:
        return a < b;
    case S4F_RC_LE:
        return a <= b;
    case S4F_RC_GT:
        return a > b;
    default:
        return a >= b;
    }
}

static bool cmp_d(int cmp, double a, double b)
{
    switch (cmp) {
    case S4F_RC_EQ:
        return a == b;
    case S4F_RC_NE:
        return a != b;
    case S4F_RC_LT:
        return a < b;
    case S4F_RC_LE:
        return a <= b;
    case S4F_RC_GT:
        return a > b;
    default:
        return a >= b;
    }
}

static bool eval(const struct s4f_rule *r, uint32_t i, const struct s4f_flow *f)
{
    const struct s4f_rnode *n = &r->filter[i];
    switch (n->op) {
    case S4F_ROP_TRUE:
        return true;
    case S4F_ROP_AND:
        for (uint32_t k = 0; k < n->n; k++)
            if (!eval(r, r->fkids[n->first + k], f))
                return false;
        return true;
    case S4F_ROP_OR:
        for (uint32_t k = 0; k < n->n; k++)
            if (eval(r, r->fkids[n->first + k], f))
                return true;
        return false;
    case S4F_ROP_NOT:
        return !eval(r, r->fkids[n->first], f);
    case S4F_ROP_CMP: {
        int64_t v = s4f_rule_num(f, n->field);
        if (n->mask >= 0)
            v &= n->mask;
        return cmp_i(n->cmp, v, n->val);
    }
    case S4F_ROP_IN_NUM: {
        int64_t v = s4f_rule_num(f, n->field);
        if (n->mask >= 0)
            v &= n->mask;
        for (uint32_t k = 0; k < n->n; k++)
            if (v >= r->ranges[n->first + k][0] && v <= r->ranges[n->first + k][1])
                return !n->neg;
        return n->neg;
    }
    case S4F_ROP_IN_ADDR: {
        const struct s4f_addr *a = n->field == S4F_RF_SRC_IP ? &f->src : &f->dst;
        for (uint32_t k = 0; k < n->n; k++)
            if (s4f_cidr_contains(&r->cidrs[n->first + k], a))
                return !n->neg;
        return n->neg;
    }
    case S4F_ROP_IN_STR: {
        const char *s = (f->dns.flags & S4F_DNS_PRESENT) ? f->dns.name : "";
        for (uint32_t k = 0; k < n->n; k++)
            if (strcasecmp(r->strs[n->first + k], s) == 0)
                return !n->neg;
        return n->neg;
    }
    case S4F_ROP_EXISTS: {
        bool present = !s4f_rfields[n->field].optional || (f->dns.flags & S4F_DNS_PRESENT);
        return present != n->neg;
    }
    default:
        return false;
    }
}

bool s4f_rule_match(const struct s4f_rule *r, const struct s4f_flow *f)
{
    return eval(r, 0, f);
}

void s4f_rule_key(const struct s4f_rule *r, const struct s4f_flow *f, uint8_t *out)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->nkeys; i++) {
        int fld = r->keys[i];
        if (s4f_rfields[fld].kind == S4F_RK_ADDR) {
            const struct s4f_addr *a = fld == S4F_RF_SRC_IP ? &f->src : &f->dst;
            memcpy(out + o, a->b, 16);
            out[o + 16] = a->family;
            o += 17;
        } else {
            s4f_put_le(out + o, (uint64_t)s4f_rule_num(f, fld), 8);
            o += 8;
        }
    }
}

static bool ceval(const struct s4f_rule *r, uint32_t i, const double *vals)
{
    const struct s4f_rnode *n = &r->cond[i];
    switch (n->op) {
    case S4F_ROP_TRUE:
        return true;
    case S4F_ROP_AND:
        for (uint32_t k = 0; k < n->n; k++)
            if (!ceval(r, r->ckids[n->first + k], vals))
                return false;
        return true;
    case S4F_ROP_OR:
        for (uint32_t k = 0; k < n->n; k++)
            if (ceval(r, r->ckids[n->first + k], vals))
                return true;
        return false;
    case S4F_ROP_NOT:
        return !ceval(r, r->ckids[n->first], vals);
    case S4F_ROP_CMP:
        return cmp_d(n->cmp, vals[n->field], n->dval);
    default:
        return false;
    }
}

bool s4f_rule_cond(const struct s4f_rule *r, const double *vals)
{
    return !r->cond || ceval(r, 0, vals);
}

/* ---- compilation ------------------------------------------------------------------------ */

struct cc {
    const struct s4f_conf_doc *doc;
    char *err;
    size_t errlen;
    bool failed;
    struct s4f_rule *r;
    bool cond; /* compiling a condition: names are aggregates */
    struct s4f_rnode *nodes;
    uint32_t *kids;
    size_t nn, nk, capn, capk;
};

static void fail(struct cc *c, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(struct cc *c, size_t line, size_t col, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->doc->file, line, col);
    if (n < 0 || (size_t)n >= c->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * size);
    if (!q)
        return false;
    *p = q;
    *cap = nc;
    return true;
}

static int new_node(struct cc *c, const struct s4f_node *at, uint8_t op)
{
    if (c->nn >= S4F_RULE_MAX_NODES) {
        fail(c, at->line, at->col, "too many filter or condition terms (at most %d)",
             S4F_RULE_MAX_NODES);
        return -1;
    }
    if (!grow((void **)&c->nodes, &c->capn, c->nn + 1, sizeof(*c->nodes))) {
        fail(c, at->line, at->col, "out of memory");
        return -1;
    }
    struct s4f_rnode *n = &c->nodes[c->nn];
    memset(n, 0, sizeof(*n));
    n->op = op;
    n->mask = -1;
    return (int)c->nn++;
}

/* Parses an integer: decimal or 0x hex, optional sign, nothing after. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!*s)
        return -1;
    long long v = strtoll(s, &end, 0);
    if (errno || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    int bit;
} flag_names[] = {{"FIN", S4F_TCP_FIN}, {"SYN", S4F_TCP_SYN}, {"RST", S4F_TCP_RST},
                  {"PSH", S4F_TCP_PSH}, {"ACK", S4F_TCP_ACK}, {"URG", S4F_TCP_URG},
                  {"ECE", S4F_TCP_ECE}, {"CWR", S4F_TCP_CWR}};

/* "SYN", "SYN|ACK", "0x12", 18. */
static int parse_flags(const char *s, int64_t *out)
{
    if (parse_i64(s, out) == 0)
        return *out >= 0 && *out <= 65535 ? 0 : -1;
    int64_t v = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, "|,+ ");
        size_t i = 0;
        for (; i < S4F_ARRAY_SIZE(flag_names); i++)
            if (len == strlen(flag_names[i].name) && strncasecmp(p, flag_names[i].name, len) == 0)
                break;
        if (i == S4F_ARRAY_SIZE(flag_names))
            return -1;
        v |= flag_names[i].bit;
        p += len;
        while (*p == '|' || *p == ',' || *p == '+' || *p == ' ')
            p++;
    }
    *out = v;
    return 0;
}

/* A numeric value of field fld from a scalar or (tcp_flags) a list of flag names. */
static int num_value(struct cc *c, int fld, const struct s4f_node *v, int64_t *out)
{
    const struct s4f_rfield_info *fi = &s4f_rfields[fld];
    if (fld == S4F_RF_TCP_FLAGS && v->kind == S4F_NODE_SEQ) {
        int64_t acc = 0, b;
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i]->kind != S4F_NODE_SCALAR || parse_flags(v->items[i]->value, &b)) {
                fail(c, v->items[i]->line, v->items[i]->col, "tcp_flags: not a flag name");
                return -1;
            }
            acc |= b;
        }
        *out = acc;
        return 0;
    }
    if (v->kind != S4F_NODE_SCALAR) {
        fail(c, v->line, v->col, "%s: expected a value", fi->name);
        return -1;
    }
    const char *s = v->value;
    int rc = parse_i64(s, out);
    if (rc != 0) {
        if (fld == S4F_RF_PROTO) {
            static const struct {
                const char *n;
                int p;
            } protos[] = {{"icmp", 1}, {"tcp", 6}, {"udp", 17},    {"gre", 47},
                          {"esp", 50}, {"ah", 51}, {"icmpv6", 58}, {"sctp", 132}};
            for (size_t i = 0; i < S4F_ARRAY_SIZE(protos); i++)
                if (strcasecmp(s, protos[i].n) == 0) {
                    *out = protos[i].p;
                    rc = 0;
                }
        } else if (fld == S4F_RF_TCP_FLAGS) {
            rc = parse_flags(s, out);
        } else if (fld == S4F_RF_DURATION) {
            rc = s4f_parse_duration_ms(s, out);
        } else if (fld == S4F_RF_DNS_RESPONSE) {
            bool b;
            rc = s4f_parse_bool(s, &b);
            *out = b;
        }
    }
    if (rc != 0) {
        fail(c, v->line, v->col, "%s: '%s' is not a valid value (%s)", fi->name, s, fi->help);
        return -1;
    }
    if (*out < fi->min || *out > fi->max) {
        fail(c, v->line, v->col, "%s: %s is out of the field's range (%lld to %lld)", fi->name, s,
             (long long)fi->min, (long long)fi->max);
        return -1;
    }
    return 0;
}

/* Interval of the values a set of comparisons leaves (for the impossible-condition check). */
struct ival {
    double lo, hi;
    bool lo_open, hi_open;
};

static void ival_add(struct ival *iv, int cmp, double v)
{
    switch (cmp) {
    case S4F_RC_EQ:
        if (v > iv->lo || (v == iv->lo && iv->lo_open)) {
            iv->lo = v;
            iv->lo_open = false;
        } else if (v < iv->lo) {
            iv->lo = v;
            iv->hi = v - 1; /* empty */
        }
        if (v < iv->hi || (v == iv->hi && iv->hi_open)) {
            iv->hi = v;
            iv->hi_open = false;
        } else if (v > iv->hi) {
            iv->hi = v;
            iv->lo = v + 1;
        }
        break;
    case S4F_RC_LT:
    case S4F_RC_LE:
        if (v < iv->hi || (v == iv->hi && cmp == S4F_RC_LT)) {
            iv->hi = v;
            iv->hi_open = cmp == S4F_RC_LT;
        }
        break;
    case S4F_RC_GT:
    case S4F_RC_GE:
        if (v > iv->lo || (v == iv->lo && cmp == S4F_RC_GT)) {
            iv->lo = v;
            iv->lo_open = cmp == S4F_RC_GT;
        }
        break;
    default:
        break;
    }
}

static bool ival_empty(struct ival iv, bool integral)
{
    if (integral) {
        iv.lo = iv.lo_open ? floor(iv.lo) + 1 : ceil(iv.lo);
        iv.hi = iv.hi_open ? ceil(iv.hi) - 1 : floor(iv.hi);
        iv.lo_open = iv.hi_open = false;
    }
    return iv.lo > iv.hi || (iv.lo == iv.hi && (iv.lo_open || iv.hi_open));
}

static int find_cmp(const char *k)
{
    for (int i = 0; i < (int)S4F_ARRAY_SIZE(cmp_names); i++)
        if (strcmp(k, cmp_names[i]) == 0)
            return i;
    return -1;
}

static int rfield_find(const char *name)
{
    for (int i = 0; i < S4F_RF_N; i++)
        if (strcmp(s4f_rfields[i].name, name) == 0)
            return i;
    return -1;
}

static int compile_filter(struct cc *c, const struct s4f_node *n, int depth);

/* AND/OR/NOT over the compiled children (indices in c->nodes). */
static int combine(struct cc *c, const struct s4f_node *at, uint8_t op, const int *kids, size_t nk)
{
    if (op == S4F_ROP_AND && nk == 1)
        return kids[0];
    int id = new_node(c, at, op);
    if (id < 0)
        return -1;
    if (!grow((void **)&c->kids, &c->capk, c->nk + nk, sizeof(*c->kids))) {
        fail(c, at->line, at->col, "out of memory");
        return -1;
    }
    c->nodes[id].first = (uint32_t)c->nk;
    c->nodes[id].n = (uint32_t)nk;
    for (size_t i = 0; i < nk; i++)
        c->kids[c->nk++] = (uint32_t)kids[i];
    return id;
}

static int add_set_num(struct cc *c, int fld, const struct s4f_node *item, int64_t mask)
{
    struct s4f_rule *r = c->r;
    int64_t lo, hi;
    /* "a-b" (a range; not a leading minus); "" has no second character to search from */
    const char *dash =
        item->kind == S4F_NODE_SCALAR && item->value[0] ? strchr(item->value + 1, '-') : NULL;
    if (dash && fld != S4F_RF_DURATION) {
        char a[64];
        size_t al = (size_t)(dash - item->value);
        if (al >= sizeof(a)) {
            fail(c, item->line, item->col, "bad range");
            return -1;
        }
        memcpy(a, item->value, al);
        a[al] = '\0';
        struct s4f_node tmp = *item;
        tmp.value = a;
        if (num_value(c, fld, &tmp, &lo) != 0)
            return -1;
        tmp.value = (char *)dash + 1;
        if (num_value(c, fld, &tmp, &hi) != 0)
            return -1;
        if (lo > hi) {
            fail(c, item->line, item->col, "range %s is empty", item->value);
            return -1;
        }
    } else {
        if (num_value(c, fld, item, &lo) != 0)
            return -1;
        hi = lo;
    }
    if (mask >= 0 && lo == hi && (lo & ~mask) != 0) {
        fail(c, item->line, item->col, "%s: value has bits outside the mask: never matches",
             s4f_rfields[fld].name);
        return -1;
    }
    size_t cap = r->nranges; /* exact growth: sets are small and built once */
    void *q = realloc(r->ranges, (cap + 1) * sizeof(*r->ranges));
    if (!q) {
        fail(c, item->line, item->col, "out of memory");
        return -1;
    }
    r->ranges = q;
    r->ranges[r->nranges][0] = lo;
    r->ranges[r->nranges][1] = hi;
    r->nranges++;
    return 0;
}

static int add_set_addr(struct cc *c, const struct s4f_node *item)
{
    struct s4f_rule *r = c->r;
    struct s4f_cidr cd;
    if (item->kind != S4F_NODE_SCALAR || s4f_cidr_parse(item->value, &cd) != 0) {
        fail(c, item->line, item->col,
             "expected an address or a prefix (10.0.0.0/8, 2001:db8::/32)");
        return -1;
    }
    void *q = realloc(r->cidrs, (r->ncidrs + 1) * sizeof(*r->cidrs));
    if (!q) {
        fail(c, item->line, item->col, "out of memory");
        return -1;
    }
    r->cidrs = q;
    r->cidrs[r->ncidrs++] = cd;
    return 0;
}

static int add_set_str(struct cc *c, const struct s4f_node *item)
{
    struct s4f_rule *r = c->r;
    if (item->kind != S4F_NODE_SCALAR || strlen(item->value) > S4F_RULE_STR_MAX) {
        fail(c, item->line, item->col, "expected a text of at most %d bytes", S4F_RULE_STR_MAX);
        return -1;
    }
    void *q = realloc(r->strs, (r->nstrs + 1) * sizeof(*r->strs));
    char *s = strdup(item->value);
    if (!q || !s) {
        free(s);
        if (q)
            r->strs = q;
        fail(c, item->line, item->col, "out of memory");
        return -1;
    }
    r->strs = q;
    r->strs[r->nstrs++] = s;
    return 0;
}

/* A set node (in / not_in / eq / ne on addresses and text) over the items of v. */
static int set_node(struct cc *c, int fld, const struct s4f_node *v, bool neg, int64_t mask)
{
    enum s4f_rkind kind = s4f_rfields[fld].kind;
    uint8_t op = kind == S4F_RK_ADDR  ? S4F_ROP_IN_ADDR
                 : kind == S4F_RK_STR ? S4F_ROP_IN_STR
                                      : S4F_ROP_IN_NUM;
    size_t first = kind == S4F_RK_ADDR  ? c->r->ncidrs
                   : kind == S4F_RK_STR ? c->r->nstrs
                                        : c->r->nranges;
    size_t count = v->kind == S4F_NODE_SEQ ? v->n : 1;
    if (v->kind == S4F_NODE_MAP) {
        fail(c, v->line, v->col, "expected a value or a list of values");
        return -1;
    }
    if (count == 0) {
        if (!neg) {
            fail(c, v->line, v->col, "in: an empty list never matches");
            return -1;
        }
    }
    if (count > S4F_RULE_MAX_SET) {
        fail(c, v->line, v->col, "a list of at most %d values", S4F_RULE_MAX_SET);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const struct s4f_node *item = v->kind == S4F_NODE_SEQ ? v->items[i] : v;
        int rc = kind == S4F_RK_ADDR  ? add_set_addr(c, item)
                 : kind == S4F_RK_STR ? add_set_str(c, item)
                                      : add_set_num(c, fld, item, mask);
        if (rc != 0)
            return -1;
    }
    int id = new_node(c, v, op);
    if (id < 0)
        return -1;
    c->nodes[id].field = (uint8_t)fld;
    c->nodes[id].neg = neg;
    c->nodes[id].mask = mask;
    c->nodes[id].first = (uint32_t)first;
    c->nodes[id].n = (uint32_t)count;
    return id;
}

/* `field: value` or `field: {op: value, ...}` (several operators: all must hold). */
static int compile_field(struct cc *c, int fld, const char *fname, const struct s4f_node *v,
                         size_t kline, size_t kcol)
{
    int kids[16];
    size_t nk = 0;
    const struct s4f_rfield_info *fi = c->cond ? NULL : &s4f_rfields[fld];
    enum s4f_rkind kind = fi ? fi->kind : S4F_RK_NUM;
    bool integral = true;
    struct ival iv = {-INFINITY, INFINITY, false, false};
    if (fi) {
        iv.lo = (double)fi->min;
        iv.hi = (double)fi->max;
    } else {
        const struct s4f_ragg *a = &c->r->aggs[fld];
        integral = a->op != S4F_RA_MEAN;
        if (a->op == S4F_RA_COUNT)
            iv.lo = 1;
        else if (a->op == S4F_RA_DISTINCT)
            iv.lo = 0;
        else {
            iv.lo = (double)s4f_rfields[a->field].min;
            iv.hi = (double)s4f_rfields[a->field].max;
        }
    }
    if (v->kind != S4F_NODE_MAP) {
        /* shorthand: a value is eq, a list is in */
        if (c->cond || (kind == S4F_RK_NUM && v->kind == S4F_NODE_SCALAR)) {
            if (v->kind != S4F_NODE_SCALAR) {
                fail(c, v->line, v->col, "%s: expected a number", fname);
                return -1;
            }
            struct s4f_node m = {.kind = S4F_NODE_MAP, .line = v->line, .col = v->col};
            char *keys[1] = {(char *)"eq"};
            struct s4f_node *items[1] = {(struct s4f_node *)v};
            size_t kl[1] = {v->line}, kc[1] = {v->col};
            m.n = 1;
            m.keys = keys;
            m.items = items;
            m.key_lines = kl;
            m.key_cols = kc;
            return compile_field(c, fld, fname, &m, kline, kcol);
        }
        return set_node(c, fld, v, false, -1);
    }
    if (v->n == 0) {
        fail(c, v->line, v->col, "%s: no operator", fname);
        return -1;
    }
    int64_t mask = -1;
    const struct s4f_node *mnode = s4f_node_get(v, "mask");
    if (mnode) {
        if (c->cond || kind != S4F_RK_NUM) {
            fail(c, mnode->line, mnode->col, "%s: mask applies to numeric flow fields only", fname);
            return -1;
        }
        if (num_value(c, fld, mnode, &mask) != 0)
            return -1;
        if ((double)mask < iv.hi)
            iv.hi = (double)mask;
    }
    for (size_t i = 0; i < v->n; i++) {
        const char *op = v->keys[i];
        const struct s4f_node *val = v->items[i];
        size_t ol = v->key_lines[i], oc = v->key_cols[i];
        if (strcmp(op, "mask") == 0)
            continue;
        /* other spellings: not in, nin; cidr and range are in */
        if (strcmp(op, "nin") == 0 || strcmp(op, "not in") == 0)
            op = "not_in";
        else if (strcmp(op, "cidr") == 0 || strcmp(op, "range") == 0)
            op = "in";
        /* flag tests: all_set X is (f & X) == X, any_set X (f & X) != 0, none_set X
         * (f & X) == 0 */
        if (!c->cond && kind == S4F_RK_NUM &&
            (strcmp(op, "all_set") == 0 || strcmp(op, "any_set") == 0 ||
             strcmp(op, "none_set") == 0)) {
            if (nk == S4F_ARRAY_SIZE(kids)) {
                fail(c, ol, oc, "%s: too many operators", fname);
                return -1;
            }
            int64_t bits;
            if (num_value(c, fld, val, &bits) != 0)
                return -1;
            if (bits == 0) {
                fail(c, val->line, val->col, "%s: %s of no bits", fname, op);
                return -1;
            }
            int id = new_node(c, val, S4F_ROP_CMP);
            if (id < 0)
                return -1;
            c->nodes[id].field = (uint8_t)fld;
            c->nodes[id].mask = bits;
            c->nodes[id].cmp = op[1] == 'n' ? S4F_RC_NE : S4F_RC_EQ;
            c->nodes[id].val = op[1] == 'l' ? bits : 0;
            kids[nk++] = id;
            continue;
        }
        if (nk == S4F_ARRAY_SIZE(kids)) {
            fail(c, ol, oc, "%s: too many operators", fname);
            return -1;
        }
        int cmp = find_cmp(op);
        int id;
        if (cmp >= 0 && kind == S4F_RK_NUM) {
            int64_t iv64 = 0;
            double d = 0;
            if (c->cond) {
                char *end;
                if (val->kind != S4F_NODE_SCALAR ||
                    (d = strtod(val->value, &end), end == val->value || *end || !isfinite(d))) {
                    fail(c, val->line, val->col, "%s: expected a number", fname);
                    return -1;
                }
            } else {
                if (num_value(c, fld, val, &iv64) != 0)
                    return -1;
                d = (double)iv64;
                if (mask >= 0 && cmp == S4F_RC_EQ && (iv64 & ~mask) != 0) {
                    fail(c, val->line, val->col,
                         "%s: value has bits outside the mask: never matches", fname);
                    return -1;
                }
            }
            ival_add(&iv, cmp, d);
            id = new_node(c, val, S4F_ROP_CMP);
            if (id < 0)
                return -1;
            c->nodes[id].field = (uint8_t)fld;
            c->nodes[id].cmp = (uint8_t)cmp;
            c->nodes[id].val = iv64;
            c->nodes[id].dval = d;
            c->nodes[id].mask = mask;
        } else if (cmp == S4F_RC_EQ || cmp == S4F_RC_NE) {
            if (val->kind != S4F_NODE_SCALAR) {
                fail(c, val->line, val->col, "%s: %s takes one value (in takes a list)", fname, op);
                return -1;
            }
            id = set_node(c, fld, val, cmp == S4F_RC_NE, -1);
        } else if (!c->cond && (strcmp(op, "in") == 0 || strcmp(op, "not_in") == 0)) {
            id = set_node(c, fld, val, op[0] == 'n', mask);
        } else if (!c->cond && strcmp(op, "exists") == 0) {
            bool b;
            if (val->kind != S4F_NODE_SCALAR || s4f_parse_bool(val->value, &b) != 0) {
                fail(c, val->line, val->col, "exists: expected true or false");
                return -1;
            }
            if (!b && !fi->optional) {
                fail(c, val->line, val->col, "%s is in every flow: 'exists: false' never matches",
                     fname);
                return -1;
            }
            id = new_node(c, val, S4F_ROP_EXISTS);
            if (id < 0)
                return -1;
            c->nodes[id].field = (uint8_t)fld;
            c->nodes[id].neg = !b;
        } else {
            if (cmp >= 0)
                fail(c, ol, oc, "%s: '%s' does not apply to %s", fname, op,
                     kind == S4F_RK_ADDR ? "addresses (use in with prefixes)" : "text");
            else
                fail(c, ol, oc, "%s: unknown operator '%s' (%s)", fname, op,
                     c->cond ? "eq, ne, lt, le, gt, ge"
                             : "eq, ne, lt, le, gt, ge, in, not_in, exists, mask, all_set, "
                               "any_set, none_set");
            return -1;
        }
        if (id < 0)
            return -1;
        kids[nk++] = id;
    }
    if (nk == 0) {
        fail(c, v->line, v->col, "%s: mask without a comparison", fname);
        return -1;
    }
    if (kind == S4F_RK_NUM && ival_empty(iv, integral)) {
        fail(c, kline, kcol, "%s: no value satisfies these comparisons: the %s never matches",
             fname, c->cond ? "condition" : "filter");
        return -1;
    }
    return combine(c, v, S4F_ROP_AND, kids, nk);
}

static int compile_entry(struct cc *c, const char *key, size_t kl, size_t kc,
                         const struct s4f_node *v, int depth)
{
    if (strcmp(key, "and") == 0 || strcmp(key, "or") == 0) {
        if (v->kind != S4F_NODE_SEQ || v->n == 0) {
            fail(c, v->line, v->col, "%s: expected a non-empty list of terms", key);
            return -1;
        }
        int *kids = calloc(v->n, sizeof(*kids));
        if (!kids) {
            fail(c, v->line, v->col, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < v->n; i++)
            if ((kids[i] = compile_filter(c, v->items[i], depth + 1)) < 0) {
                free(kids);
                return -1;
            }
        int id = combine(c, v, key[0] == 'a' ? S4F_ROP_AND : S4F_ROP_OR, kids, v->n);
        free(kids);
        return id;
    }
    if (strcmp(key, "not") == 0) {
        int k = compile_filter(c, v, depth + 1);
        if (k < 0)
            return -1;
        return combine(c, v, S4F_ROP_NOT, &k, 1);
    }
    if (c->cond) {
        for (size_t i = 0; i < c->r->naggs; i++)
            if (strcmp(c->r->aggs[i].name, key) == 0) {
                if (c->r->aggs[i].op == S4F_RA_TOP) {
                    fail(c, kl, kc, "%s is a top list: a condition compares numbers", key);
                    return -1;
                }
                return compile_field(c, (int)i, key, v, kl, kc);
            }
        /* `count` is the flow count even when no aggregate names it (kept out of the
         * default result fields, which were set already) */
        if (strcmp(key, "count") == 0 && c->r->naggs < S4F_RULE_MAX_AGGS) {
            struct s4f_ragg *a = &c->r->aggs[c->r->naggs];
            memset(a, 0, sizeof(*a));
            snprintf(a->name, sizeof(a->name), "count");
            a->op = S4F_RA_COUNT;
            return compile_field(c, (int)c->r->naggs++, key, v, kl, kc);
        }
        fail(c, kl, kc, "unknown aggregate '%s' in the condition", key);
        return -1;
    }
    int fld = rfield_find(key);
    if (fld < 0) {
        fail(c, kl, kc, "unknown flow field '%s' (see docs/rules.md)", key);
        return -1;
    }
    return compile_field(c, fld, key, v, kl, kc);
}

static int compile_filter(struct cc *c, const struct s4f_node *n, int depth)
{
    if (depth > S4F_CONF_MAX_DEPTH) {
        fail(c, n->line, n->col, "nested too deep");
        return -1;
    }
    if (n->kind != S4F_NODE_MAP || n->n == 0) {
        fail(c, n->line, n->col, "a %s term is a map (field: {op: value}, and, or, not)",
             c->cond ? "condition" : "filter");
        return -1;
    }
    int kids[64];
    if (n->n > S4F_ARRAY_SIZE(kids)) {
        fail(c, n->line, n->col, "too many terms in one map (use and: [...])");
        return -1;
    }
    for (size_t i = 0; i < n->n; i++)
        if ((kids[i] = compile_entry(c, n->keys[i], n->key_lines[i], n->key_cols[i], n->items[i],
                                     depth)) < 0)
            return -1;
    return combine(c, n, S4F_ROP_AND, kids, n->n);
}

/* Compiles a filter or a condition into nodes (root first) and kids. */
static int compile_tree(struct cc *c, const struct s4f_node *n, bool cond, struct s4f_rnode **nodes,
                        uint32_t **kids, size_t *count)
{
    c->cond = cond;
    c->nodes = NULL;
    c->kids = NULL;
    c->nn = c->nk = c->capn = c->capk = 0;
    int root = n ? compile_filter(c, n, 0) : new_node(c, &(struct s4f_node){0}, S4F_ROP_TRUE);
    if (root < 0) {
        free(c->nodes);
        free(c->kids);
        return -1;
    }
    /* Move the root to index 0 (kids refer to indices: swap them too). */
    if (root != 0) {
        struct s4f_rnode t = c->nodes[0];
        c->nodes[0] = c->nodes[root];
        c->nodes[root] = t;
        for (size_t i = 0; i < c->nk; i++) {
            if (c->kids[i] == (uint32_t)root)
                c->kids[i] = 0;
            else if (c->kids[i] == 0)
                c->kids[i] = (uint32_t)root;
        }
    }
    *nodes = c->nodes;
    *kids = c->kids;
    *count = c->nn;
    return 0;
}

/* FNV-1a over a canonical rendering of a node (kinds, keys, values; not positions). */
static uint64_t fp_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fp_node(uint64_t h, const struct s4f_node *n)
{
    unsigned char k = (unsigned char)n->kind;
    h = fp_bytes(h, &k, 1);
    if (n->kind == S4F_NODE_SCALAR)
        return fp_bytes(h, n->value, strlen(n->value) + 1);
    uint64_t cnt = n->n;
    h = fp_bytes(h, &cnt, sizeof(cnt));
    if (n->kind == S4F_NODE_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            h = fp_node(h, n->items[i]);
        return h;
    }
    /* A map's order does not matter: the sum of its pairs' hashes. */
    uint64_t sum = 0;
    for (size_t i = 0; i < n->n; i++) {
        uint64_t p = fp_bytes(0xcbf29ce484222325ull, n->keys[i], strlen(n->keys[i]) + 1);
        sum += fp_node(p, n->items[i]);
    }
    return fp_bytes(h, &sum, sizeof(sum));
}

static bool valid_name(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n >= 1 && n <= max;
}

static int scalar(struct cc *c, const struct s4f_node *n, const char *what)
{
    if (n->kind != S4F_NODE_SCALAR) {
        fail(c, n->line, n->col, "%s: expected a single value", what);
        return -1;
    }
    return 0;
}

static int parse_window(struct cc *c, const struct s4f_node *n, const char *what, int64_t *out)
{
    if (scalar(c, n, what) != 0)
        return -1;
    if (s4f_parse_duration_ms(n->value, out) != 0 || *out < 1000) {
        fail(c, n->line, n->col, "%s: expected a duration of at least 1s (30s, 5m, 1h)", what);
        return -1;
    }
    return 0;
}

static int compile_aggs(struct cc *c, const struct s4f_node *n)
{
    struct s4f_rule *r = c->r;
    r->nslots = 1; /* slot 0: the flow count */
    if (!n)
        return 0;
    if (n->kind != S4F_NODE_MAP) {
        fail(c, n->line, n->col, "aggregates: expected a map of name: {op: field}");
        return -1;
    }
    if (n->n > S4F_RULE_MAX_AGGS) {
        fail(c, n->line, n->col, "at most %d aggregates", S4F_RULE_MAX_AGGS);
        return -1;
    }
    uint8_t members = 0;
    for (size_t i = 0; i < n->n; i++) {
        struct s4f_ragg *a = &r->aggs[r->naggs];
        const struct s4f_node *v = n->items[i];
        size_t kl = n->key_lines[i], kc = n->key_cols[i];
        if (!valid_name(n->keys[i], 63)) {
            fail(c, kl, kc, "aggregate name '%s': use a-z, 0-9 and _", n->keys[i]);
            return -1;
        }
        for (size_t j = 0; j < r->nkeys; j++)
            if (strcmp(n->keys[i], s4f_rfields[r->keys[j]].name) == 0) {
                fail(c, kl, kc, "aggregate '%s' has the name of a key field", n->keys[i]);
                return -1;
            }
        snprintf(a->name, sizeof(a->name), "%s", n->keys[i]);
        const char *opname;
        const struct s4f_node *arg = NULL;
        if (v->kind == S4F_NODE_SCALAR) {
            opname = v->value;
        } else if (v->kind == S4F_NODE_MAP && v->n >= 1) {
            opname = v->keys[0];
            arg = v->items[0];
            for (size_t j = 1; j < v->n; j++)
                if (strcmp(opname, "top") != 0 || strcmp(v->keys[j], "k") != 0) {
                    fail(c, v->key_lines[j], v->key_cols[j], "%s: unexpected '%s'", a->name,
                         v->keys[j]);
                    return -1;
                }
        } else {
            fail(c, v->line, v->col,
                 "%s: expected count, or {sum|min|max|mean|distinct|top: field}", a->name);
            return -1;
        }
        int op = -1;
        for (int j = 0; j < (int)S4F_ARRAY_SIZE(agg_names); j++)
            if (strcmp(opname, agg_names[j]) == 0)
                op = j;
        if (op < 0 || (op != S4F_RA_COUNT && !arg) ||
            (op == S4F_RA_COUNT && arg &&
             (arg->kind != S4F_NODE_SCALAR || strcmp(arg->value, "true") != 0))) {
            fail(c, v->line, v->col,
                 "%s: unknown aggregate (count, sum, min, max, mean, distinct, top)", a->name);
            return -1;
        }
        a->op = (uint8_t)op;
        if (op != S4F_RA_COUNT) {
            if (scalar(c, arg, a->name) != 0)
                return -1;
            int fld = rfield_find(arg->value);
            if (fld < 0) {
                fail(c, arg->line, arg->col, "unknown flow field '%s'", arg->value);
                return -1;
            }
            enum s4f_rkind kind = s4f_rfields[fld].kind;
            if (kind == S4F_RK_STR ||
                (kind == S4F_RK_ADDR && op != S4F_RA_DISTINCT && op != S4F_RA_TOP)) {
                fail(c, arg->line, arg->col, "%s: %s of %s: type mismatch (%s)", a->name,
                     agg_names[op], arg->value,
                     kind == S4F_RK_STR ? "text fields cannot be aggregated"
                                        : "addresses take distinct or top");
                return -1;
            }
            a->field = (uint8_t)fld;
        }
        a->slot = (uint8_t)r->nslots;
        if (op == S4F_RA_TOP) {
            int64_t k = 5;
            const struct s4f_node *kn = s4f_node_get(v, "k");
            if (kn && (kn->kind != S4F_NODE_SCALAR || parse_i64(kn->value, &k) != 0 || k < 1 ||
                       k > S4F_RULE_TOP_MAX)) {
                fail(c, kn->line, kn->col, "k: expected 1 to %d", S4F_RULE_TOP_MAX);
                return -1;
            }
            a->k = (uint8_t)k;
            r->nslots += 2 * (size_t)k;
        } else if (op != S4F_RA_COUNT) {
            r->nslots++;
        }
        if (op == S4F_RA_DISTINCT || op == S4F_RA_TOP) {
            a->member = members++;
            r->has_members = true;
        }
        r->naggs++;
    }
    return 0;
}

static int compile_fields(struct cc *c, const struct s4f_node *n)
{
    struct s4f_rule *r = c->r;
    if (!n) {
        for (size_t i = 0; i < r->nkeys + r->naggs; i++) {
            r->fields[r->nfields] = (uint8_t)i;
            snprintf(r->field_names[r->nfields++], 64, "%s",
                     i < r->nkeys ? s4f_rfields[r->keys[i]].name : r->aggs[i - r->nkeys].name);
        }
        return 0;
    }
    if (n->kind != S4F_NODE_SEQ || n->n > S4F_RULE_MAX_FIELDS) {
        fail(c, n->line, n->col,
             "fields: expected a list of at most %d key fields or aggregates "
             "(name, or {output_name: name})",
             S4F_RULE_MAX_FIELDS);
        return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct s4f_node *it = n->items[i];
        const char *out, *src;
        if (it->kind == S4F_NODE_SCALAR) {
            out = src = it->value;
        } else if (it->kind == S4F_NODE_MAP && it->n == 1 &&
                   it->items[0]->kind == S4F_NODE_SCALAR) {
            out = it->keys[0];
            src = it->items[0]->value;
        } else {
            fail(c, it->line, it->col, "fields: expected a name or {output_name: name}");
            return -1;
        }
        static const char *const reserved[] = {"@type",      "@timestamp", "window_start",
                                               "window_end", "id",         NULL};
        for (size_t j = 0; reserved[j]; j++)
            if (strcmp(out, reserved[j]) == 0) {
                fail(c, it->line, it->col, "fields: '%s' is a common result field", out);
                return -1;
            }
        if (!valid_name(out, 63)) {
            fail(c, it->line, it->col, "fields: output name '%s': use a-z, 0-9 and _", out);
            return -1;
        }
        int idx = -1;
        for (size_t j = 0; j < r->nkeys; j++)
            if (strcmp(src, s4f_rfields[r->keys[j]].name) == 0)
                idx = (int)j;
        for (size_t j = 0; j < r->naggs; j++)
            if (strcmp(src, r->aggs[j].name) == 0)
                idx = (int)(r->nkeys + j);
        if (idx < 0) {
            fail(c, it->line, it->col, "fields: '%s' is neither a key field nor an aggregate", src);
            return -1;
        }
        for (size_t j = 0; j < r->nfields; j++)
            if (strcmp(r->field_names[j], out) == 0) {
                fail(c, it->line, it->col, "fields: '%s' twice", out);
                return -1;
            }
        r->fields[r->nfields] = (uint8_t)idx;
        snprintf(r->field_names[r->nfields++], 64, "%s", out);
    }
    return 0;
}

static void rule_release(struct s4f_rule *r)
{
    free(r->filter);
    free(r->fkids);
    free(r->cond);
    free(r->ckids);
    free(r->ranges);
    free(r->cidrs);
    for (size_t i = 0; i < r->nstrs; i++)
        free(r->strs[i]);
    free(r->strs);
}

static const char *const rule_keys[] = {"name",       "filter",    "key",    "window", "slide",
                                        "aggregates", "condition", "fields", NULL};

static int compile_rule(struct cc *c, const struct s4f_node *n, const struct s4f_rules_limits *lim)
{
    struct s4f_rule *r = c->r;
    if (n->kind != S4F_NODE_MAP) {
        fail(c, n->line, n->col, "a rule is a map (name, filter, key, window, aggregates...)");
        return -1;
    }
    r->line = n->line;
    for (size_t i = 0; i < n->n; i++) {
        size_t j = 0;
        while (rule_keys[j] && strcmp(rule_keys[j], n->keys[i]) != 0)
            j++;
        if (!rule_keys[j]) {
            fail(c, n->key_lines[i], n->key_cols[i], "unknown rule key '%s' (%s)", n->keys[i],
                 "name, filter, key, window, slide, aggregates, condition, fields");
            return -1;
        }
    }
    const struct s4f_node *name = s4f_node_get(n, "name");
    if (!name) {
        fail(c, n->line, n->col, "a rule needs a name");
        return -1;
    }
    if (scalar(c, name, "name") != 0)
        return -1;
    if (!valid_name(name->value, S4F_RULE_NAME_MAX)) {
        fail(c, name->line, name->col,
             "name '%s': 1 to %d of a-z, 0-9 and _ (the results' @type "
             "is rule_<name>)",
             name->value, S4F_RULE_NAME_MAX);
        return -1;
    }
    snprintf(r->name, sizeof(r->name), "%s", name->value);
    snprintf(r->type, sizeof(r->type), "rule_%s", name->value);

    /* window and slide */
    r->window_ms = lim->window_ms;
    r->slide_ms = 0;
    const struct s4f_node *wn = s4f_node_get(n, "window"), *sn = s4f_node_get(n, "slide");
    if (wn && parse_window(c, wn, "window", &r->window_ms) != 0)
        return -1;
    if (sn && parse_window(c, sn, "slide", &r->slide_ms) != 0)
        return -1;
    if (!sn)
        r->slide_ms = wn ? r->window_ms : lim->slide_ms;
    const struct s4f_node *at = wn ? wn : n;
    if (r->window_ms > lim->window_ms) {
        fail(c, at->line, at->col,
             "window %llds is longer than the rules analysis's window (%llds): "
             "raise worker.analyses.rules.window",
             (long long)(r->window_ms / 1000), (long long)(lim->window_ms / 1000));
        return -1;
    }
    if (r->window_ms % lim->slide_ms != 0) {
        fail(c, at->line, at->col,
             "window must be a multiple of the rules analysis's slide (%lld ms)",
             (long long)lim->slide_ms);
        return -1;
    }
    if (lim->processing && r->window_ms != lim->window_ms) {
        fail(c, at->line, at->col, "in processing time every rule has the analysis's window");
        return -1;
    }
    at = sn ? sn : at;
    if (r->slide_ms > r->window_ms || r->window_ms % r->slide_ms != 0 ||
        r->slide_ms % lim->slide_ms != 0) {
        fail(c, at->line, at->col,
             "slide must divide the window and be a multiple of the rules "
             "analysis's slide (%lld ms)",
             (long long)lim->slide_ms);
        return -1;
    }

    /* keys */
    const struct s4f_node *kn = s4f_node_get(n, "key");
    if (kn) {
        size_t cnt = kn->kind == S4F_NODE_SEQ ? kn->n : 1;
        if (kn->kind == S4F_NODE_MAP || cnt > S4F_RULE_MAX_KEYS) {
            fail(c, kn->line, kn->col, "key: a list of at most %d flow fields", S4F_RULE_MAX_KEYS);
            return -1;
        }
        for (size_t i = 0; i < cnt; i++) {
            const struct s4f_node *it = kn->kind == S4F_NODE_SEQ ? kn->items[i] : kn;
            if (scalar(c, it, "key") != 0)
                return -1;
            int fld = rfield_find(it->value);
            if (fld < 0) {
                fail(c, it->line, it->col, "unknown flow field '%s'", it->value);
                return -1;
            }
            if (s4f_rfields[fld].kind == S4F_RK_STR) {
                fail(c, it->line, it->col, "key: %s is text; keys are addresses and numbers",
                     it->value);
                return -1;
            }
            for (size_t j = 0; j < r->nkeys; j++)
                if (r->keys[j] == fld) {
                    fail(c, it->line, it->col, "key: %s twice", it->value);
                    return -1;
                }
            r->keys[r->nkeys++] = (uint8_t)fld;
            r->key_size += s4f_rfields[fld].kind == S4F_RK_ADDR ? 17 : 8;
        }
    }
    if (r->key_size == 0)
        r->key_size = 1; /* one key for all flows */
    /* The result id (window.c) is at most 200 bytes: type, window start and length,
     * partition, then the key's values as text (addresses up to 45 characters, numbers 20). */
    size_t idlen = strlen(r->type) + 1 + 13 + 1 + 8 + 2 + 5 + 1 + (r->nkeys ? r->nkeys - 1 : 3);
    for (size_t i = 0; i < r->nkeys; i++)
        idlen += s4f_rfields[r->keys[i]].kind == S4F_RK_ADDR ? 45 : 20;
    if (idlen > 200) {
        fail(c, kn ? kn->line : n->line, kn ? kn->col : n->col,
             "key: with this name the results' id could reach %zu bytes (at most 200): use a "
             "shorter name or fewer key fields",
             idlen);
        return -1;
    }

    if (compile_aggs(c, s4f_node_get(n, "aggregates")) != 0)
        return -1;
    if (compile_fields(c, s4f_node_get(n, "fields")) != 0)
        return -1;
    const struct s4f_node *fn = s4f_node_get(n, "filter");
    if (compile_tree(c, fn, false, &r->filter, &r->fkids, &r->nfilter) != 0)
        return -1;
    const struct s4f_node *cn = s4f_node_get(n, "condition");
    if (cn && compile_tree(c, cn, true, &r->cond, &r->ckids, &r->ncond) != 0)
        return -1;
    r->fingerprint = fp_node(0xcbf29ce484222325ull, n);
    r->fingerprint = fp_bytes(r->fingerprint, &r->window_ms, sizeof(r->window_ms));
    r->fingerprint = fp_bytes(r->fingerprint, &r->slide_ms, sizeof(r->slide_ms));
    return 0;
}

void s4f_rules_free(struct s4f_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_release(&rs->rules[i]);
    free(rs->rules);
    free(rs);
}

struct s4f_ruleset *s4f_rules_compile(const struct s4f_conf_doc *doc,
                                      const struct s4f_rules_limits *lim, char *err, size_t errlen)
{
    struct cc c = {.doc = doc, .err = err, .errlen = errlen};
    if (errlen)
        err[0] = '\0';
    const struct s4f_node *root = doc->root;
    for (size_t i = 0; i < root->n; i++)
        if (strcmp(root->keys[i], "rules") != 0) {
            fail(&c, root->key_lines[i], root->key_cols[i],
                 "unknown key '%s' (a rule file has "
                 "rules: [...])",
                 root->keys[i]);
            return NULL;
        }
    const struct s4f_node *list = s4f_node_get(root, "rules");
    if (list && list->kind != S4F_NODE_SEQ) {
        fail(&c, list->line, list->col, "rules: expected a list of rules");
        return NULL;
    }
    size_t n = list ? list->n : 0;
    if (n > S4F_RULES_MAX) {
        fail(&c, list->line, list->col, "at most %d rules per file", S4F_RULES_MAX);
        return NULL;
    }
    struct s4f_ruleset *rs = calloc(1, sizeof(*rs));
    if (!rs || (n && !(rs->rules = calloc(n, sizeof(*rs->rules))))) {
        free(rs);
        snprintf(err, errlen, "%s: out of memory", doc->file);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        c.r = &rs->rules[i];
        rs->n = i + 1;
        if (compile_rule(&c, list->items[i], lim) != 0) {
            s4f_rules_free(rs);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(rs->rules[j].name, rs->rules[i].name) == 0) {
                const struct s4f_node *nm = s4f_node_get(list->items[i], "name");
                fail(&c, nm->line, nm->col, "rule '%s' is defined twice (first at line %zu)",
                     rs->rules[i].name, rs->rules[j].line);
                s4f_rules_free(rs);
                return NULL;
            }
    }
    return rs;
}

struct s4f_ruleset *s4f_rules_load(const char *path, const struct s4f_rules_limits *lim, char *err,
                                   size_t errlen)
{
    struct s4f_conf_doc *doc = s4f_conf_load(path, err, errlen);
    if (!doc)
        return NULL;
    struct s4f_ruleset *rs = s4f_rules_compile(doc, lim, err, errlen);
    s4f_conf_doc_free(doc);
    return rs;
}
