/* ddos: DoS/DDoS victims by their incoming/outgoing packet ratio, as the original Stream4Flow
 * application (detection_ddos.py). Per local host (addresses inside local_networks) and short
 * window (30 s tumbling): packets in (the host is the destination), packets out (the source)
 * and the sources of its incoming packets. Per host, a long-term history of those totals, one
 * slot per short window over long_window (2 h): the long ratio slides by one short window, as
 * the original's window(7200, 30) over its 30 s windows did, and includes the current window
 * as that did. A host is reported when
 *
 *     packets in > min_incoming (100,000)  and  short ratio > long ratio x threshold (50)
 *
 * with ratio = packets in / packets out (out counted as 1 when 0: the original dropped hosts
 * that sent nothing, exactly the ones a flood silenced). Fields: dst_ip (the victim),
 * shortratio, longratio, attackers (the top max_attackers sources by packets; the original
 * listed every source), plus packets_in, packets_out and sources (distinct sources).
 *
 * Warm-up: a host is reported only when its history holds traffic that started at least
 * `warmup` (10 min) before the window: with less, the long ratio is the short one's echo (a
 * victim without history is its own baseline), and a host that appeared a minute ago has no
 * normal to deviate from. Suppressed reports are counted (warmup_suppressed_total).
 *
 * The history outlives restarts and rebalances through the engine's changelog, as
 * host_stats' temporal profile does: each short window that becomes final writes, per host,
 * one record keyed by (host, slot of the ring) with that window's totals; on assignment they
 * are read back. A slot holds a window's totals (set, not added), so replaying a window after
 * a crash sets it again. A host with no slot within the long window is forgotten, with
 * tombstones for its keys, at most once per long window of event time.
 *
 * Results are computed when a window becomes final (allowed_lateness after its end), not when
 * it is first emitted: the long ratio of a window depends on the windows before it, and only
 * their final totals are the same whatever the arrival order of late flows, the number of
 * processes or a restart in between. A result lost in delivery is sent again from the
 * window's cached alerts.
 *
 * Partitioning: a host's incoming flows come from every input partition (keyed by source),
 * so with repartition_topic set (the default) the first stage routes each flow to the
 * partition of each local side (route()), and every host is whole in one partition. */
#include "analysis.h"
#include "htab.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NET   256
#define MAX_SLOTS 2880 /* long_window / window */

struct dd_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    int64_t long_ms, warmup_ms;
    double threshold;
    int64_t min_incoming, max_attackers, max_members;
};

static const struct s4f_opt dd_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct dd_conf, "30s", "100000"),
    S4F_ANALYSIS_REPARTITION_OPT(struct dd_conf, "s4f.ddos.by_host"),
    S4F_ANALYSIS_CHANGELOG_OPT(struct dd_conf, "s4f.ddos.history", "each host's long-term history"),
    {"local_networks", S4F_OPT_LIST, "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7]", 0, 0,
     offsetof(struct dd_conf, local_networks),
     "Networks (CIDR) whose hosts are watched (the original's -nf regular expression)", NULL},
    {"long_window", S4F_OPT_DURATION, "2h", 60000, 86400000, offsetof(struct dd_conf, long_ms),
     "Long-term window of the baseline ratio, sliding by one window (a multiple of window)", NULL},
    {"threshold", S4F_OPT_DOUBLE, "50", 1, 1e9, offsetof(struct dd_conf, threshold),
     "Report when the window's in/out ratio exceeds the long-term ratio times this", NULL},
    {"min_incoming", S4F_OPT_INT, "100000", 0, 1000000000000,
     offsetof(struct dd_conf, min_incoming),
     "... and the host received more than this many packets in the window", NULL},
    {"warmup", S4F_OPT_DURATION, "10m", 0, 86400000, offsetof(struct dd_conf, warmup_ms),
     "A host is reported only when its history started at least this long before the window "
     "(less than long_window)",
     NULL},
    {"max_attackers", S4F_OPT_INT, "10", 0, 1000, offsetof(struct dd_conf, max_attackers),
     "Sources listed in attackers (the most packets first)", NULL},
    {"max_members", S4F_OPT_INT, "4000000", 1000, 1000000000, offsetof(struct dd_conf, max_members),
     "Most (host, source) pairs kept per window and partition", NULL},
    S4F_OPT_END,
};

struct hkey {
    uint8_t b[16];
    uint8_t family;
};

