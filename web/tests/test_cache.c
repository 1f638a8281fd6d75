/* Unit tests of cache.c: fresh hits, one computation per expired key while the others get the
 * previous answer, waiting for a first answer, and abandoning a failed computation. */
#include "cache.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_stale_while_refreshing(void **state)
{
    size_t len;
    int fill, gz;
    (void)state;
    struct s4f_web_cache *c = s4f_web_cache_new(1000, 10000);
    int64_t t = now_ms();
    assert_null(s4f_web_cache_lookup(c, "/api/x?", t, 0, &len, &gz, &fill));
    assert_int_equal(fill, 1);
    s4f_web_cache_put(c, "/api/x?", "{\"a\":1}", 7, t);
    char *b = s4f_web_cache_lookup(c, "/api/x?", t, 0, &len, &gz, &fill);
    assert_non_null(b);
    assert_int_equal(fill, 0);
    assert_int_equal(len, 7);
    free(b);
    /* Expired: the first asker refreshes, the next one gets the old answer meanwhile. */
    assert_null(s4f_web_cache_lookup(c, "/api/x?", t + 1500, 0, &len, &gz, &fill));
    assert_int_equal(fill, 1);
    b = s4f_web_cache_lookup(c, "/api/x?", t + 1500, 0, &len, &gz, &fill);
    assert_non_null(b);
    assert_int_equal(fill, 0);
    free(b);
    /* The refresh failed: the next asker computes again. */
    s4f_web_cache_abandon(c, "/api/x?");
    assert_null(s4f_web_cache_lookup(c, "/api/x?", t + 1500, 0, &len, &gz, &fill));
    assert_int_equal(fill, 1);
    s4f_web_cache_abandon(c, "/api/x?");
    /* Oversized answers are not kept. */
    char *big = calloc(1, S4F_WEB_CACHE_MAX_BODY + 1);
    assert_null(s4f_web_cache_lookup(c, "/api/big?", t, 0, &len, &gz, &fill));
    s4f_web_cache_put(c, "/api/big?", big, S4F_WEB_CACHE_MAX_BODY + 1, t);
    free(big);
    assert_null(s4f_web_cache_lookup(c, "/api/big?", t, 0, &len, &gz, &fill));
    assert_int_equal(fill, 1);
    s4f_web_cache_free(c);
    s4f_web_cache_free(NULL);
}

struct waiter {
    struct s4f_web_cache *c;
    char *body;
    int fill;
};

static void *wait_for_first(void *arg)
{
    struct waiter *w = arg;
    size_t len;
    int gz;
    w->body = s4f_web_cache_lookup(w->c, "/api/y?", now_ms(), 1, &len, &gz, &w->fill);
    return NULL;
}

static void test_waiters_get_the_first_answer(void **state)
{
    size_t len;
    int fill, gz;
    (void)state;
    struct s4f_web_cache *c = s4f_web_cache_new(5000, 20000);
    assert_null(s4f_web_cache_lookup(c, "/api/y?", now_ms(), 0, &len, &gz, &fill));
    assert_int_equal(fill, 1);
    struct waiter w = {c, NULL, -1};
    pthread_t th;
    pthread_create(&th, NULL, wait_for_first, &w);
    s4f_web_cache_put(c, "/api/y?", "{}", 2, now_ms());
    pthread_join(th, NULL);
    assert_non_null(w.body);
    assert_int_equal(w.fill, 0);
    free(w.body);
    s4f_web_cache_free(c);
}

/* A computation holds its key for wait_ms (the Elasticsearch timeout in s4f-web). */
static void test_disabled(void **state)
{
    size_t len;
    int fill, gz;
    (void)state;
    struct s4f_web_cache *c = s4f_web_cache_new(0, 0);
    s4f_web_cache_put(c, "k", "v", 1, now_ms());
    assert_null(s4f_web_cache_lookup(c, "k", now_ms(), 0, &len, &gz, &fill));
    assert_int_equal(fill, 1);
    s4f_web_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_while_refreshing),
        cmocka_unit_test(test_waiters_get_the_first_answer),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
