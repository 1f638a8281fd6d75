#include "bulk.h"

#include "jscan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int s4f_iso8601_parse_ms(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec, ms = 0;
    if (!s || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int scale = 100, n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0)
            return -1;
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    /* timegm normalises 31 February into March: refuse what it had to move. */
    if (tm.tm_mday != D || tm.tm_mon != M - 1)
        return -1;
    *out = (int64_t)t * 1000 + ms - offset_min * 60000;
    return 0;
}

bool s4f_bulk_type_ok(const char *name)
{
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
            continue;
        /* A dot between two names (detection.ddos), never first, last or doubled. */
        if (*p == '.' && p != name && p[-1] != '.' && p[1] && p[1] != '.')
            continue;
        return false;
    }
    return n >= 1 && n <= S4F_BULK_TYPE_MAX;
}

int s4f_bulk_index_name(const char *prefix, const char *type, int64_t epoch_ms, char *buf,
                        size_t len)
{
    time_t t = (time_t)(epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return -1;
    int n = snprintf(buf, len, "%s-%s-%04d.%02d.%02d", prefix, type, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int s4f_bulk_index_day(const char *prefix, const char *index, int64_t *day_ms)
{
    size_t pl = strlen(prefix), il = strlen(index);
    /* prefix + "-" + type (>= 1) + "-YYYY.MM.DD" */
    if (il < pl + 1 + 1 + 11 || strncmp(index, prefix, pl) != 0 || index[pl] != '-')
        return -1;
    const char *date = index + il - 10;
    if (date[-1] != '-')
        return -1;
    size_t tl = (size_t)(date - 1 - (index + pl + 1));
    char type[S4F_BULK_TYPE_MAX + 1];
    if (tl == 0 || tl > S4F_BULK_TYPE_MAX)
        return -1;
    memcpy(type, index + pl + 1, tl);
    type[tl] = '\0';
    if (!s4f_bulk_type_ok(type))
        return -1;
    int Y, M, D;
    if (digits(date, 4, &Y) || date[4] != '.' || digits(date + 5, 2, &M) || date[7] != '.' ||
        digits(date + 8, 2, &D))
        return -1;
    char iso[32];
    snprintf(iso, sizeof(iso), "%04d-%02d-%02dT00:00:00Z", Y, M, D);
    return s4f_iso8601_parse_ms(iso, day_ms);
}

/* A number member as epoch milliseconds, -1 when absent or not a number. */
static int64_t member_ms(const struct s4f_jval *v)
{
    char tmp[40];
    if (v->kind != S4F_J_NUMBER || v->len >= sizeof(tmp))
        return -1;
    memcpy(tmp, v->p, v->len);
    tmp[v->len] = '\0';
    double d = strtod(tmp, NULL);
    return d >= 0 && d < 9e15 ? (int64_t)d : -1;
}

enum { K_TYPE, K_ID, K_TS, K_FLOW_END, K_FLOW_START, K_N };
static const char *const result_keys[] = {"@type", "id", "@timestamp"};
static const char *const flow_keys[] = {"@type", "id", "@timestamp", "ipfix.flowEndMilliseconds",
                                        "ipfix.flowStartMilliseconds"};

enum s4f_status s4f_bulk_doc_meta(enum s4f_doc_kind kind, const char *prefix, const char *payload,
                                  size_t len, const char *topic, int32_t partition, int64_t offset,
                                  int64_t kafka_ts_ms, const struct s4f_bulk_checks *checks,
                                  struct s4f_doc_meta *meta, char *reason, size_t reasonlen)
{
    struct s4f_jval v[K_N];
    int64_t when;
    char ts[64];

    memset(meta, 0, sizeof(*meta));
    meta->refused = S4F_REFUSE_INVALID;
    if (!payload || len == 0) {
        snprintf(reason, reasonlen, "empty message");
        return S4F_ERR;
    }
    /* Checked as text in one pass: the document travels on as the same bytes. */
    if (s4f_jscan_object(payload, len, kind == S4F_DOC_FLOW ? flow_keys : result_keys,
                         kind == S4F_DOC_FLOW ? K_N : K_FLOW_END, v, reason, reasonlen) != 0)
        return S4F_ERR;
    if (kind == S4F_DOC_FLOW) {
        s4f_strlcpy(meta->type, "flows", sizeof(meta->type));
        when = member_ms(&v[K_FLOW_END]);
        if (when < 0)
            when = member_ms(&v[K_FLOW_START]);
        if (when < 0)
            when = kafka_ts_ms >= 0 ? kafka_ts_ms : s4f_wall_ms();
        /* The Kafka coordinates name the record for good: a re-delivery overwrites it. */
        snprintf(meta->id, sizeof(meta->id), "%s-%d-%lld", topic, (int)partition,
                 (long long)offset);
    } else {
        if (s4f_jscan_unescape(&v[K_TYPE], meta->type, sizeof(meta->type)) < 0 ||
            !s4f_bulk_type_ok(meta->type)) {
            snprintf(reason, reasonlen,
                     "missing or invalid \"@type\" (want 1-%d of [a-z0-9_.], dots between names)",
                     S4F_BULK_TYPE_MAX);
            return S4F_ERR;
        }
        if (s4f_jscan_unescape(&v[K_ID], meta->id, sizeof(meta->id)) <= 0) {
            snprintf(reason, reasonlen, "missing or invalid \"id\" (want a string of 1-%d bytes)",
                     S4F_BULK_ID_MAX);
            return S4F_ERR;
        }
        if (s4f_jscan_unescape(&v[K_TS], ts, sizeof(ts)) < 0 ||
            s4f_iso8601_parse_ms(ts, &when) != 0) {
            snprintf(reason, reasonlen, "missing or invalid \"@timestamp\" (want ISO-8601)");
            return S4F_ERR;
        }
        if (checks && checks->type_known && !checks->type_known(meta->type)) {
            snprintf(reason, reasonlen, "unknown \"@type\" %s: the sink has no template for it",
                     meta->type);
            meta->refused = S4F_REFUSE_TYPE;
            return S4F_ERR;
        }
    }
    /* The event time names the daily index: bounded, so that a message cannot create indices
     * for 9999-12-31 or 1970-01-01 that retention would never reach. */
    if (checks && (when > checks->now_ms + checks->max_future_ms ||
                   when < checks->now_ms - checks->max_age_ms)) {
        char w[48], a[48], b[48];
        snprintf(reason, reasonlen,
                 "event time %s out of bounds [%s, %s] (sink.max_age, "
                 "sink.max_future)",
                 s4f_iso8601_ms(when, w, sizeof(w)),
                 s4f_iso8601_ms(checks->now_ms - checks->max_age_ms, a, sizeof(a)),
                 s4f_iso8601_ms(checks->now_ms + checks->max_future_ms, b, sizeof(b)));
        meta->refused = S4F_REFUSE_TIME;
        return S4F_ERR;
    }
    if (s4f_bulk_index_name(prefix, meta->type, when, meta->index, sizeof(meta->index)) != 0) {
        snprintf(reason, reasonlen, "index name too long or time out of range");
        return S4F_ERR;
    }
    meta->refused = S4F_REFUSE_NONE;
    return S4F_OK;
}

/* Appends s as a JSON string, quotes included. */
static int append_jstring(struct s4f_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (s4f_buf_append(b, "\"", 1))
        return -1;
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != 0 && c != '"' && c != '\\' && c >= 0x20)
            continue;
        if (p > run && s4f_buf_append(b, run, (size_t)(p - run)))
            return -1;
        if (c == 0)
            break;
        char esc[6] = {'\\', (char)c};
        size_t n = 2;
        if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        if (s4f_buf_append(b, esc, n))
            return -1;
        run = p + 1;
    }
    return s4f_buf_append(b, "\"", 1);
}

int s4f_bulk_epoch_version(const void *val, size_t len, int64_t *version)
{
    const char *s = val;
    int64_t e = 0;
    if (!s || len == 0 || len > 10 || s[0] == '0')
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        e = e * 10 + (s[i] - '0');
    }
    if (e > S4F_EPOCH_MAX)
        return -1;
    *version = e << 32;
    return 0;
}

