/* rules: detections written as YAML rules (docs/rules.md), compiled by rules_compile.c.
 *
 * The engine runs this analysis on its own window and slide (worker.analyses.rules.window and
 * .slide); each rule's window must fit them: at most the analysis's window and a multiple of
 * its slide, the rule's slide a multiple of it too. A rule window [t, t + w) with t a multiple
 * of the rule's slide is then the last w of exactly one engine window (the one ending at
 * t + w): a rule counts a flow in an engine window only when that window ends on the rule's
 * grid and the flow's time falls in its last w. So rules of different windows share one pass
 * over each flow, and every rule window is exact.
 *
 * Per engine window: per rule, a bounded table of keys (the flow count and one slot per
 * aggregate) and, for distinct counts and top lists, a bounded table of (key, aggregate,
 * value) members. At close, a key whose aggregates pass the rule's condition is reported as
 * @type rule_<name>, with the rule's window bounds and its key as id: re-emissions (late
 * flows) overwrite the same document, so a key is reported at most once per rule window.
 *
 * Reload (SIGHUP, the engine's reload callback): the file is compiled again; a rule whose
 * definition is unchanged (same fingerprint) keeps its state in every open window, a changed
 * or new rule starts empty (it sees the flows from the reload on), a removed one's state is
 * dropped. A file that does not compile changes nothing: the error is logged with its
 * file:line:column and counted. */
#include "analysis.h"
#include "htab.h"
#include "log.h"
#include "rules_compile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rules_conf {
    struct s4f_analysis_common common;
    char *rules_file;
    int64_t max_members;
};

static const struct s4f_opt rules_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct rules_conf, "5m", "200000"),
    {"rules_file", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct rules_conf, rules_file),
     "YAML file of detection rules (docs/rules.md); compiled at start and at --check-config, "
     "reloaded on SIGHUP. Each rule's window must be at most this analysis's window and a "
     "multiple of its slide. Unset: no rules",
     NULL},
    {"max_members", S4F_OPT_INT, "2000000", 1000, 1000000000,
     offsetof(struct rules_conf, max_members),
     "Most distinct (key, value) members of distinct and top aggregates kept per rule, window "
     "and partition; past it new values are not counted (members_dropped_total)",
     NULL},
    S4F_OPT_END,
};

#define MKEY_MAX (S4F_RULE_KEY_MAX + 18)

struct rstate {
    bool active; /* this engine window ends on the rule's grid */
    struct s4f_htab keys, members;
};

struct rwin {
    struct rwin *prev, *next; /* the open windows, for reloads */
    int64_t start, end;
    /* The earliest flow time any active rule counts here: most engine windows of a flow
     * hold no rule window it falls in, and are left at this one comparison. */
    int64_t from;
    size_t n;
    struct rstate *st;
};

/* Sets w->from from the active rules of rs. */
static void window_from(struct rwin *w, const struct s4f_ruleset *rs)
{
    w->from = INT64_MAX;
    for (size_t i = 0; i < w->n; i++)
        if (w->st[i].active && w->end - rs->rules[i].window_ms < w->from)
            w->from = w->end - rs->rules[i].window_ms;
}

struct rules {
    const struct rules_conf *conf;
    struct s4f_rules_limits lim;
    struct s4f_ruleset *rs;
    struct rwin *live;
    /* Per rule: the table sizes of its last window freed, reserved up front in new windows
     * so that each does not grow its tables from nothing (see ports_scan.c). */
    struct rhint {
        size_t keys, members;
    } * hints;
    struct s4f_metric *m_keys_dropped, *m_members_dropped, *m_reported, *m_reloads,
        *m_reload_failed, *m_rules;
};

static void limits(const struct rules_conf *c, struct s4f_rules_limits *lim)
{
    lim->window_ms = c->common.window_ms;
    lim->slide_ms = c->common.slide_ms ? c->common.slide_ms : c->common.window_ms;
    lim->processing = c->common.time_mode == S4F_TIME_PROCESSING;
}

