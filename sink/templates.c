#include "templates.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S4F_TPL_NAME_MAX 128

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Replaces every "{{prefix}}" of text[0..len) by prefix. Caller frees. */
static char *substitute(const char *text, size_t len, const char *prefix)
{
    static const char mark[] = "{{prefix}}";
    size_t ml = sizeof(mark) - 1, pl = strlen(prefix), count = 0;
    for (const char *p = text; (p = strstr(p, mark)); p += ml)
        count++;
    size_t outlen = len + count * pl + 1;
    char *out = malloc(outlen), *w = out;
    if (!out)
        return NULL;
    const char *r = text, *end = text + len;
    while (r < end) {
        const char *m = strstr(r, mark);
        if (!m || m >= end)
            m = end;
        memcpy(w, r, (size_t)(m - r));
        w += m - r;
        if (m == end)
            break;
        memcpy(w, prefix, pl);
        w += pl;
        r = m + ml;
    }
    *w = '\0';
    return out;
}

json_t *s4f_tpl_render(const struct s4f_tpl_file *f, const char *prefix, char *path, size_t pathlen,
                       char *err, size_t errlen)
{
    const char *kind;
    size_t skip;
    if (strncmp(f->name, "component-", 10) == 0) {
        kind = "_component_template";
        skip = 10;
    } else if (strncmp(f->name, "index-", 6) == 0) {
        kind = "_index_template";
        skip = 6;
    } else {
        snprintf(err, errlen, "template file %s: name must start with component- or index-",
                 f->name);
        return NULL;
    }
    const char *dot = strrchr(f->name, '.');
    int base = (int)((dot ? (size_t)(dot - f->name) : strlen(f->name)) - skip);
    snprintf(path, pathlen, "/%s/%s-%.*s", kind, prefix, base, f->name + skip);

    json_error_t je;
    char *text = substitute(f->text, f->len, prefix);
    json_t *t = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    if (!json_is_object(t)) {
        snprintf(err, errlen, "template file %s is not a JSON object", f->name);
        json_decref(t);
        return NULL;
    }
    /* The hash covers the rendered content in canonical form (sorted keys), so it changes
     * exactly when what would be installed changes. */
    char *canon = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    if (!canon) {
        json_decref(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char hash[32];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)fnv1a(canon));
    free(canon);
    json_t *meta = json_object_get(t, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(t, "_meta", meta);
    }
    json_object_set_new(meta, "s4f_hash", json_string(hash));
    json_object_set_new(meta, "managed_by", json_string("s4f-sink"));
    return t;
}

bool s4f_tpl_result_type(const char *type)
{
    char name[S4F_TPL_NAME_MAX], pattern[S4F_TPL_NAME_MAX];
    if (strcmp(type, "flows") == 0)
        return false;
    /* Results of declarative rules (worker rules analysis, docs/rules.md): rule_<name>, all
     * under the one generic template index-rule.json ("{{prefix}}-rule_*"). */
    if (strncmp(type, "rule_", 5) == 0 && type[5]) {
        for (const char *p = type + 5; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                return false;
        for (size_t i = 0; i < s4f_tpl_nfiles; i++)
            if (strcmp(s4f_tpl_files[i].name, "index-rule.json") == 0)
                return strstr(s4f_tpl_files[i].text, "\"{{prefix}}-rule_*\"") != NULL;
        return false;
    }
    int n = snprintf(name, sizeof(name), "index-%s.json", type);
    int m = snprintf(pattern, sizeof(pattern), "\"{{prefix}}-%s-*\"", type);
    if (n <= 0 || (size_t)n >= sizeof(name) || m <= 0 || (size_t)m >= sizeof(pattern))
        return false;
    for (size_t i = 0; i < s4f_tpl_nfiles; i++)
        if (strcmp(s4f_tpl_files[i].name, name) == 0)
            return strstr(s4f_tpl_files[i].text, pattern) != NULL;
    return false;
}

/* Reads _meta.s4f_hash of an installed template out of a GET answer. */
static const char *installed_hash(json_t *answer, int component)
{
    json_t *list = json_object_get(answer, component ? "component_templates" : "index_templates");
    json_t *first = json_array_get(list, 0);
    json_t *tpl = json_object_get(first, component ? "component_template" : "index_template");
    return json_string_value(json_object_get(json_object_get(tpl, "_meta"), "s4f_hash"));
}

static enum s4f_status install_one(struct s4f_es_client *es, const struct s4f_tpl_file *f,
                                   const char *prefix, struct s4f_tpl_result *res,
                                   struct s4f_es_response *resp, char *err, size_t errlen)
{
    enum s4f_status st = S4F_ERR;
    char path[512];
    char *body = NULL;
    json_t *answer = NULL;
    json_t *t = s4f_tpl_render(f, prefix, path, sizeof(path), err, errlen);
    if (!t)
        goto out;
    int component = strncmp(f->name, "component-", 10) == 0;
    const char *want = json_string_value(json_object_get(json_object_get(t, "_meta"), "s4f_hash"));

    st = s4f_es_request(es, "GET", path, NULL, NULL, 0, resp);
    if (st != S4F_OK) {
        snprintf(err, errlen, "GET %s: %s", path, resp->error);
        goto out;
    }
    if (resp->status == 200) {
        answer = json_loadb(resp->body.p, resp->body.len, 0, NULL);
        const char *have = installed_hash(answer, component);
        if (have && strcmp(have, want) == 0) {
            res->unchanged++;
            s4f_debug("template %s unchanged (%s)", path, want);
            st = S4F_OK;
            goto out;
        }
    } else if (resp->status != 404) {
        snprintf(err, errlen, "GET %s: HTTP %ld: %.200s", path, resp->status, resp->body.p);
        st = resp->status == 429 || resp->status >= 500 ? S4F_RETRY : S4F_ERR;
        goto out;
    }
    body = json_dumps(t, JSON_COMPACT);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        st = S4F_ERR;
        goto out;
    }
    st = s4f_es_request(es, "PUT", path, NULL, body, strlen(body), resp);
    if (st != S4F_OK) {
        snprintf(err, errlen, "PUT %s: %s", path, resp->error);
        goto out;
    }
    if (resp->status != 200) {
        snprintf(err, errlen, "PUT %s: HTTP %ld: %.300s", path, resp->status, resp->body.p);
        st = resp->status == 429 || resp->status >= 500 ? S4F_RETRY : S4F_ERR;
        goto out;
    }
    res->installed++;
    s4f_info("installed template %s (hash %s)", path, want);
    st = S4F_OK;
out:
    free(body);
    json_decref(answer);
    json_decref(t);
    return st;
}

enum s4f_status s4f_tpl_install(struct s4f_es_client *es, const char *prefix,
                                struct s4f_tpl_result *res, char *err, size_t errlen)
{
    struct s4f_es_response resp = {0};
    enum s4f_status st = S4F_OK;
    memset(res, 0, sizeof(*res));
    /* Index templates name their component templates, which must exist first. */
    for (int pass = 0; pass < 2 && st == S4F_OK; pass++) {
        for (size_t i = 0; i < s4f_tpl_nfiles && st == S4F_OK; i++) {
            int component = strncmp(s4f_tpl_files[i].name, "component-", 10) == 0;
            if (component != (pass == 0))
                continue;
            st = install_one(es, &s4f_tpl_files[i], prefix, res, &resp, err, errlen);
        }
    }
    s4f_es_response_free(&resp);
    return st;
}
