/* bench-decode: the decode micro-benchmark. s4f_decode (decode + JSON encode, what the
 * collector's data path does per datagram short of producing) in process, on one thread, beside
 * libfixbuf reading the same IPFIX messages in the same run (its collection API into a C
 * struct: no JSON, so a reference that does less work).
 *
 *   bench-decode [-s SECONDS] [-d CAPTURE_DIR] [-x ELEMENT_FILE]
 *
 * Cases:
 *   - captured: the datagrams of real exporters (CAPTURE_DIR, default
 *     /work/shared/testdata/akvorado/netflow or $S4F_TESTDATA_NETFLOW): per family (IPFIX,
 *     NetFlow v9, NetFlow v5), every capture's templates are read once, then its data datagrams
 *     are decoded over and over, each with its sequence number moved on as an exporter's would;
 *   - typical: generated IPFIX messages of 20 records of an 18-field IPv4 flow template.
 * libfixbuf reads the IPFIX captures and the typical messages (it reads no NetFlow).
 *
 * Time is CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), which other processes on a shared
 * machine cannot inflate. One line per case:
 *   case=<name> decoder=<s4f|libfixbuf> records=... cpu_s=... records_per_cpu_s=...
 *   ns_per_record=... json_bytes_per_record=... errors=...
 * Exit status 1 when a case could not run (captures missing, a decode error). */
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "decode.h"
#include "fixbuf_ref.h"
#include "log.h"
#include "msggen.h"
#include "pcap_reader.h"

#define NOW    1764223857000LL
#define T0     1764223857u
#define NRECS  20
#define BATCH  256 /* datagrams between two clock reads */
#define MAX_DG 512

/* The captures, per set (templates first, as SOURCE.md says). A set is one exporter. */
static const char *const sets[][3] = {
    {"ipfixprobe-templates.pcap", "ipfixprobe-data.pcap", NULL},
    {"juniper-cpid-template.pcap", "juniper-cpid-data.pcap", NULL},
    {"ipfix-srv6-template.pcap", "ipfix-srv6-data.pcap", NULL},
    {"datalink-template.pcap", "datalink-data.pcap", NULL},
    {"ethernet-over-mpls-with-control-word-template.pcap",
     "ethernet-over-mpls-with-control-word-data.pcap", NULL},
    {"mpls.pcap", NULL, NULL},
    {"physicalinterfaces.pcap", NULL, NULL},
    {"data+templates.pcap", NULL, NULL},
    {"icmp-template.pcap", "icmp-data.pcap", NULL},
    {"template.pcap", "data.pcap", NULL},
    {"samplingrate-template.pcap", "samplingrate-data.pcap", NULL},
    {"multiplesamplingrates-template.pcap", "multiplesamplingrates-data.pcap", NULL},
    {"options-template.pcap", "options-data.pcap", NULL},
    {"nat.pcap", NULL, NULL},
    {"nfv5.pcap", NULL, NULL},
};

/* One data datagram to decode again and again. */
struct dg {
    uint8_t buf[65536];
    size_t len;
    int version;
    int set;
    struct sockaddr_storage from;
    uint32_t records; /* what it decodes to */
};

struct counts {
    uint64_t records, json_bytes;
};

