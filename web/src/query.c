#include "query.h"

#include "s4f.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const protocols[] = {"tcp", "udp", "icmp", "icmpv6", "other"};
static const char *const proto_fields[] = {"flows", "packets", "bytes"};
static const char *const host_fields[] = {"flows_out",  "flows_in",  "packets_out",
                                          "packets_in", "bytes_out", "bytes_in"};
static const char *const host_geo_fields[] = {"host_country", "host_as", "host_as_org"};
static const char *const tcp_flags[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
const char *const s4f_web_host_orders[] = {"flows_out", "flows_in", "packets_out", "packets_in",
                                           "bytes_out", "bytes_in", NULL};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void s4f_web_index(const char *prefix, const char *type, char *buf, size_t len)
{
    snprintf(buf, len, "%s-%s-*", prefix, type);
}

/* rule_*: every declarative rule's results (docs/rules.md), whatever their names. */
const char *const s4f_web_detection_types[] = {
    "portscan_horizontal",
    "portscan_vertical",
    "detection.reflectdos",
    "ssh_auth_simple",
    "detection.ddos",
    "pattern_finder",
    "rule_*",
    NULL,
};

const char *s4f_web_detection_type(const char *v, char *buf, size_t len)
{
    for (size_t i = 0; s4f_web_detection_types[i]; i++) {
        const char *t = s4f_web_detection_types[i];
        size_t n = strlen(t);
        if (strcmp(t, v) == 0)
            return t;
        /* "rule_*": any type with that prefix and a name of a-z 0-9 _ after it. */
        if (n > 1 && t[n - 1] == '*' && strncmp(t, v, n - 1) == 0 && v[n - 1] && strlen(v) < len &&
            strlen(v) <= 64) {
            const char *p = v + n - 1;
            while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
                p++;
            if (*p)
                return NULL;
            memcpy(buf, v, strlen(v) + 1);
            return buf;
        }
    }
    return NULL;
}

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
    /* Documents with a source or a victim (detection.ddos names only its victim, dst_ip). */
    json_t *filter =
        json_pack("[o, {s:{s:[{s:{s:s}}, {s:{s:s}}], s:i}}]", range_filter(r->from_ms, r->to_ms),
                  "bool", "should", "exists", "field", "src_ip", "exists", "field", "dst_ip",
                  "minimum_should_match", 1);
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
    /* The collector's GeoIP fields (one value per host; absent without enrichment). */
    for (size_t k = 0; k < N(host_geo_fields); k++)
        json_object_set_new(
            sub, host_geo_fields[k],
            json_pack("{s:{s:s, s:i}}", "terms", "field", host_geo_fields[k], "size", 1));
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
        /* country, as, as_org: the first bucket's key, or null. */
        static const char *const out_names[] = {"country", "as", "as_org"};
        for (size_t k = 0; k < N(host_geo_fields); k++) {
            json_t *first = json_array_get(buckets(json_object_get(b, host_geo_fields[k])), 0);
            json_t *key = json_object_get(first, "key");
            json_object_set(o, out_names[k],
                            (json_is_string(key) || json_is_integer(key)) ? key : json_null());
        }
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

json_t *s4f_web_q_topn(const struct s4f_web_range *r, const char *host)
{
    return json_pack("{s:i, s:[{s:{s:s}}], s:{s:{s:[o, {s:{s:s}}]}}}", "size", 1, "sort",
                     "@timestamp", "order", "desc", "query", "bool", "filter",
                     range_filter(r->from_ms, r->to_ms), "term", "src_ip", host);
}

/* {"0": {...}, "1": {...}} into [{...}, {...}] in rank order; entries that are not objects,
 * or ranks past a gap, are left out. */
static json_t *ranked(const json_t *obj)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < 100; i++) {
        char rank[8];
        snprintf(rank, sizeof(rank), "%d", i);
        json_t *e = json_object_get(obj, rank);
        if (!json_is_object(e))
            break;
        json_array_append(arr, e);
    }
    return arr;
}

