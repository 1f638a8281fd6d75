/* s4f_decode: NetFlow v5, NetFlow v9, IPFIX and sFlow v5 decoding into flat JSON flow records.
 *
 * Life cycle and threading
 *   One struct s4f_decoder per receiving thread. A decoder and everything it owns (templates,
 *   exporter state, statistics, the JSON buffer, IPFIX-over-TCP streams created from it) is used
 *   by one thread at a time; there is no internal locking.
 *
 *   s4f_decode_datagram() and s4f_ipfix_stream_feed() call the record callback synchronously,
 *   once per decoded flow record. The record (struct s4f_flow_out) and every pointer in it are
 *   valid only during the callback: the JSON text lives in a buffer that the decoder reuses for
 *   the next record. Copy what you keep. The callback must not call back into the same decoder
 *   (decode, feed, expire, free); reading statistics is allowed.
 *
 * State
 *   Templates are kept per (exporter address, source port, observation domain) for UDP, as
 *   ipfixcol2 and GoFlow2 do (two exporting processes behind one address never share
 *   templates), per (connection, observation domain) for a TCP stream. NetFlow v9 source ids and
 *   IPFIX observation domains are separate namespaces. A template lives template_lifetime_s
 *   seconds after it was last (re)announced; templates received over TCP live as long as their
 *   stream (RFC 7011, section 8.1). All state is bounded by the limits in struct
 *   s4f_decoder_opts, and by one memory budget for all exporters; what is evicted is counted.
 *
 * Output format: see collector/decode/README.md. */
#ifndef S4F_DECODE_H
#define S4F_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "s4f.h"

/* Options. A zero-initialised struct gives the defaults noted on each field. */
struct s4f_decoder_opts {
    uint32_t template_lifetime_s;        /* 0: 1800 s (UDP only) */
    uint32_t max_exporters;              /* 0: 4096; least recently seen is evicted */
    uint32_t max_templates_per_exporter; /* 0: 4096; least recently used is evicted */
    uint32_t max_domains_per_exporter;   /* 0: 256; least recently used is evicted */
    uint32_t max_samplers_per_domain;    /* 0: 64; least recently updated is evicted */
    uint32_t max_fields_per_template;    /* 0: 256 (hard upper bound 1024) */
    /* One budget, in bytes actually allocated, for all templates and exporter state (exporters,
     * domains, sampler tables, TCP streams) of the decoder. When it is reached the least
     * recently used templates of all exporters are evicted, then the least recently seen UDP
     * exporters. 0: 64 MiB. */
    size_t max_template_memory;
    /* A sequence number more than this far ahead of the expected one is an exporter restart
     * (resync), not a loss. Behind it, only a small window (64 v9 packets, 4096 v5/IPFIX
     * records) is reordering; further behind, 3 "late" packets in a row, or the exporter's
     * uptime/export time going back is a restart. 0: 1,000,000. */
    uint32_t seq_reset_threshold;
    /* Applied to records whose sampling interval is unknown. 0: none. */
    uint32_t default_sampling_interval;
    /* Interfaces whose name/description options records (interfaceName 82,
     * interfaceDescription 83, scoped by ingressInterface) are kept per domain; names of
     * further interfaces are not kept (counted). 0: 1024. */
    uint32_t max_interfaces_per_domain;
    bool no_interface_names;   /* true: do not add s4f.in_if_name and the like to records */
    bool no_renormalize;       /* true: keep packet/byte counters as exported */
    bool no_exporter_fields;   /* true: omit exporter address and observation domain keys */
    bool emit_options_records; /* true: options records are passed to the callback too */
    /* sFlow interface counters kept (agent, sub-agent, ifIndex); further interfaces are not
     * tracked (counted in sflow_interfaces_refused). 0: 256. */
    uint32_t max_sflow_interfaces;
    /* NULL-terminated list of extra information element files in libfixbuf's XML registry
     * format (see README.md), loaded after the IANA elements. Strings are not kept. */
    const char *const *element_files;
};

