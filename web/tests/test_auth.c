/* Unit tests of users.c, session.c and sha256.c: hashing, the users file, sessions with their
 * idle timeout, lifetime, per-user cap and file, CSRF tokens and the login throttle (clock
 * passed in, no sleeping). */
#include "session.h"
#include "sha256.h"
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

static void test_sha256(void **state)
{
    char hex[65];
    (void)state;
    /* FIPS 180-4 examples, and a message whose padding needs a second block. */
    s4f_web_sha256_hex("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    s4f_web_sha256_hex("", hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    s4f_web_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000001);
    memset(million, 'a', 1000000);
    million[1000000] = '\0';
    s4f_web_sha256_hex(million, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static struct s4f_web_sessions *sessions(size_t max, size_t per_user, const char *path)
{
    struct s4f_web_sessions_conf c = {.idle_ms = 30 * 60000,
                                      .lifetime_ms = 12 * 3600000LL,
                                      .max = max,
                                      .max_per_user = per_user,
                                      .path = path};
    return s4f_web_sessions_new(&c);
}

static void test_sessions(void **state)
{
    char tok[S4F_WEB_TOKEN_LEN + 1], tok2[S4F_WEB_TOKEN_LEN + 1];
    struct s4f_web_session_info info, got;
    (void)state;
    struct s4f_web_sessions *s = sessions(2, 10, NULL);
    assert_int_equal(s4f_web_session_create(s, "alice", S4F_WEB_ROLE_ADMIN, 1000, tok, &info),
                     S4F_OK);
    assert_int_equal(strlen(tok), 64);
    assert_int_equal(strlen(info.csrf), 64);
    assert_string_not_equal(tok, info.csrf);
    assert_true(s4f_web_session_lookup(s, tok, 1000 + 29 * 60000, &got));
    assert_string_equal(got.user, "alice");
    /* Idle clock restarts at every request. */
    assert_true(s4f_web_session_lookup(s, tok, 1000 + 58 * 60000, &got));
    assert_false(s4f_web_session_lookup(s, tok, 1000 + 89 * 60000, &got));
    /* Wrong tokens, short tokens, NULL. */
    assert_int_equal(s4f_web_session_create(s, "bob", S4F_WEB_ROLE_USER, 1000, tok, &info), S4F_OK);
    char wrong[S4F_WEB_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof(wrong));
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    assert_false(s4f_web_session_lookup(s, wrong, 2000, &got));
    assert_false(s4f_web_session_lookup(s, "abc", 2000, &got));
    assert_false(s4f_web_session_lookup(s, NULL, 2000, &got));
    assert_int_equal(s4f_web_session_create(s, "carol", S4F_WEB_ROLE_USER, 3000, tok2, &info),
                     S4F_OK);
    s4f_web_sessions_user_changed(s, "carol", S4F_WEB_ROLE_ADMIN);
    assert_true(s4f_web_session_lookup(s, tok2, 5000, &got));
    assert_int_equal(got.role, S4F_WEB_ROLE_ADMIN);
    s4f_web_sessions_user_changed(s, "carol", -1);
    assert_false(s4f_web_session_lookup(s, tok2, 5000, &got));
    s4f_web_session_destroy(s, tok);
    assert_int_equal(s4f_web_sessions_count(s, 5000), 0);
    s4f_web_sessions_free(s);
    s4f_web_sessions_free(NULL);
}

/* Regression (issue 13, item 5): one user logging in again and again could push every other
 * user's session out of the table. */
static void test_sessions_not_evicted_by_others(void **state)
{
    char alice[S4F_WEB_TOKEN_LEN + 1], tok[S4F_WEB_TOKEN_LEN + 1], first[S4F_WEB_TOKEN_LEN + 1];
    struct s4f_web_session_info info, got;
    (void)state;
    struct s4f_web_sessions *s = sessions(4, 2, NULL);
    assert_int_equal(s4f_web_session_create(s, "alice", S4F_WEB_ROLE_USER, 1000, alice, &info),
                     S4F_OK);
    /* mallory logs in 100 times: only mallory's own oldest sessions go. */
    assert_int_equal(s4f_web_session_create(s, "mallory", S4F_WEB_ROLE_USER, 1001, first, &info),
                     S4F_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(
            s4f_web_session_create(s, "mallory", S4F_WEB_ROLE_USER, 1002 + i, tok, &info), S4F_OK);
    assert_true(s4f_web_session_lookup(s, alice, 2000, &got));
    assert_true(s4f_web_session_lookup(s, tok, 2000, &got));
    assert_false(s4f_web_session_lookup(s, first, 2000, &got));
    assert_int_equal(s4f_web_sessions_count(s, 2000), 3);
    /* A full table refuses a newcomer rather than end somebody's live session. */
    assert_int_equal(s4f_web_session_create(s, "bob", S4F_WEB_ROLE_USER, 2000, tok, &info), S4F_OK);
    assert_int_equal(s4f_web_session_create(s, "carol", S4F_WEB_ROLE_USER, 2000, tok, &info),
                     S4F_RETRY);
    assert_true(s4f_web_session_lookup(s, alice, 2001, &got));
    /* The absolute lifetime ends even a busy session. */
    int64_t t = 2001;
    while (t < 1000 + 12 * 3600000LL - 60000) {
        t += 20 * 60000;
        if (t < 1000 + 12 * 3600000LL)
            assert_true(s4f_web_session_lookup(s, alice, t, &got));
    }
    assert_false(s4f_web_session_lookup(s, alice, 1000 + 12 * 3600000LL, &got));
    s4f_web_sessions_free(s);
}

/* Issue 19: sessions survive a restart; the file holds token hashes only. */
static void test_sessions_persist(void **state)
{
    char dir[] = "/tmp/s4f-web-sess-XXXXXX", upath[128], spath[128];
    char tok[S4F_WEB_TOKEN_LEN + 1], bob[S4F_WEB_TOKEN_LEN + 1];
    struct s4f_web_session_info info, got;
    size_t dropped;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(upath, sizeof(upath), "%s/users.json", dir);
    snprintf(spath, sizeof(spath), "%s/users.sessions.json", dir);
    struct s4f_web_users *u = s4f_web_users_open(upath, err, sizeof(err));
    assert_non_null(u);
    assert_int_equal(
        s4f_web_users_add(u, "alice", "alice-password", S4F_WEB_ROLE_ADMIN, 0, err, sizeof(err)),
        S4F_OK);
    assert_int_equal(
        s4f_web_users_add(u, "bob", "bob-password", S4F_WEB_ROLE_ADMIN, 0, err, sizeof(err)),
        S4F_OK);
    int64_t now = s4f_mono_ms();
    struct s4f_web_sessions *s = sessions(10, 10, spath);
    assert_int_equal(s4f_web_sessions_load(s, u, now, &dropped, err, sizeof(err)), 0);
    assert_int_equal(s4f_web_session_create(s, "alice", S4F_WEB_ROLE_ADMIN, now, tok, &info),
                     S4F_OK);
    assert_int_equal(s4f_web_session_create(s, "bob", S4F_WEB_ROLE_ADMIN, now, bob, &info), S4F_OK);
    s4f_web_sessions_free(s);

    struct stat sb;
    assert_int_equal(stat(spath, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    FILE *f = fopen(spath, "r");
    char text[8192];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_null(strstr(text, tok)); /* the token itself is never written */
    assert_null(strstr(text, bob));

    /* bob is demoted, then the daemon restarts. */
    assert_int_equal(s4f_web_users_update(u, "bob", S4F_WEB_ROLE_USER, NULL, err, sizeof(err)),
                     S4F_OK);
    s = sessions(10, 10, spath);
    assert_int_equal(s4f_web_sessions_load(s, u, s4f_mono_ms(), &dropped, err, sizeof(err)), 0);
    assert_int_equal(dropped, 0);
    assert_true(s4f_web_session_lookup(s, tok, s4f_mono_ms(), &got));
    assert_string_equal(got.user, "alice");
    assert_true(s4f_web_session_lookup(s, bob, s4f_mono_ms(), &got));
    assert_int_equal(got.role, S4F_WEB_ROLE_USER);
    s4f_web_sessions_free(s);
    /* A deleted user's sessions and expired ones are dropped at load. */
    assert_int_equal(s4f_web_users_delete(u, "bob", err, sizeof(err)), S4F_OK);
    s = sessions(10, 10, spath);
    assert_int_equal(s4f_web_sessions_load(s, u, s4f_mono_ms(), &dropped, err, sizeof(err)), 0);
    assert_int_equal(dropped, 1);
    assert_false(s4f_web_session_lookup(s, bob, s4f_mono_ms(), &got));
    s4f_web_sessions_free(s);
    /* An entry whose login is older than the lifetime is dropped at load. */
    json_error_t je;
    json_t *root = json_load_file(spath, 0, &je);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "sessions")), 1);
    json_object_set_new(json_array_get(json_object_get(root, "sessions"), 0), "created",
                        json_integer(s4f_wall_ms() - 13 * 3600000LL));
    assert_int_equal(json_dump_file(root, spath, 0), 0);
    json_decref(root);
    s = sessions(10, 10, spath);
    assert_int_equal(s4f_web_sessions_load(s, u, s4f_mono_ms(), &dropped, err, sizeof(err)), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(s4f_web_sessions_count(s, s4f_mono_ms()), 0);
    s4f_web_sessions_free(s);
    /* A symbolic link in place of the file is refused, not followed. */
    unlink(spath);
    assert_int_equal(symlink(upath, spath), 0);
    s = sessions(10, 10, spath);
    assert_int_equal(s4f_web_sessions_load(s, u, s4f_mono_ms(), &dropped, err, sizeof(err)), -1);
    s4f_web_sessions_free(s);
    unlink(spath);
    s4f_web_users_free(u);
    unlink(upath);
    rmdir(dir);
}

static struct s4f_web_throttle *throttle(int addr_max, int user_max, int hashing)
{
    struct s4f_web_throttle_conf c = {.addr_max_failures = addr_max,
                                      .user_max_failures = user_max,
                                      .window_ms = 60000,
                                      .lockout_ms = 300000,
                                      .max_entries = 4,
                                      .max_hashing = hashing};
    return s4f_web_throttle_new(&c);
}

static void test_throttle(void **state)
{
    (void)state;
    struct s4f_web_throttle *t = throttle(3, 100, 2);
    /* Three attempts pass (each counted before its check), the fourth is refused. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.1", "alice", 1, 1000 + i), 0);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.1", "alice", 1, 1010), 300000);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.1", "bob", 1, 1011), 299999);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.2", "bob", 1, 1010), 0);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.1", "bob", 1, 1010 + 300000), 0);
    /* Failures spread wider than the window do not add up. */
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.3", "x", 0, 0), 0);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.3", "x", 0, 70000), 0);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.3", "x", 0, 140000), 0);
    assert_int_equal(s4f_web_throttle_begin(t, "10.0.0.3", "x", 0, 140001), 0);
    s4f_web_throttle_free(t);
    s4f_web_throttle_free(NULL);
}

/* Regression (issue 13, item 4): a success on one account cleared the address's failures. */
static void test_throttle_success_refunds_only_itself(void **state)
{
    (void)state;
    struct s4f_web_throttle *t = throttle(3, 100, 2);
    int guesses = 0;
    for (int round = 0; round < 10; round++) {
        int64_t now = 1000 + round;
        guesses += s4f_web_throttle_begin(t, "10.0.0.9", "victim", 1, now) == 0;
        /* The attacker's own account, right password: refunded, nothing more. */
        if (s4f_web_throttle_begin(t, "10.0.0.9", "mine", 1, now) == 0)
            s4f_web_throttle_refund(t, "10.0.0.9", "mine", now);
    }
    assert_int_equal(guesses, 3); /* login_max_failures, however many successes between */
    assert_true(s4f_web_throttle_begin(t, "10.0.0.9", "victim", 1, 2000) > 0);
    s4f_web_throttle_free(t);
}

/* Regression (issue 13, item 4): the limit was per address only; guesses for one account from
 * many addresses, or IPv6 addresses of one /64, now add up. */
static void test_throttle_account_and_prefix(void **state)
{
    char a[64];
    (void)state;
    struct s4f_web_throttle *t = throttle(1000, 5, 2);
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof(a), "127.0.0.%d", i + 2);
        assert_int_equal(s4f_web_throttle_begin(t, a, "alice", 1, 1000), 0);
    }
    assert_true(s4f_web_throttle_begin(t, "127.0.0.99", "alice", 1, 1000) > 0);
    /* Pushing entries out with unknown names does not free alice: existing accounts stay. */
    for (int i = 0; i < 100; i++) {
        snprintf(a, sizeof(a), "nobody%d", i);
        s4f_web_throttle_begin(t, "10.1.1.1", a, 0, 1001 + i);
    }
    assert_true(s4f_web_throttle_begin(t, "127.0.0.98", "alice", 1, 2000) > 0);
    s4f_web_throttle_free(t);

    t = throttle(3, 1000, 2);
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof(a), "2001:db8:1:2::%x", i + 1);
        assert_int_equal(s4f_web_throttle_begin(t, a, "bob", 1, 1000), 0);
    }
    assert_true(s4f_web_throttle_begin(t, "2001:db8:1:2:ffff::1", "bob", 1, 1000) > 0);
    assert_int_equal(s4f_web_throttle_begin(t, "2001:db8:1:3::1", "bob", 1, 1000), 0);
    s4f_web_addr_group("2001:db8:1:2:3:4:5:6", a, sizeof(a));
    assert_string_equal(a, "2001:db8:1:2::/64");
    s4f_web_addr_group("::ffff:192.0.2.7", a, sizeof(a));
    assert_string_equal(a, "192.0.2.7");
    s4f_web_addr_group("192.0.2.7", a, sizeof(a));
    assert_string_equal(a, "192.0.2.7");
    s4f_web_throttle_free(t);
}

