#!/usr/bin/env python3
"""Soak: the whole pipeline under a steady load for a long time, sampled, with a verdict.

  tests/system/run --soak SECONDS --rate FLOWS_PER_S        (its own Kafka + Elasticsearch)
  tests/system/soak.py --seconds S --rate R [--external]    (--external: the stack of
                                  $S4F_KAFKA_BOOTSTRAP and $S4F_ES_URL, left running)

Every daemon runs on this machine (tests/lib/pipeline.py): the collector, one s4f-worker per
analysis (all of them), the sink and the web server. The test exporter (bench-collector-sender)
sends IPFIX at --rate flows/s from --exporters (10) exporters over --hosts (100,000) local hosts.
Every --interval (5) s it samples: flows/s in and out of each stage (collector counters, topic
end offsets, the workers' folded flows, the sink's indexed documents), each consumer group's lag
(messages, and seconds of its input: the consumer's kafka_consumer_lag_messages, or the end
offsets minus its kafka_consumed_total when that is larger and the daemon has one group), and
each daemon's resident set and CPU. After the sender
stops it waits for the pipeline to drain, then prints the verdict (rules in docs/benchmarks.md,
"Soak"):

  lag      every group: maximum under 30 s of its input (the sink: 90 s, its input comes a
           window at a time), and no upward trend: the least-squares slope over the second half
           of the sending time, times that half's length, under 10 s of input (the sink's only
           when that half is at least 3 minutes: over less, its bursts look like a trend);
  loss     flows sent = received by the collector = delivered to Kafka = the flows of the
           protocols_statistics documents in Elasticsearch; no analysis dropped a flow; every
           result written to Kafka was indexed, none dead-lettered;
  memory   every daemon's resident set after the warm-up (--warmup, default 660 s: the longest
           window plus its lateness, or half the run when the run is shorter than two warm-ups,
           said as "indicative") has a least-squares trend that grows by less than 16 MB or 10 %
           of its mean, whichever is larger, over that steady part.

It writes soak.csv (one row per sample), soak.txt (the verdict) and charts (flows.png, results.png,
lag.png, rss.png, cpu.png, drawn by gnuplot) into --out (default <build>/soak). Exit 0 when the verdict
is PASS."""
import argparse
import math
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import s4ftest as t  # noqa: E402
import pipeline as pl  # noqa: E402

# The analyses' windows as the soak configures them: the defaults, except ddos's long-term
# window (2 h by default, during which its per-host history legitimately grows), shortened to
# 10 minutes so a 30-minute soak sees it full.
SOAK_WINDOWS = {"ddos": {"long_window": "10m", "warmup": "5m"}}
WARMUP_S = 660  # ddos's long window (10 min) plus the default allowed lateness (1 min)
CHARTS = ("flows.png", "results.png", "lag.png", "rss.png", "cpu.png")
LAG_MAX_S, SINK_LAG_MAX_S, LAG_TREND_S = 30.0, 90.0, 10.0
# The sink's input comes in bursts a window apart (60 s, or 30 s slides): a slope over less than
# three minutes measures where the bursts fall, not a trend, so it is judged only over longer.
SINK_TREND_MIN_S = 180.0


def trend_judged(group, half_s):
    return not group.endswith(".sink") or half_s >= SINK_TREND_MIN_S
RSS_TREND_MB, RSS_TREND_FRAC = 16.0, 0.10


