/* s4f-alert: forwards detections from the results topic to syslog receivers and HTTP webhooks.
 *
 * Each destination (alert.destinations.<name>) runs on a thread of its own with a Kafka consumer
 * of its own, in the group <group_id>.<name>, so a destination that is down holds back only its
 * own offsets, never another's. A destination's loop: poll a batch; keep the results its route
 * takes (@type globs, minimum severity), skip the others; drop ids it delivered already
 * (duplicates), drop what its rate limit refuses (counted); format the rest (ECS JSON, and for
 * syslog an RFC 5424 line); deliver, retrying with exponential back-off while the consumer is
 * paused but polled; commit the batch's offsets only when every message is delivered or counted
 * as dropped. A crash or kill before the commit makes the next start deliver the batch again
 * (at-least-once); the id dedup and the webhook's idempotency key make that once for the
 * receiver (docs/alerts.md).
 *
 * Files: conf.c (option tables, destination checks), route.c (severities, routes, the id dedup set,
 * the token bucket), format.c (detection in, ECS document and syslog line out), output.c (the
 * transports: syslog, webhook), alert.c (the destination loop), main.c (option tables, threads). */
#ifndef S4F_ALERT_H
#define S4F_ALERT_H

#include "config.h"
#include "daemon.h"
#include "s4f.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration ------------------------------------------------------------------------ */

enum s4f_alert_severity { S4F_SEV_LOW, S4F_SEV_MEDIUM, S4F_SEV_HIGH, S4F_SEV_CRITICAL };
extern const char *const s4f_alert_severity_names[]; /* "low" .. "critical", NULL */

enum s4f_alert_kind { S4F_DEST_WEBHOOK, S4F_DEST_SYSLOG };
enum s4f_syslog_transport { S4F_SYSLOG_TCP, S4F_SYSLOG_UDP, S4F_SYSLOG_TLS };

/* One destination: alert.destinations.<name>. */
struct s4f_alert_dest_conf {
    int kind;
    struct s4f_strlist types;
    int min_severity;
    double rate_limit; /* alerts per second; 0: none */
    int64_t rate_burst;
    int64_t retry_initial_ms, retry_max_ms, give_up_after_ms;
    int64_t max_batch;
    int64_t dedup_ids;
    int64_t message_max;
    int64_t timeout_ms;
    /* webhook */
    char *url;
    struct s4f_kvlist headers;
    char *idempotency_header;
    /* syslog */
    int transport;
    char *address;
    int facility;
    int64_t connection_batch;
    bool await_close;
    char *hostname;
    char *app_name;
    /* TLS (webhook https:// and syslog tls) */
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    bool tls_verify;
};

struct s4f_alert_conf {
    struct s4f_daemon_common common;
    char *topic;
    char *group_id;
    struct s4f_kvlist kafka;
    struct s4f_kvlist severities;
    int default_severity;
    const struct s4f_node *destinations;
};

extern const struct s4f_opt s4f_alert_opts[];
extern const struct s4f_opt s4f_alert_dest_opts[];
extern const char *const s4f_alert_facility_names[]; /* index = syslog facility code */

/* Checks one destination's values beyond the table (url or address present, bounds across
 * fields). 0 or -1 with err. */
int s4f_alert_dest_check(const struct s4f_alert_dest_conf *c, char *err, size_t errlen);
/* Destination names become consumer group suffixes and metric labels: [A-Za-z0-9_.-]{1,64}. */
bool s4f_alert_name_ok(const char *name);

/* ---- routing (route.c) -------------------------------------------------------------------- */

/* The severity of a result type: the first glob of severities (operator's) that matches, then
 * the built-in table (docs/alerts.md), then def. */
enum s4f_alert_severity s4f_alert_severity_of(const struct s4f_kvlist *severities, int def,
                                              const char *type);
/* Whether type matches one of the globs (fnmatch(3) syntax). */
bool s4f_alert_type_matches(const struct s4f_strlist *globs, const char *type);

/* The ids a destination delivered lately: a bounded set, the oldest forgotten first. */
struct s4f_alert_dedup;
struct s4f_alert_dedup *s4f_alert_dedup_new(size_t capacity); /* 0: a set that holds nothing */
void s4f_alert_dedup_free(struct s4f_alert_dedup *d);         /* NULL-safe */
bool s4f_alert_dedup_has(const struct s4f_alert_dedup *d, const char *id);
/* Remembers id (copied); 0 or -1 (out of memory: not remembered). */
int s4f_alert_dedup_add(struct s4f_alert_dedup *d, const char *id);

