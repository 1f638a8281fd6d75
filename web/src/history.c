#include "history.h"

#include "components.h"
#include "log.h"
#include "query.h"
#include "s4f.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPS 5

enum kind { K_UNKNOWN, K_COLLECTOR, K_WORKER, K_SINK };
static const char *const kind_names[] = {"unknown", "collector", "worker", "sink"};
/* Counter sums per sample, by kind: what comes in, what goes out. */
static const char *const in_names[] = {NULL, "s4f_collector_datagrams_total",
                                       "s4f_worker_kafka_consumed_total",
                                       "s4f_sink_kafka_consumed_total"};
static const char *const out_names[] = {NULL, "s4f_collector_records_total",
                                        "s4f_worker_results_total", "s4f_sink_docs_indexed_total"};
static const char *const in_units[] = {"", "datagrams", "records", "results"};
static const char *const out_units[] = {"", "records", "results", "documents"};

struct sample {
    int64_t t;
    bool up;
    double in, out, lag, delivered, produced, consumed;
};

struct comp {
    char name[32];
    enum kind kind;
    struct sample ring[S4F_WEB_HISTORY_SAMPLES];
    size_t head, count;  /* ring[(head + i) % N] for i < count, oldest first */
    struct sample carry; /* last known values, for sums over components while one is down */
    json_t *last;        /* newest answering reading's metrics */
    int64_t last_t, last_up_t;
    /* Full readings at least 30 s apart, for rates by reason over about a minute. */
    json_t *snap[SNAPS];
    int64_t snap_t[SNAPS];
    bool up;
    char health[16];
    char reason[208];
    char url[256];
};

/* Kafka and Elasticsearch are stages too; their samples are sums over the components. */
struct s4f_web_history {
    pthread_mutex_t mu;
    struct comp *c;
    size_t n;
    struct sample kafka[S4F_WEB_HISTORY_SAMPLES], es[S4F_WEB_HISTORY_SAMPLES];
    size_t khead, kcount;
    char es_error[256];
    int64_t es_t, es_ok_t;

    struct s4f_web_app *app;
    pthread_t thread;
    bool started, stop;
    pthread_mutex_t smu;
    pthread_cond_t cv;
};

struct s4f_web_history *s4f_web_history_new(const char *const *names, size_t n)
{
    struct s4f_web_history *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->c = calloc(n ? n : 1, sizeof(*h->c));
    if (!h->c) {
        free(h);
        return NULL;
    }
    h->n = n;
    for (size_t i = 0; i < n; i++) {
        s4f_strlcpy(h->c[i].name, names[i], sizeof(h->c[i].name));
        /* Until its metrics say otherwise, a component's kind is guessed from its name. */
        h->c[i].kind = strstr(names[i], "collector") ? K_COLLECTOR
                       : strstr(names[i], "sink")    ? K_SINK
                                                     : K_WORKER;
        s4f_strlcpy(h->c[i].health, "unknown", sizeof(h->c[i].health));
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->smu, NULL);
    pthread_cond_init(&h->cv, NULL);
    return h;
}

void s4f_web_history_free(struct s4f_web_history *h)
{
    if (!h)
        return;
    if (h->started) {
        pthread_mutex_lock(&h->smu);
        h->stop = true;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->smu);
        pthread_join(h->thread, NULL);
    }
    for (size_t i = 0; i < h->n; i++) {
        json_decref(h->c[i].last);
        for (size_t k = 0; k < SNAPS; k++)
            json_decref(h->c[i].snap[k]);
    }
    free(h->c);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->smu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

/* ---- Reading metrics ---- */

static double metric_sum(const json_t *metrics, const char *name)
{
    double s = 0;
    size_t i;
    const json_t *m;
    if (!name)
        return 0;
    json_array_foreach(metrics, i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        double v = json_number_value(json_object_get(m, "value"));
        if (n && strcmp(n, name) == 0 && isfinite(v))
            s += v;
    }
    return s;
}

static double metric_value(const json_t *metrics, const char *name, const char *labels, bool *found)
{
    size_t i;
    const json_t *m;
    *found = false;
    json_array_foreach(metrics, i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        const char *l = json_string_value(json_object_get(m, "labels"));
        if (n && l && strcmp(n, name) == 0 && strcmp(l, labels) == 0) {
            *found = true;
            return json_number_value(json_object_get(m, "value"));
        }
    }
    return 0;
}

