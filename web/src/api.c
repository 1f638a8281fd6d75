#include "api.h"

#include "components.h"
#include "history.h"
#include "log.h"
#include "params.h"
#include "query.h"
#include "s4f.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COOKIE "s4f_session"

static void answer_json(struct s4f_web_answer *ans, int status, json_t *body)
{
    ans->status = status;
    ans->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    ans->len = ans->body ? strlen(ans->body) : 0;
    json_decref(body);
    if (!ans->body) {
        ans->status = 500;
        ans->body = strdup("{\"error\":\"out of memory\"}");
        ans->len = ans->body ? strlen(ans->body) : 0;
    }
}

static void __attribute__((format(printf, 3, 4)))
answer_error(struct s4f_web_answer *ans, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    answer_json(ans, status, json_pack("{s:s}", "error", msg));
}

static const char *arg(const struct s4f_web_req *req, const char *key)
{
    for (size_t i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0)
            return req->args[i].value;
    return NULL;
}

/* Refuses unknown and repeated query parameters: a typo should say so, not be ignored. */
static int check_args(const struct s4f_web_req *req, const char *const *allowed, char *err,
                      size_t errlen)
{
    if (req->args_overflow) {
        snprintf(err, errlen, "too many query parameters (at most %d)", S4F_WEB_MAX_ARGS);
        return -1;
    }
    for (size_t i = 0; i < req->nargs; i++) {
        int ok = 0;
        for (size_t k = 0; allowed && allowed[k]; k++)
            ok |= strcmp(req->args[i].key, allowed[k]) == 0;
        if (!ok) {
            char q[48];
            size_t o = 0;
            for (const char *p = req->args[i].key; *p && o + 1 < sizeof(q); p++)
                q[o++] = (*p >= 0x20 && *p < 0x7f && *p != '\'') ? *p : '?';
            q[o] = '\0';
            snprintf(err, errlen, "unknown parameter '%s'", q);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(req->args[i].key, req->args[j].key) == 0) {
                snprintf(err, errlen, "parameter '%s' given twice", req->args[i].key);
                return -1;
            }
    }
    return 0;
}

/* Parses the JSON body of a state-changing request into an object. */
static json_t *body_object(const struct s4f_web_req *req, struct s4f_web_answer *ans)
{
    json_error_t je;
    if (req->body_too_large) {
        answer_error(ans, 413, "request body larger than %u bytes", S4F_WEB_MAX_BODY);
        return NULL;
    }
    json_t *o = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        answer_error(ans, 400, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/* A string member of a body, or NULL; sets *bad for a member of another type. */
static const char *member(const json_t *o, const char *key, int *bad)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

static int check_body_keys(const json_t *o, const char *const *allowed, struct s4f_web_answer *ans)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        int ok = 0;
        for (size_t k = 0; allowed[k]; k++)
            ok |= strcmp(key, allowed[k]) == 0;
        if (!ok) {
            answer_error(ans, 400, "unknown field in body");
            return -1;
        }
    }
    return 0;
}

static void session_cookie(const struct s4f_web_app *app, struct s4f_web_answer *ans,
                           const char *token)
{
    if (token)
        snprintf(ans->set_cookie, sizeof(ans->set_cookie),
                 COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", token,
                 app->tls ? "; Secure" : "");
    else
        snprintf(ans->set_cookie, sizeof(ans->set_cookie),
                 COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
                 app->tls ? "; Secure" : "");
}

static json_t *session_json(const struct s4f_web_app *app, const struct s4f_web_session_info *s)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I}", "user", s->user, "role",
                     s4f_web_role_name(s->role), "csrf", s->csrf, "idle_timeout_s",
                     (json_int_t)(app->conf->session_idle_ms / 1000), "refresh_ms",
                     (json_int_t)app->conf->refresh_ms);
}

/* Checks name's password under the throttle: the attempt is counted before the (slow, memory
 * hungry) hash runs, and only max_hashing hashes run at once. 0 right, -1 answered (401/403 via
 * wrong_status, or 429). */