/* Window state: per host, and per (host, source) the packets it sent the host. */
struct dval {
    uint64_t in, out, sources;
    uint64_t idx; /* order of arrival in the window: names the host in the pair keys */
};

struct pkey {
    uint32_t host;
    struct hkey src;
};

/* A top-attacker entry: packets and the source; ties break on the address bytes. */
struct top {
    uint64_t packets;
    struct hkey src;
};

/* A host reported for a window: what its document says. */
struct alert {
    struct hkey k;
    uint64_t in, out, sources, idx;
    double shortratio, longratio;
    size_t ntop;
    struct top *tops; /* max_attackers entries, in the window's array */
};

struct dwin {
    struct s4f_htab hosts, pairs;
    /* Computed once, when the window becomes final (sent again on a resend). */
    bool computed;
    struct alert *al;
    size_t nal;
    struct top *tops;
};

/* History: one slot per short window with traffic, sorted by start, at most nslots. */
struct hslot {
    int64_t start;
    uint64_t in, out;
};

struct hist {
    struct hslot *s;
    uint32_t n, cap;
};

struct dpart {
    struct s4f_htab hist; /* hkey -> struct hist */
    int64_t swept_end;    /* event time of the last expiry sweep */
};

struct dd {
    const struct dd_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    uint32_t nslots;
    struct s4f_metric *m_keys_dropped, *m_members_dropped, *m_reports, *m_warmup, *m_expired;
};

/* Changelog record: key = struct hkey (17 bytes) + the slot's ring index (2 bytes, little
 * endian: start / window mod nslots); value = "S4D" 1, then little-endian start, in, out. */
#define REC_KEY_LEN (sizeof(struct hkey) + 2)
#define REC_VAL_LEN 32

static void *dd_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    const struct dd_conf *c = conf;
    int64_t w = c->common.window_ms;
    if (c->common.slide_ms && c->common.slide_ms != w) {
        snprintf(err, errlen, "ddos: needs tumbling windows (slide 0)");
        return NULL;
    }
    if (c->long_ms % w || c->long_ms / w < 2 || c->long_ms / w > MAX_SLOTS) {
        snprintf(err, errlen, "ddos: long_window must be 2 to %d times window", MAX_SLOTS);
        return NULL;
    }
    if (c->warmup_ms >= c->long_ms) {
        snprintf(err, errlen, "ddos: warmup must be shorter than long_window");
        return NULL;
    }
    if (c->local_networks.n == 0 || c->local_networks.n > MAX_NET) {
        snprintf(err, errlen, "ddos: local_networks needs 1 to %d entries", MAX_NET);
        return NULL;
    }
    struct dd *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->conf = c;
    d->nslots = (uint32_t)(c->long_ms / w);
    for (size_t i = 0; i < c->local_networks.n; i++) {
        if (s4f_cidr_parse(c->local_networks.v[i], &d->nets[d->nnets]) != 0) {
            snprintf(err, errlen, "ddos: local_networks: '%s' is not a CIDR prefix",
                     c->local_networks.v[i]);
            free(d);
            return NULL;
        }
        d->nnets++;
    }
    d->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    d->m_members_dropped = s4f_metrics_counter(
        ctx->metrics, "members_dropped_total",
        "Sources not counted because a window reached max_members", ctx->labels);
    d->m_reports = s4f_metrics_counter(ctx->metrics, "victims_reported_total",
                                       "DDoS results emitted", ctx->labels);
    d->m_warmup = s4f_metrics_counter(
        ctx->metrics, "warmup_suppressed_total",
        "Reports withheld because the host's history was shorter than warmup", ctx->labels);
    d->m_expired = s4f_metrics_counter(
        ctx->metrics, "histories_expired_total",
        "Host histories forgotten after a long window without traffic (tombstones written)",
        ctx->labels);
    return d;
}

static void dd_destroy(void *inst)
{
    free(inst);
}

static bool is_local(const struct dd *d, const struct s4f_addr *a)
{
    for (size_t i = 0; i < d->nnets; i++)
        if (s4f_cidr_contains(&d->nets[i], a))
            return true;
    return false;
}

static void *dd_partition_new(void *inst, int32_t partition)
{
    struct dd *d = inst;
    struct dpart *p = calloc(1, sizeof(*p));
    if (p)
        s4f_htab_init(&p->hist, sizeof(struct hkey), sizeof(struct hist),
                      (size_t)d->conf->common.max_keys);
    return p;
}

