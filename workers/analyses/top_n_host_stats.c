/* top_n_host_stats: per local source host and window, its top N destination ports,
 * destination hosts and HTTP hosts by flows, as the original Stream4Flow application
 * (@type top_n_host_stats, src_ip, stats.top_n_dst_ports / top_n_dst_hosts / top_n_http_dst,
 * each an object keyed by rank "0", "1", ... as the original wrote them).
 *
 * Windows slide (the original's -wd and -ws: window 60 s, slide 30 s here by default). A host
 * is a source address inside local_networks (the original's -n; [] for every source). The
 * collector keys records by source address, so a host's flows are all in one input partition
 * and each host gets one document per window, whatever the number of processes.
 *
 * Fixed: the original inner-joined the three lists, so a host without HTTP flows had no
 * document at all; here its top_n_http_dst is empty. And it overwrote its output inside the
 * loop over hosts, so each batch sent only its last host; here every host gets its document.
 *
 * Ports are counted for flows that have them (TCP, UDP, SCTP, DCCP); destination hosts for
 * every flow; HTTP hosts for flows carrying ipfix.HTTPRequestHost (both probe families), as
 * exported (names the reader had to cut are left out). Ties break by port number, address
 * bytes, name bytes. */
#include "analysis.h"
#include "htab.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NET 256

struct tn_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    int64_t top_n;
    int64_t max_members;
};

static const struct s4f_opt tn_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS_SLIDE(struct tn_conf, "60s", "30s", "100000"),
    {"local_networks", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct tn_conf, local_networks),
     "Networks (CIDR) whose source hosts are profiled (the original's -n); [] for every source",
     NULL},
    {"top_n", S4F_OPT_INT, "10", 1, 50, offsetof(struct tn_conf, top_n),
     "Entries of each list (the original's -c); the index template maps ranks 0 to 49", NULL},
    {"max_members", S4F_OPT_INT, "2000000", 1000, 1000000000, offsetof(struct tn_conf, max_members),
     "Most (host, port), (host, destination) and (host, HTTP host) pairs kept per window and "
     "partition, each",
     NULL},
    S4F_OPT_END,
};

struct hkey {
    uint8_t b[16];
    uint8_t family;
};

/* Pair keys name their host by its index in the window (padding zeroed: hashed as bytes). */
struct portkey {
    uint32_t host;
    uint8_t port[2]; /* big-endian: ties break in port order */
};
struct dstkey {
    uint32_t host;
    struct hkey dst;
};
/* HTTP hosts in two tables: names up to SHORT_HTTP bytes (almost all) in 48-byte keys, longer
 * ones in full-size keys, so memory follows the names seen. Both lay out length then name. */
#define SHORT_HTTP 43
struct httpkey_s {
    uint32_t host;
    uint8_t len;
    char name[SHORT_HTTP];
};
struct httpkey {
    uint32_t host;
    uint8_t len;
    char name[S4F_APP_TEXT_MAX];
};

struct tn {
    const struct tn_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    struct s4f_metric *m_keys_dropped, *m_members_dropped;
    /* Table sizes new windows start at: those of the last window freed (load changes slowly),
     * sparing the doublings of growing from nothing. */
    size_t hint[5];
};

struct twin {
    struct s4f_htab hosts;                     /* hkey -> uint32_t index */
    struct s4f_htab ports, dsts, http_s, http; /* http_s: short names */
    struct hkey *addr;                         /* index -> address */
    size_t naddr, caddr;
};

static void tn_destroy(void *inst)
{
    free(inst);
}

static void *tn_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    const struct tn_conf *c = conf;
    struct tn *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->conf = c;
    if (c->local_networks.n > MAX_NET) {
        snprintf(err, errlen, "top_n_host_stats: at most %d local_networks", MAX_NET);
        goto fail;
    }
    for (size_t i = 0; i < c->local_networks.n; i++)
        if (s4f_cidr_parse(c->local_networks.v[i], &t->nets[t->nnets++]) != 0) {
            snprintf(err, errlen, "top_n_host_stats: local_networks: '%s' is not a CIDR prefix",
                     c->local_networks.v[i]);
            goto fail;
        }
    t->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    t->m_members_dropped = s4f_metrics_counter(
        ctx->metrics, "members_dropped_total",
        "Pairs refused because a window reached max_members (its lists may miss entries)",
        ctx->labels);
    return t;
fail:
    tn_destroy(t);
    return NULL;
}

static void *tn_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct tn *t = inst;
    struct twin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    size_t mm = (size_t)t->conf->max_members;
    s4f_htab_init(&w->hosts, sizeof(struct hkey), sizeof(uint32_t),
                  (size_t)t->conf->common.max_keys);
    s4f_htab_init(&w->ports, sizeof(struct portkey), sizeof(uint64_t), mm);
    s4f_htab_init(&w->dsts, sizeof(struct dstkey), sizeof(uint64_t), mm);
    s4f_htab_init(&w->http_s, sizeof(struct httpkey_s), sizeof(uint64_t), mm);
    s4f_htab_init(&w->http, sizeof(struct httpkey), sizeof(uint64_t), mm);
    /* A failed reserve is only a missed optimisation: the tables grow on demand. */
    s4f_htab_reserve(&w->hosts, t->hint[0]);
    s4f_htab_reserve(&w->ports, t->hint[1]);
    s4f_htab_reserve(&w->dsts, t->hint[2]);
    s4f_htab_reserve(&w->http_s, t->hint[3]);
    s4f_htab_reserve(&w->http, t->hint[4]);
    return w;
}