static int rules_check(const void *conf, char *err, size_t errlen)
{
    const struct rules_conf *c = conf;
    if (!c->rules_file || !*c->rules_file)
        return 0;
    struct s4f_rules_limits lim;
    limits(c, &lim);
    struct s4f_ruleset *rs = s4f_rules_load(c->rules_file, &lim, err, errlen);
    if (!rs)
        return -1;
    s4f_rules_free(rs);
    return 0;
}

static void *rules_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err,
                        size_t errlen)
{
    const struct rules_conf *c = conf;
    struct rules *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->conf = c;
    limits(c, &s->lim);
    if (c->rules_file && *c->rules_file)
        s->rs = s4f_rules_load(c->rules_file, &s->lim, err, errlen);
    else {
        s->rs = calloc(1, sizeof(*s->rs));
        s4f_warn("rules: no rules_file: nothing to detect");
    }
    if (s->rs && s->rs->n)
        s->hints = calloc(s->rs->n, sizeof(*s->hints)); /* NULL: no hints, nothing else */
    if (!s->rs) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a rule's window reached max_keys", ctx->labels);
    s->m_members_dropped = s4f_metrics_counter(
        ctx->metrics, "members_dropped_total",
        "Distinct or top values not counted because a rule's window reached max_members",
        ctx->labels);
    s->m_reported =
        s4f_metrics_counter(ctx->metrics, "rule_results_total",
                            "Rule results emitted (first emission of a window)", ctx->labels);
    s->m_reloads = s4f_metrics_counter(ctx->metrics, "rule_reloads_total",
                                       "Rule files reloaded (SIGHUP)", ctx->labels);
    s->m_reload_failed = s4f_metrics_counter(
        ctx->metrics, "rule_reload_failures_total",
        "Reloads refused (the file did not compile: the running rules stay)", ctx->labels);
    s->m_rules = s4f_metrics_gauge(ctx->metrics, "rules_loaded", "Rules running", ctx->labels);
    s4f_metric_set(s->m_rules, (int64_t)s->rs->n);
    if (c->rules_file)
        s4f_info("rules: %zu rule(s) from %s", s->rs->n, c->rules_file);
    return s;
}

static void state_init(struct rules *s, const struct s4f_rule *r, const struct rhint *hint,
                       const struct rwin *w, struct rstate *st)
{
    int64_t from = w->end - r->window_ms;
    st->active = from % r->slide_ms == 0;
    s4f_htab_init(&st->keys, r->key_size, r->nslots * sizeof(int64_t),
                  (size_t)s->conf->common.max_keys);
    s4f_htab_init(&st->members, r->key_size + 18, sizeof(uint64_t), (size_t)s->conf->max_members);
    if (st->active && hint) {
        s4f_htab_reserve(&st->keys, hint->keys);
        s4f_htab_reserve(&st->members, hint->members);
    }
}

static void state_release(struct rstate *st)
{
    s4f_htab_release(&st->keys);
    s4f_htab_release(&st->members);
}

static void *rules_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct rules *s = inst;
    (void)slide_ms;
    struct rwin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->start = start_ms;
    w->end = end_ms;
    w->n = s->rs->n;
    if (w->n && !(w->st = calloc(w->n, sizeof(*w->st)))) {
        free(w);
        return NULL;
    }
    for (size_t i = 0; i < w->n; i++)
        state_init(s, &s->rs->rules[i], s->hints ? &s->hints[i] : NULL, w, &w->st[i]);
    window_from(w, s->rs);
    w->next = s->live;
    if (s->live)
        s->live->prev = w;
    s->live = w;
    return w;
}

