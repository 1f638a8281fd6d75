#include "harness.h"

#include "config.h"
#include "metrics.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static enum s4f_status capture(void *ctx, const char *id, const char *doc, size_t len, void *win)
{
    struct th *t = ctx;
    if (t->answer != S4F_OK)
        return t->answer;
    json_error_t jerr;
    json_t *j = json_loadb(doc, len, 0, &jerr);
    if (!j)
        fail_msg("emitted document is not JSON: %s: %.*s", jerr.text, (int)len, doc);
    /* The common fields every result carries, checked once here for every test. */
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_non_null(json_string_value(json_object_get(j, "@type")));
    assert_string_equal(json_string_value(json_object_get(j, "@timestamp")),
                        json_string_value(json_object_get(j, "window_end")));
    assert_true(strlen(id) <= 200);
    if (t->ndocs == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->docs = realloc(t->docs, t->cap * sizeof(*t->docs));
        assert_non_null(t->docs);
    }
    t->docs[t->ndocs++] = (struct th_doc){strdup(id), j, win, false};
    return S4F_OK;
}

static enum s4f_status capture_changelog(void *ctx, int32_t partition, const void *key, size_t klen,
                                         const void *val, size_t vlen, void *win)
{
    struct th *t = ctx;
    if (t->answer != S4F_OK)
        return t->answer;
    if (t->nrecs == t->rcap) {
        t->rcap = t->rcap ? t->rcap * 2 : 64;
        t->recs = realloc(t->recs, t->rcap * sizeof(*t->recs));
        assert_non_null(t->recs);
    }
    struct th_rec *r = &t->recs[t->nrecs++];
    *r = (struct th_rec){
        partition, malloc(klen ? klen : 1), malloc(vlen ? vlen : 1), klen, vlen, win, false};
    assert_true(r->key && r->val);
    memcpy(r->key, key, klen);
    if (vlen) /* 0: a tombstone, val may be NULL */
        memcpy(r->val, val, vlen);
    return S4F_OK;
}

size_t th_restore(struct th *t, const struct th *from)
{
    size_t refused = 0;
    for (size_t i = 0; i < from->nrecs; i++) {
        const struct th_rec *r = &from->recs[i];
        void *ps = s4f_wengine_pstate(t->we, r->partition);
        assert_non_null(ps);
        if (!t->a->restore(t->inst, ps, r->key, r->klen, r->val, r->vlen))
            refused++;
    }
    return refused;
}

