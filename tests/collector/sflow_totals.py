#!/usr/bin/env python3
"""sFlow captures of real agents into the real collector on the real broker, checked against
tshark's decode of the same datagrams.

  sflow_totals.py FILE.pcap [FILE.pcap ...]

The datagrams are replayed to the collector's sFlow port (sflow_listen). tshark (Wireshark's
sFlow dissector, an independent decoder) reads the same files: for every flow sample whose
sampled packet is IPv4 or IPv6 it gives the agent, the sampling rate, the frame length and the
packet's addresses. Per agent, the flows, packets (sampling rate per sample), bytes (frame
length times rate) and the multiset of (source, destination) address pairs read back from the
Kafka topic must equal tshark's; samples without an IP packet must be the collector's non_ip
count. A counter sample sent after them must show as interface metrics on /metrics.
Every record is validated against docs/ipfix-entry.schema.json. Exit 0 on success."""
import collections
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import s4ftest as t  # noqa: E402
import schema_check  # noqa: E402


def first(elem, names):
    """The first field (document order) under elem whose name is in names, as its show text."""
    for f in elem.iter("field"):
        if f.get("name") in names:
            return f.get("show")
    return None


def norm(addr):
    return str(ipaddress.ip_address(addr))


def tshark_totals(files, wd):
    """Per agent: [flows, packets, bytes], address pairs; and the number of non-IP samples.
    The files are concatenated first (mergecap, beside tshark): one tshark start, not one per
    file, which is most of this test's time on a loaded machine."""
    tot = collections.defaultdict(lambda: [0, 0, 0])
    pairs = collections.defaultdict(collections.Counter)
    non_ip = 0
    merged = os.path.join(wd, "all.pcap")
    subprocess.run(["mergecap", "-F", "pcap", "-a", "-w", merged] + files, check=True)
    for path in [merged]:
        xml = subprocess.run(["tshark", "-r", path, "-T", "pdml"], capture_output=True,
                             check=True).stdout
        for proto in ET.fromstring(xml).iter("proto"):
            if proto.get("name") != "sflow":
                continue
            agent = first(proto, ("sflow_245.agent", "sflow_245.agent.v6"))
            for sample in proto.findall("field"):
                show = sample.get("show") or ""
                if not (show.startswith("Flow sample") or show.startswith("Expanded flow sample")):
                    continue
                rate = int(next(f.get("show") for f in sample.iter("field")
                                if (f.get("name") or "").endswith("sampling_rate")))
                frame = first(sample, ("sflow_245.header.frame_length",))
                # The sampled packet's own (outermost) IP header, as the collector reads it.
                src = dst = None
                for p in sample.iter("proto"):
                    if p.get("name") in ("ip", "ipv6"):
                        v = "ip" if p.get("name") == "ip" else "ipv6"
                        src, dst = first(p, (v + ".src",)), first(p, (v + ".dst",))
                        break
                if src is None or frame is None:
                    non_ip += 1
                    continue
                b = tot[agent]
                b[0] += 1
                b[1] += rate
                b[2] += int(frame) * rate
                pairs[agent][(norm(src), norm(dst))] += 1
    return dict(tot), pairs, non_ip


def record_totals(records):
    tot = collections.defaultdict(lambda: [0, 0, 0])
    pairs = collections.defaultdict(collections.Counter)
    for r in records:
        agent = r.get("ipfix.exporterIPv4Address") or r.get("ipfix.exporterIPv6Address")
        b = tot[agent]
        b[0] += 1
        b[1] += r.get("ipfix.packetDeltaCount", 0)
        b[2] += r.get("ipfix.octetDeltaCount", 0)
        src = r.get("ipfix.sourceIPv4Address") or r.get("ipfix.sourceIPv6Address")
        dst = r.get("ipfix.destinationIPv4Address") or r.get("ipfix.destinationIPv6Address")
        pairs[agent][(norm(src), norm(dst))] += 1
    return dict(tot), pairs