static void rules_window_free(void *inst, void *wstate)
{
    struct rules *s = inst;
    struct rwin *w = wstate;
    if (w->prev)
        w->prev->next = w->next;
    else
        s->live = w->next;
    if (w->next)
        w->next->prev = w->prev;
    for (size_t i = 0; i < w->n; i++) {
        if (w->st[i].active && s->hints) {
            s->hints[i].keys = w->st[i].keys.n;
            s->hints[i].members = w->st[i].members.n;
        }
        state_release(&w->st[i]);
    }
    free(w->st);
    free(w);
}

static void fold(struct rules *s, const struct s4f_rule *r, struct rstate *st,
                 const struct s4f_flow *f)
{
    uint8_t kb[MKEY_MAX];
    memset(kb, 0, r->key_size);
    s4f_rule_key(r, f, kb);
    bool created;
    int64_t *v = s4f_htab_insert(&st->keys, kb, s4f_hash_bytes(kb, r->key_size), &created);
    if (!v) {
        s4f_metric_inc(s->m_keys_dropped);
        return;
    }
    v[0]++;
    for (size_t i = 0; i < r->naggs; i++) {
        const struct s4f_ragg *a = &r->aggs[i];
        int64_t x = a->op == S4F_RA_COUNT ? 0 : s4f_rule_num(f, a->field);
        switch (a->op) {
        case S4F_RA_SUM:
        case S4F_RA_MEAN:
            if (__builtin_add_overflow(v[a->slot], x, &v[a->slot]))
                v[a->slot] = x < 0 ? INT64_MIN : INT64_MAX;
            break;
        case S4F_RA_MIN:
            if (created || x < v[a->slot])
                v[a->slot] = x;
            break;
        case S4F_RA_MAX:
            if (created || x > v[a->slot])
                v[a->slot] = x;
            break;
        case S4F_RA_DISTINCT:
        case S4F_RA_TOP: {
            uint8_t *m = kb + r->key_size;
            memset(m, 0, 18);
            m[0] = a->member;
            if (s4f_rfields[a->field].kind == S4F_RK_ADDR) {
                const struct s4f_addr *ad = a->field == S4F_RF_SRC_IP ? &f->src : &f->dst;
                memcpy(m + 1, ad->b, 16);
                m[17] = ad->family;
            } else {
                s4f_put_le(m + 1, (uint64_t)x, 8);
            }
            size_t ml = r->key_size + 18;
            bool mc;
            uint64_t *cnt = s4f_htab_insert(&st->members, kb, s4f_hash_bytes(kb, ml), &mc);
            if (!cnt) {
                s4f_metric_inc(s->m_members_dropped);
                break;
            }
            (*cnt)++;
            if (mc && a->op == S4F_RA_DISTINCT)
                v[a->slot]++;
            break;
        }
        default:
            break;
        }
    }
}

static void rules_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct rules *s = inst;
    struct rwin *w = wstate;
    const int64_t t = f->end_ms, full = s->lim.window_ms;
    if (t < w->from && !s->lim.processing)
        return;
    for (size_t i = 0; i < w->n; i++) {
        struct rstate *st = &w->st[i];
        const struct s4f_rule *r = &s->rs->rules[i];
        if (!st->active || (r->window_ms < full && t < w->end - r->window_ms))
            continue;
        if (s4f_rule_match(r, f))
            fold(s, r, st, f);
    }
}

/* Text of a member's value or a key field (addresses as text, numbers in decimal). */
static void value_text(int field, const uint8_t *p, char *buf, size_t len)
{
    if (s4f_rfields[field].kind == S4F_RK_ADDR) {
        struct s4f_addr a = {{0}, p[16]};
        memcpy(a.b, p, 16);
        s4f_addr_str(&a, buf, len);
    } else {
        snprintf(buf, len, "%" PRId64, (int64_t)s4f_get_le(p, 8));
    }
}

