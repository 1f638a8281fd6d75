#!/usr/bin/env bash
# kill -9 of the sink in the middle of a stream, then a restart: nothing lost (every document
# indexed) and nothing twice (the count equals the number of distinct results, although the
# restarted sink indexes again what the killed one had sent but not committed).
. "$(dirname "$0")/lib.sh"
t_init kill9

t_topic "$RUN-results" 4
t_topic "$RUN-dead" 1
N=40000
python3 "$PY" gen $N >"$WORK/docs.ndjson"
t_produce "$RUN-results" "$WORK/docs.ndjson"

# Small batches so that the kill lands between an acknowledgement and its commit often.
t_conf "$WORK/sink.yml" "bulk_max_docs: 300" "bulk_max_delay: 100ms"
t_sink_start "$WORK/sink.yml" "$WORK/sink1.log"
some_indexed() { [[ $(t_count "$RUN-*") -ge $((N / 5)) ]]; }
t_wait "a fifth indexed" 120 some_indexed
kill -KILL "$SINK_PID"
wait "$SINK_PID" 2>/dev/null || true
at_kill=$(t_count "$RUN-*")
t_log "killed the sink with $at_kill of $N documents indexed"
((at_kill < N)) || t_fail "the stream ended before the kill: raise N"

t_sink_start "$WORK/sink.yml" "$WORK/sink2.log"
t_wait "all $N documents indexed after the restart" 180 t_count_is "$RUN-*" $N
t_wait "consumer caught up" 60 t_metric_ge offset_commits_total 1
again=$(t_metric docs_indexed_total)
t_log "the restarted sink indexed $again documents ($((again - (N - at_kill))) again)"
((again >= N - at_kill)) || t_fail "restarted sink indexed only $again"
t_sink_stop
[[ $(t_count "$RUN-*") == "$N" ]] || t_fail "count $(t_count "$RUN-*") after stop, want $N"
# Every id once: the count equals the number of distinct results, and no id outside them.
stray=$(curl -s "$ES/$RUN-*/_count" -H 'Content-Type: application/json' \
	-d '{"query":{"bool":{"must_not":{"prefix":{"id":"doc-"}}}}}' | jq .count)
[[ $stray == 0 ]] || t_fail "$stray documents with unexpected ids"
