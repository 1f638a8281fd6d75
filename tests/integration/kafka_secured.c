/* Integration test of the secured Kafka path: the stack's SASL_SSL listener (SCRAM-SHA-512 over
 * TLS, StandardAuthorizer ACLs; provisioning/stack/stack.sh with S4F_KAFKA_SASL_PORT), reached
 * through common/kafka with the settings an operator puts in the `kafka:` section:
 *
 *   1. s4f-collector produces a marker record to ipfix.entry (allowed by its ACL);
 *   2. s4f-collector is refused results.output (only workers may write it);
 *   3. s4f-worker consumes ipfix.entry in an s4f-worker* group and finds the marker;
 *   4. a wrong password fails: nothing is delivered and the log names the authentication error.
 *
 * Reads S4F_KAFKA_SASL_BOOTSTRAP (host:port) and S4F_KAFKA_SECRETS (a folder with ca.crt and
 * USER.password files), as exported by `stack.sh env`; without them it exits 77 (skipped). */
#include "kafka.h"
#include "log.h"
#include "s4f.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL: " __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

struct deliveries {
    int ok, failed;
    rd_kafka_resp_err_t last_err;
};

static void on_delivery(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    struct deliveries *d = ctx;
    (void)opaque;
    if (err) {
        d->failed++;
        d->last_err = err;
    } else {
        d->ok++;
    }
}

static const char *bootstrap, *secrets;
static char ca_path[4096];

static int read_password(const char *user, char *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.password", secrets, user);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, (int)len, f)) {
        fprintf(stderr, "FAIL: cannot read %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* The `kafka:` section of a daemon's configuration, as an operator writes it. */
struct secured_conf {
    char *k[6], *v[6];
    struct s4f_kvlist list;
};

static void secured_conf(struct secured_conf *c, const char *user, const char *password)
{
    static const char *keys[] = {"bootstrap.servers", "security.protocol", "sasl.mechanisms",
                                 "ssl.ca.location",   "sasl.username",     "sasl.password"};
    const char *vals[] = {bootstrap, "SASL_SSL", "SCRAM-SHA-512", ca_path, user, password};
    for (int i = 0; i < 6; i++) {
        c->k[i] = (char *)keys[i];
        c->v[i] = (char *)vals[i];
    }
    c->list = (struct s4f_kvlist){6, c->k, c->v};
}

/* Produces one record to topic as user; returns the delivery outcome after at most ~20 s. */
static struct deliveries produce_one(const char *user, const char *password, const char *topic,
                                     const char *payload)
{
    struct deliveries d = {0};
    struct secured_conf sc;
    char err[512];
    secured_conf(&sc, user, password);
    /* Bound the test: an unauthorised or unauthenticated record fails within seconds. */
    char *ok[] = {"message.timeout.ms"}, *ov[] = {"5000"};
    struct s4f_kvlist over = {1, ok, ov};
    struct s4f_kafka_producer_opts po = {.shared = &sc.list,
                                         .overrides = &over,
                                         .queue_full_wait_ms = 1000,
                                         .on_delivery = on_delivery,
                                         .ctx = &d};
    struct s4f_kafka_producer *p = s4f_kafka_producer_new(&po, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "FAIL: producer as %s: %s\n", user, err);
        d.failed = -1;
        return d;
    }
    if (s4f_kafka_produce(p, topic, NULL, 0, payload, strlen(payload), NULL) != S4F_OK)
        d.failed++;
    s4f_kafka_producer_flush(p, 20000);
    s4f_kafka_producer_free(p);
    return d;
}

/* Consumes topic from the beginning as user until payload is seen (30 s at most). */
static int consume_marker(const char *user, const char *password, const char *topic,
                          const char *group, const char *payload)
{
    struct secured_conf sc;
    char err[512];
    secured_conf(&sc, user, password);
    const char *topics[] = {topic, NULL};
    struct s4f_kafka_consumer_opts co = {.shared = &sc.list, .group_id = group, .topics = topics};
    struct s4f_kafka_consumer *c = s4f_kafka_consumer_new(&co, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "FAIL: consumer as %s: %s\n", user, err);
        return 0;
    }
    int found = 0;
    long seen = 0;
    for (int64_t deadline = s4f_mono_ms() + 30000; !found && s4f_mono_ms() < deadline;) {
        rd_kafka_message_t *m = s4f_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        seen++;
        found = m->len == strlen(payload) && memcmp(m->payload, payload, m->len) == 0;
        rd_kafka_message_destroy(m);
    }
    s4f_kafka_consumer_close(c);
    s4f_kafka_consumer_free(c);
    fprintf(stderr, "%s read %ld records of %s, marker %s\n", user, seen, topic,
            found ? "found" : "missing");
    return found;
}

