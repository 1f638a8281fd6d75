/* bench-collector-sender: replays generated IPFIX, NetFlow v9 or sFlow v5 datagrams to a collector
 * with sendmmsg(), at a fixed rate or flat out, from E exporters on distinct loopback addresses.
 *
 *   bench-collector-sender -t HOST:PORT [-v 10|9|sflow] [-r FLOWS_PER_S] [-d SECONDS] [-e
 * EXPORTERS]
 *                          [-R RECORDS] [-b BATCH] [-T TEMPLATE_INTERVAL_S] [-n POOL]
 *                          [-H LOCAL_HOSTS]
 *
 *   -r 0 (default) sends flat out. Exporter i sends from 127.0.(1 + i/250).(1 + i%250).
 *   -H N folds every 10/8 source and destination onto N local hosts (10.0.0.0 + address mod
 *   N): a bounded host population, as a real network has, for runs long enough that state
 *   keyed by host must stay flat (the soak). Default 0: sources wander over all of 10/8.
 *
 * sFlow (-v sflow) has no templates and BG_SFLOW_RECS flow samples per datagram unless -R says
 * otherwise; the agent address in the datagram is the exporter's own.
 *
 * Each exporter sends its template first and again every -T seconds, then data datagrams of -R
 * records with correct per-domain sequence numbers. Pacing: the sender computes how many
 * datagrams are due since the start and sends them in sendmmsg() batches of up to -b datagrams
 * per exporter, sleeping when ahead; so the rate holds on average over any millisecond-scale
 * window, with bursts of at most one batch.
 *
 * Prints one line of key=value figures at the end, for bench/collector/run:
 *   flows_sent=... datagrams=... template_datagrams=... send_errors=... elapsed_s=...
 *   flows_per_s=... behind=...
 * behind=1 means the sender fell more than 3% short of the asked rate (its own CPU was the
 * limit). */
#include "gen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 256

struct opts {
    struct sockaddr_in target;
    int version;
    double rate; /* flows/s, 0: flat out */
    double duration;
    unsigned exporters;
    unsigned recs;
    unsigned batch;
    double template_interval;
    unsigned pool;
    unsigned local_hosts;
};

static int parse_target(const char *s, struct sockaddr_in *sin)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    long port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -1;
    sin->sin_port = htons((uint16_t)port);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-collector-sender -t HOST:PORT [-v 10|9|sflow] [-r FLOWS_PER_S] "
                    "[-d SECONDS] [-e EXPORTERS] [-R RECORDS] [-b BATCH] [-T TEMPLATE_S] "
                    "[-n POOL] [-H LOCAL_HOSTS] [-z]\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.version = 10,
                       .duration = 10,
                       .exporters = 1,
                       .recs = 0,
                       .batch = 64,
                       .template_interval = 1,
                       .pool = 1024};
    int have_target = 0, c;
    while ((c = getopt(argc, argv, "t:v:r:d:e:R:b:T:n:H:zh")) != -1) {
        switch (c) {
        case 't':
            if (parse_target(optarg, &o->target) != 0) {
                fprintf(stderr, "bad target '%s' (want IPv4:port)\n", optarg);
                return -1;
            }
            have_target = 1;
            break;
        case 'v':
            o->version = strcmp(optarg, "sflow") == 0 ? BG_SFLOW : atoi(optarg);
            break;
        case 'r':
            o->rate = atof(optarg);
            break;
        case 'd':
            o->duration = atof(optarg);
            break;
        case 'e':
            o->exporters = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'R':
            o->recs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            o->batch = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'T':
            o->template_interval = atof(optarg);
            break;
        case 'n':
            o->pool = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'H':
            o->local_hosts = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'z':
            bg_remote_mix = 1; /* concentrated remote destinations (gen.h) */
            break;
        default:
            usage();
            return -1;
        }
    }
    if (!o->recs)
        o->recs = o->version == BG_SFLOW ? BG_SFLOW_RECS : 30;
    if (!have_target || (o->version != 9 && o->version != 10 && o->version != BG_SFLOW) ||
        o->rate < 0 || o->duration <= 0 || o->exporters == 0 || o->exporters > 63500 ||
        o->recs == 0 || o->recs > BG_RECS_MAX || o->batch == 0 || o->batch > BATCH_MAX ||
        o->pool == 0 || o->template_interval <= 0 || o->local_hosts > (1u << 24)) {
        usage();
        return -1;
    }
    return 0;
}

static int open_exporter_socket(unsigned i)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A big send buffer so that a burst of one batch never blocks on our side. */
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(bg_exporter_addr(i))};
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct sender {
    struct opts o;
    struct bg_pool pool;
    struct bg_exporter *exp;
    int *fds;
    uint8_t (*bufs)[BG_DGRAM_MAX];
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iovs[BATCH_MAX];
    uint64_t datagrams, templates, errors;
    unsigned next_dgram;
};

/* Sends n prepared datagrams on fd; unconnected sockets, so a closed port shows up as loss at
 * the receiver rather than ECONNREFUSED here. Returns how many the kernel took; the others are
 * counted in s->errors. */
