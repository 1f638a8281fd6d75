#include "config.h"

#include "s4f.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- errors ------------------------------------------------------------------------------ */

struct errs {
    char *buf;
    size_t len;
    int count;
};

static void err_add(struct errs *e, const char *file, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void err_add(struct errs *e, const char *file, size_t line, size_t col, const char *fmt, ...)
{
    size_t used;
    e->count++;
    if (!e->buf || !e->len)
        return;
    used = strlen(e->buf);
    if (used + 2 >= e->len)
        return;
    if (used) {
        e->buf[used++] = '\n';
        e->buf[used] = '\0';
    }
    int n;
    if (line)
        n = snprintf(e->buf + used, e->len - used, "%s:%zu:%zu: ", file, line, col);
    else
        n = snprintf(e->buf + used, e->len - used, "%s: ", file);
    if (n < 0 || (size_t)n >= e->len - used)
        return;
    used += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + used, e->len - used, fmt, ap);
    va_end(ap);
}

/* ---- tree -------------------------------------------------------------------------------- */

static void node_free(struct s4f_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_lines);
    free(n->key_cols);
    free(n->value);
    free(n);
}

void s4f_conf_doc_free(struct s4f_conf_doc *doc)
{
    if (!doc)
        return;
    node_free(doc->root);
    free(doc->file);
    free(doc);
}

static struct s4f_node *node_new(enum s4f_node_kind kind, const yaml_mark_t *mark)
{
    struct s4f_node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = mark->line + 1;
    n->col = mark->column + 1;
    return n;
}

/* Appends child to a SEQ, or to a MAP under key (key ownership passes to the map). */
static int node_append(struct s4f_node *parent, struct s4f_node *child, char *key, size_t kl,
                       size_t kc)
{
    size_t n = parent->n + 1;
    struct s4f_node **items = realloc(parent->items, n * sizeof(*items));
    if (!items)
        return -1;
    parent->items = items;
    if (parent->kind == S4F_NODE_MAP) {
        char **keys = realloc(parent->keys, n * sizeof(*keys));
        if (keys)
            parent->keys = keys;
        size_t *kls = realloc(parent->key_lines, n * sizeof(*kls));
        if (kls)
            parent->key_lines = kls;
        size_t *kcs = realloc(parent->key_cols, n * sizeof(*kcs));
        if (kcs)
            parent->key_cols = kcs;
        if (!keys || !kls || !kcs)
            return -1;
        keys[parent->n] = key;
        kls[parent->n] = kl;
        kcs[parent->n] = kc;
    }
    items[parent->n] = child;
    parent->n = n;
    return 0;
}

struct frame {
    struct s4f_node *node;
    char *pending_key; /* MAP: key read, value not yet */
    size_t key_line, key_col;
};

/* Attaches a finished node to the open container on top of the stack (or makes it the root).
 * Takes ownership of n in every case. Returns 0 or -1 (error recorded). */
static int attach(struct frame *stack, int depth, struct s4f_node *n, struct s4f_node **root,
                  struct errs *e, const char *name)
{
    if (depth == 0) {
        if (n->kind != S4F_NODE_MAP) {
            err_add(e, name, n->line, n->col, "the configuration must be a mapping of sections");
            node_free(n);
            return -1;
        }
        *root = n;
        return 0;
    }
    struct frame *p = &stack[depth - 1];
    if (p->node->kind == S4F_NODE_MAP && !p->pending_key) {
        if (n->kind != S4F_NODE_SCALAR) {
            err_add(e, name, n->line, n->col, "keys must be plain scalars");
            node_free(n);
            return -1;
        }
        for (size_t i = 0; i < p->node->n; i++)
            if (strcmp(p->node->keys[i], n->value) == 0) {
                err_add(e, name, n->line, n->col, "duplicate key '%s' (first at line %zu)",
                        n->value, p->node->key_lines[i]);
                node_free(n);
                return -1;
            }
        p->pending_key = n->value;
        p->key_line = n->line;
        p->key_col = n->col;
        n->value = NULL;
        node_free(n);
        return 0;
    }
    char *key = p->pending_key;
    p->pending_key = NULL;
    if (node_append(p->node, n, key, p->key_line, p->key_col) != 0) {
        err_add(e, name, n->line, n->col, "out of memory");
        free(key);
        node_free(n);
        return -1;
    }
    return 0;
}

