#!/usr/bin/env python3
"""Integration test of the rules analysis of s4f-worker (docs/rules.md) against the real broker
at $S4F_KAFKA_BOOTSTRAP, and of its reload (SIGHUP).

A rule file with the shipped ports_scan rules and a rule of its own ("SSH from outside to more
than 10 hosts in 5 minutes") runs over crafted flow records: exactly the scanners and the SSH
sources the rules describe are reported, the scans exactly as the built-in ports_scan (run in
the same process) reports them, and every document is valid against its schema where
docs/schemas has one. Then the file is replaced by a malformed one and SIGHUP is sent: the
worker logs the file:line:column, keeps running, and the running rules report new traffic. A
good file adding a rule is then loaded by the next SIGHUP, and the new rule reports. --check-
config refuses the malformed file with its position. Reuses the helpers of run_tests.py."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_tests as T  # noqa: E402

RUN = T.RUN

OWN_RULE = """  - name: ssh_outside_many_hosts
    filter:
      proto: tcp
      dst_port: 22
      src_ip: {not_in: [10.0.0.0/8]}
    key: [src_ip]
    window: 5m
    aggregates:
      flows: count
      hosts: {distinct: dst_ip}
    condition: {hosts: {gt: 10}}
"""

ADDED_RULE = """  - name: big_udp
    filter: {proto: udp, bytes: {ge: 100000}}
    key: [src_ip, dst_ip]
    window: 1m
    aggregates: {flows: count, bytes: {sum: bytes}}
"""

BAD = "rules:\n  - name: broken\n    filter:\n      dst_port: {gt: 9, lt: 3}\n"


def rules_text(src_dir, extra=""):
    with open(os.path.join(src_dir, "ports_scan.yaml")) as f:
        text = f.read()
    return text.rstrip("\n") + "\n\n" + OWN_RULE + extra


def config(path, inp, out, group, rules, out_builtin):
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
    rules:
      output_topic: {out}
      idle_timeout: 1s
      allowed_lateness: 5s
      watermark_quorum: 1   # crafted records, trusted: each step jumps minutes ahead
      window: 5m
      slide: 1m
      rules_file: {rules}
    ports_scan:
      output_topic: {out_builtin}
      idle_timeout: 1s
      allowed_lateness: 5s
      watermark_quorum: 1
""")


def traffic(base):
    """base: a 5-minute boundary in the past. A horizontal scanner (30 hosts, port 23) and a
    vertical one (25 ports) in the first minute, an outside SSH source to 12 hosts and one to 5
    (below the rule), an inside source to 15 (filtered out), normal traffic."""
    recs = []
    for i in range(30):
        recs.append(T.flow("198.51.100.7", f"10.1.0.{i + 1}", 40000 + i, 23, 6, 0x02, 1, 60,
                           base + 1000 + i * 100))
    for i in range(25):
        recs.append(T.flow("203.0.113.9", "10.1.2.3", 41000 + i, 1000 + i, 6, 0x02, 1, 60,
                           base + 2000 + i * 100))
    for i in range(12):
        recs.append(T.flow("192.0.2.50", f"10.2.0.{i + 1}", 50000 + i, 22, 6, 0x1b, 14, 3000,
                           base + 70000 + i * 1000))
    for i in range(5):
        recs.append(T.flow("192.0.2.51", f"10.2.0.{i + 1}", 50000 + i, 22, 6, 0x1b, 14, 3000,
                           base + 70000 + i * 1000))
    for i in range(15):
        recs.append(T.flow("10.3.0.1", f"10.2.0.{i + 1}", 50000 + i, 22, 6, 0x1b, 14, 3000,
                           base + 80000 + i * 1000))
    for i in range(40):
        recs.append(T.flow(f"10.4.0.{i % 7 + 1}", "192.0.2.200", 42000 + i, 443, 6, 0x1b, 20,
                           9000, base + 1000 + i * 6000))
    recs.sort(key=lambda r: r[1]["ipfix.flowEndMilliseconds"])
    return recs


