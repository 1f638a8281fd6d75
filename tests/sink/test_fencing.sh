#!/usr/bin/env bash
# Fencing of stalled workers (docs/worker.md, "Stalled workers are fenced"): a result carrying
# the header s4f-epoch is indexed with the version epoch * 2^32 (external_gte). A later epoch
# replaces the document, the same epoch again is accepted (a re-delivery or a re-emission of the
# same owner), an earlier epoch (a zombie's stale result with fewer flows) is refused by the node
# with a 409 that the sink counts as fenced: not an error, not a dead letter, not retried.
# Results without the header are indexed as before; a document indexed before the upgrade takes
# its first epoch; a header that is no epoch is dead-lettered.
. "$(dirname "$0")/lib.sh"
t_init fencing

t_topic "$RUN-results" 1
t_topic "$RUN-dead" 1
NOW=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)

doc() { # ID FLOWS
	printf '{"@type":"protocols_statistics","@timestamp":"%s","window_start":"%s","window_end":"%s","id":"%s","protocol":"icmp","flows":%d,"packets":1,"bytes":1}\n' \
		"$NOW" "$NOW" "$NOW" "$1" "$2"
}
send() { # EPOCH|- ID FLOWS: one result, with the header unless EPOCH is -
	local f=$WORK/msg.ndjson
	doc "$2" "$3" >"$f"
	if [[ $1 == - ]]; then
		kcat -P -b "$KAFKA" -t "$RUN-results" -p 0 -l "$f" || t_fail "kcat"
	else
		kcat -P -b "$KAFKA" -t "$RUN-results" -p 0 -H "s4f-epoch=$1" -l "$f" || t_fail "kcat"
	fi
}
stored() { # ID: "<flows> <_version>" of the stored document
	curl -s -m 30 -X POST "$ES/$RUN-*/_refresh" >/dev/null
	curl -s -m 30 "$ES/$RUN-*/_search?version=true" -H 'Content-Type: application/json' \
		-d "{\"query\":{\"term\":{\"id\":\"$1\"}}}" |
		jq -r '.hits.hits[0] | "\(._source.flows) \(._version)"'
}
want() { # ID FLOWS EPOCH|-: what is stored
	local got exp
	got=$(stored "$1")
	if [[ $3 == - ]]; then
		[[ ${got%% *} == "$2" ]] || t_fail "$1: stored $got, want flows $2"
	else
		exp="$2 $(($3 << 32))"
		[[ $got == "$exp" ]] || t_fail "$1: stored '$got' (flows version), want '$exp'"
	fi
}
metric_is() { [[ $(t_metric "$1") == "$2" ]]; }

t_conf "$WORK/sink.yml" "bulk_max_docs: 64" "bulk_max_delay: 100ms"
t_sink_start "$WORK/sink.yml" "$WORK/sink.log"

# The new owner (epoch 5) emits the window; the zombie (epoch 4) then emits it with fewer flows.
send 5 w1 89
t_wait "epoch 5 indexed" 60 metric_is docs_indexed_total 1
want w1 89 5
send 4 w1 79
t_wait "epoch 4 fenced" 60 metric_is docs_fenced_total 1
want w1 89 5
# The same epoch again (a re-delivery after a sink crash): accepted, nothing fenced.
send 5 w1 89
t_wait "epoch 5 again accepted" 60 metric_is docs_indexed_total 2
want w1 89 5
# The same owner re-emits with late flows, then a later owner takes over.
send 5 w1 95
t_wait "epoch 5 re-emission accepted" 60 metric_is docs_indexed_total 3
want w1 95 5
send 6 w1 97
t_wait "epoch 6 accepted" 60 metric_is docs_indexed_total 4
want w1 97 6
[[ $(t_metric docs_fenced_total) == 1 ]] || t_fail "fenced $(t_metric docs_fenced_total), want 1"

# Without the header (a worker from before fencing): indexed as before, unversioned.
send - w2 10
send - w2 11
t_wait "unversioned results indexed" 60 metric_is docs_indexed_total 6
want w2 11 -
# A document indexed before the upgrade (internal version 2) takes its first epoch.
send 1 w2 12
t_wait "epoch 1 over an unversioned document" 60 metric_is docs_indexed_total 7
want w2 12 1

# A header that is no epoch: dead-lettered as invalid, the stored document untouched.
send 0 w1 1
send x7 w1 1
t_wait "bad headers dead-lettered" 60 metric_is 'docs_deadlettered_total{reason="invalid"}' 2
want w1 97 6
[[ $(t_metric docs_fenced_total) == 1 ]] || t_fail "fenced counter moved"
[[ $(t_metric docs_retried_total) == 0 ]] || t_fail "retried $(t_metric docs_retried_total)"
[[ $(t_metric 'docs_deadlettered_total{reason="rejected"}') == 0 ]] || t_fail "a refusal was dead-lettered"
dl_two() { [[ $(t_dead_letters "$RUN-dead" | grep -c .) -ge 2 ]]; }
t_wait "two dead letters" 30 dl_two
t_dead_letters "$RUN-dead" | jq -s -e 'length == 2 and all(.[]; .reason | test("s4f-epoch"))' \
	>/dev/null || t_fail "dead letters: $(t_dead_letters "$RUN-dead")"
t_wait "offsets committed" 30 t_metric_ge offset_commits_total 1

# The bulk actions sent: versioned with the header, plain without.
grep -c '"_id":"w1","version":21474836480,"version_type":"external_gte"}}' "$WORK/capture.ndjson" |
	grep -qx 3 || t_fail "epoch 5 actions in the capture"
grep -q '"_id":"w1","version":17179869184,"version_type":"external_gte"}}' "$WORK/capture.ndjson" ||
	t_fail "epoch 4 action in the capture"
[[ $(grep -c '"_id":"w2"}}' "$WORK/capture.ndjson") == 2 ]] || t_fail "unversioned actions"
t_log "fenced $(t_metric docs_fenced_total), indexed $(t_metric docs_indexed_total)"
t_sink_stop
