"""The whole pipeline on one machine, for the soak (tests/system/soak.py) and the pipeline
benchmark (bench/pipeline/run): the collector, one worker process per analysis (every analysis
the worker has), the sink and the web server, on a given Kafka and Elasticsearch, with topics,
consumer groups and an index prefix of their own (so a shared test stack is not disturbed);
and a sampler that reads every daemon's counters, the topics' end offsets (kcat), and each
process's resident set and CPU time (/proc) at once.

Nothing here sleeps a fixed time to hope something happened: waits poll a condition with a
deadline (s4ftest.wait_for)."""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import s4ftest as t

# Every analysis of s4f-worker, in the order of docs/worker.md's topology table.
ANALYSES = ["protocols_statistics", "ports_scan", "host_stats", "dns_statistics",
            "dns_open_resolvers", "reflect_ddos", "dns_external_resolvers", "tls_classification",
            "top_n_host_stats", "ssh_auth_simple", "ddos", "rules", "pattern_finder"]
# Analyses with a repartition topic between two stages (and the suffix of their stage-one group).
TWO_STAGE = ("host_stats", "ddos", "dns_external_resolvers")
PARTITIONS = 4
# Two rules on the flows' own fields, as a user would write them (docs/rules.md).
RULES = """rules:
  - name: ssh_outside_many_hosts
    filter: {proto: tcp, dst_port: 22, src_ip: {not_in: [10.0.0.0/8]}}
    key: [src_ip]
    window: 5m
    aggregates: {flows: count, hosts: {distinct: dst_ip}}
    condition: {hosts: {gt: 10}}
  - name: busy_sources
    key: [src_ip]
    window: 5m
    aggregates: {flows: count, bytes: {sum: bytes}}
    condition: {flows: {gt: 10000}}
"""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(RSS in MB, CPU seconds user + system of every thread) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        with open("/proc/%d/status" % pid) as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    fields = st[st.rindex(")") + 2:].split()
    return rss / 1024.0, (int(fields[11]) + int(fields[12])) / CLK_TCK


def labels(key):
    """'name{a="x",b="y"}' -> ('name', {'a': 'x', 'b': 'y'})."""
    if "{" not in key:
        return key, {}
    name, rest = key.split("{", 1)
    return name, dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))


def msum(m, name):
    """Sum of every series of one metric (all label sets)."""
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