static int checked_password(struct s4f_web_app *app, const struct s4f_web_req *req,
                            const char *name, const char *pw, int wrong_status,
                            enum s4f_web_role *role, struct s4f_web_answer *ans)
{
    if (!s4f_web_throttle_hash_enter(app->throttle)) {
        s4f_metric_inc(app->c.login_busy);
        ans->retry_after_s = 1;
        answer_error(ans, 429, "too many logins at once; try again in 1 s");
        return -1;
    }
    int64_t now = s4f_mono_ms();
    int known = s4f_web_users_role(app->users, name) >= 0;
    int64_t wait = s4f_web_throttle_begin(app->throttle, req->client, name, known, now);
    if (wait > 0) {
        s4f_web_throttle_hash_leave(app->throttle);
        s4f_metric_inc(app->c.login_throttled);
        ans->retry_after_s = (long)((wait + 999) / 1000);
        answer_error(ans, 429, "too many failed logins; try again in %ld s", ans->retry_after_s);
        return -1;
    }
    int ok = s4f_web_users_verify(app->users, name, pw, role);
    s4f_web_throttle_hash_leave(app->throttle);
    if (!ok) {
        s4f_metric_inc(app->c.login_failed);
        s4f_warn_rl("failed login for a user name of %zu characters from %s", strlen(name),
                    req->client);
        answer_error(ans, wrong_status,
                     wrong_status == 401 ? "wrong user name or password"
                                         : "the current password is wrong");
        return -1;
    }
    s4f_web_throttle_refund(app->throttle, req->client, name, now);
    return 0;
}

static void do_login(struct s4f_web_app *app, const struct s4f_web_req *req,
                     struct s4f_web_answer *ans)
{
    json_t *b = body_object(req, ans);
    if (!b)
        return;
    static const char *const keys[] = {"username", "password", NULL};
    int bad = 0;
    const char *user = member(b, "username", &bad), *pw = member(b, "password", &bad);
    if (check_body_keys(b, keys, ans) != 0)
        goto out;
    if (bad || !user || !pw || strlen(user) > 64 || strlen(pw) > S4F_WEB_PASSWORD_MAX) {
        answer_error(ans, 400, "expected {\"username\": \"...\", \"password\": \"...\"}");
        goto out;
    }
    enum s4f_web_role role;
    if (checked_password(app, req, user, pw, 401, &role, ans) != 0)
        goto out;
    char token[S4F_WEB_TOKEN_LEN + 1];
    struct s4f_web_session_info info;
    enum s4f_status st =
        s4f_web_session_create(app->sessions, user, role, s4f_mono_ms(), token, &info);
    if (st != S4F_OK) {
        if (st == S4F_RETRY) {
            s4f_metric_inc(app->c.sessions_refused);
            s4f_warn_rl("login of '%s' refused: %lld live sessions (web.max_sessions)", user,
                        (long long)app->conf->max_sessions);
            ans->retry_after_s = 60;
        }
        answer_error(ans, 503,
                     st == S4F_RETRY ? "too many sessions; try again later"
                                     : "cannot create a session");
        goto out;
    }
    s4f_metric_inc(app->c.login_ok);
    s4f_info("user '%s' signed in from %s", info.user, req->client);
    session_cookie(app, ans, token);
    explicit_bzero(token, sizeof(token));
    answer_json(ans, 200, session_json(app, &info));
out:
    json_decref(b);
}

/* Runs one search; on failure answers 502/503 and returns NULL. */
static json_t *search(struct s4f_web_app *app, const char *indices, json_t *body,
                      struct s4f_web_answer *ans)
{
    char err[512];
    json_t *res = NULL;
    if (!body) {
        answer_error(ans, 500, "out of memory");
        return NULL;
    }
    enum s4f_status st = s4f_web_es_search(app->es, indices, body, &res, err, sizeof(err));
    json_decref(body);
    if (st != S4F_OK) {
        s4f_metric_inc(app->c.es_errors);
        s4f_error_rl("elasticsearch query on %s failed: %s", indices, err);
        answer_error(ans, st == S4F_RETRY ? 503 : 502,
                     st == S4F_RETRY ? "Elasticsearch is unavailable; retry shortly"
                                     : "Elasticsearch refused the query (see the server log)");
        return NULL;
    }
    return res;
}

static const char *const range_args[] = {"range", "from", "to", "interval", NULL};

static int get_range(const struct s4f_web_req *req, int64_t default_ms, struct s4f_web_range *r,
                     struct s4f_web_answer *ans)
{
    char err[256];
    if (s4f_web_parse_range(arg(req, "range"), arg(req, "from"), arg(req, "to"),
                            arg(req, "interval"), s4f_wall_ms(), default_ms, r, err,
                            sizeof(err)) != 0) {
        answer_error(ans, 400, "%s", err);
        return -1;
    }
    return 0;
}