/* Sum of the series named s4f_<any daemon>_<suffix>. */
static double suffix_sum(const json_t *metrics, const char *suffix)
{
    double s = 0;
    size_t i, sl = strlen(suffix);
    const json_t *m;
    json_array_foreach(metrics, i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        double v = json_number_value(json_object_get(m, "value"));
        size_t nl = n ? strlen(n) : 0;
        if (nl > sl && strcmp(n + nl - sl, suffix) == 0 && n[nl - sl - 1] == '_' && isfinite(v))
            s += v;
    }
    return s;
}

static enum kind kind_of(const json_t *metrics)
{
    size_t i;
    const json_t *m;
    json_array_foreach(metrics, i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (!n)
            continue;
        for (int k = K_COLLECTOR; k <= K_SINK; k++) {
            char p[32];
            snprintf(p, sizeof(p), "s4f_%s_", kind_names[k]);
            if (strncmp(n, p, strlen(p)) == 0)
                return (enum kind)k;
        }
    }
    return K_UNKNOWN;
}

static struct sample *ring_at(struct sample *ring, size_t head, size_t i)
{
    return &ring[(head + i) % S4F_WEB_HISTORY_SAMPLES];
}

static void ring_push(struct sample *ring, size_t *head, size_t *count, const struct sample *s)
{
    if (*count < S4F_WEB_HISTORY_SAMPLES)
        ring[(*head + (*count)++) % S4F_WEB_HISTORY_SAMPLES] = *s;
    else {
        ring[*head] = *s;
        *head = (*head + 1) % S4F_WEB_HISTORY_SAMPLES;
    }
}

void s4f_web_history_add(struct s4f_web_history *h, const json_t *components, const char *es_error,
                         int64_t now_ms)
{
    const json_t *list = json_object_get(components, "components");
    struct sample k = {.t = now_ms}, e = {.t = now_ms, .up = es_error == NULL};
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n; i++) {
        struct comp *c = &h->c[i];
        const json_t *o = NULL, *x;
        size_t j;
        json_array_foreach(list, j, x)
        {
            const char *n = json_string_value(json_object_get(x, "name"));
            if (n && strcmp(n, c->name) == 0)
                o = x;
        }
        struct sample s = {.t = now_ms};
        c->up = o && json_is_true(json_object_get(o, "up"));
        const char *health = o ? json_string_value(json_object_get(o, "health")) : NULL;
        const char *reason = o ? json_string_value(json_object_get(o, "reason")) : NULL;
        const char *url = o ? json_string_value(json_object_get(o, "url")) : NULL;
        s4f_strlcpy(c->health, health ? health : "unreachable", sizeof(c->health));
        s4f_strlcpy(c->reason, reason ? reason : "", sizeof(c->reason));
        if (url)
            s4f_strlcpy(c->url, url, sizeof(c->url));
        if (c->up) {
            json_t *m = json_object_get(o, "metrics");
            enum kind kd = kind_of(m);
            if (kd != K_UNKNOWN)
                c->kind = kd;
            s.up = true;
            s.in = metric_sum(m, in_names[c->kind]);
            s.out = metric_sum(m, out_names[c->kind]);
            s.lag = suffix_sum(m, "kafka_consumer_lag_messages");
            s.delivered = suffix_sum(m, "kafka_delivered_total");
            s.produced = suffix_sum(m, "kafka_produced_total");
            s.consumed = suffix_sum(m, "kafka_consumed_total");
            c->carry = s;
            c->last_up_t = now_ms;
            if (!c->snap[SNAPS - 1] || now_ms - c->snap_t[SNAPS - 1] >= 30000) {
                json_decref(c->snap[0]);
                memmove(c->snap, c->snap + 1, (SNAPS - 1) * sizeof(c->snap[0]));
                memmove(c->snap_t, c->snap_t + 1, (SNAPS - 1) * sizeof(c->snap_t[0]));
                c->snap[SNAPS - 1] = json_incref(m);
                c->snap_t[SNAPS - 1] = now_ms;
            }
            json_decref(c->last);
            c->last = json_incref(m);
            c->last_t = now_ms;
        }
        ring_push(c->ring, &c->head, &c->count, &s);
        k.delivered += c->carry.delivered;
        k.produced += c->carry.produced;
        k.consumed += c->carry.consumed;
        if (c->kind == K_SINK)
            e.in += c->carry.out;
    }
    /* Kafka is known only through its clients: without any reporting Kafka counters yet, its
     * rates are unknown, not zero. */
    k.up = k.delivered > 0 || k.produced > 0 || k.consumed > 0;
    k.in = k.delivered;
    k.out = k.consumed;
    size_t eh = h->khead, ec = h->kcount;
    ring_push(h->kafka, &h->khead, &h->kcount, &k);
    ring_push(h->es, &eh, &ec, &e);
    s4f_strlcpy(h->es_error, es_error ? es_error : "", sizeof(h->es_error));
    h->es_t = now_ms;
    if (!es_error)
        h->es_ok_t = now_ms;
    pthread_mutex_unlock(&h->mu);
}