struct s4f_conf_doc *s4f_conf_load_string(const char *text, size_t len, const char *name, char *err,
                                          size_t errlen)
{
    struct errs e = {err, errlen, 0};
    yaml_parser_t parser;
    yaml_event_t ev;
    struct frame stack[S4F_CONF_MAX_DEPTH];
    int depth = 0, done = 0, docs = 0;
    size_t nodes = 0;
    struct s4f_node *root = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (len > S4F_CONF_MAX_BYTES) {
        err_add(&e, name, 0, 0, "file is larger than %u bytes", S4F_CONF_MAX_BYTES);
        return NULL;
    }
    if (!yaml_parser_initialize(&parser)) {
        err_add(&e, name, 0, 0, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            err_add(&e, name, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                    "YAML syntax: %s%s%s", parser.problem ? parser.problem : "error",
                    parser.context ? " " : "", parser.context ? parser.context : "");
            goto fail;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t mark = ev.start_mark;
        struct s4f_node *n = NULL;

        if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_MAPPING_START_EVENT) {
            if (++nodes > S4F_CONF_MAX_NODES) {
                err_add(&e, name, mark.line + 1, mark.column + 1, "more than %d nodes",
                        S4F_CONF_MAX_NODES);
                yaml_event_delete(&ev);
                goto fail;
            }
            n = node_new(type == YAML_SCALAR_EVENT           ? S4F_NODE_SCALAR
                         : type == YAML_SEQUENCE_START_EVENT ? S4F_NODE_SEQ
                                                             : S4F_NODE_MAP,
                         &mark);
            if (n && type == YAML_SCALAR_EVENT) {
                n->value = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                n->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                            ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
                if (n->value && strlen(n->value) != ev.data.scalar.length) {
                    err_add(&e, name, n->line, n->col, "NUL byte in a value");
                    node_free(n);
                    yaml_event_delete(&ev);
                    goto fail;
                }
                if (!n->value) {
                    node_free(n);
                    n = NULL;
                }
            }
            if (!n) {
                err_add(&e, name, mark.line + 1, mark.column + 1, "out of memory");
                yaml_event_delete(&ev);
                goto fail;
            }
        }
        yaml_event_delete(&ev);

        switch (type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                err_add(&e, name, mark.line + 1, mark.column + 1,
                        "only one YAML document is allowed");
                goto fail;
            }
            break;
        case YAML_ALIAS_EVENT:
            err_add(&e, name, mark.line + 1, mark.column + 1,
                    "YAML aliases (*name) are not supported");
            goto fail;
        case YAML_SCALAR_EVENT:
            if (attach(stack, depth, n, &root, &e, name) != 0)
                goto fail;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth >= S4F_CONF_MAX_DEPTH) {
                err_add(&e, name, n->line, n->col, "nesting deeper than %d", S4F_CONF_MAX_DEPTH);
                node_free(n);
                goto fail;
            }
            stack[depth].node = n;
            stack[depth].pending_key = NULL;
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            free(stack[depth].pending_key); /* cannot be set: a MAP ends after a value */
            if (attach(stack, depth, stack[depth].node, &root, &e, name) != 0)
                goto fail;
            break;
        default:
            break;
        }
    }
    yaml_parser_delete(&parser);

    if (!root) {
        yaml_mark_t m0 = {0, 0, 0};
        root = node_new(S4F_NODE_MAP, &m0);
        if (!root) {
            err_add(&e, name, 0, 0, "out of memory");
            return NULL;
        }
    }
    struct s4f_conf_doc *doc = calloc(1, sizeof(*doc));
    if (!doc || !(doc->file = strdup(name))) {
        free(doc);
        node_free(root);
        err_add(&e, name, 0, 0, "out of memory");
        return NULL;
    }
    doc->root = root;
    return doc;