static void dd_partition_free(void *inst, void *pstate)
{
    struct dpart *p = pstate;
    for (size_t i = 0; i < p->hist.cap; i++)
        if (s4f_htab_key_at(&p->hist, i))
            free(((struct hist *)s4f_htab_val_at(&p->hist, i))->s);
    s4f_htab_release(&p->hist);
    free(p);
}

static void *dd_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct dd *d = inst;
    struct dwin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    s4f_htab_init(&w->hosts, sizeof(struct hkey), sizeof(struct dval),
                  (size_t)d->conf->common.max_keys);
    s4f_htab_init(&w->pairs, sizeof(struct pkey), sizeof(uint64_t), (size_t)d->conf->max_members);
    return w;
}

static void dd_window_free(void *inst, void *wstate)
{
    struct dwin *w = wstate;
    s4f_htab_release(&w->hosts);
    s4f_htab_release(&w->pairs);
    free(w->al);
    free(w->tops);
    free(w);
}

static void hkey_of(struct hkey *k, const struct s4f_addr *a)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->b, a->b, 16);
    k->family = a->family;
}

static struct dval *host(struct dd *d, struct dwin *w, const struct s4f_addr *a)
{
    struct hkey k;
    bool created;
    hkey_of(&k, a);
    struct dval *v = s4f_htab_insert(&w->hosts, &k, s4f_hash_bytes(&k, sizeof(k)), &created);
    if (!v)
        s4f_metric_inc(d->m_keys_dropped);
    else if (created)
        v->idx = w->hosts.n - 1;
    return v;
}

static unsigned dd_route(void *inst, const struct s4f_flow *f)
{
    struct dd *d = inst;
    unsigned mask = 0;
    if (is_local(d, &f->src))
        mask |= 1u << (S4F_SIDE_SRC - 1);
    if (is_local(d, &f->dst) && !s4f_addr_eq(&f->src, &f->dst))
        mask |= 1u << (S4F_SIDE_DST - 1);
    return mask;
}

static void dd_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct dd *d = inst;
    struct dwin *w = wstate;
    /* A repartitioned record is for one side only; an input record for every local side. */
    unsigned mask = dd_route(d, f);
    if (f->side != S4F_SIDE_ANY)
        mask &= 1u << (f->side - 1);
    struct dval *v;
    if ((mask & (1u << (S4F_SIDE_SRC - 1))) && (v = host(d, w, &f->src)))
        v->out += f->packets;
    if ((mask & (1u << (S4F_SIDE_DST - 1))) && (v = host(d, w, &f->dst))) {
        v->in += f->packets;
        struct pkey pk;
        memset(&pk, 0, sizeof(pk));
        pk.host = (uint32_t)v->idx;
        hkey_of(&pk.src, &f->src);
        bool created;
        /* v stays valid: another table. */
        uint64_t *pc = s4f_htab_insert(&w->pairs, &pk, s4f_hash_bytes(&pk, sizeof(pk)), &created);
        if (pc) {
            v->sources += created;
            *pc += f->packets;
        } else {
            s4f_metric_inc(d->m_members_dropped);
        }
    }
}

/* Sets the slot of the window starting at `start` (inserted in order; when the history is
 * full, the oldest slot makes room, or an older start is ignored). Returns false out of
 * memory. */
static bool hist_set(const struct dd *d, struct hist *h, int64_t start, uint64_t in, uint64_t out)
{
    uint32_t i = h->n;
    while (i > 0 && h->s[i - 1].start > start)
        i--;
    if (i > 0 && h->s[i - 1].start == start) {
        h->s[i - 1].in = in;
        h->s[i - 1].out = out;
        return true;
    }
    if (h->n == d->nslots) {
        if (i == 0)
            return true; /* older than everything kept */
        /* The oldest slot makes room: the ones before i move down, the new one goes at i - 1. */
        memmove(h->s, h->s + 1, (size_t)(i - 1) * sizeof(*h->s));
        h->s[i - 1] = (struct hslot){start, in, out};
        return true;
    }
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 4;
        if (cap > d->nslots)
            cap = d->nslots;
        struct hslot *s = realloc(h->s, cap * sizeof(*s));
        if (!s)
            return false;
        h->s = s;
        h->cap = cap;
    }
    memmove(h->s + i + 1, h->s + i, (size_t)(h->n - i) * sizeof(*h->s));
    h->s[i] = (struct hslot){start, in, out};
    h->n++;
    return true;
}

