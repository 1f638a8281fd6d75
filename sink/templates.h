/* Index templates: JSON files of sink/templates/ embedded at build time (sink/embed.cmake),
 * rendered for an index prefix and installed at start.
 *
 * A file "component-<name>.json" becomes the component template "<prefix>-<name>", a file
 * "index-<name>.json" the composable index template "<prefix>-<name>"; "{{prefix}}" inside is
 * replaced by the prefix. Each rendered template carries _meta.s4f_hash, a hash of its content:
 * installation reads the template back and PUTs it only when the hash differs, so a restart does
 * not rewrite templates and a new sink version updates them. */
#ifndef S4F_SINK_TEMPLATES_H
#define S4F_SINK_TEMPLATES_H

#include "es.h"
#include "s4f.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct s4f_tpl_file {
    const char *name; /* file name, e.g. "index-host_stats.json" */
    const char *text;
    size_t len;
};
extern const struct s4f_tpl_file s4f_tpl_files[];
extern const size_t s4f_tpl_nfiles;

/* Renders file f for prefix into a new JSON object (the caller decrefs), with _meta.s4f_hash set;
 * path receives the API path ("/_index_template/<prefix>-host_stats"). NULL if the file is not
 * JSON or not a template file (a build error, reported in err). */
json_t *s4f_tpl_render(const struct s4f_tpl_file *f, const char *prefix, char *path, size_t pathlen,
                       char *err, size_t errlen);

/* True when type is a result type the sink indexes: an embedded "index-<type>.json" exists
 * whose index pattern is exactly "{{prefix}}-<type>-*". Raw flows ("flows") and the catch-all
 * "<prefix>-*" are not result types. The results of declarative rules, rule_<name>
 * ([a-z0-9_]), all share index-rule.json, whose pattern is "{{prefix}}-rule_*". Results of any
 * other @type are refused (dead-lettered), so that a message cannot create an index whose
 * mapping is left to guesswork (a string src_ip mapped as keyword breaks every query that
 * expects an ip across "<prefix>-*"). */
bool s4f_tpl_result_type(const char *type);

struct s4f_tpl_result {
    int installed; /* PUT because missing or changed */
    int unchanged;
};

/* Installs every embedded template, component templates first. S4F_OK, S4F_RETRY (node not
 * reachable or answering 5xx/429: try again later) or S4F_ERR (the node refused a template: a
 * configuration or compatibility problem that waiting will not fix; err says which). */
enum s4f_status s4f_tpl_install(struct s4f_es_client *es, const char *prefix,
                                struct s4f_tpl_result *res, char *err, size_t errlen);

#endif