fail:
    /* Open containers are attached to their parents only when they end, so each open frame
     * owns its subtree and is freed on its own. */
    for (int i = depth - 1; i >= 0; i--) {
        free(stack[i].pending_key);
        node_free(stack[i].node);
    }
    node_free(root);
    yaml_parser_delete(&parser);
    return NULL;
}

struct s4f_conf_doc *s4f_conf_load(const char *path, char *err, size_t errlen)
{
    struct errs e = {err, errlen, 0};
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (err && errlen)
        err[0] = '\0';
    f = fopen(path, "rb");
    if (!f) {
        err_add(&e, path, 0, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                err_add(&e, path, 0, 0, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (len > S4F_CONF_MAX_BYTES) {
            free(buf);
            fclose(f);
            err_add(&e, path, 0, 0, "file is larger than %u bytes", S4F_CONF_MAX_BYTES);
            return NULL;
        }
        if (r == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        err_add(&e, path, 0, 0, "read error");
        return NULL;
    }
    struct s4f_conf_doc *doc = s4f_conf_load_string(buf ? buf : "", len, path, err, errlen);
    free(buf);
    return doc;
}

const struct s4f_node *s4f_node_get(const struct s4f_node *map, const char *key)
{
    if (!map || map->kind != S4F_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

/* ---- value parsers ----------------------------------------------------------------------- */

int s4f_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < S4F_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int parse_number(const char *s, double *out, const char **unit)
{
    char *end;
    errno = 0;
    while (*s == ' ')
        s++;
    if (!*s)
        return -1;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    *out = v;
    *unit = end;
    return 0;
}

int s4f_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1000},   {"ms", 1},      {"s", 1000},    {"sec", 1000},
                 {"m", 60000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
    double v;
    const char *u;
    if (parse_number(s, &v, &u) != 0 || v < 0)
        return -1;
    for (size_t i = 0; i < S4F_ARRAY_SIZE(units); i++)
        if (strcmp(u, units[i].unit) == 0) {
            double ms = v * units[i].ms;
            if (ms > 9.0e15)
                return -1;
            *out = (int64_t)llround(ms);
            return 0;
        }
    return -1;
}

int s4f_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        double mul;
    } units[] = {{"", 1},           {"b", 1},           {"k", 1024},        {"kb", 1024},
                 {"kib", 1024},     {"m", 1048576},     {"mb", 1048576},    {"mib", 1048576},
                 {"g", 1073741824}, {"gb", 1073741824}, {"gib", 1073741824}};
    double v;
    const char *u;
    if (parse_number(s, &v, &u) != 0 || v < 0)
        return -1;
    for (size_t i = 0; i < S4F_ARRAY_SIZE(units); i++)
        if (strcasecmp(u, units[i].unit) == 0) {
            double b = v * units[i].mul;
            if (b > 9.0e15 || b != floor(b))
                return -1;
            *out = (int64_t)b;
            return 0;
        }
    return -1;
}

const char *s4f_kvlist_get(const struct s4f_kvlist *l, const char *key)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->k[i], key) == 0)
            return l->v[i];
    return NULL;
}

/* ---- applying a table -------------------------------------------------------------------- */

static const char *type_name(enum s4f_opt_type t)
{
    switch (t) {
    case S4F_OPT_BOOL:
        return "bool";
    case S4F_OPT_INT:
        return "integer";
    case S4F_OPT_DOUBLE:
        return "number";
    case S4F_OPT_STRING:
        return "string";
    case S4F_OPT_ENUM:
        return "enum";
    case S4F_OPT_DURATION:
        return "duration";
    case S4F_OPT_SIZE:
        return "size";
    case S4F_OPT_LIST:
        return "list";
    case S4F_OPT_MAP:
        return "map";
    case S4F_OPT_NODE:
        return "section";
    }
    return "?";
}

