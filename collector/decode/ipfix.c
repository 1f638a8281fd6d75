/* NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: headers, sets, template records.
 *
 * A message is processed in two passes. The first walks the sets in order, installing and
 * withdrawing templates and decoding options data sets right away (so sampling intervals and
 * system init times learnt from them apply to every flow record of the message, wherever the
 * options set sits). Flow data sets are resolved against the template in force at their
 * position and queued with a reference on that template; the second pass decodes them. */
#include <string.h>

#include "decode_int.h"

/* The longest record a message can carry: the largest message (IPFIX over TCP: 65535 bytes;
 * over UDP what one datagram carries: 65507 bytes over IPv4, 65527 over IPv6) less the message
 * and set headers. A template whose records cannot fit is refused. */
static uint32_t max_record(const struct s4f_msg *m)
{
    uint32_t msg = m->exp->tcp ? 65535 : m->exp->family == AF_INET6 ? 65527 : 65507;
    return msg - (m->version == 9 ? 20 : 16) - 4;
}

struct setids {
    uint16_t tpl, opt;
};

/* Reads n field specifiers at p (at most avail bytes). Returns bytes consumed, 0 if truncated.
 * *min_len receives the smallest record length, *bad_len whether it is 0. */
static size_t read_specs(const struct s4f_msg *m, const uint8_t *p, size_t avail, uint16_t n,
                         struct s4f_fspec *f, uint32_t *min_len, bool *bad_len)
{
    size_t pos = 0;
    uint32_t ml = 0;
    *bad_len = false;
    for (uint16_t i = 0; i < n; i++) {
        if (avail - pos < 4)
            return 0;
        uint16_t id = s4f_rd16(p + pos), len = s4f_rd16(p + pos + 2);
        pos += 4;
        uint32_t pen = 0;
        if (m->version == 10 && (id & 0x8000)) {
            if (avail - pos < 4)
                return 0;
            pen = s4f_rd32(p + pos);
            pos += 4;
            id &= 0x7fff;
        }
        f[i].pen = pen;
        f[i].id = id;
        f[i].len = len;
        ml += len == S4F_VARLEN ? 1 : len;
    }
    /* Zero-length fields are allowed (and skipped), a zero-length record is not. */
    *bad_len = ml == 0;
    *min_len = ml;
    return pos;
}

static void template_set(struct s4f_msg *m, const uint8_t *p, size_t len, bool options)
{
    struct s4f_fspec f[S4F_MAX_FIELDS_LIMIT];
    const size_t max_fields = m->dec->o.max_fields_per_template;
    const bool v9 = m->version == 9;
    const size_t hdr = options ? 6 : 4;

    while (len >= 4) {
        uint16_t tid = s4f_rd16(p);
        uint16_t fc = s4f_rd16(p + 2);
        uint16_t scope = 0;
        if (tid == 0 && fc == 0 && s4f_all_zero(p, len))
            return; /* padding */
        if (!v9 && fc == 0) {
            /* Withdrawal (RFC 7011, 8.1): the set id as template id withdraws them all. Over
             * UDP withdrawals are forbidden (8.4) and would let one spoofed datagram wipe a
             * domain's templates: ignored and counted. */
            if (!m->exp->tcp)
                s4f_count_err(m, S4F_DR_WITHDRAW_UDP, "template withdrawal over UDP ignored");
            else if (tid == (options ? 3 : 2))
                s4f_tpl_withdraw_all(m, options);
            else if (tid >= 256)
                s4f_tpl_withdraw(m, tid);
            else
                s4f_count_err(m, S4F_DR_TEMPLATE_ID, "withdrawal of a reserved template id");
            p += 4;
            len -= 4;
            continue;
        }
        if (len < hdr) {
            s4f_count_err(m, S4F_DR_TEMPLATE_TRUNCATED, "template header past the set end");
            return;
        }
        size_t nfields = fc;
        if (options && v9) {
            /* v9: byte lengths of the scope and option field lists. */
            uint16_t scope_len = fc, opt_len = s4f_rd16(p + 4);
            if (scope_len == 0 || scope_len % 4) {
                s4f_count_err(m, S4F_DR_SCOPE_COUNT, "v9 options template scope length");
                return;
            }
            if (opt_len % 4) {
                s4f_count_err(m, S4F_DR_FIELD_COUNT, "v9 options template option length");
                return;
            }
            scope = scope_len / 4;
            nfields = (size_t)(scope_len + opt_len) / 4;
        } else if (options) {
            scope = s4f_rd16(p + 4);
        }
        m->tpl_records++;
        if (nfields == 0 || nfields > max_fields) {
            /* The record's length is unknown without trusting the count: drop the set. */
            s4f_count_err(m, S4F_DR_FIELD_COUNT, "template field count 0 or over the limit");
            return;
        }
        uint32_t min_len;
        bool bad_len;
        size_t used = read_specs(m, p + hdr, len - hdr, (uint16_t)nfields, f, &min_len, &bad_len);
        if (!used) {
            s4f_count_err(m, S4F_DR_TEMPLATE_TRUNCATED, "template record past the set end");
            return;
        }
        size_t rec_len = hdr + used;
        if (tid < 256)
            s4f_count_err(m, S4F_DR_TEMPLATE_ID, "template id below 256");
        else if (options && (scope == 0 || scope > nfields))
            s4f_count_err(m, S4F_DR_SCOPE_COUNT, "options template scope count");
        else if (bad_len || min_len > max_record(m))
            s4f_count_err(m, S4F_DR_FIELD_LENGTH,
                          "record length 0 or more than one message can carry");
        else
            s4f_tpl_announce(m, tid, options, f, (uint16_t)nfields, scope, p, (uint32_t)rec_len);
        p += rec_len;
        len -= rec_len;
    }
    if (len && !v9 && !s4f_all_zero(p, len))
        s4f_count_err(m, S4F_DR_TEMPLATE_TRUNCATED, "trailing bytes in a template set");
}

