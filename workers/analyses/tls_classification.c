/* tls_classification: TLS clients per window classified by their fingerprint into operating
 * system, browser and application, as the original Stream4Flow application, with three
 * documents per window (@stat_type os, browser, application; application keys are
 * "<device_type>:<application>").
 *
 * A flow is a TLS client's when it carries cipher suites that are not all zero (Flowmon's
 * TLSClientCipherSuites: the original skipped "0x" followed by 32 zeros), a JA3 or JA4
 * fingerprint or a server name (ipfixprobe). Its suites are read as the original did: the two
 * bytes of each suite swapped, 0x0000 entries (padding) dropped, the rest matched exactly.
 * The dictionary (tls_dict.h) also has JA3, JA4 and SNI keys; when a flow matches several,
 * each column comes from the first match that fills it, in the order JA4, JA3, cipher
 * suites, SNI. Empty columns and flows that match nothing count as "Unknown" ("Unknown:
 * Unknown" for applications).
 *
 * Every TLS flow counts once in each of the three documents, so each document's values sum to
 * the window's TLS flows. The original added the batch's total of TLS flows to "Unknown" on
 * top of the unclassified ones, so Unknown was over-counted by every classified flow.
 *
 * The dictionary is read by --check-config and at start (an error stops the worker, naming
 * file and line), and again after SIGHUP, on the analysis thread at its next flow or window; a
 * file with an error is then reported with file and line and the loaded dictionary stays. Window
 * state holds the class texts, not the dictionary's entries, so a reload never leaves a window
 * pointing at freed memory. */
#include "analysis.h"
#include "daemon.h"
#include "htab.h"
#include "log.h"
#include "tls_dict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef S4F_DATA_DIR
#define S4F_DATA_DIR "/usr/share/stream4flow"
#endif
#ifndef S4F_SOURCE_DATA_DIR
#define S4F_SOURCE_DATA_DIR "."
#endif
#define DICT_NAME    "tls_classification_dictionary.csv"
#define DICT_DEFAULT S4F_DATA_DIR "/" DICT_NAME

struct tls_conf {
    struct s4f_analysis_common common;
    char *dictionary_file;
};

static const struct s4f_opt tls_opts[] = {
    S4F_ANALYSIS_COMMON_OPTS(struct tls_conf, "30s", "10000"),
    {"dictionary_file", S4F_OPT_STRING, DICT_DEFAULT, 0, 0,
     offsetof(struct tls_conf, dictionary_file),
     "Classification dictionary (key;device_type;operating_system;application;browser, keys "
     "cipher suites, ja3:, ja4: or sni:; see docs/worker.md); read again on SIGHUP",
     NULL},
    S4F_OPT_END,
};

enum { ST_OS, ST_BROWSER, ST_APPLICATION, ST_COUNT };
static const char *const st_names[ST_COUNT] = {"os", "browser", "application"};

/* A class text of one stat type: application texts are "<device>:<application>". */
#define LABEL_MAX (2 * S4F_TLS_DICT_TEXT_MAX + 1)
struct label {
    uint8_t st;
    uint8_t len;
    char text[LABEL_MAX + 1];
};

struct tls {
    const struct tls_conf *conf;
    const char *path;
    struct s4f_tls_dict *dict;
    struct s4f_metric *m_keys_dropped, *m_reloads, *m_reload_errors, *m_entries, *m_malformed;
};

struct twin {
    struct s4f_htab labels; /* struct label -> uint64_t */
    uint64_t flows;
};

static struct s4f_tls_dict *load(struct tls *t, char *err, size_t errlen)
{
    size_t dups = 0;
    struct s4f_tls_dict *d = s4f_tls_dict_load(t->path, &dups, err, errlen);
    if (d && dups)
        s4f_info("tls_classification: %s: %zu keys (%zu given twice: the later line wins)", t->path,
                 s4f_tls_dict_size(d), dups);
    else if (d)
        s4f_info("tls_classification: %s: %zu keys", t->path, s4f_tls_dict_size(d));
    return d;
}

/* After a SIGHUP (the engine calls it between batches): read the file again; keep the old
 * dictionary on error. */
static void tls_reload(void *inst)
{
    struct tls *t = inst;
    char err[512];
    struct s4f_tls_dict *d = load(t, err, sizeof(err));
    if (!d) {
        s4f_metric_inc(t->m_reload_errors);
        s4f_error("tls_classification: dictionary not reloaded, keeping its %zu keys: %s",
                  s4f_tls_dict_size(t->dict), err);
        return;
    }
    s4f_tls_dict_free(t->dict);
    t->dict = d;
    s4f_metric_inc(t->m_reloads);
    s4f_metric_set(t->m_entries, (int64_t)s4f_tls_dict_size(d));
}

