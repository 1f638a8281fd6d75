/* One destination of s4f-alert: its consumer, its batch, its deliveries and commits (the loop
 * alert.h describes). */
#include "alert.h"

#include "buf.h"
#include "kafka.h"
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum msg_fate {
    F_SKIPPED,   /* not for this destination's route */
    F_INVALID,   /* unreadable: dropped, counted */
    F_DUPLICATE, /* id delivered already */
    F_LIMITED,   /* refused by the rate limit: dropped, counted */
    F_TOO_LARGE, /* formatted message above message_max: dropped, counted */
    F_SEND,      /* an alert item to deliver */
};

struct s4f_alert_dest {
    struct s4f_daemon *d;
    const struct s4f_alert_conf *conf;
    const struct s4f_alert_dest_conf *dc;
    char name[72];
    char group[512];
    struct s4f_kafka_consumer *cons;
    struct s4f_alert_out *out;
    struct s4f_alert_dedup *dedup;
    struct s4f_alert_bucket bucket;
    unsigned rng;
    long pid;
    char hostname[256];

    rd_kafka_message_t **msgs; /* the batch */
    enum msg_fate *fate;
    struct s4f_alert_item *items; /* one per F_SEND message, in order */
    size_t *item_msg;             /* the index in msgs of each item's message */
    size_t commit_mark;           /* msgs[0..commit_mark) are committed */
    char **texts;
    size_t nmsgs, nitems, cap;
    /* Messages polled while the partitions were paused for a retry: the next batch's. */
    struct s4f_kafka_held held;
    bool up;      /* the last delivery attempt succeeded */
    bool revoked; /* a revocation came during the batch: its partitions' messages are not ours */
    rd_kafka_topic_partition_list_t *lost;

    struct s4f_metric *m_delivered, *m_skipped, *m_dup, *m_retries, *m_up, *m_commits,
        *m_drop_invalid, *m_drop_limited, *m_drop_refused, *m_drop_large, *m_drop_expired;
};

/* Destinations retrying now: /health says degraded while any is. */
static atomic_int dests_down;

static void set_up(struct s4f_alert_dest *a, bool up)
{
    if (up == a->up)
        return;
    a->up = up;
    s4f_metric_set(a->m_up, up ? 1 : 0);
    if (!up && atomic_fetch_add(&dests_down, 1) == 0) {
        char why[128];
        snprintf(why, sizeof(why), "destination %s unreachable, retrying", a->name);
        s4f_metrics_set_health(a->d->metrics, 0, why);
    } else if (up && atomic_fetch_sub(&dests_down, 1) == 1) {
        s4f_metrics_set_health(a->d->metrics, 1, "");
    }
}

static const char *const alert_consumer_defaults[] = {
    /* A destination may be down for long: polls keep the membership while it retries. */
    "max.poll.interval.ms", "600000", "queued.max.messages.kbytes", "4096", NULL,
};

static struct s4f_metric *drop_metric(struct s4f_alert_dest *a, const char *reason)
{
    char l[160];
    return s4f_metrics_counter(
        a->d->metrics, "alerts_dropped_total", "Alerts dropped for good, by destination and reason",
        s4f_metrics_labels(l, sizeof(l), "destination", a->name, "reason", reason, NULL));
}

static void metrics_init(struct s4f_alert_dest *a)
{
    struct s4f_metrics *m = a->d->metrics;
    char l[128];
    s4f_metrics_labels(l, sizeof(l), "destination", a->name, NULL);
    a->m_delivered =
        s4f_metrics_counter(m, "alerts_delivered_total", "Alerts the destination acknowledged", l);
    a->m_skipped = s4f_metrics_counter(
        m, "results_skipped_total", "Results not routed to the destination (type or severity)", l);
    a->m_dup = s4f_metrics_counter(
        m, "alerts_duplicate_total",
        "Results whose id the destination received already (not sent again)", l);
    a->m_retries = s4f_metrics_counter(m, "delivery_retries_total",
                                       "Failed delivery attempts, retried after a back-off", l);
    a->m_up = s4f_metrics_gauge(m, "destination_up",
                                "1 when the last delivery attempt succeeded, 0 while retrying", l);
    a->m_commits =
        s4f_metrics_counter(m, "offset_commits_total", "Offset commits after a delivered batch", l);
    a->m_drop_invalid = drop_metric(a, "invalid");
    a->m_drop_limited = drop_metric(a, "rate_limited");
    a->m_drop_refused = drop_metric(a, "refused");
    a->m_drop_large = drop_metric(a, "too_large");
    a->m_drop_expired = drop_metric(a, "expired");
    s4f_metric_set(a->m_up, 1);
    a->up = true;
}

