/* Sessions and login throttling, both in memory (a restart signs everybody out, which is the
 * safe default for a security dashboard).
 *
 * A session is a 256-bit random token (getrandom) sent in an HttpOnly cookie, plus a second
 * random token for CSRF that the page reads from the login answer and repeats in the
 * X-CSRF-Token header of every state-changing request. Sessions expire after idle_ms without a
 * request. The tables are bounded: when full, the least recently used session is dropped, and
 * the throttle forgets its oldest address.
 *
 * Times are passed in (monotonic milliseconds) so that tests can drive the clock.
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

struct s4f_web_sessions;

struct s4f_web_sessions *s4f_web_sessions_new(int64_t idle_ms, size_t max);
void s4f_web_sessions_free(struct s4f_web_sessions *s);

/* Creates a session; token receives the cookie value (S4F_WEB_TOKEN_LEN + 1 bytes), info the
 * CSRF token. 0 or -1. */
int s4f_web_session_create(struct s4f_web_sessions *s, const char *user, enum s4f_web_role role,
                           int64_t now_ms, char *token, struct s4f_web_session_info *info);
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

/* Login throttle per client address: after max_failures failed logins within window_ms the
 * address is locked out for lockout_ms. */
struct s4f_web_throttle;
struct s4f_web_throttle *s4f_web_throttle_new(int max_failures, int64_t window_ms,
                                              int64_t lockout_ms, size_t max_entries);
void s4f_web_throttle_free(struct s4f_web_throttle *t);
/* Milliseconds until addr may try again; 0 when it may now. */
int64_t s4f_web_throttle_check(struct s4f_web_throttle *t, const char *addr, int64_t now_ms);
void s4f_web_throttle_fail(struct s4f_web_throttle *t, const char *addr, int64_t now_ms);
void s4f_web_throttle_success(struct s4f_web_throttle *t, const char *addr);

#endif