json_t *s4f_web_shape_topn(const json_t *es, const char *host)
{
    const json_t *hit = json_array_get(json_object_get(json_object_get(es, "hits"), "hits"), 0);
    const json_t *src = json_object_get(hit, "_source");
    json_t *out = json_pack("{s:s}", "host", host);
    if (!out)
        return NULL;
    static const char *const lists[] = {"top_n_dst_ports", "top_n_dst_hosts", "top_n_http_dst"};
    const json_t *stats = json_object_get(src, "stats");
    for (size_t i = 0; i < 3; i++)
        json_object_set_new(out, lists[i],
                            src ? ranked(json_object_get(stats, lists[i])) : json_null());
    json_t *ws = json_object_get(src, "window_start"), *we = json_object_get(src, "window_end");
    json_object_set(out, "window_start", json_is_string(ws) ? ws : json_null());
    json_object_set(out, "window_end", json_is_string(we) ? we : json_null());
    return out;
}

json_t *s4f_web_q_tls(const struct s4f_web_range *r, int64_t top)
{
    json_t *items = terms_by_sum("data_array.key", (int)top, "data_array.value", NULL);
    json_t *st =
        json_pack("{s:{s:s, s:i}, s:{s:{s:{s:s}, s:{s:o}}}}", "terms", "field", "@stat_type",
                  "size", 3, "aggs", "items", "nested", "path", "data_array", "aggs", "k", items);
    return json_pack("{s:i, s:{s:{s:[o]}}, s:{s:o}}", "size", 0, "query", "bool", "filter",
                     range_filter(r->from_ms, r->to_ms), "aggs", "st", st);
}

json_t *s4f_web_shape_tls(const json_t *es, const struct s4f_web_range *r)
{
    char a[32], b[32];
    json_t *out = json_pack("{s:s, s:s}", "from", iso(r->from_ms, a, sizeof(a)), "to",
                            iso(r->to_ms, b, sizeof(b)));
    if (!out)
        return NULL;
    json_t *stats = json_pack("{s:[], s:[], s:[]}", "os", "browser", "application");
    size_t i, j;
    json_t *sb, *kb;
    json_array_foreach(buckets(agg(es, "st")), i, sb)
    {
        json_t *arr = json_object_get(stats, json_string_value(json_object_get(sb, "key")));
        if (!arr)
            continue; /* not a stat type of ours */
        json_array_foreach(buckets(json_object_get(json_object_get(sb, "items"), "k")), j, kb)
            json_array_append_new(arr, json_pack("{s:O, s:I}", "key", json_object_get(kb, "key"),
                                                 "value", sum_v(kb)));
    }
    json_object_set_new(out, "stats", stats);
    return out;
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

/* ---- Extent: the span of time that holds results, per type ---- */

void s4f_web_extent_indices(const char *prefix, char *buf, size_t len)
{
    static const char *const types[] = {S4F_WEB_T_PROTOCOLS, S4F_WEB_T_HOSTS,    S4F_WEB_T_PROFILE,
                                        S4F_WEB_T_DNS,       S4F_WEB_T_OPEN_DNS, S4F_WEB_T_EXT_DNS};
    size_t w = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < N(types) && w < len; i++) {
        int n = snprintf(buf + w, len - w, "%s%s-%s-*", i ? "," : "", prefix, types[i]);
        if (n < 0)
            return;
        w += (size_t)n;
    }
    char det[512];
    s4f_web_detection_indices(prefix, det, sizeof(det));
    if (w < len)
        snprintf(buf + w, len - w, ",%s", det);
}

json_t *s4f_web_q_extent(void)
{
    return json_pack("{s:i, s:b, s:{s:{s:{s:s, s:i}, s:{s:{s:{s:s}}, s:{s:{s:s}}}}}}", "size", 0,
                     "track_total_hits", 0, "aggs", "types", "terms", "field", "@type", "size", 64,
                     "aggs", "first", "min", "field", "@timestamp", "last", "max", "field",
                     "@timestamp");
}