static bool is_null(const struct s4f_node *n)
{
    return n->kind == S4F_NODE_SCALAR && !n->quoted &&
           (n->value[0] == '\0' || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0);
}

static bool has_bounds(const struct s4f_opt *o)
{
    return o->min != o->max;
}

static void release_one(const struct s4f_opt *o, void *target)
{
    char *p = (char *)target + o->offset;
    switch (o->type) {
    case S4F_OPT_STRING: {
        char **s = (char **)p;
        free(*s);
        *s = NULL;
        break;
    }
    case S4F_OPT_LIST: {
        struct s4f_strlist *l = (struct s4f_strlist *)p;
        for (size_t i = 0; i < l->n; i++)
            free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
        break;
    }
    case S4F_OPT_MAP: {
        struct s4f_kvlist *l = (struct s4f_kvlist *)p;
        for (size_t i = 0; i < l->n; i++) {
            free(l->k[i]);
            free(l->v[i]);
        }
        free(l->k);
        free(l->v);
        l->k = l->v = NULL;
        l->n = 0;
        break;
    }
    default:
        break;
    }
}

void s4f_conf_release(const struct s4f_opt *table, void *target)
{
    for (const struct s4f_opt *o = table; o->key; o++)
        release_one(o, target);
}

static int list_push(struct s4f_strlist *l, const char *v)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (!nv)
        return -1;
    l->v = nv;
    if (!(l->v[l->n] = strdup(v)))
        return -1;
    l->n++;
    return 0;
}

/* Converts one scalar text for option o. Returns NULL or an error message (static). */
static const char *set_scalar(const struct s4f_opt *o, const char *v, void *target, char *why,
                              size_t whylen)
{
    char *p = (char *)target + o->offset;
    switch (o->type) {
    case S4F_OPT_BOOL:
        if (s4f_parse_bool(v, (bool *)p) != 0)
            return "expected true or false";
        return NULL;
    case S4F_OPT_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno == ERANGE)
            return "expected an integer";
        if (has_bounds(o) && (x < o->min || x > o->max)) {
            snprintf(why, whylen, "%lld is out of range [%.0f, %.0f]", x, o->min, o->max);
            return why;
        }
        *(int64_t *)p = x;
        return NULL;
    }
    case S4F_OPT_DOUBLE: {
        double x;
        const char *u;
        if (parse_number(v, &x, &u) != 0 || *u)
            return "expected a number";
        if (has_bounds(o) && (x < o->min || x > o->max)) {
            snprintf(why, whylen, "%g is out of range [%g, %g]", x, o->min, o->max);
            return why;
        }
        *(double *)p = x;
        return NULL;
    }
    case S4F_OPT_DURATION: {
        int64_t x;
        if (s4f_parse_duration_ms(v, &x) != 0)
            return "expected a duration such as 500ms, 10s, 5m, 1h or 30d";
        if (has_bounds(o) && (x < o->min || x > o->max)) {
            snprintf(why, whylen, "%s is out of range [%.0f ms, %.0f ms]", v, o->min, o->max);
            return why;
        }
        *(int64_t *)p = x;
        return NULL;
    }
    case S4F_OPT_SIZE: {
        int64_t x;
        if (s4f_parse_size(v, &x) != 0)
            return "expected a size such as 4096, 64k, 16M or 1G";
        if (has_bounds(o) && (x < o->min || x > o->max)) {
            snprintf(why, whylen, "%s is out of range [%.0f, %.0f] bytes", v, o->min, o->max);
            return why;
        }
        *(int64_t *)p = x;
        return NULL;
    }
    case S4F_OPT_STRING: {
        char **s = (char **)p;
        char *d = strdup(v);
        if (!d)
            return "out of memory";
        free(*s);
        *s = d;
        return NULL;
    }
    case S4F_OPT_ENUM:
        for (int i = 0; o->choices && o->choices[i]; i++)
            if (strcasecmp(v, o->choices[i]) == 0) {
                *(int *)p = i;
                return NULL;
            }
        {
            size_t k = (size_t)snprintf(why, whylen, "expected one of:");
            for (int i = 0; o->choices && o->choices[i] && k < whylen; i++)
                k += (size_t)snprintf(why + k, whylen - k, " %s", o->choices[i]);
        }
        return why;
    case S4F_OPT_LIST: {
        /* A default or a lone scalar: comma-separated items. */
        struct s4f_strlist *l = (struct s4f_strlist *)p;
        release_one(o, target);
        char *copy = strdup(v), *save = NULL;
        if (!copy)
            return "out of memory";
        /* "[a, b]" is accepted as well as "a,b": defaults are often written the YAML way. */
        char *body = copy;
        size_t bl = strlen(body);
        if (bl >= 2 && body[0] == '[' && body[bl - 1] == ']') {
            body[bl - 1] = '\0';
            body++;
        }
        for (char *t = strtok_r(body, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            for (char *e = t + strlen(t); e > t && e[-1] == ' '; e--)
                e[-1] = '\0';
            if (*t && list_push(l, t) != 0) {
                free(copy);
                return "out of memory";
            }
        }
        free(copy);
        return NULL;
    }
    case S4F_OPT_MAP:
    case S4F_OPT_NODE:
        return "expected a mapping";
    }
    return "unknown option type";
}

