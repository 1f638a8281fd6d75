/* ports_scan: horizontal and vertical TCP SYN scans, as the original Stream4Flow application.
 *
 * A flow counts when it is TCP and SYN is the only one of the low five flag bits set (FIN, SYN,
 * RST, PSH, ACK): a probe that got no handshake. Per window:
 *   horizontal: (src_ip, dst_port) reaching >= threshold distinct destination addresses;
 *   vertical:   (src_ip, dst_ip) reaching >= threshold distinct destination ports.
 * A biflow (RFC 5103) counts its reverse direction too, as the flow from destination to source
 * it stands for: with reverse packets whose reverse flags are SYN alone, that is a probe from
 * the destination to the source's port (a scan answered by no one is a uniflow for the probe;
 * an exporter may still pair a scanner's SYN with an unrelated reverse record).
 * Distinct counts are exact: every (source, destination, port) triple is kept once, up to
 * max_members per window; past that, new triples are not counted (members_dropped_total) so a
 * count can only be too low, never too high. A continuing scan is reported once per window
 * (re-emissions carry the same id). Flows of one source all arrive in one input partition (the
 * collector keys by source address), so per-partition windows see whole scans. */
#include "analysis.h"
#include "geo.h"
#include "htab.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct pscan_conf {
    struct s4f_analysis_common common;
    int64_t threshold;
    int64_t max_members;
};

static const struct s4f_opt pscan_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct pscan_conf, "60s", "200000"),
    {"threshold", S4F_OPT_INT, "20", 2, 1000000, offsetof(struct pscan_conf, threshold),
     "Distinct targets (addresses for horizontal, ports for vertical) that make a scan", NULL},
    {"max_members", S4F_OPT_INT, "2000000", 1000, 1000000000,
     offsetof(struct pscan_conf, max_members),
     "Most distinct (source, destination, port) triples kept per window and partition", NULL},
    S4F_OPT_END,
};

enum { KIND_H = 1, KIND_V = 2 };

/* Scan key: source, kind, then the port (horizontal) or the destination (vertical). */
struct skey {
    uint8_t src[16];
    uint8_t family;
    uint8_t kind;
    uint16_t port;
    uint8_t dst[16];
};

struct sval {
    uint64_t flows, distinct, flows_last_slide;
    int64_t first_start, last_end;
    uint32_t src_geo, dst_geo; /* the collector's GeoIP fields of the scanner and target */
};

/* Member key: the scan key plus the other coordinate. */
struct mkey {
    struct skey k;
    uint16_t mport;
    uint8_t mdst[16];
};

struct pscan {
    const struct pscan_conf *conf;
    struct s4f_metric *m_keys_dropped, *m_members_dropped, *m_scans;
    size_t hint_keys, hint_members; /* sizes of the last window freed (see host_stats.c) */
    struct s4f_geo_tab *geo;
};

struct pwin {
    int64_t end, slide;
    struct s4f_htab keys, members;
};

static void *pscan_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err,
                        size_t errlen)
{
    struct pscan *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->conf = conf;
    p->geo = s4f_geo_tab_new(0);
    if (!p->geo) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    p->m_members_dropped = s4f_metrics_counter(
        ctx->metrics, "members_dropped_total",
        "Distinct targets not counted because a window reached max_members", ctx->labels);
    p->m_scans = s4f_metrics_counter(ctx->metrics, "scans_reported_total", "Scan results emitted",
                                     ctx->labels);
    return p;
}

static void *pscan_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct pscan *p = inst;
    struct pwin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->end = end_ms;
    w->slide = slide_ms;
    s4f_htab_init(&w->keys, sizeof(struct skey), sizeof(struct sval),
                  (size_t)p->conf->common.max_keys);
    s4f_htab_init(&w->members, sizeof(struct mkey), 0, (size_t)p->conf->max_members);
    s4f_htab_reserve(&w->keys, p->hint_keys);
    s4f_htab_reserve(&w->members, p->hint_members);
    return w;
}

/* rev: the probe is the biflow's reverse direction (its scanner is the flow's destination). */
static void count(struct pscan *p, struct pwin *w, const struct skey *k, const struct mkey *m,
                  const struct s4f_flow *f, bool rev)
{
    bool created;
    struct sval *v = s4f_htab_insert(&w->keys, k, s4f_hash_bytes(k, sizeof(*k)), &created);
    if (!v) {
        s4f_metric_inc(p->m_keys_dropped);
        return;
    }
    if (created) {
        v->first_start = f->start_ms;
        v->last_end = f->end_ms;
    }
    /* The first flow of the key that carries GeoIP fields names its addresses. */
    if (!v->src_geo)
        v->src_geo = rev ? s4f_geo_dst(p->geo, f) : s4f_geo_src(p->geo, f);
    if (k->kind == KIND_V && !v->dst_geo)
        v->dst_geo = rev ? s4f_geo_src(p->geo, f) : s4f_geo_dst(p->geo, f);
    v->flows++;
    if (f->end_ms >= w->end - w->slide)
        v->flows_last_slide++;
    if (f->start_ms < v->first_start)
        v->first_start = f->start_ms;
    if (f->end_ms > v->last_end)
        v->last_end = f->end_ms;
    if (s4f_htab_insert(&w->members, m, s4f_hash_bytes(m, sizeof(*m)), &created)) {
        if (created)
            v->distinct++;
    } else {
        s4f_metric_inc(p->m_members_dropped);
    }
}

