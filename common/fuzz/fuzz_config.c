/* libFuzzer target for the configuration parser: any bytes as a YAML file, applied to a table
 * with every option type. Must never crash, leak or hang. */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct all {
    bool b;
    int64_t i;
    double d;
    char *s;
    int e;
    int64_t dur, size;
    struct s4f_strlist list;
    struct s4f_kvlist map;
    const struct s4f_node *node;
};

static const char *const choices[] = {"a", "b", NULL};

static const struct s4f_opt table[] = {
    {"b", S4F_OPT_BOOL, "true", 0, 0, offsetof(struct all, b), "", NULL},
    {"i", S4F_OPT_INT, "1", 0, 100, offsetof(struct all, i), "", NULL},
    {"d", S4F_OPT_DOUBLE, "0.5", 0, 1, offsetof(struct all, d), "", NULL},
    {"s", S4F_OPT_STRING, "x", 0, 0, offsetof(struct all, s), "", NULL},
    {"e", S4F_OPT_ENUM, "a", 0, 0, offsetof(struct all, e), "", choices},
    {"dur", S4F_OPT_DURATION, "1s", 0, 1e9, offsetof(struct all, dur), "", NULL},
    {"size", S4F_OPT_SIZE, "1k", 0, 1e12, offsetof(struct all, size), "", NULL},
    {"list", S4F_OPT_LIST, "a,b", 0, 0, offsetof(struct all, list), "", NULL},
    {"map", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct all, map), "", NULL},
    {"node", S4F_OPT_NODE, NULL, 0, 0, offsetof(struct all, node), "", NULL},
    S4F_OPT_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct s4f_conf_doc *doc =
        s4f_conf_load_string((const char *)data, size, "fuzz.yml", err, sizeof(err));
    if (!doc)
        return 0;
    static const char *const sections[] = {"sec", "kafka", NULL};
    s4f_conf_check_keys(doc, doc->root, "", sections, err, sizeof(err));
    struct all a = {0};
    s4f_conf_apply(doc, s4f_node_get(doc->root, "sec"), "sec", table, &a, err, sizeof(err));
    if (a.node) {
        struct all inner = {0};
        s4f_conf_apply(doc, a.node, "sec.node", table, &inner, err, sizeof(err));
        s4f_conf_release(table, &inner);
    }
    s4f_conf_release(table, &a);
    struct s4f_kvlist kv;
    if (s4f_conf_get_map(doc, s4f_node_get(doc->root, "kafka"), "kafka", &kv, err, sizeof(err)) ==
        0)
        s4f_kvlist_free(&kv);
    s4f_conf_doc_free(doc);
    return 0;
}
