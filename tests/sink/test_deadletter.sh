#!/usr/bin/env bash
# Dead letters: documents that violate the mapping, and messages that are not results at all,
# land in the dead-letter topic with the reason and the original; all the others are indexed;
# the counters say how many; the batch they were in still commits.
. "$(dirname "$0")/lib.sh"
t_init deadletter

t_topic "$RUN-results" 2
t_topic "$RUN-dead" 1
N=100 BAD=3 INVALID=4
python3 "$PY" gen $N --bad-mapping $BAD --invalid $INVALID >"$WORK/docs.ndjson"
shuf --random-source=<(yes) "$WORK/docs.ndjson" >"$WORK/mixed.ndjson"
grep '"id":"doc-' "$WORK/docs.ndjson" >"$WORK/good.ndjson"

t_conf "$WORK/sink.yml" "bulk_max_docs: 50" "bulk_max_delay: 200ms"
t_sink_start "$WORK/sink.yml" "$WORK/sink.log"
t_produce "$RUN-results" "$WORK/mixed.ndjson"

t_wait "good documents indexed" 60 t_count_is "$RUN-*" $N
dl_count() { [[ $(t_dead_letters "$RUN-dead" | grep -c .) -ge $((BAD + INVALID)) ]]; }
t_wait "dead letters in $RUN-dead" 60 dl_count
t_wait "offsets committed" 30 t_metric_ge offset_commits_total 1
t_dead_letters "$RUN-dead" >"$WORK/dead.ndjson"
[[ $(grep -c . "$WORK/dead.ndjson") == $((BAD + INVALID)) ]] ||
	t_fail "dead letters: $(grep -c . "$WORK/dead.ndjson"), want $((BAD + INVALID))"

# Mapping rejections carry the node's reason, the status and the original document.
rej=$(jq -c 'select(.id // "" | startswith("bad-mapping-"))' "$WORK/dead.ndjson")
[[ $(grep -c . <<<"$rej") == "$BAD" ]] || t_fail "mapping rejections: $rej"
jq -s -e 'all(.[]; (.status == 400) and (.reason | test("(mapper|document)_parsing_exception"))
	and (.document.flows == "not-a-number") and (.source.topic | length > 0)
	and (.source.offset >= 0) and (."@type" == "s4f.deadletter"))' <<<"$rej" >/dev/null ||
	t_fail "mapping dead letters lack reason/status/document: $rej"
# Invalid messages: refused by the sink with its own reason, the text kept.
inv=$(jq -c 'select(.status == 0)' "$WORK/dead.ndjson")
[[ $(grep -c . <<<"$inv") == "$INVALID" ]] || t_fail "invalid dead letters: $inv"
jq -s -e 'all(.[]; (.reason | test("not (a )?JSON|invalid \"id\"")) and (.document != null))' \
	<<<"$inv" >/dev/null ||
	t_fail "invalid dead letters lack a reason: $inv"

[[ $(t_metric 'docs_deadlettered_total{reason="rejected"}') == "$BAD" ]] || t_fail "rejected counter"
[[ $(t_metric 'docs_deadlettered_total{reason="invalid"}') == "$INVALID" ]] || t_fail "invalid counter"
[[ $(t_metric docs_indexed_total) == "$N" ]] || t_fail "indexed counter $(t_metric docs_indexed_total)"
# A batch holding a rejected document is reported partial, never ok.
t_metric_ge 'bulk_requests_total{result="partial"}' 1 || t_fail "no partial bulk counted"

curl -s "$ES/$RUN-*/_search?size=1000" >"$WORK/hits.json"
python3 "$PY" compare "$RUN" "$WORK/good.ndjson" "$WORK/hits.json" || t_fail "indexed documents differ"
t_sink_stop
