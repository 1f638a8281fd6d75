/* dns_open_resolvers: local hosts that answer DNS queries from outside, as the original
 * Stream4Flow application (dns_open_resolvers.py). A flow counts when it is a DNS response
 * (Flowmon's QR bit, or ipfixprobe's source port 53) from a local host to a host outside the
 * local networks, with RCODE 0, answer data, and an answer of type A, NS, CNAME or AAAA; and
 * neither the name nor the hosts are whitelisted. Per window and (resolver, answer data,
 * answer name): one open_dns_resolver result with its flow count and the first flow's start.
 *
 * Whitelists: whitelisted_domains_file (one domain a line; a name matches when it is that
 * domain or ends with "." + it) and whitelisted_networks (CIDR; the resolver or the querier
 * inside one is not reported). The original compiled each domain into the regex ".*<domain>"
 * with re.match: unanchored at the end and with unescaped dots, so "google.com" also
 * whitelisted "googlexcom.evil.net" and "google.com.evil.net"; the port matches domains.
 *
 * The original had no window (5 s micro-batches): the default window is 5 s tumbling, so one
 * result per resolver, data and name every 5 s, like the original's batches. All of a
 * resolver's answers carry its address as source, so they are in one input partition. */
#include "analysis.h"
#include "htab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_NET     256
#define MAX_DOMAINS 4096

struct or_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    struct s4f_strlist whitelisted_networks;
    char *whitelisted_domains_file;
};

static const struct s4f_opt or_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct or_conf, "5s", "100000"),
    {"local_networks", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct or_conf, local_networks), "Networks (CIDR) whose resolvers are watched", NULL},
    {"whitelisted_networks", S4F_OPT_LIST, "[]", 0, 0,
     offsetof(struct or_conf, whitelisted_networks),
     "Networks (CIDR) whose resolvers, or queriers, are never reported (the original shipped "
     "192.168.0.0/16)",
     NULL},
    {"whitelisted_domains_file", S4F_OPT_STRING, NULL, 0, 0,
     offsetof(struct or_conf, whitelisted_domains_file),
     "File of domains, one a line: answers for them or their subdomains are not reported (the "
     "original shipped google.com)",
     NULL},
    S4F_OPT_END,
};

struct okey {
    uint8_t resolver[16];
    uint8_t family, dlen, nlen;
    char data[S4F_DNS_TEXT_MAX], name[S4F_DNS_TEXT_MAX];
};
struct oval {
    uint64_t flows;
    int64_t first_start;
};

struct orr {
    const struct or_conf *conf;
    struct s4f_cidr nets[MAX_NET], white[MAX_NET];
    size_t nnets, nwhite;
    char **domains;
    size_t ndomains;
    struct s4f_metric *m_keys_dropped;
};

struct owin {
    struct s4f_htab keys;
};

static bool in_nets(const struct s4f_cidr *nets, size_t n, const struct s4f_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (s4f_cidr_contains(&nets[i], a))
            return true;
    return false;
}

static int parse_nets(const struct s4f_strlist *l, struct s4f_cidr *nets, size_t *n,
                      const char *what, char *err, size_t errlen)
{
    if (l->n > MAX_NET) {
        snprintf(err, errlen, "dns_open_resolvers: at most %d %s", MAX_NET, what);
        return -1;
    }
    for (size_t i = 0; i < l->n; i++)
        if (s4f_cidr_parse(l->v[i], &nets[(*n)++]) != 0) {
            snprintf(err, errlen, "dns_open_resolvers: %s: '%s' is not a CIDR prefix", what,
                     l->v[i]);
            return -1;
        }
    return 0;
}

static void or_destroy(void *inst)
{
    struct orr *o = inst;
    if (!o)
        return;
    for (size_t i = 0; i < o->ndomains; i++)
        free(o->domains[i]);
    free(o->domains);
    free(o);
}

static int load_domains(struct orr *o, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "dns_open_resolvers: whitelisted_domains_file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    char line[512];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *s = line + strspn(line, " \t");
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '.'))
            s[--n] = '\0';
        if (!n || *s == '#')
            continue;
        char *copy = o->ndomains < MAX_DOMAINS ? strdup(s) : NULL;
        char **grown = copy ? realloc(o->domains, (o->ndomains + 1) * sizeof(*grown)) : NULL;
        if (!grown) {
            free(copy);
            snprintf(err, errlen, "dns_open_resolvers: %s: too many entries (at most %d)", path,
                     MAX_DOMAINS);
            rc = -1;
            break;
        }
        o->domains = grown;
        o->domains[o->ndomains++] = copy;
    }
    fclose(fp);
    return rc;
}