/* ---- consumer ----------------------------------------------------------------------------- */

static bool in_list(const rd_kafka_topic_partition_list_t *l, const rd_kafka_message_t *m)
{
    return l && rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name(m->rkt), m->partition);
}

static void on_revoke(void *ctx, const rd_kafka_topic_partition_list_t *parts)
{
    struct s4f_alert_dest *a = ctx;
    /* The batch's messages of these partitions are the new owner's to deliver and commit. */
    if (!a->lost)
        a->lost = rd_kafka_topic_partition_list_new(parts->cnt > 0 ? parts->cnt : 1);
    for (int i = 0; a->lost && i < parts->cnt; i++)
        rd_kafka_topic_partition_list_add(a->lost, parts->elems[i].topic,
                                          parts->elems[i].partition);
    a->revoked = true;
    s4f_kafka_held_drop(&a->held, parts);
}

/* Waits ms with the partitions paused, polling so the group keeps us. */
static void wait_alive(struct s4f_alert_dest *a, int64_t ms)
{
    s4f_kafka_consumer_wait_paused(a->cons, ms, &a->held, NULL, NULL);
}

static int64_t backoff_ms(struct s4f_alert_dest *a, int attempt)
{
    int64_t d = a->dc->retry_initial_ms;
    for (int i = 0; i < attempt && d < a->dc->retry_max_ms; i++)
        d *= 2;
    if (d > a->dc->retry_max_ms)
        d = a->dc->retry_max_ms;
    a->rng = a->rng * 1103515245u + 12345u;
    return d / 2 + (int64_t)((a->rng >> 8) % (uint64_t)(d / 2 + 1));
}

/* ---- batch -------------------------------------------------------------------------------- */

static void batch_clear(struct s4f_alert_dest *a)
{
    for (size_t i = 0; i < a->nmsgs; i++)
        rd_kafka_message_destroy(a->msgs[i]);
    for (size_t i = 0; i < a->nitems; i++) {
        free(a->texts[i]);
        free((char *)a->items[i].id);
        a->items[i].id = NULL;
    }
    a->nmsgs = a->nitems = a->commit_mark = 0;
    a->revoked = false;
    if (a->lost) {
        rd_kafka_topic_partition_list_destroy(a->lost);
        a->lost = NULL;
    }
}

