#include "query.h"

#include "s4f.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const protocols[] = {"tcp", "udp", "icmp", "icmpv6", "other"};
static const char *const proto_fields[] = {"flows", "packets", "bytes"};
static const char *const host_fields[] = {"flows_out",  "flows_in",  "packets_out",
                                          "packets_in", "bytes_out", "bytes_in"};
static const char *const tcp_flags[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
const char *const s4f_web_host_orders[] = {"flows_out", "flows_in", "packets_out", "packets_in",
                                           "bytes_out", "bytes_in", NULL};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void s4f_web_index(const char *prefix, const char *type, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%s-*", prefix, type);
}

/* rule_*: every declarative rule's results (docs/rules.md), whatever their names. */
const char *const s4f_web_detection_types[] = {"portscan_horizontal",
                                               "portscan_vertical",
                                               "detection.reflectdos",
                                               "pattern_finder",
                                               "rule_*",
                                               NULL};

void s4f_web_detection_indices(const char *prefix, char *buf, size_t len)
{
    size_t w = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; s4f_web_detection_types[i] && w < len; i++) {
        int n = snprintf(buf + w, len - w, "%s%s-%s-*", i ? "," : "", prefix,
                         s4f_web_detection_types[i]);
        if (n < 0)
            break;
        w += (size_t)n;
    }
}

void s4f_web_dns_indices(const char *prefix, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%s-*,%s-%s-*,%s-%s-*", prefix, S4F_WEB_T_DNS, prefix, S4F_WEB_T_OPEN_DNS,
             prefix, S4F_WEB_T_EXT_DNS);
}

static char *iso(int64_t ms, char *buf, size_t len)
{
    return s4f_iso8601_ms(ms, buf, len);
}

static json_t *range_filter(int64_t from, int64_t to)
{
    return json_pack("{s:{s:{s:I, s:I, s:s}}}", "range", "@timestamp", "gte", (json_int_t)from,
                     "lt", (json_int_t)to, "format", "epoch_millis");
}

static json_t *histogram(const struct s4f_web_range *r)
{
    char iv[32];
    snprintf(iv, sizeof(iv), "%lldms", (long long)r->interval_ms);
    return json_pack("{s:{s:s, s:s, s:i, s:{s:I, s:I}}}", "date_histogram", "field", "@timestamp",
                     "fixed_interval", iv, "min_doc_count", 0, "extended_bounds", "min",
                     (json_int_t)r->from_ms, "max", (json_int_t)(r->to_ms - 1));
}

static json_t *sum(const char *field)
{
    return json_pack("{s:{s:s}}", "sum", "field", field);
}

static json_t *sums(const char *const *fields, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, fields[i], sum(fields[i]));
    return o;
}

/* Reads an aggregation's "value" as an integer (sums come back as doubles). */
static json_int_t agg_int(const json_t *aggs, const char *name)
{
    double v = json_number_value(json_object_get(json_object_get(aggs, name), "value"));
    if (!isfinite(v))
        return 0;
    return (json_int_t)llround(v);
}

static const json_t *agg(const json_t *es, const char *name)
{
    return json_object_get(json_object_get(es, "aggregations"), name);
}

static json_t *buckets(const json_t *a)
{
    json_t *b = json_object_get(a, "buckets");
    return json_is_array(b) ? b : NULL;
}

json_t *s4f_web_q_protocols(const struct s4f_web_range *r, int64_t now_ms)
{
    json_t *per_proto = json_pack("{s:{s:s, s:i}, s:o}", "terms", "field", "protocol", "size", 16,
                                  "aggs", sums(proto_fields, N(proto_fields)));
    json_t *per_proto5 = json_deep_copy(per_proto);
    json_t *h = histogram(r);
    json_object_set_new(h, "aggs", json_pack("{s:o}", "p", per_proto));
    return json_pack(
        "{s:i, s:b, s:{s:{s:[o]}}, s:{s:o, s:{s:{s:s}}, s:{s:{}, s:{s:{s:o, s:{s:o}}}}}}", "size",
        0, "track_total_hits", 0, "query", "bool", "filter", range_filter(r->from_ms, r->to_ms),
        "aggs", "t", h, "last", "max", "field", "@timestamp", "recent", "global", "aggs", "f",
        "filter", range_filter(now_ms - 5 * 60 * 1000, now_ms + 1), "aggs", "p", per_proto5);
}

