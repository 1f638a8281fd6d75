#!/usr/bin/env bash
# ops_prometheus_examples: the example scrape configuration and alert rules parse, name only
# metrics the daemons export, and pass promtool when it is installed.
set -euo pipefail
SRC=${S4F_SOURCE_DIR:?}
DIR=$SRC/provisioning/prometheus
python3 - "$DIR" "$SRC" <<'PY'
import glob, os, re, sys, yaml
d, src = sys.argv[1], sys.argv[2]
conf = yaml.safe_load(open(os.path.join(d, "prometheus.yml")))
jobs = {j["job_name"] for j in conf["scrape_configs"]}
assert jobs == {"s4f-collector", "s4f-worker", "s4f-sink", "s4f-web", "s4f-alert"}, jobs
for f in conf["rule_files"]:
    assert os.path.exists(os.path.join(d, f)), f
rules = yaml.safe_load(open(os.path.join(d, "stream4flow-alerts.yml")))
# Metric names the code registers: s4f_<daemon>_<name> for every s4f_metrics_counter/gauge.
names = set()
for path in glob.glob(os.path.join(src, "**", "*.c"), recursive=True):
    if "/build" in path or "/tests/" in path:
        continue
    text = open(path, errors="replace").read()
    names |= set(re.findall(r's4f_metrics_(?:counter|gauge|gauge_fn)\(\s*[\w>.-]+,\s*"(\w+)"', text))
n = 0
for g in rules["groups"]:
    for r in g["rules"]:
        n += 1
        assert r.get("alert") and r.get("expr") and r.get("labels", {}).get("severity"), r
        for m in re.findall(r"\bs4f_(?:collector|worker|sink|web|alert)_(\w+)", r["expr"]):
            assert m in names, "alert %s uses unknown metric ...%s" % (r["alert"], m)
print("prometheus examples: %d jobs, %d alert rules, %d metric names known" % (len(jobs), n, len(names)))
PY
if command -v promtool >/dev/null; then
	promtool check rules "$DIR/stream4flow-alerts.yml"
	promtool check config --syntax-only "$DIR/prometheus.yml"
else
	echo "promtool not installed: structural checks only"
fi