static void tn_window_free(void *inst, void *wstate)
{
    struct tn *t = inst;
    struct twin *w = wstate;
    t->hint[0] = w->hosts.n;
    t->hint[1] = w->ports.n;
    t->hint[2] = w->dsts.n;
    t->hint[3] = w->http_s.n;
    t->hint[4] = w->http.n;
    s4f_htab_release(&w->hosts);
    s4f_htab_release(&w->ports);
    s4f_htab_release(&w->dsts);
    s4f_htab_release(&w->http_s);
    s4f_htab_release(&w->http);
    free(w->addr);
    free(w);
}

static bool is_local(const struct tn *t, const struct s4f_addr *a)
{
    if (!t->nnets)
        return true;
    for (size_t i = 0; i < t->nnets; i++)
        if (s4f_cidr_contains(&t->nets[i], a))
            return true;
    return false;
}

static void bump(struct tn *t, struct s4f_htab *h, const void *key, size_t klen)
{
    bool created;
    uint64_t *v = s4f_htab_insert(h, key, s4f_hash_bytes(key, klen), &created);
    if (v)
        (*v)++;
    else
        s4f_metric_inc(t->m_members_dropped);
}

static void tn_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct tn *t = inst;
    struct twin *w = wstate;
    if (!is_local(t, &f->src))
        return;
    struct hkey hk;
    memset(&hk, 0, sizeof(hk));
    memcpy(hk.b, f->src.b, 16);
    hk.family = f->src.family;
    bool created;
    uint32_t *idx = s4f_htab_insert(&w->hosts, &hk, s4f_hash_bytes(&hk, sizeof(hk)), &created);
    if (!idx) {
        s4f_metric_inc(t->m_keys_dropped);
        return;
    }
    if (created) {
        if (w->naddr == w->caddr) {
            size_t nc = w->caddr ? w->caddr * 2 : 64;
            struct hkey *g = realloc(w->addr, nc * sizeof(*g));
            if (!g) {
                s4f_htab_remove(&w->hosts, &hk, s4f_hash_bytes(&hk, sizeof(hk)));
                s4f_metric_inc(t->m_keys_dropped);
                return;
            }
            w->addr = g;
            w->caddr = nc;
        }
        *idx = (uint32_t)w->naddr;
        w->addr[w->naddr++] = hk;
    }
    uint32_t host = *idx;
    if (f->proto == 6 || f->proto == 17 || f->proto == 132 || f->proto == 33) {
        struct portkey pk;
        memset(&pk, 0, sizeof(pk));
        pk.host = host;
        pk.port[0] = (uint8_t)(f->dport >> 8);
        pk.port[1] = (uint8_t)f->dport;
        bump(t, &w->ports, &pk, sizeof(pk));
    }
    struct dstkey dk;
    memset(&dk, 0, sizeof(dk));
    dk.host = host;
    memcpy(dk.dst.b, f->dst.b, 16);
    dk.dst.family = f->dst.family;
    bump(t, &w->dsts, &dk, sizeof(dk));
    if ((f->app.flags & S4F_APP_HTTP_HOST) && !(f->app.flags & S4F_APP_TRUNCATED) &&
        f->app.http_host_len <= S4F_APP_TEXT_MAX) {
        union {
            struct httpkey_s s;
            struct httpkey l;
        } xk;
        memset(&xk, 0, sizeof(xk));
        bool shortk = f->app.http_host_len <= SHORT_HTTP;
        struct httpkey *k = &xk.l; /* the short key is a prefix of the long one's layout */
        k->host = host;
        k->len = (uint8_t)f->app.http_host_len;
        memcpy(k->name, f->app.http_host, f->app.http_host_len);
        struct s4f_htab *tab = shortk ? &w->http_s : &w->http;
        size_t klen = shortk ? sizeof(xk.s) : sizeof(xk.l);
        /* max_members bounds both tables together. */
        if (w->http_s.n + w->http.n < (size_t)t->conf->max_members ||
            s4f_htab_find(tab, &xk, s4f_hash_bytes(&xk, klen)))
            bump(t, tab, &xk, klen);
        else
            s4f_metric_inc(t->m_members_dropped);
    }
}

/* One pair of a table: its host, count, and the key bytes after the host index (what ties
 * break on). */
struct item {
    uint32_t host;
    uint64_t n;
    const uint8_t *key;
};

/* Key bytes compared, 0 for a name (length byte, then that many bytes): qsort has no context
 * argument (per thread: each engine has its own). */
static _Thread_local size_t cmp_len;