static void write_value(struct s4f_jbuf *b, const char *name, int field, const uint8_t *p)
{
    char txt[64];
    if (s4f_rfields[field].kind == S4F_RK_ADDR) {
        value_text(field, p, txt, sizeof(txt));
        s4f_jb_str(b, name, txt);
    } else if (s4f_rfields[field].time) {
        s4f_jb_time(b, name, (int64_t)s4f_get_le(p, 8));
    } else {
        s4f_jb_i64(b, name, (int64_t)s4f_get_le(p, 8));
    }
}

/* Fills the top lists of every key: (member slot + 1, count) pairs, by count then value. */
static void build_tops(const struct s4f_rule *r, struct rstate *st)
{
    for (size_t i = 0; i < st->keys.cap; i++) {
        if (!s4f_htab_key_at(&st->keys, i))
            continue;
        int64_t *v = s4f_htab_val_at(&st->keys, i);
        for (size_t j = 0; j < r->naggs; j++)
            if (r->aggs[j].op == S4F_RA_TOP)
                memset(&v[r->aggs[j].slot], 0, 2 * r->aggs[j].k * sizeof(int64_t));
    }
    for (size_t i = 0; i < st->members.cap; i++) {
        const uint8_t *mk = s4f_htab_key_at(&st->members, i);
        if (!mk)
            continue;
        const struct s4f_ragg *a = NULL;
        for (size_t j = 0; j < r->naggs; j++)
            if (r->aggs[j].op == S4F_RA_TOP && r->aggs[j].member == mk[r->key_size])
                a = &r->aggs[j];
        if (!a)
            continue;
        int64_t *v = s4f_htab_find(&st->keys, mk, s4f_hash_bytes(mk, r->key_size));
        if (!v)
            continue;
        int64_t cnt = (int64_t) * (const uint64_t *)s4f_htab_val_at(&st->members, i);
        int64_t *top = &v[a->slot];
        /* insertion into a sorted list of k */
        int pos = a->k;
        while (pos > 0) {
            int64_t *e = &top[2 * (pos - 1)];
            bool before;
            if (e[0] == 0)
                before = true;
            else if (e[1] != cnt)
                before = cnt > e[1];
            else {
                const uint8_t *om = s4f_htab_key_at(&st->members, (size_t)(e[0] - 1));
                before = memcmp(mk + r->key_size + 1, om + r->key_size + 1, 17) < 0;
            }
            if (!before)
                break;
            pos--;
        }
        if (pos >= a->k)
            continue;
        memmove(&top[2 * (pos + 1)], &top[2 * pos], (size_t)(a->k - pos - 1) * 2 * sizeof(int64_t));
        top[2 * pos] = (int64_t)i + 1;
        top[2 * pos + 1] = cnt;
    }
}

static void write_mean(struct s4f_jbuf *b, const char *name, int64_t sum, int64_t n)
{
    char txt[48];
    /* hundredths, rounded half away from zero: exact, the same on every machine */
    bool neg = sum < 0;
    unsigned __int128 m = (unsigned __int128)(neg ? -(__int128)sum : sum);
    unsigned __int128 c = (m * 200 + (unsigned __int128)n) / (2 * (unsigned __int128)n);
    snprintf(txt, sizeof(txt), "%s%" PRIu64 ".%02u", neg && c ? "-" : "", (uint64_t)(c / 100),
             (unsigned)(c % 100));
    s4f_jb_key(b, name);
    s4f_jb_raw(b, txt);
}

