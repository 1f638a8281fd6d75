#!/usr/bin/env python3
"""A seeded DNS scenario and its ground truth, for the DNS analyses of s4f-worker.

  dns_scenario.py --seed N [--base MS] --records FILE --truth FILE

Writes flow records in the collector's JSON form (one a line, keyed fields of both probe
families: each client's probe is Flowmon or ipfixprobe at random; uniflows and biflows) and
the truth: what dns_statistics (local network 10.0.0.0/8, the original's filtered-domains
file), dns_open_resolvers (the original's whitelisted domains), reflect_ddos (dns_servers
10.0.0.53, 10.0.0.54) and dns_external_resolvers must report, summed over partitions and
windows, in the form tests/worker/run_dns_tests.py compares. Send the records with
s4f-ipfix-export through a collector, or produce them to Kafka directly.

All DNS of the scenario falls in one 60 s window (base .. base+60 s, base a multiple of 360 s)
and each name is answered by one resolver (so in one partition), so the "names seen once are
left out" rule of dns_statistics applies to whole counts; fewer
than 100 keys per stat type, so no top cut applies. Uniflow reflection is generated so that it
is reported whatever partition the answers land in (more than 10 answer packets), and no
uniflow conversation exceeds 10 answer packets otherwise (see docs/worker.md, reflect_ddos).
"""
import argparse, json, random, time

RCODES = {0: "NoError", 1: "FormErr", 2: "ServFail", 3: "NXDomain", 4: "NotImp", 5: "Refused"}
QTYPES = {1: "A", 28: "AAAA", 15: "MX", 16: "TXT", 2: "NS", 5: "CNAME"}
FILTERED = ("uribl", "spameatingmonkey", "spamhaus")
WHITE = "google.com"


def rec(src, dst, sport, dport, proto, pkts, octets, start, end, extra):
    r = {"@type": "ipfix.entry", "ipfix.sourceIPv4Address": src,
         "ipfix.destinationIPv4Address": dst, "ipfix.sourceTransportPort": sport,
         "ipfix.destinationTransportPort": dport, "ipfix.protocolIdentifier": proto,
         "ipfix.packetDeltaCount": pkts, "ipfix.octetDeltaCount": octets,
         "ipfix.flowStartMilliseconds": start, "ipfix.flowEndMilliseconds": end}
    r.update(extra)
    return r


def dns_fields(layout, name, response, rcode, qtype, addr=None, data=None):
    """addr: answer address (A); data: answer text (CNAME/NS/MX)."""
    if layout == "flowmon":
        x = {"ipfix.DNSName": name, "ipfix.DNSQType": qtype,
             "ipfix.DNSFlagsCodes": (0x8180 | rcode) if response else 0x0100}
        if response:
            x.update({"ipfix.DNSCrrName": name, "ipfix.DNSCrrType": qtype,
                      "ipfix.DNSAnswers": 1 if (addr or data) else 0})
            if addr:
                x["ipfix.DNSRData"] = "0x" + bytes(int(p) for p in addr.split(".")).hex()
            elif data:
                x["ipfix.DNSRData"] = "0x" + data.encode().hex()
        return x
    x = {"ipfix.DNS_NAME": name, "ipfix.DNS_QTYPE": qtype, "ipfix.DNS_RCODE": rcode}
    if response:
        x["ipfix.DNS_ANSWERS"] = 1 if (addr or data) else 0
        if addr or data:
            x["ipfix.DNS_RDATA"] = "0x" + (addr or data).encode().hex()
    return x


