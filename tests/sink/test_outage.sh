#!/usr/bin/env bash
# Elasticsearch stopped for 60 s in the middle of a stream, then restarted: the sink pauses,
# retries with back-off, keeps its consumer group, and in the end every document is indexed
# once (count equal to the number produced), none dead-lettered.
#
# It stops a node, so it runs its own private one (provisioning/stack/stack.sh, S4F_STACK_DIR
# in the work dir, another port); Kafka is the shared one, with this run's topics.
. "$(dirname "$0")/lib.sh"
OUTAGE=${S4F_OUTAGE_SECONDS:-60}
STACK=$SRC/provisioning/stack/stack.sh
PORT=${S4F_OUTAGE_ES_PORT:-$((19200 + $$ % 90))}
PRIV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/s4ft-outage-stack.XXXX")
# The search engine runs as an unprivileged user (stack.sh): it must enter the directory.
chmod 755 "$PRIV_DIR"
export S4F_STACK_DIR=$PRIV_DIR S4F_ES_PORT=$PORT S4F_ES_TRANSPORT_PORT=$((PORT + 100))
ES=http://127.0.0.1:$PORT
EXTRA_CLEANUP+=("'$STACK' down es >/dev/null 2>&1; rm -rf '$PRIV_DIR'")
T_NAME=outage
t_log "starting a private Elasticsearch on port $PORT"
"$STACK" up es >"$PRIV_DIR/up.log" 2>&1 || {
	cat "$PRIV_DIR/up.log" >&2
	rm -rf "$PRIV_DIR"
	exit 1
}
t_init outage

t_topic "$RUN-results" 4
t_topic "$RUN-dead" 1
python3 "$PY" gen 1500 --start 0 >"$WORK/a.ndjson"
python3 "$PY" gen 3000 --start 1500 >"$WORK/b.ndjson"
python3 "$PY" gen 1500 --start 4500 >"$WORK/c.ndjson"
N=6000

t_conf "$WORK/sink.yml" "bulk_max_docs: 500" "bulk_max_delay: 200ms" "retry_max: 3s"
t_sink_start "$WORK/sink.yml" "$WORK/sink.log"
t_produce "$RUN-results" "$WORK/a.ndjson"
t_wait "first part indexed" 60 t_count_is "$RUN-*" 1500

t_log "stopping Elasticsearch for ${OUTAGE}s"
"$STACK" down es >"$WORK/down.log" 2>&1
down_at=$(date +%s)
# The stream goes on while the node is away.
t_produce "$RUN-results" "$WORK/b.ndjson"
es_down() { [[ $(t_metric elasticsearch_up) == 0 ]]; }
t_wait "the sink notices the outage" 30 es_down
health=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SINK_PORT/health")
[[ $health == 503 ]] || t_fail "/health says $health during the outage, want 503"
outage_over() { (($(date +%s) - down_at >= OUTAGE)); }
t_wait "outage time" $((OUTAGE + 10)) outage_over
kill -0 "$SINK_PID" || t_fail "the sink died during the outage"
# Bounded memory: nothing beyond one batch is in flight.
inflight=$(t_metric inflight_docs)
((inflight <= 500)) || t_fail "$inflight documents in flight during the outage"

t_log "restarting Elasticsearch"
"$STACK" up es >"$WORK/up2.log" 2>&1 || t_fail "private Elasticsearch did not restart"
t_produce "$RUN-results" "$WORK/c.ndjson"
t_wait "all $N documents indexed" 120 t_count_is "$RUN-*" $N
t_wait "the sink sees the node again" 30 t_metric_ge elasticsearch_up 1
t_metric_ge docs_retried_total 1 || t_fail "no retry counted"
[[ $(t_metric 'docs_deadlettered_total{reason="rejected"}') == 0 ]] || t_fail "dead letters"
t_sink_stop
[[ $(t_count "$RUN-*") == "$N" ]] || t_fail "count $(t_count "$RUN-*"), want $N"
cat "$WORK/a.ndjson" "$WORK/b.ndjson" "$WORK/c.ndjson" >"$WORK/all.ndjson"
curl -s "$ES/$RUN-*/_search?size=10000" >"$WORK/hits.json"
python3 "$PY" compare "$RUN" "$WORK/all.ndjson" "$WORK/hits.json" || t_fail "documents differ"
