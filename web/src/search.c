#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct s4f_web_es {
    struct s4f_es_client_opts opts; /* read by the pool for every new client */
    struct s4f_es_pool *pool;
};

struct s4f_web_es *s4f_web_es_new(const struct s4f_es_conf *conf, char *err, size_t errlen)
{
    struct s4f_web_es *es = calloc(1, sizeof(*es));
    if (!es) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    es->opts.max_response = S4F_WEB_ES_MAX_RESPONSE;
    es->opts.user_agent = "s4f-web";
    if (!(es->pool = s4f_es_pool_new(conf, &es->opts, S4F_WEB_ES_POOL, err, errlen))) {
        free(es);
        return NULL;
    }
    return es;
}

void s4f_web_es_free(struct s4f_web_es *es)
{
    if (!es)
        return;
    s4f_es_pool_free(es->pool);
    free(es);
}

enum s4f_status s4f_web_es_search(struct s4f_web_es *es, const char *indices, const json_t *body,
                                  json_t **result, char *err, size_t errlen)
{
    enum s4f_status st = S4F_ERR;
    struct s4f_es_response resp = {0};
    char path[2048];
    char *text = json_dumps(body, JSON_COMPACT);
    struct s4f_es_client *c = s4f_es_pool_get(es->pool);
    *result = NULL;
    if (!text || !c) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    snprintf(path, sizeof(path),
             "/%s/_search?ignore_unavailable=true&allow_no_indices=true&expand_wildcards=open",
             indices);
    st = s4f_es_request(c, "POST", path, NULL, text, strlen(text), &resp);
    if (st != S4F_OK) {
        snprintf(err, errlen, "%s", resp.error[0] ? resp.error : "out of memory");
        /* An answer too large stays too large when asked again. */
        if (resp.too_big)
            st = S4F_ERR;
        goto out;
    }
    if (resp.status == 200) {
        json_error_t je;
        if (!(*result = json_loadb(resp.body.p, resp.body.len, 0, &je))) {
            snprintf(err, errlen, "unparsable answer: %s", je.text);
            st = S4F_ERR;
        }
    } else {
        /* Keep the reason short: it ends up in logs, not in answers to the browser. */
        snprintf(err, errlen, "HTTP %ld: %.300s", resp.status, resp.body.p);
        st = (resp.status == 429 || resp.status >= 500) ? S4F_RETRY : S4F_ERR;
    }
out:
    s4f_es_pool_put(es->pool, c);
    s4f_es_response_free(&resp);
    free(text);
    return st;
}
