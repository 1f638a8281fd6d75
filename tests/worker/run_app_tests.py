#!/usr/bin/env python3
"""Integration test of s4f-worker's analyses of TLS and HTTP fields (tls_classification,
top_n_host_stats) against the real broker at $S4F_KAFKA_BOOTSTRAP, with records that come
through the real collector: a seeded scenario of TLS clients with known fingerprints
(Flowmon's cipher suites and JA3, ipfixprobe's SNI, JA4 and JA3, the values of real
ipfixprobe records among them) and plain HTTP flows, sent as IPFIX by s4f-ipfix-export to
s4f-collector, which writes them to a 4-partition topic. 1 and 3 worker processes must report
exactly the ground truth (the TLS classes, and every local host's top-N lists in every
sliding window, computed here from the records) and identical documents, every one valid
against docs/schemas. The dictionary is the shipped one plus a user line (a JA4 key), so the
user extension is used end to end; a SIGHUP with a broken file keeps it, a SIGHUP with a
changed file applies from then on.
Reuses the helpers of run_tests.py and tests/lib/s4ftest.py."""
import argparse, json, os, random, re, shutil, signal, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import run_tests as T  # noqa: E402
import s4ftest as S  # noqa: E402

RUN = T.RUN
WINDOW = 30000  # tls_classification's default window

# Fingerprint profiles: the fields a probe exports, and what the dictionary makes of them
# (os, browser, application) -- read off workers/data/tls_classification_dictionary.csv by
# hand. Flowmon exports each suite's two bytes swapped, padded with zeros to 16 bytes.
JA4_REAL = "t13d1518h2_8daaf6152771_e5627efa2ab1"  # testdata/ipfixprobe/outputs/tls
PROFILES = [
    ("msie", {"ipfix.TLSClientCipherSuites": "0x040005000a00090064006200" "03000600"},
     ("Windows", "MSIE", "Desktop:Browser")),
    # the key the original file gives twice: the later row (Mobile;Android;;) wins
    ("android", {"ipfix.TLSClientCipherSuites": "0x040005002f00350002c004c005c00cc0"},
     ("Android", "Unknown", "Mobile:Unknown")),
    ("padded", {"ipfix.TLSClientCipherSuites": "0x05000400000000000000000000000000"},
     ("Unknown", "Unknown", "Unknown:Application")),
    ("unknown", {"ipfix.TLSClientCipherSuites": "0x3412785600000000",
                 "ipfix.TLSJA3": "0x00112233445566778899aabbccddeeff"},
     ("Unknown", "Unknown", "Unknown:Unknown")),
    ("update", {"ipfix.TLS_SNI": "fe2.update.microsoft.com", "ipfix.TLS_JA4": "t13d0000h2_x_y"},
     ("Windows", "Unknown", "Desktop:Update")),
    # a real ipfixprobe record: its JA4 is the user's line, its JA3 and SNI are in no line
    ("real", {"ipfix.TLS_SNI": "chrek.stdout.cz", "ipfix.TLS_JA4": JA4_REAL,
              "ipfix.TLSJA3": "0xcd08e31494f9531f560d64c695473da9"},
     ("Unknown", "Chrome", "Unknown:Browser")),
    # no ClientHello seen (all padding), and plain HTTP: not TLS clients
    ("zero", {"ipfix.TLSClientCipherSuites": "0x00000000000000000000000000000000"}, None),
    ("http", {"ipfix.HTTPRequestHost": "www.example.org"}, None),
]
HTTP_HOSTS = ["www.example.org", "cdn.example.org", "api.example.net", "example.com"]
TOPN = {"window": 60000, "slide": 30000, "top": 3}
USER_LINE = "ja4:%s;;;Browser;Chrome\n" % JA4_REAL


def rec(src, dst, sport, dport, end, extra):
    r = {"ipfix.sourceIPv4Address": src, "ipfix.destinationIPv4Address": dst,
         "ipfix.sourceTransportPort": sport, "ipfix.destinationTransportPort": dport,
         "ipfix.protocolIdentifier": 6, "ipfix.tcpControlBits": 0x1b,
         "ipfix.packetDeltaCount": 12, "ipfix.octetDeltaCount": 4000,
         "ipfix.flowStartMilliseconds": end - 300, "ipfix.flowEndMilliseconds": end}
    r.update(extra)
    return r


