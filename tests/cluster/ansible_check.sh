#!/usr/bin/env bash
# The configuration that is tested is the configuration that is deployed: runs the deployment
# playbook (provisioning/ansible/site.yml, the tasks tagged "config": each broker's
# server.properties, each node's elasticsearch.yml, the daemons' stream4flow.yml) in check mode
# with --diff for the three-broker, three-node inventory of a running local cluster
# (conf/cluster-inventory.yml, written by `stack.sh up cluster`), against the very files that
# cluster runs with. Passes when Ansible would change nothing on any host and every file it
# looked at exists.
#
#   tests/cluster/ansible_check.sh STACK_DIR [WORK_DIR]
set -euo pipefail
STACK_DIR=${1:?usage: ansible_check.sh STACK_DIR [WORK_DIR]}
WORK=${2:-$(mktemp -d)}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
INV=$STACK_DIR/conf/cluster-inventory.yml
[[ -f $INV ]] || {
	echo "FAIL: no $INV (start the cluster with stack.sh up cluster)" >&2
	exit 1
}
command -v ansible-playbook >/dev/null || {
	echo "FAIL: ansible-playbook not found (provisioning/install-deps.sh installs ansible)" >&2
	exit 1
}
out=$WORK/ansible-check.log
mkdir -p "$STACK_DIR/tmp/ansible"
if ! ANSIBLE_ROLES_PATH=$REPO/provisioning/ansible/roles ANSIBLE_GATHERING=explicit \
	ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_LOCAL_TEMP=$STACK_DIR/tmp/ansible \
	ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=default \
	ansible-playbook -i "$INV" "$REPO/provisioning/ansible/site.yml" --tags config --check --diff \
	>"$out" 2>&1; then
	cat "$out"
	echo "FAIL: ansible-playbook --check failed" >&2
	exit 1
fi
recap=$(sed -n '/PLAY RECAP/,$p' "$out")
hosts=$(grep -cE '^[a-z0-9]+ +: ok=' <<<"$recap" || true)
changed=$(grep -oE 'changed=[0-9]+' <<<"$recap" | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
oks=$(grep -oE ' ok=[0-9]+' <<<"$recap" | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
# Three brokers (server.properties, stream4flow.yml), three nodes (elasticsearch.yml,
# stream4flow.yml) and the daemons' host (stream4flow.yml): 13 files.
if [[ $hosts -ne 7 || $changed -ne 0 || $oks -ne 13 ]]; then
	cat "$out"
	echo "FAIL: site.yml --check --tags config on the cluster's inventory: $hosts hosts, $oks files checked, $changed would change (want 7, 13, 0)" >&2
	exit 1
fi
echo "ansible: site.yml --check --diff --tags config for the cluster's 7 hosts (3 brokers, 3 nodes, the daemons): $oks configuration files, none would change"