static void do_protocols(struct s4f_web_app *app, const struct s4f_web_req *req,
                         const struct s4f_web_session_info *s, const char *name,
                         struct s4f_web_answer *ans)
{
    struct s4f_web_range r;
    char idx[256], err[256];
    if (check_args(req, range_args, err, sizeof(err)) != 0) {
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (get_range(req, S4F_WEB_DEFAULT_RANGE_MS, &r, ans) != 0)
        return;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_PROTOCOLS, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_protocols(&r, s4f_wall_ms()), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_protocols(res, &r));
    json_decref(res);
}

static void do_dns(struct s4f_web_app *app, const struct s4f_web_req *req,
                   const struct s4f_web_session_info *s, const char *name,
                   struct s4f_web_answer *ans)
{
    static const char *const allowed[] = {"range", "from", "to", "interval", "top", NULL};
    struct s4f_web_range r;
    int64_t top = 10;
    char idx[512], err[256];
    const char *v;
    if (check_args(req, allowed, err, sizeof(err)) != 0 ||
        ((v = arg(req, "top")) && s4f_web_parse_int("top", v, 1, 100, &top, err, sizeof(err)))) {
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (get_range(req, S4F_WEB_DEFAULT_RANGE_MS, &r, ans) != 0)
        return;
    s4f_web_dns_indices(app->es_conf->index_prefix, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_dns(&r, top), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_dns(res, &r));
    json_decref(res);
}

static void do_tls(struct s4f_web_app *app, const struct s4f_web_req *req,
                   const struct s4f_web_session_info *s, const char *name,
                   struct s4f_web_answer *ans)
{
    static const char *const allowed[] = {"range", "from", "to", "interval", "top", NULL};
    struct s4f_web_range r;
    int64_t top = 10;
    char idx[256], err[256];
    const char *v;
    if (check_args(req, allowed, err, sizeof(err)) != 0 ||
        ((v = arg(req, "top")) && s4f_web_parse_int("top", v, 1, 100, &top, err, sizeof(err)))) {
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (get_range(req, S4F_WEB_DEFAULT_RANGE_MS, &r, ans) != 0)
        return;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_TLS, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_tls(&r, top), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_tls(res, &r));
    json_decref(res);
}

static void do_topn(struct s4f_web_app *app, const struct s4f_web_req *req,
                    const struct s4f_web_session_info *s, const char *name,
                    struct s4f_web_answer *ans)
{
    struct s4f_web_range r;
    char idx[256], err[256], host[S4F_WEB_ADDR_MAX];
    if (check_args(req, range_args, err, sizeof(err)) != 0 ||
        s4f_web_parse_ip("address", name, host, sizeof(host), err, sizeof(err)) != 0) {
        s4f_metric_inc(app->c.bad_params);
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (get_range(req, 24LL * 3600 * 1000, &r, ans) != 0)
        return;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_TOPN, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_topn(&r, host), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_topn(res, host));
    json_decref(res);
}

static void do_detections(struct s4f_web_app *app, const struct s4f_web_req *req,
                          const struct s4f_web_session_info *s, const char *name,
                          struct s4f_web_answer *ans)
{
    static const char *const allowed[] = {"range",   "from", "to",     "interval", "type",
                                          "address", "size", "offset", NULL};
    struct s4f_web_range r;
    struct s4f_web_det_filter f = {.size = 50, .offset = 0};
    char idx[512], err[256], addr[S4F_WEB_ADDR_MAX], type[72];
    const char *v;
    if (check_args(req, allowed, err, sizeof(err)) != 0)
        goto bad;
    if (get_range(req, 24LL * 3600 * 1000, &r, ans) != 0)
        return;
    if ((v = arg(req, "type"))) {
        /* One of the detection types (some hold a '.': detection.ddos), nothing else. */
        f.type = s4f_web_detection_type(v, type, sizeof(type));
        if (!f.type) {
            if (s4f_web_parse_ident("type", v, 64, err, sizeof(err)) == 0)
                snprintf(err, sizeof(err), "parameter 'type': not a detection type");
            goto bad;
        }
    }
    if ((v = arg(req, "address"))) {
        if (s4f_web_parse_cidr("address", v, addr, sizeof(addr), err, sizeof(err)) != 0)
            goto bad;
        f.address = addr;
    }
    if ((v = arg(req, "size")) && s4f_web_parse_int("size", v, 0, 500, &f.size, err, sizeof(err)))
        goto bad;
    if ((v = arg(req, "offset")) &&
        s4f_web_parse_int("offset", v, 0, 10000 - f.size, &f.offset, err, sizeof(err)))
        goto bad;
    s4f_web_detection_indices(app->es_conf->index_prefix, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_detections(&r, &f), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_detections(res, &r));
    json_decref(res);
    return;
bad:
    s4f_metric_inc(app->c.bad_params);
    answer_error(ans, 400, "%s", err);
}

static void do_hosts(struct s4f_web_app *app, const struct s4f_web_req *req,
                     const struct s4f_web_session_info *s, const char *name,
                     struct s4f_web_answer *ans)
{
    static const char *const allowed[] = {"range", "from", "to", "net", "order", "size", NULL};
    struct s4f_web_range r;
    struct s4f_web_host_filter f = {.order = "flows_out", .size = 20};
    char idx[256], err[256], net[S4F_WEB_ADDR_MAX];
    const char *v;
    if (check_args(req, allowed, err, sizeof(err)) != 0)
        goto bad;
    if (get_range(req, 3600LL * 1000, &r, ans) != 0)
        return;
    if ((v = arg(req, "net"))) {
        if (s4f_web_parse_cidr("net", v, net, sizeof(net), err, sizeof(err)) != 0)
            goto bad;
        f.net = net;
    }
    if ((v = arg(req, "order"))) {
        f.order = NULL;
        for (size_t i = 0; s4f_web_host_orders[i]; i++)
            if (strcmp(v, s4f_web_host_orders[i]) == 0)
                f.order = s4f_web_host_orders[i];
        if (!f.order) {
            snprintf(err, sizeof(err),
                     "parameter 'order' must be one of flows_out, flows_in, packets_out, "
                     "packets_in, bytes_out, bytes_in");
            goto bad;
        }
    }
    if ((v = arg(req, "size")) && s4f_web_parse_int("size", v, 1, 100, &f.size, err, sizeof(err)))
        goto bad;
    f.local_nets = (const char *const *)app->local_nets;
    f.n_local = app->n_local;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_HOSTS, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_hosts(&r, &f), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_hosts(res));
    json_decref(res);
    return;
bad:
    s4f_metric_inc(app->c.bad_params);
    answer_error(ans, 400, "%s", err);
}

