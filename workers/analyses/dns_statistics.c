/* dns_statistics: DNS traffic of the local networks per window, as the original Stream4Flow
 * application (seven stat types, one document each):
 *
 *   queried_domain      names in responses to local hosts (names seen once are left out)
 *   nonexisting_domain  the same, NXDOMAIN (RCODE 3) only, without the filtered-domain
 *                       substrings (filtered_domains_file)
 *   response_code       RCODE names of responses to local hosts
 *   record_type         query type names of every DNS record from a local host
 *   queried_local       the source of responses from outside to a local host (RCODE != 5)
 *   external_dns        the destination of queries from a local host to outside
 *   queried_by_ip       (name, source) of queries from local hosts; items carry "ip"
 *
 * queried_domain, nonexisting_domain and queried_by_ip are cut to the top `top` (100) keys by
 * count, ties by key; the others list every key. Each flow counts once. A record is DNS when
 * it carries a name (Flowmon's DNSName or ipfixprobe's DNS_NAME: the reader maps both), and
 * a response by Flowmon's QR bit or, for ipfixprobe, a source port of 53.
 *
 * Keys live in two bounded tables: names up to SHORT_NAME bytes (almost all) in small slots,
 * longer ones in large slots, so memory follows the names seen and not the longest possible.
 * Names the reader had to cut (longer than any DNS name) are not counted
 * (dns_names_invalid_total). */
#include "analysis.h"
#include "htab.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NET     64
#define MAX_FILTERS 4096
#define SHORT_NAME  45

struct dns_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    char *filtered_domains_file;
    int64_t top;
};

static const struct s4f_opt dns_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct dns_conf, "60s", "200000"),
    {"local_networks", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct dns_conf, local_networks), "Networks (CIDR) whose DNS traffic is counted",
     NULL},
    {"filtered_domains_file", S4F_OPT_STRING, NULL, 0, 0,
     offsetof(struct dns_conf, filtered_domains_file),
     "File of substrings, one a line: NXDOMAIN names containing one are left out of "
     "nonexisting_domain (the original shipped uribl, spameatingmonkey, spamhaus)",
     NULL},
    {"top", S4F_OPT_INT, "100", 1, 100000, offsetof(struct dns_conf, top),
     "Keys kept in queried_domain, nonexisting_domain and queried_by_ip", NULL},
    S4F_OPT_END,
};

enum {
    ST_QUERIED_DOMAIN,
    ST_NONEXISTING_DOMAIN,
    ST_RESPONSE_CODE,
    ST_RECORD_TYPE,
    ST_QUERIED_LOCAL,
    ST_EXTERNAL_DNS,
    ST_QUERIED_BY_IP,
    ST_COUNT
};
static const char *const st_names[ST_COUNT] = {
    "queried_domain", "nonexisting_domain", "response_code", "record_type",
    "queried_local",  "external_dns",       "queried_by_ip",
};

/* Table key kinds: a name (value: responses, NXDOMAIN responses), (name, address) for
 * queried_by_ip, an address for queried_local / external_dns. */
enum { K_NAME = 1, K_BYIP = 2, K_QLOCAL = 3, K_EXTERNAL = 4 };

#define KEY_HEAD                                                                                   \
    uint8_t kind, family, len;                                                                     \
    uint8_t addr[16]
struct key_short {
    KEY_HEAD;
    char name[SHORT_NAME];
};
struct key_long {
    KEY_HEAD;
    char name[S4F_DNS_TEXT_MAX];
};
struct key_any { /* what both start with */
    KEY_HEAD;
    char name[];
};
struct val {
    uint64_t n, nx;
};

static const char *const rcode_names[19] = {
    "NoError", "FormErr", "ServFail", "NXDomain", "NotImp",  "Refused", "YXDomain",
    "YXRRSet", "NXRRSet", "NotAuth",  "NotZone",  NULL,      NULL,      NULL,
    NULL,      NULL,      "BADVERS",  "BADKEY",   "BADTIME",
};