int main(void)
{
    bootstrap = getenv("S4F_KAFKA_SASL_BOOTSTRAP");
    secrets = getenv("S4F_KAFKA_SECRETS");
    if (!bootstrap || !*bootstrap || !secrets || !*secrets) {
        fprintf(stderr, "SKIP: S4F_KAFKA_SASL_BOOTSTRAP and S4F_KAFKA_SECRETS not set (start the "
                        "stack with S4F_KAFKA_SASL_PORT; see provisioning/stack/README.md)\n");
        return 77;
    }
    snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", secrets);
    /* The log goes to a file too, to check what an operator would read. */
    char log_path[] = "/tmp/s4f-kafka-secured-log.XXXXXX";
    int log_fd = mkstemp(log_path);
    FILE *log = log_fd >= 0 ? fdopen(log_fd, "w+") : NULL;
    if (!log) {
        perror("log file");
        return 1;
    }
    s4f_log_init("kafka-secured-test", NULL, S4F_LOG_WARN);
    s4f_log_set_stream(log);

    char collector_pw[256], worker_pw[256];
    if (read_password("s4f-collector", collector_pw, sizeof(collector_pw)) ||
        read_password("s4f-worker", worker_pw, sizeof(worker_pw)))
        return 1;
    char marker[128], group[128];
    snprintf(marker, sizeof(marker), "{\"s4f_secured_test\":\"%d-%lld\"}", (int)getpid(),
             (long long)s4f_wall_ms());
    snprintf(group, sizeof(group), "s4f-worker.secured-test.%d", (int)getpid());

    struct deliveries d = produce_one("s4f-collector", collector_pw, "ipfix.entry", marker);
    CHECK(d.ok == 1 && d.failed == 0,
          "collector -> ipfix.entry over SASL_SSL: %d ok, %d failed (%s)", d.ok, d.failed,
          rd_kafka_err2str(d.last_err));

    d = produce_one("s4f-collector", collector_pw, "results.output", "{\"forged\":true}");
    CHECK(d.ok == 0 && d.failed == 1 && d.last_err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
          "collector -> results.output must be refused by the ACLs: %d ok, %d failed (%s)", d.ok,
          d.failed, rd_kafka_err2name(d.last_err));

    CHECK(consume_marker("s4f-worker", worker_pw, "ipfix.entry", group, marker),
          "worker did not read the collector's record back over SASL_SSL");

    long before = ftell(log);
    d = produce_one("s4f-collector", "not-the-password", "ipfix.entry", "{\"x\":1}");
    CHECK(d.ok == 0 && d.failed == 1, "wrong password must not deliver: %d ok, %d failed", d.ok,
          d.failed);
    fflush(log);
    char text[16384] = "";
    fseek(log, before, SEEK_SET);
    size_t n = fread(text, 1, sizeof(text) - 1, log);
    text[n] = '\0';
    CHECK(strstr(text, "Authentication failed") != NULL || strstr(text, "AUTHENTICATION") != NULL,
          "the wrong password is not named as an authentication failure in the log:\n%s", text);

    s4f_log_set_stream(NULL);
    fclose(log);
    unlink(log_path);
    if (failures)
        return 1;
    printf("PASS: SASL_SSL/SCRAM-SHA-512 produce and consume, ACL refusal, wrong password "
           "refused\n");
    return 0;
}