/* An aggregation's numeric value as epoch ms; -1 when absent (min/max of no documents). */
static int64_t agg_ms(const json_t *b, const char *name)
{
    const json_t *v = json_object_get(json_object_get(b, name), "value");
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < 0 || d > 4e13)
        return -1;
    return (int64_t)d;
}

json_t *s4f_web_shape_extent(const json_t *es, int64_t now_ms)
{
    json_t *types = json_object();
    int64_t from = -1, to = -1;
    char a[32], b[32];
    const json_t *bs = buckets(agg(es, "types"));
    size_t i;
    const json_t *bk;
    json_array_foreach(bs, i, bk)
    {
        const char *name = json_string_value(json_object_get(bk, "key"));
        int64_t f = agg_ms(bk, "first"), t = agg_ms(bk, "last");
        if (!name || f < 0 || t < 0 || strnlen(name, 65) > 64)
            continue;
        json_object_set_new(types, name,
                            json_pack("{s:s, s:s, s:I, s:I, s:I}", "from", iso(f, a, sizeof(a)),
                                      "to", iso(t, b, sizeof(b)), "from_ms", (json_int_t)f, "to_ms",
                                      (json_int_t)t, "documents",
                                      json_integer_value(json_object_get(bk, "doc_count"))));
        if (from < 0 || f < from)
            from = f;
        if (t > to)
            to = t;
    }
    json_t *out = json_pack("{s:o, s:I}", "types", types, "now_ms", (json_int_t)now_ms);
    if (!out)
        return NULL;
    json_object_set_new(out, "from", from < 0 ? json_null() : json_string(iso(from, a, sizeof(a))));
    json_object_set_new(out, "to", to < 0 ? json_null() : json_string(iso(to, b, sizeof(b))));
    json_object_set_new(out, "from_ms", from < 0 ? json_null() : json_integer(from));
    json_object_set_new(out, "to_ms", to < 0 ? json_null() : json_integer(to));
    return out;
}

/* ---- One detection ---- */

json_t *s4f_web_q_detection(const char *id)
{
    return json_pack("{s:i, s:b, s:{s:{s:s}}}", "size", 1, "track_total_hits", 0, "query", "term",
                     "id", id);
}

#define DET_CONTEXT_MS  (24LL * 3600 * 1000)
#define DET_CONTEXT_MAX 300

json_t *s4f_web_q_detection_context(const char *field, const char *ip, int64_t at_ms)
{
    return json_pack("{s:i, s:b, s:[{s:{s:s}}], s:{s:{s:[o, {s:{s:s}}]}}}", "size", DET_CONTEXT_MAX,
                     "track_total_hits", 0, "sort", "@timestamp", "order", "desc", "query", "bool",
                     "filter", range_filter(at_ms - DET_CONTEXT_MS, at_ms + DET_CONTEXT_MS), "term",
                     field, ip);
}

static int parse_ts(const char *ts, int64_t *ms)
{
    char err[128];
    return s4f_web_parse_time("@timestamp", ts, ms, err, sizeof(err));
}

static const json_t *first_source(const json_t *es)
{
    const json_t *h = json_array_get(json_object_get(json_object_get(es, "hits"), "hits"), 0);
    const json_t *src = json_object_get(h, "_source");
    return json_is_object(src) ? src : NULL;
}

int s4f_web_detection_key(const json_t *es, char *ip, size_t len, const char **field,
                          int64_t *at_ms)
{
    const json_t *d = first_source(es);
    *field = json_object_get(d, "src_ip") ? "src_ip" : "dst_ip";
    const char *a = json_string_value(json_object_get(d, *field));
    const char *ts = json_string_value(json_object_get(d, "@timestamp"));
    if (!a || !ts || strlen(a) >= len || parse_ts(ts, at_ms) != 0)
        return -1;
    s4f_strlcpy(ip, a, len);
    return 0;
}

