#include "es_client.h"

#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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
    unsigned char *gz; /* compression buffer, reused */
    size_t gzcap;
};

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
    free(c->gz);
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
    if (conf->api_key && *conf->api_key) {
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
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->len = resp->cap = 0;
}

struct answer_ctx {
    struct s4f_es_response *r;
    size_t max;
    int too_big;
    int oom;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct answer_ctx *s = ud;
    struct s4f_es_response *r = s->r;
    size_t n = size * nmemb;
    if (r->len + n + 1 > s->max) {
        s->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            s->oom = 1;
            return 0;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

int s4f_es_gzip(const void *in, size_t len, int level, unsigned char **buf, size_t *cap,
                size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: zlib writes a gzip header and trailer. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&zs, (uLong)len) + 32;
    if (*cap < bound || !*buf) {
        unsigned char *b = realloc(*buf, bound);
        if (!b) {
            deflateEnd(&zs);
            return -1;
        }
        *buf = b;
        *cap = bound;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = *buf;
    zs.avail_out = (uInt)*cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END)
        return -1;
    *outlen = produced;
    return 0;
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
    size_t gzlen = 0;

    resp->status = 0;
    resp->len = 0;
    resp->error[0] = '\0';
    resp->node[0] = '\0';
    resp->seconds = 0;
    if (resp->body)
        resp->body[0] = '\0';

    snprintf(ct, sizeof(ct), "Content-Type: %s", content_type ? content_type : "application/json");
    /* Elasticsearch answers "Expect: 100-continue" fine, but the extra round trip costs
     * latency on every bulk request. */
    if (add_header(&headers, ct) || add_header(&headers, "Expect:") ||
        (c->auth_header && add_header(&headers, c->auth_header->data))) {
        st = S4F_ERR;
        goto out;
    }
    if (body && c->opts.gzip && len >= GZIP_MIN_BYTES) {
        if (s4f_es_gzip(body, len, 1, &c->gz, &c->gzcap, &gzlen) != 0) {
            snprintf(resp->error, sizeof(resp->error), "gzip failed");
            st = S4F_ERR;
            goto out;
        }
        send = c->gz;
        sendlen = gzlen;
        if (add_header(&headers, "Content-Encoding: gzip")) {
            st = S4F_ERR;
            goto out;
        }
    }

    struct answer_ctx sc = {.r = resp, .max = c->opts.max_response};
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
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
        resp->len = 0;
        sc.too_big = sc.oom = 0;
        CURLcode rc = curl_easy_perform(h);
        if (sc.oom) {
            snprintf(resp->error, sizeof(resp->error), "out of memory reading the answer");
            st = S4F_ERR;
            goto out;
        }
        if (sc.too_big) {
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
            if (!resp->body) {
                /* Callers may read body as a string even after an empty answer. */
                if (!(resp->body = malloc(1))) {
                    st = S4F_ERR;
                    goto out;
                }
                resp->cap = 1;
            }
            resp->body[resp->len] = '\0';
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