static const struct {
    uint16_t type;
    const char *name;
} qtypes[] = {
    {1, "A"},           {2, "NS"},      {3, "MD"},        {4, "MF"},     {5, "CNAME"},
    {6, "SOA"},         {7, "MB"},      {8, "MG"},        {9, "MR"},     {10, "NULL"},
    {11, "WKS"},        {12, "PTR"},    {13, "HINFO"},    {14, "MINFO"}, {15, "MX"},
    {16, "TXT"},        {17, "RP"},     {18, "AFSDB"},    {19, "X25"},   {20, "ISDN"},
    {21, "RT"},         {22, "NSAP"},   {23, "NSAP-PTR"}, {24, "SIG"},   {25, "KEY"},
    {26, "PX"},         {27, "GPOS"},   {28, "AAAA"},     {29, "LOC"},   {30, "NXT"},
    {31, "EID"},        {32, "NIMLOC"}, {33, "SRV"},      {34, "ATMA"},  {35, "NAPTR"},
    {36, "KX"},         {37, "CERT"},   {38, "A6"},       {39, "DNAME"}, {40, "SINK"},
    {41, "OPT"},        {42, "APL"},    {43, "DS"},       {44, "SSHFP"}, {45, "IPSECKEY"},
    {46, "RRSIG"},      {47, "NSEC"},   {48, "DNSKEY"},   {49, "DHCID"}, {50, "NSEC3"},
    {51, "NSEC3PARAM"}, {52, "TLSA"},   {55, "HIP"},      {64, "SVCB"},  {65, "HTTPS"},
    {99, "SPF"},        {249, "TKEY"},  {250, "TSIG"},    {251, "IXFR"}, {252, "AXFR"},
    {253, "MAILB"},     {254, "MAILA"}, {255, "ANY"},     {256, "URI"},  {257, "CAA"},
    {32768, "TA"},      {32769, "DLV"},
};
#define N_QTYPES (S4F_ARRAY_SIZE(qtypes) + 1) /* + OTHER */

struct dns {
    const struct dns_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    char **filters;
    size_t nfilters;
    struct s4f_metric *m_keys_dropped, *m_invalid;
};

struct dwin {
    struct s4f_htab shorts, longs;
    uint64_t rcodes[256];
    uint64_t types[N_QTYPES];
};

static bool is_local(const struct dns *d, const struct s4f_addr *a)
{
    for (size_t i = 0; i < d->nnets; i++)
        if (s4f_cidr_contains(&d->nets[i], a))
            return true;
    return false;
}

static int load_filters(struct dns *d, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "dns_statistics: filtered_domains_file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    char line[512];
    int rc = 0;
    while (fgets(line, sizeof(line), fp)) {
        size_t n = strcspn(line, "\r\n");
        if (line[n] == '\0' && !feof(fp)) {
            snprintf(err, errlen, "dns_statistics: %s: a line longer than %zu bytes", path,
                     sizeof(line) - 2);
            rc = -1;
            break;
        }
        line[n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (!n || *s == '#')
            continue;
        if (d->nfilters == MAX_FILTERS) {
            snprintf(err, errlen, "dns_statistics: %s: more than %d entries", path, MAX_FILTERS);
            rc = -1;
            break;
        }
        char *copy = strdup(s);
        char **grown = copy ? realloc(d->filters, (d->nfilters + 1) * sizeof(*grown)) : NULL;
        if (!grown) {
            free(copy);
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        d->filters = grown;
        d->filters[d->nfilters++] = copy;
    }
    fclose(fp);
    return rc;
}

static void dns_destroy(void *inst)
{
    struct dns *d = inst;
    if (!d)
        return;
    for (size_t i = 0; i < d->nfilters; i++)
        free(d->filters[i]);
    free(d->filters);
    free(d);
}

static void *dns_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err,
                      size_t errlen)
{
    const struct dns_conf *c = conf;
    struct dns *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->conf = c;
    if (c->local_networks.n > MAX_NET) {
        snprintf(err, errlen, "dns_statistics: at most %d local_networks", MAX_NET);
        goto fail;
    }
    for (size_t i = 0; i < c->local_networks.n; i++)
        if (s4f_cidr_parse(c->local_networks.v[i], &d->nets[d->nnets++]) != 0) {
            snprintf(err, errlen, "dns_statistics: local_networks: '%s' is not a CIDR prefix",
                     c->local_networks.v[i]);
            goto fail;
        }
    if (c->filtered_domains_file && *c->filtered_domains_file &&
        load_filters(d, c->filtered_domains_file, err, errlen) != 0)
        goto fail;
    d->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    d->m_invalid = s4f_metrics_counter(ctx->metrics, "dns_names_invalid_total",
                                       "DNS records not counted: their name was longer than "
                                       "any DNS name (cut by the reader)",
                                       ctx->labels);
    return d;
fail:
    dns_destroy(d);
    return NULL;
}

static void *dns_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct dns *d = inst;
    struct dwin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    /* One cap for both tables together: each gets it, count() checks the sum. */
    s4f_htab_init(&w->shorts, sizeof(struct key_short), sizeof(struct val),
                  (size_t)d->conf->common.max_keys);
    s4f_htab_init(&w->longs, sizeof(struct key_long), sizeof(struct val),
                  (size_t)d->conf->common.max_keys);
    return w;
}