/* Why a datagram, set, template or record was rejected or counted. */
enum s4f_decode_reason {
    S4F_DR_SHORT_HEADER,       /* datagram shorter than its protocol header */
    S4F_DR_BAD_VERSION,        /* version field is not 5, 9 or 10 */
    S4F_DR_MSG_LENGTH,         /* IPFIX message length < 16 or past the end of the datagram */
    S4F_DR_V5_COUNT,           /* NetFlow v5 count is 0, > 30 or larger than the datagram */
    S4F_DR_V9_COUNT,           /* NetFlow v9 count differs from the records found (not fatal) */
    S4F_DR_SET_LENGTH,         /* set length < 4 or past the end of the message */
    S4F_DR_SET_ID_RESERVED,    /* set id in the reserved range (v9: 2-255, IPFIX: 4-255) */
    S4F_DR_MISSING_TEMPLATE,   /* data set whose template is unknown (or expired) */
    S4F_DR_TEMPLATE_TRUNCATED, /* template record runs past its set */
    S4F_DR_TEMPLATE_ID,        /* template id < 256 */
    S4F_DR_FIELD_COUNT,        /* zero fields or more than max_fields_per_template */
    S4F_DR_FIELD_LENGTH,       /* template's record length is 0 or over what a message carries */
    S4F_DR_SCOPE_COUNT,        /* options template scope count 0 or > field count */
    S4F_DR_TEMPLATE_CHANGED,   /* template id reused with a different layout (replaced) */
    S4F_DR_WITHDRAW_UNKNOWN,   /* withdrawal of a template that is not known */
    S4F_DR_RECORD_TRUNCATED,   /* variable-length field runs past its set */
    S4F_DR_NO_MEMORY,          /* allocation failed; the item was dropped */
    S4F_DR_STREAM_FRAMING,     /* TCP stream: bad version or length, stream closed */
    S4F_DR_DATA_SET_SHORT,     /* data set shorter than one record of its template */
    S4F_DR_WITHDRAW_UDP,       /* IPFIX template withdrawal over UDP: ignored (RFC 7011, 8.4) */
    S4F_DR_TRAILING_BYTES,     /* bytes after the IPFIX message length in a datagram (ignored) */
    S4F_DR_SFLOW_AGENT,        /* sFlow agent address type neither IPv4 (1) nor IPv6 (2) */
    S4F_DR_SFLOW_LENGTH,       /* sFlow sample or record runs past its container, or is short */
    S4F_DR__COUNT
};
/* Stable snake_case name of a reason ("missing_template"), for metrics labels. */
const char *s4f_decode_reason_name(enum s4f_decode_reason reason);

/* Why a flow record's times were not taken from its own fields as exported (counted, the
 * record is still emitted with flowStart/EndMilliseconds). */
enum s4f_time_fallback {
    /* IPFIX flowStart/EndSysUpTime without a known systemInitTimeMilliseconds: the uptimes are
     * taken relative to the export time (the flow's end is the export time). */
    S4F_TF_NO_SYSINIT,
    S4F_TF_NO_TIME, /* no usable time field: start and end are the export time */
    S4F_TF__COUNT
};
/* "no_sysinit", "no_time". */
const char *s4f_time_fallback_name(enum s4f_time_fallback reason);

enum s4f_proto { S4F_PROTO_V5, S4F_PROTO_V9, S4F_PROTO_IPFIX, S4F_PROTO_SFLOW, S4F_PROTO__COUNT };
/* "netflow_v5", "netflow_v9", "ipfix", "sflow". */
const char *s4f_proto_name(enum s4f_proto proto);

