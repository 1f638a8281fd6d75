#include "components.h"

#include "buf.h"
#include "log.h"
#include "s4f.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int s4f_web_component_parse(const char *spec, struct s4f_web_component *out, char *err,
                            size_t errlen)
{
    const char *eq = strchr(spec, '=');
    size_t n = eq ? (size_t)(eq - spec) : 0;
    if (!eq || n == 0 || n >= sizeof(out->name)) {
        snprintf(err, errlen, "web.components: '%s' is not name=URL", spec);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)spec[i]) || isdigit((unsigned char)spec[i]) ||
              spec[i] == '_' || spec[i] == '-')) {
            snprintf(err, errlen, "web.components: name in '%s' may only hold a-z 0-9 _ -", spec);
            return -1;
        }
    const char *url = eq + 1;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, errlen, "web.components: URL in '%s' must start with http:// or https://",
                 spec);
        return -1;
    }
    memcpy(out->name, spec, n);
    out->name[n] = '\0';
    out->url = strdup(url);
    if (!out->url) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t l = strlen(out->url);
    while (l > 0 && out->url[l - 1] == '/')
        out->url[--l] = '\0';
    return 0;
}

json_t *s4f_web_prom_parse(const char *text, size_t len, size_t max_series)
{
    json_t *arr = json_array();
    size_t pos = 0;
    while (arr && pos < len && json_array_size(arr) < max_series) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + 1;
        if (ll == 0 || line[0] == '#' || ll > 2048 || strncmp(line, "s4f_", 4) != 0)
            continue;
        char buf[2049];
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        /* name[{labels}] value [timestamp] */
        char *p = buf;
        while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == ':'))
            p++;
        size_t name_len = (size_t)(p - buf);
        char *labels = NULL;
        if (*p == '{') {
            char *close = strrchr(p, '}');
            if (!close)
                continue;
            *close = '\0';
            labels = p + 1;
            p = close + 1;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        buf[name_len] = '\0';
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            continue;
        json_t *o =
            json_pack("{s:s, s:s, s:f}", "name", buf, "labels", labels ? labels : "", "value", v);
        if (o)
            json_array_append_new(arr, o);
    }
    return arr;
}

struct fetch {
    CURL *h;
    struct s4f_buf body;
    struct s4f_buf_sink sink; /* bounds body at S4F_WEB_PROM_MAX_BYTES */
};

static CURL *easy(struct fetch *f, const char *base, const char *path, long timeout_ms)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", base, path);
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    f->sink = (struct s4f_buf_sink){.buf = &f->body, .max = S4F_WEB_PROM_MAX_BYTES};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s4f_buf_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &f->sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    f->h = h;
    return h;
}

json_t *s4f_web_components_read(const struct s4f_web_app *app)
{
    size_t n = app->n_components;
    struct fetch *f = calloc(2 * n + 1, sizeof(*f));
    CURLM *m = curl_multi_init();
    json_t *list = json_array();
    char ts[32];
    if (!f || !m || !list)
        goto out;
    long timeout = (long)app->conf->component_timeout_ms;
    for (size_t i = 0; i < n; i++) {
        if (easy(&f[2 * i], app->components[i].url, "/metrics", timeout))
            curl_multi_add_handle(m, f[2 * i].h);
        if (easy(&f[2 * i + 1], app->components[i].url, "/health", timeout))
            curl_multi_add_handle(m, f[2 * i + 1].h);
    }
    int running = 1;
    int64_t deadline = s4f_mono_ms() + timeout + 500;
    while (running && s4f_mono_ms() < deadline) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        struct fetch *mf = &f[2 * i], *hf = &f[2 * i + 1];
        long mcode = 0, hcode = 0;
        if (mf->h)
            curl_easy_getinfo(mf->h, CURLINFO_RESPONSE_CODE, &mcode);
        if (hf->h)
            curl_easy_getinfo(hf->h, CURLINFO_RESPONSE_CODE, &hcode);
        json_t *c = json_pack("{s:s, s:s, s:b}", "name", app->components[i].name, "url",
                              app->components[i].url, "up", mcode == 200);
        const char *health = "unreachable";
        json_t *reason = NULL;
        if (hcode == 200 || hcode == 503) {
            json_t *hj = hf->body.p ? json_loadb(hf->body.p, hf->body.len, 0, NULL) : NULL;
            health = hcode == 200 ? "ok" : "degraded";
            const char *r = json_string_value(json_object_get(hj, "reason"));
            if (r)
                reason = json_stringn(r, strnlen(r, 200));
            json_decref(hj);
        }
        json_object_set_new(c, "health", json_string(health));
        json_object_set_new(c, "reason", reason ? reason : json_null());
        json_object_set_new(
            c, "metrics",
            mcode == 200 && mf->body.p
                ? s4f_web_prom_parse(mf->body.p, mf->body.len, S4F_WEB_PROM_MAX_SERIES)
                : json_array());
        json_array_append_new(list, c);
    }
    /* The dashboard itself, read in process. */
    size_t len = 0;
    char *own = s4f_metrics_render(app->metrics, &len);
    json_array_append_new(
        list,
        json_pack("{s:s, s:s, s:b, s:s, s:n, s:o}", "name", "web", "url", "(this process)", "up", 1,
                  "health", "ok", "reason", "metrics",
                  own ? s4f_web_prom_parse(own, len, S4F_WEB_PROM_MAX_SERIES) : json_array()));
    free(own);
out:
    for (size_t i = 0; f && i < 2 * n; i++) {
        if (f[i].h) {
            curl_multi_remove_handle(m, f[i].h);
            curl_easy_cleanup(f[i].h);
        }
        s4f_buf_free(&f[i].body);
    }
    free(f);
    if (m)
        curl_multi_cleanup(m);
    if (!list)
        return NULL;
    return json_pack("{s:s, s:I, s:o}", "time", s4f_iso8601_ms(s4f_wall_ms(), ts, sizeof(ts)),
                     "time_ms", (json_int_t)s4f_wall_ms(), "components", list);
}