class ES:
    def __init__(self, url, prefix):
        self.url, self.prefix = url.rstrip("/"), prefix

    def req(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.url + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")

    def search(self, typ, body):
        """A search over one result type's daily indices (refreshed first); None while the
        index does not exist or the node does not answer."""
        idx = "/%s-%s-*" % (self.prefix, typ)
        try:
            self.req("POST", idx + "/_refresh")
            return self.req("POST", idx + "/_search", body)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def sum_field(self, typ, field, query=None):
        r = self.search(typ, {"size": 0, "track_total_hits": True,
                              "query": query or {"match_all": {}},
                              "aggs": {"s": {"sum": {"field": field}}}})
        if not r or "aggregations" not in r:
            return 0, 0
        return int(r["aggregations"]["s"]["value"] or 0), r["hits"]["total"]["value"]

    def count_all(self):
        try:
            self.req("POST", "/%s-*/_refresh" % self.prefix)
            return self.req("GET", "/%s-*/_count" % self.prefix).get("count", 0)
        except (urllib.error.URLError, OSError, ValueError):
            return 0

    def delete_all(self):
        try:
            self.req("DELETE", "/%s-*" % self.prefix)
        except (urllib.error.URLError, OSError, ValueError):
            pass


class Pipeline:
    """Every daemon on loopback; topics named <run>.*, groups <run>.*, indices <run>-*."""

    def __init__(self, build, wd, kafka, es_url, run, analyses=None, idle_timeout="5s",
                 sink_delay="1s", window_overrides=None):
        self.build, self.wd, self.kafka, self.run = build, wd, kafka, run
        self.analyses = list(analyses or ANALYSES)
        self.es = ES(es_url, run)
        self.entry, self.results, self.deadletter = run + ".entry", run + ".results", run + ".deadletter"
        self.rep = {a: "%s.%s.rep" % (run, a) for a in TWO_STAGE if a in self.analyses}
        self.changelog = {a: "%s.%s.log" % (run, a) for a in ("host_stats", "ddos") if a in self.analyses}
        self.idle_timeout, self.sink_delay = idle_timeout, sink_delay
        self.window_overrides = window_overrides or {}
        self.procs = {}   # name -> s4ftest.Proc
        self.mports = {}  # name -> metrics port
        self.col_port = None
        self.web_port = None

    # -- topics and configuration ------------------------------------------------------------
    def topics(self):
        return [self.entry, self.results, self.deadletter] + list(self.rep.values()) + list(self.changelog.values())

    def groups(self):
        """Consumer group -> the topic it reads (whose rate is its input)."""
        g = {}
        for a in self.analyses:
            if a in self.rep:
                g["%s.%s.rekey" % (self.run, a)] = self.entry
                g["%s.%s" % (self.run, a)] = self.rep[a]
            else:
                g["%s.%s" % (self.run, a)] = self.entry
        g[self.run + ".sink"] = self.results
        return g

    def group_daemon(self, group):
        a = group[len(self.run) + 1:]
        if a == "sink":
            return "sink"
        return "worker-" + (a[:-len(".rekey")] if a.endswith(".rekey") else a)

    def config(self):
        an = []
        for a in self.analyses:
            opts = {"output_topic": self.results, "idle_timeout": self.idle_timeout}
            if a in self.rep:
                opts["repartition_topic"] = self.rep[a]
            if a in self.changelog:
                opts["changelog_topic"] = self.changelog[a]
            if a == "tls_classification":
                opts["dictionary_file"] = os.path.join(t.SRC, "workers", "data", "tls_classification_dictionary.csv")
            if a == "rules":
                opts["rules_file"] = t.write(os.path.join(self.wd, "rules.yml"), RULES)
            if a == "pattern_finder":
                opts["configurations"] = [os.path.join(t.SRC, "workers", "pattern_finder", f)
                                          for f in ("ssh.yml", "anomaly.yml")]
            opts.update(self.window_overrides.get(a, {}))
            an.append("    %s: %s" % (a, json.dumps(opts)))
        elements = [os.path.join(t.SRC, "collector", "decode", "elements", f) for f in ("flowmon.xml", "ipfixprobe.xml")]
        return "\n".join([
            "kafka:",
            "  bootstrap.servers: " + self.kafka,
            "elasticsearch:",
            "  urls: [%s]" % self.es.url,
            "  index_prefix: " + self.run,
            "collector:",
            "  listen: 127.0.0.1:%d" % self.col_port,
            "  tcp_listen: ''",
            "  metrics_listen: 127.0.0.1:0",
            "  topic: " + self.entry,
            "  element_files: %s" % json.dumps(elements),
            "worker:",
            "  metrics_listen: 127.0.0.1:0",
            "  group_id: " + self.run,
            "  input_topic: " + self.entry,
            "  analyses:"] + an + [
            "sink:",
            "  metrics_listen: 127.0.0.1:0",
            "  topics: [%s]" % self.results,
            "  group_id: %s.sink" % self.run,
            "  deadletter_topic: " + self.deadletter,
            "  bulk_max_delay: " + self.sink_delay,
            "web:",
            "  listen: 127.0.0.1:%d" % self.web_port,
            "  metrics_listen: 127.0.0.1:0",
            "  users_file: " + os.path.join(self.wd, "users.json"),
            ""])

    # -- processes ---------------------------------------------------------------------------
    def _start(self, name, argv):
        p = t.Proc(name, argv, self.wd, {"S4F_KAFKA_BOOTSTRAP": self.kafka})
        self.procs[name] = p
        return p

    def start(self):
        env = dict(os.environ, S4F_KAFKA_BOOTSTRAP=self.kafka)
        for topic in self.topics():
            r = subprocess.run([os.path.join(self.build, "tests", "tools", "s4f-testkafka"), "create", topic,
                                str(PARTITIONS)], env=env, capture_output=True, text=True)
            if r.returncode:
                raise t.TestFailure("cannot create topic %s: %s" % (topic, r.stderr))
        for topic in self.changelog.values():
            subprocess.run([os.path.join(self.build, "tests", "tools", "s4f-testkafka"), "config", topic,
                            "cleanup.policy", "compact"], env=env, capture_output=True, text=True)
        self.col_port, self.web_port = t.free_port(), t.free_port(__import__("socket").SOCK_STREAM)
        conf = t.write(os.path.join(self.wd, "stream4flow.yml"), self.config())
        self._start("collector", [os.path.join(self.build, "collector", "s4f-collector"), "-c", conf])
        for a in self.analyses:
            self._start("worker-" + a, [os.path.join(self.build, "workers", "s4f-worker"), "-c", conf,
                                        "--analysis", a, "--instance", a])
        self._start("sink", [os.path.join(self.build, "sink", "s4f-sink"), "-c", conf])
        subprocess.run([os.path.join(self.build, "web", "s4f-web"), "-c", conf, "--add-user", "soak", "--role",
                        "admin"], input="soak-password-%d\n" % os.getpid(), text=True, check=True,
                       capture_output=True)
        self._start("web", [os.path.join(self.build, "web", "s4f-web"), "-c", conf])
        for name, p in self.procs.items():
            self.mports[name] = t.metrics_port_from_log(p)
        # Every consumer group has its partitions before traffic starts: a worker that joins
        # late would count its first minute as lag.
        t.wait_for(self.all_assigned, 120, "every consumer group to be assigned", interval=0.5)

    def all_assigned(self):
        """True when every consumer has had its partitions assigned (a rebalance counted per
        consumer group of the process)."""
        need = {}
        for g in self.groups():
            d = self.group_daemon(g)
            need[d] = need.get(d, 0) + 1
        for d, n in need.items():
            try:
                m = t.metrics(self.mports[d])
            except OSError:
                return False
            if msum(m, "s4f_%s_kafka_rebalances_total" % ("sink" if d == "sink" else "worker")) < n:
                return False
        return True

    def stop(self):
        for p in self.procs.values():
            try:
                p.stop(timeout=20)
            except Exception:  # noqa: BLE001 (best effort at the end of a run)
                pass

    def delete(self):
        env = dict(os.environ, S4F_KAFKA_BOOTSTRAP=self.kafka)
        tool = os.path.join(self.build, "tests", "tools", "s4f-testkafka")
        subprocess.run([tool, "delete"] + self.topics(), env=env, capture_output=True)
        subprocess.run([tool, "delete-groups"] + list(self.groups()), env=env, capture_output=True)
        self.es.delete_all()

    def sender(self, rate, seconds, exporters=10, hosts=100000):
        """The test exporter (bench-collector-sender): IPFIX at `rate` flows/s from `exporters`
        exporters on their own loopback addresses, over `hosts` local hosts."""
        return subprocess.Popen([os.path.join(self.build, "bench", "collector", "bench-collector-sender"),
                                 "-t", "127.0.0.1:%d" % self.col_port, "-v", "10", "-r", str(rate),
                                 "-d", str(seconds), "-e", str(exporters), "-H", str(hosts)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    # -- sampling ----------------------------------------------------------------------------
    def end_offsets(self):
        """Sum of the partitions' end offsets of each topic (kcat -Q), {topic: messages}."""
        topics = [self.entry, self.results] + list(self.rep.values())
        args = ["kcat", "-b", self.kafka, "-Q"]
        for tp in topics:
            for p in range(PARTITIONS):
                args += ["-t", "%s:%d:-1" % (tp, p)]
        for _ in range(3):
            r = subprocess.run(args, capture_output=True, text=True, timeout=30)
            rows = re.findall(r"^(\S+) \[(\d+)\] offset (-?\d+)", r.stdout, re.M)
            if r.returncode == 0 and len(rows) == len(topics) * PARTITIONS:
                out = dict.fromkeys(topics, 0)
                for tp, _, off in rows:
                    out[tp] += max(0, int(off))
                return out
        return None

    def sample(self):
        """One snapshot: {'t': monotonic s, 'metrics': {daemon: {...}}, 'proc': {daemon: (rss MB,
        cpu s)}, 'ends': {topic: offset}}."""
        s = {"t": time.monotonic(), "metrics": {}, "proc": {}}
        for name, p in self.procs.items():
            st = proc_stat(p.p.pid) if p.alive() else None
            if st:
                s["proc"][name] = st
            try:
                s["metrics"][name] = t.metrics(self.mports[name])
            except OSError:
                s["metrics"][name] = {}
        s["ends"] = self.end_offsets()
        return s

    def lags(self, s):
        """{group: lag in messages} as each consumer reports it (kafka_consumer_lag_messages)."""
        out = {}
        for g in self.groups():
            m = s["metrics"].get(self.group_daemon(g), {})
            out[g] = sum(v for k, v in m.items()
                         if k.endswith("kafka_consumer_lag_messages") or "kafka_consumer_lag_messages{" in k
                         if labels(k)[1].get("group") == g)
        return out

    def backlogs(self, s):
        """{daemon: messages written to its input topics and not yet consumed by it} from the
        end offsets and its own kafka_consumed_total: a check on the consumers' own figure that
        does not depend on their cached watermarks."""
        if not s["ends"]:
            return {}
        out = {}
        for g, topic in self.groups().items():
            d = self.group_daemon(g)
            out[d] = out.get(d, 0) + s["ends"].get(topic, 0)
        for d in out:
            m = s["metrics"].get(d, {})
            out[d] -= msum(m, "s4f_%s_kafka_consumed_total" % ("sink" if d == "sink" else "worker"))
        return out

    def collector(self, s):
        m = s["metrics"].get("collector", {})
        return {"received": msum(m, "s4f_collector_flows_total"),
                "records": m.get("s4f_collector_records_total", 0),
                "delivered": m.get("s4f_collector_kafka_delivered_total", 0),
                "dropped": msum(m, "s4f_collector_records_dropped_total"),
                "kernel_drops": m.get("s4f_collector_udp_kernel_drops_total", 0),
                "decode_errors": msum(m, "s4f_collector_decode_errors_total")}