static void emit_rule(struct rules *s, const struct s4f_rule *r, struct rstate *st,
                      const struct rwin *w, const struct s4f_window *win, struct s4f_emit *out)
{
    bool tops = false;
    for (size_t j = 0; j < r->naggs; j++)
        tops |= r->aggs[j].op == S4F_RA_TOP;
    if (tops)
        build_tops(r, st);
    int64_t ws = 0, we = 0;
    if (r->window_ms < s->lim.window_ms) {
        ws = w->end - r->window_ms;
        we = w->end;
    }
    double vals[S4F_RULE_MAX_AGGS];
    for (size_t i = 0; i < st->keys.cap; i++) {
        const uint8_t *k = s4f_htab_key_at(&st->keys, i);
        if (!k)
            continue;
        const int64_t *v = s4f_htab_val_at(&st->keys, i);
        for (size_t j = 0; j < r->naggs; j++) {
            const struct s4f_ragg *a = &r->aggs[j];
            vals[j] = a->op == S4F_RA_COUNT  ? (double)v[0]
                      : a->op == S4F_RA_MEAN ? (double)v[a->slot] / (double)v[0]
                      : a->op == S4F_RA_TOP  ? 0
                                             : (double)v[a->slot];
        }
        if (!s4f_rule_cond(r, vals))
            continue;
        char key[200], txt[64];
        size_t kl = 0, off = 0;
        key[0] = '\0';
        for (size_t j = 0; j < r->nkeys; j++) {
            value_text(r->keys[j], k + off, txt, sizeof(txt));
            off += s4f_rfields[r->keys[j]].kind == S4F_RK_ADDR ? 17 : 8;
            int n = snprintf(key + kl, sizeof(key) - kl, "%s%s", j ? "|" : "", txt);
            if (n > 0 && (size_t)n < sizeof(key) - kl)
                kl += (size_t)n;
        }
        struct s4f_jbuf *b = s4f_result_begin(out, r->type, r->nkeys ? key : "all", ws, we);
        if (!b)
            continue;
        for (size_t fi = 0; fi < r->nfields; fi++) {
            const char *name = r->field_names[fi];
            size_t idx = r->fields[fi];
            if (idx < r->nkeys) {
                size_t o = 0;
                for (size_t j = 0; j < idx; j++)
                    o += s4f_rfields[r->keys[j]].kind == S4F_RK_ADDR ? 17 : 8;
                write_value(b, name, r->keys[idx], k + o);
                continue;
            }
            const struct s4f_ragg *a = &r->aggs[idx - r->nkeys];
            switch (a->op) {
            case S4F_RA_COUNT:
                s4f_jb_i64(b, name, v[0]);
                break;
            case S4F_RA_MEAN:
                write_mean(b, name, v[a->slot], v[0]);
                break;
            case S4F_RA_MIN:
            case S4F_RA_MAX:
                if (s4f_rfields[a->field].time)
                    s4f_jb_time(b, name, v[a->slot]);
                else
                    s4f_jb_i64(b, name, v[a->slot]);
                break;
            case S4F_RA_TOP: {
                s4f_jb_key(b, name);
                s4f_jb_raw(b, "[");
                const int64_t *top = &v[a->slot];
                for (int j = 0; j < a->k && top[2 * j]; j++) {
                    const uint8_t *mk = s4f_htab_key_at(&st->members, (size_t)(top[2 * j] - 1));
                    s4f_jb_raw(b, j ? ",{" : "{");
                    write_value(b, "value", a->field, mk + r->key_size + 1);
                    s4f_jb_i64(b, "flows", top[2 * j + 1]);
                    s4f_jb_raw(b, "}");
                }
                s4f_jb_raw(b, "]");
                break;
            }
            default: /* SUM, DISTINCT */
                s4f_jb_i64(b, name, v[a->slot]);
                break;
            }
        }
        s4f_result_end(out);
        if (win->first_close)
            s4f_metric_inc(s->m_reported);
    }
}

static void rules_on_window_close(void *inst, void *pstate, void *wstate,
                                  const struct s4f_window *win, struct s4f_emit *out)
{
    struct rules *s = inst;
    struct rwin *w = wstate;
    (void)pstate;
    for (size_t i = 0; i < w->n; i++)
        if (w->st[i].active)
            emit_rule(s, &s->rs->rules[i], &w->st[i], w, win, out);
}

