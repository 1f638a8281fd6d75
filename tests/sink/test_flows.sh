#!/usr/bin/env bash
# index_flows: raw flow records of the flows topic are indexed too, into <prefix>-flows-<day of
# the flow end>, with the Kafka coordinates as _id (a re-delivery overwrites), addresses typed
# ip and flow times typed date; bulk bodies are gzip-compressed on the way (gzip: true); flow
# times outside the sink's time window are dead-lettered.
. "$(dirname "$0")/lib.sh"
t_init flows

t_topic "$RUN-results" 1
t_topic "$RUN-flows" 2
t_topic "$RUN-dead" 1
now=$(date +%s%3N)
for i in $(seq 1 200); do
	printf '{"@type":"ipfix.entry","ipfix.sourceIPv4Address":"10.0.%d.%d","ipfix.destinationIPv4Address":"10.1.0.1","ipfix.sourceTransportPort":%d,"ipfix.destinationTransportPort":443,"ipfix.protocolIdentifier":6,"ipfix.tcpControlBits":2,"ipfix.packetDeltaCount":10,"ipfix.octetDeltaCount":1500,"ipfix.flowStartMilliseconds":%d,"ipfix.flowEndMilliseconds":%d,"s4f.exporter":"192.0.2.1"}\n' \
		$((i / 250)) $((i % 250)) $((1024 + i)) $((now - 2000)) "$now"
done >"$WORK/flows.ndjson"
printf '{"@type":"ipfix.entry","ipfix.sourceIPv6Address":"2001:db8::1","ipfix.destinationIPv6Address":"2001:db8::2","ipfix.protocolIdentifier":58,"ipfix.flowEndMilliseconds":%d}\n' "$now" >>"$WORK/flows.ndjson"
# Flow times far from now are refused like results' (issue 13): no 9999.12.31 or 1970 index.
for end in 253402214400000 86400000; do
	printf '{"@type":"ipfix.entry","ipfix.sourceIPv4Address":"10.9.9.9","ipfix.flowEndMilliseconds":%d}\n' "$end"
done >>"$WORK/flows.ndjson"
python3 "$PY" gen 20 >"$WORK/docs.ndjson"

t_conf "$WORK/sink.yml" "index_flows: true" "flows_topic: $RUN-flows" "gzip: true" \
	"bulk_max_delay: 200ms"
t_sink_start "$WORK/sink.yml" "$WORK/sink.log"
t_produce "$RUN-flows" "$WORK/flows.ndjson"
t_produce "$RUN-results" "$WORK/docs.ndjson"
t_wait "flows indexed" 60 t_count_is "$RUN-flows-*" 201
t_wait "results indexed" 60 t_count_is "$RUN-protocols_statistics-*,$RUN-portscan_*,$RUN-host_stats*,$RUN-ssh_auth_simple-*,$RUN-detection.ddos-*" 20
day=$(date -u -d "@$((now / 1000))" +%Y.%m.%d)
[[ $(t_count "$RUN-flows-$day") == 201 ]] || t_fail "flows not in $RUN-flows-$day"
curl -s "$ES/$RUN-flows-*/_search?size=1&q=ipfix.sourceTransportPort:1025" >"$WORK/one.json"
jq -e --arg t "$RUN-flows" '.hits.hits[0]._id | test("^" + $t + "-[01]-[0-9]+$")' "$WORK/one.json" \
	>/dev/null || t_fail "flow _id is not topic-partition-offset: $(jq -c .hits.hits[0]._id "$WORK/one.json")"
curl -s "$ES/$RUN-flows-*/_mapping" | jq -e '[.[]][0].mappings.properties.ipfix.properties |
	(.sourceIPv4Address.type == "ip") and (.sourceIPv6Address.type == "ip") and
	(.flowEndMilliseconds.type == "date") and (.octetDeltaCount.type == "long")' >/dev/null ||
	t_fail "flow mapping"
hits=$(curl -s "$ES/$RUN-flows-*/_count" -H 'Content-Type: application/json' \
	-d '{"query":{"term":{"ipfix.sourceIPv4Address":"10.0.0.0/24"}}}' | jq .count)
[[ $hits == 200 ]] || t_fail "CIDR query on flows: $hits"
t_metric_ge bulk_bytes_total 1 || t_fail "no bulk bytes counted"
t_wait "out-of-bounds flows dead-lettered" 30 \
	t_metric_ge 'docs_deadlettered_total{reason="time_out_of_bounds"}' 2
[[ $(curl -s "$ES/_cat/indices/$RUN-flows-*?h=index") == "$RUN-flows-$day" ]] ||
	t_fail "flow indices: $(curl -s "$ES/_cat/indices/$RUN-flows-*?h=index")"
t_sink_stop