/* Same detection key: type and target (dst_ip or dst_port). */
static int same_key(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"@type", "dst_ip", "dst_port"};
    for (size_t i = 0; i < N(keys); i++)
        if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])) &&
            (json_object_get(a, keys[i]) || json_object_get(b, keys[i])))
            return 0;
    return 1;
}

/* Percent-encodes s into buf (RFC 3986 unreserved characters stay). */
static void pct(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            buf[o++] = (char)c;
        else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o] = '\0';
}

json_t *s4f_web_shape_detection(const json_t *es, const json_t *es_context, const char *kibana_url)
{
    const json_t *d = first_source(es);
    if (!d)
        return NULL;
    json_t *windows = json_array(), *others = json_array();
    const json_t *hits = json_object_get(json_object_get(es_context, "hits"), "hits");
    for (size_t i = json_array_size(hits); i-- > 0;) { /* oldest first */
        const json_t *s = json_object_get(json_array_get(hits, i), "_source");
        const char *ts = json_string_value(json_object_get(s, "@timestamp"));
        int64_t t;
        if (!json_is_object(s) || !ts || parse_ts(ts, &t) != 0)
            continue;
        if (same_key(d, s))
            json_array_append_new(windows,
                                  json_pack("{s:I, s:s?, s:O?, s:O?}", "t", (json_int_t)t, "id",
                                            json_string_value(json_object_get(s, "id")), "flows",
                                            json_object_get(s, "flows"), "targets_total",
                                            json_object_get(s, "targets_total")));
        else if (json_array_size(others) < 50)
            json_array_insert(others, 0, (json_t *)s);
    }
    json_t *kibana = json_null();
    const char *id = json_string_value(json_object_get(d, "id"));
    const char *ts = json_string_value(json_object_get(d, "@timestamp"));
    int64_t at;
    if (kibana_url && id && ts && parse_ts(ts, &at) == 0) {
        char q[512], from[32], to[32], url[1200], g[160];
        char idq[300];
        snprintf(idq, sizeof(idq), "id:\"%s\"", id);
        pct(idq, q, sizeof(q));
        snprintf(g, sizeof(g), "(time:(from:'%s',to:'%s'))", iso(at - 3600000, from, sizeof(from)),
                 iso(at + 3600000, to, sizeof(to)));
        char ge[320];
        pct(g, ge, sizeof(ge));
        size_t bl = strlen(kibana_url);
        while (bl > 0 && kibana_url[bl - 1] == '/')
            bl--;
        snprintf(url, sizeof(url),
                 "%.*s/app/discover#/?_g=%s&_a=(query:(language:kuery,query:'%s'))", (int)bl,
                 kibana_url, ge, q);
        kibana = json_string(url);
    }
    return json_pack("{s:O, s:o, s:o, s:o}", "detection", d, "windows", windows, "others", others,
                     "kibana", kibana ? kibana : json_null());
}

/* ---- Host map ---- */

int s4f_web_hostmap_layout(const char *cidr, struct s4f_web_hostmap *m, char *err, size_t errlen)
{
    char a[S4F_WEB_ADDR_MAX];
    const char *slash = strchr(cidr, '/');
    size_t al = slash ? (size_t)(slash - cidr) : strlen(cidr);
    struct in_addr in;
    memset(m, 0, sizeof(*m));
    if (al >= sizeof(a)) {
        snprintf(err, errlen, "parameter 'net': not a network");
        return -1;
    }
    memcpy(a, cidr, al);
    a[al] = '\0';
    if (inet_pton(AF_INET, a, &in) != 1) {
        snprintf(err, errlen, "parameter 'net': the host map draws IPv4 networks only");
        return -1;
    }
    m->prefix = slash ? atoi(slash + 1) : 32;
    if (m->prefix < 8 || m->prefix > 32) {
        snprintf(err, errlen, "parameter 'net': the host map draws /8 to /32 networks");
        return -1;
    }
    m->base = ntohl(in.s_addr) & (m->prefix ? ~0u << (32 - m->prefix) : 0);
    m->per_host = m->prefix >= 20;
    m->cell_bits = m->per_host ? 0 : m->prefix >= 16 ? 8 : 16;
    if (m->per_host) { /* one cell per address: rows by third octet, columns by fourth; a /24
                        * or smaller wraps at 16 columns, so it is a square, not a strip */
        uint32_t n = 1u << (32 - m->prefix);
        m->cells = n;
        m->cols = n <= 256 ? (n < 16 ? n : 16) : 256;
        m->rows = n / m->cols;
    } else { /* one cell per /24 (a /16 to /19) or per /16 (a /8 to /15): 16 columns */
        m->cells = 1u << (32 - m->cell_bits - m->prefix);
        m->cols = m->cells < 16 ? m->cells : 16;
        m->rows = m->cells / m->cols;
    }
    snprintf(m->net, sizeof(m->net), "%u.%u.%u.%u/%d", m->base >> 24, (m->base >> 16) & 255,
             (m->base >> 8) & 255, m->base & 255, m->prefix);
    return 0;
}

