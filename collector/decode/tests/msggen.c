#include "msggen.h"

#include <arpa/inet.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void s4f_mg_u8(struct s4f_mg *g, uint8_t v)
{
    if (g->len < sizeof(g->buf))
        g->buf[g->len++] = v;
}

void s4f_mg_u16(struct s4f_mg *g, uint16_t v)
{
    s4f_mg_u8(g, (uint8_t)(v >> 8));
    s4f_mg_u8(g, (uint8_t)v);
}

void s4f_mg_u32(struct s4f_mg *g, uint32_t v)
{
    s4f_mg_u16(g, (uint16_t)(v >> 16));
    s4f_mg_u16(g, (uint16_t)v);
}

void s4f_mg_u64(struct s4f_mg *g, uint64_t v)
{
    s4f_mg_u32(g, (uint32_t)(v >> 32));
    s4f_mg_u32(g, (uint32_t)v);
}

void s4f_mg_bytes(struct s4f_mg *g, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        s4f_mg_u8(g, b[i]);
}

void s4f_mg_ip4(struct s4f_mg *g, const char *text)
{
    uint8_t a[4] = {0};
    inet_pton(AF_INET, text, a);
    s4f_mg_bytes(g, a, 4);
}

void s4f_mg_ip6(struct s4f_mg *g, const char *text)
{
    uint8_t a[16] = {0};
    inet_pton(AF_INET6, text, a);
    s4f_mg_bytes(g, a, 16);
}

void s4f_mg_varlen(struct s4f_mg *g, const void *p, size_t n)
{
    if (n < 255) {
        s4f_mg_u8(g, (uint8_t)n);
    } else {
        s4f_mg_u8(g, 255);
        s4f_mg_u16(g, (uint16_t)n);
    }
    s4f_mg_bytes(g, p, n);
}

void s4f_mg_ipfix(struct s4f_mg *g, uint32_t export_time, uint32_t seq, uint32_t domain)
{
    memset(g, 0, sizeof(*g));
    g->version = 10;
    s4f_mg_u16(g, 10);
    s4f_mg_u16(g, 0);
    s4f_mg_u32(g, export_time);
    s4f_mg_u32(g, seq);
    s4f_mg_u32(g, domain);
}

void s4f_mg_v9(struct s4f_mg *g, uint32_t sysup_ms, uint32_t unix_secs, uint32_t seq,
               uint32_t source_id)
{
    memset(g, 0, sizeof(*g));
    g->version = 9;
    s4f_mg_u16(g, 9);
    s4f_mg_u16(g, 0);
    s4f_mg_u32(g, sysup_ms);
    s4f_mg_u32(g, unix_secs);
    s4f_mg_u32(g, seq);
    s4f_mg_u32(g, source_id);
}

void s4f_mg_v5(struct s4f_mg *g, uint32_t sysup_ms, uint32_t unix_secs, uint32_t unix_nsecs,
               uint32_t flow_seq, uint8_t engine_type, uint8_t engine_id, uint16_t sampling)
{
    memset(g, 0, sizeof(*g));
    g->version = 5;
    s4f_mg_u16(g, 5);
    s4f_mg_u16(g, 0);
    s4f_mg_u32(g, sysup_ms);
    s4f_mg_u32(g, unix_secs);
    s4f_mg_u32(g, unix_nsecs);
    s4f_mg_u32(g, flow_seq);
    s4f_mg_u8(g, engine_type);
    s4f_mg_u8(g, engine_id);
    s4f_mg_u16(g, sampling);
}

void s4f_mg_set_end(struct s4f_mg *g)
{
    if (g->set_start) {
        put16(g->buf + g->set_start + 2, (uint16_t)(g->len - g->set_start));
        g->set_start = 0;
    }
}

void s4f_mg_set(struct s4f_mg *g, uint16_t set_id)
{
    s4f_mg_set_end(g);
    g->set_start = g->len;
    s4f_mg_u16(g, set_id);
    s4f_mg_u16(g, 0);
}

void s4f_mg_tpl(struct s4f_mg *g, uint16_t tid, uint16_t nfields)
{
    s4f_mg_u16(g, tid);
    s4f_mg_u16(g, nfields);
    s4f_mg_rec(g);
}

void s4f_mg_opt_tpl(struct s4f_mg *g, uint16_t tid, uint16_t nfields, uint16_t scope)
{
    s4f_mg_u16(g, tid);
    s4f_mg_u16(g, nfields);
    s4f_mg_u16(g, scope);
}

