/* pattern_finder: the original's configurable detector (docs/pattern_finder.md). Each
 * configuration file (the original's format, read by pf_config.c) filters flows, turns each
 * flow (simple vectors) or each request/response pair of flows (biflow vectors) into a vector
 * of numbers, measures its quadratic-form distance to every pattern, and adds the weight of
 * the distance's interval to that pattern's distribution of the vector's key (simple vectors:
 * the configured key elements; biflows: the output fields, see biflow_key()). At window
 * close, a key whose distribution of some pattern has at least `limit` in its left (closer)
 * half and more left than right is reported: @type pattern_finder with every pattern's
 * distribution, the closest patterns (best first) and the confidence bands of the original
 * dashboard (left/right < 1.1 very low, < 1.25 low, < 2 medium, < 5 high, else very high).
 *
 * Biflows: a flow waits (per window, bounded by max_keys) for its reverse flow, the flow with
 * the swapped endpoints and a start less than time_difference away; the one with the higher
 * source port is the request. A pair whose halves fall into two windows is not formed. */
#include "analysis.h"
#include "htab.h"
#include "log.h"
#include "pf_config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pf_conf {
    struct s4f_analysis_common common;
    struct s4f_strlist configurations;
};

static const struct s4f_opt pf_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct pf_conf, "5m", "50000"),
    {"configurations", S4F_OPT_LIST, NULL, 0, 0, offsetof(struct pf_conf, configurations),
     "pattern_finder configuration files (the original's format, docs/pattern_finder.md); each "
     "runs as its own detector over the same flows, its results named by its configuration "
     "name. Their window must be this analysis's window",
     NULL},
    S4F_OPT_END,
};

/* Per key: the output fields of the first vector and the distributions of every pattern. */
struct kval {
    uint64_t vectors;
    char out[PF_MAX_OUTPUTS][48];
    double dist[PF_MAX_PATTERNS][PF_MAX_BINS];
};

/* A flow waiting for its reverse (biflow). */
struct pend {
    struct s4f_flow f;
    bool used;
};

struct cstate {
    struct s4f_htab keys; /* key text hash (16 bytes: two 64-bit hashes) -> kval + key text */
    struct s4f_htab pending;
};

struct pwin {
    struct cstate *c;
};

struct pf {
    const struct pf_conf *conf;
    struct pf_config **cfg;
    size_t n;
    struct s4f_metric *m_keys_dropped, *m_pending_dropped, *m_reported;
};

static void pf_destroy(void *inst)
{
    struct pf *p = inst;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        pf_config_free(p->cfg[i]);
    free(p->cfg);
    free(p);
}

static int load_all(const struct pf_conf *c, struct pf_config ***out, size_t *n, char *err,
                    size_t errlen)
{
    *n = 0;
    *out = calloc(c->configurations.n ? c->configurations.n : 1, sizeof(**out));
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->configurations.n; i++) {
        struct pf_config *cfg = pf_config_load(c->configurations.v[i], err, errlen);
        if (!cfg)
            return -1;
        (*out)[(*n)++] = cfg;
        if (cfg->window_ms != c->common.window_ms) {
            snprintf(err, errlen,
                     "%s: configuration.window %" PRId64 " s differs from the analysis's window "
                     "(%" PRId64 " s): set worker.analyses.pattern_finder.window to it",
                     c->configurations.v[i], cfg->window_ms / 1000, c->common.window_ms / 1000);
            return -1;
        }
    }
    return 0;
}

static int pf_check(const void *conf, char *err, size_t errlen)
{
    struct pf_config **cfg;
    size_t n;
    int rc = load_all(conf, &cfg, &n, err, errlen);
    for (size_t i = 0; i < n; i++)
        pf_config_free(cfg[i]);
    free(cfg);
    return rc;
}

static void *pf_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err, size_t errlen)
{
    struct pf *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->conf = conf;
    if (load_all(conf, &p->cfg, &p->n, err, errlen) != 0) {
        pf_destroy(p);
        return NULL;
    }
    if (p->n == 0)
        s4f_warn("pattern_finder: no configurations: nothing to detect");
    p->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    p->m_pending_dropped = s4f_metrics_counter(
        ctx->metrics, "pending_dropped_total",
        "Flows not kept to wait for their reverse flow because a window reached max_keys",
        ctx->labels);
    p->m_reported = s4f_metrics_counter(ctx->metrics, "patterns_reported_total",
                                        "pattern_finder results emitted", ctx->labels);
    return p;
}

#define KEY_TEXT 128

static void *pf_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct pf *p = inst;
    (void)start_ms;
    (void)end_ms;
    (void)slide_ms;
    struct pwin *w = calloc(1, sizeof(*w));
    if (!w || (p->n && !(w->c = calloc(p->n, sizeof(*w->c))))) {
        free(w);
        return NULL;
    }
    for (size_t i = 0; i < p->n; i++) {
        s4f_htab_init(&w->c[i].keys, KEY_TEXT, sizeof(struct kval),
                      (size_t)p->conf->common.max_keys);
        s4f_htab_init(&w->c[i].pending, 40, sizeof(struct pend), (size_t)p->conf->common.max_keys);
    }
    return w;
}

