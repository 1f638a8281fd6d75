#!/usr/bin/env bash
# Exact documents: results of every type are indexed as they were produced, each in
# <prefix>-<type>-<day> under its own id; a result delivered twice is stored once; the bulk
# bodies the sink sent (capture_file) are well-formed index actions; addresses are typed ip.
. "$(dirname "$0")/lib.sh"
t_init exact

t_topic "$RUN-results" 4
t_topic "$RUN-dead" 1
N=250
python3 "$PY" gen $N >"$WORK/docs.ndjson"
# The test documents follow the workers' contract.
if [[ -d $SRC/docs/schemas ]]; then
	python3 "$PY" validate "$SRC/docs/schemas" "$WORK/docs.ndjson" || t_fail "test documents break docs/schemas"
fi
# Re-deliveries: the same results again (a worker replaying a window).
head -n 40 "$WORK/docs.ndjson" >"$WORK/again.ndjson"

t_conf "$WORK/sink.yml" "bulk_max_docs: 64" "bulk_max_delay: 200ms"
t_sink_start "$WORK/sink.yml" "$WORK/sink.log"
t_produce "$RUN-results" "$WORK/docs.ndjson"
t_produce "$RUN-results" "$WORK/again.ndjson"

t_wait "all $N documents indexed" 60 t_count_is "$RUN-*" $N
t_wait "re-deliveries acknowledged" 30 t_metric_ge docs_indexed_total $((N + 40))
t_wait "offsets committed" 30 t_metric_ge offset_commits_total 1
[[ $(t_count "$RUN-*") == "$N" ]] || t_fail "duplicates: $(t_count "$RUN-*") documents, want $N"

curl -s "$ES/$RUN-*/_search?size=1000" >"$WORK/hits.json"
python3 "$PY" compare "$RUN" "$WORK/docs.ndjson" "$WORK/hits.json" || t_fail "indexed documents differ"
python3 "$PY" capture "$RUN" "$WORK/docs.ndjson" "$WORK/capture.ndjson" || t_fail "capture differs"

# Mappings come from the installed templates.
curl -s "$ES/$RUN-*/_mapping" >"$WORK/mapping.json"
want_type() { # INDEX-GLOB FIELD-PATH TYPE
	local got
	got=$(jq -r --arg g "$1" --arg p "$2" '
		[to_entries[] | select(.key | test($g)) | .value.mappings |
		 getpath($p | split(".") | map(["properties", .]) | flatten + ["type"])][0] // "absent"' \
		"$WORK/mapping.json")
	[[ $got == "$3" ]] || t_fail "mapping of $2 in $1: $got, want $3"
}
want_type "-host_stats-" host ip
want_type "-host_stats-" top_peers.ip ip
want_type "-host_stats-" tcp_flags.SYN long
want_type "-host_stats-" avg_flow_duration_ms double
want_type "-host_stats_temporal_profile-" hours.hour_start date
want_type "-portscan_horizontal-" src_ip ip
want_type "-portscan_vertical-" dst_ip ip
want_type "-portscan_vertical-" timestamp date
want_type "-protocols_statistics-" @timestamp date
want_type "-protocols_statistics-" window_start date
want_type "-protocols_statistics-" window_end date
want_type "-protocols_statistics-" protocol keyword
want_type "-protocols_statistics-" @type keyword
want_type "-protocols_statistics-" id keyword
want_type "-protocols_statistics-" bytes long
want_type "-ssh_auth_simple-" average_packet_count double
want_type "-ssh_auth_simple-" dst_ip ip
want_type "-detection.ddos-" attackers ip
want_type "-detection.ddos-" shortratio double
want_type "-detection.ddos-" packets_in long

# An address query works because the field is an ip: a CIDR term.
hits=$(curl -s "$ES/$RUN-portscan_*/_count" -H 'Content-Type: application/json' \
	-d '{"query":{"term":{"src_ip":"10.0.0.0/24"}}}' | jq .count)
[[ $hits -gt 0 ]] || t_fail "CIDR query on src_ip found nothing"

[[ $(t_metric 'docs_deadlettered_total{reason="rejected"}') == 0 ]] || t_fail "unexpected dead letters"
[[ -z $(t_dead_letters "$RUN-dead") ]] || t_fail "dead-letter topic not empty"
t_sink_stop
