/* The transports of s4f-alert: HTTP webhooks (one JSON POST per alert, libcurl) and syslog,
 * RFC 5424 messages over UDP (RFC 5426: one message a datagram), TCP with octet-counting
 * framing (RFC 6587) and TLS (RFC 5425: the same framing).
 *
 * UDP has no acknowledgement: a datagram the kernel sent counts as delivered (best effort).
 *
 * TCP and TLS: each group of connection_batch messages (one by default) travels on a connection
 * of its own, and counts as delivered only once the receiver has read all of it: we send the batch,
 * close our direction (shutdown SHUT_WR) and wait for the receiver to close its own, which a syslog
 * server does only after reading our end of stream. A clean end of stream from the receiver, with
 * every byte we sent acknowledged and no reset, means its application read every message; anything
 * else (refused, reset, timeout) sends the group again. A receiver that writes what it read before
 * reading on (rsyslog with a Direct main queue) then has each message once, but for the one it was
 * writing at the very instant it was killed; docs/alerts.md explains. With await_close false
 * (receivers that never close), acknowledgement by the receiver's TCP stack is enough. Over TLS
 * our close_notify goes first.
 *
 * TCP and TLS connections are made by libcurl in CONNECT_ONLY mode (http:// and https://
 * URLs: no HTTP is spoken), so TLS verification, client certificates and proxies-off follow
 * the same options as the webhook. */
#include "alert.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

struct s4f_alert_out {
    const struct s4f_alert_dest_conf *c;
    bool webhook;
    /* syslog */
    char host[256], port[16];
    char url[300];
    int udp; /* UDP socket, -1 when closed */
    /* webhook */
    CURL *curl;
    struct curl_slist *hdrs;
};

/* "host:port" or "[v6]:port" into host (brackets kept off) and port. 0 or -1. */
static int split_address(const char *a, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    size_t hl;
    if (!a || !*a)
        return -1;
    if (a[0] == '[') {
        const char *end = strchr(a, ']');
        if (!end || end[1] != ':')
            return -1;
        hl = (size_t)(end - a - 1);
        a++;
        colon = end + 1;
    } else {
        colon = strrchr(a, ':');
        if (!colon || strchr(a, ':') != colon)
            return -1;
        hl = (size_t)(colon - a);
    }
    if (hl == 0 || hl >= hostlen || strlen(colon + 1) == 0 || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, a, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    char *end;
    long p = strtol(port, &end, 10);
    return *end || p < 1 || p > 65535 ? -1 : 0;
}

struct s4f_alert_out *s4f_syslog_out_new(const struct s4f_alert_dest_conf *c, char *err,
                                         size_t errlen)
{
    struct s4f_alert_out *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->c = c;
    o->udp = -1;
    if (split_address(c->address, o->host, sizeof(o->host), o->port, sizeof(o->port)) != 0) {
        snprintf(err, errlen, "address '%s': want host:port or [v6]:port",
                 c->address ? c->address : "");
        free(o);
        return NULL;
    }
    bool v6 = strchr(o->host, ':') != NULL;
    snprintf(o->url, sizeof(o->url), "%s://%s%s%s:%s",
             c->transport == S4F_SYSLOG_TLS ? "https" : "http", v6 ? "[" : "", o->host,
             v6 ? "]" : "", o->port);
    return o;
}

void s4f_alert_out_free(struct s4f_alert_out *o)
{
    if (!o)
        return;
    if (o->udp >= 0)
        close(o->udp);
    if (o->curl)
        curl_easy_cleanup(o->curl);
    curl_slist_free_all(o->hdrs);
    free(o);
}

/* ---- UDP ---------------------------------------------------------------------------------- */

static int udp_open(struct s4f_alert_out *o, char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
    int rc = getaddrinfo(o->host, o->port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s: %s", o->host, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            o->udp = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (o->udp < 0) {
        snprintf(why, whylen, "%s:%s: %s", o->host, o->port, strerror(errno));
        return -1;
    }
    return 0;
}

static enum s4f_status udp_send(struct s4f_alert_out *o, struct s4f_alert_item *items, size_t n,
                                char *why, size_t whylen)
{
    if (o->udp < 0 && udp_open(o, why, whylen) != 0)
        return S4F_RETRY;
    for (size_t i = 0; i < n; i++) {
        if (items[i].state != S4F_AL_PENDING)
            continue;
        if (send(o->udp, items[i].text, items[i].len, MSG_NOSIGNAL) < 0) {
            /* ECONNREFUSED: an earlier datagram met a closed port (ICMP); try again later. */
            snprintf(why, whylen, "send to %s:%s: %s", o->host, o->port, strerror(errno));
            close(o->udp);
            o->udp = -1;
            return S4F_RETRY;
        }
        items[i].state = S4F_AL_DELIVERED;
    }
    return S4F_OK;
}

/* ---- TCP and TLS -------------------------------------------------------------------------- */

static int wait_fd(int fd, short events, int64_t deadline)
{
    int64_t left = deadline - s4f_mono_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int rc = poll(&p, 1, left > 1000 ? 1000 : (int)left);
    return rc < 0 && errno != EINTR ? -1 : rc;
}

static void tls_options(CURL *h, const struct s4f_alert_dest_conf *c)
{
    if (c->tls_ca_file && *c->tls_ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->tls_ca_file);
    if (c->tls_cert_file && *c->tls_cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, c->tls_cert_file);
    if (c->tls_key_file && *c->tls_key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, c->tls_key_file);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

static int stream_write(CURL *h, int fd, const char *p, size_t len, int64_t deadline, char *why,
                        size_t whylen)
{
    while (len > 0) {
        size_t sent = 0;
        CURLcode rc = curl_easy_send(h, p, len, &sent);
        if (rc == CURLE_AGAIN) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) {
                snprintf(why, whylen, "send timed out");
                return -1;
            }
            continue;
        }
        if (rc != CURLE_OK) {
            snprintf(why, whylen, "send: %s", curl_easy_strerror(rc));
            return -1;
        }
        p += sent;
        len -= sent;
    }
    return 0;
}