def scenario(seed, base):
    """Records over three windows and the truth, summed over partitions and windows."""
    rnd = random.Random(seed)
    recs, truth = [], {"os": {}, "browser": {}, "application": {}}
    host = 1
    for name, fields, cls in PROFILES:
        for _ in range(rnd.randint(2, 5)):
            src = "10.1.%d.%d" % (host // 250, host % 250 + 1)
            host += 1
            for _ in range(rnd.randint(1, 4)):
                end = base + rnd.randrange(0, 3 * WINDOW - 1000)
                dport = 80 if name == "http" else 443
                if name == "http":
                    fields = {"ipfix.HTTPRequestHost": rnd.choice(HTTP_HOSTS)}
                    dport = rnd.choice([80, 80, 8080])
                recs.append(rec(src, "198.51.100.%d" % rnd.randint(1, 6),
                                rnd.randint(30000, 60000), dport, end, fields))
                if cls:
                    for st, k in zip(("os", "browser", "application"), cls):
                        truth[st][k] = truth[st].get(k, 0) + 1
    recs.sort(key=lambda r: r["ipfix.flowEndMilliseconds"])
    return recs, truth


def summarize(docs, since=0, until=None):
    """Values per stat type and key, summed over the documents of windows in [since, until)."""
    s = {"os": {}, "browser": {}, "application": {}}
    for d in docs.values():
        ws = T.iso_ms(d["window_start"])
        if d["@type"] != "tls_classification" or ws < since or (until and ws >= until):
            continue
        for e in d["data_array"]:
            s[d["@stat_type"]][e["key"]] = s[d["@stat_type"]].get(e["key"], 0) + e["value"]
    return s


def topn_truth(recs):
    """Every local source host's lists in every window holding its flows, as the documents
    write them: {(window start, host): stats}."""
    w, sl, top = TOPN["window"], TOPN["slide"], TOPN["top"]
    acc = {}
    for r in recs:
        src = r["ipfix.sourceIPv4Address"]
        if not src.startswith("10."):
            continue
        t = r["ipfix.flowEndMilliseconds"]
        for start in range(t - t % sl, t - w, -sl):
            ports, dsts, http = acc.setdefault((start, src), ({}, {}, {}))
            p = r["ipfix.destinationTransportPort"]
            ports[p] = ports.get(p, 0) + 1
            d = r["ipfix.destinationIPv4Address"]
            dsts[d] = dsts.get(d, 0) + 1
            if "ipfix.HTTPRequestHost" in r:
                h = r["ipfix.HTTPRequestHost"]
                http[h] = http.get(h, 0) + 1

    def ranked(counts, name, tiebreak):
        items = sorted(counts.items(), key=lambda kv: (-kv[1], tiebreak(kv[0])))[:top]
        return {str(i): {name: k, "flows": n} for i, (k, n) in enumerate(items)}
    return {k: {"top_n_dst_ports": ranked(p, "port", lambda x: x),
                "top_n_dst_hosts": ranked(d, "dst_host", lambda x: tuple(map(int, x.split(".")))),
                "top_n_http_dst": ranked(h, "http_host", lambda x: (len(x), x.encode()))}
            for k, (p, d, h) in acc.items()}


def topn_docs(docs):
    return {(T.iso_ms(d["window_start"]), d["src_ip"]): d["stats"] for d in docs.values()
            if d["@type"] == "top_n_host_stats"}


def collector(tmp, topic):
    port = S.free_port()
    conf = S.write(os.path.join(tmp, "collector.yml"), "\n".join([
        "kafka:", "  bootstrap.servers: " + T.BOOT, "collector:",
        "  listen: 127.0.0.1:%d" % port, "  tcp_listen: ''", "  sflow_listen: ''", "  metrics_listen: 127.0.0.1:0",
        "  topic: " + topic, "  element_files: [%s, %s]" % (
            os.path.join(S.SRC, "collector/decode/elements/flowmon.xml"),
            os.path.join(S.SRC, "collector/decode/elements/ipfixprobe.xml")), ""]))
    col = S.Proc("collector", [os.path.join(S.BUILD, "collector", "s4f-collector"), "-c", conf],
                 tmp)
    col.wait_log("receiving on udp")
    return col, port, S.metrics_port_from_log(col)


def export(a, tmp, recs, port, mport, sent_before):
    path = os.path.join(tmp, "records-%d.json" % sent_before)
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    S.subprocess.run([a.exporter, "--port", str(port), "--rate", "5000", path], check=True,
                     capture_output=True, timeout=120)
    want = sent_before + len(recs)
    S.wait_for(lambda: S.metrics(mport).get("s4f_collector_kafka_delivered_total", 0) >= want,
               60, "the collector to deliver %d records" % want)
    m = S.metrics(mport)
    T.check(m.get("s4f_collector_records_total") == want,
            "collector decoded %s records, sent %d" % (m.get("s4f_collector_records_total"), want))


def config(path, inp, out, group, dictionary):
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
    tls_classification:
      output_topic: {out}
      idle_timeout: 1s
      dictionary_file: {dictionary}
    top_n_host_stats:
      output_topic: {out}
      idle_timeout: 1s
      window: {TOPN["window"]}ms
      slide: {TOPN["slide"]}ms
      top_n: {TOPN["top"]}
""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--exporter", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--dictionary", required=True, help="the shipped dictionary")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    schemas = {fn[:-len(".schema.json")]: json.load(open(os.path.join(a.schemas, fn)))
               for fn in os.listdir(a.schemas) if fn.endswith(".schema.json")}
    tmp = tempfile.mkdtemp(prefix="s4f-worker-app-")
    dictionary = os.path.join(tmp, "dictionary.csv")
    shutil.copy(a.dictionary, dictionary)
    with open(dictionary, "a") as f:
        f.write(USER_LINE)
    now = int(time.time() * 1000)
    base = now - now % 360000 - 720000
    recs, truth = scenario(a.seed, base)
    print("seed %d: %d records, truth %s" % (a.seed, len(recs), truth), flush=True)
    inp = f"s4f-app-in-{RUN}"
    topics, groups, procs = [inp], [], []
    T.topic(a.topic_tool, "create", inp, "4")
    col = None
    try:
        col, port, mport = collector(tmp, inp)
        export(a, tmp, recs, port, mport, 0)
        results = {}
        for n in (1, 3):
            out = f"s4f-app-out{n}-{RUN}"
            topics.append(out)
            T.topic(a.topic_tool, "create", out, "4")
            cfg = os.path.join(tmp, f"n{n}.yml")
            group = f"s4f-app-{n}-{RUN}"
            groups += [group + ".tls_classification", group + ".top_n_host_stats"]
            config(cfg, inp, out, group, dictionary)
            procs = T.run_workers(a.worker, cfg, n, tmp, f"app-{n}")
            first = base + 3 * WINDOW
            docs, ok = T.wait_for(out, lambda d: summarize(d, 0, first) == truth, 120)
            got = summarize(docs, 0, first)
            for st in truth:
                T.check(got[st] == truth[st], f"N={n}: {st}: {got[st]} != {truth[st]}")
            for d in docs.values():
                errs = T.validate(d, schemas[d["@type"]])
                T.check(not errs, f"N={n}: {d['id']} schema: {errs[:3]}")
            if n == 1:
                sent = recs + sighup(a, tmp, procs[0], dictionary, col, port, mport, len(recs),
                                     base, out)
                want = topn_truth(sent)
                print("top_n_host_stats: %d (window, host) documents expected" % len(want),
                      flush=True)
            docs, ok = T.wait_for(out, lambda d: topn_docs(d) == want, 120)
            got = topn_docs(docs)
            T.check(ok, f"N={n}: top_n_host_stats: %d documents, %d expected; differing: %s" % (
                len(got), len(want), sorted(k for k in set(got) | set(want)
                                            if got.get(k) != want.get(k))[:5]))
            T.stop(procs)
            procs = []
            docs, _ = T.consume(out)
            results[n] = {i: d for i, d in docs.items() if d["@type"] == "top_n_host_stats" or
                          T.iso_ms(d["window_start"]) < first}
            print(f"N={n}: {len(results[n])} documents", flush=True)
        T.check(results[1] == results[3], "N=1 and N=3 documents identical")
    finally:
        T.stop(procs)
        if col:
            col.stop()
        T.topic(a.topic_tool, "delete", *topics)
        T.subprocess.run([a.topic_tool, "delete-groups", *groups], timeout=90,
                         env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=T.BOOT))
    if T.FAILS:
        print(f"{len(T.FAILS)} failure(s); logs in {tmp}")
        return 1
    print("all TLS/HTTP worker integration checks passed")
    return 0


