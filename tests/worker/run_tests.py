#!/usr/bin/env python3
"""Integration tests of s4f-worker against the real broker at $S4F_KAFKA_BOOTSTRAP.

Each run creates its own input and output topics (suffix pid+time), produces crafted flow
records with a known protocol mix, known scanners and known hosts, runs real s4f-worker
processes and reads the results back (kcat), last write wins per id as Elasticsearch would.
Cases: exact results; N=1/2/4 processes give identical documents; kill -9 mid-stream and
restart loses no window and counts nothing twice; late and out-of-order records; an idle
partition's last windows are emitted; hostile messages on host_stats' repartition topic are
counted one by one, the good records beside them folded. Every result is validated against
docs/schemas. With --sink and $S4F_ES_URL, the stall case's output is also indexed by the real
s4f-sink and checked against the fencing model."""
import argparse, ipaddress, json, os, re, signal, struct, subprocess, sys, tempfile, time, \
    urllib.request, zlib

BOOT = os.environ.get("S4F_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
# --format packed: the input is written as the collector's packed messages
# (docs/packed-format.md) instead of one JSON object per message; every case must give the
# same results.
FORMAT = "json"
PARTS = {}  # topic -> partitions, for packed messages' explicit partitions
RUN = f"{os.getpid()}-{int(time.time())}"
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg, flush=True)


