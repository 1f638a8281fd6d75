/* host_stats: host profiling, as the original Stream4Flow "host statistics" application.
 *
 * Per local host (addresses inside local_networks) and window: flows, packets and bytes out
 * (host is the source) and in (host is the destination; a biflow's reverse counters are the
 * other direction: in for its source, out for its destination), distinct peers, distinct
 * destination ports (the service port of the flow, in either direction), average flow duration, how
 * many flows carried each TCP flag (named after the bit, unlike the original's shifted names), and
 * the top_n ports and peers by flows. Plus the long-term profile host_stats_temporal_profile:
 * for each host, hourly slots of flows, packets and bytes over the last 24 hours, emitted
 * when a window ending on the hour becomes final.
 *
 * Partitioning: a host's outgoing flows arrive in one input partition (the collector keys by
 * source address), its incoming flows in the partitions of their sources. With
 * repartition_topic set (the default), the engine's first stage routes each flow to the
 * partitions of its local hosts (route()), so every host is profiled whole in one partition;
 * without it, each input partition yields its own row per host (see docs/worker.md). */
#include "analysis.h"
#include "geo.h"
#include "htab.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000
#define SLOTS   24
#define MAX_NET 256
#define POOL    S4F_HTAB_POOL /* tables kept per kind for reuse, as htab.h's pools */

struct hs_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist local_networks;
    int64_t top_n;
    bool temporal_profile;
    int64_t max_members;
};

static const struct s4f_opt hs_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct hs_conf, "60s", "100000"),
    S4F_ANALYSIS_REPARTITION_OPT(struct hs_conf, "s4f.host_stats.by_host"),
    S4F_ANALYSIS_CHANGELOG_OPT(struct hs_conf, "s4f.host_stats.profile",
                               "each host's temporal profile"),
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
    uint64_t idx;     /* order of arrival of the host in the window: names it in the pair keys */
    uint64_t changed; /* updated since its last emission */
    uint32_t geo;     /* the collector's GeoIP fields of the host (geo.h), 0: none yet */
};

/* Pair keys name their host by its index (not its 17-byte address): the pair tables are the
 * bulk of the memory. Padding is zeroed before use (keys are hashed and compared as bytes).
 * In the tables, an IPv4 peer's pair is one word, (index + 1) << 32 | address, and a port's
 * (index + 1) << 16 | port, sharing an 8-byte word with its count (struct s4f_cset64: the
 * word's bits above the key's hold the count, larger counts move aside); only IPv6 peers take a
 * struct peerkey slot. The top lists compare struct peerkey and portkey bytes as before. */
struct peerkey {
    uint32_t host;
    struct hkey peer;
};

/* The port big-endian, so that ties in the top list break in port order (key bytes). */
struct portkey {
    uint32_t host;
    uint8_t port[2];
};

struct hs {
    const struct hs_conf *conf;
    struct s4f_cidr nets[MAX_NET];
    size_t nnets;
    struct s4f_metric *m_keys_dropped, *m_members_dropped, *m_tops_nomem, *m_prof_expired;
    /* Table sizes new windows start at, sparing the doublings (each a fresh table the
     * kernel zeroes) on the hot path: the largest a live window reached since the last
     * window was freed, which resets them to its own sizes (so they follow a falling load).
     * At startup, windows that overlap (lateness, sliding) size the next ones. */
    size_t hint_hosts, hint_peers, hint_peers4, hint_ports;
    unsigned idx_bits; /* bits of the largest host index + 1 (max_keys): pair keys' widths */
    /* Tables of freed windows, emptied and reused by the next ones: fresh tables of tens of
     * megabytes for every window and partition cost page faults and kernel zeroing. */
    struct s4f_htab_pool pool_hosts, pool_peers;
    struct tpool64 {
        struct s4f_cset64 t[POOL];
        size_t n;
    } pool_peers4, pool_ports;
    struct s4f_geo_tab *geo;
};

static void table64_take(struct tpool64 *p, struct s4f_cset64 *out, size_t max, unsigned kbits,
                         size_t hint)
{
    s4f_cset64_init(out, max, kbits);
    while (p->n) {
        struct s4f_cset64 t = p->t[--p->n];
        if (t.cap > 8 * hint + 1024) {
            s4f_cset64_release(&t);
            continue;
        }
        s4f_cset64_clear(&t);
        *out = t;
        break;
    }
    s4f_cset64_reserve(out, hint);
}

static void table64_give(struct tpool64 *p, struct s4f_cset64 *t)
{
    if (p->n < POOL && t->mem) {
        s4f_htab64_release(&t->big);
        p->t[p->n++] = *t;
    } else {
        s4f_cset64_release(t);
    }
    memset(t, 0, sizeof(*t));
}

