#!/usr/bin/env python3
"""s4f-alert against real receivers: Debian's rsyslog (TCP, TLS and UDP inputs writing to a
file) and a local webhook receiver (webhook_receiver.py), with detections produced to a private
results topic on the test Kafka ($S4F_KAFKA_BOOTSTRAP).

Three waves of detections (with noise that is not routed, repeated ids and garbage): during the
first both receivers are killed with SIGKILL, the second is produced while they are down, they
are restarted, the third follows. Every detection must then be in the webhook receiver's file
and in rsyslog's TCP output exactly once per id, the TLS output must hold exactly the
high-severity ones, UDP (best effort) and TCP without await_close (at most once) no id twice, the rate-limited destination exactly its
burst, and the metrics must count every duplicate, garbage and rate-limited drop."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import s4ftest as t  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ALERT = os.environ.get("S4F_ALERT_BIN") or os.path.join(t.BUILD, "alert", "s4f-alert")
WORKER = os.environ.get("S4F_WORKER_BIN") or os.path.join(t.BUILD, "workers", "s4f-worker")
TOKEN = "t0k3n-%d" % os.getpid()


def tcp_port():
    return t.free_port(socket.SOCK_STREAM)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def health(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def make_certs(wd):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=wd)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=s4f test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        "server.key", "-out", "server.csr")
    t.write(os.path.join(wd, "san.ext"), "subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")


class Rsyslog:
    def __init__(self, wd, tcp, tls, udp):
        self.wd, self.tcp, self.tls, self.udp = wd, tcp, tls, udp
        self.out = os.path.join(wd, "syslog.out")
        os.makedirs(os.path.join(wd, "rsyslog-work"), exist_ok=True)
        # Direct main queue: each message is written before the input reads on, so a message
        # whose connection rsyslog closed is in the file (docs/alerts.md, "once").
        self.conf = t.write(os.path.join(wd, "rsyslog.conf"), """
global(workDirectory="{wd}/rsyslog-work" maxMessageSize="64k"
       defaultNetstreamDriverCAFile="{wd}/ca.pem"
       defaultNetstreamDriverCertFile="{wd}/server.pem"
       defaultNetstreamDriverKeyFile="{wd}/server.key")
main_queue(queue.type="Direct")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" address="127.0.0.1" port="{tls}" streamDriver.name="gtls"
      streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imudp" address="127.0.0.1" port="{udp}")