/* Decides a message's fate and, for an alert, formats it into the next item. */
static void batch_add(struct s4f_alert_dest *a, rd_kafka_message_t *m, struct s4f_buf *line)
{
    size_t k = a->nmsgs++;
    struct s4f_detection det;
    char why[256];
    a->msgs[k] = m;
    a->fate[k] = F_SKIPPED;
    if (s4f_detection_parse(m->payload, m->len, &det, why, sizeof(why)) != S4F_OK) {
        s4f_warn_rl("%s[%d]@%lld: unusable result, dropped: %s", rd_kafka_topic_name(m->rkt),
                    (int)m->partition, (long long)m->offset, why);
        a->fate[k] = F_INVALID;
        s4f_metric_inc(a->m_drop_invalid);
        return;
    }
    enum s4f_alert_severity sev =
        s4f_alert_severity_of(&a->conf->severities, a->conf->default_severity, det.type);
    if (!s4f_alert_type_matches(&a->dc->types, det.type) || (int)sev < a->dc->min_severity) {
        s4f_metric_inc(a->m_skipped);
        goto out;
    }
    bool dup = s4f_alert_dedup_has(a->dedup, det.id);
    for (size_t i = 0; !dup && i < a->nitems; i++)
        dup = strcmp(a->items[i].id, det.id) == 0;
    if (dup) {
        a->fate[k] = F_DUPLICATE;
        s4f_metric_inc(a->m_dup);
        goto out;
    }
    if (!s4f_alert_bucket_take(&a->bucket, s4f_mono_ms())) {
        s4f_warn_rl("rate limit (%.3g/s, burst %lld): %s %s dropped", a->dc->rate_limit,
                    (long long)a->dc->rate_burst, det.type, det.id);
        a->fate[k] = F_LIMITED;
        s4f_metric_inc(a->m_drop_limited);
        s4f_alert_dedup_add(a->dedup, det.id); /* decided: a copy read later is a duplicate */
        goto out;
    }
    char *ecs = s4f_alert_ecs_json(&det, sev);
    char *text = ecs;
    if (ecs && a->dc->kind == S4F_DEST_SYSLOG) {
        text = NULL;
        if (s4f_alert_syslog_line(line, &det, sev, a->dc->facility, a->hostname, a->dc->app_name,
                                  a->pid, ecs) == 0)
            text = strdup(line->p);
        free(ecs);
    }
    if (!text) {
        s4f_error_rl("out of memory formatting %s: dropped", det.id);
        a->fate[k] = F_INVALID;
        s4f_metric_inc(a->m_drop_invalid);
        goto out;
    }
    size_t len = strlen(text);
    if ((int64_t)len > a->dc->message_max) {
        s4f_warn_rl("%s %s: %zu bytes exceed message_max %lld: dropped", det.type, det.id, len,
                    (long long)a->dc->message_max);
        free(text);
        a->fate[k] = F_TOO_LARGE;
        s4f_metric_inc(a->m_drop_large);
        s4f_alert_dedup_add(a->dedup, det.id);
        goto out;
    }
    a->fate[k] = F_SEND;
    a->item_msg[a->nitems] = k;
    a->texts[a->nitems] = text;
    /* The item owns copies of text and id: det is released below. */
    struct s4f_alert_item *it = &a->items[a->nitems++];
    memset(it, 0, sizeof(*it));
    it->text = text;
    it->len = len;
    it->state = S4F_AL_PENDING;
    it->id = strdup(det.id);
    if (!it->id) {
        a->nitems--;
        free(text);
        a->fate[k] = F_INVALID;
        s4f_metric_inc(a->m_drop_invalid);
    }
out:
    s4f_detection_release(&det);
}

/* Commits the offsets of msgs[0..upto), all resolved (delivered, dropped or skipped). */
static void commit_upto(struct s4f_alert_dest *a, size_t upto)
{
    if (upto <= a->commit_mark)
        return;
    rd_kafka_t *rk = s4f_kafka_consumer_handle(a->cons);
    rd_kafka_topic_partition_list_t *as = NULL, *offs = rd_kafka_topic_partition_list_new(8);
    if (rd_kafka_assignment(rk, &as) != RD_KAFKA_RESP_ERR_NO_ERROR)
        as = NULL;
    for (size_t i = 0; offs && i < upto; i++) {
        const rd_kafka_message_t *m = a->msgs[i];
        if (!in_list(as, m) || (a->revoked && in_list(a->lost, m)))
            continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(offs, topic, m->partition);
        if (!p)
            p = rd_kafka_topic_partition_list_add(offs, topic, m->partition);
        if (m->offset + 1 > p->offset)
            p->offset = m->offset + 1;
    }
    if (offs && offs->cnt > 0 && s4f_kafka_consumer_commit(a->cons, offs) == S4F_OK) {
        s4f_metric_inc(a->m_commits);
        a->commit_mark = upto;
    }
    if (offs)
        rd_kafka_topic_partition_list_destroy(offs);
    if (as)
        rd_kafka_topic_partition_list_destroy(as);
}

