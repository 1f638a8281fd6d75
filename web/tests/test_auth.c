/* Unit tests of users.c and session.c: hashing, the users file, sessions with their idle
 * timeout, CSRF tokens and the login throttle (clock passed in, no sleeping). */
#include "session.h"
#include "users.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char err[256];

static void test_hash(void **state)
{
    char h1[256], h2[256];
    (void)state;
    assert_int_equal(s4f_web_password_hash("correct horse", h1, sizeof(h1)), 0);
    assert_int_equal(s4f_web_password_hash("correct horse", h2, sizeof(h2)), 0);
    assert_memory_equal(h1, "$y$", 3);
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(s4f_web_password_check("correct horse", h1));
    assert_false(s4f_web_password_check("correct horsf", h1));
    assert_false(s4f_web_password_check("correct horse", "plain"));
    assert_false(s4f_web_password_check("", "$y$"));
    assert_int_equal(s4f_web_password_policy("short", err, sizeof(err)), -1);
    assert_int_equal(s4f_web_password_policy("long enough\n!", err, sizeof(err)), -1);
    assert_int_equal(s4f_web_password_policy("long enough !", err, sizeof(err)), 0);
}

static void test_users_file(void **state)
{
    char dir[] = "/tmp/s4f-web-users-XXXXXX", path[128];
    enum s4f_web_role role;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/users.json", dir);
    struct s4f_web_users *u = s4f_web_users_open(path, err, sizeof(err));
    assert_non_null(u);
    assert_int_equal(s4f_web_users_count(u), 0);
    assert_int_equal(
        s4f_web_users_add(u, "alice", "alice-password", S4F_WEB_ROLE_ADMIN, 0, err, sizeof(err)),
        S4F_OK);
    assert_int_equal(
        s4f_web_users_add(u, "alice", "alice-password", S4F_WEB_ROLE_ADMIN, 0, err, sizeof(err)),
        S4F_ERR);
    assert_int_equal(
        s4f_web_users_add(u, "bob", "bob-password", S4F_WEB_ROLE_USER, 0, err, sizeof(err)),
        S4F_OK);
    assert_int_equal(
        s4f_web_users_add(u, "../x", "bob-password", S4F_WEB_ROLE_USER, 0, err, sizeof(err)),
        S4F_ERR);
    /* The last admin stays an admin and cannot be deleted. */
    assert_int_equal(s4f_web_users_update(u, "alice", S4F_WEB_ROLE_USER, NULL, err, sizeof(err)),
                     S4F_ERR);
    assert_int_equal(s4f_web_users_delete(u, "alice", err, sizeof(err)), S4F_ERR);
    assert_int_equal(s4f_web_users_update(u, "bob", -1, "bob-password-2", err, sizeof(err)),
                     S4F_OK);
    s4f_web_users_free(u);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    u = s4f_web_users_open(path, err, sizeof(err));
    assert_non_null(u);
    assert_int_equal(s4f_web_users_count(u), 2);
    assert_true(s4f_web_users_verify(u, "bob", "bob-password-2", &role));
    assert_int_equal(role, S4F_WEB_ROLE_USER);
    assert_false(s4f_web_users_verify(u, "bob", "bob-password", &role));
    assert_false(s4f_web_users_verify(u, "nobody", "bob-password-2", &role));
    assert_int_equal(s4f_web_users_delete(u, "bob", err, sizeof(err)), S4F_OK);
    assert_int_equal(s4f_web_users_role(u, "bob"), -1);
    json_t *list = s4f_web_users_list(u);
    assert_int_equal(json_array_size(list), 1);
    assert_null(json_object_get(json_array_get(list, 0), "hash"));
    json_decref(list);
    s4f_web_users_free(u);

    /* A malformed file is refused, not half loaded. */
    FILE *f = fopen(path, "w");
    fputs("{\"users\": [{\"name\": \"x\", \"role\": \"root\", \"hash\": \"$y$x\"}]}", f);
    fclose(f);
    assert_null(s4f_web_users_open(path, err, sizeof(err)));
    unlink(path);
    rmdir(dir);
}