static void *or_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    const struct or_conf *c = conf;
    struct orr *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->conf = c;
    if (parse_nets(&c->local_networks, o->nets, &o->nnets, "local_networks", err, errlen) != 0 ||
        parse_nets(&c->whitelisted_networks, o->white, &o->nwhite, "whitelisted_networks", err,
                   errlen) != 0 ||
        (c->whitelisted_domains_file && *c->whitelisted_domains_file &&
         load_domains(o, c->whitelisted_domains_file, err, errlen) != 0)) {
        or_destroy(o);
        return NULL;
    }
    o->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    return o;
}

static void *or_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct orr *o = inst;
    struct owin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    s4f_htab_init(&w->keys, sizeof(struct okey), sizeof(struct oval),
                  (size_t)o->conf->common.max_keys);
    return w;
}

static void or_window_free(void *inst, void *wstate)
{
    struct owin *w = wstate;
    s4f_htab_release(&w->keys);
    free(w);
}

static bool domain_whitelisted(const struct orr *o, const char *name, size_t n)
{
    while (n && name[n - 1] == '.')
        n--;
    for (size_t i = 0; i < o->ndomains; i++) {
        size_t dl = strlen(o->domains[i]);
        if (dl > n || strncasecmp(name + n - dl, o->domains[i], dl) != 0)
            continue;
        if (dl == n || name[n - dl - 1] == '.')
            return true;
    }
    return false;
}

static void or_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct orr *o = inst;
    struct owin *w = wstate;
    const struct s4f_dns *d = &f->dns;
    if ((d->flags & (S4F_DNS_PRESENT | S4F_DNS_RESPONSE)) != (S4F_DNS_PRESENT | S4F_DNS_RESPONSE) ||
        (d->flags & S4F_DNS_TRUNCATED) || d->rcode != 0 || d->rdata_len == 0)
        return;
    if (d->crr_type != 1 && d->crr_type != 2 && d->crr_type != 5 && d->crr_type != 28)
        return;
    if (!in_nets(o->nets, o->nnets, &f->src) || in_nets(o->nets, o->nnets, &f->dst))
        return;
    if (in_nets(o->white, o->nwhite, &f->src) || in_nets(o->white, o->nwhite, &f->dst) ||
        domain_whitelisted(o, d->crr_name, d->crr_name_len) ||
        domain_whitelisted(o, d->name, d->name_len))
        return;
    struct okey k;
    memset(&k, 0, sizeof(k));
    memcpy(k.resolver, f->src.b, 16);
    k.family = f->src.family;
    k.dlen = (uint8_t)d->rdata_len;
    k.nlen = (uint8_t)d->crr_name_len;
    memcpy(k.data, d->rdata, k.dlen);
    memcpy(k.name, d->crr_name, k.nlen);
    bool created;
    struct oval *v = s4f_htab_insert(&w->keys, &k, s4f_hash_bytes(&k, sizeof(k)), &created);
    if (!v) {
        s4f_metric_inc(o->m_keys_dropped);
        return;
    }
    if (created || f->start_ms < v->first_start)
        v->first_start = f->start_ms;
    v->flows++;
}

/* FNV-1a: the id must be the same in every process and version, which s4f_hash_bytes does not
 * promise. */
static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void or_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct owin *w = wstate;
    for (size_t i = 0; i < w->keys.cap; i++) {
        const struct okey *k = s4f_htab_key_at(&w->keys, i);
        if (!k)
            continue;
        const struct oval *v = s4f_htab_val_at(&w->keys, i);
        struct s4f_addr a = {.family = k->family};
        memcpy(a.b, k->resolver, 16);
        char ip[64], data[S4F_DNS_TEXT_MAX + 1], name[S4F_DNS_TEXT_MAX + 1];
        s4f_addr_str(&a, ip, sizeof(ip));
        memcpy(data, k->data, k->dlen);
        data[k->dlen] = '\0';
        memcpy(name, k->name, k->nlen);
        name[k->nlen] = '\0';
        /* The id key: resolver, then a hash of data and name (ids stay short and printable). */
        char key[96];
        snprintf(key, sizeof(key), "%s|%016llx", ip, (unsigned long long)fnv1a(k, sizeof(*k)));
        struct s4f_jbuf *b = s4f_result_begin(out, "open_dns_resolver", key, 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "resolver_ip", ip);
        s4f_jb_u64(b, "flows", v->flows);
        s4f_jb_str(b, "resolved_data", data);
        s4f_jb_str(b, "resolved_query", name);
        s4f_jb_time(b, "timestamp", v->first_start);
        s4f_result_end(out);
    }
}

const struct s4f_analysis s4f_analysis_dns_open_resolvers = {
    .name = "dns_open_resolvers",
    .summary = "Local hosts answering DNS queries from outside (open_dns_resolver)",
    .opts = or_opts,
    .conf_size = sizeof(struct or_conf),
    .init = or_init,
    .window_new = or_window_new,
    .on_flow = or_on_flow,
    .on_window_close = or_on_window_close,
    .window_free = or_window_free,
    .destroy = or_destroy,
};
