/* NetFlow v5: a fixed 24-byte header and up to 30 fixed 48-byte records. The record layout is
 * expressed as a built-in template of IANA elements and run through the same decode program as
 * v9/IPFIX records, so the JSON rules are identical. */
#include "decode_int.h"

#define V5_HDR     24
#define V5_REC     48
#define V5_MAX_REC 30

/* IANA ids of the v5 record fields, in order; 210 (paddingOctets) is skipped. */
static const struct s4f_fspec v5_fields[] = {
    {0, 8, 4},   /* srcaddr */
    {0, 12, 4},  /* dstaddr */
    {0, 15, 4},  /* nexthop */
    {0, 10, 2},  /* input */
    {0, 14, 2},  /* output */
    {0, 2, 4},   /* dPkts */
    {0, 1, 4},   /* dOctets */
    {0, 22, 4},  /* First (sysUptime ms) */
    {0, 21, 4},  /* Last */
    {0, 7, 2},   /* srcport */
    {0, 11, 2},  /* dstport */
    {0, 210, 1}, /* pad1 */
    {0, 6, 1},   /* tcp_flags */
    {0, 4, 1},   /* prot */
    {0, 5, 1},   /* tos */
    {0, 16, 2},  /* src_as */
    {0, 17, 2},  /* dst_as */
    {0, 9, 1},   /* src_mask */
    {0, 13, 1},  /* dst_mask */
    {0, 210, 2}, /* pad2 */
};

struct s4f_tpl *s4f_v5_template(struct s4f_decoder *dec)
{
    static const uint8_t raw[1] = {5};
    return s4f_tpl_compile(dec, 5, false, v5_fields, (uint16_t)S4F_ARRAY_SIZE(v5_fields), 0, raw,
                           sizeof(raw));
}

void s4f_decode_v5_msg(struct s4f_msg *m, const uint8_t *buf, size_t len)
{
    uint16_t count = s4f_rd16(buf + 2);
    if (count == 0 || count > V5_MAX_REC || V5_HDR + (size_t)count * V5_REC > len) {
        s4f_count_err(m, S4F_DR_V5_COUNT, "record count 0, over 30 or past the datagram end");
        m->rejected = true;
        return;
    }
    uint32_t seq = s4f_rd32(buf + 16);
    uint16_t sampling = s4f_rd16(buf + 22);
    m->version = 5;
    m->sysup_ms = s4f_rd32(buf + 4);
    m->unix_ms = (int64_t)s4f_rd32(buf + 8) * 1000 + s4f_rd32(buf + 12) / 1000000;
    m->domain_id = (uint32_t)buf[20] << 8 | buf[21];
    /* Top two bits: sampling mode; low 14 bits: the interval. */
    uint32_t interval = sampling & 0x3fff;
    m->hdr_rate = interval > 1 ? interval : 0;
    m->dom = s4f_domain_get(m, m->domain_id);
    if (!m->dom)
        return;
    s4f_seq_check(m, seq);
    m->records = s4f_decode_records(m, m->dec->v5tpl, buf + V5_HDR, (uint32_t)count * V5_REC);
    s4f_seq_advance(m, seq + count);
}