static void do_host(struct s4f_web_app *app, const struct s4f_web_req *req,
                    const struct s4f_web_session_info *s, const char *name,
                    struct s4f_web_answer *ans)
{
    const char *address = name;
    struct s4f_web_range r;
    char idx[256], err[256], host[S4F_WEB_ADDR_MAX];
    if (check_args(req, range_args, err, sizeof(err)) != 0 ||
        s4f_web_parse_ip("address", address, host, sizeof(host), err, sizeof(err)) != 0) {
        s4f_metric_inc(app->c.bad_params);
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (get_range(req, 24LL * 3600 * 1000, &r, ans) != 0)
        return;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_HOSTS, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_host(&r, host), ans);
    if (!res)
        return;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_PROFILE, idx, sizeof(idx));
    json_t *prof = search(app, idx, s4f_web_q_host_profile(host), ans);
    if (!prof) {
        json_decref(res);
        return;
    }
    answer_json(ans, 200, s4f_web_shape_host(res, prof, &r, host));
    json_decref(res);
    json_decref(prof);
}

static int need_admin(const struct s4f_web_session_info *s, struct s4f_web_answer *ans)
{
    if (s->role != S4F_WEB_ROLE_ADMIN) {
        answer_error(ans, 403, "this needs the admin role");
        return -1;
    }
    return 0;
}

