/* Unit tests of logging: prefix, thread names, level filtering, control characters, rate limiting.
 */
#include "log.h"
#include "s4f.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *captured;
static size_t captured_len;
static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = open_memstream(&captured, &captured_len);
    s4f_log_set_stream(capture);
    s4f_log_init("collector", "main", S4F_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    s4f_log_set_stream(NULL);
    fclose(capture);
    free(captured);
    captured = NULL;
    return 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void test_prefix_and_levels(void **state)
{
    (void)state;
    s4f_info("hello %d", 42);
    s4f_debug("hidden");
    s4f_error("bad");
    fflush(capture);
    assert_non_null(strstr(captured, "INFO  collector[main] hello 42\n"));
    assert_non_null(strstr(captured, "ERROR collector[main] bad\n"));
    assert_null(strstr(captured, "hidden"));
}

static void *log_other(void *arg)
{
    (void)arg;
    s4f_info("from another thread");
    return NULL;
}

static void test_thread_name(void **state)
{
    (void)state;
    s4f_log_set_thread_name("host_stats");
    assert_string_equal(s4f_log_thread_name(), "host_stats");
    s4f_info("partition %d", 3);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, log_other, NULL), 0);
    pthread_join(t, NULL);
    s4f_log_set_thread_name(NULL);
    s4f_info("unnamed again");
    fflush(capture);
    assert_non_null(strstr(captured, "INFO  collector[main] host_stats: partition 3\n"));
    assert_non_null(strstr(captured, "INFO  collector[main] from another thread\n"));
    assert_non_null(strstr(captured, "INFO  collector[main] unnamed again\n"));
}

static void test_control_chars_escaped(void **state)
{
    (void)state;
    s4f_warn("exporter said %s", "a\nFAKE ERROR line");
    fflush(capture);
    assert_non_null(strstr(captured, "exporter said a?FAKE ERROR line\n"));
}

static void test_level_not_evaluated(void **state)
{
    (void)state;
    int calls = 0;
    s4f_debug("%d", ++calls);
    assert_int_equal(calls, 0);
    /* The macro is one statement: an else binds to the caller's if. */
    if (calls == 1)
        s4f_error("never");
    else
        calls = 7;
    assert_int_equal(calls, 7);
}

static void test_rate_limit(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++)
        s4f_warn_rl("malformed datagram %d", i);
    fflush(capture);
    /* Burst of 5 per 10 s window per call site. */
    assert_int_equal(count(captured, "malformed datagram"), 5);
}

static void test_ratelimit_summary(void **state)
{
    (void)state;
    struct s4f_ratelimit rl = S4F_RATELIMIT_INIT(1, 2); /* 1 ms window */
    uint64_t sup;
    int64_t win;
    assert_true(s4f_ratelimit_allow(&rl, &sup, &win));
    assert_true(s4f_ratelimit_allow(&rl, &sup, &win));
    for (int i = 0; i < 10; i++)
        assert_false(s4f_ratelimit_allow(&rl, &sup, &win));
    /* Wait (by observation, not a fixed sleep) for the window to pass. */
    int64_t until = s4f_mono_ms() + 2;
    while (s4f_mono_ms() < until)
        ;
    assert_true(s4f_ratelimit_allow(&rl, &sup, &win));
    assert_int_equal(sup, 10);
    s4f_log_rl_write(&rl, S4F_LOG_WARN, "x");
    rl.window_start -= 10; /* force the next window */
    rl.suppressed = 3;
    s4f_log_rl_write(&rl, S4F_LOG_WARN, "summary line");
    fflush(capture);
    assert_non_null(strstr(captured, "summary line (3 more like this in"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prefix_and_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_chars_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_not_evaluated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_summary, setup, teardown),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
