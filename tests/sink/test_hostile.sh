#!/usr/bin/env bash
# Hostile results on results.output (issue 13): whoever can write to the topic must not be able
# to break the Detections page or create indices at will.
#   - a result of an unknown @type with a string src_ip: dead-lettered, no index;
#   - @timestamp 9999-12-31 and 1970-01-01: dead-lettered, no index;
#   - a document Elasticsearch refuses (src_ip not an address) dated on a day without an index:
#     dead-lettered, and the index Elasticsearch created for it is deleted again;
#   - future-dated indices an older sink left behind: deleted by retention;
#   - with an index of another type mapping src_ip as keyword beside the detections (what the
#     catch-all template made of such a result), /api/detections still answers 200.
. "$(dirname "$0")/lib.sh"
t_init hostile
WEB_BIN=${S4F_WEB_BIN:-$BUILD/web/s4f-web}
[[ -x $WEB_BIN ]] || t_fail "no web binary at $WEB_BIN"

t_topic "$RUN-results" 2
t_topic "$RUN-dead" 1

iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%S.000Z; }
day() { date -u -d "$1" +%Y.%m.%d; }
NOW=$(iso now) OLD=$(iso '5 days ago') FUTURE3=$(day '3 days')

# Left behind by an older sink or a hostile writer: retention removes them at start.
for idx in "$RUN-portscan_vertical-9999.12.31" "$RUN-host_stats-$FUTURE3"; do
	curl -sf -m 30 -X PUT "$ES/$idx" >/dev/null || t_fail "cannot create $idx"
done

N=10 # every type of sink_docs.py, the first three twice
python3 "$PY" gen $N >"$WORK/good.ndjson"
# The detection types the web lists (s4f_web_detection_types).
DETECTIONS=$(grep -cE '"@type":"(portscan_|ssh_auth_simple|detection\.ddos)' "$WORK/good.ndjson")
scan='"src_ip":"10.9.9.9","dst_ip":"10.0.0.1","flows":30,"targets_total":30,"flows_increment":30,"duration_in_milliseconds":1000'
{
	printf '{"@type":"evil_scan","@timestamp":"%s","id":"hostile-type","src_ip":"not-an-address","dst_ip":"x"}\n' "$NOW"
	printf '{"@type":"portscan_vertical","@timestamp":"9999-12-31T00:00:00.000Z","id":"hostile-future",%s}\n' "$scan"
	printf '{"@type":"portscan_vertical","@timestamp":"1970-01-01T00:00:00.000Z","id":"hostile-past",%s}\n' "$scan"
	printf '{"@type":"portscan_horizontal","@timestamp":"%s","id":"hostile-rejected","src_ip":"not-an-address","dst_port":22}\n' "$OLD"
} >"$WORK/hostile.ndjson"

t_conf "$WORK/sink.yml" "bulk_max_delay: 200ms"
t_sink_start "$WORK/sink.yml" "$WORK/sink.log"
gone() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$ES/$1") == 404 ]]; }
t_wait "retention deletes the future-dated indices" 60 \
	eval 'gone "$RUN-portscan_vertical-9999.12.31" && gone "$RUN-host_stats-$FUTURE3"'
t_metric_ge indices_deleted_total 2 || t_fail "indices_deleted_total $(t_metric indices_deleted_total)"

cat "$WORK/hostile.ndjson" "$WORK/good.ndjson" >"$WORK/all.ndjson"
t_produce "$RUN-results" "$WORK/all.ndjson"
t_wait "good documents indexed" 60 t_count_is "$RUN-*" $N
dl_count() { [[ $(t_dead_letters "$RUN-dead" | grep -c .) -ge 4 ]]; }
t_wait "4 dead letters" 60 dl_count
t_wait "offsets committed" 30 t_metric_ge offset_commits_total 1

t_dead_letters "$RUN-dead" >"$WORK/dead.ndjson"
for id in hostile-type hostile-future hostile-past hostile-rejected; do
	[[ $(jq -c --arg id "$id" 'select(.document.id == $id)' "$WORK/dead.ndjson" | grep -c .) == 1 ]] ||
		t_fail "no single dead letter for $id: $(cat "$WORK/dead.ndjson")"
done
jq -e -s 'map({(.document.id): .reason}) | add
	| (."hostile-type" | test("unknown \"@type\" evil_scan"))
	and (."hostile-future" | test("out of bounds")) and (."hostile-past" | test("out of bounds"))
	and (."hostile-rejected" | test("parsing_exception"))' "$WORK/dead.ndjson" >/dev/null ||
	t_fail "dead-letter reasons: $(jq -c '[.document.id, .reason]' "$WORK/dead.ndjson")"
[[ $(t_metric 'docs_deadlettered_total{reason="unknown_type"}') == 1 ]] || t_fail "unknown_type counter"
[[ $(t_metric 'docs_deadlettered_total{reason="time_out_of_bounds"}') == 2 ]] ||
	t_fail "time_out_of_bounds counter"
[[ $(t_metric 'docs_deadlettered_total{reason="rejected"}') == 1 ]] || t_fail "rejected counter"
t_wait "the refused document's index deleted" 30 t_metric_ge empty_indices_deleted_total 1

# No index but those of the good documents: none for the unknown type, the bounds or the refusal.
curl -s -m 30 "$ES/_cat/indices/$RUN-*?h=index&expand_wildcards=all" | sort >"$WORK/indices"
want=$(jq -r --arg p "$RUN" '"\($p)-\(."@type")-\(."@timestamp"[0:10] | gsub("-"; "."))"' \
	"$WORK/good.ndjson" | sort -u)
[[ $(cat "$WORK/indices") == "$want" ]] || t_fail "indices: $(cat "$WORK/indices"); want: $want"

# What the catch-all template made of the unknown type before: src_ip as keyword, beside the
# detections' ip. The former Detections query over "<prefix>-*" fails on this (the web answered
# 502 here, and 503 when Elasticsearch closed the connection); the query of the detection types'
# indices does not.
curl -sf -m 30 -X PUT "$ES/$RUN-evil_scan-$(day now)" -H 'Content-Type: application/json' \
	-d '{"mappings":{"properties":{"src_ip":{"type":"keyword"},"@timestamp":{"type":"date"}}}}' \
	>/dev/null || t_fail "cannot create the keyword index"
curl -sf -m 30 -X POST "$ES/$RUN-evil_scan-$(day now)/_doc?refresh=true" \
	-H 'Content-Type: application/json' \
	-d "{\"@type\":\"evil_scan\",\"@timestamp\":\"$NOW\",\"src_ip\":\"not-an-address\"}" >/dev/null ||
	t_fail "cannot index the keyword document"
python3 "$SRC/tests/sink/web_detections.py" --binary "$WEB_BIN" --prefix "$RUN" \
	--expect "$DETECTIONS" >"$WORK/web.log" 2>&1 || t_fail "web: $(cat "$WORK/web.log")"
cat "$WORK/web.log" >&2
t_sink_stop