/* After our shutdown(SHUT_WR): waits for the receiver's end of stream. 0 when it came cleanly
 * and every byte we sent is acknowledged, -1 otherwise. */
static int await_close(CURL *h, int fd, bool tls, bool wait_eof, int64_t deadline, char *why,
                       size_t whylen)
{
    bool curl_ok = tls;
    char buf[512];
    while (wait_eof) {
        int w = wait_fd(fd, POLLIN, deadline);
        if (w < 0 || (w == 0 && s4f_mono_ms() >= deadline)) {
            snprintf(why, whylen,
                     "receiver did not close its side in time (one that never does needs "
                     "await_close: false)");
            return -1;
        }
        if (w == 0)
            continue;
        ssize_t r = recv(fd, buf, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            snprintf(why, whylen, "connection: %s", strerror(errno));
            return -1;
        }
        /* Something to read: a TLS record (close_notify) for libcurl, or bytes a syslog
         * server should not send, discarded. */
        if (curl_ok) {
            size_t got = 0;
            CURLcode rc = curl_easy_recv(h, buf, sizeof(buf), &got);
            if (rc != CURLE_OK && rc != CURLE_AGAIN)
                curl_ok = false;
            if (rc == CURLE_OK && got == 0)
                continue; /* close_notify: the TCP end of stream follows */
        } else if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno != EAGAIN) {
            snprintf(why, whylen, "connection: %s", strerror(errno));
            return -1;
        }
    }
    for (;;) {
        int soerr = 0, outq = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            snprintf(why, whylen, "connection: %s", strerror(soerr ? soerr : errno));
            return -1;
        }
        if (ioctl(fd, SIOCOUTQ, &outq) != 0 || outq == 0)
            return 0;
        if (s4f_mono_ms() >= deadline) {
            snprintf(why, whylen, "%d bytes never acknowledged", outq);
            return -1;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

/* Sends items[from..to) (the pending ones) on one connection and waits for the receiver's
 * orderly close. 0 (all delivered) or -1 (none counts as delivered). */
static int stream_batch(struct s4f_alert_out *o, struct s4f_alert_item *items, size_t from,
                        size_t to, char *why, size_t whylen)
{
    const struct s4f_alert_dest_conf *c = o->c;
    bool tls = c->transport == S4F_SYSLOG_TLS;
    int64_t deadline = s4f_mono_ms() + c->timeout_ms;
    int rc = -1;
    curl_socket_t fd = CURL_SOCKET_BAD;
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    curl_easy_setopt(h, CURLOPT_URL, o->url);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    tls_options(h, c);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(why, whylen, "connect to %s: %s", o->url, curl_easy_strerror(cc));
        goto out;
    }
    if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) {
        snprintf(why, whylen, "no socket");
        goto out;
    }
    for (size_t i = from; i < to; i++) {
        char len[24];
        if (items[i].state != S4F_AL_PENDING)
            continue;
        int k = snprintf(len, sizeof(len), "%zu ", items[i].len);
        if (stream_write(h, fd, len, (size_t)k, deadline, why, whylen) != 0 ||
            stream_write(h, fd, items[i].text, items[i].len, deadline, why, whylen) != 0)
            goto out;
    }
    /* TLS: our close_notify first (libcurl's OpenSSL session), so the receiver sees an orderly
     * end rather than a truncation; then the TCP end of stream either way. The alert is written
     * through a socket BIO of our own: libcurl's BIO only works inside a libcurl call, and
     * outside one a failed write (the receiver reset meanwhile) made libcurl 7.88 report the
     * error on a NULL handle and crash (seen once in CI, a segfault in Curl_failf). */
    const struct curl_tlssessioninfo *tsi = NULL;
    if (tls && curl_easy_getinfo(h, CURLINFO_TLS_SSL_PTR, &tsi) == CURLE_OK && tsi &&
        tsi->backend == CURLSSLBACKEND_OPENSSL && tsi->internals) {
        BIO *wb = BIO_new_socket(fd, BIO_NOCLOSE);
        if (wb) {
            SSL_set0_wbio((SSL *)tsi->internals, wb); /* frees libcurl's write reference */
            SSL_shutdown((SSL *)tsi->internals);
        }
    }
    if (shutdown(fd, SHUT_WR) != 0) {
        snprintf(why, whylen, "shutdown: %s", strerror(errno));
        goto out;
    }
    if (await_close(h, fd, tls, c->await_close, deadline, why, whylen) != 0)
        goto out;
    for (size_t i = from; i < to; i++)
        if (items[i].state == S4F_AL_PENDING)
            items[i].state = S4F_AL_DELIVERED;
    rc = 0;
