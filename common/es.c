#include "es.h"

#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_RESPONSE (64u << 20)
#define GZIP_MIN_BYTES       1024

struct s4f_es_client {
    CURL *curl;
    char **urls; /* without a trailing slash */
    size_t nurls;
    size_t current;
    char *userpwd;
    struct curl_slist *auth_header; /* ApiKey header, prepended to every request */
    struct s4f_es_client_opts opts;
    struct s4f_buf gz; /* compression buffer, reused */
};

/* clang-format off */
const struct s4f_opt s4f_es_opts[] = {
    {"urls", S4F_OPT_LIST, "http://127.0.0.1:9200", 0, 0, offsetof(struct s4f_es_conf, urls),
     "Elasticsearch or OpenSearch node URLs; requests go to the first that answers", NULL},
    {"username", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_es_conf, username),
     "User for HTTP basic authentication", NULL},
    {"password", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_es_conf, password),
     "Password for HTTP basic authentication", NULL},
    {"api_key", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_es_conf, api_key),
     "Encoded API key (sent as 'Authorization: ApiKey <key>'); wins over basic authentication; "
     "empty is the same as unset", NULL},
    {"ca_file", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_es_conf, ca_file),
     "PEM file of the certificate authorities trusted for https:// URLs", NULL},
    {"client_cert", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_es_conf, client_cert),
     "PEM client certificate for mutual TLS", NULL},
    {"client_key", S4F_OPT_STRING, NULL, 0, 0, offsetof(struct s4f_es_conf, client_key),
     "PEM private key of the client certificate", NULL},
    {"tls_verify", S4F_OPT_BOOL, "true", 0, 0, offsetof(struct s4f_es_conf, tls_verify),
     "Verify the server certificate and host name", NULL},
    {"timeout", S4F_OPT_DURATION, "30s", 100, 600000, offsetof(struct s4f_es_conf, timeout_ms),
     "Timeout of one HTTP request", NULL},
    {"index_prefix", S4F_OPT_STRING, "stream4flow", 0, 0,
     offsetof(struct s4f_es_conf, index_prefix),
     "Prefix of index and template names", NULL},
    S4F_OPT_END,
};
/* clang-format on */

int s4f_es_conf_validate(const struct s4f_es_conf *c, char *err, size_t errlen)
{
    const char *p = c->index_prefix;
    size_t n = p ? strlen(p) : 0;
    int ok = n > 0 && n <= 100 && p[0] != '-' && p[0] != '_' && p[0] != '.';
    for (size_t i = 0; ok && i < n; i++)
        ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
             p[i] == '-' || p[i] == '.';
    if (!ok) {
        snprintf(err, errlen,
                 "elasticsearch.index_prefix: want 1-100 characters of [a-z0-9_.-], not starting "
                 "with -, _ or .");
        return -1;
    }
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_trimmed(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, url, n);
        s[n] = '\0';
    }
    return s;
}

void s4f_es_client_free(struct s4f_es_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    for (size_t i = 0; i < c->nurls; i++)
        free(c->urls[i]);
    free(c->urls);
    if (c->userpwd) {
        /* The password sat in this buffer: do not leave it in freed memory. */
        memset(c->userpwd, 0, strlen(c->userpwd));
        free(c->userpwd);
    }
    curl_slist_free_all(c->auth_header);
    s4f_buf_free(&c->gz);
    free(c);
}

