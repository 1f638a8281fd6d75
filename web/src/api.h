/* The JSON API under /api/: authentication, CSRF, parameter validation and the handlers.
 *
 * server.c turns an HTTP request into a struct s4f_web_req (decoded path, query arguments in
 * order, body, cookie, client address) and sends back what s4f_web_api_handle() puts into the
 * struct s4f_web_answer. Every route except POST /api/login needs a live session; every
 * POST/PUT/DELETE needs a JSON body type, a same-origin Origin (when the browser sends one) and,
 * with a session, the session's X-CSRF-Token. Called from the HTTP threads concurrently. */
#ifndef S4F_WEB_API_H
#define S4F_WEB_API_H

#include "web.h"

#include <stdbool.h>
#include <stddef.h>

#define S4F_WEB_MAX_ARGS 16
#define S4F_WEB_MAX_BODY (64u << 10)

struct s4f_web_arg {
    const char *key;
    const char *value; /* "" for a key without '=' */
};

struct s4f_web_req {
    const char *method;
    const char *path; /* starts with "/api/" */
    struct s4f_web_arg args[S4F_WEB_MAX_ARGS];
    size_t nargs;
    bool args_overflow;
    const char *body; /* not terminated; body_len bytes */
    size_t body_len;
    bool body_too_large;
    const char *content_type;
    const char *origin;
    const char *host;
    const char *client; /* peer address text */
    const char *token;  /* session cookie or NULL */
    const char *csrf;   /* X-CSRF-Token or NULL */
    bool gzip_ok;       /* Accept-Encoding allows gzip */
};

struct s4f_web_answer {
    int status;
    char *body; /* malloc'ed JSON text */
    size_t len;
    char set_cookie[256]; /* "" for none */
    long retry_after_s;   /* > 0: Retry-After header */
    const char *allow;    /* 405: Allow header */
    bool cache_hit;
    bool gzipped; /* body is gzip-compressed (Content-Encoding: gzip) */
};

void s4f_web_api_handle(struct s4f_web_app *app, const struct s4f_web_req *req,
                        struct s4f_web_answer *ans);

#endif
