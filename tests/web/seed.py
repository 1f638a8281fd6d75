#!/usr/bin/env python3
"""Fills Elasticsearch with realistic Stream4Flow results for the web tests and the benchmark.

Writes, under a private index prefix, what the worker + sink would: protocols_statistics every
10 s, host_stats every minute for a few local hosts, port scans now and then, and one temporal
profile per host, over the last N hours, following the results contract (docs/schemas/).
An index template gives the fields the sink's types (ip, date, keyword, long).

    seed.py --es URL --prefix s4ftest-web-123 [--hours 24] [--delete]

Standard library only. Deterministic for a given --seed, except that windows end at 'now'.
"""
import argparse
import datetime
import json
import random
import sys
import urllib.error
import urllib.request

TYPES = ["protocols_statistics", "portscan_horizontal", "portscan_vertical", "host_stats",
         "host_stats_temporal_profile", "tls_classification", "top_n_host_stats",
         "ssh_auth_simple", "detection.ddos"]
# tls_classification per 5-minute window: every stat type's values sum to the same 10 flows.
TLS = {"os": [("Windows", 5), ("Android", 3), ("Unknown", 2)],
       "browser": [("Chrome", 6), ("Unknown", 4)],
       "application": [("Desktop:Browser", 6), ("Mobile:Application", 2), ("Unknown:Unknown", 2)]}
LOCAL_HOSTS = ["10.0.0.%d" % i for i in (5, 7, 10, 21, 33, 42, 60, 77)] + ["2001:db8::10"]
SCANNERS = ["192.0.2.66", "198.51.100.23", "203.0.113.9"]
PROTO_SHARE = {"tcp": 0.72, "udp": 0.22, "icmp": 0.04, "icmpv6": 0.01, "other": 0.01}