struct s4f_es_client *s4f_es_client_new(const struct s4f_es_conf *conf,
                                        const struct s4f_es_client_opts *opts, char *err,
                                        size_t errlen)
{
    struct s4f_es_client *c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    pthread_once(&curl_once, curl_init_once);
    if (opts)
        c->opts = *opts;
    if (!c->opts.max_response)
        c->opts.max_response = DEFAULT_MAX_RESPONSE;
    if (!c->opts.user_agent)
        c->opts.user_agent = "stream4flow";
    if (conf->urls.n == 0) {
        snprintf(err, errlen, "elasticsearch.urls is empty");
        goto fail;
    }
    c->urls = calloc(conf->urls.n, sizeof(char *));
    if (!c->urls)
        goto oom;
    for (size_t i = 0; i < conf->urls.n; i++) {
        const char *u = conf->urls.v[i];
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
            snprintf(err, errlen, "elasticsearch url '%s' must start with http:// or https://", u);
            goto fail;
        }
        if (!(c->urls[i] = dup_trimmed(u)))
            goto oom;
        c->nurls++;
    }
    if (conf->api_key && *conf->api_key) { /* "" counts as unset, as documented */
        size_t n = strlen(conf->api_key) + 32;
        char *h = malloc(n);
        if (!h)
            goto oom;
        snprintf(h, n, "Authorization: ApiKey %s", conf->api_key);
        c->auth_header = curl_slist_append(NULL, h);
        memset(h, 0, n);
        free(h);
        if (!c->auth_header)
            goto oom;
    } else if (conf->username) {
        const char *pw = conf->password ? conf->password : "";
        size_t n = strlen(conf->username) + strlen(pw) + 2;
        if (!(c->userpwd = malloc(n)))
            goto oom;
        snprintf(c->userpwd, n, "%s:%s", conf->username, pw);
    }
    if (!(c->curl = curl_easy_init()))
        goto oom;
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)conf->timeout_ms);
    /* A dead node must not eat the whole request timeout before failover. */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(conf->timeout_ms < 5000 ? conf->timeout_ms : 5000));
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->opts.user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip answers when the node offers */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    if (c->userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
    }
    if (conf->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, conf->ca_file);
    if (conf->client_cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, conf->client_cert);
    if (conf->client_key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, conf->client_key);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, conf->tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, conf->tls_verify ? 2L : 0L);
    return c;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    s4f_es_client_free(c);
    return NULL;
}

size_t s4f_es_client_node(const struct s4f_es_client *c)
{
    return c->current;
}

void s4f_es_response_free(struct s4f_es_response *resp)
{
    if (resp)
        s4f_buf_free(&resp->body);
}

/* curl_slist_append() returns NULL on failure and leaves the list alone: keep it to free it. */
static int add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *l = curl_slist_append(*list, h);
    if (!l)
        return -1;
    *list = l;
    return 0;
}

enum s4f_status s4f_es_request(struct s4f_es_client *c, const char *method, const char *path,
                               const char *content_type, const void *body, size_t len,
                               struct s4f_es_response *resp)
{
    CURL *h = c->curl;
    struct curl_slist *headers = NULL;
    enum s4f_status st = S4F_RETRY;
    char ct[128], url[2048];
    const void *send = body;
    size_t sendlen = body ? len : 0;

    resp->status = 0;
    resp->too_big = false;
    resp->error[0] = '\0';
    resp->node[0] = '\0';
    resp->seconds = 0;
    s4f_buf_reset(&resp->body);

    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
    /* Elasticsearch answers "Expect: 100-continue" fine, but the extra round trip costs
     * latency on every bulk request. */
    if (add_header(&headers, ct) || add_header(&headers, "Expect:") ||
        (c->auth_header && add_header(&headers, c->auth_header->data))) {
        st = S4F_ERR;
        goto out;
    }
    if (body && c->opts.gzip && len >= GZIP_MIN_BYTES) {
        if (s4f_gzip(body, len, 1, &c->gz) != 0) {
            snprintf(resp->error, sizeof(resp->error), "gzip failed");
            st = S4F_ERR;
            goto out;
        }
        send = c->gz.p;
        sendlen = c->gz.len;
        if (add_header(&headers, "Content-Encoding: gzip")) {
            st = S4F_ERR;
            goto out;
        }
    }

