/* host_stats: host profiling, as the original Stream4Flow "host statistics" application.
 *
 * Per local host (addresses inside local_networks) and window: flows, packets and bytes out
 * (host is the source) and in (host is the destination), distinct peers, distinct destination
 * ports (the service port of the flow, in either direction), average flow duration, how many
 * flows carried each TCP flag (named after the bit, unlike the original's shifted names), and
 * the top_n ports and peers by flows. Plus the long-term profile host_stats_temporal_profile:
 * for each host, hourly slots of flows, packets and bytes over the last 24 hours, emitted
 * when a window ending on the hour becomes final.
 *
 * Partitioning: a host's outgoing flows arrive in one input partition (the collector keys by
 * source address), its incoming flows in the partitions of their sources; results carry the
 * partition in their id, so counters sum downstream (see docs/worker.md on distinct counts). */
#include "analysis.h"
#include "htab.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000
#define SLOTS   24
#define MAX_NET 256

struct hs_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    int64_t top_n;
    bool temporal_profile;
    int64_t max_members;
};

static const struct s4f_opt hs_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct hs_conf, "60s", "100000"),
    {"local_networks", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct hs_conf, local_networks), "Networks (CIDR) whose hosts are profiled", NULL},
    {"top_n", S4F_OPT_INT, "5", 0, 100, offsetof(struct hs_conf, top_n),
     "Length of the top_ports and top_peers lists", NULL},
    {"temporal_profile", S4F_OPT_BOOL, "true", 0, 0, offsetof(struct hs_conf, temporal_profile),
     "Emit host_stats_temporal_profile every hour (needs tumbling windows dividing an hour)", NULL},
    {"max_members", S4F_OPT_INT, "4000000", 1000, 1000000000, offsetof(struct hs_conf, max_members),
     "Most (host, peer) and (host, port) pairs kept per window and partition", NULL},
    S4F_OPT_END,
};

struct hkey {
    uint8_t b[16];
    uint8_t family;
};

struct hval {
    uint64_t flows_out, flows_in, packets_out, packets_in, bytes_out, bytes_in;
    uint64_t dur_sum, peers, ports;
    uint64_t flags[8];
};

struct peerkey {
    struct hkey host, peer;
};

struct portkey {
    struct hkey host;
    uint16_t port;
};

struct hs {
    const struct hs_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    struct s4f_metric *m_keys_dropped, *m_members_dropped;
};

struct hwin {
    int64_t start;
    struct s4f_htab hosts, peers, ports;
};

struct slot {
    int64_t hour; /* hour start, 0: unused */
    uint64_t flows, packets, bytes;
};

struct hpart {
    struct s4f_htab profile; /* hkey -> struct slot[SLOTS] */
};

static void *hs_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    const struct hs_conf *c = conf;
    int64_t slide = c->common.slide_ms ? c->common.slide_ms : c->common.window_ms;
    if (c->temporal_profile && (slide != c->common.window_ms || HOUR_MS % c->common.window_ms)) {
        snprintf(err, errlen,
                 "host_stats: temporal_profile needs tumbling windows that divide an hour "
                 "(or temporal_profile: false)");
        return NULL;
    }
    if (c->local_networks.n > MAX_NET) {
        snprintf(err, errlen, "host_stats: at most %d local_networks", MAX_NET);
        return NULL;
    }
    struct hs *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->conf = c;
    for (size_t i = 0; i < c->local_networks.n; i++) {
        if (s4f_cidr_parse(c->local_networks.v[i], &h->nets[h->nnets]) != 0) {
            snprintf(err, errlen, "host_stats: local_networks: '%s' is not a CIDR prefix",
                     c->local_networks.v[i]);
            free(h);
            return NULL;
        }
        h->nnets++;
    }
    h->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    h->m_members_dropped = s4f_metrics_counter(
        ctx->metrics, "members_dropped_total",
        "Peers or ports not counted because a window reached max_members", ctx->labels);
    return h;
}

static bool is_local(const struct hs *h, const struct s4f_addr *a)
{
    for (size_t i = 0; i < h->nnets; i++)
        if (s4f_cidr_contains(&h->nets[i], a))
            return true;
    return false;
}

