#!/usr/bin/env bash
# Stream4Flow local stack: Apache Kafka (KRaft, single node) + Elasticsearch
# (+ optional OpenSearch), all bound to 127.0.0.1, all downloaded from Maven
# Central. See README.md next to this file.
#
#   stack.sh fetch  [kafka] [es] [opensearch]   download into the cache only
#   stack.sh up     [kafka] [es] [opensearch]   start (default: kafka es)
#   stack.sh up     cluster                     three Kafka brokers + three ES nodes (kafka1..3,
#                                               es1..3 one by one: `up kafka2` after a kill)
#   stack.sh down   [kafka] [es] [opensearch]   stop  (default: all)
#   stack.sh start|stop ...                     aliases of up|down
#   stack.sh restart [svc...]                   down + up
#   stack.sh status                             one line per service
#   stack.sh reset  [svc...]                    down + wipe data/logs/config
#   stack.sh env                                print export lines for tests
#   stack.sh logs   <svc> [lines]               tail a service's main log
#
# Running as root: Elasticsearch and OpenSearch refuse to run as root. When
# this script runs as root it creates (once) a locked system user "s4f"
# (override with S4F_RUN_USER) and starts both through `runuser -u s4f --`.
# The distribution unzipped in the cache may sit below a directory that user
# cannot enter (e.g. /root/.cache), so each stack gets its own "home" copy of
# the distribution made of hard links (`cp -al`: no data copied, same files),
# and the stack's config/data/logs/tmp/run folders for these services are
# chown'd to that user. Kafka runs as the invoking user. As a non-root user
# everything simply runs as that user.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=SCRIPTDIR/versions.env
. "$HERE/versions.env"

STACK_DIR=${S4F_STACK_DIR:-$REPO/.stack}
CACHE_DIR=${S4F_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stream4flow}
KAFKA_PORT=${S4F_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${S4F_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HEAP=${S4F_KAFKA_HEAP:-512m}
# Optional second Kafka listener, SASL_SSL with SCRAM-SHA-512 on 127.0.0.1 (empty: none). The
# PLAINTEXT loopback listener stays as it is for the other tests; see "Secured listener" in
# README.md.
KAFKA_SASL_PORT=${S4F_KAFKA_SASL_PORT:-}
ES_PORT=${S4F_ES_PORT:-9200}
ES_TRANSPORT_PORT=${S4F_ES_TRANSPORT_PORT:-$((ES_PORT + 100))}
ES_HEAP=${S4F_ES_HEAP:-1g}
OS_PORT=${S4F_OS_PORT:-9201}
OS_TRANSPORT_PORT=${S4F_OS_TRANSPORT_PORT:-$((OS_PORT + 100))}
OS_HEAP=${S4F_OS_HEAP:-$ES_HEAP}
TOPICS=${S4F_TOPICS:-$S4F_TOPICS_DEFAULT}
KAFKA_TIMEOUT=${S4F_KAFKA_TIMEOUT:-90}
ES_TIMEOUT=${S4F_ES_TIMEOUT:-120}
OS_TIMEOUT=${S4F_OS_TIMEOUT:-120}
STOP_TIMEOUT=${S4F_STOP_TIMEOUT:-60}
RUN_USER=${S4F_RUN_USER:-s4f}

# The local cluster (`stack.sh up cluster`): three Kafka brokers (kafka1..3, combined KRaft
# broker + controller each, replication factor 3, min.insync.replicas 2) and three
# Elasticsearch nodes (es1..3, one cluster, one replica per index). Node N listens on
# S4F_KAFKA_PORT + 100 (N - 1) (controller S4F_KAFKA_CONTROLLER_PORT + 100 (N - 1)) and
# S4F_ES_PORT + N - 1 (transport S4F_ES_TRANSPORT_PORT + N - 1). Small heaps: six JVMs.
CLUSTER_KAFKA=(kafka1 kafka2 kafka3)
CLUSTER_ES=(es1 es2 es3)
CLUSTER_KAFKA_HEAP=${S4F_CLUSTER_KAFKA_HEAP:-256m}
CLUSTER_ES_HEAP=${S4F_CLUSTER_ES_HEAP:-384m}
KAFKA_BASE_PORT=$KAFKA_PORT
KAFKA_BASE_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
KAFKA_SINGLE_HEAP=$KAFKA_HEAP
KAFKA_SINGLE_SASL_PORT=$KAFKA_SASL_PORT
ES_BASE_PORT=$ES_PORT
ES_BASE_TRANSPORT_PORT=$ES_TRANSPORT_PORT

ALL_SERVICES=(kafka es opensearch "${CLUSTER_KAFKA[@]}" "${CLUSTER_ES[@]}")
DEFAULT_UP=(kafka es)

cluster_kafka_port() { echo $((KAFKA_BASE_PORT + 100 * ($1 - 1))); }
cluster_kafka_controller_port() { echo $((KAFKA_BASE_CONTROLLER_PORT + 100 * ($1 - 1))); }
cluster_es_port() { echo $((ES_BASE_PORT + $1 - 1)); }
cluster_es_transport_port() { echo $((ES_BASE_TRANSPORT_PORT + $1 - 1)); }
# "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3" and "http://127.0.0.1:p1 ..." of the cluster.
cluster_bootstrap() {
	local i out=
	for i in 1 2 3; do out+="${out:+,}127.0.0.1:$(cluster_kafka_port "$i")"; done
	echo "$out"
}
cluster_es_urls() {
	local i out=
	for i in 1 2 3; do out+="${out:+ }http://127.0.0.1:$(cluster_es_port "$i")"; done
	echo "$out"
}

# The Kafka functions below work on one broker: the single one ("kafka") or a node of the
# cluster ("kafka1".."kafka3"). kafka_select sets the globals they read.
KSVC=kafka
KAFKA_NODE=0
kafka_select() {
	local i
	KSVC=$1
	case $1 in
	kafka)
		KAFKA_NODE=0
		KAFKA_NODE_ID=1
		KAFKA_PORT=$KAFKA_BASE_PORT
		KAFKA_CONTROLLER_PORT=$KAFKA_BASE_CONTROLLER_PORT
		KAFKA_VOTERS="1@127.0.0.1:$KAFKA_CONTROLLER_PORT"
		KAFKA_RF=1
		KAFKA_MIN_ISR=1
		KAFKA_HEAP=$KAFKA_SINGLE_HEAP
		KAFKA_SASL_PORT=$KAFKA_SINGLE_SASL_PORT
		KAFKA_ROLE_NOTE="single node"
		;;
	kafka[1-3])
		KAFKA_NODE=${1#kafka}
		KAFKA_NODE_ID=$KAFKA_NODE
		KAFKA_PORT=$(cluster_kafka_port "$KAFKA_NODE")
		KAFKA_CONTROLLER_PORT=$(cluster_kafka_controller_port "$KAFKA_NODE")
		KAFKA_VOTERS=
		for i in 1 2 3; do
			KAFKA_VOTERS+="${KAFKA_VOTERS:+,}$i@127.0.0.1:$(cluster_kafka_controller_port "$i")"
		done
		KAFKA_RF=3
		KAFKA_MIN_ISR=2
		KAFKA_HEAP=$CLUSTER_KAFKA_HEAP
		KAFKA_SASL_PORT=
		KAFKA_ROLE_NOTE="node $KAFKA_NODE of a three-node cluster"
		;;
	esac
}
kafka_select kafka

# ---------------------------------------------------------------- helpers --

log() { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die() {
	printf '[stack] ERROR: %s\n' "$*" >&2
	exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (run provisioning/install-deps.sh)"; }
now() { date +%s; }

# Print the last 50 lines of each given file (that exists) to stderr.
tail_logs() {
	local f
	for f in "$@"; do
		[[ -f $f ]] || continue
		printf '[stack] ---- last 50 lines of %s ----\n' "$f" >&2
		tail -n 50 "$f" >&2 || true
	done
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Absolute, normalised stack directory (it may not exist yet).
mkdir -p "$STACK_DIR"
STACK_DIR=$(cd "$STACK_DIR" && pwd -P)
RUN_DIR=$STACK_DIR/run
LOG_DIR=$STACK_DIR/logs

pid_file() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

# Print the pid of service $1 if its pid file names a live process of THIS
# stack (guards against stale files and pid reuse); otherwise return 1.
svc_pid() {
	local pf pid state cmd
	pf=$(pid_file "$1")
	[[ -s $pf ]] || return 1
	pid=$(tr -dc '0-9' 2>/dev/null <"$pf") || return 1
	[[ -n $pid ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)
	[[ $state != Z ]] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmd == *"$STACK_DIR/"* ]] || return 1
	printf '%s\n' "$pid"
}

svc_port() {
	case $1 in
	kafka) echo "$KAFKA_BASE_PORT" ;;
	es) echo "$ES_BASE_PORT" ;;
	opensearch) echo "$OS_PORT" ;;
	kafka[1-3]) cluster_kafka_port "${1#kafka}" ;;
	es[1-3]) cluster_es_port "${1#es}" ;;
	esac
}

