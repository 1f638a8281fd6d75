/* bench-collector-decode: decode + JSON encode alone, no Kafka, on one thread, over exactly the
 * datagrams the sender sends.
 *
 *   bench-collector-decode [-v 10|9|sflow] [-s SECONDS] [-e EXPORTERS] [-R RECORDS] [-n POOL]
 *                          [-x ELEMENT_FILE] [-c COUNTRY_DB -a ASN_DB] [-z] [-p]
 *
 * With -c/-a every record also goes through the collector's GeoIP enrichment (collector/enrich.c,
 * all four fields) before the callback, as in s4f-collector with geoip_*_database set.
 *
 * -v sflow decodes sFlow v5 datagrams of the same flows (BG_SFLOW_RECS samples each unless -R
 * says otherwise), so its figure stands beside IPFIX's and v9's of the same run.
 *
 * The datagrams are generated in chunks outside the timed part; only s4f_decode_datagram() is
 * timed, with a record callback that does what the collector's does short of producing (counts
 * the record, picks the Kafka key). The figure that matters on a shared machine is flows per
 * CPU-second of this thread (CLOCK_THREAD_CPUTIME_ID), which other processes cannot inflate;
 * flows per wall-second is printed beside it. -p prints one decoded record and exits.
 *
 * Output, one line: flows=... cpu_s=... wall_s=... flows_per_cpu_s=... flows_per_wall_s=...
 *                   json_bytes_per_flow=... errors=... */
#include "gen.h"

#include "collector.h"
#include "decode.h"
#include "flow.h"
#include "log.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 512 /* datagrams generated per timed slice */

struct counts {
    uint64_t flows, json_bytes, keyed, packed_bytes;
    int print_one;
    /* -P: also what output_format: packed does per record short of producing (read the JSON
     * back with the worker's reader, encode the packed record). */
    struct s4f_flow *flow;
    uint8_t rec[S4F_PACKED_REC_MAX];
};

