/* ssh_auth_simple: SSH password guessing, as the original Stream4Flow application
 * (ssh_auth_simple.py). A flow is a guess when it is TCP to port 22 from a port above 1024
 * and its packets, bytes and duration lie strictly inside the bounds of one failed login
 * (10 < packets < 20, 1800 < bytes < 5000, duration < 12 s; all options). Per window (300 s
 * tumbling) and (src_ip, dst_ip), a pair with at least threshold (10) such flows is reported,
 * once per window (re-emissions carry the same id).
 *
 * Fields as the original: flows, average_packet_count (packets per flow: the original's
 * running average used the wrong count and Python 2 integer division; here the exact mean,
 * rounded to two decimals), duration_in_milliseconds (the sum of the flows' durations, as the
 * original summed them), timestamp (start of the earliest flow: the attack's start; the
 * original kept whichever came first in its reduce order), flows_increment (flows in the
 * window's last slide: = flows for tumbling windows; the original counted flows since its
 * previous report, kept in a dictionary cleaned by wall clock).
 *
 * Flows of one source all arrive in one input partition (the collector keys by source
 * address), so each (src, dst) pair is seen whole. */
#include "analysis.h"
#include "geo.h"
#include "htab.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ssh_conf {
    struct s4f_analysis_common common;
    int64_t port, src_port_above;
    int64_t min_packets, max_packets, min_bytes, max_bytes;
    int64_t max_duration_ms;
    int64_t threshold;
};

static const struct s4f_opt ssh_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct ssh_conf, "300s", "200000"),
    {"port", S4F_OPT_INT, "22", 1, 65535, offsetof(struct ssh_conf, port),
     "Destination port of the SSH service", NULL},
    {"src_port_above", S4F_OPT_INT, "1024", 0, 65535, offsetof(struct ssh_conf, src_port_above),
     "A guess comes from a source port above this (a client's ephemeral port)", NULL},
    {"min_packets", S4F_OPT_INT, "10", 0, 1000000000, offsetof(struct ssh_conf, min_packets),
     "A guess has more packets than this (client to server) ...", NULL},
    {"max_packets", S4F_OPT_INT, "20", 1, 1000000000, offsetof(struct ssh_conf, max_packets),
     "... and fewer than this", NULL},
    {"min_bytes", S4F_OPT_INT, "1800", 0, 1000000000, offsetof(struct ssh_conf, min_bytes),
     "A guess has more bytes than this ...", NULL},
    {"max_bytes", S4F_OPT_INT, "5000", 1, 1000000000, offsetof(struct ssh_conf, max_bytes),
     "... and fewer than this", NULL},
    {"max_duration", S4F_OPT_DURATION, "12s", 1, 86400000,
     offsetof(struct ssh_conf, max_duration_ms), "A guess lasts less than this (end - start)",
     NULL},
    {"threshold", S4F_OPT_INT, "10", 1, 1000000000, offsetof(struct ssh_conf, threshold),
     "Guesses of one source against one server in a window that make an attack", NULL},
    S4F_OPT_END,
};

struct skey {
    uint8_t src[16], dst[16];
    uint8_t family;
};

struct sval {
    uint64_t flows, packets, flows_last_slide;
    int64_t dur_sum, first_start;
    uint32_t src_geo, dst_geo; /* the collector's GeoIP fields of guesser and server */
};

struct ssh {
    const struct ssh_conf *conf;
    struct s4f_metric *m_keys_dropped, *m_attacks;
    struct s4f_geo_tab *geo;
};

struct swin {
    int64_t end, slide;
    struct s4f_htab keys;
};

static void *ssh_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err,
                      size_t errlen)
{
    const struct ssh_conf *c = conf;
    if (c->min_packets >= c->max_packets - 1 || c->min_bytes >= c->max_bytes - 1) {
        snprintf(err, errlen,
                 "ssh_auth_simple: min_packets/min_bytes must leave room below "
                 "max_packets/max_bytes (the bounds are exclusive)");
        return NULL;
    }
    struct ssh *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->conf = c;
    s->geo = s4f_geo_tab_new(0);
    if (!s->geo) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    s->m_attacks = s4f_metrics_counter(ctx->metrics, "attacks_reported_total",
                                       "SSH guessing results emitted", ctx->labels);
    return s;
}

static void ssh_destroy(void *inst)
{
    struct ssh *s = inst;
    if (s)
        s4f_geo_tab_free(s->geo);
    free(inst);
}