# Prints the service names with "cluster" expanded to its six nodes.
expand_services() {
	local s
	for s in "$@"; do
		if [[ $s == cluster ]]; then
			printf '%s\n' "${CLUSTER_KAFKA[@]}" "${CLUSTER_ES[@]}"
		else
			printf '%s\n' "$s"
		fi
	done
}

check_service_names() {
	local s
	for s in "$@"; do
		case $s in
		kafka | es | opensearch | kafka[1-3] | es[1-3]) ;;
		*) die "unknown service '$s' (expected: kafka es opensearch cluster kafka1..3 es1..3)" ;;
		esac
	done
}

java_for() { # $1 = preferred JAVA_HOME
	if [[ -n $1 && -x $1/bin/java ]]; then
		printf '%s\n' "$1/bin/java"
	else
		command -v java || die "no java found (wanted $1)"
	fi
}

mark_stack_dir() {
	mkdir -p "$RUN_DIR" "$LOG_DIR" "$STACK_DIR/data" "$STACK_DIR/conf" "$STACK_DIR/tmp"
	[[ -f $STACK_DIR/.s4f-stack ]] || echo "Stream4Flow local stack directory (provisioning/stack/stack.sh)" >"$STACK_DIR/.s4f-stack"
}

# ------------------------------------------------------------ run-as user --

RUN_AS=()
setup_run_user() {
	RUN_AS=()
	[[ $EUID -eq 0 ]] || return 0
	if ! id -u "$RUN_USER" >/dev/null 2>&1; then
		log "creating system user '$RUN_USER' (search engines refuse to run as root)"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$RUN_USER" 2>/dev/null ||
			id -u "$RUN_USER" >/dev/null 2>&1 || die "cannot create user $RUN_USER"
	fi
	RUN_AS=(runuser -u "$RUN_USER" --)
	# That user must be able to pass through every folder above the stack (a clone under
	# /root, or a mktemp -d folder, is 0700). Grant traversal only (o+x: no listing, no
	# reading), folder by folder, and say so.
	local d=$STACK_DIR
	while [[ $d != / && -n $d ]]; do
		if ! "${RUN_AS[@]}" test -x "$d" 2>/dev/null; then
			chmod o+x "$d" && log "granted traversal (o+x) of $d to user $RUN_USER"
		fi
		d=$(dirname "$d")
	done
	# pid files of ES/OpenSearch are written by that user.
	chown "$RUN_USER:" "$RUN_DIR"
}

# Give the run-as user ownership of $@ (dirs). Recursive only when the top
# directory is not already owned by it, so big data folders are not walked
# on every start.
give_dirs() {
	[[ $EUID -eq 0 ]] || return 0
	local d
	for d in "$@"; do
		if [[ $(stat -c %U "$d") != "$RUN_USER" ]]; then
			chown -R "$RUN_USER:" "$d"
		fi
	done
}

# ---------------------------------------------------------------- fetch ----

MVN=(mvn -q -B -Dstyle.color=never)
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN_VERSION

# with_cache_lock NAME CMD...: run CMD holding an exclusive lock on one
# cache entry (stacks share the cache; different entries download in parallel).
with_cache_lock() {
	mkdir -p "$CACHE_DIR"
	local fd
	exec {fd}>"$CACHE_DIR/.lock-$1"
	shift
	flock "$fd"
	"$@"
	exec {fd}>&-
}

kafka_dist() { printf '%s\n' "$CACHE_DIR/kafka-$KAFKA_VERSION"; }
es_dist() { printf '%s\n' "$CACHE_DIR/elasticsearch-$ES_VERSION"; }
os_dist() { printf '%s\n' "$CACHE_DIR/opensearch-$OPENSEARCH_VERSION"; }

fetch_kafka_locked() {
	local dist tmp binding
	dist=$(kafka_dist)
	[[ -f $dist/.complete ]] && return 0
	need mvn
	log "fetching Kafka $KAFKA_VERSION (+ kafka-tools) from Maven Central into $dist"
	tmp=$dist.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	IFS=: read -r -a binding <<<"$KAFKA_SLF4J_BINDING"
	# connect-runtime (pulled in by kafka-tools for one tool we do not use)
	# drags jetty/jersey along: excluded to keep the download small.
	cat >"$tmp/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by provisioning/stack/stack.sh: only used to collect the jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stream4flow</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$KAFKA_SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>
      <groupId>${binding[0]}</groupId>
      <artifactId>${binding[1]}</artifactId>
      <version>${binding[2]}</version>
    </dependency>
  </dependencies>
</project>
EOF
	if ! (cd "$tmp" && "${MVN[@]}" "$DEP_PLUGIN:copy-dependencies" \
		-DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1); then
		tail_logs "$tmp/mvn.log"
		die "maven could not fetch Kafka $KAFKA_VERSION"
	fi
	[[ -f "$tmp/libs/kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar" ]] || die "kafka jar missing after fetch"
	touch "$tmp/.complete"
	rm -rf "$dist"
	mv "$tmp" "$dist"
}

# fetch_zip GROUP ARTIFACT VERSION DEST: download a zip distribution with
# Maven and unzip it once into DEST (atomically: tmp dir + rename).
fetch_zip_locked() {
	local group=$1 artifact=$2 version=$3 dest=$4 tmp zip
	[[ -f $dest/.complete ]] && return 0
	need mvn
	need unzip
	log "fetching $group:$artifact:$version:zip from Maven Central into $dest"
	tmp=$dest.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp/dl" "$tmp/x"
	if ! (cd "$tmp" && "${MVN[@]}" "$DEP_PLUGIN:copy" \
		-Dartifact="$group:$artifact:$version:zip" -DoutputDirectory="$tmp/dl" >"$tmp/mvn.log" 2>&1); then
		tail_logs "$tmp/mvn.log"
		die "maven could not fetch $group:$artifact:$version:zip"
	fi
	zip=$(find "$tmp/dl" -name '*.zip' | head -n 1)
	[[ -n $zip ]] || die "no zip downloaded for $artifact $version"
	unzip -q "$zip" -d "$tmp/x"
	[[ -d $tmp/x/$artifact-$version ]] || die "unexpected layout in $zip"
	# Readable by the run-as user (it reads the files through hard links).
	chmod -R a+rX "$tmp/x/$artifact-$version"
	touch "$tmp/x/$artifact-$version/.complete"
	rm -rf "$dest"
	mv "$tmp/x/$artifact-$version" "$dest"
	rm -rf "$tmp"
}

