/* Inputs of the collector: a UDP socket for NetFlow/IPFIX and one for sFlow, read with recvmmsg()
 * in batches, and an IPFIX-over-TCP listener with one reassembling stream per connection, all
 * multiplexed by one epoll loop. The decoder tells the protocols apart by their version field.
 *
 * Kernel drops are read from SO_RXQ_OVFL (the socket's drop counter arrives with each datagram
 * as a control message), so overflow of the receive buffer is visible as a metric rather than
 * silent. */
#include "collector.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define DGRAM_MAX 65536
#define TCP_READ  65536

struct tcp_conn {
    int fd;
    struct sockaddr_storage addr; /* the peer (address compared, not the port) */
    struct s4f_ipfix_stream *stream;
    int64_t last_active;
    char peer[64];
};

/* A UDP socket and its kernel drop counter (SO_RXQ_OVFL is cumulative per socket). */
struct udp_sock {
    int fd;
    int port;
    uint32_t last_ovfl;
};

struct collector_inputs {
    int ep, tcp;
    struct udp_sock udp, sflow;
    int batch;
    struct s4f_decoder *dec;
    s4f_record_cb on_record;
    void *record_ctx;
    uint8_t *bufs;
    struct mmsghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_storage *addrs;
    char (*ctrl)[CMSG_SPACE(sizeof(uint32_t))];
    uint64_t kernel_drops;
    uint64_t truncated;
    struct tcp_conn *conns;
    size_t max_conns;
    int64_t tcp_idle_ms;
    int64_t next_idle_check;
    uint8_t *tcp_buf;
    size_t max_per_addr;
    struct s4f_metric *m_tcp_refused, *m_tcp_refused_addr, *m_tcp_open, *m_tcp_closed_framing,
        *m_tcp_closed_idle;
};

/* v4-mapped IPv6 senders ("::ffff:192.0.2.1") are keyed and printed as the IPv4 address they
 * are, so an exporter is the same exporter whichever socket family received it. */
static void unmap_v4(struct sockaddr_storage *ss)
{
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
        return;
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = v6->sin6_port};
    memcpy(&v4.sin_addr, &v6->sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &v4, sizeof(v4));
}

