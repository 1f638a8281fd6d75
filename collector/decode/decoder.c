/* The decoder context: options, the exporter table (hash + LRU), observation domains,
 * sequence numbers, error accounting, dispatch by version and statistics. */
#include <stdlib.h>
#include <string.h>

#include <fixbuf/public.h>

#include "decode_int.h"

#define SWEEP_INTERVAL_MS 60000

static const char *const reason_names[S4F_DR__COUNT] = {
    [S4F_DR_SHORT_HEADER] = "short_header",
    [S4F_DR_BAD_VERSION] = "bad_version",
    [S4F_DR_MSG_LENGTH] = "message_length",
    [S4F_DR_V5_COUNT] = "v5_count",
    [S4F_DR_V9_COUNT] = "v9_count_mismatch",
    [S4F_DR_SET_LENGTH] = "set_length",
    [S4F_DR_SET_ID_RESERVED] = "set_id_reserved",
    [S4F_DR_MISSING_TEMPLATE] = "missing_template",
    [S4F_DR_TEMPLATE_TRUNCATED] = "template_truncated",
    [S4F_DR_TEMPLATE_ID] = "template_id_reserved",
    [S4F_DR_FIELD_COUNT] = "field_count",
    [S4F_DR_FIELD_LENGTH] = "field_length",
    [S4F_DR_SCOPE_COUNT] = "scope_count",
    [S4F_DR_TEMPLATE_CHANGED] = "template_changed",
    [S4F_DR_WITHDRAW_UNKNOWN] = "withdraw_unknown",
    [S4F_DR_RECORD_TRUNCATED] = "record_truncated",
    [S4F_DR_NO_MEMORY] = "no_memory",
    [S4F_DR_STREAM_FRAMING] = "stream_framing",
    [S4F_DR_DATA_SET_SHORT] = "data_set_short",
    [S4F_DR_WITHDRAW_UDP] = "withdrawal_over_udp",
    [S4F_DR_TRAILING_BYTES] = "trailing_bytes",
    [S4F_DR_SFLOW_AGENT] = "sflow_agent_address",
    [S4F_DR_SFLOW_LENGTH] = "sflow_length",
};

const char *s4f_time_fallback_name(enum s4f_time_fallback reason)
{
    switch (reason) {
    case S4F_TF_NO_SYSINIT:
        return "no_sysinit";
    case S4F_TF_NO_TIME:
        return "no_time";
    default:
        return "unknown";
    }
}

const char *s4f_decode_reason_name(enum s4f_decode_reason reason)
{
    return (unsigned)reason < S4F_DR__COUNT ? reason_names[reason] : "unknown";
}

const char *s4f_proto_name(enum s4f_proto proto)
{
    switch (proto) {
    case S4F_PROTO_V5:
        return "netflow_v5";
    case S4F_PROTO_V9:
        return "netflow_v9";
    case S4F_PROTO_IPFIX:
        return "ipfix";
    case S4F_PROTO_SFLOW:
        return "sflow";
    default:
        return "unknown";
    }
}

void s4f_count_err(struct s4f_msg *m, enum s4f_decode_reason r, const char *detail)
{
    struct s4f_decoder *dec = m->dec;
    dec->st.errors[r]++;
    if (m->exp)
        m->exp->errors[r]++;
    m->failed = true;
    /* One rate limiter per reason, so that one noisy exporter cannot hide the other reasons. */
    if (S4F_LOG_WARN <= s4f_log_level_current)
        s4f_log_rl_write(&dec->rl[r], S4F_LOG_WARN, "decode: %s from %s (%s%u, domain %u): %s",
                         reason_names[r], m->exp ? m->exp->text : "?",
                         m->version == S4F_VERSION_SFLOW ? "sflow" : "v",
                         m->version == S4F_VERSION_SFLOW ? 5u : (unsigned)m->version,
                         (unsigned)m->domain_id, detail);
}

/* ---- exporters ---- */

/* Exporters are keyed by (address, port), their domains by observation domain inside: the
 * (address, port, domain) key of ipfixcol2 and GoFlow2, so two exporting processes behind one
 * address (or NAT) never share templates or sequence numbers. */
