#!/usr/bin/env python3
"""Forwards every UDP datagram received on --listen to each --to address, byte for byte.

The probe tests put it between one exporter and two collectors (ours and nfcapd), so both decode
exactly the same datagrams. Prints the listening port on stdout once bound, then runs until
killed or until --idle seconds pass without traffic after the first datagram.
"""
import argparse
import socket
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--to", action="append", required=True)
    ap.add_argument("--idle", type=float, default=0)
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((host, int(port)))
    targets = []
    for t in a.to:
        h, p = t.rsplit(":", 1)
        targets.append((h, int(p)))
    print(s.getsockname()[1], flush=True)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    while True:
        if n and a.idle:
            s.settimeout(a.idle)
        try:
            data = s.recv(65535)
        except socket.timeout:
            break
        n += 1
        for t in targets:
            out.sendto(data, t)
    print("forwarded %d datagrams" % n, file=sys.stderr)


if __name__ == "__main__":
    main()