static void *ssh_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct ssh *s = inst;
    struct swin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->end = end_ms;
    w->slide = slide_ms;
    s4f_htab_init(&w->keys, sizeof(struct skey), sizeof(struct sval),
                  (size_t)s->conf->common.max_keys);
    return w;
}

static void ssh_window_free(void *inst, void *wstate)
{
    struct swin *w = wstate;
    s4f_htab_release(&w->keys);
    free(w);
}

static bool is_guess(const struct ssh_conf *c, const struct s4f_flow *f)
{
    int64_t dur = f->end_ms - f->start_ms;
    return f->proto == 6 && f->dport == c->port && f->sport > c->src_port_above &&
           f->packets > (uint64_t)c->min_packets && f->packets < (uint64_t)c->max_packets &&
           f->bytes > (uint64_t)c->min_bytes && f->bytes < (uint64_t)c->max_bytes &&
           dur < c->max_duration_ms;
}

static void ssh_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct ssh *s = inst;
    struct swin *w = wstate;
    if (!is_guess(s->conf, f))
        return;
    struct skey k;
    memset(&k, 0, sizeof(k));
    memcpy(k.src, f->src.b, 16);
    memcpy(k.dst, f->dst.b, 16);
    k.family = f->src.family;
    bool created;
    struct sval *v = s4f_htab_insert(&w->keys, &k, s4f_hash_bytes(&k, sizeof(k)), &created);
    if (!v) {
        s4f_metric_inc(s->m_keys_dropped);
        return;
    }
    if (created || f->start_ms < v->first_start)
        v->first_start = f->start_ms;
    if (!v->src_geo)
        v->src_geo = s4f_geo_src(s->geo, f);
    if (!v->dst_geo)
        v->dst_geo = s4f_geo_dst(s->geo, f);
    v->flows++;
    v->packets += f->packets;
    v->dur_sum += f->end_ms - f->start_ms;
    if (f->end_ms >= w->end - w->slide)
        v->flows_last_slide++;
}

static void ssh_on_window_close(void *inst, void *pstate, void *wstate,
                                const struct s4f_window *win, struct s4f_emit *out)
{
    struct ssh *s = inst;
    struct swin *w = wstate;
    for (size_t i = 0; i < w->keys.cap; i++) {
        const struct skey *k = s4f_htab_key_at(&w->keys, i);
        if (!k)
            continue;
        const struct sval *v = s4f_htab_val_at(&w->keys, i);
        if (v->flows < (uint64_t)s->conf->threshold)
            continue;
        struct s4f_addr src = {{0}, k->family}, dst = {{0}, k->family};
        memcpy(src.b, k->src, 16);
        memcpy(dst.b, k->dst, 16);
        char srcs[64], dsts[64], key[140], avg[48];
        s4f_addr_str(&src, srcs, sizeof(srcs));
        s4f_addr_str(&dst, dsts, sizeof(dsts));
        snprintf(key, sizeof(key), "%s|%s", srcs, dsts);
        /* The mean in hundredths, rounded half up: exact, the same on every machine. */
        uint64_t c = (v->packets * 200 + v->flows) / (2 * v->flows);
        snprintf(avg, sizeof(avg), "%" PRIu64 ".%02u", c / 100, (unsigned)(c % 100));
        struct s4f_jbuf *b = s4f_result_begin(out, "ssh_auth_simple", key, 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "src_ip", srcs);
        s4f_jb_geo(b, s->geo, "src", v->src_geo);
        s4f_jb_str(b, "dst_ip", dsts);
        s4f_jb_geo(b, s->geo, "dst", v->dst_geo);
        s4f_jb_u64(b, "flows", v->flows);
        s4f_jb_key(b, "average_packet_count");
        s4f_jb_raw(b, avg);
        s4f_jb_i64(b, "duration_in_milliseconds", v->dur_sum);
        s4f_jb_time(b, "timestamp", v->first_start);
        s4f_jb_u64(b, "flows_increment", v->flows_last_slide);
        s4f_result_end(out);
        if (win->first_close)
            s4f_metric_inc(s->m_attacks);
    }
}

const struct s4f_analysis s4f_analysis_ssh_auth_simple = {
    .name = "ssh_auth_simple",
    .summary = "SSH password guessing: many short login-sized flows from one source to one "
               "server (ssh_auth_simple)",
    .opts = ssh_opts,
    .conf_size = sizeof(struct ssh_conf),
    .init = ssh_init,
    .window_new = ssh_window_new,
    .on_flow = ssh_on_flow,
    .on_window_close = ssh_on_window_close,
    .window_free = ssh_window_free,
    .destroy = ssh_destroy,
};