/* ---- The picture ---- */

static double delta(double a, double b)
{
    return b >= a ? b - a : 0; /* a restarted component's counters begin again */
}

/* Rate per second of field between the newest sample and the one about span_ms older. Returns
 * NAN without two answering samples at least 4 s apart. */
static double recent_rate(struct sample *ring, size_t head, size_t count, size_t off,
                          int64_t span_ms)
{
    if (count < 2)
        return NAN;
    const struct sample *b = ring_at(ring, head, count - 1);
    if (!b->up)
        return NAN;
    const struct sample *a = NULL;
    for (size_t i = count - 1; i-- > 0;) {
        const struct sample *s = ring_at(ring, head, i);
        if (!s->up)
            break;
        a = s;
        if (b->t - s->t >= span_ms)
            break;
    }
    if (!a || b->t - a->t < 4000)
        return NAN;
    double va = *(const double *)((const char *)a + off),
           vb = *(const double *)((const char *)b + off);
    return delta(va, vb) * 1000.0 / (double)(b->t - a->t);
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(round(v * 100) / 100) : json_null();
}

/* {"t":[...], "in":[...], "out":[...], "lag":[...]} at most S4F_WEB_HISTORY_POINTS points. */
static json_t *series(struct sample *ring, size_t head, size_t count)
{
    json_t *t = json_array(), *in = json_array(), *out = json_array(), *lag = json_array();
    size_t g = count > 1 ? (count - 1 + S4F_WEB_HISTORY_POINTS - 1) / S4F_WEB_HISTORY_POINTS : 1;
    for (size_t i = 0; i + g < count; i += g) {
        const struct sample *a = ring_at(ring, head, i), *b = ring_at(ring, head, i + g);
        double dt = (double)(b->t - a->t) / 1000.0;
        bool ok = a->up && b->up && dt > 0;
        json_array_append_new(t, json_integer(b->t));
        json_array_append_new(in, num_or_null(ok ? delta(a->in, b->in) / dt : NAN));
        json_array_append_new(out, num_or_null(ok ? delta(a->out, b->out) / dt : NAN));
        json_array_append_new(lag, b->up ? json_real(b->lag) : json_null());
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "t", t, "in", in, "out", out, "lag", lag);
}

static bool is_error_metric(const char *name, const char *labels)
{
    static const char *const words[] = {"error",     "drop",    "reject",    "refused",
                                        "failed",    "lost",    "malformed", "deadletter",
                                        "truncated", "evicted", "nomem",     NULL};
    size_t l = strlen(name);
    if (l < 7 || strcmp(name + l - 6, "_total") != 0)
        return false;
    if (strstr(name, "bulk_requests_total"))
        return strstr(labels, "result=\"ok\"") == NULL;
    for (size_t i = 0; words[i]; i++)
        if (strstr(name, words[i]))
            return true;
    return false;
}

/* "decode errors (reason missing_template, exporter 192.0.2.7)" from a series. */
static void words_of(const char *name, const char *labels, char *buf, size_t len)
{
    const char *p = name; /* without s4f_<daemon>_ */
    if (strncmp(p, "s4f_", 4) == 0 && strchr(p + 4, '_'))
        p = strchr(p + 4, '_') + 1;
    char w[128];
    s4f_strlcpy(w, p, sizeof(w));
    size_t wl = strlen(w);
    if (wl > 6 && strcmp(w + wl - 6, "_total") == 0)
        w[wl - 6] = '\0';
    for (char *q = w; *q; q++)
        if (*q == '_')
            *q = ' ';
    char l[160];
    size_t o = 0;
    for (const char *q = labels; *q && o + 2 < sizeof(l); q++) {
        if (*q == '"')
            continue;
        if (*q == '=')
            l[o++] = ' ';
        else if (*q == ',') {
            l[o++] = ',';
            l[o++] = ' ';
        } else
            l[o++] = *q;
    }
    l[o] = '\0';
    if (o)
        snprintf(buf, len, "%s (%s)", w, l);
    else
        snprintf(buf, len, "%s", w);
}

