/* Internal structures of s4f_decode, shared by its files. Not installed, not for callers.
 *
 * Ownership: the decoder owns exporters (hash table + LRU list, or one per TCP stream); an
 * exporter owns its domains; a domain's hash table holds one reference on each template. A data
 * set waiting for the second pass of its datagram holds another reference, so a template that is
 * replaced, withdrawn, expired or evicted meanwhile is freed only when the last holder lets go
 * (s4f_tpl_release). */
#ifndef S4F_DECODE_INT_H
#define S4F_DECODE_INT_H

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "decode.h"
#include "log.h"

#define S4F_VARLEN           65535
#define S4F_MAX_FIELDS_LIMIT 1024
#define S4F_PEN_REVERSE      29305

/* What a decode op does with its field. */
enum s4f_op_kind {
    S4F_K_SKIP,   /* not emitted (padding, duplicate element) */
    S4F_K_UINT,   /* unsigned, 1-8 bytes big-endian */
    S4F_K_INT,    /* signed, 1-8 bytes, sign-extended */
    S4F_K_FLOAT,  /* 4 or 8 bytes IEEE */
    S4F_K_BOOL,   /* 1 true, 2 false */
    S4F_K_MAC,    /* 6 bytes */
    S4F_K_IPV4,   /* 4 bytes */
    S4F_K_IPV6,   /* 16 bytes */
    S4F_K_STRING, /* UTF-8 text, escaped */
    S4F_K_HEX,    /* "0x..." */
    S4F_K_DT_SEC, /* absolute times that are not flow start/end: emitted in their own unit */
    S4F_K_DT_MS,
    S4F_K_DT_US, /* NTP 64-bit -> epoch microseconds */
    S4F_K_DT_NS, /* NTP 64-bit -> epoch nanoseconds */
    S4F_K_TIME,  /* flow start/end: captured, emitted as ipfix.flow{Start,End}Milliseconds */
};

/* S4F_K_TIME sub-kinds (op.aux): unit in the low nibble, 0x10 set for end times. */
enum s4f_time_unit {
    S4F_T_SEC,      /* dateTimeSeconds */
    S4F_T_MS,       /* dateTimeMilliseconds */
    S4F_T_NTP,      /* dateTimeMicroseconds / Nanoseconds (NTP format) */
    S4F_T_SYSUP,    /* ms since exporter boot (v9 header uptime, IPFIX systemInitTime) */
    S4F_T_DELTA_US, /* microseconds before the IPFIX export time */
    S4F_T_DUR_MS,   /* flowDurationMilliseconds: not a time, used to derive the end */
    S4F_T_DUR_US,
};
#define S4F_T_END 0x10

/* Roles a field plays for sampling and time conversion (op.role). */
enum s4f_role {
    S4F_R_NONE,
    S4F_R_SAMPLER_ID,      /* samplerId 48, selectorId 302 */
    S4F_R_INTERVAL,        /* samplingInterval 34 */
    S4F_R_RANDOM_INTERVAL, /* samplerRandomInterval 50 (its own slot: a 0 must not erase 34) */
    S4F_R_PKT_INTERVAL,    /* samplingPacketInterval 305 */
    S4F_R_PKT_SPACE,       /* samplingPacketSpace 306 */
    S4F_R_SIZE,            /* samplingSize 309 */
    S4F_R_POPULATION,      /* samplingPopulation 310 */
    S4F_R_PROBABILITY,     /* samplingProbability 311 (float64 bits; float32 widened) */
    S4F_R_SYSINIT,         /* systemInitTimeMilliseconds 160 */
    S4F_R_IFACE,           /* ingressInterface 10, v9 options scope "interface" (2) */
    S4F_R_EGRESS,          /* egressInterface 14 (data records: its name is added) */
    S4F_R_IFNAME,          /* interfaceName 82 (options: text, captured as offset/length) */
    S4F_R_IFDESC,          /* interfaceDescription 83 (likewise) */
    S4F_R__COUNT
};

#define S4F_OPF_RENORM 0x01 /* packet/byte counter: multiplied by the sampling interval */
#define S4F_OPF_SRC    0x02 /* source address: Kafka key candidate */
#define S4F_OPF_DST    0x04 /* destination address: for the collector's enrichment */

struct s4f_op {
    const char *key; /* `,"ipfix.name":` or NULL for SKIP/TIME */
    uint16_t key_len;
    uint16_t len; /* field length or S4F_VARLEN */
    uint16_t off; /* offset in the record when the template has no varlen field */
    uint8_t kind; /* enum s4f_op_kind */
    uint8_t aux;  /* S4F_K_TIME: enum s4f_time_unit | S4F_T_END */
    uint8_t role; /* enum s4f_role */
    uint8_t flags;
};

/* A field specifier as read from a template. */
struct s4f_fspec {
    uint32_t pen;
    uint16_t id;
    uint16_t len;
};

struct s4f_domain;