static int proto_index(const char *name)
{
    for (size_t i = 0; i < N(protocols); i++)
        if (strcmp(name, protocols[i]) == 0)
            return (int)i;
    return N(protocols) - 1; /* unknown names count as "other" */
}

json_t *s4f_web_shape_protocols(const json_t *es, const struct s4f_web_range *r)
{
    char a[32], b[32];
    json_t *out = json_pack("{s:s, s:s, s:I}", "from", iso(r->from_ms, a, sizeof(a)), "to",
                            iso(r->to_ms, b, sizeof(b)), "interval_ms", (json_int_t)r->interval_ms);
    json_t *t = json_array(), *series = json_object(), *totals = json_object();
    if (!out || !t || !series || !totals) {
        json_decref(t);
        json_decref(series);
        json_decref(totals);
        json_decref(out);
        return NULL;
    }
    json_object_set_new(out, "t", t);
    json_object_set_new(out, "series", series);
    json_object_set_new(out, "totals_5m", totals);
    json_t *cols[N(protocols)][N(proto_fields)];
    for (size_t p = 0; p < N(protocols); p++) {
        json_t *s = json_object();
        json_object_set_new(series, protocols[p], s);
        for (size_t f = 0; f < N(proto_fields); f++) {
            cols[p][f] = json_array();
            json_object_set_new(s, proto_fields[f], cols[p][f]);
        }
    }
    size_t i;
    json_t *bk;
    json_t *bs = buckets(agg(es, "t"));
    json_array_foreach(bs, i, bk)
    {
        /* Buckets outside the asked span come from alignment to the interval: keep them, the
         * chart clips. */
        json_array_append_new(t, json_integer(json_integer_value(json_object_get(bk, "key"))));
        json_int_t row[N(protocols)][N(proto_fields)];
        memset(row, 0, sizeof(row));
        size_t j;
        json_t *pb;
        json_array_foreach(buckets(json_object_get(bk, "p")), j, pb)
        {
            const char *name = json_string_value(json_object_get(pb, "key"));
            int p = proto_index(name ? name : "");
            for (size_t f = 0; f < N(proto_fields); f++)
                row[p][f] += agg_int(pb, proto_fields[f]);
        }
        for (size_t p = 0; p < N(protocols); p++)
            for (size_t f = 0; f < N(proto_fields); f++)
                json_array_append_new(cols[p][f], json_integer(row[p][f]));
    }
    json_int_t all[N(proto_fields)] = {0}, tot[N(protocols)][N(proto_fields)];
    memset(tot, 0, sizeof(tot));
    const json_t *recent = json_object_get(agg(es, "recent"), "f");
    json_array_foreach(buckets(json_object_get(recent, "p")), i, bk)
    {
        const char *name = json_string_value(json_object_get(bk, "key"));
        int p = proto_index(name ? name : "");
        for (size_t f = 0; f < N(proto_fields); f++)
            tot[p][f] += agg_int(bk, proto_fields[f]);
    }
    for (size_t p = 0; p < N(protocols); p++) {
        json_t *o = json_object();
        for (size_t f = 0; f < N(proto_fields); f++) {
            json_object_set_new(o, proto_fields[f], json_integer(tot[p][f]));
            all[f] += tot[p][f];
        }
        json_object_set_new(totals, protocols[p], o);
    }
    json_object_set_new(
        totals, "all",
        json_pack("{s:I, s:I, s:I}", "flows", all[0], "packets", all[1], "bytes", all[2]));
    const json_t *last = json_object_get(agg(es, "last"), "value");
    if (json_is_number(last)) {
        json_object_set_new(out, "last_window",
                            json_string(iso((int64_t)json_number_value(last), a, sizeof(a))));
    } else {
        json_object_set_new(out, "last_window", json_null());
    }
    return out;
}