static void pool64_release(struct tpool64 *p)
{
    while (p->n)
        s4f_cset64_release(&p->t[--p->n]);
}

/* A window's hosts: the table maps each address to its index (an 8-byte value), the counters
 * live in vals[index], a dense array (152 bytes a host instead of a 184-byte slot at a load of
 * a quarter to a half). */
struct hwin {
    int64_t start;
    struct hval *vals;
    size_t vcap;
    struct s4f_htab hosts, peers; /* peers: IPv6 ones */
    struct s4f_cset64 peers4, ports;
    /* max_keys or max_members refused something: every document of the window says so
     * ("partial": true); partial_new: not all of them have said it yet. */
    bool partial, partial_new;
};

struct slot {
    int64_t hour; /* hour start */
    uint64_t flows, packets, bytes;
};

/* Rings not folded into for this long are forgotten (a tombstone in the changelog): else the
 * table, capped at max_keys, would fill up for good with hosts seen once. */
#define PROF_IDLE_MS (SLOTS * (int64_t)HOUR_MS)

/* A host's temporal profile: its hours with traffic among the last 24, oldest first, as
 * varints (per hour: the hour number, for all but the first as the step from the previous
 * one, then flows, packets, bytes): about 10 bytes an hour instead of a 32-byte slot for
 * each of 24 hours (issue 17: the rings were 800 bytes a host, most of them empty or small
 * numbers). Up to PROF_INLINE bytes (two or three hours) sit in the entry itself, longer ones
 * in a buffer of their own. last_end: end of the last window folded into it, so that a
 * window replayed after a crash (already in the restored profile) is not counted twice. */
#define PROF_INLINE 24
#define PROF_MAX    (SLOTS * 4 * 10) /* 24 hours of four varints of at most 10 bytes */
struct pent {
    struct hkey k;
    uint16_t len, cap; /* encoded bytes; cap 0: inline */
    int64_t last_end;
    union {
        uint8_t *heap;
        uint8_t in[PROF_INLINE];
    } b;
};

static const uint8_t *pent_bytes(const struct pent *e)
{
    return e->cap ? e->b.heap : e->b.in;
}

static void pent_free(struct pent *e)
{
    if (e->cap)
        free(e->b.heap);
    e->cap = e->len = 0;
}

static size_t varint_put(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        o[n++] = (uint8_t)(v | 0x80);
    o[n++] = (uint8_t)v;
    return n;
}

