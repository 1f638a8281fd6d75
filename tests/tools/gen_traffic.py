#!/usr/bin/env python3
"""Writes a pcap of synthetic but realistic traffic with a known ground truth.

Used by the demo (`./stream4flow up`), the collector's probe tests and the system test: a real
probe (softflowd, pmacctd) turns the packets into NetFlow/IPFIX, so everything downstream is
exercised with real exports. The ground truth (--truth FILE, JSON) lists what an analysis must
find: the scanners, the ordinary hosts and their packet counts.

Profiles:
  demo    ~2 minutes of mixed traffic: web, DNS, ICMP, one horizontal and one vertical scan
  test    the same shape, smaller and fully deterministic (seeded)
  scans   only scans, for detection tests
  ssh     SSH password guessers among normal SSH sessions, over two 300 s windows from --start
          (ssh_auth_simple; the truth lists the guessers per window and the normal clients)
  flood   29 minutes of steady servers, with a 60 s flood of one of them (and of an address
          without history) from 40 spoofed sources, while two busy servers' traffic surges
          (ddos; the truth lists the victim's flooded windows and the hosts never to report)

Only the standard library is used.
"""
import argparse
import json
import random
import struct

LINKTYPE_ETHERNET = 1


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
        self.packets = []

    def add(self, ts, frame):
        self.packets.append((ts, frame))

    def close(self):
        # Packets are generated per conversation; a capture is in time order.
        self.packets.sort(key=lambda p: p[0])
        for ts, frame in self.packets:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            if usec >= 1000000:
                sec, usec = sec + 1, usec - 1000000
            self.f.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)))
            self.f.write(frame)
        self.f.close()


def ipv4_packet(src, dst, proto, payload, ttl=64, ident=0):
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident & 0xFFFF, 0x4000, ttl, proto, 0,
                      ip4(src), ip4(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def ether(payload):
    return b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00" + payload


TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


def tcp(src, dst, sport, dport, flags, payload_len=0, seq=1):
    fl = 0
    for c in flags:
        fl |= TCP_FLAGS[c]
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, fl, 65535, 0, 0)
    seg += b"\0" * payload_len
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", checksum(pseudo + seg)) + seg[18:]
    return ether(ipv4_packet(src, dst, 6, seg))


def udp(src, dst, sport, dport, payload_len):
    dgram = struct.pack("!HHHH", sport, dport, 8 + payload_len, 0) + b"\0" * payload_len
    return ether(ipv4_packet(src, dst, 17, dgram))


def icmp_echo(src, dst, ident, seq, reply=False):
    msg = struct.pack("!BBHHH", 0 if reply else 8, 0, 0, ident, seq) + b"\0" * 56
    msg = msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]
    return ether(ipv4_packet(src, dst, 1, msg))


def gre(src, dst, n):
    return ether(ipv4_packet(src, dst, 47, b"\0\0\x08\x00" + b"\0" * n))


class Truth:
    def __init__(self):
        self.packets = {"tcp": 0, "udp": 0, "icmp": 0, "other": 0}
        self.bytes = {"tcp": 0, "udp": 0, "icmp": 0, "other": 0}
        self.horizontal = []
        self.vertical = []
        self.hosts = {}

    def count(self, proto, frame, src, dst):
        self.packets[proto] += 1
        self.bytes[proto] += len(frame) - 14  # IP bytes, as probes count them
        for h, direction in ((src, "out"), (dst, "in")):
            e = self.hosts.setdefault(h, {"packets_out": 0, "packets_in": 0})
            e["packets_" + direction] += 1


