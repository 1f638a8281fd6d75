/* Unit tests of the daemon life cycle: systemd's notification protocol spoken to a local
 * AF_UNIX datagram socket (path and abstract names), the watchdog interval, STOPPING=1 sent
 * once, and a daemon's own command-line options. */
#include "daemon.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

/* A datagram socket standing in for systemd: bound to name (a path, or '@' + abstract name). */
static int listener(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    assert_true(n < sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        len++;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    return fd;
}

/* The next datagram, or "" when none is waiting. */
static const char *next_datagram(int fd)
{
    static char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    if (n < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        n = 0;
    }
    buf[n] = '\0';
    return buf;
}

static void notify_without_socket_sends_nothing(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(s4f_sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    assert_int_equal(s4f_sd_notify("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

static void notify_reaches_a_path_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/s4f-notify-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(s4f_sd_notify("READY=1"), 1);
    assert_string_equal(next_datagram(fd), "READY=1");
    close(fd);
    unlink(path);
    rmdir(dir);
    /* Nobody listening any more: a failure, not a crash or a hang. */
    assert_int_equal(s4f_sd_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

static void notify_reaches_an_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@s4f-test-notify-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(s4f_sd_notify("WATCHDOG=1"), 1);
    assert_string_equal(next_datagram(fd), "WATCHDOG=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void watchdog_interval_is_read_for_this_process_only(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(s4f_sd_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(s4f_sd_watchdog_ms(), 30000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(s4f_sd_watchdog_ms(), 30000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(s4f_sd_watchdog_ms(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "30s", 1);
    assert_int_equal(s4f_sd_watchdog_ms(), 0);
    unsetenv("WATCHDOG_USEC");
}

static void a_stop_request_tells_systemd_once(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@s4f-test-stopping-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(s4f_daemon_stopping(), 0);
    assert_string_equal(next_datagram(fd), "");
    s4f_daemon_request_stop();
    assert_int_equal(s4f_daemon_stopping(), 1);
    assert_int_equal(s4f_daemon_stopping(), 1);
    assert_string_equal(next_datagram(fd), "STOPPING=1");
    assert_string_equal(next_datagram(fd), "");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

struct test_conf {
    struct s4f_daemon_common common;
};

static const struct s4f_opt test_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct test_conf, "127.0.0.1:0"),
    S4F_OPT_END,
};

static int init_with(const char *user_out[2], int argc, char **argv)
{
    struct test_conf conf = {0};
    const struct s4f_daemon_arg args[] = {
        {"--add-user", "NAME", "add a user", &user_out[0]},
        {"--role", "ROLE", "its role", &user_out[1]},
        {NULL, NULL, NULL, NULL},
    };
    struct s4f_daemon d = {
        .name = "web", .summary = "test", .opts = test_opts, .conf = &conf, .args = args};
    int rc = s4f_daemon_init(&d, argc, argv);
    s4f_daemon_finish(&d);
    return rc;
}

static void a_daemon_takes_its_own_options(void **state)
{
    (void)state;
    char dir[] = "/tmp/s4f-args-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/empty.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);

    const char *v[2] = {NULL, "admin"};
    char *ok[] = {"s4f-web", "-c", path, "--add-user", "bob", "--role=user", "-l", "error"};
    assert_int_equal(init_with(v, 8, ok), 0);
    assert_string_equal(v[0], "bob");
    assert_string_equal(v[1], "user");

    const char *w[2] = {NULL, "admin"};
    char *eq[] = {"s4f-web", "-c", path, "--add-user=carol"};
    assert_int_equal(init_with(w, 4, eq), 0);
    assert_string_equal(w[0], "carol");
    assert_string_equal(w[1], "admin"); /* untouched when absent */

    char *missing[] = {"s4f-web", "-c", path, "--add-user"};
    assert_int_equal(init_with(w, 4, missing), -1);
    char *unknown[] = {"s4f-web", "-c", path, "--add-users", "x"};
    assert_int_equal(init_with(w, 5, unknown), -1);
    unlink(path);
    rmdir(dir);
}

/* The sink and the web server checked index_prefix each their own way; now the daemon does. */
static void index_prefix_is_checked_for_every_es_daemon(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"stream4flow", "ok"}, {"s4f-test_1.x", "ok"}, {"_x", "bad"},  {"-x", "bad"},
        {".x", "bad"},         {"Upper", "bad"},       {"a*b", "bad"}, {"\"\"", "bad"},
    };
    char dir[] = "/tmp/s4f-prefix-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.yml", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "elasticsearch:\n  index_prefix: %s\n", cases[i][0]);
        fclose(f);
        struct test_conf conf = {0};
        struct s4f_daemon d = {
            .name = "sink", .summary = "test", .opts = test_opts, .conf = &conf, .uses_es = true};
        char *argv[] = {"s4f-sink", "-c", path, "-l", "error"};
        int rc = s4f_daemon_init(&d, 5, argv);
        s4f_daemon_finish(&d);
        assert_int_equal(rc, strcmp(cases[i][1], "ok") == 0 ? 0 : -1);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notify_without_socket_sends_nothing),
        cmocka_unit_test(notify_reaches_a_path_socket),
        cmocka_unit_test(notify_reaches_an_abstract_socket),
        cmocka_unit_test(watchdog_interval_is_read_for_this_process_only),
        cmocka_unit_test(a_stop_request_tells_systemd_once),
        cmocka_unit_test(a_daemon_takes_its_own_options),
        cmocka_unit_test(index_prefix_is_checked_for_every_es_daemon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