static void *hs_partition_new(void *inst, int32_t partition)
{
    struct hs *h = inst;
    struct hpart *p = calloc(1, sizeof(*p));
    if (p)
        s4f_htab_init(&p->profile, sizeof(struct hkey), sizeof(struct slot) * SLOTS,
                      (size_t)h->conf->common.max_keys);
    return p;
}

static void hs_partition_free(void *inst, void *pstate)
{
    struct hpart *p = pstate;
    s4f_htab_release(&p->profile);
    free(p);
}

static void *hs_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct hs *h = inst;
    struct hwin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->start = start_ms;
    size_t maxk = (size_t)h->conf->common.max_keys, maxm = (size_t)h->conf->max_members;
    s4f_htab_init(&w->hosts, sizeof(struct hkey), sizeof(struct hval), maxk);
    s4f_htab_init(&w->peers, sizeof(struct peerkey), sizeof(uint64_t), maxm);
    s4f_htab_init(&w->ports, sizeof(struct portkey), sizeof(uint64_t), maxm);
    return w;
}

static void hkey_of(struct hkey *k, const struct s4f_addr *a)
{
    memcpy(k->b, a->b, 16);
    k->family = a->family;
}

static void side(struct hs *h, struct hwin *w, const struct s4f_addr *host,
                 const struct s4f_addr *peer, const struct s4f_flow *f, bool out)
{
    struct hkey k;
    bool created;
    hkey_of(&k, host);
    struct hval *v = s4f_htab_insert(&w->hosts, &k, s4f_hash_bytes(&k, sizeof(k)), &created);
    if (!v) {
        s4f_metric_inc(h->m_keys_dropped);
        return;
    }
    if (out) {
        v->flows_out++;
        v->packets_out += f->packets;
        v->bytes_out += f->bytes;
    } else {
        v->flows_in++;
        v->packets_in += f->packets;
        v->bytes_in += f->bytes;
    }
    v->dur_sum += (uint64_t)(f->end_ms - f->start_ms);
    if (f->proto == 6)
        for (int b = 0; b < 8; b++)
            if (f->tcp_flags & (1u << b))
                v->flags[b]++;
    struct peerkey pk;
    pk.host = k;
    hkey_of(&pk.peer, peer);
    uint64_t *pc = s4f_htab_insert(&w->peers, &pk, s4f_hash_bytes(&pk, sizeof(pk)), &created);
    if (pc) {
        v->peers += created;
        (*pc)++;
    } else {
        s4f_metric_inc(h->m_members_dropped);
    }
    struct portkey ok;
    memset(&ok, 0, sizeof(ok));
    ok.host = k;
    ok.port = f->dport;
    /* The insert may have grown hosts' neighbours only; v stays valid (other table). */
    uint64_t *oc = s4f_htab_insert(&w->ports, &ok, s4f_hash_bytes(&ok, sizeof(ok)), &created);
    if (oc) {
        v->ports += created;
        (*oc)++;
    } else {
        s4f_metric_inc(h->m_members_dropped);
    }
}

static void hs_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct hs *h = inst;
    if (is_local(h, &f->src))
        side(h, wstate, &f->src, &f->dst, f, true);
    if (is_local(h, &f->dst) && !s4f_addr_eq(&f->src, &f->dst))
        side(h, wstate, &f->dst, &f->src, f, false);
}

struct top {
    uint64_t flows;
    size_t slot; /* in the peers or ports table */
};

/* Keeps the n largest (flows desc, then slot order for determinism within equal flows is
 * not stable across table layouts, so ties break on the key bytes). */
