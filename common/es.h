/* The Elasticsearch / OpenSearch HTTP client of the sink and the web server, and the
 * `elasticsearch:` settings they share.
 *
 * A client is one libcurl easy handle kept alive across requests, with failover across node
 * URLs, basic or API-key authentication, TLS options and optional gzip request bodies. A client
 * is not thread-safe: one thread uses it at a time. Threads that come and go (the web server's
 * connection threads) borrow clients from a pool instead.
 *
 * Failover: requests go to the current node; when it cannot be reached (connect error, timeout,
 * TLS failure) the next URL is tried, each node at most once per request. A node that answered
 * with any HTTP status, even 5xx, counts as reachable: status handling belongs to the caller.
 *
 * Authentication: a non-empty api_key is sent as "Authorization: ApiKey <key>" and wins;
 * otherwise a username means HTTP basic authentication; otherwise none. An empty api_key ("")
 * counts as unset. */
#ifndef S4F_ES_H
#define S4F_ES_H

#include "buf.h"
#include "config.h"
#include "s4f.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shared `elasticsearch:` section (table s4f_es_opts). */
struct s4f_es_conf {
    struct s4f_strlist urls;
    char *username;
    char *password;
    char *api_key;
    char *ca_file;
    char *client_cert;
    char *client_key;
    bool tls_verify;
    int64_t timeout_ms;
    char *index_prefix;
};
extern const struct s4f_opt s4f_es_opts[];

/* Checks what the table cannot: index_prefix names indices and templates, so it must be 1-100
 * characters of [a-z0-9_.-], not starting with -, _ or . (s4f_daemon_init() calls it for every
 * daemon that reads the section). 0, or -1 and err. */
int s4f_es_conf_validate(const struct s4f_es_conf *c, char *err, size_t errlen);

struct s4f_es_client;

struct s4f_es_client_opts {
    bool gzip;              /* compress request bodies larger than 1 KiB (Content-Encoding) */
    size_t max_response;    /* bigger answers are cut and reported (too_big); 0: 64 MiB */
    const char *user_agent; /* NULL: "stream4flow"; must outlive the client */
};

/* An answer. body holds it NUL-terminated; reuse one response across requests and release it
 * with s4f_es_response_free(). */
struct s4f_es_response {
    long status; /* HTTP status; 0 when no node answered */
    struct s4f_buf body;
    bool too_big;    /* the answer exceeded max_response (then S4F_RETRY) */
    char node[256];  /* URL of the node that answered (or was tried last) */
    char error[256]; /* transport error when status is 0 */
    double seconds;  /* duration of the successful attempt */
};

/* conf is copied (strings duplicated): it may be freed after the call. */
struct s4f_es_client *s4f_es_client_new(const struct s4f_es_conf *conf,
                                        const struct s4f_es_client_opts *opts, char *err,
                                        size_t errlen);
void s4f_es_client_free(struct s4f_es_client *c);

/* Sends method path (path starts with '/', may carry a query string) with an optional body.
 * content_type NULL means application/json. S4F_OK: a node answered (resp->status is set, any
 * value). S4F_RETRY: no node could be reached or the answer was too big; resp->error says why.
 * S4F_ERR: a local failure (out of memory). */
enum s4f_status s4f_es_request(struct s4f_es_client *c, const char *method, const char *path,
                               const char *content_type, const void *body, size_t len,
                               struct s4f_es_response *resp);

void s4f_es_response_free(struct s4f_es_response *resp);

/* Index of the node currently in use (tests). */
size_t s4f_es_client_node(const struct s4f_es_client *c);

/* A pool of clients for many threads: s4f_es_pool_get() lends an idle client (or makes one),
 * s4f_es_pool_put() gives it back; at most max_idle idle clients are kept (so their connections
 * stay open), the others are freed. A client taken from the pool starts on the node that
 * answered last. Thread-safe. conf and opts are read again for every new client: they must
 * outlive the pool. */
struct s4f_es_pool;

/* Checks conf by making a first client; NULL and err when conf is unusable. */
struct s4f_es_pool *s4f_es_pool_new(const struct s4f_es_conf *conf,
                                    const struct s4f_es_client_opts *opts, size_t max_idle,
                                    char *err, size_t errlen);
/* Frees the idle clients; every lent client must have been given back. NULL-safe. */
void s4f_es_pool_free(struct s4f_es_pool *p);
/* NULL when out of memory. */
struct s4f_es_client *s4f_es_pool_get(struct s4f_es_pool *p);
void s4f_es_pool_put(struct s4f_es_pool *p, struct s4f_es_client *c);

#endif
