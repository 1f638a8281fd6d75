#!/usr/bin/env python3
"""One minute of demo flow records with application fields, for `./stream4flow up`'s feeder.

  demo_app_records.py --start EPOCH_S [--seed N] --out FILE

Writes flow records in the collector's JSON form (one a line) for s4f-ipfix-export, which
sends them as a Flowmon or ipfixprobe probe would: TLS clients with fingerprints of the shipped
dictionary (tls_classification), plain HTTP with its request host (top_n_host_stats' HTTP
list), and an SSH password guesser making 12 failed logins a minute among normal sessions
(ssh_auth_simple reports it once per 300 s window). softflowd, which makes the rest of the
demo traffic, exports no application fields; the DNS part comes from dns_scenario.py.
"""
import argparse
import json
import random

# Fingerprints the shipped dictionary classifies (see tests/worker/run_app_tests.py).
TLS = [
    {"ipfix.TLSClientCipherSuites": "0x040005000a0009006400620003000600"},  # Windows, MSIE
    {"ipfix.TLSClientCipherSuites": "0x040005002f00350002c004c005c00cc0"},  # Android
    {"ipfix.TLS_SNI": "fe2.update.microsoft.com", "ipfix.TLS_JA4": "t13d0000h2_x_y"},
    {"ipfix.TLSClientCipherSuites": "0x3412785600000000",
     "ipfix.TLSJA3": "0x00112233445566778899aabbccddeeff"},  # in no line: Unknown
]
HTTP_HOSTS = ["www.example.org", "cdn.example.org", "api.example.net", "example.com"]


def rec(src, dst, sport, dport, pkts, octets, start_ms, end_ms, extra=None):
    r = {"ipfix.sourceIPv4Address": src, "ipfix.destinationIPv4Address": dst,
         "ipfix.sourceTransportPort": sport, "ipfix.destinationTransportPort": dport,
         "ipfix.protocolIdentifier": 6, "ipfix.tcpControlBits": 0x1b,
         "ipfix.packetDeltaCount": pkts, "ipfix.octetDeltaCount": octets,
         "ipfix.flowStartMilliseconds": start_ms, "ipfix.flowEndMilliseconds": end_ms}
    r.update(extra or {})
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start", type=int, required=True, help="first second of the minute")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    t0 = a.start * 1000
    recs = []

    def at():
        return t0 + rnd.randrange(1000, 55000)

    for i in range(40):  # TLS clients
        end = at()
        recs.append(rec("10.0.3.%d" % (10 + i % 20), "198.51.100.%d" % rnd.randint(1, 8),
                        rnd.randint(30000, 60000), 443, rnd.randint(8, 40),
                        rnd.randint(2000, 40000), end - rnd.randint(100, 5000), end,
                        TLS[rnd.randrange(len(TLS))]))
    for i in range(20):  # plain HTTP
        end = at()
        recs.append(rec("10.0.3.%d" % (10 + i % 20), "198.51.100.%d" % rnd.randint(10, 12),
                        rnd.randint(30000, 60000), 80, rnd.randint(5, 20),
                        rnd.randint(1000, 20000), end - rnd.randint(100, 3000), end,
                        {"ipfix.HTTPRequestHost": rnd.choice(HTTP_HOSTS)}))
    for i in range(12):  # failed logins: 11-19 packets, 1900-4900 bytes, 2-6 s
        end = t0 + 2000 + i * 4500
        recs.append(rec("203.0.113.5", "10.0.0.22", rnd.randint(40000, 60000), 22,
                        rnd.randint(12, 18), rnd.randint(2000, 4800),
                        end - rnd.randint(2000, 6000), end))
    end = at()  # an administrator's interactive session: not a guess
    recs.append(rec("10.0.1.30", "10.0.0.22", rnd.randint(40000, 60000), 22, 250, 40000,
                    end - 50000, end))
    recs.sort(key=lambda r: r["ipfix.flowEndMilliseconds"])
    with open(a.out, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
