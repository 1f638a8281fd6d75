/* Unit tests of the configuration tables: valid files, unknown keys, wrong types, bounds,
 * missing files, hostile YAML, and the generated documentation. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct demo {
    bool flag;
    int64_t count;
    double ratio;
    char *name;
    int mode;
    int64_t wait_ms;
    int64_t buf;
    struct s4f_strlist hosts;
    struct s4f_kvlist props;
    const struct s4f_node *nested;
};

static const char *const modes[] = {"fast", "safe", NULL};

static const struct s4f_opt demo_opts[] = {
    {"flag", S4F_OPT_BOOL, "false", 0, 0, offsetof(struct demo, flag), "a flag", NULL},
    {"count", S4F_OPT_INT, "10", 1, 100, offsetof(struct demo, count), "a count", NULL},
    {"ratio", S4F_OPT_DOUBLE, "0.5", 0, 1, offsetof(struct demo, ratio), "a ratio", NULL},
    {"name", S4F_OPT_STRING, "demo", 0, 0, offsetof(struct demo, name), "a name", NULL},
    {"mode", S4F_OPT_ENUM, "safe", 0, 0, offsetof(struct demo, mode), "a mode", modes},
    {"wait", S4F_OPT_DURATION, "10s", 0, 3600000, offsetof(struct demo, wait_ms), "a wait", NULL},
    {"buffer", S4F_OPT_SIZE, "64k", 1024, 1073741824, offsetof(struct demo, buf), "a size", NULL},
    {"hosts", S4F_OPT_LIST, "a,b", 0, 0, offsetof(struct demo, hosts), "hosts", NULL},
    {"props", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct demo, props), "props", NULL},
    {"nested", S4F_OPT_NODE, NULL, 0, 0, offsetof(struct demo, nested), "nested", NULL},
    S4F_OPT_END,
};

static int apply_text(const char *text, struct demo *d, char *err, size_t errlen)
{
    struct s4f_conf_doc *doc = s4f_conf_load_string(text, strlen(text), "t.yml", err, errlen);
    if (!doc)
        return -2;
    memset(d, 0, sizeof(*d));
    int rc =
        s4f_conf_apply(doc, s4f_node_get(doc->root, "demo"), "demo", demo_opts, d, err, errlen);
    s4f_conf_release(demo_opts, d);
    s4f_conf_doc_free(doc);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    struct demo d = {0};
    char err[512];
    assert_int_equal(s4f_conf_apply(NULL, NULL, "demo", demo_opts, &d, err, sizeof(err)), 0);
    assert_false(d.flag);
    assert_int_equal(d.count, 10);
    assert_true(d.ratio == 0.5);
    assert_string_equal(d.name, "demo");
    assert_int_equal(d.mode, 1);
    assert_int_equal(d.wait_ms, 10000);
    assert_int_equal(d.buf, 65536);
    assert_int_equal(d.hosts.n, 2);
    assert_string_equal(d.hosts.v[1], "b");
    assert_int_equal(d.props.n, 0);
    s4f_conf_release(demo_opts, &d);
}

static void test_valid(void **state)
{
    (void)state;
    const char *text = "demo:\n"
                       "  flag: yes\n"
                       "  count: 42\n"
                       "  ratio: 0.25\n"
                       "  name: \"x y\"\n"
                       "  mode: fast\n"
                       "  wait: 250ms\n"
                       "  buffer: 16M\n"
                       "  hosts: [h1, h2, h3]\n"
                       "  props:\n"
                       "    bootstrap.servers: 127.0.0.1:9092\n"
                       "    linger.ms: 5\n"
                       "  nested: {inner: 1}\n";
    char err[512];
    struct s4f_conf_doc *doc = s4f_conf_load_string(text, strlen(text), "t.yml", err, sizeof(err));
    assert_non_null(doc);
    struct demo d = {0};
    assert_int_equal(s4f_conf_apply(doc, s4f_node_get(doc->root, "demo"), "demo", demo_opts, &d,
                                    err, sizeof(err)),
                     0);
    assert_true(d.flag);
    assert_int_equal(d.count, 42);
    assert_true(d.ratio == 0.25);
    assert_string_equal(d.name, "x y");
    assert_int_equal(d.mode, 0);
    assert_int_equal(d.wait_ms, 250);
    assert_int_equal(d.buf, 16 << 20);
    assert_int_equal(d.hosts.n, 3);
    assert_string_equal(d.hosts.v[2], "h3");
    assert_int_equal(d.props.n, 2);
    assert_string_equal(s4f_kvlist_get(&d.props, "linger.ms"), "5");
    assert_non_null(d.nested);
    assert_string_equal(s4f_node_get(d.nested, "inner")->value, "1");
    s4f_conf_release(demo_opts, &d);
    s4f_conf_doc_free(doc);
}

static void test_unknown_key_names_line(void **state)
{
    (void)state;
    struct demo d;
    char err[512];
    assert_int_equal(apply_text("demo:\n  count: 3\n  cuont: 4\n", &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.yml:3:3:"));
    assert_non_null(strstr(err, "demo.cuont: unknown key"));
    assert_non_null(strstr(err, "did you mean 'count'"));
}

static void test_wrong_type(void **state)
{
    (void)state;
    struct demo d;
    char err[512];
    assert_int_equal(apply_text("demo:\n  count: many\n", &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.yml:2:10: demo.count: expected an integer"));
    assert_int_equal(apply_text("demo:\n  flag: maybe\n", &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected true or false"));
    assert_int_equal(apply_text("demo:\n  mode: slow\n", &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected one of: fast safe"));
    assert_int_equal(apply_text("demo:\n  name: [a, b]\n", &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "expected a string, not a list"));
    assert_int_equal(apply_text("demo:\n  props: [a]\n", &d, err, sizeof(err)), -1);
    assert_int_equal(apply_text("demo:\n  wait: soon\n", &d, err, sizeof(err)), -1);
    assert_int_equal(apply_text("demo:\n  buffer: 1.5k\n", &d, err, sizeof(err)), 0);
    assert_int_equal(apply_text("demo:\n  buffer: 1.3\n", &d, err, sizeof(err)), -1);
}

static void test_out_of_bounds(void **state)
{
    (void)state;
    struct demo d;
    char err[512];
    assert_int_equal(apply_text("demo:\n  count: 101\n", &d, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "101 is out of range [1, 100]"));
    assert_int_equal(apply_text("demo:\n  count: 0\n", &d, err, sizeof(err)), -1);
    assert_int_equal(apply_text("demo:\n  ratio: 1.5\n", &d, err, sizeof(err)), -1);
    assert_int_equal(apply_text("demo:\n  wait: 2h\n", &d, err, sizeof(err)), -1);
    assert_int_equal(apply_text("demo:\n  buffer: 2G\n", &d, err, sizeof(err)), -1);
    assert_int_equal(apply_text("demo:\n  count: 99999999999999999999999\n", &d, err, sizeof(err)),
                     -1);
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    struct demo d;
    char err[1024];
    assert_int_equal(apply_text("demo:\n  count: 0\n  bogus: 1\n  flag: 7\n", &d, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, ":2:"));
    assert_non_null(strstr(err, ":3:"));
    assert_non_null(strstr(err, ":4:"));
}

static void test_missing_file(void **state)
{
    (void)state;
    char err[512];
    assert_null(s4f_conf_load("/nonexistent/stream4flow.yml", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/stream4flow.yml: cannot open"));
}

static void test_hostile_yaml(void **state)
{
    (void)state;
    char err[512];
    static const char *const bad[] = {
        "a: &x [1, 2]\nb: *x\n", /* alias */
        "a: 1\na: 2\n",          /* duplicate key */
        "[1, 2]\n",              /* not a mapping */
        "just a scalar\n",       /* not a mapping */
        "a: [\n",                /* syntax */
        "? [a]\n: 1\n",          /* complex key */
        "a: 1\n---\nb: 2\n",     /* two documents */
        "a: \"\\0\"\n",          /* NUL in a value */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s4f_conf_doc *doc =
            s4f_conf_load_string(bad[i], strlen(bad[i]), "h.yml", err, sizeof(err));
        if (doc)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        assert_null(doc);
        assert_non_null(strstr(err, "h.yml"));
    }
    /* Nesting beyond the cap. */
    char deep[256] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    struct s4f_conf_doc *doc = s4f_conf_load_string(deep, strlen(deep), "d.yml", err, sizeof(err));
    assert_null(doc);
    /* An empty file is an empty configuration. */
    doc = s4f_conf_load_string("", 0, "e.yml", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(doc->root->n, 0);
    s4f_conf_doc_free(doc);
}

