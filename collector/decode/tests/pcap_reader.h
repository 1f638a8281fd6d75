/* A tiny reader for classic pcap files (not pcapng): Ethernet (with VLAN tags), Linux cooked
 * capture or raw IP; IPv4 or IPv6; UDP only. Enough to replay exporter captures in tests and to
 * extract the fuzz corpus. */
#ifndef S4F_PCAP_READER_H
#define S4F_PCAP_READER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct s4f_pcap_pkt {
    struct sockaddr_storage src; /* sender address and port */
    const uint8_t *payload;      /* points into the file data */
    size_t len;
};

struct s4f_pcap {
    uint8_t *data; /* whole file */
    size_t n;
    struct s4f_pcap_pkt pkts[256];
};

/* Reads path; returns the number of UDP packets found or -1. s4f_pcap_free() releases it. */
int s4f_pcap_read(const char *path, struct s4f_pcap *pc);
void s4f_pcap_free(struct s4f_pcap *pc);

#endif
