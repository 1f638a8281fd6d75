/* Configuration: YAML (libyaml) parsed into a tree that keeps file, line and column of every node,
 * then applied to a daemon's option table.
 *
 * Each daemon describes its options in one table of struct s4f_opt: key, type, default (written
 * as it would be in YAML, so defaults go through the same parser and bounds as user values),
 * bounds, offsetof() target and help text. The same table generates --help, the configuration
 * reference in docs/ and the commented example configuration, so they cannot drift apart.
 *
 * Unknown keys and bad values are errors naming file:line:column. All errors of a section are
 * collected, not just the first. The file is hostile input too: size, depth and node count are
 * capped, and YAML aliases (the "billion laughs" expansion) are refused.
 *
 * Ownership: s4f_conf_apply() allocates strings and lists inside the target struct;
 * s4f_conf_release() frees them with the same table. A document owns its nodes; nodes stay
 * valid until s4f_conf_doc_free(). */
#ifndef S4F_CONFIG_H
#define S4F_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum s4f_opt_type {
    S4F_OPT_BOOL,     /* bool */
    S4F_OPT_INT,      /* int64_t, bounds inclusive */
    S4F_OPT_DOUBLE,   /* double, bounds inclusive */
    S4F_OPT_STRING,   /* char * (NULL when unset and no default) */
    S4F_OPT_ENUM,     /* int: index into choices */
    S4F_OPT_DURATION, /* int64_t milliseconds; "250ms", "10s", "5m", "2h", "1d"; a bare number is s
                       */
    S4F_OPT_SIZE,     /* int64_t bytes; "512", "64k", "16M", "1G" (powers of 1024) */
    S4F_OPT_LIST,     /* struct s4f_strlist: a sequence of scalars, or one scalar */
    S4F_OPT_MAP,      /* struct s4f_kvlist: a mapping of scalars (pass-through, e.g. librdkafka) */
    S4F_OPT_NODE,     /* const struct s4f_node *: kept raw for a nested table applied later */
};

struct s4f_strlist {
    size_t n;
    char **v;
};

struct s4f_kvlist {
    size_t n;
    char **k;
    char **v;
};

struct s4f_opt {
    const char *key;
    enum s4f_opt_type type;
    const char *def; /* default in YAML syntax; NULL: none */
    double min, max; /* bounds for INT, DOUBLE, DURATION (ms), SIZE (bytes); min == max: none */
    size_t offset;   /* offsetof() the target field */
    const char *help;
    const char *const *choices; /* ENUM: NULL-terminated */
};

#define S4F_OPT_END                                                                                \
    {                                                                                              \
        NULL, 0, NULL, 0, 0, 0, NULL, NULL                                                         \
    }

enum s4f_node_kind { S4F_NODE_SCALAR, S4F_NODE_SEQ, S4F_NODE_MAP };

struct s4f_node {
    enum s4f_node_kind kind;
    char *value; /* SCALAR */
    bool quoted; /* SCALAR written in quotes: never null/bool by accident */
    size_t n;    /* SEQ: items, MAP: pairs */
    struct s4f_node **items;
    char **keys; /* MAP */
    size_t *key_lines, *key_cols;
    size_t line, col; /* 1-based */
};

struct s4f_conf_doc {
    char *file;            /* name used in messages */
    struct s4f_node *root; /* a MAP; an empty file gives an empty MAP */
};

/* Limits against hostile files. */
#define S4F_CONF_MAX_BYTES (1u << 20)
#define S4F_CONF_MAX_DEPTH 32
#define S4F_CONF_MAX_NODES 100000

/* Parses a file or a string. Returns NULL and fills err ("file:line:col: message") on failure. */
struct s4f_conf_doc *s4f_conf_load(const char *path, char *err, size_t errlen);
struct s4f_conf_doc *s4f_conf_load_string(const char *text, size_t len, const char *name, char *err,
                                          size_t errlen);
void s4f_conf_doc_free(struct s4f_conf_doc *doc);

/* Value of key in a MAP node; NULL if absent or node is not a MAP. */
const struct s4f_node *s4f_node_get(const struct s4f_node *map, const char *key);

/* Fills target from section (a MAP node; NULL applies the defaults only). path is the dotted
 * prefix used in messages ("collector"). Returns 0, or -1 with every error appended to err,
 * one per line. target must be zeroed or released before. */
int s4f_conf_apply(const struct s4f_conf_doc *doc, const struct s4f_node *section, const char *path,
                   const struct s4f_opt *table, void *target, char *err, size_t errlen);
void s4f_conf_release(const struct s4f_opt *table, void *target);

/* Checks that every key of map is one of allowed (NULL-terminated). Returns 0 or -1 (err). */
int s4f_conf_check_keys(const struct s4f_conf_doc *doc, const struct s4f_node *map,
                        const char *path, const char *const *allowed, char *err, size_t errlen);

/* Output generated from tables. */
void s4f_conf_print_help(FILE *out, const char *section, const struct s4f_opt *table);
void s4f_conf_print_markdown(FILE *out, const char *section, const struct s4f_opt *table);
void s4f_conf_print_yaml(FILE *out, const char *section, const struct s4f_opt *table, int indent);

/* Helpers also used by daemons for command-line values. */
int s4f_parse_duration_ms(const char *s, int64_t *out);
int s4f_parse_size(const char *s, int64_t *out);
int s4f_parse_bool(const char *s, bool *out);

/* Reads a MAP node of scalars (e.g. the shared kafka: section) into out (release with
 * s4f_kvlist_free). node NULL or empty gives an empty list. 0 or -1 with err. */
int s4f_conf_get_map(const struct s4f_conf_doc *doc, const struct s4f_node *node, const char *path,
                     struct s4f_kvlist *out, char *err, size_t errlen);
void s4f_kvlist_free(struct s4f_kvlist *l);

const char *s4f_kvlist_get(const struct s4f_kvlist *l, const char *key);

#endif