static const char *set_node(const struct s4f_opt *o, const struct s4f_node *n, void *target,
                            char *why, size_t whylen, const struct s4f_node **bad)
{
    char *p = (char *)target + o->offset;
    *bad = n;
    if (o->type == S4F_OPT_NODE) {
        if (n->kind != S4F_NODE_MAP)
            return "expected a mapping";
        *(const struct s4f_node **)p = n;
        return NULL;
    }
    if (o->type == S4F_OPT_MAP) {
        struct s4f_kvlist *l = (struct s4f_kvlist *)p;
        if (n->kind != S4F_NODE_MAP)
            return "expected a mapping of key: value";
        release_one(o, target);
        l->k = calloc(n->n ? n->n : 1, sizeof(char *));
        l->v = calloc(n->n ? n->n : 1, sizeof(char *));
        if (!l->k || !l->v)
            return "out of memory";
        for (size_t i = 0; i < n->n; i++) {
            if (n->items[i]->kind != S4F_NODE_SCALAR) {
                *bad = n->items[i];
                return "values of this map must be scalars";
            }
            l->k[i] = strdup(n->keys[i]);
            l->v[i] = strdup(n->items[i]->value);
            l->n = i + 1;
            if (!l->k[i] || !l->v[i])
                return "out of memory";
        }
        return NULL;
    }
    if (o->type == S4F_OPT_LIST && n->kind == S4F_NODE_SEQ) {
        struct s4f_strlist *l = (struct s4f_strlist *)p;
        release_one(o, target);
        for (size_t i = 0; i < n->n; i++) {
            if (n->items[i]->kind != S4F_NODE_SCALAR) {
                *bad = n->items[i];
                return "list items must be scalars";
            }
            if (list_push(l, n->items[i]->value) != 0)
                return "out of memory";
        }
        return NULL;
    }
    if (n->kind != S4F_NODE_SCALAR) {
        snprintf(why, whylen, "expected a %s, not a %s", type_name(o->type),
                 n->kind == S4F_NODE_MAP ? "mapping" : "list");
        return why;
    }
    return set_scalar(o, n->value, target, why, whylen);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c)
                c = prev[j] + 1;
            if (cur[j - 1] + 1 < c)
                c = cur[j - 1] + 1;
            cur[j] = c;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static void unknown_key(struct errs *e, const struct s4f_conf_doc *doc, const struct s4f_node *map,
                        size_t i, const char *path, const char *const *names, size_t nnames)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t j = 0; j < nnames; j++) {
        size_t d = edit_distance(map->keys[i], names[j]);
        if (d < bestd) {
            bestd = d;
            best = names[j];
        }
    }
    if (best)
        err_add(e, doc->file, map->key_lines[i], map->key_cols[i],
                "%s%s%s: unknown key (did you mean '%s'?)", path, *path ? "." : "", map->keys[i],
                best);
    else
        err_add(e, doc->file, map->key_lines[i], map->key_cols[i],
                "%s%s%s: unknown key (see --help for the keys of this section)", path,
                *path ? "." : "", map->keys[i]);
}