/* One varint at *b (before end), advancing *b; false when truncated or longer than 64 bits. */
static bool varint_get(const uint8_t **b, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; *b < end && shift < 64; shift += 7) {
        uint8_t c = *(*b)++;
        if (shift == 63 && c > 1)
            return false;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* The slots encoded in b (len bytes): their number, or -1 when they do not parse (more than
 * 24, hours not ascending or out of range, trailing bytes). */
static int slots_decode(const uint8_t *b, size_t len, struct slot s[SLOTS])
{
    const uint8_t *end = b + len;
    uint64_t hr = 0;
    int n = 0;
    while (b < end) {
        uint64_t step;
        if (n == SLOTS || !varint_get(&b, end, &step) || step == 0 ||
            step > (uint64_t)(INT64_MAX / HOUR_MS) - hr)
            return -1;
        hr += step;
        s[n].hour = (int64_t)hr * HOUR_MS;
        if (!varint_get(&b, end, &s[n].flows) || !varint_get(&b, end, &s[n].packets) ||
            !varint_get(&b, end, &s[n].bytes))
            return -1;
        n++;
    }
    return n;
}

static size_t slots_encode(const struct slot *s, int n, uint8_t out[PROF_MAX])
{
    size_t len = 0;
    int64_t prev = 0;
    for (int i = 0; i < n; i++) {
        len += varint_put(out + len, (uint64_t)(s[i].hour / HOUR_MS - prev));
        prev = s[i].hour / HOUR_MS;
        len += varint_put(out + len, s[i].flows);
        len += varint_put(out + len, s[i].packets);
        len += varint_put(out + len, s[i].bytes);
    }
    return len;
}

static int pent_slots(const struct pent *e, struct slot s[SLOTS])
{
    int n = slots_decode(pent_bytes(e), e->len, s);
    return n < 0 ? 0 : n; /* cannot happen: only pent_set writes them */
}

/* Stores n slots (hours ascending, distinct, at most 24) in e; -1: out of memory (e as it
 * was). */
static int pent_set(struct pent *e, const struct slot *s, int n)
{
    uint8_t buf[PROF_MAX];
    size_t len = slots_encode(s, n, buf);
    if (len <= PROF_INLINE) {
        pent_free(e);
        memcpy(e->b.in, buf, len);
    } else if (len > e->cap) {
        size_t cap = (len + 15) & ~(size_t)15;
        uint8_t *nb = malloc(cap);
        if (!nb)
            return -1;
        memcpy(nb, buf, len);
        pent_free(e);
        e->b.heap = nb;
        e->cap = (uint16_t)cap;
    } else {
        memcpy(e->b.heap, buf, len);
    }
    e->len = (uint16_t)len;
    return 0;
}

/* The rings: the table maps each host to its index in profs (an 8-byte value), the rings
 * live in the dense array. */
struct hpart {
    struct s4f_htab profile; /* hkey -> index into profs */
    struct pent *profs;
    size_t nprofs, pcap;
    int64_t swept_hour;  /* hour of the last expiry sweep */
    int64_t refused_end; /* end of the last window a ring was refused in (max_keys) */
};

/* Changelog record of a profile (value; the key is the 17 bytes of struct hkey): "S4P" 2,
 * 4 zero bytes, last_end (8 bytes, little-endian), then the ring's hours as struct pent
 * encodes them. Version 1 (still read) had 24 fixed slots of hour, flows, packets, bytes
 * (8 bytes each, little-endian), each slot at the index of its hour modulo 24: 784 bytes. */
#define PROF_REC_HDR    16
#define PROF_REC_MAX    (PROF_REC_HDR + PROF_MAX)
#define PROF_REC_V1_LEN (16 + SLOTS * 32)

static size_t prof_encode(const struct pent *e, uint8_t out[PROF_REC_MAX])
{
    memset(out, 0, PROF_REC_HDR);
    memcpy(out, "S4P\x02", 4);
    s4f_put_le(out + 8, (uint64_t)e->last_end, 8);
    memcpy(out + PROF_REC_HDR, pent_bytes(e), e->len);
    return PROF_REC_HDR + e->len;
}

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
    /* Pair keys hold a host's index + 1, at most max_keys. */
    while (h->idx_bits < 64 && (uint64_t)c->common.max_keys >> h->idx_bits)
        h->idx_bits++;
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
    h->m_prof_expired = s4f_metrics_counter(
        ctx->metrics, "profiles_expired_total",
        "Temporal profiles forgotten after 24 hours without a flow (tombstone written)",
        ctx->labels);
    h->m_members_dropped = s4f_metrics_counter(
        ctx->metrics, "members_dropped_total",
        "Peers or ports not counted because a window reached max_members", ctx->labels);
    h->m_tops_nomem =
        s4f_metrics_counter(ctx->metrics, "top_lists_nomem_total",
                            "Windows emitted without top lists (out of memory)", ctx->labels);
    h->geo = s4f_geo_tab_new(0);
    if (!h->geo) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
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
        s4f_htab_init(&p->profile, sizeof(struct hkey), sizeof(uint64_t),
                      (size_t)h->conf->common.max_keys);
    return p;
}

static void hs_partition_free(void *inst, void *pstate)
{
    struct hpart *p = pstate;
    s4f_htab_release(&p->profile);
    for (size_t i = 0; i < p->nprofs; i++)
        pent_free(&p->profs[i]);
    free(p->profs);
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
    s4f_htab_pool_take(&h->pool_hosts, &w->hosts, sizeof(struct hkey), sizeof(uint64_t), maxk,
                       h->hint_hosts);
    /* A failed reserve is only a missed optimisation: vals grows on demand. */
    if (h->hint_hosts && (w->vals = malloc(h->hint_hosts * sizeof(*w->vals))) != NULL)
        w->vcap = h->hint_hosts;
    s4f_htab_pool_take(&h->pool_peers, &w->peers, sizeof(struct peerkey), sizeof(uint64_t), maxm,
                       h->hint_peers);
    table64_take(&h->pool_peers4, &w->peers4, maxm, h->idx_bits + 32, h->hint_peers4);
    table64_take(&h->pool_ports, &w->ports, maxm, h->idx_bits + 16, h->hint_ports);
    return w;
}

static void hkey_of(struct hkey *k, const struct s4f_addr *a)
{
    memcpy(k->b, a->b, 16);
    k->family = a->family;
}

static void mark_partial(struct hwin *w)
{
    if (!w->partial)
        w->partial = w->partial_new = true;
}