static void count_cb(void *ctx, const struct s4f_flow_out *rec)
{
    struct counts *c = ctx;
    c->records++;
    c->json_bytes += rec->json_len;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Moves a datagram's sequence number on as its exporter would for the next one. */
static void next_seq(struct dg *d)
{
    size_t off = d->version == 10 ? 8 : d->version == 9 ? 12 : 16;
    uint32_t step = d->version == 9 ? 1 : d->records;
    put32(d->buf + off, get32(d->buf + off) + step);
}

static void report(const char *name, const char *decoder, uint64_t records, double cpu,
                   uint64_t json_bytes, uint64_t errors)
{
    printf("case=%s decoder=%s records=%llu cpu_s=%.3f records_per_cpu_s=%.0f ns_per_record=%.1f "
           "json_bytes_per_record=%.1f errors=%llu\n",
           name, decoder, (unsigned long long)records, cpu, cpu > 0 ? (double)records / cpu : 0,
           records ? cpu * 1e9 / (double)records : 0,
           records ? (double)json_bytes / (double)records : 0, (unsigned long long)errors);
}

static uint64_t decoder_errors(const struct s4f_decoder *d)
{
    struct s4f_decode_stats st;
    s4f_decoder_stats(d, &st);
    uint64_t e = 0;
    for (int i = 0; i < S4F_DR__COUNT; i++)
        e += st.errors[i];
    return e;
}

/* Times s4f_decode over dgs (templates already read by d) for secs of CPU. */
static int time_s4f(const char *name, struct s4f_decoder *d, struct dg *dgs, size_t n, double secs)
{
    struct counts c = {0};
    double cpu = 0;
    uint64_t before = decoder_errors(d);
    while (cpu < secs) {
        double c0 = cpu_s();
        for (int k = 0; k < BATCH; k++)
            for (size_t i = 0; i < n; i++) {
                next_seq(&dgs[i]);
                s4f_decode_datagram(d, &dgs[i].from, dgs[i].buf, dgs[i].len, NOW, count_cb, &c);
            }
        cpu += cpu_s() - c0;
    }
    uint64_t errors = decoder_errors(d) - before;
    report(name, "s4f", c.records, cpu, c.json_bytes, errors);
    return errors ? -1 : 0;
}

/* Times libfixbuf over the IPFIX datagrams of dgs, one reader per set (as one collector
 * session per exporter), its templates read from tpl first. */
static int time_fixbuf(const char *name, struct dg *tpl, size_t ntpl, struct dg *dgs, size_t n,
                       double secs)
{
    struct s4f_ref refs[sizeof(sets) / sizeof(sets[0])];
    memset(refs, 0, sizeof(refs));
    int rc = -1;
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
        if (s4f_ref_init(&refs[s]) != 0)
            goto out;
    for (size_t i = 0; i < ntpl; i++)
        s4f_ref_decode(&refs[tpl[i].set], tpl[i].buf, tpl[i].len, NULL, NULL);
    /* A first pass learns how many data records each message holds as IPFIX counts them
     * (options records too): the step of its sequence number. */
    for (size_t i = 0; i < n; i++) {
        int got = s4f_ref_decode(&refs[dgs[i].set], dgs[i].buf, dgs[i].len, NULL, NULL);
        if (got <= 0) {
            fprintf(stderr, "%s: libfixbuf cannot read a datagram of set %d\n", name, dgs[i].set);
            goto out;
        }
        dgs[i].records = (uint32_t)got;
    }
    uint64_t records = 0;
    double cpu = 0;
    while (cpu < secs) {
        double c0 = cpu_s();
        for (int k = 0; k < BATCH; k++)
            for (size_t i = 0; i < n; i++) {
                next_seq(&dgs[i]);
                int got = s4f_ref_decode(&refs[dgs[i].set], dgs[i].buf, dgs[i].len, NULL, NULL);
                if (got < 0) {
                    fprintf(stderr, "%s: libfixbuf decode failed\n", name);
                    goto out;
                }
                records += (uint64_t)got;
            }
        cpu += cpu_s() - c0;
    }
    report(name, "libfixbuf", records, cpu, 0, 0);
    rc = 0;
out:
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
        if (refs[s].model)
            s4f_ref_free(&refs[s]);
    return rc;
}

/* Reads the captures of one version: templates go to d (and to tpl, for libfixbuf), data
 * datagrams to dgs. Returns how many data datagrams, or -1. */
static int load(const char *dir, int version, struct s4f_decoder *d, struct dg *tpl, size_t *ntpl,
                struct dg *dgs)
{
    size_t n = 0;
    *ntpl = 0;
    for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
        for (int f = 0; f < 3 && sets[s][f]; f++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, sets[s][f]);
            struct s4f_pcap pc;
            int np = s4f_pcap_read(path, &pc);
            if (np < 0) {
                fprintf(stderr, "cannot read %s\n", path);
                return -1;
            }
            for (int i = 0; i < np; i++) {
                const struct s4f_pcap_pkt *p = &pc.pkts[i];
                if (p->len < 20 || p->len > sizeof(dgs[0].buf) ||
                    (p->payload[0] << 8 | p->payload[1]) != version)
                    continue;
                /* One exporter per set: captures of different sets may come from one
                 * address, and their template ids would collide. */
                struct sockaddr_in from = {.sin_family = AF_INET,
                                           .sin_addr.s_addr = htonl(0x0a000001 + (uint32_t)s),
                                           .sin_port = htons(2055)};
                struct counts c = {0};
                struct dg *g = n < MAX_DG ? &dgs[n] : NULL;
                if (!g)
                    break;
                memcpy(g->buf, p->payload, p->len);
                g->len = p->len;
                g->version = version;
                g->set = (int)s;
                memset(&g->from, 0, sizeof(g->from));
                memcpy(&g->from, &from, sizeof(from));
                s4f_decode_datagram(d, &g->from, g->buf, g->len, NOW, count_cb, &c);
                g->records = (uint32_t)c.records;
                if (c.records) {
                    n++; /* data: timed */
                } else if (*ntpl < MAX_DG) {
                    tpl[(*ntpl)++] = *g; /* templates (or options): read once */
                }
            }
            s4f_pcap_free(&pc);
        }
    }
    return (int)n;
}

