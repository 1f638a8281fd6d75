#!/usr/bin/env bash
# ops_ansible_render: renders every template of the Ansible roles with their shipped defaults
# (ansible-playbook on localhost, connection=local, into a scratch folder; nothing is installed)
# for a three-host cluster and for one host, then checks that nothing listens unauthenticated
# off loopback (tests/ops/ansible_render_check.py), and that s4f-collector and s4f-web accept
# the rendered stream4flow.yml. A second rendering turns the opt-outs on (Elasticsearch security
# off, a loopback PLAINTEXT Kafka listener) and checks that they stay on loopback.
set -euo pipefail
SRC=${S4F_SOURCE_DIR:?}
BUILD=${S4F_BUILD_DIR:-}
command -v ansible-playbook >/dev/null || {
	echo "FAIL: ansible-playbook not found (provisioning/install-deps.sh installs ansible)" >&2
	exit 1
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s4f-ops-render.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export HOME=$TMP ANSIBLE_LOCAL_TEMP=$TMP/tmp ANSIBLE_NOCOLOR=1 NO_COLOR=1
export ANSIBLE_ROLES_PATH=$SRC/provisioning/ansible/roles ANSIBLE_STDOUT_CALLBACK=default
ROLES=$SRC/provisioning/ansible/roles

cat >"$TMP/cluster.ini" <<'EOF'
[producer]
producer1.example.net
[workers]
worker1.example.net
[consumer]
consumer1.example.net
[all:vars]
ansible_connection=local
ansible_python_interpreter=/usr/bin/python3
EOF
cat >"$TMP/single.ini" <<'EOF'
[producer]
s4f.example.net
[workers]
s4f.example.net
[consumer]
s4f.example.net
[all:vars]
ansible_connection=local
ansible_python_interpreter=/usr/bin/python3
EOF

# The playbook loads the shipped variables in the order Ansible would (role defaults, then
# group_vars/all.yml) and renders each role's templates per host.
cat >"$TMP/render.yml" <<EOF
- name: Render the Stream4Flow templates
  hosts: all
  gather_facts: false
  become: false
  tasks:
    - name: Role defaults
      ansible.builtin.include_vars:
        file: "$ROLES/{{ item }}/defaults/main.yml"
      loop: [pki, kafka, elasticsearch, kibana, stream4flow]
    - name: Cluster variables
      ansible.builtin.include_vars:
        file: "$SRC/provisioning/ansible/group_vars/all.yml"
    - name: Output folder
      ansible.builtin.file:
        path: "{{ out }}/{{ inventory_hostname }}"
        state: directory
        mode: "0700"
    - name: Render (each role's templates on the hosts of its group)
      ansible.builtin.template:
        src: "$ROLES/{{ item.t }}"
        dest: "{{ out }}/{{ inventory_hostname }}/{{ item.t | basename | regex_replace('\\\\.j2\$', '') }}"
        mode: "0600"
      when: inventory_hostname in groups[item.g]
      loop:
        - {t: kafka/templates/server.properties.j2, g: producer}
        - {t: kafka/templates/admin.properties.j2, g: producer}
        - {t: elasticsearch/templates/elasticsearch.yml.j2, g: consumer}
        - {t: kibana/templates/kibana.yml.j2, g: consumer}
        - {t: stream4flow/templates/stream4flow.yml.j2, g: all}
EOF

render() { # render INVENTORY OUT [extra vars...]
	local inv=$1 out=$2
	shift 2
	# -e: the opt-outs must win over include_vars, as they would over role defaults.
	if ! ansible-playbook -i "$TMP/$inv" "$TMP/render.yml" -e "out=$out" \
		-e "s4f_pki_dir=$TMP/pki" "$@" >"$TMP/render-$inv.log" 2>&1; then
		cat "$TMP/render-$inv.log" >&2
		echo "FAIL: rendering with $inv" >&2
		exit 1
	fi
}

# As if the elasticsearch role had made the daemons' API key already.
mkdir -p "$TMP/pki" && printf 'aWQ6a2V5' >"$TMP/pki/es-api-key"
render cluster.ini "$TMP/out-cluster"
render single.ini "$TMP/out-single"
python3 "$SRC/tests/ops/ansible_render_check.py" secure "$TMP/out-cluster" "$TMP/out-single"

render cluster.ini "$TMP/out-optout" -e elasticsearch_security=false -e kafka_loopback_plaintext_port=9094
python3 "$SRC/tests/ops/ansible_render_check.py" optout "$TMP/out-optout"

# The daemons accept what the role writes.
if [[ -n $BUILD && -x $BUILD/collector/s4f-collector && -x $BUILD/web/s4f-web ]]; then
	for h in "$TMP"/out-cluster/* "$TMP"/out-single/*; do
		"$BUILD/collector/s4f-collector" --check-config "$h/stream4flow.yml" >/dev/null
		"$BUILD/web/s4f-web" --check-config "$h/stream4flow.yml" >/dev/null
	done
fi
echo "ok"