/* A compiled template: the decode program for its records. */
struct s4f_tpl {
    struct s4f_tpl *hnext;                 /* domain hash chain */
    struct s4f_tpl *lru_prev, *lru_next;   /* exporter LRU list, most recent first */
    struct s4f_tpl *glru_prev, *glru_next; /* decoder-wide LRU list (memory budget) */
    size_t mem;                            /* bytes allocated for it (counted while cached) */
    struct s4f_domain *dom;                /* NULL once unlinked */
    uint32_t refcnt;
    uint16_t id;
    bool options;
    bool varlen;             /* some field has variable length */
    bool has_exporter_field; /* exporterIPv4/IPv6Address in the record */
    bool has_domain_field;   /* observationDomainId in the record */
    uint16_t nops;
    uint16_t scope_count;
    uint32_t role_mask; /* 1 << enum s4f_role present */
    uint32_t min_len;   /* smallest possible record (>= 1) */
    uint32_t out_bound; /* JSON bytes needed for the fixed-length fields */
    int64_t expires_ms; /* INT64_MAX: never */
    uint8_t *raw;       /* template record as received, to detect layout changes */
    uint32_t raw_len;
    char *keys; /* key strings of ops */
    struct s4f_op ops[];
};

struct s4f_sampler {
    uint64_t id;
    bool iface; /* learnt from options scoped by interface: id is the ingressInterface */
    uint32_t interval;
    int64_t updated_ms;
};

/* An interface's name and description as the exporter's options records gave them (cut at
 * S4F_IF_TEXT_MAX bytes), kept per domain sorted by index. */
#define S4F_IF_TEXT_MAX 64
struct s4f_ifname {
    uint32_t index;
    uint8_t name_len, desc_len;
    uint8_t name[S4F_IF_TEXT_MAX], desc[S4F_IF_TEXT_MAX];
};

struct s4f_exporter;

struct s4f_domain {
    struct s4f_domain *next; /* exporter's list, most recently used first */
    struct s4f_exporter *exp;
    uint32_t id;
    uint8_t version;
    bool seq_valid;
    uint8_t behind_run; /* consecutive packets behind the expected sequence number */
    uint32_t seq_next;
    uint32_t last_sysup;    /* v5/v9 header uptime of the last in-order packet */
    int64_t last_export_ms; /* header export time of the last in-order packet */
    int64_t sysinit_ms;     /* from options records (IPFIX), 0 unknown */
    struct s4f_tpl **tbl;
    uint32_t tmask; /* buckets - 1 */
    uint32_t ntpl;
    struct s4f_sampler *samplers;
    uint32_t nsamplers;
    bool iface_samplers;        /* some sampler is per interface: look at ingressInterface */
    struct s4f_ifname *ifnames; /* sorted by index; at most max_interfaces_per_domain */
    uint32_t nifnames, capifnames;
};

struct s4f_exporter {
    struct s4f_exporter *hnext;
    struct s4f_exporter *lru_prev, *lru_next; /* decoder LRU or stream list */
    struct sockaddr_storage addr;
    uint8_t family;
    uint8_t key[16];
    uint16_t port; /* UDP source port (part of the key), TCP peer port */
    bool tcp;
    char text[INET6_ADDRSTRLEN];
    char exp_json[96]; /* `,"ipfix.exporterIPv4Address":"..."` */
    uint8_t exp_json_len;
    uint8_t version;
    struct s4f_domain *domains;
    uint32_t ndomains;
    struct s4f_tpl *tpl_head, *tpl_tail;
    uint32_t ntpl;
    uint64_t datagrams, flows, seq_lost, seq_resets;
    uint64_t errors[S4F_DR__COUNT];
    int64_t last_seen_ms;
};

/* Growable output buffer. */
struct s4f_jbuf {
    char *buf;
    size_t len, cap;
};

struct s4f_pending {
    struct s4f_tpl *tpl; /* referenced; NULL: not known at the set's position */
    const uint8_t *data;
    uint32_t len;
    uint16_t set_id;
};
#define S4F_MAX_PENDING 512

struct s4f_decoder {
    struct s4f_decoder_opts o;
    void *model; /* fbInfoModel_t */
    struct s4f_exporter **etbl;
    uint32_t emask;
    uint32_t nexp;
    struct s4f_exporter *lru_head, *lru_tail;
    struct s4f_exporter *streams; /* TCP streams' exporters (lru_prev/next links) */
    struct s4f_tpl *v5tpl;
    struct s4f_tpl *gtpl_head, *gtpl_tail; /* all cached templates, most recently used first */
    size_t mem_used;                       /* bytes of templates and exporter state */
    struct s4f_jbuf jb;
    struct s4f_decode_stats st;
    int64_t next_sweep_ms;
    struct s4f_ratelimit rl[S4F_DR__COUNT];
    struct s4f_sflow *sflow; /* sFlow state (sflow.c), created at the first sFlow datagram */
    struct s4f_pending pending[S4F_MAX_PENDING];
};

