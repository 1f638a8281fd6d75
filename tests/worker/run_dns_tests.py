#!/usr/bin/env python3
"""Integration test of the DNS analyses of s4f-worker against the real broker at
$S4F_KAFKA_BOOTSTRAP: a DNS scenario with a known ground truth (top domains, NXDOMAIN names,
response codes, record types, open and external resolvers, reflection victims) in records of
both probe families (Flowmon keys and ipfixprobe keys, biflow reverse counters), over 4
partitions. Two ways in:
  - produced directly as the collector writes them (keyed by source address);
  - through the running collector: s4f-ipfix-export sends each record as IPFIX in its probe
    family's layout (Flowmon PEN 39499 or ipfixprobe PEN 8057 elements) over UDP to a real
    s4f-collector, which writes them to the input topic (the issue's "done when").
Runs 1 and 3 worker processes on each: exact results, identical documents, every document
valid against docs/schemas. Reuses the helpers of run_tests.py and tests/lib/s4ftest.py."""
import argparse, json, os, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import run_tests as T  # noqa: E402
import s4ftest  # noqa: E402
import dns_scenario  # noqa: E402

RUN = T.RUN


def rec(src, dst, sport, dport, proto, pkts, octets, end, extra):
    r = {"@type": "ipfix.entry", "ipfix.sourceIPv4Address": src,
         "ipfix.destinationIPv4Address": dst, "ipfix.sourceTransportPort": sport,
         "ipfix.destinationTransportPort": dport, "ipfix.protocolIdentifier": proto,
         "ipfix.packetDeltaCount": pkts, "ipfix.octetDeltaCount": octets,
         "ipfix.flowStartMilliseconds": end - 10, "ipfix.flowEndMilliseconds": end}
    r.update(extra)
    return (src, r)


def hexs(b):
    return "0x" + b.hex()


def fm_query(client, server, name, qtype, t):
    return rec(client, server, 40000, 53, 17, 1, 60, t,
               {"ipfix.DNSName": name, "ipfix.DNSFlagsCodes": 0x0100, "ipfix.DNSQType": qtype})


def fm_answer(server, client, name, rcode, t, addr=None, qtype=1):
    x = {"ipfix.DNSName": name, "ipfix.DNSFlagsCodes": 0x8180 | rcode, "ipfix.DNSQType": qtype,
         "ipfix.DNSCrrName": name, "ipfix.DNSCrrType": qtype}
    if addr:
        x["ipfix.DNSRData"] = hexs(bytes(int(p) for p in addr.split(".")))
    return rec(server, client, 53, 40000, 17, 1, 120, t, x)


def xp_query(client, server, name, qtype, t):
    return rec(client, server, 40001, 53, 17, 1, 60, t,
               {"ipfix.DNS_NAME": name, "ipfix.DNS_QTYPE": qtype, "ipfix.DNS_RCODE": 0})


def xp_answer(server, client, name, rcode, t, addr=None):
    x = {"ipfix.DNS_NAME": name, "ipfix.DNS_QTYPE": 1, "ipfix.DNS_RCODE": rcode,
         "ipfix.DNS_ANSWERS": 1 if addr else 0}
    if addr:
        x["ipfix.DNS_RDATA"] = hexs(addr.encode())
    return rec(server, client, 53, 40001, 17, 1, 120, t, x)


