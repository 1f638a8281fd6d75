/* Elasticsearch / OpenSearch HTTP client: one libcurl easy handle kept alive across requests,
 * failover across node URLs, basic or API-key authentication, TLS options and optional gzip
 * request bodies.
 *
 * It depends only on common/ (struct s4f_es_conf, logging, status codes) so that it can move to
 * common/ when s4f-web needs it. Not thread-safe: one client per thread.
 *
 * Failover: requests go to the current node; when it cannot be reached (connect error, timeout,
 * TLS failure) the next URL is tried, each node at most once per request. A node that answered
 * with any HTTP status, even 5xx, counts as reachable: status handling belongs to the caller. */
#ifndef S4F_ES_CLIENT_H
#define S4F_ES_CLIENT_H

#include "daemon.h"
#include "s4f.h"

#include <stdbool.h>
#include <stddef.h>

struct s4f_es_client;

struct s4f_es_client_opts {
    bool gzip;              /* compress request bodies larger than 1 KiB (Content-Encoding) */
    size_t max_response;    /* bigger answers are cut and reported as S4F_RETRY; 0: 64 MiB */
    const char *user_agent; /* NULL: "stream4flow" */
};

/* An answer. body is NUL-terminated and owned by the response: reuse one response across
 * requests and release it with s4f_es_response_free(). */
struct s4f_es_response {
    long status; /* HTTP status; 0 when no node answered */
    char *body;
    size_t len, cap;
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

/* gzip-compresses in into *buf, a malloc'ed buffer of *cap bytes grown as needed (the caller
 * frees it); *outlen receives the compressed length. 0 or -1. Exposed for tests. */
int s4f_es_gzip(const void *in, size_t len, int level, unsigned char **buf, size_t *cap,
                size_t *outlen);

#endif