    struct s4f_buf_sink sc = {.buf = &resp->body, .max = c->opts.max_response};
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s4f_buf_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sc);
    /* HTTPGET resets the handle's request kind left over from the previous call; a body turns
     * it into a POST, and CUSTOMREQUEST then names the real method (PUT, DELETE...). */
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sendlen);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, send);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? NULL : method);

    for (size_t tried = 0; tried < c->nurls; tried++) {
        size_t node = (c->current + tried) % c->nurls;
        snprintf(url, sizeof(url), "%s%s", c->urls[node], path);
        s4f_strlcpy(resp->node, c->urls[node], sizeof(resp->node));
        curl_easy_setopt(h, CURLOPT_URL, url);
        s4f_buf_reset(&resp->body);
        sc.too_big = sc.oom = false;
        CURLcode rc = curl_easy_perform(h);
        if (sc.oom) {
            snprintf(resp->error, sizeof(resp->error), "out of memory reading the answer");
            st = S4F_ERR;
            goto out;
        }
        if (sc.too_big) {
            resp->too_big = true;
            snprintf(resp->error, sizeof(resp->error), "answer larger than %zu bytes",
                     c->opts.max_response);
            st = S4F_RETRY;
            goto out;
        }
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
            curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &resp->seconds);
            if (node != c->current) {
                s4f_info("elasticsearch: switched to node %s", c->urls[node]);
                c->current = node;
            }
            /* Callers may read body as a string even after an empty answer. */
            if (s4f_buf_reserve(&resp->body, 0) != 0) {
                st = S4F_ERR;
                goto out;
            }
            st = S4F_OK;
            goto out;
        }
        snprintf(resp->error, sizeof(resp->error), "%s: %s", c->urls[node], curl_easy_strerror(rc));
        s4f_warn_rl("elasticsearch %s %s: %s", method, resp->node, curl_easy_strerror(rc));
    }
out:
    curl_slist_free_all(headers);
    /* The handle keeps pointers to these: clear them so nothing dangles between calls. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    return st;
}

struct s4f_es_pool {
    const struct s4f_es_conf *conf;
    const struct s4f_es_client_opts *opts;
    pthread_mutex_t lock;
    size_t current; /* node that answered last */
    size_t nidle, max_idle;
    struct s4f_es_client *idle[]; /* max_idle slots */
};

struct s4f_es_pool *s4f_es_pool_new(const struct s4f_es_conf *conf,
                                    const struct s4f_es_client_opts *opts, size_t max_idle,
                                    char *err, size_t errlen)
{
    struct s4f_es_pool *p = calloc(1, sizeof(*p) + (max_idle + 1) * sizeof(p->idle[0]));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->conf = conf;
    p->opts = opts;
    p->max_idle = max_idle;
    pthread_mutex_init(&p->lock, NULL);
    /* The first client proves the settings and waits as the first idle one. */
    struct s4f_es_client *c = s4f_es_client_new(conf, opts, err, errlen);
    if (!c) {
        s4f_es_pool_free(p);
        return NULL;
    }
    p->idle[p->nidle++] = c;
    return p;
}

void s4f_es_pool_free(struct s4f_es_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        s4f_es_client_free(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

struct s4f_es_client *s4f_es_pool_get(struct s4f_es_pool *p)
{
    char err[256];
    struct s4f_es_client *c = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->nidle)
        c = p->idle[--p->nidle];
    size_t current = p->current;
    pthread_mutex_unlock(&p->lock);
    if (!c && !(c = s4f_es_client_new(p->conf, p->opts, err, sizeof(err)))) {
        s4f_error_rl("elasticsearch client: %s", err);
        return NULL;
    }
    c->current = current % c->nurls;
    return c;
}

void s4f_es_pool_put(struct s4f_es_pool *p, struct s4f_es_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&p->lock);
    p->current = c->current;
    if (p->nidle < p->max_idle || p->nidle == 0) {
        p->idle[p->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    s4f_es_client_free(c);
}