def sighup(a, tmp, proc, dictionary, col, port, mport, sent, base, out):
    """A running worker: a broken file is refused with file and line (the dictionary stays),
    a changed one applies to the flows after it."""
    log = os.path.join(tmp, "app-1-0.log")
    good = open(dictionary).read()
    with open(dictionary, "w") as f:
        f.write(good + "ja3:123;;;;\n")
    lines = good.count("\n") + 1
    proc.send_signal(signal.SIGHUP)
    # The windows right after the scenario's: records much further ahead of a partition's
    # watermark than window + allowed lateness would wait aside (outliers).
    later = base + 3 * WINDOW
    real = recs_of("real", later)
    export(a, tmp, real, port, mport, sent)
    T.check(T.log_wait(log, r"dictionary not reloaded, keeping its \d+ keys: %s:%d: a ja3: key"
                       % (re.escape(dictionary), lines), 30),
            "a broken dictionary is refused with its line")
    w1 = (later, later + WINDOW)
    docs, ok = T.wait_for(out, lambda d: summarize(d, *w1)["browser"] == {"Chrome": len(real)}, 60)
    T.check(ok, "the loaded dictionary stays after a broken reload: %s" % summarize(docs, *w1))
    with open(dictionary, "w") as f:
        f.write(good.replace(USER_LINE, USER_LINE.replace("Chrome", "Brave")))
    proc.send_signal(signal.SIGHUP)
    later2 = base + 4 * WINDOW
    real2 = recs_of("real", later2)
    export(a, tmp, real2, port, mport, sent + len(real))
    w2 = (later2, later2 + WINDOW)
    docs, ok = T.wait_for(out, lambda d: summarize(d, *w2)["browser"] == {"Brave": len(real2)}, 60)
    T.check(ok, "a reloaded dictionary applies: %s" % summarize(docs, *w2))
    # and the file is back as it was for N=3
    with open(dictionary, "w") as f:
        f.write(good)
    return real + real2


def recs_of(name, start):
    fields = next(p[1] for p in PROFILES if p[0] == name)
    return [rec("10.2.0.%d" % i, "198.51.100.1", 40000 + i, 443, start + 100 * i, fields)
            for i in range(1, 4)]


if __name__ == "__main__":
    sys.exit(main())