static void addr_key(const struct sockaddr_storage *ss, uint8_t *family, uint8_t key[16],
                     uint16_t *port)
{
    memset(key, 0, 16);
    *family = 0;
    *port = 0;
    if (!ss)
        return;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        *family = AF_INET;
        *port = ntohs(sin->sin_port);
        memcpy(key, &sin->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        *port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            *family = AF_INET;
            memcpy(key, sin6->sin6_addr.s6_addr + 12, 4);
        } else {
            *family = AF_INET6;
            memcpy(key, sin6->sin6_addr.s6_addr, 16);
        }
    }
}

void s4f_exporter_init_text(struct s4f_exporter *e)
{
    char *p = e->exp_json;
    static const char k4[] = ",\"ipfix.exporterIPv4Address\":";
    static const char k6[] = ",\"ipfix.exporterIPv6Address\":";
    if (e->family == AF_INET) {
        memcpy(p, k4, sizeof(k4) - 1);
        p += sizeof(k4) - 1;
        char *v = p;
        p = s4f_json_ipv4(p, e->key);
        memcpy(e->text, v + 1, (size_t)(p - v - 2));
        e->text[p - v - 2] = '\0';
    } else if (e->family == AF_INET6) {
        memcpy(p, k6, sizeof(k6) - 1);
        p += sizeof(k6) - 1;
        char *v = p;
        p = s4f_json_ipv6(p, e->key);
        memcpy(e->text, v + 1, (size_t)(p - v - 2));
        e->text[p - v - 2] = '\0';
    } else {
        strcpy(e->text, "unknown");
    }
    e->exp_json_len = (uint8_t)(p - e->exp_json);
}

static void domain_free(struct s4f_decoder *dec, struct s4f_domain *d)
{
    if (d->tbl) {
        for (uint32_t b = 0; b <= d->tmask; b++)
            while (d->tbl[b])
                s4f_tpl_unlink(dec, d->tbl[b]);
    }
    dec->mem_used -=
        s4f_msize(d) + s4f_msize(d->tbl) + s4f_msize(d->samplers) + s4f_msize(d->ifnames);
    free(d->tbl);
    free(d->samplers);
    free(d->ifnames);
    free(d);
}

void s4f_exporter_clear(struct s4f_decoder *dec, struct s4f_exporter *e)
{
    struct s4f_domain *d = e->domains, *nx;
    for (; d; d = nx) {
        nx = d->next;
        domain_free(dec, d);
    }
    e->domains = NULL;
    e->ndomains = 0;
}

static inline uint32_t exp_hash(const struct s4f_decoder *dec, uint8_t family, const uint8_t *k,
                                uint16_t port)
{
    uint32_t h = (2166136261u ^ family ^ ((uint32_t)port << 8)) * 16777619u;
    for (int i = 0; i < 16; i++)
        h = (h ^ k[i]) * 16777619u;
    return h & dec->emask;
}