def log(msg):
    print("[soak] %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def slope(xs, ys):
    """Least-squares slope of ys over xs (0 with fewer than 3 points)."""
    pts = [(x, y) for x, y in zip(xs, ys) if y == y]
    if len(pts) < 3:
        return 0.0
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0


def short(p, group):
    return group[len(p.run) + 1:]


class Recorder:
    """Turns snapshots into CSV rows: rates between consecutive samples, lags, RSS and CPU."""

    def __init__(self, p, rate):
        self.p, self.rate = p, rate
        self.rows = []
        self.first = self.prev = None
        self.t0 = None

    def add(self, s, es_flows):
        p = self.p
        if self.first is None:
            self.first = self.prev = s
            self.t0 = s["t"]
        dt = max(1e-3, s["t"] - self.prev["t"])
        el = s["t"] - self.t0
        c, c0 = p.collector(s), p.collector(self.prev)
        row = {"t": round(el, 1),
               "collector_in_fps": (c["received"] - c0["received"]) / dt,
               "collector_out_fps": (c["delivered"] - c0["delivered"]) / dt}
        ends, ends0, ends_first = s["ends"] or {}, self.prev["ends"] or {}, self.first["ends"] or {}
        row["entry_mps"] = (ends.get(p.entry, 0) - ends0.get(p.entry, 0)) / dt if ends and ends0 else float("nan")
        row["results_mps"] = (ends.get(p.results, 0) - ends0.get(p.results, 0)) / dt if ends and ends0 else float("nan")
        for a in p.analyses:
            m, m0 = s["metrics"].get("worker-" + a, {}), self.prev["metrics"].get("worker-" + a, {})
            row["folded_fps:" + a] = (pl.msum(m, "s4f_worker_flows_total") - pl.msum(m0, "s4f_worker_flows_total")) / dt
        for a in p.analyses:
            m, m0 = s["metrics"].get("worker-" + a, {}), self.prev["metrics"].get("worker-" + a, {})
            row["results_ps:" + a] = (pl.msum(m, "s4f_worker_results_total") - pl.msum(m0, "s4f_worker_results_total")) / dt
        sm, sm0 = s["metrics"].get("sink", {}), self.prev["metrics"].get("sink", {})
        row["sink_indexed_dps"] = (sm.get("s4f_sink_docs_indexed_total", 0) - sm0.get("s4f_sink_docs_indexed_total", 0)) / dt
        row["es_flows"] = es_flows
        # A consumer's own lag figure uses the high watermark its last fetch saw, stale while it
        # is not fetching (queue full): it then reads low. Where a daemon has one consumer group,
        # end offsets minus its kafka_consumed_total are exact, and the larger of the two counts.
        lags = p.lags(s)
        backlogs = p.backlogs(s)
        per_daemon = {}
        for g in p.groups():
            per_daemon[p.group_daemon(g)] = per_daemon.get(p.group_daemon(g), 0) + 1
        for g in p.groups():
            row["lag_reported:" + short(p, g)] = lags.get(g, 0)
            d = p.group_daemon(g)
            if per_daemon[d] == 1 and d in backlogs:
                lags[g] = max(lags.get(g, 0), backlogs[d])
        for g, topic in p.groups().items():
            mean_rate = (ends.get(topic, 0) - ends_first.get(topic, 0)) / el if el > 0 and ends else 0
            if topic == p.entry and mean_rate <= 0:
                mean_rate = self.rate
            row["lag:" + short(p, g)] = lags.get(g, 0)
            row["lag_s:" + short(p, g)] = lags.get(g, 0) / mean_rate if mean_rate > 0 else (0.0 if not lags.get(g) else float("nan"))
        for d, b in backlogs.items():
            row["backlog:" + d] = b
        for d in p.procs:
            st, st0 = s["proc"].get(d), self.prev["proc"].get(d)
            row["rss_mb:" + d] = st[0] if st else float("nan")
            row["cpu_cores:" + d] = (st[1] - st0[1]) / dt if st and st0 else float("nan")
        self.rows.append(row)
        self.prev = s
        return row

    def write_csv(self, path):
        cols = []
        for r in self.rows:
            for k in r:
                if k not in cols:
                    cols.append(k)
        with open(path, "w") as f:
            f.write(",".join(cols) + "\n")
            for r in self.rows:
                f.write(",".join(fmt(r.get(k, float("nan"))) for k in cols) + "\n")
        return cols


def fmt(v):
    if isinstance(v, float):
        return "nan" if v != v else ("%.3f" % v).rstrip("0").rstrip(".")
    return str(v)


def charts(out, cols, p, title):
    """PNG charts from soak.csv with gnuplot; returns the files written (none without gnuplot)."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found (Debian package gnuplot-nox): no charts")
        return []
    csv = os.path.join(out, "soak.csv")

    def plot(png, ylabel, series, extra=""):
        # Eight colours, then the same colours dashed: 16 daemons stay apart.
        lines = ", ".join('"%s" using "t":"%s" with lines lw 2 lc %d dt %d title "%s"' % (
            csv, c, i % 8 + 1, i // 8 + 1, label) for i, (c, label) in enumerate(s for s in series if s[0] in cols))
        return "\n".join([
            'set output "%s"' % os.path.join(out, png),
            'set title "%s"' % (title + ": " + ylabel),
            'set ylabel "%s"' % ylabel, extra, "plot " + lines, "unset yrange"])
    parts = ["set terminal pngcairo size 1100,520 font 'sans,10'", "set datafile separator ','",
             "set datafile missing 'nan'", 'set xlabel "seconds since the sender started"', "set grid",
             "set key outside right top noenhanced", "set termoption noenhanced", "set yrange [0:*]"]
    rate_series = [("collector_in_fps", "collector in"), ("collector_out_fps", "collector to Kafka"),
                   ("entry_mps", "input topic")] + [("folded_fps:" + a, a) for a in p.analyses]
    parts.append(plot("flows.png", "flows per second, per stage", rate_series))
    parts.append("set yrange [0:*]")
    parts.append(plot("results.png", "results per second", [("results_mps", "written by the workers"),
                                                           ("sink_indexed_dps", "indexed by the sink")]))
    parts.append("set yrange [0:*]")
    parts.append(plot("lag.png", "consumer lag (seconds of input)", [("lag_s:" + short(p, g), short(p, g)) for g in p.groups()]))
    parts.append("set yrange [0:*]")
    parts.append(plot("rss.png", "resident set (MB)", [("rss_mb:" + d, d) for d in p.procs]))
    parts.append("set yrange [0:*]")
    parts.append(plot("cpu.png", "CPU (cores)", [("cpu_cores:" + d, d) for d in p.procs]))
    script = os.path.join(out, "charts.gp")
    with open(script, "w") as f:
        f.write("\n".join(parts) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if r.returncode:
        log("gnuplot failed: %s" % r.stderr[-1500:])
        return []
    return [os.path.join(out, x) for x in CHARTS]


def verdict(p, rec, send_s, warmup, totals):
    """The verdict lines and whether everything holds (rules in the module docstring)."""
    lines, ok = [], True
    rows = [r for r in rec.rows if r["t"] <= send_s + 1e-6]
    half = [r for r in rows if r["t"] >= send_s / 2]
    lines.append("lag (seconds of input: max over the run; trend = slope over the second half x its length):")
    for g in p.groups():
        k = "lag_s:" + short(p, g)
        vals = [r[k] for r in rows if r.get(k) == r.get(k)]
        mx = max(vals) if vals else float("nan")
        growth = slope([r["t"] for r in half], [r.get(k, float("nan")) for r in half]) * (send_s / 2)
        bound = SINK_LAG_MAX_S if g.endswith(".sink") else LAG_MAX_S
        judged = trend_judged(g, send_s / 2)
        good = vals and mx < bound and (growth < LAG_TREND_S or not judged)
        ok &= bool(good)
        lines.append("  %-28s max %7.1f s (%9d msgs)  trend %+7.1f s%s %s" % (
            short(p, g), mx, max([r["lag:" + short(p, g)] for r in rows] or [0]), growth,
            "" if judged else " (not judged: half < %.0f s)" % SINK_TREND_MIN_S,
            "ok" if good else "FAIL (bounds: max < %.0f s, trend < %.0f s)" % (bound, LAG_TREND_S)))
    lines.append("loss:")
    lag_ok, loss_ok = ok, True
    for name, a, b in totals["pairs"]:
        good = a == b
        loss_ok &= good
        lines.append("  %-52s %12d = %-12d %s" % (name, a, b, "ok" if good else "FAIL (differ by %d)" % (a - b)))
    lines.append("  results by analysis: " + totals.get("by_analysis", ""))
    for name, v in totals["zeros"]:
        loss_ok &= v == 0
        lines.append("  %-52s %12d   %s" % (name, v, "ok" if v == 0 else "FAIL (must be 0)"))
    ok = lag_ok and loss_ok
    steady = [r for r in rows if r["t"] >= warmup]
    indicative = warmup >= send_s / 2
    lines.append("memory (RSS after a warm-up of %.0f s%s; trend = slope x steady length, bound max(%.0f MB, %.0f%% of mean)):"
                 % (warmup, ", indicative: the run is shorter than two warm-ups" if indicative else "",
                    RSS_TREND_MB, 100 * RSS_TREND_FRAC))
    span = (steady[-1]["t"] - steady[0]["t"]) if len(steady) > 1 else 0
    for d in p.procs:
        k = "rss_mb:" + d
        ys = [r.get(k, float("nan")) for r in steady]
        good_ys = [y for y in ys if y == y]
        if not good_ys:
            ok = False
            lines.append("  %-28s no samples  FAIL" % d)
            continue
        mean = sum(good_ys) / len(good_ys)
        growth = slope([r["t"] for r in steady], ys) * span
        bound = max(RSS_TREND_MB, RSS_TREND_FRAC * mean)
        peak = max(r.get(k, 0) for r in rows if r.get(k) == r.get(k))
        good = growth < bound
        ok &= good
        lines.append("  %-28s mean %7.1f MB  peak %7.1f MB  trend %+7.1f MB  %s" % (
            d, mean, peak, growth, "ok" if good else "FAIL (bound %.1f MB)" % bound))
    cpu = []
    for d in p.procs:
        vals = [r.get("cpu_cores:" + d) for r in rows if r.get("cpu_cores:" + d) == r.get("cpu_cores:" + d)]
        if vals:
            cpu.append("%s %.2f" % (d, sum(vals) / len(vals)))
    lines.append("CPU (mean cores while sending): " + ", ".join(cpu))
    lines.append("verdict: %s" % ("PASS" if ok else "FAIL"))
    return lines, ok, loss_ok


def run_soak(build, kafka, es_url, seconds, rate, out, exporters=10, hosts=100000, interval=5.0,
             warmup=None, analyses=None, drain_timeout=None, smoke=False):
    if drain_timeout is None:
        drain_timeout = 120 if smoke else 600
    wd = t.workdir("s4f-soak-")
    run = "s4fsoak%d" % (int(time.time()) % 10000000)
    p = pl.Pipeline(build, wd, kafka, es_url, run, analyses=analyses, window_overrides=SOAK_WINDOWS)
    os.makedirs(out, exist_ok=True)
    ok = False
    rec = None
    try:
        log("work folder %s; run %s; starting %d daemons" % (wd, run, 3 + len(p.analyses)))
        p.start()
        log("all consumer groups assigned; sending %d flows/s for %d s from %d exporters over %d local hosts"
            % (rate, seconds, exporters, hosts))
        rec = Recorder(p, rate)
        rec.add(p.sample(), 0)
        sender = p.sender(rate, seconds, exporters, hosts)
        start = time.monotonic()
        n = 0
        head = "  t(s)   in/s  kafka/s  results/s  indexed/s  max lag (s, group)        max RSS (MB, daemon)"
        log(head)
        drained_at = None
        while True:
            n += 1
            time.sleep(max(0.0, start + n * interval - time.monotonic()))  # the sampling period
            s = p.sample()
            es_flows = p.es.sum_field("protocols_statistics", "flows")[0]
            row = rec.add(s, es_flows)
            lag = max(((row[k], k[6:]) for k in row if k.startswith("lag_s:") and row[k] == row[k]), default=(0, "-"))
            rss = max(((row[k], k[7:]) for k in row if k.startswith("rss_mb:") and row[k] == row[k]), default=(0, "-"))
            log("  %5.0f %6.0f %8.0f %10.0f %10.0f  %6.1f %-20s %7.1f %s" % (
                row["t"], row["collector_in_fps"], row["collector_out_fps"], row["results_mps"],
                row["sink_indexed_dps"], lag[0], lag[1][:20], rss[0], rss[1]))
            for name, pr in p.procs.items():
                if not pr.alive():
                    raise t.TestFailure("%s exited (%s):\n%s" % (name, pr.p.returncode, pr.text()[-2000:]))
            if sender.poll() is None:
                continue
            # Drain: every group caught up and every delivered flow searchable, twice in a row.
            c = p.collector(s)
            lags = p.lags(s)
            done = all(v == 0 for v in lags.values()) and es_flows >= c["delivered"] > 0
            if done and drained_at is not None:
                break
            drained_at = drained_at or (time.monotonic() if done else None)
            if time.monotonic() - start > seconds + drain_timeout:
                log("the pipeline did not drain within %d s of the sender stopping" % drain_timeout)
                break
        out_s, _ = sender.communicate()
        sent = dict(kv.split("=", 1) for kv in out_s.split() if "=" in kv)
        log("sender: " + out_s.strip())
        # Results still in flight at the end are indexed: wait for the sink to catch up.
        try:
            t.wait_for(lambda: all(v == 0 for v in p.lags(p.sample()).values()), 120, "the sink to catch up",
                       interval=1)
        except t.TestFailure:
            log("not every group caught up: the loss checks count what is missing")
        s = p.sample()
        c = p.collector(s)
        es_flows, es_docs = p.es.sum_field("protocols_statistics", "flows")
        wm = {d: s["metrics"].get(d, {}) for d in p.procs if d.startswith("worker-")}
        sm = s["metrics"].get("sink", {})
        results_written = s["ends"].get(p.results, 0) if s["ends"] else -1
        results_made = int(sum(pl.msum(m, "s4f_worker_results_total") for m in wm.values()))
        handled = int(sm.get("s4f_sink_docs_indexed_total", 0) + pl.msum(sm, "s4f_sink_docs_deadlettered_total")
                      + sm.get("s4f_sink_docs_fenced_total", 0))
        drops = ["late_dropped_total", "future_dropped_total", "outlier_dropped_total", "nomem_dropped_total",
                 "keys_dropped_total", "members_dropped_total", "results_refused_total"]
        by_analysis = ", ".join("%s %d" % (d[7:], pl.msum(m, "s4f_worker_results_total")) for d, m in wm.items())
        totals = {"by_analysis": by_analysis, "pairs": [
            ("flows sent = received by the collector", int(sent.get("flows_sent", -1)), int(c["received"])),
            ("received = handed to Kafka (records_total)", int(c["received"]), int(c["records"])),
            ("handed to Kafka = acknowledged", int(c["records"]), int(c["delivered"])),
            ("acknowledged = on the input topic (end offsets)", int(c["delivered"]),
             int(s["ends"].get(p.entry, -1)) if s["ends"] else -1),
            ("acknowledged = flows in protocols_statistics (ES)", int(c["delivered"]), es_flows),
            ("results made by workers = on the results topic", results_made, results_written),
            ("results on the topic = handled by the sink", results_written, handled)],
            "zeros": [("collector records dropped", int(c["dropped"])),
                      ("collector UDP kernel drops", int(c["kernel_drops"])),
                      ("sink documents dead-lettered", int(pl.msum(sm, "s4f_sink_docs_deadlettered_total")))] +
            [("workers: %s (all analyses)" % d, int(sum(pl.msum(m, "s4f_worker_" + d) for m in wm.values())))
             for d in drops]}
        if warmup is None:
            warmup = WARMUP_S if seconds >= 2 * WARMUP_S else seconds / 2
        title = "soak %d flows/s, %d s, %d analyses" % (rate, seconds, len(p.analyses))
        cols = rec.write_csv(os.path.join(out, "soak.csv"))
        pngs = charts(out, cols, p, title)
        lines, ok, loss_ok = verdict(p, rec, seconds, warmup, totals)
        if smoke:
            # The smoke test keeps the tool from rotting: it ran to the end, wrote its series and
            # charts, and lost nothing. Lag and memory depend on the machine: printed, not judged.
            missing = [c for c in CHARTS if shutil.which("gnuplot") and not os.path.exists(os.path.join(out, c))]
            ok = loss_ok and len(rec.rows) >= 3 and not missing
            log("smoke: %s (loss checks %s, %d samples, charts missing: %s)" % (
                "PASS" if ok else "FAIL", "ok" if loss_ok else "FAILED", len(rec.rows), missing or "none"))
        hdr = ["soak: %d flows/s for %d s from %d exporters over %d local hosts; %d analyses; sampled every %.0f s"
               % (rate, seconds, exporters, hosts, len(p.analyses), interval),
               "%s UTC, commit %s; machine: %d CPUs, load average %s at the end; protocols_statistics documents: %d"
               % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                  subprocess.run(["git", "-C", t.SRC, "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip() or "?",
                  os.cpu_count(), " ".join("%.1f" % x for x in os.getloadavg()), es_docs)]
        with open(os.path.join(out, "soak.txt"), "w") as f:
            f.write("\n".join(hdr + lines) + "\n")
        for line in hdr + lines:
            log(line)
        log("time series: %s; charts: %s" % (os.path.join(out, "soak.csv"), ", ".join(pngs) or "none"))
    except t.TestFailure as e:
        log("FAIL: %s" % e)
        ok = False
        if rec is not None and rec.rows:  # what was sampled is still worth a look
            charts(out, rec.write_csv(os.path.join(out, "soak.csv")), p, "soak %d flows/s (failed)" % rate)
    finally:
        p.stop()
        p.delete()
        if ok:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            log("daemon logs kept in " + wd)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=t.BUILD)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--rate", type=int, default=50000)
    ap.add_argument("--exporters", type=int, default=10)
    ap.add_argument("--hosts", type=int, default=100000)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--analyses", default=",".join(pl.ANALYSES))
    ap.add_argument("--out", default=None)
    ap.add_argument("--smoke", action="store_true",
                    help="pass when the tool ran through and nothing was lost (lag and memory printed only)")
    ap.add_argument("--external", action="store_true",
                    help="use the running stack of $S4F_KAFKA_BOOTSTRAP and $S4F_ES_URL")
    a = ap.parse_args()
    # SIGTERM (a timeout, a stop) ends the run through its clean-up: daemons, topics, stack.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not a.external:
        ap.error("without --external, run it as tests/system/run --soak SECONDS (which starts a stack)")
    ok = run_soak(a.build, t.KAFKA, t.ES, a.seconds, a.rate, a.out or os.path.join(a.build, "soak"),
                  a.exporters, a.hosts, a.interval, a.warmup, a.analyses.split(","), smoke=a.smoke)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