def scenario(base):
    """Returns the records and the ground truth. Windows: dns_statistics 60 s, reflect 20 s,
    open resolvers 5 s, external resolvers 360 s (all aligned on base, a multiple of 360 s)."""
    R = []
    t = base + 1000
    clients = ["10.0.0.%d" % i for i in range(1, 6)]
    # a.example: every client asks 8.8.8.8 twice; clients 4 and 5 through an ipfixprobe.
    for i, c in enumerate(clients):
        for k in range(2):
            ts = t + i * 1000 + k * 100
            ip = "192.0.2.%d" % (10 + i)
            if i < 3:
                R += [fm_query(c, "8.8.8.8", "a.example", 1, ts),
                      fm_answer("8.8.8.8", c, "a.example", 0, ts + 5, ip)]
            else:
                R += [xp_query(c, "8.8.8.8", "a.example", 1, ts),
                      xp_answer("8.8.8.8", c, "a.example", 0, ts + 5, ip)]
        # each client then connects to the address it was given: 2 TCP flows within 5 s,
        # one 20 s later (no answer before it within 5 s).
        for dt in (1000, 3000, 20000):
            R.append(rec(c, "192.0.2.%d" % (10 + i), 50000, 443, 6, 5, 500,
                         t + i * 1000 + dt, {"ipfix.tcpControlBits": 0x1b}))
    # b.example twice (AAAA queries) from client 1; c.example once: left out of queried_domain
    R += [fm_query("10.0.0.1", "8.8.8.8", "b.example", 28, t + 100),
          fm_answer("8.8.8.8", "10.0.0.1", "b.example", 0, t + 105, qtype=28),
          fm_query("10.0.0.1", "8.8.8.8", "b.example", 28, t + 200),
          fm_answer("8.8.8.8", "10.0.0.1", "b.example", 0, t + 205, qtype=28),
          fm_query("10.0.0.2", "8.8.8.8", "c.example", 15, t + 300),
          fm_answer("8.8.8.8", "10.0.0.2", "c.example", 0, t + 305, qtype=15)]
    # NXDOMAIN: nx.example 3 times, x.spamhaus.org twice (filtered out), refused once
    for k in range(3):
        R += [fm_answer("8.8.8.8", "10.0.0.3", "nx.example", 3, t + 400 + k)]
    R += [xp_answer("8.8.8.8", "10.0.0.4", "x.spamhaus.org", 3, t + 500),
          xp_answer("8.8.8.8", "10.0.0.4", "x.spamhaus.org", 3, t + 501),
          fm_answer("8.8.8.8", "10.0.0.5", "refused.example", 5, t + 600)]
    # open resolver: local 10.0.0.53 answers 203.0.113.9 (twice), and whitelisted google.com
    R += [fm_answer("10.0.0.53", "203.0.113.9", "open.example", 0, t + 700, "192.0.2.99"),
          fm_answer("10.0.0.53", "203.0.113.9", "open.example", 0, t + 800, "192.0.2.99"),
          fm_answer("10.0.0.53", "203.0.113.9", "www.google.com", 0, t + 900, "192.0.2.98")]
    # reflection (window base+20 s .. base+40 s): uniflow victim 198.51.100.66 (answers
    # keyed by the server: received counts in another partition), biflow victim .77.
    tr = base + 21000
    for k in range(12):
        R.append(rec("10.0.0.53", "198.51.100.66", 53, 1234, 17, 1, 500, tr + k * 100, {}))
    R.append(rec("198.51.100.66", "10.0.0.53", 1234, 53, 17, 2, 120, tr, {}))
    R.append(rec("198.51.100.77", "10.0.0.53", 4321, 53, 17, 1, 64, tr + 50,
                 {"ipfix.reversePacketDeltaCount": 20, "ipfix.reverseOctetDeltaCount": 9000}))
    # not a reflection: an ordinary client of the local resolver
    R.append(rec("198.51.100.88", "10.0.0.53", 4000, 53, 17, 1, 60, tr + 60,
                 {"ipfix.reversePacketDeltaCount": 1, "ipfix.reverseOctetDeltaCount": 100}))
    truth = {
        "queried_domain": {"a.example": 10, "b.example": 2, "nx.example": 3,
                           "x.spamhaus.org": 2},
        "nonexisting_domain": {"nx.example": 3},
        "response_code": {"NoError": 13, "NXDomain": 5, "Refused": 1},
        # queries from local hosts (plus the open resolver's answers: their source is local)
        "record_type": {"A": 13, "AAAA": 2, "MX": 1},
        "queried_local": {"8.8.8.8": 18},
        "external_dns": {"8.8.8.8": 13},
        "queried_by_ip": {("a.example", c): 2 for c in clients},
        "external": {(c, "8.8.8.8"): 2 for c in clients},
        "open": {("10.0.0.53", "192.0.2.99", "open.example"): 2},
        "reflect": {"198.51.100.66", "198.51.100.77"},
    }
    truth["queried_by_ip"][("b.example", "10.0.0.1")] = 2
    truth["queried_by_ip"][("c.example", "10.0.0.2")] = 1
    return sorted(R, key=lambda r: r[1]["ipfix.flowEndMilliseconds"]), truth


def summarize(docs):
    s = {k: {} for k in ("queried_domain", "nonexisting_domain", "response_code", "record_type",
                         "queried_local", "external_dns", "queried_by_ip")}
    ext, opn, refl = {}, {}, set()
    for d in docs.values():
        if d["@type"] == "dns_statistics":
            for e in d["data_array"]:
                k = (e["key"], e["ip"]) if "ip" in e else e["key"]
                s[d["@stat_type"]][k] = s[d["@stat_type"]].get(k, 0) + e["value"]
        elif d["@type"] == "external_dns_resolver":
            k = (d["src_ip"], d["resolver_ip"])
            ext[k] = ext.get(k, 0) + d["flows"]
        elif d["@type"] == "open_dns_resolver":
            k = (d["resolver_ip"], d["resolved_data"], d["resolved_query"])
            opn[k] = opn.get(k, 0) + d["flows"]
        elif d["@type"] == "detection.reflectdos":
            refl.add(d["src_ip"])
    s.update(external=ext, open=opn, reflect=refl)
    return s