/* Token bucket: rate tokens a second up to burst. */
struct s4f_alert_bucket {
    double rate, burst, tokens;
    int64_t last_ms;
};
void s4f_alert_bucket_init(struct s4f_alert_bucket *b, double rate, double burst, int64_t now_ms);
/* Takes one token if there is one (always true when rate is 0). */
bool s4f_alert_bucket_take(struct s4f_alert_bucket *b, int64_t now_ms);

/* ---- formats (format.c) ------------------------------------------------------------------- */

#define S4F_ALERT_INPUT_MAX (1 << 20) /* larger results are refused as invalid */
#define S4F_ALERT_ID_MAX    512
#define S4F_ALERT_TYPE_MAX  128

/* What a detection says, read from a result's JSON (hostile input). */
struct s4f_detection {
    char type[S4F_ALERT_TYPE_MAX + 1];
    char id[S4F_ALERT_ID_MAX + 1];
    char timestamp[32]; /* "2026-11-27T06:10:57.123Z", or "" when absent or malformed */
    void *json;         /* the parsed object (json_t *), owned */
};

/* Reads type and id only (every result is read this far; the route decides on them). S4F_OK,
 * or S4F_ERR with a reason (not a JSON object, no @type or id, bad characters, too large). */
enum s4f_status s4f_detection_parse(const void *payload, size_t len, struct s4f_detection *det,
                                    char *why, size_t whylen);
void s4f_detection_release(struct s4f_detection *det); /* NULL-safe, idempotent */

/* The ECS document of a detection (malloc'ed JSON text, ASCII only; NULL when out of memory). */
char *s4f_alert_ecs_json(const struct s4f_detection *det, enum s4f_alert_severity sev);

/* The RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG, MSG being the
 * ECS document. Appended to out (reset first). 0 or -1 (out of memory). */
struct s4f_buf;
int s4f_alert_syslog_line(struct s4f_buf *out, const struct s4f_detection *det,
                          enum s4f_alert_severity sev, int facility, const char *hostname,
                          const char *app_name, long procid, const char *ecs_json);

/* ---- transports (output.c) ----------------------------------------------------------------- */

/* An alert on its way to one destination. */
enum s4f_alert_state {
    S4F_AL_PENDING,   /* to deliver */
    S4F_AL_DELIVERED, /* the receiver has it */
    S4F_AL_REFUSED,   /* refused for good by the receiver (webhook 4xx): dropped, counted */
};
struct s4f_alert_item {
    const char *id;
    const char *text; /* the syslog line or the JSON body */
    size_t len;
    enum s4f_alert_state state;
    long status; /* webhook: the HTTP status of the last attempt */
};

struct s4f_alert_out;
/* NULL with err on a configuration the transport cannot use (bad address). */
struct s4f_alert_out *s4f_syslog_out_new(const struct s4f_alert_dest_conf *c, char *err,
                                         size_t errlen);
struct s4f_alert_out *s4f_webhook_out_new(const struct s4f_alert_dest_conf *c, char *err,
                                          size_t errlen);
/* Delivers the pending items of items[0..n). S4F_OK: none is pending any more; S4F_RETRY: some
 * are (the receiver is unreachable or failed: back off and call again), why says what. */
enum s4f_status s4f_alert_out_send(struct s4f_alert_out *o, struct s4f_alert_item *items, size_t n,
                                   char *why, size_t whylen);
void s4f_alert_out_free(struct s4f_alert_out *o); /* NULL-safe */

/* ---- the destination loop (alert.c) ------------------------------------------------------- */

struct s4f_alert_dest;
/* conf, dc and d must outlive the destination. NULL with err. */
struct s4f_alert_dest *s4f_alert_dest_new(struct s4f_daemon *d, const struct s4f_alert_conf *conf,
                                          const char *name, const struct s4f_alert_dest_conf *dc,
                                          char *err, size_t errlen);
/* Runs until the daemon stops; drains what it consumed. 0, or -1 on a fatal error (logged). */
int s4f_alert_dest_run(struct s4f_alert_dest *a);
/* Closes the consumer. NULL-safe. */
void s4f_alert_dest_free(struct s4f_alert_dest *a);

#endif