struct th *th_new(const struct s4f_analysis *a, const char *yaml)
{
    char err[1024];
    struct th *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->a = a;
    t->wall = TH_WALL;
    t->conf = calloc(1, a->conf_size);
    /* watermark_quorum 1 unless the test sets it: most tests move the watermark with one
     * record (test_window.c tests the quorum). */
    char *y = NULL;
    if (!strstr(yaml, "watermark_quorum")) {
        size_t n = strlen(yaml) + 32;
        y = malloc(n);
        assert_non_null(y);
        snprintf(y, n, "watermark_quorum: 1\n%s", yaml);
    }
    const char *text = y ? y : yaml;
    struct s4f_conf_doc *doc = s4f_conf_load_string(text, strlen(text), "test", err, sizeof(err));
    free(y);
    if (!doc)
        fail_msg("%s", err);
    if (s4f_conf_apply(doc, doc->root, "test", a->opts, t->conf, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    s4f_conf_doc_free(doc);
    t->metrics = s4f_metrics_new("t", 0);
    char labels[128];
    s4f_metrics_labels(labels, sizeof(labels), "analysis", a->name, NULL);
    struct s4f_analysis_ctx ctx = {a->name, t->metrics, labels};
    t->inst = a->init(t->conf, &ctx, err, sizeof(err));
    if (!t->inst)
        fail_msg("init: %s", err);
    struct s4f_wengine_opts o = {
        .analysis = a,
        .inst = t->inst,
        .common = t->conf,
        .metrics = t->metrics,
        .labels = labels,
        .emit = capture,
        .emit_changelog = capture_changelog,
        .ctx = t,
    };
    t->we = s4f_wengine_new(&o);
    assert_non_null(t->we);
    return t;
}

void th_free(struct th *t)
{
    if (!t)
        return;
    s4f_wengine_free(t->we);
    if (t->a->destroy)
        t->a->destroy(t->inst);
    s4f_conf_release(t->a->opts, t->conf);
    free(t->conf);
    for (size_t i = 0; i < t->ndocs; i++) {
        free(t->docs[i].id);
        json_decref(t->docs[i].doc);
    }
    free(t->docs);
    for (size_t i = 0; i < t->nrecs; i++) {
        free(t->recs[i].key);
        free(t->recs[i].val);
    }
    free(t->recs);
    s4f_metrics_free(t->metrics);
    free(t);
}

enum s4f_status th_flow(struct th *t, int32_t partition, int64_t offset, const struct s4f_flow *f)
{
    /* As the engine does once per batch. */
    s4f_wengine_clock(t->we, s4f_mono_ms() + t->mono_skew);
    return s4f_wengine_flow(t->we, partition, offset, f, t->wall, t->ts ? t->ts : t->wall);
}

void th_tick(struct th *t)
{
    s4f_wengine_tick(t->we, s4f_mono_ms() + t->mono_skew, t->wall);
}

void th_ack_all(struct th *t, bool ok)
{
    /* Index loop: a failed delivery may make the next tick append documents. */
    for (size_t i = 0; i < t->ndocs; i++)
        if (!t->docs[i].acked) {
            t->docs[i].acked = true;
            s4f_wengine_delivered(t->we, t->docs[i].win, ok);
        }
    for (size_t i = 0; i < t->nrecs; i++)
        if (!t->recs[i].acked) {
            t->recs[i].acked = true;
            s4f_wengine_delivered(t->we, t->recs[i].win, ok);
        }
}

json_t *th_doc(const struct th *t, const char *id)
{
    for (size_t i = t->ndocs; i-- > 0;)
        if (strcmp(t->docs[i].id, id) == 0)
            return t->docs[i].doc;
    return NULL;
}

size_t th_emits(const struct th *t, const char *id)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ndocs; i++)
        n += strcmp(t->docs[i].id, id) == 0;
    return n;
}

size_t th_count_type(const struct th *t, const char *type)
{
    size_t n = 0, tl = strlen(type);
    for (size_t i = 0; i < t->ndocs; i++) {
        if (strncmp(t->docs[i].id, type, tl) != 0 || t->docs[i].id[tl] != ':')
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(t->docs[j].id, t->docs[i].id) == 0;
        n += !seen;
    }
    return n;
}

int64_t th_metric(struct th *t, const char *name)
{
    char labels[128];
    s4f_metrics_labels(labels, sizeof(labels), "analysis", t->a->name, NULL);
    /* Returns the existing series (registration is idempotent). */
    return s4f_metric_get(s4f_metrics_counter(t->metrics, name, "", labels));
}

int64_t th_int(const json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer member", key);
    return (int64_t)json_integer_value(v);
}

const char *th_str(const json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));
    if (!s)
        fail_msg("%s is not a string member", key);
    return s;
}

struct s4f_flow th_mkflow(const char *src, const char *dst, uint8_t proto, uint16_t dport,
                          uint16_t flags, uint64_t packets, uint64_t bytes, int64_t end_ms)
{
    struct s4f_flow f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(s4f_addr_parse(src, strlen(src), &f.src), 0);
    assert_int_equal(s4f_addr_parse(dst, strlen(dst), &f.dst), 0);
    f.proto = proto;
    f.sport = 40000;
    f.dport = dport;
    f.tcp_flags = flags;
    f.packets = packets;
    f.bytes = bytes;
    f.end_ms = end_ms;
    f.start_ms = end_ms - 500;
    return f;
}

struct s4f_flow th_dnsflow(const char *src, const char *dst, uint16_t sport, uint16_t dport,
                           const char *name, bool response, uint8_t rcode, uint16_t qtype,
                           int64_t rel)
{
    struct s4f_flow f = th_mkflow(src, dst, 17, dport, 0, 1, 80, TH_T0 + rel);
    f.sport = sport;
    f.dns.flags = S4F_DNS_PRESENT | (response ? S4F_DNS_RESPONSE : 0);
    f.dns.rcode = rcode;
    f.dns.qtype = f.dns.crr_type = qtype;
    f.dns.name_len = f.dns.crr_name_len = (uint16_t)strlen(name);
    memcpy(f.dns.name, name, f.dns.name_len + 1u);
    memcpy(f.dns.crr_name, name, f.dns.name_len + 1u);
    return f;
}
