/* The dashboard's HTTP(S) server (libmicrohttpd, one thread per connection): security headers
 * on every answer, embedded static files, /health, and /api/ handed to api.c.
 *
 * An API call blocks its connection's thread while Elasticsearch answers (bounded by
 * elasticsearch.timeout); other connections are not held up. Threads are bounded by
 * max_connections and max_connections_per_ip (IPv6: per /64). A request header must be complete
 * within header_timeout, and at max_connections a new connection ends the one that has waited
 * longest for its header, so half-sent requests cannot lock out complete ones (/health).
 * Requests whose Host is not an IP address, localhost or in server_names get 421. */
#ifndef S4F_WEB_SERVER_H
#define S4F_WEB_SERVER_H

#include "web.h"

#include <stddef.h>

struct s4f_web_server;

/* Starts listening on app->conf->listen (TLS when tls_cert and tls_key are set). The app must
 * outlive the server. NULL with err on failure. */
struct s4f_web_server *s4f_web_server_start(struct s4f_web_app *app, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int s4f_web_server_port(const struct s4f_web_server *s);
/* Stops accepting, waits for running requests, frees. NULL-safe. */
void s4f_web_server_stop(struct s4f_web_server *s);

#endif
