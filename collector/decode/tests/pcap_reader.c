#include "pcap_reader.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Parses an IP packet; fills pkt if it is UDP. */
static int parse_ip(const uint8_t *p, size_t n, struct s4f_pcap_pkt *pkt)
{
    memset(&pkt->src, 0, sizeof(pkt->src));
    if (n < 1)
        return 0;
    const uint8_t *udp;
    size_t left;
    if ((p[0] >> 4) == 4) {
        size_t ihl = (size_t)(p[0] & 15) * 4;
        if (n < 20 || ihl < 20 || n < ihl || p[9] != 17)
            return 0;
        size_t tot = be16(p + 2);
        if (tot < n)
            n = tot;
        struct sockaddr_in *sin = (struct sockaddr_in *)&pkt->src;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, p + 12, 4);
        udp = p + ihl;
        left = n - ihl;
    } else if ((p[0] >> 4) == 6) {
        if (n < 40 || p[6] != 17)
            return 0;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&pkt->src;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, p + 8, 16);
        udp = p + 40;
        left = n - 40;
    } else {
        return 0;
    }
    if (left < 8)
        return 0;
    size_t ulen = be16(udp + 4);
    if (ulen < 8 || ulen > left)
        ulen = left;
    if (pkt->src.ss_family == AF_INET)
        ((struct sockaddr_in *)&pkt->src)->sin_port = htons(be16(udp));
    else
        ((struct sockaddr_in6 *)&pkt->src)->sin6_port = htons(be16(udp));
    pkt->payload = udp + 8;
    pkt->len = ulen - 8;
    return 1;
}

int s4f_pcap_read(const char *path, struct s4f_pcap *pc)
{
    memset(pc, 0, sizeof(*pc));
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz < 24 || sz > (64L << 20)) {
        fclose(f);
        return -1;
    }
    pc->data = malloc((size_t)sz);
    if (!pc->data || fread(pc->data, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        s4f_pcap_free(pc);
        return -1;
    }
    fclose(f);
    const uint8_t *d = pc->data;
    uint32_t magic;
    memcpy(&magic, d, 4);
    int swap;
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du)
        swap = 0;
    else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u)
        swap = 1;
    else {
        s4f_pcap_free(pc);
        return -1;
    }
    uint32_t linktype = rd32(d + 20, swap);
    size_t off = 24;
    while (off + 16 <= (size_t)sz && pc->n < sizeof(pc->pkts) / sizeof(pc->pkts[0])) {
        uint32_t caplen = rd32(d + off + 8, swap);
        off += 16;
        if (caplen > (size_t)sz - off)
            break;
        const uint8_t *p = d + off;
        size_t n = caplen;
        off += caplen;
        if (linktype == 1) { /* Ethernet */
            if (n < 14)
                continue;
            uint16_t et = be16(p + 12);
            p += 14;
            n -= 14;
            while ((et == 0x8100 || et == 0x88a8) && n >= 4) {
                et = be16(p + 2);
                p += 4;
                n -= 4;
            }
            if (et != 0x0800 && et != 0x86dd)
                continue;
        } else if (linktype == 113) { /* Linux cooked */
            if (n < 16)
                continue;
            p += 16;
            n -= 16;
        } else if (linktype == 276) { /* Linux cooked v2 */
            if (n < 20)
                continue;
            p += 20;
            n -= 20;
        } else if (linktype != 101 && linktype != 12 && linktype != 228 && linktype != 229) {
            continue;
        }
        if (parse_ip(p, n, &pc->pkts[pc->n]))
            pc->n++;
    }
    return (int)pc->n;
}

void s4f_pcap_free(struct s4f_pcap *pc)
{
    free(pc->data);
    pc->data = NULL;
    pc->n = 0;
}