static int open_socket(const char *addr, int type, int64_t rcvbuf, int *port, char *err,
                       size_t errlen)
{
    struct sockaddr_storage ss;
    unsigned slen;
    if (s4f_parse_hostport(addr, &ss, &slen) != 0) {
        snprintf(err, errlen, "bad address '%s' (want host:port or [v6]:port)", addr);
        return -1;
    }
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (type == SOCK_DGRAM) {
        int want = (int)rcvbuf;
        /* SO_RCVBUFFORCE lifts the net.core.rmem_max cap when we have CAP_NET_ADMIN. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
        int got = 0;
        socklen_t gl = sizeof(got);
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        if (got / 2 < want)
            s4f_warn("UDP receive buffer is %d bytes, %d asked: raise net.core.rmem_max", got / 2,
                     want);
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0) {
        snprintf(err, errlen, "bind %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, 64) != 0) {
        snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    *port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                             : ((struct sockaddr_in6 *)&bound)->sin6_port);
    return fd;
}

static int ep_add(int ep, int fd, uint64_t tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* epoll tags: the UDP sockets, the listener, and connection slots from 3 up. */
#define TAG_UDP    0
#define TAG_LISTEN 1
#define TAG_SFLOW  2
#define TAG_CONN   3

struct collector_inputs *collector_inputs_new(const struct collector_conf *conf,
                                              struct s4f_decoder *dec, s4f_record_cb on_record,
                                              void *record_ctx, struct s4f_metrics *m)
{
    char err[256];
    struct collector_inputs *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->udp.fd = in->sflow.fd = in->tcp = in->ep = -1;
    in->dec = dec;
    in->on_record = on_record;
    in->record_ctx = record_ctx;
    in->batch = (int)conf->batch;
    in->max_conns = (size_t)conf->tcp_max_connections;
    in->tcp_idle_ms = conf->tcp_idle_timeout_ms;
    in->bufs = malloc((size_t)in->batch * DGRAM_MAX);
    in->msgs = calloc((size_t)in->batch, sizeof(*in->msgs));
    in->iovs = calloc((size_t)in->batch, sizeof(*in->iovs));
    in->addrs = calloc((size_t)in->batch, sizeof(*in->addrs));
    in->ctrl = calloc((size_t)in->batch, sizeof(*in->ctrl));
    in->conns = calloc(in->max_conns, sizeof(*in->conns));
    in->tcp_buf = malloc(TCP_READ);
    if (!in->bufs || !in->msgs || !in->iovs || !in->addrs || !in->ctrl || !in->conns ||
        !in->tcp_buf) {
        s4f_error("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < in->max_conns; i++)
        in->conns[i].fd = -1;
    in->max_per_addr = (size_t)conf->tcp_max_connections_per_address;
    in->m_tcp_refused =
        s4f_metrics_counter(m, "tcp_connections_refused_total",
                            "IPFIX/TCP connections refused: tcp_max_connections open, or "
                            "tcp_max_connections_per_address from that address",
                            "reason=\"max_connections\"");
    in->m_tcp_refused_addr =
        s4f_metrics_counter(m, "tcp_connections_refused_total",
                            "IPFIX/TCP connections refused: tcp_max_connections open, or "
                            "tcp_max_connections_per_address from that address",
                            "reason=\"per_address\"");
    in->m_tcp_open = s4f_metrics_gauge(m, "tcp_connections", "Open IPFIX/TCP connections", NULL);
    in->m_tcp_closed_framing =
        s4f_metrics_counter(m, "tcp_connections_closed_total",
                            "IPFIX/TCP connections closed by us, by reason", "reason=\"framing\"");
    in->m_tcp_closed_idle =
        s4f_metrics_counter(m, "tcp_connections_closed_total",
                            "IPFIX/TCP connections closed by us, by reason", "reason=\"idle\"");

    in->ep = epoll_create1(EPOLL_CLOEXEC);
    if (in->ep < 0) {
        s4f_error("epoll: %s", strerror(errno));
        goto fail;
    }
    in->udp.fd =
        open_socket(conf->listen, SOCK_DGRAM, conf->rcvbuf, &in->udp.port, err, sizeof(err));
    if (in->udp.fd < 0 || ep_add(in->ep, in->udp.fd, TAG_UDP) != 0) {
        s4f_error("UDP input: %s", err);
        goto fail;
    }
    if (conf->sflow_listen && *conf->sflow_listen) {
        in->sflow.fd = open_socket(conf->sflow_listen, SOCK_DGRAM, conf->rcvbuf, &in->sflow.port,
                                   err, sizeof(err));
        if (in->sflow.fd < 0 || ep_add(in->ep, in->sflow.fd, TAG_SFLOW) != 0) {
            s4f_error("sFlow input: %s", err);
            goto fail;
        }
    }
    if (conf->tcp_listen && *conf->tcp_listen) {
        int port;
        in->tcp = open_socket(conf->tcp_listen, SOCK_STREAM, 0, &port, err, sizeof(err));
        if (in->tcp < 0 || ep_add(in->ep, in->tcp, TAG_LISTEN) != 0) {
            s4f_error("TCP input: %s", err);
            goto fail;
        }
    }
    return in;
fail:
    collector_inputs_free(in);
    return NULL;
}

int collector_inputs_udp_port(const struct collector_inputs *in)
{
    return in->udp.port;
}

int collector_inputs_sflow_port(const struct collector_inputs *in)
{
    return in->sflow.fd >= 0 ? in->sflow.port : 0;
}

uint64_t collector_inputs_kernel_drops(const struct collector_inputs *in)
{
    return in ? in->kernel_drops : 0;
}

uint64_t collector_inputs_truncated(const struct collector_inputs *in)
{
    return in ? in->truncated : 0;
}

static int read_udp(struct collector_inputs *in, struct udp_sock *us, int64_t now_ms)
{
    int total = 0;
    /* Bounded: at most 16 batches per wake-up, so TCP and Kafka polling are never starved. */
    for (int round = 0; round < 16; round++) {
        for (int i = 0; i < in->batch; i++) {
            in->iovs[i].iov_base = in->bufs + (size_t)i * DGRAM_MAX;
            in->iovs[i].iov_len = DGRAM_MAX;
            struct msghdr *h = &in->msgs[i].msg_hdr;
            h->msg_name = &in->addrs[i];
            h->msg_namelen = sizeof(in->addrs[i]);
            h->msg_iov = &in->iovs[i];
            h->msg_iovlen = 1;
            h->msg_control = in->ctrl[i];
            h->msg_controllen = sizeof(in->ctrl[i]);
            h->msg_flags = 0;
        }
        int n = recvmmsg(us->fd, in->msgs, (unsigned)in->batch, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                s4f_error_rl("recvmmsg: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct msghdr *h = &in->msgs[i].msg_hdr;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                    uint32_t ovfl;
                    memcpy(&ovfl, CMSG_DATA(c), sizeof(ovfl));
                    /* The kernel's counter is cumulative for the socket. */
                    if (ovfl != us->last_ovfl) {
                        in->kernel_drops += (uint32_t)(ovfl - us->last_ovfl);
                        us->last_ovfl = ovfl;
                    }
                }
            if (h->msg_flags & MSG_TRUNC) {
                in->truncated++;
                s4f_warn_rl("datagram larger than %d bytes truncated: dropped", DGRAM_MAX);
                continue;
            }
            unmap_v4(&in->addrs[i]);
            s4f_decode_datagram(in->dec, &in->addrs[i], in->bufs + (size_t)i * DGRAM_MAX,
                                in->msgs[i].msg_len, now_ms, in->on_record, in->record_ctx);
        }
        total += n;
        if (n < in->batch)
            break;
    }
    return total;
}

static void conn_close(struct collector_inputs *in, struct tcp_conn *c)
{
    if (c->fd < 0)
        return;
    epoll_ctl(in->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    s4f_ipfix_stream_free(c->stream);
    c->stream = NULL;
    c->fd = -1;
    s4f_metric_add(in->m_tcp_open, (uint64_t)-1);
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return false;
}

static void accept_tcp(struct collector_inputs *in, int64_t now)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        int fd = accept4(in->tcp, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                s4f_error_rl("accept: %s", strerror(errno));
            return;
        }
        unmap_v4(&peer);
        /* One address must not take every slot (and push real exporters off the collector). */
        size_t from_peer = 0;
        for (size_t i = 0; i < in->max_conns; i++)
            if (in->conns[i].fd >= 0 && same_host(&in->conns[i].addr, &peer))
                from_peer++;
        if (from_peer >= in->max_per_addr) {
            close(fd);
            s4f_metric_inc(in->m_tcp_refused_addr);
            s4f_warn_rl("IPFIX/TCP connection refused: %zu connections open from that address",
                        from_peer);
            continue;
        }
        size_t slot;
        for (slot = 0; slot < in->max_conns; slot++)
            if (in->conns[slot].fd < 0)
                break;
        struct s4f_ipfix_stream *st =
            slot < in->max_conns ? s4f_ipfix_stream_new(in->dec, &peer) : NULL;
        if (!st || ep_add(in->ep, fd, TAG_CONN + slot) != 0) {
            s4f_ipfix_stream_free(st);
            close(fd);
            s4f_metric_inc(in->m_tcp_refused);
            s4f_warn_rl("IPFIX/TCP connection refused: %zu connections open", in->max_conns);
            continue;
        }
        struct tcp_conn *c = &in->conns[slot];
        c->fd = fd;
        c->addr = peer;
        c->stream = st;
        c->last_active = now;
        char host[INET6_ADDRSTRLEN] = "?";
        if (peer.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, host, sizeof(host));
        else if (peer.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, host, sizeof(host));
        s4f_strlcpy(c->peer, host, sizeof(c->peer));
        s4f_metric_inc(in->m_tcp_open);
        s4f_info("IPFIX/TCP exporter %s connected", c->peer);
    }
}

static int read_tcp(struct collector_inputs *in, struct tcp_conn *c, int64_t now_ms)
{
    int msgs = 0;
    /* Bounded per wake-up like UDP: one busy exporter cannot starve the others. */
    for (int round = 0; round < 16; round++) {
        ssize_t r = read(c->fd, in->tcp_buf, TCP_READ);
        if (r == 0) {
            s4f_info("IPFIX/TCP exporter %s disconnected", c->peer);
            conn_close(in, c);
            return msgs;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return msgs;
            s4f_warn_rl("IPFIX/TCP exporter %s: %s", c->peer, strerror(errno));
            conn_close(in, c);
            return msgs;
        }
        c->last_active = s4f_mono_ms();
        msgs++;
        if (s4f_ipfix_stream_feed(c->stream, in->tcp_buf, (size_t)r, now_ms, in->on_record,
                                  in->record_ctx) != S4F_OK) {
            s4f_warn_rl("IPFIX/TCP exporter %s: broken message framing, connection closed",
                        c->peer);
            s4f_metric_inc(in->m_tcp_closed_framing);
            conn_close(in, c);
            return msgs;
        }
    }
    return msgs;
}

int collector_inputs_run_once(struct collector_inputs *in, int timeout_ms)
{
    struct epoll_event evs[64];
    int handled = 0;
    if (in->ep < 0)
        return 0;
    int n = epoll_wait(in->ep, evs, 64, timeout_ms);
    int64_t now_ms = s4f_wall_ms(), mono = s4f_mono_ms();
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag == TAG_UDP)
            handled += read_udp(in, &in->udp, now_ms);
        else if (tag == TAG_SFLOW)
            handled += read_udp(in, &in->sflow, now_ms);
        else if (tag == TAG_LISTEN)
            accept_tcp(in, mono);
        else if (tag - TAG_CONN < in->max_conns && in->conns[tag - TAG_CONN].fd >= 0)
            handled += read_tcp(in, &in->conns[tag - TAG_CONN], now_ms);
    }
    if (mono >= in->next_idle_check) {
        in->next_idle_check = mono + 1000;
        for (size_t i = 0; i < in->max_conns; i++)
            if (in->conns[i].fd >= 0 && mono - in->conns[i].last_active > in->tcp_idle_ms) {
                s4f_info("IPFIX/TCP exporter %s idle: connection closed", in->conns[i].peer);
                s4f_metric_inc(in->m_tcp_closed_idle);
                conn_close(in, &in->conns[i]);
            }
    }
    return handled;
}

void collector_inputs_close(struct collector_inputs *in)
{
    if (!in)
        return;
    for (size_t i = 0; in->conns && i < in->max_conns; i++)
        conn_close(in, &in->conns[i]);
    if (in->udp.fd >= 0)
        close(in->udp.fd);
    if (in->sflow.fd >= 0)
        close(in->sflow.fd);
    if (in->tcp >= 0)
        close(in->tcp);
    if (in->ep >= 0)
        close(in->ep);
    in->udp.fd = in->sflow.fd = in->tcp = in->ep = -1;
}

void collector_inputs_free(struct collector_inputs *in)
{
    if (!in)
        return;
    collector_inputs_close(in);
    free(in->bufs);
    free(in->msgs);
    free(in->iovs);
    free(in->addrs);
    free(in->ctrl);
    free(in->conns);
    free(in->tcp_buf);
    free(in);
}
