/* s4f-alert's option tables (alert: and alert.destinations.<name>:) and the checks of a
 * destination that tables cannot express. */
#include "alert.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_choices[] = {"webhook", "syslog", NULL};
static const char *const transport_choices[] = {"tcp", "udp", "tls", NULL};
const char *const s4f_alert_facility_names[] = {
    "kern",   "user",     "mail",   "daemon", "auth",   "syslog", "lpr",   "news",   "uucp",
    "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock", "local0", "local1",
    "local2", "local3",   "local4", "local5", "local6", "local7", NULL};

/* clang-format off */
const struct s4f_opt s4f_alert_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct s4f_alert_conf, "127.0.0.1:9104"),
    {"topic", S4F_OPT_STRING, "results.output", 0, 0, offsetof(struct s4f_alert_conf, topic),
     "Kafka topic of analysis results (the workers' output)", NULL},
    {"group_id", S4F_OPT_STRING, "s4f-alert", 0, 0, offsetof(struct s4f_alert_conf, group_id),
     "Consumer group prefix; each destination consumes as <group_id>.<destination>, so one that "
     "is down holds back only its own offsets", NULL},
    {"kafka", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct s4f_alert_conf, kafka),
     "librdkafka properties for this daemon only, applied over the shared kafka: section", NULL},
    {"severities", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct s4f_alert_conf, severities),
     "Map of @type glob to severity (low, medium, high, critical); the first match wins, then "
     "the built-in table of docs/alerts.md, then default_severity", NULL},
    {"default_severity", S4F_OPT_ENUM, "low", 0, 0,
     offsetof(struct s4f_alert_conf, default_severity),
     "Severity of a result type no glob of severities or of the built-in table names",
     s4f_alert_severity_names},
    {"destinations", S4F_OPT_NODE, NULL, 0, 0, offsetof(struct s4f_alert_conf, destinations),
     "Map of destination name ([A-Za-z0-9_.-], at most 64 bytes) to its options (the table "
     "alert.destinations.<name>); none: the daemon has nothing to do and exits", NULL},
    S4F_OPT_END,
};

