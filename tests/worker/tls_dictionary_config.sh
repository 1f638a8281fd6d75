#!/usr/bin/env bash
# Issue 16: `s4f-worker --check-config` reads and validates tls_classification's dictionary file
# as the start does: a bad file is refused (exit 1) with its file and line, a missing one with
# its name; the shipped dictionary and a good file of one's own pass.
# Usage: tls_dictionary_config.sh S4F_WORKER_BINARY
set -euo pipefail
worker=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
check() { # NAME WANT_RC WANT_TEXT [DICTIONARY_FILE]
	local name=$1 want=$2 text=$3 file=${4:-} rc=0
	{
		printf 'worker:\n  analyses:\n    tls_classification:\n'
		if [[ -n $file ]]; then printf '      dictionary_file: %s\n' "$file"; else printf '      {}\n'; fi
	} >"$dir/$name.yml"
	"$worker" --check-config "$dir/$name.yml" --analysis tls_classification >"$dir/$name.out" 2>&1 || rc=$?
	[[ $rc == "$want" ]] || fail "$name: exit $rc, want $want: $(cat "$dir/$name.out")"
	grep -qF -- "$text" "$dir/$name.out" || fail "$name: '$text' not in: $(cat "$dir/$name.out")"
	echo "$name: exit $rc: $(head -1 "$dir/$name.out")"
}
printf '0x0004;Desktop;Windows;Browser;MSIE\n0x0005;;;\n' >"$dir/columns.csv"
printf '# mine\nja4:t13d1516h2_8daaf6152771_02713d6af862;Desktop;Linux;Browser;Firefox\nja3:0011;;;;\n' >"$dir/key.csv"
printf 'sni:*.example.org;Server;;Updater;\n' >"$dir/good.csv"
check columns 1 "$dir/columns.csv:2: expected 5" "$dir/columns.csv"
check bad_key 1 "$dir/key.csv:3:" "$dir/key.csv"
check missing 1 "$dir/none.csv: No such file" "$dir/none.csv"
check good 0 "is valid" "$dir/good.csv"
check shipped 0 "is valid"
