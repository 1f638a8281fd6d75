/* reflect_ddos: DNS reflection attacks, as the original Stream4Flow application
 * (reflectdos_main.py). Per window (20 s tumbling) and (peer, DNS server), over UDP flows with
 * port 53 where the server is one of dns_servers:
 *
 *   received: bytes of queries from the peer to the server (destination port 53)
 *   sent, outgoing packets, outgoing connections: bytes, packets and flows of the server's
 *   answers to the peer (source port 53)
 *
 * and reports the pair when sent / received > ratio (3) and outgoing packets > min_packets (10):
 * the server answers far more than the "peer" (a spoofed victim) asked. Biflow records
 * (RFC 5103) count their reverse direction too: a query record's reverse counters are the
 * answers. The original divided by zero when a server only answered; here answers without any
 * query have an infinite ratio (reported once past min_packets).
 *
 * Topology: a biflow record holds both directions, and the collector keys records by source
 * address, so each (peer, server) pair is whole in one partition. Uniflow exporters send
 * answers keyed by the server and queries keyed by the peer: set repartition_topic and the
 * first stage routes both to the server's partition (docs/worker.md). Routed records carry
 * the reverse counters too (version 3), so mixed exporters are counted right. */
#include "analysis.h"
#include "htab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NET 256

struct rd_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist dns_servers;
    double ratio;
    int64_t min_packets;
};

static const struct s4f_opt rd_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct rd_conf, "20s", "200000"),
    S4F_ANALYSIS_REPARTITION_OPT(struct rd_conf, ""),
    {"dns_servers", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct rd_conf, dns_servers),
     "DNS servers watched, as addresses or CIDR prefixes (the original's -dns list)", NULL},
    {"ratio", S4F_OPT_DOUBLE, "3", 0, 1e9, offsetof(struct rd_conf, ratio),
     "Report when bytes sent / bytes received exceeds this", NULL},
    {"min_packets", S4F_OPT_INT, "10", 0, 1000000000, offsetof(struct rd_conf, min_packets),
     "... and the server sent more than this many packets to the peer", NULL},
    S4F_OPT_END,
};

struct rkey {
    uint8_t peer[16], server[16];
    uint8_t family;
};
struct rval {
    uint64_t received, sent, packets_out, flows_out;
};

struct rd {
    const struct rd_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    struct s4f_metric *m_keys_dropped, *m_reports;
};

struct rwin {
    struct s4f_htab keys;
};

static bool is_server(const struct rd *r, const struct s4f_addr *a)
{
    for (size_t i = 0; i < r->nnets; i++)
        if (s4f_cidr_contains(&r->nets[i], a))
            return true;
    return false;
}

static void *rd_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    const struct rd_conf *c = conf;
    if (c->dns_servers.n == 0 || c->dns_servers.n > MAX_NET) {
        snprintf(err, errlen, "reflect_ddos: dns_servers needs 1 to %d entries", MAX_NET);
        return NULL;
    }
    struct rd *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->conf = c;
    for (size_t i = 0; i < c->dns_servers.n; i++)
        if (s4f_cidr_parse(c->dns_servers.v[i], &r->nets[r->nnets++]) != 0) {
            snprintf(err, errlen, "reflect_ddos: dns_servers: '%s' is not an address or prefix",
                     c->dns_servers.v[i]);
            free(r);
            return NULL;
        }
    r->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    r->m_reports = s4f_metrics_counter(ctx->metrics, "reflections_reported_total",
                                       "Reflection results emitted", ctx->labels);
    return r;
}

static void rd_destroy(void *inst)
{
    free(inst);
}

static void *rd_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct rd *r = inst;
    struct rwin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    s4f_htab_init(&w->keys, sizeof(struct rkey), sizeof(struct rval),
                  (size_t)r->conf->common.max_keys);
    return w;
}

static void rd_window_free(void *inst, void *wstate)
{
    struct rwin *w = wstate;
    s4f_htab_release(&w->keys);
    free(w);
}

