/* bench-collector-raw-produce: the broker's raw ceiling for our flow records.
 *
 *   bench-collector-raw-produce -t TOPIC [-b BOOTSTRAP] [-n MESSAGES] [-v 10|9] [-N POOL]
 *
 * Decodes the sender's datagram pool once (the same generator, seed and decoder defaults as the
 * collector), keeps the JSON records and their Kafka keys (source address text, the collector's
 * default), then produces -n messages cycling over them, flat out, from a minimal loop: one
 * rd_kafka_produce() per message with RD_KAFKA_MSG_F_COPY as the collector does, poll on a full
 * queue, flush at the end. The producer comes from s4f_kafka_producer_new(), so its settings are
 * exactly the collector's defaults (idempotence, acks=all, lz4, linger.ms=5, batch.num.messages,
 * queue bounds); only bootstrap.servers is added.
 *
 * Output, one line: messages=... delivered=... failed=... elapsed_s=... msgs_per_s=...
 *                   cpu_s=... avg_bytes=...   (elapsed runs from the first produce to the end of
 * the flush, so every message counted was acknowledged by the broker). */
#include "gen.h"

#include "decode.h"
#include "kafka.h"
#include "log.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct rec {
    char *json, *key;
    size_t json_len, key_len;
};

struct recs {
    struct rec *v;
    size_t n, cap;
    int oom;
};

static void keep_cb(void *ctx, const struct s4f_flow_out *r)
{
    struct recs *rs = ctx;
    if (rs->oom || rs->n == rs->cap)
        return;
    struct rec *d = &rs->v[rs->n];
    d->json = malloc(r->json_len);
    d->key = malloc(r->src_text_len ? r->src_text_len : 1);
    if (!d->json || !d->key) {
        free(d->json);
        free(d->key);
        rs->oom = 1;
        return;
    }
    memcpy(d->json, r->json, r->json_len);
    d->json_len = r->json_len;
    if (r->src_text)
        memcpy(d->key, r->src_text, r->src_text_len);
    d->key_len = r->src_text ? r->src_text_len : 0;
    rs->n++;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Decodes every pool datagram once, as the collector would from exporter 127.0.1.1. */
static int load_records(int version, unsigned pool_n, struct recs *rs)
{
    struct bg_pool pool;
    struct bg_exporter e;
    uint8_t *buf = malloc(BG_DGRAM_MAX);
    struct s4f_decoder *dec = s4f_decoder_new(NULL);
    int rc = -1;
    if (!buf || !dec || bg_pool_init(&pool, version, 30, pool_n, 42) != 0)
        goto out;
    rs->cap = (size_t)pool_n * pool.recs;
    rs->v = calloc(rs->cap, sizeof(*rs->v));
    if (!rs->v)
        goto out_pool;
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(bg_exporter_addr(0));
    int64_t now = bg_wall_ms();
    bg_exporter_init(&e, 0, now);
    size_t n = bg_template(&pool, &e, buf, now);
    s4f_decode_datagram(dec, &ss, buf, n, now, keep_cb, rs);
    for (unsigned i = 0; i < pool_n; i++) {
        n = bg_data(&pool, i, &e, buf, now);
        s4f_decode_datagram(dec, &ss, buf, n, now, keep_cb, rs);
    }
    rc = rs->oom || rs->n == 0 ? -1 : 0;
out_pool:
    bg_pool_free(&pool);
out:
    s4f_decoder_free(dec);
    free(buf);
    return rc;
}

static void recs_free(struct recs *rs)
{
    for (size_t i = 0; rs->v && i < rs->n; i++) {
        free(rs->v[i].json);
        free(rs->v[i].key);
    }
    free(rs->v);
}

int main(int argc, char **argv)
{
    const char *topic = NULL, *bootstrap = getenv("S4F_KAFKA_BOOTSTRAP");
    long long messages = 2000000;
    unsigned pool_n = 1024;
    int version = 10, c, rc = 1;
    char err[512];
    while ((c = getopt(argc, argv, "t:b:n:v:N:h")) != -1) {
        switch (c) {
        case 't':
            topic = optarg;
            break;
        case 'b':
            bootstrap = optarg;
            break;
        case 'n':
            messages = atoll(optarg);
            break;
        case 'v':
            version = atoi(optarg);
            break;
        case 'N':
            pool_n = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: bench-collector-raw-produce -t TOPIC [-b BOOTSTRAP] "
                            "[-n MESSAGES] [-v 10|9] [-N POOL]\n");
            return 1;
        }
    }
    if (!topic || messages <= 0 || pool_n == 0)
        return 1;
    if (!bootstrap || !*bootstrap)
        bootstrap = "127.0.0.1:9092";
    s4f_log_init("bench-raw-produce", NULL, S4F_LOG_WARN);

    struct recs rs = {0};
    struct s4f_kafka_producer *p = NULL;
    rd_kafka_topic_t *rkt = NULL;
    if (load_records(version, pool_n, &rs) != 0) {
        fprintf(stderr, "cannot decode the generated records\n");
        goto out;
    }
    char *k = "bootstrap.servers", *v = (char *)bootstrap;
    struct s4f_kvlist shared = {.n = 1, .k = &k, .v = &v};
    struct s4f_kafka_producer_opts popts = {.shared = &shared};
    p = s4f_kafka_producer_new(&popts, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    rd_kafka_t *rk = s4f_kafka_producer_handle(p);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        fprintf(stderr, "topic %s: %s\n", topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
    /* Connect and fetch the topic's metadata before the clock starts. */
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "no metadata for %s from %s\n", topic, bootstrap);
        goto out;
    }
    rd_kafka_metadata_destroy(md);

    uint64_t bytes = 0;
    double t0 = bg_mono_s(), c0 = cpu_s();
    for (long long i = 0; i < messages; i++) {
        const struct rec *r = &rs.v[(size_t)i % rs.n];
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, r->json,
                                r->json_len, r->key, r->key_len, NULL) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                goto out;
            }
            rd_kafka_poll(rk, 1);
        }
        bytes += r->json_len;
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    int left = s4f_kafka_producer_flush(p, 120000);
    double el = bg_mono_s() - t0, cpu = cpu_s() - c0;
    struct s4f_kafka_producer_stats st;
    s4f_kafka_producer_stats(p, &st);
    printf("messages=%lld delivered=%llu failed=%llu left=%d elapsed_s=%.3f msgs_per_s=%.0f "
           "cpu_s=%.3f avg_bytes=%.1f\n",
           messages, (unsigned long long)st.delivered, (unsigned long long)st.failed, left, el,
           (double)st.delivered / el, cpu, (double)bytes / (double)messages);
    rc = st.delivered == (uint64_t)messages ? 0 : 1;
out:
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    s4f_kafka_producer_free(p);
    recs_free(&rs);
    return rc;
}