out:
    curl_easy_cleanup(h);
    return rc;
}

/* Pending items in groups of connection_batch, a connection each. */
static enum s4f_status stream_send(struct s4f_alert_out *o, struct s4f_alert_item *items, size_t n,
                                   char *why, size_t whylen)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && items[i].state != S4F_AL_PENDING)
            i++;
        if (i == n)
            break;
        size_t end = i, k = 0;
        while (end < n && k < (size_t)o->c->connection_batch) {
            k += items[end].state == S4F_AL_PENDING;
            end++;
        }
        if (stream_batch(o, items, i, end, why, whylen) != 0)
            return S4F_RETRY;
        i = end;
    }
    return S4F_OK;
}

/* ---- webhook ------------------------------------------------------------------------------ */

struct s4f_alert_out *s4f_webhook_out_new(const struct s4f_alert_dest_conf *c, char *err,
                                          size_t errlen)
{
    struct s4f_alert_out *o = calloc(1, sizeof(*o));
    if (!o || !(o->curl = curl_easy_init())) {
        snprintf(err, errlen, "out of memory");
        free(o);
        return NULL;
    }
    o->c = c;
    o->udp = -1;
    o->webhook = true;
    char line[1024];
    o->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; o->hdrs && i < c->headers.n; i++) {
        snprintf(line, sizeof(line), "%s: %s", c->headers.k[i], c->headers.v[i]);
        struct curl_slist *l = curl_slist_append(o->hdrs, line);
        if (!l) {
            curl_slist_free_all(o->hdrs);
            o->hdrs = NULL;
        } else {
            o->hdrs = l;
        }
    }
    if (!o->hdrs) {
        snprintf(err, errlen, "out of memory");
        s4f_alert_out_free(o);
        return NULL;
    }
    curl_easy_setopt(o->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(o->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(o->curl, CURLOPT_USERAGENT, "s4f-alert");
    curl_easy_setopt(o->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    tls_options(o->curl, c);
    return o;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ctx)
{
    (void)p;
    size_t *total = ctx;
    *total += size * nmemb;
    return *total > (1u << 20) ? 0 : size * nmemb; /* answers are not read: stop a flood */
}

static enum s4f_status webhook_send(struct s4f_alert_out *o, struct s4f_alert_item *items, size_t n,
                                    char *why, size_t whylen)
{
    char idem[S4F_ALERT_ID_MAX + 160];
    for (size_t i = 0; i < n; i++) {
        struct s4f_alert_item *it = &items[i];
        if (it->state != S4F_AL_PENDING)
            continue;
        struct curl_slist *hdrs = o->hdrs, *extra = NULL;
        if (o->c->idempotency_header && *o->c->idempotency_header) {
            snprintf(idem, sizeof(idem), "%s: %s", o->c->idempotency_header, it->id);
            extra = curl_slist_append(NULL, idem);
            if (!extra) {
                snprintf(why, whylen, "out of memory");
                return S4F_RETRY;
            }
            extra->next = o->hdrs; /* borrowed: unlinked before the free below */
            hdrs = extra;
        }
        size_t total = 0;
        curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, it->text);
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, (long)it->len);
        curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, &total);
        CURLcode rc = curl_easy_perform(o->curl);
        if (extra) {
            extra->next = NULL;
            curl_slist_free_all(extra);
        }
        curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, o->hdrs);
        if (rc != CURLE_OK) {
            snprintf(why, whylen, "POST %s: %s", o->c->url, curl_easy_strerror(rc));
            return S4F_RETRY;
        }
        long status = 0;
        curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
        it->status = status;
        if (status >= 200 && status < 300) {
            it->state = S4F_AL_DELIVERED;
        } else if (status == 408 || status == 425 || status == 429 || status >= 500) {
            snprintf(why, whylen, "POST %s: HTTP %ld", o->c->url, status);
            return S4F_RETRY;
        } else {
            it->state = S4F_AL_REFUSED;
        }
    }
    return S4F_OK;
}

enum s4f_status s4f_alert_out_send(struct s4f_alert_out *o, struct s4f_alert_item *items, size_t n,
                                   char *why, size_t whylen)
{
    why[0] = '\0';
    if (o->webhook)
        return webhook_send(o, items, n, why, whylen);
    if (o->c->transport == S4F_SYSLOG_UDP)
        return udp_send(o, items, n, why, whylen);
    return stream_send(o, items, n, why, whylen);
}
