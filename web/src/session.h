/* Sessions and login throttling.
 *
 * A session is a 256-bit random token (getrandom) sent in an HttpOnly cookie, plus a second
 * random token for CSRF that the page reads from the login answer and repeats in the
 * X-CSRF-Token header of every state-changing request. Only the SHA-256 of the cookie token is
 * kept, in memory and in the sessions file beside the users file (mode 0600, rewritten
 * atomically), so sessions survive a restart while a copy of the file signs nobody in.
 *
 * A session ends after idle_ms without a request, or lifetime_ms after the login, whichever
 * comes first. One user holds at most max_per_user sessions: a further login ends that user's
 * oldest. The table holds at most max sessions and never ends another user's live session to
 * make room: when it is full of live sessions a login is refused (S4F_RETRY).
 *
 * Times are passed in (monotonic milliseconds) so that tests can drive the clock; the file holds
 * wall-clock times, converted at save and load.
 * Thread-safety: every function takes the table's mutex. */
#ifndef S4F_WEB_SESSION_H
#define S4F_WEB_SESSION_H

#include "users.h"

#include <stddef.h>
#include <stdint.h>

#define S4F_WEB_TOKEN_LEN 64 /* hex characters of a token */
#define S4F_WEB_NAME_MAX  65

/* Fills out with 2*bytes hex characters and a terminator from the kernel's random source.
 * 0 or -1. */
int s4f_web_random_hex(char *out, size_t bytes);
/* Constant-time string comparison of equal-length secrets; 1 if equal. */
int s4f_web_secret_eq(const char *a, const char *b);

struct s4f_web_session_info {
    char user[S4F_WEB_NAME_MAX];
    char csrf[S4F_WEB_TOKEN_LEN + 1];
    enum s4f_web_role role;
};

struct s4f_web_sessions_conf {
    int64_t idle_ms;
    int64_t lifetime_ms;
    size_t max;
    size_t max_per_user;
    const char *path; /* sessions file, copied; NULL keeps sessions in memory only */
};

struct s4f_web_sessions;

struct s4f_web_sessions *s4f_web_sessions_new(const struct s4f_web_sessions_conf *conf);
/* Saves (when there is a file) and frees. NULL-safe. */
void s4f_web_sessions_free(struct s4f_web_sessions *s);

/* Loads the sessions file: drops expired entries, entries of users that no longer exist, and
 * malformed entries (counted in *dropped), and takes each user's current role from users.
 * A missing file is no error. 0, or -1 with err for an unreadable or malformed file. */
int s4f_web_sessions_load(struct s4f_web_sessions *s, struct s4f_web_users *users, int64_t now_ms,
                          size_t *dropped, char *err, size_t errlen);
/* Writes the file now (also done at every change, and at most every minute for idle clocks). */
enum s4f_status s4f_web_sessions_save(struct s4f_web_sessions *s, int64_t now_ms);

/* Creates a session; token receives the cookie value (S4F_WEB_TOKEN_LEN + 1 bytes), info the
 * CSRF token. S4F_OK, S4F_RETRY when the table is full of other users' live sessions, S4F_ERR. */
enum s4f_status s4f_web_session_create(struct s4f_web_sessions *s, const char *user,
                                       enum s4f_web_role role, int64_t now_ms, char *token,
                                       struct s4f_web_session_info *info);
/* Finds a live session and refreshes its idle clock. 1 found (info filled), 0 not. */
int s4f_web_session_lookup(struct s4f_web_sessions *s, const char *token, int64_t now_ms,
                           struct s4f_web_session_info *info);
void s4f_web_session_destroy(struct s4f_web_sessions *s, const char *token);
/* After a role change or deletion: role < 0 drops every session of user, otherwise sets it. */
void s4f_web_sessions_user_changed(struct s4f_web_sessions *s, const char *user, int role);
/* Drops the sessions of user except keep_token (NULL: all), after a password change. */
void s4f_web_sessions_drop_user(struct s4f_web_sessions *s, const char *user,
                                const char *keep_token);
size_t s4f_web_sessions_count(struct s4f_web_sessions *s, int64_t now_ms);

/* Login throttle. Failed logins are counted per client address (IPv6 grouped by /64) and per
 * account name; after max_failures within window_ms the address or account is locked out for
 * lockout_ms. An attempt is counted before its password is checked, under the throttle's mutex,
 * so parallel attempts cannot all pass the check; a successful attempt is refunded, and a
 * success never clears failures of another attempt, account or address.
 *
 * Accounts that exist are never pushed out of the table; addresses and unknown names are, the
 * least recently seen unlocked one first, when it is full.
 *
 * The throttle also bounds how many password hashes (each one costs yescrypt's memory) run at
 * once: s4f_web_throttle_hash_enter() refuses past max_hashing. */
struct s4f_web_throttle_conf {
    int addr_max_failures;
    int user_max_failures;
    int64_t window_ms;
    int64_t lockout_ms;
    size_t max_entries;
    int max_hashing;
};
struct s4f_web_throttle;
struct s4f_web_throttle *s4f_web_throttle_new(const struct s4f_web_throttle_conf *conf);
void s4f_web_throttle_free(struct s4f_web_throttle *t);
/* Records an attempt of client for user (known: the account exists). Returns 0 when it may go on
 * (counted as a failure until refunded), or the milliseconds until it may try again. */
int64_t s4f_web_throttle_begin(struct s4f_web_throttle *t, const char *client, const char *user,
                               int known, int64_t now_ms);
/* Takes back the attempt of s4f_web_throttle_begin (the password was right). */
void s4f_web_throttle_refund(struct s4f_web_throttle *t, const char *client, const char *user,
                             int64_t now_ms);
/* 1 when a hash may start now (call s4f_web_throttle_hash_leave after it), 0 when busy. */
int s4f_web_throttle_hash_enter(struct s4f_web_throttle *t);
void s4f_web_throttle_hash_leave(struct s4f_web_throttle *t);

/* The throttle's key of a client address: an IPv4 address as it is (also when IPv4-mapped),
 * an IPv6 address as its /64 ("2001:db8:1:2::/64"), anything else as it is. */
void s4f_web_addr_group(const char *addr, char *out, size_t len);

#endif