/* The cells' buckets of an ip field: per address (terms) or per /24 (ip_range masks). */
static json_t *cell_agg(const struct s4f_web_hostmap *m, const char *field, json_t *subaggs)
{
    json_t *a;
    if (m->per_host)
        a = json_pack("{s:{s:s, s:I}}", "terms", "field", field, "size", (json_int_t)m->cells);
    else {
        json_t *ranges = json_array();
        for (uint32_t i = 0; i < m->cells; i++) {
            uint32_t b = m->base + (i << m->cell_bits);
            char mask[32];
            snprintf(mask, sizeof(mask), "%u.%u.%u.0/%d", b >> 24, (b >> 16) & 255, (b >> 8) & 255,
                     32 - m->cell_bits);
            json_array_append_new(ranges, json_pack("{s:s}", "mask", mask));
        }
        a = json_pack("{s:{s:s, s:o}}", "ip_range", "field", field, "ranges", ranges);
    }
    if (a && subaggs)
        json_object_set_new(a, "aggs", subaggs);
    else
        json_decref(subaggs);
    return a;
}

json_t *s4f_web_q_hostmap(const struct s4f_web_range *r, const struct s4f_web_hostmap *m)
{
    return json_pack("{s:i, s:b, s:{s:{s:[o, {s:{s:s}}]}}, s:{s:o}}", "size", 0, "track_total_hits",
                     0, "query", "bool", "filter", range_filter(r->from_ms, r->to_ms), "term",
                     "host", m->net, "aggs", "cells",
                     cell_agg(m, "host", sums(host_fields, N(host_fields))));
}

json_t *s4f_web_q_hostmap_detections(const struct s4f_web_range *r, const struct s4f_web_hostmap *m)
{
    /* Each side filtered to the network first, so that busy outside addresses cannot take
     * the terms' places. */
    return json_pack("{s:i, s:b, s:{s:{s:[o], s:[{s:{s:s}}, {s:{s:s}}], s:i}}, "
                     "s:{s:{s:{s:{s:s}}, s:{s:o}}, s:{s:{s:{s:s}}, s:{s:o}}}}",
                     "size", 0, "track_total_hits", 0, "query", "bool", "filter",
                     range_filter(r->from_ms, r->to_ms), "should", "term", "src_ip", m->net, "term",
                     "dst_ip", m->net, "minimum_should_match", 1, "aggs", "src", "filter", "term",
                     "src_ip", m->net, "aggs", "c", cell_agg(m, "src_ip", NULL), "dst", "filter",
                     "term", "dst_ip", m->net, "aggs", "c", cell_agg(m, "dst_ip", NULL));
}