static void dns_window_free(void *inst, void *wstate)
{
    struct dwin *w = wstate;
    s4f_htab_release(&w->shorts);
    s4f_htab_release(&w->longs);
    free(w);
}

/* Counts one key; name may be NULL (address keys). */
static struct val *count(struct dns *d, struct dwin *w, uint8_t kind, const struct s4f_addr *a,
                         const char *name, size_t len)
{
    union {
        struct key_short s;
        struct key_long l;
    } k;
    memset(&k, 0, sizeof(k));
    bool shortk = len <= SHORT_NAME;
    struct key_any *h = (struct key_any *)(void *)&k;
    h->kind = kind;
    h->len = (uint8_t)len;
    if (a) {
        h->family = a->family;
        memcpy(h->addr, a->b, 16);
    }
    if (len)
        memcpy(shortk ? k.s.name : k.l.name, name, len);
    struct s4f_htab *t = shortk ? &w->shorts : &w->longs;
    size_t ks = shortk ? sizeof(k.s) : sizeof(k.l);
    bool created;
    struct val *v = NULL;
    if (w->shorts.n + w->longs.n < (size_t)d->conf->common.max_keys ||
        s4f_htab_find(t, &k, s4f_hash_bytes(&k, ks)))
        v = s4f_htab_insert(t, &k, s4f_hash_bytes(&k, ks), &created);
    if (!v)
        s4f_metric_inc(d->m_keys_dropped);
    return v;
}

static size_t qtype_index(uint16_t t)
{
    for (size_t i = 0; i < S4F_ARRAY_SIZE(qtypes); i++)
        if (qtypes[i].type == t)
            return i;
    return S4F_ARRAY_SIZE(qtypes);
}

static void dns_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct dns *d = inst;
    struct dwin *w = wstate;
    const struct s4f_dns *x = &f->dns;
    if (!(x->flags & S4F_DNS_PRESENT))
        return;
    if (x->flags & S4F_DNS_TRUNCATED) {
        s4f_metric_inc(d->m_invalid);
        return;
    }
    bool src_local = is_local(d, &f->src), dst_local = is_local(d, &f->dst);
    bool response = x->flags & S4F_DNS_RESPONSE;
    if (src_local)
        w->types[qtype_index(x->qtype)]++;
    if (response && dst_local) {
        w->rcodes[x->rcode]++;
        struct val *v = count(d, w, K_NAME, NULL, x->name, x->name_len);
        if (v) {
            v->n++;
            if (x->rcode == 3)
                v->nx++;
        }
        if (!src_local && x->rcode != 5 && (v = count(d, w, K_QLOCAL, &f->src, NULL, 0)))
            v->n++;
    }
    if (!response && src_local) {
        struct val *v;
        if (!dst_local && (v = count(d, w, K_EXTERNAL, &f->dst, NULL, 0)))
            v->n++;
        if ((v = count(d, w, K_BYIP, &f->src, x->name, x->name_len)))
            v->n++;
    }
}

struct item {
    const struct key_any *k;
    const char *key; /* text for fixed keys */
    uint64_t n;
};

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    if (x->k && y->k) {
        size_t n = x->k->len < y->k->len ? x->k->len : y->k->len;
        int c = memcmp(x->k->name, y->k->name, n);
        if (c)
            return c;
        if (x->k->len != y->k->len)
            return x->k->len < y->k->len ? -1 : 1;
        if (x->k->family != y->k->family)
            return x->k->family < y->k->family ? -1 : 1;
        return memcmp(x->k->addr, y->k->addr, 16);
    }
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static bool filtered(const struct dns *d, const char *name)
{
    for (size_t i = 0; i < d->nfilters; i++)
        if (strstr(name, d->filters[i]))
            return true;
    return false;
}

/* Writes one stat type's document from its items (sorted here, cut at limit). */
static void emit(struct s4f_emit *out, int st, struct item *it, size_t n, size_t limit)
{
    if (!n)
        return;
    qsort(it, n, sizeof(*it), cmp_item);
    if (n > limit)
        n = limit;
    struct s4f_jbuf *b = s4f_result_begin(out, "dns_statistics", st_names[st], 0, 0);
    if (!b)
        return;
    s4f_jb_str(b, "@stat_type", st_names[st]);
    s4f_jb_key(b, "data_array");
    s4f_jb_raw(b, "[");
    for (size_t i = 0; i < n; i++) {
        char text[S4F_DNS_TEXT_MAX + 1], ip[64];
        const char *key = it[i].key;
        s4f_jb_raw(b, "{"); /* raw text gets its separating comma */
        if (it[i].k) {
            struct s4f_addr a = {.family = it[i].k->family};
            memcpy(a.b, it[i].k->addr, 16);
            if (it[i].k->kind == K_QLOCAL || it[i].k->kind == K_EXTERNAL) {
                key = s4f_addr_str(&a, ip, sizeof(ip));
            } else {
                memcpy(text, it[i].k->name, it[i].k->len);
                text[it[i].k->len] = '\0';
                key = text;
                if (it[i].k->kind == K_BYIP)
                    s4f_jb_str(b, "ip", s4f_addr_str(&a, ip, sizeof(ip)));
            }
        }
        s4f_jb_str(b, "key", key);
        s4f_jb_u64(b, "value", it[i].n);
        s4f_jb_raw(b, "}");
    }
    s4f_jb_raw(b, "]");
    s4f_result_end(out);
}

