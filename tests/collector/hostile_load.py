#!/usr/bin/env python3
"""Hostile load against the real collector on the real broker (issue 12 item 10, issue 13 item 6).

  hostile_load.py flood    10,000 spoofed sources (127.1.0.0/16 and up, all loopback) each send
                           a datagram full of large templates; meanwhile a legitimate exporter
                           announces its template once per round and sends data. The collector's
                           peak RSS stays under 150 MB (its template memory under
                           max_template_memory) and every legitimate flow reaches Kafka with the
                           exact totals sent.
  hostile_load.py tcp      One address opens more IPFIX/TCP connections than
                           tcp_max_connections_per_address (and than there are slots beyond it);
                           a second exporter (127.0.0.2) still connects and its flows arrive.

Exit 0 on success. Only loopback is ever used."""
import os
import shutil
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import s4ftest as t  # noqa: E402

EXPORT_TIME = 0x6553F100
RSS_LIMIT_KB = 150 * 1024


def ipfix(seq, domain, sets):
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body), EXPORT_TIME, seq, domain) + body


def ipfix_set(set_id, payload):
    return struct.pack("!HH", set_id, 4 + len(payload)) + payload


def template(tid, fields):
    return struct.pack("!HH", tid, len(fields)) + b"".join(struct.pack("!HH", i, l) for i, l in fields)


# The legitimate exporter's layout: source, destination, protocol, packets, bytes, start, end.
LEGIT_FIELDS = [(8, 4), (12, 4), (4, 1), (2, 4), (1, 8), (152, 8), (153, 8)]


def legit_template():
    return ipfix_set(2, template(256, LEGIT_FIELDS))


