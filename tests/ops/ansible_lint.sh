#!/usr/bin/env bash
# ops_ansible_lint: the playbook passes `ansible-playbook --syntax-check` with both example
# inventories, and `ansible-lint` (production profile, provisioning/ansible/.ansible-lint).
set -euo pipefail
SRC=${S4F_SOURCE_DIR:?}
for tool in ansible-playbook ansible-lint; do
	command -v "$tool" >/dev/null || {
		echo "FAIL: $tool not found (provisioning/install-deps.sh installs ansible, ansible-lint)" >&2
		exit 1
	}
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s4f-ops-ansible.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# Everything ansible writes (tmp, cache, collections lookups) stays in the scratch directory.
export HOME=$TMP ANSIBLE_LOCAL_TEMP=$TMP/tmp ANSIBLE_NOCOLOR=1 NO_COLOR=1
cd "$SRC/provisioning/ansible"
for inv in inventory.ini.example inventory-single.ini.example; do
	ansible-playbook -i "$inv" --syntax-check site.yml
done
# ansible-lint runs on a copy: it writes caches next to the files it checks.
cp -a "$SRC/provisioning/ansible" "$TMP/ansible"
cd "$TMP/ansible"
ansible-lint --offline --nocolor -q
echo "ok"
