/* bench-worker: the pieces of the worker benchmark that need C (bench/worker/run drives them).
 *
 *   bench-worker preload TOPIC FLOWS HOSTS SECONDS   produce FLOWS realistic flow records
 *                                                    (HOSTS local hosts, event times spread
 *                                                    over SECONDS ending two hours ago)
 *   bench-worker raw TOPIC FLOWS                      the broker's consume ceiling: a minimal
 *                                                    librdkafka consumer that discards
 *   bench-worker cpu FLOWS HOSTS SECONDS [ANALYSIS]   one core, in memory: jansson against the
 *                                                    worker's reader, and each analysis folding
 *                                                    parsed records (no Kafka)
 *   bench-worker rss ANALYSIS HOSTS                   resident memory of one window holding
 *                                                    HOSTS active hosts
 *
 * With S4F_BENCH_DNS_PCT=N in the environment, N % of the records are DNS (Flowmon keys:
 * queries from local hosts and answers to them, names drawn from HOSTS distinct domains, 5 %
 * NXDOMAIN), so `rss` measures the state per distinct domain for the DNS analyses.
 *
 * With S4F_BENCH_APP_PCT=N, N % of the TCP records carry application fields: to port 80 an
 * HTTP host (from HOSTS distinct names), otherwise a TLS client's fingerprint (Flowmon's
 * cipher suites and JA3, or ipfixprobe's SNI and JA4; some in the shipped dictionary).
 * With S4F_BENCH_DOCS=PATH, `cpu` appends every document it builds to PATH (id, space, JSON,
 * one a line): two builds' files, made with the same S4F_BENCH_T0 (the first event time, ms),
 * compare their results byte for byte.
 * With S4F_BENCH_RULES_FILE=PATH, the rules analysis runs that rule file (window 5m, slide
 * 1m); with S4F_BENCH_PF_CONFIGS=PATH[,PATH...], pattern_finder runs those configurations
 * (window 5m, theirs). Without its variable `cpu` leaves such an analysis out: it would do
 * nothing.
 *
 * With S4F_BENCH_FORMAT=packed, `preload` writes the collector's packed messages
 * (docs/packed-format.md) instead of one JSON record per message: up to 256 flows per message,
 * batched per partition of the key as the collector does; it prints messages= too.
 *
 * Every command prints one line of key=value pairs. The broker is $S4F_KAFKA_BOOTSTRAP
 * (default 127.0.0.1:9092). */
#include "flow.h"
#include "kafka.h"
#include "log.h"
#include "registry.h"
#include "window.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the generator ----------------------------------------------------------------------- */

struct gen {
    uint64_t s;
    uint32_t hosts;
    unsigned dns_pct; /* S4F_BENCH_DNS_PCT */
    unsigned app_pct; /* S4F_BENCH_APP_PCT */
    int64_t t0, span_ms;
    uint64_t n, i;
    /* The last record's local host (index, IPv6 or not) and flow end: the preload counts
     * the active local hosts of each window from them. */
    uint32_t cur_host;
    bool cur_v6;
    int64_t cur_end;
};

static uint64_t rnd(struct gen *g)
{
    /* xorshift64*: fast and reproducible; quality is beside the point. */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return g->s * 0x2545F4914F6CDD1Dull;
}

static void gen_init(struct gen *g, uint64_t n, uint32_t hosts, int64_t span_ms)
{
    g->s = 0x9E3779B97F4A7C15ull;
    g->hosts = hosts ? hosts : 1;
    g->n = n ? n : 1;
    g->span_ms = span_ms;
    g->i = 0;
    const char *dp = getenv("S4F_BENCH_DNS_PCT");
    g->dns_pct = dp ? (unsigned)strtoul(dp, NULL, 10) % 101 : 0;
    const char *ap = getenv("S4F_BENCH_APP_PCT");
    g->app_pct = ap ? (unsigned)strtoul(ap, NULL, 10) % 101 : 0;
    /* Two hours ago, on a minute boundary: well inside max_future, windows close as the
     * watermark moves, and the last ones by the idle timeout. */
    int64_t now = s4f_wall_ms() - 2 * 3600000LL;
    g->t0 = now - now % 60000 - span_ms;
    /* S4F_BENCH_T0 (ms, a minute boundary): the same event times in every run. */
    const char *t0 = getenv("S4F_BENCH_T0");
    if (t0 && *t0)
        g->t0 = strtoll(t0, NULL, 10);
}