static void test_hash_gate(void **state)
{
    (void)state;
    struct s4f_web_throttle *t = throttle(3, 3, 2);
    assert_true(s4f_web_throttle_hash_enter(t));
    assert_true(s4f_web_throttle_hash_enter(t));
    assert_false(s4f_web_throttle_hash_enter(t));
    s4f_web_throttle_hash_leave(t);
    assert_true(s4f_web_throttle_hash_enter(t));
    s4f_web_throttle_free(t);
}

static void test_users_file_links(void **state)
{
    char dir[] = "/tmp/s4f-web-link-XXXXXX", path[128], target[128], tmp[140];
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/users.json", dir);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(target, "w");
    fputs("{\"users\": []}", f);
    fclose(f);
    /* The users file itself as a link: refused. */
    assert_int_equal(symlink(target, path), 0);
    assert_null(s4f_web_users_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "symbolic link"));
    unlink(path);
    /* A link planted at the temporary name: removed, never written through. */
    assert_int_equal(symlink(target, tmp), 0);
    struct s4f_web_users *u = s4f_web_users_open(path, err, sizeof(err));
    assert_non_null(u);
    assert_int_equal(
        s4f_web_users_add(u, "alice", "alice-password", S4F_WEB_ROLE_ADMIN, 0, err, sizeof(err)),
        S4F_OK);
    s4f_web_users_free(u);
    struct stat sb;
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    f = fopen(target, "r");
    char text[64] = "";
    assert_non_null(fgets(text, sizeof(text), f));
    fclose(f);
    assert_string_equal(text, "{\"users\": []}");
    unlink(path);
    unlink(target);
    unlink(tmp);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_users_file),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_sessions_not_evicted_by_others),
        cmocka_unit_test(test_sessions_persist),
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_throttle_success_refunds_only_itself),
        cmocka_unit_test(test_throttle_account_and_prefix),
        cmocka_unit_test(test_hash_gate),
        cmocka_unit_test(test_users_file_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