static void add_problem(json_t *problems, json_t *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_problem(json_t *problems, json_t *stage, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_pack("{s:s, s:s}", "stage",
                                              json_string_value(json_object_get(stage, "name")),
                                              "text", msg));
    json_array_append_new(json_object_get(stage, "problems"), json_string(msg));
}

static void ago(int64_t ms, char *buf, size_t len)
{
    if (ms < 120000)
        snprintf(buf, len, "%lld s", (long long)(ms / 1000));
    else if (ms < 2 * 3600000)
        snprintf(buf, len, "%lld min", (long long)(ms / 60000));
    else
        snprintf(buf, len, "%lld h", (long long)(ms / 3600000));
}

static json_t *stage_new(const char *name, const char *kind, const char *label)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:[], s:[]}", "name", name, "kind", kind, "label",
                     label, "problems", "lags", "errors");
}

static void comp_stage(struct comp *c, json_t *stages, json_t *problems, int64_t now)
{
    char label[64], t[32];
    if (c->kind == K_WORKER)
        snprintf(label, sizeof(label), "worker %s", c->name);
    else
        s4f_strlcpy(label, c->name, sizeof(label));
    json_t *st = stage_new(c->name, kind_names[c->kind], label);
    double in = recent_rate(c->ring, c->head, c->count, offsetof(struct sample, in), 60000);
    double out = recent_rate(c->ring, c->head, c->count, offsetof(struct sample, out), 60000);
    json_object_set_new(st, "up", json_boolean(c->up));
    json_object_set_new(st, "health", json_string(c->health));
    json_object_set_new(st, "reason", c->reason[0] ? json_string(c->reason) : json_null());
    json_object_set_new(st, "url", json_string(c->url));
    json_object_set_new(st, "in_rate", num_or_null(in));
    json_object_set_new(st, "out_rate", num_or_null(out));
    json_object_set_new(st, "in_unit", json_string(in_units[c->kind]));
    json_object_set_new(st, "out_unit", json_string(out_units[c->kind]));
    json_object_set_new(st, "last_seen",
                        c->last_up_t ? json_string(s4f_iso8601_ms(c->last_up_t, t, sizeof(t)))
                                     : json_null());
    json_object_set_new(st, "series", series(c->ring, c->head, c->count));
    const char *status = "ok";
    if (!c->up) {
        status = "down";
        if (c->last_up_t) {
            ago(now - c->last_up_t, t, sizeof(t));
            add_problem(problems, st, "%s is not running: no answer for %s", label, t);
        } else
            add_problem(problems, st,
                        "%s is not running: it has not answered since s4f-web started", label);
    } else if (strcmp(c->health, "degraded") == 0) {
        status = "degraded";
        add_problem(problems, st, "%s reports a problem: %s", label,
                    c->reason[0] ? c->reason : "(no reason given)");
    }
    if (c->up && c->last) {
        /* Lag per consumer group, and how far behind that is at the current input rate. */
        size_t i;
        const json_t *m;
        json_array_foreach(c->last, i, m)
        {
            const char *n = json_string_value(json_object_get(m, "name"));
            const char *l = json_string_value(json_object_get(m, "labels"));
            double v = json_number_value(json_object_get(m, "value"));
            size_t nl = n ? strlen(n) : 0;
            if (!n || !l || nl < 28 || strcmp(n + nl - 27, "kafka_consumer_lag_messages") != 0)
                continue;
            const char *g = strstr(l, "group=\"");
            char group[96] = "";
            if (g) {
                g += 7;
                size_t k = 0;
                while (g[k] && g[k] != '"' && k + 1 < sizeof(group)) {
                    group[k] = g[k];
                    k++;
                }
                group[k] = '\0';
            }
            double behind = v > 0 && isfinite(in) && in > 0 ? v / in : (v > 0 ? NAN : 0);
            json_array_append_new(json_object_get(st, "lags"),
                                  json_pack("{s:s, s:f, s:o}", "group", group, "messages", v,
                                            "behind_s", num_or_null(behind)));
            if (v > 0 && isfinite(behind) && behind >= 60) {
                ago((int64_t)(behind * 1000), t, sizeof(t));
                add_problem(problems, st, "%s is %s behind (%.0f messages waiting in group %s)",
                            c->name, t, v, group);
                status = "degraded";
            } else if (v > 0 && isfinite(in) && in == 0) {
                add_problem(problems, st, "%s is not consuming: %.0f messages waiting in group %s",
                            c->name, v, group);
                status = "degraded";
            }
        }
        /* Drops and errors by reason, only where non-zero, with their rate over about a minute:
         * since the newest full reading at least 60 s old, or the oldest kept. */
        const json_t *base = NULL;
        int64_t base_t = c->last_t;
        for (size_t q = 0; q < SNAPS; q++)
            if (c->snap[q] && (!base || c->last_t - c->snap_t[q] >= 60000)) {
                base = c->snap[q];
                base_t = c->snap_t[q];
            }
        double dt = (double)(c->last_t - base_t) / 1000.0;
        json_array_foreach(c->last, i, m)
        {
            const char *n = json_string_value(json_object_get(m, "name"));
            const char *l = json_string_value(json_object_get(m, "labels"));
            double v = json_number_value(json_object_get(m, "value"));
            if (!n || !l || !(v > 0) || !is_error_metric(n, l) ||
                json_array_size(json_object_get(st, "errors")) >= 50)
                continue;
            bool found;
            double b = metric_value(base, n, l, &found);
            double rate = dt >= 4 ? delta(found ? b : 0, v) / dt : NAN;
            char w[320];
            words_of(n, l, w, sizeof(w));
            json_array_append_new(json_object_get(st, "errors"),
                                  json_pack("{s:s, s:s, s:s, s:f, s:o}", "metric", n, "labels", l,
                                            "words", w, "total", v, "rate", num_or_null(rate)));
            if (isfinite(rate) && rate >= 0.05) {
                add_problem(problems, st, "%s: %.3g/s %s", label, rate, w);
                if (strcmp(status, "ok") == 0)
                    status = "degraded";
            }
        }
        if (c->kind == K_SINK) {
            bool found;
            double up = metric_value(c->last, "s4f_sink_elasticsearch_up", "", &found);
            if (found && up < 1) {
                add_problem(problems, st,
                            "the sink cannot reach Elasticsearch: results are not being stored");
                status = "degraded";
            }
        }
        /* Nothing coming in for 2 minutes into the collector. */
        if (c->kind == K_COLLECTOR && c->count >= 2) {
            double in2 =
                recent_rate(c->ring, c->head, c->count, offsetof(struct sample, in), 120000);
            const struct sample *a = ring_at(c->ring, c->head, 0);
            if (isfinite(in2) && in2 == 0 && now - a->t >= 120000) {
                add_problem(problems, st,
                            "the collector has received nothing for 2 minutes: are the exporters "
                            "sending to it?");
                if (strcmp(status, "ok") == 0)
                    status = "idle";
            }
        }
    }
    json_object_set_new(st, "status", json_string(status));
    json_array_append_new(stages, st);
}

