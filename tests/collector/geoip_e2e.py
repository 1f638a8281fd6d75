#!/usr/bin/env python3
"""GeoIP enrichment end to end, against the real broker at $S4F_KAFKA_BOOTSTRAP.

Writes a country and an AS database with known answers (tests/tools/make_mmdb.pl, Debian's
libmaxmind-db-writer-perl), starts s4f-collector with them, sends flows as IPFIX
(s4f-ipfix-export) from addresses in and out of the databases, and checks every record on the
topic: the right s4f.src_country / s4f.dst_country / s4f.src_as / s4f.src_as_org, none for
addresses the databases do not hold. A real s4f-worker then runs ports_scan and host_stats
(through its repartition topic, so the routed records carry the fields too) on that topic: the
scan and the scanner's profile name its country and AS. Last, the country database is replaced
(renamed over, as geoipupdate does) while the collector runs: records sent after it was taken
carry the new answer, and no record was lost meanwhile.

    geoip_e2e.py --worker W --topic-tool T --exporter E --schemas DIR"""
import argparse, json, os, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "worker"))
import run_tests as T  # noqa: E402
import s4ftest as S  # noqa: E402

COUNTRY = {"database_type": "GeoLite2-Country", "networks": {
    "192.0.2.0/24": {"country": {"iso_code": "CZ", "names": {"en": "Czechia"}}},
    "198.51.100.0/24": {"country": {"iso_code": "US"}},
    "2001:db8::/32": {"country": {"iso_code": "DE"}}}}
COUNTRY2 = {"database_type": "GeoLite2-Country", "networks": {
    "192.0.2.0/24": {"country": {"iso_code": "SK"}}}}
ASN = {"database_type": "GeoLite2-ASN", "networks": {
    "192.0.2.0/24": {"autonomous_system_number": 2852,
                     "autonomous_system_organization": "CESNET z.s.p.o."},
    "2001:db8::/32": {"autonomous_system_number": 64500,
                      "autonomous_system_organization": "Doc \"Net\" \u00e9"}}}
# What each source address must carry (country, AS, organisation); None: nothing.
WANT = {"192.0.2.7": ("CZ", 2852, "CESNET z.s.p.o."),
        "2001:db8::1": ("DE", 64500, "Doc \"Net\" \u00e9"),
        "203.0.113.5": None}
WANT_DST = {"198.51.100.": ("US", None, None), "2001:db9::": None, "203.0.113.": None}


def make_dbs(tmp, specs):
    """Writes {name: spec} as tmp/name.mmdb (the writers run side by side)."""
    procs = []
    for name, spec in specs.items():
        S.write(os.path.join(tmp, name + ".json"), json.dumps(spec))
        procs.append(subprocess.Popen(["perl", os.path.join(S.SRC, "tests", "tools",
                                                            "make_mmdb.pl"),
                                       os.path.join(tmp, name + ".json"),
                                       os.path.join(tmp, name + ".mmdb")]))
    if any(p.wait() for p in procs):
        raise S.TestFailure("make_mmdb.pl failed")
    return [os.path.join(tmp, name + ".mmdb") for name in specs]


def flow(src, dst, dport, end, flags=2):
    v6 = ":" in src
    r = {("ipfix.sourceIPv6Address" if v6 else "ipfix.sourceIPv4Address"): src,
         ("ipfix.destinationIPv6Address" if v6 else "ipfix.destinationIPv4Address"): dst,
         "ipfix.sourceTransportPort": 40000, "ipfix.destinationTransportPort": dport,
         "ipfix.protocolIdentifier": 6, "ipfix.tcpControlBits": flags,
         "ipfix.packetDeltaCount": 1, "ipfix.octetDeltaCount": 60,
         "ipfix.flowStartMilliseconds": end - 100, "ipfix.flowEndMilliseconds": end}
    return r