template(name="line" type="string" string="%app-name%\\t%msgid%\\t%structured-data%\\t%msg%\\n")
action(type="omfile" file="{out}" template="line")
""".format(wd=wd, tcp=tcp, tls=tls, udp=udp, out=self.out))
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.proc = t.Proc("rsyslog%d" % self.starts,
                           ["rsyslogd", "-n", "-f", self.conf, "-i",
                            os.path.join(self.wd, "rsyslog.pid")], self.wd)
        t.wait_for(lambda: listening(self.tcp) and listening(self.tls) or
                   (not self.proc.alive() and self.fail()), 30, "rsyslog to listen")

    def fail(self):
        raise t.TestFailure("rsyslogd exited:\n" + self.proc.text()[-2000:])

    def lines(self):
        """[(app, id)] of every message in the file."""
        out = []
        if not os.path.exists(self.out):
            return out
        with open(self.out, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t", 3)
                if len(parts) != 4:
                    continue
                m = re.search(r'id="((?:[^"\\]|\\.)*)"', parts[2])
                if not m:
                    raise t.TestFailure("message without an id: %r" % line)
                json.loads(parts[3])  # the ECS document must survive the trip whole
                out.append((parts[0], re.sub(r"\\(.)", r"\1", m.group(1))))
        return out


def detection(kind, i, wave):
    ts = "2026-11-27T06:%02d:00.000Z" % (10 + wave)
    base = {"@timestamp": ts, "window_start": ts, "window_end": ts}
    src = "10.%d.%d.%d" % (wave, i // 250, i % 250 + 1)
    if kind == "scan":
        d = dict(base, **{"@type": "portscan_horizontal", "src_ip": src, "dst_port": 22,
                          "flows": 100 + i, "targets_total": 50})
    elif kind == "ssh":
        d = dict(base, **{"@type": "ssh_auth_simple", "src_ip": src, "dst_ip": "192.0.2.1",
                          "flows": 30})
    elif kind == "ddos":
        d = dict(base, **{"@type": "detection.ddos", "dst_ip": src, "shortratio": 9.5,
                          "longratio": 1.0, "attackers": [], "packets_in": 1, "packets_out": 1,
                          "sources": 3})
    else:
        d = dict(base, **{"@type": "protocols_statistics", "flows": i})
    d["id"] = "%s:w%d:%d" % (d["@type"], wave, i)
    return d


def produce(topic, docs, garbage=(), key="id"):
    lines = ["%s\t%s" % (d[key], json.dumps(d)) for d in docs] + ["g\t%s" % g for g in garbage]
    r = subprocess.run([os.path.join(t.BUILD, "tests", "tools", "s4f-testkafka"), "produce",
                        topic], input="\n".join(lines) + "\n", text=True, capture_output=True,
                       env=dict(os.environ, S4F_KAFKA_BOOTSTRAP=t.KAFKA))
    if r.returncode:
        raise t.TestFailure("produce: " + r.stderr)


def flow(src, dst, dport, end):
    return {"@type": "ipfix.entry", "ipfix.sourceIPv4Address": src,
            "ipfix.destinationIPv4Address": dst, "ipfix.sourceTransportPort": 40000,
            "ipfix.destinationTransportPort": dport, "ipfix.protocolIdentifier": 6,
            "ipfix.tcpControlBits": 2, "ipfix.packetDeltaCount": 1, "ipfix.octetDeltaCount": 60,
            "ipfix.flowStartMilliseconds": end - 10, "ipfix.flowEndMilliseconds": end,
            "s4f.exporter": "192.0.2.1"}


def scan_flows(base):
    """Three horizontal scanners (30 hosts each) and two vertical ones (30 ports each), for a
    real s4f-worker's ports_scan to find."""
    recs = []
    for s in range(3):
        recs += [flow("198.51.100.%d" % (s + 1), "10.9.%d.%d" % (s, i + 1), 23 + s,
                      base + 1000 + i * 100) for i in range(30)]
    for s in range(2):
        recs += [flow("203.0.113.%d" % (s + 1), "10.8.0.%d" % (s + 1), 1000 + i,
                      base + 2000 + i * 100) for i in range(30)]
    return sorted(recs, key=lambda r: r["ipfix.flowEndMilliseconds"])


def wave(n, w):
    kinds = ["scan", "ssh", "ddos", "stats"]
    return [detection(kinds[i % 4], i, w) for i in range(n)]