json_t *s4f_web_history_pipeline(struct s4f_web_history *h, int64_t now_ms)
{
    json_t *stages = json_array(), *problems = json_array();
    char t[32];
    if (!stages || !problems) {
        json_decref(stages);
        json_decref(problems);
        return NULL;
    }
    pthread_mutex_lock(&h->mu);
    /* In pipeline order: collector, Kafka, analyses, sink, Elasticsearch. */
    for (size_t i = 0; i < h->n; i++)
        if (h->c[i].kind == K_COLLECTOR)
            comp_stage(&h->c[i], stages, problems, now_ms);

    json_t *k = stage_new("kafka", "kafka", "Kafka");
    double kin =
        recent_rate(h->kafka, h->khead, h->kcount, offsetof(struct sample, delivered), 60000);
    double kprod =
        recent_rate(h->kafka, h->khead, h->kcount, offsetof(struct sample, produced), 60000);
    double kout =
        recent_rate(h->kafka, h->khead, h->kcount, offsetof(struct sample, consumed), 60000);
    json_object_set_new(k, "up", json_true());
    json_object_set_new(k, "in_rate", num_or_null(kin));
    json_object_set_new(k, "out_rate", num_or_null(kout));
    json_object_set_new(k, "in_unit", json_string("messages acknowledged"));
    json_object_set_new(k, "out_unit", json_string("messages consumed"));
    json_object_set_new(k, "series", series(h->kafka, h->khead, h->kcount));
    const char *kst = isfinite(kin) || isfinite(kout) ? "ok" : "unknown";
    if (isfinite(kprod) && kprod > 0 && isfinite(kin) && kin == 0) {
        kst = "degraded";
        add_problem(problems, k,
                    "Kafka acknowledges nothing: %.3g messages/s are produced and none delivered "
                    "(brokers down or unreachable?)",
                    kprod);
    }
    json_object_set_new(k, "status", json_string(kst));
    json_array_append_new(stages, k);

    for (size_t i = 0; i < h->n; i++)
        if (h->c[i].kind == K_WORKER || h->c[i].kind == K_UNKNOWN)
            comp_stage(&h->c[i], stages, problems, now_ms);
    for (size_t i = 0; i < h->n; i++)
        if (h->c[i].kind == K_SINK)
            comp_stage(&h->c[i], stages, problems, now_ms);

    json_t *e = stage_new("elasticsearch", "elasticsearch", "Elasticsearch");
    bool es_known = h->es_t != 0, es_ok = es_known && !h->es_error[0];
    json_object_set_new(e, "up", json_boolean(es_ok));
    json_object_set_new(
        e, "in_rate",
        num_or_null(recent_rate(h->es, h->khead, h->kcount, offsetof(struct sample, in), 60000)));
    json_object_set_new(e, "out_rate", json_null());
    json_object_set_new(e, "in_unit", json_string("documents stored"));
    json_object_set_new(e, "out_unit", json_string(""));
    json_object_set_new(e, "series", series(h->es, h->khead, h->kcount));
    json_object_set_new(e, "last_seen",
                        h->es_ok_t ? json_string(s4f_iso8601_ms(h->es_ok_t, t, sizeof(t)))
                                   : json_null());
    json_object_set_new(e, "status", json_string(!es_known ? "unknown" : es_ok ? "ok" : "down"));
    if (es_known && !es_ok)
        add_problem(problems, e, "Elasticsearch does not answer the dashboard: %s", h->es_error);
    json_array_append_new(stages, e);
    size_t samples = h->kcount;
    pthread_mutex_unlock(&h->mu);
    return json_pack("{s:I, s:I, s:I, s:o, s:o}", "time_ms", (json_int_t)now_ms, "step_ms",
                     (json_int_t)S4F_WEB_HISTORY_STEP_MS, "samples", (json_int_t)samples, "stages",
                     stages, "problems", problems);
}