# ---- a small JSON Schema validator for the subset docs/schemas uses ----------------------
def validate(doc, schema, path="$"):
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str}
    if t == "integer":
        if not isinstance(doc, int) or isinstance(doc, bool):
            return [f"{path}: not an integer"]
    elif t in types and not isinstance(doc, types[t]):
        return [f"{path}: not a {t}"]
    errs = []
    if "enum" in schema and doc not in schema["enum"]:
        errs.append(f"{path}: {doc!r} not in {schema['enum']}")
    if "minimum" in schema and doc < schema["minimum"]:
        errs.append(f"{path}: below minimum")
    if "maximum" in schema and doc > schema["maximum"]:
        errs.append(f"{path}: above maximum")
    if isinstance(doc, str):
        if "pattern" in schema and not re.search(schema["pattern"], doc):
            errs.append(f"{path}: {doc!r} does not match {schema['pattern']}")
        if len(doc) > schema.get("maxLength", 1 << 30) or len(doc) < schema.get("minLength", 0):
            errs.append(f"{path}: bad length")
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in doc:
                errs.append(f"{path}: missing {k}")
        names = schema.get("propertyNames", {}).get("pattern")
        for k, v in doc.items():
            if names and not re.search(names, k):
                errs.append(f"{path}: key {k!r} does not match {names}")
            if k in props:
                errs += validate(v, props[k], f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{path}: unexpected {k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += validate(v, schema["additionalProperties"], f"{path}.{k}")
    if isinstance(doc, list):
        if len(doc) > schema.get("maxItems", 1 << 30):
            errs.append(f"{path}: too many items")
        for i, v in enumerate(doc):
            errs += validate(v, schema.get("items", {}), f"{path}[{i}]")
    return errs


# ---- Kafka helpers ------------------------------------------------------------------------
def topic(tool, op, *args):
    """s4f-testkafka: create, delete, delete-groups."""
    if op == "create":
        PARTS[args[0]] = int(args[1])
    subprocess.run([tool, op, *args], check=True, timeout=90,
                   env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=BOOT))


def packed_record(r):
    """One flow of the test's JSON records (no GeoIP/DNS/application fields) as a packed
    record: the field table of docs/packed-format.md, written independently of the C code."""
    v6 = "ipfix.sourceIPv6Address" in r
    src = ipaddress.ip_address(r["ipfix.sourceIPv6Address" if v6 else "ipfix.sourceIPv4Address"])
    dst = ipaddress.ip_address(r["ipfix.destinationIPv6Address" if v6
                                 else "ipfix.destinationIPv4Address"])
    end = r["ipfix.flowEndMilliseconds"]
    start = r.get("ipfix.flowStartMilliseconds", end)
    body = struct.pack("<BBHHHQQQQ", 1 if v6 else 0, r["ipfix.protocolIdentifier"],
                       r.get("ipfix.tcpControlBits", 0), r.get("ipfix.sourceTransportPort", 0),
                       r.get("ipfix.destinationTransportPort", 0),
                       r.get("ipfix.packetDeltaCount", 0), r.get("ipfix.octetDeltaCount", 0),
                       min(start, end), end) + src.packed + dst.packed
    return struct.pack("<H", len(body) + 2) + body


def packed_messages(records, n, per=40):
    """records as packed messages of up to per flows, to the partition the collector would
    pick (librdkafka's consistent partitioner: CRC-32 of the key): [(partition, bytes)], each
    partition's flows in their order."""
    msgs, cur = [], None
    for k, r in records:
        p = zlib.crc32(k.encode()) % n
        if cur is None or cur[0] != p or len(cur[1]) == per:
            cur = (p, [])
            msgs.append(cur)
        cur[1].append(packed_record(r))
    return [(p, b"S4P\x01" + struct.pack("<HH", len(recs), 0) + b"".join(recs))
            for p, recs in msgs]


def produce_packed(t, records):
    n = PARTS.get(t, 4)
    by_part = {}
    for p, m in packed_messages(records, n):
        by_part.setdefault(p, []).append(m)
    d = tempfile.mkdtemp(prefix="s4f-packed-")
    for p, ms in by_part.items():
        files = []
        for i, m in enumerate(ms):
            fn = os.path.join(d, f"{p}-{i}.bin")
            open(fn, "wb").write(m)
            files.append(fn)
        for i in range(0, len(files), 500):
            subprocess.run(["kcat", "-b", BOOT, "-P", "-t", t, "-p", str(p), *files[i:i + 500]],
                           check=True, timeout=60)


def produce(t, records):
    """records: list of (key, dict); keyed like the collector (source address)."""
    if FORMAT == "packed":
        return produce_packed(t, records)
    data = "".join(f"{k}\t{json.dumps(r, separators=(',', ':'))}\n" for k, r in records)
    subprocess.run(["kcat", "-b", BOOT, "-P", "-t", t, "-K", "\t", "-X", "partitioner=murmur2_random"],
                   input=data.encode(), check=True, timeout=60)


def doc_flows(d):
    return d.get("flows", d.get("flows_in", 0) + d.get("flows_out", 0))


def consume(t, stats=None):
    """The documents as the sink keeps them (docs/worker.md, fencing): per id the last write
    of the highest epoch (header s4f-epoch); a write of a lower epoch is a fenced zombie's.
    stats (a dict), if given, gets 'fenced' (writes refused), 'shrunk' (ids whose kept
    document was replaced by one with fewer flows), 'epochs' (per id the kept document's epoch)
    and 'raw' (messages read)."""
    p = subprocess.run(["kcat", "-b", BOOT, "-C", "-t", t, "-o", "beginning", "-e", "-q",
                        "-f", "%k\t%h\t%s\n"], capture_output=True, timeout=60)
    docs, epochs = {}, {}
    raw = fenced = 0
    shrunk = []
    for line in p.stdout.decode().splitlines():
        if not line.strip():
            continue
        k, h, s = line.split("\t", 2)
        hdr = dict(x.split("=", 1) for x in h.split(",") if "=" in x)
        ep = int(hdr.get("s4f-epoch", "0"))
        d = json.loads(s)
        raw += 1
        check(d.get("id") == k, f"message key {k} != id {d.get('id')}")
        i = d["id"]
        if ep < epochs.get(i, 0):
            fenced += 1
            continue
        if i in docs and doc_flows(d) < doc_flows(docs[i]):
            shrunk.append((i, doc_flows(docs[i]), doc_flows(d)))
        docs[i], epochs[i] = d, ep  # last write wins, like Elasticsearch with _id
    if stats is not None:
        stats.update(fenced=fenced, shrunk=shrunk, epochs=epochs, raw=raw)
    return docs, raw


# ---- crafted traffic ----------------------------------------------------------------------
def flow(src, dst, sport, dport, proto, flags, pkts, octets, end, dur=500):
    key4 = ":" not in src
    r = {"@type": "ipfix.entry",
         "ipfix.sourceIPv4Address" if key4 else "ipfix.sourceIPv6Address": src,
         "ipfix.destinationIPv4Address" if key4 else "ipfix.destinationIPv6Address": dst,
         "ipfix.sourceTransportPort": sport, "ipfix.destinationTransportPort": dport,
         "ipfix.protocolIdentifier": proto, "ipfix.tcpControlBits": flags,
         "ipfix.packetDeltaCount": pkts, "ipfix.octetDeltaCount": octets,
         "ipfix.flowStartMilliseconds": end - dur, "ipfix.flowEndMilliseconds": end,
         "s4f.exporter": "192.0.2.1", "unknown.nested": {"a": [1, 2, {"b": None}]}}
    return (src, r)


def traffic(base):
    """Two minutes of traffic starting at base (minute-aligned, in the past)."""
    recs = []
    protos = [(6, 0x1b), (17, 0), (1, 0), (58, 0), (47, 0)]
    for i in range(600):
        t = base + i * 200  # 0 .. 120 s
        proto, fl = protos[i % 5]
        src = f"10.0.{i % 7}.{i % 13 + 1}" if proto != 58 else f"fd00::{i % 5 + 1}"
        dst = f"198.51.100.{i % 11}" if proto != 58 else "2001:db8::1"
        recs.append(flow(src, dst, 40000 + i, 443 if proto == 6 else 53, proto, fl, i % 9 + 1,
                         (i % 9 + 1) * 100, t))
    # horizontal scanner: 30 targets on port 22 in the first minute
    for j in range(30):
        recs.append(flow("10.9.9.9", f"203.0.113.{j + 1}", 50000, 22, 6, 0x02, 1, 40,
                         base + 1000 + j * 1500))
    # vertical scanner: 25 ports of one host in the second minute
    for j in range(25):
        recs.append(flow("10.8.8.8", "192.168.1.1", 50001, 1000 + j, 6, 0x02, 1, 40,
                         base + 61000 + j * 1500))
    # below threshold and not-a-scan (SYN+ACK) sources
    for j in range(19):
        recs.append(flow("10.7.7.7", f"203.0.113.{j + 1}", 50002, 80, 6, 0x02, 1, 40,
                         base + 2000 + j * 1000))
    for j in range(40):
        recs.append(flow("10.6.6.6", f"203.0.113.{j + 1}", 50003, 80, 6, 0x12, 1, 40,
                         base + 3000 + j * 1000))
    return recs


def expected(recs):
    proto = {}
    names = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
    for _, r in recs:
        end = r["ipfix.flowEndMilliseconds"]
        w = end - end % 10000
        p = names.get(r["ipfix.protocolIdentifier"], "other")
        e = proto.setdefault((w, p), [0, 0, 0])
        e[0] += 1
        e[1] += r["ipfix.packetDeltaCount"]
        e[2] += r["ipfix.octetDeltaCount"]
    return proto


LOCAL_NETS = ["10.0.0.0/8", "fd00::/8", "192.168.0.0/16"]


def host_sides(recs):
    """Expected sum of flows_out + flows_in over host_stats rows: one per local side."""
    import ipaddress
    nets = [ipaddress.ip_network(n) for n in LOCAL_NETS]
    local = lambda a: any(ipaddress.ip_address(a) in n for n in nets
                          if n.version == ipaddress.ip_address(a).version)
    total = 0
    for _, r in recs:
        src = r.get("ipfix.sourceIPv4Address") or r.get("ipfix.sourceIPv6Address")
        dst = r.get("ipfix.destinationIPv4Address") or r.get("ipfix.destinationIPv6Address")
        total += local(src) + (local(dst) and dst != src)
    return total


def host_totals(docs):
    return sum(d["flows_out"] + d["flows_in"] for d in docs.values()
               if d["@type"] == "host_stats")


def iso_ms(s):
    import datetime
    return int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def proto_totals(docs):
    tot = {}
    for d in docs.values():
        if d["@type"] != "protocols_statistics":
            continue
        e = tot.setdefault((iso_ms(d["window_start"]), d["protocol"]), [0, 0, 0])
        e[0] += d["flows"]
        e[1] += d["packets"]
        e[2] += d["bytes"]
    return tot


def scans(docs):
    return sorted((d["@type"], d["window_start"], d["src_ip"], str(d.get("dst_port", d.get("dst_ip"))),
                   d["targets_total"], d["flows"]) for d in docs.values() if d["@type"].startswith("portscan"))


def routed(side, src, dst, part, off, end, magic=b"S4R\x01"):
    """A routed record as host_stats' stage one writes it (docs/worker.md)."""
    a = lambda ip: bytes(int(x) for x in ip.split(".")) + bytes(12)
    return struct.pack("<4sBBBBHHHHIIQQQqq16s16s", magic, side, 4, 6, 0, 0x12, 40000, 443, 0,
                       part, 0, off, 3, 180, end - 500, end, a(src), a(dst))


def metric_wait(logpath, name, want, deadline_s):
    """Waits until the worker whose log is logpath shows metric name >= want; its value."""
    end, v = time.time() + deadline_s, None
    while time.time() < end:
        m = re.search(r"metrics on port (\d+)", open(logpath, errors="replace").read())
        if m:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=5) as r:
                    for line in r.read().decode().splitlines():
                        if line.startswith(name + " "):
                            v = float(line.rsplit(" ", 1)[1])
            except OSError:
                pass
            if v is not None and v >= want:
                return v
        time.sleep(0.3)
    return v


