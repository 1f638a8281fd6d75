#!/usr/bin/env bash
# Integration test: the Elasticsearch node of the stack answers with its cluster info and is
# healthy enough to index, search and delete a document.
set -euo pipefail
es=${S4F_ES_URL:-http://127.0.0.1:9200}
index="s4ftest-es-answers-$$-$(date +%s)"
# The integ-test distribution has no "GET /" (its rest-root module is left out), so the
# version and cluster name come from the nodes and health APIs.
info=$(curl -fsS "$es/_nodes/_local?filter_path=nodes.*.version,cluster_name")
echo "$info" | grep -q '"cluster_name"' || { echo "FAIL: no cluster info: $info"; exit 1; }
echo "$info" | grep -q '"version"' || { echo "FAIL: no version: $info"; exit 1; }
curl -fsS "$es/_cluster/health?wait_for_status=yellow&timeout=30s" | grep -qE '"status":"(green|yellow)"'
curl -fsS -XPUT "$es/$index/_doc/1?refresh=true" -H 'Content-Type: application/json' \
  -d '{"@timestamp":"2026-11-27T06:00:00Z","n":1}' > /dev/null
hits=$(curl -fsS "$es/$index/_count" | sed -E 's/.*"count":([0-9]+).*/\1/')
curl -fsS -XDELETE "$es/$index" > /dev/null
[ "$hits" = 1 ] || { echo "FAIL: expected 1 document, got $hits"; exit 1; }
echo "PASS: $(echo "$info" | tr -d '\n ' | grep -oE '"version":"[^"]+"')"