static json_t *terms(const char *field, int size, json_t *subaggs)
{
    json_t *o = json_pack("{s:{s:s, s:i}}", "terms", "field", field, "size", size);
    if (o && subaggs)
        json_object_set_new(o, "aggs", subaggs);
    else
        json_decref(subaggs);
    return o;
}

json_t *s4f_web_q_detections(const struct s4f_web_range *r, const struct s4f_web_det_filter *f)
{
    json_t *filter = json_pack("[o, {s:{s:s}}]", range_filter(r->from_ms, r->to_ms), "exists",
                               "field", "src_ip");
    if (f->type)
        json_array_append_new(filter, json_pack("{s:{s:s}}", "term", "@type", f->type));
    if (f->address)
        json_array_append_new(filter, json_pack("{s:{s:[{s:{s:s}}, {s:{s:s}}], s:i}}", "bool",
                                                "should", "term", "src_ip", f->address, "term",
                                                "dst_ip", f->address, "minimum_should_match", 1));
    json_t *h = histogram(r);
    json_object_set_new(h, "aggs", json_pack("{s:o}", "ty", terms("@type", 20, NULL)));
    json_t *flows = json_pack("{s:o}", "flows", sum("flows"));
    json_t *flows2 = json_deep_copy(flows);
    return json_pack("{s:I, s:I, s:b, s:[{s:{s:s}}], s:{s:{s:o}}, s:{s:o, s:o, s:o, s:o, s:o}}",
                     "size", (json_int_t)f->size, "from", (json_int_t)f->offset, "track_total_hits",
                     1, "sort", "@timestamp", "order", "desc", "query", "bool", "filter", filter,
                     "aggs", "types", terms("@type", 50, NULL), "hist", h, "sources",
                     terms("src_ip", 10, flows), "victims", terms("dst_ip", 10, flows2), "ports",
                     terms("dst_port", 10, NULL));
}