/* Drops the slots that started before `from`. */
static void hist_trim(struct hist *h, int64_t from)
{
    uint32_t k = 0;
    while (k < h->n && h->s[k].start < from)
        k++;
    if (k) {
        memmove(h->s, h->s + k, (size_t)(h->n - k) * sizeof(*h->s));
        h->n -= k;
    }
}

static uint16_t ring_idx(const struct dd *d, int64_t start)
{
    int64_t n = start / d->conf->common.window_ms;
    return (uint16_t)(((n % d->nslots) + d->nslots) % d->nslots);
}

static double ratio(uint64_t in, uint64_t out)
{
    return (double)in / (double)(out ? out : 1);
}

static void top_add(struct top *t, size_t *len, size_t n, uint64_t packets, const struct hkey *src)
{
    size_t i = *len;
    if (i == n) {
        if (packets < t[n - 1].packets ||
            (packets == t[n - 1].packets && memcmp(src, &t[n - 1].src, sizeof(*src)) > 0))
            return;
        i = n - 1;
    } else {
        (*len)++;
    }
    while (i > 0 &&
           (t[i - 1].packets < packets ||
            (t[i - 1].packets == packets && memcmp(&t[i - 1].src, src, sizeof(*src)) > 0))) {
        t[i] = t[i - 1];
        i--;
    }
    t[i].packets = packets;
    t[i].src = *src;
}

/* Folds the final window into the hosts' histories and finds the victims (w->al). */
static void compute(struct dd *d, struct dpart *p, struct dwin *w, const struct s4f_window *win)
{
    const struct dd_conf *c = d->conf;
    int64_t from = win->end_ms - c->long_ms; /* first window start inside the long window */
    size_t capal = 0;
    w->computed = true;
    for (size_t i = 0; i < w->hosts.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&w->hosts, i);
        if (!k)
            continue;
        const struct dval *v = s4f_htab_val_at(&w->hosts, i);
        bool created;
        struct hist *h = s4f_htab_insert(&p->hist, k, s4f_hash_bytes(k, sizeof(*k)), &created);
        if (!h) {
            s4f_metric_inc(d->m_keys_dropped);
            continue; /* no history: never reported */
        }
        if (!hist_set(d, h, win->start_ms, v->in, v->out)) {
            s4f_error_rl("ddos: out of memory for a host's history");
            continue;
        }
        hist_trim(h, from);
        if (v->in <= (uint64_t)c->min_incoming)
            continue;
        uint64_t lin = 0, lout = 0;
        int64_t first = win->start_ms;
        for (uint32_t j = 0; j < h->n && h->s[j].start <= win->start_ms; j++) {
            lin += h->s[j].in;
            lout += h->s[j].out;
            if (h->s[j].start < first)
                first = h->s[j].start;
        }
        double sr = ratio(v->in, v->out), lr = ratio(lin, lout);
        if (!(sr > lr * c->threshold))
            continue;
        if (first > win->start_ms - c->warmup_ms) {
            s4f_metric_inc(d->m_warmup);
            continue;
        }
        if (w->nal == capal) {
            size_t nc = capal ? capal * 2 : 8;
            struct alert *a = realloc(w->al, nc * sizeof(*a));
            if (!a) {
                s4f_error_rl("ddos: out of memory listing victims");
                break;
            }
            w->al = a;
            capal = nc;
        }
        w->al[w->nal++] = (struct alert){*k, v->in, v->out, v->sources, v->idx, sr, lr, 0, NULL};
    }
    /* Top attackers of the victims: one pass over the pairs. */
    size_t n = (size_t)c->max_attackers;
    if (!w->nal || !n)
        return;
    uint32_t *slot_of = malloc(w->hosts.n * sizeof(*slot_of));
    w->tops = malloc(w->nal * n * sizeof(*w->tops));
    if (!slot_of || !w->tops) {
        s4f_error_rl("ddos: out of memory building attacker lists");
        free(slot_of);
        free(w->tops);
        w->tops = NULL;
        return;
    }
    for (size_t i = 0; i < w->hosts.n; i++)
        slot_of[i] = UINT32_MAX;
    for (size_t a = 0; a < w->nal; a++) {
        slot_of[w->al[a].idx] = (uint32_t)a;
        w->al[a].tops = &w->tops[a * n];
    }
    for (size_t i = 0; i < w->pairs.cap; i++) {
        const struct pkey *pk = s4f_htab_key_at(&w->pairs, i);
        if (!pk || pk->host >= w->hosts.n || slot_of[pk->host] == UINT32_MAX)
            continue;
        struct alert *a = &w->al[slot_of[pk->host]];
        top_add(a->tops, &a->ntop, n, *(uint64_t *)s4f_htab_val_at(&w->pairs, i), &pk->src);
    }
    free(slot_of);
}

