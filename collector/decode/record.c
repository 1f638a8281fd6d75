/* Running a compiled template over the records of a data set: sampling lookup, time
 * conversion, JSON encoding, and options records (sampling and system init time). */
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

#define NTP_EPOCH_OFFSET 2208988800ull /* seconds from 1900-01-01 to 1970-01-01 */
#define SAMPLING_ROLES                                                                             \
    ((1u << S4F_R_SAMPLER_ID) | (1u << S4F_R_INTERVAL) | (1u << S4F_R_RANDOM_INTERVAL) |           \
     (1u << S4F_R_PKT_INTERVAL) | (1u << S4F_R_PKT_SPACE) | (1u << S4F_R_SIZE) |                   \
     (1u << S4F_R_POPULATION) | (1u << S4F_R_PROBABILITY))
#define TRAILER_MAX 512 /* times, sampling, exporter, domain, closing brace */

struct roles {
    uint32_t have;
    uint64_t v[S4F_R__COUNT];
    /* Text roles (interface name, description): where the value is in the record. */
    const uint8_t *text[2];
    uint32_t text_len[2];
};

/* Reads the length of the variable-length field at q (RFC 7011, 7): sets *data and *flen.
 * Returns false if the field runs past end. */
static inline bool varlen_field(const uint8_t *q, const uint8_t *end, const uint8_t **data,
                                uint32_t *flen)
{
    if (q >= end)
        return false;
    uint32_t l = q[0];
    q++;
    if (l == 255) {
        if (end - q < 2)
            return false;
        l = s4f_rd16(q);
        q += 2;
    }
    if ((size_t)(end - q) < l)
        return false;
    *data = q;
    *flen = l;
    return true;
}

/* A text role's value (fixed length or variable, any length). */
static inline void role_text(struct roles *rv, const struct s4f_op *op, const uint8_t *p,
                             uint32_t len)
{
    int i = op->role == S4F_R_IFDESC;
    rv->have |= 1u << op->role;
    rv->text[i] = p;
    rv->text_len[i] = len;
}

static void role_set(struct roles *rv, const struct s4f_op *op, const uint8_t *p)
{
    if (op->role == S4F_R_IFNAME || op->role == S4F_R_IFDESC) {
        role_text(rv, op, p, op->len);
        return;
    }
    uint64_t v = s4f_rdn(p, op->len);
    if (op->role == S4F_R_PROBABILITY) {
        double d = 0;
        if (op->len == 4) {
            uint32_t u = (uint32_t)v;
            float f;
            memcpy(&f, &u, 4);
            d = (double)f;
        } else if (op->len == 8) {
            memcpy(&d, &v, 8);
        }
        memcpy(&v, &d, 8);
    }
    rv->have |= 1u << op->role;
    rv->v[op->role] = v;
}

/* Finds the record's length (checking that it fits in avail) and the values of the fields
 * with a role. Returns 0 if the record is truncated. */
static uint32_t walk_record(const struct s4f_tpl *t, const uint8_t *rec, uint32_t avail,
                            struct roles *rv)
{
    rv->have = 0;
    if (!t->varlen) {
        if (t->role_mask) {
            for (uint16_t i = 0; i < t->nops; i++) {
                const struct s4f_op *op = &t->ops[i];
                if (op->role)
                    role_set(rv, op, rec + op->off);
            }
        }
        return t->min_len;
    }
    const uint8_t *q = rec, *end = rec + avail;
    for (uint16_t i = 0; i < t->nops; i++) {
        const struct s4f_op *op = &t->ops[i];
        const uint8_t *fp;
        uint32_t flen;
        if (op->len == S4F_VARLEN) {
            if (!varlen_field(q, end, &fp, &flen))
                return 0;
            q = fp + flen;
            if (op->role)
                role_text(rv, op, fp, flen);
        } else {
            if ((size_t)(end - q) < op->len)
                return 0;
            fp = q;
            q += op->len;
            if (op->role)
                role_set(rv, op, fp);
        }
    }
    return (uint32_t)(q - rec);
}

static inline bool has(const struct roles *rv, enum s4f_role r)
{
    return rv->have & (1u << r);
}