/* Global counters, monotonically increasing over the decoder's life. */
struct s4f_decode_stats {
    uint64_t datagrams[S4F_PROTO__COUNT]; /* UDP datagrams or TCP messages, by protocol */
    uint64_t flows[S4F_PROTO__COUNT];     /* data records passed to the callback */
    uint64_t datagrams_rejected;          /* rejected whole (header errors) */
    uint64_t options_records;             /* options data records decoded */
    uint64_t errors[S4F_DR__COUNT];       /* by reason */
    uint64_t templates_added;             /* new or changed layout */
    uint64_t templates_refreshed;         /* same layout announced again */
    uint64_t templates_withdrawn;
    uint64_t templates_expired;
    uint64_t templates_evicted;            /* max_templates_per_exporter reached */
    uint64_t templates_evicted_memory;     /* max_template_memory reached */
    uint64_t exporters_evicted_memory;     /* max_template_memory reached, no template left */
    uint64_t memory_bytes;                 /* current template and exporter state (a gauge) */
    uint64_t exporters_evicted;            /* max_exporters reached */
    uint64_t domains_evicted;              /* max_domains_per_exporter reached */
    uint64_t samplers_evicted;             /* max_samplers_per_domain reached */
    uint64_t interface_updates;            /* interface names learnt from options records */
    uint64_t interfaces_refused;           /* max_interfaces_per_domain reached: not kept */
    uint64_t sampling_updates;             /* sampling intervals learnt from options records */
    uint64_t seq_lost;                     /* v5 and IPFIX: flows, v9: packets, by sequence gaps */
    uint64_t seq_resets;                   /* exporter restarts detected (count starts over) */
    uint64_t seq_reordered;                /* sequence numbers a little behind expected */
    uint64_t time_fallback[S4F_TF__COUNT]; /* flow records whose times were derived */
    uint64_t sflow_flow_samples;           /* sFlow flow samples read (expanded or not) */
    uint64_t sflow_counter_samples;        /* sFlow counter samples read */
    uint64_t sflow_non_ip;                 /* flow samples without IPv4/IPv6: not emitted */
    uint64_t sflow_skipped;                /* samples of unknown type or enterprise: skipped */
    uint64_t sflow_interfaces_refused;     /* counter samples of untracked interfaces (full) */
};

/* The version of sFlow v5 records and exporters in struct s4f_flow_out and s4f_exporter_stats
 * (NetFlow and IPFIX use their header version: 5, 9, 10). */
#define S4F_VERSION_SFLOW 0xf5

/* One exporter's counters, for s4f_decoder_foreach_exporter(). */
struct s4f_exporter_stats {
    const struct sockaddr_storage *addr; /* address and port; a TCP stream's peer as given */
    uint16_t port;                       /* source port (part of the exporter's key) */
    const char *addr_text;               /* "192.0.2.1", "2001:db8::1" */
    bool tcp;                            /* an IPFIX-over-TCP connection */
    uint8_t version;                     /* last version seen: 5, 9, 10 or S4F_VERSION_SFLOW */
    uint64_t datagrams;
    uint64_t flows;
    uint32_t templates; /* templates currently held */
    uint32_t domains;   /* observation domains / source ids / v5 engines currently tracked */
    uint64_t seq_lost;
    uint64_t seq_resets;
    uint64_t errors[S4F_DR__COUNT];
    int64_t last_seen_ms;
};

/* One decoded record. Valid only during the callback (see top of file). */
struct s4f_flow_out {
    const char *json; /* one JSON object, not NUL-terminated */
    size_t json_len;
    uint8_t version; /* 5, 9, 10 or S4F_VERSION_SFLOW */
    bool is_options; /* an options record (only with emit_options_records) */
    /* observation domain, v9 source id, v5 engine_type << 8 | engine_id, sFlow sub-agent id */
    uint32_t domain;
    /* Kafka key candidates. */
    int src_family;       /* AF_INET, AF_INET6 or 0 if the record has no source address */
    uint8_t src_addr[16]; /* network order; 4 bytes used for AF_INET */
    const char *src_text; /* points into json (not NUL-terminated), NULL if none */
    size_t src_text_len;
    /* The destination address (for enrichment): as src_family/src_addr. */
    int dst_family;
    uint8_t dst_addr[16];
    const struct sockaddr_storage *exporter; /* as passed to decode (TCP: the stream's peer) */
    const char *exporter_text;               /* NUL-terminated */
    uint32_t sampling_interval;              /* 0 unknown, 1 unsampled, N: 1 in N packets */
    int64_t flow_start_ms;                   /* epoch ms, 0 if the record has none */
    int64_t flow_end_ms;
};

typedef void (*s4f_record_cb)(void *ctx, const struct s4f_flow_out *rec);

struct s4f_decoder;

/* Creates a decoder. opts may be NULL (defaults) and is copied. Returns NULL on failure
 * (logged), e.g. an element file that cannot be read. */
struct s4f_decoder *s4f_decoder_new(const struct s4f_decoder_opts *opts);
/* Frees the decoder. NULL-safe. All streams created from it must be freed first. */
void s4f_decoder_free(struct s4f_decoder *dec);