static void dns_on_window_close(void *inst, void *pstate, void *wstate,
                                const struct s4f_window *win, struct s4f_emit *out)
{
    struct dns *d = inst;
    struct dwin *w = wstate;
    size_t total = w->shorts.n + w->longs.n + 256 + N_QTYPES;
    struct item *lists[ST_COUNT];
    size_t n[ST_COUNT] = {0};
    for (int s = 0; s < ST_COUNT; s++) {
        lists[s] = malloc(total * sizeof(struct item));
        if (!lists[s]) {
            for (int j = 0; j < s; j++)
                free(lists[j]);
            s4f_error("out of memory emitting a window");
            return;
        }
    }
    const struct s4f_htab *tabs[2] = {&w->shorts, &w->longs};
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < tabs[t]->cap; i++) {
            const struct key_any *k = s4f_htab_key_at(tabs[t], i);
            if (!k)
                continue;
            const struct val *v = s4f_htab_val_at(tabs[t], i);
            struct item it = {.k = k, .n = v->n};
            switch (k->kind) {
            case K_NAME:
                /* Names queried once are noise (the original dropped them). */
                if (v->n > 1)
                    lists[ST_QUERIED_DOMAIN][n[ST_QUERIED_DOMAIN]++] = it;
                if (v->nx > 1) {
                    char text[S4F_DNS_TEXT_MAX + 1];
                    memcpy(text, k->name, k->len);
                    text[k->len] = '\0';
                    if (!filtered(d, text)) {
                        it.n = v->nx;
                        lists[ST_NONEXISTING_DOMAIN][n[ST_NONEXISTING_DOMAIN]++] = it;
                    }
                }
                break;
            case K_BYIP:
                lists[ST_QUERIED_BY_IP][n[ST_QUERIED_BY_IP]++] = it;
                break;
            case K_QLOCAL:
                lists[ST_QUERIED_LOCAL][n[ST_QUERIED_LOCAL]++] = it;
                break;
            case K_EXTERNAL:
                lists[ST_EXTERNAL_DNS][n[ST_EXTERNAL_DNS]++] = it;
                break;
            }
        }
    }
    for (int r = 0; r < 256; r++) {
        if (!w->rcodes[r])
            continue;
        const char *name = r < 19 && rcode_names[r] ? rcode_names[r] : "Other";
        /* Several unnamed codes fold into one "Other". */
        size_t j = 0;
        while (j < n[ST_RESPONSE_CODE] && strcmp(lists[ST_RESPONSE_CODE][j].key, name) != 0)
            j++;
        if (j == n[ST_RESPONSE_CODE])
            lists[ST_RESPONSE_CODE][n[ST_RESPONSE_CODE]++] = (struct item){.key = name};
        lists[ST_RESPONSE_CODE][j].n += w->rcodes[r];
    }
    for (size_t i = 0; i < N_QTYPES; i++)
        if (w->types[i])
            lists[ST_RECORD_TYPE][n[ST_RECORD_TYPE]++] = (struct item){
                .key = i < S4F_ARRAY_SIZE(qtypes) ? qtypes[i].name : "OTHER", .n = w->types[i]};
    size_t top = (size_t)d->conf->top;
    for (int s = 0; s < ST_COUNT; s++) {
        bool cut = s == ST_QUERIED_DOMAIN || s == ST_NONEXISTING_DOMAIN || s == ST_QUERIED_BY_IP;
        emit(out, s, lists[s], n[s], cut ? top : SIZE_MAX);
        free(lists[s]);
    }
}

const struct s4f_analysis s4f_analysis_dns_statistics = {
    .name = "dns_statistics",
    .summary = "DNS of the local networks: top domains, NXDOMAIN names, response codes, record "
               "types, resolvers (dns_statistics, seven stat types)",
    .opts = dns_opts,
    .conf_size = sizeof(struct dns_conf),
    .init = dns_init,
    .window_new = dns_window_new,
    .on_flow = dns_on_flow,
    .on_window_close = dns_on_window_close,
    .window_free = dns_window_free,
    .destroy = dns_destroy,
};