static void side(struct hs *h, struct hwin *w, const struct s4f_addr *host,
                 const struct s4f_addr *peer, const struct s4f_flow *f, bool out)
{
    struct hkey k;
    bool created;
    hkey_of(&k, host);
    uint64_t hash = s4f_hash_bytes(&k, sizeof(k));
    uint64_t *ix = s4f_htab_insert(&w->hosts, &k, hash, &created);
    if (ix && created) {
        size_t i = w->hosts.n - 1;
        if (i >= w->vcap) {
            size_t ncap = w->vcap ? 2 * w->vcap : 64;
            struct hval *nv =
                ncap <= SIZE_MAX / sizeof(*nv) ? realloc(w->vals, ncap * sizeof(*nv)) : NULL;
            if (!nv) {
                s4f_htab_remove(&w->hosts, &k, hash); /* out of memory: as a refused key */
                ix = NULL;
            } else {
                w->vals = nv;
                w->vcap = ncap;
            }
        }
        if (ix) {
            *ix = i;
            memset(&w->vals[i], 0, sizeof(w->vals[i]));
            w->vals[i].idx = i;
            if (w->hosts.n > h->hint_hosts)
                h->hint_hosts = w->hosts.n;
        }
    }
    if (!ix) {
        s4f_metric_inc(h->m_keys_dropped);
        mark_partial(w);
        return;
    }
    struct hval *v = &w->vals[*ix];
    v->changed = 1;
    if (!v->geo)
        v->geo = out ? s4f_geo_src(h->geo, f) : s4f_geo_dst(h->geo, f);
    /* A biflow's reverse direction (RFC 5103) is traffic from the destination to the source:
     * one more flow the other way when it has packets, with the same peer and service port. */
    uint64_t rev = f->rev_packets > 0;
    if (out) {
        v->flows_out++;
        v->packets_out += f->packets;
        v->bytes_out += f->bytes;
        v->flows_in += rev;
        v->packets_in += f->rev_packets;
        v->bytes_in += f->rev_bytes;
    } else {
        v->flows_in++;
        v->packets_in += f->packets;
        v->bytes_in += f->bytes;
        v->flows_out += rev;
        v->packets_out += f->rev_packets;
        v->bytes_out += f->rev_bytes;
    }
    v->dur_sum += (uint64_t)(f->end_ms - f->start_ms) * (1 + rev);
    if (f->proto == 6)
        for (int b = 0; b < 8; b++)
            v->flags[b] += (f->tcp_flags >> b & 1u) + (rev & (f->rev_tcp_flags >> b & 1u));
    /* An IPv4 address (the other 12 bytes zero) goes to the word-keyed table. max_members
     * caps both peer tables together: each may take what the other left. */
    static const uint8_t zero[12];
    bool ok;
    size_t maxm = (size_t)h->conf->max_members;
    if (peer->family == 4 && memcmp(peer->b + 4, zero, sizeof(zero)) == 0) {
        w->peers4.max = maxm - w->peers.n;
        uint64_t a = (uint64_t)peer->b[0] << 24 | (uint64_t)peer->b[1] << 16 |
                     (uint64_t)peer->b[2] << 8 | peer->b[3];
        ok = s4f_cset64_add(&w->peers4, (v->idx + 1) << 32 | a, 1 + rev, &created) == 0;
    } else {
        struct peerkey pk;
        memset(&pk, 0, sizeof(pk));
        pk.host = (uint32_t)v->idx;
        hkey_of(&pk.peer, peer);
        w->peers.max = maxm - w->peers4.n;
        uint64_t *pc = s4f_htab_insert(&w->peers, &pk, s4f_hash_bytes(&pk, sizeof(pk)), &created);
        if ((ok = pc != NULL))
            *pc += 1 + rev;
    }
    if (ok) {
        v->peers += created;
        if (created && w->peers.n > h->hint_peers)
            h->hint_peers = w->peers.n;
        if (created && w->peers4.n > h->hint_peers4)
            h->hint_peers4 = w->peers4.n;
    } else {
        s4f_metric_inc(h->m_members_dropped);
        mark_partial(w);
    }
    /* The insert may have grown hosts' neighbours only; v stays valid (other table). */
    if (s4f_cset64_add(&w->ports, (v->idx + 1) << 16 | f->dport, 1 + rev, &created) == 0) {
        v->ports += created;
        if (created && w->ports.n > h->hint_ports)
            h->hint_ports = w->ports.n;
    } else {
        s4f_metric_inc(h->m_members_dropped);
        mark_partial(w);
    }
}

static unsigned hs_route(void *inst, const struct s4f_flow *f)
{
    struct hs *h = inst;
    unsigned mask = 0;
    if (is_local(h, &f->src))
        mask |= 1u << (S4F_SIDE_SRC - 1);
    if (is_local(h, &f->dst) && !s4f_addr_eq(&f->src, &f->dst))
        mask |= 1u << (S4F_SIDE_DST - 1);
    return mask;
}

static void hs_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct hs *h = inst;
    /* A repartitioned record is for one side only (the other, if local, is its own record,
     * in the partition of that host); an input record is for every local side. */
    unsigned mask = hs_route(h, f);
    if (f->side != S4F_SIDE_ANY)
        mask &= 1u << (f->side - 1);
    if (mask & (1u << (S4F_SIDE_SRC - 1)))
        side(h, wstate, &f->src, &f->dst, f, true);
    if (mask & (1u << (S4F_SIDE_DST - 1)))
        side(h, wstate, &f->dst, &f->src, f, false);
}

