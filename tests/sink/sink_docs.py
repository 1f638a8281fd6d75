#!/usr/bin/env python3
"""Helpers of the sink tests (standard library only).

  sink_docs.py gen N [--start K] [--bad-mapping M] [--invalid M]
      prints N result documents, one JSON per line, cycling through every result type; ids are
      "doc-<i>" for i in [K, K+N); times are recent so that retention keeps them.
      --bad-mapping adds M documents that break the mapping (a string where a long is due),
      --invalid M messages the sink itself refuses (not JSON, no id).
  sink_docs.py compare PREFIX EXPECTED.ndjson HITS.json
      checks that HITS (an _search answer) holds exactly the documents of EXPECTED (the last of
      each id wins), byte-for-byte equal as JSON, each in <PREFIX>-<type>-<UTC day of @timestamp>.
  sink_docs.py validate SCHEMA_DIR DOCS.ndjson
      validates each document against SCHEMA_DIR/<@type>.schema.json (docs/schemas/, the
      workers' contract), so that the tests feed the sink what workers emit; skipped (exit 0)
      when the jsonschema module is missing.
  sink_docs.py capture PREFIX EXPECTED.ndjson CAPTURE.ndjson
      checks that the captured bulk bodies are well-formed NDJSON index actions and that every
      expected document was sent with the right _index and _id.
"""
import datetime
import json
import os
import sys
import time

TYPES = ["protocols_statistics", "portscan_horizontal", "portscan_vertical", "host_stats",
         "host_stats_temporal_profile", "ssh_auth_simple", "detection.ddos"]


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def result(i, base_ms):
    t = TYPES[i % len(TYPES)]
    end = base_ms - (i % 3600) * 1000
    end -= end % 1000
    doc = {"@type": t, "@timestamp": iso(end), "window_start": iso(end - 10000),
           "window_end": iso(end), "id": "doc-%d" % i}
    ip = "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
    if t == "protocols_statistics":
        doc.update(protocol=["tcp", "udp", "icmp", "icmpv6", "other"][i % 5], flows=i,
                   packets=i * 10, bytes=i * 1000)
    elif t.startswith("portscan"):
        doc.update(src_ip=ip, flows=20 + i % 7, targets_total=30 + i % 5, flows_increment=3,
                   duration_in_milliseconds=1234, timestamp=iso(end - 500))
        if t == "portscan_horizontal":
            doc["dst_port"] = 22
        else:
            doc["dst_ip"] = "192.0.2.%d" % (i % 250 + 1)
    elif t == "host_stats":
        doc.update(host=ip if i % 2 else "2001:db8::%x" % (i & 0xffff), flows_out=i, flows_in=2,
                   packets_out=3, packets_in=4, bytes_out=5, bytes_in=6, peers_distinct=7,
                   dst_ports_distinct=8, avg_flow_duration_ms=1250 + i % 7,
                   tcp_flags={"FIN": 1, "SYN": 2, "RST": 0, "PSH": 3, "ACK": 4, "URG": 0,
                              "ECE": 0, "CWR": 0},
                   top_ports=[{"port": 443, "flows": 9}, {"port": 80, "flows": 1}],
                   top_peers=[{"ip": "192.0.2.1", "flows": 9}, {"ip": "2001:db8::1", "flows": 1}])
    elif t == "ssh_auth_simple":
        doc.update(src_ip=ip, dst_ip="192.0.2.%d" % (i % 250 + 1), flows=10 + i % 9,
                   average_packet_count=14.25, duration_in_milliseconds=30000 + i,
                   timestamp=iso(end - 290000), flows_increment=10 + i % 9)
    elif t == "detection.ddos":
        doc.update(dst_ip=ip, shortratio=812.5 + i, longratio=1.0625,
                   attackers=["198.18.0.%d" % (k + 1) for k in range(i % 4)] + ["2001:db8::66"],
                   packets_in=150000 + i, packets_out=185, sources=40 + i)
    else:
        doc.update(host=ip, hours=[{"hour_start": iso(end - end % 3600000 - h * 3600000),
                                    "flows": h, "packets": h * 2, "bytes": h * 3}
                                   for h in range(3)])
    return doc