static void exp_lru_remove(struct s4f_decoder *dec, struct s4f_exporter *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        dec->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        dec->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void exp_lru_push(struct s4f_decoder *dec, struct s4f_exporter *e)
{
    e->lru_prev = NULL;
    e->lru_next = dec->lru_head;
    if (dec->lru_head)
        dec->lru_head->lru_prev = e;
    dec->lru_head = e;
    if (!dec->lru_tail)
        dec->lru_tail = e;
}

static void exp_remove(struct s4f_decoder *dec, struct s4f_exporter *e)
{
    struct s4f_exporter **pp = &dec->etbl[exp_hash(dec, e->family, e->key, e->port)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    exp_lru_remove(dec, e);
    dec->nexp--;
    s4f_exporter_clear(dec, e);
    dec->mem_used -= s4f_msize(e);
    free(e);
}

void s4f_mem_enforce(struct s4f_decoder *dec, const struct s4f_exporter *keep)
{
    while (dec->mem_used > dec->o.max_template_memory) {
        if (dec->gtpl_tail && dec->gtpl_tail != dec->gtpl_head) {
            dec->st.templates_evicted_memory++;
            s4f_tpl_unlink(dec, dec->gtpl_tail);
            continue;
        }
        struct s4f_exporter *e = dec->lru_tail;
        if (e == keep)
            e = e->lru_prev;
        if (!e)
            break;
        dec->st.exporters_evicted_memory++;
        exp_remove(dec, e);
    }
}

struct s4f_exporter *s4f_exporter_get(struct s4f_decoder *dec, const struct sockaddr_storage *ss)
{
    uint8_t family, key[16];
    uint16_t port;
    addr_key(ss, &family, key, &port);
    uint32_t h = exp_hash(dec, family, key, port);
    for (struct s4f_exporter *e = dec->etbl[h]; e; e = e->hnext) {
        if (e->family == family && e->port == port && memcmp(e->key, key, 16) == 0) {
            if (dec->lru_head != e) {
                exp_lru_remove(dec, e);
                exp_lru_push(dec, e);
            }
            return e;
        }
    }
    if (dec->nexp >= dec->o.max_exporters && dec->lru_tail) {
        dec->st.exporters_evicted++;
        exp_remove(dec, dec->lru_tail);
    }
    struct s4f_exporter *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->family = family;
    e->port = port;
    memcpy(e->key, key, 16);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&e->addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, key, 4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&e->addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(sin6->sin6_addr.s6_addr, key, 16);
    }
    s4f_exporter_init_text(e);
    e->hnext = dec->etbl[h];
    dec->etbl[h] = e;
    exp_lru_push(dec, e);
    dec->nexp++;
    dec->mem_used += s4f_msize(e);
    s4f_mem_enforce(dec, e);
    return e;
}

/* ---- domains and sequence numbers ---- */

struct s4f_domain *s4f_domain_get(struct s4f_msg *m, uint32_t id)
{
    struct s4f_exporter *e = m->exp;
    struct s4f_domain **pp = &e->domains, *d;
    for (; (d = *pp); pp = &d->next) {
        if (d->id == id && d->version == m->version) {
            if (pp != &e->domains) {
                *pp = d->next;
                d->next = e->domains;
                e->domains = d;
            }
            return d;
        }
    }
    if (e->ndomains >= m->dec->o.max_domains_per_exporter && e->domains) {
        struct s4f_domain **tail = &e->domains;
        while ((*tail)->next)
            tail = &(*tail)->next;
        struct s4f_domain *old = *tail;
        *tail = NULL;
        e->ndomains--;
        m->dec->st.domains_evicted++;
        domain_free(m->dec, old);
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "domain");
        return NULL;
    }
    d->id = id;
    d->version = m->version;
    d->exp = e;
    d->next = e->domains;
    e->domains = d;
    e->ndomains++;
    m->dec->mem_used += s4f_msize(d);
    s4f_mem_enforce(m->dec, e);
    return d;
}

/* Reordering is only believed within a small window: v9 counts packets, v5 and IPFIX count
 * flow records (up to ~64 per packet). Further behind, or SEQ_BEHIND_RUN packets behind in a
 * row, or the exporter's clock going back, is an exporter restart: the count starts over, so
 * the losses of the restarted exporter are seen again. */
#define SEQ_WINDOW_PACKETS 64
#define SEQ_WINDOW_RECORDS 4096
#define SEQ_BEHIND_RUN     3
#define SYSUP_BACK_MS      10000 /* uptime going back more than this: rebooted */
#define EXPORT_BACK_MS     60000 /* export time going back more than this: restarted */

static bool clock_went_back(const struct s4f_msg *m, const struct s4f_domain *d)
{
    if (m->version != 10 && d->last_sysup > m->sysup_ms + SYSUP_BACK_MS &&
        d->last_sysup - m->sysup_ms < 0x80000000u)
        return true; /* (a 49.7-day wrap moves it back by almost 2^32: not a reboot) */
    return d->last_export_ms > m->unix_ms + EXPORT_BACK_MS;
}

static void seq_restart(struct s4f_msg *m)
{
    m->dec->st.seq_resets++;
    m->exp->seq_resets++;
    m->dom->behind_run = 0;
}

void s4f_seq_check(struct s4f_msg *m, uint32_t seq)
{
    struct s4f_domain *d = m->dom;
    if (d->seq_valid) {
        uint32_t ahead = seq - d->seq_next, behind = d->seq_next - seq;
        uint32_t thr = m->dec->o.seq_reset_threshold;
        /* v9 and sFlow number packets, v5 and IPFIX records. */
        uint32_t window = m->version == 9 || m->version == S4F_VERSION_SFLOW ? SEQ_WINDOW_PACKETS
                                                                             : SEQ_WINDOW_RECORDS;
        if (ahead != 0 && clock_went_back(m, d)) {
            seq_restart(m);
        } else if (ahead == 0) {
            d->behind_run = 0;
        } else if (ahead < thr) {
            m->dec->st.seq_lost += ahead;
            m->exp->seq_lost += ahead;
            d->behind_run = 0;
        } else if (behind <= window && ++d->behind_run < SEQ_BEHIND_RUN) {
            /* Late or duplicated: already counted as lost when the gap opened. */
            m->dec->st.seq_reordered++;
            m->seq_stale = true;
        } else {
            seq_restart(m); /* far behind, a run of "late" packets, or a jump */
        }
    }
    if (!m->seq_stale) {
        d->last_sysup = m->sysup_ms;
        d->last_export_ms = m->unix_ms;
    }
}

