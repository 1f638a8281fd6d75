#!/usr/bin/env python3
"""Integration test of the flow-field detections of s4f-worker (ssh_auth_simple, ddos) on a
real probe's records, against the real broker at $S4F_KAFKA_BOOTSTRAP.

Traffic is crafted as packets with a ground truth (tests/tools/gen_traffic.py --profile ssh,
--profile flood), exported by softflowd as IPFIX and decoded by s4f-collector into a
4-partition topic, then analysed by 1 and by 3 worker processes:

- ssh: SSH password guessers among normal SSH sessions; every guesser must be reported, with
  its exact number of guesses per window, and no normal session;
- flood: a flooded server among busy servers (and a flooded address without history); exactly
  the victim's flooded windows must be reported, with attackers from the flood's sources;
  then once more across a restart: the history (the first 25 minutes) is read by a worker
  that stops before the flood arrives, and a new one, restoring the history from the
  changelog, must report exactly what the uninterrupted run did.

The documents of N = 1 and N = 3 must be identical and valid against docs/schemas. Reuses the
helpers of run_tests.py and tests/lib/s4ftest.py."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import run_tests as T  # noqa: E402
import s4ftest  # noqa: E402

RUN = T.RUN


def config(path, inp, out, group):
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
    ssh_auth_simple:
      output_topic: {out}
      idle_timeout: 1s
""")


def ddos_config(path, inp, out, group, rep):
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
    ddos:
      output_topic: {out}
      idle_timeout: 1s
      local_networks: [10.0.0.0/8]
      repartition_topic: {rep}
      changelog_topic: {rep}.hist
      long_window: 20m
      warmup: 10m
      threshold: 5
      min_incoming: 3000