/* A top-list entry carries a copy of its pair key: the lists are built in one sequential
 * pass over a pair table, and reading keys back from the table (for ties, then for the
 * document) was a cache miss per entry. */
struct top {
    uint64_t flows;
    union {
        struct peerkey peer;
        struct portkey port;
        unsigned char bytes[sizeof(struct peerkey)];
    } key;
};

/* Keeps the n largest by flows; ties break on the key bytes (slot order depends on the
 * table's history, key bytes do not, so every process emits the same list). */
static void top_add(struct top *t, size_t *len, size_t n, uint64_t flows, const void *key,
                    size_t ksize)
{
    size_t i = *len;
    if (i == n) {
        if (flows < t[n - 1].flows)
            return;
        if (flows == t[n - 1].flows && memcmp(key, t[n - 1].key.bytes, ksize) > 0)
            return;
        i = n - 1;
    } else {
        (*len)++;
    }
    while (i > 0 && (t[i - 1].flows < flows ||
                     (t[i - 1].flows == flows && memcmp(t[i - 1].key.bytes, key, ksize) > 0))) {
        t[i] = t[i - 1];
        i--;
    }
    t[i].flows = flows;
    memcpy(t[i].key.bytes, key, ksize);
}

/* The top lists of every host of a window, built in one pass over each pair table (a scan
 * per host would be quadratic: hosts x pairs). Host i's lists are peers[i * n ..] and
 * ports[i * n ..], of lengths npeers[i] and nports[i]. */
struct tops {
    size_t n;
    struct top *peers, *ports;
    size_t *npeers, *nports;
};

static void tops_release(struct tops *t)
{
    free(t->peers);
    free(t->ports);
    free(t->npeers);
    free(t->nports);
}

static int tops_build(struct tops *t, struct hwin *w, size_t n)
{
    size_t nh = w->hosts.n;
    memset(t, 0, sizeof(*t));
    t->n = n;
    if (!n || !nh)
        return 0;
    t->peers = malloc(nh * n * sizeof(*t->peers));
    t->ports = malloc(nh * n * sizeof(*t->ports));
    t->npeers = calloc(nh, sizeof(*t->npeers));
    t->nports = calloc(nh, sizeof(*t->nports));
    if (!t->peers || !t->ports || !t->npeers || !t->nports) {
        tops_release(t);
        memset(t, 0, sizeof(*t));
        return -1;
    }
    for (size_t i = 0; i < w->peers.cap; i++) {
        const struct peerkey *pk = s4f_htab_key_at(&w->peers, i);
        if (pk && pk->host < nh)
            top_add(&t->peers[pk->host * n], &t->npeers[pk->host], n,
                    *(uint64_t *)s4f_htab_val_at(&w->peers, i), pk, sizeof(*pk));
    }
    for (size_t i = 0; i < w->peers4.cap; i++) {
        uint64_t k = s4f_cset64_key_at(&w->peers4, i);
        size_t host = (size_t)(k >> 32) - 1;
        if (!k || host >= nh)
            continue;
        struct peerkey pk;
        memset(&pk, 0, sizeof(pk));
        pk.host = (uint32_t)host;
        pk.peer.b[0] = (uint8_t)(k >> 24);
        pk.peer.b[1] = (uint8_t)(k >> 16);
        pk.peer.b[2] = (uint8_t)(k >> 8);
        pk.peer.b[3] = (uint8_t)k;
        pk.peer.family = 4;
        top_add(&t->peers[host * n], &t->npeers[host], n, s4f_cset64_count_at(&w->peers4, i), &pk,
                sizeof(pk));
    }
    for (size_t i = 0; i < w->ports.cap; i++) {
        uint64_t k = s4f_cset64_key_at(&w->ports, i);
        size_t host = (size_t)(k >> 16) - 1;
        if (!k || host >= nh)
            continue;
        struct portkey ok;
        memset(&ok, 0, sizeof(ok));
        ok.host = (uint32_t)host;
        ok.port[0] = (uint8_t)(k >> 8);
        ok.port[1] = (uint8_t)k;
        top_add(&t->ports[host * n], &t->nports[host], n, s4f_cset64_count_at(&w->ports, i), &ok,
                sizeof(ok));
    }
    return 0;
}