void s4f_seq_advance(struct s4f_msg *m, uint32_t next)
{
    if (m->seq_stale)
        return;
    m->dom->seq_next = next;
    m->dom->seq_valid = true;
}

/* ---- life cycle ---- */

static uint32_t pow2_at_least(uint32_t v)
{
    uint32_t p = 1;
    while (p < v && p < (1u << 20))
        p <<= 1;
    return p;
}

struct s4f_decoder *s4f_decoder_new(const struct s4f_decoder_opts *opts)
{
    struct s4f_decoder *dec = calloc(1, sizeof(*dec));
    if (!dec)
        return NULL;
    if (opts)
        dec->o = *opts;
    struct s4f_decoder_opts *o = &dec->o;
    if (!o->template_lifetime_s)
        o->template_lifetime_s = 1800;
    if (!o->max_exporters)
        o->max_exporters = 4096;
    if (!o->max_templates_per_exporter)
        o->max_templates_per_exporter = 4096;
    if (!o->max_domains_per_exporter)
        o->max_domains_per_exporter = 256;
    if (!o->max_samplers_per_domain)
        o->max_samplers_per_domain = 64;
    if (!o->max_interfaces_per_domain)
        o->max_interfaces_per_domain = 1024;
    if (!o->max_fields_per_template)
        o->max_fields_per_template = 256;
    if (!o->max_template_memory)
        o->max_template_memory = (size_t)64 << 20;
    if (o->max_fields_per_template > S4F_MAX_FIELDS_LIMIT)
        o->max_fields_per_template = S4F_MAX_FIELDS_LIMIT;
    if (!o->seq_reset_threshold)
        o->seq_reset_threshold = 1000000;
    if (!o->max_sflow_interfaces)
        o->max_sflow_interfaces = 256;
    for (int i = 0; i < S4F_DR__COUNT; i++)
        dec->rl[i] = (struct s4f_ratelimit)S4F_RATELIMIT_INIT(10000, 5);

    uint32_t nb = pow2_at_least(o->max_exporters);
    dec->etbl = calloc(nb, sizeof(*dec->etbl));
    dec->emask = nb - 1;
    if (!dec->etbl)
        goto fail;
    bool ok = s4f_elements_load(dec);
    o->element_files = NULL; /* not kept: the caller's strings may go away */
    if (!ok)
        goto fail;
    dec->v5tpl = s4f_v5_template(dec);
    if (!dec->v5tpl || !s4f_jbuf_reserve(&dec->jb, 65536))
        goto fail;
    return dec;
fail:
    s4f_decoder_free(dec);
    return NULL;
}

void s4f_decoder_free(struct s4f_decoder *dec)
{
    if (!dec)
        return;
    while (dec->lru_head)
        exp_remove(dec, dec->lru_head);
    if (dec->streams)
        s4f_error("decode: decoder freed with IPFIX streams still open");
    s4f_tpl_release(dec->v5tpl);
    s4f_sflow_free(dec);
    free(dec->etbl);
    free(dec->jb.buf);
    if (dec->model)
        fbInfoModelFree((fbInfoModel_t *)dec->model);
    free(dec);
}

/* ---- decoding ---- */