static void do_users(struct s4f_web_app *app, const struct s4f_web_req *req,
                     const struct s4f_web_session_info *s, const char *name,
                     struct s4f_web_answer *ans)
{
    char err[256];
    int bad = 0;
    json_t *b = NULL;
    if (check_args(req, NULL, err, sizeof(err)) != 0) {
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (name && s4f_web_parse_username(name, err, sizeof(err)) != 0) {
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (!name && strcmp(req->method, "GET") == 0) {
        if (need_admin(s, ans) == 0)
            answer_json(ans, 200, json_pack("{s:o}", "users", s4f_web_users_list(app->users)));
        return;
    }
    if (!name && strcmp(req->method, "POST") == 0) {
        static const char *const keys[] = {"name", "password", "role", NULL};
        if (need_admin(s, ans) != 0 || !(b = body_object(req, ans)) ||
            check_body_keys(b, keys, ans) != 0)
            goto out;
        const char *n = member(b, "name", &bad), *pw = member(b, "password", &bad),
                   *ro = member(b, "role", &bad);
        int role = s4f_web_role_parse(ro ? ro : "user");
        if (bad || !n || !pw || role < 0) {
            answer_error(
                ans, 400,
                "expected {\"name\": ..., \"password\": ..., \"role\": \"admin\"|\"user\"}");
            goto out;
        }
        if (s4f_web_users_add(app->users, n, pw, (enum s4f_web_role)role, 0, err, sizeof(err)) !=
            S4F_OK) {
            answer_error(ans, strstr(err, "exists") ? 409 : 400, "%s", err);
            goto out;
        }
        s4f_info("user '%s' added by '%s' with role %s", n, s->user, ro ? ro : "user");
        answer_json(
            ans, 201,
            json_pack("{s:s, s:s}", "name", n, "role", s4f_web_role_name((enum s4f_web_role)role)));
        goto out;
    }
    if (name && strcmp(req->method, "PUT") == 0) {
        static const char *const keys[] = {"password", "current_password", "role", NULL};
        if (!(b = body_object(req, ans)) || check_body_keys(b, keys, ans) != 0)
            goto out;
        const char *pw = member(b, "password", &bad), *cur = member(b, "current_password", &bad),
                   *ro = member(b, "role", &bad);
        int role = ro ? s4f_web_role_parse(ro) : -1;
        int self = strcmp(name, s->user) == 0;
        if (bad || (ro && role < 0) || (!pw && !ro)) {
            answer_error(ans, 400,
                         "expected {\"password\": ..., \"current_password\": ..., \"role\": ...}");
            goto out;
        }
        if (!self && need_admin(s, ans) != 0)
            goto out;
        if (ro && s->role != S4F_WEB_ROLE_ADMIN) {
            answer_error(ans, 403, "only an admin may change roles");
            goto out;
        }
        if (self && pw) {
            /* Somebody at an unlocked screen must not be able to lock the owner out, nor guess
             * the current password faster than at the login form. */
            if (!cur) {
                answer_error(ans, 403, "the current password is wrong");
                goto out;
            }
            if (checked_password(app, req, name, cur, 403, NULL, ans) != 0)
                goto out;
        }
        if (s4f_web_users_role(app->users, name) < 0) {
            answer_error(ans, 404, "no user '%s'", name);
            goto out;
        }
        if (s4f_web_users_update(app->users, name, role, pw, err, sizeof(err)) != S4F_OK) {
            answer_error(ans, 400, "%s", err);
            goto out;
        }
        if (pw)
            s4f_web_sessions_drop_user(app->sessions, name, self ? req->token : NULL);
        if (role >= 0)
            s4f_web_sessions_user_changed(app->sessions, name, role);
        s4f_info("user '%s' changed by '%s'%s%s", name, s->user, pw ? " (password)" : "",
                 ro ? " (role)" : "");
        answer_json(
            ans, 200,
            json_pack("{s:s, s:s}", "name", name, "role",
                      s4f_web_role_name((enum s4f_web_role)s4f_web_users_role(app->users, name))));
        goto out;
    }
    if (name && strcmp(req->method, "DELETE") == 0) {
        if (need_admin(s, ans) != 0)
            goto out;
        if (strcmp(name, s->user) == 0) {
            answer_error(ans, 400, "you cannot delete yourself");
            goto out;
        }
        if (s4f_web_users_delete(app->users, name, err, sizeof(err)) != S4F_OK) {
            answer_error(ans, strncmp(err, "no user", 7) == 0 ? 404 : 400, "%s", err);
            goto out;
        }
        s4f_web_sessions_user_changed(app->sessions, name, -1);
        s4f_info("user '%s' deleted by '%s'", name, s->user);
        answer_json(ans, 200, json_pack("{s:s}", "deleted", name));
        goto out;
    }
    ans->allow = name ? "PUT, DELETE" : "GET, POST";
    answer_error(ans, 405, "method not allowed");
out:
    json_decref(b);
}

static int is_write(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0 ||
           strcmp(m, "PATCH") == 0;
}

/* Same-origin check for writes: browsers send Origin on every cross-site POST; when it is
 * present it must name this host. */
static int origin_ok(const struct s4f_web_req *req)
{
    if (!req->origin)
        return 1;
    if (!req->host)
        return 0;
    const char *o = req->origin;
    if (strncmp(o, "http://", 7) == 0)
        o += 7;
    else if (strncmp(o, "https://", 8) == 0)
        o += 8;
    else
        return 0;
    return strcmp(o, req->host) == 0;
}

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

/* Data routes cached for every user: the key is the path and the query text. */
static int cache_key(const struct s4f_web_req *req, char *key, size_t len)
{
    size_t o = (size_t)snprintf(key, len, "%s?", req->path);
    for (size_t i = 0; i < req->nargs && o < len; i++)
        o += (size_t)snprintf(key + o, len - o, "%s=%s&", req->args[i].key, req->args[i].value);
    return o < len ? 0 : -1;
}

static void route_login(struct s4f_web_app *app, const struct s4f_web_req *req,
                        const struct s4f_web_session_info *s, const char *name,
                        struct s4f_web_answer *ans)
{
    do_login(app, req, ans);
}

static void do_logout(struct s4f_web_app *app, const struct s4f_web_req *req,
                      const struct s4f_web_session_info *s, const char *name,
                      struct s4f_web_answer *ans)
{
    s4f_web_session_destroy(app->sessions, req->token);
    session_cookie(app, ans, NULL);
    answer_json(ans, 200, json_pack("{s:b}", "ok", 1));
}

static void do_session(struct s4f_web_app *app, const struct s4f_web_req *req,
                       const struct s4f_web_session_info *s, const char *name,
                       struct s4f_web_answer *ans)
{
    answer_json(ans, 200, session_json(app, s));
}

static void do_components(struct s4f_web_app *app, const struct s4f_web_req *req,
                          const struct s4f_web_session_info *s, const char *name,
                          struct s4f_web_answer *ans)
{
    char err[128];
    if (check_args(req, NULL, err, sizeof(err)) != 0) {
        answer_error(ans, 400, "%s", err);
        return;
    }
    json_t *c = s4f_web_components_read(app);
    if (c)
        answer_json(ans, 200, c);
    else
        answer_error(ans, 500, "out of memory");
}

/* A result id: what the analyses write ("portscan_vertical-1795759200000-192.0.2.7-10.0.0.5-p0-3",
 * IPv6 addresses with ':'), 1..200 characters of [A-Za-z0-9._:-]. */
static int parse_result_id(const char *s, char *err, size_t errlen)
{
    size_t n = strnlen(s, 201);
    int ok = n > 0 && n <= 200;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == ':' ||
             s[i] == '-' || s[i] == '|' || s[i] == '+';
    /* The worker's ids are <type>:<start>+<length>:p<partition>:<key> (workers/result.c); '|'
     * joins the parts of a composite key (rules, pattern_finder). */
    if (!ok)
        snprintf(
            err, errlen,
            "parameter 'id': not a result id (1 to 200 characters of A-Z a-z 0-9 . _ : - | +)");
    return ok ? 0 : -1;
}

static void do_detection(struct s4f_web_app *app, const struct s4f_web_req *req,
                         const struct s4f_web_session_info *s, const char *name,
                         struct s4f_web_answer *ans)
{
    char idx[512], err[256], src[S4F_WEB_ADDR_MAX];
    int64_t at;
    const char *field;
    if (check_args(req, NULL, err, sizeof(err)) != 0 ||
        parse_result_id(name, err, sizeof(err)) != 0) {
        s4f_metric_inc(app->c.bad_params);
        answer_error(ans, 400, "%s", err);
        return;
    }
    s4f_web_detection_indices(app->es_conf->index_prefix, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_detection(name), ans);
    if (!res)
        return;
    if (s4f_web_detection_key(res, src, sizeof(src), &field, &at) != 0) {
        json_decref(res);
        answer_error(ans, 404, "no detection with this id");
        return;
    }
    json_t *ctx = search(app, idx, s4f_web_q_detection_context(field, src, at), ans);
    if (!ctx) {
        json_decref(res);
        return;
    }
    json_t *out = s4f_web_shape_detection(res, ctx, app->conf->kibana_url);
    if (out)
        answer_json(ans, 200, out);
    else
        answer_error(ans, 404, "no detection with this id");
    json_decref(res);
    json_decref(ctx);
}

static void do_hostmap(struct s4f_web_app *app, const struct s4f_web_req *req,
                       const struct s4f_web_session_info *s, const char *name,
                       struct s4f_web_answer *ans)
{
    static const char *const allowed[] = {"range", "from", "to", "net", NULL};
    struct s4f_web_range r;
    struct s4f_web_hostmap m;
    char idx[512], err[256], net[S4F_WEB_ADDR_MAX];
    const char *v = arg(req, "net");
    if (check_args(req, allowed, err, sizeof(err)) != 0)
        goto bad;
    if (get_range(req, 3600LL * 1000, &r, ans) != 0)
        return;
    if (!v) { /* the first local IPv4 network, else a question */
        for (size_t i = 0; i < app->n_local && !v; i++)
            if (strchr(app->local_nets[i], '.') && !strchr(app->local_nets[i], ':'))
                v = app->local_nets[i];
        if (!v) {
            snprintf(err, sizeof(err),
                     "parameter 'net' is needed: no IPv4 network in web.local_networks");
            goto bad;
        }
    }
    if (s4f_web_parse_cidr("net", v, net, sizeof(net), err, sizeof(err)) != 0 ||
        s4f_web_hostmap_layout(net, &m, err, sizeof(err)) != 0)
        goto bad;
    s4f_web_index(app->es_conf->index_prefix, S4F_WEB_T_HOSTS, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_hostmap(&r, &m), ans);
    if (!res)
        return;
    s4f_web_detection_indices(app->es_conf->index_prefix, idx, sizeof(idx));
    json_t *det = search(app, idx, s4f_web_q_hostmap_detections(&r, &m), ans);
    if (!det) {
        json_decref(res);
        return;
    }
    json_t *out = s4f_web_shape_hostmap(res, det, &m);
    if (out)
        answer_json(ans, 200, out);
    else
        answer_error(ans, 500, "out of memory");
    json_decref(res);
    json_decref(det);
    return;
bad:
    s4f_metric_inc(app->c.bad_params);
    answer_error(ans, 400, "%s", err);
}

static void do_extent(struct s4f_web_app *app, const struct s4f_web_req *req,
                      const struct s4f_web_session_info *s, const char *name,
                      struct s4f_web_answer *ans)
{
    char idx[2048], err[128];
    if (check_args(req, NULL, err, sizeof(err)) != 0) {
        s4f_metric_inc(app->c.bad_params);
        answer_error(ans, 400, "%s", err);
        return;
    }
    s4f_web_extent_indices(app->es_conf->index_prefix, idx, sizeof(idx));
    json_t *res = search(app, idx, s4f_web_q_extent(), ans);
    if (!res)
        return;
    answer_json(ans, 200, s4f_web_shape_extent(res, s4f_wall_ms()));
    json_decref(res);
}

static void do_pipeline(struct s4f_web_app *app, const struct s4f_web_req *req,
                        const struct s4f_web_session_info *s, const char *name,
                        struct s4f_web_answer *ans)
{
    char err[128];
    if (check_args(req, NULL, err, sizeof(err)) != 0) {
        s4f_metric_inc(app->c.bad_params);
        answer_error(ans, 400, "%s", err);
        return;
    }
    if (!app->history) {
        answer_error(ans, 503, "the pipeline history is not kept");
        return;
    }
    json_t *p = s4f_web_history_pipeline(app->history, s4f_wall_ms());
    if (p)
        answer_json(ans, 200, p);
    else
        answer_error(ans, 500, "out of memory");
}

/* The routes under /api/. A path ending in '/' takes the rest of the URL as name (NULL for an
 * exact path). method is the one method allowed (GET also answers HEAD) and names the Allow
 * header of a 405; NULL leaves methods to the handler. Every route but a public one needs a
 * session; a shared route's answer is the same for every user, so it is cached and may be
 * sent gzip-compressed. */
static const struct route {
    const char *path;
    const char *method;
    bool public;
    bool shared;
    void (*handle)(struct s4f_web_app *app, const struct s4f_web_req *req,
                   const struct s4f_web_session_info *s, const char *name,
                   struct s4f_web_answer *ans);
} routes[] = {
    {"login", "POST", .public = true, .handle = route_login},
    {"logout", "POST", .handle = do_logout},
    {"session", "GET", .handle = do_session},
    {"users", NULL, .handle = do_users},
    {"users/", NULL, .handle = do_users},
    {"protocols", "GET", .shared = true, .handle = do_protocols},
    {"detections", "GET", .shared = true, .handle = do_detections},
    {"detections/", "GET", .shared = true, .handle = do_detection},
    {"hosts", "GET", .shared = true, .handle = do_hosts},
    {"hosts/", "GET", .shared = true, .handle = do_host},
    {"components", "GET", .shared = true, .handle = do_components},
    {"dns", "GET", .shared = true, .handle = do_dns},
    {"tls", "GET", .shared = true, .handle = do_tls},
    {"topn/", "GET", .shared = true, .handle = do_topn},
    {"extent", "GET", .shared = true, .handle = do_extent},
    {"hostmap", "GET", .shared = true, .handle = do_hostmap},
    {"pipeline", "GET", .shared = true, .handle = do_pipeline},
};

static const struct route *find_route(const char *p, const char **name)
{
    for (size_t i = 0; i < S4F_ARRAY_SIZE(routes); i++) {
        const char *r = routes[i].path;
        size_t n = strlen(r);
        if (r[n - 1] == '/' ? strncmp(p, r, n) == 0 : strcmp(p, r) == 0) {
            *name = r[n - 1] == '/' ? p + n : NULL;
            return &routes[i];
        }
    }
    return NULL;
}

/* Answers the route's own method check: 0 when the method is allowed, -1 after a 405. */
static int method_ok(const struct route *rt, const char *method, struct s4f_web_answer *ans)
{
    if (!rt->method || strcmp(method, rt->method) == 0 ||
        (strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
        return 0;
    ans->allow = rt->method;
    answer_error(ans, 405, "use %s", rt->method);
    return -1;
}

void s4f_web_api_handle(struct s4f_web_app *app, const struct s4f_web_req *req,
                        struct s4f_web_answer *ans)
{
    const char *name = NULL;
    const struct route *rt = find_route(req->path + strlen("/api/"), &name);
    memset(ans, 0, sizeof(*ans));

    if (is_write(req->method)) {
        if (!origin_ok(req)) {
            s4f_metric_inc(app->c.csrf_rejected);
            answer_error(ans, 403, "cross-origin request refused");
            return;
        }
        if (strcmp(req->method, "DELETE") != 0 && !is_json_type(req->content_type)) {
            answer_error(ans, 415, "the body must be sent as application/json");
            return;
        }
    }
    if (rt && rt->public) {
        if (method_ok(rt, req->method, ans) == 0)
            rt->handle(app, req, NULL, name, ans);
        return;
    }

    /* Unknown routes too answer 401 first: without a session nothing about the API shows. */
    struct s4f_web_session_info s;
    if (!req->token || !s4f_web_session_lookup(app->sessions, req->token, s4f_mono_ms(), &s)) {
        s4f_metric_inc(app->c.unauthenticated);
        if (req->token)
            session_cookie(app, ans, NULL);
        answer_error(ans, 401, "login required");
        return;
    }
    if (is_write(req->method) && (!req->csrf || !s4f_web_secret_eq(req->csrf, s.csrf))) {
        s4f_metric_inc(app->c.csrf_rejected);
        answer_error(ans, 403, "missing or wrong X-CSRF-Token header");
        return;
    }
    if (!rt) {
        answer_error(ans, 404, "no such API route");
        return;
    }
    if (method_ok(rt, req->method, ans) != 0)
        return;
    if (!rt->shared) {
        rt->handle(app, req, &s, name, ans);
        return;
    }

    char key[2048];
    int cacheable = cache_key(req, key, sizeof(key)) == 0, must_fill = 0;
    if (cacheable) {
        int gz = 0;
        ans->body = s4f_web_cache_lookup(app->cache, key, s4f_mono_ms(), req->gzip_ok, &ans->len,
                                         &gz, &must_fill);
        ans->gzipped = gz;
        if (ans->body) {
            s4f_metric_inc(app->c.cache_hits);
            ans->status = 200;
            ans->cache_hit = true;
            return;
        }
    }
    rt->handle(app, req, &s, name, ans);
    if (must_fill && ans->status == 200 && ans->body)
        s4f_web_cache_put(app->cache, key, ans->body, ans->len, s4f_mono_ms());
    else if (must_fill)
        s4f_web_cache_abandon(app->cache, key);
    if (req->gzip_ok && ans->status == 200 && ans->len > 1024) {
        size_t zl;
        char *z = s4f_web_gzip(ans->body, ans->len, &zl);
        if (z) {
            free(ans->body);
            ans->body = z;
            ans->len = zl;
            ans->gzipped = true;
        }
    }
}