static void test_sessions(void **state)
{
    char tok[S4F_WEB_TOKEN_LEN + 1], tok2[S4F_WEB_TOKEN_LEN + 1];
    struct s4f_web_session_info info, got;
    (void)state;
    struct s4f_web_sessions *s = s4f_web_sessions_new(30 * 60000, 2);
    assert_int_equal(s4f_web_session_create(s, "alice", S4F_WEB_ROLE_ADMIN, 1000, tok, &info), 0);
    assert_int_equal(strlen(tok), 64);
    assert_int_equal(strlen(info.csrf), 64);
    assert_string_not_equal(tok, info.csrf);
    assert_true(s4f_web_session_lookup(s, tok, 1000 + 29 * 60000, &got));
    assert_string_equal(got.user, "alice");
    /* Idle clock restarts at every request. */
    assert_true(s4f_web_session_lookup(s, tok, 1000 + 58 * 60000, &got));
    assert_false(s4f_web_session_lookup(s, tok, 1000 + 89 * 60000, &got));
    /* Wrong tokens, short tokens, NULL. */
    assert_int_equal(s4f_web_session_create(s, "bob", S4F_WEB_ROLE_USER, 1000, tok, &info), 0);
    char wrong[S4F_WEB_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof(wrong));
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    assert_false(s4f_web_session_lookup(s, wrong, 2000, &got));
    assert_false(s4f_web_session_lookup(s, "abc", 2000, &got));
    assert_false(s4f_web_session_lookup(s, NULL, 2000, &got));
    /* Full table: the least recently used session goes. */
    assert_int_equal(s4f_web_session_create(s, "carol", S4F_WEB_ROLE_USER, 3000, tok2, &info), 0);
    assert_int_equal(s4f_web_session_create(s, "dave", S4F_WEB_ROLE_USER, 4000, wrong, &info), 0);
    assert_false(s4f_web_session_lookup(s, tok, 5000, &got));
    assert_true(s4f_web_session_lookup(s, tok2, 5000, &got));
    s4f_web_sessions_user_changed(s, "carol", S4F_WEB_ROLE_ADMIN);
    assert_true(s4f_web_session_lookup(s, tok2, 5000, &got));
    assert_int_equal(got.role, S4F_WEB_ROLE_ADMIN);
    s4f_web_sessions_user_changed(s, "carol", -1);
    assert_false(s4f_web_session_lookup(s, tok2, 5000, &got));
    s4f_web_session_destroy(s, wrong);
    assert_int_equal(s4f_web_sessions_count(s, 5000), 0);
    s4f_web_sessions_free(s);
    s4f_web_sessions_free(NULL);
}

static void test_throttle(void **state)
{
    (void)state;
    struct s4f_web_throttle *t = s4f_web_throttle_new(3, 60000, 300000, 2);
    for (int i = 0; i < 2; i++) {
        s4f_web_throttle_fail(t, "10.0.0.1", 1000 + i);
        assert_int_equal(s4f_web_throttle_check(t, "10.0.0.1", 1000 + i), 0);
    }
    s4f_web_throttle_fail(t, "10.0.0.1", 1010);
    assert_int_equal(s4f_web_throttle_check(t, "10.0.0.1", 1010), 300000);
    assert_int_equal(s4f_web_throttle_check(t, "10.0.0.2", 1010), 0);
    assert_int_equal(s4f_web_throttle_check(t, "10.0.0.1", 1010 + 300000), 0);
    /* Failures spread wider than the window do not add up. */
    s4f_web_throttle_fail(t, "10.0.0.3", 0);
    s4f_web_throttle_fail(t, "10.0.0.3", 70000);
    s4f_web_throttle_fail(t, "10.0.0.3", 140000);
    assert_int_equal(s4f_web_throttle_check(t, "10.0.0.3", 140000), 0);
    /* A success clears the count. */
    s4f_web_throttle_fail(t, "10.0.0.3", 140001);
    s4f_web_throttle_success(t, "10.0.0.3");
    s4f_web_throttle_fail(t, "10.0.0.3", 140002);
    assert_int_equal(s4f_web_throttle_check(t, "10.0.0.3", 140002), 0);
    s4f_web_throttle_free(t);
    s4f_web_throttle_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_throttle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
