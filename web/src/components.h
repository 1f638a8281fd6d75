/* The System page's view of the pipeline: each configured component's /health and /metrics,
 * fetched in parallel with a short timeout, and the dashboard's own metrics read in process.
 *
 * Metric text from another daemon is untrusted input too: answers are capped in size, only
 * series named s4f_* are kept, and at most S4F_WEB_PROM_MAX_SERIES of them per component. */
#ifndef S4F_WEB_COMPONENTS_H
#define S4F_WEB_COMPONENTS_H

#include "web.h"

#include <jansson.h>
#include <stddef.h>

#define S4F_WEB_PROM_MAX_SERIES 400
#define S4F_WEB_PROM_MAX_BYTES  (1u << 20)

/* [{"name":..., "labels":"k=\"v\",...", "value":...}] from Prometheus exposition text. */
json_t *s4f_web_prom_parse(const char *text, size_t len, size_t max_series);
/* Parses "name=URL" (name of [a-z0-9_-], URL http:// or https://). 0 or -1 with err. */
int s4f_web_component_parse(const char *spec, struct s4f_web_component *out, char *err,
                            size_t errlen);
/* {"time": iso, "components": [{"name","url","up","health","reason","metrics":[...]}]} */
json_t *s4f_web_components_read(const struct s4f_web_app *app);

#endif
