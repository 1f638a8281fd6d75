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
#define MAX_TOP 50 /* top_n's bound */

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
    {"top_n", S4F_OPT_INT, "10", 1, MAX_TOP, offsetof(struct tn_conf, top_n),
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

enum { T_HOSTS, T_PORTS, T_DSTS, T_HTTP_S, T_HTTP, T_COUNT };
enum { L_PORTS, L_DSTS, L_HTTP, L_COUNT };
static const char *const list_names[L_COUNT] = {"top_n_dst_ports", "top_n_dst_hosts",
                                                "top_n_http_dst"};
static const char *const list_fields[L_COUNT] = {"port", "dst_host", "http_host"};

struct tn {
    const struct tn_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    struct s4f_metric *m_keys_dropped, *m_members_dropped;
    /* Table sizes new windows start at: those of the last window freed (load changes slowly),
     * sparing the doublings of growing from nothing; and the tables of freed windows, reused
     * (htab.h). */
    size_t hint[T_COUNT];
    struct s4f_htab_pool pool[T_COUNT];
    /* Each list entry's opening, per list and rank: `,"<rank>":{"port":` (the comma left out
     * for rank 0), written once instead of formatting the rank for every entry. */
    char *open[L_COUNT][MAX_TOP];
};

struct twin {
    /* T_HOSTS: hkey -> uint32_t index; the others: pair -> uint64_t flows (T_HTTP_S: short
     * names). */
    struct s4f_htab t[T_COUNT];
    struct hkey *addr; /* index -> address */
    size_t naddr, caddr;
};

static void tn_destroy(void *inst)
{
    struct tn *t = inst;
    if (!t)
        return;
    for (int i = 0; i < T_COUNT; i++)
        s4f_htab_pool_release(&t->pool[i]);
    for (int l = 0; l < L_COUNT; l++)
        for (int r = 0; r < MAX_TOP; r++)
            free(t->open[l][r]);
    free(t);
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
    for (int l = 0; l < L_COUNT; l++)
        for (int r = 0; r < MAX_TOP; r++) {
            /* HTTP hosts are escaped by s4f_jb_str after the opening. */
            char frag[64];
            if (l == L_HTTP)
                snprintf(frag, sizeof(frag), ",\"%d\":{", r);
            else
                snprintf(frag, sizeof(frag), ",\"%d\":{\"%s\":%s", r, list_fields[l],
                         l == L_DSTS ? "\"" : "");
            if (!(t->open[l][r] = strdup(frag))) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
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

static const size_t key_sizes[T_COUNT] = {sizeof(struct hkey), sizeof(struct portkey),
                                          sizeof(struct dstkey), sizeof(struct httpkey_s),
                                          sizeof(struct httpkey)};

static void *tn_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct tn *t = inst;
    struct twin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    for (int i = 0; i < T_COUNT; i++)
        s4f_htab_pool_take(
            &t->pool[i], &w->t[i], key_sizes[i], i == T_HOSTS ? sizeof(uint32_t) : sizeof(uint64_t),
            (size_t)(i == T_HOSTS ? t->conf->common.max_keys : t->conf->max_members), t->hint[i]);
    return w;
}

static void tn_window_free(void *inst, void *wstate)
{
    struct tn *t = inst;
    struct twin *w = wstate;
    for (int i = 0; i < T_COUNT; i++) {
        t->hint[i] = w->t[i].n;
        s4f_htab_pool_give(&t->pool[i], &w->t[i]);
    }
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

static void bump(struct tn *t, struct s4f_htab *h, const void *key, uint64_t hash)
{
    bool created;
    uint64_t *v = s4f_htab_insert(h, key, hash, &created);
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
    uint32_t *idx = s4f_htab_insert(&w->t[T_HOSTS], &hk, s4f_hash_bytes(&hk, sizeof(hk)), &created);
    if (!idx) {
        s4f_metric_inc(t->m_keys_dropped);
        return;
    }
    if (created) {
        if (w->naddr == w->caddr) {
            size_t nc = w->caddr ? w->caddr * 2 : 64;
            struct hkey *g = realloc(w->addr, nc * sizeof(*g));
            if (!g) {
                s4f_htab_remove(&w->t[T_HOSTS], &hk, s4f_hash_bytes(&hk, sizeof(hk)));
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
    /* The pairs' keys and hashes first, and their slots asked for at once: the tables are far
     * larger than the caches, and the misses of three probes overlap instead of queueing. */
    bool ported = f->proto == 6 || f->proto == 17 || f->proto == 132 || f->proto == 33;
    struct portkey pk;
    uint64_t ph = 0;
    if (ported) {
        memset(&pk, 0, sizeof(pk));
        pk.host = host;
        pk.port[0] = (uint8_t)(f->dport >> 8);
        pk.port[1] = (uint8_t)f->dport;
        ph = s4f_hash_bytes(&pk, sizeof(pk));
        s4f_htab_prefetch(&w->t[T_PORTS], ph);
    }
    struct dstkey dk;
    memset(&dk, 0, sizeof(dk));
    dk.host = host;
    memcpy(dk.dst.b, f->dst.b, 16);
    dk.dst.family = f->dst.family;
    uint64_t dh = s4f_hash_bytes(&dk, sizeof(dk));
    s4f_htab_prefetch(&w->t[T_DSTS], dh);
    bool http = (f->app.flags & S4F_APP_HTTP_HOST) && !(f->app.flags & S4F_APP_TRUNCATED) &&
                f->app.http_host_len <= S4F_APP_TEXT_MAX;
    union {
        struct httpkey_s s;
        struct httpkey l;
    } xk;
    struct s4f_htab *xt = NULL;
    uint64_t xh = 0;
    if (http) {
        bool shortk = f->app.http_host_len <= SHORT_HTTP;
        size_t klen = shortk ? sizeof(xk.s) : sizeof(xk.l);
        memset(&xk, 0, klen);
        struct httpkey *k = &xk.l; /* the short key is a prefix of the long one's layout */
        k->host = host;
        k->len = (uint8_t)f->app.http_host_len;
        memcpy(k->name, f->app.http_host, f->app.http_host_len);
        xt = shortk ? &w->t[T_HTTP_S] : &w->t[T_HTTP];
        xh = s4f_hash_bytes(&xk, klen);
        s4f_htab_prefetch(xt, xh);
    }
    if (ported)
        bump(t, &w->t[T_PORTS], &pk, ph);
    bump(t, &w->t[T_DSTS], &dk, dh);
    /* max_members bounds both HTTP tables together. */
    if (http) {
        if (w->t[T_HTTP_S].n + w->t[T_HTTP].n < (size_t)t->conf->max_members ||
            s4f_htab_find(xt, &xk, xh))
            bump(t, xt, &xk, xh);
        else
            s4f_metric_inc(t->m_members_dropped);
    }
}

/* One pair of a table: its count and the key bytes after the host index (what ties break
 * on). */
struct item {
    uint64_t n;
    const uint8_t *key;
};

/* Whether a ranks before b: more flows first, then the key: klen bytes (ports, addresses:
 * byte order is numeric order), or for names (klen 0) length first, then bytes. Keys of one
 * host differ, so this is a total order. */
static inline bool before(const struct item *a, const struct item *b, size_t klen)
{
    if (a->n != b->n)
        return a->n > b->n;
    if (klen)
        return memcmp(a->key, b->key, klen) < 0;
    if (a->key[0] != b->key[0])
        return a->key[0] < b->key[0];
    return memcmp(a->key + 1, b->key + 1, a->key[0]) < 0;
}

static void isort(struct item *v, size_t n, size_t klen)
{
    for (size_t i = 1; i < n; i++) {
        struct item x = v[i];
        size_t j = i;
        for (; j && before(&x, &v[j - 1], klen); j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Heap of the best `top` seen so far with the last-ranked at its root. */
static void sift(struct item *h, size_t n, size_t i, size_t klen)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && before(&h[c], &h[c + 1], klen))
            c++;
        if (!before(&h[i], &h[c], klen))
            return;
        struct item x = h[i];
        h[i] = h[c];
        h[c] = x;
        i = c;
    }
}

/* Puts the first min(n, top) entries of v in rank order: a bounded heap, so a host with
 * millions of pairs costs n log(top), not a sort of them all. */
static size_t top_of(struct item *v, size_t n, size_t top, size_t klen)
{
    if (n > top) {
        for (size_t i = top / 2; i-- > 0;)
            sift(v, top, i, klen);
        for (size_t i = top; i < n; i++)
            if (before(&v[i], &v[0], klen)) {
                v[0] = v[i];
                sift(v, top, 0, klen);
            }
        n = top;
    }
    isort(v, n, klen);
    return n;
}

/* The pairs of one or two tables (h2 may be NULL) grouped by host (a counting sort on the host
 * index: the pairs of host i are it[first[i]] to it[first[i + 1] - 1]), each host's top `top`
 * first, in rank order (klen: key bytes after the host index; 0: names). first has
 * naddr + 1 entries. NULL when empty or out of memory. */
static struct item *grouped(const struct s4f_htab *h, const struct s4f_htab *h2, size_t klen,
                            size_t naddr, size_t top, size_t *first)
{
    memset(first, 0, (naddr + 1) * sizeof(*first));
    size_t total = h->n + (h2 ? h2->n : 0);
    if (!total)
        return NULL;
    struct item *it = malloc(total * sizeof(*it));
    if (!it) {
        s4f_error("top_n_host_stats: out of memory emitting a window");
        return NULL;
    }
    /* Count each host's pairs, then place them: first[i + 1] ends up as host i's end. */
    for (const struct s4f_htab *t = h; t; t = t == h ? h2 : NULL)
        for (size_t i = 0; i < t->cap; i++) {
            const uint8_t *k = s4f_htab_key_at(t, i);
            if (!k)
                continue;
            uint32_t host;
            memcpy(&host, k, sizeof(host));
            first[host + 1]++;
        }
    for (size_t i = 1; i <= naddr; i++)
        first[i] += first[i - 1];
    size_t *next = first; /* next[i]: host i's next free place, from first[i] on */
    for (const struct s4f_htab *t = h; t; t = t == h ? h2 : NULL)
        for (size_t i = 0; i < t->cap; i++) {
            const uint8_t *k = s4f_htab_key_at(t, i);
            if (!k)
                continue;
            uint32_t host;
            memcpy(&host, k, sizeof(host));
            it[next[host]++] =
                (struct item){*(const uint64_t *)s4f_htab_val_at(t, i), k + sizeof(uint32_t)};
        }
    /* Placing moved each first[i] to host i's end, the start of host i + 1: shift back. */
    memmove(first + 1, first, naddr * sizeof(*first));
    first[0] = 0;
    for (size_t i = 0; i < naddr; i++)
        top_of(it + first[i], first[i + 1] - first[i], top, klen);
    return it;
}

static char *put_u64(char *p, uint64_t v)
{
    char d[24], *q = d + sizeof(d);
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t n = (size_t)(d + sizeof(d) - q);
    memcpy(p, q, n);
    return p + n;
}

static void tn_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct tn *t = inst;
    struct twin *w = wstate;
    size_t top = (size_t)t->conf->top_n;
    struct item *lists[L_COUNT] = {NULL};
    size_t *first[L_COUNT] = {NULL};
    for (int l = 0; l < L_COUNT; l++)
        if (!(first[l] = malloc((w->naddr + 1) * sizeof(size_t)))) {
            s4f_error("top_n_host_stats: out of memory emitting a window");
            goto out;
        }
    lists[L_PORTS] = grouped(&w->t[T_PORTS], NULL, sizeof(struct portkey) - sizeof(uint32_t),
                             w->naddr, top, first[L_PORTS]);
    lists[L_DSTS] = grouped(&w->t[T_DSTS], NULL, sizeof(struct dstkey) - sizeof(uint32_t), w->naddr,
                            top, first[L_DSTS]);
    lists[L_HTTP] = grouped(&w->t[T_HTTP_S], &w->t[T_HTTP], 0, w->naddr, top, first[L_HTTP]);
    for (uint32_t host = 0; host < w->naddr; host++) {
        char ip[64];
        struct s4f_addr a = {.family = w->addr[host].family};
        memcpy(a.b, w->addr[host].b, 16);
        s4f_addr_str(&a, ip, sizeof(ip));
        struct s4f_jbuf *b = s4f_result_begin(out, "top_n_host_stats", ip, 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "src_ip", ip);
        s4f_jb_key(b, "stats");
        s4f_jb_raw(b, "{");
        for (int l = 0; l < L_COUNT; l++) {
            s4f_jb_key(b, list_names[l]);
            s4f_jb_raw(b, "{");
            size_t lo = first[l][host], hi = first[l][host + 1];
            if (hi - lo > top)
                hi = lo + top;
            for (size_t i = lo; i < hi; i++) {
                const uint8_t *k = lists[l][i].key;
                /* `"<rank>":{"port":443,"flows":3}`, the comma before all but the first. */
                char e[128], *p = e;
                const char *open = t->open[l][i - lo] + (i == lo);
                size_t on = strlen(open);
                memcpy(p, open, on);
                p += on;
                if (l == L_PORTS) {
                    p = put_u64(p, (uint64_t)(k[0] << 8 | k[1]));
                } else if (l == L_DSTS) {
                    struct s4f_addr d = {.family = k[16]};
                    memcpy(d.b, k, 16);
                    s4f_addr_str(&d, p, (size_t)(e + sizeof(e) - p));
                    p += strlen(p);
                    *p++ = '"';
                } else {
                    char text[S4F_APP_TEXT_MAX + 1];
                    *p = '\0';
                    s4f_jb_raw(b, e);
                    p = e;
                    memcpy(text, k + 1, k[0]);
                    text[k[0]] = '\0';
                    s4f_jb_str(b, "http_host", text);
                }
                memcpy(p, ",\"flows\":", 9);
                p = put_u64(p + 9, lists[l][i].n);
                *p++ = '}';
                *p = '\0';
                s4f_jb_raw(b, e);
            }
            s4f_jb_raw(b, "}");
        }
        s4f_jb_raw(b, "}");
        s4f_result_end(out);
    }
out:
    for (int l = 0; l < L_COUNT; l++) {
        free(lists[l]);
        free(first[l]);
    }
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
