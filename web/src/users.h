/* Dashboard users: a JSON file of names, roles and slow salted password hashes.
 *
 *   {"users": [{"name": "alice", "role": "admin", "hash": "$y$j9T$...", "changed": "2026-..."}]}
 *
 * Hashes come from libcrypt (yescrypt "$y$", the Debian default); bcrypt "$2b$" hashes written by
 * other tools are accepted too. The file is rewritten atomically (temporary file, fsync, rename)
 * with mode 0600 at every change, so a crash never leaves half a file behind; it is opened
 * without following symbolic links.
 *
 * Thread-safety: every function takes the store's mutex, so the HTTP threads may share one store.
 * Password checks run outside the mutex: a slow hash does not serialise other requests. */
#ifndef S4F_WEB_USERS_H
#define S4F_WEB_USERS_H

#include "s4f.h"

#include <jansson.h>
#include <stddef.h>

enum s4f_web_role {
    S4F_WEB_ROLE_USER = 0,
    S4F_WEB_ROLE_ADMIN = 1,
};

const char *s4f_web_role_name(enum s4f_web_role r);
/* "admin" or "user"; -1 otherwise. */
int s4f_web_role_parse(const char *s);

#define S4F_WEB_PASSWORD_MIN 10
#define S4F_WEB_PASSWORD_MAX 256
#define S4F_WEB_USERS_MAX    1000

/* Checks a new password against the policy; returns 0 or -1 with a reason. */
int s4f_web_password_policy(const char *pw, char *err, size_t errlen);
/* Hashes pw with a fresh random salt into out (at least 128 bytes). 0 or -1. */
int s4f_web_password_hash(const char *pw, char *out, size_t len);
/* 1 if pw matches hash, 0 otherwise (also for a malformed hash). Constant time compare. */
int s4f_web_password_check(const char *pw, const char *hash);

struct s4f_web_users;

/* Loads path; a missing file gives an empty store that is created at the first change.
 * NULL with err on a malformed file. A file readable by group or others is loaded with a
 * warning, and gets mode 0600 again at the next change. */
struct s4f_web_users *s4f_web_users_open(const char *path, char *err, size_t errlen);
void s4f_web_users_free(struct s4f_web_users *u);

size_t s4f_web_users_count(struct s4f_web_users *u);
size_t s4f_web_users_admins(struct s4f_web_users *u);

/* Adds a user (fails if the name exists unless replace). S4F_OK or S4F_ERR with err. */
enum s4f_status s4f_web_users_add(struct s4f_web_users *u, const char *name, const char *password,
                                  enum s4f_web_role role, int replace, char *err, size_t errlen);
/* Changes the role (role < 0: keep) and/or the password (NULL: keep). Refuses to demote the last
 * admin. */
enum s4f_status s4f_web_users_update(struct s4f_web_users *u, const char *name, int role,
                                     const char *password, char *err, size_t errlen);
/* Refuses to delete the last admin. */
enum s4f_status s4f_web_users_delete(struct s4f_web_users *u, const char *name, char *err,
                                     size_t errlen);
/* Checks a login. Returns 1 and the role if name and password match, 0 otherwise. For an
 * unknown name a dummy hash is still computed, so timing does not reveal which names exist. */
int s4f_web_users_verify(struct s4f_web_users *u, const char *name, const char *password,
                         enum s4f_web_role *role);
/* Replaces path with text atomically (a temporary file beside it, fsync, rename), mode 0600;
 * the temporary file is created exclusively and never through a symbolic link. S4F_OK or
 * S4F_ERR with err. */
enum s4f_status s4f_web_write_private(const char *path, const char *text, char *err, size_t errlen);
/* Parses the JSON file path, opened without following a symbolic link; a file readable by group
 * or others is read with a warning. NULL with *missing = 1 when there is no file, NULL with
 * err when it cannot be read or parsed. The caller owns the reference. */
json_t *s4f_web_json_load_private(const char *path, int *missing, char *err, size_t errlen);

/* Role of an existing user, or -1. */
int s4f_web_users_role(struct s4f_web_users *u, const char *name);
/* [{"name":..., "role":..., "changed":...}] without hashes; the caller owns the reference. */
json_t *s4f_web_users_list(struct s4f_web_users *u);

#endif
