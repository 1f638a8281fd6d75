/* dns_external_resolvers: local clients that use a resolver outside the local networks, as the
 * original Stream4Flow application (dns_external_resolvers.py). It joins
 *
 *   DNS A answers (type 1, with the answer's address) from a non-local host (the resolver)
 *   to a local client, and
 *   the client's TCP flows to the answered address that start within join_ms (5 s) after
 *   the answer's start,
 *
 * and reports per window (360 s) and (client, resolver) the TCP flows that followed such an
 * answer: a client that looked the address up at an outside resolver and then connected to
 * it. flows_increment counts those that started in the window's last slide (all of them with
 * tumbling windows).
 *
 * Topology: answers come from the resolver, so the collector (keyed by source) puts them in
 * the resolver's partition, and the TCP flows in the client's. route() sends answers by their
 * destination and TCP flows by their source: with repartition_topic set (the default
 * s4f.dns_external_resolvers.by_client), each client's answers and flows meet in one
 * partition (docs/worker.md). Routed records carry an A answer's address (flow.h).
 * Without the topic, each input partition joins what it has, which finds nothing when
 * answers and flows are keyed apart.
 *
 * Bounds: answers and TCP flows are kept per window up to max_keys keys, each key with up
 * to MAX_TIMES start times (the earliest kept); past that they are counted, not kept. */
#include "analysis.h"
#include "htab.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NET   256
#define MAX_TIMES 8

struct er_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    int64_t join_ms;
};

static const struct s4f_opt er_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct er_conf, "360s", "500000"),
    S4F_ANALYSIS_REPARTITION_OPT(struct er_conf, "s4f.dns_external_resolvers.by_client"),
    {"local_networks", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct er_conf, local_networks), "Networks (CIDR) of the clients watched", NULL},
    {"join_ms", S4F_OPT_DURATION, "5s", 0, 3600000, offsetof(struct er_conf, join_ms),
     "A TCP flow follows an answer when it starts at most this long after it", NULL},
    S4F_OPT_END,
};

/* (client, address, resolver) for answers; (client, address) with resolver zero for TCP. */
struct ekey {
    uint8_t client[16], addr[16], resolver[16];
    uint8_t family, kind; /* 1 answer, 2 tcp */
};
struct evalue {
    uint32_t n; /* times kept */
    int64_t t[MAX_TIMES];
};
struct rkey {
    uint8_t client[16], resolver[16];
    uint8_t family;
};
struct rval {
    uint64_t flows, inc;
    int64_t first;
};

struct er {
    const struct er_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    struct s4f_metric *m_keys_dropped, *m_times_dropped;
};

struct ewin {
    int64_t end, slide;
    struct s4f_htab keys;
};

static bool is_local(const struct er *e, const struct s4f_addr *a)
{
    for (size_t i = 0; i < e->nnets; i++)
        if (s4f_cidr_contains(&e->nets[i], a))
            return true;
    return false;
}

static void *er_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    const struct er_conf *c = conf;
    if (c->local_networks.n > MAX_NET) {
        snprintf(err, errlen, "dns_external_resolvers: at most %d local_networks", MAX_NET);
        return NULL;
    }
    struct er *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->conf = c;
    for (size_t i = 0; i < c->local_networks.n; i++)
        if (s4f_cidr_parse(c->local_networks.v[i], &e->nets[e->nnets++]) != 0) {
            snprintf(err, errlen, "dns_external_resolvers: local_networks: '%s' is not a CIDR",
                     c->local_networks.v[i]);
            free(e);
            return NULL;
        }
    e->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    e->m_times_dropped = s4f_metrics_counter(
        ctx->metrics, "join_times_dropped_total",
        "Answer or TCP flow start times not kept: a key already had the most kept", ctx->labels);
    return e;
}

static void er_destroy(void *inst)
{
    free(inst);
}

static void *er_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct er *e = inst;
    struct ewin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->end = end_ms;
    w->slide = slide_ms;
    s4f_htab_init(&w->keys, sizeof(struct ekey), sizeof(struct evalue),
                  (size_t)e->conf->common.max_keys);
    return w;
}

static void er_window_free(void *inst, void *wstate)
{
    struct ewin *w = wstate;
    s4f_htab_release(&w->keys);
    free(w);
}

static bool is_answer(const struct er *e, const struct s4f_flow *f)
{
    return (f->dns.flags & S4F_DNS_RESPONSE) && (f->dns.flags & S4F_DNS_RDATA_ADDR) &&
           f->dns.crr_type == 1 && f->dns.rdata_addr.family == 4 && is_local(e, &f->dst) &&
           !is_local(e, &f->src);
}

static unsigned er_route(void *inst, const struct s4f_flow *f)
{
    const struct er *e = inst;
    if (is_answer(e, f))
        return 1u << (S4F_SIDE_DST - 1);
    if (f->proto == 6 && is_local(e, &f->src))
        return 1u << (S4F_SIDE_SRC - 1);
    return 0;
}