fetch_service() {
	local dist
	set -- "${1%[1-3]}" # a cluster node uses its service's distribution
	case $1 in
	kafka) dist=$(kafka_dist) ;;
	es) dist=$(es_dist) ;;
	opensearch) dist=$(os_dist) ;;
	esac
	# Fast path without the lock (a read-only shared cache works too).
	[[ -f $dist/.complete ]] && return 0
	case $1 in
	kafka) with_cache_lock kafka fetch_kafka_locked ;;
	es) with_cache_lock es fetch_zip_locked org.elasticsearch.distribution.integ-test-zip elasticsearch "$ES_VERSION" "$dist" ;;
	opensearch) with_cache_lock opensearch fetch_zip_locked org.opensearch.distribution.integ-test-zip opensearch "$OPENSEARCH_VERSION" "$dist" ;;
	esac
}

# ------------------------------------------------------------------ kafka --

kafka_conf_dir() { printf '%s\n' "$STACK_DIR/conf/$KSVC"; }

# Java command prefix for the Kafka command-line tools.
kafka_tool() {
	local java dist
	java=$(java_for "$KAFKA_JAVA_HOME")
	dist=$(kafka_dist)
	"$java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
		-Dlog4j.configuration="file:$(kafka_conf_dir)/tools-log4j.properties" \
		-cp "$dist/libs/*" "$@"
}

# The cluster id, generated once per stack dir and kept: conf/kafka/cluster.id for the single
# broker, conf/kafka-cluster.id shared by the three brokers of the cluster. Prints the file.
kafka_cluster_id_file() {
	local f cid
	if ((KAFKA_NODE == 0)); then f=$(kafka_conf_dir)/cluster.id; else f=$STACK_DIR/conf/kafka-cluster.id; fi
	mkdir -p "$(dirname "$f")"
	if [[ ! -s $f ]]; then
		# 16 random bytes, base64url without padding (Kafka's Uuid format);
		# a leading '-' would look like a command-line option: avoid it.
		cid=-
		while [[ $cid == -* ]]; do
			cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		done
		printf '%s\n' "$cid" >"$f"
	fi
	printf '%s\n' "$f"
}

kafka_write_config() {
	local conf data cidf
	conf=$(kafka_conf_dir)
	data=$STACK_DIR/data/$KSVC
	mkdir -p "$conf" "$data"
	# A node of the cluster: server.properties comes from the Ansible role (cluster_render_config).
	((KAFKA_NODE > 0)) || cat >"$conf/server.properties" <<EOF
# Generated by provisioning/stack/stack.sh on every 'up': edit the script, not this.
# KRaft, combined mode: this process is both broker and controller ($KAFKA_ROLE_NOTE).
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_VOTERS
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=1
default.replication.factor=$KAFKA_RF
min.insync.replicas=$KAFKA_MIN_ISR
offsets.topic.replication.factor=$KAFKA_RF
# Few internal partitions: quicker first consumer-group / transaction use.
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$KAFKA_RF
transaction.state.log.min.isr=$KAFKA_MIN_ISR
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
EOF
	cat >"$conf/log4j.properties" <<EOF
# Generated by provisioning/stack/stack.sh. Broker log: $LOG_DIR/$KSVC.log
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$LOG_DIR/$KSVC.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
	cat >"$conf/tools-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
	if [[ -n $KAFKA_SASL_PORT ]]; then
		kafka_secure_material
		kafka_secure_config >>"$conf/server.properties"
		# It holds the keystore password.
		chmod 600 "$conf/server.properties"
	fi
	cidf=$(kafka_cluster_id_file)
	if [[ ! -f $data/meta.properties ]]; then
		log "formatting Kafka storage in $data (cluster id $(cat "$cidf"))"
		# With the secured listener, the SCRAM users are written into the fresh metadata log
		# here, which saves starting one JVM per user later.
		local scram=() u
		if [[ -n $KAFKA_SASL_PORT ]]; then
			for u in "${KAFKA_SCRAM_USERS[@]}"; do
				scram+=(--add-scram "SCRAM-SHA-512=[name=$u,iterations=4096,password=$(kafka_secure_password "$u")]")
			done
		fi
		if ! kafka_tool kafka.tools.StorageTool format -t "$(cat "$cidf")" \
			-c "$conf/server.properties" "${scram[@]}" >"$LOG_DIR/$KSVC-format.log" 2>&1; then
			tail_logs "$LOG_DIR/$KSVC-format.log"
			die "kafka storage format failed"
		fi
		if [[ -n $KAFKA_SASL_PORT ]]; then touch "$data/.s4f-scram-users"; fi
	fi
}

# ------------------------------------------------ kafka: secured listener --
#
# With S4F_KAFKA_SASL_PORT set, the broker also listens on SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
# (SCRAM-SHA-512 over TLS) and runs the KRaft StandardAuthorizer with the ACLs of the shipped
# Ansible role (collector writes ipfix.entry, workers write results.output, ...). Everything lives
# in $(kafka_secure_dir), keys and passwords 0600: a throwaway CA, the broker's certificate
# (PKCS#12) and one password file per SCRAM user. The PLAINTEXT listener and the controller stay
# on loopback and their (anonymous) principal is a super user, so the other tests see no change.

KAFKA_SCRAM_USERS=(s4f-admin s4f-collector s4f-worker s4f-sink)

kafka_secure_dir() { printf '%s\n' "$(kafka_conf_dir)/secure"; }