def counter_datagram(ifindex, in_octets, out_octets):
    """An sFlow datagram from agent 192.0.2.77 (sub-agent 3) with one counter sample holding
    generic interface counters: 10 Gbit/s, up, in 120+3+1 packets, out 40 packets."""
    rec = struct.pack(">IIQIIQIIIIIIQIIIIII", ifindex, 6, 10 ** 10, 1, 3, in_octets, 120, 3, 1,
                      7, 2, 0, out_octets, 40, 0, 0, 5, 6, 0)
    sample = struct.pack(">III", 1, ifindex, 1) + struct.pack(">II", 1, len(rec)) + rec
    return (struct.pack(">II4sIIII", 5, 1, bytes([192, 0, 2, 77]), 3, 1, 1000, 1) +
            struct.pack(">II", 2, len(sample)) + sample)


def main():
    files = sys.argv[1:]
    wd = t.workdir("s4f-sflow-")
    topic = t.unique("test.collector.sflow")
    procs = []
    ok = False
    try:
        t.create_topic(topic, 4)
        sflow_port = t.free_port()
        col, _, mport = t.start_collector(wd, topic, sflow_port=sflow_port)
        procs.append(col)
        sent = subprocess.run([sys.executable, os.path.join(t.TOOLS, "replay_pcap.py"),
                               "127.0.0.1:%d" % sflow_port] + files, check=True,
                              capture_output=True, text=True).stdout.split()[0]
        key = 's4f_collector_datagrams_total{version="sflow"}'
        t.wait_for(lambda: t.metrics(mport).get(key, 0) >= int(sent), 30,
                   "the collector to read %s sFlow datagrams" % sent)
        # Counter samples: the agent's interface counters become metrics.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(counter_datagram(17, 123456789, 987654), ("127.0.0.1", sflow_port))
        lbl = 'agent="192.0.2.77",sub_agent="3",ifindex="17"'
        want = {
            's4f_collector_sflow_interface_octets_total{%s,direction="in"}' % lbl: 123456789,
            's4f_collector_sflow_interface_octets_total{%s,direction="out"}' % lbl: 987654,
            's4f_collector_sflow_interface_packets_total{%s,direction="in"}' % lbl: 124,
            's4f_collector_sflow_interface_packets_total{%s,direction="out"}' % lbl: 40,
            's4f_collector_sflow_interface_discards_total{%s,direction="in"}' % lbl: 7,
            's4f_collector_sflow_interface_errors_total{%s,direction="out"}' % lbl: 6,
            's4f_collector_sflow_interface_speed_bps{%s}' % lbl: 10 ** 10,
            's4f_collector_sflow_interface_up{%s}' % lbl: 1,
        }
        t.wait_for(lambda: all(t.metrics(mport).get(k) == v for k, v in want.items()), 30,
                   "the interface counters on /metrics")
        m = t.collector_settled(mport)
        expected = int(m.get("s4f_collector_records_total", 0))
        lines = t.consume(topic, expect=expected, idle_ms=1000)
        records = [json.loads(line) for line in lines]
        with open(os.path.join(t.SRC, "docs", "ipfix-entry.schema.json")) as f:
            schema = json.load(f)
        invalid = [(r, e) for r in records for e in [schema_check.validate(schema, r)] if e]
        ours, our_pairs = record_totals(records)
        theirs, their_pairs, non_ip = tshark_totals(files, wd)
        our_non_ip = int(m.get('s4f_collector_sflow_samples_skipped_total{reason="non_ip"}', 0))
        print("%-16s %32s   %32s" % ("agent", "s4f (flows packets bytes)",
                                    "tshark (flows packets bytes)"))
        for a in sorted(set(ours) | set(theirs), key=str):
            print("%-16s %32s   %32s" % (a, ours.get(a), theirs.get(a)))
        errors = {k: v for k, v in m.items()
                  if k.startswith("s4f_collector_decode_errors_total") and v}
        print("records on Kafka: %d (collector counted %d); non-IP samples: %d (tshark %d); "
              "decode errors: %s; invalid: %d" % (len(records), expected, our_non_ip, non_ip,
                                                   errors or "none", len(invalid)))
        for r, e in invalid[:5]:
            print("INVALID:", e[:3], json.dumps(r)[:300])
        pairs_ok = dict(our_pairs) == dict(their_pairs)
        if not pairs_ok:
            print("address pairs differ:\n  s4f:    %s\n  tshark: %s" % (dict(our_pairs),
                                                                      dict(their_pairs)))
        ok = (ours == theirs and pairs_ok and our_non_ip == non_ip and len(records) == expected
              and not invalid and expected > 0 and not errors)
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