static void keep(struct er *e, struct ewin *w, const struct ekey *k, int64_t t)
{
    bool created;
    struct evalue *v = s4f_htab_insert(&w->keys, k, s4f_hash_bytes(k, sizeof(*k)), &created);
    if (!v) {
        s4f_metric_inc(e->m_keys_dropped);
        return;
    }
    if (v->n < MAX_TIMES) {
        v->t[v->n++] = t;
        return;
    }
    /* Full: keep the earliest times, so the result does not depend on arrival order. */
    size_t latest = 0;
    for (size_t i = 1; i < MAX_TIMES; i++)
        if (v->t[i] > v->t[latest])
            latest = i;
    if (t < v->t[latest])
        v->t[latest] = t;
    s4f_metric_inc(e->m_times_dropped);
}

static void er_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct er *e = inst;
    unsigned side = er_route(e, f);
    if (f->side != S4F_SIDE_ANY)
        side &= 1u << (f->side - 1);
    struct ekey k;
    memset(&k, 0, sizeof(k));
    if (side & (1u << (S4F_SIDE_DST - 1))) {
        memcpy(k.client, f->dst.b, 16);
        memcpy(k.addr, f->dns.rdata_addr.b, 16);
        memcpy(k.resolver, f->src.b, 16);
        k.family = f->dst.family;
        k.kind = 1;
        keep(e, wstate, &k, f->start_ms);
    } else if (side & (1u << (S4F_SIDE_SRC - 1))) {
        if (f->dst.family != 4)
            return; /* A answers only: IPv4 destinations */
        memcpy(k.client, f->src.b, 16);
        memcpy(k.addr, f->dst.b, 16);
        k.family = f->src.family;
        k.kind = 2;
        keep(e, wstate, &k, f->start_ms);
    }
}

static void er_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct er *e = inst;
    struct ewin *w = wstate;
    struct s4f_htab res;
    s4f_htab_init(&res, sizeof(struct rkey), sizeof(struct rval), w->keys.n + 1);
    int64_t inc_from = w->end - (w->slide ? w->slide : w->end);
    for (size_t i = 0; i < w->keys.cap; i++) {
        const struct ekey *k = s4f_htab_key_at(&w->keys, i);
        if (!k || k->kind != 1)
            continue;
        const struct evalue *a = s4f_htab_val_at(&w->keys, i);
        struct ekey tk = *k;
        memset(tk.resolver, 0, 16);
        tk.kind = 2;
        const struct evalue *tcp = s4f_htab_find(&w->keys, &tk, s4f_hash_bytes(&tk, sizeof(tk)));
        if (!tcp)
            continue;
        struct rkey rk;
        memset(&rk, 0, sizeof(rk));
        memcpy(rk.client, k->client, 16);
        memcpy(rk.resolver, k->resolver, 16);
        rk.family = k->family;
        for (uint32_t j = 0; j < tcp->n; j++) {
            bool follows = false;
            for (uint32_t m = 0; m < a->n && !follows; m++)
                follows = tcp->t[j] >= a->t[m] && tcp->t[j] - a->t[m] <= e->conf->join_ms;
            if (!follows)
                continue;
            bool created;
            struct rval *v = s4f_htab_insert(&res, &rk, s4f_hash_bytes(&rk, sizeof(rk)), &created);
            if (!v)
                continue;
            if (created || tcp->t[j] < v->first)
                v->first = tcp->t[j];
            v->flows++;
            if (tcp->t[j] >= inc_from)
                v->inc++;
        }
    }
    for (size_t i = 0; i < res.cap; i++) {
        const struct rkey *k = s4f_htab_key_at(&res, i);
        if (!k)
            continue;
        const struct rval *v = s4f_htab_val_at(&res, i);
        struct s4f_addr c = {.family = k->family}, r = {.family = k->family};
        memcpy(c.b, k->client, 16);
        memcpy(r.b, k->resolver, 16);
        char cs[64], rs[64], key[140];
        s4f_addr_str(&c, cs, sizeof(cs));
        s4f_addr_str(&r, rs, sizeof(rs));
        snprintf(key, sizeof(key), "%s|%s", cs, rs);
        struct s4f_jbuf *b = s4f_result_begin(out, "external_dns_resolver", key, 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "src_ip", cs);
        s4f_jb_str(b, "resolver_ip", rs);
        s4f_jb_u64(b, "flows", v->flows);
        s4f_jb_u64(b, "flows_increment", v->inc);
        s4f_jb_time(b, "timestamp", v->first);
        s4f_result_end(out);
    }
    s4f_htab_release(&res);
}

const struct s4f_analysis s4f_analysis_dns_external_resolvers = {
    .name = "dns_external_resolvers",
    .summary = "Local clients using a resolver outside the local networks: A answers joined "
               "with the client's TCP flows (external_dns_resolver)",
    .opts = er_opts,
    .conf_size = sizeof(struct er_conf),
    .init = er_init,
    .window_new = er_window_new,
    .on_flow = er_on_flow,
    .route = er_route,
    .on_window_close = er_on_window_close,
    .window_free = er_window_free,
    .destroy = er_destroy,
};