static void pf_window_free(void *inst, void *wstate)
{
    struct pf *p = inst;
    struct pwin *w = wstate;
    for (size_t i = 0; i < p->n; i++) {
        s4f_htab_release(&w->c[i].keys);
        s4f_htab_release(&w->c[i].pending);
    }
    free(w->c);
    free(w);
}

/* Adds one vector (request, and response for biflows) of key text k to the key's state. */
static void add_vector(struct pf *p, const struct pf_config *cfg, struct cstate *st, const char *k,
                       const struct s4f_flow *req, const struct s4f_flow *resp)
{
    char kb[KEY_TEXT];
    memset(kb, 0, sizeof(kb));
    snprintf(kb, sizeof(kb), "%s", k);
    bool created;
    struct kval *v = s4f_htab_insert(&st->keys, kb, s4f_hash_bytes(kb, sizeof(kb)), &created);
    if (!v) {
        s4f_metric_inc(p->m_keys_dropped);
        return;
    }
    if (created)
        for (size_t o = 0; o < cfg->noutputs; o++)
            pf_output_text(cfg, o, req, resp, v->out[o], sizeof(v->out[o]));
    v->vectors++;
    double a[PF_MAX_VALUES], b[PF_MAX_VALUES];
    pf_vector(cfg, req, a);
    if (resp)
        pf_vector(cfg, resp, b);
    for (size_t i = 0; i < cfg->npatterns; i++) {
        double d = pf_distance(cfg, i, a, resp ? b : NULL);
        const struct pf_dist *ds = &cfg->dists[i];
        int bin = pf_bin(ds, d);
        if (bin >= 0)
            v->dist[i][bin] += ds->weights[bin];
    }
}

/* Endpoints of f as sorted text ("port:ip" pairs joined by '-'), the original's biflow key. */
static void endpoints(const struct s4f_flow *f, char *out, size_t len)
{
    char a[64], b[64], sa[48], sb[48];
    s4f_addr_str(&f->src, sa, sizeof(sa));
    s4f_addr_str(&f->dst, sb, sizeof(sb));
    snprintf(a, sizeof(a), "%u:%s", (unsigned)f->sport, sa);
    snprintf(b, sizeof(b), "%u:%s", (unsigned)f->dport, sb);
    if (strcmp(a, b) <= 0)
        snprintf(out, len, "%s-%s", a, b);
    else
        snprintf(out, len, "%s-%s", b, a);
}

/* The key biflow vectors are summed by: the output fields (the request's source and
 * destination in both shipped configurations), so that the connections of one attacker to
 * one server add up; the original joined flows by their endpoints, and with a new client port
 * per connection a key made of them would rarely see a second vector. Without outputs, the
 * endpoints. */
static void biflow_key(const struct pf_config *cfg, const struct s4f_flow *req,
                       const struct s4f_flow *resp, char *out, size_t len)
{
    if (cfg->noutputs == 0) {
        endpoints(req, out, len);
        return;
    }
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cfg->noutputs && o < len; i++) {
        char t[64];
        pf_output_text(cfg, i, req, resp, t, sizeof(t));
        int n = snprintf(out + o, len - o, "%s%s", i ? "|" : "", t);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static void pend_key(const struct s4f_flow *f, bool reverse, uint8_t k[40])
{
    const struct s4f_addr *s = reverse ? &f->dst : &f->src, *d = reverse ? &f->src : &f->dst;
    uint16_t sp = reverse ? f->dport : f->sport, dp = reverse ? f->sport : f->dport;
    memset(k, 0, 40);
    memcpy(k, s->b, 16);
    memcpy(k + 16, d->b, 16);
    k[32] = s->family;
    k[33] = f->proto;
    s4f_put_le(k + 34, sp, 2);
    s4f_put_le(k + 36, dp, 2);
}

static void pf_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct pf *p = inst;
    struct pwin *w = wstate;
    for (size_t i = 0; i < p->n; i++) {
        const struct pf_config *cfg = p->cfg[i];
        struct cstate *st = &w->c[i];
        if (!pf_filter(cfg, f))
            continue;
        char key[KEY_TEXT];
        if (!cfg->biflow) {
            pf_simple_key(cfg, f, key, sizeof(key));
            add_vector(p, cfg, st, key, f, NULL);
            continue;
        }
        /* the reverse flow waiting? */
        uint8_t k[40];
        pend_key(f, true, k);
        struct pend *pe = s4f_htab_find(&st->pending, k, s4f_hash_bytes(k, 40));
        if (pe && !pe->used && !s4f_addr_eq(&f->src, &pe->f.src) &&
            llabs(pe->f.start_ms - f->start_ms) < cfg->time_difference_ms) {
            const struct s4f_flow *req = f->sport > pe->f.sport ? f : &pe->f;
            const struct s4f_flow *resp = req == f ? &pe->f : f;
            pe->used = true;
            biflow_key(cfg, req, resp, key, sizeof(key));
            add_vector(p, cfg, st, key, req, resp);
            s4f_htab_remove(&st->pending, k, s4f_hash_bytes(k, 40));
            continue;
        }
        pend_key(f, false, k);
        bool created;
        pe = s4f_htab_insert(&st->pending, k, s4f_hash_bytes(k, 40), &created);
        if (!pe) {
            s4f_metric_inc(p->m_pending_dropped);
            continue;
        }
        pe->f = *f; /* the latest flow of these endpoints waits */
        pe->used = false;
    }
}