static void tls_destroy(void *inst)
{
    struct tls *t = inst;
    if (!t)
        return;
    s4f_tls_dict_free(t->dict);
    free(t);
}

/* The dictionary file the configuration names. */
static const char *dict_path(const struct tls_conf *c)
{
    const char *path =
        c->dictionary_file && *c->dictionary_file ? c->dictionary_file : DICT_DEFAULT;
    /* A binary run from its build tree (never installed) uses the copy in the source tree. */
    if (strcmp(path, DICT_DEFAULT) == 0 && access(path, R_OK) != 0)
        path = S4F_SOURCE_DATA_DIR "/" DICT_NAME;
    return path;
}

/* --check-config (and the start, before init): the dictionary is read and parsed as init
 * will, so a bad file is refused with its file and line before anything runs. */
static int tls_check(const void *conf, char *err, size_t errlen)
{
    char msg[512];
    struct s4f_tls_dict *d = s4f_tls_dict_load(dict_path(conf), NULL, msg, sizeof(msg));
    if (!d) {
        snprintf(err, errlen, "dictionary_file %s", msg);
        return -1;
    }
    s4f_tls_dict_free(d);
    return 0;
}

static void *tls_init(const void *conf, const struct s4f_analysis_ctx *ctx, char *err,
                      size_t errlen)
{
    const struct tls_conf *c = conf;
    struct tls *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->conf = c;
    t->path = dict_path(c);
    char msg[512];
    t->dict = load(t, msg, sizeof(msg));
    if (!t->dict) {
        snprintf(err, errlen, "tls_classification: dictionary_file %s", msg);
        tls_destroy(t);
        return NULL;
    }
    t->m_keys_dropped =
        s4f_metrics_counter(ctx->metrics, "keys_dropped_total",
                            "Keys refused because a window reached max_keys", ctx->labels);
    t->m_reloads = s4f_metrics_counter(ctx->metrics, "tls_dictionary_reloads_total",
                                       "Dictionary reloads after SIGHUP", ctx->labels);
    t->m_reload_errors =
        s4f_metrics_counter(ctx->metrics, "tls_dictionary_reload_errors_total",
                            "Reloads refused for an error in the file (the loaded dictionary "
                            "stays)",
                            ctx->labels);
    t->m_entries = s4f_metrics_gauge(ctx->metrics, "tls_dictionary_keys",
                                     "Keys of the loaded classification dictionary", ctx->labels);
    t->m_malformed = s4f_metrics_counter(ctx->metrics, "tls_fields_malformed_total",
                                         "Flows whose cipher suites or JA3 were not hex of the "
                                         "expected length (the field was ignored)",
                                         ctx->labels);
    s4f_metric_set(t->m_entries, (int64_t)s4f_tls_dict_size(t->dict));
    return t;
}

static void *tls_window_new(void *inst, int64_t start_ms, int64_t end_ms, int64_t slide_ms)
{
    struct tls *t = inst;
    struct twin *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    s4f_htab_init(&w->labels, sizeof(struct label), sizeof(uint64_t),
                  (size_t)t->conf->common.max_keys);
    return w;
}

static void tls_window_free(void *inst, void *wstate)
{
    struct twin *w = wstate;
    s4f_htab_release(&w->labels);
    free(w);
}

static const char *or_unknown(const char *s)
{
    return s && *s ? s : "Unknown";
}

static void count(struct tls *t, struct twin *w, uint8_t st, const char *a, const char *b)
{
    struct label k;
    memset(&k, 0, sizeof(k));
    k.st = st;
    int n = b ? snprintf(k.text, sizeof(k.text), "%s:%s", a, b)
              : snprintf(k.text, sizeof(k.text), "%s", a);
    k.len = (uint8_t)(n < 0 ? 0 : n > LABEL_MAX ? LABEL_MAX : n);
    bool created;
    uint64_t *v = s4f_htab_insert(&w->labels, &k, s4f_hash_bytes(&k, sizeof(k)), &created);
    if (v)
        (*v)++;
    else
        s4f_metric_inc(t->m_keys_dropped);
}

/* The suites as the original formatted them: bytes of each pair swapped, zeros dropped.
 * Returns how many; 0 when there are none (all padding). */
