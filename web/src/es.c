#include "es.h"

#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 64

struct s4f_web_es {
    struct s4f_strlist urls;
    char *userpwd;
    char *auth_header;
    char *ca_file, *client_cert, *client_key;
    int tls_verify;
    long timeout_ms;
    pthread_mutex_t lock;
    CURL *pool[POOL_MAX];
    size_t npool;
    size_t preferred; /* index of the URL that answered last */
};

struct buf {
    char *p;
    size_t n, cap;
    int overflow;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t len = size * nmemb;
    if (b->n + len + 1 > S4F_WEB_ES_MAX_RESPONSE) {
        b->overflow = 1;
        return 0;
    }
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, ptr, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct s4f_web_es *s4f_web_es_new(const struct s4f_es_conf *conf, char *err, size_t errlen)
{
    struct s4f_web_es *es = calloc(1, sizeof(*es));
    if (!es)
        goto oom;
    pthread_mutex_init(&es->lock, NULL);
    if (conf->urls.n == 0) {
        snprintf(err, errlen, "elasticsearch.urls is empty");
        s4f_web_es_free(es);
        return NULL;
    }
    es->urls.v = calloc(conf->urls.n, sizeof(char *));
    if (!es->urls.v)
        goto oom;
    for (size_t i = 0; i < conf->urls.n; i++) {
        /* Strip trailing slashes so that paths can be appended as they are. */
        char *u = strdup(conf->urls.v[i]);
        if (!u)
            goto oom;
        size_t l = strlen(u);
        while (l > 0 && u[l - 1] == '/')
            u[--l] = '\0';
        es->urls.v[es->urls.n++] = u;
    }
    if (conf->api_key) {
        size_t l = strlen(conf->api_key) + 32;
        es->auth_header = malloc(l);
        if (!es->auth_header)
            goto oom;
        snprintf(es->auth_header, l, "Authorization: ApiKey %s", conf->api_key);
    } else if (conf->username) {
        size_t l = strlen(conf->username) + (conf->password ? strlen(conf->password) : 0) + 2;
        es->userpwd = malloc(l);
        if (!es->userpwd)
            goto oom;
        snprintf(es->userpwd, l, "%s:%s", conf->username, conf->password ? conf->password : "");
    }
    es->ca_file = dup_or_null(conf->ca_file);
    es->client_cert = dup_or_null(conf->client_cert);
    es->client_key = dup_or_null(conf->client_key);
    es->tls_verify = conf->tls_verify;
    es->timeout_ms = (long)conf->timeout_ms;
    return es;
oom:
    snprintf(err, errlen, "out of memory");
    s4f_web_es_free(es);
    return NULL;
}

void s4f_web_es_free(struct s4f_web_es *es)
{
    if (!es)
        return;
    for (size_t i = 0; i < es->npool; i++)
        curl_easy_cleanup(es->pool[i]);
    for (size_t i = 0; i < es->urls.n; i++)
        free(es->urls.v[i]);
    free(es->urls.v);
    if (es->userpwd)
        explicit_bzero(es->userpwd, strlen(es->userpwd));
    free(es->userpwd);
    if (es->auth_header)
        explicit_bzero(es->auth_header, strlen(es->auth_header));
    free(es->auth_header);
    free(es->ca_file);
    free(es->client_cert);
    free(es->client_key);
    pthread_mutex_destroy(&es->lock);
    free(es);
}

static CURL *handle_get(struct s4f_web_es *es)
{
    CURL *h = NULL;
    pthread_mutex_lock(&es->lock);
    if (es->npool)
        h = es->pool[--es->npool];
    pthread_mutex_unlock(&es->lock);
    return h ? h : curl_easy_init();
}

static void handle_put(struct s4f_web_es *es, CURL *h)
{
    pthread_mutex_lock(&es->lock);
    if (es->npool < POOL_MAX) {
        es->pool[es->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&es->lock);
    if (h)
        curl_easy_cleanup(h);
}

enum s4f_status s4f_web_es_search(struct s4f_web_es *es, const char *indices, const json_t *body,
                                  json_t **result, char *err, size_t errlen)
{
    enum s4f_status st = S4F_RETRY;
    struct curl_slist *hdr = NULL;
    struct buf b = {0};
    char *text = json_dumps(body, JSON_COMPACT);
    CURL *h = handle_get(es);
    *result = NULL;
    if (!text || !h) {
        snprintf(err, errlen, "out of memory");
        st = S4F_ERR;
        goto out;
    }
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (es->auth_header)
        hdr = curl_slist_append(hdr, es->auth_header);
    pthread_mutex_lock(&es->lock);
    size_t first = es->preferred;
    pthread_mutex_unlock(&es->lock);
    for (size_t k = 0; k < es->urls.n; k++) {
        size_t idx = (first + k) % es->urls.n;
        char url[2048];
        snprintf(url, sizeof(url),
                 "%s/%s/_search?ignore_unavailable=true&allow_no_indices=true"
                 "&expand_wildcards=open",
                 es->urls.v[idx], indices);
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, es->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         es->timeout_ms < 5000 ? es->timeout_ms : 5000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
        if (es->userpwd)
            curl_easy_setopt(h, CURLOPT_USERPWD, es->userpwd);
        if (es->ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, es->ca_file);
        if (es->client_cert)
            curl_easy_setopt(h, CURLOPT_SSLCERT, es->client_cert);
        if (es->client_key)
            curl_easy_setopt(h, CURLOPT_SSLKEY, es->client_key);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, es->tls_verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, es->tls_verify ? 2L : 0L);
        b.n = 0;
        b.overflow = 0;
        CURLcode rc = curl_easy_perform(h);
        if (rc != CURLE_OK) {
            snprintf(err, errlen, "%s: %s", es->urls.v[idx],
                     b.overflow ? "answer too large" : curl_easy_strerror(rc));
            st = b.overflow ? S4F_ERR : S4F_RETRY;
            if (b.overflow)
                break;
            continue;
        }
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        pthread_mutex_lock(&es->lock);
        es->preferred = idx;
        pthread_mutex_unlock(&es->lock);
        if (code == 200) {
            json_error_t je;
            *result = json_loadb(b.p ? b.p : "", b.n, 0, &je);
            if (!*result) {
                snprintf(err, errlen, "unparsable answer: %s", je.text);
                st = S4F_ERR;
            } else {
                st = S4F_OK;
            }
        } else {
            /* Keep the reason short: it ends up in logs, not in answers to the browser. */
            snprintf(err, errlen, "HTTP %ld: %.300s", code, b.p ? b.p : "");
            st = (code == 429 || code >= 500) ? S4F_RETRY : S4F_ERR;
        }
        break;
    }
out:
    if (h)
        handle_put(es, h);
    curl_slist_free_all(hdr);
    free(b.p);
    free(text);
    return st;
}