def gen(args):
    n = int(args[0])
    start = 0
    bad = invalid = 0
    i = 1
    while i < len(args):
        if args[i] == "--start":
            start = int(args[i + 1])
        elif args[i] == "--bad-mapping":
            bad = int(args[i + 1])
        elif args[i] == "--invalid":
            invalid = int(args[i + 1])
        i += 2
    base = int(time.time() * 1000)
    out = sys.stdout
    for k in range(start, start + n):
        out.write(json.dumps(result(k, base), separators=(",", ":")) + "\n")
    for k in range(bad):
        d = result(k * len(TYPES), base)  # a protocols_statistics document
        d["id"] = "bad-mapping-%d" % k
        d["flows"] = "not-a-number"
        out.write(json.dumps(d, separators=(",", ":")) + "\n")
    for k in range(invalid):
        out.write("this is not json {%d\n" % k if k % 2 == 0 else
                  json.dumps({"@type": "protocols_statistics", "no_id": k}) + "\n")


def load_expected(path):
    exp = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                d = json.loads(line)
                exp[d["id"]] = d
    return exp


def index_of(prefix, d):
    ts = d["@timestamp"]
    return "%s-%s-%s" % (prefix, d["@type"], ts[0:10].replace("-", "."))


def compare(args):
    prefix, expected, hits = args
    exp = load_expected(expected)
    with open(hits) as f:
        got = json.load(f)["hits"]["hits"]
    errors = []
    seen = set()
    for h in got:
        i = h["_id"]
        if i in seen:
            errors.append("duplicate _id %s" % i)
        seen.add(i)
        if i not in exp:
            errors.append("unexpected document %s" % i)
            continue
        if h["_source"] != exp[i]:
            errors.append("document %s differs:\n  want %s\n  got  %s" % (i, exp[i], h["_source"]))
        if h["_index"] != index_of(prefix, exp[i]):
            errors.append("document %s in %s, want %s" % (i, h["_index"], index_of(prefix, exp[i])))
    for i in exp:
        if i not in seen:
            errors.append("missing document %s" % i)
    for e in errors[:20]:
        print(e, file=sys.stderr)
    print("compare: %d expected, %d found, %d errors" % (len(exp), len(got), len(errors)))
    return 1 if errors else 0


def capture(args):
    prefix, expected, cap = args
    exp = load_expected(expected)
    sent = {}
    with open(cap) as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 2:
        print("capture: odd number of lines", file=sys.stderr)
        return 1
    for k in range(0, len(lines), 2):
        action = json.loads(lines[k])
        doc = json.loads(lines[k + 1])
        if list(action) != ["index"]:
            print("capture: action is not index: %s" % lines[k], file=sys.stderr)
            return 1
        sent[action["index"]["_id"]] = (action["index"]["_index"], doc)
    bad = 0
    for i, d in exp.items():
        if i not in sent or sent[i][0] != index_of(prefix, d) or sent[i][1] != d:
            print("capture: %s not sent as expected: %s" % (i, sent.get(i)), file=sys.stderr)
            bad += 1
    print("capture: %d bulk lines, %d expected documents checked, %d bad" %
          (len(lines), len(exp), bad))
    return 1 if bad else 0


def validate(args):
    """Every document against its schema in docs/schemas, with the project's own checker
    (tests/tools/schema_check.py: no third-party module needed)."""
    sdir, docs = args
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import schema_check
    bad = n = 0
    for line in open(docs):
        d = json.loads(line)
        path = os.path.join(sdir, d["@type"] + ".schema.json")
        if not os.path.exists(path):
            print("validate: no schema %s" % path, file=sys.stderr)
            bad += 1
            continue
        n += 1
        errs = schema_check.validate(json.load(open(path)), d)
        if errs:
            print("validate: %s: %s" % (d["id"], "; ".join(errs[:3])), file=sys.stderr)
            bad += 1
    print("validate: %d documents, %d invalid" % (n, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"gen": gen, "compare": compare, "capture": capture, "validate": validate}[cmd](rest)
             or 0)
