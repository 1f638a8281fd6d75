/* Message builder for tests, benchmarks and the fuzz corpus: NetFlow v5, NetFlow v9 and IPFIX
 * messages written field by field. Lengths and counts are patched by s4f_mg_end(); nothing is
 * validated, so hostile messages are as easy to build as good ones. */
#ifndef S4F_MSGGEN_H
#define S4F_MSGGEN_H

#include <stddef.h>
#include <stdint.h>

struct s4f_mg {
    uint8_t buf[65536];
    size_t len;
    size_t set_start; /* offset of the open set's header, 0 if none */
    int version;
    uint16_t count; /* v9: records written (header count), v5: records */
};

void s4f_mg_ipfix(struct s4f_mg *g, uint32_t export_time, uint32_t seq, uint32_t domain);
void s4f_mg_v9(struct s4f_mg *g, uint32_t sysup_ms, uint32_t unix_secs, uint32_t seq,
               uint32_t source_id);
void s4f_mg_v5(struct s4f_mg *g, uint32_t sysup_ms, uint32_t unix_secs, uint32_t unix_nsecs,
               uint32_t flow_seq, uint8_t engine_type, uint8_t engine_id, uint16_t sampling);

void s4f_mg_u8(struct s4f_mg *g, uint8_t v);
void s4f_mg_u16(struct s4f_mg *g, uint16_t v);
void s4f_mg_u32(struct s4f_mg *g, uint32_t v);
void s4f_mg_u64(struct s4f_mg *g, uint64_t v);
void s4f_mg_bytes(struct s4f_mg *g, const void *p, size_t n);
void s4f_mg_ip4(struct s4f_mg *g, const char *text);
void s4f_mg_ip6(struct s4f_mg *g, const char *text);
/* IPFIX variable-length value: 1-byte length form below 255 bytes, else 3-byte form. */
void s4f_mg_varlen(struct s4f_mg *g, const void *p, size_t n);

/* Opens a set (closing the previous one). */
void s4f_mg_set(struct s4f_mg *g, uint16_t set_id);
void s4f_mg_set_end(struct s4f_mg *g);
/* Template record header: IPFIX/v9 template, IPFIX options template, v9 options template. */
void s4f_mg_tpl(struct s4f_mg *g, uint16_t tid, uint16_t nfields);
void s4f_mg_opt_tpl(struct s4f_mg *g, uint16_t tid, uint16_t nfields, uint16_t scope);
void s4f_mg_v9_opt_tpl(struct s4f_mg *g, uint16_t tid, uint16_t scope_bytes, uint16_t opt_bytes);
/* Field specifier; pen != 0 sets the enterprise bit (IPFIX). */
void s4f_mg_field(struct s4f_mg *g, uint16_t id, uint16_t len, uint32_t pen);
/* Counts one record for the v9/v5 header count. */
void s4f_mg_rec(struct s4f_mg *g);
/* Closes the open set, patches the header; returns the message length. */
size_t s4f_mg_end(struct s4f_mg *g);

/* A v5 record. */
struct s4f_mg_v5rec {
    const char *src, *dst, *nexthop;
    uint16_t input, output;
    uint32_t pkts, octets, first, last;
    uint16_t sport, dport;
    uint8_t tcp_flags, proto, tos;
    uint16_t src_as, dst_as;
    uint8_t src_mask, dst_mask;
};
void s4f_mg_v5_rec(struct s4f_mg *g, const struct s4f_mg_v5rec *r);

/* The typical 18-field IPv4 flow template used by tests and the benchmark (IPFIX or v9):
 * returns the record length. s4f_mg_typical_rec writes one record of it. */
#define S4F_MG_TYPICAL_N 18
extern const uint16_t s4f_mg_typical_fields[S4F_MG_TYPICAL_N][2]; /* {id, length} */
uint16_t s4f_mg_typical_tpl(struct s4f_mg *g, uint16_t tid);
void s4f_mg_typical_rec(struct s4f_mg *g, uint32_t i, uint64_t start_ms);

#endif
