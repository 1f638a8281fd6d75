/* IPFIX over TCP: splits a byte stream into messages by the IPFIX length field. Whole messages
 * found in the input are decoded in place; a message split across reads is gathered in a buffer
 * of at most 65535 bytes (the largest possible message). Each stream has its own exporter state,
 * so templates are scoped to the connection and observation domain and never expire. */
#include <stdlib.h>
#include <string.h>

#include "decode_int.h"

#define MAX_MSG 65535u

struct s4f_ipfix_stream {
    struct s4f_decoder *dec;
    struct s4f_exporter exp;
    uint8_t *buf; /* MAX_MSG bytes, allocated on the first split message */
    uint32_t have;
    uint32_t need; /* length of the message being gathered, 0 until its header is in */
    bool dead;
};

struct s4f_ipfix_stream *s4f_ipfix_stream_new(struct s4f_decoder *dec,
                                              const struct sockaddr_storage *peer)
{
    struct s4f_ipfix_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->dec = dec;
    struct s4f_exporter *e = &st->exp;
    e->tcp = true;
    e->version = 10;
    if (peer) {
        e->addr = *peer;
        if (peer->ss_family == AF_INET)
            e->port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
        else if (peer->ss_family == AF_INET6)
            e->port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
        if (peer->ss_family == AF_INET) {
            e->family = AF_INET;
            memcpy(e->key, &((const struct sockaddr_in *)peer)->sin_addr, 4);
        } else if (peer->ss_family == AF_INET6) {
            const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED(a)) {
                e->family = AF_INET;
                memcpy(e->key, a->s6_addr + 12, 4);
            } else {
                e->family = AF_INET6;
                memcpy(e->key, a->s6_addr, 16);
            }
        }
    }
    s4f_exporter_init_text(e);
    dec->mem_used += s4f_msize(st);
    e->lru_next = dec->streams;
    if (dec->streams)
        dec->streams->lru_prev = e;
    dec->streams = e;
    return st;
}

void s4f_ipfix_stream_free(struct s4f_ipfix_stream *st)
{
    if (!st)
        return;
    struct s4f_decoder *dec = st->dec;
    struct s4f_exporter *e = &st->exp;
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        dec->streams = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    s4f_exporter_clear(dec, e);
    dec->mem_used -= s4f_msize(st);
    free(st->buf);
    free(st);
}

size_t s4f_ipfix_stream_pending(const struct s4f_ipfix_stream *st)
{
    return st->have;
}

static enum s4f_status die(struct s4f_ipfix_stream *st, struct s4f_msg *m, const char *why)
{
    s4f_count_err(m, S4F_DR_STREAM_FRAMING, why);
    st->dead = true;
    st->have = st->need = 0;
    return S4F_ERR;
}

/* Checks a message header's version and length; returns the length or 0. */
static uint32_t frame_len(const uint8_t *h)
{
    uint16_t v = s4f_rd16(h), l = s4f_rd16(h + 2);
    return v == 10 && l >= 16 ? l : 0;
}

static void decode_one(struct s4f_ipfix_stream *st, const uint8_t *msg, uint32_t len,
                       int64_t now_ms, s4f_record_cb cb, void *ctx)
{
    struct s4f_msg m = {.dec = st->dec,
                        .exp = &st->exp,
                        .cb = cb,
                        .ctx = ctx,
                        .now_ms = now_ms,
                        .version = 10,
                        .exp_addr = &st->exp.addr};
    st->dec->st.datagrams[S4F_PROTO_IPFIX]++;
    st->exp.datagrams++;
    st->exp.last_seen_ms = now_ms;
    s4f_decode_ipfix_msg(&m, msg, len);
}

enum s4f_status s4f_ipfix_stream_feed(struct s4f_ipfix_stream *st, const uint8_t *buf, size_t len,
                                      int64_t now_ms, s4f_record_cb cb, void *ctx)
{
    struct s4f_msg em = {.dec = st->dec, .exp = &st->exp, .version = 10};
    if (st->dead)
        return S4F_ERR;
    while (len > 0) {
        if (st->have == 0 && len >= 4) {
            uint32_t ml = frame_len(buf);
            if (!ml)
                return die(st, &em, "bad version or message length");
            if (len >= ml) {
                decode_one(st, buf, ml, now_ms, cb, ctx);
                buf += ml;
                len -= ml;
                continue;
            }
        }
        if (!st->buf && !(st->buf = malloc(MAX_MSG))) {
            s4f_count_err(&em, S4F_DR_NO_MEMORY, "stream buffer");
            st->dead = true;
            return S4F_ERR;
        }
        if (st->have < 4) {
            size_t take = 4 - st->have < len ? 4 - st->have : len;
            memcpy(st->buf + st->have, buf, take);
            st->have += (uint32_t)take;
            buf += take;
            len -= take;
            if (st->have < 4)
                break;
            st->need = frame_len(st->buf);
            if (!st->need)
                return die(st, &em, "bad version or message length");
        }
        size_t take = st->need - st->have < len ? st->need - st->have : len;
        memcpy(st->buf + st->have, buf, take);
        st->have += (uint32_t)take;
        buf += take;
        len -= take;
        if (st->have == st->need) {
            uint32_t ml = st->need;
            st->have = st->need = 0;
            decode_one(st, st->buf, ml, now_ms, cb, ctx);
        }
    }
    return S4F_OK;
}
