/* A detection in (a result of results.output: hostile JSON), its ECS document and its RFC 5424
 * syslog message out. */
#include "alert.h"
#include "buf.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Severity as ECS event.severity (the numbers of Elastic's detection rules) and as syslog
 * severity (notice, warning, err, crit). */
static const int ecs_severity[] = {21, 47, 73, 99};
static const int syslog_severity[] = {5, 4, 3, 2};

static bool printable_token(const char *s, size_t max, bool allow_space)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            if (!(allow_space && *s == ' '))
                return false;
    return n > 0 && n <= max;
}

static bool iso_timestamp(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS.mmmZ, the workers' format */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    return true;
}

enum s4f_status s4f_detection_parse(const void *payload, size_t len, struct s4f_detection *det,
                                    char *why, size_t whylen)
{
    json_error_t jerr;
    memset(det, 0, sizeof(*det));
    if (!payload || len == 0 || len > S4F_ALERT_INPUT_MAX) {
        snprintf(why, whylen, "empty or larger than %d bytes", S4F_ALERT_INPUT_MAX);
        return S4F_ERR;
    }
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        snprintf(why, whylen, "not a JSON object: %.120s", o ? "another JSON value" : jerr.text);
        json_decref(o);
        return S4F_ERR;
    }
    const char *type = json_string_value(json_object_get(o, "@type"));
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!type || !printable_token(type, S4F_ALERT_TYPE_MAX, false)) {
        snprintf(why, whylen, "@type missing or not a printable ASCII token of at most %d bytes",
                 S4F_ALERT_TYPE_MAX);
        json_decref(o);
        return S4F_ERR;
    }
    if (!id || !printable_token(id, S4F_ALERT_ID_MAX, false)) {
        snprintf(why, whylen, "id missing or not a printable ASCII token of at most %d bytes",
                 S4F_ALERT_ID_MAX);
        json_decref(o);
        return S4F_ERR;
    }
    s4f_strlcpy(det->type, type, sizeof(det->type));
    s4f_strlcpy(det->id, id, sizeof(det->id));
    const char *ts = json_string_value(json_object_get(o, "@timestamp"));
    if (ts && iso_timestamp(ts))
        s4f_strlcpy(det->timestamp, ts, sizeof(det->timestamp));
    det->json = o;
    return S4F_OK;
}

void s4f_detection_release(struct s4f_detection *det)
{
    if (!det)
        return;
    json_decref(det->json);
    det->json = NULL;
}

/* An address field of the detection, only when it is an address. */
static const char *ip_field(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    unsigned char bin[16];
    if (!v || strlen(v) > 45)
        return NULL;
    if (inet_pton(AF_INET, v, bin) == 1 || inet_pton(AF_INET6, v, bin) == 1)
        return v;
    return NULL;
}

static json_int_t port_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
        return -1;
    return json_integer_value(v);
}

static void endpoint(json_t *doc, const char *name, const char *ip, json_int_t port)
{
    if (!ip && port < 0)
        return;
    json_t *e = json_object();
    if (ip)
        json_object_set_new(e, "ip", json_string(ip));
    if (port >= 0)
        json_object_set_new(e, "port", json_integer(port));
    json_object_set_new(doc, name, e);
}

static void time_field(json_t *dst, const char *key, json_t *src, const char *srckey)
{
    const char *v = json_string_value(json_object_get(src, srckey));
    if (v && iso_timestamp(v))
        json_object_set_new(dst, key, json_string(v));
}