static int captured(const char *dir, int version, const char *const *element_files, double secs)
{
    static struct dg tpl[MAX_DG], dgs[MAX_DG];
    const char *name = version == 10  ? "captured-ipfix"
                       : version == 9 ? "captured-v9"
                                      : "captured-v5";
    struct s4f_decoder_opts o = {.element_files = element_files};
    struct s4f_decoder *d = s4f_decoder_new(&o);
    size_t ntpl = 0;
    int n = d ? load(dir, version, d, tpl, &ntpl, dgs) : -1;
    int rc = -1;
    if (n <= 0) {
        fprintf(stderr, "%s: no data datagrams in %s\n", name, dir);
        goto out;
    }
    /* libfixbuf first: it also learns each IPFIX message's sequence step (see time_fixbuf). */
    rc = version == 10 ? time_fixbuf(name, tpl, ntpl, dgs, (size_t)n, secs) : 0;
    if (time_s4f(name, d, dgs, (size_t)n, secs) != 0)
        rc = -1;
out:
    s4f_decoder_free(d);
    return rc;
}

/* Generated IPFIX messages of the typical template, with the interfaceName the reference
 * template reads (an empty varlen). */
static int typical(double secs)
{
    static struct s4f_mg g;
    static struct dg tpl[1], dgs[1];
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 2);
    s4f_mg_tpl(&g, 256, S4F_MG_TYPICAL_N + 1);
    for (int i = 0; i < S4F_MG_TYPICAL_N; i++)
        s4f_mg_field(&g, s4f_mg_typical_fields[i][0], s4f_mg_typical_fields[i][1], 0);
    s4f_mg_field(&g, 82, 65535, 0);
    tpl[0].len = s4f_mg_end(&g);
    memcpy(tpl[0].buf, g.buf, tpl[0].len);
    s4f_mg_ipfix(&g, T0, 0, 1);
    s4f_mg_set(&g, 256);
    for (uint32_t i = 0; i < NRECS; i++) {
        s4f_mg_typical_rec(&g, i * 7919, (uint64_t)NOW - i);
        s4f_mg_varlen(&g, "", 0);
    }
    dgs[0].len = s4f_mg_end(&g);
    memcpy(dgs[0].buf, g.buf, dgs[0].len);
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc0000201)};
    for (int i = 0; i < 1; i++) {
        memcpy(&tpl[i].from, &from, sizeof(from));
        memcpy(&dgs[i].from, &from, sizeof(from));
        tpl[i].version = dgs[i].version = 10;
        dgs[i].records = NRECS;
    }
    struct s4f_decoder *d = s4f_decoder_new(NULL);
    if (!d)
        return -1;
    struct counts c = {0};
    s4f_decode_datagram(d, &tpl[0].from, tpl[0].buf, tpl[0].len, NOW, count_cb, &c);
    int rc = time_fixbuf("typical-ipfix", tpl, 1, dgs, 1, secs);
    if (time_s4f("typical-ipfix", d, dgs, 1, secs) != 0)
        rc = -1;
    s4f_decoder_free(d);
    return rc;
}

int main(int argc, char **argv)
{
    double secs = 2;
    const char *dir = getenv("S4F_TESTDATA_NETFLOW");
    const char *element_files[2] = {NULL, NULL};
    int c;
    if (!dir)
        dir = "/work/shared/testdata/akvorado/netflow";
    while ((c = getopt(argc, argv, "s:d:x:h")) != -1) {
        switch (c) {
        case 's':
            secs = atof(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'x':
            element_files[0] = optarg;
            break;
        default:
            fprintf(stderr,
                    "usage: bench-decode [-s SECONDS] [-d CAPTURE_DIR] [-x ELEMENT_FILE]\n");
            return 1;
        }
    }
    if (secs <= 0)
        return 1;
    s4f_log_level_current = S4F_LOG_ERROR;
    int rc = 0;
    const char *const *ef = element_files[0] ? element_files : NULL;
    if (captured(dir, 10, ef, secs) != 0)
        rc = 1;
    if (captured(dir, 9, ef, secs) != 0)
        rc = 1;
    if (captured(dir, 5, ef, secs) != 0)
        rc = 1;
    if (typical(secs) != 0)
        rc = 1;
    return rc;
}
