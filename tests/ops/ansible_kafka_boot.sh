#!/usr/bin/env bash
# ops_ansible_kafka_boot: the Kafka broker configuration the Ansible role ships, run for real.
# The pki role makes a CA, a certificate for "localhost" and the passwords; the kafka role's
# templates are rendered for one producer host "localhost" (listeners on 127.0.0.1, free ports);
# the storage is formatted with the SCRAM users as the role does; Kafka 3.9 from the stack's
# cache starts with it (SASL_SSL for clients and brokers, mutual TLS for the controller, the
# StandardAuthorizer). Then, through admin.properties as the role's tasks do: topics and the
# collector's ACL; and as a client: s4f-collector writes ipfix.entry and is refused
# results.output. Exit 77 (skipped) when the Kafka distribution is not in the cache.
set -euo pipefail
SRC=${S4F_SOURCE_DIR:?}
# shellcheck source=../../provisioning/stack/versions.env
. "$SRC/provisioning/stack/versions.env"
DIST=${S4F_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/stream4flow}/kafka-$KAFKA_VERSION
if [[ ! -f $DIST/.complete ]]; then
	echo "SKIP: no Kafka $KAFKA_VERSION in $DIST (provisioning/stack/stack.sh fetch kafka)"
	exit 77
fi
JAVA=$KAFKA_JAVA_HOME/bin/java
[[ -x $JAVA ]] || JAVA=$(command -v java)
for tool in ansible-playbook kcat openssl; do
	command -v "$tool" >/dev/null || {
		echo "FAIL: $tool not found" >&2
		exit 1
	}
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s4f-ops-kafka-boot.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$TMP"/kafka.log "$TMP"/stdout.log; do [[ -f $f ]] && tail -n 30 "$f" >&2; done
	exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
CPORT=$(free_port)

export HOME=$TMP ANSIBLE_LOCAL_TEMP=$TMP/tmp ANSIBLE_NOCOLOR=1 NO_COLOR=1
export ANSIBLE_ROLES_PATH=$SRC/provisioning/ansible/roles ANSIBLE_STDOUT_CALLBACK=default
ROLES=$SRC/provisioning/ansible/roles
cat >"$TMP/inventory.ini" <<'EOF'
[producer]
localhost
[workers]
localhost
[consumer]
localhost
[all:vars]
ansible_connection=local
ansible_python_interpreter=/usr/bin/python3
EOF
# The same format command as the kafka role's "Format the KRaft storage" task.
cat >"$TMP/boot.yml" <<EOF
- name: Render the broker configuration
  hosts: producer
  gather_facts: false
  become: false
  roles:
    - pki
  tasks:
    - name: Render
      ansible.builtin.template:
        src: "$ROLES/kafka/templates/{{ item }}.j2"
        dest: "$TMP/{{ item }}"
        mode: "0600"
      loop: [server.properties, admin.properties]
    - name: Format command
      ansible.builtin.copy:
        dest: "$TMP/format.args"
        mode: "0600"
        content: >-
          {% for u in kafka_scram_users %}
          --add-scram 'SCRAM-SHA-512=[name={{ u }},password={{ kafka_scram_passwords[u] }}]'
          {% endfor %}
EOF
mkdir -p "$TMP/data"
if ! ansible-playbook -i "$TMP/inventory.ini" "$TMP/boot.yml" \
	-e "@$ROLES/kafka/defaults/main.yml" -e "@$SRC/provisioning/ansible/group_vars/all.yml" \
	-e "s4f_pki_dir=$TMP/pki" -e "kafka_conf_dir=$TMP" -e "kafka_data_dir=$TMP/data" \
	-e kafka_listen_address=127.0.0.1 -e "kafka_port=$PORT" -e "kafka_controller_port=$CPORT" \
	>"$TMP/ansible.log" 2>&1; then
	cat "$TMP/ansible.log" >&2
	fail "rendering"
fi
cp "$TMP/pki/ca.crt" "$TMP/ca.crt"
cp "$TMP/pki/localhost.p12" "$TMP/broker.p12"
printf '%s\n' 'log4j.rootLogger=INFO, f' 'log4j.appender.f=org.apache.log4j.FileAppender' \
	"log4j.appender.f.File=$TMP/kafka.log" 'log4j.appender.f.layout=org.apache.log4j.PatternLayout' \
	'log4j.appender.f.layout.ConversionPattern=[%d] %p %m (%c)%n' >"$TMP/log4j.properties"

jtool() { "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto "-Dlog4j.configuration=file:$TMP/log4j.properties" -cp "$DIST/libs/*" "$@"; }
eval "scram=($(cat "$TMP/format.args"))"
jtool kafka.tools.StorageTool format -t "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | sed 's/^-/A/')" \
	-c "$TMP/server.properties" "${scram[@]}" >"$TMP/format.log" 2>&1 || fail "format: $(cat "$TMP/format.log")"

setsid "$JAVA" -Xms256m -Xmx256m -XX:TieredStopAtLevel=1 "-Dlog4j.configuration=file:$TMP/log4j.properties" \
	-cp "$DIST/libs/*" kafka.Kafka "$TMP/server.properties" >"$TMP/stdout.log" 2>&1 </dev/null &
pid=$!
deadline=$((SECONDS + 90))
until grep -q "Kafka Server started" "$TMP/kafka.log" 2>/dev/null; do
	kill -0 "$pid" 2>/dev/null || fail "the broker exited"
	((SECONDS < deadline)) || fail "the broker did not start in 90 s"
	sleep 0.5
done

admin=(--bootstrap-server "localhost:$PORT" --command-config "$TMP/admin.properties")
# The topic and the collector's ACL (the first of kafka_acls, split as the role's task does),
# side by side. results.output need not exist: an unauthorised topic is refused either way.
jtool org.apache.kafka.tools.TopicCommand "${admin[@]}" --create --topic ipfix.entry --partitions 1 \
	--replication-factor 1 >"$TMP/topic.log" 2>&1 &
topic_pid=$!
# shellcheck disable=SC2046
jtool kafka.admin.AclCommand "${admin[@]}" --add $(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["kafka_acls"][0])' "$ROLES/kafka/defaults/main.yml") \
	>"$TMP/acl.log" 2>&1 || fail "ACL: $(cat "$TMP/acl.log")"
wait "$topic_pid" || fail "topic: $(cat "$TMP/topic.log")"

client() { # client USER kcat-args...
	local u=$1
	shift
	kcat -b "localhost:$PORT" -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 \
		-X "sasl.username=$u" -X "sasl.password=$(cat "$TMP/pki/kafka-$u.password")" \
		-X "ssl.ca.location=$TMP/pki/ca.crt" -X message.timeout.ms=10000 "$@"
}
echo '{"ok":1}' | client s4f-collector -P -t ipfix.entry 2>"$TMP/kcat1.log" ||
	fail "s4f-collector could not write ipfix.entry: $(cat "$TMP/kcat1.log")"
if echo '{"forged":1}' | client s4f-collector -P -t results.output 2>"$TMP/kcat2.log"; then
	fail "s4f-collector could write results.output"
fi
grep -qi "authorization" "$TMP/kcat2.log" || fail "refusal is not an authorization error: $(cat "$TMP/kcat2.log")"
got=$(client s4f-admin -C -t ipfix.entry -o beginning -e -q -m 20)
[[ $got == '{"ok":1}' ]] || fail "read back '$got'"
echo "PASS: the role's broker configuration runs (SASL_SSL, mTLS controller, ACLs) on Kafka $KAFKA_VERSION"
