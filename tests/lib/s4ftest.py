"""Helpers shared by the Python integration tests: processes with logs, waiting on observable
conditions with deadlines, free ports, the test Kafka client, metrics scraping.

Nothing here sleeps a fixed time to hope something happened: wait_for() polls a condition and
fails with a message when its deadline passes."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

SRC = os.environ.get("S4F_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("S4F_BUILD_DIR") or os.path.join(SRC, "build")


def sanitized():
    """True in an ASan/UBSan or TSan build: its shadow memory and quarantine make RSS no figure."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            for line in f:
                # S4F_SANITIZE is a STRING (ON, address, thread or OFF); match any cache type.
                if line.startswith("S4F_SANITIZE:"):
                    return line.split("=", 1)[1].strip().upper() not in ("", "OFF", "0", "FALSE", "NO")
    except OSError:
        pass
    return False
KAFKA = os.environ.get("S4F_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
ES = os.environ.get("S4F_ES_URL", "http://127.0.0.1:9200")
TOOLS = os.path.join(SRC, "tests", "tools")


class TestFailure(Exception):
    pass


def wait_for(cond, timeout, what, interval=0.1):
    """Polls cond() until it returns a truthy value, which is returned; raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def udp_port_bound(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class Proc:
    """A background process whose output goes to a log file we can search."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=e)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=30):
        rx = re.compile(pattern)

        def seen():
            if self.p.poll() is not None and not rx.search(self.text()):
                raise TestFailure("%s exited (%s) before logging %r:\n%s" % (
                    self.name, self.p.returncode, pattern, self.text()[-3000:]))
            return rx.search(self.text())
        return wait_for(seen, timeout, "%s to log %r" % (self.name, pattern))

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def kill9(self):
        self.p.kill()
        self.p.wait()
        self.log.close()


def testkafka(*args, **kw):
    exe = os.path.join(BUILD, "tests", "tools", "s4f-testkafka")
    env = dict(os.environ, S4F_KAFKA_BOOTSTRAP=KAFKA)
    return subprocess.run([exe] + [str(a) for a in args], env=env, capture_output=True,
                          text=True, check=False, **kw)


def create_topic(name, partitions):
    r = testkafka("create", name, partitions)
    if r.returncode:
        raise TestFailure("cannot create topic %s: %s" % (name, r.stderr))


def delete_topic(name):
    testkafka("delete", name)


def consume(topic, expect=0, idle_ms=3000, timeout_ms=120000, keys=False):
    args = ["consume", topic, "--idle", idle_ms, "--max", expect, "--timeout", timeout_ms]
    if keys:
        args.append("--keys")
    r = testkafka(*args)
    lines = [l for l in r.stdout.split("\n") if l]
    if keys:
        return [tuple(l.split("\t", 1)) for l in lines]
    return lines


def metrics(port):
    """Scrapes a /metrics endpoint into {name{labels}: value}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def metrics_port_from_log(proc):
    m = proc.wait_log(r"metrics on port (\d+)")
    return int(m.group(1))


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def unique(name):
    return "%s.%d.%d" % (name, os.getpid(), int(time.time() * 1000) % 100000000)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path

def start_collector(wd, topic, name="collector", sflow_port=None):
    """Starts s4f-collector on a free loopback UDP port writing to topic; returns (Proc, UDP
    port, metrics port) once it receives. sFlow is received on sflow_port if given (else off)."""
    port = free_port()
    conf = write(os.path.join(wd, name + ".yml"), "\n".join([
        "kafka:",
        "  bootstrap.servers: " + KAFKA,
        "collector:",
        "  listen: 127.0.0.1:%d" % port,
        "  tcp_listen: ''",
        "  sflow_listen: " + ("127.0.0.1:%d" % sflow_port if sflow_port else "''"),
        "  metrics_listen: 127.0.0.1:0",
        "  topic: " + topic,
        "  element_files: [%s]" % os.path.join(SRC, "collector/decode/elements/flowmon.xml"),
        ""]))
    col = Proc(name, [os.path.join(BUILD, "collector", "s4f-collector"), "-c", conf], wd)
    col.wait_log("receiving on udp")
    return col, port, metrics_port_from_log(col)


def collector_settled(mport, timeout=60):
    """Waits until everything the collector received is decoded and acknowledged by Kafka: its
    record and delivery counters equal and still, its queue empty. Returns its metrics."""
    last = [None]

    def settled():
        m = metrics(mport)
        key = (m.get("s4f_collector_records_total"), m.get("s4f_collector_kafka_delivered_total"))
        done = key == last[0] and key[0] == key[1] and m.get("s4f_collector_kafka_outq_messages", 0) == 0
        last[0] = key
        return done and m
    return wait_for(settled, timeout, "the collector to settle", interval=1.0)


def run_softflowd(pcap, port, version, timeouts=("maxlife=1",)):
    """Exports pcap with softflowd (NetFlow version 5, 9 or 10 = IPFIX) to 127.0.0.1:port.
    The default maxlife=1 cuts every flow into pieces of one second of capture time; pass
    timeouts=() for softflowd's own, so that each connection is one flow."""
    argv = ["softflowd", "-r", pcap, "-n", "127.0.0.1:%d" % port, "-v", str(version)]
    for t in timeouts:
        argv += ["-t", t]
    subprocess.run(argv, check=True, capture_output=True)


def run_pmacctd(pcap, port, wd):
    """Replays pcap through pmacctd's nfprobe plugin as IPFIX to 127.0.0.1:port.

    pmacctd 1.7.7 now and then exits 1 on a busy machine (seen in the probe test and in the
    system test under CI load, not reproducible when idle). Callers send its export through a
    tee to both the collector and an independent decoder, so a second run keeps their
    comparison exact. Its output is printed on each failure; two failures fail the test.
    Returns the number of runs, so a caller that checks against the capture's own truth knows
    whether a partial first export may have doubled part of it."""
    conf = write(os.path.join(wd, "pmacctd.conf"), "\n".join([
        "daemonize: false",
        "pcap_savefile: " + pcap,
        "plugins: nfprobe",
        "nfprobe_receiver: 127.0.0.1:%d" % port,
        "nfprobe_version: 10",
        "nfprobe_timeouts: maxlife=1:expint=1",
        "aggregate: src_host, dst_host, src_port, dst_port, proto, tcpflags",
        ""]))
    for attempt in (1, 2):
        r = subprocess.run(["pmacctd", "-f", conf], capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            return attempt
        print("pmacctd exited %d (attempt %d):\n%s" % (r.returncode, attempt, (r.stdout + r.stderr)[-2000:]),
              flush=True)
    raise SystemExit("pmacctd failed twice")


def load_json_lines(lines):
    return [json.loads(l) for l in lines]