void s4f_mg_v9_opt_tpl(struct s4f_mg *g, uint16_t tid, uint16_t scope_bytes, uint16_t opt_bytes)
{
    s4f_mg_u16(g, tid);
    s4f_mg_u16(g, scope_bytes);
    s4f_mg_u16(g, opt_bytes);
    s4f_mg_rec(g);
}

void s4f_mg_field(struct s4f_mg *g, uint16_t id, uint16_t len, uint32_t pen)
{
    s4f_mg_u16(g, pen ? (uint16_t)(id | 0x8000) : id);
    s4f_mg_u16(g, len);
    if (pen)
        s4f_mg_u32(g, pen);
}

void s4f_mg_rec(struct s4f_mg *g)
{
    g->count++;
}

size_t s4f_mg_end(struct s4f_mg *g)
{
    s4f_mg_set_end(g);
    if (g->version == 10)
        put16(g->buf + 2, (uint16_t)g->len);
    else
        put16(g->buf + 2, g->count);
    return g->len;
}

void s4f_mg_v5_rec(struct s4f_mg *g, const struct s4f_mg_v5rec *r)
{
    s4f_mg_ip4(g, r->src);
    s4f_mg_ip4(g, r->dst);
    s4f_mg_ip4(g, r->nexthop ? r->nexthop : "0.0.0.0");
    s4f_mg_u16(g, r->input);
    s4f_mg_u16(g, r->output);
    s4f_mg_u32(g, r->pkts);
    s4f_mg_u32(g, r->octets);
    s4f_mg_u32(g, r->first);
    s4f_mg_u32(g, r->last);
    s4f_mg_u16(g, r->sport);
    s4f_mg_u16(g, r->dport);
    s4f_mg_u8(g, 0);
    s4f_mg_u8(g, r->tcp_flags);
    s4f_mg_u8(g, r->proto);
    s4f_mg_u8(g, r->tos);
    s4f_mg_u16(g, r->src_as);
    s4f_mg_u16(g, r->dst_as);
    s4f_mg_u8(g, r->src_mask);
    s4f_mg_u8(g, r->dst_mask);
    s4f_mg_u16(g, 0);
    s4f_mg_rec(g);
}

const uint16_t s4f_mg_typical_fields[S4F_MG_TYPICAL_N][2] = {
    {8, 4},   {12, 4},  {7, 2},  {11, 2}, {4, 1},  {6, 1},  {5, 1},  {2, 8}, {1, 8},
    {152, 8}, {153, 8}, {10, 4}, {14, 4}, {15, 4}, {16, 4}, {17, 4}, {9, 1}, {13, 1},
};

uint16_t s4f_mg_typical_tpl(struct s4f_mg *g, uint16_t tid)
{
    uint16_t len = 0;
    s4f_mg_tpl(g, tid, S4F_MG_TYPICAL_N);
    for (uint16_t i = 0; i < S4F_MG_TYPICAL_N; i++) {
        s4f_mg_field(g, s4f_mg_typical_fields[i][0], s4f_mg_typical_fields[i][1], 0);
        len += s4f_mg_typical_fields[i][1];
    }
    return len;
}

void s4f_mg_typical_rec(struct s4f_mg *g, uint32_t i, uint64_t start_ms)
{
    s4f_mg_u32(g, 0x0a000000u | (i & 0xffffff)); /* 10.x.y.z */
    s4f_mg_u32(g, 0xc0a80001u + (i % 200));      /* 192.168.0.x */
    s4f_mg_u16(g, (uint16_t)(1024 + i % 50000));
    s4f_mg_u16(g, 443);
    s4f_mg_u8(g, 6);
    s4f_mg_u8(g, 0x1b);
    s4f_mg_u8(g, 0);
    s4f_mg_u64(g, 10 + i % 100);
    s4f_mg_u64(g, 1500 + i % 100000);
    s4f_mg_u64(g, start_ms);
    s4f_mg_u64(g, start_ms + 1234);
    s4f_mg_u32(g, 3);
    s4f_mg_u32(g, 7);
    s4f_mg_u32(g, 0x0a0000fe);
    s4f_mg_u32(g, 64512);
    s4f_mg_u32(g, 15169);
    s4f_mg_u8(g, 24);
    s4f_mg_u8(g, 16);
    s4f_mg_rec(g);
}