char *s4f_alert_ecs_json(const struct s4f_detection *det, enum s4f_alert_severity sev)
{
    json_t *src = det->json;
    json_t *doc = json_object(), *event = json_object(), *rule = json_object(),
           *s4f = json_object();
    char when[32], msg[512], dataset[S4F_ALERT_TYPE_MAX + 16];
    if (!doc || !event || !rule || !s4f) {
        json_decref(doc);
        json_decref(event);
        json_decref(rule);
        json_decref(s4f);
        return NULL;
    }
    /* The source: src_ip, or the DNS server of a reflection attack; the destination: dst_ip. */
    const char *sip = ip_field(src, "src_ip"), *dip = ip_field(src, "dst_ip");
    if (!sip)
        sip = ip_field(src, "dns_ip");
    json_int_t sport = port_field(src, "src_port"), dport = port_field(src, "dst_port");

    json_object_set_new(doc, "@timestamp",
                        json_string(det->timestamp[0]
                                        ? det->timestamp
                                        : s4f_iso8601_ms(s4f_wall_ms(), when, sizeof(when))));
    int k = snprintf(msg, sizeof(msg), "%s (%s)", det->type, s4f_alert_severity_names[sev]);
    if (sip && k > 0 && (size_t)k < sizeof(msg))
        k += snprintf(msg + k, sizeof(msg) - (size_t)k, " from %s", sip);
    if (dip && k > 0 && (size_t)k < sizeof(msg))
        k += snprintf(msg + k, sizeof(msg) - (size_t)k, " to %s", dip);
    if (dport >= 0 && k > 0 && (size_t)k < sizeof(msg))
        snprintf(msg + k, sizeof(msg) - (size_t)k, " port %lld", (long long)dport);
    json_object_set_new(doc, "message", json_string(msg));

    json_object_set_new(event, "kind", json_string("alert"));
    json_object_set_new(event, "category", json_pack("[ss]", "network", "intrusion_detection"));
    json_object_set_new(event, "type", json_pack("[s]", "info"));
    json_object_set_new(event, "module", json_string("stream4flow"));
    snprintf(dataset, sizeof(dataset), "stream4flow.%s", det->type);
    json_object_set_new(event, "dataset", json_string(dataset));
    json_object_set_new(event, "id", json_string(det->id));
    json_object_set_new(event, "severity", json_integer(ecs_severity[sev]));
    time_field(event, "start", src, "window_start");
    time_field(event, "end", src, "window_end");
    json_object_set_new(doc, "event", event);

    json_object_set_new(rule, "name", json_string(det->type));
    json_object_set_new(rule, "ruleset", json_string("stream4flow"));
    json_object_set_new(doc, "rule", rule);
    endpoint(doc, "source", sip, sport);
    endpoint(doc, "destination", dip, dport);
    json_object_set_new(doc, "observer", json_pack("{ss}", "product", "Stream4Flow"));

    /* The detection as the worker wrote it, for what ECS has no name for. */
    json_object_set_new(s4f, "severity", json_string(s4f_alert_severity_names[sev]));
    json_object_set(s4f, "detection", src);
    json_object_set_new(doc, "stream4flow", s4f);

    char *out = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(doc);
    return out;
}

/* SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3). */
static int sd_value(struct s4f_buf *b, const char *v)
{
    for (; *v; v++) {
        if ((*v == '"' || *v == '\\' || *v == ']') && s4f_buf_append(b, "\\", 1) != 0)
            return -1;
        if (s4f_buf_append(b, v, 1) != 0)
            return -1;
    }
    return 0;
}

/* HOSTNAME, APP-NAME, MSGID: printable ASCII, bounded; NILVALUE when empty. */
static int header_token(struct s4f_buf *b, const char *v, size_t max)
{
    size_t n = 0;
    for (; v && *v && n < max; v++)
        if ((unsigned char)*v >= 0x21 && (unsigned char)*v <= 0x7e) {
            if (s4f_buf_append(b, v, 1) != 0)
                return -1;
            n++;
        }
    if (n == 0 && s4f_buf_append(b, "-", 1) != 0)
        return -1;
    return s4f_buf_append(b, " ", 1);
}

int s4f_alert_syslog_line(struct s4f_buf *out, const struct s4f_detection *det,
                          enum s4f_alert_severity sev, int facility, const char *hostname,
                          const char *app_name, long procid, const char *ecs_json)
{
    char when[32];
    s4f_buf_reset(out);
    if (s4f_buf_printf(out, "<%d>1 %s ", facility * 8 + syslog_severity[sev],
                       det->timestamp[0] ? det->timestamp
                                         : s4f_iso8601_ms(s4f_wall_ms(), when, sizeof(when))) != 0)
        return -1;
    if (header_token(out, hostname, 255) != 0 || header_token(out, app_name, 48) != 0 ||
        s4f_buf_printf(out, "%ld ", procid) != 0 || header_token(out, det->type, 32) != 0)
        return -1;
    /* 32473: the enterprise number RFC 5612 sets aside for documentation and examples. */
    if (s4f_buf_printf(out, "[s4f@32473 id=\"") != 0 || sd_value(out, det->id) != 0 ||
        s4f_buf_printf(out, "\" type=\"") != 0 || sd_value(out, det->type) != 0 ||
        s4f_buf_printf(out, "\" severity=\"%s\"] ", s4f_alert_severity_names[sev]) != 0)
        return -1;
    return s4f_buf_append(out, ecs_json, strlen(ecs_json));
}