/* Per-message context. */
struct s4f_msg {
    struct s4f_decoder *dec;
    struct s4f_exporter *exp;
    struct s4f_domain *dom;
    s4f_record_cb cb;
    void *ctx;
    int64_t now_ms;
    int64_t unix_ms;   /* header export time, ms */
    uint32_t sysup_ms; /* v5/v9 header uptime */
    uint32_t domain_id;
    uint32_t hdr_rate; /* v5 header or sFlow sample sampling interval, 0 none */
    uint8_t version;
    bool failed;
    uint32_t records;     /* data records (IPFIX sequence number unit) */
    uint32_t tpl_records; /* template records (v9 count includes them) */
    bool records_unknown; /* a data set could not be decoded: its record count is unknown */
    bool seq_stale;       /* sequence number behind the expected one: do not move back */
    bool rejected;        /* the message was rejected whole */
    const struct sockaddr_storage *exp_addr;
};

/* Bytes actually allocated for p (malloc's usable size), for the memory budget. */
static inline size_t s4f_msize(const void *p)
{
    return p ? malloc_usable_size((void *)p) : 0;
}

/* decoder.c */
/* Evicts templates (least recently used first, never the most recent one), then UDP exporters
 * other than keep, until the memory budget holds. Must not run while a template it could free
 * is being decoded without a reference (options data sets). */
void s4f_mem_enforce(struct s4f_decoder *dec, const struct s4f_exporter *keep);
void s4f_count_err(struct s4f_msg *m, enum s4f_decode_reason r, const char *detail);
struct s4f_domain *s4f_domain_get(struct s4f_msg *m, uint32_t id);
void s4f_seq_check(struct s4f_msg *m, uint32_t seq);
void s4f_seq_advance(struct s4f_msg *m, uint32_t next);
void s4f_exporter_init_text(struct s4f_exporter *e);
void s4f_exporter_clear(struct s4f_decoder *dec, struct s4f_exporter *e);
/* The UDP exporter of this address and port, created if new (NULL: out of memory). */
struct s4f_exporter *s4f_exporter_get(struct s4f_decoder *dec, const struct sockaddr_storage *ss);

/* template.c */
struct s4f_tpl *s4f_tpl_compile(struct s4f_decoder *dec, uint8_t version, bool options,
                                const struct s4f_fspec *f, uint16_t n, uint16_t scope_count,
                                const uint8_t *raw, uint32_t raw_len);
void s4f_tpl_release(struct s4f_tpl *t);
struct s4f_tpl *s4f_tpl_lookup(struct s4f_msg *m, uint16_t id);
/* Installs a template announced in raw; compiles only if the layout is new. */
void s4f_tpl_announce(struct s4f_msg *m, uint16_t id, bool options, const struct s4f_fspec *f,
                      uint16_t n, uint16_t scope_count, const uint8_t *raw, uint32_t raw_len);
void s4f_tpl_withdraw(struct s4f_msg *m, uint16_t id);
void s4f_tpl_withdraw_all(struct s4f_msg *m, bool options);
void s4f_tpl_unlink(struct s4f_decoder *dec, struct s4f_tpl *t);
bool s4f_elements_load(struct s4f_decoder *dec);

/* record.c */
/* Decodes the records of one data set; returns the number decoded. */
uint32_t s4f_decode_records(struct s4f_msg *m, struct s4f_tpl *t, const uint8_t *p, uint32_t len);

/* ipfix.c and netflow_v5.c */
void s4f_decode_ipfix_msg(struct s4f_msg *m, const uint8_t *buf, size_t len);
void s4f_decode_v9_msg(struct s4f_msg *m, const uint8_t *buf, size_t len);
void s4f_decode_v5_msg(struct s4f_msg *m, const uint8_t *buf, size_t len);
struct s4f_tpl *s4f_v5_template(struct s4f_decoder *dec);

/* sflow.c: one sFlow v5 datagram (version word checked by the caller); from is the sender. */
void s4f_decode_sflow_msg(struct s4f_msg *m, const struct sockaddr_storage *from,
                          const uint8_t *buf, size_t len);
void s4f_sflow_free(struct s4f_decoder *dec);

/* json.c */
bool s4f_jbuf_reserve(struct s4f_jbuf *jb, size_t more);
char *s4f_json_u64(char *p, uint64_t v);
char *s4f_json_i64(char *p, int64_t v);
char *s4f_json_ipv4(char *p, const uint8_t *a);
char *s4f_json_ipv6(char *p, const uint8_t *a);
char *s4f_json_mac(char *p, const uint8_t *a);
char *s4f_json_hex(char *p, const uint8_t *a, size_t n);
char *s4f_json_double(char *p, double v);

static inline uint16_t s4f_rd16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t s4f_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t s4f_rd64(const uint8_t *p)
{
    return (uint64_t)s4f_rd32(p) << 32 | s4f_rd32(p + 4);
}
/* Unsigned big-endian integer of 1..8 bytes. */
static inline uint64_t s4f_rdn(const uint8_t *p, unsigned n)
{
    switch (n) {
    case 1:
        return p[0];
    case 2:
        return s4f_rd16(p);
    case 4:
        return s4f_rd32(p);
    case 8:
        return s4f_rd64(p);
    default: {
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
            v = v << 8 | p[i];
        return v;
    }
    }
}

#endif
