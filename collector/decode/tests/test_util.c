#include "test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

void tu_collect(void *ctx, const struct s4f_flow_out *rec)
{
    struct tu_recs *r = ctx;
    json_error_t err;
    const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
    json_t *o = json_loadb(rec->json, rec->json_len, flags, &err);
    if (!o && strstr(err.text, "too big integer")) {
        /* Valid JSON (unsigned 64-bit counters above INT64_MAX); jansson needs reals for it. */
        o = json_loadb(rec->json, rec->json_len, flags | JSON_DECODE_INT_AS_REAL, &err);
    }
    if (!o) {
        r->invalid++;
        print_error("invalid JSON (%s): %.*s\n", err.text, (int)rec->json_len, rec->json);
        fail();
    }
    assert_true(json_is_object(o));
    /* Every flow record carries its times (docs/ipfix-entry.schema.json requires them). */
    if (!rec->is_options) {
        assert_true(json_is_number(json_object_get(o, "ipfix.flowStartMilliseconds")));
        assert_true(json_is_number(json_object_get(o, "ipfix.flowEndMilliseconds")));
    }
    if (r->n >= TU_MAX_RECS) {
        json_decref(o);
        return;
    }
    r->obj[r->n] = o;
    r->meta[r->n] = *rec;
    r->src_text[r->n][0] = '\0';
    if (rec->src_text) {
        assert_true(rec->src_text_len < 48);
        memcpy(r->src_text[r->n], rec->src_text, rec->src_text_len);
        r->src_text[r->n][rec->src_text_len] = '\0';
    }
    r->n++;
}

void tu_clear(struct tu_recs *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->obj[i]);
    r->n = 0;
    r->invalid = 0;
}

struct sockaddr_storage tu_addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(4739);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(4739);
    }
    return ss;
}

static json_t *field(const struct tu_recs *r, size_t i, const char *key)
{
    assert_true(i < r->n);
    json_t *v = json_object_get(r->obj[i], key);
    if (!v) {
        char *s = json_dumps(r->obj[i], JSON_COMPACT);
        print_error("record %zu has no %s: %s\n", i, key, s ? s : "?");
        free(s);
        fail();
    }
    return v;
}

int64_t tu_int(const struct tu_recs *r, size_t i, const char *key)
{
    json_t *v = field(r, i, key);
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

double tu_real(const struct tu_recs *r, size_t i, const char *key)
{
    json_t *v = field(r, i, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

const char *tu_str(const struct tu_recs *r, size_t i, const char *key)
{
    json_t *v = field(r, i, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

bool tu_has(const struct tu_recs *r, size_t i, const char *key)
{
    assert_true(i < r->n);
    return json_object_get(r->obj[i], key) != NULL;
}

uint64_t tu_err(const struct s4f_decoder *dec, enum s4f_decode_reason reason)
{
    struct s4f_decode_stats st;
    s4f_decoder_stats(dec, &st);
    return st.errors[reason];
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *tu_testdata_dir(void)
{
    static char buf[1024];
    const char *env = getenv("S4F_TESTDATA_NETFLOW");
    if (env && is_dir(env))
        return env;
    const char *src = getenv("S4F_SOURCE_DIR");
    if (src) {
        snprintf(buf, sizeof(buf), "%s/../shared/testdata/akvorado/netflow", src);
        if (is_dir(buf))
            return buf;
    }
    if (is_dir("/work/shared/testdata/akvorado/netflow"))
        return "/work/shared/testdata/akvorado/netflow";
    return NULL;
}

const char *tu_source_path(const char *rel, char *buf, size_t len)
{
    const char *src = getenv("S4F_SOURCE_DIR");
    snprintf(buf, len, "%s/%s", src ? src : ".", rel);
    return buf;
}