/* Decodes one UDP datagram from exporter (the sender's address and port: both are the key; for
 * sFlow the agent address of the datagram and the sender's port). now_ms:
 * wall-clock epoch ms, used for template lifetimes. Calls cb once per flow record. Returns S4F_OK
 * if the whole datagram was decoded cleanly, S4F_ERR if anything in it was rejected (counted by
 * reason; records before and after a bad set are still delivered). Never retains buf. */
enum s4f_status s4f_decode_datagram(struct s4f_decoder *dec,
                                    const struct sockaddr_storage *exporter, const uint8_t *buf,
                                    size_t len, int64_t now_ms, s4f_record_cb cb, void *ctx);

/* Drops expired templates now. Decoding also does this on its own once a minute. */
void s4f_decoder_expire(struct s4f_decoder *dec, int64_t now_ms);

/* Copies the global counters. */
void s4f_decoder_stats(const struct s4f_decoder *dec, struct s4f_decode_stats *out);

/* Calls cb for every tracked exporter (UDP, then open TCP streams). The struct passed is valid
 * during the call only. Returns the number of exporters visited. */
typedef void (*s4f_exporter_stats_cb)(void *ctx, const struct s4f_exporter_stats *st);
size_t s4f_decoder_foreach_exporter(const struct s4f_decoder *dec, s4f_exporter_stats_cb cb,
                                    void *ctx);

/* One sFlow interface's counters as its agent last reported them (generic interface counters,
 * sFlow v5 counter record 1), for s4f_decoder_foreach_sflow_interface(). */
struct s4f_sflow_interface {
    const char *agent; /* agent address as text */
    uint32_t sub_agent;
    uint32_t ifindex;
    uint64_t speed;  /* bits per second */
    uint32_t status; /* bit 0: admin up, bit 1: operationally up */
    uint64_t in_octets, in_packets, in_discards, in_errors; /* packets: unicast+multicast+bcast */
    uint64_t out_octets, out_packets, out_discards, out_errors;
    int64_t updated_ms;
};
typedef void (*s4f_sflow_interface_cb)(void *ctx, const struct s4f_sflow_interface *ifc);
/* Calls cb for every tracked sFlow interface (at most max_sflow_interfaces; an interface once
 * tracked stays, so the set of metric series it feeds is bounded). Returns the count. */
size_t s4f_decoder_foreach_sflow_interface(const struct s4f_decoder *dec, s4f_sflow_interface_cb cb,
                                           void *ctx);

/* IPFIX over TCP (RFC 7011, section 10.4): one stream per connection. The stream splits the
 * byte stream into messages by the IPFIX length field, buffering at most one message
 * (65535 bytes), and decodes each with its own template scope (per connection and observation
 * domain). The stream keeps a pointer to dec: free the stream first. peer is copied. */
struct s4f_ipfix_stream;
struct s4f_ipfix_stream *s4f_ipfix_stream_new(struct s4f_decoder *dec,
                                              const struct sockaddr_storage *peer);
/* Feeds received bytes (any split). Returns S4F_OK, or S4F_ERR when the framing is broken
 * (version not 10, length < 16): the caller must close the connection; later feeds return
 * S4F_ERR too. Errors inside a well-framed message are counted but do not close the stream. */
enum s4f_status s4f_ipfix_stream_feed(struct s4f_ipfix_stream *st, const uint8_t *buf, size_t len,
                                      int64_t now_ms, s4f_record_cb cb, void *ctx);
/* Bytes buffered waiting for the rest of a message (0 at a message boundary). */
size_t s4f_ipfix_stream_pending(const struct s4f_ipfix_stream *st);
/* NULL-safe. Frees the stream's templates and removes it from the exporter list. */
void s4f_ipfix_stream_free(struct s4f_ipfix_stream *st);

/* Writes n bytes of text as a JSON string (quotes included) at p: trailing NULs removed,
 * control characters escaped, invalid UTF-8 replaced by U+FFFD. Needs 6 * n + 2 bytes of room.
 * Returns the end. (The decoder's own string writer, shared with the collector's enrichment.) */
char *s4f_json_string(char *p, const uint8_t *s, size_t n);

#endif