/* How many alerts are delivered between commits: a crash repeats at most that many. Syslog
 * over TCP or TLS confirms a connection at a time; webhooks carry their idempotency key, so a
 * commit every few requests is enough; UDP confirms nothing, the batch is the unit. */
static size_t commit_every(const struct s4f_alert_dest *a)
{
    if (a->dc->kind == S4F_DEST_WEBHOOK)
        return 16;
    if (a->dc->transport == S4F_SYSLOG_UDP)
        return a->cap;
    return (size_t)a->dc->connection_batch;
}

/* Delivers items[from..to), retrying. 0 when done, 1 when given up (give_up_after: every
 * pending item of the batch is marked expired), -1 when the daemon must stop at once. */
static int deliver(struct s4f_alert_dest *a, size_t from, size_t to, int *attempt,
                   int64_t *first_fail)
{
    char why[512];
    for (;;) {
        enum s4f_status st =
            s4f_alert_out_send(a->out, a->items + from, to - from, why, sizeof(why));
        if (st == S4F_OK)
            break;
        s4f_metric_inc(a->m_retries);
        set_up(a, false);
        int64_t now = s4f_mono_ms();
        if (!*first_fail)
            *first_fail = now;
        s4f_warn_rl("delivery failed, retrying: %s", why);
        if (a->dc->give_up_after_ms > 0 && now - *first_fail >= a->dc->give_up_after_ms) {
            size_t n = 0;
            for (size_t i = from; i < a->nitems; i++)
                if (a->items[i].state == S4F_AL_PENDING) {
                    a->items[i].state = S4F_AL_REFUSED;
                    s4f_metric_inc(a->m_drop_expired);
                    n++;
                }
            s4f_error("giving up on %zu alerts after %lld ms of failures (give_up_after): "
                      "dropped",
                      n, (long long)(now - *first_fail));
            *first_fail = 0;
            return 1;
        }
        if (s4f_daemon_stopping() == 2) {
            s4f_warn("stopping with undelivered alerts: they will be delivered at the next start");
            return -1;
        }
        wait_alive(a, backoff_ms(a, (*attempt)++));
        if (s4f_daemon_stopping() == 2)
            return -1;
    }
    if (*first_fail)
        s4f_info("delivering again after %lld ms", (long long)(s4f_mono_ms() - *first_fail));
    *first_fail = 0;
    *attempt = 0;
    set_up(a, true);
    return 0;
}

static void account(struct s4f_alert_dest *a, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        struct s4f_alert_item *it = &a->items[i];
        if (it->state == S4F_AL_DELIVERED) {
            s4f_metric_inc(a->m_delivered);
        } else if (it->status) {
            s4f_warn_rl("%s refused with HTTP %ld: dropped", it->id, it->status);
            s4f_metric_inc(a->m_drop_refused);
        }
        s4f_alert_dedup_add(a->dedup, it->id);
    }
}

/* Delivers the batch's items a few at a time, committing behind them, then commits the whole
 * batch. 0, or -1 when the daemon must stop at once (what is not committed is delivered again
 * at the next start). */
static int flush(struct s4f_alert_dest *a)
{
    size_t every = commit_every(a);
    int attempt = 0;
    int64_t first_fail = 0;
    for (size_t i = 0; i < a->nitems;) {
        size_t end = a->nitems - i > every ? i + every : a->nitems;
        int rc = deliver(a, i, end, &attempt, &first_fail);
        if (rc < 0)
            return -1;
        if (rc > 0)
            end = a->nitems;
        account(a, i, end);
        i = end;
        if (i < a->nitems)
            commit_upto(a, a->item_msg[i]);
    }
    commit_upto(a, a->nmsgs);
    batch_clear(a);
    s4f_kafka_consumer_pause_all(a->cons, false);
    return 0;
}

/* ---- life cycle --------------------------------------------------------------------------- */