def config(path, inp, out, rep, group, filt, white):
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap.servers: "{T.BOOT}"
worker:
  group_id: {group}
  log_level: info
  metrics_listen: 127.0.0.1:0
  input_topic: {inp}
  commit_interval: 200ms
  shutdown_grace: 20s
  analyses:
    dns_statistics:
      output_topic: {out}
      idle_timeout: 1s
      local_networks: [10.0.0.0/8]
      filtered_domains_file: {filt}
    dns_open_resolvers:
      output_topic: {out}
      idle_timeout: 1s
      local_networks: [10.0.0.0/8]
      whitelisted_domains_file: {white}
    reflect_ddos:
      output_topic: {out}
      idle_timeout: 1s
      dns_servers: [10.0.0.53, 10.0.0.54]
    dns_external_resolvers:
      output_topic: {out}
      idle_timeout: 1s
      local_networks: [10.0.0.0/8]
      repartition_topic: {rep}
""")


def via_collector(a, tmp, name, inp, recs):
    """Sends the records as IPFIX through a real s4f-collector writing to topic inp: each in the
    layout of its keys' probe family, one datagram each (template included), paced. Returns
    once the broker acknowledged every record; fails on a decode error or a lost record."""
    path = os.path.join(tmp, f"{name}-records.jsonl")
    with open(path, "w") as f:
        for _, r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    port = s4ftest.free_port()
    cfg = s4ftest.write(os.path.join(tmp, f"{name}-collector.yml"), "\n".join([
        "kafka:",
        f'  bootstrap.servers: "{T.BOOT}"',
        "collector:",
        f"  listen: 127.0.0.1:{port}",
        "  tcp_listen: ''",
        "  sflow_listen: ''",
        "  metrics_listen: 127.0.0.1:0",
        f"  topic: {inp}",
        "  kafka_key: source",
        f"  output_format: {a.output_format}",
        f"  element_files: [{a.elements}/flowmon.xml, {a.elements}/ipfixprobe.xml]",
        ""]))
    col = s4ftest.Proc(f"{name}-collector", [a.collector, "-c", cfg], tmp)
    try:
        col.wait_log("receiving on udp")
        mport = s4ftest.metrics_port_from_log(col)
        r = T.subprocess.run([a.exporter, "--port", str(port), "--rate", "5000", path],
                             capture_output=True, text=True, timeout=120)
        T.check(r.returncode == 0 and f"records={len(recs)} errors=0" in r.stdout,
                f"{name}: s4f-ipfix-export: {r.stdout} {r.stderr[-2000:]}")

        def delivered():
            m = s4ftest.metrics(mport)
            if a.output_format == "packed":
                # Messages carry many flows: every flow handed over, every message acknowledged.
                return (m.get("s4f_collector_records_total", 0) >= len(recs)
                        and m.get("s4f_collector_packed_messages_total", 0) > 0
                        and m.get("s4f_collector_kafka_delivered_total", 0)
                        >= m.get("s4f_collector_kafka_produced_total", 1) and m)
            return m.get("s4f_collector_kafka_delivered_total", 0) >= len(recs) and m
        try:
            m = s4ftest.wait_for(delivered, 60, f"{len(recs)} records acknowledged by Kafka")
        except s4ftest.TestFailure as e:
            m = s4ftest.metrics(mport)
            T.check(False, f"{name}: {e}: {sorted((k, v) for k, v in m.items() if v)}")
            return
        bad = {k: v for k, v in m.items()
               if v and ("error" in k or "dropped" in k or "fail" in k or "rejected" in k)}
        T.check(not bad and m.get("s4f_collector_records_total") == len(recs),
                f"{name}: collector counted {m.get('s4f_collector_records_total')} records "
                f"of {len(recs)}, failures {bad}")
    finally:
        T.check(col.stop() == 0, f"{name}: collector exit code")


def run_case(a, schemas, tmp, name, recs, truth, collector=False):
    inp = f"s4f-dns-in-{name}-{RUN}"
    topics = [inp]
    T.topic(a.topic_tool, "create", inp, "4")
    results = {}
    groups = []
    try:
        if collector:
            via_collector(a, tmp, name, inp, recs)
        else:
            T.produce(inp, recs)
        for n in (1, 3):
            out, rep = f"s4f-dns-out{n}-{name}-{RUN}", f"s4f-dns-rep{n}-{name}-{RUN}"
            topics += [out, rep]
            T.topic(a.topic_tool, "create", out, "4")
            T.topic(a.topic_tool, "create", rep, "4")
            cfg = os.path.join(tmp, f"{name}-n{n}.yml")
            group = f"s4f-dns-{n}-{name}-{RUN}"
            groups += [f"{group}.{an}" for an in ("dns_statistics", "dns_open_resolvers",
                                                 "reflect_ddos", "dns_external_resolvers",
                                                 "dns_external_resolvers.rekey")]
            config(cfg, inp, out, rep, group,
                   os.path.join(a.data, "dns_statistics_filtered_out_domains.txt"),
                   os.path.join(a.data, "dns_open_resolvers_whitelisted_domains.txt"))
            procs = T.run_workers(a.worker, cfg, n, tmp, f"{name}-{n}")
            docs, ok = T.wait_for(out, lambda d: summarize(d) == truth, 120)
            T.stop(procs)
            docs, _ = T.consume(out)
            got = summarize(docs)
            for k in truth:
                T.check(got[k] == truth[k], f"{name} N={n}: {k}: {got[k]} != {truth[k]}")
            for d in docs.values():
                errs = T.validate(d, schemas[d["@type"]])
                T.check(not errs, f"{name} N={n}: {d['id']} schema: {errs[:3]}")
            if name.startswith("crafted"):
                b = [d for d in docs.values() if d["@type"] == "detection.reflectdos"
                     and d["src_ip"] == "198.51.100.77"]
                T.check(len(b) == 1 and b[0]["data_sent"] == 9000 and b[0]["data_received"] == 64
                        and b[0]["outgoing_packets"] == 20 and b[0]["@sub_type"] == "DNS",
                        f"N={n}: biflow reflection counted both directions: {b}")
            results[n] = docs
            print(f"{name} N={n}: {len(docs)} documents", flush=True)
        T.check(results[1] == results[3], f"{name}: N=1 and N=3 documents identical")
    finally:
        T.topic(a.topic_tool, "delete", *topics)
        T.subprocess.run([a.topic_tool, "delete-groups", *groups], timeout=90,
                         env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=T.BOOT))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--data", required=True, help="the original's data files")
    ap.add_argument("--collector", required=True, help="s4f-collector")
    ap.add_argument("--exporter", required=True, help="s4f-ipfix-export")
    ap.add_argument("--elements", required=True, help="the collector's element files' directory")
    ap.add_argument("--output-format", choices=("json", "packed"), default="json",
                    help="the collector's output_format; packed runs the collector cases only")
    ap.add_argument("--seed", type=int, default=None, help="seed of the generated scenario")
    ap.add_argument("--only", default=None, help="run this case only (crafted, crafted-collector, "
                    "seed<N>, seed<N>-collector)")
    a = ap.parse_args()
    schemas = {fn[:-len(".schema.json")]: json.load(open(os.path.join(a.schemas, fn)))
               for fn in os.listdir(a.schemas) if fn.endswith(".schema.json")}
    tmp = tempfile.mkdtemp(prefix="s4f-worker-dns-")
    now = int(time.time() * 1000)
    base = now - now % 360000 - 720000
    # The crafted scenario produced directly and through the collector; the generated one
    # (held out: --seed picks another; the seed is printed) through the collector.
    crafted = scenario(base)
    seed = a.seed if a.seed is not None else 1
    print("seeded scenario: seed %d" % seed, flush=True)
    seeded = dns_scenario.scenario(seed, base)
    cases = [("crafted",) + crafted + (False,), ("crafted-collector",) + crafted + (True,),
             ("seed%d" % seed,) + seeded + (False,), ("seed%d-collector" % seed,) + seeded + (True,)]
    for name, recs, truth, collector in cases:
        if (a.only and name != a.only) or (a.output_format == "packed" and not collector):
            continue
        run_case(a, schemas, tmp, name, [("%s" % r["ipfix.sourceIPv4Address"], r)
                                         if isinstance(r, dict) else r for r in recs], truth,
                 collector)
    if T.FAILS:
        print(f"{len(T.FAILS)} failure(s); logs in {tmp}")
        return 1
    print("all DNS worker integration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
