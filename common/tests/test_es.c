/* Unit tests of the Elasticsearch client (common/es.c) against a local HTTP server (the metrics
 * endpoint stands in for a node): failover past a refusing node, the pool's node memory, answers
 * too large, and the pool shared by threads (run under ThreadSanitizer too). */
#include "es.h"
#include "metrics.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Port 1 on loopback refuses connections: a dead node. */
#define DEAD "http://127.0.0.1:1"

struct node {
    struct s4f_metrics *m;
    struct s4f_http *http;
    char url[64];
};

static void node_start(struct node *n)
{
    char err[256];
    n->m = s4f_metrics_new("s4f_test", 0);
    assert_non_null(n->m);
    n->http = s4f_metrics_serve(n->m, "127.0.0.1:0", err, sizeof(err));
    assert_non_null(n->http);
    snprintf(n->url, sizeof(n->url), "http://127.0.0.1:%d/", s4f_http_port(n->http));
    s4f_metrics_set_health(n->m, 1, NULL);
}

static void node_stop(struct node *n)
{
    s4f_http_stop(n->http);
    s4f_metrics_free(n->m);
}

static struct s4f_es_conf conf_of(char **urls, size_t n)
{
    struct s4f_es_conf c = {
        .urls = {.v = urls, .n = n}, .timeout_ms = 5000, .index_prefix = "x", .tls_verify = true};
    return c;
}

static void a_dead_node_is_skipped_and_remembered(void **state)
{
    (void)state;
    struct node n;
    node_start(&n);
    char *urls[] = {DEAD, n.url};
    struct s4f_es_conf conf = conf_of(urls, 2);
    char err[256];
    struct s4f_es_client *c = s4f_es_client_new(&conf, NULL, err, sizeof(err));
    assert_non_null(c);
    struct s4f_es_response r = {0};
    assert_int_equal(s4f_es_request(c, "GET", "/health", NULL, NULL, 0, &r), S4F_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body.p, "ok"));
    assert_int_equal(s4f_es_client_node(c), 1);
    /* The next request starts on the node that answered. */
    assert_int_equal(s4f_es_request(c, "GET", "/nothing-here", NULL, NULL, 0, &r), S4F_OK);
    assert_int_equal(r.status, 404);
    assert_int_equal(s4f_es_client_node(c), 1);
    s4f_es_client_free(c);

    /* Every node dead: S4F_RETRY, status 0, a reason. */
    char *dead[] = {DEAD};
    conf = conf_of(dead, 1);
    c = s4f_es_client_new(&conf, NULL, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(s4f_es_request(c, "GET", "/", NULL, NULL, 0, &r), S4F_RETRY);
    assert_int_equal(r.status, 0);
    assert_true(r.error[0] != '\0');
    s4f_es_client_free(c);
    s4f_es_response_free(&r);
    node_stop(&n);
}

static void an_answer_too_large_is_cut(void **state)
{
    (void)state;
    struct node n;
    node_start(&n);
    char *urls[] = {n.url};
    struct s4f_es_conf conf = conf_of(urls, 1);
    struct s4f_es_client_opts opts = {.max_response = 8};
    char err[256];
    struct s4f_es_client *c = s4f_es_client_new(&conf, &opts, err, sizeof(err));
    assert_non_null(c);
    struct s4f_es_response r = {0};
    assert_int_equal(s4f_es_request(c, "GET", "/metrics", NULL, NULL, 0, &r), S4F_RETRY);
    assert_true(r.too_big);
    s4f_es_client_free(c);
    s4f_es_response_free(&r);
    node_stop(&n);
}

static void bad_settings_are_refused(void **state)
{
    (void)state;
    char err[256];
    char *ftp[] = {"ftp://127.0.0.1:21"};
    struct s4f_es_conf conf = conf_of(ftp, 1);
    assert_null(s4f_es_client_new(&conf, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "http://"));
    conf = conf_of(NULL, 0);
    assert_null(s4f_es_pool_new(&conf, NULL, 4, err, sizeof(err)));
    assert_non_null(strstr(err, "empty"));
}

struct worker {
    struct s4f_es_pool *pool;
    int ok;
};

static void *borrow_and_ask(void *arg)
{
    struct worker *w = arg;
    struct s4f_es_response r = {0};
    for (int i = 0; i < 20; i++) {
        struct s4f_es_client *c = s4f_es_pool_get(w->pool);
        if (c && s4f_es_request(c, "GET", "/health", NULL, NULL, 0, &r) == S4F_OK &&
            r.status == 200)
            w->ok++;
        s4f_es_pool_put(w->pool, c);
    }
    s4f_es_response_free(&r);
    return NULL;
}

static void the_pool_serves_threads_from_the_live_node(void **state)
{
    (void)state;
    struct node n;
    node_start(&n);
    char *urls[] = {DEAD, n.url};
    struct s4f_es_conf conf = conf_of(urls, 2);
    char err[256];
    struct s4f_es_pool *pool = s4f_es_pool_new(&conf, NULL, 2, err, sizeof(err));
    assert_non_null(pool);
    /* A first request finds the live node; later clients start there. */
    struct s4f_es_client *c = s4f_es_pool_get(pool);
    struct s4f_es_response r = {0};
    assert_int_equal(s4f_es_request(c, "GET", "/health", NULL, NULL, 0, &r), S4F_OK);
    s4f_es_pool_put(pool, c);
    struct s4f_es_client *a = s4f_es_pool_get(pool), *b = s4f_es_pool_get(pool);
    assert_ptr_not_equal(a, b);
    assert_int_equal(s4f_es_client_node(a), 1);
    assert_int_equal(s4f_es_client_node(b), 1); /* a new client, told by the pool */
    s4f_es_pool_put(pool, a);
    s4f_es_pool_put(pool, b);
    s4f_es_response_free(&r);

    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.pool = pool};
        assert_int_equal(pthread_create(&t[i], NULL, borrow_and_ask, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 20);
    }
    s4f_es_pool_free(pool);
    node_stop(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_dead_node_is_skipped_and_remembered),
        cmocka_unit_test(an_answer_too_large_is_cut),
        cmocka_unit_test(bad_settings_are_refused),
        cmocka_unit_test(the_pool_serves_threads_from_the_live_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