/* ---- The scrape thread ---- */

static void *scrape_main(void *arg)
{
    struct s4f_web_history *h = arg;
    char idx[256], err[256];
    s4f_web_index(h->app->es_conf->index_prefix, S4F_WEB_T_PROTOCOLS, idx, sizeof(idx));
    for (;;) {
        json_t *c = s4f_web_components_read(h->app);
        json_t *q = json_pack("{s:i, s:b}", "size", 0, "track_total_hits", 0), *res = NULL;
        enum s4f_status st =
            q ? s4f_web_es_search(h->app->es, idx, q, &res, err, sizeof(err)) : S4F_ERR;
        if (!q)
            snprintf(err, sizeof(err), "out of memory");
        if (c)
            s4f_web_history_add(h, c, st == S4F_OK ? NULL : err, s4f_wall_ms());
        json_decref(c);
        json_decref(q);
        json_decref(res);
        pthread_mutex_lock(&h->smu);
        if (!h->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += S4F_WEB_HISTORY_STEP_MS / 1000;
            pthread_cond_timedwait(&h->cv, &h->smu, &ts);
        }
        bool stop = h->stop;
        pthread_mutex_unlock(&h->smu);
        if (stop)
            break;
    }
    return NULL;
}

int s4f_web_history_start(struct s4f_web_history *h, struct s4f_web_app *app)
{
    h->app = app;
    if (pthread_create(&h->thread, NULL, scrape_main, h) != 0)
        return -1;
    h->started = true;
    return 0;
}