def main():
    wd = t.workdir("s4f-alert-")
    topic = t.unique("results.alert")
    t.create_topic(topic, 2)
    flows = t.unique("flows.alert")
    t.create_topic(flows, 2)
    make_certs(wd)
    tcp, tls, udp, hport = tcp_port(), tcp_port(), t.free_port(), tcp_port()
    rs = Rsyslog(wd, tcp, tls, udp)
    hook_out = os.path.join(wd, "webhook.out")
    group = t.unique("s4f-alert-test")
    retry = "      retry_initial: 50ms\n      retry_max: 400ms\n"
    conf = t.write(os.path.join(wd, "alert.yml"), """kafka:
  bootstrap.servers: "{kafka}"
alert:
  metrics_listen: "127.0.0.1:0"
  topic: {topic}
  group_id: {group}
  kafka: {{session.timeout.ms: 6000}}   # the broker's least: a killed alerter's groups move on sooner
  destinations:
    hook:
      type: webhook
      url: http://127.0.0.1:{hport}/alert
      headers: {{Authorization: "Bearer {token}"}}
      timeout: 2s
      rate_limit: 0
{retry}    badtoken:
      type: webhook
      url: http://127.0.0.1:{hport}/alert
      headers: {{Authorization: "Bearer wrong"}}
      types: ["detection.ddos"]
      rate_limit: 0
{retry}    tcp:
      type: syslog
      transport: tcp
      address: 127.0.0.1:{tcp}
      app_name: s4f-tcp
      rate_limit: 0
{retry}    tls:
      type: syslog
      transport: tls
      address: 127.0.0.1:{tls}
      tls_ca_file: {wd}/ca.pem
      app_name: s4f-tls
      min_severity: high
      rate_limit: 0
{retry}    nowait:
      type: syslog
      transport: tcp
      address: 127.0.0.1:{tcp}
      app_name: s4f-nowait
      await_close: false
      rate_limit: 0
{retry}    udp:
      type: syslog
      transport: udp
      address: 127.0.0.1:{udp}
      app_name: s4f-udp
      rate_limit: 0
{retry}    limited:
      type: syslog
      transport: udp
      address: 127.0.0.1:{udp}
      app_name: s4f-limited
      types: ["ssh_auth_simple"]
      rate_limit: 0.001
      rate_burst: 5
""".format(kafka=t.KAFKA, topic=topic, group=group, hport=hport, token=TOKEN, retry=retry,
           tcp=tcp, tls=tls, udp=udp, wd=wd))
    r = subprocess.run([ALERT, "--check-config", conf], capture_output=True, text=True)
    if r.returncode:
        raise t.TestFailure("--check-config: " + r.stdout + r.stderr)

    def start_hook(n):
        p = t.Proc("webhook%d" % n, [sys.executable, os.path.join(HERE, "webhook_receiver.py"),
                                     str(hport), hook_out, TOKEN, "0.005"], wd)
        t.wait_for(lambda: listening(hport), 30, "the webhook receiver to listen")
        return p

    def hook_keys():
        if not os.path.exists(hook_out):
            return []
        with open(hook_out) as f:
            return [json.loads(l)["key"] for l in f if l.endswith("\n")]

    rs.start()
    hook = start_hook(1)
    alert = t.Proc("alert", [ALERT, "-c", conf], wd)
    mport = t.metrics_port_from_log(alert)
    procs = [alert, hook, rs.proc]
    passed = False
    try:
        docs = wave(80, 1)
        dups = [d for d in docs[:8]]  # the same results again: sent once
        produce(topic, docs + dups, garbage=["not json", "{\"@type\":\"x\"}", "[]"])
        t.wait_for(lambda: len(hook_keys()) >= 5 and
                   sum(1 for a, _ in rs.lines() if a == "s4f-tcp") >= 5, 60,
                   "the first alerts to arrive")
        hook.kill9()
        rs.proc.kill9()
        docs2 = wave(60, 2)
        produce(topic, docs2)

        def down():
            m = t.metrics(mport)
            return all(m.get('s4f_alert_destination_up{destination="%s"}' % d) == 0
                       for d in ("hook", "tcp"))
        t.wait_for(down, 60, "hook and tcp to see their receivers down")
        # Real detections too: s4f-worker's ports_scan on crafted scans, writing to the results
        # topic while the receivers are down.
        now = int(time.time() * 1000)
        produce(flows, scan_flows(now - now % 300000 - 1800000), key="ipfix.sourceIPv4Address")
        wconf = t.write(os.path.join(wd, "worker.yml"), """kafka:
  bootstrap.servers: "{kafka}"
worker:
  group_id: {group}-worker
  metrics_listen: 127.0.0.1:0
  input_topic: {flows}
  commit_interval: 200ms
  analyses:
    ports_scan:
      output_topic: {topic}
      idle_timeout: 1s
      allowed_lateness: 5s
      watermark_quorum: 1
""".format(kafka=t.KAFKA, group=group, flows=flows, topic=topic))
        worker = t.Proc("worker", [WORKER, "-c", wconf], wd)
        procs.append(worker)
        assert health(mport) == 503, "/health must say degraded while destinations retry"
        rs.start()
        hook = start_hook(2)
        procs += [hook, rs.proc]
        docs3 = wave(40, 3)
        produce(topic, docs3)


        def worker_scans():
            out = []
            for line in t.consume(topic, idle_ms=500):
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if isinstance(d, dict) and str(d.get("@type")).startswith("portscan_") and \
                        ":w" not in d["id"]:
                    out.append(d)
            return out
        scans = t.wait_for(lambda: len({(d["@type"], d["src_ip"]) for d in worker_scans()}) == 5
                           and worker_scans(), 90, "the worker's five scans in the results topic")
        worker.stop()
        scans = worker_scans()  # all it wrote, repeats of an id included
        alldocs = docs + docs2 + docs3
        routed = [d["id"] for d in alldocs if d["@type"] != "protocols_statistics"]
        routed += sorted({d["id"] for d in scans})
        high = [d["id"] for d in alldocs if d["@type"] == "detection.ddos"]
        ssh = [d["id"] for d in alldocs if d["@type"] == "ssh_auth_simple"]

        def delivered(dest):
            return t.metrics(mport).get(
                's4f_alert_alerts_delivered_total{destination="%s"}' % dest, 0)
        t.wait_for(lambda: delivered("hook") == len(routed) and delivered("tcp") == len(routed)
                   and delivered("tls") == len(high) and delivered("udp") == len(routed) and delivered("nowait") == len(routed),
                   90, "every alert delivered (metrics)")
        m = t.metrics(mport)
        t.wait_for(lambda: health(mport) == 200, 30, "/health to be ok again")
        # The files: each id exactly once.
        got = hook_keys()
        assert sorted(got) == sorted(routed), "webhook: %d keys, %d unique, want %d" % (
            len(got), len(set(got)), len(routed))
        lines = rs.lines()
        for app, want in (("s4f-tcp", routed), ("s4f-tls", high)):
            ids = [i for a, i in lines if a == app]
            assert sorted(ids) == sorted(want), "%s: %d ids, %d unique, want %d (missing %s)" % (
                app, len(ids), len(set(ids)), len(want), sorted(set(want) - set(ids))[:5])
        # await_close: false counts what the receiver's kernel acknowledged: at most once.
        nowait = [i for a, i in lines if a == "s4f-nowait"]
        routed3 = {d["id"] for d in docs3 if d["@type"] != "protocols_statistics"}
        assert len(nowait) == len(set(nowait)) and set(nowait) <= set(routed) and \
            routed3 <= set(nowait), "nowait: %d ids, %d unique" % (len(nowait), len(set(nowait)))
        udp_ids = [i for a, i in lines if a == "s4f-udp"]
        assert len(udp_ids) == len(set(udp_ids)) and set(udp_ids) <= set(routed), "udp"
        limited = [i for a, i in lines if a == "s4f-limited"]
        assert len(limited) == 5 and set(limited) <= set(ssh), limited
        assert m['s4f_alert_alerts_dropped_total{destination="limited",reason="rate_limited"}'] \
            == len(ssh) - 5
        # A webhook that answers 401 (wrong token): each alert refused, dropped and counted.
        t.wait_for(lambda: t.metrics(mport).get(
            's4f_alert_alerts_dropped_total{destination="badtoken",reason="refused"}') ==
            len(high), 30, "every alert of the wrong token refused and counted")
        m = t.metrics(mport)
        for dest in ("hook", "tcp", "tls", "udp", "limited", "nowait", "badtoken"):
            assert m['s4f_alert_alerts_dropped_total{destination="%s",reason="invalid"}'
                     % dest] == 3, dest
            routed_dups = sum(1 for d in dups if d["@type"] != "protocols_statistics")
        assert m['s4f_alert_alerts_duplicate_total{destination="hook"}'] >= routed_dups
        assert m['s4f_alert_delivery_retries_total{destination="hook"}'] > 0
        assert m['s4f_alert_delivery_retries_total{destination="tcp"}'] > 0
        # A drain commits what was delivered: a second run has nothing to send.
        rc = alert.stop(signal.SIGTERM)
        assert rc == 0, "s4f-alert exited %s" % rc
        alert2 = t.Proc("alert2", [ALERT, "-c", conf], wd)
        procs.append(alert2)
        mport2 = t.metrics_port_from_log(alert2)
        produce(topic, wave(4, 4))
        t.wait_for(lambda: t.metrics(mport2).get(
            's4f_alert_alerts_delivered_total{destination="hook"}', 0) == 3, 60,
            "the restarted alerter to deliver only the new wave")
        assert len(hook_keys()) == len(routed) + 3
        routed += [d["id"] for d in wave(4, 4) if d["@type"] != "protocols_statistics"]

        # s4f-alert itself killed with SIGKILL mid-stream: what it had not committed is
        # delivered again by the next one (at least once); the webhook receiver keeps each key
        # once, rsyslog may get the message in flight twice (its id tells).
        docs6 = wave(60, 6)
        before = len(hook_keys())
        produce(topic, docs6)
        t.wait_for(lambda: len(hook_keys()) >= before + 3, 60, "wave 6 to start arriving")
        alert2.kill9()
        alert3 = t.Proc("alert3", [ALERT, "-c", conf], wd)
        procs.append(alert3)
        routed += [d["id"] for d in docs6 if d["@type"] != "protocols_statistics"]
        t.wait_for(lambda: len(hook_keys()) == len(routed) and set(
            i for a, i in rs.lines() if a == "s4f-tcp") == set(routed), 60,
            "the next alerter to deliver what the killed one had not committed")
        got = hook_keys()
        assert sorted(got) == sorted(routed), "webhook after the alerter's kill"
        tcp_ids = [i for a, i in rs.lines() if a == "s4f-tcp"]
        # It commits behind every confirmed connection: at most the one in flight comes again.
        assert len(tcp_ids) - len(set(tcp_ids)) <= 1, "syslog tcp repeated %d after the kill" % (
            len(tcp_ids) - len(set(tcp_ids)))
        print("ok: %d alerts (%d of them a real worker's port scans, from %d results) once each "
              "at the webhook and over syslog tcp across kills of both receivers, %d over tls, "
              "%d over udp, 5 of %d rate-limited; after a kill -9 of s4f-alert itself all "
              "again at least once (syslog tcp repeated %d)" % (
                  len(routed) - 45 - 3, len({d["id"] for d in scans}), len(scans), len(high),
                  len(udp_ids), len(ssh), len(tcp_ids) - len(set(tcp_ids))))
        passed = True
    finally:
        if not passed:  # CI keeps only this output: say how each process ended
            for p in procs:
                if not p.alive():
                    print("%s exited (%s); its log ends:\n%s" % (p.name, p.p.returncode,
                                                               p.text()[-2000:]))
        for p in procs:
            if p.alive():
                p.stop()
        t.delete_topic(topic)
        t.delete_topic(flows)
        t.testkafka("delete-groups", group + "-worker.ports_scan")
        t.testkafka("delete-groups", *["%s.%s" % (group, d)
                                       for d in ("hook", "tcp", "tls", "udp", "limited", "nowait",
                                                 "badtoken")])
        if passed:
            shutil.rmtree(wd, ignore_errors=True)  # kept when the test fails, for its logs


if __name__ == "__main__":
    try:
        main()
    except (t.TestFailure, AssertionError) as e:
        import traceback
        traceback.print_exc()
        print("FAIL:", e)
        sys.exit(1)