def legit_data(i, n):
    recs = b""
    for k in range(n):
        j = i * n + k
        recs += struct.pack("!4s4sBIQQQ", socket.inet_aton("10.0.%d.%d" % (j // 250 % 250, j % 250 + 1)),
                            socket.inet_aton("10.1.0.1"), 6, 1 + j % 7, 100 + j % 1000,
                            EXPORT_TIME * 1000 - 5000, EXPORT_TIME * 1000 - 1000)
    return ipfix_set(256, recs), sum(1 + (i * n + k) % 7 for k in range(n)), \
        sum(100 + (i * n + k) % 1000 for k in range(n))


def start_collector(wd, topic, extra):
    port = t.free_port()
    conf = t.write(os.path.join(wd, "s4f.yml"), "\n".join([
        "kafka:",
        "  bootstrap.servers: " + t.KAFKA,
        "collector:",
        "  listen: 127.0.0.1:%d" % port,
        "  metrics_listen: 127.0.0.1:0",
        "  topic: " + topic,
        "  rcvbuf: 4M",
        "  sflow_listen: ''",
        "  element_files: [%s]" % os.path.join(t.SRC, "collector/decode/elements/flowmon.xml"),
    ] + extra + [""]))
    col = t.Proc("collector", [os.path.join(t.BUILD, "collector", "s4f-collector"), "-c", conf], wd)
    col.wait_log("receiving on udp")
    return col, port, t.metrics_port_from_log(col)


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def mval(m, name, labels=""):
    return m.get("s4f_collector_" + name + ("{%s}" % labels if labels else ""), 0)


def flood(wd, topic):
    col, port, mport = start_collector(wd, topic, ["  tcp_listen: ''"])
    legit = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    legit.bind(("127.0.0.1", 0))
    # 24 templates of 256 four-byte fields per spoofed datagram (~24 KB): about 340 KB of
    # compiled templates per source, 1.4 GB with only max_exporters (4096) as a limit.
    big = b"".join(template(256 + k, [(1 + (f % 400), 4) for f in range(256)]) for k in range(24))
    flood_dgram = ipfix(0, 1, [ipfix_set(2, big)])
    sources, per_round, recs = 10000, 250, 10
    sent = 0
    legit_pkts = legit_bytes = legit_flows = 0
    seq = 0
    rss_samples = []
    for r in range(sources // per_round):
        # The legitimate exporter announces its template once per round, then sends data
        # between the spoofed datagrams.
        legit.sendto(ipfix(seq, 7, [legit_template()]), ("127.0.0.1", port))
        sent += 1
        for s in range(per_round):
            n = r * per_round + s
            src = "127.1.%d.%d" % (n // 250, n % 250 + 1)
            sp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sp.bind((src, 0))
            sp.sendto(flood_dgram, ("127.0.0.1", port))
            sp.close()
            sent += 1
            if s % 50 == 49:
                data, p, b = legit_data(seq, recs)
                legit.sendto(ipfix(seq * recs, 7, [data]), ("127.0.0.1", port))
                seq += 1
                sent += 1
                legit_pkts += p
                legit_bytes += b
                legit_flows += recs
        # Pace on what the collector has taken in (no fixed sleeps): every datagram sent so far
        # was either decoded or dropped by the kernel (counted).
        t.wait_for(lambda: sum(mval(t.metrics(mport), "datagrams_total", 'version="%s"' % v)
                               for v in ("netflow_v5", "netflow_v9", "ipfix")) +
                   mval(t.metrics(mport), "udp_kernel_drops_total") >= sent,
                   120, "the collector to take in round %d" % r, interval=0.2)
        rss_samples.append(peak_rss_kb(col.p.pid))
    m = t.wait_for(lambda: (lambda m: m if mval(m, "records_total") >= legit_flows and
                            mval(m, "kafka_outq_messages") == 0 else None)(t.metrics(mport)),
                   60, "the legitimate flows to reach Kafka")
    lines = t.consume(topic, expect=legit_flows, idle_ms=2000)
    records = t.load_json_lines(lines)
    pk = sum(x.get("ipfix.packetDeltaCount", 0) for x in records)
    by = sum(x.get("ipfix.octetDeltaCount", 0) for x in records)
    peak = peak_rss_kb(col.p.pid)
    print("sources %d, datagrams %d, kernel drops %d" % (sources, sent, mval(m, "udp_kernel_drops_total")))
    print("templates added %d, evicted by memory %d, exporters evicted %d + %d (memory)" % (
        mval(m, "templates_added_total"), mval(m, "templates_evicted_memory_total"),
        mval(m, "exporters_evicted_total"), mval(m, "exporters_evicted_memory_total")))
    print("template memory %.1f MiB (budget 64); peak RSS %.1f MiB (limit %d%s); per round: %s" % (
        mval(m, "template_memory_bytes") / 1048576, peak / 1024, RSS_LIMIT_KB // 1024,
        ", not checked: sanitizer build" if t.sanitized() else "",
        ",".join("%d" % (x // 1024) for x in rss_samples[::8])))
    print("legitimate: flows %d/%d packets %d/%d bytes %d/%d; decode errors missing_template %d" % (
        len(records), legit_flows, pk, legit_pkts, by, legit_bytes,
        mval(m, "decode_errors_total", 'reason="missing_template"')))
    ok = (len(records) == legit_flows and pk == legit_pkts and by == legit_bytes and
          (peak < RSS_LIMIT_KB or t.sanitized()) and mval(m, "template_memory_bytes") <= 64 << 20 and
          mval(m, "templates_evicted_memory_total") > 0 and
          mval(m, "udp_kernel_drops_total") == 0)
    return ok, [col]


def tcp(wd, topic):
    tport = t.free_port(socket.SOCK_STREAM)
    col, port, mport = start_collector(wd, topic, [
        "  tcp_listen: 127.0.0.1:%d" % tport, "  tcp_max_connections: 8",
        "  tcp_max_connections_per_address: 4"])
    hog = []
    for _ in range(12):  # more than the per-address limit, and than all 8 slots
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.bind(("127.0.0.1", 0))
        c.connect(("127.0.0.1", tport))
        hog.append(c)
    m = t.wait_for(lambda: (lambda m: m if mval(m, "tcp_connections_refused_total",
                                                'reason="per_address"') >= 8 else None)(
        t.metrics(mport)), 30, "8 connections from 127.0.0.1 refused")
    ex = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ex.bind(("127.0.0.2", 0))
    ex.connect(("127.0.0.1", tport))
    data, pk, by = legit_data(0, 5)
    ex.sendall(ipfix(0, 3, [legit_template(), data]))
    m = t.wait_for(lambda: (lambda m: m if mval(m, "records_total") >= 5 and
                            mval(m, "kafka_outq_messages") == 0 else None)(t.metrics(mport)),
                   60, "the second exporter's flows")
    records = t.load_json_lines(t.consume(topic, expect=5, idle_ms=2000))
    print("open %d, refused per address %d, refused (all slots) %d; second exporter: %d records" % (
        mval(m, "tcp_connections"), mval(m, "tcp_connections_refused_total", 'reason="per_address"'),
        mval(m, "tcp_connections_refused_total", 'reason="max_connections"'), len(records)))
    ok = (len(records) == 5 and all(r.get("ipfix.exporterIPv4Address") == "127.0.0.2" for r in records)
          and sum(r["ipfix.octetDeltaCount"] for r in records) == by and
          mval(m, "tcp_connections") == 5)
    for c in hog + [ex]:
        c.close()
    return ok, [col]


def main():
    kind = sys.argv[1]
    wd = t.workdir("s4f-hostile-")
    topic = t.unique("test.collector.hostile_" + kind)
    procs, ok = [], False
    try:
        t.create_topic(topic, 2)
        ok, procs = {"flood": flood, "tcp": tcp}[kind](wd, topic)
        for p in procs:  # a clean exit (under ASan: no leak, no error report)
            rc = p.stop()
            if rc != 0:
                print("%s exited %s:\n%s" % (p.name, rc, p.text()[-2000:]))
                ok = False
        print("PASS" if ok else "FAIL")
    finally:
        for p in procs:
            if p.alive():
                p.stop()
        t.delete_topic(topic)
        if ok:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            print("logs kept in", wd)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
