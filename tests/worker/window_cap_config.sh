#!/usr/bin/env bash
# Issue 23 item 8: the worker refuses at load (--check-config, and so at start) the two ordinary
# settings that needed more open windows per partition than it holds (1 s windows with 10 min
# lateness; 60 s sliding by 1 s with 8 min lateness), naming the bound; a setting within it
# passes. Usage: window_cap_config.sh S4F_WORKER_BINARY
set -euo pipefail
worker=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
check() { # NAME WANT_RC ANALYSIS OPTIONS...
	local name=$1 want=$2 an=$3 rc=0
	shift 3
	{
		printf 'worker:\n  analyses:\n    %s:\n' "$an"
		printf '      %s\n' "$@"
	} >"$dir/$name.yml"
	"$worker" --check-config "$dir/$name.yml" >"$dir/$name.out" 2>&1 || rc=$?
	[[ $rc == "$want" ]] || fail "$name: exit $rc, want $want: $(cat "$dir/$name.out")"
	if [[ $want != 0 ]]; then
		grep -q "open windows per partition, more than the 512" "$dir/$name.out" ||
			fail "$name: no reason given: $(cat "$dir/$name.out")"
	fi
	echo "$name: exit $rc"
}
check tumbling_1s_lateness_10m 1 protocols_statistics "window: 1s" "allowed_lateness: 10m"
check sliding_60s_by_1s_lateness_8m 1 ports_scan "window: 60s" "slide: 1s" "allowed_lateness: 8m"
check tumbling_1s_lateness_4m 0 protocols_statistics "window: 1s" "allowed_lateness: 4m"