static void emit(const struct alert *al, struct s4f_emit *out)
{
    char ip[64], num[64];
    struct s4f_addr addr = {{0}, al->k.family};
    memcpy(addr.b, al->k.b, 16);
    s4f_addr_str(&addr, ip, sizeof(ip));
    struct s4f_jbuf *b = s4f_result_begin(out, "detection.ddos", ip, 0, 0);
    if (!b)
        return;
    s4f_jb_str(b, "dst_ip", ip);
    /* Ratios with 4 decimals: the same text on every machine for the same counts. */
    snprintf(num, sizeof(num), "%.4f", al->shortratio);
    s4f_jb_key(b, "shortratio");
    s4f_jb_raw(b, num);
    snprintf(num, sizeof(num), "%.4f", al->longratio);
    s4f_jb_key(b, "longratio");
    s4f_jb_raw(b, num);
    s4f_jb_key(b, "attackers");
    s4f_jb_raw(b, "[");
    for (size_t j = 0; al->tops && j < al->ntop; j++) {
        const struct hkey *s = &al->tops[j].src;
        struct s4f_addr sa = {{0}, s->family};
        memcpy(sa.b, s->b, 16);
        s4f_addr_str(&sa, num, sizeof(num));
        if (j)
            s4f_jb_raw(b, ",");
        s4f_jb_raw(b, "\"");
        s4f_jb_raw(b, num); /* an address: nothing to escape */
        s4f_jb_raw(b, "\"");
    }
    s4f_jb_raw(b, "]");
    s4f_jb_u64(b, "packets_in", al->in);
    s4f_jb_u64(b, "packets_out", al->out);
    s4f_jb_u64(b, "sources", al->sources);
    s4f_result_end(out);
}

/* Nothing at the first emission: see the top of the file. */
static void dd_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
}

static void write_slot(struct dd *d, const struct hkey *k, const struct hslot *s,
                       struct s4f_emit *out)
{
    uint8_t key[REC_KEY_LEN], val[REC_VAL_LEN];
    memcpy(key, k, sizeof(*k));
    s4f_put_le(key + sizeof(*k), ring_idx(d, s->start), 2);
    memset(val, 0, sizeof(val));
    memcpy(val, "S4D\x01", 4);
    s4f_put_le(val + 8, (uint64_t)s->start, 8);
    s4f_put_le(val + 16, s->in, 8);
    s4f_put_le(val + 24, s->out, 8);
    s4f_emit_changelog(out, key, sizeof(key), val, sizeof(val));
}

/* Forgets the hosts without a slot in the long window ending at `end`, with a tombstone for
 * each slot key they had. */
static void hist_expire(struct dd *d, struct dpart *p, int64_t end, struct s4f_emit *out)
{
    int64_t from = end - d->conf->long_ms;
    bool changelog = s4f_emit_has_changelog(out);
    struct hkey *gone = NULL;
    size_t ngone = 0;
    for (size_t i = 0; i < p->hist.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&p->hist, i);
        if (!k)
            continue;
        struct hist *h = s4f_htab_val_at(&p->hist, i);
        if (h->n && h->s[h->n - 1].start >= from)
            continue;
        if (changelog)
            for (uint32_t j = 0; j < h->n; j++) {
                uint8_t key[REC_KEY_LEN];
                memcpy(key, k, sizeof(*k));
                s4f_put_le(key + sizeof(*k), ring_idx(d, h->s[j].start), 2);
                s4f_emit_changelog(out, key, sizeof(key), NULL, 0);
            }
        free(h->s);
        memset(h, 0, sizeof(*h));
        struct hkey *g = realloc(gone, (ngone + 1) * sizeof(*g));
        if (!g)
            break; /* the emptied history stays, found again at the next sweep */
        gone = g;
        gone[ngone++] = *k;
        s4f_metric_inc(d->m_expired);
    }
    for (size_t i = 0; i < ngone; i++)
        s4f_htab_remove(&p->hist, &gone[i], s4f_hash_bytes(&gone[i], sizeof(gone[i])));
    free(gone);
}