static json_t *top_list(const json_t *a, const char *keyname, int with_flows)
{
    json_t *arr = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(buckets(a), i, b)
    {
        json_t *o = json_object();
        json_t *key = json_object_get(b, "key");
        json_object_set(o, keyname, key ? key : json_null());
        json_object_set_new(o, "detections",
                            json_integer(json_integer_value(json_object_get(b, "doc_count"))));
        if (with_flows)
            json_object_set_new(o, "flows", json_integer(agg_int(b, "flows")));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *s4f_web_shape_detections(const json_t *es, const struct s4f_web_range *r)
{
    char a[32], b[32];
    json_t *out = json_pack("{s:s, s:s, s:I}", "from", iso(r->from_ms, a, sizeof(a)), "to",
                            iso(r->to_ms, b, sizeof(b)), "interval_ms", (json_int_t)r->interval_ms);
    if (!out)
        return NULL;
    json_t *types = json_array();
    size_t i;
    json_t *bk;
    json_array_foreach(buckets(agg(es, "types")), i, bk)
        json_array_append_new(types, json_pack("{s:O, s:O}", "type", json_object_get(bk, "key"),
                                               "count", json_object_get(bk, "doc_count")));
    json_object_set_new(out, "types", types);
    /* Histogram: one column per type seen anywhere in the span. */
    json_t *t = json_array(), *series = json_object();
    json_t *hb = buckets(agg(es, "hist"));
    size_t nb = json_array_size(hb);
    json_array_foreach(types, i, bk)
    {
        json_t *col = json_array();
        for (size_t k = 0; k < nb; k++)
            json_array_append_new(col, json_integer(0));
        json_object_set_new(series, json_string_value(json_object_get(bk, "type")), col);
    }
    json_array_foreach(hb, i, bk)
    {
        json_array_append_new(t, json_integer(json_integer_value(json_object_get(bk, "key"))));
        size_t j;
        json_t *tb;
        json_array_foreach(buckets(json_object_get(bk, "ty")), j, tb)
        {
            const char *name = json_string_value(json_object_get(tb, "key"));
            json_t *col = name ? json_object_get(series, name) : NULL;
            if (col)
                json_array_set_new(
                    col, i, json_integer(json_integer_value(json_object_get(tb, "doc_count"))));
        }
    }
    json_object_set_new(out, "histogram", json_pack("{s:o, s:o}", "t", t, "series", series));
    json_object_set_new(out, "top_sources", top_list(agg(es, "sources"), "ip", 1));
    json_object_set_new(out, "top_victims", top_list(agg(es, "victims"), "ip", 1));
    json_object_set_new(out, "top_ports", top_list(agg(es, "ports"), "port", 0));
    const json_t *hits = json_object_get(es, "hits");
    json_object_set_new(
        out, "total",
        json_integer(json_integer_value(json_object_get(json_object_get(hits, "total"), "value"))));
    json_t *items = json_array();
    json_array_foreach(json_object_get(hits, "hits"), i, bk)
    {
        json_t *src = json_object_get(bk, "_source");
        if (!json_is_object(src))
            continue;
        json_t *item = json_deep_copy(src);
        if (!json_object_get(item, "id"))
            json_object_set(item, "id", json_object_get(bk, "_id"));
        json_array_append_new(items, item);
    }
    json_object_set_new(out, "items", items);
    return out;
}

static json_t *local_filter(const struct s4f_web_host_filter *f)
{
    json_t *should = json_array();
    for (size_t i = 0; i < f->n_local; i++)
        json_array_append_new(should, json_pack("{s:{s:s}}", "term", "host", f->local_nets[i]));
    return json_pack("{s:{s:o, s:i}}", "bool", "should", should, "minimum_should_match", 1);
}

json_t *s4f_web_q_hosts(const struct s4f_web_range *r, const struct s4f_web_host_filter *f)
{
    json_t *filter = json_pack("[o]", range_filter(r->from_ms, r->to_ms));
    if (f->net)
        json_array_append_new(filter, json_pack("{s:{s:s}}", "term", "host", f->net));
    if (f->n_local)
        json_array_append_new(filter, local_filter(f));
    json_t *sub = sums(host_fields, N(host_fields));
    json_object_set_new(sub, "last", json_pack("{s:{s:s}}", "max", "field", "@timestamp"));
    json_object_set_new(sub, "peers", json_pack("{s:{s:s}}", "max", "field", "peers_distinct"));
    json_t *t = json_pack("{s:{s:s, s:I, s:{s:s}}, s:o}", "terms", "field", "host", "size",
                          (json_int_t)f->size, "order", f->order, "desc", "aggs", sub);
    return json_pack("{s:i, s:b, s:{s:{s:o}}, s:{s:o, s:{s:{s:s}}}}", "size", 0, "track_total_hits",
                     0, "query", "bool", "filter", filter, "aggs", "hosts", t, "count",
                     "cardinality", "field", "host");
}

json_t *s4f_web_shape_hosts(const json_t *es)
{
    json_t *arr = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(buckets(agg(es, "hosts")), i, b)
    {
        char ts[32];
        json_t *o = json_pack("{s:O}", "host", json_object_get(b, "key"));
        for (size_t k = 0; k < N(host_fields); k++)
            json_object_set_new(o, host_fields[k], json_integer(agg_int(b, host_fields[k])));
        json_object_set_new(o, "peers_distinct_max", json_integer(agg_int(b, "peers")));
        json_object_set_new(o, "last_seen", json_string(iso(agg_int(b, "last"), ts, sizeof(ts))));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:o, s:I}", "hosts", arr, "distinct_hosts",
                     agg_int(es ? json_object_get(es, "aggregations") : NULL, "count"));
}

json_t *s4f_web_q_host(const struct s4f_web_range *r, const char *host)
{
    json_t *h = histogram(r);
    json_object_set_new(h, "aggs", sums(host_fields, N(host_fields)));
    json_t *aggs = json_pack("{s:o}", "t", h);
    for (size_t i = 0; i < N(tcp_flags); i++) {
        char field[32], name[16];
        snprintf(field, sizeof(field), "tcp_flags.%s", tcp_flags[i]);
        snprintf(name, sizeof(name), "flag_%s", tcp_flags[i]);
        json_object_set_new(aggs, name, sum(field));
    }
    for (size_t i = 0; i < N(host_fields); i++) {
        char name[32];
        snprintf(name, sizeof(name), "total_%s", host_fields[i]);
        json_object_set_new(aggs, name, sum(host_fields[i]));
    }
    json_object_set_new(aggs, "peers", json_pack("{s:{s:s}}", "max", "field", "peers_distinct"));
    json_object_set_new(aggs, "ports",
                        json_pack("{s:{s:s}}", "max", "field", "dst_ports_distinct"));
    json_object_set_new(aggs, "duration",
                        json_pack("{s:{s:s}}", "avg", "field", "avg_flow_duration_ms"));
    return json_pack("{s:i, s:b, s:[{s:{s:s}}], s:[s, s, s], s:{s:{s:[o, {s:{s:s}}]}}, s:o}",
                     "size", S4F_WEB_HOST_DOCS, "track_total_hits", 1, "sort", "@timestamp",
                     "order", "desc", "_source", "@timestamp", "top_ports", "top_peers", "query",
                     "bool", "filter", range_filter(r->from_ms, r->to_ms), "term", "host", host,
                     "aggs", aggs);
}

json_t *s4f_web_q_host_profile(const char *host)
{
    return json_pack("{s:i, s:[{s:{s:s}}], s:{s:{s:s}}}", "size", 1, "sort", "@timestamp", "order",
                     "desc", "query", "term", "host", host);
}

/* Adds flows of each key of a top list (objects {keyname, flows}) into acc {key: flows}. */
static void merge_top(json_t *acc, const json_t *list, const char *keyname)
{
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        json_t *k = json_object_get(it, keyname);
        char key[64];
        if (json_is_integer(k))
            snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(k));
        else if (json_is_string(k))
            s4f_strlcpy(key, json_string_value(k), sizeof(key));
        else
            continue;
        /* Bounded by S4F_WEB_HOST_DOCS documents times their list lengths. */
        if (json_object_size(acc) >= 5000 && !json_object_get(acc, key))
            continue;
        json_int_t f = json_integer_value(json_object_get(it, "flows"));
        json_t *cur = json_object_get(acc, key);
        json_object_set_new(acc, key, json_integer(json_integer_value(cur) + f));
    }
}

