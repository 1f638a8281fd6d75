/* A minimal Elasticsearch client for the dashboard's read-only queries (libcurl).
 *
 * Only _search is needed. Bodies are jansson objects built by query.c; nothing a browser sends
 * reaches Elasticsearch without going through them. Requests go to the first configured URL that
 * answers; a node that refuses the connection is skipped for the next request.
 *
 * Thread-safety: s4f_web_es_search() may be called from any number of threads at once. Easy
 * handles are pooled (so keep-alive connections are reused) behind a mutex.
 * (The sink has its own client; the lead plans to unify them.) */
#ifndef S4F_WEB_ES_H
#define S4F_WEB_ES_H

#include "daemon.h"
#include "s4f.h"

#include <jansson.h>
#include <stddef.h>

/* Largest answer accepted from Elasticsearch; bigger ones are an error, not an allocation. */
#define S4F_WEB_ES_MAX_RESPONSE (32u << 20)

struct s4f_web_es;

/* conf is copied where needed; it may be freed after the call. */
struct s4f_web_es *s4f_web_es_new(const struct s4f_es_conf *conf, char *err, size_t errlen);
void s4f_web_es_free(struct s4f_web_es *es);

/* POSTs body to /<indices>/_search (indices: a comma-separated expression built by query.c).
 * Missing indices give empty results, not errors. On S4F_OK *result holds the parsed answer
 * (caller decrefs). S4F_RETRY: unreachable or overloaded (5xx, 429); S4F_ERR: refused. */
enum s4f_status s4f_web_es_search(struct s4f_web_es *es, const char *indices, const json_t *body,
                                  json_t **result, char *err, size_t errlen);

#endif
