/* The dashboard's fixed Elasticsearch queries, and the shaping of their answers into the API's
 * JSON.
 *
 * Every query is a jansson object assembled here from already validated values (params.h);
 * user text is only ever a JSON string value inside it, never part of a query string, a script
 * or an index name. Index expressions come from the configured prefix and fixed type names.
 *
 * Answers are columnar where they feed charts ("t": [epoch ms...], one array per series), which
 * is what uPlot draws without conversion and keeps answers small.
 *
 * All functions are pure: they return new references (caller decrefs) or NULL when out of
 * memory, and read the Elasticsearch answer without keeping references into it. */
#ifndef S4F_WEB_QUERY_H
#define S4F_WEB_QUERY_H

#include "params.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Result types the dashboard reads by name. */
#define S4F_WEB_T_PROTOCOLS "protocols_statistics"
#define S4F_WEB_T_HOSTS     "host_stats"
#define S4F_WEB_T_PROFILE   "host_stats_temporal_profile"
/* The DNS page's types (not detections, though external_dns_resolver has a src_ip). */
#define S4F_WEB_T_DNS      "dns_statistics"
#define S4F_WEB_T_OPEN_DNS "open_dns_resolver"
#define S4F_WEB_T_EXT_DNS  "external_dns_resolver"

/* The detection types (NULL-terminated): an analysis that emits a new one adds it here. Only
 * their indices are queried, never "<prefix>-*": an index of another type, whatever its mapping
 * (src_ip as keyword), must not make the Detections query fail for everyone (issue 13). */
extern const char *const s4f_web_detection_types[];

/* "<prefix>-<type>-*" into buf. */
void s4f_web_index(const char *prefix, const char *type, char *buf, size_t len);
/* Every detection index: "<prefix>-<type>-*" for each detection type, comma-separated. */
/* The detection type v names (an entry of s4f_web_detection_types, or a name its "rule_*"
 * entry covers, copied into buf), or NULL: the one check of a type a client sends. */
const char *s4f_web_detection_type(const char *v, char *buf, size_t len);
void s4f_web_detection_indices(const char *prefix, char *buf, size_t len);

/* Overview: flows, packets and bytes per protocol per interval, totals of the last 5 minutes
 * before now_ms, and the newest window end. */
json_t *s4f_web_q_protocols(const struct s4f_web_range *r, int64_t now_ms);
json_t *s4f_web_shape_protocols(const json_t *es, const struct s4f_web_range *r);

struct s4f_web_det_filter {
    const char *type;    /* NULL: every detection type */
    const char *address; /* canonical address or CIDR matching src_ip or dst_ip; NULL: any */
    int64_t size, offset;
};
json_t *s4f_web_q_detections(const struct s4f_web_range *r, const struct s4f_web_det_filter *f);
json_t *s4f_web_shape_detections(const json_t *es, const struct s4f_web_range *r);

/* The DNS page, one search over the three DNS indices ("<prefix>-dns_statistics-*,..."):
 * per dns_statistics stat type the top `top` keys by summed value (queried_by_ip: with the
 * top address of each), open resolvers and external resolvers by summed flows. */
void s4f_web_dns_indices(const char *prefix, char *buf, size_t len);
json_t *s4f_web_q_dns(const struct s4f_web_range *r, int64_t top);
json_t *s4f_web_shape_dns(const json_t *es, const struct s4f_web_range *r);

/* The TLS classification page, one search over "<prefix>-tls_classification-*": per stat type
 * (os, browser, application) the top `top` keys by summed value. */
#define S4F_WEB_T_TLS "tls_classification"
json_t *s4f_web_q_tls(const struct s4f_web_range *r, int64_t top);
json_t *s4f_web_shape_tls(const json_t *es, const struct s4f_web_range *r);

/* A host's top-N lists (top_n_host_stats): its newest document in the range. The shape has
 * the window and each list as an array in rank order (the documents key entries by rank),
 * null lists when the host has no document. */
#define S4F_WEB_T_TOPN "top_n_host_stats"
json_t *s4f_web_q_topn(const struct s4f_web_range *r, const char *host);
json_t *s4f_web_shape_topn(const json_t *es, const char *host);

