#!/usr/bin/env python3
"""Real probes into the real collector on the real broker, checked against nfdump.

  probe_totals.py softflowd-v5 | softflowd-v9 | softflowd-ipfix | pmacct-ipfix
  probe_totals.py replay FILE.pcap [FILE.pcap ...]      (exporter captures, in order)

The export of the probe (or the replayed datagrams) passes through a UDP tee to both
s4f-collector and nfcapd, so both decode exactly the same datagrams. The per-protocol flow,
packet and byte totals read back from the Kafka topic must equal nfdump's. Every record is
validated against docs/ipfix-entry.schema.json. Exit 0 on success."""
import collections
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import s4ftest as t  # noqa: E402
import schema_check  # noqa: E402

PROTO_NAMES = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58, "GRE": 47}


def proto_bucket(num):
    return {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(num, "other")


def nfdump_totals(nfdir):
    out = subprocess.run(["nfdump", "-R", nfdir, "-q", "-N", "-o", "fmt:%pr|%pkt|%byt"],
                         capture_output=True, text=True, check=True).stdout
    tot = collections.defaultdict(lambda: [0, 0, 0])
    for line in out.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        pr = parts[0]
        num = int(pr) if pr.isdigit() else PROTO_NAMES.get(pr.upper(), 255)
        b = tot[proto_bucket(num)]
        b[0] += 1
        b[1] += int(parts[1])
        b[2] += int(parts[2])
    return dict(tot)


def record_totals(records):
    """Totals as exported: nfdump does not renormalise sampled counters, the collector does
    (keeping the interval in s4f.sampling_interval), so divide it back out to compare."""
    tot = collections.defaultdict(lambda: [0, 0, 0])
    for r in records:
        b = tot[proto_bucket(r.get("ipfix.protocolIdentifier", 255))]
        n = r.get("s4f.sampling_interval", 1) or 1
        b[0] += 1
        b[1] += r.get("ipfix.packetDeltaCount", 0) // n
        b[2] += r.get("ipfix.octetDeltaCount", 0) // n
    return dict(tot)


def run_probe(kind, pcap, port, wd):
    if kind.startswith("softflowd"):
        ver = {"softflowd-v5": "5", "softflowd-v9": "9", "softflowd-ipfix": "10"}[kind]
        t.run_softflowd(pcap, port, ver)
    elif kind == "pmacct-ipfix":
        t.run_pmacctd(pcap, port, wd)
    else:
        raise SystemExit("unknown probe " + kind)


def main():
    kind = sys.argv[1]
    wd = t.workdir("s4f-probe-")
    topic = t.unique("test.collector." + kind.replace("-", "_"))
    procs = []
    ok = False
    try:
        t.create_topic(topic, 4)
        col, col_port, mport = t.start_collector(wd, topic)
        procs.append(col)
        nf_port = t.free_port()
        nfdir = os.path.join(wd, "nf")
        os.mkdir(nfdir)
        nf = t.Proc("nfcapd", ["nfcapd", "-w", nfdir, "-p", str(nf_port), "-b", "127.0.0.1",
                               "-t", "3600"], wd)
        procs.append(nf)
        t.wait_for(lambda: t.udp_port_bound(nf_port), 20, "nfcapd to bind")
        tee = subprocess.Popen([sys.executable, os.path.join(t.TOOLS, "udp_tee.py"), "--to",
                                "127.0.0.1:%d" % col_port, "--to", "127.0.0.1:%d" % nf_port],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        tee_port = int(tee.stdout.readline())

        if kind == "replay":
            subprocess.run([sys.executable, os.path.join(t.TOOLS, "replay_pcap.py"),
                            "127.0.0.1:%d" % tee_port] + sys.argv[2:], check=True,
                           capture_output=True)
        else:
            pcap = os.path.join(wd, "traffic.pcap")
            subprocess.run([sys.executable, os.path.join(t.TOOLS, "gen_traffic.py"), "--profile",
                            "test", "--out", pcap], check=True)
            run_probe(kind, pcap, tee_port, wd)

        # Everything the tee forwarded must have been decoded and acknowledged by Kafka.
        m = t.collector_settled(mport)
        tee.terminate()
        tee.wait()
        nf.stop()  # SIGTERM flushes nfcapd's file
        expected = int(m.get("s4f_collector_records_total", 0))
        lines = t.consume(topic, expect=expected, idle_ms=2000)
        records = [json.loads(l) for l in lines]
        with open(os.path.join(t.SRC, "docs", "ipfix-entry.schema.json")) as f:
            schema = json.load(f)
        invalid = [(r, e) for r in records for e in [schema_check.validate(schema, r)] if e]
        ours = record_totals(records)
        theirs = nfdump_totals(nfdir)
        print("%-8s %28s   %28s" % ("protocol", "s4f (flows packets bytes)", "nfdump (flows packets bytes)"))
        for p in sorted(set(ours) | set(theirs)):
            print("%-8s %28s   %28s" % (p, ours.get(p), theirs.get(p)))
        errors = {k: v for k, v in m.items() if k.startswith("s4f_collector_decode_errors_total") and v}
        print("records on Kafka: %d (collector counted %d); decode errors: %s; invalid: %d" % (
            len(records), expected, errors or "none", len(invalid)))
        for r, e in invalid[:5]:
            print("INVALID:", e[:3], json.dumps(r)[:300])
        ok = (ours == theirs and len(records) == expected and not invalid and
              (expected > 0 or os.environ.get("S4F_ALLOW_EMPTY")))
        print("PASS" if ok else "FAIL")
    finally:
        for p in procs:
            p.stop()
        t.delete_topic(topic)
        if ok:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            print("logs kept in", wd)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