# password USER: the user's password, created once (random, 0600).
kafka_secure_password() {
	local f
	f=$(kafka_secure_dir)/$1.password
	if [[ ! -s $f ]]; then
		(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$f")
	fi
	cat "$f"
}

kafka_secure_material() {
	local d u
	d=$(kafka_secure_dir)
	need openssl
	(umask 077 && mkdir -p "$d")
	chmod 700 "$d"
	for u in "${KAFKA_SCRAM_USERS[@]}" keystore; do kafka_secure_password "$u" >/dev/null; done
	[[ -s $d/broker.p12 && -s $d/ca.crt ]] && return 0
	log "creating a throwaway CA and broker certificate in $d"
	(
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" \
			-days 365 -subj "/CN=Stream4Flow stack CA" &&
			openssl req -newkey rsa:2048 -nodes -keyout "$d/broker.key" -out "$d/broker.csr" \
				-subj "/CN=localhost" &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/broker.ext" &&
			openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-CAcreateserial -out "$d/broker.crt" -days 365 -extfile "$d/broker.ext" &&
			openssl pkcs12 -export -in "$d/broker.crt" -inkey "$d/broker.key" -certfile "$d/ca.crt" \
				-name broker -out "$d/broker.p12.tmp" -passout "file:$d/keystore.password" &&
			mv "$d/broker.p12.tmp" "$d/broker.p12"
	) >"$LOG_DIR/kafka-certs.log" 2>&1 || {
		tail_logs "$LOG_DIR/kafka-certs.log"
		die "openssl could not create the stack's Kafka certificates"
	}
	# The CA certificate is public: clients read it to verify the broker.
	chmod 644 "$d/ca.crt"
}

kafka_secure_config() {
	local d
	d=$(kafka_secure_dir)
	cat <<EOF
# Secured listener (S4F_KAFKA_SASL_PORT): SASL_SSL, SCRAM-SHA-512, StandardAuthorizer ACLs.
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$d/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$(kafka_secure_password keystore)
listener.name.sasl_ssl.ssl.key.password=$(kafka_secure_password keystore)
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# Loopback PLAINTEXT and the controller are anonymous: super users, as without this listener.
super.users=User:ANONYMOUS;User:s4f-admin
EOF
}

# The ACLs of the Ansible role (roles/kafka/tasks: "Kafka ACLs"), for the stack's users.
KAFKA_STACK_ACLS=(
	"--allow-principal User:s4f-collector --operation Write --operation Describe --topic ipfix.entry"
	"--allow-principal User:s4f-worker --operation Read --operation Describe --topic ipfix.entry"
	"--allow-principal User:s4f-worker --operation Write --operation Describe --topic results.output"
	"--allow-principal User:s4f-worker --operation All --resource-pattern-type prefixed --topic s4f."
	"--allow-principal User:s4f-worker --operation Read --resource-pattern-type prefixed --group s4f-worker"
	"--allow-principal User:s4f-sink --operation Read --operation Describe --topic results.output"
	"--allow-principal User:s4f-sink --operation Write --operation Describe --topic results.deadletter"
	"--allow-principal User:s4f-sink --operation Read --resource-pattern-type prefixed --group s4f-sink"
)

# SCRAM users and ACLs live in the cluster metadata: created once per data directory (marker
# files), through the PLAINTEXT loopback listener, one JVM each, side by side. A fresh storage
# already has the users (kafka_write_config formats it with --add-scram).
kafka_secure_setup() {
	local data=$STACK_DIR/data/kafka pids=() failed=0 p u acl
	[[ -f $data/.s4f-scram-users && -f $data/.s4f-acls ]] && return 0
	log "creating the SCRAM users and ACLs"
	: >"$LOG_DIR/kafka-secure-setup.log"
	# Users only when the storage was formatted without them (an older stack directory).
	[[ -f $data/.s4f-scram-users ]] || for u in "${KAFKA_SCRAM_USERS[@]}"; do
		kafka_tool kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
			--entity-type users --entity-name "$u" \
			--add-config "SCRAM-SHA-512=[iterations=4096,password=$(kafka_secure_password "$u")]" \
			>>"$LOG_DIR/kafka-secure-setup.log" 2>&1 &
		pids+=($!)
	done
	for acl in "${KAFKA_STACK_ACLS[@]}"; do
		# shellcheck disable=SC2086 # one ACL's options, split on purpose
		kafka_tool kafka.admin.AclCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --add $acl \
			>>"$LOG_DIR/kafka-secure-setup.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || failed=1; done
	if [[ $failed -ne 0 ]]; then
		tail_logs "$LOG_DIR/kafka-secure-setup.log"
		die "could not create the Kafka SCRAM users or ACLs"
	fi
	touch "$data/.s4f-scram-users" "$data/.s4f-acls"
}

# Topic names known to the broker, one per line (empty on failure).
kafka_topics() {
	if command -v kcat >/dev/null 2>&1; then
		kcat -b "127.0.0.1:$KAFKA_PORT" -L -J -m 5 2>/dev/null |
			jq -r '.topics[] | select(.topic | startswith("__") | not) | .topic' 2>/dev/null
	else
		kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list 2>/dev/null
	fi
}

# True when the broker answers metadata requests and lists itself.
kafka_answers() {
	if command -v kcat >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then
		kcat -b "127.0.0.1:$KAFKA_PORT" -L -J -m 5 2>/dev/null |
			jq -e '(.brokers | length) > 0' >/dev/null 2>&1
	else
		kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null 2>&1
	fi
}

# True when every configured topic exists and all its partitions have a leader.
kafka_topics_ready() {
	command -v kcat >/dev/null 2>&1 || return 0
	local want=() spec
	for spec in $TOPICS; do want+=("${spec%%:*}"); done
	kcat -b "127.0.0.1:$KAFKA_PORT" -L -J -m 5 2>/dev/null | jq -e --args '
		. as $md | [$ARGS.positional[] as $t |
			($md.topics[] | select(.topic == $t) |
			 ((.partitions | length) > 0 and all(.partitions[]; .leader >= 0)))
		] | length == ($ARGS.positional | length) and all' "${want[@]}" >/dev/null 2>&1
}

kafka_create_topics() {
	local existing spec name parts pids=() failed=0 p
	existing=$(kafka_topics || true)
	for spec in $TOPICS; do
		# name[:partitions[:compact]]
		IFS=: read -r name parts policy <<<"$spec"
		[[ -n $parts ]] || parts=1
		local extra=()
		[[ $policy == compact ]] && extra=(--config cleanup.policy=compact)
		if grep -qxF -- "$name" <<<"$existing"; then
			continue
		fi
		log "creating topic $name ($parts partitions${policy:+, $policy})"
		# One JVM per topic, started in parallel.
		kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
			--create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor "$KAFKA_RF" \
			--config "min.insync.replicas=$KAFKA_MIN_ISR" "${extra[@]}" >>"$LOG_DIR/kafka-topics.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || failed=1; done
	if [[ $failed -ne 0 ]]; then
		tail_logs "$LOG_DIR/kafka-topics.log"
		die "could not create Kafka topics"
	fi
}

kafka_wait_ready() {
	local deadline=$1 pid
	while :; do
		if ! pid=$(svc_pid "$KSVC"); then
			# As for Elasticsearch (up_engine): a port in the ephemeral range may be held for a
			# moment by some connection's source port; a broker that could not bind starts again.
			if ((KAFKA_NODE > 0 && KAFKA_RELAUNCHES < 2)) && grep -qs 'failed to bind' "$LOG_DIR/$KSVC.log"; then
				KAFKA_RELAUNCHES=$((KAFKA_RELAUNCHES + 1))
				log "$KSVC could not bind its ports (attempt $KAFKA_RELAUNCHES): starting it again"
				sleep 1
				kafka_launch "$deadline"
				continue
			fi
			tail_logs "$LOG_DIR/$KSVC.log" "$LOG_DIR/$KSVC-stdout.log"
			die "Kafka exited during start-up"
		fi
		if port_open "$KAFKA_PORT" && kafka_answers; then
			return 0
		fi
		if (($(now) >= deadline)); then
			tail_logs "$LOG_DIR/$KSVC.log" "$LOG_DIR/$KSVC-stdout.log"
			die "Kafka not ready on 127.0.0.1:$KAFKA_PORT after ${KAFKA_TIMEOUT}s (pid $pid)"
		fi
		sleep 0.5
	done
}

KAFKA_RELAUNCHES=0
kafka_launch() {
	local deadline=$1 java dist pf
	java=$(java_for "$KAFKA_JAVA_HOME")
	dist=$(kafka_dist)
	pf=$(pid_file "$KSVC")
	rm -f "$pf"
	log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
	# New session (setsid) so the broker survives the caller's terminal;
	# the inner shell writes its own pid and then becomes the JVM (exec).
	# Daemons must not inherit the stack lock's file descriptor.
	# shellcheck disable=SC2016
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pf" \
		"$java" "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true \
		"-Dlog4j.configuration=file:$(kafka_conf_dir)/log4j.properties" \
		"-Dkafka.logs.dir=$LOG_DIR" \
		-cp "$dist/libs/*" kafka.Kafka "$(kafka_conf_dir)/server.properties" \
		>"$LOG_DIR/$KSVC-stdout.log" 2>&1 </dev/null {STACK_LOCK_FD}>&- &
	while [[ ! -s $pf ]]; do
		(($(now) < deadline)) || die "Kafka launcher did not start"
		sleep 0.1
	done
}

up_kafka() {
	local t0 deadline pid
	t0=$(now)
	deadline=$((t0 + KAFKA_TIMEOUT))
	if pid=$(svc_pid "$KSVC"); then
		if [[ -n $KAFKA_SASL_PORT ]] && port_open "$KAFKA_PORT" && ! port_open "$KAFKA_SASL_PORT"; then
			log "kafka is running without the SASL_SSL listener on $KAFKA_SASL_PORT: restarting it"
			stop_service kafka
			pid=
		fi
	fi
	if [[ -n ${pid:-} ]]; then
		if port_open "$KAFKA_PORT"; then
			log "$KSVC already running (pid $pid, 127.0.0.1:$KAFKA_PORT)"
		else
			log "$KSVC process $pid exists but port $KAFKA_PORT is closed: waiting for it"
		fi
	else
		if port_open "$KAFKA_PORT"; then
			die "port $KAFKA_PORT is already used by another process (not this stack's Kafka)"
		fi
		if port_open "$KAFKA_CONTROLLER_PORT"; then
			die "controller port $KAFKA_CONTROLLER_PORT is already used by another process"
		fi
		if [[ -n $KAFKA_SASL_PORT ]] && port_open "$KAFKA_SASL_PORT"; then
			die "SASL port $KAFKA_SASL_PORT is already used by another process"
		fi
		fetch_service kafka
		kafka_write_config
		kafka_launch "$deadline"
	fi
	kafka_wait_ready "$deadline"
	if ((KAFKA_NODE > 0)); then
		# A cluster node: the topics are made once every broker runs (cluster_kafka_ready).
		log "$KSVC ready on 127.0.0.1:$KAFKA_PORT in $(($(now) - t0))s"
		return 0
	fi
	kafka_create_topics
	if [[ -n $KAFKA_SASL_PORT ]]; then
		kafka_secure_setup
		until port_open "$KAFKA_SASL_PORT"; do
			(($(now) < deadline)) || die "SASL_SSL listener not open on 127.0.0.1:$KAFKA_SASL_PORT"
			sleep 0.2
		done
	fi
	until kafka_topics_ready; do
		if (($(now) >= deadline)); then
			tail_logs "$LOG_DIR/kafka.log" "$LOG_DIR/kafka-topics.log"
			die "Kafka topics not ready after ${KAFKA_TIMEOUT}s"
		fi
		sleep 0.2
	done
	log "kafka ready on 127.0.0.1:$KAFKA_PORT in $(($(now) - t0))s"
}

# ------------------------------------------------ elasticsearch/opensearch --
#
# Both engines use the same layout; "$1" below is the service (es|opensearch).

engine_vars() { # sets E_* globals for service $1
	case $1 in
	es | es[1-3])
		E_NAME=Elasticsearch
		E_BIN=elasticsearch
		E_DIST=$(es_dist)
		E_VERSION=$ES_VERSION
		E_JAVA_HOME=$ES_JAVA_HOME
		E_PORT=$ES_PORT
		E_TPORT=$ES_TRANSPORT_PORT
		E_HEAP=$ES_HEAP
		E_TIMEOUT=$ES_TIMEOUT
		E_YML=elasticsearch.yml
		E_ENV=ES
		;;
	opensearch)
		E_NAME=OpenSearch
		E_BIN=opensearch
		E_DIST=$(os_dist)
		E_VERSION=$OPENSEARCH_VERSION
		E_JAVA_HOME=$OPENSEARCH_JAVA_HOME
		E_PORT=$OS_PORT
		E_TPORT=$OS_TRANSPORT_PORT
		E_HEAP=$OS_HEAP
		E_TIMEOUT=$OS_TIMEOUT
		E_YML=opensearch.yml
		E_ENV=OPENSEARCH
		;;
	esac
	E_NODE=0
	case $1 in
	es[1-3])
		# A node of the local cluster: the same distribution, its own ports, config and data.
		E_NODE=${1#es}
		E_PORT=$(cluster_es_port "$E_NODE")
		E_TPORT=$(cluster_es_transport_port "$E_NODE")
		E_HEAP=$CLUSTER_ES_HEAP
		;;
	esac
	E_HOME=$STACK_DIR/home/$(basename "$E_DIST")
	E_CONF=$STACK_DIR/conf/$1
	E_DATA=$STACK_DIR/data/$1
	E_LOGS=$LOG_DIR/$1
	E_TMP=$STACK_DIR/tmp/$1
	E_LAUNCH_LOG=$LOG_DIR/$1-launcher.log
	# main log file is <path.logs>/<cluster.name>.log
	E_MAIN_LOG=$E_LOGS/stream4flow.log
}

