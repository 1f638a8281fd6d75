/* Datagram generator shared by the collector benchmark's sender, decode loop and raw producer,
 * so that all three measure exactly the same records.
 *
 * A pool holds pre-built data datagrams (IPFIX or NetFlow v9, one data set of `recs` records of a
 * 15-field IPv4 template; or sFlow v5, `recs` flow samples of the same flows, each a 128-byte
 * sampled header of Ethernet, IPv4 and TCP/UDP/ICMP with extended switch data, 1 in 1000) whose
 * record contents were drawn once from a seeded generator: many hosts, a protocol mix, popular and
 * random ports, skewed counters. Sending then costs a copy and a few patches, not a random draw per
 * field, so the sender stays cheap on a shared machine.
 *
 * bg_data() copies one pool datagram for one exporter and patches the header (sequence number,
 * observation domain / source id, export time, v9 uptime) and every record's start and end time
 * relative to now, and on every pass over the pool moves each record's source to another host of
 * 10/8. Every emitted record is thus distinct over a run (for 65,536 passes), which matters to
 * collectors that aggregate identical keys (pmacct's Kafka plugin, whose v9 times are whole
 * seconds). i must therefore count up from 0 over the run.
 *
 * Not thread-safe; a pool is read-only after bg_pool_init() and may be shared by readers. */
#ifndef S4F_BENCH_GEN_H
#define S4F_BENCH_GEN_H

#include <stddef.h>
#include <stdint.h>

#define BG_RECS_MAX    64
#define BG_DGRAM_MAX   4096 /* 64 records of the IPFIX template fit in 4,048 bytes */
#define BG_TEMPLATE_ID 256
#define BG_SFLOW       6343 /* pool version of sFlow v5 datagrams */
#define BG_SFLOW_RECS  6    /* flow samples per sFlow datagram (1,324 bytes, as agents send) */

struct bg_pool {
    int version;        /* 9, 10 or BG_SFLOW */
    unsigned recs;      /* records per data datagram */
    unsigned n;         /* datagrams in the pool */
    size_t len;         /* every data datagram has the same length */
    uint16_t rec_len;   /* bytes per record */
    uint16_t off_start; /* offset of flowStartMilliseconds / FIRST_SWITCHED in a record */
    uint16_t off_end;   /* offset of flowEndMilliseconds / LAST_SWITCHED */
    uint8_t *buf;       /* n * BG_DGRAM_MAX */
    uint32_t *age_ms;   /* n * recs: how long before export each flow ended */
    uint32_t *dur_ms;   /* n * recs: each flow's duration */
    /* 0: sources wander over all of 10/8 (every record distinct). Otherwise every 10/8 source
     * and destination is folded onto 10.0.0.0 + (address mod local_hosts), so the run has a
     * bounded population of local hosts, as a real network has (set after bg_pool_init()). */
    uint32_t local_hosts;
};

/* One exporter's protocol state (per observation domain / source id). */
struct bg_exporter {
    uint32_t seq;    /* IPFIX: data records sent so far; v9: packets sent so far */
    uint32_t domain; /* observation domain id / source id */
    int64_t boot_ms; /* v9: wall-clock ms of the exporter's boot, for sysUptime */
    uint32_t addr;   /* its address (bg_exporter_addr), host order: the sFlow agent address */
};

/* Remote (public) destinations of the flows bg_pool_init() draws: 0 (default), uniformly
 * random over 11.0.0.0 to 126.255.255.255, every flow a new network (the worst case for a
 * lookup cache); 1, concentrated as real traffic is: the /24 of rank k (of 2^20 /24s spread
 * over the same space) drawn with probability about proportional to 1/k (log-uniform rank), a
 * random host in it. Set before bg_pool_init(). */
extern int bg_remote_mix;

/* Builds n datagrams of recs records. Returns 0, or -1 (bad arguments, out of memory). */
int bg_pool_init(struct bg_pool *p, int version, unsigned recs, unsigned n, uint64_t seed);
/* NULL-safe; leaves the pool zeroed. */
void bg_pool_free(struct bg_pool *p);

/* Sets up exporter index i's state for wall-clock now_ms. */
void bg_exporter_init(struct bg_exporter *e, unsigned i, int64_t now_ms);

/* Writes a template datagram for e into out (BG_DGRAM_MAX bytes); returns its length (0 for
 * sFlow, which has none). */
size_t bg_template(const struct bg_pool *p, struct bg_exporter *e, uint8_t *out, int64_t now_ms);
/* Writes pool datagram i (mod n) for e into out, patched for now_ms; advances e's sequence
 * number. Returns its length. */
size_t bg_data(const struct bg_pool *p, unsigned i, struct bg_exporter *e, uint8_t *out,
               int64_t now_ms);

/* "127.0.X.Y" for exporter i: X = 1 + i / 250, Y = 1 + i % 250 (up to 63,500 exporters), in
 * host byte order. */
uint32_t bg_exporter_addr(unsigned i);

/* Wall-clock epoch milliseconds and monotonic seconds. */
int64_t bg_wall_ms(void);
double bg_mono_s(void);

#endif
