#!/usr/bin/env bash
# Probe which Elasticsearch/OpenSearch REST features a running node offers.
# Prints one line per feature: "ok" or "MISSING"/"FAIL" plus the HTTP answer.
# Everything it creates is named s4f-probe-* and removed at the end.
#
#   provisioning/stack/probe-es-features.sh [--with-data-streams] [URL]
#       URL defaults to http://127.0.0.1:$S4F_ES_PORT (9200)
#
# --with-data-streams also creates a data stream. On the Elasticsearch
# integ-test zip a data stream can NOT be deleted afterwards (no
# DELETE /_data_stream handler, and its write index cannot be deleted), so
# only use it on a throw-away stack.
set -euo pipefail

DS=0
if [[ ${1:-} == --with-data-streams ]]; then
	DS=1
	shift
fi
URL=${1:-http://127.0.0.1:${S4F_ES_PORT:-9200}}
NL=$'\n'
P=s4f-probe
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

# req METHOD PATH [JSON-BODY] [CONTENT-TYPE]: sets CODE; body in $BODY.
req() {
	local args=(-s -o "$BODY" -w '%{http_code}' -X "$1" "$URL$2")
	if [[ $# -ge 3 ]]; then
		args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
	fi
	CODE=$(curl "${args[@]}" || echo 000)
}

# check LABEL METHOD PATH [BODY] [CT]: "ok" for 2xx, otherwise the error.
check() {
	local label=$1
	shift
	req "$@"
	if [[ $CODE == 2* ]]; then
		printf '%-34s ok\n' "$label"
	else
		local why
		why=$(jq -r '.error // "" | if type == "object" then (.reason // .type) else . end | tostring' \
			"$BODY" 2>/dev/null | cut -c1-100 || true)
		if [[ $why == *"no handler found"* || $why == *"Incorrect HTTP method"* ]]; then
			printf '%-34s MISSING (HTTP %s: %s)\n' "$label" "$CODE" "$why"
		else
			printf '%-34s FAIL (HTTP %s: %s)\n' "$label" "$CODE" "$why"
		fi
	fi
}

cleanup() {
	local t
	req DELETE "/_data_stream/$P-*"
	req DELETE "/$P-*"
	for t in idx ds; do req DELETE "/_index_template/$P-$t"; done
	req DELETE "/_component_template/$P-base"
	req DELETE "/_ingest/pipeline/$P-pipe"
}
cleanup

ver=$(curl -s "$URL/_nodes/_local?filter_path=nodes.*.version,nodes.*.modules.name,nodes.*.plugins.name" || true)
echo "node: $URL"
echo "version: $(jq -r '[.nodes[].version][0]' <<<"$ver" 2>/dev/null)"
echo "modules: $(jq -r '[.nodes[].modules[]?.name] | join(" ")' <<<"$ver" 2>/dev/null)"
echo "plugins: $(jq -r '[.nodes[].plugins[]?.name] | join(" ")' <<<"$ver" 2>/dev/null)"
echo

check "GET / (root info)" GET /
check "GET /_cluster/health" GET /_cluster/health
check "PUT _component_template" PUT "/_component_template/$P-base" \
	'{"template":{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":{"properties":{"@timestamp":{"type":"date"},"src_ip":{"type":"ip"},"bytes":{"type":"long"},"proto":{"type":"keyword"}}}}}'
check "PUT _index_template (composed_of)" PUT "/_index_template/$P-idx" \
	"{\"index_patterns\":[\"$P-idx-*\"],\"composed_of\":[\"$P-base\"],\"priority\":500}"
check "POST _bulk (NDJSON)" POST "/_bulk?refresh=true" \
	"$(printf '%s\n' "{\"index\":{\"_index\":\"$P-idx-1\"}}" '{"@timestamp":"2025-01-01T00:00:00Z","src_ip":"10.0.0.1","bytes":100,"proto":"tcp"}' \
		"{\"index\":{\"_index\":\"$P-idx-1\"}}" '{"@timestamp":"2025-01-01T00:00:05Z","src_ip":"10.0.0.2","bytes":200,"proto":"udp"}')$NL" \
	application/x-ndjson
req GET "/$P-idx-1/_mapping"
if jq -e '.[].mappings.properties.src_ip.type == "ip"' "$BODY" >/dev/null 2>&1; then
	printf '%-34s ok\n' "template mapping applied"
else
	printf '%-34s FAIL\n' "template mapping applied"
fi
check "_search terms/sum/date_histogram" POST "/$P-idx-*/_search?size=0" \
	'{"aggs":{"p":{"terms":{"field":"proto"}},"b":{"sum":{"field":"bytes"}},"h":{"date_histogram":{"field":"@timestamp","fixed_interval":"1m"}},"c":{"cardinality":{"field":"src_ip"}},"q":{"percentiles":{"field":"bytes"}}}}'
check "_search composite agg" POST "/$P-idx-*/_search?size=0" \
	'{"aggs":{"c":{"composite":{"sources":[{"p":{"terms":{"field":"proto"}}}]}}}}'
check "_count" GET "/$P-idx-*/_count"
check "_mget" POST "/_mget" "{\"docs\":[{\"_index\":\"$P-idx-1\",\"_id\":\"x\"}]}"
check "_msearch" POST "/_msearch" "$(printf '%s\n' "{\"index\":\"$P-idx-1\"}" '{"query":{"match_all":{}}}')$NL" application/x-ndjson
check "_aliases" POST "/_aliases" "{\"actions\":[{\"add\":{\"index\":\"$P-idx-1\",\"alias\":\"$P-alias\"}}]}"
check "_cat/indices" GET "/_cat/indices?format=json"
check "DELETE index by wildcard" DELETE "/$P-idx-nothing-*"
check "_delete_by_query" POST "/$P-idx-*/_delete_by_query?refresh=true" '{"query":{"term":{"proto":"udp"}}}'
check "_update_by_query" POST "/$P-idx-*/_update_by_query" '{"query":{"match_all":{}}}'
check "_reindex" POST "/_reindex" "{\"source\":{\"index\":\"$P-idx-1\"},\"dest\":{\"index\":\"$P-idx-2\"}}"
check "script (painless)" POST "/$P-idx-*/_search?size=0" \
	'{"aggs":{"s":{"sum":{"script":{"source":"doc[\"bytes\"].value * 2"}}}}}'
check "_ilm/policy (ILM)" PUT "/_ilm/policy/$P-ilm" \
	'{"policy":{"phases":{"hot":{"actions":{}},"delete":{"min_age":"7d","actions":{"delete":{}}}}}}'
check "_plugins/_ism (OpenSearch ISM)" GET "/_plugins/_ism/policies"
check "_ingest/pipeline (set processor)" PUT "/_ingest/pipeline/$P-pipe" \
	'{"processors":[{"set":{"field":"x","value":"y"}}]}'
check "scaled_float (mapper-extras)" PUT "/$P-sf" '{"mappings":{"properties":{"f":{"type":"scaled_float","scaling_factor":100}}}}'
check "flattened field" PUT "/$P-fl" '{"mappings":{"properties":{"f":{"type":"flattened"}}}}'
check "wildcard field" PUT "/$P-wc" '{"mappings":{"properties":{"f":{"type":"wildcard"}}}}'
check "unsigned_long field" PUT "/$P-ul" '{"mappings":{"properties":{"f":{"type":"unsigned_long"}}}}'
check "match_only_text field" PUT "/$P-mot" '{"mappings":{"properties":{"f":{"type":"match_only_text"}}}}'
check "date_nanos field" PUT "/$P-dn" '{"mappings":{"properties":{"f":{"type":"date_nanos"}}}}'
check "auto_expand_replicas 0-1" PUT "/$P-aer" '{"settings":{"index":{"auto_expand_replicas":"0-1"}}}'
check "alias rollover (no ILM)" PUT "/$P-ro-000001" "{\"aliases\":{\"$P-ro\":{\"is_write_index\":true}}}"
check "  POST <alias>/_rollover" POST "/$P-ro/_rollover"
check "geo_point field" PUT "/$P-geo" '{"mappings":{"properties":{"f":{"type":"geo_point"}}}}'
if [[ $DS -eq 1 ]]; then
	check "data stream template" PUT "/_index_template/$P-ds" \
		"{\"index_patterns\":[\"$P-ds-*\"],\"data_stream\":{},\"composed_of\":[\"$P-base\"],\"priority\":500}"
	check "data stream: write (auto-create)" POST "/$P-ds-flows/_doc" '{"@timestamp":"2025-01-01T00:00:00Z","bytes":1}'
	check "data stream: GET _data_stream" GET "/_data_stream/$P-ds-flows"
	check "data stream: PUT _data_stream" PUT "/_data_stream/$P-ds-other"
	check "data stream: _rollover" POST "/$P-ds-flows/_rollover"
	check "data stream: DELETE _data_stream" DELETE "/_data_stream/$P-ds-flows"
else
	printf '%-34s skipped (use --with-data-streams on a throw-away stack)\n' "data streams"
fi
check "_snapshot (fs repo list)" GET "/_snapshot"
check "_security (xpack)" GET "/_security/_authenticate"
check "_license" GET "/_license"

cleanup
req GET "/_cat/indices/$P-*?format=json"
if [[ $(jq 'length' "$BODY" 2>/dev/null || echo 0) != 0 ]]; then
	echo
	echo "note: some $P-* indices could not be removed (e.g. data-stream backing indices):"
	jq -r '.[].index' "$BODY"
fi