static const char *band(double ratio)
{
    return ratio < 1.1    ? "Very Low"
           : ratio < 1.25 ? "Low"
           : ratio < 2    ? "Medium"
           : ratio < 5    ? "High"
                          : "Very High";
}

static void pf_on_window_close(void *inst, void *pstate, void *wstate, const struct s4f_window *win,
                               struct s4f_emit *out)
{
    struct pf *p = inst;
    struct pwin *w = wstate;
    (void)pstate;
    for (size_t c = 0; c < p->n; c++) {
        const struct pf_config *cfg = p->cfg[c];
        struct cstate *st = &w->c[c];
        for (size_t i = 0; i < st->keys.cap; i++) {
            const char *k = s4f_htab_key_at(&st->keys, i);
            if (!k)
                continue;
            const struct kval *v = s4f_htab_val_at(&st->keys, i);
            /* closest patterns: anomalous ones, by left/right ratio (then by order) */
            size_t order[PF_MAX_PATTERNS], n = 0;
            double ratio[PF_MAX_PATTERNS], lefts[PF_MAX_PATTERNS];
            for (size_t j = 0; j < cfg->npatterns; j++) {
                const struct pf_dist *ds = &cfg->dists[j];
                double left = 0, right = 0;
                size_t half = ds->nbins / 2;
                for (size_t b = 0; b < ds->nbins; b++)
                    *(b < half ? &left : &right) += v->dist[j][b];
                if (left < ds->limit || left <= right)
                    continue;
                ratio[j] = right > 0 ? left / right : INFINITY;
                lefts[j] = left;
                size_t pos = n++;
                while (pos > 0 &&
                       (ratio[order[pos - 1]] < ratio[j] ||
                        (ratio[order[pos - 1]] == ratio[j] && lefts[order[pos - 1]] < left))) {
                    order[pos] = order[pos - 1];
                    pos--;
                }
                order[pos] = j;
            }
            if (n == 0)
                continue;
            char key[KEY_TEXT + 8];
            snprintf(key, sizeof(key), "%zu|%s", c, k);
            struct s4f_jbuf *b = s4f_result_begin(out, "pattern_finder", key, 0, 0);
            if (!b)
                continue;
            s4f_jb_str(b, "configuration", cfg->name);
            for (size_t o = 0; o < cfg->noutputs; o++)
                s4f_jb_str(b, cfg->outputs[o].name, v->out[o]);
            s4f_jb_str(b, "vector_key", k);
            s4f_jb_u64(b, "vectors", v->vectors);
            s4f_jb_key(b, "data_array");
            s4f_jb_raw(b, "[");
            for (size_t j = 0; j < cfg->npatterns; j++) {
                s4f_jb_raw(b, j ? ",{" : "{");
                s4f_jb_str(b, "name", cfg->patterns[j].name);
                s4f_jb_key(b, "distribution");
                s4f_jb_raw(b, "[");
                for (size_t d = 0; d < cfg->dists[j].nbins; d++) {
                    char num[40];
                    snprintf(num, sizeof(num), "%s%.17g", d ? "," : "", v->dist[j][d]);
                    s4f_jb_raw(b, num);
                }
                s4f_jb_raw(b, "]}");
            }
            s4f_jb_raw(b, "]");
            s4f_jb_key(b, "closest_patterns");
            s4f_jb_raw(b, "[");
            for (size_t j = 0; j < n; j++) {
                s4f_jb_raw(b, j ? ",{" : "{");
                s4f_jb_str(b, "name", cfg->patterns[order[j]].name);
                s4f_jb_str(b, "confidence", band(ratio[order[j]]));
                if (isfinite(ratio[order[j]])) {
                    char num[48];
                    snprintf(num, sizeof(num), "%.4f", ratio[order[j]]);
                    s4f_jb_key(b, "ratio");
                    s4f_jb_raw(b, num);
                }
                s4f_jb_raw(b, "}");
            }
            s4f_jb_raw(b, "]");
            s4f_jb_str(b, "confidence", band(ratio[order[0]]));
            s4f_result_end(out);
            if (win->first_close)
                s4f_metric_inc(p->m_reported);
        }
    }
}

const struct s4f_analysis s4f_analysis_pattern_finder = {
    .name = "pattern_finder",
    .summary = "The original's configurable detector: vectors of flows or biflows compared "
               "with patterns by quadratic-form distance (pattern_finder)",
    .opts = pf_opts,
    .conf_size = sizeof(struct pf_conf),
    .check = pf_check,
    .init = pf_init,
    .window_new = pf_window_new,
    .on_flow = pf_on_flow,
    .on_window_close = pf_on_window_close,
    .window_free = pf_window_free,
    .destroy = pf_destroy,
};