int s4f_conf_check_keys(const struct s4f_conf_doc *doc, const struct s4f_node *map,
                        const char *path, const char *const *allowed, char *err, size_t errlen)
{
    struct errs e = {err, errlen, 0};
    size_t nallowed = 0;
    if (!map)
        return 0;
    while (allowed[nallowed])
        nallowed++;
    for (size_t i = 0; i < map->n; i++) {
        size_t j;
        for (j = 0; j < nallowed; j++)
            if (strcmp(map->keys[i], allowed[j]) == 0)
                break;
        if (j == nallowed)
            unknown_key(&e, doc, map, i, path, allowed, nallowed);
    }
    return e.count ? -1 : 0;
}

int s4f_conf_apply(const struct s4f_conf_doc *doc, const struct s4f_node *section, const char *path,
                   const struct s4f_opt *table, void *target, char *err, size_t errlen)
{
    struct errs e = {err, errlen, 0};
    const char *file = doc ? doc->file : "defaults";
    char why[256];
    size_t nopts = 0;

    if (err && errlen && !doc)
        err[0] = '\0';
    for (const struct s4f_opt *o = table; o->key; o++, nopts++) {
        const char *msg;
        if (o->def && (msg = set_scalar(o, o->def, target, why, sizeof(why))) != NULL)
            err_add(&e, "built-in default", 0, 0, "%s.%s: %s (a bug)", path, o->key, msg);
    }
    if (section && section->kind != S4F_NODE_MAP) {
        err_add(&e, file, section->line, section->col, "%s: expected a mapping of options", path);
        return -1;
    }
    if (!section)
        return e.count ? -1 : 0;

    const char **names = calloc(nopts + 1, sizeof(*names));
    if (!names) {
        err_add(&e, file, 0, 0, "out of memory");
        return -1;
    }
    for (size_t j = 0; j < nopts; j++)
        names[j] = table[j].key;
    for (size_t i = 0; i < section->n; i++) {
        const struct s4f_opt *o = NULL;
        for (size_t j = 0; j < nopts; j++)
            if (strcmp(section->keys[i], table[j].key) == 0)
                o = &table[j];
        if (!o) {
            unknown_key(&e, doc, section, i, path, names, nopts);
            continue;
        }
        const struct s4f_node *n = section->items[i], *bad = n;
        if (is_null(n))
            continue; /* "key:" with nothing keeps the default */
        const char *msg = set_node(o, n, target, why, sizeof(why), &bad);
        if (msg)
            err_add(&e, file, bad->line, bad->col, "%s.%s: %s", path, o->key, msg);
    }
    free(names);
    return e.count ? -1 : 0;
}

int s4f_conf_get_map(const struct s4f_conf_doc *doc, const struct s4f_node *node, const char *path,
                     struct s4f_kvlist *out, char *err, size_t errlen)
{
    const struct s4f_opt o = {path, S4F_OPT_MAP, NULL, 0, 0, 0, "", NULL};
    struct errs e = {err, errlen, 0};
    char why[256];
    const struct s4f_node *bad = node;