static void emit_host(struct hs *h, struct hwin *w, const struct tops *t, const struct hkey *k,
                      const struct hval *v, struct s4f_emit *out)
{
    char host[64], ip[64];
    struct s4f_addr a = {{0}, k->family};
    memcpy(a.b, k->b, 16);
    s4f_addr_str(&a, host, sizeof(host));
    const struct top *tp = t->peers ? &t->peers[v->idx * t->n] : NULL;
    const struct top *tq = t->ports ? &t->ports[v->idx * t->n] : NULL;
    size_t np = t->npeers ? t->npeers[v->idx] : 0, nq = t->nports ? t->nports[v->idx] : 0;
    struct s4f_jbuf *b = s4f_result_begin(out, "host_stats", host, 0, 0);
    if (!b)
        return;
    uint64_t flows = v->flows_out + v->flows_in;
    s4f_jb_str(b, "host", host);
    s4f_jb_geo(b, h->geo, "host", v->geo);
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
        const struct portkey *ok = &tq[i].key.port;
        s4f_jb_raw(b, "{");
        s4f_jb_u64(b, "port", (uint64_t)ok->port[0] << 8 | ok->port[1]);
        s4f_jb_u64(b, "flows", tq[i].flows);
        s4f_jb_raw(b, "}");
    }
    s4f_jb_raw(b, "]");
    s4f_jb_key(b, "top_peers");
    s4f_jb_raw(b, "[");
    for (size_t i = 0; i < np; i++) {
        const struct peerkey *pk = &tp[i].key.peer;
        struct s4f_addr pa = {{0}, pk->peer.family};
        memcpy(pa.b, pk->peer.b, 16);
        s4f_jb_raw(b, "{");
        s4f_jb_str(b, "ip", s4f_addr_str(&pa, ip, sizeof(ip)));
        s4f_jb_u64(b, "flows", tp[i].flows);
        s4f_jb_raw(b, "}");
    }
    s4f_jb_raw(b, "]");
    if (w->partial) {
        s4f_jb_key(b, "partial");
        s4f_jb_raw(b, "true");
    }
    s4f_result_end(out);
}

static void hs_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct hs *h = inst;
    struct hwin *w = wstate;
    struct tops t;
    if (tops_build(&t, w, (size_t)h->conf->top_n) != 0) {
        /* Emitted without top lists rather than not at all; counted and logged. */
        s4f_metric_inc(h->m_tops_nomem);
        s4f_error_rl("out of memory building top lists of %zu hosts", w->hosts.n);
    }
    for (size_t i = 0; i < w->hosts.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&w->hosts, i);
        struct hval *v = k ? &w->vals[*(uint64_t *)s4f_htab_val_at(&w->hosts, i)] : NULL;
        /* Late flows touch a few hosts: the others' documents stand downstream (unless
         * they have yet to say the window is partial). */
        if (!v || (win->changed_only && !v->changed && !w->partial_new))
            continue;
        emit_host(h, w, &t, k, v, out);
        v->changed = 0;
    }
    w->partial_new = false;
    tops_release(&t);
}

/* Host k's ring, created empty if absent (*created); NULL: max_keys reached or out of
 * memory. */
static struct pent *prof_get(struct hpart *p, const struct hkey *k, bool *created)
{
    uint64_t hash = s4f_hash_bytes(k, sizeof(*k));
    uint64_t *ix = s4f_htab_insert(&p->profile, k, hash, created);
    if (!ix || !*created)
        return ix ? &p->profs[*ix] : NULL;
    if (p->nprofs == p->pcap) {
        size_t ncap = p->pcap ? 2 * p->pcap : 64;
        struct pent *np =
            ncap <= SIZE_MAX / sizeof(*np) ? realloc(p->profs, ncap * sizeof(*np)) : NULL;
        if (!np) {
            s4f_htab_remove(&p->profile, k, hash);
            *created = false;
            return NULL;
        }
        p->profs = np;
        p->pcap = ncap;
    }
    *ix = p->nprofs++;
    memset(&p->profs[*ix], 0, sizeof(p->profs[*ix]));
    p->profs[*ix].k = *k;
    return &p->profs[*ix];
}

/* Forgets host k's ring: the last ring of the array takes its place. */
static void prof_remove(struct hpart *p, const struct hkey *k)
{
    uint64_t hash = s4f_hash_bytes(k, sizeof(*k));
    uint64_t *ix = s4f_htab_find(&p->profile, k, hash);
    if (!ix)
        return;
    size_t i = (size_t)*ix, last = p->nprofs - 1;
    s4f_htab_remove(&p->profile, k, hash);
    pent_free(&p->profs[i]);
    if (i != last) {
        p->profs[i] = p->profs[last];
        const struct hkey *mk = &p->profs[i].k;
        uint64_t *mx = s4f_htab_find(&p->profile, mk, s4f_hash_bytes(mk, sizeof(*mk)));
        if (mx)
            *mx = i;
    }
    p->nprofs--;
}

static struct pent *prof_at(const struct hpart *p, size_t slot)
{
    return &p->profs[*(uint64_t *)s4f_htab_val_at(&p->profile, slot)];
}

/* Forgets the rings last folded into at or before `before` (event time, so replays agree),
 * with a tombstone each in the changelog. The table has no delete: it is rebuilt, once an
 * hour at most. */