static void test_check_keys(void **state)
{
    (void)state;
    char err[512];
    const char *text = "kafka: {}\ncolector: {}\n";
    static const char *const allowed[] = {"kafka", "collector", NULL};
    struct s4f_conf_doc *doc = s4f_conf_load_string(text, strlen(text), "k.yml", err, sizeof(err));
    assert_non_null(doc);
    assert_int_equal(s4f_conf_check_keys(doc, doc->root, "", allowed, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "k.yml:2:1: colector: unknown key (did you mean 'collector'?)"));
    s4f_conf_doc_free(doc);
}

static void test_generated_docs(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    s4f_conf_print_markdown(f, "demo", demo_opts);
    s4f_conf_print_yaml(f, "demo", demo_opts, 0);
    s4f_conf_print_help(f, "demo", demo_opts);
    fclose(f);
    assert_non_null(strstr(buf, "| `demo.count` | integer | `10` | 1 .. 100 | a count |"));
    assert_non_null(strstr(buf, "  count: 10\n"));
    assert_non_null(strstr(buf, "  hosts: [a,b]\n"));
    free(buf);
    /* The generated example must itself be a valid configuration of the same table. */
    f = open_memstream(&buf, &len);
    s4f_conf_print_yaml(f, "demo", demo_opts, 0);
    fclose(f);
    char err[512];
    struct s4f_conf_doc *doc = s4f_conf_load_string(buf, len, "gen.yml", err, sizeof(err));
    assert_non_null(doc);
    struct demo d = {0};
    assert_int_equal(s4f_conf_apply(doc, s4f_node_get(doc->root, "demo"), "demo", demo_opts, &d,
                                    err, sizeof(err)),
                     0);
    s4f_conf_release(demo_opts, &d);
    s4f_conf_doc_free(doc);
    free(buf);
}

static void test_parsers(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(s4f_parse_duration_ms("30", &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(s4f_parse_duration_ms("1.5m", &v), 0);
    assert_int_equal(v, 90000);
    assert_int_equal(s4f_parse_duration_ms("30d", &v), 0);
    assert_int_equal(v, 30LL * 86400000);
    assert_int_equal(s4f_parse_duration_ms("-1s", &v), -1);
    assert_int_equal(s4f_parse_duration_ms("", &v), -1);
    assert_int_equal(s4f_parse_duration_ms("nan", &v), -1);
    assert_int_equal(s4f_parse_duration_ms("1e300h", &v), -1);
    assert_int_equal(s4f_parse_size("1G", &v), 0);
    assert_int_equal(v, 1073741824);
    assert_int_equal(s4f_parse_size("12kb", &v), 0);
    assert_int_equal(v, 12288);
    assert_int_equal(s4f_parse_size("12q", &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_unknown_key_names_line),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_bounds),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_hostile_yaml),
        cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_generated_docs),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