def iso(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def req(es, method, path, body=None, ndjson=False):
    data = None
    headers = {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
    r = urllib.request.Request(es + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def template(es, prefix):
    long_ = {"type": "long"}
    props = {
        "@type": {"type": "keyword"}, "id": {"type": "keyword"}, "protocol": {"type": "keyword"},
        "@timestamp": {"type": "date"}, "window_start": {"type": "date"},
        "window_end": {"type": "date"}, "timestamp": {"type": "date"},
        "src_ip": {"type": "ip"}, "dst_ip": {"type": "ip"}, "host": {"type": "ip"},
        "top_peers": {"properties": {"ip": {"type": "ip"}, "flows": long_}},
        "top_ports": {"properties": {"port": long_, "flows": long_}},
        "@stat_type": {"type": "keyword"},
        "data_array": {"type": "nested", "properties": {"key": {"type": "keyword"}, "value": long_}},
    }
    for f in ("flows", "packets", "bytes", "dst_port", "targets_total", "flows_increment",
              "duration_in_milliseconds", "flows_out", "flows_in", "packets_out", "packets_in",
              "bytes_out", "bytes_in", "peers_distinct", "dst_ports_distinct",
              "avg_flow_duration_ms"):
        props[f] = long_
    body = {"index_patterns": [prefix + "-*"], "priority": 500,
            "template": {"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                         "mappings": {"dynamic": True, "properties": props}}}
    st, res = req(es, "PUT", "/_index_template/" + prefix, body)
    if st != 200:
        sys.exit("index template: %s %s" % (st, res))


def doc(prefix, typ, ws, we, key, fields):
    d = {"@type": typ, "@timestamp": iso(we), "window_start": iso(ws), "window_end": iso(we),
         "id": "%s-%d-%s-p0-3" % (typ, we, key)}
    d.update(fields)
    day = datetime.datetime.fromtimestamp(we / 1000, tz=datetime.timezone.utc).strftime("%Y.%m.%d")
    return "%s-%s-%s" % (prefix, typ, day), d


def generate(prefix, hours, now_ms, rnd):
    end = now_ms - now_ms % 10000
    start = end - hours * 3600 * 1000
    out = []
    for we in range(start + 10000, end + 1, 10000):
        hour = (we // 3600000) % 24
        load = 0.6 + 0.4 * abs(12 - hour) / 12.0
        total = int(rnd.gauss(4000, 300) * load)
        for proto, share in PROTO_SHARE.items():
            flows = max(1, int(total * share * rnd.uniform(0.8, 1.2)))
            packets = flows * rnd.randint(3, 12)
            out.append(doc(prefix, "protocols_statistics", we - 10000, we, proto,
                           {"protocol": proto, "flows": flows, "packets": packets,
                            "bytes": packets * rnd.randint(80, 1200)}))
    for we in range(start + 60000, end + 1, 60000):
        for i, h in enumerate(LOCAL_HOSTS):
            w = (len(LOCAL_HOSTS) - i) * 40
            fo, fi = rnd.randint(w, 2 * w), rnd.randint(w // 2, w)
            po, pi = fo * rnd.randint(4, 9), fi * rnd.randint(4, 9)
            peers = ["10.0.1.%d" % rnd.randint(1, 30) for _ in range(3)]
            out.append(doc(prefix, "host_stats", we - 60000, we, h, {
                "host": h, "flows_out": fo, "flows_in": fi, "packets_out": po, "packets_in": pi,
                "bytes_out": po * 700, "bytes_in": pi * 300,
                "peers_distinct": rnd.randint(3, 40), "dst_ports_distinct": rnd.randint(2, 25),
                "avg_flow_duration_ms": rnd.randint(50, 4000),
                "tcp_flags": {"FIN": fo // 2, "SYN": fo, "RST": fo // 20, "PSH": fo // 3,
                              "ACK": fo, "URG": 0, "ECE": 0, "CWR": 0},
                "top_ports": [{"port": p, "flows": rnd.randint(1, w)} for p in (443, 80, 53)],
                "top_peers": [{"ip": p, "flows": rnd.randint(1, w)} for p in sorted(set(peers))],
            }))
    for k in range(hours * 8):
        we = start + rnd.randint(1, hours * 360) * 10000
        src = rnd.choice(SCANNERS)
        flows = rnd.randint(30, 3000)
        fields = {"src_ip": src, "flows": flows, "targets_total": rnd.randint(20, 500),
                  "flows_increment": rnd.randint(1, flows), "timestamp": iso(we - 5000),
                  "duration_in_milliseconds": rnd.randint(1000, 60000)}
        if k % 2:
            fields["dst_ip"] = rnd.choice(LOCAL_HOSTS)
            out.append(doc(prefix, "portscan_vertical", we - 10000, we, src + "-" + fields["dst_ip"], fields))
        else:
            fields["dst_port"] = rnd.choice([22, 23, 445, 3389, 8080])
            out.append(doc(prefix, "portscan_horizontal", we - 10000, we,
                           "%s-%d" % (src, fields["dst_port"]), fields))
    for we in range(start + 300000, end + 1, 300000):
        for st, items in TLS.items():
            out.append(doc(prefix, "tls_classification", we - 30000, we, st, {
                "@stat_type": st, "data_array": [{"key": k, "value": v} for k, v in items]}))
    # top_n_host_stats: each local host's lists in 60 s windows sliding by 30 s (newest last).
    for we in range(start + 60000, end + 1, 30000):
        for i, h in enumerate(LOCAL_HOSTS):
            http = {} if i % 2 else {"0": {"http_host": "www.example.org", "flows": 7},
                                     "1": {"http_host": "cdn.example.org", "flows": 2}}
            out.append(doc(prefix, "top_n_host_stats", we - 60000, we, h, {
                "src_ip": h, "stats": {
                    "top_n_dst_ports": {"0": {"port": 443, "flows": 12}, "1": {"port": 80, "flows": 9}},
                    "top_n_dst_hosts": {"0": {"dst_host": "198.51.100.%d" % (i + 1), "flows": 15}},
                    "top_n_http_dst": http}}))
    # A declarative rule's results (rule_<name>, docs/rules.md) and pattern_finder's: both on
    # the Detections page; pattern_finder has its own page too.
    for k in range(hours):
        we = start + rnd.randint(1, hours * 360) * 10000
        src = rnd.choice(SCANNERS)
        out.append(doc(prefix, "rule_ssh_outside", we - 60000, we, src,
                       {"src_ip": src, "flows": rnd.randint(11, 500), "hosts": rnd.randint(11, 60),
                        "top_hosts": [{"value": rnd.choice(LOCAL_HOSTS), "flows": 9}]}))
        conf = ["SSH Brute-force Attack Detection", "Anomaly Detection"][k % 2]
        dst = rnd.choice(LOCAL_HOSTS)
        left = rnd.randint(7, 30)
        out.append(doc(prefix, "pattern_finder", we - 300000, we, "%d|%s|%s" % (k % 2, src, dst),
                       {"configuration": conf, "src_ip": src, "dst_ip": dst,
                        "vector_key": "%s|%s" % (src, dst), "vectors": left // 3,
                        "data_array": [{"name": "hydra", "distribution": [left, 0, 0, 0, 2, 0]},
                                       {"name": "medusa", "distribution": [0, 0, 0, 0, 2, 4]}],
                        "closest_patterns": [{"name": "hydra", "confidence": "High",
                                              "ratio": left / 2.0}],
                        "confidence": "High"}))
    for h in LOCAL_HOSTS:
        hours_list = []
        for k in range(24):
            hs = end - end % 3600000 - (23 - k) * 3600000
            f = rnd.randint(100, 5000)
            hours_list.append({"hour_start": iso(hs), "flows": f, "packets": f * 7, "bytes": f * 4000})
        out.append(doc(prefix, "host_stats_temporal_profile", end - 86400000, end, h,
                       {"host": h, "hours": hours_list}))
    # SSH password guessing (after the rest, so that the other documents stay as they were).
    for k in range(hours * 2):
        we = start + rnd.randint(1, hours * 12) * 300000
        src, dst = rnd.choice(SCANNERS), rnd.choice(LOCAL_HOSTS[:4])
        flows = rnd.randint(10, 200)
        out.append(doc(prefix, "ssh_auth_simple", we - 300000, we, src + "-" + dst, {
            "src_ip": src, "dst_ip": dst, "flows": flows, "flows_increment": flows,
            "average_packet_count": round(rnd.uniform(11, 19), 2),
            "duration_in_milliseconds": flows * rnd.randint(2000, 6000),
            "timestamp": iso(we - 290000)}))
    # DDoS victims: a few floods of a few windows each.
    for k in range(max(1, hours // 4)):
        victim = LOCAL_HOSTS[k % 3]
        w0 = start + rnd.randint(10, hours * 120 - 10) * 30000
        for m in range(rnd.randint(2, 6)):
            we = w0 + (m + 1) * 30000
            pin = rnd.randint(150000, 900000)
            out.append(doc(prefix, "detection.ddos", we - 30000, we, victim, {
                "dst_ip": victim, "shortratio": round(pin / 500.0, 4),
                "longratio": round(rnd.uniform(0.8, 1.5) + m * 0.5, 4),
                "attackers": ["198.18.0.%d" % i for i in range(1, 11)],
                "packets_in": pin, "packets_out": 500, "sources": rnd.randint(50, 5000)}))
    return out


def bulk(es, docs, chunk=5000):
    for i in range(0, len(docs), chunk):
        lines = []
        for index, d in docs[i:i + chunk]:
            lines.append(json.dumps({"index": {"_index": index, "_id": d["id"]}}))
            lines.append(json.dumps(d))
        st, res = req(es, "POST", "/_bulk", "\n".join(lines) + "\n", ndjson=True)
        if st != 200 or res.get("errors"):
            bad = [it for it in res.get("items", []) if it["index"].get("status", 500) >= 300]
            sys.exit("bulk failed: %s %s" % (st, json.dumps(bad[:2])))
    req(es, "POST", "/_refresh")


def delete(es, prefix):
    req(es, "DELETE", "/%s-*?expand_wildcards=all" % prefix)
    req(es, "DELETE", "/_index_template/" + prefix)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--es", default="http://127.0.0.1:9200")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--delete", action="store_true")
    a = ap.parse_args()
    if not a.prefix.startswith("s4ftest-") and not a.prefix.startswith("s4fbench-"):
        sys.exit("refusing a prefix that does not start with s4ftest- or s4fbench-")
    if a.delete:
        delete(a.es, a.prefix)
        return
    import time
    template(a.es, a.prefix)
    docs = generate(a.prefix, a.hours, int(time.time() * 1000), random.Random(a.seed))
    bulk(a.es, docs)
    print("indexed %d documents under %s-*" % (len(docs), a.prefix))


if __name__ == "__main__":
    main()