struct kv {
    const char *key;
    json_int_t flows;
};

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    if (x->flows != y->flows)
        return x->flows < y->flows ? 1 : -1;
    return strcmp(x->key, y->key);
}

static json_t *top_n(json_t *acc, const char *keyname, int numeric, size_t n)
{
    size_t cnt = json_object_size(acc), k = 0;
    struct kv *v = calloc(cnt ? cnt : 1, sizeof(*v));
    json_t *arr = json_array();
    const char *key;
    json_t *val;
    if (!v)
        return arr;
    json_object_foreach(acc, key, val)
    {
        v[k].key = key;
        v[k].flows = json_integer_value(val);
        k++;
    }
    qsort(v, k, sizeof(*v), kv_cmp);
    for (size_t i = 0; i < k && i < n; i++)
        json_array_append_new(arr, json_pack("{s:o, s:I}", keyname,
                                             numeric ? json_integer(strtoll(v[i].key, NULL, 10))
                                                     : json_string(v[i].key),
                                             "flows", v[i].flows));
    free(v);
    return arr;
}

json_t *s4f_web_shape_host(const json_t *es, const json_t *es_profile,
                           const struct s4f_web_range *r, const char *host)
{
    char a[32], b[32];
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:I}", "host", host, "from", iso(r->from_ms, a, sizeof(a)), "to",
                  iso(r->to_ms, b, sizeof(b)), "interval_ms", (json_int_t)r->interval_ms);
    if (!out)
        return NULL;
    const json_t *hits = json_object_get(es, "hits");
    json_int_t docs = json_integer_value(json_object_get(json_object_get(hits, "total"), "value"));
    json_object_set_new(out, "documents", json_integer(docs));
    json_t *t = json_array(), *series = json_object(), *cols[N(host_fields)];
    for (size_t k = 0; k < N(host_fields); k++) {
        cols[k] = json_array();
        json_object_set_new(series, host_fields[k], cols[k]);
    }
    size_t i;
    json_t *bk;
    json_array_foreach(buckets(agg(es, "t")), i, bk)
    {
        json_array_append_new(t, json_integer(json_integer_value(json_object_get(bk, "key"))));
        for (size_t k = 0; k < N(host_fields); k++)
            json_array_append_new(cols[k], json_integer(agg_int(bk, host_fields[k])));
    }
    json_object_set_new(out, "t", t);
    json_object_set_new(out, "series", series);
    const json_t *aggs = json_object_get(es, "aggregations");
    json_t *totals = json_object(), *flags = json_object();
    for (size_t k = 0; k < N(host_fields); k++) {
        char name[32];
        snprintf(name, sizeof(name), "total_%s", host_fields[k]);
        json_object_set_new(totals, host_fields[k], json_integer(agg_int(aggs, name)));
    }
    for (size_t k = 0; k < N(tcp_flags); k++) {
        char name[16];
        snprintf(name, sizeof(name), "flag_%s", tcp_flags[k]);
        json_object_set_new(flags, tcp_flags[k], json_integer(agg_int(aggs, name)));
    }
    json_object_set_new(out, "totals", totals);
    json_object_set_new(out, "tcp_flags", flags);
    json_object_set_new(out, "peers_distinct_max", json_integer(agg_int(aggs, "peers")));
    json_object_set_new(out, "dst_ports_distinct_max", json_integer(agg_int(aggs, "ports")));
    json_object_set_new(out, "avg_flow_duration_ms", json_integer(agg_int(aggs, "duration")));
    json_t *ports = json_object(), *peers = json_object();
    json_array_foreach(json_object_get(hits, "hits"), i, bk)
    {
        const json_t *src = json_object_get(bk, "_source");
        merge_top(ports, json_object_get(src, "top_ports"), "port");
        merge_top(peers, json_object_get(src, "top_peers"), "ip");
    }
    json_object_set_new(out, "top_ports", top_n(ports, "port", 1, 10));
    json_object_set_new(out, "top_peers", top_n(peers, "ip", 0, 10));
    json_object_set_new(out, "top_from_documents",
                        json_integer((json_int_t)json_array_size(json_object_get(hits, "hits"))));
    json_decref(ports);
    json_decref(peers);
    json_t *ph = json_array_get(json_object_get(json_object_get(es_profile, "hits"), "hits"), 0);
    const json_t *psrc = json_object_get(ph, "_source");
    if (json_is_object(psrc) && json_is_array(json_object_get(psrc, "hours"))) {
        json_t *hours = json_array();
        json_array_foreach(json_object_get(psrc, "hours"), i, bk)
        {
            if (i >= 48)
                break;
            json_array_append_new(
                hours,
                json_pack("{s:O?, s:I, s:I, s:I}", "hour_start", json_object_get(bk, "hour_start"),
                          "flows", json_integer_value(json_object_get(bk, "flows")), "packets",
                          json_integer_value(json_object_get(bk, "packets")), "bytes",
                          json_integer_value(json_object_get(bk, "bytes"))));
        }
        json_object_set_new(out, "profile",
                            json_pack("{s:O?, s:o}", "updated", json_object_get(psrc, "@timestamp"),
                                      "hours", hours));
    } else {
        json_object_set_new(out, "profile", json_null());
    }
    return out;
}