int s4f_bulk_append(struct s4f_buf *b, const struct s4f_doc_meta *meta, const char *doc, size_t len)
{
    char ver[64];
    int vl = meta->version > 0
                 ? snprintf(ver, sizeof(ver), ",\"version\":%lld,\"version_type\":\"external_gte\"",
                            (long long)meta->version)
                 : 0;
    if (s4f_buf_append(b, "{\"index\":{\"_index\":", 19) || append_jstring(b, meta->index) ||
        s4f_buf_append(b, ",\"_id\":", 7) || append_jstring(b, meta->id) ||
        (vl > 0 && s4f_buf_append(b, ver, (size_t)vl)) || s4f_buf_append(b, "}}\n", 3))
        return -1;
    size_t start = b->len;
    if (s4f_buf_append(b, doc, len) || s4f_buf_append(b, "\n", 1))
        return -1;
    /* Line breaks can only be white space in valid JSON, and NDJSON ends a document at each. */
    for (char *q = memchr(b->p + start, '\n', len); q;
         q = memchr(q, '\n', (size_t)(b->p + b->len - 1 - q)))
        *q = ' ';
    for (char *q = memchr(b->p + start, '\r', len); q;
         q = memchr(q, '\r', (size_t)(b->p + b->len - 1 - q)))
        *q = ' ';
    return 0;
}