static void top_add(struct top *t, size_t *len, size_t n, uint64_t flows, size_t slot,
                    const struct s4f_htab *tab)
{
    size_t i = *len;
    if (i == n) {
        if (flows < t[n - 1].flows)
            return;
        if (flows == t[n - 1].flows &&
            memcmp(s4f_htab_key_at(tab, slot), s4f_htab_key_at(tab, t[n - 1].slot), tab->ksize) > 0)
            return;
        i = n - 1;
    } else {
        (*len)++;
    }
    while (i > 0 &&
           (t[i - 1].flows < flows ||
            (t[i - 1].flows == flows && memcmp(s4f_htab_key_at(tab, t[i - 1].slot),
                                               s4f_htab_key_at(tab, slot), tab->ksize) > 0))) {
        t[i] = t[i - 1];
        i--;
    }
    t[i].flows = flows;
    t[i].slot = slot;
}

static void emit_host(struct hs *h, struct hwin *w, const struct hkey *k, const struct hval *v,
                      struct s4f_emit *out)
{
    size_t n = (size_t)h->conf->top_n;
    struct top tp[100], tq[100];
    size_t np = 0, nq = 0;
    char host[64], ip[64];
    struct s4f_addr a = {{0}, k->family};
    memcpy(a.b, k->b, 16);
    s4f_addr_str(&a, host, sizeof(host));
    /* Top lists: one scan of the pair tables per host would be quadratic; instead each
     * window's pairs are scanned once per host only when the host has few of them. */
    if (n) {
        for (size_t i = 0; i < w->peers.cap; i++) {
            const struct peerkey *pk = s4f_htab_key_at(&w->peers, i);
            if (pk && memcmp(&pk->host, k, sizeof(*k)) == 0)
                top_add(tp, &np, n, *(uint64_t *)s4f_htab_val_at(&w->peers, i), i, &w->peers);
        }
        for (size_t i = 0; i < w->ports.cap; i++) {
            const struct portkey *ok = s4f_htab_key_at(&w->ports, i);
            if (ok && memcmp(&ok->host, k, sizeof(*k)) == 0)
                top_add(tq, &nq, n, *(uint64_t *)s4f_htab_val_at(&w->ports, i), i, &w->ports);
        }
    }
    struct s4f_jbuf *b = s4f_result_begin(out, "host_stats", host, 0, 0);
    if (!b)
        return;
    uint64_t flows = v->flows_out + v->flows_in;
    s4f_jb_str(b, "host", host);
    s4f_jb_u64(b, "flows_out", v->flows_out);
    s4f_jb_u64(b, "flows_in", v->flows_in);
    s4f_jb_u64(b, "packets_out", v->packets_out);
    s4f_jb_u64(b, "packets_in", v->packets_in);
    s4f_jb_u64(b, "bytes_out", v->bytes_out);
    s4f_jb_u64(b, "bytes_in", v->bytes_in);
    s4f_jb_u64(b, "peers_distinct", v->peers);
    s4f_jb_u64(b, "dst_ports_distinct", v->ports);
    s4f_jb_u64(b, "avg_flow_duration_ms", flows ? v->dur_sum / flows : 0);
    static const char *const names[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    s4f_jb_key(b, "tcp_flags");
    s4f_jb_raw(b, "{");
    for (int i = 0; i < 8; i++)
        s4f_jb_u64(b, names[i], v->flags[i]);
    s4f_jb_raw(b, "}");
    s4f_jb_key(b, "top_ports");
    s4f_jb_raw(b, "[");
    for (size_t i = 0; i < nq; i++) {
        const struct portkey *ok = s4f_htab_key_at(&w->ports, tq[i].slot);
        s4f_jb_raw(b, "{");
        s4f_jb_u64(b, "port", ok->port);
        s4f_jb_u64(b, "flows", tq[i].flows);
        s4f_jb_raw(b, "}");
    }
    s4f_jb_raw(b, "]");
    s4f_jb_key(b, "top_peers");
    s4f_jb_raw(b, "[");
    for (size_t i = 0; i < np; i++) {
        const struct peerkey *pk = s4f_htab_key_at(&w->peers, tp[i].slot);
        struct s4f_addr pa = {{0}, pk->peer.family};
        memcpy(pa.b, pk->peer.b, 16);
        s4f_jb_raw(b, "{");
        s4f_jb_str(b, "ip", s4f_addr_str(&pa, ip, sizeof(ip)));
        s4f_jb_u64(b, "flows", tp[i].flows);
        s4f_jb_raw(b, "}");
    }
    s4f_jb_raw(b, "]");
    s4f_result_end(out);
}

static void hs_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct hwin *w = wstate;
    for (size_t i = 0; i < w->hosts.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&w->hosts, i);
        if (k)
            emit_host(inst, w, k, s4f_htab_val_at(&w->hosts, i), out);
    }
}

