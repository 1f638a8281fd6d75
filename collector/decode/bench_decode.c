/* Micro benchmark: decode + JSON-encode throughput of s4f_decode on one core, and libfixbuf's
 * transcoding of the same IPFIX messages for reference. Built, not run as a test.
 *
 *   bench_decode [seconds per case]     (default 2)
 *
 * Cases: IPFIX and NetFlow v9 messages of 20 records of an 18-field IPv4 flow template (69-byte
 * records, ~500-byte JSON), NetFlow v5 (30 records), and libfixbuf on the IPFIX messages (19
 * fields, into a C struct, no JSON). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>

#include "decode.h"
#include "log.h"
#include "tests/fixbuf_ref.h"
#include "tests/msggen.h"

#define NOW   1764223857000LL
#define T0    1764223857u
#define NRECS 20

static struct s4f_mg g;
static uint64_t json_bytes;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_cb(void *ctx, const struct s4f_flow_out *rec)
{
    (void)ctx;
    json_bytes += rec->json_len;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void report(const char *name, uint64_t flows, double secs)
{
    printf("%-34s %10.0f flows/s  %8.1f ns/flow", name, (double)flows / secs,
           secs * 1e9 / (double)flows);
    if (json_bytes)
        printf("  %7.1f MB/s JSON, %4.0f B/record", (double)json_bytes / secs / 1e6,
               (double)json_bytes / (double)flows);
    printf("\n");
}

/* Builds the data message into buf; returns its length. */
static size_t data_msg(int version, uint8_t *buf)
{
    if (version == 10)
        s4f_mg_ipfix(&g, T0, 0, 1);
    else
        s4f_mg_v9(&g, 100000, T0, 0, 1);
    s4f_mg_set(&g, 256);
    for (uint32_t i = 0; i < NRECS; i++)
        s4f_mg_typical_rec(&g, i * 7919, (uint64_t)NOW - i);
    size_t n = s4f_mg_end(&g);
    memcpy(buf, g.buf, n);
    return n;
}

static void bench_s4f(int version, double secs)
{
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc0000201)};
    const struct sockaddr_storage *ss = (const struct sockaddr_storage *)(const void *)&sin;
    struct sockaddr_storage st;
    memcpy(&st, ss, sizeof(sin));
    static uint8_t msg[65536];
    size_t n;
    if (version == 5) {
        s4f_mg_v5(&g, 100000, T0, 0, 0, 0, 0, 0);
        struct s4f_mg_v5rec r = {.src = "10.0.0.1",
                                 .dst = "192.168.0.1",
                                 .nexthop = "10.0.0.254",
                                 .pkts = 10,
                                 .octets = 1500,
                                 .first = 90000,
                                 .last = 95000,
                                 .sport = 1234,
                                 .dport = 443,
                                 .tcp_flags = 0x1b,
                                 .proto = 6,
                                 .src_as = 64512,
                                 .dst_as = 15169,
                                 .src_mask = 24,
                                 .dst_mask = 16};
        for (int i = 0; i < 30; i++)
            s4f_mg_v5_rec(&g, &r);
        n = s4f_mg_end(&g);
        memcpy(msg, g.buf, n);
    } else {
        if (version == 10)
            s4f_mg_ipfix(&g, T0, 0, 1);
        else
            s4f_mg_v9(&g, 100000, T0, 0, 1);
        s4f_mg_set(&g, version == 10 ? 2 : 0);
        s4f_mg_typical_tpl(&g, 256);
        n = s4f_mg_end(&g);
        s4f_decode_datagram(d, &st, g.buf, n, NOW, count_cb, NULL);
        n = data_msg(version, msg);
    }
    uint32_t per_msg = version == 5 ? 30 : NRECS, seq = 0;
    uint64_t flows = 0;
    json_bytes = 0;
    double t0 = now_s(), el;
    do {
        for (int k = 0; k < 1000; k++) {
            put32(msg + (version == 10 ? 8 : version == 9 ? 12 : 16), seq);
            seq += version == 9 ? 1 : per_msg;
            s4f_decode_datagram(d, &st, msg, n, NOW, count_cb, NULL);
            flows += per_msg;
        }
        el = now_s() - t0;
    } while (el < secs);
    char name[64];
    snprintf(name, sizeof(name), "s4f_decode %s + JSON",
             version == 10  ? "IPFIX"
             : version == 9 ? "NetFlow v9"
                            : "NetFlow v5");
    report(name, flows, el);
    struct s4f_decode_stats stats;
    s4f_decoder_stats(d, &stats);
    if (stats.seq_lost || stats.seq_resets)
        printf("  (unexpected sequence gaps: %llu)\n", (unsigned long long)stats.seq_lost);
    s4f_decoder_free(d);
}

static void bench_fixbuf(double secs)
{
    struct s4f_ref r;
    if (s4f_ref_init(&r) != 0) {
        fprintf(stderr, "libfixbuf init failed\n");
        return;
    }
    static uint8_t msg[65536];
    /* Same records plus the varlen interfaceName the reference template expects. */
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, S4F_MG_TYPICAL_N + 1);
    for (int i = 0; i < S4F_MG_TYPICAL_N; i++)
        s4f_mg_field(&g, s4f_mg_typical_fields[i][0], s4f_mg_typical_fields[i][1], 0);
    s4f_mg_field(&g, 82, 65535, 0);
    size_t n = s4f_mg_end(&g);
    memcpy(msg, g.buf, n);
    s4f_ref_decode(&r, msg, n, NULL, NULL);
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 256);
    for (uint32_t i = 0; i < NRECS; i++) {
        s4f_mg_typical_rec(&g, i * 7919, (uint64_t)NOW - i);
        s4f_mg_varlen(&g, "", 0);
    }
    n = s4f_mg_end(&g);
    memcpy(msg, g.buf, n);
    uint32_t seq = 0;
    uint64_t flows = 0;
    json_bytes = 0;
    double t0 = now_s(), el;
    do {
        for (int k = 0; k < 1000; k++) {
            put32(msg + 8, seq);
            seq += NRECS;
            int got = s4f_ref_decode(&r, msg, n, NULL, NULL);
            if (got != NRECS) {
                fprintf(stderr, "libfixbuf decoded %d records\n", got);
                s4f_ref_free(&r);
                return;
            }
            flows += NRECS;
        }
        el = now_s() - t0;
    } while (el < secs);
    report("libfixbuf IPFIX (to struct, no JSON)", flows, el);
    s4f_ref_free(&r);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (secs <= 0)
        secs = 2.0;
    s4f_log_level_current = S4F_LOG_ERROR;
    bench_s4f(10, secs);
    bench_s4f(9, secs);
    bench_s4f(5, secs);
    bench_fixbuf(secs);
    return 0;
}