static void prof_expire(struct hs *h, struct hpart *p, int64_t before, struct s4f_emit *out)
{
    size_t live = 0;
    for (size_t i = 0; i < p->profile.cap; i++)
        if (s4f_htab_key_at(&p->profile, i) && prof_at(p, i)->last_end > before)
            live++;
    if (live == p->profile.n)
        return;
    struct s4f_htab nt;
    s4f_htab_init(&nt, sizeof(struct hkey), sizeof(uint64_t), (size_t)h->conf->common.max_keys);
    struct pent *np = live ? malloc(live * sizeof(*np)) : NULL;
    if (live && (!np || s4f_htab_reserve(&nt, live) != 0)) {
        free(np);
        s4f_htab_release(&nt);
        s4f_error_rl("out of memory expiring idle profiles (kept for now)");
        return;
    }
    size_t n = 0;
    bool changelog = s4f_emit_has_changelog(out);
    for (size_t i = 0; i < p->profile.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&p->profile, i);
        if (!k)
            continue;
        struct pent *pr = prof_at(p, i);
        if (pr->last_end <= before) {
            if (changelog)
                s4f_emit_changelog(out, k, sizeof(*k), NULL, 0);
            s4f_metric_inc(h->m_prof_expired);
            pent_free(pr);
            continue;
        }
        bool created;
        uint64_t *ix = s4f_htab_insert(&nt, k, s4f_hash_bytes(k, sizeof(*k)), &created);
        if (ix && n < live) { /* reserved: cannot fail */
            np[n] = *pr;
            *ix = n++;
        }
    }
    s4f_htab_release(&p->profile);
    free(p->profs);
    p->profile = nt;
    p->profs = np;
    p->nprofs = n;
    p->pcap = live;
}

/* Adds a window's counters to hour `hour` of the ring s (n slots), dropping the hours that
 * left the 24 hours ending with it (the fixed ring overwrote them: they were never emitted
 * again). Returns the new number of slots. */
static int slots_fold(struct slot s[SLOTS], int n, int64_t hour, uint64_t flows, uint64_t packets,
                      uint64_t bytes)
{
    int keep = 0;
    for (int i = 0; i < n; i++)
        if (s[i].hour > hour - SLOTS * (int64_t)HOUR_MS)
            s[keep++] = s[i];
    n = keep;
    int i = 0;
    while (i < n && s[i].hour < hour)
        i++;
    if (i == n || s[i].hour != hour) {
        if (n == SLOTS) { /* only with hours after this one (restored): the oldest goes */
            memmove(&s[0], &s[1], (size_t)(n - 1) * sizeof(s[0]));
            n--;
            i -= i > 0;
        }
        memmove(&s[i + 1], &s[i], (size_t)(n - i) * sizeof(s[0]));
        memset(&s[i], 0, sizeof(s[i]));
        s[i].hour = hour;
        n++;
    }
    s[i].flows += flows;
    s[i].packets += packets;
    s[i].bytes += bytes;
    return n;
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
    bool changelog = s4f_emit_has_changelog(out);
    if (hour > p->swept_hour) {
        p->swept_hour = hour;
        prof_expire(h, p, win->end_ms - PROF_IDLE_MS, out);
    }
    for (size_t i = 0; i < w->hosts.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&w->hosts, i);
        if (!k)
            continue;
        const struct hval *v = &w->vals[*(uint64_t *)s4f_htab_val_at(&w->hosts, i)];
        bool created;
        struct pent *pr = prof_get(p, k, &created);
        if (!pr) {
            s4f_metric_inc(h->m_keys_dropped);
            p->refused_end = win->end_ms;
            continue;
        }
        uint8_t rec[PROF_REC_MAX];
        if (win->end_ms <= pr->last_end) {
            /* Replayed after a restart (already in the restored profile), or a resend after
             * a lost changelog record: the ring as it is now, folded once. */
            if (win->resend && changelog)
                s4f_emit_changelog(out, k, sizeof(*k), rec, prof_encode(pr, rec));
            continue;
        }
        struct slot s[SLOTS];
        int n = slots_fold(s, pent_slots(pr, s), hour, v->flows_in + v->flows_out,
                           v->packets_in + v->packets_out, v->bytes_in + v->bytes_out);
        if (pent_set(pr, s, n) != 0) {
            /* Out of memory for a longer ring: not folded, as a refused key. */
            s4f_metric_inc(h->m_keys_dropped);
            p->refused_end = win->end_ms;
            continue;
        }
        pr->last_end = win->end_ms;
        if (changelog)
            s4f_emit_changelog(out, k, sizeof(*k), rec, prof_encode(pr, rec));
    }
    if (win->end_ms % HOUR_MS != 0)
        return;
    /* The hour just ended: one profile per host seen in the last 24 hours. */
    int64_t from = win->end_ms - SLOTS * (int64_t)HOUR_MS;
    for (size_t i = 0; i < p->profile.cap; i++) {
        const struct hkey *k = s4f_htab_key_at(&p->profile, i);
        if (!k)
            continue;
        struct slot s[SLOTS], ord[SLOTS];
        int ns = pent_slots(prof_at(p, i), s), n = 0;
        for (int j = 0; j < ns; j++)
            if (s[j].hour >= from && s[j].hour < win->end_ms && s[j].flows)
                ord[n++] = s[j];
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
        /* max_keys refused some host a ring within these 24 hours: the set is incomplete. */
        if (p->refused_end > from) {
            s4f_jb_key(b, "partial");
            s4f_jb_raw(b, "true");
        }
        s4f_result_end(out);
    }
}