static void hs_on_window_final(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct hs *h = inst;
    struct hpart *p = pstate;
    struct hwin *w = wstate;
    if (!h->conf->temporal_profile)
        return;
    int64_t hour = win->start_ms - ((win->start_ms % HOUR_MS) + HOUR_MS) % HOUR_MS;
    int idx = (int)((hour / HOUR_MS) % SLOTS);
    for (size_t i = 0; i < w->hosts.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&w->hosts, i);
        if (!k)
            continue;
        const struct hval *v = s4f_htab_val_at(&w->hosts, i);
        bool created;
        struct slot *s = s4f_htab_insert(&p->profile, k, s4f_hash_bytes(k, sizeof(*k)), &created);
        if (!s) {
            s4f_metric_inc(h->m_keys_dropped);
            continue;
        }
        if (s[idx].hour != hour)
            memset(&s[idx], 0, sizeof(s[idx]));
        s[idx].hour = hour;
        s[idx].flows += v->flows_in + v->flows_out;
        s[idx].packets += v->packets_in + v->packets_out;
        s[idx].bytes += v->bytes_in + v->bytes_out;
    }
    if (win->end_ms % HOUR_MS != 0)
        return;
    /* The hour just ended: one profile per host seen in the last 24 hours. */
    int64_t from = win->end_ms - SLOTS * (int64_t)HOUR_MS;
    for (size_t i = 0; i < p->profile.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&p->profile, i);
        if (!k)
            continue;
        struct slot *s = s4f_htab_val_at(&p->profile, i);
        struct slot ord[SLOTS];
        int n = 0;
        for (int64_t hr = from; hr < win->end_ms; hr += HOUR_MS) {
            struct slot *x = &s[(hr / HOUR_MS) % SLOTS];
            if (x->hour == hr && x->flows)
                ord[n++] = *x;
        }
        if (!n)
            continue;
        char host[64];
        struct s4f_addr a = {{0}, k->family};
        memcpy(a.b, k->b, 16);
        s4f_addr_str(&a, host, sizeof(host));
        struct s4f_jbuf *b =
            s4f_result_begin(out, "host_stats_temporal_profile", host, from, win->end_ms);
        if (!b)
            continue;
        s4f_jb_str(b, "host", host);
        s4f_jb_key(b, "hours");
        s4f_jb_raw(b, "[");
        for (int j = 0; j < n; j++) {
            s4f_jb_raw(b, "{");
            s4f_jb_time(b, "hour_start", ord[j].hour);
            s4f_jb_u64(b, "flows", ord[j].flows);
            s4f_jb_u64(b, "packets", ord[j].packets);
            s4f_jb_u64(b, "bytes", ord[j].bytes);
            s4f_jb_raw(b, "}");
        }
        s4f_jb_raw(b, "]");
        s4f_result_end(out);
    }
}

static void hs_window_free(void *inst, void *wstate)
{
    struct hwin *w = wstate;
    s4f_htab_release(&w->hosts);
    s4f_htab_release(&w->peers);
    s4f_htab_release(&w->ports);
    free(w);
}

static void hs_destroy(void *inst)
{
    free(inst);
}

const struct s4f_analysis s4f_analysis_host_stats = {
    .name = "host_stats",
    .summary = "Per-host profile of local networks (host_stats, host_stats_temporal_profile)",
    .opts = hs_opts,
    .conf_size = sizeof(struct hs_conf),
    .init = hs_init,
    .partition_new = hs_partition_new,
    .window_new = hs_window_new,
    .on_flow = hs_on_flow,
    .on_window_close = hs_on_window_close,
    .on_window_final = hs_on_window_final,
    .window_free = hs_window_free,
    .partition_free = hs_partition_free,
    .destroy = hs_destroy,
};
