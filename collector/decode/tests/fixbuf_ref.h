/* libfixbuf as a reference IPFIX decoder (its collection API on caller-owned buffers), for the
 * cross-check test and the benchmark. Transcodes the test flow template into a struct. */
#ifndef S4F_FIXBUF_REF_H
#define S4F_FIXBUF_REF_H

#include <stddef.h>
#include <stdint.h>

#include <fixbuf/public.h>

/* Field order and sizes follow the internal template in fixbuf_ref.c (no padding holes). */
struct s4f_ref_rec {
    uint64_t octets, packets, start_ms, end_ms;
    fbVarfield_t ifname;
    uint32_t src, dst, ingress, egress, nexthop, src_as, dst_as; /* addresses in host order */
    uint16_t sport, dport, flags;
    uint8_t proto, tos, src_mask, dst_mask;
    uint8_t pad[2];
};

struct s4f_ref {
    fbInfoModel_t *model;
    fbSession_t *session;
    fBuf_t *fbuf;
};

int s4f_ref_init(struct s4f_ref *r);
void s4f_ref_free(struct s4f_ref *r);
/* Decodes one message; calls fn for every record; returns the number of records or -1. */
int s4f_ref_decode(struct s4f_ref *r, uint8_t *msg, size_t len,
                   void (*fn)(void *ctx, const struct s4f_ref_rec *rec), void *ctx);

#endif