/* ---- DNS page ----------------------------------------------------------------------------- */

/* terms ordered by the sum of `field` (sub-aggregation "v"). */
static json_t *terms_by_sum(const char *key, int size, const char *field, json_t *more)
{
    json_t *sub = json_pack("{s:o}", "v", sum(field));
    if (more)
        json_object_update(sub, more), json_decref(more);
    json_t *t = terms(key, size, sub);
    json_object_set_new(json_object_get(t, "terms"), "order", json_pack("{s:s}", "v", "desc"));
    return t;
}

json_t *s4f_web_q_dns(const struct s4f_web_range *r, int64_t top)
{
    int n = (int)top;
    json_t *items = terms_by_sum("data_array.key", n, "data_array.value",
                                 json_pack("{s:o}", "ip", terms("data_array.ip", 1, NULL)));
    json_t *stats = json_pack(
        "{s:{s:{s:s}}, s:{s:{s:{s:s}, s:{s:o}}}}", "filter", "term", "@type", S4F_WEB_T_DNS, "aggs",
        "st", "terms", "field", "@stat_type", "aggs", "items",
        json_pack("{s:{s:s}, s:{s:o}}", "nested", "path", "data_array", "aggs", "k", items));
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(stats, "aggs"), "st"), "terms"), "size",
        json_integer(10));
    json_t *open = json_pack(
        "{s:{s:{s:s}}, s:{s:o}}", "filter", "term", "@type", S4F_WEB_T_OPEN_DNS, "aggs", "r",
        terms_by_sum(
            "resolver_ip", n, "flows",
            json_pack("{s:o}", "q",
                      terms_by_sum("resolved_query", 5, "flows",
                                   json_pack("{s:o}", "d", terms("resolved_data", 1, NULL))))));
    json_t *ext = json_pack(
        "{s:{s:{s:s}}, s:{s:o}}", "filter", "term", "@type", S4F_WEB_T_EXT_DNS, "aggs", "c",
        terms_by_sum("src_ip", n, "flows",
                     json_pack("{s:o}", "r", terms_by_sum("resolver_ip", 5, "flows", NULL))));
    return json_pack("{s:i, s:{s:{s:[o]}}, s:{s:o, s:o, s:o}}", "size", 0, "query", "bool",
                     "filter", range_filter(r->from_ms, r->to_ms), "aggs", "stats", stats, "open",
                     open, "ext", ext);
}