/* Sort keys accepted by /api/hosts. */
extern const char *const s4f_web_host_orders[];
struct s4f_web_host_filter {
    const char *net;               /* canonical CIDR/address or NULL */
    const char *const *local_nets; /* configured local networks (canonical), may be empty */
    size_t n_local;
    const char *order; /* one of s4f_web_host_orders */
    int64_t size;
};
json_t *s4f_web_q_hosts(const struct s4f_web_range *r, const struct s4f_web_host_filter *f);
json_t *s4f_web_shape_hosts(const json_t *es);

/* One host's profile: series in and out, TCP flags, distinct counts and the newest documents'
 * top lists (merged here, bounded by S4F_WEB_HOST_DOCS). */
#define S4F_WEB_HOST_DOCS 60
json_t *s4f_web_q_host(const struct s4f_web_range *r, const char *host);
/* The newest temporal profile of host. */
json_t *s4f_web_q_host_profile(const char *host);
json_t *s4f_web_shape_host(const json_t *es, const json_t *es_profile,
                           const struct s4f_web_range *r, const char *host);

/* One detection by its result id (the `id` field, also the document's _id), then the same
 * source's detections within a day either side of it (field "src_ip"; for a detection that
 * names only its victim, detection.ddos, the victim's: field "dst_ip"). */
json_t *s4f_web_q_detection(const char *id);
json_t *s4f_web_q_detection_context(const char *field, const char *ip, int64_t at_ms);
/* {"detection": {...}, "windows": [same type and target, oldest first: "t","flows",
 *  "targets_total"], "others": [the source's other detections, newest first], "kibana": URL
 *  or null}. NULL when es holds no hit (the caller answers 404). kibana_url may be NULL. */
json_t *s4f_web_shape_detection(const json_t *es, const json_t *es_context, const char *kibana_url);
/* The address (its src_ip, else its dst_ip; *field names which) and time of a detection hit,
 * for the second query; -1 without them. */
int s4f_web_detection_key(const json_t *es, char *ip, size_t len, const char **field,
                          int64_t *at_ms);

/* The host map of an IPv4 network (/16 to /32) from host_stats: one cell per address (rows by
 * third octet, columns by fourth, at most 16 x 256) for /20 to /23, the same wrapped at 16
 * columns for /24 and longer, one cell per /24 (16 columns) for /16 to /19, one cell per /16
 * (16 columns) for /8 to /15. */
struct s4f_web_hostmap {
    char net[24]; /* canonical "a.b.c.d/n" */
    uint32_t base;
    int prefix;
    bool per_host;
    int cell_bits; /* 0 (one address per cell), 8 (a /24) or 16 (a /16) */
    uint32_t cells, rows, cols;
};
int s4f_web_hostmap_layout(const char *cidr, struct s4f_web_hostmap *m, char *err, size_t errlen);
/* Flows and bytes (in + out) per cell over host_stats of the range. */
json_t *s4f_web_q_hostmap(const struct s4f_web_range *r, const struct s4f_web_hostmap *m);
/* Detections per cell, as source or target, over the detection indices. */
json_t *s4f_web_q_hostmap_detections(const struct s4f_web_range *r,
                                     const struct s4f_web_hostmap *m);
/* {"net","cell":"address"|"/24"|"/16","rows","cols","first","row_labels":[...],
 *  "cells":[{"key","row","col","flows","bytes","detections"}] (non-empty cells only)} */
json_t *s4f_web_shape_hostmap(const json_t *es, const json_t *es_det,
                              const struct s4f_web_hostmap *m);

/* The span of time holding results ("<prefix>-<type>-*" of every type the dashboard reads):
 * per @type the oldest and newest @timestamp, and over all of them. */
void s4f_web_extent_indices(const char *prefix, char *buf, size_t len);
json_t *s4f_web_q_extent(void);
/* {"from","to","from_ms","to_ms" (null without data), "now_ms",
 *  "types": {type: {"from","to","from_ms","to_ms","documents"}}} */
json_t *s4f_web_shape_extent(const json_t *es, int64_t now_ms);

#endif