enum s4f_item_outcome s4f_bulk_classify(int status, const char *error_type)
{
    if (status >= 200 && status < 300)
        return S4F_ITEM_OK;
    /* Only a versioned (fenced) index action can conflict: its document holds a newer epoch. */
    if (status == 409 && error_type && strcmp(error_type, "version_conflict_engine_exception") == 0)
        return S4F_ITEM_FENCED;
    if (status == 429 || status == 408 || status >= 500 || status <= 0)
        return S4F_ITEM_RETRY;
    /* A read-only block (disk flood stage, closed index) clears when an operator acts; the
     * document itself is fine, so keep it rather than dead-letter a whole stream. */
    if (error_type && (strcmp(error_type, "cluster_block_exception") == 0 ||
                       strcmp(error_type, "es_rejected_execution_exception") == 0 ||
                       strcmp(error_type, "unavailable_shards_exception") == 0))
        return S4F_ITEM_RETRY;
    return S4F_ITEM_DEAD;
}

enum s4f_status s4f_bulk_parse_response(const char *body, size_t len, size_t n,
                                        struct s4f_bulk_item_result *out)
{
    enum s4f_status st = S4F_RETRY;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *items = json_object_get(root, "items");
    if (!json_is_array(items) || json_array_size(items) != n)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        struct s4f_bulk_item_result *r = &out[i];
        /* Each item is {"<action>": {...}} with exactly one key. */
        json_t *act = json_is_object(it) && json_object_size(it) == 1
                          ? json_object_iter_value(json_object_iter(it))
                          : NULL;
        json_t *status = json_object_get(act, "status");
        json_t *error = json_object_get(act, "error");
        const char *etype = NULL, *ereason = NULL;
        if (json_is_object(error)) {
            etype = json_string_value(json_object_get(error, "type"));
            ereason = json_string_value(json_object_get(error, "reason"));
        } else if (json_is_string(error)) {
            ereason = json_string_value(error);
        }
        r->status = json_is_integer(status) ? (int)json_integer_value(status) : 0;
        r->outcome = s4f_bulk_classify(r->status, etype);
        /* An item that says 2xx but carries an error is not trusted as stored. */
        if (r->outcome == S4F_ITEM_OK && error)
            r->outcome = S4F_ITEM_RETRY;
        r->reason[0] = '\0';
        if (r->outcome != S4F_ITEM_OK)
            snprintf(r->reason, sizeof(r->reason), "%d %s: %s", r->status, etype ? etype : "error",
                     ereason ? ereason : "(no reason given)");
    }
    st = S4F_OK;
out:
    json_decref(root);
    return st;
}