static void local_addr(char *buf, size_t len, uint32_t h, bool v6)
{
    h++;
    if (v6)
        snprintf(buf, len, "fd00::%x:%x", h >> 16, h & 0xffff);
    else
        snprintf(buf, len, "10.%u.%u.%u", (h >> 16) & 255, (h >> 8) & 255, h & 255);
}

static void remote_addr(char *buf, size_t len, uint32_t r, bool v6)
{
    if (v6)
        snprintf(buf, len, "2001:db8::%x", r & 0xffff);
    else
        snprintf(buf, len, "198.18.%u.%u", (r >> 8) & 255, r & 255);
}

/* A DNS record as the collector writes Flowmon's: a local host's query to one of four outside
 * resolvers, or the answer (A, 4 address bytes) back; names from `hosts` distinct domains. */
static int gen_dns(struct gen *g, char *buf, size_t len, char *key, size_t keylen)
{
    uint64_t r = rnd(g);
    uint32_t host = (uint32_t)(rnd(g) % g->hosts), dom = (uint32_t)(rnd(g) % g->hosts);
    char la[64], ra[64];
    local_addr(la, sizeof(la), host, false);
    snprintf(ra, sizeof(ra), "198.18.255.%u", (unsigned)(r % 4) + 1);
    bool answer = (r >> 8) & 1;
    unsigned rcode = (r >> 16) % 20 == 0 ? 3 : 0;
    static const int qtypes[] = {1, 1, 1, 1, 1, 1, 28, 28, 15, 16};
    int qtype = qtypes[(r >> 24) % 10];
    int64_t end = g->t0 + (int64_t)((g->i * (uint64_t)g->span_ms) / g->n);
    g->i++;
    g->cur_host = host;
    g->cur_v6 = false;
    g->cur_end = end;
    const char *src = answer ? ra : la, *dst = answer ? la : ra;
    s4f_strlcpy(key, src, keylen);
    int n = snprintf(
        buf, len,
        "{\"@type\":\"ipfix.entry\",\"ipfix.sourceIPv4Address\":\"%s\","
        "\"ipfix.destinationIPv4Address\":\"%s\",\"ipfix.sourceTransportPort\":%d,"
        "\"ipfix.destinationTransportPort\":%d,\"ipfix.protocolIdentifier\":17,"
        "\"ipfix.packetDeltaCount\":1,\"ipfix.octetDeltaCount\":%d,"
        "\"ipfix.flowStartMilliseconds\":%" PRId64 ",\"ipfix.flowEndMilliseconds\":%" PRId64
        ",\"ipfix.DNSTransactionID\":%u,\"ipfix.DNSFlagsCodes\":%u,\"ipfix.DNSAnswers\":%d,"
        "\"ipfix.DNSCrrName\":\"d%u.example%u.com\",\"ipfix.DNSCrrType\":%d,"
        "\"ipfix.DNSRData\":\"%s\",\"ipfix.DNSName\":\"d%u.example%u.com\","
        "\"ipfix.DNSQType\":%d,\"s4f.exporter\":\"192.0.2.1\",\"s4f.observation_domain\":1}",
        src, dst, answer ? 53 : 1024 + (int)(r % 60000), answer ? 1024 + (int)(r % 60000) : 53,
        answer ? 120 : 60, end, end, (unsigned)(r >> 32) & 0xffff,
        answer ? 0x8180u | rcode : 0x0100u, answer && !rcode, dom, dom % 50, qtype,
        answer && !rcode && qtype == 1 ? "0xc6120001" : "0x", dom, dom % 50, qtype);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "record longer than %zu bytes\n", len);
        exit(1);
    }
    return n;
}