struct s4f_alert_dest *s4f_alert_dest_new(struct s4f_daemon *d, const struct s4f_alert_conf *conf,
                                          const char *name, const struct s4f_alert_dest_conf *dc,
                                          char *err, size_t errlen)
{
    struct s4f_alert_dest *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->d = d;
    a->conf = conf;
    a->dc = dc;
    s4f_strlcpy(a->name, name, sizeof(a->name));
    snprintf(a->group, sizeof(a->group), "%s.%s", conf->group_id, name);
    a->pid = (long)getpid();
    a->rng = (unsigned)s4f_mono_ms() ^ (unsigned)a->pid;
    if (dc->hostname && *dc->hostname)
        s4f_strlcpy(a->hostname, dc->hostname, sizeof(a->hostname));
    else if (gethostname(a->hostname, sizeof(a->hostname) - 1) != 0)
        a->hostname[0] = '\0';
    a->cap = (size_t)dc->max_batch;
    a->msgs = calloc(a->cap, sizeof(*a->msgs));
    a->fate = calloc(a->cap, sizeof(*a->fate));
    a->items = calloc(a->cap, sizeof(*a->items));
    a->item_msg = calloc(a->cap, sizeof(*a->item_msg));
    a->texts = calloc(a->cap, sizeof(*a->texts));
    a->dedup = s4f_alert_dedup_new((size_t)dc->dedup_ids);
    if (!a->msgs || !a->fate || !a->items || !a->item_msg || !a->texts || !a->dedup) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    s4f_alert_bucket_init(&a->bucket, dc->rate_limit, (double)dc->rate_burst, s4f_mono_ms());
    a->out = dc->kind == S4F_DEST_WEBHOOK ? s4f_webhook_out_new(dc, err, errlen)
                                          : s4f_syslog_out_new(dc, err, errlen);
    if (!a->out)
        goto fail;
    metrics_init(a);
    const char *topics[] = {conf->topic, NULL};
    struct s4f_kafka_consumer_opts co = {
        .shared = &d->kafka,
        .overrides = &conf->kafka,
        .defaults = alert_consumer_defaults,
        .metrics = d->metrics,
        .group_id = a->group,
        .topics = topics,
        .on_revoke = on_revoke,
        .ctx = a,
    };
    char kerr[512];
    if (!(a->cons = s4f_kafka_consumer_new(&co, kerr, sizeof(kerr)))) {
        snprintf(err, errlen, "kafka consumer: %s", kerr);
        goto fail;
    }
    return a;
fail:
    s4f_alert_dest_free(a);
    return NULL;
}

int s4f_alert_dest_run(struct s4f_alert_dest *a)
{
    struct s4f_buf line = {0};
    s4f_log_set_thread_name(a->name);
    s4f_info("consuming %s as group %s", a->conf->topic, a->group);
    while (!s4f_daemon_stopping()) {
        /* Held messages first, then what the consumer has, up to max_batch. */
        rd_kafka_message_t *hm;
        while (a->nmsgs < a->cap && (hm = s4f_kafka_held_pop(&a->held)) != NULL)
            batch_add(a, hm, &line);
        /* The first message may be waited for; the rest of the batch is what is there. */
        while (a->nmsgs < a->cap) {
            rd_kafka_message_t *m = s4f_kafka_consumer_poll(a->cons, a->nmsgs ? 0 : 100);
            if (!m)
                break;
            batch_add(a, m, &line);
        }
        /* A drain delivers what was consumed before it stops; a second signal abandons it
         * uncommitted. */
        if (a->nmsgs > 0 && flush(a) != 0)
            break;
    }
    s4f_buf_free(&line);
    return 0;
}

void s4f_alert_dest_free(struct s4f_alert_dest *a)
{
    if (!a)
        return;
    if (a->msgs && a->items && a->texts)
        batch_clear(a);
    s4f_kafka_held_free(&a->held);
    if (a->cons) {
        s4f_kafka_consumer_close(a->cons);
        s4f_kafka_consumer_free(a->cons);
    }
    if (a->lost)
        rd_kafka_topic_partition_list_destroy(a->lost);
    s4f_alert_out_free(a->out);
    s4f_alert_dedup_free(a->dedup);
    free(a->msgs);
    free(a->fate);
    free(a->items);
    free(a->item_msg);
    free(a->texts);
    free(a);
}