static size_t suites_of(const struct s4f_app *a, uint16_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < a->suites_len && n < S4F_TLS_DICT_MAX_SUITES + 1; i += 2) {
        uint16_t v = (uint16_t)(a->suites[i + 1] << 8 | a->suites[i]);
        if (v)
            out[n++] = v;
    }
    return n;
}

static void tls_on_flow(void *inst, void *wstate, const struct s4f_flow *f)
{
    struct tls *t = inst;
    struct twin *w = wstate;
    const struct s4f_app *a = &f->app;
    if (a->flags & S4F_APP_MALFORMED)
        s4f_metric_inc(t->m_malformed);
    uint16_t suites[S4F_TLS_DICT_MAX_SUITES + 1];
    size_t ns = (a->flags & S4F_APP_SUITES) ? suites_of(a, suites) : 0;
    if (!ns && !(a->flags & (S4F_APP_JA3 | S4F_APP_JA4 | S4F_APP_SNI)))
        return;
    const struct s4f_tls_class *m[4];
    size_t nm = 0;
    if ((a->flags & S4F_APP_JA4) && (m[nm] = s4f_tls_dict_ja4(t->dict, a->ja4, a->ja4_len)))
        nm++;
    if ((a->flags & S4F_APP_JA3) && (m[nm] = s4f_tls_dict_ja3(t->dict, a->ja3)))
        nm++;
    if (ns && (m[nm] = s4f_tls_dict_suites(t->dict, suites, ns)))
        nm++;
    if ((a->flags & S4F_APP_SNI) && (m[nm] = s4f_tls_dict_sni(t->dict, a->sni, a->sni_len)))
        nm++;
    const char *dev = NULL, *os = NULL, *app = NULL, *br = NULL;
    for (size_t i = 0; i < nm; i++) {
        if (!dev || !*dev)
            dev = m[i]->device_type;
        if (!os || !*os)
            os = m[i]->operating_system;
        if (!app || !*app)
            app = m[i]->application;
        if (!br || !*br)
            br = m[i]->browser;
    }
    w->flows++;
    count(t, w, ST_OS, or_unknown(os), NULL);
    count(t, w, ST_BROWSER, or_unknown(br), NULL);
    count(t, w, ST_APPLICATION, or_unknown(dev), or_unknown(app));
}

struct item {
    const struct label *k;
    uint64_t n;
};

static int cmp_item(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return strcmp(a->k->text, b->k->text);
}

static void tls_on_window_close(void *inst, void *pstate, void *wstate,
                                const struct s4f_window *win, struct s4f_emit *out)
{
    (void)inst;
    struct twin *w = wstate;
    if (!w->flows)
        return;
    struct item *it = malloc((w->labels.n + 1) * sizeof(*it));
    if (!it) {
        s4f_error("tls_classification: out of memory emitting a window");
        return;
    }
    for (int st = 0; st < ST_COUNT; st++) {
        size_t n = 0;
        for (size_t i = 0; i < w->labels.cap; i++) {
            const struct label *k = s4f_htab_key_at(&w->labels, i);
            if (k && k->st == st)
                it[n++] = (struct item){k, *(const uint64_t *)s4f_htab_val_at(&w->labels, i)};
        }
        if (!n)
            continue;
        qsort(it, n, sizeof(*it), cmp_item);
        struct s4f_jbuf *b = s4f_result_begin(out, "tls_classification", st_names[st], 0, 0);
        if (!b)
            continue;
        s4f_jb_str(b, "@stat_type", st_names[st]);
        s4f_jb_key(b, "data_array");
        s4f_jb_raw(b, "[");
        for (size_t i = 0; i < n; i++) {
            s4f_jb_raw(b, "{");
            s4f_jb_str(b, "key", it[i].k->text);
            s4f_jb_u64(b, "value", it[i].n);
            s4f_jb_raw(b, "}");
        }
        s4f_jb_raw(b, "]");
        s4f_result_end(out);
    }
    free(it);
}

const struct s4f_analysis s4f_analysis_tls_classification = {
    .name = "tls_classification",
    .summary = "TLS clients by fingerprint (cipher suites, JA3, JA4, SNI) into operating "
               "system, browser and application (tls_classification, three stat types)",
    .opts = tls_opts,
    .conf_size = sizeof(struct tls_conf),
    .check = tls_check,
    .init = tls_init,
    .window_new = tls_window_new,
    .on_flow = tls_on_flow,
    .on_window_close = tls_on_window_close,
    .window_free = tls_window_free,
    .destroy = tls_destroy,
    .reload = tls_reload,
};