static void rules_reload(void *inst)
{
    struct rules *s = inst;
    const char *file = s->conf->rules_file;
    if (!file || !*file) {
        s4f_info("rules: reload asked, but no rules_file is configured");
        return;
    }
    char err[1024];
    struct s4f_ruleset *rs = s4f_rules_load(file, &s->lim, err, sizeof(err));
    if (!rs) {
        s4f_metric_inc(s->m_reload_failed);
        s4f_error("rules: reload refused, the %zu running rule(s) stay: %s", s->rs->n, err);
        return;
    }
    /* Which old rule each new one continues (same definition), if any. */
    size_t *from = calloc(rs->n ? rs->n : 1, sizeof(*from));
    bool *taken = calloc(s->rs->n ? s->rs->n : 1, sizeof(*taken));
    struct rstate **news = NULL;
    size_t nwin = 0;
    for (struct rwin *w = s->live; w; w = w->next)
        nwin++;
    if (from && taken)
        news = calloc(nwin ? nwin : 1, sizeof(*news));
    bool ok = news != NULL;
    for (size_t k = 0; ok && k < nwin; k++)
        ok = rs->n == 0 || (news[k] = calloc(rs->n, sizeof(**news))) != NULL;
    if (!ok) {
        for (size_t k = 0; news && k < nwin; k++)
            free(news[k]);
        free(news);
        free(from);
        free(taken);
        s4f_rules_free(rs);
        s4f_metric_inc(s->m_reload_failed);
        s4f_error("rules: reload refused: out of memory");
        return;
    }
    size_t kept = 0;
    for (size_t j = 0; j < rs->n; j++) {
        from[j] = SIZE_MAX;
        for (size_t i = 0; i < s->rs->n; i++)
            if (!taken[i] && s->rs->rules[i].fingerprint == rs->rules[j].fingerprint) {
                taken[i] = true;
                from[j] = i;
                kept++;
                break;
            }
    }
    size_t k = 0;
    for (struct rwin *w = s->live; w; w = w->next, k++) {
        for (size_t j = 0; j < rs->n; j++) {
            if (from[j] != SIZE_MAX)
                news[k][j] = w->st[from[j]];
            else
                state_init(s, &rs->rules[j], NULL, w, &news[k][j]);
        }
        for (size_t i = 0; i < w->n; i++)
            if (!taken[i])
                state_release(&w->st[i]);
        free(w->st);
        w->st = news[k];
        w->n = rs->n;
        window_from(w, rs);
    }
    struct rhint *hints = rs->n ? calloc(rs->n, sizeof(*hints)) : NULL;
    for (size_t j = 0; hints && s->hints && j < rs->n; j++)
        if (from[j] != SIZE_MAX)
            hints[j] = s->hints[from[j]];
    free(s->hints);
    s->hints = hints;
    s4f_rules_free(s->rs);
    s->rs = rs;
    free(news);
    free(from);
    free(taken);
    s4f_metric_inc(s->m_reloads);
    s4f_metric_set(s->m_rules, (int64_t)rs->n);
    s4f_info("rules: reloaded %s: %zu rule(s), %zu unchanged (their windows go on)", file, rs->n,
             kept);
}

static void rules_destroy(void *inst)
{
    struct rules *s = inst;
    if (!s)
        return;
    s4f_rules_free(s->rs);
    free(s->hints);
    free(s);
}

const struct s4f_analysis s4f_analysis_rules = {
    .name = "rules",
    .summary = "Detections written as YAML rules: filter, key, window, aggregates, condition "
               "(rule_<name>; docs/rules.md)",
    .opts = rules_opts,
    .conf_size = sizeof(struct rules_conf),
    .check = rules_check,
    .init = rules_init,
    .window_new = rules_window_new,
    .on_flow = rules_on_flow,
    .on_window_close = rules_on_window_close,
    .window_free = rules_window_free,
    .reload = rules_reload,
    .destroy = rules_destroy,
};