enum s4f_status s4f_decode_datagram(struct s4f_decoder *dec,
                                    const struct sockaddr_storage *exporter, const uint8_t *buf,
                                    size_t len, int64_t now_ms, s4f_record_cb cb, void *ctx)
{
    struct s4f_msg m = {.dec = dec, .cb = cb, .ctx = ctx, .now_ms = now_ms, .exp_addr = exporter};
    if (!buf || len < 2) {
        s4f_count_err(&m, S4F_DR_SHORT_HEADER, "datagram shorter than a version field");
        dec->st.datagrams_rejected++;
        return S4F_ERR;
    }
    uint16_t version = s4f_rd16(buf);
    size_t hdr;
    enum s4f_proto proto;
    /* sFlow's version is a 32-bit word (0x00000005), NetFlow's a 16-bit one (0x0005). */
    if (version == 0 && len >= 4 && s4f_rd32(buf) == 5)
        version = S4F_VERSION_SFLOW;
    switch (version) {
    case 5:
        hdr = 24;
        proto = S4F_PROTO_V5;
        break;
    case 9:
        hdr = 20;
        proto = S4F_PROTO_V9;
        break;
    case 10:
        hdr = 16;
        proto = S4F_PROTO_IPFIX;
        break;
    case S4F_VERSION_SFLOW:
        hdr = 28; /* with an IPv4 agent address */
        proto = S4F_PROTO_SFLOW;
        break;
    default:
        s4f_count_err(&m, S4F_DR_BAD_VERSION, "unknown version");
        dec->st.datagrams_rejected++;
        return S4F_ERR;
    }
    m.version = (uint8_t)version;
    dec->st.datagrams[proto]++;
    if (len < hdr) {
        s4f_count_err(&m, S4F_DR_SHORT_HEADER, "datagram shorter than its header");
        dec->st.datagrams_rejected++;
        return S4F_ERR;
    }
    if (version == S4F_VERSION_SFLOW) {
        /* The exporter is the agent named in the datagram, found there. */
        s4f_decode_sflow_msg(&m, exporter, buf, len);
        if (m.rejected)
            dec->st.datagrams_rejected++;
        return m.failed ? S4F_ERR : S4F_OK;
    }
    m.exp = s4f_exporter_get(dec, exporter);
    if (!m.exp) {
        s4f_count_err(&m, S4F_DR_NO_MEMORY, "exporter");
        dec->st.datagrams_rejected++;
        return S4F_ERR;
    }
    m.exp->datagrams++;
    m.exp->version = m.version;
    m.exp->last_seen_ms = now_ms;
    if (version == 5)
        s4f_decode_v5_msg(&m, buf, len);
    else if (version == 9)
        s4f_decode_v9_msg(&m, buf, len);
    else
        s4f_decode_ipfix_msg(&m, buf, len);
    if (m.rejected)
        dec->st.datagrams_rejected++;
    if (now_ms >= dec->next_sweep_ms) {
        s4f_decoder_expire(dec, now_ms);
        dec->next_sweep_ms = now_ms + SWEEP_INTERVAL_MS;
    }
    return m.failed ? S4F_ERR : S4F_OK;
}

static void expire_exporter(struct s4f_decoder *dec, struct s4f_exporter *e, int64_t now_ms)
{
    for (struct s4f_tpl *t = e->tpl_head, *nx; t; t = nx) {
        nx = t->lru_next;
        if (t->expires_ms < now_ms) {
            dec->st.templates_expired++;
            s4f_tpl_unlink(dec, t);
        }
    }
}

void s4f_decoder_expire(struct s4f_decoder *dec, int64_t now_ms)
{
    for (struct s4f_exporter *e = dec->lru_head; e; e = e->lru_next)
        expire_exporter(dec, e, now_ms);
}

void s4f_decoder_stats(const struct s4f_decoder *dec, struct s4f_decode_stats *out)
{
    *out = dec->st;
    out->memory_bytes = dec->mem_used;
}

static void visit(const struct s4f_exporter *e, s4f_exporter_stats_cb cb, void *ctx)
{
    struct s4f_exporter_stats st = {
        .addr = &e->addr,
        .addr_text = e->text,
        .port = e->port,
        .tcp = e->tcp,
        .version = e->version,
        .datagrams = e->datagrams,
        .flows = e->flows,
        .templates = e->ntpl,
        .domains = e->ndomains,
        .seq_lost = e->seq_lost,
        .seq_resets = e->seq_resets,
        .last_seen_ms = e->last_seen_ms,
    };
    memcpy(st.errors, e->errors, sizeof(st.errors));
    if (cb)
        cb(ctx, &st);
}

size_t s4f_decoder_foreach_exporter(const struct s4f_decoder *dec, s4f_exporter_stats_cb cb,
                                    void *ctx)
{
    size_t n = 0;
    for (const struct s4f_exporter *e = dec->lru_head; e; e = e->lru_next, n++)
        visit(e, cb, ctx);
    for (const struct s4f_exporter *e = dec->streams; e; e = e->lru_next, n++)
        visit(e, cb, ctx);
    return n;
}