static unsigned send_batch(struct sender *s, int fd, unsigned n)
{
    unsigned done = 0, sent = 0;
    for (unsigned k = 0; k < n; k++) {
        s->msgs[k].msg_hdr = (struct msghdr){
            .msg_name = &s->o.target,
            .msg_namelen = sizeof(s->o.target),
            .msg_iov = &s->iovs[k],
            .msg_iovlen = 1,
        };
    }
    while (done < n) {
        int r = sendmmsg(fd, s->msgs + done, n - done, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            s->errors++;
            /* ENOBUFS and friends: skip this datagram, keep going; it is counted. */
            done++;
            continue;
        }
        done += (unsigned)r;
        sent += (unsigned)r;
    }
    return sent;
}

static void send_templates(struct sender *s, int64_t now_ms)
{
    for (unsigned e = 0; e < s->o.exporters; e++) {
        s->iovs[0].iov_base = s->bufs[0];
        s->iovs[0].iov_len = bg_template(&s->pool, &s->exp[e], s->bufs[0], now_ms);
        if (s->iovs[0].iov_len) /* sFlow has none */
            s->templates += send_batch(s, s->fds[e], 1);
    }
}

static void sleep_s(double secs)
{
    struct timespec ts = {.tv_sec = (time_t)secs,
                          .tv_nsec = (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    struct sender *s = calloc(1, sizeof(*s));
    int rc = 1;
    if (!s)
        return 1;
    if (parse_opts(argc, argv, &s->o) != 0)
        goto out;
    if (bg_pool_init(&s->pool, s->o.version, s->o.recs, s->o.pool, 42) != 0) {
        fprintf(stderr, "cannot build the datagram pool\n");
        goto out;
    }
    s->pool.local_hosts = s->o.local_hosts;
    s->exp = calloc(s->o.exporters, sizeof(*s->exp));
    s->fds = calloc(s->o.exporters, sizeof(*s->fds));
    s->bufs = calloc(BATCH_MAX, sizeof(*s->bufs));
    if (!s->exp || !s->fds || !s->bufs) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    int64_t now_ms = bg_wall_ms();
    for (unsigned e = 0; e < s->o.exporters; e++) {
        s->fds[e] = -1;
        bg_exporter_init(&s->exp[e], e, now_ms);
    }
    for (unsigned e = 0; e < s->o.exporters; e++) {
        s->fds[e] = open_exporter_socket(e);
        if (s->fds[e] < 0) {
            fprintf(stderr, "exporter %u: socket/bind 127.0.%u.%u: %s\n", e, 1 + e / 250,
                    1 + e % 250, strerror(errno));
            goto out;
        }
    }
    for (unsigned k = 0; k < BATCH_MAX; k++)
        s->iovs[k].iov_base = s->bufs[k];

    double t0 = bg_mono_s(), next_tpl = t0 + s->o.template_interval, now = t0;
    double dgram_rate = s->o.rate / s->o.recs;
    unsigned cur = 0; /* exporter whose turn it is */
    send_templates(s, bg_wall_ms());
    while ((now = bg_mono_s()) - t0 < s->o.duration) {
        now_ms = bg_wall_ms();
        if (now >= next_tpl) {
            send_templates(s, now_ms);
            next_tpl += s->o.template_interval;
        }
        unsigned n = s->o.batch;
        if (s->o.rate > 0) {
            double due = (now - t0) * dgram_rate - (double)(s->datagrams + s->errors);
            if (due < 1) {
                /* Ahead of schedule: sleep until the next datagram is due, at most 1 ms so the
                 * template timer and the end of the run stay on time. */
                double wait = (1 - due) / dgram_rate;
                sleep_s(wait < 0.001 ? wait : 0.001);
                continue;
            }
            if (due < n)
                n = (unsigned)due;
        }
        for (unsigned k = 0; k < n; k++)
            s->iovs[k].iov_len =
                bg_data(&s->pool, s->next_dgram++, &s->exp[cur], s->bufs[k], now_ms);
        s->datagrams += send_batch(s, s->fds[cur], n);
        cur = (cur + 1) % s->o.exporters;
    }
    double el = bg_mono_s() - t0;
    uint64_t flows = s->datagrams * s->o.recs;
    /* Short of the asked rate by more than 3%: this process (or its share of the CPU) was the
     * limit, not the receiver. */
    int behind = s->o.rate > 0 && (double)flows / el < 0.97 * s->o.rate;
    printf("flows_sent=%llu datagrams=%llu template_datagrams=%llu send_errors=%llu "
           "elapsed_s=%.3f flows_per_s=%.0f behind=%d\n",
           (unsigned long long)flows, (unsigned long long)s->datagrams,
           (unsigned long long)s->templates, (unsigned long long)s->errors, el, (double)flows / el,
           behind);
    rc = 0;
out:
    if (s->fds)
        for (unsigned e = 0; e < s->o.exporters; e++)
            if (s->fds[e] >= 0)
                close(s->fds[e]);
    free(s->fds);
    free(s->exp);
    free(s->bufs);
    bg_pool_free(&s->pool);
    free(s);
    return rc;
}