/* The cell index of a bucket key ("10.0.0.5" or "10.0.1.0/24"); -1 outside the map. */
static long cell_of(const struct s4f_web_hostmap *m, const char *key)
{
    char a[S4F_WEB_ADDR_MAX];
    struct in_addr in;
    if (!key)
        return -1;
    s4f_strlcpy(a, key, sizeof(a));
    char *slash = strchr(a, '/');
    if (slash)
        *slash = '\0';
    if (inet_pton(AF_INET, a, &in) != 1)
        return -1;
    uint32_t v = ntohl(in.s_addr);
    if (m->prefix < 32 && (v & (~0u << (32 - m->prefix))) != m->base)
        return -1;
    if (m->prefix == 32 && v != m->base)
        return -1;
    long i = (long)((v - m->base) >> m->cell_bits);
    return i >= 0 && (uint32_t)i < m->cells ? i : -1;
}

json_t *s4f_web_shape_hostmap(const json_t *es, const json_t *es_det,
                              const struct s4f_web_hostmap *m)
{
    double *flows = calloc(m->cells, sizeof(double)), *bytes = calloc(m->cells, sizeof(double)),
           *dets = calloc(m->cells, sizeof(double));
    json_t *cells = json_array(), *out = NULL;
    if (!flows || !bytes || !dets || !cells)
        goto done;
    size_t i;
    const json_t *b;
    json_array_foreach(buckets(agg(es, "cells")), i, b)
    {
        long c = cell_of(m, json_string_value(json_object_get(b, "key")));
        if (c < 0)
            continue;
        flows[c] += (double)(agg_int(b, "flows_out") + agg_int(b, "flows_in"));
        bytes[c] += (double)(agg_int(b, "bytes_out") + agg_int(b, "bytes_in"));
    }
    for (int side = 0; side < 2; side++)
        json_array_foreach(buckets(json_object_get(agg(es_det, side ? "dst" : "src"), "c")), i, b)
        {
            long c = cell_of(m, json_string_value(json_object_get(b, "key")));
            if (c >= 0)
                dets[c] += (double)json_integer_value(json_object_get(b, "doc_count"));
        }
    for (uint32_t c = 0; c < m->cells; c++) {
        if (!flows[c] && !bytes[c] && !dets[c])
            continue;
        uint32_t v = m->base + (c << m->cell_bits);
        char key[40];
        if (m->per_host)
            snprintf(key, sizeof(key), "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                     v & 255);
        else
            snprintf(key, sizeof(key), "%u.%u.%u.0/%d", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                     32 - m->cell_bits);
        json_array_append_new(cells, json_pack("{s:s, s:I, s:I, s:f, s:f, s:f}", "key", key, "row",
                                               (json_int_t)(c / m->cols), "col",
                                               (json_int_t)(c % m->cols), "flows", flows[c],
                                               "bytes", bytes[c], "detections", dets[c]));
    }
    json_t *labels = json_array();
    for (uint32_t r = 0; r < m->rows; r++) {
        uint32_t v = m->base + ((r * m->cols) << m->cell_bits);
        char l[40];
        if (m->per_host && m->cols < 256)
            snprintf(l, sizeof(l), "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                     v & 255);
        else if (m->per_host)
            snprintf(l, sizeof(l), "%u.%u.%u.", v >> 24, (v >> 16) & 255, (v >> 8) & 255);
        else if (m->cell_bits == 8)
            snprintf(l, sizeof(l), "%u.%u.%u-%u.", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                     ((v >> 8) & 255) + m->cols - 1);
        else
            snprintf(l, sizeof(l), "%u.%u-%u.", v >> 24, (v >> 16) & 255,
                     ((v >> 16) & 255) + m->cols - 1);
        json_array_append_new(labels, json_string(l));
    }
    out = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:O}", "net", m->net, "cell",
                    m->per_host         ? "address"
                    : m->cell_bits == 8 ? "/24"
                                        : "/16",
                    "rows", (json_int_t)m->rows, "cols", (json_int_t)m->cols, "first",
                    (json_int_t)(m->per_host ? m->base & 255 : 0), "row_labels", labels, "cells",
                    cells);
done:
    free(flows);
    free(bytes);
    free(dets);
    json_decref(cells);
    return out;
}
