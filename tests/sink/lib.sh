# Shared helpers of the sink integration tests (bash). Source it, then call t_init NAME.
#
# Every run names what it creates after itself (RUN=s4ft-<name>-<pid>-<time>): Kafka topics,
# consumer groups, index prefix; t_cleanup (an EXIT trap) deletes them and stops the sinks this
# run started, by pid. Waits poll an observable condition until a deadline, never a fixed sleep.
set -euo pipefail

KAFKA=${S4F_KAFKA_BOOTSTRAP:-127.0.0.1:9092}
ES=${S4F_ES_URL:-http://127.0.0.1:9200}
SRC=${S4F_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${S4F_BUILD_DIR:-$SRC/build}
SINK_BIN=${S4F_SINK_BIN:-$BUILD/sink/s4f-sink}
# The shared test client (tests/tools/testkafka.c) creates and deletes topics.
ADMIN=${S4F_KAFKA_ADMIN:-$BUILD/tests/tools/s4f-testkafka}
PY=$SRC/tests/sink/sink_docs.py
TOPICS_CREATED=()
SINK_PIDS=()
EXTRA_CLEANUP=()

t_log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${T_NAME:-test}" "$*" >&2; }
t_fail() {
	t_log "FAIL: $*"
	exit 1
}

t_init() {
	T_NAME=$1
	RUN=s4ft-$1-$$-$(date +%s)
	RUN=${RUN//_/-}
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$RUN.XXXX")
	trap t_cleanup EXIT
	t_log "run $RUN, work dir $WORK, kafka $KAFKA, elasticsearch $ES"
	[[ -x $SINK_BIN ]] || t_fail "no sink binary at $SINK_BIN"
	curl -sf -m 10 "$ES/_cluster/health" >/dev/null || t_fail "no Elasticsearch at $ES"
}

t_cleanup() {
	local rc=$? pid f
	set +e
	for pid in "${SINK_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for f in "${EXTRA_CLEANUP[@]}"; do eval "$f"; done
	local topic
	for topic in "${TOPICS_CREATED[@]}"; do
		S4F_KAFKA_BOOTSTRAP=$KAFKA "$ADMIN" delete "$topic" >/dev/null 2>&1 || true
	done
	curl -s -m 30 -X DELETE "$ES/$RUN-*?expand_wildcards=all" >/dev/null
	curl -s -m 30 -X DELETE "$ES/_index_template/$RUN-*" >/dev/null
	curl -s -m 30 -X DELETE "$ES/_component_template/$RUN-*" >/dev/null
	if [[ $rc -ne 0 ]]; then
		for f in "$WORK"/*.log; do
			[[ -f $f ]] || continue
			t_log "---- last 40 lines of $f"
			tail -n 40 "$f" >&2
		done
	fi
	rm -rf "$WORK"
	t_log "$([[ $rc -eq 0 ]] && echo PASS || echo "FAIL (exit $rc)")"
	exit $rc
}

t_topic() { # NAME PARTITIONS
	S4F_KAFKA_BOOTSTRAP=$KAFKA "$ADMIN" create "$1" "$2" || t_fail "cannot create topic $1"
	TOPICS_CREATED+=("$1")
}

# t_wait DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
t_wait() {
	local what=$1 secs=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	until "$@"; do
		if (($(date +%s) >= end)); then t_fail "timed out after ${secs}s waiting for: $what"; fi
		sleep 0.2
	done
}

# t_conf FILE [EXTRA SINK LINES...]: a sink configuration for this run.
t_conf() {
	local f=$1
	shift
	{
		echo "kafka:"
		echo "  bootstrap.servers: \"$KAFKA\""
		echo "elasticsearch:"
		echo "  urls: [\"${SINK_ES_URLS:-$ES}\"]"
		echo "  index_prefix: $RUN"
		echo "  timeout: 10s"
		echo "sink:"
		echo "  metrics_listen: 127.0.0.1:0"
		echo "  topics: [$RUN-results]"
		echo "  group_id: $RUN"
		echo "  deadletter_topic: $RUN-dead"
		echo "  capture_file: $WORK/capture.ndjson"
		local l
		for l in "$@"; do echo "  $l"; done
	} >"$f"
}

# t_sink_start CONF LOG: starts a sink; sets SINK_PID and SINK_PORT (metrics) once it serves.
t_sink_start() {
	"$SINK_BIN" -c "$1" >>"$2" 2>&1 &
	SINK_PID=$!
	SINK_PIDS+=("$SINK_PID")
	SINK_LOG=$2
	t_wait "sink metrics endpoint" 30 _sink_port
}
_sink_port() {
	kill -0 "$SINK_PID" 2>/dev/null || t_fail "sink exited early"
	SINK_PORT=$(grep -o 'metrics on port [0-9]*' "$SINK_LOG" | tail -n 1 | awk '{print $4}')
	[[ -n $SINK_PORT ]]
}

# t_sink_stop: SIGTERM, waits for a clean exit (status 0).
t_sink_stop() {
	kill -TERM "$SINK_PID"
	local rc=0
	wait "$SINK_PID" || rc=$?
	[[ $rc -eq 0 ]] || t_fail "sink exited with $rc"
}

# t_metric NAME[{labels}]: value of a sink metric (0 when absent).
t_metric() {
	curl -s -m 5 "http://127.0.0.1:$SINK_PORT/metrics" |
		awk -v m="s4f_sink_$1" '$1 == m { v = $2 } END { print (v == "" ? 0 : v) }'
}

t_produce() { # TOPIC FILE: one message per line, keyed by nothing
	kcat -P -b "$KAFKA" -t "$1" -l "$2" || t_fail "kcat could not produce to $1"
}

t_count() { # INDEX-PATTERN: documents after a refresh
	curl -s -m 30 -X POST "$ES/$1/_refresh?ignore_unavailable=true&allow_no_indices=true" >/dev/null
	curl -s -m 30 "$ES/$1/_count?ignore_unavailable=true&allow_no_indices=true" | jq -r '.count // 0'
}

t_count_is() { [[ $(t_count "$1") == "$2" ]]; }
t_metric_ge() { awk -v a="$(t_metric "$1")" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

t_dead_letters() { # TOPIC: every message of the topic, one per line
	kcat -C -b "$KAFKA" -t "$1" -e -q -o beginning 2>/dev/null
}
