/* The dashboard's read-only Elasticsearch queries, over the common client (common/es.h).
 *
 * Only _search is needed. Bodies are jansson objects built by query.c; nothing a browser sends
 * reaches Elasticsearch without going through them. This file turns a body into a request and
 * the answer into JSON; connections, failover, authentication and TLS are the client's.
 *
 * Thread-safety: s4f_web_es_search() may be called from any number of threads at once; each
 * call borrows a client from a pool (so keep-alive connections are reused). */
#ifndef S4F_WEB_SEARCH_H
#define S4F_WEB_SEARCH_H

#include "es.h"
#include "s4f.h"

#include <jansson.h>
#include <stddef.h>

/* Largest answer accepted from Elasticsearch; bigger ones are an error, not an allocation. */
#define S4F_WEB_ES_MAX_RESPONSE (32u << 20)
/* Idle clients (each with its connection) kept for the server's threads. */
#define S4F_WEB_ES_POOL 64

struct s4f_web_es;

/* conf must outlive the result (it is the daemon's elasticsearch: section). */
struct s4f_web_es *s4f_web_es_new(const struct s4f_es_conf *conf, char *err, size_t errlen);
void s4f_web_es_free(struct s4f_web_es *es);

/* POSTs body to /<indices>/_search (indices: a comma-separated expression built by query.c).
 * Missing indices give empty results, not errors. On S4F_OK *result holds the parsed answer
 * (caller decrefs). S4F_RETRY: unreachable or overloaded (5xx, 429); S4F_ERR: refused, or an
 * answer too large or unparsable. */
enum s4f_status s4f_web_es_search(struct s4f_web_es *es, const char *indices, const json_t *body,
                                  json_t **result, char *err, size_t errlen);

#endif