/* Which side is the server: bit 0 the source (an answer), bit 1 the destination (a query). */
static unsigned rd_route(void *inst, const struct s4f_flow *f)
{
    const struct rd *r = inst;
    if (f->proto != 17)
        return 0;
    if (f->sport == 53 && is_server(r, &f->src))
        return 1u << (S4F_SIDE_SRC - 1);
    if (f->dport == 53 && is_server(r, &f->dst))
        return 1u << (S4F_SIDE_DST - 1);
    return 0;
}

static struct rval *slot(struct rd *r, struct rwin *w, const struct s4f_addr *peer,
                         const struct s4f_addr *server)
{
    struct rkey k;
    memset(&k, 0, sizeof(k));
    memcpy(k.peer, peer->b, 16);
    memcpy(k.server, server->b, 16);
    k.family = server->family;
    bool created;
    struct rval *v = s4f_htab_insert(&w->keys, &k, s4f_hash_bytes(&k, sizeof(k)), &created);
    if (!v)
        s4f_metric_inc(r->m_keys_dropped);
    return v;
}

static void rd_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct rd *r = inst;
    unsigned side = rd_route(r, f);
    struct rval *v;
    if (side & (1u << (S4F_SIDE_SRC - 1))) {
        /* An answer from the server; a biflow's reverse direction is the query. */
        if ((v = slot(r, wstate, &f->dst, &f->src))) {
            v->sent += f->bytes;
            v->packets_out += f->packets;
            v->flows_out++;
            v->received += f->rev_bytes;
        }
    } else if (side & (1u << (S4F_SIDE_DST - 1))) {
        /* A query to the server; a biflow's reverse direction is the answer. */
        if ((v = slot(r, wstate, &f->src, &f->dst))) {
            v->received += f->bytes;
            if (f->rev_packets || f->rev_bytes) {
                v->sent += f->rev_bytes;
                v->packets_out += f->rev_packets;
                v->flows_out++;
            }
        }
    }
}

static void rd_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct rd *r = inst;
    struct rwin *w = wstate;
    for (size_t i = 0; i < w->keys.cap; i++) {
        const struct rkey *k = s4f_htab_key_at(&w->keys, i);
        if (!k)
            continue;
        const struct rval *v = s4f_htab_val_at(&w->keys, i);
        /* sent / received > ratio, without dividing (received may be 0). */
        if (v->packets_out <= (uint64_t)r->conf->min_packets ||
            !((double)v->sent > r->conf->ratio * (double)v->received))
            continue;
        struct s4f_addr peer = {.family = k->family}, server = {.family = k->family};
        memcpy(peer.b, k->peer, 16);
        memcpy(server.b, k->server, 16);
        char ps[64], ss[64], key[140];
        s4f_addr_str(&peer, ps, sizeof(ps));
        s4f_addr_str(&server, ss, sizeof(ss));
        snprintf(key, sizeof(key), "%s|%s", ps, ss);
        struct s4f_jbuf *b = s4f_result_begin(out, "detection.reflectdos", key, 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "@sub_type", "DNS");
        s4f_jb_str(b, "src_ip", ps);
        s4f_jb_str(b, "dns_ip", ss);
        s4f_jb_u64(b, "data_received", v->received);
        s4f_jb_u64(b, "data_sent", v->sent);
        s4f_jb_u64(b, "outgoing_packets", v->packets_out);
        s4f_jb_u64(b, "outgoing_connections", v->flows_out);
        s4f_result_end(out);
        if (win->first_close)
            s4f_metric_inc(r->m_reports);
    }
}

const struct s4f_analysis s4f_analysis_reflect_ddos = {
    .name = "reflect_ddos",
    .summary = "DNS reflection: servers answering a peer with over 3x the bytes it sent "
               "(detection.reflectdos)",
    .opts = rd_opts,
    .conf_size = sizeof(struct rd_conf),
    .init = rd_init,
    .window_new = rd_window_new,
    .on_flow = rd_on_flow,
    .route = rd_route,
    .on_window_close = rd_on_window_close,
    .window_free = rd_window_free,
    .destroy = rd_destroy,
};