""")


def ssh_found(docs):
    return sorted((d["src_ip"], d["dst_ip"], d["window_start"], d["flows"])
                  for d in docs.values() if d["@type"] == "ssh_auth_simple")


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def probe_records(a, tmp, inp, start, profile="ssh", timeouts=()):
    """The crafted capture through softflowd (IPFIX; by default its own timeouts: one flow per
    connection) and the collector into topic inp; returns the ground truth."""
    pcap = os.path.join(tmp, profile + ".pcap")
    truth_path = os.path.join(tmp, profile + "-truth.json")
    subprocess.run([sys.executable, os.path.join(s4ftest.TOOLS, "gen_traffic.py"), "--profile",
                    profile, "--out", pcap, "--truth", truth_path, "--start", str(start)],
                   check=True)
    col, port, mport = s4ftest.start_collector(tmp, inp, name="collector-" + profile)
    try:
        s4ftest.run_softflowd(pcap, port, 10, timeouts=timeouts)
        m = s4ftest.collector_settled(mport)
        print("collector: %d records from softflowd" % m.get("s4f_collector_records_total", 0),
              flush=True)
    finally:
        col.stop()
    with open(truth_path) as f:
        return json.load(f)


def ssh_case(a, schemas, tmp, topics, groups):
    now = int(time.time())
    start = now - now % 300 - 1200  # two 300 s windows, well in the past
    inp = f"s4f-det-in-{RUN}"
    topics.append(inp)
    T.topic(a.topic_tool, "create", inp, "4")
    truth = probe_records(a, tmp, inp, start)
    want = sorted((g["src_ip"], g["dst_ip"], iso(g["window_start_ms"]), g["flows"])
                  for g in truth["ssh_auth_simple"])
    results = {}
    for n in (1, 3):
        out = f"s4f-det-out{n}-{RUN}"
        topics.append(out)
        T.topic(a.topic_tool, "create", out, "4")
        group = f"s4f-det-{n}-{RUN}"
        groups.append(f"{group}.ssh_auth_simple")
        cfg = os.path.join(tmp, f"det-n{n}.yml")
        config(cfg, inp, out, group)
        procs = T.run_workers(a.worker, cfg, n, tmp, f"det-{n}")
        docs, ok = T.wait_for(out, lambda d: ssh_found(d) == want, 120)
        T.stop(procs)
        docs, _ = T.consume(out)
        got = ssh_found(docs)
        T.check(got == want, f"ssh N={n}: ssh_auth_simple reports {got} != truth {want}")
        normal = set(truth["ssh_normal"])
        wrong = [d for d in docs.values() if d.get("src_ip") in normal]
        T.check(not wrong, f"ssh N={n}: normal SSH clients reported: {wrong}")
        for d in docs.values():
            errs = T.validate(d, schemas[d["@type"]])
            T.check(not errs, f"ssh N={n}: {d['id']} schema: {errs[:3]}")
            if d["@type"] == "ssh_auth_simple":
                T.check(11 <= d["average_packet_count"] <= 19 and
                        d["flows_increment"] == d["flows"] and
                        2000 * d["flows"] <= d["duration_in_milliseconds"] <= 6000 * d["flows"],
                        f"ssh N={n}: fields of {d['id']}: {d}")
        results[n] = docs
        print(f"ssh N={n}: {len(docs)} documents, {len(got)} guessers", flush=True)
    T.check(results[1] == results[3], "ssh: N=1 and N=3 documents identical")


def ddos_found(docs):
    return sorted((d["dst_ip"], d["window_start"]) for d in docs.values()
                  if d["@type"] == "detection.ddos")


def raw_records(topic):
    """(key, record) of every record of topic, in no particular order."""
    p = subprocess.run(["kcat", "-b", T.BOOT, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%k\t%s\n"], capture_output=True, timeout=120, check=True)
    out = []
    for line in p.stdout.decode().splitlines():
        if line.strip():
            k, v = line.split("\t", 1)
            out.append((k, json.loads(v)))
    return out


def count_records(topic):
    p = subprocess.run(["kcat", "-b", T.BOOT, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "x\n"], capture_output=True, timeout=60)
    return p.stdout.count(b"x")


def ddos_case(a, schemas, tmp, topics, groups):
    now = int(time.time())
    start = now - now % 30 - 2400  # 29 minutes of traffic, ending 11 minutes ago
    inp = f"s4f-ddos-in-{RUN}"
    topics.append(inp)
    T.topic(a.topic_tool, "create", inp, "4")
    # maxlife=1: one-second flows, so that each 30 s window gets its own packets.
    truth = probe_records(a, tmp, inp, start, "flood", timeouts=("maxlife=1",))
    want = sorted((v["dst_ip"], iso(v["window_start_ms"])) for v in truth["ddos"])
    sources = set(truth["ddos_attackers"])
    results = {}

    def run(n, tag, inp_topic, want_fn, deadline=180):
        out, rep = f"s4f-ddos-out-{tag}-{RUN}", f"s4f-ddos-rep-{tag}-{RUN}"
        for t_ in (out, rep, rep + ".hist"):
            if t_ not in topics:
                topics.append(t_)
                T.topic(a.topic_tool, "create", t_, "4")
        group = f"s4f-ddos-{tag}-{RUN}"
        groups.extend([f"{group}.ddos", f"{group}.ddos.rekey"])
        cfg = os.path.join(tmp, f"ddos-{tag}.yml")
        ddos_config(cfg, inp_topic, out, group, rep)
        procs = T.run_workers(a.worker, cfg, n, tmp, f"ddos-{tag}")
        docs, ok = T.wait_for(out, want_fn, deadline)
        return procs, out, rep

    for n in (1, 3):
        procs, out, _ = run(n, f"n{n}", inp, lambda d: ddos_found(d) == want)
        T.stop(procs)
        docs, _ = T.consume(out)
        got = ddos_found(docs)
        T.check(got == want, f"flood N={n}: ddos reports {got} != truth {want}")
        never = set(truth["ddos_never"])
        T.check(not [d for d in docs.values() if d.get("dst_ip") in never],
                f"flood N={n}: busy servers or the address without history reported")
        for d in docs.values():
            errs = T.validate(d, schemas[d["@type"]])
            T.check(not errs, f"flood N={n}: {d['id']} schema: {errs[:3]}")
            if d["@type"] == "detection.ddos":
                T.check(len(d["attackers"]) == 10 and set(d["attackers"]) <= sources and
                        d["packets_in"] > 3000 and d["shortratio"] > 5 * d["longratio"] and
                        d["sources"] == len(sources) + 1, f"flood N={n}: fields of {d['id']}: {d}")
        results[n] = docs
        print(f"flood N={n}: {len(docs)} documents: {got}", flush=True)
    diff = sorted(k for k in set(results[1]) | set(results[3])
                  if results[1].get(k) != results[3].get(k))
    T.check(not diff, "flood: N=1 and N=3 documents identical; differing: %s" % [
        (results[1].get(k), results[3].get(k)) for k in diff[:3]])

    # Across a restart: the history first, in a topic of its own, keyed as before.
    # In event-time order (the collector wrote each partition so; read back partition after
    # partition they are not, and would be late).
    recs = sorted(raw_records(inp), key=lambda r: r[1]["ipfix.flowEndMilliseconds"])
    flood_ms = min(v["window_start_ms"] for v in truth["ddos"])
    before = [r for r in recs if r[1]["ipfix.flowEndMilliseconds"] < flood_ms]
    after = [r for r in recs if r[1]["ipfix.flowEndMilliseconds"] >= flood_ms]
    inp2 = f"s4f-ddos-in2-{RUN}"
    topics.append(inp2)
    T.topic(a.topic_tool, "create", inp2, "4")
    T.produce(inp2, before)
    # Wait until the windows up to 90 s before the end of the history are final (allowed
    # lateness 60 s), a slot per local host and window with traffic in the changelog.
    last = max(r[1]["ipfix.flowEndMilliseconds"] for r in before) - 90000
    want_slots = len({(h, r["ipfix.flowEndMilliseconds"] // 30000)
                      for _, r in before if r["ipfix.flowEndMilliseconds"] // 30000 * 30000 + 30000 <= last
                      for h in (r["ipfix.sourceIPv4Address"], r["ipfix.destinationIPv4Address"])
                      if h.startswith("10.")})
    procs, out, rep = run(1, "restart", inp2, lambda d: count_records(
        f"s4f-ddos-rep-restart-{RUN}.hist") >= want_slots)
    T.stop(procs)
    T.check(count_records(rep + ".hist") >= want_slots, "restart: history in the changelog")
    T.check(not ddos_found(T.consume(out)[0]), "restart: nothing reported from the history")
    T.produce(inp2, after)
    procs, out, rep = run(1, "restart", inp2, lambda d: ddos_found(d) == want)
    T.stop(procs)
    docs, _ = T.consume(out)
    got = ddos_found(docs)
    T.check(got == want, f"restart: ddos reports {got} != truth {want}")
    mine = {k: v for k, v in docs.items() if v["@type"] == "detection.ddos"}
    ref = {k: v for k, v in results[1].items() if v["@type"] == "detection.ddos"}
    T.check(mine == ref, "restart: the victim's documents equal the uninterrupted run's")
    log = open(os.path.join(tmp, "ddos-restart-0.log")).read()
    T.check("changelog record(s) restored" in log, "restart: changelog read back")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--only", choices=["ssh", "flood"], help="run one case")
    a = ap.parse_args()
    schemas = {fn[:-len(".schema.json")]: json.load(open(os.path.join(a.schemas, fn)))
               for fn in os.listdir(a.schemas) if fn.endswith(".schema.json")}
    tmp = tempfile.mkdtemp(prefix="s4f-worker-det-")
    topics, groups = [], []
    try:
        if a.only in (None, "ssh"):
            ssh_case(a, schemas, tmp, topics, groups)
        if a.only in (None, "flood"):
            ddos_case(a, schemas, tmp, topics, groups)
    finally:
        if topics:
            T.topic(a.topic_tool, "delete", *topics)
        subprocess.run([a.topic_tool, "delete-groups", *dict.fromkeys(groups)], timeout=90,
                       env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=T.BOOT))
    if T.FAILS:
        print(f"{len(T.FAILS)} failure(s); logs in {tmp}")
        return 1
    print("all detection integration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