static void missing_template(struct s4f_msg *m)
{
    s4f_count_err(m, S4F_DR_MISSING_TEMPLATE, "data set without a known template");
    m->records_unknown = true;
}

static void process_sets(struct s4f_msg *m, const uint8_t *p, size_t len, struct setids ids)
{
    struct s4f_decoder *dec = m->dec;
    uint32_t npend = 0;
    while (len > 0) {
        if (len < 4) {
            if (m->version == 10 || !s4f_all_zero(p, len))
                s4f_count_err(m, S4F_DR_SET_LENGTH, "bytes after the last set");
            break;
        }
        uint16_t sid = s4f_rd16(p), slen = s4f_rd16(p + 2);
        if (slen < 4 || slen > len) {
            s4f_count_err(m, S4F_DR_SET_LENGTH, "set length < 4 or past the message end");
            break;
        }
        const uint8_t *body = p + 4;
        uint32_t blen = slen - 4u;
        if (sid == ids.tpl || sid == ids.opt) {
            template_set(m, body, blen, sid == ids.opt);
        } else if (sid < 256) {
            s4f_count_err(m, S4F_DR_SET_ID_RESERVED, "reserved set id");
        } else if (blen) {
            struct s4f_tpl *t = s4f_tpl_lookup(m, sid);
            if (t && (t->options || npend == S4F_MAX_PENDING)) {
                m->records += s4f_decode_records(m, t, body, blen);
            } else if (npend < S4F_MAX_PENDING) {
                /* No template yet: it may come later in this message (some exporters put it
                 * after the data); looked up again in the second pass. */
                if (t)
                    t->refcnt++;
                dec->pending[npend++] = (struct s4f_pending){t, body, blen, sid};
            } else {
                missing_template(m);
            }
        }
        p += slen;
        len -= slen;
    }
    for (uint32_t i = 0; i < npend; i++) {
        struct s4f_pending *pd = &dec->pending[i];
        struct s4f_tpl *t = pd->tpl ? pd->tpl : s4f_tpl_lookup(m, pd->set_id);
        if (!t)
            missing_template(m);
        else
            m->records += s4f_decode_records(m, t, pd->data, pd->len);
        if (pd->tpl)
            s4f_tpl_release(pd->tpl);
        pd->tpl = NULL;
    }
}

void s4f_decode_ipfix_msg(struct s4f_msg *m, const uint8_t *buf, size_t len)
{
    uint16_t mlen = s4f_rd16(buf + 2);
    if (mlen < 16 || mlen > len) {
        s4f_count_err(m, S4F_DR_MSG_LENGTH, "message length < 16 or past the datagram end");
        m->rejected = true;
        return;
    }
    if (len > mlen)
        s4f_count_err(m, S4F_DR_TRAILING_BYTES, "bytes after the message length ignored");
    uint32_t seq = s4f_rd32(buf + 8);
    m->version = 10;
    m->unix_ms = (int64_t)s4f_rd32(buf + 4) * 1000;
    m->domain_id = s4f_rd32(buf + 12);
    m->dom = s4f_domain_get(m, m->domain_id);
    if (!m->dom)
        return;
    s4f_seq_check(m, seq);
    process_sets(m, buf + 16, mlen - 16u, (struct setids){2, 3});
    if (m->records_unknown)
        m->dom->seq_valid = false;
    else
        s4f_seq_advance(m, seq + m->records);
}

void s4f_decode_v9_msg(struct s4f_msg *m, const uint8_t *buf, size_t len)
{
    uint16_t count = s4f_rd16(buf + 2);
    uint32_t seq = s4f_rd32(buf + 12);
    m->version = 9;
    m->sysup_ms = s4f_rd32(buf + 4);
    m->unix_ms = (int64_t)s4f_rd32(buf + 8) * 1000;
    m->domain_id = s4f_rd32(buf + 16);
    m->dom = s4f_domain_get(m, m->domain_id);
    if (!m->dom)
        return;
    s4f_seq_check(m, seq);
    process_sets(m, buf + 20, len - 20, (struct setids){0, 1});
    s4f_seq_advance(m, seq + 1);
    if (!m->records_unknown && count != m->records + m->tpl_records)
        s4f_count_err(m, S4F_DR_V9_COUNT, "header count differs from the records found");
}