    memset(out, 0, sizeof(*out));
    if (!node || is_null(node))
        return 0;
    const char *msg = set_node(&o, node, out, why, sizeof(why), &bad);
    if (msg) {
        err_add(&e, doc->file, bad->line, bad->col, "%s: %s", path, msg);
        s4f_kvlist_free(out); /* nothing half-filled for the caller to forget */
        return -1;
    }
    return 0;
}

void s4f_kvlist_free(struct s4f_kvlist *l)
{
    const struct s4f_opt o = {"", S4F_OPT_MAP, NULL, 0, 0, 0, "", NULL};
    release_one(&o, l);
}

/* ---- generated documentation ------------------------------------------------------------- */

static void describe_range(char *buf, size_t len, const struct s4f_opt *o)
{
    buf[0] = '\0';
    if (o->type == S4F_OPT_ENUM) {
        size_t k = 0;
        for (int i = 0; o->choices && o->choices[i] && k < len; i++)
            k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", o->choices[i]);
        return;
    }
    if (!has_bounds(o))
        return;
    switch (o->type) {
    case S4F_OPT_DURATION:
        snprintf(buf, len, "%.0f ms .. %.0f ms", o->min, o->max);
        break;
    case S4F_OPT_SIZE:
        snprintf(buf, len, "%.0f .. %.0f bytes", o->min, o->max);
        break;
    default:
        snprintf(buf, len, "%g .. %g", o->min, o->max);
        break;
    }
}

void s4f_conf_print_help(FILE *out, const char *section, const struct s4f_opt *table)
{
    char range[256];
    fprintf(out, "Options of section '%s:' in the configuration file:\n", section);
    for (const struct s4f_opt *o = table; o->key; o++) {
        describe_range(range, sizeof(range), o);
        fprintf(out, "  %-28s %-8s default: %s%s%s\n      %s\n", o->key, type_name(o->type),
                o->def ? o->def : "(none)", *range ? "; " : "", range, o->help);
    }
}

void s4f_conf_print_markdown(FILE *out, const char *section, const struct s4f_opt *table)
{
    char range[256];
    fprintf(out, "| key | type | default | range | description |\n|---|---|---|---|---|\n");
    for (const struct s4f_opt *o = table; o->key; o++) {
        describe_range(range, sizeof(range), o);
        fprintf(out, "| `%s.%s` | %s | %s%s%s | %s | ", section, o->key, type_name(o->type),
                o->def ? "`" : "", o->def ? o->def : "", o->def ? "`" : "", range);
        for (const char *h = o->help; *h; h++) {
            if (*h == '|')
                fputc('\\', out);
            fputc(*h, out);
        }
        fputs(" |\n", out);
    }
}

void s4f_conf_print_yaml(FILE *out, const char *section, const struct s4f_opt *table, int indent)
{
    fprintf(out, "%*s%s:\n", indent, "", section);
    for (const struct s4f_opt *o = table; o->key; o++) {
        fprintf(out, "%*s  # %s (%s)\n", indent, "", o->help, type_name(o->type));
        if (o->type == S4F_OPT_MAP || o->type == S4F_OPT_NODE)
            fprintf(out, "%*s  # %s: {}\n", indent, "", o->key);
        else if (o->type == S4F_OPT_LIST)
            /* List defaults are written comma-separated in tables; YAML wants brackets. */
            fprintf(out, "%*s  %s%s: %s%s%s\n", indent, "", o->def ? "" : "# ", o->key,
                    o->def && o->def[0] == '[' ? "" : "[", o->def ? o->def : "",
                    o->def && o->def[0] == '[' ? "" : "]");
        else if (o->def)
            fprintf(out, "%*s  %s: %s%s%s\n", indent, "", o->key,
                    o->type == S4F_OPT_STRING ? "\"" : "", o->def,
                    o->type == S4F_OPT_STRING ? "\"" : "");
        else
            fprintf(out, "%*s  # %s:\n", indent, "", o->key);
    }
}