static void dd_on_window_final(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct dd *d = inst;
    struct dpart *p = pstate;
    struct dwin *w = wstate;
    if (win->end_ms >= p->swept_end + d->conf->long_ms) {
        p->swept_end = win->end_ms;
        hist_expire(d, p, win->end_ms, out);
    }
    if (!w->computed) {
        compute(d, p, w, win);
        for (size_t a = 0; a < w->nal; a++)
            s4f_metric_inc(d->m_reports);
    }
    for (size_t a = 0; a < w->nal; a++)
        emit(&w->al[a], out);
    if (!s4f_emit_has_changelog(out))
        return;
    for (size_t i = 0; i < w->hosts.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&w->hosts, i);
        if (!k)
            continue;
        const struct hist *h = s4f_htab_find(&p->hist, k, s4f_hash_bytes(k, sizeof(*k)));
        for (uint32_t j = 0; h && j < h->n; j++)
            if (h->s[j].start == win->start_ms)
                write_slot(d, k, &h->s[j], out);
    }
}

/* A changelog record read back on assignment (see write_slot); anything else is refused. */
static bool dd_restore(void *inst, void *pstate, const void *key, size_t klen, const void *val,
                       size_t vlen)
{
    struct dd *d = inst;
    struct dpart *p = pstate;
    const uint8_t *kb = key, *vb = val;
    struct hkey k;
    if (klen != REC_KEY_LEN)
        return false;
    memcpy(&k, kb, sizeof(k));
    if (k.family != 4 && k.family != 6)
        return false;
    for (int i = 4; k.family == 4 && i < 16; i++)
        if (k.b[i])
            return false;
    uint16_t idx = (uint16_t)s4f_get_le(kb + sizeof(k), 2);
    if (idx >= d->nslots)
        return false;
    uint64_t hash = s4f_hash_bytes(&k, sizeof(k));
    if (vlen == 0) {
        /* A tombstone not yet compacted away: the slot (or the host) is gone. */
        struct hist *h = s4f_htab_find(&p->hist, &k, hash);
        if (!h)
            return true;
        for (uint32_t j = 0; j < h->n; j++)
            if (ring_idx(d, h->s[j].start) == idx) {
                memmove(h->s + j, h->s + j + 1, (size_t)(h->n - j - 1) * sizeof(*h->s));
                h->n--;
                break;
            }
        if (!h->n) {
            free(h->s);
            s4f_htab_remove(&p->hist, &k, hash);
        }
        return true;
    }
    if (vlen != REC_VAL_LEN || memcmp(vb, "S4D\x01\0\0\0\0", 8) != 0)
        return false;
    int64_t start = (int64_t)s4f_get_le(vb + 8, 8);
    if (start < 0 || start % d->conf->common.window_ms || ring_idx(d, start) != idx)
        return false;
    bool created;
    struct hist *h = s4f_htab_insert(&p->hist, &k, hash, &created);
    if (!h) {
        s4f_metric_inc(d->m_keys_dropped);
        return false;
    }
    /* A newer record of the same ring slot replaces the older one. */
    for (uint32_t j = 0; j < h->n; j++)
        if (ring_idx(d, h->s[j].start) == idx && h->s[j].start < start) {
            memmove(h->s + j, h->s + j + 1, (size_t)(h->n - j - 1) * sizeof(*h->s));
            h->n--;
            break;
        }
    return hist_set(d, h, start, s4f_get_le(vb + 16, 8), s4f_get_le(vb + 24, 8));
}

const struct s4f_analysis s4f_analysis_ddos = {
    .name = "ddos",
    .summary = "DoS/DDoS victims: a window's in/out packet ratio far above the host's long-term "
               "ratio (detection.ddos)",
    .opts = dd_opts,
    .conf_size = sizeof(struct dd_conf),
    .init = dd_init,
    .partition_new = dd_partition_new,
    .window_new = dd_window_new,
    .on_flow = dd_on_flow,
    .route = dd_route,
    .on_window_close = dd_on_window_close,
    .on_window_final = dd_on_window_final,
    .window_free = dd_window_free,
    .restore = dd_restore,
    .partition_free = dd_partition_free,
    .destroy = dd_destroy,
};