# Per-stack home: hard links into the cache (fallback: real copy when the stack dir is on
# another file system). The nodes of the cluster share it: made before they start.
engine_home() {
	if [[ ! -f $E_HOME/.complete ]]; then
		rm -rf "$E_HOME"
		mkdir -p "$(dirname "$E_HOME")"
		cp -al "$E_DIST" "$E_HOME" 2>/dev/null || {
			rm -rf "$E_HOME"
			cp -a "$E_DIST" "$E_HOME"
		}
	fi
}

engine_prepare() {
	local svc=$1 f
	engine_vars "$svc"
	engine_home
	mkdir -p "$E_CONF/jvm.options.d" "$E_DATA" "$E_LOGS" "$E_TMP"
	# Stock config files (log4j2, jvm.options, ...), refreshed on every start.
	for f in "$E_DIST"/config/*; do
		[[ -f $f ]] || continue
		case $(basename "$f") in "$E_YML" | jvm.options) continue ;; esac
		cp "$f" "$E_CONF/"
	done
	# jvm.options: the stock one, minus its heap size, with every relative
	# output path (gc log, crash file, heap dump) moved to the logs dir.
	sed -E -e '/^([0-9-]+:)?-Xm[sx]/d' -e '/^([0-9-]+:)?-XX:HeapDumpPath=/d' \
		-e "s|file=[^:]*gc\.log|file=$E_LOGS/gc.log|" -e 's|filecount=32,filesize=64m|filecount=4,filesize=16m|' \
		-e "s|^(([0-9-]+:)?-XX:ErrorFile=).*|\1$E_LOGS/hs_err_pid%p.log|" \
		"$E_DIST/config/jvm.options" >"$E_CONF/jvm.options"
	printf -- '-Xms%s\n-Xmx%s\n-XX:HeapDumpPath=%s\n-XX:-AlwaysPreTouch\n' "$E_HEAP" "$E_HEAP" "$E_LOGS" \
		>"$E_CONF/jvm.options.d/s4f.options"
	rm -f "$E_CONF/jvm.options.d/s4f-heap.options"
	# A node of the cluster: its elasticsearch.yml comes from the Ansible role
	# (cluster_render_config), mode 0660 as the role writes it.
	((E_NODE > 0)) || {
		echo "# Generated by provisioning/stack/stack.sh on every 'up'."
		echo "cluster.name: stream4flow"
		echo "node.name: s4f-$svc-$E_PORT"
		echo "network.host: 127.0.0.1"
		echo "http.port: $E_PORT"
		echo "transport.port: $E_TPORT"
		echo "discovery.type: single-node"
		echo "path.data: $E_DATA"
		echo "path.logs: $E_LOGS"
		echo "# Never go read-only because the disk is nearly full."
		echo "cluster.routing.allocation.disk.threshold_enabled: false"
		echo "action.destructive_requires_name: false"
		if [[ $svc == es || $svc == es[1-3] ]]; then
			echo "# The integ-test zip ships x-pack-security: switch it off (plain HTTP, no auth)."
			echo "xpack.security.enabled: false"
		fi
	} >"$E_CONF/$E_YML"
	chmod -R a+rX "$E_CONF"
	((E_NODE == 0)) || chmod 0660 "$E_CONF/$E_YML"
	if [[ $EUID -eq 0 ]]; then
		chown -R "$RUN_USER:" "$E_CONF" "$E_LOGS" "$E_TMP"
		give_dirs "$E_DATA"
		"${RUN_AS[@]}" test -r "$E_HOME/bin/$E_BIN" ||
			die "user $RUN_USER cannot read $E_HOME (is $STACK_DIR below a private directory?)"
		"${RUN_AS[@]}" test -w "$E_DATA" ||
			die "user $RUN_USER cannot write $E_DATA"
	fi
}

# Cluster health status (green|yellow|red) or empty.
engine_health() { # $1 = port, $2 = extra query
	curl -s -m "${3:-5}" "http://127.0.0.1:$1/_cluster/health?${2:-}" 2>/dev/null |
		jq -r '.status // empty' 2>/dev/null || true
}

engine_wait_ready() {
	local svc=$1 deadline=$2 pid st
	engine_vars "$svc"
	while :; do
		# OpenSearch's "-d" returns before the node has written its pid
		# file: until then, look for the JVM by its home directory.
		if ! pid=$(svc_pid "$svc"); then
			if pid=$(pgrep -f -- "path.home=$E_HOME( |$)" | head -n 1) && [[ -n $pid ]]; then
				:
			else
				tail_logs "$E_MAIN_LOG" "$E_LAUNCH_LOG"
				die "$E_NAME exited during start-up"
			fi
		fi
		st=$(engine_health "$E_PORT" "wait_for_status=yellow&timeout=5s" 7)
		if [[ $st == green || $st == yellow ]]; then
			return 0
		fi
		if (($(now) >= deadline)); then
			tail_logs "$E_MAIN_LOG" "$E_LAUNCH_LOG"
			die "$E_NAME not healthy on 127.0.0.1:$E_PORT after ${E_TIMEOUT}s (pid $pid)"
		fi
		sleep 0.5
	done
}

up_engine() {
	local svc=$1 t0 deadline pid pf left rc
	engine_vars "$svc"
	t0=$(now)
	deadline=$((t0 + E_TIMEOUT))
	if pid=$(svc_pid "$svc"); then
		if port_open "$E_PORT"; then
			log "$svc already running (pid $pid, http://127.0.0.1:$E_PORT)"
		else
			log "$svc process $pid exists but port $E_PORT is closed: waiting for it"
		fi
	else
		if port_open "$E_PORT"; then
			die "port $E_PORT is already used by another process (not this stack's $E_NAME)"
		fi
		if port_open "$E_TPORT"; then
			die "transport port $E_TPORT is already used by another process"
		fi
		[[ -x $E_JAVA_HOME/bin/java ]] ||
			die "$E_NAME $E_VERSION needs Java 21+: $E_JAVA_HOME/bin/java not found (set it in versions.env)"
		fetch_service "$svc"
		setup_run_user
		engine_prepare "$svc"
		pf=$(pid_file "$svc")
		rm -f "$pf"
		log "starting $E_NAME $E_VERSION on http://127.0.0.1:$E_PORT (transport $E_TPORT, heap $E_HEAP)"
		# -d: the launcher returns once the node has started (or failed);
		# -p: the node writes its pid file. The launcher runs in a new
		# session and is bounded by the same deadline. The working directory
		# is the home: OpenSearch's jvm.options names its agent jar relative
		# to it.
		# A port of the stack may lie in the kernel's ephemeral range (32768-60999 by default):
		# a node of the cluster probing a seed port nobody listens on yet can, now and then, get
		# that very port as its source port (a TCP self-connect) and hold it for a moment. A
		# node that could not bind is started again (at most three times).
		local attempt
		for attempt in 1 2 3; do
			left=$((deadline - $(now)))
			((left > 0)) || left=1
			rc=0
			(cd "$E_HOME" && timeout "$left" setsid -w "${RUN_AS[@]}" env -u JAVA_HOME \
				"${E_ENV}_JAVA_HOME=$E_JAVA_HOME" \
				"${E_ENV}_PATH_CONF=$E_CONF" "${E_ENV}_TMPDIR=$E_TMP" \
				"$E_HOME/bin/$E_BIN" -d -p "$pf" >"$E_LAUNCH_LOG" 2>&1 </dev/null {STACK_LOCK_FD}>&-) || rc=$?
			if [[ $rc -ne 0 ]] && ((attempt < 3)) && grep -q 'Failed to bind' "$E_LAUNCH_LOG" &&
				! svc_pid "$svc" >/dev/null; then
				log "$svc could not bind its ports (attempt $attempt): starting it again"
				sleep 1
				continue
			fi
			break
		done
		if [[ $rc -ne 0 ]]; then
			tail_logs "$E_MAIN_LOG" "$E_LAUNCH_LOG"
			if pid=$(svc_pid "$svc"); then kill -KILL "$pid" 2>/dev/null || true; fi
			die "$E_NAME failed to start (launcher exit code $rc)"
		fi
	fi
	engine_wait_ready "$svc" "$deadline"
	log "$svc ready on http://127.0.0.1:$E_PORT in $(($(now) - t0))s"
}

# ------------------------------------------------------------------- down --

stop_service() {
	local svc=$1 pf pid deadline
	pf=$(pid_file "$svc")
	if ! pid=$(svc_pid "$svc"); then
		rm -f "$pf"
		log "$svc is not running"
		return 0
	fi
	log "stopping $svc (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now) + STOP_TIMEOUT))
	while svc_pid "$svc" >/dev/null; do
		if (($(now) >= deadline)); then
			warn "$svc (pid $pid) still running after ${STOP_TIMEOUT}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$(($(now) + 10))
			while svc_pid "$svc" >/dev/null; do
				(($(now) < deadline)) || die "could not kill $svc (pid $pid)"
				sleep 0.2
			done
			break
		fi
		sleep 0.2
	done
	rm -f "$pf"
	log "$svc stopped"
}

# ------------------------------------------------------------- commands ----

cmd_fetch() {
	local svcs=("$@") s
	((${#svcs[@]})) || svcs=("${DEFAULT_UP[@]}")
	check_service_names "${svcs[@]}"
	for s in "${svcs[@]}"; do fetch_service "$s"; done
	log "cache: $CACHE_DIR"
}

summary() {
	local s
	echo
	echo "Stream4Flow local stack ($STACK_DIR)"
	for s in "$@"; do
		case $s in
		kafka)
			echo "  Kafka bootstrap : 127.0.0.1:$KAFKA_PORT   topics: $TOPICS"
			if [[ -n $KAFKA_SASL_PORT ]]; then
				echo "  Kafka SASL_SSL  : 127.0.0.1:$KAFKA_SASL_PORT   (SCRAM-SHA-512; CA and passwords in $(kafka_secure_dir))"
			fi
			;;
		es) echo "  Elasticsearch   : http://127.0.0.1:$ES_PORT" ;;
		opensearch) echo "  OpenSearch      : http://127.0.0.1:$OS_PORT" ;;
		kafka[1-3]) echo "  Kafka $s       : 127.0.0.1:$(cluster_kafka_port "${s#kafka}") (cluster bootstrap $(cluster_bootstrap))" ;;
		es[1-3]) echo "  Elasticsearch $s: http://127.0.0.1:$(cluster_es_port "${s#es}")" ;;
		esac
	done
	echo "  Logs            : $LOG_DIR"
	echo "  Status          : $HERE/stack.sh status   (same S4F_* env)"
}

up_one() {
	case $1 in
	kafka | kafka[1-3])
		kafka_select "$1"
		up_kafka
		;;
	es | opensearch | es[1-3]) up_engine "$1" ;;
	esac
}

# The cluster's brokers', nodes' and daemons' configuration comes from the Ansible roles: the
# tasks tagged "config" of provisioning/ansible/site.yml (the very tasks a deployment runs), for
# an inventory describing this cluster on loopback (conf/cluster-inventory.yml): security off,
# every node on 127.0.0.1 with its own ports and folders. They write conf/kafkaN/server.properties,
# conf/esN/elasticsearch.yml and conf/stream4flow.yml (the daemons' kafka: and elasticsearch:
# sections; the brokers' and nodes' hosts get theirs in conf/hosts/<host>/). `ansible-playbook -i conf/cluster-inventory.yml site.yml --check --diff --tags
# config` then reports no change (tests/cluster/ansible_check.sh).
cluster_inventory() {
	local user group es_user es_group i validate=
	user=$(id -un)
	group=$(id -gn)
	es_user=$user
	es_group=$group
	if [[ $EUID -eq 0 ]]; then
		es_user=$RUN_USER
		es_group=$(id -gn "$RUN_USER")
	fi
	[[ -x $REPO/build/collector/s4f-collector ]] && validate="$REPO/build/collector/s4f-collector --check-config %s"
	cat <<EOF
# Generated by provisioning/stack/stack.sh up cluster: the local cluster as an Ansible inventory.
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: /usr/bin/python3
    ansible_become: false
    s4f_restart_on_change: false
    stream4flow_es_api_key: ""
    kafka_security: false
    kafka_listen_address: 127.0.0.1
    kafka_advertised_host: 127.0.0.1
    kafka_config_owner: $user
    kafka_user: $group
    kafka_extra_properties:
      # Few internal partitions: a quicker first consumer-group / transaction use.
      offsets.topic.num.partitions: 8
      transaction.state.log.num.partitions: 4
      group.initial.rebalance.delay.ms: 0
      delete.topic.enable: "true"
    elasticsearch_security: false
    elasticsearch_publish_host: 127.0.0.1
    elasticsearch_config_owner: $es_user
    elasticsearch_group: $es_group
    elasticsearch_extra_settings:
      # Never go read-only because the disk is nearly full.
      cluster.routing.allocation.disk.threshold_enabled: false
      action.destructive_requires_name: false
    stream4flow_kafka_secured: false
    stream4flow_web_tls: false
    stream4flow_config_owner: $user
    stream4flow_group: $group
    stream4flow_validate_cmd: "$validate"
  children:
    producer:
      hosts:
EOF
	for i in 1 2 3; do
		cat <<EOF
        kafka$i:
          kafka_port: $(cluster_kafka_port "$i")
          kafka_controller_port: $(cluster_kafka_controller_port "$i")
          kafka_conf_dir: $STACK_DIR/conf/kafka$i
          kafka_data_dir: $STACK_DIR/data/kafka$i
          stream4flow_conf_dir: $STACK_DIR/conf/hosts/kafka$i
EOF
	done
	echo "    consumer:"
	echo "      hosts:"
	for i in 1 2 3; do
		cat <<EOF
        es$i:
          elasticsearch_port: $(cluster_es_port "$i")
          elasticsearch_transport_port: $(cluster_es_transport_port "$i")
          elasticsearch_conf_dir: $STACK_DIR/conf/es$i
          elasticsearch_data_dir: $STACK_DIR/data/es$i
          elasticsearch_log_dir: $LOG_DIR/es$i
          stream4flow_conf_dir: $STACK_DIR/conf/hosts/es$i
EOF
	done
	cat <<EOF
    workers:
      hosts:
        daemons:
          stream4flow_conf_dir: $STACK_DIR/conf
EOF
}

# ansible-playbook on site.yml with the cluster's inventory; extra arguments are passed on.
cluster_playbook() {
	need ansible-playbook
	mkdir -p "$STACK_DIR/tmp/ansible"
	ANSIBLE_ROLES_PATH=$REPO/provisioning/ansible/roles ANSIBLE_GATHERING=explicit \
		ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_LOCAL_TEMP=$STACK_DIR/tmp/ansible \
		ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default \
		ansible-playbook -i "$STACK_DIR/conf/cluster-inventory.yml" \
		"$REPO/provisioning/ansible/site.yml" --tags config "$@"
}

cluster_render_config() {
	local i
	for i in 1 2 3; do mkdir -p "$STACK_DIR/conf/kafka$i" "$STACK_DIR/conf/es$i" "$STACK_DIR/data/kafka$i" \
		"$STACK_DIR/data/es$i" "$LOG_DIR/es$i" "$STACK_DIR/conf/hosts/kafka$i" "$STACK_DIR/conf/hosts/es$i"; done
	# Rendered again only when the inventory changed or a file is missing: Ansible takes a few
	# seconds of CPU, and restarting one node must not wait for it.
	local inv=$STACK_DIR/conf/cluster-inventory.yml f missing=0
	for f in "$STACK_DIR"/conf/kafka{1,2,3}/server.properties "$STACK_DIR"/conf/es{1,2,3}/elasticsearch.yml \
		"$STACK_DIR/conf/stream4flow.yml"; do
		[[ -f $f ]] || missing=1
	done
	if ((missing == 0)) && [[ -f $inv ]] && cmp -s "$inv" <(cluster_inventory); then
		return 0
	fi
	cluster_inventory >"$inv"
	if ! cluster_playbook >"$LOG_DIR/cluster-render.log" 2>&1; then
		tail_logs "$LOG_DIR/cluster-render.log"
		die "the Ansible roles could not render the cluster's configuration"
	fi
	log "configuration rendered by the Ansible roles (site.yml --tags config; $LOG_DIR/cluster-render.log)"
}

# Once the brokers of the cluster run: all three registered, then the topics (replication
# factor 3, min.insync.replicas 2) made if missing, every partition with a leader.
cluster_kafka_ready() {
	local deadline=$(($(now) + KAFKA_TIMEOUT)) i
	for i in 1 2 3; do
		if svc_pid "kafka$i" >/dev/null; then
			kafka_select "kafka$i"
			break
		fi
	done
	until kcat -b "$(cluster_bootstrap)" -L -J -m 5 2>/dev/null | jq -e '(.brokers | length) == 3' >/dev/null 2>&1; do
		(($(now) < deadline)) || die "the three Kafka brokers did not all register within ${KAFKA_TIMEOUT}s"
		sleep 0.5
	done
	kafka_create_topics
	until kafka_topics_ready; do
		if (($(now) >= deadline)); then
			tail_logs "$LOG_DIR/kafka-topics.log"
			die "Kafka cluster topics not ready after ${KAFKA_TIMEOUT}s"
		fi
		sleep 0.2
	done
	log "kafka cluster ready: $(cluster_bootstrap)"
}

# Once the nodes of the cluster run: one cluster of three nodes, green.
cluster_es_ready() {
	local deadline=$(($(now) + ES_TIMEOUT)) st
	while :; do
		st=$(curl -s -m 12 "http://127.0.0.1:$ES_BASE_PORT/_cluster/health?wait_for_nodes=3&wait_for_status=green&timeout=10s" 2>/dev/null |
			jq -r 'select(.number_of_nodes == 3) | .status // empty' 2>/dev/null || true)
		[[ $st == green ]] && break
		(($(now) < deadline)) || die "the three Elasticsearch nodes did not form a green cluster within ${ES_TIMEOUT}s"
		sleep 0.5
	done
	log "elasticsearch cluster ready: $(cluster_es_urls)"
}

cmd_up() {
	local svcs s t0
	mapfile -t svcs < <(expand_services "$@")
	((${#svcs[@]})) || svcs=("${DEFAULT_UP[@]}")
	check_service_names "${svcs[@]}"
	need curl
	need jq
	t0=$(now)
	mark_stack_dir
	# The cluster's id is shared by its brokers: made before they start side by side; so are
	# the configuration files, rendered by the Ansible roles.
	if [[ " ${svcs[*]} " == *" kafka"[1-3]" "* || " ${svcs[*]} " == *" es"[1-3]" "* ]]; then
		kafka_select kafka1
		kafka_cluster_id_file >/dev/null
		setup_run_user
		cluster_render_config
	fi
	if [[ " ${svcs[*]} " == *" es"[1-3]" "* ]]; then
		fetch_service es
		engine_vars es1
		engine_home
	fi
	if [[ ${S4F_PARALLEL:-1} == 1 && ${#svcs[@]} -gt 1 ]]; then
		# Start the services side by side (each still bounded by its own
		# deadline); fail if any of them failed.
		local pids=() failed=() i
		for s in "${svcs[@]}"; do
			up_one "$s" &
			pids+=($!)
		done
		for i in "${!pids[@]}"; do
			wait "${pids[$i]}" || failed+=("${svcs[$i]}")
		done
		((${#failed[@]} == 0)) || die "failed to start: ${failed[*]} (logs in $LOG_DIR)"
	else
		for s in "${svcs[@]}"; do up_one "$s"; done
	fi
	if [[ " ${svcs[*]} " == *" kafka"[1-3]" "* ]]; then cluster_kafka_ready; fi
	if [[ " ${svcs[*]} " == *" es"[1-3]" "* ]]; then cluster_es_ready; fi
	log "all requested services ready in $(($(now) - t0))s"
	summary "${svcs[@]}"
}

cmd_down() {
	local svcs s
	mapfile -t svcs < <(expand_services "$@")
	((${#svcs[@]})) || svcs=("${ALL_SERVICES[@]}")
	check_service_names "${svcs[@]}"
	local pids=() nodes=()
	for s in "${svcs[@]}"; do
		case $s in
		kafka[1-3] | es[1-3]) nodes+=("$s") ;;
		*) stop_service "$s" ;;
		esac
	done
	# The nodes of the cluster stop side by side: a broker stopping after the others would
	# wait for a controller quorum that has gone (its controlled shutdown never completes).
	for s in "${nodes[@]}"; do
		STOP_TIMEOUT=${S4F_STOP_TIMEOUT:-20} stop_service "$s" &
		pids+=($!)
	done
	for s in "${pids[@]}"; do wait "$s" || true; done
}

cmd_reset() {
	local svcs=("$@") s
	if [[ -d $STACK_DIR && ! -f $STACK_DIR/.s4f-stack ]] && [[ -n $(ls -A "$STACK_DIR") ]]; then
		die "$STACK_DIR has no .s4f-stack marker: refusing to wipe it"
	fi
	if ((${#svcs[@]} == 0)); then
		cmd_down
		log "wiping $STACK_DIR"
		rm -rf "${STACK_DIR:?}/data" "${STACK_DIR:?}/logs" "${STACK_DIR:?}/conf" \
			"${STACK_DIR:?}/run" "${STACK_DIR:?}/tmp" "${STACK_DIR:?}/home"
		return 0
	fi
	mapfile -t svcs < <(expand_services "${svcs[@]}")
	check_service_names "${svcs[@]}"
	for s in "${svcs[@]}"; do
		stop_service "$s"
		log "wiping $s data, logs and config in $STACK_DIR"
		rm -rf "${STACK_DIR:?}/data/$s" "${STACK_DIR:?}/conf/$s" "${STACK_DIR:?}/logs/$s" \
			"${STACK_DIR:?}/tmp/$s" "$LOG_DIR/$s-launcher.log"
		if [[ $s == kafka ]]; then rm -f "$LOG_DIR"/kafka.log* "$LOG_DIR"/kafka-*.log*; fi
		if [[ $s == kafka[1-3] ]]; then rm -f "$LOG_DIR/$s".log* "$LOG_DIR/$s"-*.log*; fi
	done
}

cmd_status() {
	local s pid port health rc=0 n
	printf '%-11s %-8s %-6s %s\n' SERVICE PID PORT HEALTH
	for s in "${ALL_SERVICES[@]}"; do
		port=$(svc_port "$s")
		if pid=$(svc_pid "$s"); then
			case $s in
			kafka | kafka[1-3])
				kafka_select "$s"
				if kafka_answers; then
					n=$(kafka_topics | grep -c . || true)
					health="up ($n topics)"
				else
					health="not answering"
					rc=1
				fi
				;;
			*)
				health=$(engine_health "$port")
				[[ -n $health ]] || {
					health="not answering"
					rc=1
				}
				;;
			esac
		else
			pid=-
			if port_open "$port"; then
				health="stopped (port $port used by another process)"
			else
				health=stopped
			fi
		fi
		printf '%-11s %-8s %-6s %s\n' "$s" "$pid" "$port" "$health"
	done
	echo "stack dir: $STACK_DIR"
	return $rc
}

cmd_env() {
	cat <<EOF
export S4F_STACK_DIR='$STACK_DIR'
export S4F_KAFKA_PORT=$KAFKA_PORT
export S4F_KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
export S4F_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
export S4F_TOPICS='$TOPICS'
EOF
	if [[ -n $KAFKA_SASL_PORT ]]; then
		cat <<EOF
export S4F_KAFKA_SASL_PORT=$KAFKA_SASL_PORT
export S4F_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$KAFKA_SASL_PORT
export S4F_KAFKA_SECRETS='$(kafka_secure_dir)'
EOF
	fi
	cat <<EOF
export S4F_ES_PORT=$ES_PORT
export S4F_ES_URL=http://127.0.0.1:$ES_PORT
export S4F_OS_PORT=$OS_PORT
export S4F_OS_URL=http://127.0.0.1:$OS_PORT
export S4F_STACK_LOGS='$LOG_DIR'
export S4F_CLUSTER_KAFKA_BOOTSTRAP=$(cluster_bootstrap)
export S4F_CLUSTER_ES_URLS='$(cluster_es_urls)'
EOF
}

cmd_logs() {
	local svc=${1:-} n=${2:-50}
	check_service_names "$svc"
	case $svc in
	kafka | kafka[1-3]) tail -n "$n" "$LOG_DIR/$svc.log" ;;
	*)
		engine_vars "$svc"
		tail -n "$n" "$E_MAIN_LOG"
		;;
	esac
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	up | start | down | stop | restart | reset)
		# One state-changing command at a time per stack directory.
		mkdir -p "$STACK_DIR"
		exec {STACK_LOCK_FD}>"$STACK_DIR/.lock"
		if ! flock -w "${S4F_LOCK_TIMEOUT:-300}" "$STACK_LOCK_FD"; then
			die "another stack.sh is busy with $STACK_DIR (lock $STACK_DIR/.lock)"
		fi
		;;
	esac
	case $cmd in
	fetch) cmd_fetch "$@" ;;
	up | start) cmd_up "$@" ;;
	down | stop) cmd_down "$@" ;;
	restart)
		cmd_down "$@"
		cmd_up "$@"
		;;
	status) cmd_status ;;
	reset) cmd_reset "$@" ;;
	env) cmd_env ;;
	logs) cmd_logs "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