def generate(profile, out, truth_path, start, seed):
    rnd = random.Random(seed)
    pcap = Pcap(out)
    truth = Truth()
    duration = {"demo": 120.0, "test": 60.0, "scans": 30.0}[profile]
    scale = {"demo": 1.0, "test": 0.5, "scans": 0.0}[profile]

    def emit(ts, frame, proto, src, dst):
        pcap.add(ts, frame)
        truth.count(proto, frame, src, dst)

    clients = ["10.0.%d.%d" % (1, i) for i in range(10, 30)]
    servers = ["192.0.2.%d" % i for i in (10, 20, 30)]
    dns = "192.0.2.53"

    # Web sessions: handshake, a few data segments, teardown.
    for i in range(int(200 * scale)):
        c = rnd.choice(clients)
        s = rnd.choice(servers)
        sport = 20000 + i
        t = start + rnd.uniform(0, duration - 5)
        seq = [(c, s, sport, 443, "S", 0), (s, c, 443, sport, "SA", 0), (c, s, sport, 443, "A", 0)]
        for k in range(rnd.randint(1, 6)):
            seq.append((c, s, sport, 443, "PA", rnd.randint(50, 400)))
            seq.append((s, c, 443, sport, "PA", rnd.randint(500, 1400)))
        seq += [(c, s, sport, 443, "FA", 0), (s, c, 443, sport, "FA", 0), (c, s, sport, 443, "A", 0)]
        for k, (a, b, sp, dp, fl, n) in enumerate(seq):
            emit(t + k * 0.01, tcp(a, b, sp, dp, fl, n), "tcp", a, b)

    # DNS queries and answers.
    for i in range(int(300 * scale)):
        c = rnd.choice(clients)
        t = start + rnd.uniform(0, duration - 1)
        sport = 30000 + i
        emit(t, udp(c, dns, sport, 53, rnd.randint(20, 60)), "udp", c, dns)
        emit(t + 0.005, udp(dns, c, 53, sport, rnd.randint(60, 300)), "udp", dns, c)

    # Pings.
    for i in range(int(40 * scale)):
        c = rnd.choice(clients)
        s = rnd.choice(servers)
        t = start + rnd.uniform(0, duration - 5)
        for k in range(4):
            emit(t + k, icmp_echo(c, s, i, k), "icmp", c, s)
            emit(t + k + 0.001, icmp_echo(s, c, i, k, reply=True), "icmp", s, c)

    # A little GRE ("other").
    for i in range(int(10 * scale)):
        t = start + rnd.uniform(0, duration - 1)
        emit(t, gre("10.0.1.99", "198.51.100.7", 100), "other", "10.0.1.99", "198.51.100.7")

    # Horizontal scan: one source, SYN to port 22 on 40 addresses; each probe answered by RST.
    hs = "203.0.113.66"
    t0 = start + duration * 0.3
    for i in range(40):
        dst = "10.0.2.%d" % (i + 1)
        emit(t0 + i * 0.05, tcp(hs, dst, 40000 + i, 22, "S"), "tcp", hs, dst)
    truth.horizontal.append({"src_ip": hs, "dst_port": 22, "targets": 40})

    # Vertical scan: one source, SYN to 30 ports of one host.
    vs, victim = "203.0.113.77", "10.0.1.10"
    t0 = start + duration * 0.6
    for i in range(30):
        emit(t0 + i * 0.05, tcp(vs, victim, 41000, 1000 + i * 7, "S"), "tcp", vs, victim)
    truth.vertical.append({"src_ip": vs, "dst_ip": victim, "targets": 30})

    pcap.close()
    if truth_path:
        with open(truth_path, "w") as f:
            json.dump({"packets": truth.packets, "bytes": truth.bytes,
                       "portscan_horizontal": truth.horizontal,
                       "portscan_vertical": truth.vertical,
                       "start": start, "duration": duration,
                       "hosts": truth.hosts}, f, indent=1, sort_keys=True)