static void record_cb(void *ctx, const struct s4f_flow_out *rec)
{
    struct counts *c = ctx;
    c->flows++;
    c->json_bytes += rec->json_len;
    /* The collector's default key is the source address text. */
    if (rec->src_text && rec->src_text_len)
        c->keyed++;
    if (c->flow && s4f_flow_parse(rec->json, rec->json_len, c->flow, NULL) == S4F_OK)
        c->packed_bytes += s4f_packed_encode(c->flow, c->rec);
    if (c->print_one) {
        printf("%.*s\t%.*s\n", (int)rec->src_text_len, rec->src_text ? rec->src_text : "",
               (int)rec->json_len, rec->json);
        c->print_one = 0;
    }
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int version = 10, c, print = 0, packed = 0, rc = 1;
    double secs = 3;
    unsigned exporters = 1, recs = 0, pool_n = 1024;
    const char *element_files[2] = {NULL, NULL};
    const char *country_db = NULL, *asn_db = NULL;
    while ((c = getopt(argc, argv, "v:s:e:R:n:x:c:a:pPzh")) != -1) {
        switch (c) {
        case 'v':
            version = strcmp(optarg, "sflow") == 0 ? BG_SFLOW : atoi(optarg);
            break;
        case 's':
            secs = atof(optarg);
            break;
        case 'e':
            exporters = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            recs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            pool_n = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'x':
            element_files[0] = optarg;
            break;
        case 'c':
            country_db = optarg;
            break;
        case 'a':
            asn_db = optarg;
            break;
        case 'p':
            print = 1;
            break;
        case 'z':
            bg_remote_mix = 1; /* concentrated remote destinations (gen.h) */
            break;
        case 'P':
            packed = 1;
            break;
        default:
            fprintf(stderr,
                    "usage: bench-collector-decode [-v 10|9|sflow] [-s SECONDS] [-e EXPORTERS] "
                    "[-R RECORDS] [-n POOL] [-x ELEMENT_FILE] [-c COUNTRY_DB -a ASN_DB] [-z] [-p] "
                    "[-P]\n");
            return 1;
        }
    }
    if (exporters == 0 || exporters > 63500 || secs <= 0)
        return 1;
    if (!recs)
        recs = version == BG_SFLOW ? BG_SFLOW_RECS : 30;
    s4f_log_level_current = S4F_LOG_ERROR;

    struct bg_pool pool;
    struct bg_exporter *exp = calloc(exporters, sizeof(*exp));
    struct sockaddr_storage *addrs = calloc(exporters, sizeof(*addrs));
    uint8_t(*bufs)[BG_DGRAM_MAX] = calloc(CHUNK, sizeof(*bufs));
    size_t lens[CHUNK];
    unsigned owner[CHUNK];
    struct s4f_decoder *dec = NULL;
    static struct counts cnt;
    cnt.print_one = print;
    cnt.flow = packed ? malloc(sizeof(*cnt.flow)) : NULL;
    struct s4f_metrics *metrics = s4f_metrics_new("bench", 100);
    struct collector_enrich *enrich = NULL;
    s4f_record_cb cb = record_cb;
    void *cb_ctx = &cnt;
    if (bg_pool_init(&pool, version, recs, pool_n, 42) != 0 || !exp || !addrs || !bufs) {
        fprintf(stderr, "bad arguments or out of memory\n");
        goto out;
    }
    /* The collector's decoder options are the defaults plus its element files. */
    struct s4f_decoder_opts dopts = {.element_files = element_files[0] ? element_files : NULL};
    dec = s4f_decoder_new(&dopts);
    if (!dec || !metrics)
        goto out;
    if (country_db || asn_db) {
        struct collector_enrich_opts eo = {
            .country_db = country_db,
            .asn_db = asn_db,
            .fields = S4F_GEO_SRC_COUNTRY | S4F_GEO_DST_COUNTRY | S4F_GEO_SRC_AS | S4F_GEO_DST_AS,
            .check_interval_ms = 60000,
            .next = record_cb,
            .next_ctx = &cnt,
            .metrics = metrics,
        };
        enrich = collector_enrich_new(&eo);
        if (!enrich)
            goto out;
        cb = collector_enrich_record;
        cb_ctx = enrich;
    }
    int64_t now_ms = bg_wall_ms();
    for (unsigned e = 0; e < exporters; e++) {
        bg_exporter_init(&exp[e], e, now_ms);
        struct sockaddr_in *sin = (struct sockaddr_in *)&addrs[e];
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(bg_exporter_addr(e));
        size_t n = bg_template(&pool, &exp[e], bufs[0], now_ms);
        if (n)
            s4f_decode_datagram(dec, &addrs[e], bufs[0], n, now_ms, cb, cb_ctx);
    }
    if (print) {
        size_t n = bg_data(&pool, 0, &exp[0], bufs[0], now_ms);
        s4f_decode_datagram(dec, &addrs[0], bufs[0], n, now_ms, cb, cb_ctx);
        rc = 0;
        goto out;
    }
    double cpu = 0, w0 = bg_mono_s();
    unsigned next = 0, cur = 0;
    while (cpu < secs) {
        now_ms = bg_wall_ms();
        for (unsigned k = 0; k < CHUNK; k++) {
            owner[k] = cur;
            lens[k] = bg_data(&pool, next++, &exp[cur], bufs[k], now_ms);
            cur = (cur + 1) % exporters;
        }
        double c0 = cpu_s();
        for (unsigned k = 0; k < CHUNK; k++)
            s4f_decode_datagram(dec, &addrs[owner[k]], bufs[k], lens[k], now_ms, cb, cb_ctx);
        cpu += cpu_s() - c0;
    }
    double wall = bg_mono_s() - w0;
    struct s4f_decode_stats st;
    s4f_decoder_stats(dec, &st);
    uint64_t errors = 0;
    for (int i = 0; i < S4F_DR__COUNT; i++)
        errors += st.errors[i];
    /* Wall time here includes generating the datagrams, so it is a lower bound; the CPU figure
     * is the decode alone. */
    printf("flows=%llu cpu_s=%.3f wall_s=%.3f flows_per_cpu_s=%.0f flows_per_wall_s=%.0f "
           "json_bytes_per_flow=%.1f packed_bytes_per_flow=%.1f errors=%llu seq_lost=%llu\n",
           (unsigned long long)cnt.flows, cpu, wall, (double)cnt.flows / cpu,
           (double)cnt.flows / wall, (double)cnt.json_bytes / (double)cnt.flows,
           (double)cnt.packed_bytes / (double)cnt.flows, (unsigned long long)errors,
           (unsigned long long)st.seq_lost);
    rc = errors ? 1 : 0;
out:
    free(cnt.flow);
    collector_enrich_free(enrich);
    s4f_metrics_free(metrics);
    s4f_decoder_free(dec);
    bg_pool_free(&pool);
    free(exp);
    free(addrs);
    free(bufs);
    return rc;
}