def export(a, tmp, recs, port, mport, before, tag):
    path = S.write(os.path.join(tmp, "records-%s.json" % tag),
                   "".join(json.dumps(r) + "\n" for r in recs))
    subprocess.run([a.exporter, "--port", str(port), "--rate", "5000", path], check=True,
                   capture_output=True, timeout=120)
    want = before + len(recs)
    S.wait_for(lambda: S.metrics(mport).get("s4f_collector_kafka_delivered_total", 0) >= want,
               60, "the collector to deliver %d records" % want)


def check_record(r):
    v6 = "ipfix.sourceIPv6Address" in r
    src = r["ipfix.sourceIPv6Address" if v6 else "ipfix.sourceIPv4Address"]
    dst = r["ipfix.destinationIPv6Address" if v6 else "ipfix.destinationIPv4Address"]
    w = WANT[src]
    got = (r.get("s4f.src_country"), r.get("s4f.src_as"), r.get("s4f.src_as_org"))
    T.check(got == (w or (None, None, None)), "%s: source fields %s, want %s" % (src, got, w))
    wd = next(v for k, v in WANT_DST.items() if dst.startswith(k))
    got = (r.get("s4f.dst_country"), r.get("s4f.dst_as"), r.get("s4f.dst_as_org"))
    T.check(got == (wd or (None, None, None)), "%s: destination fields %s, want %s" % (dst, got, wd))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--schemas", required=True)
    a = ap.parse_args()
    schemas = {fn[:-len(".schema.json")]: json.load(open(os.path.join(a.schemas, fn)))
               for fn in os.listdir(a.schemas) if fn.endswith(".schema.json")}
    tmp = S.workdir("s4f-geoip-")
    cdb, adb, cdb2 = make_dbs(tmp, {"country": COUNTRY, "asn": ASN, "country2": COUNTRY2})
    inp, out, rep = "s4f-geo-in-" + T.RUN, "s4f-geo-out-" + T.RUN, "s4f-geo-rep-" + T.RUN
    topics = [inp, out, rep, rep + ".prof"]
    for t in topics:
        T.topic(a.topic_tool, "create", t, "2")
    group = "s4f-geo-" + T.RUN
    col, procs = None, []
    try:
        port = S.free_port()
        conf = S.write(os.path.join(tmp, "collector.yml"), "\n".join([
            "kafka:", "  bootstrap.servers: " + T.BOOT, "collector:",
            "  listen: 127.0.0.1:%d" % port, "  tcp_listen: ''", "  metrics_listen: 127.0.0.1:0",
            "  topic: " + inp, "  geoip_country_database: " + cdb,
            "  geoip_asn_database: " + adb, "  geoip_check_interval: 200ms", ""]))
        col = S.Proc("collector", [os.path.join(S.BUILD, "collector", "s4f-collector"), "-c",
                                   conf], tmp)
        col.wait_log("receiving on udp")
        mport = S.metrics_port_from_log(col)

        now = int(time.time() * 1000)
        base = now - now % 60000 - 3 * 60000
        recs = [flow("192.0.2.7", "198.51.100.%d" % (i + 1), 22, base + 1000 + i * 100)
                for i in range(25)]
        recs += [flow("2001:db8::1", "2001:db9::2", 443, base + 5000, 0x1b),
                 flow("203.0.113.5", "203.0.113.6", 80, base + 6000, 0x1b)]
        # Time moves on, so that the windows close (idle timeout).
        recs.append(flow("203.0.113.5", "203.0.113.6", 80, base + 125000, 0x1b))
        export(a, tmp, recs, port, mport, 0, "first")
        lines = S.consume(inp, expect=len(recs), idle_ms=500)
        T.check(len(lines) == len(recs), "%d records on the topic, %d sent" % (len(lines),
                                                                                len(recs)))
        for r in S.load_json_lines(lines):
            check_record(r)
        m = S.metrics(mport)
        T.check(m.get("s4f_collector_geoip_records_total") == 26,
                "geoip_records_total %s, want 26" % m.get("s4f_collector_geoip_records_total"))

        # The worker: ports_scan and host_stats (repartitioned) name the scanner's place.
        cfg = S.write(os.path.join(tmp, "worker.yml"), f"""kafka:
  bootstrap.servers: "{T.BOOT}"
worker:
  group_id: {group}
  metrics_listen: 127.0.0.1:0
  input_topic: {inp}
  commit_interval: 200ms
  analyses:
    ports_scan:
      output_topic: {out}
      idle_timeout: 1s
    host_stats:
      output_topic: {out}
      idle_timeout: 1s
      local_networks: [192.0.2.0/24]
      repartition_topic: {rep}
      changelog_topic: {rep}.prof
      temporal_profile: false
""")
        procs = T.run_workers(a.worker, cfg, 1, tmp, "geo")

        def found(d):
            return any(x["@type"] == "portscan_horizontal" for x in d.values()) and any(
                x["@type"] == "host_stats" and x.get("host") == "192.0.2.7" for x in d.values())
        docs, ok = T.wait_for(out, found, 90)
        T.check(ok, "a scan and the scanner's profile within 90 s")
        for d in docs.values():
            errs = T.validate(d, schemas[d["@type"]])
            T.check(not errs, "%s schema: %s" % (d["id"], errs[:3]))
            if d["@type"] == "portscan_horizontal":
                got = (d.get("src_ip"), d.get("src_country"), d.get("src_as"), d.get("src_as_org"))
                T.check(got == ("192.0.2.7", "CZ", 2852, "CESNET z.s.p.o."), "scan: %s" % (got,))
            if d["@type"] == "host_stats" and d.get("host") == "192.0.2.7":
                got = (d.get("host_country"), d.get("host_as"), d.get("host_as_org"))
                T.check(got == ("CZ", 2852, "CESNET z.s.p.o."), "host_stats: %s" % (got,))
        T.stop(procs)
        procs = []

        # A new country database renamed over the file while the collector runs.
        os.rename(cdb2, cdb)
        S.wait_for(lambda: S.metrics(mport).get(
            's4f_collector_geoip_loads_total{database="country"}', 0) >= 2, 30,
            "the collector to load the new country database")
        later = [flow("192.0.2.7", "203.0.113.6", 80, base + 130000 + i, 0x1b) for i in range(3)]
        export(a, tmp, later, port, mport, len(recs), "later")
        lines = S.consume(inp, expect=len(recs) + len(later), idle_ms=500)
        T.check(len(lines) == len(recs) + len(later), "%d records after the reload, want %d" % (
            len(lines), len(recs) + len(later)))
        # The loader published it; the data path takes it at its next record: the ones sent
        # after the load all say SK.
        tail = [r for r in S.load_json_lines(lines)
                if r["ipfix.flowEndMilliseconds"] >= base + 130000]
        T.check(len(tail) == len(later), "%d later records" % len(tail))
        T.check(all(r.get("s4f.src_country") == "SK" and r.get("s4f.src_as") == 2852 for r in tail),
                "after the reload: %s" % [(r.get("s4f.src_country"), r.get("s4f.src_as"))
                                          for r in tail])
        m = S.metrics(mport)
        T.check(m.get('s4f_collector_records_dropped_total{reason="queue_full"}', 0) == 0,
                "no record dropped")
    finally:
        T.stop(procs)
        if col:
            col.stop()
        T.topic(a.topic_tool, "delete", *topics)
        subprocess.run([a.topic_tool, "delete-groups", group + ".ports_scan",
                        group + ".host_stats"], timeout=90,
                       env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=T.BOOT))
    if T.FAILS:
        print("%d failure(s); logs in %s" % (len(T.FAILS), tmp))
        sys.exit(1)
    print("geoip end to end: all checks passed")


if __name__ == "__main__":
    main()