# ---- worker processes ---------------------------------------------------------------------
def config(path, inp, out, rep, extra="", kafka="", idle="1s"):
    """rep: host_stats' repartition topic (one per case: each case's groups read all of it)."""
    with open(path, "w") as f:
        f.write(f"""kafka:
  bootstrap.servers: "{BOOT}"{kafka}
worker:
  log_level: info
  metrics_listen: 127.0.0.1:0
  input_topic: {inp}
  commit_interval: 200ms
  shutdown_grace: 20s
  analyses:
    protocols_statistics:
      output_topic: {out}
      idle_timeout: {idle}
      allowed_lateness: 5s{extra}
    ports_scan:
      output_topic: {out}
      idle_timeout: {idle}
    host_stats:
      output_topic: {out}
      idle_timeout: {idle}
      local_networks: [10.0.0.0/8, "fd00::/8", 192.168.0.0/16]
      repartition_topic: {rep}
      changelog_topic: {rep}.prof
""")


def start(worker, cfg, group, log):
    env = dict(os.environ)
    return subprocess.Popen([worker, "-c", cfg], stdout=log, stderr=log, env=env,
                            preexec_fn=os.setsid) if group is None else None


def run_workers(worker, cfg, n, logdir, tag):
    procs = []
    for i in range(n):
        log = open(os.path.join(logdir, f"{tag}-{i}.log"), "w")
        procs.append(subprocess.Popen([worker, "-c", cfg, "--instance", f"{tag}{i}"],
                                      stdout=log, stderr=log))
    return procs


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        check(p.returncode in (0, -9), f"worker exit code {p.returncode}")


def wait_for(out, want, deadline_s):
    """Polls the output until want(docs) holds or the deadline passes."""
    end = time.time() + deadline_s
    docs = {}
    while time.time() < end:
        docs, _ = consume(out)
        if want(docs):
            return docs, True
        time.sleep(0.5)
    return docs, False


def new_case(a, tmp, name, outs, parts=4, kafka="", idle="1s"):
    """Topics and a configuration of a case of its own: (input, output, config path)."""
    inp, out, rep = f"s4f-it-in-{name}-{RUN}", f"s4f-it-out{name}-{RUN}", f"s4f-it-rep{name}-{RUN}"
    for t in (inp, out, rep, rep + ".prof"):
        topic(a.topic_tool, "create", t, str(parts))
        outs.append(t)
    cfg = os.path.join(tmp, f"{name}.yml")
    config(cfg, inp, out, rep, kafka=kafka, idle=idle)
    txt = open(cfg).read().replace("worker:\n", f"worker:\n  group_id: s4f-it-{name}-{RUN}\n", 1)
    open(cfg, "w").write(txt)
    return inp, out, cfg


def log_wait(path, pattern, deadline_s):
    end = time.time() + deadline_s
    while time.time() < end:
        if re.search(pattern, open(path, errors="replace").read()):
            return True
        time.sleep(0.3)
    return False


def trickle(inp, recs, every=15, pause=0.1, at=None, action=None):
    """Produces recs a few at a time (a live pipeline); calls action() once chunk `at` is out."""
    chunks = [recs[i:i + every] for i in range(0, len(recs), every)]
    for i, c in enumerate(chunks):
        produce(inp, c)
        time.sleep(pause)
        if action and i == at:
            action()