/* The packet sampling rate (1 in N) from any sampling form of RFC 5477 (and NetFlow v9) in the
 * record, the first non-zero one: samplingInterval, samplerRandomInterval, systematic
 * count-based (samplingPacketInterval/Space), random n-out-of-N (samplingSize/Population),
 * uniform probabilistic (samplingProbability). Time-based sampling (307/308) gives no packet
 * ratio: not used. 0: none. */
static uint32_t rate_from_roles(const struct roles *rv)
{
    uint64_t r = 0;
    if (has(rv, S4F_R_INTERVAL) && rv->v[S4F_R_INTERVAL]) {
        r = rv->v[S4F_R_INTERVAL];
    } else if (has(rv, S4F_R_RANDOM_INTERVAL) && rv->v[S4F_R_RANDOM_INTERVAL]) {
        r = rv->v[S4F_R_RANDOM_INTERVAL];
    } else if (has(rv, S4F_R_PKT_INTERVAL) && has(rv, S4F_R_PKT_SPACE) &&
               rv->v[S4F_R_PKT_INTERVAL]) {
        /* Select interval packets, skip space packets: 1 in (interval + space) / interval. */
        uint64_t i = rv->v[S4F_R_PKT_INTERVAL], s = rv->v[S4F_R_PKT_SPACE];
        if (i <= UINT32_MAX && s <= UINT32_MAX)
            r = (i + s + i / 2) / i;
    } else if (has(rv, S4F_R_SIZE) && has(rv, S4F_R_POPULATION) && rv->v[S4F_R_SIZE]) {
        uint64_t n = rv->v[S4F_R_SIZE], pop = rv->v[S4F_R_POPULATION];
        r = pop / n + (pop % n >= (n + 1) / 2);
    } else if (has(rv, S4F_R_PROBABILITY)) {
        double p;
        memcpy(&p, &rv->v[S4F_R_PROBABILITY], 8);
        if (p > 0 && p <= 1) { /* NaN fails both */
            double inv = 1.0 / p + 0.5;
            /* A tiny probability would overflow the conversion (undefined): saturate first. */
            r = inv >= 4294967295.0 ? UINT32_MAX : (uint64_t)inv;
        }
    }
    return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

static struct s4f_sampler *sampler_find(struct s4f_domain *d, uint64_t id, bool iface)
{
    for (uint32_t i = 0; i < d->nsamplers; i++)
        if (d->samplers[i].id == id && d->samplers[i].iface == iface)
            return &d->samplers[i];
    return NULL;
}

static void sampler_set(struct s4f_msg *m, uint64_t id, bool iface, uint32_t interval)
{
    struct s4f_decoder *dec = m->dec;
    struct s4f_domain *d = m->dom;
    struct s4f_sampler *s = sampler_find(d, id, iface);
    if (!s) {
        if (!d->samplers) {
            d->samplers = calloc(dec->o.max_samplers_per_domain, sizeof(*d->samplers));
            if (!d->samplers) {
                s4f_count_err(m, S4F_DR_NO_MEMORY, "sampler table");
                return;
            }
            /* Counted, not enforced here: an options record is being decoded without a
             * reference on its template. The next template or exporter enforces it. */
            dec->mem_used += s4f_msize(d->samplers);
        }
        if (d->nsamplers < dec->o.max_samplers_per_domain) {
            s = &d->samplers[d->nsamplers++];
        } else {
            s = &d->samplers[0];
            for (uint32_t i = 1; i < d->nsamplers; i++)
                if (d->samplers[i].updated_ms < s->updated_ms)
                    s = &d->samplers[i];
            dec->st.samplers_evicted++;
        }
        s->id = id;
        s->iface = iface;
        if (iface)
            d->iface_samplers = true;
    }
    s->interval = interval;
    s->updated_ms = m->now_ms;
    dec->st.sampling_updates++;
}

/* The sampling interval that applies to a data record: from its own fields, else from the
 * sampler it names, else the domain's only (or id 0) sampler, else the configured default. */
static uint32_t record_rate(struct s4f_msg *m, const struct roles *rv)
{
    uint32_t r = rate_from_roles(rv);
    if (r)
        return r;
    if (m->hdr_rate) /* NetFlow v5 header, sFlow sample */
        return m->hdr_rate;
    struct s4f_domain *d = m->dom;
    if (d && d->nsamplers) {
        /* The sampler the record names, else the one of its input interface, else the
         * domain's only (or id 0) sampler that is not tied to an interface. */
        bool has_id = has(rv, S4F_R_SAMPLER_ID);
        struct s4f_sampler *s = sampler_find(d, has_id ? rv->v[S4F_R_SAMPLER_ID] : 0, false);
        if (!s && d->iface_samplers && has(rv, S4F_R_IFACE))
            s = sampler_find(d, rv->v[S4F_R_IFACE], true);
        if (!s && !has_id && d->nsamplers == 1 && !d->samplers[0].iface)
            s = &d->samplers[0];
        if (s && s->interval)
            return s->interval;
    }
    return m->dec->o.default_sampling_interval;
}

/* Text of at most S4F_IF_TEXT_MAX bytes, trailing NULs dropped, cut at a UTF-8 boundary (the
 * JSON writer replaces what is invalid). */
static uint8_t if_text(uint8_t *out, const uint8_t *s, uint32_t n)
{
    while (n && s[n - 1] == 0)
        n--;
    if (n > S4F_IF_TEXT_MAX) {
        n = S4F_IF_TEXT_MAX;
        while (n > 0 && (s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    return (uint8_t)n;
}

static const struct s4f_ifname *ifname_find(const struct s4f_domain *d, uint64_t index)
{
    uint32_t lo = 0, hi = d->nifnames;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (d->ifnames[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->nifnames && d->ifnames[lo].index == index ? &d->ifnames[lo] : NULL;
}

/* An options record naming an interface (interfaceName / interfaceDescription scoped by
 * ingressInterface): kept in the domain's sorted table of at most max_interfaces_per_domain;
 * past that, names of further interfaces are not kept (counted: interfaces_refused). */
static void ifname_set(struct s4f_msg *m, const struct roles *rv)
{
    struct s4f_decoder *dec = m->dec;
    struct s4f_domain *d = m->dom;
    uint64_t index = rv->v[S4F_R_IFACE];
    if (index > UINT32_MAX)
        return;
    uint32_t lo = 0, hi = d->nifnames;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (d->ifnames[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    struct s4f_ifname *e;
    if (lo < d->nifnames && d->ifnames[lo].index == index) {
        e = &d->ifnames[lo];
    } else if (d->nifnames >= dec->o.max_interfaces_per_domain) {
        dec->st.interfaces_refused++;
        return;
    } else {
        if (d->nifnames == d->capifnames) {
            uint32_t cap = d->capifnames ? d->capifnames * 2 : 8;
            if (cap > dec->o.max_interfaces_per_domain)
                cap = dec->o.max_interfaces_per_domain;
            size_t before = s4f_msize(d->ifnames);
            struct s4f_ifname *n = realloc(d->ifnames, cap * sizeof(*n));
            if (!n) {
                s4f_count_err(m, S4F_DR_NO_MEMORY, "interface table");
                return;
            }
            d->ifnames = n;
            d->capifnames = cap;
            /* Counted, enforced by the next template or exporter (see sampler_set). */
            dec->mem_used += s4f_msize(n) - before;
        }
        memmove(&d->ifnames[lo + 1], &d->ifnames[lo], (d->nifnames - lo) * sizeof(*d->ifnames));
        d->nifnames++;
        e = &d->ifnames[lo];
        e->name_len = e->desc_len = 0;
    }
    e->index = (uint32_t)index;
    if (has(rv, S4F_R_IFNAME))
        e->name_len = if_text(e->name, rv->text[0], rv->text_len[0]);
    if (has(rv, S4F_R_IFDESC))
        e->desc_len = if_text(e->desc, rv->text[1], rv->text_len[1]);
    dec->st.interface_updates++;
}

static void options_record(struct s4f_msg *m, const struct roles *rv)
{
    uint32_t r = rate_from_roles(rv);
    if (r) {
        /* Options scoped by interface apply to that interface only; a sampler id (or none:
         * the whole domain) as before. A record with both sets both. */
        bool by_id = has(rv, S4F_R_SAMPLER_ID), by_if = has(rv, S4F_R_IFACE);
        if (by_id || !by_if)
            sampler_set(m, by_id ? rv->v[S4F_R_SAMPLER_ID] : 0, false, r);
        if (by_if)
            sampler_set(m, rv->v[S4F_R_IFACE], true, r);
    }
    if ((rv->have & (1u << S4F_R_SYSINIT)) && rv->v[S4F_R_SYSINIT] <= INT64_MAX / 2)
        m->dom->sysinit_ms = (int64_t)rv->v[S4F_R_SYSINIT];
    if (has(rv, S4F_R_IFACE) && (has(rv, S4F_R_IFNAME) || has(rv, S4F_R_IFDESC)) &&
        !m->dec->o.no_interface_names)
        ifname_set(m, rv);
}

static inline uint64_t mul_sat(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static inline int64_t ntp_to_ms(uint64_t v, bool *ok)
{
    uint64_t secs = v >> 32, frac = v & 0xffffffffu;
    if (secs < NTP_EPOCH_OFFSET) {
        *ok = false;
        return 0;
    }
    *ok = true;
    return (int64_t)(secs - NTP_EPOCH_OFFSET) * 1000 + (int64_t)((frac * 1000) >> 32);
}

static char *put_ntp(char *p, uint64_t v, uint64_t scale)
{
    int64_t secs = (int64_t)(v >> 32) - (int64_t)NTP_EPOCH_OFFSET;
    uint64_t frac = ((v & 0xffffffffu) * scale) >> 32;
    return s4f_json_i64(p, secs * (int64_t)scale + (int64_t)frac);
}

/* Dual-stack templates (Cisco v9 template 313) carry sourceIPv4Address and sourceIPv6Address,
 * the one of the other family all zero: the key is the address that is actually set, the first
 * one when both (or neither) are. */
static bool addr_better(int family, const uint8_t *have_addr, const uint8_t *a, size_t n)
{
    if (!family)
        return true;
    size_t have = family == AF_INET ? 4 : 16;
    return s4f_all_zero(have_addr, have) && !s4f_all_zero(a, n);
}
#define src_better(out, a, n) addr_better((out)->src_family, (out)->src_addr, (a), (n))
#define dst_better(out, a, n) addr_better((out)->dst_family, (out)->dst_addr, (a), (n))

static inline int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (b > 0 ? INT64_MAX : INT64_MIN) : r;
}

static const char hdr_entry[] = "{\"@type\":\"ipfix.entry\"";
static const char hdr_options[] = "{\"@type\":\"ipfix.options\"";
static const char key_start[] = ",\"ipfix.flowStartMilliseconds\":";
static const char key_end[] = ",\"ipfix.flowEndMilliseconds\":";
static const char key_rate[] = ",\"s4f.sampling_interval\":";
static const char key_domain[] = ",\"ipfix.observationDomainId\":";
static const char key_engine_type[] = ",\"ipfix.engineType\":";
static const char key_engine_id[] = ",\"ipfix.engineId\":";
static const char key_in_name[] = ",\"s4f.in_if_name\":";
static const char key_in_desc[] = ",\"s4f.in_if_description\":";
static const char key_out_name[] = ",\"s4f.out_if_name\":";
static const char key_out_desc[] = ",\"s4f.out_if_description\":";
#define PUT_LIT(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) += sizeof(lit) - 1)

/* Encodes one record (already validated by walk_record) and calls the callback. */
static void emit_record(struct s4f_msg *m, const struct s4f_tpl *t, const uint8_t *rec,
                        const struct roles *rv, uint32_t rate, bool is_options)
{
    struct s4f_decoder *dec = m->dec;
    struct s4f_jbuf *jb = &dec->jb;
    jb->len = 0;
    /* Interface names of the record's ingress and egress interfaces, when the exporter named
     * them (four texts of at most S4F_IF_TEXT_MAX bytes, escaped, and their keys). */
    bool ifn = !is_options && m->dom && m->dom->nifnames &&
               (t->role_mask & (1u << S4F_R_IFACE | 1u << S4F_R_EGRESS));
    const size_t trailer = TRAILER_MAX + (ifn ? 4 * (6 * S4F_IF_TEXT_MAX + 32) : 0);
    if (!s4f_jbuf_reserve(jb, t->out_bound + trailer)) {
        s4f_count_err(m, S4F_DR_NO_MEMORY, "record buffer");
        return;
    }
    char *p = jb->buf;
    if (is_options)
        PUT_LIT(p, hdr_options);
    else
        PUT_LIT(p, hdr_entry);

    uint64_t mult = (!dec->o.no_renormalize && rate > 1) ? rate : 1;
    int64_t start = 0, end = 0, dur = -1;
    int srank = 0, erank = 0;
    bool rel_uptime = false;
    /* systemInitTimeMilliseconds in the record itself beats the options value. */
    int64_t sysinit = m->dom ? m->dom->sysinit_ms : 0;
    if ((rv->have & (1u << S4F_R_SYSINIT)) && rv->v[S4F_R_SYSINIT] <= INT64_MAX / 2)
        sysinit = (int64_t)rv->v[S4F_R_SYSINIT];
    struct s4f_flow_out out = {0};
    size_t src_off = 0;
    const uint8_t *q = rec;

    for (uint16_t i = 0; i < t->nops; i++) {
        const struct s4f_op *op = &t->ops[i];
        const uint8_t *fp;
        uint32_t flen;
        if (!t->varlen) {
            fp = rec + op->off;
            flen = op->len;
        } else if (op->len != S4F_VARLEN) {
            fp = q;
            flen = op->len;
            q += flen;
        } else {
            flen = q[0];
            fp = q + 1;
            if (flen == 255) {
                flen = s4f_rd16(q + 1);
                fp = q + 3;
            }
            q = fp + flen;
            jb->len = (size_t)(p - jb->buf);
            if (!s4f_jbuf_reserve(jb,
                                  op->key_len + 6 * (size_t)flen + 8 + t->out_bound + trailer)) {
                s4f_count_err(m, S4F_DR_NO_MEMORY, "record buffer");
                return;
            }
            p = jb->buf + jb->len;
        }
        memcpy(p, op->key, op->key_len);
        p += op->key_len;
        switch (op->kind) {
        case S4F_K_SKIP:
            break;
        case S4F_K_UINT: {
            uint64_t v = s4f_rdn(fp, flen);
            if (op->flags & S4F_OPF_RENORM)
                v = mul_sat(v, mult);
            p = s4f_json_u64(p, v);
            break;
        }
        case S4F_K_INT: {
            unsigned shift = 64 - 8 * flen;
            int64_t v = (int64_t)(s4f_rdn(fp, flen) << shift) >> shift;
            p = s4f_json_i64(p, v);
            break;
        }
        case S4F_K_FLOAT:
            if (flen == 4) {
                uint32_t u = s4f_rd32(fp);
                float f;
                memcpy(&f, &u, 4);
                p = s4f_json_double(p, (double)f);
            } else {
                uint64_t u = s4f_rd64(fp);
                double d;
                memcpy(&d, &u, 8);
                p = s4f_json_double(p, d);
            }
            break;
        case S4F_K_BOOL:
            if (fp[0] == 1)
                PUT_LIT(p, "true");
            else if (fp[0] == 2)
                PUT_LIT(p, "false");
            else
                p = s4f_json_u64(p, fp[0]);
            break;
        case S4F_K_MAC:
            p = s4f_json_mac(p, fp);
            break;
        case S4F_K_IPV4:
            if ((op->flags & S4F_OPF_SRC) && src_better(&out, fp, 4)) {
                out.src_family = AF_INET;
                memcpy(out.src_addr, fp, 4);
                src_off = (size_t)(p - jb->buf);
            } else if ((op->flags & S4F_OPF_DST) && dst_better(&out, fp, 4)) {
                out.dst_family = AF_INET;
                memcpy(out.dst_addr, fp, 4);
            }
            p = s4f_json_ipv4(p, fp);
            break;
        case S4F_K_IPV6:
            if ((op->flags & S4F_OPF_SRC) && src_better(&out, fp, 16)) {
                out.src_family = AF_INET6;
                memcpy(out.src_addr, fp, 16);
                src_off = (size_t)(p - jb->buf);
            } else if ((op->flags & S4F_OPF_DST) && dst_better(&out, fp, 16)) {
                out.dst_family = AF_INET6;
                memcpy(out.dst_addr, fp, 16);
            }
            p = s4f_json_ipv6(p, fp);
            break;
        case S4F_K_STRING:
            p = s4f_json_string(p, fp, flen);
            break;
        case S4F_K_HEX:
            p = s4f_json_hex(p, fp, flen);
            break;
        case S4F_K_DT_SEC:
        case S4F_K_DT_MS:
            p = s4f_json_u64(p, s4f_rdn(fp, flen));
            break;
        case S4F_K_DT_US:
            p = put_ntp(p, s4f_rd64(fp), 1000000);
            break;
        case S4F_K_DT_NS:
            p = put_ntp(p, s4f_rd64(fp), 1000000000);
            break;
        case S4F_K_TIME: {
            uint64_t v = s4f_rdn(fp, flen);
            int64_t ms = 0;
            int rank = 0;
            bool ok = true;
            switch (op->aux & 0x0f) {
            case S4F_T_SEC:
                ok = v <= INT64_MAX / 1000;
                ms = ok ? (int64_t)v * 1000 : 0; /* no multiplication before the check */
                rank = 1;
                break;
            case S4F_T_MS:
                ok = v <= INT64_MAX;
                ms = (int64_t)v;
                rank = 5;
                break;
            case S4F_T_NTP:
                ms = ntp_to_ms(v, &ok);
                rank = 4;
                break;
            case S4F_T_SYSUP:
                if (m->version == 10) {
                    /* Relative to the export time rather than added to systemInitTime, with a
                     * signed 32-bit difference: a flow is exported within 24 days of its end,
                     * so this survives both the 49.7-day wrap of the 32-bit uptime and
                     * exporters whose uptime field went "negative" (softflowd -r sets its
                     * boot time from the capture, so early flows have uptimes just below
                     * 2^32). */
                    ok = v <= UINT32_MAX;
                    if (sysinit != 0) {
                        uint32_t up_at_export = (uint32_t)(m->unix_ms - sysinit);
                        ms = m->unix_ms + (int32_t)((uint32_t)v - up_at_export);
                    } else {
                        /* No systemInitTimeMilliseconds (yet): keep the raw uptime, anchored
                         * to the export time once the record is read (see below). */
                        ms = (int64_t)v;
                        rel_uptime = true;
                    }
                } else {
                    /* Signed 32-bit difference: survives the 49.7-day uptime wrap. */
                    ms = m->unix_ms + (int32_t)((uint32_t)v - m->sysup_ms);
                }
                rank = 2;
                break;
            case S4F_T_DELTA_US:
                ms = m->unix_ms - (int64_t)(v / 1000);
                rank = 3;
                break;
            case S4F_T_DUR_MS:
            case S4F_T_DUR_US:
                p = s4f_json_u64(p, v);
                dur = (int64_t)((op->aux & 0x0f) == S4F_T_DUR_MS ? v : v / 1000);
                if (dur < 0)
                    dur = -1;
                ok = false;
                break;
            }
            if (!ok)
                break;
            if (op->aux & S4F_T_END) {
                if (rank > erank) {
                    erank = rank;
                    end = ms;
                }
            } else if (rank > srank) {
                srank = rank;
                start = ms;
            }
            break;
        }
        }
    }

    if (rel_uptime && (srank == 2 || erank == 2)) {
        /* IPFIX uptimes without the exporter's boot time (Cisco IOS-XR sends no
         * systemInitTimeMilliseconds): as pmacct does, take them relative to the export time,
         * the flow's end being the export time; the duration is kept. */
        uint32_t anchor = (uint32_t)(erank == 2 ? end : start);
        if (srank == 2)
            start = m->unix_ms + (int32_t)((uint32_t)start - anchor);
        if (erank == 2)
            end = m->unix_ms;
        dec->st.time_fallback[S4F_TF_NO_SYSINIT]++;
    }
    if (!srank && !erank && !is_options) {
        /* Every flow record carries its times: without a usable time field the export time
         * (the receive time if the header has none) stands for both. */
        int64_t at = m->unix_ms ? m->unix_ms : m->now_ms;
        srank = erank = 1;
        start = dur >= 0 ? add_sat(at, -dur) : at;
        end = at;
        dec->st.time_fallback[S4F_TF_NO_TIME]++;
    }
    if (srank || erank) {
        if (!erank)
            end = dur >= 0 ? add_sat(start, dur) : start;
        if (!srank)
            start = dur >= 0 ? add_sat(end, -dur) : end;
        PUT_LIT(p, key_start);
        p = s4f_json_i64(p, start);
        PUT_LIT(p, key_end);
        p = s4f_json_i64(p, end);
        out.flow_start_ms = start;
        out.flow_end_ms = end;
    }
    if (rate > 1) {
        PUT_LIT(p, key_rate);
        p = s4f_json_u64(p, rate);
    }
    if (!dec->o.no_exporter_fields) {
        if (!t->has_exporter_field) {
            memcpy(p, m->exp->exp_json, m->exp->exp_json_len);
            p += m->exp->exp_json_len;
        }
        if (m->version == 5) {
            PUT_LIT(p, key_engine_type);
            p = s4f_json_u64(p, m->domain_id >> 8);
            PUT_LIT(p, key_engine_id);
            p = s4f_json_u64(p, m->domain_id & 0xff);
        } else if (!t->has_domain_field) {
            PUT_LIT(p, key_domain);
            p = s4f_json_u64(p, m->domain_id);
        }
    }
    if (ifn) {
        for (int k = 0; k < 2; k++) {
            enum s4f_role r = k ? S4F_R_EGRESS : S4F_R_IFACE;
            const struct s4f_ifname *e = has(rv, r) ? ifname_find(m->dom, rv->v[r]) : NULL;
            if (!e)
                continue;
            if (e->name_len) {
                if (k)
                    PUT_LIT(p, key_out_name);
                else
                    PUT_LIT(p, key_in_name);
                p = s4f_json_string(p, e->name, e->name_len);
            }
            if (e->desc_len) {
                if (k)
                    PUT_LIT(p, key_out_desc);
                else
                    PUT_LIT(p, key_in_desc);
                p = s4f_json_string(p, e->desc, e->desc_len);
            }
        }
    }
    *p++ = '}';
    jb->len = (size_t)(p - jb->buf);

    out.json = jb->buf;
    out.json_len = jb->len;
    out.version = m->version;
    out.is_options = is_options;
    out.domain = m->domain_id;
    if (out.src_family) {
        out.src_text = jb->buf + src_off + 1;
        const char *e = memchr(out.src_text, '"', jb->len - src_off - 1);
        out.src_text_len = e ? (size_t)(e - out.src_text) : 0;
    }
    out.exporter = m->exp_addr ? m->exp_addr : &m->exp->addr;
    out.exporter_text = m->exp->text;
    out.sampling_interval = rate;
    m->cb(m->ctx, &out);
}

uint32_t s4f_decode_records(struct s4f_msg *m, struct s4f_tpl *t, const uint8_t *p, uint32_t len)
{
    struct s4f_decoder *dec = m->dec;
    const int proto = m->version == 5                   ? S4F_PROTO_V5
                      : m->version == 9                 ? S4F_PROTO_V9
                      : m->version == S4F_VERSION_SFLOW ? S4F_PROTO_SFLOW
                                                        : S4F_PROTO_IPFIX;
    uint32_t n = 0;
    struct roles rv;
    bool per_record_rate =
        (t->role_mask & SAMPLING_ROLES) != 0 ||
        (m->dom && m->dom->iface_samplers && (t->role_mask & (1u << S4F_R_IFACE)));
    uint32_t set_rate = 0;
    if (!t->options && !per_record_rate) {
        rv.have = 0;
        set_rate = record_rate(m, &rv);
    }
    if (len < t->min_len) {
        /* Shorter than one record: not padding (padding follows records), a broken set. */
        s4f_count_err(m, S4F_DR_DATA_SET_SHORT, "data set shorter than one record");
        return 0;
    }
    while (len >= t->min_len) {
        uint32_t rl = walk_record(t, p, len, &rv);
        if (!rl) {
            s4f_count_err(m, S4F_DR_RECORD_TRUNCATED, "variable-length field past the set end");
            break;
        }
        n++;
        if (t->options) {
            dec->st.options_records++;
            options_record(m, &rv);
            if (dec->o.emit_options_records)
                emit_record(m, t, p, &rv, 0, true);
        } else {
            uint32_t rate = per_record_rate ? record_rate(m, &rv) : set_rate;
            emit_record(m, t, p, &rv, rate, false);
            dec->st.flows[proto]++;
            m->exp->flows++;
        }
        p += rl;
        len -= rl;
    }
    return n;
}