#define D(field) offsetof(struct s4f_alert_dest_conf, field)
const struct s4f_opt s4f_alert_dest_opts[] = {
    {"type", S4F_OPT_ENUM, "webhook", 0, 0, D(kind),
     "webhook: an HTTP POST of the alert's ECS JSON; syslog: an RFC 5424 message", kind_choices},
    {"types", S4F_OPT_LIST, "[portscan_*, ssh_auth_simple, detection.*, rule_*, pattern_finder]",
     0, 0, D(types),
     "Result @type globs (fnmatch) this destination receives", NULL},
    {"min_severity", S4F_OPT_ENUM, "low", 0, 0, D(min_severity),
     "Least severity this destination receives", s4f_alert_severity_names},
    {"rate_limit", S4F_OPT_DOUBLE, "10", 0, 1e6, D(rate_limit),
     "Alerts per second this destination may receive on average; more are dropped and counted "
     "(alerts_dropped_total{reason=\"rate_limited\"}); 0: no limit", NULL},
    {"rate_burst", S4F_OPT_INT, "100", 1, 1000000, D(rate_burst),
     "Alerts the destination may receive at once above rate_limit", NULL},
    {"retry_initial", S4F_OPT_DURATION, "500ms", 1, 600000, D(retry_initial_ms),
     "First back-off after a failed delivery; it doubles up to retry_max, with jitter", NULL},
    {"retry_max", S4F_OPT_DURATION, "30s", 1, 3600000, D(retry_max_ms),
     "Longest back-off between attempts while the receiver is down", NULL},
    {"give_up_after", S4F_OPT_DURATION, "0", 0, 0, D(give_up_after_ms),
     "Drop (and count) the alerts of a batch the receiver has refused this long; 0: retry for "
     "ever (nothing is lost; new alerts wait)", NULL},
    {"max_batch", S4F_OPT_INT, "500", 1, 100000, D(max_batch),
     "Results read per batch; offsets are committed once the batch is delivered", NULL},
    {"dedup_ids", S4F_OPT_INT, "100000", 0, 10000000, D(dedup_ids),
     "Delivered ids remembered so a result read twice is sent once; 0: none", NULL},
    {"message_max", S4F_OPT_SIZE, "60k", 512, 16 << 20, D(message_max),
     "Larger alerts are dropped and counted (reason too_large); at most 65000 for syslog over "
     "udp", NULL},
    {"timeout", S4F_OPT_DURATION, "10s", 100, 600000, D(timeout_ms),
     "Time allowed for one delivery (a webhook request; a syslog connection with its batch)",
     NULL},
    {"url", S4F_OPT_STRING, NULL, 0, 0, D(url),
     "webhook: the http:// or https:// address to POST to", NULL},
    {"headers", S4F_OPT_MAP, NULL, 0, 0, D(headers),
     "webhook: extra request headers, name to value (Authorization: Bearer ... for a token)",
     NULL},
    {"idempotency_header", S4F_OPT_STRING, "Idempotency-Key", 0, 0, D(idempotency_header),
     "webhook: header carrying the detection id, the same on every retry; empty: none", NULL},
    {"transport", S4F_OPT_ENUM, "tcp", 0, 0, D(transport),
     "syslog: tcp (octet-counting framing, RFC 6587), udp (RFC 5426, best effort) or tls "
     "(RFC 5425)", transport_choices},
    {"connection_batch", S4F_OPT_INT, "1", 1, 100000, D(connection_batch),
     "syslog tcp and tls: messages sent on one connection, which counts as delivered once the "
     "receiver closed it after reading them all; 1 (the default) confirms each message on its "
     "own: a receiver killed mid-stream gets at most the message it was writing again", NULL},
    {"await_close", S4F_OPT_BOOL, "true", 0, 0, D(await_close),
     "syslog tcp and tls: wait for the receiver to close the connection before counting its "
     "messages delivered; false for receivers (or proxies) that never close: then delivered means "
     "acknowledged by the receiver's TCP stack, and a receiver killed with messages unread loses "
     "them", NULL},
    {"address", S4F_OPT_STRING, NULL, 0, 0, D(address),
     "syslog: the receiver, host:port or [v6]:port", NULL},
    {"facility", S4F_OPT_ENUM, "local0", 0, 0, D(facility), "syslog: facility of the messages",
     s4f_alert_facility_names},
    {"hostname", S4F_OPT_STRING, NULL, 0, 0, D(hostname),
     "syslog: HOSTNAME of the messages; unset: this machine's name", NULL},
    {"app_name", S4F_OPT_STRING, "s4f-alert", 0, 0, D(app_name), "syslog: APP-NAME of the messages",
     NULL},
    {"tls_ca_file", S4F_OPT_STRING, NULL, 0, 0, D(tls_ca_file),
     "CA certificates (PEM) to verify the receiver with (syslog tls, https webhooks); unset: the "
     "system's", NULL},
    {"tls_cert_file", S4F_OPT_STRING, NULL, 0, 0, D(tls_cert_file),
     "Client certificate (PEM), for receivers that authenticate their senders", NULL},
    {"tls_key_file", S4F_OPT_STRING, NULL, 0, 0, D(tls_key_file),
     "Private key (PEM) of tls_cert_file", NULL},
    {"tls_verify", S4F_OPT_BOOL, "true", 0, 0, D(tls_verify),
     "Verify the receiver's certificate and name; false only for tests", NULL},
    S4F_OPT_END,
};
#undef D
/* clang-format on */

bool s4f_alert_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (; *name; name++)
        if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
              (*name >= '0' && *name <= '9') || *name == '_' || *name == '.' || *name == '-'))
            return false;
    return true;
}

int s4f_alert_dest_check(const struct s4f_alert_dest_conf *c, char *err, size_t errlen)
{
    if (c->kind == S4F_DEST_WEBHOOK) {
        if (!c->url ||
            (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)) {
            snprintf(err, errlen, "url: an http:// or https:// address is needed for a webhook");
            return -1;
        }
        for (size_t i = 0; i < c->headers.n; i++)
            if (strpbrk(c->headers.k[i], ":\r\n ") || strpbrk(c->headers.v[i], "\r\n")) {
                snprintf(err, errlen, "headers: '%s' is not a valid header", c->headers.k[i]);
                return -1;
            }
        if (c->idempotency_header && strpbrk(c->idempotency_header, ":\r\n ")) {
            snprintf(err, errlen, "idempotency_header: not a header name");
            return -1;
        }
    } else {
        if (!c->address || !*c->address) {
            snprintf(err, errlen, "address: host:port of the syslog receiver is needed");
            return -1;
        }
        if (c->transport == S4F_SYSLOG_UDP && c->message_max > 65000) {
            snprintf(err, errlen, "message_max: at most 65000 over udp");
            return -1;
        }
    }
    if (c->retry_initial_ms > c->retry_max_ms) {
        snprintf(err, errlen, "retry_initial must not exceed retry_max");
        return -1;
    }
    if (c->types.n == 0) {
        snprintf(err, errlen, "types: at least one @type glob");
        return -1;
    }
    return 0;
}