/* The slots of a version 1 record (24 fixed slots, see prof_encode), hours ascending; -1 when
 * a slot is not at the index of its hour. */
static int slots_decode_v1(const uint8_t *b, struct slot s[SLOTS])
{
    int n = 0;
    for (int i = 0; i < SLOTS; i++) {
        const uint8_t *o = b + 16 + i * 32;
        struct slot x = {(int64_t)s4f_get_le(o, 8), s4f_get_le(o + 8, 8), s4f_get_le(o + 16, 8),
                         s4f_get_le(o + 24, 8)};
        /* A slot sits at the index of its hour, as the fold put it. */
        if (x.hour < 0 || x.hour % HOUR_MS || (x.hour && (x.hour / HOUR_MS) % SLOTS != i))
            return -1;
        if (!x.hour)
            continue;
        int j = n++;
        for (; j > 0 && s[j - 1].hour > x.hour; j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
    return n;
}

/* A changelog record read back on assignment (see prof_encode); anything else is refused. */
static bool hs_restore(void *inst, void *pstate, const void *key, size_t klen, const void *val,
                       size_t vlen)
{
    struct hs *h = inst;
    struct hpart *p = pstate;
    const uint8_t *b = val;
    struct hkey k;
    static const uint8_t magic[2][8] = {{'S', '4', 'P', 1, 0, 0, 0, 0},
                                        {'S', '4', 'P', 2, 0, 0, 0, 0}};
    if (klen == sizeof(k) && vlen == 0) {
        /* A tombstone (an expired ring) not yet compacted away: the ring is gone. */
        memcpy(&k, key, sizeof(k));
        prof_remove(p, &k);
        return true;
    }
    if (klen != sizeof(k) || vlen < PROF_REC_HDR)
        return false;
    memcpy(&k, key, sizeof(k));
    if (k.family != 4 && k.family != 6)
        return false;
    for (int i = 4; k.family == 4 && i < 16; i++)
        if (k.b[i])
            return false;
    struct slot s[SLOTS];
    int n = -1;
    if (vlen == PROF_REC_V1_LEN && memcmp(b, magic[0], 8) == 0)
        n = slots_decode_v1(b, s);
    else if (vlen <= PROF_REC_MAX && memcmp(b, magic[1], 8) == 0)
        n = slots_decode(b + PROF_REC_HDR, vlen - PROF_REC_HDR, s);
    if (n < 0)
        return false;
    bool created;
    struct pent *dst = prof_get(p, &k, &created);
    if (!dst) {
        s4f_metric_inc(h->m_keys_dropped);
        return false;
    }
    if (pent_set(dst, s, n) != 0) {
        if (created)
            prof_remove(p, &k);
        return false;
    }
    dst->last_end = (int64_t)s4f_get_le(b + 8, 8);
    return true;
}

static void hs_window_free(void *inst, void *wstate)
{
    struct hs *h = inst;
    struct hwin *w = wstate;
    h->hint_hosts = w->hosts.n;
    h->hint_peers = w->peers.n;
    h->hint_peers4 = w->peers4.n;
    h->hint_ports = w->ports.n;
    s4f_htab_pool_give(&h->pool_hosts, &w->hosts);
    free(w->vals);
    s4f_htab_pool_give(&h->pool_peers, &w->peers);
    table64_give(&h->pool_peers4, &w->peers4);
    table64_give(&h->pool_ports, &w->ports);
    free(w);
}

static void hs_destroy(void *inst)
{
    struct hs *h = inst;
    s4f_htab_pool_release(&h->pool_hosts);
    s4f_htab_pool_release(&h->pool_peers);
    pool64_release(&h->pool_peers4);
    pool64_release(&h->pool_ports);
    s4f_geo_tab_free(h->geo);
    free(h);
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
    .route = hs_route,
    .on_window_close = hs_on_window_close,
    .on_window_final = hs_on_window_final,
    .window_free = hs_window_free,
    .restore = hs_restore,
    .partition_free = hs_partition_free,
    .destroy = hs_destroy,
};