def found(docs, typ):
    return sorted((d["src_ip"], d.get("dst_ip", d.get("dst_port"))) for d in docs.values()
                  if d["@type"] == typ)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("--topic-tool", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--rules", required=True, help="workers/rules")
    a = ap.parse_args()
    schemas = {fn[:-len(".schema.json")]: json.load(open(os.path.join(a.schemas, fn)))
               for fn in os.listdir(a.schemas) if fn.endswith(".schema.json")}
    tmp = tempfile.mkdtemp(prefix="s4f-worker-rules-")
    now = int(time.time() * 1000)
    base = now - now % 300000 - 1800000  # 5-minute aligned, half an hour ago
    inp, out = f"s4f-rules-in-{RUN}", f"s4f-rules-out-{RUN}"
    out_b = f"s4f-rules-builtin-{RUN}"
    group = f"s4f-rules-{RUN}"
    rules = os.path.join(tmp, "rules.yml")
    cfg = os.path.join(tmp, "worker.yml")
    T.topic(a.topic_tool, "create", inp, "4")
    T.topic(a.topic_tool, "create", out, "4")
    T.topic(a.topic_tool, "create", out_b, "4")
    procs = []
    try:
        with open(rules, "w") as f:
            f.write(rules_text(a.rules))
        config(cfg, inp, out, group, rules, out_b)
        T.produce(inp, traffic(base))
        procs = T.run_workers(a.worker, cfg, 1, tmp, "rules")
        log = os.path.join(tmp, "rules-0.log")

        want_h = [("198.51.100.7", 23)]
        want_v = [("203.0.113.9", "10.1.2.3")]
        want_ssh = [("192.0.2.50", None)]

        def first(d):
            return (found(d, "rule_portscan_horizontal") == want_h and
                    found(d, "rule_portscan_vertical") == want_v and
                    found(d, "rule_ssh_outside_many_hosts") == want_ssh)
        docs, ok = T.wait_for(out, first, 120)
        T.check(ok, "rule results: horizontal %s vertical %s ssh %s" % (
            found(docs, "rule_portscan_horizontal"), found(docs, "rule_portscan_vertical"),
            found(docs, "rule_ssh_outside_many_hosts")))
        for d in docs.values():
            if d["@type"] == "rule_ssh_outside_many_hosts":
                T.check(d["hosts"] == 12 and d["flows"] == 12, f"ssh rule fields: {d}")
            if d["@type"] in schemas:
                errs = T.validate(d, schemas[d["@type"]])
                T.check(not errs, f"{d['id']} schema: {errs[:3]}")

        # The same scans from the built-in ports_scan, run beside the rules in this process:
        # the same keys, windows and values.
        bdocs, ok = T.wait_for(out_b, lambda d: found(d, "portscan_horizontal") == want_h and
                               found(d, "portscan_vertical") == want_v, 60)
        T.check(ok, "built-in ports_scan: %s %s" % (found(bdocs, "portscan_horizontal"),
                                                    found(bdocs, "portscan_vertical")))
        for i, b in bdocs.items():
            r = docs.get("rule_" + i)
            T.check(r is not None and all(r.get(k) == b.get(k) for k in (
                "src_ip", "dst_ip", "dst_port", "flows", "targets_total", "timestamp",
                "window_start", "window_end")), f"rule result of {i}: {r} vs built-in {b}")

        # A malformed file: refused at --check-config with its position ...
        with open(rules, "w") as f:
            f.write(BAD)
        r = subprocess.run([a.worker, "--check-config", cfg, "--analysis", "rules"],
                           capture_output=True, text=True, timeout=60)
        T.check(r.returncode == 1 and f"{rules}:4:7:" in r.stderr,
                f"--check-config of a bad rule file: {r.returncode} {r.stderr.strip()}")
        # ... and on SIGHUP: logged with it, the running rules stay.
        procs[0].send_signal(signal.SIGHUP)
        T.check(T.log_wait(log, re.escape(f"reload refused, the 3 running rule(s) stay: {rules}:4:7:"),
                           60), "bad reload logged with file:line:col")
        T.check(procs[0].poll() is None, "worker alive after a bad reload")
        later = base + 600000  # two windows on
        T.produce(inp, [T.flow("198.51.100.8", f"10.1.0.{i + 1}", 40000 + i, 445, 6, 0x02, 1, 60,
                               later + 1000 + i * 100) for i in range(25)])

        def second(d):
            return ("198.51.100.8", 445) in found(d, "rule_portscan_horizontal")
        docs, ok = T.wait_for(out, second, 120)
        T.check(ok, "the running rules report after a bad reload")

        # A good file with one more rule: loaded on SIGHUP, the new rule reports.
        with open(rules, "w") as f:
            f.write(rules_text(a.rules, ADDED_RULE))
        procs[0].send_signal(signal.SIGHUP)
        T.check(T.log_wait(log, r"reloaded .*: 4 rule\(s\), 3 unchanged", 60),
                "good reload logged")
        last = base + 1200000
        T.produce(inp, [T.flow("10.5.0.1", "192.0.2.99", 5000, 9999, 17, 0, 100, 150000,
                               last + 1000)])

        def third(d):
            return found(d, "rule_big_udp") == [("10.5.0.1", "192.0.2.99")]
        docs, ok = T.wait_for(out, third, 120)
        T.check(ok, "the added rule reports after the reload: %s" % found(docs, "rule_big_udp"))
    finally:
        T.stop(procs)
        T.topic(a.topic_tool, "delete", inp, out, out_b)
        subprocess.run([a.topic_tool, "delete-groups", f"{group}.rules", f"{group}.ports_scan"],
                       timeout=90,
                       env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=T.BOOT))
    if T.FAILS:
        print(f"{len(T.FAILS)} failure(s); logs in {tmp}")
        return 1
    print("all rules integration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
