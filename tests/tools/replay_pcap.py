#!/usr/bin/env python3
"""Sends the UDP payloads of classic pcap files to HOST:PORT, in order, as an exporter would.

  replay_pcap.py HOST:PORT FILE.pcap [FILE.pcap ...] [--from-port N] [--pps N]

Ethernet, Linux cooked (SLL) and raw IPv4/IPv6 link types; non-UDP packets are skipped. A
*-template.pcap given before its *-data.pcap makes the templates known first. Prints the number
of datagrams sent.
"""
import argparse
import socket
import struct
import time


def udp_payloads(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        raise SystemExit("%s: not a classic pcap file" % path)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype == 1:  # Ethernet, with VLAN tags
            eth_type = struct.unpack("!H", pkt[12:14])[0]
            p = 14
            while eth_type in (0x8100, 0x88A8):
                eth_type = struct.unpack("!H", pkt[p + 2:p + 4])[0]
                p += 4
        elif linktype == 113:  # Linux cooked
            eth_type = struct.unpack("!H", pkt[14:16])[0]
            p = 16
        elif linktype in (101, 12, 228, 229):  # raw IP
            eth_type = 0x0800 if pkt[0] >> 4 == 4 else 0x86DD
            p = 0
        else:
            continue
        if eth_type == 0x0800:
            ihl = (pkt[p] & 0x0F) * 4
            if pkt[p + 9] != 17:
                continue
            p += ihl
        elif eth_type == 0x86DD:
            if pkt[p + 6] != 17:
                continue
            p += 40
        else:
            continue
        length = struct.unpack("!H", pkt[p + 4:p + 6])[0]
        yield pkt[p + 8:p + length]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--from-port", type=int, default=0)
    ap.add_argument("--pps", type=float, default=0, help="datagrams per second (0: flat out)")
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if a.from_port:
        s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", a.from_port))
    n = 0
    for path in a.files:
        for payload in udp_payloads(path):
            s.sendto(payload, (host.strip("[]"), int(port)))
            n += 1
            if a.pps:
                time.sleep(1.0 / a.pps)
    print(n)


if __name__ == "__main__":
    main()
