#!/usr/bin/env python3
"""Integration test of the flow-field detections of s4f-worker (ssh_auth_simple) on a real
probe's records, against the real broker at $S4F_KAFKA_BOOTSTRAP.

SSH password guessers among normal SSH sessions are crafted as packets
(tests/tools/gen_traffic.py --profile ssh, with its ground truth), exported by softflowd as
IPFIX, decoded by s4f-collector into a 4-partition topic, and analysed by 1 and by 3 worker
processes: every guesser must be reported, with its exact number of guesses per window, and no
normal session; the documents of N = 1 and N = 3 must be identical and valid against
docs/schemas. Reuses the helpers of run_tests.py and tests/lib/s4ftest.py."""
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


def ssh_found(docs):
    return sorted((d["src_ip"], d["dst_ip"], d["window_start"], d["flows"])
                  for d in docs.values() if d["@type"] == "ssh_auth_simple")


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


def probe_records(a, tmp, inp, start):
    """The crafted capture through softflowd (IPFIX, its own timeouts: one flow per
    connection) and the collector into topic inp; returns the ground truth."""
    pcap, truth_path = os.path.join(tmp, "ssh.pcap"), os.path.join(tmp, "ssh-truth.json")
    subprocess.run([sys.executable, os.path.join(s4ftest.TOOLS, "gen_traffic.py"), "--profile",
                    "ssh", "--out", pcap, "--truth", truth_path, "--start", str(start)],
                   check=True)
    col, port, mport = s4ftest.start_collector(tmp, inp)
    try:
        s4ftest.run_softflowd(pcap, port, 10, timeouts=())
        m = s4ftest.collector_settled(mport)
        print("collector: %d records from softflowd" % m.get("s4f_collector_records_total", 0),
              flush=True)
    finally:
        col.stop()
    with open(truth_path) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--schemas", required=True)
    a = ap.parse_args()
    schemas = {fn[:-len(".schema.json")]: json.load(open(os.path.join(a.schemas, fn)))
               for fn in os.listdir(a.schemas) if fn.endswith(".schema.json")}
    tmp = tempfile.mkdtemp(prefix="s4f-worker-det-")
    now = int(time.time())
    start = now - now % 300 - 1200  # two 300 s windows, well in the past
    inp = f"s4f-det-in-{RUN}"
    topics, groups, results = [inp], [], {}
    T.topic(a.topic_tool, "create", inp, "4")
    try:
        truth = probe_records(a, tmp, inp, start)
        want = sorted((g["src_ip"], g["dst_ip"], iso(g["window_start_ms"]), g["flows"])
                      for g in truth["ssh_auth_simple"])
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
            T.check(got == want, f"N={n}: ssh_auth_simple reports {got} != truth {want}")
            normal = set(truth["ssh_normal"])
            wrong = [d for d in docs.values() if d.get("src_ip") in normal]
            T.check(not wrong, f"N={n}: normal SSH clients reported: {wrong}")
            for d in docs.values():
                errs = T.validate(d, schemas[d["@type"]])
                T.check(not errs, f"N={n}: {d['id']} schema: {errs[:3]}")
                if d["@type"] == "ssh_auth_simple":
                    T.check(11 <= d["average_packet_count"] <= 19 and
                            d["flows_increment"] == d["flows"] and
                            2000 * d["flows"] <= d["duration_in_milliseconds"] <= 6000 * d["flows"],
                            f"N={n}: fields of {d['id']}: {d}")
            results[n] = docs
            print(f"N={n}: {len(docs)} documents, {len(got)} guessers", flush=True)
        T.check(results[1] == results[3], "N=1 and N=3 documents identical")
    finally:
        T.topic(a.topic_tool, "delete", *topics)
        subprocess.run([a.topic_tool, "delete-groups", *groups], timeout=90,
                       env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=T.BOOT))
    if T.FAILS:
        print(f"{len(T.FAILS)} failure(s); logs in {tmp}")
        return 1
    print("all detection integration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