static json_int_t sum_v(const json_t *b)
{
    return agg_int(b, "v");
}

json_t *s4f_web_shape_dns(const json_t *es, const struct s4f_web_range *r)
{
    char a[32], b[32];
    json_t *out = json_pack("{s:s, s:s}", "from", iso(r->from_ms, a, sizeof(a)), "to",
                            iso(r->to_ms, b, sizeof(b)));
    if (!out)
        return NULL;
    json_t *stats = json_object();
    size_t i, j, k;
    json_t *sb, *kb, *qb;
    const json_t *st = json_object_get(agg(es, "stats"), "st");
    json_array_foreach(buckets(st), i, sb)
    {
        const char *name = json_string_value(json_object_get(sb, "key"));
        if (!name)
            continue;
        json_t *arr = json_array();
        json_array_foreach(buckets(json_object_get(json_object_get(sb, "items"), "k")), j, kb)
        {
            json_t *o =
                json_pack("{s:O, s:I}", "key", json_object_get(kb, "key"), "value", sum_v(kb));
            json_t *ipb = json_array_get(buckets(json_object_get(kb, "ip")), 0);
            if (ipb)
                json_object_set(o, "ip", json_object_get(ipb, "key"));
            json_array_append_new(arr, o);
        }
        json_object_set_new(stats, name, arr);
    }
    json_object_set_new(out, "stats", stats);
    json_t *open = json_array();
    json_array_foreach(buckets(json_object_get(agg(es, "open"), "r")), i, sb)
    {
        json_array_foreach(buckets(json_object_get(sb, "q")), k, qb)
        {
            json_t *db = json_array_get(buckets(json_object_get(qb, "d")), 0);
            json_array_append_new(
                open, json_pack("{s:O, s:O, s:O, s:I}", "resolver_ip", json_object_get(sb, "key"),
                                "resolved_query", json_object_get(qb, "key"), "resolved_data",
                                db ? json_object_get(db, "key") : json_null(), "flows", sum_v(qb)));
        }
    }
    json_object_set_new(out, "open_resolvers", open);
    json_t *ext = json_array();
    json_array_foreach(buckets(json_object_get(agg(es, "ext"), "c")), i, sb)
    {
        json_array_foreach(buckets(json_object_get(sb, "r")), k, qb) json_array_append_new(
            ext, json_pack("{s:O, s:O, s:I}", "src_ip", json_object_get(sb, "key"), "resolver_ip",
                           json_object_get(qb, "key"), "flows", sum_v(qb)));
    }
    json_object_set_new(out, "external_resolvers", ext);
    return out;
}