def case_stall(a, tmp, recs, base, exp, hexp, outs):
    """Item 2 of issue 23: a worker stalled past the session timeout (SIGSTOP) and resumed
    after its partitions moved must not replace the new owner's results with its stale ones:
    it drops what it held unemitted, and what it wrote before it learnt so carries a lower
    epoch, which the sink (and consume() here) refuses."""
    inp, out, cfg = new_case(a, tmp, "stall", outs,
                             kafka="\n  session.timeout.ms: 6000\n  heartbeat.interval.ms: 500")
    first = [r for r in recs if r[1]["ipfix.flowEndMilliseconds"] < base + 45000]
    rest = [r for r in recs if r[1]["ipfix.flowEndMilliseconds"] >= base + 45000]
    produce(inp, first)
    procs = run_workers(a.worker, cfg, 2, tmp, "stall")
    wait_for(out, lambda d: len(proto_totals(d)) >= 3, 60)
    # Stopped in the middle of a live stream: it holds open windows with flows not emitted.
    trickle(inp, rest, at=len(rest) // 45, action=lambda: procs[0].send_signal(signal.SIGSTOP))
    docs, ok = wait_for(out, lambda d: proto_totals(d) == exp and host_totals(d) == hexp, 120)
    check(ok, "stall: the other worker took over and completed every result")
    procs[0].send_signal(signal.SIGCONT)
    lost = log_wait(os.path.join(tmp, "stall-0.log"), r"partition\(s\) lost to the group", 60)
    check(lost, "stall: the resumed worker learnt that its partitions were lost")
    # What the resumed worker might still write shows up within its next ticks.
    time.sleep(3)
    stop(procs)
    st = {}
    docs, _ = consume(out, st)
    check(proto_totals(docs) == exp, "stall: protocol totals exact after the resume")
    check(host_totals(docs) == hexp, f"stall: host_stats totals exact ({host_totals(docs)} != {hexp})")
    check(not st["shrunk"], f"stall: no result replaced by a smaller one: {st['shrunk'][:5]}")
    print(f"stall: {st['fenced']} stale write(s) of the resumed worker fenced", flush=True)
    if a.sink:
        check_sink(a, tmp, "stall", out, docs, st)


def case_cooperative(a, tmp, recs, base, exp, hexp, outs):
    """Item 6 of issue 23: partition.assignment.strategy cooperative-sticky works (incremental
    assignment), and a second worker joining mid-stream changes no total."""
    inp, out, cfg = new_case(a, tmp, "coop", outs,
                             kafka="\n  partition.assignment.strategy: cooperative-sticky")
    first = [r for r in recs if r[1]["ipfix.flowEndMilliseconds"] < base + 65000]
    rest = [r for r in recs if r[1]["ipfix.flowEndMilliseconds"] >= base + 65000]
    produce(inp, first)
    procs = run_workers(a.worker, cfg, 1, tmp, "coopa")
    _, ok = wait_for(out, lambda d: len(proto_totals(d)) >= 3, 60)
    check(ok, "cooperative: the first worker processes")
    procs += run_workers(a.worker, cfg, 1, tmp, "coopb")
    check(log_wait(os.path.join(tmp, "coopb-0.log"), r"assigned [1-9]\d* partition\(s\) \(incremental\)",
                   60), "cooperative: the second worker got partitions incrementally")
    produce(inp, rest)
    docs, ok = wait_for(out, lambda d: proto_totals(d) == exp and host_totals(d) == hexp, 90)
    stop(procs)
    st = {}
    docs, _ = consume(out, st)
    check(proto_totals(docs) == exp, "cooperative: protocol totals exact")
    check(host_totals(docs) == hexp, f"cooperative: host_stats totals exact ({host_totals(docs)} != {hexp})")
    check(not st["shrunk"], f"cooperative: no result replaced by a smaller one: {st['shrunk'][:5]}")


def es_call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def check_sink(a, tmp, tag, out, docs, st):
    """The real s4f-sink indexes the output into Elasticsearch ($S4F_ES_URL): it must store
    exactly the documents consume() kept, each with its epoch as version (epoch * 2^32), every
    other write fenced, none dead-lettered (the worker's s4f-epoch header as the sink reads it)."""
    es = os.environ.get("S4F_ES_URL")
    try:
        es_call("GET", f"{es}/_cluster/health")
    except (OSError, ValueError, TypeError):
        print(f"{tag}: no Elasticsearch at S4F_ES_URL={es}: sink check skipped", flush=True)
        return
    prefix = f"s4fit-{tag}-{RUN}"
    cfg, log = os.path.join(tmp, f"{tag}-sink.yml"), os.path.join(tmp, f"{tag}-sink.log")
    with open(cfg, "w") as f:
        f.write(f"""kafka:
  bootstrap.servers: "{BOOT}"
elasticsearch:
  urls: ["{es}"]
  index_prefix: {prefix}
sink:
  metrics_listen: 127.0.0.1:0
  topics: [{out}]
  group_id: {prefix}
  deadletter_topic: ''
  bulk_max_delay: 200ms
""")
    p = subprocess.Popen([a.sink, "-c", cfg], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        want = st["raw"] - st["fenced"]
        got = metric_wait(log, "s4f_sink_docs_indexed_total", want, 90)
        fenced = metric_wait(log, "s4f_sink_docs_fenced_total", st["fenced"], 10)
        dead = sum(metric_wait(log, f's4f_sink_docs_deadlettered_total{{reason="{r}"}}', 0, 5)
                   or 0 for r in ("invalid", "rejected", "unknown_type", "time_out_of_bounds"))
        check(got == want and fenced == st["fenced"] and dead == 0,
              f"{tag}: sink indexed {got} of {want}, fenced {fenced} of {st['fenced']}, "
              f"dead-lettered {dead}")
        es_call("POST", f"{es}/{prefix}-*/_refresh")
        hits = es_call("POST", f"{es}/{prefix}-*/_search?version=true",
                       json.dumps({"size": 10000, "query": {"match_all": {}}}).encode())
        stored = {h["_id"]: (h["_source"], h["_version"]) for h in hits["hits"]["hits"]}
        check(set(stored) == set(docs), f"{tag}: Elasticsearch holds {len(stored)} ids, "
              f"the fencing model {len(docs)}")
        bad = [i for i in docs if i in stored and stored[i] != (docs[i], st["epochs"][i] << 32)]
        check(not bad, f"{tag}: stored documents or versions differ from the model: {bad[:3]}")
        print(f"{tag}: the sink stored {len(stored)} documents as the fencing model, "
              f"{fenced:.0f} write(s) fenced", flush=True)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        check(rc == 0, f"{tag}: the sink exited with {rc} (log {log})")
        for path in (f"{prefix}-*?expand_wildcards=all", f"_index_template/{prefix}-*",
                     f"_component_template/{prefix}-*"):
            try:
                es_call("DELETE", f"{es}/{path}")
            except (OSError, ValueError):
                pass
        subprocess.run([a.topic_tool, "delete-groups", prefix], timeout=90,
                       env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=BOOT), capture_output=True)


class OnlyCases(Exception):
    """--only: the selected cases ran; skip the others."""


def produce_to(t, partition, records):
    if FORMAT == "packed":
        ms = [m for _, m in packed_messages(records, 1)]
        d = tempfile.mkdtemp(prefix="s4f-packed-")
        files = []
        for i, m in enumerate(ms):
            files.append(os.path.join(d, f"{i}.bin"))
            open(files[-1], "wb").write(m)
        subprocess.run(["kcat", "-b", BOOT, "-P", "-t", t, "-p", str(partition), *files],
                       check=True, timeout=60)
        return
    data = "".join(f"{k}\t{json.dumps(r, separators=(',', ':'))}\n" for k, r in records)
    subprocess.run(["kcat", "-b", BOOT, "-P", "-t", t, "-K", "\t", "-p", str(partition)],
                   input=data.encode(), check=True, timeout=60)


def backlog(start, minutes, rates):
    """A backlog of `minutes` from start: per input partition (index in rates) flows at that
    rate, in time order; local sources, every other destination local too."""
    parts = []
    for sp, rate in enumerate(rates):
        recs, n = [], minutes * 60 * rate
        for i in range(n):
            t = start + i * 1000 // rate + sp
            src = f"10.{sp + 1}.{i % 17}.{i % 11 + 1}"
            dst = f"192.168.{sp}.{i % 5 + 1}" if i % 2 == 0 else f"203.0.113.{i % 50 + 1}"
            recs.append(flow(src, dst, 40000 + i % 1000, 443, 6, 0x1b, 3, 300, t, 200))
        parts.append(recs)
    return parts


def host_docs(docs):
    return {i: d for i, d in docs.items() if d["@type"] == "host_stats"}


def case_skew(a, tmp, recs, base, exp, hexp, outs):
    """Item 1 of issue 23: a 10-minute backlog, one input partition at 30 flows/s, three at
    2: stage one reads them at different paces (small fetches make it plain), and stage two
    must not let the fast ones make the slow one's records late. Exact and identical for
    N = 1, 2 and 4, and across kill -9 with a backlog and a restart 10 s later (the issue's
    restart came 170 s later: the wall clock, which idle partitions go by, moves on meanwhile)."""
    now = int(time.time() * 1000)
    start = now - now % 60000 - 11 * 60000
    parts = backlog(start, 10, [30, 2, 2, 2])
    allrecs = [r for p in parts for r in p]
    want = host_sides(allrecs)
    kafka = "\n  max.partition.fetch.bytes: 32768"
    res = {}
    for tag, n, kill in (("skew1", 1, False), ("skew2", 2, False), ("skew4", 4, False),
                         ("skewk", 1, True)):
        inp, out, cfg = new_case(a, tmp, tag, outs, kafka=kafka)
        for sp, p in enumerate(parts):
            produce_to(inp, sp, p)
        procs = run_workers(a.worker, cfg, n, tmp, tag)
        if kill:
            # kill -9 in the middle of the backlog, restart with the rest still to read
            metric_wait(os.path.join(tmp, f"{tag}-0.log"),
                        's4f_worker_flows_total{analysis="host_stats"}', 2000, 60)
            procs[0].kill()
            procs[0].wait()
            time.sleep(10)  # the downtime itself (the scenario), not a wait for a condition
            procs = run_workers(a.worker, cfg, 1, tmp, tag + "b")
        docs, ok = wait_for(out, lambda d: host_totals(d) == want, 120)
        lab = '{analysis="host_stats"}'
        late = metric_wait(os.path.join(tmp, f"{tag}{'b' if kill else ''}-0.log"),
                           "s4f_worker_late_dropped_total" + lab, 0, 10)
        stop(procs)
        docs, _ = consume(out)
        check(host_totals(docs) == want, f"{tag}: host_stats exact after a skewed backlog "
              f"({host_totals(docs)} != {want}; late_dropped {late})")
        res[tag] = host_docs(docs)
        print(f"{tag}: {host_totals(docs)} of {want} host sides, late_dropped {late}", flush=True)
    check(res["skew1"] == res["skew2"], "skewed backlog: N=1 and N=2 host_stats identical")
    check(res["skew1"] == res["skew4"], "skewed backlog: N=1 and N=4 host_stats identical")
    check(res["skew1"] == res["skewk"], "skewed backlog: kill -9 gives the clean run's host_stats")


def case_failed_write(a, tmp, recs, base, exp, hexp, outs):
    """Item 3 of issue 23: the broker refuses repartition writes for a while (a message size
    limit on the topic: full packs are refused, small ones pass, so gaps open); stage one
    stops and rewinds, stage two refills the gaps: nothing lost, nothing counted twice."""
    inp, out, cfg = new_case(a, tmp, "failw", outs)
    rep = f"s4f-it-repfailw-{RUN}"
    topic(a.topic_tool, "config", rep, "max.message.bytes", "2000")
    now = int(time.time() * 1000)
    start = now - now % 60000 - 4 * 60000
    parts = backlog(start, 3, [10, 6, 4, 2])
    allrecs = [r for p in parts for r in p]
    want = host_sides(allrecs)
    for sp, p in enumerate(parts):
        produce_to(inp, sp, p)
    procs = run_workers(a.worker, cfg, 1, tmp, "failw")
    lab = '{analysis="host_stats"}'
    replays = metric_wait(os.path.join(tmp, "failw-0.log"),
                          "s4f_worker_repartition_replays_total" + lab, 1, 60)
    check(replays and replays >= 1, f"failed write: stage one rewound ({replays})")
    topic(a.topic_tool, "config", rep, "max.message.bytes", "1048588")
    docs, ok = wait_for(out, lambda d: host_totals(d) == want, 120)
    seen = {m: metric_wait(os.path.join(tmp, "failw-0.log"), f"s4f_worker_{m}_total" + lab, 0, 5)
            for m in ("late_dropped", "repartition_duplicates", "repartition_marks_held",
                      "repartition_replays", "flows")}
    stop(procs)
    docs, _ = consume(out)
    check(host_totals(docs) == want, f"failed write: host_stats exact ({host_totals(docs)} != {want}; {seen})")
    print(f"failed write: {replays} rewind(s), {host_totals(docs)} of {want} host sides", flush=True)


CASES = {"stall": case_stall, "cooperative": case_cooperative, "skew": case_skew,
         "failed_write": case_failed_write}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--sink", default="", help="s4f-sink: the stall case's output is also "
                    "indexed by the real sink into $S4F_ES_URL and checked")
    ap.add_argument("--format", choices=("json", "packed"), default="json",
                    help="how the input is written: one JSON object per message, or packed")
    ap.add_argument("--only", default="", help="comma-separated cases of " + ",".join(CASES)
                    + " (default: everything)")
    a = ap.parse_args()
    global FORMAT
    FORMAT = a.format
    schemas = {}
    for fn in os.listdir(a.schemas):
        if fn.endswith(".schema.json"):
            schemas[fn[:-len(".schema.json")]] = json.load(open(os.path.join(a.schemas, fn)))
    tmp = tempfile.mkdtemp(prefix="s4f-worker-it-")
    now = int(time.time() * 1000)
    base = now - now % 60000 - 5 * 60000
    # in time order, as a collector writes them (late data has its own case below)
    recs = sorted(traffic(base), key=lambda r: r[1]["ipfix.flowEndMilliseconds"])
    exp = expected(recs)
    hexp = host_sides(recs)
    inp = f"s4f-it-in-{RUN}"
    outs = []
    topic(a.topic_tool, "create", inp, "4")
    try:
        for name, fn in CASES.items():
            if not a.only or name in a.only.split(","):
                fn(a, tmp, recs, base, exp, hexp, outs)
        if a.only:
            raise OnlyCases()
        produce(inp, recs)
        results = {}
        # ---- N = 1, 2, 4: identical documents --------------------------------------------
        for n in (1, 2, 4):
            out = f"s4f-it-out{n}-{RUN}"
            outs.append(out)
            rep = f"s4f-it-rep{n}-{RUN}"
            outs += [rep, rep + ".prof"]
            topic(a.topic_tool, "create", out, "4")
            topic(a.topic_tool, "create", rep, "4")
            topic(a.topic_tool, "create", rep + ".prof", "4")
            cfg = os.path.join(tmp, f"n{n}.yml")
            config(cfg, inp, out, rep)
            # a group of its own per case: each case consumes the input from the start
            with open(cfg, "a") as f:
                f.write(f"  group_id: s4f-it-{n}-{RUN}\n".replace("  group_id", "  group_id", 1))
            txt = open(cfg).read().replace(f"  group_id: s4f-it-{n}-{RUN}\n", "")
            txt = txt.replace("worker:\n", f"worker:\n  group_id: s4f-it-{n}-{RUN}\n", 1)
            open(cfg, "w").write(txt)
            procs = run_workers(a.worker, cfg, n, tmp, f"n{n}")
            docs, ok = wait_for(out, lambda d: proto_totals(d) == {k: v for k, v in exp.items()}
                                and len(scans(d)) >= 2 and host_totals(d) == hexp, 90)
            stop(procs)
            docs, raw = consume(out)
            check(ok, f"N={n}: protocol totals reached the expected values")
            check(proto_totals(docs) == exp, f"N={n}: protocol totals exact")
            check(host_totals(docs) == hexp, f"N={n}: host_stats totals exact "
                  f"({host_totals(docs)} != {hexp})")
            results[n] = docs
            for d in docs.values():
                errs = validate(d, schemas[d["@type"]])
                check(not errs, f"N={n}: {d['id']} schema: {errs[:3]}")
            print(f"N={n}: {len(docs)} documents ({raw} messages)", flush=True)
        check(results[1] == results[2], "N=1 and N=2 documents identical")
        check(results[1] == results[4], "N=1 and N=4 documents identical")
        sc = scans(results[1])
        wh = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(base / 1000))
        wv = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(base / 1000 + 60))
        check(sc == sorted([("portscan_horizontal", wh, "10.9.9.9", "22", 30, 30),
                            ("portscan_vertical", wv, "10.8.8.8", "192.168.1.1", 25, 25)]),
              f"exactly the two scanners reported: {sc}")
        hs = [d for d in results[1].values() if d["@type"] == "host_stats"
              and d["host"] == "10.8.8.8"]
        check(len(hs) == 1 and hs[0]["flows_out"] == 25 and hs[0]["dst_ports_distinct"] == 25
              and hs[0]["tcp_flags"]["SYN"] == 25 and hs[0]["peers_distinct"] == 1,
              f"host_stats of the vertical scanner: {hs}")
        # The scanned host is profiled whole, in one row (its flows come from another
        # partition: the repartition topic brings them together).
        hin = [d for d in results[1].values() if d["@type"] == "host_stats"
               and d["host"] == "192.168.1.1"]
        check(len(hin) == 1 and hin[0]["flows_in"] == 25 and hin[0]["flows_out"] == 0
              and hin[0]["peers_distinct"] == 1 and hin[0]["dst_ports_distinct"] == 25
              and hin[0]["top_peers"] == [{"ip": "10.8.8.8", "flows": 25}]
              and hin[0]["tcp_flags"]["SYN"] == 25,
              f"host_stats of the scanned host, whole: {hin}")
        # Every local host has one row per window, however many partitions its flows came from.
        rows = {}
        for d in results[1].values():
            if d["@type"] == "host_stats":
                rows.setdefault((d["host"], d["window_start"]), []).append(d["id"])
        dup = {k: v for k, v in rows.items() if len(v) > 1}
        check(not dup, f"one host_stats row per host and window: {list(dup.items())[:3]}")

        # ---- hostile messages on the repartition topic -------------------------------------
        # Anyone with access to the broker can write there: each bad record is refused and
        # counted, the good record packed beside one is folded, the worker stays up.
        inp5, out5, rep5 = (f"s4f-it-in-hostile-{RUN}", f"s4f-it-outhostile-{RUN}",
                            f"s4f-it-rephostile-{RUN}")
        outs += [inp5, out5, rep5, rep5 + ".prof"]
        for t5 in (inp5, out5, rep5, rep5 + ".prof"):
            topic(a.topic_tool, "create", t5, "4")
        cfg5 = os.path.join(tmp, "hostile.yml")
        config(cfg5, inp5, out5, rep5)
        txt = open(cfg5).read().replace("worker:\n", f"worker:\n  group_id: s4f-it-hostile-{RUN}\n", 1)
        open(cfg5, "w").write(txt)
        good = routed(1, "10.1.1.1", "198.51.100.1", 0, 7, base + 1000)
        msgs = [good[:95],                                       # not a whole record
                routed(1, "10.1.1.2", "198.51.100.1", 0, 8, base + 1000) * 2113,  # pack too long
                good + b"XXXX" + good[4:],                       # good, then bad magic
                json.dumps({"ipfix.sourceIPv4Address": "10.1.1.3",  # JSON without a side
                            "ipfix.destinationIPv4Address": "198.51.100.1",
                            "ipfix.protocolIdentifier": 6,
                            "ipfix.flowEndMilliseconds": base}).encode(),
                # claims a source offset far beyond the input's end: refused (it would make
                # every later record of source partition 0 a duplicate), the next one folded
                routed(1, "10.1.1.4", "198.51.100.1", 0, 1 << 40, base + 1000),
                routed(1, "10.1.1.5", "198.51.100.1", 0, 9, base + 1000)]
        # The input's partition 0 holds 20 records (not local: stage one routes none), so
        # source offsets 7 and 9 are real.
        data5 = "".join(json.dumps(flow("203.0.113.9", "198.51.100.9", 1, 80, 17, 0, 1, 100,
                                        base + i)[1]) + "\n" for i in range(20))
        subprocess.run(["kcat", "-b", BOOT, "-P", "-t", inp5, "-p", "0"], input=data5.encode(),
                       check=True, timeout=60)
        files = []
        for i, m in enumerate(msgs):
            fn = os.path.join(tmp, f"hostile{i}.bin")
            open(fn, "wb").write(m)
            files.append(fn)
        subprocess.run(["kcat", "-b", BOOT, "-P", "-t", rep5, "-p", "0", *files], check=True,
                       timeout=60)
        procs = run_workers(a.worker, cfg5, 1, tmp, "hostile")
        lab = '{analysis="host_stats"}'
        bad = metric_wait(os.path.join(tmp, "hostile-0.log"),
                          "s4f_worker_records_malformed_total" + lab, 4, 60)
        folded = metric_wait(os.path.join(tmp, "hostile-0.log"),
                             "s4f_worker_flows_total" + lab, 2, 30)
        beyond = metric_wait(os.path.join(tmp, "hostile-0.log"),
                             "s4f_worker_repartition_offset_refused_total" + lab, 1, 30)
        check(procs[0].poll() is None, "hostile repartition messages: the worker is still up")
        stop(procs)
        check(bad == 4, f"hostile repartition messages: 4 malformed counted ({bad})")
        check(folded == 2, f"hostile repartition messages: the good records folded ({folded})")
        check(beyond == 1, f"hostile repartition messages: the far source offset refused ({beyond})")
        print(f"hostile repartition messages: {bad:.0f} malformed, {beyond:.0f} beyond the "
              f"input, {folded:.0f} folded", flush=True)

        # ---- kill -9 mid-stream, restart: same documents -----------------------------------
        inp2 = f"s4f-it-in-kill-{RUN}"
        out = f"s4f-it-outkill-{RUN}"
        rep = f"s4f-it-repkill-{RUN}"
        outs += [inp2, out, rep, rep + ".prof"]
        topic(a.topic_tool, "create", inp2, "4")
        topic(a.topic_tool, "create", out, "4")
        topic(a.topic_tool, "create", rep, "4")
        topic(a.topic_tool, "create", rep + ".prof", "4")
        cfg = os.path.join(tmp, "kill.yml")
        config(cfg, inp2, out, rep)
        txt = open(cfg).read().replace("worker:\n", f"worker:\n  group_id: s4f-it-k-{RUN}\n", 1)
        open(cfg, "w").write(txt)
        half = sorted(recs, key=lambda r: r[1]["ipfix.flowEndMilliseconds"])
        first = [r for r in half if r[1]["ipfix.flowEndMilliseconds"] < base + 65000]
        rest = [r for r in half if r[1]["ipfix.flowEndMilliseconds"] >= base + 65000]
        produce(inp2, first)
        procs = run_workers(a.worker, cfg, 1, tmp, "kill-a")
        wait_for(out, lambda d: len(proto_totals(d)) >= 3, 60)
        procs[0].kill()  # SIGKILL: no drain, no commit
        procs[0].wait()
        produce(inp2, rest)
        procs = run_workers(a.worker, cfg, 1, tmp, "kill-b")
        docs, ok = wait_for(out, lambda d: proto_totals(d) == exp and host_totals(d) == hexp, 90)
        stop(procs)
        docs, _ = consume(out)
        check(proto_totals(docs) == exp, "kill -9: protocol totals exact (nothing lost or doubled)")
        check(host_totals(docs) == hexp, f"kill -9: host_stats totals exact ({host_totals(docs)} "
              f"!= {hexp}: nothing lost or doubled through the repartition topic)")
        check(scans(docs) == scans(results[1]), "kill -9: same scans")
        check(set(docs) == set(results[1]), "kill -9: same result ids as the clean run")
        diff = [i for i in docs if i in results[1] and docs[i] != results[1][i]]
        check(not diff, f"kill -9: documents equal to the clean run ({diff[:3]})")
        # The restarted worker read host_stats' profile changelog back for its partitions.
        restored = re.findall(r"host_stats: partition \d+: (\d+) changelog record\(s\) restored",
                              open(os.path.join(tmp, "kill-b-0.log"), errors="replace").read())
        check(len(restored) == 4, f"kill -9: profile changelog read back for 4 partitions "
              f"({restored})")
        print(f"kill -9: {sum(map(int, restored))} profile record(s) restored", flush=True)

        # ---- event-time poisoning: one flow 9 minutes ahead every 30 s ----------------------
        # Regression (issue 13): one such flow moved its partition's watermark and every real
        # flow after it was dropped as late. Now the results are those of the clean run.
        inp6, out6, rep6 = (f"s4f-it-in-poison-{RUN}", f"s4f-it-outpoison-{RUN}",
                            f"s4f-it-reppoison-{RUN}")
        outs += [inp6, out6, rep6, rep6 + ".prof"]
        for t6 in (inp6, out6, rep6, rep6 + ".prof"):
            topic(a.topic_tool, "create", t6, "4")
        cfg6 = os.path.join(tmp, "poison.yml")
        config(cfg6, inp6, out6, rep6)
        txt = open(cfg6).read().replace("worker:\n", f"worker:\n  group_id: s4f-it-p-{RUN}\n", 1)
        open(cfg6, "w").write(txt)
        poisoned = list(recs)
        # At 30, 60, .. 150 s, each after the real flows of its time (from 30 s on: a partition's
        # very first records have no watermark to be measured against yet).
        for k6 in range(1, 6):
            at = next((i for i, r in enumerate(poisoned)
                       if r[1]["ipfix.flowEndMilliseconds"] > base + k6 * 30000), len(poisoned))
            poisoned.insert(at, flow(f"203.0.113.{200 + k6}", "198.51.100.250", 1234, 80, 17, 0, 1,
                                     100, base + k6 * 30000 + 540000))
        produce(inp6, poisoned)
        procs = run_workers(a.worker, cfg6, 1, tmp, "poison")
        # host_stats too: its stage one's watermark marks use the same statistic, so the
        # forged times move no repartition partition's watermark either.
        docs, ok = wait_for(out6, lambda d: proto_totals(d) == exp and len(scans(d)) >= 2
                            and host_totals(d) == hexp, 90)
        lab = '{analysis="protocols_statistics"}'
        outl = metric_wait(os.path.join(tmp, "poison-0.log"), "s4f_worker_outlier_total" + lab,
                           1, 30)
        stop(procs)
        docs, _ = consume(out6)
        plain = lambda ds: {i: d for i, d in ds.items() if d["@type"] != "host_stats"
                            and d["@type"] != "host_stats_temporal_profile"}
        check(ok and proto_totals(docs) == exp, "poisoned: protocol totals exact")
        check(scans(docs) == scans(results[1]), f"poisoned: same scans ({scans(docs)})")
        check(plain(docs) == plain(results[1]),
              "poisoned: protocols_statistics and ports_scan documents equal to the clean run")
        check(host_totals(docs) == hexp, f"poisoned: host_stats totals exact "
              f"({host_totals(docs)} != {hexp})")
        check(outl is not None and outl >= 1, f"poisoned: outliers counted ({outl})")
        print(f"poisoned: {outl} outlier(s) set aside, results as the clean run", flush=True)

        # ---- processing time across a restart -----------------------------------------------
        # Regression (issue 23): processing time was the arrival wall clock, so the replay
        # after a restart put every record in another window (N records counted 2N times).
        inp7, out7, rep7 = (f"s4f-it-in-proc-{RUN}", f"s4f-it-outproc-{RUN}",
                            f"s4f-it-repproc-{RUN}")
        outs += [inp7, out7, rep7, rep7 + ".prof"]
        for t7 in (inp7, out7, rep7, rep7 + ".prof"):
            topic(a.topic_tool, "create", t7, "4")
        cfg7 = os.path.join(tmp, "proc.yml")
        # lateness 10 min: no window becomes final, so the restart replays every record
        config(cfg7, inp7, out7, rep7, "\n      time_mode: processing")
        txt = open(cfg7).read().replace("allowed_lateness: 5s", "allowed_lateness: 10m")
        txt = txt.replace("worker:\n", f"worker:\n  group_id: s4f-it-t-{RUN}\n", 1)
        open(cfg7, "w").write(txt)
        produce(inp7, recs)
        nflows = lambda ds: sum(v[0] for v in proto_totals(ds).values())
        lab = '{analysis="protocols_statistics"}'
        nproto = 0
        for run7 in ("proc-a", "proc-b", "proc-c"):  # SIGTERM, then kill -9, then SIGTERM
            procs = run_workers(a.worker, cfg7, 1, tmp, run7)
            log7 = os.path.join(tmp, f"{run7}-0.log")
            folded = metric_wait(log7, "s4f_worker_flows_total" + lab, len(recs), 60)
            check(folded == len(recs), f"processing time, {run7}: every record read ({folded})")
            if not nproto:
                docs, _ = wait_for(out7, lambda d: nflows(d) >= len(recs), 60)
                nproto = len([d for d in docs.values() if d["@type"] == "protocols_statistics"])
            else:  # the replay's documents are out
                metric_wait(log7, "s4f_worker_results_total" + lab, nproto, 60)
            if run7 == "proc-b":
                procs[0].kill()
                procs[0].wait()
                continue
            stop(procs)
            docs, _ = consume(out7)
            check(nflows(docs) == len(recs), f"processing time, {run7}: {nflows(docs)} flows "
                  f"counted for {len(recs)} records")
        print(f"processing time: {nflows(docs)} flows for {len(recs)} records after 2 restarts",
              flush=True)

        # ---- host_stats profiles idle for 24 h expire ---------------------------------------
        # Regression (issue 23): the profile table (capped at max_keys) kept every host it had
        # seen, in memory and in the changelog: once full, new hosts never got a profile.
        # max_keys 1: host A's ring, then a day later host B's, which needs A's to go.
        inp8, out8, rep8 = (f"s4f-it-in-expire-{RUN}", f"s4f-it-outexpire-{RUN}",
                            f"s4f-it-repexpire-{RUN}")
        outs += [inp8, out8, rep8, rep8 + ".prof"]
        for t8 in (inp8, out8, rep8, rep8 + ".prof"):
            topic(a.topic_tool, "create", t8, "1")
        cfg8 = os.path.join(tmp, "expire.yml")
        config(cfg8, inp8, out8, rep8)
        txt = open(cfg8).read().replace("worker:\n", f"worker:\n  group_id: s4f-it-e-{RUN}\n", 1)
        txt = txt.replace(f"    host_stats:\n      output_topic: {out8}\n",
                          f"    host_stats:\n      output_topic: {out8}\n      max_keys: 1\n")
        open(cfg8, "w").write(txt)
        h0 = now - now % 3600000 - 2 * 86400000
        seq8 = [flow("10.5.5.1", "198.51.100.1", 40000, 443, 6, 0x10, 1, 100, h0 + i * 10000)
                for i in range(420)]  # A: 70 minutes
        seq8 += [flow("10.5.5.2", "198.51.100.1", 40000, 443, 6, 0x10, 1, 100,
                      h0 + 26 * 3600000 + i * 10000) for i in range(420)]  # B, 26 hours later
        produce(inp8, seq8)
        prof = lambda host, end: (f"host_stats_temporal_profile:{end - 86400000}+86400000:p0:"
                                  f"{host}")
        want8 = lambda d: (prof("10.5.5.1", h0 + 3600000) in d
                           and prof("10.5.5.2", h0 + 27 * 3600000) in d)
        procs = run_workers(a.worker, cfg8, 1, tmp, "expire-a")
        docs, ok = wait_for(out8, want8, 90)
        lab = '{analysis="host_stats"}'
        gone = metric_wait(os.path.join(tmp, "expire-a-0.log"),
                           "s4f_worker_profiles_expired_total" + lab, 1, 30)
        stop(procs)
        check(ok, f"profile expiry: host B got a profile a day after host A filled max_keys "
              f"({sorted(i for i in docs if 'profile' in i)})")
        check(gone == 1, f"profile expiry: host A's ring expired ({gone})")
        # A restart reads A's ring, its tombstone and B's ring back: all fit in max_keys 1.
        procs = run_workers(a.worker, cfg8, 1, tmp, "expire-b")
        log8 = os.path.join(tmp, "expire-b-0.log")
        end8, restored8 = time.time() + 60, None
        while time.time() < end8 and not restored8:
            restored8 = re.findall(r"host_stats: partition 0: (\d+) changelog record\(s\) restored",
                                   open(log8, errors="replace").read())
            time.sleep(0.3)
        refused8 = metric_wait(log8, "s4f_worker_keys_dropped_total" + lab, 0, 30)
        unread8 = metric_wait(log8, "s4f_worker_changelog_unreadable_total" + lab, 0, 30)
        stop(procs)
        check(restored8 and int(restored8[0]) >= 3 and refused8 == 0 and unread8 == 0,
              f"profile expiry: changelog restored with its tombstone ({restored8} records, "
              f"{refused8} refused, {unread8} unreadable)")
        print(f"profile expiry: {gone} ring expired, {restored8} record(s) restored", flush=True)

        # ---- late and out-of-order records, idle partition ---------------------------------
        inp3 = f"s4f-it-in-late-{RUN}"
        out = f"s4f-it-outlate-{RUN}"
        rep = f"s4f-it-replate-{RUN}"
        outs += [inp3, out, rep, rep + ".prof"]
        topic(a.topic_tool, "create", inp3, "1")
        topic(a.topic_tool, "create", out, "1")
        topic(a.topic_tool, "create", rep, "1")
        topic(a.topic_tool, "create", rep + ".prof", "1")
        cfg = os.path.join(tmp, "late.yml")
        # watermark_quorum 1: the watermark is the largest end time, so that one record (40 s)
        # closes the first window here (the default needs 8 records to agree).
        config(cfg, inp3, out, rep, "\n      watermark_quorum: 1")
        txt = open(cfg).read().replace("worker:\n", f"worker:\n  group_id: s4f-it-l-{RUN}\n", 1)
        open(cfg, "w").write(txt)
        k = lambda t, proto=17: flow("10.1.1.1", "10.2.2.2", 1, 53, proto, 0, 1, 100, t)
        seq = [k(base + 1000), k(base + 12000), k(base + 3000),   # out of order, same window
               k(base + 24000), k(base + 15500),                   # late but within lateness
               k(base + 40000), k(base + 5000)]                    # too late: dropped, counted
        produce(inp3, seq)
        procs = run_workers(a.worker, cfg, 1, tmp, "late")
        w = lambda off: (base + off, "udp")
        want = {w(0): [2, 2, 200], w(10000): [2, 2, 200], w(20000): [1, 1, 100],
                w(40000): [1, 1, 100]}
        docs, ok = wait_for(out, lambda d: proto_totals(d) == want, 30)
        stop(procs)
        check(ok, f"late/out-of-order/idle: windows {sorted(proto_totals(docs).items())} == {sorted(want.items())}")
    except OnlyCases:
        pass
    finally:
        if os.environ.get("S4F_IT_KEEP_TOPICS"):
            outs = []  # debugging: keep the case topics
        topic(a.topic_tool, "delete", inp, *outs)
        # The consumer groups too (every worker has stopped, so they are empty).
        tags = {"stall": ["stall"], "cooperative": ["coop"], "skew": ["skew1", "skew2", "skew4", "skewk"],
                "failed_write": ["failw"]}
        sel = [g for c in (a.only.split(",") if a.only else CASES) for g in tags[c]]
        if not a.only:
            sel += ["1", "2", "4", "k", "l", "p", "t", "e"]
        groups = [f"s4f-it-{g}-{RUN}.{an}" for g in sel
                  for an in ("protocols_statistics", "ports_scan", "host_stats",
                             "host_stats.rekey")]
        r = subprocess.run([a.topic_tool, "delete-groups", *groups], timeout=90,
                           env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=BOOT))
        check(r.returncode == 0, "consumer groups deleted")
    if FAILS:
        print(f"{len(FAILS)} failure(s); logs in {tmp}")
        return 1
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    print("all worker integration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