static int cmp_item(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    if (a->host != b->host)
        return a->host < b->host ? -1 : 1;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    if (cmp_len)
        return memcmp(a->key, b->key, cmp_len);
    if (a->key[0] != b->key[0])
        return a->key[0] < b->key[0] ? -1 : 1;
    return memcmp(a->key + 1, b->key + 1, a->key[0]);
}

/* The pairs of one or two tables (h2 may be NULL), sorted by host, then count (descending),
 * then key (klen bytes with the host index; 0: names). NULL when empty or out of memory
 * (*n = 0). */
static struct item *sorted(const struct s4f_htab *h, const struct s4f_htab *h2, size_t klen,
                           size_t *n)
{
    *n = 0;
    size_t total = h->n + (h2 ? h2->n : 0);
    if (!total)
        return NULL;
    struct item *it = malloc(total * sizeof(*it));
    if (!it) {
        s4f_error("top_n_host_stats: out of memory emitting a window");
        return NULL;
    }
    for (const struct s4f_htab *t = h; t; t = t == h ? h2 : NULL)
        for (size_t i = 0; i < t->cap; i++) {
            const uint8_t *k = s4f_htab_key_at(t, i);
            if (!k)
                continue;
            uint32_t host;
            memcpy(&host, k, sizeof(host));
            it[(*n)++] =
                (struct item){host, *(const uint64_t *)s4f_htab_val_at(t, i), k + sizeof(uint32_t)};
        }
    cmp_len = klen ? klen - sizeof(uint32_t) : 0;
    qsort(it, *n, sizeof(*it), cmp_item);
    return it;
}

enum { L_PORTS, L_DSTS, L_HTTP, L_COUNT };

static void tn_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct tn *t = inst;
    struct twin *w = wstate;
    static const char *const names[L_COUNT] = {"top_n_dst_ports", "top_n_dst_hosts",
                                               "top_n_http_dst"};
    struct item *lists[L_COUNT];
    size_t n[L_COUNT], pos[L_COUNT] = {0};
    lists[L_PORTS] = sorted(&w->ports, NULL, sizeof(struct portkey), &n[L_PORTS]);
    lists[L_DSTS] = sorted(&w->dsts, NULL, sizeof(struct dstkey), &n[L_DSTS]);
    lists[L_HTTP] = sorted(&w->http_s, &w->http, 0, &n[L_HTTP]);
    size_t top = (size_t)t->conf->top_n;
    for (uint32_t host = 0; host < w->naddr; host++) {
        char ip[64];
        struct s4f_addr a = {.family = w->addr[host].family};
        memcpy(a.b, w->addr[host].b, 16);
        s4f_addr_str(&a, ip, sizeof(ip));
        struct s4f_jbuf *b = s4f_result_begin(out, "top_n_host_stats", ip, 0, 0);
        if (b) {
            s4f_jb_str(b, "src_ip", ip);
            s4f_jb_key(b, "stats");
            s4f_jb_raw(b, "{");
        }
        for (int l = 0; l < L_COUNT; l++) {
            size_t i = pos[l];
            while (i < n[l] && lists[l][i].host < host)
                i++;
            if (b) {
                s4f_jb_key(b, names[l]);
                s4f_jb_raw(b, "{");
            }
            for (size_t r = 0; i < n[l] && lists[l][i].host == host; i++, r++) {
                if (r >= top || !b)
                    continue;
                const uint8_t *k = lists[l][i].key;
                char rank[24], text[S4F_APP_TEXT_MAX + 1];
                snprintf(rank, sizeof(rank), "%zu", r);
                s4f_jb_key(b, rank);
                s4f_jb_raw(b, "{");
                if (l == L_PORTS) {
                    s4f_jb_u64(b, "port", (uint64_t)(k[0] << 8 | k[1]));
                } else if (l == L_DSTS) {
                    struct s4f_addr d = {.family = k[16]};
                    memcpy(d.b, k, 16);
                    s4f_jb_str(b, "dst_host", s4f_addr_str(&d, ip, sizeof(ip)));
                } else {
                    memcpy(text, k + 1, k[0]);
                    text[k[0]] = '\0';
                    s4f_jb_str(b, "http_host", text);
                }
                s4f_jb_u64(b, "flows", lists[l][i].n);
                s4f_jb_raw(b, "}");
            }
            pos[l] = i;
            if (b)
                s4f_jb_raw(b, "}");
        }
        if (b) {
            s4f_jb_raw(b, "}");
            s4f_result_end(out);
        }
    }
    for (int l = 0; l < L_COUNT; l++)
        free(lists[l]);
}

const struct s4f_analysis s4f_analysis_top_n_host_stats = {
    .name = "top_n_host_stats",
    .summary = "Per local source host, its top N destination ports, destination hosts and HTTP "
               "hosts by flows (top_n_host_stats)",
    .opts = tn_opts,
    .conf_size = sizeof(struct tn_conf),
    .init = tn_init,
    .window_new = tn_window_new,
    .on_flow = tn_on_flow,
    .on_window_close = tn_on_window_close,
    .window_free = tn_window_free,
    .destroy = tn_destroy,
};