/* One probe from src to dst's port dport. */
static void probe(void *inst, void *wstate, const struct s4f_addr *src, const struct s4f_addr *dst,
                  uint16_t dport, const struct s4f_flow *f, bool rev)
{
    struct skey k;
    struct mkey m;
    memset(&k, 0, sizeof(k));
    memset(&m, 0, sizeof(m));
    memcpy(k.src, src->b, 16);
    k.family = src->family;
    /* horizontal: (src, port) -> distinct destinations */
    k.kind = KIND_H;
    k.port = dport;
    m.k = k;
    memcpy(m.mdst, dst->b, 16);
    count(inst, wstate, &k, &m, f, rev);
    /* vertical: (src, dst) -> distinct ports */
    k.kind = KIND_V;
    k.port = 0;
    memcpy(k.dst, dst->b, 16);
    memset(&m, 0, sizeof(m));
    m.k = k;
    m.mport = dport;
    count(inst, wstate, &k, &m, f, rev);
}

static void pscan_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    if (f->proto != 6)
        return;
    if ((f->tcp_flags & 0x1F) == S4F_TCP_SYN)
        probe(inst, wstate, &f->src, &f->dst, f->dport, f, false);
    if (f->rev_packets && (f->rev_tcp_flags & 0x1F) == S4F_TCP_SYN)
        probe(inst, wstate, &f->dst, &f->src, f->sport, f, true);
}

static void pscan_on_window_close(void *inst, void *pstate, void *wstate,
                                  const struct s4f_window *win, struct s4f_emit *out)
{
    struct pscan *p = inst;
    struct pwin *w = wstate;
    for (size_t i = 0; i < w->keys.cap; i++) {
        const struct skey *k = s4f_htab_key_at(&w->keys, i);
        if (!k)
            continue;
        const struct sval *v = s4f_htab_val_at(&w->keys, i);
        if (v->distinct < (uint64_t)p->conf->threshold)
            continue;
        struct s4f_addr src = {{0}, k->family}, dst = {{0}, k->family};
        char srcs[64], dsts[64], key[160];
        memcpy(src.b, k->src, 16);
        memcpy(dst.b, k->dst, 16);
        s4f_addr_str(&src, srcs, sizeof(srcs));
        const char *type;
        if (k->kind == KIND_H) {
            type = "portscan_horizontal";
            snprintf(key, sizeof(key), "%s|%u", srcs, (unsigned)k->port);
        } else {
            type = "portscan_vertical";
            s4f_addr_str(&dst, dsts, sizeof(dsts));
            snprintf(key, sizeof(key), "%s|%s", srcs, dsts);
        }
        struct s4f_jbuf *b = s4f_result_begin(out, type, key, 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "src_ip", srcs);
        s4f_jb_geo(b, p->geo, "src", v->src_geo);
        if (k->kind == KIND_H) {
            s4f_jb_u64(b, "dst_port", k->port);
        } else {
            s4f_jb_str(b, "dst_ip", dsts);
            s4f_jb_geo(b, p->geo, "dst", v->dst_geo);
        }
        s4f_jb_u64(b, "flows", v->flows);
        s4f_jb_u64(b, "targets_total", v->distinct);
        s4f_jb_u64(b, "flows_increment", v->flows_last_slide);
        s4f_jb_i64(b, "duration_in_milliseconds", v->last_end - v->first_start);
        s4f_jb_time(b, "timestamp", v->last_end);
        s4f_result_end(out);
        if (win->first_close)
            s4f_metric_inc(p->m_scans);
    }
}

static void pscan_window_free(void *inst, void *wstate)
{
    struct pscan *p = inst;
    struct pwin *w = wstate;
    p->hint_keys = w->keys.n;
    p->hint_members = w->members.n;
    s4f_htab_release(&w->keys);
    s4f_htab_release(&w->members);
    free(w);
}

static void pscan_destroy(void *inst)
{
    struct pscan *p = inst;
    if (p)
        s4f_geo_tab_free(p->geo);
    free(inst);
}

const struct s4f_analysis s4f_analysis_ports_scan = {
    .name = "ports_scan",
    .summary = "Horizontal and vertical TCP SYN scans (portscan_horizontal, portscan_vertical)",
    .opts = pscan_opts,
    .conf_size = sizeof(struct pscan_conf),
    .init = pscan_init,
    .window_new = pscan_window_new,
    .on_flow = pscan_on_flow,
    .on_window_close = pscan_on_window_close,
    .window_free = pscan_window_free,
    .destroy = pscan_destroy,
};