/* One record like the collector's (same keys, ~480 bytes); key = source address. */
static int gen_record(struct gen *g, char *buf, size_t len, char *key, size_t keylen)
{
    if (g->dns_pct && rnd(g) % 100 < g->dns_pct)
        return gen_dns(g, buf, len, key, keylen);
    uint64_t r = rnd(g);
    uint32_t host = (uint32_t)(rnd(g) % g->hosts);
    uint32_t peer = (uint32_t)(rnd(g) % 65536);
    unsigned pr = (unsigned)(r % 1000);
    int proto, flags = 0, dport, sport = 1024 + (int)(rnd(g) % 64000);
    bool v6 = false, out = (r >> 10) & 1, scan = pr < 2;
    static const int tcp_ports[] = {443, 443, 443, 80, 80, 22, 25, 993, 8080, 3389};
    static const int udp_ports[] = {53, 53, 123, 443, 5353};
    if (scan) {
        /* Eight scanners sending SYN probes: four sweep port 22 or 23 over random targets
         * (horizontal), four sweep the ports of one target each (vertical). */
        host = (uint32_t)(r % 8);
        out = true;
        proto = 6;
        flags = 0x02;
        if (host < 4) {
            dport = 22 + (int)(host & 1);
        } else {
            dport = 1 + (int)(rnd(g) % 65535);
            peer = host;
        }
    } else if (pr < 700) {
        proto = 6;
        unsigned f = (unsigned)(rnd(g) % 20);
        flags = f == 0 ? 0x02 : f == 1 ? 0x12 : f == 2 ? 0x14 : 0x1b;
        dport = (rnd(g) % 5) ? tcp_ports[rnd(g) % 10] : 1024 + (int)(rnd(g) % 64000);
    } else if (pr < 950) {
        proto = 17;
        dport = (rnd(g) % 4) ? udp_ports[rnd(g) % 5] : 1024 + (int)(rnd(g) % 64000);
    } else if (pr < 975) {
        proto = 1;
        dport = 0;
        sport = 0;
    } else if (pr < 990) {
        proto = 58;
        v6 = true;
        dport = 0;
        sport = 0;
    } else {
        proto = 47;
        dport = 0;
        sport = 0;
    }
    char la[64], ra[64];
    local_addr(la, sizeof(la), host, v6);
    remote_addr(ra, sizeof(ra), peer, v6);
    const char *src = out ? la : ra, *dst = out ? ra : la;
    uint64_t pkts = 1 + rnd(g) % (scan ? 1 : 200);
    uint64_t bytes = pkts * (40 + rnd(g) % 1400);
    int64_t end = g->t0 + (int64_t)((g->i * (uint64_t)g->span_ms) / g->n);
    int64_t start = end - (int64_t)(rnd(g) % 30000);
    g->i++;
    g->cur_host = host;
    g->cur_v6 = v6;
    g->cur_end = end;
    s4f_strlcpy(key, src, keylen);
    const char *fam = v6 ? "IPv6" : "IPv4";
    /* Application fields: an HTTP host, or one of a few TLS fingerprints. */
    char app[256] = "";
    if (g->app_pct && proto == 6 && !scan && rnd(g) % 100 < g->app_pct) {
        static const char *const tls[] = {
            "\"ipfix.TLSClientCipherSuites\":\"0x040005000a0009006400620003000600\","
            "\"ipfix.TLSJA3\":\"0x00112233445566778899aabbccddeeff\",",
            "\"ipfix.TLSClientCipherSuites\":\"0x040005002f00350002c004c005c00cc0\",",
            "\"ipfix.TLSClientCipherSuites\":\"0x2bc02fc02cc030c013c014c09c009d00\",",
            "\"ipfix.TLS_SNI\":\"fe2.update.microsoft.com\","
            "\"ipfix.TLS_JA4\":\"t13d1518h2_8daaf6152771_e5627efa2ab1\",",
            "\"ipfix.TLS_SNI\":\"www.example.com\","
            "\"ipfix.TLS_JA4\":\"t13d1516h2_8daaf6152771_02713d6af862\",",
        };
        uint64_t x = rnd(g);
        if (dport == 80)
            snprintf(app, sizeof(app), "\"ipfix.HTTPRequestHost\":\"h%u.example%u.com\",",
                     (unsigned)(x % g->hosts), (unsigned)(x % 50));
        else
            snprintf(app, sizeof(app), "%s", tls[x % 5]);
    }
    int n =
        snprintf(buf, len,
                 "{\"@type\":\"ipfix.entry\",\"ipfix.source%sAddress\":\"%s\","
                 "\"ipfix.destination%sAddress\":\"%s\",\"ipfix.sourceTransportPort\":%d,"
                 "\"ipfix.destinationTransportPort\":%d,\"ipfix.protocolIdentifier\":%d,"
                 "\"ipfix.tcpControlBits\":%d,\"ipfix.packetDeltaCount\":%" PRIu64
                 ",\"ipfix.octetDeltaCount\":%" PRIu64 ",\"ipfix.flowStartMilliseconds\":%" PRId64
                 ",\"ipfix.flowEndMilliseconds\":%" PRId64
                 ",\"ipfix.ingressInterface\":%u,\"ipfix.egressInterface\":%u,"
                 "\"ipfix.ipClassOfService\":0,\"ipfix.flowEndReason\":%u,"
                 "\"ipfix.bgpSourceAsNumber\":0,\"ipfix.bgpDestinationAsNumber\":%u,"
                 "%s\"s4f.exporter\":\"192.0.2.1\",\"s4f.observation_domain\":1}",
                 fam, src, fam, dst, sport, dport, proto, flags, pkts, bytes, start, end,
                 (unsigned)(r >> 20) % 8, (unsigned)(r >> 24) % 8, (unsigned)(r >> 28) % 4,
                 (unsigned)(r >> 32) % 65000, app);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "record longer than %zu bytes\n", len);
        exit(1);
    }
    return n;
}