def ssh_session(emit, rnd, c, s, sport, t, client_packets, client_bytes, duration,
                server_packets=None):
    """One SSH connection from c:sport to s:22 starting at t: client_packets packets of
    client_bytes IP bytes in total from the client (SYN, ACK, data, FIN), answers from the
    server in between, spread over duration seconds."""
    data = client_packets - 3
    payload = client_bytes - 40 * client_packets
    assert data >= 1 and payload >= data, (client_packets, client_bytes)
    sizes = [payload // data] * data
    sizes[-1] += payload - sum(sizes)
    server_packets = server_packets or client_packets
    step = duration / (client_packets + 1)
    emit(t, tcp(c, s, sport, 22, "S"), "tcp", c, s)
    emit(t + step * 0.5, tcp(s, c, 22, sport, "SA"), "tcp", s, c)
    emit(t + step, tcp(c, s, sport, 22, "A"), "tcp", c, s)
    answers = server_packets - 2
    for k, n in enumerate(sizes):
        ts = t + step * (k + 2)
        emit(ts, tcp(c, s, sport, 22, "PA", n), "tcp", c, s)
        if k < answers:
            emit(ts + step * 0.5, tcp(s, c, 22, sport, "PA", rnd.randint(60, 600)), "tcp", s, c)
    end = t + duration
    emit(end - step * 0.5, tcp(s, c, 22, sport, "FA"), "tcp", s, c)
    emit(end, tcp(c, s, sport, 22, "FA"), "tcp", c, s)


def generate_ssh(out, truth_path, start, seed):
    """start should be aligned on 300 s (the analysis's windows): window 0 is [start, +300),
    window 1 [+300, +600)."""
    rnd = random.Random(seed)
    pcap = Pcap(out)
    truth = Truth()

    def emit(ts, frame, proto, src, dst):
        pcap.add(ts, frame)
        truth.count(proto, frame, src, dst)

    ports = iter(range(20000, 65000))
    guessers = []

    def guess_run(c, s, n, t0, t1):
        """n failed logins of c at s between t0 and t1 (each 2..6 s: 11..19 packets and
        1900..4900 bytes from the client, inside ssh_auth_simple's bounds)."""
        for i in range(n):
            t = t0 + (t1 - t0 - 7) * i / max(1, n - 1)
            pk = rnd.randint(11, 19)
            ssh_session(emit, rnd, c, s, next(ports), t, pk,
                        rnd.randint(max(1900, 40 * pk + 100), 4900), rnd.uniform(2, 6))
        return n

    w0, w1 = start, start + 300
    # Guessers, each run inside one window.
    for c, s, n, a, b in (("203.0.113.5", "10.0.0.22", 25, w0 + 20, w0 + 280),
                          ("203.0.113.5", "10.0.0.23", 12, w0 + 40, w0 + 200),
                          ("203.0.113.6", "10.0.0.22", 10, w1 + 30, w1 + 150),
                          ("203.0.113.8", "10.0.0.24", 14, w0 + 100, w0 + 290),
                          ("203.0.113.8", "10.0.0.24", 11, w1 + 5, w1 + 200)):
        guess_run(c, s, n, a, b)
        guessers.append({"src_ip": c, "dst_ip": s, "window_start_ms": int(
            (w0 if a < w1 else w1) * 1000), "flows": n})
    normal = []
    # One guess short of an attack, and a user who mistyped twice before logging in.
    guess_run("198.51.100.9", "10.0.0.22", 9, w0 + 10, w0 + 250)
    guess_run("10.0.1.30", "10.0.0.22", 3, w0 + 60, w0 + 90)
    normal += ["198.51.100.9", "10.0.1.30"]
    # Interactive sessions: long, many packets.
    for i, c in enumerate(("10.0.1.10", "10.0.1.11", "10.0.1.12")):
        ssh_session(emit, rnd, c, "10.0.0.22", next(ports), w0 + 5 + i * 40,
                    rnd.randint(150, 400), rnd.randint(20000, 60000), rnd.uniform(60, 400))
        normal.append(c)
    # Automation: 20 short key-authenticated command runs (more packets and bytes than a
    # failed login), and git over SSH (large transfers).
    for i in range(20):
        ssh_session(emit, rnd, "10.0.1.20", "10.0.0.22", next(ports), w0 + 10 + i * 12,
                    rnd.randint(22, 30), rnd.randint(6000, 9000), rnd.uniform(0.5, 2))
    for i in range(15):
        ssh_session(emit, rnd, "10.0.1.40", "10.0.0.23", next(ports), w1 + 10 + i * 15,
                    rnd.randint(40, 80), rnd.randint(30000, 90000), rnd.uniform(1, 8))
    normal += ["10.0.1.20", "10.0.1.40"]
    # Some other traffic of the guessers' servers (web), for a realistic mix.
    for i in range(40):
        c = "10.0.1.%d" % (100 + i % 10)
        t = start + rnd.uniform(0, 590)
        emit(t, tcp(c, "10.0.0.22", 30000 + i, 443, "S"), "tcp", c, "10.0.0.22")
        emit(t + 0.01, tcp("10.0.0.22", c, 443, 30000 + i, "SA"), "tcp", "10.0.0.22", c)
        emit(t + 0.02, tcp(c, "10.0.0.22", 30000 + i, 443, "PA", 300), "tcp", c, "10.0.0.22")
    pcap.close()
    if truth_path:
        with open(truth_path, "w") as f:
            json.dump({"packets": truth.packets, "bytes": truth.bytes, "start": start,
                       "duration": 600, "ssh_auth_simple": guessers, "ssh_normal": normal},
                      f, indent=1, sort_keys=True)


def generate_flood(out, truth_path, start, seed):
    """start should be aligned on 30 s (the analysis's windows). Rates in packets per second
    each way; softflowd with maxlife=1 cuts the conversations into one-second flows, so each
    30 s window gets its own packets."""
    rnd = random.Random(seed)
    pcap = Pcap(out)
    truth = Truth()

    def emit(ts, frame, proto, src, dst):
        pcap.add(ts, frame)
        truth.count(proto, frame, src, dst)

    def conversation(client, server, cport, t0, t1, rate_in, rate_out):
        """rate_in packets/s from client to server:443, rate_out answers, from t0 to t1."""
        for rate, a, b, sp, dp in ((rate_in, client, server, cport, 443),
                                   (rate_out, server, client, 443, cport)):
            n = int((t1 - t0) * rate)
            for k in range(n):
                ts = t0 + (k + 0.5) / rate
                emit(ts, tcp(a, b, sp, dp, "PA", rnd.randint(20, 120)), "tcp", a, b)

    end = start + 1740  # the flood's windows become final (allowed_lateness) before the end
    flood_at = start + 1500
    # The victim: a web server at 4 packets/s each way, the whole time.
    conversation("192.0.2.10", "10.0.0.80", 40001, start, end, 4, 4)
    # A busy server: 4 packets/s, then 150 from 1320 s (in > min_incoming, ratio as ever).
    conversation("192.0.2.20", "10.0.0.90", 40002, start, start + 1320, 4, 4)
    conversation("192.0.2.21", "10.0.0.90", 40003, start + 1320, end, 150, 150)
    # A backup target: receives ten times what it sends, then five times more of both.
    conversation("192.0.2.30", "10.0.0.91", 40004, start, start + 1320, 40, 4)
    conversation("192.0.2.31", "10.0.0.91", 40005, start + 1320, end, 200, 20)
    # The flood: 40 spoofed sources, 5 SYN/s each (more than the victim's client sends), 60 s,
    # to the victim and to 10.0.0.99 (an address without history); neither answers.
    sources = ["198.18.0.%d" % i for i in range(1, 41)]
    for i, src in enumerate(sources):
        for k in range(300):
            ts = flood_at + 0.1 + k * 0.2 + i * 0.002
            emit(ts, tcp(src, "10.0.0.80", 50000 + i, 80, "S"), "tcp", src, "10.0.0.80")
            emit(ts + 0.001, tcp(src, "10.0.0.99", 50000 + i, 80, "S"), "tcp", src, "10.0.0.99")
    pcap.close()
    if truth_path:
        with open(truth_path, "w") as f:
            json.dump({"packets": truth.packets, "bytes": truth.bytes, "start": start,
                       "duration": 1740,
                       "ddos": [{"dst_ip": "10.0.0.80", "window_start_ms": int(w * 1000)}
                                for w in (flood_at, flood_at + 30)],
                       "ddos_attackers": sources,
                       "ddos_never": ["10.0.0.90", "10.0.0.91", "10.0.0.99"]},
                      f, indent=1, sort_keys=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=["demo", "test", "scans", "ssh", "flood"], default="test")
    ap.add_argument("--out", required=True, help="pcap file to write")
    ap.add_argument("--truth", help="JSON file with the ground truth")
    ap.add_argument("--start", type=float, default=None,
                    help="epoch seconds of the first packet (default: now - duration)")
    ap.add_argument("--seed", type=int, default=4739)
    a = ap.parse_args()
    import time
    start = a.start if a.start is not None else float(int(time.time()) - 130)
    if a.profile == "ssh":
        generate_ssh(a.out, a.truth, start, a.seed)
    elif a.profile == "flood":
        generate_flood(a.out, a.truth, start, a.seed)
    else:
        generate(a.profile, a.out, a.truth, start, a.seed)


if __name__ == "__main__":
    main()