def scenario(seed, base):
    rnd = random.Random(seed)
    R = []
    T = {k: {} for k in ("queried_domain", "nonexisting_domain", "response_code", "record_type",
                         "queried_local", "external_dns", "queried_by_ip", "external", "open")}
    T["reflect"] = set()
    names_q, names_nx = {}, {}

    def add(d, k, n=1):
        d[k] = d.get(k, 0) + n

    resolvers = ["8.8.8.8", "1.1.1.1", "9.9.9.9"][: rnd.randint(2, 3)]
    domains = ["d%d.example%d.com" % (i, rnd.randint(0, 9)) for i in range(rnd.randint(8, 14))]
    nxdomains = ["nx%d.example.net" % i for i in range(rnd.randint(2, 4))] + \
        ["%d.%s.example.org" % (i, rnd.choice(FILTERED)) for i in range(2)]
    clients = ["10.0.%d.%d" % (rnd.randint(0, 3), i) for i in rnd.sample(range(2, 250), rnd.randint(6, 12))]
    t = base + 1000
    port = 20000
    naddr = [0]

    def fresh_addr():
        # A new address per answer: a connection follows exactly the answers it should.
        naddr[0] += 1
        return "192.0.%d.%d" % (2 + naddr[0] // 250, 1 + naddr[0] % 250)
    for c in clients:
        layout = rnd.choice(("flowmon", "ipfixprobe"))
        res = rnd.choice(resolvers)
        for _ in range(rnd.randint(2, 6)):
            port += 1
            nx = rnd.random() < 0.2
            # Each name is answered by one resolver only (the resolver's partition sees all
            # its answers: the "seen once" rule of dns_statistics is per partition).
            ri = resolvers.index(res)
            pool = [d for j, d in enumerate(nxdomains if nx else domains)
                    if j % len(resolvers) == ri] or [("nx%d.r%d.example.net" if nx else
                                                      "d%d.r%d.example.com") % (0, ri)]
            name = rnd.choice(pool)
            qtype = 1 if nx else rnd.choice((1, 1, 1, 28, 15))
            rcode = 3 if nx else (5 if rnd.random() < 0.05 else 0)
            ts = t + rnd.randint(0, 40000)
            addr = fresh_addr() if (qtype == 1 and rcode == 0) else None
            R.append(rec(c, res, port, 53, 17, 1, 60, ts, ts + 2, dns_fields(layout, name, False, 0, qtype)))
            R.append(rec(res, c, 53, port, 17, 1, 150, ts + 5, ts + 6,
                         dns_fields(layout, name, True, rcode, qtype, addr=addr)))
            add(T["record_type"], QTYPES[qtype])
            add(T["external_dns"], res)
            add(T["queried_by_ip"], (name, c))
            add(T["response_code"], RCODES[rcode])
            add(names_q, name)
            if rcode == 3:
                add(names_nx, name)
            if rcode != 5:
                add(T["queried_local"], res)
            if addr:
                # connections to the answered address: within 5 s (joined) or later (not)
                for _ in range(rnd.randint(0, 3)):
                    dt = rnd.choice((100, 1500, 4900, 5200, 9000))
                    st = ts + 5 + dt
                    R.append(rec(c, addr, port + 30000, 443, 6, 5, 600, st, st + 200,
                                 {"ipfix.tcpControlBits": 0x1b}))
                    if dt <= 5000:
                        add(T["external"], (c, res))
    for n, k in names_q.items():
        if k > 1:
            T["queried_domain"][n] = k
    for n, k in names_nx.items():
        if k > 1 and not any(f in n for f in FILTERED):
            T["nonexisting_domain"][n] = k
    # open resolvers: local resolvers answering outside hosts
    for res in ("10.0.0.53", "10.0.0.54")[: rnd.randint(1, 2)]:
        for _ in range(rnd.randint(1, 4)):
            q = "203.0.113.%d" % rnd.randint(1, 254)
            kind = rnd.choice(("a", "cname", "white", "nx", "mx"))
            name = {"white": "www." + WHITE}.get(kind, rnd.choice(domains))
            qtype = {"cname": 5, "mx": 15}.get(kind, 1)
            rcode = 3 if kind == "nx" else 0
            addr = "192.0.2.%d" % rnd.randint(1, 254) if qtype == 1 and rcode == 0 else None
            data = "alias.%s" % name if kind == "cname" else ("10 mx.%s" % name if kind == "mx" else None)
            n = rnd.randint(1, 3)
            for k in range(n):
                ts = t + rnd.randint(0, 40000)
                R.append(rec(res, q, 53, 33000 + k, 17, 1, 150, ts, ts + 1,
                             dns_fields("flowmon", name, True, rcode, qtype, addr=addr, data=data)))
                add(T["record_type"], QTYPES[qtype])
            if kind in ("a", "cname"):
                add(T["open"], (res, addr or data, name), n)
    # reflection in base+20 s .. base+40 s: uniflow victims (> 10 answer packets, 500 bytes each),
    # biflow victims (reverse counters), and near misses
    tr = base + 21000
    for i in range(rnd.randint(1, 3)):
        v = "198.51.100.%d" % (10 + i)
        srv = rnd.choice(("10.0.0.53", "10.0.0.54"))
        for k in range(rnd.randint(11, 20)):
            R.append(rec(srv, v, 53, 1234, 17, 1, 500, tr + k * 100, tr + k * 100 + 1, {}))
        R.append(rec(v, srv, 1234, 53, 17, 1, 60, tr, tr + 1, {}))
        T["reflect"].add(v)
    for i in range(rnd.randint(1, 3)):
        v = "198.51.100.%d" % (100 + i)
        R.append(rec(v, "10.0.0.53", 4321, 53, 17, 1, 64, tr, tr + 50,
                     {"ipfix.reversePacketDeltaCount": rnd.randint(11, 40),
                      "ipfix.reverseOctetDeltaCount": rnd.randint(5000, 20000)}))
        T["reflect"].add(v)
    for i in range(rnd.randint(1, 3)):  # near misses: ratio below 3 or 10 packets only
        v = "198.51.100.%d" % (200 + i)
        if i % 2:
            R.append(rec(v, "10.0.0.53", 4000, 53, 17, 1, 1000, tr, tr + 50,
                         {"ipfix.reversePacketDeltaCount": 30, "ipfix.reverseOctetDeltaCount": 3000}))
        else:
            for k in range(10):
                R.append(rec("10.0.0.54", v, 53, 1234, 17, 1, 500, tr + k * 100, tr + k * 100 + 1, {}))
    R.sort(key=lambda r: r["ipfix.flowEndMilliseconds"])
    return R, T


def truth_json(T):
    """JSON-friendly: tuple keys joined with '|', sets as sorted lists."""
    out = {}
    for k, v in T.items():
        if isinstance(v, set):
            out[k] = sorted(v)
        else:
            out[k] = {"|".join(x) if isinstance(x, tuple) else x: n for x, n in v.items()}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--base", type=int, default=None, help="ms, a multiple of 360000")
    ap.add_argument("--records", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    now = int(time.time() * 1000)
    base = a.base if a.base is not None else now - now % 360000 - 720000
    R, T = scenario(a.seed, base)
    with open(a.records, "w") as f:
        for r in R:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    with open(a.truth, "w") as f:
        json.dump(truth_json(T), f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