static double now_s(void)
{
    return (double)s4f_mono_ms() / 1000.0;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *bootstrap(void)
{
    const char *b = getenv("S4F_KAFKA_BOOTSTRAP");
    return b && *b ? b : "127.0.0.1:9092";
}

/* ---- preload ----------------------------------------------------------------------------- */

static int cmd_preload(const char *topic, uint64_t n, uint32_t hosts, int64_t seconds)
{
    char err[512], buf[1024], key[64];
    char *k[] = {"bootstrap.servers"}, *v[] = {(char *)bootstrap()};
    struct s4f_kvlist shared = {1, k, v};
    struct s4f_kafka_producer_opts po = {.shared = &shared, .queue_full_wait_ms = 1000};
    struct s4f_kafka_producer *p = s4f_kafka_producer_new(&po, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct gen g;
    gen_init(&g, n, hosts, seconds * 1000);
    double t0 = now_s();
    uint64_t bytes = 0, messages = 0;
    int rc = 0;
    /* Active local hosts per one-minute window (host_stats' default; windows start on the
     * minute, as does the stream): the fewest and the most over the windows the stream
     * covers whole. */
    size_t nbits = 2 * (size_t)g.hosts;
    uint8_t *seen = calloc((nbits + 7) / 8, 1);
    uint64_t active = 0, amin = UINT64_MAX, amax = 0;
    int64_t win = g.t0 / 60000;
    /* Packed: one batch per partition, as the collector's output_format: packed. */
    const char *fmt = getenv("S4F_BENCH_FORMAT");
    bool packed = fmt && strcmp(fmt, "packed") == 0;
    enum { PACK_FLOWS = 256 };
    int32_t nparts = packed ? s4f_kafka_partition_count(p, topic, 10000) : 0;
    struct pk {
        uint8_t *buf;
        size_t used;
        uint16_t n;
    } *packs = NULL;
    struct s4f_flow *flow = packed ? malloc(sizeof(*flow)) : NULL;
    if (packed) {
        packs = nparts > 0 ? calloc((size_t)nparts, sizeof(*packs)) : NULL;
        for (int32_t i = 0; packs && i < nparts; i++) {
            packs[i].buf = malloc(S4F_PACKED_HDR_LEN + PACK_FLOWS * S4F_PACKED_REC_MAX);
            packs[i].used = S4F_PACKED_HDR_LEN;
            if (!packs[i].buf)
                nparts = 0;
        }
        if (!packs || !flow || nparts <= 0) {
            fprintf(stderr, "packed: no partition count for %s, or out of memory\n", topic);
            rc = 1;
            nparts = 0;
            goto out;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        int len = gen_record(&g, buf, sizeof(buf), key, sizeof(key));
        bytes += (uint64_t)len;
        if (seen && g.cur_end / 60000 != win) {
            if (active) {
                amin = active < amin ? active : amin;
                amax = active > amax ? active : amax;
            }
            memset(seen, 0, (nbits + 7) / 8);
            active = 0;
            win = g.cur_end / 60000;
        }
        size_t bit = 2 * (size_t)g.cur_host + g.cur_v6;
        if (seen && bit < nbits && !(seen[bit / 8] & (1u << (bit % 8)))) {
            seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
            active++;
        }
        enum s4f_status st = S4F_OK;
        if (packed) {
            if (s4f_flow_parse(buf, (size_t)len, flow, NULL) != S4F_OK) {
                fprintf(stderr, "packed: a generated record does not parse\n");
                rc = 1;
                goto out;
            }
            int32_t pi = s4f_kafka_key_partition(key, strlen(key), nparts);
            struct pk *pb = &packs[pi];
            pb->used += s4f_packed_encode(flow, pb->buf + pb->used);
            if (++pb->n < PACK_FLOWS)
                continue;
            s4f_packed_header(pb->buf, pb->n);
            while ((st = s4f_kafka_produce_to(p, topic, pi, NULL, 0, pb->buf, pb->used, NULL)) ==
                   S4F_RETRY)
                s4f_kafka_producer_poll(p, 100);
            pb->n = 0;
            pb->used = S4F_PACKED_HDR_LEN;
            messages++;
        } else {
            while ((st = s4f_kafka_produce(p, topic, key, strlen(key), buf, (size_t)len, NULL)) ==
                   S4F_RETRY)
                s4f_kafka_producer_poll(p, 100);
            messages++;
        }
        if (st != S4F_OK) {
            rc = 1;
            goto out;
        }
    }
    /* The other partitions' last, partly filled batches. */
    for (int32_t pi = 0; packed && pi < nparts; pi++) {
        struct pk *pb = &packs[pi];
        if (!pb->n)
            continue;
        s4f_packed_header(pb->buf, pb->n);
        enum s4f_status st;
        while ((st = s4f_kafka_produce_to(p, topic, pi, NULL, 0, pb->buf, pb->used, NULL)) ==
               S4F_RETRY)
            s4f_kafka_producer_poll(p, 100);
        if (st != S4F_OK)
            rc = 1;
        messages++;
    }
    if (active && g.span_ms % 60000 == 0) { /* the last window, whole */
        amin = active < amin ? active : amin;
        amax = active > amax ? active : amax;
    }
    if (s4f_kafka_producer_flush(p, 120000) != 0)
        rc = 1;
    struct s4f_kafka_producer_stats st;
    s4f_kafka_producer_stats(p, &st);
    if (st.failed)
        rc = 1;
    printf("produced=%" PRIu64 " delivered=%" PRIu64 " messages=%" PRIu64
           " avg_bytes=%.0f secs=%.2f t0=%" PRId64 " hosts_per_window_min=%" PRIu64
           " hosts_per_window_max=%" PRIu64 "\n",
           n, packed ? n : st.delivered, st.delivered, (double)bytes / (double)(n ? n : 1),
           now_s() - t0, g.t0, amin == UINT64_MAX ? 0 : amin, amax);
out:
    for (int32_t i = 0; packs && i < nparts; i++)
        free(packs[i].buf);
    free(packs);
    free(flow);
    free(seen);
    s4f_kafka_producer_free(p);
    return rc;
}

/* ---- raw consume ceiling ----------------------------------------------------------------- */

static int cmd_raw(const char *topic, uint64_t n)
{
    char err[512], group[128];
    snprintf(group, sizeof(group), "bench-worker-raw.%d.%" PRId64, (int)getpid(), s4f_wall_ms());
    /* The worker's consumer settings that matter for throughput (common/kafka.c). */
    const char *defaults[] = {
        "bootstrap.servers", bootstrap(), "group.id", group, "enable.auto.commit", "false",
        "fetch.wait.max.ms", "100", "enable.partition.eof", "false",
        /* The worker's prefetch bounds (common/kafka.c, workers/stage.c). */
        "fetch.max.bytes", "4194304", "max.partition.fetch.bytes", "1048576", "queued.min.messages",
        "100000", "queued.max.messages.kbytes", "8192", NULL};
    rd_kafka_conf_t *conf = s4f_kafka_conf_build(defaults, NULL, NULL, err, sizeof(err));
    if (!conf) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1) {
        fprintf(stderr, "no metadata for %s\n", topic);
        return 1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[1024];
    uint64_t got = 0, bytes = 0;
    double t0 = 0, t1 = 0, c0 = 0, c1 = 0, deadline = now_s() + 300;
    while (got < n && now_s() < deadline) {
        ssize_t m = rd_kafka_consume_batch_queue(q, 100, msgs, 1024);
        for (ssize_t i = 0; i < m; i++) {
            if (!msgs[i]->err) {
                if (!got) {
                    t0 = now_s();
                    c0 = cpu_s();
                }
                got++;
                bytes += msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        t1 = now_s();
        c1 = cpu_s();
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    double secs = t1 - t0;
    printf("msgs=%" PRIu64 " secs=%.3f rate=%.0f mb_per_s=%.1f per_cpu_s=%.0f\n", got, secs,
           secs > 0 ? (double)got / secs : 0, secs > 0 ? (double)bytes / secs / 1e6 : 0,
           c1 > c0 ? (double)got / (c1 - c0) : 0);
    return got == n ? 0 : 1;
}

/* ---- in-memory: parsing and folding ------------------------------------------------------ */

struct recs {
    char *buf;
    size_t *off, *len;
    uint64_t n;
};

static void recs_make(struct recs *r, uint64_t n, uint32_t hosts, int64_t span_ms)
{
    struct gen g;
    char key[64];
    gen_init(&g, n, hosts, span_ms);
    r->n = n;
    r->buf = malloc(n * 1024);
    r->off = malloc(n * sizeof(size_t));
    r->len = malloc(n * sizeof(size_t));
    if (!r->buf || !r->off || !r->len) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    size_t pos = 0;
    for (uint64_t i = 0; i < n; i++) {
        int len = gen_record(&g, r->buf + pos, 1024, key, sizeof(key));
        r->off[i] = pos;
        r->len[i] = (size_t)len;
        pos += (size_t)len;
    }
}

static void recs_free(struct recs *r)
{
    free(r->buf);
    free(r->off);
    free(r->len);
}

/* What a jansson-based worker would do per record: build the tree, fetch and check the keys
 * the analyses use, free the tree. */
static int jansson_parse(const char *buf, size_t len, struct s4f_flow *f)
{
    json_t *j = json_loadb(buf, len, 0, NULL);
    if (!j)
        return -1;
    int rc = -1;
    const char *src = json_string_value(json_object_get(j, "ipfix.sourceIPv4Address"));
    const char *dst = json_string_value(json_object_get(j, "ipfix.destinationIPv4Address"));
    if (!src) {
        src = json_string_value(json_object_get(j, "ipfix.sourceIPv6Address"));
        dst = json_string_value(json_object_get(j, "ipfix.destinationIPv6Address"));
    }
    json_t *end = json_object_get(j, "ipfix.flowEndMilliseconds");
    if (!src || !dst || !json_is_integer(end) || s4f_addr_parse(src, strlen(src), &f->src) != 0 ||
        s4f_addr_parse(dst, strlen(dst), &f->dst) != 0)
        goto out;
    f->end_ms = json_integer_value(end);
    f->start_ms = json_integer_value(json_object_get(j, "ipfix.flowStartMilliseconds"));
    f->proto = (uint8_t)json_integer_value(json_object_get(j, "ipfix.protocolIdentifier"));
    f->sport = (uint16_t)json_integer_value(json_object_get(j, "ipfix.sourceTransportPort"));
    f->dport = (uint16_t)json_integer_value(json_object_get(j, "ipfix.destinationTransportPort"));
    f->tcp_flags = (uint16_t)json_integer_value(json_object_get(j, "ipfix.tcpControlBits"));
    f->packets = (uint64_t)json_integer_value(json_object_get(j, "ipfix.packetDeltaCount"));
    f->bytes = (uint64_t)json_integer_value(json_object_get(j, "ipfix.octetDeltaCount"));
    rc = 0;
out:
    json_decref(j);
    return rc;
}

struct sink {
    void **pending;
    size_t n, cap;
    uint64_t docs, doc_bytes;
    FILE *out; /* S4F_BENCH_DOCS: every document, one a line (to compare two builds' results) */
};

static enum s4f_status sink_emit(void *ctx, const char *id, const char *doc, size_t len, void *win)
{
    struct sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        void **np = realloc(s->pending, s->cap * sizeof(void *));
        if (!np)
            return S4F_ERR;
        s->pending = np;
    }
    s->pending[s->n++] = win;
    if (s->out)
        fprintf(s->out, "%s %.*s\n", id, (int)len, doc);
    s->docs++;
    s->doc_bytes += len;
    return S4F_OK;
}

static void sink_ack(struct sink *s, struct s4f_wengine *we)
{
    for (size_t i = 0; i < s->n; i++)
        s4f_wengine_delivered(we, s->pending[i], true);
    s->n = 0;
}

struct run {
    const struct s4f_analysis *a;
    struct s4f_metrics *metrics;
    void *conf, *inst;
    struct s4f_wengine *we;
    struct sink sink;
};

/* Analyses whose options name a file, and the variable that gives it (see the top). */
struct file_opt {
    const char *analysis, *env, *head, *tail; /* options: head, the path, tail */
};
static const struct file_opt file_opts[] = {
    {"rules", "S4F_BENCH_RULES_FILE", "window: 5m\nslide: 1m\nrules_file: '", "'\n"},
    {"pattern_finder", "S4F_BENCH_PF_CONFIGS", "window: 5m\nconfigurations: [", "]\n"},
};

static const struct file_opt *file_opt_of(const char *analysis)
{
    for (size_t i = 0; i < sizeof(file_opts) / sizeof(file_opts[0]); i++)
        if (strcmp(file_opts[i].analysis, analysis) == 0)
            return &file_opts[i];
    return NULL;
}

static int run_open(struct run *r, const char *name)
{
    char err[512];
    memset(r, 0, sizeof(*r));
    r->a = s4f_analysis_find(name);
    if (!r->a)
        return -1;
    r->conf = calloc(1, r->a->conf_size);
    /* Analyses that do nothing without a file get it from their variable (bench/worker/run
     * writes rule files of 1, 10 and 50 rules; pattern_finder takes the shipped
     * configurations), on windows that carry all of it. */
    const struct file_opt *fo = file_opt_of(name);
    const char *path = fo ? getenv(fo->env) : NULL;
    struct s4f_conf_doc *doc = NULL;
    if (path) {
        char text[1200];
        snprintf(text, sizeof(text), "%s%s%s", fo->head, path, fo->tail);
        doc = s4f_conf_load_string(text, strlen(text), "bench", err, sizeof(err));
        if (!doc) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    int rc =
        s4f_conf_apply(doc, doc ? doc->root : NULL, name, r->a->opts, r->conf, err, sizeof(err));
    s4f_conf_doc_free(doc);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    /* Analyses register their counters as in the daemon: the increments are part of the cost. */
    r->metrics = s4f_metrics_new("bench", 0);
    struct s4f_analysis_ctx ctx = {name, r->metrics, "analysis=\"bench\""};
    r->inst = r->a->init(r->conf, &ctx, err, sizeof(err));
    if (!r->inst) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    struct s4f_wengine_opts o = {
        .analysis = r->a,
        .inst = r->inst,
        .common = r->conf,
        .metrics = r->metrics,
        .labels = "analysis=\"bench\"",
        .emit = sink_emit,
        .ctx = &r->sink,
    };
    r->we = s4f_wengine_new(&o);
    const char *docs = getenv("S4F_BENCH_DOCS");
    if (docs && *docs && !(r->sink.out = fopen(docs, "a"))) {
        perror(docs);
        return -1;
    }
    return r->we ? 0 : -1;
}

static void run_close(struct run *r)
{
    s4f_wengine_free(r->we);
    if (r->inst && r->a->destroy)
        r->a->destroy(r->inst);
    s4f_conf_release(r->a->opts, r->conf);
    free(r->conf);
    free(r->sink.pending);
    if (r->sink.out)
        fclose(r->sink.out);
    s4f_metrics_free(r->metrics);
}

static int cmd_cpu(uint64_t n, uint32_t hosts, int64_t seconds, const char *only)
{
    struct recs r;
    struct s4f_flow f;
    recs_make(&r, n, hosts, seconds * 1000);
    /* With one analysis named, jansson is left out (a profile of the run then shows the
     * reader and that analysis only). */
    double c0 = cpu_s(), cj = 0;
    uint64_t ok = 0;
    if (!only) {
        for (uint64_t i = 0; i < n; i++)
            ok += jansson_parse(r.buf + r.off[i], r.len[i], &f) == 0;
        cj = cpu_s() - c0;
        if (ok != n)
            fprintf(stderr, "jansson refused %" PRIu64 " records\n", n - ok);
    }
    c0 = cpu_s();
    ok = 0;
    for (uint64_t i = 0; i < n; i++)
        ok += s4f_flow_parse(r.buf + r.off[i], r.len[i], &f, NULL) == S4F_OK;
    double cr = cpu_s() - c0;
    if (ok != n)
        fprintf(stderr, "reader refused %" PRIu64 " records\n", n - ok);
    if (!only)
        printf("jansson=%.0f ", (double)n / cj);
    printf("reader=%.0f", (double)n / cr);
    for (size_t k = 0; s4f_analyses[k]; k++) {
        if (only && strcmp(only, s4f_analyses[k]->name) != 0)
            continue;
        const struct file_opt *fo = file_opt_of(s4f_analyses[k]->name);
        if (fo && !getenv(fo->env))
            continue; /* without its file it does nothing */
        struct run run;
        if (run_open(&run, s4f_analyses[k]->name) != 0)
            return 1;
        int64_t wall = s4f_wall_ms();
        c0 = cpu_s();
        for (uint64_t i = 0; i < n; i++) {
            /* Four partitions keyed by source address, as the collector writes them. */
            if (s4f_flow_parse(r.buf + r.off[i], r.len[i], &f, NULL) == S4F_OK)
                s4f_wengine_flow(run.we, (int32_t)(s4f_addr_hash(&f.src) & 3), (int64_t)i, &f, wall,
                                 wall);
            if ((i & 1023) == 1023) {
                s4f_wengine_tick(run.we, s4f_mono_ms(), wall);
                sink_ack(&run.sink, run.we);
            }
        }
        s4f_wengine_flush(run.we);
        sink_ack(&run.sink, run.we);
        double ca = cpu_s() - c0;
        printf(" %s=%.0f %s_docs=%" PRIu64, s4f_analyses[k]->name, (double)n / ca,
               s4f_analyses[k]->name, run.sink.docs);
        run_close(&run);
        if (!s4f_analyses[k]->route)
            continue;
        /* The same flows as stage two of the repartitioned analysis sees them: one record per
         * routed side, in the partition of that side's address (stage one's parse and route
         * included; its Kafka writes and the second parse are not). */
        if (run_open(&run, s4f_analyses[k]->name) != 0)
            return 1;
        c0 = cpu_s();
        for (uint64_t i = 0; i < n; i++) {
            if (s4f_flow_parse(r.buf + r.off[i], r.len[i], &f, NULL) != S4F_OK)
                continue;
            unsigned mask = run.a->route(run.inst, &f);
            for (uint8_t side = S4F_SIDE_SRC; side <= S4F_SIDE_DST; side++) {
                if (!(mask & (1u << (side - 1))))
                    continue;
                f.side = side;
                const struct s4f_addr *host = side == S4F_SIDE_SRC ? &f.src : &f.dst;
                s4f_wengine_flow(run.we, (int32_t)(s4f_addr_hash(host) & 3), (int64_t)i, &f, wall,
                                 wall);
            }
            if ((i & 1023) == 1023) {
                s4f_wengine_tick(run.we, s4f_mono_ms(), wall);
                sink_ack(&run.sink, run.we);
            }
        }
        s4f_wengine_flush(run.we);
        sink_ack(&run.sink, run.we);
        ca = cpu_s() - c0;
        printf(" %s_rep=%.0f %s_rep_docs=%" PRIu64, s4f_analyses[k]->name, (double)n / ca,
               s4f_analyses[k]->name, run.sink.docs);
        run_close(&run);
    }
    printf("\n");
    recs_free(&r);
    return 0;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static int cmd_rss(const char *name, uint32_t hosts)
{
    /* Ten flows per host, all in one window of one partition: the state a window holds
     * for `hosts` active hosts just before it closes. Records are generated one at a time so
     * that only the analysis's state grows. */
    struct run run;
    if (run_open(&run, name) != 0)
        return 1;
    struct gen g;
    char buf[1024], key[64];
    struct s4f_flow f;
    uint64_t n = (uint64_t)hosts * 10;
    gen_init(&g, n, hosts, 1000);
    long before = rss_kb();
    int64_t wall = s4f_wall_ms();
    for (uint64_t i = 0; i < n; i++) {
        int len = gen_record(&g, buf, sizeof(buf), key, sizeof(key));
        if (s4f_flow_parse(buf, (size_t)len, &f, NULL) == S4F_OK)
            s4f_wengine_flow(run.we, 0, (int64_t)i, &f, wall, wall);
    }
    long after = rss_kb();
    /* With S4F_BENCH_DNS_PCT, `hosts` is also the number of distinct domains. */
    printf("analysis=%s hosts=%u flows=%" PRIu64 " rss_kb=%ld mb_per_100k_hosts=%.1f"
           " bytes_per_host=%.0f\n",
           name, hosts, n, after - before, (double)(after - before) / 1024.0 * 100000.0 / hosts,
           (double)(after - before) * 1024.0 / hosts);
    run_close(&run);
    return 0;
}

int main(int argc, char **argv)
{
    s4f_log_init("bench-worker", NULL, S4F_LOG_WARN);
    if (argc == 6 && strcmp(argv[1], "preload") == 0)
        return cmd_preload(argv[2], strtoull(argv[3], NULL, 10),
                           (uint32_t)strtoul(argv[4], NULL, 10), strtoll(argv[5], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "raw") == 0)
        return cmd_raw(argv[2], strtoull(argv[3], NULL, 10));
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "cpu") == 0)
        return cmd_cpu(strtoull(argv[2], NULL, 10), (uint32_t)strtoul(argv[3], NULL, 10),
                       strtoll(argv[4], NULL, 10), argc == 6 ? argv[5] : NULL);
    if (argc == 4 && strcmp(argv[1], "rss") == 0)
        return cmd_rss(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));
    fprintf(stderr, "usage: see the comment at the top of bench/worker/bench_worker.c\n");
    return 2;
}
